//! A live subscriber that falls behind the relay's live buffer is served from the log and
//! still receives every event once, in order (the relay in-process, with a tiny buffer).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_behind_the_live_buffer_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let relay = {
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let settings = Settings {
                live_buffer: 16,
                ..Settings::default()
            };
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
    let mut request = format!("{}/v1/stream", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", login["access_token"].as_str().unwrap());
    request
        .headers_mut()
        .insert("Authorization", bearer.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // 300 events arrive concurrently (many per commit) while the client reads nothing,
    // far more than the 16 the live buffer holds.
    let client = reqwest::Client::new();
    let posts: Vec<_> = (0..300)
        .map(|i| {
            let payload = body(i);
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
