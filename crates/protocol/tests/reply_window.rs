//! The reply-window policy as a specification: one row per rule and per boundary.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ventana_protocol::ChannelKind::{self, Instagram, Messenger, WhatsApp};
use ventana_protocol::event::TemplateCategory;
use ventana_protocol::window::{
    ClosedReason, ProposedReply, Refusal, ReplyContext, ReplyMode, SendAs, SenderKind,
    TemplateAccess, reply_window,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

fn context(channel: ChannelKind, ago: Option<TimeDelta>) -> ReplyContext {
    ReplyContext {
        channel,
        last_customer_message_at: ago.map(|ago| now() - ago),
        sender: SenderKind::HumanAgent,
        human_agent_approved: true,
        marketing_opted_out: false,
    }
}

const NS: TimeDelta = TimeDelta::nanoseconds(1);
const DAY: TimeDelta = TimeDelta::days(1);
const WEEK: TimeDelta = TimeDelta::days(7);

/// (case, channel, time since the customer's last message, expected mode, expected change)
type Row = (
    &'static str,
    ChannelKind,
    Option<TimeDelta>,
    ReplyMode,
    Option<TimeDelta>,
);

#[test]
fn modes_and_next_changes_at_every_boundary() {
    use ReplyMode::*;
    let rows: Vec<Row> = vec![
        // Messenger and Instagram: standard, then HUMAN_AGENT, then closed.
        (
            "messenger just now",
            Messenger,
            Some(TimeDelta::zero()),
            Standard,
            Some(DAY),
        ),
        (
            "messenger 1 ns before 24 h",
            Messenger,
            Some(DAY - NS),
            Standard,
            Some(NS),
        ),
        (
            "messenger exactly 24 h",
            Messenger,
            Some(DAY),
            HumanAgent,
            Some(WEEK - DAY),
        ),
        (
            "messenger 3 days",
            Messenger,
            Some(hours(72)),
            HumanAgent,
            Some(WEEK - hours(72)),
        ),
        (
            "messenger 1 ns before 7 days",
            Messenger,
            Some(WEEK - NS),
            HumanAgent,
            Some(NS),
        ),
        (
            "messenger exactly 7 days",
            Messenger,
            Some(WEEK),
            Closed(ClosedReason::Expired),
            None,
        ),
        (
            "messenger 30 days",
            Messenger,
            Some(DAY * 30),
            Closed(ClosedReason::Expired),
            None,
        ),
        (
            "messenger never wrote",
            Messenger,
            None,
            Closed(ClosedReason::NoCustomerMessage),
            None,
        ),
        (
            "instagram within 24 h",
            Instagram,
            Some(hours(5)),
            Standard,
            Some(hours(19)),
        ),
        (
            "instagram exactly 24 h",
            Instagram,
            Some(DAY),
            HumanAgent,
            Some(WEEK - DAY),
        ),
        (
            "instagram exactly 7 days",
            Instagram,
            Some(WEEK),
            Closed(ClosedReason::Expired),
            None,
        ),
        (
            "instagram never wrote",
            Instagram,
            None,
            Closed(ClosedReason::NoCustomerMessage),
            None,
        ),
        // WhatsApp: free-form for 24 h, then templates only, forever.
        (
            "whatsapp just now",
            WhatsApp,
            Some(TimeDelta::zero()),
            Standard,
            Some(DAY),
        ),
        (
            "whatsapp 1 ns before 24 h",
            WhatsApp,
            Some(DAY - NS),
            Standard,
            Some(NS),
        ),
        (
            "whatsapp exactly 24 h",
            WhatsApp,
            Some(DAY),
            TemplateOnly,
            None,
        ),
        (
            "whatsapp 3 days",
            WhatsApp,
            Some(hours(72)),
            TemplateOnly,
            None,
        ),
        (
            "whatsapp 30 days",
            WhatsApp,
            Some(DAY * 30),
            TemplateOnly,
            None,
        ),
        ("whatsapp never wrote", WhatsApp, None, TemplateOnly, None),
    ];
    for (case, channel, ago, mode, change) in rows {
        let window = reply_window(&context(channel, ago), now());
        assert_eq!(window.mode, mode, "{case}: mode");
        assert_eq!(
            window.changes_at,
            change.map(|c| now() + c),
            "{case}: changes_at"
        );
    }
}

#[test]
fn after_24_hours_messenger_and_instagram_need_a_human_on_an_approved_channel() {
    for channel in [Messenger, Instagram] {
        let base = context(channel, Some(hours(30)));
        let automated = ReplyContext {
            sender: SenderKind::Automated,
            ..base
        };
        let unapproved = ReplyContext {
            human_agent_approved: false,
            ..base
        };
        assert_eq!(reply_window(&base, now()).mode, ReplyMode::HumanAgent);
        assert_eq!(
            reply_window(&automated, now()).mode,
            ReplyMode::Closed(ClosedReason::HumanAgentOnly),
            "{channel}: never tag automated messages"
        );
        assert_eq!(
            reply_window(&unapproved, now()).mode,
            ReplyMode::Closed(ClosedReason::HumanAgentNotApproved),
            "{channel}: no HUMAN_AGENT approval"
        );
        // Both become plainly expired at 7 days, which is when the countdown points.
        for ctx in [automated, unapproved] {
            let window = reply_window(&ctx, now());
            assert_eq!(window.changes_at, Some(now() - hours(30) + WEEK));
            assert_eq!(
                reply_window(&ctx, now() - hours(30) + WEEK).mode,
                ReplyMode::Closed(ClosedReason::Expired)
            );
        }
    }
}

#[test]
fn automated_and_unapproved_senders_are_not_limited_inside_24_hours() {
    for channel in ChannelKind::ALL {
        let ctx = ReplyContext {
            sender: SenderKind::Automated,
            human_agent_approved: false,
            ..context(channel, Some(hours(23)))
        };
        assert_eq!(
            reply_window(&ctx, now()).mode,
            ReplyMode::Standard,
            "{channel}"
        );
    }
}

#[test]
fn whatsapp_after_24_hours_is_the_same_for_bots_and_people() {
    let ctx = ReplyContext {
        sender: SenderKind::Automated,
        ..context(WhatsApp, Some(hours(25)))
    };
    assert_eq!(reply_window(&ctx, now()).mode, ReplyMode::TemplateOnly);
}

#[test]
fn a_last_message_in_the_future_counts_from_now() {
    // Our clock is 10 minutes behind the platform's: the window must not outlast Meta's.
    for channel in ChannelKind::ALL {
        let ctx = ReplyContext {
            last_customer_message_at: Some(now() + TimeDelta::minutes(10)),
            ..context(channel, None)
        };
        let window = reply_window(&ctx, now());
        assert_eq!(window.mode, ReplyMode::Standard, "{channel}");
        assert_eq!(window.since, Some(now()), "{channel}");
        assert_eq!(window.changes_at, Some(now() + DAY), "{channel}");
    }
}

#[test]
fn since_says_when_the_current_mode_began() {
    let last = now() - hours(30);
    let messenger = reply_window(&context(Messenger, Some(hours(30))), now());
    assert_eq!(messenger.since, Some(last + DAY));
    let expired = reply_window(&context(Messenger, Some(DAY * 9)), now());
    assert_eq!(expired.since, Some(now() - DAY * 9 + WEEK));
    let whatsapp = reply_window(&context(WhatsApp, Some(hours(27))), now());
    assert_eq!(whatsapp.since, Some(now() - hours(3)), "closed 3 h ago");
    assert_eq!(reply_window(&context(WhatsApp, None), now()).since, None);
}

#[test]
fn marketing_templates_are_blocked_after_an_opt_out_and_others_still_go() {
    let marketing = ProposedReply::Template {
        category: TemplateCategory::Marketing,
    };
    let utility = ProposedReply::Template {
        category: TemplateCategory::Utility,
    };
    let authentication = ProposedReply::Template {
        category: TemplateCategory::Authentication,
    };
    for ago in [Some(hours(1)), Some(hours(48)), None] {
        let opted_out = ReplyContext {
            marketing_opted_out: true,
            ..context(WhatsApp, ago)
        };
        let window = reply_window(&opted_out, now());
        assert_eq!(window.templates, TemplateAccess::NoMarketing);
        assert_eq!(window.check(marketing), Err(Refusal::MarketingOptedOut));
        assert_eq!(window.check(utility), Ok(SendAs::Template));
        assert_eq!(window.check(authentication), Ok(SendAs::Template));

        let opted_in = reply_window(&context(WhatsApp, ago), now());
        assert_eq!(opted_in.templates, TemplateAccess::All);
        assert_eq!(opted_in.check(marketing), Ok(SendAs::Template));
    }
    // Inside the window an opted-out contact still gets free-form replies.
    let in_window = ReplyContext {
        marketing_opted_out: true,
        ..context(WhatsApp, Some(hours(2)))
    };
    assert_eq!(
        reply_window(&in_window, now()).check(ProposedReply::FreeForm),
        Ok(SendAs::Standard)
    );
}

#[test]
fn check_says_how_a_reply_goes_out_or_why_not() {
    let free = ProposedReply::FreeForm;
    let utility = ProposedReply::Template {
        category: TemplateCategory::Utility,
    };
    let window = |channel, ago| reply_window(&context(channel, ago), now());

    assert_eq!(
        window(Messenger, Some(hours(2))).check(free),
        Ok(SendAs::Standard)
    );
    assert_eq!(
        window(Messenger, Some(hours(30))).check(free),
        Ok(SendAs::HumanAgentTag)
    );
    assert_eq!(
        window(Instagram, Some(hours(30))).check(free),
        Ok(SendAs::HumanAgentTag)
    );
    assert_eq!(
        window(Messenger, Some(DAY * 8)).check(free),
        Err(Refusal::Closed {
            reason: ClosedReason::Expired
        })
    );
    assert_eq!(
        window(Instagram, Some(hours(2))).check(utility),
        Err(Refusal::NoTemplatesOnChannel)
    );
    assert_eq!(
        window(WhatsApp, Some(hours(2))).check(free),
        Ok(SendAs::Standard)
    );
    assert_eq!(
        window(WhatsApp, Some(hours(2))).check(utility),
        Ok(SendAs::Template)
    );
    assert_eq!(
        window(WhatsApp, Some(hours(27))).check(free),
        Err(Refusal::TemplateRequired {
            since: Some(now() - hours(3))
        })
    );
    assert_eq!(
        window(WhatsApp, None).check(free),
        Err(Refusal::TemplateRequired { since: None })
    );
}
