//! `GET /v1/media/{id}` end to end: the real relay binary fetches attachments it saw in
//! signed webhooks from metasim, which serves WhatsApp media behind the channel's token
//! (with URLs that expire) and Messenger attachment URLs from its CDN (slowly, when a test
//! needs downloads under way).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use ventana_metasim::graph::{GraphSim, Pace};

const PAGE_TOKEN: &str = "EAAG-page-token-for-media-tests";
const WA_TOKEN: &str = "EAAG-whatsapp-token-for-media-tests";
const WABA_ID: &str = "300000000000001";

struct World {
    _tmp: tempfile::TempDir,
    sim: GraphSim,
    _relay: RelayProcess,
    base: String,
    /// acme's admin.
    ana: String,
    /// globex's agent.
    gus: String,
}

async fn token_of(base: &str, email: &str) -> String {
    login(base, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn world() -> World {
    let (tmp, data_dir) = data_dir();
    set_up(&data_dir);
    set_tokens(
        &data_dir,
        &[(PAGE_ID, PAGE_TOKEN), (PHONE_NUMBER_ID, WA_TOKEN)],
    );
    let sim = graph_sim().await;
    sim.add_page(PAGE_ID, PAGE_TOKEN, true);
    sim.add_whatsapp(PHONE_NUMBER_ID, WABA_ID, WA_TOKEN);
    let url = sim.base_url();
    let relay = RelayProcess::start_with(
        &data_dir,
        &["--graph-url", &url, "--instagram-graph-url", &url],
    );
    let base = relay.base.clone();
    let ana = token_of(&base, "ana@acme.test").await;
    let gus = token_of(&base, "gus@globex.test").await;
    World {
        _tmp: tmp,
        sim,
        _relay: relay,
        base,
        ana,
        gus,
    }
}

/// What `GET /v1/media/{id}` answered.
struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Fetched {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

impl World {
    async fn fetch(&self, media_id: &str, token: Option<&str>) -> Fetched {
        let mut request = http().get(format!("{}/v1/media/{media_id}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        Fetched {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.unwrap().to_vec(),
        }
    }

    async fn events(&self) -> Vec<Value> {
        let (status, page) = get_json(&self.base, "/v1/events?limit=5000", &self.ana).await;
        assert_eq!(status, 200, "{page}");
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect()
    }

    /// The event of the message `message_id`, once the relay has it.
    async fn message(&self, message_id: &str) -> Value {
        self.events()
            .await
            .into_iter()
            .find(|e| e["message_id"] == message_id)
            .unwrap_or_else(|| panic!("no event for {message_id}"))
    }

    /// A customer's WhatsApp image with Meta media id `id`; returns the event.
    async fn whatsapp_image(&self, wamid: &str, id: &str) -> Value {
        let now = Utc::now().timestamp();
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": "Rosa"}, "wa_id": "15550004321"}],
                "messages": [{"from": "15550004321", "id": wamid, "timestamp": now.to_string(),
                    "type": "image", "image": {"id": id, "mime_type": "image/jpeg",
                    "sha256": "ZmFrZS1zaGEyNTYtYmFzZTY0LWRpZ2VzdA==", "caption": "the broken part"}}]}}]}]});
        assert_eq!(
            post_signed(&self.base, body.to_string().as_bytes()).await,
            200
        );
        self.message(wamid).await
    }

    /// A customer's Messenger attachment at `url`; returns the event.
    async fn messenger_attachment(&self, mid: &str, kind: &str, url: &str) -> Value {
        let now = Utc::now().timestamp_millis();
        let body = json!({"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [{
            "sender": {"id": "7000000000000077"}, "recipient": {"id": PAGE_ID}, "timestamp": now,
            "message": {"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]}}]}]});
        assert_eq!(
            post_signed(&self.base, body.to_string().as_bytes()).await,
            200
        );
        self.message(mid).await
    }
}

fn media_id(event: &Value) -> String {
    event["content"]["media_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no media in {event}"))
        .to_owned()
}

fn assert_error(fetched: &Fetched, status: u16, code: &str) {
    let body = fetched.json();
    assert_eq!(
        (fetched.status, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        fetched
            .header("content-type")
            .starts_with("application/json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_image_is_fetched_with_the_channels_token_and_served_exactly() {
    let world = world().await;
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let meta_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/jpeg", photo.clone());
    let event = world.whatsapp_image("wamid.MEDIA_1", &meta_id).await;
    let id = media_id(&event);
    assert_eq!(event["content"]["kind"], "image");

    let fetched = world.fetch(&id, Some(&world.ana)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.json());
    assert!(fetched.bytes == photo, "the exact bytes");
    assert_eq!(fetched.header("content-type"), "image/jpeg");
    assert_eq!(fetched.header("content-length"), photo.len().to_string());
    assert_eq!(fetched.header("cache-control"), "private, no-store");
    assert_eq!(fetched.header("x-content-type-options"), "nosniff");
    // Meta was asked like the reference says: the media id on the number, then its URL.
    let attempts = world.sim.attempts();
    let info = attempts
        .iter()
        .find(|a| a.path == format!("/v25.0/{meta_id}"))
        .expect("GET /{media_id}");
    assert_eq!((info.http_status, info.error), (200, None));
    assert!(
        attempts
            .iter()
            .any(|a| a.path == format!("/media-download/{meta_id}") && a.http_status == 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_attachment_url_is_fetched_without_a_token() {
    let world = world().await;
    let voice = b"OggS fake voice note".to_vec();
    let url = world
        .sim
        .add_cdn_file("v/t59.3654-21/voice_n.ogg", "audio/ogg", voice.clone());
    let event = world
        .messenger_attachment("m_media_voice", "audio", &url)
        .await;
    assert_eq!(event["content"]["kind"], "audio");
    let fetched = world.fetch(&media_id(&event), Some(&world.ana)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.json());
    assert_eq!(fetched.bytes, voice);
    assert_eq!(fetched.header("content-type"), "audio/ogg");
    assert_eq!(fetched.header("content-length"), voice.len().to_string());
    assert_eq!(fetched.header("cache-control"), "private, no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_the_tenants_own_and_needs_a_session() {
    let world = world().await;
    let meta_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/png", b"png".to_vec());
    let id = media_id(&world.whatsapp_image("wamid.MEDIA_2", &meta_id).await);
    assert_eq!(world.fetch(&id, Some(&world.ana)).await.status, 200);

    let calls = world.sim.attempts().len();
    assert_error(&world.fetch(&id, Some(&world.gus)).await, 404, "not_found");
    assert_error(&world.fetch(&id, None).await, 401, "unauthorized");
    assert_error(
        &world.fetch(&id, Some("not-a-session")).await,
        401,
        "invalid_token",
    );
    assert_error(
        &world.fetch("wa:999999999", Some(&world.ana)).await,
        404,
        "not_found",
    );
    assert_eq!(world.sim.attempts().len(), calls, "Meta was not asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_the_platform_no_longer_has_are_gone() {
    let world = world().await;
    world.sim.pause_clock();
    let url = world.sim.add_cdn_file_expiring(
        "v/t1.15752-9/photo_n.jpg",
        "image/jpeg",
        b"jpeg".to_vec(),
        TimeDelta::hours(1),
    );
    let photo = media_id(
        &world
            .messenger_attachment("m_media_photo", "image", &url)
            .await,
    );
    let meta_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/jpeg", b"jpeg".to_vec());
    let image = media_id(&world.whatsapp_image("wamid.MEDIA_3", &meta_id).await);
    assert_eq!(world.fetch(&photo, Some(&world.ana)).await.status, 200);
    assert_eq!(world.fetch(&image, Some(&world.ana)).await.status, 200);

    // Meta's CDN URL expired (403 "URL signature expired").
    world.sim.advance(TimeDelta::hours(2));
    let fetched = world.fetch(&photo, Some(&world.ana)).await;
    assert_error(&fetched, 410, "gone");
    assert_eq!(
        fetched.json()["message"],
        "the platform no longer has this file"
    );
    // Meta forgets a webhook's media id after 7 days (100/33).
    world.sim.advance(TimeDelta::days(7));
    assert_error(&world.fetch(&image, Some(&world.ana)).await, 410, "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_contacts_media_is_not_found() {
    let world = world().await;
    let meta_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/jpeg", b"face".to_vec());
    let event = world.whatsapp_image("wamid.MEDIA_4", &meta_id).await;
    let id = media_id(&event);
    assert_eq!(world.fetch(&id, Some(&world.ana)).await.status, 200);
    let contact = event["contact"].as_str().unwrap();
    let response = http()
        .post(format!("{}/v1/contacts/{contact}/erase", world.base))
        .bearer_auth(&world.ana)
        .json(&json!({"confirm": "ERASE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["media_removed"], 1, "{receipt}");
    assert_error(&world.fetch(&id, Some(&world.ana)).await, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_marks_the_channel_for_reconnection() {
    let world = world().await;
    let meta_id = world
        .sim
        .add_media(PHONE_NUMBER_ID, "image/jpeg", b"jpeg".to_vec());
    let id = media_id(&world.whatsapp_image("wamid.MEDIA_5", &meta_id).await);
    world.sim.revoke_token(PHONE_NUMBER_ID);
    let fetched = world.fetch(&id, Some(&world.ana)).await;
    assert_error(&fetched, 409, "channel_needs_reconnection");
    assert!(
        !String::from_utf8_lossy(&fetched.bytes).contains(WA_TOKEN),
        "the token stays out of answers"
    );
    let (_, channels) = get_json(&world.base, "/v1/channels", &world.ana).await;
    let whatsapp = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "whatsapp")
        .unwrap();
    assert!(whatsapp["needs_reconnection"].is_string(), "{whatsapp}");
    assert!(world.events().await.iter().any(
        |e| e["type"] == "channel_updated" && e["connection"]["state"] == "needs_reconnection"
    ));
    // Known now: the relay does not ask Meta again with a token it knows is dead.
    let calls = world.sim.attempts().len();
    assert_error(
        &world.fetch(&id, Some(&world.ana)).await,
        409,
        "channel_needs_reconnection",
    );
    assert_eq!(world.sim.attempts().len(), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_over_100_mib_are_refused_before_they_are_read() {
    let world = world().await;
    let url = world.sim.add_cdn_file(
        "v/t42.3356-2/huge_n.mp4",
        "video/mp4",
        vec![0; 100 * 1024 * 1024 + 1],
    );
    let event = world
        .messenger_attachment("m_media_huge", "video", &url)
        .await;
    let fetched = world.fetch(&media_id(&event), Some(&world.ana)).await;
    assert_error(&fetched, 502, "too_large");
    assert!(
        fetched.json()["message"]
            .as_str()
            .unwrap()
            .contains("100 MiB")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_on_the_relays_own_network_are_not_fetched() {
    let world = world().await;
    let port = world.base.rsplit(':').next().unwrap();
    for (n, url) in [
        format!("http://127.0.0.1:{port}/healthz"),
        format!("http://localhost:{port}/healthz"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let event = world
            .messenger_attachment(&format!("m_media_private_{n}"), "file", url)
            .await;
        let fetched = world.fetch(&media_id(&event), Some(&world.ana)).await;
        assert_error(&fetched, 502, "unfetchable");
    }
}

/// The resident memory of process `pid`, in bytes (`VmRSS` in /proc/<pid>/status).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_16_attachments_are_fetched_at_once_and_the_next_is_told_to_come_back() {
    let world = world().await;
    // 1 MiB at 16 KiB every 50 ms: each download is under way for over 3 s.
    let file: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let url = world.sim.add_cdn_file_paced(
        "v/t42.1790-2/slow_n.mp4",
        "video/mp4",
        file.clone(),
        Pace {
            chunk: 16 * 1024,
            every: Duration::from_millis(50),
            length: true,
        },
    );
    let id = media_id(
        &world
            .messenger_attachment("m_media_slow", "video", &url)
            .await,
    );
    let fetch = || {
        http()
            .get(format!("{}/v1/media/{id}", world.base))
            .bearer_auth(&world.ana)
            .send()
    };
    let mut streaming = Vec::new();
    for n in 0..16 {
        let mut response = fetch().await.unwrap();
        assert_eq!(response.status(), 200, "fetch {n}");
        let first = response.chunk().await.unwrap().expect("a first piece");
        assert_eq!(&first[..], &file[..first.len()], "fetch {n} streams");
        streaming.push((response, first.len()));
    }
    let asked = Instant::now();
    let busy = world.fetch(&id, Some(&world.ana)).await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "answered at once, not queued: {:?}",
        asked.elapsed()
    );
    assert_error(&busy, 503, "busy");
    assert_eq!(busy.header("retry-after"), "1");

    // The 16 go on to their end, byte for byte.
    let (mut first, mut received) = streaming.remove(0);
    while let Some(piece) = first.chunk().await.unwrap() {
        assert_eq!(&piece[..], &file[received..received + piece.len()]);
        received += piece.len();
    }
    assert_eq!(received, file.len(), "the whole file, in order");
    // A finished download frees its place; so do clients that leave.
    drop(streaming);
    let mut status = 0;
    for _ in 0..100 {
        let response = fetch().await.unwrap();
        status = response.status().as_u16();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "places are given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_attachment_is_streamed_through_without_the_relay_holding_it() {
    let world = world().await;
    let pid = world._relay.child.id();
    let size = 50 * 1024 * 1024;
    let file: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    // With and without a `Content-Length` from the CDN.
    for (n, length) in [(0, true), (1, false)] {
        let url = world.sim.add_cdn_file_paced(
            &format!("v/t42.1790-2/big_{n}.mp4"),
            "video/mp4",
            file.clone(),
            Pace {
                chunk: 256 * 1024,
                every: Duration::from_millis(5),
                length,
            },
        );
        let id = media_id(
            &world
                .messenger_attachment(&format!("m_media_big_{n}"), "video", &url)
                .await,
        );
        let before = resident_bytes(pid);
        let request = http()
            .get(format!("{}/v1/media/{id}", world.base))
            .bearer_auth(&world.ana)
            .send();
        let expected = file.clone();
        let reading = tokio::spawn(async move {
            let mut response = request.await.unwrap();
            let status = response.status().as_u16();
            let announced = response.headers().get("content-length").cloned();
            let mut at = 0;
            while let Some(piece) = response.chunk().await.unwrap() {
                assert_eq!(&piece[..], &expected[at..at + piece.len()], "at {at}");
                at += piece.len();
            }
            (status, announced, at)
        });
        let mut peak = before;
        while !reading.is_finished() {
            peak = peak.max(resident_bytes(pid));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, announced, received) = reading.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(received, size, "every byte, in order");
        let grew = peak.saturating_sub(before);
        assert!(
            grew < 16 * 1024 * 1024,
            "the relay's memory grew by {} MiB while passing on a {} MiB file (Content-Length: {length})",
            grew / (1024 * 1024),
            size / (1024 * 1024)
        );
        assert_eq!(
            announced.map(|v| v.to_str().unwrap().to_owned()),
            length.then(|| size.to_string()),
            "the length is passed on when the CDN announced it"
        );
    }
}
