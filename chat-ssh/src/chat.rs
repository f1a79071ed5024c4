//! The task that owns one connection's chat session (a spoke of the hub and spokes).
//!
//! It selects over three things: input the handler forwarded, events from the member's
//! outbox, and server shutdown. It feeds the first to the session, renders the second, and
//! writes what the session produced to the channel. Writing waits for the client's SSH window,
//! so a client that stops reading only ever stalls its own task; its outbox fills, the hub
//! drops its events (and tells it how many later), and after `stall_timeout` it is cut off.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::net::IpAddr;

use chat_core::journal::{Profile, StoredLine};
use chat_core::rate::TokenBucket;
use chat_core::render::{self, View};
use chat_core::{
    Event, Flow, JoinRequest, NoticeLevel, Request, Session, SessionKind, TermSize, Theme,
};
use chrono::Utc;
use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::hub::{Locked, OutboxEnds, SshOutbox};
use crate::server::Shared;

/// What the handler forwards to the task.
#[derive(Debug)]
pub(crate) enum Input {
    Data(Vec<u8>),
    Resize(TermSize),
    Eof,
}

/// Everything a chat task starts with.
pub(crate) struct ChatStart {
    pub shared: Arc<Shared>,
    pub handle: Handle,
    pub channel: ChannelId,
    pub user: String,
    pub fingerprint: Option<String>,
    /// The terminal size, if the client asked for a PTY.
    pub size: Option<TermSize>,
    pub term: Option<String>,
    /// The address the client connects from.
    pub ip: IpAddr,
    pub input: mpsc::Receiver<Input>,
    pub kill: CancellationToken,
}

/// Most events rendered into one write.
const MAX_BATCH: usize = 256;
/// How long a store lookup (a profile at join, history) may take before we go on without it.
const PROFILE_TIMEOUT: Duration = Duration::from_secs(3);

/// An interactive (PTY) or plain shell session, until the member leaves or the connection ends.
pub(crate) async fn run_chat(mut start: ChatStart) {
    let shared = Arc::clone(&start.shared);
    let profile = load_profile(&shared, start.fingerprint.as_deref()).await;
    let (outbox, ends) = SshOutbox::channel(shared.config.outbox_capacity);
    let OutboxEnds {
        mut events,
        refused,
        closing,
    } = ends;
    let mut request = JoinRequest::named(start.user.clone());
    request.fingerprint = start.fingerprint.clone();
    request.profile = profile;
    request.ip = Some(start.ip);
    let (id, me) = {
        let mut hub = shared.hub.lock();
        let id = hub.join(request, outbox, Utc::now());
        if start.term.as_deref() == Some("dumb") {
            // A dumb terminal shows escape codes as garbage: no colours for it.
            let mut prefs = hub.me(id).map(|me| me.prefs).unwrap_or_default();
            prefs.theme = Theme::Mono;
            hub.set_prefs(id, prefs);
        }
        (id, hub.me(id).expect("a member that just joined exists"))
    };
    info!(member = id.get(), name = %me.name, interactive = start.size.is_some(), "joined");
    let (kind, kind_label) = match start.size {
        Some(size) => (SessionKind::Interactive(size), "interactive"),
        None => (SessionKind::Plain, "plain"),
    };
    shared.metrics.session_opened(kind_label);
    let _closed_session = OnDrop(|| shared.metrics.session_closed(kind_label));
    let mut session = Session::new(id, me, kind, shared.config.hub.max_message_chars);
    let mut writer = Writer::new(&start, shared.config.stall_timeout);
    writer.stop_on(closing.token());
    let mut typing = TokenBucket::new(
        f64::from(shared.config.input_burst_bytes),
        f64::from(shared.config.input_bytes_per_second),
    );
    let closed = closing.token();
    let mut out = Vec::new();
    session.start(&mut out);
    let mut alive = writer.write(&mut out).await;

    while alive {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                session.show_notice(Utc::now(), NoticeLevel::Info, "the server is shutting down; see you soon", &mut out);
                writer.write_briefly(&mut out).await;
                break;
            }
            () = closed.cancelled() => break,
            input = start.input.recv() => {
                let flow = match input {
                    None => break, // the connection is gone
                    Some(Input::Data(bytes)) => {
                        // Typing faster than a person can is slowed down, not refused: while
                        // this task waits, the client's input backs up to its own socket.
                        let wait = typing.take_or_wait(Utc::now(), bytes.len() as f64);
                        if let Ok(wait) = wait.to_std() && !wait.is_zero() {
                            shared.metrics.input_throttled.inc();
                            tokio::time::sleep(wait).await;
                        }
                        session.feed(&bytes, Utc::now(), &mut Locked(&shared.hub), &mut out)
                    }
                    Some(Input::Resize(size)) => {
                        session.resize(size, &mut out);
                        Flow::Continue
                    }
                    Some(Input::Eof) => session.end_of_input(Utc::now(), &mut Locked(&shared.hub), &mut out),
                };
                for request in session.take_requests() {
                    fulfil(&shared, &mut session, request, &mut out).await;
                }
                alive = writer.write(&mut out).await;
                if alive && flow == Flow::Exit {
                    // What the last lines caused is already in the outbox (`echo /who | ssh
                    // host` must print the answer): show it before going.
                    let batch: Vec<Arc<Event>> = std::iter::from_fn(|| events.try_recv().ok()).collect();
                    if !batch.is_empty() {
                        show_batch(&shared, &mut session, &mut writer, &batch, &mut out).await;
                    }
                    break;
                }
            }
            Some(first) = events.recv() => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match events.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                alive = show_batch(&shared, &mut session, &mut writer, &batch, &mut out).await;
                if events.is_empty() && refused.swap(false, Ordering::Relaxed) {
                    shared.hub.lock().flush_missed(id, Utc::now());
                }
            }
        }
    }
    if let Some(reason) = closing.reason() {
        // The hub has removed this member (kicked, banned, or replaced by a newer session of
        // its key): say why if the client is listening, then cut the connection, whether or
        // not it reads.
        info!(member = id.get(), %reason, "closed by the hub");
        session.show_notice(Utc::now(), NoticeLevel::Error, &reason, &mut out);
        writer.write_briefly(&mut out).await;
        // Closing the channel flushes what was written; a client that reads sees why and
        // goes. One that does not is cut off all the same.
        let kill = start.kill.clone();
        let goodbye = async {
            writer.finish(1).await;
            // Wait for the client to hang up (its input closes with the connection).
            while start.input.recv().await.is_some() {}
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
        kill.cancel();
        return;
    }
    shared.hub.lock().leave(id, Utc::now());
    info!(member = id.get(), "left");
    writer.finish(0).await;
}

/// Shows events from the outbox and writes them; false if the connection is gone.
async fn show_batch(
    shared: &Shared,
    session: &mut Session,
    writer: &mut Writer,
    batch: &[Arc<Event>],
    out: &mut Vec<u8>,
) -> bool {
    if let Some(persist) = &shared.persist
        && batch.iter().any(|e| StoredLine::from_event(e).is_some())
    {
        // A line goes out only once it is stored: nothing anyone saw is lost.
        persist.committed().await;
    }
    session.show(batch, out);
    let alive = writer.write(out).await;
    record_latency(shared, batch);
    alive
}

/// Events older than this when written were not live (history replayed on join, messages
/// kept while offline) and are left out of the delivery-latency metric.
const LIVE: Duration = Duration::from_secs(5);

/// Observes, for each live event just written, how long it took from the hub to the socket.
fn record_latency(shared: &Shared, batch: &[Arc<Event>]) {
    let now = Utc::now();
    for event in batch {
        if let Ok(latency) = (now - event.at).to_std()
            && latency < LIVE
        {
            shared.metrics.delivered_after(latency);
        }
    }
}

/// Runs a closure when dropped: the session gauge goes down however the task ends.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// What the store remembers about a key, if there is a store and a key. A store that fails
/// or is slow costs the member its settings for this visit, never the visit.
async fn load_profile(shared: &Shared, fingerprint: Option<&str>) -> Option<Profile> {
    let store = Arc::clone(shared.config.store.as_ref()?);
    let fingerprint = fingerprint?.to_owned();
    let lookup = tokio::task::spawn_blocking(move || store.profile(&fingerprint));
    match tokio::time::timeout(PROFILE_TIMEOUT, lookup).await {
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
            warn!(timeout = ?PROFILE_TIMEOUT, "the store is slow; joining without the member's profile");
            None
        }
    }
}

/// Does what the hub asked the edge to do for the member, and shows the result.
async fn fulfil(shared: &Shared, session: &mut Session, request: Request, out: &mut Vec<u8>) {
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
async fn history(shared: &Shared, room: &str, limit: usize) -> Vec<Event> {
    let room = room.to_owned();
    if let Some(store) = shared.config.store.clone() {
        let lookup_room = room.clone();
        let lookup = tokio::task::spawn_blocking(move || store.history(&lookup_room, limit));
        match tokio::time::timeout(PROFILE_TIMEOUT, lookup).await {
            Ok(Ok(Ok(lines))) => return lines.iter().map(StoredLine::to_event).collect(),
            other => warn!(
                ?other,
                "cannot read history from the store; showing what is in memory"
            ),
        }
    }
    let lines = shared.hub.lock().recent_history(&room, limit);
    lines.iter().map(|e| (**e).clone()).collect()
}

/// A one-shot command (`ssh host /who`): run it as an invisible member, print what it
/// produced (errors on stderr), and exit with status 1 if it failed.
pub(crate) async fn run_exec(start: ChatStart, command: String) {
    let shared = Arc::clone(&start.shared);
    shared.metrics.session_opened("exec");
    let _closed_session = OnDrop(|| shared.metrics.session_closed("exec"));
    let line = match command.trim() {
        c if c.starts_with('/') => c.to_owned(),
        c => format!("/{c}"),
    };
    let (outbox, mut ends) = SshOutbox::channel(shared.config.outbox_capacity);
    let now = Utc::now();
    let mut request = JoinRequest::named(start.user.clone()).invisible();
    request.fingerprint = start.fingerprint.clone();
    request.ip = Some(start.ip);
    let outcome = {
        let mut hub = shared.hub.lock();
        let id = hub.join(request, outbox, now);
        let outcome = hub.submit(id, &line, now);
        hub.leave(id, now);
        outcome
    };
    debug!(command = %line, failed = outcome.failed, "exec");
    let mut events: Vec<Event> = Vec::new();
    while let Ok(event) = ends.events.try_recv() {
        events.push((*event).clone());
    }
    if let Some(Request::History { room, limit }) = outcome.request.clone() {
        let lines = history(&shared, &room, limit).await;
        events.push(Event::notice(
            now,
            NoticeLevel::Info,
            format!("the last {} lines in {room}:", lines.len()),
        ));
        events.extend(lines);
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let prefs = outcome.me.prefs;
    let view = View {
        me: &outcome.me.name,
        prefs: &prefs,
    };
    for event in &events {
        let target = if event.is_error() {
            &mut stderr
        } else {
            &mut stdout
        };
        render::write_plain(&render::event_lines(event, &view).lines, target);
    }
    let mut writer = Writer::new(&start, shared.config.stall_timeout);
    if start.size.is_some() {
        // A PTY needs carriage returns.
        stdout = crlf(&stdout);
        stderr = crlf(&stderr);
    }
    if writer.write(&mut stdout).await && !stderr.is_empty() {
        let _ = start.handle.extended_data(start.channel, 1, stderr).await;
    }
    writer.finish(u32::from(outcome.failed)).await;
}

fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Writes to one channel, waiting for the client's window, but never for longer than the
/// stall limit, and never past the connection being killed.
struct Writer {
    handle: Handle,
    channel: ChannelId,
    stall_timeout: Duration,
    kill: CancellationToken,
    /// A write in progress gives up when this fires (the hub closed the member).
    stop: CancellationToken,
    /// Counts clients cut off for not reading.
    stalled: prometheus_client::metrics::counter::Counter,
}

impl Writer {
    fn new(start: &ChatStart, stall_timeout: Duration) -> Self {
        Self {
            handle: start.handle.clone(),
            channel: start.channel,
            stall_timeout,
            kill: start.kill.clone(),
            stop: CancellationToken::new(),
            stalled: start.shared.metrics.stall_disconnects.clone(),
        }
    }

    /// Makes writes give up when `stop` fires.
    fn stop_on(&mut self, stop: CancellationToken) {
        self.stop = stop;
    }

    /// Sends and clears `out`. Returns false if the connection is gone (or was cut off for
    /// stalling), after which there is no point going on.
    async fn write(&mut self, out: &mut Vec<u8>) -> bool {
        if out.is_empty() {
            return true;
        }
        let bytes = std::mem::take(out);
        tokio::select! {
            sent = tokio::time::timeout(self.stall_timeout, self.handle.data(self.channel, bytes)) => match sent {
                Ok(Ok(())) => true,
                Ok(Err(_)) => false,
                Err(_) => {
                    warn!(stall_timeout = ?self.stall_timeout, "client stopped reading; disconnecting it");
                    self.stalled.inc();
                    self.kill.cancel();
                    false
                }
            },
            () = self.kill.cancelled() => false,
            () = self.stop.cancelled() => false,
        }
    }

    /// Sends a last word (a goodbye) without waiting long for a client that is not reading.
    async fn write_briefly(&mut self, out: &mut Vec<u8>) {
        let stall = std::mem::replace(&mut self.stall_timeout, Duration::from_secs(1));
        let stop = std::mem::replace(&mut self.stop, CancellationToken::new());
        self.write(out).await;
        self.stall_timeout = stall;
        self.stop = stop;
    }

    /// Ends the channel the way a shell does: exit status, EOF, close.
    async fn finish(self, status: u32) {
        if self.kill.is_cancelled() {
            return;
        }
        let goodbye = async {
            let _ = self.handle.exit_status_request(self.channel, status).await;
            let _ = self.handle.eof(self.channel).await;
            let _ = self.handle.close(self.channel).await;
        };
        tokio::select! {
            _ = tokio::time::timeout(self.stall_timeout, goodbye) => {}
            () = self.kill.cancelled() => {}
        }
    }
}
