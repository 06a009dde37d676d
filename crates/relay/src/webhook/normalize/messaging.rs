//! Messenger and Instagram webhooks (`object: page` / `instagram`): `entry[].messaging[]`
//! events → [`Incoming`] facts. Pure, like the rest of `normalize`.

use super::*;

/// Events Meta sends on these objects that an inbox does not act on.
const UNHANDLED: &[&str] = &[
    "optin",
    "account_linking",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "game_play",
    "response_feedback",
    "messaging_feedback",
    "checkout_update",
    "payment",
    "pre_checkout",
    "send_cart",
    "messenger_template_status_update",
    "marketing_message_delivery_failed",
];

pub(super) fn entry(kind: ChannelKind, entry: &Entry<'_>, out: &mut Normalized) {
    let found_any = entry.messaging.is_some() || entry.standby.is_some();
    for (index, event) in entry.messaging.into_iter().flatten().enumerate() {
        match one_event(kind, entry, event) {
            Ok(Outcome::Facts(facts)) => out.events.extend(facts),
            Ok(Outcome::Unhandled(what)) => {
                entry.ignore(out, format!("{kind} messaging[{index}]: {what}"));
            }
            Err(Malformed(reason)) => entry.ignore(
                out,
                format!("{kind} messaging[{index}] skipped as malformed: {reason}"),
            ),
        }
    }
    for (index, event) in entry.standby.into_iter().flatten().enumerate() {
        entry.ignore(
            out,
            format!(
                "{kind} standby[{index}] ({}): another app has thread control",
                event_name(event)
            ),
        );
    }
    for (index, change) in entry.changes.into_iter().flatten().enumerate() {
        let field = change.get("field").and_then(Value::as_str).unwrap_or("?");
        entry.ignore(
            out,
            format!(
                "{kind} changes[{index}]: field `{}` is not handled",
                clip(field)
            ),
        );
    }
    if !found_any && entry.changes.is_none() {
        entry.ignore(
            out,
            format!("{kind} entry with no messaging, standby or changes"),
        );
    }
}

enum Outcome {
    Facts(Vec<Incoming>),
    Unhandled(String),
}

fn one_event(kind: ChannelKind, entry: &Entry<'_>, event: &Value) -> Parsed<Outcome> {
    let Some(map) = event.as_object() else {
        return malformed("not an object");
    };
    let ctx = Ctx { kind, entry, event };
    let facts = if let Some(message) = map.get("message") {
        ctx.message(message)?
    } else if let Some(postback) = map.get("postback") {
        vec![ctx.postback(postback)?]
    } else if let Some(referral) = map.get("referral") {
        vec![ctx.referral(referral)?]
    } else if let Some(delivery) = map.get("delivery") {
        ctx.delivery(delivery)?
    } else if let Some(read) = map.get("read") {
        vec![ctx.read(read)?]
    } else if let Some(reaction) = map.get("reaction") {
        vec![ctx.reaction(reaction)?]
    } else if let Some(edit) = map.get("message_edit") {
        vec![ctx.edit(edit)?]
    } else {
        return Ok(Outcome::Unhandled(
            match UNHANDLED.iter().find(|name| map.contains_key(**name)) {
                Some(name) => format!("`{name}` events are not handled"),
                None => format!("unrecognised event ({})", event_name(event)),
            },
        ));
    };
    Ok(Outcome::Facts(facts))
}

/// The event's payload keys, for log lines about events we don't handle.
fn event_name(event: &Value) -> String {
    match event.as_object() {
        Some(map) => {
            let keys: Vec<&str> = map
                .keys()
                .map(String::as_str)
                .filter(|key| !matches!(*key, "sender" | "recipient" | "timestamp"))
                .take(8)
                .collect();
            clip(&format!("keys: {}", keys.join(", ")))
        }
        None => "not an object".to_owned(),
    }
}

/// Who is who in one `messaging[]` event.
struct Sides {
    /// Our channel: the Page or IG professional account.
    business: String,
    /// The customer: PSID or IGSID.
    contact: String,
    /// Whether the business is the `sender`.
    business_sent: bool,
}

impl Sides {
    /// Who is who, given the event's `sender.id` and `recipient.id`.
    fn new(sender: String, recipient: String, business_sent: bool) -> Self {
        if business_sent {
            Sides {
                business: sender,
                contact: recipient,
                business_sent,
            }
        } else {
            Sides {
                business: recipient,
                contact: sender,
                business_sent,
            }
        }
    }
}

impl Sides {
    /// The `sender.id` of the event.
    fn sender(&self) -> &str {
        if self.business_sent {
            &self.business
        } else {
            &self.contact
        }
    }
}

struct Ctx<'a> {
    kind: ChannelKind,
    entry: &'a Entry<'a>,
    event: &'a Value,
}

impl Ctx<'_> {
    fn sender(&self) -> Parsed<String> {
        required_id(self.event, &["sender", "id"])
    }

    fn recipient(&self) -> Parsed<String> {
        required_id(self.event, &["recipient", "id"])
    }

    /// For non-message events: the side whose id is the entry's is the business;
    /// otherwise the recipient is (Meta's documented shape for user actions).
    fn sides(&self) -> Parsed<Sides> {
        let sender = self.sender()?;
        let recipient = self.recipient()?;
        let business_sent = sender == self.entry.id && recipient != self.entry.id;
        Ok(Sides::new(sender, recipient, business_sent))
    }

    /// The event's own timestamp (ms), else `entry.time`.
    fn occurred_at(&self) -> Parsed<DateTime<Utc>> {
        let ms = match self.event.get("timestamp") {
            Some(value) => {
                int_value(value).ok_or_else(|| Malformed("`timestamp` is not an integer".into()))?
            }
            None => self
                .entry
                .time_ms
                .ok_or_else(|| Malformed("no `timestamp` and no `entry.time`".into()))?,
        };
        from_millis(ms)
    }

    fn fact(
        &self,
        sides: &Sides,
        dedupe_key: String,
        occurred_at: DateTime<Utc>,
        body: EventBody,
    ) -> Incoming {
        self.fact_with_media(sides, dedupe_key, occurred_at, body, None)
    }

    fn fact_with_media(
        &self,
        sides: &Sides,
        dedupe_key: String,
        occurred_at: DateTime<Utc>,
        body: EventBody,
        media: Option<MediaRef>,
    ) -> Incoming {
        Incoming {
            channel: ChannelKey {
                kind: self.kind,
                external_id: sides.business.clone(),
            },
            contact_external_id: sides.contact.clone(),
            contact_name: None,
            dedupe_key,
            occurred_at,
            body,
            media: media.into_iter().collect(),
        }
    }

    /// A message from the customer, an echo of one from the business, or an IG unsend.
    fn message(&self, message: &Value) -> Parsed<Vec<Incoming>> {
        if !message.is_object() {
            return malformed("`message` is not an object");
        }
        let mid = required_id(message, &["mid"])?;
        let is_echo = flag(message, "is_echo");
        let sender = self.sender()?;
        let recipient = self.recipient()?;
        let sides = Sides::new(sender, recipient, is_echo);
        let occurred_at = self.occurred_at()?;

        if flag(message, "is_deleted") {
            let body = EventBody::MessageUnsent {
                message_id: MessageId::new(mid.as_str()),
            };
            return Ok(vec![self.fact(
                &sides,
                format!("unsend:{mid}"),
                occurred_at,
                body,
            )]);
        }

        let parts = self.message_parts(message);
        let reply_to = str_at(message, &["reply_to", "mid"])
            .filter(|mid| !mid.is_empty())
            .map(MessageId::from);
        let referral = message.get("referral").map(messaging_referral);
        let single = parts.len() == 1;
        let mut facts = Vec::with_capacity(parts.len());
        for (index, Part { content, media }) in parts.into_iter().enumerate() {
            let dedupe_key = if single {
                format!("msg:{mid}")
            } else {
                format!("msg:{mid}#{}", index + 1)
            };
            let message_id = MessageId::new(mid.as_str());
            let body = if is_echo {
                EventBody::MessageSent(OutboundMessage {
                    message_id: Some(message_id),
                    idempotency_key: str_at(message, &["metadata"])
                        .and_then(|metadata| metadata.strip_prefix("ventana:"))
                        .filter(|key| !key.is_empty())
                        .map(IdempotencyKey::from),
                    content,
                    sender: Sender::ExternalApp {
                        app: message.get("app_id").and_then(id_value),
                    },
                    sent_as: SentAs::Unknown,
                    reply_to: reply_to.clone(),
                })
            } else {
                EventBody::MessageReceived(InboundMessage {
                    message_id,
                    content,
                    sender_name: None,
                    reply_to: reply_to.clone(),
                    referral: referral.clone(),
                })
            };
            facts.push(self.fact_with_media(&sides, dedupe_key, occurred_at, body, media));
        }
        Ok(facts)
    }

    /// The message's contents in payload order: its text, then each attachment. Never
    /// empty: what cannot be shown becomes `Unsupported`.
    fn message_parts(&self, message: &Value) -> Vec<Part> {
        if flag(message, "is_unsupported") {
            return vec![
                unsupported(format!(
                    "{} sent a message type it does not share with apps like Ventana",
                    platform_name(self.kind)
                ))
                .into(),
            ];
        }
        let mut parts = Vec::new();
        let text = message.get("text").and_then(Value::as_str);
        let quick_reply = str_at(message, &["quick_reply", "payload"]);
        match (text, quick_reply) {
            (text, Some(payload)) => parts.push(
                MessageContent::InteractiveReply {
                    id: payload.to_owned(),
                    title: text.unwrap_or(payload).to_owned(),
                    description: None,
                }
                .into(),
            ),
            (Some(text), None) => parts.push(
                MessageContent::Text {
                    body: text.to_owned(),
                }
                .into(),
            ),
            (None, None) => {}
        }
        match message.get("attachments") {
            None | Some(Value::Null) => {}
            Some(Value::Array(attachments)) => {
                let legacy_sticker_id = message.get("sticker_id").is_some();
                let has_sticker = attachments
                    .iter()
                    .any(|a| a.get("type").and_then(Value::as_str) == Some("sticker"));
                for attachment in attachments {
                    let kind = attachment.get("type").and_then(Value::as_str);
                    if has_sticker && kind == Some("image") {
                        // The legacy copy of the sticker (transition until Aug 2026).
                        continue;
                    }
                    parts.push(attachment_content(attachment, legacy_sticker_id));
                }
            }
            Some(_) => parts.push(unsupported("attachments in a shape Ventana can't read").into()),
        }
        if parts.is_empty() {
            parts.push(
                unsupported(format!(
                    "a {} message with no content Ventana recognises",
                    platform_name(self.kind)
                ))
                .into(),
            );
        }
        parts
    }

    fn postback(&self, postback: &Value) -> Parsed<Incoming> {
        if !postback.is_object() {
            return malformed("`postback` is not an object");
        }
        let sides = self.sides()?;
        let occurred_at = self.occurred_at()?;
        let mid = postback.get("mid").and_then(id_value);
        let dedupe_key = match &mid {
            Some(mid) => format!("postback:{mid}"),
            None => format!(
                "postback:{}:{}",
                sides.sender(),
                occurred_at.timestamp_millis()
            ),
        };
        let body = EventBody::MessageReceived(InboundMessage {
            message_id: MessageId::new(mid.unwrap_or_else(|| dedupe_key.clone())),
            // Meta documents every postback property as a string, and sends `payload`
            // only to the app that made the button: absent is empty.
            content: MessageContent::Postback {
                title: str_at(postback, &["title"]).unwrap_or_default().to_owned(),
                payload: str_at(postback, &["payload"])
                    .unwrap_or_default()
                    .to_owned(),
            },
            sender_name: None,
            reply_to: None,
            referral: postback.get("referral").map(messaging_referral),
        });
        Ok(self.fact(&sides, dedupe_key, occurred_at, body))
    }

    /// A customer arrived from an ad, a link or a QR code without writing yet.
    fn referral(&self, referral: &Value) -> Parsed<Incoming> {
        if !referral.is_object() {
            return malformed("`referral` is not an object");
        }
        let sides = self.sides()?;
        let occurred_at = self.occurred_at()?;
        let dedupe_key = format!(
            "referral:{}:{}",
            sides.sender(),
            occurred_at.timestamp_millis()
        );
        let body = EventBody::MessageReceived(InboundMessage {
            message_id: MessageId::new(dedupe_key.as_str()),
            content: MessageContent::Referral(messaging_referral(referral)),
            sender_name: None,
            reply_to: None,
            referral: None,
        });
        Ok(self.fact(&sides, dedupe_key, occurred_at, body))
    }

    /// `delivery {mids?, watermark}`: per-message when Meta lists the mids, else
    /// everything up to the watermark.
    fn delivery(&self, delivery: &Value) -> Parsed<Vec<Incoming>> {
        if !delivery.is_object() {
            return malformed("`delivery` is not an object");
        }
        let sides = self.sides()?;
        let watermark = delivery.get("watermark").and_then(int_value);
        let occurred_at = match (self.event.get("timestamp"), watermark) {
            (None, Some(watermark)) => from_millis(watermark)?,
            _ => self.occurred_at()?,
        };
        let mids: Vec<String> = match delivery.get("mids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(mids)) => mids.iter().filter_map(id_value).collect(),
            Some(_) => return malformed("`delivery.mids` is not an array"),
        };
        if !mids.is_empty() {
            return Ok(mids
                .into_iter()
                .map(|mid| {
                    let key = format!("status:{mid}:delivered");
                    let body = EventBody::MessageStatus {
                        target: StatusTarget::Message {
                            message_id: MessageId::new(mid),
                        },
                        status: DeliveryStatus::Delivered,
                    };
                    self.fact(&sides, key, occurred_at, body)
                })
                .collect());
        }
        let Some(watermark) = watermark else {
            return malformed("`delivery` has neither `mids` nor an integer `watermark`");
        };
        Ok(vec![self.watermark_status(
            &sides,
            watermark,
            "delivered",
            DeliveryStatus::Delivered,
            occurred_at,
        )?])
    }

    /// Messenger `read {watermark}`; Instagram `read {mid}`.
    fn read(&self, read: &Value) -> Parsed<Incoming> {
        if !read.is_object() {
            return malformed("`read` is not an object");
        }
        let sides = self.sides()?;
        let occurred_at = self.occurred_at()?;
        if let Some(mid) = read.get("mid").and_then(id_value) {
            let key = format!("status:{mid}:read");
            let body = EventBody::MessageStatus {
                target: StatusTarget::Message {
                    message_id: MessageId::new(mid),
                },
                status: DeliveryStatus::Read,
            };
            return Ok(self.fact(&sides, key, occurred_at, body));
        }
        let Some(watermark) = read.get("watermark").and_then(int_value) else {
            return malformed("`read` has neither `mid` nor an integer `watermark`");
        };
        self.watermark_status(&sides, watermark, "read", DeliveryStatus::Read, occurred_at)
    }

    fn watermark_status(
        &self,
        sides: &Sides,
        watermark: i64,
        name: &str,
        status: DeliveryStatus,
        occurred_at: DateTime<Utc>,
    ) -> Parsed<Incoming> {
        let key = format!("wm:{}:{}:{name}:{watermark}", sides.business, sides.contact);
        let body = EventBody::MessageStatus {
            target: StatusTarget::UpTo {
                watermark: from_millis(watermark)?,
            },
            status,
        };
        Ok(self.fact(sides, key, occurred_at, body))
    }

    /// `reaction {mid, action: react|unreact, reaction?, emoji?}`.
    fn reaction(&self, reaction: &Value) -> Parsed<Incoming> {
        if !reaction.is_object() {
            return malformed("`reaction` is not an object");
        }
        let sides = self.sides()?;
        let occurred_at = self.occurred_at()?;
        let mid = required_id(reaction, &["mid"])?;
        let (action, action_name) = match str_at(reaction, &["action"]) {
            Some("react") => (ReactionAction::Added, "react"),
            Some("unreact") => (ReactionAction::Removed, "unreact"),
            Some(other) => {
                return malformed(format!("unknown reaction action {:?}", clip(other)));
            }
            None => return malformed("`reaction.action` is missing"),
        };
        let key = format!(
            "reaction:{mid}:{}:{action_name}:{}",
            sides.sender(),
            occurred_at.timestamp_millis()
        );
        let emoji = match action {
            ReactionAction::Added => str_at(reaction, &["emoji"])
                .filter(|emoji| !emoji.is_empty())
                .map(str::to_owned),
            ReactionAction::Removed => None,
        };
        let body = EventBody::Reaction {
            message_id: MessageId::new(mid),
            by: if sides.business_sent {
                Party::Business
            } else {
                Party::Customer
            },
            action,
            emoji,
        };
        Ok(self.fact(&sides, key, occurred_at, body))
    }

    /// `message_edit {mid, text, num_edit}`.
    fn edit(&self, edit: &Value) -> Parsed<Incoming> {
        if !edit.is_object() {
            return malformed("`message_edit` is not an object");
        }
        let sides = self.sides()?;
        let occurred_at = self.occurred_at()?;
        let mid = required_id(edit, &["mid"])?;
        let Some(text) = str_at(edit, &["text"]) else {
            return malformed("`message_edit.text` is missing or not a string");
        };
        let Some(edit_count) = edit
            .get("num_edit")
            .and_then(int_value)
            .and_then(|n| u32::try_from(n).ok())
        else {
            return malformed("`message_edit.num_edit` is missing or not a small integer");
        };
        let body = EventBody::MessageEdited {
            message_id: MessageId::new(mid.as_str()),
            text: text.to_owned(),
            edit_count,
        };
        Ok(self.fact(
            &sides,
            format!("edit:{mid}:{edit_count}"),
            occurred_at,
            body,
        ))
    }
}

/// One Messenger/IG attachment as content. Media kinds need a URL; every other kind
/// (shares, reels, story mentions, templates, fallbacks…) is kept as `Unsupported`.
fn attachment_content(attachment: &Value, legacy_sticker: bool) -> Part {
    let kind = attachment.get("type").and_then(Value::as_str).unwrap_or("");
    let payload = attachment.get("payload");
    let url = payload
        .and_then(|p| p.get("url"))
        .and_then(Value::as_str)
        .filter(|url| !url.is_empty());
    let is_sticker = kind == "sticker"
        || (kind == "image"
            && (legacy_sticker || payload.is_some_and(|p| p.get("sticker_id").is_some())));
    let wrap: Option<fn(Media) -> MessageContent> = match kind {
        _ if is_sticker => Some(MessageContent::Sticker),
        "image" => Some(MessageContent::Image),
        "audio" => Some(MessageContent::Audio),
        "video" => Some(MessageContent::Video),
        "file" => Some(MessageContent::Document),
        _ => None,
    };
    if let Some(wrap) = wrap {
        return match url {
            Some(url) => url_part(url, wrap),
            None => unsupported(format!("a {} attachment without a URL", clip(kind))).into(),
        };
    }
    if kind == "location"
        && let Some(coordinates) = payload.and_then(|p| p.get("coordinates"))
        && let (Some(latitude), Some(longitude)) = (
            coordinates.get("lat").and_then(Value::as_f64),
            coordinates.get("long").and_then(Value::as_f64),
        )
    {
        return MessageContent::Location {
            latitude,
            longitude,
            name: attachment
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            address: None,
        }
        .into();
    }
    let mut description = match kind {
        "share" => "a shared post".to_owned(),
        "story_mention" => "a story mention".to_owned(),
        "reel" | "ig_reel" => "a reel".to_owned(),
        "post" | "ig_post" => "a post".to_owned(),
        "fallback" => "a shared link".to_owned(),
        "template" => "a template".to_owned(),
        "appointment_booking" => "an appointment booking".to_owned(),
        "" => "an attachment of no type".to_owned(),
        other => format!("an attachment of type `{}`", clip(other)),
    };
    let title = payload
        .and_then(|p| p.get("title"))
        .or_else(|| attachment.get("title"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    if let Some(title) = title {
        description.push_str(&format!(": {}", clip(title)));
    }
    if let Some(url) = url {
        description.push_str(&format!(" ({url})"));
    }
    unsupported(description).into()
}

fn messaging_referral(referral: &Value) -> Referral {
    Referral {
        source: str_at(referral, &["source"])
            .unwrap_or("unknown")
            .to_owned(),
        reference: str_at(referral, &["ref"]).map(str::to_owned),
        ad_id: referral.get("ad_id").and_then(id_value),
        headline: str_at(referral, &["ads_context_data", "ad_title"]).map(str::to_owned),
        url: str_at(referral, &["referer_uri"]).map(str::to_owned),
    }
}

fn platform_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Messenger => "Messenger",
        ChannelKind::Instagram => "Instagram",
        ChannelKind::WhatsApp => "WhatsApp",
    }
}
