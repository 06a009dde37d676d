//! Intake benchmark: prints figures, asserts nothing (run with
//! `cargo bench -p ventana-relay --bench intake`).
//!
//! 1. Throughput: signed webhook POSTs sent with 64 in flight, of one event each and of 10
//!    events each (as Meta batches), against the relay (durably committed) and, side by
//!    side, against a bare hyper server that reads the body and answers 200 (the loopback
//!    ceiling on this machine with this client).
//! 2. Latency: 100 websocket clients follow the tenant's stream while webhooks arrive at
//!    1,000 events/s; the time from starting each POST to each client receiving the event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use futures_util::{StreamExt, stream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ventana_metasim::signing::signature_header;
use ventana_relay::admin;
use ventana_relay::server::{Relay, Settings, run};
use ventana_relay::store::Role;

const APP_ID: &str = "1234567890";
const SECRET: &str = "bench-secret";
const PAGE: &str = "100000000000001";
const EVENTS_PER_BODY: usize = 10;
const BODIES: usize = 6_000;
const IN_FLIGHT: usize = 64;
/// Websocket clients in the latency run (`VENTANA_BENCH_CLIENTS` overrides, for diagnosis).
const CLIENTS: usize = 100;
const LATENCY_EVENTS: usize = 5_000;

/// A Messenger body with `EVENTS_PER_BODY` messages whose mids start at `first`.
fn body(first: usize, per_body: usize) -> Vec<u8> {
    let messaging: Vec<String> = (first..first + per_body)
        .map(|i| {
            format!(
                r#"{{"sender":{{"id":"70000000{:08}"}},"recipient":{{"id":"{PAGE}"}},"timestamp":1790000000000,"message":{{"mid":"m_bench_{i}","text":"Hola, \u00bfme ayudan con el pedido {i}? \ud83d\ude4f"}}}}"#,
                i % 500
            )
        })
        .collect();
    format!(
        r#"{{"object":"page","entry":[{{"id":"{PAGE}","time":1790000000000,"messaging":[{}]}}]}}"#,
        messaging.join(",")
    )
    .into_bytes()
}

fn signed(bodies: Vec<Vec<u8>>) -> Vec<(Vec<u8>, String)> {
    bodies
        .into_iter()
        .map(|b| {
            let signature = signature_header(SECRET.as_bytes(), &b);
            (b, signature)
        })
        .collect()
}

/// Sends every request with `IN_FLIGHT` in flight; returns (elapsed, failures).
async fn blast(url: &str, requests: &[(Vec<u8>, String)]) -> (Duration, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .unwrap();
    let started = Instant::now();
    let failures = stream::iter(requests)
        .map(|(body, signature)| {
            let request = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body.clone());
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|status| std::future::ready(*status != 200))
        .count()
        .await;
    (started.elapsed(), failures)
}

async fn bare_hyper_server() -> String {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                        b"EVENT_RECEIVED",
                    ))))
                });
                let io = hyper_util::rt::TokioIo::new(socket);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    format!("http://{address}/webhooks/meta/{APP_ID}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::open(tmp.path(), Settings::default()).unwrap();
    let state = &relay.state;
    admin::add_tenant(state, "bench").unwrap();
    admin::add_meta_app(state, APP_ID, SECRET, None).unwrap();
    admin::add_channel(
        state,
        "bench",
        ventana_protocol::ChannelKind::Messenger,
        PAGE,
        APP_ID,
        None,
        None,
    )
    .unwrap();
    admin::add_agent(
        state,
        "bench",
        "bench@example.test",
        Role::Agent,
        "bench password",
    )
    .unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(run(listener, relay.clone(), std::future::pending()));
        let relay_url = format!("{base}/webhooks/meta/{APP_ID}");
        let ceiling_url = bare_hyper_server().await;

        // 1. Throughput, side by side: single-event bodies, then Meta-style batches of 10.
        let mut first_mid = 0;
        let mut committed_so_far = 0u64;
        for per_body in [1, EVENTS_PER_BODY] {
            let bodies = BODIES * EVENTS_PER_BODY / per_body / if per_body == 1 { 2 } else { 1 };
            let requests = signed(
                (0..bodies)
                    .map(|b| body(first_mid + b * per_body, per_body))
                    .collect(),
            );
            first_mid += bodies * per_body;
            let events = (bodies * per_body) as f64;
            let (ceiling, ceiling_failures) = blast(&ceiling_url, &requests).await;
            let (committed, failures) = blast(&relay_url, &requests).await;
            let head = {
                let store = Arc::clone(&relay.state.store);
                let tenant = store.find_tenant("bench").unwrap().unwrap().id;
                tokio::task::spawn_blocking(move || store.head(&tenant).unwrap()).await.unwrap()
            };
            assert_eq!(failures + ceiling_failures, 0, "some requests failed");
            assert_eq!((head - committed_so_far) as f64, events, "not every event was committed");
            committed_so_far = head;
            let posts_rate = bodies as f64 / committed.as_secs_f64();
            let ceiling_rate = bodies as f64 / ceiling.as_secs_f64();
            println!("throughput: {bodies} signed POSTs of {per_body} event(s), {IN_FLIGHT} in flight");
            println!("  relay, durably committed : {posts_rate:>8.0} POSTs/s = {:>7.0} events/s", posts_rate * per_body as f64);
            println!("  bare hyper, 200 only     : {ceiling_rate:>8.0} POSTs/s");
            println!("  relay / ceiling          : {:>8.0} %", 100.0 * posts_rate / ceiling_rate);
        }
        let head = committed_so_far;

        // 2. Latency to 100 live clients at 1,000 events/s.
        let login: serde_json::Value = reqwest::Client::new()
            .post(format!("{base}/v1/auth/login"))
            .json(&serde_json::json!({"email": "bench@example.test", "password": "bench password"}))
            .send().await.unwrap().json().await.unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let client_count = std::env::var("VENTANA_BENCH_CLIENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CLIENTS);
        let mut clients = Vec::new();
        for _ in 0..client_count {
            let url = format!("{}/v1/stream?after={head}", base.replacen("http", "ws", 1));
            let mut request = url.into_client_request().unwrap();
            request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let (sent_at, latencies) = (Arc::clone(&sent_at), Arc::clone(&latencies));
            clients.push(tokio::spawn(async move {
                let mut received = 0;
                while received < LATENCY_EVENTS {
                    let Some(Ok(message)) = socket.next().await else { break };
                    let now = Instant::now();
                    let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
                    // A substring, not a JSON parse: 100 clients share the relay's 2 cores,
                    // and the figure is the relay's latency, not the client's parser.
                    if !text.starts_with(r#"{"type":"event""#) {
                        continue;
                    }
                    received += 1;
                    let mid = text
                        .split(r#""message_id":""#)
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_default();
                    let started = sent_at.lock().unwrap().get(mid).copied();
                    if let Some(started) = started {
                        latencies.lock().unwrap().push(now - started);
                    }
                }
            }));
        }
        // 1,000 events/s as 100 bodies/s of 10 events.
        let client = reqwest::Client::new();
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        let first = first_mid;
        let mut posts = Vec::new();
        for b in 0..LATENCY_EVENTS / EVENTS_PER_BODY {
            ticker.tick().await;
            let start_mid = first + b * EVENTS_PER_BODY;
            let payload = body(start_mid, EVENTS_PER_BODY);
            let signature = signature_header(SECRET.as_bytes(), &payload);
            let now = Instant::now();
            {
                let mut sent = sent_at.lock().unwrap();
                for i in start_mid..start_mid + EVENTS_PER_BODY {
                    sent.insert(format!("m_bench_{i}"), now);
                }
            }
            let request = client.post(&relay_url).header("x-hub-signature-256", signature).body(payload);
            posts.push(tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }));
        }
        for post in posts {
            assert_eq!(post.await.unwrap(), 200);
        }
        for client in clients {
            tokio::time::timeout(Duration::from_secs(60), client).await.unwrap().unwrap();
        }
        let mut all = latencies.lock().unwrap().clone();
        all.sort();
        println!("latency, POST start -> event at a websocket client ({client_count} clients, 1000 events/s, {} deliveries)", all.len());
        for (name, p) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
            println!("  {name}: {:>8.2} ms", percentile(&all, p).as_secs_f64() * 1000.0);
        }
    });
}
