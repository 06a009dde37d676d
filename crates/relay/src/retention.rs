//! Pure: what the retention promises purge, and when. A channel's `retention_days` bounds
//! how long the relay keeps a person's history on it; quarantined bodies have a bound of
//! their own. The stores scan and redact; the rules are here, tested without a database.
//!
//! Time is counted from when the relay recorded an event (`recorded_at`), not from the
//! platform's timestamp: that is when the relay came to hold the data, and it grows with
//! the log's sequence, so a purge walks the log forward from where it stopped last time
//! and ends at the first event young enough to keep.

use chrono::{DateTime, TimeDelta, Utc};
use ventana_protocol::ChannelSettings;
use ventana_protocol::event::Event;
use ventana_protocol::ids::ChannelId;

/// How long a quarantined body (signed by Meta, unusable here) is kept.
pub const QUARANTINE_DAYS: i64 = 90;

/// How much the quarantine holds at most; past it, the oldest bodies go first. A flood of
/// unusable webhooks (a misconfigured app) cannot fill the disk.
pub const QUARANTINE_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Events a purge reads and redacts per transaction, so a first purge of a long log never
/// holds the tenant's appends for long.
pub const PURGE_BATCH: usize = 2_000;

/// The instant before which the channel's history goes; `None` keeps it until erased.
pub fn cutoff(settings: &ChannelSettings, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let days = settings.retention_days?;
    now.checked_sub_signed(TimeDelta::days(i64::from(days)))
}

/// The instant before which quarantined bodies go.
pub fn quarantine_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(QUARANTINE_DAYS)
}

/// Whether an event of this `type` is a person's history the purge redacts: what they and
/// the business wrote, its statuses and reactions, notes and the conversation's workflow.
/// Kept: consent (proof of an opt-out must outlive the messages), erasure markers and
/// tombstones, channel changes and earlier purges' markers.
pub fn purges(event_type: &str) -> bool {
    matches!(
        event_type,
        "message_received"
            | "message_sent"
            | "message_status"
            | "reaction"
            | "message_edited"
            | "message_unsent"
            | "note_added"
            | "escalated"
            | "conversation_updated"
    )
}

/// What a purge of `channel` does with the next event of the tenant's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Recorded before the cutoff, on this channel, and history: redact it.
    Redact,
    /// Recorded before the cutoff but not this channel's history: leave it, go on.
    Pass,
    /// Recorded at or after the cutoff: this and every later event are kept; stop here.
    Stop,
}

pub fn step(event: &Event, channel: &ChannelId, cutoff: DateTime<Utc>) -> Step {
    if event.recorded_at >= cutoff {
        Step::Stop
    } else if &event.channel == channel && purges(event.body.type_name()) {
        Step::Redact
    } else {
        Step::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ventana_protocol::EventBody;
    use ventana_protocol::event::ConsentSource;
    use ventana_protocol::ids::{EventId, NoteId, TenantId};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    fn event(channel: &str, recorded_at: &str, body: EventBody) -> Event {
        Event {
            id: EventId::new("e"),
            tenant: TenantId::new("t"),
            channel: ChannelId::new(channel),
            contact: None,
            conversation: None,
            occurred_at: at(recorded_at),
            recorded_at: at(recorded_at),
            body,
        }
    }

    fn note() -> EventBody {
        EventBody::NoteAdded {
            note_id: NoteId::new("n"),
            author: ventana_protocol::ids::AgentId::new("a"),
            text: "secret".into(),
        }
    }

    #[test]
    fn a_channel_without_retention_keeps_everything() {
        let now = at("2026-12-07T00:00:00Z");
        assert_eq!(cutoff(&ChannelSettings::default(), now), None);
        let settings = ChannelSettings {
            retention_days: Some(730),
            ..Default::default()
        };
        assert_eq!(cutoff(&settings, now), Some(at("2024-12-07T00:00:00Z")));
        assert_eq!(quarantine_cutoff(now), at("2026-09-08T00:00:00Z"));
    }

    #[test]
    fn the_cutoff_is_exclusive_and_only_the_channels_history_goes() {
        let cutoff = at("2026-01-01T00:00:00Z");
        let page = ChannelId::new("page");
        let cases = [
            // (channel, recorded at, body, step)
            ("page", "2025-12-31T23:59:59Z", note(), Step::Redact),
            ("page", "2026-01-01T00:00:00Z", note(), Step::Stop),
            ("other", "2025-06-01T00:00:00Z", note(), Step::Pass),
            (
                "page",
                "2025-06-01T00:00:00Z",
                EventBody::ContactOptedOut {
                    source: ConsentSource::Keyword {
                        keyword: "STOP".into(),
                    },
                },
                Step::Pass,
            ),
            (
                "page",
                "2025-06-01T00:00:00Z",
                EventBody::Redacted {
                    receipt: ventana_protocol::ids::ReceiptId::new("r"),
                },
                Step::Pass,
            ),
        ];
        for (channel, recorded, body, expected) in cases {
            let name = body.type_name();
            assert_eq!(
                step(&event(channel, recorded, body), &page, cutoff),
                expected,
                "{channel} {recorded} {name}"
            );
        }
    }

    #[test]
    fn history_is_what_people_wrote_and_did_and_records_stay() {
        for kind in ["message_received", "message_sent", "note_added", "reaction"] {
            assert!(purges(kind), "{kind}");
        }
        for kind in [
            "contact_opted_out",
            "contact_opted_in",
            "contact_erased",
            "redacted",
            "channel_updated",
        ] {
            assert!(!purges(kind), "{kind}");
        }
    }
}
