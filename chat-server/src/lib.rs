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
//! - accounts: the key directory behind a cache ([`directory`]), who may come in and what a
//!   newcomer's key registers ([`accounts`]), which keys an account accepts ([`keys`]);
//! - who may come in and who is an operator by file ([`access`], [`keyfile`]);
//! - one-time sign-in links for the web front-end ([`signin`]);
//! - in a cluster (`--cluster`), the bus that makes several nodes one chat (`chat-cluster`):
//!   the hub publishes into it, its tasks feed the hub what other nodes did, and names are
//!   reserved across the cluster before a member joins;
//! - the [`metrics`] an operator scrapes, and the health `/healthz` reports;
//! - shutdown: one token that tells every session to say goodbye, one tracker to wait for
//!   them, one switch to cut off the ones that do not go.
//!
//! Front-ends never depend on each other; both depend on this crate.

pub mod access;
pub mod accounts;
pub mod allocator;
mod cluster;
pub mod config;
pub mod directory;
pub mod hub;
pub mod json;
pub mod keyfile;
pub mod keys;
mod lookups;
pub mod metrics;
pub mod persist;
pub mod signin;

/// This server's version, as `hello` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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
pub use crate::config::{JoinPolicy, RuntimeConfig};
use crate::directory::DirectoryCache;
use crate::hub::SharedHub;
use crate::keyfile::KeyFileError;
use crate::metrics::Metrics;
use crate::persist::{DirectoryFeed, EdgeJournal, PersistLink, Writer};

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
    /// The store's and the directory's progress, for holding back lines and promises until
    /// they are stored.
    pub persist: PersistLink,
    /// The allowlist and admins, as last read.
    pub access: RwLock<AccessList>,
    /// The key directory, behind its cache.
    pub directory: DirectoryCache,
    /// One-time sign-in links: issued over SSH (`ssh host web`), spent on the web.
    pub signin: signin::SigninLinks,
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
    /// Account changes the hub records, until [`Runtime::start`] gives them to their worker.
    account_records: Mutex<Option<DirectoryFeed>>,
    background: Mutex<Background>,
    /// Held by whoever runs the shutdown; the others wait for it to finish.
    closing: tokio::sync::Mutex<bool>,
    /// Stops the cluster bus, once the sessions have gone.
    cluster_stop: CancellationToken,
}

#[derive(Default)]
struct Background {
    started: bool,
    writer: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
    accounts: Option<JoinHandle<()>>,
    cluster: Vec<JoinHandle<()>>,
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
        let (journal, persist, writer, directory_feed) =
            persist::connect(config.store.clone(), config.retention, config.log_messages);
        let mut hub = Hub::with_journal(config.hub.clone(), journal);
        if let Some(store) = &config.store {
            let rooms = config.hub.max_idle_rooms + 1;
            let snapshot = store.snapshot(config.hub.history_len, rooms)?;
            info!(
                claims = snapshot.claims.len(),
                lines = snapshot.history.len(),
                "restored from the store"
            );
            hub.restore(snapshot);
        }
        hub.set_admins(access.admins.clone());
        if let Some(cluster) = &config.cluster {
            hub.set_bus(Box::new(cluster.sink()));
        }
        let store_failures = writer.as_ref().map_or_else(Arc::default, Writer::failures);
        let metrics = Metrics::new();
        let directory = DirectoryCache::new(
            Arc::clone(&config.directory),
            metrics.directory_errors.clone(),
        );
        Ok(Arc::new(Self {
            metrics,
            directory,
            signin: signin::SigninLinks::default(),
            account_records: Mutex::new(Some(directory_feed)),
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
            cluster_stop: CancellationToken::new(),
        }))
    }

    /// Starts the store writer and the hub's clock. Every front-end calls it when it starts
    /// running; only the first call does anything. Must be called inside a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let mut background = self.background.lock();
        if background.started {
            return;
        }
        background.started = true;
        background.accounts = self
            .account_records
            .lock()
            .take()
            .map(|feed| tokio::spawn(Arc::clone(self).run_directory_worker(feed)));
        background.writer = self.writer.lock().take().map(|w| tokio::spawn(w.run()));
        background.ticker = Some(tokio::spawn(tick(
            Arc::clone(&self.hub),
            self.shutdown.clone(),
        )));
        background.cluster = self.start_cluster();
    }

    /// Reads every account from the directory and tells the hub their names and operators:
    /// call it once before serving, so that registered names are protected from the first
    /// connection (the directory's worker keeps them up to date after). Fails if the
    /// directory cannot be read, with a reason an operator can act on.
    pub async fn load_accounts(&self) -> Result<usize, chat_store::DirectoryError> {
        let accounts = self.config.directory.account_refs().await?;
        let count = accounts.len();
        let mut hub = self.hub.lock();
        for account in &accounts {
            hub.account_changed(account, chrono::Utc::now());
        }
        drop(hub);
        info!(accounts = count, directory = %self.config.directory.describe(), "read the accounts");
        Ok(count)
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
        let (writer, ticker, accounts) = {
            let mut background = self.background.lock();
            (
                background.writer.take(),
                background.ticker.take(),
                background.accounts.take(),
            )
        };
        for task in [ticker, accounts].into_iter().flatten() {
            task.abort();
        }
        self.stop_cluster().await;
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
