//! The accept loop: limits, deadlines, one task per connection, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chat_server::Runtime;
use chat_server::hub::SharedHub;
use chat_server::keyfile::KeyFileError;
use chat_server::metrics::Reading;
use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::ServerConfig;
use crate::handler::ConnectionHandler;
use crate::host_key::{self, HostKeyError, Origin};
use crate::kill::Killable;
use crate::limits::{ConnectionLimits, ConnectionSlot, HandshakeSlot, LimitConfig, Refusal};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error(transparent)]
    Runtime(#[from] chat_server::RuntimeError),
}

/// What every connection's tasks share: the runtime all front-ends share, and this
/// front-end's own settings.
pub(crate) struct Shared {
    pub runtime: Arc<Runtime>,
    pub config: ServerConfig,
}

/// An SSH chat server, ready to [`run`](Server::run) on a listener.
pub struct Server {
    shared: Arc<Shared>,
    ssh_config: Arc<russh::server::Config>,
    limits: Arc<ConnectionLimits>,
    host_fingerprint: String,
    /// The host key's public half in OpenSSH format, for `known_hosts` lines.
    host_public_key: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("host_fingerprint", &self.host_fingerprint)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads (or makes) the host key; the chat itself is `runtime`, which other front-ends
    /// may share. Nothing listens yet.
    pub fn new(config: ServerConfig, runtime: Arc<Runtime>) -> Result<Self, ServerError> {
        let (key, origin) = host_key::load_or_generate(&config.host_key_path)?;
        let host_fingerprint = host_key::fingerprint(&key);
        let host_public_key = host_key::public_openssh(&key);
        match origin {
            Origin::Generated => {
                info!(path = %config.host_key_path.display(), fingerprint = %host_fingerprint, "generated a new host key")
            }
            Origin::Loaded => {
                info!(path = %config.host_key_path.display(), fingerprint = %host_fingerprint, "loaded the host key")
            }
        }
        let ssh_config = Arc::new(ssh_config(&config, key));
        let limits = ConnectionLimits::new(LimitConfig {
            max_total: config.max_connections,
            max_per_ip: config.max_per_ip,
            max_new_per_ip_per_minute: config.max_new_per_ip_per_minute,
            max_unauthenticated: config.max_unauthenticated,
        });
        let shared = Arc::new(Shared { runtime, config });
        Ok(Self {
            shared,
            ssh_config,
            limits,
            host_fingerprint,
            host_public_key,
        })
    }

    /// A server with a runtime of its own, made from `runtime` settings: for tests and
    /// embedders that run only the SSH front-end.
    pub fn standalone(
        config: ServerConfig,
        runtime: chat_server::RuntimeConfig,
    ) -> Result<Self, ServerError> {
        Self::new(config, Runtime::new(runtime)?)
    }

    /// The SHA256 fingerprint of the host key, as `ssh-keygen -l` shows it.
    pub fn host_fingerprint(&self) -> &str {
        &self.host_fingerprint
    }

    /// The host key's public half (`ssh-ed25519 AAAA…`), for a `known_hosts` line.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// The runtime this server is a front-end of.
    pub fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&self.shared.runtime)
    }

    /// The hub, for an embedder that wants to look inside (tests, metrics).
    pub fn hub(&self) -> SharedHub {
        Arc::clone(&self.shared.runtime.hub)
    }

    /// What renders the metrics for a scrape, usable after `run` has taken the server.
    pub fn metrics(&self) -> MetricsHandle {
        MetricsHandle {
            shared: Arc::clone(&self.shared),
            limits: Arc::clone(&self.limits),
        }
    }

    /// Something that re-reads the access files on demand (for SIGHUP), usable after `run`
    /// has taken the server.
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::clone(&self.shared.runtime))
    }

    /// How many batches of records the store failed to write (each is retried).
    pub fn store_failures(&self) -> u64 {
        self.shared.runtime.store_failures()
    }

    /// The connection limits and what is in use.
    pub fn limits(&self) -> Arc<ConnectionLimits> {
        Arc::clone(&self.limits)
    }

    /// Accepts connections until `shutdown` is cancelled; then closes the runtime (every
    /// session is told the server is going down and closed, cutting off any that do not go
    /// within the grace period) and returns once that is done.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) {
        self.shared.runtime.start();
        let next_id = AtomicU64::new(1);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.shared.runtime.shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        self.accept(stream, peer, id);
                    }
                    Err(error) => {
                        // Out of file descriptors, say: wait rather than spin.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        self.shared.runtime.close().await;
    }

    fn accept(&self, stream: TcpStream, peer: SocketAddr, id: u64) {
        // The key's fingerprint joins the span once the client proves it.
        let span = info_span!("conn", id, peer = %peer, fingerprint = tracing::field::Empty);
        let kill = self.shared.runtime.kill_all.child_token();
        let banned = self
            .shared
            .runtime
            .hub
            .lock()
            .ban_for(None, None, Some(peer.ip()), chrono::Utc::now())
            .is_some();
        let admitted = if banned {
            Err(Refusal::Banned)
        } else {
            self.limits.admit(peer.ip(), kill.clone())
        };
        match admitted {
            Err(refusal) => {
                self.shared.runtime.metrics.refused(refusal.as_str());
                info!(parent: &span, reason = refusal.as_str(), "refused connection");
                self.shared
                    .runtime
                    .tracker
                    .spawn(refuse(stream, refusal).instrument(span));
            }
            Ok((slot, handshake)) => {
                self.shared.runtime.metrics.connections_accepted.inc();
                // russh sets TCP_NODELAY (its `Config::nodelay`) only on sockets it accepts
                // itself; this one reaches it as a wrapped stream. Without it a line could wait
                // for the client's delayed ACK (40 ms on Linux) behind the one before.
                if let Err(error) = stream.set_nodelay(true) {
                    debug!(parent: &span, %error, "cannot set TCP_NODELAY");
                }
                let connection = Connection {
                    shared: Arc::clone(&self.shared),
                    ssh_config: Arc::clone(&self.ssh_config),
                    stream,
                    peer,
                    slot,
                    handshake,
                    kill,
                    span: span.clone(),
                };
                self.shared
                    .runtime
                    .tracker
                    .spawn(connection.run().instrument(span));
            }
        }
    }
}

/// The shortest time a client must leave between the end of one key exchange (the first, at
/// login, included) and a re-key it starts; one sooner is disconnected. Each exchange costs
/// the server a key agreement and a signature and pauses the connection, and without a limit
/// a client could re-key in a loop for as long as it stayed. OpenSSH re-keys after about a
/// gigabyte (more with AES) or on a `RekeyLimit` time, never twice in a second.
pub const MIN_CLIENT_REKEY_INTERVAL: Duration = Duration::from_secs(1);

/// The russh configuration: our auth policy lives in the handler, but these say which methods
/// to advertise and how fast to answer.
fn ssh_config(config: &ServerConfig, key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..]),
        // OpenSSH always tries `none` first; without this it waits a second before its keys.
        auth_rejection_time_initial: Some(Duration::ZERO),
        auth_rejection_time: Duration::from_millis(300),
        keys: vec![key],
        inactivity_timeout: Some(config.keepalive_interval * 4),
        keepalive_interval: Some(config.keepalive_interval),
        keepalive_max: 3,
        nodelay: true,
        min_peer_rekey_interval: Some(MIN_CLIENT_REKEY_INTERVAL),
        ..Default::default()
    }
}

/// Tells a refused client why, in a line before any SSH (which `ssh -v` and `nc` show), then
/// closes. Bounded in time so a refused peer cannot hold even this task.
async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let line = format!("chat server: {refusal}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// How long each step of saying goodbye to a connection at shutdown may take.
const SHUTDOWN_GOODBYE: Duration = Duration::from_millis(500);

/// One accepted connection, until it ends.
struct Connection {
    shared: Arc<Shared>,
    ssh_config: Arc<russh::server::Config>,
    stream: TcpStream,
    peer: SocketAddr,
    /// Held for the life of the connection.
    slot: ConnectionSlot,
    /// Given to the handler, which gives it back on authentication.
    handshake: HandshakeSlot,
    /// Cuts this connection off (a child of the server's kill-all switch).
    kill: CancellationToken,
    span: tracing::Span,
}

impl Connection {
    async fn run(self) {
        let Connection {
            shared,
            ssh_config,
            stream,
            peer,
            slot: _slot,
            handshake,
            kill,
            span,
        } = self;
        let authenticated = Arc::new(AtomicBool::new(false));
        let auth_timeout = shared.config.auth_timeout;
        let shutdown = shared.runtime.shutdown.clone();
        let handler = ConnectionHandler::new(
            shared,
            peer,
            span,
            handshake,
            Arc::clone(&authenticated),
            kill.clone(),
        );
        let stream = Killable::new(stream, kill.clone());
        let session = async {
            // Boxed: the handshake's future is large and lives only until the session task is
            // spawned; inline, it would size this task for the life of the connection.
            let handshake = Box::pin(russh::server::run_stream(ssh_config, stream, handler));
            let mut running = handshake.await?;
            let handle = running.handle();
            tokio::select! {
                result = &mut running => return result,
                () = shutdown.cancelled() => {}
            }
            // The chat task says goodbye and closes its channel; then the connection itself is
            // ended with an SSH disconnect (which a client that keeps its connection open,
            // such as `ssh -N` or a control master, needs), bounded in time since it queues
            // behind what the client has not read.
            let ended = tokio::time::timeout(SHUTDOWN_GOODBYE, &mut running).await;
            if let Ok(result) = ended {
                return result;
            }
            let reason = "the server is shutting down".to_owned();
            let bye = handle.disconnect(russh::Disconnect::ByApplication, reason, "en".to_owned());
            let _ = tokio::time::timeout(SHUTDOWN_GOODBYE, bye).await;
            tokio::time::timeout(SHUTDOWN_GOODBYE, running)
                .await
                .unwrap_or(Ok(()))
        };
        // The handshake and authentication must finish in time, or the connection is cut off:
        // a slowloris peer holds nothing for long.
        let deadline = async {
            tokio::time::sleep(auth_timeout).await;
            if !authenticated.load(Ordering::Acquire) {
                info!("no authentication in time; disconnecting");
                kill.cancel();
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            result = session => match result {
                Ok(()) => debug!("connection closed"),
                Err(error) => debug!(%error, "connection ended"),
            },
            () = deadline => {}
        }
    }
}

/// Re-reads the admins and allowlist files.
#[derive(Clone)]
pub struct Reloader(Arc<Runtime>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

impl Reloader {
    /// Reads the files again; on success the new lists apply at once (admins gain or lose
    /// their rights; the allowlist applies to the next logins). On error the old lists stay.
    pub fn reload(&self) -> Result<String, KeyFileError> {
        self.0.reload()
    }
}

/// Renders the server's metrics in the Prometheus text format.
#[derive(Clone)]
pub struct MetricsHandle {
    shared: Arc<Shared>,
    limits: Arc<ConnectionLimits>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsHandle")
    }
}

impl MetricsHandle {
    /// Reads the gauges (a moment under the hub's lock) and encodes every metric.
    pub fn render(&self) -> String {
        let (connections_open, unauthenticated) = self.limits.in_use();
        let (hub, rooms) = {
            let hub = self.shared.runtime.hub.lock();
            (hub.stats(), hub.room_sizes())
        };
        self.shared.runtime.metrics.render(Reading {
            connections_open,
            unauthenticated,
            handshakes_evicted: self.limits.evicted(),
            hub,
            store_failures: self.shared.runtime.store_failures(),
            bus_errors: self.shared.runtime.bus_errors(),
            bus_degraded: self.shared.runtime.bus_degraded(),
            tasks_alive: tokio::runtime::Handle::try_current()
                .map_or(0, |runtime| runtime.metrics().num_alive_tasks()),
            rooms,
        })
    }

    /// Why the server is degraded (the store cannot be written, the cluster bus is
    /// unreachable), if it is.
    pub fn degraded(&self) -> Option<String> {
        self.shared.runtime.degraded()
    }
}
