//! The event model: everything that happens in a tenant's inbox, as the relay logs it and
//! the desktop applies it.
//!
//! An [`Event`] is an envelope (who, where, when, a stable id) around an [`EventBody`]
//! (what happened). On the wire the body's fields sit beside the envelope's, tagged by
//! `type`:
//!
//! ```json
//! {"id":"…","tenant":"…","channel":"…","contact":"…","conversation":"…",
//!  "occurred_at":"2026-11-23T10:00:00Z","recorded_at":"2026-11-23T10:00:01Z",
//!  "type":"message_received","message_id":"m_1","content":{"kind":"text","body":"hola"}}
//! ```
//!
//! Events describe facts, never platform payloads: the relay turns Meta's webhooks into
//! these, and nothing here needs a Meta change to stay true.

use crate::channel::ChannelKind;
use crate::ids::{
    AgentId, ChannelId, ContactId, ConversationId, EventId, IdempotencyKey, MediaId, MessageId,
    NoteId, ReceiptId, TenantId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One entry of a tenant's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable: a redelivered webhook yields the same id, so it is stored once.
    pub id: EventId,
    pub tenant: TenantId,
    pub channel: ChannelId,
    /// The contact the event is about; `None` only for channel-level events.
    pub contact: Option<ContactId>,
    /// The conversation the event belongs to; `None` only for channel-level events.
    pub conversation: Option<ConversationId>,
    /// When it happened, by the clock of the side it happened on (the platform's
    /// timestamp for what arrives by webhook).
    pub occurred_at: DateTime<Utc>,
    /// When the relay committed it to the log.
    pub recorded_at: DateTime<Utc>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A customer wrote (or tapped a button, or arrived from an ad or link).
    MessageReceived(InboundMessage),
    /// The business sent a message: from Ventana, a bot, or another app (an echo).
    MessageSent(OutboundMessage),
    /// A sent message moved on: sent, delivered, read, or failed.
    MessageStatus {
        target: StatusTarget,
        status: DeliveryStatus,
    },
    /// Someone reacted to a message, or took a reaction back.
    Reaction {
        message_id: MessageId,
        by: Party,
        action: ReactionAction,
        /// Absent when a reaction is removed on platforms that don't repeat it.
        emoji: Option<String>,
    },
    /// The customer edited a message.
    MessageEdited {
        message_id: MessageId,
        text: String,
        /// How many times the message has been edited so far.
        edit_count: u32,
    },
    /// The customer deleted (unsent) a message; its content must no longer be shown.
    MessageUnsent { message_id: MessageId },
    /// The contact asked not to receive marketing messages on this channel.
    ContactOptedOut { source: ConsentSource },
    /// The contact asked to receive marketing messages again.
    ContactOptedIn { source: ConsentSource },
    /// The conversation's workflow changed. Only the fields that changed are present.
    ConversationUpdated {
        by: Actor,
        status: Option<ConversationStatus>,
        assignee: Option<Assignee>,
        /// The complete new set of labels.
        labels: Option<BTreeSet<String>>,
    },
    /// An agent wrote a private note (never sent to the customer).
    NoteAdded {
        note_id: NoteId,
        author: AgentId,
        text: String,
    },
    /// The conversation needs a human.
    Escalated { reason: EscalationReason },
    /// The contact's data was erased: remove everything about them.
    ContactErased { receipt: ReceiptId },
    /// A tombstone left in place of an erased contact's earlier event, so that sequence
    /// numbers stay gap-free while the content is gone.
    Redacted { receipt: ReceiptId },
    /// A channel's public settings changed (the full new snapshot).
    ChannelUpdated(ChannelSnapshot),
    /// The channel's retention ran out for everything recorded before `before`: the
    /// relay redacted that history (messages, statuses, reactions, notes, workflow; not
    /// consent) to tombstones, and every desktop removes it from its cache too.
    HistoryPurged {
        before: DateTime<Utc>,
        receipt: ReceiptId,
    },
}

impl EventBody {
    /// The name of the variant as it appears in the `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::MessageReceived(_) => "message_received",
            Self::MessageSent(_) => "message_sent",
            Self::MessageStatus { .. } => "message_status",
            Self::Reaction { .. } => "reaction",
            Self::MessageEdited { .. } => "message_edited",
            Self::MessageUnsent { .. } => "message_unsent",
            Self::ContactOptedOut { .. } => "contact_opted_out",
            Self::ContactOptedIn { .. } => "contact_opted_in",
            Self::ConversationUpdated { .. } => "conversation_updated",
            Self::NoteAdded { .. } => "note_added",
            Self::Escalated { .. } => "escalated",
            Self::ContactErased { .. } => "contact_erased",
            Self::Redacted { .. } => "redacted",
            Self::ChannelUpdated(_) => "channel_updated",
            Self::HistoryPurged { .. } => "history_purged",
        }
    }

    /// Whether this event (re)opens the customer's reply window. Every kind of inbound
    /// message counts, taps and ad arrivals included; what the business sends never does.
    pub fn opens_reply_window(&self) -> bool {
        matches!(self, Self::MessageReceived(_))
    }
}

/// A message from the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub message_id: MessageId,
    pub content: MessageContent,
    /// The customer's display name, when the platform sent one with the message.
    pub sender_name: Option<String>,
    /// The message this one quotes or answers.
    pub reply_to: Option<MessageId>,
    /// The ad or link the customer came from, when the message carried one.
    pub referral: Option<Referral>,
}

/// A message from the business.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The platform's id; `None` when the send failed before the platform accepted it.
    pub message_id: Option<MessageId>,
    /// The outbox key, for replies that went out through Ventana.
    pub idempotency_key: Option<IdempotencyKey>,
    pub content: MessageContent,
    pub sender: Sender,
    /// How the reply went out under the reply-window rules.
    pub sent_as: SentAs,
    pub reply_to: Option<MessageId>,
}

/// The content of a message, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    Image(Media),
    Audio(Media),
    Video(Media),
    Document(Media),
    Sticker(Media),
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Contact cards the customer shared.
    Contacts {
        contacts: Vec<SharedContact>,
    },
    /// A tap on a reply button or list row the business offered.
    InteractiveReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// A tap on a quick-reply button of a template.
    Button {
        payload: String,
        text: String,
    },
    /// A tap on a postback button (Get Started, persistent menu, icebreaker…).
    Postback {
        title: String,
        payload: String,
    },
    /// The customer arrived from an ad or a link without writing anything yet.
    Referral(Referral),
    /// An approved template (outbound only, WhatsApp).
    Template(TemplateMessage),
    /// Something the platform delivered that Ventana cannot show; kept, never dropped.
    Unsupported {
        description: Option<String>,
    },
}

/// An attachment. The bytes are fetched through the relay by [`MediaId`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub media_id: MediaId,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    /// Hex SHA-256 of the bytes, when the platform gave one (lets the desktop check them).
    pub sha256: Option<String>,
}

/// A contact card shared in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContact {
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

/// Where a customer came from: an ad, a link, a QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The platform's name for the source, e.g. `ADS`, `SHORTLINK`, `ad`.
    pub source: String,
    /// The `ref` parameter of a link, when present.
    pub reference: Option<String>,
    pub ad_id: Option<String>,
    pub headline: Option<String>,
    pub url: Option<String>,
}

/// A WhatsApp template as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub name: String,
    /// The template language code, e.g. `en_US`, `es`.
    pub language: String,
    pub category: TemplateCategory,
    /// The body's parameters, in order.
    pub body_parameters: Vec<String>,
    /// The body as the customer reads it, its `{{n}}` filled in ([`render_template`]),
    /// when whoever sent it knew the template's text; absent in older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A template's body with its parameters filled in: `{{1}}` is the first parameter,
/// `{{2}}` the second… (spaces inside the braces allowed, as Meta's editor writes them).
/// A placeholder without a parameter, or anything that is not one, stays as written.
pub fn render_template(body: &str, parameters: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let filled = after.find("}}").and_then(|end| {
            let n = after[..end].trim().parse::<usize>().ok()?;
            let value = parameters.get(n.checked_sub(1)?)?;
            Some((value, end))
        });
        match filled {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                // Not a placeholder here; the next brace may begin one (`{{{1}}}`).
                out.push('{');
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Meta's template categories; only marketing is blocked by an opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

/// Who sent a business message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Sender {
    /// A person, through Ventana.
    Agent { agent: AgentId },
    /// The tenant's automation, through Ventana.
    Bot,
    /// Another app on the same account (the Page inbox, the WhatsApp Business app…),
    /// seen as an echo.
    ExternalApp { app: Option<String> },
}

/// How a business message went out under the reply-window rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentAs {
    /// Inside the standard window.
    Standard,
    /// Tagged as a human agent's reply (Messenger and Instagram, 24 h to 7 days).
    HumanAgentTag,
    /// An approved template (WhatsApp).
    Template,
    /// Not known (an echo of a message sent by another app).
    Unknown,
}

/// Which messages a status is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum StatusTarget {
    /// One message, by the platform's id.
    Message { message_id: MessageId },
    /// Every business message of the conversation sent at or before the watermark (how
    /// Messenger reports deliveries and reads).
    UpTo { watermark: DateTime<Utc> },
    /// A reply Meta never accepted (so it has no platform id), by its outbox key.
    Reply { idempotency_key: IdempotencyKey },
}

/// Where a business message is on its way to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed { failure: SendFailure },
}

impl DeliveryStatus {
    /// Whether moving from `current` to `self` is progress. Statuses arrive out of order
    /// (a `delivered` after its `read`, or never at all), so they only move forward:
    /// sent < delivered < read, and a failure is final.
    pub fn supersedes(&self, current: &DeliveryStatus) -> bool {
        match (current, self) {
            (Self::Failed { .. }, _) => false,
            (_, Self::Failed { .. }) => true,
            (current, next) => next.rank() > current.rank(),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed { .. } => 4,
        }
    }
}

/// Why a send failed, in terms an agent can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendFailure {
    /// The platform's error code (e.g. 131047), kept for support and for the audit.
    pub code: i64,
    pub subcode: Option<i64>,
    /// A sentence for the agent: what went wrong.
    pub reason: String,
    /// Whether sending again later may succeed.
    pub retryable: bool,
}

/// Which side of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Customer,
    Business,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactionAction {
    Added,
    Removed,
}

/// How an opt-out or an opt-in became known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum ConsentSource {
    /// The customer wrote a keyword such as STOP or BAJA.
    Keyword { keyword: String },
    /// The platform told us (WhatsApp's marketing preferences).
    Platform,
    /// An agent recorded it by hand.
    Agent { agent: AgentId },
}

/// Who changed something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Actor {
    Agent {
        agent: AgentId,
    },
    /// The tenant's automation.
    Bot,
    /// The relay itself (a rule fired, a snooze ended).
    System,
}

/// Where a conversation is in the agents' workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    /// Waiting on something other than the customer.
    Pending,
    /// Hidden until `until`, then open again.
    Snoozed {
        until: DateTime<Utc>,
    },
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Assignee {
    Agent { agent: AgentId },
    Nobody,
}

/// Why a conversation was escalated to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum EscalationReason {
    /// The customer wrote a keyword such as "human" or "agente".
    Keyword { keyword: String },
    /// The customer has waited longer than the channel allows.
    CustomerWaiting { minutes: u32 },
    /// The reply window closes soon and the customer has no answer.
    WindowClosing { closes_at: DateTime<Utc> },
    /// A reply could not be sent.
    SendFailed { failure: SendFailure },
    /// The tenant's bot handed the conversation over.
    BotHandoff { note: Option<String> },
}

/// A channel's settings as every desktop may see them (tokens never appear here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    pub kind: ChannelKind,
    pub display_name: String,
    pub connection: ChannelConnection,
    /// Whether the channel may send HUMAN_AGENT-tagged replies (Meta's approval).
    pub human_agent_approved: bool,
    #[serde(default)]
    pub settings: crate::settings::ChannelSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChannelConnection {
    Connected,
    /// The platform rejected the channel's token; an admin must reconnect it.
    NeedsReconnection {
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_their_parameters_in_place() {
        let p = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        let cases: &[(&str, &[&str], &str)] = &[
            ("Hola {{1}}", &["Rosa"], "Hola Rosa"),
            (
                "Hi {{1}}, order {{2}} ships {{3}}.",
                &["Ana", "#42", "today"],
                "Hi Ana, order #42 ships today.",
            ),
            ("{{2}} before {{1}}", &["b", "a"], "a before b"),
            ("twice {{1}} {{1}}", &["x"], "twice x x"),
            ("spaces {{ 1 }}", &["ok"], "spaces ok"),
            ("missing {{2}}", &["only one"], "missing {{2}}"),
            ("zero {{0}}", &["x"], "zero {{0}}"),
            ("not a number {{name}}", &["x"], "not a number {{name}}"),
            ("unclosed {{1", &["x"], "unclosed {{1"),
            ("no placeholders", &["x"], "no placeholders"),
            ("", &[], ""),
            ("ñandú {{1}}… ✓", &["café"], "ñandú café… ✓"),
            // A parameter is text, never read as a placeholder again.
            ("{{1}} and {{2}}", &["{{2}}", "b"], "{{2}} and b"),
            ("braces {{{1}}}", &["x"], "braces {x}"),
        ];
        for (body, parameters, want) in cases {
            assert_eq!(render_template(body, &p(parameters)), *want, "{body:?}");
        }
    }

    fn failed() -> DeliveryStatus {
        DeliveryStatus::Failed {
            failure: SendFailure {
                code: 131026,
                subcode: None,
                reason: "undeliverable".into(),
                retryable: false,
            },
        }
    }

    #[test]
    fn statuses_only_move_forward_and_failure_is_final() {
        use DeliveryStatus::*;
        let cases = [
            (Sent, Delivered, true),
            (Delivered, Read, true),
            (Sent, Read, true), // WhatsApp may skip `delivered`
            (Read, Delivered, false),
            (Delivered, Sent, false),
            (Read, Read, false),
            (Sent, failed(), true),
            (Read, failed(), true),
            (failed(), Read, false),
            (failed(), failed(), false),
        ];
        for (current, next, expected) in cases {
            assert_eq!(
                next.supersedes(&current),
                expected,
                "{next:?} after {current:?}"
            );
        }
    }

    #[test]
    fn only_inbound_messages_open_the_reply_window() {
        let inbound = EventBody::MessageReceived(InboundMessage {
            message_id: "m1".into(),
            content: MessageContent::Text { body: "hi".into() },
            sender_name: None,
            reply_to: None,
            referral: None,
        });
        let outbound = EventBody::MessageSent(OutboundMessage {
            message_id: Some("m2".into()),
            idempotency_key: None,
            content: MessageContent::Text {
                body: "hello".into(),
            },
            sender: Sender::Bot,
            sent_as: SentAs::Standard,
            reply_to: None,
        });
        assert!(inbound.opens_reply_window());
        assert!(!outbound.opens_reply_window());
        assert!(
            !EventBody::MessageUnsent {
                message_id: "m1".into()
            }
            .opens_reply_window()
        );
    }
}
