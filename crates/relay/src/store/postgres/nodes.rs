//! The relay processes sharing the database: who is alive (a heartbeat each) and who runs
//! the periodic jobs (an advisory lock).
//!
//! A heartbeat, not the lock, says who is alive because a reply's owner must stay its owner
//! through a short database hiccup; the lease (10 s) is long next to the heartbeat (2 s).
//! The periodic jobs need the opposite: exactly one runner, and a new one within seconds of
//! the old one's death. A session-level advisory lock gives both: PostgreSQL releases it
//! the moment the holder's connection ends, which a killed process's kernel does at once.

use super::*;

/// The advisory lock the periodic jobs' runner holds ("sweeper" in ASCII).
const JOBS_LOCK: i64 = 0x73_77_65_65_70_65_72;

pub(super) struct Node {
    pub(super) id: String,
    /// The lease, in seconds, for SQL (`make_interval(secs => …)`).
    pub(super) lease_seconds: f64,
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The connection holding the jobs lock, once this node has it.
    jobs_lock: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Registers a new node and starts its heartbeat.
    pub(super) async fn register(
        pool: Pool,
        config: tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
        options: &PostgresOptions,
    ) -> Result<Arc<Node>, StoreError> {
        let node = Arc::new(Node {
            id: new_id(),
            lease_seconds: options.node_lease.as_secs_f64(),
            config,
            tls,
            jobs_lock: tokio::sync::Mutex::new(None),
        });
        let client = pool.get().await?;
        client
            .execute("INSERT INTO nodes (id) VALUES ($1)", &[&node.id])
            .await?;
        drop(client);
        tokio::spawn(heartbeat(pool, node.id.clone(), options.heartbeat));
        Ok(node)
    }

    /// Whether this node runs the periodic jobs now: it takes the lock if it is free, and
    /// keeps it while its connection lives.
    pub(super) async fn leads(&self) -> Result<bool, StoreError> {
        let mut held = self.jobs_lock.lock().await;
        if let Some(client) = held.as_ref() {
            if !client.is_closed() && client.simple_query("SELECT 1").await.is_ok() {
                return Ok(true);
            }
            // The connection is gone, and the lock with it: another node may have it now.
            *held = None;
        }
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(unavailable)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the periodic jobs' lock connection ended");
            }
        });
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&JOBS_LOCK])
            .await?;
        let taken: bool = row.try_get(0)?;
        if taken {
            tracing::info!(node = %self.id, "this node runs the periodic jobs");
            *held = Some(client);
        }
        Ok(taken)
    }
}

async fn heartbeat(pool: Pool, node: String, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let beat = async {
            let client = pool.get().await?;
            client
                .execute(
                    "UPDATE nodes SET heartbeat_at = now() WHERE id = $1",
                    &[&node],
                )
                .await?;
            // Nodes gone for a day are history: nothing refers to them but finished replies.
            client
                .execute(
                    "DELETE FROM nodes WHERE heartbeat_at < now() - interval '1 day'",
                    &[],
                )
                .await?;
            Ok::<_, StoreError>(())
        };
        if let Err(error) = beat.await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "the node's heartbeat failed");
        }
    }
}
