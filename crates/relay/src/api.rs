//! The desktop API (REST): signing in, refreshing, reading the log, and the OpenAPI
//! document that describes it all (`GET /openapi.json`).
//!
//! Every handler that touches tenant data takes [`Authenticated`] and scopes by the agent's
//! tenant: another tenant's ids answer 404, exactly like ids that don't exist (invariant 7).

use crate::auth::{self, IssuedTokens};
use crate::error::{ApiError, ErrorBody, blocking};
use crate::server::AppState;
use crate::store::{Agent, LogEntry, Role, SessionInfo, Tenant};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::OpenApi;
use ventana_protocol::ids::ConversationId;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me))
        .route("/v1/events", get(events))
        .route(
            "/v1/conversations/{id}",
            get(conversation).patch(crate::conversations::update),
        )
        .route("/openapi.json", get(openapi))
}

/// The signed-in agent of a request (from `Authorization: Bearer <access token>`).
#[derive(Debug, Clone)]
pub struct Authenticated(pub SessionInfo);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "an `Authorization: Bearer <access token>` header is required",
                )
            })?;
        let hash = auth::token_hash(token);
        let store = Arc::clone(&state.store);
        let session = blocking("authenticating", move || {
            store.session_by_access(&hash, Utc::now())
        })
        .await?;
        session.map(Authenticated).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is unknown, revoked or expired; refresh it or sign in again",
            )
        })
    }
}

/// Who is calling: a signed-in agent, or the tenant's bot with its key
/// (`Authorization: Bearer vbot_…`). Only replies and hand-offs accept a bot.
#[derive(Debug, Clone)]
pub enum Caller {
    Agent(SessionInfo),
    Bot(crate::store::BotIdentity),
}

impl Caller {
    pub fn tenant(&self) -> &ventana_protocol::ids::TenantId {
        match self {
            Caller::Agent(session) => &session.agent.tenant,
            Caller::Bot(bot) => &bot.tenant,
        }
    }

    /// For the audit log and event authorship.
    pub fn actor(&self) -> String {
        match self {
            Caller::Agent(session) => format!("agent:{}", session.agent.id),
            Caller::Bot(bot) => format!("bot:{}", bot.name),
        }
    }

    pub fn event_actor(&self) -> ventana_protocol::event::Actor {
        match self {
            Caller::Agent(session) => ventana_protocol::event::Actor::Agent {
                agent: session.agent.id.clone(),
            },
            Caller::Bot(_) => ventana_protocol::event::Actor::Bot,
        }
    }
}

/// The prefix of bot keys, so the two kinds of bearer token never need two lookups.
pub const BOT_KEY_PREFIX: &str = "vbot_";

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let bot_key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| token.starts_with(BOT_KEY_PREFIX))
            .map(auth::token_hash);
        let Some(hash) = bot_key else {
            return Authenticated::from_request_parts(parts, state)
                .await
                .map(|auth| Caller::Agent(auth.0));
        };
        let store = Arc::clone(&state.store);
        blocking("authenticating a bot", move || store.bot_by_key(&hash))
            .await?
            .map(Caller::Bot)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the bot key is unknown or was revoked",
                )
            })
    }
}

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
pub struct AgentView {
    pub id: String,
    pub email: String,
    pub role: Role,
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
    pub agent: AgentView,
    pub tenant: TenantView,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeResponse {
    pub agent: AgentView,
    pub tenant: TenantView,
}

fn agent_view(agent: &Agent) -> AgentView {
    AgentView {
        id: agent.id.to_string(),
        email: agent.email.clone(),
        role: agent.role,
    }
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

fn session_response(tokens: IssuedTokens, agent: &Agent, tenant: Tenant) -> SessionResponse {
    let now = Utc::now();
    SessionResponse {
        token_type: "Bearer".into(),
        expires_in: (tokens.access_expires_at - now).num_seconds(),
        refresh_expires_in: (tokens.refresh_expires_at - now).num_seconds(),
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
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = ErrorBody),
        (status = 409, description = "The email exists in several tenants: say which (`tenant_required`)", body = ErrorBody),
        (status = 429, description = "Five failed sign-ins for this email in 15 min (`too_many_attempts`)", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<Arc<AppState>>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let email = request.email.trim().to_lowercase();
    if let Some(wait) = state.login.locked_for(&email) {
        tracing::warn!("sign-in refused: too many failed attempts");
        let minutes = wait.as_secs().div_ceil(60);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed sign-ins for this email; try again in {minutes} min"),
        ));
    }
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
    // At most a few argon2id checks at once, whatever the number of sign-in requests.
    let _permit = state
        .login
        .checks
        .acquire()
        .await
        .map_err(|e| ApiError::internal("waiting to check a password", e))?;
    let checked = tokio::task::spawn_blocking(move || match candidates.as_slice() {
        [] => {
            auth::verify_against_nothing(&password);
            Ok(None)
        }
        [(agent, hash)] => Ok(auth::verify_password(&password, hash).then(|| agent.clone())),
        _ => Err(candidates.len()),
    })
    .await
    .map_err(|e| ApiError::internal("checking the password", e))?;
    let agent = match checked {
        Ok(Some(agent)) => agent,
        Ok(None) => {
            state.login.failed(&email);
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
    state.login.succeeded(&email);
    let (store, record) = (
        Arc::clone(&state.store),
        crate::store::AuditRecord {
            tenant: agent.tenant.clone(),
            actor: format!("agent:{}", agent.id),
            action: "login".into(),
            detail: serde_json::json!({}),
        },
    );
    blocking("auditing the sign-in", move || store.audit(record)).await?;
    let tokens =
        IssuedTokens::new(Utc::now()).map_err(|e| ApiError::internal("issuing tokens", e))?;
    let (store, who, stored) = (Arc::clone(&state.store), agent.clone(), tokens.stored());
    blocking("creating the session", move || {
        store.create_session(&who, stored)
    })
    .await?;
    let tenant = tenant_of(&state, &agent).await?;
    tracing::info!(agent = %agent.id, tenant = %agent.tenant, "signed in");
    Ok(Json(session_response(tokens, &agent, tenant)))
}

/// Swaps a refresh token for a new pair; the old pair stops working.
#[utoipa::path(
    post, path = "/v1/auth/refresh", request_body = RefreshRequest, tag = "auth",
    responses(
        (status = 200, description = "New tokens", body = SessionResponse),
        (status = 401, description = "Unknown, used, revoked or expired refresh token (`invalid_refresh_token`)", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let tokens =
        IssuedTokens::new(Utc::now()).map_err(|e| ApiError::internal("issuing tokens", e))?;
    let (store, old, stored) = (
        Arc::clone(&state.store),
        auth::token_hash(&request.refresh_token),
        tokens.stored(),
    );
    let session = blocking("refreshing", move || {
        store.rotate_session(&old, stored, Utc::now())
    })
    .await?;
    let session = session.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is unknown, used, revoked or expired; sign in again",
        )
    })?;
    let tenant = tenant_of(&state, &session.agent).await?;
    Ok(Json(session_response(tokens, &session.agent, tenant)))
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
    let id = auth.0.session_id;
    blocking("signing out", move || store.revoke_session(&id, Utc::now())).await?;
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

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Ventana relay", description = "The desktop API of Ventana's relay. Meta's webhooks arrive at /webhooks/meta/{app_id}."),
    paths(login, refresh, logout, me, events, conversation, crate::stream::handler,
          crate::conversations::reply, crate::conversations::reply_state,
          crate::conversations::window, crate::conversations::update,
          crate::conversations::note, crate::conversations::escalate,
          crate::channels::list, crate::channels::read, crate::channels::change,
          crate::channels::templates, crate::channels::refresh_templates,
          crate::erasure::erase, crate::erasure::data_deletion, crate::erasure::deletion_status,
          crate::media::fetch,
          crate::webhook::intake::verify_subscription, crate::webhook::intake::receive),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Signing in and out"),
        (name = "log", description = "The tenant's event log"),
        (name = "stream", description = "The live event stream (websocket)"),
        (name = "conversations", description = "Replies under Meta's window rules, the workflow, notes, hand-offs"),
        (name = "channels", description = "Channel settings (admins change them) and WhatsApp templates"),
        (name = "erasure", description = "Erasing an end user, and Meta's data-deletion callback"),
        (name = "media", description = "Attachments' bytes, fetched from Meta on demand"),
        (name = "webhooks", description = "Meta's webhooks (called by Meta, not by desktops)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of this API.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
