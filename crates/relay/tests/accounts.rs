//! Accounts an operator can trust, tested against the real binary: agents' lifecycle, sessions
//! that end (and take their open streams with them), refresh-token reuse, the abuse limits
//! of sign-in, and a resume cursor beyond the log's head.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = http().post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sign_in(base: &str, email: &str, password: &str) -> (u16, Value) {
    post(
        base,
        "/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(base: &str, token: &str) -> (u16, Value) {
    post(
        base,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

/// Adds an agent through the API and signs them in with a password of their own.
async fn new_agent(base: &str, admin: &str, email: &str, role: &str) -> (String, Value) {
    let (status, added) = post(
        base,
        "/v1/agents",
        Some(admin),
        json!({"email": email, "role": role}),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let temporary = added["temporary_password"].as_str().unwrap().to_owned();
    let (status, first) = sign_in(base, email, &temporary).await;
    assert_eq!(status, 200);
    assert_eq!(first["must_change_password"], true);
    let token = first["access_token"].as_str().unwrap();
    let (status, _) = post(
        base,
        "/v1/me/password",
        Some(token),
        json!({"current_password": temporary, "new_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 204);
    let id = added["agent"]["id"].as_str().unwrap().to_owned();
    (id, first)
}

/// Reads frames until the relay closes the socket: the last text frame and the close code.
async fn until_closed(socket: &mut Socket, within: Duration) -> (Option<Value>, Option<u16>) {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .unwrap_or_else(|_| {
                panic!("the stream was still open after {within:?}; last frame {last:?}")
            });
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] != "event"
                    && frame["type"] != "live"
                    && frame["type"] != "heartbeat"
                {
                    last = Some(frame);
                }
            }
            Some(Ok(Message::Close(close))) => return (last, close.map(|c| u16::from(c.code))),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return (last, None),
        }
    }
}

fn pid_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn an_open_stream_ends_within_a_second_of_logout_and_of_the_agents_removal() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let admin = login(&relay.base, "ana@acme.test").await;
    let admin_token = admin["access_token"].as_str().unwrap().to_owned();
    let (bo, _) = new_agent(&relay.base, &admin_token, "bo@acme.test", "agent").await;
    let bo_session = login(&relay.base, "bo@acme.test").await;
    let bo_token = bo_session["access_token"].as_str().unwrap();

    // Signing out ends the stream of that session.
    let second = login(&relay.base, "ana@acme.test").await;
    let second_token = second["access_token"].as_str().unwrap();
    let mut own = connect_stream(&relay.base, second_token, 0).await;
    assert_eq!(next_frame(&mut own).await["type"], "live");
    let (status, _) = post(
        &relay.base,
        "/v1/auth/logout",
        Some(second_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let (frame, code) = until_closed(&mut own, Duration::from_secs(1)).await;
    let frame = frame.expect("a signed_out frame");
    assert_eq!(frame["type"], "signed_out");
    assert_eq!(frame["reason"], "signed_out");
    assert_eq!(code, Some(4003));

    // Removing an agent ends theirs, saying so in words, with the tenant's cache policy.
    cli_ok(
        &data_dir,
        &[
            "tenant",
            "set-policy",
            "--tenant",
            "acme",
            "--wipe-cache-on-removal",
            "true",
        ],
        "",
    );
    let mut theirs = connect_stream(&relay.base, bo_token, 0).await;
    assert_eq!(next_frame(&mut theirs).await["type"], "live");
    let (status, _) = call(
        &relay.base,
        reqwest::Method::DELETE,
        &format!("/v1/agents/{bo}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (frame, code) = until_closed(&mut theirs, Duration::from_secs(1)).await;
    let frame = frame.expect("a signed_out frame");
    assert_eq!(frame["reason"], "access_removed");
    assert_eq!(
        frame["message"],
        "Your access to acme was removed by an admin."
    );
    assert_eq!(frame["wipe_cache"], true);
    assert_eq!(code, Some(4003));

    // And nothing of theirs works any more.
    let (status, _) = get_json(&relay.base, "/v1/events", bo_token).await;
    assert_eq!(status, 401);
    let (status, body) = refresh(&relay.base, bo_session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("access_removed"))
    );
    assert_eq!(body["wipe_cache"], true);
    assert_eq!(sign_in(&relay.base, "bo@acme.test", PASSWORD).await.0, 401);
    let (_, agents) = get_json(&relay.base, "/v1/agents", &admin_token).await;
    assert!(
        agents
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["email"] != "bo@acme.test"),
        "{agents}"
    );
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    for action in [
        "agent_added",
        "password_changed",
        "agent_removed",
        "tenant_policy",
    ] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action} not audited"
        );
    }
}

#[tokio::test]
async fn disabling_resetting_and_revoking_end_sessions_and_the_tenant_keeps_an_admin() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.as_str();
    let admin = login(base, "ana@acme.test").await;
    let admin_token = admin["access_token"].as_str().unwrap().to_owned();
    let admin_id = admin["agent"]["id"].as_str().unwrap().to_owned();
    let (bo, _) = new_agent(base, &admin_token, "bo@acme.test", "agent").await;

    // Agents manage nothing.
    let bo_session = login(base, "bo@acme.test").await;
    let bo_token = bo_session["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(base, "/v1/agents", &bo_token).await.0, 403);
    assert_eq!(
        post(base, "/v1/bot-keys", Some(&bo_token), json!({"name": "x"}))
            .await
            .0,
        403
    );

    // The last active admin can be neither demoted, disabled nor removed.
    for change in [json!({"role": "agent"}), json!({"status": "disabled"})] {
        let (status, body) = call(
            base,
            reqwest::Method::PATCH,
            &format!("/v1/agents/{admin_id}"),
            &admin_token,
            Some(change),
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (409, Some("last_admin")));
    }
    let (status, body) = call(
        base,
        reqwest::Method::DELETE,
        &format!("/v1/agents/{admin_id}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("last_admin")));

    // Disabling ends bo's session; bo cannot sign in until re-enabled.
    let mut stream = connect_stream(base, &bo_token, 0).await;
    assert_eq!(next_frame(&mut stream).await["type"], "live");
    let (status, changed) = call(
        base,
        reqwest::Method::PATCH,
        &format!("/v1/agents/{bo}"),
        &admin_token,
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(
        (status, changed["status"].as_str()),
        (200, Some("disabled"))
    );
    let (frame, code) = until_closed(&mut stream, Duration::from_secs(1)).await;
    assert_eq!(frame.unwrap()["reason"], "access_disabled");
    assert_eq!(code, Some(4003));
    let (status, body) = sign_in(base, "bo@acme.test", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("access_disabled"))
    );
    let (status, body) = refresh(base, bo_session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("access_disabled"))
    );
    assert!(body.get("wipe_cache").is_some(), "{body}");
    call(
        base,
        reqwest::Method::PATCH,
        &format!("/v1/agents/{bo}"),
        &admin_token,
        Some(json!({"status": "active", "role": "admin"})),
    )
    .await;

    // A reset: every session ends, and the new one reaches only the password change.
    let bo_session = login(base, "bo@acme.test").await;
    let (status, reset) = post(
        base,
        &format!("/v1/agents/{bo}/password-reset"),
        Some(&admin_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let temporary = reset["temporary_password"].as_str().unwrap();
    let (status, body) = refresh(base, bo_session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("password_changed"))
    );
    assert_eq!(sign_in(base, "bo@acme.test", PASSWORD).await.0, 401);
    let (status, limited) = sign_in(base, "bo@acme.test", temporary).await;
    assert_eq!(
        (status, limited["must_change_password"].as_bool()),
        (200, Some(true))
    );
    let limited_token = limited["access_token"].as_str().unwrap();
    let (status, body) = get_json(base, "/v1/events", limited_token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("password_change_required"))
    );
    assert_eq!(get_json(base, "/v1/me", limited_token).await.0, 200);
    let wrong =
        json!({"current_password": "not it at all", "new_password": "a brand new password"});
    let (status, body) = post(base, "/v1/me/password", Some(limited_token), wrong).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("wrong_password"))
    );
    let short = json!({"current_password": temporary, "new_password": "short"});
    assert_eq!(
        post(base, "/v1/me/password", Some(limited_token), short)
            .await
            .0,
        422
    );
    let good = json!({"current_password": temporary, "new_password": "a brand new password"});
    assert_eq!(
        post(base, "/v1/me/password", Some(limited_token), good)
            .await
            .0,
        204
    );
    assert_eq!(get_json(base, "/v1/events", limited_token).await.0, 200);

    // An admin lists bo's sessions and ends one.
    let other = sign_in(base, "bo@acme.test", "a brand new password")
        .await
        .1;
    let (status, sessions) =
        get_json(base, &format!("/v1/agents/{bo}/sessions"), &admin_token).await;
    assert_eq!(status, 200);
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");
    let target = sessions[0]["id"].as_str().unwrap();
    let (status, _) = call(
        base,
        reqwest::Method::DELETE,
        &format!("/v1/agents/{bo}/sessions/{target}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, sessions) = get_json(base, &format!("/v1/agents/{bo}/sessions"), &admin_token).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let revoked_refresh = if other["refresh_token"].as_str().unwrap().starts_with(target) {
        other["refresh_token"].as_str().unwrap().to_owned()
    } else {
        limited["refresh_token"].as_str().unwrap().to_owned()
    };
    let (status, body) = refresh(base, &revoked_refresh).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_revoked"))
    );
    // Another tenant's agent reaches none of it.
    let gus = login(base, "gus@globex.test").await;
    assert_eq!(
        get_json(
            base,
            &format!("/v1/agents/{bo}/sessions"),
            gus["access_token"].as_str().unwrap()
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn a_refresh_token_used_twice_revokes_its_session_and_a_lost_answer_is_forgiven() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start_with(&data_dir, &["--refresh-grace", "2s"]);
    let base = relay.base.as_str();
    let first = login(base, "ana@acme.test").await;
    let t0 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(base, &t0).await;
    assert_eq!(status, 200);
    // The answer to that refresh was lost: the desktop retries with the same token.
    let (status, third) = refresh(base, &t0).await;
    assert_eq!(status, 200, "a retry within the grace is answered: {third}");
    let t2 = third["refresh_token"].as_str().unwrap().to_owned();
    let mut stream = connect_stream(base, third["access_token"].as_str().unwrap(), 0).await;
    assert_eq!(next_frame(&mut stream).await["type"], "live");
    // The token of the lost answer comes back: someone else holds it.
    let (status, body) = refresh(base, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_reused"))
    );
    let (frame, code) = until_closed(&mut stream, Duration::from_secs(1)).await;
    assert_eq!(frame.unwrap()["reason"], "session_reused");
    assert_eq!(code, Some(4003));
    // The whole session is gone, the live token too.
    let (status, body) = refresh(base, &t2).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_reused"))
    );
    assert_eq!(
        get_json(base, "/v1/events", third["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    let audit = cli_ok(&data_dir, &["audit", "export", "--tenant", "acme"], "");
    assert!(
        audit.contains("\"action\":\"session_reuse_detected\""),
        "{audit}"
    );

    // After the grace, presenting the replaced token is a reuse too.
    let fresh = login(base, "ana@acme.test").await;
    let old = fresh["refresh_token"].as_str().unwrap().to_owned();
    let (status, newer) = refresh(base, &old).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(refresh(base, &old).await.1["code"], "session_reused");
    assert_eq!(
        refresh(base, newer["refresh_token"].as_str().unwrap())
            .await
            .1["code"],
        "session_reused"
    );
}

#[tokio::test]
async fn sessions_end_at_their_lifetime_whatever_the_refreshes_and_when_idle() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start_with(&data_dir, &["--session-lifetime", "3s"]);
    let base = relay.base.as_str();
    let session = login(base, "ana@acme.test").await;
    assert!(session["expires_in"].as_i64().unwrap() <= 3);
    let mut stream = connect_stream(base, session["access_token"].as_str().unwrap(), 0).await;
    assert_eq!(next_frame(&mut stream).await["type"], "live");
    let (status, refreshed) = refresh(base, session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        refreshed["session_expires_at"],
        session["session_expires_at"]
    );
    // The stream's access token expires with the session: the relay says so and closes.
    let (frame, code) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(frame.unwrap()["code"], "token_expired");
    assert_eq!(code, Some(4001));
    let (status, body) = refresh(base, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_expired"))
    );
    drop(relay);

    let relay = RelayProcess::start_with(&data_dir, &["--session-idle", "2s"]);
    let session = login(&relay.base, "ana@acme.test").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = refresh(&relay.base, session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_expired"))
    );
}

#[tokio::test]
async fn bot_keys_are_listed_rotated_and_revoked_by_admins() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.as_str();
    let admin = login(base, "ana@acme.test").await;
    let token = admin["access_token"].as_str().unwrap();
    let (status, issued) = post(
        base,
        "/v1/bot-keys",
        Some(token),
        json!({"name": "helpdesk"}),
    )
    .await;
    assert_eq!(status, 201);
    let (id, key) = (
        issued["id"].as_str().unwrap(),
        issued["key"].as_str().unwrap().to_owned(),
    );
    assert!(key.starts_with("vbot_"));
    // A bot key reaches the hand-off endpoint (404: no such conversation), a bad one does not.
    let escalate = |key: String| async move {
        post(
            base,
            "/v1/conversations/nope/escalate",
            Some(&key),
            json!({"note": "x"}),
        )
        .await
        .0
    };
    assert_eq!(escalate(key.clone()).await, 404);
    let (_, listed) = get_json(base, "/v1/bot-keys", token).await;
    assert_eq!(listed[0]["name"], "helpdesk");
    assert!(
        !listed.to_string().contains(&key),
        "the key itself is never listed"
    );
    let (status, rotated) = post(
        base,
        &format!("/v1/bot-keys/{id}/rotate"),
        Some(token),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(escalate(key).await, 401, "the old key stops at once");
    assert_eq!(escalate(new_key.clone()).await, 404);
    let (status, _) = call(
        base,
        reqwest::Method::DELETE,
        &format!("/v1/bot-keys/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(escalate(new_key).await, 401);
    let (_, listed) = get_json(base, "/v1/bot-keys", token).await;
    assert!(listed[0]["revoked_at"].is_string());
    let lines = cli_ok(&data_dir, &["bot-key", "list", "--tenant", "acme"], "");
    assert!(lines.contains("helpdesk"));
}

#[tokio::test]
async fn two_hundred_concurrent_guesses_get_no_more_than_five_password_checks() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let mut guesses = Vec::new();
    let (answered, mut first_answer) = tokio::sync::mpsc::channel::<()>(200);
    for n in 0..199 {
        let (base, answered) = (base.clone(), answered.clone());
        guesses.push(tokio::spawn(async move {
            let status = sign_in(&base, "ana@acme.test", &format!("wrong guess {n:04}"))
                .await
                .0;
            let _ = answered.send(()).await;
            status
        }));
    }
    // The right password, among them, once the first wrong ones are being answered (a
    // guesser does not control the order; what matters is that the guesses in flight
    // cannot all be checked).
    first_answer.recv().await;
    let right = {
        let base = base.clone();
        tokio::spawn(async move { sign_in(&base, "ana@acme.test", PASSWORD).await.0 })
    };
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let right = right.await.unwrap();
    statuses.push(right);
    assert!(
        !statuses.contains(&200),
        "a guess got through: {statuses:?}"
    );
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} passwords were checked");
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(right, 429);
    let locked = http()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "ana@acme.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn large_and_countless_sign_ins_do_not_grow_the_relays_memory() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    let base = relay.base.clone();
    let pid = relay.child.id();
    // Warm up: the password checks' memory is in the baseline.
    let warm: Vec<_> = (0..4)
        .map(|n| {
            let base = base.clone();
            tokio::spawn(async move {
                sign_in(&base, &format!("warm{n}@acme.test"), "wrong password").await
            })
        })
        .collect();
    for task in warm {
        task.await.unwrap();
    }
    let before = pid_rss_kib(pid);
    // 2,000 sign-ins with a 256 KiB email each (32 times the limit), 16 at a time.
    let big = "x".repeat(256 * 1024);
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for n in 0..2_000 {
        let (base, big, refused, gate) = (base.clone(), big.clone(), refused.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let body = json!({"email": format!("{n}{big}@acme.test"), "password": "x"});
            let sent = http()
                .post(format!("{base}/v1/auth/login"))
                .json(&body)
                .send()
                .await;
            // Refused as too large, or cut off while still sending: either way, refused.
            if sent.map(|r| r.status().as_u16() == 413).unwrap_or(true) {
                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 2_000);
    eprintln!(
        "relay VmRSS after the large sign-ins: {} KiB",
        pid_rss_kib(pid)
    );
    // And 2,000 different small emails from one address: the address is locked out after
    // 50, and no email is remembered beyond the table's size.
    let mut statuses = std::collections::BTreeMap::new();
    let numbers: Vec<u32> = (0..2_000).collect();
    for chunk in numbers.chunks(50) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&n| {
                let base = base.clone();
                tokio::spawn(async move {
                    sign_in(&base, &format!("flood{n}@acme.test"), "wrong password")
                        .await
                        .0
                })
            })
            .collect();
        for task in batch {
            *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
        }
    }
    assert!(
        statuses.get(&401).copied().unwrap_or(0) <= 50,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 1_900,
        "{statuses:?}"
    );
    let after = pid_rss_kib(pid);
    let grown = after.saturating_sub(before);
    eprintln!("relay VmRSS {before} KiB before, {after} KiB after ({grown} KiB grown)");
    assert!(grown < 32 * 1024, "the relay grew by {grown} KiB");
    // The email limit is a clear answer too, before any lookup.
    let long = format!("{}@acme.test", "a".repeat(400));
    let (status, body) = sign_in(&base, &long, "x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    // Meta's data-deletion callback takes a small form only.
    let response = http()
        .post(format!("{base}/meta/data-deletion/{APP_ID}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("signed_request={}", "a".repeat(64 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_cursor_beyond_the_logs_head_is_answered_with_a_resync_frame() {
    let (_dir, data_dir) = data_dir();
    set_up(&data_dir);
    let relay = RelayProcess::start(&data_dir);
    assert_eq!(
        post_signed(&relay.base, &messenger_text("m_resync_1", "hola")).await,
        200
    );
    let session = login(&relay.base, "ana@acme.test").await;
    let token = session["access_token"].as_str().unwrap();
    let head = head(&relay.base, token).await;
    let mut socket = connect_stream(&relay.base, token, head + 40).await;
    let (frame, code) = until_closed(&mut socket, Duration::from_secs(5)).await;
    let frame = frame.expect("a resync frame");
    assert_eq!(frame["type"], "resync");
    assert_eq!(frame["after"], head + 40);
    assert_eq!(frame["head"], head);
    assert_eq!(code, Some(4009));
    // At the head itself, the stream is live as usual.
    let mut socket = connect_stream(&relay.base, token, head).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "live", "head": head})
    );
}
