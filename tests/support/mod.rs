//! What the end-to-end tests share beside the private desktop session
//! (`ventana_desktop_session`): the real `ventana` binary started by `tauri-driver`, and
//! small WebDriver helpers that read the page the way a user sees it.
#![allow(dead_code, unreachable_pub)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
pub use ventana_desktop_session::*;

/// How long a step may take before the test fails (a debug build under Xvfb on a busy
/// 2-core machine is slow; a working step takes a second or two).
pub const STEP: Duration = Duration::from_secs(45);

/// The app under test: the binary this build made, or an installed one
/// (`VENTANA_APP_BINARY=/usr/bin/ventana`, as `scripts/smoke-packages` runs it after
/// installing the package).
pub fn app_binary() -> String {
    match std::env::var("VENTANA_APP_BINARY") {
        Ok(installed) => {
            assert!(
                Path::new(&installed).is_file(),
                "VENTANA_APP_BINARY={installed} is not a file: is the package installed?"
            );
            installed
        }
        Err(_) => env!("CARGO_BIN_EXE_ventana").to_owned(),
    }
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
            // Exports go beside the data, never into the Downloads of whoever runs the tests.
            .env("VENTANA_EXPORT_DIR", data_dir.join("exports"))
            .stdout(Stdio::null());
        if theme == "dark" {
            // GTK tells WebKit the desktop prefers dark: `prefers-color-scheme: dark`.
            command.env("GTK_THEME", "Adwaita:dark");
        }
        let mut driver = Running::spawn("tauri-driver", &mut command);
        driver.wait_for_port(port, Duration::from_secs(30));

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app_binary() }),
        );
        // tauri-driver listens before the WebKitWebDriver it starts does; a session asked
        // for in between is refused without starting the app, so it is asked for again.
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::rustls()
                .unwrap_or_else(|e| panic!("WebDriver client: {e}"))
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match attempt {
                Ok(client) => break client,
                Err(e) if e.to_string().contains("did not respond") && started.elapsed() < STEP => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("tauri-driver did not start the app: {e}"),
            }
        };
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
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear within {STEP:?}: {e}"))
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
        let deadline = Instant::now() + STEP;
        loop {
            match check().await {
                Ok(()) => return,
                Err(seen) => {
                    if Instant::now() > deadline {
                        self.save_failure_screenshot(what).await;
                        panic!("{what}: not within {STEP:?}; last seen: {seen}");
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
        eprintln!("test: screenshot {}", path.display());
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
            eprintln!("test: failure screenshot {}", path.display());
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
