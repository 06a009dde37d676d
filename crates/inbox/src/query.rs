//! What the UI reads from one account's cache: the inbox, a conversation's messages, search
//! and a contact's profile. Each is one or two indexed queries; the benchmark
//! (`benches/cache.rs`) holds them to their targets on 100,000 conversations.

use crate::cache::CacheError;
use crate::place::{self, CONTACT_MESSAGES};
use crate::time::parse;
use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use ventana_protocol::window::{ReplyContext, ReplyWindow, SenderKind};
use ventana_protocol::{ChannelKind, reply_window};

/// A channel as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRef {
    pub id: String,
    /// `None` until the relay has told this cache what the channel is.
    pub kind: Option<ChannelKind>,
    pub name: String,
}

/// One row of the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub channel: ChannelRef,
    pub contact_id: String,
    pub contact_name: Option<String>,
    pub opted_out: bool,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_customer_message_at: Option<DateTime<Utc>>,
    pub last_message: Option<MessagePreview>,
    pub unread: u32,
    /// `open`, `pending`, `snoozed` or `resolved`.
    pub status: String,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    /// Why the conversation is escalated (the protocol's `EscalationReason`), while it is.
    pub escalation: Option<serde_json::Value>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// How a human agent's reply would go out now; `None` while the channel is unknown.
    pub window: Option<ReplyWindow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePreview {
    /// `in` (the customer) or `out` (the business).
    pub direction: String,
    pub kind: String,
    pub text: Option<String>,
    pub state: String,
    pub unsent: bool,
}

/// Which conversations the inbox shows. Empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InboxFilter {
    /// Assigned to the account's agent.
    pub mine: bool,
    pub unassigned: bool,
    pub escalated: bool,
    pub status: Option<String>,
    pub channel: Option<ChannelKind>,
    pub label: Option<String>,
}

/// Where the next page starts: the last row of the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCursor {
    pub last_activity_at: String,
    pub id: String,
}

const SUMMARY_COLUMNS: &str =
    "c.id, c.channel_id, ch.kind, ch.display_name, ch.human_agent_approved,
     c.contact_id, ct.name, ct.opted_out, c.last_activity_at, c.last_customer_message_at,
     c.unread, c.status, c.snoozed_until, c.assignee, c.labels, c.escalation, c.escalated_at,
     m.direction, m.kind, m.text, m.state, m.unsent";

const SUMMARY_FROM: &str = "FROM conversations c
     JOIN contacts ct ON ct.id = c.contact_id
     LEFT JOIN channels ch ON ch.id = c.channel_id
     LEFT JOIN messages m ON m.rowid = c.last_message_rowid";

/// Which page of the inbox: the first, the one after a row or the one before a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxPage<'a> {
    First,
    /// The rows that sort below the cursor's row (older activity).
    After(&'a InboxCursor),
    /// The rows that sort just above the cursor's row (newer activity): what a list that
    /// let go of its top rows loads when it is scrolled back up.
    Before(&'a InboxCursor),
}

impl<'a> InboxPage<'a> {
    /// `after` and `before` as a command receives them; `before` wins when both are given.
    pub fn from_cursors(after: Option<&'a InboxCursor>, before: Option<&'a InboxCursor>) -> Self {
        match (after, before) {
            (_, Some(cursor)) => Self::Before(cursor),
            (Some(cursor), None) => Self::After(cursor),
            (None, None) => Self::First,
        }
    }
}

/// A page of the inbox, newest activity first.
pub fn inbox(
    connection: &Connection,
    filter: &InboxFilter,
    me: &str,
    after: Option<&InboxCursor>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<ConversationSummary>, CacheError> {
    let page = after.map_or(InboxPage::First, InboxPage::After);
    inbox_page(connection, filter, me, page, limit, now)
}

/// A page of the inbox, newest activity first (a page `Before` a row too: the `limit` rows
/// nearest above it, in the list's order).
pub fn inbox_page(
    connection: &Connection,
    filter: &InboxFilter,
    me: &str,
    page: InboxPage<'_>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<ConversationSummary>, CacheError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    // Each `?` in a clause becomes the number of the value pushed with it.
    fn bind(
        clauses: &mut Vec<String>,
        values: &mut Vec<Box<dyn ToSql>>,
        clause: &str,
        value: Box<dyn ToSql>,
    ) {
        values.push(value);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    }
    if filter.mine {
        bind(
            &mut clauses,
            &mut values,
            "c.assignee = ?",
            Box::new(me.to_owned()),
        );
    }
    if filter.unassigned {
        clauses.push("c.assignee IS NULL".into());
    }
    if filter.escalated {
        clauses.push("c.escalation IS NOT NULL".into());
    }
    if let Some(status) = &filter.status {
        bind(
            &mut clauses,
            &mut values,
            "c.status = ?",
            Box::new(status.clone()),
        );
    }
    if let Some(kind) = filter.channel {
        bind(
            &mut clauses,
            &mut values,
            "ch.kind = ?",
            Box::new(kind.as_str()),
        );
    }
    if let Some(label) = &filter.label {
        bind(
            &mut clauses,
            &mut values,
            "c.id IN (SELECT conversation_id FROM conversation_labels WHERE label = ?)",
            Box::new(label.clone()),
        );
    }
    let (cursor, compare, order) = match page {
        InboxPage::First => (None, "<", "DESC"),
        InboxPage::After(cursor) => (Some(cursor), "<", "DESC"),
        // Walked upwards from the row, then turned round into the list's order.
        InboxPage::Before(cursor) => (Some(cursor), ">", "ASC"),
    };
    if let Some(cursor) = cursor {
        // The cursor's time is compared as text with the stored form, so it is put in that
        // form whatever RFC 3339 shape the caller sent (`…:00Z` and `…:00.000Z` are equal).
        let at = parse(&cursor.last_activity_at)
            .map(crate::time::stamp)
            .unwrap_or_else(|| cursor.last_activity_at.clone());
        values.push(Box::new(at));
        values.push(Box::new(cursor.id.clone()));
        clauses.push(format!(
            "(c.last_activity_at, c.id) {compare} (?{}, ?{})",
            values.len() - 1,
            values.len()
        ));
    }
    values.push(Box::new(limit as i64));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} {SUMMARY_FROM} {} ORDER BY c.last_activity_at {order}, c.id {order} LIMIT ?{}",
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        },
        values.len()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(
        rusqlite::params_from_iter(values.iter().map(|v| v.as_ref())),
        |row| summary(row, now),
    )?;
    let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
    if matches!(page, InboxPage::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

/// One conversation's row, as the inbox shows it.
pub fn conversation(
    connection: &Connection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConversationSummary>, CacheError> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} {SUMMARY_FROM} WHERE c.id = ?1"
        ))?
        .query_row([id], |row| summary(row, now))
        .optional()?)
}

fn summary(row: &Row<'_>, now: DateTime<Utc>) -> rusqlite::Result<ConversationSummary> {
    let kind: Option<ChannelKind> = row
        .get::<_, Option<String>>(2)?
        .and_then(|kind| serde_json::from_value(serde_json::Value::String(kind)).ok());
    let human_agent_approved: Option<bool> = row.get(4)?;
    let opted_out: bool = row.get(7)?;
    let last_customer = row.get::<_, Option<String>>(9)?.as_deref().and_then(parse);
    let window = kind.map(|channel| {
        reply_window(
            &ReplyContext {
                channel,
                last_customer_message_at: last_customer,
                sender: SenderKind::HumanAgent,
                human_agent_approved: human_agent_approved.unwrap_or(false),
                marketing_opted_out: opted_out,
            },
            now,
        )
    });
    let last_message = match row.get::<_, Option<String>>(17)? {
        Some(direction) => Some(MessagePreview {
            direction,
            kind: row.get(18)?,
            text: row.get(19)?,
            state: row.get(20)?,
            unsent: row.get(21)?,
        }),
        None => None,
    };
    Ok(ConversationSummary {
        id: row.get(0)?,
        channel: ChannelRef {
            id: row.get(1)?,
            kind,
            name: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
        },
        contact_id: row.get(5)?,
        contact_name: row.get(6)?,
        opted_out,
        last_activity_at: parse(&row.get::<_, String>(8)?),
        last_customer_message_at: last_customer,
        last_message,
        unread: row.get(10)?,
        status: row.get(11)?,
        snoozed_until: row.get::<_, Option<String>>(12)?.as_deref().and_then(parse),
        assignee: row.get(13)?,
        labels: serde_json::from_str(&row.get::<_, String>(14)?).unwrap_or_default(),
        escalation: row
            .get::<_, Option<String>>(15)?
            .and_then(|json| serde_json::from_str(&json).ok()),
        escalated_at: row.get::<_, Option<String>>(16)?.as_deref().and_then(parse),
        window,
    })
}

/// One message as the conversation view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// The cache's own id for the message: stable, and the paging cursor.
    pub rowid: i64,
    pub message_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// `in` or `out`.
    pub direction: String,
    /// The protocol's `Sender` for outgoing messages.
    pub sender: Option<serde_json::Value>,
    pub sent_as: Option<String>,
    pub kind: String,
    /// The protocol's `MessageContent`; `null` once the customer unsent it.
    pub content: serde_json::Value,
    pub reply_to: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// `received`, `queued`, `sending`, `sent`, `delivered`, `read` or `failed`.
    pub state: String,
    /// Why it failed (the protocol's `SendFailure`, or `{reason}` for a refusal).
    pub failure: Option<serde_json::Value>,
    pub edit_count: u32,
    pub unsent: bool,
    pub reactions: Vec<ReactionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionView {
    /// `customer` or `business`.
    pub by: String,
    pub emoji: String,
}

const MESSAGES_PAGE: &str =
    "SELECT rowid, message_id, idempotency_key, direction, sender, sent_as, kind, content,
            reply_to, occurred_at, state, failure, edit_count, unsent
     FROM messages WHERE rowid >= ?1 AND rowid < ?2
     ORDER BY rowid DESC LIMIT ?3";

/// The newest `limit` messages of a conversation before `before` (a rowid), oldest first.
///
/// Its messages are one range of the table (migrations/0003), so a page is a walk down a
/// few neighbouring pages of it.
pub fn messages(
    connection: &Connection,
    conversation: &str,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<MessageView>, CacheError> {
    let Some(range) = place::range(connection, conversation)? else {
        return Ok(Vec::new());
    };
    let below = before.map_or(range.hi, |before| before.min(range.hi));
    let mut statement = connection.prepare_cached(MESSAGES_PAGE)?;
    let rows = statement.query_map(params![range.lo, below, limit as i64], |row| {
        let json = |index: usize| -> rusqlite::Result<Option<serde_json::Value>> {
            Ok(row
                .get::<_, Option<String>>(index)?
                .and_then(|text| serde_json::from_str(&text).ok()))
        };
        Ok(MessageView {
            rowid: row.get(0)?,
            message_id: row.get(1)?,
            idempotency_key: row.get(2)?,
            direction: row.get(3)?,
            sender: json(4)?,
            sent_as: row.get(5)?,
            kind: row.get(6)?,
            content: json(7)?.unwrap_or(serde_json::Value::Null),
            reply_to: row.get(8)?,
            occurred_at: parse(&row.get::<_, String>(9)?),
            state: row.get(10)?,
            failure: json(11)?,
            edit_count: row.get(12)?,
            unsent: row.get(13)?,
            reactions: Vec::new(),
        })
    })?;
    let mut page: Vec<MessageView> = rows.collect::<Result<_, _>>()?;
    page.reverse();
    let mut reactions =
        connection.prepare_cached("SELECT by, emoji FROM reactions WHERE message_id = ?1")?;
    for message in page.iter_mut() {
        if let Some(id) = &message.message_id {
            message.reactions = reactions
                .query_map([id], |row| {
                    Ok(ReactionView {
                        by: row.get(0)?,
                        emoji: row.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
        }
    }
    Ok(page)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteView {
    pub id: String,
    pub author: String,
    pub text: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// A conversation's private notes, oldest first.
pub fn notes(connection: &Connection, conversation: &str) -> Result<Vec<NoteView>, CacheError> {
    let mut statement = connection.prepare_cached(
        "SELECT id, author, text, created_at FROM notes WHERE conversation_id = ?1
         ORDER BY created_at, rowid",
    )?;
    let rows = statement.query_map([conversation], |row| {
        Ok(NoteView {
            id: row.get(0)?,
            author: row.get(1)?,
            text: row.get(2)?,
            created_at: parse(&row.get::<_, String>(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One piece of a search snippet: matched words are `hit`, so the UI can highlight them
/// without ever interpreting message text as markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// `message`, `contact` or `note`.
    pub kind: String,
    pub conversation_id: Option<String>,
    pub contact_id: String,
    pub contact_name: Option<String>,
    /// The message to jump to, for message hits.
    pub message_rowid: Option<i64>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub snippet: Vec<SnippetPart>,
}

const MARK_START: char = '\u{2}';
const MARK_END: char = '\u{3}';

/// Turns what an agent typed into an FTS5 query that can't be a syntax error: every word
/// is a quoted phrase (all must match), and the last one is a prefix so results come as
/// they type. `None` if nothing searchable was typed.
pub fn fts_query(typed: &str) -> Option<String> {
    let words: Vec<String> = typed
        .split(|c: char| c.is_whitespace() || c == '"' || c == MARK_START || c == MARK_END)
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{word}\""))
        .collect();
    let last = words.len().checked_sub(1)?;
    Some(
        words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                if i == last {
                    format!("{word}*")
                } else {
                    word.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn snippet_parts(marked: &str) -> Vec<SnippetPart> {
    let mut parts = Vec::new();
    let mut hit = false;
    let mut text = String::new();
    for c in marked.chars() {
        if c == MARK_START || c == MARK_END {
            if !text.is_empty() {
                parts.push(SnippetPart {
                    text: std::mem::take(&mut text),
                    hit,
                });
            }
            hit = c == MARK_START;
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        parts.push(SnippetPart { text, hit });
    }
    parts
}

/// Messages, contacts and notes matching `typed`: contacts first (a handful), then
/// messages and notes newest first, at most `limit` in all.
pub fn search(
    connection: &Connection,
    typed: &str,
    limit: usize,
) -> Result<Vec<SearchHit>, CacheError> {
    let Some(query) = fts_query(typed) else {
        return Ok(Vec::new());
    };
    let mut hits = Vec::new();
    let mut contacts = connection.prepare_cached(
        "SELECT ct.id, ct.name, highlight(contacts_fts, 0, char(2), char(3)), ct.last_seen_at,
                (SELECT id FROM conversations WHERE contact_id = ct.id
                 ORDER BY last_activity_at DESC LIMIT 1)
         FROM contacts_fts JOIN contacts ct ON ct.rowid = contacts_fts.rowid
         WHERE contacts_fts MATCH ?1 ORDER BY contacts_fts.rowid DESC LIMIT 5",
    )?;
    for hit in contacts.query_map(params![query], |row| {
        Ok(SearchHit {
            kind: "contact".into(),
            contact_id: row.get(0)?,
            contact_name: row.get(1)?,
            snippet: snippet_parts(&row.get::<_, String>(2)?),
            occurred_at: parse(&row.get::<_, String>(3)?),
            conversation_id: row.get(4)?,
            message_rowid: None,
        })
    })? {
        hits.push(hit?);
    }
    // The index is walked by descending rowid, which is `seq`, the arrival order: newest first
    // without sorting the matches, so a common word costs no more than a rare one.
    let mut messages = connection.prepare_cached(
        "SELECT m.rowid, m.conversation_id, m.contact_id, ct.name, m.occurred_at,
                snippet(messages_fts, 0, char(2), char(3), '…', 16)
         FROM messages_fts
         JOIN messages m ON m.seq = messages_fts.rowid
         LEFT JOIN contacts ct ON ct.id = m.contact_id
         WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rowid DESC LIMIT ?2",
    )?;
    let remaining = limit.saturating_sub(hits.len());
    for hit in messages.query_map(params![query, remaining as i64], |row| {
        Ok(SearchHit {
            kind: "message".into(),
            message_rowid: Some(row.get(0)?),
            conversation_id: Some(row.get(1)?),
            contact_id: row.get(2)?,
            contact_name: row.get(3)?,
            occurred_at: parse(&row.get::<_, String>(4)?),
            snippet: snippet_parts(&row.get::<_, String>(5)?),
        })
    })? {
        hits.push(hit?);
    }
    let mut notes = connection.prepare_cached(
        "SELECT n.conversation_id, n.contact_id, ct.name, n.created_at,
                snippet(notes_fts, 0, char(2), char(3), '…', 16)
         FROM notes_fts JOIN notes n ON n.rowid = notes_fts.rowid
         LEFT JOIN contacts ct ON ct.id = n.contact_id
         WHERE notes_fts MATCH ?1 ORDER BY notes_fts.rowid DESC LIMIT 10",
    )?;
    for hit in notes.query_map(params![query], |row| {
        Ok(SearchHit {
            kind: "note".into(),
            conversation_id: Some(row.get(0)?),
            contact_id: row.get(1)?,
            contact_name: row.get(2)?,
            occurred_at: parse(&row.get::<_, String>(3)?),
            snippet: snippet_parts(&row.get::<_, String>(4)?),
            message_rowid: None,
        })
    })? {
        hits.push(hit?);
    }
    hits.truncate(limit);
    Ok(hits)
}

/// A contact as the contact panel shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactProfile {
    pub id: String,
    pub name: Option<String>,
    pub channel: ChannelRef,
    pub opted_out: bool,
    pub consent_changed_at: Option<DateTime<Utc>>,
    pub first_seen_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub conversations: Vec<ContactConversation>,
    pub messages: u64,
    pub attachments: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactConversation {
    pub id: String,
    pub status: String,
    pub last_activity_at: Option<DateTime<Utc>>,
}

pub fn contact(connection: &Connection, id: &str) -> Result<Option<ContactProfile>, CacheError> {
    let profile = connection
        .prepare_cached(&format!(
            "SELECT ct.id, ct.name, ct.channel_id, ch.kind, ch.display_name, ct.opted_out,
                    ct.consent_at, ct.first_seen_at, ct.last_seen_at,
                    (SELECT count(*) FROM messages WHERE {CONTACT_MESSAGES}),
                    (SELECT count(*) FROM messages WHERE {CONTACT_MESSAGES}
                       AND kind IN ('image', 'audio', 'video', 'document', 'sticker'))
             FROM contacts ct LEFT JOIN channels ch ON ch.id = ct.channel_id WHERE ct.id = ?1"
        ))?
        .query_row([id], |row| {
            Ok(ContactProfile {
                id: row.get(0)?,
                name: row.get(1)?,
                channel: ChannelRef {
                    id: row.get(2)?,
                    kind: row
                        .get::<_, Option<String>>(3)?
                        .and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
                    name: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                },
                opted_out: row.get(5)?,
                consent_changed_at: row.get::<_, Option<String>>(6)?.as_deref().and_then(parse),
                first_seen_at: parse(&row.get::<_, String>(7)?),
                last_seen_at: parse(&row.get::<_, String>(8)?),
                conversations: Vec::new(),
                messages: row.get::<_, i64>(9)? as u64,
                attachments: row.get::<_, i64>(10)? as u64,
            })
        })
        .optional()?;
    let Some(mut profile) = profile else {
        return Ok(None);
    };
    let mut statement = connection.prepare_cached(
        "SELECT id, status, last_activity_at FROM conversations WHERE contact_id = ?1
         ORDER BY last_activity_at DESC",
    )?;
    profile.conversations = statement
        .query_map([id], |row| {
            Ok(ContactConversation {
                id: row.get(0)?,
                status: row.get(1)?,
                last_activity_at: parse(&row.get::<_, String>(2)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(profile))
}

/// The unread total: `WHERE unread > 0` lets SQLite sum the small partial index of unread
/// conversations (`migrations/0004`) instead of walking every conversation.
const UNREAD_TOTAL: &str = "SELECT coalesce(sum(unread), 0) FROM conversations WHERE unread > 0";

/// The cache's unread total (the app's badge).
pub fn unread_total(connection: &Connection) -> Result<u64, CacheError> {
    Ok(connection.query_row(UNREAD_TOTAL, [], |row| row.get::<_, i64>(0))? as u64)
}

/// Who a conversation is assigned to and its contact's name, for deciding whether a new
/// message or an escalation is worth a notification.
pub fn assignee_and_contact(
    connection: &Connection,
    conversation: &str,
) -> Result<(Option<String>, Option<String>), CacheError> {
    Ok(connection.query_row(
        "SELECT c.assignee, ct.name FROM conversations c
         JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?1",
        [conversation],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?)
}

/// Marks a conversation read on this desktop.
pub fn mark_read(connection: &Connection, conversation: &str) -> Result<(), CacheError> {
    connection
        .prepare_cached("UPDATE conversations SET unread = 0 WHERE id = ?1")?
        .execute([conversation])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, CacheKey};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan(connection: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
        connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
            .query_map(params![1_i64 << 24, 2_i64 << 24, 50], |row| {
                row.get::<_, String>(3)
            })?
            .collect()
    }

    #[test]
    fn the_unread_total_reads_only_the_index_of_unread_conversations() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::from_bytes([4; 32]))?;
        let c = cache.connection();
        let steps = c
            .prepare(&format!("EXPLAIN QUERY PLAN {UNREAD_TOTAL}"))?
            .query_map([], |row| row.get::<_, String>(3))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        assert!(
            steps
                .iter()
                .any(|step| step.contains("COVERING INDEX conversations_unread")),
            "{steps:?}"
        );
        c.execute_batch(
            "INSERT INTO conversations (id, channel_id, contact_id, last_activity_at, key, unread)
             VALUES ('a', 'ch', 'ct', '', 1, 2), ('b', 'ch', 'ct', '', 2, 0),
                    ('c', 'ch', 'ct', '', 3, 5);",
        )?;
        assert_eq!(unread_total(c)?, 7);
        c.execute("UPDATE conversations SET unread = 0 WHERE id = 'c'", [])?;
        assert_eq!(unread_total(c)?, 2);
        Ok(())
    }

    #[test]
    fn a_conversation_page_walks_its_range_of_the_table_without_sorting() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::from_bytes([4; 32]))?;
        let steps = plan(cache.connection(), MESSAGES_PAGE)?;
        assert!(
            steps
                .iter()
                .any(|step| step.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|step| step.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        Ok(())
    }
}
