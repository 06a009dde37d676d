//! The engine's error as the UI receives it (`{code, message}`), and how every lower
//! module's error becomes one. A leaf: the engine and the sync both return it, and
//! neither has to import the other for it.

use crate::cache::CacheError;
use crate::client::ClientError;
use crate::outbox;
use crate::session::SessionError;
use serde::{Deserialize, Serialize};

/// An error as the UI receives it: a stable code to branch on and a sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub code: String,
    pub message: String,
}

impl EngineError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl From<CacheError> for EngineError {
    fn from(error: CacheError) -> Self {
        let code = match error {
            CacheError::WrongKey => "cache_key_mismatch",
            CacheError::Schema(_) => "cache_too_new",
            CacheError::Sqlite(_) => "cache_error",
        };
        Self::new(code, error.to_string())
    }
}

impl From<ClientError> for EngineError {
    fn from(error: ClientError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}

impl From<SessionError> for EngineError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::SignedOut(why) => Self::new(
                "signed_out",
                format!(
                    "This account was signed out ({}). Sign in again.",
                    why.message
                ),
            ),
            SessionError::Client(error) => error.into(),
            SessionError::Keyring(reason) => Self::new("keyring_unavailable", reason),
        }
    }
}

impl From<crate::secrets::SecretError> for EngineError {
    fn from(error: crate::secrets::SecretError) -> Self {
        Self::new("keyring_unavailable", error.to_string())
    }
}

impl From<crate::media::MediaError> for EngineError {
    fn from(error: crate::media::MediaError) -> Self {
        Self::new("media_error", error.to_string())
    }
}

impl From<outbox::OutboxError> for EngineError {
    fn from(error: outbox::OutboxError) -> Self {
        let code = match error {
            outbox::OutboxError::UnknownConversation(_) => "not_found",
            outbox::OutboxError::NotRetryable(_) => "not_retryable",
            outbox::OutboxError::Empty => "empty_reply",
            outbox::OutboxError::Cache(_) => "cache_error",
            outbox::OutboxError::Place(_) => "conversation_full",
        };
        Self::new(code, error.to_string())
    }
}

impl From<crate::account::AccountsFileError> for EngineError {
    fn from(error: crate::account::AccountsFileError) -> Self {
        Self::new("accounts_file", error.to_string())
    }
}
