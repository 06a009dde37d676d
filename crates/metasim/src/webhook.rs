//! What the generator hands out: a webhook body as exact bytes, with a description of the
//! events inside it (kind, channel, contact, time, dedupe key) so that a test can say what
//! the relay should have stored without parsing the body itself.

use crate::signing;
use crate::universe::{Channel, Platform};
use chrono::{DateTime, Utc};
use std::fmt;

/// Meta's cap on the updates one webhook body carries (reference §4: "a maximum of 1000
/// updates").
pub const MAX_UPDATES_PER_BODY: usize = 1000;

/// The kinds of events metasim generates. Not every kind exists on every platform:
/// see [`EventKind::supported_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A customer's text.
    Text,
    /// A photo (Messenger/IG `attachments[].type = image`, WhatsApp `image`).
    Image,
    /// A voice note or audio file.
    Audio,
    /// A video.
    Video,
    /// A document (Messenger/IG `file`, WhatsApp `document`).
    File,
    /// A sticker (Messenger `sticker`, and `image` too until 2026-08-30; Instagram reports
    /// stickers as `image`; WhatsApp `sticker`).
    Sticker,
    /// A shared location (WhatsApp only).
    Location,
    /// A tap on a quick reply: text with `quick_reply.payload` (Messenger, Instagram).
    QuickReply,
    /// A reply from a WhatsApp interactive message (`button_reply` or `list_reply`).
    Interactive,
    /// A tap on a WhatsApp template's quick-reply button (`type: button`).
    TemplateButton,
    /// A tap on a postback button (Messenger, Instagram).
    Postback,
    /// A referral: m.me / ig.me links and ads (Messenger, Instagram), Click-to-WhatsApp ad
    /// messages (WhatsApp).
    Referral,
    /// A reaction added to the business's message.
    Reaction,
    /// A reaction removed (Messenger/IG `action: unreact`; WhatsApp reaction without emoji).
    Unreaction,
    /// A customer edits their message (Messenger `message_edit`).
    Edit,
    /// A customer unsends their message (Instagram `is_deleted`).
    Unsend,
    /// The business's own message, sent from this app or elsewhere (Messenger, Instagram).
    Echo,
    /// Messenger `delivery` watermark.
    Delivery,
    /// The customer read the business's messages (Messenger watermark, Instagram `mid`).
    Read,
    /// WhatsApp status `sent`.
    StatusSent,
    /// WhatsApp status `delivered`.
    StatusDelivered,
    /// WhatsApp status `read`.
    StatusRead,
    /// WhatsApp status `failed`, with Meta's `errors[]`.
    StatusFailed,
    /// WhatsApp `user_preferences` with `value: stop` (marketing opt-out).
    OptOut,
    /// WhatsApp `user_preferences` with `value: resume`.
    OptIn,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 25] = [
        EventKind::Text,
        EventKind::Image,
        EventKind::Audio,
        EventKind::Video,
        EventKind::File,
        EventKind::Sticker,
        EventKind::Location,
        EventKind::QuickReply,
        EventKind::Interactive,
        EventKind::TemplateButton,
        EventKind::Postback,
        EventKind::Referral,
        EventKind::Reaction,
        EventKind::Unreaction,
        EventKind::Edit,
        EventKind::Unsend,
        EventKind::Echo,
        EventKind::Delivery,
        EventKind::Read,
        EventKind::StatusSent,
        EventKind::StatusDelivered,
        EventKind::StatusRead,
        EventKind::StatusFailed,
        EventKind::OptOut,
        EventKind::OptIn,
    ];

    /// Whether Meta sends this kind of event on `platform` (per the reference).
    pub fn supported_on(self, platform: Platform) -> bool {
        use EventKind::*;
        match self {
            Text | Image | Audio | Video | File | Sticker | Referral | Reaction | Unreaction => {
                true
            }
            QuickReply | Postback | Echo | Read => platform != Platform::WhatsApp,
            Edit | Delivery => platform == Platform::Messenger,
            Unsend => platform == Platform::Instagram,
            Location | Interactive | TemplateButton | StatusSent | StatusDelivered | StatusRead
            | StatusFailed | OptOut | OptIn => platform == Platform::WhatsApp,
        }
    }

    /// Whether the event is something the customer wrote or sent (as opposed to a
    /// receipt, a status, a reaction or the business's own message).
    pub fn is_inbound_message(self) -> bool {
        use EventKind::*;
        matches!(
            self,
            Text | Image
                | Audio
                | Video
                | File
                | Sticker
                | Location
                | QuickReply
                | Interactive
                | TemplateButton
                | Postback
                | Referral
        )
    }
}

/// What makes an event unique, so a test can check that a redelivered event was stored
/// once. Invariant 4 of the design names the Meta ids (`Mid`, `Wamid`, `WamidStatus`);
/// the other variants are metasim's best description of events that have no Meta id
/// (reactions as in reference §4; receipts by their watermark or mid).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DedupeKey {
    /// A Messenger or Instagram message, echo or postback.
    Mid(String),
    /// A WhatsApp message (reactions included: they have their own wamid).
    Wamid(String),
    /// A WhatsApp status: the message it is about, and the status.
    WamidStatus { wamid: String, status: String },
    /// A Messenger or Instagram reaction, keyed as reference §4 suggests.
    Reaction {
        mid: String,
        sender: String,
        action: String,
        timestamp_ms: i64,
    },
    /// A Messenger message edit.
    Edit { mid: String, num_edit: u32 },
    /// An Instagram unsend.
    Unsend { mid: String },
    /// A Messenger delivery or read (`mark` is the watermark) or an Instagram read (`mark`
    /// is the mid read).
    Receipt {
        sender: String,
        kind: String,
        mark: String,
    },
    /// A referral event, which has no id of its own.
    Referral { sender: String, timestamp_ms: i64 },
    /// A WhatsApp `user_preferences` update.
    UserPreference {
        wa_id: String,
        value: String,
        timestamp: i64,
    },
}

impl DedupeKey {
    /// The Meta message id the key is built on, where there is one: the mid or wamid.
    pub fn meta_id(&self) -> Option<&str> {
        match self {
            DedupeKey::Mid(id) | DedupeKey::Wamid(id) => Some(id),
            DedupeKey::WamidStatus { wamid, .. } => Some(wamid),
            DedupeKey::Reaction { mid, .. }
            | DedupeKey::Edit { mid, .. }
            | DedupeKey::Unsend { mid } => Some(mid),
            DedupeKey::Receipt { .. }
            | DedupeKey::Referral { .. }
            | DedupeKey::UserPreference { .. } => None,
        }
    }
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupeKey::Mid(mid) => write!(f, "mid:{mid}"),
            DedupeKey::Wamid(wamid) => write!(f, "wamid:{wamid}"),
            DedupeKey::WamidStatus { wamid, status } => write!(f, "wamid:{wamid}:{status}"),
            DedupeKey::Reaction {
                mid,
                sender,
                action,
                timestamp_ms,
            } => write!(f, "reaction:{mid}:{sender}:{action}:{timestamp_ms}"),
            DedupeKey::Edit { mid, num_edit } => write!(f, "edit:{mid}:{num_edit}"),
            DedupeKey::Unsend { mid } => write!(f, "unsend:{mid}"),
            DedupeKey::Receipt { sender, kind, mark } => write!(f, "{kind}:{sender}:{mark}"),
            DedupeKey::Referral {
                sender,
                timestamp_ms,
            } => write!(f, "referral:{sender}:{timestamp_ms}"),
            DedupeKey::UserPreference {
                wa_id,
                value,
                timestamp,
            } => {
                write!(f, "user_preferences:{wa_id}:{value}:{timestamp}")
            }
        }
    }
}

/// One event inside a webhook, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub kind: EventKind,
    /// The channel the event belongs to (its `external_id()` is what the relay routes on).
    pub channel: Channel,
    /// The customer's PSID, IGSID or wa_id (for echoes and statuses too: the other party).
    pub contact_id: String,
    /// When it happened (the event's `timestamp`; a delivery's watermark).
    pub timestamp: DateTime<Utc>,
    pub key: DedupeKey,
    /// The words in it a keyword rule would read: text, caption, button title or edited
    /// text.
    pub text: Option<String>,
}

/// A webhook body as Meta would POST it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub platform: Platform,
    /// The exact bytes to sign and send. Redelivering means sending these again.
    pub body: Vec<u8>,
    /// How many updates the body carries (messaging events, WhatsApp messages, statuses
    /// and user preferences).
    pub event_count: usize,
    /// The events, in body order.
    pub events: Vec<EventInfo>,
}

impl Webhook {
    /// The distinct channel external ids in the body, in order of first appearance.
    pub fn channel_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for event in &self.events {
            let id = event.channel.external_id();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Each event's dedupe key, in body order.
    pub fn dedupe_keys(&self) -> Vec<&DedupeKey> {
        self.events.iter().map(|e| &e.key).collect()
    }

    /// The `X-Hub-Signature-256` header Meta would send with this body.
    pub fn signature_header(&self, app_secret: &[u8]) -> String {
        signing::signature_header(app_secret, &self.body)
    }

    /// The body as text (it is always ASCII).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
