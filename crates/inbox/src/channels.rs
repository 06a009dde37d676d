//! The cached channels and WhatsApp templates: written from the relay's lists when sync
//! connects, read by the composer (offline too). The window rules need each channel's
//! kind, and the composer its templates, before any event mentions them.

use crate::cache::CacheError;
use rusqlite::{Connection, params};
use ventana_protocol::api::{ChannelView, TemplateInfo};

/// Stores the relay's channels (upserted: events may have created them first) and, for
/// each channel listed in `templates`, replaces its templates; in one transaction.
pub fn store(
    connection: &mut Connection,
    channels: &[ChannelView],
    templates: &[(String, Vec<TemplateInfo>)],
) -> Result<(), CacheError> {
    let tx = connection.transaction()?;
    for channel in channels {
        // The same shape as a `channel_updated` event's, which `apply.rs` stores here too.
        let connection = serde_json::to_string(&channel.connection()).unwrap_or_default();
        tx.execute(
            "INSERT INTO channels (id, kind, display_name, connection, human_agent_approved, settings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,
                 display_name = excluded.display_name, connection = excluded.connection,
                 human_agent_approved = excluded.human_agent_approved,
                 settings = excluded.settings",
            params![
                channel.id,
                channel.kind.as_str(),
                channel.display_name,
                connection,
                channel.human_agent_approved,
                serde_json::to_string(&channel.settings).unwrap_or_default(),
            ],
        )?;
    }
    for (channel, list) in templates {
        tx.execute("DELETE FROM templates WHERE channel_id = ?1", [channel])?;
        for template in list {
            tx.execute(
                "INSERT OR REPLACE INTO templates (channel_id, name, language, category, body, parameter_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    channel,
                    template.name,
                    template.language,
                    template.category,
                    template.body,
                    template.parameters as i64
                ],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The approved templates of a channel, as last synced.
pub fn templates(connection: &Connection, channel: &str) -> Result<Vec<TemplateInfo>, CacheError> {
    let mut statement = connection.prepare_cached(
        "SELECT name, language, category, parameter_count, body FROM templates
         WHERE channel_id = ?1 ORDER BY name, language",
    )?;
    let rows = statement.query_map([channel], |row| {
        Ok(TemplateInfo {
            name: row.get(0)?,
            language: row.get(1)?,
            category: row.get(2)?,
            parameters: row.get::<_, i64>(3)? as usize,
            body: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
