//! Where accounts live, as the `--directory` flag names it, and opening it.
//!
//! `sqlite` (the default) keeps them in the chat's own database file; `dynamodb://TABLE?...`
//! in Amazon DynamoDB (or a DynamoDB-compatible server given by `endpoint=`), which several
//! servers can share.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chat_ssh::chat_store::{Directory, SqliteDirectory};

/// The value of `--directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectorySpec {
    /// In the chat's SQLite database (`--database`).
    Sqlite,
    /// `dynamodb://TABLE?region=R[&endpoint=URL]`, as given.
    Dynamo(String),
}

impl FromStr for DirectorySpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "sqlite" => Ok(DirectorySpec::Sqlite),
            url if url.starts_with("dynamodb://") => Ok(DirectorySpec::Dynamo(url.to_owned())),
            other => Err(format!(
                "{other:?} is not a directory: `sqlite`, or `dynamodb://TABLE?region=REGION[&endpoint=URL]`"
            )),
        }
    }
}

impl std::fmt::Display for DirectorySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectorySpec::Sqlite => f.write_str("sqlite"),
            DirectorySpec::Dynamo(url) => f.write_str(url),
        }
    }
}

impl DirectorySpec {
    /// How often a server reads the whole list of accounts again: cheap for SQLite, a table
    /// scan (billed) for DynamoDB.
    pub fn refresh_interval(&self) -> Duration {
        match self {
            DirectorySpec::Sqlite => Duration::from_secs(30),
            DirectorySpec::Dynamo(_) => Duration::from_secs(300),
        }
    }

    /// Opens the directory (`database` is the SQLite file, for `sqlite`), checking that it
    /// can be used.
    pub async fn open(&self, database: &Path) -> Result<Arc<dyn Directory>, String> {
        match self {
            DirectorySpec::Sqlite => {
                let directory = SqliteDirectory::open(database).map_err(|e| e.to_string())?;
                Ok(Arc::new(directory))
            }
            DirectorySpec::Dynamo(url) => open_dynamo(url).await,
        }
    }
}

#[cfg(feature = "dynamodb")]
async fn open_dynamo(url: &str) -> Result<Arc<dyn Directory>, String> {
    let directory = chat_dynamo::DynamoDirectory::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    // Fail at start-up, with what to do, rather than at the first login.
    directory.check().await.map_err(|e| e.to_string())?;
    Ok(Arc::new(directory))
}

#[cfg(not(feature = "dynamodb"))]
async fn open_dynamo(url: &str) -> Result<Arc<dyn Directory>, String> {
    Err(format!(
        "cannot use {url}: this chat-cli was built without DynamoDB support (the `dynamodb` feature)"
    ))
}

/// Where the SQLite database is, from `--database` or the data directory.
pub fn database_path(data_dir: &Path, database: Option<&PathBuf>) -> PathBuf {
    database
        .cloned()
        .unwrap_or_else(|| data_dir.join("chat.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_takes_sqlite_or_a_dynamodb_url() {
        assert_eq!("sqlite".parse(), Ok(DirectorySpec::Sqlite));
        assert_eq!(
            "dynamodb://chat?region=eu-west-1".parse(),
            Ok(DirectorySpec::Dynamo(
                "dynamodb://chat?region=eu-west-1".into()
            ))
        );
        let error = "postgres://x".parse::<DirectorySpec>().unwrap_err();
        assert!(error.contains("dynamodb://TABLE"), "{error}");
    }
}
