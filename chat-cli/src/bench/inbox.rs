//! What one session saw: the tokens of other senders, each counted once, with its latency.

use std::collections::BTreeMap;

use super::client::Shared;
use super::token::{Scanner, Tag, Token};

/// What one session saw.
#[derive(Debug)]
pub struct Inbox {
    me: u32,
    tag: Tag,
    users: u32,
    lines_per_sender: u32,
    warmup_lines: u32,
    scanner: Scanner,
    /// Per sender, a bit per sequence number already counted.
    seen: BTreeMap<u32, Vec<u64>>,
    /// Delivery latencies in microseconds, one per counted delivery.
    pub latencies_us: Vec<u64>,
    /// The same token seen again (a redraw): not counted twice.
    pub duplicates: u64,
    /// Tokens of this run that name no sender or line of it.
    pub invalid: u64,
    /// Set when the connection ended, with why if known.
    pub closed: Option<String>,
}

impl Inbox {
    pub fn new(me: u32, shared: &Shared) -> Self {
        Self {
            me,
            tag: shared.tag,
            users: shared.users,
            lines_per_sender: shared.lines_per_sender,
            warmup_lines: shared.warmup_lines,
            scanner: Scanner::new(),
            seen: BTreeMap::new(),
            latencies_us: Vec::new(),
            duplicates: 0,
            invalid: 0,
            closed: None,
        }
    }

    /// Scans received bytes; returns how many deliveries they completed.
    pub fn receive(&mut self, bytes: &[u8], now_us: u64) -> u64 {
        let mut tokens = Vec::new();
        self.scanner.feed(bytes, |t| tokens.push(t));
        let before = self.latencies_us.len();
        for token in tokens {
            self.count(token, now_us);
        }
        (self.latencies_us.len() - before) as u64
    }

    fn count(&mut self, token: Token, now_us: u64) {
        if token.tag != self.tag || token.sender == self.me {
            return; // an earlier run's line, or our own echo
        }
        if token.sender >= self.users || token.seq >= self.lines_per_sender {
            self.invalid += 1;
            return;
        }
        if token.seq < self.warmup_lines {
            return;
        }
        let bits = self
            .seen
            .entry(token.sender)
            .or_insert_with(|| vec![0; (self.lines_per_sender as usize).div_ceil(64)]);
        let (word, bit) = (token.seq as usize / 64, 1u64 << (token.seq % 64));
        if bits[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        bits[word] |= bit;
        self.latencies_us.push(now_us.saturating_sub(token.sent_us));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use russh::client;

    use super::*;

    fn shared() -> Shared {
        Shared {
            addrs: vec!["127.0.0.1:1".parse().unwrap()],
            ssh: Arc::new(client::Config::default()),
            slow_ssh: Arc::new(client::Config::default()),
            timeout: Duration::from_secs(1),
            pty_width: 250,
            key_seed: None,
            tag: *b"abcd",
            users: 10,
            lines_per_sender: 100,
            warmup_lines: 5,
            bytes: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            set_up: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn token(sender: u32, seq: u32, sent_us: u64) -> String {
        Token {
            tag: *b"abcd",
            sender,
            seq,
            sent_us,
        }
        .to_string()
    }

    #[test]
    fn an_inbox_counts_each_line_of_others_once() {
        let mut inbox = Inbox::new(3, &shared());
        let screen = format!(
            "{}\r\n{}\r\n{}\r\n",
            token(1, 10, 1_000_000_000_000_000),
            token(1, 10, 1_000_000_000_000_000),
            token(2, 10, 1_000_000_000_000_500)
        );
        assert_eq!(inbox.receive(screen.as_bytes(), 1_000_000_000_001_000), 2);
        assert_eq!(inbox.latencies_us, vec![1000, 500]);
        assert_eq!(inbox.duplicates, 1);
    }

    #[test]
    fn an_inbox_skips_its_own_lines_warmup_and_other_runs() {
        let mut inbox = Inbox::new(3, &shared());
        let mut screen = token(3, 10, 1_000_000_000_000_000); // our own echo
        screen += &token(1, 4, 1_000_000_000_000_000); // warm-up
        screen += "bench-zzzz-1-10-1000000000000000"; // another run
        screen += &token(11, 10, 1_000_000_000_000_000); // no such sender
        screen += &token(1, 100, 1_000_000_000_000_000); // no such line
        assert_eq!(inbox.receive(screen.as_bytes(), 1_000_000_000_001_000), 0);
        assert_eq!(inbox.invalid, 2);
        assert_eq!(inbox.duplicates, 0);
    }
}
