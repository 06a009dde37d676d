//! The same migrations on PostgreSQL, for the relay's shared database. Several relay nodes
//! may start at once: the whole check-and-apply runs under a transaction-scoped advisory
//! lock, so one node migrates and the others then find nothing to do.

use crate::{Migration, MigrationError, digest, pending};

/// The advisory lock key migrations take (an arbitrary constant, "ventana" in ASCII).
const MIGRATION_LOCK: i64 = 0x76_65_6e_74_61_6e_61;

/// Applies the migrations the database lacks, in one transaction, after checking the ones
/// it has (see [`pending`]).
pub async fn migrate(
    client: &mut tokio_postgres::Client,
    migrations: &[Migration],
) -> Result<(), MigrationError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             sha256     TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<(u32, String)> = tx
        .query("SELECT version, sha256 FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| (row.get::<_, i32>(0).unsigned_abs(), row.get(1)))
        .collect();
    for migration in pending(&applied, migrations)? {
        let failed = |source| MigrationError::PostgresFailed {
            version: migration.version,
            source,
        };
        tx.batch_execute(migration.sql).await.map_err(failed)?;
        let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
            &[&version, &migration.name, &digest(migration.sql)],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await?;
    Ok(())
}
