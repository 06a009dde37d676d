//! Reading send requests: the Messenger/Instagram Send API body (reference §5a, §5b;
//! `fixtures/meta/messenger_send_human_agent_request.json`) and the WhatsApp Cloud API body
//! (§5c; `fixtures/meta/whatsapp_send_*_request.json`). Anything malformed is Meta's code
//! 100, never a panic. Exact `(#100)` sentences are metasim's and UNVERIFIED; the checks
//! are the ones the reference documents (required fields, enums, `+` in `to`) plus length
//! limits the reference reports as UNVERIFIED (Messenger 2000 characters, Instagram 1000
//! bytes).

use super::error::GraphError;
use super::policy::{KNOWN_TAGS, MessagingType};
use crate::universe::Platform;
use serde_json::{Map, Value};

/// Messenger's text limit, in characters (reference §5b, UNVERIFIED).
pub const MESSENGER_TEXT_CHARS: usize = 2000;
/// Instagram's text limit, in UTF-8 bytes (reference §5b, UNVERIFIED).
pub const INSTAGRAM_TEXT_BYTES: usize = 1000;
/// Messenger's `metadata` limit: 1000 characters (Send API reference; not in our
/// reference, UNVERIFIED).
pub const METADATA_CHARS: usize = 1000;
/// WhatsApp's text body limit: 4096 characters (UNVERIFIED, not in the reference).
pub const WHATSAPP_TEXT_CHARS: usize = 4096;
/// WhatsApp's `biz_opaque_callback_data` limit: 512 characters (UNVERIFIED, not in the
/// reference).
pub const BIZ_OPAQUE_CHARS: usize = 512;

/// What a Messenger or Instagram send carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagingContent {
    Text(String),
    /// `message.attachment` of type image, audio, video or file, by URL or by a saved
    /// `attachment_id`.
    Attachment {
        kind: &'static str,
        url: Option<String>,
        attachment_id: Option<String>,
    },
}

/// A parsed Messenger or Instagram Send API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingSend {
    /// `recipient.id`: the PSID or IGSID.
    pub recipient: String,
    /// As sent; `None` when left out (Instagram allows that: reference §5b's body has
    /// none).
    pub messaging_type: Option<MessagingType>,
    pub tag: Option<String>,
    pub content: MessagingContent,
    pub metadata: Option<String>,
    /// `reply_to.mid`: the message this one quotes. The Page Messages reference
    /// (https://developers.facebook.com/docs/graph-api/reference/page/messages) lists a
    /// top-level `reply_to` of type Object; its `mid` key mirrors the webhook's
    /// `reply_to.mid` (reference §3a, §3b) and is UNVERIFIED against the Send API page.
    pub reply_to: Option<String>,
}

impl MessagingSend {
    /// The type the window rules apply: what was sent, or `RESPONSE` when left out.
    pub fn effective_type(&self) -> MessagingType {
        self.messaging_type.unwrap_or(MessagingType::Response)
    }
}

/// What a WhatsApp send carries.
#[derive(Debug, Clone, PartialEq)]
pub enum WhatsAppContent {
    /// Anything but a template (text, media, interactive, reaction, location, contacts):
    /// allowed only inside the customer service window.
    FreeForm { kind: String, text: Option<String> },
    Template {
        name: String,
        language: String,
        components: Option<Value>,
    },
}

/// A parsed WhatsApp Cloud API send.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsAppSend {
    /// `to` as sent (echoed as `contacts[].input`).
    pub to: String,
    /// The user's `wa_id`: `to` without `+` and separators (or a BSUID as given).
    pub wa_id: String,
    pub content: WhatsAppContent,
    pub biz_opaque_callback_data: Option<String>,
    pub context_message_id: Option<String>,
}

/// Parses a JSON body into an object, or Meta's 100.
pub fn json_object(body: &[u8], platform: Platform) -> Result<Map<String, Value>, GraphError> {
    let invalid = |why: &str| match platform {
        Platform::WhatsApp => GraphError::whatsapp_invalid_parameter(why.to_owned()),
        Platform::Messenger | Platform::Instagram => GraphError::invalid_parameter(why),
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("The request body must be a JSON object.")),
        Err(_) => Err(invalid("The request body is not valid JSON.")),
    }
}

/// Reads a Messenger or Instagram Send API body. Messenger requires `messaging_type`
/// (Send API reference: "Required"; reference §5a lists the values); Instagram accepts a
/// body without it (reference §5b).
pub fn parse_messaging(
    platform: Platform,
    body: &Map<String, Value>,
) -> Result<MessagingSend, GraphError> {
    let bad = GraphError::invalid_parameter;
    let recipient = match body.get("recipient") {
        None | Some(Value::Null) => return Err(bad("The parameter recipient is required")),
        Some(Value::Object(recipient)) => match recipient.get("id") {
            Some(Value::String(id)) if is_graph_id(id) => id.clone(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => {
                return Err(bad(
                    "Param recipient[id] must be a valid ID string (e.g., \"123\")",
                ));
            }
            None => {
                return Err(bad(
                    "metasim supports only recipient.id (not user_ref, comment_id or post_id)",
                ));
            }
        },
        Some(_) => return Err(bad("Param recipient must be a JSON object")),
    };
    let messaging_type = match body.get("messaging_type") {
        None | Some(Value::Null) if platform == Platform::Messenger => {
            return Err(bad("The parameter messaging_type is required"));
        }
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(MessagingType::parse(value).ok_or_else(|| {
            bad("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        })?),
        Some(_) => {
            return Err(bad(
                "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}",
            ));
        }
    };
    let tag = match body.get("tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(tag)) if KNOWN_TAGS.contains(&tag.as_str()) => Some(tag.clone()),
        Some(_) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param tag must be one of {{{}}}",
                KNOWN_TAGS.join(", ")
            )));
        }
    };
    if messaging_type == Some(MessagingType::MessageTag) && tag.is_none() {
        return Err(bad(
            "The parameter tag is required when messaging_type is MESSAGE_TAG",
        ));
    }
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::String(metadata)) if metadata.chars().count() <= METADATA_CHARS => {
            Some(metadata.clone())
        }
        Some(Value::String(_)) => {
            return Err(GraphError::invalid_parameter(format!(
                "Length of param metadata must be less than or equal to {METADATA_CHARS}"
            )));
        }
        Some(_) => return Err(bad("Param metadata must be a string")),
    };
    let reply_to = match body.get("reply_to") {
        None | Some(Value::Null) => None,
        Some(Value::Object(reply_to)) => match reply_to.get("mid") {
            Some(Value::String(mid)) if !mid.trim().is_empty() => Some(mid.clone()),
            _ => return Err(bad("Param reply_to[mid] must be a non-empty string")),
        },
        Some(_) => return Err(bad("Param reply_to must be a JSON object")),
    };
    let message = match body.get("message") {
        Some(Value::Object(message)) => message,
        None | Some(Value::Null) => return Err(bad("The parameter message is required")),
        Some(_) => return Err(bad("Param message must be a JSON object")),
    };
    let content = parse_message(platform, message)?;
    Ok(MessagingSend {
        recipient,
        messaging_type,
        tag,
        content,
        metadata,
        reply_to,
    })
}

fn parse_message(
    platform: Platform,
    message: &Map<String, Value>,
) -> Result<MessagingContent, GraphError> {
    let bad = GraphError::invalid_parameter;
    let text = message.get("text").filter(|v| !v.is_null());
    let attachment = message.get("attachment").filter(|v| !v.is_null());
    match (text, attachment) {
        (Some(_), Some(_)) => Err(bad(
            "Only one of message[text] or message[attachment] may be set",
        )),
        (None, None) => Err(bad(
            "Message cannot be empty, must provide valid attachment or text",
        )),
        (Some(Value::String(text)), None) => {
            if text.trim().is_empty() {
                return Err(bad(
                    "Message cannot be empty, must provide valid attachment or text",
                ));
            }
            match platform {
                Platform::Instagram if text.len() > INSTAGRAM_TEXT_BYTES => {
                    Err(GraphError::invalid_parameter(format!(
                        "Length of param message[text] must be less than or equal to {INSTAGRAM_TEXT_BYTES} bytes"
                    )))
                }
                Platform::Messenger | Platform::WhatsApp
                    if text.chars().count() > MESSENGER_TEXT_CHARS =>
                {
                    Err(GraphError::invalid_parameter(format!(
                        "Length of param message[text] must be less than or equal to {MESSENGER_TEXT_CHARS}"
                    )))
                }
                _ => Ok(MessagingContent::Text(text.clone())),
            }
        }
        (Some(_), None) => Err(bad("Param message[text] must be a string")),
        (None, Some(Value::Object(attachment))) => {
            let kind = match attachment.get("type").and_then(Value::as_str) {
                Some("image") => "image",
                Some("audio") => "audio",
                Some("video") => "video",
                Some("file") => "file",
                _ => {
                    return Err(bad(
                        "Param message[attachment][type] must be one of {image, audio, video, file}",
                    ));
                }
            };
            let payload = match attachment.get("payload") {
                Some(Value::Object(payload)) => payload,
                _ => return Err(bad("Param message[attachment][payload] is required")),
            };
            let url = payload.get("url").and_then(Value::as_str);
            let attachment_id = match payload.get("attachment_id") {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if let Some(url) = url
                && !is_http_url(url)
            {
                return Err(bad(
                    "Param message[attachment][payload][url] must be a valid URL",
                ));
            }
            if url.is_none() && attachment_id.is_none() {
                return Err(bad(
                    "Param message[attachment][payload] must have a url or an attachment_id",
                ));
            }
            Ok(MessagingContent::Attachment {
                kind,
                url: url.map(str::to_owned),
                attachment_id,
            })
        }
        (None, Some(_)) => Err(bad("Param message[attachment] must be a JSON object")),
    }
}

/// Reads a WhatsApp Cloud API send body (reference §5c).
pub fn parse_whatsapp(body: &Map<String, Value>) -> Result<WhatsAppSend, GraphError> {
    let bad = |details: &str| GraphError::whatsapp_invalid_parameter(details.to_owned());
    match body.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        Some(_) => return Err(bad("Param messaging_product must be 'whatsapp'.")),
        None => return Err(bad("The parameter messaging_product is required.")),
    }
    match body.get("recipient_type").and_then(Value::as_str) {
        None | Some("individual") => {}
        Some("group") => return Err(bad("metasim does not simulate group messages.")),
        Some(_) => {
            return Err(bad(
                "Param recipient_type must be one of {individual, group}.",
            ));
        }
    }
    let to = match body.get("to") {
        Some(Value::String(to)) if !to.trim().is_empty() => to.clone(),
        _ => return Err(bad("The parameter to is required.")),
    };
    let wa_id = normalize_recipient(&to).ok_or_else(|| {
        bad("Param to must be a phone number in international format (+ and country code) or a business-scoped user id.")
    })?;
    let biz_opaque_callback_data = match body.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(data)) if data.chars().count() <= BIZ_OPAQUE_CHARS => Some(data.clone()),
        Some(Value::String(_)) => {
            return Err(bad(
                "Param biz_opaque_callback_data must be at most 512 characters long.",
            ));
        }
        Some(_) => return Err(bad("Param biz_opaque_callback_data must be a string.")),
    };
    let context_message_id = match body.get("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(context)) => match context.get("message_id") {
            Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
            _ => return Err(bad("Param context['message_id'] is required.")),
        },
        Some(_) => return Err(bad("Param context must be a JSON object.")),
    };
    // `type` defaults to text (Cloud API reference).
    let kind = match body.get("type") {
        None | Some(Value::Null) => "text".to_owned(),
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err(bad("Param type must be a string.")),
    };
    let object = |name: &str| -> Result<&Map<String, Value>, GraphError> {
        match body.get(name) {
            Some(Value::Object(object)) => Ok(object),
            _ => Err(GraphError::whatsapp_invalid_parameter(format!(
                "The parameter {name} is required."
            ))),
        }
    };
    let content = match kind.as_str() {
        "text" => {
            let text = object("text")?;
            let Some(body) = text.get("body").and_then(Value::as_str) else {
                return Err(bad("The parameter text['body'] is required."));
            };
            if body.trim().is_empty() {
                return Err(bad("Param text['body'] must not be empty."));
            }
            if body.chars().count() > WHATSAPP_TEXT_CHARS {
                return Err(bad(
                    "Param text['body'] must be at most 4096 characters long.",
                ));
            }
            WhatsAppContent::FreeForm {
                kind,
                text: Some(body.to_owned()),
            }
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            let media = object(&kind)?;
            let link = media.get("link").and_then(Value::as_str);
            let id = media.get("id").and_then(Value::as_str);
            match (link, id) {
                (Some(link), None) if is_http_url(link) => {}
                (None, Some(id)) if !id.is_empty() => {}
                (Some(_), Some(_)) => {
                    return Err(GraphError::whatsapp_invalid_parameter(format!(
                        "Param {kind} must have either id or link, not both."
                    )));
                }
                _ => {
                    return Err(GraphError::whatsapp_invalid_parameter(format!(
                        "Param {kind} must have a valid link or id."
                    )));
                }
            }
            let caption = media
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_owned);
            WhatsAppContent::FreeForm {
                kind,
                text: caption,
            }
        }
        "interactive" | "reaction" | "location" | "contacts" => {
            object(&kind)?;
            WhatsAppContent::FreeForm { kind, text: None }
        }
        "template" => {
            let template = object("template")?;
            let name = match template.get("name") {
                Some(Value::String(name)) if !name.is_empty() => name.clone(),
                _ => return Err(bad("The parameter template['name'] is required.")),
            };
            let language = match template.get("language") {
                Some(Value::Object(language)) => language,
                _ => return Err(bad("The parameter template['language'] is required.")),
            };
            let code = match language.get("code") {
                Some(Value::String(code)) if !code.is_empty() => code.clone(),
                _ => {
                    return Err(bad(
                        "The parameter template['language']['code'] is required.",
                    ));
                }
            };
            match language.get("policy") {
                None | Some(Value::Null) => {}
                Some(Value::String(policy)) if policy.eq_ignore_ascii_case("deterministic") => {}
                Some(_) => {
                    return Err(bad(
                        "The parameter template['language']['policy'] must be one of {DETERMINISTIC}.",
                    ));
                }
            }
            WhatsAppContent::Template {
                name,
                language: code,
                components: template.get("components").cloned(),
            }
        }
        other => {
            return Err(GraphError::whatsapp_invalid_parameter(format!(
                "Param type must be one of {{text, image, audio, video, document, sticker, interactive, reaction, location, contacts, template}}, got {other:?}."
            )));
        }
    };
    Ok(WhatsAppSend {
        to,
        wa_id,
        content,
        biz_opaque_callback_data,
        context_message_id,
    })
}

/// The `wa_id` a `to` addresses: the digits of a phone number (a leading `+`, spaces,
/// dashes, dots and parentheses dropped), or a business-scoped user id (`CC.<alnum>`,
/// reference §3c) as given. Meta prepends the business's country code to numbers sent
/// without `+` (reference §5c); metasim takes the digits as they are, so a relay that
/// forgets the `+` is not caught here but by its own tests of the request.
pub fn normalize_recipient(to: &str) -> Option<String> {
    let to = to.trim();
    if let Some((country, rest)) = to.split_once('.')
        && country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Some(to.to_owned());
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    if !digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return None;
    }
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    // E.164 numbers have at most 15 digits; the shortest real ones about 7.
    (7..=15).contains(&digits.len()).then_some(digits)
}

/// Graph ids are decimal digits.
fn is_graph_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_digit())
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn fixture(name: &str) -> Map<String, Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/meta")
            .join(name);
        let mut map = object(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap());
        map.remove("_comment");
        map
    }

    #[test]
    fn reads_the_fixture_requests() {
        let human = parse_messaging(
            Platform::Messenger,
            &fixture("messenger_send_human_agent_request.json"),
        )
        .unwrap();
        assert_eq!(human.recipient, "7000000000000001");
        assert_eq!(human.messaging_type, Some(MessagingType::MessageTag));
        assert_eq!(human.tag.as_deref(), Some("HUMAN_AGENT"));
        let text = parse_whatsapp(&fixture("whatsapp_send_text_request.json")).unwrap();
        assert_eq!(text.wa_id, "15550001234");
        assert_eq!(
            text.context_message_id.as_deref(),
            Some("wamid.FAKE_INBOUND_TEXT_0001")
        );
        let template = parse_whatsapp(&fixture("whatsapp_send_template_request.json")).unwrap();
        assert!(matches!(
            template.content,
            WhatsAppContent::Template { ref name, ref language, .. }
                if name == "support_followup_v1" && language == "en_US"
        ));
    }

    #[test]
    fn refuses_malformed_messaging_bodies_with_code_100() {
        let cases = [
            json!({}),
            json!({"recipient": "1", "messaging_type": "RESPONSE", "message": {"text": "x"}}),
            json!({"recipient": {"id": "abc"}, "messaging_type": "RESPONSE", "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "LATER", "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "MESSAGE_TAG", "tag": "NOPE", "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": " "}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": "x", "attachment": {}}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"attachment": {"type": "sticker", "payload": {"url": "https://a.invalid/x"}}}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"attachment": {"type": "image", "payload": {"url": "ftp://x"}}}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": "x".repeat(2001)}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "metadata": 5, "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "reply_to": "m_1", "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "reply_to": {}, "message": {"text": "x"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "reply_to": {"mid": ""}, "message": {"text": "x"}}),
        ];
        for case in cases {
            let error = parse_messaging(Platform::Messenger, &object(case.clone())).unwrap_err();
            assert_eq!(error.code, 100, "{case}");
            assert!(error.message.starts_with("(#100) "), "{}", error.message);
        }
    }

    #[test]
    fn reads_a_quoted_reply() {
        let body = object(
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE",
                                 "message": {"text": "sí"}, "reply_to": {"mid": "m_Q"}}),
        );
        let send = parse_messaging(Platform::Messenger, &body).unwrap();
        assert_eq!(send.reply_to.as_deref(), Some("m_Q"));
        let body = object(
            json!({"messaging_product": "whatsapp", "to": "+15550001234",
                                 "text": {"body": "sí"}, "context": {"message_id": "wamid.Q"}}),
        );
        let send = parse_whatsapp(&body).unwrap();
        assert_eq!(send.context_message_id.as_deref(), Some("wamid.Q"));
    }

    #[test]
    fn instagram_allows_no_messaging_type_and_counts_bytes() {
        let body = object(json!({"recipient": {"id": "1"}, "message": {"text": "hola"}}));
        let send = parse_messaging(Platform::Instagram, &body).unwrap();
        assert_eq!(send.effective_type(), MessagingType::Response);
        // 600 two-byte characters: under Messenger's 2000 characters, over IG's 1000 bytes.
        let long = object(json!({"recipient": {"id": "1"}, "message": {"text": "é".repeat(600)}}));
        assert_eq!(
            parse_messaging(Platform::Instagram, &long)
                .unwrap_err()
                .code,
            100
        );
    }

    #[test]
    fn refuses_malformed_whatsapp_bodies_with_details() {
        let cases = [
            json!({"to": "+15550001234", "type": "text", "text": {"body": "x"}}),
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            json!({"messaging_product": "whatsapp", "to": "call me", "text": {"body": "x"}}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "text"}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "text", "text": {"body": ""}}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "image", "image": {}}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "hologram"}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "template", "template": {"name": "x"}}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "type": "template", "template": {"name": "x", "language": {"code": "en_US", "policy": "fallback"}}}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "text": {"body": "x"}, "biz_opaque_callback_data": "x".repeat(513)}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "text": {"body": "x"}, "context": "wamid.Q"}),
            json!({"messaging_product": "whatsapp", "to": "+15550001234", "text": {"body": "x"}, "context": {"message_id": ""}}),
        ];
        for case in cases {
            let error = parse_whatsapp(&object(case.clone())).unwrap_err();
            assert_eq!(error.code, 100, "{case}");
            assert!(error.whatsapp_details.is_some(), "{case}");
        }
    }

    #[test]
    fn normalizes_recipients() {
        assert_eq!(
            normalize_recipient("+1 (555) 000-1234").as_deref(),
            Some("15550001234")
        );
        assert_eq!(
            normalize_recipient("15550001234").as_deref(),
            Some("15550001234")
        );
        assert_eq!(
            normalize_recipient("US.13491208655302741918").as_deref(),
            Some("US.13491208655302741918")
        );
        assert_eq!(normalize_recipient("+12"), None);
        assert_eq!(normalize_recipient("+1555abc"), None);
        assert!(json_object(b"[1]", Platform::WhatsApp).is_err());
        assert!(json_object(b"{", Platform::Messenger).is_err());
    }
}
