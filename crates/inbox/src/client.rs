//! The relay's REST API, as the desktop calls it. The relay answers errors as
//! `{code, message}`; they are kept as they are, so the UI can show the relay's words
//! (e.g. "The 24-hour window closed 6 h ago: send an approved template.").

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use ventana_protocol::api::{
    ChannelPatch, ChannelView, Draft, EraseRequest, ErasureReceipt, NoteRequest, Recorded,
    ReplyView, TemplateInfo, WorkflowChange,
};

/// How a call to the relay went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No answer: the relay is down, the network is, or the URL is wrong.
    #[error("the relay at {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// 401: the token is missing, expired or revoked (or the password is wrong). `code`
    /// says why a session ended (docs/accounts.md); `wipe_cache` is the tenant's demand
    /// that this desktop delete the account's cache (access removed or disabled).
    #[error("{message}")]
    Unauthorized {
        code: String,
        message: String,
        wipe_cache: bool,
    },
    /// Any other refusal, with the relay's code and sentence.
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The relay answered something this build does not understand.
    #[error("the relay's answer could not be read: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Protocol(_) => true,
            Self::Refused { status, .. } => *status == 429 || *status >= 500,
            Self::Unauthorized { .. } => false,
        }
    }

    /// The stable code the UI branches on.
    pub fn code(&self) -> &str {
        match self {
            Self::Unreachable { .. } => "relay_unreachable",
            Self::Unauthorized { code, .. } | Self::Refused { code, .. } => code,
            Self::Protocol(_) => "relay_protocol",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    pub email: String,
    /// `admin` or `agent`.
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
}

/// A signed-in session as the relay hands it out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub agent: AgentInfo,
    pub tenant: TenantInfo,
    /// A new agent or one whose password an admin reset: until they choose their own,
    /// the session reaches only `/v1/me`, `/v1/me/password` and sign-out.
    #[serde(default)]
    pub must_change_password: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("agent", &self.agent)
            .field("tenant", &self.tenant)
            .field("must_change_password", &self.must_change_password)
            .field("tokens", &"<redacted>")
            .finish()
    }
}

/// An attachment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// An export on its way from the relay.
#[derive(Debug)]
pub struct ExportDownload {
    response: reqwest::Response,
    client: RelayClient,
}

impl ExportDownload {
    /// The export's size, when the relay said it (it does: the zip is built first).
    pub fn total(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next bytes, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.response.chunk().await {
            Ok(chunk) => Ok(chunk.map(|bytes| bytes.to_vec())),
            Err(e) => Err(self.client.unreachable(&e)),
        }
    }
}

/// How long an export may take to arrive, the relay's fetching of attachments included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A client of one relay.
#[derive(Debug, Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    wipe_cache: bool,
}

/// How long a refresh may take before it counts as lost: short, so that a retry with the
/// same token lands within the relay's 60-second grace for the latest rotated token.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

impl RelayClient {
    /// A client for the relay at `base_url` (`http://…` or `https://…`).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| ClientError::Unreachable {
            url: base.clone(),
            detail: format!("not a URL ({e})"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::Unreachable {
                url: base,
                detail: "the relay URL must start with https:// (or http:// on a local network)"
                    .into(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Self { http, base })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The websocket URL of the stream, resuming after `after`.
    pub fn stream_url(&self, after: u64) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{ws}/v1/stream?after={after}")
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(e.to_string()));
        }
        Err(refusal(status, &bytes))
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        // reqwest's message can carry the URL but never a header, so no token leaks here.
        let detail = if error.is_timeout() {
            "it did not answer in time".to_owned()
        } else if error.is_connect() {
            "the connection was refused or timed out".to_owned()
        } else {
            error.to_string()
        };
        ClientError::Unreachable {
            url: self.base.clone(),
            detail,
        }
    }

    /// A call whose success has no body worth reading (`204 No Content`).
    pub(crate) async fn call_empty(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(), ClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Err(refusal(status, &bytes))
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<Session, ClientError> {
        let body = serde_json::json!({"email": email, "password": password, "tenant": tenant});
        self.call(self.http.post(self.url("/v1/auth/login")).json(&body))
            .await
    }

    /// Trades a refresh token for a new session (the refresh token rotates).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, ClientError> {
        let body = serde_json::json!({"refresh_token": refresh_token});
        self.call(
            self.http
                .post(self.url("/v1/auth/refresh"))
                .timeout(REFRESH_TIMEOUT)
                .json(&body),
        )
        .await
    }

    pub async fn logout(&self, access: &str) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .call(
                self.http
                    .post(self.url("/v1/auth/logout"))
                    .bearer_auth(access),
            )
            .await
            .or_else(|error| match error {
                // An empty 204 body is success too.
                ClientError::Protocol(_) => Ok(serde_json::Value::Null),
                other => Err(other),
            })?;
        Ok(())
    }

    /// The tenant log's head: how far a cold start has to catch up.
    pub async fn head(&self, access: &str) -> Result<u64, ClientError> {
        #[derive(Deserialize)]
        struct Page {
            head: u64,
        }
        let page: Page = self
            .call(
                self.http
                    .get(self.url("/v1/events"))
                    .query(&[("after", u64::MAX / 2), ("limit", 1)])
                    .bearer_auth(access),
            )
            .await?;
        Ok(page.head)
    }

    pub async fn channels(&self, access: &str) -> Result<Vec<ChannelView>, ClientError> {
        self.call(self.http.get(self.url("/v1/channels")).bearer_auth(access))
            .await
    }

    pub async fn templates(
        &self,
        access: &str,
        channel: &str,
    ) -> Result<Vec<TemplateInfo>, ClientError> {
        self.call(
            self.http
                .get(self.url(&format!("/v1/channels/{}/templates", encode(channel))))
                .bearer_auth(access),
        )
        .await
    }

    /// Hands a reply to the relay under its idempotency key; the same key may be sent
    /// any number of times and goes out at most once.
    pub async fn reply(
        &self,
        access: &str,
        conversation: &str,
        key: &str,
        draft: &Draft,
    ) -> Result<ReplyView, ClientError> {
        self.call(
            self.http
                .post(self.url(&format!(
                    "/v1/conversations/{}/replies",
                    encode(conversation)
                )))
                .header("Idempotency-Key", key)
                .bearer_auth(access)
                .json(draft),
        )
        .await
    }

    /// Changes status, assignee or labels (`PATCH /v1/conversations/{id}`).
    pub async fn update_conversation(
        &self,
        access: &str,
        conversation: &str,
        change: &WorkflowChange,
    ) -> Result<Recorded, ClientError> {
        self.call(
            self.http
                .patch(self.url(&format!("/v1/conversations/{}", encode(conversation))))
                .bearer_auth(access)
                .json(change),
        )
        .await
    }

    pub async fn add_note(
        &self,
        access: &str,
        conversation: &str,
        text: &str,
    ) -> Result<Recorded, ClientError> {
        self.call(
            self.http
                .post(self.url(&format!("/v1/conversations/{}/notes", encode(conversation))))
                .bearer_auth(access)
                .json(&NoteRequest {
                    text: text.to_owned(),
                }),
        )
        .await
    }

    /// Erases a contact everywhere; answers the relay's receipt.
    pub async fn erase_contact(
        &self,
        access: &str,
        contact: &str,
    ) -> Result<ErasureReceipt, ClientError> {
        self.call(
            self.http
                .post(self.url(&format!("/v1/contacts/{}/erase", encode(contact))))
                .bearer_auth(access)
                .json(&EraseRequest::confirmed()),
        )
        .await
    }

    pub async fn update_channel(
        &self,
        access: &str,
        channel: &str,
        change: &ChannelPatch,
    ) -> Result<ChannelView, ClientError> {
        self.call(
            self.http
                .patch(self.url(&format!("/v1/channels/{}", encode(channel))))
                .bearer_auth(access)
                .json(change),
        )
        .await
    }

    /// A contact's data export (a zip the relay builds, attachments included), to be
    /// read as it arrives. The relay fetches every attachment from Meta first, so this
    /// call may wait far longer than the client's usual minute.
    pub async fn export_contact(
        &self,
        access: &str,
        contact: &str,
    ) -> Result<ExportDownload, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/contacts/{}/export", encode(contact))))
            .bearer_auth(access)
            .timeout(EXPORT_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
            return Err(refusal(status, &bytes));
        }
        Ok(ExportDownload {
            response,
            client: self.clone(),
        })
    }

    /// An attachment's bytes, through the relay's tenant-scoped media endpoint.
    pub async fn media(&self, access: &str, media_id: &str) -> Result<Download, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/media/{}", encode(media_id))))
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
            return Err(refusal(status, &bytes));
        }
        let mime_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok(Download {
            mime_type,
            bytes: bytes.to_vec(),
        })
    }
}

/// The relay's `{code, message}` answer as an error (a 401 is its own kind: the caller
/// refreshes the session and tries once more).
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> ClientError {
    let (code, message, wipe_cache) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => (body.code, body.message, body.wipe_cache),
        Err(_) => (
            "relay_error".to_owned(),
            format!("the relay answered {status}"),
            false,
        ),
    };
    if status == reqwest::StatusCode::UNAUTHORIZED {
        ClientError::Unauthorized {
            code,
            message,
            wipe_cache,
        }
    } else {
        ClientError::Refused {
            status: status.as_u16(),
            code,
            message,
        }
    }
}

/// Ids are opaque to the desktop: keep them one path segment.
pub(crate) fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_url_must_be_http_or_https() {
        assert!(RelayClient::new("ftp://relay.example").is_err());
        assert!(RelayClient::new("not a url").is_err());
        let client = RelayClient::new("https://relay.example/ ");
        assert!(
            matches!(client, Ok(ref c) if c.stream_url(7) == "wss://relay.example/v1/stream?after=7")
        );
    }

    #[test]
    fn a_refusal_keeps_the_relays_code_and_the_demand_to_wipe() {
        let error = refusal(
            reqwest::StatusCode::UNAUTHORIZED,
            br#"{"code":"access_removed","message":"removed","wipe_cache":true}"#,
        );
        assert_eq!(
            error,
            ClientError::Unauthorized {
                code: "access_removed".into(),
                message: "removed".into(),
                wipe_cache: true
            }
        );
        let error = refusal(
            reqwest::StatusCode::UNAUTHORIZED,
            br#"{"code":"session_expired","message":"expired"}"#,
        );
        assert!(matches!(
            error,
            ClientError::Unauthorized {
                wipe_cache: false,
                ..
            }
        ));
        let error = refusal(reqwest::StatusCode::CONFLICT, b"<html>");
        assert_eq!(error.code(), "relay_error");
    }

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(encode("conv:a/b?c"), "conv:a%2Fb%3Fc");
    }
}
