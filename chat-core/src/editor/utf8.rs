//! An incremental UTF-8 decoder that takes one byte at a time, so a character split across two
//! chunks is reassembled, and that rejects a bad sequence at the first byte that makes it bad
//! (overlong forms, surrogates, code points past U+10FFFF), so that byte can be looked at again.

/// A character started but not finished: its bytes so far and how many it needs in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Utf8State {
    bytes: [u8; 4],
    len: u8,
    need: u8,
}

/// What one more byte did to a [`Utf8State`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Utf8Step {
    Pending(Utf8State),
    Char(char),
    /// The byte cannot continue this character: the character is dropped, the byte is not
    /// consumed.
    Invalid,
}

impl Utf8State {
    /// Starts a character at `lead`, or `None` if `lead` cannot start a multi-byte character.
    pub(super) fn start(lead: u8) -> Option<Self> {
        let need = match lead {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return None,
        };
        Some(Self {
            bytes: [lead, 0, 0, 0],
            len: 1,
            need,
        })
    }

    pub(super) fn push(self, byte: u8) -> Utf8Step {
        // The second byte's range is narrower after some lead bytes (RFC 3629, table 3-7 of the
        // Unicode standard); that is what keeps overlongs and surrogates out.
        let range = match (self.len, self.bytes[0]) {
            (1, 0xe0) => 0xa0..=0xbf,
            (1, 0xed) => 0x80..=0x9f,
            (1, 0xf0) => 0x90..=0xbf,
            (1, 0xf4) => 0x80..=0x8f,
            _ => 0x80..=0xbf,
        };
        if !range.contains(&byte) {
            return Utf8Step::Invalid;
        }
        let mut next = self;
        // `len < need <= 4` while pending, so there is always a slot.
        let Some(slot) = next.bytes.get_mut(usize::from(self.len)) else {
            return Utf8Step::Invalid;
        };
        *slot = byte;
        next.len += 1;
        if next.len < next.need {
            return Utf8Step::Pending(next);
        }
        // The range checks above admit only valid sequences, so this always succeeds; should it
        // not, the character is dropped like any other invalid one.
        match std::str::from_utf8(&next.bytes[..usize::from(next.len)]) {
            Ok(text) => text
                .chars()
                .next()
                .map_or(Utf8Step::Invalid, Utf8Step::Char),
            Err(_) => Utf8Step::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `bytes` the way the key decoder does, keeping only the characters.
    fn decode(bytes: &[u8]) -> String {
        let mut out = String::new();
        let mut state: Option<Utf8State> = None;
        for &byte in bytes {
            if let Some(partial) = state.take() {
                match partial.push(byte) {
                    Utf8Step::Pending(next) => {
                        state = Some(next);
                        continue;
                    }
                    Utf8Step::Char(c) => {
                        out.push(c);
                        continue;
                    }
                    Utf8Step::Invalid => {}
                }
            }
            if byte.is_ascii() {
                out.push(char::from(byte));
            } else {
                state = Utf8State::start(byte);
            }
        }
        out
    }

    #[test]
    fn multi_byte_characters_decode() {
        assert_eq!(decode("é日👍🏽".as_bytes()), "é日👍🏽");
    }

    #[test]
    fn overlongs_surrogates_and_out_of_range_are_dropped() {
        assert_eq!(decode(b"a\xc0\xafb"), "ab");
        assert_eq!(decode(b"a\xe0\x80\xafb"), "ab");
        assert_eq!(decode(b"a\xed\xa0\x80b"), "ab");
        assert_eq!(decode(b"a\xf4\x90\x80\x80b"), "ab");
        assert_eq!(decode(b"a\xf5\x80b"), "ab");
    }

    #[test]
    fn a_cut_short_character_gives_back_the_byte_that_cut_it() {
        assert_eq!(decode(b"\xe6\x97x"), "x");
        assert_eq!(decode(b"\xe6\xc3\xa9"), "é");
    }

    proptest! {
        #[test]
        fn agrees_with_the_standard_library_on_valid_text(text in any::<String>()) {
            prop_assert_eq!(decode(text.as_bytes()), text);
        }

        #[test]
        fn keeps_exactly_the_valid_characters(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // The standard library's lossy decoding marks each bad subpart with U+FFFD; dropping
            // those must give what we decode (we never produce U+FFFD from invalid input).
            let not_replacement = |c: &char| *c != '\u{fffd}';
            let lossy = String::from_utf8_lossy(&bytes);
            let lossy: String = lossy.chars().filter(not_replacement).collect();
            let ours: String = decode(&bytes).chars().filter(not_replacement).collect();
            prop_assert_eq!(ours, lossy);
        }
    }
}
