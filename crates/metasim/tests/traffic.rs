//! Properties of generated traffic as bytes and as a stream: ASCII, valid JSON, Meta's
//! signature, reproducibility, unique ids, batching, time, and the behaviours the reference
//! describes (status lifecycles, reactions removed, opt-outs, echoes).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeMap, HashSet};
use ventana_metasim::traffic::PAGE_INBOX_APP_ID;
use ventana_metasim::{
    Channel, Clock, Contact, Conversation, DedupeKey, EventKind, GenError, Generator,
    GeneratorConfig, Platform, Universe, Webhook,
};

const SECRET: &[u8] = b"fake_app_secret_0123456789abcdef";

fn json(webhook: &Webhook) -> Value {
    serde_json::from_slice(&webhook.body).unwrap()
}

/// A mixed run: `bodies` bodies per platform of 1 to `max_events` events each.
fn run(seed: u64, bodies: usize, max_events: usize) -> Vec<Webhook> {
    let mut generator = Generator::new(Universe::demo(seed), seed);
    let mut out = Vec::new();
    for i in 0..bodies {
        for platform in Platform::ALL {
            let events = 1 + (i * 7 + 3) % max_events;
            out.push(generator.next_webhook(platform, events).unwrap());
        }
    }
    out
}

fn verify_signature(header: &str, body: &[u8]) -> bool {
    let Some(hex_tag) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

#[test]
fn bodies_are_ascii_valid_json_with_meta_escapes_and_a_verifiable_signature() {
    let mut saw_escape = false;
    for webhook in run(1, 60, 40) {
        assert!(webhook.body.is_ascii(), "{}", webhook.body_text());
        let value = json(&webhook);
        assert_eq!(value["object"], webhook.platform.object());
        // Nothing Meta escapes is left bare anywhere in the body.
        assert!(!webhook.body.iter().any(|b| matches!(b, b'@' | b'%' | b'<')));
        assert!(
            !webhook
                .body
                .windows(2)
                .any(|w| w[1] == b'/' && w[0] != b'\\')
        );
        saw_escape |= webhook.body_text().contains("\\u00");
        let header = webhook.signature_header(SECRET);
        assert!(verify_signature(&header, &webhook.body));
        assert!(!verify_signature(
            &header,
            &[&webhook.body[..], b" "].concat()
        ));
        // A body re-serialised by serde_json (raw UTF-8, bare slashes) is signed differently.
        let reserialised = serde_json::to_vec(&value).unwrap();
        assert_ne!(reserialised, webhook.body);
        assert!(!verify_signature(&header, &reserialised));
    }
    assert!(saw_escape, "accented text was generated and escaped");
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
    let a = run(5, 10, 30);
    let b = run(5, 10, 30);
    assert_eq!(a, b);
    let c = run(6, 10, 30);
    assert_eq!(a.len(), c.len());
    for (x, y) in a.iter().zip(&c) {
        assert_ne!(x.body, y.body);
    }
    // Same universe, other generator seed: other traffic too.
    let mut g1 = Generator::new(Universe::demo(1), 1);
    let mut g2 = Generator::new(Universe::demo(1), 2);
    assert_ne!(
        g1.next_webhook(Platform::Messenger, 5).unwrap().body,
        g2.next_webhook(Platform::Messenger, 5).unwrap().body
    );
}

#[test]
fn ids_are_unique_across_ten_thousand_events() {
    let mut generator = Generator::new(Universe::demo(2), 2);
    let mut webhooks = Vec::new();
    let mut events = 0;
    while events < 10_000 {
        for platform in Platform::ALL {
            let webhook = generator.next_webhook(platform, 1000).unwrap();
            events += webhook.event_count;
            webhooks.push(webhook);
        }
    }
    let mut message_ids = HashSet::new();
    let mut status_keys = HashSet::new();
    let mut media_ids = HashSet::new();
    for webhook in &webhooks {
        let text = webhook.body_text();
        for info in &webhook.events {
            match &info.key {
                DedupeKey::Mid(id) | DedupeKey::Wamid(id) => {
                    assert!(message_ids.insert(id.clone()), "{id} repeats");
                    // The id is in the body (escaped as Meta escapes it).
                    let escaped = serde_json::to_string(id).unwrap().replace('/', "\\/");
                    assert!(text.contains(&escaped), "{id} is not in its body");
                }
                DedupeKey::WamidStatus { wamid, status } => {
                    assert!(
                        status_keys.insert((wamid.clone(), status.clone())),
                        "{wamid} {status} repeats"
                    );
                }
                _ => {}
            }
        }
        let value = json(webhook);
        for entry in value["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for message in change["value"]["messages"].as_array().into_iter().flatten() {
                    for media in ["image", "audio", "video", "document", "sticker"] {
                        if let Some(id) = message[media]["id"].as_str() {
                            assert!(media_ids.insert(id.to_owned()), "media {id} repeats");
                        }
                    }
                }
            }
        }
    }
    assert!(events >= 10_000);
    assert!(message_ids.len() > 5_000, "{}", message_ids.len());
    assert!(status_keys.len() > 500, "{}", status_keys.len());
    assert!(media_ids.len() > 100, "{}", media_ids.len());
}

#[test]
fn the_webhook_knows_its_channels_and_counts() {
    for webhook in run(3, 30, 25) {
        let value = json(&webhook);
        let mut in_body: Vec<String> = Vec::new();
        let mut count = 0;
        for entry in value["entry"].as_array().unwrap() {
            if let Some(messaging) = entry["messaging"].as_array() {
                count += messaging.len();
                in_body.push(entry["id"].as_str().unwrap().to_owned());
            }
            for change in entry["changes"].as_array().into_iter().flatten() {
                let v = &change["value"];
                for list in ["messages", "statuses", "user_preferences"] {
                    count += v[list].as_array().map_or(0, Vec::len);
                }
                in_body.push(
                    v["metadata"]["phone_number_id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        in_body.dedup();
        let mut distinct: Vec<String> = Vec::new();
        for id in in_body {
            if !distinct.contains(&id) {
                distinct.push(id);
            }
        }
        assert_eq!(webhook.channel_ids(), distinct);
        assert_eq!(webhook.event_count, count);
        assert_eq!(webhook.events.len(), count);
        assert_eq!(webhook.dedupe_keys().len(), count);
    }
}

#[test]
fn batches_hold_one_to_a_thousand_updates_over_several_entries() {
    let mut generator = Generator::new(Universe::demo(4), 4).with_config(GeneratorConfig {
        max_entries_per_body: 5,
        same_contact: 0.5,
    });
    for platform in Platform::ALL {
        let full = generator.next_webhook(platform, 1000).unwrap();
        assert_eq!(full.event_count, 1000);
        assert!(matches!(
            generator.next_webhook(platform, 1001),
            Err(GenError::BatchSize {
                requested: 1001,
                max: 1000
            })
        ));
        assert!(matches!(
            generator.next_webhook(platform, 0),
            Err(GenError::BatchSize { .. })
        ));
        let mut most_entries = 0;
        for _ in 0..40 {
            let webhook = generator.next_webhook(platform, 30).unwrap();
            let entries = json(&webhook)["entry"].as_array().unwrap().len();
            assert!((1..=5).contains(&entries));
            most_entries = most_entries.max(entries);
        }
        assert!(most_entries > 1, "{platform}: never more than one entry");
    }
    let mut single = Generator::new(Universe::demo(4), 4).with_config(GeneratorConfig {
        max_entries_per_body: 1,
        ..GeneratorConfig::default()
    });
    for _ in 0..20 {
        let webhook = single.next_webhook(Platform::Messenger, 12).unwrap();
        let value = json(&webhook);
        assert_eq!(value["entry"].as_array().unwrap().len(), 1);
        assert_eq!(value["entry"][0]["messaging"].as_array().unwrap().len(), 12);
    }
    // A nonsensical configuration degrades to something sensible rather than panicking.
    let mut odd = Generator::new(Universe::demo(4), 4).with_config(GeneratorConfig {
        max_entries_per_body: 0,
        same_contact: f64::NAN,
    });
    assert_eq!(
        odd.next_webhook(Platform::Instagram, 7)
            .unwrap()
            .event_count,
        7
    );
    let empty = Universe::new(1, Vec::new());
    assert!(matches!(
        Generator::new(empty, 1).next_webhook(Platform::WhatsApp, 1),
        Err(GenError::NoChannel(Platform::WhatsApp))
    ));
}

#[test]
fn timestamps_come_from_the_clock_and_only_move_forward() {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let clock = Clock::new(start).with_steps(TimeDelta::seconds(1), TimeDelta::seconds(3));
    let mut generator = Generator::with_clock(Universe::demo(5), 5, clock);
    let mut last = start;
    for round in 0..30 {
        for platform in Platform::ALL {
            let webhook = generator.next_webhook(platform, 10).unwrap();
            for info in &webhook.events {
                assert!(info.timestamp > last, "{} then {}", last, info.timestamp);
                assert!(info.timestamp - last <= TimeDelta::seconds(3));
                last = info.timestamp;
            }
            let value = json(&webhook);
            for (entry, infos) in value["entry"]
                .as_array()
                .unwrap()
                .iter()
                .zip(entry_infos(&webhook))
            {
                if let Some(messaging) = entry["messaging"].as_array() {
                    let newest = infos
                        .iter()
                        .map(|i| i.timestamp.timestamp_millis())
                        .max()
                        .unwrap();
                    assert!(
                        entry["time"].as_i64().unwrap() >= newest,
                        "entry time after its events"
                    );
                    for (event, info) in messaging.iter().zip(&infos) {
                        let ms = info.timestamp.timestamp_millis();
                        match event.get("timestamp") {
                            Some(t) => assert_eq!(t.as_i64(), Some(ms)),
                            None => assert_eq!(event["delivery"]["watermark"].as_i64(), Some(ms)),
                        }
                    }
                } else {
                    let v = &entry["changes"][0]["value"];
                    for item in v["messages"]
                        .as_array()
                        .into_iter()
                        .chain(v["statuses"].as_array())
                        .flatten()
                    {
                        // Unix seconds, as a string of digits.
                        let seconds = item["timestamp"].as_str().unwrap();
                        assert!(seconds.bytes().all(|b| b.is_ascii_digit()), "{seconds}");
                        assert!(seconds.parse::<i64>().unwrap() >= start.timestamp());
                    }
                    for item in v["user_preferences"].as_array().into_iter().flatten() {
                        assert!(
                            item["timestamp"].is_i64(),
                            "user_preferences timestamps are numbers"
                        );
                    }
                }
            }
        }
        if round == 15 {
            generator.advance(TimeDelta::hours(25));
            assert!(generator.now() - last >= TimeDelta::hours(25));
            last = generator.now();
        }
    }
}

/// The events of each entry, in order (entries hold consecutive events).
fn entry_infos(webhook: &Webhook) -> Vec<Vec<ventana_metasim::EventInfo>> {
    let value = json(webhook);
    let mut infos = webhook.events.iter().cloned();
    value["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let n = entry["messaging"].as_array().map_or_else(
                || {
                    entry["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| {
                            ["messages", "statuses", "user_preferences"]
                                .iter()
                                .map(|l| c["value"][*l].as_array().map_or(0, Vec::len))
                                .sum::<usize>()
                        })
                        .sum()
                },
                Vec::len,
            );
            infos.by_ref().take(n).collect()
        })
        .collect()
}

#[test]
fn whatsapp_statuses_follow_meta_s_lifecycle() {
    let mut generator = Generator::new(Universe::demo(6), 6);
    let mut history: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for _ in 0..40 {
        let webhook = generator.next_webhook(Platform::WhatsApp, 200).unwrap();
        let value = json(&webhook);
        for entry in value["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().unwrap() {
                for status in change["value"]["statuses"].as_array().into_iter().flatten() {
                    history
                        .entry(status["id"].as_str().unwrap().to_owned())
                        .or_default()
                        .push(status.clone());
                }
            }
        }
    }
    let (mut skipped_delivered, mut full, mut failed) = (0, 0, 0);
    for (wamid, statuses) in &history {
        assert!(wamid.starts_with("wamid."));
        let names: Vec<&str> = statuses
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert!(
            matches!(
                names.as_slice(),
                ["sent"]
                    | ["sent", "delivered"]
                    | ["sent", "delivered", "read"]
                    | ["sent", "read"]
                    | ["sent", "failed"]
                    | ["failed"]
            ),
            "{wamid}: {names:?}"
        );
        match names.as_slice() {
            ["sent", "read"] => skipped_delivered += 1,
            ["sent", "delivered", "read"] => full += 1,
            [.., "failed"] => failed += 1,
            _ => {}
        }
        // Pricing on `sent` and on the first of delivered/read; never on failed.
        for (i, status) in statuses.iter().enumerate() {
            let priced = status.get("pricing").is_some();
            let expected = match names[i] {
                "sent" => true,
                "delivered" => true,
                "read" => !names.contains(&"delivered"),
                _ => false,
            };
            assert_eq!(priced, expected, "{wamid}: {names:?} at {i}");
            if names[i] == "failed" {
                let error = &status["errors"][0];
                assert!(error["code"].is_u64());
                for field in ["title", "message", "href"] {
                    assert!(error[field].is_string(), "{field}");
                }
                assert!(error["error_data"]["details"].is_string());
            }
        }
        // The callback data, if any, is on every status of the message.
        let opaque: HashSet<_> = statuses
            .iter()
            .map(|s| s.get("biz_opaque_callback_data").cloned())
            .collect();
        assert_eq!(opaque.len(), 1, "{wamid}");
    }
    assert!(
        skipped_delivered > 10 && full > 10 && failed > 5,
        "{skipped_delivered} {full} {failed}"
    );
}

#[test]
fn reactions_can_be_removed_and_removal_carries_no_emoji() {
    let mut generator = Generator::new(Universe::demo(7), 7);
    for platform in Platform::ALL {
        let conversation = generator.universe().conversation(platform, 0, 0).unwrap();
        let add = generator
            .single(&conversation, EventKind::Reaction)
            .unwrap();
        let remove = generator
            .single(&conversation, EventKind::Unreaction)
            .unwrap();
        let (add, remove) = (json(&add), json(&remove));
        if platform == Platform::WhatsApp {
            let added = &add["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"];
            let removed = &remove["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"];
            assert!(added["emoji"].is_string());
            assert!(removed.get("emoji").is_none());
            assert_eq!(
                added["message_id"], removed["message_id"],
                "the same message"
            );
        } else {
            let added = &add["entry"][0]["messaging"][0]["reaction"];
            let removed = &remove["entry"][0]["messaging"][0]["reaction"];
            assert_eq!(added["action"], "react");
            assert!(added["emoji"].is_string() && added["reaction"].is_string());
            assert_eq!(removed["action"], "unreact");
            assert!(removed.get("emoji").is_none() && removed.get("reaction").is_none());
            assert_eq!(
                added["mid"], removed["mid"],
                "the reaction removed is the one added"
            );
        }
    }
}

#[test]
fn opt_outs_and_opt_ins_are_user_preferences() {
    let mut generator = Generator::new(Universe::demo(8), 8);
    let conversation = generator
        .universe()
        .conversation(Platform::WhatsApp, 0, 1)
        .unwrap();
    for (kind, value) in [(EventKind::OptOut, "stop"), (EventKind::OptIn, "resume")] {
        let webhook = generator.single(&conversation, kind).unwrap();
        let change = &json(&webhook)["entry"][0]["changes"][0];
        assert_eq!(change["field"], "user_preferences");
        assert_eq!(
            change["value"]["contacts"],
            serde_json::json!([{"wa_id": conversation.contact.id}])
        );
        let preference = &change["value"]["user_preferences"][0];
        assert_eq!(preference["value"], value);
        assert_eq!(preference["category"], "marketing_messages");
        assert_eq!(preference["wa_id"], conversation.contact.id.as_str());
    }
}

#[test]
fn texts_carry_the_keywords_relays_escalate_on() {
    let mut generator = Generator::new(Universe::demo(9), 9);
    let mut texts = Vec::new();
    for _ in 0..30 {
        for platform in Platform::ALL {
            let webhook = generator.next_webhook(platform, 100).unwrap();
            texts.extend(webhook.events.into_iter().filter_map(|e| e.text));
        }
    }
    for keyword in ["human", "agente", "STOP", "@", "/", "%"] {
        assert!(texts.iter().any(|t| t.contains(keyword)), "{keyword}");
    }
    assert!(
        texts.iter().any(|t| t.chars().any(|c| c as u32 > 0xffff)),
        "an emoji"
    );
    assert!(
        texts.iter().any(|t| t.contains('ñ') || t.contains('á')),
        "Spanish"
    );
}

#[test]
fn a_forced_text_arrives_exactly_and_escaped() {
    let mut generator = Generator::new(Universe::demo(10), 10);
    let text = "¿Me pasas con un agente? 🙏 <ya> ana@example.com 100% https://x.invalid/a";
    for platform in Platform::ALL {
        let conversation = generator.universe().conversation(platform, 1, 2).unwrap();
        let webhook = generator.text(&conversation, text).unwrap();
        assert_eq!(webhook.events[0].text.as_deref(), Some(text));
        assert_eq!(webhook.channel_ids(), [conversation.channel.external_id()]);
        let body = webhook.body_text();
        assert!(body.contains(
            r#"\u00bfMe pasas con un agente? \ud83d\ude4f \u003Cya> ana\u0040example.com 100\u0025 https:\/\/x.invalid\/a"#
        ));
        let value = json(&webhook);
        let found = match platform {
            Platform::WhatsApp => {
                value["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"].clone()
            }
            _ => value["entry"][0]["messaging"][0]["message"]["text"].clone(),
        };
        assert_eq!(found, text);
    }
}

#[test]
fn echoes_say_who_sent_them() {
    let mut generator = Generator::new(Universe::demo(11), 11);
    let messenger = generator
        .universe()
        .conversation(Platform::Messenger, 0, 0)
        .unwrap();
    let ours = generator
        .echo_event(&messenger, "On its way!", Some("reply:42"))
        .unwrap();
    let inbox = generator
        .echo_event(&messenger, "Hi from the Page inbox", None)
        .unwrap();
    let webhook = generator.webhook(vec![ours, inbox]).unwrap();
    let value = json(&webhook);
    let events = value["entry"][0]["messaging"].as_array().unwrap();
    assert_eq!(
        value["entry"].as_array().unwrap().len(),
        1,
        "one Page, one entry"
    );
    assert_eq!(
        events[0]["sender"]["id"],
        messenger.channel.external_id(),
        "echoes come from the Page"
    );
    assert_eq!(events[0]["recipient"]["id"], messenger.contact.id.as_str());
    assert_eq!(events[0]["message"]["is_echo"], true);
    assert_eq!(events[0]["message"]["app_id"], generator.universe().app_id);
    assert_eq!(events[0]["message"]["metadata"], "reply:42");
    assert_eq!(events[1]["message"]["app_id"], PAGE_INBOX_APP_ID);
    assert!(events[1]["message"].get("metadata").is_none());

    let instagram = generator
        .universe()
        .conversation(Platform::Instagram, 0, 0)
        .unwrap();
    let echo = generator
        .echo_event(&instagram, "Yes we do!", None)
        .unwrap();
    let value = json(&generator.webhook(vec![echo]).unwrap());
    let message = &value["entry"][0]["messaging"][0]["message"];
    assert_eq!(message["is_echo"], true);
    assert!(
        message.get("app_id").is_none(),
        "Instagram echoes carry no app id (fixture)"
    );

    let whatsapp = generator
        .universe()
        .conversation(Platform::WhatsApp, 0, 0)
        .unwrap();
    assert!(matches!(
        generator.echo_event(&whatsapp, "x", None),
        Err(GenError::Unsupported {
            kind: EventKind::Echo,
            ..
        })
    ));
}

#[test]
fn deliveries_and_reads_point_at_what_the_business_sent() {
    let mut generator = Generator::new(Universe::demo(12), 12);
    let conversation = generator
        .universe()
        .conversation(Platform::Messenger, 0, 3)
        .unwrap();
    let mut echoed = Vec::new();
    for i in 0..3 {
        let echo = generator
            .echo_event(&conversation, &format!("reply {i}"), Some("m"))
            .unwrap();
        echoed.push(echo.info().key.meta_id().unwrap().to_owned());
    }
    let mut mids_delivered = Vec::new();
    let mut last_watermark = 0;
    for _ in 0..10 {
        let delivery = json(
            &generator
                .single(&conversation, EventKind::Delivery)
                .unwrap(),
        );
        let event = &delivery["entry"][0]["messaging"][0];
        assert!(event.get("timestamp").is_none());
        for mid in event["delivery"]["mids"].as_array().into_iter().flatten() {
            mids_delivered.push(mid.as_str().unwrap().to_owned());
        }
        let read = json(&generator.single(&conversation, EventKind::Read).unwrap());
        let watermark = read["entry"][0]["messaging"][0]["read"]["watermark"]
            .as_i64()
            .unwrap();
        assert!(
            watermark
                <= read["entry"][0]["messaging"][0]["timestamp"]
                    .as_i64()
                    .unwrap()
        );
        last_watermark = watermark;
    }
    assert!(
        mids_delivered.iter().all(|m| echoed.contains(m)),
        "deliveries name echoed mids"
    );
    assert!(last_watermark > 0);

    let instagram = generator
        .universe()
        .conversation(Platform::Instagram, 0, 3)
        .unwrap();
    let echo = generator.echo_event(&instagram, "Hola", None).unwrap();
    let mid = echo.info().key.meta_id().unwrap().to_owned();
    let read = json(&generator.single(&instagram, EventKind::Read).unwrap());
    assert_eq!(
        read["entry"][0]["messaging"][0]["read"]["mid"],
        mid.as_str()
    );
}

#[test]
fn forced_statuses_follow_a_message_the_relay_sent() {
    let mut generator = Generator::new(Universe::demo(13), 13);
    let conversation = generator
        .universe()
        .conversation(Platform::WhatsApp, 0, 2)
        .unwrap();
    let wamid = "wamid.HBgLMTU1NTAwMDEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
    let sent = generator
        .status_event(&conversation, wamid, EventKind::StatusSent)
        .unwrap();
    let delivered = generator
        .status_event(&conversation, wamid, EventKind::StatusDelivered)
        .unwrap();
    let read = generator
        .status_event(&conversation, wamid, EventKind::StatusRead)
        .unwrap();
    let webhook = generator.webhook(vec![sent, delivered, read]).unwrap();
    let value = json(&webhook);
    let statuses = value["entry"][0]["changes"][0]["value"]["statuses"]
        .as_array()
        .unwrap();
    assert_eq!(statuses.len(), 3, "one change holds the three statuses");
    let names: Vec<_> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    assert!(
        statuses
            .iter()
            .all(|s| s["id"] == wamid && s["recipient_id"] == conversation.contact.id.as_str())
    );
    let priced: Vec<bool> = statuses
        .iter()
        .map(|s| s.get("pricing").is_some())
        .collect();
    assert_eq!(priced, [true, true, false]);
    assert_eq!(
        webhook.events[2].key,
        DedupeKey::WamidStatus {
            wamid: wamid.to_owned(),
            status: "read".to_owned()
        }
    );
    assert!(matches!(
        generator.status_event(&conversation, wamid, EventKind::Text),
        Err(GenError::NotAStatus(EventKind::Text))
    ));
}

#[test]
fn what_meta_does_not_send_is_refused() {
    let mut generator = Generator::new(Universe::demo(14), 14);
    let whatsapp = generator
        .universe()
        .conversation(Platform::WhatsApp, 0, 0)
        .unwrap();
    let messenger = generator
        .universe()
        .conversation(Platform::Messenger, 0, 0)
        .unwrap();
    for (conversation, kind) in [
        (&whatsapp, EventKind::Edit),
        (&whatsapp, EventKind::Echo),
        (&messenger, EventKind::Unsend),
        (&messenger, EventKind::StatusRead),
        (&messenger, EventKind::Location),
    ] {
        assert!(
            matches!(
                generator.event(conversation, kind),
                Err(GenError::Unsupported { .. })
            ),
            "{kind:?}"
        );
    }
    let a = generator.event(&whatsapp, EventKind::Text).unwrap();
    let b = generator.event(&messenger, EventKind::Text).unwrap();
    assert!(matches!(
        generator.webhook(vec![a, b]),
        Err(GenError::MixedPlatforms(..))
    ));
    assert!(matches!(
        generator.webhook(Vec::new()),
        Err(GenError::BatchSize { .. })
    ));
}

#[test]
fn conversations_outside_the_universe_route_to_their_own_ids() {
    let mut generator = Generator::new(Universe::demo(15), 15);
    let stranger = Conversation::new(
        Channel::WhatsApp {
            waba_id: "999000000000001".into(),
            phone_number_id: "999000000000002".into(),
            display_phone_number: "15550000000".into(),
        },
        Contact::new("15559999999"),
    );
    let webhook = generator.text(&stranger, "hello?").unwrap();
    assert_eq!(webhook.channel_ids(), ["999000000000002"]);
    let value = json(&webhook);
    assert_eq!(value["entry"][0]["id"], "999000000000001");
    assert_eq!(
        value["entry"][0]["changes"][0]["value"]["messages"][0]["from"],
        "15559999999"
    );
}

#[test]
fn rollouts_follow_the_simulated_date() {
    // Before 2026-08-30 a Messenger sticker is sent as `sticker` and `image`; after, as
    // `sticker` only. WhatsApp media carry `url` from 2025-11-12.
    let before = Clock::default();
    let after = Clock::new(DateTime::from_timestamp(1_790_000_000, 0).unwrap());
    let mut types = Vec::new();
    let mut urls = Vec::new();
    for clock in [before, after] {
        let mut generator = Generator::with_clock(Universe::demo(16), 16, clock);
        let messenger = generator
            .universe()
            .conversation(Platform::Messenger, 0, 0)
            .unwrap();
        let sticker = json(&generator.single(&messenger, EventKind::Sticker).unwrap());
        let attachments = sticker["entry"][0]["messaging"][0]["message"]["attachments"]
            .as_array()
            .unwrap()
            .clone();
        types.push(
            attachments
                .iter()
                .map(|a| a["type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
        let whatsapp = generator
            .universe()
            .conversation(Platform::WhatsApp, 0, 0)
            .unwrap();
        let image = json(&generator.single(&whatsapp, EventKind::Image).unwrap());
        urls.push(
            image["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
                .get("url")
                .cloned(),
        );
    }
    assert_eq!(types, [vec!["sticker", "image"], vec!["sticker"]]);
    assert!(urls[0].is_none() && urls[1].is_some(), "{urls:?}");
}
