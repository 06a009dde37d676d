//! The PostgreSQL store: several relay nodes on one database.
//!
//! The `Storage` methods block, as the trait says, but the driver is async
//! (`tokio-postgres`, pooled by `deadpool-postgres`). The store runs its own small tokio
//! runtime on a thread of its own; a method hands its work to that runtime and waits on a
//! plain channel, so it can be called from any thread — a `spawn_blocking` worker, the
//! admin CLI, or a test — without nesting runtimes.
//!
//! What keeps the log's promises across nodes:
//! - **Sequences** (invariant 4): an append locks each of its tenants' `tenants` rows
//!   (`FOR UPDATE`, in id order so two appends never deadlock), numbers its events from
//!   `last_seq`, and moves `last_seq` in the same commit. Appends to one tenant queue on
//!   that row lock whichever node they reach; a rolled-back append gives its numbers back.
//!   The duplicate check by stable id runs after the lock, so it sees every commit before.
//! - **Live fan-out** (invariant 5): the appending transaction also sends
//!   `NOTIFY ventana_log, '<tenant> <first> <last>'`, delivered at commit, in commit order.
//!   Each node listens (`fanout.rs`) and publishes entries it has not published yet, in
//!   sequence order, reading them from the log; its own commits it publishes directly.
//! - **Nodes** (`nodes.rs`): each start registers a node id with a heartbeat; replies
//!   carry the node working on them, and another node takes them over only once that node
//!   is gone. Periodic jobs run on the node holding an advisory lock.

mod accounts;
mod copy;
mod fanout;
mod nodes;
mod work;

use super::*;
use crate::store::columns::*;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use ventana_migrate::Migration;

pub use copy::{CopyReport, copy_from_sqlite};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "retention",
        sql: include_str!("../../migrations/postgres/0002_retention.sql"),
    },
    Migration {
        version: 3,
        name: "quarantine_bounds",
        sql: include_str!("../../migrations/postgres/0003_quarantine_bounds.sql"),
    },
    Migration {
        version: 4,
        name: "erasure_ledger",
        sql: include_str!("../../migrations/postgres/0004_erasure_ledger.sql"),
    },
];

/// Connections per node. Each request holds one only for its statements; the listener and
/// the singleton lock have their own, outside the pool.
const POOL_SIZE: usize = 16;
/// How long a caller waits for a free connection (or a new one) before `Unavailable`.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Work for the store's runtime: a future that borrows the transaction it is given.
pub(super) type Work<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Tunables; tests shorten them.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// How often the node renews its heartbeat.
    pub heartbeat: Duration,
    /// A node silent this long is gone: its replies are taken over.
    pub node_lease: Duration,
    /// How often the fan-out compares every tenant's head with what it has published (a
    /// safety net for a notification lost while the listening connection was down).
    pub recheck: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(2),
            node_lease: Duration::from_secs(10),
            recheck: Duration::from_secs(1),
        }
    }
}

pub struct PostgresStore {
    pool: Pool,
    runtime: tokio::runtime::Handle,
    /// Dropping it stops the runtime's thread (and with it every task and connection).
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    node: Arc<nodes::Node>,
    fanout: Option<fanout::Fanout>,
    /// Queued appends, committed one after another in the order they were queued (as the
    /// embedded store's writer does), by `commit_queued`.
    queued: tokio::sync::mpsc::UnboundedSender<QueuedAppend>,
}

type QueuedAppend = (
    Vec<NewEvent>,
    tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
);

/// The most queued appends one transaction takes (as the embedded writer's groups).
const MAX_GROUP: usize = 256;

/// Commits queued appends in queue order, as groups: whatever is queued when a transaction
/// starts goes into it, a savepoint each, so many webhook bodies share one commit (and one
/// WAL flush) and one failing append does not sink the others.
async fn commit_queued(
    pool: Pool,
    fanout: Option<fanout::Fanout>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<QueuedAppend>,
) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let outcomes = match commit_group(&pool, events).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(%error, "a group of queued appends did not commit");
                replies
                    .iter()
                    .map(|_| Err(StoreError::CommitFailed))
                    .collect()
            }
        };
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            if let (Ok(appended), Some(fanout)) = (&outcome, &fanout)
                && !appended.entries.is_empty()
            {
                fanout.committed(appended.entries.clone());
            }
            let _ = reply.send(outcome);
        }
    }
}

/// One transaction for `group`: every tenant it appends to is locked first, in id order
/// (so two nodes' groups never deadlock), then each append runs in a savepoint. The
/// outcomes, in order, hold only once this returns `Ok` (the commit succeeded).
async fn commit_group(
    pool: &Pool,
    group: Vec<Vec<NewEvent>>,
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut client = pool.get().await?;
    let mut tx = client.transaction().await?;
    let tenants: BTreeSet<&str> = group.iter().flatten().map(|e| e.tenant.as_str()).collect();
    for tenant in tenants {
        // A missing tenant is the append's own error, told by `append_in`.
        lock_tenant(&tx, tenant).await?;
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for events in group {
        let savepoint = tx.savepoint("queued_append").await?;
        match append_in(&savepoint, events).await {
            Ok(appended) => {
                savepoint.commit().await?;
                outcomes.push(Ok(appended));
            }
            Err(error) => {
                savepoint.rollback().await?;
                outcomes.push(Err(error));
            }
        }
    }
    tx.commit().await.map_err(|_| StoreError::CommitFailed)?;
    Ok(outcomes)
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("node", &self.node.id)
            .finish_non_exhaustive()
    }
}

/// TLS for managed databases, verified against the system's trust store; used when the URL
/// asks for it (`sslmode=require`, or `prefer`, the default, when the server offers it).
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_platform_verifier::ConfigVerifierExt as _;
    let config = rustls::ClientConfig::with_platform_verifier()
        .map_err(|e| StoreError::Unavailable(format!("TLS setup: {e}")))?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A pool or connection failure: the database is unreachable, not our data wrong.
fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => StoreError::Postgres(error),
            other => unavailable(other),
        }
    }
}

/// A unique-constraint failure as `Conflict` (naming what exists), anything else as is.
fn conflict_or(error: tokio_postgres::Error, what: impl FnOnce() -> String) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(what())
    } else {
        error.into()
    }
}

/// A count or sequence column as the `u64` the API uses.
fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

/// A `u64` from the API as the database's `BIGINT`.
fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL), migrates it if needed and
    /// registers this process as a node. `listener` hears of every committed log entry of
    /// every node, in sequence order per tenant.
    pub fn open(url: &str, listener: Option<CommitListener>) -> Result<Self, StoreError> {
        Self::open_with(url, listener, PostgresOptions::default())
    }

    pub fn open_with(
        url: &str,
        listener: Option<CommitListener>,
        options: PostgresOptions,
    ) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("the database URL: {e}")))?;
        let tls = tls()?;
        let (runtime, stop) = start_runtime()?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(unavailable)?;
        let store_pool = pool.clone();
        let (node, fanout) = block_on(&runtime, async move {
            let mut client = store_pool.get().await?;
            ventana_migrate::postgres::migrate(&mut client, MIGRATIONS).await?;
            drop(client);
            let node =
                nodes::Node::register(store_pool.clone(), config.clone(), tls.clone(), &options)
                    .await?;
            let fanout = match listener {
                Some(listener) => Some(
                    fanout::Fanout::start(store_pool, config, tls, listener, options.recheck)
                        .await?,
                ),
                None => None,
            };
            Ok((node, fanout))
        })?;
        let (queued, queue) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(commit_queued(pool.clone(), fanout.clone(), queue));
        Ok(Self {
            pool,
            runtime,
            stop: Mutex::new(Some(stop)),
            node,
            fanout,
            queued,
        })
    }

    /// This node's id (new at every start).
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// Runs `work` on the store's runtime with the pool, waiting for its result.
    fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        block_on(&self.runtime, async move { work(pool).await })
    }

    /// Runs `work` on a pooled connection, outside a transaction (reads).
    fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a deadpool_postgres::Client) -> Work<'a, T> + Send + 'static,
    {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            work(&client).await
        })
    }

    /// Runs `work` in a transaction and commits it.
    fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Transaction<'a>) -> Work<'a, T> + Send + 'static,
    {
        self.run(move |pool| transaction(pool, work))
    }

    /// Like `write` for work that appends: the new entries are published once committed.
    fn write_appending<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: AsRef<Appended> + Send + 'static,
        F: for<'a> FnOnce(&'a Transaction<'a>) -> Work<'a, T> + Send + 'static,
    {
        let value = self.write(work)?;
        self.published(value.as_ref());
        Ok(value)
    }

    /// Hands committed entries to the fan-out (which publishes each once, in order).
    fn published(&self, appended: &Appended) {
        if let (Some(fanout), false) = (&self.fanout, appended.entries.is_empty()) {
            fanout.committed(appended.entries.clone());
        }
    }

    /// Stops the runtime: the node's heartbeat, the listener and every pooled connection.
    pub fn close(&self) {
        self.pool.close();
        if let Some(stop) = self.stop.lock().ok().and_then(|mut stop| stop.take()) {
            let _ = stop.send(());
        }
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl AsRef<Appended> for Appended {
    fn as_ref(&self) -> &Appended {
        self
    }
}

/// Starts the store's runtime on its own thread; the sender stops it.
fn start_runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), StoreError>
{
    let (handle_sender, handle) = mpsc::sync_channel(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("postgres-store".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("postgres-io")
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    let _ = handle_sender.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    runtime.shutdown_timeout(Duration::from_secs(1));
                }
                Err(error) => {
                    let _ = handle_sender.send(Err(error));
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start the store's thread: {e}")))?;
    let handle = handle
        .recv()
        .map_err(|_| StoreError::WriterGone)?
        .map_err(|e| StoreError::Unavailable(format!("cannot start the store's runtime: {e}")))?;
    Ok((handle, stop))
}

/// Runs `future` on `runtime` and waits for it on this thread (which may be any thread:
/// the wait is a plain channel, not a nested runtime).
fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (reply, answer) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = reply.send(future.await);
    });
    answer.recv().map_err(|_| StoreError::WriterGone)?
}

/// Runs `work` in a transaction on a pooled connection and commits it.
async fn transaction<T, F>(pool: Pool, work: F) -> Result<T, StoreError>
where
    F: for<'a> FnOnce(&'a Transaction<'a>) -> Work<'a, T>,
{
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let value = work(&tx).await?;
    tx.commit().await.map_err(|_| StoreError::CommitFailed)?;
    Ok(value)
}

/// `NotFound` unless `tenant` exists: a clearer answer than the foreign key's failure.
async fn require_tenant(tx: &Transaction<'_>, tenant: &TenantId) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM tenants WHERE id = $1")
        .await?;
    match tx.query_opt(&statement, &[&tenant.as_str()]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("tenant {tenant}"))),
    }
}

/// Reads one channel row (the columns of [`CHANNEL_COLUMNS`]) into a `Channel`.
fn read_channel(row: &tokio_postgres::Row) -> Result<Channel, StoreError> {
    let settings: String = row.try_get(10)?;
    let settings: ventana_protocol::ChannelSettings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Corrupt(format!("channel settings: {e}")))?;
    Ok(Channel {
        id: ChannelId::new(row.try_get::<_, String>(0)?),
        tenant: TenantId::new(row.try_get::<_, String>(1)?),
        kind: channel_kind(row.try_get(2)?)?,
        external_id: row.try_get(3)?,
        app_id: row.try_get(4)?,
        display_name: row.try_get(5)?,
        human_agent_approved: row.try_get(6)?,
        waba_id: row.try_get(7)?,
        needs_reconnection: row.try_get(8)?,
        has_token: row.try_get(9)?,
        settings: Arc::new(settings),
    })
}

/// The contact and conversation ids for `contact` on `channel`, creating them if new. The
/// tenant's row is locked by the append, so no other transaction races this upsert.
async fn resolve_contact(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    channel: &ChannelId,
    contact: &ContactRef,
) -> Result<(String, String), StoreError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO contacts (id, tenant_id, channel_id, external_id, name)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel_id, external_id)
             DO UPDATE SET name = coalesce(excluded.name, contacts.name)
             RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &statement,
            &[
                &new_id(),
                &tenant.as_str(),
                &channel.as_str(),
                &contact.external_id,
                &contact.name,
            ],
        )
        .await?;
    let contact_id: String = row.try_get(0)?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO conversations (id, tenant_id, channel_id, contact_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (channel_id, contact_id)
             DO UPDATE SET channel_id = excluded.channel_id
             RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &statement,
            &[&new_id(), &tenant.as_str(), &channel.as_str(), &contact_id],
        )
        .await?;
    Ok((contact_id, row.try_get(0)?))
}

async fn exists(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<bool, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?.is_some())
}

/// See the SQLite store's `about_an_erased_message`: a late status, reaction, edit or
/// unsend about a message that is now a tombstone is not stored.
async fn about_an_erased_message(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    body: &EventBody,
) -> Result<bool, StoreError> {
    use ventana_protocol::event::StatusTarget;
    let message = match body {
        EventBody::MessageStatus {
            target: StatusTarget::Message { message_id },
            ..
        }
        | EventBody::Reaction { message_id, .. }
        | EventBody::MessageEdited { message_id, .. }
        | EventBody::MessageUnsent { message_id } => message_id,
        _ => return Ok(false),
    };
    exists(
        tx,
        "SELECT 1 FROM events WHERE tenant_id = $1 AND id = $2 AND type = 'redacted'",
        &[&tenant.as_str(), &format!("msg:{message}")],
    )
    .await
}

/// Locks the heads of the tenants `events` (and what they may derive) append to, in id
/// order, and returns them. Derived events stay in their event's tenant.
async fn lock_heads(
    tx: &Transaction<'_>,
    events: &[NewEvent],
) -> Result<HashMap<String, i64>, StoreError> {
    let tenants: BTreeSet<&str> = events.iter().map(|e| e.tenant.as_str()).collect();
    let mut heads = HashMap::new();
    for tenant in tenants {
        let head = lock_tenant(tx, tenant)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
        heads.insert(tenant.to_owned(), head);
    }
    Ok(heads)
}

/// Locks `tenant`'s row, as every append of any node does before it numbers events, and
/// returns its head (`None` for no such tenant). Whatever else must not interleave with
/// a tenant's appends (erasure, a retention pass) takes the same lock first.
pub(super) async fn lock_tenant(
    tx: &Transaction<'_>,
    tenant: &str,
) -> Result<Option<i64>, StoreError> {
    let statement = tx
        .prepare_cached("SELECT last_seq FROM tenants WHERE id = $1 FOR UPDATE")
        .await?;
    match tx.query_opt(&statement, &[&tenant]).await? {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Ok(None),
    }
}

/// Overwrites the event at `seq` with its tombstone: same sequence, same id, no content.
pub(super) async fn redact_in(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    seq: i64,
    event: &Event,
    receipt: &ventana_protocol::ids::ReceiptId,
) -> Result<(), StoreError> {
    let mut tombstone = event.clone();
    tombstone.body = EventBody::Redacted {
        receipt: receipt.clone(),
    };
    let statement = tx
        .prepare_cached(
            "UPDATE events SET type = 'redacted', body = $3 WHERE tenant_id = $1 AND seq = $2",
        )
        .await?;
    tx.execute(
        &statement,
        &[&tenant.as_str(), &seq, &json_text(&tombstone)?],
    )
    .await?;
    Ok(())
}

/// Appends `events` inside `tx`; the same rules as the SQLite store's `append_in` (see
/// there for why each check is where it is), with the tenants' heads locked first.
fn append_in<'a>(tx: &'a Transaction<'a>, events: Vec<NewEvent>) -> Work<'a, Appended> {
    Box::pin(async move {
        if events.is_empty() {
            return Ok(Appended::default());
        }
        let recorded_at = Utc::now();
        let mut appended = Appended::default();
        let mut heads = lock_heads(tx, &events).await?;
        let mut first: HashMap<String, i64> = HashMap::new();
        let mut queue: std::collections::VecDeque<NewEvent> = events.into();
        let insert_event = tx
            .prepare_cached(
                "INSERT INTO events (tenant_id, seq, id, type, contact_id, conversation_id, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, id) DO NOTHING",
            )
            .await?;
        while let Some(new) = queue.pop_front() {
            let (contact, conversation) = match (&new.contact, &new.conversation) {
                (Some(contact), _) => {
                    if exists(
                        tx,
                        "SELECT 1 FROM events WHERE tenant_id = $1 AND id = $2",
                        &[&new.tenant.as_str(), &new.id.as_str()],
                    )
                    .await?
                    {
                        appended.duplicates += 1;
                        continue;
                    }
                    if about_an_erased_message(tx, &new.tenant, &new.body).await? {
                        appended.dropped += 1;
                        continue;
                    }
                    let (contact, conversation) =
                        resolve_contact(tx, &new.tenant, &new.channel, contact).await?;
                    (
                        Some(ContactId::new(contact)),
                        Some(ConversationId::new(conversation)),
                    )
                }
                (None, Some((contact, conversation))) => {
                    if !exists(
                        tx,
                        "SELECT 1 FROM conversations WHERE id = $1 AND tenant_id = $2 AND contact_id = $3",
                        &[&conversation.as_str(), &new.tenant.as_str(), &contact.as_str()],
                    )
                    .await?
                    {
                        appended.dropped += 1;
                        continue;
                    }
                    (Some(contact.clone()), Some(conversation.clone()))
                }
                (None, None) => (None, None),
            };
            let Some(body) = work::reconcile_echo(tx, &new.tenant, new.body).await? else {
                appended.duplicates += 1;
                continue;
            };
            let head = heads
                .get_mut(new.tenant.as_str())
                .ok_or_else(|| StoreError::NotFound(format!("tenant {}", new.tenant)))?;
            let seq = *head + 1;
            let event = Event {
                id: new.id,
                tenant: new.tenant,
                channel: new.channel,
                contact,
                conversation,
                occurred_at: new.occurred_at,
                recorded_at,
                body,
            };
            let json = serde_json::to_string(&event)
                .map_err(|e| StoreError::Corrupt(format!("event does not serialise: {e}")))?;
            let inserted = tx
                .execute(
                    &insert_event,
                    &[
                        &event.tenant.as_str(),
                        &seq,
                        &event.id.as_str(),
                        &event.body.type_name(),
                        &event.contact.as_ref().map(|c| c.as_str()),
                        &event.conversation.as_ref().map(|c| c.as_str()),
                        &json,
                    ],
                )
                .await?;
            if inserted == 0 {
                appended.duplicates += 1;
                continue;
            }
            *head = seq;
            first.entry(event.tenant.to_string()).or_insert(seq);
            for media in &new.media {
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO media (tenant_id, id, channel_id, source_kind, source)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                tx.execute(
                    &statement,
                    &[
                        &event.tenant.as_str(),
                        &media.id.as_str(),
                        &event.channel.as_str(),
                        &media.source_kind,
                        &media.source,
                    ],
                )
                .await?;
            }
            queue.extend(work::project(tx, &event).await?);
            appended.entries.push(LogEntry {
                seq: unsigned(seq, "sequence")?,
                event,
            });
        }
        let advance = tx
            .prepare_cached("UPDATE tenants SET last_seq = $2 WHERE id = $1")
            .await?;
        let notify = tx
            .prepare_cached("SELECT pg_notify('ventana_log', $1)")
            .await?;
        for (tenant, first) in first {
            let last = heads.get(&tenant).copied().unwrap_or(first);
            tx.execute(&advance, &[&tenant, &last]).await?;
            tx.execute(&notify, &[&fanout::payload(&tenant, first, last)])
                .await?;
        }
        Ok(appended)
    })
}

impl Storage for PostgresStore {
    fn add_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: TenantId::new(new_id()),
            name: name.to_owned(),
        };
        let row = tenant.clone();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                    &[&row.id.as_str(), &row.name, &now_text()],
                )
                .await
                .map_err(|e| conflict_or(e, || format!("tenant {:?}", row.name)))?;
                Ok(())
            })
        })?;
        Ok(tenant)
    }

    fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
        let key = id_or_name.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT id, name FROM tenants WHERE id = $1 OR name = $1")
                    .await?;
                let row = client.query_opt(&statement, &[&key]).await?;
                row.map(|row| {
                    Ok(Tenant {
                        id: TenantId::new(row.try_get::<_, String>(0)?),
                        name: row.try_get(1)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn add_meta_app(&self, app: MetaApp) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO meta_apps (app_id, secret_sealed, verify_token_sealed, created_at)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &app.app_id,
                        &app.secret_sealed,
                        &app.verify_token_sealed,
                        &now_text(),
                    ],
                )
                .await
                .map_err(|e| conflict_or(e, || format!("Meta app {}", app.app_id)))?;
                Ok(())
            })
        })
    }

    fn meta_app(&self, app_id: &str) -> Result<Option<MetaApp>, StoreError> {
        let app_id = app_id.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT app_id, secret_sealed, verify_token_sealed FROM meta_apps
                         WHERE app_id = $1",
                    )
                    .await?;
                let row = client.query_opt(&statement, &[&app_id]).await?;
                row.map(|row| {
                    Ok(MetaApp {
                        app_id: row.try_get(0)?,
                        secret_sealed: row.try_get(1)?,
                        verify_token_sealed: row.try_get(2)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn add_channel(&self, new: NewChannel) -> Result<Channel, StoreError> {
        let channel = Channel {
            id: ChannelId::new(new_id()),
            tenant: new.tenant,
            kind: new.kind,
            external_id: new.external_id,
            app_id: new.app_id,
            display_name: new.display_name,
            human_agent_approved: false,
            waba_id: new.waba_id,
            needs_reconnection: None,
            has_token: false,
            settings: Arc::default(),
        };
        let row = channel.clone();
        self.write(move |tx| {
            Box::pin(async move {
                require_tenant(tx, &row.tenant).await?;
                if !exists(
                    tx,
                    "SELECT 1 FROM meta_apps WHERE app_id = $1",
                    &[&row.app_id],
                )
                .await?
                {
                    return Err(StoreError::NotFound(format!("Meta app {}", row.app_id)));
                }
                tx.execute(
                    "INSERT INTO channels (id, tenant_id, kind, external_id, app_id, display_name,
                         created_at, waba_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &row.id.as_str(),
                        &row.tenant.as_str(),
                        &row.kind.as_str(),
                        &row.external_id,
                        &row.app_id,
                        &row.display_name,
                        &now_text(),
                        &row.waba_id,
                    ],
                )
                .await
                .map_err(|e| {
                    conflict_or(e, || format!("{} channel {}", row.kind, row.external_id))
                })?;
                Ok(())
            })
        })?;
        Ok(channel)
    }

    fn channel_by_external_id(
        &self,
        kind: ChannelKind,
        external_id: &str,
    ) -> Result<Option<Channel>, StoreError> {
        let external_id = external_id.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE kind = $1 AND external_id = $2"
                    ))
                    .await?;
                let row = client
                    .query_opt(&statement, &[&kind.as_str(), &external_id])
                    .await?;
                row.as_ref().map(read_channel).transpose()
            })
        })
    }

    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        self.write_appending(move |tx| append_in(tx, events))
    }

    fn append_queued(&self, events: Vec<NewEvent>) -> Result<PendingAppend, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queued
            .send((events, reply))
            .map_err(|_| StoreError::WriterGone)?;
        Ok(PendingAppend(answer))
    }

    fn read_log(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let tenant = tenant.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |client| Box::pin(read_log_in(client, tenant, signed(after), limit)))
    }

    fn head(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT last_seq FROM tenants WHERE id = $1")
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str()])
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
                unsigned(row.try_get(0)?, "sequence")
            })
        })
    }

    fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationInfo>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT id, tenant_id, channel_id, contact_id FROM conversations
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
                    .await?;
                row.map(|row| {
                    Ok(ConversationInfo {
                        id: ConversationId::new(row.try_get::<_, String>(0)?),
                        tenant: TenantId::new(row.try_get::<_, String>(1)?),
                        channel: ChannelId::new(row.try_get::<_, String>(2)?),
                        contact: ContactId::new(row.try_get::<_, String>(3)?),
                    })
                })
                .transpose()
            })
        })
    }

    fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|client| {
            Box::pin(async move {
                let rows = client
                    .query("SELECT id, name FROM tenants ORDER BY name", &[])
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Tenant {
                            id: TenantId::new(row.try_get::<_, String>(0)?),
                            name: row.try_get(1)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn channels_of(&self, tenant: &TenantId) -> Result<Vec<Channel>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE tenant_id = $1
                         ORDER BY kind, external_id"
                    ))
                    .await?;
                let rows = client.query(&statement, &[&tenant.as_str()]).await?;
                rows.iter().map(read_channel).collect()
            })
        })
    }

    fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT id, received_at, app_id, reason, octet_length(body)::BIGINT
                         FROM quarantine ORDER BY id DESC LIMIT $1",
                        &[&limit],
                    )
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Quarantined {
                            id: row.try_get(0)?,
                            received_at: row.try_get(1)?,
                            app_id: row.try_get(2)?,
                            reason: row.try_get(3)?,
                            bytes: usize::try_from(row.try_get::<_, i64>(4)?).unwrap_or(0),
                        })
                    })
                    .collect()
            })
        })
    }

    fn quarantine(&self, app_id: &str, reason: &str, body: &[u8]) -> Result<(), StoreError> {
        let (app_id, reason, body) = (app_id.to_owned(), reason.to_owned(), body.to_vec());
        let hash = body_hash(&body);
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO quarantine (received_at, app_id, reason, body, body_hash)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, body_hash) DO NOTHING",
                    &[&now_text(), &app_id, &reason, &body, &hash],
                )
                .await?;
                trim_quarantine_in(tx, crate::retention::QUARANTINE_MAX_BYTES).await?;
                Ok(())
            })
        })
    }

    fn trim_quarantine(&self, max_bytes: u64) -> Result<u64, StoreError> {
        self.write(move |tx| Box::pin(trim_quarantine_in(tx, max_bytes)))
    }

    fn quarantine_count(&self) -> Result<u64, StoreError> {
        self.read(|client| {
            Box::pin(async move {
                let row = client
                    .query_one("SELECT count(*) FROM quarantine", &[])
                    .await?;
                unsigned(row.try_get(0)?, "count")
            })
        })
    }

    fn quarantined_body(&self, id: i64) -> Result<Option<QuarantinedBody>, StoreError> {
        self.read(move |client| {
            Box::pin(async move {
                let row = client
                    .query_opt(
                        "SELECT app_id, reason, body FROM quarantine WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                row.map(|row| {
                    Ok(QuarantinedBody {
                        app_id: row.try_get(0)?,
                        reason: row.try_get(1)?,
                        body: row.try_get(2)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn release_quarantined(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .execute("DELETE FROM quarantine WHERE id = $1", &[&id])
                    .await?
                    > 0)
            })
        })
    }

    fn leads(&self) -> Result<bool, StoreError> {
        let node = Arc::clone(&self.node);
        self.run(move |_| async move { node.leads().await })
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.read(|client| {
            Box::pin(async move {
                client.simple_query("SELECT 1").await?;
                Ok(())
            })
        })
    }
}

/// Up to `limit` entries of `tenant`'s log after `after` (the stream's and the fan-out's
/// read).
async fn read_log_in(
    client: &deadpool_postgres::Client,
    tenant: TenantId,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT seq, body FROM events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .await?;
    let rows = client
        .query(&statement, &[&tenant.as_str(), &after, &limit])
        .await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            let event: Event = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
            Ok(LogEntry {
                seq: unsigned(seq, "sequence")?,
                event,
            })
        })
        .collect()
}

/// Deletes the oldest quarantined bodies until the rest fit in `max_bytes`; how many went.
async fn trim_quarantine_in(tx: &Transaction<'_>, max_bytes: u64) -> Result<u64, StoreError> {
    Ok(tx
        .execute(
            "DELETE FROM quarantine WHERE id IN (
                 SELECT id FROM (SELECT id, sum(octet_length(body)) OVER (ORDER BY id DESC) AS kept
                                 FROM quarantine) AS sized
                 WHERE kept > $1)",
            &[&signed(max_bytes)],
        )
        .await?)
}
