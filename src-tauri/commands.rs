//! The commands the UI may invoke. Each one converts, delegates and converts back.

use serde::Serialize;

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
