//! The Graph API client: the only code that calls Meta (reference §5 and §7).
//!
//! Request bodies are built by pure functions ([`send_body`]) so their shapes are tested
//! without a network; [`Graph`] adds the HTTP, the token, `appsecret_proof`, and the
//! reading of Meta's answers and error bodies.
//!
//! Attachments are fetched by a second client that goes only to public addresses
//! (`public_address.rs`): media URLs come from webhooks and from agents' replies, and must
//! not make the relay read its own network.

use crate::public_address::{self, NotPublic, fetchable};
use crate::store::Template;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;
use ventana_protocol::ChannelKind;
pub use ventana_protocol::api::AttachmentKind;
use ventana_protocol::api::Draft;
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
    /// How long downloading one attachment may take in all (up to [`MAX_MEDIA_BYTES`]);
    /// a download that stalls for 30 s ends sooner.
    pub download_timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            facebook_url: "https://graph.facebook.com".into(),
            instagram_url: "https://graph.instagram.com".into(),
            version: "v25.0".into(),
            timeout: Duration::from_secs(20),
            download_timeout: Duration::from_secs(600),
        }
    }
}

/// How Meta names an attachment's kind on WhatsApp.
fn whatsapp_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Audio => "audio",
        AttachmentKind::Video => "video",
        AttachmentKind::Document => "document",
    }
}

/// How Meta names an attachment's kind on Messenger and Instagram.
fn messenger_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Audio => "audio",
        AttachmentKind::Video => "video",
        AttachmentKind::Document => "file",
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
    /// What it carries: the draft as the agent asked for it.
    pub payload: Draft,
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
        Draft::Text { text, .. } => json!({ "text": text }),
        Draft::Attachment {
            attachment: kind,
            url,
            ..
        } => json!({
            "attachment": { "type": messenger_type(*kind), "payload": { "url": url, "is_reusable": false } }
        }),
        // Refused before this point: templates exist only on WhatsApp.
        Draft::Template { name, .. } => json!({ "text": name }),
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
    if let Some(mid) = outgoing.payload.reply_to() {
        // A quoted reply: the Send API's top-level `reply_to` (reference §5a).
        body["reply_to"] = json!({ "mid": mid });
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
        Draft::Text { text, .. } => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": text });
        }
        Draft::Attachment {
            attachment: kind,
            url,
            caption,
            filename,
            ..
        } => {
            let kind_name = whatsapp_type(*kind);
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
        Draft::Template {
            name,
            language,
            parameters: body_parameters,
            ..
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
    if let Some(wamid) = outgoing.payload.reply_to() {
        // A quoted reply (reference §5c).
        body["context"] = json!({ "message_id": wamid });
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

/// The Graph API, with one HTTP client for every call and one for attachments.
#[derive(Debug, Clone)]
pub struct Graph {
    http: reqwest::Client,
    /// Public addresses only, redirects checked, no total timeout of its own.
    media_http: reqwest::Client,
    config: GraphConfig,
    /// (host, port) of the configured Graph bases: reachable even when not public.
    exempt: Vec<(String, Option<u16>)>,
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
        let exempt: Vec<(String, Option<u16>)> = [&config.facebook_url, &config.instagram_url]
            .into_iter()
            .filter_map(|base| reqwest::Url::parse(base).ok())
            .filter_map(|url| {
                let host = url.host_str()?.to_ascii_lowercase();
                Some((host, url.port_or_known_default()))
            })
            .collect();
        let media_http = public_address::client(&exempt)?;
        Ok(Self {
            http,
            media_http,
            config,
            exempt,
        })
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

    /// `GET /{media_id}?phone_number_id=…`: where to download a WhatsApp media item
    /// (reference §3c). A media id Meta no longer knows (100/33: webhook media ids live 7
    /// days) is [`MediaError::Gone`].
    pub async fn media_info(
        &self,
        credentials: &Credentials,
        phone_number_id: &str,
        media_id: &str,
    ) -> Result<MediaInfo, MediaError> {
        let response = self
            .http
            .get(self.url(ChannelKind::WhatsApp, media_id))
            .bearer_auth(&credentials.token)
            .query(&[
                ("phone_number_id", phone_number_id.to_owned()),
                (
                    "appsecret_proof",
                    appsecret_proof(&credentials.app_secret, &credentials.token),
                ),
            ])
            .send()
            .await
            .map_err(|e| MediaError::Graph(transport_error(e.without_url())))?;
        let body = match read_json(response).await {
            Ok(body) => body,
            Err(GraphError::Meta {
                code: 100,
                subcode: Some(33),
                ..
            }) => return Err(MediaError::Gone("Meta no longer knows the media id".into())),
            Err(error) => return Err(MediaError::Graph(error)),
        };
        let url = body["url"].as_str().map(str::to_owned).ok_or_else(|| {
            MediaError::Graph(GraphError::NoAnswer(
                "Meta's answer has no media url".into(),
            ))
        })?;
        let file_size = match &body["file_size"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        Ok(MediaInfo {
            url,
            mime_type: body["mime_type"].as_str().map(str::to_owned),
            file_size,
        })
    }

    /// Downloads what `url` serves; with `credentials`, as WhatsApp media (its URL wants
    /// the channel's bearer token; Meta's error body with 190 comes back as
    /// [`GraphError::Meta`]), without them as a Messenger/Instagram attachment URL. A
    /// 404 or 410 (and, without a token, the 403 of an expired signed CDN URL) is
    /// [`MediaError::Gone`]. The body is read by the caller, through [`Download::chunk`].
    pub async fn download(
        &self,
        credentials: Option<&Credentials>,
        url: &str,
    ) -> Result<Download, MediaError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| MediaError::Refused("the attachment's address is not a URL".into()))?;
        fetchable(&url, &self.exempt).map_err(MediaError::Refused)?;
        let mut request = self
            .media_http
            .get(url)
            .timeout(self.config.download_timeout);
        if let Some(credentials) = credentials {
            request = request.bearer_auth(&credentials.token);
        }
        let response = request.send().await.map_err(|error| {
            // The resolver's refusal, under hyper's and reqwest's wrapping.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(current) = cause {
                if let Some(refused) = current.downcast_ref::<NotPublic>() {
                    return MediaError::Refused(refused.to_string());
                }
                cause = current.source();
            }
            MediaError::Graph(transport_error(error.without_url()))
        })?;
        let status = response.status();
        if status.is_success() {
            let header = |name: reqwest::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            return Ok(Download {
                content_type: header(reqwest::header::CONTENT_TYPE),
                length: response.content_length(),
                received: 0,
                response,
            });
        }
        let gone = match status.as_u16() {
            404 | 410 => true,
            403 => credentials.is_none(),
            _ => false,
        };
        // Meta's error body, if it sent one (a rejected token), says more than the status.
        let mut response = response;
        let mut body = Vec::new();
        while body.len() < 64 * 1024 {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(code) = error["error"]["code"].as_i64() {
            if code != 190 && gone {
                return Err(MediaError::Gone(format!("HTTP {status}")));
            }
            return Err(MediaError::Graph(GraphError::Meta {
                code,
                subcode: error["error"]["error_subcode"].as_i64(),
                message: error["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }));
        }
        if gone {
            return Err(MediaError::Gone(format!("HTTP {status}")));
        }
        Err(MediaError::Graph(GraphError::NoAnswer(format!(
            "the download answered HTTP {status}"
        ))))
    }
}

/// The most the relay fetches for one attachment: 100 MiB, WhatsApp's largest document.
pub const MAX_MEDIA_BYTES: u64 = 100 * 1024 * 1024;

/// What `GET /{media_id}` says about a WhatsApp media item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Short-lived; download it with the channel's token.
    pub url: String,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

/// Why an attachment could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The platform no longer has the file: an expired or deleted URL, a media id Meta
    /// has forgotten.
    #[error("the platform no longer has this file ({0})")]
    Gone(String),
    /// Larger than [`MAX_MEDIA_BYTES`].
    #[error("the file is larger than {MAX_MEDIA_BYTES} bytes")]
    TooLarge,
    /// An address the relay does not fetch from.
    #[error("{0}")]
    Refused(String),
    /// Meta answered with an error body, or could not be reached, or broke off.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// A download under way: its headers, and its body piece by piece.
#[derive(Debug)]
pub struct Download {
    /// The `Content-Type` the server sent.
    pub content_type: Option<String>,
    /// The `Content-Length` the server sent.
    pub length: Option<u64>,
    received: u64,
    response: reqwest::Response,
}

impl Download {
    /// The next piece of the body, `None` at its end. More than [`MAX_MEDIA_BYTES`] in all
    /// is [`MediaError::TooLarge`]; a body that ends short of its announced length, goes
    /// beyond it, or breaks off is [`GraphError::NoAnswer`].
    pub async fn chunk(&mut self) -> Result<Option<axum::body::Bytes>, MediaError> {
        match self.response.chunk().await {
            Ok(Some(chunk)) => {
                self.received = self.received.saturating_add(chunk.len() as u64);
                if self.received > MAX_MEDIA_BYTES {
                    return Err(MediaError::TooLarge);
                }
                if self.length.is_some_and(|length| self.received > length) {
                    return Err(MediaError::Graph(GraphError::NoAnswer(
                        "the download sent more than its announced length".into(),
                    )));
                }
                Ok(Some(chunk))
            }
            Ok(None) => match self.length {
                Some(length) if self.received < length => {
                    Err(MediaError::Graph(GraphError::NoAnswer(format!(
                        "the download ended after {} of {length} bytes",
                        self.received
                    ))))
                }
                _ => Ok(None),
            },
            Err(error) => Err(MediaError::Graph(GraphError::NoAnswer(
                error.without_url().to_string(),
            ))),
        }
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

    fn outgoing(kind: ChannelKind, payload: Draft, send_as: SendAs) -> Outgoing {
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
            Draft::text("hola"),
            SendAs::Standard,
        ));
        assert_eq!(standard["messaging_type"], "RESPONSE");
        assert!(standard.get("tag").is_none());
        assert_eq!(standard["metadata"], "ventana:k1");
        assert_eq!(standard["message"]["text"], "hola");
        let tagged = send_body(&outgoing(
            ChannelKind::Messenger,
            Draft::text("hola"),
            SendAs::HumanAgentTag,
        ));
        assert_eq!(tagged["messaging_type"], "MESSAGE_TAG");
        assert_eq!(tagged["tag"], "HUMAN_AGENT");
        let instagram = send_body(&outgoing(
            ChannelKind::Instagram,
            Draft::text("hi"),
            SendAs::HumanAgentTag,
        ));
        assert_eq!(instagram["tag"], "HUMAN_AGENT");
        assert!(instagram.get("metadata").is_none());
    }

    #[test]
    fn whatsapp_bodies_match_the_fixtures_shape() {
        let text = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Draft::text("hola"),
            SendAs::Standard,
        ));
        assert_eq!(text["to"], "+15551234567");
        assert_eq!(text["type"], "text");
        assert_eq!(text["text"]["body"], "hola");
        assert_eq!(text["biz_opaque_callback_data"], "ventana:k1");
        let template = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Draft::Template {
                name: "order_update".into(),
                language: "es".into(),
                parameters: vec!["Ana".into(), "#42".into()],
                reply_to: None,
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
            Draft::Attachment {
                attachment: AttachmentKind::Document,
                url: "https://example.com/a.pdf".into(),
                caption: Some("invoice".into()),
                filename: Some("a.pdf".into()),
                reply_to: None,
            },
            SendAs::Standard,
        ));
        assert_eq!(document["document"]["link"], "https://example.com/a.pdf");
        assert_eq!(document["document"]["filename"], "a.pdf");
    }

    #[test]
    fn quoted_replies_carry_each_platforms_field() {
        let quoting = |text: &str, id: &str| Draft::Text {
            text: text.into(),
            reply_to: Some(id.into()),
        };
        let whatsapp = send_body(&outgoing(
            ChannelKind::WhatsApp,
            quoting("sí", "wamid.Q1"),
            SendAs::Standard,
        ));
        assert_eq!(
            whatsapp,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+15551234567",
                "biz_opaque_callback_data": "ventana:k1",
                "type": "text",
                "text": { "preview_url": false, "body": "sí" },
                "context": { "message_id": "wamid.Q1" },
            })
        );
        let messenger = send_body(&outgoing(
            ChannelKind::Messenger,
            quoting("sí", "m_Q1"),
            SendAs::Standard,
        ));
        assert_eq!(
            messenger,
            json!({
                "recipient": { "id": "15551234567" },
                "messaging_type": "RESPONSE",
                "message": { "text": "sí" },
                "reply_to": { "mid": "m_Q1" },
                "metadata": "ventana:k1",
            })
        );
        let instagram = send_body(&outgoing(
            ChannelKind::Instagram,
            quoting("ok", "aWdfZAG1"),
            SendAs::HumanAgentTag,
        ));
        assert_eq!(
            instagram,
            json!({
                "recipient": { "id": "15551234567" },
                "messaging_type": "MESSAGE_TAG",
                "tag": "HUMAN_AGENT",
                "message": { "text": "ok" },
                "reply_to": { "mid": "aWdfZAG1" },
            })
        );
        // No quote, no field.
        let plain = send_body(&outgoing(
            ChannelKind::WhatsApp,
            Draft::text("x"),
            SendAs::Standard,
        ));
        assert!(plain.get("context").is_none());
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_of_the_token() {
        let proof = appsecret_proof(b"secret", "token");
        assert_eq!(proof.len(), 64);
        assert_ne!(proof, appsecret_proof(b"secret", "other"));
    }
}
