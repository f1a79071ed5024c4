//! The token each bench line carries, and the scanner that finds tokens in a terminal's bytes.
//!
//! A token reads `bench-TAG-SENDER-SEQ-MICROS`, e.g. `bench-qzkx-7-123-1732500000123456`:
//! `TAG` is four lowercase letters chosen per run (so lines replayed from an earlier run's
//! history are not counted), `SENDER` the sending session's index, `SEQ` its line number and
//! `MICROS` the send time in microseconds since the UNIX epoch, always 16 digits (true from
//! 2001 to 2286), so a token is complete without looking past it.
//!
//! The scanner takes whatever bytes a session receives, in chunks cut anywhere, with colour
//! codes, prompts and redraws around the tokens, and reports every complete token. A token cut
//! in two by a chunk boundary is kept as a short tail and completed by the next chunk.

use std::fmt;

/// What every token starts with.
const PREFIX: &[u8] = b"bench-";
/// Letters in a run tag.
pub const TAG_LEN: usize = 4;
const MAX_SENDER_DIGITS: usize = 7;
const MAX_SEQ_DIGITS: usize = 9;
const TIME_DIGITS: usize = 16;
/// The longest token: the most a scanner ever has to carry from one chunk to the next.
pub const MAX_LEN: usize =
    PREFIX.len() + TAG_LEN + 1 + MAX_SENDER_DIGITS + 1 + MAX_SEQ_DIGITS + 1 + TIME_DIGITS;

/// The run tag: four lowercase letters.
pub type Tag = [u8; TAG_LEN];

/// Picks a run tag at random.
pub fn random_tag() -> Tag {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    std::array::from_fn(|_| rng.random_range(b'a'..=b'z'))
}

/// One sent line's identity and send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    pub tag: Tag,
    pub sender: u32,
    pub seq: u32,
    /// Microseconds since the UNIX epoch when the line was sent.
    pub sent_us: u64,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = std::str::from_utf8(&self.tag).unwrap_or("????");
        write!(
            f,
            "bench-{tag}-{}-{}-{:016}",
            self.sender, self.seq, self.sent_us
        )
    }
}

/// The result of trying to read a token at some position.
#[derive(Debug, PartialEq, Eq)]
enum Parse {
    /// A whole token, `len` bytes long.
    Complete(Token, usize),
    /// The bytes so far could start a token, but they end before it does.
    Partial,
    /// Not a token.
    Invalid,
}

/// Reads a token at the start of `bytes`.
fn parse(bytes: &[u8]) -> Parse {
    let mut at = 0;
    // The literal prefix.
    for &want in PREFIX {
        match bytes.get(at) {
            None => return Parse::Partial,
            Some(&b) if b == want => at += 1,
            Some(_) => return Parse::Invalid,
        }
    }
    let mut tag = [0; TAG_LEN];
    for slot in &mut tag {
        match bytes.get(at) {
            None => return Parse::Partial,
            Some(&b) if b.is_ascii_lowercase() => *slot = b,
            Some(_) => return Parse::Invalid,
        }
        at += 1;
    }
    match bytes.get(at) {
        None => return Parse::Partial,
        Some(b'-') => at += 1,
        Some(_) => return Parse::Invalid,
    }
    let sender = match number_then_dash(bytes, &mut at, MAX_SENDER_DIGITS) {
        Ok(n) => n,
        Err(parse) => return parse,
    };
    let seq = match number_then_dash(bytes, &mut at, MAX_SEQ_DIGITS) {
        Ok(n) => n,
        Err(parse) => return parse,
    };
    let mut sent_us: u64 = 0;
    for _ in 0..TIME_DIGITS {
        match bytes.get(at) {
            None => return Parse::Partial,
            Some(&b) if b.is_ascii_digit() => sent_us = sent_us * 10 + u64::from(b - b'0'),
            Some(_) => return Parse::Invalid,
        }
        at += 1;
    }
    let (Ok(sender), Ok(seq)) = (u32::try_from(sender), u32::try_from(seq)) else {
        return Parse::Invalid;
    };
    Parse::Complete(
        Token {
            tag,
            sender,
            seq,
            sent_us,
        },
        at,
    )
}

/// Reads 1 to `max_digits` digits and the `-` after them.
fn number_then_dash(bytes: &[u8], at: &mut usize, max_digits: usize) -> Result<u64, Parse> {
    let mut value: u64 = 0;
    let mut digits = 0;
    loop {
        match bytes.get(*at) {
            None => return Err(Parse::Partial),
            Some(&b) if b.is_ascii_digit() && digits < max_digits => {
                value = value * 10 + u64::from(b - b'0');
                digits += 1;
            }
            Some(b'-') if digits > 0 => {
                *at += 1;
                return Ok(value);
            }
            Some(_) => return Err(Parse::Invalid),
        }
        *at += 1;
    }
}

/// Finds tokens in a stream of bytes received in arbitrary chunks.
#[derive(Debug, Default)]
pub struct Scanner {
    /// The end of the previous chunk, when it could be the start of a token.
    carry: Vec<u8>,
    /// Scratch space for `carry` plus a new chunk.
    joined: Vec<u8>,
}

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans the next chunk and calls `found` for each token completed in it.
    pub fn feed(&mut self, chunk: &[u8], mut found: impl FnMut(Token)) {
        if self.carry.is_empty() {
            let rest = scan(chunk, &mut found);
            self.carry.extend_from_slice(&chunk[rest..]);
        } else {
            self.joined.clear();
            self.joined.append(&mut self.carry);
            self.joined.extend_from_slice(chunk);
            let rest = scan(&self.joined, &mut found);
            self.carry.extend_from_slice(&self.joined[rest..]);
        }
        debug_assert!(
            self.carry.len() < MAX_LEN,
            "a carried tail is shorter than a token"
        );
    }
}

/// Reports each complete token in `bytes`; returns where an unfinished token starts (or
/// `bytes.len()` if none does).
fn scan(bytes: &[u8], found: &mut impl FnMut(Token)) -> usize {
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == PREFIX[0]) {
        at += offset;
        match parse(&bytes[at..]) {
            Parse::Complete(token, len) => {
                found(token);
                at += len;
            }
            Parse::Partial => return at,
            Parse::Invalid => at += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn token(sender: u32, seq: u32) -> Token {
        Token {
            tag: *b"qzkx",
            sender,
            seq,
            sent_us: 1_732_500_000_123_456,
        }
    }

    fn scan_chunks(chunks: &[&[u8]]) -> Vec<Token> {
        let mut scanner = Scanner::new();
        let mut found = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, |t| found.push(t));
        }
        found
    }

    #[test]
    fn a_token_reads_back_as_itself() {
        let t = token(7, 123);
        assert_eq!(t.to_string(), "bench-qzkx-7-123-1732500000123456");
        assert_eq!(scan_chunks(&[t.to_string().as_bytes()]), vec![t]);
    }

    #[test]
    fn the_longest_token_is_max_len() {
        let t = Token {
            sender: 9_999_999,
            seq: 999_999_999,
            ..token(0, 0)
        };
        assert_eq!(t.to_string().len(), MAX_LEN);
        assert_eq!(scan_chunks(&[t.to_string().as_bytes()]), vec![t]);
    }

    #[test]
    fn tokens_are_found_among_garbage_and_colour_codes() {
        let line = format!(
            "\x1b[2K\r\x1b[90m12:04\x1b[0m \x1b[1;32mbench3\x1b[0m: {} bench-\x1b[0m bench-qzkx-1-\r\n\
             [bench9] {}\x07\x1b[1;93m{}\x1b[0m\r\n",
            token(3, 1),
            token(9, 2),
            token(4, 5)
        );
        assert_eq!(
            scan_chunks(&[line.as_bytes()]),
            vec![token(3, 1), token(9, 2), token(4, 5)]
        );
    }

    #[test]
    fn a_token_split_at_every_position_is_found_once() {
        let text = format!("xx {} yy {} zz", token(1, 2), token(30, 40));
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let found = scan_chunks(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(found, vec![token(1, 2), token(30, 40)], "cut at {cut}");
        }
    }

    #[test]
    fn a_token_fed_a_byte_at_a_time_is_found() {
        let text = format!("b{}bb{}", token(1, 2), token(3, 4));
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(scan_chunks(&chunks), vec![token(1, 2), token(3, 4)]);
    }

    #[test]
    fn malformed_tokens_are_ignored() {
        for text in [
            "bench-QZKX-1-2-1732500000123456",
            "bench-qzk-1-2-1732500000123456",
            "bench-qzkx--2-1732500000123456",
            "bench-qzkx-1-2-173250000012345x",
            "bench-qzkx-12345678-2-1732500000123456",
            "bench qzkx-1-2-1732500000123456",
        ] {
            assert_eq!(scan_chunks(&[text.as_bytes()]), vec![], "{text}");
        }
    }

    #[test]
    fn an_unfinished_token_at_the_end_is_carried_but_not_reported() {
        let mut scanner = Scanner::new();
        let mut found = Vec::new();
        scanner.feed(b"hello bench-qzkx-1-2-17325", |t| found.push(t));
        assert!(found.is_empty());
        assert_eq!(scanner.carry, b"bench-qzkx-1-2-17325");
        scanner.feed(b"00000123456 and more", |t| found.push(t));
        assert_eq!(found, vec![token(1, 2)]);
        assert!(scanner.carry.is_empty());
    }

    proptest! {
        /// Whatever surrounds them and however the stream is cut, every token is found exactly
        /// once and in order.
        #[test]
        fn tokens_survive_any_chunking(
            tokens in prop::collection::vec((0u32..10_000, 0u32..100_000, 0u64..10u64.pow(16)), 0..8),
            fillers in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 9),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let tokens: Vec<Token> = tokens
                .into_iter()
                .map(|(sender, seq, sent_us)| Token { tag: *b"abcd", sender, seq, sent_us })
                .collect();
            let mut stream = Vec::new();
            for (i, t) in tokens.iter().enumerate() {
                // Filler that ends mid-token would swallow the next one; keep it token-free.
                stream.extend(fillers[i].iter().map(|&b| if b == b'b' { b'.' } else { b }));
                stream.push(b' ');
                stream.extend_from_slice(t.to_string().as_bytes());
            }
            stream.extend_from_slice(&fillers[8]);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for cut in cuts {
                chunks.push(&stream[from..cut]);
                from = cut;
            }
            chunks.push(&stream[from..]);
            prop_assert_eq!(scan_chunks(&chunks), tokens);
        }

        /// Arbitrary bytes never panic the scanner, and it never carries more than a token.
        #[test]
        fn garbage_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut scanner = Scanner::new();
            for chunk in &chunks {
                scanner.feed(chunk, |_| {});
                prop_assert!(scanner.carry.len() < MAX_LEN);
            }
        }
    }
}
