//! What an operator does to set up a relay, without a UI: the admin CLI's commands, as
//! functions over an opened relay so tests can run them too.

use crate::accounts::{self, Actor};
use crate::auth;
use crate::credentials::{secret_purpose, token_purpose, verify_token_purpose};
use crate::seal::SealError;
use crate::state::AppState;
use crate::store::{
    Agent, AgentChange, AgentStatus, BotKey, Channel, MetaApp, NewChannel, Role, SessionView,
    StoreError, Tenant, TenantPolicy,
};
use std::io::Write;
use ventana_protocol::ChannelKind;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing a secret: {0}")]
    Seal(#[from] SealError),
    #[error("{0}")]
    Auth(#[from] auth::AuthError),
    #[error("no tenant named or with id {0:?}")]
    NoTenant(String),
    #[error("{0}")]
    Invalid(String),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

pub fn add_tenant(state: &AppState, name: &str) -> Result<Tenant, AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Invalid("a tenant needs a name".into()));
    }
    Ok(state.store.add_tenant(name)?)
}

fn tenant(state: &AppState, id_or_name: &str) -> Result<Tenant, AdminError> {
    state
        .store
        .find_tenant(id_or_name)?
        .ok_or_else(|| AdminError::NoTenant(id_or_name.to_owned()))
}

/// Registers a Meta app; its secret and verify token are stored sealed.
pub fn add_meta_app(
    state: &AppState,
    app_id: &str,
    app_secret: &str,
    verify_token: Option<&str>,
) -> Result<(), AdminError> {
    let (app_id, app_secret) = (app_id.trim(), app_secret.trim());
    if app_id.is_empty() || !app_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AdminError::Invalid(
            "an app id is Meta's numeric app id".into(),
        ));
    }
    if app_secret.is_empty() {
        return Err(AdminError::Invalid("the app secret is empty".into()));
    }
    let verify_token_sealed = match verify_token.map(str::trim) {
        Some("") => return Err(AdminError::Invalid("the verify token is empty".into())),
        Some(token) => Some(
            state
                .key
                .seal(&verify_token_purpose(app_id), token.as_bytes())?,
        ),
        None => None,
    };
    state.store.add_meta_app(MetaApp {
        app_id: app_id.to_owned(),
        secret_sealed: state
            .key
            .seal(&secret_purpose(app_id), app_secret.as_bytes())?,
        verify_token_sealed,
    })?;
    Ok(())
}

pub fn add_channel(
    state: &AppState,
    tenant_id_or_name: &str,
    kind: ChannelKind,
    external_id: &str,
    app_id: &str,
    display_name: Option<&str>,
    waba_id: Option<&str>,
) -> Result<Channel, AdminError> {
    let external_id = external_id.trim();
    if external_id.is_empty() {
        return Err(AdminError::Invalid(
            "the channel's external id is empty".into(),
        ));
    }
    let tenant = tenant(state, tenant_id_or_name)?;
    Ok(state.store.add_channel(NewChannel {
        tenant: tenant.id,
        kind,
        external_id: external_id.to_owned(),
        app_id: app_id.trim().to_owned(),
        display_name: display_name
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{kind} {external_id}")),
        waba_id: waba_id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
    })?)
}

/// Adds an agent with the password given (the operator's own first admin, say).
pub fn add_agent(
    state: &AppState,
    tenant_id_or_name: &str,
    email: &str,
    role: Role,
    password: &str,
) -> Result<Agent, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let (agent, _) = accounts::add_agent(
        state,
        &tenant.id,
        email,
        None,
        role,
        Some(password),
        &Actor::cli(),
    )?;
    Ok(agent)
}

/// Adds an agent with a temporary password (returned once) to be changed at first sign-in.
pub fn invite_agent(
    state: &AppState,
    tenant_id_or_name: &str,
    email: &str,
    role: Role,
) -> Result<(Agent, String), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let (agent, temporary) =
        accounts::add_agent(state, &tenant.id, email, None, role, None, &Actor::cli())?;
    let temporary = temporary.ok_or_else(|| AdminError::Invalid("no temporary password".into()))?;
    Ok((agent, temporary))
}

/// An agent of the tenant by id or email.
fn agent_of(state: &AppState, tenant: &Tenant, id_or_email: &str) -> Result<Agent, AdminError> {
    let wanted = id_or_email.trim().to_lowercase();
    state
        .store
        .agents_of(&tenant.id)?
        .into_iter()
        .find(|agent| agent.id.as_str() == id_or_email.trim() || agent.email == wanted)
        .ok_or_else(|| AdminError::Invalid(format!("no agent {id_or_email:?} in {}", tenant.name)))
}

/// What the CLI changes about an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEdit {
    Role(Role),
    Disable,
    Enable,
}

pub fn edit_agent(
    state: &AppState,
    tenant_id_or_name: &str,
    agent: &str,
    edit: AgentEdit,
) -> Result<Agent, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let agent = agent_of(state, &tenant, agent)?;
    let change = match edit {
        AgentEdit::Role(role) => AgentChange {
            role: Some(role),
            ..AgentChange::default()
        },
        AgentEdit::Disable => AgentChange {
            status: Some(AgentStatus::Disabled),
            ..AgentChange::default()
        },
        AgentEdit::Enable => AgentChange {
            status: Some(AgentStatus::Active),
            ..AgentChange::default()
        },
    };
    Ok(accounts::change_agent(
        state,
        &tenant.id,
        &agent.id,
        change,
        &Actor::cli(),
    )?)
}

pub fn remove_agent(
    state: &AppState,
    tenant_id_or_name: &str,
    agent: &str,
) -> Result<(), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let agent = agent_of(state, &tenant, agent)?;
    Ok(accounts::remove_agent(
        state,
        &tenant.id,
        &agent.id,
        &Actor::cli(),
    )?)
}

/// A new temporary password for the agent (returned once); their sessions end.
pub fn reset_password(
    state: &AppState,
    tenant_id_or_name: &str,
    agent: &str,
) -> Result<String, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let agent = agent_of(state, &tenant, agent)?;
    Ok(accounts::reset_password(
        state,
        &tenant.id,
        &agent.id,
        &Actor::cli(),
    )?)
}

pub fn sessions(
    state: &AppState,
    tenant_id_or_name: &str,
    agent: &str,
) -> Result<Vec<SessionView>, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let agent = agent_of(state, &tenant, agent)?;
    Ok(state
        .store
        .sessions_of(&tenant.id, &agent.id, chrono::Utc::now())?)
}

pub fn revoke_session(
    state: &AppState,
    tenant_id_or_name: &str,
    agent: &str,
    session: &str,
) -> Result<(), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let agent = agent_of(state, &tenant, agent)?;
    if accounts::revoke_session(state, &tenant.id, &agent.id, session, &Actor::cli())? {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "no live session {session:?} of that agent"
        )))
    }
}

/// Sets the tenant's rules for its desktops.
pub fn set_tenant_policy(
    state: &AppState,
    tenant_id_or_name: &str,
    policy: TenantPolicy,
) -> Result<(), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let record = crate::store::AuditRecord {
        tenant: tenant.id.clone(),
        actor: Actor::cli().0,
        action: "tenant_policy".into(),
        detail: serde_json::json!({"wipe_cache_on_removal": policy.wipe_cache_on_removal}),
    };
    Ok(state.store.set_tenant_policy(&tenant.id, policy, record)?)
}

/// Writes each item as one JSON line.
pub fn print_lines<T: serde::Serialize>(
    items: &[T],
    out: &mut impl Write,
) -> Result<(), AdminError> {
    for item in items {
        serde_json::to_writer(&mut *out, item)
            .map_err(|e| AdminError::Output(std::io::Error::other(e)))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn tenants(state: &AppState) -> Result<Vec<Tenant>, AdminError> {
    Ok(state.store.tenants()?)
}

pub fn channels(state: &AppState, tenant_id_or_name: &str) -> Result<Vec<Channel>, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    Ok(state.store.channels_of(&tenant.id)?)
}

pub fn agents(state: &AppState, tenant_id_or_name: &str) -> Result<Vec<Agent>, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    Ok(state.store.agents_of(&tenant.id)?)
}

/// Writes the tenant's log after `after` as JSON lines: the event's fields plus `seq`.
pub fn print_log(
    state: &AppState,
    tenant_id_or_name: &str,
    after: u64,
    out: &mut impl Write,
) -> Result<u64, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let mut next = after;
    let mut printed = 0;
    loop {
        let page = state.store.read_log(&tenant.id, next, 1000)?;
        let Some(last) = page.last() else {
            return Ok(printed);
        };
        next = last.seq;
        for entry in page {
            let mut line = serde_json::to_value(&entry.event)
                .map_err(|e| AdminError::Invalid(format!("event {}: {e}", entry.seq)))?;
            if let Some(object) = line.as_object_mut() {
                object.insert("seq".into(), entry.seq.into());
            }
            serde_json::to_writer(&mut *out, &line)
                .map_err(|e| AdminError::Output(std::io::Error::other(e)))?;
            out.write_all(b"\n")?;
            printed += 1;
        }
    }
}

/// The channel `id_or_external` of the tenant: by our id or by its Meta id.
fn channel_of(
    state: &AppState,
    tenant: &Tenant,
    id_or_external: &str,
) -> Result<Channel, AdminError> {
    state
        .store
        .channels_of(&tenant.id)?
        .into_iter()
        .find(|c| c.id.as_str() == id_or_external || c.external_id == id_or_external)
        .ok_or_else(|| {
            AdminError::Invalid(format!(
                "no channel {id_or_external:?} in tenant {:?}",
                tenant.name
            ))
        })
}

/// Sets a channel's access token (sealed; it also clears "needs re-connection").
pub fn set_channel_token(
    state: &AppState,
    tenant_id_or_name: &str,
    channel: &str,
    token: &str,
) -> Result<Channel, AdminError> {
    let token = token.trim();
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return Err(AdminError::Invalid(
            "the token is empty or has spaces".into(),
        ));
    }
    let tenant = tenant(state, tenant_id_or_name)?;
    let channel = channel_of(state, &tenant, channel)?;
    let sealed = state
        .key
        .seal(&token_purpose(&channel.id), token.as_bytes())?;
    let updated = state.store.change_channel(
        &tenant.id,
        &channel.id,
        crate::store::ChannelChange {
            token_sealed: Some(sealed),
            ..Default::default()
        },
        Some(crate::store::AuditRecord {
            tenant: tenant.id.clone(),
            actor: "admin-cli".into(),
            action: "channel_settings".into(),
            detail: serde_json::json!({"channel": channel.id.as_str(), "changed": ["access_token"]}),
        }),
    )?;
    Ok(updated)
}

/// Makes a key for the tenant's bot; returns it (shown once, stored only as a hash).
pub fn add_bot_key(
    state: &AppState,
    tenant_id_or_name: &str,
    name: &str,
) -> Result<String, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let (_, key) = accounts::add_bot_key(state, &tenant.id, name, &Actor::cli())?;
    Ok(key)
}

pub fn bot_keys(state: &AppState, tenant_id_or_name: &str) -> Result<Vec<BotKey>, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    Ok(state.store.bot_keys(&tenant.id)?)
}

pub fn revoke_bot_key(
    state: &AppState,
    tenant_id_or_name: &str,
    id: &str,
) -> Result<(), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    if accounts::revoke_bot_key(state, &tenant.id, id, &Actor::cli())? {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!("no live bot key {id:?}")))
    }
}

/// A new key under the same id (printed once); the old one stops working.
pub fn rotate_bot_key(
    state: &AppState,
    tenant_id_or_name: &str,
    id: &str,
) -> Result<String, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    accounts::rotate_bot_key(state, &tenant.id, id, &Actor::cli())?
        .map(|(_, key)| key)
        .ok_or_else(|| AdminError::Invalid(format!("no live bot key {id:?}")))
}

/// Whether agents (not only admins) may erase contacts in the tenant.
pub fn set_agents_may_erase(
    state: &AppState,
    tenant_id_or_name: &str,
    allowed: bool,
) -> Result<(), AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    state.store.set_agents_may_erase(&tenant.id, allowed)?;
    state.store.audit(crate::store::AuditRecord {
        tenant: tenant.id,
        actor: "admin-cli".into(),
        action: "agents_may_erase".into(),
        detail: serde_json::json!({"allowed": allowed}),
    })?;
    Ok(())
}

/// The tenant's audit log, checked: an edit anywhere is reported, not printed over.
pub fn audit_log(
    state: &AppState,
    tenant_id_or_name: &str,
) -> Result<Vec<crate::audit::AuditEntry>, AdminError> {
    let tenant = tenant(state, tenant_id_or_name)?;
    let entries = state.store.audit_log(&tenant.id)?;
    crate::audit::verify(&entries)
        .map_err(|e| AdminError::Invalid(format!("the audit log does not verify: {e}")))?;
    Ok(entries)
}
