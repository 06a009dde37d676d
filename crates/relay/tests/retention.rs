//! The retention promise on the embedded relay, with the clock passed in (no sleeping): a
//! channel's history older than its `retention_days` becomes tombstones in the log (no
//! gap), leaves no byte in any file of the data dir, is counted in the audit log, and
//! reaches desktops as a `history_purged` event; newer history and other channels stay.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::TimeDelta;
use common::files_containing;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use ventana_metasim::signing::signature_header;
use ventana_relay::admin;
use ventana_relay::server::{Relay, Settings, run};
use ventana_relay::store::Role;
use ventana_relay::sweeper::purge_expired;

const APP_ID: &str = "1234567890";
const SECRET: &str = "retention-secret";
const PAGE: &str = "100000000000001";
const OTHER_PAGE: &str = "100000000000002";
const OLD: &str = "okapi-lantern-5521";
const PASSWORD: &str = "correct horse battery";

fn messenger(page: &str, mid: &str, text: &str) -> Vec<u8> {
    let at = chrono::Utc::now().timestamp_millis();
    json!({"object": "page", "entry": [{"id": page, "time": at, "messaging": [{
        "sender": {"id": "7100000000000042"}, "recipient": {"id": page}, "timestamp": at,
        "message": {"mid": mid, "text": text}}]}]})
    .to_string()
    .into_bytes()
}

async fn post(client: &reqwest::Client, base: &str, body: Vec<u8>) {
    let signature = signature_header(SECRET.as_bytes(), &body);
    let status = client
        .post(format!("{base}/webhooks/meta/{APP_ID}"))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_older_than_the_channels_retention_is_purged_everywhere_and_the_rest_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::open(tmp.path(), Settings::default()).unwrap();
    let state = &relay.state;
    admin::add_tenant(state, "acme").unwrap();
    admin::add_meta_app(state, APP_ID, SECRET, None).unwrap();
    for page in [PAGE, OTHER_PAGE] {
        admin::add_channel(
            state,
            "acme",
            ventana_protocol::ChannelKind::Messenger,
            page,
            APP_ID,
            None,
            None,
        )
        .unwrap();
    }
    admin::add_agent(state, "acme", "ana@acme.test", Role::Admin, PASSWORD).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(run(listener, relay.clone(), std::future::pending()));
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "ana@acme.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let channels = get(&client, &base, &token, "/v1/channels").await;
    let page_id = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["external_id"] == PAGE)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut settings = channels[0]["settings"].clone();
    settings["retention_days"] = json!(30);
    let changed = client
        .patch(format!("{base}/v1/channels/{page_id}"))
        .bearer_auth(&token)
        .json(&json!({"settings": settings}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    // Old history on both pages, then new history: only the first page's old part goes.
    for n in 0..20 {
        post(
            &client,
            &base,
            messenger(PAGE, &format!("m_old_{n}"), &format!("{OLD} #{n}")),
        )
        .await;
        post(
            &client,
            &base,
            messenger(
                OTHER_PAGE,
                &format!("m_other_{n}"),
                &format!("other page #{n}"),
            ),
        )
        .await;
    }
    post(&client, &base, messenger(PAGE, "m_new", "still young")).await;
    let log = get(&client, &base, &token, "/v1/events?limit=1000").await;
    let entries = log["entries"].as_array().unwrap().clone();
    let young = entries
        .iter()
        .find(|e| e["event"]["message_id"] == "m_new")
        .unwrap();
    let cutoff: chrono::DateTime<chrono::Utc> = young["event"]["recorded_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let head = entries.len() as u64;

    // 30 days after the young message was recorded, everything before it has expired.
    let now = cutoff + TimeDelta::days(30);
    let worker = relay.clone();
    let run = tokio::task::spawn_blocking(move || purge_expired(&worker.state, now).unwrap())
        .await
        .unwrap();
    let redacted: u64 = run.purges.iter().map(|p| p.events_redacted).sum();
    assert_eq!(redacted, 20, "{run:?}");

    let log = get(&client, &base, &token, "/v1/events?limit=1000").await;
    let entries = log["entries"].as_array().unwrap().clone();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"].as_u64(), Some(i as u64 + 1), "no gap");
    }
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(OLD), "old text left in the log");
    assert!(text.contains("still young"));
    assert_eq!(text.matches("other page #").count(), 20);
    let purged: Vec<&Value> = entries
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "history_purged")
        .collect();
    assert_eq!(purged.len(), 1);
    assert_eq!(entries.len() as u64, head + 1);
    assert_eq!(purged[0]["channel"], page_id.as_str());

    assert_eq!(
        files_containing(tmp.path(), OLD.as_bytes()),
        Vec::<String>::new(),
        "the old text is still in a file"
    );
    let audit = relay
        .state
        .store
        .audit_log(&relay.state.store.find_tenant("acme").unwrap().unwrap().id);
    let purges: Vec<u64> = audit
        .unwrap()
        .iter()
        .filter(|entry| entry.action == "retention_purge")
        .map(|entry| entry.detail["events_redacted"].as_u64().unwrap())
        .collect();
    assert_eq!(purges, vec![20]);

    // Run again at the same time: nothing more goes, nothing is appended.
    let worker = relay.clone();
    let again = tokio::task::spawn_blocking(move || purge_expired(&worker.state, now).unwrap())
        .await
        .unwrap();
    assert!(again.purges.is_empty(), "{again:?}");
    let log = get(&client, &base, &token, "/v1/events?limit=1000").await;
    assert_eq!(log["entries"].as_array().unwrap().len() as u64, head + 1);
}
