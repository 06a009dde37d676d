//! What an operator does to set up a relay, without a UI: the admin CLI's commands, as
//! functions over an opened relay so tests can run them too.

use crate::auth;
use crate::seal::SealError;
use crate::server::AppState;
use crate::store::{Agent, Channel, MetaApp, NewAgent, NewChannel, Role, StoreError, Tenant};
use crate::webhook::intake::{secret_purpose, verify_token_purpose};
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

pub fn add_agent(
    state: &AppState,
    tenant_id_or_name: &str,
    email: &str,
    role: Role,
    password: &str,
) -> Result<Agent, AdminError> {
    let email = email.trim();
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(AdminError::Invalid(format!(
            "{email:?} is not an email address"
        )));
    }
    let tenant = tenant(state, tenant_id_or_name)?;
    let password_hash = auth::hash_password(password)?;
    Ok(state.store.add_agent(NewAgent {
        tenant: tenant.id,
        email: email.to_owned(),
        role,
        password_hash,
    })?)
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
    let sealed = state.key.seal(
        &crate::channels::token_purpose(&channel.id),
        token.as_bytes(),
    )?;
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
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Invalid("a bot key needs a name".into()));
    }
    let tenant = tenant(state, tenant_id_or_name)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AdminError::Invalid(format!("no randomness: {e}")))?;
    let key = format!("{}{}", crate::api::BOT_KEY_PREFIX, hex::encode(bytes));
    state
        .store
        .add_bot_key(&tenant.id, name, auth::token_hash(&key))?;
    state.store.audit(crate::store::AuditRecord {
        tenant: tenant.id,
        actor: "admin-cli".into(),
        action: "bot_key_added".into(),
        detail: serde_json::json!({"name": name}),
    })?;
    Ok(key)
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
