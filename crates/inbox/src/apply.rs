//! Applying the relay's log to the cache.
//!
//! A batch of consecutive log entries and the new cursor commit in one transaction
//! (ARCHITECTURE.md, invariant 5): after a crash the cache holds either all of a batch and
//! its cursor or none of it, so the next connection resumes exactly where it left off.
//! Entries at or below the cursor are skipped (never applied twice); a gap is an error and
//! nothing of the batch is written.

use crate::cache::{Cache, CacheError};
use crate::time::stamp;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use ventana_protocol::event::{
    Assignee, ConversationStatus, DeliveryStatus, MessageContent, OutboundMessage, ReactionAction,
    StatusTarget,
};
use ventana_protocol::{Event, EventBody};

/// One entry of the tenant's log, as the stream delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub event: Event,
}

/// What a batch changed, for the layers above (UI refresh, notifications, media purge).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// The cursor after the batch.
    pub last_seq: u64,
    /// How many entries were applied (entries already applied are not counted).
    pub applied: usize,
    /// Conversations whose rows changed, in first-touched order.
    pub conversations: Vec<String>,
    /// Attachments the cache no longer refers to (unsent or erased): purge their files.
    pub released_media: Vec<String>,
    /// Whether a contact was erased: the caller checkpoints the WAL (invariant 9).
    pub erased: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The stream skipped entries: reconnect from the cursor.
    #[error("the log has a gap: expected entry {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Cache(CacheError::Sqlite(error))
    }
}

impl From<serde_json::Error> for ApplyError {
    fn from(error: serde_json::Error) -> Self {
        Self::Cache(CacheError::Sqlite(rusqlite::Error::ToSqlConversionFailure(
            Box::new(error),
        )))
    }
}

/// The last applied sequence number.
pub fn cursor(cache: &Cache) -> Result<u64, CacheError> {
    Ok(cache
        .connection()
        .query_row("SELECT last_seq FROM sync_state WHERE id = 1", [], |row| {
            row.get::<_, i64>(0)
        })? as u64)
}

/// Applies `entries` (in order) and the new cursor in one transaction.
pub fn apply_batch(cache: &mut Cache, entries: &[LogEntry]) -> Result<Applied, ApplyError> {
    let tx = cache.connection_mut().transaction()?;
    let mut last_seq: u64 =
        tx.query_row("SELECT last_seq FROM sync_state WHERE id = 1", [], |row| {
            row.get::<_, i64>(0)
        })? as u64;
    let mut applied = Applied::default();
    let mut touched = BTreeSet::new();
    for entry in entries {
        if entry.seq <= last_seq {
            continue;
        }
        if entry.seq != last_seq + 1 {
            return Err(ApplyError::Gap {
                expected: last_seq + 1,
                got: entry.seq,
            });
        }
        apply_event(&tx, &entry.event, &mut applied)?;
        if let Some(conversation) = &entry.event.conversation
            && touched.insert(conversation.as_str().to_owned())
        {
            applied.conversations.push(conversation.as_str().to_owned());
        }
        last_seq = entry.seq;
        applied.applied += 1;
    }
    tx.execute(
        "UPDATE sync_state SET last_seq = ?1 WHERE id = 1",
        [last_seq as i64],
    )?;
    tx.commit()?;
    applied.last_seq = last_seq;
    Ok(applied)
}

fn apply_event(
    tx: &Transaction<'_>,
    event: &Event,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    let at = stamp(event.occurred_at);
    tx.prepare_cached("INSERT OR IGNORE INTO channels (id) VALUES (?1)")?
        .execute([event.channel.as_str()])?;
    let scope = match (&event.contact, &event.conversation) {
        (Some(contact), Some(conversation)) => Some((contact.as_str(), conversation.as_str())),
        _ => None,
    };
    // Erasure and tombstones must not (re)create the rows they are about.
    if let Some((contact, conversation)) = scope
        && !matches!(
            event.body,
            EventBody::ContactErased { .. } | EventBody::Redacted { .. }
        )
    {
        tx.prepare_cached(
            "INSERT INTO contacts (id, channel_id, first_seen_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET last_seen_at = max(last_seen_at, excluded.last_seen_at)",
        )?
        .execute(params![contact, event.channel.as_str(), at])?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO conversations (id, channel_id, contact_id, last_activity_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![conversation, event.channel.as_str(), contact, at])?;
    }
    match &event.body {
        EventBody::MessageReceived(message) => {
            let Some((contact, conversation)) = scope else {
                return Ok(());
            };
            if let Some(name) = message
                .sender_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
            {
                tx.prepare_cached(
                    "UPDATE contacts SET name = ?2 WHERE id = ?1 AND name IS NOT ?2",
                )?
                .execute(params![contact, name])?;
            }
            tx.prepare_cached(
                "INSERT INTO messages (event_id, conversation_id, contact_id, message_id,
                     direction, kind, text, content, reply_to, occurred_at, state)
                 VALUES (?1, ?2, ?3, ?4, 'in', ?5, ?6, ?7, ?8, ?9, 'received')",
            )?
            .execute(params![
                event.id.as_str(),
                conversation,
                contact,
                message.message_id.as_str(),
                kind_of(&message.content),
                searchable_text(&message.content),
                serde_json::to_string(&message.content)?,
                message.reply_to.as_ref().map(|id| id.as_str()),
                at,
            ])?;
            let rowid = tx.last_insert_rowid();
            tx.prepare_cached(
                "UPDATE conversations SET
                     unread = unread + 1,
                     last_customer_message_at = max(coalesce(last_customer_message_at, ''), ?2),
                     last_message_rowid = CASE WHEN ?2 >= last_activity_at THEN ?3
                                               ELSE coalesce(last_message_rowid, ?3) END,
                     last_activity_at = max(last_activity_at, ?2)
                 WHERE id = ?1",
            )?
            .execute(params![conversation, at, rowid])?;
        }
        EventBody::MessageSent(message) => {
            let Some((contact, conversation)) = scope else {
                return Ok(());
            };
            let rowid = record_sent(tx, event, contact, conversation, &at, message)?;
            // A person's reply is the business taking the conversation in hand.
            let by_agent = matches!(
                message.sender,
                ventana_protocol::event::Sender::Agent { .. }
            ) && message.message_id.is_some();
            tx.prepare_cached(
                "UPDATE conversations SET
                     last_message_rowid = CASE WHEN ?2 >= last_activity_at THEN ?3
                                               ELSE coalesce(last_message_rowid, ?3) END,
                     last_activity_at = max(last_activity_at, ?2),
                     unread = CASE WHEN ?4 THEN 0 ELSE unread END,
                     escalation = CASE WHEN ?4 THEN NULL ELSE escalation END,
                     escalated_at = CASE WHEN ?4 THEN NULL ELSE escalated_at END
                 WHERE id = ?1",
            )?
            .execute(params![conversation, at, rowid, by_agent])?;
        }
        EventBody::MessageStatus { target, status } => {
            let (state, failure) = match status {
                DeliveryStatus::Sent => ("sent", None),
                DeliveryStatus::Delivered => ("delivered", None),
                DeliveryStatus::Read => ("read", None),
                DeliveryStatus::Failed { failure } => {
                    ("failed", Some(serde_json::to_string(failure)?))
                }
            };
            let rank = match status {
                DeliveryStatus::Sent => 1,
                DeliveryStatus::Delivered => 2,
                DeliveryStatus::Read => 3,
                DeliveryStatus::Failed { .. } => 8,
            };
            // Statuses only move forward (DeliveryStatus::supersedes): a failure is final,
            // a `delivered` after its `read` changes nothing.
            const RANK: &str = "(CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                 WHEN 'read' THEN 3 WHEN 'failed' THEN 9 ELSE 0 END)";
            match target {
                StatusTarget::Message { message_id } => {
                    tx.prepare_cached(&format!(
                        "UPDATE messages SET state = ?2, failure = ?3
                         WHERE message_id = ?1 AND direction = 'out' AND {RANK} < ?4"
                    ))?
                    .execute(params![
                        message_id.as_str(),
                        state,
                        failure,
                        rank
                    ])?;
                }
                StatusTarget::Reply { idempotency_key } => {
                    tx.prepare_cached(&format!(
                        "UPDATE messages SET state = ?2, failure = ?3
                         WHERE idempotency_key = ?1 AND {RANK} < ?4"
                    ))?
                    .execute(params![
                        idempotency_key.as_str(),
                        state,
                        failure,
                        rank
                    ])?;
                }
                StatusTarget::UpTo { watermark } => {
                    if let Some((_, conversation)) = scope {
                        // Short of a failure, the rank test already excludes read and failed
                        // messages; saying so lets the update walk the conversation's
                        // unread replies (`messages_unread_replies`), not all its messages.
                        let unread = if rank < 8 {
                            "AND state NOT IN ('read', 'failed')"
                        } else {
                            ""
                        };
                        tx.prepare_cached(&format!(
                            "UPDATE messages SET state = ?3, failure = ?4
                             WHERE conversation_id = ?1 AND direction = 'out'
                               AND message_id IS NOT NULL AND occurred_at <= ?2 {unread}
                               AND {RANK} < ?5"
                        ))?
                        .execute(params![
                            conversation,
                            stamp(*watermark),
                            state,
                            failure,
                            rank
                        ])?;
                    }
                }
            }
        }
        EventBody::Reaction {
            message_id,
            by,
            action,
            emoji,
        } => {
            let Some((contact, _)) = scope else {
                return Ok(());
            };
            let by = serde_json::to_value(by)?;
            let by = by.as_str().unwrap_or("customer");
            match (action, emoji) {
                (ReactionAction::Added, Some(emoji)) => {
                    tx.prepare_cached(
                        "INSERT INTO reactions (message_id, by, emoji, contact_id) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (message_id, by) DO UPDATE SET emoji = excluded.emoji",
                    )?
                    .execute(params![message_id.as_str(), by, emoji, contact])?;
                }
                _ => {
                    tx.prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND by = ?2")?
                        .execute(params![message_id.as_str(), by])?;
                }
            }
        }
        EventBody::MessageEdited {
            message_id,
            text,
            edit_count,
        } => {
            let content = serde_json::to_string(&MessageContent::Text { body: text.clone() })?;
            tx.prepare_cached(
                "UPDATE messages SET text = ?2, content = ?3, edit_count = max(edit_count, ?4)
                 WHERE message_id = ?1 AND unsent = 0 AND kind = 'text'",
            )?
            .execute(params![message_id.as_str(), text, content, edit_count])?;
        }
        EventBody::MessageUnsent { message_id } => {
            // The customer took it back: its content must no longer be shown or found.
            let contents = message_contents(tx, "message_id = ?1", message_id.as_str())?;
            applied.released_media.extend(
                contents
                    .iter()
                    .filter_map(|c| media_id(c).map(str::to_owned)),
            );
            tx.prepare_cached(
                "UPDATE messages SET unsent = 1, text = NULL, content = 'null'
                 WHERE message_id = ?1",
            )?
            .execute([message_id.as_str()])?;
            tx.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
                .execute([message_id.as_str()])?;
        }
        EventBody::ContactOptedOut { .. } | EventBody::ContactOptedIn { .. } => {
            let Some((contact, _)) = scope else {
                return Ok(());
            };
            let out = matches!(event.body, EventBody::ContactOptedOut { .. });
            tx.prepare_cached("UPDATE contacts SET opted_out = ?2, consent_at = ?3 WHERE id = ?1")?
                .execute(params![contact, out, at])?;
        }
        EventBody::ConversationUpdated {
            status,
            assignee,
            labels,
            ..
        } => {
            let Some((_, conversation)) = scope else {
                return Ok(());
            };
            if let Some(status) = status {
                let (name, until) = match status {
                    ConversationStatus::Open => ("open", None),
                    ConversationStatus::Pending => ("pending", None),
                    ConversationStatus::Snoozed { until } => ("snoozed", Some(stamp(*until))),
                    ConversationStatus::Resolved => ("resolved", None),
                };
                let resolved = matches!(status, ConversationStatus::Resolved);
                tx.prepare_cached(
                    "UPDATE conversations SET status = ?2, snoozed_until = ?3,
                         escalation = CASE WHEN ?4 THEN NULL ELSE escalation END,
                         escalated_at = CASE WHEN ?4 THEN NULL ELSE escalated_at END
                     WHERE id = ?1",
                )?
                .execute(params![conversation, name, until, resolved])?;
            }
            if let Some(assignee) = assignee {
                let agent = match assignee {
                    Assignee::Agent { agent } => Some(agent.as_str()),
                    Assignee::Nobody => None,
                };
                tx.prepare_cached("UPDATE conversations SET assignee = ?2 WHERE id = ?1")?
                    .execute(params![conversation, agent])?;
            }
            if let Some(labels) = labels {
                tx.prepare_cached("UPDATE conversations SET labels = ?2 WHERE id = ?1")?
                    .execute(params![conversation, serde_json::to_string(labels)?])?;
                tx.prepare_cached("DELETE FROM conversation_labels WHERE conversation_id = ?1")?
                    .execute([conversation])?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO conversation_labels (conversation_id, label) VALUES (?1, ?2)",
                )?;
                for label in labels {
                    insert.execute(params![conversation, label])?;
                }
            }
        }
        EventBody::NoteAdded {
            note_id,
            author,
            text,
        } => {
            let Some((contact, conversation)) = scope else {
                return Ok(());
            };
            tx.prepare_cached(
                "INSERT OR IGNORE INTO notes (id, conversation_id, contact_id, author, text, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                note_id.as_str(),
                conversation,
                contact,
                author.as_str(),
                text,
                at
            ])?;
        }
        EventBody::Escalated { reason } => {
            let Some((_, conversation)) = scope else {
                return Ok(());
            };
            tx.prepare_cached(
                "UPDATE conversations SET escalation = ?2, escalated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![conversation, serde_json::to_string(reason)?, at])?;
        }
        EventBody::ContactErased { .. } => {
            if let Some(contact) = &event.contact {
                erase_contact(tx, contact.as_str(), applied)?;
            }
        }
        // A tombstone: the content is gone from the log; its sequence number still counts.
        EventBody::Redacted { .. } => {}
        EventBody::ChannelUpdated(snapshot) => {
            tx.prepare_cached(
                "UPDATE channels SET kind = ?2, display_name = ?3, connection = ?4,
                     human_agent_approved = ?5, settings = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                event.channel.as_str(),
                snapshot.kind.as_str(),
                snapshot.display_name,
                serde_json::to_string(&snapshot.connection)?,
                snapshot.human_agent_approved,
                serde_json::to_string(&snapshot.settings)?,
            ])?;
        }
    }
    Ok(())
}

/// Records a business message: our own reply (found by its key) moves on; anything else
/// (a bot, another app, a reply from another desktop) is a new row.
fn record_sent(
    tx: &Transaction<'_>,
    event: &Event,
    contact: &str,
    conversation: &str,
    at: &str,
    message: &OutboundMessage,
) -> Result<i64, ApplyError> {
    let sent_as = serde_json::to_value(message.sent_as)?;
    let sent_as = sent_as.as_str().unwrap_or("unknown").to_owned();
    if let Some(key) = &message.idempotency_key {
        let existing: Option<i64> = tx
            .prepare_cached("SELECT rowid FROM messages WHERE idempotency_key = ?1")?
            .query_row([key.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(rowid) = existing {
            // Without a platform id the relay could not send it; its failure follows as a
            // `message_status` on the key, so the state is left for that.
            tx.prepare_cached(
                "UPDATE messages SET event_id = ?2, message_id = coalesce(?3, message_id),
                     sent_as = ?4, occurred_at = ?5,
                     state = CASE WHEN ?3 IS NOT NULL AND state IN ('queued', 'sending', 'failed')
                                  THEN 'sent' ELSE state END,
                     failure = CASE WHEN ?3 IS NOT NULL THEN NULL ELSE failure END
                 WHERE rowid = ?1",
            )?
            .execute(params![
                rowid,
                event.id.as_str(),
                message.message_id.as_ref().map(|id| id.as_str()),
                sent_as,
                at
            ])?;
            return Ok(rowid);
        }
    }
    tx.prepare_cached(
        "INSERT INTO messages (event_id, conversation_id, contact_id, message_id, idempotency_key,
             direction, sender, sent_as, kind, text, content, reply_to, occurred_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, 'out', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        event.id.as_str(),
        conversation,
        contact,
        message.message_id.as_ref().map(|id| id.as_str()),
        message.idempotency_key.as_ref().map(|key| key.as_str()),
        serde_json::to_string(&message.sender)?,
        sent_as,
        kind_of(&message.content),
        searchable_text(&message.content),
        serde_json::to_string(&message.content)?,
        message.reply_to.as_ref().map(|id| id.as_str()),
        at,
        if message.message_id.is_some() {
            "sent"
        } else {
            "sending"
        },
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Removes everything the cache holds about a contact. With `secure_delete` on, the freed
/// pages are zeroed; FTS5's `secure-delete` removes the words from the index at once. The
/// caller checkpoints the WAL after the commit.
fn erase_contact(
    tx: &Transaction<'_>,
    contact: &str,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    let contents = message_contents(tx, "contact_id = ?1", contact)?;
    applied.released_media.extend(
        contents
            .iter()
            .filter_map(|c| media_id(c).map(str::to_owned)),
    );
    for sql in [
        "DELETE FROM outbox WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ?1)",
        "DELETE FROM conversation_labels WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ?1)",
        "DELETE FROM reactions WHERE contact_id = ?1",
        "DELETE FROM notes WHERE contact_id = ?1",
        "DELETE FROM messages WHERE contact_id = ?1",
        "DELETE FROM conversations WHERE contact_id = ?1",
        "DELETE FROM contacts WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([contact])?;
    }
    applied.erased = true;
    Ok(())
}

fn message_contents(
    tx: &Transaction<'_>,
    filter: &str,
    value: &str,
) -> Result<Vec<MessageContent>, ApplyError> {
    let mut statement =
        tx.prepare_cached(&format!("SELECT content FROM messages WHERE {filter}"))?;
    let rows = statement.query_map([value], |row| row.get::<_, String>(0))?;
    let mut contents = Vec::new();
    for row in rows {
        if let Ok(content) = serde_json::from_str::<MessageContent>(&row?) {
            contents.push(content);
        }
    }
    Ok(contents)
}

/// The message's kind, as the UI and the inbox preview name it.
pub fn kind_of(content: &MessageContent) -> &'static str {
    match content {
        MessageContent::Text { .. } => "text",
        MessageContent::Image(_) => "image",
        MessageContent::Audio(_) => "audio",
        MessageContent::Video(_) => "video",
        MessageContent::Document(_) => "document",
        MessageContent::Sticker(_) => "sticker",
        MessageContent::Location { .. } => "location",
        MessageContent::Contacts { .. } => "contacts",
        MessageContent::InteractiveReply { .. } => "interactive_reply",
        MessageContent::Button { .. } => "button",
        MessageContent::Postback { .. } => "postback",
        MessageContent::Referral(_) => "referral",
        MessageContent::Template(_) => "template",
        MessageContent::Unsupported { .. } => "unsupported",
    }
}

/// The attachment a message carries, if any.
pub fn media_id(content: &MessageContent) -> Option<&str> {
    match content {
        MessageContent::Image(media)
        | MessageContent::Audio(media)
        | MessageContent::Video(media)
        | MessageContent::Document(media)
        | MessageContent::Sticker(media) => Some(media.media_id.as_str()),
        _ => None,
    }
}

/// The words search should find a message by.
pub fn searchable_text(content: &MessageContent) -> Option<String> {
    let join = |parts: Vec<Option<&str>>| {
        let text = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
        (!text.trim().is_empty()).then_some(text)
    };
    match content {
        MessageContent::Text { body } => Some(body.clone()),
        MessageContent::Image(media)
        | MessageContent::Audio(media)
        | MessageContent::Video(media)
        | MessageContent::Document(media)
        | MessageContent::Sticker(media) => {
            join(vec![media.caption.as_deref(), media.filename.as_deref()])
        }
        MessageContent::Location { name, address, .. } => {
            join(vec![name.as_deref(), address.as_deref()])
        }
        MessageContent::Contacts { contacts } => {
            join(contacts.iter().map(|c| Some(c.name.as_str())).collect())
        }
        MessageContent::InteractiveReply {
            title, description, ..
        } => join(vec![Some(title.as_str()), description.as_deref()]),
        MessageContent::Button { text, .. } => Some(text.clone()),
        MessageContent::Postback { title, .. } => Some(title.clone()),
        MessageContent::Referral(referral) => join(vec![referral.headline.as_deref()]),
        MessageContent::Template(template) => {
            let mut parts = vec![Some(template.name.as_str())];
            parts.extend(template.body_parameters.iter().map(|p| Some(p.as_str())));
            join(parts)
        }
        MessageContent::Unsupported { description } => description.clone(),
    }
}
