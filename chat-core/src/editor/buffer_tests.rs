use super::*;
use proptest::prelude::*;

/// A buffer holding `text` with the cursor at its end.
fn buffer(text: &str) -> LineBuffer {
    let mut buffer = LineBuffer::new(1000);
    assert!(buffer.insert(text));
    buffer.assert_valid();
    buffer
}

#[test]
fn backspace_removes_skin_toned_thumbs_up_whole() {
    let mut b = buffer("ok👍🏽");
    assert!(b.backspace());
    b.assert_valid();
    assert_eq!(b.as_str(), "ok");
}

#[test]
fn left_and_right_step_over_whole_clusters() {
    let mut b = buffer("a👍🏽e\u{301}🇺🇸日");
    let mut stops = vec![b.cursor()];
    for _ in 0..5 {
        b.move_left();
        b.assert_valid();
        stops.push(b.cursor());
    }
    assert_eq!(stops, [23, 20, 12, 9, 1, 0]);
    for &expected in stops.iter().rev().skip(1) {
        b.move_right();
        assert_eq!(b.cursor(), expected);
    }
    b.move_right();
    assert_eq!(b.cursor(), b.as_str().len(), "right at the end stays");
}

#[test]
fn backspace_removes_decomposed_e_acute_whole() {
    let mut b = buffer("cafe\u{301}");
    assert!(b.backspace());
    assert_eq!(b.as_str(), "caf");
}

#[test]
fn delete_removes_flag_under_cursor_whole() {
    let mut b = buffer("🇺🇸🇫🇷");
    b.move_home();
    assert!(b.delete());
    b.assert_valid();
    assert_eq!((b.as_str(), b.cursor()), ("🇫🇷", 0));
}

#[test]
fn cjk_is_edited_by_character() {
    let mut b = buffer("日本語");
    b.backspace();
    b.move_left();
    assert_eq!((b.as_str(), b.cursor()), ("日本", 3));
    b.insert("の");
    assert_eq!((b.as_str(), b.cursor()), ("日の本", 6));
}

#[test]
fn inserting_a_combining_mark_joins_the_previous_cluster() {
    let mut b = buffer("ex");
    b.move_left();
    assert!(b.insert("\u{301}"));
    b.assert_valid();
    assert_eq!((b.as_str(), b.cursor()), ("e\u{301}x", 3));
    b.move_left();
    assert_eq!(b.cursor(), 0, "e + mark is one step");
}

#[test]
fn inserting_a_zwj_that_merges_with_the_next_cluster_snaps_the_cursor_past_it() {
    let mut b = buffer("👍👍");
    b.move_left();
    assert!(b.insert("\u{200d}"));
    b.assert_valid();
    assert_eq!(b.as_str(), "👍\u{200d}👍");
    assert_eq!(b.cursor(), b.as_str().len());
}

#[test]
fn inserting_a_regional_indicator_re_pairs_the_flags_after_it() {
    let mut b = buffer("🇸🇫🇷"); // [🇸🇫][🇷]
    b.move_home();
    assert!(b.insert("🇺")); // [🇺🇸][🇫🇷]
    b.assert_valid();
    assert_eq!(b.cursor(), 8);
}

#[test]
fn deleting_between_two_regional_indicators_snaps_to_the_merged_flag() {
    let mut b = buffer("🇺x🇸");
    b.move_left();
    assert!(b.backspace());
    b.assert_valid();
    assert_eq!((b.as_str(), b.cursor()), ("🇺🇸", 0));

    let mut b = buffer("🇺x🇸");
    b.move_home();
    b.move_right();
    assert!(b.delete());
    b.assert_valid();
    assert_eq!((b.as_str(), b.cursor()), ("🇺🇸", 0));
}

#[test]
fn insert_stops_at_the_first_cluster_that_does_not_fit() {
    let mut b = LineBuffer::new(5);
    assert!(!b.insert("abcdef"));
    assert_eq!(b.as_str(), "abcde");

    let mut b = LineBuffer::new(5);
    b.insert("abcd");
    assert!(!b.insert("👍🏽"), "two chars do not fit in one");
    assert_eq!(b.as_str(), "abcd");
    assert!(!b.insert("e\u{301}x"), "nor does a two-char e-acute");
    assert!(b.insert("é"), "but a precomposed one does");
    b.assert_valid();
}

#[test]
fn forbidden_chars_are_left_out_of_inserts() {
    let mut b = buffer("");
    assert!(b.insert("a\u{202e}b\u{7}c\u{85}d\u{2028}"));
    assert_eq!(b.as_str(), "abcd");
}

#[test]
fn word_motions_skip_whitespace_then_a_word() {
    let mut b = buffer("hello  big world ");
    b.move_word_left();
    assert_eq!(b.cursor(), 11);
    b.move_word_left();
    assert_eq!(b.cursor(), 7);
    b.move_word_right();
    assert_eq!(b.cursor(), 10);
    b.move_word_right();
    assert_eq!(b.cursor(), 16);
    b.move_word_right();
    assert_eq!(b.cursor(), 17);
    b.move_home();
    b.move_word_left();
    assert_eq!(b.cursor(), 0);
}

#[test]
fn delete_word_before_takes_the_word_and_the_spaces_after_it() {
    let mut b = buffer("say hello  ");
    assert!(b.delete_word_before());
    assert_eq!(b.as_str(), "say ");
    assert!(b.delete_word_before());
    assert_eq!(b.as_str(), "");
    assert!(!b.delete_word_before());
}

#[test]
fn kills_remove_either_side_of_the_cursor() {
    let mut b = buffer("one two");
    b.move_word_left();
    assert!(b.kill_to_end());
    assert_eq!((b.as_str(), b.cursor()), ("one ", 4));
    b.move_left();
    assert!(b.kill_to_start());
    assert_eq!((b.as_str(), b.cursor()), (" ", 0));
    assert!(!b.kill_to_start());
}

#[test]
fn replace_is_all_or_nothing() {
    let mut b = LineBuffer::new(8);
    b.insert("/ni x");
    assert!(!b.replace(0..3, "/nickname"), "over the cap");
    assert!(!b.replace(0..3, "/n\u{1b}"), "forbidden char");
    assert_eq!(b.as_str(), "/ni x");
    assert!(b.replace(0..3, "/nick"));
    assert_eq!((b.as_str(), b.cursor()), ("/nick x", 5));
    b.assert_valid();
}

#[test]
fn revision_changes_exactly_when_text_or_cursor_does() {
    let mut b = buffer("ab");
    let r = b.revision();
    b.move_right();
    b.delete();
    assert_eq!(b.revision(), r, "no-ops leave it");
    b.move_left();
    assert_ne!(b.revision(), r);
    let r = b.revision();
    b.set("ab");
    assert_ne!(b.revision(), r, "set moved the cursor to the end");
    assert_eq!(b.take(), "ab");
    let r = b.revision();
    assert_eq!(b.take(), "");
    assert_eq!(b.revision(), r);
}

/// Clusters that never merge with each other, so a list of them is a faithful model of a line.
const CLUSTERS: &[&str] = &["a", "b", "Z", " ", "日", "本", "👍🏽", "é", "🇺🇸", "e\u{301}"];

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<&'static str>),
    Left,
    Right,
    Home,
    End,
    WordLeft,
    WordRight,
    Backspace,
    Delete,
    KillToStart,
    KillToEnd,
    DeleteWordBefore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(CLUSTERS), 1..4)
            .prop_map(Op::Insert),
        1 => Just(Op::Left),
        1 => Just(Op::Right),
        1 => Just(Op::Home),
        1 => Just(Op::End),
        1 => Just(Op::WordLeft),
        1 => Just(Op::WordRight),
        1 => Just(Op::Backspace),
        1 => Just(Op::Delete),
        1 => Just(Op::KillToStart),
        1 => Just(Op::KillToEnd),
        1 => Just(Op::DeleteWordBefore),
    ]
}

/// The line as a list of clusters and a cursor index into it.
#[derive(Debug, Default)]
struct Model {
    clusters: Vec<&'static str>,
    cursor: usize,
}

impl Model {
    fn apply(&mut self, op: &Op, max_chars: usize) {
        let chars = |cs: &[&str]| cs.iter().map(|c| c.chars().count()).sum::<usize>();
        let space = |c: &str| c == " ";
        match op {
            Op::Insert(new) => {
                for &c in new {
                    if chars(&self.clusters) + c.chars().count() > max_chars {
                        break;
                    }
                    self.clusters.insert(self.cursor, c);
                    self.cursor += 1;
                }
            }
            Op::Left => self.cursor = self.cursor.saturating_sub(1),
            Op::Right => self.cursor = (self.cursor + 1).min(self.clusters.len()),
            Op::Home => self.cursor = 0,
            Op::End => self.cursor = self.clusters.len(),
            Op::WordLeft | Op::DeleteWordBefore => {
                let mut i = self.cursor;
                while i > 0 && space(self.clusters[i - 1]) {
                    i -= 1;
                }
                while i > 0 && !space(self.clusters[i - 1]) {
                    i -= 1;
                }
                if matches!(op, Op::DeleteWordBefore) {
                    self.clusters.drain(i..self.cursor);
                }
                self.cursor = i;
            }
            Op::WordRight => {
                let n = self.clusters.len();
                while self.cursor < n && space(self.clusters[self.cursor]) {
                    self.cursor += 1;
                }
                while self.cursor < n && !space(self.clusters[self.cursor]) {
                    self.cursor += 1;
                }
            }
            Op::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.clusters.remove(self.cursor);
            }
            Op::Delete if self.cursor < self.clusters.len() => {
                self.clusters.remove(self.cursor);
            }
            Op::Backspace | Op::Delete => {}
            Op::KillToStart => {
                self.clusters.drain(..self.cursor);
                self.cursor = 0;
            }
            Op::KillToEnd => self.clusters.truncate(self.cursor),
        }
    }
}

fn apply(buffer: &mut LineBuffer, op: &Op) {
    match op {
        Op::Insert(new) => {
            buffer.insert(&new.concat());
        }
        Op::Left => buffer.move_left(),
        Op::Right => buffer.move_right(),
        Op::Home => buffer.move_home(),
        Op::End => buffer.move_end(),
        Op::WordLeft => buffer.move_word_left(),
        Op::WordRight => buffer.move_word_right(),
        Op::Backspace => _ = buffer.backspace(),
        Op::Delete => _ = buffer.delete(),
        Op::KillToStart => _ = buffer.kill_to_start(),
        Op::KillToEnd => _ = buffer.kill_to_end(),
        Op::DeleteWordBefore => _ = buffer.delete_word_before(),
    }
}

proptest! {
    #[test]
    fn buffer_agrees_with_a_list_of_clusters(
        max_chars in 0usize..16,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut buffer = LineBuffer::new(max_chars);
        let mut model = Model::default();
        for op in &ops {
            apply(&mut buffer, op);
            model.apply(op, max_chars);
            buffer.assert_valid();
            prop_assert_eq!(buffer.as_str(), model.clusters.concat(), "after {:?}", op);
            let cursor: usize = model.clusters[..model.cursor].iter().map(|c| c.len()).sum();
            prop_assert_eq!(buffer.cursor(), cursor, "after {:?}", op);
        }
    }

    #[test]
    fn any_inserts_keep_the_buffer_valid_and_capped(
        max_chars in 0usize..12,
        steps in proptest::collection::vec((any::<String>(), 0usize..8, any::<bool>()), 0..20),
    ) {
        let mut buffer = LineBuffer::new(max_chars);
        for (text, lefts, backspace) in &steps {
            buffer.insert(text);
            buffer.assert_valid();
            for _ in 0..*lefts {
                buffer.move_left();
            }
            if *backspace {
                buffer.backspace();
            } else {
                buffer.delete();
            }
            buffer.assert_valid();
            prop_assert!(buffer.char_count() <= max_chars);
        }
    }
}

/// Text rich in the characters whose clustering depends on their neighbours.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(
            &[
                "\u{1F1FA}",
                "\u{1F1F8}",
                "\u{200d}",
                "\u{301}",
                "👍",
                "🏽",
                "क",
                "\u{94d}",
                "\u{93f}",
                "ᄀ",
                "ᅡ",
                "ᆨ",
                "a",
                " ",
                "\u{600}",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn stepping_by_cluster_agrees_with_segmenting_the_whole_line(text in tricky_text()) {
        let mut b = buffer(&text);
        let expected: Vec<usize> = whole_line_boundaries(b.as_str()).collect();
        b.move_home();
        let mut forward = vec![b.cursor()];
        // Bounded: each step must move, or the comparison below fails.
        for _ in 1..expected.len() {
            b.move_right();
            forward.push(b.cursor());
        }
        prop_assert_eq!(&forward, &expected);
        let mut backward = vec![b.cursor()];
        for _ in 1..expected.len() {
            b.move_left();
            backward.push(b.cursor());
        }
        backward.reverse();
        prop_assert_eq!(&backward, &expected);
    }
}
