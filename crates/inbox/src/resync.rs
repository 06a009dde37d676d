//! Starting an account's cache over from the log's beginning, when the relay says its log
//! is behind this cache (a `resync` frame: the relay was restored from a backup, or the
//! cache belongs to another relay). Events this cache applied may no longer be in the log,
//! and the sequence numbers after the relay's head will be reused for other events, so
//! nothing applied can be trusted: the cache keeps its channels and templates (they are
//! read from the relay again at every connection) and replies not yet sent, and drops
//! everything else in one transaction, with the cursor back to 0.

use crate::cache::{Cache, CacheError};
use crate::content::media_id;
use crate::outbox::{self, OutboxError};
use ventana_protocol::event::MessageContent;

/// What the reset kept and released.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reset {
    /// Replies that had not reached the relay, parked until the replay is live.
    pub parked: u64,
    /// Attachments of the dropped messages, to remove from the disk cache.
    pub released_media: Vec<String>,
}

/// Drops the cached log (contacts, conversations, messages, notes, reactions) and sets the
/// cursor to 0; parks unsent replies (`outbox::park_pending`). One transaction.
pub fn reset(cache: &mut Cache) -> Result<Reset, OutboxError> {
    let tx = cache
        .connection_mut()
        .transaction()
        .map_err(CacheError::from)?;
    let mut released_media = Vec::new();
    {
        let mut statement = tx
            .prepare(
                "SELECT content FROM messages WHERE kind NOT IN ('text', 'location', 'template')",
            )
            .map_err(CacheError::from)?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(CacheError::from)?;
        for content in rows {
            let content = content.map_err(CacheError::from)?;
            if let Ok(content) = serde_json::from_str::<MessageContent>(&content)
                && let Some(id) = media_id(&content)
            {
                released_media.push(id.to_owned());
            }
        }
    }
    let parked = outbox::park_pending(&tx)?;
    // Rows one by one through the search triggers, so the indexes stay consistent with
    // their tables (FTS5 `secure-delete` takes the words out as it goes).
    for sql in [
        "DELETE FROM messages",
        "DELETE FROM notes",
        "DELETE FROM reactions",
        "DELETE FROM conversation_labels",
        "DELETE FROM conversations",
        "DELETE FROM contacts",
        "UPDATE sync_state SET last_seq = 0 WHERE id = 1",
    ] {
        tx.execute(sql, []).map_err(CacheError::from)?;
    }
    tx.commit().map_err(CacheError::from)?;
    Ok(Reset {
        parked,
        released_media,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::apply::{LogEntry, apply_batch, cursor};
    use crate::cache::CacheKey;
    use chrono::Utc;
    use serde_json::json;
    use ventana_protocol::api::Draft;

    fn entry(seq: u64, value: serde_json::Value) -> LogEntry {
        LogEntry {
            seq,
            event: serde_json::from_value(value).unwrap(),
        }
    }

    fn received(seq: u64, conversation: &str, mid: &str, text: &str) -> LogEntry {
        entry(
            seq,
            json!({"id": format!("msg:{mid}"), "tenant": "t", "channel": "ch1",
                   "contact": format!("ct-{conversation}"), "conversation": conversation,
                   "occurred_at": "2026-11-23T10:00:00Z", "recorded_at": "2026-11-23T10:00:00Z",
                   "type": "message_received", "message_id": mid,
                   "content": {"kind": "text", "body": text},
                   "sender_name": "Rosa", "reply_to": null, "referral": null}),
        )
    }

    fn count(cache: &Cache, sql: &str) -> i64 {
        cache
            .connection()
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_reset_drops_the_log_keeps_unsent_replies_and_queues_them_again_when_they_fit() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache =
            Cache::open(&dir.path().join("c.db"), &CacheKey::from_bytes([7; 32])).unwrap();
        apply_batch(
            &mut cache,
            &[
                received(1, "conv-a", "m1", "hola Zanahoria"),
                received(2, "conv-b", "m2", "where is my parcel"),
            ],
        )
        .unwrap();
        let draft = Draft::text("on its way");
        let now = Utc::now();
        let (kept, _) =
            outbox::compose(cache.connection_mut(), "agent-1", "conv-a", &draft, now).unwrap();
        let (lost, _) =
            outbox::compose(cache.connection_mut(), "agent-1", "conv-b", &draft, now).unwrap();

        let reset = reset(&mut cache).unwrap();
        assert_eq!(reset.parked, 2);
        assert_eq!(cursor(&cache).unwrap(), 0);
        assert_eq!(count(&cache, "SELECT count(*) FROM messages"), 0);
        assert_eq!(count(&cache, "SELECT count(*) FROM conversations"), 0);
        assert_eq!(count(&cache, "SELECT count(*) FROM contacts"), 0);
        assert_eq!(
            count(
                &cache,
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'zanahoria'"
            ),
            0
        );
        // Parked replies are not due while their conversations are gone.
        assert!(outbox::due(cache.connection(), now).unwrap().is_empty());

        // The restored log has only the first conversation.
        apply_batch(&mut cache, &[received(1, "conv-a", "m1", "hola Zanahoria")]).unwrap();
        let unparked = outbox::unpark(cache.connection_mut(), "agent-1", now).unwrap();
        assert_eq!(
            unparked,
            outbox::Unparked {
                queued: 1,
                known: 0,
                lost: 1
            }
        );
        let due = outbox::due(cache.connection(), now).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, kept);
        assert_ne!(due[0].key, lost);
        assert_eq!(
            count(
                &cache,
                "SELECT count(*) FROM messages WHERE state = 'queued' AND conversation_id = 'conv-a'"
            ),
            1
        );
        // Found by search again, as any queued reply.
        assert_eq!(
            count(
                &cache,
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'way'"
            ),
            1
        );
    }
}
