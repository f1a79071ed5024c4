//! A Redis for the cluster tests: the one CI started (`CHAT_TEST_REDIS`), or one of the
//! test's own (`redis-server` on a free port, in a temp dir, persistence on), which fault
//! tests need so they can stop and restart it without disturbing anyone else.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The URL of the Redis CI started, in database `db` (emptied first); without one, a Redis
/// of the test's own. The tests never skip for want of Redis.
pub fn shared(db: u8) -> (String, Option<RedisServer>) {
    match std::env::var("CHAT_TEST_REDIS") {
        Ok(base) if !base.is_empty() => {
            let url = format!("{}/{db}", base.trim_end_matches('/'));
            cli(&url, &["FLUSHDB"]);
            (url, None)
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but CHAT_TEST_REDIS is not set: .ci/run starts Redis for these tests"
            );
            let server = RedisServer::start();
            (server.url(), Some(server))
        }
    }
}

/// Runs `redis-cli -u URL ARGS...` and returns what it printed.
pub fn cli(url: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(url)
        .args(args)
        .output()
        .expect("redis-cli runs (apt-get install redis-server)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `redis-server` of the test's own, with AOF persistence in a temp dir; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = crate::support::free_port();
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", "", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while cli(&self.url(), &["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGSTOP: Redis stops answering, its connections stay open.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Stops Redis (SIGTERM: it writes its AOF) and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.signal("-TERM");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
