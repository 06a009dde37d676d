//! Intake benchmark: prints figures, asserts nothing but that every event was committed
//! (run with `cargo bench -p ventana-relay --bench intake`).
//!
//! The same signed webhook stream goes, in one run, to four deployments: the embedded
//! relay (SQLite), one node on PostgreSQL, three nodes on one PostgreSQL database (POSTs
//! and websocket clients spread round robin over the nodes), and a bare hyper server that
//! reads the body and answers 200 (the loopback ceiling on this machine with this client).
//!
//! 1. Throughput: signed webhook POSTs sent with 64 in flight, of one event each and of 10
//!    events each (as Meta batches); events durably committed per second.
//! 2. Latency: 100 websocket clients follow the tenant's stream while webhooks arrive at
//!    1,000 events/s; the time from starting each POST to each client receiving the event.
//!
//! 3. The same throughput requests to a plain webhook-to-SSE relay (`benches/sse-relay`,
//!    Node.js, built as smee.io's server is; that server is not on npm) with one
//!    subscriber: what a relay costs that verifies nothing and stores nothing.
//!
//! PostgreSQL comes from a private cluster in a temp dir (`ventana-pgtest`, fsync on);
//! `VENTANA_BENCH_ONLY=sqlite|pg1|pg3` runs one deployment (with the bare server).

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

/// A webhook body and its `X-Hub-Signature-256`.
type Signed = (Vec<u8>, String);

fn signed(bodies: Vec<Vec<u8>>) -> Vec<Signed> {
    bodies
        .into_iter()
        .map(|b| {
            let signature = signature_header(SECRET.as_bytes(), &b);
            (b, signature)
        })
        .collect()
}

/// Sends every request with `IN_FLIGHT` in flight, round robin over `urls`; returns
/// (elapsed, failures).
async fn blast(urls: &[String], requests: &[Signed]) -> (Duration, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .unwrap();
    let started = Instant::now();
    let failures = stream::iter(requests)
        .enumerate()
        .map(|(i, (body, signature))| {
            let request = client
                .post(&urls[i % urls.len()])
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

/// The plain webhook-to-SSE relay (`benches/sse-relay`, built as smee.io's server is)
/// with one subscriber following the channel, as a desktop would; returns POSTs per
/// second for each workload, after checking the subscriber got every POST.
async fn sse_relay_rates(workload: &[(usize, Vec<Signed>)]) -> Vec<(usize, f64)> {
    use tokio::io::AsyncBufReadExt;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sse-relay");
    if !dir.join("node_modules/.package-lock.json").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js 20 or newer) is needed for the SSE relay");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    let mut server = tokio::process::Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js 20 or newer) is needed for the SSE relay");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the SSE relay exited");
        if let Some(port) = line.strip_prefix("listening ") {
            break port.to_owned();
        }
    };
    let channel = format!("http://127.0.0.1:{port}/{APP_ID}");
    // One subscriber counting the events it is sent (after the `ready` one).
    let mut subscription = reqwest::Client::new()
        .get(&channel)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let subscriber = tokio::spawn(async move {
        let mut tail = Vec::new();
        while let Ok(Some(chunk)) = subscription.chunk().await {
            tail.extend_from_slice(&chunk);
            let mut events = 0;
            let mut start = 0;
            while let Some(at) = tail[start..].windows(2).position(|w| w == b"\n\n") {
                events += 1;
                start += at + 2;
            }
            tail.drain(..start);
            counter.fetch_add(events, std::sync::atomic::Ordering::Relaxed);
        }
    });
    while received.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut rates = Vec::new();
    let mut expected = 1;
    for (per_body, requests) in workload {
        let (elapsed, failures) = blast(std::slice::from_ref(&channel), requests).await;
        assert_eq!(failures, 0, "the SSE relay failed requests");
        expected += requests.len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while received.load(std::sync::atomic::Ordering::Relaxed) < expected {
            assert!(
                Instant::now() < deadline,
                "the SSE subscriber missed events"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        rates.push((*per_body, requests.len() as f64 / elapsed.as_secs_f64()));
    }
    subscriber.abort();
    rates
}

/// CPU time this process's threads have run so far, as (the store's writer thread, all
/// threads), from `/proc/self/task/*/schedstat` (nanoseconds on CPU). CPU time, unlike
/// wall time, says what an event costs even when something else shares the machine.
fn cpu_times() -> (Duration, Duration) {
    let (mut writer, mut all) = (Duration::ZERO, Duration::ZERO);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (writer, all);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos)
            .unwrap_or_default();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "store-writer" {
            writer += on_cpu;
        }
        all += on_cpu;
    }
    // Threads that have exited (tokio's blocking pool) are in the process's own total.
    let process = std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default();
    (writer, all.max(process))
}

/// `node --version`, for the figures' label.
fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Where the relay keeps its log in a run.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres { nodes: usize },
}

impl Backend {
    fn name(self) -> String {
        match self {
            Backend::Sqlite => "SQLite, embedded".into(),
            Backend::Postgres { nodes: 1 } => "PostgreSQL, 1 node".into(),
            Backend::Postgres { nodes } => format!("PostgreSQL, {nodes} nodes"),
        }
    }

    fn key(self) -> String {
        match self {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres { nodes } => format!("pg{nodes}"),
        }
    }
}

/// One deployment's figures.
struct Figures {
    name: String,
    /// Events per second durably committed, by events per POST.
    rates: Vec<(usize, f64)>,
    /// CPU time per event, by events per POST: (the store's writer, the whole process
    /// with the load generator).
    cpu: Vec<(usize, Duration, Duration)>,
    latency: Vec<Duration>,
}

/// Opens the relay's nodes on `backend` (one data dir: on PostgreSQL it holds only the
/// key, which the nodes share) with the bench's tenant set up.
fn open_nodes(
    backend: Backend,
    data: &std::path::Path,
    cluster: Option<&ventana_pgtest::Cluster>,
) -> Vec<Relay> {
    let (database, nodes) = match backend {
        Backend::Sqlite => (None, 1),
        Backend::Postgres { nodes } => (
            Some(cluster.expect("a cluster").create_database().unwrap()),
            nodes,
        ),
    };
    let relays: Vec<Relay> = (0..nodes)
        .map(|_| {
            let settings = Settings {
                database: database.clone(),
                ..Settings::default()
            };
            Relay::open(data, settings).unwrap()
        })
        .collect();
    let state = &relays[0].state;
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
    relays
}

async fn head_of(relay: &Relay) -> u64 {
    let store = Arc::clone(&relay.state.store);
    tokio::task::spawn_blocking(move || {
        let tenant = store.find_tenant("bench").unwrap().unwrap().id;
        store.head(&tenant).unwrap()
    })
    .await
    .unwrap()
}

/// The throughput runs' requests: single-event bodies, then Meta-style batches of 10; mids
/// never repeat, so every event is new to every deployment's log.
fn throughput_requests() -> Vec<(usize, Vec<Signed>)> {
    let mut first_mid = 0;
    [1, EVENTS_PER_BODY]
        .into_iter()
        .map(|per_body| {
            let bodies = BODIES * EVENTS_PER_BODY / per_body / if per_body == 1 { 2 } else { 1 };
            let requests = signed(
                (0..bodies)
                    .map(|b| body(first_mid + b * per_body, per_body))
                    .collect(),
            );
            first_mid += bodies * per_body;
            (per_body, requests)
        })
        .collect()
}

/// Runs the throughput and latency measures against one deployment.
async fn measure(
    name: String,
    relays: Vec<Relay>,
    workload: &[(usize, Vec<Signed>)],
    client_count: usize,
) -> Figures {
    let mut bases = Vec::new();
    for relay in &relays {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(run(listener, relay.clone(), std::future::pending()));
    }
    let urls: Vec<String> = bases
        .iter()
        .map(|base| format!("{base}/webhooks/meta/{APP_ID}"))
        .collect();

    // 1. Throughput.
    let mut rates = Vec::new();
    let mut cpu = Vec::new();
    let mut committed_so_far = 0u64;
    for (per_body, requests) in workload {
        let before = cpu_times();
        let (elapsed, failures) = blast(&urls, requests).await;
        let after = cpu_times();
        let head = head_of(&relays[0]).await;
        let events = requests.len() * per_body;
        let per_event = |d: Duration| d / u32::try_from(events).unwrap();
        cpu.push((
            *per_body,
            per_event(after.0 - before.0),
            per_event(after.1 - before.1),
        ));
        assert_eq!(failures, 0, "{name}: some requests failed");
        assert_eq!(
            (head - committed_so_far) as usize,
            events,
            "{name}: not every event was committed"
        );
        committed_so_far = head;
        rates.push((*per_body, events as f64 / elapsed.as_secs_f64()));
    }
    let head = committed_so_far;

    // 2. Latency to live clients (spread over the nodes) at 1,000 events/s.
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", bases[0]))
        .json(&serde_json::json!({"email": "bench@example.test", "password": "bench password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..client_count {
        let base = &bases[c % bases.len()];
        let url = format!("{}/v1/stream?after={head}", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let (sent_at, latencies) = (Arc::clone(&sent_at), Arc::clone(&latencies));
        clients.push(tokio::spawn(async move {
            let mut received = 0;
            while received < LATENCY_EVENTS {
                let Some(Ok(message)) = socket.next().await else {
                    break;
                };
                let now = Instant::now();
                let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                    continue;
                };
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
    // 1,000 events/s as 100 bodies/s of 10 events, round robin over the nodes.
    let client = reqwest::Client::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let first = 10_000_000;
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
        let request = client
            .post(&urls[b % urls.len()])
            .header("x-hub-signature-256", signature)
            .body(payload);
        posts.push(tokio::spawn(async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    for post in posts {
        assert_eq!(post.await.unwrap(), 200, "{name}: a latency POST failed");
    }
    for client in clients {
        tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .unwrap()
            .unwrap();
    }
    let mut latency = latencies.lock().unwrap().clone();
    latency.sort();
    assert_eq!(
        latency.len(),
        client_count * LATENCY_EVENTS,
        "{name}: a client missed an event"
    );
    Figures {
        name,
        rates,
        cpu,
        latency,
    }
}

fn main() {
    let only = std::env::var("VENTANA_BENCH_ONLY").ok();
    let client_count = std::env::var("VENTANA_BENCH_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CLIENTS);
    let backends: Vec<Backend> = [
        Backend::Sqlite,
        Backend::Postgres { nodes: 1 },
        Backend::Postgres { nodes: 3 },
    ]
    .into_iter()
    .filter(|b| only.as_deref().is_none_or(|only| only == b.key()))
    .collect();
    let cluster = backends
        .iter()
        .any(|b| matches!(b, Backend::Postgres { .. }))
        .then(|| ventana_pgtest::Cluster::start().unwrap());
    let workload = throughput_requests();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // The ceiling first, with the same requests and client.
    let ceiling: Vec<(usize, f64, Duration)> = runtime.block_on(async {
        let url = bare_hyper_server().await;
        let mut rates = Vec::new();
        for (per_body, requests) in &workload {
            let before = cpu_times().1;
            let (elapsed, failures) = blast(std::slice::from_ref(&url), requests).await;
            let cpu = (cpu_times().1 - before) / u32::try_from(requests.len()).unwrap();
            assert_eq!(failures, 0, "the bare server failed requests");
            rates.push((
                *per_body,
                requests.len() as f64 / elapsed.as_secs_f64(),
                cpu,
            ));
        }
        rates
    });
    let sse = runtime.block_on(sse_relay_rates(&workload));
    let mut all = Vec::new();
    for backend in backends {
        let dir = tempfile::tempdir().unwrap();
        let relays = open_nodes(backend, dir.path(), cluster.as_ref());
        let figures = runtime.block_on(measure(backend.name(), relays, &workload, client_count));
        all.push(figures);
    }

    println!(
        "intake: signed webhook POSTs, {IN_FLIGHT} in flight; latency: {client_count} websocket \
         clients, 1,000 events/s, POST start -> event at each client"
    );
    println!(
        "{:<20} {:>16} {:>10} {:>16} {:>10} {:>9} {:>9} {:>9}",
        "", "1 event/POST", "of bare", "10 events/POST", "of bare", "p50", "p99", "max"
    );
    for (per_body, rate, cpu) in &ceiling {
        println!(
            "  bare hyper: {rate:>8.0} POSTs/s with {per_body} event(s) each (200 only, nothing stored; {:.1} µs CPU per POST, client included)",
            cpu.as_secs_f64() * 1e6
        );
    }
    for (per_body, rate) in &sse {
        println!(
            "  plain SSE relay (smee.io's design, Node {}): {:>8.0} events/s with {per_body} event(s) per POST (one subscriber; nothing verified or stored)",
            node_version(),
            rate * *per_body as f64
        );
    }
    for figures in &all {
        let share = |per_body: usize, rate: f64| {
            let bare = ceiling
                .iter()
                .find(|(p, _, _)| *p == per_body)
                .map(|(_, r, _)| *r);
            bare.map(|bare| 100.0 * rate / per_body as f64 / bare)
                .unwrap_or(f64::NAN)
        };
        let mut row = format!("{:<20}", figures.name);
        for (per_body, rate) in &figures.rates {
            row.push_str(&format!(
                " {:>9.0} events/s {:>7.0} %",
                rate,
                share(*per_body, *rate)
            ));
        }
        for p in [0.50, 0.99, 1.0] {
            row.push_str(&format!(
                " {:>6.2} ms",
                percentile(&figures.latency, p).as_secs_f64() * 1000.0
            ));
        }
        println!("{row}");
        let versus: Vec<String> = figures
            .rates
            .iter()
            .filter_map(|(per_body, rate)| {
                let relay = sse.iter().find(|(p, _)| p == per_body)?.1 * *per_body as f64;
                Some(format!("{:.1}x with {per_body} per POST", rate / relay))
            })
            .collect();
        println!("{:<20} vs the plain SSE relay: {}", "", versus.join(", "));
        let cpu: Vec<String> = figures
            .cpu
            .iter()
            .map(|(per_body, writer, all)| {
                format!(
                    "{:.1} µs writer / {:.1} µs process with {per_body} per POST",
                    writer.as_secs_f64() * 1e6,
                    all.as_secs_f64() * 1e6
                )
            })
            .collect();
        println!("{:<20} CPU per event: {}", "", cpu.join(", "));
    }
}
