//! A desktop killed (SIGKILL) in the middle of a long backlog resumes from its cursor: no
//! event missing, none applied twice (ARCHITECTURE.md, invariant 5).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::TimeDelta;
use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use ventana_inbox::apply::cursor;
use ventana_inbox::secrets::KeyringStore;
use ventana_inbox::sync::SyncState;
use ventana_inbox::{Engine, EngineConfig};

const MESSAGES: usize = 12_000;
const PER_BODY: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_backlog_resumes_with_nothing_missing_and_nothing_twice() {
    let world = World::new("resume").await;
    let texts: Vec<(String, String, String)> = (0..MESSAGES)
        .map(|i| {
            (
                format!("70000000{:05}", i % 300),
                format!("m_resume_{i}"),
                format!("backlog message {i}"),
            )
        })
        .collect();
    for chunk in texts.chunks(PER_BODY) {
        let batch: Vec<(&str, &str, &str)> = chunk
            .iter()
            .map(|(user, mid, text)| (user.as_str(), mid.as_str(), text.as_str()))
            .collect();
        world.customer_texts(&batch, TimeDelta::hours(3)).await;
    }
    let head = world.head().await;
    // The set-up's channel events come first in the log, then one event per message.
    let setup = head - MESSAGES as u64;
    assert!(setup < 10, "{head}");

    // A separate desktop process signs in and syncs in small transactions…
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_syncs_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("VENTANA_CHILD_APP_DIR", &world.app_dir)
        .env("VENTANA_CHILD_SERVICE", &world.service)
        .env("VENTANA_CHILD_RELAY", &world.base)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let account = loop {
        if let Ok(list) = ventana_inbox::account::load(&world.app_dir)
            && let Some(record) = list.first()
        {
            break record.id.clone();
        }
        assert!(child.try_wait().unwrap().is_none(), "the child died early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let cache = world.open_cache(&account);
    // …and is killed once it has applied some of the backlog but not all.
    let killed_at = loop {
        let applied = cursor(&cache).unwrap();
        if applied > setup {
            child.kill().unwrap();
            child.wait().unwrap();
            break cursor(&cache).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        killed_at < head,
        "the kill must land mid-backlog (it landed at {killed_at} of {head})"
    );
    let count = |cache: &ventana_inbox::cache::Cache| -> (i64, i64) {
        cache
            .connection()
            .query_row(
                "SELECT count(*), count(DISTINCT message_id) FROM messages",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
    };
    // What was committed is exactly what the cursor says.
    eprintln!("the child was killed at entry {killed_at} of {head}");
    let committed = (killed_at - setup) as i64;
    assert_eq!(count(&cache), (committed, committed));

    // The next start resumes from the cursor.
    let engine = world.engine(Arc::new(Recorded::default()));
    let mut updates = engine.subscribe();
    eventually(60, "the rest of the backlog", || {
        matches!(engine.sync_state(&account), Ok(SyncState::Live { .. }))
            && engine.cursor(&account).unwrap() == head
    })
    .await;
    // Progress was reported while catching up ("n of m"), and the backlog went in large
    // transactions, not one per event.
    let mut progress = Vec::new();
    while let Ok(update) = updates.try_recv() {
        if let ventana_inbox::Update::Sync {
            state: SyncState::CatchingUp { applied, head: of },
            ..
        } = update
        {
            progress.push((applied, of));
        }
    }
    assert!(
        progress
            .iter()
            .any(|&(applied, of)| applied > killed_at && applied < head && of == head),
        "{progress:?}"
    );
    assert!(
        progress.len() < 20,
        "one update per transaction: {progress:?}"
    );
    assert_eq!(count(&cache), (MESSAGES as i64, MESSAGES as i64));
    let missing: i64 = cache
        .connection()
        .query_row(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             SELECT count(*) FROM n WHERE NOT EXISTS
               (SELECT 1 FROM messages WHERE message_id = 'm_resume_' || n.i)",
            [MESSAGES as i64 - 1],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(missing, 0, "every message of the log is in the cache");
    let unread: i64 = cache
        .connection()
        .query_row("SELECT sum(unread) FROM conversations", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(unread, MESSAGES as i64, "no message was counted twice");
    drop(engine);
    world.forget_secrets(&account);
}

/// The desktop process the test above kills. Not a test on its own: it needs the
/// environment the test gives it, so it is ignored unless run by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child half of a_sync_killed_mid_backlog_resumes_…, which runs it"]
async fn child_syncs_until_killed() {
    let app_dir = std::env::var("VENTANA_CHILD_APP_DIR").expect("run by the parent test");
    let service = std::env::var("VENTANA_CHILD_SERVICE").unwrap();
    let relay = std::env::var("VENTANA_CHILD_RELAY").unwrap();
    let mut config = EngineConfig::new(app_dir);
    config.sync_batch = 200;
    let engine = Engine::open(
        config,
        Arc::new(KeyringStore::new(&service)),
        Arc::new(Recorded::default()),
    )
    .unwrap();
    engine.sign_in(&relay, EMAIL, PASSWORD, None).await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
