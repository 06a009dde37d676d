//! `ventana-demo`: what the README's run command starts before the app.
//!
//! The demo world of `ventana_demo` (a relay, metasim, one tenant and its customers in
//! every state) on a fixed port, the app's data dir signed in to it (secrets in the OS
//! keyring), and a new customer message every few seconds while it runs.

// A command-line program: it talks to its user on standard output.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ventana_demo::{ADMIN, AGENT, DemoRelay, LIVE, PASSWORD};
use ventana_inbox::notify::{Notice, Notifier, NotifyError};
use ventana_inbox::secrets::KeyringStore;
use ventana_inbox::{Engine, EngineConfig};

#[derive(Debug, Parser)]
#[command(about = "A demo relay with metasim traffic, and the app signed in to it")]
struct Args {
    /// Where the relay's data and the app's data live.
    #[arg(long, default_value = "target/demo")]
    data_dir: PathBuf,
    /// The relay's port on 127.0.0.1.
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Seconds between live customer messages (0: none).
    #[arg(long, default_value_t = 8)]
    every: u64,
}

/// The demo signs the app in with an engine of its own; it shows nothing.
#[derive(Debug)]
struct Silent;

impl Notifier for Silent {
    fn show(&self, _: &Notice) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let app_dir = args.data_dir.join("app");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("port {} is taken: pass --port", args.port))?;
    let mut demo = DemoRelay::start(&args.data_dir.join("relay"), listener).await?;
    let base = demo.base.clone();
    sign_in_app(&app_dir, &base).await?;
    println!(
        "ventana-demo: relay at {base}; the app at {} is signed in",
        app_dir.display()
    );
    println!("  sign in elsewhere as {ADMIN} or {AGENT}, password {PASSWORD}");

    if args.every > 0 {
        let traffic = demo.traffic.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                tokio::time::sleep(Duration::from_secs(args.every)).await;
                n += 1;
                let (user, text) = LIVE[n as usize % LIVE.len()];
                let _ = traffic
                    .messenger(
                        user,
                        &format!("live-{}-{n}", Utc::now().timestamp()),
                        text,
                        TimeDelta::zero(),
                    )
                    .await;
            }
        });
    }
    tokio::select! {
        served = demo.wait() => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    demo.stop().await
}

/// Signs the app's data dir in (the refresh token goes to the OS keyring), and lets the
/// first sync run so the app opens populated.
async fn sign_in_app(app_dir: &std::path::Path, base: &str) -> Result<()> {
    let engine = Engine::open(
        EngineConfig::new(app_dir),
        Arc::new(KeyringStore::new("ventana")),
        Arc::new(Silent),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let account = match engine
        .accounts()
        .into_iter()
        .find(|a| a.record.relay_url == base)
    {
        Some(account) => account,
        None => engine
            .sign_in(base, ADMIN, PASSWORD, None)
            .await
            .map_err(|e| anyhow::anyhow!("signing the app in: {e}"))?,
    };
    for _ in 0..100 {
        if matches!(
            engine.sync_state(&account.record.id),
            Ok(ventana_inbox::sync::SyncState::Live { .. })
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown();
    Ok(())
}
