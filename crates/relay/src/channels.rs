//! Channel settings and WhatsApp templates, over the desktop API.
//!
//! Every agent may read a channel's settings; only admins change them (403 otherwise).
//! The access token is write-only: it is sealed (AES-256-GCM, bound to the channel) the
//! moment it arrives and no answer ever carries it. Each change is a `channel_updated`
//! event, so every desktop sees it, and an audit entry naming what changed.

use crate::caller::Authenticated;
use crate::credentials::token_purpose;
use crate::error::{ApiError, ErrorBody, blocking};
use crate::state::AppState;
use crate::store::{AuditRecord, Channel, ChannelChange, Role, Template};
use crate::templates::{body_parameter_count, body_text, sync_templates};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ventana_protocol::ChannelKind;
use ventana_protocol::api::{ChannelPatch, ChannelView, TemplateInfo};
use ventana_protocol::ids::{ChannelId, TenantId};

impl From<&Channel> for ChannelView {
    fn from(channel: &Channel) -> Self {
        Self {
            id: channel.id.to_string(),
            kind: channel.kind,
            external_id: channel.external_id.clone(),
            display_name: channel.display_name.clone(),
            human_agent_approved: channel.human_agent_approved,
            has_token: channel.has_token,
            needs_reconnection: channel.needs_reconnection.clone(),
            waba_id: channel.waba_id.clone(),
            settings: (*channel.settings).clone(),
        }
    }
}

async fn find(state: &Arc<AppState>, tenant: &TenantId, id: &str) -> Result<Channel, ApiError> {
    let (store, tenant, id) = (Arc::clone(&state.store), tenant.clone(), ChannelId::new(id));
    blocking("reading the channel", move || store.channel(&tenant, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))
}

/// The tenant's channels.
#[utoipa::path(
    get, path = "/v1/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChannelView>), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    let (store, tenant) = (Arc::clone(&state.store), auth.0.agent.tenant.clone());
    let channels = blocking("listing channels", move || store.channels_of(&tenant)).await?;
    Ok(Json(channels.iter().map(ChannelView::from).collect()))
}

/// One channel and its settings.
#[utoipa::path(
    get, path = "/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "The channel's id")),
    responses((status = 200, body = ChannelView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn read(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let channel = find(&state, &auth.0.agent.tenant, &id).await?;
    Ok(Json(ChannelView::from(&channel)))
}

fn check_patch(patch: &ChannelPatch) -> Result<Vec<&'static str>, ApiError> {
    let invalid = |message: String| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_settings",
            message,
        )
    };
    let mut changed = Vec::new();
    if let Some(name) = &patch.display_name {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(invalid("display_name must be 1 to 100 characters".into()));
        }
        changed.push("display_name");
    }
    if let Some(token) = &patch.access_token {
        if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_whitespace) {
            return Err(invalid(
                "access_token must be 1 to 4096 characters without spaces".into(),
            ));
        }
        changed.push("access_token");
    }
    if patch.human_agent_approved.is_some() {
        changed.push("human_agent_approved");
    }
    if let Some(waba) = &patch.waba_id {
        if waba.is_empty() || !waba.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid("waba_id must be Meta's numeric id".into()));
        }
        changed.push("waba_id");
    }
    if let Some(settings) = &patch.settings {
        crate::rules::validate(settings).map_err(|e| invalid(e.0))?;
        changed.push("settings");
    }
    if changed.is_empty() {
        return Err(invalid("nothing to change".into()));
    }
    Ok(changed)
}

/// Changes a channel (admins only).
#[utoipa::path(
    patch, path = "/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "The channel's id")),
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "The channel as it now is", body = ChannelView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Only admins change settings", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A value is invalid (`invalid_settings`); nothing changed", body = ErrorBody),
    )
)]
pub async fn change(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
    Json(patch): Json<ChannelPatch>,
) -> Result<Json<ChannelView>, ApiError> {
    let agent = &auth.0.agent;
    if agent.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only an admin can change a channel's settings",
        ));
    }
    let changed = check_patch(&patch)?;
    let channel = find(&state, &agent.tenant, &id).await?;
    if patch.waba_id.is_some() && channel.kind != ChannelKind::WhatsApp {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_settings",
            "waba_id applies to WhatsApp channels only",
        ));
    }
    let token_sealed = patch
        .access_token
        .as_ref()
        .map(|token| {
            state
                .key
                .seal(&token_purpose(&channel.id), token.as_bytes())
        })
        .transpose()
        .map_err(|e| ApiError::internal("sealing the token", e))?;
    let change = ChannelChange {
        display_name: patch.display_name.map(|n| n.trim().to_owned()),
        token_sealed,
        human_agent_approved: patch.human_agent_approved,
        settings: patch.settings,
        waba_id: patch.waba_id,
    };
    let audit = AuditRecord {
        tenant: agent.tenant.clone(),
        actor: format!("agent:{}", agent.id),
        action: "channel_settings".into(),
        detail: serde_json::json!({"channel": channel.id.as_str(), "changed": changed}),
    };
    let (store, tenant, channel_id) = (
        Arc::clone(&state.store),
        agent.tenant.clone(),
        channel.id.clone(),
    );
    let updated = blocking("changing the channel", move || {
        store.change_channel(&tenant, &channel_id, change, Some(audit))
    })
    .await?;
    // Keyword rules and routing apply from the next webhook, not in 30 s.
    state.intake.forget_channels();
    tracing::info!(channel = %updated.id, ?changed, "channel settings changed");
    Ok(Json(ChannelView::from(&updated)))
}

/// An approved template, ready for the composer's picker: the contract's
/// [`TemplateInfo`], and Meta's components as they are for API callers other than the
/// desktop (a bot), which the desktop ignores.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateView {
    #[serde(flatten)]
    pub info: TemplateInfo,
    #[schema(value_type = Object)]
    pub components: serde_json::Value,
}

fn approved(templates: Vec<Template>) -> Vec<TemplateView> {
    templates
        .into_iter()
        .filter(|t| t.status == "APPROVED")
        .map(|t| TemplateView {
            info: TemplateInfo {
                parameters: body_parameter_count(&t.components),
                body: body_text(&t.components),
                name: t.name,
                language: t.language,
                category: t.category,
            },
            components: t.components,
        })
        .collect()
}

/// The channel's approved templates, as last synced from Meta.
#[utoipa::path(
    get, path = "/v1/channels/{id}/templates", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "The channel's id")),
    responses((status = 200, body = Vec<TemplateView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn templates(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let channel = find(&state, &auth.0.agent.tenant, &id).await?;
    let (store, tenant) = (Arc::clone(&state.store), channel.tenant.clone());
    let templates = blocking("reading templates", move || {
        store.templates(&tenant, &channel.id)
    })
    .await?;
    Ok(Json(approved(templates)))
}

/// Syncs the channel's templates from Meta now.
#[utoipa::path(
    post, path = "/v1/channels/{id}/templates/refresh", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The approved templates after the sync", body = Vec<TemplateView>),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not a WhatsApp channel with a WABA id and a token", body = ErrorBody),
        (status = 502, description = "Meta refused or did not answer", body = ErrorBody),
    )
)]
pub async fn refresh_templates(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let channel = find(&state, &auth.0.agent.tenant, &id).await?;
    sync_templates(&state, &channel).await?;
    let (store, tenant) = (Arc::clone(&state.store), channel.tenant.clone());
    let templates = blocking("reading templates", move || {
        store.templates(&tenant, &channel.id)
    })
    .await?;
    Ok(Json(approved(templates)))
}
