//! The desktop shell: Tauri set-up and thin commands, nothing else.
//!
//! A command converts its input, calls one function of `ventana-inbox` (or the pure
//! `ventana-protocol`), and converts the result. Errors reach the UI as
//! [`CommandError`] (`{code, message}`), never as bare strings (ARCHITECTURE.md,
//! invariant 2). Only this folder knows Tauri.

pub mod commands;
pub mod error;

pub use error::CommandError;

/// Builds and runs the app until its last window closes.
pub fn run() {
    let app = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![commands::app_info])
        .run(tauri::generate_context!());
    if let Err(error) = app {
        // Nothing can be shown in a window that failed to open; stderr is all we have.
        eprintln!("ventana could not start: {error}");
        std::process::exit(1);
    }
}
