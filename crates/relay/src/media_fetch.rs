//! Opening an attachment's download from Meta, shared by `GET /v1/media/{id}`
//! (`media.rs`, which passes it on) and the data export (`export.rs`, which keeps it in
//! the zip): WhatsApp media through the Graph API with the channel's token
//! (`GET /{media_id}`, then the short-lived URL with the same token), a Messenger or
//! Instagram attachment URL as it is. A leaf: it names no handler.
//!
//! A failure is answered as an [`ApiError`] whose `code` says what an agent (or an
//! export's reader) can do: `gone` (410, the platform no longer has the file),
//! `channel_needs_reconnection` / `channel_not_connected` (409), `too_large`,
//! `unfetchable`, `upstream` (502). A 190 marks the channel as needing re-connection.

use crate::credentials::{channel_credentials, token_rejected};
use crate::error::ApiError;
use crate::graph::{Download, GraphError, MAX_MEDIA_BYTES, MediaError};
use crate::meta_error::failure_from_meta;
use crate::state::AppState;
use crate::store::{Channel, StoredMedia};
use axum::http::StatusCode;
use std::sync::Arc;

/// Opens the download of `media` (of `channel`): the bytes to read piece by piece and the
/// type Meta gave, if it gave one.
pub async fn open(
    state: &Arc<AppState>,
    channel: &Channel,
    media: &StoredMedia,
) -> Result<(Download, Option<String>), ApiError> {
    match media.source_kind.as_str() {
        "whatsapp_media_id" => whatsapp(state, channel, media).await,
        "url" => match state.graph.download(None, &media.source).await {
            Ok(download) => Ok((download, None)),
            Err(error) => Err(failed(state, media, None, error).await),
        },
        other => Err(ApiError::internal(
            "reading the attachment",
            format!("unknown media source kind {other:?}"),
        )),
    }
}

/// `GET /{media_id}` with the channel's token, then its URL with the same token.
async fn whatsapp(
    state: &Arc<AppState>,
    channel: &Channel,
    media: &StoredMedia,
) -> Result<(Download, Option<String>), ApiError> {
    if let Some(reason) = &channel.needs_reconnection {
        return Err(needs_reconnection(reason));
    }
    let credentials = channel_credentials(state, channel).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "channel_not_connected",
            "this channel has no access token yet; an admin must set one in the channel settings",
        )
    })?;
    let info = match state
        .graph
        .media_info(&credentials, &channel.external_id, &media.source)
        .await
    {
        Ok(info) => info,
        Err(error) => return Err(failed(state, media, Some(channel), error).await),
    };
    if info.file_size.is_some_and(|size| size > MAX_MEDIA_BYTES) {
        return Err(failed(state, media, Some(channel), MediaError::TooLarge).await);
    }
    match state.graph.download(Some(&credentials), &info.url).await {
        Ok(download) => Ok((download, info.mime_type)),
        Err(error) => Err(failed(state, media, Some(channel), error).await),
    }
}

fn needs_reconnection(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "channel_needs_reconnection",
        format!(
            "Meta no longer accepts this channel's token ({reason}); an admin must reconnect it"
        ),
    )
}

/// The answer for a failed fetch. `channel` is set when the channel's token was used: a
/// 190 then marks the channel as needing re-connection, as a failed reply does.
pub async fn failed(
    state: &Arc<AppState>,
    media: &StoredMedia,
    channel: Option<&Channel>,
    error: MediaError,
) -> ApiError {
    let id = media.id.as_str();
    match error {
        MediaError::Gone(detail) => {
            tracing::info!(media = id, %detail, "attachment gone from the platform");
            ApiError::new(
                StatusCode::GONE,
                "gone",
                "the platform no longer has this file",
            )
        }
        MediaError::TooLarge => {
            tracing::warn!(media = id, "attachment over the size limit");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "too_large",
                format!(
                    "the file is larger than {} MiB, the most the relay fetches",
                    MAX_MEDIA_BYTES / (1024 * 1024)
                ),
            )
        }
        MediaError::Refused(reason) => {
            tracing::warn!(media = id, %reason, "attachment address refused");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "unfetchable",
                format!("the relay does not fetch this attachment: {reason}"),
            )
        }
        MediaError::Graph(GraphError::Meta {
            code: 190,
            subcode,
            message,
        }) if channel.is_some() => {
            let failure = failure_from_meta(190, subcode, Some(&message));
            tracing::warn!(
                media = id,
                code = 190,
                ?subcode,
                "Meta rejected the channel's token"
            );
            if let Some(channel) = channel
                && let Err(error) = token_rejected(state, channel, &failure.reason).await
            {
                return error;
            }
            needs_reconnection(&failure.reason)
        }
        MediaError::Graph(error) => {
            tracing::warn!(media = id, %error, "attachment could not be fetched");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream",
                "Meta could not be reached or refused the download; try again later",
            )
        }
    }
}
