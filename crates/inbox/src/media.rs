//! Attachments cached on disk, sealed: one file per media id, AES-256-GCM under the
//! account's media key (kept in the OS keyring, never in a file; invariant 8).
//!
//! A cached file is `MAGIC ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, where the
//! plaintext is `mime length (u16, big endian) ‖ mime type ‖ bytes`. The associated data is
//! the media id, so a file copied or renamed to another id's name does not open. The file
//! name is `hex(SHA-256(key ‖ media id))`: someone reading the directory learns neither
//! the ids nor the types, only how many attachments there are and how big.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use zeroize::Zeroize;

/// The first bytes of every sealed file: the format's version, so a later format can be
/// told apart (and an unrelated file is `Corrupt`, not garbage handed to the UI).
const MAGIC: &[u8; 4] = b"VMC1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Temporary files start with this; entries never do (their names are hex).
const TEMP_PREFIX: &str = ".tmp-";

/// The 256-bit key of an account's media cache. Its `Debug` never prints the bytes, and
/// its memory is overwritten when dropped.
#[derive(Clone)]
pub struct MediaKey([u8; 32]);

impl MediaKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl Drop for MediaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

/// An attachment read back from the cache.
#[derive(Clone, PartialEq, Eq)]
pub struct CachedMedia {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for CachedMedia {
    // A customer's photo or document is personal data: a log line gets its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedMedia")
            .field("mime_type", &self.mime_type)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file is damaged, was sealed with another key, or belongs to another media id.
    /// Remove it and fetch the attachment again.
    #[error(
        "a cached attachment is damaged or was not sealed for this account; it must be fetched again"
    )]
    Corrupt,
    #[error("the mime type is too long ({0} bytes; at most 255)")]
    MimeTypeTooLong(usize),
    #[error("the system random number generator failed")]
    Random,
    #[error("media cache file error: {0}")]
    Io(#[from] std::io::Error),
}

/// An account's attachment cache: a directory of sealed files.
pub struct MediaStore {
    dir: PathBuf,
    key: MediaKey,
}

impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaStore")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .finish()
    }
}

impl MediaStore {
    /// Opens the cache in `dir`, creating the directory (readable only by the user on
    /// Unix) if needed.
    pub fn open(dir: &Path, key: MediaKey) -> Result<Self, MediaError> {
        create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seals and stores an attachment, replacing any earlier copy of the same id.
    ///
    /// The sealed bytes go to a temporary file that is synced and then renamed over the
    /// entry, so a reader (or a crash) sees the old file or the new one, never half of one.
    pub fn put(&self, media_id: &str, mime_type: &str, bytes: &[u8]) -> Result<(), MediaError> {
        let mime_len = u8::try_from(mime_type.len())
            .map_err(|_| MediaError::MimeTypeTooLong(mime_type.len()))?;
        let mut plaintext = Vec::with_capacity(2 + mime_type.len() + bytes.len());
        plaintext.extend_from_slice(&u16::from(mime_len).to_be_bytes());
        plaintext.extend_from_slice(mime_type.as_bytes());
        plaintext.extend_from_slice(bytes);

        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| MediaError::Random)?;
        let sealed = self.cipher().encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: media_id.as_bytes(),
            },
        );
        // Don't leave a customer's attachment lying in freed memory longer than needed.
        plaintext.zeroize();
        // Encryption only fails for messages longer than GCM allows (64 GiB).
        let sealed = sealed.map_err(|_| {
            MediaError::Io(std::io::Error::new(
                ErrorKind::InvalidInput,
                "attachment too large to seal",
            ))
        })?;

        let mut file_bytes = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        file_bytes.extend_from_slice(MAGIC);
        file_bytes.extend_from_slice(&nonce);
        file_bytes.extend_from_slice(&sealed);
        self.write_atomically(&self.path_for(media_id), &file_bytes)
    }

    /// The attachment, or `None` if it is not cached. A file that does not open is
    /// [`MediaError::Corrupt`]; it is left in place for the caller to [`remove`](Self::remove).
    pub fn get(&self, media_id: &str) -> Result<Option<CachedMedia>, MediaError> {
        let file_bytes = match fs::read(self.path_for(media_id)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let rest = file_bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(MediaError::Corrupt)?;
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(MediaError::Corrupt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| MediaError::Corrupt)?;
        let mut plaintext = self
            .cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: media_id.as_bytes(),
                },
            )
            .map_err(|_| MediaError::Corrupt)?;
        let parsed = parse_plaintext(&plaintext);
        plaintext.zeroize();
        parsed.map(Some)
    }

    /// Removes an attachment; `false` if it was not cached.
    ///
    /// A plain delete is enough: the file is ciphertext under a key that lives only in
    /// the keyring, so its bytes left in free blocks are unreadable. Overwriting first
    /// would add nothing on SSDs and copy-on-write filesystems, which write elsewhere
    /// anyway. (Removing an account deletes its key, which makes every file unreadable.)
    pub fn remove(&self, media_id: &str) -> Result<bool, MediaError> {
        match fs::remove_file(self.path_for(media_id)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes every cached file last written before `cutoff` (the retention period), and
    /// temporary files a crash left behind; returns how many entries were removed.
    pub fn purge_older_than(&self, cutoff: SystemTime) -> Result<u64, MediaError> {
        let mut removed = 0;
        for (path, metadata, is_entry) in self.files()? {
            if metadata.modified()? >= cutoff {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => removed += u64::from(is_entry),
                // Removed meanwhile (by `remove`, or another purge): the goal is reached.
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(removed)
    }

    /// The bytes the cache's files take (sealed sizes, temporary files included).
    pub fn size_on_disk(&self) -> Result<u64, MediaError> {
        Ok(self
            .files()?
            .iter()
            .map(|(_, metadata, _)| metadata.len())
            .sum())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key.0))
    }

    /// The entry's path: a keyed hash of the id, so names reveal nothing without the key.
    /// (A fixed-length key followed by the id cannot be confused with another key and id.)
    fn path_for(&self, media_id: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(self.key.0);
        hasher.update(media_id.as_bytes());
        self.dir.join(hex::encode(hasher.finalize()))
    }

    /// The cache's own files (entries and temporary files) with their metadata, and
    /// whether each is an entry. Anything else in the directory is left alone.
    fn files(&self) -> Result<Vec<(PathBuf, fs::Metadata, bool)>, MediaError> {
        let mut files = Vec::new();
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_entry = is_entry_name(name);
            if !is_entry && !name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let metadata = match item.metadata() {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => return Err(error.into()),
            };
            if metadata.is_file() {
                files.push((item.path(), metadata, is_entry));
            }
        }
        Ok(files)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), MediaError> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|_| MediaError::Random)?;
        let temp = self
            .dir
            .join(format!("{TEMP_PREFIX}{}", hex::encode(suffix)));
        let written = (|| {
            let mut file = create_private_file(&temp)?;
            file.write_all(bytes)?;
            // Synced before the rename, so a crash can't leave an entry that is empty.
            file.sync_all()?;
            fs::rename(&temp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        Ok(written?)
    }
}

fn parse_plaintext(plaintext: &[u8]) -> Result<CachedMedia, MediaError> {
    let (length, rest) = plaintext.split_at_checked(2).ok_or(MediaError::Corrupt)?;
    let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
    let (mime_type, bytes) = rest.split_at_checked(length).ok_or(MediaError::Corrupt)?;
    let mime_type = std::str::from_utf8(mime_type).map_err(|_| MediaError::Corrupt)?;
    Ok(CachedMedia {
        mime_type: mime_type.to_owned(),
        bytes: bytes.to_vec(),
    })
}

/// Whether a file name is an entry's: 64 lowercase hex digits.
fn is_entry_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing directory keeps its mode on create; make sure it is private too.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    // On Windows the user's profile directories are already private to the user.
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MARKER: &[u8] = b"PLAINTEXT-MARKER-7f3a";

    fn key(byte: u8) -> MediaKey {
        MediaKey::from_bytes([byte; 32])
    }

    fn store(dir: &Path) -> MediaStore {
        MediaStore::open(&dir.join("media"), key(7)).unwrap()
    }

    fn entries(store: &MediaStore) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = store
            .files()
            .unwrap()
            .into_iter()
            .filter(|(_, _, is_entry)| *is_entry)
            .map(|(path, _, _)| path)
            .collect();
        paths.sort();
        paths
    }

    fn photo() -> Vec<u8> {
        let mut bytes = b"\xff\xd8\xff\xe0 jpeg-ish ".to_vec();
        bytes.extend_from_slice(MARKER);
        bytes.extend((0..=255u8).cycle().take(10_000));
        bytes
    }

    #[test]
    fn roundtrip_and_replace() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        assert!(store.get("media-1").unwrap().is_none());
        store.put("media-1", "image/jpeg", &photo()).unwrap();
        let cached = store.get("media-1").unwrap().unwrap();
        assert_eq!(cached.mime_type, "image/jpeg");
        assert_eq!(cached.bytes, photo());

        store.put("media-1", "text/plain", b"").unwrap();
        let cached = store.get("media-1").unwrap().unwrap();
        assert_eq!(cached.mime_type, "text/plain");
        assert!(cached.bytes.is_empty());
        assert_eq!(entries(&store).len(), 1, "a replace leaves one file");

        // Reopening with the same key finds it again.
        drop(store);
        let reopened = MediaStore::open(&temp.path().join("media"), key(7)).unwrap();
        assert_eq!(
            reopened.get("media-1").unwrap().unwrap().mime_type,
            "text/plain"
        );
    }

    #[cfg(unix)]
    #[test]
    fn directory_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        store.put("m", "image/png", b"x").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&entries(&store)[0]), 0o600);
        assert!(format!("{store:?}").contains("<redacted>"));
    }

    #[test]
    fn files_hold_no_plaintext_and_names_hide_ids() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        let id = "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUZFQjY5";
        store.put(id, "application/pdf", &photo()).unwrap();
        let paths = entries(&store);
        assert_eq!(paths.len(), 1);
        let name = paths[0].file_name().unwrap().to_str().unwrap();
        assert!(!name.contains(id) && !name.contains("wamid"), "{name}");
        let on_disk = fs::read(&paths[0]).unwrap();
        for needle in [MARKER, b"application/pdf".as_slice(), id.as_bytes()] {
            assert!(
                !on_disk.windows(needle.len()).any(|window| window == needle),
                "{:?} is readable in the file",
                String::from_utf8_lossy(needle)
            );
        }
        // The same id under another key gets another name.
        let other = MediaStore::open(&temp.path().join("other"), key(8)).unwrap();
        assert_ne!(
            other.path_for(id).file_name(),
            store.path_for(id).file_name()
        );
    }

    #[test]
    fn a_tampered_byte_is_corrupt() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        store.put("m", "image/jpeg", &photo()).unwrap();
        let path = entries(&store).remove(0);
        let original = fs::read(&path).unwrap();
        // The magic, the nonce, the ciphertext and the tag are all covered.
        for position in [0, MAGIC.len() + 3, original.len() / 2, original.len() - 1] {
            let mut bytes = original.clone();
            bytes[position] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            assert!(
                matches!(store.get("m"), Err(MediaError::Corrupt)),
                "byte {position}"
            );
        }
        for truncated in [0, 3, MAGIC.len() + NONCE_LEN + TAG_LEN - 1] {
            fs::write(&path, &original[..truncated]).unwrap();
            assert!(matches!(store.get("m"), Err(MediaError::Corrupt)));
        }
        fs::write(&path, &original).unwrap();
        assert_eq!(store.get("m").unwrap().unwrap().bytes, photo());
    }

    #[test]
    fn another_key_does_not_open_it() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("media");
        let store = MediaStore::open(&dir, key(7)).unwrap();
        store.put("m", "image/jpeg", &photo()).unwrap();
        let path = entries(&store).remove(0);

        let other = MediaStore::open(&dir, key(9)).unwrap();
        // Under another key the name differs, so the entry is simply not found...
        assert!(other.get("m").unwrap().is_none());
        // ...and if the file is put where the other key looks, it does not open.
        fs::copy(&path, other.path_for("m")).unwrap();
        assert!(matches!(other.get("m"), Err(MediaError::Corrupt)));
    }

    #[test]
    fn a_file_renamed_to_another_id_does_not_open() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        store.put("media-a", "image/jpeg", b"photo of a").unwrap();
        store.put("media-b", "image/jpeg", b"photo of b").unwrap();
        fs::rename(store.path_for("media-a"), store.path_for("media-b")).unwrap();
        assert!(matches!(store.get("media-b"), Err(MediaError::Corrupt)));
        assert!(store.get("media-a").unwrap().is_none());
    }

    #[test]
    fn remove_deletes_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        store.put("m", "image/jpeg", b"x").unwrap();
        assert!(store.remove("m").unwrap());
        assert!(store.get("m").unwrap().is_none());
        assert!(entries(&store).is_empty());
        assert!(!store.remove("m").unwrap());
    }

    #[test]
    fn purge_removes_what_is_older_than_the_cutoff() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        let now = SystemTime::now();
        let day = Duration::from_secs(24 * 3600);
        for (id, age_days) in [("old-1", 40), ("old-2", 31), ("new-1", 29), ("new-2", 0)] {
            store.put(id, "image/jpeg", id.as_bytes()).unwrap();
            let file = fs::File::options()
                .write(true)
                .open(store.path_for(id))
                .unwrap();
            file.set_modified(now - day * age_days).unwrap();
        }
        // A temporary file a crash left behind goes too; someone else's file stays.
        let leftover = store.dir().join(format!("{TEMP_PREFIX}deadbeef"));
        fs::write(&leftover, b"half").unwrap();
        fs::File::options()
            .write(true)
            .open(&leftover)
            .unwrap()
            .set_modified(now - day * 35)
            .unwrap();
        let foreign = store.dir().join("notes.txt");
        fs::write(&foreign, b"not ours").unwrap();
        fs::File::options()
            .write(true)
            .open(&foreign)
            .unwrap()
            .set_modified(now - day * 100)
            .unwrap();

        let size_before = store.size_on_disk().unwrap();
        assert_eq!(store.purge_older_than(now - day * 30).unwrap(), 2);
        assert!(store.get("old-1").unwrap().is_none());
        assert!(store.get("old-2").unwrap().is_none());
        assert_eq!(store.get("new-1").unwrap().unwrap().bytes, b"new-1");
        assert_eq!(store.get("new-2").unwrap().unwrap().bytes, b"new-2");
        assert!(!leftover.exists());
        assert!(foreign.exists());
        assert!(store.size_on_disk().unwrap() < size_before);
        assert_eq!(store.purge_older_than(now - day * 30).unwrap(), 0);
    }

    #[test]
    fn size_on_disk_counts_sealed_files() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        assert_eq!(store.size_on_disk().unwrap(), 0);
        store.put("a", "image/jpeg", &[0u8; 1000]).unwrap();
        store.put("b", "image/png", &[0u8; 500]).unwrap();
        let overhead = (MAGIC.len() + NONCE_LEN + TAG_LEN + 2) as u64;
        let expected = 1000 + 500 + 2 * overhead + ("image/jpeg".len() + "image/png".len()) as u64;
        assert_eq!(store.size_on_disk().unwrap(), expected);
    }

    #[test]
    fn long_mime_types_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        let store = store(temp.path());
        let mime = "a".repeat(300);
        assert!(matches!(
            store.put("m", &mime, b"x"),
            Err(MediaError::MimeTypeTooLong(300))
        ));
        assert!(entries(&store).is_empty());
    }

    #[test]
    fn debug_output_hides_keys_and_content() {
        assert_eq!(format!("{:?}", key(1)), "MediaKey(<redacted>)");
        let media = CachedMedia {
            mime_type: "image/jpeg".into(),
            bytes: MARKER.to_vec(),
        };
        let shown = format!("{media:?}");
        assert!(
            !shown.contains("PLAINTEXT") && !shown.contains("80,"),
            "{shown}"
        );
    }
}
