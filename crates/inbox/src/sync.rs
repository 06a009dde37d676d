//! Following the relay's log over `/v1/stream` (frames in docs/stream.md).
//!
//! Resume after the stored cursor; gather the frames that are already waiting into one
//! batch (up to [`MAX_BATCH`]) and apply it with its cursor in one transaction, so a cold
//! start with a long backlog runs in large transactions while a live event is applied at
//! once. On any failure: back off exponentially with jitter, refresh the access token when
//! the relay refuses it, and resume from the cursor, so nothing is skipped or applied twice.
//!
//! The relay ends a stream on purpose with a frame before its close code: `token_expired`
//! (4001: refresh and reconnect at once, with no offline state), `signed_out` (4003: the
//! session ended, do not reconnect) and `resync` (4009: its log is behind this cache, which
//! starts over from 0).

use crate::apply::{Applied, ApplyError, LogEntry};
use crate::cache::CacheError;
use crate::error::EngineError;
use crate::session::{Session, SessionError, SignedOut};
use futures_util::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ventana_protocol::api::{
    CLOSE_RESYNC, CLOSE_SIGNED_OUT, CLOSE_TOKEN_EXPIRED, ChannelView, TemplateInfo,
};

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
    /// The relay no longer accepts this account's session: sign in again. `code` says why
    /// (docs/accounts.md: `access_removed`, `session_expired`, …, or `signed_out`).
    SignedOut { code: String, reason: String },
    /// The relay asks for a new password before anything else syncs.
    PasswordChangeRequired,
    /// Sync stopped (the account was signed out or the app is closing).
    Stopped,
}

/// A frame as this build reads it: the contract's, with its event left as JSON until the
/// frame is known to be one, so an event this build cannot read is told apart from a
/// frame type it may ignore.
type Frame = ventana_protocol::api::Frame<serde_json::Value>;

/// What following the log needs of the account it follows. The engine's account
/// implements it; this module names nothing of the engine's, so the two do not import
/// each other.
pub(crate) trait Follower: Send + Sync + 'static {
    fn id(&self) -> String;
    fn session(&self) -> &Session;
    fn set_sync(&self, state: SyncState);
    /// The last applied sequence, stored with the events (invariant 5).
    fn cursor(&self) -> Result<u64, CacheError>;
    /// Applies a batch with its cursor in one transaction, then what follows from it.
    fn apply(&self, entries: &[LogEntry], live: bool) -> Result<Applied, ApplyError>;
    /// The relay's channels and templates as they are now: cached, and the UI told.
    fn channels_fetched(
        &self,
        channels: &[ChannelView],
        templates: &[(String, Vec<TemplateInfo>)],
    ) -> Result<(), CacheError>;
    /// The relay ended the session: stop and tell the agent why.
    fn end_session(&self, why: SignedOut) -> impl Future<Output = ()> + Send;
    /// The relay wants a new password first; sync stops until one is chosen.
    fn password_change_required(&self);
    /// The relay's log is behind the cache: start the cache over.
    fn resync(&self, after: u64, head: u64) -> Result<(), EngineError>;
    /// The replay is live: parked replies may go again.
    fn unpark(&self);
    /// The cache followed the log just now.
    fn synced(&self);
    fn wake_outbox(&self);
    /// The most entries applied in one transaction.
    fn batch_limit(&self) -> usize;
    /// Notified when the agent asks to reconnect now (no waiting out the backoff).
    fn reconnect_requested(&self) -> &Notify;
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    Stop,
    Retry(String),
    SignedOut(SignedOut),
    /// The access token expired (or the stream was closed for its session): refresh and
    /// reconnect now; a refused refresh then says why the session ended.
    Refresh,
    /// The relay's log is behind this cache.
    Resync {
        after: u64,
        head: u64,
    },
    PasswordChange,
}

/// A quiet reconnection (a refreshed token) sooner than this after the last one is not
/// quiet any more: something is wrong, and backing off is safer than a tight loop.
const QUIET_AGAIN: Duration = Duration::from_secs(5);

/// What a frame from the relay means for the connection, if it ends it.
fn ending(frame: &Frame) -> Option<Ended> {
    match frame {
        Frame::Error { code, .. } if code == "token_expired" => Some(Ended::Refresh),
        Frame::Error { code, message } => Some(Ended::Retry(format!(
            "the relay ended the stream ({code}): {message}"
        ))),
        Frame::SignedOut {
            reason,
            message,
            wipe_cache,
        } => Some(Ended::SignedOut(SignedOut {
            code: reason.clone(),
            message: message.clone(),
            wipe_cache: *wipe_cache,
        })),
        Frame::Resync { after, head } => Some(Ended::Resync {
            after: *after,
            head: *head,
        }),
        Frame::Event { .. } | Frame::Live { .. } | Frame::Heartbeat { .. } => None,
    }
}

/// A close without its frame (a proxy may drop it): the close code says enough to go on.
/// After 4003 and 4009 a reconnection learns the rest (a refused refresh, a `resync`).
fn closed_by(code: Option<u16>) -> Ended {
    match code {
        Some(CLOSE_TOKEN_EXPIRED | CLOSE_SIGNED_OUT | CLOSE_RESYNC) => Ended::Refresh,
        _ => Ended::Retry("the relay closed the stream".into()),
    }
}

/// Runs until `stop` turns true.
pub(crate) async fn run<A: Follower>(
    account: Arc<A>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    // Set after a refreshed token: the agent keeps seeing the state they saw.
    let mut quiet = false;
    let mut last_quiet: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if !quiet {
            account.set_sync(SyncState::Connecting);
        }
        quiet = false;
        let ended = tokio::select! {
            ended = connection(&account, &mut failures) => ended,
            _ = stop.changed() => Ended::Stop,
        };
        let ended = match ended {
            Ended::Refresh if last_quiet.is_some_and(|at| at.elapsed() < QUIET_AGAIN) => {
                Ended::Retry("the relay ended the stream again at once".into())
            }
            other => other,
        };
        match ended {
            Ended::Stop => break,
            Ended::SignedOut(why) => {
                // Stops this task (and the outbox's) and tells the agent why; the state
                // stays "signed out", not "stopped".
                account.end_session(why).await;
                return;
            }
            Ended::PasswordChange => {
                account.set_sync(SyncState::PasswordChangeRequired);
                // A new password starts sync again (a new task).
                account.password_change_required();
                return;
            }
            Ended::Refresh => {
                account.session().invalidate().await;
                last_quiet = Some(Instant::now());
                quiet = true;
            }
            Ended::Resync { after, head } => {
                if let Err(error) = account.resync(after, head) {
                    let reason = format!("the cache could not be started over: {error}");
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    account.set_sync(SyncState::Offline {
                        reason,
                        retry_in_ms: delay.as_millis() as u64,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => break,
                    }
                }
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
                    _ = account.reconnect_requested().notified() => { failures = 0; }
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

async fn connection<A: Follower>(account: &Arc<A>, failures: &mut u32) -> Ended {
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
        } else if batch.len() >= account.batch_limit() {
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
            tungstenite::Message::Close(frame) => {
                let _ = flush(account, &mut batch, live, head).await;
                return closed_by(frame.map(|frame| u16::from(frame.code)));
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
                account.unpark();
                account.synced();
                account.wake_outbox();
            }
            Ok(Frame::Heartbeat { .. }) => {
                if live {
                    account.synced();
                }
            }
            Ok(frame) => {
                if let Some(ended) = ending(&frame) {
                    // What arrived before the relay's last word is applied.
                    let _ = flush(account, &mut batch, live, head).await;
                    return ended;
                }
            }
            Err(_) => {} // a frame type from a newer relay: ignorable by contract
        }
    }
}

/// Applies the batch (one transaction with its cursor), then tells the UI.
async fn flush<A: Follower>(
    account: &Arc<A>,
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
                account.synced();
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

async fn refresh_channels<A: Follower>(account: &Arc<A>) -> Result<(), Ended> {
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
        .channels_fetched(&channels, &templates)
        .map_err(|e| Ended::Retry(format!("the cache could not be written: {e}")))
}

fn ended_by(error: SessionError) -> Ended {
    match error {
        SessionError::SignedOut(why) => Ended::SignedOut(why),
        SessionError::Client(error) if error.code() == "password_change_required" => {
            Ended::PasswordChange
        }
        SessionError::Client(error) => Ended::Retry(error.to_string()),
        // The keyring may come back (unlocked, started): not a reason to sign out.
        SessionError::Keyring(reason) => Ended::Retry(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &str) -> Option<Ended> {
        serde_json::from_str::<Frame>(json)
            .ok()
            .as_ref()
            .and_then(ending)
    }

    #[test]
    fn the_relays_last_words_say_how_to_go_on() {
        assert!(matches!(
            frame(r#"{"type":"error","code":"token_expired","message":"expired"}"#),
            Some(Ended::Refresh)
        ));
        assert!(matches!(
            frame(r#"{"type":"error","code":"internal","message":"disk"}"#),
            Some(Ended::Retry(_))
        ));
        let ended = frame(
            r#"{"type":"signed_out","reason":"access_removed","message":"removed","wipe_cache":true}"#,
        );
        assert!(
            matches!(&ended, Some(Ended::SignedOut(why))
                if why.code == "access_removed" && why.message == "removed" && why.wipe_cache),
            "{ended:?}"
        );
        // `wipe_cache` and `message` may be left out.
        assert!(matches!(
            frame(r#"{"type":"signed_out","reason":"session_revoked"}"#),
            Some(Ended::SignedOut(SignedOut {
                wipe_cache: false,
                ..
            }))
        ));
        assert!(matches!(
            frame(r#"{"type":"resync","after":90,"head":40}"#),
            Some(Ended::Resync {
                after: 90,
                head: 40
            })
        ));
        assert!(frame(r#"{"type":"heartbeat","head":4}"#).is_none());
        // A frame type from a newer relay is not understood, and ends nothing.
        assert!(frame(r#"{"type":"weather","sunny":true}"#).is_none());
    }

    #[test]
    fn a_close_without_its_frame_still_says_enough() {
        assert!(matches!(closed_by(Some(4001)), Ended::Refresh));
        assert!(matches!(closed_by(Some(4003)), Ended::Refresh));
        assert!(matches!(closed_by(Some(4009)), Ended::Refresh));
        assert!(matches!(closed_by(Some(1000)), Ended::Retry(_)));
        assert!(matches!(closed_by(None), Ended::Retry(_)));
    }

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
