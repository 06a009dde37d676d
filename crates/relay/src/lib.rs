//! The relay: the only part of Ventana that talks to Meta.
//!
//! It verifies Meta's webhooks, stores them durably in a per-tenant event log, streams the
//! log to desktops and sends agents' replies through the Graph API. The server is a
//! library ([`server::run`]) so tests start it on port 0; `main.rs` adds the CLI.

pub mod server;
pub mod webhook;
