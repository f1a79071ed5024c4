//! A said line reaches nobody before it is in the store: a crash right after anyone sees a
//! line cannot lose it. Pinned with a store that is slow to write.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chat_ssh::chat_store::Profile;
use chat_ssh::chat_store::{
    MemoryStore, Record, Retention, Snapshot, Store, StoreError, StoredLine,
};
use chrono::{DateTime, Utc};
use support::TestServer;

/// A memory store that takes its time to write, as a slow disk would.
#[derive(Debug, Default)]
struct SlowStore {
    inner: MemoryStore,
}

const WRITE_TIME: Duration = Duration::from_millis(400);

impl Store for SlowStore {
    fn snapshot(&self, lines: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        self.inner.snapshot(lines, rooms)
    }
    fn profile(&self, fingerprint: &str) -> Result<Profile, StoreError> {
        self.inner.profile(fingerprint)
    }
    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        std::thread::sleep(WRITE_TIME);
        self.inner.apply(records)
    }
    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError> {
        self.inner.history(room, limit)
    }
    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.prune(retention, now)
    }
    fn line_count(&self) -> Result<usize, StoreError> {
        self.inner.line_count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_is_delivered_only_once_it_is_stored() {
    let store = Arc::new(SlowStore::default());
    let shared: Arc<dyn Store> = store.clone();
    let server = TestServer::start_with(|c| c.store = Some(shared)).await;
    let alice = server.plain("alice").await;
    let mut bob = server.plain("bob").await;
    for i in 0..3 {
        let before = store.line_count().unwrap();
        alice.say(&format!("stored first {i}")).await;
        bob.expect(&format!("alice: stored first {i}")).await;
        assert_eq!(
            store.line_count().unwrap(),
            before + 1,
            "bob saw line {i} before the store had it"
        );
    }
}

/// A memory store whose writes fail until it is told to recover, as a full or read-only disk
/// would.
#[derive(Debug, Default)]
struct FailingStore {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
}

impl Store for FailingStore {
    fn snapshot(&self, lines: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        self.inner.snapshot(lines, rooms)
    }
    fn profile(&self, fingerprint: &str) -> Result<Profile, StoreError> {
        self.inner.profile(fingerprint)
    }
    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::DiskFull {
                path: "/full/disk/chat.db".into(),
            });
        }
        self.inner.apply(records)
    }
    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError> {
        self.inner.history(room, limit)
    }
    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.prune(retention, now)
    }
    fn line_count(&self) -> Result<usize, StoreError> {
        self.inner.line_count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_does_not_stop_the_chat_and_catches_up_when_it_recovers() {
    let store = Arc::new(FailingStore::default());
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let shared: Arc<dyn Store> = store.clone();
    let server = TestServer::start_with(|c| c.store = Some(shared)).await;
    let alice = server.plain("alice").await;
    let mut bob = server.plain("bob").await;
    for i in 0..3 {
        let sent = std::time::Instant::now();
        alice.say(&format!("while the disk is full {i}")).await;
        bob.expect(&format!("alice: while the disk is full {i}"))
            .await;
        assert!(
            sent.elapsed() < Duration::from_millis(1500),
            "delivery does not wait out a failing store: {:?}",
            sent.elapsed()
        );
    }
    assert_eq!(
        store.line_count().unwrap(),
        0,
        "nothing could be written yet"
    );
    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    support::eventually("the writer to catch up", Duration::from_secs(15), || {
        store.line_count().unwrap() == 3
    })
    .await
    .expect("the lines kept while the store failed are written once it recovers");
}
