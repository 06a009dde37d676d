//! Replies: from an agent's (or bot's) request to Meta and back into the log.
//!
//! 1. The reply is checked (shape, the channel's limits, the template) and the
//!    reply-window policy of `ventana_protocol` is applied with the current time; a
//!    refusal says why and what the agent can do, and nothing is stored.
//! 2. Its idempotency key is reserved in the store (invariant 6): a key already used
//!    answers with that reply's state and never sends again. A reply that *failed* (Meta
//!    refused it, so nothing went out) may be retried under the same key.
//! 3. A task sends it: the key is marked `sending` (committed) before the call, so a relay
//!    that stops mid-call finds it on restart and, not knowing whether Meta took it,
//!    records the outcome as unknown instead of sending twice. Rate limits are retried
//!    with exponential backoff and jitter (4^n for WhatsApp's pair limit, reference §5d).
//! 4. The outcome is appended to the log with the state change, in one transaction: sent
//!    (with Meta's id, under the same event id Meta's echo will have, so the echo is not
//!    shown twice) or failed (with Meta's code and a reason in words). A 190 marks the
//!    channel as needing re-connection, which every desktop sees.

use crate::credentials::{channel_credentials, token_rejected};
use crate::error::{ApiError, blocking};
use crate::graph::{Credentials, GraphError, Outgoing};
use crate::meta_error::failure_from_meta;
use crate::state::{AppState, ReplySettings};
use crate::store::{
    AuditRecord, ConversationState, MediaRecord, NewEvent, ReplyOutcome, ReplyRecord, ReplyState,
    Reservation, Template,
};
use crate::templates::{body_parameter_count, body_text};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use ventana_protocol::api::{Draft, ReplyView, template_category};
use ventana_protocol::event::{
    DeliveryStatus, EscalationReason, MessageContent, OutboundMessage, SendFailure, Sender, SentAs,
    StatusTarget, TemplateCategory,
};
use ventana_protocol::ids::{EventId, IdempotencyKey, MessageId};
use ventana_protocol::window::{
    ClosedReason, ProposedReply, Refusal, ReplyContext, ReplyWindow, SendAs, SenderKind,
};
use ventana_protocol::{ChannelKind, EventBody, reply_window};

/// Who is replying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replier {
    pub sender: Sender,
    /// For the audit log: `agent:<id>` or `bot:<name>`.
    pub actor: String,
}

impl Replier {
    fn kind(&self) -> SenderKind {
        match self.sender {
            Sender::Agent { .. } => SenderKind::HumanAgent,
            Sender::Bot | Sender::ExternalApp { .. } => SenderKind::Automated,
        }
    }
}

impl From<&ReplyRecord> for ReplyView {
    fn from(record: &ReplyRecord) -> Self {
        Self {
            idempotency_key: record.key.to_string(),
            conversation: record.conversation.to_string(),
            state: record.state,
            sent_as: record.sent_as,
            message_id: record.message_id.clone(),
            failure: record.failure.clone(),
            attempts: record.attempts,
        }
    }
}

/// Meta's text limits (reference §5b: Instagram 1000 bytes, Messenger 2000 characters,
/// both UNVERIFIED; WhatsApp's text body is documented at 4096 characters).
fn check_text(kind: ChannelKind, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("the reply is empty".into());
    }
    let too_long = match kind {
        ChannelKind::Instagram => (text.len() > 1000).then_some("1000 bytes on Instagram"),
        ChannelKind::Messenger => {
            (text.chars().count() > 2000).then_some("2000 characters on Messenger")
        }
        ChannelKind::WhatsApp => {
            (text.chars().count() > 4096).then_some("4096 characters on WhatsApp")
        }
    };
    match too_long {
        Some(limit) => Err(format!("the reply is longer than Meta allows ({limit})")),
        None => Ok(()),
    }
}

/// A draft checked against the channel: what to send, and what the log will show.
struct Checked {
    payload: Draft,
    content: MessageContent,
    proposed: ProposedReply,
    media: Vec<MediaRecord>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_reply", message)
}

fn check_draft(
    draft: &Draft,
    conversation: &ConversationState,
    templates: &[Template],
    key: &IdempotencyKey,
) -> Result<Checked, ApiError> {
    let kind = conversation.channel.kind;
    // What the agent proposes (for the window policy), the template's category and the
    // attachment's record: the content the log shows is the contract's
    // (`Draft::to_content`), the same the desktop's outbox shows before the log has it.
    let mut body = None;
    let (proposed, category, media) = match draft {
        Draft::Text { text, .. } => {
            check_text(kind, text).map_err(invalid)?;
            (
                ProposedReply::FreeForm,
                TemplateCategory::Utility,
                Vec::new(),
            )
        }
        Draft::Attachment { url, caption, .. } => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| invalid(format!("the attachment url {url:?} is not a URL")))?;
            if parsed.scheme() != "https" && parsed.scheme() != "http" {
                return Err(invalid("the attachment url must be http(s)"));
            }
            if let Some(caption) = caption {
                check_text(kind, caption).map_err(|e| invalid(format!("caption: {e}")))?;
            }
            (
                ProposedReply::FreeForm,
                TemplateCategory::Utility,
                vec![MediaRecord {
                    id: Draft::media_id(key),
                    source_kind: "url",
                    source: url.clone(),
                }],
            )
        }
        Draft::Template {
            name,
            language,
            parameters,
            ..
        } => {
            if kind != ChannelKind::WhatsApp {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "reply_refused",
                    refusal_message(&Refusal::NoTemplatesOnChannel, None, Utc::now()),
                ));
            }
            let template = templates
                .iter()
                .find(|t| &t.name == name && &t.language == language)
                .ok_or_else(|| {
                    invalid(format!(
                        "no template {name:?} in {language:?} on this channel; refresh the templates if it was just approved"
                    ))
                })?;
            if template.status != "APPROVED" {
                return Err(invalid(format!(
                    "template {name:?} ({language}) is {}; only approved templates can be sent",
                    template.status.to_lowercase()
                )));
            }
            let expected = body_parameter_count(&template.components);
            if parameters.len() != expected {
                return Err(invalid(format!(
                    "template {name:?} takes {expected} body parameters; {} were given",
                    parameters.len()
                )));
            }
            if parameters.iter().any(|p| p.trim().is_empty()) {
                return Err(invalid("template parameters cannot be empty"));
            }
            let category = template_category(&template.category);
            body = Some(body_text(&template.components));
            (ProposedReply::Template { category }, category, Vec::new())
        }
    };
    Ok(Checked {
        payload: draft.clone(),
        content: draft.to_content(key, category, body.as_deref()),
        proposed,
        media,
    })
}

/// "3 h", "2 d 4 h", "45 min".
pub fn span(delta: TimeDelta) -> String {
    let minutes = delta.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h"),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// Why a reply cannot go out and what the agent can do, in a sentence.
pub fn refusal_message(
    refusal: &Refusal,
    window: Option<&ReplyWindow>,
    now: DateTime<Utc>,
) -> String {
    let since = window.and_then(|w| w.since);
    let ago = |at: Option<DateTime<Utc>>| at.map(|at| span(now - at)).unwrap_or_default();
    match refusal {
        Refusal::Closed {
            reason: ClosedReason::NoCustomerMessage,
        } => "The customer has not written on this channel yet; Messenger and Instagram do not \
              allow the business to write first."
            .into(),
        Refusal::Closed {
            reason: ClosedReason::HumanAgentOnly,
        } => format!(
            "The 24-hour window closed {} ago: only a human agent's reply (tagged HUMAN_AGENT) \
             may go out now, never an automated one.",
            ago(since)
        ),
        Refusal::Closed {
            reason: ClosedReason::HumanAgentNotApproved,
        } => format!(
            "The 24-hour window closed {} ago and this channel is not approved for HUMAN_AGENT \
             replies: nothing can be sent until the customer writes again (an admin can request \
             Meta's Human Agent permission).",
            ago(since)
        ),
        Refusal::Closed {
            reason: ClosedReason::Expired,
        } => format!(
            "The customer last wrote more than 7 days ago (the HUMAN_AGENT window closed {} \
             ago): nothing can be sent until they write again.",
            ago(since)
        ),
        Refusal::TemplateRequired { since: Some(at) } => format!(
            "The 24-hour window closed {} ago: send an approved template.",
            span(now - *at)
        ),
        Refusal::TemplateRequired { since: None } => {
            "The customer has not written yet: only an approved template can start the \
             conversation."
                .into()
        }
        Refusal::NoTemplatesOnChannel => {
            "Templates exist only on WhatsApp: send a text or an attachment.".into()
        }
        Refusal::MarketingOptedOut => {
            "The contact opted out of marketing messages: send a utility template, or wait \
             for them to write."
                .into()
        }
    }
}

/// The policy's decision for this conversation, sender and moment.
pub fn window_for(
    conversation: &ConversationState,
    sender: SenderKind,
    now: DateTime<Utc>,
) -> ReplyWindow {
    reply_window(
        &ReplyContext {
            channel: conversation.channel.kind,
            last_customer_message_at: conversation.last_inbound_at,
            sender,
            human_agent_approved: conversation.channel.human_agent_approved,
            marketing_opted_out: conversation.marketing_opted_out,
        },
        now,
    )
}

fn refused(refusal: Refusal, window: &ReplyWindow, now: DateTime<Utc>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "reply_refused",
        refusal_message(&refusal, Some(window), now),
    )
}

/// A quoted message must be one of this conversation's (received or sent, not erased):
/// Meta would otherwise quote nothing, or another customer's message.
async fn check_quote(
    state: &Arc<AppState>,
    tenant: &ventana_protocol::ids::TenantId,
    conversation: &ventana_protocol::ids::ConversationId,
    quoted: &str,
) -> Result<(), ApiError> {
    if quoted.trim().is_empty() || quoted.len() > 256 {
        return Err(invalid(
            "reply_to must be the id of a message of this conversation",
        ));
    }
    let store = Arc::clone(&state.store);
    let (t, c, q) = (tenant.clone(), conversation.clone(), quoted.to_owned());
    let known = blocking("reading the quoted message", move || {
        store.message_in_conversation(&t, &c, &q)
    })
    .await?;
    if known {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_quoted_message",
            format!("the quoted message {quoted:?} is not a message of this conversation"),
        ))
    }
}

fn request_hash(conversation: &str, draft: &Draft) -> Result<[u8; 32], ApiError> {
    let json = serde_json::to_string(&(conversation, draft))
        .map_err(|e| ApiError::internal("hashing the reply", e))?;
    Ok(Sha256::digest(json.as_bytes()).into())
}

/// Takes a reply in: checks it, reserves its key, and sends it (waiting up to
/// `ReplySettings::wait` for the outcome). Answers 200 with a final state, 202 while it
/// is still on its way.
pub async fn submit(
    state: &Arc<AppState>,
    replier: Replier,
    tenant: ventana_protocol::ids::TenantId,
    conversation_id: ventana_protocol::ids::ConversationId,
    key: IdempotencyKey,
    draft: Draft,
) -> Result<(StatusCode, ReplyView), ApiError> {
    let hash = request_hash(conversation_id.as_str(), &draft)?;
    let store = Arc::clone(&state.store);
    let (t, k) = (tenant.clone(), key.clone());
    let existing = blocking("reading the reply", move || store.reply(&t, &k)).await?;
    if let Some(existing) = &existing {
        if existing.request_hash != hash {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different reply; use a new key for a new reply",
            ));
        }
        if existing.state != ReplyState::Failed {
            return Ok((status_of(existing.state), ReplyView::from(existing)));
        }
    }

    let store = Arc::clone(&state.store);
    let (t, c) = (tenant.clone(), conversation_id.clone());
    let conversation = blocking("reading the conversation", move || {
        store.conversation_state(&t, &c)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("conversation"))?;
    let templates = if matches!(draft, Draft::Template { .. }) {
        let store = Arc::clone(&state.store);
        let (t, ch) = (tenant.clone(), conversation.channel.id.clone());
        blocking("reading templates", move || store.templates(&t, &ch)).await?
    } else {
        Vec::new()
    };
    let checked = check_draft(&draft, &conversation, &templates, &key)?;
    if let Some(quoted) = draft.reply_to() {
        check_quote(state, &tenant, &conversation_id, quoted).await?;
    }
    let now = Utc::now();
    let window = window_for(&conversation, replier.kind(), now);
    window
        .check(checked.proposed)
        .map_err(|refusal| refused(refusal, &window, now))?;
    if let Some(reason) = &conversation.channel.needs_reconnection {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "channel_needs_reconnection",
            format!(
                "Meta no longer accepts this channel's token ({reason}); an admin must reconnect it"
            ),
        ));
    }
    if !conversation.channel.has_token {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "channel_not_connected",
            "this channel has no access token yet; an admin must set one in the channel settings",
        ));
    }

    let record = ReplyRecord {
        tenant: tenant.clone(),
        key: key.clone(),
        conversation: conversation_id.clone(),
        request_hash: hash,
        request: serde_json::to_string(&draft)
            .map_err(|e| ApiError::internal("storing the reply", e))?,
        sender: replier.sender.clone(),
        sent_as: None,
        state: ReplyState::Queued,
        message_id: None,
        failure: None,
        attempts: 0,
    };
    let store = Arc::clone(&state.store);
    let reservation = blocking("reserving the idempotency key", move || {
        store.reserve_reply(record)
    })
    .await?;
    let record = match reservation {
        Reservation::New(record) | Reservation::Requeued(record) => record,
        Reservation::Existing(existing) => {
            return Ok((status_of(existing.state), ReplyView::from(&existing)));
        }
    };
    let task = tokio::spawn(deliver(Arc::clone(state), record.clone(), replier.actor));
    match tokio::time::timeout(state.settings.replies.wait, task).await {
        Ok(Ok(Some(done))) => Ok((status_of(done.state), ReplyView::from(&done))),
        _ => Ok((StatusCode::ACCEPTED, ReplyView::from(&record))),
    }
}

fn status_of(state: ReplyState) -> StatusCode {
    match state {
        ReplyState::Queued | ReplyState::Sending => StatusCode::ACCEPTED,
        ReplyState::Sent | ReplyState::Failed | ReplyState::Unknown => StatusCode::OK,
    }
}

/// The backoff before attempt `attempt + 1`, with jitter (half to all of it).
fn backoff(settings: &ReplySettings, attempt: u32, code: i64) -> Duration {
    let factor: u32 = if code == 131056 { 4 } else { 2 };
    let exponent = attempt.saturating_sub(1).min(10);
    let full = settings
        .retry_base
        .saturating_mul(factor.saturating_pow(exponent))
        .min(settings.retry_cap);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        0.5 + f64::from(byte[0]) / 510.0
    } else {
        1.0
    };
    full.mul_f64(jitter)
}

/// Why a reply ends when its contact is erased while it is on its way.
pub const CONTACT_ERASED: &str = "contact erased: the contact was erased while this reply was \
    on its way, so nothing about it is kept (if Meta had already taken it, it may have been \
    delivered)";

/// Sends a reserved reply until it is sent, fails for good, or its outcome is unknown.
/// Returns its final record (`None` if the store could not be read or written, in which
/// case the reply stays queued and is resumed at the next start). A reply whose contact
/// was erased meanwhile ends as failed with [`CONTACT_ERASED`]; that record is the
/// caller's only copy, since the erasure took the reply's row with it.
pub async fn deliver(
    state: Arc<AppState>,
    record: ReplyRecord,
    actor: String,
) -> Option<ReplyRecord> {
    let (tenant, key) = (record.tenant.clone(), record.key.clone());
    let read = |state: &Arc<AppState>| {
        let (store, tenant, key) = (Arc::clone(&state.store), tenant.clone(), key.clone());
        crate::error::blocking("reading the reply", move || store.reply(&tenant, &key))
    };
    loop {
        match attempt(&state, &record, &actor).await {
            Ok(Next::Done) => break,
            Ok(Next::RetryAfter(delay)) => tokio::time::sleep(delay).await,
            Err(error) => {
                // Only an erasure deletes a reply's row; without it this is no failure
                // to resume but the end of the reply.
                if let Ok(None) = read(&state).await {
                    return Some(erased(&record));
                }
                tracing::error!(%tenant, %key, %error, "a reply could not be processed; it stays queued");
                return None;
            }
        }
    }
    match read(&state).await {
        Ok(Some(done)) => Some(done),
        Ok(None) => Some(erased(&record)),
        Err(_) => None,
    }
}

/// The end of a reply whose contact was erased while it was on its way.
fn erased(record: &ReplyRecord) -> ReplyRecord {
    tracing::info!(tenant = %record.tenant, key = %record.key, "a reply's contact was erased while it was on its way");
    ReplyRecord {
        state: ReplyState::Failed,
        failure: Some(SendFailure {
            code: 0,
            subcode: None,
            reason: CONTACT_ERASED.into(),
            retryable: false,
        }),
        ..record.clone()
    }
}

enum Next {
    Done,
    RetryAfter(Duration),
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Other(String),
}

async fn attempt(
    state: &Arc<AppState>,
    record: &ReplyRecord,
    actor: &str,
) -> Result<Next, AttemptError> {
    let (tenant, key) = (record.tenant.clone(), record.key.clone());
    let store = Arc::clone(&state.store);
    let (t, c) = (tenant.clone(), record.conversation.clone());
    let Some(conversation) = blocking("reading the conversation", move || {
        store.conversation_state(&t, &c)
    })
    .await?
    else {
        // Erased meanwhile: its reply rows went with it.
        return Ok(Next::Done);
    };
    let draft: Draft = serde_json::from_str(&record.request)
        .map_err(|e| AttemptError::Other(format!("stored reply unreadable: {e}")))?;
    let templates = if matches!(draft, Draft::Template { .. }) {
        let store = Arc::clone(&state.store);
        let (t, ch) = (tenant.clone(), conversation.channel.id.clone());
        blocking("reading templates", move || store.templates(&t, &ch)).await?
    } else {
        Vec::new()
    };
    let sender_kind = match record.sender {
        Sender::Agent { .. } => SenderKind::HumanAgent,
        _ => SenderKind::Automated,
    };
    let checked = check_draft(&draft, &conversation, &templates, &key);
    let now = Utc::now();
    let window = window_for(&conversation, sender_kind, now);
    // The window is checked again at each attempt: a backoff can outlast it.
    let decided = match &checked {
        Ok(checked) => window
            .check(checked.proposed)
            .map_err(|refusal| refusal_message(&refusal, Some(&window), now)),
        Err(error) => Err(error.message().to_owned()),
    };
    let send_as = match decided {
        Ok(send_as) => send_as,
        Err(reason) => {
            let failure = SendFailure {
                code: 0,
                subcode: None,
                reason,
                retryable: false,
            };
            finish(
                state,
                record,
                &conversation,
                None,
                ReplyOutcome::Failed {
                    failure,
                    retry: false,
                },
                actor,
            )
            .await?;
            return Ok(Next::Done);
        }
    };
    let Ok(checked) = checked else {
        return Ok(Next::Done);
    };
    let credentials = credentials(state, &conversation).await?;
    let store = Arc::clone(&state.store);
    let (t, k) = (tenant.clone(), key.clone());
    let sent_as = sent_as_of(send_as);
    let sending = blocking("marking the reply as sending", move || {
        store.reply_sending(&t, &k, sent_as)
    })
    .await?;
    let outgoing = Outgoing {
        kind: conversation.channel.kind,
        channel_external_id: conversation.channel.external_id.clone(),
        recipient: conversation.contact_external_id.clone(),
        payload: checked.payload.clone(),
        send_as,
        correlation: format!("ventana:{key}"),
    };
    let result = match &credentials {
        Some(credentials) => state.graph.send(credentials, &outgoing).await,
        None => Err(GraphError::Meta {
            code: 190,
            subcode: None,
            message: "the channel has no access token".into(),
        }),
    };
    let outcome = match result {
        Ok(message_id) => ReplyOutcome::Sent { message_id },
        Err(GraphError::Meta {
            code,
            subcode,
            message,
        }) => {
            let failure = failure_from_meta(code, subcode, Some(&message));
            if code == 190 {
                token_rejected(state, &conversation.channel, &failure.reason).await?;
            }
            let retry = failure.retryable && sending.attempts < state.settings.replies.max_attempts;
            ReplyOutcome::Failed { failure, retry }
        }
        Err(GraphError::Unreachable(detail)) => {
            let retry = sending.attempts < state.settings.replies.max_attempts;
            ReplyOutcome::Failed {
                failure: SendFailure {
                    code: 0,
                    subcode: None,
                    reason: format!("Meta could not be reached ({detail}); nothing was sent."),
                    retryable: true,
                },
                retry,
            }
        }
        Err(GraphError::NoAnswer(detail)) => ReplyOutcome::Unknown {
            failure: SendFailure {
                code: 0,
                subcode: None,
                reason: format!(
                    "Meta did not answer ({detail}): the reply may have been sent. Check the \
                     conversation before sending it again as a new reply."
                ),
                retryable: false,
            },
        },
    };
    let delay = match &outcome {
        ReplyOutcome::Failed {
            failure,
            retry: true,
        } => Some(backoff(
            &state.settings.replies,
            sending.attempts,
            failure.code,
        )),
        _ => None,
    };
    finish(
        state,
        &sending,
        &conversation,
        Some(checked),
        outcome,
        actor,
    )
    .await?;
    Ok(delay.map_or(Next::Done, Next::RetryAfter))
}

fn sent_as_of(send_as: SendAs) -> SentAs {
    match send_as {
        SendAs::Standard => SentAs::Standard,
        SendAs::HumanAgentTag => SentAs::HumanAgentTag,
        SendAs::Template => SentAs::Template,
    }
}

async fn credentials(
    state: &Arc<AppState>,
    conversation: &ConversationState,
) -> Result<Option<Credentials>, AttemptError> {
    Ok(channel_credentials(state, &conversation.channel).await?)
}

/// Records an attempt's outcome with its events (and an audit entry when it is final).
async fn finish(
    state: &Arc<AppState>,
    record: &ReplyRecord,
    conversation: &ConversationState,
    checked: Option<Checked>,
    outcome: ReplyOutcome,
    actor: &str,
) -> Result<(), AttemptError> {
    let draft: Option<Draft> = serde_json::from_str(&record.request).ok();
    let content = match (&checked, &draft) {
        (Some(checked), _) => checked.content.clone(),
        (None, Some(Draft::Text { text, .. })) => MessageContent::Text { body: text.clone() },
        _ => MessageContent::Unsupported {
            description: Some("a reply that could not be sent".into()),
        },
    };
    let media = checked.map(|c| c.media).unwrap_or_default();
    let key = record.key.clone();
    let base = |id: String, body: EventBody, media: Vec<MediaRecord>| NewEvent {
        id: EventId::new(id),
        tenant: record.tenant.clone(),
        channel: conversation.channel.id.clone(),
        contact: None,
        conversation: Some((conversation.contact.clone(), conversation.id.clone())),
        occurred_at: Utc::now(),
        body,
        media,
    };
    let message = |message_id: Option<String>| {
        EventBody::MessageSent(OutboundMessage {
            message_id: message_id.map(MessageId::new),
            idempotency_key: Some(key.clone()),
            content: content.clone(),
            sender: record.sender.clone(),
            sent_as: record.sent_as.unwrap_or(SentAs::Unknown),
            reply_to: draft.as_ref().and_then(Draft::reply_to).map(MessageId::new),
        })
    };
    let attempt = record.attempts;
    let (events, audit_outcome) = match &outcome {
        ReplyOutcome::Sent { message_id } => (
            // The id Meta's echo of this message will carry: the echo is then a duplicate.
            vec![base(
                format!("msg:{message_id}"),
                message(Some(message_id.clone())),
                media,
            )],
            serde_json::json!({"state": "sent", "message_id": message_id}),
        ),
        ReplyOutcome::Failed { retry: true, .. } => (Vec::new(), serde_json::Value::Null),
        ReplyOutcome::Failed { failure, .. } | ReplyOutcome::Unknown { failure } => {
            let mut events = vec![
                base(format!("reply:{key}:{attempt}"), message(None), media),
                base(
                    format!("reply-status:{key}:{attempt}"),
                    EventBody::MessageStatus {
                        target: StatusTarget::Reply {
                            idempotency_key: key.clone(),
                        },
                        status: DeliveryStatus::Failed {
                            failure: failure.clone(),
                        },
                    },
                    Vec::new(),
                ),
            ];
            if conversation.channel.settings.escalation.on_failed_send {
                events.push(base(
                    format!("escalate:failed:{key}:{attempt}"),
                    EventBody::Escalated {
                        reason: EscalationReason::SendFailed {
                            failure: failure.clone(),
                        },
                    },
                    Vec::new(),
                ));
            }
            let state = if matches!(outcome, ReplyOutcome::Unknown { .. }) {
                "unknown"
            } else {
                "failed"
            };
            (
                events,
                serde_json::json!({"state": state, "code": failure.code, "subcode": failure.subcode}),
            )
        }
    };
    let audit = (!audit_outcome.is_null()).then(|| AuditRecord {
        tenant: record.tenant.clone(),
        actor: actor.to_owned(),
        action: "reply".into(),
        detail: serde_json::json!({
            "conversation": conversation.id.as_str(),
            "idempotency_key": key.as_str(),
            "sent_as": record.sent_as,
            "outcome": audit_outcome,
        }),
    });
    let store = Arc::clone(&state.store);
    let tenant = record.tenant.clone();
    blocking("recording the reply's outcome", move || {
        store.finish_reply(&tenant, &key, outcome, events, audit)
    })
    .await?;
    Ok(())
}

/// Picks up replies left unfinished by a stop: queued ones are sent; ones that were in
/// flight have an unknown outcome and are never sent again.
pub async fn resume(state: &Arc<AppState>) -> Result<(), ApiError> {
    let store = Arc::clone(&state.store);
    let unfinished = blocking("taking over unfinished replies", move || {
        store.take_over_replies()
    })
    .await?;
    for record in unfinished {
        let actor = match &record.sender {
            Sender::Agent { agent } => format!("agent:{agent}"),
            _ => "bot".to_owned(),
        };
        match record.state {
            ReplyState::Queued => {
                tokio::spawn(deliver(Arc::clone(state), record, actor));
            }
            ReplyState::Sending => {
                let store = Arc::clone(&state.store);
                let (t, c) = (record.tenant.clone(), record.conversation.clone());
                let conversation = blocking("reading the conversation", move || {
                    store.conversation_state(&t, &c)
                })
                .await?;
                let Some(conversation) = conversation else {
                    continue;
                };
                let failure = SendFailure {
                    code: 0,
                    subcode: None,
                    reason: "The relay stopped while sending this reply: it may have been sent. \
                             Check the conversation before sending it again as a new reply."
                        .into(),
                    retryable: false,
                };
                if let Err(error) = finish(
                    state,
                    &record,
                    &conversation,
                    None,
                    ReplyOutcome::Unknown { failure },
                    &actor,
                )
                .await
                {
                    tracing::error!(%error, key = %record.key, "cannot record an interrupted reply");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_people_talk() {
        assert_eq!(span(TimeDelta::minutes(45)), "45 min");
        assert_eq!(span(TimeDelta::hours(3)), "3 h");
        assert_eq!(span(TimeDelta::hours(52)), "2 d 4 h");
        assert_eq!(span(TimeDelta::days(3)), "3 d");
    }

    #[test]
    fn template_parameters_are_counted_from_the_body() {
        let components = serde_json::json!([
            {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
            {"type": "BODY", "text": "Order {{1}} ships on {{2}}. {{ 3 }}"},
        ]);
        assert_eq!(body_parameter_count(&components), 3);
        assert_eq!(body_parameter_count(&serde_json::json!([])), 0);
        assert_eq!(
            body_parameter_count(&serde_json::json!([{"type": "BODY", "text": "{{oops"}])),
            0
        );
    }

    #[test]
    fn text_limits_follow_each_platform() {
        assert!(check_text(ChannelKind::Instagram, &"é".repeat(501)).is_err()); // 1002 bytes
        assert!(check_text(ChannelKind::Messenger, &"é".repeat(2000)).is_ok());
        assert!(check_text(ChannelKind::Messenger, &"a".repeat(2001)).is_err());
        assert!(check_text(ChannelKind::WhatsApp, "  ").is_err());
    }

    #[test]
    fn the_refusal_after_24_hours_on_whatsapp_names_the_remedy() {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let closed_at = now - TimeDelta::hours(3);
        let message = refusal_message(
            &Refusal::TemplateRequired {
                since: Some(closed_at),
            },
            None,
            now,
        );
        assert_eq!(
            message,
            "The 24-hour window closed 3 h ago: send an approved template."
        );
    }
}
