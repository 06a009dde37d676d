//! A channel's settings as every desktop sees them: escalation rules, business hours,
//! opt-out keywords, retention. (The access token is a setting too, but it is write-only
//! and never leaves the relay, so it has no place here.)

use serde::{Deserialize, Serialize};

/// What an admin can tune on a channel, besides its name, token and HUMAN_AGENT approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ChannelSettings {
    pub escalation: EscalationRules,
    /// When the team answers; `None` means always. Waiting-time escalations count only
    /// the time inside these hours, so a message at 23:00 does not page anyone at 23:30.
    pub business_hours: Option<BusinessHours>,
    pub opt_out: OptOutKeywords,
    /// Days the relay keeps a conversation's messages; `None` keeps them until erased.
    pub retention_days: Option<u32>,
}

/// When a conversation is handed to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct EscalationRules {
    /// Words (or phrases) that, anywhere in a customer's message, ask for a person.
    /// Matched as whole words, ignoring case and accents.
    pub keywords: Vec<String>,
    /// Escalate when the customer has waited this long for an answer.
    pub customer_waiting_minutes: Option<u32>,
    /// Escalate when the reply window closes within this many minutes, unanswered.
    pub window_closing_minutes: Option<u32>,
    /// Escalate when a reply cannot be sent.
    pub on_failed_send: bool,
}

impl Default for EscalationRules {
    fn default() -> Self {
        Self {
            keywords: ["human", "humano", "agente", "persona"]
                .map(String::from)
                .to_vec(),
            customer_waiting_minutes: Some(30),
            window_closing_minutes: Some(120),
            on_failed_send: true,
        }
    }
}

/// The keywords that opt a contact out of (or back into) marketing messages. A message
/// counts only when it is the keyword alone (ignoring case, accents, spaces and final
/// punctuation), so "please don't stop" opts nobody out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct OptOutKeywords {
    pub stop: Vec<String>,
    pub resume: Vec<String>,
}

impl Default for OptOutKeywords {
    fn default() -> Self {
        Self {
            stop: ["STOP", "BAJA", "UNSUBSCRIBE"].map(String::from).to_vec(),
            resume: ["START", "ALTA", "SUBSCRIBE"].map(String::from).to_vec(),
        }
    }
}

/// Opening hours in the team's own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct BusinessHours {
    /// An IANA zone, e.g. `America/Mexico_City`.
    pub timezone: String,
    /// At most one span per weekday; a day not listed is closed.
    pub days: Vec<DayHours>,
}

/// One weekday's opening span, `open` < `close`, as `HH:MM` local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DayHours {
    pub day: Weekday,
    pub open: String,
    pub close: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub fn from_chrono(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Self::Mon,
            chrono::Weekday::Tue => Self::Tue,
            chrono::Weekday::Wed => Self::Wed,
            chrono::Weekday::Thu => Self::Thu,
            chrono::Weekday::Fri => Self::Fri,
            chrono::Weekday::Sat => Self::Sat,
            chrono::Weekday::Sun => Self::Sun,
        }
    }
}

/// Parses `HH:MM` (24-hour) into minutes after midnight.
pub fn minutes_of_day(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u32 = hours.parse().ok()?;
    let minutes: u32 = minutes.parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(minutes_of_day("09:30"), Some(570));
        assert_eq!(minutes_of_day("00:00"), Some(0));
        assert_eq!(minutes_of_day("23:59"), Some(1439));
        for bad in ["24:00", "9:30", "09:60", "0930", "", "aa:bb", "09:3"] {
            assert_eq!(minutes_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn missing_fields_take_defaults() {
        let settings: ChannelSettings = serde_json::from_str(r#"{"retention_days":30}"#).unwrap();
        assert_eq!(settings.retention_days, Some(30));
        assert_eq!(settings.escalation, EscalationRules::default());
        assert!(settings.opt_out.stop.contains(&"BAJA".to_owned()));
    }
}
