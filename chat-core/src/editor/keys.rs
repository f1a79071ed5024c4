//! Raw terminal bytes to [`Key`]s: the first of the editor's three layers.
//!
//! A terminal sends keys as bytes: text as UTF-8, control keys as C0 bytes, everything else as
//! escape sequences (`ESC [ ...` CSI, `ESC O x` SS3, `ESC x` for Alt-x). SSH delivers those bytes
//! in chunks split anywhere, so [`KeyDecoder`] is a byte-at-a-time state machine whose state
//! survives between calls: feeding a byte string whole or in pieces gives the same keys.
//!
//! The decoder knows nothing about what keys do; it only promises that text it reports never
//! holds a forbidden character ([`is_forbidden_char`]) and that anything it does not understand
//! (function keys, mouse reports, focus events, ...) is dropped whole rather than leaking into the
//! line as text.

use super::utf8::{Utf8State, Utf8Step};
use crate::sanitize::is_forbidden_char;

/// CSI/SS3 parameter bytes kept at most. Real keys need a handful (`1;5`); a longer run is
/// discarded up to its final byte, so a peer cannot grow our memory with one endless sequence.
const MAX_PARAM_BYTES: usize = 32;

/// Paste bytes held by [`KeyDecoder::default`].
const DEFAULT_MAX_PASTE_BYTES: usize = 4000;

/// Modifier keys held with an arrow key, from the xterm `ESC [ 1 ; m X` encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modifiers {
    pub shift: bool,
    /// Alt or Meta (terminals disagree on which one they mean).
    pub alt: bool,
    pub ctrl: bool,
}

impl Modifiers {
    pub const NONE: Self = Self {
        shift: false,
        alt: false,
        ctrl: false,
    };
    pub const CTRL: Self = Self {
        shift: false,
        alt: false,
        ctrl: true,
    };

    /// Decodes xterm's modifier parameter: 1 + a bit set of shift 1, alt 2, ctrl 4, meta 8.
    fn from_xterm(param: Option<u32>) -> Self {
        let bits = param.unwrap_or(1).saturating_sub(1);
        Self {
            shift: bits & 1 != 0,
            alt: bits & (2 | 8) != 0,
            ctrl: bits & 4 != 0,
        }
    }
}

/// One key press (or one paste) as the terminal reported it, before any meaning is bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A printable character; never a forbidden one.
    Char(char),
    /// The text of a bracketed paste, already flattened to one line: newlines and tabs became
    /// spaces, controls and escape sequences were dropped, forbidden characters removed.
    /// `truncated` says that more was pasted than the decoder holds.
    Paste {
        text: String,
        truncated: bool,
    },
    /// CR, LF, CRLF or CR NUL.
    Enter,
    Tab,
    /// DEL or BS.
    Backspace,
    /// `ESC [ 3 ~`: delete the character under the cursor.
    Delete,
    Up(Modifiers),
    Down(Modifiers),
    Left(Modifiers),
    Right(Modifiers),
    Home,
    End,
    /// A C0 control key with no name of its own, as its lowercase letter: 0x01 is `Ctrl('a')`;
    /// 0x1c..=0x1f are `Ctrl('\\')`, `Ctrl(']')`, `Ctrl('^')`, `Ctrl('_')`.
    Ctrl(char),
    /// `ESC` followed by a printable ASCII character.
    Alt(char),
    /// `ESC DEL` (or `ESC BS`).
    AltBackspace,
}

/// Where the decoder is inside the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// Inside a multi-byte UTF-8 character.
    Utf8(Utf8State),
    /// Just after `ESC`.
    Escape,
    /// After `ESC [`, collecting parameter bytes up to a final byte.
    Csi,
    /// After `ESC O`.
    Ss3,
    /// After the X10 mouse report header `ESC [ M`: this many raw bytes follow and are skipped.
    Mouse(u8),
}

/// Text collected inside a bracketed paste.
#[derive(Debug, Clone, Default)]
struct Paste {
    text: String,
    truncated: bool,
}

/// Turns raw terminal bytes into [`Key`]s; see the module docs.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    state: State,
    /// Parameter and intermediate bytes of the CSI/SS3 sequence being read.
    params: Vec<u8>,
    /// The sequence being read had more than [`MAX_PARAM_BYTES`]; it is dropped at its end.
    params_overflowed: bool,
    /// The previous byte was a CR: a LF or NUL right after it belongs to the same Enter.
    after_cr: bool,
    /// `Some` between `ESC [ 200 ~` and `ESC [ 201 ~`.
    paste: Option<Paste>,
    max_paste_bytes: usize,
}

impl Default for KeyDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PASTE_BYTES)
    }
}

impl KeyDecoder {
    /// A decoder that holds at most `max_paste_bytes` of one paste's text; the rest of a longer
    /// paste is dropped (and the paste reported as truncated).
    pub fn new(max_paste_bytes: usize) -> Self {
        Self {
            state: State::Ground,
            params: Vec::new(),
            params_overflowed: false,
            after_cr: false,
            paste: None,
            max_paste_bytes,
        }
    }

    /// Decodes `bytes`, continuing whatever sequence the previous call left open, and returns
    /// the keys completed by them. Never panics.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        for &byte in bytes {
            self.byte(byte, &mut keys);
        }
        keys
    }

    /// Whether a bracketed paste is open (its end marker not yet seen).
    pub fn in_paste(&self) -> bool {
        self.paste.is_some()
    }

    fn byte(&mut self, byte: u8, keys: &mut Vec<Key>) {
        if std::mem::take(&mut self.after_cr) && matches!(byte, b'\n' | 0) {
            return;
        }
        match self.state {
            State::Ground => self.ground(byte, keys),
            State::Utf8(partial) => match partial.push(byte) {
                Utf8Step::Pending(next) => self.state = State::Utf8(next),
                Utf8Step::Char(c) => {
                    self.state = State::Ground;
                    self.text(c, keys);
                }
                Utf8Step::Invalid => {
                    // The partial character is dropped; `byte` may start something valid.
                    self.state = State::Ground;
                    self.ground(byte, keys);
                }
            },
            State::Escape => self.escape(byte, keys),
            State::Csi | State::Ss3 => self.sequence(byte, keys),
            State::Mouse(left) => {
                self.state = if left > 1 {
                    State::Mouse(left - 1)
                } else {
                    State::Ground
                };
            }
        }
    }

    fn ground(&mut self, byte: u8, keys: &mut Vec<Key>) {
        match byte {
            0x1b => self.state = State::Escape,
            b'\r' => {
                self.after_cr = true;
                self.key(Key::Enter, keys);
            }
            b'\n' => self.key(Key::Enter, keys),
            b'\t' => self.key(Key::Tab, keys),
            0x08 | 0x7f => self.key(Key::Backspace, keys),
            0 => {}
            0x01..=0x1a => self.key(Key::Ctrl(char::from(byte + 0x60)), keys),
            0x1c..=0x1f => self.key(Key::Ctrl(char::from(byte + 0x40)), keys),
            0x20..=0x7e => self.text(char::from(byte), keys),
            // A byte that cannot start a character (a stray continuation byte, 0xff) is dropped.
            0x80..=0xff => {
                if let Some(partial) = Utf8State::start(byte) {
                    self.state = State::Utf8(partial);
                }
            }
        }
    }

    fn escape(&mut self, byte: u8, keys: &mut Vec<Key>) {
        self.state = State::Ground;
        match byte {
            b'[' | b'O' => {
                self.state = if byte == b'[' { State::Csi } else { State::Ss3 };
                self.params.clear();
                self.params_overflowed = false;
            }
            // ESC ESC: the first one was a lone Escape press; the second may start a sequence.
            0x1b => self.state = State::Escape,
            0x7f | 0x08 => self.key(Key::AltBackspace, keys),
            0x20..=0x7e => self.key(Key::Alt(char::from(byte)), keys),
            // Anything else cannot follow ESC: drop the ESC, keep the byte.
            _ => self.ground(byte, keys),
        }
    }

    /// A byte inside a CSI or SS3 sequence.
    fn sequence(&mut self, byte: u8, keys: &mut Vec<Key>) {
        let csi = self.state == State::Csi;
        match byte {
            // CSI takes parameter and intermediate bytes; SS3 (rarely) parameter bytes only.
            0x30..=0x3f => self.param(byte),
            0x20..=0x2f if csi => self.param(byte),
            0x40..=0x7e => {
                self.state = State::Ground;
                if !self.params_overflowed {
                    if csi {
                        self.csi(byte, keys)
                    } else {
                        self.ss3(byte, keys)
                    }
                }
            }
            // A byte that cannot continue the sequence ends it and counts on its own.
            _ => {
                self.state = State::Ground;
                self.ground(byte, keys);
            }
        }
    }

    fn param(&mut self, byte: u8) {
        if self.params.len() < MAX_PARAM_BYTES {
            self.params.push(byte);
        } else {
            self.params_overflowed = true;
        }
    }

    fn csi(&mut self, final_byte: u8, keys: &mut Vec<Key>) {
        let Some(params) = Params::parse(&self.params) else {
            return; // private markers (`<`, `?`, ...), intermediates or huge numbers: not a key
        };
        let mods = Modifiers::from_xterm(params.second);
        let key = match final_byte {
            b'A' => Key::Up(mods),
            b'B' => Key::Down(mods),
            b'C' => Key::Right(mods),
            b'D' => Key::Left(mods),
            b'H' => Key::Home,
            b'F' => Key::End,
            b'~' => match params.first {
                Some(1 | 7) => Key::Home,
                Some(4 | 8) => Key::End,
                Some(3) => Key::Delete,
                Some(200) => {
                    self.paste.get_or_insert_with(Paste::default);
                    return;
                }
                Some(201) => {
                    if let Some(paste) = self.paste.take()
                        && (!paste.text.is_empty() || paste.truncated)
                    {
                        keys.push(Key::Paste {
                            text: paste.text,
                            truncated: paste.truncated,
                        });
                    }
                    return;
                }
                _ => return,
            },
            // X10 mouse report: `ESC [ M` and three raw bytes that must not become text.
            b'M' if self.params.is_empty() && self.paste.is_none() => {
                self.state = State::Mouse(3);
                return;
            }
            _ => return,
        };
        self.key(key, keys);
    }

    fn ss3(&mut self, final_byte: u8, keys: &mut Vec<Key>) {
        let Some(params) = Params::parse(&self.params) else {
            return;
        };
        // Old xterms put the modifier in the only parameter: `ESC O 5 C`.
        let mods = Modifiers::from_xterm(params.second.or(params.first));
        let key = match final_byte {
            b'A' => Key::Up(mods),
            b'B' => Key::Down(mods),
            b'C' => Key::Right(mods),
            b'D' => Key::Left(mods),
            b'H' => Key::Home,
            b'F' => Key::End,
            b'M' => Key::Enter, // keypad Enter
            // rxvt's Ctrl-arrows.
            b'a' => Key::Up(Modifiers::CTRL),
            b'b' => Key::Down(Modifiers::CTRL),
            b'c' => Key::Right(Modifiers::CTRL),
            b'd' => Key::Left(Modifiers::CTRL),
            _ => return,
        };
        self.key(key, keys);
    }

    /// A decoded printable character: typed, or collected into the open paste.
    fn text(&mut self, c: char, keys: &mut Vec<Key>) {
        if is_forbidden_char(c) {
            return;
        }
        match &mut self.paste {
            Some(paste) => paste.push(c, self.max_paste_bytes),
            None => keys.push(Key::Char(c)),
        }
    }

    /// A decoded key. Inside a paste, line breaks and tabs become spaces and other keys vanish:
    /// pasted text must never submit a line or run an edit command.
    fn key(&mut self, key: Key, keys: &mut Vec<Key>) {
        match &mut self.paste {
            None => keys.push(key),
            Some(paste) => {
                if matches!(key, Key::Enter | Key::Tab) {
                    paste.push(' ', self.max_paste_bytes);
                }
            }
        }
    }
}

impl Paste {
    fn push(&mut self, c: char, max_bytes: usize) {
        // Once something was dropped, drop the rest too, so a short char cannot slip in later.
        if self.truncated || self.text.len() + c.len_utf8() > max_bytes {
            self.truncated = true;
        } else {
            self.text.push(c);
        }
    }
}

/// The first two numeric parameters of a sequence (`1;5` in `ESC [ 1 ; 5 C`); absent or empty
/// ones are `None`.
struct Params {
    first: Option<u32>,
    second: Option<u32>,
}

impl Params {
    /// `None` unless the bytes are only digits and `;` and every number fits a `u32`.
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut numbers = [None, None];
        for (index, field) in bytes.split(|&b| b == b';').enumerate() {
            let mut value: Option<u32> = None;
            for &b in field {
                if !b.is_ascii_digit() {
                    return None;
                }
                let digit = u32::from(b - b'0');
                value = Some(value.unwrap_or(0).checked_mul(10)?.checked_add(digit)?);
            }
            if let Some(slot) = numbers.get_mut(index) {
                *slot = value;
            }
        }
        let [first, second] = numbers;
        Some(Self { first, second })
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
