//! The SQLite store: the storage contract every backend keeps (`conformance::run`, on a
//! fresh file each), and what only the embedded store has: the log and its sequence
//! surviving a reopen, and the commit listener hearing every commit in order.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use conformance::{message, seqs, set_up};
use std::sync::Arc;
use ventana_relay::store::{PostgresStore, SqliteStore, Storage};

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    Fixture { _dir: dir, path }
}

#[test]
fn sqlite_keeps_the_storage_contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::run(&mut || {
        opened += 1;
        let path = dir.path().join(format!("relay-{opened}.db"));
        Box::new(SqliteStore::open(&path, None).unwrap())
    });
}

/// The same suite on PostgreSQL: a database of its own for each fresh store.
#[test]
fn postgres_keeps_the_storage_contract() {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    conformance::run(&mut || {
        Box::new(PostgresStore::open(&cluster.create_database().unwrap(), None).unwrap())
    });
}

#[test]
fn the_log_and_its_sequence_survive_a_reopen() {
    let f = fixture();
    let (acme, page) = {
        let store = SqliteStore::open(&f.path, None).unwrap();
        let ids = set_up(&store, "acme", "p1");
        store
            .append(vec![message(&ids.0, &ids.1, "msg:1", "u1", None)])
            .unwrap();
        ids
    };
    let store = SqliteStore::open(&f.path, None).unwrap();
    let appended = store
        .append(vec![
            message(&acme, &page, "msg:1", "u1", None),
            message(&acme, &page, "msg:2", "u1", None),
        ])
        .unwrap();
    assert_eq!(appended.duplicates, 1);
    assert_eq!(seqs(&store, &acme), vec![1, 2]);
}

#[test]
fn the_listener_hears_every_commit_in_order() {
    let f = fixture();
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let store = SqliteStore::open(
        &f.path,
        Some(Box::new(move |entries| {
            sink.lock().unwrap().extend(entries.iter().map(|e| e.seq));
        })),
    )
    .unwrap();
    let (acme, page) = set_up(&store, "acme", "p1");
    for i in 0..20 {
        store
            .append(vec![message(&acme, &page, &format!("msg:{i}"), "u1", None)])
            .unwrap();
    }
    store
        .append(vec![message(&acme, &page, "msg:0", "u1", None)])
        .unwrap(); // duplicate: nothing heard
    assert_eq!(*heard.lock().unwrap(), (1..=20).collect::<Vec<_>>());
}
