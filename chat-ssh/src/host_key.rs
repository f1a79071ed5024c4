//! The server's host key: loaded from disk, or made once and kept, so that the fingerprint
//! users pin survives restarts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use thiserror::Error;

/// The host key's file name inside the data directory.
pub const DEFAULT_FILE_NAME: &str = "host_ed25519_key";

#[derive(Debug, Error)]
pub enum HostKeyError {
    #[error("cannot create the directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read the host key {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "the host key {} is not a valid unencrypted OpenSSH private key ({reason}); \
         fix or remove it (a new key changes the fingerprint users see)",
        path.display()
    )]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot generate a host key: {0}")]
    Generate(String),
    #[error("cannot write the host key {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// Whether the key was found or had to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Loaded,
    Generated,
}

/// Loads the key at `path`, or, if there is no file there, generates an Ed25519 key and writes
/// it (OpenSSH format, mode 0600, its directory created 0700 if needed).
pub fn load_or_generate(path: &Path) -> Result<(PrivateKey, Origin), HostKeyError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let key = PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            if key.is_encrypted() {
                return Err(HostKeyError::Invalid {
                    path: path.to_owned(),
                    reason: "it is encrypted with a passphrase".to_owned(),
                });
            }
            Ok((key, Origin::Loaded))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((generate(path)?, Origin::Generated)),
        Err(source) => Err(HostKeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn generate(path: &Path) -> Result<PrivateKey, HostKeyError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|source| HostKeyError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| HostKeyError::Generate(e.to_string()))?;
    key.write_openssh_file(path, LineEnding::LF)
        .map_err(|e| HostKeyError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(key)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The key's SHA256 fingerprint as `ssh-keygen -l` prints it: `SHA256:…`.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The key's public half as an OpenSSH line without a comment (`ssh-ed25519 AAAA…`), as a
/// `known_hosts` line needs it.
pub fn public_openssh(key: &PrivateKey) -> String {
    let mut public = key.public_key().clone();
    public.set_comment("");
    public
        .to_openssh()
        .unwrap_or_else(|_| String::new())
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(DEFAULT_FILE_NAME);
        let (first, origin) = load_or_generate(&path).unwrap();
        assert_eq!(origin, Origin::Generated);
        let (second, origin) = load_or_generate(&path).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(fingerprint(&first), fingerprint(&second));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE_NAME);
        fs::write(&path, "not a key").unwrap();
        let error = load_or_generate(&path).unwrap_err().to_string();
        assert!(
            error.contains("is not a valid unencrypted OpenSSH private key"),
            "{error}"
        );
        assert!(error.contains(&path.display().to_string()));
    }
}
