//! A real relay (in this process, on a real port), fed signed webhooks and sending through
//! metasim's Graph API, and a real engine with its secrets in the session's Secret Service.
#![allow(dead_code, unreachable_pub)]

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use ventana_inbox::cache::{Cache, CacheKey};
use ventana_inbox::notify::{Notice, Notifier, NotifyError};
use ventana_inbox::secrets::{KeyringStore, SecretKind, SecretStore};
use ventana_inbox::{Engine, EngineConfig};
use ventana_metasim::{GraphSim, GraphSimConfig};
use ventana_relay::server::{self, Relay, Settings};
use ventana_relay::store::Role;

pub const APP_ID: &str = "1234567890";
pub const APP_SECRET: &str = "fake_app_secret_0123456789abcdef";
pub const PAGE_ID: &str = "100000000000001";
pub const PHONE_NUMBER_ID: &str = "200000000000111";
pub const WABA_ID: &str = "300000000000222";
/// Globex's Instagram account (the second tenant).
pub const IG_ID: &str = "17840000000000001";
pub const PAGE_TOKEN: &str = "EAAG-page-token-0001";
pub const WA_TOKEN: &str = "EAAG-whatsapp-token-0001";
pub const EMAIL: &str = "ana@acme.test";
pub const PASSWORD: &str = "correct horse battery";

/// Notices the engine decided to show (the desktop notifier has its own test against a
/// real notification daemon).
#[derive(Debug, Default)]
pub struct Recorded(pub Mutex<Vec<Notice>>);

impl Notifier for Recorded {
    fn show(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(notice.clone());
        Ok(())
    }
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub relay_dir: PathBuf,
    pub app_dir: PathBuf,
    pub sim: GraphSim,
    pub port: u16,
    pub base: String,
    /// A keyring service of this test's own, so tests don't see each other's entries.
    pub service: String,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    tweak: fn(&mut Settings),
}

fn settings(sim: &GraphSim, tweak: fn(&mut Settings)) -> Settings {
    let mut settings = Settings::default();
    settings.graph.facebook_url = sim.base_url();
    settings.graph.instagram_url = sim.base_url();
    settings.replies.retry_base = Duration::from_millis(20);
    tweak(&mut settings);
    settings
}

/// Bo, an agent (not an admin) of Acme.
pub const AGENT_EMAIL: &str = "bo@acme.test";

impl World {
    pub async fn new(name: &str) -> World {
        Self::new_with(name, |_| {}, |_| {}).await
    }

    /// A world whose relay runs with `tweak`ed settings, set up further by `setup` (through
    /// the admin functions, before it serves).
    pub async fn new_with(
        name: &str,
        tweak: fn(&mut Settings),
        setup: impl FnOnce(&Relay),
    ) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let relay_dir = tmp.path().join("relay");
        let app_dir = tmp.path().join("app");
        let sim = GraphSim::start(GraphSimConfig {
            app_id: APP_ID.parse().unwrap(),
            app_secret: APP_SECRET.into(),
            require_appsecret_proof: true,
            ..Default::default()
        })
        .await
        .unwrap();
        sim.add_page(PAGE_ID, PAGE_TOKEN, true);
        sim.add_whatsapp(PHONE_NUMBER_ID, WABA_ID, WA_TOKEN);
        {
            let relay = Relay::open(&relay_dir, settings(&sim, tweak)).unwrap();
            let state = &relay.state;
            use ventana_relay::admin;
            admin::add_tenant(state, "acme").unwrap();
            admin::add_tenant(state, "globex").unwrap();
            admin::add_meta_app(state, APP_ID, APP_SECRET, Some("verify")).unwrap();
            admin::add_channel(
                state,
                "acme",
                ventana_protocol::ChannelKind::Messenger,
                PAGE_ID,
                APP_ID,
                Some("Acme Support"),
                None,
            )
            .unwrap();
            admin::add_channel(
                state,
                "acme",
                ventana_protocol::ChannelKind::WhatsApp,
                PHONE_NUMBER_ID,
                APP_ID,
                Some("Acme WhatsApp"),
                Some(WABA_ID),
            )
            .unwrap();
            admin::add_channel(
                state,
                "globex",
                ventana_protocol::ChannelKind::Instagram,
                IG_ID,
                APP_ID,
                Some("Globex IG"),
                None,
            )
            .unwrap();
            admin::set_channel_token(state, "acme", PAGE_ID, PAGE_TOKEN).unwrap();
            admin::set_channel_token(state, "acme", PHONE_NUMBER_ID, WA_TOKEN).unwrap();
            admin::add_agent(state, "acme", EMAIL, Role::Admin, PASSWORD).unwrap();
            admin::add_agent(state, "globex", "gus@globex.test", Role::Agent, PASSWORD).unwrap();
            admin::add_agent(state, "acme", AGENT_EMAIL, Role::Agent, PASSWORD).unwrap();
            setup(&relay);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        sim.set_webhook_target(&base, APP_ID.parse().unwrap(), APP_SECRET)
            .unwrap();
        let service = format!("ventana-test-{name}-{}", uuid::Uuid::new_v4().simple());
        let mut world = World {
            tmp,
            relay_dir,
            app_dir,
            sim,
            port,
            base,
            service,
            server: None,
            tweak,
        };
        world.serve(listener);
        world
    }

    fn serve(&mut self, listener: TcpListener) {
        let relay = Relay::open(&self.relay_dir, settings(&self.sim, self.tweak)).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::run(listener, relay, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        self.server = Some((stop, task));
    }

    /// Stops the relay: the port refuses connections until [`World::start_relay`].
    pub async fn stop_relay(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("the relay stops")
                .unwrap();
        }
    }

    /// Starts the relay again on the same port and data dir.
    pub async fn start_relay(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    /// Sets Acme's "wipe the desktop's cache when access is removed or disabled" policy,
    /// as the operator's CLI does (the relay is stopped for it and started again).
    pub async fn set_wipe_on_removal(&mut self, wipe: bool) {
        self.stop_relay().await;
        {
            let relay = Relay::open(&self.relay_dir, settings(&self.sim, self.tweak)).unwrap();
            ventana_relay::admin::set_tenant_policy(
                &relay.state,
                "acme",
                ventana_relay::store::TenantPolicy {
                    wipe_cache_on_removal: wipe,
                },
            )
            .unwrap();
        }
        self.start_relay().await;
    }

    pub fn secrets(&self) -> Arc<KeyringStore> {
        Arc::new(KeyringStore::new(&self.service))
    }

    pub fn config(&self) -> EngineConfig {
        EngineConfig::new(&self.app_dir)
    }

    pub fn engine(&self, notifier: Arc<Recorded>) -> Engine {
        Engine::open(self.config(), self.secrets(), notifier).unwrap()
    }

    /// Posts a Messenger webhook, signed like Meta, with one customer text per `(user, mid,
    /// text)`, `ago` in the past; notes the messages in metasim so its window agrees.
    pub async fn customer_texts(&self, messages: &[(&str, &str, &str)], ago: TimeDelta) {
        let at: DateTime<Utc> = Utc::now() - ago;
        let messaging: Vec<_> = messages
            .iter()
            .map(|(user, mid, text)| {
                json!({"sender": {"id": user}, "recipient": {"id": PAGE_ID},
                       "timestamp": at.timestamp_millis(),
                       "message": {"mid": mid, "text": text}})
            })
            .collect();
        let body = json!({"object": "page", "entry": [{"id": PAGE_ID, "time": at.timestamp_millis(), "messaging": messaging}]});
        self.post_signed(body.to_string().as_bytes()).await;
        for (user, _, _) in messages {
            self.sim.note_inbound(PAGE_ID, user, at);
        }
    }

    /// One Instagram text to Globex.
    pub async fn instagram_text(&self, user: &str, mid: &str, text: &str) {
        let at = Utc::now();
        let body = json!({"object": "instagram", "entry": [{"id": IG_ID, "time": at.timestamp_millis(),
            "messaging": [{"sender": {"id": user}, "recipient": {"id": IG_ID},
                           "timestamp": at.timestamp_millis(), "message": {"mid": mid, "text": text}}]}]});
        self.post_signed(body.to_string().as_bytes()).await;
    }

    pub async fn post_signed(&self, body: &[u8]) {
        let signature = ventana_metasim::signing::signature_header(APP_SECRET.as_bytes(), body);
        let status = reqwest::Client::new()
            .post(format!("{}/webhooks/meta/{APP_ID}", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    /// An access token of Acme's admin, signed in through the REST API as a client would.
    pub async fn admin_token(&self) -> String {
        let login: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/auth/login", self.base))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["access_token"].as_str().unwrap().to_owned()
    }

    /// The log's head as the relay sees it.
    pub async fn head(&self) -> u64 {
        let page: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/v1/events?after=0&limit=1", self.base))
            .bearer_auth(self.admin_token().await)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["head"].as_u64().unwrap()
    }

    pub fn cache_path(&self, account: &str) -> PathBuf {
        self.app_dir.join("accounts").join(account).join("cache.db")
    }

    /// Opens the account's cache with its key from the keyring, as a second reader.
    pub fn open_cache(&self, account: &str) -> Cache {
        Cache::open(&self.cache_path(account), &self.cache_key(account)).unwrap()
    }

    pub fn cache_key(&self, account: &str) -> CacheKey {
        let key = self
            .secrets()
            .get(account, SecretKind::CacheKey)
            .unwrap()
            .expect("the cache key is in the keyring");
        CacheKey::from_bytes(key.to_key_bytes().unwrap())
    }

    /// Removes this test's entries from the keyring.
    pub fn forget_secrets(&self, account: &str) {
        let secrets = self.secrets();
        for kind in [
            SecretKind::RefreshToken,
            SecretKind::CacheKey,
            SecretKind::MediaKey,
        ] {
            let _ = secrets.delete(account, kind);
        }
    }
}

/// Waits (up to `seconds`) for `check` to hold, polling.
pub async fn eventually<F: FnMut() -> bool>(seconds: u64, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
