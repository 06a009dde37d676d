//! What an admin (through the REST API or the CLI) and an agent can do to accounts: add,
//! change, disable, remove agents, reset and change passwords, end sessions, manage bot
//! keys. One function per operation, shared by `agents_api.rs` and `admin.rs`, so both
//! keep the same rules: every change is audited in its own transaction, and every session
//! a change ends is announced to the open streams once it is committed. Also how an agent
//! is shown to the API ([`AgentView`]), for sign-in and the agents list alike.

use crate::auth;
use crate::state::AppState;
use crate::store::{
    Agent, AgentChange, AuditRecord, BotKey, EndReason, NewAgent, Role, SessionInfo, StoreError,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use ventana_protocol::ids::{AgentId, TenantId};

/// Who is acting, for the audit log: `agent:<id>` or `admin-cli`.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    pub fn agent(session: &SessionInfo) -> Self {
        Actor(format!("agent:{}", session.agent.id))
    }

    pub fn cli() -> Self {
        Actor("admin-cli".into())
    }
}

fn record(
    tenant: &TenantId,
    actor: &Actor,
    action: &str,
    detail: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        tenant: tenant.clone(),
        actor: actor.0.clone(),
        action: action.into(),
        detail,
    }
}

fn hashed(password: &str) -> Result<String, StoreError> {
    auth::hash_password(password).map_err(|error| match error {
        auth::AuthError::PasswordTooShort => {
            StoreError::Refused("weak_password", error.to_string())
        }
        other => StoreError::Corrupt(other.to_string()),
    })
}

/// A one-time password for a new agent or a reset: 20 characters from an alphabet
/// without look-alikes, in groups of five so it can be read out.
pub fn temporary_password() -> Result<String, StoreError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let characters: Vec<char> = bytes
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect();
    Ok(characters
        .chunks(5)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Checks the shape of an email before it is stored.
pub fn checked_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= auth::MAX_EMAIL_BYTES
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(StoreError::Refused(
            "invalid_email",
            format!("{email:?} is not an email address"),
        ))
    }
}

fn checked_name(name: Option<String>) -> Result<Option<String>, StoreError> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(StoreError::Refused(
            "invalid_name",
            "a name has at most 100 characters".into(),
        ));
    }
    Ok(name)
}

/// Adds an agent. With no `password` the relay makes a temporary one (returned) that the
/// agent must replace at first sign-in.
pub fn add_agent(
    state: &AppState,
    tenant: &TenantId,
    email: &str,
    name: Option<String>,
    role: Role,
    password: Option<&str>,
    actor: &Actor,
) -> Result<(Agent, Option<String>), StoreError> {
    let email = checked_email(email)?;
    let name = checked_name(name)?;
    let temporary = match password {
        Some(_) => None,
        None => Some(temporary_password()?),
    };
    let password_hash = hashed(password.or(temporary.as_deref()).unwrap_or_default())?;
    let audit = record(
        tenant,
        actor,
        "agent_added",
        serde_json::json!({"email": email, "role": role.as_str()}),
    );
    let agent = state.store.add_agent(
        NewAgent {
            tenant: tenant.clone(),
            email,
            name,
            role,
            password_hash,
            must_change_password: temporary.is_some(),
        },
        Some(audit),
    )?;
    Ok((agent, temporary))
}

/// Changes an agent's role, status or name; disabling ends their sessions at once.
pub fn change_agent(
    state: &AppState,
    tenant: &TenantId,
    id: &AgentId,
    change: AgentChange,
    actor: &Actor,
) -> Result<Agent, StoreError> {
    let change = AgentChange {
        name: change.name.map(checked_name).transpose()?,
        ..change
    };
    let mut detail = serde_json::json!({"agent": id.as_str()});
    if let Some(role) = change.role {
        detail["role"] = role.as_str().into();
    }
    if let Some(status) = change.status {
        detail["status"] = status.as_str().into();
    }
    if change.name.is_some() {
        detail["name_changed"] = true.into();
    }
    let audit = record(tenant, actor, "agent_changed", detail);
    let (agent, ended) = state.store.change_agent(tenant, id, change, audit)?;
    state.revocations.announce(&ended);
    Ok(agent)
}

/// Removes an agent and ends every session of theirs at once.
pub fn remove_agent(
    state: &AppState,
    tenant: &TenantId,
    id: &AgentId,
    actor: &Actor,
) -> Result<(), StoreError> {
    let audit = record(
        tenant,
        actor,
        "agent_removed",
        serde_json::json!({"agent": id.as_str()}),
    );
    let ended = state.store.remove_agent(tenant, id, audit)?;
    state.revocations.announce(&ended);
    Ok(())
}

/// A new temporary password for an agent (returned once); every session of theirs ends.
pub fn reset_password(
    state: &AppState,
    tenant: &TenantId,
    id: &AgentId,
    actor: &Actor,
) -> Result<String, StoreError> {
    let temporary = temporary_password()?;
    let audit = record(
        tenant,
        actor,
        "password_reset",
        serde_json::json!({"agent": id.as_str()}),
    );
    let ended = state
        .store
        .set_password(tenant, id, hashed(&temporary)?, true, None, audit)?;
    state.revocations.announce(&ended);
    Ok(temporary)
}

/// An agent sets their own password; their other sessions end, this one goes on.
pub fn change_own_password(
    state: &AppState,
    session: &SessionInfo,
    current: &str,
    new: &str,
) -> Result<(), StoreError> {
    let agent = &session.agent;
    let hash = state
        .store
        .password_hash(&agent.tenant, &agent.id)?
        .ok_or_else(|| StoreError::NotFound(format!("agent {}", agent.id)))?;
    if !auth::verify_password(current, &hash) {
        return Err(StoreError::Refused(
            "wrong_password",
            "the current password is wrong".into(),
        ));
    }
    if current == new {
        return Err(StoreError::Refused(
            "weak_password",
            "the new password must differ from the current one".into(),
        ));
    }
    let audit = record(
        &agent.tenant,
        &Actor::agent(session),
        "password_changed",
        serde_json::json!({"agent": agent.id.as_str()}),
    );
    let ended = state.store.set_password(
        &agent.tenant,
        &agent.id,
        hashed(new)?,
        false,
        Some(&session.session_id),
        audit,
    )?;
    state.revocations.announce(&ended);
    Ok(())
}

/// Ends one session of an agent of `tenant`; `false` if it was not theirs or not live.
pub fn revoke_session(
    state: &AppState,
    tenant: &TenantId,
    agent: &AgentId,
    session: &str,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let theirs = state
        .store
        .sessions_of(tenant, agent, now)?
        .iter()
        .any(|live| live.id == session);
    if !theirs {
        return Ok(false);
    }
    let audit = record(
        tenant,
        actor,
        "session_revoked",
        serde_json::json!({"agent": agent.as_str(), "session": session}),
    );
    let reason = EndReason::SessionRevoked;
    let ended = state.store.end_session(session, reason, now, Some(audit))?;
    if ended {
        state.revocations.announce_one(session, reason);
    }
    Ok(ended)
}

/// How an ended session is told to its desktop (the refresh's 401 and the stream's
/// `signed_out` frame say the same): the reason in words naming the tenant, and whether the
/// tenant wants the account's cache deleted (only when access was removed or disabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub message: String,
    pub wipe_cache: bool,
}

pub async fn told(state: &std::sync::Arc<AppState>, tenant: &TenantId, reason: EndReason) -> Told {
    let (store, id) = (std::sync::Arc::clone(&state.store), tenant.clone());
    let (name, policy) = crate::error::blocking("reading the tenant's policy", move || {
        Ok((store.find_tenant(id.as_str())?, store.tenant_policy(&id)?))
    })
    .await
    .map(|(tenant, policy)| (tenant.map(|t| t.name), policy))
    .unwrap_or_default();
    Told {
        message: reason.message(name.as_deref().unwrap_or("this tenant")),
        wipe_cache: reason.removes_access() && policy.wipe_cache_on_removal,
    }
}

/// A bot key: `vbot_` and 64 hex digits, shown once.
fn new_bot_key() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(format!(
        "{}{}",
        crate::caller::BOT_KEY_PREFIX,
        hex::encode(bytes)
    ))
}

pub fn add_bot_key(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
    actor: &Actor,
) -> Result<(BotKey, String), StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::Refused(
            "invalid_name",
            "a bot key needs a name of at most 100 characters".into(),
        ));
    }
    let key = new_bot_key()?;
    let audit = record(
        tenant,
        actor,
        "bot_key_added",
        serde_json::json!({"name": name}),
    );
    let added = state
        .store
        .add_bot_key(tenant, name, auth::token_hash(&key), Some(audit))?;
    Ok((added, key))
}

pub fn revoke_bot_key(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let audit = record(
        tenant,
        actor,
        "bot_key_revoked",
        serde_json::json!({"key": id}),
    );
    state.store.revoke_bot_key(tenant, id, audit)
}

/// A new key under the same id; the old one stops working at once.
pub fn rotate_bot_key(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    actor: &Actor,
) -> Result<Option<(BotKey, String)>, StoreError> {
    let key = new_bot_key()?;
    let audit = record(
        tenant,
        actor,
        "bot_key_rotated",
        serde_json::json!({"key": id}),
    );
    Ok(state
        .store
        .rotate_bot_key(tenant, id, auth::token_hash(&key), audit)?
        .map(|rotated| (rotated, key)))
}

/// An agent as the API shows it (`/v1/me`, sign-in, the agents list).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub status: crate::store::AgentStatus,
    /// The agent must choose a new password before anything else.
    pub must_change_password: bool,
    pub last_sign_in_at: Option<chrono::DateTime<Utc>>,
}

pub fn agent_view(agent: &Agent) -> AgentView {
    AgentView {
        id: agent.id.to_string(),
        email: agent.email.clone(),
        name: agent.name.clone(),
        role: agent.role,
        status: agent.status,
        must_change_password: agent.must_change_password,
        last_sign_in_at: agent.last_sign_in_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_are_long_random_and_readable() {
        let a = temporary_password().unwrap();
        let b = temporary_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert!(a.split('-').all(|group| group.len() == 5));
        assert!(!a.contains(['0', 'o', '1', 'l', 'i']));
        assert!(auth::hash_password(&a).is_ok());
    }

    #[test]
    fn emails_are_checked_and_folded() {
        assert_eq!(checked_email(" Ana@Acme.Test ").unwrap(), "ana@acme.test");
        for bad in [
            "",
            "ana",
            "@acme.test",
            "ana@acme",
            "an a@acme.test",
            "ana@.test",
        ] {
            assert!(checked_email(bad).is_err(), "{bad:?}");
        }
        assert!(checked_email(&format!("{}@acme.test", "a".repeat(400))).is_err());
    }
}
