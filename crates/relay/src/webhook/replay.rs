//! Replaying quarantined webhook bodies: a body Meta signed for a channel that was not
//! connected yet is taken in once that channel is, as if it had just arrived (issue 14).
//!
//! The body's signature was verified when it arrived (only signed bodies are quarantined),
//! so a replay normalises and routes it again and appends what it names. Appending is
//! idempotent by Meta's ids: events of the body's known channels, stored when it first
//! came, are skipped as duplicates, and a replay that is cut off and run again stores
//! nothing twice. A body leaves the quarantine only once every event in it has a channel.

use crate::state::AppState;
use crate::store::StoreError;
use crate::webhook::intake::{route, unknown_channels};
use crate::webhook::normalize::{self, ChannelKey};
use serde::Serialize;

/// What replaying one quarantined body did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Replayed {
    /// Every event has its channel now: stored (or already there), the body released.
    Stored { stored: usize, duplicates: usize },
    /// Some channels are still not connected: what could be routed is stored, and the
    /// body stays quarantined.
    StillUnknown {
        stored: usize,
        channels: Vec<String>,
    },
    /// This build still cannot read the body; it stays quarantined.
    Unreadable { why: String },
    /// No quarantined body has this id.
    Gone,
}

/// Replays the quarantined body `id`.
pub fn replay(state: &AppState, id: i64) -> Result<Replayed, StoreError> {
    let Some(quarantined) = state.store.quarantined_body(id)? else {
        return Ok(Replayed::Gone);
    };
    let normalized = match normalize::normalize(&quarantined.body) {
        Ok(normalized) => normalized,
        Err(error) => {
            return Ok(Replayed::Unreadable {
                why: error.to_string(),
            });
        }
    };
    let (events, unknown) = route(state, &quarantined.app_id, normalized.events)?;
    let appended = if events.is_empty() {
        Default::default()
    } else {
        state.store.append(events)?
    };
    let stored = appended.entries.len();
    if !unknown.is_empty() {
        return Ok(Replayed::StillUnknown {
            stored,
            channels: unknown.into_iter().collect(),
        });
    }
    state.store.release_quarantined(id)?;
    tracing::info!(id, stored, app_id = %quarantined.app_id, "quarantined webhook replayed");
    Ok(Replayed::Stored {
        stored,
        duplicates: appended.duplicates,
    })
}

/// How many quarantined bodies one automatic pass looks at (the newest first).
pub const PASS_LIMIT: usize = 1_000;

/// The periodic pass: replays each quarantined body whose only fault was channels that
/// are all connected now. Bodies quarantined for other reasons wait for an operator's
/// `quarantine replay`. Answers how many were released.
pub fn replay_connected(state: &AppState) -> Result<usize, StoreError> {
    let mut released = 0;
    for quarantined in state.store.quarantined(PASS_LIMIT)? {
        let Some(channels) = unknown_channels(&quarantined.reason) else {
            continue;
        };
        if !all_connected(state, &quarantined.app_id, &channels)? {
            continue;
        }
        if matches!(replay(state, quarantined.id)?, Replayed::Stored { .. }) {
            released += 1;
        }
    }
    Ok(released)
}

fn all_connected(
    state: &AppState,
    app_id: &str,
    channels: &[ChannelKey],
) -> Result<bool, StoreError> {
    for key in channels {
        let known = state
            .intake
            .channel(&*state.store, key)?
            .is_some_and(|route| route.channel.app_id == app_id);
        if !known {
            return Ok(false);
        }
    }
    Ok(true)
}
