//! Settings of the SSH server: where it keeps its key, and the limits that keep it up.

use std::path::PathBuf;
use std::time::Duration;

/// What the SSH front-end needs besides the shared [`Runtime`](chat_server::Runtime) and a
/// listener. `Default` gives the values a public server should start with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host key file (OpenSSH format). Generated on first start if missing.
    pub host_key_path: PathBuf,
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
    /// From TCP accept to successful authentication: a peer slower than this is dropped.
    pub auth_timeout: Duration,
    /// An authenticated connection with no shell or command running for this long is closed:
    /// one that never starts a session (`ssh -N`, or a channel that asks for nothing), or that
    /// lingers after its session ended, would otherwise hold a connection slot for ever while
    /// invisible to `/who` and to operators.
    pub no_session_timeout: Duration,
    /// A client whose SSH window stays shut (it stopped reading) for this long while we have
    /// something to send is disconnected at once.
    pub stall_timeout: Duration,
    /// Keepalive probes go out after this much silence from the client.
    pub keepalive_interval: Duration,
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
            max_connections: 10_000,
            max_per_ip: 20,
            max_unauthenticated: 100,
            max_new_per_ip_per_minute: 30,
            input_bytes_per_second: 8 * 1024,
            input_burst_bytes: 64 * 1024,
            auth_timeout: Duration::from_secs(20),
            no_session_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(30),
        }
    }
}
