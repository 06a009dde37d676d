//! How values sit in columns, the same for both backends: timestamps as RFC 3339 text
//! (UTC, nanoseconds), ids as UUIDv7 text, JSON as text, conversation status as two
//! columns. Sharing them keeps a row copied from SQLite to PostgreSQL byte for byte equal.

use super::*;
use chrono::SecondsFormat;
use ventana_protocol::event::ConversationStatus;

/// The columns `channel_from_row` reads, in order.
pub(super) const CHANNEL_COLUMNS: &str = "id, tenant_id, kind, external_id, app_id, display_name, \
    human_agent_approved, waba_id, needs_reconnection, token_sealed IS NOT NULL, settings";

pub(super) const REPLY_COLUMNS: &str = "tenant_id, idempotency_key, conversation_id, request_hash, request, \
    sender, sent_as, state, message_id, failure, attempts";

pub(super) fn now_text() -> String {
    timestamp(Utc::now())
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(super) fn channel_kind(text: &str) -> Result<ChannelKind, StoreError> {
    ChannelKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt(format!("channel kind {text:?}")))
}

pub(super) fn status_columns(status: &ConversationStatus) -> (&'static str, Option<String>) {
    match status {
        ConversationStatus::Open => ("open", None),
        ConversationStatus::Pending => ("pending", None),
        ConversationStatus::Snoozed { until } => ("snoozed", Some(timestamp(*until))),
        ConversationStatus::Resolved => ("resolved", None),
    }
}

pub(super) fn status_from_columns(
    status: &str,
    snoozed_until: Option<String>,
) -> Result<ConversationStatus, StoreError> {
    Ok(match (status, snoozed_until) {
        ("open", _) => ConversationStatus::Open,
        ("pending", _) => ConversationStatus::Pending,
        ("resolved", _) => ConversationStatus::Resolved,
        ("snoozed", Some(until)) => ConversationStatus::Snoozed {
            until: parse_time(&until)?,
        },
        (other, _) => {
            return Err(StoreError::Corrupt(format!(
                "conversation status {other:?}"
            )));
        }
    })
}

pub(super) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("serialising: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A `channel_updated` event carrying the channel's new snapshot.
pub(super) fn channel_event(channel: &Channel) -> NewEvent {
    NewEvent {
        id: EventId::new(format!("channel:{}", new_id())),
        tenant: channel.tenant.clone(),
        channel: channel.id.clone(),
        contact: None,
        conversation: None,
        occurred_at: Utc::now(),
        body: EventBody::ChannelUpdated(channel.snapshot()),
        media: Vec::new(),
    }
}

/// Every `media_id` string anywhere in an event body.
pub(super) fn media_ids(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("media_id", serde_json::Value::String(id)) => found.push(id.clone()),
                    _ => media_ids(value, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| media_ids(v, found)),
        _ => {}
    }
}

/// A quarantined body's identity: SHA-256, in hex.
pub(super) fn body_hash(body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body))
}
