//! The REST API for accounts (docs/accounts.md): a tenant's admins manage its agents, their
//! sessions and the bot keys; every agent changes their own password. Thin: each handler
//! checks who is asking, then calls one operation of `accounts.rs`.

use crate::accounts::{self, Actor, AgentView, agent_view};
use crate::caller::{Admin, Authenticated};
use crate::error::{ApiError, ErrorBody, blocking};
use crate::state::AppState;
use crate::store::{AgentChange, AgentStatus, BotKey, Role, SessionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ventana_protocol::ids::AgentId;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAgentRequest {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedAgent {
    pub agent: AgentView,
    /// Shown once: the agent signs in with it and must then choose their own.
    pub temporary_password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AgentChangeRequest {
    pub role: Option<Role>,
    /// `active` or `disabled`.
    pub status: Option<AgentStatus>,
    /// A display name; an empty string clears it.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemporaryPassword {
    /// Shown once.
    pub temporary_password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 10 characters, not the current one.
    pub new_password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewBotKeyRequest {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedBotKey {
    pub id: String,
    pub name: String,
    /// `vbot_…`, shown once.
    pub key: String,
}

/// The tenant's agents (not removed ones).
#[utoipa::path(
    get, path = "/v1/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [AgentView]), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let (store, tenant) = (Arc::clone(&state.store), admin.agent.tenant.clone());
    let agents = blocking("listing agents", move || store.agents_of(&tenant)).await?;
    Ok(Json(agents.iter().map(agent_view).collect()))
}

/// Adds an agent with a one-time temporary password.
#[utoipa::path(
    post, path = "/v1/agents", tag = "agents", security(("bearer" = [])), request_body = NewAgentRequest,
    responses(
        (status = 201, body = AddedAgent),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Already an agent of this tenant (`conflict`)", body = ErrorBody),
        (status = 422, description = "Not an email address (`invalid_email`), or a name over 100 characters (`invalid_name`)", body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Json(request): Json<NewAgentRequest>,
) -> Result<(StatusCode, Json<AddedAgent>), ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let (agent, temporary) = blocking("adding an agent", move || {
        accounts::add_agent(
            &shared,
            &tenant,
            &request.email,
            request.name,
            request.role,
            None,
            &actor,
        )
    })
    .await?;
    let temporary_password = temporary
        .ok_or_else(|| ApiError::internal("adding an agent", "no temporary password was made"))?;
    Ok((
        StatusCode::CREATED,
        Json(AddedAgent {
            agent: agent_view(&agent),
            temporary_password,
        }),
    ))
}

/// Changes an agent's role, status (disabling ends their sessions at once) or name.
#[utoipa::path(
    patch, path = "/v1/agents/{id}", tag = "agents", security(("bearer" = [])), request_body = AgentChangeRequest,
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, body = AgentView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such agent in the tenant", body = ErrorBody),
        (status = 409, description = "It would leave the tenant with no active admin (`last_admin`)", body = ErrorBody),
        (status = 422, description = "`removed` is not a status to set (`invalid_status`: use DELETE)", body = ErrorBody),
    )
)]
pub async fn change(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(request): Json<AgentChangeRequest>,
) -> Result<Json<AgentView>, ApiError> {
    let change = AgentChange {
        role: request.role,
        status: request.status,
        name: request.name.map(Some),
    };
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let agent = blocking("changing an agent", move || {
        accounts::change_agent(&shared, &tenant, &AgentId::new(id), change, &actor)
    })
    .await?;
    Ok(Json(agent_view(&agent)))
}

/// Removes an agent: every session of theirs ends at once.
#[utoipa::path(
    delete, path = "/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such agent in the tenant", body = ErrorBody),
        (status = 409, description = "The tenant's last active admin (`last_admin`)", body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    blocking("removing an agent", move || {
        accounts::remove_agent(&shared, &tenant, &AgentId::new(id), &actor)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new temporary password for an agent; every session of theirs ends.
#[utoipa::path(
    post, path = "/v1/agents/{id}/password-reset", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, body = TemporaryPassword),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such agent in the tenant", body = ErrorBody),
    )
)]
pub async fn reset_password(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<TemporaryPassword>, ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let temporary_password = blocking("resetting a password", move || {
        accounts::reset_password(&shared, &tenant, &AgentId::new(id), &actor)
    })
    .await?;
    Ok(Json(TemporaryPassword { temporary_password }))
}

/// An agent's live sessions.
#[utoipa::path(
    get, path = "/v1/agents/{id}/sessions", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, body = [SessionView]),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such agent in the tenant", body = ErrorBody),
    )
)]
pub async fn sessions(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let (store, tenant, id) = (
        Arc::clone(&state.store),
        admin.agent.tenant,
        AgentId::new(id),
    );
    let sessions = blocking("listing sessions", move || {
        if store.agent(&tenant, &id)?.is_none() {
            return Err(crate::store::StoreError::NotFound(format!("agent {id}")));
        }
        store.sessions_of(&tenant, &id, Utc::now())
    })
    .await?;
    Ok(Json(sessions))
}

/// Ends one of an agent's sessions at once (its open stream too).
#[utoipa::path(
    delete, path = "/v1/agents/{id}/sessions/{session}", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id"), ("session" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such live session of this agent in the tenant", body = ErrorBody),
    )
)]
pub async fn revoke_session(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path((id, session)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let ended = blocking("revoking a session", move || {
        accounts::revoke_session(&shared, &tenant, &AgentId::new(id), &session, &actor)
    })
    .await?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("session"))
    }
}

/// The signed-in agent changes their own password; their other sessions end.
#[utoipa::path(
    post, path = "/v1/me/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; `must_change_password` is cleared"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 422, description = "Shorter than 10 characters, or the current one (`weak_password`)", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    Json(request): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    if request.new_password.len() > 1024 || request.current_password.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            "a password has at most 1024 characters",
        ));
    }
    let shared = Arc::clone(&state);
    blocking("changing a password", move || {
        accounts::change_own_password(
            &shared,
            &session,
            &request.current_password,
            &request.new_password,
        )
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's bot keys (never the keys themselves).
#[utoipa::path(
    get, path = "/v1/bot-keys", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [BotKey]), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody))
)]
pub async fn bot_keys(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
) -> Result<Json<Vec<BotKey>>, ApiError> {
    let (store, tenant) = (Arc::clone(&state.store), admin.agent.tenant);
    Ok(Json(
        blocking("listing bot keys", move || store.bot_keys(&tenant)).await?,
    ))
}

/// A new key for the tenant's bot, shown once.
#[utoipa::path(
    post, path = "/v1/bot-keys", tag = "agents", security(("bearer" = [])), request_body = NewBotKeyRequest,
    responses((status = 201, body = IssuedBotKey), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 422, description = "No name, or over 100 characters (`invalid_name`)", body = ErrorBody))
)]
pub async fn add_bot_key(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Json(request): Json<NewBotKeyRequest>,
) -> Result<(StatusCode, Json<IssuedBotKey>), ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let (added, key) = blocking("adding a bot key", move || {
        accounts::add_bot_key(&shared, &tenant, &request.name, &actor)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedBotKey {
            id: added.id,
            name: added.name,
            key,
        }),
    ))
}

/// Revokes a bot key at once.
#[utoipa::path(
    delete, path = "/v1/bot-keys/{id}", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 404, description = "No such live key in the tenant", body = ErrorBody))
)]
pub async fn revoke_bot_key(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let revoked = blocking("revoking a bot key", move || {
        accounts::revoke_bot_key(&shared, &tenant, &id, &actor)
    })
    .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("bot key"))
    }
}

/// A new key under the same id and name; the old key stops working at once.
#[utoipa::path(
    post, path = "/v1/bot-keys/{id}/rotate", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = IssuedBotKey), (status = 401, body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 404, description = "No such live key in the tenant", body = ErrorBody))
)]
pub async fn rotate_bot_key(
    State(state): State<Arc<AppState>>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<IssuedBotKey>, ApiError> {
    let (shared, actor, tenant) = (Arc::clone(&state), Actor::agent(&admin), admin.agent.tenant);
    let rotated = blocking("rotating a bot key", move || {
        accounts::rotate_bot_key(&shared, &tenant, &id, &actor)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("bot key"))?;
    let (key, secret) = rotated;
    Ok(Json(IssuedBotKey {
        id: key.id,
        name: key.name,
        key: secret,
    }))
}
