//! `chat-cli keys fingerprint FILE`: what `ssh-keygen -lf FILE` prints.

use std::fs;
use std::path::Path;

use chat_ssh::chat_server::keyfile;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{PrivateKey, PublicKey};

/// Prints one line per key in `path`: a private key, a public key, or an `authorized_keys`
/// file (each key line; blank lines and `#` comments skipped).
pub fn print_fingerprints(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for line in fingerprints(path)? {
        println!("{line}");
    }
    Ok(())
}

pub fn fingerprints(path: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
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
    let keys = keyfile::parse(&text)
        .map_err(|(line, reason)| format!("{}:{line}: {reason}", path.display()))?;
    if keys.is_empty() {
        return Err(format!("{} holds no key", path.display()).into());
    }
    Ok(keys
        .iter()
        .map(|k| describe(&k.key, k.key.comment().as_str_lossy()))
        .collect())
}

/// `256 SHA256:… comment (ED25519)`
fn describe(key: &PublicKey, comment: &str) -> String {
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
    format!("{bits} {} {comment} ({kind})", keyfile::fingerprint(key))
}
