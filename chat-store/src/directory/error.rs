//! What can go wrong with the directory, said so that a user or an operator knows what to do.

use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Another account has this name, or one that looks like it; `taken` is how that
    /// account spells it.
    #[error("{wanted} is taken{}", if taken == wanted { String::new() } else { format!(" (it looks too much like {taken})") })]
    NameTaken { wanted: String, taken: String },
    #[error("that key is already in an account{}", account.as_ref().map(|a| format!(" ({a})")).unwrap_or_default())]
    KeyTaken {
        /// The holder's name, when it may be said (to the holder, or to an operator).
        account: Option<String>,
    },
    #[error("there is no such account")]
    NoSuchAccount,
    #[error("there is no key {fingerprint} in {}", if *in_account { "this account" } else { "any account" })]
    NoSuchKey {
        fingerprint: String,
        /// Whether the search was within one account.
        in_account: bool,
    },
    #[error(
        "that is the account's last key; an account keeps at least one (delete the account instead)"
    )]
    LastKey,
    #[error("an account holds at most {max} keys; remove one first")]
    TooManyKeys { max: usize },
    #[error("not a valid name: {0}")]
    InvalidName(String),
    #[error("not a valid label: {0}")]
    InvalidLabel(String),
    /// The backend could not be reached or did not answer in time; the call may be retried.
    #[error("the key store is unavailable ({0}); try again")]
    Unavailable(String),
    /// The backend answered, but is not set up for us (a missing table, a wrong schema).
    #[error("the key store is not set up: {0}")]
    NotSetUp(String),
    /// Anything else the backend reported.
    #[error("key store error: {0}")]
    Backend(String),
}

impl DirectoryError {
    /// Whether this is the backend failing (as opposed to a refusal of the request).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            DirectoryError::Unavailable(_) | DirectoryError::Backend(_)
        )
    }
}
