//! Meta's Data Deletion Request Callback (reference §6a): the `signed_request` form
//! field, verified and decoded, and the status page a person reads afterwards.
//!
//! `signed_request` is `base64url(HMAC-SHA256(app secret, payload part)) "." base64url(JSON)`.
//! Whether Meta pads the base64 is not settled, so both parts decode with or without `=`;
//! the HMAC is computed over the payload part exactly as received. The payload's
//! `expires` is about a login token, not this request: it is not checked.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// base64url that accepts input with or without padding.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A verified request: whose data to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRequest {
    /// An app-scoped id, or a page-scoped one (PSID); matched against contacts' ids.
    pub user_id: String,
    pub issued_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request must be `<signature>.<payload>`")]
    Shape,
    #[error("signed_request is not base64url")]
    Encoding,
    #[error("signed_request's payload is not the JSON Meta sends: {0}")]
    Payload(String),
    #[error("signed_request uses algorithm {0:?}; only HMAC-SHA256 is accepted")]
    Algorithm(String),
    #[error("signed_request's signature does not match the app secret")]
    Signature,
}

#[derive(Debug, Deserialize)]
struct Payload {
    algorithm: Option<String>,
    user_id: Option<serde_json::Value>,
    issued_at: Option<i64>,
}

/// Verifies `signed_request` with `app_secret` and returns whom it is about.
pub fn verify(
    app_secret: &[u8],
    signed_request: &str,
) -> Result<DeletionRequest, SignedRequestError> {
    let (signature, payload_part) = signed_request
        .trim()
        .split_once('.')
        .ok_or(SignedRequestError::Shape)?;
    if signature.is_empty() || payload_part.is_empty() || payload_part.contains('.') {
        return Err(SignedRequestError::Shape);
    }
    let signature = URL_SAFE_ANY_PADDING
        .decode(signature)
        .map_err(|_| SignedRequestError::Encoding)?;
    let payload_bytes = URL_SAFE_ANY_PADDING
        .decode(payload_part)
        .map_err(|_| SignedRequestError::Encoding)?;
    // The signature is checked before the payload is trusted, but the algorithm it names
    // decides how to check it: read just enough first.
    let payload: Payload = serde_json::from_slice(&payload_bytes)
        .map_err(|e| SignedRequestError::Payload(e.to_string()))?;
    match payload.algorithm.as_deref() {
        Some(algorithm) if algorithm.eq_ignore_ascii_case("HMAC-SHA256") => {}
        Some(other) => return Err(SignedRequestError::Algorithm(other.to_owned())),
        None => return Err(SignedRequestError::Algorithm(String::new())),
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret)
        .map_err(|_| SignedRequestError::Signature)?;
    mac.update(payload_part.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| SignedRequestError::Signature)?;
    let user_id = match payload.user_id {
        Some(serde_json::Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
        Some(serde_json::Value::Number(id)) => id.to_string(),
        _ => return Err(SignedRequestError::Payload("no user_id".into())),
    };
    Ok(DeletionRequest {
        user_id,
        issued_at: payload.issued_at,
    })
}

/// A fresh confirmation code: 20 alphanumeric characters (Meta asks for alphanumeric).
pub fn confirmation_code() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes)?;
    // base32 without padding would do too; hex of 10 bytes is 20 chars of [0-9a-f].
    Ok(hex::encode(&bytes[..10]).to_uppercase())
}

/// What a request found and did, for its status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// One line per channel kind where records were found and erased.
    pub erased: Vec<ErasedOn>,
    /// Webhook bodies the relay had set aside (quarantined) that named the person.
    #[serde(default)]
    pub quarantined_removed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErasedOn {
    pub channel_kind: String,
    pub receipt: String,
    pub events_redacted: u64,
}

/// The human-readable status page (reference §6a: "a human-readable explanation of the
/// status of their request").
pub fn status_page(code: &str, received_at: &str, outcome: &Outcome) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let set_aside = match outcome.quarantined_removed {
        0 => String::new(),
        n => format!(
            "<p>{n} message(s) we had received for you but could not deliver to any inbox \
             were deleted too.</p>"
        ),
    };
    let body = if outcome.erased.is_empty() && outcome.quarantined_removed == 0 {
        "<p>We looked for messages and profile data linked to your account in every \
         inbox connected to this app and found none. We hold no data about you through \
         this app, so there was nothing to delete.</p>"
            .to_owned()
    } else {
        let items: String = outcome
            .erased
            .iter()
            .map(|e| {
                format!(
                    "<li>{}: your messages, attachments, notes and profile were deleted \
                     ({} records replaced by tombstones). Receipt <code>{}</code>.</li>",
                    escape(&e.channel_kind),
                    e.events_redacted,
                    escape(&e.receipt)
                )
            })
            .collect();
        format!(
            "<p>Your request is <strong>complete</strong>. We found and deleted:</p><ul>{items}</ul>\
             {set_aside}\
             <p>Copies held by the support team's desktop apps are deleted when each app next connects.</p>"
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Data deletion request {code}</title></head><body>\
         <h1>Data deletion request</h1>\
         <p>Confirmation code: <code>{code}</code><br>Received: {received}</p>{body}</body></html>",
        code = escape(code),
        received = escape(received_at),
    )
}

/// For tests and tools: signs `payload` as Meta does (no padding).
pub fn sign(app_secret: &[u8], payload: &serde_json::Value) -> String {
    let payload_part = general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(payload_part.as_bytes());
    let signature = general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signature}.{payload_part}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> (String, String) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/meta/test_vectors.json"
        ))
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            json["app_secret"].as_str().unwrap().to_owned(),
            json["data_deletion_signed_request"]["value"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    #[test]
    fn the_test_vector_verifies() {
        let (secret, signed) = vector();
        let request = verify(secret.as_bytes(), &signed).unwrap();
        assert_eq!(request.user_id, "218471000000001");
        assert_eq!(request.issued_at, Some(1760000000));
    }

    #[test]
    fn padding_is_tolerated_on_both_parts() {
        let (secret, signed) = vector();
        let (signature, payload) = signed.split_once('.').unwrap();
        let pad = |part: &str| format!("{part}{}", "=".repeat((4 - part.len() % 4) % 4));
        let padded = format!("{}.{}", pad(signature), payload);
        assert!(verify(secret.as_bytes(), &padded).is_ok());
    }

    #[test]
    fn tampering_and_wrong_secrets_are_refused() {
        let (secret, signed) = vector();
        let (signature, payload) = signed.split_once('.').unwrap();
        // Another user id under the same signature.
        let forged_payload = general_purpose::URL_SAFE_NO_PAD.encode(
            r#"{"algorithm":"HMAC-SHA256","issued_at":1760000000,"user_id":"218471000000002"}"#,
        );
        assert_eq!(
            verify(secret.as_bytes(), &format!("{signature}.{forged_payload}")),
            Err(SignedRequestError::Signature)
        );
        assert_eq!(
            verify(b"another secret", &signed),
            Err(SignedRequestError::Signature)
        );
        let mut flipped = signature.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify(secret.as_bytes(), &format!("{flipped}.{payload}")),
            Err(SignedRequestError::Signature)
        );
    }

    #[test]
    fn other_algorithms_and_malformed_requests_are_refused() {
        let secret = b"s3cret";
        let other = sign(
            secret,
            &serde_json::json!({"algorithm": "HMAC-SHA1", "user_id": "1"}),
        );
        assert_eq!(
            verify(secret, &other),
            Err(SignedRequestError::Algorithm("HMAC-SHA1".into()))
        );
        let none = sign(
            secret,
            &serde_json::json!({"algorithm": "none", "user_id": "1"}),
        );
        assert!(matches!(
            verify(secret, &none),
            Err(SignedRequestError::Algorithm(_))
        ));
        let no_user = sign(secret, &serde_json::json!({"algorithm": "HMAC-SHA256"}));
        assert!(matches!(
            verify(secret, &no_user),
            Err(SignedRequestError::Payload(_))
        ));
        for bad in [
            "",
            "abc",
            ".",
            "a.",
            ".b",
            "a.b.c",
            "!!!.???",
            "YQ.bm90IGpzb24",
        ] {
            assert!(verify(secret, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_status_page_says_what_was_found_and_escapes() {
        let none = status_page(
            "ABC123",
            "2026-11-23T10:00:00Z",
            &Outcome {
                erased: vec![],
                quarantined_removed: 0,
            },
        );
        assert!(none.contains("found none"));
        let set_aside = status_page(
            "ABC123",
            "2026-11-23T10:00:00Z",
            &Outcome {
                erased: vec![],
                quarantined_removed: 2,
            },
        );
        assert!(set_aside.contains("complete") && set_aside.contains("2 message(s)"));
        let some = status_page(
            "ABC123",
            "2026-11-23T10:00:00Z",
            &Outcome {
                erased: vec![ErasedOn {
                    channel_kind: "messenger<script>".into(),
                    receipt: "r1".into(),
                    events_redacted: 4,
                }],
                quarantined_removed: 0,
            },
        );
        assert!(some.contains("complete") && some.contains("r1") && some.contains("4 records"));
        assert!(!some.contains("<script>"));
    }
}
