//! A session: one connected member as their terminal sees it.
//!
//! An interactive session (a PTY) runs a [`LineEditor`] over the raw keystrokes, echoes and
//! redraws the prompt, and prints incoming events above the half-typed input without
//! disturbing it. A plain session (no PTY: a bot, a pipe, `ssh -T`) reads lines, echoes
//! nothing, and writes each event as clean text with no escape bytes at all.
//!
//! A session owns no socket and no hub. The edge feeds it bytes and events, gives it the hub
//! through the [`Chat`] trait, and writes out the bytes it appends to `out`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::command;
use crate::editor::{Completer, EditorConfig, EditorEvent, LineEditor};
use crate::event::{Event, NoticeLevel};
use crate::hub::{Chat, Me, MemberId, Request};
use crate::name::LOBBY;
use crate::render::prompt::{PromptArea, TermSize};
use crate::render::{self, Style, StyledLine, View, name_colour};

/// Whether to keep the session going after some input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The member asked to leave (`/exit`, Ctrl-D, end of input): close the connection and
    /// call [`Hub::leave`](crate::hub::Hub::leave).
    Exit,
}

/// What kind of terminal is on the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A terminal (PTY) of this size: echo, line editing, colours.
    Interactive(TermSize),
    /// No terminal: one line in, one line out per event, no escape bytes.
    Plain,
}

#[derive(Debug)]
enum Mode {
    /// Boxed: the editor with its history is large, and plain sessions should not pay for it.
    Interactive(Box<Terminal>),
    Plain(PlainReader),
}

/// The state of an interactive session's terminal.
#[derive(Debug)]
struct Terminal {
    size: TermSize,
    editor: LineEditor,
    prompt: PromptArea,
}

/// One member's view of the chat.
#[derive(Debug)]
pub struct Session {
    id: MemberId,
    me: Me,
    mode: Mode,
    /// The hub's message limit, enforced as the member types.
    max_chars: usize,
    /// Lookups the hub asked the edge to make (see [`Session::take_requests`]).
    requests: Vec<Request>,
}

const CLEAR_SCREEN: &[u8] = b"\x1b[H\x1b[2J";
const BELL: u8 = 0x07;

impl Session {
    /// A session for member `id`, which the hub described as `me`. `max_chars` is the hub's
    /// message limit, which the line editor enforces as you type.
    pub fn new(id: MemberId, me: Me, kind: SessionKind, max_chars: usize) -> Self {
        let mode = match kind {
            SessionKind::Interactive(size) => Mode::Interactive(Box::new(Terminal {
                size,
                editor: LineEditor::new(EditorConfig {
                    max_chars,
                    ..EditorConfig::default()
                }),
                prompt: PromptArea::default(),
            })),
            SessionKind::Plain => Mode::Plain(PlainReader::new(max_chars)),
        };
        Self {
            id,
            me,
            mode,
            max_chars,
            requests: Vec::new(),
        }
    }

    pub fn id(&self) -> MemberId {
        self.id
    }

    pub fn me(&self) -> &Me {
        &self.me
    }

    pub fn is_interactive(&self) -> bool {
        matches!(self.mode, Mode::Interactive(_))
    }

    /// The text of the input line being typed (empty for a plain session).
    pub fn input(&self) -> &str {
        match &self.mode {
            Mode::Interactive(term) => term.editor.line(),
            Mode::Plain(_) => "",
        }
    }

    /// Draws the prompt (interactive) once the session is set up.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        self.redraw(out);
    }

    /// Handles bytes typed by the member.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        now: DateTime<Utc>,
        chat: &mut dyn Chat,
        out: &mut Vec<u8>,
    ) -> Flow {
        let id = self.id;
        match &mut self.mode {
            Mode::Plain(reader) => {
                let lines = reader.feed(bytes);
                self.submit_plain_lines(lines, now, chat, out)
            }
            Mode::Interactive(term) => {
                let mut completer = CommandsAndNames {
                    chat: &mut *chat,
                    id,
                };
                let events = term.editor.feed(bytes, &mut completer);
                let mut flow = Flow::Continue;
                for event in events {
                    if self.on_editor_event(event, now, chat, out) == Flow::Exit {
                        flow = Flow::Exit;
                        break;
                    }
                }
                if flow == Flow::Continue {
                    self.redraw_if_changed(out);
                }
                flow
            }
        }
    }

    /// The client said it will send no more (EOF on the channel). A plain session submits an
    /// unterminated last line first. Either way the session is over.
    pub fn end_of_input(
        &mut self,
        now: DateTime<Utc>,
        chat: &mut dyn Chat,
        out: &mut Vec<u8>,
    ) -> Flow {
        if let Mode::Plain(reader) = &mut self.mode {
            let rest = reader.finish();
            self.submit_plain_lines(rest, now, chat, out);
        }
        Flow::Exit
    }

    /// Shows events from the member's outbox, above the prompt and the input.
    pub fn show(&mut self, events: &[Arc<Event>], out: &mut Vec<u8>) {
        self.show_iter(events.iter().map(|e| &**e), out);
    }

    /// Lookups the hub asked for while handling the member's lines (`/history`): the edge
    /// answers each from its store (or [`Hub::recent_history`](crate::Hub::recent_history))
    /// and shows the result with [`Session::show_history`].
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// Shows the answer to a history request: a header, then the lines with their own times.
    pub fn show_history(
        &mut self,
        room: &str,
        lines: &[Event],
        now: DateTime<Utc>,
        out: &mut Vec<u8>,
    ) {
        let header = match lines.len() {
            0 => format!("no history in {room}"),
            1 => format!("the last line in {room}:"),
            n => format!("the last {n} lines in {room}:"),
        };
        let notice = Event::notice(now, NoticeLevel::Info, header);
        self.show_iter(std::iter::once(&notice).chain(lines.iter()), out);
    }

    /// Shows one event, above the prompt and the input.
    pub fn show_event(&mut self, event: &Event, out: &mut Vec<u8>) {
        self.show_iter(std::iter::once(event), out);
    }

    /// Shows a notice from the server itself (not from the hub), such as a shutdown warning.
    pub fn show_notice(
        &mut self,
        now: DateTime<Utc>,
        level: NoticeLevel,
        text: &str,
        out: &mut Vec<u8>,
    ) {
        self.show_event(&Event::notice(now, level, text), out);
    }

    fn show_iter<'a>(&mut self, events: impl Iterator<Item = &'a Event>, out: &mut Vec<u8>) {
        let view = View {
            me: &self.me.name,
            prefs: &self.me.prefs,
        };
        match &mut self.mode {
            Mode::Plain(_) => {
                for event in events {
                    render::write_plain(&render::event_lines(event, &view).lines, out);
                }
            }
            Mode::Interactive(term) => {
                let Terminal { size, prompt, .. } = &mut **term;
                prompt.erase(out);
                let mut bell = false;
                for event in events {
                    let rendered = render::event_lines(event, &view);
                    bell |= rendered.bell;
                    render::write_lines(&rendered.lines, size.width, self.me.prefs.theme, out);
                }
                if bell {
                    out.push(BELL);
                }
                self.redraw(out);
            }
        }
    }

    /// Draws the prompt and input afresh on a new line, forgetting what was drawn before: for
    /// when the bytes the session produced did not reach the terminal (the edge discarded
    /// them while the client was far behind).
    pub fn repaint(&mut self, out: &mut Vec<u8>) {
        if let Mode::Interactive(term) = &mut self.mode {
            term.prompt.reset();
            out.extend_from_slice(b"\r\n");
            self.redraw(out);
        }
    }

    /// The terminal changed size: redraw the prompt for the new width.
    pub fn resize(&mut self, new_size: TermSize, out: &mut Vec<u8>) {
        if let Mode::Interactive(term) = &mut self.mode {
            term.size = new_size;
            self.redraw(out);
        }
    }

    fn on_editor_event(
        &mut self,
        event: EditorEvent,
        now: DateTime<Utc>,
        chat: &mut dyn Chat,
        out: &mut Vec<u8>,
    ) -> Flow {
        let Mode::Interactive(term) = &mut self.mode else {
            return Flow::Continue;
        };
        let Terminal { prompt, size, .. } = &mut **term;
        match event {
            EditorEvent::Submit(line) => {
                if line.trim().is_empty() {
                    return Flow::Continue;
                }
                // The line goes; what it caused comes back through the outbox: said text with
                // its timestamp like everyone else's, a command's answer as a notice.
                prompt.erase(out);
                let outcome = chat.submit(self.id, &line, now);
                self.me = outcome.me;
                self.requests.extend(outcome.request);
                if outcome.exit {
                    return Flow::Exit;
                }
            }
            EditorEvent::Eof => return Flow::Exit,
            EditorEvent::ClearScreen => {
                out.extend_from_slice(CLEAR_SCREEN);
                prompt.reset();
            }
            EditorEvent::Bell => out.push(BELL),
            EditorEvent::Candidates(list) => {
                prompt.erase(out);
                let mut line = StyledLine::new();
                line.push_trusted("-> ", Style::System);
                line.push_user(&list.join("  "), Style::Plain);
                render::write_lines(&[line], size.width, self.me.prefs.theme, out);
            }
        }
        Flow::Continue
    }

    fn submit_plain_lines(
        &mut self,
        lines: Vec<PlainLine>,
        now: DateTime<Utc>,
        chat: &mut dyn Chat,
        out: &mut Vec<u8>,
    ) -> Flow {
        for line in lines {
            match line {
                PlainLine::Text(text) => {
                    let outcome = chat.submit(self.id, &text, now);
                    self.me = outcome.me;
                    self.requests.extend(outcome.request);
                    if outcome.exit {
                        return Flow::Exit;
                    }
                }
                PlainLine::TooLong => {
                    let text = format!(
                        "message too long: the limit is {} characters; nothing was sent",
                        self.max_chars
                    );
                    self.show_notice(now, NoticeLevel::Error, &text, out);
                }
            }
        }
        Flow::Continue
    }

    fn prompt_line(&self) -> StyledLine {
        let mut line = StyledLine::new();
        line.push_trusted("[", Style::Plain);
        line.push_user(&self.me.name, name_colour(&self.me.name));
        if self.me.room != LOBBY {
            line.push_trusted(" ", Style::Plain);
            line.push_user(&self.me.room, Style::System);
        }
        line.push_trusted("] ", Style::Plain);
        line
    }

    fn redraw_if_changed(&mut self, out: &mut Vec<u8>) {
        let changed = match &mut self.mode {
            Mode::Interactive(term) => term.editor.take_changed() || !term.prompt.is_drawn(),
            Mode::Plain(_) => false,
        };
        if changed {
            self.redraw(out);
        }
    }

    fn redraw(&mut self, out: &mut Vec<u8>) {
        let line = self.prompt_line();
        let theme = self.me.prefs.theme;
        if let Mode::Interactive(term) = &mut self.mode {
            let Terminal {
                size,
                editor,
                prompt,
            } = &mut **term;
            editor.take_changed();
            prompt.draw(&line, editor.line(), editor.cursor(), *size, theme, out);
        }
    }
}

/// Tab completion: command names for a first word starting with `/`, else names from the hub.
struct CommandsAndNames<'a> {
    chat: &'a mut dyn Chat,
    id: MemberId,
}

impl Completer for CommandsAndNames<'_> {
    fn candidates(&mut self, word: &str, first_word: bool) -> Vec<String> {
        if word.starts_with('/') {
            if first_word {
                command::complete(word)
            } else {
                Vec::new()
            }
        } else {
            self.chat.complete(self.id, word)
        }
    }
}

/// A line read by a plain session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PlainLine {
    Text(String),
    /// The line was longer than any message may be; its bytes were not kept.
    TooLong,
}

/// Splits a plain session's input into lines (`\n`, with an optional `\r` before it), holding
/// at most one message's worth of bytes, and decoding UTF-8 leniently.
#[derive(Debug)]
struct PlainReader {
    max_chars: usize,
    pending: Vec<u8>,
    overflow: bool,
}

impl PlainReader {
    fn new(max_chars: usize) -> Self {
        Self {
            max_chars,
            pending: Vec::new(),
            overflow: false,
        }
    }

    /// A line of `max_chars` characters takes at most 4 bytes each, plus a `\r`.
    fn max_bytes(&self) -> usize {
        self.max_chars.saturating_mul(4).saturating_add(1)
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<PlainLine> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                lines.push(self.take_line());
            } else if !self.overflow {
                if self.pending.len() < self.max_bytes() {
                    self.pending.push(byte);
                } else {
                    self.overflow = true;
                    self.pending = Vec::new();
                }
            }
        }
        lines
    }

    fn finish(&mut self) -> Vec<PlainLine> {
        if self.pending.is_empty() && !self.overflow {
            Vec::new()
        } else {
            vec![self.take_line()]
        }
    }

    fn take_line(&mut self) -> PlainLine {
        let mut bytes = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.overflow) {
            return PlainLine::TooLong;
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        PlainLine::Text(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_reader_splits_lines_across_chunks() {
        let mut reader = PlainReader::new(10);
        assert_eq!(reader.feed(b"hel"), []);
        assert_eq!(reader.feed(b"lo\r\nwor"), [PlainLine::Text("hello".into())]);
        assert_eq!(reader.finish(), [PlainLine::Text("wor".into())]);
        assert_eq!(reader.finish(), []);
    }

    #[test]
    fn plain_reader_refuses_overlong_lines_without_keeping_them() {
        let mut reader = PlainReader::new(2);
        let lines = reader.feed(b"0123456789abcdef\nok\n");
        assert_eq!(lines, [PlainLine::TooLong, PlainLine::Text("ok".into())]);
    }

    #[test]
    fn plain_reader_replaces_invalid_utf8() {
        let mut reader = PlainReader::new(10);
        assert_eq!(
            reader.feed(b"a\xffb\n"),
            [PlainLine::Text("a\u{fffd}b".into())]
        );
    }
}
