//! Backups that honour erasure (issue 14, item 3).
//!
//! `ventana-relay backup --to DIR` takes a consistent online copy of the store (SQLite's
//! online backup API into a 0600 temp file in DIR, or `pg_dump --format=custom` piped
//! straight in), encrypts it in 1 MiB chunks with a key derived from the relay's key, and
//! writes `DIR/database.enc` beside `DIR/manifest.json` (no personal data: ids, counts,
//! times, hashes; authenticated by an HMAC under the relay's key).
//!
//! `restore` takes the union of the erasure ledger's copies (`ledger.rs`: the data dir's
//! file, those named with `--ledger`, and with `--force` the table of the database it
//! replaces) and re-applies every erasure to the restored copy *before* it is put where a
//! relay would serve it. A backup that still holds someone whose erasure deadline (30
//! days) has passed is refused unless `--re-erase`, which restores, re-applies, and
//! rewrites the backup re-erased.
//!
//! The pure parts (chunk framing, the manifest) are
//! unit-tested here; the procedure is tested end to end in `tests/backup.rs`.

use crate::ledger::{
    Applied, ERASURE_DEADLINE_DAYS, LEDGER_FILE, LedgerKey, append_ledger_file, apply_ledger,
    overdue, read_ledger_file, union,
};
use crate::seal::SealKey;
use crate::store::{LedgerEntry, PostgresStore, SqliteStore};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const DATA_FILE: &str = "database.enc";
pub const FORMAT_VERSION: u32 = 1;
/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 1 << 20;
const MAGIC: &[u8; 8] = b"VNTBAK1\n";
const PREFIX_LEN: usize = 7;
const TAG_LEN: usize = 16;
const DB_FILE: &str = "relay.db";

// ---------------------------------------------------------------------------------------
// Chunked encryption.

/// Why an encrypted backup does not open. Nothing is restored from it.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("not a Ventana backup (wrong header)")]
    NotABackup,
    #[error("the backup is truncated (it ends before its last chunk)")]
    Truncated,
    #[error(
        "chunk {0} of the backup does not open: it was altered, reordered, or sealed with another relay key"
    )]
    Damaged(u32),
    #[error("the backup has bytes after its last chunk")]
    TrailingBytes,
    #[error("the backup has too many chunks")]
    TooLong,
    #[error("reading or writing the backup: {0}")]
    Io(#[from] std::io::Error),
}

/// The key one backup's chunks are sealed with (derived from the relay's key and the
/// backup's id, so no two backups share a key).
pub fn chunk_key(key: &SealKey, backup_id: &str) -> [u8; 32] {
    key.derive(&format!("backup:{backup_id}"))
}

fn chunk_nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..PREFIX_LEN].copy_from_slice(prefix);
    nonce[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn chunk_aad(backup_id: &str, index: u32, last: bool) -> Vec<u8> {
    let mut aad = b"ventana-backup-chunk\0".to_vec();
    aad.extend_from_slice(backup_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// Reads until `buf` is full or the input ends; how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Byte count and SHA-256 of what went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub plaintext_bytes: u64,
    pub ciphertext_bytes: u64,
    pub ciphertext_sha256: String,
}

/// Encrypts `reader` into `writer`: the header (magic, a random nonce prefix), then
/// chunks of at most [`CHUNK`] plaintext bytes, each `u32` length + AES-256-GCM sealed
/// with a nonce of prefix + index + last flag and associated data binding the backup id,
/// the index and the flag; the last chunk (possibly empty) carries the flag, so a
/// truncated, reordered or spliced file does not open.
pub fn encrypt(
    key: &[u8; 32],
    backup_id: &str,
    mut reader: impl Read,
    writer: impl Write,
) -> Result<Sealed, FrameError> {
    let mut prefix = [0u8; PREFIX_LEN];
    getrandom::fill(&mut prefix).map_err(|e| std::io::Error::other(e.to_string()))?;
    encrypt_with_prefix(key, backup_id, prefix, &mut reader, writer)
}

fn encrypt_with_prefix(
    key: &[u8; 32],
    backup_id: &str,
    prefix: [u8; PREFIX_LEN],
    reader: &mut impl Read,
    writer: impl Write,
) -> Result<Sealed, FrameError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut out = HashingWriter::new(writer);
    out.write_all(MAGIC)?;
    out.write_all(&prefix)?;
    let mut current = vec![0u8; CHUNK];
    let mut next = vec![0u8; CHUNK];
    let mut current_len = read_full(reader, &mut current)?;
    let mut plaintext_bytes = 0u64;
    let mut index: u32 = 0;
    loop {
        let (next_len, last) = if current_len < CHUNK {
            (0, true)
        } else {
            let n = read_full(reader, &mut next)?;
            (n, n == 0)
        };
        let sealed = cipher
            .encrypt(
                &Nonce::from(chunk_nonce(&prefix, index, last)),
                Payload {
                    msg: &current[..current_len],
                    aad: &chunk_aad(backup_id, index, last),
                },
            )
            .map_err(|_| std::io::Error::other("encryption failed"))?;
        let length = u32::try_from(sealed.len()).map_err(|_| FrameError::TooLong)?;
        out.write_all(&length.to_be_bytes())?;
        out.write_all(&sealed)?;
        plaintext_bytes += current_len as u64;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
        index = index.checked_add(1).ok_or(FrameError::TooLong)?;
    }
    out.flush()?;
    Ok(Sealed {
        plaintext_bytes,
        ciphertext_bytes: out.bytes,
        ciphertext_sha256: hex::encode(out.hash.finalize()),
    })
}

/// Decrypts what [`encrypt`] wrote, chunk by chunk: each chunk is written only once it
/// opened; any failure (a tampered, reordered or missing chunk, a wrong key, a cut-off
/// end, bytes after the end) is an error. Returns the plaintext length and the SHA-256 of
/// the ciphertext read.
pub fn decrypt(
    key: &[u8; 32],
    backup_id: &str,
    reader: impl Read,
    mut writer: impl Write,
) -> Result<(u64, String), FrameError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut input = HashingReader::new(reader);
    let mut header = [0u8; 8 + PREFIX_LEN];
    if read_full(&mut input, &mut header)? < header.len() || &header[..8] != MAGIC {
        return Err(FrameError::NotABackup);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&header[8..]);
    let mut total = 0u64;
    let mut index: u32 = 0;
    let mut sealed = Vec::with_capacity(CHUNK + TAG_LEN);
    loop {
        let mut length = [0u8; 4];
        if read_full(&mut input, &mut length)? < 4 {
            return Err(FrameError::Truncated);
        }
        let length = u32::from_be_bytes(length) as usize;
        if !(TAG_LEN..=CHUNK + TAG_LEN).contains(&length) {
            return Err(FrameError::Damaged(index));
        }
        sealed.resize(length, 0);
        if read_full(&mut input, &mut sealed)? < length {
            return Err(FrameError::Truncated);
        }
        let open = |last: bool| {
            cipher
                .decrypt(
                    &Nonce::from(chunk_nonce(&prefix, index, last)),
                    Payload {
                        msg: &sealed,
                        aad: &chunk_aad(backup_id, index, last),
                    },
                )
                .ok()
                .map(|plain| (plain, last))
        };
        let (plain, last) = open(false)
            .or_else(|| open(true))
            .ok_or(FrameError::Damaged(index))?;
        writer.write_all(&plain)?;
        total += plain.len() as u64;
        if last {
            let mut probe = [0u8; 1];
            if read_full(&mut input, &mut probe)? > 0 {
                return Err(FrameError::TrailingBytes);
            }
            break;
        }
        index = index.checked_add(1).ok_or(FrameError::TooLong)?;
    }
    writer.flush()?;
    Ok((total, hex::encode(input.hash.finalize())))
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------
// The manifest.

/// `manifest.json`: what the backup is, in plaintext but naming nobody; `mac` (HMAC-SHA256
/// under a key derived from the relay's key, over the manifest with `mac` empty) makes an
/// edited manifest (an earlier `taken_at` to dodge the age rule, say) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub backup_id: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration the backed-up database had.
    pub schema_version: i64,
    pub taken_at: String,
    pub plaintext_bytes: u64,
    pub ciphertext_bytes: u64,
    pub ciphertext_sha256: String,
    /// Set when this backup was rewritten by `restore --re-erase`: the id it replaced.
    #[serde(default)]
    pub re_erased_from: Option<String>,
    #[serde(default)]
    pub mac: String,
}

impl Manifest {
    fn mac_of(&self, key: &SealKey) -> Result<Hmac<Sha256>, serde_json::Error> {
        let mut unsigned = self.clone();
        unsigned.mac = String::new();
        let bytes = serde_json::to_vec(&unsigned)?;
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key.derive("backup-manifest"))
                .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&bytes);
        Ok(mac)
    }

    pub fn sign(&mut self, key: &SealKey) -> Result<(), serde_json::Error> {
        self.mac = hex::encode(self.mac_of(key)?.finalize().into_bytes());
        Ok(())
    }

    /// Whether the manifest was signed with `key` and is unchanged.
    pub fn verify(&self, key: &SealKey) -> bool {
        let Ok(expected) = hex::decode(&self.mac) else {
            return false;
        };
        self.mac_of(key)
            .is_ok_and(|mac| mac.verify_slice(&expected).is_ok())
    }

    pub fn taken_at(&self) -> anyhow::Result<DateTime<Utc>> {
        Ok(DateTime::parse_from_rfc3339(&self.taken_at)
            .context("the manifest's taken_at is not a date")?
            .with_timezone(&Utc))
    }
}

/// Reads and checks `DIR/manifest.json` against `key`.
pub fn read_manifest(dir: &Path, key: &SealKey) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format != FORMAT_VERSION {
        bail!(
            "the backup's format is {}, this build reads {FORMAT_VERSION}",
            manifest.format
        );
    }
    if !manifest.verify(key) {
        bail!(
            "the backup's manifest does not verify: it was made with another relay key, or it was altered; nothing was restored"
        );
    }
    Ok(manifest)
}

// ---------------------------------------------------------------------------------------
// The procedure.

/// Where the backed-up database is and what key seals it.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub data_dir: &'a Path,
    /// The PostgreSQL URL; `None` for the embedded store in the data dir.
    pub database: Option<&'a str>,
}

fn relay_key(data_dir: &Path) -> anyhow::Result<SealKey> {
    SealKey::load_existing(data_dir)?.with_context(|| {
        format!(
            "no relay key: set VENTANA_RELAY_KEY or put the relay's relay.key in {} (a backup opens only with the key it was made with)",
            data_dir.display()
        )
    })
}

/// Removes a file when dropped (the plaintext temp copy, a half-written output), unless
/// `keep` was called.
struct Removed(Option<PathBuf>);

impl Removed {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Removed {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
    }
}

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn new_backup_id() -> String {
    format!("bk_{}", uuid::Uuid::now_v7().simple())
}

/// `backup --to DIR`: a consistent online backup, encrypted. Refuses a DIR that already
/// holds a backup.
pub fn backup(source: &Source<'_>, to: &Path) -> anyhow::Result<Manifest> {
    let key = relay_key(source.data_dir)?;
    if to.join(MANIFEST_FILE).exists() {
        bail!(
            "{} already holds a backup; back up into a new directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    write_backup(source, &key, to, None)
}

/// Writes a backup of `source` into `to` (files replaced by rename, the manifest last).
fn write_backup(
    source: &Source<'_>,
    key: &SealKey,
    to: &Path,
    re_erased_from: Option<String>,
) -> anyhow::Result<Manifest> {
    let backup_id = new_backup_id();
    let chunk_key = chunk_key(key, &backup_id);
    let part = to.join(format!("{DATA_FILE}.part"));
    let _ = std::fs::remove_file(&part);
    let output = create_private(&part).with_context(|| format!("creating {}", part.display()))?;
    let part_guard = Removed(Some(part.clone()));
    let taken_at = Utc::now();
    let (backend, schema_version, sealed) = match source.database {
        None => {
            let (schema, sealed) =
                backup_sqlite(source.data_dir, to, &chunk_key, &backup_id, &output)?;
            ("sqlite", schema, sealed)
        }
        Some(url) => {
            let schema = psql_value(
                url,
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
            )?
            .parse::<i64>()
            .context("reading the database's schema version")?;
            (
                "postgres",
                schema,
                backup_postgres(url, &chunk_key, &backup_id, &output)?,
            )
        }
    };
    output.sync_all().context("writing the backup to disk")?;
    drop(output);
    let mut manifest = Manifest {
        format: FORMAT_VERSION,
        backup_id,
        backend: backend.into(),
        schema_version,
        taken_at: taken_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        plaintext_bytes: sealed.plaintext_bytes,
        ciphertext_bytes: sealed.ciphertext_bytes,
        ciphertext_sha256: sealed.ciphertext_sha256,
        re_erased_from,
        mac: String::new(),
    };
    manifest.sign(key)?;
    let manifest_part = to.join(format!("{MANIFEST_FILE}.part"));
    let _ = std::fs::remove_file(&manifest_part);
    let mut file = create_private(&manifest_part)?;
    let manifest_guard = Removed(Some(manifest_part.clone()));
    file.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&part, to.join(DATA_FILE))?;
    part_guard.keep();
    std::fs::rename(&manifest_part, to.join(MANIFEST_FILE))?;
    manifest_guard.keep();
    sync_dir(to);
    Ok(manifest)
}

/// SQLite's online backup API into a 0600 temp file in `to` (removed whatever happens),
/// then encrypted into `output`.
fn backup_sqlite(
    data_dir: &Path,
    to: &Path,
    chunk_key: &[u8; 32],
    backup_id: &str,
    output: &std::fs::File,
) -> anyhow::Result<(i64, Sealed)> {
    let source_path = data_dir.join(DB_FILE);
    if !source_path.exists() {
        bail!("there is no relay database at {}", source_path.display());
    }
    let plain = to.join(format!(".{backup_id}.plain"));
    create_private(&plain).with_context(|| format!("creating {}", plain.display()))?;
    let _plain_guard = Removed(Some(plain.clone()));
    let source = rusqlite::Connection::open_with_flags(
        &source_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let schema: i64 = {
        let mut copy = rusqlite::Connection::open(&plain)?;
        copy.pragma_update(None, "journal_mode", "MEMORY")?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
            // All pages in one step: one read transaction, so one consistent snapshot.
            loop {
                match backup.step(-1)? {
                    rusqlite::backup::StepResult::Done => break,
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        copy.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )?
    };
    drop(source);
    let reader = std::fs::File::open(&plain)?;
    let sealed = encrypt(chunk_key, backup_id, reader, output)?;
    Ok((schema, sealed))
}

fn pg_tool(program: &str) -> Command {
    let mut command = Command::new(program);
    command.env("PGCONNECT_TIMEOUT", "10");
    command
}

fn psql_value(url: &str, sql: &str) -> anyhow::Result<String> {
    let output = pg_tool("psql")
        .args([
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--dbname",
            url,
            "--command",
            sql,
        ])
        .output()
        .context("running psql (the PostgreSQL client tools must be installed)")?;
    if !output.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `pg_dump --format=custom` piped straight into the encryptor: no plaintext file.
fn backup_postgres(
    url: &str,
    chunk_key: &[u8; 32],
    backup_id: &str,
    output: &std::fs::File,
) -> anyhow::Result<Sealed> {
    let mut child = pg_tool("pg_dump")
        .args([
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running pg_dump (the PostgreSQL client tools must be installed)")?;
    let stdout = child.stdout.take().context("pg_dump's output")?;
    let mut stderr = child.stderr.take().context("pg_dump's errors")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let sealed = encrypt(chunk_key, backup_id, stdout, output);
    let status = child.wait()?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        bail!("pg_dump failed: {}", errors.trim());
    }
    Ok(sealed?)
}

/// How `restore` should go.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Replace an existing `relay.db` (its ledger is kept in the union).
    pub force: bool,
    /// Restore a backup the age rule refuses, and rewrite it re-erased.
    pub re_erase: bool,
    /// More copies of the ledger (from other nodes, or kept off the machine).
    pub ledgers: Vec<PathBuf>,
    /// The current time (tests pass a later one).
    pub now: DateTime<Utc>,
}

/// What `restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup_id: String,
    pub taken_at: String,
    pub applied: Applied,
    /// The id of the rewritten (re-erased) backup, with `--re-erase`.
    pub rewritten_as: Option<String>,
}

/// `restore --from DIR`: decrypts the backup, refuses it by the age rule, restores it,
/// and re-applies the ledger before it is where a relay would serve it.
pub fn restore(
    target: &Source<'_>,
    from: &Path,
    options: &RestoreOptions,
) -> anyhow::Result<RestoreReport> {
    let key = relay_key(target.data_dir)?;
    let manifest = read_manifest(from, &key)?;
    let expected = if target.database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    if manifest.backend != expected {
        bail!(
            "this is a {} backup; restore it into {} (use --database for PostgreSQL)",
            manifest.backend,
            if manifest.backend == "postgres" {
                "a PostgreSQL database"
            } else {
                "an embedded data dir"
            }
        );
    }
    let taken_at = manifest.taken_at()?;
    let mut ledgers = read_ledger_file(&target.data_dir.join(LEDGER_FILE))?;
    for path in &options.ledgers {
        if !path.exists() {
            bail!("the ledger {} does not exist", path.display());
        }
        ledgers.extend(read_ledger_file(path)?);
    }
    let live_db = target.data_dir.join(DB_FILE);
    if target.database.is_none() && live_db.exists() {
        if !options.force {
            bail!(
                "{} already exists: restore into an empty data dir, or stop the relay and pass --force to replace it",
                live_db.display()
            );
        }
        ledgers.extend(sqlite_ledger(&live_db)?);
    }
    let ledger = union(ledgers);
    let late = overdue(&ledger, taken_at, options.now);
    if !late.is_empty() && !options.re_erase {
        bail!(
            "the backup was taken at {} and still holds data of {} erasure(s) whose {ERASURE_DEADLINE_DAYS}-day deadline has passed (the oldest made at {}); it must not be restored as it is: pass --re-erase to restore it with those erasures re-applied and rewrite it re-erased, or delete it. Nothing was restored",
            manifest.taken_at,
            late.len(),
            late.first()
                .map(|e| e.erased_at.as_str())
                .unwrap_or_default()
        );
    }
    let chunk_key = chunk_key(&key, &manifest.backup_id);
    let ledger_key = LedgerKey::new(&key);
    let applied = match target.database {
        None => restore_sqlite(
            target.data_dir,
            from,
            &manifest,
            &chunk_key,
            &ledger_key,
            &ledger,
            options.force,
        )?,
        Some(url) => restore_postgres(url, from, &manifest, &chunk_key, &ledger_key, &ledger)?,
    };
    // The data dir's ledger file becomes the union too.
    let known: BTreeSet<_> = read_ledger_file(&target.data_dir.join(LEDGER_FILE))?
        .into_iter()
        .map(|e| (e.kind, e.subject_hash, e.tenant))
        .collect();
    let new: Vec<LedgerEntry> = ledger
        .iter()
        .filter(|e| !known.contains(&(e.kind.clone(), e.subject_hash.clone(), e.tenant.clone())))
        .cloned()
        .collect();
    append_ledger_file(target.data_dir, &new)?;
    let rewritten_as = if late.is_empty() {
        None
    } else {
        Some(write_backup(target, &key, from, Some(manifest.backup_id.clone()))?.backup_id)
    };
    Ok(RestoreReport {
        backup_id: manifest.backup_id,
        taken_at: manifest.taken_at,
        applied,
        rewritten_as,
    })
}

/// The ledger table of a SQLite database (none if it predates the table).
fn sqlite_ledger(path: &Path) -> anyhow::Result<Vec<LedgerEntry>> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let exists: bool = connection.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'erasure_ledger'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut statement = connection
        .prepare("SELECT kind, subject_hash, tenant_id, erased_at FROM erasure_ledger")?;
    let rows = statement.query_map([], |row| {
        Ok(LedgerEntry {
            kind: row.get(0)?,
            subject_hash: row.get(1)?,
            tenant: row.get(2)?,
            erased_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn check_sealed(manifest: &Manifest, bytes: u64, sha256: &str) -> anyhow::Result<()> {
    if bytes != manifest.plaintext_bytes || sha256 != manifest.ciphertext_sha256 {
        bail!(
            "the backup's database file is not the one its manifest describes; nothing was restored"
        );
    }
    Ok(())
}

/// Decrypts into a 0600 temp file beside `relay.db`, migrates it and re-applies the
/// ledger there, then renames it into place: a relay started at any moment sees either
/// no database (or the old one) or the re-erased one.
fn restore_sqlite(
    data_dir: &Path,
    from: &Path,
    manifest: &Manifest,
    chunk_key: &[u8; 32],
    ledger_key: &LedgerKey,
    ledger: &[LedgerEntry],
    force: bool,
) -> anyhow::Result<Applied> {
    std::fs::create_dir_all(data_dir)?;
    let temp = data_dir.join(format!("{DB_FILE}.restoring"));
    drop(Removed(Some(temp.clone())));
    let file = create_private(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let guard = Removed(Some(temp.clone()));
    let input = std::fs::File::open(from.join(DATA_FILE))
        .with_context(|| format!("reading {}", from.join(DATA_FILE).display()))?;
    let (bytes, sha256) = decrypt(
        chunk_key,
        &manifest.backup_id,
        std::io::BufReader::new(input),
        &file,
    )
    .context("the backup does not open; nothing was restored")?;
    check_sealed(manifest, bytes, &sha256)?;
    file.sync_all()?;
    drop(file);
    let store = SqliteStore::open(&temp, None).context("opening the restored database")?;
    let applied =
        apply_ledger(&store, ledger_key, ledger).context("re-applying the erasure ledger")?;
    store.close();
    drop(store);
    let live = data_dir.join(DB_FILE);
    if force {
        drop(Removed(Some(live.clone())));
    }
    // Everything in the database file itself before it is renamed (its WAL would not
    // follow it): fold the WAL in, then the last connection's close removes it.
    {
        let connection = rusqlite::Connection::open(&temp)?;
        let busy: i64 =
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy != 0 {
            bail!("the restored database is still in use; nothing was put in place");
        }
    }
    for suffix in ["-wal", "-shm"] {
        let mut name = temp.clone().into_os_string();
        name.push(suffix);
        let name = PathBuf::from(name);
        match std::fs::metadata(&name) {
            Ok(meta) if suffix == "-wal" && meta.len() > 0 => {
                bail!("the restored database's WAL was not folded in; nothing was put in place")
            }
            Ok(_) => std::fs::remove_file(&name)?,
            Err(_) => {}
        }
    }
    std::fs::rename(&temp, &live)?;
    guard.keep();
    sync_dir(data_dir);
    Ok(applied)
}

/// Verifies the whole backup first (nothing reaches the database from a damaged one),
/// then pipes the decrypted dump into `pg_restore --single-transaction` (no plaintext
/// file), then re-applies the ledger through the store.
fn restore_postgres(
    url: &str,
    from: &Path,
    manifest: &Manifest,
    chunk_key: &[u8; 32],
    ledger_key: &LedgerKey,
    ledger: &[LedgerEntry],
) -> anyhow::Result<Applied> {
    let occupied = psql_value(url, "SELECT to_regclass('public.tenants') IS NOT NULL")?;
    if occupied == "t" {
        bail!(
            "the target database already has a relay's tables: restore into a new, empty database"
        );
    }
    let open = || {
        std::fs::File::open(from.join(DATA_FILE))
            .map(std::io::BufReader::new)
            .with_context(|| format!("reading {}", from.join(DATA_FILE).display()))
    };
    let (bytes, sha256) = decrypt(chunk_key, &manifest.backup_id, open()?, std::io::sink())
        .context("the backup does not open; nothing was restored")?;
    check_sealed(manifest, bytes, &sha256)?;
    let mut child = pg_tool("pg_restore")
        .args([
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running pg_restore (the PostgreSQL client tools must be installed)")?;
    let stdin = child.stdin.take().context("pg_restore's input")?;
    let mut stderr = child.stderr.take().context("pg_restore's errors")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let fed = decrypt(chunk_key, &manifest.backup_id, open()?, stdin);
    let status = child.wait()?;
    let errors = errors.join().unwrap_or_default();
    fed.context("the backup changed while it was restored")?;
    if !status.success() {
        bail!(
            "pg_restore failed (its transaction was rolled back): {}",
            errors.trim()
        );
    }
    let store = PostgresStore::open(url, None).context("opening the restored database")?;
    let applied =
        apply_ledger(&store, ledger_key, ledger).context("re-applying the erasure ledger")?;
    Ok(applied)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn sealed(plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encrypt(&KEY, "bk_1", plain, &mut out).unwrap();
        out
    }

    fn opened(sealed: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        decrypt(&KEY, "bk_1", sealed, &mut out)?;
        Ok(out)
    }

    fn chunks(file: &[u8]) -> Vec<(usize, usize)> {
        // (start, end) of each length-prefixed chunk after the header.
        let mut at = 8 + PREFIX_LEN;
        let mut found = Vec::new();
        while at < file.len() {
            let length = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            found.push((at, at + 4 + length));
            at += 4 + length;
        }
        found
    }

    #[test]
    fn round_trips_every_size_around_the_chunk_boundary() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 5] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let file = sealed(&plain);
            assert_eq!(opened(&file).unwrap(), plain, "size {size}");
        }
    }

    #[test]
    fn the_sealed_bytes_hold_no_plaintext_and_differ_each_time() {
        let plain = b"okapi-lantern-5521 ".repeat(1000);
        let (a, b) = (sealed(&plain), sealed(&plain));
        assert!(!a.windows(18).any(|w| w == b"okapi-lantern-5521"));
        assert_ne!(a, b);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let plain = vec![3u8; CHUNK + 100];
        let file = sealed(&plain);
        for at in [
            0,
            9,
            8 + PREFIX_LEN + 2,
            8 + PREFIX_LEN + 10,
            file.len() - 1,
        ] {
            let mut bad = file.clone();
            bad[at] ^= 1;
            assert!(opened(&bad).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn truncation_dropping_reordering_and_trailing_bytes_are_refused() {
        let plain: Vec<u8> = (0..3 * CHUNK).map(|i| (i % 13) as u8).collect();
        let file = sealed(&plain);
        let parts = chunks(&file);
        assert_eq!(parts.len(), 3, "three full chunks, the third the last");
        // Cut at a chunk boundary: what is left opens chunk by chunk but has no last chunk.
        assert!(matches!(
            opened(&file[..parts[1].1]),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            opened(&file[..file.len() - 3]),
            Err(FrameError::Truncated)
        ));
        // A chunk dropped.
        let mut dropped = file[..parts[1].0].to_vec();
        dropped.extend_from_slice(&file[parts[1].1..]);
        assert!(matches!(opened(&dropped), Err(FrameError::Damaged(1))));
        // Two chunks swapped.
        let mut swapped = file[..parts[0].0].to_vec();
        swapped.extend_from_slice(&file[parts[1].0..parts[1].1]);
        swapped.extend_from_slice(&file[parts[0].0..parts[0].1]);
        swapped.extend_from_slice(&file[parts[2].0..]);
        assert!(matches!(opened(&swapped), Err(FrameError::Damaged(0))));
        let mut longer = file.clone();
        longer.push(0);
        assert!(matches!(opened(&longer), Err(FrameError::TrailingBytes)));
        assert!(matches!(
            opened(b"not a backup at all"),
            Err(FrameError::NotABackup)
        ));
    }

    #[test]
    fn another_key_or_another_backup_id_does_not_open_it() {
        let file = sealed(b"hello");
        let mut out = Vec::new();
        assert!(matches!(
            decrypt(&[8; 32], "bk_1", &file[..], &mut out),
            Err(FrameError::Damaged(0))
        ));
        assert!(matches!(
            decrypt(&KEY, "bk_2", &file[..], &mut out),
            Err(FrameError::Damaged(0))
        ));
        assert!(
            out.is_empty(),
            "nothing is written from a chunk that does not open"
        );
    }

    #[test]
    fn the_manifest_verifies_only_unchanged_and_under_its_key() {
        let key = SealKey::from_bytes([1; 32]);
        let mut manifest = Manifest {
            format: FORMAT_VERSION,
            backup_id: "bk_1".into(),
            backend: "sqlite".into(),
            schema_version: 6,
            taken_at: "2026-01-01T00:00:00.000000Z".into(),
            plaintext_bytes: 10,
            ciphertext_bytes: 60,
            ciphertext_sha256: "00".into(),
            re_erased_from: None,
            mac: String::new(),
        };
        manifest.sign(&key).unwrap();
        assert!(manifest.verify(&key));
        assert!(!manifest.verify(&SealKey::from_bytes([2; 32])));
        let mut earlier = manifest.clone();
        earlier.taken_at = "2026-02-01T00:00:00.000000Z".into();
        assert!(!earlier.verify(&key));
    }
}
