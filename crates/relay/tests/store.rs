//! The SQLite store's log invariants, on a real file: gap-free sequences per tenant,
//! duplicates skipped without using a number, failed batches leaving nothing, group commit
//! under concurrency, and all of it surviving a reopen.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use std::sync::Arc;
use ventana_protocol::ChannelKind;
use ventana_protocol::EventBody;
use ventana_protocol::event::{InboundMessage, MessageContent};
use ventana_protocol::ids::{ChannelId, EventId, TenantId};
use ventana_relay::store::{ContactRef, MetaApp, NewChannel, NewEvent, SqliteStore, Storage};

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    Fixture { _dir: dir, path }
}

fn set_up(store: &SqliteStore, tenant: &str, page: &str) -> (TenantId, ChannelId) {
    let tenant = store.add_tenant(tenant).unwrap().id;
    let _ = store.add_meta_app(MetaApp {
        app_id: "1".into(),
        secret_sealed: "v1:x".into(),
        verify_token_sealed: None,
    });
    let channel = store
        .add_channel(NewChannel {
            tenant: tenant.clone(),
            kind: ChannelKind::Messenger,
            external_id: page.into(),
            app_id: "1".into(),
            display_name: "Page".into(),
            waba_id: None,
        })
        .unwrap()
        .id;
    (tenant, channel)
}

fn message(
    tenant: &TenantId,
    channel: &ChannelId,
    id: &str,
    contact: &str,
    name: Option<&str>,
) -> NewEvent {
    NewEvent {
        id: EventId::new(id),
        tenant: tenant.clone(),
        channel: channel.clone(),
        contact: Some(ContactRef {
            external_id: contact.into(),
            name: name.map(str::to_owned),
        }),
        conversation: None,
        occurred_at: Utc::now(),
        body: EventBody::MessageReceived(InboundMessage {
            message_id: id.into(),
            content: MessageContent::Text {
                body: format!("text of {id}"),
            },
            sender_name: None,
            reply_to: None,
            referral: None,
        }),
        media: vec![],
    }
}

fn seqs(store: &SqliteStore, tenant: &TenantId) -> Vec<u64> {
    store
        .read_log(tenant, 0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[test]
fn each_tenant_has_its_own_gap_free_sequence_and_duplicates_use_no_number() {
    let f = fixture();
    let store = SqliteStore::open(&f.path, None).unwrap();
    let (acme, acme_page) = set_up(&store, "acme", "p1");
    let (globex, globex_page) = set_up(&store, "globex", "p2");

    let first = store
        .append(vec![
            message(&acme, &acme_page, "msg:a", "u1", None),
            message(&globex, &globex_page, "msg:b", "u9", None),
            message(&acme, &acme_page, "msg:a", "u1", None), // the same event twice in one batch
            message(&acme, &acme_page, "msg:c", "u1", None),
        ])
        .unwrap();
    assert_eq!(first.duplicates, 1);
    let again = store
        .append(vec![
            message(&acme, &acme_page, "msg:c", "u1", None), // a redelivery
            message(&acme, &acme_page, "msg:d", "u2", None),
        ])
        .unwrap();
    assert_eq!(again.duplicates, 1);
    assert_eq!(
        again.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(seqs(&store, &acme), vec![1, 2, 3]);
    assert_eq!(seqs(&store, &globex), vec![1]);
    assert_eq!(store.head(&acme).unwrap(), 3);
    assert_eq!(store.head(&globex).unwrap(), 1);
}

#[test]
fn a_failed_batch_leaves_nothing_and_the_sequence_stays_gap_free() {
    let f = fixture();
    let store = SqliteStore::open(&f.path, None).unwrap();
    let (acme, page) = set_up(&store, "acme", "p1");
    store
        .append(vec![message(&acme, &page, "msg:1", "u1", None)])
        .unwrap();

    // The second event names a tenant that doesn't exist: the whole batch must fail.
    let ghost = TenantId::new("no-such-tenant");
    let failed = store.append(vec![
        message(&acme, &page, "msg:2", "u2", Some("Nuevo")),
        message(&ghost, &page, "msg:3", "u3", None),
    ]);
    assert!(
        failed.is_err(),
        "a batch naming an unknown tenant was stored: {failed:?}"
    );
    assert_eq!(seqs(&store, &acme), vec![1]);

    // Nothing of it was kept, in the database or in the writer's memory.
    let next = store
        .append(vec![message(&acme, &page, "msg:2", "u2", None)])
        .unwrap();
    assert_eq!(next.entries[0].seq, 2);
    assert_eq!(seqs(&store, &acme), vec![1, 2]);
    let conversation = next.entries[0].event.conversation.clone().unwrap();
    assert!(
        store.conversation(&acme, &conversation).unwrap().is_some(),
        "the event points at a conversation that was rolled back"
    );
}

#[test]
fn a_contact_keeps_one_conversation_and_its_latest_name() {
    let f = fixture();
    let store = SqliteStore::open(&f.path, None).unwrap();
    let (acme, page) = set_up(&store, "acme", "p1");
    let a = store
        .append(vec![message(&acme, &page, "msg:1", "u1", Some("Ana"))])
        .unwrap();
    let b = store
        .append(vec![message(&acme, &page, "msg:2", "u1", None)])
        .unwrap();
    let c = store
        .append(vec![message(&acme, &page, "msg:3", "u2", None)])
        .unwrap();
    let (a, b, c) = (
        &a.entries[0].event,
        &b.entries[0].event,
        &c.entries[0].event,
    );
    assert_eq!(a.contact, b.contact);
    assert_eq!(a.conversation, b.conversation);
    assert_ne!(a.conversation, c.conversation);
    let conversation = store
        .conversation(&acme, a.conversation.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(Some(conversation.contact), a.contact);
}

#[test]
fn concurrent_appends_share_commits_and_never_share_a_number() {
    let f = fixture();
    let store = Arc::new(SqliteStore::open(&f.path, None).unwrap());
    let (acme, page) = set_up(&store, "acme", "p1");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (store, acme, page) = (Arc::clone(&store), acme.clone(), page.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let id = format!("msg:{t}:{i}");
                    store
                        .append(vec![message(&acme, &page, &id, &format!("u{t}"), None)])
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(seqs(&store, &acme), (1..=400).collect::<Vec<_>>());
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
