//! A `redis-server` for the tests: the one CI started (`CHAT_TEST_REDIS`, database 2), or one of
//! the test's own on a free loopback port. Never skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own (in a temp dir), killed on drop.
pub struct OwnRedis {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn redis() -> (String, Option<OwnRedis>) {
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
