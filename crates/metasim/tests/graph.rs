//! The Graph API stand-in over real HTTP: a reqwest client plays the relay's sender, a
//! small axum server on port 0 plays the relay's webhook intake and checks every
//! signature. Each test states one Meta behaviour: the windows and their boundaries, the
//! tags, each injected failure, template paging, `appsecret_proof`, the webhooks after a
//! send, and what the sim records.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::TimeDelta;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ventana_metasim::graph::{
    Failure, GraphSim, GraphSimConfig, Outcome, Template, TemplateCategory, TemplateStatus,
};
use ventana_metasim::{
    Channel, Contact, Conversation, EventKind, Generator, Platform, Universe, signing,
};

const APP_ID: u64 = 1_111_111_111_111_111;
const SECRET: &str = "fake_app_secret_0123456789abcdef";

const PAGE: &str = "100000000000001";
const PAGE_TOKEN: &str = "EAAGpagetoken0001";
/// A Page whose app is not approved for the Human Agent feature.
const PLAIN_PAGE: &str = "100000000000002";
const PLAIN_PAGE_TOKEN: &str = "EAAGpagetoken0002";
const IG: &str = "17840000000000001";
const IG_TOKEN: &str = "IGAAigtoken0001";
const PHONE: &str = "200000000000111";
const WABA: &str = "100000000000999";
const WA_TOKEN: &str = "EAAGsystemusertoken";
const OTHER_PHONE: &str = "200000000000222";
const OTHER_WABA: &str = "100000000000888";
const OTHER_WA_TOKEN: &str = "EAAGothersystemuser";

const PSID: &str = "7000000000000001";
const IGSID: &str = "900000000000001";
const WA_ID: &str = "15550001234";

const HOUR: TimeDelta = TimeDelta::hours(1);
const DAY: TimeDelta = TimeDelta::hours(24);

// ---- the relay's webhook intake --------------------------------------------------------

#[derive(Debug, Clone)]
struct Hook {
    path: String,
    signed: bool,
    body: Value,
}

#[derive(Clone, Default)]
struct Intake {
    hooks: Arc<Mutex<Vec<Hook>>>,
}

impl Intake {
    fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }
}

/// Answers 200 to bodies signed with SECRET, 403 otherwise, and remembers everything.
async fn intake(
    State(intake): State<Intake>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let expected = signing::signature_header(SECRET.as_bytes(), &body);
    let signed = headers
        .get("x-hub-signature-256")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    intake.hooks.lock().unwrap().push(Hook {
        path: format!("/webhooks/meta/{app_id}"),
        signed,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if signed {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

async fn start_intake() -> (String, Intake) {
    let state = Intake::default();
    let app = Router::new()
        .route("/webhooks/meta/{app_id}", post(intake))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

// ---- the world --------------------------------------------------------------------------

struct World {
    sim: GraphSim,
    intake: Intake,
    http: reqwest::Client,
}

async fn world() -> World {
    world_with(GraphSimConfig::default()).await
}

async fn world_with(config: GraphSimConfig) -> World {
    let sim = GraphSim::start(config).await.unwrap();
    let (url, intake) = start_intake().await;
    sim.set_webhook_target(&url, APP_ID, SECRET).unwrap();
    sim.add_page(PAGE, PAGE_TOKEN, true);
    sim.add_page(PLAIN_PAGE, PLAIN_PAGE_TOKEN, false);
    sim.add_instagram(IG, IG_TOKEN, true);
    sim.add_whatsapp(PHONE, WABA, WA_TOKEN);
    sim.add_whatsapp(OTHER_PHONE, OTHER_WABA, OTHER_WA_TOKEN);
    World {
        sim,
        intake,
        http: reqwest::Client::new(),
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn send(&self, path: &str, token: Option<&str>, body: &[u8]) -> Answer {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(path, Some(token), &serde_json::to_vec(&body).unwrap())
            .await
    }

    async fn messenger(&self, body: Value) -> Answer {
        self.post(&format!("/v25.0/{PAGE}/messages"), PAGE_TOKEN, body)
            .await
    }

    async fn instagram(&self, body: Value) -> Answer {
        self.post(&format!("/v25.0/{IG}/messages"), IG_TOKEN, body)
            .await
    }

    async fn whatsapp(&self, body: Value) -> Answer {
        self.post(&format!("/v25.0/{PHONE}/messages"), WA_TOKEN, body)
            .await
    }

    async fn get(
        &self,
        url: &str,
        token: Option<&str>,
    ) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.bytes().await.unwrap().to_vec(), headers)
    }

    async fn get_json(&self, url: &str, token: Option<&str>) -> (u16, Value) {
        let (status, body, _) = self.get(url, token).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The user wrote `ago` before the sim's now.
    fn wrote(&self, channel: &str, user: &str, ago: TimeDelta) {
        self.sim.note_inbound(channel, user, self.sim.now() - ago);
    }

    /// Every webhook the intake got, once the sim has posted everything it queued.
    async fn hooks(&self) -> Vec<Hook> {
        self.sim.settle().await;
        let hooks = self.intake.hooks();
        assert!(hooks.iter().all(|h| h.signed), "every webhook is signed");
        assert!(
            hooks
                .iter()
                .all(|h| h.path == format!("/webhooks/meta/{APP_ID}"))
        );
        hooks
    }
}

fn text(psid: &str, text: &str) -> Value {
    json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}})
}

fn tagged(psid: &str, tag: &str) -> Value {
    json!({"recipient": {"id": psid}, "messaging_type": "MESSAGE_TAG", "tag": tag,
           "message": {"text": "Following up on your order."}})
}

fn wa_text(body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": format!("+{WA_ID}"),
           "type": "text", "text": {"preview_url": false, "body": body}})
}

fn wa_template(name: &str, language: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    json!({"messaging_product": "whatsapp", "to": format!("+{WA_ID}"), "type": "template",
           "template": {"name": name, "language": {"policy": "deterministic", "code": language},
                        "components": [{"type": "body", "parameters": parameters}]}})
}

/// The fixture, without its `_comment`.
fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/meta")
        .join(name);
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    if let Some(map) = value.as_object_mut() {
        map.remove("_comment");
    }
    value
}

fn code(answer: &Answer) -> (u64, Option<u64>) {
    let error = &answer.json["error"];
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(error["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(error["message"].is_string() && error["type"].is_string());
    (
        error["code"].as_u64().unwrap(),
        error["error_subcode"].as_u64(),
    )
}

/// The single status of a WhatsApp status webhook.
fn status_of(hook: &Hook) -> &Value {
    &hook.body["entry"][0]["changes"][0]["value"]["statuses"][0]
}

fn messaging_of(hook: &Hook) -> &Value {
    &hook.body["entry"][0]["messaging"][0]
}

// ---- Messenger ----------------------------------------------------------------------------

#[tokio::test]
async fn a_messenger_reply_in_the_window_is_answered_echoed_delivered_and_read() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    let mut body = text(PSID, "Your parcel ships Monday.");
    body["metadata"] = json!("ventana:key-1");
    let answer = w.messenger(body.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["recipient_id"], PSID);
    let mid = answer.json["message_id"].as_str().unwrap().to_owned();
    assert!(mid.starts_with("m_"), "{mid}");
    assert_eq!(
        answer.headers["content-type"],
        "application/json; charset=UTF-8"
    );

    let hooks = w.hooks().await;
    assert_eq!(hooks.len(), 3);
    assert!(hooks.iter().all(|h| h.body["object"] == "page"));
    let echo = messaging_of(&hooks[0]);
    assert_eq!(echo["sender"]["id"], PAGE);
    assert_eq!(echo["recipient"]["id"], PSID);
    assert_eq!(echo["message"]["is_echo"], true);
    assert_eq!(echo["message"]["mid"], mid.as_str());
    assert_eq!(echo["message"]["metadata"], "ventana:key-1");
    assert_eq!(echo["message"]["app_id"], APP_ID);
    assert_eq!(echo["message"]["text"], "Your parcel ships Monday.");
    let delivery = messaging_of(&hooks[1]);
    assert_eq!(delivery["sender"]["id"], PSID);
    assert_eq!(delivery["delivery"]["mids"][0], mid.as_str());
    let echo_at = echo["timestamp"].as_i64().unwrap();
    assert!(delivery["delivery"]["watermark"].as_i64().unwrap() >= echo_at);
    let read = messaging_of(&hooks[2]);
    assert!(read["read"]["watermark"].as_i64().unwrap() >= echo_at);

    let sends = w.sim.sends();
    assert_eq!(sends.len(), 1);
    let send = &sends[0];
    assert_eq!(
        (
            send.platform,
            send.channel.as_str(),
            send.recipient.as_str()
        ),
        (Platform::Messenger, PAGE, PSID)
    );
    assert_eq!(send.body, body);
    assert_eq!(send.messaging_type.as_deref(), Some("RESPONSE"));
    assert_eq!(send.metadata.as_deref(), Some("ventana:key-1"));
    assert_eq!(send.message_id, mid);
    assert_eq!(w.sim.send_count("ventana:key-1"), 1);
    assert_eq!(w.sim.send_count("ventana:other"), 0);
}

#[tokio::test]
async fn the_standard_window_is_half_open_at_24_hours() {
    let w = world().await;
    w.sim.pause_clock();
    w.wrote(PAGE, PSID, DAY - TimeDelta::milliseconds(1));
    assert_eq!(w.messenger(text(PSID, "just in time")).await.status, 200);
    w.sim.advance(TimeDelta::milliseconds(1));
    // Exactly 24 hours after the user's message: outside, with the fixture's error.
    let late = w.messenger(text(PSID, "too late")).await;
    assert_eq!(code(&late), (10, Some(2_018_278)));
    assert_eq!(
        late.json["error"]["message"],
        fixture("messenger_error_outside_window.json")["error"]["message"]
    );
    assert_eq!(late.json["error"]["type"], "OAuthException");
    // UPDATE is no different; a new message from the user reopens the window.
    let mut update = text(PSID, "update");
    update["messaging_type"] = json!("UPDATE");
    assert_eq!(
        code(&w.messenger(update.clone()).await),
        (10, Some(2_018_278))
    );
    w.wrote(PAGE, PSID, TimeDelta::zero());
    assert_eq!(w.messenger(update).await.status, 200);
    assert_eq!(w.sim.sends().len(), 2);
}

#[tokio::test]
async fn human_agent_extends_the_window_to_7_days_and_no_further() {
    let w = world().await;
    w.sim.pause_clock();
    w.wrote(PAGE, PSID, DAY * 3);
    assert_eq!(
        code(&w.messenger(text(PSID, "plain")).await),
        (10, Some(2_018_278))
    );
    // Other tags open nothing past 24 hours.
    assert_eq!(
        code(&w.messenger(tagged(PSID, "ACCOUNT_UPDATE")).await),
        (10, Some(2_018_278))
    );
    let fixture_body = fixture("messenger_send_human_agent_request.json");
    assert_eq!(w.messenger(fixture_body).await.status, 200);

    w.wrote(
        PAGE,
        "7000000000000002",
        DAY * 7 - TimeDelta::milliseconds(1),
    );
    assert_eq!(
        w.messenger(tagged("7000000000000002", "HUMAN_AGENT"))
            .await
            .status,
        200
    );
    w.sim.advance(TimeDelta::milliseconds(1));
    assert_eq!(
        code(&w.messenger(tagged("7000000000000002", "HUMAN_AGENT")).await),
        (10, Some(2_018_278))
    );
    let sends = w.sim.sends();
    assert_eq!(sends.len(), 2);
    assert!(sends.iter().all(|s| s.tag.as_deref() == Some("HUMAN_AGENT")
        && s.messaging_type.as_deref() == Some("MESSAGE_TAG")));
}

#[tokio::test]
async fn human_agent_needs_the_feature_even_inside_the_window() {
    let w = world().await;
    for ago in [HOUR, DAY * 2] {
        w.wrote(PLAIN_PAGE, PSID, ago);
        let answer = w
            .post(
                &format!("/v25.0/{PLAIN_PAGE}/messages"),
                PLAIN_PAGE_TOKEN,
                tagged(PSID, "HUMAN_AGENT"),
            )
            .await;
        assert_eq!(code(&answer), (10, None), "{ago}");
        assert_eq!(
            answer.json["error"]["message"],
            "(#10) Application does not have permission for this action"
        );
    }
    // Approving the channel is all it takes.
    w.sim.set_human_agent_approved(PLAIN_PAGE, true);
    let answer = w
        .post(
            &format!("/v25.0/{PLAIN_PAGE}/messages"),
            PLAIN_PAGE_TOKEN,
            tagged(PSID, "HUMAN_AGENT"),
        )
        .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_user_the_page_never_met_is_no_matching_user() {
    let w = world().await;
    assert_eq!(
        code(&w.messenger(text("7999999999999999", "hi")).await),
        (100, Some(2_018_001))
    );
    // Known but long silent: the window error instead.
    w.sim.add_contact(PAGE, "7999999999999999");
    assert_eq!(
        code(&w.messenger(text("7999999999999999", "hi")).await),
        (10, Some(2_018_278))
    );
}

#[tokio::test]
async fn attachments_are_echoed_with_a_cdn_url_that_serves_without_auth() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    let body = json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "image", "payload": {"url": "https://example.invalid/label.jpg", "is_reusable": true}}}});
    assert_eq!(w.messenger(body).await.status, 200);
    let hooks = w.hooks().await;
    let attachment = &messaging_of(&hooks[0])["message"]["attachments"][0];
    assert_eq!(attachment["type"], "image");
    let url = attachment["payload"]["url"].as_str().unwrap();
    assert!(url.starts_with(&w.sim.cdn_base_url()), "{url}");
    let (status, bytes, headers) = w.get(url, None).await;
    assert_eq!(status, 200);
    assert!(!bytes.is_empty());
    assert_eq!(headers["content-type"], "image/jpeg");
    let file = w
        .sim
        .add_cdn_file("v/label.png", "image/png", vec![137, 80, 78, 71]);
    assert_eq!(w.get(&file, None).await.1, [137, 80, 78, 71]);
}

// ---- Instagram ----------------------------------------------------------------------------

#[tokio::test]
async fn instagram_has_its_own_window_error_echo_and_seen_receipt() {
    let w = world().await;
    w.sim.pause_clock();
    w.wrote(IG, IGSID, DAY);
    // Instagram Login bodies may leave messaging_type out (reference §5b).
    let plain = json!({"recipient": {"id": IGSID}, "message": {"text": "Yes we do!"}});
    assert_eq!(
        code(&w.instagram(plain.clone()).await),
        (10, Some(2_534_022))
    );
    assert_eq!(w.instagram(tagged(IGSID, "HUMAN_AGENT")).await.status, 200);
    w.wrote(IG, IGSID, HOUR);
    let mut with_metadata = plain;
    with_metadata["metadata"] = json!("ventana:ig-1");
    let answer = w.instagram(with_metadata).await;
    assert_eq!(answer.status, 200);
    let mid = answer.json["message_id"].as_str().unwrap().to_owned();
    assert!(mid.starts_with("aWdfZAG1faXRlbTo"), "{mid}");

    let hooks = w.hooks().await;
    // Per send: the echo on `messages`, then `read {mid}`; no delivery events.
    assert_eq!(hooks.len(), 4);
    assert!(hooks.iter().all(|h| h.body["object"] == "instagram"));
    let echo = messaging_of(&hooks[2]);
    assert_eq!(echo["sender"]["id"], IG);
    assert_eq!(echo["message"]["is_echo"], true);
    assert_eq!(echo["message"]["mid"], mid.as_str());
    assert!(echo["message"].get("metadata").is_none());
    assert!(echo["message"].get("app_id").is_none());
    assert_eq!(messaging_of(&hooks[3])["read"]["mid"], mid.as_str());
    // The metadata is still recorded as sent.
    assert_eq!(w.sim.send_count("ventana:ig-1"), 1);
}

// ---- WhatsApp -----------------------------------------------------------------------------

#[tokio::test]
async fn a_whatsapp_reply_in_the_window_gets_sent_delivered_read_with_callback_data() {
    let w = world().await;
    w.wrote(PHONE, WA_ID, HOUR);
    let mut body = fixture("whatsapp_send_text_request.json");
    body["biz_opaque_callback_data"] = json!("ventana:wa-1");
    let answer = w.whatsapp(body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    // The fixture's response shape, exactly.
    let shape = fixture("whatsapp_send_response.json");
    assert_eq!(answer.json["messaging_product"], shape["messaging_product"]);
    assert_eq!(answer.json["contacts"], shape["contacts"]);
    let wamid = answer.json["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(wamid.starts_with("wamid."));
    assert_eq!(answer.json["messages"][0].as_object().unwrap().len(), 1);

    let hooks = w.hooks().await;
    let statuses: Vec<&Value> = hooks.iter().map(status_of).collect();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    for status in &statuses {
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], WA_ID);
        assert_eq!(status["biz_opaque_callback_data"], "ventana:wa-1");
    }
    assert_eq!(statuses[0]["pricing"]["type"], "free_customer_service");
    assert!(statuses[2].get("pricing").is_none());
    let value = &hooks[0].body["entry"][0]["changes"][0]["value"];
    assert_eq!(hooks[0].body["entry"][0]["id"], WABA);
    assert_eq!(value["metadata"]["phone_number_id"], PHONE);
    assert_eq!(w.sim.send_count("ventana:wa-1"), 1);
}

#[tokio::test]
async fn whatsapp_free_form_outside_the_window_is_accepted_then_fails_131047() {
    let w = world().await;
    w.sim.pause_clock();
    w.wrote(PHONE, WA_ID, DAY);
    let mut body = wa_text("Are you still there?");
    body["biz_opaque_callback_data"] = json!("ventana:late");
    let answer = w.whatsapp(body).await;
    assert_eq!(answer.status, 200, "Meta accepts it and fails it later");
    let wamid = answer.json["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hooks = w.hooks().await;
    assert_eq!(hooks.len(), 1);
    let status = status_of(&hooks[0]);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["id"], wamid.as_str());
    assert_eq!(status["biz_opaque_callback_data"], "ventana:late");
    // The fixture's failed status, field for field.
    let expected = &fixture("whatsapp_statuses_sent_read_failed.json")["entry"][0]["changes"][0]["value"]
        ["statuses"][2]["errors"];
    assert_eq!(&status["errors"], expected);
    assert_eq!(w.sim.sends()[0].failure, Some(131_047));
    // One second inside the window: delivered.
    w.wrote(PHONE, WA_ID, DAY - TimeDelta::seconds(1));
    assert_eq!(w.whatsapp(wa_text("Here now")).await.status, 200);
    let hooks = w.hooks().await;
    assert_eq!(status_of(&hooks[1])["status"], "sent");
}

#[tokio::test]
async fn templates_go_out_any_time_and_marketing_respects_opt_outs() {
    let w = world().await;
    // Never wrote: the fixture's utility template still goes out.
    let fixture_body = fixture("whatsapp_send_template_request.json");
    assert_eq!(w.whatsapp(fixture_body).await.status, 200);
    let hooks = w.hooks().await;
    assert_eq!(hooks.len(), 3);
    assert_eq!(status_of(&hooks[0])["pricing"]["category"], "utility");

    // The user stops marketing messages, as a user_preferences webhook delivered through
    // the sim says.
    let channel = Channel::WhatsApp {
        waba_id: WABA.into(),
        phone_number_id: PHONE.into(),
        display_phone_number: "15550009999".into(),
    };
    let conversation = Conversation::new(channel, Contact::new(WA_ID));
    let mut generator = Generator::with_clock(Universe::demo(1), 5, w.sim.clock());
    let stop = generator.single(&conversation, EventKind::OptOut).unwrap();
    assert_eq!(w.sim.deliver(&stop).await.unwrap(), 200);

    // winter_sale has an IMAGE header: one header parameter besides the body's two.
    let mut marketing = wa_template("winter_sale", "en_US", &["Ana", "30%"]);
    marketing["template"]["components"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.invalid/sale.jpg"}}]}));
    assert_eq!(w.whatsapp(marketing.clone()).await.status, 200);
    let hooks = w.hooks().await;
    let failed = status_of(hooks.last().unwrap());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"][0]["code"], 131_050);
    // Utility templates still go through; resuming lets marketing through again.
    let utility = wa_template("support_followup_v1", "es", &["Ana", "#12"]);
    assert_eq!(w.whatsapp(utility).await.status, 200);
    w.sim.opt_in_marketing(PHONE, WA_ID);
    assert_eq!(w.whatsapp(marketing).await.status, 200);
    let failures: Vec<Option<u32>> = w.sim.sends().iter().map(|s| s.failure).collect();
    assert_eq!(failures, [None, Some(131_050), None, None]);
    let templates: Vec<(String, TemplateCategory)> = w
        .sim
        .sends()
        .iter()
        .map(|s| {
            let t = s.template.as_ref().unwrap();
            (t.name.clone(), t.category)
        })
        .collect();
    assert_eq!(
        templates[1],
        ("winter_sale".to_owned(), TemplateCategory::Marketing)
    );
}

#[tokio::test]
async fn template_sends_are_checked_against_the_wabas_templates() {
    let w = world().await;
    let cases = [
        (wa_template("no_such_template", "en_US", &[]), 132_001),
        // Exists in en_US and es only.
        (
            wa_template("support_followup_v1", "fr", &["a", "b"]),
            132_001,
        ),
        // Pending and rejected templates cannot be sent.
        (
            wa_template("loyalty_program_launch", "en_US", &["a"]),
            132_001,
        ),
        (wa_template("last_chance_deal", "en_US", &["a"]), 132_001),
        (
            wa_template("support_followup_v1", "en_US", &["only one"]),
            132_000,
        ),
        (
            wa_template("support_followup_v1", "en_US", &["a", "b", "c"]),
            132_000,
        ),
    ];
    for (body, expected) in cases {
        let answer = w.whatsapp(body.clone()).await;
        assert_eq!(code(&answer), (expected, None), "{body}");
        assert_eq!(
            answer.json["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
    }
    let missing = w
        .whatsapp(wa_template("no_such_template", "en_US", &[]))
        .await;
    assert_eq!(
        missing.json["error"]["error_data"]["details"],
        "template name (no_such_template) does not exist in en_US"
    );
    let count = w
        .whatsapp(wa_template("support_followup_v1", "en_US", &["x"]))
        .await;
    assert_eq!(
        count.json["error"]["error_data"]["details"],
        "body: number of localizable_params (1) does not match the expected number of params (2)"
    );
    // A paused template has its own code.
    let paused = Template::new(
        "999",
        "paused_promo",
        "en_US",
        TemplateCategory::Marketing,
        TemplateStatus::Paused,
        "Hi",
    );
    w.sim.set_templates(WABA, vec![paused]);
    assert_eq!(
        code(&w.whatsapp(wa_template("paused_promo", "en_US", &[])).await),
        (132_015, None)
    );
    assert!(w.sim.sends().is_empty());
}

// ---- template listing ---------------------------------------------------------------------

#[tokio::test]
async fn template_listing_pages_with_cursors_until_next_runs_out() {
    let w = world().await;
    let first = w.url(&format!(
        "/v25.0/{WABA}/message_templates?fields=name,language,status,category,components&limit=3"
    ));
    let mut url = Some(first);
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(next) = url {
        // The next links carry the access token, as Graph's do; follow them bare.
        let token = (pages == 0).then_some(WA_TOKEN);
        let (status, page) = w.get_json(&next, token).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        for template in data {
            for field in ["id", "name", "language", "status", "category", "components"] {
                assert!(template.get(field).is_some(), "{field} in {template}");
            }
            seen.push((
                template["name"].as_str().unwrap().to_owned(),
                template["language"].as_str().unwrap().to_owned(),
            ));
        }
        assert!(page["paging"]["cursors"]["before"].is_string());
        assert!(page["paging"]["cursors"]["after"].is_string());
        assert_eq!(page["paging"].get("previous").is_some(), pages > 1);
        url = page["paging"]["next"].as_str().map(str::to_owned);
    }
    let defaults = w.sim.templates(WABA);
    assert_eq!(pages, defaults.len().div_ceil(3));
    assert_eq!(seen.len(), defaults.len());
    let expected: Vec<(String, String)> = defaults
        .iter()
        .map(|t| (t.name.clone(), t.language.clone()))
        .collect();
    assert_eq!(seen, expected);
    let statuses: Vec<TemplateStatus> = defaults.iter().map(|t| t.status).collect();
    assert!(statuses.contains(&TemplateStatus::Pending));
    assert!(statuses.contains(&TemplateStatus::Rejected));
}

#[tokio::test]
async fn template_listing_filters_limits_fields_and_refuses_strangers() {
    let w = world().await;
    let (status, page) = w
        .get_json(
            &w.url(&format!(
                "/v25.0/{WABA}/message_templates?fields=name&status=APPROVED&limit=100"
            )),
            Some(WA_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 6);
    assert!(page["paging"].get("next").is_none());
    for template in data {
        let keys: Vec<&String> = template.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "name"]);
    }
    // A bad cursor, a bad limit, another WABA's token.
    let path = format!("/v25.0/{WABA}/message_templates");
    for (query, token, expected) in [
        ("?after=garbage", WA_TOKEN, (100, None)),
        ("?limit=-3", WA_TOKEN, (100, None)),
        ("", OTHER_WA_TOKEN, (100, Some(33))),
    ] {
        let (status, body) = w
            .get_json(&w.url(&format!("{path}{query}")), Some(token))
            .await;
        assert_eq!(status, 400, "{query} {body}");
        assert_eq!(
            (
                body["error"]["code"].as_u64().unwrap(),
                body["error"]["error_subcode"].as_u64()
            ),
            expected
        );
    }
}

// ---- tokens and proofs --------------------------------------------------------------------

#[tokio::test]
async fn tokens_are_checked_like_graph_checks_them() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    let body = serde_json::to_vec(&text(PSID, "hi")).unwrap();
    let path = format!("/v25.0/{PAGE}/messages");
    let missing = w.send(&path, None, &body).await;
    assert_eq!(code(&missing), (104, None));
    let unknown = w.send(&path, Some("EAAGnotatoken"), &body).await;
    assert_eq!(code(&unknown), (190, None));
    assert!(
        unknown.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("OAuth \"Facebook Platform\" \"invalid_token\"")
    );
    // Another Page's token may not send as this Page.
    let foreign = w.send(&path, Some(PLAIN_PAGE_TOKEN), &body).await;
    assert_eq!(code(&foreign), (100, Some(33)));
    assert_eq!(foreign.json["error"]["type"], "GraphMethodException");
    // The token as a query parameter, `me`, and no version all work.
    let query = w
        .send(&format!("{path}?access_token={PAGE_TOKEN}"), None, &body)
        .await;
    assert_eq!(query.status, 200);
    assert_eq!(
        w.send("/v25.0/me/messages", Some(PAGE_TOKEN), &body)
            .await
            .status,
        200
    );
    let unversioned = w
        .send(&format!("/{PAGE}/messages"), Some(PAGE_TOKEN), &body)
        .await;
    assert_eq!(unversioned.status, 200);
    assert_eq!(unversioned.headers["facebook-api-version"], "v25.0");
    let v26 = w
        .send(&format!("/v26.0/{PAGE}/messages"), Some(PAGE_TOKEN), &body)
        .await;
    assert_eq!(v26.headers["facebook-api-version"], "v26.0");

    // Revoked: 190/460 until the Page is connected again with a new token.
    assert!(w.sim.revoke_token(PAGE));
    assert_eq!(
        code(&w.send(&path, Some(PAGE_TOKEN), &body).await),
        (190, Some(460))
    );
    w.sim.add_page(PAGE, "EAAGfreshtoken", true);
    assert_eq!(
        w.send(&path, Some("EAAGfreshtoken"), &body).await.status,
        200
    );
    assert_eq!(
        code(&w.send(&path, Some(PAGE_TOKEN), &body).await),
        (190, Some(460))
    );
    assert_eq!(w.sim.token(PAGE).as_deref(), Some("EAAGfreshtoken"));
}

fn proof(secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn appsecret_proof_is_checked_when_present_and_when_required() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    let body = serde_json::to_vec(&text(PSID, "hi")).unwrap();
    let path = format!("/v25.0/{PAGE}/messages");
    let good = format!("{path}?appsecret_proof={}", proof(SECRET, PAGE_TOKEN));
    assert_eq!(w.send(&good, Some(PAGE_TOKEN), &body).await.status, 200);
    for wrong in [
        proof("another secret", PAGE_TOKEN),
        proof(SECRET, "other"),
        "xyz".into(),
    ] {
        let answer = w
            .send(
                &format!("{path}?appsecret_proof={wrong}"),
                Some(PAGE_TOKEN),
                &body,
            )
            .await;
        assert_eq!(code(&answer), (100, None));
        assert_eq!(
            answer.json["error"]["message"],
            "Invalid appsecret_proof provided in the API argument"
        );
    }
    assert_eq!(w.sim.sends().len(), 1);

    let strict = world_with(GraphSimConfig {
        require_appsecret_proof: true,
        ..GraphSimConfig::default()
    })
    .await;
    strict.wrote(PAGE, PSID, HOUR);
    let answer = strict.send(&path, Some(PAGE_TOKEN), &body).await;
    assert_eq!(code(&answer), (100, None));
    assert_eq!(
        answer.json["error"]["message"],
        "API calls from the server require an appsecret_proof argument"
    );
    assert_eq!(
        strict.send(&good, Some(PAGE_TOKEN), &body).await.status,
        200
    );
}

// ---- injected failures --------------------------------------------------------------------

#[tokio::test]
async fn rate_limits_are_meta_errors_and_not_sends() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    w.wrote(PHONE, WA_ID, HOUR);
    for code_wanted in [4u32, 613] {
        w.sim
            .fail_next(PAGE, 1, Failure::RateLimit { code: code_wanted });
        let answer = w.messenger(text(PSID, "hi")).await;
        assert_eq!(code(&answer), (u64::from(code_wanted), None));
        assert_eq!(answer.json["error"]["is_transient"], true);
    }
    for code_wanted in [80_007u32, 130_429, 131_056] {
        w.sim
            .fail_next(PHONE, 1, Failure::RateLimit { code: code_wanted });
        let answer = w.whatsapp(wa_text("hi")).await;
        assert_eq!(code(&answer), (u64::from(code_wanted), None));
        assert!(answer.json["error"]["error_data"]["details"].is_string());
    }
    assert!(
        w.sim.sends().is_empty(),
        "a rate-limited request is not a send"
    );
    assert!(w.hooks().await.is_empty());
    // The failures were used up: the next sends go through.
    assert_eq!(w.messenger(text(PSID, "hi")).await.status, 200);
    assert_eq!(w.whatsapp(wa_text("hi")).await.status, 200);
    let injected: Vec<_> = w
        .sim
        .attempts()
        .into_iter()
        .filter_map(|a| a.injected)
        .collect();
    assert_eq!(injected.len(), 5);
}

#[tokio::test]
async fn token_expiry_server_errors_and_undeliverable_users() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    w.wrote(PHONE, WA_ID, HOUR);
    w.sim.fail_next(PAGE, 1, Failure::TokenExpired);
    let expired = w.messenger(text(PSID, "hi")).await;
    assert_eq!(code(&expired), (190, Some(463)));
    assert!(
        expired.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Error validating access token: Session has expired on ")
    );

    w.sim.fail_next(PAGE, 2, Failure::ServerError);
    for _ in 0..2 {
        let answer = w.messenger(text(PSID, "hi")).await;
        assert_eq!(answer.status, 500);
        assert_eq!(answer.json["error"]["code"], 2);
        assert_eq!(answer.json["error"]["is_transient"], true);
    }

    // Messenger refuses an unavailable person at once; WhatsApp accepts, then fails.
    w.sim.fail_next(PAGE, 1, Failure::Undeliverable);
    assert_eq!(
        code(&w.messenger(text(PSID, "hi")).await),
        (551, Some(1_545_041))
    );
    assert!(w.sim.sends().is_empty());
    w.sim.fail_next(PHONE, 1, Failure::Undeliverable);
    let answer = w.whatsapp(wa_text("hi")).await;
    assert_eq!(answer.status, 200);
    let hooks = w.hooks().await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(status_of(&hooks[0])["errors"][0]["code"], 131_026);
    assert_eq!(w.sim.sends()[0].failure, Some(131_026));
}

#[tokio::test]
async fn a_timeout_after_sending_still_sends_and_one_before_does_not() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let url = w.url(&format!("/v25.0/{PAGE}/messages"));
    let mut body = text(PSID, "did this go out?");
    body["metadata"] = json!("ventana:timeout-1");

    w.sim.fail_next(
        PAGE,
        1,
        Failure::Timeout {
            respond_after: Duration::from_millis(1500),
            sent: true,
        },
    );
    let started = Instant::now();
    let result = impatient
        .post(&url)
        .bearer_auth(PAGE_TOKEN)
        .json(&body)
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < Duration::from_millis(1500));
    // It went out: recorded, and the echo carrying the key arrives anyway.
    assert_eq!(w.sim.send_count("ventana:timeout-1"), 1);
    let hooks = w.hooks().await;
    assert_eq!(
        messaging_of(&hooks[0])["message"]["metadata"],
        "ventana:timeout-1"
    );

    // A patient client gets the real answer, late.
    w.sim.fail_next(
        PAGE,
        1,
        Failure::Timeout {
            respond_after: Duration::from_millis(400),
            sent: true,
        },
    );
    let started = Instant::now();
    let late = w.messenger(text(PSID, "slow")).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(late.status, 200);

    w.sim.fail_next(
        PAGE,
        1,
        Failure::Timeout {
            respond_after: Duration::from_millis(1500),
            sent: false,
        },
    );
    body["metadata"] = json!("ventana:timeout-2");
    let result = impatient
        .post(&url)
        .bearer_auth(PAGE_TOKEN)
        .json(&body)
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert_eq!(w.sim.send_count("ventana:timeout-2"), 0);
    assert_eq!(w.sim.sends().len(), 2);
}

// ---- outcomes, inbound, records -----------------------------------------------------------

#[tokio::test]
async fn outcomes_choose_which_webhooks_follow_a_send() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    w.wrote(PHONE, WA_ID, HOUR);
    let kinds = |hooks: &[Hook]| -> Vec<String> {
        hooks
            .iter()
            .map(|h| {
                let event = messaging_of(h);
                if let Some(status) = status_of(h)["status"].as_str() {
                    status.to_owned()
                } else if event["message"]["is_echo"] == true {
                    "echo".to_owned()
                } else if event.get("delivery").is_some() {
                    "delivery".to_owned()
                } else {
                    "read".to_owned()
                }
            })
            .collect()
    };
    let cases: [(Outcome, &[&str], &[&str]); 5] = [
        (Outcome::Silent, &[], &[]),
        (Outcome::Sent, &["echo"], &["sent"]),
        (
            Outcome::Delivered,
            &["echo", "delivery"],
            &["sent", "delivered"],
        ),
        (
            Outcome::Read,
            &["echo", "delivery", "read"],
            &["sent", "delivered", "read"],
        ),
        (Outcome::Failed { code: 131_049 }, &["echo"], &["failed"]),
    ];
    let mut before = 0;
    for (outcome, messenger, whatsapp) in cases {
        w.sim.set_outcome(PAGE, outcome);
        w.sim.set_outcome(PHONE, outcome);
        assert_eq!(w.messenger(text(PSID, "hi")).await.status, 200);
        let hooks = w.hooks().await;
        assert_eq!(kinds(&hooks[before..]), messenger, "{outcome:?}");
        before = hooks.len();
        assert_eq!(w.whatsapp(wa_text("hi")).await.status, 200);
        let hooks = w.hooks().await;
        assert_eq!(kinds(&hooks[before..]), whatsapp, "{outcome:?}");
        before = hooks.len();
    }
    let posted = w.sim.posted_webhooks();
    assert_eq!(posted.len(), before);
    assert!(posted.iter().all(|p| p.status == Some(200)));
}

#[tokio::test]
async fn inbound_webhooks_delivered_through_the_sim_open_windows() {
    let w = world().await;
    let conversation = Conversation::new(
        Channel::Messenger {
            page_id: PAGE.into(),
        },
        Contact::new("7000000000000077"),
    );
    let mut generator = Generator::with_clock(Universe::demo(1), 3, w.sim.clock());
    // Before the user writes, the Page does not know them.
    assert_eq!(
        code(&w.messenger(text("7000000000000077", "hi")).await),
        (100, Some(2_018_001))
    );
    let inbound = generator.text(&conversation, "Where is my order?").unwrap();
    assert_eq!(w.sim.deliver(&inbound).await.unwrap(), 200);
    assert_eq!(
        w.sim.last_inbound(PAGE, "7000000000000077"),
        Some(inbound.events[0].timestamp)
    );
    assert_eq!(
        w.messenger(text("7000000000000077", "On its way"))
            .await
            .status,
        200
    );
    // A day later the window has closed.
    w.sim.advance(DAY + HOUR);
    assert_eq!(
        code(&w.messenger(text("7000000000000077", "Still there?")).await),
        (10, Some(2_018_278))
    );
    // The relay got the inbound message too, signed.
    let hooks = w.hooks().await;
    assert_eq!(
        messaging_of(&hooks[0])["message"]["text"],
        "Where is my order?"
    );
}

#[tokio::test]
async fn a_universe_sim_knows_its_channels_contacts_and_tokens() {
    let universe = Universe::demo(4);
    let sim = GraphSim::for_universe(&universe, GraphSimConfig::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for platform in [Platform::Messenger, Platform::Instagram] {
        let conversation = universe.conversation(platform, 0, 0).unwrap();
        let channel = conversation.channel.external_id();
        let token = sim.token(channel).unwrap();
        let prefix = if platform == Platform::Instagram {
            "IGAA"
        } else {
            "EAAG"
        };
        assert!(token.starts_with(prefix));
        let send = |sim: &GraphSim| {
            http.post(format!("{}/v25.0/{channel}/messages", sim.base_url()))
                .bearer_auth(&token)
                .json(&text(&conversation.contact.id, "hi"))
                .send()
        };
        // A known contact who has not written lately: the window error, not "no user".
        let stale: Value = send(&sim).await.unwrap().json().await.unwrap();
        assert_eq!(stale["error"]["code"], 10, "{platform}");
        sim.note_inbound(channel, &conversation.contact.id, sim.now());
        assert_eq!(send(&sim).await.unwrap().status(), 200);
    }
    let wa = universe.conversation(Platform::WhatsApp, 0, 0).unwrap();
    let Channel::WhatsApp { waba_id, .. } = &wa.channel else {
        unreachable!()
    };
    assert_eq!(sim.templates(waba_id).len(), 8);
    // No webhook target: sends still work, webhooks are recorded as not posted.
    sim.settle().await;
    let posted = sim.posted_webhooks();
    assert!(!posted.is_empty());
    assert!(
        posted
            .iter()
            .all(|p| p.status.is_none() && p.error.is_some())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn attempts_record_every_request_with_its_error_code() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    assert_eq!(w.messenger(text(PSID, "ok")).await.status, 200);
    assert_eq!(
        w.messenger(text("7999999999999999", "who?")).await.status,
        400
    );
    w.sim.fail_next(PAGE, 1, Failure::RateLimit { code: 613 });
    assert_eq!(w.messenger(text(PSID, "again")).await.status, 400);
    let attempts = w.sim.attempts();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.method == "POST"
        && a.path == format!("/v25.0/{PAGE}/messages")
        && a.channel.as_deref() == Some(PAGE)));
    assert_eq!(attempts[0].http_status, 200);
    assert_eq!(
        attempts[0].message_id.as_deref(),
        Some(w.sim.sends()[0].message_id.as_str())
    );
    let errors: Vec<_> = attempts
        .iter()
        .map(|a| a.error.map(|e| (e.code, e.subcode)))
        .collect();
    assert_eq!(
        errors,
        [None, Some((100, Some(2_018_001))), Some((613, None))]
    );
    assert_eq!(attempts[2].injected, Some(Failure::RateLimit { code: 613 }));
}

// ---- media ----------------------------------------------------------------------------------

#[tokio::test]
async fn whatsapp_media_is_described_and_served_to_the_bearer_only() {
    let w = world().await;
    let bytes = b"%PDF-1.4 fake invoice".to_vec();
    let media_id = w.sim.add_media(PHONE, "application/pdf", bytes.clone());
    let (status, info) = w
        .get_json(&w.url(&format!("/v25.0/{media_id}")), Some(WA_TOKEN))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["messaging_product"], "whatsapp");
    assert_eq!(info["mime_type"], "application/pdf");
    assert_eq!(info["file_size"], bytes.len());
    assert_eq!(info["id"], media_id.as_str());
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(&bytes)));
    let url = info["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/media-download/", w.sim.base_url())));
    let (status, served, headers) = w.get(url, Some(WA_TOKEN)).await;
    assert_eq!((status, served), (200, bytes));
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(w.get(url, None).await.0, 401);
    assert_eq!(w.get(url, Some(OTHER_WA_TOKEN)).await.0, 401);
    // Another WABA's token cannot even see it.
    let (status, error) = w
        .get_json(&w.url(&format!("/v25.0/{media_id}")), Some(OTHER_WA_TOKEN))
        .await;
    assert_eq!(
        (status, error["error"]["error_subcode"].as_u64()),
        (400, Some(33))
    );
}

#[tokio::test]
async fn whatsapp_media_urls_expire_after_5_minutes_and_media_ids_after_7_days() {
    let w = world().await;
    w.sim.pause_clock();
    let bytes = b"\x89PNG fake photo".to_vec();
    let media_id = w.sim.add_media(PHONE, "image/png", bytes.clone());
    let info_url = w.url(&format!("/v25.0/{media_id}"));
    let (status, info) = w.get_json(&info_url, Some(WA_TOKEN)).await;
    assert_eq!(status, 200, "{info}");
    let url = info["url"].as_str().unwrap().to_owned();
    w.sim.advance(TimeDelta::minutes(4));
    assert_eq!(
        w.get(&url, Some(WA_TOKEN)).await.1,
        bytes,
        "fresh for 5 minutes"
    );
    // A URL whose expiry was edited is not one Meta signed.
    let stretched = url.replace("ext=", "ext=9");
    assert_eq!(w.get(&stretched, Some(WA_TOKEN)).await.0, 404);
    w.sim.advance(TimeDelta::minutes(1));
    assert_eq!(w.get(&url, Some(WA_TOKEN)).await.0, 404, "expired");
    // Asking again gives a fresh URL.
    let (status, again) = w.get_json(&info_url, Some(WA_TOKEN)).await;
    assert_eq!(status, 200, "{again}");
    let fresh = again["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    assert_eq!(w.get(fresh, Some(WA_TOKEN)).await.1, bytes);

    // phone_number_id must be the media's own number.
    let (status, _) = w
        .get_json(
            &format!("{info_url}?phone_number_id={PHONE}"),
            Some(WA_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    let other = w.sim.add_media(OTHER_PHONE, "image/png", bytes.clone());
    let (status, error) = w
        .get_json(
            &w.url(&format!("/v25.0/{other}?phone_number_id={PHONE}")),
            Some(OTHER_WA_TOKEN),
        )
        .await;
    assert_eq!((status, error["error"]["code"].as_u64()), (400, Some(100)));

    // A webhook's media id lives 7 days.
    w.sim.advance(TimeDelta::days(7));
    let (status, error) = w.get_json(&info_url, Some(WA_TOKEN)).await;
    assert_eq!(
        (status, error["error"]["error_subcode"].as_u64()),
        (400, Some(33)),
        "{error}"
    );
}

#[tokio::test]
async fn signed_cdn_urls_expire_like_metas_cdn() {
    let w = world().await;
    w.sim.pause_clock();
    let url = w.sim.add_cdn_file_expiring(
        "v/t1.15752-9/voice_n.mp4",
        "audio/mp4",
        b"fake audio".to_vec(),
        HOUR,
    );
    assert!(url.contains("?oh=") && url.contains("&oe="), "{url}");
    let (status, bytes, headers) = w.get(&url, None).await;
    assert_eq!((status, bytes.as_slice()), (200, &b"fake audio"[..]));
    assert_eq!(headers["content-type"], "audio/mp4");
    let unsigned = url.split('?').next().unwrap();
    let (status, body, _) = w.get(unsigned, None).await;
    assert_eq!(
        (status, body.as_slice()),
        (403, &b"URL signature mismatch"[..])
    );
    w.sim.advance(HOUR);
    let (status, body, _) = w.get(&url, None).await;
    assert_eq!(
        (status, body.as_slice()),
        (403, &b"URL signature expired"[..])
    );
}

// ---- robustness -----------------------------------------------------------------------------

#[tokio::test]
async fn malformed_requests_get_meta_400s_never_a_crash() {
    let w = world().await;
    w.wrote(PAGE, PSID, HOUR);
    w.wrote(PHONE, WA_ID, HOUR);
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not json".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"{\"recipient\":".to_vec(),
        deep.into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        br#"{"recipient":{"id":"7000000000000001"},"messaging_type":"RESPONSE","message":{"text":7}}"#
            .to_vec(),
        br#"{"recipient":{"id":["x"]},"messaging_type":"RESPONSE","message":{"text":"x"}}"#.to_vec(),
        br#"{"messaging_product":"whatsapp","to":"+15550001234","type":"template","template":{"name":"support_followup_v1","language":{"code":"en_US"},"components":{"type":"body"}}}"#.to_vec(),
        br#"{"messaging_product":"whatsapp","to":"+15550001234","type":"template","template":{"name":"support_followup_v1","language":{"code":"en_US"},"components":[{"type":"button","parameters":[]}]}}"#.to_vec(),
    ];
    for path in [
        format!("/v25.0/{PAGE}/messages"),
        format!("/v25.0/{IG}/messages"),
        format!("/v25.0/{PHONE}/messages"),
    ] {
        let token = match path {
            ref p if p.contains(PAGE) => PAGE_TOKEN,
            ref p if p.contains(IG) => IG_TOKEN,
            _ => WA_TOKEN,
        };
        for body in &bodies {
            let answer = w.send(&path, Some(token), body).await;
            assert_eq!(
                answer.status,
                400,
                "{path} {}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(answer.json["error"]["code"], 100, "{}", answer.json);
        }
    }
    // Paths and methods Graph has no edge for.
    let (status, body) = w.get_json(&w.url("/v25.0/a/b/c/d"), Some(PAGE_TOKEN)).await;
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(2500)));
    let (status, body) = w
        .get_json(&w.url(&format!("/v25.0/{PAGE}/messages")), Some(PAGE_TOKEN))
        .await;
    assert_eq!(
        (status, body["error"]["error_subcode"].as_u64()),
        (400, Some(33))
    );
    let answer = w.send("/v25.0/", Some(PAGE_TOKEN), b"{}").await;
    assert_eq!(answer.status, 400);
    assert!(w.sim.sends().is_empty());
    // Still serving.
    assert_eq!(w.messenger(text(PSID, "still here")).await.status, 200);
}

#[tokio::test]
async fn webhooks_keep_their_order_across_many_sends() {
    let w = world().await;
    w.wrote(PHONE, WA_ID, HOUR);
    let mut wamids = Vec::new();
    for i in 0..10 {
        let mut body = wa_text(&format!("message {i}"));
        body["biz_opaque_callback_data"] = json!(format!("ventana:{i}"));
        let answer = w.whatsapp(body).await;
        wamids.push(
            answer.json["messages"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let hooks = w.hooks().await;
    assert_eq!(hooks.len(), 30);
    for (i, wamid) in wamids.iter().enumerate() {
        let mine: Vec<&str> = hooks
            .iter()
            .map(status_of)
            .filter(|s| s["id"] == wamid.as_str())
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(mine, ["sent", "delivered", "read"], "message {i}");
        assert_eq!(w.sim.send_count(&format!("ventana:{i}")), 1);
    }
    let unique: std::collections::HashSet<&String> = wamids.iter().collect();
    assert_eq!(unique.len(), 10);
}
