//! The audit log's hash chain: each entry's hash covers its content and the previous
//! entry's hash, so editing, inserting or removing an entry anywhere breaks every hash
//! after it. The store also refuses updates and deletes (triggers); the chain is what
//! lets anyone holding an export check that nobody went around them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of a tenant's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry, as stored and as exported (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub tenant: String,
    /// 1, 2, 3… per tenant, without gaps.
    pub seq: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `agent:<id>`, `admin-cli`, `meta` (a data-deletion request), `system`.
    pub actor: String,
    /// e.g. `reply`, `erase`, `channel_settings`, `login`.
    pub action: String,
    /// What was done, as JSON; never a secret, never the erased data itself.
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry with these fields, chained to `prev_hash`.
pub fn entry_hash(
    prev_hash: &str,
    tenant: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &str,
) -> String {
    // A JSON array is an unambiguous encoding: no field can run into the next.
    let canonical = serde_json::json!([prev_hash, tenant, seq, at, actor, action, detail]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: expected sequence {expected}")]
    Gap { seq: u64, expected: u64 },
    #[error("entry {seq}: its prev_hash is not the previous entry's hash")]
    Broken { seq: u64 },
    #[error("entry {seq}: its hash does not match its content")]
    Tampered { seq: u64 },
}

/// Checks one tenant's entries, in order from its first.
pub fn verify(entries: &[AuditEntry]) -> Result<(), ChainError> {
    let mut prev = GENESIS.to_owned();
    for (index, entry) in entries.iter().enumerate() {
        let expected = index as u64 + 1;
        if entry.seq != expected {
            return Err(ChainError::Gap {
                seq: entry.seq,
                expected,
            });
        }
        if entry.prev_hash != prev {
            return Err(ChainError::Broken { seq: entry.seq });
        }
        let hash = entry_hash(
            &entry.prev_hash,
            &entry.tenant,
            entry.seq,
            &entry.at,
            &entry.actor,
            &entry.action,
            &entry.detail.to_string(),
        );
        if hash != entry.hash {
            return Err(ChainError::Tampered { seq: entry.seq });
        }
        prev = hash;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let detail = serde_json::json!({"n": seq});
                let at = format!("2026-11-23T10:00:0{seq}Z");
                let hash = entry_hash(&prev, "t", seq, &at, "system", "test", &detail.to_string());
                let entry = AuditEntry {
                    tenant: "t".into(),
                    seq,
                    at,
                    actor: "system".into(),
                    action: "test".into(),
                    detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
        assert_eq!(verify(&[]), Ok(()));
    }

    #[test]
    fn edits_removals_and_reorderings_are_detected() {
        let mut edited = chain(4);
        edited[1].detail = serde_json::json!({"n": 99});
        assert_eq!(verify(&edited), Err(ChainError::Tampered { seq: 2 }));

        let mut removed = chain(4);
        removed.remove(2);
        assert_eq!(
            verify(&removed),
            Err(ChainError::Gap {
                seq: 4,
                expected: 3
            })
        );

        let mut rehashed = chain(4);
        rehashed[1].actor = "agent:x".into();
        rehashed[1].hash = entry_hash(
            &rehashed[1].prev_hash,
            "t",
            2,
            &rehashed[1].at,
            "agent:x",
            "test",
            &rehashed[1].detail.to_string(),
        );
        // Recomputing the edited entry's hash does not help: the next one still points
        // at the old hash.
        assert_eq!(verify(&rehashed), Err(ChainError::Broken { seq: 3 }));
    }
}
