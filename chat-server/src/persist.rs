//! Between the hub and the store: the journal the hub writes into, and the task that writes
//! its records to the store in batches.
//!
//! The hub records under its lock into an unbounded channel (it must never wait on disk). A
//! writer task takes everything waiting, applies it to the store in one transaction off the
//! async runtime, and publishes how far it has committed. Connection tasks hold back a said
//! line until the writer has committed it ([`PersistLink::committed`]): a line someone has seen
//! is a line on disk, even if the server is killed the next moment. A failing store does not
//! stop the chat: the writer logs, counts, retries with backoff, and meanwhile nobody waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chat_core::journal::{Journal, Record};
use chat_store::{Retention, Store};
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
/// accounts (renames, operator grants) go to the directory's worker instead.
#[derive(Debug)]
pub struct EdgeJournal {
    sender: Option<mpsc::UnboundedSender<(u64, Record)>>,
    directory: Option<mpsc::UnboundedSender<Record>>,
    issued: Arc<AtomicU64>,
    log_messages: bool,
}

impl EdgeJournal {
    /// A journal that stores nothing (no store configured, or shutting down); it still logs.
    pub fn disabled(log_messages: bool) -> Self {
        Self {
            sender: None,
            directory: None,
            issued: Arc::new(AtomicU64::new(0)),
            log_messages,
        }
    }

    /// The same journal, sending account changes to `directory`.
    pub fn with_directory(mut self, directory: mpsc::UnboundedSender<Record>) -> Self {
        self.directory = Some(directory);
        self
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
        if matches!(record, Record::Claim { .. } | Record::Operator { .. }) {
            if let Some(directory) = &self.directory {
                // A closed channel means the server is shutting down.
                let _ = directory.send(record);
            }
            return;
        }
        if let Some(sender) = &self.sender {
            let seq = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
            // A closed channel means the server is shutting down; nothing more can be kept.
            let _ = sender.send((seq, record));
        }
    }
}

/// What connection tasks know of the writer's progress.
#[derive(Debug, Clone)]
pub struct PersistLink {
    issued: Arc<AtomicU64>,
    committed: watch::Receiver<u64>,
    /// Set while the store is failing: deliveries then go out without waiting.
    degraded: Arc<AtomicBool>,
}

impl PersistLink {
    /// Waits until every record issued so far is committed (or the store is failing, or a
    /// bound passes). Called before a said line goes out to a member.
    pub async fn committed(&self) {
        let target = self.issued.load(Ordering::Acquire);
        if *self.committed.borrow() >= target || self.degraded.load(Ordering::Relaxed) {
            return;
        }
        let mut committed = self.committed.clone();
        // Woken by each commit, and by the writer when the store starts failing.
        let degraded = Arc::clone(&self.degraded);
        let wait = committed.wait_for(|&c| c >= target || degraded.load(Ordering::Relaxed));
        if tokio::time::timeout(COMMIT_WAIT, wait).await.is_err() {
            warn!(
                target,
                "the store is slow: delivering a line before it is committed"
            );
        }
    }
}

/// The writer's end, started once the server runs.
pub(crate) struct Writer {
    store: Arc<dyn Store>,
    retention: Retention,
    records: mpsc::UnboundedReceiver<(u64, Record)>,
    committed: watch::Sender<u64>,
    degraded: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
}

/// Wires a store up: the hub's journal, the connection tasks' link, and the writer.
pub(crate) fn connect(
    store: Arc<dyn Store>,
    retention: Retention,
    log_messages: bool,
) -> (EdgeJournal, PersistLink, Writer) {
    let (sender, records) = mpsc::unbounded_channel();
    let issued = Arc::new(AtomicU64::new(0));
    let (committed_tx, committed_rx) = watch::channel(0);
    let degraded = Arc::new(AtomicBool::new(false));
    let journal = EdgeJournal {
        sender: Some(sender),
        directory: None,
        issued: Arc::clone(&issued),
        log_messages,
    };
    let link = PersistLink {
        issued,
        committed: committed_rx,
        degraded: Arc::clone(&degraded),
    };
    let writer = Writer {
        store,
        retention,
        records,
        committed: committed_tx,
        degraded,
        failures: Arc::new(AtomicU64::new(0)),
    };
    (journal, link, writer)
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
                    self.committed.send_replace(upto);
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        info!("the store is writable again");
                    }
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e)) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        // Wake deliveries waiting for a commit that will not come soon.
                        let at = *self.committed.borrow();
                        self.committed.send_replace(at);
                    }
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
        match tokio::task::spawn_blocking(move || store.prune(retention, chrono::Utc::now())).await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(gone)) => info!(lines = gone, "pruned old history"),
            Ok(Err(e)) => warn!(error = %e, "cannot prune history"),
            Err(e) => warn!(error = %e, "pruning panicked"),
        }
    }
}
