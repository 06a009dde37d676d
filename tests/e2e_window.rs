//! End to end: the real `ventana` debug binary in a real window, driven through WebDriver.
//!
//! The test starts its own X server (Xvfb, on a free display it picks with `-displayfd`)
//! and `tauri-driver` (on free ports), so `cargo test` needs nothing running beforehand —
//! only the packages `scripts/setup-debian` installs. Without them it fails and says what
//! is missing; it never skips.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed when the test ends, however it ends.
struct Running {
    name: &'static str,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The child leads its own process group (see `spawn`), so this also ends what it
        // started: tauri-driver's WebKitWebDriver and the app would otherwise outlive it.
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn spawn(name: &'static str, command: &mut Command) -> Running {
        use std::os::unix::process::CommandExt;
        match command.process_group(0).spawn() {
            Ok(child) => Running { name, child },
            Err(error) => panic!(
                "cannot start {name}: {error}. Install what the tests need with \
                 `scripts/setup-debian` (or run `scripts/test`)."
            ),
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

fn free_port() -> u16 {
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

fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-main-window.png")
}

/// How many distinct colours a PNG has: a window that rendered nothing is one flat colour.
fn distinct_colours(png_bytes: &[u8]) -> usize {
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

async fn text_of(client: &Client, test_id: &str) -> String {
    let selector = format!("[data-testid=\"{test_id}\"]");
    match client.find(Locator::Css(&selector)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(error) => panic!("no element {selector} in the window: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_opens_its_window_and_renders_the_inbox_frame() {
    let (_xvfb, display) = start_xvfb();
    let port = free_port();
    let native_port = free_port();
    let driver_binary = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into());
    let mut driver = Running::spawn(
        "tauri-driver",
        Command::new(driver_binary)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", &display)
            .stdout(Stdio::null()),
    );
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

    // The frame renders: the shell and its three columns are in the window and visible.
    let shell = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid=\"app-shell\"]"))
        .await
        .unwrap_or_else(|e| panic!("the UI did not render: {e}"));
    assert!(
        shell.is_displayed().await.unwrap_or(false),
        "the shell is not visible"
    );
    for part in ["sidebar", "conversation-list", "conversation-pane"] {
        let element = client
            .find(Locator::Css(&format!("[data-testid=\"{part}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no {part}: {e}"));
        assert!(
            element.is_displayed().await.unwrap_or(false),
            "{part} is not visible"
        );
    }
    assert_eq!(client.title().await.unwrap_or_default(), "Ventana");
    assert!(
        text_of(&client, "empty-state")
            .await
            .contains("Select a conversation"),
        "the empty state is missing"
    );

    // Saved before the checks below, so a failure leaves a picture of what was shown.
    let png = client
        .screenshot()
        .await
        .unwrap_or_else(|e| panic!("screenshot: {e}"));
    let path = screenshot_path();
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
    let colours = distinct_colours(&png);
    assert!(colours > 8, "the window looks blank ({colours} colours)");

    // The UI reached Rust: the version shown comes from the `app_info` command.
    let expected = format!("v{}", env!("CARGO_PKG_VERSION"));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut shown = text_of(&client, "app-version").await;
    while shown != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        shown = text_of(&client, "app-version").await;
    }
    assert_eq!(
        shown, expected,
        "the version did not come through the app_info command"
    );

    let _ = client.close().await;
}
