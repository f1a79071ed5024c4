//! The prompt area drawn into a real terminal emulator (`vt100`), checking that what a person
//! would see, and where the cursor is, match what the input holds.

use proptest::prelude::*;

use super::*;

fn prompt(name: &str) -> StyledLine {
    let mut line = StyledLine::new();
    line.push_trusted("[", Style::Plain);
    line.push_user(name, Style::Plain);
    line.push_trusted("] ", Style::Plain);
    line
}

fn term(rows: u16, cols: u16) -> vt100::Parser {
    let nz = |n: u16| std::num::NonZeroU16::new(n).expect("test terminals have a size");
    vt100::Parser::new(nz(rows), nz(cols), 0)
}

fn screen_after(parser: &mut vt100::Parser, bytes: &[u8]) -> Vec<String> {
    parser.process(bytes);
    parser
        .screen()
        .rows(0, parser.screen().size().1.get())
        .collect()
}

#[test]
fn short_input_sits_after_the_prompt_with_the_cursor_at_its_end() {
    let mut parser = term(5, 20);
    let mut area = PromptArea::default();
    let mut out = Vec::new();
    area.draw(
        &prompt("al"),
        "hello",
        5,
        TermSize {
            width: 20,
            height: 5,
        },
        Theme::Mono,
        &mut out,
    );
    let rows = screen_after(&mut parser, &out);
    assert_eq!(rows[0], "[al] hello");
    assert_eq!(parser.screen().cursor_position(), (0, 10));
}

#[test]
fn long_input_wraps_and_redraws_in_place() {
    let size = TermSize {
        width: 10,
        height: 6,
    };
    let mut parser = term(6, 10);
    let mut area = PromptArea::default();
    let input = "abcdefghijklmnop";
    let mut out = Vec::new();
    area.draw(&prompt("x"), input, 3, size, Theme::Mono, &mut out);
    area.draw(&prompt("x"), input, 3, size, Theme::Mono, &mut out);
    let rows = screen_after(&mut parser, &out);
    assert_eq!(&rows[..3], ["[x] abcdef", "ghijklmnop", ""]);
    assert_eq!(parser.screen().cursor_position(), (0, 7));
}

#[test]
fn a_full_last_row_leaves_the_cursor_on_the_next_row() {
    let size = TermSize {
        width: 10,
        height: 6,
    };
    let mut parser = term(6, 10);
    let mut area = PromptArea::default();
    let mut out = Vec::new();
    area.draw(&prompt("x"), "abcdef", 6, size, Theme::Mono, &mut out);
    screen_after(&mut parser, &out);
    assert_eq!(parser.screen().cursor_position(), (1, 0));
}

#[test]
fn wide_characters_that_do_not_fit_move_to_the_next_row() {
    let size = TermSize {
        width: 6,
        height: 6,
    };
    let mut parser = term(6, 6);
    let mut area = PromptArea::default();
    let mut out = Vec::new();
    // "[x] " takes 4 cells; 日 takes 5-6; 本 does not fit in 7 and moves down.
    area.draw(
        &prompt("x"),
        "日本",
        "日".len(),
        size,
        Theme::Mono,
        &mut out,
    );
    let rows = screen_after(&mut parser, &out);
    assert_eq!(&rows[..2], ["[x] 日", "本"]);
    assert_eq!(parser.screen().cursor_position(), (1, 0));
}

#[test]
fn input_taller_than_the_screen_shows_a_window_around_the_cursor() {
    let size = TermSize {
        width: 10,
        height: 3,
    };
    let mut parser = term(3, 10);
    let mut area = PromptArea::default();
    let input: String = ('a'..='z').cycle().take(60).collect();
    let mut out = Vec::new();
    area.draw(
        &prompt("x"),
        &input,
        input.len(),
        size,
        Theme::Mono,
        &mut out,
    );
    let rows = screen_after(&mut parser, &out);
    assert!(rows[0].starts_with("[x] …"), "{rows:?}");
    assert!(input.ends_with(rows[1].trim_end()), "{rows:?}");
    assert_eq!(rows[2], "", "one row is left for the conversation");
    assert_eq!(parser.screen().cursor_position().0, 1);
}

/// The grapheme boundary of `input` a fraction `frac` of the way along.
fn boundary_at(input: &str, frac: f64) -> usize {
    let boundaries: Vec<usize> = input
        .grapheme_indices(true)
        .map(|(i, _)| i)
        .chain(std::iter::once(input.len()))
        .collect();
    boundaries[((boundaries.len() - 1) as f64 * frac) as usize]
}

/// Fills the screen's first rows with a marker so that erasing too much shows.
fn with_history(parser: &mut vt100::Parser) {
    parser.process(b"hist\r\n");
}

proptest! {
    /// Draws twice (as a redraw after an event does) and checks with a terminal emulator that
    /// the screen shows the prompt and the input exactly, the line above is untouched, and
    /// the cursor sits on the cell where the grapheme at the cursor is drawn.
    #[test]
    fn drawn_input_matches_the_screen(
        input in "([a-z ]|日|é|👍🏽){0,40}",
        cursor_frac in 0.0f64..=1.0,
        width in 8usize..30,
    ) {
        let height = 40;
        let size = TermSize { width, height };
        let mut parser = term(height as u16, width as u16);
        with_history(&mut parser);
        let cursor = boundary_at(&input, cursor_frac);
        let mut area = PromptArea::default();
        let mut out = Vec::new();
        area.draw(&prompt("me"), &input, cursor, size, Theme::Mono, &mut out);
        area.draw(&prompt("me"), &input, cursor, size, Theme::Mono, &mut out);
        parser.process(&out);
        let screen = parser.screen();
        prop_assert_eq!(screen.rows(0, width as u16).next().unwrap(), "hist");
        let shown: String = screen.rows(0, width as u16).skip(1).collect::<Vec<_>>().concat();
        let expected = format!("[me] {input}");
        prop_assert_eq!(shown.replace(' ', ""), expected.replace(' ', ""));
        // The cursor is on the grapheme after it, or just after the text.
        let (row, col) = screen.cursor_position();
        let at_cursor = input[cursor..].graphemes(true).next();
        if let Some(g) = at_cursor {
            let cell = screen.cell(row, col).map(|c| c.contents().to_string()).unwrap_or_default();
            // vt100 gives each character of a sequence like 👍🏽 its own cell: compare the first.
            prop_assert!(!cell.is_empty() && g.starts_with(&cell), "cursor at {:?} on {:?}, not {:?}", (row, col), cell, g);
        }
    }
}

proptest! {
    /// Input taller than the screen: whatever window is shown, the line above the prompt is
    /// never overwritten or scrolled away, and the cursor is on the right grapheme.
    #[test]
    fn windowed_input_never_scrolls_the_conversation_away(
        input in "([a-z]|日|é|👍🏽){0,120}",
        cursor_frac in 0.0f64..=1.0,
        width in 6usize..20,
        height in 3usize..8,
    ) {
        let size = TermSize { width, height };
        let mut parser = term(height as u16, width as u16);
        with_history(&mut parser);
        let cursor = boundary_at(&input, cursor_frac);
        let mut area = PromptArea::default();
        let mut out = Vec::new();
        area.draw(&prompt("me"), &input, cursor, size, Theme::Mono, &mut out);
        area.draw(&prompt("me"), &input, cursor, size, Theme::Mono, &mut out);
        parser.process(&out);
        let screen = parser.screen();
        prop_assert_eq!(screen.rows(0, width as u16).next().unwrap(), "hist");
        let (row, col) = screen.cursor_position();
        if let Some(g) = input[cursor..].graphemes(true).next() {
            let cell = screen.cell(row, col).map(|c| c.contents().to_string()).unwrap_or_default();
            prop_assert!(!cell.is_empty() && g.starts_with(&cell), "cursor at {:?} on {:?}, not {:?}", (row, col), cell, g);
        }
    }
}

/// Found by fuzzing: with the cursor near the input's start, the window kept the whole prompt
/// even on a screen too small for it ("[mallory] " on a 4×3 terminal), so drawing it scrolled
/// the conversation away and erasing it cleared more than it had drawn. And a grapheme wider
/// than a row (`👍🏽` on 2 columns) took two rows of a one-row window.
#[test]
fn a_prompt_too_big_for_the_screen_never_scrolls_the_conversation_away() {
    for width in 1..=6 {
        for height in 2..=4 {
            for name in ["me", "mallory"] {
                for input in ["", "ab", "abcdefghijklmnop", "日本語", "👍🏽x"] {
                    let boundaries = input.grapheme_indices(true).map(|(i, _)| i);
                    for cursor in boundaries.chain([input.len()]) {
                        let size = TermSize { width, height };
                        let mut parser = term(height as u16, width as u16);
                        parser.process(b"h\r\n");
                        let mut area = PromptArea::default();
                        let mut out = Vec::new();
                        area.draw(&prompt(name), input, cursor, size, Theme::Mono, &mut out);
                        area.draw(&prompt(name), input, cursor, size, Theme::Mono, &mut out);
                        let case = format!("{name:?} {input:?} at {cursor} on {width}x{height}");
                        let rows = screen_after(&mut parser, &out);
                        assert_eq!(rows[0], "h", "{case}: {rows:?}");
                        if input.is_ascii() && cursor < input.len() {
                            let (row, col) = parser.screen().cursor_position();
                            let cell = parser.screen().cell(row, col).unwrap().contents();
                            assert_eq!(cell, &input[cursor..=cursor], "{case}: {rows:?}");
                        }
                        let mut erase = Vec::new();
                        area.erase(&mut erase);
                        let rows = screen_after(&mut parser, &erase);
                        assert_eq!(rows[0], "h", "{case}: erased too much");
                        assert!(rows[1..].iter().all(|r| r.is_empty()), "{case}: {rows:?}");
                    }
                }
            }
        }
    }
}

/// Found by fuzzing: a combining mark with nothing drawn after it, right after a prompt that
/// fills its row, put the cursor on a row below the last one counted, and computing how far to
/// move back up underflowed (a panic in debug builds, `ESC [ 18446744073709551615 A` in
/// release).
#[test]
fn a_combining_mark_after_a_full_row_keeps_the_cursor_on_a_drawn_row() {
    let size = TermSize {
        width: 4,
        height: 5,
    };
    // "[x] " fills the row; so does "[] a", before a zero-width space.
    for input in ["\u{301}", "\u{301}\u{301}", "a\u{200b}"] {
        let cursor = if input.starts_with('a') { 1 } else { 0 };
        let mut parser = term(5, 4);
        parser.process(b"h\r\n");
        let mut area = PromptArea::default();
        let mut out = Vec::new();
        let name = if input.starts_with('a') { "" } else { "x" };
        area.draw(&prompt(name), input, cursor, size, Theme::Mono, &mut out);
        area.draw(&prompt(name), input, cursor, size, Theme::Mono, &mut out);
        let rows = screen_after(&mut parser, &out);
        assert_eq!(rows[0], "h", "{input:?}: {rows:?}");
        assert_eq!(
            parser.screen().cursor_position(),
            (2, 0),
            "{input:?}: {rows:?}"
        );
        let mut erase = Vec::new();
        area.erase(&mut erase);
        let rows = screen_after(&mut parser, &erase);
        assert_eq!(rows[0], "h", "{input:?}: erased too much");
        assert!(
            rows[1..].iter().all(|r| r.is_empty()),
            "{input:?}: {rows:?}"
        );
    }
}
