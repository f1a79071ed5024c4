//! Shared helpers for the integration tests: a server on `127.0.0.1:0` with its data in a
//! temporary directory, and an SSH client (russh) whose sessions record everything they
//! receive, so that a test can wait for text, a screen, an exit status or a close, always with
//! a deadline: a failure is a message that shows what arrived, never a hang.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use chat_ssh::chat_server::hub::SharedHub;
use chat_ssh::limits::ConnectionLimits;
use chat_ssh::{CancellationToken, RuntimeConfig, Server, ServerConfig};
use russh::client;
use russh::keys::{
    Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any wait may take before the test fails. Generous: the machine is small and shared.
pub const WAIT: Duration = Duration::from_secs(10);

/// The loopback address `127.0.0.last`: every one of them is local, so a test can stand for
/// many hosts.
pub fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// What a test may adjust: the SSH front-end's settings and the shared runtime's.
pub struct TestConfig {
    pub ssh: ServerConfig,
    pub runtime: RuntimeConfig,
}

/// A server running on `127.0.0.1:0` in the test's runtime. Dropping it cancels it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub hub: SharedHub,
    pub limits: Arc<ConnectionLimits>,
    pub fingerprint: String,
    pub shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The data directory, when the server made its own.
    _dir: Option<TempDir>,
}

impl TestServer {
    /// A server with default settings, its data in a fresh temporary directory.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose settings `tweak` adjusts, its data in a fresh temporary directory.
    pub async fn start_with(tweak: impl FnOnce(&mut TestConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self::start_in(dir.path(), tweak).await;
        server._dir = Some(dir);
        server
    }

    /// A server keeping its data (the host key) in `dir`, which outlives it.
    pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut TestConfig)) -> TestServer {
        let mut config = TestConfig {
            ssh: ServerConfig::with_data_dir(dir),
            runtime: RuntimeConfig::default(),
        };
        tweak(&mut config);
        let server = Server::standalone(config.ssh, config.runtime).expect("the server starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let shutdown = CancellationToken::new();
        let hub = server.hub();
        let limits = server.limits();
        let fingerprint = server.host_fingerprint().to_owned();
        let task = tokio::spawn(server.run(listener, shutdown.clone()));
        TestServer {
            addr,
            hub,
            limits,
            fingerprint,
            shutdown,
            task: Some(task),
            _dir: None,
        }
    }

    /// Connects (and authenticates) `user` without a key, from 127.0.0.1.
    pub async fn connect(&self, user: &str) -> Connection {
        Connect::user(user)
            .to(self.addr)
            .await
            .expect("connect and authenticate")
    }

    /// Connects `user` and starts an interactive session (PTY) of `cols`×`rows`, then waits
    /// for its prompt.
    pub async fn pty(&self, user: &str, cols: u16, rows: u16) -> Session {
        let mut session = self.connect(user).await.pty_shell(cols, rows).await;
        session
            .wait_screen("the prompt", |s| s.contains(&format!("[{user}")))
            .await;
        session
    }

    /// Connects `user` and starts a plain session (no PTY), then waits for its own join
    /// announcement.
    pub async fn plain(&self, user: &str) -> Session {
        let mut session = self.connect(user).await.plain_shell().await;
        session.expect(" joined. (Connected: ").await;
        session
    }

    /// Runs one command with `exec` as a keyless `user` and returns (stdout, stderr, status).
    pub async fn exec(&self, user: &str, command: &str) -> (String, String, u32) {
        let session = self.connect(user).await.exec(command).await;
        let status = session.wait_exit().await;
        (session.stdout_text(), session.stderr_text(), status)
    }

    /// Members in the hub, invisible ones included.
    pub fn members(&self) -> usize {
        self.hub.lock().len()
    }

    /// Names in `#lobby`.
    pub fn lobby(&self) -> Vec<String> {
        self.hub.lock().names_in("#lobby")
    }

    /// Waits until nobody is in the hub and no connection holds a slot.
    pub async fn wait_empty(&self) {
        eventually("the hub and the connection slots to empty", WAIT, || {
            self.members() == 0 && self.limits.in_use() == (0, 0)
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {} members ({:?}), slots in use {:?}",
                self.members(),
                self.lobby(),
                self.limits.in_use()
            )
        });
    }

    /// Shuts the server down the way the binary does (cancelling its token) and returns how
    /// long `run` took to return. Fails the test if it takes more than `limit`.
    pub async fn stop_within(mut self, limit: Duration) -> Duration {
        let task = self.task.take().expect("running");
        let started = Instant::now();
        self.shutdown.cancel();
        match tokio::time::timeout(limit, task).await {
            Ok(joined) => joined.expect("the server task does not panic"),
            Err(_) => panic!("Server::run did not return within {limit:?} of the shutdown"),
        }
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Lifts the flood limits (lines per second, typing speed) for a test whose traffic is
/// deliberately heavy but is about something else.
pub fn unthrottled(config: &mut TestConfig) {
    config.runtime.hub.line_burst = 100_000;
    config.runtime.hub.lines_per_second = 100_000.0;
    config.ssh.input_burst_bytes = 64 << 20;
    config.ssh.input_bytes_per_second = 64 << 20;
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub async fn eventually(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A fresh Ed25519 key.
pub fn ed25519_key() -> PrivateKey {
    PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("an ed25519 key")
}

/// The key's SHA256 fingerprint as `ssh-keygen -l` prints it.
pub fn fingerprint_of(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

// ---------------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------------

/// How to connect: user, key, source address, window.
#[derive(Clone)]
pub struct Connect {
    user: String,
    key: Option<(Arc<PrivateKey>, Option<HashAlg>)>,
    source: Option<IpAddr>,
    window_size: Option<u32>,
}

impl Connect {
    /// `user`, keyless (keyboard-interactive), from 127.0.0.1.
    pub fn user(user: &str) -> Connect {
        Connect {
            user: user.to_owned(),
            key: None,
            source: None,
            window_size: None,
        }
    }

    /// Authenticate with `key`; for an RSA key, `hash` picks `rsa-sha2-256/512` or (None) the
    /// SHA-1 `ssh-rsa`.
    pub fn key(mut self, key: &PrivateKey, hash: Option<HashAlg>) -> Connect {
        self.key = Some((Arc::new(key.clone()), hash));
        self
    }

    /// Connect from this local address (any 127.0.0.x).
    pub fn from(mut self, ip: IpAddr) -> Connect {
        self.source = Some(ip);
        self
    }

    /// The SSH channel window this client grants the server: a small one fills quickly when
    /// the client stops reading.
    pub fn window(mut self, bytes: u32) -> Connect {
        self.window_size = Some(bytes);
        self
    }

    /// Connects and completes the key exchange, but does not authenticate.
    pub async fn unauthenticated(&self, addr: SocketAddr) -> Result<Connection, String> {
        let stream = tcp_from(self.source, addr)
            .await
            .map_err(|e| format!("TCP connect: {e}"))?;
        let gate = ReadGate::default();
        let stream = Gated {
            inner: stream,
            gate: gate.clone(),
        };
        let mut config = client::Config {
            nodelay: true,
            ..Default::default()
        };
        if let Some(window) = self.window_size {
            config.window_size = window;
        }
        let server_key = Arc::new(Mutex::new(None));
        let ended = Arc::new(Mutex::new(None));
        let handler = TestHandler {
            server_key: Arc::clone(&server_key),
            ended: Arc::clone(&ended),
        };
        let handle = tokio::time::timeout(
            WAIT,
            client::connect_stream(Arc::new(config), stream, handler),
        )
        .await
        .map_err(|_| "SSH handshake timed out".to_owned())?
        .map_err(|e| format!("SSH handshake: {e}"))?;
        Ok(Connection {
            handle,
            server_key,
            ended,
            gate,
            user: self.user.clone(),
        })
    }

    /// Connects and authenticates: with the key if one was given, else keyboard-interactive.
    pub async fn to(&self, addr: SocketAddr) -> Result<Connection, String> {
        let mut connection = self.unauthenticated(addr).await?;
        let user = self.user.clone();
        let authenticated = tokio::time::timeout(WAIT, async {
            match &self.key {
                Some((key, hash)) => {
                    let key = PrivateKeyWithHashAlg::new(Arc::clone(key), *hash);
                    let result = connection.handle.authenticate_publickey(user, key).await;
                    match result {
                        Ok(r) if r.success() => Ok(()),
                        Ok(r) => Err(format!("public key refused: {r:?}")),
                        Err(e) => Err(format!("public key auth: {e}")),
                    }
                }
                None => connection.keyboard_interactive().await,
            }
        })
        .await
        .map_err(|_| "authentication timed out".to_owned())?;
        authenticated.map(|()| connection)
    }
}

/// A TCP connection to `addr`, from `source` if given.
pub async fn tcp_from(source: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads what a raw TCP connection receives until the peer closes it (or `timeout` passes,
/// which fails the test). Returns the bytes and how long it took.
pub async fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let result = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if result.is_err() {
        panic!(
            "the server did not close the connection within {timeout:?}; received {:?}",
            String::from_utf8_lossy(&received)
        );
    }
    (received, started.elapsed())
}

/// The client side of the SSH handler: accepts any host key and remembers it, and remembers
/// how the connection ended.
pub struct TestHandler {
    server_key: Arc<Mutex<Option<PublicKey>>>,
    ended: Arc<Mutex<Option<Ending>>>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server said goodbye with an SSH disconnect message.
    Disconnect(String),
    /// The connection failed or was cut (for example the TCP stream closed).
    Error(String),
}

impl client::Handler for TestHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = key {
            *self.server_key.lock().unwrap() = Some(key.clone());
        }
        Ok(true)
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let (ending, result) = match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                (Ending::Disconnect(info.message), Ok(()))
            }
            client::DisconnectReason::Error(e) => (Ending::Error(e.to_string()), Err(e)),
        };
        *self.ended.lock().unwrap() = Some(ending);
        result
    }
}

/// One SSH connection, authenticated or not.
pub struct Connection {
    pub handle: client::Handle<TestHandler>,
    server_key: Arc<Mutex<Option<PublicKey>>>,
    ended: Arc<Mutex<Option<Ending>>>,
    gate: ReadGate,
    pub user: String,
}

impl Connection {
    async fn keyboard_interactive(&mut self) -> Result<(), String> {
        use client::KeyboardInteractiveAuthResponse as R;
        let mut response = self
            .handle
            .authenticate_keyboard_interactive_start(self.user.clone(), None)
            .await
            .map_err(|e| format!("keyboard-interactive: {e}"))?;
        // A server may ask any number of (here: empty) rounds of questions.
        for _ in 0..4 {
            match response {
                R::Success => return Ok(()),
                R::Failure { .. } => {
                    return Err(format!("keyboard-interactive refused: {response:?}"));
                }
                R::InfoRequest { prompts, .. } => {
                    response = self
                        .handle
                        .authenticate_keyboard_interactive_respond(vec![
                            String::new();
                            prompts.len()
                        ])
                        .await
                        .map_err(|e| format!("keyboard-interactive: {e}"))?;
                }
            }
        }
        Err("keyboard-interactive: too many rounds".to_owned())
    }

    /// The host key the server showed in the key exchange.
    pub fn server_key(&self) -> Option<PublicKey> {
        self.server_key.lock().unwrap().clone()
    }

    /// How the connection ended, if it has.
    pub fn ending(&self) -> Option<Ending> {
        self.ended.lock().unwrap().clone()
    }

    /// Stops reading from the TCP socket: the server's window for us fills and stays full.
    pub fn pause_reading(&self) {
        self.gate.pause();
    }

    /// Reads from the TCP socket again.
    pub fn resume_reading(&self) {
        self.gate.resume();
    }

    /// Waits until the server has closed the connection.
    pub async fn wait_disconnected(&self, timeout: Duration) -> Result<(), String> {
        eventually("the connection to close", timeout, || {
            self.handle.is_closed()
        })
        .await
    }

    /// Opens the session channel.
    async fn open(self, pty: Option<(u16, u16)>) -> Session {
        let channel = tokio::time::timeout(WAIT, self.handle.channel_open_session())
            .await
            .expect("channel open timed out")
            .expect("the server opens a session channel");
        let (reader, writer) = channel.split();
        let screen = pty.map(|(cols, rows)| {
            let (cols, rows) = screen_size(cols, rows);
            vt100::Parser::new(rows, cols, 0)
        });
        let (tx, rx) = watch::channel(Output {
            screen,
            ..Output::default()
        });
        let tx = Arc::new(tx);
        let reader = tokio::spawn(read_channel(reader, Arc::clone(&tx)));
        Session {
            conn: self,
            writer,
            output: rx,
            modify: tx,
            cursor: 0,
            reader,
        }
    }

    /// Opens a session with a PTY of `cols`×`rows` (0×0 means the server's default, 80×24,
    /// which the client's screen then uses too) and starts the shell.
    pub async fn pty_shell(self, cols: u16, rows: u16) -> Session {
        self.pty_shell_with_term("xterm", cols, rows).await
    }

    /// Like [`pty_shell`](Self::pty_shell) with the given terminal type.
    pub async fn pty_shell_with_term(self, term: &str, cols: u16, rows: u16) -> Session {
        let session = self.open(Some((cols, rows))).await;
        session
            .request("pty", |w| {
                let term = term.to_owned();
                async move {
                    w.request_pty(true, &term, u32::from(cols), u32::from(rows), 0, 0, &[])
                        .await
                }
            })
            .await;
        session
            .request("shell", |w| async move { w.request_shell(true).await })
            .await;
        session
    }

    /// Opens a session without a PTY and starts the shell: a plain session.
    pub async fn plain_shell(self) -> Session {
        let session = self.open(None).await;
        session
            .request("shell", |w| async move { w.request_shell(true).await })
            .await;
        session
    }

    /// Opens a session and runs `command` in it.
    pub async fn exec(self, command: &str) -> Session {
        let session = self.open(None).await;
        let command = command.to_owned();
        session
            .request("exec", |w| async move { w.exec(true, command).await })
            .await;
        session
    }

    /// Opens a session without starting anything yet (for `env`, `pty` and friends);
    /// `screen` gives it an emulated screen of that size for a PTY it will ask for.
    pub async fn session(self, screen: Option<(u16, u16)>) -> Session {
        self.open(screen).await
    }
}

/// The size of the emulated screen for a reported terminal size: 0 means the default (80×24),
/// as the server reads it.
fn screen_size(cols: u16, rows: u16) -> (NonZeroU16, NonZeroU16) {
    let cols = NonZeroU16::new(cols).unwrap_or(NonZeroU16::new(80).unwrap());
    let rows = NonZeroU16::new(rows).unwrap_or(NonZeroU16::new(24).unwrap());
    (cols, rows)
}

// ---------------------------------------------------------------------------------------------
// Sessions: what a channel received
// ---------------------------------------------------------------------------------------------

/// Everything one channel has received so far.
#[derive(Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// When each chunk of stdout arrived: (time, length of stdout after it).
    pub arrivals: Vec<(Instant, usize)>,
    pub exit_status: Option<u32>,
    pub eof: bool,
    /// The server closed the channel (or the connection went away).
    pub closed: bool,
    /// Replies to our requests.
    pub successes: usize,
    pub failures: usize,
    /// What a terminal would show, for a PTY session.
    pub screen: Option<vt100::Parser>,
}

impl Output {
    /// When the stdout byte at `offset` arrived.
    pub fn arrival_of(&self, offset: usize) -> Option<Instant> {
        let i = self.arrivals.partition_point(|&(_, len)| len <= offset);
        self.arrivals.get(i).map(|&(at, _)| at)
    }
}

/// Waits until the output satisfies `test` (or the reader is gone), at most `timeout`;
/// false if the time ran out. `wait_for` answers with a read guard on the watch, and it is
/// dropped here: a caller that borrowed the output again while still holding it took a second
/// read lock on one thread, which deadlocks once the reader task waits to write (std's
/// `RwLock` lets a waiting writer go first). That hung a CI run in `wait_screen`.
async fn wait_until(
    output: &mut watch::Receiver<Output>,
    timeout: Duration,
    test: impl FnMut(&Output) -> bool,
) -> bool {
    tokio::time::timeout(timeout, output.wait_for(test))
        .await
        .is_ok()
}

async fn read_channel(mut reader: ChannelReadHalf, output: Arc<watch::Sender<Output>>) {
    while let Some(message) = reader.wait().await {
        let now = Instant::now();
        output.send_modify(|o| match message {
            ChannelMsg::Data { data } => {
                o.stdout.extend_from_slice(&data);
                o.arrivals.push((now, o.stdout.len()));
                if let Some(screen) = &mut o.screen {
                    screen.process(&data);
                }
            }
            ChannelMsg::ExtendedData { data, ext: 1 } => o.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => o.exit_status = Some(exit_status),
            ChannelMsg::Eof => o.eof = true,
            ChannelMsg::Close => o.closed = true,
            ChannelMsg::Success => o.successes += 1,
            ChannelMsg::Failure => o.failures += 1,
            _ => {}
        });
    }
    output.send_modify(|o| o.closed = true);
}

/// One session channel and what it received; the connection lives as long as it does.
pub struct Session {
    pub conn: Connection,
    writer: ChannelWriteHalf<client::Msg>,
    output: watch::Receiver<Output>,
    /// The sending side the reader task also holds, to resize our screen.
    modify: Arc<watch::Sender<Output>>,
    /// How much of stdout [`expect`](Self::expect) has consumed.
    cursor: usize,
    reader: JoinHandle<()>,
}

impl Session {
    /// Sends a channel request and waits for the server's reply, which must be a success.
    pub async fn request<'a, F, Fut>(&'a self, what: &str, send: F)
    where
        F: FnOnce(&'a ChannelWriteHalf<client::Msg>) -> Fut,
        Fut: std::future::Future<Output = Result<(), russh::Error>>,
    {
        assert!(
            self.try_request(what, send).await,
            "the server refused the {what} request"
        );
    }

    /// Sends a channel request and says whether the server granted it, from this one reply
    /// (earlier refusals on the channel do not count).
    pub async fn try_request<'a, F, Fut>(&'a self, what: &str, send: F) -> bool
    where
        F: FnOnce(&'a ChannelWriteHalf<client::Msg>) -> Fut,
        Fut: std::future::Future<Output = Result<(), russh::Error>>,
    {
        let (successes, failures) = {
            let o = self.output.borrow();
            (o.successes, o.failures)
        };
        send(&self.writer)
            .await
            .unwrap_or_else(|e| panic!("sending the {what} request: {e}"));
        let mut output = self.output.clone();
        let replied = tokio::time::timeout(
            WAIT,
            output.wait_for(|o| o.successes + o.failures > successes + failures || o.closed),
        )
        .await
        .unwrap_or_else(|_| panic!("no reply to the {what} request within {WAIT:?}"))
        .expect("the reader is alive");
        // Granted is a success reply, even if the channel has closed since (a quick command
        // that is already done); a channel closed with no reply was not granted.
        replied.failures == failures && replied.successes > successes
    }

    /// Sends bytes as typed (or piped) input.
    pub async fn send(&self, bytes: impl AsRef<[u8]>) {
        self.writer
            .data_bytes(bytes.as_ref().to_vec())
            .await
            .expect("sending data to the server");
    }

    /// Sends a line as a terminal would for a PTY session (ending in CR) or as a pipe would
    /// for a plain one (ending in LF).
    pub async fn say(&self, text: &str) {
        let end = if self.output.borrow().screen.is_some() {
            "\r"
        } else {
            "\n"
        };
        self.send(format!("{text}{end}")).await;
    }

    /// Sends EOF: no more input.
    pub async fn eof(&self) {
        self.writer.eof().await.expect("sending EOF");
    }

    /// Tells the server the terminal now has `cols`×`rows`, and resizes our screen to match.
    pub async fn resize(&self, cols: u16, rows: u16) {
        self.writer
            .window_change(u32::from(cols), u32::from(rows), 0, 0)
            .await
            .expect("sending a window change");
        // Ours is resized at once; text the server drew for the old size is already on it.
        let (c, r) = screen_size(cols, rows);
        self.modify.send_modify(|o| {
            if let Some(screen) = &mut o.screen {
                screen.set_size(r, c);
            }
        });
    }

    /// Waits for `pattern` in stdout after what earlier calls consumed; consumes up to its end
    /// and returns the text from the old position to the end of the match.
    pub async fn expect(&mut self, pattern: &str) -> String {
        self.expect_within(pattern, WAIT).await
    }

    /// [`expect`](Self::expect) with its own deadline.
    pub async fn expect_within(&mut self, pattern: &str, timeout: Duration) -> String {
        let start = self.cursor;
        let needle = pattern.as_bytes();
        let mut output = self.output.clone();
        let found = wait_until(&mut output, timeout, |o| {
            find(&o.stdout[start.min(o.stdout.len())..], needle).is_some() || o.closed
        })
        .await;
        let o = self.output.borrow();
        match found.then(|| find(&o.stdout[start..], needle)).flatten() {
            Some(at) => {
                let end = start + at + needle.len();
                self.cursor = end;
                String::from_utf8_lossy(&o.stdout[start..end]).into_owned()
            }
            None => panic!(
                "{}: waited {timeout:?} for {pattern:?}{}; received since the last match: {:?}",
                self.conn.user,
                if o.closed {
                    " but the channel closed"
                } else {
                    ""
                },
                String::from_utf8_lossy(&o.stdout[start..])
            ),
        }
    }

    /// Waits until stdout (all of it) contains `pattern`; consumes nothing.
    pub async fn wait_text(&self, pattern: &str) {
        let mut output = self.output.clone();
        let needle = pattern.as_bytes();
        let found =
            tokio::time::timeout(WAIT, output.wait_for(|o| find(&o.stdout, needle).is_some()))
                .await;
        if found.is_err() {
            panic!(
                "{}: waited {WAIT:?} for {pattern:?}; received: {:?}",
                self.conn.user,
                self.stdout_text()
            );
        }
    }

    /// Waits until `count` lines of stdout contain `pattern`.
    pub async fn wait_count(
        &self,
        pattern: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut output = self.output.clone();
        let needle = pattern.as_bytes();
        let done = tokio::time::timeout(
            timeout,
            output.wait_for(|o| count_of(&o.stdout, needle) >= count),
        )
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "{}: waited {timeout:?} for {count} × {pattern:?}, got {}",
                self.conn.user,
                count_of(&self.output.borrow().stdout, needle)
            )),
        }
    }

    /// Waits until the screen satisfies `test` (given its text, rows joined with `\n`) and
    /// returns that text. A PTY session only.
    pub async fn wait_screen(&mut self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let mut output = self.output.clone();
        let done = wait_until(&mut output, WAIT, |o| {
            test(&screen_text(
                o.screen.as_ref().expect("a PTY session has a screen"),
            ))
        })
        .await;
        let text = self.screen();
        if !done {
            panic!(
                "{}: waited {WAIT:?} for the screen to show {what}; it shows:\n{text}",
                self.conn.user
            );
        }
        text
    }

    /// The screen's text now: visible rows, trailing blanks trimmed, joined with `\n`.
    pub fn screen(&self) -> String {
        screen_text(
            self.output
                .borrow()
                .screen
                .as_ref()
                .expect("a PTY session has a screen"),
        )
    }

    /// The screen's rows now, trailing blanks trimmed.
    pub fn screen_rows(&self) -> Vec<String> {
        self.screen().split('\n').map(str::to_owned).collect()
    }

    /// The cursor on the screen now: (row, column), both from 0.
    pub fn cursor(&self) -> (u16, u16) {
        self.output
            .borrow()
            .screen
            .as_ref()
            .expect("a PTY session has a screen")
            .screen()
            .cursor_position()
    }

    /// Waits for the exit status and for the channel to close; returns the status.
    pub async fn wait_exit(&self) -> u32 {
        let mut output = self.output.clone();
        let done = wait_until(&mut output, WAIT, |o| o.closed).await;
        let o = self.output.borrow();
        if !done {
            panic!(
                "{}: the channel did not close within {WAIT:?} (exit status {:?}); received {:?}",
                self.conn.user,
                o.exit_status,
                String::from_utf8_lossy(&o.stdout)
            );
        }
        o.exit_status.unwrap_or_else(|| {
            panic!(
                "{}: the channel closed without an exit status; received {:?}",
                self.conn.user,
                String::from_utf8_lossy(&o.stdout)
            )
        })
    }

    /// Waits for the channel to close (or the connection to go).
    pub async fn wait_closed(&self, timeout: Duration) -> Result<(), String> {
        let mut output = self.output.clone();
        tokio::time::timeout(timeout, output.wait_for(|o| o.closed))
            .await
            .map(|_| ())
            .map_err(|_| {
                format!(
                    "{}: the channel did not close within {timeout:?}",
                    self.conn.user
                )
            })
    }

    /// Whether the server sent EOF.
    pub fn got_eof(&self) -> bool {
        self.output.borrow().eof
    }

    /// Runs `f` on what arrived so far.
    pub fn with_output<T>(&self, f: impl FnOnce(&Output) -> T) -> T {
        f(&self.output.borrow())
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.output.borrow().stdout.clone()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.output.borrow().stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.output.borrow().stderr).into_owned()
    }

    pub fn exit_status(&self) -> Option<u32> {
        self.output.borrow().exit_status
    }

    /// Drops the connection without a goodbye (no EOF, no close): as if the network went.
    pub fn drop_connection(self) {
        self.reader.abort();
        drop(self);
    }
}

fn screen_text(parser: &vt100::Parser) -> String {
    let screen = parser.screen();
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen
        .rows(0, cols.get())
        .map(|r| r.trim_end().to_owned())
        .collect();
    rows.join("\n")
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many times `needle` occurs in `haystack` (not overlapping).
pub fn count_of(haystack: &[u8], needle: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = haystack;
    while let Some(at) = find(rest, needle) {
        count += 1;
        rest = &rest[at + needle.len()..];
    }
    count
}

/// The whole line of `text` that contains `needle`, if any.
pub fn line_with<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim_end_matches('\r'))
}

/// Checks that `line` is `HH:MM rest` with the time now in UTC (or a minute ago), and returns
/// `rest`.
pub fn strip_stamp(line: &str) -> &str {
    let (stamp, rest) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("{line:?} has no timestamp"));
    let now = chrono::Utc::now();
    let recent: Vec<String> = [now, now - chrono::TimeDelta::minutes(1)]
        .iter()
        .map(|t| t.format("%H:%M").to_string())
        .collect();
    assert!(
        recent.iter().any(|r| r == stamp),
        "{line:?} should start with the time now (UTC, HH:MM), one of {recent:?}"
    );
    rest
}

// ---------------------------------------------------------------------------------------------
// A TCP stream whose reads can be paused
// ---------------------------------------------------------------------------------------------

/// Pauses and resumes the reads of a [`Gated`] stream.
#[derive(Clone, Default)]
pub struct ReadGate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    paused: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ReadGate {
    pub fn pause(&self) {
        self.0.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.0.paused.store(false, Ordering::SeqCst);
        if let Some(waker) = self.0.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// A stream whose reads stop (return pending, so nothing is taken from the socket) while its
/// gate is paused. Writes always go through.
struct Gated<S> {
    inner: S,
    gate: ReadGate,
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let state = &self.gate.0;
        if state.paused.load(Ordering::SeqCst) {
            *state.waker.lock().unwrap() = Some(cx.waker().clone());
            // Resumed between the check and storing the waker: read now.
            if state.paused.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gated<S> {
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
}

// ---------------------------------------------------------------------------------------------
// Lower level: requests sent without waiting, and their replies counted
// ---------------------------------------------------------------------------------------------

impl Session {
    /// The channel's writing half, to send requests without waiting for their replies.
    pub fn writer(&self) -> &ChannelWriteHalf<client::Msg> {
        &self.writer
    }

    /// Waits until the server has answered `count` requests in all, or closed the channel;
    /// returns the (successes, failures) so far.
    pub async fn wait_replies(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<(usize, usize), String> {
        let mut output = self.output.clone();
        let done = wait_until(&mut output, timeout, |o| {
            o.successes + o.failures >= count || o.closed
        })
        .await;
        let o = self.output.borrow();
        if done {
            Ok((o.successes, o.failures))
        } else {
            Err(format!(
                "{}: {} of {count} replies within {timeout:?}",
                self.conn.user,
                o.successes + o.failures
            ))
        }
    }
}

/// The resident memory of this process (`VmRSS` in `/proc/self/status`), in KiB: the test
/// server runs in the test's own process.
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}
