//! The sessions' keys: fresh ones by default, or derived from `--key-seed` so that a run's keys
//! can be registered beforehand (`--export-keys`, then `chat-cli accounts import`) and a bench
//! of a server in `--join registered` mode logs in with them.
//!
//! A derived key is a function of the seed and the session's number only. These are load-test
//! keys, printed on request and never meant to guard anything, so a fast mix of the two numbers
//! (splitmix64) is enough; no key-derivation function is wanted here.

use std::io::{self, Write};

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{Algorithm, PrivateKey};

/// The key session `index` logs in with: derived from `seed` when there is one.
pub fn session_key(seed: Option<u64>, index: u32) -> PrivateKey {
    match seed {
        Some(seed) => PrivateKey::from(Ed25519Keypair::from_seed(&derived_seed(seed, index))),
        None => PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .expect("generating an Ed25519 key cannot fail with the thread RNG"),
    }
}

/// Writes one `authorized_keys` line per session, `ssh-ed25519 AAAA… NAME`, with the name the
/// session will ask for as the comment: what `chat-cli accounts import` makes accounts of.
pub fn export(
    seed: u64,
    names: impl Iterator<Item = (u32, String)>,
    out: &mut impl Write,
) -> io::Result<()> {
    for (index, name) in names {
        let key = session_key(Some(seed), index);
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| io::Error::other(format!("encoding a public key: {e}")))?;
        writeln!(out, "{line} {name}")?;
    }
    Ok(())
}

fn derived_seed(seed: u64, index: u32) -> [u8; 32] {
    let mut state = seed ^ (u64::from(index) << 32 | u64::from(index));
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    bytes
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_key_is_the_same_every_time_and_differs_per_session() {
        let a = session_key(Some(7), 1).public_key().clone();
        assert_eq!(a, session_key(Some(7), 1).public_key().clone());
        assert_ne!(a, session_key(Some(7), 2).public_key().clone());
        assert_ne!(a, session_key(Some(8), 1).public_key().clone());
    }

    #[test]
    fn unseeded_keys_are_fresh() {
        assert_ne!(
            session_key(None, 1).public_key().clone(),
            session_key(None, 1).public_key().clone()
        );
    }

    #[test]
    fn export_writes_one_authorized_keys_line_per_session_named_by_its_comment() {
        let mut out = Vec::new();
        export(7, (0..3).map(|i| (i, format!("bench{i}"))), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for (i, line) in lines.iter().enumerate() {
            let key = russh::keys::ssh_key::PublicKey::from_openssh(line).unwrap();
            assert_eq!(key.comment().to_string(), format!("bench{i}"));
            assert_eq!(
                key.key_data(),
                session_key(Some(7), i as u32).public_key().key_data()
            );
        }
    }
}
