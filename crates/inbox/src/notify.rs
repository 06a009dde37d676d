//! Desktop notifications: which events deserve one ([`notice_for`], a pure decision) and
//! showing them ([`DesktopNotifier`], through `notify-rust`).
//!
//! An agent is told about two things: an escalation (a conversation needs a human), and a
//! new customer message in a conversation assigned to them. Nothing else: a notification
//! the agent learns to ignore is worse than none. While a backlog replays after being
//! offline, only what happened in the last few minutes notifies; the inbox shows the rest.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use ventana_protocol::event::{EscalationReason, InboundMessage, Media, MessageContent};
use ventana_protocol::ids::{AgentId, ConversationId};
use ventana_protocol::{Event, EventBody};

/// The application name notification servers show and group by.
pub const APP_NAME: &str = "Ventana";

/// While catching up, an event older than this (by `occurred_at`) notifies no one: it was
/// missed while offline and the inbox lists it; a burst of stale pop-ups helps nobody.
pub const CATCH_UP_HORIZON: TimeDelta = TimeDelta::minutes(5);

/// The longest preview a notice body gets, in characters (servers truncate differently;
/// this keeps the useful start of a long message on every platform).
pub const PREVIEW_CHARS: usize = 140;

/// What the decision needs to know besides the event.
#[derive(Debug, Clone)]
pub struct NoticeContext<'a> {
    /// The account (relay + tenant + agent) the event came from; an opened notice goes back
    /// to it.
    pub account: &'a str,
    /// The account's name for people, added to the body so an agent with several accounts
    /// knows which one; pass `""` when only one account is signed in.
    pub account_label: &'a str,
    /// The agent signed in to this account.
    pub my_agent: &'a AgentId,
    /// The conversation's assignee after applying the event.
    pub assignee: Option<&'a AgentId>,
    /// The contact's name as the cache knows it.
    pub contact_name: Option<&'a str>,
    /// The agent muted this conversation (or the account).
    pub muted: bool,
    pub now: DateTime<Utc>,
    /// `false` while catching up on a backlog, `true` once events arrive as they happen.
    pub live: bool,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub account: String,
    pub conversation: ConversationId,
    pub kind: NoticeKind,
    pub summary: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A conversation needs a human.
    Escalation,
    /// A customer wrote in a conversation assigned to this agent.
    AssignedMessage,
}

/// The notice `event` deserves, if any.
pub fn notice_for(event: &Event, context: &NoticeContext<'_>) -> Option<Notice> {
    if context.muted {
        return None;
    }
    let conversation = event.conversation.as_ref()?;
    // Live events always notify, even if the platform's clock says they are older (a
    // delayed webhook is still news to the agent).
    if !context.live && context.now - event.occurred_at > CATCH_UP_HORIZON {
        return None;
    }
    let (kind, summary, text) = match &event.body {
        EventBody::Escalated { reason } => (
            NoticeKind::Escalation,
            format!("Escalated: {}", customer_name(context, None)),
            escalation_text(reason, context.now),
        ),
        EventBody::MessageReceived(message) if context.assignee == Some(context.my_agent) => (
            NoticeKind::AssignedMessage,
            customer_name(context, Some(message)).to_owned(),
            message_preview(&message.content),
        ),
        _ => return None,
    };
    let mut body = truncate(&text, PREVIEW_CHARS);
    let label = context.account_label.trim();
    if !label.is_empty() {
        body.push('\n');
        body.push_str(label);
    }
    Some(Notice {
        account: context.account.to_owned(),
        conversation: conversation.clone(),
        kind,
        summary,
        body,
    })
}

/// The contact's name: the cache's, else the one the message carried, else a neutral word.
fn customer_name<'a>(context: &NoticeContext<'a>, message: Option<&'a InboundMessage>) -> &'a str {
    let nonblank = |name: &&str| !name.trim().is_empty();
    context
        .contact_name
        .filter(nonblank)
        .or_else(|| {
            message
                .and_then(|m| m.sender_name.as_deref())
                .filter(nonblank)
        })
        .map(str::trim)
        .unwrap_or("A customer")
}

/// Why a conversation was escalated, in a sentence.
fn escalation_text(reason: &EscalationReason, now: DateTime<Utc>) -> String {
    match reason {
        EscalationReason::Keyword { keyword } => {
            format!("Asked for a person: the customer wrote “{keyword}”.")
        }
        EscalationReason::CustomerWaiting { minutes } => {
            format!("Waiting for an answer for {}.", duration_words(*minutes))
        }
        EscalationReason::WindowClosing { closes_at } => {
            let time = if closes_at.date_naive() == now.date_naive() {
                closes_at.format("%H:%M UTC").to_string()
            } else {
                closes_at.format("%H:%M UTC on %-d %b").to_string()
            };
            if *closes_at > now {
                format!("Unanswered; the reply window closes at {time}.")
            } else {
                format!("Unanswered; the reply window closed at {time}.")
            }
        }
        EscalationReason::SendFailed { failure } => {
            format!("A reply could not be sent: {}", failure.reason.trim())
        }
        EscalationReason::BotHandoff { note } => match note.as_deref().map(str::trim) {
            Some(note) if !note.is_empty() => format!("The bot handed over: {note}"),
            _ => "The bot handed the conversation over.".to_owned(),
        },
    }
}

fn duration_words(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("{minutes} min"),
        (hours, 0) => format!("{hours} h"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

/// A one-line preview of what the customer sent.
fn message_preview(content: &MessageContent) -> String {
    fn media(icon_and_name: &str, media: &Media) -> String {
        match media.caption.as_deref().map(str::trim) {
            Some(caption) if !caption.is_empty() => format!("{icon_and_name}: {caption}"),
            _ => icon_and_name.to_owned(),
        }
    }
    let text = match content {
        MessageContent::Text { body } => body.clone(),
        MessageContent::Image(m) => media("📷 Photo", m),
        MessageContent::Audio(m) => media("🎤 Voice message", m),
        MessageContent::Video(m) => media("🎥 Video", m),
        MessageContent::Sticker(_) => "💟 Sticker".to_owned(),
        MessageContent::Document(m) => match (m.filename.as_deref(), m.caption.as_deref()) {
            (Some(name), _) if !name.trim().is_empty() => format!("📄 Document: {}", name.trim()),
            (_, Some(caption)) if !caption.trim().is_empty() => {
                format!("📄 Document: {}", caption.trim())
            }
            _ => "📄 Document".to_owned(),
        },
        MessageContent::Location { name, address, .. } => {
            match name.as_deref().or(address.as_deref()) {
                Some(place) if !place.trim().is_empty() => {
                    format!("📍 Location: {}", place.trim())
                }
                _ => "📍 Location".to_owned(),
            }
        }
        MessageContent::Contacts { contacts } => match contacts.as_slice() {
            [one] => format!("👤 Contact: {}", one.name),
            many => format!("👤 {} contacts", many.len()),
        },
        MessageContent::InteractiveReply { title, .. } => title.clone(),
        MessageContent::Button { text, .. } => text.clone(),
        MessageContent::Postback { title, .. } => title.clone(),
        MessageContent::Referral(referral) => match referral.headline.as_deref() {
            Some(headline) if !headline.trim().is_empty() => {
                format!("Arrived from an ad: {}", headline.trim())
            }
            _ => "Arrived from an ad or a link".to_owned(),
        },
        MessageContent::Template(template) => template
            .text
            .clone()
            .unwrap_or_else(|| format!("Template: {}", template.name)),
        MessageContent::Unsupported { .. } => {
            "Sent something Ventana can't show; open the conversation".to_owned()
        }
    };
    // A notification is one glance: line breaks and runs of spaces become single spaces.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, cut on a character boundary, with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", keep.trim_end())
        }
    }
}

/// Clicking a notice asks the app to open this conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenRequest {
    pub account: String,
    pub conversation: ConversationId,
}

/// Why a notification could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No notification service to show it (none running, or no session bus).
    #[error("{0}")]
    Unavailable(String),
}

/// Shows notices to the user.
pub trait Notifier: Send + Sync + fmt::Debug {
    fn show(&self, notice: &Notice) -> Result<(), NotifyError>;
}

/// The desktop's own notifications: the freedesktop notification service on Linux (over
/// D-Bus), Notification Center on macOS, toasts on Windows.
///
/// `show` blocks for a D-Bus round trip on Linux: call it from a blocking context (e.g.
/// `spawn_blocking`), not from an async task.
pub struct DesktopNotifier {
    // Only the freedesktop service reports clicks to us; elsewhere it is kept unused.
    #[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
    on_open: Arc<dyn Fn(OpenRequest) + Send + Sync>,
    /// Whether the server interprets markup in bodies (asked once, on the first success).
    #[cfg(all(unix, not(target_os = "macos")))]
    body_markup: std::sync::Mutex<Option<bool>>,
}

impl fmt::Debug for DesktopNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DesktopNotifier").finish_non_exhaustive()
    }
}

impl DesktopNotifier {
    /// `on_open` is called (on a background thread) when the user clicks a notice.
    /// Clicks are reported on Linux; elsewhere notices are only shown.
    pub fn new(on_open: impl Fn(OpenRequest) + Send + Sync + 'static) -> Self {
        Self {
            on_open: Arc::new(on_open),
            #[cfg(all(unix, not(target_os = "macos")))]
            body_markup: std::sync::Mutex::new(None),
        }
    }
}

impl Notifier for DesktopNotifier {
    #[cfg(all(unix, not(target_os = "macos")))]
    fn show(&self, notice: &Notice) -> Result<(), NotifyError> {
        use notify_rust::{Hint, Notification, Urgency};

        // Bodies may be interpreted as markup: a customer's "<b>" or "&" must show as typed.
        let body = if self.server_reads_markup()? {
            escape_markup(&notice.body)
        } else {
            notice.body.clone()
        };
        let (urgency, category) = match notice.kind {
            // Critical: the server keeps it on screen until the agent deals with it.
            NoticeKind::Escalation => (Urgency::Critical, "im"),
            NoticeKind::AssignedMessage => (Urgency::Normal, "im.received"),
        };
        let handle = Notification::new()
            .appname(APP_NAME)
            .summary(&notice.summary)
            .body(&body)
            .action("default", "Open")
            .urgency(urgency)
            .hint(Hint::Category(category.to_owned()))
            .show()
            .map_err(unavailable)?;

        // The click arrives as a D-Bus signal on the connection that showed the notice, so
        // a thread keeps that connection and waits; it ends when the notice is clicked or
        // closed (or expires). One thread per notice on screen is few.
        let on_open = Arc::clone(&self.on_open);
        let request = OpenRequest {
            account: notice.account.clone(),
            conversation: notice.conversation.clone(),
        };
        let waiter = std::thread::Builder::new()
            .name("notification-click".to_owned())
            .spawn(move || {
                handle.wait_for_action(|action| {
                    if action == "default" {
                        on_open(request);
                    }
                });
            });
        if let Err(error) = waiter {
            // The notice is on screen; only its click will do nothing. Not worth failing.
            tracing::warn!(%error, "cannot wait for a notification click");
        }
        Ok(())
    }

    #[cfg(not(all(unix, not(target_os = "macos"))))]
    fn show(&self, notice: &Notice) -> Result<(), NotifyError> {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname(APP_NAME)
            .summary(&notice.summary)
            .body(&notice.body)
            .action("default", "Open");
        #[cfg(target_os = "windows")]
        notification.urgency(match notice.kind {
            NoticeKind::Escalation => notify_rust::Urgency::Critical,
            NoticeKind::AssignedMessage => notify_rust::Urgency::Normal,
        });
        notification.show().map(drop).map_err(unavailable)
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
impl DesktopNotifier {
    fn server_reads_markup(&self) -> Result<bool, NotifyError> {
        let mut known = self
            .body_markup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(markup) = *known {
            return Ok(markup);
        }
        let capabilities = notify_rust::get_capabilities().map_err(unavailable)?;
        let markup = capabilities.iter().any(|c| c == "body-markup");
        *known = Some(markup);
        Ok(markup)
    }
}

/// The three characters the notification spec's markup gives meaning to.
#[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
fn escape_markup(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(all(unix, not(target_os = "macos")))]
fn unavailable(error: notify_rust::error::Error) -> NotifyError {
    NotifyError::Unavailable(format!(
        "Desktop notifications are not available (no notification service answered on the \
         session bus): {error}. Escalations still appear in the inbox."
    ))
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn unavailable(error: notify_rust::error::Error) -> NotifyError {
    NotifyError::Unavailable(format!(
        "Desktop notifications could not be shown: {error}. Escalations still appear in the \
         inbox."
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ventana_protocol::event::{
        Actor, OutboundMessage, Referral, SendFailure, Sender, SentAs, SharedContact,
    };

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    fn event(body: EventBody, occurred_at: DateTime<Utc>) -> Event {
        Event {
            id: "ev-1".into(),
            tenant: "acme".into(),
            channel: "wa-1".into(),
            contact: Some("contact-1".into()),
            conversation: Some("conv-1".into()),
            occurred_at,
            recorded_at: occurred_at,
            body,
        }
    }

    fn text(body: &str) -> EventBody {
        content(MessageContent::Text { body: body.into() })
    }

    fn content(content: MessageContent) -> EventBody {
        EventBody::MessageReceived(InboundMessage {
            message_id: "m-1".into(),
            content,
            sender_name: None,
            reply_to: None,
            referral: None,
        })
    }

    fn escalated(reason: EscalationReason) -> EventBody {
        EventBody::Escalated { reason }
    }

    fn media(caption: Option<&str>, filename: Option<&str>) -> Media {
        Media {
            media_id: "media-1".into(),
            mime_type: None,
            caption: caption.map(Into::into),
            filename: filename.map(Into::into),
            sha256: None,
        }
    }

    /// A live context for agent-1, assigned, with the contact named "Ana García".
    fn context(me: &AgentId) -> NoticeContext<'_> {
        NoticeContext {
            account: "relay|acme|agent-1",
            account_label: "",
            my_agent: me,
            assignee: Some(me),
            contact_name: Some("Ana García"),
            muted: false,
            now: at(12, 0),
            live: true,
        }
    }

    fn notice(body: EventBody) -> Option<Notice> {
        let me = AgentId::from("agent-1");
        notice_for(&event(body, at(11, 59)), &context(&me))
    }

    fn body_of(body: EventBody) -> String {
        notice(body).unwrap().body
    }

    #[test]
    fn an_escalation_says_who_and_why() {
        let n = notice(escalated(EscalationReason::Keyword {
            keyword: "humano".into(),
        }))
        .unwrap();
        assert_eq!(n.kind, NoticeKind::Escalation);
        assert_eq!(n.summary, "Escalated: Ana García");
        assert_eq!(n.body, "Asked for a person: the customer wrote “humano”.");
        assert_eq!(n.account, "relay|acme|agent-1");
        assert_eq!(n.conversation.as_str(), "conv-1");
    }

    #[test]
    fn every_escalation_reason_is_explained() {
        let waiting = |minutes| body_of(escalated(EscalationReason::CustomerWaiting { minutes }));
        assert_eq!(waiting(45), "Waiting for an answer for 45 min.");
        assert_eq!(waiting(120), "Waiting for an answer for 2 h.");
        assert_eq!(waiting(125), "Waiting for an answer for 2 h 5 min.");

        let closing = |closes_at| body_of(escalated(EscalationReason::WindowClosing { closes_at }));
        assert_eq!(
            closing(at(14, 30)),
            "Unanswered; the reply window closes at 14:30 UTC."
        );
        assert_eq!(
            closing(Utc.with_ymd_and_hms(2026, 11, 24, 9, 5, 0).unwrap()),
            "Unanswered; the reply window closes at 09:05 UTC on 24 Nov."
        );
        assert_eq!(
            closing(at(11, 0)),
            "Unanswered; the reply window closed at 11:00 UTC."
        );

        assert_eq!(
            body_of(escalated(EscalationReason::SendFailed {
                failure: SendFailure {
                    code: 131047,
                    subcode: None,
                    reason: "More than 24 hours have passed since the customer last replied."
                        .into(),
                    retryable: false,
                },
            })),
            "A reply could not be sent: More than 24 hours have passed since the customer last replied."
        );
        assert_eq!(
            body_of(escalated(EscalationReason::BotHandoff {
                note: Some("wants a refund".into())
            })),
            "The bot handed over: wants a refund"
        );
        assert_eq!(
            body_of(escalated(EscalationReason::BotHandoff { note: None })),
            "The bot handed the conversation over."
        );
    }

    #[test]
    fn escalations_notify_whoever_the_conversation_is_assigned_to() {
        let (me, other) = (AgentId::from("agent-1"), AgentId::from("agent-2"));
        let e = event(
            escalated(EscalationReason::CustomerWaiting { minutes: 30 }),
            at(11, 59),
        );
        for assignee in [None, Some(&other)] {
            let context = NoticeContext {
                assignee,
                ..context(&me)
            };
            assert_eq!(
                notice_for(&e, &context).unwrap().kind,
                NoticeKind::Escalation
            );
        }
    }

    #[test]
    fn a_message_in_my_conversation_notifies_with_a_preview() {
        let n = notice(text("Hola, ¿mi pedido\n\nllegó?")).unwrap();
        assert_eq!(n.kind, NoticeKind::AssignedMessage);
        assert_eq!(n.summary, "Ana García");
        assert_eq!(n.body, "Hola, ¿mi pedido llegó?");
    }

    #[test]
    fn messages_in_other_conversations_do_not_notify() {
        let (me, other) = (AgentId::from("agent-1"), AgentId::from("agent-2"));
        for assignee in [None, Some(&other)] {
            let context = NoticeContext {
                assignee,
                ..context(&me)
            };
            assert_eq!(notice_for(&event(text("hola"), at(11, 59)), &context), None);
        }
    }

    #[test]
    fn the_name_falls_back_to_the_sender_then_a_customer() {
        let mut message = InboundMessage {
            message_id: "m".into(),
            content: MessageContent::Text { body: "hi".into() },
            sender_name: Some("Ana (WhatsApp)".into()),
            reply_to: None,
            referral: None,
        };
        let me = AgentId::from("agent-1");
        let nameless = NoticeContext {
            contact_name: None,
            ..context(&me)
        };
        let summary = |message: &InboundMessage| {
            let e = event(EventBody::MessageReceived(message.clone()), at(11, 59));
            notice_for(&e, &nameless).unwrap().summary
        };
        assert_eq!(summary(&message), "Ana (WhatsApp)");
        message.sender_name = Some("  ".into());
        assert_eq!(summary(&message), "A customer");
        let blank = NoticeContext {
            contact_name: Some(""),
            ..context(&me)
        };
        let e = event(
            escalated(EscalationReason::BotHandoff { note: None }),
            at(11, 59),
        );
        let escalation = notice_for(&e, &blank).unwrap().summary;
        assert_eq!(escalation, "Escalated: A customer");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "ñ".repeat(300);
        let body = body_of(text(&long));
        assert_eq!(body.chars().count(), PREVIEW_CHARS);
        assert!(body.ends_with('…'));
        assert!(body.starts_with("ññ"));
        // Exactly the limit is kept whole.
        let exact = "é".repeat(PREVIEW_CHARS);
        assert_eq!(body_of(text(&exact)), exact);
        // Emoji (4 bytes each) are never split.
        let emoji = "😀".repeat(200);
        assert_eq!(body_of(text(&emoji)).chars().count(), PREVIEW_CHARS);
    }

    #[test]
    fn media_and_other_contents_have_readable_previews() {
        let cases = [
            (MessageContent::Image(media(None, None)), "📷 Photo"),
            (
                MessageContent::Image(media(Some("la factura"), None)),
                "📷 Photo: la factura",
            ),
            (MessageContent::Audio(media(None, None)), "🎤 Voice message"),
            (MessageContent::Video(media(None, None)), "🎥 Video"),
            (MessageContent::Sticker(media(None, None)), "💟 Sticker"),
            (
                MessageContent::Document(media(Some("mi factura"), Some("factura.pdf"))),
                "📄 Document: factura.pdf",
            ),
            (
                MessageContent::Document(media(Some("mi factura"), None)),
                "📄 Document: mi factura",
            ),
            (MessageContent::Document(media(None, None)), "📄 Document"),
            (
                MessageContent::Location {
                    latitude: 40.4,
                    longitude: -3.7,
                    name: Some("Tienda Centro".into()),
                    address: None,
                },
                "📍 Location: Tienda Centro",
            ),
            (
                MessageContent::Location {
                    latitude: 40.4,
                    longitude: -3.7,
                    name: None,
                    address: None,
                },
                "📍 Location",
            ),
            (
                MessageContent::Contacts {
                    contacts: vec![SharedContact {
                        name: "Luis".into(),
                        phones: vec![],
                        emails: vec![],
                    }],
                },
                "👤 Contact: Luis",
            ),
            (
                MessageContent::InteractiveReply {
                    id: "b1".into(),
                    title: "Track my order".into(),
                    description: None,
                },
                "Track my order",
            ),
            (
                MessageContent::Button {
                    payload: "p".into(),
                    text: "Yes, please".into(),
                },
                "Yes, please",
            ),
            (
                MessageContent::Postback {
                    title: "Get Started".into(),
                    payload: "GET_STARTED".into(),
                },
                "Get Started",
            ),
            (
                MessageContent::Referral(Referral {
                    source: "ADS".into(),
                    reference: None,
                    ad_id: Some("ad-1".into()),
                    headline: Some("Rebajas".into()),
                    url: None,
                }),
                "Arrived from an ad: Rebajas",
            ),
            (
                MessageContent::Unsupported { description: None },
                "Sent something Ventana can't show; open the conversation",
            ),
        ];
        for (content_, expected) in cases {
            assert_eq!(body_of(content(content_)), expected);
        }
    }

    #[test]
    fn the_account_label_goes_on_its_own_line() {
        let me = AgentId::from("agent-1");
        let labelled = NoticeContext {
            account_label: "Acme Soporte",
            ..context(&me)
        };
        let n = notice_for(&event(text("hola"), at(11, 59)), &labelled).unwrap();
        assert_eq!(n.body, "hola\nAcme Soporte");
    }

    #[test]
    fn muted_conversations_never_notify() {
        let me = AgentId::from("agent-1");
        let muted = NoticeContext {
            muted: true,
            ..context(&me)
        };
        for body in [
            text("hola"),
            escalated(EscalationReason::Keyword {
                keyword: "agente".into(),
            }),
        ] {
            assert_eq!(notice_for(&event(body, at(11, 59)), &muted), None);
        }
    }

    #[test]
    fn events_without_a_conversation_never_notify() {
        let me = AgentId::from("agent-1");
        let mut e = event(
            escalated(EscalationReason::CustomerWaiting { minutes: 30 }),
            at(11, 59),
        );
        e.conversation = None;
        assert_eq!(notice_for(&e, &context(&me)), None);
    }

    #[test]
    fn while_catching_up_only_recent_events_notify() {
        let me = AgentId::from("agent-1");
        let replayed = |occurred_at, live| {
            let e = event(
                escalated(EscalationReason::CustomerWaiting { minutes: 30 }),
                occurred_at,
            );
            notice_for(
                &e,
                &NoticeContext {
                    live,
                    ..context(&me)
                },
            )
        };
        // now is 12:00; the horizon is five minutes, inclusive.
        assert!(replayed(at(11, 55), false).is_some());
        assert!(replayed(at(11, 59), false).is_some());
        assert!(replayed(at(11, 54), false).is_none());
        assert!(replayed(at(8, 0), false).is_none());
        // Once live, even an event the platform dates long ago notifies.
        assert!(replayed(at(8, 0), true).is_some());
        let catching_up = NoticeContext {
            live: false,
            ..context(&me)
        };
        assert_eq!(
            notice_for(&event(text("hola"), at(9, 0)), &catching_up),
            None
        );
        assert!(notice_for(&event(text("hola"), at(11, 58)), &catching_up).is_some());
    }

    #[test]
    fn other_events_never_notify() {
        let me = AgentId::from("agent-1");
        let bodies = [
            EventBody::MessageSent(OutboundMessage {
                message_id: Some("m-2".into()),
                idempotency_key: None,
                content: MessageContent::Text { body: "hi".into() },
                sender: Sender::Agent { agent: me.clone() },
                sent_as: SentAs::Standard,
                reply_to: None,
            }),
            EventBody::NoteAdded {
                note_id: "n-1".into(),
                author: "agent-2".into(),
                text: "call her".into(),
            },
            EventBody::ConversationUpdated {
                by: Actor::System,
                status: None,
                assignee: None,
                labels: None,
            },
            EventBody::MessageUnsent {
                message_id: "m-1".into(),
            },
        ];
        for body in bodies {
            assert_eq!(notice(body), None);
        }
    }

    #[test]
    fn notices_serialize_for_the_ui() {
        let n = notice(text("hola")).unwrap();
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "assigned_message");
        assert_eq!(json["conversation"], "conv-1");
        assert_eq!(json["summary"], "Ana García");
    }

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape_markup("<b>5 > 3 & 2 < 4</b>"),
            "&lt;b&gt;5 &gt; 3 &amp; 2 &lt; 4&lt;/b&gt;"
        );
    }
}
