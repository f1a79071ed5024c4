//! The task that owns one connection's chat session (a spoke of the hub and spokes).
//!
//! It selects over input the handler forwarded, events from the member's outbox, server
//! shutdown, and the hub closing the member. It feeds input to the session, renders events,
//! and queues what the session produced on the channel's [`Output`], a writer task of its own.
//! A client that stops reading only ever holds up its own writer: its backlog grows to a
//! bound, this task stops taking its events (the hub drops them and says how many later), and
//! after `stall_timeout` the writer cuts it off.

mod exec;
mod json;
mod lookups;
mod output;
mod web;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_core::rate::TokenBucket;
use chat_core::{Event, Flow, NoticeLevel, Session, SessionKind, TermSize, Theme};
use chrono::Utc;
use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub(crate) use exec::run_exec;
pub(crate) use json::run_json;
use output::{Output, Target};

use chat_server::accounts::Arrival;
use chat_server::directory::Lookup;
use chat_server::keys::CheckedKey;
use chat_server::persist::Reader;

use crate::server::Shared;
use chat_server::hub::{Locked, MemberOutbox, OutboxEnds};

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
    /// The key the client proved, if any, and what the directory said of it. Boxed: inline it
    /// is 384 bytes, and the chat task's future keeps its `ChatStart` twice for the session's
    /// life (an `async fn` holds its argument and its local), as russh's session future does
    /// the connection's handler, which holds the key too.
    pub key: Option<Box<(CheckedKey, Lookup)>>,
    /// The terminal size, if the client asked for a PTY.
    pub size: Option<TermSize>,
    pub term: Option<String>,
    /// The address the client connects from.
    pub ip: IpAddr,
    pub input: mpsc::Receiver<Input>,
    pub kill: CancellationToken,
}

impl ChatStart {
    fn target(&self) -> Target {
        Target {
            handle: self.handle.clone(),
            channel: self.channel,
            stall_timeout: self.shared.config.stall_timeout,
            kill: self.kill.clone(),
            stalled: self.shared.runtime.metrics.stall_disconnects.clone(),
        }
    }
}

/// Most events rendered into one write.
const MAX_BATCH: usize = 256;
/// How long a goodbye (a last notice, then closing the channel) may take.
const GOODBYE: Duration = Duration::from_secs(2);
/// How long a member closed by the hub (kicked, banned) may take to accept its last words
/// before it counts as not reading and is cut off without them.
const STALLED_GRACE: Duration = Duration::from_millis(50);

/// Why the loop ended.
enum Ending {
    /// The member left (`/exit`, Ctrl-D, end of input).
    Left,
    /// The connection went away.
    Gone,
    ShuttingDown,
    /// The hub removed the member.
    Closed,
}

/// An interactive (PTY) or plain shell session, until the member leaves or the connection ends.
pub(crate) async fn run_chat(mut start: ChatStart) {
    let shared = Arc::clone(&start.shared);
    let (outbox, ends) = MemberOutbox::channel(shared.runtime.config.outbox_capacity);
    let OutboxEnds {
        mut events,
        refused,
        closing,
    } = ends;
    // Boxed: the directory and store lookups' futures are large, and inline they would size
    // this task (which lives as long as the member stays) for their brief moment.
    let request = Box::pin(shared.runtime.join_request(Arrival {
        name: start.user.clone(),
        key: start.key.as_deref().cloned(),
        ip: Some(start.ip),
        visible: true,
    }))
    .await;
    let (id, me) = {
        let mut hub = shared.runtime.hub.lock();
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
    shared.runtime.metrics.session_opened(kind_label);
    let _closed_session = OnDrop(|| shared.runtime.metrics.session_closed(kind_label));
    let mut session = Session::new(id, me, kind, shared.runtime.config.hub.max_message_chars);
    let output = Output::spawn(start.target());
    let mut typing = TokenBucket::new(
        f64::from(shared.config.input_burst_bytes),
        f64::from(shared.config.input_bytes_per_second),
    );
    let closed = closing.token();
    let mut out = Vec::new();
    session.start(&mut out);
    output.send(&mut out);

    // Set while the client is so far behind that what its typing would echo is discarded.
    let mut echo_skipped = false;
    let mut scratch = Vec::new();
    let mut reader = Reader::default();
    let ending = {
        // What ends the session from outside, made once (not on every turn of the loop, where
        // re-registering three wake-ups per event cost more than the event).
        let stop = async {
            tokio::select! {
                biased;
                () = shared.runtime.shutdown.cancelled() => Ending::ShuttingDown,
                () = closed.cancelled() => Ending::Closed,
                () = output.stopped() => Ending::Gone,
            }
        };
        tokio::pin!(stop);
        loop {
            let room = !output.is_backed_up();
            if room && echo_skipped {
                session.repaint(&mut out);
                output.send(&mut out);
                echo_skipped = false;
            }
            tokio::select! {
                biased;
                ending = &mut stop => break ending,
                // Input is always taken, even from a client far behind on reading: the window
                // adjustment that lets its output move may be queued behind this very input.
                input = start.input.recv() => {
                    let out = if room {
                        &mut out
                    } else {
                        echo_skipped = true;
                        scratch.clear();
                        &mut scratch
                    };
                    let flow = match input {
                        None => break Ending::Gone,
                        Some(Input::Data(bytes)) => {
                            // Typing faster than a person can is slowed down, not refused: while
                            // this task waits, the client's input backs up to its own socket.
                            let wait = typing.take_or_wait(Utc::now(), bytes.len() as f64);
                            if let Ok(wait) = wait.to_std() && !wait.is_zero() {
                                shared.runtime.metrics.input_throttled.inc();
                                tokio::time::sleep(wait).await;
                            }
                            session.feed(&bytes, Utc::now(), &mut Locked(&shared.runtime.hub), out)
                        }
                        Some(Input::Resize(size)) => {
                            session.resize(size, out);
                            Flow::Continue
                        }
                        Some(Input::Eof) => session.end_of_input(Utc::now(), &mut Locked(&shared.runtime.hub), out),
                    };
                    for request in session.take_requests() {
                        let my_key = start.key.as_deref().map(|(key, _)| key.fingerprint.as_str());
                        Box::pin(lookups::fulfil(&shared, &mut session, my_key, request, out)).await;
                    }
                    if room {
                        output.send(out);
                    }
                    if flow == Flow::Exit {
                        // What the last lines caused is already in the outbox (`echo /who | ssh
                        // host` must print the answer): show it before going.
                        let batch: Vec<Arc<Event>> = std::iter::from_fn(|| events.try_recv().ok()).collect();
                        show(&shared, &mut session, &output, &batch, &mut reader, out).await;
                        break Ending::Left;
                    }
                }
                Some(first) = events.recv(), if room => {
                    let mut batch = vec![first];
                    batch.extend(std::iter::from_fn(|| events.try_recv().ok()).take(MAX_BATCH));
                    show(&shared, &mut session, &output, &batch, &mut reader, &mut out).await;
                    if events.is_empty() && refused.swap(false, Ordering::Relaxed) {
                        shared.runtime.hub.lock().flush_missed(id, Utc::now());
                    }
                }
                () = output.drained(), if !room => {}
            }
        }
    };

    match ending {
        Ending::Left | Ending::Gone => {
            shared.runtime.hub.lock().leave(id, Utc::now());
            info!(member = id.get(), "left");
            output.finish(0, GOODBYE).await;
        }
        Ending::ShuttingDown => {
            session.show_notice(
                Utc::now(),
                NoticeLevel::Info,
                "the server is shutting down; see you soon",
                &mut out,
            );
            output.send(&mut out);
            shared.runtime.hub.lock().leave(id, Utc::now());
            output.finish(0, GOODBYE).await;
        }
        Ending::Closed => {
            // The hub has removed this member (kicked, banned, or replaced by a newer session
            // of its key): say why if the client is listening, close the channel, and cut
            // the connection whether or not it reads.
            let reason = closing.reason().unwrap_or_default();
            info!(member = id.get(), %reason, "closed by the hub");
            session.show_notice(Utc::now(), NoticeLevel::Error, &reason, &mut out);
            output.send(&mut out);
            if !output.drains_within(STALLED_GRACE).await {
                // A client that is not reading cannot see why, and would keep the goodbye
                // waiting on its window: cut it off now.
                info!(member = id.get(), "not reading; cut off at once");
                start.kill.cancel();
                return;
            }
            let goodbye = async {
                output.finish(1, GOODBYE).await;
                // Wait for the client to hang up (its input closes with the connection).
                while start.input.recv().await.is_some() {}
            };
            let _ = tokio::time::timeout(GOODBYE, goodbye).await;
            start.kill.cancel();
        }
    }
}

/// Shows events from the outbox and queues them for the client.
async fn show(
    shared: &Shared,
    session: &mut Session,
    output: &Output,
    batch: &[Arc<Event>],
    reader: &mut Reader,
    out: &mut Vec<u8>,
) {
    if batch.is_empty() {
        return;
    }
    // A line goes out only once it is stored, and so does an answer that promises a record:
    // nothing anyone saw or was told is lost.
    reader.name.clone_from(&session.me().name);
    let warning = shared.runtime.persist.hold_back(batch, reader).await;
    session.show(batch, out);
    if let Some(warning) = warning {
        session.show_event(&warning, out);
    }
    output.send(out);
    record_latency(shared, batch);
}

/// Events older than this when written were not live (history replayed on join, messages
/// kept while offline) and are left out of the delivery-latency metric.
const LIVE: Duration = Duration::from_secs(5);

/// Observes, for each live event just queued, how long it took from the hub to the socket.
fn record_latency(shared: &Shared, batch: &[Arc<Event>]) {
    let now = Utc::now();
    for event in batch {
        if let Ok(latency) = (now - event.at).to_std()
            && latency < LIVE
        {
            shared.runtime.metrics.delivered_after(latency);
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
