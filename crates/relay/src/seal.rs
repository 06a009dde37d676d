//! Sealing secrets at rest: AES-256-GCM with the relay's key (invariant 8).
//!
//! Channel tokens, app secrets and verify tokens are stored only sealed. Each sealed value
//! is bound to its purpose (the associated data, e.g. `meta_app_secret:<app id>`), so a
//! sealed value copied into another row or column does not open there.
//!
//! The key comes from `VENTANA_RELAY_KEY` (64 hex digits) if set, otherwise from
//! `relay.key` in the data dir, created with mode 0600 on first use.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use std::path::Path;

/// The environment variable that may hold the relay's key (64 hex digits).
pub const KEY_ENV: &str = "VENTANA_RELAY_KEY";
const KEY_FILE: &str = "relay.key";
const FORMAT: &str = "v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{KEY_ENV} must be 64 hex digits (a 256-bit key)")]
    BadKeyEnv,
    #[error("the key file {0} is not 32 bytes")]
    BadKeyFile(String),
    #[error("cannot read or create the key file: {0}")]
    KeyFile(#[from] std::io::Error),
    #[error("the system random number generator failed")]
    Random,
    #[error("a sealed value is damaged, or was sealed with another key or for another purpose")]
    Open,
}

/// The relay's sealing key. Its `Debug` never prints the key.
#[derive(Clone)]
pub struct SealKey(Key<Aes256Gcm>);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.into())
    }

    /// The key from the environment, or from (a new) `relay.key` in `data_dir`.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SealError> {
        if let Ok(hex_key) = std::env::var(KEY_ENV) {
            let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::BadKeyEnv)?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKeyEnv)?;
            return Ok(Self::from_bytes(bytes));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| SealError::BadKeyFile(path.display().to_string()))?;
                Ok(Self::from_bytes(bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|_| SealError::Random)?;
                write_private(&path, &bytes)?;
                Ok(Self::from_bytes(bytes))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The key from the environment or an existing `relay.key` in `data_dir`; `None` when
    /// there is neither (a restore must not make up a new key).
    pub fn load_existing(data_dir: &Path) -> Result<Option<Self>, SealError> {
        if std::env::var_os(KEY_ENV).is_some() || data_dir.join(KEY_FILE).exists() {
            Self::load_or_create(data_dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A key of its own for `purpose` (HMAC-SHA256 of the purpose under the relay's key),
    /// for uses other than sealing values: the erasure ledger's hashes, backups.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"ventana-relay derived key\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals `plaintext` for `purpose`; the result is printable (`v1:<base64>`).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let cipher = Aes256Gcm::new(&self.0);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{FORMAT}{}", STANDARD.encode(out)))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(FORMAT).ok_or(SealError::Open)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        Aes256Gcm::new(&self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: never overwrite a key another process just created.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes([byte; 32])
    }

    #[test]
    fn opens_what_it_sealed_for_the_same_purpose_only() {
        let sealed = key(1).seal("meta_app_secret:42", b"s3cret").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            key(1).open("meta_app_secret:42", &sealed).unwrap(),
            b"s3cret"
        );
        assert!(matches!(
            key(1).open("meta_app_secret:43", &sealed),
            Err(SealError::Open)
        ));
        assert!(matches!(
            key(2).open("meta_app_secret:42", &sealed),
            Err(SealError::Open)
        ));
        assert!(matches!(
            key(1).open("meta_app_secret:42", "v1:AAAA"),
            Err(SealError::Open)
        ));
        assert!(matches!(
            key(1).open("meta_app_secret:42", "plain"),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_by_key() {
        assert_eq!(key(1).derive("a"), key(1).derive("a"));
        assert_ne!(key(1).derive("a"), key(1).derive("b"));
        assert_ne!(key(1).derive("a"), key(2).derive("a"));
        assert_ne!(key(1).derive("a"), [1u8; 32]);
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        assert_ne!(
            key(1).seal("p", b"x").unwrap(),
            key(1).seal("p", b"x").unwrap()
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = SealKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SealKey::load_or_create(dir.path()).unwrap();
        let sealed = first.seal("p", b"x").unwrap();
        assert_eq!(second.open("p", &sealed).unwrap(), b"x");
        assert_eq!(format!("{first:?}"), "SealKey(<redacted>)");
    }
}
