//! The table itself: checking it at start-up, and creating it for development and tests
//! (production tables come from the Terraform, which makes exactly this shape).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
};
use chat_store::directory::DirectoryError;

use crate::items::{ACCOUNT_ID, PK};
use crate::{DynamoDirectory, INDEX, errors};

/// How long [`DynamoDirectory::create_table`] waits for the table to become usable: AWS
/// takes seconds to a minute, dynalite milliseconds.
const CREATE_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

impl DynamoDirectory {
    /// Checks that the table exists, is usable, and has the key and index the directory
    /// needs (one `DescribeTable`). For start-up: a missing table is
    /// [`DirectoryError::NotSetUp`] saying how to create it; an unreachable endpoint is
    /// [`DirectoryError::Unavailable`] within the time bounds.
    pub async fn check(&self) -> Result<(), DirectoryError> {
        let table = self.describe_table().await?;
        check_shape(&table, self.table())?;
        match table.table_status() {
            Some(TableStatus::Active | TableStatus::Updating) => Ok(()),
            status => Err(DirectoryError::Unavailable(format!(
                "the table {} is {} (not ACTIVE yet)",
                self.table(),
                status.map_or("in no known state", |s| s.as_str())
            ))),
        }
    }

    async fn describe_table(&self) -> Result<TableDescription, DirectoryError> {
        let output = self
            .client
            .describe_table()
            .table_name(self.table())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(DescribeTableError::ResourceNotFoundException(_)) => {
                    errors::missing_table(self.table(), &self.url())
                }
                _ => self.error(e),
            })?;
        output.table.ok_or_else(|| {
            DirectoryError::Backend(format!(
                "DynamoDB described table {} as nothing",
                self.table()
            ))
        })
    }

    /// Creates the table (on-demand, key `pk`, index `by_account`) unless it exists, and
    /// waits until it and its index are ACTIVE. An existing table of another shape is an
    /// error, not something to change.
    pub async fn create_table(&self) -> Result<(), DirectoryError> {
        let string = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let hash = |name: &str| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::Hash)
                .build()
        };
        let bad = |e: aws_sdk_dynamodb::error::BuildError| {
            DirectoryError::Backend(format!("a bad table definition: {e}"))
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(INDEX)
            .key_schema(hash(ACCOUNT_ID).map_err(bad)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(bad)?;
        let created = self
            .client
            .create_table()
            .table_name(self.table())
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string(PK).map_err(bad)?)
            .attribute_definitions(string(ACCOUNT_ID).map_err(bad)?)
            .key_schema(hash(PK).map_err(bad)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(CreateTableError::ResourceInUseException(_))
                ) => {}
            Err(e) => return Err(self.error(e)),
        }
        let started = Instant::now();
        loop {
            let table = self.describe_table().await?;
            check_shape(&table, self.table())?;
            let ready = table.table_status() == Some(&TableStatus::Active)
                && table
                    .global_secondary_indexes()
                    .iter()
                    .all(|i| i.index_status() == Some(&IndexStatus::Active));
            if ready {
                return Ok(());
            }
            if started.elapsed() > CREATE_WAIT {
                return Err(DirectoryError::Unavailable(format!(
                    "the table {} was not ACTIVE after {CREATE_WAIT:?}",
                    self.table()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The table must be keyed by `pk` (a string) alone and have the `by_account` index:
/// anything else is another table, and writing our items into it would be a mess.
fn check_shape(table: &TableDescription, name: &str) -> Result<(), DirectoryError> {
    let wrong = |what: &str| {
        DirectoryError::NotSetUp(format!(
            "the table {name} is not a chat directory table: {what} \
             (it needs the hash key pk of type S, no range key, and the index {INDEX} on account_id)"
        ))
    };
    let keys = table.key_schema();
    let hash_is_pk =
        keys.len() == 1 && keys[0].attribute_name() == PK && keys[0].key_type() == &KeyType::Hash;
    if !hash_is_pk {
        return Err(wrong("its key is not pk alone"));
    }
    let pk_is_string = table
        .attribute_definitions()
        .iter()
        .any(|a| a.attribute_name() == PK && a.attribute_type() == &ScalarAttributeType::S);
    if !pk_is_string {
        return Err(wrong("pk is not a string"));
    }
    let has_index = table.global_secondary_indexes().iter().any(|index| {
        index.index_name() == Some(INDEX)
            && index
                .key_schema()
                .first()
                .is_some_and(|k| k.attribute_name() == ACCOUNT_ID)
    });
    if !has_index {
        return Err(wrong("the index by_account is missing"));
    }
    Ok(())
}
