//! [`AccountStore`] for PostgreSQL.

#[allow(unused_imports)]
use super::work::audit_in;
use super::*;
use crate::store::accounts::*;

// STUBS: to be written (helpers)
#[allow(unused_variables, clippy::todo)]
impl AccountStore for PostgresStore {
    fn add_agent(
        &self,
        agent: NewAgent,
        audit: Option<super::AuditRecord>,
    ) -> Result<Agent, StoreError> {
        todo!()
    }

    fn agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        todo!()
    }

    fn agents_of(&self, tenant: &TenantId) -> Result<Vec<Agent>, StoreError> {
        todo!()
    }

    fn agents_by_email(&self, email: &str) -> Result<Vec<(Agent, String)>, StoreError> {
        todo!()
    }

    fn change_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        change: AgentChange,
        audit: super::AuditRecord,
    ) -> Result<(Agent, EndedSessions), StoreError> {
        todo!()
    }

    fn remove_agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        audit: super::AuditRecord,
    ) -> Result<EndedSessions, StoreError> {
        todo!()
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
        todo!()
    }

    fn password_hash(&self, tenant: &TenantId, id: &AgentId) -> Result<Option<String>, StoreError> {
        todo!()
    }

    fn create_session(&self, agent: &Agent, session: NewSession) -> Result<(), StoreError> {
        todo!()
    }

    fn session_by_access(
        &self,
        access_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError> {
        todo!()
    }

    fn session_for_refresh(
        &self,
        session_id: Option<&str>,
        refresh_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        todo!()
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
        todo!()
    }

    fn end_session(
        &self,
        session_id: &str,
        reason: EndReason,
        now: DateTime<Utc>,
        audit: Option<super::AuditRecord>,
    ) -> Result<bool, StoreError> {
        todo!()
    }

    fn session_end(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EndReason>, StoreError> {
        todo!()
    }

    fn sessions_of(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionView>, StoreError> {
        todo!()
    }

    fn record_sign_in(&self, agent: &AgentId, at: DateTime<Utc>) -> Result<(), StoreError> {
        todo!()
    }

    fn add_bot_key(
        &self,
        tenant: &TenantId,
        name: &str,
        key_hash: [u8; 32],
        audit: Option<super::AuditRecord>,
    ) -> Result<BotKey, StoreError> {
        todo!()
    }

    fn bot_keys(&self, tenant: &TenantId) -> Result<Vec<BotKey>, StoreError> {
        todo!()
    }

    fn revoke_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: super::AuditRecord,
    ) -> Result<bool, StoreError> {
        todo!()
    }

    fn rotate_bot_key(
        &self,
        tenant: &TenantId,
        id: &str,
        key_hash: [u8; 32],
        audit: super::AuditRecord,
    ) -> Result<Option<BotKey>, StoreError> {
        todo!()
    }

    fn bot_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<BotIdentity>, StoreError> {
        todo!()
    }

    fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        todo!()
    }

    fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
        audit: super::AuditRecord,
    ) -> Result<(), StoreError> {
        todo!()
    }
}
