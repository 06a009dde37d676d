//! The demo world: a relay on an embedded SQLite data dir, with metasim standing in for Meta
//! on both sides, one tenant ("Acme Shoes") with a Messenger Page, an Instagram account and
//! a WhatsApp number, and customers in every state the app must show: wrote just now, 30
//! hours ago (HUMAN_AGENT on Messenger, templates only on WhatsApp), 9 days ago (closed), an
//! escalation, a photo, and a reply Meta refused.
//!
//! `ventana-demo` (the README's run command) serves it on a fixed port; the app's
//! end-to-end tests (`tests/e2e_inbox.rs`) start it on port 0 and drive the real app
//! against it, so what the demo shows is what the tests check.

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use ventana_metasim::{Failure, GraphSim, GraphSimConfig};
use ventana_relay::server::{self, Relay, Settings};
use ventana_relay::store::Role;

pub const APP_ID: &str = "1234567890";
pub const APP_SECRET: &str = "demo_app_secret_0123456789abcdef";
pub const TENANT: &str = "Acme Shoes";
pub const PAGE_ID: &str = "100000000000001";
pub const IG_ID: &str = "17840000000000001";
pub const PHONE_NUMBER_ID: &str = "200000000000111";
pub const WABA_ID: &str = "300000000000222";
/// An admin of the demo tenant.
pub const ADMIN: &str = "ana@acme.test";
/// An agent (not an admin) of the demo tenant.
pub const AGENT: &str = "bo@acme.test";
/// A demo's password, printed at start; the demo relay listens on loopback only.
pub const PASSWORD: &str = "ventana-demo";

/// The scenario's customers, for tests that look for them.
pub mod people {
    /// Messenger, wrote 4 minutes ago.
    pub const FRESH_PSID: &str = "7100000000000001";
    pub const FRESH_TEXT: &str = "¿Tienen la talla 38 en azul?";
    /// Messenger, wrote 30 hours ago: a reply goes out tagged HUMAN_AGENT.
    pub const MESSENGER_30H_PSID: &str = "7100000000000002";
    pub const MESSENGER_30H_TEXT: &str = "My order #4411 arrived damaged, the box was crushed";
    /// Messenger, wrote 9 days ago: closed.
    pub const OLD_PSID: &str = "7100000000000003";
    pub const OLD_TEXT: &str = "Thanks, all good!";
    /// Messenger, wrote 3 hours ago; the reply to them was refused by Meta.
    pub const REFUSED_PSID: &str = "7100000000000004";
    /// WhatsApp, wrote 30 hours ago: templates only.
    pub const WHATSAPP_30H_NAME: &str = "Rosa Díaz";
    pub const WHATSAPP_30H_TEXT: &str = "¿Me pueden enviar la factura de mi pedido?";
    /// WhatsApp, wrote an hour ago and sent a photo.
    pub const WHATSAPP_PHOTO_NAME: &str = "Ahmed Khan";
    /// Instagram, asked for a human 12 minutes ago (an escalation).
    pub const ESCALATED_IGSID: &str = "17800000000000012";
}

/// How the demo's tenant is set up beyond its people and channels.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoOptions {
    /// The tenant requires a desktop to delete an account's cache when the agent's access
    /// is removed or disabled (`ventana-relay tenant set-policy --wipe-cache-on-removal`).
    pub wipe_cache_on_removal: bool,
}

/// A running demo relay and the metasim behind it.
#[derive(Debug)]
pub struct DemoRelay {
    pub sim: GraphSim,
    /// `http://127.0.0.1:<port>`: what the app signs in to.
    pub base: String,
    pub traffic: Traffic,
    server: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
}

impl DemoRelay {
    /// Opens (or creates, seeding the tenant and playing the scenario) the relay in
    /// `data_dir` and serves it on `listener`.
    pub async fn start(data_dir: &Path, listener: TcpListener) -> Result<DemoRelay> {
        Self::start_with(data_dir, listener, DemoOptions::default()).await
    }

    /// As [`DemoRelay::start`], with `options` applied when the data dir is new.
    pub async fn start_with(
        data_dir: &Path,
        listener: TcpListener,
        options: DemoOptions,
    ) -> Result<DemoRelay> {
        let fresh = !data_dir.join("relay.db").exists();
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
        let relay = Relay::open(data_dir, settings).context("opening the relay's data dir")?;
        if fresh {
            seed(&relay, options)?;
        }
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        sim.set_webhook_target(&base, APP_ID.parse()?, APP_SECRET)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::run(listener, relay, async {
            let _ = stopped.await;
        }));
        let demo = DemoRelay {
            traffic: Traffic {
                http: reqwest::Client::new(),
                base: base.clone(),
                sim: sim.clone(),
            },
            sim,
            base,
            server: Some((stop, server)),
        };
        if fresh {
            demo.traffic.scenario().await?;
        }
        Ok(demo)
    }

    /// Stops serving (the app goes offline) and waits until the relay has closed.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            server.await??;
        }
        Ok(())
    }

    /// Waits while the relay serves: returns when it stopped by itself (an error).
    pub async fn wait(&mut self) -> Result<()> {
        if let Some((_, server)) = self.server.as_mut() {
            (&mut *server).await??;
            self.server = None;
        }
        Ok(())
    }
}

/// The tenant, its channels, its people.
fn seed(relay: &Relay, options: DemoOptions) -> Result<()> {
    use ventana_protocol::ChannelKind;
    use ventana_relay::admin;
    let state = &relay.state;
    admin::add_tenant(state, TENANT)?;
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
        admin::add_channel(state, TENANT, kind, id, APP_ID, Some(name), waba)?;
    }
    admin::set_channel_token(state, TENANT, PAGE_ID, "EAAG-demo-page")?;
    admin::set_channel_token(state, TENANT, IG_ID, "IGQ-demo-instagram")?;
    admin::set_channel_token(state, TENANT, PHONE_NUMBER_ID, "EAAG-demo-whatsapp")?;
    admin::add_agent(state, TENANT, ADMIN, Role::Admin, PASSWORD)?;
    admin::add_agent(state, TENANT, AGENT, Role::Agent, PASSWORD)?;
    if options.wipe_cache_on_removal {
        admin::set_tenant_policy(
            state,
            TENANT,
            ventana_relay::store::TenantPolicy {
                wipe_cache_on_removal: true,
            },
        )?;
    }
    Ok(())
}

/// New customer messages while the demo runs.
pub const LIVE: &[(&str, &str)] = &[
    ("7100000000000101", "Hi! Do you ship to Canada?"),
    ("7100000000000102", "¿Cuánto tarda el envío a Valencia?"),
    ("7100000000000103", "Can I talk to a human please"),
    ("7100000000000104", "The sole came off after two weeks :("),
];

/// Customers writing: Meta's webhooks, signed as Meta signs them, posted to the relay.
#[derive(Debug, Clone)]
pub struct Traffic {
    http: reqwest::Client,
    base: String,
    /// Meta knows a customer who wrote: replies to them are accepted.
    sim: GraphSim,
}

impl Traffic {
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

    /// A Messenger text from `user` (a PSID), sent `ago`.
    pub async fn messenger(&self, user: &str, mid: &str, text: &str, ago: TimeDelta) -> Result<()> {
        self.page_like("page", PAGE_ID, user, mid, text, ago).await
    }

    /// An Instagram text from `user` (an IGSID), sent `ago`.
    pub async fn instagram(&self, user: &str, mid: &str, text: &str, ago: TimeDelta) -> Result<()> {
        self.page_like("instagram", IG_ID, user, mid, text, ago)
            .await
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
        let at = Utc::now() - ago;
        self.sim.note_inbound(channel, user, at);
        let at = at.timestamp_millis();
        self.post(
            &json!({"object": object, "entry": [{"id": channel, "time": at, "messaging": [{
            "sender": {"id": user}, "recipient": {"id": channel}, "timestamp": at,
            "message": {"mid": mid, "text": text}}]}]}),
        )
        .await
    }

    /// A WhatsApp message (`message` without `from`, `id`, `timestamp`) from `user`.
    pub async fn whatsapp(
        &self,
        user: &str,
        name: &str,
        id: &str,
        message: Value,
        ago: TimeDelta,
    ) -> Result<()> {
        let at = Utc::now() - ago;
        self.sim.note_inbound(PHONE_NUMBER_ID, user, at);
        let at = at.timestamp();
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

    /// An access token for the demo admin (for calls the app would make).
    pub async fn admin_token(&self) -> Result<String> {
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
    async fn scenario(&self) -> Result<()> {
        use people::*;
        let sim = &self.sim;
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
        let chats: &[(&str, &str, &str, TimeDelta)] = &[
            (FRESH_PSID, "m_demo_1", FRESH_TEXT, TimeDelta::minutes(4)),
            (
                MESSENGER_30H_PSID,
                "m_demo_2",
                MESSENGER_30H_TEXT,
                hours(30),
            ),
            (OLD_PSID, "m_demo_3", OLD_TEXT, TimeDelta::days(9)),
            (
                REFUSED_PSID,
                "m_demo_4",
                "Is the store on Gran Vía open on Sunday?",
                hours(3),
            ),
        ];
        for (user, mid, text, ago) in chats {
            self.messenger(user, mid, text, *ago).await?;
        }
        for (user, mid, text, ago) in [
            (
                "17800000000000011",
                "ig_demo_1",
                "Love the new collection! Is it vegan leather?",
                hours(2),
            ),
            (
                ESCALATED_IGSID,
                "ig_demo_2",
                "quiero hablar con un humano, por favor",
                TimeDelta::minutes(12),
            ),
        ] {
            self.instagram(user, mid, text, ago).await?;
        }
        let photo: Vec<u8> = include_bytes!("../../../icons/128x128.png").to_vec();
        let media_id = sim.add_media(PHONE_NUMBER_ID, "image/png", photo);
        for (user, name, id, message, ago) in [
            (
                "34600000001",
                WHATSAPP_30H_NAME,
                "wamid.demo1",
                json!({"type": "text", "text": {"body": WHATSAPP_30H_TEXT}}),
                hours(30),
            ),
            (
                "34600000002",
                WHATSAPP_PHOTO_NAME,
                "wamid.demo2",
                json!({"type": "text", "text": {"body": "Hi, can I change my delivery address?"}}),
                hours(1),
            ),
            (
                "34600000002",
                WHATSAPP_PHOTO_NAME,
                "wamid.demo3",
                json!({"type": "image", "image": {"id": media_id, "mime_type": "image/png", "caption": "This is the label"}}),
                TimeDelta::minutes(55),
            ),
        ] {
            self.whatsapp(user, name, id, message, ago).await?;
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
