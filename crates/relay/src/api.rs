//! The desktop API (REST): signing in, refreshing, signing out, who am I, reading the log
//! and one conversation. (The OpenAPI document that describes the whole API is in
//! `openapi.rs`; the request extractors are in `caller.rs`.)
//!
//! Every handler that touches tenant data takes [`Authenticated`] and scopes by the agent's
//! tenant: another tenant's ids answer 404, exactly like ids that don't exist (invariant 7).

use crate::accounts::{AgentView, agent_view};
use crate::auth::{self, IssuedTokens};
use crate::caller::{Authenticated, ClientAddress};
use crate::error::{ApiError, ErrorBody, blocking};
use crate::state::AppState;
use crate::store::{Agent, LogEntry, Tenant};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ventana_protocol::ids::ConversationId;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant's name or id; needed only when the email belongs to agents of several tenants.
    pub tenant: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The session's absolute end: refreshing never moves it.
    pub session_expires_at: chrono::DateTime<Utc>,
    /// Until the agent chooses a new password, this session reaches only
    /// `POST /v1/me/password`, `GET /v1/me` and sign-out.
    pub must_change_password: bool,
    pub agent: AgentView,
    pub tenant: TenantView,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeResponse {
    pub agent: AgentView,
    pub tenant: TenantView,
}

fn tenant_view(tenant: Tenant) -> TenantView {
    TenantView {
        id: tenant.id.to_string(),
        name: tenant.name,
    }
}

async fn tenant_of(state: &Arc<AppState>, agent: &Agent) -> Result<Tenant, ApiError> {
    let (store, id) = (Arc::clone(&state.store), agent.tenant.to_string());
    blocking("reading the tenant", move || store.find_tenant(&id))
        .await?
        .ok_or_else(|| ApiError::internal("reading the tenant", "an agent's tenant is missing"))
}

fn session_response(
    tokens: IssuedTokens,
    session_expires_at: chrono::DateTime<Utc>,
    agent: &Agent,
    tenant: Tenant,
) -> SessionResponse {
    let now = Utc::now();
    SessionResponse {
        token_type: "Bearer".into(),
        expires_in: (tokens.access_expires_at - now).num_seconds(),
        refresh_expires_in: (tokens.refresh_expires_at - now).num_seconds(),
        session_expires_at,
        must_change_password: agent.must_change_password,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        agent: agent_view(agent),
        tenant: tenant_view(tenant),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or the password is wrong",
    )
}

/// Signs an agent in with email and password.
#[utoipa::path(
    post, path = "/v1/auth/login", request_body = LoginRequest, tag = "auth",
    responses(
        (status = 200, description = "Signed in (with `must_change_password`, the session reaches only the password change)", body = SessionResponse),
        (status = 400, description = "An email over 320 bytes (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = ErrorBody),
        (status = 403, description = "The agent was disabled by an admin (`access_disabled`)", body = ErrorBody),
        (status = 409, description = "The email exists in several tenants: say which (`tenant_required`)", body = ErrorBody),
        (status = 413, description = "A body over 8 KiB"),
        (status = 429, description = "Five failed sign-ins for this email, or fifty from this address, in 15 min (`too_many_attempts`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "Too many sign-ins are being checked at once (`busy`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    headers: axum::http::HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    if request.email.len() > auth::MAX_EMAIL_BYTES || request.password.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "an email has at most 320 characters and a password at most 1024",
        ));
    }
    let email = request.email.trim().to_lowercase();
    // Counted before anything is looked up or checked, so concurrent guesses meet the
    // lockout too; refused at once when the checks are saturated.
    let attempt = match state.login.admit(&email, address).await {
        Ok(attempt) => attempt,
        Err(auth::Refusal::Locked(wait)) => {
            tracing::warn!("sign-in refused: too many failed attempts");
            let minutes = wait.as_secs().div_ceil(60);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many failed sign-ins; try again in {minutes} min"),
            )
            .retry_after(wait.as_secs().max(1)));
        }
        Err(auth::Refusal::Busy) => {
            return Err(ApiError::busy(
                "the relay is checking many sign-ins; try again in a moment",
            ));
        }
    };
    let store = Arc::clone(&state.store);
    let lookup = email.clone();
    let mut candidates = blocking("looking up the agent", move || {
        store.agents_by_email(&lookup)
    })
    .await?;
    if let Some(wanted) = &request.tenant {
        let (store, wanted) = (Arc::clone(&state.store), wanted.clone());
        let tenant = blocking("looking up the tenant", move || store.find_tenant(&wanted)).await?;
        candidates.retain(|(agent, _)| tenant.as_ref().is_some_and(|t| t.id == agent.tenant));
    }
    let password = request.password;
    let checked = state
        .login
        .check(&attempt, move || match candidates.as_slice() {
            [] => {
                auth::verify_against_nothing(&password);
                Ok(None)
            }
            [(agent, hash)] => Ok(auth::verify_password(&password, hash).then(|| agent.clone())),
            _ => Err(candidates.len()),
        })
        .await
        .ok_or_else(|| ApiError::internal("checking the password", "the checker stopped"))?;
    let agent = match checked {
        Ok(Some(agent)) => agent,
        Ok(None) => {
            tracing::info!("sign-in refused");
            return Err(invalid_credentials());
        }
        Err(count) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "tenant_required",
                format!("this email belongs to agents of {count} tenants: say which tenant"),
            ));
        }
    };
    state.login.succeeded(attempt);
    let tenant = tenant_of(&state, &agent).await?;
    if agent.status != crate::store::AgentStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_disabled",
            crate::store::EndReason::AccessDisabled.message(&tenant.name),
        ));
    }
    let now = Utc::now();
    let policy = state.settings.sessions;
    let session_id = uuid::Uuid::now_v7().to_string();
    let session_expires_at = now + policy.lifetime;
    let tokens = IssuedTokens::new(now, &session_id, session_expires_at, &policy)
        .map_err(|e| ApiError::internal("issuing tokens", e))?;
    let client = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(200).collect::<String>());
    let (store, who, session) = (
        Arc::clone(&state.store),
        agent.clone(),
        crate::store::NewSession {
            id: session_id.clone(),
            tokens: tokens.stored(),
            expires_at: session_expires_at,
            client,
        },
    );
    let record = crate::store::AuditRecord {
        tenant: agent.tenant.clone(),
        actor: format!("agent:{}", agent.id),
        action: "login".into(),
        detail: serde_json::json!({"session": session_id}),
    };
    blocking("creating the session", move || {
        store.create_session(&who, session)?;
        store.record_sign_in(&who.id, now)?;
        store.audit(record).map(|_| ())
    })
    .await?;
    tracing::info!(agent = %agent.id, tenant = %agent.tenant, "signed in");
    Ok(Json(session_response(
        tokens,
        session_expires_at,
        &agent,
        tenant,
    )))
}

/// The 401 that tells a desktop why its session ended (docs/accounts.md).
async fn session_ended(
    state: &Arc<AppState>,
    agent: &Agent,
    reason: crate::store::EndReason,
) -> ApiError {
    let told = crate::accounts::told(state, &agent.tenant, reason).await;
    let error = ApiError::new(StatusCode::UNAUTHORIZED, reason.as_str(), told.message);
    if reason.removes_access() {
        error.with_wipe_cache(told.wipe_cache)
    } else {
        error
    }
}

/// Swaps a refresh token for a new pair; the old pair stops working.
#[utoipa::path(
    post, path = "/v1/auth/refresh", request_body = RefreshRequest, tag = "auth",
    responses(
        (status = 200, description = "New tokens", body = SessionResponse),
        (status = 401, description = "The session ended: `access_removed`, `access_disabled` (both may carry `wipe_cache`), \
            `password_changed`, `session_revoked`, `session_reused` (a rotated token came back: the whole session is revoked), \
            `session_expired`, `signed_out`; or an unknown token (`invalid_refresh_token`)", body = ErrorBody),
        (status = 413, description = "A body over 8 KiB"),
    )
)]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let now = Utc::now();
    let policy = state.settings.sessions;
    let presented = auth::token_hash(&request.refresh_token);
    let named = auth::refresh_session_id(&request.refresh_token).map(str::to_owned);
    let store = Arc::clone(&state.store);
    let session = blocking("reading the session", move || {
        store.session_for_refresh(named.as_deref(), &presented)
    })
    .await?;
    let unknown = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is unknown; sign in again",
        )
    };
    match auth::refresh_decision(session.as_ref(), &presented, now, &policy) {
        auth::RefreshDecision::Refuse(None) => Err(unknown()),
        auth::RefreshDecision::Refuse(Some(reason)) => {
            let Some(session) = session else {
                return Err(unknown());
            };
            Err(session_ended(&state, &session.agent, reason).await)
        }
        auth::RefreshDecision::Reused => {
            let Some(session) = session else {
                return Err(unknown());
            };
            let reason = crate::store::EndReason::SessionReused;
            tracing::warn!(session = %session.id, agent = %session.agent.id, "refresh token reused: session revoked");
            let (store, id, record) = (
                Arc::clone(&state.store),
                session.id.clone(),
                crate::store::AuditRecord {
                    tenant: session.agent.tenant.clone(),
                    actor: format!("agent:{}", session.agent.id),
                    action: "session_reuse_detected".into(),
                    detail: serde_json::json!({"session": session.id}),
                },
            );
            blocking("revoking a reused session", move || {
                store.end_session(&id, reason, now, Some(record))
            })
            .await?;
            state.revocations.announce_one(&session.id, reason);
            Err(session_ended(&state, &session.agent, reason).await)
        }
        auth::RefreshDecision::Rotate {
            expected,
            previous,
            rotated_at,
        } => {
            let Some(session) = session else {
                return Err(unknown());
            };
            let tokens = IssuedTokens::new(now, &session.id, session.expires_at, &policy)
                .map_err(|e| ApiError::internal("issuing tokens", e))?;
            let (store, id, stored) = (
                Arc::clone(&state.store),
                session.id.clone(),
                tokens.stored(),
            );
            let rotated = blocking("refreshing", move || {
                store.rotate_session(&id, &expected, previous, rotated_at, stored, now)
            })
            .await?;
            // Another refresh of the same session won the race: this one is refused, and
            // its token (now the previous one) still works within the grace.
            let rotated = rotated.ok_or_else(unknown)?;
            let tenant = tenant_of(&state, &rotated.agent).await?;
            Ok(Json(session_response(
                tokens,
                session.expires_at,
                &rotated.agent,
                tenant,
            )))
        }
    }
}

/// Ends the session of the access token used.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody))
)]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    let store = Arc::clone(&state.store);
    let id = auth.0.session_id.clone();
    let reason = crate::store::EndReason::SignedOut;
    blocking("signing out", move || {
        store.end_session(&id, reason, Utc::now(), None)
    })
    .await?;
    state.revocations.announce_one(&auth.0.session_id, reason);
    Ok(StatusCode::NO_CONTENT)
}

/// Who the access token belongs to.
#[utoipa::path(
    get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody))
)]
pub async fn me(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
) -> Result<Json<MeResponse>, ApiError> {
    let tenant = tenant_of(&state, &auth.0.agent).await?;
    Ok(Json(MeResponse {
        agent: agent_view(&auth.0.agent),
        tenant: tenant_view(tenant),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Entries with a sequence above this (default 0).
    #[serde(default)]
    pub after: u64,
    /// At most this many entries (default 500, at most 5000).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventsPage {
    /// Log entries `{seq, event}` in sequence order; `event` is the protocol's event.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
    /// The tenant log's last sequence number.
    pub head: u64,
}

/// A page of the agent's tenant's log (the stream is the live way to follow it).
#[utoipa::path(
    get, path = "/v1/events", params(EventsQuery), tag = "log", security(("bearer" = [])),
    responses((status = 200, body = EventsPage), (status = 401, body = ErrorBody))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let limit = query.limit.unwrap_or(500).clamp(1, 5000);
    let (store, tenant) = (Arc::clone(&state.store), auth.0.agent.tenant.clone());
    let (entries, head) = blocking("reading the log", move || {
        let head = store.head(&tenant)?;
        Ok((store.read_log(&tenant, query.after, limit)?, head))
    })
    .await?;
    let entries = entries
        .into_iter()
        .map(|entry: LogEntry| serde_json::to_value(entry))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal("serialising the log", e))?;
    Ok(Json(EventsPage { entries, head }))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub channel: String,
    pub contact: String,
}

/// One conversation of the agent's tenant.
#[utoipa::path(
    get, path = "/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "The conversation's id")),
    responses(
        (status = 200, body = ConversationView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such conversation in the agent's tenant", body = ErrorBody),
    )
)]
pub async fn conversation(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, ApiError> {
    let (store, tenant) = (Arc::clone(&state.store), auth.0.agent.tenant.clone());
    let found = blocking("reading a conversation", move || {
        store.conversation(&tenant, &ConversationId::new(id))
    })
    .await?;
    let found = found.ok_or_else(|| ApiError::not_found("conversation"))?;
    Ok(Json(ConversationView {
        id: found.id.to_string(),
        channel: found.channel.to_string(),
        contact: found.contact.to_string(),
    }))
}
