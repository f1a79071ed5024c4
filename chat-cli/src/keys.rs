//! `chat-cli keys fingerprint FILE`: what `ssh-keygen -lf FILE` prints.

use std::fs;
use std::path::Path;

use russh::keys::ssh_key::public::KeyData;
use russh::keys::{HashAlg, PrivateKey, PublicKey};

/// Prints one line per key in `path`: a private key, a public key, or an `authorized_keys`
/// file (each key line; blank lines and `#` comments skipped).
pub fn print_fingerprints(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for line in fingerprints(path)? {
        println!("{line}");
    }
    Ok(())
}

pub fn fingerprints(path: &Path) -> Result<Vec<String>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let key = PrivateKey::from_openssh(&text)
            .map_err(|e| format!("{} is not a valid OpenSSH private key: {e}", path.display()))?;
        return Ok(vec![describe(
            key.public_key(),
            key.comment().as_str_lossy(),
        )]);
    }
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_public_line(line)
            .ok_or_else(|| format!("{}:{}: not a public key line", path.display(), number + 1))?;
        lines.push(describe(&key, key.comment().as_str_lossy()));
    }
    if lines.is_empty() {
        return Err(format!("{} holds no key", path.display()));
    }
    Ok(lines)
}

/// A public key line, possibly with `authorized_keys` options in front of it.
fn parse_public_line(line: &str) -> Option<PublicKey> {
    if let Ok(key) = PublicKey::from_openssh(line) {
        return Some(key);
    }
    // Options come first and hold no unquoted space; skip words until a key parses.
    let mut rest = line;
    while let Some((_, tail)) = split_option(rest) {
        if let Ok(key) = PublicKey::from_openssh(tail) {
            return Some(key);
        }
        rest = tail;
    }
    None
}

/// Splits off the first whitespace-separated word, honouring double quotes.
fn split_option(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&text[..i], text[i..].trim_start())),
            _ => {}
        }
    }
    None
}

/// `256 SHA256:… comment (ED25519)`
fn describe(key: &PublicKey, comment: &str) -> String {
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    let comment = if comment.is_empty() {
        "no comment"
    } else {
        comment
    };
    let (bits, kind) = match key.key_data() {
        KeyData::Ed25519(_) => (256, "ED25519".to_owned()),
        KeyData::Rsa(rsa) => (rsa.key_size() as usize, "RSA".to_owned()),
        KeyData::Ecdsa(ecdsa) => match ecdsa.curve() {
            russh::keys::EcdsaCurve::NistP256 => (256, "ECDSA".to_owned()),
            russh::keys::EcdsaCurve::NistP384 => (384, "ECDSA".to_owned()),
            russh::keys::EcdsaCurve::NistP521 => (521, "ECDSA".to_owned()),
        },
        other => (0, other.algorithm().to_string().to_uppercase()),
    };
    format!("{bits} {fingerprint} {comment} ({kind})")
}
