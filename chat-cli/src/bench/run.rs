//! The phases of a run: connect everyone, wait for the server to go quiet, send, wait for the
//! last deliveries, then collect what every session saw.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{self, Session, Spec};
use super::progress::Progress;
use super::report::{NodeUse, Report, ServerUse, Setup};
use super::send::send_all;
use super::stats::Summary;
use super::token;
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

pub(super) async fn run(args: &BenchArgs, addr_text: &str) -> Result<Report, BenchError> {
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
    let mut errors = Errors::new();
    // A wrong PID is a mistake to report at once; a reading that fails later is noted.
    let server_before = (!args.server_pid.is_empty())
        .then(|| {
            proc::sample_each(&args.server_pid)
                .map_err(|(pid, source)| BenchError::ServerPid { pid, source })
        })
        .transpose()?;
    let read_server = |errors: &mut Errors| {
        if args.server_pid.is_empty() {
            return None;
        }
        proc::sample_each(&args.server_pid)
            .map_err(|(_, e)| note(errors, format!("server: {e}")))
            .ok()
    };
    let client_before = proc::sample("self").ok();
    let measured_lines = lines(args.rate, args.duration);
    let warmup_lines = lines(args.rate, args.warmup);
    let target = addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
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
        tag: token::random_tag(),
        users: args.users,
        lines_per_sender: warmup_lines + measured_lines,
        warmup_lines,
        bytes: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let mut progress = Progress::new();

    let connected = connect_all(args, &shared, &stop, &mut progress, &mut errors).await;
    let quiet_at = settle(args, &shared, &stop, &mut progress).await;
    let server_after_setup = read_server(&mut errors);
    let client_after_setup = proc::sample("self").ok();
    let sent = send_all(args, &shared, &connected.sessions, &stop, &mut progress).await;
    for error in &sent.errors {
        note(&mut errors, error.clone());
    }
    let receivers = connected.sessions.iter().filter(|s| !s.spec.slow).count() as u64;
    let expected = sent.lines * receivers.saturating_sub(1);
    drain(args, &shared, expected, &stop, &mut progress).await;
    let window_bytes = sent
        .bytes_at_start
        .map(|at| shared.bytes.load(Ordering::Relaxed).saturating_sub(at));
    let server_after = read_server(&mut errors);
    let window_end = Instant::now();
    let seen = collect(&connected.sessions, &mut errors);
    progress.clear();
    close_all(&connected.sessions).await;

    let mut latencies = seen.latencies_us;
    let mut setup_latencies: Vec<u64> =
        connected.sessions.iter().map(|s| micros(s.setup)).collect();
    let mut lags = sent.lags_us;
    let ok = connected.sessions.len() as u32;
    let per_second = |until: Option<Instant>| {
        let secs = until.map_or(0.0, |t| (t - connected.started).as_secs_f64());
        (
            secs,
            if secs > 0.0 {
                f64::from(ok) / secs
            } else {
                0.0
            },
        )
    };
    let (elapsed_s, sessions_per_s) = per_second(connected.last_ok);
    let (quiet_after_s, sessions_per_s_until_quiet) =
        per_second(connected.last_ok.map(|_| quiet_at));
    let server = match (server_before, server_after_setup, server_after) {
        (Some(before), Some(after_setup), Some(after)) => Some(server_use(
            &args.server_pid,
            [before, after_setup, after],
            sent.cpu_start
                .map(|(at, samples)| (window_end - at, samples)),
            ok,
            latencies.len() as u64,
        )),
        _ => None,
    };
    let client_cpu_s = client_before
        .zip(proc::sample("self").ok())
        .map(|(before, after)| after.cpu().saturating_sub(before.cpu()).as_secs_f64());
    let client_setup_cpu_s = client_before
        .zip(client_after_setup)
        .map(|(before, after)| after.cpu().saturating_sub(before.cpu()).as_secs_f64());
    let failed = args.users + args.slow_readers - ok;
    let deliveries_seen = latencies.len() as u64;
    Ok(Report {
        target,
        run_tag: String::from_utf8_lossy(&shared.tag).into_owned(),
        users: args.users,
        senders: sent.senders,
        slow_readers: args.slow_readers,
        rate: args.rate,
        duration_s: args.duration,
        warmup_s: args.warmup,
        connect_concurrency: args.connect_concurrency,
        interrupted: stop.is_cancelled(),
        setup: Setup {
            attempted: args.users + args.slow_readers,
            ok,
            failed,
            elapsed_s,
            sessions_per_s,
            quiet_after_s,
            sessions_per_s_until_quiet,
            latency: Summary::of(&mut setup_latencies),
        },
        lines_sent: sent.lines,
        deliveries_expected: expected,
        deliveries_seen,
        bytes_per_delivery: window_bytes
            .filter(|_| deliveries_seen > 0)
            .map(|b| b as f64 / deliveries_seen as f64),
        duplicates: seen.duplicates,
        invalid_tokens: seen.invalid,
        delivery_latency: Summary::of(&mut latencies),
        send_lag: Summary::of(&mut lags),
        sessions_lost: seen.lost,
        slow_readers_lost: seen.slow_lost,
        errors: errors.values().sum(),
        error_kinds: errors,
        server,
        client_cpu_s,
        client_setup_cpu_s,
        floor: None,
        ratio_to_floor: None,
    })
}

/// The server's use of memory and CPU, from readings before the first connect, once all
/// sessions were in and the server quiet, at the start of the measured sending (with how long
/// ago that was) and at the end.
/// What the server's processes used, from their samples before the run, after set-up and
/// after the drain, and at the start of the measured window; summed over the processes, with
/// each one's CPU per delivery beside the sum when there are several.
fn server_use(
    pids: &[u32],
    [before, after_setup, after]: [Vec<proc::Sample>; 3],
    window: Option<(Duration, Vec<proc::Sample>)>,
    sessions: u32,
    deliveries: u64,
) -> ServerUse {
    let (window, start) = window.unwrap_or_else(|| (Duration::ZERO, after.clone()));
    let per_delivery = |cpu_us: u64| (deliveries > 0).then(|| cpu_us as f64 / deliveries as f64);
    let nodes = if pids.len() > 1 {
        pids.iter()
            .zip(start.iter().zip(&after))
            .map(|(&pid, (start, after))| NodeUse {
                pid,
                cpu_us_per_delivery: per_delivery(micros(after.cpu().saturating_sub(start.cpu()))),
            })
            .collect()
    } else {
        Vec::new()
    };
    let [before, after_setup, after, start] =
        [&before, &after_setup, &after, &start].map(|s| proc::Sample::total(s));
    let cpu_us = micros(after.cpu().saturating_sub(start.cpu()));
    let setup_cpu_us = micros(after_setup.cpu().saturating_sub(before.cpu()));
    ServerUse {
        pid: pids.first().copied().unwrap_or_default(),
        nodes,
        rss_before_kib: before.rss_kib,
        rss_after_setup_kib: after_setup.rss_kib,
        rss_per_session_kib: (sessions > 0)
            .then(|| (after_setup.rss_kib as f64 - before.rss_kib as f64) / f64::from(sessions)),
        setup_cpu_us,
        setup_cpu_us_per_session: (sessions > 0).then(|| setup_cpu_us as f64 / f64::from(sessions)),
        cpu_window_s: window.as_secs_f64(),
        cpu_us,
        cpu_system_us: micros(after.system.saturating_sub(start.system)),
        cpu_us_per_delivery: per_delivery(cpu_us),
    }
}

/// Lines in `seconds` at `rate` a second, rounded to the nearest whole line.
fn lines(rate: f64, seconds: f64) -> u32 {
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

/// The sessions that set up, and when.
struct Connected {
    /// In index order: the normal users first, then the slow readers.
    sessions: Vec<Arc<Session>>,
    started: Instant,
    /// When the last session that set up did so.
    last_ok: Option<Instant>,
}

/// Opens every session, `--connect-concurrency` at a time.
async fn connect_all(
    args: &BenchArgs,
    shared: &Arc<client::Shared>,
    stop: &CancellationToken,
    progress: &mut Progress,
    errors: &mut Errors,
) -> Connected {
    let started = Instant::now();
    let total = args.users + args.slow_readers;
    let gate = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let mut tasks = JoinSet::new();
    for index in 0..total {
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
                }
                Some(Ok((Err(error), _))) => {
                    failed += 1;
                    note(errors, error.to_string());
                }
                Some(Err(error)) => {
                    failed += 1;
                    note(errors, format!("set-up task: {error}"));
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
        started,
        last_ok,
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
