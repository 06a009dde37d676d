//! An account's access to its relay. The refresh token lives in the OS keyring; the access
//! token (15 minutes) only in memory. Refreshing rotates the refresh token, so refreshes
//! are serialised (a second concurrent refresh would present a token the first revoked)
//! and the new token is in the keyring before the access token is used.
//!
//! A refresh whose answer was lost (a timeout, a dropped connection, a 5xx) is tried again
//! at once with the same stored token: the relay may already have rotated it, and accepts
//! the most recently rotated token again for 60 s (docs/accounts.md). Only a 401 signs out.

use crate::client::{ClientError, RelayClient};
use crate::secrets::{Secret, SecretError, SecretKind, SecretStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Why the relay ended an account's session: `code` is one of docs/accounts.md's table
/// (`access_removed`, `session_expired`, …), `message` the relay's English sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOut {
    pub code: String,
    pub message: String,
    /// The tenant requires this desktop to delete the account's cache and keys.
    pub wipe_cache: bool,
}

impl SignedOut {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            wipe_cache: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The relay no longer accepts this account's refresh token: sign in again.
    #[error("signed out: {}", .0.message)]
    SignedOut(SignedOut),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Keyring(String),
}

impl From<SecretError> for SessionError {
    fn from(error: SecretError) -> Self {
        Self::Keyring(error.to_string())
    }
}

/// An access token is renewed this long before it expires, so a request in flight does
/// not meet an expiry.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Tries of a refresh whose answer did not arrive, after the first; with the client's 10 s
/// timeout and these pauses the last try is sent well within the relay's 60 s grace.
const LOST_REFRESH_RETRIES: u32 = 3;

/// The pause before the `attempt`th retry of a lost refresh: 1 s, 2 s, 4 s.
fn lost_refresh_pause(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.saturating_sub(1).min(4))
}

#[derive(Debug)]
pub(crate) struct Session {
    account: String,
    client: RelayClient,
    secrets: Arc<dyn SecretStore>,
    access: Mutex<Option<(Secret, Instant)>>,
}

impl Session {
    pub(crate) fn new(account: &str, client: RelayClient, secrets: Arc<dyn SecretStore>) -> Self {
        Self {
            account: account.to_owned(),
            client,
            secrets,
            access: Mutex::new(None),
        }
    }

    /// Keeps a freshly issued access token (from a sign-in).
    pub(crate) async fn seed(&self, access_token: String, expires_in: i64) {
        *self.access.lock().await = Some((
            Secret::new(access_token),
            Instant::now() + Duration::from_secs(expires_in.max(0) as u64),
        ));
    }

    /// A valid access token, refreshed if needed.
    pub(crate) async fn access(&self) -> Result<String, SessionError> {
        let mut access = self.access.lock().await;
        if let Some((token, expires)) = access.as_ref()
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return Ok(token.expose().to_owned());
        }
        let refresh = self
            .secrets
            .get(&self.account, SecretKind::RefreshToken)?
            .ok_or_else(|| {
                SessionError::SignedOut(SignedOut::new(
                    "invalid_refresh_token",
                    "no refresh token is stored",
                ))
            })?;
        let mut retries = 0;
        let session = loop {
            match self.client.refresh(refresh.expose()).await {
                Ok(session) => break session,
                Err(ClientError::Unauthorized {
                    code,
                    message,
                    wipe_cache,
                }) => {
                    self.secrets
                        .delete(&self.account, SecretKind::RefreshToken)?;
                    return Err(SessionError::SignedOut(SignedOut {
                        code,
                        message,
                        wipe_cache,
                    }));
                }
                // The relay may have rotated the token and the answer been lost: the same
                // token, again, soon (the relay's grace for it lasts 60 s).
                Err(error) if error.is_transient() && retries < LOST_REFRESH_RETRIES => {
                    retries += 1;
                    tracing::info!(%error, retries, "a refresh got no answer; trying again");
                    tokio::time::sleep(lost_refresh_pause(retries)).await;
                }
                Err(other) => return Err(other.into()),
            }
        };
        self.secrets.set(
            &self.account,
            SecretKind::RefreshToken,
            &Secret::new(session.refresh_token.clone()),
        )?;
        let token = session.access_token.clone();
        *access = Some((
            Secret::new(session.access_token),
            Instant::now() + Duration::from_secs(session.expires_in.max(0) as u64),
        ));
        Ok(token)
    }

    /// Forgets the access token (the relay refused it), so the next call refreshes.
    pub(crate) async fn invalidate(&self) {
        *self.access.lock().await = None;
    }

    /// Runs `call` with an access token; on a 401 refreshes once and tries again.
    pub(crate) async fn with_access<T, F, Fut>(&self, call: F) -> Result<T, SessionError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let token = self.access().await?;
        match call(token).await {
            Err(ClientError::Unauthorized { .. }) => {
                self.invalidate().await;
                let token = self.access().await?;
                Ok(call(token).await?)
            }
            other => Ok(other?),
        }
    }

    pub(crate) fn client(&self) -> &RelayClient {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_refreshes_are_retried_within_the_relays_grace() {
        let pauses: Duration = (1..=LOST_REFRESH_RETRIES).map(lost_refresh_pause).sum();
        // Every try may wait for its whole timeout (10 s) before it counts as lost.
        let worst = pauses + Duration::from_secs(10) * LOST_REFRESH_RETRIES;
        assert!(worst < Duration::from_secs(60), "{worst:?}");
        assert_eq!(lost_refresh_pause(1), Duration::from_secs(1));
        assert_eq!(lost_refresh_pause(3), Duration::from_secs(4));
    }
}
