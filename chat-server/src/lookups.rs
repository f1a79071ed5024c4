//! Reading the store on a member's behalf: its profile at join, history on request. Reads
//! run off the async runtime and are bounded in time: a slow or failing store costs a member
//! a convenience, never its session.

use std::sync::Arc;
use std::time::Duration;

use chat_core::Event;
use chat_core::journal::{Profile, StoredLine};
use tracing::warn;

use crate::Runtime;

/// How long a store lookup may take before we go on without it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

impl Runtime {
    /// What the store remembers about a key, if there is a store and a key.
    pub async fn load_profile(&self, fingerprint: Option<&str>) -> Option<Profile> {
        let store = Arc::clone(self.config.store.as_ref()?);
        let fingerprint = fingerprint?.to_owned();
        let lookup = tokio::task::spawn_blocking(move || store.profile(&fingerprint));
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(Ok(profile))) => Some(profile),
            Ok(Ok(Err(error))) => {
                warn!(%error, "cannot load the member's profile; joining without it");
                None
            }
            Ok(Err(error)) => {
                warn!(%error, "loading the member's profile panicked; joining without it");
                None
            }
            Err(_) => {
                warn!(timeout = ?LOOKUP_TIMEOUT, "the store is slow; joining without the member's profile");
                None
            }
        }
    }

    /// The last `limit` lines of `room`: from the store if there is one, else from the hub's
    /// memory. Oldest first.
    pub async fn history(&self, room: &str, limit: usize) -> Vec<Event> {
        if let Some(store) = self.config.store.clone() {
            let lookup_room = room.to_owned();
            let lookup = tokio::task::spawn_blocking(move || store.history(&lookup_room, limit));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(Ok(lines))) => return lines.iter().map(StoredLine::to_event).collect(),
                other => warn!(
                    ?other,
                    "cannot read history from the store; showing what is in memory"
                ),
            }
        }
        let lines = self.hub.lock().recent_history(room, limit);
        lines.iter().map(|e| (**e).clone()).collect()
    }
}
