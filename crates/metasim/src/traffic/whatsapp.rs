//! WhatsApp Cloud API events: `entry[].changes[].value` with `messages`, `statuses` or
//! `user_preferences` (reference §3c, §8; `fixtures/meta/whatsapp_*.json`).

use super::{Event, Generator, Outbound, Payload, Sent, WaUpdate, remember, wa_contact};
use crate::content;
use crate::ids::{media_sha256, random_alnum};
use crate::universe::{Channel, Conversation};
use crate::webhook::{DedupeKey, EventKind};
use crate::wire;
use rand::Rng;

/// Media objects carry a `url` from this date on (a gradual rollout from 2025-11-12,
/// reference §3c); before it, only the id.
const MEDIA_URL_FROM_MS: i64 = 1_762_905_600_000;

/// Failure reasons of `failed` statuses: (code, title, details), from the reference's
/// WhatsApp error table (the first is the fixture's). The Graph stand-in uses them for
/// the `failed` statuses it posts.
pub(crate) const FAILURES: &[(u32, &str, &str)] = &[
    (
        131_047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    (131_026, "Message undeliverable", "Message Undeliverable."),
    (
        131_050,
        "User stopped marketing messages",
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
    ),
    (
        130_429,
        "Rate limit hit",
        "Cloud API message throughput has been reached.",
    ),
    (
        131_049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
];

/// The `href` of WhatsApp error objects (fixture `whatsapp_statuses_sent_read_failed.json`).
pub(crate) const ERROR_HREF: &str =
    "/documentation/business-messaging/whatsapp/support/error-codes";

/// How the business's messages are priced: (`type`, `category`, `billable`).
const PRICING: &[(&str, &str, bool)] = &[
    ("free_customer_service", "service", false),
    ("free_customer_service", "service", false),
    ("free_customer_service", "service", false),
    ("regular", "utility", true),
    ("regular", "utility", true),
    ("regular", "marketing", true),
];

const REACTION_EMOJI: &[&str] = &[
    "\u{1f44d}",
    "\u{2764}\u{fe0f}",
    "\u{1f602}",
    "\u{1f62e}",
    "\u{1f622}",
    "\u{1f64f}",
];

/// At most this many messages wait for further statuses; the oldest are let go.
const IN_FLIGHT: usize = 256;

impl Generator {
    pub(super) fn whatsapp_event(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
        text: Option<&str>,
    ) -> Event {
        use EventKind::*;
        match kind {
            Referral => self.wa_text(conversation, None, true),
            Image | Audio | Video | File | Sticker => self.wa_media(conversation, kind),
            Location => self.wa_location(conversation),
            Interactive => self.wa_interactive(conversation),
            TemplateButton => self.wa_button(conversation),
            Reaction => self.wa_reaction(conversation, true),
            Unreaction => self.wa_reaction(conversation, false),
            StatusSent | StatusDelivered | StatusRead | StatusFailed => {
                let wamid = self
                    .ids
                    .wamid(&mut self.rng, &conversation.contact.id, true);
                let outbound = self.new_outbound(conversation, wamid);
                self.status_of(outbound, kind)
            }
            OptOut => self.wa_preference(conversation, true),
            OptIn => self.wa_preference(conversation, false),
            // The Messenger/Instagram-only kinds are refused before this point; a text is
            // the harmless answer should one arrive.
            Text | QuickReply | Postback | Edit | Unsend | Echo | Delivery | Read => {
                self.wa_text(conversation, text, false)
            }
        }
    }

    /// Takes the message in flight at `at` out of the list.
    pub(super) fn take_outbound(&mut self, at: usize) -> Option<Outbound> {
        (at < self.outbound.len()).then(|| self.outbound.remove(at))
    }

    /// A message the business sent (through the relay, or outside this simulation),
    /// remembered so later statuses, reactions and replies can point at it.
    pub(super) fn new_outbound(&mut self, conversation: &Conversation, wamid: String) -> Outbound {
        let (kind, category, billable) = content::pick(&mut self.rng, PRICING);
        let biz_opaque_callback_data = self
            .rng
            .random_bool(0.5)
            .then(|| format!("ventana:{}", random_alnum(&mut self.rng, 16)));
        let at_ms = self.clock.now().timestamp_millis();
        remember(
            &mut self.state(conversation).business,
            Sent {
                id: wamid.clone(),
                at_ms,
            },
        );
        Outbound {
            conversation: conversation.clone(),
            wamid,
            last: None,
            pricing: wire::WaPricing {
                billable,
                pricing_model: "PMP",
                kind,
                category,
            },
            second_pricing_sent: false,
            biz_opaque_callback_data,
        }
    }

    fn keep_in_flight(&mut self, outbound: Outbound) {
        if self.outbound.len() >= IN_FLIGHT {
            self.outbound.remove(0);
        }
        self.outbound.push(outbound);
    }

    /// The next status of `outbound`; it stays in flight unless the status is final.
    pub(super) fn status_of(&mut self, mut outbound: Outbound, status: EventKind) -> Event {
        let at = self.tick_ms();
        let name = match status {
            EventKind::StatusDelivered => "delivered",
            EventKind::StatusRead => "read",
            EventKind::StatusFailed => "failed",
            _ => "sent",
        };
        // Pricing is on `sent` and on one of `delivered`/`read`, never both (§3c).
        let pricing = match name {
            "sent" => Some(outbound.pricing.clone()),
            "delivered" | "read" if !outbound.second_pricing_sent => {
                outbound.second_pricing_sent = true;
                Some(outbound.pricing.clone())
            }
            _ => None,
        };
        let errors = (name == "failed").then(|| {
            let (code, title, details) = content::pick(&mut self.rng, FAILURES);
            vec![wire::WaError {
                code,
                title,
                message: title,
                error_data: wire::WaErrorData { details },
                href: ERROR_HREF,
            }]
        });
        let conversation = outbound.conversation.clone();
        let item = wire::WaStatus {
            id: outbound.wamid.clone(),
            status: name,
            timestamp: seconds(at),
            recipient_id: conversation.contact.id.clone(),
            biz_opaque_callback_data: outbound.biz_opaque_callback_data.clone(),
            pricing,
            errors,
        };
        let key = DedupeKey::WamidStatus {
            wamid: outbound.wamid.clone(),
            status: name.to_owned(),
        };
        outbound.last = Some(status);
        if !matches!(name, "read" | "failed") {
            self.keep_in_flight(outbound);
        }
        Event {
            info: Self::info(&conversation, status, at, key, None),
            payload: Payload::WhatsApp(WaUpdate::Status(item)),
        }
    }

    fn wa_text(&mut self, conversation: &Conversation, text: Option<&str>, from_ad: bool) -> Event {
        let at = self.tick_ms();
        let lang = conversation.contact.lang;
        let text = match (text, from_ad) {
            (Some(text), _) => text.to_owned(),
            (None, true) => match lang {
                crate::universe::Lang::English => {
                    "Hi! I saw your ad, is the trail jacket still available?"
                }
                crate::universe::Lang::Spanish => {
                    "¡Hola! Vi su anuncio, ¿sigue disponible la chaqueta?"
                }
            }
            .to_owned(),
            (None, false) => content::text(&mut self.rng, lang).to_owned(),
        };
        let mut message = self.wa_message(conversation, "text", at);
        message.text = Some(wire::WaText { body: text.clone() });
        if from_ad {
            message.referral = Some(self.ad_referral(lang));
        } else if self.rng.random_ratio(1, 10) {
            // A quoted reply to the business's message.
            message.context = Some(self.context(conversation, at));
        }
        let kind = if from_ad {
            EventKind::Referral
        } else {
            EventKind::Text
        };
        self.wa_inbound(conversation, kind, at, message, Some(text))
    }

    fn wa_media(&mut self, conversation: &Conversation, kind: EventKind) -> Event {
        let at = self.tick_ms();
        let with_caption = |rng: &mut rand::rngs::StdRng, percent: u32| {
            rng.random_ratio(percent, 100)
                .then(|| content::caption(rng).to_owned())
        };
        let (type_name, mime_type, caption, filename) = match kind {
            EventKind::Image => ("image", "image/jpeg", with_caption(&mut self.rng, 60), None),
            EventKind::Video => ("video", "video/mp4", with_caption(&mut self.rng, 40), None),
            EventKind::Audio => {
                let voice_note = self.rng.random_ratio(4, 5);
                let mime = if voice_note {
                    "audio/ogg; codecs=opus"
                } else {
                    "audio/mpeg"
                };
                ("audio", mime, None, None)
            }
            EventKind::File => {
                let (name, mime) = content::document(&mut self.rng);
                (
                    "document",
                    mime,
                    with_caption(&mut self.rng, 30),
                    Some(name.to_owned()),
                )
            }
            _ => ("sticker", "image/webp", None, None),
        };
        let id = self.ids.media_id();
        let url = (at >= MEDIA_URL_FROM_MS).then(|| {
            format!(
                "{}/whatsapp_business/attachments/?mid={id}&ext={}&hash={}",
                self.universe.media_base_url.trim_end_matches('/'),
                at / 1000,
                random_alnum(&mut self.rng, 22)
            )
        });
        let media = wire::WaMedia {
            caption: caption.clone(),
            filename,
            mime_type,
            sha256: media_sha256(&mut self.rng),
            id,
            url,
        };
        let mut message = self.wa_message(conversation, type_name, at);
        match type_name {
            "image" => message.image = Some(media),
            "video" => message.video = Some(media),
            "audio" => message.audio = Some(media),
            "document" => message.document = Some(media),
            _ => message.sticker = Some(media),
        }
        self.wa_inbound(conversation, kind, at, message, caption)
    }

    fn wa_location(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let (latitude, longitude, name, address) = content::place(&mut self.rng);
        let mut message = self.wa_message(conversation, "location", at);
        // Whole micro-degrees divided once give the shortest decimal on output (37.4847).
        message.location = Some(wire::WaLocation {
            latitude: latitude as f64 / 1e6,
            longitude: longitude as f64 / 1e6,
            name: name.map(str::to_owned),
            address: address.map(str::to_owned),
        });
        self.wa_inbound(
            conversation,
            EventKind::Location,
            at,
            message,
            name.map(str::to_owned),
        )
    }

    fn wa_interactive(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let (id, title, description) =
            content::interactive_reply(&mut self.rng, conversation.contact.lang);
        let from_list = self.rng.random_ratio(3, 10);
        let reply = wire::WaReply {
            id: id.to_owned(),
            title: title.to_owned(),
            description: from_list.then(|| description.to_owned()),
        };
        let mut message = self.wa_message(conversation, "interactive", at);
        message.context = Some(self.context(conversation, at));
        message.interactive = Some(if from_list {
            wire::WaInteractive {
                kind: "list_reply",
                button_reply: None,
                list_reply: Some(reply),
            }
        } else {
            wire::WaInteractive {
                kind: "button_reply",
                button_reply: Some(reply),
                list_reply: None,
            }
        });
        self.wa_inbound(
            conversation,
            EventKind::Interactive,
            at,
            message,
            Some(title.to_owned()),
        )
    }

    fn wa_button(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let (payload, text) = content::template_button(&mut self.rng, conversation.contact.lang);
        let mut message = self.wa_message(conversation, "button", at);
        message.context = Some(self.context(conversation, at));
        message.button = Some(wire::WaButton {
            payload: payload.to_owned(),
            text: text.to_owned(),
        });
        self.wa_inbound(
            conversation,
            EventKind::TemplateButton,
            at,
            message,
            Some(text.to_owned()),
        )
    }

    fn wa_reaction(&mut self, conversation: &Conversation, add: bool) -> Event {
        let at = self.tick_ms();
        let message_id = self.business_wamid(conversation, at);
        let mut message = self.wa_message(conversation, "reaction", at);
        message.reaction = Some(wire::WaReaction {
            message_id,
            // Removing a reaction sends no `emoji` (reference §3c).
            emoji: add.then(|| content::pick(&mut self.rng, REACTION_EMOJI).to_owned()),
        });
        let kind = if add {
            EventKind::Reaction
        } else {
            EventKind::Unreaction
        };
        self.wa_inbound(conversation, kind, at, message, None)
    }

    fn wa_preference(&mut self, conversation: &Conversation, stop: bool) -> Event {
        let at = self.tick_ms();
        let timestamp = at.div_euclid(1000);
        let value = if stop { "stop" } else { "resume" };
        let preference = wire::WaUserPreference {
            wa_id: conversation.contact.id.clone(),
            detail: if stop {
                "User requested to stop marketing messages"
            } else {
                "User requested to resume marketing messages"
            },
            category: "marketing_messages",
            value,
            timestamp,
        };
        let key = DedupeKey::UserPreference {
            wa_id: conversation.contact.id.clone(),
            value: value.to_owned(),
            timestamp,
        };
        let kind = if stop {
            EventKind::OptOut
        } else {
            EventKind::OptIn
        };
        Event {
            info: Self::info(conversation, kind, at, key, None),
            payload: Payload::WhatsApp(WaUpdate::Preference {
                // The fixture's `contacts` here hold only the `wa_id`.
                contact: wa_contact(&conversation.contact, false),
                preference,
            }),
        }
    }

    /// The common part of an inbound message, with a new wamid.
    fn wa_message(
        &mut self,
        conversation: &Conversation,
        type_name: &'static str,
        at: i64,
    ) -> wire::WaMessage {
        wire::WaMessage {
            from: conversation.contact.id.clone(),
            id: self
                .ids
                .wamid(&mut self.rng, &conversation.contact.id, false),
            timestamp: seconds(at),
            kind: type_name,
            ..Default::default()
        }
    }

    fn wa_inbound(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
        at: i64,
        message: wire::WaMessage,
        text: Option<String>,
    ) -> Event {
        let wamid = message.id.clone();
        remember(
            &mut self.state(conversation).inbound,
            Sent {
                id: wamid.clone(),
                at_ms: at,
            },
        );
        Event {
            info: Self::info(conversation, kind, at, DedupeKey::Wamid(wamid), text),
            payload: Payload::WhatsApp(WaUpdate::Message {
                contact: wa_contact(&conversation.contact, true),
                message: Box::new(message),
            }),
        }
    }

    /// `context` pointing at one of the business's messages (replies, button taps).
    fn context(&mut self, conversation: &Conversation, at: i64) -> wire::WaContext {
        wire::WaContext {
            from: display_number(&conversation.channel),
            id: self.business_wamid(conversation, at),
        }
    }

    /// One of the business's recent wamids; one sent before the simulation if none.
    fn business_wamid(&mut self, conversation: &Conversation, at: i64) -> String {
        let recent: Vec<String> = self
            .state(conversation)
            .business
            .iter()
            .rev()
            .take(3)
            .map(|sent| sent.id.clone())
            .collect();
        if let Some(wamid) = content::pick_ref(&mut self.rng, &recent) {
            return wamid.clone();
        }
        let wamid = self
            .ids
            .wamid(&mut self.rng, &conversation.contact.id, true);
        remember(
            &mut self.state(conversation).business,
            Sent {
                id: wamid.clone(),
                at_ms: at - 60_000,
            },
        );
        wamid
    }

    /// A Click-to-WhatsApp ad's referral (reference §3c).
    fn ad_referral(&mut self, lang: crate::universe::Lang) -> wire::WaReferral {
        let ad_id =
            (120_200_000_000_000_000u64 + self.rng.random_range(0..99_999_999_999)).to_string();
        let (headline, body) = match lang {
            crate::universe::Lang::English => (
                "Trail jacket -30%",
                "Waterproof, breathable, ships in 24 h. Tap to chat!",
            ),
            crate::universe::Lang::Spanish => (
                "Chaqueta -30%",
                "Impermeable y transpirable. ¡Escríbenos por WhatsApp!",
            ),
        };
        let base = self
            .universe
            .media_base_url
            .trim_end_matches('/')
            .to_owned();
        wire::WaReferral {
            source_url: format!("https://fb.me/{}", random_alnum(&mut self.rng, 9)),
            source_id: ad_id,
            source_type: "ad",
            headline: headline.to_owned(),
            body: body.to_owned(),
            media_type: "image",
            image_url: format!(
                "{base}/v/t45.1600-4/{}_n.png?stp=dst-jpg&_nc_cat=1&oh=00_{}",
                self.rng.random_range(100_000_000u64..1_000_000_000),
                random_alnum(&mut self.rng, 24)
            ),
            ctwa_clid: self.ids.token(&mut self.rng, 40),
        }
    }
}

/// One entry of a WhatsApp body: the channel's WABA, and one change per run of updates of
/// the same class (messages, statuses, user preferences), each with the number's metadata.
pub(super) fn entry(channel: &Channel, updates: Vec<WaUpdate>) -> wire::WaEntry {
    let mut runs: Vec<Vec<WaUpdate>> = Vec::new();
    for update in updates {
        match runs.last_mut() {
            Some(run) if run.first().map(WaUpdate::class) == Some(update.class()) => {
                run.push(update)
            }
            _ => runs.push(vec![update]),
        }
    }
    let changes = runs.into_iter().map(|run| change(channel, run)).collect();
    wire::WaEntry {
        id: channel.entry_id().to_owned(),
        changes,
    }
}

fn change(channel: &Channel, run: Vec<WaUpdate>) -> wire::WaChange {
    let mut contacts: Vec<wire::WaContact> = Vec::new();
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    let mut preferences = Vec::new();
    for update in run {
        match update {
            WaUpdate::Message { contact, message } => {
                if !contacts.iter().any(|c| c.wa_id == contact.wa_id) {
                    contacts.push(contact);
                }
                messages.push(*message);
            }
            WaUpdate::Status(status) => statuses.push(status),
            WaUpdate::Preference {
                contact,
                preference,
            } => {
                if !contacts.iter().any(|c| c.wa_id == contact.wa_id) {
                    contacts.push(contact);
                }
                preferences.push(preference);
            }
        }
    }
    let field = if preferences.is_empty() {
        "messages"
    } else {
        "user_preferences"
    };
    wire::WaChange {
        value: wire::WaValue {
            messaging_product: "whatsapp",
            metadata: wire::WaMetadata {
                display_phone_number: display_number(channel),
                phone_number_id: channel.external_id().to_owned(),
            },
            contacts: (!contacts.is_empty()).then_some(contacts),
            messages: (!messages.is_empty()).then_some(messages),
            statuses: (!statuses.is_empty()).then_some(statuses),
            user_preferences: (!preferences.is_empty()).then_some(preferences),
        },
        field,
    }
}

fn display_number(channel: &Channel) -> String {
    match channel {
        Channel::WhatsApp {
            display_phone_number,
            ..
        } => display_phone_number.clone(),
        other => other.external_id().to_owned(),
    }
}

/// Unix seconds as WhatsApp writes them in `timestamp`: a string.
fn seconds(at_ms: i64) -> String {
    at_ms.div_euclid(1000).to_string()
}
