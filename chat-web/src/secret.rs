//! The server's secret: what signs challenges and CSRF tokens, so that they need no state.
//!
//! 32 random bytes in a file of the data directory (mode 0600), made on first start and read
//! on every start after, so a restart keeps pending challenges valid. Deleting the file
//! invalidates every challenge and form in flight, and nothing else.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

const SECRET_BYTES: usize = 32;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("cannot read the web secret {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write a new web secret to {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "the web secret {} holds {len} bytes, not {SECRET_BYTES}; delete it and a new one is made \
         (forms in flight then fail once)",
        path.display()
    )]
    Corrupt { path: PathBuf, len: usize },
}

/// The secret, ready to sign.
#[derive(Clone)]
pub struct Secret([u8; SECRET_BYTES]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads the secret at `path`, or makes one there (mode 0600) if there is none.
    pub fn load_or_generate(path: &Path) -> Result<Self, SecretError> {
        match fs::read(path) {
            Ok(bytes) => Self::from_bytes(&bytes).ok_or(SecretError::Corrupt {
                path: path.to_owned(),
                len: bytes.len(),
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let secret = Self::random();
                let written = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .and_then(|mut file| file.write_all(&secret.0).and_then(|()| file.sync_all()));
                match written {
                    Ok(()) => Ok(secret),
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        Self::load_or_generate(path)
                    }
                    Err(source) => Err(SecretError::Write {
                        path: path.to_owned(),
                        source,
                    }),
                }
            }
            Err(source) => Err(SecretError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// A secret that lives as long as the process (tests, embedders without a data dir).
    pub fn random() -> Self {
        use rand::RngExt;
        Self(rand::rng().random())
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// HMAC-SHA256 of `parts` under `domain` (which keeps one use's tags from passing as
    /// another's). Each part is length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
    pub fn sign(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes in hex: tokens for cookies.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex(&raw)
}

/// Whether two strings are equal, in time that depends only on their lengths.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_secret_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web_secret");
        let first = Secret::load_or_generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Secret::load_or_generate(&path).unwrap();
        assert_eq!(first.sign("d", &[b"x"]), again.sign("d", &[b"x"]));
        fs::write(&path, b"short").unwrap();
        let error = Secret::load_or_generate(&path).unwrap_err();
        assert!(error.to_string().contains("delete it"), "{error}");
    }

    #[test]
    fn signatures_separate_domains_and_parts() {
        let secret = Secret::random();
        assert_ne!(secret.sign("a", &[b"x"]), secret.sign("b", &[b"x"]));
        assert_ne!(
            secret.sign("a", &[b"ab", b"c"]),
            secret.sign("a", &[b"a", b"bc"])
        );
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
