//! Agents' credentials: argon2id password hashes, and opaque random tokens.
//!
//! An access token (short-lived) authorises requests and the stream; a refresh token
//! (long-lived) gets a new pair and is rotated each time. Only SHA-256 hashes of tokens are
//! stored, so a copy of the database lets nobody sign in.

use crate::store::{EndReason, SessionRecord, SessionTokens};
use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
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
///
/// The check fills its 19 MiB of argon2 memory in a buffer its thread keeps for the next
/// check: allocating and freeing that much per check left the memory behind in the
/// process (measured: a single thread grew to 221 MB over 10 checks, four threads to 1 GB
/// over 40), so a burst of sign-ins would have grown the relay without bound.
pub fn verify_password(password: &str, hash: &str) -> bool {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
        None => argon2::Version::default(),
    };
    let blocks = params.block_count();
    let mut computed = vec![0u8; expected.as_bytes().len()];
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() != blocks {
            *memory = vec![argon2::Block::default(); blocks];
        }
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut computed,
            &mut memory[..],
        )
    });
    hashed.is_ok()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            &computed[..],
            expected.as_bytes(),
        ))
}

/// Spends the same time as checking a real password, so a login for an unknown email
/// can't be told apart from a wrong password by its timing.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not anyone's password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// How long sessions and their tokens live (`serve --session-lifetime`, `--session-idle`,
/// `--refresh-grace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub access_ttl: TimeDelta,
    /// From sign-in to the session's end, whatever its refreshes.
    pub lifetime: TimeDelta,
    /// The longest a session may go without a refresh.
    pub idle: TimeDelta,
    /// How long the refresh token rotated most recently is still accepted, so a desktop
    /// whose refresh answer was lost on the way is not signed out.
    pub refresh_grace: TimeDelta,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl: ACCESS_TTL,
            lifetime: REFRESH_TTL,
            idle: TimeDelta::days(7),
            refresh_grace: TimeDelta::seconds(60),
        }
    }
}

/// Failed sign-ins for one email within [`LOCKOUT`] before it is refused for a while.
pub const MAX_FAILURES: u32 = 5;
/// The same for one source address (many agents may share an office's address).
pub const MAX_ADDRESS_FAILURES: u32 = 50;
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Emails and addresses remembered at most; the least recently seen are forgotten first.
pub const REMEMBERED: usize = 10_000;
/// Password checks running at once (each argon2id check holds 19 MiB) and waiting.
pub const CHECKS_AT_ONCE: usize = 4;
pub const CHECKS_WAITING: usize = 32;
/// The longest email a sign-in may name (RFC 5321's path limit, rounded up).
pub const MAX_EMAIL_BYTES: usize = 320;

/// Failures counted in one window of [`LOCKOUT`].
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: std::time::Instant,
}

impl Failures {
    fn current(&self, now: std::time::Instant) -> u32 {
        if now.duration_since(self.since) < LOCKOUT {
            self.count
        } else {
            0
        }
    }

    fn wait(&self, now: std::time::Instant) -> std::time::Duration {
        LOCKOUT.saturating_sub(now.duration_since(self.since))
    }
}

#[derive(Debug)]
struct Counters {
    /// Keyed by the email's SHA-256: fixed-size keys, and no address book in memory.
    emails: lru::LruCache<[u8; 32], Failures>,
    addresses: lru::LruCache<std::net::IpAddr, Failures>,
}

/// Why a sign-in is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures for the email or the address: wait this long.
    Locked(std::time::Duration),
    /// Too many password checks are running and waiting already.
    Busy,
}

/// Guards sign-in. Every attempt is counted as a failure *before* its password is checked
/// (a success takes it back), so concurrent guesses cannot slip past the lockout while
/// they wait for a check; the counters live in fixed-size LRU tables, so no volume of
/// requests grows memory; and password checks run a few at once behind a short queue,
/// beyond which sign-ins are refused at once instead of waiting without end.
#[derive(Debug)]
pub struct LoginGuard {
    checkers: Checkers,
    checks: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
    counters: std::sync::Mutex<Counters>,
}

/// An admitted sign-in: counted, and holding a password-check slot.
#[derive(Debug)]
pub struct Attempt {
    email: [u8; 32],
    address: Option<std::net::IpAddr>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::new(REMEMBERED, CHECKS_AT_ONCE, CHECKS_WAITING)
    }
}

impl LoginGuard {
    pub fn new(remembered: usize, checks: usize, waiting: usize) -> Self {
        let size =
            std::num::NonZeroUsize::new(remembered.max(1)).unwrap_or(std::num::NonZeroUsize::MIN);
        Self {
            checkers: Checkers::new(checks.max(1)),
            checks: std::sync::Arc::new(tokio::sync::Semaphore::new(checks.max(1))),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting: waiting,
            counters: std::sync::Mutex::new(Counters {
                emails: lru::LruCache::new(size),
                addresses: lru::LruCache::new(size),
            }),
        }
    }

    /// Counts the attempt and waits (briefly, in a bounded queue) for a password-check
    /// slot; or says why not.
    pub async fn admit(
        &self,
        email: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<Attempt, Refusal> {
        let email = token_hash(email);
        self.count(&email, address)?;
        let permit = match std::sync::Arc::clone(&self.checks).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                use std::sync::atomic::Ordering;
                let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
                let permit = if queued < self.max_waiting {
                    std::sync::Arc::clone(&self.checks)
                        .acquire_owned()
                        .await
                        .ok()
                } else {
                    None
                };
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match permit {
                    Some(permit) => permit,
                    None => {
                        // Refused unchecked: this attempt guessed nothing.
                        self.uncount(&email, address);
                        return Err(Refusal::Busy);
                    }
                }
            }
        };
        Ok(Attempt {
            email,
            address,
            _slot: permit,
        })
    }

    fn count(&self, email: &[u8; 32], address: Option<std::net::IpAddr>) -> Result<(), Refusal> {
        let now = std::time::Instant::now();
        let Ok(mut counters) = self.counters.lock() else {
            return Err(Refusal::Busy);
        };
        let fresh = Failures {
            count: 0,
            since: now,
        };
        let by_email = counters.emails.get(email).copied().unwrap_or(fresh);
        if by_email.current(now) >= MAX_FAILURES {
            return Err(Refusal::Locked(by_email.wait(now)));
        }
        let by_address = address.and_then(|a| counters.addresses.get(&a).copied());
        if let Some(failures) = by_address
            && failures.current(now) >= MAX_ADDRESS_FAILURES
        {
            return Err(Refusal::Locked(failures.wait(now)));
        }
        let bump = |failures: Failures| match failures.current(now) {
            0 => Failures {
                count: 1,
                since: now,
            },
            count => Failures {
                count: count + 1,
                since: failures.since,
            },
        };
        counters.emails.put(*email, bump(by_email));
        if let Some(address) = address {
            counters
                .addresses
                .put(address, bump(by_address.unwrap_or(fresh)));
        }
        Ok(())
    }

    fn uncount(&self, email: &[u8; 32], address: Option<std::net::IpAddr>) {
        if let Ok(mut counters) = self.counters.lock() {
            if let Some(failures) = counters.emails.get_mut(email) {
                failures.count = failures.count.saturating_sub(1);
            }
            if let Some(failures) = address.and_then(|a| counters.addresses.get_mut(&a)) {
                failures.count = failures.count.saturating_sub(1);
            }
        }
    }

    /// The password was right: the email starts afresh and the address gets its count back.
    pub fn succeeded(&self, attempt: Attempt) {
        if let Ok(mut counters) = self.counters.lock() {
            counters.emails.pop(&attempt.email);
            if let Some(failures) = attempt.address.and_then(|a| counters.addresses.get_mut(&a)) {
                failures.count = failures.count.saturating_sub(1);
            }
        }
    }

    /// Runs a password check on one of the guard's own threads. Each argon2id check
    /// allocates 19 MiB; on tokio's blocking pool every new thread would keep its own
    /// malloc arena holding that memory after the check (measured: 800 MB grown after 50
    /// checks), while a few long-lived threads reuse theirs.
    pub async fn check<T: Send + 'static>(
        &self,
        _attempt: &Attempt,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.checkers.run(work).await
    }

    /// How many emails and addresses are remembered (bounded by [`REMEMBERED`]).
    pub fn remembered(&self) -> (usize, usize) {
        self.counters
            .lock()
            .map(|c| (c.emails.len(), c.addresses.len()))
            .unwrap_or_default()
    }
}

type Check = Box<dyn FnOnce() + Send>;

/// The threads password checks run on.
#[derive(Debug)]
struct Checkers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Check>>,
}

impl Checkers {
    fn new(threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Check>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = std::sync::Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password-check thread");
            }
        }
        Self {
            jobs: std::sync::Mutex::new(jobs),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Check = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        answered.await.ok()
    }
}

/// A new pair of tokens: what the client gets, and what the store keeps. The refresh token
/// names its session (`<session id>.<secret>`), so a rotated token presented again is
/// recognised as a reuse and not mistaken for an unknown token.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

impl IssuedTokens {
    /// Tokens for `session`, which ends at `session_expires_at` at the latest.
    pub fn new(
        now: DateTime<Utc>,
        session: &str,
        session_expires_at: DateTime<Utc>,
        policy: &SessionPolicy,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            access_token: random_token()?,
            refresh_token: format!("{session}.{}", random_token()?),
            access_expires_at: (now + policy.access_ttl).min(session_expires_at),
            refresh_expires_at: (now + policy.idle).min(session_expires_at),
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

/// The session a refresh token names, if it names one (tokens made before refresh tokens
/// named their session do not).
pub fn refresh_session_id(token: &str) -> Option<&str> {
    token
        .split_once('.')
        .map(|(session, _)| session)
        .filter(|session| !session.is_empty() && session.len() <= 64)
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Issue a new pair, replacing `expected`; `previous` and `rotated_at` are what the
    /// grace period will accept next.
    Rotate {
        expected: [u8; 32],
        previous: Option<[u8; 32]>,
        rotated_at: Option<DateTime<Utc>>,
    },
    /// Refuse, saying why (the session ended, or the token is unknown: `None`).
    Refuse(Option<EndReason>),
    /// A rotated token came back after its grace: revoke the whole session.
    Reused,
}

/// Decides a refresh: pure, so its table is tested on its own.
pub fn refresh_decision(
    session: Option<&SessionRecord>,
    presented: &[u8; 32],
    now: DateTime<Utc>,
    policy: &SessionPolicy,
) -> RefreshDecision {
    let Some(session) = session else {
        return RefreshDecision::Refuse(None);
    };
    let current = bool::from(subtle::ConstantTimeEq::ct_eq(
        &session.refresh_hash[..],
        &presented[..],
    ));
    let previous = session.previous_refresh_hash.is_some_and(|previous| {
        bool::from(subtle::ConstantTimeEq::ct_eq(&previous[..], &presented[..]))
    });
    if !current && !previous {
        // A token of this session, but neither its live one nor the one just replaced.
        return match session.revoked {
            Some(reason) => RefreshDecision::Refuse(Some(reason)),
            None => RefreshDecision::Reused,
        };
    }
    if let Some(reason) = session.revoked {
        return RefreshDecision::Refuse(Some(reason));
    }
    if session.expires_at <= now || session.refresh_expires_at <= now {
        return RefreshDecision::Refuse(Some(EndReason::SessionExpired));
    }
    if current {
        return RefreshDecision::Rotate {
            expected: session.refresh_hash,
            previous: Some(session.refresh_hash),
            rotated_at: Some(now),
        };
    }
    // The token replaced most recently: a desktop that never got the answer to its last
    // refresh. Within the grace it gets a new pair; the grace is not extended by this.
    match session.rotated_at {
        Some(rotated) if now - rotated <= policy.refresh_grace => RefreshDecision::Rotate {
            expected: session.refresh_hash,
            previous: session.previous_refresh_hash,
            rotated_at: session.rotated_at,
        },
        _ => RefreshDecision::Reused,
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
        let policy = SessionPolicy::default();
        let end = now + policy.lifetime;
        let a = IssuedTokens::new(now, "s1", end, &policy).unwrap();
        let b = IssuedTokens::new(now, "s1", end, &policy).unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert_ne!(a.access_token, a.refresh_token);
        assert_eq!(a.stored().access_hash, token_hash(&a.access_token));
        assert_eq!(a.access_expires_at, now + ACCESS_TTL);
        assert!(a.access_token.len() >= 43);
        assert_eq!(refresh_session_id(&a.refresh_token), Some("s1"));
    }

    fn agent() -> crate::store::Agent {
        crate::store::Agent {
            id: ventana_protocol::ids::AgentId::new("a1"),
            tenant: ventana_protocol::ids::TenantId::new("t1"),
            email: "ana@acme.test".into(),
            name: None,
            role: crate::store::Role::Admin,
            status: crate::store::AgentStatus::Active,
            must_change_password: false,
            last_sign_in_at: None,
        }
    }

    fn session(now: DateTime<Utc>) -> SessionRecord {
        SessionRecord {
            id: "s1".into(),
            agent: agent(),
            refresh_hash: [2; 32],
            previous_refresh_hash: Some([1; 32]),
            rotated_at: Some(now - TimeDelta::seconds(10)),
            created_at: now - TimeDelta::days(1),
            expires_at: now + TimeDelta::days(29),
            refresh_expires_at: now + TimeDelta::days(6),
            revoked: None,
        }
    }

    #[test]
    fn a_refresh_is_decided_by_the_token_the_session_and_the_clock() {
        let now = Utc::now();
        let policy = SessionPolicy::default();
        let live = session(now);
        let late = SessionRecord {
            rotated_at: Some(now - TimeDelta::seconds(61)),
            ..session(now)
        };
        let revoked = SessionRecord {
            revoked: Some(EndReason::AccessRemoved),
            ..session(now)
        };
        let old = SessionRecord {
            expires_at: now,
            ..session(now)
        };
        let idle = SessionRecord {
            refresh_expires_at: now - TimeDelta::seconds(1),
            ..session(now)
        };
        let rotate_current = RefreshDecision::Rotate {
            expected: [2; 32],
            previous: Some([2; 32]),
            rotated_at: Some(now),
        };
        let rotate_in_grace = RefreshDecision::Rotate {
            expected: [2; 32],
            previous: Some([1; 32]),
            rotated_at: live.rotated_at,
        };
        let table: [(&str, Option<&SessionRecord>, [u8; 32], RefreshDecision); 9] = [
            ("the live token", Some(&live), [2; 32], rotate_current),
            (
                "the one just replaced, in its grace",
                Some(&live),
                [1; 32],
                rotate_in_grace,
            ),
            (
                "the one just replaced, after its grace",
                Some(&late),
                [1; 32],
                RefreshDecision::Reused,
            ),
            (
                "an older one of a live session",
                Some(&live),
                [9; 32],
                RefreshDecision::Reused,
            ),
            (
                "any token of a revoked session",
                Some(&revoked),
                [2; 32],
                RefreshDecision::Refuse(Some(EndReason::AccessRemoved)),
            ),
            (
                "an old token of a revoked session",
                Some(&revoked),
                [9; 32],
                RefreshDecision::Refuse(Some(EndReason::AccessRemoved)),
            ),
            (
                "past the absolute lifetime",
                Some(&old),
                [2; 32],
                RefreshDecision::Refuse(Some(EndReason::SessionExpired)),
            ),
            (
                "past the idle timeout",
                Some(&idle),
                [2; 32],
                RefreshDecision::Refuse(Some(EndReason::SessionExpired)),
            ),
            (
                "no such session",
                None,
                [2; 32],
                RefreshDecision::Refuse(None),
            ),
        ];
        for (case, session, presented, expected) in table {
            assert_eq!(
                refresh_decision(session, &presented, now, &policy),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn tokens_never_outlive_their_session() {
        let now = Utc::now();
        let policy = SessionPolicy::default();
        let end = now + TimeDelta::minutes(5);
        let tokens = IssuedTokens::new(now, "s1", end, &policy).unwrap();
        assert_eq!(tokens.access_expires_at, end);
        assert_eq!(tokens.refresh_expires_at, end);
        let tokens = IssuedTokens::new(now, "s1", now + policy.lifetime, &policy).unwrap();
        assert_eq!(tokens.refresh_expires_at, now + policy.idle);
    }

    #[tokio::test]
    async fn attempts_are_counted_before_their_check_and_the_table_stays_bounded() {
        let guard = LoginGuard::new(100, 1, 0);
        let address: std::net::IpAddr = [10, 0, 0, 1].into();
        let mut held = Vec::new();
        // Five attempts are admitted one after the other, each counted at once.
        for _ in 0..MAX_FAILURES {
            match guard.admit("ana@acme.test", None).await {
                Ok(attempt) => held.push(attempt),
                Err(Refusal::Busy) => {}
                Err(other) => panic!("refused early: {other:?}"),
            }
            held.clear();
        }
        assert!(matches!(
            guard.admit("ana@acme.test", None).await,
            Err(Refusal::Locked(_))
        ));
        // A right password clears the email's count.
        let other = guard.admit("bo@acme.test", Some(address)).await.unwrap();
        guard.succeeded(other);
        // With one check running and no room to wait, the next is busy, and uncounted.
        let running = guard.admit("cy@acme.test", None).await.unwrap();
        assert_eq!(
            guard.admit("cy@acme.test", None).await.unwrap_err(),
            Refusal::Busy
        );
        drop(running);
        // A flood of distinct emails never grows the table past its size.
        for n in 0..1_000 {
            let attempt = guard.admit(&format!("{n}@flood.test"), None).await;
            drop(attempt);
        }
        let (emails, addresses) = guard.remembered();
        assert!(emails <= 100, "{emails} emails remembered");
        assert!(addresses <= 100);
    }
}
