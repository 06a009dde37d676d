//! The desktop engine: everything the app does that is not drawing.
//!
//! Encrypted cache, sync client, outbox, search, keyring and notifications live here so
//! they can be used and tested without a window; `src-tauri/` only wires them to commands.

pub mod account;
pub mod apply;
pub mod cache;
pub mod channels;
pub mod client;
pub mod content;
pub mod engine;
mod error;
pub mod export;
pub mod media;
pub mod notify;
pub mod outbox;
pub mod place;
pub mod query;
pub mod resync;
pub mod retention;
pub mod secrets;
mod session;
pub mod sync;
pub mod team;
mod time;

pub use engine::{AccountNotice, Engine, EngineConfig, EngineError, NoticeKind, Update};
pub use session::SignedOut;
