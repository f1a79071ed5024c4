//! Disks that fail under a running server, for real: the data directory on a small tmpfs
//! that fills up while people chat, and an ext4 image the kernel turns read-only under it. What
//! must hold:
//!
//! - users: the chat goes on (every line is delivered), and whoever says a line that cannot
//!   be stored is told once, plainly ("not stored yet: …");
//! - operators: the log says why, `chat_store_write_failures` counts, `/healthz` answers 503
//!   "degraded: the store cannot be written: …";
//! - recovery: when space returns, the server notices by itself, writes what was said
//!   meanwhile, and nothing committed before is lost (a restart replays it all); a file
//!   system turned read-only needs the operator (repair, restart), and what was written
//!   before it turned is all there.
//!
//! And a database overwritten with garbage while the server runs: nobody notices, and the
//! restart either finds it whole or refuses with a reason.
//!
//! Mounting needs root, as CI runs. Outside CI a non-root run says why and checks nothing;
//! under `CI=true` it fails instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    Identity, PlainSession, ServerProcess, eventually, exec, free_port, http_get, make_key, metric,
};

const WAIT: Duration = Duration::from_secs(20);
/// The writer retries with a backoff that grows to 30 s; recovery must come within one.
const RECOVERY: Duration = Duration::from_secs(45);

/// A tmpfs mounted on a fresh directory, unmounted when dropped (even if the test fails).
struct Tmpfs {
    _parent: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why it cannot.
    fn mount(size: &str) -> Option<Tmpfs> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if !root {
            assert!(
                std::env::var_os("CI").is_none(),
                "the disk tests mount a tmpfs and need root; CI runs as root"
            );
            eprintln!("skipped: mounting a tmpfs needs root (CI runs these as root)");
            return None;
        }
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -t tmpfs failed");
        Some(Tmpfs {
            _parent: parent,
            path,
        })
    }

    /// Writes a file until the disk is full; returns it (remove it to free the space).
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0xA5_u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                    break;
                }
            }
        }
        // The last partial block too: nothing is left.
        while file.write(&block[..512]).is_ok_and(|n| n > 0) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A server on `data`, with its metrics endpoint; alice (a key) and bob (keyless) in the
/// lobby; and one line said and stored before anything goes wrong.
struct Chat {
    server: ServerProcess,
    metrics: u16,
    alice: PlainSession,
    bob: PlainSession,
    data: PathBuf,
    _keys: tempfile::TempDir,
}

impl Chat {
    fn start(data: &Path) -> Chat {
        let keys = tempfile::tempdir().unwrap();
        let alice_key = Identity::Key(make_key(keys.path(), "alice"));
        let metrics = free_port();
        let server = ServerProcess::start(
            data,
            &[
                "--metrics-bind",
                &format!("127.0.0.1:{metrics}"),
                "--line-burst",
                "1000",
            ],
        );
        let mut bob = PlainSession::open(&server, "bob", &Identity::Keyless);
        bob.wait_for("bob joined", WAIT);
        let mut alice = PlainSession::open(&server, "alice", &alice_key);
        alice.wait_for("alice joined", WAIT);
        alice.send("said before the trouble");
        bob.wait_for("alice: said before the trouble", WAIT);
        assert_eq!(http_get(metrics, "/healthz").0, "HTTP/1.1 200 OK");
        Chat {
            server,
            metrics,
            alice,
            bob,
            data: data.to_owned(),
            _keys: keys,
        }
    }

    /// Alice talks until she is told her lines are not stored (a full disk may still take a
    /// few, into pages SQLite already has); bob gets every line. Returns how many she said.
    fn talk_until_told_not_stored(&mut self) -> usize {
        for i in 1..=400 {
            let line = format!("alice: said in trouble {i:03}");
            self.alice.send(&line["alice: ".len()..]);
            self.bob.wait_for(&line, WAIT);
            self.alice.wait_for(&line, WAIT);
            if self.alice.seen.iter().any(|l| l.contains("not stored yet")) {
                return i;
            }
        }
        panic!(
            "alice was never told her lines are not stored; she saw:\n{}\nthe server said:\n{}",
            self.alice.seen.join("\n"),
            self.server.log().join("\n")
        );
    }

    /// What an operator sees meanwhile: /healthz degraded with the reason, failures counted.
    fn operator_sees_the_store_failing(&self, reason: &str) {
        let (status, body) = http_get(self.metrics, "/healthz");
        assert!(status.contains("503"), "{status}");
        assert!(
            body.contains("degraded: the store cannot be written:") && body.contains(reason),
            "{body}"
        );
        assert!(metric(self.metrics, "chat_store_write_failures") >= 1.0);
        assert!(
            self.server
                .log()
                .iter()
                .any(|l| l.contains("cannot write to the store")),
            "the log says so"
        );
    }

    /// Waits for the server to find the store writable again; then a line is stored as usual
    /// and nobody is told otherwise.
    fn recovers(&mut self) {
        eventually(RECOVERY, || {
            http_get(self.metrics, "/healthz").0 == "HTTP/1.1 200 OK"
        });
        self.alice.seen.clear();
        self.alice.send("said after it recovered");
        self.bob.wait_for("alice: said after it recovered", WAIT);
        self.alice.wait_for("alice: said after it recovered", WAIT);
        assert!(
            !self.alice.seen.iter().any(|l| l.contains("not stored")),
            "{:?}",
            self.alice.seen
        );
    }

    /// Restarts the server on the same data: a newcomer's history holds every line, the
    /// ones said while the store could not be written included, in order.
    fn restart_and_replay(mut self, said_in_trouble: usize) {
        assert_eq!(self.server.terminate().code(), Some(0));
        drop((self.alice, self.bob));
        let history = alices_lines_after_restart(self.server.port, &self.data);
        let expected = said_in_trouble + 2;
        assert_eq!(history.len(), expected, "{history:#?}");
        assert!(history[0].ends_with("said before the trouble"));
        assert!(
            history[said_in_trouble].ends_with(&format!("said in trouble {said_in_trouble:03}"))
        );
        assert!(history[expected - 1].ends_with("said after it recovered"));
    }
}

/// Starts a server on `data` again and joins it: the lines of alice's it replays.
fn alices_lines_after_restart(port: u16, data: &Path) -> Vec<String> {
    let server = ServerProcess::start_on(port, data, &["--history", "1000"]);
    let mut carol = PlainSession::open(&server, "carol", &Identity::Keyless);
    carol.wait_for("carol joined", WAIT);
    std::mem::take(&mut carol.seen)
        .into_iter()
        .filter(|l| l.contains("alice: said"))
        .collect()
}

#[test]
fn a_disk_that_fills_up_keeps_the_chat_going_and_recovers_when_space_returns() {
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let mut chat = Chat::start(&disk.path.join("data"));
    let filler = disk.fill();
    let said = chat.talk_until_told_not_stored();
    chat.operator_sees_the_store_failing("full");
    std::fs::remove_file(filler).unwrap();
    chat.recovers();
    chat.restart_and_replay(said);
}

/// An ext4 file system in an image on a loop device, mounted `errors=remount-ro`: what a
/// server's data disk usually is, and how one turns read-only under a running server (a
/// tmpfs, or any file system with files open for writing, refuses a plain `remount,ro`).
struct Ext4 {
    _dir: tempfile::TempDir,
    image: PathBuf,
    path: PathBuf,
}

impl Ext4 {
    fn mount() -> Option<Ext4> {
        // The same root check as a tmpfs.
        drop(Tmpfs::mount("1m")?);
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.ext4");
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(32 << 20)
            .unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let disk = Ext4 {
            _dir: dir,
            image,
            path,
        };
        disk.attach();
        Some(disk)
    }

    fn attach(&self) {
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                self.image.to_str().unwrap(),
                self.path.to_str().unwrap(),
            ],
        );
    }

    /// The kernel finds an error on the file system and remounts it read-only, as it does
    /// for a failing disk (`trigger_fs_error` is ext4's own hook for exactly that).
    fn fail(&self) {
        let device = Command::new("findmnt")
            .args(["-no", "SOURCE"])
            .arg(&self.path)
            .output()
            .expect("findmnt runs");
        let device = String::from_utf8_lossy(&device.stdout);
        let name = Path::new(device.trim()).file_name().unwrap().to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(name)
            .join("trigger_fs_error");
        std::fs::write(&trigger, "the test says so\n").expect("ext4 takes a triggered error");
        let options = Command::new("findmnt")
            .args(["-no", "OPTIONS"])
            .arg(&self.path)
            .output()
            .unwrap();
        let options = String::from_utf8_lossy(&options.stdout).into_owned();
        assert!(options.contains("ro"), "read-only now: {options}");
    }

    /// What an operator does about it: unmount, check, mount again.
    fn repair(&self) {
        run("umount", &[self.path.to_str().unwrap()]);
        let status = Command::new("e2fsck")
            .args(["-fy", self.image.to_str().unwrap()])
            .status()
            .expect("e2fsck runs");
        // 0: clean; 1: errors corrected.
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck: {status}");
        self.attach();
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

#[test]
fn a_disk_turned_read_only_keeps_the_chat_going_and_loses_nothing_it_had_written() {
    let Some(disk) = Ext4::mount() else {
        return;
    };
    let data = disk.path.join("data");
    let mut chat = Chat::start(&data);
    // What was committed before reaches the disk (SQLite's synchronous=NORMAL leaves that
    // to the kernel's writeback; `sync` stands for the seconds that usually pass).
    run("sync", &[]);
    disk.fail();
    let said = chat.talk_until_told_not_stored();
    chat.operator_sees_the_store_failing("read");
    // A read-only file system does not come back by itself: the operator stops the server,
    // repairs the disk and starts it again, and finds everything written before.
    assert_eq!(chat.server.terminate().code(), Some(0), "a clean exit");
    drop(chat.alice);
    disk.repair();
    let history = alices_lines_after_restart(chat.server.port, &data);
    assert!(
        history
            .first()
            .is_some_and(|l| l.ends_with("said before the trouble")),
        "what was written before is kept: {history:#?}"
    );
    eprintln!(
        "{said} lines said on the read-only disk were delivered, and not kept ({} are)",
        history.len() - 1
    );
}

#[test]
fn a_database_overwritten_with_garbage_while_running_harms_nobody_and_is_caught_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut chat = Chat::start(dir.path());
    // In place, as a runaway script or a bad restore would: the same file, garbage inside.
    let database = dir.path().join("chat.db");
    let size = std::fs::metadata(&database).unwrap().len().max(16 * 1024);
    std::fs::write(&database, vec![0x5a_u8; usize::try_from(size).unwrap()]).unwrap();
    for i in 0..20 {
        let line = format!("alice: said over garbage {i}");
        chat.alice.send(&line["alice: ".len()..]);
        chat.bob.wait_for(&line, WAIT);
    }
    let (out, _, status) = exec(&chat.server, "carol", &Identity::Keyless, "/who");
    assert!(status.success() && out.contains("alice"), "{out}");
    assert!(http_get(chat.metrics, "/healthz").0.starts_with("HTTP/1.1"));
    let log = chat.server.log();
    assert!(
        !log.iter().any(|l| l.contains("panicked")),
        "{}",
        log.join("\n")
    );
    assert_eq!(chat.server.terminate().code(), Some(0));
    drop((chat.alice, chat.bob));

    // At the restart, either SQLite's checkpoint of the WAL has written every page back
    // (the shutdown does one) and the server starts with what it had, or the damage shows
    // and the start-up is refused with a reason: never a panic, never a half-working server.
    match start_or_refuse(dir.path()) {
        Ok(server) => {
            let (out, _, status) = exec(&server, "carol", &Identity::Keyless, "/history 50");
            assert!(status.success(), "{out}");
            assert!(out.contains("alice: said before the trouble"), "{out}");
        }
        Err(stderr) => {
            assert!(stderr.contains("corrupt"), "{stderr}");
            assert!(stderr.contains("move it aside"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

/// Starts the server on `data_dir`: the running server, or what it said when it refused.
fn start_or_refuse(data_dir: &Path) -> Result<ServerProcess, String> {
    // An address of no interface here (TEST-NET-1): a server that gets as far as listening
    // has opened and read its database, and then exits.
    let out = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .args(["serve", "--bind", "192.0.2.1:2222", "--data-dir"])
        .arg(data_dir)
        .env("CHAT_WEB_BIND", "off")
        .output()
        .expect("the chat-cli binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    if stderr.contains("cannot listen on 192.0.2.1:2222") {
        return Ok(ServerProcess::start(data_dir, &[]));
    }
    Err(stderr)
}
