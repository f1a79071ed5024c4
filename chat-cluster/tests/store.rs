//! `RedisStore` against a real `redis-server`: the store conformance suite that the SQLite
//! store passes. Uses the Redis CI started (`CHAT_TEST_REDIS`, database 2) or starts one of
//! its own on a free loopback port; never skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use chat_cluster::RedisStore;

mod support;
use support::redis;

#[test]
fn the_redis_store_passes_the_store_conformance_suite() {
    let (url, _own) = redis();
    // Each store the suite asks for starts empty: its own key prefix.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let run = std::process::id();
    chat_store::conformance::run_all(&|| {
        let prefix = format!("test-{run}-{}:", NEXT.fetch_add(1, Ordering::Relaxed));
        Box::new(RedisStore::open(&url, &prefix).expect("Redis is up"))
    });
}
