//! The key directory: accounts, and the public keys that log in as them.
//!
//! An account is a name and one or more public keys. A key belongs to at most one account and
//! a name to at most one account, names compared as the chat compares them
//! ([`chat_core::name::fold`]: case and look-alikes). The directory answers "which account
//! holds this key?" at every login, so the edge caches it (see `chat-server`); every change
//! goes to the backend, which enforces uniqueness itself (a SQLite constraint, a DynamoDB
//! conditional write), never by reading first and writing after.
//!
//! Two backends pass the same [`conformance`] suite: [`SqliteDirectory`] (in the chat's
//! database file, the default) and `chat_dynamo::DynamoDirectory` (Amazon DynamoDB, for
//! deployments that outgrow one machine).
//!
//! Calls are `async` because a remote backend waits on the network; the SQLite backend runs
//! its queries on Tokio's blocking pool. Every change names who made it ([`Actor`]) and the
//! backend keeps an audit entry for it beside the change.
//!
//! Keys arrive here already checked (type, size, proof of possession): the directory stores
//! what it is given and does not parse keys.

pub mod conformance;
mod error;
mod memory;
mod sqlite;

use std::fmt::Debug;

use async_trait::async_trait;
use chat_core::AccountRef;
use chrono::{DateTime, Utc};

pub use error::DirectoryError;
pub use memory::MemoryDirectory;
pub use sqlite::SqliteDirectory;

/// The most keys one account may hold: enough for every device a person has, few enough that
/// a change to the account can be one transaction in any backend.
pub const MAX_KEYS_PER_ACCOUNT: usize = 16;

/// The longest key label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// An account as the directory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable and opaque: names change, ids do not. Made by the backend.
    pub id: String,
    /// The name as its owner spells it.
    pub name: String,
    /// Whether the account's members are operators (the admins file, read by the server,
    /// grants this too, and wins).
    pub operator: bool,
    pub created_at: DateTime<Utc>,
    /// Oldest first.
    pub keys: Vec<AccountKey>,
}

impl From<&Account> for AccountRef {
    fn from(account: &Account) -> Self {
        AccountRef {
            id: account.id.clone(),
            name: account.name.clone(),
            operator: account.operator,
        }
    }
}

/// One public key of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// `SHA256:…`, as `ssh-keygen -l` prints it: the key's identity.
    pub fingerprint: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`, …; empty when not known (a key
    /// that came from a name claim before accounts existed, until its next login).
    pub algorithm: String,
    /// The key as an `authorized_keys` line without options or comment (`ssh-ed25519
    /// AAAA…`); empty when not known (as for `algorithm`).
    pub public_key: String,
    /// What its owner calls it (`laptop`); may be empty.
    pub label: String,
    pub added_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key to add to an account, already checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub fingerprint: String,
    pub algorithm: String,
    pub public_key: String,
    pub label: String,
}

/// Who made a change, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `alice (ssh)`, `operator (chat-cli)`, `web 203.0.113.7`: whatever says who it was.
    pub who: String,
    /// The key the actor proved, if any.
    pub fingerprint: Option<String>,
}

impl Actor {
    pub fn new(who: impl Into<String>, fingerprint: Option<String>) -> Self {
        Self {
            who: who.into(),
            fingerprint,
        }
    }
}

/// One change to the directory, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryAudit {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// In words: `create account alice with key SHA256:…`.
    pub action: String,
}

/// What a login needs to know, found in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Login {
    /// The account that holds the key, if any.
    pub account: Option<Account>,
    /// The account that owns the name the client asked for, if any (as `(id, name)`): lets
    /// the chat refuse a registered name to anyone else even if it has not seen it lately.
    pub name_owner: Option<(String, String)>,
}

/// Where accounts live. See the module documentation.
#[async_trait]
pub trait Directory: Send + Sync + Debug {
    /// A short description for logs and errors: `sqlite:/var/lib/chat/chat.db`,
    /// `dynamodb://chat-accounts (eu-west-1)`.
    fn describe(&self) -> String;

    /// Which account holds `fingerprint`, and which owns `wanted_name` (if given and it
    /// cleans to a name): what a login needs, in at most one round trip.
    async fn login(
        &self,
        fingerprint: &str,
        wanted_name: Option<&str>,
    ) -> Result<Login, DirectoryError>;

    /// The account called `name` (compared as names are), if any.
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, DirectoryError>;

    /// The account with this id, if any.
    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, DirectoryError>;

    /// Every account, sorted by name (for operators, and for the hub to know which names are
    /// taken). May be costly on a remote backend: not for the hot path.
    async fn accounts(&self) -> Result<Vec<Account>, DirectoryError>;

    /// What the hub needs of every account (id, name, operator), in no particular order:
    /// what the server reads at start and every `account_refresh` to hear of changes made
    /// elsewhere. A backend that can read less than [`accounts`](Self::accounts) (no keys,
    /// no sorting) should: the refresh runs whatever the traffic, and reading 100 accounts
    /// with their keys cost more instructions than 2,000 deliveries.
    async fn account_refs(&self) -> Result<Vec<AccountRef>, DirectoryError> {
        Ok(self
            .accounts()
            .await?
            .iter()
            .map(AccountRef::from)
            .collect())
    }

    /// Creates an account called `name` with one key. `name` must already be clean
    /// ([`chat_core::name::clean_name`] returns it unchanged). Fails with
    /// [`DirectoryError::NameTaken`] if another account has the name (or one that looks like
    /// it) and [`DirectoryError::KeyTaken`] if the key is in an account: exactly one of two
    /// racing creates wins.
    async fn create_account(
        &self,
        name: &str,
        key: NewKey,
        operator: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError>;

    /// Copies an account from another directory as it is (id, name, times, keys, operator):
    /// for moving from one backend to another. Refused as [`Directory::create_account`] is
    /// when its name or one of its keys is taken (or its id exists), and then nothing is
    /// copied.
    async fn import_account(
        &self,
        account: &Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError>;

    /// Adds a key to an account. Fails if the key is in any account (this one included), the
    /// account is gone, or it holds [`MAX_KEYS_PER_ACCOUNT`] keys already.
    async fn add_key(
        &self,
        account_id: &str,
        key: NewKey,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError>;

    /// Removes a key from the account that holds it; with `account_id`, only from that one
    /// (a member removing one of their own keys). Never the account's last key
    /// ([`DirectoryError::LastKey`]). Returns the account as it is now.
    async fn remove_key(
        &self,
        fingerprint: &str,
        account_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Account, DirectoryError>;

    /// Renames an account; the old name is free at once. Fails with
    /// [`DirectoryError::NameTaken`] if another account has the new name.
    async fn rename_account(
        &self,
        account_id: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError>;

    /// Relabels a key of an account.
    async fn set_label(
        &self,
        account_id: &str,
        fingerprint: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError>;

    /// Makes an account's members operators, or stops.
    async fn set_operator(
        &self,
        account_id: &str,
        operator: bool,
        actor: &Actor,
    ) -> Result<Account, DirectoryError>;

    /// Deletes an account and its keys; its name is free at once.
    async fn delete_account(&self, account_id: &str, actor: &Actor) -> Result<(), DirectoryError>;

    /// Notes that `fingerprint` just logged in, and fills in the algorithm and public key if
    /// the directory did not know them. Not audited (it is not a change anyone made). A key
    /// in no account is ignored.
    async fn touch_key(
        &self,
        fingerprint: &str,
        algorithm: &str,
        public_key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DirectoryError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<DirectoryAudit>, DirectoryError>;
}

/// Checks a label: trimmed, at most [`MAX_LABEL_CHARS`] characters, no control characters.
pub fn clean_label(label: &str) -> Result<String, DirectoryError> {
    let label = label.trim();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(DirectoryError::InvalidLabel(format!(
            "at most {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(DirectoryError::InvalidLabel(
            "no control characters".to_owned(),
        ));
    }
    Ok(label.to_owned())
}

/// Checks that `name` is a name as the chat cleans them, unchanged.
pub fn check_name(name: &str) -> Result<(), DirectoryError> {
    match chat_core::name::clean_name(name) {
        Some(clean) if clean == name => Ok(()),
        Some(clean) => Err(DirectoryError::InvalidName(format!(
            "{name:?} is not a name as the chat writes them; did you mean {clean:?}?"
        ))),
        None => Err(DirectoryError::InvalidName(format!(
            "{name:?} has no letters or digits"
        ))),
    }
}

/// A fresh account id: 128 random bits in hex.
pub fn new_account_id() -> String {
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
