//! The deterministic backlog of a busy tenant that the benchmarks share: 100,000
//! conversations and 1,000,000 messages over three channels (skewed lengths, 70 % inbound,
//! statuses, media with captions, assignments, labels, escalations and notes; English and
//! Spanish text from a Zipf-distributed vocabulary), as log entries. Used by
//! `benches/cache.rs` here and by the app's benchmark (`benches/app.rs` at the root, which
//! includes this file with `#[path]`).
// Each benchmark uses part of it.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use std::collections::BTreeSet;
use ventana_inbox::apply::LogEntry;
use ventana_protocol::event::{
    Actor, Assignee, ChannelConnection, ChannelSnapshot, ConversationStatus, DeliveryStatus,
    EscalationReason, InboundMessage, Media, MessageContent, OutboundMessage, Sender, SentAs,
    StatusTarget,
};
use ventana_protocol::ids::AgentId;
use ventana_protocol::{ChannelKind, ChannelSettings, Event, EventBody};

pub(crate) const CONVERSATIONS: usize = 100_000;
pub(crate) const MESSAGES: usize = 1_000_000;
pub(crate) const AGENTS: u32 = 8;

// ---------------------------------------------------------------------------------------
// A small deterministic PRNG (xorshift64*, seeded through splitmix64).

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------
// Vocabulary: common English and Spanish words (with accents), then a few thousand rarer
// made-up words (product names, places, surnames) shared by both; Zipf-distributed ranks.

pub(crate) const ENGLISH: &str = "\
    the to i my you a and is for order it of in hi please thanks can have not with this \
    your we on be me help delivery package when will what refund still hello size yes no \
    do are that just received arrive tracking number payment card address change cancel \
    return price store today tomorrow week days wrong item color available stock shipping \
    free discount code invoice account password email phone call thank much great good \
    problem issue broken damaged missing late waiting since monday friday morning \
    afternoon how long does take could would like want need buy bought paid charged twice \
    again already sent send photo picture link website app login reset update status \
    confirm confirmed booking appointment reschedule open closed hours location near \
    exchange warranty repair replacement medium large small black white blue red green \
    shoes shirt dress jacket bag subscription plan upgrade coupon sale offer gift wrap \
    urgent asap sorry okay perfect awesome agent human person speak someone courier driver \
    door";

pub(crate) const SPANISH: &str = "\
    de que el la mi hola en por pedido no y es un para gracias me lo con una favor ya \
    cuándo llega envío está todavía buenas tardes días noches quiero necesito ayuda número \
    seguimiento dirección pago tarjeta factura devolución reembolso cambiar cancelar talla \
    color precio tienda hoy mañana semana producto artículo equivocado roto dañado falta \
    tarde esperando desde lunes viernes cuánto tarda podrían puedo quisiera comprar compré \
    pagué cobraron dos veces otra vez envié foto enlace página aplicación contraseña \
    correo teléfono llamar muchas muy bien problema disponible existencias gratis \
    descuento código cuenta actualizar estado confirmar confirmado reserva cita horario \
    abierto cerrado ubicación cerca cambio garantía reparación reemplazo mediana grande \
    pequeña negro blanco azul rojo verde zapatos camisa vestido chaqueta bolsa suscripción \
    oferta regalo urgente perdón disculpe vale perfecto genial agente humano persona \
    hablar alguien repartidor puerta también información dónde qué cómo así después \
    entrega paquete recibí aún según más sí señor señora niño año pequeño sábado miércoles \
    envíos crédito";

pub(crate) const SYLLABLES: &str = "\
    ca lo mi ta re ño sa ví ro den mar tel qui bra zo lu pe nes tor gal vin ce dú fra ko \
    xa ber lla sol ti on ex pri mó ga ran che vo is ul";

pub(crate) const FIRST_NAMES: &str = "\
    María José Lucía Sofía Martín Andrés Camila Valentina Ángel Inés Jesús Ramón Elena \
    Carmen Javier Raúl Begoña Iñaki Noemí Sebastián Emma Olivia Liam Noah James Ava Mia \
    Lucas Ethan Chloe Daniel Sarah Michael Laura David Anna Óscar Zoë Renée Joaquín";

pub(crate) const LAST_NAMES: &str = "\
    García Martínez López Sánchez Pérez Gómez Fernández Díaz Núñez Muñoz Álvarez Romero \
    Jiménez Ruiz Hernández Peña Castaño Ibáñez Ortiz Rubio Smith Johnson Williams Brown \
    Jones Miller Davis Wilson Taylor Clark Lewis Walker Young King Wright Scott Green \
    Baker Adams Nelson";

pub(crate) struct Vocabulary {
    /// Per language (0 English, 1 Spanish): the words by rank and their cumulative weights.
    pub(crate) words: [Vec<String>; 2],
    pub(crate) cumulative: [Vec<f64>; 2],
    /// The made-up words, rarest last (for rare-word queries).
    pub(crate) invented: Vec<String>,
    pub(crate) first_names: Vec<&'static str>,
    pub(crate) last_names: Vec<&'static str>,
}

impl Vocabulary {
    pub(crate) fn new() -> Self {
        let mut rng = Rng::new(7);
        let mut seen = BTreeSet::new();
        for word in ENGLISH.split_whitespace().chain(SPANISH.split_whitespace()) {
            seen.insert(word.to_string());
        }
        let syllable_list: Vec<&str> = SYLLABLES.split_whitespace().collect();
        let mut invented = Vec::new();
        while invented.len() < 3_600 {
            let syllables = 2 + rng.below(3);
            let word: String = (0..syllables).map(|_| *rng.pick(&syllable_list)).collect();
            if seen.insert(word.clone()) {
                invented.push(word);
            }
        }
        let ranked = |common: &str| -> (Vec<String>, Vec<f64>) {
            let words: Vec<String> = common
                .split_whitespace()
                .map(|w| w.to_string())
                .chain(invented.iter().cloned())
                .collect();
            let mut total = 0.0;
            let cumulative = (0..words.len())
                .map(|rank| {
                    total += 1.0 / (rank as f64 + 1.0);
                    total
                })
                .collect();
            (words, cumulative)
        };
        let (english, english_cumulative) = ranked(ENGLISH);
        let (spanish, spanish_cumulative) = ranked(SPANISH);
        Self {
            words: [english, spanish],
            cumulative: [english_cumulative, spanish_cumulative],
            invented,
            first_names: FIRST_NAMES.split_whitespace().collect(),
            last_names: LAST_NAMES.split_whitespace().collect(),
        }
    }

    pub(crate) fn contact_name(&self, conversation: u32) -> String {
        let mut rng = Rng::new(u64::from(conversation) ^ 0x5eed);
        format!(
            "{} {}",
            rng.pick(&self.first_names),
            rng.pick(&self.last_names)
        )
    }

    pub(crate) fn word(&self, language: usize, rng: &mut Rng) -> &str {
        let cumulative = &self.cumulative[language];
        let target = rng.unit() * cumulative[cumulative.len() - 1];
        let rank = cumulative.partition_point(|&c| c < target);
        &self.words[language][rank.min(cumulative.len() - 1)]
    }

    pub(crate) fn sentence(&self, language: usize, rng: &mut Rng) -> String {
        let count = 3 + rng.below(18) as usize;
        let mut text = String::new();
        for i in 0..count {
            if i > 0 {
                text.push(' ');
            }
            if rng.chance(0.01) {
                // An order number: a rare token of its own.
                text.push_str(&format!("#{}", 10_000 + rng.below(990_000)));
            } else {
                text.push_str(self.word(language, rng));
            }
        }
        if rng.chance(0.5) {
            text.push_str(if language == 1 { "?" } else { "." });
        }
        text
    }
}

// ---------------------------------------------------------------------------------------
// The log, planned compactly then turned into events one batch at a time.

#[derive(Debug, Clone, Copy)]
pub(crate) enum What {
    Channel(u8),
    /// A message of the conversation, by its index in it.
    Received(u32),
    Sent(u32),
    Delivered(u32),
    Read(u32),
    Assign(u32),
    Labels,
    Resolve,
    Escalate,
    Note,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    /// Milliseconds after the log's start.
    pub(crate) at: i64,
    pub(crate) conversation: u32,
    pub(crate) what: What,
}

pub(crate) const KINDS: [ChannelKind; 3] = [
    ChannelKind::Messenger,
    ChannelKind::Instagram,
    ChannelKind::WhatsApp,
];

pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

pub(crate) fn channel_of(conversation: u32) -> usize {
    conversation as usize % 3
}

pub(crate) fn language_of(conversation: u32) -> usize {
    // Six in ten conversations are in Spanish.
    usize::from(Rng::new(u64::from(conversation) ^ 0x1a2b).below(10) < 6)
}

pub(crate) struct Plan {
    pub(crate) items: Vec<Planned>,
    pub(crate) lengths: Vec<u32>,
    /// When each conversation began (its first message), in milliseconds after the start.
    pub(crate) begins: Vec<i64>,
    pub(crate) end: DateTime<Utc>,
}

pub(crate) fn plan(conversations: usize, messages: usize) -> Plan {
    let mut rng = Rng::new(42);
    // Skewed lengths: a Pareto weight per conversation, scaled so the total is `messages`,
    // every conversation has at least one message, and none more than 20,000.
    let weights: Vec<f64> = (0..conversations)
        .map(|_| (1.0 - rng.unit()).powf(-1.0 / 1.1).min(4_000.0))
        .collect();
    let spare = messages.saturating_sub(conversations) as f64;
    let total: f64 = weights.iter().sum();
    let mut lengths: Vec<u32> = weights
        .iter()
        .map(|w| 1 + (w / total * spare) as u32)
        .collect();
    let mut assigned: usize = lengths.iter().map(|&l| l as usize).sum();
    while assigned < messages {
        lengths[rng.below(conversations as u64) as usize] += 1;
        assigned += 1;
    }

    let span: i64 = 180 * 86_400_000;
    let mut items = Vec::with_capacity(messages * 14 / 10);
    for (c, kind) in KINDS.iter().enumerate() {
        let _ = kind;
        items.push(Planned {
            at: -1_000 + c as i64,
            conversation: 0,
            what: What::Channel(c as u8),
        });
    }
    let mut times = Vec::new();
    let mut all_begins = Vec::with_capacity(conversations);
    for (c, &length) in lengths.iter().enumerate() {
        let conversation = c as u32;
        let begins = rng.below(span as u64) as i64;
        all_begins.push(begins);
        // Longer conversations last longer: from minutes to the rest of the span.
        let lasts = ((60_000.0 * (1.0 + f64::from(length)).powf(1.6)) * (0.5 + rng.unit()))
            .min((span - begins) as f64) as i64;
        times.clear();
        times.extend((0..length).map(|_| begins + rng.below(lasts.max(1) as u64) as i64));
        times.sort_unstable();
        times[0] = begins;
        let agent = rng.below(u64::from(AGENTS)) as u32;
        let assigned = rng.chance(0.6);
        let escalated = rng.chance(0.03);
        let resolved = !escalated && rng.chance(0.4);
        for (n, &at) in times.iter().enumerate() {
            let n = n as u32;
            let outbound = n > 0 && rng.chance(1.0 / 3.0);
            if outbound {
                items.push(Planned {
                    at,
                    conversation,
                    what: What::Sent(n),
                });
                if rng.chance(0.6) {
                    items.push(Planned {
                        at: at + 1_000 + rng.below(30_000) as i64,
                        conversation,
                        what: What::Delivered(n),
                    });
                }
                if rng.chance(0.4) {
                    items.push(Planned {
                        at: at + 60_000 + rng.below(3_600_000) as i64,
                        conversation,
                        what: What::Read(n),
                    });
                }
            } else {
                items.push(Planned {
                    at,
                    conversation,
                    what: What::Received(n),
                });
            }
            if n == 0 && assigned {
                items.push(Planned {
                    at: at + 5_000 + rng.below(600_000) as i64,
                    conversation,
                    what: What::Assign(agent),
                });
            }
        }
        let last = times[times.len() - 1];
        if rng.chance(0.1) {
            items.push(Planned {
                at: begins + 60_000,
                conversation,
                what: What::Labels,
            });
        }
        if rng.chance(0.02) {
            items.push(Planned {
                at: last + 30_000,
                conversation,
                what: What::Note,
            });
        }
        if escalated {
            items.push(Planned {
                at: last + 120_000,
                conversation,
                what: What::Escalate,
            });
        }
        if resolved {
            items.push(Planned {
                at: last + 3_600_000,
                conversation,
                what: What::Resolve,
            });
        }
    }
    // Stable: within a conversation, what was planned first stays first on equal times.
    items.sort_by_key(|item| item.at);
    let end = start() + TimeDelta::milliseconds(items[items.len() - 1].at + 60_000);
    Plan {
        items,
        lengths,
        begins: all_begins,
        end,
    }
}

/// Ids shaped like the real ones: the relay names contacts and conversations with UUIDv7s
/// (time-ordered, from when it first saw them); message ids are the platforms' own long
/// random strings; replies' keys are UUIDs made by the desktop.
pub(crate) struct Ids {
    pub(crate) contacts: Vec<String>,
    pub(crate) conversations: Vec<String>,
}

pub(crate) fn uuid_v7(at: i64, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut random = [0u8; 10];
    for byte in &mut random {
        *byte = rng.next() as u8;
    }
    let millis = (start().timestamp_millis() + at) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

impl Ids {
    pub(crate) fn new(plan: &Plan) -> Self {
        let id = |salt: u64| -> Vec<String> {
            plan.begins
                .iter()
                .enumerate()
                .map(|(c, &at)| uuid_v7(at, ((c as u64) << 8) | salt))
                .collect()
        };
        Self {
            contacts: id(1),
            conversations: id(2),
        }
    }
}

/// A platform's message id: `m_…` on Messenger, `aWdf…` on Instagram, `wamid.…` on WhatsApp.
pub(crate) fn platform_id(conversation: u32, n: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (prefix, length) = match KINDS[channel_of(conversation)] {
        ChannelKind::Messenger => ("m_", 86),
        ChannelKind::Instagram => ("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE", 64),
        ChannelKind::WhatsApp => ("wamid.HBgL", 48),
    };
    let mut rng = Rng::new((u64::from(conversation) << 32) | u64::from(n) | (1 << 63));
    let mut id = String::with_capacity(prefix.len() + length);
    id.push_str(prefix);
    for _ in 0..length {
        id.push(ALPHABET[rng.below(64) as usize] as char);
    }
    id
}

pub(crate) fn message_content(
    vocabulary: &Vocabulary,
    conversation: u32,
    n: u32,
    inbound: bool,
) -> MessageContent {
    let mut rng = Rng::new((u64::from(conversation) << 32) | u64::from(n));
    let language = language_of(conversation);
    let roll = rng.unit();
    let media = |rng: &mut Rng, caption: bool, filename: Option<String>| Media {
        media_id: format!("md_{conversation}_{n}").as_str().into(),
        mime_type: None,
        caption: caption.then(|| vocabulary.sentence(language, rng)),
        filename,
        sha256: None,
    };
    if inbound && roll < 0.04 {
        let caption = rng.chance(0.5);
        MessageContent::Image(media(&mut rng, caption, None))
    } else if roll < 0.055 {
        let caption = rng.chance(0.3);
        let name = format!("factura_{}.pdf", rng.below(100_000));
        MessageContent::Document(media(&mut rng, caption, Some(name)))
    } else if inbound && roll < 0.07 {
        MessageContent::Audio(media(&mut rng, false, None))
    } else {
        MessageContent::Text {
            body: vocabulary.sentence(language, &mut rng),
        }
    }
}

pub(crate) fn entry(vocabulary: &Vocabulary, ids: &Ids, item: &Planned, seq: u64) -> LogEntry {
    let conversation = item.conversation;
    let c = conversation as usize;
    let occurred_at = start() + TimeDelta::milliseconds(item.at);
    let channel = match item.what {
        What::Channel(c) => c as usize,
        _ => channel_of(conversation),
    };
    let scoped = !matches!(item.what, What::Channel(_));
    let seed = (u64::from(conversation) << 32) | (seq & 0xffff_ffff);
    let (event_id, body) = match item.what {
        What::Channel(c) => (
            format!("channel:{}", uuid_v7(item.at, seed)),
            EventBody::ChannelUpdated(ChannelSnapshot {
                kind: KINDS[c as usize],
                display_name: format!("Bench {}", KINDS[c as usize].as_str()),
                connection: ChannelConnection::Connected,
                human_agent_approved: c != 2,
                settings: ChannelSettings::default(),
            }),
        ),
        What::Received(n) => {
            let message_id = platform_id(conversation, n);
            (
                format!("msg:{message_id}"),
                EventBody::MessageReceived(InboundMessage {
                    message_id: message_id.as_str().into(),
                    content: message_content(vocabulary, conversation, n, true),
                    sender_name: Some(vocabulary.contact_name(conversation)),
                    reply_to: None,
                    referral: None,
                }),
            )
        }
        What::Sent(n) => {
            let message_id = platform_id(conversation, n);
            let mut rng = Rng::new((u64::from(conversation) << 32) | u64::from(n) ^ 0xab);
            let roll = rng.unit();
            let (sender, key, sent_as) = if roll < 0.6 {
                (
                    Sender::Agent {
                        agent: AgentId::new(format!("ag_{}", rng.below(u64::from(AGENTS)))),
                    },
                    Some(uuid_v7(item.at - 900, seed ^ 0x4b).as_str().into()),
                    SentAs::Standard,
                )
            } else if roll < 0.85 {
                (Sender::Bot, None, SentAs::Standard)
            } else {
                (Sender::ExternalApp { app: None }, None, SentAs::Unknown)
            };
            (
                format!("msg:{message_id}"),
                EventBody::MessageSent(OutboundMessage {
                    message_id: Some(message_id.as_str().into()),
                    idempotency_key: key,
                    content: message_content(vocabulary, conversation, n, false),
                    sender,
                    sent_as,
                    reply_to: None,
                }),
            )
        }
        What::Delivered(n) | What::Read(n) => {
            let (status, name) = if matches!(item.what, What::Read(_)) {
                (DeliveryStatus::Read, "read")
            } else {
                (DeliveryStatus::Delivered, "delivered")
            };
            // Messenger reports by watermark; Instagram and WhatsApp by message.
            if KINDS[channel] == ChannelKind::Messenger {
                let watermark = occurred_at - TimeDelta::seconds(1);
                (
                    format!(
                        "{name}:{}:{}",
                        ids.conversations[c],
                        watermark.timestamp_millis()
                    ),
                    EventBody::MessageStatus {
                        target: StatusTarget::UpTo { watermark },
                        status,
                    },
                )
            } else {
                let message_id = platform_id(conversation, n);
                (
                    format!("status:{message_id}:{name}"),
                    EventBody::MessageStatus {
                        target: StatusTarget::Message {
                            message_id: message_id.as_str().into(),
                        },
                        status,
                    },
                )
            }
        }
        What::Assign(agent) => (
            format!("update:{}", uuid_v7(item.at, seed)),
            EventBody::ConversationUpdated {
                by: Actor::System,
                status: None,
                assignee: Some(Assignee::Agent {
                    agent: AgentId::new(format!("ag_{agent}")),
                }),
                labels: None,
            },
        ),
        What::Labels => (
            format!("update:{}", uuid_v7(item.at, seed)),
            EventBody::ConversationUpdated {
                by: Actor::Bot,
                status: None,
                assignee: None,
                labels: Some([["billing", "shipping", "vip"][c % 3].to_owned()].into()),
            },
        ),
        What::Resolve => (
            format!("update:{}", uuid_v7(item.at, seed)),
            EventBody::ConversationUpdated {
                by: Actor::Agent {
                    agent: "ag_1".into(),
                },
                status: Some(ConversationStatus::Resolved),
                assignee: None,
                labels: None,
            },
        ),
        What::Escalate => (
            format!("escalate:{}", uuid_v7(item.at, seed)),
            EventBody::Escalated {
                reason: EscalationReason::Keyword {
                    keyword: "agente".into(),
                },
            },
        ),
        What::Note => (
            format!("note:{}", uuid_v7(item.at, seed)),
            EventBody::NoteAdded {
                note_id: uuid_v7(item.at, seed ^ 0x707e).as_str().into(),
                author: "ag_2".into(),
                text: vocabulary.sentence(
                    language_of(conversation),
                    &mut Rng::new(u64::from(conversation) ^ 0x707e),
                ),
            },
        ),
    };
    LogEntry {
        seq,
        event: Event {
            id: event_id.as_str().into(),
            tenant: "tn_bench".into(),
            channel: format!("ch_{channel}").as_str().into(),
            contact: scoped.then(|| ids.contacts[c].as_str().into()),
            conversation: scoped.then(|| ids.conversations[c].as_str().into()),
            occurred_at,
            recorded_at: occurred_at + TimeDelta::seconds(1),
            body,
        },
    }
}
