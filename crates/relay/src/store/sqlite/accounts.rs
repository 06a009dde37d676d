//! [`AccountStore`] for SQLite: agents, sessions and bot keys. Every change goes through the
//! writer, so the last-admin rule and the compare-and-swap of a refresh are checked in the
//! transaction that makes the change.

use super::work::audit_in;
use super::*;
use crate::store::accounts::*;

/// The columns `agent_from_row` reads, in order (from `agents` as `a`).
const AGENT_COLUMNS: &str = "a.id, a.tenant_id, a.email, a.name, a.role, a.status, a.must_change_password, a.last_sign_in_at";

fn agent_from_row(row: &rusqlite::Row<'_>) -> Result<Agent, StoreError> {
    agent_from_offset(row, 0)
}

fn read_agent(
    connection: &Connection,
    tenant: &TenantId,
    id: &AgentId,
) -> Result<Option<Agent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.tenant_id = ?1 AND a.id = ?2"
    ))?;
    let mut rows = statement.query(params![tenant.as_str(), id.as_str()])?;
    rows.next()?.map(agent_from_row).transpose()
}

/// The agent, unless unknown or removed (`NotFound` either way: a removed agent cannot be
/// changed).
fn live_agent(
    connection: &Connection,
    tenant: &TenantId,
    id: &AgentId,
) -> Result<Agent, StoreError> {
    match read_agent(connection, tenant, id)? {
        Some(agent) if agent.status != AgentStatus::Removed => Ok(agent),
        _ => Err(StoreError::NotFound(format!("agent {id}"))),
    }
}

/// Refuses a change that would leave the tenant with no active admin.
fn keep_an_admin(
    connection: &Connection,
    tenant: &TenantId,
    agent: &Agent,
    after: (Role, AgentStatus),
) -> Result<(), StoreError> {
    let was_active_admin = agent.role == Role::Admin && agent.status == AgentStatus::Active;
    let stays_active_admin = after == (Role::Admin, AgentStatus::Active);
    if !was_active_admin || stays_active_admin {
        return Ok(());
    }
    let others: i64 = connection
        .prepare_cached(
            "SELECT count(*) FROM agents WHERE tenant_id = ?1 AND id != ?2
             AND role = 'admin' AND status = 'active'",
        )?
        .query_row(params![tenant.as_str(), agent.id.as_str()], |row| {
            row.get(0)
        })?;
    if others == 0 {
        return Err(StoreError::Refused(
            "last_admin",
            "a tenant needs at least one active admin: make another agent an admin first".into(),
        ));
    }
    Ok(())
}

/// Ends every live session of `agent` but `keep`, returning their ids.
fn end_sessions_of(
    connection: &Connection,
    agent: &AgentId,
    keep: Option<&str>,
    reason: EndReason,
) -> Result<EndedSessions, StoreError> {
    let mut statement = connection.prepare_cached(
        "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4
         WHERE agent_id = ?1 AND revoked_at IS NULL AND id IS NOT ?2
         RETURNING id",
    )?;
    let rows = statement.query_map(
        params![agent.as_str(), keep, now_text(), reason.as_str()],
        |row| row.get::<_, String>(0),
    )?;
    Ok(EndedSessions {
        ids: rows.collect::<Result<_, _>>()?,
        reason: Some(reason),
    })
}

fn bot_key_from_row(row: &rusqlite::Row<'_>) -> Result<BotKey, StoreError> {
    let created: String = row.get(2)?;
    let revoked: Option<String> = row.get(3)?;
    Ok(BotKey {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

fn hash_from(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a token hash is not 32 bytes".into()))
}

impl AccountStore for SqliteStore {
    fn add_agent(&self, new: NewAgent, audit: Option<AuditRecord>) -> Result<Agent, StoreError> {
        let added = Agent {
            id: AgentId::new(new_id()),
            tenant: new.tenant,
            email: new.email.trim().to_lowercase(),
            name: new.name,
            role: new.role,
            status: AgentStatus::Active,
            must_change_password: new.must_change_password,
            last_sign_in_at: None,
        };
        let row = added.clone();
        let hash = new.password_hash;
        self.write(move |connection| {
            require_tenant(connection, &row.tenant)?;
            connection
                .execute(
                    "INSERT INTO agents (id, tenant_id, email, name, role, password_hash,
                                         must_change_password, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        row.id.as_str(),
                        row.tenant.as_str(),
                        row.email,
                        row.name,
                        row.role.as_str(),
                        hash,
                        row.must_change_password,
                        now_text()
                    ],
                )
                .map_err(|e| conflict_or(e, || format!("agent {} in this tenant", row.email)))?;
            if let Some(audit) = audit {
                audit_in(connection, &audit)?;
            }
            Ok(())
        })?;
        Ok(added)
    }

    fn agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        self.read(|connection| read_agent(connection, tenant, id))
    }

    fn agents_of(&self, tenant: &TenantId) -> Result<Vec<Agent>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM agents a
                 WHERE a.tenant_id = ?1 AND a.status != 'removed' ORDER BY a.email"
            ))?;
            let mut rows = statement.query([tenant.as_str()])?;
            let mut agents = Vec::new();
            while let Some(row) = rows.next()? {
                agents.push(agent_from_row(row)?);
            }
            Ok(agents)
        })
    }

    fn agents_by_email(&self, email: &str) -> Result<Vec<(Agent, String)>, StoreError> {
        let email = email.trim().to_lowercase();
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS}, a.password_hash FROM agents a
                 WHERE a.email = ?1 AND a.status != 'removed'"
            ))?;
            let mut rows = statement.query([email])?;
            let mut agents = Vec::new();
            while let Some(row) = rows.next()? {
                agents.push((agent_from_row(row)?, row.get::<_, String>(8)?));
            }
            Ok(agents)
        })
    }

    fn change_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        change: AgentChange,
        audit: AuditRecord,
    ) -> Result<(Agent, EndedSessions), StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(move |connection| {
            let agent = live_agent(connection, &tenant, &id)?;
            let role = change.role.unwrap_or(agent.role);
            let status = change.status.unwrap_or(agent.status);
            if status == AgentStatus::Removed {
                return Err(StoreError::Refused(
                    "invalid_status",
                    "an agent is removed with DELETE, not by changing their status".into(),
                ));
            }
            keep_an_admin(connection, &tenant, &agent, (role, status))?;
            let name = change.name.clone().unwrap_or_else(|| agent.name.clone());
            connection.execute(
                "UPDATE agents SET role = ?2, status = ?3, name = ?4 WHERE id = ?1",
                params![id.as_str(), role.as_str(), status.as_str(), name],
            )?;
            let ended = if status == AgentStatus::Disabled && agent.status != AgentStatus::Disabled
            {
                end_sessions_of(connection, &id, None, EndReason::AccessDisabled)?
            } else {
                EndedSessions::default()
            };
            audit_in(connection, &audit)?;
            let changed = live_agent(connection, &tenant, &id)?;
            Ok((changed, ended))
        })
    }

    fn remove_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        audit: AuditRecord,
    ) -> Result<EndedSessions, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(move |connection| {
            let agent = live_agent(connection, &tenant, &id)?;
            keep_an_admin(
                connection,
                &tenant,
                &agent,
                (agent.role, AgentStatus::Removed),
            )?;
            // The row stays as an id only: what identified the person goes (the audit log
            // names agents by id), and the email is free for a new agent.
            connection.execute(
                "UPDATE agents SET status = 'removed', email = 'removed:' || id, name = NULL,
                                   password_hash = '', must_change_password = 0
                 WHERE id = ?1",
                [id.as_str()],
            )?;
            let ended = end_sessions_of(connection, &id, None, EndReason::AccessRemoved)?;
            audit_in(connection, &audit)?;
            Ok(ended)
        })
    }

    fn set_password(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        password_hash: String,
        must_change: bool,
        keep: Option<&str>,
        audit: AuditRecord,
    ) -> Result<EndedSessions, StoreError> {
        let (tenant, id, keep) = (tenant.clone(), id.clone(), keep.map(str::to_owned));
        self.write(move |connection| {
            live_agent(connection, &tenant, &id)?;
            connection.execute(
                "UPDATE agents SET password_hash = ?2, must_change_password = ?3 WHERE id = ?1",
                params![id.as_str(), password_hash, must_change],
            )?;
            let ended =
                end_sessions_of(connection, &id, keep.as_deref(), EndReason::PasswordChanged)?;
            audit_in(connection, &audit)?;
            Ok(ended)
        })
    }

    fn password_hash(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<String>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT password_hash FROM agents
                     WHERE tenant_id = ?1 AND id = ?2 AND status != 'removed'",
                )?
                .query_row(params![tenant.as_str(), id.as_str()], |row| row.get(0))
                .optional()?)
        })
    }

    fn create_session(&self, agent: &Agent, session: NewSession) -> Result<(), StoreError> {
        let (agent_id, tenant) = (agent.id.clone(), agent.tenant.clone());
        self.write(move |connection| {
            let tokens = &session.tokens;
            connection.execute(
                "INSERT INTO sessions (id, agent_id, tenant_id, access_hash, access_expires_at,
                                       refresh_hash, refresh_expires_at, created_at, expires_at,
                                       client)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    session.id,
                    agent_id.as_str(),
                    tenant.as_str(),
                    &tokens.access_hash[..],
                    timestamp(tokens.access_expires_at),
                    &tokens.refresh_hash[..],
                    timestamp(tokens.refresh_expires_at),
                    now_text(),
                    timestamp(session.expires_at),
                    session.client,
                ],
            )?;
            Ok(())
        })
    }

    fn session_by_access(
        &self,
        access_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT s.id, s.access_expires_at, {AGENT_COLUMNS} FROM sessions s
                 JOIN agents a ON a.id = s.agent_id
                 WHERE s.access_hash = ?1 AND s.revoked_at IS NULL AND a.status = 'active'"
            ))?;
            let mut rows = statement.query([&access_hash[..]])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let id: String = row.get(0)?;
            let expires = parse_time(&row.get::<_, String>(1)?)?;
            if expires <= now {
                return Ok(None);
            }
            // The agent's columns follow the session's two.
            let agent = agent_from_offset(row, 2)?;
            Ok(Some(SessionInfo {
                session_id: id,
                agent,
                access_expires_at: expires,
            }))
        })
    }

    fn session_for_refresh(
        &self,
        session_id: Option<&str>,
        refresh_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|connection| {
            // By id when the token names its session (so an old token of it is still
            // recognised), by hash for tokens made before they did.
            let (filter, key): (&str, &dyn rusqlite::ToSql) = match &session_id {
                Some(id) => ("s.id = ?1", id),
                None => ("s.refresh_hash = ?1", refresh_hash),
            };
            let mut statement = connection.prepare_cached(&format!(
                "SELECT s.id, s.refresh_hash, s.previous_refresh_hash, s.rotated_at, s.created_at,
                        coalesce(s.expires_at, s.refresh_expires_at), s.refresh_expires_at,
                        s.revoked_at, s.revoked_reason, {AGENT_COLUMNS}
                 FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE {filter}"
            ))?;
            let mut rows = statement.query([key])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let rotated: Option<String> = row.get(3)?;
            let revoked_at: Option<String> = row.get(7)?;
            let reason: Option<String> = row.get(8)?;
            let revoked = revoked_at.map(|_| {
                reason
                    .as_deref()
                    .and_then(EndReason::parse)
                    .unwrap_or(EndReason::SignedOut)
            });
            Ok(Some(SessionRecord {
                id: row.get(0)?,
                refresh_hash: hash_from(row.get(1)?)?,
                previous_refresh_hash: row
                    .get::<_, Option<Vec<u8>>>(2)?
                    .map(hash_from)
                    .transpose()?,
                rotated_at: rotated.as_deref().map(parse_time).transpose()?,
                created_at: parse_time(&row.get::<_, String>(4)?)?,
                expires_at: parse_time(&row.get::<_, String>(5)?)?,
                refresh_expires_at: parse_time(&row.get::<_, String>(6)?)?,
                revoked,
                agent: agent_from_offset(row, 9)?,
            }))
        })
    }

    fn rotate_session(
        &self,
        session_id: &str,
        expected: &[u8; 32],
        previous: Option<[u8; 32]>,
        rotated_at: Option<DateTime<Utc>>,
        tokens: SessionTokens,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let (session_id, expected) = (session_id.to_owned(), *expected);
        self.write(move |connection| {
            let changed = connection.execute(
                "UPDATE sessions SET access_hash = ?3, access_expires_at = ?4,
                                     refresh_hash = ?5, refresh_expires_at = ?6,
                                     previous_refresh_hash = ?7, rotated_at = ?8,
                                     last_refreshed_at = ?9
                 WHERE id = ?1 AND refresh_hash = ?2 AND revoked_at IS NULL",
                params![
                    session_id,
                    &expected[..],
                    &tokens.access_hash[..],
                    timestamp(tokens.access_expires_at),
                    &tokens.refresh_hash[..],
                    timestamp(tokens.refresh_expires_at),
                    previous.as_ref().map(|hash| &hash[..]),
                    rotated_at.map(timestamp),
                    timestamp(now),
                ],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM sessions s JOIN agents a ON a.id = s.agent_id
                 WHERE s.id = ?1"
            ))?;
            let mut rows = statement.query([session_id.as_str()])?;
            let agent = rows
                .next()?
                .map(agent_from_row)
                .transpose()?
                .ok_or_else(|| StoreError::Corrupt("a session's agent is missing".into()))?;
            Ok(Some(SessionInfo {
                session_id,
                agent,
                access_expires_at: tokens.access_expires_at,
            }))
        })
    }

    fn end_session(
        &self,
        session_id: &str,
        reason: EndReason,
        now: DateTime<Utc>,
        audit: Option<AuditRecord>,
    ) -> Result<bool, StoreError> {
        let session_id = session_id.to_owned();
        self.write(move |connection| {
            let ended = connection.execute(
                "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
                 WHERE id = ?1 AND revoked_at IS NULL",
                params![session_id, timestamp(now), reason.as_str()],
            )? > 0;
            if let Some(audit) = audit {
                audit_in(connection, &audit)?;
            }
            Ok(ended)
        })
    }

    fn session_end(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EndReason>, StoreError> {
        self.read(|connection| {
            type Row = (Option<String>, Option<String>, String, String, String);
            let row: Option<Row> = connection
                .prepare_cached(
                    "SELECT s.revoked_at, s.revoked_reason, coalesce(s.expires_at, s.refresh_expires_at),
                            s.refresh_expires_at, a.status
                     FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.id = ?1",
                )?
                .query_row([session_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })
                .optional()?;
            let Some((revoked_at, revoked_reason, expires, idle, status)) = row else {
                return Ok(Some(EndReason::SessionRevoked));
            };
            let facts = SessionFacts {
                revoked_at,
                revoked_reason,
                expires_at: parse_time(&expires)?,
                refresh_expires_at: parse_time(&idle)?,
                agent_status: status,
            };
            Ok(facts.end_reason(now))
        })
    }

    fn sessions_of(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionView>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, created_at, last_refreshed_at, coalesce(expires_at, refresh_expires_at),
                        refresh_expires_at, client
                 FROM sessions WHERE tenant_id = ?1 AND agent_id = ?2 AND revoked_at IS NULL
                 ORDER BY created_at DESC",
            )?;
            let mut rows = statement.query(params![tenant.as_str(), agent.as_str()])?;
            let mut sessions = Vec::new();
            while let Some(row) = rows.next()? {
                let last: Option<String> = row.get(2)?;
                let view = SessionView {
                    id: row.get(0)?,
                    created_at: parse_time(&row.get::<_, String>(1)?)?,
                    last_refreshed_at: last.as_deref().map(parse_time).transpose()?,
                    expires_at: parse_time(&row.get::<_, String>(3)?)?,
                    idle_expires_at: parse_time(&row.get::<_, String>(4)?)?,
                    client: row.get(5)?,
                };
                if view.expires_at > now && view.idle_expires_at > now {
                    sessions.push(view);
                }
            }
            Ok(sessions)
        })
    }

    fn record_sign_in(&self, agent: &AgentId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let agent = agent.clone();
        self.write(move |connection| {
            connection.execute(
                "UPDATE agents SET last_sign_in_at = ?2 WHERE id = ?1",
                params![agent.as_str(), timestamp(at)],
            )?;
            Ok(())
        })
    }

    fn add_bot_key(
        &self,
        tenant: &TenantId,
        name: &str,
        key_hash: [u8; 32],
        audit: Option<AuditRecord>,
    ) -> Result<BotKey, StoreError> {
        let now = Utc::now();
        let key = BotKey {
            id: new_id(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
        };
        let (tenant, row) = (tenant.clone(), key.clone());
        self.write(move |connection| {
            require_tenant(connection, &tenant)?;
            connection.execute(
                "INSERT INTO bot_keys (key_hash, tenant_id, name, created_at, id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key_hash.as_slice(),
                    tenant.as_str(),
                    row.name,
                    timestamp(now),
                    row.id
                ],
            )?;
            if let Some(audit) = audit {
                audit_in(connection, &audit)?;
            }
            Ok(())
        })?;
        Ok(key)
    }

    fn bot_keys(&self, tenant: &TenantId) -> Result<Vec<BotKey>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, name, created_at, revoked_at FROM bot_keys WHERE tenant_id = ?1
                 ORDER BY created_at, id",
            )?;
            let mut rows = statement.query([tenant.as_str()])?;
            let mut keys = Vec::new();
            while let Some(row) = rows.next()? {
                keys.push(bot_key_from_row(row)?);
            }
            Ok(keys)
        })
    }

    fn revoke_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: AuditRecord,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.clone(), id.to_owned());
        self.write(move |connection| {
            let revoked = connection.execute(
                "UPDATE bot_keys SET revoked_at = ?3
                 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
                params![tenant.as_str(), id, now_text()],
            )? > 0;
            if revoked {
                audit_in(connection, &audit)?;
            }
            Ok(revoked)
        })
    }

    fn rotate_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        key_hash: [u8; 32],
        audit: AuditRecord,
    ) -> Result<Option<BotKey>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.to_owned());
        self.write(move |connection| {
            let mut statement = connection.prepare_cached(
                "UPDATE bot_keys SET key_hash = ?3
                 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL
                 RETURNING id, name, created_at, revoked_at",
            )?;
            let mut rows = statement.query(params![tenant.as_str(), id, key_hash.as_slice()])?;
            let key = rows.next()?.map(bot_key_from_row).transpose()?;
            drop(rows);
            if key.is_some() {
                audit_in(connection, &audit)?;
            }
            Ok(key)
        })
    }

    fn bot_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<BotIdentity>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT tenant_id, name FROM bot_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([key_hash.as_slice()], |row| {
                    Ok(BotIdentity {
                        tenant: TenantId::new(row.get::<_, String>(0)?),
                        name: row.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        self.read(|connection| {
            connection
                .prepare_cached("SELECT wipe_cache_on_removal FROM tenants WHERE id = ?1")?
                .query_row([tenant.as_str()], |row| {
                    Ok(TenantPolicy {
                        wipe_cache_on_removal: row.get(0)?,
                    })
                })
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))
        })
    }

    fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |connection| {
            require_tenant(connection, &tenant)?;
            connection.execute(
                "UPDATE tenants SET wipe_cache_on_removal = ?2 WHERE id = ?1",
                params![tenant.as_str(), policy.wipe_cache_on_removal],
            )?;
            audit_in(connection, &audit)?;
            Ok(())
        })
    }
}

/// An agent whose columns ([`AGENT_COLUMNS`]) start at `offset` in a wider row.
fn agent_from_offset(row: &rusqlite::Row<'_>, offset: usize) -> Result<Agent, StoreError> {
    let role: String = row.get(offset + 4)?;
    let status: String = row.get(offset + 5)?;
    let last: Option<String> = row.get(offset + 7)?;
    Ok(Agent {
        id: AgentId::new(row.get::<_, String>(offset)?),
        tenant: TenantId::new(row.get::<_, String>(offset + 1)?),
        email: row.get(offset + 2)?,
        name: row.get(offset + 3)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        status: AgentStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("agent status {status:?}")))?,
        must_change_password: row.get(offset + 6)?,
        last_sign_in_at: last.as_deref().map(parse_time).transpose()?,
    })
}
