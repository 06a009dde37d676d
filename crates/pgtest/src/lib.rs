//! A private PostgreSQL cluster for the relay's tests and benchmarks: `initdb` in a temp
//! dir, started on a free loopback port, stopped (immediately: nothing in it is worth a
//! clean shutdown) when the last holder drops it.
//!
//! Root cannot run PostgreSQL, so as root the cluster's files belong to Debian's `postgres`
//! user and its programs run as that user through `runuser`. Each test takes a database of
//! its own ([`Cluster::create_database`]), so the tests of one process share one cluster and
//! still run in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Why a cluster could not be made or used; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("PostgreSQL is not installed ({0}): scripts/setup-debian installs Debian's postgresql")]
    NotInstalled(String),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed: {output}")]
    Failed { program: String, output: String },
    #[error("PostgreSQL did not start; its log:\n{0}")]
    NotStarted(String),
    #[error("the cluster's temp dir: {0}")]
    Dir(std::io::Error),
}

/// A running cluster; dropping the last handle stops it and removes its files.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Debian's newest PostgreSQL, or `VENTANA_PG_BIN`.
fn bin_dir() -> Result<PathBuf, ClusterError> {
    if let Ok(dir) = std::env::var("VENTANA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(root)
        .map_err(|e| ClusterError::NotInstalled(format!("{}: {e}", root.display())))?;
    let newest = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .ok_or_else(|| ClusterError::NotInstalled(format!("no version in {}", root.display())))?;
    Ok(root.join(newest.to_string()).join("bin"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// The cluster this process's tests share (started if none is running).
    pub fn shared() -> Result<Arc<Cluster>, ClusterError> {
        // A test that panicked while holding the lock leaves a usable `Weak` behind.
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return Ok(cluster);
        }
        let cluster = Arc::new(Cluster::start()?);
        *shared = Arc::downgrade(&cluster);
        Ok(cluster)
    }

    /// A new cluster of the caller's own.
    pub fn start() -> Result<Cluster, ClusterError> {
        let dir = tempfile::tempdir().map_err(ClusterError::Dir)?;
        let as_postgres = is_root();
        let mut cluster = Cluster {
            dir,
            bin: bin_dir()?,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let path = cluster.dir.path().to_string_lossy().into_owned();
            cluster.run_plain("chown", &["-R", "postgres:postgres", &path])?;
        }
        let data = cluster.data_dir().to_string_lossy().into_owned();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let log = cluster.dir.path().join("postgres.log");
        let log = log.to_string_lossy().into_owned();
        // A port free a moment ago may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map_err(ClusterError::Dir)?
                .port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
                 -c max_connections=300 -c shared_buffers=32MB -c fsync=on",
                cluster.dir.path().display()
            );
            let started = cluster.run(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
                ],
            );
            if started.is_ok() {
                cluster.port = port;
                return Ok(cluster);
            }
        }
        Err(ClusterError::NotStarted(
            std::fs::read_to_string(&log).unwrap_or_default(),
        ))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this cluster, as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database of the caller's own; its URL.
    pub fn create_database(&self) -> Result<String, ClusterError> {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name],
        )?;
        Ok(self.url(&name))
    }

    /// Runs SQL through `psql` as the superuser (for what a test must set up outside the
    /// relay, such as a role without privileges); its output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String, ClusterError> {
        finish(program, self.command(program).args(args))
    }

    fn run_plain(&self, program: &str, args: &[&str]) -> Result<String, ClusterError> {
        finish(program, Command::new(program).args(args))
    }
}

fn finish(program: &str, command: &mut Command) -> Result<String, ClusterError> {
    let output = command.output().map_err(|source| ClusterError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(ClusterError::Failed {
            program: program.to_owned(),
            output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data_dir().to_string_lossy().into_owned();
            if let Err(error) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            {
                eprintln!("the test cluster did not stop: {error}");
            }
        }
    }
}
