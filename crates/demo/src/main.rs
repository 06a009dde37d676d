//! `ventana-demo`: what the README's run command starts before the app.
//!
//! A relay on an embedded SQLite data dir, with metasim standing in for Meta on both sides:
//! one tenant with a Messenger Page, an Instagram account and a WhatsApp number, customers
//! who wrote just now, 30 hours ago (HUMAN_AGENT on Messenger, templates only on WhatsApp)
//! and 9 days ago (closed), an escalation, a photo, and a reply Meta refused. The app's data
//! dir is signed in to it (secrets in the OS keyring), and a new customer message arrives
//! every few seconds while it runs.

// A command-line program: it talks to its user on standard output.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use clap::Parser;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ventana_inbox::notify::{Notice, Notifier, NotifyError};
use ventana_inbox::secrets::KeyringStore;
use ventana_inbox::{Engine, EngineConfig};
use ventana_metasim::{Failure, GraphSim, GraphSimConfig};
use ventana_relay::server::{self, Relay, Settings};
use ventana_relay::store::Role;

const APP_ID: &str = "1234567890";
const APP_SECRET: &str = "demo_app_secret_0123456789abcdef";
const PAGE_ID: &str = "100000000000001";
const IG_ID: &str = "17840000000000001";
const PHONE_NUMBER_ID: &str = "200000000000111";
const WABA_ID: &str = "300000000000222";
const ADMIN: &str = "ana@acme.test";
const AGENT: &str = "bo@acme.test";
/// A demo's password, printed at start; the demo relay listens on loopback only.
const PASSWORD: &str = "ventana-demo";

#[derive(Debug, Parser)]
#[command(about = "A demo relay with metasim traffic, and the app signed in to it")]
struct Args {
    /// Where the relay's data and the app's data live.
    #[arg(long, default_value = "target/demo")]
    data_dir: PathBuf,
    /// The relay's port on 127.0.0.1.
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Seconds between live customer messages (0: none).
    #[arg(long, default_value_t = 8)]
    every: u64,
}

/// The demo signs the app in with an engine of its own; it shows nothing.
#[derive(Debug)]
struct Silent;

impl Notifier for Silent {
    fn show(&self, _: &Notice) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let relay_dir = args.data_dir.join("relay");
    let app_dir = args.data_dir.join("app");
    let fresh = !relay_dir.join("relay.db").exists();

    let sim = GraphSim::start(GraphSimConfig {
        app_id: APP_ID.parse()?,
        app_secret: APP_SECRET.into(),
        require_appsecret_proof: true,
        ..Default::default()
    })
    .await
    .context("starting metasim")?;
    sim.add_page(PAGE_ID, "EAAG-demo-page", true);
    sim.add_instagram(IG_ID, "IGQ-demo-instagram", true);
    sim.add_whatsapp(PHONE_NUMBER_ID, WABA_ID, "EAAG-demo-whatsapp");

    let mut settings = Settings::default();
    settings.graph.facebook_url = sim.base_url();
    settings.graph.instagram_url = sim.base_url();
    let relay = Relay::open(&relay_dir, settings).context("opening the relay's data dir")?;
    if fresh {
        seed(&relay)?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("port {} is taken: pass --port", args.port))?;
    let base = format!("http://127.0.0.1:{}", args.port);
    sim.set_webhook_target(&base, APP_ID.parse()?, APP_SECRET)?;
    let server = tokio::spawn(server::run(listener, relay, async {
        let _ = tokio::signal::ctrl_c().await;
    }));

    let demo = Demo {
        http: reqwest::Client::new(),
        base: base.clone(),
    };
    if fresh {
        demo.scenario(&sim).await?;
    }
    sign_in_app(&app_dir, &base).await?;
    println!(
        "ventana-demo: relay at {base}; the app at {} is signed in",
        app_dir.display()
    );
    println!("  sign in elsewhere as {ADMIN} or {AGENT}, password {PASSWORD}");

    if args.every > 0 {
        tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                tokio::time::sleep(Duration::from_secs(args.every)).await;
                n += 1;
                let (user, text) = LIVE[n as usize % LIVE.len()];
                let _ = demo
                    .messenger(
                        user,
                        &format!("live-{}-{n}", Utc::now().timestamp()),
                        text,
                        TimeDelta::zero(),
                    )
                    .await;
            }
        });
    }
    server.await??;
    Ok(())
}

/// The tenant, its channels, its people.
fn seed(relay: &Relay) -> Result<()> {
    use ventana_protocol::ChannelKind;
    use ventana_relay::admin;
    let state = &relay.state;
    admin::add_tenant(state, "Acme Shoes")?;
    admin::add_meta_app(state, APP_ID, APP_SECRET, Some("demo-verify"))?;
    for (kind, id, name, waba) in [
        (
            ChannelKind::Messenger,
            PAGE_ID,
            "Acme Shoes (Facebook)",
            None,
        ),
        (ChannelKind::Instagram, IG_ID, "@acmeshoes", None),
        (
            ChannelKind::WhatsApp,
            PHONE_NUMBER_ID,
            "Acme Shoes WhatsApp",
            Some(WABA_ID),
        ),
    ] {
        admin::add_channel(state, "Acme Shoes", kind, id, APP_ID, Some(name), waba)?;
    }
    admin::set_channel_token(state, "Acme Shoes", PAGE_ID, "EAAG-demo-page")?;
    admin::set_channel_token(state, "Acme Shoes", IG_ID, "IGQ-demo-instagram")?;
    admin::set_channel_token(state, "Acme Shoes", PHONE_NUMBER_ID, "EAAG-demo-whatsapp")?;
    admin::add_agent(state, "Acme Shoes", ADMIN, Role::Admin, PASSWORD)?;
    admin::add_agent(state, "Acme Shoes", AGENT, Role::Agent, PASSWORD)?;
    Ok(())
}

/// New customer messages while the demo runs.
const LIVE: &[(&str, &str)] = &[
    ("7100000000000101", "Hi! Do you ship to Canada?"),
    ("7100000000000102", "¿Cuánto tarda el envío a Valencia?"),
    ("7100000000000103", "Can I talk to a human please"),
    ("7100000000000104", "The sole came off after two weeks :("),
];

struct Demo {
    http: reqwest::Client,
    base: String,
}

impl Demo {
    async fn post(&self, body: &Value) -> Result<()> {
        let bytes = body.to_string().into_bytes();
        let signature = ventana_metasim::signing::signature_header(APP_SECRET.as_bytes(), &bytes);
        let status = self
            .http
            .post(format!("{}/webhooks/meta/{APP_ID}", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(bytes)
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "the relay answered {status}");
        Ok(())
    }

    async fn messenger(&self, user: &str, mid: &str, text: &str, ago: TimeDelta) -> Result<()> {
        self.page_like("page", PAGE_ID, user, mid, text, ago).await
    }

    async fn page_like(
        &self,
        object: &str,
        channel: &str,
        user: &str,
        mid: &str,
        text: &str,
        ago: TimeDelta,
    ) -> Result<()> {
        let at = (Utc::now() - ago).timestamp_millis();
        self.post(
            &json!({"object": object, "entry": [{"id": channel, "time": at, "messaging": [{
            "sender": {"id": user}, "recipient": {"id": channel}, "timestamp": at,
            "message": {"mid": mid, "text": text}}]}]}),
        )
        .await
    }

    async fn whatsapp(
        &self,
        user: &str,
        name: &str,
        id: &str,
        message: Value,
        ago: TimeDelta,
    ) -> Result<()> {
        let at = (Utc::now() - ago).timestamp();
        let mut message = message;
        message["from"] = json!(user);
        message["id"] = json!(id);
        message["timestamp"] = json!(at.to_string());
        self.post(&json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000111", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": name}, "wa_id": user}],
                "messages": [message]}}]}]}))
            .await
    }

    async fn admin_token(&self) -> Result<String> {
        let session: Value = self
            .http
            .post(format!("{}/v1/auth/login", self.base))
            .json(&json!({"email": ADMIN, "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        session["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("the demo admin could not sign in")
    }

    /// Conversations in every state the UI must show.
    async fn scenario(&self, sim: &GraphSim) -> Result<()> {
        let token = self.admin_token().await?;
        // HUMAN_AGENT approval on Messenger and Instagram (an admin's setting).
        let channels: Value = self
            .http
            .get(format!("{}/v1/channels", self.base))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        for channel in channels.as_array().into_iter().flatten() {
            if channel["kind"] != "whatsapp" {
                self.http
                    .patch(format!(
                        "{}/v1/channels/{}",
                        self.base,
                        channel["id"].as_str().unwrap_or_default()
                    ))
                    .bearer_auth(&token)
                    .json(&json!({"human_agent_approved": true}))
                    .send()
                    .await?;
            }
        }
        let hours = TimeDelta::hours;
        let note = |channel: &str, user: &str, ago: TimeDelta| {
            sim.note_inbound(channel, user, Utc::now() - ago)
        };
        let chats: &[(&str, &str, &str, TimeDelta)] = &[
            (
                "7100000000000001",
                "m_demo_1",
                "¿Tienen la talla 38 en azul?",
                TimeDelta::minutes(4),
            ),
            (
                "7100000000000002",
                "m_demo_2",
                "My order #4411 arrived damaged, the box was crushed",
                hours(30),
            ),
            (
                "7100000000000003",
                "m_demo_3",
                "Thanks, all good!",
                TimeDelta::days(9),
            ),
            (
                "7100000000000004",
                "m_demo_4",
                "Is the store on Gran Vía open on Sunday?",
                hours(3),
            ),
        ];
        for (user, mid, text, ago) in chats {
            self.messenger(user, mid, text, *ago).await?;
            note(PAGE_ID, user, *ago);
        }
        for (user, mid, text, ago) in [
            (
                "17800000000000011",
                "ig_demo_1",
                "Love the new collection! Is it vegan leather?",
                hours(2),
            ),
            (
                "17800000000000012",
                "ig_demo_2",
                "quiero hablar con un humano, por favor",
                TimeDelta::minutes(12),
            ),
        ] {
            self.page_like("instagram", IG_ID, user, mid, text, ago)
                .await?;
            note(IG_ID, user, ago);
        }
        let photo: Vec<u8> = include_bytes!("../../../icons/128x128.png").to_vec();
        let media_id = sim.add_media(PHONE_NUMBER_ID, "image/png", photo);
        for (user, name, id, message, ago) in [
            (
                "34600000001",
                "Rosa Díaz",
                "wamid.demo1",
                json!({"type": "text", "text": {"body": "¿Me pueden enviar la factura de mi pedido?"}}),
                hours(30),
            ),
            (
                "34600000002",
                "Ahmed Khan",
                "wamid.demo2",
                json!({"type": "text", "text": {"body": "Hi, can I change my delivery address?"}}),
                hours(1),
            ),
            (
                "34600000002",
                "Ahmed Khan",
                "wamid.demo3",
                json!({"type": "image", "image": {"id": media_id, "mime_type": "image/png", "caption": "This is the label"}}),
                TimeDelta::minutes(55),
            ),
        ] {
            self.whatsapp(user, name, id, message, ago).await?;
            note(PHONE_NUMBER_ID, user, ago);
        }
        // A reply Meta refuses: the conversation shows the failure and is escalated.
        let conversation = self.conversation_of(&token, "m_demo_4").await?;
        sim.fail_next(PAGE_ID, 1, Failure::Undeliverable);
        self.http
            .post(format!(
                "{}/v1/conversations/{conversation}/replies",
                self.base
            ))
            .bearer_auth(&token)
            .header("Idempotency-Key", "demo-failed-reply")
            .json(&json!({"kind": "text", "text": "Yes, 10:00 to 20:00!"}))
            .send()
            .await?;
        Ok(())
    }

    async fn conversation_of(&self, token: &str, message_id: &str) -> Result<String> {
        let page: Value = self
            .http
            .get(format!("{}/v1/events?limit=5000", self.base))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        page["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| &entry["event"])
            .find(|event| event["message_id"] == message_id)
            .and_then(|event| event["conversation"].as_str())
            .map(str::to_owned)
            .context("the demo conversation is not in the log")
    }
}

/// Signs the app's data dir in (the refresh token goes to the OS keyring), and lets the
/// first sync run so the app opens populated.
async fn sign_in_app(app_dir: &std::path::Path, base: &str) -> Result<()> {
    let engine = Engine::open(
        EngineConfig::new(app_dir),
        Arc::new(KeyringStore::new("ventana")),
        Arc::new(Silent),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let account = match engine
        .accounts()
        .into_iter()
        .find(|a| a.record.relay_url == base)
    {
        Some(account) => account,
        None => engine
            .sign_in(base, ADMIN, PASSWORD, None)
            .await
            .map_err(|e| anyhow::anyhow!("signing the app in: {e}"))?,
    };
    for _ in 0..100 {
        if matches!(
            engine.sync_state(&account.record.id),
            Ok(ventana_inbox::sync::SyncState::Live { .. })
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown();
    Ok(())
}
