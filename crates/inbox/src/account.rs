//! Accounts: a relay URL + a tenant + an agent. The list lives in `accounts.json` in the
//! app's data dir and holds no secret: the refresh token, the cache key and the media key
//! are in the OS keyring under the account's id (invariant 8).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the desktop remembers about an account between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Derived from relay, tenant and agent, so signing in again finds the same cache.
    pub id: String,
    pub relay_url: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub agent_id: String,
    pub agent_email: String,
    /// `admin` or `agent`.
    pub role: String,
    /// Notifications off for this account.
    #[serde(default)]
    pub muted: bool,
    /// False after a sign-out that kept the cache: it can be read, not synced.
    #[serde(default = "yes")]
    pub signed_in: bool,
    /// Why the relay ended the session (a code of docs/accounts.md), while signed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_out_code: Option<String>,
    /// The relay asks for a new password before anything else (a new agent, or a reset).
    #[serde(default)]
    pub must_change_password: bool,
    /// When the cache last followed the relay's log: a cache that has not for longer
    /// than the erasure deadline may hold people erased since, and is deleted at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn yes() -> bool {
    true
}

impl AccountRecord {
    /// The account's id: the first 16 bytes of SHA-256 over relay, tenant and agent.
    pub fn derive_id(relay_url: &str, tenant_id: &str, agent_id: &str) -> String {
        let digest = Sha256::digest(format!("{relay_url}\n{tenant_id}\n{agent_id}").as_bytes());
        format!("acc_{}", hex::encode(&digest[..16]))
    }

    /// A short name for the account in lists and notifications.
    pub fn label(&self) -> String {
        format!("{} · {}", self.tenant_name, self.agent_email)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsFileError {
    #[error("the account list {path} cannot be read: {detail}")]
    Unreadable { path: PathBuf, detail: String },
    #[error("the account list {path} cannot be written: {detail}")]
    Unwritable { path: PathBuf, detail: String },
}

/// Where an account's files live under the app's data dir.
pub fn account_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("accounts").join(id)
}

fn list_path(data_dir: &Path) -> PathBuf {
    data_dir.join("accounts.json")
}

/// The remembered accounts (none if the file does not exist yet).
pub fn load(data_dir: &Path) -> Result<Vec<AccountRecord>, AccountsFileError> {
    let path = list_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AccountsFileError::Unreadable {
            path,
            detail: e.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(AccountsFileError::Unreadable {
            path,
            detail: error.to_string(),
        }),
    }
}

/// Replaces the list atomically (a temp file renamed over it), so a crash leaves the old
/// list or the new one, never half of one.
pub fn save(data_dir: &Path, accounts: &[AccountRecord]) -> Result<(), AccountsFileError> {
    let path = list_path(data_dir);
    let unwritable = |detail: String| AccountsFileError::Unwritable {
        path: path.clone(),
        detail,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| unwritable(e.to_string()))?;
    let json = serde_json::to_vec_pretty(accounts).map_err(|e| unwritable(e.to_string()))?;
    let temp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temp).map_err(|e| unwritable(e.to_string()))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| unwritable(e.to_string()))?;
    std::fs::rename(&temp, &path).map_err(|e| unwritable(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_list_roundtrips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let record = AccountRecord {
            id: AccountRecord::derive_id("https://relay.example", "t1", "a1"),
            relay_url: "https://relay.example".into(),
            tenant_id: "t1".into(),
            tenant_name: "Acme".into(),
            agent_id: "a1".into(),
            agent_email: "ana@acme.example".into(),
            role: "agent".into(),
            muted: false,
            signed_in: true,
            signed_out_code: None,
            must_change_password: false,
            last_synced_at: Some(chrono::Utc::now()),
        };
        save(dir.path(), std::slice::from_ref(&record)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), vec![record]);
    }

    #[test]
    fn a_list_from_before_sign_out_reasons_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("accounts.json"),
            br#"[{"id":"acc_1","relay_url":"https://r","tenant_id":"t","tenant_name":"Acme",
                 "agent_id":"a","agent_email":"a@x","role":"agent"}]"#,
        )
        .unwrap();
        let records = load(dir.path()).unwrap();
        assert!(records[0].signed_in);
        assert_eq!(records[0].last_synced_at, None);
        assert!(!records[0].must_change_password);
    }

    #[test]
    fn an_account_id_depends_on_relay_tenant_and_agent() {
        let a = AccountRecord::derive_id("https://r", "t", "a");
        assert_eq!(a, AccountRecord::derive_id("https://r", "t", "a"));
        assert_ne!(a, AccountRecord::derive_id("https://r", "t", "b"));
        assert_ne!(a, AccountRecord::derive_id("https://r2", "t", "a"));
    }

    #[test]
    fn a_damaged_list_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("accounts.json"), b"{not json").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(AccountsFileError::Unreadable { .. })
        ));
    }
}
