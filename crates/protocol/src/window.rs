//! The reply-window policy: how (and whether) a reply may go out right now.
//!
//! Pure: it is given the channel, the customer's last message time and the current time,
//! and returns a decision plus the instant that decision next changes, so the UI can count
//! down and the relay can enforce the same rule at send time.
//!
//! The rules (see ARCHITECTURE.md and the Meta reference for sources):
//! - Messenger and Instagram: a standard reply within 24 h of the customer's last message;
//!   from 24 h to 7 days only a human agent's reply, on a channel approved for the
//!   HUMAN_AGENT tag, sent tagged; after 7 days nothing.
//! - WhatsApp: free-form within 24 h; after that (or with no customer message at all) an
//!   approved template only. Marketing templates are never sent to a contact who opted out.
//!
//! Windows are half-open: a reply at exactly 24 h is outside the standard window, and one at
//! exactly 7 days is outside the HUMAN_AGENT window. Meta counts "within 24 hours", so the
//! boundary instant itself is the first one outside; erring there costs a refused send,
//! erring the other way costs a policy violation.

use crate::channel::ChannelKind;
use crate::event::TemplateCategory;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How long after the customer's last message a standard reply may go out.
pub const STANDARD_WINDOW: TimeDelta = TimeDelta::hours(24);
/// How long after the customer's last message a HUMAN_AGENT-tagged reply may go out.
pub const HUMAN_AGENT_WINDOW: TimeDelta = TimeDelta::days(7);

/// Who would write the reply. Meta forbids tagging automated messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    HumanAgent,
    Automated,
}

/// What the policy needs to know. The caller gathers it; the policy reads nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    pub channel: ChannelKind,
    /// When the customer last did something that opens the window (see
    /// [`crate::EventBody::opens_reply_window`]); `None` if they never did.
    pub last_customer_message_at: Option<DateTime<Utc>>,
    pub sender: SenderKind,
    /// Whether the channel has Meta's HUMAN_AGENT approval.
    pub human_agent_approved: bool,
    /// Whether the contact opted out of marketing messages on this channel.
    pub marketing_opted_out: bool,
}

/// How a reply may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "reason", rename_all = "snake_case")]
pub enum ReplyMode {
    /// Any message (a standard `RESPONSE` on Messenger/Instagram, free-form on WhatsApp).
    Standard,
    /// Only a human agent's reply, tagged HUMAN_AGENT.
    HumanAgent,
    /// Only an approved template (WhatsApp).
    TemplateOnly,
    /// Nothing can be sent, for the given reason.
    Closed(ClosedReason),
}

/// Why nothing can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// The customer never wrote; Messenger and Instagram allow no first message.
    NoCustomerMessage,
    /// Past 24 h only a human may reply (tagged), and this sender is automated.
    HumanAgentOnly,
    /// Past 24 h a human may reply only on a channel approved for HUMAN_AGENT.
    HumanAgentNotApproved,
    /// More than 7 days since the customer's last message.
    Expired,
}

/// Which WhatsApp templates may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateAccess {
    /// The channel has no templates (Messenger, Instagram).
    NotOnChannel,
    /// Every approved template.
    All,
    /// Utility and authentication only: the contact opted out of marketing.
    NoMarketing,
}

/// The decision for one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyWindow {
    pub mode: ReplyMode,
    /// When the current mode began; `None` if it always applied (no customer message).
    pub since: Option<DateTime<Utc>>,
    /// The next instant the mode changes if the customer writes nothing new; `None` if it
    /// never will. The mode holds on `[now, changes_at)`.
    pub changes_at: Option<DateTime<Utc>>,
    pub templates: TemplateAccess,
}

/// A reply the agent (or bot) wants to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposedReply {
    /// Text or an attachment.
    FreeForm,
    Template {
        category: TemplateCategory,
    },
}

/// How an allowed reply goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendAs {
    Standard,
    HumanAgentTag,
    Template,
}

/// Why a reply may not go out, with what the agent can do about it implied by the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// Nothing can be sent now.
    Closed { reason: ClosedReason },
    /// Only an approved template can be sent (since `since`, if the customer ever wrote).
    TemplateRequired { since: Option<DateTime<Utc>> },
    /// Templates don't exist on this channel.
    NoTemplatesOnChannel,
    /// The contact opted out of marketing; a utility template may still go.
    MarketingOptedOut,
}

/// Decides how a reply may go out at `now`.
pub fn reply_window(context: &ReplyContext, now: DateTime<Utc>) -> ReplyWindow {
    let templates = match (context.channel, context.marketing_opted_out) {
        (ChannelKind::WhatsApp, false) => TemplateAccess::All,
        (ChannelKind::WhatsApp, true) => TemplateAccess::NoMarketing,
        (ChannelKind::Messenger | ChannelKind::Instagram, _) => TemplateAccess::NotOnChannel,
    };
    let Some(last) = context.last_customer_message_at else {
        let mode = match context.channel {
            ChannelKind::WhatsApp => ReplyMode::TemplateOnly,
            _ => ReplyMode::Closed(ClosedReason::NoCustomerMessage),
        };
        return ReplyWindow {
            mode,
            since: None,
            changes_at: None,
            templates,
        };
    };
    // A timestamp ahead of our clock means our clock is behind the platform's. Counting
    // from now keeps the window no longer than the platform's own.
    let opened = last.min(now);
    let standard_ends = opened + STANDARD_WINDOW;
    let human_agent_ends = opened + HUMAN_AGENT_WINDOW;

    let (mode, since, changes_at) = if now < standard_ends {
        (ReplyMode::Standard, Some(opened), Some(standard_ends))
    } else {
        match context.channel {
            ChannelKind::WhatsApp => (ReplyMode::TemplateOnly, Some(standard_ends), None),
            ChannelKind::Messenger | ChannelKind::Instagram if now >= human_agent_ends => (
                ReplyMode::Closed(ClosedReason::Expired),
                Some(human_agent_ends),
                None,
            ),
            ChannelKind::Messenger | ChannelKind::Instagram => {
                let mode = match (context.sender, context.human_agent_approved) {
                    (SenderKind::Automated, _) => ReplyMode::Closed(ClosedReason::HumanAgentOnly),
                    (SenderKind::HumanAgent, false) => {
                        ReplyMode::Closed(ClosedReason::HumanAgentNotApproved)
                    }
                    (SenderKind::HumanAgent, true) => ReplyMode::HumanAgent,
                };
                (mode, Some(standard_ends), Some(human_agent_ends))
            }
        }
    };
    ReplyWindow {
        mode,
        since,
        changes_at,
        templates,
    }
}

impl ReplyWindow {
    /// Whether `reply` may go out under this decision, and how.
    pub fn check(&self, reply: ProposedReply) -> Result<SendAs, Refusal> {
        match reply {
            ProposedReply::Template { category } => match self.templates {
                TemplateAccess::NotOnChannel => Err(Refusal::NoTemplatesOnChannel),
                TemplateAccess::NoMarketing if category == TemplateCategory::Marketing => {
                    Err(Refusal::MarketingOptedOut)
                }
                TemplateAccess::All | TemplateAccess::NoMarketing => Ok(SendAs::Template),
            },
            ProposedReply::FreeForm => match self.mode {
                ReplyMode::Standard => Ok(SendAs::Standard),
                ReplyMode::HumanAgent => Ok(SendAs::HumanAgentTag),
                ReplyMode::TemplateOnly => Err(Refusal::TemplateRequired { since: self.since }),
                ReplyMode::Closed(reason) => Err(Refusal::Closed { reason }),
            },
        }
    }
}
