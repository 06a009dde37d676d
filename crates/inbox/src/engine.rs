//! The engine: the desktop's accounts, each with its encrypted cache, its sync and its
//! outbox, behind one API the shell calls. Reads go to the cache (they work offline);
//! commands that need the relay say so clearly when it can't be reached.

use crate::account::{self, AccountRecord};
use crate::apply::{self, Applied, ApplyError, LogEntry};
use crate::cache::{Cache, CacheError, CacheKey};
use crate::channels;
use crate::client::{ClientError, Download, RelayClient};
pub use crate::error::EngineError;
use crate::export;
use crate::media::{MediaKey, MediaStore};
use crate::notify::{Notice, NoticeContext, Notifier, notice_for};
use crate::outbox;
use crate::query::{self, ConversationSummary, InboxCursor, InboxFilter, SearchHit};
use crate::retention::{self, AtStart};
use crate::secrets::{Secret, SecretKind, SecretStore};
use crate::session::{Session, SessionError, SignedOut};
use crate::sync::{self, Follower, SyncState};
use crate::team::{
    AgentChange, AgentRecord, BotKeyRecord, NewAgent, NewBotKey, SessionRecord, TemporaryPassword,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::{Notify, broadcast, watch};
use ventana_protocol::Event;
use ventana_protocol::api::{
    ChannelPatch, ChannelView, Draft, ErasureReceipt, Recorded, TemplateInfo, WorkflowChange,
};
use ventana_protocol::ids::AgentId;

/// Something the UI should know about, pushed as it happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    /// An account's connection changed.
    Sync { account: String, state: SyncState },
    /// These conversations changed (reload them and the inbox rows).
    Conversations {
        account: String,
        conversations: Vec<String>,
    },
    /// The account's channels or templates changed.
    Channels { account: String },
    /// A notification was shown.
    Notice(Notice),
    /// Accounts were added, removed or changed.
    Accounts,
    /// Something the agent must be told about an account (kept until dismissed).
    AccountNotice(AccountNotice),
    /// Everything shown of this account changed (its cache was started over).
    Reload { account: String },
}

/// What happened to an account that the agent must read: shown until dismissed, and kept
/// by the engine (`Engine::account_notices`) so a window that opens later sees it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountNotice {
    pub id: u64,
    pub account: String,
    pub tenant_name: String,
    pub agent_email: String,
    #[serde(flatten)]
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The relay ended the session; `code` is one of docs/accounts.md's table.
    SignedOut {
        code: String,
        message: String,
        /// The account's cache, attachments and keys were deleted (the tenant requires it).
        cache_removed: bool,
    },
    /// The relay's log is behind this cache: the cache was dropped and is filled again
    /// from the log's beginning; `kept` unsent replies wait for the replay to finish.
    Resync { kept: u64 },
    /// Unsent replies whose conversations the relay's log no longer has.
    RepliesLost { count: u64 },
    /// The cache had not synced for longer than the erasure deadline and was deleted.
    Expired { days: i64, signed_in: bool },
}

/// An account as the UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView {
    #[serde(flatten)]
    pub record: AccountRecord,
    pub label: String,
    pub sync: SyncState,
    /// Replies waiting for the relay.
    pub queued: u64,
    pub unread: u64,
}

/// An inbox row with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxRow {
    pub account: String,
    #[serde(flatten)]
    pub conversation: ConversationSummary,
}

/// A search hit with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchRow {
    pub account: String,
    #[serde(flatten)]
    pub hit: SearchHit,
}

/// What the engine needs from its host.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The app's data dir: `accounts.json` and `accounts/<id>/` (cache and media).
    pub data_dir: PathBuf,
    /// Attachments older than this are purged from the disk cache.
    pub media_retention: chrono::TimeDelta,
    /// The most log entries applied in one transaction (a cold start's batch size).
    pub sync_batch: usize,
    /// A cache that has not synced for longer than this may hold people erased since: it
    /// is deleted at start (`retention.rs`).
    pub erasure_deadline: chrono::TimeDelta,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            media_retention: chrono::TimeDelta::days(30),
            sync_batch: sync::MAX_BATCH,
            erasure_deadline: chrono::TimeDelta::days(30),
        }
    }
}

/// One account at work.
#[derive(Debug)]
pub(crate) struct Account {
    record: Mutex<AccountRecord>,
    /// The UI's connection: reads never wait for a sync transaction (WAL).
    reader: Mutex<Cache>,
    /// Sync's and the outbox's connection.
    writer: Mutex<Cache>,
    media: MediaStore,
    session: Session,
    sync: watch::Sender<SyncState>,
    outbox_wake: Notify,
    reconnect_now: Notify,
    sync_batch: usize,
    stop: watch::Sender<bool>,
    updates: broadcast::Sender<Update>,
    notifier: Arc<dyn Notifier>,
    /// The engine's state the account reports back to (sign-outs, sync times).
    shared: Weak<Shared>,
    /// Its sync task runs (it ends when the relay wants a new password first, and is
    /// started again after one).
    sync_running: AtomicBool,
    /// Its outbox task was started (once).
    outbox_running: AtomicBool,
    /// The relay ended its session and that was dealt with (once).
    ended: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves SQLite consistent (the transaction rolls
    // back), so the poison flag carries no information here.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Account {
    fn id(&self) -> String {
        locked(&self.record).id.clone()
    }

    fn session(&self) -> &Session {
        &self.session
    }

    fn set_sync(&self, state: SyncState) {
        if *self.sync.borrow() != state {
            self.sync.send_replace(state.clone());
            self.notify(Update::Sync {
                account: self.id(),
                state,
            });
        }
    }

    pub(crate) fn notify(&self, update: Update) {
        // No receiver (no window yet) is fine: the UI reads the state when it opens.
        let _ = self.updates.send(update);
    }

    fn wake_outbox(&self) {
        if let Err(error) = outbox::wake(locked(&self.writer).connection(), Utc::now()) {
            tracing::warn!(%error, "could not wake the outbox");
        }
        self.outbox_wake.notify_one();
    }

    /// Applies the channels' retention by this desktop's clock (see
    /// `apply::purge_expired_history`): at start, and hourly while the app runs, signed in
    /// or not, online or not.
    pub(crate) fn purge_expired(&self, now: DateTime<Utc>) -> Result<(), ApplyError> {
        let applied = apply::purge_expired_history(&mut locked(&self.writer), now)?;
        if applied.erased
            && let Err(error) = locked(&self.writer).checkpoint()
        {
            tracing::warn!(%error, "the WAL could not be checkpointed after a retention purge");
        }
        for media in &applied.released_media {
            if let Err(error) = self.media.remove(media) {
                tracing::warn!(%error, "an attachment could not be removed from disk");
            }
        }
        if !applied.conversations.is_empty() {
            self.notify(Update::Conversations {
                account: self.id(),
                conversations: applied.conversations,
            });
        }
        Ok(())
    }

    fn cursor(&self) -> Result<u64, CacheError> {
        apply::cursor(&locked(&self.writer))
    }

    /// Applies a batch, then does what follows from it: notifications, released media,
    /// a WAL checkpoint after an erasure, and telling the UI.
    fn apply(&self, entries: &[LogEntry], live: bool) -> Result<Applied, ApplyError> {
        let mut writer = locked(&self.writer);
        let applied = apply::apply_batch(&mut writer, entries)?;
        if applied.erased {
            // Invariant 9: the erased rows' pages were zeroed (secure_delete); move that
            // into the main file and empty the WAL (the reader holds no open transaction
            // between queries, so it does not pin the WAL).
            drop(writer);
            if let Err(error) = locked(&self.writer).checkpoint() {
                tracing::warn!(%error, "the WAL could not be checkpointed after an erasure");
            }
        } else {
            drop(writer);
        }
        for media in &applied.released_media {
            if let Err(error) = self.media.remove(media) {
                tracing::warn!(%error, "an attachment could not be removed from disk");
            }
        }
        self.notices(entries, live);
        if !applied.conversations.is_empty() {
            self.notify(Update::Conversations {
                account: self.id(),
                conversations: applied.conversations.clone(),
            });
        }
        Ok(applied)
    }

    fn notices(&self, entries: &[LogEntry], live: bool) {
        let record = locked(&self.record).clone();
        let me = AgentId::new(record.agent_id.clone());
        let label = record.label();
        let now = Utc::now();
        for entry in entries {
            let event: &Event = &entry.event;
            if !matches!(
                event.body,
                ventana_protocol::EventBody::Escalated { .. }
                    | ventana_protocol::EventBody::MessageReceived(_)
            ) {
                continue;
            }
            let Some(conversation) = &event.conversation else {
                continue;
            };
            // A conversation the cache cannot read is told about without these.
            let (assignee, contact_name) = query::assignee_and_contact(
                locked(&self.reader).connection(),
                conversation.as_str(),
            )
            .unwrap_or((None, None));
            let assignee = assignee.map(AgentId::new);
            let context = NoticeContext {
                account: &record.id,
                account_label: &label,
                my_agent: &me,
                assignee: assignee.as_ref(),
                contact_name: contact_name.as_deref(),
                muted: record.muted,
                now,
                live,
            };
            if let Some(notice) = notice_for(event, &context) {
                if let Err(error) = self.notifier.show(&notice) {
                    tracing::warn!(%error, "a notification could not be shown");
                }
                self.notify(Update::Notice(notice));
            }
        }
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn notice(&self, kind: NoticeKind) {
        let record = locked(&self.record).clone();
        if let Some(shared) = self.shared.upgrade() {
            shared.notice(&record, kind);
        }
    }

    /// The relay ended this account's session (a `signed_out` frame, or a refresh refused
    /// with 401): stop, forget the refresh token, and tell the agent why. When the tenant
    /// requires it, the cache, its attachments and keys are deleted too.
    async fn end_session(&self, why: SignedOut) {
        // Once, and not for an account that is already signed out (its missing refresh
        // token says nothing new about why).
        if !locked(&self.record).signed_in || self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(account = %self.id(), code = %why.code, wipe = why.wipe_cache, "the relay ended the session");
        self.stop();
        self.session.invalidate().await;
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let id = self.id();
        if let Err(error) = shared.secrets.delete(&id, SecretKind::RefreshToken) {
            tracing::warn!(%error, "the refresh token could not be removed from the keyring");
        }
        let notice = NoticeKind::SignedOut {
            code: why.code.clone(),
            message: why.message.clone(),
            cache_removed: why.wipe_cache,
        };
        if why.wipe_cache {
            shared.forget(&id).await;
            // Told once it is true: the cache is gone.
            self.notice(notice);
        } else {
            {
                let mut record = locked(&self.record);
                record.signed_in = false;
                record.signed_out_code = Some(why.code.clone());
            }
            if let Err(error) = shared.save_records() {
                tracing::warn!(%error, "the account list could not be saved");
            }
            self.notice(notice);
            self.set_sync(SyncState::SignedOut {
                code: why.code,
                reason: why.message,
            });
        }
        let _ = self.updates.send(Update::Accounts);
    }

    /// The relay answers `password_change_required`: nothing syncs until the agent chose
    /// a new password (`Engine::change_password`).
    fn password_change_required(&self) {
        locked(&self.record).must_change_password = true;
        if let Some(shared) = self.shared.upgrade()
            && let Err(error) = shared.save_records()
        {
            tracing::warn!(%error, "the account list could not be saved");
        }
        self.notify(Update::Accounts);
    }

    /// The cache followed the log just now: remembered (every few minutes at most) so the
    /// erasure deadline is measured from it at the next start.
    fn synced(&self) {
        let now = Utc::now();
        {
            let mut record = locked(&self.record);
            if !retention::worth_recording(record.last_synced_at, now) {
                return;
            }
            record.last_synced_at = Some(now);
        }
        if let Some(shared) = self.shared.upgrade()
            && let Err(error) = shared.save_records()
        {
            tracing::warn!(%error, "the account list could not be saved");
        }
    }

    /// The relay's log is behind this cache (`resync` frame): start the cache over from
    /// the log's beginning, keeping unsent replies (`resync.rs`), and tell the agent.
    fn resync(&self, after: u64, head: u64) -> Result<(), EngineError> {
        tracing::warn!(account = %self.id(), after, head, "the relay's log is behind this cache; replaying from 0");
        let reset = crate::resync::reset(&mut locked(&self.writer))?;
        for media in &reset.released_media {
            if let Err(error) = self.media.remove(media) {
                tracing::warn!(%error, "an attachment could not be removed from disk");
            }
        }
        if let Err(error) = locked(&self.writer).checkpoint() {
            tracing::warn!(%error, "the WAL could not be checkpointed after a resync");
        }
        self.notice(NoticeKind::Resync { kept: reset.parked });
        self.notify(Update::Reload { account: self.id() });
        Ok(())
    }

    /// Replies parked by a resync go back into the outbox once the replay is live.
    fn unpark(&self) {
        let me = locked(&self.record).agent_id.clone();
        match outbox::unpark(locked(&self.writer).connection_mut(), &me, Utc::now()) {
            Ok(unparked) => {
                if unparked.lost > 0 {
                    self.notice(NoticeKind::RepliesLost {
                        count: unparked.lost,
                    });
                }
                if unparked.queued + unparked.known + unparked.lost > 0 {
                    self.outbox_wake.notify_one();
                    self.notify(Update::Reload { account: self.id() });
                }
            }
            Err(error) => tracing::warn!(%error, "parked replies could not be queued again"),
        }
    }
}

impl Follower for Account {
    fn id(&self) -> String {
        Account::id(self)
    }

    fn session(&self) -> &Session {
        Account::session(self)
    }

    fn set_sync(&self, state: SyncState) {
        Account::set_sync(self, state);
    }

    fn cursor(&self) -> Result<u64, CacheError> {
        Account::cursor(self)
    }

    fn apply(&self, entries: &[LogEntry], live: bool) -> Result<Applied, ApplyError> {
        Account::apply(self, entries, live)
    }

    fn channels_fetched(
        &self,
        fetched: &[ChannelView],
        templates: &[(String, Vec<TemplateInfo>)],
    ) -> Result<(), CacheError> {
        channels::store(locked(&self.writer).connection_mut(), fetched, templates)?;
        self.notify(Update::Channels { account: self.id() });
        Ok(())
    }

    async fn end_session(&self, why: SignedOut) {
        Account::end_session(self, why).await;
    }

    fn password_change_required(&self) {
        Account::password_change_required(self);
        self.sync_running.store(false, Ordering::SeqCst);
    }

    fn resync(&self, after: u64, head: u64) -> Result<(), EngineError> {
        Account::resync(self, after, head)
    }

    fn unpark(&self) {
        Account::unpark(self);
    }

    fn synced(&self) {
        Account::synced(self);
    }

    fn wake_outbox(&self) {
        Account::wake_outbox(self);
    }

    fn batch_limit(&self) -> usize {
        self.sync_batch
    }

    fn reconnect_requested(&self) -> &Notify {
        &self.reconnect_now
    }
}

/// Starts the account's sync and outbox tasks, unless they run.
/// Applies the channels' retention every hour for as long as the account is open.
async fn purge_hourly(account: std::sync::Weak<Account>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3600));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(account) = account.upgrade() else {
            return;
        };
        if account.ended.load(Ordering::SeqCst) {
            return;
        }
        if let Err(error) = account.purge_expired(Utc::now()) {
            tracing::warn!(%error, "the channels' retention could not be applied");
        }
    }
}

fn run_tasks(account: &Arc<Account>) {
    if !account.outbox_running.swap(true, Ordering::SeqCst) {
        tokio::spawn(send_outbox(Arc::clone(account), account.stop.subscribe()));
    }
    if !account.sync_running.swap(true, Ordering::SeqCst) {
        tokio::spawn(sync::run(Arc::clone(account), account.stop.subscribe()));
    }
}

/// The outbox sender: hands due replies to the relay, one at a time, oldest first.
async fn send_outbox(account: Arc<Account>, mut stop: watch::Receiver<bool>) {
    loop {
        // Only while the stream is live: then the relay is reachable and its log matches
        // this cache (a relay restored from a backup is found out first, and the cache
        // starts over before a reply is handed to it).
        let live = matches!(*account.sync.borrow(), SyncState::Live { .. });
        let jobs = if live {
            outbox::due(locked(&account.writer).connection(), Utc::now()).unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut touched = Vec::new();
        for job in jobs {
            let session = &account.session;
            let result = session
                .with_access(|token| {
                    let (conversation, key, draft) =
                        (job.conversation.clone(), job.key.clone(), job.draft.clone());
                    async move {
                        session
                            .client()
                            .reply(&token, &conversation, &key, &draft)
                            .await
                    }
                })
                .await;
            let now = Utc::now();
            let outcome = {
                let mut writer = locked(&account.writer);
                match &result {
                    Ok(_) => outbox::handed(writer.connection(), &job.key),
                    Err(SessionError::Client(error)) if !error.is_transient() => {
                        outbox::refused(writer.connection_mut(), &job.key, error)
                    }
                    Err(SessionError::Client(error)) => {
                        outbox::postpone(writer.connection(), &job.key, error, now)
                    }
                    Err(other) => outbox::postpone(
                        writer.connection(),
                        &job.key,
                        &ClientError::Protocol(other.to_string()),
                        now,
                    ),
                }
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "the outbox could not record a reply's outcome");
            }
            if let Err(SessionError::SignedOut(why)) = &result {
                account.end_session(why.clone()).await;
            }
            touched.push(job.conversation.clone());
            // The relay is unreachable: the rest would fail the same way. Wait for the
            // stream to come back (it wakes the outbox) or the next due time.
            if matches!(&result, Err(SessionError::Client(error)) if error.is_transient())
                || matches!(&result, Err(SessionError::SignedOut(_)))
            {
                break;
            }
        }
        if !touched.is_empty() {
            touched.dedup();
            account.notify(Update::Conversations {
                account: account.id(),
                conversations: touched,
            });
        }
        // Not live: the `live` frame wakes this task.
        let next = if live {
            outbox::next_due(locked(&account.writer).connection())
                .ok()
                .flatten()
                .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(300))
        } else {
            std::time::Duration::from_secs(300)
        };
        tokio::select! {
            _ = account.outbox_wake.notified() => {}
            _ = tokio::time::sleep(next) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// What the engine and its accounts' tasks share: an account reports a sign-out or a sync
/// time here, from its own task (it holds a `Weak`, so this is not kept alive by them).
#[derive(Debug)]
pub(crate) struct Shared {
    config: EngineConfig,
    secrets: Arc<dyn SecretStore>,
    accounts: Mutex<BTreeMap<String, Arc<Account>>>,
    notices: Mutex<Vec<AccountNotice>>,
    next_notice: AtomicU64,
    updates: broadcast::Sender<Update>,
    /// One save of `accounts.json` at a time, each writing the list as it is then: the
    /// sync tasks save too (sync times, sign-outs), and two writers would share the temp
    /// file, or an older list land last.
    saving: Mutex<()>,
}

impl Shared {
    fn save_records(&self) -> Result<(), EngineError> {
        let _one_at_a_time = locked(&self.saving);
        let records: Vec<AccountRecord> = locked(&self.accounts)
            .values()
            .map(|account| locked(&account.record).clone())
            .collect();
        account::save(&self.config.data_dir, &records)?;
        let _ = self.updates.send(Update::Accounts);
        Ok(())
    }

    fn notice(&self, record: &AccountRecord, kind: NoticeKind) {
        let notice = AccountNotice {
            id: self.next_notice.fetch_add(1, Ordering::SeqCst) + 1,
            account: record.id.clone(),
            tenant_name: record.tenant_name.clone(),
            agent_email: record.agent_email.clone(),
            kind,
        };
        locked(&self.notices).push(notice.clone());
        let _ = self.updates.send(Update::AccountNotice(notice));
    }

    /// Deletes an account's keys from the keyring (and its refresh token unless it stays
    /// signed in); the caller removes its directory (cache, WAL, attachments). The keys go
    /// first: a directory that cannot be removed at once is unreadable without them.
    fn delete_keys(&self, id: &str, signed_in: bool) {
        let kinds: &[SecretKind] = if signed_in {
            &[SecretKind::CacheKey, SecretKind::MediaKey]
        } else {
            &[
                SecretKind::RefreshToken,
                SecretKind::CacheKey,
                SecretKind::MediaKey,
            ]
        };
        for &kind in kinds {
            if let Err(error) = self.secrets.delete(id, kind) {
                tracing::warn!(%error, %kind, "a key could not be removed from the keyring");
            }
        }
    }

    /// Removes the account from the engine and deletes its local state.
    async fn forget(&self, id: &str) {
        let removed = locked(&self.accounts).remove(id);
        if let Some(account) = &removed {
            account.stop();
        }
        drop(removed);
        self.delete_keys(id, false);
        remove_dir(&account::account_dir(&self.config.data_dir, id)).await;
        if let Err(error) = self.save_records() {
            tracing::warn!(%error, "the account list could not be saved");
        }
    }
}

/// Removes an account's directory, retrying while its connections close (the tasks that
/// hold them let go within moments of being stopped; on Linux the first try succeeds).
async fn remove_dir(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    tracing::warn!(dir = %dir.display(), "an account's directory could not be removed");
}

/// The newest modification time of a cache file or its WAL.
fn cache_written(dir: &Path) -> Option<chrono::DateTime<Utc>> {
    ["cache.db", "cache.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok()?.modified().ok())
        .max()
        .map(chrono::DateTime::<Utc>::from)
}

/// The desktop engine.
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    notifier: Arc<dyn Notifier>,
    /// Accounts on file whose cache could not be opened, with why.
    broken: Mutex<BTreeMap<String, EngineError>>,
}

impl Engine {
    /// Opens every remembered account's cache and starts syncing the signed-in ones. An
    /// account whose cache can't be opened (its key is missing from the keyring, say) is
    /// reported by [`Engine::problems`], not fatal.
    pub fn open(
        config: EngineConfig,
        secrets: Arc<dyn SecretStore>,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Self, EngineError> {
        let (updates, _) = broadcast::channel(1024);
        let engine = Self {
            shared: Arc::new(Shared {
                config,
                secrets,
                accounts: Mutex::new(BTreeMap::new()),
                notices: Mutex::new(Vec::new()),
                next_notice: AtomicU64::new(0),
                updates,
                saving: Mutex::new(()),
            }),
            notifier,
            broken: Mutex::new(BTreeMap::new()),
        };
        let now = Utc::now();
        let mut forgotten = false;
        for mut record in account::load(&engine.shared.config.data_dir)? {
            let id = record.id.clone();
            let dir = account::account_dir(&engine.shared.config.data_dir, &id);
            let deadline = engine.shared.config.erasure_deadline;
            let decision = retention::at_start(
                record.signed_in,
                record.last_synced_at,
                cache_written(&dir),
                now,
                deadline,
            );
            if decision != AtStart::Keep {
                // Erasures the cache may have missed: it goes, whatever it holds.
                tracing::warn!(account = %id, ?decision, "the cache has not synced within the erasure deadline; deleting it");
                engine.shared.delete_keys(&id, decision == AtStart::Refill);
                if let Err(error) = std::fs::remove_dir_all(&dir)
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(%error, "an expired cache could not be removed");
                }
                engine.shared.notice(
                    &record,
                    NoticeKind::Expired {
                        days: deadline.num_days(),
                        signed_in: decision == AtStart::Refill,
                    },
                );
                forgotten = true;
                if decision == AtStart::Forget {
                    continue;
                }
                record.last_synced_at = None;
            }
            match engine.start(record) {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(account = %id, %error, "an account could not be opened");
                    locked(&engine.broken).insert(id, error);
                }
            }
        }
        if forgotten {
            engine.shared.save_records()?;
        }
        Ok(engine)
    }

    /// Updates as they happen (sync state, changed conversations, notices).
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.shared.updates.subscribe()
    }

    /// What the agent has not dismissed yet (sign-outs by the relay, resyncs, expiries).
    pub fn account_notices(&self) -> Vec<AccountNotice> {
        locked(&self.shared.notices).clone()
    }

    pub fn dismiss_notice(&self, id: u64) {
        locked(&self.shared.notices).retain(|notice| notice.id != id);
    }

    /// Accounts whose cache could not be opened, with why.
    pub fn problems(&self) -> Vec<(String, EngineError)> {
        locked(&self.broken)
            .iter()
            .map(|(id, error)| (id.clone(), error.clone()))
            .collect()
    }

    fn key(&self, account: &str, kind: SecretKind) -> Result<[u8; 32], EngineError> {
        if let Some(key) = self.shared.secrets.get(account, kind)? {
            return key.to_key_bytes().ok_or_else(|| {
                EngineError::new(
                    "keyring_damaged",
                    "a key in the keyring is not a 256-bit key",
                )
            });
        }
        let key = Secret::random_key()?;
        self.shared.secrets.set(account, kind, &key)?;
        key.to_key_bytes()
            .ok_or_else(|| EngineError::new("keyring_damaged", "a fresh key could not be made"))
    }

    /// Opens the account's cache and media store and starts its tasks.
    fn start(&self, record: AccountRecord) -> Result<(), EngineError> {
        let dir = account::account_dir(&self.shared.config.data_dir, &record.id);
        std::fs::create_dir_all(&dir).map_err(|e| {
            EngineError::new(
                "data_dir",
                format!("{} cannot be created: {e}", dir.display()),
            )
        })?;
        // A cache whose key is gone cannot be read by anyone: say so, don't make a new key.
        let cache_key = match self.shared.secrets.get(&record.id, SecretKind::CacheKey)? {
            Some(key) => key.to_key_bytes(),
            None if dir.join("cache.db").exists() => {
                return Err(EngineError::new(
                    "cache_key_missing",
                    "this account's cache key is not in the keyring; sign out with \
                     \"remove the cache\" and sign in again",
                ));
            }
            None => Some(self.key(&record.id, SecretKind::CacheKey)?),
        }
        .ok_or_else(|| EngineError::new("keyring_damaged", "the cache key is not 256 bits"))?;
        let media_key = self.key(&record.id, SecretKind::MediaKey)?;
        let path = dir.join("cache.db");
        let key = CacheKey::from_bytes(cache_key);
        let writer = Cache::open(&path, &key)?;
        let reader = Cache::open(&path, &key)?;
        // The reader serves the UI: a page of the inbox, a conversation's newest messages, a
        // search. Scrolling the whole inbox reads every conversation once, which filled its
        // 32 MB page cache and kept it filled; 8 MB holds what the UI reads again. The
        // writer keeps 32 MB: a sync's batches of thousands of events rewrite many pages.
        reader.limit_page_cache(8 * 1024)?;
        let media = MediaStore::open(&dir.join("media"), MediaKey::from_bytes(media_key))?;
        let cutoff = Utc::now() - self.shared.config.media_retention;
        if let Err(error) = media.purge_older_than(cutoff.into()) {
            tracing::warn!(%error, "old attachments could not be purged");
        }
        let client = RelayClient::new(&record.relay_url)?;
        let (stop, _) = watch::channel(false);
        let signed_in = record.signed_in;
        let initial = if !signed_in {
            SyncState::SignedOut {
                code: record
                    .signed_out_code
                    .clone()
                    .unwrap_or_else(|| "signed_out".into()),
                reason: "signed out".into(),
            }
        } else if record.must_change_password {
            SyncState::PasswordChangeRequired
        } else {
            SyncState::Connecting
        };
        let account = Arc::new(Account {
            session: Session::new(&record.id, client, Arc::clone(&self.shared.secrets)),
            record: Mutex::new(record.clone()),
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            media,
            sync: watch::channel(initial).0,
            outbox_wake: Notify::new(),
            reconnect_now: Notify::new(),
            sync_batch: self.shared.config.sync_batch.max(1),
            stop,
            updates: self.shared.updates.clone(),
            notifier: Arc::clone(&self.notifier),
            shared: Arc::downgrade(&self.shared),
            sync_running: AtomicBool::new(false),
            outbox_running: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        });
        if let Err(error) = account.purge_expired(Utc::now()) {
            tracing::warn!(%error, "the channels' retention could not be applied");
        }
        // Outside a runtime (a tool opening caches) there is no "hourly": start is enough.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(purge_hourly(Arc::downgrade(&account)));
        }
        if signed_in && !record.must_change_password {
            run_tasks(&account);
        }
        if let Some(previous) = locked(&self.shared.accounts).insert(record.id.clone(), account) {
            previous.stop();
        }
        locked(&self.broken).remove(&record.id);
        Ok(())
    }

    fn account(&self, id: &str) -> Result<Arc<Account>, EngineError> {
        locked(&self.shared.accounts)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::new("unknown_account", format!("there is no account {id}")))
    }

    fn all(&self) -> Vec<Arc<Account>> {
        locked(&self.shared.accounts).values().cloned().collect()
    }

    fn save_records(&self) -> Result<(), EngineError> {
        self.shared.save_records()
    }

    /// Signs in with email and password. The refresh token goes to the keyring; nothing
    /// is written if the keyring can't take it.
    pub async fn sign_in(
        &self,
        relay_url: &str,
        email: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<AccountView, EngineError> {
        let client = RelayClient::new(relay_url)?;
        let session = client
            .login(email, password, tenant)
            .await
            .map_err(|error| match error {
                ClientError::Unauthorized { message, .. } => {
                    EngineError::new("wrong_credentials", message)
                }
                other => other.into(),
            })?;
        let id = AccountRecord::derive_id(client.base_url(), &session.tenant.id, &session.agent.id);
        self.shared.secrets.set(
            &id,
            SecretKind::RefreshToken,
            &Secret::new(session.refresh_token.clone()),
        )?;
        let previous = locked(&self.shared.accounts)
            .get(&id)
            .map(|account| locked(&account.record).clone());
        let muted = previous.as_ref().is_some_and(|record| record.muted);
        let record = AccountRecord {
            id: id.clone(),
            relay_url: client.base_url().to_owned(),
            tenant_id: session.tenant.id.clone(),
            tenant_name: session.tenant.name.clone(),
            agent_id: session.agent.id.clone(),
            agent_email: session.agent.email.clone(),
            role: serde_json::to_value(&session.agent.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "agent".into()),
            muted,
            signed_in: true,
            signed_out_code: None,
            must_change_password: session.must_change_password,
            // A kept cache resumes from its cursor, so the erasures it missed are applied;
            // its deadline still counts from its last sync until then.
            last_synced_at: previous.and_then(|record| record.last_synced_at),
        };
        if let Err(error) = self.start(record) {
            let _ = self.shared.secrets.delete(&id, SecretKind::RefreshToken);
            return Err(error);
        }
        let account = self.account(&id)?;
        account
            .session
            .seed(session.access_token, session.expires_in)
            .await;
        self.save_records()?;
        self.view(&account)
    }

    /// Signs out: the relay session ends and the refresh token leaves the keyring. With
    /// `remove_cache`, the cache, its attachments and their keys go too; without, the cache
    /// stays readable offline until the next sign-in.
    pub async fn sign_out(&self, id: &str, remove_cache: bool) -> Result<(), EngineError> {
        let account = self.account(id)?;
        account.stop();
        if let Ok(token) = account.session.access().await {
            // Best effort: the token expires on its own if the relay is unreachable.
            let _ = account.session.client().logout(&token).await;
        }
        account.session.invalidate().await;
        self.shared.secrets.delete(id, SecretKind::RefreshToken)?;
        if remove_cache {
            locked(&self.shared.accounts).remove(id);
            drop(account);
            self.shared.secrets.delete(id, SecretKind::CacheKey)?;
            self.shared.secrets.delete(id, SecretKind::MediaKey)?;
            // The connections close when the last task lets go of the account.
            remove_dir(&account::account_dir(&self.shared.config.data_dir, id)).await;
        } else {
            {
                let mut record = locked(&account.record);
                record.signed_in = false;
                record.signed_out_code = Some("signed_out".into());
            }
            account.set_sync(SyncState::SignedOut {
                code: "signed_out".into(),
                reason: "signed out".into(),
            });
        }
        self.save_records()
    }

    pub fn accounts(&self) -> Vec<AccountView> {
        self.all()
            .iter()
            .filter_map(|account| self.view(account).ok())
            .collect()
    }

    fn view(&self, account: &Account) -> Result<AccountView, EngineError> {
        let record = locked(&account.record).clone();
        let reader = locked(&account.reader);
        Ok(AccountView {
            label: record.label(),
            record,
            sync: account.sync.borrow().clone(),
            queued: outbox::pending_count(reader.connection())?,
            unread: query::unread_total(reader.connection())?,
        })
    }

    pub fn set_muted(&self, id: &str, muted: bool) -> Result<(), EngineError> {
        locked(&self.account(id)?.record).muted = muted;
        self.save_records()
    }

    /// Asks every offline account to reconnect now (the network came back).
    pub fn reconnect(&self) {
        for account in self.all() {
            account.reconnect_now.notify_one();
        }
    }

    /// The inbox across accounts (or one), newest activity first.
    pub fn inbox(
        &self,
        account: Option<&str>,
        filter: &InboxFilter,
        after: Option<&InboxCursor>,
        limit: usize,
    ) -> Result<Vec<InboxRow>, EngineError> {
        let page = after.map_or(query::InboxPage::First, query::InboxPage::After);
        self.inbox_page(account, filter, page, limit)
    }

    /// A page of the inbox across accounts (or one), newest activity first: the first, the
    /// one after a row, or the `limit` rows just before a row.
    pub fn inbox_page(
        &self,
        account: Option<&str>,
        filter: &InboxFilter,
        page: query::InboxPage<'_>,
        limit: usize,
    ) -> Result<Vec<InboxRow>, EngineError> {
        let now = Utc::now();
        let mut rows = Vec::new();
        for handle in self.all() {
            let record = locked(&handle.record).clone();
            if account.is_some_and(|wanted| wanted != record.id) {
                continue;
            }
            let found = query::inbox_page(
                locked(&handle.reader).connection(),
                filter,
                &record.agent_id,
                page,
                limit,
                now,
            )?;
            rows.extend(found.into_iter().map(|conversation| InboxRow {
                account: record.id.clone(),
                conversation,
            }));
        }
        rows.sort_by(|a, b| {
            (&b.conversation.last_activity_at, &b.conversation.id)
                .cmp(&(&a.conversation.last_activity_at, &a.conversation.id))
        });
        if matches!(page, query::InboxPage::Before(_)) {
            // The rows nearest above the cursor are the last ones in the list's order.
            let extra = rows.len().saturating_sub(limit);
            rows.drain(..extra);
        } else {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    pub fn conversation(
        &self,
        account: &str,
        conversation: &str,
    ) -> Result<Option<ConversationSummary>, EngineError> {
        let account = self.account(account)?;
        Ok(query::conversation(
            locked(&account.reader).connection(),
            conversation,
            Utc::now(),
        )?)
    }

    pub fn messages(
        &self,
        account: &str,
        conversation: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<query::MessageView>, EngineError> {
        let account = self.account(account)?;
        Ok(query::messages(
            locked(&account.reader).connection(),
            conversation,
            before,
            limit,
        )?)
    }

    pub fn notes(
        &self,
        account: &str,
        conversation: &str,
    ) -> Result<Vec<query::NoteView>, EngineError> {
        let account = self.account(account)?;
        Ok(query::notes(
            locked(&account.reader).connection(),
            conversation,
        )?)
    }

    pub fn mark_read(&self, account: &str, conversation: &str) -> Result<(), EngineError> {
        let handle = self.account(account)?;
        query::mark_read(locked(&handle.writer).connection(), conversation)?;
        handle.notify(Update::Conversations {
            account: account.to_owned(),
            conversations: vec![conversation.to_owned()],
        });
        Ok(())
    }

    /// Search across every account's cache.
    pub fn search(&self, typed: &str, limit: usize) -> Result<Vec<SearchRow>, EngineError> {
        let mut rows = Vec::new();
        for handle in self.all() {
            let id = handle.id();
            let hits = query::search(locked(&handle.reader).connection(), typed, limit)?;
            rows.extend(hits.into_iter().map(|hit| SearchRow {
                account: id.clone(),
                hit,
            }));
        }
        // Contacts first, then newest first.
        rows.sort_by(|a, b| {
            (
                a.hit.kind != "contact",
                std::cmp::Reverse(&a.hit.occurred_at),
            )
                .cmp(&(
                    b.hit.kind != "contact",
                    std::cmp::Reverse(&b.hit.occurred_at),
                ))
        });
        rows.truncate(limit);
        Ok(rows)
    }

    pub fn contact(
        &self,
        account: &str,
        contact: &str,
    ) -> Result<Option<query::ContactProfile>, EngineError> {
        let account = self.account(account)?;
        Ok(query::contact(
            locked(&account.reader).connection(),
            contact,
        )?)
    }

    /// The approved templates of a channel, as last synced.
    pub fn templates(
        &self,
        account: &str,
        channel: &str,
    ) -> Result<Vec<TemplateInfo>, EngineError> {
        let account = self.account(account)?;
        let reader = locked(&account.reader);
        Ok(channels::templates(reader.connection(), channel)?)
    }

    /// Writes a reply to the outbox (works offline) and wakes the sender.
    pub fn compose(
        &self,
        account: &str,
        conversation: &str,
        draft: &Draft,
    ) -> Result<outbox::Queued, EngineError> {
        let handle = self.account(account)?;
        let me = locked(&handle.record).agent_id.clone();
        let (key, rowid) = outbox::compose(
            locked(&handle.writer).connection_mut(),
            &me,
            conversation,
            draft,
            Utc::now(),
        )?;
        handle.outbox_wake.notify_one();
        handle.notify(Update::Conversations {
            account: account.to_owned(),
            conversations: vec![conversation.to_owned()],
        });
        Ok(outbox::Queued { key, rowid })
    }

    /// Queues a failed reply again under its own key.
    pub fn retry(&self, account: &str, key: &str) -> Result<(), EngineError> {
        let handle = self.account(account)?;
        outbox::retry(locked(&handle.writer).connection_mut(), key, Utc::now())?;
        handle.outbox_wake.notify_one();
        Ok(())
    }

    /// An attachment: from the sealed disk cache, else through the relay (then cached).
    pub async fn media(&self, account: &str, media_id: &str) -> Result<Download, EngineError> {
        let handle = self.account(account)?;
        if let Some(cached) = handle.media.get(media_id)? {
            return Ok(Download {
                mime_type: cached.mime_type.clone(),
                bytes: cached.bytes.clone(),
            });
        }
        let session = &handle.session;
        let download = session
            .with_access(|token| async move { session.client().media(&token, media_id).await })
            .await?;
        handle
            .media
            .put(media_id, &download.mime_type, &download.bytes)?;
        Ok(download)
    }

    async fn online<T, F, Fut>(&self, account: &str, call: F) -> Result<T, EngineError>
    where
        F: Fn(RelayClient, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let handle = self.account(account)?;
        if !locked(&handle.record).signed_in {
            return Err(EngineError::new(
                "signed_out",
                "This account is signed out. Sign in again.",
            ));
        }
        let session = &handle.session;
        match session
            .with_access(|token| call(session.client().clone(), token))
            .await
        {
            Ok(value) => Ok(value),
            Err(SessionError::SignedOut(why)) => {
                let error = SessionError::SignedOut(why.clone()).into();
                handle.end_session(why).await;
                Err(error)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Changes a conversation's status, assignee or labels (needs the relay; the change
    /// arrives back as an event).
    pub async fn update_conversation(
        &self,
        account: &str,
        conversation: &str,
        change: &WorkflowChange,
    ) -> Result<Recorded, EngineError> {
        self.online(account, |client, token| async move {
            client
                .update_conversation(&token, conversation, change)
                .await
        })
        .await
    }

    pub async fn add_note(
        &self,
        account: &str,
        conversation: &str,
        text: &str,
    ) -> Result<Recorded, EngineError> {
        self.online(account, |client, token| async move {
            client.add_note(&token, conversation, text).await
        })
        .await
    }

    /// Erases a contact on the relay; the `contact_erased` event then clears every cache.
    pub async fn erase_contact(
        &self,
        account: &str,
        contact: &str,
    ) -> Result<ErasureReceipt, EngineError> {
        self.online(account, |client, token| async move {
            client.erase_contact(&token, contact).await
        })
        .await
    }

    /// Exports everything the relay holds about a contact (admins only: the relay says
    /// so otherwise) into a new zip in `dir`, named after the person and the day;
    /// `progress` hears of every chunk.
    pub async fn export_contact(
        &self,
        account: &str,
        contact: &str,
        dir: &Path,
        progress: impl FnMut(export::ExportProgress),
    ) -> Result<export::SavedExport, EngineError> {
        let who = self
            .contact(account, contact)?
            .and_then(|profile| profile.name)
            .unwrap_or_else(|| contact.to_owned());
        let download = self
            .online(account, |client, token| async move {
                client.export_contact(&token, contact).await
            })
            .await?;
        let name = export::file_name(&who, Utc::now().date_naive());
        export::save(download, &export::unused_path(dir, &name), progress).await
    }

    /// The relay's channels as they are now (admins see settings to edit).
    pub async fn channels(&self, account: &str) -> Result<Vec<ChannelView>, EngineError> {
        self.online(account, |client, token| async move {
            client.channels(&token).await
        })
        .await
    }

    pub async fn update_channel(
        &self,
        account: &str,
        channel: &str,
        change: &ChannelPatch,
    ) -> Result<ChannelView, EngineError> {
        self.online(account, |client, token| async move {
            client.update_channel(&token, channel, change).await
        })
        .await
    }

    /// Changes the agent's own password (`POST /v1/me/password`). The relay ends their
    /// other sessions; this one goes on, and an account that was waiting for a new password
    /// (`must_change_password`) starts syncing.
    pub async fn change_password(
        &self,
        account: &str,
        current: &str,
        new: &str,
        again: &str,
    ) -> Result<(), EngineError> {
        crate::team::check_new_password(current, new, again)?;
        self.online(account, |client, token| async move {
            client.change_password(&token, current, new).await
        })
        .await?;
        let handle = self.account(account)?;
        let was_waiting =
            std::mem::replace(&mut locked(&handle.record).must_change_password, false);
        if was_waiting {
            handle.set_sync(SyncState::Connecting);
            run_tasks(&handle);
        }
        self.save_records()
    }

    /// The tenant's agents (admins only).
    pub async fn agents(&self, account: &str) -> Result<Vec<AgentRecord>, EngineError> {
        self.online(account, |client, token| async move {
            client.agents(&token).await
        })
        .await
    }

    /// Adds an agent; the answer holds their one-time password (shown once, never kept).
    pub async fn add_agent(
        &self,
        account: &str,
        email: &str,
        role: &str,
        name: Option<&str>,
    ) -> Result<NewAgent, EngineError> {
        self.online(account, |client, token| async move {
            client.add_agent(&token, email.trim(), role, name).await
        })
        .await
    }

    /// Changes an agent's role, status or name. An admin who changes their own role
    /// sees the app follow (what the UI offers depends on it).
    pub async fn update_agent(
        &self,
        account: &str,
        agent: &str,
        change: &AgentChange,
    ) -> Result<AgentRecord, EngineError> {
        let updated = self
            .online(account, |client, token| async move {
                client.update_agent(&token, agent, change).await
            })
            .await?;
        let handle = self.account(account)?;
        let changed = {
            let mut record = locked(&handle.record);
            let mine = record.agent_id == updated.id && record.role != updated.role;
            if mine {
                record.role = updated.role.clone();
            }
            mine
        };
        if changed {
            self.save_records()?;
        }
        Ok(updated)
    }

    pub async fn remove_agent(&self, account: &str, agent: &str) -> Result<(), EngineError> {
        self.online(account, |client, token| async move {
            client.remove_agent(&token, agent).await
        })
        .await
    }

    pub async fn reset_agent_password(
        &self,
        account: &str,
        agent: &str,
    ) -> Result<TemporaryPassword, EngineError> {
        self.online(account, |client, token| async move {
            client.reset_password(&token, agent).await
        })
        .await
    }

    pub async fn agent_sessions(
        &self,
        account: &str,
        agent: &str,
    ) -> Result<Vec<SessionRecord>, EngineError> {
        self.online(account, |client, token| async move {
            client.agent_sessions(&token, agent).await
        })
        .await
    }

    pub async fn revoke_agent_session(
        &self,
        account: &str,
        agent: &str,
        session: &str,
    ) -> Result<(), EngineError> {
        self.online(account, |client, token| async move {
            client.revoke_session(&token, agent, session).await
        })
        .await
    }

    pub async fn bot_keys(&self, account: &str) -> Result<Vec<BotKeyRecord>, EngineError> {
        self.online(account, |client, token| async move {
            client.bot_keys(&token).await
        })
        .await
    }

    pub async fn create_bot_key(
        &self,
        account: &str,
        name: &str,
    ) -> Result<NewBotKey, EngineError> {
        self.online(account, |client, token| async move {
            client.create_bot_key(&token, name.trim()).await
        })
        .await
    }

    pub async fn rotate_bot_key(&self, account: &str, key: &str) -> Result<NewBotKey, EngineError> {
        self.online(account, |client, token| async move {
            client.rotate_bot_key(&token, key).await
        })
        .await
    }

    pub async fn revoke_bot_key(&self, account: &str, key: &str) -> Result<(), EngineError> {
        self.online(account, |client, token| async move {
            client.revoke_bot_key(&token, key).await
        })
        .await
    }

    /// The account's sync state now.
    pub fn sync_state(&self, account: &str) -> Result<SyncState, EngineError> {
        Ok(self.account(account)?.sync.borrow().clone())
    }

    /// The cache's cursor (how far the log is applied).
    pub fn cursor(&self, account: &str) -> Result<u64, EngineError> {
        Ok(self.account(account)?.cursor()?)
    }

    /// Stops every account's tasks (the app is closing).
    pub fn shutdown(&self) {
        for account in self.all() {
            account.stop();
        }
    }

    /// Where an account's files are (for tests and diagnostics).
    pub fn account_dir(&self, account: &str) -> PathBuf {
        account::account_dir(&self.shared.config.data_dir, account)
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.config.data_dir
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reaches_the_ui_as_one_flat_object() {
        let update = Update::AccountNotice(AccountNotice {
            id: 4,
            account: "acc_1".into(),
            tenant_name: "Acme".into(),
            agent_email: "bo@acme.test".into(),
            kind: NoticeKind::SignedOut {
                code: "access_removed".into(),
                message: "removed".into(),
                cache_removed: true,
            },
        });
        assert_eq!(
            serde_json::to_value(&update).ok(),
            Some(serde_json::json!({
                "type": "account_notice", "id": 4, "account": "acc_1", "tenant_name": "Acme",
                "agent_email": "bo@acme.test", "kind": "signed_out", "code": "access_removed",
                "message": "removed", "cache_removed": true,
            }))
        );
        assert_eq!(
            serde_json::to_value(Update::Reload {
                account: "acc_1".into()
            })
            .ok(),
            Some(serde_json::json!({"type": "reload", "account": "acc_1"}))
        );
    }
}
