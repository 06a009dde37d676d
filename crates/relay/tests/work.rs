//! The agents' work on the relay, end to end against the real binary: the conversation
//! workflow, escalations and opt-out keywords, channel settings, erasure (down to the
//! bytes in the data dir), Meta's data-deletion callback, and the audit log.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use ventana_metasim::signing::signature_header;

const MARKER: &str = "zebra-quokka-7731";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A Messenger text from `psid` to `page` at `at_ms`.
fn messenger_from(page: &str, psid: &str, mid: &str, text: &str, at_ms: i64) -> Vec<u8> {
    json!({"object": "page", "entry": [{"id": page, "time": at_ms, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": at_ms,
        "message": {"mid": mid, "text": text}}]}]})
    .to_string()
    .into_bytes()
}

/// A WhatsApp text from `wa_id` at `at_s` (seconds).
fn whatsapp_from(wa_id: &str, wamid: &str, text: &str, at_s: i64) -> Vec<u8> {
    whatsapp_named(wa_id, "Rosa", wamid, text, at_s)
}

/// A WhatsApp text from `wa_id`, whose profile name is `name`, at `at_s` (seconds).
fn whatsapp_named(wa_id: &str, name: &str, wamid: &str, text: &str, at_s: i64) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "300000000000001", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": at_s.to_string(), "type": "text",
                          "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

async fn all_events(base: &str, token: &str) -> Vec<Value> {
    let (status, page) = get_json(base, "/v1/events?limit=5000", token).await;
    assert_eq!(status, 200);
    page["entries"].as_array().unwrap().clone()
}

async fn send(
    method: reqwest::Method,
    base: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let response = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The conversation and contact of the first event whose text is `text`.
fn ids_of(events: &[Value], text: &str) -> (String, String) {
    let event = events
        .iter()
        .map(|e| &e["event"])
        .find(|e| e["content"]["body"] == text)
        .unwrap_or_else(|| panic!("no event with text {text:?}"));
    (
        event["conversation"].as_str().unwrap().to_owned(),
        event["contact"].as_str().unwrap().to_owned(),
    )
}

fn add_agent(data_dir: &Path, email: &str, role: &str) {
    cli_ok(
        data_dir,
        &[
            "agent",
            "add",
            "--tenant",
            "acme",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
}

/// The status page a data-deletion answer links to, as text.
async fn status_page(answer: &Value) -> String {
    http()
        .get(answer["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_changes_are_events_and_a_customer_reopens_a_resolved_conversation() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    add_agent(&data_dir, "bo@acme.test", "agent");
    let bot_key = cli_ok(
        &data_dir,
        &["bot-key", "add", "--tenant", "acme", "--name", "helper"],
        "",
    );
    assert!(bot_key.starts_with("vbot_"));
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bo = login(&base, "bo@acme.test").await;
    let bo_id = bo["agent"]["id"].as_str().unwrap().to_owned();
    let bo = bo["access_token"].as_str().unwrap().to_owned();

    let first = messenger_from(PAGE_ID, "7001", "m_w1", "hello there", now_ms() - 60_000);
    assert_eq!(post_signed(&base, &first).await, 200);
    let events = all_events(&base, &ana).await;
    let (conversation, _) = ids_of(&events, "hello there");
    let path = format!("/v1/conversations/{conversation}");

    let (status, done) = send(
        reqwest::Method::PATCH,
        &base,
        &path,
        &bo,
        json!({"status": "resolved", "assignee": "me", "labels": ["billing", "vip"]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let (status, note) = send(
        reqwest::Method::POST,
        &base,
        &format!("{path}/notes"),
        &bo,
        json!({"text": "called them back"}),
    )
    .await;
    assert_eq!(status, 200, "{note}");
    // Bad changes are refused and change nothing.
    let head_before = head(&base, &ana).await;
    for bad in [
        json!({"status": "snoozed"}),
        json!({"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00Z"}),
        json!({"status": "closed"}),
        json!({"assignee": "no-such-agent"}),
        json!({}),
        json!({"labels": [""]}),
    ] {
        let (status, body) = send(reqwest::Method::PATCH, &base, &path, &bo, bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {body}");
    }
    let (status, _) = send(
        reqwest::Method::PATCH,
        &base,
        "/v1/conversations/nope",
        &bo,
        json!({"status": "open"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(head(&base, &ana).await, head_before);

    // The bot may hand over, not change the workflow.
    let (status, _) = send(
        reqwest::Method::POST,
        &base,
        &format!("{path}/escalate"),
        &bot_key,
        json!({"note": "asked for a refund"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        reqwest::Method::PATCH,
        &base,
        &path,
        &bot_key,
        json!({"status": "open"}),
    )
    .await;
    assert_eq!(status, 403);

    // The customer writes again: the resolved conversation reopens by itself.
    let again = messenger_from(PAGE_ID, "7001", "m_w2", "one more thing", now_ms());
    assert_eq!(post_signed(&base, &again).await, 200);
    let events = all_events(&base, &ana).await;
    let kinds: Vec<(&str, &Value)> = events
        .iter()
        .map(|e| (e["event"]["type"].as_str().unwrap(), &e["event"]))
        .filter(|(_, e)| e["conversation"] == conversation.as_str())
        .collect();
    let updated: Vec<&Value> = kinds
        .iter()
        .filter(|(t, _)| *t == "conversation_updated")
        .map(|(_, e)| *e)
        .collect();
    assert_eq!(updated.len(), 2, "{updated:?}");
    assert_eq!(updated[0]["status"]["state"], "resolved");
    assert_eq!(updated[0]["assignee"]["agent"], bo_id.as_str());
    assert_eq!(updated[0]["labels"], json!(["billing", "vip"]));
    assert_eq!(updated[1]["status"]["state"], "open");
    assert_eq!(updated[1]["by"]["by"], "system");
    assert!(
        kinds
            .iter()
            .any(|(t, e)| *t == "note_added" && e["text"] == "called them back")
    );
    assert!(
        kinds
            .iter()
            .any(|(t, e)| *t == "escalated" && e["reason"]["rule"] == "bot_handoff")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywords_escalate_and_opt_out_and_a_waiting_customer_escalates_once() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start_with(&data_dir, &["--sweep-seconds", "1"]);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let now_s = now_ms() / 1000;
    for body in [
        messenger_from(
            PAGE_ID,
            "7002",
            "m_k1",
            "¿Puedo hablar con un HUMANO?",
            now_ms(),
        ),
        whatsapp_from("5215512345678", "wamid.k2", "Stop", now_s),
        whatsapp_from("5215512345678", "wamid.k3", "alta", now_s),
        // Waiting 40 minutes already: the default rule escalates after 30.
        whatsapp_from(
            "5215598765432",
            "wamid.k4",
            "anyone there?",
            now_s - 40 * 60,
        ),
    ] {
        assert_eq!(post_signed(&base, &body).await, 200);
        // A redelivery derives nothing new.
        assert_eq!(post_signed(&base, &body).await, 200);
    }
    let mut waited = Vec::new();
    for _ in 0..50 {
        let events = all_events(&base, &ana).await;
        waited = events
            .iter()
            .filter(|e| e["event"]["reason"]["rule"] == "customer_waiting")
            .cloned()
            .collect();
        if !waited.is_empty() {
            // Two more sweeps: still one escalation for this message.
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let events = all_events(&base, &ana).await;
    let of_type = |t: &str| -> Vec<&Value> {
        events
            .iter()
            .map(|e| &e["event"])
            .filter(|e| e["type"] == t)
            .collect()
    };
    let escalated = of_type("escalated");
    let keyword: Vec<_> = escalated
        .iter()
        .filter(|e| e["reason"]["rule"] == "keyword")
        .collect();
    assert_eq!(keyword.len(), 1, "{escalated:?}");
    assert_eq!(keyword[0]["reason"]["keyword"], "humano");
    let waiting: Vec<_> = escalated
        .iter()
        .filter(|e| e["reason"]["rule"] == "customer_waiting")
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "one escalation per waiting message: {escalated:?}"
    );
    assert_eq!(waiting[0]["reason"]["minutes"], 30);
    assert!(!waited.is_empty());
    let out = of_type("contact_opted_out");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["source"]["keyword"], "STOP");
    assert_eq!(of_type("contact_opted_in").len(), 1);
    assert_eq!(of_type("message_received").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_change_channel_settings_and_the_token_is_write_only() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    add_agent(&data_dir, "bo@acme.test", "agent");
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bo = login(&base, "bo@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let gus = login(&base, "gus@globex.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, channels) = get_json(&base, "/v1/channels", &bo).await;
    assert_eq!(status, 200);
    let messenger = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "messenger")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/channels/{messenger}");
    let token = "EAAGsecretPageToken0987654321";
    let change = json!({
        "display_name": "Acme Support",
        "access_token": token,
        "human_agent_approved": true,
        "settings": {
            "escalation": {"keywords": ["manager"], "customer_waiting_minutes": 10,
                           "window_closing_minutes": 60, "on_failed_send": true},
            "business_hours": {"timezone": "America/Mexico_City",
                               "days": [{"day": "mon", "open": "09:00", "close": "18:00"}]},
            "opt_out": {"stop": ["STOP", "BAJA"], "resume": ["START"]},
            "retention_days": 365
        }
    });
    let head_before = head(&base, &ana).await;
    let (status, refused) = send(reqwest::Method::PATCH, &base, &path, &bo, change.clone()).await;
    assert_eq!(status, 403, "{refused}");
    let (status, _) = send(reqwest::Method::PATCH, &base, &path, &gus, change.clone()).await;
    assert_eq!(status, 403, "an agent of another tenant");
    let (status, bad) = send(
        reqwest::Method::PATCH,
        &base,
        &path,
        &ana,
        json!({"settings": {"business_hours": {"timezone": "Mars/Olympus", "days": []}}}),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("IANA"));
    assert_eq!(
        head(&base, &ana).await,
        head_before,
        "refusals change nothing"
    );

    let (status, updated) = send(reqwest::Method::PATCH, &base, &path, &ana, change).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["display_name"], "Acme Support");
    assert_eq!(updated["has_token"], true);
    assert_eq!(updated["settings"]["retention_days"], 365);
    assert!(!updated.to_string().contains(token));
    let (_, read) = get_json(&base, &path, &bo).await;
    assert_eq!(read["human_agent_approved"], true);
    assert!(!read.to_string().contains(token));
    // The change is an event every desktop sees, without the token.
    let events = all_events(&base, &bo).await;
    let last = &events.last().unwrap()["event"];
    assert_eq!(last["type"], "channel_updated");
    assert_eq!(last["display_name"], "Acme Support");
    assert_eq!(
        last["settings"]["escalation"]["keywords"],
        json!(["manager"])
    );
    assert!(!events.iter().any(|e| e.to_string().contains(token)));

    relay.kill();
    assert!(
        files_containing(&data_dir, token.as_bytes()).is_empty(),
        "the token is sealed at rest"
    );
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    let actions: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(actions.iter().any(|a| {
        a["action"] == "channel_settings"
            && a["detail"]["changed"]
                .as_array()
                .unwrap()
                .contains(&json!("access_token"))
    }));
    assert!(!audit.contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_trace_in_any_file_and_no_gap_in_the_log() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let erased_psid = "7100000000000042";
    let mut bodies = Vec::new();
    for n in 0..30 {
        bodies.push(messenger_from(
            PAGE_ID,
            erased_psid,
            &format!("m_erase_{n}"),
            &format!("my secret is {MARKER} #{n}"),
            now_ms() - 1000 + n,
        ));
        bodies.push(messenger_from(
            PAGE_ID,
            "7100000000000099",
            &format!("m_keep_{n}"),
            &format!("keep me {n}"),
            now_ms(),
        ));
    }
    for body in &bodies {
        assert_eq!(post_signed(&base, body).await, 200);
    }
    // A signed body for a Page nobody connected is quarantined: it holds the marker too.
    let stray = messenger_from(
        "999999999",
        erased_psid,
        "m_stray",
        &format!("lost {MARKER}"),
        now_ms(),
    );
    assert_eq!(post_signed(&base, &stray).await, 200);
    let events = all_events(&base, &ana).await;
    let (conversation, contact) = ids_of(&events, &format!("my secret is {MARKER} #0"));
    let (status, _) = send(
        reqwest::Method::POST,
        &base,
        &format!("/v1/conversations/{conversation}/notes"),
        &ana,
        json!({"text": format!("customer said {MARKER}")}),
    )
    .await;
    assert_eq!(status, 200);
    let before = head(&base, &ana).await;

    let (status, refused) = send(
        reqwest::Method::POST,
        &base,
        &format!("/v1/contacts/{contact}/erase"),
        &ana,
        json!({"confirm": "yes"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (status, receipt) = send(
        reqwest::Method::POST,
        &base,
        &format!("/v1/contacts/{contact}/erase"),
        &ana,
        json!({"confirm": "ERASE"}),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["events_redacted"], 31, "30 messages and the note");
    assert_eq!(receipt["quarantined_removed"], 1);
    let (status, _) = send(
        reqwest::Method::POST,
        &base,
        &format!("/v1/contacts/{contact}/erase"),
        &ana,
        json!({"confirm": "ERASE"}),
    )
    .await;
    assert_eq!(status, 404, "erased contacts are gone");

    // Meta redelivers one of the erased messages: its tombstone keeps it out.
    assert_eq!(post_signed(&base, &bodies[0]).await, 200);

    let events = all_events(&base, &ana).await;
    let head_now = head(&base, &ana).await;
    assert_eq!(
        head_now,
        before + 1,
        "one contact_erased event, nothing re-added"
    );
    for (i, entry) in events.iter().enumerate() {
        assert_eq!(entry["seq"].as_u64(), Some(i as u64 + 1), "no gap");
    }
    assert!(!serde_json::to_string(&events).unwrap().contains(MARKER));
    let redacted = events
        .iter()
        .filter(|e| e["event"]["type"] == "redacted")
        .count();
    assert_eq!(redacted, 31);
    let erased = &events.last().unwrap()["event"];
    assert_eq!(erased["type"], "contact_erased");
    assert_eq!(erased["receipt"], receipt["receipt"]);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.to_string().contains("keep me"))
            .count(),
        30
    );
    // A desktop replaying from 0 over the stream sees the same tombstones.
    let mut socket = connect_stream(&base, &ana, 0).await;
    let streamed = events_until(&mut socket, head_now).await;
    assert!(!serde_json::to_string(&streamed).unwrap().contains(MARKER));

    assert_eq!(
        files_containing(&data_dir, MARKER.as_bytes()),
        Vec::<String>::new(),
        "while running"
    );
    relay.kill();
    assert_eq!(
        files_containing(&data_dir, MARKER.as_bytes()),
        Vec::<String>::new(),
        "after a kill"
    );
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    let erase: Value = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["action"] == "erase")
        .unwrap();
    assert_eq!(erase["detail"]["receipt"], receipt["receipt"]);
    assert!(
        !audit.contains(erased_psid),
        "the receipt does not keep the person's id"
    );
}

fn vector() -> (String, String) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta/test_vectors.json"),
    )
    .unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    (
        json["app_secret"].as_str().unwrap().to_owned(),
        json["data_deletion_signed_request"]["value"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

async fn deletion_request(base: &str, signed: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{base}/meta/data-deletion/{APP_ID}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("signed_request={}", signed))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metas_data_deletion_callback_erases_the_user_and_refuses_tampering() {
    let (secret, signed) = vector();
    assert_eq!(
        secret, APP_SECRET,
        "the relay's test app uses the vector's secret"
    );
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The vector's user_id as a PSID that wrote to the Page.
    let user = "218471000000001";
    let body = messenger_from(
        PAGE_ID,
        user,
        "m_dd1",
        &format!("delete me {MARKER}"),
        now_ms(),
    );
    assert_eq!(post_signed(&base, &body).await, 200);
    let before = head(&base, &ana).await;

    let (sig, payload) = signed.split_once('.').unwrap();
    let tampered_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            r#"{"algorithm":"HMAC-SHA256","issued_at":1760000000,"user_id":"218471000000002"}"#,
        )
    };
    let sha1 = ventana_relay::deletion::sign(
        APP_SECRET.as_bytes(),
        &json!({"algorithm": "HMAC-SHA1", "user_id": user}),
    );
    for bad in [
        format!("{sig}.{tampered_payload}"),
        format!("{}x.{payload}", &sig[..sig.len() - 1]),
        sha1,
        "not-a-signed-request".to_owned(),
        String::new(),
    ] {
        let (status, answer) = deletion_request(&base, &bad).await;
        assert_eq!(status, 400, "{bad:?} → {answer}");
    }
    assert_eq!(
        head(&base, &ana).await,
        before,
        "refused requests erase nothing"
    );

    let (status, answer) = deletion_request(&base, &signed).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"].as_str().unwrap();
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()) && !code.is_empty());
    let url = answer["url"].as_str().unwrap();
    assert!(url.ends_with(code));
    let page = http().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("complete") && page.contains("messenger"),
        "{page}"
    );
    let events = all_events(&base, &ana).await;
    assert!(!serde_json::to_string(&events).unwrap().contains(MARKER));
    assert_eq!(events.last().unwrap()["event"]["type"], "contact_erased");

    // A body from them for a Page no inbox connected was set aside (quarantined): a
    // request reaches it although no inbox knows them any more.
    let stray = messenger_from(
        "999999999",
        user,
        "m_dd_stray",
        &format!("stray {MARKER}"),
        now_ms(),
    );
    assert_eq!(post_signed(&base, &stray).await, 200);
    let (status, set_aside) = deletion_request(&base, &signed).await;
    assert_eq!(status, 200);
    let page = status_page(&set_aside).await;
    assert!(page.contains("1 message(s)"), "{page}");

    // The same request again finds nothing left and says so.
    let (status, again) = deletion_request(&base, &signed).await;
    assert_eq!(status, 200);
    let page = status_page(&again).await;
    assert!(page.contains("found none"), "{page}");
    let (status, _) = get_json(&base, "/meta/data-deletion/status/NOSUCHCODE", "").await;
    assert_eq!(status, 404);
    relay.kill();
    assert!(files_containing(&data_dir, MARKER.as_bytes()).is_empty());
    assert!(
        files_containing(&data_dir, user.as_bytes()).is_empty(),
        "not even the user id is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_append_only_and_an_edit_is_detected() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    for _ in 0..3 {
        login(&base, "ana@acme.test").await;
    }
    relay.kill();
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    let entries: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.iter().filter(|e| e["action"] == "login").count(), 3);
    assert_eq!(entries[0]["seq"], 1);

    let db = rusqlite::Connection::open(data_dir.join("relay.db")).unwrap();
    let refused = db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 1", []);
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(db.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
    // Someone with the file goes around the triggers: the chain gives them away.
    db.execute_batch(
        "DROP TRIGGER audit_is_append_only_update;
         UPDATE audit SET actor = 'someone else' WHERE seq = 2;",
    )
    .unwrap();
    drop(db);
    let output = cli(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("entry 2"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_still_gate_everything() {
    // The derived events (keywords) come only from verified bodies.
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = messenger_from(PAGE_ID, "7003", "m_sig", "human please", now_ms());
    let wrong = signature_header(b"not the secret", &body);
    assert_eq!(post_webhook(&base, &body, Some(wrong)).await, 403);
    assert_eq!(head(&base, &ana).await, 0);
}

/// `SELECT count(*) …` with one parameter, on the live store (read-only, beside the relay).
fn count(data_dir: &Path, sql: &str, param: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        data_dir.join("relay.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(sql, [param], |row| row.get(0)).unwrap()
}

async fn erase(base: &str, token: &str, contact: &str) -> Value {
    let (status, receipt) = send(
        reqwest::Method::POST,
        base,
        &format!("/v1/contacts/{contact}/erase"),
        token,
        json!({"confirm": "ERASE"}),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    receipt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_webhook_of_an_erased_contact_stores_nothing_about_them() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A number and a name found nowhere else in the data dir.
    let number = "5219988776655";
    let name = "Filomena Quetzal-Brandt";
    let now_s = now_ms() / 1000;
    let body = whatsapp_named(number, name, "wamid.REDELIVERED_1", "hola, soy yo", now_s);
    assert_eq!(post_signed(&base, &body).await, 200);
    let events = all_events(&base, &ana).await;
    let (_, contact) = ids_of(&events, "hola, soy yo");
    erase(&base, &ana, &contact).await;
    let head_after_erasure = head(&base, &ana).await;
    assert_eq!(
        files_containing(&data_dir, number.as_bytes()),
        Vec::<String>::new()
    );

    // Meta redelivers the very same signed body (it had not seen our 200, say).
    assert_eq!(post_signed(&base, &body).await, 200);
    assert_eq!(
        head(&base, &ana).await,
        head_after_erasure,
        "the redelivery adds nothing to the log"
    );
    assert_eq!(
        count(
            &data_dir,
            "SELECT count(*) FROM contacts WHERE external_id = ?1",
            number
        ),
        0,
        "no contact row for the erased number"
    );
    assert_eq!(
        count(
            &data_dir,
            "SELECT count(*) FROM contacts WHERE name = ?1",
            name
        ),
        0,
        "no contact row with the erased name"
    );
    for needle in [number, name] {
        assert_eq!(
            files_containing(&data_dir, needle.as_bytes()),
            Vec::<String>::new(),
            "{needle:?} is in no file of the data dir"
        );
    }

    // A late webhook about one of their erased messages (a reaction to it) is not stored
    // either: it would write their number back for an event about a tombstone.
    let reaction = json!({"object": "whatsapp_business_account", "entry": [{"id": "300000000000001", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": name}, "wa_id": number}],
            "messages": [{"from": number, "id": "wamid.LATE_REACTION_1", "timestamp": now_s.to_string(),
                          "type": "reaction",
                          "reaction": {"message_id": "wamid.REDELIVERED_1", "emoji": "\u{2764}"}}]}}]}]});
    let reaction = serde_json::to_vec(&reaction).unwrap();
    assert_eq!(post_signed(&base, &reaction).await, 200);
    assert_eq!(
        head(&base, &ana).await,
        head_after_erasure,
        "the late reaction adds nothing"
    );
    assert_eq!(
        count(
            &data_dir,
            "SELECT count(*) FROM contacts WHERE external_id = ?1",
            number
        ),
        0,
        "no contact row for a reaction to an erased message"
    );

    // A genuinely new message from the same person is a new contact, stored as usual.
    let again = whatsapp_named(number, name, "wamid.AFTER_ERASURE_1", "otra vez yo", now_s);
    assert_eq!(post_signed(&base, &again).await, 200);
    assert_eq!(head(&base, &ana).await, head_after_erasure + 1);
    let events = all_events(&base, &ana).await;
    let (_, new_contact) = ids_of(&events, "otra vez yo");
    assert_ne!(new_contact, contact, "a new contact, not the erased one");
    relay.kill();
    let db = rusqlite::Connection::open(data_dir.join("relay.db")).unwrap();
    let rows: Vec<(String, Option<String>)> = db
        .prepare("SELECT id, name FROM contacts WHERE external_id = ?1")
        .unwrap()
        .query_map([number], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(new_contact, Some(name.to_owned()))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_and_workflow_changes_racing_an_erasure_leave_nothing_under_the_contact() {
    let (_tmp, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let ana = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Enough history that the erasure's transaction takes a while: the requests below
    // read the conversation while it runs and append after it commits.
    let psid = "7100000000000777";
    let at = now_ms() - 60_000;
    let messaging: Vec<Value> = (0..400)
        .map(|n| {
            json!({"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": at + n,
                   "message": {"mid": format!("m_race_{n}"), "text": format!("race {n}")}})
        })
        .collect();
    let body =
        json!({"object": "page", "entry": [{"id": PAGE_ID, "time": at, "messaging": messaging}]})
            .to_string()
            .into_bytes();
    assert_eq!(post_signed(&base, &body).await, 200);
    let events = all_events(&base, &ana).await;
    let (conversation, contact) = ids_of(&events, "race 0");

    let erased = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut racers = Vec::new();
    for racer in 0..6 {
        let (base, ana, conversation, erased) = (
            base.clone(),
            ana.clone(),
            conversation.clone(),
            std::sync::Arc::clone(&erased),
        );
        racers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut after = 0;
            for n in 0.. {
                let path = format!("/v1/conversations/{conversation}");
                let (status, body) = if (racer + n) % 2 == 0 {
                    send(
                        reqwest::Method::POST,
                        &base,
                        &format!("{path}/notes"),
                        &ana,
                        json!({"text": format!("note {racer}/{n}")}),
                    )
                    .await
                } else {
                    send(
                        reqwest::Method::PATCH,
                        &base,
                        &path,
                        &ana,
                        json!({"labels": [format!("label-{racer}-{n}")]}),
                    )
                    .await
                };
                answers.push((status, body));
                if erased.load(std::sync::atomic::Ordering::SeqCst) {
                    after += 1;
                    if after >= 3 {
                        break;
                    }
                }
            }
            answers
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let receipt = erase(&base, &ana, &contact).await;
    erased.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut not_found = 0;
    for racer in racers {
        for (status, body) in racer.await.unwrap() {
            match status {
                200 => {}
                404 => {
                    assert_eq!(body["code"], "not_found", "{body}");
                    not_found += 1;
                }
                other => panic!("a racing request answered {other}: {body}"),
            }
        }
    }
    assert!(not_found >= 6, "the racers ran on after the erasure");

    let events = all_events(&base, &ana).await;
    let erased_at = events
        .iter()
        .position(|e| e["event"]["type"] == "contact_erased")
        .unwrap();
    assert_eq!(
        events[erased_at]["event"]["receipt"], receipt["receipt"],
        "{receipt}"
    );
    let after: Vec<&Value> = events[erased_at + 1..]
        .iter()
        .filter(|e| {
            e["event"]["contact"] == contact.as_str()
                || e["event"]["conversation"] == conversation.as_str()
        })
        .collect();
    assert!(
        after.is_empty(),
        "appended under the erased contact after its erasure: {after:?}"
    );
    assert!(
        events[..erased_at]
            .iter()
            .filter(|e| e["event"]["contact"] == contact.as_str())
            .all(|e| e["event"]["type"] == "redacted"),
        "what came before is tombstones"
    );
    assert_eq!(
        count(
            &data_dir,
            "SELECT count(*) FROM events WHERE contact_id = ?1 AND type NOT IN ('redacted', 'contact_erased')",
            &contact
        ),
        0
    );
    for table in ["conversations WHERE id", "contacts WHERE id"] {
        let id = if table.starts_with("conv") {
            &conversation
        } else {
            &contact
        };
        assert_eq!(
            count(&data_dir, &format!("SELECT count(*) FROM {table} = ?1"), id),
            0,
            "{table}"
        );
    }
    relay.kill();
}
