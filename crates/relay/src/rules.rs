//! A channel's rules, applied: which customer messages ask for a human or opt out, which
//! waiting conversations are due an escalation, and whether new settings make sense.
//!
//! Pure: the settings, the message and the time come in, decisions go out. The intake and
//! the sweeper (see `sweeper`) turn the decisions into events with stable ids, so a rule
//! that fires twice for the same cause is stored once.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use unicode_normalization::UnicodeNormalization;
use ventana_protocol::EventBody;
use ventana_protocol::event::{ConsentSource, EscalationReason, MessageContent};
use ventana_protocol::settings::{BusinessHours, ChannelSettings, Weekday, minutes_of_day};
use ventana_protocol::window::STANDARD_WINDOW;

/// Lower-case, accents removed, split into words: "¿Hablo con un HUMANO?" → ["hablo",
/// "con", "un", "humano"].
fn words(text: &str) -> Vec<String> {
    split(&fold(text)).into_iter().map(str::to_owned).collect()
}

/// Lower-case with accents removed.
fn fold(text: &str) -> String {
    // Most messages are plain ASCII, which has no accents to take off: lower-casing it
    // in place gives the same words without decomposing every character.
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .collect::<String>()
            .to_lowercase()
    }
}

/// The words of folded text, borrowed from it: a message is matched without a string
/// per word.
fn split(folded: &str) -> Vec<&str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect()
}

/// Whether the words said are exactly the words wanted.
fn same(said: &[&str], wanted: &[String]) -> bool {
    said.len() == wanted.len() && said.iter().zip(wanted).all(|(a, b)| *a == b)
}

/// The text a customer typed or tapped, if any.
fn customer_text(body: &EventBody) -> Option<&str> {
    let EventBody::MessageReceived(message) = body else {
        return None;
    };
    match &message.content {
        MessageContent::Text { body } => Some(body),
        MessageContent::InteractiveReply { title, .. } => Some(title),
        MessageContent::Button { text, .. } => Some(text),
        MessageContent::Postback { title, .. } => Some(title),
        _ => None,
    }
}

/// What an opt-out keyword did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    OptedOut(ConsentSource),
    OptedIn(ConsentSource),
}

/// A keyword as configured, and the words it matches.
type Keyword = (String, Vec<String>);

/// A channel's keyword rules, each keyword split into words once (the intake keeps them
/// with the channel's route), so that a message costs one pass over its own text.
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    escalation: Vec<Keyword>,
    stop: Vec<Keyword>,
    resume: Vec<Keyword>,
}

/// What a channel's keyword rules make of one customer message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matched {
    /// The first escalation keyword found, as a whole word or phrase.
    pub escalation: Option<String>,
    /// An opt-out or resume keyword, when the message is that keyword alone.
    pub consent: Option<Consent>,
}

impl Keywords {
    pub fn new(settings: &ChannelSettings) -> Self {
        let compile = |keywords: &[String]| -> Vec<Keyword> {
            keywords
                .iter()
                .map(|keyword| (keyword.clone(), words(keyword)))
                .filter(|(_, wanted)| !wanted.is_empty())
                .collect()
        };
        Self {
            escalation: compile(&settings.escalation.keywords),
            stop: compile(&settings.opt_out.stop),
            resume: compile(&settings.opt_out.resume),
        }
    }

    pub fn apply(&self, body: &EventBody) -> Matched {
        let Some(text) = customer_text(body) else {
            return Matched::default();
        };
        if self.escalation.is_empty() && self.stop.is_empty() && self.resume.is_empty() {
            return Matched::default();
        }
        let folded = fold(text);
        let said = split(&folded);
        let escalation = self
            .escalation
            .iter()
            .find(|(_, wanted)| {
                said.windows(wanted.len())
                    .any(|window| same(window, wanted))
            })
            .map(|(keyword, _)| keyword.clone());
        let alone = |keywords: &[Keyword]| {
            keywords
                .iter()
                .find(|(_, wanted)| same(&said, wanted))
                .map(|(keyword, _)| ConsentSource::Keyword {
                    keyword: keyword.clone(),
                })
        };
        let consent = alone(&self.stop)
            .map(Consent::OptedOut)
            .or_else(|| alone(&self.resume).map(Consent::OptedIn));
        Matched {
            escalation,
            consent,
        }
    }
}

/// An escalation the sweeper should record, with the stable part of its event id.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEscalation {
    pub reason: EscalationReason,
    /// Distinguishes the cause: one escalation per rule per customer message.
    pub id_suffix: String,
}

/// The time-based escalations due for a conversation whose customer last wrote at
/// `last_inbound` and has had no answer since.
pub fn due_escalations(
    settings: &ChannelSettings,
    last_inbound: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<DueEscalation> {
    let mut due = Vec::new();
    let stamp = last_inbound.timestamp_millis();
    if let Some(limit) = settings.escalation.customer_waiting_minutes {
        let waited = business_minutes_between(settings.business_hours.as_ref(), last_inbound, now);
        if waited >= i64::from(limit) {
            due.push(DueEscalation {
                reason: EscalationReason::CustomerWaiting { minutes: limit },
                id_suffix: format!("waiting:{stamp}"),
            });
        }
    }
    if let Some(minutes) = settings.escalation.window_closing_minutes {
        // The standard window is the one an unanswered customer loses; on Messenger and
        // Instagram a human may still answer tagged afterwards, but the standard reply
        // (and on WhatsApp any free-form reply) ends here.
        let closes_at = last_inbound + STANDARD_WINDOW;
        if now < closes_at && closes_at - now <= TimeDelta::minutes(i64::from(minutes)) {
            due.push(DueEscalation {
                reason: EscalationReason::WindowClosing { closes_at },
                id_suffix: format!("window:{stamp}"),
            });
        }
    }
    due
}

/// Minutes between `from` and `to` that fall inside business hours (all of them when the
/// channel has none). Counted minute by minute over at most 8 days, which is as far as
/// any window reaches.
pub fn business_minutes_between(
    hours: Option<&BusinessHours>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    let total = (to - from).num_minutes().max(0);
    let Some(hours) = hours else {
        return total;
    };
    let Ok(zone) = hours.timezone.parse::<chrono_tz::Tz>() else {
        return total;
    };
    let spans: Vec<(Weekday, u32, u32)> = hours
        .days
        .iter()
        .filter_map(|day| {
            Some((
                day.day,
                minutes_of_day(&day.open)?,
                minutes_of_day(&day.close)?,
            ))
        })
        .collect();
    let limit = total.min(8 * 24 * 60);
    let mut open_minutes = 0;
    for minute in 0..limit {
        let at = zone.from_utc_datetime(&(from + TimeDelta::minutes(minute)).naive_utc());
        let weekday = Weekday::from_chrono(at.weekday());
        let of_day = at.hour() * 60 + at.minute();
        if spans
            .iter()
            .any(|(day, open, close)| *day == weekday && (*open..*close).contains(&of_day))
        {
            open_minutes += 1;
        }
    }
    open_minutes
}

/// Why new settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSettings(pub String);

/// Checks settings an admin submitted; the message says what to fix.
pub fn validate(settings: &ChannelSettings) -> Result<(), InvalidSettings> {
    let invalid = |message: String| Err(InvalidSettings(message));
    for (list, what) in [
        (&settings.escalation.keywords, "escalation keyword"),
        (&settings.opt_out.stop, "opt-out keyword"),
        (&settings.opt_out.resume, "resume keyword"),
    ] {
        if list.len() > 100 {
            return invalid(format!("at most 100 of each {what}"));
        }
        if let Some(bad) = list.iter().find(|k| words(k).is_empty() || k.len() > 100) {
            return invalid(format!(
                "{what} {bad:?} must hold a letter or digit and be at most 100 bytes"
            ));
        }
    }
    for (minutes, what) in [
        (
            settings.escalation.customer_waiting_minutes,
            "customer_waiting_minutes",
        ),
        (
            settings.escalation.window_closing_minutes,
            "window_closing_minutes",
        ),
    ] {
        if minutes.is_some_and(|m| m == 0 || m > 7 * 24 * 60) {
            return invalid(format!("{what} must be between 1 and 10080"));
        }
    }
    if settings.retention_days.is_some_and(|d| d == 0 || d > 36500) {
        return invalid("retention_days must be between 1 and 36500".into());
    }
    if let Some(hours) = &settings.business_hours {
        if hours.timezone.parse::<chrono_tz::Tz>().is_err() {
            return invalid(format!(
                "business_hours.timezone {:?} is not an IANA time zone (e.g. \"Europe/Madrid\")",
                hours.timezone
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for day in &hours.days {
            if !seen.insert(day.day) {
                return invalid(format!("business_hours lists {:?} twice", day.day));
            }
            match (minutes_of_day(&day.open), minutes_of_day(&day.close)) {
                (Some(open), Some(close)) if open < close => {}
                _ => {
                    return invalid(format!(
                        "business_hours for {:?}: open and close must be HH:MM with open before close",
                        day.day
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ventana_protocol::event::InboundMessage;
    use ventana_protocol::settings::DayHours;

    fn text(body: &str) -> EventBody {
        EventBody::MessageReceived(InboundMessage {
            message_id: "m".into(),
            content: MessageContent::Text { body: body.into() },
            sender_name: None,
            reply_to: None,
            referral: None,
        })
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn escalation_keyword(settings: &ChannelSettings, body: &EventBody) -> Option<String> {
        Keywords::new(settings).apply(body).escalation
    }

    fn consent_keyword(settings: &ChannelSettings, body: &EventBody) -> Option<Consent> {
        Keywords::new(settings).apply(body).consent
    }

    #[test]
    fn plain_ascii_and_unicode_text_split_into_the_same_words() {
        assert_eq!(words("Hello, HUMAN agent!"), ["hello", "human", "agent"]);
        assert_eq!(
            words("¿Hablo con un HUMANO?"),
            ["hablo", "con", "un", "humano"]
        );
        assert_eq!(words("ATENCIÓN  al cliente"), ["atencion", "al", "cliente"]);
        assert_eq!(words("...!!!"), Vec::<String>::new());
    }

    #[test]
    fn a_message_can_escalate_and_opt_out_at_once() {
        let mut settings = ChannelSettings::default();
        settings.escalation.keywords = vec!["stop".into()];
        let matched = Keywords::new(&settings).apply(&text("STOP"));
        assert_eq!(matched.escalation.as_deref(), Some("stop"));
        assert!(matches!(matched.consent, Some(Consent::OptedOut(_))));
        // No rules, or a message without text: nothing.
        assert_eq!(Keywords::default().apply(&text("stop")), Matched::default());
    }

    #[test]
    fn escalation_keywords_match_whole_words_ignoring_case_and_accents() {
        let settings = ChannelSettings::default();
        assert_eq!(
            escalation_keyword(&settings, &text("¿Puedo hablar con un HUMANO?")),
            Some("humano".into())
        );
        assert_eq!(
            escalation_keyword(&settings, &text("I want a human!")),
            Some("human".into())
        );
        assert_eq!(
            escalation_keyword(&settings, &text("humanity is great")),
            None
        );
        let mut accented = ChannelSettings::default();
        accented.escalation.keywords = vec!["atención al cliente".into()];
        assert!(escalation_keyword(&accented, &text("ATENCION al  cliente por favor")).is_some());
        assert_eq!(escalation_keyword(&accented, &text("atención")), None);
    }

    #[test]
    fn opt_out_needs_the_keyword_alone() {
        let settings = ChannelSettings::default();
        assert!(matches!(
            consent_keyword(&settings, &text("  Stop. ")),
            Some(Consent::OptedOut(ConsentSource::Keyword { keyword })) if keyword == "STOP"
        ));
        assert!(matches!(
            consent_keyword(&settings, &text("baja")),
            Some(Consent::OptedOut(_))
        ));
        assert!(matches!(
            consent_keyword(&settings, &text("ALTA")),
            Some(Consent::OptedIn(_))
        ));
        assert_eq!(consent_keyword(&settings, &text("please don't stop")), None);
    }

    #[test]
    fn waiting_counts_only_business_minutes() {
        let hours = BusinessHours {
            timezone: "Europe/Madrid".into(),
            days: vec![DayHours {
                day: Weekday::Mon,
                open: "09:00".into(),
                close: "18:00".into(),
            }],
        };
        // Monday 2026-11-23, Madrid is UTC+1: 17:30 local to 10:00 local Tuesday → 30 min.
        let minutes = business_minutes_between(
            Some(&hours),
            at("2026-11-23T16:30:00Z"),
            at("2026-11-24T09:00:00Z"),
        );
        assert_eq!(minutes, 30);
        assert_eq!(
            business_minutes_between(None, at("2026-11-23T16:30:00Z"), at("2026-11-23T17:00:00Z")),
            30
        );
    }

    #[test]
    fn escalations_fall_due_once_their_limits_pass() {
        let settings = ChannelSettings::default(); // 30 min waiting, 120 min before closing
        let last = at("2026-11-23T10:00:00Z");
        assert!(due_escalations(&settings, last, at("2026-11-23T10:29:00Z")).is_empty());
        let due = due_escalations(&settings, last, at("2026-11-23T10:30:00Z"));
        assert_eq!(due.len(), 1);
        assert!(matches!(
            due[0].reason,
            EscalationReason::CustomerWaiting { minutes: 30 }
        ));
        let late = due_escalations(&settings, last, at("2026-11-24T08:30:00Z"));
        assert!(
            late.iter()
                .any(|d| matches!(d.reason, EscalationReason::WindowClosing { .. }))
        );
        let closed = due_escalations(&settings, last, at("2026-11-24T10:00:00Z"));
        assert!(
            !closed
                .iter()
                .any(|d| matches!(d.reason, EscalationReason::WindowClosing { .. }))
        );
    }

    #[test]
    fn invalid_settings_are_explained() {
        let mut settings = ChannelSettings {
            business_hours: Some(BusinessHours {
                timezone: "Mars/Olympus".into(),
                days: vec![],
            }),
            ..Default::default()
        };
        assert!(validate(&settings).unwrap_err().0.contains("IANA"));
        settings.business_hours = Some(BusinessHours {
            timezone: "UTC".into(),
            days: vec![DayHours {
                day: Weekday::Tue,
                open: "18:00".into(),
                close: "09:00".into(),
            }],
        });
        assert!(
            validate(&settings)
                .unwrap_err()
                .0
                .contains("open before close")
        );
        let mut keywords = ChannelSettings::default();
        keywords.opt_out.stop = vec!["!!!".into()];
        assert!(validate(&keywords).is_err());
        assert!(validate(&ChannelSettings::default()).is_ok());
    }
}
