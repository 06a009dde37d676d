//! The local cache: one SQLCipher-encrypted SQLite file per account.
//!
//! The key is a random 256-bit value kept in the OS keyring (never in a file); it is given
//! to SQLCipher as a raw key (`x'…'`) so no passphrase derivation runs at every open.
//! The cache runs in WAL mode so the UI can read while sync writes.

use rusqlite::Connection;
use std::fmt;
use std::path::Path;

/// A cache's 256-bit encryption key. Its `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// SQLCipher's raw-key literal: `x'<64 hex digits>'`.
    fn pragma_literal(&self) -> String {
        format!("\"x'{}'\"", hex::encode(self.0))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(<redacted>)")
    }
}

/// Why a cache could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file exists but this key does not decrypt it (or it is not a cache at all).
    #[error("the cache file cannot be read with this account's key")]
    WrongKey,
    #[error("cache database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// An open, unlocked cache.
#[derive(Debug)]
pub struct Cache {
    connection: Connection,
}

impl Cache {
    /// Opens (creating if needed) the cache at `path` with `key`.
    pub fn open(path: &Path, key: &CacheKey) -> Result<Self, CacheError> {
        let connection = Connection::open(path)?;
        connection.execute_batch(&format!("PRAGMA key = {};", key.pragma_literal()))?;
        // SQLCipher only notices a wrong key on the first read of the file.
        match connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
            row.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(CacheError::WrongKey);
            }
            Err(other) => return Err(other.into()),
        }
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Erased data must not linger in free pages (ARCHITECTURE.md, invariant 9).
        connection.pragma_update(None, "secure_delete", "ON")?;
        Ok(Self { connection })
    }

    /// The connection, for the modules that own the cache's tables.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CacheKey {
        CacheKey::from_bytes([byte; 32])
    }

    #[test]
    fn the_file_on_disk_holds_no_plaintext_and_reopens_with_its_key() -> Result<(), CacheError> {
        let dir = tempfile::tempdir()
            .map_err(|e| CacheError::Sqlite(rusqlite::Error::InvalidPath(e.to_string().into())))?;
        let path = dir.path().join("account.db");
        {
            let cache = Cache::open(&path, &key(7))?;
            cache.connection().execute_batch(
                "CREATE TABLE note(text TEXT);
                 INSERT INTO note VALUES ('the customer lives at 12 Calle Mayor');
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )?;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(!bytes.is_empty());
        assert!(
            !bytes.windows(11).any(|w| w == b"Calle Mayor"),
            "plaintext found in the cache file"
        );
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "the file is not encrypted"
        );

        let reopened = Cache::open(&path, &key(7))?;
        let text: String = reopened
            .connection()
            .query_row("SELECT text FROM note", [], |row| row.get(0))?;
        assert_eq!(text, "the customer lives at 12 Calle Mayor");
        Ok(())
    }

    #[test]
    fn another_key_is_refused_with_a_clear_error() -> Result<(), CacheError> {
        let dir = tempfile::tempdir()
            .map_err(|e| CacheError::Sqlite(rusqlite::Error::InvalidPath(e.to_string().into())))?;
        let path = dir.path().join("account.db");
        Cache::open(&path, &key(1))?
            .connection()
            .execute_batch("CREATE TABLE t(x)")?;
        assert!(matches!(
            Cache::open(&path, &key(2)),
            Err(CacheError::WrongKey)
        ));
        Ok(())
    }

    #[test]
    fn a_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", key(0xab)), "CacheKey(<redacted>)");
    }
}
