//! `chat-store`: where the chat remembers things across restarts.
//!
//! The hub (`chat-core`) does no I/O: it hands the edge [`Record`]s to write and takes back a
//! [`Snapshot`] at start-up and a key's [`Profile`] when it joins. A [`Store`] is what the
//! edge writes them to and reads them from. Two implementations pass the same
//! [`conformance`] suite: [`MemoryStore`] for tests, and [`SqliteStore`], the embedded default
//! (one file, WAL mode, nothing to set up). A remote store (DynamoDB, say) implements the same
//! trait.
//!
//! Calls may block on disk or network: the edge makes them off its async runtime (a writer
//! task that batches records into one [`Store::apply`] per transaction, `spawn_blocking` for
//! reads), never under the hub's lock.

pub mod conformance;
pub mod directory;
mod error;
mod memory;
mod sqlite;

use std::fmt::Debug;
use std::time::Duration;

pub use chat_core::journal::{OfflineMessage, Profile, Record, Settings, Snapshot, StoredLine};
use chrono::{DateTime, Utc};
pub use directory::{Directory, DirectoryError, MemoryDirectory, SqliteDirectory};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Lines kept per room; older ones are pruned.
    pub lines_per_room: usize,
    /// Lines older than this are pruned, if set.
    pub max_age: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            lines_per_room: 10_000,
            max_age: None,
        }
    }
}

/// What the chat remembers. See the crate documentation for how the edge uses it.
pub trait Store: Send + Sync + Debug {
    /// What the hub needs at start-up: the last `lines_per_room` lines of each of the `rooms`
    /// most recently active rooms, how many offline messages wait for each account, and the
    /// bans in force. (Names and operators are the directory's: the snapshot leaves them
    /// empty.)
    fn snapshot(&self, lines_per_room: usize, rooms: usize) -> Result<Snapshot, StoreError>;

    /// What is remembered about one account (by its id): its settings and the messages
    /// waiting for it.
    fn profile(&self, owner: &str) -> Result<Profile, StoreError>;

    /// Writes `records` in order, all or nothing.
    fn apply(&self, records: &[Record]) -> Result<(), StoreError>;

    /// The last `limit` lines said in `room` (display name, any case), oldest first.
    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError>;

    /// Forgets history beyond the retention limits. Returns how many lines went.
    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// How many lines are stored in all (for tests and operators).
    fn line_count(&self) -> Result<usize, StoreError>;
}
