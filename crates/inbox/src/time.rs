//! Times as the cache stores them: RFC 3339 UTC with milliseconds and a `Z`, a fixed width so
//! that text order is time order (the inbox and the status watermarks compare them as text).

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored time; a malformed one (never written by this crate) reads as `None`.
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stamps_sort_as_times_do() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::TimeDelta::milliseconds(1);
        assert_eq!(stamp(a), "2026-01-02T03:04:05.000Z");
        assert!(stamp(a) < stamp(b));
        assert_eq!(parse(&stamp(b)), Some(b));
    }
}
