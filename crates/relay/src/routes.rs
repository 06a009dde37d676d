//! The route table: every path the relay serves, its handler, and the body limits. Only
//! `server.rs` imports it; with `openapi.rs` it is the one place that names every handler,
//! so the handlers never need to name each other.

use crate::state::AppState;
use crate::webhook::intake;
use crate::{agents_api, api, channels, conversations, erasure, export, media, openapi, stream};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use std::sync::Arc;

/// Webhook bodies up to this size are accepted (Meta's WhatsApp bodies reach 3 MB; a
/// smaller limit would truncate, fail the signature, and be retried for days).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Sign-in and refresh bodies: an email, a password, a token. Anyone can send these
/// unauthenticated, so they get no more room than they need.
pub const MAX_AUTH_BODY_BYTES: usize = 8 * 1024;
/// Meta's data-deletion callback: one form field holding a signed request of a few
/// hundred bytes.
pub const MAX_DELETION_BODY_BYTES: usize = 16 * 1024;

/// The routes the relay serves.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        // Meta's webhooks (`webhook/intake.rs`).
        .route(
            "/webhooks/meta/{app_id}",
            get(intake::verify_subscription).post(intake::receive),
        )
        // Signing in, the log, a conversation (`api.rs`); the OpenAPI document (`openapi.rs`).
        .route(
            "/v1/auth/login",
            post(api::login).layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES)),
        )
        .route(
            "/v1/auth/refresh",
            post(api::refresh).layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES)),
        )
        .route("/v1/auth/logout", post(api::logout))
        .route("/v1/me", get(api::me))
        .route("/v1/events", get(api::events))
        .route(
            "/v1/conversations/{id}",
            get(api::conversation).patch(conversations::update),
        )
        .route("/openapi.json", get(openapi::openapi))
        // Agents, sessions and bot keys (`agents_api.rs`).
        .route("/v1/agents", get(agents_api::list).post(agents_api::add))
        .route(
            "/v1/agents/{id}",
            patch(agents_api::change).delete(agents_api::remove),
        )
        .route(
            "/v1/agents/{id}/password-reset",
            post(agents_api::reset_password),
        )
        .route("/v1/agents/{id}/sessions", get(agents_api::sessions))
        .route(
            "/v1/agents/{id}/sessions/{session}",
            delete(agents_api::revoke_session),
        )
        .route("/v1/me/password", post(agents_api::change_password))
        .route(
            "/v1/bot-keys",
            get(agents_api::bot_keys).post(agents_api::add_bot_key),
        )
        .route("/v1/bot-keys/{id}", delete(agents_api::revoke_bot_key))
        .route("/v1/bot-keys/{id}/rotate", post(agents_api::rotate_bot_key))
        // Replies and the workflow (`conversations.rs`).
        .route("/v1/conversations/{id}/replies", post(conversations::reply))
        .route(
            "/v1/conversations/{id}/replies/{key}",
            get(conversations::reply_state),
        )
        .route("/v1/conversations/{id}/window", get(conversations::window))
        .route("/v1/conversations/{id}/notes", post(conversations::note))
        .route(
            "/v1/conversations/{id}/escalate",
            post(conversations::escalate),
        )
        // Channel settings and templates (`channels.rs`).
        .route("/v1/channels", get(channels::list))
        .route(
            "/v1/channels/{id}",
            get(channels::read).patch(channels::change),
        )
        .route("/v1/channels/{id}/templates", get(channels::templates))
        .route(
            "/v1/channels/{id}/templates/refresh",
            post(channels::refresh_templates),
        )
        // Erasure and Meta's data-deletion callback (`erasure.rs`).
        .route("/v1/contacts/{id}/erase", post(erasure::erase))
        .route(
            "/meta/data-deletion/{app_id}",
            post(erasure::data_deletion).layer(DefaultBodyLimit::max(MAX_DELETION_BODY_BYTES)),
        )
        .route(
            "/meta/data-deletion/status/{code}",
            get(erasure::deletion_status),
        )
        // Data portability exports (`export.rs`).
        .route("/v1/contacts/{id}/export", get(export::contact))
        .route("/v1/export", get(export::tenant))
        // Attachments (`media.rs`) and the live stream (`stream.rs`).
        .route("/v1/media/{id}", get(media::fetch))
        .route("/v1/stream", get(stream::handler))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Liveness: answers while the server accepts requests.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness, for a load balancer: 200 while this node can reach its database, 503 (with
/// the reason kept to the log) when it cannot, so traffic goes to another node. The body
/// also says whether this node runs the periodic jobs (one node of several does).
async fn readyz(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> Result<axum::Json<serde_json::Value>, crate::error::ApiError> {
    let store = Arc::clone(&state.store);
    crate::error::blocking("readiness", move || store.ready())
        .await
        .map_err(|error| {
            tracing::warn!(error = error.message(), "not ready");
            crate::error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "this node cannot reach its database",
            )
            .retry_after(1)
        })?;
    let runs_jobs = state.runs_jobs.load(std::sync::atomic::Ordering::Relaxed);
    Ok(axum::Json(
        serde_json::json!({"status": "ready", "runs_periodic_jobs": runs_jobs}),
    ))
}
