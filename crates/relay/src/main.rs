//! `ventana-relay`: the relay server and its admin CLI.
//!
//! Secrets never go on the command line (it lands in shell history and `ps`): app secrets
//! and passwords are read from standard input.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;
use ventana_protocol::ChannelKind;
use ventana_relay::admin;
use ventana_relay::server::{Relay, Settings, run};
use ventana_relay::store::Role;

#[derive(Debug, Parser)]
#[command(
    name = "ventana-relay",
    version,
    about = "Ventana's relay: Meta webhooks in, event streams out"
)]
struct Cli {
    /// Where the relay keeps its database and key.
    #[arg(
        long,
        global = true,
        env = "VENTANA_DATA_DIR",
        default_value = "relay-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve webhooks and the desktop API.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The Graph API's base URL (metasim's, to test without Meta).
        #[arg(
            long,
            env = "VENTANA_GRAPH_URL",
            default_value = "https://graph.facebook.com"
        )]
        graph_url: String,
        /// The Instagram Graph API's base URL.
        #[arg(
            long,
            env = "VENTANA_INSTAGRAM_GRAPH_URL",
            default_value = "https://graph.instagram.com"
        )]
        instagram_graph_url: String,
        /// The Graph API version to call (v25.0 or later).
        #[arg(long, env = "VENTANA_GRAPH_VERSION", default_value = "v25.0")]
        graph_version: String,
        /// The relay's public base URL, for links it hands out (the data-deletion status page).
        #[arg(long, env = "VENTANA_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds between checks of time-based rules (waiting customers, closing windows,
        /// snoozes).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        sweep_seconds: u64,
        /// Base delay in milliseconds before retrying a rate-limited reply (doubles each time).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60000))]
        retry_base_ms: u64,
    },
    /// Manage tenants (the businesses the relay serves).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage Meta apps (whose webhooks the relay verifies).
    #[command(name = "meta-app")]
    MetaApp {
        #[command(subcommand)]
        command: MetaAppCommand,
    },
    /// Manage channels (Pages, Instagram accounts, WhatsApp numbers).
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Manage agents (the people who answer).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Inspect signed webhooks the relay could not use.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Keys for a tenant's bot (hand-offs and automated replies).
    #[command(name = "bot-key")]
    BotKey {
        #[command(subcommand)]
        command: BotKeyCommand,
    },
    /// The audit log of agents' and admins' actions.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a tenant's log as JSON lines.
    Log {
        /// The tenant's name or id.
        #[arg(long)]
        tenant: String,
        /// Print only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Add a tenant and print its id.
    Add { name: String },
    /// List the tenants as JSON lines.
    List,
    /// Allow or forbid agents (not only admins) to erase contacts.
    #[command(name = "agents-may-erase")]
    AgentsMayErase {
        #[arg(long)]
        tenant: String,
        #[arg(long, action = clap::ArgAction::Set)]
        allowed: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BotKeyCommand {
    /// Make a bot key and print it (once: only its hash is kept).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the tenant's hash chain and print it as JSON lines.
    Export {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum MetaAppCommand {
    /// Register a Meta app. The app secret is read from standard input.
    Add {
        #[arg(long)]
        app_id: String,
        /// Read the app secret from standard input (required: secrets never go in arguments).
        #[arg(long, required = true)]
        app_secret_stdin: bool,
        /// The verify token typed into Meta's App Dashboard for the webhook handshake.
        #[arg(long)]
        verify_token: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Messenger,
    Instagram,
    Whatsapp,
}

impl From<Kind> for ChannelKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Messenger => ChannelKind::Messenger,
            Kind::Instagram => ChannelKind::Instagram,
            Kind::Whatsapp => ChannelKind::WhatsApp,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ChannelCommand {
    /// Connect a channel to a tenant.
    Add {
        /// The tenant's name or id.
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The Page id, Instagram account id, or WhatsApp phone number id.
        #[arg(long)]
        external_id: String,
        /// The Meta app whose webhooks carry this channel's events.
        #[arg(long)]
        app_id: String,
        /// The name agents see (defaults to the kind and id).
        #[arg(long)]
        name: Option<String>,
        /// The WhatsApp Business Account id (WhatsApp: where the templates live).
        #[arg(long)]
        waba_id: Option<String>,
        /// Read the channel's access token from standard input.
        #[arg(long)]
        token_stdin: bool,
    },
    /// Set a channel's access token (read from standard input).
    #[command(name = "set-token")]
    SetToken {
        #[arg(long)]
        tenant: String,
        /// The channel's id or its Meta id.
        #[arg(long)]
        channel: String,
        #[arg(long, required = true)]
        token_stdin: bool,
    },
    /// List a tenant's channels as JSON lines.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Agent,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Add an agent. The password is read from standard input.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from standard input (required: secrets never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List a tenant's agents as JSON lines.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// List the most recent quarantined webhook bodies (why, when, how big) as JSON lines.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Reads one secret line from standard input.
fn read_secret(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what}"))?;
    let secret = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!secret.is_empty(), "no {what} on standard input");
    Ok(secret)
}

fn open(cli: &Cli) -> anyhow::Result<Relay> {
    let mut settings = Settings::default();
    if let Command::Serve {
        graph_url,
        instagram_graph_url,
        graph_version,
        public_url,
        sweep_seconds,
        retry_base_ms,
        ..
    } = &cli.command
    {
        settings.sweep_every = std::time::Duration::from_secs(*sweep_seconds);
        settings.replies.retry_base = std::time::Duration::from_millis(*retry_base_ms);
        anyhow::ensure!(
            graph_version
                .strip_prefix('v')
                .and_then(|v| v.split('.').next())
                .and_then(|major| major.parse::<u32>().ok())
                .is_some_and(|major| major >= 25),
            "--graph-version must be v25.0 or later (got {graph_version:?})"
        );
        settings.graph.facebook_url = graph_url.clone();
        settings.graph.instagram_url = instagram_graph_url.clone();
        settings.graph.version = graph_version.clone();
        settings.public_url = public_url.clone();
    }
    Relay::open(&cli.data_dir, settings)
        .with_context(|| format!("opening the relay in {}", cli.data_dir.display()))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let relay = open(&cli)?;
    let state = &relay.state;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match cli.command {
        Command::Serve { listen, .. } => {
            drop(out);
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(address = %listener.local_addr()?, data_dir = %cli.data_dir.display(), "relay listening");
                run(listener, relay.clone(), shutdown_signal())
                    .await
                    .context("the server stopped with an error")
            })?;
        }
        Command::Tenant {
            command: TenantCommand::Add { name },
        } => {
            let tenant = admin::add_tenant(state, &name)?;
            writeln!(out, "{}", tenant.id)?;
        }
        Command::MetaApp {
            command:
                MetaAppCommand::Add {
                    app_id,
                    verify_token,
                    ..
                },
        } => {
            let secret = read_secret("app secret")?;
            admin::add_meta_app(state, &app_id, &secret, verify_token.as_deref())?;
            writeln!(out, "{app_id}")?;
        }
        Command::Channel {
            command:
                ChannelCommand::Add {
                    tenant,
                    kind,
                    external_id,
                    app_id,
                    name,
                    waba_id,
                    token_stdin,
                },
        } => {
            let token = token_stdin
                .then(|| read_secret("access token"))
                .transpose()?;
            let channel = admin::add_channel(
                state,
                &tenant,
                kind.into(),
                &external_id,
                &app_id,
                name.as_deref(),
                waba_id.as_deref(),
            )?;
            if let Some(token) = token {
                admin::set_channel_token(state, &tenant, channel.id.as_str(), &token)?;
            }
            writeln!(out, "{}", channel.id)?;
        }
        Command::Channel {
            command: ChannelCommand::SetToken {
                tenant, channel, ..
            },
        } => {
            let token = read_secret("access token")?;
            let channel = admin::set_channel_token(state, &tenant, &channel, &token)?;
            writeln!(out, "{}", channel.id)?;
        }
        Command::Tenant {
            command: TenantCommand::AgentsMayErase { tenant, allowed },
        } => {
            admin::set_agents_may_erase(state, &tenant, allowed)?;
        }
        Command::BotKey {
            command: BotKeyCommand::Add { tenant, name },
        } => {
            let key = admin::add_bot_key(state, &tenant, &name)?;
            writeln!(out, "{key}")?;
        }
        Command::Audit {
            command: AuditCommand::Export { tenant },
        } => {
            admin::print_lines(&admin::audit_log(state, &tenant)?, &mut out)?;
        }
        Command::Agent {
            command:
                AgentCommand::Add {
                    tenant,
                    email,
                    role,
                    ..
                },
        } => {
            let password = read_secret("password")?;
            let role = match role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Agent => Role::Agent,
            };
            let agent = admin::add_agent(state, &tenant, &email, role, &password)?;
            writeln!(out, "{}", agent.id)?;
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            admin::print_lines(&admin::tenants(state)?, &mut out)?;
        }
        Command::Channel {
            command: ChannelCommand::List { tenant },
        } => {
            admin::print_lines(&admin::channels(state, &tenant)?, &mut out)?;
        }
        Command::Agent {
            command: AgentCommand::List { tenant },
        } => {
            admin::print_lines(&admin::agents(state, &tenant)?, &mut out)?;
        }
        Command::Quarantine {
            command: QuarantineCommand::List { limit },
        } => {
            let quarantined = state
                .store
                .quarantined(limit)
                .context("reading the quarantine")?;
            admin::print_lines(&quarantined, &mut out)?;
        }
        Command::Log { tenant, after } => {
            admin::print_log(state, &tenant, after, &mut out)?;
        }
    }
    Ok(())
}

/// Completes on Ctrl-C (or SIGTERM on Unix), so the server drains before exiting.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
