//! Settings of the runtime every front-end shares: the chat itself, what it remembers, who may
//! come in, and how it shuts down.

use std::sync::Arc;
use std::time::Duration;

use chat_core::HubConfig;
use chat_store::{Retention, Store};

use crate::access::AccessFiles;

/// Everything [`Runtime`](crate::Runtime) needs. `Default` gives the values a public server
/// should start with.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The chat itself: history length, message limit, MOTD, flood limits.
    pub hub: HubConfig,
    /// Where history, settings, bans and offline messages are kept. Without one the server
    /// forgets everything when it stops.
    pub store: Option<Arc<dyn Store>>,
    /// How much history the store keeps.
    pub retention: Retention,
    /// Log every said line (off by default: chat text is the users', not the log's).
    pub log_messages: bool,
    /// The admins and allowlist files.
    pub access: AccessFiles,
    /// Events that may wait for one member before the hub drops some for it.
    pub outbox_capacity: usize,
    /// How long shutdown waits for sessions to say goodbye before cutting them off.
    pub shutdown_grace: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            hub: HubConfig {
                // A crowd arriving at once (a restart, a reconnect) is announced in a few
                // lines, not one per arrival to everyone.
                presence_window: chrono::TimeDelta::milliseconds(150),
                ..HubConfig::default()
            },
            store: None,
            retention: Retention::default(),
            log_messages: false,
            access: AccessFiles::default(),
            outbox_capacity: 256,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}
