//! `chat-cli bench`: a load generator for any SSH chat server that broadcasts lines.
//!
//! It opens `--users` PTY sessions (each with its own Ed25519 key), `--connect-concurrency` at
//! a time; once they are all in and the server has gone quiet, the first `--senders` of them
//! each type `--rate` lines a second for `--duration` seconds. Every line carries a
//! [token](token) naming its sender, its number and when it was sent; every session scans what
//! it receives for the tokens of others and notes how long each took to arrive. The report
//! gives set-up rate and latency, lines sent, deliveries seen against expected, delivery
//! latency percentiles and, given the server's PID, the server's CPU time per delivery and
//! memory per session from `/proc`.
//!
//! `--slow-readers K` adds K sessions that log in and then stop reading their TCP stream, to
//! show whether a server lets them slow down everyone else. They advertise a small SSH window
//! (`--slow-window`), so that the server runs into it within seconds rather than megabytes.
//!
//! The bench only ever connects to `--addr`. It counts every failure (connect, login, send,
//! a dropped connection) and reports it; each step has a timeout, and Ctrl-C stops the run
//! early with a partial report.
//!
//! # Many processes: `--processes K`
//!
//! One process can hold only as many sessions as it may open files (a socket each), and a
//! container's hard limit is often 20,000. `--processes K` splits the sessions over K copies
//! of this binary (hidden flags `--shard I/K --tag TAG`), each opening a contiguous range of
//! the global session numbers, so names, `--key-seed` keys and the senders in tokens are those
//! of one process: the senders are the first `--senders` numbers wherever they land (usually
//! in the first process), the slow readers come last and so land in the last process, and
//! `--connect-concurrency` is split between them. Keep `(--users + --slow-readers) / K` under
//! about 19,000, the limit less some headroom, since each process opens its share.
//!
//! This process becomes the parent: it keeps the processes in step over their stdin and
//! stdout (one JSON message a line: see [`shard`]), reads `--server-pid` between the phases
//! as a single process would, and merges their samples and counts into one report, with the
//! client CPU summed over the processes (the parent's own is left out). Each phase has a time
//! limit, and a process that exits, garbles its words or falls silent fails the run with an
//! error; Ctrl-C is passed on. With `K = 1` (the default) there is no other process.
//!
//! The parts: [`client`] is one session and [`inbox`] what it saw, [`token`] the token format
//! and scanner, [`stats`] percentiles, [`proc`] and [`readings`] the `/proc` readings of the
//! server, [`run`] the phases of a run and [`send`] its sending, [`outcome`] what one process
//! measured, [`shard`], [`parent`] and [`child`] a run split over processes, [`report`] what
//! is printed and [`progress`] the progress line.

mod child;
mod client;
pub mod floor;
mod inbox;
mod keys;
mod outcome;
mod parent;
mod proc;
mod progress;
mod readings;
mod report;
mod run;
mod send;
mod shard;
mod stats;
mod token;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use thiserror::Error;

use report::Report;

/// Flags of `chat-cli bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The server to load, as HOST:PORT, or several (the nodes of a cluster) separated by
    /// commas, which the sessions take in turn. The bench connects to nothing else. Without
    /// it, `--floor` measures the floor alone.
    #[arg(
        long,
        env = "CHAT_BENCH_ADDR",
        value_name = "HOST:PORT",
        required_unless_present_any = ["floor", "export_keys"]
    )]
    pub addr: Option<String>,

    /// Also measure the floor (see `floor`): sealing and writing one SSH packet per delivery
    /// over as many loopback connections as --users, at the run's line rate and the payload
    /// size the run measured, right after the run; the report gives the server's CPU per
    /// delivery as a ratio to it. Without --addr, measures only the floor.
    #[arg(long, env = "CHAT_BENCH_FLOOR")]
    pub floor: bool,

    /// Bytes of channel data per delivery for a floor measured alone (with --addr, the run's
    /// own average is used).
    #[arg(long, env = "CHAT_BENCH_FLOOR_PAYLOAD", default_value_t = 100, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=32_768))]
    pub floor_payload: u32,

    /// Sessions that log in and listen; the first SENDERS of them also talk.
    #[arg(long, env = "CHAT_BENCH_USERS", default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub users: u32,

    /// How many of the users send lines.
    #[arg(long, env = "CHAT_BENCH_SENDERS", default_value_t = 1, value_name = "S",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub senders: u32,

    /// Lines per second from each sender.
    #[arg(long, env = "CHAT_BENCH_RATE", default_value_t = 1.0, value_name = "R", value_parser = rate)]
    pub rate: f64,

    /// Seconds of sending that are measured.
    #[arg(long, env = "CHAT_BENCH_DURATION", default_value_t = 10.0, value_name = "SECONDS", value_parser = seconds)]
    pub duration: f64,

    /// Seconds of sending before the measured part (not counted).
    #[arg(long, env = "CHAT_BENCH_WARMUP", default_value_t = 0.0, value_name = "SECONDS", value_parser = seconds)]
    pub warmup: f64,

    /// Sessions setting up (TCP connect to first output) at once.
    #[arg(long, env = "CHAT_BENCH_CONNECT_CONCURRENCY", default_value_t = 100, value_name = "C",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connect_concurrency: u32,

    /// Extra sessions that log in and then stop reading their TCP stream.
    #[arg(long, env = "CHAT_BENCH_SLOW_READERS", default_value_t = 0, value_name = "K",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub slow_readers: u32,

    /// The SSH window, in bytes, that slow readers advertise. The server may send this much
    /// before it has to wait for them; OpenSSH advertises 2 MiB, which takes a chat room minutes
    /// to fill, so the default is small enough to be hit within seconds.
    #[arg(long, env = "CHAT_BENCH_SLOW_WINDOW", default_value_t = 16_384, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1024..=16_777_216))]
    pub slow_window: u32,

    /// The server's process id (on this machine): report its CPU time per delivery and
    /// memory per session from /proc. Several, comma-separated (the nodes of a cluster on
    /// this machine, with `--addr A,B`): the figures are their sum, and each node's CPU per
    /// delivery is reported beside it.
    #[arg(
        long,
        env = "CHAT_BENCH_SERVER_PID",
        value_name = "PID[,PID...]",
        value_delimiter = ','
    )]
    pub server_pid: Vec<u32>,

    /// Print one JSON object instead of the human summary.
    #[arg(long, env = "CHAT_BENCH_JSON")]
    pub json: bool,

    /// The PTY width each session asks for: wide, so that no line wraps inside a token.
    #[arg(long, env = "CHAT_BENCH_PTY_WIDTH", default_value_t = 250, value_name = "COLUMNS",
          value_parser = clap::value_parser!(u32).range(40..=10_000))]
    pub pty_width: u32,

    /// Local addresses to connect from, taken in turn, to spread sessions over per-IP limits:
    /// addresses and IPv4 ranges separated by commas, e.g. 127.0.0.2-127.0.0.50,127.0.1.1.
    #[arg(long, env = "CHAT_BENCH_BIND_IPS", value_name = "LIST")]
    pub bind_ips: Option<IpList>,

    /// Derive each session's key from this number and the session's number instead of making
    /// fresh ones, so that the keys can be registered before the run (see --export-keys).
    #[arg(long, env = "CHAT_BENCH_KEY_SEED", value_name = "SEED")]
    pub key_seed: Option<u64>,

    /// Write the --users sessions' public keys (from --key-seed) to FILE as authorized_keys
    /// lines, each with the session's name as its comment, and exit: `chat-cli accounts import
    /// FILE` then makes one account per session, for benching `--join registered`.
    #[arg(
        long,
        env = "CHAT_BENCH_EXPORT_KEYS",
        value_name = "FILE",
        requires = "key_seed"
    )]
    pub export_keys: Option<std::path::PathBuf>,

    /// Session names are this prefix and the session's number.
    #[arg(long, env = "CHAT_BENCH_USER_PREFIX", default_value = "bench", value_name = "PREFIX", value_parser = user_prefix)]
    pub user_prefix: String,

    /// Seconds each step may take: TCP connect, handshake, login, shell, first output, a send.
    #[arg(long, env = "CHAT_BENCH_TIMEOUT", default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub timeout: f64,

    /// Seconds to wait after the last line for deliveries still on their way.
    #[arg(long, env = "CHAT_BENCH_DRAIN", default_value_t = 5.0, value_name = "SECONDS", value_parser = seconds)]
    pub drain: f64,

    /// Most seconds to wait, once all sessions are in, for the server to go quiet.
    #[arg(long, env = "CHAT_BENCH_SETTLE", default_value_t = 60.0, value_name = "SECONDS", value_parser = seconds)]
    pub settle: f64,

    /// Split the sessions over K processes (copies of this one), each opening its share, for
    /// more sessions than one process may open files; one report all the same. Each process's
    /// share, (USERS + SLOW_READERS) / K, must stay under its open-file limit (`ulimit -n`).
    #[arg(long, env = "CHAT_BENCH_PROCESSES", default_value_t = 1, value_name = "K",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub processes: u32,

    /// This is process I of K of a split run (passed by its parent).
    #[arg(long, hide = true, value_name = "I/K", requires_all = ["addr", "tag"])]
    pub shard: Option<shard::ShardOf>,

    /// The run's tag, which the parent of a split run hands to every process.
    #[arg(long, hide = true, value_name = "TAG", requires = "shard", value_parser = run_tag)]
    pub tag: Option<token::Tag>,
}

impl BenchArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// Why a run could not start.
#[derive(Debug, Error)]
pub enum BenchError {
    #[error("--senders ({senders}) cannot exceed --users ({users})")]
    TooManySenders { senders: u32, users: u32 },
    #[error("--processes ({processes}) cannot exceed --users ({users})")]
    TooManyProcesses { processes: u32, users: u32 },
    #[error("bench process {shard}: {source}")]
    Process {
        shard: shard::ShardOf,
        source: parent::ProcessError,
    },
    #[error("cannot resolve {addr}: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("--bind-ips holds {ip}, but {addr} is not an address of the same family")]
    BindFamily { ip: IpAddr, addr: String },
    #[error("cannot read /proc for --server-pid {pid}: {source}")]
    ServerPid { pid: u32, source: std::io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write the report: {0}")]
    Output(std::io::Error),
    #[error("cannot measure the floor: {0}")]
    Floor(std::io::Error),
    #[error("cannot write the keys to {}: {source}", path.display())]
    Export {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The name session `index` asks for.
pub fn session_name(prefix: &str, index: u32) -> String {
    format!("{prefix}{index}")
}

/// Runs the bench and prints its report.
pub fn run(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.senders > args.users {
        return Err(BenchError::TooManySenders {
            senders: args.senders,
            users: args.users,
        }
        .into());
    }
    if args.processes > args.users {
        return Err(BenchError::TooManyProcesses {
            processes: args.processes,
            users: args.users,
        }
        .into());
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(BenchError::Runtime)
    };
    if let Some(me) = args.shard {
        let (Some(addr), Some(tag)) = (&args.addr, args.tag) else {
            unreachable!("clap requires --addr and --tag with --shard");
        };
        let runtime = runtime()?;
        runtime.block_on(child::run(&args, addr, me, tag))?;
        runtime.shutdown_timeout(Duration::from_secs(1));
        return Ok(());
    }
    if let (Some(path), Some(seed)) = (&args.export_keys, args.key_seed) {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| {
            BenchError::Export {
                path: path.clone(),
                source: e,
            }
        })?);
        let names = (0..args.users).map(|index| (index, session_name(&args.user_prefix, index)));
        keys::export(seed, names, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| BenchError::Export {
                path: path.clone(),
                source: e,
            })?;
        return Ok(());
    }
    let mut report = match &args.addr {
        Some(addr) => {
            let runtime = runtime()?;
            let report = if args.processes > 1 {
                runtime.block_on(parent::run(&args, addr))?
            } else {
                runtime.block_on(run::run(&args, addr))?
            };
            // Sessions still closing must not hold the exit up.
            runtime.shutdown_timeout(Duration::from_secs(1));
            report
        }
        None => Report::floor_only(&args),
    };
    if args.floor {
        let payload = report
            .bytes_per_delivery
            .map_or(args.floor_payload as usize, |b| b.round().max(1.0) as usize);
        let spec = floor::FloorSpec {
            connections: args.users.max(2),
            lines_per_second: f64::from(args.senders.max(1)) * args.rate,
            duration: args.duration,
            payload,
        };
        report.set_floor(floor::run(spec).map_err(BenchError::Floor)?);
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        report::write_json(&report, &mut stdout)
    } else {
        report::write_human(&report, &mut stdout)
    }
    .map_err(BenchError::Output)?;
    Ok(())
}

/// Local source addresses, in the order sessions take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpList(pub Vec<IpAddr>);

/// The most addresses `--bind-ips` may name.
const MAX_BIND_IPS: usize = 65_536;

impl FromStr for IpList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut ips = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parse = |s: &str| {
                s.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| format!("`{s}` is not an IP address"))
            };
            match item.split_once('-') {
                None => ips.push(parse(item)?),
                Some((first, last)) => {
                    let (IpAddr::V4(first), IpAddr::V4(last)) = (parse(first)?, parse(last)?)
                    else {
                        return Err(format!("`{item}`: ranges are for IPv4 only"));
                    };
                    let (first, last) = (u32::from(first), u32::from(last));
                    if first > last {
                        return Err(format!("`{item}` runs backwards"));
                    }
                    if (last - first) as usize >= MAX_BIND_IPS {
                        return Err(format!("`{item}` holds more than {MAX_BIND_IPS} addresses"));
                    }
                    ips.extend((first..=last).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
                }
            }
            if ips.len() > MAX_BIND_IPS {
                return Err(format!("more than {MAX_BIND_IPS} addresses"));
            }
        }
        if ips.is_empty() {
            return Err("no addresses given".to_owned());
        }
        Ok(Self(ips))
    }
}

impl fmt::Display for IpList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(IpAddr::to_string).collect();
        f.write_str(&texts.join(","))
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 86400"
        )),
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match seconds(text)? {
        s if s > 0.0 => Ok(s),
        _ => Err("must be more than 0 seconds".to_owned()),
    }
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err(format!(
            "`{text}` is not a rate above 0 and at most 1000 lines/s"
        )),
    }
}

fn run_tag(text: &str) -> Result<token::Tag, String> {
    match <token::Tag>::try_from(text.as_bytes()) {
        Ok(tag) if tag.iter().all(u8::is_ascii_lowercase) => Ok(tag),
        _ => Err(format!(
            "`{text}` is not {} lowercase letters",
            token::TAG_LEN
        )),
    }
}

fn user_prefix(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 20
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(text.to_owned())
    } else {
        Err("use 1 to 20 of a-z, A-Z, 0-9, `_` and `-`".to_owned())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    /// `bench ARGS` as the command line would give them.
    pub(super) fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    #[test]
    fn only_the_address_is_required() {
        let args = parse(&["--addr", "127.0.0.1:2222"]).unwrap();
        assert_eq!(args.users, 10);
        assert_eq!(args.pty_width, 250);
        assert!(parse(&[]).is_err());
        // The floor alone needs no server.
        assert!(parse(&["--floor"]).unwrap().addr.is_none());
    }

    #[test]
    fn bad_numbers_are_refused() {
        let base = ["--addr", "127.0.0.1:2222"];
        for bad in [
            &["--rate", "0"][..],
            &["--rate", "nan"],
            &["--duration", "-1"],
            &["--timeout", "0"],
            &["--users", "0"],
            &["--user-prefix", "a b"],
            &["--bind-ips", "127.0.0.9-127.0.0.2"],
        ] {
            let args: Vec<&str> = base.iter().chain(bad).copied().collect();
            assert!(parse(&args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_process_unless_told_and_the_shard_flags_go_together() {
        let base = ["--addr", "127.0.0.1:2222"];
        assert_eq!(parse(&base).unwrap().processes, 1);
        let args = parse(&["--addr", "a:1", "--shard", "1/3", "--tag", "abcd"]).unwrap();
        assert_eq!(args.shard, Some(shard::ShardOf { index: 1, count: 3 }));
        assert_eq!(args.tag, Some(*b"abcd"));
        for bad in [
            &["--processes", "0"][..],
            &["--shard", "1/3"],
            &["--tag", "abcd"],
            &["--shard", "1/3", "--tag", "ABCD"],
            &["--shard", "1/3", "--tag", "abcde"],
        ] {
            let args: Vec<&str> = base.iter().chain(bad).copied().collect();
            assert!(parse(&args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bind_ips_take_lists_and_ranges() {
        let list: IpList = "127.0.0.2-127.0.0.4, 127.0.1.1,::1".parse().unwrap();
        assert_eq!(
            list.to_string(),
            "127.0.0.2,127.0.0.3,127.0.0.4,127.0.1.1,::1"
        );
        assert!("".parse::<IpList>().is_err());
        assert!("::1-::2".parse::<IpList>().is_err());
        assert!("10.0.0.0-10.255.255.255".parse::<IpList>().is_err());
        assert!("localhost".parse::<IpList>().is_err());
    }
}
