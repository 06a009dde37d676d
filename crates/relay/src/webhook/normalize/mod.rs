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

// Messenger and Instagram: entry[].messaging[]
mod messaging;
// WhatsApp: entry[].changes[] {field, value}
mod whatsapp;

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
