//! Who may come in and who is an admin: the allowlist and admins files, and their reloading.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::keyfile::{self, KeyFileError};

/// Where the access files are. Either may be absent.
#[derive(Debug, Clone, Default)]
pub struct AccessFiles {
    /// Keys of operators no `/deop` can touch (`authorized_keys` format).
    pub admins: Option<PathBuf>,
    /// With it, only these keys (and the admins') get in.
    pub allowlist: Option<PathBuf>,
}

/// The files, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    pub admins: HashSet<String>,
    /// `None`: everyone may come in (keys and keyless alike).
    pub allowed: Option<HashSet<String>>,
}

impl AccessList {
    /// Reads the files. An unreadable file or a bad line is an error naming the file and line.
    pub fn load(files: &AccessFiles) -> Result<Self, KeyFileError> {
        let read = |path: &PathBuf| -> Result<HashSet<String>, KeyFileError> {
            Ok(keyfile::read(path)?
                .iter()
                .map(keyfile::ListedKey::fingerprint)
                .collect())
        };
        Ok(Self {
            admins: files
                .admins
                .as_ref()
                .map(read)
                .transpose()?
                .unwrap_or_default(),
            allowed: files.allowlist.as_ref().map(read).transpose()?,
        })
    }

    /// Whether a key may come in.
    pub fn admits_key(&self, fingerprint: &str) -> bool {
        self.allowed.as_ref().is_none_or(|allowed| {
            allowed.contains(fingerprint) || self.admins.contains(fingerprint)
        })
    }

    /// Whether someone without a key may come in.
    pub fn admits_keyless(&self) -> bool {
        self.allowed.is_none()
    }

    /// A line for the log and for `/reload`'s answer.
    pub fn summary(&self) -> String {
        let allow = match &self.allowed {
            Some(keys) => format!("{} keys on the allowlist", keys.len()),
            None => "no allowlist (everyone may join)".to_owned(),
        };
        format!("{} admins, {allow}", self.admins.len())
    }
}
