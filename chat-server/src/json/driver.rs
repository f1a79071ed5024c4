//! The JSON session of one connection, whatever carries it: [`run`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chat_core::rate::TokenBucket;
use chat_core::{Event, EventKind, MemberId, NoticeLevel, Request};
use chrono::{DateTime, Utc};
use tracing::info;

use super::lines::LineReader;
use super::protocol::{self, ClientMessage, Encoder, PROTOCOL, ProtocolError, ServerBody};
use crate::Runtime;
use crate::accounts::Arrival;
use crate::hub::{MemberOutbox, OutboxEnds};
use crate::persist::Reader;

/// What the client sent, as the transport received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonInput {
    /// Bytes of a stream (SSH stdin): messages are the lines in it, split at `\n`, in chunks
    /// of any size.
    Bytes(Vec<u8>),
    /// One whole message (a WebSocket text frame), with or without a trailing newline.
    Message(Vec<u8>),
    /// The client will send no more (EOF): a last unterminated line is still read.
    Eof,
}

/// Where the client's input comes from.
pub trait JsonSource: Send {
    /// The next input, or `None` once the connection is gone. Must be cancel-safe (the
    /// driver drops it when something else happens first): `mpsc::Receiver::recv` and a
    /// WebSocket stream's `next` are.
    fn recv(&mut self) -> impl Future<Output = Option<JsonInput>> + Send;
}

/// Where the server's lines go. Sending never waits: the transport queues the bytes (its own
/// writer task sends them) and says when its backlog is too long, so that a client that stops
/// reading holds up only itself. The transport also enforces the stall limit: it cuts off a
/// client that has taken nothing for that long, and then `stopped` resolves.
pub trait JsonSink: Send + Sync {
    /// Queues bytes (whole lines, each ending in `\n`) for the client.
    fn send(&self, bytes: Vec<u8>);
    /// Whether the client is so far behind that the driver should stop taking its events
    /// (the hub then drops them for it and counts them: `missed`).
    fn is_backed_up(&self) -> bool;
    /// Resolves when some of the backlog has gone out.
    fn drained(&self) -> impl Future<Output = ()> + Send;
    /// Resolves once the connection is gone or was cut off.
    fn stopped(&self) -> impl Future<Output = ()> + Send;
}

/// How fast a client may send: the terminal's limits.
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    /// Bytes a client may send at once, then `bytes_per_second`; beyond that its input is
    /// slowed down (not refused), as a terminal's typing is.
    pub burst_bytes: u32,
    pub bytes_per_second: u32,
}

/// Why a session ended, for the transport to close the connection accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonEnding {
    /// The client left (`/exit`, EOF): close normally (SSH: exit status 0).
    Left,
    /// The connection went away or was cut off.
    Gone,
    /// The server is shutting down; the client was told (`bye`).
    ShuttingDown,
    /// The hub removed the member (kick, ban, a newer session of the key); the client was
    /// told why (`bye`). Close the connection even if the client does not hang up.
    Closed(String),
}

/// Most events encoded into one write.
const MAX_BATCH: usize = 256;

/// Runs one member's JSON session from joining to leaving: the entry point of every JSON
/// transport (the SSH `json` exec command; the web front-end's `/ws` WebSocket).
///
/// `arrival` is who the transport authenticated (the same as a terminal session's: name,
/// key and its directory lookup, address); the member joins the hub flagged as a bot. The
/// driver sends `hello`, then the messages of the protocol as lines on `sink`, and reads the
/// client's messages from `source`, until one of the endings; it has left the hub when it
/// returns. Backpressure is the terminal's: the member's outbox is bounded
/// (`outbox_capacity`), events are not taken while the sink is backed up (the hub drops and
/// counts them, and the client gets `missed`), and the sink cuts off a client stalled past
/// its limit.
///
/// A WebSocket adapter is a [`JsonSource`] over the socket's incoming text frames (each a
/// [`JsonInput::Message`]; a close frame or the end of the stream is `None`), a [`JsonSink`]
/// over an outgoing queue with a writer task (one text frame per line), and
/// `let ending = run(&runtime, arrival, limits, &mut source, &sink).await;` followed by
/// closing the socket.
pub async fn run<I: JsonSource, O: JsonSink>(
    runtime: &Runtime,
    arrival: Arrival,
    limits: InputLimits,
    source: &mut I,
    sink: &O,
) -> JsonEnding {
    run_as(runtime, arrival, limits, true, source, sink).await
}

/// [`run`], with whether the member is shown as a bot: a person in a browser (the web
/// front-end's `/ws`) is not one.
pub async fn run_as<I: JsonSource, O: JsonSink>(
    runtime: &Runtime,
    arrival: Arrival,
    limits: InputLimits,
    bot: bool,
    source: &mut I,
    sink: &O,
) -> JsonEnding {
    let (outbox, ends) = MemberOutbox::channel(runtime.config.outbox_capacity);
    let OutboxEnds {
        mut events,
        refused,
        closing,
    } = ends;
    let my_key = arrival.key.as_ref().map(|(key, _)| key.fingerprint.clone());
    // Boxed: the directory and store lookups' futures are large.
    let mut request = Box::pin(runtime.join_request(arrival)).await;
    request.bot = bot;
    let (id, me) = {
        let mut hub = runtime.hub.lock();
        let id = hub.join(request, outbox, Utc::now());
        (id, hub.me(id).expect("a member that just joined exists"))
    };
    info!(member = id.get(), name = %me.name, "joined (json)");
    runtime.metrics.session_opened("json");
    let mut conn = Connection {
        runtime,
        id,
        my_key,
        name: me.name.clone(),
        encoder: Encoder::new(),
        reader: LineReader::new(protocol::MAX_LINE_BYTES),
        errors: TokenBucket::new(
            f64::from(runtime.config.hub.line_burst),
            runtime.config.hub.lines_per_second,
        ),
        told_errors: false,
        stored: Reader::default(),
        out: Vec::new(),
    };
    let hello = ServerBody::Hello {
        protocol: PROTOCOL,
        server: format!("chat-server {}", crate::VERSION),
        name: me.name,
        room: me.room,
        bot,
    };
    conn.push(Utc::now(), hello);
    sink.send(std::mem::take(&mut conn.out));
    let mut typing = TokenBucket::new(
        f64::from(limits.burst_bytes),
        f64::from(limits.bytes_per_second),
    );
    let closed = closing.token();
    let ending = {
        let stop = async {
            tokio::select! {
                biased;
                () = runtime.shutdown.cancelled() => JsonEnding::ShuttingDown,
                () = closed.cancelled() => JsonEnding::Closed(closing.reason().unwrap_or_default()),
                () = sink.stopped() => JsonEnding::Gone,
            }
        };
        tokio::pin!(stop);
        loop {
            let room = !sink.is_backed_up();
            tokio::select! {
                biased;
                ending = &mut stop => break ending,
                // Input is always taken, even from a client far behind on reading (see the
                // SSH front-end's writer): what it causes goes through the bounded outbox,
                // and the few direct answers (errors, pongs) are bounded by the input limits.
                input = source.recv() => {
                    let lines = match input {
                        None => break JsonEnding::Gone,
                        Some(JsonInput::Bytes(bytes)) => {
                            let wait = typing.take_or_wait(Utc::now(), bytes.len() as f64);
                            if let Ok(wait) = wait.to_std() && !wait.is_zero() {
                                runtime.metrics.input_throttled.inc();
                                tokio::time::sleep(wait).await;
                            }
                            conn.reader.feed(&bytes)
                        }
                        Some(JsonInput::Message(mut bytes)) => {
                            let wait = typing.take_or_wait(Utc::now(), bytes.len() as f64);
                            if let Ok(wait) = wait.to_std() && !wait.is_zero() {
                                runtime.metrics.input_throttled.inc();
                                tokio::time::sleep(wait).await;
                            }
                            if bytes.last() == Some(&b'\n') {
                                bytes.pop();
                            }
                            vec![Ok(bytes)]
                        }
                        Some(JsonInput::Eof) => {
                            let rest = conn.reader.finish();
                            conn.lines(rest).await;
                            // What the last lines caused is in the outbox: send it first.
                            let batch: Vec<Arc<Event>> = std::iter::from_fn(|| events.try_recv().ok()).collect();
                            conn.show(&batch).await;
                            sink.send(std::mem::take(&mut conn.out));
                            break JsonEnding::Left;
                        }
                    };
                    let exit = conn.lines(lines).await;
                    sink.send(std::mem::take(&mut conn.out));
                    if exit {
                        let batch: Vec<Arc<Event>> = std::iter::from_fn(|| events.try_recv().ok()).collect();
                        conn.show(&batch).await;
                        sink.send(std::mem::take(&mut conn.out));
                        break JsonEnding::Left;
                    }
                }
                Some(first) = events.recv(), if room => {
                    let mut batch = vec![first];
                    batch.extend(std::iter::from_fn(|| events.try_recv().ok()).take(MAX_BATCH));
                    conn.show(&batch).await;
                    sink.send(std::mem::take(&mut conn.out));
                    if events.is_empty() && refused.swap(false, Ordering::Relaxed) {
                        runtime.hub.lock().flush_missed(id, Utc::now());
                    }
                }
                () = sink.drained(), if !room => {}
            }
        }
    };
    let bye = match &ending {
        JsonEnding::ShuttingDown => Some("the server is shutting down; see you soon".to_owned()),
        JsonEnding::Closed(reason) => Some(reason.clone()),
        JsonEnding::Left | JsonEnding::Gone => None,
    };
    if let Some(reason) = bye {
        conn.push(Utc::now(), ServerBody::Bye { reason });
        sink.send(std::mem::take(&mut conn.out));
    }
    if !matches!(ending, JsonEnding::Closed(_)) {
        runtime.hub.lock().leave(id, Utc::now());
    }
    runtime.metrics.session_closed("json");
    info!(member = id.get(), ?ending, "left (json)");
    ending
}

/// One connection's state while its session runs.
struct Connection<'a> {
    runtime: &'a Runtime,
    id: MemberId,
    my_key: Option<String>,
    /// The member's name as the hub last said.
    name: String,
    encoder: Encoder,
    reader: LineReader,
    /// Bad messages are answered at the hub's line rate; past it they are dropped, told once.
    errors: TokenBucket,
    told_errors: bool,
    /// Lines to send.
    out: Vec<u8>,
    /// Whether it was told its lines are not being stored (see [`crate::persist::PersistLink::hold_back`]).
    stored: Reader,
}

impl Connection<'_> {
    fn push(&mut self, at: DateTime<Utc>, body: ServerBody) {
        let message = self.encoder.message(at, body);
        self.out.extend_from_slice(&message.to_line());
    }

    fn refuse(&mut self, error: ProtocolError) {
        let now = Utc::now();
        if self.errors.try_take(now, 1.0) {
            self.told_errors = false;
        } else if std::mem::replace(&mut self.told_errors, true) {
            return;
        } else {
            let message = self.encoder.error(now, &ProtocolError::TooManyErrors);
            self.out.extend_from_slice(&message.to_line());
            return;
        }
        let message = self.encoder.error(now, &error);
        self.out.extend_from_slice(&message.to_line());
    }

    /// Handles the client's lines; true if the member asked to leave.
    async fn lines(&mut self, lines: Vec<Result<Vec<u8>, ProtocolError>>) -> bool {
        for line in lines {
            let line = match line {
                Ok(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(line) => line,
                Err(error) => {
                    self.refuse(error);
                    continue;
                }
            };
            let message = match protocol::decode(&line) {
                Ok(message) => message,
                Err(error) => {
                    self.refuse(error);
                    continue;
                }
            };
            let text = match message.to_line() {
                Ok(Some(text)) => text,
                Ok(None) => {
                    if let ClientMessage::Ping { token } = message {
                        self.push(Utc::now(), ServerBody::Pong { token });
                    }
                    continue;
                }
                Err(error) => {
                    self.refuse(error);
                    continue;
                }
            };
            let outcome = self.runtime.hub.lock().submit(self.id, &text, Utc::now());
            self.name = outcome.me.name;
            if let Some(request) = outcome.request {
                Box::pin(self.fulfil(request)).await;
            }
            if outcome.exit {
                return true;
            }
        }
        false
    }

    /// Does what the hub asked the edge to do for the member.
    async fn fulfil(&mut self, request: Request) {
        let now = Utc::now();
        let event = match request {
            Request::History { room, limit } => {
                let lines = self.runtime.history(&room, limit).await;
                let lines = lines.into_iter().map(Arc::new).collect();
                Event::new(now, EventKind::History { room, lines })
            }
            Request::Reload => match self.runtime.reload() {
                Ok(summary) => {
                    Event::notice(now, NoticeLevel::Info, format!("reloaded: {summary}"))
                }
                Err(error) => Event::notice(
                    now,
                    NoticeLevel::Error,
                    format!("reload failed, the old lists stay: {error}"),
                ),
            },
            Request::Keys(command) => {
                let account = self
                    .runtime
                    .hub
                    .lock()
                    .account_of(self.id)
                    .map(str::to_owned);
                let result = match account {
                    Some(account) => {
                        let name = self.name.clone();
                        self.runtime
                            .manage_keys(&account, &name, self.my_key.as_deref(), command)
                            .await
                    }
                    None => Err("you have no account".to_owned()),
                };
                match result {
                    Ok(text) => Event::notice(now, NoticeLevel::Info, text),
                    Err(text) => Event::notice(now, NoticeLevel::Error, text),
                }
            }
        };
        let message = self.encoder.event(&event);
        self.out.extend_from_slice(&message.to_line());
    }

    /// Encodes events from the outbox.
    async fn show(&mut self, batch: &[Arc<Event>]) {
        // A line, or an answer that promises a record, goes out only once it is stored, as
        // on a terminal.
        self.stored.name.clone_from(&self.name);
        let warning = self
            .runtime
            .persist
            .hold_back(batch, &mut self.stored)
            .await;
        for event in batch.iter().map(|e| &**e).chain(warning.as_ref()) {
            let message = self.encoder.event(event);
            self.out.extend_from_slice(&message.to_line());
        }
    }
}
