//! Every webhook fixture in `fixtures/meta/`, normalised and checked event by event.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::path::PathBuf;
use ventana_protocol::EventBody;
use ventana_protocol::channel::ChannelKind;
use ventana_protocol::event::{
    ConsentSource, DeliveryStatus, InboundMessage, Media, MessageContent, OutboundMessage, Party,
    ReactionAction, Sender, SentAs, StatusTarget,
};
use ventana_protocol::ids::{MediaId, MessageId};
use ventana_relay::meta_error;
use ventana_relay::webhook::normalize::{
    ChannelKey, Incoming, MediaRef, MediaSource, NormalizeError, Normalized, normalize,
};

/// The fixtures that are webhook bodies (the others are send requests, responses and
/// test vectors).
const WEBHOOKS: &[&str] = &[
    "instagram_inbound_batch.json",
    "instagram_reaction_seen_deleted.json",
    "messenger_events_batch.json",
    "messenger_inbound_batch.json",
    "whatsapp_inbound_interactive_reaction_location.json",
    "whatsapp_inbound_text_and_image.json",
    "whatsapp_statuses_sent_read_failed.json",
    "whatsapp_user_preferences_stop.json",
];

const NOT_WEBHOOKS: &[&str] = &[
    "messenger_error_outside_window.json",
    "messenger_send_human_agent_request.json",
    "test_vectors.json",
    "whatsapp_send_response.json",
    "whatsapp_send_template_request.json",
    "whatsapp_send_text_request.json",
];

const PAGE: &str = "100000000000001";
const PSID: &str = "7000000000000001";
const IG_ACCOUNT: &str = "17840000000000001";
const IGSID: &str = "900000000000001";
const PHONE_NUMBER_ID: &str = "200000000000111";
const WA_ID: &str = "15550001234";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/meta")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn normalized(name: &str) -> Normalized {
    let normalized = normalize(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(normalized.ignored, vec![], "{name} has nothing to ignore");
    normalized
}

fn ms(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

fn secs(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn channel(kind: ChannelKind, id: &str) -> ChannelKey {
    ChannelKey {
        kind,
        external_id: id.to_owned(),
    }
}

fn inbound(message_id: &str, content: MessageContent) -> InboundMessage {
    InboundMessage {
        message_id: MessageId::from(message_id),
        content,
        sender_name: None,
        reply_to: None,
        referral: None,
    }
}

fn text(body: &str) -> MessageContent {
    MessageContent::Text { body: body.into() }
}

fn url_media(id: &str) -> Media {
    Media {
        media_id: MediaId::from(id),
        mime_type: None,
        caption: None,
        filename: None,
        sha256: None,
    }
}

fn status(message_id: &str, status: DeliveryStatus) -> EventBody {
    EventBody::MessageStatus {
        target: StatusTarget::Message {
            message_id: MessageId::from(message_id),
        },
        status,
    }
}

/// Messenger/IG facts on one channel with one customer.
fn messaging(
    kind: ChannelKind,
    business: &str,
    contact: &str,
) -> impl Fn(&str, i64, EventBody, Vec<MediaRef>) -> Incoming {
    let channel = channel(kind, business);
    let contact = contact.to_owned();
    move |key, at, body, media| Incoming {
        channel: channel.clone(),
        contact_external_id: contact.clone(),
        contact_name: None,
        dedupe_key: key.to_owned(),
        occurred_at: ms(at),
        body,
        media,
    }
}

fn whatsapp(
    name: Option<&str>,
    key: &str,
    at: i64,
    body: EventBody,
    media: Vec<MediaRef>,
) -> Incoming {
    Incoming {
        channel: channel(ChannelKind::WhatsApp, PHONE_NUMBER_ID),
        contact_external_id: WA_ID.to_owned(),
        contact_name: name.map(str::to_owned),
        dedupe_key: key.to_owned(),
        occurred_at: secs(at),
        body,
        media,
    }
}

#[test]
fn messenger_inbound_batch_text_with_reply_and_image() {
    let fact = messaging(ChannelKind::Messenger, PAGE, PSID);
    let photo = "url:5b2500748f8c384819cabe03f81fd98d"; // sha256 of the URL, 32 hex digits
    let expected = vec![
        fact(
            "msg:m_FAKE_inbound_text_0001",
            1760000000123,
            EventBody::MessageReceived(InboundMessage {
                reply_to: Some("m_FAKE_outbound_0000".into()),
                ..inbound(
                    "m_FAKE_inbound_text_0001",
                    text("Hi, my order #1234 hasn't arrived yet"),
                )
            }),
            vec![],
        ),
        fact(
            "msg:m_FAKE_inbound_image_0002",
            1760000000456,
            EventBody::MessageReceived(inbound(
                "m_FAKE_inbound_image_0002",
                MessageContent::Image(url_media(photo)),
            )),
            vec![MediaRef {
                media_id: photo.into(),
                source: MediaSource::Url("https://example.invalid/fake-cdn/photo.jpg".into()),
            }],
        ),
    ];
    assert_eq!(normalized("messenger_inbound_batch.json").events, expected);
}

#[test]
fn messenger_events_batch_echo_delivery_watermark_reaction_postback() {
    let fact = messaging(ChannelKind::Messenger, PAGE, PSID);
    let expected = vec![
        // The echo: the Page is the sender; metadata not ours, so no idempotency key.
        fact(
            "msg:m_FAKE_echo_0003",
            1760000100100,
            EventBody::MessageSent(OutboundMessage {
                message_id: Some("m_FAKE_echo_0003".into()),
                idempotency_key: None,
                content: text("Sorry about that! Let me check with the courier."),
                sender: Sender::ExternalApp {
                    app: Some("1111111111111111".into()),
                },
                sent_as: SentAs::Unknown,
                reply_to: None,
            }),
            vec![],
        ),
        // A delivery with mids and no timestamp: per mid, at the watermark.
        fact(
            "status:m_FAKE_echo_0003:delivered",
            1760000100200,
            status("m_FAKE_echo_0003", DeliveryStatus::Delivered),
            vec![],
        ),
        fact(
            "wm:100000000000001:7000000000000001:read:1760000100250",
            1760000100300,
            EventBody::MessageStatus {
                target: StatusTarget::UpTo {
                    watermark: ms(1760000100250),
                },
                status: DeliveryStatus::Read,
            },
            vec![],
        ),
        fact(
            "reaction:m_FAKE_echo_0003:7000000000000001:react:1760000100400",
            1760000100400,
            EventBody::Reaction {
                message_id: "m_FAKE_echo_0003".into(),
                by: Party::Customer,
                action: ReactionAction::Added,
                emoji: Some("\u{2764}\u{fe0f}".into()),
            },
            vec![],
        ),
        fact(
            "postback:m_FAKE_postback_0004",
            1760000100500,
            EventBody::MessageReceived(inbound(
                "m_FAKE_postback_0004",
                MessageContent::Postback {
                    title: "Talk to a human".into(),
                    payload: "HANDOFF_HUMAN".into(),
                },
            )),
            vec![],
        ),
    ];
    assert_eq!(normalized("messenger_events_batch.json").events, expected);
}

#[test]
fn instagram_inbound_batch_text_image_and_echo_on_messages() {
    let fact = messaging(ChannelKind::Instagram, IG_ACCOUNT, IGSID);
    let image = "url:973e61e6496e3fd2e087c9bcda0d4db5";
    let expected = vec![
        fact(
            "msg:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAx",
            1760000200100,
            EventBody::MessageReceived(inbound(
                "aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAx",
                text("Do you ship to Canada?"),
            )),
            vec![],
        ),
        fact(
            "msg:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAy",
            1760000200200,
            EventBody::MessageReceived(inbound(
                "aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAy",
                MessageContent::Image(url_media(image)),
            )),
            vec![MediaRef {
                media_id: image.into(),
                source: MediaSource::Url("https://example.invalid/fake-ig-cdn/img.jpg".into()),
            }],
        ),
        // IG echoes come on `messages`, sender and recipient swapped, no app id.
        fact(
            "msg:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz",
            1760000200300,
            EventBody::MessageSent(OutboundMessage {
                message_id: Some("aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz".into()),
                idempotency_key: None,
                content: text("Yes we do!"),
                sender: Sender::ExternalApp { app: None },
                sent_as: SentAs::Unknown,
                reply_to: None,
            }),
            vec![],
        ),
    ];
    assert_eq!(normalized("instagram_inbound_batch.json").events, expected);
}

#[test]
fn instagram_reaction_read_by_mid_and_deletion() {
    let fact = messaging(ChannelKind::Instagram, IG_ACCOUNT, IGSID);
    let expected = vec![
        fact(
            "reaction:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz:900000000000001:react:1760000300100",
            1760000300100,
            EventBody::Reaction {
                message_id: "aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz".into(),
                by: Party::Customer,
                action: ReactionAction::Added,
                emoji: Some("\u{2764}\u{fe0f}".into()),
            },
            vec![],
        ),
        fact(
            "status:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz:read",
            1760000300200,
            status(
                "aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAz",
                DeliveryStatus::Read,
            ),
            vec![],
        ),
        fact(
            "unsend:aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAx",
            1760000300300,
            EventBody::MessageUnsent {
                message_id: "aWdfZAG1faXRlbTpGQUtFX0lHX01JRF8wMDAx".into(),
            },
            vec![],
        ),
    ];
    assert_eq!(
        normalized("instagram_reaction_seen_deleted.json").events,
        expected
    );
}

#[test]
fn whatsapp_text_and_image_with_profile_name() {
    let name = Some("Test Customer");
    let named = |message: InboundMessage| {
        EventBody::MessageReceived(InboundMessage {
            sender_name: name.map(str::to_owned),
            ..message
        })
    };
    let expected = vec![
        whatsapp(
            name,
            "msg:wamid.FAKE_INBOUND_TEXT_0001",
            1760000400,
            named(inbound(
                "wamid.FAKE_INBOUND_TEXT_0001",
                text("Hello, is the store open today?"),
            )),
            vec![],
        ),
        whatsapp(
            name,
            "msg:wamid.FAKE_INBOUND_IMAGE_0002",
            1760000405,
            named(inbound(
                "wamid.FAKE_INBOUND_IMAGE_0002",
                MessageContent::Image(Media {
                    media_id: "wa:300000000000001".into(),
                    mime_type: Some("image/jpeg".into()),
                    caption: Some("This is the broken part".into()),
                    filename: None,
                    // The fixture's base64 decodes to "fake-sha256-base64-digest", not a
                    // 32-byte digest: dropped rather than passed on as a bad hex digest.
                    sha256: None,
                }),
            )),
            vec![MediaRef {
                media_id: "wa:300000000000001".into(),
                source: MediaSource::WhatsAppMediaId("300000000000001".into()),
            }],
        ),
    ];
    assert_eq!(
        normalized("whatsapp_inbound_text_and_image.json").events,
        expected
    );
}

#[test]
fn whatsapp_button_reply_reaction_and_location() {
    let name = Some("Test Customer");
    let expected = vec![
        whatsapp(
            name,
            "msg:wamid.FAKE_INBOUND_BUTTON_0003",
            1760000500,
            EventBody::MessageReceived(InboundMessage {
                sender_name: Some("Test Customer".into()),
                reply_to: Some("wamid.FAKE_OUTBOUND_0100".into()),
                ..inbound(
                    "wamid.FAKE_INBOUND_BUTTON_0003",
                    MessageContent::InteractiveReply {
                        id: "btn_talk_agent".into(),
                        title: "Talk to agent".into(),
                        description: None,
                    },
                )
            }),
            vec![],
        ),
        whatsapp(
            name,
            "reaction:wamid.FAKE_OUTBOUND_0100:15550001234:react:1760000510",
            1760000510,
            EventBody::Reaction {
                message_id: "wamid.FAKE_OUTBOUND_0100".into(),
                by: Party::Customer,
                action: ReactionAction::Added,
                emoji: Some("\u{1f44d}".into()),
            },
            vec![],
        ),
        whatsapp(
            name,
            "msg:wamid.FAKE_INBOUND_LOCATION_0005",
            1760000520,
            EventBody::MessageReceived(InboundMessage {
                sender_name: Some("Test Customer".into()),
                ..inbound(
                    "wamid.FAKE_INBOUND_LOCATION_0005",
                    MessageContent::Location {
                        latitude: 37.4847,
                        longitude: -122.1477,
                        name: Some("Fake Store".into()),
                        address: Some("1 Example Way".into()),
                    },
                )
            }),
            vec![],
        ),
    ];
    assert_eq!(
        normalized("whatsapp_inbound_interactive_reaction_location.json").events,
        expected
    );
}

#[test]
fn whatsapp_statuses_sent_read_failed_with_delivered_skipped() {
    let failure = meta_error::failure_from_meta(
        131047,
        None,
        Some(
            "Message failed to send because more than 24 hours have passed since the customer \
             last replied to this number.",
        ),
    );
    assert!(!failure.retryable);
    assert!(failure.reason.contains("template"));
    let expected = vec![
        whatsapp(
            None,
            "status:wamid.FAKE_OUTBOUND_0100:sent",
            1760000600,
            status("wamid.FAKE_OUTBOUND_0100", DeliveryStatus::Sent),
            vec![],
        ),
        whatsapp(
            None,
            "status:wamid.FAKE_OUTBOUND_0100:read",
            1760000610,
            status("wamid.FAKE_OUTBOUND_0100", DeliveryStatus::Read),
            vec![],
        ),
        whatsapp(
            None,
            "status:wamid.FAKE_OUTBOUND_0101:failed",
            1760000620,
            status(
                "wamid.FAKE_OUTBOUND_0101",
                DeliveryStatus::Failed {
                    failure: failure.clone(),
                },
            ),
            vec![],
        ),
    ];
    let events = normalized("whatsapp_statuses_sent_read_failed.json").events;
    assert_eq!(events, expected);
    // No `delivered` came: `read` still moves the message on from `sent`.
    assert!(DeliveryStatus::Read.supersedes(&DeliveryStatus::Sent));
    assert_eq!(failure.code, 131047);
}

#[test]
fn whatsapp_user_preferences_stop_is_a_platform_opt_out() {
    let expected = vec![whatsapp(
        None,
        "pref:200000000000111:15550001234:marketing_messages:stop:1760000700",
        1760000700,
        EventBody::ContactOptedOut {
            source: ConsentSource::Platform,
        },
        vec![],
    )];
    assert_eq!(
        normalized("whatsapp_user_preferences_stop.json").events,
        expected
    );
}

#[test]
fn every_webhook_fixture_is_covered_and_the_others_are_not_webhooks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = WEBHOOKS
        .iter()
        .chain(NOT_WEBHOOKS)
        .map(|s| (*s).to_owned())
        .collect();
    known.sort();
    assert_eq!(on_disk, known, "a fixture was added: give it a test");
    for name in NOT_WEBHOOKS {
        assert!(
            matches!(
                normalize(&fixture(name)),
                Err(NormalizeError::NotAnEnvelope(_))
            ),
            "{name} is not a webhook body"
        );
    }
}

#[test]
fn redelivered_bytes_give_identical_facts() {
    for name in WEBHOOKS {
        let first = normalize(&fixture(name)).unwrap();
        let again = normalize(&fixture(name)).unwrap();
        assert_eq!(first, again, "{name}");
    }
}

#[test]
fn no_two_facts_across_all_fixtures_share_a_dedupe_key() {
    let mut seen = HashSet::new();
    let mut total = 0;
    for name in WEBHOOKS {
        for event in normalize(&fixture(name)).unwrap().events {
            total += 1;
            assert!(
                seen.insert(event.dedupe_key.clone()),
                "{name}: duplicate key {}",
                event.dedupe_key
            );
        }
    }
    assert_eq!(total, 22, "every fixture event is accounted for");
}

#[test]
fn a_status_error_fixture_maps_to_an_actionable_failure() {
    let body: serde_json::Value =
        serde_json::from_slice(&fixture("messenger_error_outside_window.json")).unwrap();
    let error = &body["error"];
    let failure = meta_error::failure_from_meta(
        error["code"].as_i64().unwrap(),
        error["error_subcode"].as_i64(),
        error["message"].as_str(),
    );
    assert_eq!((failure.code, failure.subcode), (10, Some(2018278)));
    assert!(!failure.retryable);
    assert!(failure.reason.contains("HUMAN_AGENT"));
}
