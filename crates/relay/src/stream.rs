//! `GET /v1/stream`: a tenant's log over a websocket, replayed from where the client left
//! off and then live, with no gap and no duplicate (invariant 5).
//!
//! Frames are JSON text (see `docs/stream.md`). The handler subscribes to the live hub
//! *before* it reads the log, then replays from the log and forwards live entries it has
//! not sent yet. A subscriber that falls behind the live buffer (or a gap of any kind) is
//! served from the log again, so memory per client stays bounded; a client that doesn't
//! read within `send_timeout` is disconnected and resumes when it reconnects.

use crate::api::Authenticated;
use crate::error::{ApiError, blocking};
use crate::server::AppState;
use crate::store::LogEntry;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use ventana_protocol::Event;
use ventana_protocol::ids::TenantId;

/// How many log entries one catch-up read takes.
const PAGE: usize = 500;

/// A committed entry on its way to live subscribers. Its frame is serialised once, by the
/// first subscriber that sends it, and shared by all the others.
#[derive(Debug)]
pub struct LiveEntry {
    entry: LogEntry,
    frame: OnceLock<Result<Utf8Bytes, String>>,
}

impl LiveEntry {
    fn frame(&self) -> Result<Utf8Bytes, Ended> {
        self.frame
            .get_or_init(|| {
                let frame = Frame::Event {
                    seq: self.entry.seq,
                    event: Box::new(self.entry.event.clone()),
                };
                serde_json::to_string(&frame)
                    .map(Utf8Bytes::from)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Ended::Failed)
    }
}

/// Fans committed entries out to the live subscribers of their tenant.
#[derive(Debug)]
pub struct Hub {
    capacity: usize,
    tenants: Mutex<HashMap<TenantId, broadcast::Sender<Arc<LiveEntry>>>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(16),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Called by the store, in sequence order, after each commit.
    pub fn publish(&self, entries: &[LogEntry]) {
        let Ok(mut tenants) = self.tenants.lock() else {
            return;
        };
        for entry in entries {
            let live = || {
                Arc::new(LiveEntry {
                    entry: entry.clone(),
                    frame: OnceLock::new(),
                })
            };
            if let Some(sender) = tenants.get(&entry.event.tenant)
                && sender.send(live()).is_err()
            {
                // Nobody listens any more.
                tenants.remove(&entry.event.tenant);
            }
        }
    }

    pub fn subscribe(&self, tenant: &TenantId) -> Option<broadcast::Receiver<Arc<LiveEntry>>> {
        let mut tenants = self.tenants.lock().ok()?;
        let sender = tenants
            .entry(tenant.clone())
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        Some(sender.subscribe())
    }

    /// Drops every sender, which ends every live subscription.
    pub fn close(&self) {
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.clear();
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Resume after this sequence number (0, the default, replays the whole log).
    #[serde(default)]
    pub after: u64,
}

/// A frame from the relay to a desktop.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// One log entry. Entries arrive in sequence order, each exactly once per connection.
    Event { seq: u64, event: Box<Event> },
    /// The replay has caught up with the log's head; what follows is live.
    Live { head: u64 },
    /// Sent when nothing else was for a while; `head` is the log's last sequence.
    Heartbeat { head: u64 },
    /// Sent before the relay closes the stream on purpose.
    Error { code: String, message: String },
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
    let live = state
        .hub
        .subscribe(&tenant)
        .ok_or_else(|| ApiError::internal("stream", "the live hub is unavailable"))?;
    tracing::info!(%tenant, agent = %auth.0.agent.id, after = query.after, "stream opened");
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, tenant, query.after, live)))
}

#[derive(Debug)]
enum Ended {
    ClientLeft,
    TooSlow,
    Failed(String),
}

async fn serve(
    mut socket: WebSocket,
    state: Arc<AppState>,
    tenant: TenantId,
    after: u64,
    mut live: broadcast::Receiver<Arc<LiveEntry>>,
) {
    let ended = pump(&mut socket, &state, &tenant, after, &mut live).await;
    match ended {
        Ended::ClientLeft => tracing::debug!(%tenant, "stream closed by the client"),
        Ended::TooSlow => {
            tracing::warn!(%tenant, "stream client too slow; disconnected");
        }
        Ended::Failed(reason) => {
            tracing::error!(%tenant, %reason, "stream failed");
            let frame = Frame::Error {
                code: "internal".into(),
                message: "the relay could not read the log; reconnect to resume".into(),
            };
            let _ = send(&mut socket, &state, &frame).await;
        }
    }
    let _ = socket.close().await;
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
) -> Result<u64, Ended> {
    loop {
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
) -> Result<u64, Ended> {
    let mut sent = first.entry.seq;
    let mut batch = vec![first.frame()?];
    let mut fell_behind = false;
    while batch.len() < BURST {
        match live.try_recv() {
            Ok(next) if next.entry.seq <= sent => {}
            Ok(next) if next.entry.seq == sent + 1 => {
                batch.push(next.frame()?);
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
        return catch_up(socket, state, tenant, sent).await;
    }
    Ok(sent)
}

async fn pump(
    socket: &mut WebSocket,
    state: &Arc<AppState>,
    tenant: &TenantId,
    after: u64,
    live: &mut broadcast::Receiver<Arc<LiveEntry>>,
) -> Ended {
    let mut sent = match catch_up(socket, state, tenant, after).await {
        Ok(sent) => sent,
        Err(ended) => return ended,
    };
    if let Err(ended) = send(socket, state, &Frame::Live { head: sent }).await {
        return ended;
    }
    let mut heartbeat = tokio::time::interval(state.settings.heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            received = live.recv() => {
                let result = match received {
                    Ok(live) if live.entry.seq <= sent => Ok(sent),
                    Ok(first) if first.entry.seq == sent + 1 => forward_live(socket, state, tenant, first, live).await,
                    // A gap, or we fell behind the live buffer: the log has everything.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        catch_up(socket, state, tenant, sent).await
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
            _ = heartbeat.tick() => {
                if let Err(ended) = send(socket, state, &Frame::Heartbeat { head: sent }).await {
                    return ended;
                }
            }
        }
    }
}
