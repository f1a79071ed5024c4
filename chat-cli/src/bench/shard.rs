//! Splitting a run over processes (`--processes K`): which sessions each process opens, and
//! the lines the processes and their parent exchange.
//!
//! Session numbers are global: process `I` of `K` opens one contiguous range of them, as
//! even as the split allows, so names, derived keys and the sender numbers in tokens are those
//! a single process would use. The slow readers come after the normal users in that numbering,
//! so they land in the last process (or the last few). `--connect-concurrency` is split the
//! same way, each process getting at least one.
//!
//! The parent and each process speak JSON, one object a line: the parent on the process's
//! stdin ([`ToShard`]), the process on its stdout ([`FromShard`]); stderr is the user's.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;

/// Which of how many processes this one is (`--shard I/K`, passed by the parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardOf {
    pub index: u32,
    pub count: u32,
}

impl FromStr for ShardOf {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not I/K with I below K");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            index.parse().map_err(|_| bad())?,
            count.parse().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for ShardOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One process's part of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The global numbers of the sessions it opens: normal users below `--users`, slow
    /// readers from there on.
    pub sessions: Range<u32>,
    /// How many of them it sets up at once.
    pub connect_concurrency: u32,
    /// How many of the first `--senders` numbers it holds: that many of its normal sessions
    /// that set up (the first ones) send.
    pub senders: u32,
}

/// Splits sessions `0..total` (normal users, then slow readers), the first `senders` of which
/// send, and `concurrency` set-ups at a time, over `count` processes.
pub fn plan(total: u32, senders: u32, concurrency: u32, count: u32) -> Vec<Plan> {
    let count = count.max(1);
    // Where share `i` of `n` begins: the shares differ by one at most.
    let cut = |n: u32, i: u32| (u64::from(n) * u64::from(i) / u64::from(count)) as u32;
    (0..count)
        .map(|i| {
            let sessions = cut(total, i)..cut(total, i + 1);
            Plan {
                senders: sessions.end.min(senders) - sessions.start.min(senders),
                sessions,
                connect_concurrency: (cut(concurrency, i + 1) - cut(concurrency, i)).max(1),
            }
        })
        .collect()
}

/// Where a process's senders sit among all of a run's: sender `j` of a process is sender
/// `first + j` of `of`, which sets when in each period it sends (see `send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub first: u32,
    pub of: u32,
}

/// Each process's place in the spread, given how many senders each one has.
pub fn spreads(senders: &[u32]) -> Vec<Spread> {
    let of = senders.iter().sum();
    let mut first = 0;
    senders
        .iter()
        .map(|&n| {
            let spread = Spread { first, of };
            first += n;
            spread
        })
        .collect()
}

/// The deliveries one process should see: every line sent elsewhere at each of its
/// `receivers`, and each of its own lines at all of them but its sender.
pub fn expected_here(own_lines: u64, other_lines: u64, receivers: u64) -> u64 {
    other_lines * receivers + own_lines * receivers.saturating_sub(1)
}

/// What the parent tells a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum ToShard {
    /// Every process is connected: wait for the server to go quiet.
    Settle,
    /// Every process is quiet: send, with this process's place among all senders, then wait
    /// for the deliveries.
    Send { first: u32, of: u32 },
    /// The parent has its readings: close the sessions and exit.
    Close,
    /// Ctrl-C: cut the run short, as Ctrl-C does a single process's.
    Stop,
}

/// What a process tells the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum FromShard {
    /// Sent every [`HEARTBEAT`](super::child::HEARTBEAT) whatever the phase: counters for the
    /// progress line, and a sign of life.
    Progress {
        set_up: u64,
        failed: u64,
        deliveries: u64,
    },
    /// Every session is set up or has failed; this many will send.
    Connected { senders: u32 },
    /// The server went quiet (or `--settle` ran out).
    Quiet,
    /// Sending and draining are over: what this process measured.
    Done(Box<Outcome>),
}

/// One message as a line, without the newline.
pub fn encode(message: &impl Serialize) -> String {
    serde_json::to_string(message).expect("the messages are plain data with string keys")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_an_index_below_a_count() {
        assert_eq!("1/3".parse(), Ok(ShardOf { index: 1, count: 3 }));
        assert_eq!(ShardOf { index: 1, count: 3 }.to_string(), "1/3");
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", "1/2/3"] {
            assert!(bad.parse::<ShardOf>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_session_once_in_order() {
        for (total, count) in [(10, 3), (7, 7), (100_000, 6), (5, 1), (1_000_001, 4)] {
            let plans = plan(total, 0, 100, count);
            assert_eq!(plans.len(), count as usize);
            assert_eq!(plans[0].sessions.start, 0);
            assert_eq!(plans.last().unwrap().sessions.end, total);
            for pair in plans.windows(2) {
                assert_eq!(pair[0].sessions.end, pair[1].sessions.start);
            }
            let sizes: Vec<u32> = plans.iter().map(|p| p.sessions.len() as u32).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{total} over {count}: {sizes:?}");
        }
    }

    #[test]
    fn the_senders_are_the_first_numbers_wherever_they_land() {
        // 10 sessions over 3: 0..3, 3..6, 6..10; senders 0 to 4.
        let plans = plan(10, 5, 100, 3);
        let ranges: Vec<_> = plans.iter().map(|p| p.sessions.clone()).collect();
        assert_eq!(ranges, [0..3, 3..6, 6..10]);
        let senders: Vec<u32> = plans.iter().map(|p| p.senders).collect();
        assert_eq!(senders, [3, 2, 0]);
        assert_eq!(
            plan(10, 0, 100, 3).iter().map(|p| p.senders).sum::<u32>(),
            0
        );
        assert_eq!(
            plan(10, 10, 100, 3).iter().map(|p| p.senders).sum::<u32>(),
            10
        );
        // One process is the whole run.
        assert_eq!(
            plan(12, 4, 50, 1),
            [Plan {
                sessions: 0..12,
                connect_concurrency: 50,
                senders: 4
            }]
        );
    }

    #[test]
    fn connect_concurrency_is_split_but_never_to_nothing() {
        let split: Vec<u32> = plan(100, 0, 10, 4)
            .iter()
            .map(|p| p.connect_concurrency)
            .collect();
        assert_eq!(split, [2, 3, 2, 3]);
        assert!(
            plan(100, 0, 1, 4)
                .iter()
                .all(|p| p.connect_concurrency == 1)
        );
    }

    #[test]
    fn the_spread_numbers_senders_across_processes() {
        assert_eq!(
            spreads(&[3, 0, 2]),
            [
                Spread { first: 0, of: 5 },
                Spread { first: 3, of: 5 },
                Spread { first: 3, of: 5 }
            ]
        );
    }

    #[test]
    fn a_process_expects_its_own_lines_at_all_but_their_sender() {
        // One process of 4 receivers sending 20 lines: each seen 3 times.
        assert_eq!(expected_here(20, 0, 4), 60);
        // Split 2 + 2, the lines sent by the first: it sees them twice, the other 4 times.
        assert_eq!(expected_here(20, 0, 2) + expected_here(0, 20, 2), 60);
        assert_eq!(expected_here(5, 0, 0), 0);
    }

    #[test]
    fn messages_read_back_as_they_were_written() {
        let outcome = Outcome {
            ok: 3,
            latencies_us: vec![1, 2, 3],
            ..Outcome::default()
        };
        for message in [
            FromShard::Progress {
                set_up: 1,
                failed: 2,
                deliveries: 3,
            },
            FromShard::Connected { senders: 2 },
            FromShard::Quiet,
            FromShard::Done(Box::new(outcome)),
        ] {
            let line = encode(&message);
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<FromShard>(&line).unwrap(), message);
        }
        for message in [
            ToShard::Settle,
            ToShard::Send { first: 1, of: 4 },
            ToShard::Close,
            ToShard::Stop,
        ] {
            let line = encode(&message);
            assert_eq!(serde_json::from_str::<ToShard>(&line).unwrap(), message);
        }
        assert_eq!(encode(&ToShard::Settle), r#"{"to":"settle"}"#);
    }
}
