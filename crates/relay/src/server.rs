//! The relay's HTTP server, as a library: [`Relay::open`] opens a data dir, [`run`] serves
//! a listener until `shutdown` fires, so tests bind port 0 and the binary binds the
//! configured address.

use crate::api;
use crate::seal::{SealError, SealKey};
use crate::store::{SqliteStore, Storage, StoreError};
use crate::stream::{self, Hub};
use crate::webhook::intake;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Webhook bodies up to this size are accepted (Meta's WhatsApp bodies reach 3 MB; a
/// smaller limit would truncate, fail the signature, and be retried for days).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Sign-in and refresh bodies: an email, a password, a token. Anyone can send these
/// unauthenticated, so they get no more room than they need.
pub const MAX_AUTH_BODY_BYTES: usize = 8 * 1024;
/// Meta's data-deletion callback: one form field holding a signed request of a few
/// hundred bytes.
pub const MAX_DELETION_BODY_BYTES: usize = 16 * 1024;

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
    pub replies: crate::replies::ReplySettings,
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            live_buffer: 4096,
            graph: crate::graph::GraphConfig::default(),
            replies: crate::replies::ReplySettings::default(),
            sweep_every: Duration::from_secs(30),
            templates_every: Duration::from_secs(3600),
            public_url: None,
            sessions: crate::auth::SessionPolicy::default(),
            session_check: Duration::from_secs(5),
            trusted_proxy: false,
        }
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub key: SealKey,
    pub hub: Arc<Hub>,
    pub intake: intake::IntakeCache,
    pub login: crate::auth::LoginGuard,
    pub revocations: crate::revocation::Revocations,
    pub graph: crate::graph::Graph,
    pub media: crate::media::MediaGate,
    pub settings: Settings,
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data dir {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("the relay's key: {0}")]
    Key(#[from] SealError),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("the HTTP client for the Graph API: {0}")]
    Http(#[from] reqwest::Error),
}

/// An opened relay: its store, key and live hub, ready to serve.
#[derive(Debug, Clone)]
pub struct Relay {
    pub state: Arc<AppState>,
}

impl Relay {
    /// Opens the relay whose data lives in `data_dir` (created if missing).
    pub fn open(data_dir: &Path, settings: Settings) -> Result<Relay, OpenError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| OpenError::DataDir(data_dir.display().to_string(), e))?;
        let key = SealKey::load_or_create(data_dir)?;
        let hub = Arc::new(Hub::new(settings.live_buffer));
        let publisher = Arc::clone(&hub);
        let store = SqliteStore::open(
            &data_dir.join("relay.db"),
            Some(Box::new(move |entries| publisher.publish(entries))),
        )?;
        Ok(Relay {
            state: Arc::new(AppState {
                store: Arc::new(store),
                key,
                hub,
                intake: intake::IntakeCache::default(),
                login: crate::auth::LoginGuard::default(),
                revocations: crate::revocation::Revocations::default(),
                graph: crate::graph::Graph::new(settings.graph.clone())?,
                media: crate::media::MediaGate::default(),
                settings,
            }),
        })
    }

    /// The routes the relay serves.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .merge(intake::routes())
            .merge(api::routes())
            .merge(crate::agents_api::routes())
            .merge(crate::conversations::routes())
            .merge(crate::channels::routes())
            .merge(crate::erasure::routes())
            .merge(crate::media::routes())
            .route("/v1/stream", get(stream::handler))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&self.state))
    }
}

/// Serves `relay` on `listener` until `shutdown` completes, then finishes in-flight
/// requests.
pub async fn run(
    listener: TcpListener,
    relay: Relay,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = relay.router();
    // Replies left queued by a stop go out now; ones caught mid-call are settled.
    if let Err(error) = crate::replies::resume(&relay.state).await {
        tracing::error!(%error, "cannot resume unfinished replies");
    }
    let sweeper = tokio::spawn(crate::sweeper::run(
        Arc::clone(&relay.state),
        relay.state.settings.sweep_every,
        relay.state.settings.templates_every,
    ));
    // Small writes (stream frames, webhook answers) must leave at once: with Nagle's
    // algorithm on, a frame can wait ~40 ms for the peer's delayed ACK.
    let listener = listener.tap_io(|connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    // Sign-in counts failures per source address, so handlers see the peer's address.
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    relay.state.hub.close();
    result
}

/// Liveness: answers while the server accepts requests.
async fn healthz() -> &'static str {
    "ok"
}
