//! What can go wrong with a store, said so that an operator knows what to do.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error(
        "the database {} is corrupt or not a chat database ({reason}); move it aside to start \
         afresh, or restore a backup",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the database {} is locked by another process; is another chat server running on the \
         same data directory?",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error(
        "the database {} was written by a newer version (schema {found}; this build knows up to \
         {supported}); run a newer chat-cli, or move the file aside",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "the database {} cannot be written (read-only file or file system); fix its permissions \
         or mount",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    #[error("the disk holding the database {} is full; free some space", path.display())]
    DiskFull { path: PathBuf },
    #[error("database error on {}: {reason}", path.display())]
    Other { path: PathBuf, reason: String },
    /// A store on another machine (Redis, for a cluster) did not answer or refused.
    #[error("the store at {store} failed: {reason}")]
    Remote { store: String, reason: String },
}
