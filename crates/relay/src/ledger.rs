//! The erasure ledger: a line per erasure (a keyed hash of who was erased, never the id),
//! so that a copy made before the erasure cannot bring the person back (issue 14).
//!
//! An erasure writes its line in its own transaction (the store's `erasure_ledger` table)
//! and, after the commit, in `<data dir>/erasure-ledger.jsonl` (fsync'd), because the live
//! database may be the very thing that is lost. `backup.rs`'s restore takes the union of
//! the copies and re-applies it ([`apply_ledger`]); [`overdue`] is the 30-day rule.

use crate::seal::SealKey;
use crate::store::{AuditRecord, LedgerEntry, Storage, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;
use ventana_protocol::ids::{ContactId, ReceiptId, TenantId};

/// The ledger's copy outside the database, in the data dir (hashes only).
pub const LEDGER_FILE: &str = "erasure-ledger.jsonl";
/// How long an erasure may take to reach every copy, backups included.
pub const ERASURE_DEADLINE_DAYS: i64 = 30;

/// The key the ledger's hashes are made with (derived from the relay's key, so the
/// ledger names nobody to whoever lacks the key).
#[derive(Clone)]
pub struct LedgerKey([u8; 32]);

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerKey(<redacted>)")
    }
}

impl LedgerKey {
    pub fn new(key: &SealKey) -> Self {
        Self(key.derive("erasure-ledger"))
    }

    fn hash(&self, subject: &str) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(subject.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The entry for erasing `contact` of `tenant` at `at`.
    pub fn contact(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        at: DateTime<Utc>,
    ) -> LedgerEntry {
        LedgerEntry {
            kind: "contact".into(),
            subject_hash: self.hash(&format!("contact:{contact}")),
            tenant: tenant.to_string(),
            erased_at: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }
    }

    /// The entry for a Meta data-deletion request about `user` of `app_id` at `at`.
    pub fn meta_user(&self, app_id: &str, user: &str, at: DateTime<Utc>) -> LedgerEntry {
        LedgerEntry {
            kind: "meta_user".into(),
            subject_hash: self.hash(&format!("meta_user:{app_id}/{user}")),
            tenant: String::new(),
            erased_at: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }
    }
}

/// Appends `entries` to `<data_dir>/erasure-ledger.jsonl` (created 0600) and fsyncs it.
pub fn append_ledger_file(data_dir: &Path, entries: &[LedgerEntry]) -> std::io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for entry in entries {
        text.push_str(&serde_json::to_string(entry).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(data_dir.join(LEDGER_FILE))?;
    // A line torn by a crash must not swallow the next one.
    let length = file.metadata()?.len();
    if length > 0 {
        use std::io::{Seek, SeekFrom};
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(length - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            text.insert(0, '\n');
        }
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

/// The entries of a ledger file (none if it does not exist). A line that does not parse
/// (a write torn by a crash) is skipped with a warning: its erasure is in the table.
pub fn read_ledger_file(path: &Path) -> std::io::Result<Vec<LedgerEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LedgerEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(error) => {
                tracing::warn!(file = %path.display(), line = number + 1, %error, "skipping an unreadable ledger line");
            }
        }
    }
    Ok(entries)
}

/// The union of ledgers: one entry per subject, with its earliest date.
pub fn union(ledgers: impl IntoIterator<Item = LedgerEntry>) -> Vec<LedgerEntry> {
    let mut by_subject: BTreeMap<(String, String, String), LedgerEntry> = BTreeMap::new();
    for entry in ledgers {
        let key = (
            entry.kind.clone(),
            entry.subject_hash.clone(),
            entry.tenant.clone(),
        );
        match by_subject.get_mut(&key) {
            Some(kept) if erased_at(&entry) < erased_at(kept) => *kept = entry,
            Some(_) => {}
            None => {
                by_subject.insert(key, entry);
            }
        }
    }
    let mut entries: Vec<LedgerEntry> = by_subject.into_values().collect();
    entries.sort_by_key(erased_at);
    entries
}

fn erased_at(entry: &LedgerEntry) -> DateTime<Utc> {
    // An unreadable date counts as long ago: the age rule then errs on refusing.
    DateTime::parse_from_rfc3339(&entry.erased_at)
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The age rule: the erasures a backup taken at `taken_at` does not hold (made after it)
/// whose deadline ([`ERASURE_DEADLINE_DAYS`]) had passed by `now`. A backup with any is
/// refused on restore unless re-erased.
pub fn overdue(
    ledger: &[LedgerEntry],
    taken_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<&LedgerEntry> {
    let deadline = TimeDelta::days(ERASURE_DEADLINE_DAYS);
    ledger
        .iter()
        .filter(|entry| {
            let at = erased_at(entry);
            at > taken_at && at + deadline < now
        })
        .collect()
}

/// The id-like words of a quarantined body (runs of ASCII letters, digits, `_`, `-`, and
/// the runs of digits within them): the candidates a Meta data-deletion request's user id
/// is matched against on restore, since the ledger keeps only its hash.
pub fn id_tokens(body: &[u8]) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    for word in body.split(|b| !is_word(*b)).filter(|w| !w.is_empty()) {
        tokens.insert(String::from_utf8_lossy(word).into_owned());
        for digits in word
            .split(|b| !b.is_ascii_digit())
            .filter(|d| !d.is_empty())
        {
            tokens.insert(String::from_utf8_lossy(digits).into_owned());
        }
    }
    tokens
}

/// What re-applying a ledger did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub ledger_entries: u64,
    pub contacts_erased: u64,
    pub quarantined_removed: u64,
}

/// Re-applies `ledger` to `store`: every contact whose id hashes to a `contact` entry is
/// erased through the store's erasure (a new receipt, audited as `erase`, "re-applied on
/// restore"), every quarantined body naming a `meta_user` entry's user goes, every entry
/// is recorded in the store's ledger, and the erased bytes leave the files.
pub fn apply_ledger(
    store: &dyn Storage,
    key: &LedgerKey,
    ledger: &[LedgerEntry],
) -> Result<Applied, StoreError> {
    let mut applied = Applied {
        ledger_entries: ledger.len() as u64,
        ..Applied::default()
    };
    let wanted: HashMap<(&str, &str, &str), &LedgerEntry> = ledger
        .iter()
        .map(|e| {
            (
                (e.kind.as_str(), e.subject_hash.as_str(), e.tenant.as_str()),
                e,
            )
        })
        .collect();
    let now = Utc::now();
    for (tenant, contact) in store.all_contacts()? {
        let probe = key.contact(&tenant, &contact, now);
        let Some(entry) = wanted.get(&("contact", probe.subject_hash.as_str(), tenant.as_str()))
        else {
            continue;
        };
        let receipt = ReceiptId::new(format!("er_{}", uuid::Uuid::now_v7().simple()));
        let audit = AuditRecord {
            tenant: tenant.clone(),
            actor: "restore".into(),
            action: "erase".into(),
            detail: serde_json::json!({ "why": "re-applied on restore" }),
        };
        match store.erase_contact(&tenant, &contact, receipt, audit, entry) {
            Ok(_) => applied.contacts_erased += 1,
            // Erased meanwhile as another entry's match: nothing left to do.
            Err(StoreError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    if wanted.keys().any(|(kind, _, _)| *kind == "meta_user") {
        let mut done = BTreeSet::new();
        for (app, body) in store.quarantined_bodies()? {
            for token in id_tokens(&body) {
                let probe = key.meta_user(&app, &token, now);
                if let Some(entry) = wanted.get(&("meta_user", probe.subject_hash.as_str(), ""))
                    && done.insert((app.clone(), token.clone()))
                {
                    applied.quarantined_removed +=
                        store.erase_quarantined(&app, &token, Some(entry))?;
                }
            }
        }
    }
    store.record_erasures(ledger)?;
    store.checkpoint_truncate()?;
    Ok(applied)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(hash: &str, at: &str) -> LedgerEntry {
        LedgerEntry {
            kind: "contact".into(),
            subject_hash: hash.into(),
            tenant: "t1".into(),
            erased_at: at.into(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_age_rule_refuses_a_backup_holding_an_erasure_past_its_deadline() {
        let taken = at("2026-03-01T00:00:00Z");
        let ledger = vec![
            entry("before", "2026-02-01T00:00:00Z"),
            entry("after", "2026-03-02T00:00:00Z"),
        ];
        // The backup holds the erasure from before it; the later one is due on April 1st.
        assert!(overdue(&ledger, taken, at("2026-03-31T23:00:00Z")).is_empty());
        let late = overdue(&ledger, taken, at("2026-04-02T00:00:00Z"));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].subject_hash, "after");
        assert!(overdue(&[], taken, at("2030-01-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn the_union_keeps_each_subject_once_with_its_first_date() {
        let merged = union(vec![
            entry("a", "2026-03-02T00:00:00Z"),
            entry("b", "2026-03-01T00:00:00Z"),
            entry("a", "2026-03-01T12:00:00Z"),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].subject_hash, "b");
        assert_eq!(merged[1].erased_at, "2026-03-01T12:00:00Z");
    }

    #[test]
    fn ledger_hashes_name_nobody_and_match_only_their_subject() {
        let key = LedgerKey::new(&SealKey::from_bytes([1; 32]));
        let now = Utc::now();
        let (tenant, contact) = (TenantId::new("t1"), ContactId::new("ct_42"));
        let a = key.contact(&tenant, &contact, now);
        assert_eq!(a.subject_hash.len(), 64);
        assert!(!serde_json::to_string(&a).unwrap().contains("ct_42"));
        assert_eq!(
            a.subject_hash,
            key.contact(&tenant, &contact, now).subject_hash
        );
        assert_ne!(
            a.subject_hash,
            key.contact(&tenant, &ContactId::new("ct_43"), now)
                .subject_hash
        );
        let other = LedgerKey::new(&SealKey::from_bytes([2; 32]));
        assert_ne!(
            a.subject_hash,
            other.contact(&tenant, &contact, now).subject_hash
        );
        let user = key.meta_user("app", "7100042", now);
        assert_eq!(user.tenant, "");
        assert_ne!(
            user.subject_hash,
            key.meta_user("app2", "7100042", now).subject_hash
        );
    }

    #[test]
    fn id_tokens_find_platform_ids_in_a_body() {
        let tokens = id_tokens(br#"{"sender":{"id":"7100042"},"x":"wa+15550001","m":"m_ab-9"}"#);
        assert!(tokens.contains("7100042"));
        assert!(tokens.contains("15550001"));
        assert!(tokens.contains("m_ab-9"));
        assert!(tokens.contains("9"));
    }

    #[test]
    fn the_ledger_file_appends_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let first = entry("a", "2026-03-01T00:00:00Z");
        append_ledger_file(dir.path(), std::slice::from_ref(&first)).unwrap();
        let path = dir.path().join(LEDGER_FILE);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"kind\":\"cont")
            .unwrap();
        assert_eq!(read_ledger_file(&path).unwrap(), vec![first.clone()]);
        let second = entry("b", "2026-03-02T00:00:00Z");
        append_ledger_file(dir.path(), std::slice::from_ref(&second)).unwrap();
        assert_eq!(read_ledger_file(&path).unwrap(), vec![first, second]);
        assert!(
            read_ledger_file(&dir.path().join("none"))
                .unwrap()
                .is_empty()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
