//! Desktop notifications against a real notification daemon (dunst) on a real D-Bus.
//!
//! Each test re-runs itself (this binary, filtered to the one test) inside a private D-Bus
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
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ventana_inbox::notify::{
    DesktopNotifier, Notice, NoticeContext, NoticeKind, Notifier, NotifyError, OpenRequest,
    notice_for,
};
use ventana_protocol::event::{EscalationReason, InboundMessage, MessageContent};
use ventana_protocol::ids::AgentId;
use ventana_protocol::{Event, EventBody};

/// Set (to the test's name) in the child run that does the work.
const CHILD: &str = "VENTANA_NOTIFICATIONS_TEST_CHILD";

/// A session bus like the standard one, minus service activation: only what the test
/// starts is on it.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

const WITHIN: Duration = Duration::from_secs(15);

/// Whether this process is the child run of `test`.
fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|name| name == test)
}

/// Runs `test` again in a child process, prepared by `prepare`, and fails if it fails.
fn run_child(test: &str, mut command: Command) {
    command
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        // The child must not reach a real desktop: no display, no Wayland.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "cannot run {:?}: {error}. Install what the tests need with `scripts/setup-debian`.",
            command.get_program()
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

/// Runs `test` again inside its own private D-Bus session.
fn run_in_private_session(test: &str) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("session.conf");
    std::fs::write(&config, BUS_CONFIG).unwrap();
    let mut command = Command::new("dbus-run-session");
    command
        .arg(format!("--config-file={}", config.display()))
        .arg("--");
    run_child(test, command);
}

/// A child process that is killed when the test ends, however it ends.
struct Running {
    name: &'static str,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn spawn(name: &'static str, command: &mut Command) -> Running {
        match command.spawn() {
            Ok(child) => Running { name, child },
            Err(error) => panic!(
                "cannot start {name}: {error}. Install what the tests need with \
                 `scripts/setup-debian` (or run `scripts/test`)."
            ),
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{} exited: {status}\n{stderr}", self.name);
        }
    }
}

/// Starts Xvfb on a free display and returns it with the display name (e.g. `:1`).
fn start_xvfb() -> (Running, String) {
    let mut xvfb = Running::spawn(
        "Xvfb",
        Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut line = String::new();
    if let Some(stdout) = xvfb.child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let number = line.trim();
    assert!(
        !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
        "Xvfb did not report a display (got {line:?})"
    );
    (xvfb, format!(":{number}"))
}

/// `dbus-monitor` watching Notify calls; what it printed so far is in `output`.
struct BusWatch {
    _monitor: Running,
    output: Arc<Mutex<String>>,
}

impl BusWatch {
    fn start() -> BusWatch {
        let mut monitor = Running::spawn(
            "dbus-monitor",
            Command::new("dbus-monitor")
                .args([
                    "--session",
                    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = monitor.child.stdout.take().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let watch = BusWatch {
            _monitor: monitor,
            output,
        };
        // A monitor first sees itself acquire and then give up its name: from then on it
        // sees every matching message.
        watch.wait_for("member=NameLost");
        watch
    }

    /// Waits until the monitor printed `needle`; returns everything printed so far.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            let text = self.output.lock().unwrap().clone();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "dbus-monitor did not show {needle:?} within {WITHIN:?}; it showed:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The Notify call (as dbus-monitor prints it) whose summary is `summary`.
    fn notify_call(&self, summary: &str) -> String {
        let text = self.wait_for(&format!("string \"{summary}\""));
        text.split("method call ")
            .find(|call| call.contains(&format!("string \"{summary}\"")))
            .unwrap()
            .to_owned()
    }
}

/// Starts dunst on `display`, with the system's default configuration, and waits until it
/// owns the notification service's name.
fn start_dunst(display: &str, config_home: &Path) -> Running {
    let mut dunst = Running::spawn(
        "dunst",
        Command::new("dunst")
            .env("DISPLAY", display)
            // Not the user's dunstrc: the packaged defaults, the same on every machine.
            .env("XDG_CONFIG_HOME", config_home)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let deadline = Instant::now() + WITHIN;
    loop {
        dunst.assert_running();
        let owner = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ])
            .output()
            .unwrap_or_else(|error| panic!("cannot run dbus-send: {error}"));
        if String::from_utf8_lossy(&owner.stdout).contains("boolean true") {
            return dunst;
        }
        assert!(
            Instant::now() < deadline,
            "dunst did not take org.freedesktop.Notifications within {WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `dunstctl` (dunst's remote control, over the same bus).
fn dunstctl(args: &[&str]) {
    let status = Command::new("dunstctl")
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("cannot run dunstctl: {error}"));
    assert!(status.success(), "dunstctl {args:?} failed: {status}");
}

/// Clicks the notification dunst shows first, as a user would (its default action).
fn click_first_notification() {
    dunstctl(&["action", "0"]);
}

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
        return run_in_private_session(test);
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
        return run_in_private_session(test);
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
