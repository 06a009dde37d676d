//! A channel's credentials for Meta: what sealed secrets are bound to, the channel's token
//! and its Meta app's secret opened for one call, and what a rejected token (190) does to
//! the channel. A leaf, shared by replies, media, template syncs, erasure's callback, the
//! intake and the CLI.

use crate::error::{ApiError, blocking};
use crate::graph::Credentials;
use crate::state::AppState;
use crate::store::{Channel, MetaApp};
use std::sync::Arc;
use ventana_protocol::ids::ChannelId;

/// The purposes sealed values of a Meta app are bound to (see `seal`).
pub fn secret_purpose(app_id: &str) -> String {
    format!("meta_app_secret:{app_id}")
}

pub fn verify_token_purpose(app_id: &str) -> String {
    format!("meta_verify_token:{app_id}")
}

pub(crate) async fn find_app(
    state: &Arc<AppState>,
    app_id: &str,
) -> Result<Option<MetaApp>, ApiError> {
    let (store, id) = (Arc::clone(&state.store), app_id.to_owned());
    blocking("looking up the Meta app", move || store.meta_app(&id)).await
}

/// What a channel's sealed token is bound to: a sealed token copied to another channel's
/// row does not open.
pub fn token_purpose(channel: &ChannelId) -> String {
    format!("channel_token:{channel}")
}

/// The app's secret, opened (cached like the intake's own lookups).
pub async fn open_app_secret(state: &Arc<AppState>, app_id: &str) -> Result<Arc<[u8]>, ApiError> {
    if let Some(secret) = state.intake.app_secret(app_id) {
        return Ok(secret);
    }
    let app = find_app(state, app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Meta app"))?;
    let secret: Arc<[u8]> = state
        .key
        .open(&secret_purpose(app_id), &app.secret_sealed)
        .map_err(|e| ApiError::internal("opening the app secret", e))?
        .into();
    state.intake.remember_app(app_id, Arc::clone(&secret));
    Ok(secret)
}

/// The channel's access token (opened from its sealed form) and its Meta app's secret,
/// for one call to Meta; `None` when the channel has no token.
pub async fn channel_credentials(
    state: &Arc<AppState>,
    channel: &Channel,
) -> Result<Option<Credentials>, ApiError> {
    let store = Arc::clone(&state.store);
    let id = channel.id.clone();
    let Some(sealed) = blocking("reading the channel token", move || {
        store.channel_token(&id)
    })
    .await?
    else {
        return Ok(None);
    };
    let token = state
        .key
        .open(&token_purpose(&channel.id), &sealed)
        .map_err(|e| ApiError::internal("opening the channel token", e))?;
    let app_secret = open_app_secret(state, &channel.app_id).await?;
    let token = String::from_utf8(token)
        .map_err(|_| ApiError::internal("opening the channel token", "it is not UTF-8"))?;
    Ok(Some(Credentials {
        token,
        app_secret: app_secret.to_vec(),
    }))
}

/// Meta rejected the channel's token (190): the channel needs re-connection, which every
/// desktop sees (a `channel_updated` event), until an admin sets a new token.
pub async fn token_rejected(
    state: &Arc<AppState>,
    channel: &Channel,
    reason: &str,
) -> Result<(), ApiError> {
    let store = Arc::clone(&state.store);
    let (tenant, id, reason) = (
        channel.tenant.clone(),
        channel.id.clone(),
        reason.to_owned(),
    );
    blocking("marking the channel", move || {
        store.mark_needs_reconnection(&tenant, &id, &reason)
    })
    .await?;
    state.intake.forget_channels();
    Ok(())
}
