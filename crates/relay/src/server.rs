//! The relay's HTTP server, as a library: `run` serves a listener until `shutdown` fires,
//! so tests bind port 0 and the binary binds the configured address.

use axum::Router;
use axum::routing::get;
use std::future::Future;
use tokio::net::TcpListener;

/// The routes the relay serves.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

/// Serves `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Liveness: answers while the server accepts requests.
async fn healthz() -> &'static str {
    "ok"
}
