//! The outbox: replies are written to the cache first, so an agent can answer on a train.
//!
//! Composing writes the message (state `queued`, a fresh idempotency key) and its delivery
//! job in one transaction. The sender hands due jobs to the relay with their key; the relay
//! sends each key to Meta at most once (invariant 6), so handing a job twice — after a crash,
//! or a lost answer — is harmless. From then on the message's state follows the relay's
//! events (`apply.rs`): sent, delivered, read, or failed with a reason. A failed reply can be
//! retried under the same key.

use crate::cache::CacheError;
use crate::client::ClientError;
use crate::content::{kind_of, searchable_text};
use crate::place;
use crate::time::stamp;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ventana_protocol::api::{Draft, template_category};
use ventana_protocol::event::{MessageContent, Sender};
use ventana_protocol::ids::{AgentId, IdempotencyKey};

/// A delivery job that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub key: String,
    pub conversation: String,
    pub draft: Draft,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("there is no conversation {0} in this account's cache")]
    UnknownConversation(String),
    #[error("there is no reply {0} that can be retried")]
    NotRetryable(String),
    #[error("the reply is empty")]
    Empty,
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The conversation has no room for another message (16,777,216 of them).
    #[error(transparent)]
    Place(#[from] place::PlaceError),
}

impl From<rusqlite::Error> for OutboxError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Cache(CacheError::Sqlite(error))
    }
}

/// The content the conversation shows for a draft until the relay's event replaces it:
/// the contract's (`Draft::to_content`, as the relay logs it), with the template's
/// category from the cached templates.
fn content_of(connection: &Connection, channel: &str, key: &str, draft: &Draft) -> MessageContent {
    let known: Option<(String, String)> = match draft {
        Draft::Template { name, language, .. } => connection
            .query_row(
                "SELECT category, body FROM templates
                 WHERE channel_id = ?1 AND name = ?2 AND language = ?3",
                params![channel, name, language],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .ok()
            .flatten(),
        Draft::Text { .. } | Draft::Attachment { .. } => None,
    };
    let (category, body) = known.unzip();
    draft.to_content(
        &IdempotencyKey::new(key),
        template_category(category.as_deref().unwrap_or_default()),
        body.as_deref(),
    )
}

fn is_empty(draft: &Draft) -> bool {
    match draft {
        Draft::Text { text, .. } => text.trim().is_empty(),
        Draft::Attachment { url, .. } => url.trim().is_empty(),
        Draft::Template { name, .. } => name.trim().is_empty(),
    }
}

/// Writes a reply to the cache, queued, under a fresh idempotency key; returns the key
/// and the message's rowid.
pub fn compose(
    connection: &mut Connection,
    me: &str,
    conversation: &str,
    draft: &Draft,
    now: DateTime<Utc>,
) -> Result<(String, i64), OutboxError> {
    if is_empty(draft) {
        return Err(OutboxError::Empty);
    }
    let tx = connection.transaction()?;
    // A v7 UUID: unique without coordination, and ordered by creation for the relay's logs.
    let key = format!("vd-{}", uuid::Uuid::now_v7());
    let rowid = insert_queued(&tx, me, conversation, &key, draft, now)?;
    tx.execute(
        "INSERT INTO outbox (idempotency_key, conversation_id, draft, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![
            key,
            conversation,
            serde_json::to_string(draft).map_err(serialise)?,
            stamp(now)
        ],
    )?;
    tx.commit()?;
    Ok((key, rowid))
}

fn serialise(e: serde_json::Error) -> OutboxError {
    OutboxError::Cache(CacheError::Sqlite(rusqlite::Error::ToSqlConversionFailure(
        Box::new(e),
    )))
}

/// The queued message a reply shows in its conversation until the relay's events move it
/// on: at the conversation's end, under the reply's key.
fn insert_queued(
    tx: &rusqlite::Transaction<'_>,
    me: &str,
    conversation: &str,
    key: &str,
    draft: &Draft,
    now: DateTime<Utc>,
) -> Result<i64, OutboxError> {
    let (contact, channel): (String, String) = tx
        .query_row(
            "SELECT contact_id, channel_id FROM conversations WHERE id = ?1",
            [conversation],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| OutboxError::UnknownConversation(conversation.to_owned()))?;
    let content = content_of(tx, &channel, key, draft);
    let sender = Sender::Agent {
        agent: AgentId::new(me),
    };
    let at = stamp(now);
    let mut next = place::Next::of(tx, conversation)?;
    let rowid = next.take(conversation)?;
    let seq = place::next_seq(tx)?;
    tx.execute(
        "INSERT INTO messages (rowid, seq, conversation_key, conversation_id, contact_id,
             idempotency_key, direction, sender, kind, text, content, occurred_at, state,
             reply_to)
         VALUES (?9, ?10, ?11, ?1, ?2, ?3, 'out', ?4, ?5, ?6, ?7, ?8, 'queued', ?12)",
        params![
            conversation,
            contact,
            key,
            serde_json::to_string(&sender).map_err(serialise)?,
            kind_of(&content),
            searchable_text(&content),
            serde_json::to_string(&content).map_err(serialise)?,
            at,
            rowid,
            seq,
            next.range.key,
            // The quote shows on the queued bubble at once, offline too.
            draft.reply_to(),
        ],
    )?;
    tx.execute(
        "UPDATE conversations SET last_message_rowid = ?2,
             last_activity_at = max(last_activity_at, ?3), unread = 0
         WHERE id = ?1",
        params![conversation, rowid, at],
    )?;
    Ok(rowid)
}

/// Replies kept through a resync (`resync.rs`): parked, so they are not sent while their
/// conversations are gone from the cache, and queued again once the replay is live.
pub(crate) fn park_pending(tx: &rusqlite::Transaction<'_>) -> Result<u64, OutboxError> {
    let parked = tx.execute(
        "UPDATE outbox SET state = 'parked' WHERE state IN ('pending', 'parked')",
        [],
    )?;
    // Handed and refused replies are known to the relay, or not at all any more: the
    // replayed log shows what it has of them.
    tx.execute("DELETE FROM outbox WHERE state <> 'parked'", [])?;
    Ok(parked as u64)
}

/// What became of the parked replies once the replay was live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unparked {
    /// Queued again at the end of their conversations.
    pub queued: u64,
    /// Already in the relay's log (their answer was lost before the resync).
    pub known: u64,
    /// Their conversation is not in the relay's log: they cannot be sent.
    pub lost: u64,
}

/// Queues the parked replies again (see [`park_pending`]), in one transaction.
pub fn unpark(
    connection: &mut Connection,
    me: &str,
    now: DateTime<Utc>,
) -> Result<Unparked, OutboxError> {
    let tx = connection.transaction()?;
    let parked: Vec<(String, String, String)> = {
        let mut statement = tx.prepare(
            "SELECT idempotency_key, conversation_id, draft FROM outbox
             WHERE state = 'parked' ORDER BY created_at, idempotency_key",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut unparked = Unparked::default();
    for (key, conversation, draft) in parked {
        let known: bool = tx.query_row(
            "SELECT count(*) > 0 FROM messages WHERE idempotency_key = ?1",
            [&key],
            |row| row.get(0),
        )?;
        let draft: Option<Draft> = serde_json::from_str(&draft).ok();
        match draft {
            _ if known => {
                tx.execute(
                    "UPDATE outbox SET state = 'handed' WHERE idempotency_key = ?1",
                    [&key],
                )?;
                unparked.known += 1;
            }
            Some(draft) => match insert_queued(&tx, me, &conversation, &key, &draft, now) {
                Ok(_) => {
                    tx.execute(
                        "UPDATE outbox SET state = 'pending', next_attempt_at = ?2
                         WHERE idempotency_key = ?1",
                        params![key, stamp(now)],
                    )?;
                    unparked.queued += 1;
                }
                Err(OutboxError::UnknownConversation(_) | OutboxError::Place(_)) => {
                    tx.execute("DELETE FROM outbox WHERE idempotency_key = ?1", [&key])?;
                    unparked.lost += 1;
                }
                Err(other) => return Err(other),
            },
            None => {
                tx.execute("DELETE FROM outbox WHERE idempotency_key = ?1", [&key])?;
                unparked.lost += 1;
            }
        }
    }
    tx.commit()?;
    Ok(unparked)
}

/// Jobs due at `now`, oldest first.
pub fn due(connection: &Connection, now: DateTime<Utc>) -> Result<Vec<Job>, OutboxError> {
    let mut statement = connection.prepare_cached(
        "SELECT idempotency_key, conversation_id, draft, attempts FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY created_at, idempotency_key",
    )?;
    let rows = statement.query_map([stamp(now)], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u32>(3)?,
        ))
    })?;
    let mut jobs = Vec::new();
    for row in rows {
        let (key, conversation, draft, attempts) = row?;
        // A draft this build wrote always reads back; skip rather than wedge the queue.
        if let Ok(draft) = serde_json::from_str(&draft) {
            jobs.push(Job {
                key,
                conversation,
                draft,
                attempts,
            });
        }
    }
    Ok(jobs)
}

/// When the next pending job falls due, if any.
pub fn next_due(connection: &Connection) -> Result<Option<DateTime<Utc>>, OutboxError> {
    let next: Option<String> = connection.query_row(
        "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
        [],
        |row| row.get(0),
    )?;
    Ok(next.as_deref().and_then(crate::time::parse))
}

/// The relay took the reply: from now on its events tell the message's state.
pub fn handed(connection: &Connection, key: &str) -> Result<(), OutboxError> {
    connection.execute(
        "UPDATE outbox SET state = 'handed', attempts = attempts + 1, last_error = NULL
         WHERE idempotency_key = ?1",
        [key],
    )?;
    connection.execute(
        "UPDATE messages SET state = 'sending' WHERE idempotency_key = ?1 AND state = 'queued'",
        [key],
    )?;
    Ok(())
}

/// The relay refused the reply (the window closed, a template is wrong…): it will not go
/// out as it is. The message shows the relay's sentence.
pub fn refused(
    connection: &mut Connection,
    key: &str,
    error: &ClientError,
) -> Result<(), OutboxError> {
    let tx = connection.transaction()?;
    tx.execute(
        "UPDATE outbox SET state = 'refused', attempts = attempts + 1, last_error = ?2
         WHERE idempotency_key = ?1",
        params![key, error.to_string()],
    )?;
    let failure =
        serde_json::json!({"code": error.code(), "reason": error.to_string(), "retryable": false});
    tx.execute(
        "UPDATE messages SET state = 'failed', failure = ?2 WHERE idempotency_key = ?1",
        params![key, failure.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

/// The relay could not be reached: try again after a backoff (capped at 5 minutes; the
/// sender is also woken as soon as the stream reconnects).
pub fn postpone(
    connection: &Connection,
    key: &str,
    error: &ClientError,
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    let attempts: u32 = connection.query_row(
        "SELECT attempts FROM outbox WHERE idempotency_key = ?1",
        [key],
        |row| row.get(0),
    )?;
    let delay = TimeDelta::seconds(2_i64.saturating_pow(attempts.min(8)).min(300));
    connection.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
         WHERE idempotency_key = ?1",
        params![key, error.to_string(), stamp(now + delay)],
    )?;
    Ok(())
}

/// Makes pending jobs due now (the relay is back).
pub fn wake(connection: &Connection, now: DateTime<Utc>) -> Result<(), OutboxError> {
    connection.execute(
        "UPDATE outbox SET next_attempt_at = ?1 WHERE state = 'pending' AND next_attempt_at > ?1",
        [stamp(now)],
    )?;
    Ok(())
}

/// Queues a failed reply again under its own key, with the draft it had.
pub fn retry(
    connection: &mut Connection,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    let tx = connection.transaction()?;
    let failed: Option<String> = tx
        .query_row(
            "SELECT state FROM messages WHERE idempotency_key = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()?;
    let changed = if failed.as_deref() == Some("failed") {
        tx.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = NULL
             WHERE idempotency_key = ?1",
            params![key, stamp(now)],
        )?
    } else {
        0
    };
    if changed == 0 {
        return Err(OutboxError::NotRetryable(key.to_owned()));
    }
    tx.execute(
        "UPDATE messages SET state = 'queued', failure = NULL WHERE idempotency_key = ?1",
        [key],
    )?;
    tx.commit()?;
    Ok(())
}

/// How many replies wait for the relay (shown as "n queued" while offline).
pub fn pending_count(connection: &Connection) -> Result<u64, OutboxError> {
    Ok(connection.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'pending'",
        [],
        |row| row.get::<_, i64>(0),
    )? as u64)
}

/// A reply's state as the composer shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub key: String,
    pub rowid: i64,
}
