//! WhatsApp webhooks (`object: whatsapp_business_account`): `entry[].changes[]`
//! `{field, value}` → [`Incoming`] facts. Pure, like the rest of `normalize`.

use super::*;

pub(super) fn entry(entry: &Entry<'_>, out: &mut Normalized) {
    let Some(changes) = entry.changes else {
        entry.ignore(out, "whatsapp entry with no changes".to_owned());
        return;
    };
    for (index, change) in changes.iter().enumerate() {
        let field = change.get("field").and_then(Value::as_str);
        let value = change.get("value");
        match (field, value) {
                (Some("messages"), Some(value)) => messages_change(entry, index, value, out),
                (Some("user_preferences"), Some(value)) => {
                    preferences_change(entry, index, value, out);
                }
                (Some("messages" | "user_preferences") | None, _) => entry.ignore(
                    out,
                    format!(
                        "whatsapp changes[{index}] skipped as malformed: no string `field` or no `value`"
                    ),
                ),
                (Some(field), _) => entry.ignore(
                    out,
                    format!("whatsapp changes[{index}]: field `{}` is not handled", clip(field)),
                ),
            }
    }
}

/// The part of a change every event in it shares.
struct Change<'a> {
    entry: &'a Entry<'a>,
    index: usize,
    phone_number_id: String,
    contacts: &'a [Value],
}

impl Change<'_> {
    fn skip(&self, out: &mut Normalized, list: &str, item: usize, reason: &str) {
        self.entry.ignore(
            out,
            format!(
                "whatsapp changes[{}].value.{list}[{item}] skipped as malformed: {reason}",
                self.index
            ),
        );
    }

    fn fact(
        &self,
        contact: &str,
        contact_name: Option<String>,
        dedupe_key: String,
        occurred_at: DateTime<Utc>,
        body: EventBody,
        media: Option<MediaRef>,
    ) -> Incoming {
        Incoming {
            channel: ChannelKey {
                kind: ChannelKind::WhatsApp,
                external_id: self.phone_number_id.clone(),
            },
            contact_external_id: contact.to_owned(),
            contact_name,
            dedupe_key,
            occurred_at,
            body,
            media: media.into_iter().collect(),
        }
    }

    /// `contacts[].profile.name` of the contact with this id (or of the only contact).
    fn contact_name(&self, contact: &str) -> Option<String> {
        let matching = self.contacts.iter().find(|c| {
            c.get("wa_id").and_then(id_value).as_deref() == Some(contact)
                || c.get("user_id").and_then(id_value).as_deref() == Some(contact)
        });
        let only = match self.contacts {
            [only] => Some(only),
            _ => None,
        };
        matching
            .or(only)
            .and_then(|c| str_at(c, &["profile", "name"]))
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }
}

/// Reads `value.metadata.phone_number_id` and `value.contacts`, or skips the change.
fn change<'a>(
    entry: &'a Entry<'a>,
    index: usize,
    value: &'a Value,
    out: &mut Normalized,
) -> Option<Change<'a>> {
    let Some(phone_number_id) = value
        .get("metadata")
        .and_then(|m| m.get("phone_number_id"))
        .and_then(id_value)
    else {
        entry.ignore(
                out,
                format!(
                    "whatsapp changes[{index}] skipped as malformed: no `value.metadata.phone_number_id`"
                ),
            );
        return None;
    };
    let contacts = value
        .get("contacts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Some(Change {
        entry,
        index,
        phone_number_id,
        contacts,
    })
}

/// A list inside `value`; a list of the wrong type is reported, not fatal.
fn list<'a>(change: &Change<'_>, value: &'a Value, key: &str, out: &mut Normalized) -> &'a [Value] {
    match value.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => {
            change.entry.ignore(
                out,
                format!(
                    "whatsapp changes[{}].value.{key} skipped as malformed: not an array",
                    change.index
                ),
            );
            &[]
        }
    }
}

fn messages_change(entry: &Entry<'_>, index: usize, value: &Value, out: &mut Normalized) {
    let Some(change) = change(entry, index, value, out) else {
        return;
    };
    if !["messages", "statuses", "errors"]
        .iter()
        .any(|key| value.get(*key).is_some())
    {
        entry.ignore(
            out,
            format!(
                "whatsapp changes[{index}]: a messages change with no messages, statuses or errors"
            ),
        );
    }
    for (item, message) in list(&change, value, "messages", out).iter().enumerate() {
        match inbound(&change, message) {
            Ok(Some(fact)) => out.events.push(fact),
            Ok(None) => {}
            Err(Malformed(reason)) => change.skip(out, "messages", item, &reason),
        }
    }
    for (item, status) in list(&change, value, "statuses", out).iter().enumerate() {
        match self::status(&change, status) {
            Ok(Ok(fact)) => out.events.push(fact),
            Ok(Err(unhandled)) => entry.ignore(
                out,
                format!("whatsapp changes[{index}].value.statuses[{item}]: {unhandled}"),
            ),
            Err(Malformed(reason)) => change.skip(out, "statuses", item, &reason),
        }
    }
    for (item, error) in list(&change, value, "errors", out).iter().enumerate() {
        entry.ignore(
            out,
            format!(
                "whatsapp changes[{index}].value.errors[{item}] on {}: {}",
                change.phone_number_id,
                describe_error(error)
            ),
        );
    }
}

/// `error {code, title, message, error_data.details}` as one log line.
fn describe_error(error: &Value) -> String {
    let code = error
        .get("code")
        .and_then(int_value)
        .map_or_else(|| "?".to_owned(), |code| code.to_string());
    let title = str_at(error, &["title"]).or_else(|| str_at(error, &["message"]));
    let details = str_at(error, &["error_data", "details"]);
    let text = match (title, details) {
        (Some(title), Some(details)) => format!("{title} ({details})"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => "no description".to_owned(),
    };
    clip(&format!("error {code}: {text}"))
}

fn occurred_at(value: &Value) -> Parsed<DateTime<Utc>> {
    let Some(seconds) = value.get("timestamp").and_then(int_value) else {
        return malformed("`timestamp` is missing or not an integer");
    };
    from_seconds(seconds)
}

/// An inbound message (or a reaction, which WhatsApp sends as a message).
fn inbound(change: &Change<'_>, message: &Value) -> Parsed<Option<Incoming>> {
    if !message.is_object() {
        return malformed("not an object");
    }
    let wamid = required_id(message, &["id"])?;
    let Some(from) = message
        .get("from")
        .and_then(id_value)
        .or_else(|| message.get("from_user_id").and_then(id_value))
    else {
        return malformed("`from` is missing or empty");
    };
    let occurred_at = occurred_at(message)?;
    let contact_name = change.contact_name(&from);
    let kind = str_at(message, &["type"]).unwrap_or("");

    if kind == "reaction" {
        return reaction(change, message, &from, contact_name, occurred_at).map(Some);
    }

    let Part { content, media } = content(kind, message);
    let body = EventBody::MessageReceived(InboundMessage {
        message_id: MessageId::new(wamid.as_str()),
        content,
        sender_name: contact_name.clone(),
        reply_to: str_at(message, &["context", "id"])
            .filter(|id| !id.is_empty())
            .map(MessageId::from),
        referral: message.get("referral").map(referral),
    });
    Ok(Some(change.fact(
        &from,
        contact_name,
        format!("msg:{wamid}"),
        occurred_at,
        body,
        media,
    )))
}

/// `reaction {message_id, emoji?}`: no (or an empty) emoji means the reaction was removed.
fn reaction(
    change: &Change<'_>,
    message: &Value,
    from: &str,
    contact_name: Option<String>,
    occurred_at: DateTime<Utc>,
) -> Parsed<Incoming> {
    let Some(reaction) = message.get("reaction") else {
        return malformed("a `reaction` message without `reaction`");
    };
    let target = required_id(reaction, &["message_id"])?;
    let emoji = str_at(reaction, &["emoji"])
        .filter(|emoji| !emoji.is_empty())
        .map(str::to_owned);
    let (action, action_name) = match emoji {
        Some(_) => (ReactionAction::Added, "react"),
        None => (ReactionAction::Removed, "unreact"),
    };
    let key = format!(
        "reaction:{target}:{from}:{action_name}:{}",
        occurred_at.timestamp()
    );
    let body = EventBody::Reaction {
        message_id: MessageId::new(target),
        by: Party::Customer,
        action,
        emoji,
    };
    Ok(change.fact(from, contact_name, key, occurred_at, body, None))
}

/// The content of an inbound message, by `type`. Never fails: what can't be read
/// becomes `Unsupported`.
fn content(kind: &str, message: &Value) -> Part {
    let object = message.get(kind).filter(|_| !kind.is_empty());
    let wrap: Option<fn(Media) -> MessageContent> = match kind {
        "image" => Some(MessageContent::Image),
        "audio" => Some(MessageContent::Audio),
        "video" => Some(MessageContent::Video),
        "document" => Some(MessageContent::Document),
        "sticker" => Some(MessageContent::Sticker),
        _ => None,
    };
    if let Some(wrap) = wrap {
        return match object.and_then(media) {
            Some((media, source)) => Part {
                content: wrap(media),
                media: Some(source),
            },
            None => unsupported(describe_unsupported(kind, message)).into(),
        };
    }
    let read = match kind {
        "text" => object
            .and_then(|t| str_at(t, &["body"]))
            .map(|body| MessageContent::Text {
                body: body.to_owned(),
            }),
        "location" => object.and_then(location),
        "contacts" => object
            .and_then(Value::as_array)
            .map(|cards| MessageContent::Contacts {
                contacts: cards.iter().map(shared_contact).collect(),
            }),
        "interactive" => object.and_then(interactive),
        "button" => object.and_then(|b| {
            let payload = str_at(b, &["payload"]);
            let text = str_at(b, &["text"]);
            (payload.is_some() || text.is_some()).then(|| MessageContent::Button {
                payload: payload.unwrap_or_default().to_owned(),
                text: text.or(payload).unwrap_or_default().to_owned(),
            })
        }),
        _ => None,
    };
    read.unwrap_or_else(|| unsupported(describe_unsupported(kind, message)))
        .into()
}

fn describe_unsupported(kind: &str, message: &Value) -> String {
    let errors = message
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .map(describe_error);
    let what = match kind {
        "" => "a WhatsApp message of no type".to_owned(),
        "unsupported" => "a WhatsApp message type Ventana can't show".to_owned(),
        "order" => {
            let items = message
                .get("order")
                .and_then(|o| o.get("product_items"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            format!("a WhatsApp order with {items} item(s)")
        }
        "system" => match str_at(message, &["system", "body"]) {
            Some(body) => format!("a WhatsApp system message: {}", clip(body)),
            None => "a WhatsApp system message".to_owned(),
        },
        "text" | "image" | "audio" | "video" | "document" | "sticker" | "location" | "contacts"
        | "interactive" | "button" => {
            format!("a WhatsApp `{kind}` message in a shape Ventana can't read")
        }
        other => format!("a WhatsApp message of type `{}`", clip(other)),
    };
    match errors {
        Some(errors) => format!("{what} ({errors})"),
        None => what,
    }
}

/// `{id, mime_type, sha256, caption?, filename?, url?}`, and where to fetch it.
fn media(object: &Value) -> Option<(Media, MediaRef)> {
    let (media_id, source) = match object.get("id").and_then(id_value) {
        Some(id) => (
            MediaId::new(format!("wa:{id}")),
            MediaSource::WhatsAppMediaId(id),
        ),
        None => {
            let url = str_at(object, &["url"]).filter(|u| !u.is_empty())?;
            (url_media_id(url), MediaSource::Url(url.to_owned()))
        }
    };
    let text = |key: &str| str_at(object, &[key]).map(str::to_owned);
    let media = Media {
        media_id: media_id.clone(),
        mime_type: text("mime_type"),
        caption: text("caption"),
        filename: text("filename"),
        sha256: str_at(object, &["sha256"]).and_then(sha256_hex),
    };
    Some((media, MediaRef { media_id, source }))
}

fn location(object: &Value) -> Option<MessageContent> {
    Some(MessageContent::Location {
        latitude: object.get("latitude").and_then(number)?,
        longitude: object.get("longitude").and_then(number)?,
        name: str_at(object, &["name"]).map(str::to_owned),
        address: str_at(object, &["address"]).map(str::to_owned),
    })
}

/// Coordinates are numbers, but tolerate them as strings (seen from some clients).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn shared_contact(card: &Value) -> SharedContact {
    let name = str_at(card, &["name", "formatted_name"])
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let first = str_at(card, &["name", "first_name"]).unwrap_or_default();
            let last = str_at(card, &["name", "last_name"]).unwrap_or_default();
            format!("{first} {last}").trim().to_owned()
        });
    let strings = |list: &str, key: &str| -> Vec<String> {
        card.get(list)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| str_at(item, &[key]))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    SharedContact {
        name,
        phones: strings("phones", "phone"),
        emails: strings("emails", "email"),
    }
}

/// `interactive {type: button_reply|list_reply, …}`; other kinds (flows) are unsupported.
fn interactive(object: &Value) -> Option<MessageContent> {
    let kind = str_at(object, &["type"])?;
    if kind != "button_reply" && kind != "list_reply" {
        return None;
    }
    let reply = object.get(kind)?;
    Some(MessageContent::InteractiveReply {
        id: reply.get("id").and_then(id_value)?,
        title: str_at(reply, &["title"]).unwrap_or_default().to_owned(),
        description: str_at(reply, &["description"]).map(str::to_owned),
    })
}

/// Click-to-WhatsApp: `referral {source_url, source_id, source_type, headline, …}`.
fn referral(referral: &Value) -> Referral {
    Referral {
        source: str_at(referral, &["source_type"])
            .unwrap_or("unknown")
            .to_owned(),
        reference: None,
        ad_id: referral.get("source_id").and_then(id_value),
        headline: str_at(referral, &["headline"]).map(str::to_owned),
        url: str_at(referral, &["source_url"]).map(str::to_owned),
    }
}

/// A status of one of our messages: `Ok(Err(_))` when it is a status we don't track.
fn status(change: &Change<'_>, status: &Value) -> Parsed<Result<Incoming, String>> {
    if !status.is_object() {
        return malformed("not an object");
    }
    let wamid = required_id(status, &["id"])?;
    let Some(name) = str_at(status, &["status"]) else {
        return malformed("`status` is missing or not a string");
    };
    let Some(recipient) = status
        .get("recipient_id")
        .and_then(id_value)
        .or_else(|| status.get("recipient_user_id").and_then(id_value))
    else {
        return malformed("`recipient_id` is missing or empty");
    };
    let occurred_at = occurred_at(status)?;
    let delivery = match name {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed {
            failure: failure(status),
        },
        other => return Ok(Err(format!("status `{}` is not tracked", clip(other)))),
    };
    let body = EventBody::MessageStatus {
        target: StatusTarget::Message {
            message_id: MessageId::new(wamid.as_str()),
        },
        status: delivery,
    };
    Ok(Ok(change.fact(
        &recipient,
        None,
        format!("status:{wamid}:{name}"),
        occurred_at,
        body,
        None,
    )))
}

/// `errors[0] {code, error_subcode?, message, error_data.details}` of a failed status.
fn failure(status: &Value) -> ventana_protocol::event::SendFailure {
    let error = status
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first());
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(int_value)
        .unwrap_or(0);
    let subcode = error
        .and_then(|e| e.get("error_subcode"))
        .and_then(int_value);
    let message = error.and_then(|e| {
        str_at(e, &["error_data", "details"])
            .or_else(|| str_at(e, &["message"]))
            .or_else(|| str_at(e, &["title"]))
    });
    meta_error::failure_from_meta(code, subcode, message)
}

fn preferences_change(entry: &Entry<'_>, index: usize, value: &Value, out: &mut Normalized) {
    let Some(change) = change(entry, index, value, out) else {
        return;
    };
    for (item, preference) in list(&change, value, "user_preferences", out)
        .iter()
        .enumerate()
    {
        match self::preference(&change, preference) {
            Ok(Ok(fact)) => out.events.push(fact),
            Ok(Err(unhandled)) => entry.ignore(
                out,
                format!("whatsapp changes[{index}].value.user_preferences[{item}]: {unhandled}"),
            ),
            Err(Malformed(reason)) => change.skip(out, "user_preferences", item, &reason),
        }
    }
}

/// `{wa_id, category: marketing_messages, value: stop|resume, timestamp}`.
fn preference(change: &Change<'_>, preference: &Value) -> Parsed<Result<Incoming, String>> {
    if !preference.is_object() {
        return malformed("not an object");
    }
    let Some(contact) = preference
        .get("wa_id")
        .and_then(id_value)
        .or_else(|| preference.get("user_id").and_then(id_value))
    else {
        return malformed("`wa_id` is missing or empty");
    };
    let Some(category) = str_at(preference, &["category"]) else {
        return malformed("`category` is missing or not a string");
    };
    let Some(choice) = str_at(preference, &["value"]) else {
        return malformed("`value` is missing or not a string");
    };
    let occurred_at = occurred_at(preference)?;
    let body = match (category, choice) {
        ("marketing_messages", "stop") => EventBody::ContactOptedOut {
            source: ConsentSource::Platform,
        },
        ("marketing_messages", "resume") => EventBody::ContactOptedIn {
            source: ConsentSource::Platform,
        },
        _ => {
            return Ok(Err(format!(
                "preference `{}` = `{}` is not handled",
                clip(category),
                clip(choice)
            )));
        }
    };
    let key = format!(
        "pref:{}:{contact}:{category}:{choice}:{}",
        change.phone_number_id,
        occurred_at.timestamp()
    );
    let name = change.contact_name(&contact);
    Ok(Ok(change.fact(
        &contact,
        name,
        key,
        occurred_at,
        body,
        None,
    )))
}
