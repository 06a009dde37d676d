//! Secrets in the OS keyring: each account's refresh token and its cache and media keys.
//!
//! Nothing secret is ever written to a file by Ventana (ARCHITECTURE.md, invariant 8): the
//! keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows)
//! keeps them, encrypted under the user's login. [`KeyringStore`] is the only store the app
//! uses; there is deliberately no in-memory fallback outside tests, because a silent
//! fallback would lose every secret at exit and look like a working keyring until then.
//!
//! The platform's store is chosen by the `keyring` crate (v4, feature `v1`): on the first
//! `keyring::Entry::new` of the process it builds the platform's default store once
//! (`zbus_secret_service_keyring_store` on Linux and the BSDs, Keychain on macOS, the
//! Credential Manager on Windows) and installs it as `keyring_core`'s default. If that fails
//! (no session bus, no Secret Service), every entry fails with `NoDefaultStore` for the
//! rest of the process, and `keyring::Entry::store_status()` keeps the original error; we
//! report that error, in words, as [`SecretError::Unavailable`].

use std::fmt;
use zeroize::Zeroize;

/// What a secret is for. Each account has at most one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The relay session's refresh token (rotated at every refresh).
    RefreshToken,
    /// The 256-bit key of the account's SQLCipher cache.
    CacheKey,
    /// The 256-bit key of the account's sealed attachment cache.
    MediaKey,
}

impl SecretKind {
    /// The name used in the keyring entry's user field (`"{account}:{name}"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefreshToken => "refresh_token",
            Self::CacheKey => "cache_key",
            Self::MediaKey => "media_key",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret value. Its memory is overwritten when it is dropped, and its `Debug` never
/// prints it, so a secret that ends up in a log line or a panic message stays secret.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that needs it (a request header, a cache key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A new random 256-bit key from the OS's generator, as 64 lowercase hex digits (the
    /// keyring stores text portably on every platform; hex keeps it unambiguous).
    pub fn random_key() -> Result<Secret, SecretError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| {
            SecretError::Platform(format!(
                "the system's random number generator failed: {error}"
            ))
        })?;
        let secret = Secret(hex::encode(bytes));
        bytes.zeroize();
        Ok(secret)
    }

    /// The 32 bytes of a key made by [`Secret::random_key`]; `None` if this secret is not
    /// exactly 64 hex digits (e.g. it is a token, or the keyring entry was edited by hand).
    pub fn to_key_bytes(&self) -> Option<[u8; 32]> {
        let mut bytes = [0u8; 32];
        // decode_to_slice writes into our array, so no heap copy of the key is left behind.
        match hex::decode_to_slice(self.0.trim(), &mut bytes) {
            Ok(()) => Some(bytes),
            Err(_) => {
                bytes.zeroize();
                None
            }
        }
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why the keyring could not be used. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// There is no keyring to talk to, or it is locked: the user (or their session) must
    /// fix that; retrying without a change will not help.
    #[error("{0}")]
    Unavailable(String),
    /// The keyring answered with an error.
    #[error("the system keyring failed: {0}")]
    Platform(String),
}

/// Where an account's secrets are kept.
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// The secret, or `None` if there is none for this account and kind.
    fn get(&self, account: &str, kind: SecretKind) -> Result<Option<Secret>, SecretError>;
    /// Stores (or replaces) the secret.
    fn set(&self, account: &str, kind: SecretKind, value: &Secret) -> Result<(), SecretError>;
    /// Removes the secret; removing one that is not there is not an error.
    fn delete(&self, account: &str, kind: SecretKind) -> Result<(), SecretError>;
}

/// The OS keyring, through the `keyring` crate.
///
/// Every entry is filed under `service` (the app uses `"ventana"`) with the user
/// `"{account}:{kind}"`, so the keyring's own UI shows which account a secret belongs to.
/// The calls block (a D-Bus round trip on Linux, possibly a prompt): call them from a
/// blocking context, not from an async task.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
        }
    }

    fn entry(&self, account: &str, kind: SecretKind) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(&self.service, &user_name(account, kind)).map_err(from_keyring)
    }
}

/// The keyring entry's user field for an account's secret.
fn user_name(account: &str, kind: SecretKind) -> String {
    format!("{account}:{kind}")
}

impl SecretStore for KeyringStore {
    fn get(&self, account: &str, kind: SecretKind) -> Result<Option<Secret>, SecretError> {
        match self.entry(account, kind)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(keyring::Error::Ambiguous(entries)) => Err(SecretError::Platform(format!(
                "the keyring holds {} entries for {}:{kind} under \"{}\", so Ventana cannot \
                 tell which is current; sign this account in again to replace them",
                entries.len(),
                account,
                self.service
            ))),
            Err(other) => Err(from_keyring(other)),
        }
    }

    fn set(&self, account: &str, kind: SecretKind, value: &Secret) -> Result<(), SecretError> {
        let entry = self.entry(account, kind)?;
        match entry.set_password(value.expose()) {
            Ok(()) => Ok(()),
            // Duplicates can only come from outside Ventana (another tool wrote the same
            // service and user). The new value is the one that counts: drop them all and
            // write it once, so later reads are unambiguous again.
            Err(keyring::Error::Ambiguous(entries)) => {
                for duplicate in entries {
                    match duplicate.delete_credential() {
                        Ok(()) | Err(keyring::Error::NoEntry) => {}
                        Err(other) => return Err(from_keyring(other)),
                    }
                }
                entry.set_password(value.expose()).map_err(from_keyring)
            }
            Err(other) => Err(from_keyring(other)),
        }
    }

    fn delete(&self, account: &str, kind: SecretKind) -> Result<(), SecretError> {
        let entry = self.entry(account, kind)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            // Signing out must leave nothing behind, duplicates included.
            Err(keyring::Error::Ambiguous(entries)) => {
                for duplicate in entries {
                    match duplicate.delete_credential() {
                        Ok(()) | Err(keyring::Error::NoEntry) => {}
                        Err(other) => return Err(from_keyring(other)),
                    }
                }
                Ok(())
            }
            Err(other) => Err(from_keyring(other)),
        }
    }
}

/// Turns a keyring error into ours, in words a user can act on.
///
/// Only the error's kind and the platform's own message are used: `BadEncoding` and
/// `BadDataFormat` carry the stored bytes, which must never reach a message.
fn from_keyring(error: keyring::Error) -> SecretError {
    match error {
        keyring::Error::NoDefaultStore => {
            // The store is built once per process; its error is kept by the crate.
            let cause = match keyring::Entry::store_status() {
                Err(cause) => describe(cause),
                Ok(()) => "the keyring was not set up".to_owned(),
            };
            SecretError::Unavailable(unavailable_message(&cause))
        }
        keyring::Error::NoStorageAccess(cause) => SecretError::Unavailable(format!(
            "The system keyring is locked or refused access: {cause}. Unlock it (on Linux, \
             your login keyring in the Passwords and Keys app) and try again."
        )),
        other => SecretError::Platform(describe(&other)),
    }
}

/// A keyring error as text, never including secret bytes.
fn describe(error: &keyring::Error) -> String {
    match error {
        keyring::Error::BadEncoding(_) => "a stored value is not valid text".to_owned(),
        keyring::Error::BadDataFormat(_, cause) => {
            format!("a stored value is malformed: {cause}")
        }
        keyring::Error::PlatformFailure(cause) => cause.to_string(),
        other => other.to_string(),
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn unavailable_message(cause: &str) -> String {
    format!(
        "The system keyring is not available (no Secret Service on the session bus): \
         {cause}. Ventana keeps sign-ins and cache keys only in the keyring; start a \
         keyring such as GNOME Keyring or KWallet in your desktop session, then restart \
         Ventana."
    )
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn unavailable_message(cause: &str) -> String {
    format!(
        "The system keyring is not available: {cause}. Ventana keeps sign-ins and cache \
         keys only in the keyring; restart Ventana once it is available."
    )
}

/// A store in memory, for unit tests of code that needs a [`SecretStore`]. Test builds
/// only: the app must never keep secrets somewhere that forgets them.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    entries: std::sync::Mutex<std::collections::HashMap<(String, SecretKind), Secret>>,
}

#[cfg(test)]
impl SecretStore for MemoryStore {
    fn get(&self, account: &str, kind: SecretKind) -> Result<Option<Secret>, SecretError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| SecretError::Platform("poisoned".into()))?;
        Ok(entries.get(&(account.to_owned(), kind)).cloned())
    }

    fn set(&self, account: &str, kind: SecretKind, value: &Secret) -> Result<(), SecretError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| SecretError::Platform("poisoned".into()))?;
        entries.insert((account.to_owned(), kind), value.clone());
        Ok(())
    }

    fn delete(&self, account: &str, kind: SecretKind) -> Result<(), SecretError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| SecretError::Platform("poisoned".into()))?;
        entries.remove(&(account.to_owned(), kind));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A service name no other test (or earlier run) uses, so parallel tests and leftovers
    /// from a crashed run never meet.
    fn unique_service(test: &str) -> String {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).unwrap();
        format!("ventana-test-{test}-{}", hex::encode(nonce))
    }

    /// The real keyring. The tests need a Secret Service (scripts/test runs them in a D-Bus
    /// session with an unlocked gnome-keyring); without one they fail, saying so.
    fn keyring(test: &str) -> KeyringStore {
        let store = KeyringStore::new(&unique_service(test));
        if let Err(error) = store.get("probe", SecretKind::RefreshToken) {
            panic!(
                "these tests need the system keyring: a Secret Service with an unlocked \
                 default collection. Run them through scripts/test, which starts one in a \
                 D-Bus session (gnome-keyring, unlocked with the password it uses): {error}"
            );
        }
        store
    }

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("hunter2-token".into());
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn random_keys_are_hex_256_bit_and_differ() {
        let a = Secret::random_key().unwrap();
        let b = Secret::random_key().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
        let bytes = a.to_key_bytes().unwrap();
        assert_eq!(hex::encode(bytes), a.expose());
    }

    #[test]
    fn only_64_hex_digits_are_a_key() {
        assert!(Secret::new("ab".repeat(32)).to_key_bytes().is_some());
        assert!(Secret::new("ab".repeat(31)).to_key_bytes().is_none());
        assert!(Secret::new("zz".repeat(32)).to_key_bytes().is_none());
        assert!(
            Secret::new("a-refresh-token".into())
                .to_key_bytes()
                .is_none()
        );
    }

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(
            user_name("acme", SecretKind::RefreshToken),
            "acme:refresh_token"
        );
        assert_eq!(user_name("acme", SecretKind::CacheKey), "acme:cache_key");
        assert_eq!(user_name("acme", SecretKind::MediaKey), "acme:media_key");
    }

    #[test]
    fn memory_store_behaves_like_a_store() {
        let store = MemoryStore::default();
        let value = Secret::new("v".into());
        store.set("a", SecretKind::CacheKey, &value).unwrap();
        assert_eq!(
            store
                .get("a", SecretKind::CacheKey)
                .unwrap()
                .unwrap()
                .expose(),
            "v"
        );
        assert!(store.get("a", SecretKind::MediaKey).unwrap().is_none());
        store.delete("a", SecretKind::CacheKey).unwrap();
        store.delete("a", SecretKind::CacheKey).unwrap();
        assert!(store.get("a", SecretKind::CacheKey).unwrap().is_none());
    }

    #[test]
    fn keyring_set_get_replace_delete_roundtrip() {
        let store = keyring("roundtrip");
        let account = "relay.example|acme|agent-1";
        assert!(
            store
                .get(account, SecretKind::RefreshToken)
                .unwrap()
                .is_none()
        );

        store
            .set(
                account,
                SecretKind::RefreshToken,
                &Secret::new("first".into()),
            )
            .unwrap();
        let read = store
            .get(account, SecretKind::RefreshToken)
            .unwrap()
            .unwrap();
        assert_eq!(read.expose(), "first");

        // A refresh rotates the token: set replaces, it does not add a second entry.
        store
            .set(
                account,
                SecretKind::RefreshToken,
                &Secret::new("second ñ✓".into()),
            )
            .unwrap();
        let read = store
            .get(account, SecretKind::RefreshToken)
            .unwrap()
            .unwrap();
        assert_eq!(read.expose(), "second ñ✓");

        let key = Secret::random_key().unwrap();
        store.set(account, SecretKind::CacheKey, &key).unwrap();
        let read = store.get(account, SecretKind::CacheKey).unwrap().unwrap();
        assert_eq!(read.to_key_bytes(), key.to_key_bytes());
        // Kinds are separate entries.
        assert_eq!(
            store
                .get(account, SecretKind::RefreshToken)
                .unwrap()
                .unwrap()
                .expose(),
            "second ñ✓"
        );

        store.delete(account, SecretKind::RefreshToken).unwrap();
        store.delete(account, SecretKind::CacheKey).unwrap();
        assert!(
            store
                .get(account, SecretKind::RefreshToken)
                .unwrap()
                .is_none()
        );
        assert!(store.get(account, SecretKind::CacheKey).unwrap().is_none());
    }

    #[test]
    fn keyring_accounts_do_not_see_each_others_secrets() {
        let store = keyring("isolation");
        store
            .set(
                "tenant-a",
                SecretKind::MediaKey,
                &Secret::new("key-of-a".into()),
            )
            .unwrap();
        assert!(
            store
                .get("tenant-b", SecretKind::MediaKey)
                .unwrap()
                .is_none()
        );
        store
            .set(
                "tenant-b",
                SecretKind::MediaKey,
                &Secret::new("key-of-b".into()),
            )
            .unwrap();
        assert_eq!(
            store
                .get("tenant-a", SecretKind::MediaKey)
                .unwrap()
                .unwrap()
                .expose(),
            "key-of-a"
        );
        assert_eq!(
            store
                .get("tenant-b", SecretKind::MediaKey)
                .unwrap()
                .unwrap()
                .expose(),
            "key-of-b"
        );
        // Deleting one account's secret leaves the other's.
        store.delete("tenant-a", SecretKind::MediaKey).unwrap();
        assert!(
            store
                .get("tenant-a", SecretKind::MediaKey)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .get("tenant-b", SecretKind::MediaKey)
                .unwrap()
                .unwrap()
                .expose(),
            "key-of-b"
        );
        store.delete("tenant-b", SecretKind::MediaKey).unwrap();
    }

    #[test]
    fn keyring_delete_of_a_missing_entry_is_ok_and_get_is_none() {
        let store = keyring("delete");
        store.delete("nobody", SecretKind::CacheKey).unwrap();
        store
            .set("someone", SecretKind::CacheKey, &Secret::new("k".into()))
            .unwrap();
        store.delete("someone", SecretKind::CacheKey).unwrap();
        assert!(
            store
                .get("someone", SecretKind::CacheKey)
                .unwrap()
                .is_none()
        );
        store.delete("someone", SecretKind::CacheKey).unwrap();
    }

    /// Set in the child process that runs [`without_a_session_bus_the_keyring_is_unavailable`].
    #[cfg(target_os = "linux")]
    const NO_BUS_CHILD: &str = "VENTANA_TEST_KEYRING_WITHOUT_BUS";

    /// With no session bus the keyring is `Unavailable`, says why, and nothing panics.
    ///
    /// The `keyring` crate connects once per process and reads the bus address from the
    /// environment, so the case runs in a child process (this test binary, filtered to this
    /// test) whose `DBUS_SESSION_BUS_ADDRESS` points at a socket that does not exist.
    #[cfg(target_os = "linux")]
    #[test]
    fn without_a_session_bus_the_keyring_is_unavailable() {
        if std::env::var_os(NO_BUS_CHILD).is_some() {
            let store = KeyringStore::new(&unique_service("nobus"));
            for result in [
                store.get("acme", SecretKind::RefreshToken).map(|_| ()),
                store.set(
                    "acme",
                    SecretKind::RefreshToken,
                    &Secret::new("never-stored".into()),
                ),
                store.delete("acme", SecretKind::RefreshToken),
            ] {
                match result {
                    Err(SecretError::Unavailable(message)) => {
                        // Shown with --nocapture: what a user would read.
                        eprintln!("{message}");
                        assert!(
                            message.starts_with(
                                "The system keyring is not available (no Secret Service on \
                                 the session bus): "
                            ),
                            "{message}"
                        );
                        assert!(!message.contains("never-stored"), "{message}");
                    }
                    other => panic!("expected Unavailable, got {other:?}"),
                }
            }
            return;
        }

        let test = "secrets::tests::without_a_session_bus_the_keyring_is_unavailable";
        let missing = std::env::temp_dir().join(format!("ventana-no-bus-{}", std::process::id()));
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(NO_BUS_CHILD, "1")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", missing.display()),
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child run failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
    }
}
