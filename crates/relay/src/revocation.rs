//! Tells open streams, at once, that their session ended: every change that ends sessions
//! (sign-out, a password change, an admin disabling, removing or revoking) announces their
//! ids here after it commits. A stream also re-reads its session every few seconds, which
//! covers what this process did not see (the CLI, another relay node).

use crate::store::{EndReason, EndedSessions};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Sessions that ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub sessions: Vec<String>,
    pub reason: EndReason,
}

#[derive(Debug)]
pub struct Revocations {
    sender: broadcast::Sender<Arc<Ended>>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(256).0,
        }
    }
}

impl Revocations {
    pub fn announce(&self, ended: &EndedSessions) {
        if let (Some(reason), false) = (ended.reason, ended.ids.is_empty()) {
            // No stream listening is fine.
            let _ = self.sender.send(Arc::new(Ended {
                sessions: ended.ids.clone(),
                reason,
            }));
        }
    }

    pub fn announce_one(&self, session: &str, reason: EndReason) {
        self.announce(&EndedSessions {
            ids: vec![session.to_owned()],
            reason: Some(reason),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Ended>> {
        self.sender.subscribe()
    }
}
