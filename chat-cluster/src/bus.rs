//! The cluster bus: the hub's [`BusEvent`]s into one Redis stream (the log), and the log back
//! into the hub, in order, on every node.
//!
//! Three tasks per node:
//! - the **writer** takes what the hub published, in order, and writes it with the Lua
//!   scripts of [`crate::scripts`]: lines into the log and their room's history (once, however
//!   often retried), presence into the log and the node's member hash, name claims into name
//!   keys. When Redis fails it keeps what waits, reconnects with backoff, tells the other
//!   nodes everything it has (a snapshot) and goes on; a line that cannot get in within the
//!   deadline is refused to its sender.
//! - the **reader** reads the log from where it is (`XREAD BLOCK`) and applies each entry to
//!   the hub under one lock per batch. A reader that fell behind reads faster than the log
//!   grows; one whose place was trimmed away resyncs from the member hashes. Nobody waits
//!   for it: a stream has no consumers to hold back.
//! - the **heartbeat** refreshes this node's liveness key and member hash (both with a short
//!   TTL) and, a slice at a time, its name keys (with a long one), and notices nodes whose
//!   liveness key expired: their members leave. A name held by a node that is not alive (as
//!   the instance that took it) is free to anyone at once, whatever its key's TTL: see
//!   [`crate::scripts::claim`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_core::hub::cluster::{Bus, BusEvent, MemberState, RemoteAct, RemoteId};
use chat_core::journal::Journal;
use chat_core::{AccountRef, Hub, Outbox, name};
use chrono::Utc;
use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::codec::{self, Entry};
use crate::scripts::Scripts;
use crate::store::{Keys, entries};

/// How the bus runs. `Default` is what a deployment wants; tests shorten nothing.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// This node's name: unique in the cluster.
    pub node: String,
    /// Prefix of every key, so that several chats can share a Redis.
    pub prefix: String,
    /// How often liveness (and a slice of the names: see `name_ttl`) is refreshed.
    pub heartbeat: Duration,
    /// How long liveness lasts unrefreshed: a killed node's members leave and its names are
    /// free this long after its last heartbeat.
    pub ttl: Duration,
    /// How long a name key lasts unrefreshed. Liveness, not this, frees a dead node's names;
    /// this only bounds how long its keys stay in Redis. The heartbeat refreshes a slice of
    /// the names each beat, so that each is refreshed four times within it: refreshing all of
    /// them every beat was 100,000 commands a second at 100,000 sessions, most of Redis's work.
    pub name_ttl: Duration,
    /// Entries the log keeps: how far behind a node may fall and still catch up.
    pub log_len: usize,
    /// Lines each room's history keeps (the retention prunes it exactly).
    pub history_len: usize,
    /// How long a line may wait for Redis before its sender is told it was not sent.
    pub line_deadline: Duration,
}

impl ClusterConfig {
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node: node.into(),
            prefix: "chat:".to_owned(),
            heartbeat: Duration::from_secs(1),
            ttl: Duration::from_secs(7),
            name_ttl: Duration::from_secs(600),
            log_len: 100_000,
            history_len: 10_000,
            line_deadline: Duration::from_secs(20),
        }
    }
}

/// Events waiting at most before new lines are refused at once.
const MAX_PENDING: usize = 50_000;
/// How long a Redis call may take before the bus counts Redis as down.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a line's "already written" mark lasts (longer than any retry).
const DEDUP_SECS: u64 = 600;

/// Why the bus cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot use the Redis at {url}: {reason}")]
    Redis { url: String, reason: String },
    #[error("the node name {0:?} is not usable: letters, digits and - _ . only")]
    BadNode(String),
}

/// How the bus is doing, for `/healthz` and metrics.
#[derive(Debug, Default)]
pub struct Health {
    writer_down: AtomicBool,
    reader_down: AtomicBool,
    heartbeat_down: AtomicBool,
    /// Calls to Redis that failed or timed out.
    errors: AtomicU64,
    last_error: Mutex<String>,
}

impl Health {
    /// `None` when every part of the bus works; else what is wrong.
    pub fn degraded(&self) -> Option<String> {
        let down = self.writer_down.load(Ordering::Relaxed)
            || self.reader_down.load(Ordering::Relaxed)
            || self.heartbeat_down.load(Ordering::Relaxed);
        down.then(|| format!("the cluster bus is unreachable: {}", self.last_error.lock()))
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn failed(&self, part: &AtomicBool, what: &str, error: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = format!("{what}: {error}");
        if !part.swap(true, Ordering::Relaxed) {
            warn!(%error, what, "the cluster bus is down; local sessions go on, will retry");
        }
    }

    fn ok(&self, part: &AtomicBool, what: &str) {
        if part.swap(false, Ordering::Relaxed) {
            info!(what, "the cluster bus is back");
        }
    }
}

/// Something the hub published, waiting to be written.
#[derive(Debug)]
struct Outgoing {
    at: Instant,
    /// For lines: what makes a retry land once.
    uid: String,
    event: BusEvent,
}

/// The hub's end of the bus: queues and returns.
#[derive(Debug)]
pub struct BusSink {
    sender: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    instance: String,
    seq: u64,
}

impl Bus for BusSink {
    fn publish(&mut self, event: BusEvent) {
        self.seq += 1;
        let uid = format!("{}-{}", self.instance, self.seq);
        self.queued.fetch_add(1, Ordering::AcqRel);
        // A closed channel means the node is shutting down.
        let _ = self.sender.send(Outgoing {
            at: Instant::now(),
            uid,
            event,
        });
    }
}

/// A name key this node holds for one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    key: String,
    value: String,
}

/// One node's bus. Made with [`Cluster::new`], wired into the hub with [`Cluster::sink`],
/// started with [`Cluster::start`].
pub struct Cluster {
    config: ClusterConfig,
    keys: Keys,
    client: redis::Client,
    /// Random, per process: a line's uid, and how others tell a restarted node from the old.
    instance: String,
    health: Arc<Health>,
    scripts: Scripts,
    sender: mpsc::UnboundedSender<Outgoing>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    /// Name keys held, by member id.
    names: Mutex<HashMap<u64, Held>>,
    /// The connection name reservations use: made at the first login and shared by all (a
    /// multiplexed connection takes concurrent calls), dropped after a failure so that the
    /// next login makes a new one. A connection per login cost a TCP handshake and a `HELLO`
    /// each, and left a socket in TIME_WAIT.
    reserving: Mutex<Option<MultiplexedConnection>>,
    /// Events published and not yet written (or given up).
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.config.url)
            .field("node", &self.config.node)
            .finish_non_exhaustive()
    }
}

type Shared<O, J> = Arc<Mutex<Hub<O, J>>>;

impl Cluster {
    /// Checks the settings and that Redis answers. Nothing runs until [`Cluster::start`].
    pub async fn new(config: ClusterConfig) -> Result<Arc<Self>, ClusterError> {
        if config.node.is_empty()
            || !config
                .node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ClusterError::BadNode(config.node.clone()));
        }
        let fail = |e: redis::RedisError| ClusterError::Redis {
            url: config.url.clone(),
            reason: e.to_string(),
        };
        let client = redis::Client::open(config.url.as_str()).map_err(fail)?;
        let mut probe = connect(&client, CALL_TIMEOUT).await.map_err(fail)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut probe)
            .await
            .map_err(fail)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let instance = {
            use rand::RngExt;
            let bytes: [u8; 6] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        Ok(Arc::new(Self {
            keys: Keys::new(config.prefix.clone()),
            config,
            client,
            instance,
            health: Arc::default(),
            scripts: Scripts::default(),
            sender,
            receiver: Mutex::new(Some(receiver)),
            names: Mutex::default(),
            reserving: Mutex::default(),
            queued: Arc::default(),
        }))
    }

    pub fn node(&self) -> &str {
        &self.config.node
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Resolves once everything published so far is written (or given up).
    pub async fn flushed(&self) {
        while self.queued.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn done(&self, count: usize) {
        self.queued.fetch_sub(count, Ordering::AcqRel);
    }

    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// What the hub publishes into ([`Hub::set_bus`]).
    pub fn sink(&self) -> BusSink {
        BusSink {
            sender: self.sender.clone(),
            queued: Arc::clone(&self.queued),
            instance: self.instance.clone(),
            seq: 0,
        }
    }

    /// The id of the log's newest entry (`0-0` if empty): where a node that has just loaded
    /// the store's history starts reading.
    pub async fn log_end(&self) -> Result<String, redis::RedisError> {
        let mut c = connect(&self.client, CALL_TIMEOUT).await?;
        last_id(&mut c, &self.keys.log()).await
    }

    /// Starts the writer, the reader and the heartbeat; they stop with `shutdown`.
    pub fn start<O, J>(
        self: &Arc<Self>,
        hub: Shared<O, J>,
        from: Option<String>,
        shutdown: CancellationToken,
    ) -> Vec<JoinHandle<()>>
    where
        O: Outbox + Send + 'static,
        J: Journal + Send + 'static,
    {
        let Some(receiver) = self.receiver.lock().take() else {
            return Vec::new();
        };
        vec![
            tokio::spawn(Arc::clone(self).run_writer(Arc::clone(&hub), receiver, shutdown.clone())),
            tokio::spawn(Arc::clone(self).run_reader(Arc::clone(&hub), from, shutdown.clone())),
            tokio::spawn(Arc::clone(self).run_heartbeat(hub, shutdown)),
        ]
    }

    /// A name key's value: `node|instance|member|account` (member 0 for a reservation).
    fn value(&self, member: u64, account: Option<&str>) -> String {
        format!(
            "{}|{}|{member}|{}",
            self.config.node,
            self.instance,
            account.unwrap_or("")
        )
    }

    fn reservation_prefix(&self) -> String {
        format!("{}|{}|0|", self.config.node, self.instance)
    }

    fn ttl_ms(&self) -> u64 {
        self.config.ttl.as_millis() as u64
    }

    fn name_ttl_ms(&self) -> u64 {
        self.config.name_ttl.as_millis() as u64
    }

    /// Reserves, across the cluster, the name a member asking for `asked` (of `account`)
    /// will have, before it joins: its account's name, else what it asked for, numbered past
    /// what anyone in the cluster holds. A newer session of the same account elsewhere is
    /// closed; someone holding the account's registered name elsewhere is moved aside. `None`
    /// if Redis cannot be asked: the member joins on what this node knows, and the bus sorts
    /// out a clash later.
    pub async fn reserve<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        asked: &str,
        account: Option<&AccountRef>,
    ) -> Option<String> {
        let wanted = account
            .map(|a| a.name.clone())
            .or_else(|| name::clean_name(asked))
            .unwrap_or_else(|| name::DEFAULT_NAME.to_owned());
        let mut c = self.reserving_connection().await?;
        let reserved = self.reserve_on(&mut c, hub, &wanted, account).await;
        if reserved.is_none() {
            // Redis failed or timed out (or, rarely, 200 names in a row were taken): the
            // next login connects afresh rather than reuse a connection that may be broken.
            *self.reserving.lock() = None;
        }
        reserved
    }

    /// The shared connection for reservations, made if there is none.
    async fn reserving_connection(&self) -> Option<MultiplexedConnection> {
        if let Some(c) = self.reserving.lock().clone() {
            return Some(c);
        }
        match connect(&self.client, CALL_TIMEOUT).await {
            Ok(c) => {
                *self.reserving.lock() = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                self.health
                    .failed(&self.health.writer_down, "reserving a name", &e);
                None
            }
        }
    }

    async fn reserve_on<O: Outbox, J: Journal>(
        &self,
        c: &mut MultiplexedConnection,
        hub: &Mutex<Hub<O, J>>,
        wanted: &str,
        account: Option<&AccountRef>,
    ) -> Option<String> {
        let account_id = account.map(|a| a.id.as_str());
        let value = self.value(0, account_id);
        let (alive_before, alive_after) = self.keys.alive_parts();
        let mut tried: HashSet<String> = HashSet::new();
        let candidates = std::iter::once(wanted.to_owned()).chain(name::numbered_variants(wanted));
        for candidate in candidates.take(200) {
            let folded = name::fold(&candidate);
            let free_here = {
                let hub = hub.lock();
                hub.may_take(&candidate, account_id) || account.is_some_and(|a| a.name == candidate)
            };
            if !free_here || tried.contains(&folded) {
                continue;
            }
            let key = self.keys.name(&folded);
            let mut invocation = self.scripts.reserve.prepare_invoke();
            invocation
                .key(&key)
                .arg(&value)
                .arg(self.ttl_ms())
                .arg(&alive_before)
                .arg(alive_after);
            let reserve = invocation.invoke_async::<Option<String>>(c);
            let holder = match tokio::time::timeout(CALL_TIMEOUT, reserve).await {
                Ok(Ok(None)) => return Some(candidate),
                Ok(Ok(Some(holder))) => holder,
                Ok(Err(e)) => {
                    self.health
                        .failed(&self.health.writer_down, "reserving a name", &e);
                    return None;
                }
                Err(_) => return None,
            };
            let mut parts = holder.splitn(4, '|');
            let (node, _instance, member, theirs) = (
                parts.next().unwrap_or(""),
                parts.next(),
                parts
                    .next()
                    .and_then(|m| m.parse::<u64>().ok())
                    .unwrap_or(0),
                parts.next().unwrap_or(""),
            );
            let owns = account.is_some_and(|a| a.name == candidate);
            if owns && member != 0 {
                // Ours by right: take it, and tell the holder's node.
                let mut take = redis::cmd("SET");
                take.arg(&key).arg(&value).arg("PX").arg(self.ttl_ms());
                let take = take.query_async::<()>(c);
                if !matches!(tokio::time::timeout(CALL_TIMEOUT, take).await, Ok(Ok(()))) {
                    return None;
                }
                if node != self.config.node {
                    let act = if Some(theirs) == account_id {
                        RemoteAct::Replace
                    } else {
                        RemoteAct::MoveAside
                    };
                    self.sink().publish(BusEvent::Act {
                        target: RemoteId {
                            node: node.to_owned(),
                            member,
                        },
                        act,
                    });
                }
                return Some(candidate);
            }
            tried.insert(folded);
        }
        None
    }

    async fn run_writer<O, J>(
        self: Arc<Self>,
        hub: Shared<O, J>,
        mut receiver: mpsc::UnboundedReceiver<Outgoing>,
        shutdown: CancellationToken,
    ) where
        O: Outbox + Send + 'static,
        J: Journal + Send + 'static,
    {
        let mut pending: VecDeque<Outgoing> = VecDeque::new();
        let mut conn: Option<MultiplexedConnection> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            if pending.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = receiver.recv() => match next {
                        Some(next) => pending.push_back(next),
                        None => return,
                    },
                }
            }
            while let Ok(next) = receiver.try_recv() {
                pending.push_back(next);
            }
            self.refuse_overdue(&hub, &mut pending);
            if conn.is_none() {
                match self.resume(&hub, &mut pending).await {
                    Ok(c) => {
                        conn = Some(c);
                        backoff = Duration::from_millis(100);
                        self.health.ok(&self.health.writer_down, "writer");
                    }
                    Err(e) => {
                        self.health.failed(&self.health.writer_down, "writing", &e);
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            while let Some(next) = pending.front() {
                match self.write(&hub, c, next).await {
                    Ok(()) => {
                        pending.pop_front();
                        self.done(1);
                    }
                    Err(e) => {
                        self.health.failed(&self.health.writer_down, "writing", &e);
                        conn = None;
                        break;
                    }
                }
            }
        }
    }

    /// Lines that waited too long are refused to their senders; past the bound, the newest
    /// lines are refused at once.
    fn refuse_overdue<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        pending: &mut VecDeque<Outgoing>,
    ) {
        let deadline = self.config.line_deadline;
        let over = pending.len().saturating_sub(MAX_PENDING);
        let mut refused = Vec::new();
        let mut index = 0;
        let before = pending.len();
        pending.retain(|item| {
            index += 1;
            let refuse = matches!(item.event, BusEvent::Line { .. })
                && (item.at.elapsed() > deadline || index > pending_len_limit(over));
            if refuse && let BusEvent::Line { sender, line, .. } = &item.event {
                refused.push((*sender, line.clone()));
            }
            !refuse
        });
        self.done(before - pending.len());
        if refused.is_empty() {
            return;
        }
        warn!(
            lines = refused.len(),
            "refusing lines the cluster bus could not take in time"
        );
        let mut hub = hub.lock();
        for (sender, line) in refused {
            hub.line_refused(
                sender,
                &line,
                "the chat servers cannot reach each other",
                Utc::now(),
            );
        }
    }

    /// (Re)connects, then tells the cluster everything this node has: its members (a
    /// snapshot, which supersedes the presence still waiting) and its names.
    async fn resume<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        pending: &mut VecDeque<Outgoing>,
    ) -> Result<MultiplexedConnection, redis::RedisError> {
        let mut c = connect(&self.client, CALL_TIMEOUT).await?;
        let before = pending.len();
        pending
            .retain(|item| !matches!(item.event, BusEvent::Present { .. } | BusEvent::Gone { .. }));
        self.done(before - pending.len());
        let states = hub.lock().local_states();
        let mut invocation = self.scripts.event.prepare_invoke();
        invocation
            .key(self.keys.log())
            .key(self.keys.members(&self.config.node))
            .arg(&self.config.node)
            .arg("snapshot")
            .arg(codec::snapshot_json(&states).to_string())
            .arg(self.config.log_len)
            .arg("replace")
            .arg(self.ttl_ms());
        for state in &states {
            invocation
                .arg(state.member)
                .arg(codec::state_json(state).to_string());
        }
        let _: String = timed(invocation.invoke_async(&mut c)).await?;
        // Names: each member's is held (or, if somebody took it meanwhile, lost); those of
        // members who left meanwhile are given up.
        let here: HashSet<u64> = states.iter().map(|s| s.member).collect();
        let gone: Vec<(u64, Held)> = self
            .names
            .lock()
            .iter()
            .filter(|(m, _)| !here.contains(m))
            .map(|(m, h)| (*m, h.clone()))
            .collect();
        for (member, held) in gone {
            self.release(&mut c, &held).await?;
            self.names.lock().remove(&member);
        }
        for state in &states {
            self.names.lock().remove(&state.member);
            self.hold_name(hub, &mut c, state).await?;
        }
        Ok(c)
    }

    async fn claim(
        &self,
        c: &mut MultiplexedConnection,
        held: &Held,
    ) -> Result<String, redis::RedisError> {
        let (alive_before, alive_after) = self.keys.alive_parts();
        timed(
            self.scripts
                .claim
                .key(&held.key)
                .arg(&held.value)
                .arg(self.name_ttl_ms())
                .arg(self.reservation_prefix())
                .arg(alive_before)
                .arg(alive_after)
                .invoke_async(c),
        )
        .await
    }

    async fn release(
        &self,
        c: &mut MultiplexedConnection,
        held: &Held,
    ) -> Result<(), redis::RedisError> {
        let _: i64 = timed(
            self.scripts
                .release
                .key(&held.key)
                .arg(&held.value)
                .invoke_async(c),
        )
        .await?;
        Ok(())
    }

    async fn append(
        &self,
        c: &mut MultiplexedConnection,
        event: &BusEvent,
        op: &str,
        pair: Option<(u64, String)>,
    ) -> Result<(), redis::RedisError> {
        let Some((kind, data)) = codec::event_json(event) else {
            return Ok(());
        };
        let mut invocation = self.scripts.event.prepare_invoke();
        invocation
            .key(self.keys.log())
            .key(self.keys.members(&self.config.node))
            .arg(&self.config.node)
            .arg(kind)
            .arg(data.to_string())
            .arg(self.config.log_len)
            .arg(op)
            .arg(self.ttl_ms());
        if let Some((field, value)) = pair {
            invocation.arg(field).arg(value);
        }
        let _: String = timed(invocation.invoke_async(c)).await?;
        Ok(())
    }

    /// Writes one event. Safe to repeat after a failure: a line lands once, presence and
    /// directed events are applied idempotently.
    async fn write<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        c: &mut MultiplexedConnection,
        item: &Outgoing,
    ) -> Result<(), redis::RedisError> {
        match &item.event {
            BusEvent::Line { line, account, .. } => {
                let data = serde_json::json!({
                    "line": codec::line_json(line),
                    "account": account,
                });
                let mut invocation = self.scripts.line.prepare_invoke();
                invocation
                    .key(self.keys.log())
                    .key(self.keys.dedup(&item.uid))
                    .key(self.keys.history(&line.room))
                    .key(self.keys.rooms())
                    .arg(&self.config.node)
                    .arg("line")
                    .arg(data.to_string())
                    .arg(self.config.log_len)
                    .arg(self.config.history_len)
                    .arg(name::fold(&line.room))
                    .arg(codec::millis(line.at))
                    .arg(DEDUP_SECS);
                for (_, value) in crate::store::line_fields(line) {
                    invocation.arg(value);
                }
                let _: String = timed(invocation.invoke_async(c)).await?;
            }
            BusEvent::Present { state, .. } => {
                self.hold_name(hub, c, state).await?;
                let json = codec::state_json(state).to_string();
                self.append(c, &item.event, "set", Some((state.member, json)))
                    .await?;
            }
            BusEvent::Gone { member, .. } => {
                let held = self.names.lock().get(member).cloned();
                if let Some(held) = held {
                    self.release(c, &held).await?;
                    self.names.lock().remove(member);
                }
                self.append(c, &item.event, "del", Some((*member, String::new())))
                    .await?;
            }
            BusEvent::WantName { member, name } => {
                let account = hub.lock().account_of(*member).map(str::to_owned);
                let held = Held {
                    key: self.keys.name(&name::fold(name)),
                    value: self.value(member.get(), account.as_deref()),
                };
                let answer = self.claim(c, &held).await?;
                let unused = {
                    let mut hub = hub.lock();
                    if answer == "ok" {
                        hub.name_granted(*member, name, Utc::now());
                        hub.name_of(*member) != Some(name.as_str())
                    } else {
                        hub.name_refused(*member, name, Utc::now());
                        false
                    }
                };
                if unused && self.names.lock().get(&member.get()) != Some(&held) {
                    self.release(c, &held).await?;
                }
            }
            _ => self.append(c, &item.event, "", None).await?,
        }
        Ok(())
    }

    /// Makes sure this node holds the name a member of it now has; if someone else in the
    /// cluster does, the member moves to a free variant.
    async fn hold_name<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        c: &mut MultiplexedConnection,
        state: &MemberState,
    ) -> Result<(), redis::RedisError> {
        let wanted = Held {
            key: self.keys.name(&name::fold(&state.name)),
            value: self.value(state.member, state.account.as_deref()),
        };
        let before = self.names.lock().get(&state.member).cloned();
        if before.as_ref() == Some(&wanted) {
            return Ok(());
        }
        if self.claim(c, &wanted).await? == "ok" {
            if let Some(before) = before.filter(|b| b.key != wanted.key) {
                self.release(c, &before).await?;
            }
            self.names.lock().insert(state.member, wanted);
        } else {
            debug!(name = %state.name, "a name this node gave out is held elsewhere");
            let mut hub = hub.lock();
            if let Some(id) = hub.local_member(state.member)
                && hub.name_of(id) == Some(state.name.as_str())
            {
                hub.name_lost(id, Utc::now());
            }
        }
        Ok(())
    }

    async fn run_reader<O, J>(
        self: Arc<Self>,
        hub: Shared<O, J>,
        mut from: Option<String>,
        shutdown: CancellationToken,
    ) where
        O: Outbox + Send + 'static,
        J: Journal + Send + 'static,
    {
        let mut backoff = Duration::from_millis(100);
        let mut resynced = false;
        loop {
            let result = async {
                // Blocking reads wait up to a second: give them longer than that.
                let mut c = connect(&self.client, CALL_TIMEOUT + Duration::from_secs(1)).await?;
                let log = self.keys.log();
                let trimmed = match &from {
                    Some(last) => first_id(&mut c, &log)
                        .await?
                        .is_some_and(|first| id_after(&first, last)),
                    None => true,
                };
                if trimmed || !resynced {
                    let end = last_id(&mut c, &log).await?;
                    self.resync(&hub, &mut c).await?;
                    if from.is_none() || trimmed {
                        from = Some(end);
                    }
                    resynced = true;
                }
                self.health.ok(&self.health.reader_down, "reader");
                loop {
                    if shutdown.is_cancelled() {
                        return Ok(());
                    }
                    let last = from.clone().unwrap_or_else(|| "0-0".to_owned());
                    let reply: redis::Value = timed_for(
                        CALL_TIMEOUT + Duration::from_secs(1),
                        redis::cmd("XREAD")
                            .arg("COUNT")
                            .arg(1000)
                            .arg("BLOCK")
                            .arg(1000)
                            .arg("STREAMS")
                            .arg(&log)
                            .arg(&last)
                            .query_async(&mut c),
                    )
                    .await?;
                    let batch = read_reply(reply);
                    if let Some((id, _)) = batch.last() {
                        from = Some(id.clone());
                    }
                    if !batch.is_empty() {
                        self.apply(&hub, batch);
                    }
                }
            };
            let result: Result<(), redis::RedisError> = tokio::select! {
                () = shutdown.cancelled() => return,
                result = result => result,
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    self.health.failed(&self.health.reader_down, "reading", &e);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Applies a batch of log entries under one lock.
    fn apply<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        batch: Vec<(String, Vec<(String, String)>)>,
    ) {
        let now = Utc::now();
        let me = self.config.node.as_str();
        let mut hub = hub.lock();
        for (id, fields) in batch {
            let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
            let (Some(origin), Some(kind), Some(data)) = (get("o"), get("k"), get("d")) else {
                warn!(%id, "a log entry without origin, kind or data; skipped");
                continue;
            };
            match codec::entry_from(kind, data) {
                Some(Entry::Line { line, account }) => {
                    hub.line_arrived(line, account.as_deref(), now);
                }
                Some(Entry::Event(event)) => hub.apply_from(origin, me, event, now),
                Some(Entry::Snapshot(states)) if origin != me => {
                    hub.node_snapshot(origin, states, now);
                }
                Some(Entry::Snapshot(_)) => {}
                None => warn!(%id, kind, "a log entry that cannot be read; skipped"),
            }
        }
    }

    /// Learns every other node's members from their hashes (at start, and after falling so
    /// far behind that the log no longer holds what was missed).
    async fn resync<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        c: &mut MultiplexedConnection,
    ) -> Result<(), redis::RedisError> {
        let nodes: Vec<String> =
            timed(redis::cmd("SMEMBERS").arg(self.keys.nodes()).query_async(c)).await?;
        let mut found = Vec::new();
        for node in nodes.into_iter().filter(|n| *n != self.config.node) {
            let alive: bool = timed(
                redis::cmd("EXISTS")
                    .arg(self.keys.alive(&node))
                    .query_async(c),
            )
            .await?;
            let members: HashMap<String, String> = if alive {
                timed(
                    redis::cmd("HGETALL")
                        .arg(self.keys.members(&node))
                        .query_async(c),
                )
                .await?
            } else {
                HashMap::new()
            };
            let states: Vec<MemberState> = members
                .values()
                .filter_map(|v| codec::state_from(&serde_json::from_str(v).ok()?))
                .collect();
            found.push((node, states));
        }
        let now = Utc::now();
        let mut hub = hub.lock();
        for (node, states) in found {
            hub.node_snapshot(&node, states, now);
        }
        info!("learnt the other nodes' members");
        Ok(())
    }

    async fn run_heartbeat<O, J>(self: Arc<Self>, hub: Shared<O, J>, shutdown: CancellationToken)
    where
        O: Outbox + Send + 'static,
        J: Journal + Send + 'static,
    {
        let mut every = tokio::time::interval(self.config.heartbeat);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn: Option<MultiplexedConnection> = None;
        let mut beats: u64 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            beats += 1;
            if conn.is_none() {
                match connect(&self.client, CALL_TIMEOUT).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        self.health
                            .failed(&self.health.heartbeat_down, "heartbeat", &e);
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            match self.beat(&hub, c, beats).await {
                Ok(()) => self.health.ok(&self.health.heartbeat_down, "heartbeat"),
                Err(e) => {
                    self.health
                        .failed(&self.health.heartbeat_down, "heartbeat", &e);
                    conn = None;
                }
            }
        }
    }

    /// Refreshes what keeps this node alive in Redis, and buries the nodes that are not.
    /// One beat; `slice` (the beat's number) picks the names it refreshes.
    async fn beat<O: Outbox, J: Journal>(
        &self,
        hub: &Mutex<Hub<O, J>>,
        c: &mut MultiplexedConnection,
        slice: u64,
    ) -> Result<(), redis::RedisError> {
        let node = &self.config.node;
        let ttl = self.ttl_ms();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.alive(node))
            .arg(&self.instance)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("SADD")
            .arg(self.keys.nodes())
            .arg(node)
            .ignore()
            .cmd("PEXPIRE")
            .arg(self.keys.members(node))
            .arg(ttl)
            .ignore();
        let (slices, name_ttl) = (name_slices(&self.config), self.name_ttl_ms());
        for (member, held) in self.names.lock().iter() {
            if member % slices == slice % slices {
                pipe.cmd("PEXPIRE").arg(&held.key).arg(name_ttl).ignore();
            }
        }
        let () = timed(pipe.query_async(c)).await?;
        let mut nodes: Vec<String> =
            timed(redis::cmd("SMEMBERS").arg(self.keys.nodes()).query_async(c)).await?;
        nodes.extend(hub.lock().remote_nodes());
        nodes.sort();
        nodes.dedup();
        nodes.retain(|n| n != node);
        if nodes.is_empty() {
            return Ok(());
        }
        let mut check = redis::pipe();
        for other in &nodes {
            check.cmd("EXISTS").arg(self.keys.alive(other));
        }
        let alive: Vec<bool> = timed(check.query_async(c)).await?;
        let dead: Vec<&String> = nodes
            .iter()
            .zip(alive)
            .filter(|(_, alive)| !alive)
            .map(|(n, _)| n)
            .collect();
        if dead.is_empty() {
            return Ok(());
        }
        {
            let mut hub = hub.lock();
            for other in &dead {
                if hub.remote_nodes().iter().any(|n| n == *other) {
                    info!(node = %other, "a node stopped answering; its members leave");
                }
                hub.node_gone(other, Utc::now());
            }
        }
        let _: () = timed(
            redis::cmd("SREM")
                .arg(self.keys.nodes())
                .arg(&dead)
                .query_async(c),
        )
        .await?;
        Ok(())
    }
}

/// How many beats it takes to refresh every name once: each beat refreshes the names of the
/// members whose id falls in its slice, so that each name is refreshed four times within its
/// TTL.
fn name_slices(config: &ClusterConfig) -> u64 {
    let per_refresh = config.name_ttl.as_secs_f64() / 4.0;
    (per_refresh / config.heartbeat.as_secs_f64().max(0.001)).max(1.0) as u64
}

/// How many pending events may wait before lines are refused at once (all of them, when none
/// are over the bound).
fn pending_len_limit(over: usize) -> usize {
    if over == 0 { usize::MAX } else { MAX_PENDING }
}

async fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> Result<MultiplexedConnection, redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn timed<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    timed_for(CALL_TIMEOUT, call).await
}

async fn timed_for<T>(
    limit: Duration,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Redis did not answer in time",
        ))),
    }
}

async fn last_id(c: &mut MultiplexedConnection, log: &str) -> Result<String, redis::RedisError> {
    let value: redis::Value = timed(
        redis::cmd("XREVRANGE")
            .arg(log)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(c),
    )
    .await?;
    Ok(entries(value)
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
}

async fn first_id(
    c: &mut MultiplexedConnection,
    log: &str,
) -> Result<Option<String>, redis::RedisError> {
    let value: redis::Value = timed(
        redis::cmd("XRANGE")
            .arg(log)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(c),
    )
    .await?;
    Ok(entries(value).into_iter().next().map(|(id, _)| id))
}

/// Whether stream id `a` comes after `b` (`ms-seq`).
fn id_after(a: &str, b: &str) -> bool {
    let parse = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(a) > parse(b)
}

/// The entries of an `XREAD` reply for one stream.
fn read_reply(value: redis::Value) -> Vec<(String, Vec<(String, String)>)> {
    // [[key, [entries...]]] (RESP2), or nil on timeout.
    let redis::Value::Array(streams) = value else {
        return Vec::new();
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            redis::Value::Array(mut parts) if parts.len() == 2 => parts.pop(),
            _ => None,
        })
        .flat_map(entries)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_refreshed_four_times_within_its_ttl() {
        let config = ClusterConfig::new("redis://127.0.0.1:1", "n1");
        let slices = name_slices(&config);
        assert_eq!(slices, 150, "600 s / 4 at a beat a second");
        assert!(config.heartbeat * slices as u32 * 4 <= config.name_ttl);
        // Every member id falls in exactly one slice of any run of `slices` beats.
        for member in 0..1000u64 {
            let beats = (17..17 + slices)
                .filter(|beat| member % slices == beat % slices)
                .count();
            assert_eq!(beats, 1, "member {member}");
        }
        let tiny = ClusterConfig {
            name_ttl: Duration::from_millis(10),
            ..config
        };
        assert_eq!(
            name_slices(&tiny),
            1,
            "a TTL shorter than four beats: every beat"
        );
    }

    #[test]
    fn stream_ids_compare_as_numbers() {
        assert!(id_after("10-0", "9-5"));
        assert!(id_after("9-10", "9-9"));
        assert!(!id_after("9-9", "9-9"));
        assert!(!id_after("0-0", "1-0"));
    }
}
