//! What the relay's integration tests share: the real binary on port 0, its admin CLI,
//! signed webhooks, sign-in, and websocket clients.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ventana_metasim::signing::signature_header;

pub const APP_ID: &str = "1234567890";
pub const APP_SECRET: &str = "fake_app_secret_0123456789abcdef";
pub const VERIFY_TOKEN: &str = "let-meta-in";
pub const PAGE_ID: &str = "100000000000001";
pub const IG_ID: &str = "17840000000000001";
pub const PHONE_NUMBER_ID: &str = "200000000000111";
pub const PASSWORD: &str = "correct horse battery";

pub const FIXTURES: &[&str] = &[
    "messenger_inbound_batch.json",
    "messenger_events_batch.json",
    "instagram_inbound_batch.json",
    "instagram_reaction_seen_deleted.json",
    "whatsapp_inbound_text_and_image.json",
    "whatsapp_inbound_interactive_reaction_location.json",
    "whatsapp_statuses_sent_read_failed.json",
    "whatsapp_user_preferences_stop.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/meta")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The PostgreSQL URL every CLI command and relay of this test process uses, once a test
/// sets it (the multi-node tests); `None` for the embedded store.
pub static DATABASE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn database_args() -> Vec<String> {
    match DATABASE.lock().unwrap().as_ref() {
        Some(url) => vec!["--database".to_owned(), url.clone()],
        None => Vec::new(),
    }
}

/// Runs an admin CLI command against `data_dir`, with `stdin` as its standard input.
pub fn cli(data_dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ventana-relay"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(database_args())
        .args(args)
        .env_remove("VENTANA_RELAY_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the relay binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn cli_ok(data_dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = cli(data_dir, args, stdin);
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Two tenants: acme with one channel per platform and an admin; globex with an agent.
pub fn set_up(data_dir: &Path) {
    cli_ok(data_dir, &["tenant", "add", "acme"], "");
    cli_ok(data_dir, &["tenant", "add", "globex"], "");
    cli_ok(
        data_dir,
        &[
            "meta-app",
            "add",
            "--app-id",
            APP_ID,
            "--app-secret-stdin",
            "--verify-token",
            VERIFY_TOKEN,
        ],
        &format!("{APP_SECRET}\n"),
    );
    for (kind, id) in [
        ("messenger", PAGE_ID),
        ("instagram", IG_ID),
        ("whatsapp", PHONE_NUMBER_ID),
    ] {
        cli_ok(
            data_dir,
            &[
                "channel",
                "add",
                "--tenant",
                "acme",
                "--kind",
                kind,
                "--external-id",
                id,
                "--app-id",
                APP_ID,
            ],
            "",
        );
    }
    for (tenant, email, role) in [
        ("acme", "ana@acme.test", "admin"),
        ("globex", "gus@globex.test", "agent"),
    ] {
        cli_ok(
            data_dir,
            &[
                "agent",
                "add",
                "--tenant",
                tenant,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
    }
}

/// A running relay process.
pub struct RelayProcess {
    pub child: Child,
    pub base: String,
}

impl RelayProcess {
    pub fn start(data_dir: &Path) -> RelayProcess {
        Self::start_with(data_dir, &[])
    }

    /// Starts `serve` with more arguments (e.g. `--graph-url`).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> RelayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ventana-relay"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(database_args())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("VENTANA_RELAY_KEY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the relay binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut said = Vec::new();
        let address = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "the relay exited before saying where it listens:\n{}",
                    said.join("\n")
                );
            };
            said.push(line.clone());
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the relay never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        RelayProcess {
            child,
            base: format!("http://{address}"),
        }
    }

    /// SIGKILL: no clean shutdown, no flushing, nothing.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn post_webhook(base: &str, body: &[u8], signature: Option<String>) -> u16 {
    let mut request = http()
        .post(format!("{base}/webhooks/meta/{APP_ID}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

pub async fn post_signed(base: &str, body: &[u8]) -> u16 {
    post_webhook(
        base,
        body,
        Some(signature_header(APP_SECRET.as_bytes(), body)),
    )
    .await
}

pub async fn login(base: &str, email: &str) -> Value {
    let response = http()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login as {email}");
    response.json().await.unwrap()
}

pub async fn get_json(base: &str, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn head(base: &str, token: &str) -> u64 {
    let (status, page) = get_json(base, "/v1/events?limit=1", token).await;
    assert_eq!(status, 200);
    page["head"].as_u64().unwrap()
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect_stream(base: &str, token: &str, after: u64) -> Socket {
    let url = format!("{}/v1/stream?after={after}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the stream opens");
    socket
}

/// The next JSON frame other than a heartbeat.
pub async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame within 20 s")
            .expect("the stream is open")
            .expect("a valid frame");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] != "heartbeat" {
                return frame;
            }
        }
    }
}

/// Reads event frames until `until` (inclusive), skipping the `live` marker.
pub async fn events_until(socket: &mut Socket, until: u64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut last = 0;
    while last < until {
        let frame = next_frame(socket).await;
        if frame["type"] == "live" {
            continue;
        }
        assert_eq!(frame["type"], "event", "unexpected frame {frame}");
        last = frame["seq"].as_u64().unwrap();
        events.push(frame);
    }
    events
}

pub fn assert_consecutive(events: &[Value], from: u64) {
    for (i, frame) in events.iter().enumerate() {
        assert_eq!(
            frame["seq"].as_u64(),
            Some(from + i as u64),
            "gap or duplicate at {frame}"
        );
    }
}

/// A Messenger text webhook with a unique mid, Unicode-escaped like Meta's.
pub fn messenger_text(mid: &str, text: &str) -> Vec<u8> {
    let escaped: String = text
        .encode_utf16()
        .map(|unit| {
            if unit < 0x80 {
                (unit as u8 as char).to_string()
            } else {
                format!("\\u{unit:04x}")
            }
        })
        .collect();
    format!(
        r#"{{"object":"page","entry":[{{"id":"{PAGE_ID}","time":1790000000000,"messaging":[{{"sender":{{"id":"7000000000000002"}},"recipient":{{"id":"{PAGE_ID}"}},"timestamp":1790000000000,"message":{{"mid":"{mid}","text":"{escaped}"}}}}]}}]}}"#
    )
    .into_bytes()
}

pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay");
    (dir, path)
}

/// Tenant `demo` with every channel of metasim's `universe` and `d@demo.test` in `role`;
/// the universe's app id.
pub fn set_up_universe(dir: &Path, universe: &ventana_metasim::Universe, role: &str) -> String {
    use ventana_metasim::Platform;
    let app_id = universe.app_id.to_string();
    cli_ok(dir, &["tenant", "add", "demo"], "");
    cli_ok(
        dir,
        &["meta-app", "add", "--app-id", &app_id, "--app-secret-stdin"],
        &format!("{APP_SECRET}\n"),
    );
    cli_ok(
        dir,
        &[
            "agent",
            "add",
            "--tenant",
            "demo",
            "--email",
            "d@demo.test",
            "--role",
            role,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    for info in &universe.channels {
        let kind = match info.channel.platform() {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
            Platform::WhatsApp => "whatsapp",
        };
        let id = info.channel.external_id();
        cli_ok(
            dir,
            &[
                "channel",
                "add",
                "--tenant",
                "demo",
                "--kind",
                kind,
                "--external-id",
                id,
                "--app-id",
                &app_id,
            ],
            "",
        );
    }
    app_id
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// Gives each `(channel, token)` its access token through the CLI, as an admin would.
pub fn set_tokens(data_dir: &Path, tokens: &[(&str, &str)]) {
    for (channel, token) in tokens {
        cli_ok(
            data_dir,
            &[
                "channel",
                "set-token",
                "--tenant",
                "acme",
                "--channel",
                channel,
                "--token-stdin",
            ],
            &format!("{token}\n"),
        );
    }
}

/// metasim's Graph API for the relay's app, asking for `appsecret_proof` as Meta may.
pub async fn graph_sim() -> ventana_metasim::graph::GraphSim {
    ventana_metasim::graph::GraphSim::start(ventana_metasim::graph::GraphSimConfig {
        app_id: APP_ID.parse().unwrap(),
        app_secret: APP_SECRET.into(),
        require_appsecret_proof: true,
        ..Default::default()
    })
    .await
    .unwrap()
}
