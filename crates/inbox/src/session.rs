//! An account's access to its relay. The refresh token lives in the OS keyring; the access
//! token (15 minutes) only in memory. Refreshing rotates the refresh token, so refreshes
//! are serialised (a second concurrent refresh would present a token the first revoked)
//! and the new token is in the keyring before the access token is used.

use crate::client::{ClientError, RelayClient};
use crate::secrets::{Secret, SecretError, SecretKind, SecretStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The relay no longer accepts this account's refresh token: sign in again.
    #[error("signed out: {0}")]
    SignedOut(String),
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
            .ok_or_else(|| SessionError::SignedOut("no refresh token is stored".into()))?;
        let session = match self.client.refresh(refresh.expose()).await {
            Ok(session) => session,
            Err(ClientError::Unauthorized { message, .. }) => {
                self.secrets
                    .delete(&self.account, SecretKind::RefreshToken)?;
                return Err(SessionError::SignedOut(message));
            }
            Err(other) => return Err(other.into()),
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
