//! Following the relay's log over `/v1/stream` (frames in docs/stream.md).
//!
//! Resume after the stored cursor; gather the frames that are already waiting into one
//! batch (up to [`MAX_BATCH`]) and apply it with its cursor in one transaction, so a cold
//! start with a long backlog runs in large transactions while a live event is applied at
//! once. On any failure: back off exponentially with jitter, refresh the access token when
//! the relay refuses it, and resume from the cursor, so nothing is skipped or applied twice.

use crate::apply::{ApplyError, LogEntry};
use crate::engine::{Account, Update};
use crate::session::SessionError;
use futures_util::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The most entries applied in one transaction, by default.
pub const MAX_BATCH: usize = 5_000;
/// With no frame (not even a heartbeat, every 20 s) for this long, the connection is dead.
const SILENCE: Duration = Duration::from_secs(60);

/// What the UI shows about an account's connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Not connected yet.
    Connecting,
    /// Replaying the log: `applied` of `head`.
    CatchingUp { applied: u64, head: u64 },
    /// Caught up; events arrive as they happen.
    Live { head: u64 },
    /// Cannot reach the relay; the next attempt is in `retry_in_ms`.
    Offline { reason: String, retry_in_ms: u64 },
    /// The relay no longer accepts this account's session: sign in again.
    SignedOut { reason: String },
    /// Sync stopped (the account was signed out or the app is closing).
    Stopped,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Event { seq: u64, event: serde_json::Value },
    Live { head: u64 },
    Heartbeat {},
    Error { code: String, message: String },
}

/// Why a connection ended.
enum Ended {
    Stop,
    Retry(String),
    SignedOut(String),
}

/// Runs until `stop` turns true.
pub(crate) async fn run(account: Arc<Account>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        account.set_sync(SyncState::Connecting);
        let ended = tokio::select! {
            ended = connection(&account, &mut failures) => ended,
            _ = stop.changed() => Ended::Stop,
        };
        match ended {
            Ended::Stop => break,
            Ended::SignedOut(reason) => {
                account.set_sync(SyncState::SignedOut { reason });
                // Nothing to do until the agent signs in again (which restarts sync).
                let _ = stop.changed().await;
                break;
            }
            Ended::Retry(reason) => {
                failures = failures.saturating_add(1);
                let delay = backoff(failures);
                tracing::info!(account = %account.id(), %reason, ?delay, "stream ended; retrying");
                account.set_sync(SyncState::Offline {
                    reason,
                    retry_in_ms: delay.as_millis() as u64,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = account.reconnect_now.notified() => { failures = 0; }
                    _ = stop.changed() => break,
                }
            }
        }
    }
    account.set_sync(SyncState::Stopped);
}

/// Exponential from 0.5 s, capped at 30 s, with full jitter over its upper half so many
/// desktops don't return to a restarted relay in step.
pub(crate) fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(500)
        .saturating_mul(1 << failures.min(6))
        .min(Duration::from_secs(30));
    let mut byte = [0u8; 2];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    ceiling.mul_f64(0.5 + jitter / 2.0)
}

async fn connection(account: &Arc<Account>, failures: &mut u32) -> Ended {
    let session = account.session();
    // Channels and templates first: the window rules need each channel's kind.
    if let Err(ended) = refresh_channels(account).await {
        return ended;
    }
    let head = match session
        .with_access(|token| async move { session.client().head(&token).await })
        .await
    {
        Ok(head) => head,
        Err(error) => return ended_by(error),
    };
    let after = match account.cursor() {
        Ok(after) => after,
        Err(error) => return Ended::Retry(format!("the cache could not be read: {error}")),
    };
    let mut stream = None;
    for _ in 0..2 {
        let token = match session.access().await {
            Ok(token) => token,
            Err(error) => return ended_by(error),
        };
        let mut request = match session.client().stream_url(after).into_client_request() {
            Ok(request) => request,
            Err(error) => return Ended::Retry(error.to_string()),
        };
        match format!("Bearer {token}").parse() {
            Ok(value) => {
                request.headers_mut().insert("authorization", value);
            }
            Err(_) => return Ended::Retry("the access token is not a valid header".into()),
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => {
                stream = Some(socket);
                break;
            }
            Err(tungstenite::Error::Http(response)) if response.status() == 401 => {
                session.invalidate().await;
            }
            Err(error) => return Ended::Retry(format!("the stream could not open: {error}")),
        }
    }
    let Some(mut stream) = stream else {
        return Ended::Retry("the relay refused the stream's token twice".into());
    };
    let mut head = head.max(after);
    let mut live = false;
    if head > after {
        account.set_sync(SyncState::CatchingUp {
            applied: after,
            head,
        });
    }
    let mut batch: Vec<LogEntry> = Vec::new();
    loop {
        // Take what is already waiting without blocking; apply when nothing more is.
        let next = if batch.is_empty() {
            match tokio::time::timeout(SILENCE, stream.next()).await {
                Ok(next) => next,
                Err(_) => return Ended::Retry("the relay went silent".into()),
            }
        } else if batch.len() >= account.sync_batch {
            None
        } else {
            // `None` here means nothing is waiting right now.
            stream.next().now_or_never().flatten()
        };
        let message = match next {
            Some(Ok(message)) => Some(message),
            Some(Err(error)) => {
                let _ = flush(account, &mut batch, live, head).await;
                return Ended::Retry(format!("the stream broke: {error}"));
            }
            None if batch.is_empty() => return Ended::Retry("the relay closed the stream".into()),
            None => None,
        };
        let Some(message) = message else {
            // Nothing waiting (or the batch is full): apply what we have.
            match flush(account, &mut batch, live, head).await {
                Ok(()) => continue,
                Err(ended) => return ended,
            }
        };
        let text = match message {
            tungstenite::Message::Text(text) => text,
            tungstenite::Message::Close(_) => {
                let _ = flush(account, &mut batch, live, head).await;
                return Ended::Retry("the relay closed the stream".into());
            }
            _ => continue,
        };
        match serde_json::from_str::<Frame>(&text) {
            Ok(Frame::Event { seq, event }) => match serde_json::from_value(event) {
                Ok(event) => {
                    head = head.max(seq);
                    batch.push(LogEntry { seq, event });
                }
                Err(error) => {
                    // An event this build cannot read: stop before it rather than skip it
                    // (a gap would break invariant 5). A newer app will read it.
                    let _ = flush(account, &mut batch, live, head).await;
                    return Ended::Retry(format!(
                        "entry {seq} is of a kind this version cannot read ({error}); update Ventana"
                    ));
                }
            },
            Ok(Frame::Live { head: at }) => {
                head = head.max(at);
                // What came before this frame was replay, whatever the state shows next.
                if let Err(ended) = flush(account, &mut batch, false, head).await {
                    return ended;
                }
                live = true;
                *failures = 0;
                account.set_sync(SyncState::Live { head });
                account.wake_outbox();
            }
            Ok(Frame::Heartbeat {}) => {}
            Ok(Frame::Error { code, message }) => {
                let _ = flush(account, &mut batch, live, head).await;
                return Ended::Retry(format!("the relay ended the stream ({code}): {message}"));
            }
            Err(_) => {} // a frame type from a newer relay: ignorable by contract
        }
    }
}

/// Applies the batch (one transaction with its cursor), then tells the UI.
async fn flush(
    account: &Arc<Account>,
    batch: &mut Vec<LogEntry>,
    live: bool,
    head: u64,
) -> Result<(), Ended> {
    if batch.is_empty() {
        return Ok(());
    }
    let entries = std::mem::take(batch);
    let worker = Arc::clone(account);
    let applied = tokio::task::spawn_blocking(move || worker.apply(&entries, live))
        .await
        .map_err(|e| Ended::Retry(format!("applying events stopped: {e}")))?;
    match applied {
        Ok(applied) => {
            if live {
                account.set_sync(SyncState::Live {
                    head: head.max(applied.last_seq),
                });
            } else {
                account.set_sync(SyncState::CatchingUp {
                    applied: applied.last_seq,
                    head: head.max(applied.last_seq),
                });
            }
            Ok(())
        }
        Err(ApplyError::Gap { expected, got }) => Err(Ended::Retry(format!(
            "the stream skipped from {expected} to {got}; resuming"
        ))),
        Err(error) => Err(Ended::Retry(format!(
            "the cache could not be written: {error}"
        ))),
    }
}

async fn refresh_channels(account: &Arc<Account>) -> Result<(), Ended> {
    let session = account.session();
    let channels = session
        .with_access(|token| async move { session.client().channels(&token).await })
        .await
        .map_err(ended_by)?;
    let mut templates = Vec::new();
    for channel in &channels {
        if channel.kind == ventana_protocol::ChannelKind::WhatsApp {
            let id = channel.id.clone();
            // Templates are a convenience offline; a failure here must not stop sync.
            if let Ok(list) = session
                .with_access(|token| {
                    let id = id.clone();
                    async move { session.client().templates(&token, &id).await }
                })
                .await
            {
                templates.push((channel.id.clone(), list));
            }
        }
    }
    account
        .store_channels(&channels, &templates)
        .map_err(|e| Ended::Retry(format!("the cache could not be written: {e}")))?;
    account.notify(Update::Channels {
        account: account.id().to_owned(),
    });
    Ok(())
}

fn ended_by(error: SessionError) -> Ended {
    match error {
        SessionError::SignedOut(reason) => Ended::SignedOut(reason),
        SessionError::Client(error) => Ended::Retry(error.to_string()),
        SessionError::Keyring(reason) => Ended::SignedOut(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_ceiling_and_is_jittered() {
        for failures in 0..20 {
            let ceiling = Duration::from_millis(500)
                .saturating_mul(1 << failures.min(6))
                .min(Duration::from_secs(30));
            let delay = backoff(failures);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{failures}: {delay:?}"
            );
        }
        let spread: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(5)).collect();
        assert!(spread.len() > 1, "no jitter");
    }
}
