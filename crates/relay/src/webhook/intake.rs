//! `GET` and `POST /webhooks/meta/{app_id}`: Meta's verify handshake and its webhooks.
//!
//! A POST is verified (signature over the raw bytes), normalised, routed to tenants by
//! channel, and committed to the log *before* it is answered 200 (invariant 4). What
//! cannot be used but was signed by Meta is quarantined and still answered 200, because
//! anything else makes Meta retry it for days. Unsigned or mis-signed bodies change
//! nothing. Every outcome has a log line.

use crate::credentials::{find_app, secret_purpose, verify_token_purpose};
use crate::error::{ApiError, ErrorBody};
use crate::rules::Consent;
use crate::state::AppState;
use crate::store::{Channel, ContactRef, MediaRecord, NewEvent, StoreError};
use crate::webhook::intake_cache::Route;
use crate::webhook::normalize::{self, ChannelKey, Incoming, MediaSource};
use crate::webhook::signature::{self, SignatureError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use ventana_protocol::EventBody;
use ventana_protocol::event::EscalationReason;
use ventana_protocol::ids::EventId;

/// Meta's verify handshake: echo `hub.challenge` when `hub.verify_token` matches.
#[utoipa::path(
    get, path = "/webhooks/meta/{app_id}", tag = "webhooks",
    params(
        ("app_id" = String, Path, description = "The Meta app's id"),
        ("hub.mode" = String, Query, description = "Always `subscribe`"),
        ("hub.verify_token" = String, Query, description = "The verify token set in the App Dashboard"),
        ("hub.challenge" = String, Query, description = "Echoed back verbatim on success"),
    ),
    responses(
        (status = 200, description = "The challenge, verbatim", body = String),
        (status = 403, description = "Unknown app, no verify token configured, or a wrong token", body = ErrorBody),
    )
)]
pub async fn verify_subscription(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, ApiError> {
    let app = find_app(&state, &app_id).await?;
    let mode = query.get("hub.mode").map(String::as_str);
    let offered = query
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or("");
    let challenge = query.get("hub.challenge");
    let expected = match app
        .as_ref()
        .and_then(|app| app.verify_token_sealed.as_ref())
    {
        Some(sealed) => state
            .key
            .open(&verify_token_purpose(&app_id), sealed)
            .map_err(|e| ApiError::internal("opening the verify token", e))?,
        None => {
            tracing::warn!(%app_id, "verify handshake refused: unknown app or no verify token configured");
            return Err(ApiError::forbidden("this app cannot be verified"));
        }
    };
    let matches = !expected.is_empty() && bool::from(expected.as_slice().ct_eq(offered.as_bytes()));
    match (mode, challenge) {
        (Some("subscribe"), Some(challenge)) if matches => {
            tracing::info!(%app_id, "verify handshake accepted");
            Ok(challenge.clone())
        }
        _ => {
            tracing::warn!(%app_id, "verify handshake refused");
            Err(ApiError::forbidden("the verify token does not match"))
        }
    }
}

/// Meta's webhook: verified, normalised, committed, then acknowledged.
#[utoipa::path(
    post, path = "/webhooks/meta/{app_id}", tag = "webhooks",
    params(
        ("app_id" = String, Path, description = "The Meta app's id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` + hex HMAC-SHA256 of the raw body with the app secret"),
    ),
    request_body(content = String, content_type = "application/json", description = "Meta's webhook payload (up to 4 MiB)"),
    responses(
        (status = 200, description = "Committed (or quarantined): Meta need not retry"),
        (status = 401, description = "No signature header", body = ErrorBody),
        (status = 403, description = "Malformed or wrong signature", body = ErrorBody),
        (status = 404, description = "Unknown app", body = ErrorBody),
        (status = 413, description = "Body over 4 MiB"),
        (status = 500, description = "Not committed: Meta will retry", body = ErrorBody),
    )
)]
pub async fn receive(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let secret = match state.intake.app_secret(&app_id) {
        Some(secret) => secret,
        None => {
            let Some(app) = find_app(&state, &app_id).await? else {
                tracing::warn!(%app_id, "webhook for an unknown app refused");
                return Err(ApiError::not_found("Meta app"));
            };
            let secret: Arc<[u8]> = state
                .key
                .open(&secret_purpose(&app_id), &app.secret_sealed)
                .map_err(|e| ApiError::internal("opening the app secret", e))?
                .into();
            state.intake.remember_app(&app_id, Arc::clone(&secret));
            secret
        }
    };
    let header = headers
        .get(signature::HEADER)
        .map(|value| value.to_str().unwrap_or("").to_owned());
    // The usual case, a small body for channels already known: taken in on this task,
    // waiting for the commit without holding a thread.
    if body.len() <= FAST_PATH_MAX_BYTES {
        match take_in_fast(&state, &app_id, &secret, header.as_deref(), &body) {
            Fast::Refused(error) => return Err(refusal(error)),
            Fast::Nothing => return Ok("EVENT_RECEIVED"),
            Fast::Queued(pending) => {
                return match pending.committed().await {
                    Ok(_) => Ok("EVENT_RECEIVED"),
                    Err(error) => Err(ApiError::internal("committing webhook events", error)),
                };
            }
            Fast::Slow => {}
        }
    }
    // Large bodies (hashing and parsing take milliseconds), unknown or uncached channels,
    // and quarantines: blocking work, on the blocking pool.
    let worker = Arc::clone(&state);
    let outcome = tokio::task::spawn_blocking(move || {
        take_in(&worker, &app_id, &secret, header.as_deref(), &body)
    })
    .await
    .map_err(|e| ApiError::internal("taking in a webhook", e))?;
    match outcome {
        Ok(()) => Ok("EVENT_RECEIVED"),
        Err(TakeInError::Signature(error)) => Err(refusal(error)),
        Err(TakeInError::Store(error)) => {
            Err(ApiError::internal("committing webhook events", error))
        }
    }
}

/// Bodies up to this size may take the fast path.
const FAST_PATH_MAX_BYTES: usize = 64 * 1024;

/// What the fast path did.
enum Fast {
    /// Verified, and nothing in it to store.
    Nothing,
    /// Verified, routed, and queued for the next commit.
    Queued(crate::store::PendingAppend),
    Refused(SignatureError),
    /// Needs the blocking path (a channel not in the cache, or something to quarantine).
    Slow,
}

/// The fast path: no IO but queueing the append. Anything it can't finish without IO it
/// leaves to [`take_in`], which starts over (the rare case pays the verify twice).
fn take_in_fast(
    state: &AppState,
    app_id: &str,
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Fast {
    if let Err(error) = signature::verify(secret, body, header) {
        tracing::warn!(%app_id, %error, bytes = body.len(), "webhook refused");
        return Fast::Refused(error);
    }
    let Ok(normalized) = normalize::normalize(body) else {
        return Fast::Slow;
    };
    let mut channels = Vec::with_capacity(normalized.events.len());
    for event in &normalized.events {
        match state.intake.cached_channel(&event.channel) {
            Some(route) if route.channel.app_id == app_id => channels.push(route),
            _ => return Fast::Slow,
        }
    }
    for ignored in &normalized.ignored {
        tracing::info!(%app_id, object = %ignored.object, what = %ignored.what, "webhook content not handled");
    }
    let events: Vec<NewEvent> = normalized
        .events
        .into_iter()
        .zip(channels)
        .flat_map(|(event, route)| new_events(event, &route))
        .collect();
    if events.is_empty() {
        return Fast::Nothing;
    }
    match state.store.append_queued(events) {
        Ok(pending) => Fast::Queued(pending),
        Err(error) => {
            tracing::error!(%error, "cannot queue webhook events");
            Fast::Slow
        }
    }
}

fn refusal(error: SignatureError) -> ApiError {
    match error {
        SignatureError::Missing => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "signature_missing",
            error.to_string(),
        ),
        SignatureError::Malformed | SignatureError::Mismatch => ApiError::new(
            StatusCode::FORBIDDEN,
            "signature_invalid",
            error.to_string(),
        ),
    }
}

enum TakeInError {
    Signature(SignatureError),
    Store(StoreError),
}

impl From<StoreError> for TakeInError {
    fn from(error: StoreError) -> Self {
        TakeInError::Store(error)
    }
}

/// Verifies, normalises, routes and commits one webhook body (blocking).
fn take_in(
    state: &AppState,
    app_id: &str,
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), TakeInError> {
    if let Err(error) = signature::verify(secret, body, header) {
        tracing::warn!(%app_id, %error, bytes = body.len(), "webhook refused");
        return Err(TakeInError::Signature(error));
    }
    let normalized = match normalize::normalize(body) {
        Ok(normalized) => normalized,
        Err(error) => {
            tracing::warn!(%app_id, %error, "signed webhook could not be read; quarantined");
            state
                .store
                .quarantine(app_id, &format!("unreadable: {error}"), body)?;
            return Ok(());
        }
    };
    for ignored in &normalized.ignored {
        tracing::info!(%app_id, object = %ignored.object, what = %ignored.what, "webhook content not handled");
    }
    let (events, unknown) = route(state, app_id, normalized.events)?;
    if !unknown.is_empty() {
        let names: Vec<_> = unknown.into_iter().collect();
        tracing::warn!(%app_id, channels = ?names, "webhook for unknown channels; quarantined");
        state
            .store
            .quarantine(app_id, &unknown_channels_reason(&names), body)?;
    }
    if events.is_empty() {
        return Ok(());
    }
    let received = events.len();
    let appended = state.store.append(events)?;
    tracing::debug!(%app_id, received, stored = appended.entries.len(), duplicates = appended.duplicates, "webhook committed");
    Ok(())
}

const UNKNOWN_CHANNELS: &str = "unknown channels: ";

/// The quarantine's reason for a body naming channels not connected (`kind:external id`,
/// as [`route`] names them); [`unknown_channels`] reads it back, so a replay knows when
/// the body can be taken in.
fn unknown_channels_reason(names: &[String]) -> String {
    format!("{UNKNOWN_CHANNELS}{}", names.join(", "))
}

/// The channels a quarantine reason names as not connected, or `None` for another reason.
pub(crate) fn unknown_channels(reason: &str) -> Option<Vec<ChannelKey>> {
    reason
        .strip_prefix(UNKNOWN_CHANNELS)?
        .split(", ")
        .map(|name| {
            let (kind, external_id) = name.split_once(':')?;
            let kind = serde_json::from_value(serde_json::Value::String(kind.to_owned())).ok()?;
            Some(ChannelKey {
                kind,
                external_id: external_id.to_owned(),
            })
        })
        .collect()
}

/// Routes each incoming event to its channel's tenant. A channel is known only if it was
/// connected *through this app*: another app's secret must not write into it.
pub(crate) fn route(
    state: &AppState,
    app_id: &str,
    incoming: Vec<Incoming>,
) -> Result<(Vec<NewEvent>, BTreeSet<String>), StoreError> {
    let mut unknown = BTreeSet::new();
    let mut events = Vec::with_capacity(incoming.len());
    for event in incoming {
        let Some(route) = state
            .intake
            .channel(&*state.store, &event.channel)?
            .filter(|route| route.channel.app_id == app_id)
        else {
            unknown.insert(format!(
                "{}:{}",
                event.channel.kind, event.channel.external_id
            ));
            continue;
        };
        events.extend(new_events(event, &route));
    }
    Ok((events, unknown))
}

/// A normalised event routed to its channel's tenant, followed by what the channel's
/// rules make of it: an escalation keyword, an opt-out or resume keyword. Derived events
/// take ids from the event that caused them, so a redelivery derives nothing new.
fn new_events(event: Incoming, route: &Route) -> Vec<NewEvent> {
    let first = new_event(event, &route.channel);
    let matched = route.keywords.apply(&first.body);
    let mut events = Vec::with_capacity(1);
    let derived = |prefix: &str, body: EventBody| NewEvent {
        id: EventId::new(format!("{prefix}:{}", first.id)),
        tenant: first.tenant.clone(),
        channel: first.channel.clone(),
        contact: first.contact.clone(),
        conversation: None,
        occurred_at: first.occurred_at,
        body,
        media: Vec::new(),
    };
    if let Some(keyword) = matched.escalation {
        events.push(derived(
            "escalate:keyword",
            EventBody::Escalated {
                reason: EscalationReason::Keyword { keyword },
            },
        ));
    }
    match matched.consent {
        Some(Consent::OptedOut(source)) => {
            events.push(derived("optout", EventBody::ContactOptedOut { source }))
        }
        Some(Consent::OptedIn(source)) => {
            events.push(derived("optin", EventBody::ContactOptedIn { source }))
        }
        None => {}
    }
    events.insert(0, first);
    events
}

/// A normalised event, routed to `channel`'s tenant.
fn new_event(event: Incoming, channel: &Channel) -> NewEvent {
    NewEvent {
        id: EventId::new(event.dedupe_key),
        tenant: channel.tenant.clone(),
        channel: channel.id.clone(),
        contact: Some(ContactRef {
            external_id: event.contact_external_id,
            name: event.contact_name,
        }),
        conversation: None,
        occurred_at: event.occurred_at,
        body: event.body,
        media: event
            .media
            .into_iter()
            .map(|media| {
                let (source_kind, source) = match media.source {
                    MediaSource::WhatsAppMediaId(id) => ("whatsapp_media_id", id),
                    MediaSource::Url(url) => ("url", url),
                };
                MediaRecord {
                    id: media.media_id,
                    source_kind,
                    source,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ventana_protocol::ChannelKind;

    #[test]
    fn an_unknown_channels_reason_reads_back_as_its_channels() {
        let names = vec![
            "messenger:100000000000001".to_owned(),
            "whatsapp:200000000000111".to_owned(),
        ];
        let reason = unknown_channels_reason(&names);
        assert_eq!(
            reason,
            "unknown channels: messenger:100000000000001, whatsapp:200000000000111"
        );
        assert_eq!(
            unknown_channels(&reason),
            Some(vec![
                ChannelKey {
                    kind: ChannelKind::Messenger,
                    external_id: "100000000000001".into()
                },
                ChannelKey {
                    kind: ChannelKind::WhatsApp,
                    external_id: "200000000000111".into()
                },
            ])
        );
        assert_eq!(unknown_channels("unreadable: missing field `entry`"), None);
        assert_eq!(unknown_channels("unknown channels: telegram:1"), None);
        assert_eq!(unknown_channels("unknown channels: nocolon"), None);
    }
}
