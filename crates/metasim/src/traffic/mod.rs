//! The traffic generator: seeded, reproducible streams of webhook bodies in the exact shapes
//! of Meta's (see `fixtures/meta/`), over the channels and contacts of a [`Universe`].
//!
//! Random traffic ([`Generator::next_webhook`]) keeps a little memory per conversation so
//! that it hangs together: reactions, reads and deliveries point at messages the business
//! sent, edits and unsends at the customer's own messages, WhatsApp statuses move through
//! `sent → delivered → read` (sometimes skipping `delivered`, as Meta does) or end `failed`.
//! Forced events ([`Generator::event`], [`Generator::text`], …) let a test choose exactly
//! what happens and where.
//!
//! Same universe, seed, clock and calls: same bytes.

mod messaging;
mod whatsapp;

pub use messaging::PAGE_INBOX_APP_ID;
pub(crate) use whatsapp::{ERROR_HREF, FAILURES};

use crate::clock::Clock;
use crate::content::{pick, pick_ref};
use crate::ids::IdMint;
use crate::meta_json;
use crate::universe::{Channel, ChannelInfo, Contact, Conversation, Platform, Universe};
use crate::webhook::{EventInfo, EventKind, MAX_UPDATES_PER_BODY, Webhook};
use crate::wire;
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// How random traffic is batched.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// The most `entry[]` items one body holds (at least 1). Meta batches "especially
    /// during moments of high load"; the default is 3.
    pub max_entries_per_body: usize,
    /// The chance that the next event in an entry comes from the same contact as the one
    /// before (conversations come in bursts). Default 0.6.
    pub same_contact: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            max_entries_per_body: 3,
            same_contact: 0.6,
        }
    }
}

/// Why the generator could not produce what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("a webhook body carries 1 to {max} updates; {requested} were asked for")]
    BatchSize { requested: usize, max: usize },
    #[error("the universe has no {0} channel with contacts")]
    NoChannel(Platform),
    #[error("Meta sends no {kind:?} events on {platform}")]
    Unsupported { kind: EventKind, platform: Platform },
    #[error("one webhook body cannot mix {0} and {1} events")]
    MixedPlatforms(Platform, Platform),
    #[error("{0:?} is not a WhatsApp status")]
    NotAStatus(EventKind),
    #[error("serialising the body: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// One generated event, not yet in a body. Put events in a body with
/// [`Generator::webhook`].
#[derive(Debug, Clone)]
pub struct Event {
    info: EventInfo,
    payload: Payload,
}

impl Event {
    /// What the event is.
    pub fn info(&self) -> &EventInfo {
        &self.info
    }
}

#[derive(Debug, Clone)]
enum Payload {
    Messaging(wire::MessagingEvent),
    WhatsApp(WaUpdate),
}

/// A WhatsApp update and what goes beside it in its change's `value`.
#[derive(Debug, Clone)]
enum WaUpdate {
    Message {
        contact: wire::WaContact,
        // Boxed: a message has a slot for every type, which makes it the largest update.
        message: Box<wire::WaMessage>,
    },
    Status(wire::WaStatus),
    Preference {
        contact: wire::WaContact,
        preference: wire::WaUserPreference,
    },
}

impl WaUpdate {
    /// Updates of one class share a change; classes never mix in one `value`.
    fn class(&self) -> u8 {
        match self {
            WaUpdate::Message { .. } => 0,
            WaUpdate::Status(_) => 1,
            WaUpdate::Preference { .. } => 2,
        }
    }
}

/// A message in a conversation that later events can point at.
#[derive(Debug, Clone)]
struct Sent {
    id: String,
    at_ms: i64,
}

/// What random traffic remembers about one conversation. Lists are bounded so that a long
/// run does not grow without limit.
#[derive(Debug, Default)]
struct ConversationState {
    /// The customer's messages, oldest first.
    inbound: Vec<Sent>,
    /// The business's messages (echo mids, outbound wamids), oldest first.
    business: Vec<Sent>,
    /// Messenger: business mids not yet covered by a delivery.
    undelivered: Vec<String>,
    /// Business mids the customer has a reaction on.
    reacted: Vec<String>,
    /// Messenger: how often each customer message was edited.
    edits: BTreeMap<String, u32>,
}

const REMEMBERED: usize = 32;

fn remember(list: &mut Vec<Sent>, sent: Sent) {
    if list.len() >= REMEMBERED {
        list.remove(0);
    }
    list.push(sent);
}

/// A WhatsApp message the business sent, whose statuses are still to come.
#[derive(Debug, Clone)]
struct Outbound {
    conversation: Conversation,
    wamid: String,
    last: Option<EventKind>,
    /// Pricing goes on `sent` and on the first of `delivered`/`read` (reference §3c).
    pricing: wire::WaPricing,
    second_pricing_sent: bool,
    biz_opaque_callback_data: Option<String>,
}

/// What random traffic picks from.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Kind(EventKind),
    /// The next status of a WhatsApp message in flight, or a new message's first.
    StatusStep,
}

const MESSENGER_MIX: &[(Pick, u32)] = &[
    (Pick::Kind(EventKind::Text), 34),
    (Pick::Kind(EventKind::Image), 5),
    (Pick::Kind(EventKind::Audio), 2),
    (Pick::Kind(EventKind::Video), 2),
    (Pick::Kind(EventKind::File), 2),
    (Pick::Kind(EventKind::Sticker), 2),
    (Pick::Kind(EventKind::QuickReply), 4),
    (Pick::Kind(EventKind::Postback), 4),
    (Pick::Kind(EventKind::Referral), 2),
    (Pick::Kind(EventKind::Reaction), 5),
    (Pick::Kind(EventKind::Unreaction), 1),
    (Pick::Kind(EventKind::Edit), 2),
    (Pick::Kind(EventKind::Echo), 15),
    (Pick::Kind(EventKind::Delivery), 10),
    (Pick::Kind(EventKind::Read), 10),
];

const INSTAGRAM_MIX: &[(Pick, u32)] = &[
    (Pick::Kind(EventKind::Text), 36),
    (Pick::Kind(EventKind::Image), 6),
    (Pick::Kind(EventKind::Audio), 2),
    (Pick::Kind(EventKind::Video), 3),
    (Pick::Kind(EventKind::File), 1),
    (Pick::Kind(EventKind::Sticker), 2),
    (Pick::Kind(EventKind::QuickReply), 2),
    (Pick::Kind(EventKind::Postback), 3),
    (Pick::Kind(EventKind::Referral), 2),
    (Pick::Kind(EventKind::Reaction), 5),
    (Pick::Kind(EventKind::Unreaction), 1),
    (Pick::Kind(EventKind::Unsend), 2),
    (Pick::Kind(EventKind::Echo), 15),
    (Pick::Kind(EventKind::Read), 12),
];

// Status webhooks outnumber inbound messages on WhatsApp (reference §4 sizes for 3×
// outbound), so statuses are the biggest share here.
const WHATSAPP_MIX: &[(Pick, u32)] = &[
    (Pick::Kind(EventKind::Text), 30),
    (Pick::Kind(EventKind::Image), 6),
    (Pick::Kind(EventKind::Audio), 4),
    (Pick::Kind(EventKind::Video), 2),
    (Pick::Kind(EventKind::File), 2),
    (Pick::Kind(EventKind::Sticker), 2),
    (Pick::Kind(EventKind::Location), 2),
    (Pick::Kind(EventKind::Interactive), 4),
    (Pick::Kind(EventKind::TemplateButton), 2),
    (Pick::Kind(EventKind::Referral), 1),
    (Pick::Kind(EventKind::Reaction), 4),
    (Pick::Kind(EventKind::Unreaction), 1),
    (Pick::StatusStep, 40),
    (Pick::Kind(EventKind::OptOut), 1),
    (Pick::Kind(EventKind::OptIn), 1),
];

/// The seeded traffic generator.
#[derive(Debug)]
pub struct Generator {
    universe: Universe,
    rng: StdRng,
    clock: Clock,
    config: GeneratorConfig,
    ids: IdMint,
    conversations: BTreeMap<(String, String), ConversationState>,
    outbound: Vec<Outbound>,
}

impl Generator {
    /// A generator over `universe`, seeded with `seed`, on the default clock (starting at
    /// the fixtures' epoch).
    pub fn new(universe: Universe, seed: u64) -> Self {
        Self::with_clock(universe, seed, Clock::default())
    }

    /// A generator whose timestamps start at, and move on from, `clock`.
    pub fn with_clock(universe: Universe, seed: u64, clock: Clock) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let ids = IdMint::new(&mut rng);
        Generator {
            universe,
            rng,
            clock,
            config: GeneratorConfig::default(),
            ids,
            conversations: BTreeMap::new(),
            outbound: Vec::new(),
        }
    }

    /// The same generator with another batching configuration.
    pub fn with_config(mut self, config: GeneratorConfig) -> Self {
        self.config = config;
        self
    }

    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    /// The simulated time of the last event.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Jumps the simulated clock forward (say, 25 hours, to close a reply window).
    pub fn advance(&mut self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// A body of `events` random updates on `platform`, spread over one or more entries
    /// (up to [`GeneratorConfig::max_entries_per_body`]) of random channels.
    pub fn next_webhook(&mut self, platform: Platform, events: usize) -> Result<Webhook, GenError> {
        check_batch(events)?;
        let channels: Vec<ChannelInfo> = self
            .universe
            .channels_of(platform)
            .filter(|c| !c.contacts.is_empty())
            .cloned()
            .collect();
        if channels.is_empty() {
            return Err(GenError::NoChannel(platform));
        }
        let max_entries = self.config.max_entries_per_body.clamp(1, events);
        let entries = self.rng.random_range(1..=max_entries);
        let mut sizes = vec![1usize; entries];
        for _ in entries..events {
            let at = self.rng.random_range(0..entries);
            if let Some(size) = sizes.get_mut(at) {
                *size += 1;
            }
        }
        // A NaN would make `random_bool` panic; treat it as the default.
        let same_contact = if self.config.same_contact.is_nan() {
            GeneratorConfig::default().same_contact
        } else {
            self.config.same_contact.clamp(0.0, 1.0)
        };
        let mut groups = Vec::with_capacity(entries);
        for size in sizes {
            let info = pick_ref(&mut self.rng, &channels).ok_or(GenError::NoChannel(platform))?;
            let mut contact = pick_ref(&mut self.rng, &info.contacts)
                .ok_or(GenError::NoChannel(platform))?
                .clone();
            let mut events = Vec::with_capacity(size);
            for _ in 0..size {
                if !self.rng.random_bool(same_contact) {
                    contact = pick_ref(&mut self.rng, &info.contacts)
                        .ok_or(GenError::NoChannel(platform))?
                        .clone();
                }
                let conversation = Conversation::new(info.channel.clone(), contact.clone());
                events.push(self.random_event(&conversation)?);
            }
            groups.push((info.channel.clone(), events));
        }
        self.assemble(platform, groups)
    }

    /// One event of `kind` in `conversation`, with random content. The conversation need
    /// not be in the universe (to test unknown channels, say).
    pub fn event(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
    ) -> Result<Event, GenError> {
        let platform = conversation.platform();
        if !kind.supported_on(platform) {
            return Err(GenError::Unsupported { kind, platform });
        }
        Ok(match platform {
            Platform::WhatsApp => self.whatsapp_event(conversation, kind, None),
            Platform::Messenger | Platform::Instagram => {
                self.messaging_event(conversation, kind, None)
            }
        })
    }

    /// The customer sends `text`.
    pub fn text_event(&mut self, conversation: &Conversation, text: &str) -> Event {
        match conversation.platform() {
            Platform::WhatsApp => self.whatsapp_event(conversation, EventKind::Text, Some(text)),
            Platform::Messenger | Platform::Instagram => {
                self.messaging_event(conversation, EventKind::Text, Some(text))
            }
        }
    }

    /// The business's own message `text` comes back as an echo (Messenger, Instagram). With
    /// `metadata`, it is a message this app sent through the Send API (Messenger echoes
    /// carry the `metadata` the sender set and our `app_id`); without, it was typed in the
    /// Page inbox (Messenger's Page-inbox `app_id`).
    pub fn echo_event(
        &mut self,
        conversation: &Conversation,
        text: &str,
        metadata: Option<&str>,
    ) -> Result<Event, GenError> {
        let platform = conversation.platform();
        if platform == Platform::WhatsApp {
            return Err(GenError::Unsupported {
                kind: EventKind::Echo,
                platform,
            });
        }
        Ok(self.echo(conversation, Some(text), Some(metadata)))
    }

    /// A WhatsApp status for `wamid`, a message the business sent to the conversation's
    /// contact (through the relay, say). `status` is one of the `Status*` kinds. Pricing
    /// follows Meta's rule: on `sent`, and on the first of `delivered`/`read`.
    pub fn status_event(
        &mut self,
        conversation: &Conversation,
        wamid: &str,
        status: EventKind,
    ) -> Result<Event, GenError> {
        let platform = conversation.platform();
        if platform != Platform::WhatsApp {
            return Err(GenError::Unsupported {
                kind: status,
                platform,
            });
        }
        if !matches!(
            status,
            EventKind::StatusSent
                | EventKind::StatusDelivered
                | EventKind::StatusRead
                | EventKind::StatusFailed
        ) {
            return Err(GenError::NotAStatus(status));
        }
        let in_flight = self
            .outbound
            .iter()
            .position(|o| o.wamid == wamid)
            .and_then(|at| self.take_outbound(at));
        let outbound = match in_flight {
            Some(outbound) => outbound,
            None => self.new_outbound(conversation, wamid.to_owned()),
        };
        Ok(self.status_of(outbound, status))
    }

    /// `events` in one body, as Meta would batch them: consecutive events of the same
    /// channel share an entry. All must be of one platform.
    pub fn webhook(&mut self, events: Vec<Event>) -> Result<Webhook, GenError> {
        check_batch(events.len())?;
        let mut platform = None;
        let mut groups: Vec<(Channel, Vec<Event>)> = Vec::new();
        for event in events {
            let this = event.info.channel.platform();
            match platform {
                None => platform = Some(this),
                Some(first) if first != this => return Err(GenError::MixedPlatforms(first, this)),
                Some(_) => {}
            }
            match groups.last_mut() {
                Some((channel, group)) if *channel == event.info.channel => group.push(event),
                _ => groups.push((event.info.channel.clone(), vec![event])),
            }
        }
        let platform = platform.ok_or(GenError::BatchSize {
            requested: 0,
            max: MAX_UPDATES_PER_BODY,
        })?;
        self.assemble(platform, groups)
    }

    /// A body with one event of `kind` in `conversation`.
    pub fn single(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
    ) -> Result<Webhook, GenError> {
        let event = self.event(conversation, kind)?;
        self.webhook(vec![event])
    }

    /// A body with one text from the conversation's contact: the shortcut for keyword and
    /// routing tests (`generator.text(&conversation, "quiero hablar con un agente")`).
    pub fn text(&mut self, conversation: &Conversation, text: &str) -> Result<Webhook, GenError> {
        let event = self.text_event(conversation, text);
        self.webhook(vec![event])
    }

    // ---- internals ----------------------------------------------------------------------

    fn random_event(&mut self, conversation: &Conversation) -> Result<Event, GenError> {
        let platform = conversation.platform();
        let mix = match platform {
            Platform::Messenger => MESSENGER_MIX,
            Platform::Instagram => INSTAGRAM_MIX,
            Platform::WhatsApp => WHATSAPP_MIX,
        };
        let total: u32 = mix.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        let mut chosen = Pick::Kind(EventKind::Text);
        for &(candidate, weight) in mix {
            if roll < weight {
                chosen = candidate;
                break;
            }
            roll -= weight;
        }
        match chosen {
            Pick::Kind(kind) => self.event(conversation, kind),
            Pick::StatusStep => Ok(self.status_step(conversation)),
        }
    }

    /// The next status of a message in flight on this channel, or the first of a new one.
    fn status_step(&mut self, conversation: &Conversation) -> Event {
        let in_flight: Vec<usize> = self
            .outbound
            .iter()
            .enumerate()
            .filter(|(_, o)| o.conversation.channel == conversation.channel)
            .map(|(at, _)| at)
            .collect();
        if !in_flight.is_empty() && self.rng.random_bool(0.7) {
            let at = pick(&mut self.rng, &in_flight);
            if let Some(outbound) = self.take_outbound(at) {
                let next = match outbound.last {
                    Some(EventKind::StatusSent) => {
                        let roll = self.rng.random_range(0..100);
                        if roll < 5 {
                            EventKind::StatusFailed
                        } else if roll < 75 {
                            EventKind::StatusDelivered
                        } else {
                            // Delivered and read at once: Meta sends only `read`.
                            EventKind::StatusRead
                        }
                    }
                    _ => EventKind::StatusRead,
                };
                return self.status_of(outbound, next);
            }
        }
        let wamid = self
            .ids
            .wamid(&mut self.rng, &conversation.contact.id, true);
        let outbound = self.new_outbound(conversation, wamid);
        let first = if self.rng.random_ratio(2, 25) {
            EventKind::StatusFailed
        } else {
            EventKind::StatusSent
        };
        self.status_of(outbound, first)
    }

    /// Moves the clock one step and returns the time in milliseconds.
    fn tick_ms(&mut self) -> i64 {
        self.clock.tick(&mut self.rng).timestamp_millis()
    }

    fn state(&mut self, conversation: &Conversation) -> &mut ConversationState {
        self.conversations
            .entry((
                conversation.channel.external_id().to_owned(),
                conversation.contact.id.clone(),
            ))
            .or_default()
    }

    fn info(
        conversation: &Conversation,
        kind: EventKind,
        at_ms: i64,
        key: crate::webhook::DedupeKey,
        text: Option<String>,
    ) -> EventInfo {
        EventInfo {
            kind,
            channel: conversation.channel.clone(),
            contact_id: conversation.contact.id.clone(),
            timestamp: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
            key,
            text,
        }
    }

    /// Serialises groups of events (one entry each) into a body.
    fn assemble(
        &mut self,
        platform: Platform,
        groups: Vec<(Channel, Vec<Event>)>,
    ) -> Result<Webhook, GenError> {
        let mut infos = Vec::new();
        let body = match platform {
            Platform::Messenger | Platform::Instagram => {
                let mut entries = Vec::with_capacity(groups.len());
                for (channel, events) in groups {
                    let mut messaging = Vec::with_capacity(events.len());
                    let mut latest = 0;
                    for event in events {
                        latest = latest.max(event.info.timestamp.timestamp_millis());
                        infos.push(event.info);
                        if let Payload::Messaging(m) = event.payload {
                            messaging.push(m);
                        }
                    }
                    // Meta stamps the entry when it sends the batch: after its events.
                    let time = latest + self.rng.random_range(50..900);
                    entries.push(wire::MessagingEntry {
                        id: channel.entry_id().to_owned(),
                        time,
                        messaging,
                    });
                }
                meta_json::to_vec(&wire::Envelope {
                    object: platform.object(),
                    entry: entries,
                })?
            }
            Platform::WhatsApp => {
                let mut entries = Vec::with_capacity(groups.len());
                for (channel, events) in groups {
                    let mut updates = Vec::with_capacity(events.len());
                    for event in events {
                        infos.push(event.info);
                        if let Payload::WhatsApp(update) = event.payload {
                            updates.push(update);
                        }
                    }
                    entries.push(whatsapp::entry(&channel, updates));
                }
                meta_json::to_vec(&wire::Envelope {
                    object: platform.object(),
                    entry: entries,
                })?
            }
        };
        Ok(Webhook {
            platform,
            body,
            event_count: infos.len(),
            events: infos,
        })
    }
}

fn check_batch(events: usize) -> Result<(), GenError> {
    if events == 0 || events > MAX_UPDATES_PER_BODY {
        return Err(GenError::BatchSize {
            requested: events,
            max: MAX_UPDATES_PER_BODY,
        });
    }
    Ok(())
}

/// A customer as a WhatsApp `contacts[]` item.
fn wa_contact(contact: &Contact, with_profile: bool) -> wire::WaContact {
    wire::WaContact {
        profile: with_profile.then(|| wire::WaProfile {
            name: contact.name.clone(),
        }),
        wa_id: contact.id.clone(),
        user_id: if with_profile {
            contact.bsuid.clone()
        } else {
            None
        },
    }
}
