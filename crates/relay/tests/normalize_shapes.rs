//! Webhook shapes the fixtures don't show: every message kind, the less common events,
//! and how one bad event is skipped while the rest of the body is kept.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::DateTime;
use serde_json::{Value, json};
use ventana_protocol::EventBody;
use ventana_protocol::channel::ChannelKind;
use ventana_protocol::event::{
    ConsentSource, DeliveryStatus, InboundMessage, Media, MessageContent, OutboundMessage, Party,
    ReactionAction, Referral, Sender, SharedContact, StatusTarget,
};
use ventana_protocol::ids::{IdempotencyKey, MessageId};
use ventana_relay::webhook::normalize::{
    Incoming, MediaRef, MediaSource, NormalizeError, Normalized, normalize,
};

const PAGE: &str = "100000000000001";
const PSID: &str = "7000000000000001";
const PHONE_NUMBER_ID: &str = "200000000000111";

fn run(body: &Value) -> Normalized {
    normalize(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A Page webhook with these `messaging[]` events.
fn page(events: Value) -> Value {
    json!({"object": "page", "entry": [{"id": PAGE, "time": 1760000009999_i64, "messaging": events}]})
}

/// An inbound Messenger event from the customer to the Page.
fn from_customer(timestamp: i64, event: (&str, Value)) -> Value {
    let mut value =
        json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": timestamp});
    value[event.0] = event.1;
    value
}

/// A WhatsApp `messages` change with this `value` (metadata added).
fn whatsapp(mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "100000000000999", "changes": [{"field": "messages", "value": value}]}]})
}

fn wa_message(id: &str, kind: &str, object: Value) -> Value {
    let mut message =
        json!({"from": "15550001234", "id": id, "timestamp": "1760000400", "type": kind});
    if !object.is_null() {
        message[kind] = object;
    }
    message
}

fn only(normalized: Normalized) -> Incoming {
    assert_eq!(normalized.ignored, vec![]);
    assert_eq!(normalized.events.len(), 1, "{:#?}", normalized.events);
    normalized.events.into_iter().next().unwrap()
}

fn received(event: &Incoming) -> &InboundMessage {
    match &event.body {
        EventBody::MessageReceived(message) => message,
        other => panic!("expected a received message, got {other:?}"),
    }
}

fn sent(event: &Incoming) -> &OutboundMessage {
    match &event.body {
        EventBody::MessageSent(message) => message,
        other => panic!("expected a sent message, got {other:?}"),
    }
}

fn wa_content(kind: &str, object: Value) -> MessageContent {
    let event = only(run(&whatsapp(
        json!({"messages": [wa_message("wamid.X", kind, object)]}),
    )));
    received(&event).content.clone()
}

fn unsupported_text(content: &MessageContent) -> String {
    match content {
        MessageContent::Unsupported {
            description: Some(description),
        } => description.clone(),
        other => panic!("expected unsupported, got {other:?}"),
    }
}

// --- Messenger and Instagram -----------------------------------------------------------

#[test]
fn several_attachments_become_one_fact_each_sharing_the_mid() {
    let body = page(json!([from_customer(
        1760000000001,
        (
            "message",
            json!({
            "mid": "m_multi",
            "text": "two photos",
            "attachments": [
                {"type": "image", "payload": {"url": "https://example.invalid/a.jpg"}},
                {"type": "file", "payload": {"url": "https://example.invalid/b.pdf"}}
            ]})
        )
    )]));
    let events = run(&body).events;
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["msg:m_multi#1", "msg:m_multi#2", "msg:m_multi#3"]);
    for event in &events {
        assert_eq!(received(event).message_id, MessageId::from("m_multi"));
    }
    assert_eq!(
        received(&events[0]).content,
        MessageContent::Text {
            body: "two photos".into()
        }
    );
    assert!(events[0].media.is_empty());
    assert!(matches!(
        received(&events[1]).content,
        MessageContent::Image(_)
    ));
    let MessageContent::Document(document) = &received(&events[2]).content else {
        panic!("a file is a document");
    };
    assert_eq!(
        events[2].media,
        vec![MediaRef {
            media_id: document.media_id.clone(),
            source: MediaSource::Url("https://example.invalid/b.pdf".into()),
        }]
    );
    assert!(document.media_id.as_str().starts_with("url:"));
    assert_eq!(document.media_id.as_str().len(), 4 + 32);
    assert_ne!(events[1].media[0].media_id, events[2].media[0].media_id);
}

#[test]
fn a_sticker_sent_both_ways_during_the_transition_is_one_sticker() {
    let body = page(json!([from_customer(
        1760000000001,
        (
            "message",
            json!({
            "mid": "m_sticker",
            "attachments": [
                {"type": "image", "payload": {"url": "https://example.invalid/old.png", "sticker_id": 369239263222822_i64}},
                {"type": "sticker", "payload": {"url": "https://example.invalid/new.png", "sticker_id": 369239263222822_i64}}
            ]})
        )
    )]));
    let event = only(run(&body));
    assert_eq!(event.dedupe_key, "msg:m_sticker");
    assert!(matches!(
        received(&event).content,
        MessageContent::Sticker(_)
    ));
    assert_eq!(
        event.media[0].source,
        MediaSource::Url("https://example.invalid/new.png".into())
    );

    // The legacy form alone: an image with a sticker id.
    let legacy = page(json!([from_customer(
        1760000000001,
        (
            "message",
            json!({
        "mid": "m_legacy", "sticker_id": 369239263222822_i64,
        "attachments": [{"type": "image", "payload": {"url": "https://example.invalid/old.png"}}]})
        )
    )]));
    assert!(matches!(
        received(&only(run(&legacy))).content,
        MessageContent::Sticker(_)
    ));
}

#[test]
fn media_kinds_and_unshowable_attachments() {
    let cases = [
        ("audio", "audio"),
        ("video", "video"),
        ("share", "a shared post"),
        ("story_mention", "a story mention"),
        ("ig_reel", "a reel"),
        ("fallback", "a shared link"),
        ("something_new", "an attachment of type `something_new`"),
    ];
    for (kind, expected) in cases {
        let body = page(json!([from_customer(
            1,
            (
                "message",
                json!({
            "mid": "m", "attachments": [{"type": kind, "payload": {"url": "https://example.invalid/x"}}]})
            )
        )]));
        let event = only(run(&body));
        match (&received(&event).content, expected) {
            (MessageContent::Audio(_), "audio") | (MessageContent::Video(_), "video") => {}
            (content, expected) => {
                let description = unsupported_text(content);
                assert!(description.starts_with(expected), "{kind}: {description}");
                assert!(description.contains("https://example.invalid/x"), "{kind}");
                assert!(event.media.is_empty(), "nothing to fetch for {kind}");
            }
        }
    }
    // A media attachment without a URL is kept, as unsupported.
    let body = page(json!([from_customer(
        1,
        (
            "message",
            json!({
        "mid": "m", "attachments": [{"type": "image", "payload": {}}]})
        )
    )]));
    assert!(unsupported_text(&received(&only(run(&body))).content).contains("without a URL"));
}

#[test]
fn a_quick_reply_keeps_both_its_text_and_its_payload() {
    let with_text = page(json!([from_customer(
        1,
        (
            "message",
            json!({
        "mid": "m1", "text": "Yes please", "quick_reply": {"payload": "YES"}})
        )
    )]));
    assert_eq!(
        received(&only(run(&with_text))).content,
        MessageContent::InteractiveReply {
            id: "YES".into(),
            title: "Yes please".into(),
            description: None
        }
    );
    let bare = page(json!([from_customer(
        1,
        (
            "message",
            json!({
        "mid": "m2", "quick_reply": {"payload": "YES"}})
        )
    )]));
    assert_eq!(
        received(&only(run(&bare))).content,
        MessageContent::InteractiveReply {
            id: "YES".into(),
            title: "YES".into(),
            description: None
        }
    );
}

#[test]
fn unsupported_and_empty_messages_are_kept() {
    let body = json!({"object": "instagram", "entry": [{"id": "178", "messaging": [
        {"sender": {"id": "9"}, "recipient": {"id": "178"}, "timestamp": 1,
         "message": {"mid": "m_u", "is_unsupported": true}},
        {"sender": {"id": "9"}, "recipient": {"id": "178"}, "timestamp": 2,
         "message": {"mid": "m_empty"}}
    ]}]});
    let events = run(&body).events;
    assert_eq!(events.len(), 2);
    assert!(unsupported_text(&received(&events[0]).content).contains("Instagram"));
    assert!(unsupported_text(&received(&events[1]).content).contains("no content"));
    assert_eq!(events[0].channel.kind, ChannelKind::Instagram);
    assert_eq!(events[0].channel.external_id, "178");
    assert_eq!(events[0].contact_external_id, "9");
}

#[test]
fn our_own_echo_carries_its_idempotency_key() {
    let echo = |metadata: &str| {
        page(
            json!([{"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 5,
            "message": {"is_echo": true, "app_id": "222", "metadata": metadata, "mid": "m_e",
                        "text": "hi", "reply_to": {"mid": "m_q"}}}]),
        )
    };
    let event = only(run(&echo("ventana:0190-abc")));
    assert_eq!(event.channel.external_id, PAGE);
    assert_eq!(event.contact_external_id, PSID);
    assert_eq!(event.dedupe_key, "msg:m_e");
    let message = sent(&event);
    assert_eq!(
        message.idempotency_key,
        Some(IdempotencyKey::from("0190-abc"))
    );
    assert_eq!(
        message.sender,
        Sender::ExternalApp {
            app: Some("222".into())
        }
    );
    assert_eq!(message.reply_to, Some(MessageId::from("m_q")));
    for not_ours in ["ventana:", "Ventana:x", "x ventana:y", ""] {
        assert_eq!(
            sent(&only(run(&echo(not_ours)))).idempotency_key,
            None,
            "{not_ours:?}"
        );
    }
}

#[test]
fn delivery_without_mids_is_a_watermark_and_read_by_watermark_too() {
    let body = page(json!([
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "delivery": {"watermark": 1760000000500_i64}},
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "delivery": {"mids": [], "watermark": 1760000000600_i64}},
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "delivery": {"mids": ["a", "b"], "watermark": 1760000000700_i64}},
    ]));
    let events = run(&body).events;
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "wm:100000000000001:7000000000000001:delivered:1760000000500",
            "wm:100000000000001:7000000000000001:delivered:1760000000600",
            "status:a:delivered",
            "status:b:delivered",
        ]
    );
    assert_eq!(
        events[0].body,
        EventBody::MessageStatus {
            target: StatusTarget::UpTo {
                watermark: DateTime::from_timestamp_millis(1760000000500).unwrap()
            },
            status: DeliveryStatus::Delivered
        }
    );
}

#[test]
fn referrals_postbacks_edits_and_reaction_removals() {
    let body = page(json!([
        from_customer(
            1760000000001,
            (
                "referral",
                json!({"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"})
            )
        ),
        from_customer(
            1760000000002,
            (
                "message",
                json!({"mid": "m_ad", "text": "Is this in stock?",
            "referral": {"ref": "r", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD",
                         "ads_context_data": {"ad_title": "Summer sale"}}})
            )
        ),
        from_customer(
            1760000000003,
            (
                "postback",
                json!({"title": "Get Started", "payload": "START"})
            )
        ),
        from_customer(
            1760000000004,
            ("postback", json!({"mid": "m_pb", "title": "Menu"}))
        ),
        from_customer(
            1760000000005,
            (
                "message_edit",
                json!({"mid": "m_ad", "text": "Is this in stock now?", "num_edit": 2})
            )
        ),
        from_customer(
            1760000000006,
            ("reaction", json!({"mid": "m_ad", "action": "unreact"}))
        ),
    ]));
    let events = run(&body).events;
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "referral:7000000000000001:1760000000001",
            "msg:m_ad",
            "postback:7000000000000001:1760000000003",
            "postback:m_pb",
            "edit:m_ad:2",
            "reaction:m_ad:7000000000000001:unreact:1760000000006",
        ]
    );
    assert_eq!(
        received(&events[0]).content,
        MessageContent::Referral(Referral {
            source: "SHORTLINK".into(),
            reference: Some("summer".into()),
            ad_id: None,
            headline: None,
            url: None
        })
    );
    assert_eq!(
        received(&events[0]).message_id,
        MessageId::from("referral:7000000000000001:1760000000001")
    );
    assert_eq!(
        received(&events[1]).referral,
        Some(Referral {
            source: "ADS".into(),
            reference: Some("r".into()),
            ad_id: Some("6045246247433".into()),
            headline: Some("Summer sale".into()),
            url: None
        })
    );
    assert_eq!(
        received(&events[2]).message_id,
        MessageId::from("postback:7000000000000001:1760000000003")
    );
    assert_eq!(
        received(&events[3]).content,
        MessageContent::Postback {
            title: "Menu".into(),
            payload: String::new()
        }
    );
    assert_eq!(
        events[4].body,
        EventBody::MessageEdited {
            message_id: "m_ad".into(),
            text: "Is this in stock now?".into(),
            edit_count: 2
        }
    );
    assert_eq!(
        events[5].body,
        EventBody::Reaction {
            message_id: "m_ad".into(),
            by: Party::Customer,
            action: ReactionAction::Removed,
            emoji: None
        }
    );
}

#[test]
fn a_reaction_by_the_page_itself_is_the_businesss() {
    let body = page(
        json!([{"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 9,
        "reaction": {"mid": "m_x", "action": "react", "emoji": "👍"}}]),
    );
    let event = only(run(&body));
    assert_eq!(event.channel.external_id, PAGE);
    assert_eq!(event.contact_external_id, PSID);
    assert_eq!(event.dedupe_key, "reaction:m_x:100000000000001:react:9");
    assert!(matches!(
        event.body,
        EventBody::Reaction {
            by: Party::Business,
            ..
        }
    ));
}

#[test]
fn handovers_optins_standby_and_comments_are_ignored_with_a_reason() {
    let body = json!({"object": "page", "entry": [
        {"id": PAGE, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1, "optin": {"ref": "x"}},
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1, "pass_thread_control": {}},
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1, "brand_new_event": {}}
         ],
         "standby": [{"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1, "message": {"mid": "m"}}]},
        {"id": PAGE, "changes": [{"field": "feed", "value": {}}]},
        {"id": PAGE}
    ]});
    let normalized = run(&body);
    assert_eq!(normalized.events, vec![]);
    let what: Vec<&str> = normalized.ignored.iter().map(|i| i.what.as_str()).collect();
    assert_eq!(what.len(), 6, "{what:#?}");
    assert!(what[0].contains("`optin`"));
    assert!(what[1].contains("`pass_thread_control`"));
    assert!(what[2].contains("brand_new_event"));
    assert!(what[3].contains("standby[0]"));
    assert!(what[4].contains("`feed`"));
    assert!(what[5].contains("no messaging"));
    for ignored in &normalized.ignored {
        assert_eq!(ignored.object, "page");
        assert_eq!(ignored.entry_id.as_deref(), Some(PAGE));
    }
}

#[test]
fn one_malformed_messaging_event_is_skipped_and_the_rest_kept() {
    let body = page(json!([
        from_customer(1, ("message", json!({"mid": "m_1", "text": "first"}))),
        {"recipient": {"id": PAGE}, "timestamp": 2, "message": {"mid": "m_2", "text": "no sender"}},
        from_customer(3, ("message", json!({"text": "no mid"}))),
        from_customer(i64::MAX, ("message", json!({"mid": "m_4", "text": "year 292 million"}))),
        "not an event",
        from_customer(6, ("message", json!({"mid": "m_6", "text": "last"}))),
    ]));
    let normalized = run(&body);
    let keys: Vec<&str> = normalized
        .events
        .iter()
        .map(|e| e.dedupe_key.as_str())
        .collect();
    assert_eq!(keys, ["msg:m_1", "msg:m_6"]);
    let what: Vec<&str> = normalized.ignored.iter().map(|i| i.what.as_str()).collect();
    assert_eq!(what.len(), 4);
    assert!(what[0].contains("messaging[1]") && what[0].contains("sender.id"));
    assert!(what[1].contains("messaging[2]") && what[1].contains("mid"));
    assert!(what[2].contains("messaging[3]") && what[2].contains("out of range"));
    assert!(what[3].contains("messaging[4]") && what[3].contains("not an object"));
}

#[test]
fn a_missing_timestamp_falls_back_to_the_entry_time() {
    let body = page(json!([{"sender": {"id": PSID}, "recipient": {"id": PAGE},
        "message": {"mid": "m_t", "text": "when?"}}]));
    assert_eq!(
        only(run(&body)).occurred_at,
        DateTime::from_timestamp_millis(1760000009999).unwrap()
    );
}

// --- WhatsApp ----------------------------------------------------------------------------

#[test]
fn whatsapp_reaction_without_or_with_empty_emoji_is_a_removal() {
    for reaction in [
        json!({"message_id": "wamid.T"}),
        json!({"message_id": "wamid.T", "emoji": ""}),
    ] {
        let event = only(run(&whatsapp(
            json!({"messages": [wa_message("wamid.R", "reaction", reaction)]}),
        )));
        assert_eq!(
            event.dedupe_key,
            "reaction:wamid.T:15550001234:unreact:1760000400"
        );
        assert_eq!(
            event.body,
            EventBody::Reaction {
                message_id: "wamid.T".into(),
                by: Party::Customer,
                action: ReactionAction::Removed,
                emoji: None
            }
        );
    }
}

#[test]
fn whatsapp_media_kinds_keep_their_fields() {
    let sha = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; // base64 SHA-256 of "abc"
    let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let event = only(run(&whatsapp(
        json!({"messages": [wa_message("wamid.D", "document", json!({
        "id": "77", "mime_type": "application/pdf", "sha256": sha, "caption": "invoice", "filename": "inv.pdf"}))]}),
    )));
    assert_eq!(
        received(&event).content,
        MessageContent::Document(Media {
            media_id: "wa:77".into(),
            mime_type: Some("application/pdf".into()),
            caption: Some("invoice".into()),
            filename: Some("inv.pdf".into()),
            sha256: Some(hex.into()),
        })
    );
    assert_eq!(
        event.media,
        vec![MediaRef {
            media_id: "wa:77".into(),
            source: MediaSource::WhatsAppMediaId("77".into())
        }]
    );
    for (kind, check) in [
        (
            "audio",
            MessageContent::Audio as fn(Media) -> MessageContent,
        ),
        ("video", MessageContent::Video),
        ("sticker", MessageContent::Sticker),
    ] {
        let content = wa_content(
            kind,
            json!({"id": "5", "mime_type": "x/y", "sha256": hex.to_uppercase()}),
        );
        assert_eq!(
            content,
            check(Media {
                media_id: "wa:5".into(),
                mime_type: Some("x/y".into()),
                caption: None,
                filename: None,
                sha256: Some(hex.into()),
            }),
            "{kind}"
        );
    }
    // No id but a URL (Meta's newer payloads): fetched by URL.
    let event = only(run(&whatsapp(
        json!({"messages": [wa_message("wamid.U", "image",
        json!({"url": "https://lookaside.example.invalid/m", "mime_type": "image/png"}))]}),
    )));
    assert!(matches!(
        &event.media[0].source,
        MediaSource::Url(url) if url == "https://lookaside.example.invalid/m"
    ));
    // Neither: kept as unsupported.
    assert!(
        unsupported_text(&wa_content("image", json!({"mime_type": "image/png"})))
            .contains("`image`")
    );
}

#[test]
fn whatsapp_contacts_lists_buttons_and_the_rest() {
    assert_eq!(
        wa_content(
            "contacts",
            json!([{
            "name": {"formatted_name": "Ana Pérez", "first_name": "Ana"},
            "phones": [{"phone": "+34 600 000 000", "type": "CELL"}],
            "emails": [{"email": "ana@example.invalid"}]
        }, {"name": {"first_name": "Bo", "last_name": "Li"}}])
        ),
        MessageContent::Contacts {
            contacts: vec![
                SharedContact {
                    name: "Ana Pérez".into(),
                    phones: vec!["+34 600 000 000".into()],
                    emails: vec!["ana@example.invalid".into()]
                },
                SharedContact {
                    name: "Bo Li".into(),
                    phones: vec![],
                    emails: vec![]
                }
            ]
        }
    );
    assert_eq!(
        wa_content(
            "interactive",
            json!({"type": "list_reply",
            "list_reply": {"id": "row_2", "title": "Returns", "description": "Send it back"}})
        ),
        MessageContent::InteractiveReply {
            id: "row_2".into(),
            title: "Returns".into(),
            description: Some("Send it back".into())
        }
    );
    assert_eq!(
        wa_content(
            "button",
            json!({"payload": "STOP_PROMOS", "text": "Stop promotions"})
        ),
        MessageContent::Button {
            payload: "STOP_PROMOS".into(),
            text: "Stop promotions".into()
        }
    );
    let flow = unsupported_text(&wa_content(
        "interactive",
        json!({"type": "nfm_reply", "nfm_reply": {}}),
    ));
    assert!(flow.contains("`interactive`"), "{flow}");
    let order = unsupported_text(&wa_content("order", json!({"product_items": [{}, {}]})));
    assert!(order.contains("order with 2 item"), "{order}");
    let system = unsupported_text(&wa_content(
        "system",
        json!({"body": "User A changed from X to Y"}),
    ));
    assert!(system.contains("User A changed"), "{system}");
    let mut unsupported = wa_message("wamid.Q", "unsupported", Value::Null);
    unsupported["errors"] = json!([{"code": 131051, "title": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."}}]);
    let event = only(run(&whatsapp(json!({"messages": [unsupported]}))));
    let text = unsupported_text(&received(&event).content);
    assert!(
        text.contains("131051") && text.contains("not supported"),
        "{text}"
    );
    let future = unsupported_text(&wa_content("hologram", json!({})));
    assert!(future.contains("`hologram`"), "{future}");
    let no_body = unsupported_text(&wa_content("text", json!({})));
    assert!(no_body.contains("`text`"), "{no_body}");
}

#[test]
fn whatsapp_click_to_whatsapp_referral_and_bsuid_only_senders() {
    let mut message = wa_message("wamid.AD", "text", json!({"body": "Hi from the ad"}));
    message["referral"] = json!({"source_url": "https://fb.me/ad", "source_id": "120000",
        "source_type": "ad", "headline": "50% off", "ctwa_clid": "x"});
    message.as_object_mut().unwrap().remove("from");
    message["from_user_id"] = json!("US.13491208655302741918");
    let event = only(run(&whatsapp(json!({
        "contacts": [{"profile": {"name": "Nameless"}, "user_id": "US.13491208655302741918"}],
        "messages": [message]}))));
    assert_eq!(event.contact_external_id, "US.13491208655302741918");
    assert_eq!(event.contact_name.as_deref(), Some("Nameless"));
    assert_eq!(
        received(&event).referral,
        Some(Referral {
            source: "ad".into(),
            reference: None,
            ad_id: Some("120000".into()),
            headline: Some("50% off".into()),
            url: Some("https://fb.me/ad".into())
        })
    );
}

#[test]
fn whatsapp_statuses_delivered_played_unknown_and_failed_without_errors() {
    let status = |id: &str, status: &str| json!({"id": id, "status": status, "timestamp": "1760000600", "recipient_id": "15550001234"});
    let normalized = run(&whatsapp(json!({"statuses": [
        status("wamid.A", "delivered"),
        status("wamid.A", "played"),
        status("wamid.A", "deleted"),
        status("wamid.B", "failed"),
    ]})));
    let keys: Vec<&str> = normalized
        .events
        .iter()
        .map(|e| e.dedupe_key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "status:wamid.A:delivered",
            "status:wamid.A:played",
            "status:wamid.B:failed"
        ]
    );
    assert!(matches!(
        normalized.events[1].body,
        EventBody::MessageStatus {
            status: DeliveryStatus::Read,
            ..
        }
    ));
    let EventBody::MessageStatus {
        status: DeliveryStatus::Failed { failure },
        ..
    } = &normalized.events[2].body
    else {
        panic!("failed status");
    };
    assert_eq!((failure.code, failure.retryable), (0, false));
    assert_eq!(normalized.ignored.len(), 1);
    assert!(normalized.ignored[0].what.contains("`deleted`"));
}

#[test]
fn whatsapp_out_of_band_errors_are_ignored_with_their_text() {
    let normalized = run(&whatsapp(
        json!({"errors": [{"code": 130429, "title": "Rate limit hit",
        "error_data": {"details": "Cloud API message throughput has been reached."}}]}),
    ));
    assert_eq!(normalized.events, vec![]);
    assert_eq!(normalized.ignored.len(), 1);
    let what = &normalized.ignored[0].what;
    assert!(
        what.contains("130429") && what.contains("Rate limit hit") && what.contains("throughput"),
        "{what}"
    );
    assert_eq!(normalized.ignored[0].object, "whatsapp_business_account");
    assert_eq!(
        normalized.ignored[0].entry_id.as_deref(),
        Some("100000000000999")
    );
}

#[test]
fn whatsapp_preferences_resume_and_unknown_categories() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "user_preferences", "value": {
            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
            "user_preferences": [
                {"wa_id": "15550001234", "category": "marketing_messages", "value": "resume", "timestamp": "1760000800"},
                {"wa_id": "15550001234", "category": "something_else", "value": "stop", "timestamp": 1760000801}
            ]}},
        {"field": "account_update", "value": {}},
        {"field": "messages", "value": {"metadata": {"phone_number_id": PHONE_NUMBER_ID}, "contacts": []}}
    ]}]});
    let normalized = run(&body);
    assert_eq!(normalized.events.len(), 1);
    assert_eq!(
        normalized.events[0].dedupe_key,
        "pref:200000000000111:15550001234:marketing_messages:resume:1760000800"
    );
    assert_eq!(
        normalized.events[0].body,
        EventBody::ContactOptedIn {
            source: ConsentSource::Platform
        }
    );
    assert_eq!(normalized.ignored.len(), 3);
    assert!(normalized.ignored[0].what.contains("something_else"));
    assert!(normalized.ignored[1].what.contains("`account_update`"));
    assert!(
        normalized.ignored[2]
            .what
            .contains("no messages, statuses or errors")
    );
}

#[test]
fn one_malformed_whatsapp_change_or_message_is_skipped_and_the_rest_kept() {
    let good = wa_message("wamid.OK", "text", json!({"body": "fine"}));
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messages": [good.clone()]}},
        {"field": "messages", "value": {"metadata": {"phone_number_id": PHONE_NUMBER_ID}, "messages": [
            {"from": "1", "timestamp": "1", "type": "text", "text": {"body": "no id"}},
            {"from": "1", "id": "wamid.BADTS", "timestamp": "soon", "type": "text"},
            good,
            {"id": "wamid.NOFROM", "timestamp": "1", "type": "text"}
        ], "statuses": "not a list"}},
        {"value": {}}
    ]}]});
    let normalized = run(&body);
    let keys: Vec<&str> = normalized
        .events
        .iter()
        .map(|e| e.dedupe_key.as_str())
        .collect();
    assert_eq!(keys, ["msg:wamid.OK"]);
    let what: Vec<&str> = normalized.ignored.iter().map(|i| i.what.as_str()).collect();
    assert_eq!(what.len(), 6, "{what:#?}");
    assert!(what[0].contains("changes[0]") && what[0].contains("phone_number_id"));
    assert!(what[1].contains("messages[0]") && what[1].contains("`id`"));
    assert!(what[2].contains("messages[1]") && what[2].contains("timestamp"));
    assert!(what[3].contains("messages[3]") && what[3].contains("`from`"));
    assert!(what[4].contains("value.statuses") && what[4].contains("not an array"));
    assert!(what[5].contains("changes[2]"));
}

#[test]
fn a_full_batch_of_a_thousand_updates_is_handled() {
    let messages: Vec<Value> = (0..1000)
        .map(|i| {
            wa_message(
                &format!("wamid.{i}"),
                "text",
                json!({"body": format!("#{i}")}),
            )
        })
        .collect();
    let normalized = run(&whatsapp(json!({"messages": messages})));
    assert_eq!(normalized.events.len(), 1000);
    let keys: std::collections::HashSet<&str> = normalized
        .events
        .iter()
        .map(|e| e.dedupe_key.as_str())
        .collect();
    assert_eq!(keys.len(), 1000);
}

// --- Bodies that fail as a whole ---------------------------------------------------------

#[test]
fn bodies_that_are_not_meta_envelopes_fail_clearly() {
    let not_json: &[&[u8]] = &[
        b"",
        b"   ",
        b"{",
        b"nul",
        b"\xff\xfe",
        b"{\"object\":\"page\",\"entry\":[]}x",
    ];
    for body in not_json {
        assert!(
            matches!(normalize(body), Err(NormalizeError::NotJson(_))),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let not_envelopes = [
        json!({}),
        json!([]),
        json!("page"),
        json!(42),
        json!(null),
        json!({"object": "page"}),
        json!({"entry": []}),
        json!({"object": 1, "entry": []}),
        json!({"object": "page", "entry": {}}),
        json!({"object": "page", "entry": "[]"}),
        json!({"object": "page", "entry": null}),
    ];
    for body in &not_envelopes {
        assert!(
            matches!(
                normalize(body.to_string().as_bytes()),
                Err(NormalizeError::NotAnEnvelope(_))
            ),
            "{body}"
        );
    }
    let unknown = normalize(br#"{"object":"user","entry":[]}"#);
    assert!(matches!(&unknown, Err(NormalizeError::UnknownObject(object)) if object == "user"));
    let bad_entries = [
        json!({"object": "page", "entry": [42]}),
        json!({"object": "page", "entry": [{"messaging": []}]}),
        json!({"object": "page", "entry": [{"id": "", "messaging": []}]}),
        json!({"object": "page", "entry": [{"id": {}, "messaging": []}]}),
        json!({"object": "page", "entry": [{"id": "1", "messaging": {}}]}),
        json!({"object": "instagram", "entry": [{"id": "1", "standby": "x"}]}),
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": 3}]}),
        json!({"object": "page", "entry": [{"id": "1", "messaging": []}, {"id": 1.5}]}),
    ];
    for body in &bad_entries {
        assert!(
            matches!(
                normalize(body.to_string().as_bytes()),
                Err(NormalizeError::MalformedEntry { .. })
            ),
            "{body}"
        );
    }
    let error = normalize(br#"{"object":"page","entry":[{"id":"1"},{"id":"2","messaging":7}]}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "entry 1 of the webhook is malformed: `messaging` is not an array"
    );
    // An empty batch is fine.
    assert_eq!(
        normalize(br#"{"object":"page","entry":[]}"#).unwrap(),
        Normalized::default()
    );
}
