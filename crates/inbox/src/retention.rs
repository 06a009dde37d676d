//! What the engine does at start with an account whose cache has not followed the relay's
//! log for too long. Pure: the times are passed in.
//!
//! An erasure reaches a desktop as a `contact_erased` event in the log. A cache that has not
//! synced for longer than the erasure deadline (30 days by default) may still hold people
//! erased since, so it must go: a signed-out account's whole local state (it can only be
//! read, never brought up to date without signing in), or a signed-in account's cache (it
//! is made again from the log, which already has the erasures applied as tombstones).

use chrono::{DateTime, TimeDelta, Utc};

/// What to do with one remembered account at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStart {
    /// Open it as it is.
    Keep,
    /// Delete the cache, its attachments and keys, and forget the account.
    Forget,
    /// Delete the cache, its attachments and keys; stay signed in and replay from 0.
    Refill,
}

/// `last_synced` is the account's record; `cache_written` the cache file's modification
/// time, for records written before Ventana kept `last_synced` (the WAL is written at every
/// applied batch, so it is a fair stand-in). With neither, the cache is empty or new.
pub fn at_start(
    signed_in: bool,
    last_synced: Option<DateTime<Utc>>,
    cache_written: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    deadline: TimeDelta,
) -> AtStart {
    let Some(last) = last_synced.or(cache_written) else {
        return AtStart::Keep;
    };
    if now - last <= deadline {
        AtStart::Keep
    } else if signed_in {
        AtStart::Refill
    } else {
        AtStart::Forget
    }
}

/// Whether the record's sync time is old enough to be written again: often enough that a
/// desktop left live for weeks never looks stale at its next start, rarely enough that
/// `accounts.json` is not rewritten at every event.
pub fn worth_recording(last_synced: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_synced.is_none_or(|last| now - last >= TimeDelta::minutes(10) || last > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(1000 + days)
    }

    #[test]
    fn a_cache_older_than_the_deadline_goes() {
        let deadline = TimeDelta::days(30);
        let now = at(0);
        let table = [
            // signed in, last synced, cache written → what happens
            (true, Some(at(-1)), None, AtStart::Keep),
            (false, Some(at(-1)), None, AtStart::Keep),
            (true, Some(at(-30)), None, AtStart::Keep),
            (false, Some(at(-31)), None, AtStart::Forget),
            (true, Some(at(-31)), None, AtStart::Refill),
            // The record's time wins over the file's.
            (false, Some(at(-2)), Some(at(-40)), AtStart::Keep),
            (false, None, Some(at(-40)), AtStart::Forget),
            (true, None, Some(at(-40)), AtStart::Refill),
            (false, None, Some(at(-3)), AtStart::Keep),
            (true, None, None, AtStart::Keep),
        ];
        for (signed_in, last, written, wanted) in table {
            assert_eq!(
                at_start(signed_in, last, written, now, deadline),
                wanted,
                "{signed_in} {last:?} {written:?}"
            );
        }
    }

    #[test]
    fn exactly_at_the_deadline_is_still_kept() {
        let now = at(0);
        assert_eq!(
            at_start(
                false,
                Some(now - TimeDelta::days(30)),
                None,
                now,
                TimeDelta::days(30)
            ),
            AtStart::Keep
        );
        assert_eq!(
            at_start(
                false,
                Some(now - TimeDelta::days(30) - TimeDelta::seconds(1)),
                None,
                now,
                TimeDelta::days(30)
            ),
            AtStart::Forget
        );
    }

    #[test]
    fn the_sync_time_is_written_every_ten_minutes_at_most() {
        let now = at(0);
        assert!(worth_recording(None, now));
        assert!(!worth_recording(Some(now - TimeDelta::minutes(9)), now));
        assert!(worth_recording(Some(now - TimeDelta::minutes(10)), now));
        // A clock that went back: write the time we have.
        assert!(worth_recording(Some(now + TimeDelta::hours(1)), now));
    }
}
