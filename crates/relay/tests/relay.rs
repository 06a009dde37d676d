//! The relay end to end: the real `ventana-relay` binary on port 0 with a temp data dir,
//! set up through its admin CLI, fed signed webhooks of all three platforms over HTTP,
//! followed by real websocket clients, and killed (SIGKILL) to prove that what it
//! acknowledged survives.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use ventana_metasim::signing::signature_header;

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_of_every_platform_reach_a_live_client_in_order_and_once() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let base = relay.base.clone();
    let session = login(&base, "ana@acme.test").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    assert_eq!(session["tenant"]["name"], "acme");
    assert_eq!(session["agent"]["role"], "admin");

    let mut socket = connect_stream(&base, &token, 0).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "live", "head": 0})
    );

    for name in FIXTURES {
        assert_eq!(post_signed(&base, &fixture(name)).await, 200, "{name}");
    }
    let committed = head(&base, &token).await;
    assert!(
        committed >= FIXTURES.len() as u64,
        "only {committed} events from {} bodies",
        FIXTURES.len()
    );
    let events = events_until(&mut socket, committed).await;
    assert_consecutive(&events, 1);
    let types: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|f| f["event"]["type"].as_str().unwrap())
        .collect();
    for expected in [
        "message_received",
        "message_status",
        "reaction",
        "message_unsent",
        "contact_opted_out",
    ] {
        assert!(types.contains(expected), "no {expected} among {types:?}");
    }
    for frame in &events {
        assert_eq!(frame["event"]["tenant"], session["tenant"]["id"]);
    }

    // Redeliveries (Meta retries, or several apps subscribed) are stored once.
    for name in FIXTURES {
        assert_eq!(
            post_signed(&base, &fixture(name)).await,
            200,
            "redelivered {name}"
        );
    }
    assert_eq!(
        head(&base, &token).await,
        committed,
        "a redelivery was stored twice"
    );

    // A new message after the replay arrives live, with the next sequence number.
    assert_eq!(
        post_signed(&base, &messenger_text("m_live_1", "¿Hay alguien? 🙋")).await,
        200
    );
    let live = next_frame(&mut socket).await;
    assert_eq!(live["seq"].as_u64(), Some(committed + 1));
    assert_eq!(live["event"]["content"]["body"], "¿Hay alguien? 🙋");

    // The admin CLI prints the same log as JSON lines with `seq` and `type`.
    let printed = cli_ok(&dir, &["log", "--tenant", "acme"], "");
    let lines: Vec<Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, committed + 1);
    assert_eq!(lines[0]["seq"], 1);
    assert!(lines.iter().all(|l| l["type"].is_string()));
    let after = cli_ok(
        &dir,
        &["log", "--tenant", "acme", "--after", &committed.to_string()],
        "",
    );
    assert_eq!(after.lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_kill_and_resume_exactly_once() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let token = login(&relay.base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut socket = connect_stream(&relay.base, &token, 0).await;
    assert_eq!(next_frame(&mut socket).await["type"], "live");

    // Acknowledge 30 messages; the client reads only some before the relay dies.
    let mut acknowledged = Vec::new();
    for i in 0..30 {
        let mid = format!("m_crash_{i}");
        assert_eq!(
            post_signed(&relay.base, &messenger_text(&mid, &format!("mensaje {i}"))).await,
            200
        );
        acknowledged.push(mid);
    }
    let seen_before = events_until(&mut socket, 10).await;
    relay.kill();

    let relay = RelayProcess::start(&dir);
    let token = login(&relay.base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_seen = seen_before.last().unwrap()["seq"].as_u64().unwrap();
    let mut socket = connect_stream(&relay.base, &token, last_seen).await;
    let seen_after = events_until(&mut socket, 30).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "live", "head": 30})
    );

    let all: Vec<Value> = seen_before.into_iter().chain(seen_after).collect();
    assert_consecutive(&all, 1);
    let mids: Vec<&str> = all
        .iter()
        .map(|f| f["event"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        mids,
        acknowledged.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_its_answer_and_changes_nothing() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let base = relay.base.clone();
    let token = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = messenger_text("m_bad_1", "hola");

    // The verify handshake.
    let verify = |token: &str, app: &str| {
        http().get(format!(
            "{base}/webhooks/meta/{app}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
    };
    let ok = verify(VERIFY_TOKEN, APP_ID).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(verify("wrong", APP_ID).send().await.unwrap().status(), 403);
    assert_eq!(
        verify(VERIFY_TOKEN, "999").send().await.unwrap().status(),
        403
    );
    assert_eq!(verify("", APP_ID).send().await.unwrap().status(), 403);

    // Unsigned, mis-signed, signed with another secret, unknown app, too large.
    assert_eq!(post_webhook(&base, &body, None).await, 401);
    assert_eq!(
        post_webhook(&base, &body, Some("sha256=00".into())).await,
        403
    );
    assert_eq!(
        post_webhook(
            &base,
            &body,
            Some(signature_header(b"not the secret", &body))
        )
        .await,
        403
    );
    let unknown_app = http()
        .post(format!("{base}/webhooks/meta/999"))
        .header(
            "X-Hub-Signature-256",
            signature_header(APP_SECRET.as_bytes(), &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_app.status(), 404);
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    assert_eq!(post_signed(&base, &huge).await, 413);

    // Signed but unusable: quarantined, answered 200 so Meta doesn't retry for days.
    assert_eq!(post_signed(&base, b"{not json").await, 200);
    assert_eq!(
        post_signed(&base, br#"{"object":"page","entry":"no"}"#).await,
        200
    );
    let stranger = String::from_utf8(messenger_text("m_bad_2", "hi"))
        .unwrap()
        .replace(PAGE_ID, "555");
    assert_eq!(post_signed(&base, stranger.as_bytes()).await, 200);
    let listed = cli_ok(&dir, &["quarantine", "list"], "");
    assert_eq!(listed.lines().count(), 3, "{listed}");
    // An operator's purge keeps what is younger than asked, and takes the rest.
    assert_eq!(
        cli_ok(&dir, &["quarantine", "purge", "--older-than-days", "1"], ""),
        "0"
    );
    assert_eq!(
        cli_ok(&dir, &["quarantine", "purge", "--older-than-days", "0"], ""),
        "3"
    );
    assert_eq!(cli_ok(&dir, &["quarantine", "list"], ""), "");

    assert_eq!(
        head(&base, &token).await,
        0,
        "a bad request changed the log"
    );
    let mut socket = connect_stream(&base, &token, 0).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "live", "head": 0})
    );

    // A large body (near Meta's 3 MB) is accepted whole: the limit must not truncate.
    let big_text = "á".repeat(500_000); // 3 MB once escaped as \u00e1
    let big = messenger_text("m_big", &big_text);
    assert!(big.len() > 3_000_000 && big.len() < 4 * 1024 * 1024);
    assert_eq!(post_signed(&base, &big).await, 200);
    let frame = next_frame(&mut socket).await;
    assert_eq!(
        frame["event"]["content"]["body"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(500_000)
    );

    // The API's own bad requests.
    let no_token = http().get(format!("{base}/v1/me")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let body: Value = no_token.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(get_json(&base, "/v1/me", "garbage").await.0, 401);
    let wrong_password = http()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "ana@acme.test", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_password.status(), 401);
    let unknown_user = http()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "nobody@acme.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status(), 401);
    let stream_without_token =
        tokio_tungstenite::connect_async(format!("{}/v1/stream", base.replacen("http", "ws", 1)))
            .await;
    assert!(
        stream_without_token.is_err(),
        "the stream opened without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_never_sees_another_tenants_data() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let base = relay.base.clone();
    let acme = login(&base, "ana@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex = login(&base, "gus@globex.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in FIXTURES {
        assert_eq!(post_signed(&base, &fixture(name)).await, 200);
    }
    let (_, page) = get_json(&base, "/v1/events", &acme).await;
    let conversation = page["entries"][0]["event"]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, found) =
        get_json(&base, &format!("/v1/conversations/{conversation}"), &acme).await;
    assert_eq!(status, 200);
    assert_eq!(found["id"], conversation.as_str());
    let (status, body) =
        get_json(&base, &format!("/v1/conversations/{conversation}"), &globex).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let (_, page) = get_json(&base, "/v1/events", &globex).await;
    assert_eq!(page["head"], 0);
    assert_eq!(page["entries"], json!([]));
    let mut socket = connect_stream(&base, &globex, 0).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "live", "head": 0})
    );
    // Live traffic for acme does not reach globex's stream either.
    assert_eq!(
        post_signed(&base, &messenger_text("m_private", "only for acme")).await,
        200
    );
    let quiet = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
    assert!(quiet.is_err(), "globex received {quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_refresh_rotate_and_end() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let base = relay.base.clone();
    let first = login(&base, "ana@acme.test").await;
    let refresh = |token: &str| {
        http()
            .post(format!("{base}/v1/auth/refresh"))
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let second: Value = refresh(first["refresh_token"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_access = second["access_token"].as_str().unwrap();
    assert_ne!(new_access, first["access_token"].as_str().unwrap());
    assert_eq!(get_json(&base, "/v1/me", new_access).await.0, 200);
    // The old pair stopped working.
    assert_eq!(
        get_json(&base, "/v1/me", first["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    // The replaced refresh token is still accepted for a short grace, and a reuse after
    // it revokes the session: tests/accounts.rs.

    let logout = http()
        .post(format!("{base}/v1/auth/logout"))
        .bearer_auth(new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(get_json(&base, "/v1/me", new_access).await.0, 401);
    assert_eq!(
        refresh(second["refresh_token"].as_str().unwrap())
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_secrets_are_sealed_at_rest() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let spec: Value = http()
        .get(format!("{}/openapi.json", relay.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/stream",
        "/v1/events",
        "/webhooks/meta/{app_id}",
        "/v1/conversations/{id}/replies",
        "/v1/conversations/{id}/replies/{key}",
        "/v1/conversations/{id}/window",
        "/v1/conversations/{id}/notes",
        "/v1/conversations/{id}/escalate",
        "/v1/channels",
        "/v1/channels/{id}",
        "/v1/channels/{id}/templates",
        "/v1/channels/{id}/templates/refresh",
        "/v1/contacts/{id}/erase",
        "/meta/data-deletion/{app_id}",
        "/meta/data-deletion/status/{code}",
        "/v1/media/{id}",
        "/v1/agents",
        "/v1/agents/{id}",
        "/v1/agents/{id}/password-reset",
        "/v1/agents/{id}/sessions",
        "/v1/agents/{id}/sessions/{session}",
        "/v1/me/password",
        "/v1/bot-keys",
        "/v1/bot-keys/{id}",
        "/v1/bot-keys/{id}/rotate",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(
        spec["paths"]["/v1/conversations/{id}"]["patch"].is_object(),
        "the workflow change is documented"
    );
    for (path, method) in [
        ("/v1/agents", "get"),
        ("/v1/agents", "post"),
        ("/v1/agents/{id}", "patch"),
        ("/v1/agents/{id}", "delete"),
        ("/v1/bot-keys", "post"),
        ("/v1/bot-keys/{id}", "delete"),
    ] {
        assert!(spec["paths"][path][method].is_object(), "{method} {path}");
    }
    drop(relay);

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("relay.db")
        {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    for secret in [APP_SECRET, VERIFY_TOKEN, PASSWORD] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret:?} is stored in plain text"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("relay.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Secrets are taken only from standard input.
    let in_args = cli(
        &dir,
        &[
            "meta-app",
            "add",
            "--app-id",
            "42",
            "--app-secret",
            "s3cret",
        ],
        "",
    );
    assert!(!in_args.status.success());
    let empty = cli(
        &dir,
        &["meta-app", "add", "--app-id", "42", "--app-secret-stdin"],
        "",
    );
    assert!(!empty.status.success());
    let short = cli(
        &dir,
        &[
            "agent",
            "add",
            "--tenant",
            "acme",
            "--email",
            "x@acme.test",
            "--role",
            "agent",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metasim_traffic_of_every_platform_is_stored_once_and_streamed_in_order() {
    use ventana_metasim::{Generator, Platform, Poster, Universe};
    let (_tmp, dir) = data_dir();
    let universe = Universe::demo(7);
    let app_id = set_up_universe(&dir, &universe, "agent");
    let relay = RelayProcess::start(&dir);
    let token = login(&relay.base, "d@demo.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let poster = Poster::new(&relay.base, &app_id, APP_SECRET).unwrap();
    let mut generator = Generator::new(universe, 11);
    let mut webhooks = Vec::new();
    for round in 0..20 {
        for platform in Platform::ALL {
            let webhook = generator.next_webhook(platform, 1 + round % 7).unwrap();
            assert_eq!(poster.post(&webhook).await.unwrap(), 200);
            webhooks.push(webhook);
        }
    }
    let committed = head(&relay.base, &token).await;
    let generated: usize = webhooks.iter().map(|w| w.event_count).sum();
    assert!(
        committed > 0 && committed as usize <= 2 * generated,
        "{committed} of {generated}"
    );

    // Meta redelivers: every body again, byte for byte. Nothing new is stored.
    for webhook in &webhooks {
        assert_eq!(poster.redeliver(webhook).await.unwrap(), 200);
    }
    assert_eq!(head(&relay.base, &token).await, committed);

    let mut socket = connect_stream(&relay.base, &token, 0).await;
    let events = events_until(&mut socket, committed).await;
    assert_consecutive(&events, 1);
    let platforms: std::collections::BTreeSet<String> = events
        .iter()
        .map(|f| {
            f["event"]["id"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(platforms.len() > 3, "too few kinds of event: {platforms:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_lock_that_email_out() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start(&dir);
    let attempt = |email: &'static str, password: &'static str| {
        http()
            .post(format!("{}/v1/auth/login", relay.base))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("ana@acme.test", "guess guess guess")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    // Even the right password is refused now, with a reason and no password check.
    let locked = attempt("ANA@acme.test", PASSWORD).await.unwrap();
    assert_eq!(locked.status(), 429);
    let body: Value = locked.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    // Other people are not affected.
    assert_eq!(
        attempt("gus@globex.test", PASSWORD).await.unwrap().status(),
        200
    );
}

/// A body quarantined because its channel was not connected yet is taken in by the relay
/// once the channel is, exactly once; a body this build cannot read stays quarantined,
/// and an operator's replay says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_body_is_taken_in_once_its_channel_is_connected() {
    let (_tmp, dir) = data_dir();
    set_up(&dir);
    let relay = RelayProcess::start_with(&dir, &["--sweep-seconds", "1"]);
    let base = relay.base.clone();
    let early = String::from_utf8(messenger_text(
        "m_before_connect",
        "are you open on Sunday?",
    ))
    .unwrap()
    .replace(PAGE_ID, "555000000000001");
    assert_eq!(post_signed(&base, early.as_bytes()).await, 200);
    assert_eq!(post_signed(&base, b"{not json").await, 200);
    let listed = cli_ok(&dir, &["quarantine", "list"], "");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // Not connected yet: the periodic pass leaves it where it is.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(!cli_ok(&dir, &["log", "--tenant", "acme"], "").contains("m_before_connect"));

    cli_ok(
        &dir,
        &[
            "channel",
            "add",
            "--tenant",
            "acme",
            "--kind",
            "messenger",
            "--external-id",
            "555000000000001",
            "--app-id",
            APP_ID,
        ],
        "",
    );
    let mut taken_in = false;
    for _ in 0..100 {
        if cli_ok(&dir, &["quarantine", "list"], "").lines().count() == 1 {
            taken_in = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        taken_in,
        "the connected channel's body is still quarantined"
    );
    // Meta retries the same delivery: still once in the log.
    assert_eq!(post_signed(&base, early.as_bytes()).await, 200);
    let log = cli_ok(&dir, &["log", "--tenant", "acme"], "");
    let events = log
        .lines()
        .filter(|l| l.contains("\"msg:m_before_connect\""));
    assert_eq!(events.count(), 1, "{log}");
    assert!(log.contains("are you open on Sunday?"));

    // The unreadable body stays; replaying it says why.
    let left: Value =
        serde_json::from_str(cli_ok(&dir, &["quarantine", "list"], "").trim()).unwrap();
    assert!(
        left["reason"].as_str().unwrap().starts_with("unreadable"),
        "{left}"
    );
    let id = left["id"].to_string();
    let replayed: Value =
        serde_json::from_str(cli_ok(&dir, &["quarantine", "replay", &id], "").trim()).unwrap();
    assert_eq!(replayed["replayed"]["outcome"], "unreadable", "{replayed}");
    let gone: Value =
        serde_json::from_str(cli_ok(&dir, &["quarantine", "replay", "999999"], "").trim()).unwrap();
    assert_eq!(gone["replayed"]["outcome"], "gone", "{gone}");
    assert_eq!(cli_ok(&dir, &["quarantine", "list"], "").lines().count(), 1);
    drop(relay);
}
