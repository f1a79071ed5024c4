//! The writer of one channel: a task of its own, so that writing never stops the connection's
//! chat task from reading input.
//!
//! Writing waits for the client's SSH window. If the chat task waited for it, it would stop
//! taking input; the handler would then wait to hand it input; russh's session loop, which
//! calls the handler, would stop reading the socket; and the client's window adjustment, queued
//! behind that input, would never be read. Both sides would wait for each other until the
//! stall timeout cut off a client that was reading all along. So the chat task queues bytes
//! here and carries on; it stops taking more input and events only while the backlog is above
//! a bound, which keeps memory per connection bounded.
//!
//! Most clients read, and then russh takes the bytes at once: the writer task and its queue are
//! started only the first time something has to wait (or for stderr and the goodbye), which
//! saves an idle session a task and a channel (about 4 KiB).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Waker};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::warn;

/// Bytes queued for a client beyond which its chat task waits for them to go out.
pub(crate) const BACKLOG_LIMIT: usize = 64 * 1024;
/// Most bytes put into one SSH data message.
const MAX_WRITE: usize = 64 * 1024;

enum Chunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Exit status, EOF and close, after everything before it.
    Finish(u32),
}

/// The chat task's end of the writer.
pub(crate) struct Output {
    /// Where the writer writes; also for handing bytes straight to russh when nothing is
    /// queued (see `send`).
    target: Target,
    /// The writer task and its queue, once started.
    writer: OnceLock<Queue>,
    backlog: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    /// Fires when the writer has stopped: the connection is gone or was cut off.
    done: CancellationToken,
}

/// A started writer.
struct Queue {
    chunks: mpsc::UnboundedSender<Chunk>,
    task: JoinHandle<()>,
}

/// Where the writer writes, and how it gives up.
#[derive(Clone)]
pub(crate) struct Target {
    pub handle: Handle,
    pub channel: ChannelId,
    /// A client that has not taken any bytes for this long is cut off.
    pub stall_timeout: Duration,
    /// Cuts the connection off.
    pub kill: CancellationToken,
    /// Counts clients cut off for not reading.
    pub stalled: Counter,
}

impl Output {
    /// The writer for `target`; its task starts when first needed.
    pub(crate) fn spawn(target: Target) -> Self {
        Self {
            target,
            writer: OnceLock::new(),
            backlog: Arc::new(AtomicUsize::new(0)),
            drained: Arc::new(Notify::new()),
            done: CancellationToken::new(),
        }
    }

    /// The writer's queue, starting its task if this is the first time.
    fn queue(&self) -> &Queue {
        self.writer.get_or_init(|| {
            let (chunks, receiver) = mpsc::unbounded_channel();
            let writer = Writer {
                target: self.target.clone(),
                chunks: receiver,
                backlog: Arc::clone(&self.backlog),
                drained: Arc::clone(&self.drained),
            };
            let stopped = self.done.clone();
            let task = tokio::spawn(async move {
                writer.run().await;
                stopped.cancel();
            });
            Queue { chunks, task }
        })
    }

    /// Queues `out` (leaving it empty) for the client.
    pub(crate) fn send(&self, out: &mut Vec<u8>) {
        if out.is_empty() {
            return;
        }
        let bytes = std::mem::take(out);
        if self.backlog.load(Ordering::Acquire) == 0 && self.try_send_now(&bytes) {
            return;
        }
        self.backlog.fetch_add(bytes.len(), Ordering::AcqRel);
        let _ = self.queue().chunks.send(Chunk::Stdout(bytes));
    }

    /// Hands `bytes` to russh at once if it can take them without waiting, saving the writer
    /// task a wake-up (most writes, since most clients read). Nothing is queued ahead of them
    /// (the backlog is empty), so order is kept. If russh would have to wait, the attempt is
    /// abandoned (a channel send that is dropped before it completes has sent nothing) and the
    /// bytes go to the writer.
    fn try_send_now(&self, bytes: &[u8]) -> bool {
        let send = self
            .target
            .handle
            .data(self.target.channel, bytes::Bytes::copy_from_slice(bytes));
        let mut send = std::pin::pin!(send);
        let mut context = Context::from_waker(Waker::noop());
        // Ready: sent, or the connection is gone (which the chat task learns from its input).
        send.as_mut().poll(&mut context).is_ready()
    }

    /// Queues bytes for the client's standard error.
    pub(crate) fn send_stderr(&self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            let _ = self.queue().chunks.send(Chunk::Stderr(bytes));
        }
    }

    /// Whether the client is far enough behind that the chat task should wait.
    pub(crate) fn is_backed_up(&self) -> bool {
        self.backlog.load(Ordering::Acquire) >= BACKLOG_LIMIT
    }

    /// Resolves when some of the backlog has gone out.
    pub(crate) async fn drained(&self) {
        self.drained.notified().await;
    }

    /// Waits at most `within` for everything queued to go out: false if the client is not
    /// taking it (its window stays shut).
    pub(crate) async fn drains_within(&self, within: Duration) -> bool {
        let drained = async {
            while self.backlog.load(Ordering::Acquire) != 0 {
                self.drained.notified().await;
            }
        };
        tokio::time::timeout(within, drained).await.is_ok()
    }

    /// Resolves when the writer has stopped (the connection is gone).
    pub(crate) async fn stopped(&self) {
        self.done.cancelled().await;
    }

    /// Ends the channel the way a shell does (exit status, EOF, close) after what is queued,
    /// waiting at most `within` for it to go out.
    pub(crate) async fn finish(self, status: u32, within: Duration) {
        let _ = self.queue().chunks.send(Chunk::Finish(status));
        let Some(Queue { task, .. }) = self.writer.into_inner() else {
            return; // cannot happen: `queue` has just started it
        };
        let _ = tokio::time::timeout(within, task).await;
    }
}

struct Writer {
    target: Target,
    chunks: mpsc::UnboundedReceiver<Chunk>,
    backlog: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

impl Writer {
    async fn run(mut self) {
        let kill = self.target.kill.clone();
        let killed = kill.cancelled();
        tokio::pin!(killed);
        let mut held: Option<Chunk> = None;
        loop {
            let chunk = match held.take() {
                Some(chunk) => chunk,
                None => match self.chunks.recv().await {
                    Some(chunk) => chunk,
                    None => return,
                },
            };
            match chunk {
                Chunk::Stdout(mut bytes) => {
                    // Take what else is queued too: one message for a burst.
                    while bytes.len() < MAX_WRITE {
                        match self.chunks.try_recv() {
                            Ok(Chunk::Stdout(more)) => bytes.extend_from_slice(&more),
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let len = bytes.len();
                    let sent = self.write(bytes, killed.as_mut()).await;
                    self.backlog.fetch_sub(len, Ordering::AcqRel);
                    // One waiter (the chat task); a stored permit means it cannot miss this.
                    self.drained.notify_one();
                    if !sent {
                        return;
                    }
                }
                Chunk::Stderr(bytes) => {
                    let t = &self.target;
                    if t.handle.extended_data(t.channel, 1, bytes).await.is_err() {
                        return;
                    }
                }
                Chunk::Finish(status) => {
                    let t = &self.target;
                    let goodbye = async {
                        let _ = t.handle.exit_status_request(t.channel, status).await;
                        let _ = t.handle.eof(t.channel).await;
                        let _ = t.handle.close(t.channel).await;
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(t.stall_timeout, goodbye) => {}
                        () = t.kill.cancelled() => {}
                    }
                    return;
                }
            }
        }
    }

    /// Sends bytes, waiting for the client's window but never past the stall limit or the
    /// connection being killed. False if the connection is gone (or was cut off now).
    async fn write(&self, bytes: Vec<u8>, killed: Pin<&mut WaitForCancellationFuture<'_>>) -> bool {
        let t = &self.target;
        tokio::select! {
            sent = tokio::time::timeout(t.stall_timeout, t.handle.data(t.channel, bytes)) => match sent {
                Ok(Ok(())) => true,
                Ok(Err(_)) => false,
                Err(_) => {
                    warn!(stall_timeout = ?t.stall_timeout, "client stopped reading; disconnecting it");
                    t.stalled.inc();
                    t.kill.cancel();
                    false
                }
            },
            () = killed => false,
        }
    }
}
