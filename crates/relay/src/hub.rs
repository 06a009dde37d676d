//! The live hub: committed log entries fanned out to each tenant's open streams (tokio
//! broadcast). The store publishes to it after each commit; `stream.rs` subscribes. A leaf,
//! so the shared state can hold it without naming the stream's handler.

use crate::store::LogEntry;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use ventana_protocol::ids::TenantId;

/// A committed entry on its way to live subscribers. Its frame is serialised once, by the
/// first subscriber that sends it, and shared by all the others.
#[derive(Debug)]
pub struct LiveEntry {
    pub entry: LogEntry,
    frame: OnceLock<Result<Utf8Bytes, String>>,
}

impl LiveEntry {
    /// The entry's frame as text: made by `make` for the first subscriber that asks, and
    /// the same bytes for every other.
    pub fn shared_frame(
        &self,
        make: impl FnOnce(&LogEntry) -> Result<Utf8Bytes, String>,
    ) -> Result<Utf8Bytes, String> {
        self.frame.get_or_init(|| make(&self.entry)).clone()
    }
}

/// Fans committed entries out to the live subscribers of their tenant.
#[derive(Debug)]
pub struct Hub {
    capacity: usize,
    tenants: Mutex<HashMap<TenantId, broadcast::Sender<Arc<LiveEntry>>>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(16),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Called by the store, in sequence order, after each commit.
    pub fn publish(&self, entries: &[LogEntry]) {
        let Ok(mut tenants) = self.tenants.lock() else {
            return;
        };
        for entry in entries {
            let live = || {
                Arc::new(LiveEntry {
                    entry: entry.clone(),
                    frame: OnceLock::new(),
                })
            };
            if let Some(sender) = tenants.get(&entry.event.tenant)
                && sender.send(live()).is_err()
            {
                // Nobody listens any more.
                tenants.remove(&entry.event.tenant);
            }
        }
    }

    pub fn subscribe(&self, tenant: &TenantId) -> Option<broadcast::Receiver<Arc<LiveEntry>>> {
        let mut tenants = self.tenants.lock().ok()?;
        let sender = tenants
            .entry(tenant.clone())
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        Some(sender.subscribe())
    }

    /// Drops every sender, which ends every live subscription.
    pub fn close(&self) {
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.clear();
        }
    }
}
