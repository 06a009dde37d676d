//! The app's own figures (run with `cargo bench -p ventana --bench app`): the real `ventana`
//! binary of the bench profile (release), in a real Xvfb window, with a real Secret Service
//! and a real relay on port 0. It prints figures and asserts only that the run worked.
//!
//! 1. The world of a busy agent who signed in before: the demo relay (`ventana_demo`) and an
//!    account signed in to it through the engine (refresh token and cache key in the
//!    session's gnome-keyring), whose cache then gets the shared backlog of 100,000
//!    conversations (`crates/inbox/benches/backlog`) through the engine's own
//!    `apply_batch`, numbered after the relay's log; the cursor is then set back to the
//!    relay's head so that the app resumes the live log instead of starting over (the
//!    relay's log does not hold the backlog: sending 1.4 million events through it first
//!    would take longer than the whole benchmark).
//! 2. Cold start to a painted inbox, `RUNS` times: the binary spawned directly (no
//!    WebDriver), the page cache dropped first when this runs as root; the time from the
//!    spawn to the line `startup: inbox painted …` on the app's stderr, which the UI asks
//!    for two animation frames after the first rows are in the DOM.
//! 3. Memory of the app's process tree (the app, WebKitWebProcess, WebKitNetworkProcess):
//!    RSS and PSS summed from `/proc/PID/smaps_rollup`, with the app launched through
//!    `tauri-driver`: after start, during and 30 s after an hour of a busy tenant's traffic
//!    (`LIVE_MESSAGES` signed webhooks from `LIVE_CUSTOMERS` customers, sent in
//!    `LIVE_SECONDS`), and while the inbox is scrolled from top to bottom (peak and end).
//!
//! `VENTANA_BENCH_CONVERSATIONS` and `VENTANA_BENCH_MESSAGES` shrink the backlog, for a
//! quick look.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[path = "../crates/inbox/benches/backlog/mod.rs"]
mod backlog;
#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{App, Keyring, Running, is_child, run_bench_in_private_session};
use ventana_demo::{ADMIN, DemoRelay, PASSWORD};
use ventana_inbox::apply::{LogEntry, apply_batch};
use ventana_inbox::cache::{Cache, CacheKey};
use ventana_inbox::notify::{Notice, Notifier, NotifyError};
use ventana_inbox::secrets::{KeyringStore, SecretKind, SecretStore};
use ventana_inbox::sync::SyncState;
use ventana_inbox::{Engine, EngineConfig};

const BENCH: &str = "app";
/// Cold starts measured.
const RUNS: usize = 5;
/// An hour of a busy tenant: a new customer message a second, from 600 customers.
const LIVE_MESSAGES: usize = 3_600;
const LIVE_CUSTOMERS: usize = 600;
/// ... compressed into a minute.
const LIVE_SECONDS: u64 = 60;
/// How long the app idles before the idle sample.
const IDLE: Duration = Duration::from_secs(30);
/// The list's fixed row height (`ConversationList.svelte`).
const ROW_HEIGHT: f64 = 76.0;
/// One scroll step: about 40 rows, one step per animation frame.
const SCROLL_STEP: u32 = 3_000;

const LIST: &str = "[data-testid=\"conversation-list\"] [role=\"listbox\"]";
const ROW: &str = "[data-testid=\"conversation-row\"]";

/// The bench signs in with an engine of its own; it shows nothing.
#[derive(Debug)]
struct Silent;

impl Notifier for Silent {
    fn show(&self, _: &Notice) -> Result<(), NotifyError> {
        Ok(())
    }
}

fn main() {
    if !is_child(BENCH) {
        run_bench_in_private_session(BENCH, Keyring::Unlocked);
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    print_machine();
    let (_xvfb, display) = support::start_xvfb();
    let dunst_config = tempfile::tempdir().unwrap();
    let _dunst = support::start_dunst(&display, dunst_config.path());
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let app_dir = dir.path().join("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = DemoRelay::start(&dir.path().join("relay"), listener)
        .await
        .unwrap_or_else(|e| panic!("the demo relay did not start: {e:#}"));

    // 1. Signed in before, with a big cache.
    let (account, head) = sign_in(&app_dir, &demo.base).await;
    let cache_path = ventana_inbox::account::account_dir(&app_dir, &account).join("cache.db");
    let seeding = Instant::now();
    let conversations = tokio::task::spawn_blocking({
        let cache_path = cache_path.clone();
        let account = account.clone();
        move || seed_cache(&cache_path, &account, head)
    })
    .await
    .unwrap();
    println!(
        "cache: {conversations} conversations in the account's cache ({:.0} MB), \
         built in {:.0} s; the relay's log head is {head}",
        file_size(&cache_path) as f64 / 1e6,
        seeding.elapsed().as_secs_f64()
    );

    // 2. Cold starts.
    let mut starts = Vec::new();
    let mut dropped_every_time = true;
    for run in 1..=RUNS {
        dropped_every_time &= drop_page_cache();
        let (spawn_to_paint, main_to_paint) = cold_start(&display, &app_dir);
        println!(
            "cold start {run}: painted {:.0} ms after spawn ({main_to_paint})",
            ms(spawn_to_paint)
        );
        starts.push(spawn_to_paint);
        // The relay notices the closed stream before the next start.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    starts.sort();

    // 3. Memory, with the app driven through WebDriver.
    let app = App::launch(&display, &app_dir, "light").await;
    app.wait_for(ROW).await;
    let binary = support::app_binary();
    let root = app_pid(&binary);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_start = Memory::of_tree(root);

    let traffic = demo.traffic.clone();
    let sending = tokio::spawn(async move { send_live_traffic(&traffic).await });
    let mut during = after_start.clone();
    while !sending.is_finished() {
        during = during.max(Memory::of_tree(root));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let last_text = sending.await.unwrap();
    support_until_row(&app, &last_text).await;
    let settled = Instant::now();
    while settled.elapsed() < IDLE {
        during = during.max(Memory::of_tree(root));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let idle = Memory::of_tree(root);

    let (scroll_peak, scroll_end, scrolled_rows, scroll_time) = scroll_all(&app, root).await;
    assert!(
        scrolled_rows >= conversations,
        "the list scrolled over {scrolled_rows} rows, fewer than the cache's {conversations}"
    );

    println!();
    println!(
        "page cache dropped before every cold start: {}",
        if dropped_every_time {
            "yes"
        } else {
            "no (not root?)"
        }
    );
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| cold start to a painted inbox of {conversations} conversations ({RUNS} runs) | median {:.0} ms, max {:.0} ms (min {:.0} ms) | < 1 s |",
        ms(starts[starts.len() / 2]),
        ms(starts[starts.len() - 1]),
        ms(starts[0])
    );
    println!(
        "| memory 5 s after start (WebDriver) | {} | |",
        after_start.describe()
    );
    println!(
        "| memory, peak while {LIVE_MESSAGES} messages arrive in {LIVE_SECONDS} s and it settles | {} | |",
        during.describe()
    );
    println!(
        "| memory, idle {} s after that hour of traffic | {} | < 150 MB |",
        IDLE.as_secs(),
        idle.describe()
    );
    println!(
        "| memory while scrolling all {scrolled_rows} rows ({:.0} s), peak | {} | |",
        scroll_time.as_secs_f64(),
        scroll_peak.describe()
    );
    println!(
        "| memory at the end of the scroll, 10 s later | {} | |",
        scroll_end.describe()
    );
    println!();
    println!("processes 5 s after start: {}", after_start.processes());
    println!("processes at idle: {}", idle.processes());
    println!(
        "processes at the end of the scroll: {}",
        scroll_end.processes()
    );
    app.client.clone().close().await.ok();
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = cpu.lines().filter(|l| l.starts_with("processor")).count();
    let memory = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = memory.lines().next().unwrap_or_default().to_owned();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let webkit = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    println!(
        "machine: {cores} cores ({model}), {}, WebKitGTK {webkit}, load average at start {}",
        total
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" "),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Signs `app_dir` in to the relay (secrets to the session's keyring) and lets the first
/// sync finish; the account's id and the relay's head.
async fn sign_in(app_dir: &Path, base: &str) -> (String, u64) {
    let engine = Engine::open(
        EngineConfig::new(app_dir),
        Arc::new(KeyringStore::new("ventana")),
        Arc::new(Silent),
    )
    .unwrap_or_else(|e| panic!("the engine did not open: {e}"));
    let account = engine
        .sign_in(base, ADMIN, PASSWORD, None)
        .await
        .unwrap_or_else(|e| panic!("signing in: {e}"));
    let id = account.record.id.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let head = loop {
        if let Ok(SyncState::Live { head }) = engine.sync_state(&id)
            && engine.cursor(&id).unwrap() == head
        {
            break head;
        }
        assert!(Instant::now() < deadline, "the first sync did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    engine.shutdown();
    drop(engine);
    // The engine's tasks let go of the cache.
    tokio::time::sleep(Duration::from_secs(1)).await;
    (id, head)
}

/// Applies the shared backlog to the account's cache after the relay's `head`, then sets
/// the cursor back to `head`; how many conversations the cache holds.
fn seed_cache(cache_path: &Path, account: &str, head: u64) -> usize {
    let key = KeyringStore::new("ventana")
        .get(account, SecretKind::CacheKey)
        .unwrap()
        .and_then(|secret| secret.to_key_bytes())
        .expect("the account's cache key is in the keyring");
    let mut cache = Cache::open(cache_path, &CacheKey::from_bytes(key)).unwrap();
    let conversations = env_or("VENTANA_BENCH_CONVERSATIONS", backlog::CONVERSATIONS);
    let messages = env_or("VENTANA_BENCH_MESSAGES", backlog::MESSAGES);
    let vocabulary = backlog::Vocabulary::new();
    let plan = backlog::plan(conversations, messages);
    let ids = backlog::Ids::new(&plan);
    let mut seq = head;
    for chunk in plan.items.chunks(5_000) {
        let entries: Vec<LogEntry> = chunk
            .iter()
            .map(|item| {
                seq += 1;
                backlog::entry(&vocabulary, &ids, item, seq)
            })
            .collect();
        apply_batch(&mut cache, &entries).unwrap();
    }
    cache
        .connection()
        .execute(
            "UPDATE sync_state SET last_seq = ?1 WHERE id = 1",
            [head as i64],
        )
        .unwrap();
    cache.checkpoint().unwrap();
    cache
        .connection()
        .query_row("SELECT count(*) FROM conversations", [], |row| {
            row.get::<_, i64>(0)
        })
        .unwrap() as usize
}

/// `sync; echo 3 > /proc/sys/vm/drop_caches`; whether it worked (it needs root).
fn drop_page_cache() -> bool {
    Command::new("sync").status().is_ok_and(|s| s.success())
        && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Spawns the app and waits for its start-up line: the time from the spawn to the line,
/// and the line's own figure (from the start of `main`).
fn cold_start(display: &str, app_dir: &Path) -> (Duration, String) {
    let mut command = Command::new(support::app_binary());
    command
        .env("DISPLAY", display)
        .env("GDK_BACKEND", "x11")
        .env("NO_AT_BRIDGE", "1")
        .env("LANG", "en_US.UTF-8")
        .env("LANGUAGE", "en_US")
        .env("VENTANA_DATA_DIR", app_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let spawned = Instant::now();
    let mut app = Running::spawn("ventana", &mut command);
    let stderr = app.child.stderr.take().unwrap();
    let (found, painted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("startup: inbox painted ") {
                let _ = found.send((Instant::now(), rest.to_owned()));
            }
        }
    });
    let (at, figure) = painted
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the app did not report a painted inbox within 60 s"));
    drop(app);
    (at - spawned, figure)
}

/// The pid of the running app: the process whose executable is `binary`.
fn app_pid(binary: &str) -> u32 {
    let binary = std::fs::canonicalize(binary).unwrap();
    let found: Vec<u32> = pids()
        .into_iter()
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary))
        .collect();
    assert_eq!(found.len(), 1, "expected one app process, found {found:?}");
    found[0]
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and every process below it.
fn tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found
}

/// RSS and PSS of a process tree, in kB, with each process's share.
#[derive(Debug, Clone, Default)]
struct Memory {
    rss_kb: u64,
    pss_kb: u64,
    each: Vec<(String, u64, u64)>,
}

impl Memory {
    fn of_tree(root: u32) -> Memory {
        let mut memory = Memory::default();
        for pid in tree(root) {
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue;
            };
            let field = |name: &str| -> u64 {
                rollup
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0)
            };
            let (rss, pss) = (field("Rss:"), field("Pss:"));
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            memory.rss_kb += rss;
            memory.pss_kb += pss;
            memory.each.push((name, rss, pss));
        }
        memory
    }

    /// The sample with the higher PSS.
    fn max(self, other: Memory) -> Memory {
        if other.pss_kb > self.pss_kb {
            other
        } else {
            self
        }
    }

    fn describe(&self) -> String {
        format!(
            "PSS {:.0} MB, RSS {:.0} MB",
            self.pss_kb as f64 / 1024.0,
            self.rss_kb as f64 / 1024.0
        )
    }

    fn processes(&self) -> String {
        self.each
            .iter()
            .map(|(name, rss, pss)| {
                format!(
                    "{name} PSS {:.0} MB / RSS {:.0} MB",
                    *pss as f64 / 1024.0,
                    *rss as f64 / 1024.0
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// An hour of a busy tenant, compressed: `LIVE_MESSAGES` customer messages from
/// `LIVE_CUSTOMERS` customers over the three channels, at an even pace over
/// `LIVE_SECONDS`, as Meta's signed webhooks. Returns the last Messenger message's text.
async fn send_live_traffic(traffic: &ventana_demo::Traffic) -> String {
    let texts = [
        "Hi! Do you ship to Canada?",
        "¿Cuánto tarda el envío a Valencia?",
        "Where is my order",
        "¿Tienen la talla 40 en negro?",
        "The sole came off after two weeks :(",
        "Can I change the delivery address?",
    ];
    let pace = Duration::from_secs(LIVE_SECONDS).as_secs_f64() / LIVE_MESSAGES as f64;
    let started = tokio::time::Instant::now();
    let mut last = String::new();
    for n in 0..LIVE_MESSAGES {
        tokio::time::sleep_until(started + Duration::from_secs_f64(pace * n as f64)).await;
        let customer = n % LIVE_CUSTOMERS;
        let text = format!("{} (#{n})", texts[n % texts.len()]);
        let zero = chrono::TimeDelta::zero();
        let sent = match customer % 3 {
            0 => {
                traffic
                    .messenger(
                        &format!("72{customer:014}"),
                        &format!("m_live_{n}"),
                        &text,
                        zero,
                    )
                    .await
            }
            1 => {
                traffic
                    .instagram(
                        &format!("178{customer:014}"),
                        &format!("ig_live_{n}"),
                        &text,
                        zero,
                    )
                    .await
            }
            _ => {
                traffic
                    .whatsapp(
                        &format!("3461{customer:07}"),
                        &format!("Customer {customer}"),
                        &format!("wamid.live{n}"),
                        json!({"type": "text", "text": {"body": text}}),
                        zero,
                    )
                    .await
            }
        };
        sent.unwrap_or_else(|e| panic!("webhook {n}: {e:#}"));
        // WhatsApp's timestamps are in whole seconds: its newest message may sort below
        // others of the same second, so the check looks for the last Messenger one.
        if customer.is_multiple_of(3) {
            last = text;
        }
    }
    last
}

async fn support_until_row(app: &App, needle: &str) {
    app.until_text(ROW, needle).await;
}

/// Scrolls the inbox from top to bottom, one step per animation frame, loading pages as the
/// UI does; samples memory between WebDriver calls. Peak, end (10 s after), rows, time.
async fn scroll_all(app: &App, root: u32) -> (Memory, Memory, usize, Duration) {
    const SCRIPT: &str = "
        const [list, step, frames] = arguments;
        const done = arguments[arguments.length - 1];
        const v = document.querySelector(list);
        let n = 0;
        const tick = () => {
            v.scrollTop += step;
            n += 1;
            if (n >= frames || v.scrollTop + v.clientHeight >= v.scrollHeight - 1) {
                requestAnimationFrame(() => done({top: v.scrollTop, height: v.scrollHeight,
                    view: v.clientHeight,
                    rows: document.querySelectorAll('[data-testid=\"conversation-row\"]').length}));
            } else {
                requestAnimationFrame(tick);
            }
        };
        requestAnimationFrame(tick);";
    let started = Instant::now();
    let mut peak = Memory::of_tree(root);
    let mut last_height = 0.0;
    let mut still_since = Instant::now();
    let height = loop {
        let seen: Value = app
            .client
            .execute_async(SCRIPT, vec![json!(LIST), json!(SCROLL_STEP), json!(60)])
            .await
            .unwrap_or_else(|e| panic!("scrolling: {e}"));
        let top = seen["top"].as_f64().unwrap_or_default();
        let height = seen["height"].as_f64().unwrap_or_default();
        let view = seen["view"].as_f64().unwrap_or_default();
        assert!(
            seen["rows"].as_u64().unwrap_or_default() > 0,
            "no rows rendered"
        );
        peak = peak.max(Memory::of_tree(root));
        if height > last_height {
            last_height = height;
            still_since = Instant::now();
        }
        if top + view >= height - 1.0 {
            // At the end of what is loaded: the next page comes, or this is the end.
            if still_since.elapsed() > Duration::from_secs(5) {
                break height;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let took = started.elapsed() - Duration::from_secs(5);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let end = Memory::of_tree(root);
    let peak = peak.max(end.clone());
    (peak, end, (height / ROW_HEIGHT).round() as usize, took)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
