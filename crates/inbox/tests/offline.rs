//! The engine against a real relay and metasim, with its secrets in the session's Secret
//! Service: sign in, receive a backlog, work offline, come back, send exactly once.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::TimeDelta;
use common::*;
use std::sync::Arc;
use ventana_inbox::query::InboxFilter;
use ventana_inbox::secrets::SecretStore;
use ventana_inbox::sync::SyncState;
use ventana_protocol::api::Draft;

fn is_live(engine: &ventana_inbox::Engine, account: &str) -> bool {
    matches!(engine.sync_state(account), Ok(SyncState::Live { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_searches_and_replies_offline_and_the_reply_goes_out_once() {
    let mut world = World::new("offline").await;
    // A backlog: Rosa wrote 40 times, Luis once with a word only he used.
    let rosa: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("m_rosa_{i}"),
                format!("message number {i} about my order"),
            )
        })
        .collect();
    let batch: Vec<(&str, &str, &str)> = rosa
        .iter()
        .map(|(mid, text)| ("7000000000000001", mid.as_str(), text.as_str()))
        .collect();
    world.customer_texts(&batch, TimeDelta::hours(2)).await;
    world
        .customer_texts(
            &[(
                "7000000000000002",
                "m_luis_1",
                "¿Dónde está mi paquete azulado?",
            )],
            TimeDelta::hours(1),
        )
        .await;
    let head = world.head().await;

    let notices = Arc::new(Recorded::default());
    let engine = world.engine(Arc::clone(&notices));
    let account = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap();
    let id = account.record.id.clone();
    eventually(30, "the backlog to be applied", || {
        is_live(&engine, &id) && engine.cursor(&id).unwrap() == head
    })
    .await;

    // The inbox: newest activity first, with unread counts, the last message and the
    // reply window (both customers wrote within 24 h on Messenger).
    let inbox = engine
        .inbox(None, &InboxFilter::default(), None, 50)
        .unwrap();
    assert_eq!(inbox.len(), 2, "{inbox:#?}");
    assert!(inbox[0].conversation.contact_id != inbox[1].conversation.contact_id);
    let luis = &inbox[0];
    let rosa_row = &inbox[1];
    assert_eq!(
        luis.conversation
            .last_message
            .as_ref()
            .unwrap()
            .text
            .as_deref(),
        Some("¿Dónde está mi paquete azulado?")
    );
    assert_eq!(rosa_row.conversation.unread, 40);
    assert_eq!(
        rosa_row.conversation.channel.kind,
        Some(ventana_protocol::ChannelKind::Messenger)
    );
    let window = rosa_row.conversation.window.unwrap();
    assert_eq!(window.mode, ventana_protocol::ReplyMode::Standard);

    // Paging a conversation: the newest 25, then the 15 before them.
    let conversation = rosa_row.conversation.id.clone();
    let newest = engine.messages(&id, &conversation, None, 25).unwrap();
    assert_eq!(newest.len(), 25);
    assert_eq!(
        newest.last().unwrap().message_id.as_deref(),
        Some("m_rosa_39")
    );
    let older = engine
        .messages(&id, &conversation, Some(newest[0].rowid), 25)
        .unwrap();
    assert_eq!(older.len(), 15);
    assert_eq!(older[0].message_id.as_deref(), Some("m_rosa_0"));

    // The relay goes away. The agent still reads and searches everything.
    world.stop_relay().await;
    eventually(30, "the engine to notice it is offline", || {
        matches!(engine.sync_state(&id), Ok(SyncState::Offline { .. }))
    })
    .await;
    // Accents and case don't matter; the match is highlighted.
    let hits = engine.search("donde AZUL", 50).unwrap();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(hits[0].hit.kind, "message");
    let highlighted: Vec<&str> = hits[0]
        .hit
        .snippet
        .iter()
        .filter(|part| part.hit)
        .map(|part| part.text.as_str())
        .collect();
    assert_eq!(highlighted, ["Dónde", "azulado"]);
    assert_eq!(engine.search("order", 10).unwrap().len(), 10);

    // A reply written offline, quoting Rosa's last message, is queued, shown at once
    // with its quote, and counted.
    let queued = engine
        .compose(
            &id,
            &conversation,
            &Draft::Text {
                text: "Shipped today, Rosa!".into(),
                reply_to: Some("m_rosa_39".into()),
            },
        )
        .unwrap();
    let shown = engine.messages(&id, &conversation, None, 1).unwrap();
    assert_eq!(shown[0].state, "queued");
    assert_eq!(shown[0].reply_to.as_deref(), Some("m_rosa_39"));
    assert_eq!(
        shown[0].idempotency_key.as_deref(),
        Some(queued.key.as_str())
    );
    assert_eq!(engine.accounts()[0].queued, 1);
    // Waiting offline sends nothing.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(world.sim.send_count(&format!("ventana:{}", queued.key)), 0);

    // The relay comes back; the reply goes out exactly once, and the echo and the
    // statuses Meta sends afterwards update the same message.
    world.start_relay().await;
    engine.reconnect();
    eventually(30, "the reply to be sent and read", || {
        let message = engine.messages(&id, &conversation, None, 1).unwrap();
        message[0].state == "read"
    })
    .await;
    world.sim.settle().await;
    let sends: Vec<_> = world
        .sim
        .sends()
        .into_iter()
        .filter(|send| send.metadata.as_deref() == Some(&format!("ventana:{}", queued.key)))
        .collect();
    assert_eq!(sends.len(), 1, "sent exactly once");
    // The queued reply kept its quote through the outage: Meta got the Send API's
    // `reply_to`, and the sent message still shows what it quotes.
    assert_eq!(
        sends[0].body["reply_to"],
        serde_json::json!({"mid": "m_rosa_39"})
    );
    let messages = engine.messages(&id, &conversation, None, 100).unwrap();
    let mine: Vec<_> = messages.iter().filter(|m| m.direction == "out").collect();
    assert_eq!(
        mine.len(),
        1,
        "the echo did not add a second copy: {mine:#?}"
    );
    assert_eq!(
        mine[0].message_id.as_deref(),
        Some(sends[0].message_id.as_str())
    );
    assert_eq!(mine[0].sent_as.as_deref(), Some("standard"));
    assert_eq!(mine[0].reply_to.as_deref(), Some("m_rosa_39"));
    assert_eq!(engine.accounts()[0].queued, 0);
    // Replying marks the conversation read and is now its last message.
    let row = engine.conversation(&id, &conversation).unwrap().unwrap();
    assert_eq!(row.unread, 0);
    assert_eq!(row.last_message.unwrap().direction, "out");

    engine.sign_out(&id, true).await.unwrap();
    assert!(
        !world.cache_path(&id).exists(),
        "the cache is removed on request"
    );
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unreachable_relay_are_clear_errors_that_change_nothing() {
    let world = World::new("errors").await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let wrong = engine
        .sign_in(&world.base, EMAIL, "not the password", None)
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "wrong_credentials", "{wrong:?}");
    let unreachable = engine
        .sign_in("http://127.0.0.1:9", EMAIL, PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(unreachable.code, "relay_unreachable", "{unreachable:?}");
    assert!(
        unreachable.message.contains("cannot be reached"),
        "{unreachable:?}"
    );
    assert!(engine.accounts().is_empty());
    assert!(!world.app_dir.join("accounts.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reply_says_why_and_a_failed_one_is_retried_under_its_own_key() {
    let world = World::new("refusals").await;
    // Rosa wrote 8 days ago: nothing can be sent. Luis wrote an hour ago.
    world
        .customer_texts(
            &[("7000000000000031", "m_old", "hello?")],
            TimeDelta::days(8),
        )
        .await;
    world
        .customer_texts(
            &[("7000000000000032", "m_new", "hi there")],
            TimeDelta::hours(1),
        )
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "both conversations", || {
        is_live(&engine, &id)
            && engine
                .inbox(None, &InboxFilter::default(), None, 5)
                .unwrap()
                .len()
                == 2
    })
    .await;
    let inbox = engine
        .inbox(None, &InboxFilter::default(), None, 5)
        .unwrap();
    let (luis, rosa) = (&inbox[0].conversation, &inbox[1].conversation);
    // The window is known before anyone types.
    assert_eq!(
        rosa.window.unwrap().mode,
        ventana_protocol::ReplyMode::Closed(ventana_protocol::window::ClosedReason::Expired)
    );
    let refused = engine
        .compose(&id, &rosa.id, &Draft::text("Sorry for the wait"))
        .unwrap();
    eventually(30, "the relay's refusal", || {
        engine.messages(&id, &rosa.id, None, 1).unwrap()[0].state == "failed"
    })
    .await;
    let shown = engine.messages(&id, &rosa.id, None, 1).unwrap().remove(0);
    let reason = shown.failure.unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("7 days") || reason.contains("closed"),
        "{reason}"
    );
    assert_eq!(world.sim.send_count(&format!("ventana:{}", refused.key)), 0);

    // Meta refuses once (the person isn't available); the agent retries the same reply.
    world
        .sim
        .fail_next(PAGE_ID, 1, ventana_metasim::Failure::Undeliverable);
    let reply = engine
        .compose(&id, &luis.id, &Draft::text("Here is your tracking link"))
        .unwrap();
    eventually(30, "Meta's refusal to reach the desktop", || {
        engine.messages(&id, &luis.id, None, 1).unwrap()[0].state == "failed"
    })
    .await;
    engine.retry(&id, &reply.key).unwrap();
    eventually(30, "the retried reply to be sent", || {
        let message = engine.messages(&id, &luis.id, None, 1).unwrap().remove(0);
        matches!(message.state.as_str(), "sent" | "delivered" | "read")
    })
    .await;
    let messages = engine.messages(&id, &luis.id, None, 10).unwrap();
    let outgoing: Vec<_> = messages.iter().filter(|m| m.direction == "out").collect();
    assert_eq!(
        outgoing.len(),
        1,
        "one message, retried in place: {outgoing:#?}"
    );
    assert_eq!(
        outgoing[0].idempotency_key.as_deref(),
        Some(reply.key.as_str())
    );
    assert_eq!(world.sim.send_count(&format!("ventana:{}", reply.key)), 1);
    assert!(
        engine.retry(&id, &reply.key).is_err(),
        "a sent reply is not retried"
    );
    drop(engine);
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_share_one_inbox_and_search_but_keep_separate_caches() {
    let world = World::new("accounts").await;
    world
        .customer_texts(
            &[(
                "7000000000000041",
                "m_acme",
                "acme customer asks about invoices",
            )],
            TimeDelta::hours(2),
        )
        .await;
    world
        .instagram_text(
            "17800000000000042",
            "m_globex",
            "globex customer asks about invoices",
        )
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let acme = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    let globex = engine
        .sign_in(&world.base, "gus@globex.test", PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    assert_ne!(acme, globex);
    eventually(30, "both accounts live", || {
        is_live(&engine, &acme)
            && is_live(&engine, &globex)
            && engine.search("invoices", 10).unwrap().len() == 2
    })
    .await;
    let inbox = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap();
    assert_eq!(inbox.len(), 2);
    assert_eq!(
        inbox[0].account, globex,
        "newest activity first, across accounts"
    );
    assert_eq!(inbox[1].account, acme);
    assert_eq!(
        inbox[0].conversation.channel.kind,
        Some(ventana_protocol::ChannelKind::Instagram)
    );
    assert_eq!(
        engine
            .inbox(Some(&acme), &InboxFilter::default(), None, 10)
            .unwrap()
            .len(),
        1
    );

    // Each tenant's data is in its own file, under its own key.
    for (account, own, other) in [(&acme, "acme", "globex"), (&globex, "globex", "acme")] {
        let cache = world.open_cache(account);
        let texts: Vec<String> = cache
            .connection()
            .prepare("SELECT text FROM messages")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(texts.len(), 1);
        assert!(texts[0].starts_with(own) && !texts[0].contains(other));
    }
    assert_ne!(world.cache_key(&acme), world.cache_key(&globex));

    // Signing one out keeps its cache readable offline but stops its sync.
    engine.sign_out(&globex, false).await.unwrap();
    assert!(matches!(
        engine.sync_state(&globex),
        Ok(SyncState::SignedOut { .. })
    ));
    assert_eq!(engine.search("invoices", 10).unwrap().len(), 2);
    assert!(
        world
            .secrets()
            .get(&globex, ventana_inbox::secrets::SecretKind::RefreshToken)
            .unwrap()
            .is_none()
    );
    drop(engine);
    world.forget_secrets(&acme);
    world.forget_secrets(&globex);
}
