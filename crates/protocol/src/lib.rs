//! What the relay and the desktop app share: ids, the event model and the reply-window
//! policy.
//!
//! This crate does no IO and never reads the clock: whoever needs a decision passes the
//! current time in (ARCHITECTURE.md, invariant 3). It knows nothing of Meta's wire
//! formats either; the relay translates Meta's payloads into these types.

pub mod api;
pub mod channel;
pub mod event;
pub mod ids;
pub mod settings;
pub mod window;

pub use channel::ChannelKind;
pub use event::{Event, EventBody};
pub use settings::ChannelSettings;
pub use window::{ReplyContext, ReplyMode, ReplyWindow, reply_window};

/// The version of the relay ↔ desktop protocol this build speaks. Bumped when a change is
/// not backwards compatible, so a relay can refuse a desktop it cannot serve.
pub const PROTOCOL_VERSION: u32 = 1;
