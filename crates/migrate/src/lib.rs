//! Schema migrations that cannot drift: each applied migration's SHA-256 is recorded, and
//! opening a database whose applied migration differs from the embedded one, or that was
//! migrated by a newer build, is refused with a clear error instead of guessing.

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

/// One numbered migration, embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migration {version} ({name}) was changed after it was applied; migrations are append-only"
    )]
    Changed { version: u32, name: String },
    #[error(
        "the database was migrated by a newer version (it has migration {found}, this build knows up to {known}); upgrade the program"
    )]
    DatabaseNewer { found: u32, known: u32 },
    #[error("migration {version} failed: {source}")]
    Failed {
        version: u32,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[cfg(feature = "postgres")]
    #[error("migration {version} failed: {source}")]
    PostgresFailed {
        version: u32,
        source: tokio_postgres::Error,
    },
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// What to apply, given the migrations a database has (version and SHA-256): the checks
/// both backends share, so they refuse the same things in the same words.
pub fn pending<'m>(
    applied: &[(u32, String)],
    migrations: &'m [Migration],
) -> Result<Vec<&'m Migration>, MigrationError> {
    let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied
        .iter()
        .map(|(v, _)| *v)
        .max()
        .filter(|found| *found > known)
    {
        return Err(MigrationError::DatabaseNewer { found, known });
    }
    let mut todo = Vec::new();
    for migration in migrations {
        match applied.iter().find(|(v, _)| *v == migration.version) {
            Some((_, hash)) if *hash == digest(migration.sql) => {}
            Some(_) => {
                return Err(MigrationError::Changed {
                    version: migration.version,
                    name: migration.name.to_owned(),
                });
            }
            None => todo.push(migration),
        }
    }
    Ok(todo)
}

#[cfg(feature = "postgres")]
pub mod postgres;

fn digest(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies the migrations `connection` lacks, each in its own transaction, after checking
/// the ones it has.
pub fn migrate(
    connection: &mut Connection,
    migrations: &[Migration],
) -> Result<(), MigrationError> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             sha256     TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )?;
    let applied: Vec<(u32, String)> = connection
        .prepare("SELECT version, sha256 FROM schema_migrations")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for migration in pending(&applied, migrations)? {
        let failed = |source| MigrationError::Failed {
            version: migration.version,
            source,
        };
        let tx = connection.transaction().map_err(failed)?;
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256) VALUES (?1, ?2, ?3)",
            params![migration.version, migration.name, digest(migration.sql)],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ONE: Migration = Migration {
        version: 1,
        name: "one",
        sql: "CREATE TABLE a (x)",
    };
    const TWO: Migration = Migration {
        version: 2,
        name: "two",
        sql: "CREATE TABLE b (y)",
    };

    #[test]
    fn applies_missing_migrations_once_and_in_order() {
        let mut db = Connection::open_in_memory().unwrap();
        migrate(&mut db, &[ONE]).unwrap();
        migrate(&mut db, &[ONE, TWO]).unwrap();
        migrate(&mut db, &[ONE, TWO]).unwrap();
        let count: i64 = db
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 2);
        db.execute("INSERT INTO b VALUES (1)", []).unwrap();
    }

    #[test]
    fn refuses_a_changed_migration() {
        let mut db = Connection::open_in_memory().unwrap();
        migrate(&mut db, &[ONE]).unwrap();
        let edited = Migration {
            sql: "CREATE TABLE a (x, extra)",
            ..ONE
        };
        assert!(matches!(
            migrate(&mut db, &[edited]),
            Err(MigrationError::Changed { version: 1, .. })
        ));
    }

    #[test]
    fn refuses_a_database_from_a_newer_build() {
        let mut db = Connection::open_in_memory().unwrap();
        migrate(&mut db, &[ONE, TWO]).unwrap();
        assert!(matches!(
            migrate(&mut db, &[ONE]),
            Err(MigrationError::DatabaseNewer { found: 2, known: 1 })
        ));
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let mut db = Connection::open_in_memory().unwrap();
        let broken = Migration {
            version: 1,
            name: "broken",
            sql: "CREATE TABLE c (z); THIS IS NOT SQL",
        };
        assert!(matches!(
            migrate(&mut db, &[broken]),
            Err(MigrationError::Failed { version: 1, .. })
        ));
        let tables: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
