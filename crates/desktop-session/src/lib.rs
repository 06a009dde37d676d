//! Test support: a private desktop session for tests that must meet real desktop services
//! (a D-Bus session bus, the Secret Service, an X server, a notification daemon) without
//! touching the machine's own session.
//!
//! A test re-runs itself (its own test binary, filtered to the one test) inside
//! `dbus-run-session` with a bus that activates no services ([`run_in_private_session`]);
//! only what the test starts is on it: gnome-keyring ([`Keyring::Unlocked`]), Xvfb
//! ([`start_xvfb`]), dunst ([`start_dunst`]), `dbus-monitor` ([`BusWatch`]).
//!
//! Needs the packages `scripts/setup-debian` installs (dbus, gnome-keyring, xvfb, dunst).
//! Without them the tests fail and say what is missing; they never skip.
// Test support: it fails a test by panicking, and tells the test's log what it saw.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set (to the test's name) in the child run that does the work.
const CHILD: &str = "VENTANA_DESKTOP_SESSION_CHILD";

/// How long a service may take to come up.
pub const WITHIN: Duration = Duration::from_secs(15);

/// A session bus like the standard one, minus service activation.
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

/// Starts an unlocked gnome-keyring (Secret Service only) on the private bus and waits
/// until its default collection is unlocked, then runs the test. The login keyring's
/// password is on stdin, as PAM would give it.
const WITH_KEYRING: &str = r#"set -eu
eval "$(printf ventana | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
eval "$(gnome-keyring-daemon --start --components=secrets)" >/dev/null
export GNOME_KEYRING_CONTROL
"$WAIT_FOR_KEYRING"
exec "$@"
"#;

/// Whether the private session has a Secret Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyring {
    /// Nothing answers for `org.freedesktop.secrets`.
    None,
    /// gnome-keyring, its login keyring unlocked, its files in a fresh directory.
    Unlocked,
}

/// Whether this process is the child run of `test` (the one that does the work).
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|name| name == test)
}

/// Runs `test` again inside its own private D-Bus session, and fails if it fails.
pub fn run_in_private_session(test: &str, keyring: Keyring) {
    let (_temp, command) = private_session(keyring);
    run_child(test, command);
}

/// Runs this benchmark (a `harness = false` binary named `bench`) again inside its own
/// private D-Bus session, its output passed through as it comes, and fails if it fails.
/// The child run is the one where [`is_child`]`(bench)` holds.
pub fn run_bench_in_private_session(bench: &str, keyring: Keyring) {
    let (_temp, mut command) = private_session(keyring);
    command
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, bench)
        // The child must not reach a real desktop.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    let status = command.status().unwrap_or_else(|error| {
        panic!(
            "cannot run {:?}: {error}. Install what the benchmarks need with `scripts/setup-debian`.",
            command.get_program()
        )
    });
    assert!(
        status.success(),
        "the child run of {bench} failed ({status})"
    );
}

/// `dbus-run-session` with a bus that activates nothing (and gnome-keyring when asked),
/// ready for the command to run in it; the directory holds the session's files.
fn private_session(keyring: Keyring) -> (tempfile::TempDir, Command) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("session.conf");
    std::fs::write(&config, BUS_CONFIG).unwrap();
    let data_home = temp.path().join("data");
    std::fs::create_dir_all(&data_home).unwrap();
    // gnome-keyring's control socket lives in the runtime dir: one of the session's own,
    // or a test running beside this one would reach (and unlock) the wrong daemon.
    let runtime_dir = temp.path().join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    std::fs::set_permissions(
        &runtime_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut command = Command::new("dbus-run-session");
    command
        .arg(format!("--config-file={}", config.display()))
        .arg("--")
        .env("XDG_DATA_HOME", &data_home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    if keyring == Keyring::Unlocked {
        command
            .args(["bash", "-c", WITH_KEYRING, "bash"])
            .env("WAIT_FOR_KEYRING", wait_for_keyring_script());
    }
    (temp, command)
}

/// `scripts/wait-for-keyring`, found from this crate's directory.
fn wait_for_keyring_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/wait-for-keyring")
}

/// Runs `test` again as `command` + this test binary, and fails if it fails. What the
/// child printed on stderr is passed on, so its figures and paths reach the log.
pub fn run_child(test: &str, mut command: Command) {
    command
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        // The child must not reach a real desktop.
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
        "the child run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        tail(&stderr, 120),
    );
    // Only the test's own lines, not the desktop stack's chatter.
    for line in stderr.lines().filter(|line| line.starts_with("test:")) {
        eprintln!("{line}");
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child process that is killed, with everything it started, when the test ends.
#[derive(Debug)]
pub struct Running {
    pub name: &'static str,
    pub child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The child leads its own process group (see `spawn`), so this also ends what it
        // started (tauri-driver's WebKitWebDriver and the app, say).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub fn spawn(name: &'static str, command: &mut Command) -> Running {
        use std::os::unix::process::CommandExt;
        match command.process_group(0).spawn() {
            Ok(child) => Running { name, child },
            Err(error) => panic!(
                "cannot start {name}: {error}. Install what the tests need with \
                 `scripts/setup-debian` (or run `scripts/test`)."
            ),
        }
    }

    /// Fails the test, with what it printed on stderr, if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{} exited: {status}\n{stderr}", self.name);
        }
    }

    /// Waits until the process listens on `port`.
    pub fn wait_for_port(&mut self, port: u16, within: Duration) {
        let deadline = Instant::now() + within;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited before listening: {status}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on port {port} within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Starts Xvfb on a free display and returns it with the display name (e.g. `:1`).
pub fn start_xvfb() -> (Running, String) {
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

/// `dbus-monitor` watching Notify calls on the session bus.
#[derive(Debug)]
pub struct BusWatch {
    _monitor: Running,
    output: Arc<Mutex<String>>,
}

impl BusWatch {
    pub fn start() -> BusWatch {
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

    /// How much the monitor has printed so far (for [`BusWatch::wait_for_after`]).
    pub fn mark(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Waits until the monitor printed `needle`; returns everything printed so far.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_after(0, needle)
    }

    /// Waits until the monitor printed `needle` after `mark`; returns what it printed since.
    pub fn wait_for_after(&self, mark: usize, needle: &str) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            let text = self
                .output
                .lock()
                .unwrap()
                .get(mark..)
                .unwrap_or_default()
                .to_owned();
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
    pub fn notify_call(&self, summary: &str) -> String {
        let text = self.wait_for(&format!("string \"{summary}\""));
        text.split("method call ")
            .find(|call| call.contains(&format!("string \"{summary}\"")))
            .unwrap()
            .to_owned()
    }
}

/// Starts dunst on `display` with its packaged defaults (not the user's dunstrc) and waits
/// until it owns the notification service's name.
pub fn start_dunst(display: &str, config_home: &Path) -> Running {
    let mut dunst = Running::spawn(
        "dunst",
        Command::new("dunst")
            .env("DISPLAY", display)
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
pub fn dunstctl(args: &[&str]) {
    let status = Command::new("dunstctl")
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("cannot run dunstctl: {error}"));
    assert!(status.success(), "dunstctl {args:?} failed: {status}");
}

/// Clicks the notification dunst shows first, as a user would (its default action).
pub fn click_first_notification() {
    dunstctl(&["action", "0"]);
}

/// Closes every notification dunst shows.
pub fn close_notifications() {
    dunstctl(&["close-all"]);
}
