//! Is generated traffic shaped like Meta's? Each event kind's JSON key paths are compared
//! with the fixtures' (`fixtures/meta/`), and kinds no fixture shows with the shapes the
//! reference (`shared/reference/meta-platform.md` §3) describes. Differences are allowed
//! only where listed below, each with its reason.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use ventana_metasim::shape::{key_paths, split_events};
use ventana_metasim::{EventKind, Generator, Platform, Universe};

type Shape = BTreeSet<String>;

const WEBHOOK_FIXTURES: &[&str] = &[
    "messenger_inbound_batch.json",
    "messenger_events_batch.json",
    "instagram_inbound_batch.json",
    "instagram_reaction_seen_deleted.json",
    "whatsapp_inbound_text_and_image.json",
    "whatsapp_inbound_interactive_reaction_location.json",
    "whatsapp_statuses_sent_read_failed.json",
    "whatsapp_user_preferences_stop.json",
];

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/meta")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&raw).unwrap()
}

fn platform_of(body: &Value) -> Platform {
    match body["object"].as_str() {
        Some("page") => Platform::Messenger,
        Some("instagram") => Platform::Instagram,
        Some("whatsapp_business_account") => Platform::WhatsApp,
        other => panic!("unknown object {other:?}"),
    }
}

/// The kind of the one event in a body from `split_events`, read from the JSON alone.
fn classify(body: &Value) -> EventKind {
    let entry = &body["entry"][0];
    if let Some(event) = entry["messaging"].get(0) {
        let message = &event["message"];
        if message.is_object() {
            if message["is_deleted"] == true {
                return EventKind::Unsend;
            }
            if message["is_echo"] == true {
                return EventKind::Echo;
            }
            if message.get("quick_reply").is_some() {
                return EventKind::QuickReply;
            }
            if let Some(attachments) = message["attachments"].as_array() {
                let types: Vec<&str> = attachments
                    .iter()
                    .filter_map(|a| a["type"].as_str())
                    .collect();
                return match types.first().copied() {
                    _ if types.contains(&"sticker") => EventKind::Sticker,
                    Some("image") => EventKind::Image,
                    Some("audio") => EventKind::Audio,
                    Some("video") => EventKind::Video,
                    Some("file") => EventKind::File,
                    other => panic!("attachment type {other:?}"),
                };
            }
            return EventKind::Text;
        }
        for (key, kind) in [
            ("delivery", EventKind::Delivery),
            ("read", EventKind::Read),
            ("postback", EventKind::Postback),
            ("referral", EventKind::Referral),
            ("message_edit", EventKind::Edit),
        ] {
            if event.get(key).is_some() {
                return kind;
            }
        }
        if let Some(reaction) = event.get("reaction") {
            return if reaction["action"] == "react" {
                EventKind::Reaction
            } else {
                EventKind::Unreaction
            };
        }
        panic!("unclassified messaging event {event}");
    }
    let value = &entry["changes"][0]["value"];
    if let Some(message) = value["messages"].get(0) {
        return match message["type"].as_str() {
            Some("text") if message.get("referral").is_some() => EventKind::Referral,
            Some("text") => EventKind::Text,
            Some("image") => EventKind::Image,
            Some("audio") => EventKind::Audio,
            Some("video") => EventKind::Video,
            Some("document") => EventKind::File,
            Some("sticker") => EventKind::Sticker,
            Some("location") => EventKind::Location,
            Some("interactive") => EventKind::Interactive,
            Some("button") => EventKind::TemplateButton,
            Some("reaction") if message["reaction"].get("emoji").is_some() => EventKind::Reaction,
            Some("reaction") => EventKind::Unreaction,
            other => panic!("message type {other:?}"),
        };
    }
    if let Some(status) = value["statuses"].get(0) {
        return match status["status"].as_str() {
            Some("sent") => EventKind::StatusSent,
            Some("delivered") => EventKind::StatusDelivered,
            Some("read") => EventKind::StatusRead,
            Some("failed") => EventKind::StatusFailed,
            other => panic!("status {other:?}"),
        };
    }
    if let Some(preference) = value["user_preferences"].get(0) {
        return if preference["value"] == "stop" {
            EventKind::OptOut
        } else {
            EventKind::OptIn
        };
    }
    panic!("unclassified body {body}");
}

/// Every fixture event: (platform, kind) → shapes.
fn fixture_shapes() -> BTreeMap<(Platform, EventKind), Vec<Shape>> {
    let mut shapes: BTreeMap<_, Vec<Shape>> = BTreeMap::new();
    for name in WEBHOOK_FIXTURES {
        let body = fixture(name);
        let platform = platform_of(&body);
        let events = split_events(&body);
        assert!(!events.is_empty(), "{name} has no events");
        for event in events {
            shapes
                .entry((platform, classify(&event)))
                .or_default()
                .push(key_paths(&event));
        }
    }
    shapes
}

/// Many generated events of every kind, forced and random: (platform, kind) → shapes.
fn generated_shapes() -> BTreeMap<(Platform, EventKind), Vec<Shape>> {
    let mut generator = Generator::new(Universe::demo(3), 11);
    let mut bodies = Vec::new();
    for platform in Platform::ALL {
        let conversations: Vec<_> = generator.universe().conversations(platform).collect();
        for kind in EventKind::ALL
            .into_iter()
            .filter(|k| k.supported_on(platform))
        {
            for round in 0..60 {
                let conversation = &conversations[round % conversations.len()];
                bodies.push(generator.single(conversation, kind).unwrap());
            }
        }
        for _ in 0..100 {
            bodies.push(generator.next_webhook(platform, 20).unwrap());
        }
    }
    let mut shapes: BTreeMap<_, Vec<Shape>> = BTreeMap::new();
    for webhook in bodies {
        let body: Value = serde_json::from_slice(&webhook.body).unwrap();
        let events = split_events(&body);
        assert_eq!(events.len(), webhook.event_count, "{}", webhook.body_text());
        for (event, info) in events.iter().zip(&webhook.events) {
            // Instagram stickers are `image` attachments on the wire (§3b): only the
            // generator knows they were stickers.
            let seen_as = match (webhook.platform, info.kind) {
                (Platform::Instagram, EventKind::Sticker) => EventKind::Image,
                (_, kind) => kind,
            };
            assert_eq!(
                classify(event),
                seen_as,
                "the Webhook describes {event} wrongly"
            );
            shapes
                .entry((webhook.platform, info.kind))
                .or_default()
                .push(key_paths(event));
        }
    }
    shapes
}

fn paths(prefix: &str, suffixes: &[&str]) -> Vec<String> {
    suffixes
        .iter()
        .map(|s| {
            if s.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{s}")
            }
        })
        .collect()
}

const M: &str = "entry[].messaging[]";
const W: &str = "entry[].changes[].value";

/// Paths a generated event may have beyond its kind's fixture events, and why.
fn allowed_extras(platform: Platform, kind: EventKind) -> Vec<String> {
    use EventKind::*;
    use Platform::*;
    match (platform, kind) {
        // Instagram texts can quote a message: `reply_to.mid` (§3b).
        (Instagram, Text) => paths(M, &["message.reply_to", "message.reply_to.mid"]),
        // "Get Started" postbacks from an m.me link carry the link's referral (§3a).
        (Messenger, Postback) => paths(
            M,
            &[
                "postback.referral",
                "postback.referral.ref",
                "postback.referral.source",
                "postback.referral.type",
            ],
        ),
        // WhatsApp quoted replies carry `context` (§3c); the BSUID `user_id` (in the text
        // fixture) shows on any message from a user in the rollout.
        (WhatsApp, Text) => paths(
            W,
            &[
                "messages[].context",
                "messages[].context.from",
                "messages[].context.id",
            ],
        ),
        (WhatsApp, Image | Location | Reaction) => paths(W, &["contacts[].user_id"]),
        // List replies are the other interactive reply (§3c).
        (WhatsApp, Interactive) => paths(
            W,
            &[
                "contacts[].user_id",
                "messages[].interactive.list_reply",
                "messages[].interactive.list_reply.id",
                "messages[].interactive.list_reply.title",
                "messages[].interactive.list_reply.description",
            ],
        ),
        // `biz_opaque_callback_data` is echoed on every status of a message sent with it
        // (§3c).
        (WhatsApp, StatusSent | StatusFailed) => paths(W, &["statuses[].biz_opaque_callback_data"]),
        // `read` carries the pricing when `delivered` was skipped (§3c: on one of them).
        (WhatsApp, StatusRead) => paths(
            W,
            &[
                "statuses[].biz_opaque_callback_data",
                "statuses[].pricing",
                "statuses[].pricing.billable",
                "statuses[].pricing.pricing_model",
                "statuses[].pricing.type",
                "statuses[].pricing.category",
            ],
        ),
        _ => Vec::new(),
    }
}

/// Paths of a kind's fixture event that a generated event may lack, and why.
fn optional(platform: Platform, kind: EventKind) -> Vec<String> {
    use EventKind::*;
    use Platform::*;
    match (platform, kind) {
        (Messenger, Text) => paths(
            M,
            &[
                "message.reply_to",
                "message.reply_to.mid",
                "message.reply_to.is_self_reply",
            ],
        ),
        // Only messages sent through the Send API with `metadata` carry it (§3a).
        (Messenger, Echo) => paths(M, &["message.metadata"]),
        // `mids` only sometimes (§3a).
        (Messenger, Delivery) => paths(M, &["delivery.mids", "delivery.mids[]"]),
        (WhatsApp, Text) => paths(W, &["contacts[].user_id"]),
        // Captions are optional (§3c).
        (WhatsApp, Image) => paths(W, &["contacts[].user_id", "messages[].image.caption"]),
        (WhatsApp, Location) => paths(
            W,
            &["messages[].location.name", "messages[].location.address"],
        ),
        // A list reply has `list_reply` instead (§3c).
        (WhatsApp, Interactive) => paths(
            W,
            &[
                "messages[].interactive.button_reply",
                "messages[].interactive.button_reply.id",
                "messages[].interactive.button_reply.title",
            ],
        ),
        _ => Vec::new(),
    }
}

fn envelope_messaging() -> Vec<String> {
    let mut all: Vec<String> = [
        "object",
        "entry",
        "entry[]",
        "entry[].id",
        "entry[].time",
        "entry[].messaging",
        M,
    ]
    .map(str::to_owned)
    .to_vec();
    all.extend(paths(
        M,
        &[
            "sender",
            "sender.id",
            "recipient",
            "recipient.id",
            "timestamp",
        ],
    ));
    all
}

fn envelope_whatsapp(field_value: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = [
        "object",
        "entry",
        "entry[]",
        "entry[].id",
        "entry[].changes",
        "entry[].changes[]",
        "entry[].changes[].field",
        W,
    ]
    .map(str::to_owned)
    .to_vec();
    all.extend(paths(
        W,
        &[
            "messaging_product",
            "metadata",
            "metadata.display_phone_number",
            "metadata.phone_number_id",
        ],
    ));
    all.extend(paths(W, field_value));
    all
}

fn wa_message(extra: &[&str]) -> Vec<String> {
    let mut fields = vec![
        "contacts",
        "contacts[]",
        "contacts[].profile",
        "contacts[].profile.name",
        "contacts[].wa_id",
        "contacts[].user_id",
        "messages",
        "messages[]",
        "messages[].from",
        "messages[].id",
        "messages[].timestamp",
        "messages[].type",
    ];
    fields.extend_from_slice(extra);
    envelope_whatsapp(&fields)
}

/// The union of shapes, for kinds no fixture shows, as the reference describes them.
fn reference_shape(platform: Platform, kind: EventKind) -> Option<Shape> {
    use EventKind::*;
    use Platform::*;
    let messaging = |extra: &[&str]| -> Shape {
        let mut all = envelope_messaging();
        all.extend(paths(M, extra));
        all.into_iter().collect()
    };
    let attachment: &[&str] = &[
        "message",
        "message.mid",
        "message.attachments",
        "message.attachments[]",
        "message.attachments[].type",
        "message.attachments[].payload",
        "message.attachments[].payload.url",
    ];
    let media = |name: &str, fields: &[&str]| -> Shape {
        let mut extra = vec![format!("messages[].{name}")];
        extra.extend(fields.iter().map(|f| format!("messages[].{name}.{f}")));
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        wa_message(&extra).into_iter().collect()
    };
    Some(match (platform, kind) {
        // §3a/§3b: attachments are `{type, payload: {url}}`; Messenger stickers add
        // `sticker_id`; Instagram reports stickers as images.
        (Messenger | Instagram, Audio | Video | File) | (Instagram, Sticker) => {
            messaging(attachment)
        }
        (Messenger, Sticker) => {
            let mut all = messaging(attachment);
            all.extend(paths(M, &["message.attachments[].payload.sticker_id"]));
            all
        }
        (Messenger | Instagram, QuickReply) => messaging(&[
            "message",
            "message.mid",
            "message.text",
            "message.quick_reply",
            "message.quick_reply.payload",
        ]),
        (Messenger | Instagram, Referral) => messaging(&[
            "referral",
            "referral.ref",
            "referral.ad_id",
            "referral.source",
            "referral.type",
        ]),
        // §3b: `reaction` and `emoji` are omitted on unreact.
        (Messenger | Instagram, Unreaction) => {
            messaging(&["reaction", "reaction.mid", "reaction.action"])
        }
        // §3a: `message_edit {mid, text, num_edit}`.
        (Messenger, Edit) => messaging(&[
            "message_edit",
            "message_edit.mid",
            "message_edit.text",
            "message_edit.num_edit",
        ]),
        // §3b: `postback {mid, title, payload}`.
        (Instagram, Postback) => messaging(&[
            "postback",
            "postback.mid",
            "postback.title",
            "postback.payload",
        ]),
        // §3c's media table.
        (WhatsApp, Audio) => media("audio", &["mime_type", "sha256", "id"]),
        (WhatsApp, Video) => media("video", &["caption", "mime_type", "sha256", "id"]),
        (WhatsApp, File) => media(
            "document",
            &["caption", "filename", "mime_type", "sha256", "id"],
        ),
        (WhatsApp, Sticker) => media("sticker", &["mime_type", "sha256", "id"]),
        // §3c: `button {payload, text}`, with `context` as on button clicks.
        (WhatsApp, TemplateButton) => wa_message(&[
            "messages[].context",
            "messages[].context.from",
            "messages[].context.id",
            "messages[].button",
            "messages[].button.payload",
            "messages[].button.text",
        ])
        .into_iter()
        .collect(),
        // §3c: Click-to-WhatsApp `referral` on a text message.
        (WhatsApp, Referral) => {
            let referral = [
                "source_url",
                "source_id",
                "source_type",
                "headline",
                "body",
                "media_type",
                "image_url",
                "ctwa_clid",
            ]
            .map(|f| format!("messages[].referral.{f}"));
            let mut extra = vec![
                "messages[].text",
                "messages[].text.body",
                "messages[].referral",
            ];
            extra.extend(referral.iter().map(String::as_str));
            wa_message(&extra).into_iter().collect()
        }
        // §3c: a removed reaction has no `emoji`.
        (WhatsApp, Unreaction) => {
            wa_message(&["messages[].reaction", "messages[].reaction.message_id"])
                .into_iter()
                .collect()
        }
        // §3c statuses; pricing on the first of delivered/read.
        (WhatsApp, StatusDelivered) => envelope_whatsapp(&[
            "statuses",
            "statuses[]",
            "statuses[].id",
            "statuses[].status",
            "statuses[].timestamp",
            "statuses[].recipient_id",
            "statuses[].biz_opaque_callback_data",
            "statuses[].pricing",
            "statuses[].pricing.billable",
            "statuses[].pricing.pricing_model",
            "statuses[].pricing.type",
            "statuses[].pricing.category",
        ])
        .into_iter()
        .collect(),
        // §8: `resume` has the shape of the `stop` fixture.
        (WhatsApp, OptIn) => envelope_whatsapp(&[
            "contacts",
            "contacts[]",
            "contacts[].wa_id",
            "user_preferences",
            "user_preferences[]",
            "user_preferences[].wa_id",
            "user_preferences[].detail",
            "user_preferences[].category",
            "user_preferences[].value",
            "user_preferences[].timestamp",
        ])
        .into_iter()
        .collect(),
        _ => return None,
    })
}

fn diff(a: &Shape, b: &Shape) -> String {
    let only_a: Vec<_> = a.difference(b).collect();
    let only_b: Vec<_> = b.difference(a).collect();
    format!("only in the first: {only_a:?}\nonly in the second: {only_b:?}")
}

#[test]
fn every_fixture_event_has_a_generated_twin_of_the_same_shape() {
    let generated = generated_shapes();
    for ((platform, kind), fixture_shapes) in fixture_shapes() {
        let ours = generated
            .get(&(platform, kind))
            .unwrap_or_else(|| panic!("{platform} {kind:?}: never generated"));
        for shape in &fixture_shapes {
            let closest = ours
                .iter()
                .min_by_key(|s| s.symmetric_difference(shape).count())
                .unwrap();
            assert_eq!(
                closest,
                shape,
                "{platform} {kind:?}: no generated event has the fixture's shape\n{}",
                diff(closest, shape)
            );
        }
    }
}

#[test]
fn generated_events_add_to_fixture_shapes_only_what_the_reference_allows() {
    let generated = generated_shapes();
    for ((platform, kind), fixture_shapes) in fixture_shapes() {
        let fixture_union: Shape = fixture_shapes.iter().flatten().cloned().collect();
        let mut allowed = fixture_union.clone();
        allowed.extend(allowed_extras(platform, kind));
        let optional: Shape = optional(platform, kind).into_iter().collect();
        let required: Shape = fixture_union.difference(&optional).cloned().collect();
        for shape in &generated[&(platform, kind)] {
            let unexpected: Vec<_> = shape.difference(&allowed).collect();
            assert!(
                unexpected.is_empty(),
                "{platform} {kind:?}: unexpected {unexpected:?}"
            );
            let missing: Vec<_> = required.difference(shape).collect();
            assert!(
                missing.is_empty(),
                "{platform} {kind:?}: missing {missing:?}"
            );
        }
    }
}

#[test]
fn kinds_without_a_fixture_have_the_shape_the_reference_describes() {
    let generated = generated_shapes();
    let fixtures = fixture_shapes();
    let mut checked = 0;
    for platform in Platform::ALL {
        for kind in EventKind::ALL
            .into_iter()
            .filter(|k| k.supported_on(platform))
        {
            if fixtures.contains_key(&(platform, kind)) {
                continue;
            }
            let expected = reference_shape(platform, kind).unwrap_or_else(|| {
                panic!("{platform} {kind:?}: no fixture and no reference shape")
            });
            let union: Shape = generated[&(platform, kind)]
                .iter()
                .flatten()
                .cloned()
                .collect();
            assert_eq!(
                union,
                expected,
                "{platform} {kind:?}\n{}",
                diff(&union, &expected)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 25, "every (platform, kind) pair without a fixture");
}

#[test]
fn the_comparison_can_fail() {
    // A shape check that passes everything proves nothing: a fixture event with one key
    // renamed must not match anything generated.
    let generated = generated_shapes();
    let mut body = fixture("messenger_inbound_batch.json");
    let message = body["entry"][0]["messaging"][0]["message"]
        .as_object_mut()
        .unwrap();
    let text = message.remove("text").unwrap();
    message.insert("txt".into(), text);
    let shape = key_paths(&split_events(&body)[0]);
    assert!(
        !generated[&(Platform::Messenger, EventKind::Text)].contains(&shape),
        "a misspelt key matched"
    );
}
