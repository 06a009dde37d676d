//! Three real `ventana-relay` nodes on one PostgreSQL database: webhooks posted round
//! robin, desktops' streams on different nodes, one node SIGKILLed under load and started
//! again. Every acknowledged event is in the log once, without gaps, and every client sees
//! every event once and in order, resuming on another node after its node died.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::Duration;

/// The tests here set the process-wide database of `common`: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Three `serve` nodes on a fresh database, set up as `common::set_up` does.
struct Nodes {
    /// Held: the last holder's drop stops the cluster.
    _cluster: std::sync::Arc<ventana_pgtest::Cluster>,
    _dir: tempfile::TempDir,
    /// One data dir for all three: on PostgreSQL it holds only the key, which nodes share.
    data: std::path::PathBuf,
    nodes: Vec<Option<RelayProcess>>,
    bases: Vec<String>,
}

fn three_nodes() -> Nodes {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    *DATABASE.lock().unwrap() = Some(cluster.create_database().unwrap());
    let (dir, data) = data_dir();
    set_up(&data);
    let nodes: Vec<Option<RelayProcess>> =
        (0..3).map(|_| Some(RelayProcess::start(&data))).collect();
    let bases = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().base.clone())
        .collect();
    Nodes {
        _cluster: cluster,
        _dir: dir,
        data,
        nodes,
        bases,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_nothing_when_one_is_killed_under_load() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Nodes {
        _cluster,
        _dir,
        data,
        mut nodes,
        bases,
    } = three_nodes();
    let token = access_token(&bases[0]).await;
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

const PAGE_TOKEN: &str = "EAAG-page-token-for-tests";

/// A fresh database (its cluster held: the last holder's drop stops it) and data dir with a
/// Page token, and metasim as the Graph API, its address as `serve`'s flags.
async fn with_meta() -> (
    std::sync::Arc<ventana_pgtest::Cluster>,
    tempfile::TempDir,
    std::path::PathBuf,
    ventana_metasim::graph::GraphSim,
    Vec<String>,
) {
    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    *DATABASE.lock().unwrap() = Some(cluster.create_database().unwrap());
    let (dir, data) = data_dir();
    set_up(&data);
    set_tokens(&data, &[(PAGE_ID, PAGE_TOKEN)]);
    let sim = graph_sim().await;
    sim.add_page(PAGE_ID, PAGE_TOKEN, true);
    let url = sim.base_url();
    let flags = vec![
        "--graph-url".to_owned(),
        url.clone(),
        "--instagram-graph-url".to_owned(),
        url,
    ];
    (cluster, dir, data, sim, flags)
}

/// A customer's message through `base`, noted by metasim; its conversation's id.
async fn customer_writes(
    sim: &ventana_metasim::graph::GraphSim,
    base: &str,
    token: &str,
    mid: &str,
) -> String {
    use serde_json::json;
    let at = chrono::Utc::now();
    let user = "7000000000000009";
    let body = json!({"object": "page", "entry": [{"id": PAGE_ID, "time": at.timestamp_millis(), "messaging": [{
        "sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": at.timestamp_millis(),
        "message": {"mid": mid, "text": "¿hay talla 42?"}}]}]});
    assert_eq!(post_signed(base, body.to_string().as_bytes()).await, 200);
    sim.note_inbound(PAGE_ID, user, at);
    let events = get_json(base, "/v1/events?limit=100", token).await.1;
    events["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["event"]["conversation"].as_str())
        .expect("the customer's message is in the log")
        .to_owned()
}

/// `POST …/replies` with `key`; the HTTP status, or 0 when the node died first.
async fn send_reply(base: String, token: String, conversation: String, key: &'static str) -> u16 {
    http()
        .post(format!("{base}/v1/conversations/{conversation}/replies"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&serde_json::json!({"kind": "text", "text": "Sí, la tenemos."}))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

async fn access_token(base: &str) -> String {
    token_of(base, "ana@acme.test").await
}

async fn token_of(base: &str, email: &str) -> String {
    login(base, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The same idempotency key sent to two nodes at once reaches Meta once: the reply's row is
/// the one place both nodes meet, and only the node whose insert won sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_to_two_nodes_at_once_goes_out_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_cluster, _dir, data, sim, flags) = with_meta().await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = RelayProcess::start_with(&data, &flags);
    let b = RelayProcess::start_with(&data, &flags);
    let token = access_token(&a.base).await;
    let conversation = customer_writes(&sim, &a.base, &token, "m_two_nodes").await;
    let (first, second) = tokio::join!(
        send_reply(
            a.base.clone(),
            token.clone(),
            conversation.clone(),
            "k-two-nodes"
        ),
        send_reply(
            b.base.clone(),
            token.clone(),
            conversation.clone(),
            "k-two-nodes"
        ),
    );
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

/// A node killed while Meta holds its send (the request reached Meta, the answer never came
/// back): another node takes the reply over once the dead node's lease runs out, and
/// records its outcome as unknown. It never sends it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_whose_node_died_mid_send_becomes_unknown_and_is_never_resent() {
    use ventana_metasim::graph::Failure;
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_cluster, _dir, data, sim, flags) = with_meta().await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = RelayProcess::start_with(&data, &flags);
    let b = RelayProcess::start_with(&data, &flags);
    let token = access_token(&b.base).await;
    let conversation = customer_writes(&sim, &b.base, &token, "m_mid_send").await;
    // Meta takes the message and then says nothing for a minute.
    sim.fail_next(
        PAGE_ID,
        1,
        Failure::Timeout {
            respond_after: Duration::from_secs(60),
            sent: true,
        },
    );
    let sending = tokio::spawn(send_reply(
        a.base.clone(),
        token.clone(),
        conversation.clone(),
        "k-mid-send",
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sim.sends().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the send never reached metasim"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    assert_eq!(sending.await.unwrap(), 0, "the dead node answered");

    let path = format!("/v1/conversations/{conversation}/replies/k-mid-send");
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let reply = loop {
        let (status, reply) = get_json(&b.base, &path, &token).await;
        assert_eq!(status, 200, "{reply}");
        if reply["state"] != "sending" {
            break reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no node took the reply over: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(reply["state"], "unknown", "{reply}");
    // Another send of the same key, to the live node, changes nothing either.
    let again = send_reply(b.base.clone(), token.clone(), conversation, "k-mid-send").await;
    assert_eq!(again, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.sends().len(), 1, "the reply was sent again");
}

/// Which of `bases` says it runs the periodic jobs (`/readyz`).
async fn job_runners(bases: &[String]) -> Vec<usize> {
    let mut runners = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let Ok(response) = http().get(format!("{base}/readyz")).send().await else {
            continue;
        };
        let ready: serde_json::Value = response.json().await.unwrap_or_default();
        if ready["runs_periodic_jobs"] == true {
            runners.push(i);
        }
    }
    runners
}

/// The periodic jobs (the sweeper, the take-over of dead nodes' replies, template syncs)
/// run on one node at a time, and on another within seconds of that node's SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_periodic_jobs_move_to_another_node_within_seconds_of_a_kill() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Nodes {
        _cluster,
        _dir,
        mut nodes,
        bases,
        ..
    } = three_nodes();
    let runner = async {
        loop {
            let runners = job_runners(&bases).await;
            if !runners.is_empty() {
                return runners;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let runners = tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .expect("no node runs the periodic jobs");
    assert_eq!(
        runners.len(),
        1,
        "more than one node runs them: {runners:?}"
    );
    let leader = runners[0];
    nodes[leader].take().unwrap().kill();
    let killed_at = std::time::Instant::now();
    let next = loop {
        let runners = job_runners(&bases).await;
        assert!(runners.len() <= 1, "two nodes run them: {runners:?}");
        if let [next] = runners[..] {
            break next;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(8),
            "no other node took the jobs over within 8 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(next, leader);
    eprintln!("the jobs moved in {:?}", killed_at.elapsed());
}

/// Every contact row of a store, as text, in id order.
const CONTACTS: &str = "SELECT id || ' ' || tenant_id || ' ' || channel_id || ' ' || external_id \
                        || ' ' || coalesce(name, '-') FROM contacts ORDER BY id";

/// `migrate-store` on an embedded relay that metasim's traffic filled (every platform,
/// redeliveries, an erasure): the copy's log, contacts and audit export (its hash chain
/// verified by the export) equal the source's, and a node on the copy carries on from the
/// same head.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_store_copies_a_relay_filled_by_metasim_traffic() {
    use ventana_metasim::{Generator, Platform, Poster, Universe};
    let _turn = ONE_AT_A_TIME.lock().await;
    *DATABASE.lock().unwrap() = None;
    let (_tmp, dir) = data_dir();
    let universe = Universe::demo(7);
    let app_id = set_up_universe(&dir, &universe, "admin");
    let relay = RelayProcess::start(&dir);
    let token = token_of(&relay.base, "d@demo.test").await;
    let poster = Poster::new(&relay.base, &app_id, APP_SECRET).unwrap();
    let mut generator = Generator::new(universe, 11);
    for round in 0..15 {
        for platform in Platform::ALL {
            let webhook = generator.next_webhook(platform, 1 + round % 5).unwrap();
            assert_eq!(poster.post(&webhook).await.unwrap(), 200);
            if round % 4 == 0 {
                assert_eq!(poster.redeliver(&webhook).await.unwrap(), 200);
            }
        }
    }
    let events = get_json(&relay.base, "/v1/events?limit=1000", &token)
        .await
        .1;
    let erased = events["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["event"]["contact"].as_str())
        .expect("a contact in the log")
        .to_owned();
    let erasure = http()
        .post(format!("{}/v1/contacts/{erased}/erase", relay.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"confirm": "ERASE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(erasure.status(), 200);
    let head_before = head(&relay.base, &token).await;
    relay.kill();

    let log_before = cli_ok(&dir, &["log", "--tenant", "demo", "--after", "0"], "");
    let audit_before = cli_ok(&dir, &["audit", "export", "--tenant", "demo"], "");
    let contacts_before: Vec<String> = {
        let db = rusqlite::Connection::open(dir.join("relay.db")).unwrap();
        let mut statement = db.prepare(CONTACTS).unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(log_before.lines().count() as u64 == head_before && head_before > 40);
    assert!(audit_before.contains("erase"), "{audit_before}");
    assert!(!contacts_before.iter().any(|c| c.starts_with(&erased)));

    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let dir_text = dir.to_str().unwrap();
    let report = cli_ok(
        &dir,
        &["migrate-store", "--from", dir_text, "--to", &url],
        "",
    );
    assert!(report.contains("events"), "{report}");

    *DATABASE.lock().unwrap() = Some(url.clone());
    assert_eq!(
        cli_ok(&dir, &["log", "--tenant", "demo", "--after", "0"], ""),
        log_before
    );
    assert_eq!(
        cli_ok(&dir, &["audit", "export", "--tenant", "demo"], ""),
        audit_before
    );
    let contacts_after = cluster
        .psql(url.rsplit('/').next().unwrap(), CONTACTS)
        .unwrap();
    assert_eq!(contacts_after.lines().collect::<Vec<_>>(), contacts_before);

    // A node on the copy serves the same head and numbers new events after it.
    let node = RelayProcess::start(&dir);
    let token = token_of(&node.base, "d@demo.test").await;
    assert_eq!(head(&node.base, &token).await, head_before);
    let poster = Poster::new(&node.base, &app_id, APP_SECRET).unwrap();
    let webhook = generator.next_webhook(Platform::WhatsApp, 1).unwrap();
    assert_eq!(poster.post(&webhook).await.unwrap(), 200);
    let mut socket = connect_stream(&node.base, &token, head_before).await;
    let next = events_until(&mut socket, head_before + 1).await;
    assert_consecutive(&next, head_before + 1);
}
