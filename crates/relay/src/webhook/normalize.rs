//! Meta webhook bodies → channel-scoped facts ([`Incoming`]), before the store routes them
//! to a tenant and gives them conversation and contact ids.
//!
//! Pure: no IO, no clock. [`normalize`] takes the raw (already verified) body and returns
//! every fact in it, in payload order, plus what it recognised but does not handle.
//!
//! # What fails the body, and what is skipped
//!
//! - The body as a whole fails ([`NormalizeError`]) when it is not JSON, not an
//!   `{object, entry: [...]}` envelope, names an unknown `object`, or has an entry that is
//!   not an object, has no usable `id`, or whose `messaging` / `standby` / `changes` is not
//!   an array. Such a body is not something Meta sends; the relay quarantines it raw and
//!   answers 200, so nothing is lost and Meta does not retry it for days.
//! - One malformed event inside a good entry (a `messaging[]` item without `sender.id`, a
//!   WhatsApp message without `id`, a timestamp out of range, a WhatsApp change without
//!   `metadata.phone_number_id`…) is skipped into [`Normalized::ignored`] with the reason,
//!   and every other event of the body is kept. An event yields all its facts or none.
//! - Recognised but unhandled events (optins, handovers, `standby`, IG comments, WhatsApp
//!   `value.errors[]`, template or account updates, unknown status values…) go to
//!   `ignored` too, so the relay can log them.
//!
//! # Choices where Meta's shapes leave room
//!
//! - **Messages are never dropped.** A content kind Ventana cannot show becomes
//!   `MessageContent::Unsupported` with a description (IG `is_unsupported`, shares, story
//!   mentions, reels, WhatsApp `order`/`system`/`unsupported`/unknown types, a message
//!   with no recognisable content at all).
//! - **One fact per part.** A Messenger/IG message with several parts (text and/or several
//!   attachments) becomes one event per part. Every part keeps the platform's `mid` as its
//!   `message_id` (so a status, reaction, edit or unsend of that `mid` applies to all of
//!   them); the dedupe keys are `msg:<mid>#1`, `msg:<mid>#2`… in payload order. A
//!   single-part message, the usual case, has the key `msg:<mid>`.
//! - **Stickers during Messenger's transition**: when a message carries a `sticker`
//!   attachment, its `image` attachments are the legacy copy of the same sticker and are
//!   dropped; an `image` with a `sticker_id` (the legacy form) is a sticker too.
//! - **Quick replies**: a tap on a quick reply is an `InteractiveReply` whose `id` is the
//!   payload and whose `title` is the text the customer saw and tapped (the payload again
//!   when Meta sends no text), like a WhatsApp button reply: neither is lost.
//! - **Which side is the business** on Messenger/IG: for a `message`, `is_echo` decides
//!   (echo: the sender is the business). For every other event, the side whose id equals
//!   `entry.id` is the business, else the recipient; so a reaction the business itself
//!   made is `Party::Business` on the customer's conversation.
//! - **Timestamps**: the event's `timestamp` (ms on Messenger/IG, seconds on WhatsApp;
//!   integers or digit strings are both accepted). A Messenger `delivery` has none: its
//!   `watermark` is used (stable across redeliveries, unlike `entry.time`). Other events
//!   without one fall back to `entry.time`, then are skipped.
//! - **Reaction keys** use `react`/`unreact` on every platform; on WhatsApp a missing or
//!   empty `emoji` is `unreact`.
//! - **WhatsApp media hashes**: Meta sends `sha256` base64-encoded; the protocol wants
//!   hex. A base64 (or hex) SHA-256 of exactly 32 bytes is passed on as lowercase hex;
//!   anything else is dropped rather than passed on as a digest the desktop can't check.
//! - **WhatsApp media sources**: the media id when present (the relay fetches it with the
//!   channel's token), else the `url` Meta has started to include.
//! - **WhatsApp `played`** is reported as `Read`; its dedupe key keeps `played`, so it
//!   is distinct from a `read` of the same message.
//! - **A `failed` status without `errors`** gets code 0 (Meta gave none) and the generic
//!   reason.
//! - Ids may arrive as strings or integers (Messenger's `app_id` is a number); both are
//!   accepted, an empty id is not.

use crate::meta_error;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use ventana_protocol::EventBody;
use ventana_protocol::channel::ChannelKind;
use ventana_protocol::event::{
    ConsentSource, DeliveryStatus, InboundMessage, Media, MessageContent, OutboundMessage, Party,
    ReactionAction, Referral, Sender, SentAs, SharedContact, StatusTarget,
};
use ventana_protocol::ids::{IdempotencyKey, MediaId, MessageId};

/// What one webhook body contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    /// Every fact, in payload order.
    pub events: Vec<Incoming>,
    /// What was recognised but not handled, or skipped as malformed (for the relay's log).
    pub ignored: Vec<Ignored>,
}

/// One fact from a webhook, before the store routes it to a tenant and assigns
/// conversation/contact ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// Which of our channels it arrived on.
    pub channel: ChannelKey,
    /// PSID / IGSID / WhatsApp `wa_id` (or BSUID when that is all there is).
    pub contact_external_id: String,
    /// WhatsApp `contacts[].profile.name` when present.
    pub contact_name: Option<String>,
    /// Stable across redeliveries, distinct between facts; the store keeps it unique.
    pub dedupe_key: String,
    /// Meta's timestamp for the fact.
    pub occurred_at: DateTime<Utc>,
    pub body: EventBody,
    /// One per [`Media`] inside `body`, so the relay can fetch it later.
    pub media: Vec<MediaRef>,
}

/// One of our channels, as Meta names it: the Page id (Messenger), the IG professional
/// account id (Instagram) or the `phone_number_id` (WhatsApp).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelKey {
    pub kind: ChannelKind,
    pub external_id: String,
}

/// Where the relay can fetch the bytes of a [`Media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub media_id: MediaId,
    pub source: MediaSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// Resolved through `GET /<media id>` with the channel's token.
    WhatsAppMediaId(String),
    /// A (short-lived) CDN URL from the payload.
    Url(String),
}

/// Something recognised but not handled, or skipped because it was malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The envelope's `object` (`page`, `instagram`, `whatsapp_business_account`).
    pub object: String,
    pub entry_id: Option<String>,
    /// What it was, and why it was not turned into an event.
    pub what: String,
}

/// Why a whole webhook body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("the webhook body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the webhook body is not a Meta envelope: {0}")]
    NotAnEnvelope(&'static str),
    #[error("unknown webhook object {0:?} (expected page, instagram or whatsapp_business_account)")]
    UnknownObject(String),
    #[error("entry {index} of the webhook is malformed: {reason}")]
    MalformedEntry { index: usize, reason: String },
}

/// Turns a webhook body into facts. Never panics; see the module docs for what fails the
/// body and what is skipped.
pub fn normalize(body: &[u8]) -> Result<Normalized, NormalizeError> {
    let root: Value = serde_json::from_slice(body).map_err(NormalizeError::NotJson)?;
    let root = root.as_object().ok_or(NormalizeError::NotAnEnvelope(
        "the body is not a JSON object",
    ))?;
    let object =
        root.get("object")
            .and_then(Value::as_str)
            .ok_or(NormalizeError::NotAnEnvelope(
                "`object` is missing or not a string",
            ))?;
    let entries =
        root.get("entry")
            .and_then(Value::as_array)
            .ok_or(NormalizeError::NotAnEnvelope(
                "`entry` is missing or not an array",
            ))?;
    let platform = match object {
        "page" => Platform::Messaging(ChannelKind::Messenger),
        "instagram" => Platform::Messaging(ChannelKind::Instagram),
        "whatsapp_business_account" => Platform::WhatsApp,
        other => return Err(NormalizeError::UnknownObject(clip(other))),
    };

    let mut out = Normalized::default();
    for (index, entry) in entries.iter().enumerate() {
        let entry = Entry::parse(object, index, entry)?;
        match platform {
            Platform::Messaging(kind) => messaging::entry(kind, &entry, &mut out),
            Platform::WhatsApp => whatsapp::entry(&entry, &mut out),
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Platform {
    /// Messenger and Instagram share `entry[].messaging[]`.
    Messaging(ChannelKind),
    WhatsApp,
}

/// An entry whose envelope-level fields have been checked.
struct Entry<'a> {
    object: &'a str,
    id: String,
    /// `entry.time` (ms), used only when an event has no timestamp of its own.
    time_ms: Option<i64>,
    messaging: Option<&'a Vec<Value>>,
    standby: Option<&'a Vec<Value>>,
    changes: Option<&'a Vec<Value>>,
}

impl<'a> Entry<'a> {
    fn parse(object: &'a str, index: usize, value: &'a Value) -> Result<Self, NormalizeError> {
        let malformed = |reason: &str| NormalizeError::MalformedEntry {
            index,
            reason: reason.to_owned(),
        };
        let map = value
            .as_object()
            .ok_or_else(|| malformed("it is not an object"))?;
        let id = map
            .get("id")
            .and_then(id_value)
            .ok_or_else(|| malformed("`id` is missing, empty or not a string"))?;
        let list = |key: &str| -> Result<Option<&'a Vec<Value>>, NormalizeError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items)),
                Some(_) => Err(malformed(&format!("`{key}` is not an array"))),
            }
        };
        Ok(Self {
            object,
            id,
            time_ms: map.get("time").and_then(int_value),
            messaging: list("messaging")?,
            standby: list("standby")?,
            changes: list("changes")?,
        })
    }

    fn ignore(&self, out: &mut Normalized, what: String) {
        out.ignored.push(Ignored {
            object: self.object.to_owned(),
            entry_id: Some(self.id.clone()),
            what,
        });
    }
}

/// Why one event was skipped.
struct Malformed(String);

type Parsed<T> = Result<T, Malformed>;

fn malformed<T>(reason: impl Into<String>) -> Parsed<T> {
    Err(Malformed(reason.into()))
}

// ---------------------------------------------------------------------------------------
// Messenger and Instagram: entry[].messaging[]
// ---------------------------------------------------------------------------------------

mod messaging {
    use super::*;

    /// Events Meta sends on these objects that an inbox does not act on.
    const UNHANDLED: &[&str] = &[
        "optin",
        "account_linking",
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
        "app_roles",
        "policy_enforcement",
        "game_play",
        "response_feedback",
        "messaging_feedback",
        "checkout_update",
        "payment",
        "pre_checkout",
        "send_cart",
        "messenger_template_status_update",
        "marketing_message_delivery_failed",
    ];

    pub(super) fn entry(kind: ChannelKind, entry: &Entry<'_>, out: &mut Normalized) {
        let found_any = entry.messaging.is_some() || entry.standby.is_some();
        for (index, event) in entry.messaging.into_iter().flatten().enumerate() {
            match one_event(kind, entry, event) {
                Ok(Outcome::Facts(facts)) => out.events.extend(facts),
                Ok(Outcome::Unhandled(what)) => {
                    entry.ignore(out, format!("{kind} messaging[{index}]: {what}"));
                }
                Err(Malformed(reason)) => entry.ignore(
                    out,
                    format!("{kind} messaging[{index}] skipped as malformed: {reason}"),
                ),
            }
        }
        for (index, event) in entry.standby.into_iter().flatten().enumerate() {
            entry.ignore(
                out,
                format!(
                    "{kind} standby[{index}] ({}): another app has thread control",
                    event_name(event)
                ),
            );
        }
        for (index, change) in entry.changes.into_iter().flatten().enumerate() {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("?");
            entry.ignore(
                out,
                format!(
                    "{kind} changes[{index}]: field `{}` is not handled",
                    clip(field)
                ),
            );
        }
        if !found_any && entry.changes.is_none() {
            entry.ignore(
                out,
                format!("{kind} entry with no messaging, standby or changes"),
            );
        }
    }

    enum Outcome {
        Facts(Vec<Incoming>),
        Unhandled(String),
    }

    fn one_event(kind: ChannelKind, entry: &Entry<'_>, event: &Value) -> Parsed<Outcome> {
        let Some(map) = event.as_object() else {
            return malformed("not an object");
        };
        let ctx = Ctx { kind, entry, event };
        let facts = if let Some(message) = map.get("message") {
            ctx.message(message)?
        } else if let Some(postback) = map.get("postback") {
            vec![ctx.postback(postback)?]
        } else if let Some(referral) = map.get("referral") {
            vec![ctx.referral(referral)?]
        } else if let Some(delivery) = map.get("delivery") {
            ctx.delivery(delivery)?
        } else if let Some(read) = map.get("read") {
            vec![ctx.read(read)?]
        } else if let Some(reaction) = map.get("reaction") {
            vec![ctx.reaction(reaction)?]
        } else if let Some(edit) = map.get("message_edit") {
            vec![ctx.edit(edit)?]
        } else {
            return Ok(Outcome::Unhandled(
                match UNHANDLED.iter().find(|name| map.contains_key(**name)) {
                    Some(name) => format!("`{name}` events are not handled"),
                    None => format!("unrecognised event ({})", event_name(event)),
                },
            ));
        };
        Ok(Outcome::Facts(facts))
    }

    /// The event's payload keys, for log lines about events we don't handle.
    fn event_name(event: &Value) -> String {
        match event.as_object() {
            Some(map) => {
                let keys: Vec<&str> = map
                    .keys()
                    .map(String::as_str)
                    .filter(|key| !matches!(*key, "sender" | "recipient" | "timestamp"))
                    .take(8)
                    .collect();
                clip(&format!("keys: {}", keys.join(", ")))
            }
            None => "not an object".to_owned(),
        }
    }

    /// Who is who in one `messaging[]` event.
    struct Sides {
        /// Our channel: the Page or IG professional account.
        business: String,
        /// The customer: PSID or IGSID.
        contact: String,
        /// Whether the business is the `sender`.
        business_sent: bool,
    }

    impl Sides {
        /// Who is who, given the event's `sender.id` and `recipient.id`.
        fn new(sender: String, recipient: String, business_sent: bool) -> Self {
            if business_sent {
                Sides {
                    business: sender,
                    contact: recipient,
                    business_sent,
                }
            } else {
                Sides {
                    business: recipient,
                    contact: sender,
                    business_sent,
                }
            }
        }
    }

    impl Sides {
        /// The `sender.id` of the event.
        fn sender(&self) -> &str {
            if self.business_sent {
                &self.business
            } else {
                &self.contact
            }
        }
    }

    struct Ctx<'a> {
        kind: ChannelKind,
        entry: &'a Entry<'a>,
        event: &'a Value,
    }

    impl Ctx<'_> {
        fn sender(&self) -> Parsed<String> {
            required_id(self.event, &["sender", "id"])
        }

        fn recipient(&self) -> Parsed<String> {
            required_id(self.event, &["recipient", "id"])
        }

        /// For non-message events: the side whose id is the entry's is the business;
        /// otherwise the recipient is (Meta's documented shape for user actions).
        fn sides(&self) -> Parsed<Sides> {
            let sender = self.sender()?;
            let recipient = self.recipient()?;
            let business_sent = sender == self.entry.id && recipient != self.entry.id;
            Ok(Sides::new(sender, recipient, business_sent))
        }

        /// The event's own timestamp (ms), else `entry.time`.
        fn occurred_at(&self) -> Parsed<DateTime<Utc>> {
            let ms = match self.event.get("timestamp") {
                Some(value) => int_value(value)
                    .ok_or_else(|| Malformed("`timestamp` is not an integer".into()))?,
                None => self
                    .entry
                    .time_ms
                    .ok_or_else(|| Malformed("no `timestamp` and no `entry.time`".into()))?,
            };
            from_millis(ms)
        }

        fn fact(
            &self,
            sides: &Sides,
            dedupe_key: String,
            occurred_at: DateTime<Utc>,
            body: EventBody,
        ) -> Incoming {
            self.fact_with_media(sides, dedupe_key, occurred_at, body, None)
        }

        fn fact_with_media(
            &self,
            sides: &Sides,
            dedupe_key: String,
            occurred_at: DateTime<Utc>,
            body: EventBody,
            media: Option<MediaRef>,
        ) -> Incoming {
            Incoming {
                channel: ChannelKey {
                    kind: self.kind,
                    external_id: sides.business.clone(),
                },
                contact_external_id: sides.contact.clone(),
                contact_name: None,
                dedupe_key,
                occurred_at,
                body,
                media: media.into_iter().collect(),
            }
        }

        /// A message from the customer, an echo of one from the business, or an IG unsend.
        fn message(&self, message: &Value) -> Parsed<Vec<Incoming>> {
            if !message.is_object() {
                return malformed("`message` is not an object");
            }
            let mid = required_id(message, &["mid"])?;
            let is_echo = flag(message, "is_echo");
            let sender = self.sender()?;
            let recipient = self.recipient()?;
            let sides = Sides::new(sender, recipient, is_echo);
            let occurred_at = self.occurred_at()?;

            if flag(message, "is_deleted") {
                let body = EventBody::MessageUnsent {
                    message_id: MessageId::new(mid.as_str()),
                };
                return Ok(vec![self.fact(
                    &sides,
                    format!("unsend:{mid}"),
                    occurred_at,
                    body,
                )]);
            }

            let parts = self.message_parts(message);
            let reply_to = str_at(message, &["reply_to", "mid"])
                .filter(|mid| !mid.is_empty())
                .map(MessageId::from);
            let referral = message.get("referral").map(messaging_referral);
            let single = parts.len() == 1;
            let mut facts = Vec::with_capacity(parts.len());
            for (index, Part { content, media }) in parts.into_iter().enumerate() {
                let dedupe_key = if single {
                    format!("msg:{mid}")
                } else {
                    format!("msg:{mid}#{}", index + 1)
                };
                let message_id = MessageId::new(mid.as_str());
                let body = if is_echo {
                    EventBody::MessageSent(OutboundMessage {
                        message_id: Some(message_id),
                        idempotency_key: str_at(message, &["metadata"])
                            .and_then(|metadata| metadata.strip_prefix("ventana:"))
                            .filter(|key| !key.is_empty())
                            .map(IdempotencyKey::from),
                        content,
                        sender: Sender::ExternalApp {
                            app: message.get("app_id").and_then(id_value),
                        },
                        sent_as: SentAs::Unknown,
                        reply_to: reply_to.clone(),
                    })
                } else {
                    EventBody::MessageReceived(InboundMessage {
                        message_id,
                        content,
                        sender_name: None,
                        reply_to: reply_to.clone(),
                        referral: referral.clone(),
                    })
                };
                facts.push(self.fact_with_media(&sides, dedupe_key, occurred_at, body, media));
            }
            Ok(facts)
        }

        /// The message's contents in payload order: its text, then each attachment. Never
        /// empty: what cannot be shown becomes `Unsupported`.
        fn message_parts(&self, message: &Value) -> Vec<Part> {
            if flag(message, "is_unsupported") {
                return vec![
                    unsupported(format!(
                        "{} sent a message type it does not share with apps like Ventana",
                        platform_name(self.kind)
                    ))
                    .into(),
                ];
            }
            let mut parts = Vec::new();
            let text = message.get("text").and_then(Value::as_str);
            let quick_reply = str_at(message, &["quick_reply", "payload"]);
            match (text, quick_reply) {
                (text, Some(payload)) => parts.push(
                    MessageContent::InteractiveReply {
                        id: payload.to_owned(),
                        title: text.unwrap_or(payload).to_owned(),
                        description: None,
                    }
                    .into(),
                ),
                (Some(text), None) => parts.push(
                    MessageContent::Text {
                        body: text.to_owned(),
                    }
                    .into(),
                ),
                (None, None) => {}
            }
            match message.get("attachments") {
                None | Some(Value::Null) => {}
                Some(Value::Array(attachments)) => {
                    let legacy_sticker_id = message.get("sticker_id").is_some();
                    let has_sticker = attachments
                        .iter()
                        .any(|a| a.get("type").and_then(Value::as_str) == Some("sticker"));
                    for attachment in attachments {
                        let kind = attachment.get("type").and_then(Value::as_str);
                        if has_sticker && kind == Some("image") {
                            // The legacy copy of the sticker (transition until Aug 2026).
                            continue;
                        }
                        parts.push(attachment_content(attachment, legacy_sticker_id));
                    }
                }
                Some(_) => {
                    parts.push(unsupported("attachments in a shape Ventana can't read").into())
                }
            }
            if parts.is_empty() {
                parts.push(
                    unsupported(format!(
                        "a {} message with no content Ventana recognises",
                        platform_name(self.kind)
                    ))
                    .into(),
                );
            }
            parts
        }

        fn postback(&self, postback: &Value) -> Parsed<Incoming> {
            if !postback.is_object() {
                return malformed("`postback` is not an object");
            }
            let sides = self.sides()?;
            let occurred_at = self.occurred_at()?;
            let mid = postback.get("mid").and_then(id_value);
            let dedupe_key = match &mid {
                Some(mid) => format!("postback:{mid}"),
                None => format!(
                    "postback:{}:{}",
                    sides.sender(),
                    occurred_at.timestamp_millis()
                ),
            };
            let body = EventBody::MessageReceived(InboundMessage {
                message_id: MessageId::new(mid.unwrap_or_else(|| dedupe_key.clone())),
                // Meta documents every postback property as a string, and sends `payload`
                // only to the app that made the button: absent is empty.
                content: MessageContent::Postback {
                    title: str_at(postback, &["title"]).unwrap_or_default().to_owned(),
                    payload: str_at(postback, &["payload"])
                        .unwrap_or_default()
                        .to_owned(),
                },
                sender_name: None,
                reply_to: None,
                referral: postback.get("referral").map(messaging_referral),
            });
            Ok(self.fact(&sides, dedupe_key, occurred_at, body))
        }

        /// A customer arrived from an ad, a link or a QR code without writing yet.
        fn referral(&self, referral: &Value) -> Parsed<Incoming> {
            if !referral.is_object() {
                return malformed("`referral` is not an object");
            }
            let sides = self.sides()?;
            let occurred_at = self.occurred_at()?;
            let dedupe_key = format!(
                "referral:{}:{}",
                sides.sender(),
                occurred_at.timestamp_millis()
            );
            let body = EventBody::MessageReceived(InboundMessage {
                message_id: MessageId::new(dedupe_key.as_str()),
                content: MessageContent::Referral(messaging_referral(referral)),
                sender_name: None,
                reply_to: None,
                referral: None,
            });
            Ok(self.fact(&sides, dedupe_key, occurred_at, body))
        }

        /// `delivery {mids?, watermark}`: per-message when Meta lists the mids, else
        /// everything up to the watermark.
        fn delivery(&self, delivery: &Value) -> Parsed<Vec<Incoming>> {
            if !delivery.is_object() {
                return malformed("`delivery` is not an object");
            }
            let sides = self.sides()?;
            let watermark = delivery.get("watermark").and_then(int_value);
            let occurred_at = match (self.event.get("timestamp"), watermark) {
                (None, Some(watermark)) => from_millis(watermark)?,
                _ => self.occurred_at()?,
            };
            let mids: Vec<String> = match delivery.get("mids") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(mids)) => mids.iter().filter_map(id_value).collect(),
                Some(_) => return malformed("`delivery.mids` is not an array"),
            };
            if !mids.is_empty() {
                return Ok(mids
                    .into_iter()
                    .map(|mid| {
                        let key = format!("status:{mid}:delivered");
                        let body = EventBody::MessageStatus {
                            target: StatusTarget::Message {
                                message_id: MessageId::new(mid),
                            },
                            status: DeliveryStatus::Delivered,
                        };
                        self.fact(&sides, key, occurred_at, body)
                    })
                    .collect());
            }
            let Some(watermark) = watermark else {
                return malformed("`delivery` has neither `mids` nor an integer `watermark`");
            };
            Ok(vec![self.watermark_status(
                &sides,
                watermark,
                "delivered",
                DeliveryStatus::Delivered,
                occurred_at,
            )?])
        }

        /// Messenger `read {watermark}`; Instagram `read {mid}`.
        fn read(&self, read: &Value) -> Parsed<Incoming> {
            if !read.is_object() {
                return malformed("`read` is not an object");
            }
            let sides = self.sides()?;
            let occurred_at = self.occurred_at()?;
            if let Some(mid) = read.get("mid").and_then(id_value) {
                let key = format!("status:{mid}:read");
                let body = EventBody::MessageStatus {
                    target: StatusTarget::Message {
                        message_id: MessageId::new(mid),
                    },
                    status: DeliveryStatus::Read,
                };
                return Ok(self.fact(&sides, key, occurred_at, body));
            }
            let Some(watermark) = read.get("watermark").and_then(int_value) else {
                return malformed("`read` has neither `mid` nor an integer `watermark`");
            };
            self.watermark_status(&sides, watermark, "read", DeliveryStatus::Read, occurred_at)
        }

        fn watermark_status(
            &self,
            sides: &Sides,
            watermark: i64,
            name: &str,
            status: DeliveryStatus,
            occurred_at: DateTime<Utc>,
        ) -> Parsed<Incoming> {
            let key = format!("wm:{}:{}:{name}:{watermark}", sides.business, sides.contact);
            let body = EventBody::MessageStatus {
                target: StatusTarget::UpTo {
                    watermark: from_millis(watermark)?,
                },
                status,
            };
            Ok(self.fact(sides, key, occurred_at, body))
        }

        /// `reaction {mid, action: react|unreact, reaction?, emoji?}`.
        fn reaction(&self, reaction: &Value) -> Parsed<Incoming> {
            if !reaction.is_object() {
                return malformed("`reaction` is not an object");
            }
            let sides = self.sides()?;
            let occurred_at = self.occurred_at()?;
            let mid = required_id(reaction, &["mid"])?;
            let (action, action_name) = match str_at(reaction, &["action"]) {
                Some("react") => (ReactionAction::Added, "react"),
                Some("unreact") => (ReactionAction::Removed, "unreact"),
                Some(other) => {
                    return malformed(format!("unknown reaction action {:?}", clip(other)));
                }
                None => return malformed("`reaction.action` is missing"),
            };
            let key = format!(
                "reaction:{mid}:{}:{action_name}:{}",
                sides.sender(),
                occurred_at.timestamp_millis()
            );
            let emoji = match action {
                ReactionAction::Added => str_at(reaction, &["emoji"])
                    .filter(|emoji| !emoji.is_empty())
                    .map(str::to_owned),
                ReactionAction::Removed => None,
            };
            let body = EventBody::Reaction {
                message_id: MessageId::new(mid),
                by: if sides.business_sent {
                    Party::Business
                } else {
                    Party::Customer
                },
                action,
                emoji,
            };
            Ok(self.fact(&sides, key, occurred_at, body))
        }

        /// `message_edit {mid, text, num_edit}`.
        fn edit(&self, edit: &Value) -> Parsed<Incoming> {
            if !edit.is_object() {
                return malformed("`message_edit` is not an object");
            }
            let sides = self.sides()?;
            let occurred_at = self.occurred_at()?;
            let mid = required_id(edit, &["mid"])?;
            let Some(text) = str_at(edit, &["text"]) else {
                return malformed("`message_edit.text` is missing or not a string");
            };
            let Some(edit_count) = edit
                .get("num_edit")
                .and_then(int_value)
                .and_then(|n| u32::try_from(n).ok())
            else {
                return malformed("`message_edit.num_edit` is missing or not a small integer");
            };
            let body = EventBody::MessageEdited {
                message_id: MessageId::new(mid.as_str()),
                text: text.to_owned(),
                edit_count,
            };
            Ok(self.fact(
                &sides,
                format!("edit:{mid}:{edit_count}"),
                occurred_at,
                body,
            ))
        }
    }

    /// One Messenger/IG attachment as content. Media kinds need a URL; every other kind
    /// (shares, reels, story mentions, templates, fallbacks…) is kept as `Unsupported`.
    fn attachment_content(attachment: &Value, legacy_sticker: bool) -> Part {
        let kind = attachment.get("type").and_then(Value::as_str).unwrap_or("");
        let payload = attachment.get("payload");
        let url = payload
            .and_then(|p| p.get("url"))
            .and_then(Value::as_str)
            .filter(|url| !url.is_empty());
        let is_sticker = kind == "sticker"
            || (kind == "image"
                && (legacy_sticker || payload.is_some_and(|p| p.get("sticker_id").is_some())));
        let wrap: Option<fn(Media) -> MessageContent> = match kind {
            _ if is_sticker => Some(MessageContent::Sticker),
            "image" => Some(MessageContent::Image),
            "audio" => Some(MessageContent::Audio),
            "video" => Some(MessageContent::Video),
            "file" => Some(MessageContent::Document),
            _ => None,
        };
        if let Some(wrap) = wrap {
            return match url {
                Some(url) => url_part(url, wrap),
                None => unsupported(format!("a {} attachment without a URL", clip(kind))).into(),
            };
        }
        if kind == "location"
            && let Some(coordinates) = payload.and_then(|p| p.get("coordinates"))
            && let (Some(latitude), Some(longitude)) = (
                coordinates.get("lat").and_then(Value::as_f64),
                coordinates.get("long").and_then(Value::as_f64),
            )
        {
            return MessageContent::Location {
                latitude,
                longitude,
                name: attachment
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                address: None,
            }
            .into();
        }
        let mut description = match kind {
            "share" => "a shared post".to_owned(),
            "story_mention" => "a story mention".to_owned(),
            "reel" | "ig_reel" => "a reel".to_owned(),
            "post" | "ig_post" => "a post".to_owned(),
            "fallback" => "a shared link".to_owned(),
            "template" => "a template".to_owned(),
            "appointment_booking" => "an appointment booking".to_owned(),
            "" => "an attachment of no type".to_owned(),
            other => format!("an attachment of type `{}`", clip(other)),
        };
        let title = payload
            .and_then(|p| p.get("title"))
            .or_else(|| attachment.get("title"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        if let Some(title) = title {
            description.push_str(&format!(": {}", clip(title)));
        }
        if let Some(url) = url {
            description.push_str(&format!(" ({url})"));
        }
        unsupported(description).into()
    }

    fn messaging_referral(referral: &Value) -> Referral {
        Referral {
            source: str_at(referral, &["source"])
                .unwrap_or("unknown")
                .to_owned(),
            reference: str_at(referral, &["ref"]).map(str::to_owned),
            ad_id: referral.get("ad_id").and_then(id_value),
            headline: str_at(referral, &["ads_context_data", "ad_title"]).map(str::to_owned),
            url: str_at(referral, &["referer_uri"]).map(str::to_owned),
        }
    }

    fn platform_name(kind: ChannelKind) -> &'static str {
        match kind {
            ChannelKind::Messenger => "Messenger",
            ChannelKind::Instagram => "Instagram",
            ChannelKind::WhatsApp => "WhatsApp",
        }
    }
}

// ---------------------------------------------------------------------------------------
// WhatsApp: entry[].changes[] {field, value}
// ---------------------------------------------------------------------------------------

mod whatsapp {
    use super::*;

    pub(super) fn entry(entry: &Entry<'_>, out: &mut Normalized) {
        let Some(changes) = entry.changes else {
            entry.ignore(out, "whatsapp entry with no changes".to_owned());
            return;
        };
        for (index, change) in changes.iter().enumerate() {
            let field = change.get("field").and_then(Value::as_str);
            let value = change.get("value");
            match (field, value) {
                (Some("messages"), Some(value)) => messages_change(entry, index, value, out),
                (Some("user_preferences"), Some(value)) => {
                    preferences_change(entry, index, value, out);
                }
                (Some("messages" | "user_preferences") | None, _) => entry.ignore(
                    out,
                    format!(
                        "whatsapp changes[{index}] skipped as malformed: no string `field` or no `value`"
                    ),
                ),
                (Some(field), _) => entry.ignore(
                    out,
                    format!("whatsapp changes[{index}]: field `{}` is not handled", clip(field)),
                ),
            }
        }
    }

    /// The part of a change every event in it shares.
    struct Change<'a> {
        entry: &'a Entry<'a>,
        index: usize,
        phone_number_id: String,
        contacts: &'a [Value],
    }

    impl Change<'_> {
        fn skip(&self, out: &mut Normalized, list: &str, item: usize, reason: &str) {
            self.entry.ignore(
                out,
                format!(
                    "whatsapp changes[{}].value.{list}[{item}] skipped as malformed: {reason}",
                    self.index
                ),
            );
        }

        fn fact(
            &self,
            contact: &str,
            contact_name: Option<String>,
            dedupe_key: String,
            occurred_at: DateTime<Utc>,
            body: EventBody,
            media: Option<MediaRef>,
        ) -> Incoming {
            Incoming {
                channel: ChannelKey {
                    kind: ChannelKind::WhatsApp,
                    external_id: self.phone_number_id.clone(),
                },
                contact_external_id: contact.to_owned(),
                contact_name,
                dedupe_key,
                occurred_at,
                body,
                media: media.into_iter().collect(),
            }
        }

        /// `contacts[].profile.name` of the contact with this id (or of the only contact).
        fn contact_name(&self, contact: &str) -> Option<String> {
            let matching = self.contacts.iter().find(|c| {
                c.get("wa_id").and_then(id_value).as_deref() == Some(contact)
                    || c.get("user_id").and_then(id_value).as_deref() == Some(contact)
            });
            let only = match self.contacts {
                [only] => Some(only),
                _ => None,
            };
            matching
                .or(only)
                .and_then(|c| str_at(c, &["profile", "name"]))
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        }
    }

    /// Reads `value.metadata.phone_number_id` and `value.contacts`, or skips the change.
    fn change<'a>(
        entry: &'a Entry<'a>,
        index: usize,
        value: &'a Value,
        out: &mut Normalized,
    ) -> Option<Change<'a>> {
        let Some(phone_number_id) = value
            .get("metadata")
            .and_then(|m| m.get("phone_number_id"))
            .and_then(id_value)
        else {
            entry.ignore(
                out,
                format!(
                    "whatsapp changes[{index}] skipped as malformed: no `value.metadata.phone_number_id`"
                ),
            );
            return None;
        };
        let contacts = value
            .get("contacts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Some(Change {
            entry,
            index,
            phone_number_id,
            contacts,
        })
    }

    /// A list inside `value`; a list of the wrong type is reported, not fatal.
    fn list<'a>(
        change: &Change<'_>,
        value: &'a Value,
        key: &str,
        out: &mut Normalized,
    ) -> &'a [Value] {
        match value.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                change.entry.ignore(
                    out,
                    format!(
                        "whatsapp changes[{}].value.{key} skipped as malformed: not an array",
                        change.index
                    ),
                );
                &[]
            }
        }
    }

    fn messages_change(entry: &Entry<'_>, index: usize, value: &Value, out: &mut Normalized) {
        let Some(change) = change(entry, index, value, out) else {
            return;
        };
        if !["messages", "statuses", "errors"]
            .iter()
            .any(|key| value.get(*key).is_some())
        {
            entry.ignore(
                out,
                format!("whatsapp changes[{index}]: a messages change with no messages, statuses or errors"),
            );
        }
        for (item, message) in list(&change, value, "messages", out).iter().enumerate() {
            match inbound(&change, message) {
                Ok(Some(fact)) => out.events.push(fact),
                Ok(None) => {}
                Err(Malformed(reason)) => change.skip(out, "messages", item, &reason),
            }
        }
        for (item, status) in list(&change, value, "statuses", out).iter().enumerate() {
            match self::status(&change, status) {
                Ok(Ok(fact)) => out.events.push(fact),
                Ok(Err(unhandled)) => entry.ignore(
                    out,
                    format!("whatsapp changes[{index}].value.statuses[{item}]: {unhandled}"),
                ),
                Err(Malformed(reason)) => change.skip(out, "statuses", item, &reason),
            }
        }
        for (item, error) in list(&change, value, "errors", out).iter().enumerate() {
            entry.ignore(
                out,
                format!(
                    "whatsapp changes[{index}].value.errors[{item}] on {}: {}",
                    change.phone_number_id,
                    describe_error(error)
                ),
            );
        }
    }

    /// `error {code, title, message, error_data.details}` as one log line.
    fn describe_error(error: &Value) -> String {
        let code = error
            .get("code")
            .and_then(int_value)
            .map_or_else(|| "?".to_owned(), |code| code.to_string());
        let title = str_at(error, &["title"]).or_else(|| str_at(error, &["message"]));
        let details = str_at(error, &["error_data", "details"]);
        let text = match (title, details) {
            (Some(title), Some(details)) => format!("{title} ({details})"),
            (Some(text), None) | (None, Some(text)) => text.to_owned(),
            (None, None) => "no description".to_owned(),
        };
        clip(&format!("error {code}: {text}"))
    }

    fn occurred_at(value: &Value) -> Parsed<DateTime<Utc>> {
        let Some(seconds) = value.get("timestamp").and_then(int_value) else {
            return malformed("`timestamp` is missing or not an integer");
        };
        from_seconds(seconds)
    }

    /// An inbound message (or a reaction, which WhatsApp sends as a message).
    fn inbound(change: &Change<'_>, message: &Value) -> Parsed<Option<Incoming>> {
        if !message.is_object() {
            return malformed("not an object");
        }
        let wamid = required_id(message, &["id"])?;
        let Some(from) = message
            .get("from")
            .and_then(id_value)
            .or_else(|| message.get("from_user_id").and_then(id_value))
        else {
            return malformed("`from` is missing or empty");
        };
        let occurred_at = occurred_at(message)?;
        let contact_name = change.contact_name(&from);
        let kind = str_at(message, &["type"]).unwrap_or("");

        if kind == "reaction" {
            return reaction(change, message, &from, contact_name, occurred_at).map(Some);
        }

        let Part { content, media } = content(kind, message);
        let body = EventBody::MessageReceived(InboundMessage {
            message_id: MessageId::new(wamid.as_str()),
            content,
            sender_name: contact_name.clone(),
            reply_to: str_at(message, &["context", "id"])
                .filter(|id| !id.is_empty())
                .map(MessageId::from),
            referral: message.get("referral").map(referral),
        });
        Ok(Some(change.fact(
            &from,
            contact_name,
            format!("msg:{wamid}"),
            occurred_at,
            body,
            media,
        )))
    }

    /// `reaction {message_id, emoji?}`: no (or an empty) emoji means the reaction was removed.
    fn reaction(
        change: &Change<'_>,
        message: &Value,
        from: &str,
        contact_name: Option<String>,
        occurred_at: DateTime<Utc>,
    ) -> Parsed<Incoming> {
        let Some(reaction) = message.get("reaction") else {
            return malformed("a `reaction` message without `reaction`");
        };
        let target = required_id(reaction, &["message_id"])?;
        let emoji = str_at(reaction, &["emoji"])
            .filter(|emoji| !emoji.is_empty())
            .map(str::to_owned);
        let (action, action_name) = match emoji {
            Some(_) => (ReactionAction::Added, "react"),
            None => (ReactionAction::Removed, "unreact"),
        };
        let key = format!(
            "reaction:{target}:{from}:{action_name}:{}",
            occurred_at.timestamp()
        );
        let body = EventBody::Reaction {
            message_id: MessageId::new(target),
            by: Party::Customer,
            action,
            emoji,
        };
        Ok(change.fact(from, contact_name, key, occurred_at, body, None))
    }

    /// The content of an inbound message, by `type`. Never fails: what can't be read
    /// becomes `Unsupported`.
    fn content(kind: &str, message: &Value) -> Part {
        let object = message.get(kind).filter(|_| !kind.is_empty());
        let wrap: Option<fn(Media) -> MessageContent> = match kind {
            "image" => Some(MessageContent::Image),
            "audio" => Some(MessageContent::Audio),
            "video" => Some(MessageContent::Video),
            "document" => Some(MessageContent::Document),
            "sticker" => Some(MessageContent::Sticker),
            _ => None,
        };
        if let Some(wrap) = wrap {
            return match object.and_then(media) {
                Some((media, source)) => Part {
                    content: wrap(media),
                    media: Some(source),
                },
                None => unsupported(describe_unsupported(kind, message)).into(),
            };
        }
        let read = match kind {
            "text" => object
                .and_then(|t| str_at(t, &["body"]))
                .map(|body| MessageContent::Text {
                    body: body.to_owned(),
                }),
            "location" => object.and_then(location),
            "contacts" => object
                .and_then(Value::as_array)
                .map(|cards| MessageContent::Contacts {
                    contacts: cards.iter().map(shared_contact).collect(),
                }),
            "interactive" => object.and_then(interactive),
            "button" => object.and_then(|b| {
                let payload = str_at(b, &["payload"]);
                let text = str_at(b, &["text"]);
                (payload.is_some() || text.is_some()).then(|| MessageContent::Button {
                    payload: payload.unwrap_or_default().to_owned(),
                    text: text.or(payload).unwrap_or_default().to_owned(),
                })
            }),
            _ => None,
        };
        read.unwrap_or_else(|| unsupported(describe_unsupported(kind, message)))
            .into()
    }

    fn describe_unsupported(kind: &str, message: &Value) -> String {
        let errors = message
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first())
            .map(describe_error);
        let what = match kind {
            "" => "a WhatsApp message of no type".to_owned(),
            "unsupported" => "a WhatsApp message type Ventana can't show".to_owned(),
            "order" => {
                let items = message
                    .get("order")
                    .and_then(|o| o.get("product_items"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                format!("a WhatsApp order with {items} item(s)")
            }
            "system" => match str_at(message, &["system", "body"]) {
                Some(body) => format!("a WhatsApp system message: {}", clip(body)),
                None => "a WhatsApp system message".to_owned(),
            },
            "text" | "image" | "audio" | "video" | "document" | "sticker" | "location"
            | "contacts" | "interactive" | "button" => {
                format!("a WhatsApp `{kind}` message in a shape Ventana can't read")
            }
            other => format!("a WhatsApp message of type `{}`", clip(other)),
        };
        match errors {
            Some(errors) => format!("{what} ({errors})"),
            None => what,
        }
    }

    /// `{id, mime_type, sha256, caption?, filename?, url?}`, and where to fetch it.
    fn media(object: &Value) -> Option<(Media, MediaRef)> {
        let (media_id, source) = match object.get("id").and_then(id_value) {
            Some(id) => (
                MediaId::new(format!("wa:{id}")),
                MediaSource::WhatsAppMediaId(id),
            ),
            None => {
                let url = str_at(object, &["url"]).filter(|u| !u.is_empty())?;
                (url_media_id(url), MediaSource::Url(url.to_owned()))
            }
        };
        let text = |key: &str| str_at(object, &[key]).map(str::to_owned);
        let media = Media {
            media_id: media_id.clone(),
            mime_type: text("mime_type"),
            caption: text("caption"),
            filename: text("filename"),
            sha256: str_at(object, &["sha256"]).and_then(sha256_hex),
        };
        Some((media, MediaRef { media_id, source }))
    }

    fn location(object: &Value) -> Option<MessageContent> {
        Some(MessageContent::Location {
            latitude: object.get("latitude").and_then(number)?,
            longitude: object.get("longitude").and_then(number)?,
            name: str_at(object, &["name"]).map(str::to_owned),
            address: str_at(object, &["address"]).map(str::to_owned),
        })
    }

    /// Coordinates are numbers, but tolerate them as strings (seen from some clients).
    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite())
    }

    fn shared_contact(card: &Value) -> SharedContact {
        let name = str_at(card, &["name", "formatted_name"])
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let first = str_at(card, &["name", "first_name"]).unwrap_or_default();
                let last = str_at(card, &["name", "last_name"]).unwrap_or_default();
                format!("{first} {last}").trim().to_owned()
            });
        let strings = |list: &str, key: &str| -> Vec<String> {
            card.get(list)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| str_at(item, &[key]))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        SharedContact {
            name,
            phones: strings("phones", "phone"),
            emails: strings("emails", "email"),
        }
    }

    /// `interactive {type: button_reply|list_reply, …}`; other kinds (flows) are unsupported.
    fn interactive(object: &Value) -> Option<MessageContent> {
        let kind = str_at(object, &["type"])?;
        if kind != "button_reply" && kind != "list_reply" {
            return None;
        }
        let reply = object.get(kind)?;
        Some(MessageContent::InteractiveReply {
            id: reply.get("id").and_then(id_value)?,
            title: str_at(reply, &["title"]).unwrap_or_default().to_owned(),
            description: str_at(reply, &["description"]).map(str::to_owned),
        })
    }

    /// Click-to-WhatsApp: `referral {source_url, source_id, source_type, headline, …}`.
    fn referral(referral: &Value) -> Referral {
        Referral {
            source: str_at(referral, &["source_type"])
                .unwrap_or("unknown")
                .to_owned(),
            reference: None,
            ad_id: referral.get("source_id").and_then(id_value),
            headline: str_at(referral, &["headline"]).map(str::to_owned),
            url: str_at(referral, &["source_url"]).map(str::to_owned),
        }
    }

    /// A status of one of our messages: `Ok(Err(_))` when it is a status we don't track.
    fn status(change: &Change<'_>, status: &Value) -> Parsed<Result<Incoming, String>> {
        if !status.is_object() {
            return malformed("not an object");
        }
        let wamid = required_id(status, &["id"])?;
        let Some(name) = str_at(status, &["status"]) else {
            return malformed("`status` is missing or not a string");
        };
        let Some(recipient) = status
            .get("recipient_id")
            .and_then(id_value)
            .or_else(|| status.get("recipient_user_id").and_then(id_value))
        else {
            return malformed("`recipient_id` is missing or empty");
        };
        let occurred_at = occurred_at(status)?;
        let delivery = match name {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" | "played" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed {
                failure: failure(status),
            },
            other => return Ok(Err(format!("status `{}` is not tracked", clip(other)))),
        };
        let body = EventBody::MessageStatus {
            target: StatusTarget::Message {
                message_id: MessageId::new(wamid.as_str()),
            },
            status: delivery,
        };
        Ok(Ok(change.fact(
            &recipient,
            None,
            format!("status:{wamid}:{name}"),
            occurred_at,
            body,
            None,
        )))
    }

    /// `errors[0] {code, error_subcode?, message, error_data.details}` of a failed status.
    fn failure(status: &Value) -> ventana_protocol::event::SendFailure {
        let error = status
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first());
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(int_value)
            .unwrap_or(0);
        let subcode = error
            .and_then(|e| e.get("error_subcode"))
            .and_then(int_value);
        let message = error.and_then(|e| {
            str_at(e, &["error_data", "details"])
                .or_else(|| str_at(e, &["message"]))
                .or_else(|| str_at(e, &["title"]))
        });
        meta_error::failure_from_meta(code, subcode, message)
    }

    fn preferences_change(entry: &Entry<'_>, index: usize, value: &Value, out: &mut Normalized) {
        let Some(change) = change(entry, index, value, out) else {
            return;
        };
        for (item, preference) in list(&change, value, "user_preferences", out)
            .iter()
            .enumerate()
        {
            match self::preference(&change, preference) {
                Ok(Ok(fact)) => out.events.push(fact),
                Ok(Err(unhandled)) => entry.ignore(
                    out,
                    format!(
                        "whatsapp changes[{index}].value.user_preferences[{item}]: {unhandled}"
                    ),
                ),
                Err(Malformed(reason)) => change.skip(out, "user_preferences", item, &reason),
            }
        }
    }

    /// `{wa_id, category: marketing_messages, value: stop|resume, timestamp}`.
    fn preference(change: &Change<'_>, preference: &Value) -> Parsed<Result<Incoming, String>> {
        if !preference.is_object() {
            return malformed("not an object");
        }
        let Some(contact) = preference
            .get("wa_id")
            .and_then(id_value)
            .or_else(|| preference.get("user_id").and_then(id_value))
        else {
            return malformed("`wa_id` is missing or empty");
        };
        let Some(category) = str_at(preference, &["category"]) else {
            return malformed("`category` is missing or not a string");
        };
        let Some(choice) = str_at(preference, &["value"]) else {
            return malformed("`value` is missing or not a string");
        };
        let occurred_at = occurred_at(preference)?;
        let body = match (category, choice) {
            ("marketing_messages", "stop") => EventBody::ContactOptedOut {
                source: ConsentSource::Platform,
            },
            ("marketing_messages", "resume") => EventBody::ContactOptedIn {
                source: ConsentSource::Platform,
            },
            _ => {
                return Ok(Err(format!(
                    "preference `{}` = `{}` is not handled",
                    clip(category),
                    clip(choice)
                )));
            }
        };
        let key = format!(
            "pref:{}:{contact}:{category}:{choice}:{}",
            change.phone_number_id,
            occurred_at.timestamp()
        );
        let name = change.contact_name(&contact);
        Ok(Ok(change.fact(
            &contact,
            name,
            key,
            occurred_at,
            body,
            None,
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers: reading JSON without panicking, media ids, timestamps.
// ---------------------------------------------------------------------------------------

/// The value at `path` if it is a string.
fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current
            .as_object()
            .and_then(|map: &Map<String, Value>| map.get(*key))?;
    }
    current.as_str()
}

/// An id: a non-empty string, or an integer (Meta sends a few ids, like `app_id`, as
/// numbers).
fn id_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn required_id(value: &Value, path: &[&str]) -> Parsed<String> {
    let mut current = value;
    for key in path {
        match current.as_object().and_then(|map| map.get(*key)) {
            Some(next) => current = next,
            None => return malformed(format!("`{}` is missing", path.join("."))),
        }
    }
    id_value(current)
        .ok_or_else(|| Malformed(format!("`{}` is empty or not a string", path.join("."))))
}

/// `true` only for JSON `true`.
fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// An integer, or a string of ASCII digits (WhatsApp sends timestamps as strings).
fn int_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn from_millis(ms: i64) -> Parsed<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Malformed(format!("timestamp {ms} ms is out of range")))
}

fn from_seconds(seconds: i64) -> Parsed<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| Malformed(format!("timestamp {seconds} s is out of range")))
}

fn unsupported(description: impl Into<String>) -> MessageContent {
    MessageContent::Unsupported {
        description: Some(description.into()),
    }
}

/// A media item known only by URL (Messenger and Instagram attachments), wrapped as
/// content by `wrap`.
fn url_part(url: &str, wrap: fn(Media) -> MessageContent) -> Part {
    let media_id = url_media_id(url);
    Part {
        content: wrap(Media {
            media_id: media_id.clone(),
            mime_type: None,
            caption: None,
            filename: None,
            sha256: None,
        }),
        media: Some(MediaRef {
            media_id,
            source: MediaSource::Url(url.to_owned()),
        }),
    }
}

/// `url:<first 32 hex digits of SHA-256(url)>`: deterministic, so a redelivery names the
/// same media, and short enough for a key.
fn url_media_id(url: &str) -> MediaId {
    let digest = hex::encode(Sha256::digest(url.as_bytes()));
    MediaId::new(format!("url:{}", digest.get(..32).unwrap_or(&digest)))
}

/// One piece of message content, with where to fetch its media (if it has any).
struct Part {
    content: MessageContent,
    media: Option<MediaRef>,
}

impl From<MessageContent> for Part {
    fn from(content: MessageContent) -> Self {
        Self {
            content,
            media: None,
        }
    }
}

/// Meta's `sha256` of a WhatsApp media item as lowercase hex, if it is a SHA-256 at all
/// (base64 as Meta sends it, or hex).
fn sha256_hex(value: &str) -> Option<String> {
    let value = value.trim();
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(value.to_ascii_lowercase());
    }
    let bytes = base64_decode(value)?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

/// Standard or URL-safe base64, padding optional (Meta's exact alphabet is not documented).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

/// Payload text in log lines and error messages, cut to a sane length.
fn clip(text: &str) -> String {
    const MAX: usize = 120;
    let mut clipped: String = text.chars().take(MAX).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}
