//! Who may reach a tenant's data, and for how long: agents and their lifecycle, sessions
//! and why they end, bot keys. Implemented for SQLite in `sqlite/accounts.rs`; the rules
//! (lifetimes, refresh reuse, the last admin) are decided here or in `auth.rs`, and a
//! backend only keeps them true in one transaction.

use super::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ventana_protocol::ids::{AgentId, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// Whether an agent may sign in. Removed agents are not listed and cannot come back; their
/// row stays only as the id the audit log and old assignments name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Active,
    Disabled,
    Removed,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Disabled => "disabled",
            AgentStatus::Removed => "removed",
        }
    }

    pub fn parse(value: &str) -> Option<AgentStatus> {
        match value {
            "active" => Some(AgentStatus::Active),
            "disabled" => Some(AgentStatus::Disabled),
            "removed" => Some(AgentStatus::Removed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: AgentId,
    pub tenant: TenantId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub status: AgentStatus,
    /// Set by an admin's password reset and for a new agent: until the agent chooses a
    /// password, their sessions reach only the password change.
    pub must_change_password: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub tenant: TenantId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: String,
    pub must_change_password: bool,
}

/// What an admin changes about an agent; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentChange {
    pub role: Option<Role>,
    /// `Active` or `Disabled` (removal is [`AccountStore::remove_agent`]).
    pub status: Option<AgentStatus>,
    pub name: Option<Option<String>>,
}

/// Why a session ended; the code is what the desktop is told (docs/accounts.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// An admin removed the agent.
    AccessRemoved,
    /// An admin disabled the agent.
    AccessDisabled,
    /// The password was changed (by the agent, for their other sessions) or reset.
    PasswordChanged,
    /// An admin ended this session.
    SessionRevoked,
    /// A rotated refresh token was presented again: someone holds a copy.
    SessionReused,
    /// The absolute lifetime or the idle timeout was reached.
    SessionExpired,
    /// The agent signed out.
    SignedOut,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::AccessRemoved => "access_removed",
            EndReason::AccessDisabled => "access_disabled",
            EndReason::PasswordChanged => "password_changed",
            EndReason::SessionRevoked => "session_revoked",
            EndReason::SessionReused => "session_reused",
            EndReason::SessionExpired => "session_expired",
            EndReason::SignedOut => "signed_out",
        }
    }

    pub fn parse(value: &str) -> Option<EndReason> {
        [
            EndReason::AccessRemoved,
            EndReason::AccessDisabled,
            EndReason::PasswordChanged,
            EndReason::SessionRevoked,
            EndReason::SessionReused,
            EndReason::SessionExpired,
            EndReason::SignedOut,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == value)
    }

    /// The reason in words for the agent, naming the tenant.
    pub fn message(self, tenant: &str) -> String {
        match self {
            EndReason::AccessRemoved => format!("Your access to {tenant} was removed by an admin."),
            EndReason::AccessDisabled => {
                format!("Your access to {tenant} was disabled by an admin.")
            }
            EndReason::PasswordChanged => {
                format!("Your password for {tenant} was changed. Sign in again.")
            }
            EndReason::SessionRevoked => format!("An admin signed you out of {tenant}."),
            EndReason::SessionReused => {
                format!("You were signed out of {tenant} for your security.")
            }
            EndReason::SessionExpired => {
                format!("Your session at {tenant} expired. Sign in again.")
            }
            EndReason::SignedOut => format!("You signed out of {tenant}."),
        }
    }

    /// Whether the tenant's "delete the cache when access is removed" policy applies.
    pub fn removes_access(self) -> bool {
        matches!(self, EndReason::AccessRemoved | EndReason::AccessDisabled)
    }
}

/// A new session's id and tokens (hashes only; the tokens themselves are never stored).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub tokens: SessionTokens,
    /// The absolute end: refreshing never moves it.
    pub expires_at: DateTime<Utc>,
    /// The desktop's User-Agent, trimmed.
    pub client: Option<String>,
}

/// The hashes and expiries of a session's two tokens.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub access_hash: [u8; 32],
    pub access_expires_at: DateTime<Utc>,
    pub refresh_hash: [u8; 32],
    /// The idle timeout: no refresh by then ends the session.
    pub refresh_expires_at: DateTime<Utc>,
}

/// Who a valid access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    pub agent: Agent,
    pub access_expires_at: DateTime<Utc>,
}

/// A session as the store holds it, for the refresh decision (`auth::refresh_decision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub agent: Agent,
    pub refresh_hash: [u8; 32],
    pub previous_refresh_hash: Option<[u8; 32]>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub revoked: Option<EndReason>,
}

/// A live session, as an admin lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
    /// The end if the desktop does not refresh before then.
    pub idle_expires_at: DateTime<Utc>,
    /// The desktop's description of itself (User-Agent), if it gave one.
    pub client: Option<String>,
}

/// Sessions that a change ended, so the relay can cut their open streams at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndedSessions {
    pub ids: Vec<String>,
    pub reason: Option<EndReason>,
}

/// A bot key, as an admin lists it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotKey {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A bot key's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub tenant: TenantId,
    pub name: String,
}

/// The tenant's rules for its desktops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPolicy {
    /// A desktop whose access is removed or disabled deletes that account's cache.
    pub wipe_cache_on_removal: bool,
}

/// The stored facts about a session that say whether (and why) it has ended, as both
/// backends read them (`AccountStore::session_end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
    /// The idle end.
    pub refresh_expires_at: DateTime<Utc>,
    /// The agent's status, as stored.
    pub agent_status: String,
}

impl SessionFacts {
    /// Why the session has ended at `now`, or `None` while it lives: a revocation names its
    /// reason (a sign-out when it named none), then the agent's access, then the clock.
    pub fn end_reason(&self, now: DateTime<Utc>) -> Option<EndReason> {
        if self.revoked_at.is_some() {
            return Some(
                self.revoked_reason
                    .as_deref()
                    .and_then(EndReason::parse)
                    .unwrap_or(EndReason::SignedOut),
            );
        }
        match self.agent_status.as_str() {
            "disabled" => return Some(EndReason::AccessDisabled),
            "removed" => return Some(EndReason::AccessRemoved),
            _ => {}
        }
        (self.expires_at <= now || self.refresh_expires_at <= now)
            .then_some(EndReason::SessionExpired)
    }
}

/// Agents, sessions and bot keys. Every change that ends sessions returns their ids; every
/// change an admin makes writes its `audit` record in the same transaction.
pub trait AccountStore {
    /// Fails with `Conflict` if the email is already an agent of the tenant.
    fn add_agent(
        &self,
        agent: NewAgent,
        audit: Option<super::AuditRecord>,
    ) -> Result<Agent, StoreError>;
    /// An agent of `tenant` (removed ones too, so the caller can say so).
    fn agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<Agent>, StoreError>;
    /// The tenant's agents that are not removed, by email.
    fn agents_of(&self, tenant: &TenantId) -> Result<Vec<Agent>, StoreError>;
    /// Every agent with this email that is not removed (one per tenant at most), with their
    /// password hashes.
    fn agents_by_email(&self, email: &str) -> Result<Vec<(Agent, String)>, StoreError>;
    /// Applies `change`. Refuses (`Refused("last_admin")`) to leave the tenant without an
    /// active admin; disabling ends every session of the agent.
    fn change_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        change: AgentChange,
        audit: super::AuditRecord,
    ) -> Result<(Agent, EndedSessions), StoreError>;
    /// Removes the agent (see [`AgentStatus::Removed`]) and ends every session of theirs;
    /// the same last-admin rule as `change_agent`.
    fn remove_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        audit: super::AuditRecord,
    ) -> Result<EndedSessions, StoreError>;
    /// Sets a new password hash and ends every session of the agent but `keep` (the one
    /// that changed it, for an agent's own change).
    fn set_password(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        password_hash: String,
        must_change: bool,
        keep: Option<&str>,
        audit: super::AuditRecord,
    ) -> Result<EndedSessions, StoreError>;
    /// The agent's password hash (for checking the current one before a change).
    fn password_hash(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<String>, StoreError>;

    fn create_session(&self, agent: &Agent, session: NewSession) -> Result<(), StoreError>;
    /// The live session an access token hash belongs to, if any.
    fn session_by_access(
        &self,
        access_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError>;
    /// The session a refresh token names (by id, or by hash for tokens made before they
    /// named their session), revoked or not.
    fn session_for_refresh(
        &self,
        session_id: Option<&str>,
        refresh_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Swaps the session's tokens if its refresh hash is still `expected` (so two
    /// concurrent refreshes cannot both win); `previous` becomes the hash accepted during
    /// the grace period. Returns the session, or `None` if it changed meanwhile.
    fn rotate_session(
        &self,
        session_id: &str,
        expected: &[u8; 32],
        previous: Option<[u8; 32]>,
        rotated_at: Option<DateTime<Utc>>,
        tokens: SessionTokens,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError>;
    /// Ends one session (a no-op if it already ended); with `audit`, recorded.
    fn end_session(
        &self,
        session_id: &str,
        reason: EndReason,
        now: DateTime<Utc>,
        audit: Option<super::AuditRecord>,
    ) -> Result<bool, StoreError>;
    /// Why the session ended, or `None` while it is live at `now`.
    fn session_end(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EndReason>, StoreError>;
    /// The agent's live sessions, newest first.
    fn sessions_of(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionView>, StoreError>;
    fn record_sign_in(&self, agent: &AgentId, at: DateTime<Utc>) -> Result<(), StoreError>;

    fn add_bot_key(
        &self,
        tenant: &TenantId,
        name: &str,
        key_hash: [u8; 32],
        audit: Option<super::AuditRecord>,
    ) -> Result<BotKey, StoreError>;
    fn bot_keys(&self, tenant: &TenantId) -> Result<Vec<BotKey>, StoreError>;
    /// Revokes the key; `false` if the tenant has no such live key.
    fn revoke_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: super::AuditRecord,
    ) -> Result<bool, StoreError>;
    /// Replaces the key's hash (the old key stops working); `None` if no such live key.
    fn rotate_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        key_hash: [u8; 32],
        audit: super::AuditRecord,
    ) -> Result<Option<BotKey>, StoreError>;
    /// The owner of a live bot key.
    fn bot_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<BotIdentity>, StoreError>;

    fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError>;
    fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
        audit: super::AuditRecord,
    ) -> Result<(), StoreError>;
}

#[cfg(test)]
mod session_facts_tests {
    use super::*;

    fn facts(revoked: Option<&str>, status: &str, ends_in_minutes: i64) -> SessionFacts {
        let end = Utc::now() + chrono::TimeDelta::minutes(ends_in_minutes);
        SessionFacts {
            revoked_at: revoked.map(|_| "2026-12-01T00:00:00Z".to_owned()),
            revoked_reason: revoked.filter(|r| !r.is_empty()).map(str::to_owned),
            expires_at: end,
            refresh_expires_at: end,
            agent_status: status.to_owned(),
        }
    }

    #[test]
    fn a_revocation_names_its_reason_then_access_then_the_clock() {
        let now = Utc::now();
        let cases = [
            (facts(None, "active", 10), None),
            (facts(None, "active", -1), Some(EndReason::SessionExpired)),
            (facts(None, "disabled", 10), Some(EndReason::AccessDisabled)),
            (facts(None, "removed", -1), Some(EndReason::AccessRemoved)),
            (facts(Some(""), "removed", -1), Some(EndReason::SignedOut)),
            (
                facts(Some(EndReason::SessionReused.as_str()), "active", 10),
                Some(EndReason::SessionReused),
            ),
        ];
        for (facts, expected) in cases {
            assert_eq!(facts.end_reason(now), expected, "{facts:?}");
        }
    }
}
