//! The poster against a recording HTTP server on 127.0.0.1: what arrives (method, path,
//! headers, bytes) must be exactly what Meta would send.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ventana_metasim::{Generator, Platform, PostError, Poster, Universe, Webhook};

const SECRET: &str = "fake_app_secret_0123456789abcdef";
const APP_ID: u64 = 1_111_111_111_111_111;
const VERIFY_TOKEN: &str = "let me in";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A relay stand-in: records everything; answers the handshake when the token matches;
/// answers POSTs 200 when signed with SECRET (checked here with hmac, independently of
/// metasim's signing module), 401 when unsigned, 403 when mis-signed.
async fn handle(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    recorder.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    if method == Method::GET {
        return if query.get("hub.mode").map(String::as_str) == Some("subscribe")
            && query.get("hub.verify_token").map(String::as_str) == Some(VERIFY_TOKEN)
        {
            (
                StatusCode::OK,
                query.get("hub.challenge").cloned().unwrap_or_default(),
            )
        } else {
            (StatusCode::FORBIDDEN, "bad token".to_owned())
        };
    }
    let Some(header) = headers.get("x-hub-signature-256") else {
        return (StatusCode::UNAUTHORIZED, "unsigned".to_owned());
    };
    let tag = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    if mac.verify_slice(&tag).is_ok() {
        (StatusCode::OK, "EVENT_RECEIVED".to_owned())
    } else {
        (StatusCode::FORBIDDEN, "bad signature".to_owned())
    }
}

async fn start() -> (String, Recorder) {
    let recorder = Recorder::default();
    let app = Router::new().fallback(handle).with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), recorder)
}

fn webhook(platform: Platform) -> Webhook {
    Generator::new(Universe::demo(1), 1)
        .next_webhook(platform, 25)
        .unwrap()
}

#[tokio::test]
async fn posts_the_exact_bytes_signed_like_meta() {
    let (base, recorder) = start().await;
    let poster = Poster::new(&base, APP_ID, SECRET).unwrap();
    for platform in Platform::ALL {
        let webhook = webhook(platform);
        assert_eq!(poster.post(&webhook).await.unwrap(), 200);
        let seen = recorder.seen().pop().unwrap();
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.path, "/webhooks/meta/1111111111111111");
        assert_eq!(seen.query, None);
        assert_eq!(seen.body, webhook.body, "the bytes arrive untouched");
        assert_eq!(seen.headers["content-type"], "application/json");
        assert_eq!(
            seen.headers["x-hub-signature-256"],
            ventana_metasim::signing::signature_header(SECRET.as_bytes(), &webhook.body).as_str()
        );
        assert_eq!(
            seen.headers["content-length"],
            webhook.body.len().to_string().as_str()
        );
    }
}

#[tokio::test]
async fn a_redelivery_is_the_same_bytes_and_signature_again() {
    let (base, recorder) = start().await;
    let poster = Poster::new(&base, APP_ID, SECRET).unwrap();
    let webhook = webhook(Platform::WhatsApp);
    assert_eq!(poster.post(&webhook).await.unwrap(), 200);
    assert_eq!(poster.redeliver(&webhook).await.unwrap(), 200);
    let seen = recorder.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(
        seen[0].headers["x-hub-signature-256"],
        seen[1].headers["x-hub-signature-256"]
    );
}

#[tokio::test]
async fn unsigned_and_mis_signed_requests_go_out_as_asked() {
    let (base, recorder) = start().await;
    let poster = Poster::new(&base, APP_ID, SECRET).unwrap();
    let webhook = webhook(Platform::Messenger);

    assert_eq!(poster.post_unsigned(&webhook).await.unwrap(), 401);
    let seen = recorder.seen().pop().unwrap();
    assert!(seen.headers.get("x-hub-signature-256").is_none());
    assert_eq!(seen.body, webhook.body);

    let wrong = ventana_metasim::signing::signature_header(b"another secret", &webhook.body);
    assert_eq!(
        poster.post_with_signature(&webhook, &wrong).await.unwrap(),
        403
    );
    let seen = recorder.seen().pop().unwrap();
    assert_eq!(seen.headers["x-hub-signature-256"], wrong.as_str());

    let sha1 = "sha1=0000000000000000000000000000000000000000";
    assert_eq!(
        poster.post_with_signature(&webhook, sha1).await.unwrap(),
        403
    );

    // Any bytes, correctly signed: the relay must judge the content, not the signature.
    let reply = poster.send(b"{not json", None).await.unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(poster.post_bytes(b"{not json").await.unwrap(), 200);
    assert_eq!(recorder.seen().pop().unwrap().body, b"{not json");
    let reply = poster
        .send(
            &webhook.body,
            Some(&webhook.signature_header(SECRET.as_bytes())),
        )
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "EVENT_RECEIVED"));
}

#[tokio::test]
async fn the_handshake_is_meta_s_get() {
    let (base, recorder) = start().await;
    let poster = Poster::new(&format!("{base}/"), APP_ID, SECRET).unwrap();
    assert_eq!(
        poster
            .verify_handshake(VERIFY_TOKEN, "1158201444")
            .await
            .unwrap(),
        (200, "1158201444".to_owned())
    );
    let seen = recorder.seen().pop().unwrap();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, "/webhooks/meta/1111111111111111");
    assert_eq!(
        seen.query.as_deref(),
        Some("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=let+me+in")
    );
    assert!(seen.body.is_empty());

    // The challenge is echoed verbatim, whatever it holds (reference §1: a string).
    let odd = "abc&def=ghi ñ";
    assert_eq!(
        poster.verify_handshake(VERIFY_TOKEN, odd).await.unwrap(),
        (200, odd.to_owned())
    );
    assert_eq!(poster.verify_handshake("wrong", "1").await.unwrap().0, 403);
}

#[tokio::test]
async fn an_unreachable_relay_is_an_error_not_a_status() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let poster = Poster::new(&format!("http://{address}"), APP_ID, SECRET).unwrap();
    let error = poster
        .post(&webhook(Platform::Instagram))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PostError::Request { method: "POST", .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("/webhooks/meta/1111111111111111")
    );
}
