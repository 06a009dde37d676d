//! What the end-to-end tests share: a private desktop session (D-Bus, Secret Service,
//! X server, notification daemon), the real `ventana` binary started by `tauri-driver`, and
//! small WebDriver helpers that read the page the way a user sees it.
//!
//! Each test re-runs itself (this binary, filtered to the one test) inside its own
//! `dbus-run-session` whose bus activates no services: gnome-keyring (unlocked, files in a
//! fresh directory), Xvfb, dunst and `dbus-monitor` are started by the test itself, so
//! nothing of the machine's own session is touched and nothing else can answer.
//!
//! Needs the packages `scripts/setup-debian` installs (dbus, gnome-keyring, xvfb, dunst,
//! tauri-driver's WebKitWebDriver). Without them the tests fail and say what is missing;
//! they never skip.
#![allow(dead_code, unreachable_pub)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set (to the test's name) in the child run that does the work.
const CHILD: &str = "VENTANA_E2E_CHILD";

/// How long a step may take before the test fails (a debug build under Xvfb on a busy
/// 2-core machine is slow; a working step takes a second or two).
pub const WITHIN: Duration = Duration::from_secs(45);

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

/// Starts an unlocked gnome-keyring (Secret Service only) on the private bus, then runs
/// the test. The login keyring's password is on stdin, as PAM would give it.
const WITH_KEYRING: &str = r#"set -eu
eval "$(printf ventana | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
eval "$(gnome-keyring-daemon --start --components=secrets)" >/dev/null
export GNOME_KEYRING_CONTROL
"$WAIT_FOR_KEYRING"
exec "$@"
"#;

/// Whether this process is the child run of `test`; if not, runs it as one and returns
/// false (the caller then returns: the child did the work and its verdict is asserted).
pub fn in_private_session(test: &str) -> bool {
    if std::env::var(CHILD).is_ok_and(|name| name == test) {
        return true;
    }
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("session.conf");
    std::fs::write(&config, BUS_CONFIG).unwrap();
    let keyring_home = temp.path().join("data");
    std::fs::create_dir_all(&keyring_home).unwrap();
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
        .args(["--", "bash", "-c", WITH_KEYRING, "bash"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env("XDG_DATA_HOME", &keyring_home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env(
            "WAIT_FOR_KEYRING",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/wait-for-keyring"),
        )
        // The child must not reach a real desktop.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let output = command.output().unwrap_or_else(|error| {
        panic!("cannot run dbus-run-session: {error}. Install what the tests need with `scripts/setup-debian`.")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Only what the test itself said, not the desktop stack's chatter.
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.starts_with("e2e:") || line.contains("panicked") || line.starts_with("  ")
        })
        .collect();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr (test lines)\n{}\n--- stderr (tail)\n{}",
        output.status,
        said.join("\n"),
        tail(&stderr, 60),
    );
    eprintln!("{}", said.join("\n"));
    false
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child process that is killed, with everything it started, when the test ends.
pub struct Running {
    pub name: &'static str,
    pub child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The child leads its own process group (see `spawn`), so this also ends what it
        // started: tauri-driver's WebKitWebDriver and the app would otherwise outlive it.
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

    pub fn assert_running(&mut self) {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn wait_for_port(process: &mut Running, port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("{} exited before listening: {status}", process.name);
        }
        assert!(
            Instant::now() < deadline,
            "{} did not listen on port {port} within {within:?}",
            process.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `dbus-monitor` watching Notify calls on the session bus.
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

    pub fn seen(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the monitor printed `needle`; returns everything printed so far.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_after(0, needle)
    }

    /// How much the monitor has printed so far (for `wait_for_after`).
    pub fn mark(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Waits until the monitor printed `needle` after `mark`; returns what it printed since.
    pub fn wait_for_after(&self, mark: usize, needle: &str) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            let text = self.seen().get(mark..).unwrap_or_default().to_owned();
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
}

/// Starts dunst on `display` with its packaged defaults and waits until it owns the
/// notification service's name.
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

fn dunstctl(args: &[&str]) {
    let status = Command::new("dunstctl")
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("cannot run dunstctl: {error}"));
    assert!(status.success(), "dunstctl {args:?} failed: {status}");
}

/// Closes every notification dunst shows.
pub fn close_notifications() {
    dunstctl(&["close-all"]);
}

/// Clicks the notification dunst shows first, as a user would (its default action).
pub fn click_first_notification() {
    dunstctl(&["action", "0"]);
}

/// The real app in a real window, driven through WebDriver.
pub struct App {
    pub client: Client,
    _driver: Running,
    /// The theme the window was asked to follow (`light` or `dark`).
    pub theme: &'static str,
}

impl App {
    /// Starts `tauri-driver`, which starts the `ventana` binary with `data_dir` as its data
    /// dir and `theme` as the desktop's colour scheme.
    pub async fn launch(display: &str, data_dir: &Path, theme: &'static str) -> App {
        let port = free_port();
        let native_port = free_port();
        let driver_binary = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into());
        let mut command = Command::new(driver_binary);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            // Inherited by WebKitWebDriver and the app it starts.
            .env("DISPLAY", display)
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
            .env("LANG", "en_US.UTF-8")
            .env("LANGUAGE", "en_US")
            .env("VENTANA_DATA_DIR", data_dir)
            .stdout(Stdio::null());
        if theme == "dark" {
            // GTK tells WebKit the desktop prefers dark: `prefers-color-scheme: dark`.
            command.env("GTK_THEME", "Adwaita:dark");
        }
        let mut driver = Running::spawn("tauri-driver", &mut command);
        wait_for_port(&mut driver, port, Duration::from_secs(30));

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": env!("CARGO_BIN_EXE_ventana") }),
        );
        let client = ClientBuilder::rustls()
            .unwrap_or_else(|e| panic!("WebDriver client: {e}"))
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("tauri-driver did not start the app: {e}"));
        App {
            client,
            _driver: driver,
            theme,
        }
    }

    /// The element `css`, once it is in the page.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WITHIN)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear within {WITHIN:?}: {e}"))
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The visible text of every element matching `css`, read in one go (no stale
    /// elements while the UI re-renders).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let value = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);",
                vec![Value::from(css)],
            )
            .await;
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// An attribute of every element matching `css`.
    pub async fn attributes(&self, css: &str, name: &str) -> Vec<String> {
        let value = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]) ?? '');",
                vec![Value::from(css), Value::from(name)],
            )
            .await;
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Polls until `check` holds; fails with `what` and the last thing seen.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + WITHIN;
        loop {
            match check().await {
                Ok(()) => return,
                Err(seen) => {
                    if Instant::now() > deadline {
                        self.save_failure_screenshot(what).await;
                        panic!("{what}: not within {WITHIN:?}; last seen: {seen}");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until some element matching `css` shows text containing `needle`.
    pub async fn until_text(&self, css: &str, needle: &str) {
        self.until(&format!("{css} showing {needle:?}"), || async {
            let texts = self.texts(css).await;
            if texts.iter().any(|t| t.contains(needle)) {
                Ok(())
            } else {
                Err(format!("{texts:?}"))
            }
        })
        .await;
    }

    /// Waits until no element matching `css` shows text containing `needle`.
    pub async fn until_gone(&self, css: &str, needle: &str) {
        self.until(&format!("no {css} showing {needle:?}"), || async {
            let texts = self.texts(css).await;
            if texts.iter().any(|t| t.contains(needle)) {
                Err(format!("{texts:?}"))
            } else {
                Ok(())
            }
        })
        .await;
    }

    /// Waits until some element matching `css` has the attribute `name` equal to `value`.
    pub async fn until_attribute(&self, css: &str, name: &str, value: &str) {
        self.until(&format!("{css} with {name}={value:?}"), || async {
            let values = self.attributes(css, name).await;
            if values.iter().any(|v| v == value) {
                Ok(())
            } else {
                Err(format!("{values:?}"))
            }
        })
        .await;
    }

    /// Waits until some element matching `css` has text containing `needle`, then clicks
    /// it (found afresh, so a re-render in between does not matter).
    pub async fn click_text(&self, css: &str, needle: &str) {
        self.until_text(css, needle).await;
        // The page marks the element (WebDriver's own text can differ from what a user
        // sees in whitespace); WebDriver then clicks it like a user.
        let marked = self
            .js(
                "document.querySelectorAll('[data-e2e-target]').forEach(e => e.removeAttribute('data-e2e-target'));
                 const e = [...document.querySelectorAll(arguments[0])].find(e => e.innerText.includes(arguments[1]));
                 if (!e) return false;
                 e.setAttribute('data-e2e-target', '');
                 e.scrollIntoView({block: 'center'});
                 return true;",
                vec![Value::from(css), Value::from(needle)],
            )
            .await;
        assert_eq!(marked, Value::Bool(true), "{css} {needle:?} vanished");
        self.click("[data-e2e-target]").await;
    }

    /// Clicks the element `css` (once it is there).
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Types `text` into the element `css`, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Replaces the value of the input `css` with `text`, as keystrokes.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        element
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Presses `key` (a character, or WebDriver's code for a special key) in the page.
    pub async fn press(&self, css: &str, key: &str) {
        self.type_into(css, key).await;
    }

    /// A PNG of the window, saved as `name` in the test's target dir and, when
    /// `VENTANA_SCREENSHOTS` names a directory (e.g. `docs/screenshots`), there too.
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let file = format!("{name}-{}.png", self.theme);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&file);
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        if let Some(dir) = std::env::var_os("VENTANA_SCREENSHOTS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&file), &png).unwrap();
        }
        eprintln!("e2e: screenshot {}", path.display());
        png
    }

    async fn save_failure_screenshot(&self, what: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let name: String = what
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(60)
                .collect();
            let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("failed-{name}.png"));
            let _ = std::fs::write(&path, png);
            eprintln!("e2e: failure screenshot {}", path.display());
        }
    }
}

/// How many distinct colours a PNG has: a window that rendered nothing is one flat colour.
pub fn distinct_colours(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("the screenshot is not a PNG: {e}"));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|e| panic!("cannot decode the screenshot: {e}"));
    let channels = info.color_type.samples();
    let mut colours: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(channels).collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len()
}

/// The mean brightness (0–255) of a PNG: tells a dark theme from a light one.
pub fn mean_brightness(png_bytes: &[u8]) -> f64 {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let mut total = 0f64;
    let mut count = 0f64;
    for pixel in pixels[..info.buffer_size()].chunks(channels) {
        total += pixel.iter().take(3).map(|&c| f64::from(c)).sum::<f64>() / 3.0;
        count += 1.0;
    }
    total / count.max(1.0)
}
