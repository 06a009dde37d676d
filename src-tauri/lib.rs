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
/// conversation in the window.
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
    let config = EngineConfig::new(data_dir);
    // The engine's tasks run on Tauri's tokio runtime.
    tauri::async_runtime::block_on(async {
        Engine::open(
            config,
            Arc::new(KeyringStore::new(KEYRING_SERVICE)),
            Arc::new(notifier),
        )
    })
    .map_err(CommandError::from)
}

/// Builds and runs the app until its last window closes.
pub fn run() {
    // The first thing `main` does: the start-up figure counts from here.
    let startup = commands::Startup::now();
    let app = tauri::Builder::default()
        .manage(startup)
        .setup(|app| {
            let handle = app.handle().clone();
            let engine = open_engine(&handle);
            app.state::<commands::Startup>().engine_opened();
            if let Ok(engine) = &engine {
                // Push the engine's updates to the window as they happen.
                let mut updates = engine.subscribe();
                tauri::async_runtime::spawn(async move {
                    loop {
                        match updates.recv().await {
                            Ok(update) => {
                                let _ = handle.emit(UPDATE_EVENT, &update);
                            }
                            // Too far behind: tell the UI to reload what it shows.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                let _ = handle
                                    .emit(UPDATE_EVENT, serde_json::json!({"type": "reload"}));
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        }
                    }
                });
            }
            app.manage::<commands::EngineState>(engine);
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
