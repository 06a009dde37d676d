//! Replies end to end: the real relay binary sends through metasim's Graph API stand-in,
//! which enforces Meta's windows and tags, answers with Meta's error bodies, and posts the
//! echoes and statuses back to the relay.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use ventana_metasim::graph::GraphSim;
use ventana_metasim::{Failure, Outcome};

const PAGE_TOKEN: &str = "EAAG-page-token-for-tests";
const WA_TOKEN: &str = "EAAG-whatsapp-token-for-tests";
const IG_TOKEN: &str = "IGAA-instagram-token-for-tests";
const WABA_ID: &str = "300000000000001";

struct World {
    _tmp: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    sim: GraphSim,
    relay: Option<RelayProcess>,
    base: String,
    admin: String,
    agent: String,
    bot: String,
}

fn start_relay(data_dir: &Path, sim: &GraphSim) -> RelayProcess {
    let url = sim.base_url();
    RelayProcess::start_with(
        data_dir,
        &[
            "--graph-url",
            &url,
            "--instagram-graph-url",
            &url,
            "--retry-base-ms",
            "20",
        ],
    )
}

async fn token_of(base: &str, email: &str) -> String {
    login(base, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn world() -> World {
    let (tmp, data_dir) = data_dir();
    set_up(&data_dir);
    cli_ok(
        &data_dir,
        &[
            "agent",
            "add",
            "--tenant",
            "acme",
            "--email",
            "bo@acme.test",
            "--role",
            "agent",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    set_tokens(
        &data_dir,
        &[
            (PAGE_ID, PAGE_TOKEN),
            (IG_ID, IG_TOKEN),
            (PHONE_NUMBER_ID, WA_TOKEN),
        ],
    );
    let bot = cli_ok(
        &data_dir,
        &["bot-key", "add", "--tenant", "acme", "--name", "bot"],
        "",
    );
    let sim = graph_sim().await;
    sim.add_page(PAGE_ID, PAGE_TOKEN, true);
    sim.add_instagram(IG_ID, IG_TOKEN, true);
    sim.add_whatsapp(PHONE_NUMBER_ID, WABA_ID, WA_TOKEN);
    let relay = start_relay(&data_dir, &sim);
    let base = relay.base.clone();
    sim.set_webhook_target(&base, APP_ID.parse().unwrap(), APP_SECRET)
        .unwrap();
    let admin = token_of(&base, "ana@acme.test").await;
    let agent = token_of(&base, "bo@acme.test").await;
    // The admin approves HUMAN_AGENT on Messenger and names the WABA.
    let channels = get_json(&base, "/v1/channels", &admin).await.1;
    for channel in channels.as_array().unwrap() {
        let change = match channel["kind"].as_str().unwrap() {
            "whatsapp" => json!({"waba_id": WABA_ID}),
            _ => json!({"human_agent_approved": true}),
        };
        let id = channel["id"].as_str().unwrap();
        let (status, body) = request(
            reqwest::Method::PATCH,
            &base,
            &format!("/v1/channels/{id}"),
            &admin,
            None,
            change,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    World {
        _tmp: tmp,
        data_dir,
        sim,
        relay: Some(relay),
        base,
        admin,
        agent,
        bot,
    }
}

async fn request(
    method: reqwest::Method,
    base: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl World {
    /// A customer message `ago` in the past, known to the relay and to metasim; returns
    /// the conversation id.
    async fn customer_wrote(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        ago: TimeDelta,
    ) -> String {
        let at = Utc::now() - ago;
        let body = match channel {
            PHONE_NUMBER_ID => {
                json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                    "contacts": [{"profile": {"name": "Rosa"}, "wa_id": user}],
                    "messages": [{"from": user, "id": format!("wamid.{user}{}", at.timestamp_millis()),
                                  "timestamp": at.timestamp().to_string(), "type": "text", "text": {"body": text}}]}}]}]})
            }
            _ => {
                let object = if channel == IG_ID {
                    "instagram"
                } else {
                    "page"
                };
                json!({"object": object, "entry": [{"id": channel, "time": at.timestamp_millis(), "messaging": [{
                    "sender": {"id": user}, "recipient": {"id": channel}, "timestamp": at.timestamp_millis(),
                    "message": {"mid": format!("m_{user}_{}", at.timestamp_millis()), "text": text}}]}]})
            }
        };
        let bytes = body.to_string().into_bytes();
        assert_eq!(post_signed(&self.base, &bytes).await, 200);
        self.sim.note_inbound(channel, user, at);
        let events = get_json(&self.base, "/v1/events?limit=5000", &self.admin)
            .await
            .1;
        events["entries"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|e| &e["event"])
            .find(|e| e["content"]["body"] == text)
            .unwrap()["conversation"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn reply(
        &self,
        token: &str,
        conversation: &str,
        key: &str,
        draft: Value,
    ) -> (u16, Value) {
        request(
            reqwest::Method::POST,
            &self.base,
            &format!("/v1/conversations/{conversation}/replies"),
            token,
            Some(key),
            draft,
        )
        .await
    }

    async fn events(&self) -> Vec<Value> {
        let page = get_json(&self.base, "/v1/events?limit=5000", &self.admin)
            .await
            .1;
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect()
    }

    fn sends_to(&self, channel: &str) -> usize {
        self.sim
            .sends()
            .iter()
            .filter(|s| s.channel == channel)
            .count()
    }

    fn attempts(&self) -> usize {
        self.sim
            .attempts()
            .iter()
            .filter(|a| a.method == "POST")
            .count()
    }
}

fn text(body: &str) -> Value {
    json!({"kind": "text", "text": body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_within_24_hours_goes_out_as_a_response_once_and_is_delivered_and_read() {
    let world = world().await;
    let conversation = world
        .customer_wrote(
            PAGE_ID,
            "7000000000000001",
            "is my order shipped?",
            TimeDelta::hours(2),
        )
        .await;
    let (status, reply) = world
        .reply(&world.agent, &conversation, "k-within", text("Yes, today!"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "sent");
    assert_eq!(reply["sent_as"], "standard");
    let sends = world.sim.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].messaging_type.as_deref(), Some("RESPONSE"));
    assert_eq!(sends[0].tag, None);
    assert_eq!(sends[0].metadata.as_deref(), Some("ventana:k-within"));
    assert_eq!(
        reply["message_id"].as_str(),
        Some(sends[0].message_id.as_str())
    );

    world.sim.settle().await;
    let events = world.events().await;
    let sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message_sent")
        .collect();
    assert_eq!(sent.len(), 1, "the echo is not shown twice: {sent:?}");
    assert_eq!(sent[0]["sender"]["by"], "agent");
    assert_eq!(sent[0]["idempotency_key"], "k-within");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "message_status")
        .map(|e| e["status"]["state"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"delivered") && statuses.contains(&"read"),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_30_hours_a_human_reply_is_tagged_a_bots_is_refused_and_after_8_days_nothing_goes() {
    let world = world().await;
    let late = world
        .customer_wrote(PAGE_ID, "7000000000000002", "hello?", TimeDelta::hours(30))
        .await;
    let (status, window) = get_json(
        &world.base,
        &format!("/v1/conversations/{late}/window"),
        &world.agent,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(window["mode"], "human_agent");

    let (status, reply) = world
        .reply(&world.agent, &late, "k-tagged", text("Sorry for the wait"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["sent_as"], "human_agent_tag");
    let send = world.sim.sends().pop().unwrap();
    assert_eq!(send.messaging_type.as_deref(), Some("MESSAGE_TAG"));
    assert_eq!(send.tag.as_deref(), Some("HUMAN_AGENT"));

    let attempts = world.attempts();
    let (status, refused) = world
        .reply(&world.bot, &late, "k-bot", text("automated"))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "reply_refused");
    assert!(
        refused["message"].as_str().unwrap().contains("human agent"),
        "{refused}"
    );

    let old = world
        .customer_wrote(PAGE_ID, "7000000000000003", "anyone?", TimeDelta::days(8))
        .await;
    let (status, refused) = world.reply(&world.agent, &old, "k-old", text("hi")).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("7 days"),
        "{refused}"
    );
    assert_eq!(world.attempts(), attempts, "refusals never reach Meta");
    assert_eq!(world.sends_to(PAGE_ID), 1);

    // Instagram follows the same rules.
    let instagram = world
        .customer_wrote(IG_ID, "17841400000000009", "hola", TimeDelta::hours(30))
        .await;
    let (status, reply) = world
        .reply(&world.agent, &instagram, "k-ig", text("¡Hola!"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        world.sim.sends().pop().unwrap().tag.as_deref(),
        Some("HUMAN_AGENT")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_after_24_hours_takes_only_an_approved_template() {
    let world = world().await;
    let conversation = world
        .customer_wrote(
            PHONE_NUMBER_ID,
            "5215512345678",
            "tengo una duda",
            TimeDelta::hours(30),
        )
        .await;
    let attempts = world.attempts();
    let (status, refused) = world
        .reply(&world.agent, &conversation, "k-free", text("hola"))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["message"],
        "The 24-hour window closed 6 h ago: send an approved template."
    );
    assert_eq!(
        world.attempts(),
        attempts,
        "refused before any call to Meta"
    );

    let channels = get_json(&world.base, "/v1/channels", &world.agent).await.1;
    let whatsapp = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "whatsapp")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, templates) = request(
        reqwest::Method::POST,
        &world.base,
        &format!("/v1/channels/{whatsapp}/templates/refresh"),
        &world.agent,
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{templates}");
    let names: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"support_followup_v1"));
    assert!(
        !names.contains(&"loyalty_program_launch"),
        "pending templates are not offered"
    );
    let followup = templates
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "support_followup_v1" && t["language"] == "es")
        .unwrap();
    assert_eq!(followup["parameters"], 2);
    assert!(
        followup["body"].as_str().unwrap().contains("{{2}}"),
        "the body text is given so the desktop never reads Meta's components: {followup}"
    );

    let (status, invalid) = world
        .reply(&world.agent, &conversation, "k-tpl-bad", json!({"kind": "template", "name": "support_followup_v1", "language": "es", "parameters": ["Rosa"]}))
        .await;
    assert_eq!(status, 422, "{invalid}");
    let (status, sent) = world
        .reply(&world.agent, &conversation, "k-tpl", json!({"kind": "template", "name": "support_followup_v1", "language": "es", "parameters": ["Rosa", "#4521"]}))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "sent");
    assert_eq!(sent["sent_as"], "template");
    let send = world.sim.sends().pop().unwrap();
    assert_eq!(send.template.unwrap().name, "support_followup_v1");
    // The log carries the text the customer reads, so previews and bubbles show it.
    let events = world.events().await;
    let logged = events
        .iter()
        .find(|e| e["type"] == "message_sent" && e["idempotency_key"] == "k-tpl")
        .unwrap();
    assert_eq!(logged["content"]["name"], "support_followup_v1");
    assert_eq!(
        logged["content"]["text"],
        "Hola Rosa, te escribimos por tu solicitud #4521. Responde a este mensaje para continuar la conversación."
    );
    assert_eq!(
        send.biz_opaque_callback_data.as_deref(),
        Some("ventana:k-tpl")
    );

    // Marketing is refused once the contact opts out (here by typing STOP).
    world
        .customer_wrote(
            PHONE_NUMBER_ID,
            "5215512345678",
            "STOP",
            TimeDelta::hours(25),
        )
        .await;
    let attempts = world.attempts();
    let (status, refused) = world
        .reply(&world.agent, &conversation, "k-mkt", json!({"kind": "template", "name": "rebajas_invierno", "language": "es", "parameters": ["Rosa", "20%"]}))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("opted out"));
    assert_eq!(world.attempts(), attempts);
    world.sim.settle().await;
    let events = world.events().await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "message_status" && e["status"]["state"] == "read")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sends_once_across_retries_and_a_restart() {
    let mut world = world().await;
    let conversation = world
        .customer_wrote(PAGE_ID, "7000000000000004", "hi", TimeDelta::minutes(5))
        .await;
    let draft = text("only once");
    for _ in 0..3 {
        let (status, reply) = world
            .reply(&world.agent, &conversation, "k-once", draft.clone())
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["state"], "sent");
    }
    let (status, reused) = world
        .reply(
            &world.agent,
            &conversation,
            "k-once",
            text("something else"),
        )
        .await;
    assert_eq!(status, 409, "{reused}");
    world.sim.settle().await;

    world.relay.take().unwrap().kill();
    let relay = start_relay(&world.data_dir, &world.sim);
    world.base = relay.base.clone();
    world
        .sim
        .set_webhook_target(&world.base, APP_ID.parse().unwrap(), APP_SECRET)
        .unwrap();
    world.relay = Some(relay);
    let (status, reply) = world
        .reply(&world.agent, &conversation, "k-once", draft)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "sent");
    assert_eq!(world.sim.send_count("ventana:k-once"), 1);
    let (status, view) = get_json(
        &world.base,
        &format!("/v1/conversations/{conversation}/replies/k-once"),
        &world.agent,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["attempts"], 1);
    let events = world.events().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "message_sent")
            .count(),
        1
    );
    let (status, _) = world
        .reply(&world.agent, &conversation, "", text("x"))
        .await;
    assert_eq!(status, 400, "a key is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_until_sent() {
    let world = world().await;
    let conversation = world
        .customer_wrote(
            PHONE_NUMBER_ID,
            "5215500000001",
            "hola",
            TimeDelta::minutes(1),
        )
        .await;
    world
        .sim
        .fail_next(PHONE_NUMBER_ID, 1, Failure::RateLimit { code: 130429 });
    world
        .sim
        .fail_next(PHONE_NUMBER_ID, 1, Failure::RateLimit { code: 80007 });
    let page_conversation = world
        .customer_wrote(PAGE_ID, "7000000000000005", "hey", TimeDelta::minutes(1))
        .await;
    world
        .sim
        .fail_next(PAGE_ID, 2, Failure::RateLimit { code: 613 });
    let (status, reply) = world
        .reply(&world.agent, &conversation, "k-rate", text("¡Hola!"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "sent");
    assert_eq!(reply["attempts"], 3);
    let (status, reply) = world
        .reply(&world.agent, &page_conversation, "k-rate-2", text("Hi!"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "sent");
    assert_eq!(world.sim.send_count("ventana:k-rate"), 1);
    assert_eq!(world.sim.send_count("ventana:k-rate-2"), 1);
    let refused: Vec<u32> = world
        .sim
        .attempts()
        .iter()
        .filter_map(|a| a.error.map(|e| e.code))
        .collect();
    assert_eq!(refused, vec![130429, 80007, 613, 613]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_marks_the_channel_until_an_admin_reconnects_it() {
    let world = world().await;
    world.sim.set_outcome(PAGE_ID, Outcome::Sent);
    let conversation = world
        .customer_wrote(PAGE_ID, "7000000000000006", "hello", TimeDelta::minutes(3))
        .await;
    world.sim.fail_next(PAGE_ID, 1, Failure::TokenExpired);
    let (status, reply) = world
        .reply(&world.agent, &conversation, "k-190", text("hi"))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "failed");
    assert_eq!(reply["failure"]["code"], 190);
    let channels = get_json(&world.base, "/v1/channels", &world.agent).await.1;
    let page = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "messenger")
        .unwrap()
        .clone();
    assert!(page["needs_reconnection"].is_string(), "{page}");
    let events = world.events().await;
    assert!(events.iter().any(
        |e| e["type"] == "channel_updated" && e["connection"]["state"] == "needs_reconnection"
    ));
    assert!(events.iter().any(|e| e["type"] == "message_status"
        && e["target"]["scope"] == "reply"
        && e["status"]["failure"]["code"] == 190));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "escalated" && e["reason"]["rule"] == "send_failed")
    );

    let (status, refused) = world
        .reply(&world.agent, &conversation, "k-190-b", text("hi again"))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "channel_needs_reconnection");

    // The admin pastes a new token: the channel is connected again, and the failed reply
    // may be retried under its own key.
    let id = page["id"].as_str().unwrap();
    let (status, body) = request(
        reqwest::Method::PATCH,
        &world.base,
        &format!("/v1/channels/{id}"),
        &world.admin,
        None,
        json!({"access_token": PAGE_TOKEN}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["needs_reconnection"].is_null());
    let (status, retried) = world
        .reply(&world.agent, &conversation, "k-190", text("hi"))
        .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["state"], "sent");
    assert_eq!(world.sim.send_count("ventana:k-190"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_in_flight_when_its_contact_is_erased_fails_and_recreates_nothing() {
    let mut world = world().await;
    let user = "5215577001122";
    let conversation = world
        .customer_wrote(
            PHONE_NUMBER_ID,
            user,
            "borren mis datos",
            TimeDelta::minutes(3),
        )
        .await;
    let contact = world
        .events()
        .await
        .iter()
        .find(|e| e["conversation"] == conversation.as_str())
        .unwrap()["contact"]
        .as_str()
        .unwrap()
        .to_owned();
    // Meta takes the send but answers only after 2 s; no webhooks follow it.
    world.sim.set_outcome(PHONE_NUMBER_ID, Outcome::Silent);
    world.sim.fail_next(
        PHONE_NUMBER_ID,
        1,
        Failure::Timeout {
            respond_after: std::time::Duration::from_secs(2),
            sent: true,
        },
    );
    let sending = {
        let (base, agent, conversation) = (
            world.base.clone(),
            world.agent.clone(),
            conversation.clone(),
        );
        tokio::spawn(async move {
            request(
                reqwest::Method::POST,
                &base,
                &format!("/v1/conversations/{conversation}/replies"),
                &agent,
                Some("k-erased"),
                text("Claro, ya mismo"),
            )
            .await
        })
    };
    for _ in 0..500 {
        if world.sim.send_count("ventana:k-erased") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        world.sim.send_count("ventana:k-erased"),
        1,
        "the call is in flight"
    );
    let (status, receipt) = request(
        reqwest::Method::POST,
        &world.base,
        &format!("/v1/contacts/{contact}/erase"),
        &world.admin,
        None,
        json!({"confirm": "ERASE"}),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["replies_removed"], 1, "{receipt}");

    // Meta's answer comes back after the erasure: the reply ends as failed, for a reason
    // the agent can read, and nothing about the contact is recorded again.
    let (status, reply) = sending.await.unwrap();
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["state"], "failed", "{reply}");
    let reason = reply["failure"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("contact erased"), "{reply}");
    let check = |events: &[Value]| {
        let erased_at = events
            .iter()
            .position(|e| e["type"] == "contact_erased")
            .expect("the erasure is in the log");
        let after: Vec<&Value> = events[erased_at + 1..]
            .iter()
            .filter(|e| {
                e["contact"] == contact.as_str() || e["conversation"] == conversation.as_str()
            })
            .collect();
        assert!(after.is_empty(), "recorded after the erasure: {after:?}");
        assert!(
            !serde_json::to_string(events)
                .unwrap()
                .contains("Claro, ya mismo"),
            "the reply's text is in no event"
        );
    };
    check(&world.events().await);
    let (status, _) = get_json(
        &world.base,
        &format!("/v1/conversations/{conversation}"),
        &world.admin,
    )
    .await;
    assert_eq!(status, 404, "the conversation stays erased");
    let (status, _) = get_json(
        &world.base,
        &format!("/v1/conversations/{conversation}/replies/k-erased"),
        &world.agent,
    )
    .await;
    assert_eq!(status, 404, "the reply went with its conversation");

    // A restart finds nothing to resume: nothing is sent again, nothing re-created.
    let head_before = head(&world.base, &world.admin).await;
    world.relay.take().unwrap().kill();
    let relay = start_relay(&world.data_dir, &world.sim);
    world.base = relay.base.clone();
    world.relay = Some(relay);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(world.sim.send_count("ventana:k-erased"), 1);
    assert_eq!(head(&world.base, &world.admin).await, head_before);
    check(&world.events().await);
    let db = rusqlite::Connection::open_with_flags(
        world.data_dir.join("relay.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    for sql in [
        "SELECT count(*) FROM conversations WHERE contact_id = ?1",
        "SELECT count(*) FROM contacts WHERE id = ?1",
    ] {
        let found: i64 = db.query_row(sql, [&contact], |row| row.get(0)).unwrap();
        assert_eq!(found, 0, "{sql}");
    }
    let found: i64 = db
        .query_row(
            "SELECT count(*) FROM contacts WHERE external_id = ?1",
            [user],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(found, 0, "no contact row for the erased number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_quotes_a_message_of_its_conversation_and_nothing_else() {
    let world = world().await;
    let wa = world
        .customer_wrote(
            PHONE_NUMBER_ID,
            "5215512340001",
            "¿tienen talla M?",
            TimeDelta::hours(1),
        )
        .await;
    let page = world
        .customer_wrote(
            PAGE_ID,
            "7000000000000031",
            "and in blue?",
            TimeDelta::hours(1),
        )
        .await;
    let id_of = |events: &[Value], text: &str| -> String {
        events
            .iter()
            .find(|e| e["type"] == "message_received" && e["content"]["body"] == text)
            .unwrap()["message_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let events = world.events().await;
    let (wamid, mid) = (
        id_of(&events, "¿tienen talla M?"),
        id_of(&events, "and in blue?"),
    );

    // WhatsApp: `context.message_id`, in exactly the body Meta documents.
    let (status, sent) = world
        .reply(
            &world.agent,
            &wa,
            "k-quote-wa",
            json!({"kind": "text", "text": "Sí, la tenemos", "reply_to": wamid}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let send = world.sim.sends().pop().unwrap();
    assert_eq!(
        send.body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+5215512340001",
            "biz_opaque_callback_data": "ventana:k-quote-wa",
            "type": "text",
            "text": {"preview_url": false, "body": "Sí, la tenemos"},
            "context": {"message_id": wamid},
        })
    );
    // Messenger: the Send API's top-level `reply_to.mid`.
    let (status, sent) = world
        .reply(
            &world.agent,
            &page,
            "k-quote-m",
            json!({"kind": "text", "text": "Yes, navy", "reply_to": mid}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let send = world.sim.sends().pop().unwrap();
    assert_eq!(
        send.body,
        json!({
            "recipient": {"id": "7000000000000031"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Yes, navy"},
            "reply_to": {"mid": mid},
            "metadata": "ventana:k-quote-m",
        })
    );
    // The log records what each sent message quotes.
    let events = world.events().await;
    let quoted: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == "message_sent")
        .map(|e| {
            (
                e["idempotency_key"].as_str().unwrap(),
                e["reply_to"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        quoted.contains(&("k-quote-wa", wamid.as_str())),
        "{quoted:?}"
    );
    assert!(quoted.contains(&("k-quote-m", mid.as_str())), "{quoted:?}");

    // A message of another conversation, or one nobody has seen, cannot be quoted: a
    // clear refusal, no call to Meta, nothing recorded under the key.
    let attempts = world.attempts();
    for (key, quoted) in [
        ("k-quote-other", mid.as_str()),
        ("k-quote-none", "wamid.nope"),
    ] {
        let (status, refused) = world
            .reply(
                &world.agent,
                &wa,
                key,
                json!({"kind": "text", "text": "hola", "reply_to": quoted}),
            )
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["code"], "unknown_quoted_message", "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("not a message of this conversation"),
            "{refused}"
        );
        let (status, _) = get_json(
            &world.base,
            &format!("/v1/conversations/{wa}/replies/{key}"),
            &world.agent,
        )
        .await;
        assert_eq!(status, 404, "nothing was stored under {key}");
    }
    assert_eq!(
        world.attempts(),
        attempts,
        "refused before any call to Meta"
    );
}
