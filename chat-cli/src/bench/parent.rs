//! A run split over processes (`--processes K`): this process starts K copies of its own
//! binary as `bench ARGS --shard I/K --tag TAG`, each opening its share of the sessions (see
//! [`shard`](super::shard)), keeps them in step, reads the server between the phases as a
//! single process would, and merges what they measured into one report.
//!
//! Each phase waits for every process's word. A process that exits first, says something out
//! of turn, falls silent for [`SILENCE`] or overruns the phase's time limit ends the run with
//! an error, and the others are killed. Ctrl-C is passed on as `stop`: the processes then cut
//! their phases short and report what they have, as a single process does.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::outcome::Outcome;
use super::progress::Progress;
use super::readings::Readings;
use super::report::Report;
use super::run::{self, TICK, lines};
use super::shard::{self, FromShard, Plan, ShardOf, ToShard};
use super::token::{self, Tag};
use super::{BenchArgs, BenchError};

/// A process that says nothing for this long (it speaks every `HEARTBEAT`) is taken for hung.
const SILENCE: Duration = Duration::from_secs(30);
/// Allowed on top of each phase's own longest time.
const SLACK: Duration = Duration::from_secs(30);
/// How long the processes may take to close their sessions and exit before they are killed.
const EXIT_WAIT: Duration = Duration::from_secs(15);
/// Steps of a session's set-up, each of which may take `--timeout` (see `client::Stage`).
const SETUP_STEPS: u32 = 6;

/// Where a split run was when one of its processes failed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Settling,
    Sending,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connecting => "connecting",
            Phase::Settling => "waiting for the server to go quiet",
            Phase::Sending => "sending",
        })
    }
}

/// What went wrong with one process of a split run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProcessError {
    #[error("cannot start: {0}")]
    Spawn(String),
    #[error("ended while {phase} ({status})")]
    Ended { phase: Phase, status: String },
    #[error("wrote a line that is no message: {0}")]
    Garbled(String),
    #[error("said `{said}` while {phase}")]
    OutOfTurn { phase: Phase, said: String },
    #[error("said nothing for {} s while {phase}", SILENCE.as_secs())]
    Silent { phase: Phase },
    #[error("did not finish {phase} in time")]
    Overran { phase: Phase },
}

/// Runs the bench over `--processes` processes and merges their report.
pub(super) async fn run(args: &BenchArgs, addr_text: &str) -> Result<Report, BenchError> {
    let addrs = run::resolve_all(args, addr_text).await?;
    let target = run::target_of(&addrs);
    let mut server = Readings::start(&args.server_pid)?;
    let stop = run::stop_on_ctrl_c();
    let tag = token::random_tag();
    let total = args.users + args.slow_readers;
    let count = args.processes;
    let plans = shard::plan(total, args.senders, args.connect_concurrency, count);
    let mut fleet = Fleet::spawn(count, tag)?;
    let mut progress = Progress::new();

    let senders = fleet
        .gather(
            Phase::Connecting,
            connect_limit(args, &plans),
            &stop,
            &mut progress,
            |said| match said {
                FromShard::Connected { senders } => Ok(senders),
                other => Err(other),
            },
            |tallies, _| {
                let (set_up, failed) = tallies
                    .iter()
                    .fold((0, 0), |(s, f), t| (s + t.set_up, f + t.failed));
                (
                    "connecting",
                    (set_up + failed) as f64 / f64::from(total),
                    format!("{set_up} of {total} in, {failed} failed, in {count} processes"),
                )
            },
        )
        .await?;

    fleet.tell_all(&ToShard::Settle);
    let settle_limit = Duration::from_secs_f64(args.settle) + SLACK;
    fleet
        .gather(
            Phase::Settling,
            settle_limit,
            &stop,
            &mut progress,
            |said| match said {
                FromShard::Quiet => Ok(()),
                other => Err(other),
            },
            |_, quiet| {
                (
                    "settling",
                    quiet as f64 / f64::from(count),
                    format!("{quiet} of {count} processes see the server quiet"),
                )
            },
        )
        .await?;
    server.set_up();

    let spreads = shard::spreads(&senders);
    for (index, spread) in spreads.iter().enumerate() {
        fleet.tell(
            index,
            &ToShard::Send {
                first: spread.first,
                of: spread.of,
            },
        );
    }
    // The processes' clocks start as they read the word: the window begins as in `send_all`.
    let started = Instant::now();
    let warmup_lines = lines(args.rate, args.warmup);
    let lines_per_sender = warmup_lines + lines(args.rate, args.duration);
    let period = 1.0 / args.rate;
    let measure_from = started + TICK + Duration::from_secs_f64(f64::from(warmup_lines) * period);
    let sending_s = f64::from(lines_per_sender) * period;
    let sends = spreads.first().is_some_and(|s| s.of > 0) && lines_per_sender > 0;
    let send_limit = Duration::from_secs_f64(sending_s + args.drain + args.timeout) + TICK + SLACK;
    let outcomes = fleet
        .gather(
            Phase::Sending,
            send_limit,
            &stop,
            &mut progress,
            |said| match said {
                FromShard::Done(outcome) => Ok(*outcome),
                other => Err(other),
            },
            |tallies, done| {
                if sends && !stop.is_cancelled() && Instant::now() >= measure_from {
                    server.window_starts();
                }
                let deliveries: u64 = tallies.iter().map(|t| t.deliveries).sum();
                let elapsed = started.elapsed().as_secs_f64();
                if elapsed < sending_s {
                    (
                        "sending",
                        elapsed / sending_s,
                        format!("{elapsed:.0}/{sending_s:.0} s, {deliveries} deliveries"),
                    )
                } else {
                    (
                        "draining",
                        done as f64 / f64::from(count),
                        format!("{deliveries} deliveries, {done} of {count} processes done"),
                    )
                }
            },
        )
        .await?;
    server.end();
    progress.clear();
    fleet.close().await;
    let mut outcome = Outcome::merge(outcomes);
    outcome.interrupted |= stop.is_cancelled();
    Ok(outcome.into_report(args, target, tag, server))
}

/// The longest the set-up may take: every step of every session timing out, a round of
/// `connect_concurrency` sessions at a time, in the slowest process.
fn connect_limit(args: &BenchArgs, plans: &[Plan]) -> Duration {
    let rounds = plans
        .iter()
        .map(|p| (p.sessions.len() as u32).div_ceil(p.connect_concurrency))
        .max()
        .unwrap_or(0);
    args.timeout().mul_f64(f64::from(rounds * SETUP_STEPS)) + SLACK
}

/// The latest counters one process sent.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    set_up: u64,
    failed: u64,
    deliveries: u64,
}

/// What a process's stdout brought.
#[derive(Debug)]
enum Event {
    Said(FromShard),
    Garbled(String),
    /// Its stdout closed: it exited, or is about to.
    Ended,
}

/// The processes of a split run. Dropping it kills those still running.
#[derive(Debug)]
struct Fleet {
    count: u32,
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    /// What each process said that no phase has taken yet (a stopped process runs ahead).
    pending: Vec<VecDeque<FromShard>>,
    tallies: Vec<Tally>,
    heard: Vec<Instant>,
    ended: Vec<bool>,
    /// `stop` was passed on.
    stopped: bool,
}

impl Fleet {
    /// Starts `count` processes: this binary with this process's arguments, and each one's
    /// `--shard` and the run's `--tag`.
    fn spawn(count: u32, tag: Tag) -> Result<Self, BenchError> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut fleet = Fleet {
            count,
            children: Vec::new(),
            stdins: Vec::new(),
            events,
            pending: Vec::new(),
            tallies: Vec::new(),
            heard: Vec::new(),
            ended: Vec::new(),
            stopped: false,
        };
        let failed = |index: u32, e: std::io::Error| BenchError::Process {
            shard: ShardOf { index, count },
            source: ProcessError::Spawn(e.to_string()),
        };
        let exe = std::env::current_exe().map_err(|e| failed(0, e))?;
        for index in 0..count {
            let me = ShardOf { index, count };
            let mut child = Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .arg("--shard")
                .arg(me.to_string())
                .arg("--tag")
                .arg(String::from_utf8_lossy(&tag).as_ref())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| failed(index, e))?;
            let stdout = child.stdout.take().expect("stdout is piped");
            fleet
                .stdins
                .push(child.stdin.take().expect("stdin is piped"));
            fleet.children.push(child);
            fleet.pending.push(VecDeque::new());
            fleet.tallies.push(Tally::default());
            fleet.heard.push(Instant::now());
            fleet.ended.push(false);
            let tx = tx.clone();
            let at = index as usize;
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = match serde_json::from_str(&line) {
                        Ok(said) => Event::Said(said),
                        Err(error) => Event::Garbled(error.to_string()),
                    };
                    if tx.send((at, event)).is_err() {
                        return;
                    }
                }
                let _ = tx.send((at, Event::Ended));
            });
        }
        Ok(fleet)
    }

    /// Tells process `index`. A process that cannot be told has gone, which its stdout shows.
    fn tell(&mut self, index: usize, word: &ToShard) {
        let stdin = &mut self.stdins[index];
        let _ = writeln!(stdin, "{}", shard::encode(word)).and_then(|()| stdin.flush());
    }

    fn tell_all(&mut self, word: &ToShard) {
        for index in 0..self.stdins.len() {
            self.tell(index, word);
        }
    }

    fn failed(&self, index: usize, source: ProcessError) -> BenchError {
        BenchError::Process {
            shard: ShardOf {
                index: index as u32,
                count: self.count,
            },
            source,
        }
    }

    /// How process `index` ended, once it has (given a moment to be reaped).
    fn status(&mut self, index: usize) -> String {
        for _ in 0..20 {
            if let Ok(Some(status)) = self.children[index].try_wait() {
                return status.to_string();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        "its output closed".to_owned()
    }

    /// Waits, at most `limit`, for every process's next word, which `pick` takes (or hands
    /// back, as out of turn); `show` makes the progress line from the counters and how many
    /// have answered, on every event and at least every tick.
    async fn gather<T>(
        &mut self,
        phase: Phase,
        limit: Duration,
        stop: &CancellationToken,
        progress: &mut Progress,
        mut pick: impl FnMut(FromShard) -> Result<T, FromShard>,
        mut show: impl FnMut(&[Tally], usize) -> (&'static str, f64, String),
    ) -> Result<Vec<T>, BenchError> {
        let deadline = Instant::now() + limit;
        let mut got: Vec<Option<T>> = self.children.iter().map(|_| None).collect();
        // Process `index`'s word for this phase, which it has not yet given.
        let mut take = |fleet: &Fleet, index: usize, said: FromShard, got: &mut [Option<T>]| {
            match pick(said) {
                Ok(item) => {
                    got[index] = Some(item);
                    Ok(())
                }
                Err(said) => Err(fleet.failed(
                    index,
                    ProcessError::OutOfTurn {
                        phase,
                        said: shard::encode(&said),
                    },
                )),
            }
        };
        for index in 0..got.len() {
            if let Some(said) = self.pending[index].pop_front() {
                take(self, index, said, &mut got)?;
            }
        }
        let mut tick = tokio::time::interval(TICK);
        loop {
            if let Some(index) = (0..got.len()).find(|&i| got[i].is_none() && self.ended[i]) {
                let status = self.status(index);
                return Err(self.failed(index, ProcessError::Ended { phase, status }));
            }
            if got.iter().all(Option::is_some) {
                break;
            }
            if stop.is_cancelled() && !self.stopped {
                self.stopped = true;
                self.tell_all(&ToShard::Stop);
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    // Each reader says `Ended` before it goes, so this cannot come first.
                    None => self.ended.iter_mut().for_each(|e| *e = true),
                    Some((index, event)) => {
                        self.heard[index] = Instant::now();
                        match event {
                            Event::Said(FromShard::Progress { set_up, failed, deliveries }) => {
                                self.tallies[index] = Tally { set_up, failed, deliveries };
                            }
                            Event::Said(said) if got[index].is_some() => {
                                self.pending[index].push_back(said);
                            }
                            Event::Said(said) => take(self, index, said, &mut got)?,
                            Event::Garbled(error) => {
                                return Err(self.failed(index, ProcessError::Garbled(error)));
                            }
                            Event::Ended => self.ended[index] = true,
                        }
                    }
                },
                _ = tick.tick() => {}
                () = stop.cancelled(), if !self.stopped => {}
            }
            let waiting = |i: &usize| got[*i].is_none() && !self.ended[*i];
            if let Some(index) = (0..got.len()).find(|i| waiting(i))
                && Instant::now() > deadline
            {
                return Err(self.failed(index, ProcessError::Overran { phase }));
            }
            if let Some(index) =
                (0..got.len()).find(|i| waiting(i) && self.heard[*i].elapsed() > SILENCE)
            {
                return Err(self.failed(index, ProcessError::Silent { phase }));
            }
            let answered = got.iter().filter(|g| g.is_some()).count();
            let (label, fraction, detail) = show(&self.tallies, answered);
            progress.show(label, fraction, &detail);
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Tells every process to close its sessions and waits, at most [`EXIT_WAIT`], for them to
    /// exit.
    async fn close(&mut self) {
        self.tell_all(&ToShard::Close);
        let deadline = Instant::now() + EXIT_WAIT;
        while Instant::now() < deadline
            && self
                .children
                .iter_mut()
                .any(|c| matches!(c.try_wait(), Ok(None)))
        {
            tokio::time::sleep(TICK).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
