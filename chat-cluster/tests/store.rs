//! `RedisStore` against a real `redis-server`: the store conformance suite that the SQLite
//! store passes. Uses the Redis CI started (`CHAT_TEST_REDIS`, database 2) or starts one of
//! its own on a free loopback port; never skipped.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chat_cluster::RedisStore;

/// A `redis-server` of the test's own (in a temp dir), killed on drop.
struct OwnRedis {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis() -> (String, Option<OwnRedis>) {
    if let Ok(base) = std::env::var("CHAT_TEST_REDIS")
        && !base.is_empty()
    {
        return (format!("{}/2", base.trim_end_matches('/')), None);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let dir = tempfile::tempdir().expect("a temp dir");
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (apt-get install redis-server)");
    let own = OwnRedis { child, _dir: dir };
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).expect("a valid URL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .get_connection()
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_err()
    {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (url, Some(own))
}

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
