//! Agents' credentials: argon2id password hashes, and opaque random tokens.
//!
//! An access token (short-lived) authorises requests and the stream; a refresh token
//! (long-lived) gets a new pair and is rotated each time. Only SHA-256 hashes of tokens are
//! stored, so a copy of the database lets nobody sign in.

use crate::store::SessionTokens;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

pub const ACCESS_TTL: TimeDelta = TimeDelta::minutes(15);
pub const REFRESH_TTL: TimeDelta = TimeDelta::days(30);
/// Passwords shorter than this are refused when an agent is created.
pub const MIN_PASSWORD_LEN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the password must have at least {MIN_PASSWORD_LEN} characters")]
    PasswordTooShort,
    #[error("the password could not be hashed")]
    Hash,
    #[error("the system random number generator failed")]
    Random,
}

/// Hashes a new password with argon2id (default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::PasswordTooShort);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| AuthError::Hash)
}

/// Whether `password` matches `hash`. An unparseable hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as checking a real password, so a login for an unknown email
/// can't be told apart from a wrong password by its timing.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not anyone's password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// Guards sign-in: bounds how many password checks run at once (each argon2id check holds
/// 19 MiB, so a flood of logins must not become a flood of memory) and locks an email out
/// for a while after repeated failures (password guessing).
#[derive(Debug)]
pub struct LoginGuard {
    pub checks: tokio::sync::Semaphore,
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

/// Failed sign-ins for one email within [`LOCKOUT`] before it is refused for a while.
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Default for LoginGuard {
    fn default() -> Self {
        Self {
            checks: tokio::sync::Semaphore::new(4),
            failures: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl LoginGuard {
    /// How long `email` must wait before trying again, if it is locked out.
    pub fn locked_for(&self, email: &str) -> Option<std::time::Duration> {
        let failures = self.failures.lock().ok()?;
        let (count, since) = failures.get(email)?;
        let elapsed = since.elapsed();
        (*count >= MAX_FAILURES && elapsed < LOCKOUT).then(|| LOCKOUT - elapsed)
    }

    pub fn failed(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            let entry = failures
                .entry(email.to_owned())
                .or_insert((0, std::time::Instant::now()));
            if entry.1.elapsed() >= LOCKOUT {
                *entry = (0, std::time::Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub fn succeeded(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(email);
        }
    }
}

/// A new pair of tokens: what the client gets, and what the store keeps.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

impl IssuedTokens {
    pub fn new(now: DateTime<Utc>) -> Result<Self, AuthError> {
        Ok(Self {
            access_token: random_token()?,
            refresh_token: random_token()?,
            access_expires_at: now + ACCESS_TTL,
            refresh_expires_at: now + REFRESH_TTL,
        })
    }

    pub fn stored(&self) -> SessionTokens {
        SessionTokens {
            access_hash: token_hash(&self.access_token),
            access_expires_at: self.access_expires_at,
            refresh_hash: token_hash(&self.refresh_token),
            refresh_expires_at: self.refresh_expires_at,
        }
    }
}

fn random_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| AuthError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(AuthError::PasswordTooShort)
        ));
    }

    #[test]
    fn tokens_are_random_and_stored_only_as_hashes() {
        let now = Utc::now();
        let a = IssuedTokens::new(now).unwrap();
        let b = IssuedTokens::new(now).unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert_ne!(a.access_token, a.refresh_token);
        assert_eq!(a.stored().access_hash, token_hash(&a.access_token));
        assert_eq!(a.access_expires_at, now + ACCESS_TTL);
        assert!(a.access_token.len() >= 43);
    }
}
