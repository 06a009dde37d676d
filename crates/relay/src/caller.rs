//! Who is calling: the request extractors every handler takes. [`Authenticated`] (an
//! agent's bearer access token), [`Admin`] (one of the tenant's admins), [`Caller`] (an
//! agent or the tenant's bot key) and [`ClientAddress`]. A leaf: it names no handler.

use crate::auth;
use crate::error::{ApiError, blocking};
use crate::state::AppState;
use crate::store::{Role, SessionInfo};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::Utc;
use std::sync::Arc;

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
        let session = session.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is unknown, revoked or expired; refresh it or sign in again",
            )
        })?;
        // Until a reset or first password is replaced, the session reaches only that.
        if session.agent.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&parts.uri.path())
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "choose a new password first (POST /v1/me/password)",
            ));
        }
        Ok(Authenticated(session))
    }
}

/// What a session that must change its password may reach.
const PASSWORD_CHANGE_PATHS: [&str; 3] = ["/v1/me", "/v1/me/password", "/v1/auth/logout"];

/// A signed-in admin of the tenant.
#[derive(Debug, Clone)]
pub struct Admin(pub SessionInfo);

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Authenticated(session) = Authenticated::from_request_parts(parts, state).await?;
        if session.agent.role != Role::Admin {
            return Err(ApiError::forbidden("only the tenant's admins may do this"));
        }
        Ok(Admin(session))
    }
}

/// The address a request came from: the peer's, or with `serve --trusted-proxy` the
/// right-most address of `X-Forwarded-For` (the one the proxy saw).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        if !state.settings.trusted_proxy {
            return Ok(ClientAddress(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse::<std::net::IpAddr>().ok())
            .next_back();
        Ok(ClientAddress(forwarded.or(peer)))
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
