//! The webhooks Meta sends about a message the business sent, built as [`Webhook`]s of one
//! event each (Meta sends these as separate bodies, one update as it happens):
//!
//! - Messenger: the `message_echoes` echo (`is_echo`, the app's `app_id`, the request's
//!   `metadata`, the same `mid`), then `delivery {mids, watermark}` (no `timestamp`, as in
//!   the fixture), then `read {watermark}` (reference §3a; `messenger_events_batch.json`).
//! - Instagram: the echo on `messages` (`is_echo`, no `app_id` or `metadata`, as in
//!   `instagram_inbound_batch.json`), then `read {mid}` (field `messaging_seen`); Instagram
//!   has no delivery event (reference §3b).
//! - WhatsApp: `statuses` `sent`, `delivered`, `read`, each carrying the request's
//!   `biz_opaque_callback_data`; `pricing` on `sent` and on `delivered`, never on both
//!   `delivered` and `read` (reference §3c); or a single `failed` with `errors[]` in the
//!   fixture's shape (`whatsapp_statuses_sent_read_failed.json`).

use super::Outcome;
use super::request::MessagingContent;
use crate::meta_json;
use crate::traffic::{ERROR_HREF, FAILURES};
use crate::universe::{Channel, Platform};
use crate::webhook::{DedupeKey, EventInfo, EventKind, Webhook};
use crate::wire;
use chrono::{DateTime, TimeDelta, Utc};

/// Milliseconds between the steps of one message's life (echo → delivery → read), so
/// that watermarks and timestamps increase as Meta's do.
const STEP_MS: i64 = 400;

/// A Messenger or Instagram message the sim accepted.
#[derive(Debug, Clone)]
pub(crate) struct SentMessage<'a> {
    pub channel: &'a Channel,
    pub recipient: &'a str,
    pub mid: &'a str,
    pub content: &'a MessagingContent,
    pub metadata: Option<&'a str>,
    pub app_id: u64,
    /// Where the echo of an attachment points (Meta's CDN copy of it).
    pub attachment_url: Option<String>,
    pub at: DateTime<Utc>,
}

/// The webhooks about `sent`, per `outcome`. Meta reports no asynchronous failures on
/// Messenger or Instagram, so `Outcome::Failed` there means the message was sent and then
/// never delivered: the echo only.
pub(crate) fn messaging(
    sent: &SentMessage<'_>,
    outcome: Outcome,
) -> Result<Vec<Webhook>, serde_json::Error> {
    let platform = sent.channel.platform();
    let (echo, delivery, read) = match outcome {
        Outcome::Silent => (false, false, false),
        Outcome::Sent | Outcome::Failed { .. } => (true, false, false),
        Outcome::Delivered => (true, true, false),
        Outcome::Read => (true, true, true),
    };
    let at = sent.at.timestamp_millis();
    let mut webhooks = Vec::new();
    if echo {
        webhooks.push(echo_webhook(sent, at)?);
    }
    // Instagram has no delivery events.
    if delivery && platform == Platform::Messenger {
        let watermark = at + STEP_MS;
        let event = wire::MessagingEvent {
            sender: wire::Id {
                id: sent.recipient.to_owned(),
            },
            recipient: wire::Id {
                id: sent.channel.external_id().to_owned(),
            },
            timestamp: None,
            body: wire::MessagingBody::Delivery(wire::Delivery {
                mids: Some(vec![sent.mid.to_owned()]),
                watermark,
            }),
        };
        let info = info(
            sent,
            EventKind::Delivery,
            watermark,
            DedupeKey::Receipt {
                sender: sent.recipient.to_owned(),
                kind: "delivery".to_owned(),
                mark: watermark.to_string(),
            },
            None,
        );
        webhooks.push(messaging_webhook(sent.channel, event, info, watermark)?);
    }
    if read {
        let read_at = at + 2 * STEP_MS;
        let (read, mark) = match platform {
            Platform::Instagram => (
                wire::Read {
                    mid: Some(sent.mid.to_owned()),
                    watermark: None,
                },
                sent.mid.to_owned(),
            ),
            Platform::Messenger | Platform::WhatsApp => {
                // Everything sent at or before the watermark has been read.
                let watermark = at + STEP_MS;
                (
                    wire::Read {
                        mid: None,
                        watermark: Some(watermark),
                    },
                    watermark.to_string(),
                )
            }
        };
        let event = wire::MessagingEvent {
            sender: wire::Id {
                id: sent.recipient.to_owned(),
            },
            recipient: wire::Id {
                id: sent.channel.external_id().to_owned(),
            },
            timestamp: Some(read_at),
            body: wire::MessagingBody::Read(read),
        };
        let info = info(
            sent,
            EventKind::Read,
            read_at,
            DedupeKey::Receipt {
                sender: sent.recipient.to_owned(),
                kind: "read".to_owned(),
                mark,
            },
            None,
        );
        webhooks.push(messaging_webhook(sent.channel, event, info, read_at)?);
    }
    Ok(webhooks)
}

fn echo_webhook(sent: &SentMessage<'_>, at: i64) -> Result<Webhook, serde_json::Error> {
    let messenger = sent.channel.platform() == Platform::Messenger;
    let (text, attachments) = match sent.content {
        MessagingContent::Text(text) => (Some(text.clone()), None),
        MessagingContent::Attachment { kind, url, .. } => {
            let url = sent
                .attachment_url
                .clone()
                .or_else(|| url.clone())
                .unwrap_or_default();
            (
                None,
                Some(vec![wire::Attachment {
                    kind,
                    payload: wire::AttachmentPayload {
                        url,
                        sticker_id: None,
                    },
                }]),
            )
        }
    };
    let message = wire::Message {
        is_echo: Some(true),
        // Messenger echoes of Send API messages carry the app's id and the request's
        // metadata (reference §3a); Instagram echoes carry neither (fixture).
        app_id: messenger.then_some(sent.app_id),
        metadata: if messenger {
            sent.metadata.map(str::to_owned)
        } else {
            None
        },
        mid: sent.mid.to_owned(),
        text: text.clone(),
        attachments,
        ..Default::default()
    };
    let event = wire::MessagingEvent {
        sender: wire::Id {
            id: sent.channel.external_id().to_owned(),
        },
        recipient: wire::Id {
            id: sent.recipient.to_owned(),
        },
        timestamp: Some(at),
        body: wire::MessagingBody::Message(message),
    };
    let info = info(
        sent,
        EventKind::Echo,
        at,
        DedupeKey::Mid(sent.mid.to_owned()),
        text,
    );
    messaging_webhook(sent.channel, event, info, at)
}

fn info(
    sent: &SentMessage<'_>,
    kind: EventKind,
    at_ms: i64,
    key: DedupeKey,
    text: Option<String>,
) -> EventInfo {
    EventInfo {
        kind,
        channel: sent.channel.clone(),
        contact_id: sent.recipient.to_owned(),
        timestamp: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        key,
        text,
    }
}

fn messaging_webhook(
    channel: &Channel,
    event: wire::MessagingEvent,
    info: EventInfo,
    at_ms: i64,
) -> Result<Webhook, serde_json::Error> {
    let platform = channel.platform();
    let body = meta_json::to_vec(&wire::Envelope {
        object: platform.object(),
        entry: vec![wire::MessagingEntry {
            id: channel.entry_id().to_owned(),
            // Meta stamps the entry when it sends it: just after the event.
            time: at_ms + 120,
            messaging: vec![event],
        }],
    })?;
    Ok(Webhook {
        platform,
        body,
        event_count: 1,
        events: vec![info],
    })
}

/// A WhatsApp message the sim accepted.
#[derive(Debug, Clone)]
pub(crate) struct SentWhatsApp<'a> {
    pub channel: &'a Channel,
    pub wa_id: &'a str,
    pub wamid: &'a str,
    pub biz_opaque_callback_data: Option<&'a str>,
    /// `pricing.type`, `pricing.category` and `billable`.
    pub pricing: (&'static str, &'static str, bool),
    pub at: DateTime<Utc>,
}

/// The status webhooks about `sent`, per `outcome`; `failure` (a code Meta reports
/// asynchronously, like 131047 outside the window) overrides a delivering outcome with a
/// single `failed` status.
pub(crate) fn whatsapp(
    sent: &SentWhatsApp<'_>,
    outcome: Outcome,
    failure: Option<u32>,
) -> Result<Vec<Webhook>, serde_json::Error> {
    let steps: &[EventKind] = match (outcome, failure) {
        (Outcome::Silent, _) => &[],
        (_, Some(_)) | (Outcome::Failed { .. }, None) => &[EventKind::StatusFailed],
        (Outcome::Sent, None) => &[EventKind::StatusSent],
        (Outcome::Delivered, None) => &[EventKind::StatusSent, EventKind::StatusDelivered],
        (Outcome::Read, None) => &[
            EventKind::StatusSent,
            EventKind::StatusDelivered,
            EventKind::StatusRead,
        ],
    };
    let code = match (failure, outcome) {
        (Some(code), _) | (None, Outcome::Failed { code }) => code,
        _ => 0,
    };
    steps
        .iter()
        .enumerate()
        .map(|(step, &kind)| {
            let at = sent
                .at
                .checked_add_signed(TimeDelta::seconds(i64::try_from(step).unwrap_or(0)))
                .unwrap_or(sent.at);
            status_webhook(sent, kind, at, code)
        })
        .collect()
}

fn status_webhook(
    sent: &SentWhatsApp<'_>,
    kind: EventKind,
    at: DateTime<Utc>,
    code: u32,
) -> Result<Webhook, serde_json::Error> {
    let name = match kind {
        EventKind::StatusDelivered => "delivered",
        EventKind::StatusRead => "read",
        EventKind::StatusFailed => "failed",
        _ => "sent",
    };
    let (pricing_type, category, billable) = sent.pricing;
    let pricing = matches!(name, "sent" | "delivered").then(|| wire::WaPricing {
        billable,
        pricing_model: "PMP",
        kind: pricing_type,
        category,
    });
    let errors = (name == "failed").then(|| vec![whatsapp_error(code)]);
    let status = wire::WaStatus {
        id: sent.wamid.to_owned(),
        status: name,
        timestamp: at.timestamp().to_string(),
        recipient_id: sent.wa_id.to_owned(),
        biz_opaque_callback_data: sent.biz_opaque_callback_data.map(str::to_owned),
        pricing,
        errors,
    };
    let display_phone_number = match sent.channel {
        Channel::WhatsApp {
            display_phone_number,
            ..
        } => display_phone_number.clone(),
        other => other.external_id().to_owned(),
    };
    let body = meta_json::to_vec(&wire::Envelope {
        object: Platform::WhatsApp.object(),
        entry: vec![wire::WaEntry {
            id: sent.channel.entry_id().to_owned(),
            changes: vec![wire::WaChange {
                value: wire::WaValue {
                    messaging_product: "whatsapp",
                    metadata: wire::WaMetadata {
                        display_phone_number,
                        phone_number_id: sent.channel.external_id().to_owned(),
                    },
                    contacts: None,
                    messages: None,
                    statuses: Some(vec![status]),
                    user_preferences: None,
                },
                field: "messages",
            }],
        }],
    })?;
    Ok(Webhook {
        platform: Platform::WhatsApp,
        body,
        event_count: 1,
        events: vec![EventInfo {
            kind,
            channel: sent.channel.clone(),
            contact_id: sent.wa_id.to_owned(),
            timestamp: at,
            key: DedupeKey::WamidStatus {
                wamid: sent.wamid.to_owned(),
                status: name.to_owned(),
            },
            text: None,
        }],
    })
}

/// The `errors[]` item of a failed status: Meta's title and details for the codes the
/// reference lists (§5d), a generic one otherwise (UNVERIFIED).
pub(crate) fn whatsapp_error(code: u32) -> wire::WaError {
    let (title, details) = FAILURES
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|&(_, title, details)| (title, details))
        .unwrap_or(("Message failed to send", "Message failed to send."));
    wire::WaError {
        code,
        title,
        message: title,
        error_data: wire::WaErrorData { details },
        href: ERROR_HREF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(webhook: &Webhook) -> Value {
        serde_json::from_slice(&webhook.body).unwrap()
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn messenger_gets_echo_delivery_and_read_in_order() {
        let channel = Channel::Messenger {
            page_id: "100000000000001".into(),
        };
        let content = MessagingContent::Text("On its way".into());
        let sent = SentMessage {
            channel: &channel,
            recipient: "7000000000000001",
            mid: "m_abc",
            content: &content,
            metadata: Some("ventana:k1"),
            app_id: 1_111_111_111_111_111,
            attachment_url: None,
            at: at(),
        };
        let hooks = messaging(&sent, Outcome::Read).unwrap();
        let kinds: Vec<EventKind> = hooks.iter().map(|w| w.events[0].kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Echo, EventKind::Delivery, EventKind::Read]
        );
        let echo = &json(&hooks[0])["entry"][0]["messaging"][0];
        assert_eq!(echo["sender"]["id"], "100000000000001");
        assert_eq!(echo["message"]["is_echo"], true);
        assert_eq!(echo["message"]["metadata"], "ventana:k1");
        assert_eq!(echo["message"]["app_id"], 1_111_111_111_111_111u64);
        let delivery = &json(&hooks[1])["entry"][0]["messaging"][0];
        assert!(delivery.get("timestamp").is_none());
        assert_eq!(delivery["delivery"]["mids"][0], "m_abc");
        let read = &json(&hooks[2])["entry"][0]["messaging"][0];
        assert!(read["read"]["watermark"].as_i64().unwrap() >= at().timestamp_millis());
        assert_eq!(messaging(&sent, Outcome::Silent).unwrap().len(), 0);
        assert_eq!(messaging(&sent, Outcome::Delivered).unwrap().len(), 2);
    }

    #[test]
    fn instagram_echoes_without_metadata_and_reads_by_mid() {
        let channel = Channel::Instagram {
            ig_id: "17840000000000001".into(),
        };
        let content = MessagingContent::Text("Yes we do!".into());
        let sent = SentMessage {
            channel: &channel,
            recipient: "900000000000001",
            mid: "aWdfZAG1faXRlbTo",
            content: &content,
            metadata: Some("ventana:k1"),
            app_id: 1,
            attachment_url: None,
            at: at(),
        };
        let hooks = messaging(&sent, Outcome::Read).unwrap();
        assert_eq!(hooks.len(), 2);
        let echo = &json(&hooks[0])["entry"][0]["messaging"][0]["message"];
        assert!(echo.get("metadata").is_none() && echo.get("app_id").is_none());
        assert_eq!(
            json(&hooks[1])["entry"][0]["messaging"][0]["read"]["mid"],
            "aWdfZAG1faXRlbTo"
        );
    }

    #[test]
    fn whatsapp_statuses_carry_callback_data_and_pricing_rules() {
        let channel = Channel::WhatsApp {
            waba_id: "100000000000999".into(),
            phone_number_id: "200000000000111".into(),
            display_phone_number: "15550009999".into(),
        };
        let sent = SentWhatsApp {
            channel: &channel,
            wa_id: "15550001234",
            wamid: "wamid.X",
            biz_opaque_callback_data: Some("ventana:k2"),
            pricing: ("free_customer_service", "service", false),
            at: at(),
        };
        let hooks = whatsapp(&sent, Outcome::Read, None).unwrap();
        let statuses: Vec<Value> = hooks
            .iter()
            .map(|w| json(w)["entry"][0]["changes"][0]["value"]["statuses"][0].clone())
            .collect();
        let names: Vec<&str> = statuses
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sent", "delivered", "read"]);
        assert!(
            statuses
                .iter()
                .all(|s| s["biz_opaque_callback_data"] == "ventana:k2")
        );
        assert!(statuses[0].get("pricing").is_some() && statuses[1].get("pricing").is_some());
        assert!(statuses[2].get("pricing").is_none());
        let failed = whatsapp(&sent, Outcome::Read, Some(131_047)).unwrap();
        let status = &json(&failed[0])["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(failed.len(), 1);
        assert_eq!(status["errors"][0]["code"], 131_047);
        assert_eq!(status["errors"][0]["title"], "Re-engagement message");
        assert!(
            whatsapp(&sent, Outcome::Silent, Some(131_047))
                .unwrap()
                .is_empty()
        );
    }
}
