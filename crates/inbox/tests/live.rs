//! What happens while an agent is connected: notifications for escalations and for
//! messages in their own conversations (not for an old backlog, not when muted), and
//! attachments fetched through the relay, cached sealed on disk, and readable offline.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use serde_json::json;
use std::sync::Arc;
use ventana_inbox::notify::NoticeKind;
use ventana_inbox::query::InboxFilter;
use ventana_inbox::sync::SyncState;
use ventana_protocol::api::WorkflowChange;

fn live(engine: &ventana_inbox::Engine, id: &str) -> bool {
    matches!(engine.sync_state(id), Ok(SyncState::Live { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalations_and_assigned_messages_notify_while_live_but_not_from_an_old_backlog() {
    let world = World::new("notices").await;
    let rosa = "7000000000000021";
    // Yesterday's escalation is history: catching up must not ring for it.
    world
        .customer_texts(
            &[(rosa, "m_old", "quiero hablar con un humano")],
            TimeDelta::hours(3),
        )
        .await;
    let notices = Arc::new(Recorded::default());
    let engine = world.engine(Arc::clone(&notices));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "live", || {
        live(&engine, &id) && engine.cursor(&id).unwrap() > 0
    })
    .await;
    let conversation = engine
        .inbox(None, &InboxFilter::default(), None, 5)
        .unwrap()[0]
        .conversation
        .clone();
    assert!(
        conversation.escalation.is_some(),
        "the backlog's escalation is shown"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // (The relay's sweep may, rightly, escalate live that Rosa has waited 3 hours; that is
    // news. Her replayed keyword escalation is not.)
    let asked_for = |keyword: &str| {
        notices
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.kind == NoticeKind::Escalation && n.body.contains(keyword))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        asked_for("humano").is_empty(),
        "no notice for an old backlog"
    );

    // A live escalation rings.
    world
        .customer_texts(&[(rosa, "m_new", "¡AGENTE por favor!")], TimeDelta::zero())
        .await;
    eventually(30, "the escalation notice", || {
        !asked_for("AGENTE").is_empty() || !asked_for("agente").is_empty()
    })
    .await;
    let notice = [asked_for("AGENTE"), asked_for("agente")]
        .concat()
        .remove(0);
    assert_eq!(notice.conversation.as_str(), conversation.id);
    assert_eq!(notice.account, id);

    // Assigned to me: each new customer message rings.
    engine
        .update_conversation(
            &id,
            &conversation.id,
            &WorkflowChange {
                assignee: Some("me".into()),
                ..WorkflowChange::default()
            },
        )
        .await
        .unwrap();
    eventually(30, "the assignment to arrive", || {
        engine
            .conversation(&id, &conversation.id)
            .unwrap()
            .unwrap()
            .assignee
            .is_some()
    })
    .await;
    world
        .customer_texts(&[(rosa, "m_assigned", "where is it?")], TimeDelta::zero())
        .await;
    eventually(30, "the assigned-message notice", || {
        notices
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.kind == NoticeKind::AssignedMessage && n.body.contains("where is it?"))
    })
    .await;

    // Muted: nothing rings, but the message still arrives.
    engine.set_muted(&id, true).unwrap();
    let before = notices.0.lock().unwrap().len();
    world
        .customer_texts(&[(rosa, "m_muted", "humano, ahora")], TimeDelta::zero())
        .await;
    eventually(30, "the muted message to arrive", || {
        engine.search("ahora", 5).unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        notices.0.lock().unwrap().len(),
        before,
        "muted accounts stay quiet"
    );
    drop(engine);
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_is_fetched_once_through_the_relay_sealed_on_disk_and_readable_offline() {
    let mut world = World::new("media").await;
    let photo: Vec<u8> = b"\xff\xd8\xff\xe0JFIF a photo of the broken box"
        .iter()
        .copied()
        .cycle()
        .take(50_000)
        .collect();
    let media_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/jpeg", photo.clone());
    let at = Utc::now() - TimeDelta::minutes(5);
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Rosa Díaz"}, "wa_id": "34600000001"}],
            "messages": [{"from": "34600000001", "id": "wamid.photo1",
                          "timestamp": at.timestamp().to_string(), "type": "image",
                          "image": {"id": media_id, "mime_type": "image/jpeg", "caption": "the broken box"}}]}}]}]});
    world.post_signed(body.to_string().as_bytes()).await;

    let engine = world.engine(Arc::new(Recorded::default()));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "the photo message", || {
        live(&engine, &id) && !engine.search("broken", 5).unwrap().is_empty()
    })
    .await;
    let row = engine
        .inbox(None, &InboxFilter::default(), None, 5)
        .unwrap()[0]
        .conversation
        .clone();
    assert_eq!(row.contact_name.as_deref(), Some("Rosa Díaz"));
    let message = engine.messages(&id, &row.id, None, 1).unwrap().remove(0);
    assert_eq!(message.kind, "image");
    let cached_id = message.content["media_id"].as_str().unwrap().to_owned();

    let download = engine.media(&id, &cached_id).await.unwrap();
    assert_eq!(download.bytes, photo);
    assert_eq!(download.mime_type, "image/jpeg");
    let downloads = world
        .sim
        .attempts()
        .iter()
        .filter(|a| a.path.contains("media-download"))
        .count();
    assert_eq!(downloads, 1);

    // On disk it is sealed: neither the bytes nor the caption nor the id are readable.
    let media_dir = world.app_dir.join("accounts").join(&id).join("media");
    let files = files_under(&media_dir);
    assert_eq!(files.len(), 1);
    let sealed = std::fs::read(&files[0]).unwrap();
    assert!(!contains(&sealed, b"JFIF a photo"));
    assert!(!files[0].to_string_lossy().contains(&media_id));

    // Offline, it opens from the disk cache without asking anyone.
    world.stop_relay().await;
    let again = engine.media(&id, &cached_id).await.unwrap();
    assert_eq!(again.bytes, photo);
    let downloads_after = world
        .sim
        .attempts()
        .iter()
        .filter(|a| a.path.contains("media-download"))
        .count();
    assert_eq!(downloads_after, 1, "served from the disk cache");
    drop(engine);
    world.forget_secrets(&id);
}
