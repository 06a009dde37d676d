//! `GET /v1/media/{id}`: the bytes of an attachment a desktop saw in an event
//! (`Media.media_id` in the protocol), fetched from Meta on demand; the relay keeps no
//! copy.
//!
//! The id is looked up in the agent's tenant only: an unknown id, another tenant's, and an
//! erased contact's (erasure deletes the rows) are all 404. A WhatsApp media id is resolved
//! through the Graph API with the channel's token (`GET /{media_id}`, then the short-lived
//! URL with the same token); a Messenger or Instagram attachment URL is fetched as it is,
//! without a token. What Meta serves is passed on piece by piece as it arrives, up to
//! 100 MiB, never held whole.
//!
//! [`MediaGate`](crate::media_gate::MediaGate) lets at most [`MAX_DOWNLOADS`] fetches run
//! at once; the next is answered 503 `busy` with `Retry-After: 1` at once rather than kept
//! waiting.

use crate::caller::Authenticated;
use crate::error::{ApiError, ErrorBody, blocking};
use crate::graph::{Download, MAX_MEDIA_BYTES, MediaError};
use crate::media_fetch;
use crate::media_gate::MAX_DOWNLOADS;
use crate::state::AppState;
use crate::store::StoredMedia;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use ventana_protocol::ids::MediaId;

/// 503 `busy` with `Retry-After: 1`: every download place is taken.
fn busy() -> Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!("the relay is already fetching {MAX_DOWNLOADS} attachments; try again in a second"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The bytes of one attachment of the agent's tenant.
#[utoipa::path(
    get, path = "/v1/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path, description = "The attachment's `media_id`, as events carry it")),
    responses(
        (status = 200, description = "The file, passed on as it arrives, with the type Meta gave it \
            (else the download's, else `application/octet-stream`), its `Content-Length` when Meta \
            announced one (else chunked; a file that turns out larger than 100 MiB is cut off, \
            the body left incomplete), and `Cache-Control: private, no-store`",
            content_type = "application/octet-stream", body = [u8]),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such attachment in the agent's tenant (unknown, another \
            tenant's, or its contact was erased)", body = ErrorBody),
        (status = 409, description = "The channel needs re-connection: Meta rejected its token now or \
            before (`channel_needs_reconnection`), or it has none (`channel_not_connected`)", body = ErrorBody),
        (status = 410, description = "The platform no longer has this file (`gone`)", body = ErrorBody),
        (status = 502, description = "Meta could not be reached or answered with an error \
            (`upstream`), the file is over 100 MiB (`too_large`), or its address is not one the \
            relay fetches from (`unfetchable`)", body = ErrorBody),
        (status = 503, description = "The relay is fetching 16 attachments already (`busy`); \
            try again after `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait: 1"))),
    )
)]
pub async fn fetch(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = auth.0.agent.tenant.clone();
    let (store, t) = (Arc::clone(&state.store), tenant.clone());
    let media = blocking("reading the attachment", move || {
        store.media(&t, &MediaId::new(id))
    })
    .await?
    .ok_or_else(|| ApiError::not_found("attachment"))?;
    let (store, t, ch) = (
        Arc::clone(&state.store),
        tenant.clone(),
        media.channel.clone(),
    );
    let channel = blocking("reading the attachment's channel", move || {
        store.channel(&t, &ch)
    })
    .await?
    .ok_or_else(|| {
        ApiError::internal("reading the attachment's channel", "the channel is missing")
    })?;
    // Taken only now: a request that is refused or finds nothing holds no place.
    let Some(place) = state.media.admit() else {
        tracing::info!(media = media.id.as_str(), "attachment fetch refused: busy");
        return Ok(busy());
    };
    let (download, mime_type) = media_fetch::open(&state, &channel, &media).await?;
    respond(&state, &media, download, mime_type, place).await
}

/// 200 with the bytes, passed on piece by piece as they arrive (the relay holds one piece
/// at a time, whatever the file's size), with Meta's `Content-Length` when it announced
/// one. Without one, the answer is chunked: a file found to be over the limit on the way
/// is cut off, and the desktop sees a body that ended before its last chunk. `place` is
/// held by the body until it has been passed on or the client has gone.
async fn respond(
    state: &Arc<AppState>,
    media: &StoredMedia,
    download: Download,
    mime_type: Option<String>,
    place: OwnedSemaphorePermit,
) -> Result<Response, ApiError> {
    let content_type = mime_type
        .or_else(|| download.content_type.clone())
        .and_then(|value| HeaderValue::from_str(value.trim()).ok())
        .filter(|value| !value.is_empty())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    if download
        .length
        .is_some_and(|length| length > MAX_MEDIA_BYTES)
    {
        return Err(media_fetch::failed(state, media, None, MediaError::TooLarge).await);
    }
    let length = download.length;
    let id = media.id.clone();
    let chunks = futures_util::stream::unfold(Some((download, place)), move |open| {
        let id = id.clone();
        async move {
            let (mut download, place) = open?;
            match download.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some((download, place)))),
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(media = id.as_str(), %error, "attachment download broke off");
                    Some((Err(error), None))
                }
            }
        }
    });
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "private, no-store")
        // What a customer sent must never run as the relay's own page.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "sandbox");
    if let Some(length) = length {
        response = response.header(header::CONTENT_LENGTH, length);
    }
    response
        .body(Body::from_stream(chunks))
        .map_err(|e| ApiError::internal("answering with the attachment", e))
}
