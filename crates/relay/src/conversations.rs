//! The conversation workflow over the desktop API: replies, status (open, pending,
//! snoozed, resolved), assignee, labels, private notes, the bot's hand-off, and how a
//! reply would go out right now. Each change is an event, so every desktop sees it.

use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody, blocking};
use crate::replies::{self, Replier};
use crate::state::AppState;
use crate::store::{ConversationState, NewEvent};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ventana_protocol::EventBody;
use ventana_protocol::api::{Draft, NoteRequest, Recorded, ReplyView, WorkflowChange};
use ventana_protocol::event::{Assignee, ConversationStatus, EscalationReason, Sender};
use ventana_protocol::ids::{AgentId, ConversationId, EventId, IdempotencyKey, NoteId};
use ventana_protocol::window::{ReplyMode, SenderKind, TemplateAccess};

async fn conversation(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<ConversationState, ApiError> {
    let (store, tenant, id) = (
        Arc::clone(&state.store),
        caller.tenant().clone(),
        ConversationId::new(id),
    );
    blocking("reading the conversation", move || {
        store.conversation_state(&tenant, &id)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("conversation"))
}

fn agent_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Agent(_) => Ok(()),
        Caller::Bot(_) => Err(ApiError::forbidden(
            "a bot key cannot do this; sign in as an agent",
        )),
    }
}

/// Appends events about a conversation the caller may touch. The store drops them if the
/// conversation was erased since it was read, and that is answered as for a conversation
/// that does not exist.
async fn append(
    state: &Arc<AppState>,
    conversation: &ConversationState,
    bodies: Vec<(String, EventBody)>,
) -> Result<Vec<u64>, ApiError> {
    let events: Vec<NewEvent> = bodies
        .into_iter()
        .map(|(id, body)| NewEvent {
            id: EventId::new(id),
            tenant: conversation.tenant.clone(),
            channel: conversation.channel.id.clone(),
            contact: None,
            conversation: Some((conversation.contact.clone(), conversation.id.clone())),
            occurred_at: Utc::now(),
            body,
            media: Vec::new(),
        })
        .collect();
    let store = Arc::clone(&state.store);
    let appended = blocking("appending to the log", move || store.append(events)).await?;
    if appended.dropped > 0 {
        return Err(ApiError::not_found("conversation"));
    }
    Ok(appended.entries.iter().map(|e| e.seq).collect())
}

fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    if key.is_empty() || key.len() > 200 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "an `Idempotency-Key` header (1 to 200 visible ASCII characters) is required; \
             generate one per reply and reuse it on every retry of that reply",
        ));
    }
    Ok(IdempotencyKey::new(key))
}

/// Sends a reply under the reply-window rules, at most once per `Idempotency-Key`.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/replies", tag = "conversations", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The conversation's id"),
        ("Idempotency-Key" = String, Header, description = "One per reply; retries reuse it"),
    ),
    request_body = Draft,
    responses(
        (status = 200, description = "Finished: sent, failed (with Meta's code and a reason; \
            `contact erased: …` when the contact was erased while the reply was on its way), or unknown", body = ReplyView),
        (status = 202, description = "Queued or sending (e.g. retrying after a rate limit); its outcome arrives as events", body = ReplyView),
        (status = 400, description = "No or bad Idempotency-Key", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key was used for another reply (`idempotency_key_reused`), or the channel needs re-connection", body = ErrorBody),
        (status = 422, description = "Refused by the reply-window rules (`reply_refused`, with why and what to do) or invalid (`invalid_reply`); nothing was sent", body = ErrorBody),
    )
)]
pub async fn reply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(draft): Json<Draft>,
) -> Result<(StatusCode, Json<ReplyView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let replier = Replier {
        sender: match &caller {
            Caller::Agent(session) => Sender::Agent {
                agent: session.agent.id.clone(),
            },
            Caller::Bot(_) => Sender::Bot,
        },
        actor: caller.actor(),
    };
    let (status, view) = replies::submit(
        &state,
        replier,
        caller.tenant().clone(),
        ConversationId::new(id),
        key,
        draft,
    )
    .await?;
    Ok((status, Json(view)))
}

/// A reply's state by its key.
#[utoipa::path(
    get, path = "/v1/conversations/{id}/replies/{key}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("key" = String, Path, description = "The Idempotency-Key")),
    responses((status = 200, body = ReplyView), (status = 404, body = ErrorBody))
)]
pub async fn reply_state(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<ReplyView>, ApiError> {
    let (store, tenant, key) = (
        Arc::clone(&state.store),
        caller.tenant().clone(),
        IdempotencyKey::new(key),
    );
    let record = blocking("reading the reply", move || store.reply(&tenant, &key))
        .await?
        .filter(|record| record.conversation.as_str() == id)
        .ok_or_else(|| ApiError::not_found("reply"))?;
    Ok(Json(ReplyView::from(&record)))
}

/// How a reply would go out now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowView {
    /// `standard`, `human_agent`, `template_only` or `closed`.
    pub mode: String,
    /// Why it is closed (`no_customer_message`, `human_agent_only`,
    /// `human_agent_not_approved`, `expired`).
    pub closed_reason: Option<String>,
    /// When the mode began.
    pub since: Option<DateTime<Utc>>,
    /// When it changes if the customer writes nothing new.
    pub changes_at: Option<DateTime<Utc>>,
    /// `not_on_channel`, `all` or `no_marketing`.
    pub templates: String,
    /// A sentence for the composer.
    pub explanation: String,
}

fn snake<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other["mode"].as_str().unwrap_or_default().to_owned(),
        Err(_) => String::new(),
    }
}

/// The reply window for the caller now (a human agent, or the bot with a bot key).
#[utoipa::path(
    get, path = "/v1/conversations/{id}/window", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = WindowView), (status = 404, body = ErrorBody))
)]
pub async fn window(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WindowView>, ApiError> {
    let conversation = conversation(&state, &caller, &id).await?;
    let sender = match caller {
        Caller::Agent(_) => SenderKind::HumanAgent,
        Caller::Bot(_) => SenderKind::Automated,
    };
    let now = Utc::now();
    let window = replies::window_for(&conversation, sender, now);
    let left = |at: Option<DateTime<Utc>>| at.map(|at| replies::span(at - now)).unwrap_or_default();
    let (mode, closed_reason, explanation) = match window.mode {
        ReplyMode::Standard => (
            "standard",
            None,
            format!(
                "Reply freely: the 24-hour window has {} left.",
                left(window.changes_at)
            ),
        ),
        ReplyMode::HumanAgent => (
            "human_agent",
            None,
            format!(
                "The 24-hour window closed; your reply goes out tagged HUMAN_AGENT ({} left).",
                left(window.changes_at)
            ),
        ),
        ReplyMode::TemplateOnly => (
            "template_only",
            None,
            replies::refusal_message(
                &ventana_protocol::window::Refusal::TemplateRequired {
                    since: window.since,
                },
                Some(&window),
                now,
            ),
        ),
        ReplyMode::Closed(reason) => (
            "closed",
            Some(snake(&reason)),
            replies::refusal_message(
                &ventana_protocol::window::Refusal::Closed { reason },
                Some(&window),
                now,
            ),
        ),
    };
    Ok(Json(WindowView {
        mode: mode.into(),
        closed_reason,
        since: window.since,
        changes_at: window.changes_at,
        templates: match window.templates {
            TemplateAccess::NotOnChannel => "not_on_channel",
            TemplateAccess::All => "all",
            TemplateAccess::NoMarketing => "no_marketing",
        }
        .into(),
        explanation,
    }))
}

/// Changes status, assignee or labels.
#[utoipa::path(
    patch, path = "/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = WorkflowChange,
    responses(
        (status = 200, body = Recorded),
        (status = 404, description = "No such conversation in the caller's tenant, or its contact \
            was erased (also while this request was under way); nothing is recorded", body = ErrorBody),
        (status = 422, description = "An invalid status, snooze time, assignee or label", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(change): Json<WorkflowChange>,
) -> Result<Json<Recorded>, ApiError> {
    agent_only(&caller)?;
    let invalid = |message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_change", message)
    };
    let conversation = conversation(&state, &caller, &id).await?;
    let now = Utc::now();
    let status = match (change.status.as_deref(), change.snoozed_until) {
        (None, None) => None,
        (None, Some(_)) => return Err(invalid("snoozed_until needs status `snoozed`".into())),
        (Some("open"), None) => Some(ConversationStatus::Open),
        (Some("pending"), None) => Some(ConversationStatus::Pending),
        (Some("resolved"), None) => Some(ConversationStatus::Resolved),
        (Some("snoozed"), Some(until)) if until > now => {
            Some(ConversationStatus::Snoozed { until })
        }
        (Some("snoozed"), _) => {
            return Err(invalid(
                "snoozing needs a snoozed_until in the future".into(),
            ));
        }
        (Some(other), _) => {
            return Err(invalid(format!(
                "status {other:?} is not one of open, pending, snoozed, resolved"
            )));
        }
    };
    let assignee = match change.assignee.as_deref() {
        None => None,
        Some("nobody") => Some(Assignee::Nobody),
        Some(who) => {
            let agent = match (&caller, who) {
                (Caller::Agent(session), "me") => session.agent.id.clone(),
                _ => AgentId::new(who),
            };
            let (store, tenant) = (Arc::clone(&state.store), conversation.tenant.clone());
            let agents = blocking("reading agents", move || store.agents_of(&tenant)).await?;
            if !agents.iter().any(|a| a.id == agent) {
                return Err(invalid(format!("no agent {who:?} in this tenant")));
            }
            Some(Assignee::Agent { agent })
        }
    };
    if let Some(labels) = &change.labels
        && (labels.len() > 50
            || labels
                .iter()
                .any(|l| l.trim().is_empty() || l.chars().count() > 50))
    {
        return Err(invalid("at most 50 labels of 1 to 50 characters".into()));
    }
    if status.is_none() && assignee.is_none() && change.labels.is_none() {
        return Err(invalid("nothing to change".into()));
    }
    let body = EventBody::ConversationUpdated {
        by: caller.event_actor(),
        status,
        assignee,
        labels: change.labels,
    };
    let seq = append(
        &state,
        &conversation,
        vec![(format!("update:{}", uuid::Uuid::now_v7()), body)],
    )
    .await?;
    Ok(Json(Recorded { seq }))
}

/// Adds a private note (never sent to the customer).
#[utoipa::path(
    post, path = "/v1/conversations/{id}/notes", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = NoteRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 404, description = "No such conversation in the caller's tenant, or its contact \
            was erased (also while this request was under way); nothing is recorded", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn note(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<NoteRequest>,
) -> Result<Json<Recorded>, ApiError> {
    let Caller::Agent(session) = &caller else {
        return Err(ApiError::forbidden("a bot key cannot write notes"));
    };
    let text = request.text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_note",
            "a note is 1 to 10000 characters",
        ));
    }
    let conversation = conversation(&state, &caller, &id).await?;
    let note_id = uuid::Uuid::now_v7().to_string();
    let body = EventBody::NoteAdded {
        note_id: NoteId::new(note_id.clone()),
        author: session.agent.id.clone(),
        text: text.to_owned(),
    };
    let seq = append(
        &state,
        &conversation,
        vec![(format!("note:{note_id}"), body)],
    )
    .await?;
    Ok(Json(Recorded { seq }))
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOff {
    /// What the bot knows, for the agent who picks it up.
    pub note: Option<String>,
}

/// Hands the conversation to a human (the tenant's bot calls this with its key).
#[utoipa::path(
    post, path = "/v1/conversations/{id}/escalate", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = HandOff,
    responses(
        (status = 200, body = Recorded),
        (status = 404, description = "No such conversation in the caller's tenant, or its contact \
            was erased (also while this request was under way); nothing is recorded", body = ErrorBody),
    )
)]
pub async fn escalate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<HandOff>,
) -> Result<Json<Recorded>, ApiError> {
    let conversation = conversation(&state, &caller, &id).await?;
    let note = request
        .note
        .map(|n| n.trim().chars().take(2000).collect::<String>())
        .filter(|n| !n.is_empty());
    let body = EventBody::Escalated {
        reason: EscalationReason::BotHandoff { note },
    };
    let seq = append(
        &state,
        &conversation,
        vec![(format!("escalate:handoff:{}", uuid::Uuid::now_v7()), body)],
    )
    .await?;
    Ok(Json(Recorded { seq }))
}
