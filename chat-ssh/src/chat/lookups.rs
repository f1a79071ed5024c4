//! Reading the store on a member's behalf: its profile at join, history on request. Reads
//! run off the async runtime and are bounded in time: a slow or failing store costs a member
//! a convenience, never its session.

use std::sync::Arc;
use std::time::Duration;

use chat_core::journal::{Profile, StoredLine};
use chat_core::{Event, NoticeLevel, Request, Session};
use chrono::Utc;
use tracing::warn;

use crate::server::Shared;

/// How long a store lookup may take before we go on without it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the store remembers about a key, if there is a store and a key.
pub(super) async fn load_profile(shared: &Shared, fingerprint: Option<&str>) -> Option<Profile> {
    let store = Arc::clone(shared.config.store.as_ref()?);
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

/// Does what the hub asked the edge to do for the member, and shows the result.
pub(super) async fn fulfil(
    shared: &Shared,
    session: &mut Session,
    request: Request,
    out: &mut Vec<u8>,
) {
    match request {
        Request::History { room, limit } => {
            let lines = history(shared, &room, limit).await;
            session.show_history(&room, &lines, Utc::now(), out);
        }
        Request::Reload => {
            let (level, text) = match shared.reload() {
                Ok(summary) => (NoticeLevel::Info, format!("reloaded: {summary}")),
                Err(error) => (
                    NoticeLevel::Error,
                    format!("reload failed, the old lists stay: {error}"),
                ),
            };
            session.show_notice(Utc::now(), level, &text, out);
        }
    }
}

/// The last `limit` lines of `room`: from the store if there is one, else from the hub's
/// memory. Oldest first.
pub(super) async fn history(shared: &Shared, room: &str, limit: usize) -> Vec<Event> {
    if let Some(store) = shared.config.store.clone() {
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
    let lines = shared.hub.lock().recent_history(room, limit);
    lines.iter().map(|e| (**e).clone()).collect()
}
