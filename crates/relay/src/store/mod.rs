//! The relay's storage: tenants, channels, agents, sessions and each tenant's event log,
//! behind the [`Storage`] trait so a Postgres backend can serve several relay nodes later.
//!
//! [`sqlite::SqliteStore`] is the embedded default. Every method is scoped by tenant where
//! data belongs to one (invariant 7); the log's sequence per tenant has no gaps and an
//! event's stable id is unique per tenant (invariants 4 and 5).

mod accounts;
mod columns;
pub mod postgres;
pub mod sqlite;
mod work;

pub use accounts::*;
pub use work::*;

use chrono::{DateTime, Utc};
use serde::Serialize;
use ventana_protocol::ids::{
    AgentId, ChannelId, ContactId, ConversationId, EventId, MediaId, TenantId,
};
use ventana_protocol::{ChannelKind, Event, EventBody};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// A rule refused the change: a stable code (e.g. `last_admin`) and why, in words.
    #[error("{1}")]
    Refused(&'static str, String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("the transaction could not be committed")]
    CommitFailed,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migration(#[from] ventana_migrate::MigrationError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached or has no free connection within the pool's wait.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
}

/// A registered Meta app. Its secret and verify token are stored sealed (see `seal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaApp {
    pub app_id: String,
    pub secret_sealed: String,
    pub verify_token_sealed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub id: ChannelId,
    pub tenant: TenantId,
    pub kind: ChannelKind,
    pub external_id: String,
    pub app_id: String,
    pub display_name: String,
    pub human_agent_approved: bool,
    /// The WhatsApp Business Account the number belongs to (where its templates live).
    pub waba_id: Option<String>,
    /// Why Meta stopped accepting the channel's token, until an admin sets a new one.
    pub needs_reconnection: Option<String>,
    /// Whether an access token is set (the token itself is write-only).
    pub has_token: bool,
    pub settings: std::sync::Arc<ventana_protocol::ChannelSettings>,
}

impl Channel {
    /// The channel as every desktop may see it.
    pub fn snapshot(&self) -> ventana_protocol::event::ChannelSnapshot {
        use ventana_protocol::event::{ChannelConnection, ChannelSnapshot};
        ChannelSnapshot {
            kind: self.kind,
            display_name: self.display_name.clone(),
            connection: match &self.needs_reconnection {
                None => ChannelConnection::Connected,
                Some(reason) => ChannelConnection::NeedsReconnection {
                    reason: reason.clone(),
                },
            },
            human_agent_approved: self.human_agent_approved,
            settings: (*self.settings).clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub tenant: TenantId,
    pub kind: ChannelKind,
    pub external_id: String,
    pub app_id: String,
    pub display_name: String,
    pub waba_id: Option<String>,
}

/// The contact an event is about, as the platform names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRef {
    pub external_id: String,
    pub name: Option<String>,
}

/// Where an attachment can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub id: MediaId,
    /// `whatsapp_media_id` or `url`.
    pub source_kind: &'static str,
    pub source: String,
}

/// An event routed to its tenant and channel, before the log gives it a sequence number.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The stable id; an event whose id the tenant's log already has is a duplicate.
    pub id: EventId,
    pub tenant: TenantId,
    pub channel: ChannelId,
    /// The contact as the platform names them (events from webhooks).
    pub contact: Option<ContactRef>,
    /// The contact and conversation by our ids (events the relay makes about a known
    /// conversation); used when `contact` is `None`.
    pub conversation: Option<(ContactId, ConversationId)>,
    pub occurred_at: DateTime<Utc>,
    pub body: EventBody,
    pub media: Vec<MediaRecord>,
}

/// An event as it sits in a tenant's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub event: Event,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Appended {
    /// The new entries, in sequence order.
    pub entries: Vec<LogEntry>,
    /// How many events were already in the log (redeliveries).
    pub duplicates: usize,
    /// How many events the relay made about a conversation that was erased meanwhile
    /// (dropped: nothing is recorded about an erased contact).
    pub dropped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationInfo {
    pub id: ConversationId,
    pub tenant: TenantId,
    pub channel: ChannelId,
    pub contact: ContactId,
}

/// A quarantined webhook body, as an operator lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub received_at: String,
    pub app_id: String,
    pub reason: String,
    pub bytes: usize,
}

/// A quarantined body, to be replayed.
#[derive(Debug, Clone)]
pub struct QuarantinedBody {
    pub app_id: String,
    pub reason: String,
    pub body: Vec<u8>,
}

/// An append on its way to being committed.
#[derive(Debug)]
pub struct PendingAppend(pub tokio::sync::oneshot::Receiver<Result<Appended, StoreError>>);

impl PendingAppend {
    /// Waits for the commit (or the failure) of the append.
    pub async fn committed(self) -> Result<Appended, StoreError> {
        self.0.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Called, in sequence order, with each group of entries right after it is committed.
pub type CommitListener = Box<dyn Fn(&[LogEntry]) + Send + Sync>;

/// Everything the relay keeps. Methods block; async callers use `spawn_blocking`.
pub trait Storage: WorkStore + AccountStore + Send + Sync + 'static {
    fn add_tenant(&self, name: &str) -> Result<Tenant, StoreError>;
    /// A tenant by id or by name.
    fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError>;

    fn add_meta_app(&self, app: MetaApp) -> Result<(), StoreError>;
    fn meta_app(&self, app_id: &str) -> Result<Option<MetaApp>, StoreError>;

    fn add_channel(&self, channel: NewChannel) -> Result<Channel, StoreError>;
    fn channel_by_external_id(
        &self,
        kind: ChannelKind,
        external_id: &str,
    ) -> Result<Option<Channel>, StoreError>;

    /// Appends events to their tenants' logs in one transaction, skipping duplicates.
    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError>;
    /// The same, for async callers: queues the events and returns at once; await the
    /// result to know they are committed. Nothing blocks a thread meanwhile.
    fn append_queued(&self, events: Vec<NewEvent>) -> Result<PendingAppend, StoreError>;
    /// Up to `limit` entries of `tenant`'s log with a sequence above `after`.
    fn read_log(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StoreError>;
    /// The tenant's last sequence number (0 for an empty log).
    fn head(&self, tenant: &TenantId) -> Result<u64, StoreError>;
    fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationInfo>, StoreError>;

    fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    fn channels_of(&self, tenant: &TenantId) -> Result<Vec<Channel>, StoreError>;
    /// The most recent quarantined bodies, newest first (without their bytes).
    fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, StoreError>;

    /// Keeps a signed body the relay could not use, with the reason: once per app and
    /// body (Meta's redeliveries are not kept again), and within
    /// `retention::QUARANTINE_MAX_BYTES` (the oldest bodies go first).
    fn quarantine(&self, app_id: &str, reason: &str, body: &[u8]) -> Result<(), StoreError>;
    /// Deletes the oldest quarantined bodies until the rest fit in `max_bytes`; how many
    /// went.
    fn trim_quarantine(&self, max_bytes: u64) -> Result<u64, StoreError>;
    fn quarantine_count(&self) -> Result<u64, StoreError>;
    /// The quarantined body `id`, if it is still there.
    fn quarantined_body(&self, id: i64) -> Result<Option<QuarantinedBody>, StoreError>;
    /// Deletes the quarantined body `id` (replayed); whether it was there.
    fn release_quarantined(&self, id: i64) -> Result<bool, StoreError>;

    /// Whether this process runs the periodic jobs (the sweeper, taking over replies) now.
    /// One process runs them at a time; when it dies another takes over within seconds.
    fn leads(&self) -> Result<bool, StoreError>;
    /// Whether the store can serve requests now (a load balancer's readiness check).
    fn ready(&self) -> Result<(), StoreError>;
}
