//! WhatsApp templates: how many parameters a template's body takes, and syncing a
//! channel's approved templates from Meta (on request and hourly by the sweeper). A leaf,
//! shared by replies, channel settings and the sweeper.

use crate::credentials::{open_app_secret, token_purpose};
use crate::error::{ApiError, blocking};
use crate::state::AppState;
use crate::store::Channel;
use std::sync::Arc;
use ventana_protocol::ChannelKind;

/// The text of the template's BODY component (with its `{{n}}` placeholders).
pub fn body_text(components: &serde_json::Value) -> String {
    components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .and_then(|body| body["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// How many `{{n}}` parameters a template's body has.
pub fn body_parameter_count(components: &serde_json::Value) -> usize {
    let body = components.as_array().into_iter().flatten().find(|c| {
        c["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("body"))
    });
    let text = body.and_then(|b| b["text"].as_str()).unwrap_or_default();
    let mut highest = 0;
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("}}") else { break };
        if let Ok(n) = rest[..end].trim().parse::<usize>() {
            highest = highest.max(n);
        }
        rest = &rest[end + 2..];
    }
    highest
}

/// Fetches the channel's templates from Meta and stores them; returns how many.
pub async fn sync_templates(state: &Arc<AppState>, channel: &Channel) -> Result<usize, ApiError> {
    let conflict = |message: &str| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "templates_unavailable",
            message.to_owned(),
        )
    };
    let waba = match (channel.kind, &channel.waba_id) {
        (ChannelKind::WhatsApp, Some(waba)) => waba.clone(),
        (ChannelKind::WhatsApp, None) => {
            return Err(conflict(
                "set the channel's waba_id (WhatsApp Business Account) to sync its templates",
            ));
        }
        _ => return Err(conflict("templates exist only on WhatsApp channels")),
    };
    let store = Arc::clone(&state.store);
    let id = channel.id.clone();
    let sealed = blocking("reading the channel token", move || {
        store.channel_token(&id)
    })
    .await?
    .ok_or_else(|| conflict("the channel has no access token"))?;
    let token = state
        .key
        .open(&token_purpose(&channel.id), &sealed)
        .map_err(|e| ApiError::internal("opening the channel token", e))?;
    let app_secret = open_app_secret(state, &channel.app_id).await?;
    let credentials = crate::graph::Credentials {
        token: String::from_utf8(token).map_err(|e| ApiError::internal("the channel token", e))?,
        app_secret: app_secret.to_vec(),
    };
    let fetched = state
        .graph
        .templates(&credentials, &waba)
        .await
        .map_err(|error| {
            tracing::warn!(channel = %channel.id, %error, "template sync failed");
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "meta_error",
                format!("Meta did not list the templates: {error}"),
            )
        })?;
    let count = fetched.len();
    let (store, tenant, id) = (
        Arc::clone(&state.store),
        channel.tenant.clone(),
        channel.id.clone(),
    );
    blocking("storing templates", move || {
        store.replace_templates(&tenant, &id, fetched)
    })
    .await?;
    tracing::info!(channel = %channel.id, count, "templates synced");
    Ok(count)
}
