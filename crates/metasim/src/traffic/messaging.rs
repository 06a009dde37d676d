//! Messenger and Instagram events: the items of `entry[].messaging[]` (reference §3a, §3b;
//! `fixtures/meta/messenger_*.json`, `instagram_*.json`).

use super::{Event, Generator, Payload, Sent, remember};
use crate::content;
use crate::ids::random_alnum;
use crate::universe::{Channel, Conversation, Platform};
use crate::webhook::{DedupeKey, EventKind};
use crate::wire::{self, Id, MessagingBody, MessagingEvent};
use rand::Rng;

/// The `app_id` of echoes of messages typed in the Facebook Page inbox (v12.0+,
/// reference §3a).
pub const PAGE_INBOX_APP_ID: u64 = 26_390_203_743_090;

/// Until 2026-08-30 Messenger sends stickers as a `sticker` attachment *and* the old
/// `image` one (reference §3a, changelog of 2026-06-01); from then on only `sticker`.
const STICKER_IMAGE_UNTIL_MS: i64 = 1_788_048_000_000;

/// Messenger's reaction names with the emoji Meta pairs them with; love and like are the
/// common ones.
const REACTIONS: &[(&str, &str)] = &[
    ("love", "\u{2764}\u{fe0f}"),
    ("love", "\u{2764}\u{fe0f}"),
    ("like", "\u{1f44d}"),
    ("like", "\u{1f44d}"),
    ("smile", "\u{1f606}"),
    ("wow", "\u{1f62e}"),
    ("sad", "\u{1f622}"),
    ("angry", "\u{1f620}"),
    ("dislike", "\u{1f44e}"),
    ("other", "\u{1f525}"),
];

/// m.me / ig.me link refs and ad refs.
const REFS: &[&str] = &[
    "summer_sale",
    "order_status",
    "promo-2025/black friday",
    "soporte_es",
];

impl Generator {
    pub(super) fn messaging_event(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
        text: Option<&str>,
    ) -> Event {
        use EventKind::*;
        match kind {
            QuickReply => self.quick_reply(conversation),
            Image | Audio | Video | File | Sticker => self.attachment_message(conversation, kind),
            Postback => self.postback(conversation),
            Referral => self.referral(conversation),
            Reaction => self.reaction(conversation, true),
            Unreaction => self.reaction(conversation, false),
            Edit => self.edit(conversation),
            Unsend => self.unsend(conversation),
            Echo => self.echo(conversation, None, None),
            Delivery => self.delivery(conversation),
            Read => self.read(conversation),
            // The WhatsApp-only kinds are refused before this point; a text is the harmless
            // answer should one arrive.
            Text | Location | Interactive | TemplateButton | StatusSent | StatusDelivered
            | StatusRead | StatusFailed | OptOut | OptIn => self.customer_text(conversation, text),
        }
    }

    /// The business's own message coming back. `metadata`: `None` to choose at random,
    /// `Some(None)` for a message typed in the Page inbox, `Some(Some(m))` for one this app
    /// sent with metadata `m`.
    pub(super) fn echo(
        &mut self,
        conversation: &Conversation,
        text: Option<&str>,
        metadata: Option<Option<&str>>,
    ) -> Event {
        let at = self.tick_ms();
        let mid = self.mid(conversation);
        let text = match text {
            Some(text) => text.to_owned(),
            None => content::reply(&mut self.rng, conversation.contact.lang).to_owned(),
        };
        let message = if conversation.platform() == Platform::Messenger {
            let metadata = match metadata {
                Some(chosen) => chosen.map(str::to_owned),
                None if self.rng.random_ratio(3, 5) => Some(format!(
                    "agent:{};local_id:{:04x}",
                    self.rng.random_range(1..100),
                    self.rng.random::<u16>()
                )),
                None => None,
            };
            // Messages this app sent carry its id (and the metadata it set); the others
            // were typed in the Page inbox.
            let app_id = if metadata.is_some() {
                self.universe.app_id
            } else {
                PAGE_INBOX_APP_ID
            };
            wire::Message {
                is_echo: Some(true),
                app_id: Some(app_id),
                metadata,
                mid: mid.clone(),
                text: Some(text.clone()),
                ..Default::default()
            }
        } else {
            // Instagram echoes arrive on `messages` with `is_echo` and no app id (fixture).
            wire::Message {
                is_echo: Some(true),
                mid: mid.clone(),
                text: Some(text.clone()),
                ..Default::default()
            }
        };
        let state = self.state(conversation);
        remember(
            &mut state.business,
            Sent {
                id: mid.clone(),
                at_ms: at,
            },
        );
        if conversation.platform() == Platform::Messenger {
            state.undelivered.push(mid.clone());
        }
        Event {
            info: Self::info(
                conversation,
                EventKind::Echo,
                at,
                DedupeKey::Mid(mid),
                Some(text),
            ),
            payload: Payload::Messaging(outbound(
                conversation,
                at,
                MessagingBody::Message(message),
            )),
        }
    }

    fn customer_text(&mut self, conversation: &Conversation, text: Option<&str>) -> Event {
        let at = self.tick_ms();
        let mid = self.mid(conversation);
        let text = match text {
            Some(text) => text.to_owned(),
            None => content::text(&mut self.rng, conversation.contact.lang).to_owned(),
        };
        let reply_to = if self.rng.random_ratio(3, 20) {
            self.reply_target(conversation)
        } else {
            None
        };
        let message = wire::Message {
            mid: mid.clone(),
            text: Some(text.clone()),
            reply_to,
            ..Default::default()
        };
        self.inbound_message(conversation, EventKind::Text, at, mid, message, Some(text))
    }

    /// Remembers an inbound message (for later reactions, reads and quotes) and wraps it as
    /// a `messaging[]` event.
    fn inbound_message(
        &mut self,
        conversation: &Conversation,
        kind: EventKind,
        at: i64,
        mid: String,
        message: wire::Message,
        text: Option<String>,
    ) -> Event {
        remember(
            &mut self.state(conversation).inbound,
            Sent {
                id: mid.clone(),
                at_ms: at,
            },
        );
        Event {
            info: Self::info(conversation, kind, at, DedupeKey::Mid(mid), text),
            payload: Payload::Messaging(inbound(conversation, at, MessagingBody::Message(message))),
        }
    }

    fn quick_reply(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let mid = self.mid(conversation);
        let (title, payload) = content::quick_reply(&mut self.rng, conversation.contact.lang);
        let message = wire::Message {
            mid: mid.clone(),
            text: Some(title.to_owned()),
            quick_reply: Some(wire::QuickReply {
                payload: payload.to_owned(),
            }),
            ..Default::default()
        };
        self.inbound_message(
            conversation,
            EventKind::QuickReply,
            at,
            mid,
            message,
            Some(title.to_owned()),
        )
    }

    fn attachment_message(&mut self, conversation: &Conversation, kind: EventKind) -> Event {
        let at = self.tick_ms();
        let mid = self.mid(conversation);
        let url = self.media_url(kind, at);
        let attachment = |kind, sticker_id| wire::Attachment {
            kind,
            payload: wire::AttachmentPayload {
                url: url.clone(),
                sticker_id,
            },
        };
        let attachments = match (conversation.platform(), kind) {
            (Platform::Messenger, EventKind::Sticker) => {
                let sticker_id = Some(self.ids.sticker_id());
                if at < STICKER_IMAGE_UNTIL_MS {
                    vec![
                        attachment("sticker", sticker_id),
                        attachment("image", sticker_id),
                    ]
                } else {
                    vec![attachment("sticker", sticker_id)]
                }
            }
            // Instagram reports stickers as images (reference §3b).
            (_, EventKind::Sticker | EventKind::Image) => vec![attachment("image", None)],
            (_, EventKind::Audio) => vec![attachment("audio", None)],
            (_, EventKind::Video) => vec![attachment("video", None)],
            (_, _) => vec![attachment("file", None)],
        };
        let message = wire::Message {
            mid: mid.clone(),
            attachments: Some(attachments),
            ..Default::default()
        };
        self.inbound_message(conversation, kind, at, mid, message, None)
    }

    fn postback(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let mid = self.mid(conversation);
        let (title, payload) = content::postback(&mut self.rng, conversation.contact.lang);
        // "Get Started" from an m.me link carries the link's referral (Messenger).
        let referral = (conversation.platform() == Platform::Messenger
            && payload == "GET_STARTED"
            && self.rng.random_bool(0.5))
        .then(|| wire::Referral {
            reference: content::pick(&mut self.rng, REFS).to_owned(),
            ad_id: None,
            source: "SHORTLINK",
            kind: "OPEN_THREAD",
        });
        let postback = wire::Postback {
            mid: mid.clone(),
            title: title.to_owned(),
            payload: payload.to_owned(),
            referral,
        };
        Event {
            info: Self::info(
                conversation,
                EventKind::Postback,
                at,
                DedupeKey::Mid(mid),
                Some(title.to_owned()),
            ),
            payload: Payload::Messaging(inbound(
                conversation,
                at,
                MessagingBody::Postback(postback),
            )),
        }
    }

    fn referral(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let from_ad = self.rng.random_bool(0.3);
        let referral = wire::Referral {
            reference: content::pick(&mut self.rng, REFS).to_owned(),
            ad_id: from_ad.then(|| {
                (6_000_000_000_000u64 + self.rng.random_range(0..999_999_999_999)).to_string()
            }),
            source: if from_ad { "ADS" } else { "SHORTLINK" },
            kind: "OPEN_THREAD",
        };
        let key = DedupeKey::Referral {
            sender: conversation.contact.id.clone(),
            timestamp_ms: at,
        };
        Event {
            info: Self::info(conversation, EventKind::Referral, at, key, None),
            payload: Payload::Messaging(inbound(
                conversation,
                at,
                MessagingBody::Referral(referral),
            )),
        }
    }

    fn reaction(&mut self, conversation: &Conversation, react: bool) -> Event {
        let at = self.tick_ms();
        let undo = if react {
            None
        } else {
            self.state(conversation).reacted.pop()
        };
        let target = match undo {
            Some(mid) => mid,
            None => self.business_target(conversation, at),
        };
        let (name, emoji) = content::pick(&mut self.rng, REACTIONS);
        if react {
            let reacted = &mut self.state(conversation).reacted;
            if reacted.len() >= super::REMEMBERED {
                reacted.remove(0);
            }
            reacted.push(target.clone());
        }
        let action = if react { "react" } else { "unreact" };
        let reaction = wire::Reaction {
            mid: target.clone(),
            action,
            // Left out on unreact (reference §3b).
            reaction: react.then_some(name),
            emoji: react.then_some(emoji),
        };
        let key = DedupeKey::Reaction {
            mid: target,
            sender: conversation.contact.id.clone(),
            action: action.to_owned(),
            timestamp_ms: at,
        };
        let kind = if react {
            EventKind::Reaction
        } else {
            EventKind::Unreaction
        };
        Event {
            info: Self::info(conversation, kind, at, key, None),
            payload: Payload::Messaging(inbound(
                conversation,
                at,
                MessagingBody::Reaction(reaction),
            )),
        }
    }

    fn edit(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        // Users can edit a message at most 5 times (reference §3a).
        let state = self.state(conversation);
        let editable = state
            .inbound
            .iter()
            .rev()
            .find(|sent| state.edits.get(&sent.id).copied().unwrap_or(0) < 5)
            .map(|sent| sent.id.clone());
        let mid = match editable {
            Some(mid) => mid,
            None => {
                let mid = self.mid(conversation);
                remember(
                    &mut self.state(conversation).inbound,
                    Sent {
                        id: mid.clone(),
                        at_ms: at - 60_000,
                    },
                );
                mid
            }
        };
        let text = content::text(&mut self.rng, conversation.contact.lang).to_owned();
        let count = self
            .state(conversation)
            .edits
            .entry(mid.clone())
            .or_insert(0);
        *count += 1;
        let num_edit = *count;
        let edit = wire::MessageEdit {
            mid: mid.clone(),
            text: text.clone(),
            num_edit,
        };
        Event {
            info: Self::info(
                conversation,
                EventKind::Edit,
                at,
                DedupeKey::Edit { mid, num_edit },
                Some(text),
            ),
            payload: Payload::Messaging(inbound(
                conversation,
                at,
                MessagingBody::MessageEdit(edit),
            )),
        }
    }

    fn unsend(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let mid = match self.state(conversation).inbound.pop() {
            Some(sent) => sent.id,
            None => self.mid(conversation),
        };
        let message = wire::Message {
            mid: mid.clone(),
            is_deleted: Some(true),
            ..Default::default()
        };
        Event {
            info: Self::info(
                conversation,
                EventKind::Unsend,
                at,
                DedupeKey::Unsend { mid },
                None,
            ),
            payload: Payload::Messaging(inbound(conversation, at, MessagingBody::Message(message))),
        }
    }

    fn delivery(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let undelivered = std::mem::take(&mut self.state(conversation).undelivered);
        // `watermark` is always there, `mids` only sometimes (reference §3a).
        let mids = (!undelivered.is_empty() && self.rng.random_ratio(4, 5)).then_some(undelivered);
        let key = DedupeKey::Receipt {
            sender: conversation.contact.id.clone(),
            kind: "delivery".to_owned(),
            mark: at.to_string(),
        };
        let mut event = inbound(
            conversation,
            at,
            MessagingBody::Delivery(wire::Delivery {
                mids,
                watermark: at,
            }),
        );
        // Delivery events carry no timestamp (fixture `messenger_events_batch.json`).
        event.timestamp = None;
        Event {
            info: Self::info(conversation, EventKind::Delivery, at, key, None),
            payload: Payload::Messaging(event),
        }
    }

    fn read(&mut self, conversation: &Conversation) -> Event {
        let at = self.tick_ms();
        let (read, mark) = if conversation.platform() == Platform::Messenger {
            // Everything the business sent up to the watermark has been read.
            let last = self
                .state(conversation)
                .business
                .last()
                .map(|sent| sent.at_ms);
            let watermark = match last {
                Some(sent_at) if sent_at <= at => sent_at,
                _ => at - self.rng.random_range(50..5_000),
            };
            (
                wire::Read {
                    mid: None,
                    watermark: Some(watermark),
                },
                watermark.to_string(),
            )
        } else {
            // Instagram says which message was seen (reference §3b).
            let mid = self.business_target(conversation, at);
            (
                wire::Read {
                    mid: Some(mid.clone()),
                    watermark: None,
                },
                mid,
            )
        };
        let key = DedupeKey::Receipt {
            sender: conversation.contact.id.clone(),
            kind: "read".to_owned(),
            mark,
        };
        Event {
            info: Self::info(conversation, EventKind::Read, at, key, None),
            payload: Payload::Messaging(inbound(conversation, at, MessagingBody::Read(read))),
        }
    }

    /// A new message id for the conversation's platform.
    fn mid(&mut self, conversation: &Conversation) -> String {
        match &conversation.channel {
            Channel::Instagram { ig_id } => self.ids.instagram_mid(&mut self.rng, ig_id),
            Channel::Messenger { .. } | Channel::WhatsApp { .. } => {
                self.ids.messenger_mid(&mut self.rng)
            }
        }
    }

    /// One of the business's recent messages; if it has sent none in this simulation, one
    /// it sent earlier (a new mid, remembered from now on).
    fn business_target(&mut self, conversation: &Conversation, at: i64) -> String {
        let recent: Vec<String> = self
            .state(conversation)
            .business
            .iter()
            .rev()
            .take(3)
            .map(|sent| sent.id.clone())
            .collect();
        if let Some(mid) = content::pick_ref(&mut self.rng, &recent) {
            return mid.clone();
        }
        let mid = self.mid(conversation);
        remember(
            &mut self.state(conversation).business,
            Sent {
                id: mid.clone(),
                at_ms: at - 60_000,
            },
        );
        mid
    }

    /// A message to quote: the customer's own or the business's.
    fn reply_target(&mut self, conversation: &Conversation) -> Option<wire::ReplyTo> {
        let state = self.state(conversation);
        let own = state.inbound.last().map(|sent| sent.id.clone());
        let theirs = state.business.last().map(|sent| sent.id.clone());
        let (mid, is_self) = match (own, theirs) {
            (Some(own), Some(theirs)) => {
                if self.rng.random_bool(0.3) {
                    (own, true)
                } else {
                    (theirs, false)
                }
            }
            (Some(own), None) => (own, true),
            (None, Some(theirs)) => (theirs, false),
            (None, None) => return None,
        };
        Some(wire::ReplyTo {
            mid,
            // Instagram's `reply_to` has only the mid (reference §3b).
            is_self_reply: (conversation.platform() == Platform::Messenger).then_some(is_self),
        })
    }

    /// A CDN-like URL for an attachment, under the universe's media base URL.
    fn media_url(&mut self, kind: EventKind, at: i64) -> String {
        let base = self
            .universe
            .media_base_url
            .trim_end_matches('/')
            .to_owned();
        let a = self.rng.random_range(100_000_000u64..1_000_000_000);
        let b = self
            .rng
            .random_range(1_000_000_000_000_000u64..10_000_000_000_000_000);
        let query = format!(
            "_nc_cat={}&ccb=1-7&_nc_sid={:06x}&_nc_ohc={}&oh=03_{}&oe={:08X}",
            self.rng.random_range(100..112),
            self.rng.random_range(0..0x100_0000),
            random_alnum(&mut self.rng, 11),
            random_alnum(&mut self.rng, 43),
            self.rng.random::<u32>()
        );
        match kind {
            EventKind::Audio => format!(
                "{base}/v/t59.3654-21/{a}_{b}_n.mp4/audioclip-{at}-{}.mp4?{query}",
                self.rng.random_range(1000..60_000)
            ),
            EventKind::Video => format!("{base}/v/t42.3356-2/{a}_{b}_n.mp4?{query}"),
            EventKind::File => {
                let (name, _) = content::document(&mut self.rng);
                format!(
                    "{base}/v/t59.2708-21/{a}_{b}_n/{}?{query}",
                    name.replace(' ', "%20")
                )
            }
            _ => format!(
                "{base}/v/t1.15752-9/{a}_{b}_{}_n.jpg?{query}",
                self.rng.random_range(1000..9999)
            ),
        }
    }
}

/// An event from the customer to the business.
fn inbound(conversation: &Conversation, at: i64, body: MessagingBody) -> MessagingEvent {
    MessagingEvent {
        sender: Id {
            id: conversation.contact.id.clone(),
        },
        recipient: Id {
            id: conversation.channel.external_id().to_owned(),
        },
        timestamp: Some(at),
        body,
    }
}

/// An event from the business to the customer (echoes): sender and recipient swapped.
fn outbound(conversation: &Conversation, at: i64, body: MessagingBody) -> MessagingEvent {
    MessagingEvent {
        sender: Id {
            id: conversation.channel.external_id().to_owned(),
        },
        recipient: Id {
            id: conversation.contact.id.clone(),
        },
        timestamp: Some(at),
        body,
    }
}
