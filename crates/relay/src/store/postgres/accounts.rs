//! [`AccountStore`] for PostgreSQL: the SQLite store's rules (see `sqlite/accounts.rs`),
//! kept across nodes by row locks: a change that may leave a tenant without an active
//! admin locks the tenant's active admins first, and a refresh swaps its tokens with a
//! conditional update (so of two nodes rotating one session, one wins).

use super::work::audit_in;
use super::*;
use crate::store::accounts::*;

/// The columns `agent_from_offset` reads, in order (from `agents` as `a`).
const AGENT_COLUMNS: &str = "a.id, a.tenant_id, a.email, a.name, a.role, a.status, a.must_change_password, a.last_sign_in_at";

/// An agent whose columns ([`AGENT_COLUMNS`]) start at `offset` in a wider row.
fn agent_from_offset(row: &tokio_postgres::Row, offset: usize) -> Result<Agent, StoreError> {
    let role: String = row.try_get(offset + 4)?;
    let status: String = row.try_get(offset + 5)?;
    let last: Option<String> = row.try_get(offset + 7)?;
    Ok(Agent {
        id: AgentId::new(row.try_get::<_, String>(offset)?),
        tenant: TenantId::new(row.try_get::<_, String>(offset + 1)?),
        email: row.try_get(offset + 2)?,
        name: row.try_get(offset + 3)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        status: AgentStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("agent status {status:?}")))?,
        must_change_password: row.try_get(offset + 6)?,
        last_sign_in_at: last.as_deref().map(parse_time).transpose()?,
    })
}

fn bot_key_from_row(row: &tokio_postgres::Row) -> Result<BotKey, StoreError> {
    let created: String = row.try_get(2)?;
    let revoked: Option<String> = row.try_get(3)?;
    Ok(BotKey {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

fn hash_from(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a token hash is not 32 bytes".into()))
}

/// Locks the tenant's active admins, so that two nodes cannot each remove, disable or
/// demote a different one of the last two (each seeing the other still there). Run before
/// reading the agent a change is about.
async fn lock_admins(tx: &Transaction<'_>, tenant: &TenantId) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT id FROM agents WHERE tenant_id = $1 AND role = 'admin' AND status = 'active'
             ORDER BY id FOR UPDATE",
        )
        .await?;
    tx.query(&statement, &[&tenant.as_str()]).await?;
    Ok(())
}

/// The agent, locked, unless unknown or removed (`NotFound` either way: a removed agent
/// cannot be changed).
async fn live_agent(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    id: &AgentId,
) -> Result<Agent, StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.tenant_id = $1 AND a.id = $2
             FOR UPDATE"
        ))
        .await?;
    let row = tx
        .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
        .await?;
    match row.map(|row| agent_from_offset(&row, 0)).transpose()? {
        Some(agent) if agent.status != AgentStatus::Removed => Ok(agent),
        _ => Err(StoreError::NotFound(format!("agent {id}"))),
    }
}

/// Refuses a change that would leave the tenant with no active admin (the admins locked
/// by [`lock_admins`] first).
async fn keep_an_admin(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    agent: &Agent,
    after: (Role, AgentStatus),
) -> Result<(), StoreError> {
    let was_active_admin = agent.role == Role::Admin && agent.status == AgentStatus::Active;
    let stays_active_admin = after == (Role::Admin, AgentStatus::Active);
    if !was_active_admin || stays_active_admin {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "SELECT count(*) FROM agents WHERE tenant_id = $1 AND id != $2
             AND role = 'admin' AND status = 'active'",
        )
        .await?;
    let others: i64 = tx
        .query_one(&statement, &[&tenant.as_str(), &agent.id.as_str()])
        .await?
        .try_get(0)?;
    if others == 0 {
        return Err(StoreError::Refused(
            "last_admin",
            "a tenant needs at least one active admin: make another agent an admin first".into(),
        ));
    }
    Ok(())
}

/// Ends every live session of `agent` but `keep`, returning their ids.
async fn end_sessions_of(
    tx: &Transaction<'_>,
    agent: &AgentId,
    keep: Option<&str>,
    reason: EndReason,
) -> Result<EndedSessions, StoreError> {
    let statement = tx
        .prepare_cached(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
             WHERE agent_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2::TEXT
             RETURNING id",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[&agent.as_str(), &keep, &now_text(), &reason.as_str()],
        )
        .await?;
    Ok(EndedSessions {
        ids: rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<_, _>>()?,
        reason: Some(reason),
    })
}

impl AccountStore for PostgresStore {
    fn add_agent(
        &self,
        new: NewAgent,
        audit: Option<super::AuditRecord>,
    ) -> Result<Agent, StoreError> {
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
        self.write(move |tx| {
            Box::pin(async move {
                require_tenant(tx, &row.tenant).await?;
                tx.execute(
                    "INSERT INTO agents (id, tenant_id, email, name, role, password_hash,
                                         must_change_password, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &row.id.as_str(),
                        &row.tenant.as_str(),
                        &row.email,
                        &row.name,
                        &row.role.as_str(),
                        &hash,
                        &row.must_change_password,
                        &now_text(),
                    ],
                )
                .await
                .map_err(|e| conflict_or(e, || format!("agent {} in this tenant", row.email)))?;
                if let Some(audit) = audit {
                    audit_in(tx, &audit).await?;
                }
                Ok(())
            })
        })?;
        Ok(added)
    }

    fn agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.tenant_id = $1 AND a.id = $2"
                    ))
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
                    .await?;
                row.map(|row| agent_from_offset(&row, 0)).transpose()
            })
        })
    }

    fn agents_of(&self, tenant: &TenantId) -> Result<Vec<Agent>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {AGENT_COLUMNS} FROM agents a
                         WHERE a.tenant_id = $1 AND a.status != 'removed' ORDER BY a.email"
                    ))
                    .await?;
                let rows = client.query(&statement, &[&tenant.as_str()]).await?;
                rows.iter().map(|row| agent_from_offset(row, 0)).collect()
            })
        })
    }

    fn agents_by_email(&self, email: &str) -> Result<Vec<(Agent, String)>, StoreError> {
        let email = email.trim().to_lowercase();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {AGENT_COLUMNS}, a.password_hash FROM agents a
                         WHERE a.email = $1 AND a.status != 'removed'"
                    ))
                    .await?;
                let rows = client.query(&statement, &[&email]).await?;
                rows.iter()
                    .map(|row| Ok((agent_from_offset(row, 0)?, row.try_get::<_, String>(8)?)))
                    .collect()
            })
        })
    }

    fn change_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        change: AgentChange,
        audit: super::AuditRecord,
    ) -> Result<(Agent, EndedSessions), StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(move |tx| {
            Box::pin(async move {
                lock_admins(tx, &tenant).await?;
                let agent = live_agent(tx, &tenant, &id).await?;
                let role = change.role.unwrap_or(agent.role);
                let status = change.status.unwrap_or(agent.status);
                if status == AgentStatus::Removed {
                    return Err(StoreError::Refused(
                        "invalid_status",
                        "an agent is removed with DELETE, not by changing their status".into(),
                    ));
                }
                keep_an_admin(tx, &tenant, &agent, (role, status)).await?;
                let name = change.name.clone().unwrap_or_else(|| agent.name.clone());
                tx.execute(
                    "UPDATE agents SET role = $2, status = $3, name = $4 WHERE id = $1",
                    &[&id.as_str(), &role.as_str(), &status.as_str(), &name],
                )
                .await?;
                let ended =
                    if status == AgentStatus::Disabled && agent.status != AgentStatus::Disabled {
                        end_sessions_of(tx, &id, None, EndReason::AccessDisabled).await?
                    } else {
                        EndedSessions::default()
                    };
                audit_in(tx, &audit).await?;
                let changed = live_agent(tx, &tenant, &id).await?;
                Ok((changed, ended))
            })
        })
    }

    fn remove_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        audit: super::AuditRecord,
    ) -> Result<EndedSessions, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(move |tx| {
            Box::pin(async move {
                lock_admins(tx, &tenant).await?;
                let agent = live_agent(tx, &tenant, &id).await?;
                keep_an_admin(tx, &tenant, &agent, (agent.role, AgentStatus::Removed)).await?;
                // The row stays as an id only: what identified the person goes (the audit
                // log names agents by id), and the email is free for a new agent.
                tx.execute(
                    "UPDATE agents SET status = 'removed', email = 'removed:' || id, name = NULL,
                                       password_hash = '', must_change_password = false
                     WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?;
                let ended = end_sessions_of(tx, &id, None, EndReason::AccessRemoved).await?;
                audit_in(tx, &audit).await?;
                Ok(ended)
            })
        })
    }

    fn set_password(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        password_hash: String,
        must_change: bool,
        keep: Option<&str>,
        audit: super::AuditRecord,
    ) -> Result<EndedSessions, StoreError> {
        let (tenant, id, keep) = (tenant.clone(), id.clone(), keep.map(str::to_owned));
        self.write(move |tx| {
            Box::pin(async move {
                live_agent(tx, &tenant, &id).await?;
                tx.execute(
                    "UPDATE agents SET password_hash = $2, must_change_password = $3 WHERE id = $1",
                    &[&id.as_str(), &password_hash, &must_change],
                )
                .await?;
                let ended =
                    end_sessions_of(tx, &id, keep.as_deref(), EndReason::PasswordChanged).await?;
                audit_in(tx, &audit).await?;
                Ok(ended)
            })
        })
    }

    fn password_hash(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<String>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT password_hash FROM agents
                         WHERE tenant_id = $1 AND id = $2 AND status != 'removed'",
                    )
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
                    .await?;
                Ok(row.map(|row| row.try_get(0)).transpose()?)
            })
        })
    }

    fn create_session(&self, agent: &Agent, session: NewSession) -> Result<(), StoreError> {
        let (agent_id, tenant) = (agent.id.clone(), agent.tenant.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let tokens = &session.tokens;
                tx.execute(
                    "INSERT INTO sessions (id, agent_id, tenant_id, access_hash, access_expires_at,
                                           refresh_hash, refresh_expires_at, created_at,
                                           expires_at, client)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        &session.id,
                        &agent_id.as_str(),
                        &tenant.as_str(),
                        &tokens.access_hash.as_slice(),
                        &timestamp(tokens.access_expires_at),
                        &tokens.refresh_hash.as_slice(),
                        &timestamp(tokens.refresh_expires_at),
                        &now_text(),
                        &timestamp(session.expires_at),
                        &session.client,
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn session_by_access(
        &self,
        access_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let access_hash = *access_hash;
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT s.id, s.access_expires_at, {AGENT_COLUMNS} FROM sessions s
                         JOIN agents a ON a.id = s.agent_id
                         WHERE s.access_hash = $1 AND s.revoked_at IS NULL
                         AND a.status = 'active'"
                    ))
                    .await?;
                let Some(row) = client
                    .query_opt(&statement, &[&access_hash.as_slice()])
                    .await?
                else {
                    return Ok(None);
                };
                let id: String = row.try_get(0)?;
                let expires = parse_time(&row.try_get::<_, String>(1)?)?;
                if expires <= now {
                    return Ok(None);
                }
                // The agent's columns follow the session's two.
                let agent = agent_from_offset(&row, 2)?;
                Ok(Some(SessionInfo {
                    session_id: id,
                    agent,
                    access_expires_at: expires,
                }))
            })
        })
    }

    fn session_for_refresh(
        &self,
        session_id: Option<&str>,
        refresh_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (session_id, refresh_hash) = (session_id.map(str::to_owned), *refresh_hash);
        self.read(move |client| {
            Box::pin(async move {
                // By id when the token names its session (so an old token of it is still
                // recognised), by hash for tokens made before they did.
                let filter = match session_id {
                    Some(_) => "s.id = $1",
                    None => "s.refresh_hash = $1",
                };
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT s.id, s.refresh_hash, s.previous_refresh_hash, s.rotated_at,
                                s.created_at, coalesce(s.expires_at, s.refresh_expires_at),
                                s.refresh_expires_at, s.revoked_at, s.revoked_reason,
                                {AGENT_COLUMNS}
                         FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE {filter}"
                    ))
                    .await?;
                let row = match &session_id {
                    Some(id) => client.query_opt(&statement, &[id]).await?,
                    None => {
                        client
                            .query_opt(&statement, &[&refresh_hash.as_slice()])
                            .await?
                    }
                };
                let Some(row) = row else {
                    return Ok(None);
                };
                let rotated: Option<String> = row.try_get(3)?;
                let revoked_at: Option<String> = row.try_get(7)?;
                let reason: Option<String> = row.try_get(8)?;
                let revoked = revoked_at.map(|_| {
                    reason
                        .as_deref()
                        .and_then(EndReason::parse)
                        .unwrap_or(EndReason::SignedOut)
                });
                Ok(Some(SessionRecord {
                    id: row.try_get(0)?,
                    refresh_hash: hash_from(row.try_get(1)?)?,
                    previous_refresh_hash: row
                        .try_get::<_, Option<Vec<u8>>>(2)?
                        .map(hash_from)
                        .transpose()?,
                    rotated_at: rotated.as_deref().map(parse_time).transpose()?,
                    created_at: parse_time(&row.try_get::<_, String>(4)?)?,
                    expires_at: parse_time(&row.try_get::<_, String>(5)?)?,
                    refresh_expires_at: parse_time(&row.try_get::<_, String>(6)?)?,
                    revoked,
                    agent: agent_from_offset(&row, 9)?,
                }))
            })
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
        self.write(move |tx| {
            Box::pin(async move {
                // A compare-and-swap: of two nodes rotating the same session at once, the
                // second waits on the row and then no longer matches the expected hash.
                let changed = tx
                    .execute(
                        "UPDATE sessions SET access_hash = $3, access_expires_at = $4,
                                             refresh_hash = $5, refresh_expires_at = $6,
                                             previous_refresh_hash = $7, rotated_at = $8,
                                             last_refreshed_at = $9
                         WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL",
                        &[
                            &session_id,
                            &expected.as_slice(),
                            &tokens.access_hash.as_slice(),
                            &timestamp(tokens.access_expires_at),
                            &tokens.refresh_hash.as_slice(),
                            &timestamp(tokens.refresh_expires_at),
                            &previous.as_ref().map(|hash| hash.as_slice()),
                            &rotated_at.map(timestamp),
                            &timestamp(now),
                        ],
                    )
                    .await?;
                if changed == 0 {
                    return Ok(None);
                }
                let statement = tx
                    .prepare_cached(&format!(
                        "SELECT {AGENT_COLUMNS} FROM sessions s JOIN agents a ON a.id = s.agent_id
                         WHERE s.id = $1"
                    ))
                    .await?;
                let agent = tx
                    .query_opt(&statement, &[&session_id])
                    .await?
                    .map(|row| agent_from_offset(&row, 0))
                    .transpose()?
                    .ok_or_else(|| StoreError::Corrupt("a session's agent is missing".into()))?;
                Ok(Some(SessionInfo {
                    session_id,
                    agent,
                    access_expires_at: tokens.access_expires_at,
                }))
            })
        })
    }

    fn end_session(
        &self,
        session_id: &str,
        reason: EndReason,
        now: DateTime<Utc>,
        audit: Option<super::AuditRecord>,
    ) -> Result<bool, StoreError> {
        let session_id = session_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let ended = tx
                    .execute(
                        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                         WHERE id = $1 AND revoked_at IS NULL",
                        &[&session_id, &timestamp(now), &reason.as_str()],
                    )
                    .await?
                    > 0;
                if let Some(audit) = audit {
                    audit_in(tx, &audit).await?;
                }
                Ok(ended)
            })
        })
    }

    fn session_end(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EndReason>, StoreError> {
        let session_id = session_id.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT s.revoked_at, s.revoked_reason,
                                coalesce(s.expires_at, s.refresh_expires_at),
                                s.refresh_expires_at, a.status
                         FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.id = $1",
                    )
                    .await?;
                let Some(row) = client.query_opt(&statement, &[&session_id]).await? else {
                    return Ok(Some(EndReason::SessionRevoked));
                };
                let expires: String = row.try_get(2)?;
                let idle: String = row.try_get(3)?;
                let facts = SessionFacts {
                    revoked_at: row.try_get(0)?,
                    revoked_reason: row.try_get(1)?,
                    expires_at: parse_time(&expires)?,
                    refresh_expires_at: parse_time(&idle)?,
                    agent_status: row.try_get(4)?,
                };
                Ok(facts.end_reason(now))
            })
        })
    }

    fn sessions_of(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionView>, StoreError> {
        let (tenant, agent) = (tenant.clone(), agent.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT id, created_at, last_refreshed_at,
                                coalesce(expires_at, refresh_expires_at), refresh_expires_at,
                                client
                         FROM sessions
                         WHERE tenant_id = $1 AND agent_id = $2 AND revoked_at IS NULL
                         ORDER BY created_at DESC",
                    )
                    .await?;
                let rows = client
                    .query(&statement, &[&tenant.as_str(), &agent.as_str()])
                    .await?;
                let mut sessions = Vec::new();
                for row in &rows {
                    let last: Option<String> = row.try_get(2)?;
                    let view = SessionView {
                        id: row.try_get(0)?,
                        created_at: parse_time(&row.try_get::<_, String>(1)?)?,
                        last_refreshed_at: last.as_deref().map(parse_time).transpose()?,
                        expires_at: parse_time(&row.try_get::<_, String>(3)?)?,
                        idle_expires_at: parse_time(&row.try_get::<_, String>(4)?)?,
                        client: row.try_get(5)?,
                    };
                    if view.expires_at > now && view.idle_expires_at > now {
                        sessions.push(view);
                    }
                }
                Ok(sessions)
            })
        })
    }

    fn record_sign_in(&self, agent: &AgentId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let agent = agent.clone();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE agents SET last_sign_in_at = $2 WHERE id = $1",
                    &[&agent.as_str(), &timestamp(at)],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn add_bot_key(
        &self,
        tenant: &TenantId,
        name: &str,
        key_hash: [u8; 32],
        audit: Option<super::AuditRecord>,
    ) -> Result<BotKey, StoreError> {
        let now = Utc::now();
        let key = BotKey {
            id: new_id(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
        };
        let (tenant, row) = (tenant.clone(), key.clone());
        self.write(move |tx| {
            Box::pin(async move {
                require_tenant(tx, &tenant).await?;
                tx.execute(
                    "INSERT INTO bot_keys (key_hash, tenant_id, name, created_at, id)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &key_hash.as_slice(),
                        &tenant.as_str(),
                        &row.name,
                        &timestamp(now),
                        &row.id,
                    ],
                )
                .await?;
                if let Some(audit) = audit {
                    audit_in(tx, &audit).await?;
                }
                Ok(())
            })
        })?;
        Ok(key)
    }

    fn bot_keys(&self, tenant: &TenantId) -> Result<Vec<BotKey>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT id, name, created_at, revoked_at FROM bot_keys
                         WHERE tenant_id = $1 ORDER BY created_at, id",
                    )
                    .await?;
                let rows = client.query(&statement, &[&tenant.as_str()]).await?;
                rows.iter().map(bot_key_from_row).collect()
            })
        })
    }

    fn revoke_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: super::AuditRecord,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.clone(), id.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let revoked = tx
                    .execute(
                        "UPDATE bot_keys SET revoked_at = $3
                         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                        &[&tenant.as_str(), &id, &now_text()],
                    )
                    .await?
                    > 0;
                if revoked {
                    audit_in(tx, &audit).await?;
                }
                Ok(revoked)
            })
        })
    }

    fn rotate_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        key_hash: [u8; 32],
        audit: super::AuditRecord,
    ) -> Result<Option<BotKey>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "UPDATE bot_keys SET key_hash = $3
                         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
                         RETURNING id, name, created_at, revoked_at",
                    )
                    .await?;
                let key = tx
                    .query_opt(&statement, &[&tenant.as_str(), &id, &key_hash.as_slice()])
                    .await?
                    .as_ref()
                    .map(bot_key_from_row)
                    .transpose()?;
                if key.is_some() {
                    audit_in(tx, &audit).await?;
                }
                Ok(key)
            })
        })
    }

    fn bot_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<BotIdentity>, StoreError> {
        let key_hash = *key_hash;
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT tenant_id, name FROM bot_keys
                         WHERE key_hash = $1 AND revoked_at IS NULL",
                    )
                    .await?;
                let row = client
                    .query_opt(&statement, &[&key_hash.as_slice()])
                    .await?;
                row.map(|row| {
                    Ok(BotIdentity {
                        tenant: TenantId::new(row.try_get::<_, String>(0)?),
                        name: row.try_get(1)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT wipe_cache_on_removal FROM tenants WHERE id = $1")
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str()])
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
                Ok(TenantPolicy {
                    wipe_cache_on_removal: row.try_get(0)?,
                })
            })
        })
    }

    fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
        audit: super::AuditRecord,
    ) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |tx| {
            Box::pin(async move {
                require_tenant(tx, &tenant).await?;
                tx.execute(
                    "UPDATE tenants SET wipe_cache_on_removal = $2 WHERE id = $1",
                    &[&tenant.as_str(), &policy.wipe_cache_on_removal],
                )
                .await?;
                audit_in(tx, &audit).await?;
                Ok(())
            })
        })
    }
}
