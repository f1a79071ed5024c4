//! The line editor: raw terminal bytes in, an edited line and [`EditorEvent`]s out.
//!
//! An interactive session feeds every byte its terminal sends to [`LineEditor::feed`], in
//! whatever chunks SSH delivered them, and gets back what happened (a submitted line, EOF, a
//! bell, ...); after each feed it redraws the prompt line if [`LineEditor::take_changed`] says
//! so, from [`LineEditor::line`] and [`LineEditor::cursor`]. Nothing a peer sends can panic the
//! editor, put invalid UTF-8, a control or bidi character into the line, or grow the line past
//! [`EditorConfig::max_chars`].
//!
//! Three layers, as in reedline: [`KeyDecoder`] turns bytes into [`Key`]s (text, Enter, arrows,
//! Ctrl-keys, pastes); [`LineEditor`] binds each key to an edit command; [`LineBuffer`] does
//! the edit by grapheme cluster and checks its own invariants.

mod buffer;
mod complete;
mod history;
mod keys;
mod utf8;

pub use buffer::LineBuffer;
pub use keys::{Key, KeyDecoder, Modifiers};

use history::History;

/// Limits of one editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditorConfig {
    /// The most `char`s a line may hold; typing or pasting past it rings the bell.
    pub max_chars: usize,
    /// How many submitted lines Up can recall.
    pub history_len: usize,
}

impl Default for EditorConfig {
    fn default() -> Self {
        Self {
            max_chars: 1000,
            history_len: 100,
        }
    }
}

/// Supplies Tab completions. `word` is the text from the start of the word under the cursor up
/// to the cursor; `first_word` is true when nothing but whitespace precedes it (commands complete
/// there). Returns full replacement words (e.g. "/nick" for "/ni", "alice" for "al"), in any
/// order.
pub trait Completer {
    fn candidates(&mut self, word: &str, first_word: bool) -> Vec<String>;
}

impl<F: FnMut(&str, bool) -> Vec<String>> Completer for F {
    fn candidates(&mut self, word: &str, first_word: bool) -> Vec<String> {
        self(word, first_word)
    }
}

/// What happened while feeding bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorEvent {
    /// Enter: the whole line (may be empty or blank; the caller decides). The buffer is now
    /// empty.
    Submit(String),
    /// Ctrl-D on an empty line.
    Eof,
    /// Ctrl-L.
    ClearScreen,
    /// A refused edit: line full, nothing to complete, no more history, ...
    Bell,
    /// Tab found several candidates and could extend the word no further: show them (sorted,
    /// deduplicated).
    Candidates(Vec<String>),
}

/// What a key asks the editor to do: the binding layer between [`Key`] and [`LineBuffer`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Insert(char),
    Paste {
        text: String,
        truncated: bool,
    },
    Submit,
    Backspace,
    Delete,
    /// Ctrl-D: EOF on an empty line, else Delete.
    DeleteOrEof,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    KillToStart,
    KillToEnd,
    DeleteWordBefore,
    ClearScreen,
    /// Ctrl-C: empty the line and stop browsing history.
    ClearLine,
    HistoryPrev,
    HistoryNext,
    Complete,
}

/// Binds a key to its command, emacs/readline style; `None` for keys that do nothing.
fn bind(key: Key) -> Option<Command> {
    let word_jump = |mods: Modifiers| mods.ctrl || mods.alt;
    Some(match key {
        Key::Char(c) => Command::Insert(c),
        Key::Paste { text, truncated } => Command::Paste { text, truncated },
        Key::Enter => Command::Submit,
        Key::Tab => Command::Complete,
        Key::Backspace => Command::Backspace,
        Key::Delete => Command::Delete,
        Key::Left(mods) if word_jump(mods) => Command::WordLeft,
        Key::Right(mods) if word_jump(mods) => Command::WordRight,
        Key::Left(_) | Key::Ctrl('b') => Command::Left,
        Key::Right(_) | Key::Ctrl('f') => Command::Right,
        Key::Up(_) | Key::Ctrl('p') => Command::HistoryPrev,
        Key::Down(_) | Key::Ctrl('n') => Command::HistoryNext,
        Key::Home | Key::Ctrl('a') => Command::Home,
        Key::End | Key::Ctrl('e') => Command::End,
        Key::Alt('b') => Command::WordLeft,
        Key::Alt('f') => Command::WordRight,
        Key::Ctrl('u') => Command::KillToStart,
        Key::Ctrl('k') => Command::KillToEnd,
        Key::Ctrl('w') | Key::AltBackspace => Command::DeleteWordBefore,
        Key::Ctrl('l') => Command::ClearScreen,
        Key::Ctrl('c') => Command::ClearLine,
        Key::Ctrl('d') => Command::DeleteOrEof,
        Key::Ctrl(_) | Key::Alt(_) => return None,
    })
}

/// One terminal's line editor: decoder state, the line, and its history. See the module docs.
#[derive(Debug)]
pub struct LineEditor {
    decoder: KeyDecoder,
    buffer: LineBuffer,
    history: History,
    /// The buffer revision the caller last saw through [`LineEditor::take_changed`].
    seen_revision: u64,
}

impl LineEditor {
    pub fn new(config: EditorConfig) -> Self {
        // Four bytes per char is the most a line of `max_chars` can take, so a paste that fits
        // the line always fits the decoder.
        let max_paste_bytes = config.max_chars.saturating_mul(4);
        let buffer = LineBuffer::new(config.max_chars);
        Self {
            decoder: KeyDecoder::new(max_paste_bytes),
            seen_revision: buffer.revision(),
            buffer,
            history: History::new(config.history_len),
        }
    }

    /// Feeds raw terminal bytes, in chunks of any size and split anywhere. Never panics.
    pub fn feed(&mut self, bytes: &[u8], completer: &mut dyn Completer) -> Vec<EditorEvent> {
        let mut events = Vec::new();
        for key in self.decoder.feed(bytes) {
            if let Some(command) = bind(key) {
                self.run(command, completer, &mut events);
            }
        }
        events
    }

    pub fn line(&self) -> &str {
        self.buffer.as_str()
    }

    /// Byte offset of the cursor in [`line`](Self::line), always on a grapheme-cluster boundary.
    pub fn cursor(&self) -> usize {
        self.buffer.cursor()
    }

    /// Whether the line or cursor changed since the last call (the caller redraws then).
    pub fn take_changed(&mut self) -> bool {
        let revision = self.buffer.revision();
        std::mem::replace(&mut self.seen_revision, revision) != revision
    }

    /// Panics if an invariant is broken; tests call it after every step.
    pub fn assert_valid(&self) {
        self.buffer.assert_valid();
    }

    fn run(
        &mut self,
        command: Command,
        completer: &mut dyn Completer,
        events: &mut Vec<EditorEvent>,
    ) {
        let buffer = &mut self.buffer;
        // Refused text, completion and history ring the bell; deleting or moving past either end
        // of the line is quietly nothing, as in most shells.
        match command {
            Command::Insert(c) => bell_unless(buffer.insert(c.encode_utf8(&mut [0; 4])), events),
            Command::Paste { text, truncated } => {
                bell_unless(buffer.insert(&text) && !truncated, events)
            }
            Command::HistoryPrev => match self.history.prev(buffer.as_str()) {
                Some(entry) => buffer.set(entry),
                None => events.push(EditorEvent::Bell),
            },
            Command::HistoryNext => match self.history.next() {
                Some(entry) => buffer.set(&entry),
                None => events.push(EditorEvent::Bell),
            },
            Command::Submit => {
                let line = buffer.take();
                self.history.push(&line);
                events.push(EditorEvent::Submit(line));
            }
            Command::DeleteOrEof if buffer.is_empty() => events.push(EditorEvent::Eof),
            Command::ClearScreen => events.push(EditorEvent::ClearScreen),
            Command::Complete => events.extend(complete::complete(buffer, completer)),
            Command::ClearLine => {
                buffer.take();
                self.history.reset();
            }
            Command::Backspace => _ = buffer.backspace(),
            Command::Delete | Command::DeleteOrEof => _ = buffer.delete(),
            Command::KillToStart => _ = buffer.kill_to_start(),
            Command::KillToEnd => _ = buffer.kill_to_end(),
            Command::DeleteWordBefore => _ = buffer.delete_word_before(),
            Command::Left => buffer.move_left(),
            Command::Right => buffer.move_right(),
            Command::WordLeft => buffer.move_word_left(),
            Command::WordRight => buffer.move_word_right(),
            Command::Home => buffer.move_home(),
            Command::End => buffer.move_end(),
        }
    }
}

fn bell_unless(done: bool, events: &mut Vec<EditorEvent>) {
    if !done {
        events.push(EditorEvent::Bell);
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
