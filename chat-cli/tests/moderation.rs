//! Operators, allowlists and bans, over real SSH: the real binary and the OpenSSH client.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Identity, PlainSession, ServerProcess, exec, make_key};

const WAIT: Duration = Duration::from_secs(20);

fn pub_line(key: &Identity) -> String {
    let Identity::Key(path) = key else {
        panic!("a keyed identity")
    };
    std::fs::read_to_string(path.with_extension("pub")).expect("ssh-keygen wrote the .pub file")
}

fn join(server: &ServerProcess, user: &str, identity: &Identity) -> PlainSession {
    let mut session = PlainSession::open(server, user, identity);
    session.wait_for(&format!("{user} joined"), WAIT);
    session
}

#[test]
fn the_allowlist_admits_listed_keys_only_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let listed = Identity::Key(make_key(keys.path(), "listed"));
    let stranger = Identity::Key(make_key(keys.path(), "stranger"));
    let allowlist = dir.path().join("allowlist");
    std::fs::write(&allowlist, format!("# who may join\n{}", pub_line(&listed))).unwrap();
    let server = ServerProcess::start(dir.path(), &["--allowlist", allowlist.to_str().unwrap()]);

    let (out, _, status) = exec(&server, "listed", &listed, "/who");
    assert!(status.success(), "{out}");

    let out = support::ssh(&server, "stranger", &stranger)
        .arg("/who")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "OpenSSH gives up: {stderr}");
    assert!(
        stderr.contains("is not on its allowlist"),
        "and shows why: {stderr}"
    );
    assert_eq!(
        stderr.matches("is not on its allowlist").count(),
        1,
        "once: {stderr}"
    );

    let (_, _, status) = exec(&server, "guest", &Identity::Keyless, "/who");
    assert_eq!(status.code(), Some(255), "keyless users are refused too");

    std::fs::write(
        &allowlist,
        format!("{}{}", pub_line(&listed), pub_line(&stranger)),
    )
    .unwrap();
    let kill = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    support::eventually(WAIT, || {
        exec(&server, "stranger", &stranger, "/who").2.success()
    });
}

#[test]
fn a_bad_access_file_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let admins = dir.path().join("admins");
    std::fs::write(&admins, "# ok\nssh-ed25519 not-a-key\n").unwrap();
    let (code, stderr) =
        support::serve_failure(dir.path(), &["--admins".as_ref(), admins.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", admins.display())),
        "names file and line: {stderr}"
    );
}

#[test]
fn operators_moderate_and_others_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let op_key = Identity::Key(make_key(keys.path(), "op"));
    let bob_key = Identity::Key(make_key(keys.path(), "bob"));
    let admins = dir.path().join("admins");
    std::fs::write(&admins, pub_line(&op_key)).unwrap();
    let server = ServerProcess::start(dir.path(), &["--admins", admins.to_str().unwrap()]);

    let mut op = join(&server, "op", &op_key);
    let mut bob = join(&server, "bob", &bob_key);
    let mut carol = join(&server, "carol", &Identity::Keyless);

    for line in [
        "/kick op",
        "/ban op",
        "/mute op",
        "/op carol",
        "/banned",
        "/rename op x",
        "/reload",
    ] {
        carol.send(line);
        let word = line.split(' ').next().unwrap();
        carol.wait_for(&format!("only operators can use {word}"), WAIT);
    }

    op.send("/mute bob");
    bob.wait_for("op muted you", WAIT);
    bob.send("can anyone hear me");
    bob.wait_for("you are muted", WAIT);
    op.send("/unmute bob");
    bob.wait_for("op unmuted you", WAIT);

    op.send("/rename carol caroline");
    carol.wait_for("op renamed you to caroline", WAIT);

    op.send("/op bob");
    bob.wait_for("op made you an operator", WAIT);
    bob.send("/motd welcome to the moderated room");
    bob.wait_for("the message of the day is set", WAIT);
    op.send("/deop bob");
    bob.wait_for("took your operator rights away", WAIT);

    op.send("/kick caroline enough");
    carol.wait_for("you were kicked out by op: enough", WAIT);
    bob.wait_for("caroline was kicked out by op: enough.", WAIT);

    op.send("/reload");
    op.wait_for("reloaded: 1 admins", WAIT);
}

#[test]
fn a_ban_survives_a_restart_by_key_and_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let op_key = Identity::Key(make_key(keys.path(), "op"));
    let bob_key = Identity::Key(make_key(keys.path(), "bob"));
    let admins = dir.path().join("admins");
    std::fs::write(&admins, pub_line(&op_key)).unwrap();
    let admins_flag = ["--admins", admins.to_str().unwrap()];
    let mut server = ServerProcess::start(dir.path(), &admins_flag);

    let mut op = join(&server, "op", &op_key);
    let mut bob = join(&server, "bob", &bob_key);
    let mut guest = PlainSession::open_from(&server, "guest", &Identity::Keyless, "127.0.0.2");
    guest.wait_for("guest joined", WAIT);
    op.send("/ban bob flooding");
    bob.wait_for("you were banned by op: flooding", WAIT);
    op.send("/ban guest");
    guest.wait_for("you were banned by op", WAIT);
    op.send("/banned");
    op.wait_for("(guest) forever, by op", WAIT);
    drop((op, bob, guest));
    server.kill_hard();

    let server = ServerProcess::start_on(server.port, dir.path(), &admins_flag);
    let out = support::ssh(&server, "bob", &bob_key)
        .arg("/who")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.contains("You are banned from this chat server for good: flooding"),
        "{stderr}"
    );

    let out = support::ssh_from(&server, "guest", &Identity::Keyless, "127.0.0.2")
        .arg("/who")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "the address stays banned");
    let (_, _, status) = exec(&server, "someone", &Identity::Keyless, "/who");
    assert!(status.success(), "other addresses are fine");

    let (out, _, status) = exec(&server, "op", &op_key, "/unban bob");
    assert!(status.success(), "{out}");
    assert!(out.contains("bob is no longer banned"), "{out}");
    let (_, _, status) = exec(&server, "bob", &bob_key, "/who");
    assert!(status.success(), "an unbanned key gets in again");
}

#[test]
fn a_name_that_looks_like_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let _bob = join(&server, "bob", &Identity::Keyless);
    let mut mallory = join(&server, "mallory", &Identity::Keyless);
    mallory.send("/nick b0b");
    mallory.wait_for("the name b0b looks too much like bob, who is here", WAIT);
    let poser = PlainSession::open(&server, "B0B", &Identity::Keyless).finish();
    assert!(
        poser
            .iter()
            .any(|l| l.contains("B0B looks too much like bob, so you are B0B2")),
        "{poser:?}"
    );
}
