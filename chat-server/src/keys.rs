//! Checking a public key someone wants to add to an account: one `authorized_keys` line, of a
//! type and size the server accepts for logins.
//!
//! Accepted: Ed25519, ECDSA (P-256, P-384, P-521), RSA of at least 2048 bits (logged in with
//! SHA-2 signatures; SHA-1 `ssh-rsa` signatures are refused at login), and the FIDO security
//! key types `sk-ssh-ed25519@openssh.com` and `sk-ecdsa-sha2-nistp256@openssh.com`, which
//! russh verifies. Refused, each with a reason a person can act on: DSA, short RSA keys,
//! certificates, text that is no key, and above all a *private* key pasted by mistake, which
//! is never stored, logged or echoed back.

use chat_store::directory::NewKey;
use russh::keys::{Algorithm, HashAlg, PublicKey};
use thiserror::Error;

use crate::keyfile;

/// The shortest RSA modulus accepted.
pub const MIN_RSA_BITS: u32 = 2048;

/// The longest key line accepted (an RSA-16384 line is about 2.8 KB).
const MAX_LINE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "that is a PRIVATE key: never paste it anywhere. It was not stored. Paste the public \
         key instead: the one-line contents of the file ending in .pub (for example \
         ~/.ssh/id_ed25519.pub)"
    )]
    PrivateKey,
    #[error("there is no key here; paste one line such as `ssh-ed25519 AAAA… you@laptop`")]
    Empty,
    #[error("the key line is too long (at most {MAX_LINE_BYTES} bytes)")]
    TooLong,
    #[error(
        "this is not a public key line ({0}); it should look like `ssh-ed25519 AAAA… you@laptop`"
    )]
    Malformed(String),
    #[error(
        "DSA keys are refused: they are weak and OpenSSH no longer uses them; make a new key \
         with `ssh-keygen -t ed25519`"
    )]
    Dsa,
    #[error(
        "this RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed (make a new key with \
         `ssh-keygen -t ed25519`)"
    )]
    ShortRsa { bits: u32 },
    #[error("{0} keys are not accepted here; use an Ed25519, ECDSA or RSA key")]
    Unsupported(String),
}

/// A key that passed the checks, with what the directory keeps of it.
#[derive(Debug, Clone)]
pub struct CheckedKey {
    pub key: PublicKey,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The key's type as OpenSSH names it (`ssh-ed25519`).
    pub algorithm: String,
    /// `TYPE BASE64`, without options or comment.
    pub line: String,
    /// The line's comment (`alice@laptop`), trimmed; empty if it had none.
    pub comment: String,
}

impl CheckedKey {
    /// What the directory stores, labelled `label` (or the key's comment if `label` is empty).
    pub fn to_new_key(&self, label: &str) -> NewKey {
        let label = if label.trim().is_empty() {
            self.comment.clone()
        } else {
            label.trim().to_owned()
        };
        NewKey {
            fingerprint: self.fingerprint.clone(),
            algorithm: self.algorithm.clone(),
            public_key: self.line.clone(),
            label: label
                .chars()
                .take(chat_store::directory::MAX_LABEL_CHARS)
                .collect(),
        }
    }
}

/// Whether `text` holds a private key (OpenSSH, PEM or PuTTY), in whole or in part.
pub fn looks_private(text: &str) -> bool {
    text.contains("PRIVATE KEY") || text.contains("PuTTY-User-Key-File")
}

/// Checks one `authorized_keys` line (options in front are allowed and dropped).
pub fn check_line(text: &str) -> Result<CheckedKey, KeyError> {
    if looks_private(text) {
        return Err(KeyError::PrivateKey);
    }
    let line = text.trim();
    if line.is_empty() {
        return Err(KeyError::Empty);
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(KeyError::TooLong);
    }
    if line.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
        return Err(KeyError::Malformed("more than one line".to_owned()));
    }
    let key = keyfile::parse_line(line).ok_or_else(|| {
        let shown: String = line.chars().take(24).filter(|c| !c.is_control()).collect();
        KeyError::Malformed(format!("cannot read {shown:?}…"))
    })?;
    check_key(key)
}

/// Checks a parsed key's type and size.
pub fn check_key(key: PublicKey) -> Result<CheckedKey, KeyError> {
    match key.algorithm() {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => {}
        Algorithm::Rsa { .. } => {
            let bits = key.key_data().rsa().map_or(0, |rsa| rsa.key_size());
            if bits < MIN_RSA_BITS {
                return Err(KeyError::ShortRsa { bits });
            }
        }
        Algorithm::Dsa => return Err(KeyError::Dsa),
        other => return Err(KeyError::Unsupported(other.as_str().to_owned())),
    }
    let comment: String = key
        .comment()
        .as_str_lossy()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut bare = key.clone();
    bare.set_comment("");
    let line = bare
        .to_openssh()
        .map_err(|e| KeyError::Malformed(e.to_string()))?
        .trim()
        .to_owned();
    Ok(CheckedKey {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        algorithm: key.algorithm().as_str().to_owned(),
        line,
        comment,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh8wpbTszHvcXMbDCvnlD7LQXiJmPJ3/JrmlBspY3sO alice@laptop";

    #[test]
    fn an_ed25519_line_is_accepted_with_its_comment() {
        let key = check_line(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.comment, "alice@laptop");
        assert!(key.fingerprint.starts_with("SHA256:"));
        assert!(!key.line.contains("alice"), "no comment in the stored line");
        assert_eq!(key.to_new_key("").label, "alice@laptop");
        assert_eq!(key.to_new_key(" desk ").label, "desk");
    }

    #[test]
    fn options_in_front_are_dropped() {
        let key = check_line(&format!("no-pty,from=\"10.0.0.1\" {ED25519}")).unwrap();
        assert_eq!(key.fingerprint, check_line(ED25519).unwrap().fingerprint);
    }

    #[test]
    fn a_private_key_is_refused_loudly_and_not_echoed() {
        let pasted = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        let error = check_line(pasted).unwrap_err();
        assert_eq!(error, KeyError::PrivateKey);
        let message = error.to_string();
        assert!(message.contains("PRIVATE"), "{message}");
        assert!(!message.contains("b3BlbnNzaC1rZXkt"), "never echoed");
        assert_eq!(
            check_line("PuTTY-User-Key-File-3: ssh-ed25519").unwrap_err(),
            KeyError::PrivateKey
        );
        assert_eq!(
            check_line("-----BEGIN RSA PRIVATE KEY-----").unwrap_err(),
            KeyError::PrivateKey
        );
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/keys/{name}.pub",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn weak_keys_are_refused_and_strong_ones_taken() {
        assert_eq!(check_line(&fixture("dsa")).unwrap_err(), KeyError::Dsa);
        assert_eq!(
            check_line(&fixture("rsa1024")).unwrap_err(),
            KeyError::ShortRsa { bits: 1024 }
        );
        let rsa = check_line(&fixture("rsa2048")).unwrap();
        assert_eq!(rsa.algorithm, "ssh-rsa");
        let ecdsa = check_line(&fixture("ecdsa")).unwrap();
        assert_eq!(ecdsa.algorithm, "ecdsa-sha2-nistp256");
        assert_eq!(ecdsa.comment, "ecdsa@test");
    }

    #[test]
    fn nonsense_is_refused_with_what_a_key_looks_like() {
        for bad in ["hello", "ssh-ed25519 not-base64", "ssh-ed25519"] {
            let error = check_line(bad).unwrap_err();
            assert!(matches!(error, KeyError::Malformed(_)), "{bad}: {error}");
            assert!(error.to_string().contains("ssh-ed25519 AAAA"), "{error}");
        }
        assert_eq!(check_line("  \n").unwrap_err(), KeyError::Empty);
        assert_eq!(
            check_line(&"x".repeat(MAX_LINE_BYTES + 1)).unwrap_err(),
            KeyError::TooLong
        );
        assert!(matches!(
            check_line(&format!("{ED25519}\n{ED25519}")).unwrap_err(),
            KeyError::Malformed(_)
        ));
    }
}
