//! What one process's sessions measured, as raw counts and samples: the stuff of a
//! [`Report`], which the outcomes of a run split over processes merge into as if one process
//! had measured everything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::BenchArgs;
use super::readings::Readings;
use super::report::{Report, Setup};
use super::stats::Summary;
use super::token::Tag;

/// What one process's sessions measured. Times of day are microseconds since the UNIX epoch,
/// so that processes on one machine can be compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Sessions tried, normal and slow...
    pub attempted: u32,
    /// ...and set up.
    pub ok: u32,
    /// Normal sessions set up: each should see every line but its own.
    pub receivers: u64,
    /// Sessions that sent.
    pub senders: u32,
    /// When the first connect began.
    pub started_us: u64,
    /// When the last session that set up did so.
    pub last_ok_us: Option<u64>,
    /// When the sessions last received anything before the server went quiet.
    pub quiet_us: u64,
    /// Per session set up, from its TCP connect to its first output.
    pub setup_us: Vec<u64>,
    /// Measured lines sent...
    pub lines: u64,
    /// ...and how late each went out against its schedule.
    pub lags_us: Vec<u64>,
    /// One per delivery seen.
    pub latencies_us: Vec<u64>,
    /// Bytes received in the measured window, if it began.
    pub window_bytes: Option<u64>,
    pub duplicates: u64,
    pub invalid: u64,
    /// Normal sessions, and slow readers, whose connection ended before the run did.
    pub lost: u64,
    pub slow_lost: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// CPU this process used, in all and until the server went quiet.
    pub cpu_s: Option<f64>,
    pub setup_cpu_s: Option<f64>,
    /// Ctrl-C cut it short.
    pub interrupted: bool,
}

impl Outcome {
    /// The outcomes of several processes as one: counts and samples added up, the set-up
    /// timed from the first process's start to the last one's end.
    pub fn merge(parts: impl IntoIterator<Item = Outcome>) -> Outcome {
        let mut parts = parts.into_iter();
        let Some(mut all) = parts.next() else {
            return Outcome::default();
        };
        for part in parts {
            all.absorb(part);
        }
        all
    }

    fn absorb(&mut self, mut other: Outcome) {
        fn add<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        self.attempted += other.attempted;
        self.ok += other.ok;
        self.receivers += other.receivers;
        self.senders += other.senders;
        self.started_us = self.started_us.min(other.started_us);
        self.last_ok_us = self.last_ok_us.max(other.last_ok_us);
        self.quiet_us = self.quiet_us.max(other.quiet_us);
        self.setup_us.append(&mut other.setup_us);
        self.lines += other.lines;
        self.lags_us.append(&mut other.lags_us);
        self.latencies_us.append(&mut other.latencies_us);
        self.window_bytes = add(self.window_bytes, other.window_bytes);
        self.duplicates += other.duplicates;
        self.invalid += other.invalid;
        self.lost += other.lost;
        self.slow_lost += other.slow_lost;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        self.cpu_s = add(self.cpu_s, other.cpu_s);
        self.setup_cpu_s = add(self.setup_cpu_s, other.setup_cpu_s);
        self.interrupted |= other.interrupted;
    }

    /// Every line, at every normal session but its sender's.
    pub fn deliveries_expected(&self) -> u64 {
        self.lines * self.receivers.saturating_sub(1)
    }

    /// The report of a run against `target` with run tag `tag`, given what the sessions
    /// measured and the readings of the server.
    pub fn into_report(
        mut self,
        args: &BenchArgs,
        target: String,
        tag: Tag,
        mut server: Readings,
    ) -> Report {
        for (kind, count) in std::mem::take(&mut server.errors) {
            *self.errors.entry(kind).or_default() += count;
        }
        let deliveries_seen = self.latencies_us.len() as u64;
        let ok = self.ok;
        let since_start = |until_us: Option<u64>| {
            let secs = until_us.map_or(0.0, |t| t.saturating_sub(self.started_us) as f64 / 1e6);
            let rate = if secs > 0.0 {
                f64::from(ok) / secs
            } else {
                0.0
            };
            (secs, rate)
        };
        let (elapsed_s, sessions_per_s) = since_start(self.last_ok_us);
        let (quiet_after_s, sessions_per_s_until_quiet) =
            since_start(self.last_ok_us.map(|_| self.quiet_us));
        Report {
            target,
            run_tag: String::from_utf8_lossy(&tag).into_owned(),
            users: args.users,
            senders: self.senders,
            slow_readers: args.slow_readers,
            rate: args.rate,
            duration_s: args.duration,
            warmup_s: args.warmup,
            connect_concurrency: args.connect_concurrency,
            interrupted: self.interrupted,
            setup: Setup {
                attempted: self.attempted,
                ok,
                failed: self.attempted - ok,
                elapsed_s,
                sessions_per_s,
                quiet_after_s,
                sessions_per_s_until_quiet,
                latency: Summary::of(&mut self.setup_us),
            },
            lines_sent: self.lines,
            deliveries_expected: self.deliveries_expected(),
            deliveries_seen,
            bytes_per_delivery: self
                .window_bytes
                .filter(|_| deliveries_seen > 0)
                .map(|b| b as f64 / deliveries_seen as f64),
            duplicates: self.duplicates,
            invalid_tokens: self.invalid,
            delivery_latency: Summary::of(&mut self.latencies_us),
            send_lag: Summary::of(&mut self.lags_us),
            sessions_lost: self.lost,
            slow_readers_lost: self.slow_lost,
            errors: self.errors.values().sum(),
            error_kinds: self.errors,
            server: server.usage(ok, deliveries_seen),
            client_cpu_s: self.cpu_s,
            client_setup_cpu_s: self.setup_cpu_s,
            floor: None,
            ratio_to_floor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::parse;

    /// One process's outcome: `ok` of `attempted` set up, `lines` sent, `seen` latencies.
    fn part(attempted: u32, ok: u32, lines: u64, seen: &[u64]) -> Outcome {
        Outcome {
            attempted,
            ok,
            receivers: u64::from(ok),
            lines,
            latencies_us: seen.to_vec(),
            ..Outcome::default()
        }
    }

    #[test]
    fn merged_outcomes_add_up_as_if_one_process_had_run() {
        let mut first = part(3, 3, 10, &[5, 1]);
        first.senders = 1;
        first.started_us = 2_000_000;
        first.last_ok_us = Some(3_000_000);
        first.quiet_us = 4_000_000;
        first.window_bytes = Some(100);
        first.errors.insert("send: timed out".into(), 1);
        first.cpu_s = Some(1.5);
        let mut second = part(4, 2, 0, &[3]);
        second.started_us = 1_000_000;
        second.last_ok_us = Some(2_500_000);
        second.quiet_us = 5_000_000;
        second.errors.insert("send: timed out".into(), 2);
        second.errors.insert("tcp connect: refused".into(), 2);
        second.cpu_s = Some(0.5);
        second.interrupted = true;
        let all = Outcome::merge([first, second]);
        assert_eq!((all.attempted, all.ok, all.receivers), (7, 5, 5));
        assert_eq!((all.senders, all.lines), (1, 10));
        assert_eq!(all.latencies_us, [5, 1, 3]);
        // From the earliest start to the latest end.
        assert_eq!(all.started_us, 1_000_000);
        assert_eq!(all.last_ok_us, Some(3_000_000));
        assert_eq!(all.quiet_us, 5_000_000);
        assert_eq!(all.window_bytes, Some(100));
        assert_eq!(all.errors["send: timed out"], 3);
        assert_eq!(all.errors["tcp connect: refused"], 2);
        assert_eq!(all.cpu_s, Some(2.0));
        assert_eq!(all.setup_cpu_s, None);
        assert!(all.interrupted);
        // Every line at each of the 5 receivers but its sender.
        assert_eq!(all.deliveries_expected(), 40);
        assert_eq!(Outcome::merge([]), Outcome::default());
    }

    #[test]
    fn the_report_of_merged_outcomes_counts_every_process() {
        let args = parse(&["--addr", "x:1", "--users", "6"]).unwrap();
        let mut first = part(3, 3, 4, &[10, 20, 30, 40, 50, 60, 70, 80]);
        first.started_us = 1_000_000;
        first.last_ok_us = Some(2_000_000);
        first.quiet_us = 3_000_000;
        first.setup_us = vec![7, 8, 9];
        let mut second = part(3, 3, 0, &[90, 100, 110, 120]);
        second.started_us = 1_000_000;
        second.last_ok_us = Some(3_000_000);
        second.quiet_us = 4_000_000;
        second.setup_us = vec![1, 2, 3];
        let report = Outcome::merge([first, second]).into_report(
            &args,
            "x:1".into(),
            *b"abcd",
            Readings::none(),
        );
        assert_eq!(report.setup.ok, 6);
        assert_eq!(report.setup.failed, 0);
        assert_eq!(report.setup.latency.count, 6);
        assert_eq!(report.setup.latency.max_us, 9);
        assert!((report.setup.elapsed_s - 2.0).abs() < 1e-9);
        assert!((report.setup.sessions_per_s - 3.0).abs() < 1e-9);
        assert!((report.setup.quiet_after_s - 3.0).abs() < 1e-9);
        // 4 lines at 5 of the 6 receivers.
        assert_eq!(report.deliveries_expected, 20);
        assert_eq!(report.deliveries_seen, 12);
        assert_eq!(report.delivery_latency.count, 12);
        assert_eq!(report.delivery_latency.p50_us, 60);
        assert_eq!(report.delivery_latency.max_us, 120);
        assert_eq!(report.run_tag, "abcd");
        assert_eq!(report.errors, 0);
        assert!(report.server.is_none());
    }
}
