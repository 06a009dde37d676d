//! What the store keeps for agents' work: replies and their idempotency keys, templates,
//! conversation state, channel settings, erasure, Meta's deletion requests, bot keys and
//! the audit log, retention purges. Implemented for SQLite in `sqlite/work.rs`, for
//! PostgreSQL in `postgres/work.rs`.

use super::{Appended, Channel, NewEvent, StoreError};
use crate::audit::AuditEntry;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use ventana_protocol::event::{ConversationStatus, Event, SendFailure, Sender, SentAs};
use ventana_protocol::ids::{
    AgentId, ChannelId, ContactId, ConversationId, EventId, IdempotencyKey, MediaId, ReceiptId,
    TenantId,
};
use ventana_protocol::{ChannelKind, ChannelSettings, EventBody};

// Where a reply is and what an erasure removed are the desktop API's words too.
pub use ventana_protocol::api::{ErasureReceipt, ReplyState};

/// A reply under its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRecord {
    pub tenant: TenantId,
    pub key: IdempotencyKey,
    pub conversation: ConversationId,
    pub request_hash: [u8; 32],
    /// The reply as asked, JSON (the contract's `ventana_protocol::api::Draft`).
    pub request: String,
    pub sender: Sender,
    pub sent_as: Option<SentAs>,
    pub state: ReplyState,
    pub message_id: Option<String>,
    pub failure: Option<SendFailure>,
    pub attempts: u32,
}

/// What reserving a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// The key is new: this caller owns the send.
    New(ReplyRecord),
    /// A failed reply with the same request was put back in the queue: this caller owns
    /// the new attempt.
    Requeued(ReplyRecord),
    /// The key was already used; nothing changed.
    Existing(ReplyRecord),
}

/// How a send attempt ended, to be recorded with its events in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyOutcome {
    Sent {
        message_id: String,
    },
    /// Meta refused; `retry` says whether the relay will try again by itself.
    Failed {
        failure: SendFailure,
        retry: bool,
    },
    Unknown {
        failure: SendFailure,
    },
}

/// What policy and workflow need about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationState {
    pub id: ConversationId,
    pub tenant: TenantId,
    pub channel: Channel,
    pub contact: ContactId,
    /// The contact's id on the platform (PSID, IGSID, WhatsApp number).
    pub contact_external_id: String,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub last_outbound_at: Option<DateTime<Utc>>,
    pub status: ConversationStatus,
    pub assignee: Option<AgentId>,
    pub labels: BTreeSet<String>,
    pub marketing_opted_out: bool,
}

/// A WhatsApp template as Meta describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`.
    pub status: String,
    pub meta_id: Option<String>,
    /// Meta's components (header, body, footer, buttons), as Meta sent them.
    #[schema(value_type = Object)]
    pub components: serde_json::Value,
}

/// A conversation waiting on an answer, for the escalation sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub contact: ContactId,
    pub channel: ChannelId,
    pub settings: std::sync::Arc<ChannelSettings>,
    pub last_inbound_at: DateTime<Utc>,
}

/// A snoozed conversation whose time has come.
#[derive(Debug, Clone, PartialEq)]
pub struct SnoozeEnded {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub contact: ContactId,
    pub channel: ChannelId,
    pub until: DateTime<Utc>,
}

/// A change an admin makes to a channel; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelChange {
    pub display_name: Option<String>,
    /// Sealed already: the store never sees the token in the clear.
    pub token_sealed: Option<String>,
    pub human_agent_approved: Option<bool>,
    pub settings: Option<ChannelSettings>,
    pub waba_id: Option<String>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub tenant: TenantId,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// A contact matched by its platform id, for Meta's deletion requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatch {
    pub tenant: TenantId,
    pub contact: ContactId,
    pub channel_kind: ChannelKind,
}

/// A contact as the store keeps them, for a data export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactProfile {
    pub id: ContactId,
    /// The channel they wrote on.
    pub channel: ChannelId,
    pub channel_kind: ChannelKind,
    /// Their id on the platform (PSID, IGSID, WhatsApp number).
    pub external_id: String,
    /// The name the platform gave, if any.
    pub name: Option<String>,
    pub marketing_opted_out: bool,
    /// Their conversation (one per contact), if it exists.
    pub conversation: Option<ConversationId>,
}

/// Where one of a tenant's attachments can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    pub id: MediaId,
    /// The channel it came or went through (its token fetches WhatsApp media).
    pub channel: ChannelId,
    /// `whatsapp_media_id` or `url`.
    pub source_kind: String,
    /// The WhatsApp media id, or the URL.
    pub source: String,
}

/// What an erasure leaves in the erasure ledger: which subject (a keyed hash, never the
/// id itself; `backup.rs` makes it), of which kind, when. Written in the erasure's own
/// transaction, so a backup holds exactly the ledger of the erasures it reflects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `contact` (an erased contact, by its id) or `meta_user` (a Meta data-deletion
    /// request, by app id and platform user id).
    pub kind: String,
    /// Hex HMAC-SHA256 of the subject under the ledger key.
    pub subject_hash: String,
    /// The contact's tenant; empty for `meta_user`.
    #[serde(default)]
    pub tenant: String,
    /// When the erasure was made (RFC 3339).
    pub erased_at: String,
}

pub trait WorkStore {
    /// A channel of `tenant` by our id.
    fn channel(&self, tenant: &TenantId, id: &ChannelId) -> Result<Option<Channel>, StoreError>;
    /// The channel's sealed access token, if one is set.
    fn channel_token(&self, id: &ChannelId) -> Result<Option<String>, StoreError>;
    /// Applies `change` and appends the resulting `channel_updated` event (plus an audit
    /// entry, when `audit` is given) in one transaction.
    fn change_channel(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        change: ChannelChange,
        audit: Option<AuditRecord>,
    ) -> Result<Channel, StoreError>;
    /// Marks the channel as needing re-connection (Meta rejected its token); a no-op if
    /// it already is. Returns whether it changed.
    fn mark_needs_reconnection(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Where the tenant's attachment `id` can be fetched from; `None` for an id the tenant
    /// does not have (unknown, another tenant's, or an erased contact's).
    fn media(&self, tenant: &TenantId, id: &MediaId) -> Result<Option<StoredMedia>, StoreError>;

    /// The tenant's contact `id`; `None` for an id the tenant does not have (unknown,
    /// another tenant's, or erased).
    fn contact_profile(
        &self,
        tenant: &TenantId,
        id: &ContactId,
    ) -> Result<Option<ContactProfile>, StoreError>;
    /// Every contact of the tenant, by id.
    fn contact_profiles(&self, tenant: &TenantId) -> Result<Vec<ContactProfile>, StoreError>;
    /// Every entry of the tenant's log about `contact`, in sequence order (tombstones
    /// included), through the `events_by_contact` index.
    fn contact_events(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<Vec<super::LogEntry>, StoreError>;

    fn conversation_state(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationState>, StoreError>;
    /// Whether `message` (a `wamid` or `mid`) is a message of this conversation of this
    /// tenant, received or sent, and not erased: what a reply may quote.
    fn message_in_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        message: &str,
    ) -> Result<bool, StoreError>;
    /// Conversations whose customer is waiting for an answer (last inbound message
    /// after the last outbound one, within the last 8 days), open or pending.
    fn waiting_conversations(&self, now: DateTime<Utc>) -> Result<Vec<Waiting>, StoreError>;
    fn ended_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<SnoozeEnded>, StoreError>;

    /// Takes `record.key` for `record` if it is new (or failed, with the same request).
    fn reserve_reply(&self, record: ReplyRecord) -> Result<Reservation, StoreError>;
    fn reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<ReplyRecord>, StoreError>;
    /// Marks the key's call to Meta as in flight (committed before the call).
    fn reply_sending(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        sent_as: SentAs,
    ) -> Result<ReplyRecord, StoreError>;
    /// Records how the attempt ended and appends `events`, in one transaction.
    fn finish_reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        outcome: ReplyOutcome,
        events: Vec<NewEvent>,
        audit: Option<AuditRecord>,
    ) -> Result<Appended, StoreError>;
    /// Every reply that is queued or in flight.
    fn unfinished_replies(&self) -> Result<Vec<ReplyRecord>, StoreError>;
    /// Unfinished replies whose relay process is gone, now this one's to settle: a queued
    /// one to send, an in-flight one to record as `unknown` (never to send again). The
    /// embedded store has one process, so what it finds unfinished when it opens is all
    /// there is; on PostgreSQL, replies whose node's heartbeat has lapsed.
    fn take_over_replies(&self) -> Result<Vec<ReplyRecord>, StoreError>;

    /// Replaces the channel's templates with what Meta listed.
    fn replace_templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        templates: Vec<Template>,
    ) -> Result<(), StoreError>;
    fn templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
    ) -> Result<Vec<Template>, StoreError>;
    /// WhatsApp channels with a WABA and a token, for the periodic template sync.
    fn template_channels(&self) -> Result<Vec<Channel>, StoreError>;

    /// Erases a contact (see invariant 9) and returns the receipt; `ledger` is recorded
    /// in the erasure ledger in the same transaction (kept if already there).
    fn erase_contact(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        receipt: ReceiptId,
        audit: AuditRecord,
        ledger: &LedgerEntry,
    ) -> Result<ErasureReceipt, StoreError>;
    /// Adds entries to the erasure ledger (those already there are kept as they are).
    fn record_erasures(&self, entries: &[LedgerEntry]) -> Result<(), StoreError>;
    /// The whole erasure ledger.
    fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Every contact of every tenant, for matching the ledger on restore.
    fn all_contacts(&self) -> Result<Vec<(TenantId, ContactId)>, StoreError>;
    /// Every quarantined body with its app, for matching the ledger on restore.
    fn quarantined_bodies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// One retention pass over `channel`'s history (see `retention.rs`): from where the
    /// last pass stopped, up to `limit` events of the tenant's log are read; those of the
    /// channel's history recorded before `cutoff` become tombstones (sequence and id kept),
    /// their media references go, and so do the channel's finished replies created before
    /// `cutoff`. When anything went, a `history_purged` event is appended and the counts
    /// are audited, in the same transaction.
    fn purge_history(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        cutoff: DateTime<Utc>,
        receipt: ReceiptId,
        limit: usize,
    ) -> Result<PurgeReceipt, StoreError>;
    /// Deletes quarantined bodies received before `cutoff`; how many went.
    fn purge_quarantine(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Deletes the bodies quarantined for `app_id` that name `external_id` (a person's
    /// platform id): a Meta data-deletion request reaches them even when the person has no
    /// contact in any tenant. How many went. `ledger`, when given, is recorded in the
    /// erasure ledger in the same transaction.
    fn erase_quarantined(
        &self,
        app_id: &str,
        external_id: &str,
        ledger: Option<&LedgerEntry>,
    ) -> Result<u64, StoreError>;
    /// Contacts on the app's channels whose platform id is `external_id`.
    fn contacts_by_external_id(
        &self,
        app_id: &str,
        external_id: &str,
    ) -> Result<Vec<ContactMatch>, StoreError>;
    fn agents_may_erase(&self, tenant: &TenantId) -> Result<bool, StoreError>;
    fn set_agents_may_erase(&self, tenant: &TenantId, allowed: bool) -> Result<(), StoreError>;
    /// Makes erased data leave the database's files: SQLite folds the WAL into the
    /// database and truncates it (retrying while readers hold old snapshots); PostgreSQL
    /// vacuums the tables erasure touches, then checkpoints (see ARCHITECTURE.md for what
    /// remains, and for how long).
    fn checkpoint_truncate(&self) -> Result<(), StoreError>;

    fn record_deletion_request(
        &self,
        code: &str,
        app_id: &str,
        user_hash: &str,
        outcome: &str,
    ) -> Result<(), StoreError>;
    /// (received_at, outcome JSON) of a deletion request.
    fn deletion_request(&self, code: &str) -> Result<Option<(String, String)>, StoreError>;

    fn audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError>;
    fn audit_log(&self, tenant: &TenantId) -> Result<Vec<AuditEntry>, StoreError>;
}

/// What a retention purge pass redacted (counts only: a receipt must not hold the data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReceipt {
    pub receipt: String,
    pub channel: String,
    /// Everything of the channel's history recorded before this instant is gone.
    pub before: DateTime<Utc>,
    pub events_redacted: u64,
    pub media_removed: u64,
    pub replies_removed: u64,
    /// Whether the pass reached the first event to keep (or the log's end); `false` when
    /// it stopped at its batch size and another pass has more to do.
    pub done: bool,
}

impl PurgeReceipt {
    /// The channel-level event telling desktops to purge the same history.
    pub fn event(&self, tenant: &TenantId, channel: &ChannelId) -> NewEvent {
        NewEvent {
            id: EventId::new(format!("purged:{}", self.receipt)),
            tenant: tenant.clone(),
            channel: channel.clone(),
            contact: None,
            conversation: None,
            occurred_at: Utc::now(),
            body: EventBody::HistoryPurged {
                before: self.before,
                receipt: ReceiptId::new(self.receipt.clone()),
            },
            media: Vec::new(),
        }
    }

    /// The audit log's record of the purge: the counts, never the content.
    pub fn audit(&self, tenant: &TenantId) -> AuditRecord {
        AuditRecord {
            tenant: tenant.clone(),
            actor: "relay:retention".into(),
            action: "retention_purge".into(),
            detail: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// One purge pass, decided event by event (`retention::step`) as a backend reads the log
/// forward from the channel's cursor; shared so that both backends purge alike.
#[derive(Debug, Default)]
pub(super) struct PurgePlan {
    /// The cursor after this pass: the last sequence looked at and left behind.
    pub(super) through: i64,
    pub(super) redact: Vec<(i64, Event)>,
    /// Media ids the redacted events referred to.
    pub(super) media: Vec<String>,
    pub(super) done: bool,
}

impl PurgePlan {
    /// `through`: where the last pass stopped; `log_ends`: the pass read fewer events than
    /// its batch size, so the log ends within it.
    pub(super) fn new(through: i64, log_ends: bool) -> Self {
        Self {
            through,
            done: log_ends,
            ..Self::default()
        }
    }

    /// Takes the next event; `false` once the scan stops (this event and all later ones
    /// are kept).
    pub(super) fn consider(
        &mut self,
        seq: i64,
        event: Event,
        channel: &ChannelId,
        cutoff: DateTime<Utc>,
    ) -> bool {
        match crate::retention::step(&event, channel, cutoff) {
            crate::retention::Step::Stop => {
                self.done = true;
                return false;
            }
            crate::retention::Step::Redact => {
                if let Ok(value) = serde_json::to_value(&event) {
                    super::columns::media_ids(&value, &mut self.media);
                }
                self.redact.push((seq, event));
            }
            crate::retention::Step::Pass => {}
        }
        self.through = seq;
        true
    }

    pub(super) fn receipt(
        &self,
        receipt: &ReceiptId,
        channel: &ChannelId,
        before: DateTime<Utc>,
        media_removed: u64,
        replies_removed: u64,
    ) -> PurgeReceipt {
        PurgeReceipt {
            receipt: receipt.to_string(),
            channel: channel.to_string(),
            before,
            events_redacted: self.redact.len() as u64,
            media_removed,
            replies_removed,
            done: self.done,
        }
    }
}
