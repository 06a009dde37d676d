//! Every event survives the wire: serialising to JSON and back gives the same event.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeSet;
use ventana_protocol::ChannelKind;
use ventana_protocol::event::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, escapes, emoji and the empty string.
    any::<String>()
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800i64, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).single().unwrap_or_default())
}

fn id<T: From<&'static str> + std::fmt::Debug>() -> impl Strategy<Value = T> {
    prop::sample::select(vec!["a", "m_1", "wamid.HBgL", "US.1349", "0", "ünï"]).prop_map(T::from)
}

fn media() -> impl Strategy<Value = Media> {
    (id(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
        |(media_id, mime_type, caption, filename, sha256)| Media {
            media_id,
            mime_type,
            caption,
            filename,
            sha256,
        },
    )
}

fn referral() -> impl Strategy<Value = Referral> {
    (text(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
        |(source, reference, ad_id, headline, url)| Referral {
            source,
            reference,
            ad_id,
            headline,
            url,
        },
    )
}

fn template_category() -> impl Strategy<Value = TemplateCategory> {
    prop_oneof![
        Just(TemplateCategory::Marketing),
        Just(TemplateCategory::Utility),
        Just(TemplateCategory::Authentication),
    ]
}

fn content() -> impl Strategy<Value = MessageContent> {
    prop_oneof![
        text().prop_map(|body| MessageContent::Text { body }),
        media().prop_map(MessageContent::Image),
        media().prop_map(MessageContent::Audio),
        media().prop_map(MessageContent::Video),
        media().prop_map(MessageContent::Document),
        media().prop_map(MessageContent::Sticker),
        (-90.0f64..=90.0, -180.0f64..=180.0, opt_text(), opt_text()).prop_map(
            |(latitude, longitude, name, address)| MessageContent::Location {
                latitude,
                longitude,
                name,
                address,
            }
        ),
        prop::collection::vec(
            (
                text(),
                prop::collection::vec(text(), 0..3),
                prop::collection::vec(text(), 0..3)
            )
                .prop_map(|(name, phones, emails)| SharedContact {
                    name,
                    phones,
                    emails
                }),
            0..3
        )
        .prop_map(|contacts| MessageContent::Contacts { contacts }),
        (text(), text(), opt_text()).prop_map(|(id, title, description)| {
            MessageContent::InteractiveReply {
                id,
                title,
                description,
            }
        }),
        (text(), text()).prop_map(|(payload, text)| MessageContent::Button { payload, text }),
        (text(), text()).prop_map(|(title, payload)| MessageContent::Postback { title, payload }),
        referral().prop_map(MessageContent::Referral),
        (
            text(),
            text(),
            template_category(),
            prop::collection::vec(text(), 0..4),
            opt_text(),
        )
            .prop_map(|(name, language, category, body_parameters, text)| {
                MessageContent::Template(TemplateMessage {
                    name,
                    language,
                    category,
                    body_parameters,
                    text,
                })
            }),
        opt_text().prop_map(|description| MessageContent::Unsupported { description }),
    ]
}

fn failure() -> impl Strategy<Value = SendFailure> {
    (
        any::<i64>(),
        prop::option::of(any::<i64>()),
        text(),
        any::<bool>(),
    )
        .prop_map(|(code, subcode, reason, retryable)| SendFailure {
            code,
            subcode,
            reason,
            retryable,
        })
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        id().prop_map(|agent| Sender::Agent { agent }),
        Just(Sender::Bot),
        opt_text().prop_map(|app| Sender::ExternalApp { app }),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        id().prop_map(|agent| Actor::Agent { agent }),
        Just(Actor::Bot),
        Just(Actor::System),
    ]
}

fn consent_source() -> impl Strategy<Value = ConsentSource> {
    prop_oneof![
        text().prop_map(|keyword| ConsentSource::Keyword { keyword }),
        Just(ConsentSource::Platform),
        id().prop_map(|agent| ConsentSource::Agent { agent }),
    ]
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        (
            id(),
            content(),
            opt_text(),
            prop::option::of(id()),
            prop::option::of(referral())
        )
            .prop_map(|(message_id, content, sender_name, reply_to, referral)| {
                EventBody::MessageReceived(InboundMessage {
                    message_id,
                    content,
                    sender_name,
                    reply_to,
                    referral,
                })
            }),
        (
            prop::option::of(id()),
            prop::option::of(id()),
            content(),
            sender(),
            prop_oneof![
                Just(SentAs::Standard),
                Just(SentAs::HumanAgentTag),
                Just(SentAs::Template),
                Just(SentAs::Unknown)
            ],
            prop::option::of(id()),
        )
            .prop_map(
                |(message_id, idempotency_key, content, sender, sent_as, reply_to)| {
                    EventBody::MessageSent(OutboundMessage {
                        message_id,
                        idempotency_key,
                        content,
                        sender,
                        sent_as,
                        reply_to,
                    })
                }
            ),
        (
            prop_oneof![
                id().prop_map(|message_id| StatusTarget::Message { message_id }),
                instant().prop_map(|watermark| StatusTarget::UpTo { watermark }),
                id().prop_map(|idempotency_key| StatusTarget::Reply { idempotency_key }),
            ],
            prop_oneof![
                Just(DeliveryStatus::Sent),
                Just(DeliveryStatus::Delivered),
                Just(DeliveryStatus::Read),
                failure().prop_map(|failure| DeliveryStatus::Failed { failure }),
            ]
        )
            .prop_map(|(target, status)| EventBody::MessageStatus { target, status }),
        (
            id(),
            prop_oneof![Just(Party::Customer), Just(Party::Business)],
            prop_oneof![Just(ReactionAction::Added), Just(ReactionAction::Removed)],
            opt_text()
        )
            .prop_map(|(message_id, by, action, emoji)| EventBody::Reaction {
                message_id,
                by,
                action,
                emoji
            }),
        (id(), text(), any::<u32>()).prop_map(|(message_id, text, edit_count)| {
            EventBody::MessageEdited {
                message_id,
                text,
                edit_count,
            }
        }),
        id().prop_map(|message_id| EventBody::MessageUnsent { message_id }),
        consent_source().prop_map(|source| EventBody::ContactOptedOut { source }),
        consent_source().prop_map(|source| EventBody::ContactOptedIn { source }),
        (
            actor(),
            prop::option::of(prop_oneof![
                Just(ConversationStatus::Open),
                Just(ConversationStatus::Pending),
                instant().prop_map(|until| ConversationStatus::Snoozed { until }),
                Just(ConversationStatus::Resolved),
            ]),
            prop::option::of(prop_oneof![
                id().prop_map(|agent| Assignee::Agent { agent }),
                Just(Assignee::Nobody),
            ]),
            prop::option::of(prop::collection::btree_set(text(), 0..4)),
        )
            .prop_map(
                |(by, status, assignee, labels): (_, _, _, Option<BTreeSet<String>>)| {
                    EventBody::ConversationUpdated {
                        by,
                        status,
                        assignee,
                        labels,
                    }
                }
            ),
        (id(), id(), text()).prop_map(|(note_id, author, text)| EventBody::NoteAdded {
            note_id,
            author,
            text
        }),
        prop_oneof![
            text().prop_map(|keyword| EscalationReason::Keyword { keyword }),
            any::<u32>().prop_map(|minutes| EscalationReason::CustomerWaiting { minutes }),
            instant().prop_map(|closes_at| EscalationReason::WindowClosing { closes_at }),
            failure().prop_map(|failure| EscalationReason::SendFailed { failure }),
            opt_text().prop_map(|note| EscalationReason::BotHandoff { note }),
        ]
        .prop_map(|reason| EventBody::Escalated { reason }),
        id().prop_map(|receipt| EventBody::ContactErased { receipt }),
        id().prop_map(|receipt| EventBody::Redacted { receipt }),
        (
            prop::sample::select(ChannelKind::ALL.to_vec()),
            text(),
            prop_oneof![
                Just(ChannelConnection::Connected),
                text().prop_map(|reason| ChannelConnection::NeedsReconnection { reason }),
            ],
            any::<bool>(),
            prop::option::of(0u32..3650),
            prop::collection::vec(text(), 0..3),
        )
            .prop_map(
                |(kind, display_name, connection, human_agent_approved, retention, keywords)| {
                    let mut settings = ventana_protocol::ChannelSettings {
                        retention_days: retention,
                        ..Default::default()
                    };
                    settings.escalation.keywords = keywords;
                    EventBody::ChannelUpdated(ChannelSnapshot {
                        kind,
                        display_name,
                        connection,
                        human_agent_approved,
                        settings,
                    })
                }
            ),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        id(),
        id(),
        id(),
        prop::option::of(id()),
        prop::option::of(id()),
        instant(),
        instant(),
        body(),
    )
        .prop_map(
            |(id, tenant, channel, contact, conversation, occurred_at, recorded_at, body)| Event {
                id,
                tenant,
                channel,
                contact,
                conversation,
                occurred_at,
                recorded_at,
                body,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_event_round_trips_through_json(event in event()) {
        let json = serde_json::to_string(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Event = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, event);
    }

    /// The `type` tag on the wire is the one `type_name` reports (the relay's log CLI and
    /// the stream document rely on it).
    #[test]
    fn the_type_tag_matches_type_name(event in event()) {
        let value = serde_json::to_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(value["type"].as_str(), Some(event.body.type_name()));
    }
}

#[test]
fn the_wire_shape_is_flat_and_snake_case() {
    let event = Event {
        id: "e1".into(),
        tenant: "t1".into(),
        channel: "c1".into(),
        contact: Some("k1".into()),
        conversation: Some("v1".into()),
        occurred_at: Utc
            .timestamp_opt(1_790_000_000, 0)
            .single()
            .unwrap_or_default(),
        recorded_at: Utc
            .timestamp_opt(1_790_000_001, 0)
            .single()
            .unwrap_or_default(),
        body: EventBody::MessageReceived(InboundMessage {
            message_id: "wamid.1".into(),
            content: MessageContent::Text {
                body: "hola".into(),
            },
            sender_name: Some("Ana".into()),
            reply_to: None,
            referral: None,
        }),
    };
    let value = serde_json::to_value(&event).unwrap_or_default();
    assert_eq!(
        value,
        serde_json::json!({
            "id": "e1", "tenant": "t1", "channel": "c1", "contact": "k1", "conversation": "v1",
            "occurred_at": "2026-09-21T14:13:20Z", "recorded_at": "2026-09-21T14:13:21Z",
            "type": "message_received", "message_id": "wamid.1",
            "content": {"kind": "text", "body": "hola"},
            "sender_name": "Ana", "reply_to": null, "referral": null
        })
    );
}

#[test]
fn whatsapp_is_spelled_as_one_word() {
    assert_eq!(
        serde_json::to_value(ChannelKind::WhatsApp).unwrap_or_default(),
        serde_json::json!("whatsapp")
    );
}
