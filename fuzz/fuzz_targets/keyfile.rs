//! The authorized_keys reader (the admins file and the allowlist), on any file an operator
//! could point it at.
//!
//! Invariants: no panic; every key found is on a line that is neither blank nor a comment, in
//! order, and is what `parse_line` makes of that line; a file without error has a key for every
//! such line; an error names a line that exists and that `parse_line` refuses, every line
//! before it being fine; a key read writes back (OpenSSH format) as a line that reads as the
//! same key, with the same fingerprint.
#![no_main]

// The one place that says where the reader lives (see `chat-server` in fuzz/Cargo.toml).
use chat_server::keyfile::{fingerprint, parse, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The lines as `parse` numbers them (from 1), with those it must read as keys.
    let lines: Vec<&str> = text.lines().collect();
    let is_key_line = |line: &str| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    };
    match parse(text) {
        Ok(keys) => {
            let expected: Vec<usize> = (1..=lines.len())
                .filter(|&n| is_key_line(lines[n - 1]))
                .collect();
            let found: Vec<usize> = keys.iter().map(|k| k.line).collect();
            assert_eq!(found, expected, "keys found on other lines than expected");
            for listed in &keys {
                let again = parse_line(lines[listed.line - 1].trim())
                    .expect("parse read this line as a key");
                assert_eq!(again, listed.key);
                let written = listed.key.to_openssh().expect("a key read can be written");
                let read_back = parse_line(&written).expect("a written key reads back");
                assert_eq!(fingerprint(&read_back), listed.fingerprint(), "{written}");
            }
        }
        Err((line, reason)) => {
            assert!(
                (1..=lines.len()).contains(&line),
                "line {line} of {}",
                lines.len()
            );
            assert!(is_key_line(lines[line - 1]));
            assert!(parse_line(lines[line - 1].trim()).is_none(), "{reason}");
            assert!(!reason.is_empty());
            for earlier in &lines[..line - 1] {
                assert!(!is_key_line(earlier) || parse_line(earlier.trim()).is_some());
            }
        }
    }
});
