//! The relay's HTTP server, as a library: [`Relay::open`] opens a data dir, [`run`] serves
//! a listener until `shutdown` fires, so tests bind port 0 and the binary binds the
//! configured address.

use crate::hub::Hub;
use crate::seal::{SealError, SealKey};
use crate::store::{PostgresStore, SqliteStore, Storage, StoreError};
use axum::Router;
use axum::serve::ListenerExt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

// The shared state and tunables live in `state.rs` (a leaf, so handlers need not name the
// server); they are re-exported here, where the relay's users have always found them.
pub use crate::state::{AppState, Settings};

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
        let listener: crate::store::CommitListener =
            Box::new(move |entries| publisher.publish(entries));
        let store: Arc<dyn Storage> = match &settings.database {
            Some(url) => Arc::new(PostgresStore::open(url, Some(listener))?),
            None => Arc::new(SqliteStore::open(
                &data_dir.join("relay.db"),
                Some(listener),
            )?),
        };
        Ok(Relay {
            state: Arc::new(AppState {
                store,
                key,
                hub,
                intake: crate::webhook::intake_cache::IntakeCache::default(),
                login: crate::auth::LoginGuard::default(),
                revocations: crate::revocation::Revocations::default(),
                graph: crate::graph::Graph::new(settings.graph.clone())?,
                media: crate::media_gate::MediaGate::default(),
                settings,
                data_dir: data_dir.to_owned(),
                runs_jobs: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// The routes the relay serves (the table is in `routes.rs`).
    pub fn router(&self) -> Router {
        crate::routes::routes().with_state(Arc::clone(&self.state))
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
