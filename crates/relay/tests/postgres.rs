//! What only the shared PostgreSQL store has to keep: several nodes on one database. Two
//! stores opened on one database stand for two relay nodes (each registers as a node,
//! listens for the other's commits and numbers its appends under the tenant's row lock).

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use conformance::{message, seqs, set_up};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ventana_relay::store::{LogEntry, PostgresStore, Storage, WorkStore};

#[test]
fn two_nodes_appending_to_one_tenant_number_every_event_once_without_gaps() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let a = Arc::new(PostgresStore::open(&url, None).unwrap());
    let b = Arc::new(PostgresStore::open(&url, None).unwrap());
    let (tenant, page) = set_up(a.as_ref(), "acme", "p1");
    // Both nodes append the same 150 events (a webhook redelivered to the other node) and
    // 50 of their own each, in small batches, at once.
    let workers: Vec<_> = [(Arc::clone(&a), "a"), (Arc::clone(&b), "b")]
        .into_iter()
        .map(|(store, node)| {
            let (tenant, page) = (tenant.clone(), page.clone());
            std::thread::spawn(move || {
                for batch in 0..50 {
                    let mut events: Vec<_> = (0..3)
                        .map(|i| {
                            let id = format!("msg:shared-{}", batch * 3 + i);
                            message(&tenant, &page, &id, &format!("u{i}"), None)
                        })
                        .collect();
                    let own = format!("msg:{node}-{batch}");
                    events.push(message(&tenant, &page, &own, "u9", None));
                    store.append(events).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let log = a.read_log(&tenant, 0, 10_000).unwrap();
    assert_eq!(seqs(a.as_ref(), &tenant), (1..=250).collect::<Vec<_>>());
    let ids: HashSet<_> = log.iter().map(|e| e.event.id.to_string()).collect();
    assert_eq!(ids.len(), 250, "an event is in the log twice");
    assert_eq!(b.head(&tenant).unwrap(), 250);
}

#[test]
fn a_commit_on_one_node_reaches_the_other_nodes_listener_once_and_in_order() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let heard: Arc<Mutex<Vec<LogEntry>>> = Arc::default();
    let listener = Arc::clone(&heard);
    let a = PostgresStore::open(
        &url,
        Some(Box::new(move |entries| {
            listener.lock().unwrap().extend_from_slice(entries)
        })),
    )
    .unwrap();
    let b = PostgresStore::open(&url, None).unwrap();
    let (tenant, page) = set_up(&b, "acme", "p1");
    for i in 0..20 {
        let id = format!("msg:{i}");
        let store: &dyn Storage = if i % 4 == 0 { &a } else { &b };
        store
            .append(vec![message(&tenant, &page, &id, "u1", None)])
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen: Vec<u64> = heard.lock().unwrap().iter().map(|e| e.seq).collect();
        if seen.len() >= 20 || Instant::now() > deadline {
            assert_eq!(seen, (1..=20).collect::<Vec<_>>());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing more arrives later (no entry is published twice).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(heard.lock().unwrap().len(), 20);
}

#[test]
fn a_database_migrated_by_a_newer_build_is_refused() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    drop(PostgresStore::open(&url, None).unwrap());
    let store = PostgresStore::open(&url, None).unwrap();
    store.add_tenant("acme").unwrap();
    drop(store);
    // A migration this build does not know, as a newer build would have recorded it.
    let output = std::process::Command::new("psql")
        .args([
            &url,
            "-c",
            "INSERT INTO schema_migrations (version, name, sha256) VALUES (99, 'future', 'x')",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let error = PostgresStore::open(&url, None).unwrap_err().to_string();
    assert!(error.contains("newer version"), "{error}");
}

#[test]
fn only_one_node_leads_and_another_takes_over_when_it_closes() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let a = PostgresStore::open(&url, None).unwrap();
    let b = PostgresStore::open(&url, None).unwrap();
    assert!(a.leads().unwrap());
    assert!(a.leads().unwrap(), "the leader keeps the lead");
    assert!(!b.leads().unwrap(), "two nodes lead at once");
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.leads().unwrap() {
        assert!(Instant::now() < deadline, "no node took over the lead");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn migrate_store_copies_an_embedded_relay_with_its_log_and_audit_chain_intact() {
    use ventana_relay::store::{AuditRecord, SqliteStore, postgres::copy_from_sqlite};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let (tenant, contacts_before, log_before, audit_before) = {
        let source = SqliteStore::open(&path, None).unwrap();
        let (tenant, page) = set_up(&source, "acme", "p1");
        set_up(&source, "globex", "p2");
        for i in 0..30 {
            let id = format!("msg:{i}");
            let contact = format!("u{}", i % 4);
            source
                .append(vec![message(&tenant, &page, &id, &contact, Some("Ana"))])
                .unwrap();
        }
        for action in ["login", "reply", "erase"] {
            source
                .audit(AuditRecord {
                    tenant: tenant.clone(),
                    actor: "admin-cli".into(),
                    action: action.into(),
                    detail: serde_json::json!({ "what": action }),
                })
                .unwrap();
        }
        source.quarantine("app", "unknown page", b"{}").unwrap();
        let contacts: Vec<_> = source
            .contacts_by_external_id("app-1", "u1")
            .unwrap()
            .into_iter()
            .map(|c| format!("{c:?}"))
            .collect();
        (
            tenant.clone(),
            contacts,
            source.read_log(&tenant, 0, 1000).unwrap(),
            source.audit_log(&tenant).unwrap(),
        )
    };
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let report = copy_from_sqlite(&path, &url).unwrap();
    assert!(
        report.tables.contains(&("events".to_owned(), 30)),
        "{report:?}"
    );

    let copy = PostgresStore::open(&url, None).unwrap();
    assert_eq!(copy.read_log(&tenant, 0, 1000).unwrap(), log_before);
    assert_eq!(copy.head(&tenant).unwrap(), 30);
    let audit = copy.audit_log(&tenant).unwrap();
    assert_eq!(audit, audit_before);
    ventana_relay::audit::verify(&audit).unwrap();
    let contacts: Vec<_> = copy
        .contacts_by_external_id("app-1", "u1")
        .unwrap()
        .into_iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(contacts, contacts_before);
    assert_eq!(copy.quarantine_count().unwrap(), 1);
    // New rows continue after the copied ones.
    copy.quarantine("app", "again", b"{\"other\":1}").unwrap();
    assert_eq!(copy.quarantined(10).unwrap().len(), 2);
    let (_, page) = (
        tenant.clone(),
        copy.channels_of(&tenant).unwrap()[0].id.clone(),
    );
    let appended = copy
        .append(vec![message(&tenant, &page, "msg:new", "u1", None)])
        .unwrap();
    assert_eq!(appended.entries[0].seq, 31);

    // A second copy into the same database is refused, and changes nothing.
    let error = copy_from_sqlite(&path, &url).unwrap_err().to_string();
    assert!(error.contains("already has tenants"), "{error}");
    assert_eq!(copy.head(&tenant).unwrap(), 31);
}
