//! Delivering webhooks to a relay as Meta does: `POST {base}/webhooks/meta/{app_id}` with
//! the exact body bytes, `Content-Type: application/json` and `X-Hub-Signature-256` over
//! those bytes; and Meta's verification handshake (`GET ?hub.mode=subscribe&…`). Also the
//! requests Meta never sends (unsigned, mis-signed, arbitrary bytes) that a relay must
//! refuse.
//!
//! Meta's retry schedule is not simulated; [`Poster::redeliver`] sends the same bytes again,
//! which is what a retry looks like to the relay.

use crate::signing;
use crate::webhook::Webhook;
use reqwest::header::CONTENT_TYPE;
use std::fmt;
use std::time::Duration;

/// The header Meta signs bodies in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// How long Meta waits for an answer before giving up on a delivery (the Messenger FAQ's
/// 20 seconds, reference §4).
pub const META_TIMEOUT: Duration = Duration::from_secs(20);

/// The relay's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("{url:?} cannot be a webhook base URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{method} {url}: {source}")]
    Request {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Posts webhooks for one Meta app to one relay.
#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
    url: reqwest::Url,
    app_secret: Vec<u8>,
}

impl fmt::Debug for Poster {
    // The app secret stays out of logs and test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poster")
            .field("url", &self.url.as_str())
            .field("app_secret", &"<redacted>")
            .finish()
    }
}

impl Poster {
    /// A poster for the app `app_id` (a number or a string) with secret `app_secret`,
    /// delivering to the relay at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(
        base_url: &str,
        app_id: impl fmt::Display,
        app_secret: impl AsRef<[u8]>,
    ) -> Result<Self, PostError> {
        let bad = |reason: &str| PostError::BadUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut url = reqwest::Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("not http or https"));
        }
        url.set_query(None);
        url.set_fragment(None);
        let app_id = app_id.to_string();
        url.path_segments_mut()
            .map_err(|()| bad("it cannot have a path"))?
            .pop_if_empty()
            .extend(["webhooks", "meta", app_id.as_str()]);
        let client = reqwest::Client::builder()
            .timeout(META_TIMEOUT)
            .build()
            .map_err(PostError::Client)?;
        Ok(Poster {
            client,
            url,
            app_secret: app_secret.as_ref().to_vec(),
        })
    }

    /// `{base}/webhooks/meta/{app_id}`.
    pub fn webhook_url(&self) -> &str {
        self.url.as_str()
    }

    /// Delivers `webhook` as Meta does, signed with the app secret; returns the HTTP status.
    pub async fn post(&self, webhook: &Webhook) -> Result<u16, PostError> {
        self.post_bytes(&webhook.body).await
    }

    /// Delivers `webhook` again: the same bytes and signature, as a Meta retry would.
    pub async fn redeliver(&self, webhook: &Webhook) -> Result<u16, PostError> {
        self.post(webhook).await
    }

    /// Delivers any bytes, correctly signed (malformed JSON, an oversized body, …).
    pub async fn post_bytes(&self, body: &[u8]) -> Result<u16, PostError> {
        let signature = signing::signature_header(&self.app_secret, body);
        Ok(self.send(body, Some(&signature)).await?.status)
    }

    /// Delivers `webhook` with no signature header at all.
    pub async fn post_unsigned(&self, webhook: &Webhook) -> Result<u16, PostError> {
        Ok(self.send(&webhook.body, None).await?.status)
    }

    /// Delivers `webhook` with `header` as its `X-Hub-Signature-256` (a wrong one, say).
    pub async fn post_with_signature(
        &self,
        webhook: &Webhook,
        header: &str,
    ) -> Result<u16, PostError> {
        Ok(self.send(&webhook.body, Some(header)).await?.status)
    }

    /// POSTs `body` with `signature` (or none) and returns the relay's whole answer.
    pub async fn send(&self, body: &[u8], signature: Option<&str>) -> Result<Reply, PostError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let failed = |source| PostError::Request {
            method: "POST",
            url: self.url.to_string(),
            source,
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(failed)?;
        Ok(Reply { status, body })
    }

    /// Meta's verification handshake:
    /// `GET {url}?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…` (in the order the
    /// reference shows). Returns the status and the body, which a relay that accepts the
    /// token must make exactly the challenge.
    pub async fn verify_handshake(
        &self,
        verify_token: &str,
        challenge: &str,
    ) -> Result<(u16, String), PostError> {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("hub.mode", "subscribe")
            .append_pair("hub.challenge", challenge)
            .append_pair("hub.verify_token", verify_token);
        let failed = |source| PostError::Request {
            method: "GET",
            url: self.url.to_string(),
            source,
        };
        let response = self.client.get(url).send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(failed)?;
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_webhook_url_from_any_base() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://h/relay?x=1#f",
        ] {
            let poster = Poster::new(base, 1_111_111_111_111_111u64, "s").unwrap();
            assert!(
                poster
                    .webhook_url()
                    .ends_with("/webhooks/meta/1111111111111111"),
                "{}",
                poster.webhook_url()
            );
        }
        let poster = Poster::new("http://h/relay/", "app/1", "s").unwrap();
        assert_eq!(poster.webhook_url(), "http://h/relay/webhooks/meta/app%2F1");
    }

    #[test]
    fn refuses_unusable_bases_and_keeps_the_secret_out_of_debug() {
        assert!(matches!(
            Poster::new("not a url", 1, "s"),
            Err(PostError::BadUrl { .. })
        ));
        assert!(matches!(
            Poster::new("mailto:a@b.c", 1, "s"),
            Err(PostError::BadUrl { .. })
        ));
        let poster = Poster::new("http://h", 1, "very secret").unwrap();
        assert!(!format!("{poster:?}").contains("very secret"));
    }
}
