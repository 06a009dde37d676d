//! What happens with time rather than with a request: waiting customers and closing
//! windows escalate, snoozes end, WhatsApp templates are re-synced, and the retention
//! promises purge expired history and quarantined bodies (`purge_expired`); bodies
//! quarantined for a channel not yet connected are taken in once it is
//! (`webhook::replay`).
//!
//! Every event it appends has an id made from its cause (the conversation and the
//! customer message it is about), so sweeping twice, or on two relays, records it once.

use crate::rules;
use crate::state::AppState;
use crate::store::NewEvent;
use crate::workflow;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ventana_protocol::EventBody;
use ventana_protocol::ids::{EventId, ReceiptId};

/// The events due at `now`: time-based escalations and ended snoozes.
pub fn due_events(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, crate::store::StoreError> {
    let mut events = Vec::new();
    for waiting in state.store.waiting_conversations(now)? {
        for due in rules::due_escalations(&waiting.settings, waiting.last_inbound_at, now) {
            events.push(NewEvent {
                id: EventId::new(format!(
                    "escalate:{}:{}",
                    due.id_suffix, waiting.conversation
                )),
                tenant: waiting.tenant.clone(),
                channel: waiting.channel.clone(),
                contact: None,
                conversation: Some((waiting.contact.clone(), waiting.conversation.clone())),
                occurred_at: now,
                body: EventBody::Escalated { reason: due.reason },
                media: Vec::new(),
            });
        }
    }
    for ended in state.store.ended_snoozes(now)? {
        let reopen = workflow::snooze_ended(&ended.conversation, ended.until);
        events.push(NewEvent {
            id: reopen.id,
            tenant: ended.tenant,
            channel: ended.channel,
            contact: None,
            conversation: Some((ended.contact, ended.conversation)),
            occurred_at: reopen.occurred_at,
            body: reopen.body,
            media: Vec::new(),
        });
    }
    Ok(events)
}

/// What one retention run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionRun {
    /// One receipt per pass that removed something (each is also in the audit log).
    pub purges: Vec<crate::store::PurgeReceipt>,
    pub quarantined_removed: u64,
}

/// Applies every retention promise due at `now` (blocking; the clock is passed in so
/// tests need not wait): each channel's history older than its `retention_days`, in
/// passes of `retention::PURGE_BATCH` events, and quarantined bodies older than 90 days.
/// When anything went, the store is made to let go of the bytes (`checkpoint_truncate`,
/// as after an erasure).
pub fn purge_expired(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<RetentionRun, crate::store::StoreError> {
    let mut run = RetentionRun::default();
    for tenant in state.store.tenants()? {
        for channel in state.store.channels_of(&tenant.id)? {
            let Some(cutoff) = crate::retention::cutoff(&channel.settings, now) else {
                continue;
            };
            loop {
                let receipt = ReceiptId::new(uuid::Uuid::now_v7().to_string());
                let pass = state.store.purge_history(
                    &tenant.id,
                    &channel.id,
                    cutoff,
                    receipt,
                    crate::retention::PURGE_BATCH,
                )?;
                let done = pass.done;
                if pass.events_redacted + pass.replies_removed > 0 {
                    run.purges.push(pass);
                }
                if done {
                    break;
                }
            }
        }
    }
    run.quarantined_removed = state
        .store
        .purge_quarantine(crate::retention::quarantine_cutoff(now))?;
    if !run.purges.is_empty() || run.quarantined_removed > 0 {
        state.store.checkpoint_truncate()?;
    }
    Ok(run)
}

/// Runs until the process ends: a sweep every `every`, templates every `templates_every`.
/// How often a node asks whether it runs the periodic jobs.
const LEAD_CHECK: Duration = Duration::from_secs(2);
/// How often the retention promises are applied (the purge itself is incremental).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(state: Arc<AppState>, every: Duration, templates_every: Duration) {
    let mut last_templates: Option<Instant> = None;
    let mut last_sweep: Option<Instant> = None;
    let mut last_retention: Option<Instant> = None;
    // The jobs run on one node at a time (`Storage::leads`); asking often lets another
    // node take them over within seconds of the leader's death, whatever `every` is.
    let mut ticker = tokio::time::interval(every.min(LEAD_CHECK));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let store = Arc::clone(&state.store);
        let leads = tokio::task::spawn_blocking(move || store.leads()).await;
        state.runs_jobs.store(
            matches!(leads, Ok(Ok(true))),
            std::sync::atomic::Ordering::Relaxed,
        );
        match leads {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => continue,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot tell whether this node runs the periodic jobs");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "the lead check panicked");
                continue;
            }
        }
        // Replies a dead node left unfinished: queued ones go out, in-flight ones are
        // recorded as unknown (never re-sent).
        if let Err(error) = crate::replies::resume(&state).await {
            tracing::error!(%error, "cannot take over unfinished replies");
        }
        if last_sweep.is_some_and(|at| at.elapsed() < every) {
            continue;
        }
        last_sweep = Some(Instant::now());
        let worker = Arc::clone(&state);
        let swept = tokio::task::spawn_blocking(move || {
            let events = due_events(&worker, Utc::now())?;
            if events.is_empty() {
                return Ok(0);
            }
            worker.store.append(events).map(|a| a.entries.len())
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "sweeper recorded escalations or ended snoozes"),
            Ok(Err(error)) => tracing::error!(%error, "sweep failed"),
            Err(error) => tracing::error!(%error, "sweep panicked"),
        }
        let worker = Arc::clone(&state);
        match tokio::task::spawn_blocking(move || crate::webhook::replay::replay_connected(&worker))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => {
                tracing::info!(
                    count,
                    "quarantined webhooks taken in: their channels are connected now"
                )
            }
            Ok(Err(error)) => tracing::error!(%error, "replaying quarantined webhooks failed"),
            Err(error) => tracing::error!(%error, "replaying quarantined webhooks panicked"),
        }
        if last_retention.is_none_or(|at| at.elapsed() >= RETENTION_EVERY) {
            last_retention = Some(Instant::now());
            let worker = Arc::clone(&state);
            match tokio::task::spawn_blocking(move || purge_expired(&worker, Utc::now())).await {
                Ok(Ok(run)) if run.purges.is_empty() && run.quarantined_removed == 0 => {}
                Ok(Ok(run)) => tracing::info!(
                    passes = run.purges.len(),
                    events = run.purges.iter().map(|p| p.events_redacted).sum::<u64>(),
                    quarantined = run.quarantined_removed,
                    "retention purged expired history"
                ),
                Ok(Err(error)) => tracing::error!(%error, "retention purge failed"),
                Err(error) => tracing::error!(%error, "retention purge panicked"),
            }
        }
        if last_templates.is_none_or(|at| at.elapsed() >= templates_every) {
            last_templates = Some(Instant::now());
            let store = Arc::clone(&state.store);
            let channels = tokio::task::spawn_blocking(move || store.template_channels()).await;
            if let Ok(Ok(channels)) = channels {
                for channel in channels {
                    if let Err(error) = crate::templates::sync_templates(&state, &channel).await {
                        tracing::warn!(channel = %channel.id, %error, "periodic template sync failed");
                    }
                }
            }
        }
    }
}
