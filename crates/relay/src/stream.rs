//! `GET /v1/stream`: a tenant's log over a websocket, replayed from where the client left
//! off and then live, with no gap and no duplicate (invariant 5).
//!
//! Frames are JSON text (see `docs/stream.md`). The handler subscribes to the live hub
//! *before* it reads the log, then replays from the log and forwards live entries it has
//! not sent yet. A subscriber that falls behind the live buffer (or a gap of any kind) is
//! served from the log again, so memory per client stays bounded; a client that doesn't
//! read within `send_timeout` is disconnected and resumes when it reconnects.

use crate::caller::Authenticated;
use crate::error::{ApiError, blocking};
use crate::hub::LiveEntry;
use crate::revocation;
use crate::state::AppState;
use crate::store::{EndReason, SessionInfo};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::SinkExt;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast;
use ventana_protocol::api::{CLOSE_RESYNC, CLOSE_SIGNED_OUT, CLOSE_TOKEN_EXPIRED, Frame};
use ventana_protocol::ids::TenantId;

/// How many log entries one catch-up read takes.
const PAGE: usize = 500;

/// A live entry's frame, serialised once and shared by every subscriber.
fn frame(live: &LiveEntry) -> Result<Utf8Bytes, Ended> {
    live.shared_frame(|entry| {
        let frame = Frame::Event {
            seq: entry.seq,
            event: Box::new(entry.event.clone()),
        };
        serde_json::to_string(&frame)
            .map(Utf8Bytes::from)
            .map_err(|e| e.to_string())
    })
    .map_err(Ended::Failed)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Resume after this sequence number (0, the default, replays the whole log).
    #[serde(default)]
    pub after: u64,
}

/// Upgrades to the websocket after authenticating, so a bad token is a plain 401.
#[utoipa::path(
    get,
    path = "/v1/stream",
    params(StreamQuery),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the websocket; frames are described in docs/stream.md"),
        (status = 401, description = "Missing, unknown or expired access token", body = crate::error::ErrorBody),
    ),
    tag = "stream"
)]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let tenant = auth.0.agent.tenant.clone();
    // Subscribed before anything is read, so no revocation or live entry slips between.
    let session = SessionWatch {
        revoked: state.revocations.subscribe(),
        session: auth.0.clone(),
    };
    let live = state
        .hub
        .subscribe(&tenant)
        .ok_or_else(|| ApiError::internal("stream", "the live hub is unavailable"))?;
    tracing::info!(%tenant, agent = %auth.0.agent.id, after = query.after, "stream opened");
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, tenant, query.after, live, session)))
}

/// What ends a stream besides the client: its session ending (announced at once by this
/// process, or found when the session is re-read) and its access token expiring.
struct SessionWatch {
    revoked: broadcast::Receiver<Arc<revocation::Ended>>,
    session: SessionInfo,
}

impl SessionWatch {
    /// An announced end of this session, if one is waiting (never blocks).
    fn announced(&mut self) -> Option<Ended> {
        loop {
            match self.revoked.try_recv() {
                Ok(ended) if ended.sessions.contains(&self.session.session_id) => {
                    return Some(Ended::SessionOver(ended.reason));
                }
                Ok(_) => {}
                // Missed announcements: the periodic re-read of the session catches them.
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for an announced end of this session.
    async fn ended(&mut self) -> Ended {
        loop {
            match self.revoked.recv().await {
                Ok(ended) if ended.sessions.contains(&self.session.session_id) => {
                    return Ended::SessionOver(ended.reason);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// Re-reads the session from the store (revocations made elsewhere, expiry).
    async fn check(&self, state: &Arc<AppState>) -> Option<Ended> {
        let now = chrono::Utc::now();
        if self.session.access_expires_at <= now {
            return Some(Ended::TokenExpired);
        }
        let (store, id) = (Arc::clone(&state.store), self.session.session_id.clone());
        match blocking("re-reading a stream's session", move || {
            store.session_end(&id, now)
        })
        .await
        {
            Ok(Some(reason)) => Some(Ended::SessionOver(reason)),
            Ok(None) => None,
            // The store could not say: keep serving, the next check will tell.
            Err(_) => None,
        }
    }
}

#[derive(Debug)]
enum Ended {
    ClientLeft,
    TooSlow,
    Failed(String),
    SessionOver(EndReason),
    TokenExpired,
    CursorAhead { head: u64 },
}

async fn serve(
    mut socket: WebSocket,
    state: Arc<AppState>,
    tenant: TenantId,
    after: u64,
    mut live: broadcast::Receiver<Arc<LiveEntry>>,
    mut session: SessionWatch,
) {
    let ended = pump(&mut socket, &state, &tenant, after, &mut live, &mut session).await;
    let (frame, close) = match ended {
        Ended::ClientLeft => {
            tracing::debug!(%tenant, "stream closed by the client");
            (None, None)
        }
        Ended::TooSlow => {
            tracing::warn!(%tenant, "stream client too slow; disconnected");
            (None, None)
        }
        Ended::Failed(reason) => {
            tracing::error!(%tenant, %reason, "stream failed");
            let frame = Frame::Error {
                code: "internal".into(),
                message: "the relay could not read the log; reconnect to resume".into(),
            };
            (Some(frame), Some((1011, "internal")))
        }
        Ended::TokenExpired => {
            let frame = Frame::Error {
                code: "token_expired".into(),
                message: "the access token expired; refresh it and resume".into(),
            };
            (Some(frame), Some((CLOSE_TOKEN_EXPIRED, "token_expired")))
        }
        Ended::SessionOver(reason) => {
            tracing::info!(%tenant, agent = %session.session.agent.id, reason = reason.as_str(), "stream ended with its session");
            let frame = signed_out_frame(&state, &tenant, reason).await;
            (Some(frame), Some((CLOSE_SIGNED_OUT, reason.as_str())))
        }
        Ended::CursorAhead { head } => {
            tracing::warn!(%tenant, after, head, "a client resumed after the log's head");
            (
                Some(Frame::Resync { after, head }),
                Some((CLOSE_RESYNC, "resync")),
            )
        }
    };
    if let Some(frame) = frame {
        let _ = send(&mut socket, &state, &frame).await;
    }
    match close {
        Some((code, reason)) => {
            let frame = axum::extract::ws::CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = tokio::time::timeout(
                state.settings.send_timeout,
                socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
        None => {
            let _ = socket.close().await;
        }
    }
}

/// The `signed_out` frame, in words naming the tenant, with its cache policy.
async fn signed_out_frame(state: &Arc<AppState>, tenant: &TenantId, reason: EndReason) -> Frame {
    let told = crate::accounts::told(state, tenant, reason).await;
    Frame::SignedOut {
        reason: reason.as_str().into(),
        message: told.message,
        wipe_cache: told.wipe_cache,
    }
}

async fn send(socket: &mut WebSocket, state: &AppState, frame: &Frame) -> Result<(), Ended> {
    let text = serde_json::to_string(frame).map_err(|e| Ended::Failed(e.to_string()))?;
    send_text(socket, state, text.into()).await
}

async fn send_text(socket: &mut WebSocket, state: &AppState, text: Utf8Bytes) -> Result<(), Ended> {
    match tokio::time::timeout(
        state.settings.send_timeout,
        socket.send(Message::Text(text)),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::ClientLeft),
        Err(_) => Err(Ended::TooSlow),
    }
}

/// Sends every entry after `sent` up to the log's head; returns the new `sent`.
async fn catch_up(
    socket: &mut WebSocket,
    state: &Arc<AppState>,
    tenant: &TenantId,
    mut sent: u64,
    session: &mut SessionWatch,
) -> Result<u64, Ended> {
    loop {
        // A long replay stops as soon as its session ends, not when it is done.
        if let Some(ended) = session.announced() {
            return Err(ended);
        }
        let (store, who) = (Arc::clone(&state.store), tenant.clone());
        let page = blocking("stream catch-up", move || store.read_log(&who, sent, PAGE))
            .await
            .map_err(|e| Ended::Failed(e.message))?;
        let full = page.len() == PAGE;
        for entry in page {
            sent = entry.seq;
            let frame = Frame::Event {
                seq: entry.seq,
                event: Box::new(entry.event),
            };
            send(socket, state, &frame).await?;
        }
        if !full {
            return Ok(sent);
        }
    }
}

/// Most live entries written to a client before one flush.
const BURST: usize = 256;

/// Writes `first` and every live entry already waiting behind it, then flushes once: a
/// commit of many events reaches each client in one write, not one write per event.
/// Returns the last sequence sent.
async fn forward_live(
    socket: &mut WebSocket,
    state: &Arc<AppState>,
    tenant: &TenantId,
    first: Arc<LiveEntry>,
    live: &mut broadcast::Receiver<Arc<LiveEntry>>,
    session: &mut SessionWatch,
) -> Result<u64, Ended> {
    let mut sent = first.entry.seq;
    let mut batch = vec![frame(&first)?];
    let mut fell_behind = false;
    while batch.len() < BURST {
        match live.try_recv() {
            Ok(next) if next.entry.seq <= sent => {}
            Ok(next) if next.entry.seq == sent + 1 => {
                batch.push(frame(&next)?);
                sent = next.entry.seq;
            }
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                fell_behind = true;
                break;
            }
            Err(_) => break,
        }
    }
    let write = async {
        for text in batch {
            socket.feed(Message::Text(text)).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(state.settings.send_timeout, write).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Ended::ClientLeft),
        Err(_) => return Err(Ended::TooSlow),
    }
    if fell_behind {
        // A gap, or we fell behind the live buffer: the log has everything.
        return catch_up(socket, state, tenant, sent, session).await;
    }
    Ok(sent)
}

async fn pump(
    socket: &mut WebSocket,
    state: &Arc<AppState>,
    tenant: &TenantId,
    after: u64,
    live: &mut broadcast::Receiver<Arc<LiveEntry>>,
    session: &mut SessionWatch,
) -> Ended {
    // A cursor beyond the log's head: the client's cache holds events this log does not
    // (a relay restored from a backup). Serving "from after" would silently skip
    // whatever is appended under those numbers now.
    let (store, who) = (Arc::clone(&state.store), tenant.clone());
    match blocking("reading the log's head", move || store.head(&who)).await {
        Ok(head) if after > head => return Ended::CursorAhead { head },
        Ok(_) => {}
        Err(error) => return Ended::Failed(error.message),
    }
    let mut sent = match catch_up(socket, state, tenant, after, session).await {
        Ok(sent) => sent,
        Err(ended) => return ended,
    };
    if let Err(ended) = send(socket, state, &Frame::Live { head: sent }).await {
        return ended;
    }
    let mut heartbeat = tokio::time::interval(state.settings.heartbeat);
    heartbeat.tick().await;
    let mut recheck = tokio::time::interval(state.settings.session_check);
    recheck.tick().await;
    let until_expiry = (session.session.access_expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let expiry = tokio::time::sleep(until_expiry);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            received = live.recv() => {
                let result = match received {
                    Ok(live) if live.entry.seq <= sent => Ok(sent),
                    Ok(first) if first.entry.seq == sent + 1 => forward_live(socket, state, tenant, first, live, session).await,
                    // A gap, or we fell behind the live buffer: the log has everything.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        catch_up(socket, state, tenant, sent, session).await
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ended::ClientLeft,
                };
                match result {
                    Ok(new_sent) => sent = new_sent,
                    Err(ended) => return ended,
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ended::ClientLeft,
                Some(Ok(_)) => {} // pings are answered by the websocket layer; nothing else is expected
            },
            ended = session.ended() => return ended,
            () = &mut expiry => return Ended::TokenExpired,
            _ = recheck.tick() => {
                if let Some(ended) = session.check(state).await {
                    return ended;
                }
            }
            _ = heartbeat.tick() => {
                if let Err(ended) = send(socket, state, &Frame::Heartbeat { head: sent }).await {
                    return ended;
                }
            }
        }
    }
}
