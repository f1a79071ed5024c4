//! A said line reaches nobody before it is in the store: a crash right after anyone sees a
//! line cannot lose it. Pinned with a store that is slow to write.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_ssh::chat_store::Profile;
use chat_ssh::chat_store::{
    MemoryStore, Record, Retention, Snapshot, Store, StoreError, StoredLine,
};
use chrono::{DateTime, Utc};
use support::TestServer;

/// A memory store whose writes can be slow (as a slow disk's) or fail (as a full one's).
#[derive(Debug, Default)]
struct TestStore {
    inner: MemoryStore,
    write_time: Duration,
    failing: AtomicBool,
}

impl Store for TestStore {
    fn snapshot(&self, lines: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        self.inner.snapshot(lines, rooms)
    }
    fn profile(&self, fingerprint: &str) -> Result<Profile, StoreError> {
        self.inner.profile(fingerprint)
    }
    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        std::thread::sleep(self.write_time);
        if self.failing.load(Ordering::SeqCst) {
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
async fn a_line_is_delivered_only_once_it_is_stored() {
    let store = Arc::new(TestStore {
        write_time: Duration::from_millis(400),
        ..TestStore::default()
    });
    let shared: Arc<dyn Store> = store.clone();
    let server = TestServer::start_with(|c| c.runtime.store = Some(shared)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_does_not_stop_the_chat_and_catches_up_when_it_recovers() {
    let store = Arc::new(TestStore::default());
    store.failing.store(true, Ordering::SeqCst);
    let shared: Arc<dyn Store> = store.clone();
    let server = TestServer::start_with(|c| c.runtime.store = Some(shared)).await;
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
    store.failing.store(false, Ordering::SeqCst);
    support::eventually("the writer to catch up", Duration::from_secs(15), || {
        store.line_count().unwrap() == 3
    })
    .await
    .expect("the lines kept while the store failed are written once it recovers");
}
