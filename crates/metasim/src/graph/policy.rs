//! Meta's messaging windows as pure decisions: given the time now and when the user last
//! wrote, may this send go out? No IO and no clock here; the server passes both times in.
//!
//! - Messenger and Instagram: anything within 24 hours of the user's last message; with
//!   `messaging_type: MESSAGE_TAG` and `tag: HUMAN_AGENT`, within 7 days, and only if the
//!   app is approved for the Human Agent feature; nothing after (reference §5a, §5b).
//! - WhatsApp: free-form messages within 24 hours of the user's last message; templates at
//!   any time (reference §5c).
//!
//! Windows are half-open: a send exactly 24 hours (or 7 days) after the user's message is
//! outside. A user message stamped later than "now" (clocks differ) counts as just now.

use super::error::GraphError;
use crate::universe::Platform;
use chrono::{DateTime, TimeDelta, Utc};

/// The standard window: "for most user actions, it lasts 24 hours" (reference §5a), and
/// WhatsApp's customer service window (§5c).
pub const STANDARD_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The `HUMAN_AGENT` tag: "within 7 days after a user message" (reference §5a).
pub const HUMAN_AGENT_WINDOW: TimeDelta = TimeDelta::days(7);

/// The tag that extends the window for human replies.
pub const HUMAN_AGENT_TAG: &str = "HUMAN_AGENT";

/// Messenger's `messaging_type` (reference §5a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagingType {
    /// Replying to a received message, inside the window.
    Response,
    /// Proactive, still inside the window.
    Update,
    /// Outside the window; `tag` says why.
    MessageTag,
}

impl MessagingType {
    /// Parses Meta's spelling (upper case, as the Send API documents it).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RESPONSE" => Some(MessagingType::Response),
            "UPDATE" => Some(MessagingType::Update),
            "MESSAGE_TAG" => Some(MessagingType::MessageTag),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessagingType::Response => "RESPONSE",
            MessagingType::Update => "UPDATE",
            MessagingType::MessageTag => "MESSAGE_TAG",
        }
    }
}

/// Tags Meta has documented for Messenger (reference §5a). Only `HUMAN_AGENT` extends the
/// window here: the others are reported deprecated in 2026 (UNVERIFIED, conflicting) and
/// the reference recommends treating them as unavailable, so they are accepted as values
/// but open nothing.
pub const KNOWN_TAGS: [&str; 5] = [
    "HUMAN_AGENT",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
    "CUSTOMER_FEEDBACK",
];

/// Whether `now` is within `span` of the user's last message (half-open). Never having
/// written is outside every window.
pub fn within(now: DateTime<Utc>, last_inbound: Option<DateTime<Utc>>, span: TimeDelta) -> bool {
    match last_inbound {
        // A negative elapsed time (a message from the future) is inside.
        Some(at) => now.signed_duration_since(at) < span,
        None => false,
    }
}

/// Whether a Messenger or Instagram send may go out. `tag` counts only with
/// `MessagingType::MessageTag` (reference §5a: "add `tag` when
/// `messaging_type=MESSAGE_TAG`").
pub fn check_messaging(
    platform: Platform,
    now: DateTime<Utc>,
    last_inbound: Option<DateTime<Utc>>,
    messaging_type: MessagingType,
    tag: Option<&str>,
    human_agent_approved: bool,
) -> Result<(), GraphError> {
    let human_agent = messaging_type == MessagingType::MessageTag && tag == Some(HUMAN_AGENT_TAG);
    // Without the feature the tag is refused outright, inside the window too: it is the
    // permission that is missing, not the time.
    if human_agent && !human_agent_approved {
        return Err(GraphError::human_agent_not_approved());
    }
    if within(now, last_inbound, STANDARD_WINDOW)
        || (human_agent && within(now, last_inbound, HUMAN_AGENT_WINDOW))
    {
        return Ok(());
    }
    Err(outside_window(platform))
}

/// The outside-window error of `platform` (reference §5d).
pub fn outside_window(platform: Platform) -> GraphError {
    match platform {
        Platform::Instagram => GraphError::instagram_outside_window(),
        Platform::Messenger | Platform::WhatsApp => GraphError::messenger_outside_window(),
    }
}

/// Whether WhatsApp delivers a free-form (non-template) message: only inside the customer
/// service window (reference §5c). Outside it Meta still accepts the request and then
/// reports 131047 in a `failed` status.
pub fn whatsapp_free_form_open(now: DateTime<Utc>, last_inbound: Option<DateTime<Utc>>) -> bool {
    within(now, last_inbound, STANDARD_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;

    /// Elapsed seconds since the user's message, type, tag, approved, expected
    /// (code, subcode).
    type Case = (
        Option<i64>,
        MessagingType,
        Option<&'static str>,
        bool,
        Option<(u32, Option<u32>)>,
    );

    #[test]
    fn messaging_windows_table() {
        use MessagingType::*;
        let cases: &[Case] = &[
            (Some(0), Response, None, false, None),
            (Some(-60), Response, None, false, None),
            (Some(DAY - 1), Response, None, false, None),
            (Some(DAY - 1), Update, None, false, None),
            (
                Some(DAY),
                Response,
                None,
                false,
                Some((10, Some(2_018_278))),
            ),
            (Some(DAY), Update, None, true, Some((10, Some(2_018_278)))),
            (Some(DAY), MessageTag, Some("HUMAN_AGENT"), true, None),
            (
                Some(7 * DAY - 1),
                MessageTag,
                Some("HUMAN_AGENT"),
                true,
                None,
            ),
            (
                Some(7 * DAY),
                MessageTag,
                Some("HUMAN_AGENT"),
                true,
                Some((10, Some(2_018_278))),
            ),
            (
                Some(2 * DAY),
                MessageTag,
                Some("HUMAN_AGENT"),
                false,
                Some((10, None)),
            ),
            (
                Some(HOUR),
                MessageTag,
                Some("HUMAN_AGENT"),
                false,
                Some((10, None)),
            ),
            (Some(HOUR), MessageTag, Some("HUMAN_AGENT"), true, None),
            // Other tags open nothing beyond the standard window.
            (
                Some(2 * DAY),
                MessageTag,
                Some("ACCOUNT_UPDATE"),
                true,
                Some((10, Some(2_018_278))),
            ),
            (Some(HOUR), MessageTag, Some("ACCOUNT_UPDATE"), true, None),
            // A tag without MESSAGE_TAG does not count.
            (
                Some(2 * DAY),
                Response,
                Some("HUMAN_AGENT"),
                true,
                Some((10, Some(2_018_278))),
            ),
            (None, Response, None, true, Some((10, Some(2_018_278)))),
            (
                None,
                MessageTag,
                Some("HUMAN_AGENT"),
                true,
                Some((10, Some(2_018_278))),
            ),
        ];
        let now = at(10 * DAY);
        for &(elapsed, kind, tag, approved, expected) in cases {
            let last = elapsed.map(|e| at(10 * DAY - e));
            let got = check_messaging(Platform::Messenger, now, last, kind, tag, approved)
                .err()
                .map(|e| (e.code, e.subcode));
            assert_eq!(
                got, expected,
                "{elapsed:?} {kind:?} {tag:?} approved={approved}"
            );
        }
    }

    #[test]
    fn instagram_has_its_own_subcode() {
        let now = at(0);
        let error = check_messaging(
            Platform::Instagram,
            now,
            Some(at(-DAY)),
            MessagingType::Response,
            None,
            true,
        )
        .unwrap_err();
        assert_eq!((error.code, error.subcode), (10, Some(2_534_022)));
    }

    #[test]
    fn whatsapp_free_form_window_is_half_open() {
        let now = at(0);
        assert!(whatsapp_free_form_open(now, Some(at(-DAY + 1))));
        assert!(!whatsapp_free_form_open(now, Some(at(-DAY))));
        assert!(!whatsapp_free_form_open(now, None));
        assert_eq!(
            MessagingType::parse("MESSAGE_TAG"),
            Some(MessagingType::MessageTag)
        );
        assert_eq!(MessagingType::parse("response"), None);
    }
}
