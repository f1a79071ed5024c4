//! The chat's key directory (accounts and their SSH keys) on Amazon DynamoDB.
//!
//! [`DynamoDirectory`] implements [`chat_store::Directory`] and passes the same conformance
//! suite as the SQLite and in-memory directories, against a real DynamoDB-compatible server.
//! It is for deployments that outgrow one machine: every server of a cluster, and
//! `chat-cli accounts`, share one table.
//!
//! The contract, in short (chat-dynamo/README.md has the whole table design and its costs):
//! - One table (`pk` only) with one index (`by_account`), as the Terraform creates it; the
//!   items are described in [`items`].
//! - Names and keys are unique because every change is one `TransactWriteItems` whose
//!   elements claim `NAME#…` and `KEY#…` items with `attribute_not_exists(pk)`: of two racing
//!   claims DynamoDB lets exactly one through, and the loser learns which claim failed
//!   (`NameTaken` with the holder's spelling, or `KeyTaken`). Nothing is checked by reading
//!   first and writing after.
//! - Every read is strongly consistent, so a change is seen by the next call on any server.
//! - Every call is bounded ([`Timeouts`]): a few seconds, the SDK's retries with backoff for
//!   throttling included; an outage is [`DirectoryError::Unavailable`], never a hang.
//!
//! This is the only crate of the workspace that compiles the AWS SDK.

mod client;
pub mod config;
mod directory;
mod errors;
pub mod items;
mod reads;
mod table;
mod writes;

use aws_sdk_dynamodb::Client;

pub use chat_store::directory::DirectoryError;
pub use config::{ConfigError, DirectoryUrl, Timeouts};

/// The name of the one index the table has: items of an account, by `account_id`.
pub const INDEX: &str = "by_account";

/// How to connect, beyond the URL.
#[derive(Clone, Default)]
pub struct Options {
    pub timeouts: Timeouts,
    /// Fixed credentials instead of the AWS chain: for tests against a local server, so that
    /// nothing ever asks an instance-metadata service. `(access key id, secret)`.
    pub static_credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Options {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("timeouts", &self.timeouts)
            .field(
                "static_credentials",
                &self.static_credentials.as_ref().map(|(id, _)| (id, "…")),
            )
            .finish()
    }
}

/// Accounts in one DynamoDB table. Cloning shares the client (and its connections).
#[derive(Debug, Clone)]
pub struct DynamoDirectory {
    client: Client,
    url: DirectoryUrl,
    /// The region in use, whether the URL named it or the AWS chain found it.
    region: String,
}

impl DynamoDirectory {
    /// Connects to the table a `dynamodb://TABLE?region=R[&endpoint=URL]` value names, with
    /// credentials from the standard AWS chain (environment, profile, instance role).
    /// Nothing is sent yet: call [`DynamoDirectory::check`] to learn whether the table is
    /// there.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        Self::connect_with(url, Options::default()).await
    }

    /// [`DynamoDirectory::connect`] with other time bounds or fixed credentials.
    pub async fn connect_with(url: &str, options: Options) -> Result<Self, ConfigError> {
        let url = DirectoryUrl::parse(url)?;
        let (client, region) = client::build(&url, &options).await?;
        Ok(Self {
            client,
            url,
            region,
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.url.table
    }

    /// The URL that names this directory, for messages that say what to run.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// Maps a failed SDK call with this table's name.
    fn error<E, R>(&self, error: aws_sdk_dynamodb::error::SdkError<E, R>) -> DirectoryError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        errors::sdk(error, &self.url.table, &self.url())
    }
}
