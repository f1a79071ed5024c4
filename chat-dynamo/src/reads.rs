//! Strongly consistent reads: one item, a batch of items, and the scan that lists accounts.
//!
//! Every read asks for consistency (1 read unit per 4 KB instead of ½), so that what one
//! server or `chat-cli` changed is what the next call anywhere sees: the conformance suite,
//! and an operator removing a key, rely on it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chat_store::directory::DirectoryError;

use crate::DynamoDirectory;
use crate::items::{ACCOUNT_ID, Item, KIND, KIND_ACCOUNT, PK, text};

/// `BatchGetItem` takes at most this many keys.
const BATCH: usize = 100;

/// Rounds for keys DynamoDB left unprocessed (it does so when throttled), with a growing
/// pause between them; then the read is `Unavailable`.
const UNPROCESSED_ROUNDS: u32 = 4;

fn key(pk: &str) -> Item {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk.to_owned()))])
}

impl DynamoDirectory {
    /// One item by `pk`, if it exists.
    pub(crate) async fn get(&self, pk: &str) -> Result<Option<Item>, DirectoryError> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(output.item)
    }

    /// The items of these `pk`s that exist, by `pk`, in as few round trips as DynamoDB
    /// allows (one for up to 100 keys, unless it is throttling).
    pub(crate) async fn get_many(
        &self,
        pks: &[String],
    ) -> Result<HashMap<String, Item>, DirectoryError> {
        let mut unique = HashSet::new();
        let pks: Vec<&String> = pks.iter().filter(|pk| unique.insert(*pk)).collect();
        let mut found = HashMap::new();
        for chunk in pks.chunks(BATCH) {
            let mut wanted: Vec<Item> = chunk.iter().map(|pk| key(pk)).collect();
            for round in 0..UNPROCESSED_ROUNDS {
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << round)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| DirectoryError::Backend(format!("a bad read: {e}")))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await
                    .map_err(|e| self.error(e))?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(self.table()))
                    .unwrap_or_default()
                {
                    if let Some(pk) = text(&item, PK) {
                        found.insert(pk.to_owned(), item);
                    }
                }
                wanted = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if wanted.is_empty() {
                    break;
                }
            }
            if !wanted.is_empty() {
                return Err(DirectoryError::Unavailable(
                    "DynamoDB is throttling reads".to_owned(),
                ));
            }
        }
        Ok(found)
    }

    /// Every `ACCOUNT#` item: a scan of the whole table, page by page (each page is at most
    /// 1 MB read). For operators and start-up, not for logins.
    pub(crate) async fn scan_accounts(&self) -> Result<Vec<Item>, DirectoryError> {
        let mut accounts = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(self.table())
                .consistent_read(true)
                .filter_expression("#kind = :account AND attribute_exists(#id)")
                .expression_attribute_names("#kind", KIND)
                .expression_attribute_names("#id", ACCOUNT_ID)
                .expression_attribute_values(":account", AttributeValue::S(KIND_ACCOUNT.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.error(e))?;
            accounts.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(accounts),
            }
        }
    }
}
