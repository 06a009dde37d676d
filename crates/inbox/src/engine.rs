//! The engine: the desktop's accounts, each with its encrypted cache, its sync and its
//! outbox, behind one API the shell calls. Reads go to the cache (they work offline);
//! commands that need the relay say so clearly when it can't be reached.

use crate::account::{self, AccountRecord};
use crate::apply::{self, Applied, ApplyError, LogEntry};
use crate::cache::{Cache, CacheError, CacheKey};
use crate::client::{ChannelInfo, ClientError, Download, Draft, RelayClient, TemplateInfo};
use crate::media::{MediaKey, MediaStore};
use crate::notify::{Notice, NoticeContext, Notifier, notice_for};
use crate::outbox;
use crate::query::{self, ConversationSummary, InboxCursor, InboxFilter, SearchHit};
use crate::secrets::{Secret, SecretKind, SecretStore};
use crate::session::{Session, SessionError};
use crate::sync::{self, SyncState};
use chrono::Utc;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast, watch};
use ventana_protocol::Event;
use ventana_protocol::ids::AgentId;

/// An error as the UI receives it: a stable code to branch on and a sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub code: String,
    pub message: String,
}

impl EngineError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl From<CacheError> for EngineError {
    fn from(error: CacheError) -> Self {
        let code = match error {
            CacheError::WrongKey => "cache_key_mismatch",
            CacheError::Schema(_) => "cache_too_new",
            CacheError::Sqlite(_) => "cache_error",
        };
        Self::new(code, error.to_string())
    }
}

impl From<ClientError> for EngineError {
    fn from(error: ClientError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}

impl From<SessionError> for EngineError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::SignedOut(reason) => Self::new(
                "signed_out",
                format!("This account was signed out ({reason}). Sign in again."),
            ),
            SessionError::Client(error) => error.into(),
            SessionError::Keyring(reason) => Self::new("keyring_unavailable", reason),
        }
    }
}

impl From<crate::secrets::SecretError> for EngineError {
    fn from(error: crate::secrets::SecretError) -> Self {
        Self::new("keyring_unavailable", error.to_string())
    }
}

impl From<crate::media::MediaError> for EngineError {
    fn from(error: crate::media::MediaError) -> Self {
        Self::new("media_error", error.to_string())
    }
}

impl From<outbox::OutboxError> for EngineError {
    fn from(error: outbox::OutboxError) -> Self {
        let code = match error {
            outbox::OutboxError::UnknownConversation(_) => "not_found",
            outbox::OutboxError::NotRetryable(_) => "not_retryable",
            outbox::OutboxError::Empty => "empty_reply",
            outbox::OutboxError::Cache(_) => "cache_error",
            outbox::OutboxError::Place(_) => "conversation_full",
        };
        Self::new(code, error.to_string())
    }
}

impl From<crate::account::AccountsFileError> for EngineError {
    fn from(error: crate::account::AccountsFileError) -> Self {
        Self::new("accounts_file", error.to_string())
    }
}

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
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            media_retention: chrono::TimeDelta::days(30),
            sync_batch: sync::MAX_BATCH,
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
    pub(crate) reconnect_now: Notify,
    pub(crate) sync_batch: usize,
    stop: watch::Sender<bool>,
    updates: broadcast::Sender<Update>,
    notifier: Arc<dyn Notifier>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves SQLite consistent (the transaction rolls
    // back), so the poison flag carries no information here.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Account {
    pub(crate) fn id(&self) -> String {
        locked(&self.record).id.clone()
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn set_sync(&self, state: SyncState) {
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

    pub(crate) fn wake_outbox(&self) {
        if let Err(error) = outbox::wake(locked(&self.writer).connection(), Utc::now()) {
            tracing::warn!(%error, "could not wake the outbox");
        }
        self.outbox_wake.notify_one();
    }

    pub(crate) fn cursor(&self) -> Result<u64, CacheError> {
        apply::cursor(&locked(&self.writer))
    }

    /// Applies a batch, then does what follows from it: notifications, released media,
    /// a WAL checkpoint after an erasure, and telling the UI.
    pub(crate) fn apply(&self, entries: &[LogEntry], live: bool) -> Result<Applied, ApplyError> {
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
            let (assignee, contact_name) = locked(&self.reader)
                .connection()
                .query_row(
                    "SELECT c.assignee, ct.name FROM conversations c
                     JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?1",
                    [conversation.as_str()],
                    |row| {
                        Ok((
                            row.get::<_, Option<String>>(0)?,
                            row.get::<_, Option<String>>(1)?,
                        ))
                    },
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

    pub(crate) fn store_channels(
        &self,
        channels: &[ChannelInfo],
        templates: &[(String, Vec<TemplateInfo>)],
    ) -> Result<(), CacheError> {
        let mut writer = locked(&self.writer);
        let tx = writer.connection_mut().transaction()?;
        for channel in channels {
            let connection = match &channel.needs_reconnection {
                Some(reason) => {
                    serde_json::json!({"state": "needs_reconnection", "reason": reason})
                }
                None => serde_json::json!({"state": "connected"}),
            };
            tx.execute(
                "INSERT INTO channels (id, kind, display_name, connection, human_agent_approved, settings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,
                     display_name = excluded.display_name, connection = excluded.connection,
                     human_agent_approved = excluded.human_agent_approved,
                     settings = excluded.settings",
                params![
                    channel.id,
                    channel.kind.as_str(),
                    channel.display_name,
                    connection.to_string(),
                    channel.human_agent_approved,
                    serde_json::to_string(&channel.settings).unwrap_or_default(),
                ],
            )?;
        }
        for (channel, list) in templates {
            tx.execute("DELETE FROM templates WHERE channel_id = ?1", [channel])?;
            for template in list {
                tx.execute(
                    "INSERT OR REPLACE INTO templates (channel_id, name, language, category, body, parameter_count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        channel,
                        template.name,
                        template.language,
                        template.category,
                        template.body,
                        template.parameters as i64
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// The outbox sender: hands due replies to the relay, one at a time, oldest first.
async fn send_outbox(account: Arc<Account>, mut stop: watch::Receiver<bool>) {
    loop {
        let jobs =
            outbox::due(locked(&account.writer).connection(), Utc::now()).unwrap_or_default();
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
        let next = outbox::next_due(locked(&account.writer).connection())
            .ok()
            .flatten()
            .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(std::time::Duration::from_secs(300));
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

/// The desktop engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    secrets: Arc<dyn SecretStore>,
    notifier: Arc<dyn Notifier>,
    accounts: Mutex<BTreeMap<String, Arc<Account>>>,
    /// Accounts on file whose cache could not be opened, with why.
    broken: Mutex<BTreeMap<String, EngineError>>,
    updates: broadcast::Sender<Update>,
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
            config,
            secrets,
            notifier,
            accounts: Mutex::new(BTreeMap::new()),
            broken: Mutex::new(BTreeMap::new()),
            updates,
        };
        for record in account::load(&engine.config.data_dir)? {
            let id = record.id.clone();
            match engine.start(record) {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(account = %id, %error, "an account could not be opened");
                    locked(&engine.broken).insert(id, error);
                }
            }
        }
        Ok(engine)
    }

    /// Updates as they happen (sync state, changed conversations, notices).
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// Accounts whose cache could not be opened, with why.
    pub fn problems(&self) -> Vec<(String, EngineError)> {
        locked(&self.broken)
            .iter()
            .map(|(id, error)| (id.clone(), error.clone()))
            .collect()
    }

    fn key(&self, account: &str, kind: SecretKind) -> Result<[u8; 32], EngineError> {
        if let Some(key) = self.secrets.get(account, kind)? {
            return key.to_key_bytes().ok_or_else(|| {
                EngineError::new(
                    "keyring_damaged",
                    "a key in the keyring is not a 256-bit key",
                )
            });
        }
        let key = Secret::random_key()?;
        self.secrets.set(account, kind, &key)?;
        key.to_key_bytes()
            .ok_or_else(|| EngineError::new("keyring_damaged", "a fresh key could not be made"))
    }

    /// Opens the account's cache and media store and starts its tasks.
    fn start(&self, record: AccountRecord) -> Result<(), EngineError> {
        let dir = account::account_dir(&self.config.data_dir, &record.id);
        std::fs::create_dir_all(&dir).map_err(|e| {
            EngineError::new(
                "data_dir",
                format!("{} cannot be created: {e}", dir.display()),
            )
        })?;
        // A cache whose key is gone cannot be read by anyone: say so, don't make a new key.
        let cache_key = match self.secrets.get(&record.id, SecretKind::CacheKey)? {
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
        let media = MediaStore::open(&dir.join("media"), MediaKey::from_bytes(media_key))?;
        let cutoff = Utc::now() - self.config.media_retention;
        if let Err(error) = media.purge_older_than(cutoff.into()) {
            tracing::warn!(%error, "old attachments could not be purged");
        }
        let client = RelayClient::new(&record.relay_url)?;
        let (stop, _) = watch::channel(false);
        let signed_in = record.signed_in;
        let initial = if signed_in {
            SyncState::Connecting
        } else {
            SyncState::SignedOut {
                reason: "signed out".into(),
            }
        };
        let account = Arc::new(Account {
            session: Session::new(&record.id, client, Arc::clone(&self.secrets)),
            record: Mutex::new(record.clone()),
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            media,
            sync: watch::channel(initial).0,
            outbox_wake: Notify::new(),
            reconnect_now: Notify::new(),
            sync_batch: self.config.sync_batch.max(1),
            stop,
            updates: self.updates.clone(),
            notifier: Arc::clone(&self.notifier),
        });
        if signed_in {
            tokio::spawn(sync::run(Arc::clone(&account), account.stop.subscribe()));
            tokio::spawn(send_outbox(Arc::clone(&account), account.stop.subscribe()));
        }
        if let Some(previous) = locked(&self.accounts).insert(record.id.clone(), account) {
            previous.stop();
        }
        locked(&self.broken).remove(&record.id);
        Ok(())
    }

    fn account(&self, id: &str) -> Result<Arc<Account>, EngineError> {
        locked(&self.accounts)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::new("unknown_account", format!("there is no account {id}")))
    }

    fn all(&self) -> Vec<Arc<Account>> {
        locked(&self.accounts).values().cloned().collect()
    }

    fn save_records(&self) -> Result<(), EngineError> {
        let records: Vec<AccountRecord> = self
            .all()
            .iter()
            .map(|account| locked(&account.record).clone())
            .collect();
        account::save(&self.config.data_dir, &records)?;
        let _ = self.updates.send(Update::Accounts);
        Ok(())
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
        self.secrets.set(
            &id,
            SecretKind::RefreshToken,
            &Secret::new(session.refresh_token.clone()),
        )?;
        let muted = locked(&self.accounts)
            .get(&id)
            .map(|account| locked(&account.record).muted)
            .unwrap_or(false);
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
        };
        if let Err(error) = self.start(record) {
            let _ = self.secrets.delete(&id, SecretKind::RefreshToken);
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
        self.secrets.delete(id, SecretKind::RefreshToken)?;
        if remove_cache {
            locked(&self.accounts).remove(id);
            drop(account);
            self.secrets.delete(id, SecretKind::CacheKey)?;
            self.secrets.delete(id, SecretKind::MediaKey)?;
            let dir = account::account_dir(&self.config.data_dir, id);
            // The connections close when the last task lets go of the account.
            for _ in 0..50 {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => break,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            }
        } else {
            locked(&account.record).signed_in = false;
            account.set_sync(SyncState::SignedOut {
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
        let now = Utc::now();
        let mut rows = Vec::new();
        for handle in self.all() {
            let record = locked(&handle.record).clone();
            if account.is_some_and(|wanted| wanted != record.id) {
                continue;
            }
            let page = query::inbox(
                locked(&handle.reader).connection(),
                filter,
                &record.agent_id,
                after,
                limit,
                now,
            )?;
            rows.extend(page.into_iter().map(|conversation| InboxRow {
                account: record.id.clone(),
                conversation,
            }));
        }
        rows.sort_by(|a, b| {
            (&b.conversation.last_activity_at, &b.conversation.id)
                .cmp(&(&a.conversation.last_activity_at, &a.conversation.id))
        });
        rows.truncate(limit);
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
        let mut statement = reader
            .connection()
            .prepare_cached(
                "SELECT name, language, category, parameter_count, body FROM templates
             WHERE channel_id = ?1 ORDER BY name, language",
            )
            .map_err(CacheError::from)?;
        let rows = statement
            .query_map([channel], |row| {
                Ok(TemplateInfo {
                    name: row.get(0)?,
                    language: row.get(1)?,
                    category: row.get(2)?,
                    parameters: row.get::<_, i64>(3)? as usize,
                    body: row.get(4)?,
                })
            })
            .map_err(CacheError::from)?;
        Ok(rows.collect::<Result<_, _>>().map_err(CacheError::from)?)
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
        let session = &handle.session;
        Ok(session
            .with_access(|token| call(session.client().clone(), token))
            .await?)
    }

    /// Changes a conversation's status, assignee or labels (needs the relay; the change
    /// arrives back as an event).
    pub async fn update_conversation(
        &self,
        account: &str,
        conversation: &str,
        change: &serde_json::Value,
    ) -> Result<serde_json::Value, EngineError> {
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
    ) -> Result<serde_json::Value, EngineError> {
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
    ) -> Result<serde_json::Value, EngineError> {
        self.online(account, |client, token| async move {
            client.erase_contact(&token, contact).await
        })
        .await
    }

    /// The relay's channels as they are now (admins see settings to edit).
    pub async fn channels(&self, account: &str) -> Result<Vec<ChannelInfo>, EngineError> {
        self.online(account, |client, token| async move {
            client.channels(&token).await
        })
        .await
    }

    pub async fn update_channel(
        &self,
        account: &str,
        channel: &str,
        change: &serde_json::Value,
    ) -> Result<serde_json::Value, EngineError> {
        self.online(account, |client, token| async move {
            client.update_channel(&token, channel, change).await
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
        account::account_dir(&self.config.data_dir, account)
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
