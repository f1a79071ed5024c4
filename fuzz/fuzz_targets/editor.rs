//! The terminal input decoder and the line editor, fed the same bytes whole and in the chunks
//! the input's markers cut them into (SSH splits a UTF-8 character or an escape sequence
//! anywhere).
//!
//! Invariants: no panic; the decoder and the editor do the same whatever the chunking; after
//! every chunk the editor's own `assert_valid` holds (cursor on a grapheme boundary, char count
//! in step, within the cap, no forbidden character); no key, paste, line or submitted line holds
//! a control or bidi character; nothing submitted is longer than the cap.
#![no_main]

use chat_core::editor::{EditorConfig, EditorEvent, Key, KeyDecoder, LineEditor};
use chat_fuzz::{Segment, is_dangerous, segments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let chunks: Vec<Vec<u8>> = segments(data)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Bytes(b) => Some(b),
            Segment::Op(_) => None,
        })
        .collect();
    let whole = chunks.concat();

    decoder(&whole, &chunks, 4000);
    decoder(&whole, &chunks, 7);
    for config in [
        EditorConfig::default(),
        EditorConfig {
            max_chars: 5,
            history_len: 2,
        },
        EditorConfig {
            max_chars: 0,
            history_len: 0,
        },
    ] {
        let at_once = edit(config, std::slice::from_ref(&whole));
        let chunked = edit(config, &chunks);
        assert_eq!(at_once, chunked, "chunking changed the outcome");
    }
});

fn decoder(whole: &[u8], chunks: &[Vec<u8>], max_paste_bytes: usize) {
    let at_once = KeyDecoder::new(max_paste_bytes).feed(whole);
    let mut decoder = KeyDecoder::new(max_paste_bytes);
    let chunked: Vec<Key> = chunks.iter().flat_map(|c| decoder.feed(c)).collect();
    assert_eq!(at_once, chunked, "chunking changed the keys");
    for key in &at_once {
        match key {
            Key::Char(c) => assert!(!is_dangerous(*c), "key {c:?}"),
            Key::Paste { text, .. } => {
                assert!(!text.chars().any(is_dangerous), "paste {text:?}");
                assert!(text.len() <= max_paste_bytes, "paste over its cap");
            }
            _ => {}
        }
    }
}

/// Feeds the chunks to a fresh editor, checking it after each; returns everything observable.
fn edit(config: EditorConfig, chunks: &[Vec<u8>]) -> (Vec<EditorEvent>, String, usize) {
    let mut editor = LineEditor::new(config);
    let mut events = Vec::new();
    let mut completer = |word: &str, first_word: bool| -> Vec<String> {
        if first_word && word.starts_with('/') {
            return chat_core::command::complete(word);
        }
        let lower = word.to_lowercase();
        [
            "alice",
            "Alan",
            "albert",
            "bob",
            "Ünal",
            "日本",
            "e\u{301}mile",
        ]
        .iter()
        .filter(|name| name.to_lowercase().starts_with(&lower))
        .map(|name| name.to_string())
        .collect()
    };
    for chunk in chunks {
        events.extend(editor.feed(chunk, &mut completer));
        editor.assert_valid();
        let line = editor.line();
        assert!(line.chars().count() <= config.max_chars, "over the cap");
        assert!(!line.chars().any(is_dangerous), "line {line:?}");
        assert!(line.is_char_boundary(editor.cursor()));
    }
    for event in &events {
        if let EditorEvent::Submit(line) = event {
            assert!(
                line.chars().count() <= config.max_chars,
                "submitted over the cap"
            );
            assert!(!line.chars().any(is_dangerous), "submitted {line:?}");
        }
    }
    (events, editor.line().to_owned(), editor.cursor())
}
