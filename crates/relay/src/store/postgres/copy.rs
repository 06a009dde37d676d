//! `migrate-store`: copies an embedded relay's SQLite database into an empty PostgreSQL
//! one, table by table, in one transaction.
//!
//! The two schemas have the same tables and columns (`migrations/postgres/0001_init.sql`
//! says why), so the copy is generic: each column's value goes over as it is stored,
//! converted only where the types differ (SQLite's 0/1 integers to `BOOLEAN`). Sequences,
//! sealed secrets (still sealed: the same key opens them) and the audit chain's hashes are
//! copied verbatim, so the chain still verifies.

use super::*;
use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

/// The tables, parents before children (foreign keys).
const TABLES: &[&str] = &[
    "tenants",
    "meta_apps",
    "channels",
    "agents",
    "sessions",
    "contacts",
    "conversations",
    "events",
    "media",
    "quarantine",
    "replies",
    "templates",
    "deletion_requests",
    "audit",
    "bot_keys",
    "erasure_ledger",
];

/// Rows copied per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

type Rows = Vec<Vec<Value>>;

/// Copies the SQLite database at `sqlite` (opened and migrated by this build first) into
/// the empty PostgreSQL database at `url`. Refuses a target that already has tenants.
pub fn copy_from_sqlite(sqlite: &std::path::Path, url: &str) -> Result<CopyReport, StoreError> {
    // Bring the source to this build's schema, then read it on a plain connection.
    SqliteStore::open(sqlite, None)?.close();
    let source =
        rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = PostgresStore::open(url, None)?;
    let mut tables: Vec<(String, Vec<String>, Rows)> = Vec::new();
    for table in TABLES {
        let columns = target_columns(&target, table)?;
        let present: Vec<String> = source
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let columns: Vec<(String, String)> = columns
            .into_iter()
            .filter(|(name, _)| present.contains(name))
            .collect();
        let list = columns
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut statement = source.prepare(&format!("SELECT {list} FROM {table}"))?;
        let width = columns.len();
        let rows: Rows = statement
            .query_map([], |row| {
                (0..width).map(|i| row.get::<_, Value>(i)).collect()
            })?
            .collect::<Result<_, _>>()?;
        let typed = columns
            .iter()
            .map(|(name, kind)| format!("{name}:{kind}"))
            .collect();
        tables.push(((*table).to_owned(), typed, rows));
    }
    let report = target.write(move |tx| {
        Box::pin(async move {
            let existing = tx.query_one("SELECT count(*) FROM tenants", &[]).await?;
            if existing.try_get::<_, i64>(0)? > 0 {
                return Err(StoreError::Refused(
                    "target_not_empty",
                    "the PostgreSQL database already has tenants: copy into an empty one".into(),
                ));
            }
            let mut report = CopyReport { tables: Vec::new() };
            for (table, typed, rows) in tables {
                let columns: Vec<(&str, &str)> = typed
                    .iter()
                    .filter_map(|c: &String| c.split_once(':'))
                    .collect();
                let names = columns
                    .iter()
                    .map(|(name, _)| format!("\"{name}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                let placeholders = (1..=columns.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let statement = tx
                    .prepare(&format!(
                        "INSERT INTO {table} ({names}) VALUES ({placeholders})"
                    ))
                    .await?;
                for row in &rows {
                    let values = row
                        .iter()
                        .zip(&columns)
                        .map(|(value, (name, kind))| convert(&table, name, kind, value))
                        .collect::<Result<Vec<_>, _>>()?;
                    let params: Vec<&(dyn ToSql + Sync)> = values
                        .iter()
                        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    tx.execute(&statement, &params).await?;
                }
                report.tables.push((table, rows.len() as u64));
            }
            // The quarantine's ids were copied: new ones continue after them.
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('quarantine', 'id'),
                        coalesce((SELECT max(id) FROM quarantine), 0) + 1, false)",
                &[],
            )
            .await?;
            Ok(report)
        })
    })?;
    target.close();
    Ok(report)
}

/// The target table's columns and their PostgreSQL types.
fn target_columns(
    target: &PostgresStore,
    table: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let table = table.to_owned();
    target.read(move |client| {
        Box::pin(async move {
            let rows = client
                .query(
                    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                     ORDER BY ordinal_position",
                    &[&table],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    })
}

/// One stored SQLite value as the PostgreSQL column's type wants it.
fn convert(
    table: &str,
    column: &str,
    kind: &str,
    value: &Value,
) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let wrong = || StoreError::Corrupt(format!("{table}.{column}: {value:?} is not a {kind}"));
    Ok(match (kind, value) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("bigint", Value::Integer(n)) => Box::new(*n),
        ("boolean", Value::Null) => Box::new(None::<bool>),
        ("boolean", Value::Integer(n)) => Box::new(*n != 0),
        ("text", Value::Null) => Box::new(None::<String>),
        ("text", Value::Text(text)) => Box::new(text.clone()),
        ("bytea", Value::Null) => Box::new(None::<Vec<u8>>),
        ("bytea", Value::Blob(bytes)) => Box::new(bytes.clone()),
        _ => return Err(wrong()),
    })
}
