//! Property tests of the whole editor: any bytes, any chunking, never an invalid line.

use super::tests::complete_from_list;
use super::*;
use proptest::prelude::*;

/// Byte strings made mostly of the pieces escape sequences, line ends and UTF-8 are built from.
pub(super) fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\x1b".to_vec()),
        Just(b"[".to_vec()),
        Just(b"O".to_vec()),
        Just(b"~".to_vec()),
        Just(b";".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\x7f".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"200~".to_vec()),
        Just(b"201~".to_vec()),
        Just(b"1;5".to_vec()),
        Just("é".as_bytes().to_vec()),
        Just("👍🏽".as_bytes()[..3].to_vec()),
        Just("👍🏽".as_bytes()[3..].to_vec()),
        Just("🇺".as_bytes().to_vec()),
        Just("\u{301}".as_bytes().to_vec()),
        "[0-9A-Dbf]".prop_map(String::into_bytes),
        "[a-z /]{1,6}".prop_map(String::into_bytes),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Splits `bytes` at the given points (taken modulo its length, in any order).
pub(super) fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        chunks.push(bytes[from..cut].to_vec());
        from = cut;
    }
    chunks
}

/// Feeds each chunk to a fresh editor, checking the invariants after every feed; returns the
/// events and the final line and cursor.
fn run_chunks(config: EditorConfig, chunks: &[Vec<u8>]) -> (Vec<EditorEvent>, String, usize) {
    let mut editor = LineEditor::new(config);
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(editor.feed(chunk, &mut complete_from_list));
        editor.assert_valid();
        assert!(editor.line().chars().count() <= config.max_chars);
    }
    (events, editor.line().to_owned(), editor.cursor())
}

fn config() -> impl Strategy<Value = EditorConfig> {
    (0usize..24, 0usize..4).prop_map(|(max_chars, history_len)| EditorConfig {
        max_chars,
        history_len,
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_keep_the_editor_valid(
        config in config(),
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 0..16),
    ) {
        run_chunks(config, &chunks);
    }

    #[test]
    fn interesting_bytes_keep_the_editor_valid(
        config in config(),
        chunks in proptest::collection::vec(interesting_bytes(), 0..6),
    ) {
        run_chunks(config, &chunks);
    }

    #[test]
    fn editing_does_not_depend_on_chunking(
        config in config(),
        bytes in interesting_bytes(),
        points in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = run_chunks(config, std::slice::from_ref(&bytes));
        let split = run_chunks(config, &split_at_points(&bytes, &points));
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn the_line_never_exceeds_max_chars(
        max_chars in 0usize..12,
        pieces in proptest::collection::vec(
            prop_oneof![
                "\\PC{0,8}".prop_map(String::into_bytes),
                Just(b"\x1b[200~".to_vec()),
                Just(b"\x1b[201~".to_vec()),
                Just(b"\t".to_vec()),
                Just(b"\x1b[A".to_vec()),
                Just(b"\x1b[D".to_vec()),
                Just("👍🏽e\u{301}🇺🇸日".as_bytes().to_vec()),
            ],
            0..30,
        ),
    ) {
        let mut editor = LineEditor::new(EditorConfig { max_chars, history_len: 5 });
        for piece in &pieces {
            editor.feed(piece, &mut complete_from_list);
            editor.assert_valid();
            prop_assert!(editor.line().chars().count() <= max_chars, "{:?}", editor.line());
        }
    }
}
