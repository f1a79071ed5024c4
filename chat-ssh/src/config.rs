//! Settings of the SSH server: where it keeps its key, and the limits that keep it up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_core::HubConfig;
use chat_store::{Retention, Store};

use crate::access::AccessFiles;

/// Everything [`Server`](crate::Server) needs besides a listener. `Default` gives the values a
/// public server should start with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host key file (OpenSSH format). Generated on first start if missing.
    pub host_key_path: PathBuf,
    /// The chat itself: history length, message limit, MOTD.
    pub hub: HubConfig,
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_per_ip: usize,
    /// New connections one IP address may open per minute.
    pub max_new_per_ip_per_minute: u32,
    /// Connections that have not yet authenticated, in all: a handshake flood fills these, not
    /// the slots of people who are chatting (and the oldest is cut off to make room).
    pub max_unauthenticated: usize,
    /// Bytes per second a member may type, after a burst of `input_burst_bytes`: a bot that
    /// types without pressing Enter is slowed down, not served at full speed.
    pub input_bytes_per_second: u32,
    pub input_burst_bytes: u32,
    /// The admins and allowlist files.
    pub access: AccessFiles,
    /// Log every said line (off by default: chat text is the users', not the log's).
    pub log_messages: bool,
    /// From TCP accept to successful authentication: a peer slower than this is dropped.
    pub auth_timeout: Duration,
    /// A client whose SSH window stays shut (it stopped reading) for this long while we have
    /// something to send is disconnected at once.
    pub stall_timeout: Duration,
    /// Keepalive probes go out after this much silence from the client.
    pub keepalive_interval: Duration,
    /// Events that may wait for one member before the hub drops some for it.
    pub outbox_capacity: usize,
    /// How long shutdown waits for sessions to say goodbye before cutting them off.
    pub shutdown_grace: Duration,
    /// Where history, name claims, settings and offline messages are kept. Without one the
    /// server forgets everything when it stops.
    pub store: Option<Arc<dyn Store>>,
    /// How much history the store keeps.
    pub retention: Retention,
}

impl ServerConfig {
    /// Defaults, with the host key in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            host_key_path: data_dir.into().join(crate::host_key::DEFAULT_FILE_NAME),
            ..Self::default()
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host_key_path: PathBuf::from("data").join(crate::host_key::DEFAULT_FILE_NAME),
            hub: HubConfig {
                // A crowd arriving at once (a restart, a reconnect) is announced in a few
                // lines, not one per arrival to everyone.
                presence_window: chrono::TimeDelta::milliseconds(150),
                // Past 1,500 members, longer: a room of 10,000 hears of arrivals once a second.
                presence_window_per_member: chrono::TimeDelta::microseconds(100),
                ..HubConfig::default()
            },
            max_connections: 10_000,
            max_per_ip: 20,
            max_unauthenticated: 100,
            max_new_per_ip_per_minute: 30,
            input_bytes_per_second: 8 * 1024,
            input_burst_bytes: 64 * 1024,
            access: AccessFiles::default(),
            log_messages: false,
            auth_timeout: Duration::from_secs(20),
            stall_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(30),
            outbox_capacity: 256,
            shutdown_grace: Duration::from_secs(3),
            store: None,
            retention: Retention::default(),
        }
    }
}
