//! Proof of possession: an SSH signature (`ssh-keygen -Y sign`) of a challenge.
//!
//! A public key alone proves nothing: anyone can paste anyone's. What the browser sends back
//! is the armored `SshSig` that `ssh-keygen` printed; it names its key and namespace, and it
//! verifies only over the exact challenge text. Verification is russh's `ssh-key` crate.
//! `echo CHALLENGE | ssh-keygen …` signs the text with a newline (PowerShell's pipe adds CRLF),
//! so those two spellings of the same challenge count too.

use chat_server::keys::{self, CheckedKey, KeyError};
use russh::keys::HashAlg;
use russh::keys::ssh_key::{PublicKey, SshSig};
use thiserror::Error;

use crate::challenge::Challenge;

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProofError {
    #[error(
        "paste the signature that ssh-keygen printed, from -----BEGIN SSH SIGNATURE----- to \
         -----END SSH SIGNATURE-----"
    )]
    Missing,
    #[error(
        "that is a PRIVATE key: never paste it anywhere. It was not stored. Paste the signature \
         that ssh-keygen printed instead"
    )]
    PrivateKey,
    #[error(
        "this is not an SSH signature ({0}); copy everything from -----BEGIN SSH SIGNATURE----- \
         to -----END SSH SIGNATURE-----"
    )]
    Malformed(String),
    #[error(
        "this signature was made for the namespace {found:?}, not {expected:?}: sign again with \
         -n {expected}"
    )]
    WrongNamespace { found: String, expected: String },
    #[error(
        "this signature was made with another key ({signed_with}), not the public key you \
         pasted: sign with the private key of that public key (-f without .pub)"
    )]
    WrongKey { signed_with: String },
    #[error(
        "the signature does not match this page's challenge: sign exactly the challenge shown \
         here (a signature of an older page's challenge does not work)"
    )]
    Mismatch,
    #[error("the key that made this signature is refused: {0}")]
    Key(KeyError),
}

/// Checks that `signature` is a signature of `challenge` in its namespace, made by
/// `expected` (if given). Returns the signing key, checked as a login key would be.
pub fn verify(
    signature: &str,
    challenge: &Challenge,
    expected: Option<&PublicKey>,
) -> Result<CheckedKey, ProofError> {
    if keys::looks_private(signature) {
        return Err(ProofError::PrivateKey);
    }
    if signature.trim().is_empty() {
        return Err(ProofError::Missing);
    }
    let armored = normalize(signature)
        .ok_or_else(|| ProofError::Malformed("the BEGIN and END lines are missing".to_owned()))?;
    let sig = SshSig::from_pem(armored.as_bytes())
        .map_err(|e| ProofError::Malformed(format!("it cannot be read: {e}")))?;
    if sig.namespace() != challenge.namespace {
        return Err(ProofError::WrongNamespace {
            found: shown(sig.namespace()),
            expected: challenge.namespace.clone(),
        });
    }
    let signer = PublicKey::from(sig.public_key().clone());
    if let Some(expected) = expected
        && expected.key_data() != signer.key_data()
    {
        return Err(ProofError::WrongKey {
            signed_with: signer.fingerprint(HashAlg::Sha256).to_string(),
        });
    }
    let text = challenge.text.as_str();
    let signed = [text.to_owned(), format!("{text}\n"), format!("{text}\r\n")]
        .iter()
        .any(|message| {
            signer
                .verify(&challenge.namespace, message.as_bytes(), &sig)
                .is_ok()
        });
    if !signed {
        return Err(ProofError::Mismatch);
    }
    keys::check_key(signer).map_err(ProofError::Key)
}

/// The proof step of a form: whether `signature` proves `key` (when both the challenge and
/// the key passed their own checks), else why not, in words for the signature field. A
/// private key pasted into the signature box is refused whatever else was wrong.
pub fn check_form(
    signature: &str,
    challenge: &Result<Challenge, crate::challenge::ChallengeError>,
    key: Option<&CheckedKey>,
) -> Result<bool, String> {
    if keys::looks_private(signature) {
        return Err(ProofError::PrivateKey.to_string());
    }
    match (challenge, key) {
        (Err(error), _) => Err(error.to_string()),
        (Ok(challenge), Some(key)) => verify(signature, challenge, Some(&key.key))
            .map(|_| true)
            .map_err(|e| e.to_string()),
        (Ok(_), None) => Ok(false),
    }
}

/// The armor rebuilt from whatever survived copying: the text between the BEGIN and END
/// lines with all whitespace removed, wrapped again as `ssh-keygen` wraps it.
fn normalize(text: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let stop = start + text[start..].find(END)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !body.is_ascii() {
        return None;
    }
    let mut armored = String::with_capacity(body.len() + 128);
    armored.push_str(BEGIN);
    armored.push('\n');
    for line in body.as_bytes().chunks(70) {
        // ASCII checked above, so every chunk is valid UTF-8.
        armored.push_str(std::str::from_utf8(line).ok()?);
        armored.push('\n');
    }
    armored.push_str(END);
    armored.push('\n');
    Some(armored)
}

/// A namespace from a signature, safe and short enough to show.
fn shown(namespace: &str) -> String {
    namespace
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::{Challenges, Purpose};
    use crate::secret::Secret;
    use russh::keys::Algorithm;
    use russh::keys::ssh_key::{LineEnding, PrivateKey};

    fn key() -> PrivateKey {
        PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap()
    }

    fn sign(key: &PrivateKey, namespace: &str, msg: &str) -> String {
        key.sign(namespace, HashAlg::Sha512, msg.as_bytes())
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap()
    }

    fn challenge() -> Challenge {
        Challenges::new(Secret::random(), "h", chrono::TimeDelta::minutes(5)).issue(
            Purpose::Register,
            "",
            chrono::Utc::now(),
        )
    }

    #[test]
    fn a_signature_of_the_challenge_proves_the_key() {
        let (key, ch) = (key(), challenge());
        for msg in [ch.text.clone(), format!("{}\n", ch.text)] {
            let sig = sign(&key, &ch.namespace, &msg);
            let proved = verify(&sig, &ch, Some(key.public_key())).unwrap();
            assert_eq!(
                proved.fingerprint,
                key.public_key().fingerprint(HashAlg::Sha256).to_string()
            );
        }
        // Mangled by copying: CRLF, indentation, the lines run together.
        let sig = sign(&key, &ch.namespace, &ch.text);
        let mangled = format!("  {}  ", sig.replace('\n', "\r\n  "));
        assert!(verify(&mangled, &ch, None).is_ok());
        let joined = sig.replace('\n', " ");
        assert!(verify(&joined, &ch, None).is_ok());
    }

    #[test]
    fn every_wrong_signature_says_what_is_wrong() {
        let verify = |sig: &str, ch: &Challenge, expected: Option<&PublicKey>| {
            super::verify(sig, ch, expected).map(|k| k.fingerprint)
        };
        let (key, ch) = (key(), challenge());
        let other = challenge();
        assert_eq!(verify("", &ch, None), Err(ProofError::Missing));
        assert!(matches!(
            verify("hello", &ch, None),
            Err(ProofError::Malformed(_))
        ));
        let broken = format!("{BEGIN}\nAAAA\n{END}");
        assert!(matches!(
            verify(&broken, &ch, None),
            Err(ProofError::Malformed(_))
        ));
        assert_eq!(
            verify(&sign(&key, "file", &ch.text), &ch, None),
            Err(ProofError::WrongNamespace {
                found: "file".into(),
                expected: ch.namespace.clone()
            })
        );
        assert_eq!(
            verify(&sign(&key, &ch.namespace, &other.text), &ch, None),
            Err(ProofError::Mismatch)
        );
        let someone_else = self::key();
        assert!(matches!(
            verify(
                &sign(&key, &ch.namespace, &ch.text),
                &ch,
                Some(someone_else.public_key())
            ),
            Err(ProofError::WrongKey { .. })
        ));
        let private = key.to_openssh(LineEnding::LF).unwrap();
        assert_eq!(verify(&private, &ch, None), Err(ProofError::PrivateKey));
        assert!(!ProofError::PrivateKey.to_string().contains("AAAA"));
    }
}
