//! What every request handler shares ([`AppState`]: the store, the key, the live hub, the
//! caches and gates) and the relay's tunables ([`Settings`]). A leaf: it names no handler,
//! so any handler can take it and none has to import the server.

use crate::hub::Hub;
use crate::seal::SealKey;
use crate::store::Storage;
use std::sync::Arc;
use std::time::Duration;

/// Tunables, with production defaults; tests shorten the timers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the stream sends a heartbeat to an idle client.
    pub heartbeat: Duration,
    /// How long one frame may wait for a client before it is judged too slow and dropped.
    pub send_timeout: Duration,
    /// Live events buffered per tenant before a slow subscriber falls back to the log.
    pub live_buffer: usize,
    /// Where the Graph API is (metasim's address in tests) and which version to call.
    pub graph: crate::graph::GraphConfig,
    pub replies: ReplySettings,
    /// How often time-based rules (waiting customers, closing windows, snoozes) are checked.
    pub sweep_every: Duration,
    /// How often WhatsApp templates are re-synced from Meta.
    pub templates_every: Duration,
    /// The relay's public base URL (for the data-deletion status link); without it the
    /// request's `Host` is used.
    pub public_url: Option<String>,
    /// How long sessions and their tokens live.
    pub sessions: crate::auth::SessionPolicy,
    /// How often an open stream re-reads its session (catches revocations made by the CLI
    /// or another node; this process's own are announced at once).
    pub session_check: Duration,
    /// Behind a reverse proxy: take the client's address from `X-Forwarded-For`.
    pub trusted_proxy: bool,
    /// The shared PostgreSQL database's URL; `None` for the embedded SQLite store.
    pub database: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            live_buffer: 4096,
            graph: crate::graph::GraphConfig::default(),
            replies: ReplySettings::default(),
            sweep_every: Duration::from_secs(30),
            templates_every: Duration::from_secs(3600),
            public_url: None,
            sessions: crate::auth::SessionPolicy::default(),
            session_check: Duration::from_secs(5),
            trusted_proxy: false,
            database: None,
        }
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub key: SealKey,
    pub hub: Arc<Hub>,
    pub intake: crate::webhook::intake_cache::IntakeCache,
    pub login: crate::auth::LoginGuard,
    pub revocations: crate::revocation::Revocations,
    pub graph: crate::graph::Graph,
    pub media: crate::media_gate::MediaGate,
    pub settings: Settings,
    /// The data dir (its key, the erasure ledger's file, the embedded database).
    pub data_dir: std::path::PathBuf,
    /// Whether this node ran the periodic jobs at its last check (the sweeper's), shown by
    /// `/readyz` so an operator can see which node of several runs them.
    pub runs_jobs: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// Retry and waiting tunables (tests shorten them).
#[derive(Debug, Clone)]
pub struct ReplySettings {
    /// The first backoff after a rate limit; doubles each attempt (×4 for 131056).
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Attempts before a retryable failure is reported as final.
    pub max_attempts: u32,
    /// How long `POST …/replies` waits for the outcome before answering 202.
    pub wait: Duration,
}

impl Default for ReplySettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
            max_attempts: 6,
            wait: Duration::from_secs(10),
        }
    }
}
