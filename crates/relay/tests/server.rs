//! The relay as a real server on port 0, reached over real HTTP.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::test]
async fn serves_health_on_port_zero_and_shuts_down_gracefully() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(ventana_relay::server::run(listener, async {
        let _ = stopped.await;
    }));

    let response = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap_or_else(|e| panic!("GET /healthz: {e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap_or_default(), "ok");

    let _ = stop.send(());
    let finished = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "server did not stop cleanly: {finished:?}"
    );
}

#[test]
fn the_relay_accepts_what_metasim_signs_and_nothing_else() {
    let body = br#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}"#;
    let header = ventana_metasim::signing::signature_header(b"app secret", body);
    use ventana_relay::webhook::signature::{SignatureError, verify};
    assert_eq!(verify(b"app secret", body, Some(&header)), Ok(()));
    assert_eq!(
        verify(b"other secret", body, Some(&header)),
        Err(SignatureError::Mismatch)
    );
}
