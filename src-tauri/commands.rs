//! The commands the UI may invoke. Each one converts, delegates to the engine
//! (`ventana_inbox::Engine`) and converts back; errors leave as `{code, message}`.
//!
//! Commands are `async` so Tauri runs them on its runtime, never on the window's thread.

use crate::error::CommandError;
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{Manager, State};
use ventana_inbox::engine::{AccountView, InboxRow, SearchRow};
use ventana_inbox::export::{ExportProgress, SavedExport};
use ventana_inbox::query::{
    ContactProfile, ConversationSummary, InboxCursor, InboxFilter, InboxPage, MessageView, NoteView,
};
use ventana_inbox::sync::SyncState;
use ventana_inbox::team::{
    AgentChange, AgentRecord, BotKeyRecord, NewAgent, NewBotKey, SessionRecord, TemporaryPassword,
};
use ventana_inbox::{AccountNotice, Engine};
use ventana_protocol::api::{
    ChannelPatch, ChannelView, Draft, ERASE_WORD, ErasureReceipt, Recorded, TemplateInfo,
    WorkflowChange,
};

/// The engine once it is open, or why it could not open (then every command answers
/// that). The window opens first and the engine in the background (its keyring calls, cache
/// connections and start-up purge took 400 ms the window used to wait for): a command
/// called before the engine is open waits for it, and never fails for being early.
pub struct EngineState(tokio::sync::SetOnce<Result<Engine, CommandError>>);

impl EngineState {
    /// Not open yet.
    pub fn opening() -> Self {
        Self(tokio::sync::SetOnce::new())
    }

    /// The engine opened, or could not: the commands waiting go on with it.
    pub fn opened(&self, engine: Result<Engine, CommandError>) {
        // Set once, by the one task that opens it; a second value would be a bug, dropped.
        let _ = self.0.set(engine);
    }
}

impl std::fmt::Debug for EngineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0.get() {
            None => "opening",
            Some(Ok(_)) => "open",
            Some(Err(_)) => "failed",
        };
        f.debug_tuple("EngineState").field(&state).finish()
    }
}

type Answer<T> = Result<T, CommandError>;

/// The engine, once it is open (waiting for it if needed).
async fn engine<'a>(state: &'a State<'_, EngineState>) -> Answer<&'a Engine> {
    state.inner().0.wait().await.as_ref().map_err(Clone::clone)
}

/// What the UI shows about the running build, and the wire protocol it speaks.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppInfo {
    pub name: String,
    pub version: String,
    /// The relay protocol version this build speaks (see `ventana_protocol`).
    pub protocol: u32,
}

/// `app_info`: the app's name and version, from the package metadata Tauri embeds.
#[tauri::command]
pub fn app_info(app: tauri::AppHandle) -> AppInfo {
    let package = app.package_info();
    AppInfo {
        name: package.name.clone(),
        version: package.version.to_string(),
        protocol: ventana_protocol::PROTOCOL_VERSION,
    }
}

/// When the app started, when its engine was open, and whether the UI has said it painted
/// the inbox since.
#[derive(Debug)]
pub struct Startup {
    started: std::time::Instant,
    engine_opened: std::sync::OnceLock<std::time::Duration>,
    painted: std::sync::atomic::AtomicBool,
}

impl Startup {
    pub fn now() -> Self {
        Self {
            started: std::time::Instant::now(),
            engine_opened: std::sync::OnceLock::new(),
            painted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The engine is open (or failed to open).
    pub fn engine_opened(&self) {
        let _ = self.engine_opened.set(self.started.elapsed());
    }
}

/// `startup_painted`: the UI has painted the first inbox rows, `page_ms` after its page
/// began loading (`performance.now()`). Logged once, on stderr, as `startup: inbox painted
/// <ms> ms after main (…)` with when the engine was open and the page began (the app
/// benchmark reads it; README, Performance).
#[tauri::command]
pub fn startup_painted(startup: State<'_, Startup>, page_ms: f64) {
    if !startup
        .painted
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        let ms = startup.started.elapsed().as_secs_f64() * 1000.0;
        let engine = startup
            .engine_opened
            .get()
            .map_or(f64::NAN, |at| at.as_secs_f64() * 1000.0);
        eprintln!(
            "startup: inbox painted {ms:.1} ms after main (engine open at {engine:.1} ms, \
             page began at {:.1} ms)",
            ms - page_ms
        );
    }
}

#[tauri::command]
pub async fn accounts(state: State<'_, EngineState>) -> Answer<Vec<AccountView>> {
    Ok(engine(&state).await?.accounts())
}

#[tauri::command]
pub async fn sign_in(
    state: State<'_, EngineState>,
    relay_url: String,
    email: String,
    password: String,
    tenant: Option<String>,
) -> Answer<AccountView> {
    Ok(engine(&state)
        .await?
        .sign_in(&relay_url, &email, &password, tenant.as_deref())
        .await?)
}

#[tauri::command]
pub async fn sign_out(
    state: State<'_, EngineState>,
    account: String,
    remove_cache: bool,
) -> Answer<()> {
    Ok(engine(&state)
        .await?
        .sign_out(&account, remove_cache)
        .await?)
}

#[tauri::command]
pub async fn set_muted(state: State<'_, EngineState>, account: String, muted: bool) -> Answer<()> {
    Ok(engine(&state).await?.set_muted(&account, muted)?)
}

#[tauri::command]
pub async fn sync_state(state: State<'_, EngineState>, account: String) -> Answer<SyncState> {
    Ok(engine(&state).await?.sync_state(&account)?)
}

#[tauri::command]
pub async fn reconnect(state: State<'_, EngineState>) -> Answer<()> {
    engine(&state).await?.reconnect();
    Ok(())
}

#[tauri::command]
pub async fn inbox(
    state: State<'_, EngineState>,
    account: Option<String>,
    filter: Option<InboxFilter>,
    after: Option<InboxCursor>,
    before: Option<InboxCursor>,
    limit: Option<usize>,
) -> Answer<Vec<InboxRow>> {
    Ok(engine(&state).await?.inbox_page(
        account.as_deref(),
        &filter.unwrap_or_default(),
        InboxPage::from_cursors(after.as_ref(), before.as_ref()),
        limit.unwrap_or(100).clamp(1, 500),
    )?)
}

#[tauri::command]
pub async fn conversation(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
) -> Answer<Option<ConversationSummary>> {
    Ok(engine(&state)
        .await?
        .conversation(&account, &conversation)?)
}

#[tauri::command]
pub async fn messages(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
    before: Option<i64>,
    limit: Option<usize>,
) -> Answer<Vec<MessageView>> {
    Ok(engine(&state).await?.messages(
        &account,
        &conversation,
        before,
        limit.unwrap_or(50).clamp(1, 500),
    )?)
}

#[tauri::command]
pub async fn notes(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
) -> Answer<Vec<NoteView>> {
    Ok(engine(&state).await?.notes(&account, &conversation)?)
}

#[tauri::command]
pub async fn mark_read(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
) -> Answer<()> {
    Ok(engine(&state).await?.mark_read(&account, &conversation)?)
}

#[tauri::command]
pub async fn search(
    state: State<'_, EngineState>,
    query: String,
    limit: Option<usize>,
) -> Answer<Vec<SearchRow>> {
    Ok(engine(&state)
        .await?
        .search(&query, limit.unwrap_or(50).clamp(1, 200))?)
}

#[tauri::command]
pub async fn contact(
    state: State<'_, EngineState>,
    account: String,
    contact: String,
) -> Answer<Option<ContactProfile>> {
    Ok(engine(&state).await?.contact(&account, &contact)?)
}

#[tauri::command]
pub async fn templates(
    state: State<'_, EngineState>,
    account: String,
    channel: String,
) -> Answer<Vec<TemplateInfo>> {
    Ok(engine(&state).await?.templates(&account, &channel)?)
}

/// What `compose` answers: the queued reply's key and the message's id in the cache.
#[tauri::command]
pub async fn compose(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
    draft: Draft,
) -> Answer<ventana_inbox::outbox::Queued> {
    Ok(engine(&state)
        .await?
        .compose(&account, &conversation, &draft)?)
}

#[tauri::command]
pub async fn retry(state: State<'_, EngineState>, account: String, key: String) -> Answer<()> {
    Ok(engine(&state).await?.retry(&account, &key)?)
}

/// An attachment's bytes go to the UI as raw IPC bytes (no base64); its type is the one the
/// message names.
#[tauri::command]
pub async fn media(
    state: State<'_, EngineState>,
    account: String,
    media_id: String,
) -> Answer<tauri::ipc::Response> {
    let download = engine(&state).await?.media(&account, &media_id).await?;
    Ok(tauri::ipc::Response::new(download.bytes))
}

#[tauri::command]
pub async fn update_conversation(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
    change: WorkflowChange,
) -> Answer<Recorded> {
    Ok(engine(&state)
        .await?
        .update_conversation(&account, &conversation, &change)
        .await?)
}

#[tauri::command]
pub async fn add_note(
    state: State<'_, EngineState>,
    account: String,
    conversation: String,
    text: String,
) -> Answer<Recorded> {
    Ok(engine(&state)
        .await?
        .add_note(&account, &conversation, &text)
        .await?)
}

#[tauri::command]
pub async fn erase_contact(
    state: State<'_, EngineState>,
    account: String,
    contact: String,
    confirm: String,
) -> Answer<ErasureReceipt> {
    // The typed confirmation is checked here too, so no path reaches the relay without it.
    if confirm != ERASE_WORD {
        return Err(CommandError::new(
            "confirmation_required",
            format!("Erasure cannot be undone: type {ERASE_WORD} to confirm."),
        ));
    }
    Ok(engine(&state)
        .await?
        .erase_contact(&account, &contact)
        .await?)
}

/// Where exports are saved: `VENTANA_EXPORT_DIR` when set (a fixed place an admin or a
/// test chooses), else the user's Downloads folder, else their home.
fn export_dir(app: &tauri::AppHandle) -> Answer<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("VENTANA_EXPORT_DIR") {
        return Ok(dir.into());
    }
    let paths = app.path();
    paths
        .download_dir()
        .or_else(|_| paths.home_dir())
        .map_err(|e| {
            CommandError::new(
                "export_file",
                format!("no folder to save the export in: {e}"),
            )
        })
}

/// Saves a contact's data export (a zip) and answers where; progress goes to `progress`
/// as the bytes arrive.
#[tauri::command]
pub async fn export_contact(
    app: tauri::AppHandle,
    state: State<'_, EngineState>,
    account: String,
    contact: String,
    progress: Channel<ExportProgress>,
) -> Answer<SavedExport> {
    let dir = export_dir(&app)?;
    Ok(engine(&state)
        .await?
        .export_contact(&account, &contact, &dir, |step| {
            // A closed window stops listening; the export still completes.
            let _ = progress.send(step);
        })
        .await?)
}

#[tauri::command]
pub async fn channels(state: State<'_, EngineState>, account: String) -> Answer<Vec<ChannelView>> {
    Ok(engine(&state).await?.channels(&account).await?)
}

#[tauri::command]
pub async fn update_channel(
    state: State<'_, EngineState>,
    account: String,
    channel: String,
    change: ChannelPatch,
) -> Answer<ChannelView> {
    Ok(engine(&state)
        .await?
        .update_channel(&account, &channel, &change)
        .await?)
}

#[tauri::command]
pub async fn account_notices(state: State<'_, EngineState>) -> Answer<Vec<AccountNotice>> {
    Ok(engine(&state).await?.account_notices())
}

#[tauri::command]
pub async fn dismiss_notice(state: State<'_, EngineState>, id: u64) -> Answer<()> {
    engine(&state).await?.dismiss_notice(id);
    Ok(())
}

#[tauri::command]
pub async fn change_password(
    state: State<'_, EngineState>,
    account: String,
    current: String,
    new: String,
    again: String,
) -> Answer<()> {
    Ok(engine(&state)
        .await?
        .change_password(&account, &current, &new, &again)
        .await?)
}

#[tauri::command]
pub async fn agents(state: State<'_, EngineState>, account: String) -> Answer<Vec<AgentRecord>> {
    Ok(engine(&state).await?.agents(&account).await?)
}

#[tauri::command]
pub async fn add_agent(
    state: State<'_, EngineState>,
    account: String,
    email: String,
    role: String,
    name: Option<String>,
) -> Answer<NewAgent> {
    Ok(engine(&state)
        .await?
        .add_agent(&account, &email, &role, name.as_deref())
        .await?)
}

#[tauri::command]
pub async fn update_agent(
    state: State<'_, EngineState>,
    account: String,
    agent: String,
    change: AgentChange,
) -> Answer<AgentRecord> {
    Ok(engine(&state)
        .await?
        .update_agent(&account, &agent, &change)
        .await?)
}

#[tauri::command]
pub async fn remove_agent(
    state: State<'_, EngineState>,
    account: String,
    agent: String,
) -> Answer<()> {
    Ok(engine(&state).await?.remove_agent(&account, &agent).await?)
}

#[tauri::command]
pub async fn reset_agent_password(
    state: State<'_, EngineState>,
    account: String,
    agent: String,
) -> Answer<TemporaryPassword> {
    Ok(engine(&state)
        .await?
        .reset_agent_password(&account, &agent)
        .await?)
}

#[tauri::command]
pub async fn agent_sessions(
    state: State<'_, EngineState>,
    account: String,
    agent: String,
) -> Answer<Vec<SessionRecord>> {
    Ok(engine(&state)
        .await?
        .agent_sessions(&account, &agent)
        .await?)
}

#[tauri::command]
pub async fn revoke_agent_session(
    state: State<'_, EngineState>,
    account: String,
    agent: String,
    session: String,
) -> Answer<()> {
    Ok(engine(&state)
        .await?
        .revoke_agent_session(&account, &agent, &session)
        .await?)
}

#[tauri::command]
pub async fn bot_keys(state: State<'_, EngineState>, account: String) -> Answer<Vec<BotKeyRecord>> {
    Ok(engine(&state).await?.bot_keys(&account).await?)
}

#[tauri::command]
pub async fn create_bot_key(
    state: State<'_, EngineState>,
    account: String,
    name: String,
) -> Answer<NewBotKey> {
    Ok(engine(&state)
        .await?
        .create_bot_key(&account, &name)
        .await?)
}

#[tauri::command]
pub async fn rotate_bot_key(
    state: State<'_, EngineState>,
    account: String,
    key: String,
) -> Answer<NewBotKey> {
    Ok(engine(&state).await?.rotate_bot_key(&account, &key).await?)
}

#[tauri::command]
pub async fn revoke_bot_key(
    state: State<'_, EngineState>,
    account: String,
    key: String,
) -> Answer<()> {
    Ok(engine(&state).await?.revoke_bot_key(&account, &key).await?)
}
