//! What `/proc` says about a process: CPU time used and resident memory (Linux only).

use std::fs;
use std::io;
use std::time::Duration;

/// Clock ticks per second of `utime` and `stime` in `/proc/PID/stat`. Linux reports these in
/// `USER_HZ`, which is 100 on every architecture it supports (`getconf CLK_TCK` prints it),
/// whatever the kernel's own tick rate.
const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// CPU time in user mode, all threads, since the process started.
    pub user: Duration,
    /// CPU time in the kernel (system calls: socket writes and reads, mostly).
    pub system: Duration,
    /// Resident set size, in KiB.
    pub rss_kib: u64,
}

impl Sample {
    /// User plus system CPU time.
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }

    /// The processes' CPU and memory together (the nodes of a cluster on one machine).
    pub fn total(samples: &[Sample]) -> Sample {
        samples.iter().fold(
            Sample {
                user: Duration::ZERO,
                system: Duration::ZERO,
                rss_kib: 0,
            },
            |sum, s| Sample {
                user: sum.user + s.user,
                system: sum.system + s.system,
                rss_kib: sum.rss_kib + s.rss_kib,
            },
        )
    }
}

/// Samples each of `pids`; the first that cannot be read is the error.
pub fn sample_each(pids: &[u32]) -> Result<Vec<Sample>, (u32, io::Error)> {
    pids.iter()
        .map(|&pid| sample(&pid.to_string()).map_err(|e| (pid, e)))
        .collect()
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`; `pid` may be `"self"`.
pub fn sample(pid: &str) -> io::Result<Sample> {
    let read = |file: &str| {
        let path = format!("/proc/{pid}/{file}");
        fs::read_to_string(&path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
    };
    let stat = read("stat")?;
    let status = read("status")?;
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let (user, system) = cpu_times(&stat).ok_or_else(|| invalid("unreadable /proc/PID/stat"))?;
    Ok(Sample {
        user,
        system,
        rss_kib: rss_kib(&status).ok_or_else(|| invalid("no VmRSS in /proc/PID/status"))?,
    })
}

/// `utime` and `stime` from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted from the last
/// `)`: after it come field 3 (state) onwards, and utime and stime are fields 14 and 15.
pub fn cpu_times(stat: &str) -> Option<(Duration, Duration)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(14 - 3);
    let mut ticks = || -> Option<Duration> {
        let ticks: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_micros(ticks * (1_000_000 / USER_HZ)))
    };
    Some((ticks()?, ticks()?))
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
pub fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_ascii_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_fields_after_the_name() {
        let stat =
            "4242 (chat cli) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 6 0 1 0 0";
        assert_eq!(
            cpu_times(stat),
            Some((Duration::from_millis(2500), Duration::from_millis(750)))
        );
        assert_eq!(cpu_times("4242 (x) S 1"), None);
        assert_eq!(cpu_times("no parens"), None);
    }

    #[test]
    fn rss_is_read_in_kib() {
        let status = "Name:\tchat-cli\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(rss_kib(status), Some(12345));
        assert_eq!(rss_kib("Name: x\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = sample("self").expect("/proc/self is readable on Linux");
        assert!(sample.rss_kib > 0);
    }
}
