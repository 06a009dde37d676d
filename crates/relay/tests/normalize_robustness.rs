//! Invariant 10 for `normalize`: whatever the bytes, a clear `Ok` or `Err`, never a panic.
//!
//! A deterministic fuzz corpus built from the fixtures (every truncation, single-byte
//! mutations at every position, every JSON node replaced by hostile values or removed),
//! plus hand-picked hostile inputs (deep nesting, huge numbers, huge strings).
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use ventana_protocol::EventBody;
use ventana_protocol::event::MessageContent;
use ventana_relay::webhook::normalize::{NormalizeError, Normalized, normalize};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta");
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    all.sort();
    assert!(all.len() >= 14, "the fixtures are where they should be");
    all
}

/// Runs `normalize`, turning a panic into a test failure that names the input, and checks
/// what every `Ok` must satisfy.
fn survive(label: &str, body: &[u8]) -> Result<Normalized, String> {
    let result = catch_unwind(AssertUnwindSafe(|| normalize(body))).unwrap_or_else(|_| {
        panic!(
            "normalize panicked on {label}: {:?}",
            String::from_utf8_lossy(body)
        )
    });
    match result {
        Ok(normalized) => {
            check_invariants(label, &normalized);
            Ok(normalized)
        }
        Err(error) => {
            // Every error explains itself.
            assert!(!error.to_string().is_empty(), "{label}");
            Err(error.to_string())
        }
    }
}

fn check_invariants(label: &str, normalized: &Normalized) {
    for event in &normalized.events {
        assert!(!event.dedupe_key.is_empty(), "{label}: empty dedupe key");
        assert!(
            !event.channel.external_id.is_empty(),
            "{label}: empty channel id"
        );
        assert!(
            !event.contact_external_id.is_empty(),
            "{label}: empty contact id"
        );
        let media_in_body = match &event.body {
            EventBody::MessageReceived(message) => has_media(&message.content),
            EventBody::MessageSent(message) => has_media(&message.content),
            _ => false,
        };
        assert_eq!(
            event.media.len(),
            usize::from(media_in_body),
            "{label}: one media ref per media"
        );
        if let Some(media) = event.media.first() {
            assert!(
                media.media_id.as_str().starts_with("wa:")
                    || media.media_id.as_str().starts_with("url:"),
                "{label}"
            );
        }
    }
    for ignored in &normalized.ignored {
        assert!(
            !ignored.what.is_empty(),
            "{label}: an ignored item says what"
        );
        assert!(ignored.what.len() < 2_000, "{label}: log lines stay short");
    }
}

fn has_media(content: &MessageContent) -> bool {
    matches!(
        content,
        MessageContent::Image(_)
            | MessageContent::Audio(_)
            | MessageContent::Video(_)
            | MessageContent::Document(_)
            | MessageContent::Sticker(_)
    )
}

#[test]
fn every_truncation_of_every_fixture_is_an_error_not_a_panic() {
    for (name, bytes) in fixtures() {
        let complete = bytes.trim_ascii_end().len();
        for end in 0..bytes.len() {
            let result = survive(&format!("{name}[..{end}]"), &bytes[..end]);
            if end < complete {
                assert!(
                    result.is_err(),
                    "{name} cut at {end} of {complete} bytes was accepted"
                );
            }
        }
    }
}

#[test]
fn every_single_byte_mutation_of_every_fixture_is_survived() {
    // Bytes that change the JSON's structure, type or encoding.
    const REPLACEMENTS: &[u8] = &[
        0x00, b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'9', b'-', b'x', b'\\', b' ', 0x80,
        0xff,
    ];
    let mut accepted = 0usize;
    let mut total = 0usize;
    for (name, bytes) in fixtures() {
        for position in 0..bytes.len() {
            let mut mutated = bytes.clone();
            let replacements = REPLACEMENTS
                .iter()
                .copied()
                .chain([bytes[position] ^ 0x01, bytes[position] ^ 0x20]);
            for replacement in replacements {
                if replacement == bytes[position] {
                    continue;
                }
                mutated[position] = replacement;
                total += 1;
                if survive(
                    &format!("{name} with byte {position} = {replacement:#04x}"),
                    &mutated,
                )
                .is_ok()
                {
                    accepted += 1;
                }
            }
            // Dropping the byte, and doubling it.
            let mut dropped = bytes.clone();
            dropped.remove(position);
            let _ = survive(&format!("{name} without byte {position}"), &dropped);
            let mut doubled = bytes.clone();
            doubled.insert(position, bytes[position]);
            let _ = survive(&format!("{name} with byte {position} doubled"), &doubled);
            total += 2;
        }
    }
    // The corpus reaches past the JSON parser: many mutations land in strings and numbers.
    assert!(accepted > total / 10, "{accepted} of {total} accepted");
}

/// Hostile values to put anywhere in a payload.
fn hostile_values() -> Vec<Value> {
    let mut deep = json!("bottom");
    for _ in 0..55 {
        deep = json!({"a": [deep]});
    }
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(1e300),
        json!(-1e300),
        json!(""),
        json!("x"),
        json!("99999999999999999999999"),
        json!("-5"),
        json!([]),
        json!({}),
        json!([null, 1, "a", {}]),
        json!("\u{0}\u{202e}é🙂"),
        deep,
    ]
}

/// Every node of `value`, by path.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(index));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(value: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(value, |node, step| match step {
        PathStep::Key(key) => &mut node[key.as_str()],
        PathStep::Index(index) => &mut node[*index],
    })
}

#[test]
fn every_node_of_every_webhook_replaced_by_hostile_values_or_removed_is_survived() {
    let mut runs = 0usize;
    for (name, bytes) in fixtures() {
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let mut all = Vec::new();
        paths(&original, &mut Vec::new(), &mut all);
        for path in &all {
            for hostile in hostile_values() {
                let mut mutated = original.clone();
                *node_mut(&mut mutated, path) = hostile.clone();
                let body = mutated.to_string();
                let _ = survive(
                    &format!("{name} with {path:?} = {hostile}"),
                    body.as_bytes(),
                );
                runs += 1;
            }
            // Removing the node from its parent.
            if let Some((last, parent_path)) = path.split_last() {
                let mut mutated = original.clone();
                match (node_mut(&mut mutated, parent_path), last) {
                    (Value::Object(map), PathStep::Key(key)) => {
                        map.remove(key);
                    }
                    (Value::Array(items), PathStep::Index(index)) => {
                        items.remove(*index);
                    }
                    _ => unreachable!(),
                }
                let _ = survive(
                    &format!("{name} without {path:?}"),
                    mutated.to_string().as_bytes(),
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 5_000, "{runs}");
}

#[test]
fn a_broken_event_field_is_reported_not_fatal() {
    // Replace each field of each Messenger event in turn by a wrong type: the body is
    // still read, and the other events are still there.
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/meta/messenger_events_batch.json"),
    )
    .unwrap();
    let original: Value = serde_json::from_slice(&bytes).unwrap();
    let baseline = normalize(&bytes).unwrap().events.len();
    let events = original["entry"][0]["messaging"].as_array().unwrap().len();
    for index in 0..events {
        for field in ["sender", "recipient", "timestamp"] {
            let mut mutated = original.clone();
            mutated["entry"][0]["messaging"][index][field] = json!({"nested": [1, 2]});
            let normalized = survive(
                &format!("event {index} {field}"),
                mutated.to_string().as_bytes(),
            )
            .unwrap_or_else(|e| panic!("event {index} {field}: the body failed: {e}"));
            assert_eq!(normalized.ignored.len(), 1, "event {index} {field}");
            assert_eq!(
                normalized.events.len(),
                baseline - 1,
                "event {index} {field}"
            );
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 10_000, 1_000_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(
            normalize(body.as_bytes()),
            Err(NormalizeError::NotJson(_))
        ));
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"1","messaging":[{{"message":{}1{}}}]}}]}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        assert!(matches!(
            normalize(body.as_bytes()),
            Err(NormalizeError::NotJson(_))
        ));
    }
}

#[test]
fn huge_and_odd_numbers_are_skipped_with_a_reason() {
    let event = |timestamp: Value, extra: Value| {
        let mut event =
            json!({"sender": {"id": "7"}, "recipient": {"id": "1"}, "timestamp": timestamp});
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    };
    for timestamp in [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e300),
        json!(1760000000000.5),
        json!("17600000000000000000000"),
        json!("1.76e12"),
        json!(""),
    ] {
        let body = json!({"object": "page", "entry": [{"id": "1", "messaging": [
            event(timestamp.clone(), json!({"message": {"mid": "m", "text": "t"}}))
        ]}]});
        let normalized = survive(
            &format!("timestamp {timestamp}"),
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert!(normalized.events.is_empty(), "timestamp {timestamp}");
        assert_eq!(normalized.ignored.len(), 1, "timestamp {timestamp}");
    }
    // Big numbers in other places.
    let body = json!({"object": "page", "entry": [{"id": "1", "time": 1e300, "messaging": [
        event(json!(5), json!({"message_edit": {"mid": "m", "text": "t", "num_edit": u64::MAX}})),
        event(json!(5), json!({"read": {"watermark": i64::MAX}})),
        event(json!(5), json!({"delivery": {"watermark": -1e300}})),
        event(json!(5), json!({"message": {"mid": "m2", "is_echo": true, "app_id": 1e300, "text": "x"}})),
        event(json!(5), json!({"message": {"mid": "m3", "attachments": [
            {"type": "location", "payload": {"coordinates": {"lat": 1e308, "long": -1e308}}}]}})),
    ]}]});
    let normalized = survive("big numbers", body.to_string().as_bytes()).unwrap();
    assert_eq!(normalized.events.len(), 2, "{normalized:#?}");
    assert_eq!(normalized.ignored.len(), 3, "{normalized:#?}");
    assert!(normalize(b"{\"object\":\"page\",\"entry\":[],\"n\":1e400}").is_err());
}

#[test]
fn huge_strings_pass_through_and_huge_names_are_clipped_in_logs() {
    let long = "a".repeat(3 * 1024 * 1024);
    let body = json!({"object": "page", "entry": [{"id": "1", "messaging": [
        {"sender": {"id": "7"}, "recipient": {"id": "1"}, "timestamp": 1,
         "message": {"mid": "m", "text": long}},
        {"sender": {"id": "7"}, "recipient": {"id": "1"}, "timestamp": 1, long.clone(): {}}
    ]}]});
    let normalized = survive("3 MiB text", body.to_string().as_bytes()).unwrap();
    assert_eq!(normalized.events.len(), 1);
    assert_eq!(normalized.ignored.len(), 1);
    let error = normalize(json!({"object": long, "entry": []}).to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().len() < 500);
}
