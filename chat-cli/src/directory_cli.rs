//! `chat-cli directory`: setting up a directory, and moving accounts from one to another.

use std::path::PathBuf;

use chat_ssh::chat_store::directory::{Actor, DirectoryError};
use clap::{Args, Subcommand};

use crate::accounts::{self, DirectoryArgs as Target};
use crate::directory::DirectorySpec;

#[derive(Debug, Args)]
pub struct DirectoryArgs {
    #[command(subcommand)]
    pub command: DirectoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Create the DynamoDB table (and its index) the server needs: for development and tests;
    /// in production, Terraform creates it.
    CreateTable {
        /// `dynamodb://TABLE?region=R[&endpoint=URL]`.
        #[arg(long, env = "CHAT_DIRECTORY")]
        directory: DirectorySpec,
    },
    /// Copy every account (ids, names, keys, operators) from one directory to another, e.g.
    /// from the embedded database to DynamoDB before switching a server over. Accounts whose
    /// name or keys are taken in the target are reported and left out.
    Copy {
        /// The directory to read.
        #[arg(long, default_value = "sqlite")]
        from: DirectorySpec,
        /// The directory to write.
        #[arg(long)]
        to: DirectorySpec,
        /// The data directory of a `sqlite` directory.
        #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The database of a `sqlite` directory [default: DATA_DIR/chat.db].
        #[arg(long, env = "CHAT_DATABASE", value_name = "FILE")]
        database: Option<PathBuf>,
    },
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub fn run(args: DirectoryArgs) -> CliResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            DirectoryCommand::CreateTable { directory } => create_table(&directory).await,
            DirectoryCommand::Copy {
                from,
                to,
                data_dir,
                database,
            } => copy(from, to, data_dir, database).await,
        }
    })
}

#[cfg(feature = "dynamodb")]
async fn create_table(directory: &DirectorySpec) -> CliResult {
    let DirectorySpec::Dynamo(url) = directory else {
        return Err("the SQLite directory makes its own tables; nothing to create".into());
    };
    let directory = chat_dynamo::DynamoDirectory::connect(url).await?;
    directory.create_table().await?;
    println!(
        "created the table {}; the server can use --directory {url}",
        directory.table()
    );
    Ok(())
}

#[cfg(not(feature = "dynamodb"))]
async fn create_table(directory: &DirectorySpec) -> CliResult {
    match directory {
        DirectorySpec::Sqlite => {
            Err("the SQLite directory makes its own tables; nothing to create".into())
        }
        DirectorySpec::Dynamo(url) => Err(format!(
            "cannot use {url}: this chat-cli was built without DynamoDB support (the `dynamodb` feature)"
        )
        .into()),
    }
}

async fn copy(
    from: DirectorySpec,
    to: DirectorySpec,
    data_dir: PathBuf,
    database: Option<PathBuf>,
) -> CliResult {
    if from == to {
        return Err("--from and --to are the same directory".into());
    }
    let source = accounts::open(&Target {
        directory: from,
        data_dir: data_dir.clone(),
        database: database.clone(),
    })
    .await?;
    let target = accounts::open(&Target {
        directory: to,
        data_dir,
        database,
    })
    .await?;
    let actor = Actor::new("chat-cli directory copy", None);
    let (mut copied, mut skipped) = (0, 0);
    for account in source.accounts().await? {
        match target.import_account(&account, &actor).await {
            Ok(_) => copied += 1,
            Err(error @ (DirectoryError::NameTaken { .. } | DirectoryError::KeyTaken { .. })) => {
                skipped += 1;
                println!("skipped {}: {error}", account.name);
            }
            Err(DirectoryError::Backend(reason)) if reason.contains("exists") => {
                skipped += 1;
                println!("skipped {}: already copied", account.name);
            }
            Err(error) => return Err(format!("copying {}: {error}", account.name).into()),
        }
    }
    println!(
        "copied {copied} accounts from {} to {}; {skipped} skipped",
        source.describe(),
        target.describe()
    );
    Ok(())
}
