//! A private PostgreSQL cluster for the relay's tests: `initdb` in a temp dir, started on a
//! free loopback port, torn down when the last test holding it drops it. Root cannot run
//! PostgreSQL, so as root the cluster runs as Debian's `postgres` user (`runuser`).
//! Each test takes a database of its own, so tests share one cluster and still run in
//! parallel.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Debian's newest PostgreSQL, or `VENTANA_PG_BIN`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("VENTANA_PG_BIN") {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<u32> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not installed ({e}): scripts/setup-debian installs Debian's postgresql"
            )
        })
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort();
    let major = majors
        .last()
        .expect("no PostgreSQL under /usr/lib/postgresql");
    root.join(major.to_string()).join("bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// The cluster the tests of this process share (started if none is running).
    pub fn shared() -> Arc<Cluster> {
        let mut shared = SHARED.lock().unwrap();
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Cluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot hand the cluster's dir to postgres"
            );
        }
        let mut cluster = Cluster {
            dir,
            bin: bin_dir(),
            port: 0,
            as_postgres,
        };
        let data = cluster.data_dir();
        let data = data.to_str().unwrap().to_owned();
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
        );
        let log = cluster.dir.path().join("postgres.log");
        let log = log.to_str().unwrap().to_owned();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
                 -c max_connections=300 -c shared_buffers=32MB -c fsync=on",
                cluster.dir.path().display()
            );
            if cluster.try_run(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
                ],
            ) {
                cluster.port = port;
                return cluster;
            }
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("PostgreSQL did not start:\n{log}");
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database of this test's own; its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name],
        );
        self.url(&name)
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

    fn try_run(&self, program: &str, args: &[&str]) -> bool {
        let output = self.command(program).args(args).output().unwrap();
        if !output.status.success() {
            eprintln!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output.status.success()
    }

    fn run(&self, program: &str, args: &[&str]) {
        assert!(self.try_run(program, args), "{program} failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data_dir();
            let _ = self.try_run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or(""),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
