//! Backups that honour erasure, with the real binary: backup → erase → restore leaves the
//! person gone (from the log, from every file of the data dir); the backup holds nothing
//! in plaintext and the ledger no id; a damaged, truncated, re-signed or foreign backup is
//! refused and changes nothing; a backup still holding an erasure past its 30-day deadline
//! is refused unless re-erased, and then rewritten without the person.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;

const MARKER: &str = "quokka-satchel-8814";
const KEPT: &str = "heron-teapot-3307";
const ERASED_PSID: &str = "7100000000000042";
const KEPT_PSID: &str = "7100000000000099";

fn messenger_from(page: &str, psid: &str, mid: &str, text: &str) -> Vec<u8> {
    let at = chrono::Utc::now().timestamp_millis();
    json!({"object": "page", "entry": [{"id": page, "time": at, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": at,
        "message": {"mid": mid, "text": text}}]}]})
    .to_string()
    .into_bytes()
}

async fn events(base: &str, token: &str) -> Vec<Value> {
    let (status, page) = get_json(base, "/v1/events?limit=5000", token).await;
    assert_eq!(status, 200);
    page["entries"].as_array().unwrap().clone()
}

async fn erase(base: &str, token: &str, contact: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{base}/v1/contacts/{contact}/erase"))
        .bearer_auth(token)
        .json(&json!({"confirm": "ERASE"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sign_in(base: &str) -> String {
    login(base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Five messages from the person to erase (each with the marker) and five from someone
/// who stays.
async fn post_messages(base: &str) {
    for n in 0..5 {
        let erased = messenger_from(
            PAGE_ID,
            ERASED_PSID,
            &format!("m_erase_{n}"),
            &format!("my secret is {MARKER} #{n}"),
        );
        assert_eq!(post_signed(base, &erased).await, 200);
        let kept = messenger_from(
            PAGE_ID,
            KEPT_PSID,
            &format!("m_keep_{n}"),
            &format!("keep {KEPT} #{n}"),
        );
        assert_eq!(post_signed(base, &kept).await, 200);
    }
}

/// A relay with messages from the person to erase (the marker, a quarantined body naming
/// them too) and from someone who stays; the running relay and the person's contact id.
async fn filled(data_dir: &Path) -> (RelayProcess, String) {
    set_up(data_dir);
    let relay = RelayProcess::start(data_dir);
    let base = relay.base.clone();
    post_messages(&base).await;
    // A signed body for a Page nobody connected is quarantined; it names the person too.
    let stray = messenger_from(
        "999999999",
        ERASED_PSID,
        "m_stray",
        &format!("lost {MARKER}"),
    );
    assert_eq!(post_signed(&base, &stray).await, 200);
    let token = sign_in(&base).await;
    let contact = events(&base, &token)
        .await
        .iter()
        .map(|e| &e["event"])
        .find(|e| e["content"]["body"] == format!("my secret is {MARKER} #0"))
        .unwrap()["contact"]
        .as_str()
        .unwrap()
        .to_owned();
    (relay, contact)
}

fn backup(data_dir: &Path, to: &Path) -> Value {
    let line = cli_ok(data_dir, &["backup", "--to", to.to_str().unwrap()], "");
    serde_json::from_str(&line).unwrap()
}

fn restore(data_dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    cli(data_dir, &all, "")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The database files of a data dir, as if the disk holding them was lost.
fn lose_the_database(data_dir: &Path) {
    for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(name));
    }
}

/// A new, empty data dir holding only the relay's key (a rebuilt machine).
fn fresh_data_dir(root: &Path, name: &str, key_from: &Path) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(key_from.join("relay.key"), dir.join("relay.key")).unwrap();
    dir
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(days)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_erase_then_restore_leaves_the_person_gone() {
    let (tmp, data_dir) = data_dir();
    let (relay, contact) = filled(&data_dir).await;
    let base = relay.base.clone();
    let token = sign_in(&base).await;

    // Online, while the relay serves.
    let backup_dir = tmp.path().join("backup-1");
    let manifest = backup(&data_dir, &backup_dir);
    assert_eq!(manifest["backend"], "sqlite");
    assert!(manifest["schema_version"].as_i64().unwrap() >= 6);
    assert_eq!(
        names_in(&backup_dir),
        ["database.enc", "manifest.json"],
        "no plaintext copy is left"
    );
    assert!(files_containing(&backup_dir, MARKER.as_bytes()).is_empty());
    assert!(files_containing(&backup_dir, KEPT.as_bytes()).is_empty());
    assert!(files_containing(&backup_dir, ERASED_PSID.as_bytes()).is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["database.enc", "manifest.json"] {
            let mode = std::fs::metadata(backup_dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name} is private");
        }
    }
    // A second backup into the same directory is refused (it would replace the first).
    let again = cli(
        &data_dir,
        &["backup", "--to", backup_dir.to_str().unwrap()],
        "",
    );
    assert!(!again.status.success());

    let (status, receipt) = erase(&base, &token, &contact).await;
    assert_eq!(status, 200, "{receipt}");
    let ledger = std::fs::read_to_string(data_dir.join("erasure-ledger.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 1, "{ledger}");
    let line: Value = serde_json::from_str(ledger.lines().next().unwrap()).unwrap();
    assert_eq!(line["kind"], "contact");
    assert_eq!(line["subject_hash"].as_str().unwrap().len(), 64);
    assert!(!ledger.contains(&contact), "the ledger names no contact");
    assert!(!ledger.contains(ERASED_PSID));
    relay.kill();

    // The disk holding the database is lost; the key and the ledger file survive.
    lose_the_database(&data_dir);
    let output = restore(&data_dir, &["--from", backup_dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["backup_id"], manifest["backup_id"]);
    assert_eq!(report["applied"]["contacts_erased"], 1, "{report}");
    assert!(report["rewritten_as"].is_null());
    assert!(
        files_containing(&data_dir, MARKER.as_bytes()).is_empty(),
        "the erased text is in {:?}",
        files_containing(&data_dir, MARKER.as_bytes())
    );
    assert!(files_containing(&data_dir, ERASED_PSID.as_bytes()).is_empty());
    assert!(
        !files_containing(&data_dir, KEPT.as_bytes()).is_empty(),
        "the rest is back"
    );
    assert!(!names_in(&data_dir).iter().any(|n| n.contains("restoring")));

    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let token = sign_in(&base).await;
    let log = events(&base, &token).await;
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(MARKER), "the erased messages are back");
    assert_eq!(
        text.matches(KEPT).count(),
        5,
        "the kept messages are all back"
    );
    assert!(log.iter().any(|e| e["event"]["type"] == "contact_erased"));
    let (status, _) = erase(&base, &token, &contact).await;
    assert_eq!(status, 404, "the contact is gone after restore");
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    assert!(audit.contains("re-applied on restore"), "{audit}");
    // Redelivered, an erased message stays out (its tombstone came back with the log).
    let redelivered = messenger_from(
        PAGE_ID,
        ERASED_PSID,
        "m_erase_0",
        &format!("my secret is {MARKER} #0"),
    );
    assert_eq!(post_signed(&base, &redelivered).await, 200);
    let text = serde_json::to_string(&events(&base, &token).await).unwrap();
    assert!(!text.contains(MARKER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_truncated_altered_or_foreign_backup_is_refused_and_changes_nothing() {
    let (tmp, data_dir) = data_dir();
    let (relay, _) = filled(&data_dir).await;
    let good = tmp.path().join("good");
    let manifest = backup(&data_dir, &good);
    relay.kill();

    // Over an existing database only with --force.
    let refused = restore(&data_dir, &["--from", good.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));

    let variant = |name: &str, change: &dyn Fn(&Path)| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["database.enc", "manifest.json"] {
            std::fs::copy(good.join(file), dir.join(file)).unwrap();
        }
        change(&dir);
        dir
    };
    let flipped = variant("flipped", &|dir| {
        let path = dir.join("database.enc");
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
    });
    let truncated = variant("truncated", &|dir| {
        let path = dir.join("database.enc");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    });
    let redated = variant("redated", &|dir| {
        let path = dir.join("manifest.json");
        let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest["taken_at"] = json!("2030-01-01T00:00:00.000000Z");
        std::fs::write(&path, manifest.to_string()).unwrap();
    });
    let other_id = variant("other-id", &|dir| {
        let path = dir.join("manifest.json");
        let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest["backup_id"] = json!("bk_someone_else");
        std::fs::write(&path, manifest.to_string()).unwrap();
    });
    for (dir, says) in [
        (&flipped, "does not open"),
        (&truncated, "does not open"),
        (&redated, "does not verify"),
        (&other_id, "does not verify"),
    ] {
        let target = fresh_data_dir(
            tmp.path(),
            &format!("target-{}", dir.file_name().unwrap().to_string_lossy()),
            &data_dir,
        );
        let output = restore(&target, &["--from", dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} was restored", dir.display());
        assert!(stderr.contains(says), "{}: {stderr}", dir.display());
        assert_eq!(
            names_in(&target),
            ["relay.key"],
            "{} changed the data dir",
            dir.display()
        );
    }

    // Another relay's key opens nothing (and no key is made up when there is none).
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("relay.key"), [9u8; 32]).unwrap();
    let output = restore(&foreign, &["--from", good.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another relay key"));
    assert_eq!(names_in(&foreign), ["relay.key"]);
    let keyless = tmp.path().join("keyless");
    let output = restore(&keyless, &["--from", good.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no relay key"));
    assert!(!keyless.join("relay.key").exists());

    // The good one restores (so the refusals above were about the damage).
    let target = fresh_data_dir(tmp.path(), "target-good", &data_dir);
    let output = restore(&target, &["--from", good.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["backup_id"], manifest["backup_id"]);
    assert!(
        !files_containing(&target, MARKER.as_bytes()).is_empty(),
        "nothing was erased: it is all back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holding_an_erasure_past_its_deadline_is_refused_unless_re_erased() {
    let (tmp, data_dir) = data_dir();
    let (relay, contact) = filled(&data_dir).await;
    let old = tmp.path().join("old");
    let first = backup(&data_dir, &old);
    let token = sign_in(&relay.base).await;
    assert_eq!(erase(&relay.base, &token, &contact).await.0, 200);
    relay.kill();
    // The machine is lost; the key and a copy of the ledger were kept elsewhere.
    let kept_ledger = tmp.path().join("kept-ledger.jsonl");
    std::fs::copy(data_dir.join("erasure-ledger.jsonl"), &kept_ledger).unwrap();
    let ledger_arg = kept_ledger.to_str().unwrap();

    // 29 days after the erasure the deadline has not passed: restored, and re-erased.
    let early = fresh_data_dir(tmp.path(), "early", &data_dir);
    let output = restore(
        &early,
        &[
            "--from",
            old.to_str().unwrap(),
            "--ledger",
            ledger_arg,
            "--now",
            &in_days(29),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(files_containing(&early, MARKER.as_bytes()).is_empty());

    // 31 days after: refused, nothing restored.
    let late = fresh_data_dir(tmp.path(), "late", &data_dir);
    let output = restore(
        &late,
        &[
            "--from",
            old.to_str().unwrap(),
            "--ledger",
            ledger_arg,
            "--now",
            &in_days(31),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("30-day deadline") && stderr.contains("--re-erase"),
        "{stderr}"
    );
    assert_eq!(names_in(&late), ["relay.key"]);

    // With --re-erase: restored without the person, and the backup rewritten without them.
    let output = restore(
        &late,
        &[
            "--from",
            old.to_str().unwrap(),
            "--ledger",
            ledger_arg,
            "--now",
            &in_days(31),
            "--re-erase",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["applied"]["contacts_erased"], 1);
    assert!(files_containing(&late, MARKER.as_bytes()).is_empty());
    let rewritten: Value =
        serde_json::from_slice(&std::fs::read(old.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(rewritten["backup_id"], report["rewritten_as"]);
    assert_ne!(rewritten["backup_id"], first["backup_id"]);
    assert_eq!(rewritten["re_erased_from"], first["backup_id"]);
    assert_eq!(names_in(&old), ["database.enc", "manifest.json"]);

    // The rewritten backup, restored with no ledger at all, long after: the person is not
    // in it (its own ledger holds the erasure, so the age rule has nothing against it).
    let bare = fresh_data_dir(tmp.path(), "bare", &data_dir);
    let output = restore(
        &bare,
        &["--from", old.to_str().unwrap(), "--now", &in_days(400)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(files_containing(&bare, MARKER.as_bytes()).is_empty());
    assert!(!files_containing(&bare, KEPT.as_bytes()).is_empty());
    let relay = RelayProcess::start(&bare);
    let token = sign_in(&relay.base).await;
    let text = serde_json::to_string(&events(&relay.base, &token).await).unwrap();
    assert!(!text.contains(MARKER));
    assert_eq!(text.matches(KEPT).count(), 5);
}

/// `cli` against the PostgreSQL database at `url` (the global `--database` flag), without
/// touching the shared `DATABASE` the embedded tests above run with.
fn cli_pg(data_dir: &Path, url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--database", url]);
    cli(data_dir, &all, stdin)
}

fn cli_pg_ok(data_dir: &Path, url: &str, args: &[&str], stdin: &str) -> String {
    let output = cli_pg(data_dir, url, args, stdin);
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_restores_into_a_new_database_with_the_erasure_re_applied() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let (tmp, data_dir) = data_dir();
    cli_pg_ok(&data_dir, &url, &["tenant", "add", "acme"], "");
    cli_pg_ok(
        &data_dir,
        &url,
        &["meta-app", "add", "--app-id", APP_ID, "--app-secret-stdin"],
        &format!("{APP_SECRET}\n"),
    );
    cli_pg_ok(
        &data_dir,
        &url,
        &[
            "channel",
            "add",
            "--tenant",
            "acme",
            "--kind",
            "messenger",
            "--external-id",
            PAGE_ID,
            "--app-id",
            APP_ID,
        ],
        "",
    );
    cli_pg_ok(
        &data_dir,
        &url,
        &[
            "agent",
            "add",
            "--tenant",
            "acme",
            "--email",
            "ana@acme.test",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let relay = RelayProcess::start_with(&data_dir, &["--database", &url]);
    let base = relay.base.clone();
    post_messages(&base).await;
    let token = sign_in(&base).await;
    let contact = events(&base, &token)
        .await
        .iter()
        .map(|e| &e["event"])
        .find(|e| e["content"]["body"] == format!("my secret is {MARKER} #0"))
        .unwrap()["contact"]
        .as_str()
        .unwrap()
        .to_owned();

    let backup_dir = tmp.path().join("pg-backup");
    let line = cli_pg_ok(
        &data_dir,
        &url,
        &["backup", "--to", backup_dir.to_str().unwrap()],
        "",
    );
    let manifest: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(manifest["backend"], "postgres");
    assert!(manifest["schema_version"].as_i64().unwrap() >= 4);
    assert_eq!(names_in(&backup_dir), ["database.enc", "manifest.json"]);
    assert!(files_containing(&backup_dir, MARKER.as_bytes()).is_empty());
    assert!(files_containing(&backup_dir, KEPT.as_bytes()).is_empty());

    assert_eq!(erase(&base, &token, &contact).await.0, 200);
    relay.kill();

    // The database is lost; restore into a new one.
    let restored = cluster.create_database().unwrap();
    let output = cli_pg(
        &data_dir,
        &restored,
        &["restore", "--from", backup_dir.to_str().unwrap()],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["applied"]["contacts_erased"], 1, "{report}");
    // Never over a relay's database.
    let again = cli_pg(
        &data_dir,
        &restored,
        &["restore", "--from", backup_dir.to_str().unwrap()],
        "",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a relay's tables"));

    let database = restored.rsplit('/').next().unwrap();
    let rows = cluster
        .psql(
            database,
            &format!("SELECT count(*) FROM events WHERE body LIKE '%{MARKER}%'"),
        )
        .unwrap();
    assert_eq!(rows.trim(), "0", "erased rows are back");
    let kept = cluster
        .psql(
            database,
            &format!("SELECT count(*) FROM events WHERE body LIKE '%{KEPT}%'"),
        )
        .unwrap();
    assert_eq!(kept.trim(), "5");

    let relay = RelayProcess::start_with(&data_dir, &["--database", &restored]);
    let token = sign_in(&relay.base).await;
    let text = serde_json::to_string(&events(&relay.base, &token).await).unwrap();
    assert!(!text.contains(MARKER));
    assert_eq!(text.matches(KEPT).count(), 5);
    let (status, _) = erase(&relay.base, &token, &contact).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meta_data_deletion_after_the_backup_is_re_applied_to_quarantined_bodies() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta/test_vectors.json"),
    )
    .unwrap();
    let vector: Value = serde_json::from_str(&text).unwrap();
    let signed = vector["data_deletion_signed_request"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let (tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    // The vector's user wrote to a Page nobody connected: only the quarantine names them.
    let user = "218471000000001";
    let stray = messenger_from("999999999", user, "m_dd_stray", &format!("lost {MARKER}"));
    assert_eq!(post_signed(&relay.base, &stray).await, 200);
    let backup_dir = tmp.path().join("backup");
    backup(&data_dir, &backup_dir);
    let response = http()
        .post(format!("{}/meta/data-deletion/{APP_ID}", relay.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("signed_request={signed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ledger = std::fs::read_to_string(data_dir.join("erasure-ledger.jsonl")).unwrap();
    assert!(ledger.contains("\"meta_user\""), "{ledger}");
    assert!(!ledger.contains(user));
    relay.kill();

    lose_the_database(&data_dir);
    let output = restore(&data_dir, &["--from", backup_dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["applied"]["quarantined_removed"], 1, "{report}");
    assert!(files_containing(&data_dir, MARKER.as_bytes()).is_empty());
    assert!(files_containing(&data_dir, user.as_bytes()).is_empty());
}
