//! Tests of the whole editor, fed bytes as a terminal would send them.

use super::*;

/// An editor with a small cap and the completer used by most tests.
struct Term {
    editor: LineEditor,
}

/// Completes commands in the first word and a few names elsewhere, matching case-insensitively.
pub(super) fn complete_from_list(word: &str, first_word: bool) -> Vec<String> {
    let commands = ["/nick", "/names", "/me", "/msg"];
    let names = ["alice", "Alan", "albert", "bob", "carol", "Carl"];
    let list: &[&str] = if first_word && word.starts_with('/') {
        &commands
    } else {
        &names
    };
    let lower = word.to_lowercase();
    list.iter()
        .filter(|c| c.to_lowercase().starts_with(&lower))
        .map(|c| c.to_string())
        .collect()
}

impl Term {
    fn new() -> Self {
        Self::with(EditorConfig::default())
    }

    fn with(config: EditorConfig) -> Self {
        Self {
            editor: LineEditor::new(config),
        }
    }

    /// Feeds `bytes` and returns the events; checks the invariants afterwards.
    fn feed(&mut self, bytes: impl AsRef<[u8]>) -> Vec<EditorEvent> {
        self.feed_with(bytes, &mut complete_from_list)
    }

    fn feed_with(
        &mut self,
        bytes: impl AsRef<[u8]>,
        completer: &mut dyn Completer,
    ) -> Vec<EditorEvent> {
        let events = self.editor.feed(bytes.as_ref(), completer);
        self.editor.assert_valid();
        events
    }

    /// The line with `|` at the cursor.
    fn screen(&self) -> String {
        let (before, after) = self.editor.line().split_at(self.editor.cursor());
        format!("{before}|{after}")
    }
}

/// Types `text`, then `keys`, and returns the line with `|` at the cursor.
fn after(text: &str, keys: &[u8]) -> String {
    let mut term = Term::new();
    term.feed(text);
    assert_eq!(term.feed(keys), [], "{keys:?} made events");
    term.screen()
}

fn submit(line: &str) -> EditorEvent {
    EditorEvent::Submit(line.to_owned())
}

#[test]
fn home_in_every_encoding_moves_to_the_start() {
    for key in [&b"\x01"[..], b"\x1b[H", b"\x1bOH", b"\x1b[1~", b"\x1b[7~"] {
        assert_eq!(after("ab", key), "|ab", "{key:?}");
    }
}

#[test]
fn end_in_every_encoding_moves_to_the_end() {
    for key in [&b"\x05"[..], b"\x1b[F", b"\x1bOF", b"\x1b[4~", b"\x1b[8~"] {
        assert_eq!(after("ab", &[b"\x01", key].concat()), "ab|", "{key:?}");
    }
}

#[test]
fn left_and_right_in_every_encoding_move_one_cluster() {
    for left in [&b"\x02"[..], b"\x1b[D", b"\x1bOD"] {
        assert_eq!(after("ab", left), "a|b", "{left:?}");
    }
    for right in [&b"\x06"[..], b"\x1b[C", b"\x1bOC"] {
        assert_eq!(after("ab", &[b"\x01", right].concat()), "a|b", "{right:?}");
    }
}

#[test]
fn ctrl_or_alt_arrows_and_alt_b_f_move_by_word() {
    for left in [&b"\x1b[1;5D"[..], b"\x1b[1;3D", b"\x1bb", b"\x1bOd"] {
        assert_eq!(after("say hi there", left), "say hi |there", "{left:?}");
    }
    for right in [&b"\x1b[1;5C"[..], b"\x1b[1;3C", b"\x1bf", b"\x1bOc"] {
        assert_eq!(
            after("say hi there", &[b"\x01", right].concat()),
            "say| hi there",
            "{right:?}"
        );
    }
}

#[test]
fn backspace_as_del_or_bs_deletes_before_the_cursor() {
    assert_eq!(after("abc", b"\x7f"), "ab|");
    assert_eq!(after("abc", b"\x08"), "ab|");
    assert_eq!(after("", b"\x7f"), "|", "nothing to delete is quiet");
}

#[test]
fn delete_and_ctrl_d_delete_under_the_cursor() {
    assert_eq!(after("abc", b"\x01\x1b[3~"), "|bc");
    assert_eq!(after("abc", b"\x01\x04"), "|bc");
    assert_eq!(
        after("abc", b"\x04"),
        "abc|",
        "ctrl-d at the end of a line is not EOF"
    );
}

#[test]
fn ctrl_d_on_an_empty_line_is_eof() {
    let mut term = Term::new();
    assert_eq!(term.feed(b"\x04"), [EditorEvent::Eof]);
    assert_eq!(
        term.feed(b"x\x7f\x04"),
        [EditorEvent::Eof],
        "emptied by backspace counts"
    );
}

#[test]
fn kills_and_word_deletes() {
    assert_eq!(after("one two", b"\x1bb\x15"), "|two");
    assert_eq!(after("one two", b"\x1bb\x0b"), "one |");
    assert_eq!(after("one two  ", b"\x17"), "one |");
    assert_eq!(after("one two", b"\x1b\x7f"), "one |");
}

#[test]
fn ctrl_l_asks_for_a_clear_screen_and_keeps_the_line() {
    let mut term = Term::new();
    term.feed("draft");
    assert_eq!(term.feed(b"\x0c"), [EditorEvent::ClearScreen]);
    assert_eq!(term.screen(), "draft|");
}

#[test]
fn ctrl_c_clears_the_line_and_leaves_history_browsing() {
    let mut term = Term::new();
    term.feed("old\rnew\r");
    term.feed(b"\x1b[A\x1b[A");
    assert_eq!(term.screen(), "old|");
    assert_eq!(term.feed(b"\x03"), []);
    assert_eq!(term.screen(), "|");
    term.feed(b"\x1b[A");
    assert_eq!(
        term.screen(),
        "new|",
        "browsing starts again from the newest"
    );
}

#[test]
fn enter_as_cr_lf_or_crlf_submits_once() {
    let mut term = Term::new();
    assert_eq!(
        term.feed("a\rb\nc\r\nd\r\0"),
        [submit("a"), submit("b"), submit("c"), submit("d")]
    );
    assert_eq!(
        term.feed("\r"),
        [submit("")],
        "an empty line is submitted too"
    );
    assert_eq!(term.screen(), "|");
}

#[test]
fn crlf_split_across_chunks_submits_once() {
    let mut term = Term::new();
    assert_eq!(term.feed("hi\r"), [submit("hi")]);
    assert_eq!(term.feed("\nthere"), []);
    assert_eq!(term.screen(), "there|");
}

#[test]
fn utf8_split_across_chunks_is_inserted_whole() {
    let mut term = Term::new();
    let bytes = "é👍🏽".as_bytes();
    for byte in bytes {
        term.feed([*byte]);
    }
    assert_eq!(term.screen(), "é👍🏽|");
}

#[test]
fn other_controls_and_unknown_sequences_change_nothing() {
    for key in [
        &b"\x07"[..],
        b"\x14",
        b"\x1a",
        b"\x1f",
        b"\x1b[5~",
        b"\x1b[15~",
        b"\x1bOP",
        b"\x1b[<0;3;4M",
        b"\x1b[I",
    ] {
        let mut term = Term::new();
        term.feed("ab\x02");
        term.editor.take_changed();
        assert_eq!(term.feed(key), [], "{key:?}");
        assert_eq!(term.screen(), "a|b", "{key:?}");
        assert!(!term.editor.take_changed(), "{key:?}");
    }
}

#[test]
fn paste_is_inserted_as_text_on_one_line() {
    assert_eq!(
        after("> ", b"\x1b[200~line one\r\nline\ttwo\x1b[31m!\x1b[201~"),
        "> line one line two!|"
    );
}

#[test]
fn paste_never_submits_or_runs_commands() {
    let mut term = Term::new();
    let events = term.feed(b"\x1b[200~/nick\r\x04\x03\x0c\t\x1b[A\x1b[201~");
    assert_eq!(events, []);
    assert_eq!(term.screen(), "/nick  |");
}

#[test]
fn paste_end_marker_split_across_chunks_ends_the_paste() {
    let mut term = Term::new();
    term.feed("\x1b[200~ab\x1b[2");
    term.feed("01");
    assert_eq!(term.feed("~c\r"), [submit("abc")]);
}

#[test]
fn grapheme_clusters_are_deleted_whole() {
    assert_eq!(after("x👍🏽", b"\x7f"), "x|");
    assert_eq!(after("cafe\u{301}", b"\x7f"), "caf|");
    assert_eq!(after("🇺🇸🇫🇷", b"\x7f"), "🇺🇸|");
    assert_eq!(after("日本語", b"\x1b[D\x7f"), "日|語");
    assert_eq!(after("👍🏽e\u{301}", b"\x01\x1b[C\x1b[3~"), "👍🏽|");
}

#[test]
fn a_combining_mark_typed_after_a_letter_joins_it() {
    let mut term = Term::new();
    term.feed("ex\x02");
    term.feed("\u{301}");
    assert_eq!(term.screen(), "e\u{301}|x");
}

#[test]
fn input_past_max_chars_is_refused_with_a_bell() {
    let mut term = Term::with(EditorConfig {
        max_chars: 4,
        history_len: 10,
    });
    assert_eq!(term.feed("abcde"), [EditorEvent::Bell]);
    assert_eq!(term.screen(), "abcd|");
    term.feed(b"\x7f\x7f");
    // Typed text arrives a char at a time (a chunk may end anywhere), so a cluster is kept as
    // far as it fits: 👍 is a whole cluster by itself, its skin tone is refused.
    assert_eq!(term.feed("x👍🏽y"), [EditorEvent::Bell, EditorEvent::Bell]);
    assert_eq!(term.screen(), "abx👍|");
}

#[test]
fn a_paste_past_max_chars_inserts_what_fits_and_rings() {
    let mut term = Term::with(EditorConfig {
        max_chars: 4,
        history_len: 10,
    });
    assert_eq!(term.feed("\x1b[200~abc👍🏽d\x1b[201~"), [EditorEvent::Bell]);
    assert_eq!(term.screen(), "abc|");
}

#[test]
fn up_and_down_browse_history_and_restore_the_draft() {
    let mut term = Term::new();
    term.feed("first\rsecond\rdra");
    for (key, expected) in [
        (&b"\x1b[A"[..], "second|"),
        (b"\x10", "first|"),
        (b"\x1bOB", "second|"),
        (b"\x0e", "dra|"),
    ] {
        assert_eq!(term.feed(key), [], "{key:?}");
        assert_eq!(term.screen(), expected, "{key:?}");
    }
}

#[test]
fn history_rings_at_either_end() {
    let mut term = Term::new();
    assert_eq!(term.feed(b"\x1b[A"), [EditorEvent::Bell], "no history yet");
    term.feed("one\r");
    assert_eq!(term.feed(b"\x1b[B"), [EditorEvent::Bell], "not browsing");
    assert_eq!(
        term.feed(b"\x1b[A\x1b[A"),
        [EditorEvent::Bell],
        "one entry only"
    );
    assert_eq!(term.screen(), "one|");
}

#[test]
fn history_skips_blank_lines_and_immediate_repeats() {
    let mut term = Term::new();
    term.feed("a\ra\r  \r\rb\ra\r");
    let mut seen = Vec::new();
    while term.feed(b"\x1b[A").is_empty() {
        seen.push(term.editor.line().to_owned());
    }
    assert_eq!(seen, ["a", "b", "a"]);
}

#[test]
fn history_keeps_only_the_newest_history_len_lines() {
    let mut term = Term::with(EditorConfig {
        max_chars: 100,
        history_len: 2,
    });
    term.feed("1\r2\r3\r\x1b[A\x1b[A");
    assert_eq!(term.feed(b"\x1b[A"), [EditorEvent::Bell]);
    assert_eq!(term.screen(), "2|");
}

#[test]
fn editing_a_recalled_line_does_not_change_history() {
    let mut term = Term::new();
    term.feed("hello\r\x1b[A");
    term.feed(b"\x7f\x7fp!");
    assert_eq!(term.screen(), "help!|");
    term.feed(b"\x1b[B\x1b[A");
    assert_eq!(term.screen(), "hello|");
    assert_eq!(term.feed("\x15x\r\x1b[A\x1b[A"), [submit("x")]);
    assert_eq!(term.screen(), "hello|");
}

#[test]
fn tab_with_no_candidate_rings() {
    let mut term = Term::new();
    assert_eq!(term.feed("zed\t"), [EditorEvent::Bell]);
    assert_eq!(term.screen(), "zed|");
}

#[test]
fn tab_with_one_candidate_completes_and_adds_a_space() {
    assert_eq!(after("/ni", b"\t"), "/nick |");
    assert_eq!(after("hi bo", b"\t"), "hi bob |");
    assert_eq!(
        after("hi BO", b"\t"),
        "hi bob |",
        "the candidate's own spelling"
    );
}

#[test]
fn tab_before_a_space_does_not_add_another() {
    assert_eq!(after("hi bo there", b"\x1bb\x1b[D\t"), "hi bob |there");
}

#[test]
fn tab_completes_the_word_up_to_the_cursor_only() {
    let mut seen = Vec::new();
    let mut term = Term::new();
    term.feed("  /m x car");
    let mut spy = |word: &str, first: bool| {
        seen.push((word.to_owned(), first));
        Vec::new()
    };
    term.feed_with(b"\t\x01\x1b[C\x1b[C\x1b[C\t\x01\t", &mut spy);
    assert_eq!(
        seen,
        [("car".into(), false), ("/".into(), true), ("".into(), true)]
    );
}

#[test]
fn tab_with_several_candidates_extends_to_their_common_prefix() {
    assert_eq!(
        after("hi C", b"\t"),
        "hi Car|",
        "carol and Carl, spelled as the first"
    );
    let mut term = Term::new();
    term.feed("hi alb");
    assert_eq!(term.feed(b"\t"), [], "one candidate");
    assert_eq!(term.screen(), "hi albert |");
}

#[test]
fn tab_that_cannot_extend_lists_the_candidates_sorted_and_deduplicated() {
    let mut term = Term::new();
    term.feed("/n");
    let expected = EditorEvent::Candidates(vec!["/names".into(), "/nick".into()]);
    assert_eq!(term.feed(b"\t"), [expected]);
    assert_eq!(term.screen(), "/n|");

    let mut term = Term::new();
    term.feed("/m");
    let mut dupes = |_: &str, _: bool| vec!["/msg".to_owned(), "/me".to_owned(), "/msg".to_owned()];
    let events = term.feed_with(b"\t", &mut dupes);
    assert_eq!(
        events,
        [EditorEvent::Candidates(vec!["/me".into(), "/msg".into()])]
    );
    assert_eq!(term.screen(), "/m|");
}

#[test]
fn tab_never_inserts_forbidden_chars_or_past_max_chars() {
    let mut term = Term::with(EditorConfig {
        max_chars: 8,
        history_len: 10,
    });
    term.feed("hi e");
    let mut evil = |_: &str, _: bool| vec!["e\u{1b}[2J".to_owned(), "e\u{202e}x".to_owned()];
    assert_eq!(term.feed_with(b"\t", &mut evil), [EditorEvent::Bell]);
    let mut long = |_: &str, _: bool| vec!["eleanor".to_owned()];
    assert_eq!(term.feed_with(b"\t", &mut long), [EditorEvent::Bell]);
    let mut fits_without_space = |_: &str, _: bool| vec!["elsie".to_owned()];
    assert_eq!(
        term.feed_with(b"\t", &mut fits_without_space),
        [EditorEvent::Bell],
        "the space must fit too"
    );
    assert_eq!(term.screen(), "hi e|");
}

#[test]
fn take_changed_reports_line_and_cursor_changes() {
    let mut term = Term::new();
    assert!(!term.editor.take_changed());
    term.feed("ab");
    assert!(term.editor.take_changed());
    assert!(!term.editor.take_changed(), "taken");
    term.feed(b"\x1b[C\x0c");
    assert!(!term.editor.take_changed(), "nothing moved");
    term.feed(b"\x1b[D");
    assert!(term.editor.take_changed(), "cursor moved");
    term.feed(b"\r");
    assert!(term.editor.take_changed(), "submit cleared the line");
    term.feed(b"\x1b[A");
    assert!(term.editor.take_changed(), "history recall");
    term.feed(b"\x03");
    assert!(term.editor.take_changed(), "ctrl-c");
}
