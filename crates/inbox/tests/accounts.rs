//! Accounts and sessions an operator can trust (docs/accounts.md), against a real relay:
//! the relay ending a session (removed, disabled) signs the desktop out in words and wipes
//! its cache when the tenant requires it; a kept cache signed in again resumes from its
//! cursor, so every erasure it missed is applied; a cache that has not synced within the
//! erasure deadline is deleted at start; a refresh whose answer was lost is tried again
//! with the same token; an expired access token is refreshed without going offline; a
//! relay restored from a backup makes the cache start over, keeping unsent replies.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ventana_inbox::query::InboxFilter;
use ventana_inbox::secrets::{SecretKind, SecretStore};
use ventana_inbox::sync::SyncState;
use ventana_inbox::{Engine, NoticeKind};
use ventana_protocol::api::Draft;

const ROSA: &str = "7000000000000021";
const LUIS: &str = "7000000000000022";

fn is_live(engine: &Engine, id: &str) -> bool {
    matches!(engine.sync_state(id), Ok(SyncState::Live { .. }))
}

async fn relay_json(
    world: &World,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", world.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The id of Acme's agent with `email`, as an admin lists them.
async fn agent_id(world: &World, token: &str, email: &str) -> String {
    let (status, agents) = relay_json(world, reqwest::Method::GET, "/v1/agents", token, None).await;
    assert_eq!(status, 200, "{agents}");
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|agent| agent["email"] == email)
        .and_then(|agent| agent["id"].as_str())
        .unwrap()
        .to_owned()
}

/// Waits (10 s at most) for the account's sync state to satisfy `check`; fails with the
/// states seen.
async fn until_state(engine: &Engine, id: &str, what: &str, check: impl Fn(&SyncState) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let state = engine.sync_state(id).unwrap();
        if check(&state) {
            return;
        }
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn contact_count(world: &World, account: &str, contact: &str) -> i64 {
    world
        .open_cache(account)
        .connection()
        .query_row(
            "SELECT count(*) FROM contacts WHERE id = ?1",
            [contact],
            |row| row.get(0),
        )
        .unwrap()
}

/// The inbox row whose last message shows `text`.
fn row_showing<'a>(
    rows: &'a [ventana_inbox::engine::InboxRow],
    text: &str,
) -> &'a ventana_inbox::engine::InboxRow {
    rows.iter()
        .find(|row| {
            row.conversation
                .last_message
                .as_ref()
                .and_then(|m| m.text.as_deref())
                .is_some_and(|t| t.contains(text))
        })
        .unwrap_or_else(|| panic!("no row shows {text:?}: {rows:?}"))
}

fn set_last_synced(world: &World, account: &str, at: chrono::DateTime<Utc>) {
    let path = world.app_dir.join("accounts.json");
    let mut list: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for record in list.as_array_mut().unwrap() {
        if record["id"] == account {
            record["last_synced_at"] = json!(at);
        }
    }
    std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_cache_signed_in_again_resumes_from_its_cursor_and_applies_the_erasures_it_missed() {
    let world = World::new("resume-erasure").await;
    world
        .customer_texts(
            &[
                (ROSA, "m_rosa_1", "my address is Calle Mayor 3"),
                (LUIS, "m_luis_1", "¿llegó mi pedido?"),
            ],
            TimeDelta::minutes(10),
        )
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "the backlog", || {
        is_live(&engine, &id)
            && engine
                .inbox(None, &InboxFilter::default(), None, 10)
                .is_ok_and(|rows| rows.len() == 2)
    })
    .await;
    // Read here: a replay from 0 into a new cache would count it unread again.
    let rows = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap();
    let luis = row_showing(&rows, "pedido");
    let rosa_contact = row_showing(&rows, "Calle Mayor")
        .conversation
        .contact_id
        .clone();
    engine.mark_read(&id, &luis.conversation.id).unwrap();
    let before = engine.cursor(&id).unwrap();

    engine.sign_out(&id, false).await.unwrap();
    assert!(matches!(
        engine.sync_state(&id),
        Ok(SyncState::SignedOut { .. })
    ));
    assert!(world.cache_path(&id).exists(), "the cache was kept");

    // While this desktop is signed out, an admin erases Rosa elsewhere.
    let token = world.admin_token().await;
    let (status, receipt) = relay_json(
        &world,
        reqwest::Method::POST,
        &format!("/v1/contacts/{rosa_contact}/erase"),
        &token,
        Some(json!({"confirm": "ERASE"})),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    let erased_at = receipt["seq"].as_u64().unwrap();
    assert!(erased_at > before);
    // The kept cache still holds her until it follows the log again.
    assert_eq!(contact_count(&world, &id, &rosa_contact), 1);

    let again = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(again.record.id, id, "the same account, so the same cache");
    eventually(30, "the missed erasure", || {
        is_live(&engine, &id) && engine.cursor(&id).is_ok_and(|at| at >= erased_at)
    })
    .await;
    assert_eq!(
        contact_count(&world, &id, ROSA),
        0,
        "the erasure was applied"
    );
    assert!(
        engine
            .search("Mayor", 10)
            .unwrap()
            .iter()
            .all(|hit| !hit.hit.contact_id.contains(ROSA))
    );
    let luis_now = engine
        .conversation(&id, &luis.conversation.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        luis_now.unread, 0,
        "the cache resumed from its cursor (a replay from 0 would count it unread)"
    );
    engine.shutdown();
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_has_not_synced_within_the_erasure_deadline_is_deleted_at_start() {
    let world = World::new("deadline").await;
    world
        .customer_texts(&[(ROSA, "m_rosa_d", "hola")], TimeDelta::minutes(5))
        .await;
    let secrets = world.secrets();
    let id = {
        let engine = world.engine(Arc::new(Recorded::default()));
        let id = engine
            .sign_in(&world.base, EMAIL, PASSWORD, None)
            .await
            .unwrap()
            .record
            .id;
        eventually(30, "the backlog", || {
            is_live(&engine, &id) && engine.cursor(&id).is_ok_and(|at| at > 0)
        })
        .await;
        engine.shutdown();
        id
    };
    // Within the deadline a signed-in account is opened as it is.
    set_last_synced(&world, &id, Utc::now() - TimeDelta::days(29));
    {
        let engine = world.engine(Arc::new(Recorded::default()));
        assert!(engine.cursor(&id).unwrap() > 0);
        assert!(engine.account_notices().is_empty());
        engine.shutdown();
    }

    // A signed-in account past the deadline: the cache goes, the sign-in stays, and the log
    // fills a new cache (with new keys).
    let old_key = secrets.get(&id, SecretKind::CacheKey).unwrap().unwrap();
    set_last_synced(&world, &id, Utc::now() - TimeDelta::days(31));
    {
        let engine = world.engine(Arc::new(Recorded::default()));
        let new_key = secrets.get(&id, SecretKind::CacheKey).unwrap().unwrap();
        assert_ne!(
            old_key.expose(),
            new_key.expose(),
            "a new cache, with a new key"
        );
        assert!(matches!(
            engine.account_notices().as_slice(),
            [notice] if notice.kind == NoticeKind::Expired { days: 30, signed_in: true }
        ));
        eventually(30, "the new cache filled again", || {
            is_live(&engine, &id) && engine.cursor(&id).is_ok_and(|at| at > 0)
        })
        .await;
        // Signed out with the cache kept, then left for longer than the deadline.
        engine.sign_out(&id, false).await.unwrap();
        engine.shutdown();
    }
    set_last_synced(&world, &id, Utc::now() - TimeDelta::days(31));
    let engine = world.engine(Arc::new(Recorded::default()));
    assert!(
        engine.accounts().is_empty(),
        "the expired account is forgotten"
    );
    assert!(!world.app_dir.join("accounts").join(&id).exists());
    for kind in [
        SecretKind::CacheKey,
        SecretKind::MediaKey,
        SecretKind::RefreshToken,
    ] {
        assert!(secrets.get(&id, kind).unwrap().is_none(), "{kind} is left");
    }
    assert!(matches!(
        engine.account_notices().as_slice(),
        [notice] if notice.kind == NoticeKind::Expired { days: 30, signed_in: false }
    ));
    // And it stays forgotten.
    drop(engine);
    assert!(
        world
            .engine(Arc::new(Recorded::default()))
            .accounts()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_ending_a_session_signs_the_desktop_out_in_words_and_wipes_when_the_tenant_requires()
 {
    let mut world = World::new("ended").await;
    world
        .customer_texts(&[(ROSA, "m_rosa_e", "hola")], TimeDelta::minutes(5))
        .await;
    let secrets = world.secrets();
    let engine = world.engine(Arc::new(Recorded::default()));
    let bo = engine
        .sign_in(&world.base, AGENT_EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "Bo live", || {
        is_live(&engine, &bo) && engine.cursor(&bo).is_ok_and(|at| at > 0)
    })
    .await;

    // Disabled, on a tenant that lets desktops keep their cache: signed out, cache kept.
    let token = world.admin_token().await;
    let bo_agent = agent_id(&world, &token, AGENT_EMAIL).await;
    let (status, body) = relay_json(
        &world,
        reqwest::Method::PATCH,
        &format!("/v1/agents/{bo_agent}"),
        &token,
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    until_state(
        &engine,
        &bo,
        "the stream to end with the session",
        |state| matches!(state, SyncState::SignedOut { code, .. } if code == "access_disabled"),
    )
    .await;
    let notices = engine.account_notices();
    assert!(
        matches!(notices.as_slice(), [notice] if notice.tenant_name == "acme"
            && matches!(&notice.kind, NoticeKind::SignedOut { code, cache_removed: false, .. } if code == "access_disabled")),
        "{notices:?}"
    );
    let view = engine
        .accounts()
        .into_iter()
        .find(|a| a.record.id == bo)
        .unwrap();
    assert!(!view.record.signed_in);
    assert_eq!(
        view.record.signed_out_code.as_deref(),
        Some("access_disabled")
    );
    assert!(world.cache_path(&bo).exists());
    assert!(
        secrets
            .get(&bo, SecretKind::RefreshToken)
            .unwrap()
            .is_none()
    );
    // Asking the relay for a signed-out account says so, and changes nothing about why.
    let refused = engine.channels(&bo).await.unwrap_err();
    assert_eq!(refused.code, "signed_out");
    assert_eq!(engine.account_notices().len(), 1);
    assert!(matches!(
        engine.sync_state(&bo),
        Ok(SyncState::SignedOut { code, .. }) if code == "access_disabled"
    ));
    engine.dismiss_notice(notices[0].id);

    // Enabled again, signed in again, then removed on a tenant that requires wiping.
    let (status, _) = relay_json(
        &world,
        reqwest::Method::PATCH,
        &format!("/v1/agents/{bo_agent}"),
        &token,
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(status, 200);
    engine
        .sign_in(&world.base, AGENT_EMAIL, PASSWORD, None)
        .await
        .unwrap();
    eventually(30, "Bo live again", || is_live(&engine, &bo)).await;
    world.set_wipe_on_removal(true).await;
    let (status, body) = relay_json(
        &world,
        reqwest::Method::DELETE,
        &format!("/v1/agents/{bo_agent}"),
        &token,
        None,
    )
    .await;
    assert!(status == 204 || status == 200, "{status} {body}");
    eventually(
        10,
        "the account and its cache to go, and the agent told",
        || {
            engine.accounts().iter().all(|a| a.record.id != bo)
                && !world.app_dir.join("accounts").join(&bo).exists()
                && !engine.account_notices().is_empty()
        },
    )
    .await;
    let notices = engine.account_notices();
    assert!(
        matches!(notices.as_slice(), [notice]
            if matches!(&notice.kind, NoticeKind::SignedOut { code, cache_removed: true, .. } if code == "access_removed")),
        "{notices:?}"
    );
    for kind in [
        SecretKind::CacheKey,
        SecretKind::MediaKey,
        SecretKind::RefreshToken,
    ] {
        assert!(secrets.get(&bo, kind).unwrap().is_none(), "{kind} is left");
    }
    let list: Value =
        serde_json::from_slice(&std::fs::read(world.app_dir.join("accounts.json")).unwrap())
            .unwrap();
    assert!(!list.to_string().contains(&bo), "{list}");
    engine.shutdown();
}

/// A TCP proxy in front of the relay. Armed, it forwards the next refresh request and
/// throws the relay's answer away: the relay rotated the token, the desktop never heard.
struct LossyProxy {
    base: String,
    lose_next_refresh: Arc<AtomicBool>,
    refreshes: Arc<AtomicUsize>,
}

impl LossyProxy {
    async fn start(upstream: u16) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let lose_next_refresh = Arc::new(AtomicBool::new(false));
        let refreshes = Arc::new(AtomicUsize::new(0));
        let (lose, count) = (Arc::clone(&lose_next_refresh), Arc::clone(&refreshes));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, Arc::clone(&lose), Arc::clone(&count)));
            }
        });
        LossyProxy {
            base,
            lose_next_refresh,
            refreshes,
        }
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    lose_next: Arc<AtomicBool>,
    refreshes: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let losing = Arc::new(AtomicBool::new(false));
    let up_losing = Arc::clone(&losing);
    let up = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if contains(&buffer[..n], b"POST /v1/auth/refresh") {
                refreshes.fetch_add(1, Ordering::SeqCst);
                if lose_next.swap(false, Ordering::SeqCst) {
                    up_losing.store(true, Ordering::SeqCst);
                }
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if losing.load(Ordering::SeqCst) {
                // The relay answered (and rotated); the answer is lost with the connection.
                break;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_answer_was_lost_is_tried_again_with_the_same_token() {
    let world = World::new("lost-refresh").await;
    world
        .customer_texts(&[(ROSA, "m_rosa_l", "hola")], TimeDelta::minutes(5))
        .await;
    let proxy = LossyProxy::start(world.port).await;
    let id = {
        let engine = world.engine(Arc::new(Recorded::default()));
        let id = engine
            .sign_in(&proxy.base, EMAIL, PASSWORD, None)
            .await
            .unwrap()
            .record
            .id;
        eventually(30, "live through the proxy", || is_live(&engine, &id)).await;
        engine.shutdown();
        id
    };
    let stored = world
        .secrets()
        .get(&id, SecretKind::RefreshToken)
        .unwrap()
        .unwrap();

    // The next engine has no access token in memory: its first call refreshes, and that
    // answer is lost after the relay rotated the token.
    proxy.lose_next_refresh.store(true, Ordering::SeqCst);
    let before = proxy.refreshes.load(Ordering::SeqCst);
    let engine = world.engine(Arc::new(Recorded::default()));
    eventually(40, "live again after the lost refresh", || {
        is_live(&engine, &id)
    })
    .await;
    assert!(
        proxy.refreshes.load(Ordering::SeqCst) >= before + 2,
        "the refresh was sent again"
    );
    assert!(!proxy.lose_next_refresh.load(Ordering::SeqCst));
    let rotated = world
        .secrets()
        .get(&id, SecretKind::RefreshToken)
        .unwrap()
        .expect("still signed in");
    assert_ne!(
        rotated.expose(),
        stored.expose(),
        "the retry's new token was stored"
    );
    assert!(engine.account_notices().is_empty());
    engine.shutdown();
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_without_going_offline() {
    let world = World::new_with(
        "token-expiry",
        |settings| settings.sessions.access_ttl = TimeDelta::seconds(8),
        |_| {},
    )
    .await;
    world
        .customer_texts(&[(ROSA, "m_rosa_t1", "hola")], TimeDelta::minutes(5))
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "live", || is_live(&engine, &id)).await;
    let mut updates = engine.subscribe();
    // Two expiries pass; the state the agent sees stays live throughout.
    let watch = async {
        let mut states = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(18);
        while let Ok(Ok(update)) = tokio::time::timeout_at(deadline, updates.recv()).await {
            if let ventana_inbox::Update::Sync { state, .. } = update {
                states.push(state);
            }
        }
        states
    };
    let states = watch.await;
    assert!(
        states
            .iter()
            .all(|s| matches!(s, SyncState::Live { .. } | SyncState::CatchingUp { .. })),
        "{states:?}"
    );
    // And events still arrive after the expiries.
    world
        .customer_texts(&[(LUIS, "m_luis_t2", "sigo aquí")], TimeDelta::zero())
        .await;
    eventually(10, "the new message", || {
        engine
            .inbox(None, &InboxFilter::default(), None, 10)
            .is_ok_and(|rows| rows.len() == 2)
    })
    .await;
    assert!(is_live(&engine, &id));
    engine.shutdown();
    world.forget_secrets(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restored_from_a_backup_makes_the_cache_start_over_keeping_unsent_replies() {
    let mut world = World::new("resync").await;
    world
        .customer_texts(
            &[(ROSA, "m_rosa_r1", "hola, ¿hay talla 38?")],
            TimeDelta::minutes(5),
        )
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let id = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "live", || {
        is_live(&engine, &id)
            && engine
                .inbox(None, &InboxFilter::default(), None, 10)
                .is_ok_and(|rows| rows.len() == 1)
    })
    .await;
    // The backup: the relay's data dir as it is now (this session's access token in it).
    world.stop_relay().await;
    let backup = world.tmp.path().join("backup");
    copy_dir(&world.relay_dir, &backup);
    world.start_relay().await;
    world
        .customer_texts(
            &[(LUIS, "m_luis_r2", "otro cliente")],
            TimeDelta::minutes(1),
        )
        .await;
    eventually(30, "the second conversation", || {
        engine
            .inbox(None, &InboxFilter::default(), None, 10)
            .is_ok_and(|rows| rows.len() == 2)
    })
    .await;
    let rows = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap();
    let rosa = row_showing(&rows, "talla 38").conversation.id.clone();
    let luis = row_showing(&rows, "otro cliente").conversation.id.clone();

    // The relay goes down; replies are written offline; it comes back from the backup.
    world.stop_relay().await;
    eventually(10, "offline", || {
        matches!(engine.sync_state(&id), Ok(SyncState::Offline { .. }))
    })
    .await;
    let kept = engine
        .compose(&id, &rosa, &Draft::text("Sí, la tenemos (kept)"))
        .unwrap();
    engine
        .compose(&id, &luis, &Draft::text("¡Hola! (lost)"))
        .unwrap();
    std::fs::remove_dir_all(&world.relay_dir).unwrap();
    copy_dir(&backup, &world.relay_dir);
    world.start_relay().await;
    engine.reconnect();

    eventually(
        30,
        "the cache to start over and the kept reply to go out",
        || {
            let sends = world.sim.sends();
            sends
                .iter()
                .any(|send| send.body.to_string().contains("(kept)"))
                && is_live(&engine, &id)
        },
    )
    .await;
    let notices = engine.account_notices();
    assert!(
        notices
            .iter()
            .any(|n| n.kind == NoticeKind::Resync { kept: 2 }),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.kind == NoticeKind::RepliesLost { count: 1 }),
        "{notices:?}"
    );
    assert!(
        !world
            .sim
            .sends()
            .iter()
            .any(|s| s.body.to_string().contains("(lost)"))
    );
    // The cache holds what the restored log has: one conversation, with the kept reply.
    let rows = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].conversation.id, rosa);
    let messages = engine.messages(&id, &rosa, None, 10).unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.idempotency_key.as_deref() == Some(kept.key.as_str())),
        "{messages:?}"
    );
    // Caught up with the restored log (its own statuses may still be arriving).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (cursor, head) = (engine.cursor(&id).unwrap(), world.head().await);
        if cursor == head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cursor {cursor}, head {head}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown();
    world.forget_secrets(&id);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_the_team_and_a_new_agent_chooses_a_password_before_syncing() {
    let world = World::new("team").await;
    world
        .customer_texts(&[(ROSA, "m_rosa_team", "hola")], TimeDelta::minutes(5))
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let ana = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record;

    // Add an agent: the relay answers a one-time password.
    let new = engine
        .add_agent(&ana.id, "cy@acme.test", "agent", Some("Cy"))
        .await
        .unwrap();
    assert!(new.agent.must_change_password);
    assert!(!format!("{new:?}").contains(&new.temporary_password));
    let duplicate = engine
        .add_agent(&ana.id, "cy@acme.test", "agent", None)
        .await
        .unwrap_err();
    assert_eq!(duplicate.code, "conflict");
    // The last active admin cannot be disabled.
    let refused = engine
        .update_agent(
            &ana.id,
            &ana.agent_id,
            &ventana_inbox::team::AgentChange {
                status: Some("disabled".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "last_admin", "{refused:?}");

    // Cy signs in with it: nothing syncs until Cy chose a password.
    let cy = engine
        .sign_in(&world.base, "cy@acme.test", &new.temporary_password, None)
        .await
        .unwrap()
        .record;
    assert!(cy.must_change_password);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        engine.sync_state(&cy.id).unwrap(),
        SyncState::PasswordChangeRequired
    );
    assert_eq!(engine.cursor(&cy.id).unwrap(), 0);
    let mismatch = engine
        .change_password(
            &cy.id,
            &new.temporary_password,
            "a new password!",
            "a new passw0rd!",
        )
        .await
        .unwrap_err();
    assert_eq!(mismatch.code, "password_mismatch");
    let wrong = engine
        .change_password(
            &cy.id,
            "not the temporary one",
            "cy's own password",
            "cy's own password",
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "wrong_password", "{wrong:?}");
    engine
        .change_password(
            &cy.id,
            &new.temporary_password,
            "cy's own password",
            "cy's own password",
        )
        .await
        .unwrap();
    eventually(30, "Cy syncing", || {
        is_live(&engine, &cy.id) && engine.cursor(&cy.id).is_ok_and(|at| at > 0)
    })
    .await;
    assert!(
        engine
            .accounts()
            .iter()
            .any(|a| a.record.id == cy.id && !a.record.must_change_password)
    );

    // Cy's sessions are listed; revoking the one this desktop holds signs it out.
    let agents = engine.agents(&ana.id).await.unwrap();
    let cy_agent = agents.iter().find(|a| a.email == "cy@acme.test").unwrap();
    let sessions = engine.agent_sessions(&ana.id, &cy_agent.id).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    engine
        .revoke_agent_session(&ana.id, &cy_agent.id, &sessions[0].id)
        .await
        .unwrap();
    until_state(
        &engine,
        &cy.id,
        "Cy signed out",
        |state| matches!(state, SyncState::SignedOut { code, .. } if code == "session_revoked"),
    )
    .await;

    // A role change answers the agent as it is now; a reset answers a new one-time password.
    let promoted = engine
        .update_agent(
            &ana.id,
            &cy_agent.id,
            &ventana_inbox::team::AgentChange {
                role: Some("admin".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, "admin");
    let reset = engine
        .reset_agent_password(&ana.id, &cy_agent.id)
        .await
        .unwrap();
    assert_ne!(reset.temporary_password, new.temporary_password);
    assert!(
        engine
            .agents(&ana.id)
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == cy_agent.id && a.must_change_password)
    );

    // Bot keys: made, rotated and revoked, each key shown once.
    let key = engine.create_bot_key(&ana.id, "helpdesk").await.unwrap();
    assert!(key.key.starts_with("vbot_"), "{key:?}");
    let rotated = engine.rotate_bot_key(&ana.id, &key.id).await.unwrap();
    assert_ne!(rotated.key, key.key);
    engine.revoke_bot_key(&ana.id, &key.id).await.unwrap();
    let keys = engine.bot_keys(&ana.id).await.unwrap();
    assert!(
        keys.iter()
            .any(|k| k.id == key.id && k.revoked_at.is_some()),
        "{keys:?}"
    );

    // Removing Cy works through the engine too.
    engine.remove_agent(&ana.id, &cy_agent.id).await.unwrap();
    let agents = engine.agents(&ana.id).await.unwrap();
    assert!(agents.iter().all(|a| a.email != "cy@acme.test"));
    engine.shutdown();
    world.forget_secrets(&ana.id);
    world.forget_secrets(&cy.id);
}
