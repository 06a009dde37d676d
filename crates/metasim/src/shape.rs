//! The shape of a webhook body, for checking that metasim writes what Meta writes: the set
//! of a JSON document's key paths, with array indices collapsed
//! (`entry[].messaging[].message.mid`), and the split of a batched body into one body per
//! event, so that events can be compared one kind at a time.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Every key path in `value`: objects' keys joined with `.`, array elements as `[]`.
/// Containers count too (`entry`, `entry[]`), so an empty object or array still shows.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    collect(value, "", &mut paths);
    paths
}

fn collect(value: &Value, path: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                paths.insert(child_path.clone());
                collect(child, &child_path, paths);
            }
        }
        Value::Array(items) => {
            let element_path = format!("{path}[]");
            for item in items {
                paths.insert(element_path.clone());
                collect(item, &element_path, paths);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Splits a webhook body into bodies of one event each, keeping everything around the
/// event (the envelope, the entry, for WhatsApp the change's `metadata` and the contact
/// the event is from). Messenger and Instagram events are the items of
/// `entry[].messaging[]`; WhatsApp's are the items of `messages`, `statuses` and
/// `user_preferences`. A body of another shape gives no events.
pub fn split_events(body: &Value) -> Vec<Value> {
    let mut events = Vec::new();
    let Some(object) = body.get("object") else {
        return events;
    };
    for entry in body
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(entry) = entry.as_object() else {
            continue;
        };
        if let Some(messaging) = entry.get("messaging").and_then(Value::as_array) {
            for event in messaging {
                let mut one = entry.clone();
                one.insert("messaging".into(), Value::Array(vec![event.clone()]));
                events.push(envelope(object, one));
            }
        }
        for change in entry
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(change) = change.as_object() else {
                continue;
            };
            let Some(value) = change.get("value").and_then(Value::as_object) else {
                continue;
            };
            for list in ["messages", "statuses", "user_preferences"] {
                for item in value
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let mut one_value: Map<String, Value> = value
                        .iter()
                        .filter(|(k, _)| {
                            !matches!(
                                k.as_str(),
                                "messages" | "statuses" | "user_preferences" | "contacts"
                            )
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let sender = item.get("from").or_else(|| item.get("wa_id"));
                    let contacts: Vec<Value> = value
                        .get("contacts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|c| sender.is_some() && c.get("wa_id") == sender)
                        .cloned()
                        .collect();
                    if !contacts.is_empty() {
                        one_value.insert("contacts".into(), Value::Array(contacts));
                    }
                    one_value.insert(list.into(), Value::Array(vec![item.clone()]));
                    let mut one_change = change.clone();
                    one_change.insert("value".into(), Value::Object(one_value));
                    let mut one_entry = entry.clone();
                    one_entry.insert(
                        "changes".into(),
                        Value::Array(vec![Value::Object(one_change)]),
                    );
                    events.push(envelope(object, one_entry));
                }
            }
        }
    }
    events
}

fn envelope(object: &Value, entry: Map<String, Value>) -> Value {
    let mut envelope = Map::new();
    envelope.insert("object".into(), object.clone());
    envelope.insert("entry".into(), Value::Array(vec![Value::Object(entry)]));
    Value::Object(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collapses_indices_and_keeps_containers() {
        let value = json!({"entry": [{"id": "1", "mids": ["a", "b"]}, {"id": "2", "empty": {}}]});
        let paths: Vec<String> = key_paths(&value).into_iter().collect();
        assert_eq!(
            paths,
            [
                "entry",
                "entry[]",
                "entry[].empty",
                "entry[].id",
                "entry[].mids",
                "entry[].mids[]"
            ]
        );
    }

    #[test]
    fn splits_whatsapp_values_into_one_event_each_with_its_contact() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "p"},
            "contacts": [{"wa_id": "1"}, {"wa_id": "2"}],
            "messages": [{"from": "1", "id": "a"}, {"from": "2", "id": "b"}],
        }}]}]});
        let events = split_events(&body);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1]["entry"][0]["changes"][0]["value"]["contacts"],
            json!([{"wa_id": "2"}])
        );
        assert_eq!(
            events[1]["entry"][0]["changes"][0]["value"]["messages"][0]["id"],
            "b"
        );
    }
}
