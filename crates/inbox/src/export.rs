//! A contact's data export (portability): the relay builds the zip (`export.json` and the
//! attachments, documented in `docs/export.md`); the desktop saves it where the admin
//! finds it, reporting progress as it arrives.
//!
//! The file holds a person's data, so it is written as only its owner may read it (0600),
//! under a temporary name until it is complete: a cut-off download never looks like an
//! export.

use crate::client::{ClientError, ExportDownload};
use crate::error::EngineError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How far a download is: bytes received, and the total when the relay said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportProgress {
    pub received: u64,
    pub total: Option<u64>,
}

/// A saved export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedExport {
    pub path: PathBuf,
    pub bytes: u64,
}

/// The file name an export gets: who it is about (only characters safe in any file
/// system) and the day, e.g. `ventana-export-Ana-Lima-2026-12-07.zip`.
pub fn file_name(who: &str, day: NaiveDate) -> String {
    let mut safe = String::new();
    for c in who.chars() {
        if c.is_alphanumeric() {
            safe.push(c);
        } else if !safe.ends_with('-') {
            safe.push('-');
        }
    }
    let safe: String = safe.trim_matches('-').chars().take(60).collect();
    let safe = if safe.is_empty() { "contact" } else { &safe };
    format!("ventana-export-{safe}-{day}.zip")
}

/// `dir/name`, or `dir/stem (2).zip` and so on when that is taken: an export never
/// overwrites an earlier one.
pub fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}).{ext}")))
        .find(|path| !path.exists())
        .unwrap_or(first)
}

/// Saves the download as `path`, calling `progress` as bytes arrive.
pub async fn save(
    mut download: ExportDownload,
    path: &Path,
    mut progress: impl FnMut(ExportProgress),
) -> Result<SavedExport, EngineError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, &e))?;
    let mut partial = tempfile::Builder::new()
        .prefix(".ventana-export-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| file_error(dir, &e))?;
    let total = download.total();
    let mut received = 0u64;
    progress(ExportProgress { received, total });
    while let Some(chunk) = download.chunk().await.map_err(download_error)? {
        partial
            .write_all(&chunk)
            .map_err(|e| file_error(partial.path(), &e))?;
        received += chunk.len() as u64;
        progress(ExportProgress { received, total });
    }
    if total.is_some_and(|total| total != received) {
        return Err(EngineError::new(
            "export_incomplete",
            "The export stopped before it was complete. Try again.",
        ));
    }
    partial
        .as_file()
        .sync_all()
        .map_err(|e| file_error(partial.path(), &e))?;
    // `tempfile` creates the file 0600; persisting keeps the mode.
    partial
        .persist_noclobber(path)
        .map_err(|e| file_error(path, &e.error))?;
    Ok(SavedExport {
        path: path.to_owned(),
        bytes: received,
    })
}

fn download_error(error: ClientError) -> EngineError {
    EngineError::new(
        error.code(),
        format!("The export could not be downloaded: {error}"),
    )
}

fn file_error(path: &Path, error: &std::io::Error) -> EngineError {
    EngineError::new(
        "export_file",
        format!(
            "The export could not be saved in {}: {error}",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    #[test]
    fn a_file_name_keeps_letters_and_digits_only() {
        assert_eq!(
            file_name("Ana Lima", day()),
            "ventana-export-Ana-Lima-2026-12-07.zip"
        );
        assert_eq!(
            file_name("../../etc/passwd", day()),
            "ventana-export-etc-passwd-2026-12-07.zip"
        );
        assert_eq!(
            file_name("José Müller 😀", day()),
            "ventana-export-José-Müller-2026-12-07.zip"
        );
        assert_eq!(
            file_name("///", day()),
            "ventana-export-contact-2026-12-07.zip"
        );
        assert_eq!(
            file_name(&"a".repeat(200), day()).len(),
            "ventana-export--2026-12-07.zip".len() + 60
        );
    }

    #[test]
    fn an_export_never_overwrites_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let name = "ventana-export-Ana-2026-12-07.zip";
        assert_eq!(unused_path(dir.path(), name), dir.path().join(name));
        std::fs::write(dir.path().join(name), b"first").unwrap();
        let second = unused_path(dir.path(), name);
        assert_eq!(
            second,
            dir.path().join("ventana-export-Ana-2026-12-07 (2).zip")
        );
        std::fs::write(&second, b"second").unwrap();
        assert_eq!(
            unused_path(dir.path(), name),
            dir.path().join("ventana-export-Ana-2026-12-07 (3).zip")
        );
    }
}
