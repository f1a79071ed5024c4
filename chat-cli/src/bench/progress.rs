//! A one-line progress bar on stderr, redrawn with `\r`, shown only when stderr is a terminal.
//!
//! One line is all a bench needs, so it is written here rather than pulled in with a crate.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const BAR_WIDTH: usize = 30;
/// Redraw at most this often.
const EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    last_draw: Option<Instant>,
    last_len: usize,
}

impl Progress {
    /// A progress line on stderr, if stderr is a terminal.
    pub fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            last_draw: None,
            last_len: 0,
        }
    }

    /// No progress line: a process of a split run, whose parent draws the line.
    pub fn hidden() -> Self {
        Self {
            enabled: false,
            last_draw: None,
            last_len: 0,
        }
    }

    /// Shows `phase` `fraction` done (0 to 1) with some detail.
    pub fn show(&mut self, phase: &str, fraction: f64, detail: &str) {
        if !self.enabled || self.last_draw.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let line = line(phase, fraction, detail);
        let pad = self.last_len.saturating_sub(line.len());
        self.last_len = line.len();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{line}{:pad$}", "");
        let _ = stderr.flush();
    }

    /// Clears the line, before the report or an error is printed.
    pub fn clear(&mut self) {
        if self.enabled && self.last_len > 0 {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r{:width$}\r", "", width = self.last_len);
            let _ = stderr.flush();
            self.last_len = 0;
        }
        self.last_draw = None;
    }
}

/// `sending    [#########.....................]  30% detail`
fn line(phase: &str, fraction: f64, detail: &str) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    format!(
        "{phase:<10} [{}{}] {:>3.0}% {detail}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        fraction * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_fraction() {
        assert_eq!(
            line("sending", 0.5, "12 lines"),
            format!(
                "sending    [{}{}]  50% 12 lines",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        assert!(line("x", 7.0, "").contains(&"#".repeat(BAR_WIDTH)));
        assert!(line("x", f64::NAN, "").contains(&".".repeat(BAR_WIDTH)));
    }
}
