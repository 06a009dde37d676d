//! The embedded SQLite store.
//!
//! One writer thread owns the only writing connection. It takes every job waiting in its
//! queue, runs them in one transaction (a savepoint each, so one failing job doesn't sink
//! the others; a group of appends alone is undone by rolling back and beginning again
//! instead, see `append_run`), commits once — one fsync for many webhook bodies (group commit) — and only
//! then answers each caller and publishes the new log entries, in sequence order. Readers
//! use their own connections; WAL lets them read while the writer writes.
//! `synchronous=FULL`: an acknowledged event survives a power cut, not just a crash.
//! The writer never checkpoints the WAL itself (a checkpoint copies pages and fsyncs the
//! database file, a stall of tens of milliseconds in the middle of a commit); a separate
//! checkpointer thread does it in the background every second, and once more on close.

use super::*;
use crate::store::columns::*;

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use ventana_migrate::{Migration, migrate};

mod accounts;
mod work;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "replies_workflow_erasure",
        sql: include_str!("../../migrations/0002_replies_workflow_erasure.sql"),
    },
    Migration {
        version: 3,
        name: "accounts_sessions",
        sql: include_str!("../../migrations/0003_accounts_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "retention",
        sql: include_str!("../../migrations/0004_retention.sql"),
    },
    Migration {
        version: 5,
        name: "quarantine_bounds",
        sql: include_str!("../../migrations/0005_quarantine_bounds.sql"),
    },
    Migration {
        version: 6,
        name: "erasure_ledger",
        sql: include_str!("../../migrations/0006_erasure_ledger.sql"),
    },
];

/// The most jobs one transaction takes; bounds how long the first caller waits.
const MAX_GROUP: usize = 512;

/// A unit of work for the writer, run inside the group's transaction.
enum Job {
    /// Any write: returns whether it succeeded plus what to do once the group's fate
    /// (committed or not) is known.
    Work(Work),
    /// An append of events (`append`, `append_queued`, the intake's usual job). A run of
    /// these in a group shares one savepoint instead of one each: opening and releasing a
    /// savepoint, and journalling every page a job touches first, cost the single-event
    /// POST a fifth of the writer's time.
    Append(AppendJob),
}

type Work = Box<dyn FnOnce(&Connection, &mut WriterState) -> (bool, Completion) + Send>;

struct AppendJob {
    events: Vec<NewEvent>,
    /// Turns the append's outcome into the job's completion.
    done: Box<dyn FnOnce(Result<Appended, StoreError>) -> Completion + Send>,
}

/// What the writer remembers between jobs to spare the database reads per event: each
/// tenant's last sequence number, the ids of the contacts it has seen, and the state of
/// the conversations it has projected onto. Only the writer writes these rows, so the
/// memory stays true; it is dropped whenever a job or a commit fails, and read again from
/// the database.
#[derive(Debug, Default)]
struct WriterState {
    last_seq: HashMap<String, i64>,
    /// The tenants' sequence numbers this group advanced, written to `tenants.last_seq`
    /// once, just before the group commits, rather than once per append. They are the
    /// truth until then, so a failed job's reset keeps them (as they were before the job).
    unflushed: HashMap<String, i64>,
    /// (channel id, contact external id) → (contact id, conversation id, name)
    contacts: HashMap<(String, String), (String, String, Option<String>)>,
    /// Conversation id → what `workflow::projection` needs to know of it, as last written
    /// (`work::project` keeps it true; an erasure forgets the conversation).
    conversations: HashMap<String, crate::workflow::ConversationFacts>,
}
type Completion = Box<dyn FnOnce(bool) + Send>;

impl WriterState {
    /// Forgets everything after a failed job or commit, but the sequence numbers the
    /// group had advanced before it (`unflushed`, still to be written).
    fn reset(&mut self, unflushed: HashMap<String, i64>) {
        *self = WriterState {
            unflushed,
            ..WriterState::default()
        };
    }
}

/// The completion of a job that returned `result`: `after_commit` and then `reply` with
/// the result once the group committed, or `reply` with the error.
fn completion<T: Send + 'static>(
    result: Result<T, StoreError>,
    after_commit: impl FnOnce(&T) + Send + 'static,
    reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Completion {
    Box::new(move |committed| {
        let outcome = match result {
            Ok(value) if committed => {
                after_commit(&value);
                Ok(value)
            }
            Ok(_) => Err(StoreError::CommitFailed),
            Err(error) => Err(error),
        };
        reply(outcome);
    })
}

/// How often the background checkpointer folds the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, thread::JoinHandle<()>)>>,
    readers: Mutex<Vec<Connection>>,
    listener: Arc<ListenerSlot>,
    /// Whether `take_over_replies` has run (see there).
    replies_taken_over: std::sync::atomic::AtomicBool,
}

/// Holds the commit listener; a struct so `SqliteStore` can derive `Debug`.
struct ListenerSlot(Option<CommitListener>);

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(listener)"
        } else {
            "None"
        })
    }
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let connection = Connection::open(path)?;
    // rusqlite keeps 16 prepared statements by default; one append alone uses more, and
    // each one evicted is parsed and planned again on its next use.
    connection.set_prepared_statement_cache_capacity(128);
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted (erased) content must not linger in free pages (invariant 9).
    connection.pragma_update(None, "secure_delete", "ON")?;
    Ok(connection)
}

/// `NotFound` unless `tenant` exists: a clearer answer than the foreign key's failure.
fn require_tenant(connection: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM tenants WHERE id = ?1")?
        .exists([tenant.as_str()])?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("tenant {tenant}")))
    }
}

/// A unique-constraint failure as `Conflict` (naming what exists), anything else as is.
fn conflict_or(error: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(what())
    } else {
        error.into()
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store at `path`. `listener` hears of
    /// every committed log entry, in order.
    pub fn open(path: &Path, listener: Option<CommitListener>) -> Result<Self, StoreError> {
        let mut connection = open_connection(path)?;
        migrate(&mut connection, MIGRATIONS)?;
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        // The writer's page cache holds a whole group's dirty pages (2 MB by default is
        // less than a group of 512 appends touches, and a full cache writes pages to the
        // WAL in the middle of the transaction).
        connection.pragma_update(None, "cache_size", -16_384)?;
        let checkpoints = open_connection(path)?;
        let (stop_checkpoints, stopped) = mpsc::channel::<()>();
        let checkpointer = thread::Builder::new()
            .name("store-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpoints, stopped))
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot start the checkpointer thread: {e}"))
            })?;
        let listener = Arc::new(ListenerSlot(listener));
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer = thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(connection, queue))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some((stop_checkpoints, checkpointer))),
            readers: Mutex::new(Vec::new()),
            listener,
            replies_taken_over: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Runs `work` in the writer's next group transaction and waits for the commit.
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_then(move |connection, _| work(connection), |_| {})
    }

    /// Like `write`, and runs `after_commit` with the result once it is committed (in the
    /// writer thread, in commit order).
    fn write_then<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
        after_commit: impl FnOnce(&T) + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue(work, after_commit, move |outcome| {
            let _ = reply.send(outcome);
        })?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Queues `work` for the writer's next group and returns at once; `reply` gets the
    /// outcome once the group's fate is known.
    fn queue<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
        after_commit: impl FnOnce(&T) + Send + 'static,
        reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.send(Job::Work(Box::new(move |connection, state| {
            let result = work(connection, state);
            let ok = result.is_ok();
            (ok, completion(result, after_commit, reply))
        })))
    }

    /// Queues an append of `events`; `reply` gets the outcome once the group's fate is
    /// known (the commit listener has heard of the entries by then).
    fn queue_append(
        &self,
        events: Vec<NewEvent>,
        reply: impl FnOnce(Result<Appended, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let publish = self.publisher();
        self.send(Job::Append(AppendJob {
            events,
            done: Box::new(move |result| completion(result, publish, reply)),
        }))
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs
                .as_ref()
                .map(|jobs| jobs.send(job).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if sent {
            Ok(())
        } else {
            Err(StoreError::WriterGone)
        }
    }

    fn publisher(&self) -> impl FnOnce(&Appended) + Send + 'static {
        let listener = Arc::clone(&self.listener);
        move |appended: &Appended| {
            if let (Some(listener), false) = (&listener.0, appended.entries.is_empty()) {
                listener(&appended.entries);
            }
        }
    }

    /// Runs `work` on a reader connection.
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path)?,
        };
        let result = work(&connection);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 16
        {
            pool.push(connection);
        }
        result
    }

    /// Stops the writer after the jobs already queued, as a clean shutdown does.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = writer.join();
        }
        if let Some((stop, checkpointer)) = self.checkpointer.lock().ok().and_then(|mut c| c.take())
        {
            drop(stop);
            let _ = checkpointer.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] (PASSIVE: never waits for the writer
/// or readers), and truncates it when the store closes.
fn checkpoint_loop(connection: Connection, stop: mpsc::Receiver<()>) {
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
                return;
            }
        }
    }
}

/// Runs a statement without parameters from the connection's statement cache; whether
/// it succeeded (the error is logged).
fn run_cached(connection: &Connection, sql: &str) -> bool {
    match connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
    {
        Ok(_) => true,
        Err(error) => {
            tracing::error!(%error, sql, "writer statement failed");
            false
        }
    }
}

fn write_loop(connection: Connection, queue: mpsc::Receiver<Job>) {
    let mut state = WriterState::default();
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(group.len());
        let mut began = connection.execute_batch("BEGIN IMMEDIATE").is_ok();
        let jobs_in_group = group.len();
        let mut jobs = group.into_iter().peekable();
        while let Some(job) = jobs.next() {
            if !began {
                // No transaction: each statement commits on its own, and so must the
                // sequence numbers.
                let before = state.unflushed.clone();
                let (ok, completion) = run_job(&connection, &mut state, job);
                let ok = ok && flush_last_seq(&connection, &mut state);
                if !ok {
                    state.reset(before);
                }
                state.unflushed.clear();
                completions.push(completion);
                continue;
            }
            match job {
                Job::Append(first) => {
                    let mut run = vec![first];
                    while let Some(Job::Append(_)) = jobs.peek() {
                        if let Some(Job::Append(next)) = jobs.next() {
                            run.push(next);
                        }
                    }
                    let in_transaction = if run.len() == jobs_in_group {
                        InTransaction::Alone
                    } else {
                        InTransaction::Shared
                    };
                    began = append_run(
                        &connection,
                        &mut state,
                        run,
                        in_transaction,
                        &mut completions,
                    );
                }
                job => completions.push(in_savepoint(&connection, &mut state, job)),
            }
        }
        let committed = began
            && flush_last_seq(&connection, &mut state)
            && connection.execute_batch("COMMIT").is_ok();
        if began && !committed {
            tracing::error!("group commit failed; rolling back");
            let _ = connection.execute_batch("ROLLBACK");
            state = WriterState::default();
        }
        state.unflushed.clear();
        for completion in completions {
            completion(committed);
        }
    }
}

fn run_job(connection: &Connection, state: &mut WriterState, job: Job) -> (bool, Completion) {
    match job {
        Job::Work(work) => work(connection, state),
        Job::Append(AppendJob { events, done }) => {
            let result = append_in(connection, state, events);
            (result.is_ok(), done(result))
        }
    }
}

/// Runs `job` in a savepoint of its own, so that its failure undoes its writes only.
fn in_savepoint(connection: &Connection, state: &mut WriterState, job: Job) -> Completion {
    let before = state.unflushed.clone();
    // Prepared once: parsing these tiny statements for every job showed in profiles.
    let saved = run_cached(connection, "SAVEPOINT job");
    let (ok, completion) = run_job(connection, state, job);
    if !ok {
        state.reset(before);
    }
    if saved {
        let closed = if ok {
            run_cached(connection, "RELEASE job")
        } else {
            run_cached(connection, "ROLLBACK TO job") && run_cached(connection, "RELEASE job")
        };
        if !closed {
            tracing::error!("savepoint could not be closed");
        }
    }
    completion
}

/// Whether a run of appends is the whole of its group's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InTransaction {
    /// Nothing else is in the transaction: it can be rolled back and begun again.
    Alone,
    /// Other jobs share the transaction (their work cannot be redone), so the run needs a
    /// savepoint of its own.
    Shared,
}

/// Runs consecutive appends together. Should one fail (rare: a constraint, a full disk),
/// what the run wrote is undone and each runs again in a savepoint of its own, from a
/// copy of its events, so that only the failing one fails, as it would have alone.
///
/// A run alone in its transaction (the usual group of webhook intake) needs no savepoint:
/// the transaction is undone by a rollback, which in WAL mode only drops pages from the
/// cache, while a savepoint copies the first change to every page it touches into its
/// journal. Returns whether the group's transaction is still open (a failed run that
/// could not begin it again completes its appends as failed).
fn append_run(
    connection: &Connection,
    state: &mut WriterState,
    run: Vec<AppendJob>,
    in_transaction: InTransaction,
    completions: &mut Vec<Completion>,
) -> bool {
    if run.len() == 1 && in_transaction == InTransaction::Shared {
        completions.extend(
            run.into_iter()
                .map(|job| in_savepoint(connection, state, Job::Append(job))),
        );
        return true;
    }
    let alone = in_transaction == InTransaction::Alone;
    let (batches, dones): (Vec<_>, Vec<_>) =
        run.into_iter().map(|job| (job.events, job.done)).unzip();
    let copies = batches.clone();
    let before = state.unflushed.clone();
    let opened = alone || run_cached(connection, "SAVEPOINT appends");
    let mut results = Vec::with_capacity(batches.len());
    if opened {
        for events in batches {
            match append_in(connection, state, events) {
                Ok(appended) => results.push(appended),
                Err(error) => {
                    tracing::warn!(%error, "an append in a run failed; appending each alone");
                    break;
                }
            }
        }
    }
    if results.len() == dones.len() && (alone || run_cached(connection, "RELEASE appends")) {
        let outcomes = dones.into_iter().zip(results);
        completions.extend(outcomes.map(|(done, appended)| done(Ok(appended))));
        return true;
    }
    state.reset(before);
    if alone {
        let undone = connection.execute_batch("ROLLBACK").is_ok();
        if !(undone && connection.execute_batch("BEGIN IMMEDIATE").is_ok()) {
            tracing::error!("the group's transaction could not be begun again");
            completions.extend(
                dones
                    .into_iter()
                    .map(|done| done(Err(StoreError::CommitFailed))),
            );
            return false;
        }
    } else if opened
        && !(run_cached(connection, "ROLLBACK TO appends")
            && run_cached(connection, "RELEASE appends"))
    {
        tracing::error!("savepoint could not be closed");
    }
    for (events, done) in copies.into_iter().zip(dones) {
        completions.push(in_savepoint(
            connection,
            state,
            Job::Append(AppendJob { events, done }),
        ));
    }
    true
}

fn channel_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Channel, String)> {
    let settings: String = row.get(10)?;
    // Settings are written only through `change_channel`, which validates them; a row
    // that does not parse is corrupt, reported as a conversion failure of its column.
    let settings: ventana_protocol::ChannelSettings =
        serde_json::from_str(&settings).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok((
        Channel {
            id: ChannelId::new(row.get::<_, String>(0)?),
            tenant: TenantId::new(row.get::<_, String>(1)?),
            kind: ChannelKind::Messenger, // replaced below from the text column
            external_id: row.get(3)?,
            app_id: row.get(4)?,
            display_name: row.get(5)?,
            human_agent_approved: row.get(6)?,
            waba_id: row.get(7)?,
            needs_reconnection: row.get(8)?,
            has_token: row.get(9)?,
            settings: Arc::new(settings),
        },
        row.get(2)?,
    ))
}

/// Reads one channel row into a `Channel`.
fn read_channel(row: &rusqlite::Row<'_>) -> Result<Channel, StoreError> {
    let (mut channel, kind) = channel_from_row(row)?;
    channel.kind = channel_kind(&kind)?;
    Ok(channel)
}

/// The contact and conversation ids for `contact` on `channel`, creating them if new.
fn resolve_contact(
    connection: &Connection,
    state: &mut WriterState,
    tenant: &TenantId,
    channel: &ChannelId,
    contact: &ContactRef,
) -> Result<(String, String), StoreError> {
    let key = (channel.to_string(), contact.external_id.clone());
    if let Some((contact_id, conversation_id, name)) = state.contacts.get(&key)
        && (contact.name.is_none() || contact.name == *name)
    {
        return Ok((contact_id.clone(), conversation_id.clone()));
    }
    let (contact_id, name): (String, Option<String>) = connection
        .prepare_cached(
            "INSERT INTO contacts (id, tenant_id, channel_id, external_id, name)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (channel_id, external_id)
             DO UPDATE SET name = coalesce(excluded.name, contacts.name)
             RETURNING id, name",
        )?
        .query_row(
            params![
                new_id(),
                tenant.as_str(),
                channel.as_str(),
                contact.external_id,
                contact.name
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
    let conversation_id: String = connection
        .prepare_cached(
            "INSERT INTO conversations (id, tenant_id, channel_id, contact_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (channel_id, contact_id)
             DO UPDATE SET channel_id = excluded.channel_id
             RETURNING id",
        )?
        .query_row(
            params![new_id(), tenant.as_str(), channel.as_str(), contact_id],
            |row| row.get(0),
        )?;
    state
        .contacts
        .insert(key, (contact_id.clone(), conversation_id.clone(), name));
    Ok((contact_id, conversation_id))
}

/// The tenant's last sequence number: what this group advanced it to, or the writer's
/// memory, or the database.
fn last_seq(
    connection: &Connection,
    state: &WriterState,
    tenant: &TenantId,
) -> Result<i64, StoreError> {
    if let Some(seq) = state
        .unflushed
        .get(tenant.as_str())
        .or_else(|| state.last_seq.get(tenant.as_str()))
    {
        return Ok(*seq);
    }
    connection
        .prepare_cached("SELECT last_seq FROM tenants WHERE id = ?1")?
        .query_row([tenant.as_str()], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))
}

/// Whether the tenant's log has an event with this stable id (one point lookup on the
/// `(tenant_id, id)` unique key).
fn event_known(
    connection: &Connection,
    tenant: &TenantId,
    id: &EventId,
) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached("SELECT 1 FROM events WHERE tenant_id = ?1 AND id = ?2")?
        .exists(params![tenant.as_str(), id.as_str()])?)
}

/// Whether the conversation still exists, with this contact, in this tenant.
fn conversation_exists(
    connection: &Connection,
    tenant: &TenantId,
    contact: &ContactId,
    conversation: &ConversationId,
) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM conversations WHERE id = ?1 AND tenant_id = ?2 AND contact_id = ?3",
        )?
        .exists(params![
            conversation.as_str(),
            tenant.as_str(),
            contact.as_str()
        ])?)
}

/// Whether a webhook event is about a message that is now a tombstone: a delivery or
/// read status, a reaction, an edit or an unsend that Meta sends after the person was
/// erased (a late status of a reply sent just before, say). Storing it would write their
/// platform id back into `contacts` for an event nobody can show.
fn about_an_erased_message(
    connection: &Connection,
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
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM events WHERE tenant_id = ?1 AND id = ?2 AND type = 'redacted'",
        )?
        .exists(params![tenant.as_str(), format!("msg:{message}")])?)
}

/// Appends `events` inside the writer's transaction; see [`Storage::append`]. Each new
/// event also updates the conversation's state columns (`project`), and may bring
/// derived events with it (a resolved conversation reopening), appended in the same
/// transaction.
///
/// Two checks keep an erased contact erased (invariant 9). A webhook event whose id the
/// log already has is skipped *before* its contact is resolved: an erased contact's
/// events stay in the log as tombstones under the same ids, so a redelivery must not
/// write the person's id and name back into `contacts`. An event the relay made about a
/// conversation (a reply's outcome, a note, a workflow change, an escalation) is dropped
/// when the conversation is gone: its handler read the conversation before an erasure
/// that committed since. Both run in the writer's transaction, which serialises them
/// with the erasure, so neither can race it.
fn append_in(
    connection: &Connection,
    state: &mut WriterState,
    events: Vec<NewEvent>,
) -> Result<Appended, StoreError> {
    let recorded_at = Utc::now();
    let mut appended = Appended::default();
    let mut advanced: HashMap<String, i64> = HashMap::new();
    let mut queue: std::collections::VecDeque<NewEvent> = events.into();
    while let Some(new) = queue.pop_front() {
        let (contact, conversation) = match (&new.contact, &new.conversation) {
            (Some(contact), _) => {
                // A contact the writer remembers is not erased (an erasure forgets it), so
                // resolving it writes nothing back: a redelivery is then caught by the
                // insert's conflict instead of a lookup of its own.
                let remembered = state
                    .contacts
                    .get(&(new.channel.to_string(), contact.external_id.clone()))
                    .is_some_and(|(_, _, name)| contact.name.is_none() || contact.name == *name);
                if !remembered && event_known(connection, &new.tenant, &new.id)? {
                    appended.duplicates += 1;
                    continue;
                }
                if about_an_erased_message(connection, &new.tenant, &new.body)? {
                    appended.dropped += 1;
                    continue;
                }
                let (contact, conversation) =
                    resolve_contact(connection, state, &new.tenant, &new.channel, contact)?;
                (
                    Some(ContactId::new(contact)),
                    Some(ConversationId::new(conversation)),
                )
            }
            (None, Some((contact, conversation))) => {
                if !conversation_exists(connection, &new.tenant, contact, conversation)? {
                    appended.dropped += 1;
                    continue;
                }
                (Some(contact.clone()), Some(conversation.clone()))
            }
            (None, None) => (None, None),
        };
        let Some(body) = work::reconcile_echo(connection, &new.tenant, new.body)? else {
            appended.duplicates += 1;
            continue;
        };
        let current = match advanced.get(new.tenant.as_str()) {
            Some(seq) => *seq,
            None => last_seq(connection, state, &new.tenant)?,
        };
        let seq = current + 1;
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
        // The conflict target is the stable id only: a redelivery is skipped, while a
        // clash on the sequence number (which would mean a bug) still fails loudly.
        let inserted = connection
            .prepare_cached(
                "INSERT INTO events (tenant_id, seq, id, type, contact_id, conversation_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant_id, id) DO NOTHING",
            )?
            .execute(params![
                event.tenant.as_str(),
                seq,
                event.id.as_str(),
                event.body.type_name(),
                event.contact.as_ref().map(|c| c.as_str()),
                event.conversation.as_ref().map(|c| c.as_str()),
                json
            ])?;
        if inserted == 0 {
            appended.duplicates += 1;
            continue;
        }
        advanced.insert(event.tenant.to_string(), seq);
        for media in &new.media {
            connection
                .prepare_cached(
                    "INSERT OR IGNORE INTO media (tenant_id, id, channel_id, source_kind, source)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    event.tenant.as_str(),
                    media.id.as_str(),
                    event.channel.as_str(),
                    media.source_kind,
                    media.source
                ])?;
        }
        queue.extend(work::project(connection, &mut state.conversations, &event)?);
        appended.entries.push(LogEntry {
            seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("sequence {seq}")))?,
            event,
        });
    }
    for (tenant, seq) in advanced {
        state.unflushed.insert(tenant.clone(), seq);
        state.last_seq.insert(tenant, seq);
    }
    Ok(appended)
}

/// Writes the sequence numbers the group advanced to `tenants.last_seq` (see
/// `WriterState::unflushed`); whether that worked.
fn flush_last_seq(connection: &Connection, state: &mut WriterState) -> bool {
    for (tenant, seq) in &state.unflushed {
        let written = connection
            .prepare_cached("UPDATE tenants SET last_seq = ?2 WHERE id = ?1")
            .and_then(|mut statement| statement.execute(params![tenant, seq]));
        if let Err(error) = written {
            tracing::error!(%error, "the tenants' sequence numbers could not be written");
            return false;
        }
    }
    true
}

impl Storage for SqliteStore {
    fn add_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: TenantId::new(new_id()),
            name: name.to_owned(),
        };
        let row = tenant.clone();
        self.write(move |connection| {
            connection
                .execute(
                    "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![row.id.as_str(), row.name, now_text()],
                )
                .map_err(|e| conflict_or(e, || format!("tenant {:?}", row.name)))?;
            Ok(())
        })?;
        Ok(tenant)
    }

    fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT id, name FROM tenants WHERE id = ?1 OR name = ?1")?
                .query_row([id_or_name], |row| {
                    Ok(Tenant {
                        id: TenantId::new(row.get::<_, String>(0)?),
                        name: row.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    fn add_meta_app(&self, app: MetaApp) -> Result<(), StoreError> {
        self.write(move |connection| {
            connection
                .execute(
                    "INSERT INTO meta_apps (app_id, secret_sealed, verify_token_sealed, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        app.app_id,
                        app.secret_sealed,
                        app.verify_token_sealed,
                        now_text()
                    ],
                )
                .map_err(|e| conflict_or(e, || format!("Meta app {}", app.app_id)))?;
            Ok(())
        })
    }

    fn meta_app(&self, app_id: &str) -> Result<Option<MetaApp>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT app_id, secret_sealed, verify_token_sealed FROM meta_apps WHERE app_id = ?1",
                )?
                .query_row([app_id], |row| {
                    Ok(MetaApp {
                        app_id: row.get(0)?,
                        secret_sealed: row.get(1)?,
                        verify_token_sealed: row.get(2)?,
                    })
                })
                .optional()?)
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
        self.write(move |connection| {
            require_tenant(connection, &row.tenant)?;
            let app_exists = connection
                .prepare_cached("SELECT 1 FROM meta_apps WHERE app_id = ?1")?
                .exists([row.app_id.as_str()])?;
            if !app_exists {
                return Err(StoreError::NotFound(format!("Meta app {}", row.app_id)));
            }
            connection
                .execute(
                    "INSERT INTO channels (id, tenant_id, kind, external_id, app_id, display_name, created_at, waba_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        row.id.as_str(),
                        row.tenant.as_str(),
                        row.kind.as_str(),
                        row.external_id,
                        row.app_id,
                        row.display_name,
                        now_text(),
                        row.waba_id
                    ],
                )
                .map_err(|e| conflict_or(e, || format!("{} channel {}", row.kind, row.external_id)))?;
            Ok(())
        })?;
        Ok(channel)
    }

    fn channel_by_external_id(
        &self,
        kind: ChannelKind,
        external_id: &str,
    ) -> Result<Option<Channel>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels WHERE kind = ?1 AND external_id = ?2"
            ))?;
            let mut rows = statement.query(params![kind.as_str(), external_id])?;
            rows.next()?.map(read_channel).transpose()
        })
    }

    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue_append(events, move |outcome| {
            let _ = reply.send(outcome);
        })?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn append_queued(&self, events: Vec<NewEvent>) -> Result<PendingAppend, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_append(events, move |outcome| {
            let _ = reply.send(outcome);
        })?;
        Ok(PendingAppend(answer))
    }

    fn read_log(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT seq, body FROM events WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = statement.query_map(params![tenant.as_str(), after, limit], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut entries = Vec::new();
            for row in rows {
                let (seq, body) = row?;
                let event: Event = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
                let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("sequence {seq}")))?;
                entries.push(LogEntry { seq, event });
            }
            Ok(entries)
        })
    }

    fn head(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.read(|connection| {
            let last: Option<i64> = connection
                .prepare_cached("SELECT last_seq FROM tenants WHERE id = ?1")?
                .query_row([tenant.as_str()], |row| row.get(0))
                .optional()?;
            let last = last.ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
            u64::try_from(last).map_err(|_| StoreError::Corrupt(format!("sequence {last}")))
        })
    }

    fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationInfo>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT id, tenant_id, channel_id, contact_id FROM conversations
                     WHERE tenant_id = ?1 AND id = ?2",
                )?
                .query_row(params![tenant.as_str(), id.as_str()], |row| {
                    Ok(ConversationInfo {
                        id: ConversationId::new(row.get::<_, String>(0)?),
                        tenant: TenantId::new(row.get::<_, String>(1)?),
                        channel: ChannelId::new(row.get::<_, String>(2)?),
                        contact: ContactId::new(row.get::<_, String>(3)?),
                    })
                })
                .optional()?)
        })
    }

    fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|connection| {
            let mut statement =
                connection.prepare_cached("SELECT id, name FROM tenants ORDER BY name")?;
            let rows = statement.query_map([], |row| {
                Ok(Tenant {
                    id: TenantId::new(row.get::<_, String>(0)?),
                    name: row.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn channels_of(&self, tenant: &TenantId) -> Result<Vec<Channel>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels WHERE tenant_id = ?1 ORDER BY kind, external_id"
            ))?;
            let mut rows = statement.query([tenant.as_str()])?;
            let mut channels = Vec::new();
            while let Some(row) = rows.next()? {
                channels.push(read_channel(row)?);
            }
            Ok(channels)
        })
    }

    fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, received_at, app_id, reason, length(body) FROM quarantine
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = statement.query_map([limit], |row| {
                Ok(Quarantined {
                    id: row.get(0)?,
                    received_at: row.get(1)?,
                    app_id: row.get(2)?,
                    reason: row.get(3)?,
                    bytes: usize::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn quarantine(&self, app_id: &str, reason: &str, body: &[u8]) -> Result<(), StoreError> {
        let (app_id, reason, body) = (app_id.to_owned(), reason.to_owned(), body.to_vec());
        let hash = body_hash(&body);
        self.write(move |connection| {
            connection.execute(
                "INSERT INTO quarantine (received_at, app_id, reason, body, body_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (app_id, body_hash) DO NOTHING",
                params![now_text(), app_id, reason, body, hash],
            )?;
            trim_quarantine_in(connection, crate::retention::QUARANTINE_MAX_BYTES)?;
            Ok(())
        })
    }

    fn trim_quarantine(&self, max_bytes: u64) -> Result<u64, StoreError> {
        self.write(move |connection| trim_quarantine_in(connection, max_bytes))
    }

    fn quarantine_count(&self) -> Result<u64, StoreError> {
        self.read(|connection| {
            let count: i64 =
                connection.query_row("SELECT count(*) FROM quarantine", [], |row| row.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }

    fn quarantined_body(&self, id: i64) -> Result<Option<QuarantinedBody>, StoreError> {
        self.read(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT app_id, reason, body FROM quarantine WHERE id = ?1",
                    [id],
                    |row| {
                        Ok(QuarantinedBody {
                            app_id: row.get(0)?,
                            reason: row.get(1)?,
                            body: row.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn release_quarantined(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |connection| {
            Ok(connection.execute("DELETE FROM quarantine WHERE id = ?1", [id])? > 0)
        })
    }

    /// One process owns the data dir: it always runs the periodic jobs.
    fn leads(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.read(|connection| {
            connection.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

/// Deletes the oldest quarantined bodies until the rest fit in `max_bytes`; how many went.
fn trim_quarantine_in(connection: &Connection, max_bytes: u64) -> Result<u64, StoreError> {
    let removed = connection
        .prepare_cached(
            "DELETE FROM quarantine WHERE id IN (
                 SELECT id FROM (SELECT id, sum(length(body)) OVER (ORDER BY id DESC) AS kept
                                 FROM quarantine)
                 WHERE kept > ?1)",
        )?
        .execute([i64::try_from(max_bytes).unwrap_or(i64::MAX)])?;
    Ok(removed as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A run of appends shares a savepoint; one that fails must fail alone (the others
    /// committed, numbered as if it had never been queued), and the tenants' sequence
    /// numbers reach their row once, when the group is about to commit.
    #[test]
    fn a_failing_append_in_a_run_fails_alone_and_the_sequence_is_written_at_commit() {
        // Alone in its transaction the run is undone by a rollback and the transaction
        // begun again; sharing it, by its savepoint. Either way only the failing one fails.
        for in_transaction in [InTransaction::Alone, InTransaction::Shared] {
            a_failing_append_fails_alone(in_transaction);
        }
    }

    fn a_failing_append_fails_alone(in_transaction: InTransaction) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let channel = {
            let store = SqliteStore::open(&path, None).unwrap();
            let tenant = store.add_tenant("acme").unwrap().id;
            store
                .add_meta_app(MetaApp {
                    app_id: "app".into(),
                    secret_sealed: "v1:secret".into(),
                    verify_token_sealed: None,
                })
                .unwrap();
            store
                .add_channel(NewChannel {
                    tenant,
                    kind: ChannelKind::Messenger,
                    external_id: "p1".into(),
                    app_id: "app".into(),
                    display_name: "Page".into(),
                    waba_id: None,
                })
                .unwrap()
        };
        let mut nowhere = channel_event(&channel);
        nowhere.tenant = TenantId::new("no-such-tenant");
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let job = |events: Vec<NewEvent>| {
            let outcomes = Arc::clone(&outcomes);
            AppendJob {
                events,
                done: Box::new(move |result: Result<Appended, StoreError>| {
                    let seqs = result
                        .ok()
                        .map(|a| a.entries.iter().map(|e| e.seq).collect());
                    outcomes.lock().unwrap().push(seqs);
                    Box::new(|_| {})
                }),
            }
        };
        let run = vec![
            job(vec![channel_event(&channel)]),
            job(vec![nowhere]),
            job(vec![channel_event(&channel), channel_event(&channel)]),
        ];
        let connection = open_connection(&path).unwrap();
        let last_seq_row = |connection: &Connection| -> i64 {
            connection
                .query_row("SELECT last_seq FROM tenants", [], |row| row.get(0))
                .unwrap()
        };
        let mut state = WriterState::default();
        let mut completions = Vec::new();
        connection.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert!(append_run(
            &connection,
            &mut state,
            run,
            in_transaction,
            &mut completions
        ));
        assert_eq!(completions.len(), 3, "{in_transaction:?}");
        assert_eq!(last_seq_row(&connection), 0, "written before the commit");
        assert!(flush_last_seq(&connection, &mut state));
        connection.execute_batch("COMMIT").unwrap();
        assert_eq!(
            *outcomes.lock().unwrap(),
            vec![Some(vec![1]), None, Some(vec![2, 3])],
            "{in_transaction:?}"
        );
        assert_eq!(last_seq_row(&connection), 3);
        let logged: i64 = connection
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .unwrap();
        assert_eq!(logged, 3);
    }
}
