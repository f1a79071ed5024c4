//! What a run found: as a summary for people, or as one JSON object for scripts.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::BenchArgs;
use super::floor::FloorReport;
use super::stats::Summary;

/// Everything a run measured. Durations in `*_us` fields are microseconds.
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    /// The tag in this run's tokens.
    pub run_tag: String,
    pub users: u32,
    /// Sessions that actually sent (fewer than asked if some could not connect).
    pub senders: u32,
    pub slow_readers: u32,
    pub rate: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub connect_concurrency: u32,
    /// Stopped early by Ctrl-C: the figures cover only what happened until then.
    pub interrupted: bool,
    pub setup: Setup,
    /// Measured lines sent.
    pub lines_sent: u64,
    /// Each line, at every normal session but its sender.
    pub deliveries_expected: u64,
    pub deliveries_seen: u64,
    /// Bytes of channel data received in the measured window per delivery seen: what one
    /// delivery costs on the wire, before SSH framing (the floor uses the same).
    pub bytes_per_delivery: Option<f64>,
    /// Lines seen again by the same session (a redraw); not counted as deliveries.
    pub duplicates: u64,
    /// Tokens of this run that named no sender or line of it.
    pub invalid_tokens: u64,
    /// From a line's send to its arrival at a normal session.
    pub delivery_latency: Summary,
    /// How late lines went out against their schedule: large values mean the bench itself
    /// could not keep up.
    pub send_lag: Summary,
    /// Normal sessions whose connection ended before the run did.
    pub sessions_lost: u64,
    /// Slow readers the server disconnected (what a server should do to them).
    pub slow_readers_lost: u64,
    /// All failures: sessions that did not set up, sends that failed, sessions lost.
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// Given `--server-pid`: what the server used.
    pub server: Option<ServerUse>,
    /// CPU time the bench itself used (it shares the machine with a local server).
    pub client_cpu_s: Option<f64>,
    /// ...of which until the server went quiet after set-up: what the bench spent on the same
    /// handshakes (and join announcements) as the server's `setup_cpu_us`.
    pub client_setup_cpu_s: Option<f64>,
    /// With `--floor`: the floor, measured right after the run with its parameters.
    pub floor: Option<FloorReport>,
    /// The server's CPU per delivery ÷ the floor's.
    pub ratio_to_floor: Option<f64>,
}

impl Report {
    /// The report of a run that measured only the floor.
    pub fn floor_only(args: &BenchArgs) -> Self {
        Self {
            target: String::new(),
            run_tag: String::new(),
            users: args.users,
            senders: args.senders,
            slow_readers: 0,
            rate: args.rate,
            duration_s: args.duration,
            warmup_s: 0.0,
            connect_concurrency: 0,
            interrupted: false,
            setup: Setup::default(),
            lines_sent: 0,
            deliveries_expected: 0,
            deliveries_seen: 0,
            bytes_per_delivery: None,
            duplicates: 0,
            invalid_tokens: 0,
            delivery_latency: Summary::default(),
            send_lag: Summary::default(),
            sessions_lost: 0,
            slow_readers_lost: 0,
            errors: 0,
            error_kinds: BTreeMap::new(),
            server: None,
            client_cpu_s: None,
            client_setup_cpu_s: None,
            floor: None,
            ratio_to_floor: None,
        }
    }

    /// Adds the floor, and the server's ratio to it where both are known.
    pub fn set_floor(&mut self, floor: FloorReport) {
        self.ratio_to_floor = self
            .server
            .as_ref()
            .and_then(|s| s.cpu_us_per_delivery)
            .zip(floor.cpu_us_per_delivery)
            .map(|(server, floor)| server / floor);
        self.floor = Some(floor);
    }
}

/// Setting the sessions up.
#[derive(Debug, Default, Serialize)]
pub struct Setup {
    pub attempted: u32,
    pub ok: u32,
    pub failed: u32,
    /// From the first connect to the last session's first output.
    pub elapsed_s: f64,
    pub sessions_per_s: f64,
    /// From the first connect until the server stopped sending (join announcements done).
    pub quiet_after_s: f64,
    pub sessions_per_s_until_quiet: f64,
    /// Per session, from the TCP connect to the first byte of shell output.
    pub latency: Summary,
}

/// The server's CPU and memory, from `/proc` (summed over its processes, given several).
#[derive(Debug, Serialize)]
pub struct ServerUse {
    /// The first process.
    pub pid: u32,
    /// With several processes (the nodes of a cluster): each one's share.
    pub nodes: Vec<NodeUse>,
    pub rss_before_kib: u64,
    /// Once every session was in and the server had gone quiet.
    pub rss_after_setup_kib: u64,
    pub rss_per_session_kib: Option<f64>,
    /// CPU time from before the first connect until the server went quiet.
    pub setup_cpu_us: u64,
    pub setup_cpu_us_per_session: Option<f64>,
    /// From the start of the measured sending to the end of the drain.
    pub cpu_window_s: f64,
    /// CPU time in that window, user and system...
    pub cpu_us: u64,
    /// ...of which in the kernel (system calls).
    pub cpu_system_us: u64,
    pub cpu_us_per_delivery: Option<f64>,
}

/// One node's CPU in the measured window.
#[derive(Debug, Serialize)]
pub struct NodeUse {
    pub pid: u32,
    pub cpu_us_per_delivery: Option<f64>,
}

pub fn write_json(report: &Report, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    writeln!(out)
}

pub fn write_human(r: &Report, out: &mut impl Write) -> io::Result<()> {
    if r.target.is_empty() {
        return write_floor(r, out);
    }
    let interrupted = if r.interrupted {
        " (interrupted: partial figures)"
    } else {
        ""
    };
    writeln!(
        out,
        "bench of {} (run {}){interrupted}",
        r.target, r.run_tag
    )?;
    let s = &r.setup;
    writeln!(
        out,
        "  sessions    {} of {} set up in {:.2} s: {:.0}/s; server quiet after {:.2} s: {:.0}/s",
        s.ok,
        s.attempted,
        s.elapsed_s,
        s.sessions_per_s,
        s.quiet_after_s,
        s.sessions_per_s_until_quiet
    )?;
    writeln!(out, "  set-up      {}", percentiles(&s.latency))?;
    if r.senders > 0 {
        writeln!(
            out,
            "  lines       {} sent by {} senders at {}/s for {} s (send lag p99 {})",
            r.lines_sent,
            r.senders,
            r.rate,
            r.duration_s,
            ms(r.send_lag.p99_us)
        )?;
        let share = if r.deliveries_expected > 0 {
            format!(
                " ({:.2}%)",
                r.deliveries_seen as f64 * 100.0 / r.deliveries_expected as f64
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "  deliveries  {} of {} expected{share}, {} duplicates",
            r.deliveries_seen, r.deliveries_expected, r.duplicates
        )?;
        writeln!(out, "  latency     {}", percentiles(&r.delivery_latency))?;
    }
    if r.slow_readers > 0 {
        writeln!(
            out,
            "  slow        {} sessions stopped reading; the server disconnected {} of them",
            r.slow_readers, r.slow_readers_lost
        )?;
    }
    if let Some(server) = &r.server {
        let per_session = server
            .rss_per_session_kib
            .map_or("-".to_owned(), |k| format!("{k:.1} KiB"));
        write!(
            out,
            "  server      pid {}{}: {per_session} per session (RSS {:.1} -> {:.1} MiB)",
            server.pid,
            if server.nodes.is_empty() {
                String::new()
            } else {
                format!(" and {} more, summed", server.nodes.len() - 1)
            },
            server.rss_before_kib as f64 / 1024.0,
            server.rss_after_setup_kib as f64 / 1024.0
        )?;
        writeln!(out)?;
        if let Some(cpu) = server.setup_cpu_us_per_session {
            let ratio = r
                .client_setup_cpu_s
                .filter(|c| *c > 0.0)
                .map_or(String::new(), |c| {
                    format!(
                        "; the bench {:.0} µs: ratio {:.2}×",
                        c * 1e6 / f64::from(s.ok.max(1)),
                        server.setup_cpu_us as f64 / (c * 1e6)
                    )
                });
            writeln!(
                out,
                "  server      {cpu:.0} µs CPU per session set up ({:.2} s in all){ratio}",
                server.setup_cpu_us as f64 / 1e6
            )?;
        }
        if let Some(cpu) = server.cpu_us_per_delivery {
            writeln!(
                out,
                "  server      {cpu:.2} µs CPU per delivery ({:.2} s CPU, {:.0}% of it in the kernel, in {:.1} s)",
                server.cpu_us as f64 / 1e6,
                server.cpu_system_us as f64 * 100.0 / server.cpu_us.max(1) as f64,
                server.cpu_window_s
            )?;
        }
        for node in &server.nodes {
            if let Some(cpu) = node.cpu_us_per_delivery {
                writeln!(
                    out,
                    "    node      pid {}: {cpu:.2} µs CPU per delivery (of all deliveries)",
                    node.pid
                )?;
            }
        }
    }
    if let Some(cpu) = r.client_cpu_s {
        writeln!(out, "  bench       {cpu:.2} s CPU")?;
    }
    write_floor(r, out)?;
    if r.errors == 0 {
        writeln!(out, "  errors      none")?;
    } else {
        writeln!(out, "  errors      {}", r.errors)?;
        for (kind, count) in &r.error_kinds {
            writeln!(out, "    {count:>6} × {kind}")?;
        }
    }
    Ok(())
}

/// The floor, and the server beside it as a ratio.
fn write_floor(r: &Report, out: &mut impl Write) -> io::Result<()> {
    let Some(floor) = &r.floor else {
        return Ok(());
    };
    let per = |cpu: Option<f64>| cpu.map_or("-".to_owned(), |c| format!("{c:.2} µs"));
    writeln!(
        out,
        "  floor       {} CPU per delivery ({:.0}% in the kernel): {} connections, {} lines/s, {} B payload ({} B packets), {} deliveries in {:.1} s",
        per(floor.cpu_us_per_delivery),
        floor.cpu_system_us as f64 * 100.0 / floor.cpu_us.max(1) as f64,
        floor.connections,
        floor.lines_per_second,
        floor.payload_bytes,
        floor.packet_bytes,
        floor.deliveries,
        floor.window_s
    )?;
    if let Some(server) = &r.server {
        let ratio = r
            .ratio_to_floor
            .map_or("-".to_owned(), |x| format!("{x:.2}×"));
        writeln!(
            out,
            "  vs floor    floor {}  server {}  ratio {ratio}",
            per(floor.cpu_us_per_delivery),
            per(server.cpu_us_per_delivery)
        )?;
    }
    Ok(())
}

fn percentiles(s: &Summary) -> String {
    if s.count == 0 {
        return "-".to_owned();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  max {}  ({} samples)",
        ms(s.p50_us),
        ms(s.p90_us),
        ms(s.p99_us),
        ms(s.max_us),
        s.count
    )
}

fn ms(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..100_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.0} ms", us as f64 / 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_sensible_units() {
        assert_eq!(ms(950), "950 µs");
        assert_eq!(ms(12_345), "12.3 ms");
        assert_eq!(ms(1_234_567), "1235 ms");
    }
}
