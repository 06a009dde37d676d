//! `X-Hub-Signature-256`: Meta signs each webhook body with the app secret.
//!
//! The HMAC-SHA256 is computed over the raw body bytes exactly as received: Meta escapes
//! non-ASCII as `\uXXXX`, so parsing and re-serialising the JSON first changes the digest.
//! The comparison is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header's name (HTTP header names are case-insensitive; under HTTP/2 it arrives
/// lower-cased).
pub const HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";

/// Why a webhook's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=` followed by 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body and the app secret")]
    Mismatch,
}

/// Checks `header` (the value of `X-Hub-Signature-256`, if any) against `body`.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest_hex = header
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed)?;
    if digest_hex.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let digest = hex::decode(digest_hex).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/meta")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    fn vectors() -> serde_json::Value {
        serde_json::from_slice(&fixture("test_vectors.json")).unwrap_or_default()
    }

    fn secret() -> String {
        vectors()["app_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn accepts_metas_signature_over_the_exact_bytes() {
        let body = fixture("instagram_reaction_seen_deleted.json");
        let header = vectors()["x_hub_signature_256"]["expected_header"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(verify(secret().as_bytes(), &body, Some(&header)), Ok(()));
        // Header values may arrive with surrounding whitespace.
        assert_eq!(
            verify(secret().as_bytes(), &body, Some(&format!(" {header} "))),
            Ok(())
        );
    }

    #[test]
    fn rejects_the_signature_of_a_reserialised_body() {
        let body = fixture("instagram_reaction_seen_deleted.json");
        let reserialised =
            vectors()["x_hub_signature_256"]["reserialized_body_signature_DIFFERENT"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        assert_eq!(
            verify(secret().as_bytes(), &body, Some(&reserialised)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_missing_malformed_and_wrong_signatures() {
        let body = fixture("instagram_reaction_seen_deleted.json");
        let good = vectors()["x_hub_signature_256"]["expected_header"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let secret = secret();
        let key = secret.as_bytes();
        assert_eq!(verify(key, &body, None), Err(SignatureError::Missing));
        assert_eq!(verify(key, &body, Some("")), Err(SignatureError::Malformed));
        assert_eq!(
            verify(key, &body, Some(&good[7..])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(key, &body, Some(&good.replace("sha256=", "sha1="))),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(key, &body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(key, &body, Some(&format!("sha256={}", "g".repeat(64)))),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"another secret", &body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert_eq!(
            verify(key, &tampered, Some(&good)),
            Err(SignatureError::Mismatch)
        );
    }
}
