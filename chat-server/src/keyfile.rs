//! Reading OpenSSH `authorized_keys` files: the allowlist and the admins file.
//!
//! Each line is a public key (`ssh-ed25519 AAAA… comment`), optionally after options
//! (`from="…",no-pty ssh-ed25519 AAAA…`). Blank lines and `#` comments are skipped. A line
//! that is none of these is an error naming the file and the line, so a typo does not
//! silently lock someone out (or in).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use russh::keys::{HashAlg, PublicKey};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}:{line}: not a public key line ({reason})", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// A key read from a file, with where it was.
#[derive(Debug, Clone)]
pub struct ListedKey {
    pub key: PublicKey,
    /// 1-based line number.
    pub line: usize,
}

impl ListedKey {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }
}

/// The SHA256 fingerprint of a public key: the identity the chat uses.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Reads every key in an `authorized_keys`-style file.
pub fn read(path: &Path) -> Result<Vec<ListedKey>, KeyFileError> {
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|(line, reason)| KeyFileError::BadLine {
        path: path.to_owned(),
        line,
        reason,
    })
}

/// Parses the text of an `authorized_keys` file; an error is `(line number, reason)`.
pub fn parse(text: &str) -> Result<Vec<ListedKey>, (usize, String)> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some(key) => keys.push(ListedKey {
                key,
                line: index + 1,
            }),
            None => {
                let shown: String = line.chars().take(40).collect();
                return Err((
                    index + 1,
                    format!("expected `[options] type base64 [comment]`, found {shown:?}"),
                ));
            }
        }
    }
    Ok(keys)
}

/// One key line, with or without options in front.
pub fn parse_line(line: &str) -> Option<PublicKey> {
    if let Ok(key) = PublicKey::from_openssh(line) {
        return Some(key);
    }
    // Options hold no unquoted whitespace: skip words until a key parses.
    let mut rest = line;
    while let Some(tail) = after_first_word(rest) {
        if let Ok(key) = PublicKey::from_openssh(tail) {
            return Some(key);
        }
        rest = tail;
    }
    None
}

/// What follows the first whitespace-separated word, honouring double quotes.
fn after_first_word(text: &str) -> Option<&str> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some(text[i..].trim_start()),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh8wpbTszHvcXMbDCvnlD7LQXiJmPJ3/JrmlBspY3sO alice@laptop";

    #[test]
    fn keys_comments_and_options() {
        let text = format!(
            "# operators\n\n{ED25519}\nfrom=\"10.0.0.0/8,192.168.1.1\",no-pty {ED25519}\n  {ED25519}  \n"
        );
        let keys = parse(&text).unwrap();
        assert_eq!(keys.iter().map(|k| k.line).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(keys[0].fingerprint().starts_with("SHA256:"));
        assert_eq!(keys[0].fingerprint(), keys[1].fingerprint());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let text = format!("{ED25519}\nssh-ed25519 not-base64\n");
        let (line, reason) = parse(&text).unwrap_err();
        assert_eq!(line, 2);
        assert!(reason.contains("ssh-ed25519 not-base64"), "{reason}");
    }

    #[test]
    fn a_missing_file_names_itself() {
        let error = read(Path::new("/nonexistent/admins"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot read /nonexistent/admins"),
            "{error}"
        );
    }
}
