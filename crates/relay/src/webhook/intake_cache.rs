//! The intake's short memory: opened Meta app secrets and channel routes, kept for
//! [`IntakeCache::TTL`] so a webhook usually needs no lookup. A leaf, held by the shared
//! state and used by the intake, the credentials and channel changes alike.

use crate::rules::Keywords;
use crate::store::{Channel, Storage, StoreError};
use crate::webhook::normalize::ChannelKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every webhook looks up, kept for a short while: the opened app secret and the
/// channel routing. Only hits are kept, so a newly connected channel works at once; a
/// changed app secret takes effect within [`IntakeCache::TTL`].
#[derive(Debug, Default)]
pub struct IntakeCache {
    apps: Mutex<HashMap<String, Cached<Arc<[u8]>>>>,
    channels: Mutex<HashMap<ChannelKey, Cached<Arc<Route>>>>,
}

/// A channel as the intake routes to it: its row, and its keyword rules compiled once
/// (matching them is the intake's costliest step after parsing).
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) channel: Channel,
    pub(crate) keywords: Keywords,
}

impl Route {
    fn new(channel: Channel) -> Arc<Self> {
        let keywords = Keywords::new(&channel.settings);
        Arc::new(Self { channel, keywords })
    }
}

/// A value and when it was fetched.
type Cached<T> = (Instant, T);

impl IntakeCache {
    pub const TTL: Duration = Duration::from_secs(30);

    pub(crate) fn app_secret(&self, app_id: &str) -> Option<Arc<[u8]>> {
        let apps = self.apps.lock().ok()?;
        let (at, secret) = apps.get(app_id)?;
        (at.elapsed() < Self::TTL).then(|| Arc::clone(secret))
    }

    pub(crate) fn remember_app(&self, app_id: &str, secret: Arc<[u8]>) {
        if let Ok(mut apps) = self.apps.lock() {
            apps.insert(app_id.to_owned(), (Instant::now(), secret));
        }
    }

    /// Drops every cached channel, so a settings change applies to the next webhook.
    pub fn forget_channels(&self) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.clear();
        }
    }

    /// The route for `key` if the cache has a fresh entry (no IO).
    pub(crate) fn cached_channel(&self, key: &ChannelKey) -> Option<Arc<Route>> {
        let channels = self.channels.lock().ok()?;
        let (at, route) = channels.get(key)?;
        (at.elapsed() < Self::TTL).then(|| Arc::clone(route))
    }

    pub(crate) fn channel(
        &self,
        store: &dyn Storage,
        key: &ChannelKey,
    ) -> Result<Option<Arc<Route>>, StoreError> {
        if let Some(route) = self.cached_channel(key) {
            return Ok(Some(route));
        }
        let Some(found) = store.channel_by_external_id(key.kind, &key.external_id)? else {
            return Ok(None);
        };
        let route = Route::new(found);
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(key.clone(), (Instant::now(), Arc::clone(&route)));
        }
        Ok(Some(route))
    }
}
