//! `chat-server`: the runtime every front-end of the chat shares.
//!
//! A front-end (the SSH server in `chat-ssh`, the web server in `chat-web`) accepts
//! connections and speaks its protocol; everything that must be the same whichever way a
//! member came in lives here, once, in a [`Runtime`]:
//!
//! - the [`chat_core::Hub`] behind one mutex ([`hub::SharedHub`]), never held across an
//!   `.await`, and the bounded [`hub::MemberOutbox`] that connects it to a connection's task;
//! - the store writer ([`persist`]): the hub's journal, batched into transactions, and the
//!   gate that holds a said line back until it is committed;
//! - who may come in and who is an operator ([`access`], [`keyfile`]);
//! - the [`metrics`] an operator scrapes;
//! - shutdown: one token that tells every session to say goodbye, one tracker to wait for
//!   them, one switch to cut off the ones that do not go.
//!
//! Front-ends never depend on each other; both depend on this crate.

pub mod access;
pub mod config;
pub mod hub;
pub mod keyfile;
mod lookups;
pub mod metrics;
pub mod persist;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use chat_core;
use chat_core::Hub;
pub use chat_store;
use chat_store::StoreError;
use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use tokio::task::JoinHandle;
pub use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::access::AccessList;
pub use crate::config::RuntimeConfig;
use crate::hub::SharedHub;
use crate::keyfile::KeyFileError;
use crate::metrics::Metrics;
use crate::persist::{EdgeJournal, PersistLink, Writer};

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("cannot load what the store remembers: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Access(#[from] KeyFileError),
}

/// What every connection of every front-end shares. Made once per server with
/// [`Runtime::new`], started by the first front-end that runs, closed once with
/// [`Runtime::close`].
pub struct Runtime {
    pub config: RuntimeConfig,
    pub hub: SharedHub,
    /// The store's progress, for holding back lines until they are stored.
    pub persist: Option<PersistLink>,
    /// The allowlist and admins, as last read.
    pub access: RwLock<AccessList>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts shutting down: sessions say goodbye.
    pub shutdown: CancellationToken,
    /// Cancelled when the grace period is over: every connection is cut off.
    pub kill_all: CancellationToken,
    /// Every task a front-end spawned for a connection, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Batches the writer failed to store, counted.
    store_failures: Arc<AtomicU64>,
    /// The writer, until [`Runtime::start`] spawns it.
    writer: Mutex<Option<Writer>>,
    background: Mutex<Background>,
    /// Held by whoever runs the shutdown; the others wait for it to finish.
    closing: tokio::sync::Mutex<bool>,
}

#[derive(Default)]
struct Background {
    started: bool,
    writer: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Reads the access files, restores the hub from the store, and wires the store writer.
    /// Nothing runs until [`Runtime::start`].
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, RuntimeError> {
        let access = AccessList::load(&config.access)?;
        info!(access = %access.summary(), "read the access files");
        let (mut hub, persist, writer) = match &config.store {
            None => (
                Hub::with_journal(
                    config.hub.clone(),
                    EdgeJournal::disabled(config.log_messages),
                ),
                None,
                None,
            ),
            Some(store) => {
                let rooms = config.hub.max_idle_rooms + 1;
                let snapshot = store.snapshot(config.hub.history_len, rooms)?;
                info!(
                    claims = snapshot.claims.len(),
                    lines = snapshot.history.len(),
                    "restored from the store"
                );
                let (journal, link, writer) =
                    persist::connect(Arc::clone(store), config.retention, config.log_messages);
                let mut hub = Hub::with_journal(config.hub.clone(), journal);
                hub.restore(snapshot);
                (hub, Some(link), Some(writer))
            }
        };
        hub.set_admins(access.admins.clone());
        let store_failures = writer.as_ref().map_or_else(Arc::default, Writer::failures);
        Ok(Arc::new(Self {
            metrics: Metrics::new(),
            access: RwLock::new(access),
            hub: Arc::new(Mutex::new(hub)),
            config,
            shutdown: CancellationToken::new(),
            kill_all: CancellationToken::new(),
            tracker: TaskTracker::new(),
            persist,
            store_failures,
            writer: Mutex::new(writer),
            background: Mutex::default(),
            closing: tokio::sync::Mutex::new(false),
        }))
    }

    /// Starts the store writer and the hub's clock. Every front-end calls it when it starts
    /// running; only the first call does anything. Must be called inside a Tokio runtime.
    pub fn start(&self) {
        let mut background = self.background.lock();
        if background.started {
            return;
        }
        background.started = true;
        background.writer = self.writer.lock().take().map(|w| tokio::spawn(w.run()));
        background.ticker = Some(tokio::spawn(tick(
            Arc::clone(&self.hub),
            self.shutdown.clone(),
        )));
    }

    /// How many batches of records the store failed to write (each is retried).
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }

    /// Shuts the chat down: tells every session the server is going down, waits for them to
    /// close (cutting off any that do not go within the grace period), then lets the store
    /// writer finish what is queued. Front-ends call it once they stop accepting; the first
    /// call does the work and every call returns once it is done.
    pub async fn close(&self) {
        let mut closed = self.closing.lock().await;
        if *closed {
            return;
        }
        info!("shutting down: closing sessions");
        self.shutdown.cancel();
        self.tracker.close();
        let grace = self.config.shutdown_grace;
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                ?grace,
                "sessions still open after the grace period; cutting them off"
            );
            self.kill_all.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.wait()).await;
        }
        let (writer, ticker) = {
            let mut background = self.background.lock();
            (background.writer.take(), background.ticker.take())
        };
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        if let Some(writer) = writer {
            // Closing the journal lets the writer finish what is queued, then stop.
            *self.hub.lock().journal_mut() = EdgeJournal::disabled(self.config.log_messages);
            if tokio::time::timeout(Duration::from_secs(10), writer)
                .await
                .is_err()
            {
                warn!("the store did not finish writing within 10 s");
            }
        }
        *closed = true;
        info!("shut down");
    }

    /// Reads the admins and allowlist files again; on success the new lists apply at once
    /// (admins gain or lose their rights; the allowlist applies to the next logins). On error
    /// the old lists stay.
    pub fn reload(&self) -> Result<String, KeyFileError> {
        let access = AccessList::load(&self.config.access)?;
        let summary = access.summary();
        self.hub.lock().set_admins(access.admins.clone());
        *self.access.write() = access;
        info!(access = %summary, "reloaded the access files");
        Ok(summary)
    }
}

/// Lets the hub announce the joins and leaves it gathered, a few times a second.
async fn tick(hub: SharedHub, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_millis(50));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => hub.lock().tick(chrono::Utc::now()),
        }
    }
}
