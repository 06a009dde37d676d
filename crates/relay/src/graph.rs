//! The Graph API client: the only code that calls Meta (reference §5 and §7).
//!
//! Request bodies are built by pure functions ([`send_body`]) so their shapes are tested
//! without a network; [`Graph`] adds the HTTP, the token, `appsecret_proof`, and the
//! reading of Meta's answers and error bodies.

use crate::store::Template;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;
use ventana_protocol::ChannelKind;
use ventana_protocol::window::SendAs;

/// Where the Graph API lives and which version to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// `https://graph.facebook.com` (Messenger, WhatsApp, templates, media).
    pub facebook_url: String,
    /// `https://graph.instagram.com` (Instagram API with Instagram Login).
    pub instagram_url: String,
    /// Pinned per reference §7; v25.0 is what the send samples show.
    pub version: String,
    /// How long one call may take before its outcome is treated as unknown.
    pub timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            facebook_url: "https://graph.facebook.com".into(),
            instagram_url: "https://graph.instagram.com".into(),
            version: "v25.0".into(),
            timeout: Duration::from_secs(20),
        }
    }
}

/// What a reply carries, as Meta needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Text(String),
    /// `kind` is `image`, `audio`, `video` or `document` (Messenger calls the last `file`).
    Attachment {
        kind: AttachmentKind,
        url: String,
        caption: Option<String>,
        filename: Option<String>,
    },
    Template {
        name: String,
        language: String,
        body_parameters: Vec<String>,
    },
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Audio,
    Video,
    Document,
}

impl AttachmentKind {
    fn whatsapp_type(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
        }
    }

    fn messenger_type(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "file",
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub kind: ChannelKind,
    /// Page id, IG account id or WhatsApp phone number id.
    pub channel_external_id: String,
    /// PSID, IGSID or WhatsApp number (`wa_id`, digits).
    pub recipient: String,
    pub payload: Payload,
    pub send_as: SendAs,
    /// Echoed back by Meta (Messenger `metadata`, WhatsApp `biz_opaque_callback_data`),
    /// so an echo or a status can be matched to the reply that caused it.
    pub correlation: String,
}

/// The JSON body of a send (reference §5a–5c).
pub fn send_body(outgoing: &Outgoing) -> Value {
    match outgoing.kind {
        ChannelKind::Messenger | ChannelKind::Instagram => messaging_body(outgoing),
        ChannelKind::WhatsApp => whatsapp_body(outgoing),
    }
}

fn messaging_body(outgoing: &Outgoing) -> Value {
    let message = match &outgoing.payload {
        Payload::Text(text) => json!({ "text": text }),
        Payload::Attachment { kind, url, .. } => json!({
            "attachment": { "type": kind.messenger_type(), "payload": { "url": url, "is_reusable": false } }
        }),
        // Refused before this point: templates exist only on WhatsApp.
        Payload::Template { name, .. } => json!({ "text": name }),
    };
    let mut body = json!({
        "recipient": { "id": outgoing.recipient },
        "message": message,
    });
    match outgoing.send_as {
        SendAs::HumanAgentTag => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
        SendAs::Standard | SendAs::Template => body["messaging_type"] = json!("RESPONSE"),
    }
    if outgoing.kind == ChannelKind::Messenger {
        // Messenger echoes `metadata` in `message_echoes` (reference §5a, §5d).
        body["metadata"] = json!(outgoing.correlation);
    }
    body
}

fn whatsapp_body(outgoing: &Outgoing) -> Value {
    // Always `+` and the country code: without the `+` Meta prepends the business
    // number's own country code (reference §5c).
    let to = if outgoing.recipient.starts_with('+') {
        outgoing.recipient.clone()
    } else {
        format!("+{}", outgoing.recipient)
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "biz_opaque_callback_data": outgoing.correlation,
    });
    match &outgoing.payload {
        Payload::Text(text) => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": text });
        }
        Payload::Attachment {
            kind,
            url,
            caption,
            filename,
        } => {
            let kind_name = kind.whatsapp_type();
            let mut media = json!({ "link": url });
            if let Some(caption) = caption.as_ref().filter(|_| *kind != AttachmentKind::Audio) {
                media["caption"] = json!(caption);
            }
            if let (AttachmentKind::Document, Some(filename)) = (kind, filename) {
                media["filename"] = json!(filename);
            }
            body["type"] = json!(kind_name);
            body[kind_name] = media;
        }
        Payload::Template {
            name,
            language,
            body_parameters,
        } => {
            let mut template = json!({
                "name": name,
                "language": { "policy": "deterministic", "code": language },
            });
            if !body_parameters.is_empty() {
                let parameters: Vec<Value> = body_parameters
                    .iter()
                    .map(|text| json!({ "type": "text", "text": text }))
                    .collect();
                template["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = json!("template");
            body["template"] = template;
        }
    }
    body
}

/// How a call to Meta went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with an error body: nothing was sent.
    #[error("Meta error {code}{}: {message}", subcode.map(|s| format!("/{s}")).unwrap_or_default())]
    Meta {
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// No connection was made: nothing was sent.
    #[error("cannot reach Meta: {0}")]
    Unreachable(String),
    /// The request may have reached Meta but no usable answer came back.
    #[error("no usable answer from Meta: {0}")]
    NoAnswer(String),
}

/// The Graph API, with one HTTP client for every call.
#[derive(Debug, Clone)]
pub struct Graph {
    http: reqwest::Client,
    config: GraphConfig,
}

/// `appsecret_proof`: HMAC-SHA256 of the token with the app secret, hex (reference §7).
pub fn appsecret_proof(app_secret: &[u8], token: &str) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret) {
        Ok(mut mac) => {
            mac.update(token.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A channel's credentials for one call.
#[derive(Clone)]
pub struct Credentials {
    pub token: String,
    pub app_secret: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Graph {
    pub fn new(config: GraphConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { http, config })
    }

    fn url(&self, kind: ChannelKind, path: &str) -> String {
        let base = match kind {
            ChannelKind::Instagram => &self.config.instagram_url,
            ChannelKind::Messenger | ChannelKind::WhatsApp => &self.config.facebook_url,
        };
        format!(
            "{}/{}/{}",
            base.trim_end_matches('/'),
            self.config.version,
            path
        )
    }

    /// Sends one message; returns Meta's message id (`mid` or `wamid`).
    pub async fn send(
        &self,
        credentials: &Credentials,
        outgoing: &Outgoing,
    ) -> Result<String, GraphError> {
        let url = self.url(
            outgoing.kind,
            &format!("{}/messages", outgoing.channel_external_id),
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(&credentials.token)
            .query(&[(
                "appsecret_proof",
                appsecret_proof(&credentials.app_secret, &credentials.token),
            )])
            .json(&send_body(outgoing))
            .send()
            .await
            .map_err(transport_error)?;
        let body = read_json(response).await?;
        let id = match outgoing.kind {
            ChannelKind::WhatsApp => body["messages"][0]["id"].as_str(),
            ChannelKind::Messenger | ChannelKind::Instagram => body["message_id"].as_str(),
        };
        id.map(str::to_owned)
            .ok_or_else(|| GraphError::NoAnswer("Meta's answer has no message id".into()))
    }

    /// Every template of a WhatsApp Business Account, following Meta's paging.
    pub async fn templates(
        &self,
        credentials: &Credentials,
        waba_id: &str,
    ) -> Result<Vec<Template>, GraphError> {
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        // A WABA holds at most a few thousand templates; the bound stops a paging loop.
        for _ in 0..100 {
            let mut query = vec![
                (
                    "fields",
                    "id,name,language,status,category,components".to_owned(),
                ),
                ("limit", "100".to_owned()),
                (
                    "appsecret_proof",
                    appsecret_proof(&credentials.app_secret, &credentials.token),
                ),
            ];
            if let Some(cursor) = &after {
                query.push(("after", cursor.clone()));
            }
            let response = self
                .http
                .get(self.url(
                    ChannelKind::WhatsApp,
                    &format!("{waba_id}/message_templates"),
                ))
                .bearer_auth(&credentials.token)
                .query(&query)
                .send()
                .await
                .map_err(transport_error)?;
            let page = read_json(response).await?;
            for item in page["data"].as_array().into_iter().flatten() {
                let text = |key: &str| item[key].as_str().map(str::to_owned);
                let (Some(name), Some(language), Some(status), Some(category)) = (
                    text("name"),
                    text("language"),
                    text("status"),
                    text("category"),
                ) else {
                    tracing::warn!(%waba_id, "a template without name, language, status or category was skipped");
                    continue;
                };
                templates.push(Template {
                    name,
                    language,
                    category: category.to_uppercase(),
                    status: status.to_uppercase(),
                    meta_id: text("id"),
                    components: item["components"].clone(),
                });
            }
            after = page["paging"]["cursors"]["after"]
                .as_str()
                .filter(|_| page["paging"]["next"].is_string())
                .map(str::to_owned);
            if after.is_none() {
                return Ok(templates);
            }
        }
        Ok(templates)
    }
}

fn transport_error(error: reqwest::Error) -> GraphError {
    if error.is_connect() {
        GraphError::Unreachable(error.to_string())
    } else {
        GraphError::NoAnswer(error.to_string())
    }
}

/// Meta's answer as JSON, or its error body as [`GraphError::Meta`].
async fn read_json(response: reqwest::Response) -> Result<Value, GraphError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GraphError::NoAnswer(e.to_string()))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(code) = body["error"]["code"].as_i64() {
        return Err(GraphError::Meta {
            code,
            subcode: body["error"]["error_subcode"].as_i64(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        });
    }
    if status.is_success() && body.is_object() {
        return Ok(body);
    }
    if status.is_server_error() {
        // A 5xx without Meta's error body: Meta's own guidance is to retry (code 2).
        return Err(GraphError::Meta {
            code: 2,
            subcode: None,
            message: format!("HTTP {status} without an error body"),
        });
    }
    Err(GraphError::NoAnswer(format!(
        "HTTP {status} with a body that is not Meta's JSON"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(kind: ChannelKind, payload: Payload, send_as: SendAs) -> Outgoing {
        Outgoing {
            kind,
            channel_external_id: "111".into(),
            recipient: "15551234567".into(),
            payload,
            send_as,
            correlation: "ventana:k1".into(),
        }
    }

    #[test]
    fn messenger_replies_are_responses_or_tagged() {
        let standard = send_body(&outgoing(
            ChannelKind::Messenger,
            Payload::Text("hola".into()),
            SendAs::Standard,
        ));
        assert_eq!(standard["messaging_type"], "RESPONSE");
        assert!(standard.get("tag").is_none());
        assert_eq!(standard["metadata"], "ventana:k1");
        assert_eq!(standard["message"]["text"], "hola");
        let tagged = send_body(&outgoing(
            ChannelKind::Messenger,
            Payload::Text("hola".into()),
            SendAs::HumanAgentTag,
        ));
        assert_eq!(tagged["messaging_type"], "MESSAGE_TAG");
        assert_eq!(tagged["tag"], "HUMAN_AGENT");
        let instagram = send_body(&outgoing(
            ChannelKind::Instagram,
            Payload::Text("hi".into()),
            SendAs::HumanAgentTag,
        ));
        assert_eq!(instagram["tag"], "HUMAN_AGENT");
        assert!(instagram.get("metadata").is_none());
    }

    #[test]
    fn whatsapp_bodies_match_the_fixtures_shape() {
        let text = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Payload::Text("hola".into()),
            SendAs::Standard,
        ));
        assert_eq!(text["to"], "+15551234567");
        assert_eq!(text["type"], "text");
        assert_eq!(text["text"]["body"], "hola");
        assert_eq!(text["biz_opaque_callback_data"], "ventana:k1");
        let template = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Payload::Template {
                name: "order_update".into(),
                language: "es".into(),
                body_parameters: vec!["Ana".into(), "#42".into()],
            },
            SendAs::Template,
        ));
        assert_eq!(template["type"], "template");
        assert_eq!(template["template"]["language"]["policy"], "deterministic");
        assert_eq!(template["template"]["language"]["code"], "es");
        assert_eq!(
            template["template"]["components"][0]["parameters"][1]["text"],
            "#42"
        );
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/meta/whatsapp_send_template_request.json"
            ))
            .unwrap(),
        )
        .unwrap();
        for key in ["messaging_product", "to", "type", "template"] {
            assert!(
                fixture.get(key).is_some() && template.get(key).is_some(),
                "{key}"
            );
        }
        let document = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Payload::Attachment {
                kind: AttachmentKind::Document,
                url: "https://example.com/a.pdf".into(),
                caption: Some("invoice".into()),
                filename: Some("a.pdf".into()),
            },
            SendAs::Standard,
        ));
        assert_eq!(document["document"]["link"], "https://example.com/a.pdf");
        assert_eq!(document["document"]["filename"], "a.pdf");
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_of_the_token() {
        let proof = appsecret_proof(b"secret", "token");
        assert_eq!(proof.len(), 64);
        assert_ne!(proof, appsecret_proof(b"secret", "other"));
    }
}
