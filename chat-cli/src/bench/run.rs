//! The phases of a run: connect everyone, wait for the server to go quiet, send, wait for the
//! last deliveries, then collect what every session saw. A [`Shard`] is one process's part in
//! them: all of a run ([`run`]), or one share of a run split over processes (see `parent`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{self, Session, Spec};
use super::outcome::Outcome;
use super::progress::Progress;
use super::readings::Readings;
use super::report::Report;
use super::send::{Sent, send_all};
use super::shard::{self, Plan, Spread};
use super::token::{self, Tag};
use super::{BenchArgs, BenchError, proc};

/// How often the phases look at the counters (and redraw the progress line).
pub(super) const TICK: Duration = Duration::from_millis(100);
/// The server counts as quiet after this long without sending anyone a byte.
const QUIET: Duration = Duration::from_secs(1);
/// How long closing all sessions may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Failures by kind, with how often each happened.
type Errors = BTreeMap<String, u64>;

fn note(errors: &mut Errors, what: impl Into<String>) {
    *errors.entry(what.into()).or_default() += 1;
}

/// A token that Ctrl-C cancels (to be called inside the runtime).
pub(super) fn stop_on_ctrl_c() -> CancellationToken {
    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    stop
}

/// A run in this one process.
pub(super) async fn run(args: &BenchArgs, addr_text: &str) -> Result<Report, BenchError> {
    let addrs = resolve_all(args, addr_text).await?;
    let target = target_of(&addrs);
    let mut server = Readings::start(&args.server_pid)?;
    let tag = token::random_tag();
    let stop = stop_on_ctrl_c();
    let plan = shard::plan(
        args.users + args.slow_readers,
        args.senders,
        args.connect_concurrency,
        1,
    )
    .remove(0);
    let mut shard = Shard::new(args, addrs, plan, tag, stop, Progress::new());
    shard.connect().await;
    shard.settle().await;
    server.set_up();
    let senders = shard.senders();
    shard
        .send(
            &mut server,
            Spread {
                first: 0,
                of: senders,
            },
        )
        .await;
    server.end();
    let mut outcome = shard.outcome();
    // Closing the sessions is the bench's work too.
    outcome.cpu_s = shard.close().await;
    Ok(outcome.into_report(args, target, tag, server))
}

/// The servers in `--addr`, resolved, checked against `--bind-ips`.
pub(super) async fn resolve_all(
    args: &BenchArgs,
    addr_text: &str,
) -> Result<Vec<SocketAddr>, BenchError> {
    // Several servers (the nodes of a cluster), comma-separated: sessions take them in turn.
    let mut addrs = Vec::new();
    for one in addr_text.split(',') {
        addrs.push(resolve(one.trim(), args.timeout()).await?);
    }
    if let Some(ip) = args
        .bind_ips
        .iter()
        .flat_map(|list| &list.0)
        .find(|ip| addrs.iter().any(|addr| ip.is_ipv4() != addr.is_ipv4()))
    {
        return Err(BenchError::BindFamily {
            ip: *ip,
            addr: addr_text.to_owned(),
        });
    }
    Ok(addrs)
}

/// How the report names the servers.
pub(super) fn target_of(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One process's part of a run (all of it, or one share of a run split over processes),
/// taken through the phases one call at a time, so that a parent can keep several in step.
pub(super) struct Shard<'a> {
    args: &'a BenchArgs,
    plan: Plan,
    shared: Arc<client::Shared>,
    stop: CancellationToken,
    progress: Progress,
    errors: Errors,
    client_before: Option<proc::Sample>,
    client_after_setup: Option<proc::Sample>,
    connected: Connected,
    quiet_us: u64,
    sent: Sent,
    window_bytes: Option<u64>,
}

impl<'a> Shard<'a> {
    pub fn new(
        args: &'a BenchArgs,
        addrs: Vec<SocketAddr>,
        plan: Plan,
        tag: Tag,
        stop: CancellationToken,
        progress: Progress,
    ) -> Self {
        let client_before = proc::sample("self").ok();
        let measured_lines = lines(args.rate, args.duration);
        let warmup_lines = lines(args.rate, args.warmup);
        let shared = Arc::new(client::Shared {
            addrs,
            ssh: Arc::new(russh::client::Config {
                nodelay: true,
                ..Default::default()
            }),
            slow_ssh: Arc::new(russh::client::Config {
                nodelay: true,
                window_size: args.slow_window,
                ..Default::default()
            }),
            timeout: args.timeout(),
            pty_width: args.pty_width,
            key_seed: args.key_seed,
            tag,
            users: args.users,
            lines_per_sender: warmup_lines + measured_lines,
            warmup_lines,
            bytes: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            set_up: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        Self {
            args,
            plan,
            shared,
            stop,
            progress,
            errors: Errors::new(),
            client_before,
            client_after_setup: None,
            connected: Connected::default(),
            quiet_us: 0,
            sent: Sent::default(),
            window_bytes: None,
        }
    }

    /// The counters all sessions share.
    pub fn shared(&self) -> &Arc<client::Shared> {
        &self.shared
    }

    /// Opens every session of the plan.
    pub async fn connect(&mut self) {
        self.connected = connect_all(
            self.args,
            &self.plan,
            &self.shared,
            &self.stop,
            &mut self.progress,
            &mut self.errors,
        )
        .await;
    }

    /// How many sessions will send: the first of the plan's normal sessions that set up.
    pub fn senders(&self) -> u32 {
        self.normal().take(self.plan.senders as usize).count() as u32
    }

    fn normal(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.connected.sessions.iter().filter(|s| !s.spec.slow)
    }

    /// Waits for the server to go quiet.
    pub async fn settle(&mut self) {
        let quiet_at = settle(self.args, &self.shared, &self.stop, &mut self.progress).await;
        self.quiet_us = wall_micros(quiet_at);
        self.client_after_setup = proc::sample("self").ok();
    }

    /// Sends (if this process holds senders), its senders taking their places in `spread`
    /// among all of the run's, then waits for the deliveries still on their way.
    pub async fn send(&mut self, server: &mut Readings, spread: Spread) {
        let senders = self
            .normal()
            .take(self.plan.senders as usize)
            .cloned()
            .collect();
        self.sent = send_all(
            self.args,
            &self.shared,
            senders,
            spread,
            server,
            &self.stop,
            &mut self.progress,
        )
        .await;
        for error in &self.sent.errors {
            note(&mut self.errors, error.clone());
        }
        // Lines from other processes are counted as planned: only they know what they sent.
        let measured = self.shared.lines_per_sender - self.shared.warmup_lines;
        let elsewhere =
            u64::from(spread.of.saturating_sub(self.sent.senders)) * u64::from(measured);
        let receivers = self.normal().count() as u64;
        let expected = shard::expected_here(self.sent.lines, elsewhere, receivers);
        drain(
            self.args,
            &self.shared,
            expected,
            &self.stop,
            &mut self.progress,
        )
        .await;
        self.window_bytes = self
            .sent
            .bytes_at_start
            .map(|at| self.shared.bytes.load(Ordering::Relaxed).saturating_sub(at));
    }

    /// What the sessions saw, with this process's CPU so far.
    pub fn outcome(&mut self) -> Outcome {
        let seen = collect(&self.connected.sessions, &mut self.errors);
        self.progress.clear();
        let cpu_since = |until: Option<proc::Sample>| {
            self.client_before
                .zip(until)
                .map(|(before, after)| after.cpu().saturating_sub(before.cpu()).as_secs_f64())
        };
        Outcome {
            attempted: self.plan.sessions.len() as u32,
            ok: self.connected.sessions.len() as u32,
            receivers: self.normal().count() as u64,
            senders: self.sent.senders,
            started_us: self.connected.started_us,
            last_ok_us: self.connected.last_ok_us,
            quiet_us: self.quiet_us,
            setup_us: self
                .connected
                .sessions
                .iter()
                .map(|s| micros(s.setup))
                .collect(),
            lines: self.sent.lines,
            lags_us: std::mem::take(&mut self.sent.lags_us),
            latencies_us: seen.latencies_us,
            window_bytes: self.window_bytes,
            duplicates: seen.duplicates,
            invalid: seen.invalid,
            lost: seen.lost,
            slow_lost: seen.slow_lost,
            errors: self.errors.clone(),
            cpu_s: cpu_since(proc::sample("self").ok()),
            setup_cpu_s: cpu_since(self.client_after_setup),
            interrupted: self.stop.is_cancelled(),
        }
    }

    /// Closes every session; returns the CPU this process used from the start until now.
    pub async fn close(self) -> Option<f64> {
        close_all(&self.connected.sessions).await;
        self.client_before
            .zip(proc::sample("self").ok())
            .map(|(before, after)| after.cpu().saturating_sub(before.cpu()).as_secs_f64())
    }
}

/// The time of day, in microseconds since the UNIX epoch, of an instant gone by.
fn wall_micros(at: Instant) -> u64 {
    client::unix_micros().saturating_sub(micros(at.elapsed()))
}

/// Lines in `seconds` at `rate` a second, rounded to the nearest whole line.
pub(super) fn lines(rate: f64, seconds: f64) -> u32 {
    (rate * seconds).round().clamp(0.0, f64::from(u32::MAX / 2)) as u32
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn resolve(addr: &str, timeout: Duration) -> Result<SocketAddr, BenchError> {
    let error = |reason: String| BenchError::Resolve {
        addr: addr.to_owned(),
        reason,
    };
    match tokio::time::timeout(timeout, tokio::net::lookup_host(addr)).await {
        Err(_) => Err(error("timed out".to_owned())),
        Ok(Err(e)) => Err(error(e.to_string())),
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| error("no addresses".to_owned())),
    }
}

/// The sessions that set up, and when (in microseconds since the UNIX epoch).
#[derive(Default)]
struct Connected {
    /// In index order: the normal users first, then the slow readers.
    sessions: Vec<Arc<Session>>,
    started_us: u64,
    /// When the last session that set up did so.
    last_ok_us: Option<u64>,
}

/// Opens every session of the plan, its share of `--connect-concurrency` at a time.
async fn connect_all(
    args: &BenchArgs,
    plan: &Plan,
    shared: &Arc<client::Shared>,
    stop: &CancellationToken,
    progress: &mut Progress,
    errors: &mut Errors,
) -> Connected {
    let started_us = client::unix_micros();
    let total = plan.sessions.len() as u32;
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency as usize));
    let mut tasks = JoinSet::new();
    for index in plan.sessions.clone() {
        let spec = Spec {
            index,
            name: super::session_name(&args.user_prefix, index),
            bind: args
                .bind_ips
                .as_ref()
                .map(|list| list.0[index as usize % list.0.len()]),
            slow: index >= args.users,
        };
        let (gate, shared) = (Arc::clone(&gate), Arc::clone(shared));
        tasks.spawn(async move {
            let _permit = gate
                .acquire_owned()
                .await
                .expect("the gate is never closed");
            let result = client::connect(spec, shared).await;
            (result, Instant::now())
        });
    }
    let mut sessions = Vec::new();
    let mut failed = 0;
    let mut last_ok = None;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((Ok(session), at))) => {
                    last_ok = last_ok.max(Some(at));
                    sessions.push(Arc::new(session));
                    shared.set_up.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok((Err(error), _))) => {
                    failed += 1;
                    note(errors, error.to_string());
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(error)) => {
                    failed += 1;
                    note(errors, format!("set-up task: {error}"));
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
            },
            _ = tick.tick() => {}
            () = stop.cancelled() => break, // dropping the set aborts the rest
        }
        let done = sessions.len() + failed;
        progress.show(
            "connecting",
            done as f64 / f64::from(total),
            &format!("{} of {total} in, {failed} failed", sessions.len()),
        );
    }
    sessions.sort_by_key(|s| s.spec.index);
    Connected {
        sessions,
        started_us,
        last_ok_us: last_ok.map(wall_micros),
    }
}

/// Waits until no session has received anything for [`QUIET`] (the join announcements are
/// out), or `--settle` seconds; returns when the last byte arrived.
async fn settle(
    args: &BenchArgs,
    shared: &client::Shared,
    stop: &CancellationToken,
    progress: &mut Progress,
) -> Instant {
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.settle);
    let mut bytes = shared.bytes.load(Ordering::Relaxed);
    let mut last_change = started;
    while !stop.is_cancelled() && started.elapsed() < limit && last_change.elapsed() < QUIET {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = stop.cancelled() => {}
        }
        let now = shared.bytes.load(Ordering::Relaxed);
        if now != bytes {
            bytes = now;
            last_change = Instant::now();
        }
        progress.show(
            "settling",
            last_change.elapsed().as_secs_f64() / QUIET.as_secs_f64(),
            &format!("{} MiB received", bytes >> 20),
        );
    }
    last_change
}

/// Waits until every expected delivery was seen, or `--drain` seconds.
async fn drain(
    args: &BenchArgs,
    shared: &client::Shared,
    expected: u64,
    stop: &CancellationToken,
    progress: &mut Progress,
) {
    let until = Instant::now() + Duration::from_secs_f64(args.drain);
    loop {
        let seen = shared.deliveries.load(Ordering::Relaxed);
        if seen >= expected || stop.is_cancelled() || Instant::now() >= until {
            return;
        }
        progress.show(
            "draining",
            seen as f64 / expected as f64,
            &format!("{seen} of {expected} deliveries"),
        );
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// What the normal sessions saw, all together.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    duplicates: u64,
    invalid: u64,
    /// Normal sessions whose connection ended before the run did.
    lost: u64,
    slow_lost: u64,
}

fn collect(sessions: &[Arc<Session>], errors: &mut Errors) -> Seen {
    let mut seen = Seen::default();
    for session in sessions {
        let mut inbox = session.inbox.lock();
        if session.spec.slow {
            seen.slow_lost += u64::from(inbox.closed.is_some());
            continue;
        }
        seen.latencies_us.append(&mut inbox.latencies_us);
        seen.duplicates += inbox.duplicates;
        seen.invalid += inbox.invalid;
        if let Some(why) = &inbox.closed {
            seen.lost += 1;
            note(errors, format!("session lost: {why}"));
        }
    }
    seen
}

async fn close_all(sessions: &[Arc<Session>]) {
    let mut tasks = JoinSet::new();
    for session in sessions {
        let session = Arc::clone(session);
        tasks.spawn(async move { session.close(CLOSE_TIMEOUT).await });
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT * 2, tasks.join_all()).await;
}
