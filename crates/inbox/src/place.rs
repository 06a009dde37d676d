//! Where a new message goes (migrations/0003): its rowid is its conversation's key shifted
//! left 24 bits plus its number in the conversation, so a conversation's messages are one
//! range of the table; its `seq` is its arrival in the cache, which the search index uses.

use rusqlite::{Connection, OptionalExtension};

/// How many messages one conversation can hold (its share of the rowid space). 2^24 keeps
/// rowids below 2^53 for the first 2^29 conversations, so the UI's JavaScript numbers hold
/// them exactly.
const PER_CONVERSATION: i64 = 1 << 24;

/// SQL over `messages` for a contact's messages, given as `?1`: the ranges of its
/// conversations. Its `<< 24` is `PER_CONVERSATION`'s (as in migrations/0003).
pub const CONTACT_MESSAGES: &str = "rowid IN (SELECT m.rowid FROM conversations c
     JOIN messages m ON m.rowid >= c.key << 24 AND m.rowid < (c.key + 1) << 24
     WHERE c.contact_id = ?1)";

/// SQL over `messages` for a channel's history before a time: the channel `?1`, the time
/// `?2` (stamped as `occurred_at` is). Replies still waiting to reach the relay are not
/// history yet. Its `<< 24` is `PER_CONVERSATION`'s (as in migrations/0003).
pub const CHANNEL_HISTORY: &str = "rowid IN (SELECT m.rowid FROM conversations c
     JOIN messages m ON m.rowid >= c.key << 24 AND m.rowid < (c.key + 1) << 24
     WHERE c.channel_id = ?1 AND m.occurred_at < ?2 AND m.state NOT IN ('queued', 'sending'))";

/// A conversation's range of message rowids: `lo..hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub key: i64,
    pub lo: i64,
    pub hi: i64,
}

impl Range {
    pub fn of_key(key: i64) -> Self {
        Self {
            key,
            lo: key << 24,
            hi: (key << 24) + PER_CONVERSATION,
        }
    }
}

/// Why a message could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("unknown conversation {0}")]
    UnknownConversation(String),
    #[error("conversation {0} holds 16,777,216 messages, the most one conversation can")]
    Full(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The rowid range of `conversation`, if the cache has it.
pub fn range(connection: &Connection, conversation: &str) -> rusqlite::Result<Option<Range>> {
    Ok(connection
        .prepare_cached("SELECT key FROM conversations WHERE id = ?1")?
        .query_row([conversation], |row| row.get::<_, i64>(0))
        .optional()?
        .map(Range::of_key))
}

/// The next free place in a conversation: the rowid after its newest message's.
#[derive(Debug, Clone, Copy)]
pub struct Next {
    pub range: Range,
    pub rowid: i64,
}

impl Next {
    /// Looks up the conversation's key and its newest message.
    pub fn of(connection: &Connection, conversation: &str) -> Result<Self, PlaceError> {
        let range = range(connection, conversation)?
            .ok_or_else(|| PlaceError::UnknownConversation(conversation.to_owned()))?;
        let newest: Option<i64> = connection
            .prepare_cached(
                "SELECT rowid FROM messages WHERE rowid >= ?1 AND rowid < ?2
                 ORDER BY rowid DESC LIMIT 1",
            )?
            .query_row([range.lo, range.hi], |row| row.get(0))
            .optional()?;
        Ok(Self {
            range,
            rowid: newest.map_or(range.lo, |rowid| rowid + 1),
        })
    }

    /// Takes the place, leaving the next one.
    pub fn take(&mut self, conversation: &str) -> Result<i64, PlaceError> {
        if self.rowid >= self.range.hi {
            return Err(PlaceError::Full(conversation.to_owned()));
        }
        self.rowid += 1;
        Ok(self.rowid - 1)
    }
}

/// The next arrival number.
pub fn next_seq(connection: &Connection) -> rusqlite::Result<i64> {
    connection
        .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM messages")?
        .query_row([], |row| row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, CacheKey};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_conversation_fills_its_own_range_from_its_newest_message() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::from_bytes([6; 32]))?;
        let c = cache.connection();
        c.execute_batch(
            "INSERT INTO conversations (id, channel_id, contact_id, last_activity_at, key)
             VALUES ('a', 'ch', 'ct', '', 7), ('b', 'ch', 'ct', '', 8);",
        )?;
        let mut a = Next::of(c, "a")?;
        assert_eq!(a.take("a")?, 7 << 24);
        assert_eq!(a.take("a")?, (7 << 24) + 1);
        c.execute(
            "INSERT INTO messages (rowid, seq, conversation_key, conversation_id, contact_id,
                 direction, kind, content, occurred_at, state)
             VALUES (?1, 1, 7, 'a', 'ct', 'in', 'text', '{}', '', 'received')",
            [(7_i64 << 24) + 4],
        )?;
        // The newest decides, whatever a caller took before; another conversation is apart.
        assert_eq!(Next::of(c, "a")?.rowid, (7 << 24) + 5);
        assert_eq!(Next::of(c, "b")?.rowid, 8 << 24);
        assert_eq!(next_seq(c)?, 2);
        assert!(matches!(
            Next::of(c, "nobody"),
            Err(PlaceError::UnknownConversation(_))
        ));
        let mut full = Next {
            range: Range::of_key(9),
            rowid: (10 << 24) - 1,
        };
        assert_eq!(full.take("c")?, (10 << 24) - 1);
        assert!(matches!(full.take("c"), Err(PlaceError::Full(_))));
        Ok(())
    }
}
