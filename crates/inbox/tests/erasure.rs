//! Erasure leaves no trace in the desktop cache (invariant 9), the cache is unreadable
//! without its key, and no secret is in any file under the app's data dir (invariant 8).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::TimeDelta;
use common::*;
use std::path::Path;
use std::sync::Arc;
use ventana_inbox::cache::{Cache, CacheError, CacheKey};
use ventana_inbox::query::InboxFilter;
use ventana_inbox::secrets::{SecretKind, SecretStore};
use ventana_inbox::sync::SyncState;

const MARKER: &str = "Zebrafish4471";

/// A plaintext copy of the cache made with its key (`sqlcipher_export`), and how many
/// times the search indexes hold the marker's term.
fn plaintext_copy(world: &World, account: &str, to: &Path) -> (Vec<u8>, i64) {
    let _ = std::fs::remove_file(to);
    let cache = world.open_cache(account);
    cache
        .connection()
        .execute_batch(&format!(
            "ATTACH DATABASE '{}' AS plaintext KEY '';
             SELECT sqlcipher_export('plaintext');
             DETACH DATABASE plaintext;",
            to.display()
        ))
        .unwrap();
    drop(cache);
    let plain = rusqlite::Connection::open(to).unwrap();
    let mut terms = 0;
    for index in ["messages_fts", "contacts_fts", "notes_fts"] {
        plain
            .execute_batch(&format!(
                "CREATE VIRTUAL TABLE temp.vocab_{index} USING fts5vocab(main, {index}, 'row');"
            ))
            .unwrap();
        terms += plain
            .query_row(
                &format!("SELECT count(*) FROM temp.vocab_{index} WHERE term = lower(?1)"),
                [MARKER],
                |row| row.get::<_, i64>(0),
            )
            .unwrap();
    }
    drop(plain);
    (std::fs::read(to).unwrap(), terms)
}

fn holds_marker(bytes: &[u8]) -> bool {
    contains(bytes, MARKER.as_bytes()) || contains(bytes, MARKER.to_lowercase().as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_contact_leaves_no_trace_in_the_cache_and_no_secret_is_in_a_file() {
    let world = World::new("erasure").await;
    let rosa = "7000000000000011";
    world
        .customer_texts(
            &[
                (rosa, "m_rosa_a", &format!("my door code is {MARKER}")),
                (rosa, "m_rosa_b", "and I live on Calle Mayor"),
                ("7000000000000012", "m_luis_a", "¿mi paquete llegó ya?"),
            ],
            TimeDelta::hours(1),
        )
        .await;
    let notices = Arc::new(Recorded::default());
    let engine = world.engine(notices);
    let account = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap();
    let id = account.record.id.clone();
    eventually(30, "the backlog", || {
        matches!(engine.sync_state(&id), Ok(SyncState::Live { .. }))
            && engine
                .inbox(None, &InboxFilter::default(), None, 10)
                .unwrap()
                .len()
                == 2
    })
    .await;
    let rows = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap();
    let rosa_row = rows
        .iter()
        .find(|row| {
            row.conversation
                .last_message
                .as_ref()
                .unwrap()
                .text
                .as_deref()
                == Some("and I live on Calle Mayor")
        })
        .unwrap()
        .conversation
        .clone();
    engine
        .add_note(
            &id,
            &rosa_row.id,
            &format!("She asked us to remember {MARKER}"),
        )
        .await
        .unwrap();
    eventually(30, "the note to come back as an event", || {
        engine.notes(&id, &rosa_row.id).unwrap().len() == 1
    })
    .await;

    // The check can fail: before erasure the plaintext copy and the index hold the marker.
    let copy = world.tmp.path().join("plain-before.db");
    let (bytes, terms) = plaintext_copy(&world, &id, &copy);
    assert!(holds_marker(&bytes));
    assert!(terms >= 2, "message and note are indexed ({terms})");
    assert_eq!(engine.search(MARKER, 10).unwrap().len(), 2);
    std::fs::remove_file(&copy).unwrap();

    let receipt = engine
        .erase_contact(&id, &rosa_row.contact_id)
        .await
        .unwrap();
    assert!(!receipt.receipt.is_empty(), "{receipt:?}");
    eventually(30, "the erasure to reach the cache", || {
        engine
            .inbox(None, &InboxFilter::default(), None, 10)
            .unwrap()
            .len()
            == 1
    })
    .await;
    assert!(engine.search(MARKER, 10).unwrap().is_empty());
    assert!(engine.search("Calle Mayor", 10).unwrap().is_empty());
    assert!(engine.contact(&id, &rosa_row.contact_id).unwrap().is_none());
    assert_eq!(
        engine.search("paquete", 10).unwrap().len(),
        1,
        "Luis is untouched"
    );

    // A plaintext copy of the whole cache holds the marker nowhere: no table, not the
    // FTS index nor its shadow tables.
    let (bytes, terms) = plaintext_copy(&world, &id, &world.tmp.path().join("plain-after.db"));
    assert!(
        !holds_marker(&bytes),
        "the marker survived in the decrypted cache"
    );
    assert!(!contains(&bytes, b"Calle Mayor"));
    assert_eq!(terms, 0, "the marker is still a term of a search index");

    // The raw files hold no plaintext at all: not the marker, not anyone's words, not
    // even SQLite's header.
    let dir = world.app_dir.join("accounts").join(&id);
    for file in files_under(&dir) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [MARKER.as_bytes(), b"paquete", b"SQLite format 3", b"Luis"] {
            assert!(
                !contains(&bytes, needle),
                "{} holds plaintext",
                file.display()
            );
        }
    }

    // No secret in any file under the app's data dir.
    let secrets = world.secrets();
    let mut needles: Vec<Vec<u8>> = vec![PASSWORD.as_bytes().to_vec()];
    for kind in [
        SecretKind::RefreshToken,
        SecretKind::CacheKey,
        SecretKind::MediaKey,
    ] {
        let secret = secrets.get(&id, kind).unwrap().expect("in the keyring");
        needles.push(secret.expose().as_bytes().to_vec());
        if let Some(key) = secret.to_key_bytes() {
            needles.push(key.to_vec());
        }
    }
    for file in files_under(&world.app_dir) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "a secret is in {}",
                file.display()
            );
        }
    }

    // Without its key the cache is unreadable.
    let path = world.cache_path(&id);
    assert!(matches!(
        Cache::open(&path, &CacheKey::from_bytes([7; 32])),
        Err(CacheError::WrongKey)
    ));
    let plain = rusqlite::Connection::open(&path).unwrap();
    assert!(
        plain
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row
                .get::<_, i64>(0))
            .is_err()
    );

    drop(engine);
    world.forget_secrets(&id);
}
