//! Every answer that promises a record ("they will get your message", a ban, a setting, an
//! operator grant, a key added) is a record on disk by the time the member reads it: the
//! server is killed with SIGKILL the moment the answer arrives, and after a restart the
//! record is there. The real binary, the real OpenSSH client, and the real SQLite file.
//!
//! To make the window wide enough to fail without the guarantee, the test holds the
//! database's write lock from outside while the command runs (as a backup, a slow disk or a
//! long checkpoint would): the server's writes wait behind it, and an answer that went out
//! before its record was committed would be lost with the process. A chatter keeps the
//! writer busy meanwhile.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{Identity, PlainSession, ServerProcess, exec, make_key};

const WAIT: Duration = Duration::from_secs(20);
/// How long the write lock is held: well under the server's wait for a commit (2 s), so
/// the answer waits for the commit rather than going out with a "not stored yet".
const HOLD: Duration = Duration::from_millis(600);

/// Holds `chat.db`'s write lock from another connection for `hold`; returns once it is
/// taken.
fn hold_write_lock(database: &Path, hold: Duration) -> JoinHandle<()> {
    let database = database.to_owned();
    let (locked, taken) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut db = rusqlite::Connection::open(&database).expect("the database opens");
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("the write lock is free");
        locked.send(()).unwrap();
        std::thread::sleep(hold);
        tx.commit().expect("an empty transaction commits");
    });
    taken.recv().expect("the lock is taken");
    holder
}

/// A keyless member saying a line every 20 ms until dropped: load on the writer. It talks in
/// a room of its own, so that no answer a test waits for shares a delivery with a said line
/// (which is held back until stored anyway, and would hide a promise that is not).
struct Chatter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Chatter {
    fn start(server: &ServerProcess) -> Self {
        let mut session = PlainSession::open(server, "chatter", &Identity::Keyless);
        session.wait_for("chatter joined", WAIT);
        session.seen.clear();
        session.send("/join #busy");
        session.wait_for("chatter joined", WAIT);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut i = 0;
            while !stopping.load(Ordering::Relaxed) {
                i += 1;
                session.send(&format!("busy line {i}"));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A data directory, the keys of alice (an account) and of an admin, and a server on them
/// with the admin's key in the admins file.
struct World {
    dir: tempfile::TempDir,
    _keys: tempfile::TempDir,
    alice: Identity,
    admin: Identity,
    spare_key: PathBuf,
    args: Vec<String>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let alice = Identity::Key(make_key(keys.path(), "alice"));
        let admin_key = make_key(keys.path(), "admin");
        let spare_key = make_key(keys.path(), "spare");
        let admins = dir.path().join("admins");
        std::fs::copy(admin_key.with_extension("pub"), &admins).unwrap();
        Self {
            args: vec!["--admins".into(), admins.display().to_string()],
            alice,
            admin: Identity::Key(admin_key),
            spare_key,
            dir,
            _keys: keys,
        }
    }

    fn start(&self, port: Option<u16>) -> ServerProcess {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        match port {
            Some(port) => ServerProcess::start_on(port, self.dir.path(), &args),
            None => ServerProcess::start(self.dir.path(), &args),
        }
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("chat.db")
    }

    /// Starts a server, lets `set_up` prepare (joining whoever will act: a login writes to
    /// the directory, and must not wait behind the lock), then runs `act` with the database
    /// locked and a chatter busy, and kills the server with SIGKILL the moment `act` returns
    /// (it returns when the answer has been read). Returns a server started again on the
    /// same data, for the caller to look for the record.
    fn crash_after<T>(
        &self,
        set_up: impl FnOnce(&ServerProcess) -> T,
        act: impl FnOnce(&ServerProcess, T),
    ) -> ServerProcess {
        let mut server = self.start(None);
        let actors = set_up(&server);
        let chatter = Chatter::start(&server);
        std::thread::sleep(Duration::from_millis(100));
        let holder = hold_write_lock(&self.database(), HOLD);
        let asked = Instant::now();
        act(&server, actors);
        let answered = asked.elapsed();
        server.kill_hard();
        drop(chatter);
        holder.join().unwrap();
        eprintln!("answered after {answered:?} with the database locked for {HOLD:?}");
        self.start(Some(server.port))
    }
}

fn join(server: &ServerProcess, user: &str, identity: &Identity) -> PlainSession {
    let mut session = PlainSession::open(server, user, identity);
    session.wait_for(&format!("{user} joined"), WAIT);
    session
}

/// Joins visibly and leaves at once, which is how a key claims its name.
fn visit(server: &ServerProcess, user: &str, identity: &Identity) {
    join(server, user, identity).finish();
}

#[test]
fn a_message_kept_for_someone_offline_is_stored_before_the_sender_is_told() {
    let world = World::new();
    let server = world.crash_after(
        |server| {
            visit(server, "alice", &world.alice);
            join(server, "bob", &Identity::Keyless)
        },
        |_, mut bob| {
            bob.send("/msg alice see you tomorrow");
            bob.wait_for("alice is offline; they will get your message", WAIT);
        },
    );
    let mut alice = join(&server, "alice", &world.alice);
    alice.wait_for("[PM from bob] see you tomorrow", WAIT);
}

#[test]
fn a_message_kept_by_a_one_shot_command_is_stored_before_it_prints() {
    let world = World::new();
    let server = world.crash_after(
        |server| visit(server, "alice", &world.alice),
        |server, ()| {
            let (out, err, status) = exec(
                server,
                "bob",
                &Identity::Keyless,
                "/msg alice see you tomorrow",
            );
            assert!(status.success(), "{out}{err}");
            assert!(out.contains("alice is offline"), "{out}{err}");
        },
    );
    let mut alice = join(&server, "alice", &world.alice);
    alice.wait_for("[PM from bob] see you tomorrow", WAIT);
}

#[test]
fn a_setting_is_stored_before_it_is_confirmed() {
    let world = World::new();
    let server = world.crash_after(
        |server| join(server, "alice", &world.alice),
        |_, mut alice| {
            alice.send("/timestamp off");
            alice.wait_for("timestamps are now: off", WAIT);
        },
    );
    let mut alice = join(&server, "alice", &world.alice);
    alice.send("/timestamp");
    alice.wait_for("timestamps are: off", WAIT);
}

#[test]
fn a_ban_is_stored_before_the_operator_is_told() {
    let world = World::new();
    let server = world.crash_after(
        |server| {
            visit(server, "alice", &world.alice);
            join(server, "admin", &world.admin)
        },
        |_, mut admin| {
            admin.send("/ban alice 1h spamming");
            admin.wait_for("alice is banned", WAIT);
        },
    );
    let (out, err, status) = exec(&server, "alice", &world.alice, "/who");
    assert!(!status.success(), "{out}");
    assert!(
        err.contains("banned") || out.contains("banned"),
        "{out}{err}"
    );
}

#[test]
fn an_operator_grant_is_stored_before_the_operator_is_told() {
    let world = World::new();
    let server = world.crash_after(
        |server| {
            let alice = join(server, "alice", &world.alice);
            (join(server, "admin", &world.admin), alice)
        },
        |_, (mut admin, _alice)| {
            admin.send("/op alice");
            admin.wait_for("alice is now an operator", WAIT);
        },
    );
    let (out, err, status) = exec(&server, "alice", &world.alice, "/banned");
    assert!(status.success(), "alice is still an operator: {out}{err}");
}

#[test]
fn a_key_added_is_stored_before_it_is_confirmed() {
    let world = World::new();
    let spare_line = std::fs::read_to_string(world.spare_key.with_extension("pub")).unwrap();
    let server = world.crash_after(
        |server| join(server, "alice", &world.alice),
        |_, mut alice| {
            alice.send(&format!("/keys add {}", spare_line.trim()));
            alice.wait_for("it logs in as alice from now on", WAIT);
        },
    );
    let mut spare = PlainSession::open(&server, "someone", &Identity::Key(world.spare_key.clone()));
    spare.wait_for("Welcome, alice!", WAIT);
}

#[test]
fn an_answer_the_store_cannot_keep_yet_says_so() {
    let world = World::new();
    let server = world.start(None);
    visit(&server, "alice", &world.alice);
    let mut bob = join(&server, "bob", &Identity::Keyless);
    // Longer than the server waits for a commit: the answer goes out uncommitted, and says so.
    let holder = hold_write_lock(&world.database(), Duration::from_secs(4));
    bob.send("/msg alice see you tomorrow");
    bob.wait_for("alice is offline; they will get your message", WAIT);
    bob.wait_for("not stored yet", WAIT);
    holder.join().unwrap();
    // Once the lock goes the writer catches up: the message is kept after all.
    drop(bob);
    let mut alice = join(&server, "alice", &world.alice);
    alice.wait_for("[PM from bob] see you tomorrow", WAIT);
}
