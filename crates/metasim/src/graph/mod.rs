//! The Graph API stand-in: an HTTP server on 127.0.0.1 that answers the calls a relay makes
//! to `graph.facebook.com` and `graph.instagram.com` the way Meta does (reference §5, §7),
//! and then posts the webhooks Meta would post about what was sent (§3).
//!
//! What it serves (every path also works without the `/{version}` prefix, as Graph's
//! unversioned calls do; any `vNN.N` is accepted, since Graph serves expired versions with
//! the next usable one, §7):
//!
//! - `POST /{version}/{page_id | ig_id | phone_number_id | me}/messages`: the Messenger,
//!   Instagram and WhatsApp send APIs (§5a–§5c), with the messaging windows
//!   ([`policy`]), `appsecret_proof` (§7), Meta's error bodies ([`GraphError`]) and the
//!   echo/receipt/status webhooks afterwards ([`Outcome`]).
//! - `GET /{version}/{waba_id}/message_templates?fields=…&limit=N[&after=…|&before=…]`:
//!   the WABA's templates with Graph cursor paging (`paging.cursors`, `paging.next`).
//! - `GET /{version}/{media_id}[?phone_number_id=…]`: WhatsApp media metadata, whose `url`
//!   (under `/media-download/`) serves the bytes to the same bearer token (§3c) for 5
//!   minutes. A media id from a webhook lives 7 days.
//! - `GET /cdn/{path}`: Messenger/Instagram attachment URLs, without auth; a file put there
//!   with an expiry answers 403 "URL signature expired" afterwards, as Meta's CDN does;
//!   one put there with a [`Pace`] is sent piece by piece, as over a slow link.
//!
//! Time is wall-clock time plus an offset a test can move ([`GraphSim::advance`]), so that
//! a test can close a window without waiting a day. Windows are fed by inbound webhooks
//! delivered through the sim ([`GraphSim::deliver`]) or noted directly
//! ([`GraphSim::note_inbound`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ventana_metasim::graph::{GraphSim, GraphSimConfig};
//! let sim = GraphSim::start(GraphSimConfig::default()).await?;
//! sim.add_page("100000000000001", "EAAG-page-token", true);
//! sim.set_webhook_target("http://127.0.0.1:8080", 1111111111111111, "app secret")?;
//! sim.note_inbound("100000000000001", "7000000000000001", sim.now());
//! // … the relay POSTs {base_url}/v25.0/100000000000001/messages …
//! sim.settle().await; // the echo, delivery and read have been posted
//! assert_eq!(sim.sends().len(), 1);
//! # Ok(()) }
//! ```

pub mod error;
pub mod policy;
mod receipts;
pub mod request;
mod server;
pub mod template;

pub use error::GraphError;
pub use policy::MessagingType;
pub use template::{
    HeaderFormat, Template, TemplateButton, TemplateCategory, TemplateComponent, TemplateStatus,
    default_templates,
};

use crate::clock::Clock;
use crate::ids::IdMint;
use crate::post::{PostError, Poster};
use crate::universe::{Channel, Platform, Universe};
use crate::webhook::{EventKind, Webhook};
use chrono::{DateTime, TimeDelta, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The Graph API version metasim reports when a call names none (the reference's send
/// samples use v25.0, §7).
pub const DEFAULT_VERSION: &str = "v25.0";

/// The app secret of the fixtures' test vectors (`fixtures/meta/test_vectors.json`).
pub const FIXTURES_APP_SECRET: &str = "fake_app_secret_0123456789abcdef";

/// How the sim starts.
#[derive(Clone)]
pub struct GraphSimConfig {
    /// The Meta app: echoes carry its id (reference §3a) and webhooks are posted to
    /// `{webhook_base_url}/webhooks/meta/{app_id}`.
    pub app_id: u64,
    /// Signs webhooks (`X-Hub-Signature-256`, §2) and checks `appsecret_proof` (§7).
    pub app_secret: String,
    /// The relay's base URL; `None` until [`GraphSim::set_webhook_target`].
    pub webhook_base_url: Option<String>,
    /// Refuse calls without `appsecret_proof` (an app setting, "Require App Secret").
    pub require_appsecret_proof: bool,
    /// How long after accepting a send its first webhook is posted, so that the relay
    /// normally has the Graph response before the echo. Default 25 ms.
    pub webhook_delay: Duration,
    /// The pause between the webhooks of one send. Default 5 ms.
    pub webhook_gap: Duration,
    /// Seeds message ids, tokens and trace ids.
    pub seed: u64,
}

impl Default for GraphSimConfig {
    fn default() -> Self {
        GraphSimConfig {
            app_id: crate::universe::DEMO_APP_ID,
            app_secret: FIXTURES_APP_SECRET.to_owned(),
            webhook_base_url: None,
            require_appsecret_proof: false,
            webhook_delay: Duration::from_millis(25),
            webhook_gap: Duration::from_millis(5),
            seed: 0x6772_6170_6873_696d,
        }
    }
}

impl fmt::Debug for GraphSimConfig {
    // The app secret stays out of logs and test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphSimConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("webhook_base_url", &self.webhook_base_url)
            .field("require_appsecret_proof", &self.require_appsecret_proof)
            .field("webhook_delay", &self.webhook_delay)
            .field("webhook_gap", &self.webhook_gap)
            .field("seed", &self.seed)
            .finish()
    }
}

/// What Meta reports after it accepted a send, per channel. The default is
/// [`Outcome::Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// No webhooks at all (Meta's webhooks lost, or the app unsubscribed).
    Silent,
    /// Messenger/Instagram: the echo; WhatsApp: `sent`.
    Sent,
    /// Messenger: echo and delivery; Instagram: the echo (it has no delivery events,
    /// reference §3b); WhatsApp: `sent`, `delivered`.
    Delivered,
    /// Messenger: echo, delivery, read; Instagram: echo, read; WhatsApp: `sent`,
    /// `delivered`, `read`.
    #[default]
    Read,
    /// WhatsApp: one `failed` status with this code in `errors[]`. Messenger and Instagram
    /// report no failures after accepting a send, so there it is the echo only.
    Failed { code: u32 },
}

/// A failure to inject into the next sends to a channel ([`GraphSim::fail_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Meta's throttling error with this code (4, 613, 80007, 130429 or 131056 get Meta's
    /// own bodies, reference §5d). Not a send.
    RateLimit { code: u32 },
    /// 190/463, the token expired (reference §5d). Not a send; later calls work again.
    TokenExpired,
    /// WhatsApp: accepted, then a `failed` status with 131026 (reference §5d). Messenger
    /// and Instagram have no 131026; there it is 551/1545041 "This person isn't available
    /// right now" (§5d), refused synchronously and not a send.
    Undeliverable,
    /// HTTP 500 with code 2, "unexpected error, retry later" (reference §5d). Not a send.
    ServerError,
    /// The answer comes after `respond_after`. With `sent: true` the request is processed
    /// normally first (it counts as a send and its webhooks are posted right away, before
    /// the slow answer); with `sent: false` nothing is sent and the late answer is the
    /// [`Failure::ServerError`] one. Reference §5d: a timeout has an unknown outcome.
    Timeout { respond_after: Duration, sent: bool },
}

/// A template named in a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTemplate {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
}

/// A send Meta accepted (it answered with a message id).
#[derive(Debug, Clone, PartialEq)]
pub struct SendRecord {
    pub platform: Platform,
    /// The Page id, IG account id or phone number id.
    pub channel: String,
    /// The PSID, IGSID or `wa_id` (without `+`).
    pub recipient: String,
    /// The request body as sent.
    pub body: Value,
    /// Messenger/Instagram `messaging_type`, as sent.
    pub messaging_type: Option<String>,
    pub tag: Option<String>,
    /// Messenger/Instagram `metadata`.
    pub metadata: Option<String>,
    /// WhatsApp `biz_opaque_callback_data`.
    pub biz_opaque_callback_data: Option<String>,
    pub template: Option<SentTemplate>,
    /// The `mid` or `wamid` Meta answered with.
    pub message_id: String,
    /// Sim time of the send.
    pub at: DateTime<Utc>,
    /// WhatsApp: the code of the `failed` status this send got instead of delivery
    /// (131047 outside the window, 131050 opted out, 131026 undeliverable).
    pub failure: Option<u32>,
}

impl SendRecord {
    /// The client's correlation key: `metadata` or `biz_opaque_callback_data` (reference
    /// §5d, "Idempotency").
    pub fn client_key(&self) -> Option<&str> {
        self.metadata
            .as_deref()
            .or(self.biz_opaque_callback_data.as_deref())
    }
}

/// Meta's error code on a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptError {
    pub code: u32,
    pub subcode: Option<u32>,
}

/// Any request the sim answered, refused or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The channel (or WABA, or media) the path named, when it named a known one.
    pub channel: Option<String>,
    pub http_status: u16,
    pub error: Option<AttemptError>,
    /// The message id of an accepted send.
    pub message_id: Option<String>,
    /// The failure injected into this request, if any.
    pub injected: Option<Failure>,
}

/// A webhook the sim posted (or tried to) after a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedWebhook {
    pub webhook: Webhook,
    /// The relay's HTTP status; `None` when the post failed or no target was set.
    pub status: Option<u16>,
    /// Why the post failed.
    pub error: Option<String>,
}

/// Why the sim could not start or deliver.
#[derive(Debug, thiserror::Error)]
pub enum GraphSimError {
    #[error("binding 127.0.0.1:0: {0}")]
    Bind(#[source] std::io::Error),
    #[error("no webhook target: call set_webhook_target first")]
    NoWebhookTarget,
    #[error(transparent)]
    Post(#[from] PostError),
}

/// A registered channel.
#[derive(Debug, Clone)]
struct ChannelEntry {
    channel: Channel,
    token: String,
    human_agent_approved: bool,
}

/// A WhatsApp media object.
#[derive(Debug, Clone)]
struct Media {
    phone_number_id: String,
    mime_type: String,
    bytes: Vec<u8>,
    /// Sim time after which Meta no longer knows the id.
    expires_at: DateTime<Utc>,
}

/// How long a media id from a webhook lives: "Media IDs in webhooks expire after 7 days"
/// (developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media).
pub const WEBHOOK_MEDIA_TTL: TimeDelta = TimeDelta::days(7);

/// How long a media URL from `GET /{media_id}` can be downloaded: "short-lived"
/// (reference §3c); Meta's media page gives 5 minutes.
pub const MEDIA_URL_TTL: TimeDelta = TimeDelta::minutes(5);

/// A download URL `GET /{media_id}` handed out, by its `hash`.
#[derive(Debug, Clone)]
struct MediaUrl {
    media_id: String,
    expires_at: DateTime<Utc>,
}

/// A file on the fake CDN.
#[derive(Debug, Clone)]
struct CdnFile {
    mime_type: String,
    bytes: Vec<u8>,
    /// Signed URLs (`oh`, `oe` in the query, like Meta's CDN) stop working at this sim time.
    expiry: Option<CdnExpiry>,
    /// Sent piece by piece instead of at once.
    pace: Option<Pace>,
}

/// How the fake CDN sends a file put there with [`GraphSim::add_cdn_file_paced`]: `chunk`
/// bytes, then a pause of `every`, until the end, as over a slow link. Without `length` the
/// answer announces no `Content-Length` (chunked transfer encoding), as a CDN streaming a
/// file it has not finished reading does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub chunk: usize,
    pub every: Duration,
    pub length: bool,
}

#[derive(Debug, Clone)]
struct CdnExpiry {
    at: DateTime<Utc>,
    /// The `oh` of the URL handed out; a URL with another `oh` or `oe` is refused.
    signature: String,
}

/// Everything the sim knows and has seen. Guarded by one mutex that is never held across
/// an `.await`.
struct State {
    app_id: u64,
    app_secret: Vec<u8>,
    require_appsecret_proof: bool,
    poster: Option<Poster>,
    webhook_delay: Duration,
    webhook_gap: Duration,
    offset: TimeDelta,
    /// The wall-clock time the clock was paused at.
    paused_at: Option<DateTime<Utc>>,
    /// By external id (Page id, IG account id, phone number id).
    channels: BTreeMap<String, ChannelEntry>,
    /// Tokens revoked with [`GraphSim::revoke_token`].
    revoked: HashSet<String>,
    /// By WABA id.
    templates: BTreeMap<String, Vec<Template>>,
    /// (channel external id, user id) → the user's last message.
    last_inbound: HashMap<(String, String), DateTime<Utc>>,
    /// Users the channel knows (they wrote at some time): the universe's contacts and
    /// everyone noted inbound.
    known_users: HashSet<(String, String)>,
    /// (phone number id, wa_id) of users who stopped marketing messages.
    opted_out: HashSet<(String, String)>,
    failures: HashMap<String, VecDeque<Failure>>,
    outcomes: HashMap<String, Outcome>,
    sends: Vec<SendRecord>,
    attempts: Vec<Attempt>,
    posted: Vec<PostedWebhook>,
    media: BTreeMap<String, Media>,
    media_urls: HashMap<String, MediaUrl>,
    cdn: BTreeMap<String, CdnFile>,
    rng: StdRng,
    ids: IdMint,
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        let wall = self
            .paused_at
            .unwrap_or_else(|| DateTime::<Utc>::from(SystemTime::now()));
        wall.checked_add_signed(self.offset).unwrap_or(wall)
    }

    fn outcome(&self, channel: &str) -> Outcome {
        self.outcomes.get(channel).copied().unwrap_or_default()
    }

    fn note_inbound(&mut self, channel: &str, user: &str, at: DateTime<Utc>) {
        let key = (channel.to_owned(), user.to_owned());
        self.known_users.insert(key.clone());
        // A late or redelivered old message does not shrink the window.
        let last = self.last_inbound.entry(key).or_insert(at);
        if at > *last {
            *last = at;
        }
    }
}

/// A batch of webhooks to post in order, not before `not_before`.
#[derive(Debug)]
struct Job {
    webhooks: Vec<Webhook>,
    not_before: tokio::time::Instant,
}

/// What the HTTP handlers and the poster share.
struct Shared {
    state: Mutex<State>,
    base_url: String,
    queue: mpsc::UnboundedSender<Job>,
    /// Jobs queued and not yet fully posted.
    pending: watch::Sender<usize>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a test double; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `webhooks` to be posted after the configured delay.
    fn enqueue(&self, webhooks: Vec<Webhook>, delay: Duration) {
        if webhooks.is_empty() {
            return;
        }
        self.pending.send_modify(|n| *n += 1);
        let now = tokio::time::Instant::now();
        let job = Job {
            webhooks,
            // A delay too large for the clock (a test's Duration::MAX) means "now".
            not_before: now.checked_add(delay).unwrap_or(now),
        };
        if self.queue.send(job).is_err() {
            // The poster has stopped (the sim is shutting down): nothing will post these.
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

/// The server and poster tasks; stopped when the last [`GraphSim`] handle goes.
struct Tasks {
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    server: Mutex<Option<JoinHandle<()>>>,
    poster: JoinHandle<()>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        if let Some(server) = self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            server.abort();
        }
        self.poster.abort();
    }
}

/// The Graph API stand-in. Cheap to clone; the server stops when the last clone is
/// dropped or on [`GraphSim::shutdown`].
#[derive(Clone)]
pub struct GraphSim {
    shared: Arc<Shared>,
    tasks: Arc<Tasks>,
}

impl fmt::Debug for GraphSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphSim")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl GraphSim {
    /// Starts the server on 127.0.0.1 on a free port, with no channels.
    pub async fn start(config: GraphSimConfig) -> Result<GraphSim, GraphSimError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(GraphSimError::Bind)?;
        let address = listener.local_addr().map_err(GraphSimError::Bind)?;
        let base_url = format!("http://{address}");
        let poster = match &config.webhook_base_url {
            Some(url) => Some(Poster::new(url, config.app_id, &config.app_secret)?),
            None => None,
        };
        let mut rng = StdRng::seed_from_u64(config.seed);
        let ids = IdMint::new(&mut rng);
        let state = State {
            app_id: config.app_id,
            app_secret: config.app_secret.into_bytes(),
            require_appsecret_proof: config.require_appsecret_proof,
            poster,
            webhook_delay: config.webhook_delay,
            webhook_gap: config.webhook_gap,
            offset: TimeDelta::zero(),
            paused_at: None,
            channels: BTreeMap::new(),
            revoked: HashSet::new(),
            templates: BTreeMap::new(),
            last_inbound: HashMap::new(),
            known_users: HashSet::new(),
            opted_out: HashSet::new(),
            failures: HashMap::new(),
            outcomes: HashMap::new(),
            sends: Vec::new(),
            attempts: Vec::new(),
            posted: Vec::new(),
            media: BTreeMap::new(),
            media_urls: HashMap::new(),
            cdn: BTreeMap::new(),
            rng,
            ids,
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        let (pending, _) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            base_url,
            queue,
            pending,
        });
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.await;
            });
            // A failing accept loop ends the server; tests then see connection errors.
            let _ = serve.await;
        });
        let poster = tokio::spawn(server::post_webhooks(Arc::clone(&shared), jobs));
        Ok(GraphSim {
            shared,
            tasks: Arc::new(Tasks {
                shutdown: Mutex::new(Some(shutdown)),
                server: Mutex::new(Some(server)),
                poster,
            }),
        })
    }

    /// Starts the server with every channel of `universe` registered (tokens from
    /// [`GraphSim::token`], Human Agent approved, the default templates on every WABA, the
    /// universe's contacts known to their channels) and the universe's app id.
    pub async fn for_universe(
        universe: &Universe,
        config: GraphSimConfig,
    ) -> Result<GraphSim, GraphSimError> {
        let config = GraphSimConfig {
            app_id: universe.app_id,
            ..config
        };
        let sim = GraphSim::start(config).await?;
        {
            let mut state = sim.shared.state();
            for info in &universe.channels {
                let token = mint_token(&mut state, info.channel.platform());
                register(&mut state, info.channel.clone(), token, true);
                let external = info.channel.external_id().to_owned();
                for contact in &info.contacts {
                    state
                        .known_users
                        .insert((external.clone(), contact.id.clone()));
                }
            }
        }
        Ok(sim)
    }

    /// `http://127.0.0.1:{port}`: the base for Graph calls (use it for both
    /// graph.facebook.com and graph.instagram.com).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base_url}/cdn`: point [`Universe::media_base_url`] here so generated attachment
    /// URLs resolve.
    pub fn cdn_base_url(&self) -> String {
        format!("{}/cdn", self.shared.base_url)
    }

    // ---- time ---------------------------------------------------------------------------

    /// The sim's now: wall-clock time plus the offset.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.state().now()
    }

    /// Moves the sim's clock by `by` (negative moves it back).
    pub fn advance(&self, by: TimeDelta) {
        let mut state = self.shared.state();
        state.offset = state.offset.checked_add(&by).unwrap_or(state.offset);
    }

    /// Sets the offset from wall-clock time.
    pub fn set_time_offset(&self, offset: TimeDelta) {
        self.shared.state().offset = offset;
    }

    /// Stops the clock where it is, so that a test can put a user's message exactly 24
    /// hours before a send. [`GraphSim::advance`] still moves it.
    pub fn pause_clock(&self) {
        let mut state = self.shared.state();
        if state.paused_at.is_none() {
            state.paused_at = Some(DateTime::<Utc>::from(SystemTime::now()));
        }
    }

    /// Lets the clock run again from where it stands.
    pub fn resume_clock(&self) {
        let mut state = self.shared.state();
        if let Some(paused_at) = state.paused_at.take() {
            let wall = DateTime::<Utc>::from(SystemTime::now());
            let elapsed = wall.signed_duration_since(paused_at);
            state.offset = state.offset.checked_sub(&elapsed).unwrap_or(state.offset);
        }
    }

    /// A traffic clock starting at the sim's now, for a [`crate::Generator`] whose inbound
    /// messages should open windows here. Generated events are stamped a few seconds
    /// after it (the clock steps 0.5–20 s per event).
    pub fn clock(&self) -> Clock {
        Clock::new(self.now())
    }

    // ---- channels -----------------------------------------------------------------------

    /// Registers a Facebook Page (or replaces its token, un-revoking it).
    pub fn add_page(&self, page_id: &str, token: &str, human_agent_approved: bool) {
        let channel = Channel::Messenger {
            page_id: page_id.to_owned(),
        };
        register(
            &mut self.shared.state(),
            channel,
            token.to_owned(),
            human_agent_approved,
        );
    }

    /// Registers an Instagram professional account (Instagram API with Instagram Login).
    pub fn add_instagram(&self, ig_id: &str, token: &str, human_agent_approved: bool) {
        let channel = Channel::Instagram {
            ig_id: ig_id.to_owned(),
        };
        register(
            &mut self.shared.state(),
            channel,
            token.to_owned(),
            human_agent_approved,
        );
    }

    /// Registers a WhatsApp business number on a WABA. The WABA gets the default templates
    /// unless it already has some. Numbers may share a token (a system-user token covers
    /// a whole WABA, reference §7).
    pub fn add_whatsapp(&self, phone_number_id: &str, waba_id: &str, token: &str) {
        // A display number in the fixtures' style, stable for the id.
        let digits: String = phone_number_id
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let tail = &digits[digits.len().saturating_sub(6)..];
        let channel = Channel::WhatsApp {
            waba_id: waba_id.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            display_phone_number: format!("15550{tail:0>6}"),
        };
        register(&mut self.shared.state(), channel, token.to_owned(), false);
    }

    /// Registers any channel (a universe's WhatsApp number keeps its display number).
    pub fn add_channel(&self, channel: Channel, token: &str, human_agent_approved: bool) {
        register(
            &mut self.shared.state(),
            channel,
            token.to_owned(),
            human_agent_approved,
        );
    }

    /// The token registered for a channel.
    pub fn token(&self, channel: &str) -> Option<String> {
        self.shared
            .state()
            .channels
            .get(channel)
            .map(|c| c.token.clone())
    }

    /// Whether the channel's app is approved for the Human Agent feature.
    pub fn set_human_agent_approved(&self, channel: &str, approved: bool) {
        if let Some(entry) = self.shared.state().channels.get_mut(channel) {
            entry.human_agent_approved = approved;
        }
    }

    /// Invalidates the channel's token (and every channel sharing it): calls with it get
    /// 190/460 until the channel is registered again with a token. Returns whether the
    /// channel exists.
    pub fn revoke_token(&self, channel: &str) -> bool {
        let mut state = self.shared.state();
        let Some(token) = state.channels.get(channel).map(|c| c.token.clone()) else {
            return false;
        };
        state.revoked.insert(token);
        true
    }

    // ---- templates ----------------------------------------------------------------------

    /// Replaces the WABA's templates.
    pub fn set_templates(&self, waba_id: &str, templates: Vec<Template>) {
        self.shared
            .state()
            .templates
            .insert(waba_id.to_owned(), templates);
    }

    /// The WABA's templates.
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        self.shared
            .state()
            .templates
            .get(waba_id)
            .cloned()
            .unwrap_or_default()
    }

    // ---- users --------------------------------------------------------------------------

    /// Records that `user` wrote to `channel` at `at` (the window opens from there). Only
    /// moves the window forward.
    pub fn note_inbound(&self, channel: &str, user: &str, at: DateTime<Utc>) {
        self.shared.state().note_inbound(channel, user, at);
    }

    /// When `user` last wrote to `channel`, as far as the sim knows.
    pub fn last_inbound(&self, channel: &str, user: &str) -> Option<DateTime<Utc>> {
        self.shared
            .state()
            .last_inbound
            .get(&(channel.to_owned(), user.to_owned()))
            .copied()
    }

    /// Makes `user` known to a Messenger/Instagram channel without opening a window (they
    /// wrote long ago). Sends to users a channel does not know get 100/2018001.
    pub fn add_contact(&self, channel: &str, user: &str) {
        self.shared
            .state()
            .known_users
            .insert((channel.to_owned(), user.to_owned()));
    }

    /// The user stopped marketing messages from this number (reference §8): marketing
    /// templates to them are accepted and then fail with 131050.
    pub fn opt_out_marketing(&self, phone_number_id: &str, wa_id: &str) {
        self.shared
            .state()
            .opted_out
            .insert((phone_number_id.to_owned(), wa_id.to_owned()));
    }

    /// The user resumed marketing messages.
    pub fn opt_in_marketing(&self, phone_number_id: &str, wa_id: &str) {
        self.shared
            .state()
            .opted_out
            .remove(&(phone_number_id.to_owned(), wa_id.to_owned()));
    }

    // ---- behaviour ----------------------------------------------------------------------

    /// What Meta reports after accepting sends on this channel (default [`Outcome::Read`]).
    pub fn set_outcome(&self, channel: &str, outcome: Outcome) {
        self.shared
            .state()
            .outcomes
            .insert(channel.to_owned(), outcome);
    }

    /// The next `n` send requests to `channel` that pass authentication fail with
    /// `failure` (queued after any failures already injected).
    pub fn fail_next(&self, channel: &str, n: usize, failure: Failure) {
        let mut state = self.shared.state();
        let queue = state.failures.entry(channel.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Where webhooks go: `{base_url}/webhooks/meta/{app_id}`, signed with `app_secret`
    /// (which also becomes the secret `appsecret_proof` is checked with).
    pub fn set_webhook_target(
        &self,
        base_url: &str,
        app_id: u64,
        app_secret: &str,
    ) -> Result<(), PostError> {
        let poster = Poster::new(base_url, app_id, app_secret)?;
        let mut state = self.shared.state();
        state.poster = Some(poster);
        state.app_id = app_id;
        state.app_secret = app_secret.as_bytes().to_vec();
        Ok(())
    }

    /// Registers WhatsApp media on a number, as a customer's media arriving in a webhook:
    /// Meta knows its id for [`WEBHOOK_MEDIA_TTL`] of sim time. Returns the media id.
    pub fn add_media(&self, phone_number_id: &str, mime_type: &str, bytes: Vec<u8>) -> String {
        let mut state = self.shared.state();
        let id = state.ids.media_id();
        let now = state.now();
        state.media.insert(
            id.clone(),
            Media {
                phone_number_id: phone_number_id.to_owned(),
                mime_type: mime_type.to_owned(),
                bytes,
                expires_at: now.checked_add_signed(WEBHOOK_MEDIA_TTL).unwrap_or(now),
            },
        );
        id
    }

    /// Puts a file on the fake CDN at `/cdn/{path}`; returns its URL, which does not
    /// expire. Paths nobody put there serve a small placeholder, so generated attachment
    /// URLs resolve too.
    pub fn add_cdn_file(&self, path: &str, mime_type: &str, bytes: Vec<u8>) -> String {
        let path = path.trim_start_matches('/').to_owned();
        self.shared.state().cdn.insert(
            path.clone(),
            CdnFile {
                mime_type: mime_type.to_owned(),
                bytes,
                expiry: None,
                pace: None,
            },
        );
        format!("{}/cdn/{path}", self.shared.base_url)
    }

    /// Like [`GraphSim::add_cdn_file`], but the file is sent at `pace`: a test can see what
    /// the relay does while a large download is under way.
    pub fn add_cdn_file_paced(
        &self,
        path: &str,
        mime_type: &str,
        bytes: Vec<u8>,
        pace: Pace,
    ) -> String {
        let path = path.trim_start_matches('/').to_owned();
        self.shared.state().cdn.insert(
            path.clone(),
            CdnFile {
                mime_type: mime_type.to_owned(),
                bytes,
                expiry: None,
                pace: Some(pace),
            },
        );
        format!("{}/cdn/{path}", self.shared.base_url)
    }

    /// Puts a file on the fake CDN whose URL expires `ttl` of sim time from now, like the
    /// signed URLs of Meta's CDN (`?oh=<signature>&oe=<expiry, hex unix seconds>`): after
    /// it, and for a URL whose `oh` or `oe` was changed, the CDN answers 403 with a
    /// plain-text reason ("URL signature expired", "URL signature mismatch"). Returns the
    /// URL.
    pub fn add_cdn_file_expiring(
        &self,
        path: &str,
        mime_type: &str,
        bytes: Vec<u8>,
        ttl: TimeDelta,
    ) -> String {
        let path = path.trim_start_matches('/').to_owned();
        let mut state = self.shared.state();
        let now = state.now();
        let at = now.checked_add_signed(ttl).unwrap_or(now);
        let signature = crate::ids::random_alnum(&mut state.rng, 32).to_ascii_lowercase();
        let url = format!(
            "{}/cdn/{path}?oh={signature}&oe={:X}",
            self.shared.base_url,
            at.timestamp()
        );
        state.cdn.insert(
            path,
            CdnFile {
                mime_type: mime_type.to_owned(),
                bytes,
                expiry: Some(CdnExpiry { at, signature }),
                pace: None,
            },
        );
        url
    }

    // ---- inbound ------------------------------------------------------------------------

    /// Delivers an inbound webhook to the relay as Meta would (signed, via [`Poster`]),
    /// first recording what it means for sends: every user message opens or extends its
    /// window from the event's timestamp, and `user_preferences` stop/resume opt the user
    /// out of or back into marketing templates. Returns the relay's status.
    pub async fn deliver(&self, webhook: &Webhook) -> Result<u16, GraphSimError> {
        let poster = {
            let mut state = self.shared.state();
            for event in &webhook.events {
                let channel = event.channel.external_id();
                if event.kind.is_inbound_message() {
                    state.note_inbound(channel, &event.contact_id, event.timestamp);
                }
                let key = (channel.to_owned(), event.contact_id.clone());
                match event.kind {
                    EventKind::OptOut => {
                        state.opted_out.insert(key);
                    }
                    EventKind::OptIn => {
                        state.opted_out.remove(&key);
                    }
                    _ => {}
                }
            }
            state.poster.clone()
        };
        let poster = poster.ok_or(GraphSimError::NoWebhookTarget)?;
        Ok(poster.post(webhook).await?)
    }

    // ---- records ------------------------------------------------------------------------

    /// Every accepted send, in order.
    pub fn sends(&self) -> Vec<SendRecord> {
        self.shared.state().sends.clone()
    }

    /// How many accepted sends carried `key` as `metadata` or `biz_opaque_callback_data`.
    pub fn send_count(&self, key: &str) -> usize {
        self.shared
            .state()
            .sends
            .iter()
            .filter(|s| s.client_key() == Some(key))
            .count()
    }

    /// Every request the sim answered, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.state().attempts.clone()
    }

    /// Every webhook posted (or attempted) after a send, in order.
    pub fn posted_webhooks(&self) -> Vec<PostedWebhook> {
        self.shared.state().posted.clone()
    }

    /// Waits until every webhook queued so far has been posted.
    pub async fn settle(&self) {
        let mut pending = self.shared.pending.subscribe();
        // The sender lives in `shared`, which `self` holds: this cannot end early.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Stops the server (in-flight requests finish) and the poster (webhooks not yet
    /// posted are dropped: call [`GraphSim::settle`] first to keep them).
    pub async fn shutdown(self) {
        let stop = self
            .tasks
            .shutdown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let server = self
            .tasks
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(server) = server {
            // Keep-alive connections can hold a graceful shutdown open; do not wait long.
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.tasks.poster.abort();
    }
}

/// Adds or replaces a channel; a WABA gets the default templates if it has none.
fn register(state: &mut State, channel: Channel, token: String, human_agent_approved: bool) {
    state.revoked.remove(&token);
    if let Channel::WhatsApp { waba_id, .. } = &channel
        && !state.templates.contains_key(waba_id)
    {
        let prefix = waba_id
            .chars()
            .filter(char::is_ascii_digit)
            .take(12)
            .collect::<String>()
            .parse::<u64>()
            .unwrap_or(1);
        state
            .templates
            .insert(waba_id.clone(), default_templates(prefix));
    }
    state.channels.insert(
        channel.external_id().to_owned(),
        ChannelEntry {
            channel,
            token,
            human_agent_approved,
        },
    );
}

/// A token in the shape Meta issues them: `EAA…` for Page and system-user tokens, `IGAA…`
/// for Instagram Login tokens.
fn mint_token(state: &mut State, platform: Platform) -> String {
    let prefix = match platform {
        Platform::Instagram => "IGAA",
        Platform::Messenger | Platform::WhatsApp => "EAAG",
    };
    format!("{prefix}{}", crate::ids::random_alnum(&mut state.rng, 96))
}
