//! A tenant's people and bots as the relay manages them (docs/accounts.md): agents, their
//! sessions, passwords, and bot keys. Only admins may call most of these; the relay decides
//! and answers 403 otherwise, and its `{code, message}` is kept for the UI.
//!
//! Temporary passwords and bot keys are answered once by the relay and passed on to the UI
//! to be shown once: they are never written anywhere, and their `Debug` is redacted.

use crate::client::{ClientError, RelayClient, encode};
use serde::{Deserialize, Serialize};

/// An agent of the tenant (`GET /v1/agents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `admin` or `agent`.
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_sign_in_at: Option<String>,
}

/// A one-time password the relay made; shown to the admin once, then forgotten.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryPassword {
    pub temporary_password: String,
}

impl std::fmt::Debug for TemporaryPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemporaryPassword(<redacted>)")
    }
}

/// `POST /v1/agents`: the new agent and their one-time password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgent {
    pub agent: AgentRecord,
    pub temporary_password: String,
}

impl std::fmt::Debug for NewAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAgent")
            .field("agent", &self.agent)
            .field("temporary_password", &"<redacted>")
            .finish()
    }
}

/// What an admin changes about an agent; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `active` or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One of an agent's live sessions (`GET /v1/agents/{id}/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_refreshed_at: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub idle_expires_at: Option<String>,
    /// What the relay knows of the client (its shape is the relay's; shown as it is).
    #[serde(default)]
    pub client: Option<serde_json::Value>,
}

/// A bot key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotKeyRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

/// A bot key just made or rotated: the key is in this answer only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBotKey {
    pub id: String,
    pub name: String,
    pub key: String,
}

impl std::fmt::Debug for NewBotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewBotKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A password the agent typed twice: the relay's rule is at least 10 characters and not the
/// current one. Checked here too so the agent hears it before a round trip.
pub fn check_new_password(current: &str, new: &str, again: &str) -> Result<(), ClientError> {
    let refuse = |code: &str, message: &str| ClientError::Refused {
        status: 400,
        code: code.to_owned(),
        message: message.to_owned(),
    };
    if new != again {
        return Err(refuse(
            "password_mismatch",
            "the two new passwords are not the same",
        ));
    }
    if new.chars().count() < 10 {
        return Err(refuse(
            "password_too_short",
            "the new password needs at least 10 characters",
        ));
    }
    if new == current {
        return Err(refuse(
            "password_unchanged",
            "the new password must differ from the current one",
        ));
    }
    Ok(())
}

impl RelayClient {
    pub async fn agents(&self, access: &str) -> Result<Vec<AgentRecord>, ClientError> {
        self.call(self.http().get(self.url("/v1/agents")).bearer_auth(access))
            .await
    }

    pub async fn add_agent(
        &self,
        access: &str,
        email: &str,
        role: &str,
        name: Option<&str>,
    ) -> Result<NewAgent, ClientError> {
        let body = serde_json::json!({"email": email, "role": role, "name": name});
        self.call(
            self.http()
                .post(self.url("/v1/agents"))
                .bearer_auth(access)
                .json(&body),
        )
        .await
    }

    pub async fn update_agent(
        &self,
        access: &str,
        agent: &str,
        change: &AgentChange,
    ) -> Result<AgentRecord, ClientError> {
        self.call(
            self.http()
                .patch(self.url(&format!("/v1/agents/{}", encode(agent))))
                .bearer_auth(access)
                .json(change),
        )
        .await
    }

    pub async fn remove_agent(&self, access: &str, agent: &str) -> Result<(), ClientError> {
        self.call_empty(
            self.http()
                .delete(self.url(&format!("/v1/agents/{}", encode(agent))))
                .bearer_auth(access),
        )
        .await
    }

    pub async fn reset_password(
        &self,
        access: &str,
        agent: &str,
    ) -> Result<TemporaryPassword, ClientError> {
        self.call(
            self.http()
                .post(self.url(&format!("/v1/agents/{}/password-reset", encode(agent))))
                .bearer_auth(access),
        )
        .await
    }

    pub async fn agent_sessions(
        &self,
        access: &str,
        agent: &str,
    ) -> Result<Vec<SessionRecord>, ClientError> {
        self.call(
            self.http()
                .get(self.url(&format!("/v1/agents/{}/sessions", encode(agent))))
                .bearer_auth(access),
        )
        .await
    }

    pub async fn revoke_session(
        &self,
        access: &str,
        agent: &str,
        session: &str,
    ) -> Result<(), ClientError> {
        self.call_empty(
            self.http()
                .delete(self.url(&format!(
                    "/v1/agents/{}/sessions/{}",
                    encode(agent),
                    encode(session)
                )))
                .bearer_auth(access),
        )
        .await
    }

    /// The agent's own password (`POST /v1/me/password`): this session goes on, every other
    /// one of theirs ends.
    pub async fn change_password(
        &self,
        access: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        let body = serde_json::json!({"current_password": current, "new_password": new});
        self.call_empty(
            self.http()
                .post(self.url("/v1/me/password"))
                .bearer_auth(access)
                .json(&body),
        )
        .await
    }

    pub async fn bot_keys(&self, access: &str) -> Result<Vec<BotKeyRecord>, ClientError> {
        self.call(
            self.http()
                .get(self.url("/v1/bot-keys"))
                .bearer_auth(access),
        )
        .await
    }

    pub async fn create_bot_key(&self, access: &str, name: &str) -> Result<NewBotKey, ClientError> {
        self.call(
            self.http()
                .post(self.url("/v1/bot-keys"))
                .bearer_auth(access)
                .json(&serde_json::json!({"name": name})),
        )
        .await
    }

    pub async fn rotate_bot_key(&self, access: &str, key: &str) -> Result<NewBotKey, ClientError> {
        self.call(
            self.http()
                .post(self.url(&format!("/v1/bot-keys/{}/rotate", encode(key))))
                .bearer_auth(access),
        )
        .await
    }

    pub async fn revoke_bot_key(&self, access: &str, key: &str) -> Result<(), ClientError> {
        self.call_empty(
            self.http()
                .delete(self.url(&format!("/v1/bot-keys/{}", encode(key))))
                .bearer_auth(access),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_is_checked_before_it_is_sent() {
        let code = |r: Result<(), ClientError>| r.err().map(|e| e.code().to_owned());
        assert_eq!(
            code(check_new_password("old", "long enough 1", "long enough 2")),
            Some("password_mismatch".into())
        );
        assert_eq!(
            code(check_new_password("old", "short", "short")),
            Some("password_too_short".into())
        );
        assert_eq!(
            code(check_new_password(
                "same password",
                "same password",
                "same password"
            )),
            Some("password_unchanged".into())
        );
        assert_eq!(
            code(check_new_password("old", "ñandú-ñandú", "ñandú-ñandú")),
            None
        );
    }

    #[test]
    fn one_time_secrets_never_print() {
        let new = NewAgent {
            agent: AgentRecord {
                id: "a".into(),
                email: "e@x".into(),
                name: None,
                role: "agent".into(),
                status: "active".into(),
                must_change_password: true,
                created_at: None,
                last_sign_in_at: None,
            },
            temporary_password: "hunter2-secret".into(),
        };
        assert!(!format!("{new:?}").contains("hunter2"));
        let key = NewBotKey {
            id: "k".into(),
            name: "bot".into(),
            key: "vbot_secret".into(),
        };
        assert!(!format!("{key:?}").contains("vbot_secret"));
        let reset = TemporaryPassword {
            temporary_password: "hunter2-secret".into(),
        };
        assert!(!format!("{reset:?}").contains("hunter2"));
    }

    #[test]
    fn a_change_holds_only_what_was_changed() {
        let change = AgentChange {
            status: Some("disabled".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&change).ok(),
            Some(serde_json::json!({"status": "disabled"}))
        );
    }
}
