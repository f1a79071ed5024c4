//! The sending phase: the first `--senders` normal sessions type their lines on schedule.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::BenchArgs;
use super::client::{self, Session};
use super::progress::Progress;
use super::readings::Readings;
use super::run::{TICK, micros};
use super::shard::Spread;
use super::token::Token;

/// What the senders did.
#[derive(Default)]
pub(super) struct Sent {
    pub senders: u32,
    /// Measured lines sent (warm-up lines are not counted).
    pub lines: u64,
    /// How late each measured line went out against its schedule, in microseconds.
    pub lags_us: Vec<u64>,
    pub errors: Vec<String>,
    /// Bytes all sessions had received when the measured window began.
    pub bytes_at_start: Option<u64>,
}

/// Has `senders` send their lines, spread evenly in time: sender `j` of `S` sends line `k`
/// at `t0 + (k + j/S) / rate`, where this process's senders are numbers `spread.first..` of
/// `spread.of` (all of them, unless the run is split over processes). The server is read when
/// the measured window begins; a process without senders in a run that sends only notes that
/// moment.
pub(super) async fn send_all(
    args: &BenchArgs,
    shared: &Arc<client::Shared>,
    senders: Vec<Arc<Session>>,
    spread: Spread,
    server: &mut Readings,
    stop: &CancellationToken,
    progress: &mut Progress,
) -> Sent {
    let mut sent = Sent {
        senders: senders.len() as u32,
        ..Sent::default()
    };
    if spread.of == 0 || shared.lines_per_sender == 0 || stop.is_cancelled() {
        return sent;
    }
    let t0 = Instant::now() + TICK;
    let period = 1.0 / args.rate;
    let measure_from = t0 + Duration::from_secs_f64(f64::from(shared.warmup_lines) * period);
    let total_secs = f64::from(shared.lines_per_sender) * period;
    if senders.is_empty() {
        tokio::select! {
            () = tokio::time::sleep_until(measure_from.into()) => {
                sent.bytes_at_start = Some(shared.bytes.load(Ordering::Relaxed));
                server.window_starts();
            }
            () = stop.cancelled() => return sent,
        }
        // Other processes' senders go on saying lines for the whole window: this process's
        // drain starts when theirs do, not at the window's start (it ended `--drain` seconds
        // in, and missed every line said after that).
        let window_ends = t0 + Duration::from_secs_f64(total_secs);
        tokio::select! {
            () = tokio::time::sleep_until(window_ends.into()) => {}
            () = stop.cancelled() => {}
        }
        return sent;
    }
    let mut tasks = JoinSet::new();
    for (j, session) in senders.iter().enumerate() {
        let offset = f64::from(spread.first + j as u32) / f64::from(spread.of);
        let (session, shared, stop) = (Arc::clone(session), Arc::clone(shared), stop.clone());
        tasks.spawn(async move { send_lines(&session, &shared, t0, period, offset, &stop).await });
    }
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(one)) => {
                    sent.lines += one.lines;
                    sent.lags_us.extend(one.lags_us);
                    sent.errors.extend(one.errors);
                }
                Some(Err(error)) => sent.errors.push(format!("send task: {error}")),
            },
            _ = tick.tick() => {}
        }
        if Instant::now() >= measure_from {
            if sent.bytes_at_start.is_none() {
                sent.bytes_at_start = Some(shared.bytes.load(Ordering::Relaxed));
            }
            server.window_starts();
        }
        let elapsed = Instant::now().saturating_duration_since(t0).as_secs_f64();
        progress.show(
            "sending",
            elapsed / total_secs,
            &format!(
                "{:.0}/{:.0} s, {} deliveries",
                elapsed.min(total_secs),
                total_secs,
                shared.deliveries.load(Ordering::Relaxed)
            ),
        );
    }
    sent
}

/// What one sender did.
#[derive(Default)]
struct SenderLog {
    lines: u64,
    lags_us: Vec<u64>,
    errors: Vec<String>,
}

async fn send_lines(
    session: &Session,
    shared: &client::Shared,
    t0: Instant,
    period: f64,
    offset: f64,
    stop: &CancellationToken,
) -> SenderLog {
    let mut log = SenderLog::default();
    for seq in 0..shared.lines_per_sender {
        let due = t0 + Duration::from_secs_f64((f64::from(seq) + offset) * period);
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {}
            () = stop.cancelled() => break,
        }
        let lag = Instant::now().saturating_duration_since(due);
        let token = Token {
            tag: shared.tag,
            sender: session.spec.index,
            seq,
            sent_us: client::unix_micros(),
        };
        match session.send(&token.to_string(), shared.timeout).await {
            Ok(()) if seq >= shared.warmup_lines => {
                log.lines += 1;
                log.lags_us.push(micros(lag));
            }
            Ok(()) => {}
            Err(error) => {
                log.errors.push(error.to_string());
                if error == client::SendError::Closed {
                    break;
                }
            }
        }
    }
    log
}
