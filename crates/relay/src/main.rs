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
    /// A PostgreSQL URL (`postgres://user@host/db?sslmode=require`) for the shared
    /// database several relay nodes serve from; without it the relay keeps an embedded
    /// SQLite database in the data dir. Every node must share the key
    /// (`VENTANA_RELAY_KEY`, or the same `relay.key` in each data dir).
    #[arg(long, global = true, env = "VENTANA_DATABASE_URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copy an embedded relay (its SQLite database) into an empty PostgreSQL database,
    /// with every sequence, sealed secret and audit entry as it is. Stop the relay first.
    MigrateStore {
        /// The embedded relay's data dir (holding `relay.db`).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL to copy into.
        #[arg(long)]
        to: String,
    },
    /// Take a consistent, encrypted backup of the running relay's database into a new
    /// directory (see README.md, "Backups"). The relay may keep serving.
    Backup {
        /// The directory to write `manifest.json` and `database.enc` into (new or empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup, re-applying every erasure recorded after it before anything can
    /// serve it. Stop every relay using the target first.
    Restore {
        /// The backup's directory.
        #[arg(long)]
        from: PathBuf,
        /// Replace the data dir's existing `relay.db` (its erasure ledger is kept).
        #[arg(long)]
        force: bool,
        /// Restore a backup that still holds erasures past their 30-day deadline: they are
        /// re-applied, and the backup is rewritten re-erased.
        #[arg(long)]
        re_erase: bool,
        /// Another copy of the erasure ledger (`erasure-ledger.jsonl` from another node or
        /// kept elsewhere); may be repeated.
        #[arg(long = "ledger", value_name = "FILE")]
        ledgers: Vec<PathBuf>,
        /// The current time (RFC 3339), for tests of the age rule.
        #[arg(long, hide = true)]
        now: Option<String>,
    },
    /// Serve webhooks and the desktop API.
    Serve {
        /// The address to listen on.
        #[arg(long, env = "VENTANA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        graph: GraphUrls,
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
        /// A session's absolute lifetime from sign-in (e.g. 30d, 12h); refreshing never extends it.
        #[arg(long, default_value = "30d", value_parser = parse_duration)]
        session_lifetime: std::time::Duration,
        /// A session ends after this long without a refresh (desktops refresh every 15 min while running).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        session_idle: std::time::Duration,
        /// How long the refresh token rotated last is still accepted (a desktop that lost the answer).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        refresh_grace: std::time::Duration,
        /// The relay is behind a reverse proxy: take clients' addresses from X-Forwarded-For
        /// (for the per-address sign-in limit). Only set it when the proxy sets that header.
        #[arg(long)]
        trusted_proxy: bool,
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
    /// Export a contact's or the whole tenant's data (data portability): a zip with
    /// export.json (docs/export.md) and the attachments, fetched from Meta. Audited.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
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
    /// Set the tenant's rules for its desktops.
    #[command(name = "set-policy")]
    SetPolicy {
        #[arg(long)]
        tenant: String,
        /// Whether a desktop whose access is removed or disabled deletes that account's cache.
        #[arg(long, action = clap::ArgAction::Set)]
        wipe_cache_on_removal: bool,
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
    /// List the tenant's bot keys (never the keys) as JSON lines.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a bot key at once.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
    /// Replace a bot key with a new one (printed once); the old one stops working at once.
    Rotate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// One contact's data; prints what was written as a JSON line.
    Contact {
        /// The tenant's name or id.
        #[arg(long)]
        tenant: String,
        /// The contact's id.
        contact: String,
        #[command(flatten)]
        to: ExportTo,
    },
    /// The whole tenant (for an admin leaving the platform): the tenant, its channels
    /// (no tokens or secrets), its agents (no password hashes), every contact's data and
    /// the audit log.
    Tenant {
        /// The tenant's name or id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        to: ExportTo,
    },
}

#[derive(Debug, clap::Args)]
struct ExportTo {
    /// The zip file to write (refused if it exists, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
    /// Where attachments are fetched from.
    #[command(flatten)]
    graph: GraphUrls,
}

/// Where the Graph APIs are: Meta's, or metasim's to test without Meta.
#[derive(Debug, clap::Args)]
struct GraphUrls {
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
}

impl GraphUrls {
    fn apply(&self, settings: &mut Settings) {
        settings.graph.facebook_url = self.graph_url.clone();
        settings.graph.instagram_url = self.instagram_graph_url.clone();
    }
}

impl ExportCommand {
    fn to(&self) -> &ExportTo {
        match self {
            ExportCommand::Contact { to, .. } | ExportCommand::Tenant { to, .. } => to,
        }
    }
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
    /// Add an agent and print their id. With --password-stdin the password is read from
    /// standard input; otherwise a temporary one is printed on a second line, to be
    /// changed at first sign-in.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from standard input (secrets never go in arguments).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a tenant's agents as JSON lines.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Change an agent's role.
    #[command(name = "set-role")]
    SetRole {
        #[arg(long)]
        tenant: String,
        /// The agent's id or email.
        #[arg(long)]
        agent: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Disable an agent: every session of theirs ends and they cannot sign in.
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
    },
    /// Let a disabled agent sign in again.
    Enable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
    },
    /// Remove an agent: every session of theirs ends, for good.
    Remove {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
    },
    /// Print a new temporary password for the agent; their sessions end.
    #[command(name = "reset-password")]
    ResetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
    },
    /// List the agent's live sessions as JSON lines.
    Sessions {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
    },
    /// End one of the agent's sessions.
    #[command(name = "revoke-session")]
    RevokeSession {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        session: String,
    },
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Agent => Role::Agent,
        }
    }
}

/// `30d`, `12h`, `15m`, `90s` (or a bare number of seconds).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30d, 12h, 15m or 90s"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is one of s, m, h, d")),
    };
    number
        .checked_mul(seconds)
        .filter(|&total| total > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// List the most recent quarantined webhook bodies (why, when, how big) as JSON lines.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Delete quarantined bodies received more than this many days ago (0: all of them;
    /// the relay itself keeps them 90 days). Prints how many went.
    Purge {
        #[arg(long, value_name = "DAYS")]
        older_than_days: u32,
    },
    /// Take quarantined bodies in again, as if Meta had just sent them (e.g. after the
    /// channel they name was connected, or an upgrade that reads them): what each did is
    /// printed as a JSON line, and a body whose every event found its channel leaves the
    /// quarantine. Running relays do this by themselves for connected channels. With the
    /// embedded (SQLite) store, stop the relay first.
    Replay {
        /// The ids to replay (see `quarantine list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Every quarantined body, the newest first.
        #[arg(long)]
        all: bool,
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
        graph,
        graph_version,
        public_url,
        sweep_seconds,
        retry_base_ms,
        session_lifetime,
        session_idle,
        refresh_grace,
        trusted_proxy,
        ..
    } = &cli.command
    {
        let delta = |d: &std::time::Duration| {
            chrono::TimeDelta::from_std(*d).context("a duration is too long")
        };
        settings.sessions.lifetime = delta(session_lifetime)?;
        settings.sessions.idle = delta(session_idle)?;
        settings.sessions.refresh_grace = delta(refresh_grace)?;
        settings.trusted_proxy = *trusted_proxy;
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
        graph.apply(&mut settings);
        settings.graph.version = graph_version.clone();
        settings.public_url = public_url.clone();
    }
    if let Command::Export { command } = &cli.command {
        command.to().graph.apply(&mut settings);
    }
    settings.database = cli.database.clone();
    Relay::open(&cli.data_dir, settings).with_context(|| match &cli.database {
        Some(_) => "opening the relay on its PostgreSQL database".to_owned(),
        None => format!("opening the relay in {}", cli.data_dir.display()),
    })
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
    if let Command::MigrateStore { from, to } = &cli.command {
        let report = ventana_relay::store::postgres::copy_from_sqlite(&from.join("relay.db"), to)
            .with_context(|| format!("copying {} to PostgreSQL", from.display()))?;
        let mut out = std::io::stdout().lock();
        use std::io::Write;
        for (table, rows) in report.tables {
            writeln!(out, "{table}\t{rows}")?;
        }
        return Ok(());
    }
    if let Some(result) = backup_command(&cli) {
        return result;
    }
    let relay = open(&cli)?;
    let state = &relay.state;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match cli.command {
        // Handled above, before a relay is opened.
        Command::MigrateStore { .. } | Command::Backup { .. } | Command::Restore { .. } => {}
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
                    password_stdin,
                },
        } => {
            if password_stdin {
                let password = read_secret("password")?;
                let agent = admin::add_agent(state, &tenant, &email, role.into(), &password)?;
                writeln!(out, "{}", agent.id)?;
            } else {
                let (agent, temporary) = admin::invite_agent(state, &tenant, &email, role.into())?;
                writeln!(out, "{}\n{temporary}", agent.id)?;
            }
        }
        Command::Agent {
            command:
                AgentCommand::SetRole {
                    tenant,
                    agent,
                    role,
                },
        } => {
            admin::edit_agent(state, &tenant, &agent, admin::AgentEdit::Role(role.into()))?;
        }
        Command::Agent {
            command: AgentCommand::Disable { tenant, agent },
        } => {
            admin::edit_agent(state, &tenant, &agent, admin::AgentEdit::Disable)?;
        }
        Command::Agent {
            command: AgentCommand::Enable { tenant, agent },
        } => {
            admin::edit_agent(state, &tenant, &agent, admin::AgentEdit::Enable)?;
        }
        Command::Agent {
            command: AgentCommand::Remove { tenant, agent },
        } => {
            admin::remove_agent(state, &tenant, &agent)?;
        }
        Command::Agent {
            command: AgentCommand::ResetPassword { tenant, agent },
        } => {
            writeln!(out, "{}", admin::reset_password(state, &tenant, &agent)?)?;
        }
        Command::Agent {
            command: AgentCommand::Sessions { tenant, agent },
        } => {
            admin::print_lines(&admin::sessions(state, &tenant, &agent)?, &mut out)?;
        }
        Command::Agent {
            command:
                AgentCommand::RevokeSession {
                    tenant,
                    agent,
                    session,
                },
        } => {
            admin::revoke_session(state, &tenant, &agent, &session)?;
        }
        Command::Tenant {
            command:
                TenantCommand::SetPolicy {
                    tenant,
                    wipe_cache_on_removal,
                },
        } => {
            let policy = ventana_relay::store::TenantPolicy {
                wipe_cache_on_removal,
            };
            admin::set_tenant_policy(state, &tenant, policy)?;
        }
        Command::BotKey {
            command: BotKeyCommand::List { tenant },
        } => {
            admin::print_lines(&admin::bot_keys(state, &tenant)?, &mut out)?;
        }
        Command::BotKey {
            command: BotKeyCommand::Revoke { tenant, id },
        } => {
            admin::revoke_bot_key(state, &tenant, &id)?;
        }
        Command::BotKey {
            command: BotKeyCommand::Rotate { tenant, id },
        } => {
            writeln!(out, "{}", admin::rotate_bot_key(state, &tenant, &id)?)?;
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
        Command::Quarantine {
            command: QuarantineCommand::Purge { older_than_days },
        } => {
            let cutoff = chrono::Utc::now() - chrono::TimeDelta::days(i64::from(older_than_days));
            let removed = state
                .store
                .purge_quarantine(cutoff)
                .context("purging the quarantine")?;
            if removed > 0 {
                state
                    .store
                    .checkpoint_truncate()
                    .context("making the purged bodies leave the store's files")?;
            }
            writeln!(out, "{removed}")?;
        }
        Command::Quarantine {
            command: QuarantineCommand::Replay { ids, all },
        } => {
            let ids = if all {
                state
                    .store
                    .quarantined(usize::MAX)
                    .context("reading the quarantine")?
                    .into_iter()
                    .map(|q| q.id)
                    .collect()
            } else {
                ids
            };
            for id in ids {
                let replayed = ventana_relay::webhook::replay::replay(state, id)
                    .with_context(|| format!("replaying quarantined body {id}"))?;
                admin::print_lines(
                    &[serde_json::json!({ "id": id, "replayed": replayed })],
                    &mut out,
                )?;
            }
        }
        Command::Export { command } => {
            let (tenant, contact) = match &command {
                ExportCommand::Contact {
                    tenant, contact, ..
                } => (tenant, Some(contact.as_str())),
                ExportCommand::Tenant { tenant, .. } => (tenant, None),
            };
            let to = command.to();
            let written =
                ventana_relay::export::export_to_file(state, tenant, contact, &to.out, to.force)?;
            admin::print_lines(&[written], &mut out)?;
        }
        Command::Log { tenant, after } => {
            admin::print_log(state, &tenant, after, &mut out)?;
        }
    }
    Ok(())
}

/// `backup` and `restore` (they work on the database's files, not on an opened relay);
/// `None` for every other command. Prints what was done as one JSON line.
fn backup_command(cli: &Cli) -> Option<anyhow::Result<()>> {
    use ventana_relay::backup;
    let source = backup::Source {
        data_dir: &cli.data_dir,
        database: cli.database.as_deref(),
    };
    let done = match &cli.command {
        Command::Backup { to } => backup::backup(&source, to)
            .with_context(|| format!("backing up into {}", to.display()))
            .and_then(|manifest| Ok(serde_json::to_string(&manifest)?)),
        Command::Restore {
            from,
            force,
            re_erase,
            ledgers,
            now,
        } => (|| {
            let now = match now {
                Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .context("--now is not an RFC 3339 time")?
                    .with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let options = backup::RestoreOptions {
                force: *force,
                re_erase: *re_erase,
                ledgers: ledgers.clone(),
                now,
            };
            let report = backup::restore(&source, from, &options)
                .with_context(|| format!("restoring {}", from.display()))?;
            Ok(serde_json::to_string(&report)?)
        })(),
        _ => return None,
    };
    Some(done.and_then(|line| {
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{line}")?;
        Ok(())
    }))
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
