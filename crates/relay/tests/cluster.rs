//! Three real `ventana-relay` nodes on one PostgreSQL database: webhooks posted round
//! robin, desktops' streams on different nodes, one node SIGKILLed under load and started
//! again. Every acknowledged event is in the log once, without gaps, and every client sees
//! every event once and in order, resuming on another node after its node died.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod pg;

use common::*;
use std::time::Duration;

/// The tests here set the process-wide database of `common`: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_nothing_when_one_is_killed_under_load() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = pg::Cluster::shared();
    *DATABASE.lock().unwrap() = Some(cluster.create_database());
    // One data dir for all three: on PostgreSQL it holds only the key, which nodes share.
    let (_dir, data) = data_dir();
    set_up(&data);
    let mut nodes: Vec<Option<RelayProcess>> =
        (0..3).map(|_| Some(RelayProcess::start(&data))).collect();
    let bases: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().base.clone())
        .collect();
    let token = login(&bases[0], "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A desktop on each node, following from the start.
    let mut clients = Vec::new();
    for base in &bases {
        clients.push(connect_stream(base, &token, 0).await);
    }

    let total: u64 = 90;
    let mut acknowledged = 0;
    let mut restarted = false;
    for i in 0..total {
        if i == 30 {
            // Node 1 dies mid-stream: no clean shutdown.
            nodes[1].take().unwrap().kill();
        }
        if i == 60 {
            nodes[1] = Some(RelayProcess::start(&data));
            restarted = true;
        }
        let target = match ((i % 3) as usize, &nodes[1]) {
            (1, None) => 2,
            (n, _) => n,
        };
        let base = if target == 1 && restarted {
            nodes[1].as_ref().unwrap().base.clone()
        } else {
            bases[target].clone()
        };
        let body = messenger_text(&format!("m_cluster_{i}"), &format!("hola {i}"));
        if post_signed(&base, &body).await == 200 {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, total, "a live node refused a webhook");
    let head = head(&bases[0], &token).await;
    assert_eq!(
        head, total,
        "the log does not hold every acknowledged event once"
    );

    // Clients on the nodes that lived see everything, once, in order.
    for client in [0, 2] {
        let events = events_until(&mut clients[client], head).await;
        assert_consecutive(&events, 1);
        assert_eq!(events.len() as u64, head);
    }
    // The client of the killed node saw its stream cut; it resumes on another node
    // after the last event it had, and ends with every event once.
    let mut seen = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(
        Duration::from_secs(2),
        futures_util::StreamExt::next(&mut clients[1]),
    )
    .await
    {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "event" {
                seen.push(frame);
            }
        }
    }
    let last = seen.last().map(|f| f["seq"].as_u64().unwrap()).unwrap_or(0);
    let mut resumed = connect_stream(&bases[2], &token, last).await;
    if last < head {
        seen.extend(events_until(&mut resumed, head).await);
    }
    assert_consecutive(&seen, 1);
    assert_eq!(seen.len() as u64, head);

    // The restarted node serves the same log.
    let again = nodes[1].as_ref().unwrap().base.clone();
    let mut late = connect_stream(&again, &token, 0).await;
    let events = events_until(&mut late, head).await;
    assert_consecutive(&events, 1);
}

/// The same idempotency key sent to two nodes at once reaches Meta once: the reply's row is
/// the one place both nodes meet, and only the node whose insert won sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_to_two_nodes_at_once_goes_out_once() {
    use serde_json::json;
    use ventana_metasim::graph::{GraphSim, GraphSimConfig};
    const PAGE_TOKEN: &str = "EAAG-page-token-for-tests";
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = pg::Cluster::shared();
    let database = cluster.create_database();
    *DATABASE.lock().unwrap() = Some(database);
    let (_dir, data) = data_dir();
    set_up(&data);
    cli_ok(
        &data,
        &[
            "channel",
            "set-token",
            "--tenant",
            "acme",
            "--channel",
            PAGE_ID,
            "--token-stdin",
        ],
        &format!("{PAGE_TOKEN}\n"),
    );
    let sim = GraphSim::start(GraphSimConfig {
        app_id: APP_ID.parse().unwrap(),
        app_secret: APP_SECRET.into(),
        require_appsecret_proof: true,
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_page(PAGE_ID, PAGE_TOKEN, true);
    let url = sim.base_url();
    let graph = [
        "--graph-url",
        url.as_str(),
        "--instagram-graph-url",
        url.as_str(),
    ];
    let a = RelayProcess::start_with(&data, &graph);
    let b = RelayProcess::start_with(&data, &graph);
    let token = login(&a.base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = chrono::Utc::now();
    let user = "7000000000000009";
    let body = json!({"object": "page", "entry": [{"id": PAGE_ID, "time": at.timestamp_millis(), "messaging": [{
        "sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": at.timestamp_millis(),
        "message": {"mid": "m_two_nodes", "text": "¿hay talla 42?"}}]}]});
    assert_eq!(post_signed(&a.base, body.to_string().as_bytes()).await, 200);
    sim.note_inbound(PAGE_ID, user, at);
    let events = get_json(&b.base, "/v1/events?limit=100", &token).await.1;
    let conversation = events["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["event"]["conversation"].as_str())
        .expect("the customer's message is in the log")
        .to_owned();
    let send = |base: String| {
        let (token, conversation) = (token.clone(), conversation.clone());
        async move {
            let response = http()
                .post(format!("{base}/v1/conversations/{conversation}/replies"))
                .bearer_auth(token)
                .header("Idempotency-Key", "k-two-nodes")
                .json(&json!({"kind": "text", "text": "Sí, la tenemos."}))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    let (first, second) = tokio::join!(send(a.base.clone()), send(b.base.clone()));
    assert!(first < 300 && second < 300, "{first} {second}");
    // Give either node time to (wrongly) send a second time.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sim.sends().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.sends().len(),
        1,
        "one key reached Meta more than once (or never)"
    );
}
