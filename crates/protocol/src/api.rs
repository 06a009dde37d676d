//! The desktop API's contract: the bodies the relay's REST endpoints and its stream
//! exchange with the desktop, written once so neither side can drift from the other.
//!
//! Pure data (serde), no IO and nothing of Meta's formats: a Meta change is the relay's
//! to absorb (ARCHITECTURE.md, invariant 1). The UI's TypeScript types for the ones that
//! reach it are generated from these (`ui/src/lib/contract.ts`, checked by
//! `tests/typescript.rs`).

use crate::event::{
    Event, Media, MessageContent, SendFailure, SentAs, TemplateCategory, TemplateMessage,
    render_template,
};
use crate::ids::{IdempotencyKey, MediaId};
use crate::{ChannelKind, ChannelSettings};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The word a person types to confirm an erasure, which cannot be undone. The relay
/// refuses an erasure without it, and the desktop asks for it before it calls.
pub const ERASE_WORD: &str = "ERASE";

/// `POST /v1/contacts/{id}/erase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The word `ERASE` ([`ERASE_WORD`]), typed by the person asking.
    pub confirm: String,
}

impl EraseRequest {
    /// A request carrying the confirmation word.
    pub fn confirmed() -> Self {
        Self {
            confirm: ERASE_WORD.to_owned(),
        }
    }

    pub fn is_confirmed(&self) -> bool {
        self.confirm == ERASE_WORD
    }
}

/// What erasing a contact removed (counts only: the receipt must not hold the data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureReceipt {
    pub receipt: String,
    pub tenant: String,
    pub contact: String,
    pub channel_kind: String,
    pub events_redacted: u64,
    pub media_removed: u64,
    pub replies_removed: u64,
    pub quarantined_removed: u64,
    /// The sequence number of the `contact_erased` event.
    pub seq: u64,
}

/// What kind of file an attachment reply carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Audio,
    Video,
    Document,
}

/// A reply as an agent (or the tenant's bot) asks for it:
/// `POST /v1/conversations/{id}/replies`, under an `Idempotency-Key` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Draft {
    Text {
        text: String,
        /// The message this reply quotes (a `wamid` or `mid` of this conversation);
        /// WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reply_to: Option<String>,
    },
    /// A file the platform fetches from `url` (http(s)).
    Attachment {
        attachment: AttachmentKind,
        url: String,
        caption: Option<String>,
        filename: Option<String>,
        /// The message this reply quotes (a `wamid` or `mid` of this conversation);
        /// WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reply_to: Option<String>,
    },
    /// An approved WhatsApp template, with its body parameters in order.
    Template {
        name: String,
        language: String,
        #[serde(default)]
        parameters: Vec<String>,
        /// The message this reply quotes (a `wamid` or `mid` of this conversation);
        /// WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reply_to: Option<String>,
    },
}

impl Draft {
    /// A plain text reply that quotes nothing.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            reply_to: None,
        }
    }

    /// The message this reply quotes, if any.
    pub fn reply_to(&self) -> Option<&str> {
        match self {
            Self::Text { reply_to, .. }
            | Self::Attachment { reply_to, .. }
            | Self::Template { reply_to, .. } => reply_to.as_deref(),
        }
    }

    /// The media id an attachment reply is known by, in the log and on every desktop:
    /// `out:<idempotency key>`, the relay's record of where the file is (its URL is not an
    /// id: it may be long, and it is not what `GET /v1/media/{id}` serves).
    pub fn media_id(key: &IdempotencyKey) -> MediaId {
        MediaId::new(format!("out:{key}"))
    }

    /// The message this draft becomes, as the log (and the desktop's outbox, before the
    /// log has it) shows it. `category` and `body` (its text with `{{n}}` placeholders)
    /// are the template's, looked up by whoever holds the templates; they are ignored for
    /// other drafts. With the body, the message carries its rendered text.
    pub fn to_content(
        &self,
        key: &IdempotencyKey,
        category: TemplateCategory,
        body: Option<&str>,
    ) -> MessageContent {
        match self {
            Self::Text { text, .. } => MessageContent::Text { body: text.clone() },
            Self::Attachment {
                attachment,
                caption,
                filename,
                ..
            } => {
                let media = Media {
                    media_id: Self::media_id(key),
                    mime_type: None,
                    caption: caption.clone(),
                    filename: filename.clone(),
                    sha256: None,
                };
                match attachment {
                    AttachmentKind::Image => MessageContent::Image(media),
                    AttachmentKind::Audio => MessageContent::Audio(media),
                    AttachmentKind::Video => MessageContent::Video(media),
                    AttachmentKind::Document => MessageContent::Document(media),
                }
            }
            Self::Template {
                name,
                language,
                parameters,
                ..
            } => MessageContent::Template(TemplateMessage {
                name: name.clone(),
                language: language.clone(),
                category,
                body_parameters: parameters.clone(),
                text: body
                    .filter(|body| !body.trim().is_empty())
                    .map(|body| render_template(body, parameters)),
            }),
        }
    }
}

/// A template's category as [`TemplateInfo::category`] names it (`MARKETING`, `UTILITY`,
/// `AUTHENTICATION`); anything else counts as utility, the category no opt-out blocks.
pub fn template_category(name: &str) -> TemplateCategory {
    match name {
        "MARKETING" => TemplateCategory::Marketing,
        "AUTHENTICATION" => TemplateCategory::Authentication,
        _ => TemplateCategory::Utility,
    }
}

/// Where a reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplyState {
    /// Accepted, not yet handed to Meta (or waiting to retry after a rate limit).
    Queued,
    /// A call to Meta is in flight.
    Sending,
    /// Meta accepted it.
    Sent,
    /// Meta refused it; nothing was sent. May be retried with the same key.
    Failed,
    /// The call's outcome is unknown (a timeout, or the relay stopped mid-call): it may
    /// have gone out, so the relay will not send this key again.
    Unknown,
}

impl ReplyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }
}

/// A reply's state, as the relay answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyView {
    pub idempotency_key: String,
    pub conversation: String,
    pub state: ReplyState,
    /// `standard`, `human_agent_tag` or `template`, once decided.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub sent_as: Option<SentAs>,
    /// Meta's id, once sent.
    pub message_id: Option<String>,
    /// Why it failed, in words, with Meta's code.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub failure: Option<SendFailure>,
    pub attempts: u32,
}

/// A workflow change (`PATCH /v1/conversations/{id}`); absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkflowChange {
    /// `open`, `pending`, `snoozed` (needs `snoozed_until`) or `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// An agent id of the tenant, `me`, or `nobody`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub assignee: Option<String>,
    /// The complete new set of labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub labels: Option<BTreeSet<String>>,
}

/// A private note (`POST /v1/conversations/{id}/notes`), never sent to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
}

/// What a workflow change or a note recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recorded {
    /// The sequence numbers of the events it produced.
    pub seq: Vec<u64>,
}

/// A channel as the API shows it (never its token): `GET /v1/channels`, and the answer to
/// a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelView {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ChannelKind,
    /// Page id, Instagram account id, or WhatsApp phone number id.
    pub external_id: String,
    pub display_name: String,
    pub human_agent_approved: bool,
    /// Whether an access token is set.
    pub has_token: bool,
    /// Set when Meta rejected the token: an admin must set a new one.
    pub needs_reconnection: Option<String>,
    pub waba_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: ChannelSettings,
}

impl ChannelView {
    /// Whether the channel can send, in the shape the log's `channel_updated` events use.
    pub fn connection(&self) -> crate::event::ChannelConnection {
        match &self.needs_reconnection {
            Some(reason) => crate::event::ChannelConnection::NeedsReconnection {
                reason: reason.clone(),
            },
            None => crate::event::ChannelConnection::Connected,
        }
    }
}

/// A change to a channel (`PATCH /v1/channels/{id}`); absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub display_name: Option<String>,
    /// Write-only. Setting it also clears "needs re-connection".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub human_agent_approved: Option<bool>,
    /// The WhatsApp Business Account id (for templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub waba_id: Option<String>,
    /// The complete new settings (escalation rules, business hours, opt-out keywords,
    /// retention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[ts(optional)]
    pub settings: Option<ChannelSettings>,
}

/// A template as the desktop's composer needs it (`GET /v1/channels/{id}/templates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateInfo {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION` ([`template_category`]).
    pub category: String,
    /// How many body parameters (`{{1}}`, `{{2}}`…) it takes.
    pub parameters: usize,
    /// The body's text with its `{{n}}` placeholders: what the desktop shows, so it never
    /// needs to read Meta's component format (ARCHITECTURE.md, invariant 1).
    #[serde(default)]
    pub body: String,
}

/// Websocket close codes of `/v1/stream` (4000–4999 are the application's), in
/// docs/stream.md.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_SIGNED_OUT: u16 = 4003;
pub const CLOSE_RESYNC: u16 = 4009;

/// A frame from the relay to a desktop on `/v1/stream` (docs/stream.md). `E` is how an
/// event is carried: the relay writes `Box<Event>`; a reader may take it as raw JSON
/// first, so that one event it cannot read is told apart from a frame it cannot read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame<E = Box<Event>> {
    /// One log entry. Entries arrive in sequence order, each exactly once per connection.
    Event { seq: u64, event: E },
    /// The replay has caught up with the log's head; what follows is live.
    Live { head: u64 },
    /// Sent when nothing else was for a while; `head` is the log's last sequence.
    Heartbeat {
        #[serde(default)]
        head: u64,
    },
    /// Sent before the relay closes the stream on purpose: `internal` (close code 1011),
    /// `token_expired` ([`CLOSE_TOKEN_EXPIRED`]: refresh and resume).
    Error { code: String, message: String },
    /// The session ended ([`CLOSE_SIGNED_OUT`]): do not reconnect. `reason` is a code of
    /// docs/accounts.md; `wipe_cache` says the tenant wants this account's cache deleted.
    SignedOut {
        reason: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        wipe_cache: bool,
    },
    /// The client resumes after a sequence the log does not have ([`CLOSE_RESYNC`]): its
    /// cache does not match this log, so it must replay from 0.
    Resync { after: u64, head: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_make_one_content_of_a_draft() {
        let key = IdempotencyKey::new("k1");
        let draft = Draft::Attachment {
            attachment: AttachmentKind::Document,
            url: "https://example.com/a.pdf".into(),
            caption: Some("the invoice".into()),
            filename: Some("a.pdf".into()),
            reply_to: None,
        };
        let MessageContent::Document(media) =
            draft.to_content(&key, TemplateCategory::Utility, None)
        else {
            panic!("a document draft is a document");
        };
        assert_eq!(media.media_id.as_str(), "out:k1");
        assert_eq!(media.caption.as_deref(), Some("the invoice"));
        let template = Draft::Template {
            name: "offer".into(),
            language: "es".into(),
            parameters: vec!["Ana".into()],
            reply_to: None,
        };
        assert!(matches!(
            template.to_content(&key, template_category("MARKETING"), None),
            MessageContent::Template(TemplateMessage {
                category: TemplateCategory::Marketing,
                text: None,
                ..
            })
        ));
        let MessageContent::Template(rendered) = template.to_content(
            &key,
            TemplateCategory::Utility,
            Some("Hola {{1}}, tu oferta"),
        ) else {
            panic!("a template draft is a template");
        };
        assert_eq!(rendered.text.as_deref(), Some("Hola Ana, tu oferta"));
    }

    #[test]
    fn a_quote_travels_with_the_draft_and_is_absent_when_unused() {
        // Without a quote the JSON is what it was before quotes existed, so replies stored
        // (and hashed) earlier read and compare the same.
        assert_eq!(
            serde_json::to_string(&Draft::text("hola")).ok().as_deref(),
            Some(r#"{"kind":"text","text":"hola"}"#)
        );
        let quoting: Draft =
            serde_json::from_str(r#"{"kind":"text","text":"sí","reply_to":"wamid.A"}"#)
                .unwrap_or_else(|_| Draft::text("unreadable"));
        assert_eq!(quoting.reply_to(), Some("wamid.A"));
        assert_eq!(Draft::text("hola").reply_to(), None);
        let template: Draft = serde_json::from_str(
            r#"{"kind":"template","name":"t","language":"es","reply_to":"wamid.B"}"#,
        )
        .unwrap_or_else(|_| Draft::text("unreadable"));
        assert_eq!(template.reply_to(), Some("wamid.B"));
    }

    #[test]
    fn only_the_exact_word_confirms_an_erasure() {
        assert!(EraseRequest::confirmed().is_confirmed());
        for almost in ["erase", " ERASE", "ERASE ", "ERAS", ""] {
            assert!(
                !EraseRequest {
                    confirm: almost.into()
                }
                .is_confirmed()
            );
        }
    }

    #[test]
    fn a_channels_connection_has_the_logs_wire_shape() {
        let mut channel = ChannelView {
            id: "ch1".into(),
            kind: ChannelKind::WhatsApp,
            external_id: "111".into(),
            display_name: "Acme".into(),
            human_agent_approved: false,
            has_token: true,
            needs_reconnection: None,
            waba_id: None,
            settings: ChannelSettings::default(),
        };
        let json = |channel: &ChannelView| serde_json::to_string(&channel.connection()).ok();
        assert_eq!(json(&channel).as_deref(), Some(r#"{"state":"connected"}"#));
        channel.needs_reconnection = Some("token expired".into());
        assert_eq!(
            json(&channel).as_deref(),
            Some(r#"{"state":"needs_reconnection","reason":"token expired"}"#)
        );
    }

    #[test]
    fn a_change_sends_only_what_changed() {
        let change = WorkflowChange {
            status: Some("resolved".into()),
            ..WorkflowChange::default()
        };
        assert_eq!(
            serde_json::to_string(&change).ok().as_deref(),
            Some(r#"{"status":"resolved"}"#)
        );
        assert_eq!(
            serde_json::to_string(&ChannelPatch::default())
                .ok()
                .as_deref(),
            Some("{}")
        );
    }
}
