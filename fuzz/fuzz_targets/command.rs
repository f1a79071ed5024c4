//! The command parser, on any line a member could submit.
//!
//! Invariants: no panic; a parsed command writes back (`Display`) as a line that parses to the
//! same command; plain text (no leading `/`) is said as typed, trimmed; `//x` says `/x`; an
//! error has a message for the member; durations read back as they are written; completion
//! only offers commands that start with what was typed, and each of them parses.
#![no_main]

use chat_core::command::{self, Command, format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let trimmed = line.trim();
    match Command::parse(&line) {
        Ok(parsed) => {
            let written = parsed.to_string();
            assert_eq!(
                Command::parse(&written).as_ref(),
                Ok(&parsed),
                "{line:?} parsed to {parsed:?}, written back as {written:?}"
            );
            if !trimmed.starts_with('/') {
                assert_eq!(parsed, Command::Say(trimmed.to_owned()));
            } else if let Some(literal) = trimmed.strip_prefix("//") {
                assert_eq!(parsed, Command::Say(format!("/{literal}")));
            }
        }
        Err(error) => {
            assert!(
                trimmed.starts_with('/') || trimmed.is_empty(),
                "{line:?}: {error}"
            );
            assert!(!error.to_string().is_empty());
        }
    }

    let word = trimmed.split_whitespace().next().unwrap_or("");
    if let Some(duration) = parse_duration(word) {
        assert_eq!(
            parse_duration(&format_duration(duration)),
            Some(duration),
            "{word:?}"
        );
    }
    if word.starts_with('/') {
        let prefix = word.to_lowercase();
        for candidate in command::complete(word) {
            assert!(candidate.starts_with(&prefix), "{candidate} for {word:?}");
            assert!(command::lookup(&candidate).is_some(), "{candidate}");
        }
    }
});
