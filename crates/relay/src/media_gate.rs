//! The places for attachment downloads: at most [`MAX_DOWNLOADS`] fetches from Meta run at
//! once in one relay process. A leaf, held by the shared state and taken by `media.rs`.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many attachments one relay process fetches at once. Each holds a connection to
/// Meta and one to a desktop, and up to 100 MiB passing through; beyond this a desktop is
/// asked to come back rather than queued without bound.
pub const MAX_DOWNLOADS: usize = 16;

/// The places for attachment downloads under way ([`MAX_DOWNLOADS`]).
#[derive(Debug)]
pub struct MediaGate(Arc<Semaphore>);

impl Default for MediaGate {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(MAX_DOWNLOADS)))
    }
}

impl MediaGate {
    /// A place for one download, held until its body has been passed on (or the client
    /// has gone); `None` when every place is taken. Never waits.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}
