//! The desktop shell: Tauri set-up and thin commands, nothing else.
//!
//! A command converts its input, calls one function of `ventana-inbox` (or the pure
//! `ventana-protocol`), and converts the result. Errors reach the UI as
//! [`CommandError`] (`{code, message}`), never as bare strings (ARCHITECTURE.md,
//! invariant 2). Only this folder knows Tauri.

pub mod commands;
pub mod error;

pub use error::CommandError;

use std::sync::Arc;
use tauri::{Emitter, Manager};
use ventana_inbox::notify::DesktopNotifier;
use ventana_inbox::secrets::KeyringStore;
use ventana_inbox::{Engine, EngineConfig};

/// The keyring service every secret of the app is filed under.
const KEYRING_SERVICE: &str = "ventana";

/// Events the UI listens to.
pub const UPDATE_EVENT: &str = "engine-update";
pub const OPEN_EVENT: &str = "open-conversation";

/// Opens the engine in the app's data dir (`VENTANA_DATA_DIR` overrides it, for tests and
/// demos), with the OS keyring and desktop notifications whose clicks open the
/// conversation in the window. Called where tokio's runtime is entered (the engine spawns
/// its accounts' tasks on it).
fn open_engine(app: &tauri::AppHandle) -> Result<Engine, CommandError> {
    let data_dir = match std::env::var_os("VENTANA_DATA_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => app
            .path()
            .app_data_dir()
            .map_err(|e| CommandError::new("data_dir", format!("no data directory: {e}")))?,
    };
    let clicks = app.clone();
    let notifier = DesktopNotifier::new(move |request| {
        if let Some(window) = clicks.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.set_focus();
        }
        let _ = clicks.emit(OPEN_EVENT, &request);
    });
    Engine::open(
        EngineConfig::new(data_dir),
        Arc::new(KeyringStore::new(KEYRING_SERVICE)),
        Arc::new(notifier),
    )
    .map_err(CommandError::from)
}

/// Opens the engine off the window's thread, then hands it to the commands waiting in
/// [`commands::EngineState`] and pushes its updates to the window as they happen.
fn open_engine_in_background(handle: tauri::AppHandle) {
    // A blocking task: opening reads the keyring over D-Bus and the cache from disk, and
    // the runtime is entered there, so the engine's own tasks land on Tauri's runtime.
    tauri::async_runtime::spawn_blocking(move || {
        let engine = open_engine(&handle);
        handle.state::<commands::Startup>().engine_opened();
        if let Ok(engine) = &engine {
            let mut updates = engine.subscribe();
            let window = handle.clone();
            tauri::async_runtime::spawn(async move {
                loop {
                    match updates.recv().await {
                        Ok(update) => {
                            let _ = window.emit(UPDATE_EVENT, &update);
                        }
                        // Too far behind: tell the UI to reload what it shows.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ =
                                window.emit(UPDATE_EVENT, serde_json::json!({"type": "reload"}));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        handle.state::<commands::EngineState>().opened(engine);
    });
}

/// WebKitGTK keeps caches sized for a browser (decoded resources of pages visited, pages
/// kept for going back); the app is one page served from its own bundle, so the smallest
/// cache model and no back/forward cache cost nothing and spare the web process memory.
#[cfg(target_os = "linux")]
fn lighten_web_view(app: &tauri::App) {
    use webkit2gtk::{CacheModel, SettingsExt, WebContextExt, WebViewExt};
    let Some(window) = app.get_webview_window("main") else {
        return;
    };
    let applied = window.with_webview(|webview| {
        let view = webview.inner();
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_page_cache(false);
        }
    });
    if let Err(error) = applied {
        eprintln!("ventana: the web view's cache settings were not applied: {error}");
    }
}

#[cfg(not(target_os = "linux"))]
fn lighten_web_view(_app: &tauri::App) {}

/// Builds and runs the app until its last window closes.
pub fn run() {
    // The first thing `main` does: the start-up figure counts from here.
    let startup = commands::Startup::now();
    let app = tauri::Builder::default()
        .manage(startup)
        .manage(commands::EngineState::opening())
        .setup(|app| {
            // The window shows (and the UI loads) while the engine opens; the UI's first
            // commands wait for it.
            open_engine_in_background(app.handle().clone());
            lighten_web_view(app);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::startup_painted,
            commands::accounts,
            commands::sign_in,
            commands::sign_out,
            commands::set_muted,
            commands::sync_state,
            commands::reconnect,
            commands::inbox,
            commands::conversation,
            commands::messages,
            commands::notes,
            commands::mark_read,
            commands::search,
            commands::contact,
            commands::templates,
            commands::compose,
            commands::retry,
            commands::media,
            commands::update_conversation,
            commands::add_note,
            commands::erase_contact,
            commands::export_contact,
            commands::channels,
            commands::update_channel,
            commands::account_notices,
            commands::dismiss_notice,
            commands::change_password,
            commands::agents,
            commands::add_agent,
            commands::update_agent,
            commands::remove_agent,
            commands::reset_agent_password,
            commands::agent_sessions,
            commands::revoke_agent_session,
            commands::bot_keys,
            commands::create_bot_key,
            commands::rotate_bot_key,
            commands::revoke_bot_key,
        ])
        .run(tauri::generate_context!());
    if let Err(error) = app {
        // Nothing can be shown in a window that failed to open; stderr is all we have.
        eprintln!("ventana could not start: {error}");
        std::process::exit(1);
    }
}
