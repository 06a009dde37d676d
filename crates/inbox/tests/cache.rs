//! The cache on its own: how each kind of event lands, the cursor's rules, the inbox's
//! filters, and the schema checks. Real encrypted files in a temp dir; no network.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;
use ventana_inbox::apply::{ApplyError, LogEntry, apply_batch, cursor};
use ventana_inbox::cache::{Cache, CacheError, CacheKey};
use ventana_inbox::query::{self, InboxFilter};
use ventana_protocol::Event;

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

/// An event as the relay would stream it, from its flat JSON body.
fn event(id: &str, conversation: &str, minutes: i64, body: serde_json::Value) -> Event {
    let mut value = json!({
        "id": id, "tenant": "t1", "channel": "ch_messenger",
        "contact": format!("ct_{conversation}"), "conversation": conversation,
        "occurred_at": at(minutes), "recorded_at": at(minutes),
    });
    for (key, field) in body.as_object().unwrap() {
        value[key] = field.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn text(id: &str, conversation: &str, minutes: i64, body: &str) -> Event {
    event(
        id,
        conversation,
        minutes,
        json!({"type": "message_received", "message_id": id, "content": {"kind": "text", "body": body},
               "sender_name": "Rosa", "reply_to": null, "referral": null}),
    )
}

fn sent(id: &str, conversation: &str, minutes: i64, body: &str) -> Event {
    event(
        &format!("msg:{id}"),
        conversation,
        minutes,
        json!({"type": "message_sent", "message_id": id, "idempotency_key": null,
               "content": {"kind": "text", "body": body}, "sender": {"by": "agent", "agent": "ag_1"},
               "sent_as": "standard", "reply_to": null}),
    )
}

fn status(id: &str, conversation: &str, minutes: i64, state: &str) -> Event {
    event(
        &format!("st:{id}:{state}"),
        conversation,
        minutes,
        json!({"type": "message_status", "target": {"scope": "message", "message_id": id},
               "status": {"state": state}}),
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    cache: Cache,
    next: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let cache =
            Cache::open(&dir.path().join("cache.db"), &CacheKey::from_bytes([3; 32])).unwrap();
        Fixture {
            _dir: dir,
            cache,
            next: 1,
        }
    }

    fn apply(&mut self, events: Vec<Event>) -> ventana_inbox::apply::Applied {
        let entries: Vec<LogEntry> = events
            .into_iter()
            .map(|event| {
                let seq = self.next;
                self.next += 1;
                LogEntry { seq, event }
            })
            .collect();
        apply_batch(&mut self.cache, &entries).unwrap()
    }

    fn state_of(&self, message_id: &str) -> String {
        self.cache
            .connection()
            .query_row(
                "SELECT state FROM messages WHERE message_id = ?1",
                [message_id],
                |row| row.get(0),
            )
            .unwrap()
    }
}

#[test]
fn a_gap_is_refused_whole_and_entries_already_applied_are_skipped() {
    let mut fx = Fixture::new();
    fx.apply(vec![
        text("m1", "c1", 0, "hola"),
        text("m2", "c1", 1, "hola?"),
    ]);
    assert_eq!(cursor(&fx.cache).unwrap(), 2);

    // 3 is missing: nothing of the batch is written.
    let gap = [
        LogEntry {
            seq: 4,
            event: text("m4", "c1", 3, "four"),
        },
        LogEntry {
            seq: 5,
            event: text("m5", "c1", 4, "five"),
        },
    ];
    assert!(matches!(
        apply_batch(&mut fx.cache, &gap),
        Err(ApplyError::Gap {
            expected: 3,
            got: 4
        })
    ));
    assert_eq!(cursor(&fx.cache).unwrap(), 2);
    assert!(
        query::search(fx.cache.connection(), "five", 5)
            .unwrap()
            .is_empty()
    );

    // A batch that starts with entries already applied applies only the new ones.
    let again = [
        LogEntry {
            seq: 2,
            event: text("m2", "c1", 1, "hola?"),
        },
        LogEntry {
            seq: 3,
            event: text("m3", "c1", 2, "three"),
        },
    ];
    let applied = apply_batch(&mut fx.cache, &again).unwrap();
    assert_eq!((applied.applied, applied.last_seq), (1, 3));
    let count: i64 = fx
        .cache
        .connection()
        .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 3);
    let row = query::conversation(fx.cache.connection(), "c1", at(10))
        .unwrap()
        .unwrap();
    assert_eq!(row.unread, 3);
}

#[test]
fn statuses_only_move_forward_and_a_failure_is_final() {
    let mut fx = Fixture::new();
    fx.apply(vec![
        text("in1", "c1", 0, "hi"),
        sent("out1", "c1", 1, "hello"),
        sent("out2", "c1", 2, "anything else?"),
    ]);
    fx.apply(vec![
        status("out1", "c1", 3, "read"),
        status("out1", "c1", 4, "delivered"),
    ]);
    assert_eq!(
        fx.state_of("out1"),
        "read",
        "a late delivered does not undo read"
    );
    let failed = event(
        "st:out2:failed",
        "c1",
        5,
        json!({"type": "message_status", "target": {"scope": "message", "message_id": "out2"},
               "status": {"state": "failed", "failure": {"code": 131047, "subcode": null,
               "reason": "More than 24 hours have passed", "retryable": false}}}),
    );
    fx.apply(vec![failed, status("out2", "c1", 6, "read")]);
    assert_eq!(fx.state_of("out2"), "failed");
    let page = query::messages(fx.cache.connection(), "c1", None, 10).unwrap();
    assert_eq!(page[2].failure.as_ref().unwrap()["code"], 131047);
    // Messenger's watermark: everything sent up to it is delivered.
    fx.apply(vec![
        sent("out3", "c1", 7, "ok"),
        event(
            "wm:1",
            "c1",
            8,
            json!({"type": "message_status", "target": {"scope": "up_to", "watermark": at(7)},
               "status": {"state": "delivered"}}),
        ),
    ]);
    assert_eq!(fx.state_of("out3"), "delivered");
    assert_eq!(fx.state_of("out1"), "read");
}

#[test]
fn edits_unsends_and_reactions_change_what_is_shown_and_found() {
    let mut fx = Fixture::new();
    fx.apply(vec![
        text("m1", "c1", 0, "my adress is wrong"),
        event(
            "img1",
            "c1",
            1,
            json!({"type": "message_received", "message_id": "img1",
            "content": {"kind": "image", "media_id": "wa:55", "mime_type": "image/jpeg",
                        "caption": "receipt photo", "filename": null, "sha256": null},
            "sender_name": null, "reply_to": null, "referral": null}),
        ),
    ]);
    fx.apply(vec![event(
        "edit:m1:1",
        "c1",
        2,
        json!({"type": "message_edited",
        "message_id": "m1", "text": "my address is wrong", "edit_count": 1}),
    )]);
    let conn = fx.cache.connection();
    assert!(query::search(conn, "adress", 5).unwrap().is_empty());
    assert_eq!(query::search(conn, "address", 5).unwrap().len(), 1);

    fx.apply(vec![event(
        "r1",
        "c1",
        3,
        json!({"type": "reaction", "message_id": "m1",
        "by": "customer", "action": "added", "emoji": "👍"}),
    )]);
    let page = query::messages(fx.cache.connection(), "c1", None, 10).unwrap();
    assert_eq!(page[0].edit_count, 1);
    assert_eq!(page[0].reactions[0].emoji, "👍");
    fx.apply(vec![event(
        "r2",
        "c1",
        4,
        json!({"type": "reaction", "message_id": "m1",
        "by": "customer", "action": "removed", "emoji": null}),
    )]);
    assert!(
        query::messages(fx.cache.connection(), "c1", None, 10).unwrap()[0]
            .reactions
            .is_empty()
    );

    let applied = fx.apply(vec![event(
        "unsend:img1",
        "c1",
        5,
        json!({"type": "message_unsent",
        "message_id": "img1"}),
    )]);
    assert_eq!(applied.released_media, vec!["wa:55".to_owned()]);
    let page = query::messages(fx.cache.connection(), "c1", None, 10).unwrap();
    assert!(page[1].unsent);
    assert!(
        page[1].content.is_null(),
        "an unsent message's content is gone"
    );
    assert!(
        query::search(fx.cache.connection(), "receipt", 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_inbox_filters_and_pages_newest_first() {
    let mut fx = Fixture::new();
    let mut events = Vec::new();
    for i in 0..30 {
        events.push(text(&format!("m{i}"), &format!("c{i:02}"), i, "hola"));
    }
    events.push(event(
        "u1",
        "c03",
        40,
        json!({"type": "conversation_updated",
        "by": {"by": "agent", "agent": "ag_me"}, "status": null,
        "assignee": {"to": "agent", "agent": "ag_me"}, "labels": ["vip", "billing"]}),
    ));
    events.push(event(
        "e1",
        "c07",
        41,
        json!({"type": "escalated",
        "reason": {"rule": "keyword", "keyword": "humano"}}),
    ));
    events.push(event(
        "u2",
        "c09",
        42,
        json!({"type": "conversation_updated",
        "by": {"by": "system"}, "status": {"state": "resolved"}, "assignee": null, "labels": null}),
    ));
    fx.apply(events);
    let conn = fx.cache.connection();
    let page = |filter: &InboxFilter| -> Vec<String> {
        query::inbox(conn, filter, "ag_me", None, 50, at(60))
            .unwrap()
            .into_iter()
            .map(|row| row.id)
            .collect()
    };
    let all = page(&InboxFilter::default());
    assert_eq!(all.len(), 30);
    assert_eq!(all[0], "c29", "newest activity first");
    assert_eq!(
        page(&InboxFilter {
            mine: true,
            ..Default::default()
        }),
        ["c03"]
    );
    assert_eq!(
        page(&InboxFilter {
            escalated: true,
            ..Default::default()
        }),
        ["c07"]
    );
    assert_eq!(
        page(&InboxFilter {
            label: Some("vip".into()),
            ..Default::default()
        }),
        ["c03"]
    );
    assert_eq!(
        page(&InboxFilter {
            status: Some("resolved".into()),
            ..Default::default()
        }),
        ["c09"]
    );
    assert_eq!(
        page(&InboxFilter {
            unassigned: true,
            ..Default::default()
        })
        .len(),
        29
    );

    // Keyset paging: the next page starts after the last row of this one.
    let first = query::inbox(conn, &InboxFilter::default(), "ag_me", None, 10, at(60)).unwrap();
    let last = first.last().unwrap();
    let cursor = query::InboxCursor {
        // Without milliseconds, as JSON gives a whole-second time back to the UI.
        last_activity_at: "2026-11-23T09:20:00Z".into(),
        id: last.id.clone(),
    };
    assert_eq!(last.id, "c20");
    let second = query::inbox(
        conn,
        &InboxFilter::default(),
        "ag_me",
        Some(&cursor),
        10,
        at(60),
    )
    .unwrap();
    assert_eq!(second[0].id, "c19");
}

/// Keyset pages over many conversations with the same activity time (the same second, as
/// WhatsApp gives it): walking down after each page's last row, and back up before each
/// page's first row, sees every conversation once, in the list's order.
#[test]
fn keyset_pages_down_and_back_up_see_every_conversation_once_whatever_the_ties() {
    let mut fx = Fixture::new();
    // 57 conversations over 6 distinct times, most of them tied.
    let events: Vec<Event> = (0..57)
        .map(|i| text(&format!("m{i}"), &format!("c{i:02}"), i % 6, "hola"))
        .collect();
    fx.apply(events);
    let conn = fx.cache.connection();
    let all: Vec<String> = query::inbox(conn, &InboxFilter::default(), "ag_me", None, 100, at(60))
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(all.len(), 57);
    let cursor_of = |row: &query::ConversationSummary| query::InboxCursor {
        // As the UI sends it back: the JSON form of the time.
        last_activity_at: serde_json::to_value(row.last_activity_at)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned(),
        id: row.id.clone(),
    };
    let mut down = Vec::new();
    let mut page = query::InboxPage::First;
    let mut cursor;
    loop {
        let rows =
            query::inbox_page(conn, &InboxFilter::default(), "ag_me", page, 7, at(60)).unwrap();
        down.extend(rows.iter().map(|row| row.id.clone()));
        let Some(last) = rows.last() else { break };
        cursor = cursor_of(last);
        page = query::InboxPage::After(&cursor);
        if rows.len() < 7 {
            break;
        }
    }
    assert_eq!(down, all);

    let bottom = query::inbox(conn, &InboxFilter::default(), "ag_me", None, 100, at(60))
        .unwrap()
        .pop()
        .unwrap();
    let mut up = vec![bottom.id.clone()];
    let mut cursor = cursor_of(&bottom);
    loop {
        let rows = query::inbox_page(
            conn,
            &InboxFilter::default(),
            "ag_me",
            query::InboxPage::Before(&cursor),
            7,
            at(60),
        )
        .unwrap();
        // Each page comes in the list's order, ending just above the cursor's row.
        up.splice(0..0, rows.iter().map(|row| row.id.clone()));
        match rows.first() {
            Some(first) if rows.len() == 7 => cursor = cursor_of(first),
            _ => break,
        }
    }
    assert_eq!(up, all);
}

#[test]
fn a_cache_from_a_newer_version_or_with_an_edited_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::from_bytes([9; 32]);
    Cache::open(&path, &key)
        .unwrap()
        .connection()
        .execute(
            "INSERT INTO schema_migrations (version, name, sha256) VALUES (99, 'future', 'x')",
            [],
        )
        .unwrap();
    let error = Cache::open(&path, &key).unwrap_err();
    assert!(matches!(error, CacheError::Schema(_)), "{error:?}");
    assert!(error.to_string().contains("newer"), "{error}");

    let path = dir.path().join("edited.db");
    Cache::open(&path, &key)
        .unwrap()
        .connection()
        .execute(
            "UPDATE schema_migrations SET sha256 = 'edited' WHERE version = 1",
            [],
        )
        .unwrap();
    assert!(matches!(
        Cache::open(&path, &key),
        Err(CacheError::Schema(_))
    ));
}

/// A connection to `path` keyed as SQLCipher 4 does by default (HMAC-SHA512 pages), as
/// Ventana made its caches before migrations/0003, or with `format` added.
fn raw_connection(path: &std::path::Path, key: [u8; 32], format: &str) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    connection
        .execute_batch(&format!("PRAGMA key = \"x'{hex}'\"; {format}"))
        .unwrap();
    connection
}

#[test]
fn a_new_cache_authenticates_its_pages_with_hmac_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    drop(Cache::open(&path, &CacheKey::from_bytes([5; 32])).unwrap());
    let count = |format: &str| {
        raw_connection(&path, [5; 32], format).query_row(
            "SELECT count(*) FROM sqlite_master",
            [],
            |row| row.get::<_, i64>(0),
        )
    };
    assert!(count("PRAGMA cipher_hmac_algorithm = HMAC_SHA256;").unwrap() > 0);
    assert!(
        count("").is_err(),
        "the file opened with the default HMAC-SHA512"
    );
}

#[test]
fn a_cache_from_before_migration_3_keeps_its_messages_in_place_and_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    {
        // The previous Ventana's cache: the default page format, the first two migrations,
        // two conversations whose messages arrived interleaved (rowids in arrival order).
        let mut old = raw_connection(&path, [8; 32], "");
        ventana_migrate::migrate(&mut old, &ventana_inbox::cache::MIGRATIONS[..2]).unwrap();
        old.execute_batch(
            "INSERT INTO channels (id, kind) VALUES ('ch', 'messenger');
             INSERT INTO contacts (id, channel_id, name, first_seen_at, last_seen_at)
                 VALUES ('ct_a', 'ch', 'Ana', 't', 't'), ('ct_b', 'ch', 'Bea', 't', 't');
             INSERT INTO conversations (id, channel_id, contact_id, last_activity_at)
                 VALUES ('a', 'ch', 'ct_a', '2026-11-23T09:03:00.000Z'),
                        ('b', 'ch', 'ct_b', '2026-11-23T09:02:00.000Z');
             INSERT INTO messages (rowid, conversation_id, contact_id, message_id, direction,
                     kind, text, content, occurred_at, state) VALUES
                 (1, 'a', 'ct_a', 'm1', 'in', 'text', 'hola', '{}', '2026-11-23T09:00:00.000Z', 'received'),
                 (2, 'b', 'ct_b', 'm2', 'in', 'text', 'zapatos rojos', '{}', '2026-11-23T09:01:00.000Z', 'received'),
                 (3, 'b', 'ct_b', 'm3', 'in', 'text', 'talla 38', '{}', '2026-11-23T09:02:00.000Z', 'received'),
                 (4, 'a', 'ct_a', 'm4', 'in', 'text', 'gracias', '{}', '2026-11-23T09:03:00.000Z', 'received');
             UPDATE conversations SET last_message_rowid = 4 WHERE id = 'a';
             UPDATE conversations SET last_message_rowid = 3 WHERE id = 'b';",
        )
        .unwrap();
    }
    let cache = Cache::open(&path, &CacheKey::from_bytes([8; 32])).unwrap();
    assert_eq!(message_ids(&cache, "a"), ["m1", "m4"]);
    assert_eq!(message_ids(&cache, "b"), ["m2", "m3"]);
    // Search still finds the words, and points at the message's new place.
    let hits = query::search(cache.connection(), "zapatos", 50).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation_id.as_deref(), Some("b"));
    let page = query::messages(cache.connection(), "b", None, 50).unwrap();
    assert_eq!(hits[0].message_rowid, Some(page[0].rowid));
    // The inbox still shows each conversation's last message.
    let inbox = query::inbox(
        cache.connection(),
        &InboxFilter::default(),
        "ag_1",
        None,
        50,
        at(60),
    )
    .unwrap();
    let last = |id: &str| {
        inbox
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .last_message
            .clone()
            .unwrap()
            .text
    };
    assert_eq!(last("a").as_deref(), Some("gracias"));
    assert_eq!(last("b").as_deref(), Some("talla 38"));
    drop(cache);

    // New messages follow their conversation's last; the file keeps its page format.
    let mut cache = Cache::open(&path, &CacheKey::from_bytes([8; 32])).unwrap();
    let last_seq = cursor(&cache).unwrap();
    apply_batch(
        &mut cache,
        &[LogEntry {
            seq: last_seq + 1,
            event: text("m5", "a", 5, "hasta luego"),
        }],
    )
    .unwrap();
    assert_eq!(message_ids(&cache, "a"), ["m1", "m4", "m5"]);
    assert_eq!(
        query::search(cache.connection(), "luego", 50)
            .unwrap()
            .len(),
        1
    );
    drop(cache);
    let count = raw_connection(&path, [8; 32], "")
        .query_row("SELECT count(*) FROM messages", [], |row| {
            row.get::<_, i64>(0)
        })
        .unwrap();
    assert_eq!(count, 5);
}

fn message_ids(cache: &Cache, conversation: &str) -> Vec<String> {
    query::messages(cache.connection(), conversation, None, 50)
        .unwrap()
        .into_iter()
        .map(|m| m.message_id.unwrap())
        .collect()
}

/// A message on another channel than the fixtures' Messenger one.
fn on_channel(channel: &str, mut event: Event) -> Event {
    event.channel = ventana_protocol::ids::ChannelId::new(channel);
    event
}

#[test]
fn a_channels_purged_history_leaves_the_cache_and_its_index_and_the_rest_stays() {
    let mut fx = Fixture::new();
    fx.apply(vec![
        text("m_old", "c1", 0, "pangolin invoice"),
        event(
            "img_old",
            "c1",
            1,
            json!({"type": "message_received", "message_id": "img_old",
            "content": {"kind": "image", "media_id": "wa:77", "mime_type": "image/jpeg",
                        "caption": "pangolin photo", "filename": null, "sha256": null},
            "sender_name": null, "reply_to": null, "referral": null}),
        ),
        event(
            "r_old",
            "c1",
            2,
            json!({"type": "reaction", "message_id": "m_old",
            "by": "customer", "action": "added", "emoji": "👍"}),
        ),
        event(
            "note_old",
            "c1",
            3,
            json!({"type": "note_added", "note_id": "n1", "author": "ag_1", "text": "pangolin note"}),
        ),
        on_channel("ch_whatsapp", text("m_wa", "c2", 4, "pangolin on whatsapp")),
        text("m_new", "c1", 30, "pangolin again"),
    ]);
    let hits = |fx: &Fixture| -> Vec<(String, Option<DateTime<Utc>>)> {
        let mut hits: Vec<_> = query::search(fx.cache.connection(), "pangolin", 10)
            .unwrap()
            .into_iter()
            .map(|hit| (hit.kind, hit.occurred_at))
            .collect();
        hits.sort();
        hits
    };
    assert_eq!(hits(&fx).len(), 5, "four messages and a note");

    let mut purge = event(
        "purged:r1",
        "c1",
        31,
        json!({"type": "history_purged", "before": at(10), "receipt": "r1"}),
    );
    purge.contact = None;
    purge.conversation = None;
    let applied = fx.apply(vec![purge]);

    assert_eq!(applied.released_media, vec!["wa:77".to_owned()]);
    assert_eq!(
        hits(&fx),
        vec![
            ("message".to_owned(), Some(at(4))),
            ("message".to_owned(), Some(at(30)))
        ],
        "only the young message and the other channel's are found"
    );
    let conn = fx.cache.connection();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM notes"), 0);
    assert_eq!(count("SELECT count(*) FROM reactions"), 0);
    assert_eq!(count("SELECT count(*) FROM messages"), 2);
}

#[test]
fn a_cache_kept_offline_purges_by_its_own_clock_what_its_channels_retention_allows() {
    let mut fx = Fixture::new();
    let settings = ventana_protocol::ChannelSettings {
        retention_days: Some(30),
        ..Default::default()
    };
    let mut snapshot = event(
        "ch:1",
        "c1",
        0,
        json!({"type": "channel_updated", "kind": "messenger", "display_name": "Acme",
               "connection": {"state": "connected"}, "human_agent_approved": true,
               "settings": settings}),
    );
    snapshot.contact = None;
    snapshot.conversation = None;
    fx.apply(vec![
        snapshot,
        text("m_old", "c1", 0, "tapir invoice"),
        on_channel("ch_whatsapp", text("m_wa", "c2", 0, "tapir on whatsapp")),
        text("m_new", "c1", 60 * 24 * 20, "tapir again"),
    ]);
    let conn_count = |fx: &Fixture| -> i64 {
        fx.cache
            .connection()
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
            .unwrap()
    };
    // 29 days on, nothing has expired yet.
    let applied =
        ventana_inbox::apply::purge_expired_history(&mut fx.cache, at(60 * 24 * 29)).unwrap();
    assert!(applied.conversations.is_empty());
    assert_eq!(conn_count(&fx), 3);
    // 31 days on, the Messenger channel's first message has; WhatsApp keeps everything
    // (no retention set), and so does the newer message.
    let applied =
        ventana_inbox::apply::purge_expired_history(&mut fx.cache, at(60 * 24 * 31)).unwrap();
    assert_eq!(applied.conversations, vec!["c1".to_owned()]);
    assert_eq!(conn_count(&fx), 2);
    assert_eq!(
        query::search(fx.cache.connection(), "tapir", 10)
            .unwrap()
            .len(),
        2
    );
}
