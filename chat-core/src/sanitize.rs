//! Making text that came from a user safe to put on somebody's terminal.
//!
//! Everything a peer typed (names, message bodies, away reasons, room names, a MOTD file) passes
//! through [`sanitize`] before it is rendered. The result holds no C0 or C1 control characters,
//! no escape sequences (the whole sequence is removed, not just its `ESC`, so no `[31m` debris is
//! left behind), and no bidirectional overrides that could make a line read differently from the
//! bytes it holds. Grapheme clusters are also capped in length, so "zalgo" text cannot stack
//! combining marks into the lines above and below it.

use unicode_segmentation::UnicodeSegmentation;

/// At most this many `char`s per grapheme cluster survive sanitizing. Real text (Vietnamese,
/// Indic scripts, emoji with skin tones and ZWJ sequences) stays well under it.
pub const MAX_CHARS_PER_GRAPHEME: usize = 12;

/// Whether `c` may never reach a terminal: C0 controls, DEL, C1 controls, bidi controls and the
/// line/paragraph separators (which some terminals treat as line breaks).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Bidirectional formatting characters: embeddings, overrides, isolates and marks. They make a
/// terminal display text in an order other than the one it was sent in ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Returns `text` with every control character, escape sequence and bidi control removed and
/// over-long grapheme clusters trimmed. Tabs become a space; nothing else is added.
pub fn sanitize(text: &str) -> String {
    // Printable ASCII (most chat) has nothing to remove and no clusters to cap.
    if is_printable_ascii(text) {
        return text.to_owned();
    }
    let stripped = strip_controls(text);
    cap_graphemes(&stripped)
}

/// Whether every byte is printable ASCII (space to `~`): text that is safe as it is, one cell
/// per byte.
pub fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Whether `text` is already what [`sanitize`] would return, so it can be used without copying.
pub fn is_clean(text: &str) -> bool {
    !text.chars().any(is_forbidden_char)
        && text
            .graphemes(true)
            .all(|g| g.chars().count() <= MAX_CHARS_PER_GRAPHEME)
}

/// What the scanner is inside of while it removes escape sequences.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Text,
    /// Just after `ESC`.
    Escape,
    /// In a CSI sequence (`ESC [` or 8-bit `0x9B`), up to its final byte `@`..`~`.
    Csi,
    /// In a string sequence (OSC, DCS, SOS, PM, APC), up to `BEL` or the string terminator.
    StringSeq,
    /// In a string sequence, just after `ESC` (which may start the terminator `ESC \`).
    StringEscape,
}

fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut state = Scan::Text;
    for c in text.chars() {
        state = match state {
            Scan::Text => match c {
                '\u{1b}' => Scan::Escape,
                '\u{9b}' => Scan::Csi,
                '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Scan::StringSeq,
                '\t' => {
                    out.push(' ');
                    Scan::Text
                }
                c if is_forbidden_char(c) => Scan::Text,
                c => {
                    out.push(c);
                    Scan::Text
                }
            },
            Scan::Escape => match c {
                '[' => Scan::Csi,
                ']' | 'P' | 'X' | '^' | '_' => Scan::StringSeq,
                '\u{1b}' => Scan::Escape,
                // Intermediate bytes (e.g. `ESC ( B`) keep the sequence open for one more byte.
                '\u{20}'..='\u{2f}' => Scan::Escape,
                // Any other character ends a two-character sequence (`ESC c`, `ESC 7`, ...).
                _ => Scan::Text,
            },
            Scan::Csi => match c {
                '\u{40}'..='\u{7e}' => Scan::Text,
                '\u{20}'..='\u{3f}' => Scan::Csi,
                '\u{1b}' => Scan::Escape,
                // A CSI cut short by anything else: drop it and whatever cut it, if unsafe.
                c if is_forbidden_char(c) => Scan::Text,
                c => {
                    out.push(c);
                    Scan::Text
                }
            },
            Scan::StringSeq => match c {
                '\u{7}' | '\u{9c}' => Scan::Text,
                '\u{1b}' => Scan::StringEscape,
                _ => Scan::StringSeq,
            },
            Scan::StringEscape => match c {
                '\\' => Scan::Text,
                '\u{1b}' => Scan::StringEscape,
                _ => Scan::StringSeq,
            },
        };
    }
    out
}

fn cap_graphemes(text: &str) -> String {
    if text
        .graphemes(true)
        .all(|g| g.chars().count() <= MAX_CHARS_PER_GRAPHEME)
    {
        return text.to_owned();
    }
    text.graphemes(true)
        .flat_map(|g| g.chars().take(MAX_CHARS_PER_GRAPHEME))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(sanitize("hello, wörld 👍🏽 日本"), "hello, wörld 👍🏽 日本");
    }

    #[test]
    fn csi_sequences_are_removed_whole() {
        assert_eq!(sanitize("a\u{1b}[31mred\u{1b}[0m b"), "ared b");
        assert_eq!(sanitize("x\u{1b}[2J\u{1b}[Hy"), "xy");
        assert_eq!(sanitize("eight\u{9b}31mbit"), "eightbit");
    }

    #[test]
    fn osc_and_dcs_strings_are_removed_whole() {
        assert_eq!(sanitize("a\u{1b}]0;pwned title\u{7}b"), "ab");
        assert_eq!(
            sanitize("a\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\b"),
            "alinkb"
        );
        assert_eq!(sanitize("a\u{1b}P1$r q\u{1b}\\b"), "ab");
        assert_eq!(sanitize("a\u{9d}0;t\u{9c}b"), "ab");
    }

    #[test]
    fn controls_and_bidi_overrides_are_removed() {
        assert_eq!(sanitize("a\rb\nc\u{8}d\u{7}e\u{7f}f"), "abcdef");
        assert_eq!(sanitize("tab\there"), "tab here");
        assert_eq!(sanitize("user\u{202e}gnp.exe"), "usergnp.exe");
        assert_eq!(sanitize("\u{2066}x\u{2069}\u{200f}"), "x");
    }

    #[test]
    fn zalgo_is_trimmed_but_emoji_sequences_survive() {
        let zalgo: String = std::iter::once('a')
            .chain(std::iter::repeat_n('\u{301}', 40))
            .collect();
        assert_eq!(sanitize(&zalgo).chars().count(), MAX_CHARS_PER_GRAPHEME);
        let family = "👨‍👩‍👧‍👦";
        assert_eq!(sanitize(family), family);
    }

    proptest! {
        #[test]
        fn sanitized_text_has_no_control_or_escape(text in any::<String>()) {
            let clean = sanitize(&text);
            prop_assert!(!clean.chars().any(is_forbidden_char), "{clean:?}");
            prop_assert!(is_clean(&clean));
        }

        #[test]
        fn sanitizing_is_idempotent(text in any::<String>()) {
            let once = sanitize(&text);
            prop_assert_eq!(sanitize(&once), once.clone());
        }

        #[test]
        fn escape_heavy_text_never_leaks_escape_bytes(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\u{1b}".to_owned()), Just("[".to_owned()), Just("]".to_owned()),
                    Just("\u{9b}".to_owned()), Just("\u{7}".to_owned()), Just("\\".to_owned()),
                    "[0-9;mHJ]{0,3}", "\\PC{0,3}",
                ],
                0..40,
            )
        ) {
            let clean = sanitize(&parts.concat());
            prop_assert!(!clean.bytes().any(|b| b == 0x1b || b < 0x20 || b == 0x7f));
            prop_assert!(!clean.contains('\u{9b}'), "8-bit CSI left in {:?}", clean);
        }
    }
}
