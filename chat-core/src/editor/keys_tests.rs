use super::*;
use crate::editor::proptests::{interesting_bytes, split_at_points};
use proptest::prelude::*;

const NO_MODS: Modifiers = Modifiers::NONE;

fn keys(bytes: &[u8]) -> Vec<Key> {
    KeyDecoder::default().feed(bytes)
}

/// Feeds `chunks` one after another into one decoder.
fn keys_in_chunks(chunks: &[&[u8]]) -> Vec<Key> {
    let mut decoder = KeyDecoder::default();
    chunks
        .iter()
        .flat_map(|chunk| decoder.feed(chunk))
        .collect()
}

/// Feeds `bytes` split at every possible point and checks each split gives `expected`.
fn assert_any_split_gives(bytes: &[u8], expected: &[Key]) {
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(
            keys_in_chunks(&[a, b]),
            expected,
            "split at {at} of {bytes:?}"
        );
    }
    let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        keys_in_chunks(&one_by_one),
        expected,
        "byte by byte: {bytes:?}"
    );
}

fn chars(text: &str) -> Vec<Key> {
    text.chars().map(Key::Char).collect()
}

fn paste(text: &str) -> Key {
    Key::Paste {
        text: text.to_owned(),
        truncated: false,
    }
}

#[test]
fn printable_ascii_and_utf8_are_chars() {
    assert_eq!(keys("hi é日👍🏽".as_bytes()), chars("hi é日👍🏽"));
}

#[test]
fn utf8_split_across_chunks_is_reassembled() {
    assert_any_split_gives("é日👍🏽".as_bytes(), &chars("é日👍🏽"));
}

#[test]
fn invalid_utf8_is_dropped_and_the_rest_kept() {
    assert_eq!(keys(b"a\xffb\x80c\xc0\xafd\xed\xa0\x80e"), chars("abcde"));
    assert_eq!(
        keys(b"\xe6\x97x"),
        chars("x"),
        "cut-short char gives back the byte that cut it"
    );
    assert_eq!(keys(b"\xe6\x97\x1b[C"), [Key::Right(NO_MODS)]);
}

#[test]
fn nul_is_ignored() {
    assert_eq!(keys(b"a\0b"), chars("ab"));
}

#[test]
fn forbidden_chars_are_not_reported() {
    assert_eq!(keys("a\u{85}b\u{202e}c\u{2066}d".as_bytes()), chars("abcd"));
}

#[test]
fn enter_as_cr_lf_or_crlf_is_one_enter() {
    assert_eq!(keys(b"\r"), [Key::Enter]);
    assert_eq!(keys(b"\n"), [Key::Enter]);
    assert_eq!(keys(b"\r\n"), [Key::Enter]);
    assert_eq!(keys(b"\r\0"), [Key::Enter]);
    assert_eq!(keys(b"\r\r\n\n"), [Key::Enter, Key::Enter, Key::Enter]);
    assert_eq!(keys(b"\n\r"), [Key::Enter, Key::Enter]);
}

#[test]
fn crlf_split_across_chunks_is_one_enter() {
    assert_eq!(
        keys_in_chunks(&[b"a\r", b"\nb"]),
        [Key::Char('a'), Key::Enter, Key::Char('b')]
    );
    assert_eq!(keys_in_chunks(&[b"\r", b"\0"]), [Key::Enter]);
}

#[test]
fn backspace_as_del_or_bs_and_tab() {
    assert_eq!(
        keys(b"\x7f\x08\t"),
        [Key::Backspace, Key::Backspace, Key::Tab]
    );
}

#[test]
fn control_keys_are_named_by_letter() {
    let expected: Vec<Key> = "abcdefklnpuw".chars().map(Key::Ctrl).collect();
    assert_eq!(
        keys(b"\x01\x02\x03\x04\x05\x06\x0b\x0c\x0e\x10\x15\x17"),
        expected
    );
    assert_eq!(keys(b"\x1c\x1f"), [Key::Ctrl('\\'), Key::Ctrl('_')]);
}

#[test]
fn arrows_in_csi_and_ss3_forms() {
    let arrows = [
        Key::Up(NO_MODS),
        Key::Down(NO_MODS),
        Key::Right(NO_MODS),
        Key::Left(NO_MODS),
    ];
    assert_eq!(keys(b"\x1b[A\x1b[B\x1b[C\x1b[D"), arrows);
    assert_eq!(keys(b"\x1bOA\x1bOB\x1bOC\x1bOD"), arrows);
}

#[test]
fn modified_arrows_carry_their_modifiers() {
    let ctrl = Modifiers::CTRL;
    let alt = Modifiers {
        alt: true,
        ..NO_MODS
    };
    let shift = Modifiers {
        shift: true,
        ..NO_MODS
    };
    assert_eq!(keys(b"\x1b[1;5C"), [Key::Right(ctrl)]);
    assert_eq!(keys(b"\x1b[1;5D"), [Key::Left(ctrl)]);
    assert_eq!(keys(b"\x1b[1;3D"), [Key::Left(alt)]);
    assert_eq!(keys(b"\x1b[1;2A"), [Key::Up(shift)]);
    assert_eq!(keys(b"\x1bO5C"), [Key::Right(ctrl)], "old xterm SS3 form");
    assert_eq!(
        keys(b"\x1bOc\x1bOd"),
        [Key::Right(ctrl), Key::Left(ctrl)],
        "rxvt form"
    );
}

#[test]
fn home_end_and_delete_in_every_form() {
    for home in [
        &b"\x1b[H"[..],
        b"\x1bOH",
        b"\x1b[1~",
        b"\x1b[7~",
        b"\x1b[1;5H",
    ] {
        assert_eq!(keys(home), [Key::Home], "{home:?}");
    }
    for end in [&b"\x1b[F"[..], b"\x1bOF", b"\x1b[4~", b"\x1b[8~"] {
        assert_eq!(keys(end), [Key::End], "{end:?}");
    }
    assert_eq!(keys(b"\x1b[3~"), [Key::Delete]);
}

#[test]
fn alt_keys_and_alt_backspace() {
    assert_eq!(keys(b"\x1bb\x1bf"), [Key::Alt('b'), Key::Alt('f')]);
    assert_eq!(
        keys(b"\x1b\x7f\x1b\x08"),
        [Key::AltBackspace, Key::AltBackspace]
    );
}

#[test]
fn every_key_sequence_survives_any_split() {
    assert_any_split_gives(b"\x1b[1;5C", &[Key::Right(Modifiers::CTRL)]);
    assert_any_split_gives(b"\x1bOH\x1b[3~", &[Key::Home, Key::Delete]);
    assert_any_split_gives(b"\x1b\x7f", &[Key::AltBackspace]);
}

#[test]
fn lone_escape_at_the_end_of_a_chunk_waits_for_the_next_byte() {
    let mut decoder = KeyDecoder::default();
    assert_eq!(decoder.feed(b"a\x1b"), chars("a"));
    assert_eq!(decoder.feed(b"[D"), [Key::Left(NO_MODS)]);
}

#[test]
fn escape_escape_drops_the_first() {
    assert_eq!(keys(b"\x1b\x1b[C"), [Key::Right(NO_MODS)]);
    assert_eq!(keys(b"\x1b\x1b\x1bb"), [Key::Alt('b')]);
}

#[test]
fn escape_before_a_control_or_non_ascii_byte_is_dropped() {
    assert_eq!(keys(b"\x1b\r"), [Key::Enter]);
    assert_eq!(keys("\x1bé".as_bytes()), chars("é"));
}

#[test]
fn unknown_sequences_are_ignored_whole() {
    let unknown: [&[u8]; 11] = [
        b"\x1b[5~",       // Page Up
        b"\x1b[15~",      // F5
        b"\x1bOP",        // F1
        b"\x1b[2~",       // Insert
        b"\x1b[Z",        // Shift-Tab
        b"\x1b[I",        // focus in
        b"\x1b[O",        // focus out
        b"\x1b[<0;12;5M", // SGR mouse press
        b"\x1b[M !!",     // X10 mouse report: three raw bytes follow the header
        b"\x1b[?1;2c",    // device attributes reply
        b"\x1b[201~",     // paste end with no paste open
    ];
    for seq in unknown {
        assert_eq!(keys(seq), [], "{seq:?}");
        let mut typed = b"x".to_vec();
        typed.extend_from_slice(seq);
        typed.push(b'y');
        assert_any_split_gives(&typed, &chars("xy"));
    }
}

#[test]
fn an_over_long_csi_is_discarded_up_to_its_final_byte() {
    let mut bytes = b"\x1b[".to_vec();
    bytes.extend(std::iter::repeat_n(b'9', 100));
    bytes.extend_from_slice(b";5Cok");
    assert_eq!(keys(&bytes), chars("ok"));
}

#[test]
fn a_byte_that_cannot_continue_a_sequence_ends_it_and_counts() {
    assert_eq!(keys(b"\x1b[12\r"), [Key::Enter]);
    assert_eq!(keys(b"\x1b[1;\x01"), [Key::Ctrl('a')]);
    assert_eq!(keys("\x1b[2é".as_bytes()), chars("é"));
    assert_eq!(keys(b"\x1b[1\x1b[D"), [Key::Left(NO_MODS)]);
    assert_eq!(keys(b"\x1bO\x7f"), [Key::Backspace]);
}

#[test]
fn bracketed_paste_is_one_paste_key() {
    assert_eq!(
        keys(b"\x1b[200~hello world\x1b[201~"),
        [paste("hello world")]
    );
    assert_eq!(keys(b"\x1b[200~\x1b[201~"), [], "an empty paste is nothing");
}

#[test]
fn paste_end_marker_split_anywhere_is_found() {
    assert_any_split_gives(
        "\x1b[200~日本\x1b[201~!".as_bytes(),
        &[paste("日本"), Key::Char('!')],
    );
}

#[test]
fn newlines_and_tabs_in_a_paste_become_single_spaces() {
    assert_eq!(
        keys(b"\x1b[200~a\r\nb\nc\rd\te\r\n\x1b[201~"),
        [paste("a b c d e ")]
    );
    assert_eq!(
        keys_in_chunks(&[b"\x1b[200~a\r", b"\nb\x1b[201~"]),
        [paste("a b")]
    );
}

#[test]
fn escape_sequences_and_controls_inside_a_paste_are_dropped() {
    let bytes = b"\x1b[200~red\x1b[31m!\x1b[0m\x07\x08\x7f\x03\x1b[A\x1bb\x1b[200~.\x1b[201~";
    assert_eq!(keys(bytes), [paste("red!.")]);
}

#[test]
fn paste_text_is_bounded_and_says_so() {
    let mut decoder = KeyDecoder::new(4);
    let got = decoder.feed("\x1b[200~abcé\u{1F44D}".as_bytes());
    assert_eq!(got, []);
    assert!(decoder.in_paste());
    let got = decoder.feed(b"xyz\x1b[201~k");
    assert_eq!(
        got,
        [
            Key::Paste {
                text: "abc".to_owned(),
                truncated: true
            },
            Key::Char('k')
        ]
    );
}

proptest! {
    #[test]
    fn decoding_does_not_depend_on_chunking(
        bytes in interesting_bytes(),
        points in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = keys(&bytes);
        let mut decoder = KeyDecoder::default();
        let chunks = split_at_points(&bytes, &points);
        let chunked: Vec<Key> = chunks.iter().flat_map(|c| decoder.feed(c)).collect();
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn decoded_text_never_holds_a_forbidden_char(bytes in interesting_bytes()) {
        for key in keys(&bytes) {
            let text = match key {
                Key::Char(c) => c.to_string(),
                Key::Paste { text, .. } => text,
                _ => continue,
            };
            prop_assert!(!text.chars().any(is_forbidden_char), "{:?}", text);
        }
    }
}
