//! What happens with time rather than with a request: waiting customers and closing
//! windows escalate, snoozes end, WhatsApp templates are re-synced.
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
use ventana_protocol::ids::EventId;

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

/// Runs until the process ends: a sweep every `every`, templates every `templates_every`.
/// How often a node asks whether it runs the periodic jobs.
const LEAD_CHECK: Duration = Duration::from_secs(2);

pub async fn run(state: Arc<AppState>, every: Duration, templates_every: Duration) {
    let mut last_templates: Option<Instant> = None;
    let mut last_sweep: Option<Instant> = None;
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
