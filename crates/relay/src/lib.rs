//! The relay: the only part of Ventana that talks to Meta.
//!
//! It verifies Meta's webhooks, stores them durably in a per-tenant event log, streams the
//! log to desktops and (later) sends agents' replies through the Graph API. The server is a
//! library ([`server::Relay`], [`server::run`]) so tests start it on port 0; `main.rs`
//! adds the admin CLI, whose commands live in [`admin`].

pub mod accounts;
pub mod admin;
pub mod agents_api;
pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod caller;
pub mod channels;
pub mod conversations;
pub mod credentials;
pub mod deletion;
pub mod erasure;
pub mod error;
pub mod export;
pub mod graph;
pub mod hub;
pub mod ledger;
pub mod media;
pub mod media_fetch;
pub mod media_gate;
pub mod meta_error;
pub mod openapi;
pub mod portability;
pub mod public_address;
pub mod replies;
pub mod retention;
pub mod revocation;
pub mod routes;
pub mod rules;
pub mod seal;
pub mod server;
pub mod state;
pub mod store;
pub mod stream;
pub mod sweeper;
pub mod templates;
pub mod webhook;
pub mod workflow;
