//! Properties of the reply-window policy that must hold for every input.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use ventana_protocol::ChannelKind;
use ventana_protocol::window::{ProposedReply, ReplyContext, SendAs, SenderKind, reply_window};

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2020..2040, to the nanosecond.
    (1_577_836_800i64..2_208_988_800i64, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).single().unwrap_or_default())
}

fn channel() -> impl Strategy<Value = ChannelKind> {
    prop::sample::select(ChannelKind::ALL.to_vec())
}

/// A context whose last customer message lies at or before `now`, up to 30 days back.
fn context_and_now() -> impl Strategy<Value = (ReplyContext, DateTime<Utc>)> {
    (
        channel(),
        prop::option::of(0i64..30 * 24 * 3600 * 1_000_000_000),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::bool::ANY,
        instant(),
    )
        .prop_map(|(channel, ago_ns, human, approved, opted_out, now)| {
            let context = ReplyContext {
                channel,
                last_customer_message_at: ago_ns.map(|ns| now - TimeDelta::nanoseconds(ns)),
                sender: if human {
                    SenderKind::HumanAgent
                } else {
                    SenderKind::Automated
                },
                human_agent_approved: approved,
                marketing_opted_out: opted_out,
            };
            (context, now)
        })
}

proptest! {
    /// `changes_at` is exactly where the mode changes: the same mode just before it, a
    /// different one at it. This is what the UI's countdown relies on.
    #[test]
    fn the_mode_holds_until_changes_at_and_changes_there((context, now) in context_and_now()) {
        let window = reply_window(&context, now);
        if let Some(change) = window.changes_at {
            prop_assert!(change > now);
            let just_before = change - TimeDelta::nanoseconds(1);
            prop_assert_eq!(reply_window(&context, just_before).mode, window.mode);
            prop_assert_ne!(reply_window(&context, change).mode, window.mode);
        } else {
            // Nothing changes any more: a year later the answer is the same.
            let later = now + TimeDelta::days(365);
            prop_assert_eq!(reply_window(&context, later).mode, window.mode);
        }
    }

    /// An automated message is never tagged HUMAN_AGENT, whatever the input.
    #[test]
    fn automated_replies_are_never_tagged((context, now) in context_and_now()) {
        let context = ReplyContext { sender: SenderKind::Automated, ..context };
        let decision = reply_window(&context, now).check(ProposedReply::FreeForm);
        prop_assert_ne!(decision, Ok(SendAs::HumanAgentTag));
    }

    /// A new customer message never makes replying harder than it was.
    #[test]
    fn a_new_customer_message_always_allows_a_standard_reply((context, now) in context_and_now()) {
        let fresh = ReplyContext { last_customer_message_at: Some(now), ..context };
        prop_assert_eq!(
            reply_window(&fresh, now).check(ProposedReply::FreeForm),
            Ok(SendAs::Standard)
        );
    }
}
