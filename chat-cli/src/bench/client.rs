//! One bench session: connect, log in with a fresh key, open a PTY shell, then receive (and,
//! for a sender, send) until the run ends.
//!
//! What a session receives is scanned inside the russh handler's `data` callback, so no queue
//! sits between the socket and the scanner. The channel's own read half is dropped at once:
//! russh would otherwise fill its 100-message queue and stall the connection.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use russh::client::{self, Handle, Msg};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelId, ChannelWriteHalf, Disconnect};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

use super::inbox::Inbox;
use super::token::Tag;

/// The PTY's height; only its width matters (lines must not wrap).
const PTY_HEIGHT: u32 = 40;

/// What every session of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The servers; session `i` connects to `addrs[i % len]` (the nodes of a cluster).
    pub addrs: Vec<SocketAddr>,
    pub ssh: Arc<client::Config>,
    /// The same for slow readers, with a small window so the server runs into it soon.
    pub slow_ssh: Arc<client::Config>,
    /// The limit on each step: TCP connect, handshake, auth, channel requests, first output.
    pub timeout: Duration,
    pub pty_width: u32,
    /// Derive the sessions' keys from this (`--key-seed`) rather than make fresh ones.
    pub key_seed: Option<u64>,
    pub tag: Tag,
    /// How many normal sessions there are: a token from a higher sender index is not ours.
    pub users: u32,
    /// Lines each sender sends; the first `warmup_lines` of them are not counted.
    pub lines_per_sender: u32,
    pub warmup_lines: u32,
    /// Bytes received by all sessions together, for progress and to see the server go quiet.
    pub bytes: AtomicU64,
    /// Deliveries counted by all sessions together, for progress.
    pub deliveries: AtomicU64,
    /// Sessions set up, and failed to, so far: for progress.
    pub set_up: AtomicU64,
    pub failed: AtomicU64,
}

impl Shared {
    /// The server session `index` connects to.
    pub fn addr_of(&self, index: u32) -> SocketAddr {
        self.addrs[index as usize % self.addrs.len()]
    }
}

/// Which session to open.
#[derive(Debug, Clone)]
pub struct Spec {
    pub index: u32,
    pub name: String,
    pub bind: Option<IpAddr>,
    /// A slow reader stops reading its TCP stream once logged in.
    pub slow: bool,
}

/// A step of setting up a session, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Handshake,
    Auth,
    Channel,
    Shell,
    FirstOutput,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "tcp connect",
            Stage::Handshake => "ssh handshake",
            Stage::Auth => "auth",
            Stage::Channel => "channel open",
            Stage::Shell => "pty and shell",
            Stage::FirstOutput => "first output",
        })
    }
}

/// Why a session could not be set up.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("{0}: timed out")]
    Timeout(Stage),
    #[error("tcp connect: {0}")]
    Connect(io::Error),
    #[error("{stage}: {source}")]
    Ssh { stage: Stage, source: russh::Error },
    #[error("auth: the server refused the key")]
    Refused,
    #[error("first output: the connection closed first")]
    Closed,
}

/// A session that is logged in and has shown its first output.
pub struct Session {
    pub spec: Spec,
    /// From the start of the TCP connect to the first byte of shell output.
    pub setup: Duration,
    pub inbox: Arc<Mutex<Inbox>>,
    handle: Handle<Receiver>,
    writer: ChannelWriteHalf<Msg>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("spec", &self.spec)
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

/// Runs `step` with the run's timeout, naming the stage if it fails.
async fn step<T>(
    shared: &Shared,
    stage: Stage,
    step: impl Future<Output = Result<T, russh::Error>>,
) -> Result<T, SetupError> {
    match tokio::time::timeout(shared.timeout, step).await {
        Err(_) => Err(SetupError::Timeout(stage)),
        Ok(Err(source)) => Err(SetupError::Ssh { stage, source }),
        Ok(Ok(value)) => Ok(value),
    }
}

/// Connects, logs in and starts a PTY shell; returns once the first output arrived.
pub async fn connect(spec: Spec, shared: Arc<Shared>) -> Result<Session, SetupError> {
    let started = Instant::now();
    let tcp = tokio::time::timeout(
        shared.timeout,
        tcp_connect(shared.addr_of(spec.index), spec.bind),
    )
    .await
    .map_err(|_| SetupError::Timeout(Stage::Connect))?
    .map_err(SetupError::Connect)?;
    // Nagle would hold each small line back for the previous one's ACK.
    let _ = tcp.set_nodelay(true);
    let paused = Arc::new(AtomicBool::new(false));
    let stream = Pausable {
        inner: tcp,
        paused: Arc::clone(&paused),
    };
    let inbox = Arc::new(Mutex::new(Inbox::new(spec.index, &shared)));
    let (first_output, got_output) = oneshot::channel();
    let receiver = Receiver {
        inbox: Arc::clone(&inbox),
        shared: Arc::clone(&shared),
        first_output: Some(first_output),
    };
    let mut handle = step(
        &shared,
        Stage::Handshake,
        client::connect_stream(
            Arc::clone(if spec.slow {
                &shared.slow_ssh
            } else {
                &shared.ssh
            }),
            stream,
            receiver,
        ),
    )
    .await?;
    let key = super::keys::session_key(shared.key_seed, spec.index);
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), None);
    let auth = step(
        &shared,
        Stage::Auth,
        handle.authenticate_publickey(spec.name.clone(), key),
    )
    .await?;
    if !auth.success() {
        return Err(SetupError::Refused);
    }
    let channel = step(&shared, Stage::Channel, handle.channel_open_session()).await?;
    // Everything received is handled in `Receiver::data`; an unread read half would stall.
    let (_, writer) = channel.split();
    step(&shared, Stage::Shell, async {
        writer
            .request_pty(
                false,
                "xterm-256color",
                shared.pty_width,
                PTY_HEIGHT,
                0,
                0,
                &[],
            )
            .await?;
        writer.request_shell(false).await
    })
    .await?;
    match tokio::time::timeout(shared.timeout, got_output).await {
        Err(_) => return Err(SetupError::Timeout(Stage::FirstOutput)),
        Ok(Err(_)) => return Err(SetupError::Closed),
        Ok(Ok(())) => {}
    }
    let setup = started.elapsed();
    if spec.slow {
        paused.store(true, Ordering::Relaxed);
    }
    Ok(Session {
        spec,
        setup,
        inbox,
        handle,
        writer,
    })
}

async fn tcp_connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = bind else {
        return TcpStream::connect(addr).await;
    };
    let socket = if ip.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

impl Session {
    /// Types `line` and Enter.
    pub async fn send(&self, line: &str, timeout: Duration) -> Result<(), SendError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\r');
        match tokio::time::timeout(timeout, self.writer.data(&bytes[..])).await {
            Err(_) => Err(SendError::Timeout),
            Ok(Err(_)) => Err(SendError::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Says goodbye, within `timeout`.
    pub async fn close(&self, timeout: Duration) {
        let _ = tokio::time::timeout(
            timeout,
            self.handle
                .disconnect(Disconnect::ByApplication, "bench over", "en"),
        )
        .await;
    }
}

/// Why a line could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("send: timed out")]
    Timeout,
    #[error("send: the connection is closed")]
    Closed,
}

/// Microseconds since the UNIX epoch: the clock tokens carry.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The russh handler: feeds what arrives to the session's inbox.
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    shared: Arc<Shared>,
    first_output: Option<oneshot::Sender<()>>,
}

impl client::Handler for Receiver {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A load generator carries no secrets, and targets only the address it is given.
        Ok(true)
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        data: &[u8],
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let now = unix_micros();
        if let Some(first) = self.first_output.take() {
            let _ = first.send(());
        }
        let counted = self.inbox.lock().receive(data, now);
        self.shared
            .bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if counted > 0 {
            self.shared.deliveries.fetch_add(counted, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let why = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("server disconnected: {}", info.message)
            }
            client::DisconnectReason::Error(error) => format!("connection error: {error}"),
        };
        self.inbox.lock().closed.get_or_insert(why);
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(error) => Err(error),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.inbox
            .lock()
            .closed
            .get_or_insert_with(|| "connection closed".to_owned());
    }
}

/// A TCP stream that, once paused, never reads again: the server's SSH window and the socket
/// buffers fill, as they do for a client that stopped reading. Writes still go through.
struct Pausable<S> {
    inner: S,
    paused: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Pausable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.paused.load(Ordering::Relaxed) {
            // Never ready, and no waker kept: this read is over for good.
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Pausable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
