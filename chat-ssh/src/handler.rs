//! The russh handler of one connection: authentication policy, and forwarding.
//!
//! The handler decides who gets in and with which identity, and turns channel requests into a
//! chat task ([`crate::chat`]). After that it only forwards what arrives (bytes, window sizes,
//! EOF) to the task, which owns the session. When the connection ends, russh drops the handler,
//! the task's input closes, and the task leaves the hub: cleanup does not depend on
//! `channel_close`, which russh does not call for a dropped TCP connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_core::TermSize;
use futures_util::FutureExt;
use russh::keys::{Algorithm, HashAlg};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, info};

use chat_server::accounts::KeyVerdict;
use chat_server::directory::Lookup;
use chat_server::keys::{self, CheckedKey};

use crate::chat::{self, ChatStart, Input};
use crate::limits::HandshakeSlot;
use crate::server::Shared;

/// How many input messages may wait for the chat task before the client is slowed down.
const INPUT_QUEUE: usize = 64;

/// The longest terminal type kept, from a PTY request or `env TERM`: a client may send a
/// packet's worth (256 KiB), which would otherwise stay with its connection for its life.
/// Real ones (`xterm-256color`, `screen.xterm-256color`) are far shorter.
const MAX_TERM_CHARS: usize = 64;

/// One connection's handler.
pub(crate) struct ConnectionHandler {
    shared: Arc<Shared>,
    peer: SocketAddr,
    span: Span,
    /// Given back when the connection authenticates.
    handshake: Option<HandshakeSlot>,
    /// Set on authentication; the auth deadline checks it.
    authenticated: Arc<AtomicBool>,
    /// Cuts this connection off.
    kill: CancellationToken,
    /// The SSH username, which becomes the first nick.
    user: String,
    /// The key the client proved, if any, and what the directory said of it: boxed, because
    /// russh's session future keeps this handler twice (see `chat::ChatStart::key`).
    key: Option<Box<(CheckedKey, Lookup)>>,
    /// The one session channel a connection may have.
    channel: Option<ChannelState>,
    /// When the TCP connection was accepted, for the handshake-duration metric.
    accepted_at: Instant,
    /// Why this client may not come in, once we know: shown to it through
    /// keyboard-interactive (the one place an SSH client prints a server's words before
    /// authentication succeeds), then it is refused.
    refusal: Option<String>,
    /// This connection's sessions, for the watch that closes it when it holds none.
    sessions: Arc<SessionCount>,
    /// Cancelled when the handler is dropped (the connection is over) or the connection is
    /// cut off: the watch then has nothing left to do.
    gone: CancellationToken,
}

/// How many of a connection's sessions (shells, commands) run now, and how many ever started.
#[derive(Debug, Default)]
struct SessionCount {
    running: AtomicUsize,
    started: AtomicU64,
    /// Wakes the watches when a session starts: they have nothing left to do.
    start: Notify,
}

/// Held by a running session's task.
struct Running(Arc<SessionCount>);

impl Running {
    fn start(sessions: &Arc<SessionCount>) -> Running {
        sessions.started.fetch_add(1, Ordering::AcqRel);
        sessions.running.fetch_add(1, Ordering::AcqRel);
        sessions.start.notify_waiters();
        Running(Arc::clone(sessions))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Closes a connection that holds no running session `no_session_timeout` after authenticating
/// or after its last session ended: otherwise it would keep its connection slot, unseen by
/// `/who` and out of operators' reach, for as long as it answers keepalives.
struct NoSessionWatch {
    sessions: Arc<SessionCount>,
    timeout: Duration,
    gone: CancellationToken,
    kill: CancellationToken,
    shutdown: CancellationToken,
}

impl NoSessionWatch {
    async fn run(self) {
        let started = self.sessions.started.load(Ordering::Acquire);
        tokio::select! {
            () = tokio::time::sleep(self.timeout) => {}
            // A session that starts has its own watch for when it ends.
            () = self.sessions.start.notified() => return,
            () = self.gone.cancelled() => return,
            () = self.shutdown.cancelled() => return,
        }
        // The wake-up is missed by a watch not yet waiting; the count is not.
        if self.sessions.running.load(Ordering::Acquire) == 0
            && self.sessions.started.load(Ordering::Acquire) == started
        {
            info!(timeout = ?self.timeout, "no session; disconnecting");
            self.kill.cancel();
        }
    }
}

/// `session`, holding `running` until it ends, then `watch`.
///
/// Combinators, not an `async move` block: a block that captures `session` and awaits it keeps
/// two copies of its state, the captured one and the one being awaited, and the chat task's
/// future is a few KiB. With the block every idle session cost 3.3 KiB more (heaptrack: the
/// chat task's allocation grew from 2.1 to 5.4 KiB; issue 14).
fn counted<F: Future<Output = ()>>(
    session: F,
    running: Running,
    watch: NoSessionWatch,
) -> impl Future<Output = ()> {
    session
        .map(move |()| drop(running))
        .then(move |()| watch.run())
}

/// What a session channel asked for before its shell or command started.
struct ChannelState {
    id: ChannelId,
    /// Terminal type and size, if a PTY was requested.
    pty: Option<(String, TermSize)>,
    /// `TERM` from an `env` request, which wins over the PTY's terminal type.
    env_term: Option<String>,
    /// The chat task's input, once started.
    input: Option<mpsc::Sender<Input>>,
}

impl ConnectionHandler {
    pub(crate) fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        span: Span,
        handshake: HandshakeSlot,
        authenticated: Arc<AtomicBool>,
        kill: CancellationToken,
    ) -> Self {
        Self {
            accepted_at: Instant::now(),
            shared,
            peer,
            span,
            handshake: Some(handshake),
            authenticated,
            gone: kill.child_token(),
            kill,
            user: String::new(),
            key: None,
            channel: None,
            refusal: None,
            sessions: Arc::default(),
        }
    }

    /// The watch that closes this connection if it holds no session for a while.
    fn no_session_watch(&self) -> NoSessionWatch {
        NoSessionWatch {
            sessions: Arc::clone(&self.sessions),
            timeout: self.shared.config.no_session_timeout,
            gone: self.gone.clone(),
            kill: self.kill.clone(),
            shutdown: self.shared.runtime.shutdown.clone(),
        }
    }

    /// `session` counted as running while it runs, and then watched: a connection left
    /// without a session is closed.
    fn counted<F: Future<Output = ()>>(&self, session: F) -> impl Future<Output = ()> + use<F> {
        counted(
            session,
            Running::start(&self.sessions),
            self.no_session_watch(),
        )
    }

    /// How long the directory may take to answer for this connection's key: what is left of
    /// the auth deadline, and never more than a few seconds.
    fn lookup_deadline(&self) -> std::time::Duration {
        let left = self
            .shared
            .config
            .auth_timeout
            .saturating_sub(self.accepted_at.elapsed());
        left.min(std::time::Duration::from_secs(5))
            .max(std::time::Duration::from_millis(100))
    }

    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(Self::other_methods()),
            partial_success: false,
        }
    }

    /// The methods a keyless client may still try after `none`.
    fn other_methods() -> MethodSet {
        MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..])
    }

    /// SHA-1 RSA signatures (`ssh-rsa`) are refused; RSA with SHA-2 is fine.
    fn is_sha1_rsa(algorithm: &Algorithm) -> bool {
        matches!(algorithm, Algorithm::Rsa { hash: None })
    }

    /// Starts the chat task for this channel and gives it its input.
    fn start(&mut self, session: &Session, channel: ChannelId, what: Start) -> bool {
        let Some(state) = self
            .channel
            .as_mut()
            .filter(|s| s.id == channel && s.input.is_none())
        else {
            return false;
        };
        let (input, receiver) = mpsc::channel(INPUT_QUEUE);
        state.input = Some(input);
        let term = state
            .env_term
            .clone()
            .or_else(|| state.pty.as_ref().map(|(t, _)| t.clone()));
        let start = ChatStart {
            shared: Arc::clone(&self.shared),
            handle: session.handle(),
            channel,
            user: self.user.clone(),
            key: self.key.clone(),
            size: state.pty.as_ref().map(|(_, size)| *size),
            term,
            ip: self.peer.ip(),
            input: receiver,
            kill: self.kill.clone(),
        };
        let task = match what {
            Start::Shell => self.shared.runtime.tracker.spawn(
                self.counted(chat::run_chat(start))
                    .instrument(self.span.clone()),
            ),
            // `ssh host json`: the JSON protocol for programs, on stdin and stdout.
            Start::Exec(command) if command.trim() == "json" => self.shared.runtime.tracker.spawn(
                self.counted(chat::run_json(start))
                    .instrument(self.span.clone()),
            ),
            Start::Exec(command) => self.shared.runtime.tracker.spawn(
                self.counted(chat::run_exec(start, command))
                    .instrument(self.span.clone()),
            ),
        };
        drop(task);
        true
    }

    /// Forwards input to the chat task. A task that has ended just drops it.
    async fn forward(&self, channel: ChannelId, input: Input) {
        let sender = self
            .channel
            .as_ref()
            .filter(|s| s.id == channel)
            .and_then(|s| s.input.clone());
        if let Some(sender) = sender {
            let _ = sender.send(input).await;
        }
    }
}

enum Start {
    Shell,
    Exec(String),
}

impl russh::server::Handler for ConnectionHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        // Accepting `none` would let OpenSSH in before it offers its keys, and its users would
        // never be identified by key. Keyless users come in by keyboard-interactive instead.
        self.user = user.to_owned();
        Ok(Auth::Reject {
            proceed_with_methods: Some(Self::other_methods()),
            partial_success: false,
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if Self::is_sha1_rsa(offer.algorithm) {
            debug!(parent: &self.span, "refused an ssh-rsa (SHA-1) key offer");
            return Ok(Auth::Reject {
                proceed_with_methods: Some(Self::other_methods()),
                partial_success: false,
            });
        }
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if Self::is_sha1_rsa(key.algorithm) {
            return Ok(Auth::Reject {
                proceed_with_methods: Some(Self::other_methods()),
                partial_success: false,
            });
        }
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        let checked = match keys::check_key(key.public_key.clone()) {
            Ok(checked) => checked,
            Err(error) => {
                self.shared
                    .runtime
                    .metrics
                    .authenticated("publickey", false);
                info!(parent: &self.span, user, %fingerprint, %error, "refused a weak key");
                self.refusal = Some(format!("Your key cannot log in here: {error}."));
                return Ok(self.reject());
            }
        };
        let deadline = self.lookup_deadline();
        // Boxed: the lookup's future is large and lives only for this call.
        let KeyVerdict { refusal, lookup } = Box::pin(self.shared.runtime.check_key(
            &checked,
            user,
            Some(self.peer.ip()),
            deadline,
        ))
        .await;
        if let Some(refusal) = refusal {
            self.shared
                .runtime
                .metrics
                .authenticated("publickey", false);
            info!(parent: &self.span, user, %fingerprint, %refusal, "refused a key");
            self.refusal = Some(refusal);
            return Ok(self.reject());
        }
        self.shared.runtime.metrics.authenticated("publickey", true);
        let account = lookup.account().map(|a| a.name.clone());
        info!(parent: &self.span, user, %fingerprint, account = account.as_deref().unwrap_or("none"), method = "publickey", "authenticated");
        self.user = user.to_owned();
        self.span.record("fingerprint", fingerprint.as_str());
        self.key = Some(Box::new((checked, lookup)));
        Ok(Auth::Accept)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let refusal = self
            .refusal
            .clone()
            .or_else(|| self.shared.runtime.check_keyless(Some(self.peer.ip())));
        if let Some(refusal) = refusal {
            if response.is_some() {
                // The client has seen why; now it is refused, and not asked again (OpenSSH
                // would otherwise retry keyboard-interactive and print the reason thrice).
                return Ok(Auth::Reject {
                    proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
                    partial_success: false,
                });
            }
            self.shared
                .runtime
                .metrics
                .authenticated("keyboard-interactive", false);
            info!(parent: &self.span, user, %refusal, "refused");
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: refusal.into(),
                prompts: Vec::new().into(),
            });
        }
        // No questions: a keyless user joins with an unverified name.
        self.shared
            .runtime
            .metrics
            .authenticated("keyboard-interactive", true);
        info!(parent: &self.span, user, method = "keyboard-interactive", "authenticated without a key");
        self.user = user.to_owned();
        self.key = None;
        Ok(Auth::Accept)
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.authenticated.store(true, Ordering::Release);
        self.handshake = None;
        let watch = self.no_session_watch().run().instrument(self.span.clone());
        drop(self.shared.runtime.tracker.spawn(watch));
        self.shared
            .runtime
            .metrics
            .handshake_seconds
            .observe(self.accepted_at.elapsed().as_secs_f64());
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // One session channel at a time. One whose session has ended (its task let go of its
        // input), or that we closed, no longer counts: russh forgets a channel once we close
        // it, and does not call `channel_close` when the client confirms, so this is where we
        // learn it; and the close we queued may not have reached russh yet when the client,
        // told the command's exit, opens the next. A client may then start another session on
        // the same connection, as an OpenSSH control master does.
        if let Some(open) = &self.channel
            && is_open(session, open.id)
            && !open.input.as_ref().is_some_and(mpsc::Sender::is_closed)
        {
            debug!(parent: &self.span, "refused a second session channel");
            return Ok(()); // dropping `reply` refuses the channel
        }
        self.channel = Some(ChannelState {
            id: channel.id(),
            pty: None,
            env_term: None,
            input: None,
        });
        // The Channel object is dropped: russh would queue every event into it and stall the
        // whole session once its queue filled, since nobody reads it. The handler callbacks
        // deliver everything we need.
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self
            .channel
            .as_mut()
            .filter(|s| s.id == channel && s.input.is_none())
        {
            Some(state) => {
                state.pty = Some((
                    terminal_type(term),
                    TermSize::from_reported(col_width, row_height),
                ));
                session.channel_success(channel)?;
            }
            None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.channel.as_mut().filter(|s| s.id == channel) {
            Some(state) if variable_name == "TERM" => {
                state.env_term = Some(terminal_type(variable_value));
                session.channel_success(channel)?;
            }
            _ => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.start(session, channel, Start::Shell) {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data).into_owned();
        if self.start(session, channel, Start::Exec(command)) {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        debug!(parent: &self.span, subsystem = name, "refused a subsystem request");
        session.channel_failure(channel)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // russh's default does not answer at all, and a client that asked for a reply (`ssh
        // -X` does) would wait for it, or take the next reply for it.
        debug!(parent: &self.span, "refused X11 forwarding");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let size = TermSize::from_reported(col_width, row_height);
        if let Some(state) = self.channel.as_mut().filter(|s| s.id == channel)
            && let Some((_, pty_size)) = state.pty.as_mut()
        {
            *pty_size = size;
        }
        self.forward(channel, Input::Resize(size)).await;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(channel, Input::Data(data.to_vec())).await;
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(channel, Input::Eof).await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channel.as_ref().is_some_and(|s| s.id == channel) {
            // Dropping the input ends the chat task, which leaves the hub.
            self.channel = None;
        }
        Ok(())
    }
}

impl Drop for ConnectionHandler {
    fn drop(&mut self) {
        self.gone.cancel();
        debug!(parent: &self.span, peer = %self.peer, "connection handler dropped");
    }
}

/// Whether russh still holds `channel` open. It forgets a channel once we have closed it, and
/// then answers 0 for its packet size (ours, never 0 for an open channel).
fn is_open(session: &Session, channel: ChannelId) -> bool {
    session.max_packet_size(&channel) != 0
}

/// A terminal type as the client reported it, cut to [`MAX_TERM_CHARS`].
fn terminal_type(reported: &str) -> String {
    reported.chars().take(MAX_TERM_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_type_is_kept_whole_up_to_its_limit_and_cut_beyond() {
        assert_eq!(terminal_type("xterm-256color"), "xterm-256color");
        let huge = "é".repeat(100_000);
        let kept = terminal_type(&huge);
        assert_eq!(kept.chars().count(), MAX_TERM_CHARS);
        assert!(huge.starts_with(&kept));
    }

    fn watch_of(sessions: &Arc<SessionCount>, kill: &CancellationToken) -> NoSessionWatch {
        NoSessionWatch {
            sessions: Arc::clone(sessions),
            timeout: Duration::from_millis(50),
            gone: CancellationToken::new(),
            kill: kill.clone(),
            shutdown: CancellationToken::new(),
        }
    }

    #[test]
    fn counting_a_session_adds_a_few_words_to_its_future_not_a_second_copy_of_it() {
        let sessions = Arc::<SessionCount>::default();
        let state = [7u8; 4096];
        let session = async move {
            tokio::task::yield_now().await;
            std::hint::black_box(&state);
        };
        let alone = std::mem::size_of_val(&session);
        let counted = counted(
            session,
            Running::start(&sessions),
            watch_of(&sessions, &CancellationToken::new()),
        );
        let size = std::mem::size_of_val(&counted);
        assert!(
            size < alone + 256,
            "a {alone}-byte session became a {size}-byte counted future"
        );
    }

    #[tokio::test]
    async fn a_counted_session_is_running_until_it_ends_and_then_its_connection_is_watched() {
        let sessions = Arc::<SessionCount>::default();
        let kill = CancellationToken::new();
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(counted(
            async move {
                let _ = ended.await;
            },
            Running::start(&sessions),
            watch_of(&sessions, &kill),
        ));
        tokio::task::yield_now().await;
        assert_eq!(sessions.running.load(Ordering::Acquire), 1);
        end.send(()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(sessions.running.load(Ordering::Acquire), 0);
        assert!(!kill.is_cancelled(), "the watch waits its timeout first");
        task.await.unwrap();
        assert!(
            kill.is_cancelled(),
            "no session after the timeout: disconnected"
        );
    }
}
