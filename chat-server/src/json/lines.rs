//! Splits a byte stream into lines of bounded length.

use super::protocol::ProtocolError;

/// Bytes of a stream in, whole lines out (without `\n` or a `\r` before it). A line longer
/// than the bound is dropped as it arrives (memory stays bounded) and reported once.
#[derive(Debug)]
pub struct LineReader {
    max: usize,
    partial: Vec<u8>,
    /// The current line grew past `max`: skip to its end.
    overlong: bool,
}

impl LineReader {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            partial: Vec::new(),
            overlong: false,
        }
    }

    /// The lines that `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>, ProtocolError>> {
        let mut lines = Vec::new();
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (body, ends) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            if !self.overlong {
                self.partial.extend_from_slice(body);
                if self.partial.len() > self.max {
                    self.overlong = true;
                    self.partial = Vec::new();
                    lines.push(Err(ProtocolError::TooLong));
                }
            }
            if ends {
                if !std::mem::replace(&mut self.overlong, false) {
                    lines.push(Ok(self.take()));
                }
                self.partial.clear();
            }
        }
        lines
    }

    /// The end of the stream: an unterminated last line, if any.
    pub fn finish(&mut self) -> Vec<Result<Vec<u8>, ProtocolError>> {
        if self.overlong || self.partial.is_empty() {
            self.overlong = false;
            self.partial.clear();
            return Vec::new();
        }
        vec![Ok(self.take())]
    }

    fn take(&mut self) -> Vec<u8> {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        line
    }
}
