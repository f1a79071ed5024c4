//! Between the hub and the store: the journal the hub writes into, and the task that writes
//! its records to the store in batches.
//!
//! The hub records under its lock into an unbounded channel (it must never wait on disk). A
//! writer task takes everything waiting, applies it to the store in one transaction off the
//! async runtime, and publishes how far it has committed. Connection tasks hold back a said
//! line, and an answer that promises a record, until the writer has committed it
//! ([`PersistLink::hold_back`]): a line someone has seen is a line on disk, and "they will get
//! your message" is a message on disk, even if the server is killed the next moment. Account
//! changes (renames, operator grants) go to the key directory's worker, whose progress is
//! tracked the same way. A failing store does not stop the chat: the writer logs, counts,
//! retries with backoff, meanwhile nobody waits, and a promise made then says it is not
//! stored yet.

use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chat_core::journal::{Journal, Record};
use chat_core::{Event, NoticeLevel};
use chat_store::{Retention, Store};
use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// Most records written in one transaction.
const MAX_BATCH: usize = 2_000;
/// Records held while the store is failing; past this the oldest are dropped (and counted).
const MAX_BACKLOG: usize = 200_000;
/// How long a delivery waits for its line to be committed before going out anyway.
const COMMIT_WAIT: Duration = Duration::from_secs(2);
/// How often old history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The hub's journal: logs what must be logged (operator actions always, chat text only if
/// the operator asked), numbers each record and queues it for the writer; changes to
/// accounts (renames, operator grants) go to the directory's worker instead, numbered in
/// their own sequence.
#[derive(Debug)]
pub struct EdgeJournal {
    store: Option<Queue>,
    directory: Option<Queue>,
    log_messages: bool,
}

/// Records on their way to a worker, numbered in the order issued.
#[derive(Debug)]
struct Queue {
    sender: mpsc::UnboundedSender<(u64, Record)>,
    issued: Arc<AtomicU64>,
}

/// The worker's end of a [`Queue`].
pub(crate) type Numbered = mpsc::UnboundedReceiver<(u64, Record)>;

impl Queue {
    fn push(&self, record: Record) {
        let seq = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
        // A closed channel means the server is shutting down; nothing more can be kept.
        let _ = self.sender.send((seq, record));
    }
}

impl EdgeJournal {
    /// A journal that keeps nothing (shutting down); it still logs.
    pub fn disabled(log_messages: bool) -> Self {
        Self {
            store: None,
            directory: None,
            log_messages,
        }
    }
}

impl Journal for EdgeJournal {
    fn record(&mut self, record: Record) {
        match &record {
            Record::Audit(entry) => info!(
                target: "chat::audit",
                by = %entry.by,
                by_fingerprint = entry.by_fingerprint.as_deref().unwrap_or("none"),
                action = %entry.action,
                "operator action"
            ),
            Record::Line(line) if self.log_messages => info!(
                target: "chat::messages",
                room = %line.room,
                from = %line.from,
                text = %line.text,
                emote = line.emote,
                "said"
            ),
            _ => {}
        }
        let queue = if matches!(record, Record::Claim { .. } | Record::Operator { .. }) {
            &self.directory
        } else {
            &self.store
        };
        if let Some(queue) = queue {
            queue.push(record);
        }
    }
}

/// How far a background worker (the store's writer, the directory's worker) has got with
/// the records handed to it, as connection tasks see it.
#[derive(Debug, Clone)]
struct Progress {
    issued: Arc<AtomicU64>,
    done: watch::Receiver<u64>,
    /// Set while the worker's last attempt failed: nobody then waits for it.
    failing: Arc<AtomicBool>,
    /// What the last failure was, for `/healthz`.
    why: Arc<Mutex<Option<String>>>,
}

/// The worker's end of a [`Progress`].
#[derive(Debug)]
pub(crate) struct Reporter {
    done: watch::Sender<u64>,
    failing: Arc<AtomicBool>,
    why: Arc<Mutex<Option<String>>>,
}

/// A queue of numbered records, the worker that drains it and what the connections see of
/// its progress.
fn queue() -> (Queue, Numbered, Progress, Reporter) {
    let (sender, records) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(0);
    let failing = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let why = Arc::new(Mutex::new(None));
    let progress = Progress {
        issued: Arc::clone(&issued),
        done: done_rx,
        failing: Arc::clone(&failing),
        why: Arc::clone(&why),
    };
    let reporter = Reporter {
        done: done_tx,
        failing,
        why,
    };
    (Queue { sender, issued }, records, progress, reporter)
}

impl Progress {
    /// Waits until every record issued so far is done, for at most `bound` and not at all
    /// while the worker is failing: whether it is done.
    async fn caught_up(&self, bound: Duration) -> bool {
        let target = self.issued.load(Ordering::Acquire);
        if *self.done.borrow() >= target {
            return true;
        }
        if self.failing.load(Ordering::Relaxed) {
            return false;
        }
        let mut done = self.done.clone();
        // Woken by each record done, and by the worker when it starts failing.
        let failing = Arc::clone(&self.failing);
        let wait = done.wait_for(|&d| d >= target || failing.load(Ordering::Relaxed));
        if tokio::time::timeout(bound, wait).await.is_err() {
            warn!(
                target,
                "a writer is slow: showing what it has not finished yet"
            );
        }
        *self.done.borrow() >= target
    }
}

impl Reporter {
    /// Everything up to `upto` is done. Returns whether the worker was failing until now.
    pub(crate) fn done(&self, upto: u64) -> bool {
        let was_failing = self.failing.swap(false, Ordering::Relaxed);
        self.done.send_replace(upto);
        was_failing
    }

    /// The last attempt failed (`why`) and will be retried. Returns whether it was working
    /// until now.
    pub(crate) fn failed(&self, why: &dyn std::fmt::Display) -> bool {
        *self.why.lock() = Some(why.to_string());
        let was_working = !self.failing.swap(true, Ordering::Relaxed);
        if was_working {
            // Wake whoever waits for a record that will not be done soon.
            self.done.send_modify(|_| {});
        }
        was_working
    }
}

/// What connection tasks know of the writers' progress: they hold back what the store has
/// not committed yet.
#[derive(Debug, Clone)]
pub struct PersistLink {
    /// The store's writer; `None` without a store.
    store: Option<Progress>,
    /// The directory's worker (renames and operator grants).
    directory: Progress,
}

impl PersistLink {
    /// Waits until what `batch` depends on is stored, so that nothing a member sees can be
    /// lost to a crash the next moment: a said line is on disk before anyone sees it, and an
    /// answer that promises a record (a message kept, a ban, a setting) goes out only once
    /// that record is committed. Waits at most a bound, and not at all while the store is
    /// failing: the chat goes on. Returns a notice to show after the batch when something
    /// could not be stored yet and the member should know: a promise just made, or (once per
    /// outage, in `reader`) a line of the member's own.
    pub async fn hold_back<E: Borrow<Event>>(
        &self,
        batch: &[E],
        reader: &mut Reader,
    ) -> Option<Event> {
        let promises = batch.iter().any(|e| e.borrow().promise);
        // Looked at without copying anything: this runs for every batch of every member.
        let lines = batch.iter().any(|e| e.borrow().said_by().is_some());
        if !promises && !lines {
            return None;
        }
        let mine = batch
            .iter()
            .any(|e| e.borrow().said_by() == Some(reader.name.as_str()));
        let stored = match &self.store {
            Some(store) => store.caught_up(COMMIT_WAIT).await,
            None => true,
        };
        if stored {
            reader.told_unstored = false;
        }
        if !promises {
            if stored || !mine || std::mem::replace(&mut reader.told_unstored, true) {
                return None;
            }
            return Some(Event::notice(Utc::now(), NoticeLevel::Error, NOT_STORED));
        }
        let renamed = self.directory.caught_up(COMMIT_WAIT).await;
        let text = match (stored, renamed) {
            (true, true) => return None,
            (false, _) => NOT_STORED,
            (true, false) => NOT_IN_DIRECTORY,
        };
        Some(Event::notice(Utc::now(), NoticeLevel::Error, text))
    }

    /// Why what the hub records is not being stored, if it is not: for `/healthz`.
    pub fn degraded(&self) -> Option<String> {
        let failing = |progress: &Progress| {
            progress
                .failing
                .load(Ordering::Relaxed)
                .then(|| progress.why.lock().clone().unwrap_or_default())
        };
        if let Some(why) = self.store.as_ref().and_then(failing) {
            return Some(format!("the store cannot be written: {why}"));
        }
        failing(&self.directory).map(|why| format!("the key directory cannot be written: {why}"))
    }
}

/// One connection's side of [`PersistLink::hold_back`]: whose lines are its own, and whether
/// it has been told that they are not being stored.
#[derive(Debug, Default)]
pub struct Reader {
    /// The member's name now (it changes with `/nick`).
    pub name: String,
    told_unstored: bool,
}

impl Reader {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            told_unstored: false,
        }
    }
}

/// What a member is told when an answer they just had, or a line they said, could not be
/// stored yet.
pub const NOT_STORED: &str = "not stored yet: the server cannot write to its store right now. \
    The chat goes on, and what you say and do is written once the store recovers, but a \
    restart before then would lose it";
/// ...and when the key directory cannot be written.
pub const NOT_IN_DIRECTORY: &str = "not stored yet: the key directory cannot be written right \
    now. That holds while the server runs and is written once the directory answers again, but \
    a restart before then would lose it";

/// The writer's end, started once the server runs.
pub(crate) struct Writer {
    store: Arc<dyn Store>,
    retention: Retention,
    records: Numbered,
    progress: Reporter,
    failures: Arc<AtomicU64>,
}

/// What the directory's worker is handed: account changes the hub recorded, numbered, and
/// where it reports how far it got.
pub(crate) struct DirectoryFeed {
    pub(crate) records: Numbered,
    pub(crate) progress: Reporter,
}

/// Wires the journal up: the hub's journal, the connection tasks' link, the store's writer
/// (if there is a store) and the directory worker's feed.
pub(crate) fn connect(
    store: Option<Arc<dyn Store>>,
    retention: Retention,
    log_messages: bool,
) -> (EdgeJournal, PersistLink, Option<Writer>, DirectoryFeed) {
    let (to_directory, directory_records, directory_progress, directory_reporter) = queue();
    let mut journal = EdgeJournal {
        store: None,
        directory: Some(to_directory),
        log_messages,
    };
    let mut link = PersistLink {
        store: None,
        directory: directory_progress,
    };
    let writer = store.map(|store| {
        let (to_store, records, progress, reporter) = queue();
        journal.store = Some(to_store);
        link.store = Some(progress);
        Writer {
            store,
            retention,
            records,
            progress: reporter,
            failures: Arc::new(AtomicU64::new(0)),
        }
    });
    let feed = DirectoryFeed {
        records: directory_records,
        progress: directory_reporter,
    };
    (journal, link, writer, feed)
}

impl Writer {
    /// How many batches failed to be written (for metrics).
    pub(crate) fn failures(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.failures)
    }

    /// Writes until the journal closes and everything it queued is written.
    pub(crate) async fn run(mut self) {
        let mut backlog: Vec<(u64, Record)> = Vec::new();
        let mut backoff = Duration::from_millis(100);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            if backlog.is_empty() {
                tokio::select! {
                    received = self.records.recv() => match received {
                        Some(first) => backlog.push(first),
                        None => return,
                    },
                    _ = prune.tick() => {
                        self.prune().await;
                        continue;
                    }
                }
            }
            while backlog.len() < MAX_BATCH {
                match self.records.try_recv() {
                    Ok(record) => backlog.push(record),
                    Err(_) => break,
                }
            }
            let upto = backlog.last().map_or(0, |(seq, _)| *seq);
            let batch: Vec<Record> = backlog.iter().map(|(_, r)| r.clone()).collect();
            let store = Arc::clone(&self.store);
            let result = tokio::task::spawn_blocking(move || store.apply(&batch)).await;
            match result {
                Ok(Ok(())) => {
                    backlog.clear();
                    if self.progress.done(upto) {
                        info!("the store is writable again");
                    }
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e)) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    self.progress.failed(&e);
                    error!(error = %e, waiting = backlog.len(), retry_in = ?backoff, "cannot write to the store; chat goes on, will retry");
                    if backlog.len() > MAX_BACKLOG {
                        let dropped = backlog.len() - MAX_BACKLOG;
                        backlog.drain(..dropped);
                        error!(
                            dropped,
                            "the store has failed too long: dropping the oldest unwritten records"
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(join) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    error!(error = %join, "the store panicked while writing; retrying");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    async fn prune(&self) {
        let store = Arc::clone(&self.store);
        let retention = self.retention;
        let prune = move || {
            let gone = store.prune(retention, chrono::Utc::now());
            // The prune is a burst of work every ten minutes, and glibc keeps what it freed:
            // the soak's RSS stepped up at each one while the heap in use stayed flat.
            crate::allocator::release_free_memory();
            gone
        };
        match tokio::task::spawn_blocking(prune).await {
            Ok(Ok(0)) => {}
            Ok(Ok(gone)) => info!(lines = gone, "pruned old history"),
            Ok(Err(e)) => warn!(error = %e, "cannot prune history"),
            Err(e) => warn!(error = %e, "pruning panicked"),
        }
    }
}
