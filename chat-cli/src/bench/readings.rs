//! The readings of the server's processes (`--server-pid`) that a run takes, and what they
//! add up to: before the first connect, once every session is in and the server quiet, at
//! the start of the measured sending, and after the drain.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::report::{NodeUse, ServerUse};
use super::run::micros;
use super::{BenchError, proc};

/// The readings so far. Without PIDs it reads nothing and reports nothing.
#[derive(Debug, Default)]
pub(super) struct Readings {
    pids: Vec<u32>,
    before: Option<Vec<proc::Sample>>,
    after_setup: Option<Vec<proc::Sample>>,
    window_start: Option<(Instant, Vec<proc::Sample>)>,
    after: Option<(Instant, Vec<proc::Sample>)>,
    /// Readings that failed after the first: noted, not fatal.
    pub errors: BTreeMap<String, u64>,
}

impl Readings {
    /// Takes the first reading: a wrong PID is a mistake to report at once.
    pub fn start(pids: &[u32]) -> Result<Self, BenchError> {
        let before = (!pids.is_empty())
            .then(|| {
                proc::sample_each(pids)
                    .map_err(|(pid, source)| BenchError::ServerPid { pid, source })
            })
            .transpose()?;
        Ok(Self {
            pids: pids.to_vec(),
            before,
            ..Self::default()
        })
    }

    /// No server to read (a process of a split run: its parent reads the server).
    pub fn none() -> Self {
        Self::default()
    }

    fn read(&mut self) -> Option<Vec<proc::Sample>> {
        if self.pids.is_empty() {
            return None;
        }
        proc::sample_each(&self.pids)
            .map_err(|(_, e)| *self.errors.entry(format!("server: {e}")).or_default() += 1)
            .ok()
    }

    /// Every session is in and the server quiet.
    pub fn set_up(&mut self) {
        self.after_setup = self.read();
    }

    /// Whether the measured window still waits for its first reading.
    pub fn window_pending(&self) -> bool {
        !self.pids.is_empty() && self.window_start.is_none()
    }

    /// The measured sending begins. A reading that fails is not retried here, and not noted:
    /// the window then runs from the end (no figures) as when nothing was sent.
    pub fn window_starts(&mut self) {
        if self.window_pending()
            && let Ok(samples) = proc::sample_each(&self.pids)
        {
            self.window_start = Some((Instant::now(), samples));
        }
    }

    /// The last deliveries are in.
    pub fn end(&mut self) {
        self.after = self.read().map(|samples| (Instant::now(), samples));
    }

    /// What the server used, given `sessions` set up and `deliveries` seen; `None` without
    /// PIDs or with a reading missing.
    pub fn usage(self, sessions: u32, deliveries: u64) -> Option<ServerUse> {
        let (Some(before), Some(after_setup), Some((end, after))) =
            (self.before, self.after_setup, self.after)
        else {
            return None;
        };
        let window = self
            .window_start
            .map(|(at, samples)| (end.saturating_duration_since(at), samples));
        Some(server_use(
            &self.pids,
            [before, after_setup, after],
            window,
            sessions,
            deliveries,
        ))
    }
}

/// What the server's processes used, from their samples before the run, after set-up and
/// after the drain, and at the start of the measured window (with how long ago that was);
/// summed over the processes, with each one's CPU per delivery beside the sum when there are
/// several.
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
