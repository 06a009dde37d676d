//! Applying the relay's log to the cache.
//!
//! A batch of consecutive log entries and the new cursor commit in one transaction
//! (ARCHITECTURE.md, invariant 5): after a crash the cache holds either all of a batch and
//! its cursor or none of it, so the next connection resumes exactly where it left off.
//! Entries at or below the cursor are skipped (never applied twice); a gap is an error and
//! nothing of the batch is written.

use crate::cache::{Cache, CacheError};
// Re-exported: what the cache keeps of a message's content is decided in `content.rs`.
pub use crate::content::{kind_of, media_id, searchable_text};
use crate::place::{self, CHANNEL_HISTORY, CONTACT_MESSAGES, Next, PlaceError};
use crate::time::stamp;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use ventana_protocol::event::{
    Assignee, ChannelSnapshot, ConversationStatus, DeliveryStatus, EscalationReason,
    InboundMessage, MessageContent, OutboundMessage, Party, ReactionAction, StatusTarget,
};
use ventana_protocol::ids::{AgentId, MessageId, NoteId};
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
    /// A message the cache has no room for (its conversation is unknown, or full).
    #[error(transparent)]
    Place(#[from] PlaceError),
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
    let mut touched = HashSet::new();
    let mut batch = BatchState::default();
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
        apply_event(&tx, &entry.event, &mut batch, &mut applied)?;
        if let Some(conversation) = &entry.event.conversation
            && !touched.contains(conversation.as_str())
        {
            touched.insert(conversation.as_str().to_owned());
            applied.conversations.push(conversation.as_str().to_owned());
        }
        last_seq = entry.seq;
        applied.applied += 1;
    }
    batch.finish(&tx)?;
    tx.execute(
        "UPDATE sync_state SET last_seq = ?1 WHERE id = 1",
        [last_seq as i64],
    )?;
    tx.commit()?;
    applied.last_seq = last_seq;
    Ok(applied)
}

/// What a batch has already made sure of, and what it writes once at its end (still inside
/// its transaction): a backlog brings many events per conversation, and every statement
/// costs, most of all the pages it dirties (each encrypted at commit).
///
/// The search index is written last for a reason of its own: once FTS5 takes part in a
/// transaction, every later statement that opens a savepoint (an insert into `messages`
/// does) makes it write its pending terms to disk as a new segment, so indexing row by row
/// wrote a segment per message and merged them over and over. Until `finish`, nothing of
/// the batch touches an FTS5 table, except the rare events that change indexed text
/// (`settle_search` runs first for them) and notes.
#[derive(Debug, Default)]
struct BatchState {
    /// Channels, contacts and conversations whose rows exist.
    channels: HashSet<String>,
    contacts: HashSet<String>,
    conversations: HashSet<String>,
    /// Contacts' names as this batch last gave them, written at the end.
    names: HashMap<String, String>,
    /// Contacts' latest activity in this batch, written at the end.
    last_seen: HashMap<String, String>,
    /// What the batch's messages did to their conversations, written at the end, or before
    /// another event changes the conversation's row.
    activity: HashMap<String, Activity>,
    /// Where each conversation's next message goes (migrations/0003).
    places: HashMap<String, Next>,
    /// The next message's arrival number, once known.
    next_seq: Option<i64>,
    /// The arrival number (`seq`) of the first message this batch inserted that the search
    /// index doesn't have yet: it and every later `seq` are this batch's.
    unindexed_from: Option<i64>,
}

impl BatchState {
    /// Makes sure the contact and conversation rows exist and the contact's `last_seen_at`
    /// will cover `at`.
    fn ensure_scope(
        &mut self,
        tx: &Transaction<'_>,
        channel: &str,
        contact: &str,
        conversation: &str,
        at: &str,
    ) -> Result<(), ApplyError> {
        if !self.contacts.contains(contact) {
            // `OR IGNORE`, not an upsert: the existing row's `last_seen_at` is raised at the
            // end, and a statement that can't abort opens no savepoint.
            tx.prepare_cached(
                "INSERT OR IGNORE INTO contacts (id, channel_id, first_seen_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![contact, channel, at])?;
            self.contacts.insert(contact.to_owned());
        }
        match self.last_seen.get_mut(contact) {
            Some(seen) if seen.as_str() >= at => {}
            Some(seen) => at.clone_into(seen),
            None => {
                self.last_seen.insert(contact.to_owned(), at.to_owned());
            }
        }
        if !self.conversations.contains(conversation) {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO conversations (id, channel_id, contact_id, last_activity_at, key)
                 VALUES (?1, ?2, ?3, ?4, (SELECT coalesce(max(key), 0) + 1 FROM conversations))",
            )?
            .execute(params![conversation, channel, contact, at])?;
            self.conversations.insert(conversation.to_owned());
        }
        Ok(())
    }

    /// Folds a message into its conversation's activity (without allocating its id again).
    fn fold(&mut self, conversation: &str, message: impl FnOnce(&mut Activity)) {
        match self.activity.get_mut(conversation) {
            Some(activity) => message(activity),
            None => {
                let mut activity = Activity::default();
                message(&mut activity);
                self.activity.insert(conversation.to_owned(), activity);
            }
        }
    }

    /// Writes the activity of `conversation` (of all, if `None`) kept so far.
    fn write_activity(
        &mut self,
        tx: &Transaction<'_>,
        conversation: Option<&str>,
    ) -> Result<(), ApplyError> {
        let pending: Vec<(String, Activity)> = match conversation {
            Some(conversation) => self
                .activity
                .remove_entry(conversation)
                .into_iter()
                .collect(),
            None => self.activity.drain().collect(),
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut update = tx.prepare_cached(
            "UPDATE conversations SET
                 unread = CASE WHEN ?2 THEN ?3 ELSE unread + ?3 END,
                 last_customer_message_at = CASE WHEN ?4 IS NULL THEN last_customer_message_at
                     ELSE max(coalesce(last_customer_message_at, ''), ?4) END,
                 last_message_rowid = CASE WHEN ?5 >= last_activity_at THEN ?6
                                           ELSE coalesce(last_message_rowid, ?7) END,
                 last_activity_at = max(last_activity_at, ?5),
                 escalation = CASE WHEN ?2 THEN NULL ELSE escalation END,
                 escalated_at = CASE WHEN ?2 THEN NULL ELSE escalated_at END
             WHERE id = ?1",
        )?;
        for (conversation, activity) in pending {
            let Some((newest_at, newest)) = activity.newest else {
                continue;
            };
            update.execute(params![
                conversation,
                activity.taken_in_hand,
                activity.unread,
                activity.last_customer_message_at,
                newest_at,
                newest,
                activity.first,
            ])?;
        }
        Ok(())
    }

    /// The rowid, conversation key and arrival number of a new message in `conversation`,
    /// which is then counted as inserted (indexed at the end, or sooner).
    fn place(
        &mut self,
        tx: &Transaction<'_>,
        conversation: &str,
    ) -> Result<(i64, i64, i64), ApplyError> {
        let next = self.next_of(tx, conversation)?;
        let rowid = next.take(conversation)?;
        let key = next.range.key;
        let seq = match self.next_seq {
            Some(seq) => seq,
            None => place::next_seq(tx)?,
        };
        self.next_seq = Some(seq + 1);
        self.unindexed_from.get_or_insert(seq);
        Ok((rowid, key, seq))
    }

    /// The conversation's next place, looked up once per batch.
    fn next_of(
        &mut self,
        tx: &Transaction<'_>,
        conversation: &str,
    ) -> Result<&mut Next, ApplyError> {
        if !self.places.contains_key(conversation) {
            let next = Next::of(tx, conversation)?;
            self.places.insert(conversation.to_owned(), next);
        }
        self.places
            .get_mut(conversation)
            .ok_or_else(|| PlaceError::UnknownConversation(conversation.to_owned()).into())
    }

    /// The conversation's key, for statements that find its messages by platform id.
    fn key_of(&mut self, tx: &Transaction<'_>, conversation: &str) -> Result<i64, ApplyError> {
        Ok(self.next_of(tx, conversation)?.range.key)
    }

    /// A received message named its sender.
    fn named(&mut self, contact: &str, name: &str) {
        if self.names.get(contact).map(String::as_str) != Some(name) {
            self.names.insert(contact.to_owned(), name.to_owned());
        }
    }

    /// Adds the messages inserted so far to the search index, in one statement.
    fn index_messages(&mut self, tx: &Transaction<'_>) -> Result<(), ApplyError> {
        if let Some(from) = self.unindexed_from.take() {
            tx.prepare_cached(
                "INSERT INTO messages_fts (rowid, text)
                 SELECT seq, text FROM messages WHERE seq >= ?1 AND text IS NOT NULL",
            )?
            .execute([from])?;
        }
        Ok(())
    }

    /// Before an event removes indexed words (an edit, an unsend, an erasure; through the
    /// triggers): the words must be in the index to be removed, so the batch's messages go
    /// in, and every index writes out what it holds in memory. `secure-delete` then removes
    /// them from the segments on disk, the path every delete took when indexing row by row
    /// (each statement's savepoint wrote the pending words out).
    fn settle_search(&mut self, tx: &Transaction<'_>) -> Result<(), ApplyError> {
        self.index_messages(tx)?;
        for flush in [
            "INSERT INTO messages_fts (messages_fts) VALUES ('flush')",
            "INSERT INTO notes_fts (notes_fts) VALUES ('flush')",
            "INSERT INTO contacts_fts (contacts_fts) VALUES ('flush')",
        ] {
            tx.prepare_cached(flush)?.execute([])?;
        }
        Ok(())
    }

    /// Writes what was kept for the end: names (the contacts' search index follows by its
    /// trigger), latest activity, the messages' search index.
    fn finish(&mut self, tx: &Transaction<'_>) -> Result<(), ApplyError> {
        self.write_activity(tx, None)?;
        let mut name =
            tx.prepare_cached("UPDATE contacts SET name = ?2 WHERE id = ?1 AND name IS NOT ?2")?;
        for (contact, given) in self.names.drain() {
            name.execute(params![contact, given])?;
        }
        let mut seen = tx.prepare_cached(
            "UPDATE contacts SET last_seen_at = max(last_seen_at, ?2) WHERE id = ?1",
        )?;
        for (contact, at) in self.last_seen.drain() {
            seen.execute(params![contact, at])?;
        }
        self.index_messages(tx)
    }

    /// Before an erasure: its words must be in the search indexes on disk to be removed from
    /// them (`settle_search`), and nothing known about the contact may be written back after it.
    /// Its rows go, so the batch makes sure of them again if it meets the contact again.
    fn erasing(&mut self, tx: &Transaction<'_>, contact: &str) -> Result<(), ApplyError> {
        // The contact's conversations go: nothing kept for them may land on a conversation
        // of the same id that a later event of the batch brings back.
        self.write_activity(tx, None)?;
        self.settle_search(tx)?;
        self.last_seen.remove(contact);
        self.names.remove(contact);
        self.contacts.clear();
        self.conversations.clear();
        self.places.clear();
        Ok(())
    }
}

/// The changes a conversation's messages make to its row, folded in log order so that one
/// update at the end of the batch leaves the row as one update per message would have.
#[derive(Debug, Default)]
struct Activity {
    /// Messages received since the batch began, or since an agent's reply.
    unread: i64,
    /// An agent replied: `unread` counts from zero and the escalation ends.
    taken_in_hand: bool,
    last_customer_message_at: Option<String>,
    /// The newest message (the later in the log of two at the same time) becomes the
    /// conversation's last if it is not older than the conversation's activity; otherwise
    /// the first one does, if the conversation had none.
    newest: Option<(String, i64)>,
    first: Option<i64>,
}

impl Activity {
    fn message(&mut self, at: &str, rowid: i64) {
        self.first.get_or_insert(rowid);
        if self
            .newest
            .as_ref()
            .is_none_or(|(newest, _)| at >= newest.as_str())
        {
            self.newest = Some((at.to_owned(), rowid));
        }
    }

    fn received(&mut self, at: &str, rowid: i64) {
        self.message(at, rowid);
        self.unread += 1;
        if self
            .last_customer_message_at
            .as_deref()
            .is_none_or(|last| at > last)
        {
            self.last_customer_message_at = Some(at.to_owned());
        }
    }

    fn sent(&mut self, at: &str, rowid: i64, by_agent: bool) {
        self.message(at, rowid);
        if by_agent {
            self.unread = 0;
            self.taken_in_hand = true;
        }
    }
}

/// The contact and conversation an event is about, when it is about one.
type Scope<'a> = Option<(&'a str, &'a str)>;

/// Applies one event: what every kind shares (the conversation's pending activity
/// written first where the event may change its row, the channel and contact rows made
/// to exist), then the kind's own function.
fn apply_event(
    tx: &Transaction<'_>,
    event: &Event,
    batch: &mut BatchState,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    let at = stamp(event.occurred_at);
    // Only messages keep their changes to the conversation's row for the end; anything
    // else that may change the row finds it up to date.
    if let Some(conversation) = &event.conversation
        && !matches!(
            event.body,
            EventBody::MessageReceived(_)
                | EventBody::MessageSent(_)
                | EventBody::MessageStatus { .. }
                | EventBody::ContactErased { .. }
        )
    {
        batch.write_activity(tx, Some(conversation.as_str()))?;
    }
    if !batch.channels.contains(event.channel.as_str()) {
        tx.prepare_cached("INSERT OR IGNORE INTO channels (id) VALUES (?1)")?
            .execute([event.channel.as_str()])?;
        batch.channels.insert(event.channel.as_str().to_owned());
    }
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
        batch.ensure_scope(tx, event.channel.as_str(), contact, conversation, &at)?;
    }
    match &event.body {
        EventBody::MessageReceived(message) => {
            message_received(tx, event, &at, scope, batch, message)
        }
        EventBody::MessageSent(message) => message_sent(tx, event, &at, scope, batch, message),
        EventBody::MessageStatus { target, status } => {
            message_status(tx, scope, batch, target, status)
        }
        EventBody::Reaction {
            message_id,
            by,
            action,
            emoji,
        } => reaction(tx, scope, message_id, by, action, emoji),
        EventBody::MessageEdited {
            message_id,
            text,
            edit_count,
        } => message_edited(tx, scope, batch, message_id, text, *edit_count),
        EventBody::MessageUnsent { message_id } => {
            message_unsent(tx, scope, batch, applied, message_id)
        }
        EventBody::ContactOptedOut { .. } => consent(tx, &at, scope, true),
        EventBody::ContactOptedIn { .. } => consent(tx, &at, scope, false),
        EventBody::ConversationUpdated {
            status,
            assignee,
            labels,
            ..
        } => conversation_updated(tx, scope, status, assignee, labels),
        EventBody::NoteAdded {
            note_id,
            author,
            text,
        } => note_added(tx, &at, scope, note_id, author, text),
        EventBody::Escalated { reason } => escalated(tx, &at, scope, reason),
        EventBody::ContactErased { .. } => contact_erased(tx, event, batch, applied),
        // A tombstone: the content is gone from the log; its sequence number still counts.
        EventBody::Redacted { .. } => Ok(()),
        EventBody::ChannelUpdated(snapshot) => channel_updated(tx, event, snapshot),
        EventBody::HistoryPurged { before, .. } => {
            // What this batch kept for its end (activity, the search index's new rows)
            // lands first, so the purge finds every message it is about.
            batch.write_activity(tx, None)?;
            batch.settle_search(tx)?;
            purge_history(tx, event.channel.as_str(), &stamp(*before), applied)
        }
    }
}

/// A customer's message: a new row at the conversation's end.
fn message_received(
    tx: &Transaction<'_>,
    event: &Event,
    at: &str,
    scope: Scope<'_>,
    batch: &mut BatchState,
    message: &InboundMessage,
) -> Result<(), ApplyError> {
    let Some((contact, conversation)) = scope else {
        return Ok(());
    };
    if let Some(name) = message
        .sender_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        batch.named(contact, name);
    }
    // `OR FAIL` rather than the default ABORT: a single-row insert checks its
    // constraints before it writes, and any error rolls the whole batch back, so the
    // outcome is the same, without a statement journal copying every page it touches.
    let (rowid, key, seq) = batch.place(tx, conversation)?;
    tx.prepare_cached(
        "INSERT OR FAIL INTO messages (rowid, seq, conversation_key, event_id,
             conversation_id, contact_id, message_id,
             direction, kind, text, content, reply_to, occurred_at, state)
         VALUES (?10, ?11, ?12, ?1, ?2, ?3, ?4, 'in', ?5, ?6, ?7, ?8, ?9, 'received')",
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
        rowid,
        seq,
        key,
    ])?;
    batch.fold(conversation, |activity| activity.received(at, rowid));
    Ok(())
}

/// A business message: ours moves on, anyone else's is a new row.
fn message_sent(
    tx: &Transaction<'_>,
    event: &Event,
    at: &str,
    scope: Scope<'_>,
    batch: &mut BatchState,
    message: &OutboundMessage,
) -> Result<(), ApplyError> {
    let Some((contact, conversation)) = scope else {
        return Ok(());
    };
    let rowid = record_sent(tx, event, contact, conversation, at, message, batch)?;
    // A person's reply is the business taking the conversation in hand.
    let by_agent = matches!(
        message.sender,
        ventana_protocol::event::Sender::Agent { .. }
    ) && message.message_id.is_some();
    batch.fold(conversation, |activity| activity.sent(at, rowid, by_agent));
    Ok(())
}

/// A sent message's delivery moved on.
fn message_status(
    tx: &Transaction<'_>,
    scope: Scope<'_>,
    batch: &mut BatchState,
    target: &StatusTarget,
    status: &DeliveryStatus,
) -> Result<(), ApplyError> {
    let (state, failure) = match status {
        DeliveryStatus::Sent => ("sent", None),
        DeliveryStatus::Delivered => ("delivered", None),
        DeliveryStatus::Read => ("read", None),
        DeliveryStatus::Failed { failure } => ("failed", Some(serde_json::to_string(failure)?)),
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
            let target = by_platform_id(tx, batch, scope, message_id.as_str())?;
            tx.prepare_cached(&format!(
                "UPDATE messages SET state = ?3, failure = ?4
                 WHERE {} AND direction = 'out' AND {RANK} < ?5",
                target.filter
            ))?
            .execute(params![
                target.conversation,
                target.id,
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
            .execute(params![idempotency_key.as_str(), state, failure, rank])?;
        }
        StatusTarget::UpTo { watermark } => {
            if let Some((_, conversation)) = scope {
                let key = batch.key_of(tx, conversation)?;
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
                     WHERE conversation_key = ?1 AND direction = 'out'
                       AND message_id IS NOT NULL AND occurred_at <= ?2 {unread}
                       AND {RANK} < ?5"
                ))?
                .execute(params![
                    key,
                    stamp(*watermark),
                    state,
                    failure,
                    rank
                ])?;
            }
        }
    }
    Ok(())
}

/// A reaction added or taken back.
fn reaction(
    tx: &Transaction<'_>,
    scope: Scope<'_>,
    message_id: &MessageId,
    by: &Party,
    action: &ReactionAction,
    emoji: &Option<String>,
) -> Result<(), ApplyError> {
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
    Ok(())
}

/// The customer edited a text message.
fn message_edited(
    tx: &Transaction<'_>,
    scope: Scope<'_>,
    batch: &mut BatchState,
    message_id: &MessageId,
    text: &str,
    edit_count: u32,
) -> Result<(), ApplyError> {
    batch.settle_search(tx)?;
    let content = serde_json::to_string(&MessageContent::Text {
        body: text.to_owned(),
    })?;
    let target = by_platform_id(tx, batch, scope, message_id.as_str())?;
    tx.prepare_cached(&format!(
        "UPDATE messages SET text = ?3, content = ?4, edit_count = max(edit_count, ?5)
         WHERE {} AND unsent = 0 AND kind = 'text'",
        target.filter
    ))?
    .execute(params![
        target.conversation,
        target.id,
        text,
        content,
        edit_count
    ])?;
    Ok(())
}

/// The customer took a message back.
fn message_unsent(
    tx: &Transaction<'_>,
    scope: Scope<'_>,
    batch: &mut BatchState,
    applied: &mut Applied,
    message_id: &MessageId,
) -> Result<(), ApplyError> {
    // The customer took it back: its content must no longer be shown or found.
    batch.settle_search(tx)?;
    let target = by_platform_id(tx, batch, scope, message_id.as_str())?;
    let contents = message_contents(tx, target.filter, params![target.conversation, target.id])?;
    applied.released_media.extend(
        contents
            .iter()
            .filter_map(|c| media_id(c).map(str::to_owned)),
    );
    tx.prepare_cached(&format!(
        "UPDATE messages SET unsent = 1, text = NULL, content = 'null' WHERE {}",
        target.filter
    ))?
    .execute(params![target.conversation, target.id])?;
    tx.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
        .execute([message_id.as_str()])?;
    Ok(())
}

/// The contact opted out of marketing messages (`out`), or back in.
fn consent(tx: &Transaction<'_>, at: &str, scope: Scope<'_>, out: bool) -> Result<(), ApplyError> {
    let Some((contact, _)) = scope else {
        return Ok(());
    };
    tx.prepare_cached("UPDATE contacts SET opted_out = ?2, consent_at = ?3 WHERE id = ?1")?
        .execute(params![contact, out, at])?;
    Ok(())
}

/// The conversation's workflow changed: only the fields present.
fn conversation_updated(
    tx: &Transaction<'_>,
    scope: Scope<'_>,
    status: &Option<ConversationStatus>,
    assignee: &Option<Assignee>,
    labels: &Option<BTreeSet<String>>,
) -> Result<(), ApplyError> {
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
    Ok(())
}

/// A private note.
fn note_added(
    tx: &Transaction<'_>,
    at: &str,
    scope: Scope<'_>,
    note_id: &NoteId,
    author: &AgentId,
    text: &str,
) -> Result<(), ApplyError> {
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
    Ok(())
}

/// The conversation needs a human.
fn escalated(
    tx: &Transaction<'_>,
    at: &str,
    scope: Scope<'_>,
    reason: &EscalationReason,
) -> Result<(), ApplyError> {
    let Some((_, conversation)) = scope else {
        return Ok(());
    };
    tx.prepare_cached("UPDATE conversations SET escalation = ?2, escalated_at = ?3 WHERE id = ?1")?
        .execute(params![conversation, serde_json::to_string(reason)?, at])?;
    Ok(())
}

/// The contact was erased: everything about them goes.
fn contact_erased(
    tx: &Transaction<'_>,
    event: &Event,
    batch: &mut BatchState,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    if let Some(contact) = &event.contact {
        batch.erasing(tx, contact.as_str())?;
        erase_contact(tx, contact.as_str(), applied)?;
    }
    Ok(())
}

/// A channel's public settings changed (the full new snapshot).
fn channel_updated(
    tx: &Transaction<'_>,
    event: &Event,
    snapshot: &ChannelSnapshot,
) -> Result<(), ApplyError> {
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
    batch: &mut BatchState,
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
                     sent_as = ?4, occurred_at = ?5, reply_to = coalesce(?6, reply_to),
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
                at,
                message.reply_to.as_ref().map(|id| id.as_str()),
            ])?;
            return Ok(rowid);
        }
    }
    // `OR FAIL`: see the inbound insert.
    let (rowid, key, seq) = batch.place(tx, conversation)?;
    tx.prepare_cached(
        "INSERT OR FAIL INTO messages (rowid, seq, conversation_key, event_id, conversation_id,
             contact_id, message_id, idempotency_key,
             direction, sender, sent_as, kind, text, content, reply_to, occurred_at, state)
         VALUES (?14, ?15, ?16, ?1, ?2, ?3, ?4, ?5, 'out', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
        rowid,
        seq,
        key,
    ])?;
    Ok(rowid)
}

/// Removes everything the cache holds about a contact. With `secure_delete` on, the freed
/// pages are zeroed; FTS5's `secure-delete` removes the words from the index at once. The
/// caller checkpoints the WAL after the commit.
fn erase_contact(
    tx: &Transaction<'_>,
    contact: &str,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    let contents = message_contents(tx, CONTACT_MESSAGES, [contact])?;
    applied.released_media.extend(
        contents
            .iter()
            .filter_map(|c| media_id(c).map(str::to_owned)),
    );
    let messages = format!("DELETE FROM messages WHERE {CONTACT_MESSAGES}");
    for sql in [
        "DELETE FROM outbox WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ?1)",
        "DELETE FROM conversation_labels WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ?1)",
        "DELETE FROM reactions WHERE contact_id = ?1",
        "DELETE FROM notes WHERE contact_id = ?1",
        &messages,
        "DELETE FROM conversations WHERE contact_id = ?1",
        "DELETE FROM contacts WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([contact])?;
    }
    applied.erased = true;
    Ok(())
}

/// Each channel's retention by this desktop's own clock: history older than the channel's
/// `retention_days` (as its last `channel_updated` event set them) goes from the cache, as
/// the relay's `history_purged` would take it, so a cache kept offline honours the promise
/// too. The caller checkpoints when `erased` is set, as after a batch.
pub fn purge_expired_history(
    cache: &mut Cache,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Applied, ApplyError> {
    let tx = cache.connection_mut().transaction()?;
    let mut channels = Vec::new();
    {
        let mut statement =
            tx.prepare_cached("SELECT id, settings FROM channels WHERE settings IS NOT NULL")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let settings: String = row.get(1)?;
            let Ok(settings) = serde_json::from_str::<ventana_protocol::ChannelSettings>(&settings)
            else {
                continue;
            };
            if let Some(days) = settings.retention_days {
                channels.push((row.get::<_, String>(0)?, days));
            }
        }
    }
    let mut applied = Applied::default();
    for (channel, days) in channels {
        let Some(before) = now.checked_sub_signed(chrono::TimeDelta::days(i64::from(days))) else {
            continue;
        };
        purge_history(&tx, &channel, &stamp(before), &mut applied)?;
    }
    tx.commit()?;
    Ok(applied)
}

/// The channel's retention ran out on the relay: its history from before `before` goes
/// from this cache too (messages with their search entries and attachments, reactions,
/// notes), as an erasure's does. Replies not yet handed to the relay stay.
fn purge_history(
    tx: &Transaction<'_>,
    channel: &str,
    before: &str,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    {
        // The conversations whose history changes, so the UI reloads them.
        let mut statement = tx.prepare_cached(&format!(
            "SELECT DISTINCT conversation_id FROM messages WHERE {CHANNEL_HISTORY}"
        ))?;
        let mut rows = statement.query(params![channel, before])?;
        while let Some(row) = rows.next()? {
            let conversation: String = row.get(0)?;
            if !applied.conversations.contains(&conversation) {
                applied.conversations.push(conversation);
            }
        }
    }
    let contents = message_contents(tx, CHANNEL_HISTORY, params![channel, before])?;
    applied.released_media.extend(
        contents
            .iter()
            .filter_map(|c| media_id(c).map(str::to_owned)),
    );
    let messages = format!("DELETE FROM messages WHERE {CHANNEL_HISTORY}");
    let reactions = format!(
        "DELETE FROM reactions WHERE message_id IN
             (SELECT message_id FROM messages WHERE {CHANNEL_HISTORY} AND message_id IS NOT NULL)"
    );
    for sql in [
        &reactions,
        "DELETE FROM notes WHERE created_at < ?2 AND conversation_id IN
             (SELECT id FROM conversations WHERE channel_id = ?1)",
        &messages,
    ] {
        tx.prepare_cached(sql)?.execute(params![channel, before])?;
    }
    applied.erased = true;
    Ok(())
}

/// How to find the messages a platform id names: `filter` is SQL over `?1` (the
/// conversation's key, or NULL) and `?2` (the id).
struct PlatformTarget<'a> {
    filter: &'static str,
    conversation: Option<i64>,
    id: &'a str,
}

/// Within the event's conversation through `messages_by_conversation_platform_id` (the
/// expression must match the index's exactly); an event without one (the relay always
/// names it) falls back to a scan of every message, so the change is still made.
fn by_platform_id<'a>(
    tx: &Transaction<'_>,
    batch: &mut BatchState,
    scope: Option<(&str, &str)>,
    id: &'a str,
) -> Result<PlatformTarget<'a>, ApplyError> {
    Ok(match scope {
        Some((_, conversation)) => PlatformTarget {
            filter: "conversation_key = ?1 AND substr(message_id, -16) = substr(?2, -16)
                 AND message_id = ?2",
            conversation: Some(batch.key_of(tx, conversation)?),
            id,
        },
        None => PlatformTarget {
            filter: "?1 IS NULL AND message_id = ?2",
            conversation: None,
            id,
        },
    })
}

fn message_contents(
    tx: &Transaction<'_>,
    filter: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<MessageContent>, ApplyError> {
    let mut statement =
        tx.prepare_cached(&format!("SELECT content FROM messages WHERE {filter}"))?;
    let rows = statement.query_map(values, |row| row.get::<_, String>(0))?;
    let mut contents = Vec::new();
    for row in rows {
        if let Ok(content) = serde_json::from_str::<MessageContent>(&row?) {
            contents.push(content);
        }
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheKey;
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};
    use serde_json::json;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .unwrap_or_default()
            + TimeDelta::minutes(minutes)
    }

    /// An event from its flat JSON body; `conversation` `None` leaves the event unscoped.
    fn event(
        id: &str,
        conversation: Option<&str>,
        minutes: i64,
        body: serde_json::Value,
    ) -> Result<Event, serde_json::Error> {
        let mut value = json!({
            "id": id, "tenant": "t1", "channel": "ch_messenger",
            "occurred_at": at(minutes), "recorded_at": at(minutes),
        });
        if let Some(conversation) = conversation {
            value["contact"] = json!(format!("ct_{conversation}"));
            value["conversation"] = json!(conversation);
        }
        if let Some(fields) = body.as_object() {
            for (key, field) in fields {
                value[key] = field.clone();
            }
        }
        serde_json::from_value(value)
    }

    fn received(
        id: &str,
        conversation: &str,
        minutes: i64,
        body: &str,
        name: &str,
    ) -> Result<Event, serde_json::Error> {
        event(
            &format!("msg:{id}"),
            Some(conversation),
            minutes,
            json!({"type": "message_received", "message_id": id,
                   "content": {"kind": "text", "body": body},
                   "sender_name": name, "reply_to": null, "referral": null}),
        )
    }

    fn sent(id: &str, conversation: &str, minutes: i64) -> Result<Event, serde_json::Error> {
        event(
            &format!("msg:{id}"),
            Some(conversation),
            minutes,
            json!({"type": "message_sent", "message_id": id, "idempotency_key": null,
                   "content": {"kind": "text", "body": "on its way"},
                   "sender": {"by": "agent", "agent": "ag_1"},
                   "sent_as": "standard", "reply_to": null}),
        )
    }

    fn delivered(
        id: &str,
        conversation: Option<&str>,
        minutes: i64,
    ) -> Result<Event, serde_json::Error> {
        event(
            &format!("st:{id}:{minutes}"),
            conversation,
            minutes,
            json!({"type": "message_status", "target": {"scope": "message", "message_id": id},
                   "status": {"state": "delivered"}}),
        )
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        cache: Cache,
        next: u64,
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    impl Fixture {
        fn new() -> Result<Self, Box<dyn std::error::Error>> {
            let dir = tempfile::tempdir()?;
            let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::from_bytes([9; 32]))?;
            Ok(Self {
                _dir: dir,
                cache,
                next: 1,
            })
        }

        /// Applies `events` as one batch.
        fn apply(&mut self, events: Vec<Event>) -> Result<Applied, ApplyError> {
            let entries: Vec<LogEntry> = events
                .into_iter()
                .map(|event| {
                    self.next += 1;
                    LogEntry {
                        seq: self.next - 1,
                        event,
                    }
                })
                .collect();
            apply_batch(&mut self.cache, &entries)
        }

        fn count(&self, sql: &str) -> rusqlite::Result<i64> {
            self.cache.connection().query_row(sql, [], |row| row.get(0))
        }

        fn found(&self, word: &str) -> rusqlite::Result<i64> {
            self.cache.connection().query_row(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1",
                [word],
                |row| row.get(0),
            )
        }

        /// FTS5 checks each index's own structure (not against its table: rows without
        /// text, like an unsent message, are deliberately not indexed).
        fn index_is_consistent(&self) -> rusqlite::Result<()> {
            self.cache.connection().execute_batch(
                "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0);
                 INSERT INTO contacts_fts (contacts_fts, rank) VALUES ('integrity-check', 0);
                 INSERT INTO notes_fts (notes_fts, rank) VALUES ('integrity-check', 0);",
            )
        }
    }

    #[test]
    fn a_batch_indexes_its_messages_even_when_it_edits_unsends_and_erases_them() -> TestResult {
        let mut cache = Fixture::new()?;
        cache.apply(vec![
            received("m1", "c1", 0, "parcel arrived broken", "Rosa")?,
            received("m2", "c1", 1, "the invoice is wrong", "Rosa")?,
            received("m3", "c1", 2, "and the colour", "Rosa")?,
            // Changed in the batch that brought them: the old words must leave the index.
            event(
                "edit:m2",
                Some("c1"),
                3,
                json!({"type": "message_edited", "message_id": "m2",
                       "text": "the receipt is wrong", "edit_count": 1}),
            )?,
            event(
                "unsend:m3",
                Some("c1"),
                4,
                json!({"type": "message_unsent", "message_id": "m3"}),
            )?,
            received("n1", "c2", 5, "where is my zapato", "Iñaki")?,
            event(
                "note:c2",
                Some("c2"),
                5,
                json!({"type": "note_added", "note_id": "nt_1", "author": "ag_1",
                       "text": "prefers zapatillas"}),
            )?,
            event(
                "erase:c2",
                Some("c2"),
                6,
                json!({"type": "contact_erased", "receipt": "rc_1"}),
            )?,
            // The contact writes again after the erasure, in the same batch.
            received("n2", "c2", 7, "hola otra vez", "Iñaki")?,
            received("m4", "c1", 8, "thanks", "Rosa")?,
        ])?;
        cache.index_is_consistent()?;
        assert_eq!(cache.found("parcel")?, 1);
        assert_eq!(cache.found("receipt")?, 1);
        assert_eq!(cache.found("invoice")?, 0);
        assert_eq!(cache.found("colour")?, 0);
        assert_eq!(cache.found("zapato")?, 0);
        assert_eq!(
            cache.count("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH 'zapatillas'")?,
            0
        );
        assert_eq!(cache.found("otra")?, 1);
        assert_eq!(cache.found("thanks")?, 1);
        // The next batch indexes only its own messages.
        cache.apply(vec![received("m5", "c1", 9, "parcel again", "Rosa")?])?;
        cache.index_is_consistent()?;
        assert_eq!(cache.found("parcel")?, 2);
        Ok(())
    }

    #[test]
    fn a_reply_composed_here_is_found_before_the_relay_has_it() -> TestResult {
        let mut cache = Fixture::new()?;
        cache.apply(vec![received("m1", "c1", 0, "hello", "Rosa")?])?;
        crate::outbox::compose(
            cache.cache.connection_mut(),
            "ag_1",
            "c1",
            &ventana_protocol::api::Draft::text("your refund is approved"),
            at(1),
        )?;
        assert_eq!(cache.found("refund")?, 1);
        cache.index_is_consistent()?;
        Ok(())
    }

    #[test]
    fn contacts_keep_their_first_and_latest_activity_and_last_name() -> TestResult {
        let mut cache = Fixture::new()?;
        cache.apply(vec![
            received("m1", "c1", 5, "hi", "Rosa")?,
            received("m2", "c1", 2, "late news", "Rosa D.")?,
            received("m3", "c1", 9, "more", "Rosa Díaz")?,
            received("m4", "c1", 7, "late again", "Rosa Díaz")?,
        ])?;
        cache.apply(vec![received("m5", "c1", 6, "older", "Rosa Díaz")?])?;
        let (name, first, last): (String, String, String) = cache.cache.connection().query_row(
            "SELECT name, first_seen_at, last_seen_at FROM contacts WHERE id = 'ct_c1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        assert_eq!(name, "Rosa Díaz");
        assert_eq!(first, stamp(at(5)));
        assert_eq!(last, stamp(at(9)));
        assert_eq!(
            cache.count("SELECT count(*) FROM contacts_fts WHERE contacts_fts MATCH 'diaz'")?,
            1
        );
        cache.index_is_consistent()?;
        Ok(())
    }

    #[test]
    fn a_status_finds_its_message_by_platform_id_in_its_conversation() -> TestResult {
        let mut cache = Fixture::new()?;
        // Two ids that end alike: the index holds only their tails, the full id decides.
        let long = "m_".to_owned() + &"x".repeat(40);
        let other = "m_y".to_owned() + &"x".repeat(39);
        cache.apply(vec![
            sent(&long, "c1", 0)?,
            sent(&other, "c1", 1)?,
            sent("m_2", "c2", 2)?,
            delivered(&long, Some("c1"), 3)?,
            // The relay always names the conversation; without one the message is still found.
            delivered("m_2", None, 4)?,
        ])?;
        let state = |id: &str| -> rusqlite::Result<String> {
            cache.cache.connection().query_row(
                "SELECT state FROM messages WHERE message_id = ?1",
                [id],
                |row| row.get(0),
            )
        };
        assert_eq!(state(&long)?, "delivered");
        assert_eq!(state(&other)?, "sent");
        assert_eq!(state("m_2")?, "delivered");

        let tx = cache.cache.connection_mut().transaction()?;
        let target = by_platform_id(
            &tx,
            &mut BatchState::default(),
            Some(("ct_c1", "c1")),
            &long,
        )?;
        let plan: Vec<String> = tx
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT rowid FROM messages WHERE {}",
                target.filter
            ))?
            .query_map(params![target.conversation, target.id], |row| {
                row.get::<_, String>(3)
            })?
            .collect::<Result<_, _>>()?;
        assert!(
            plan.iter()
                .any(|step| step.contains("messages_by_conversation_platform_id")),
            "the look-up doesn't use its index: {plan:?}"
        );
        Ok(())
    }
}
