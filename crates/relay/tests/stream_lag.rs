//! Subscribers that fall behind, with the relay in-process and small limits: one behind
//! the live buffer is served from the log and still receives every event once, in order;
//! one that stops reading is disconnected (its memory is not allowed to grow) and, when it
//! reconnects from its last sequence, receives the rest exactly once.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ventana_metasim::signing::signature_header;
use ventana_relay::admin;
use ventana_relay::server::{Relay, Settings, run};
use ventana_relay::store::Role;

const PAGE: &str = "100000000000001";

fn body(i: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"page","entry":[{{"id":"{PAGE}","time":1,"messaging":[{{"sender":{{"id":"7001"}},"recipient":{{"id":"{PAGE}"}},"timestamp":1790000000000,"message":{{"mid":"m_lag_{i}","text":"n {i}"}}}}]}}]}}"#
    )
    .into_bytes()
}

/// Starts a relay with `settings`, one tenant, app "42" (secret "secret") on `PAGE`, and an
/// agent; returns the base URL and an access token.
async fn start(dir: &std::path::Path, settings: Settings) -> (String, String) {
    let relay = {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || {
            let relay = Relay::open(&dir, settings).unwrap();
            admin::add_tenant(&relay.state, "acme").unwrap();
            admin::add_meta_app(&relay.state, "42", "secret", None).unwrap();
            admin::add_channel(
                &relay.state,
                "acme",
                ventana_protocol::ChannelKind::Messenger,
                PAGE,
                "42",
                None,
                None,
            )
            .unwrap();
            admin::add_agent(
                &relay.state,
                "acme",
                "a@acme.test",
                Role::Agent,
                "long enough password",
            )
            .unwrap();
            relay
        })
        .await
        .unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(run(listener, relay, std::future::pending()));
    let login: Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"email": "a@acme.test", "password": "long enough password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (base, login["access_token"].as_str().unwrap().to_owned())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str, token: &str, after: u64) -> Socket {
    let url = format!("{}/v1/stream?after={after}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn post_all(base: &str, bodies: Vec<Vec<u8>>) {
    let client = reqwest::Client::new();
    let posts: Vec<_> = bodies
        .into_iter()
        .map(|payload| {
            client
                .post(format!("{base}/webhooks/meta/42"))
                .header("x-hub-signature-256", signature_header(b"secret", &payload))
                .body(payload)
                .send()
        })
        .collect();
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_behind_the_live_buffer_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        live_buffer: 16,
        ..Settings::default()
    };
    let (base, token) = start(dir.path(), settings).await;
    let mut socket = connect(&base, &token, 0).await;

    // 300 events arrive concurrently (many per commit) while the client reads nothing,
    // far more than the 16 the live buffer holds.
    post_all(&base, (0..300).map(body).collect()).await;

    let mut seqs = Vec::new();
    while seqs.len() < 300 {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "event" {
            seqs.push(frame["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_resumes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        send_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let (base, token) = start(dir.path(), settings).await;
    let mut stalled = connect(&base, &token, 0).await;

    // ~24 MB of events, far beyond what loopback socket buffers hold, while the client
    // reads nothing: the relay must give up on it rather than buffer without bound.
    let text = "x".repeat(200_000);
    let big = |i: usize| {
        format!(
            r#"{{"object":"page","entry":[{{"id":"{PAGE}","time":1,"messaging":[{{"sender":{{"id":"7001"}},"recipient":{{"id":"{PAGE}"}},"timestamp":1790000000000,"message":{{"mid":"m_big_{i}","text":"{text}"}}}}]}}]}}"#
        )
        .into_bytes()
    };
    post_all(&base, (0..120).map(big).collect()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // What the stalled client can still read ends before the last event: the relay hung up.
    let mut received = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(message)) = stalled.next().await {
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "event" {
                    received.push(frame["seq"].as_u64().unwrap());
                }
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the relay kept the stalled stream open");
    assert!(
        received.len() < 120,
        "a client that didn't read received everything"
    );
    assert_eq!(received, (1..=received.len() as u64).collect::<Vec<_>>());

    // Resuming from the last sequence it got, it receives the rest exactly once.
    let last = received.last().copied().unwrap_or(0);
    let mut resumed = connect(&base, &token, last).await;
    let mut rest = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        while rest.len() < 120 - received.len() {
            let Some(Ok(Message::Text(text))) = resumed.next().await else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "event" {
                rest.push(frame["seq"].as_u64().unwrap());
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "resumed with {} of {}",
        rest.len(),
        120 - received.len()
    );
    assert_eq!(rest, (last + 1..=120).collect::<Vec<_>>());
}
