//! Desktop notifications against a real notification daemon (dunst) on a real D-Bus.
//!
//! Each test re-runs itself (this binary, filtered to the one test; `ventana_desktop_session`) inside a private D-Bus
//! session: `dbus-run-session` with a bus configuration that activates no services, so
//! nothing on the machine's own session is touched and nothing but our dunst can answer.
//! Inside, the test starts its own Xvfb (dunst draws on X) and dunst, and watches the bus
//! with `dbus-monitor` to see exactly what was sent.
//!
//! Needs `dbus-run-session`, `dbus-monitor`, `dbus-send` (package dbus), `Xvfb`, `dunst` and
//! `dunstctl` (package dunst), which `scripts/setup-debian` installs. Without them the
//! tests fail and say what is missing; they never skip.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;
use ventana_desktop_session::{
    BusWatch, Keyring, WITHIN, click_first_notification, dunstctl, is_child, run_child,
    run_in_private_session, start_dunst, start_xvfb,
};
use ventana_inbox::notify::{
    DesktopNotifier, Notice, NoticeContext, NoticeKind, Notifier, NotifyError, OpenRequest,
    notice_for,
};
use ventana_protocol::event::{EscalationReason, InboundMessage, MessageContent};
use ventana_protocol::ids::AgentId;
use ventana_protocol::{Event, EventBody};

fn event(conversation: &str, body: EventBody) -> Event {
    let now = Utc::now();
    Event {
        id: format!("ev-{conversation}").as_str().into(),
        tenant: "acme".into(),
        channel: "wa-1".into(),
        contact: Some("contact-1".into()),
        conversation: Some(conversation.into()),
        occurred_at: now - TimeDelta::seconds(5),
        recorded_at: now,
        body,
    }
}

fn notice(event: &Event) -> Notice {
    let me = AgentId::from("agent-1");
    let context = NoticeContext {
        account: "relay.example|acme|agent-1",
        account_label: "Acme Soporte",
        my_agent: &me,
        assignee: Some(&me),
        contact_name: Some("Ana García"),
        muted: false,
        now: Utc::now(),
        live: true,
    };
    notice_for(event, &context).expect("this event deserves a notice")
}

fn expect_open(clicks: &mpsc::Receiver<OpenRequest>, conversation: &str) {
    let request = clicks
        .recv_timeout(WITHIN)
        .unwrap_or_else(|_| panic!("no click on {conversation} reached the app in {WITHIN:?}"));
    assert_eq!(
        request,
        OpenRequest {
            account: "relay.example|acme|agent-1".into(),
            conversation: conversation.into(),
        }
    );
}

#[test]
fn notices_reach_the_daemon_and_a_click_opens_the_conversation() {
    let test = "notices_reach_the_daemon_and_a_click_opens_the_conversation";
    if !is_child(test) {
        return run_in_private_session(test, Keyring::None);
    }
    let config_home = tempfile::tempdir().unwrap();
    let (_xvfb, display) = start_xvfb();
    let watch = BusWatch::start();
    let _dunst = start_dunst(&display, config_home.path());

    let (clicked, clicks) = mpsc::channel();
    let notifier = DesktopNotifier::new(move |request| {
        let _ = clicked.send(request);
    });

    // An escalation: critical, says who and why.
    let escalation = notice(&event(
        "conv-escalated",
        EventBody::Escalated {
            reason: EscalationReason::Keyword {
                keyword: "humano".into(),
            },
        },
    ));
    assert_eq!(escalation.kind, NoticeKind::Escalation);
    notifier.show(&escalation).unwrap();
    let call = watch.notify_call("Escalated: Ana García");
    assert!(call.contains("string \"Ventana\""), "{call}");
    assert!(
        call.contains("Asked for a person: the customer wrote “humano”."),
        "{call}"
    );
    assert!(call.contains("Acme Soporte"), "{call}");
    assert!(
        call.contains("string \"default\"") && call.contains("string \"Open\""),
        "{call}"
    );
    assert!(
        call.contains("string \"urgency\"") && call.contains("byte 2"),
        "{call}"
    );

    click_first_notification();
    expect_open(&clicks, "conv-escalated");
    // dunst keeps a clicked notice on screen (and sorts critical ones first); dismissing
    // it must not open anything.
    dunstctl(&["close-all"]);

    // A customer's message in my conversation: normal urgency, shown as typed (the
    // customer's "<b>" is text, not markup).
    let message = notice(&event(
        "conv-mine",
        EventBody::MessageReceived(InboundMessage {
            message_id: "m-1".into(),
            content: MessageContent::Text {
                body: "¿Llegó <b>mi</b> pedido? & gracias".into(),
            },
            sender_name: None,
            reply_to: None,
            referral: None,
        }),
    ));
    assert_eq!(message.kind, NoticeKind::AssignedMessage);
    notifier.show(&message).unwrap();
    let call = watch.notify_call("Ana García");
    assert!(
        call.contains("¿Llegó &lt;b&gt;mi&lt;/b&gt; pedido? &amp; gracias"),
        "{call}"
    );
    assert!(
        call.contains("string \"urgency\"") && call.contains("byte 1"),
        "{call}"
    );

    click_first_notification();
    expect_open(&clicks, "conv-mine");
    dunstctl(&["close-all"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        clicks.try_recv().ok(),
        None,
        "closing a notice opened something"
    );
}

#[test]
fn without_a_notification_service_show_fails_with_a_clear_error() {
    let test = "without_a_notification_service_show_fails_with_a_clear_error";
    if !is_child(test) {
        // A session bus with nothing on it: no daemon answers.
        return run_in_private_session(test, Keyring::None);
    }
    let notifier = DesktopNotifier::new(|_| {});
    let notice = notice(&event(
        "conv-1",
        EventBody::Escalated {
            reason: EscalationReason::BotHandoff { note: None },
        },
    ));
    match notifier.show(&notice) {
        Err(NotifyError::Unavailable(message)) => {
            eprintln!("{message}");
            assert!(
                message.starts_with(
                    "Desktop notifications are not available (no notification service \
                     answered on the session bus): "
                ),
                "{message}"
            );
        }
        Ok(()) => panic!("a notification was shown with no daemon on the bus"),
    }
}

#[test]
fn without_a_session_bus_show_fails_with_a_clear_error() {
    let test = "without_a_session_bus_show_fails_with_a_clear_error";
    if !is_child(test) {
        let missing = tempfile::tempdir().unwrap();
        let mut command = Command::new("env");
        command.arg(format!(
            "DBUS_SESSION_BUS_ADDRESS=unix:path={}",
            missing.path().join("no-bus").display()
        ));
        return run_child(test, command);
    }
    let notifier = DesktopNotifier::new(|_| {});
    let notice = notice(&event(
        "conv-1",
        EventBody::Escalated {
            reason: EscalationReason::CustomerWaiting { minutes: 45 },
        },
    ));
    match notifier.show(&notice) {
        Err(NotifyError::Unavailable(message)) => {
            eprintln!("{message}");
            assert!(
                message.contains("no notification service answered on the session bus"),
                "{message}"
            );
        }
        Ok(()) => panic!("a notification was shown with no session bus"),
    }
}
