//! `chat-cli bench` against a real `chat-cli serve` on loopback: a small load whose counting
//! must add up exactly. This checks the bench's bookkeeping, not how fast anything is.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chat-cli");

/// A child process that is killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `chat-cli serve` on a free loopback port and waits until it accepts connections.
fn start_server(data_dir: &std::path::Path) -> (KillOnDrop, u16) {
    start_server_with(data_dir, &[])
}

/// The same, with more flags for the server.
fn start_server_with(data_dir: &std::path::Path, flags: &[&str]) -> (KillOnDrop, u16) {
    // Another process may take the port between our probe and the server's bind: try again.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("loopback has free ports")
            .port();
        let mut server = KillOnDrop(
            Command::new(BIN)
                .args([
                    "serve",
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                    "--web-bind",
                    "off",
                    "--data-dir",
                ])
                .arg(data_dir)
                .args(flags)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the chat-cli binary starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, port);
            }
            if server.0.try_wait().expect("can poll the server").is_some() {
                break; // it exited: most likely the port was taken
            }
            sleep(Duration::from_millis(50));
        }
    }
    panic!("chat-cli serve did not start listening");
}

/// Runs the bench to completion, killing it if it takes longer than `limit`.
fn run_bench(args: &[&str], limit: Duration) -> Output {
    let mut child = KillOnDrop(
        Command::new(BIN)
            .arg("bench")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chat-cli binary starts"),
    );
    // Read both pipes as the bench writes, so that neither can fill up and block it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.0.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("can poll the bench") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "chat-cli bench did not finish within {limit:?}"
        );
        sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().expect("the reader thread does not panic"),
        stderr: stderr.join().expect("the reader thread does not panic"),
    }
}

/// The JSON report of a bench run that succeeded.
fn report_of(output: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("bench printed no JSON ({e}): {stderr}"))
}

#[test]
fn bench_counts_every_line_at_every_other_session() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let (_server, port) = start_server(data.path());
    let addr = format!("127.0.0.1:{port}");
    let output = run_bench(
        &[
            "--addr",
            &addr,
            "--users",
            "4",
            "--senders",
            "2",
            "--rate",
            "5",
            "--duration",
            "2",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    let field = |name: &str| {
        report[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no `{name}` in {report}"))
    };
    // 2 senders × 5 lines/s × 2 s, each line seen by the 3 sessions other than its sender.
    // (10 lines in 2 s per sender stays within the hub's default flood limit.)
    assert_eq!(field("lines_sent"), 2 * 5 * 2, "{report}");
    assert_eq!(field("deliveries_expected"), 20 * 3, "{report}");
    assert_eq!(field("deliveries_seen"), 20 * 3, "{report}");
    assert_eq!(field("errors"), 0, "{report}");
    assert_eq!(field("sessions_lost"), 0, "{report}");
    assert_eq!(report["setup"]["ok"], 4, "{report}");
    assert_eq!(report["delivery_latency"]["count"], 60, "{report}");
    assert_eq!(report["interrupted"], false, "{report}");
}

#[test]
fn bench_reports_a_server_that_is_not_there() {
    // A port nothing listens on: every session fails to connect, counted, not a hang.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("loopback has free ports")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let output = run_bench(
        &["--addr", &addr, "--users", "3", "--duration", "1", "--json"],
        Duration::from_secs(60),
    );
    assert!(output.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(report["setup"]["failed"], 3, "{report}");
    assert_eq!(report["errors"], 3, "{report}");
    assert_eq!(report["lines_sent"], 0, "{report}");
}

#[test]
fn bench_spreads_sessions_over_every_address_it_is_given() {
    // Two servers, and a third address where nothing listens: sessions take them in turn, so
    // a third of them fail to connect and the rest set up on the two servers.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_first, first_port) = start_server(one.path());
    let (_second, second_port) = start_server(two.path());
    let nobody = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("loopback has free ports")
        .port();
    let addrs = format!("127.0.0.1:{first_port},127.0.0.1:{second_port},127.0.0.1:{nobody}");
    let output = run_bench(
        &[
            "--addr",
            &addrs,
            "--users",
            "6",
            "--senders",
            "0",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    assert_eq!(report["setup"]["ok"], 4, "{report}");
    assert_eq!(report["setup"]["failed"], 2, "{report}");
    assert_eq!(
        report["target"],
        format!("127.0.0.1:{first_port},127.0.0.1:{second_port},127.0.0.1:{nobody}"),
        "{report}"
    );
}

#[test]
fn bench_sums_the_servers_it_is_given_and_shows_each_one() {
    // Two processes, as two nodes of a cluster on one machine would be: the server's figures
    // are their sum, and each one's CPU per delivery is reported beside it.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, first_port) = start_server(one.path());
    let (second, second_port) = start_server(two.path());
    let addrs = format!("127.0.0.1:{first_port},127.0.0.1:{second_port}");
    let pids = format!("{},{}", first.0.id(), second.0.id());
    let output = run_bench(
        &[
            "--addr",
            &addrs,
            "--server-pid",
            &pids,
            "--users",
            "6",
            "--senders",
            "2",
            "--rate",
            "5",
            "--duration",
            "2",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    let server = &report["server"];
    let nodes = server["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{report}");
    assert_eq!(nodes[0]["pid"], first.0.id(), "{report}");
    assert_eq!(nodes[1]["pid"], second.0.id(), "{report}");
    let per_delivery = |v: &serde_json::Value| v["cpu_us_per_delivery"].as_f64().unwrap();
    let sum = per_delivery(&nodes[0]) + per_delivery(&nodes[1]);
    assert!(
        (per_delivery(server) - sum).abs() < 1e-6 * sum.max(1.0),
        "the server's figure is the nodes' sum: {report}"
    );
    assert!(
        server["rss_after_setup_kib"].as_u64().unwrap() > 0,
        "{report}"
    );
}

/// A server that lets more than the default 20 sessions in from 127.0.0.1.
fn start_roomy_server(data_dir: &std::path::Path) -> (KillOnDrop, u16) {
    start_server_with(
        data_dir,
        &["--max-per-ip", "1000", "--max-new-per-ip", "1000"],
    )
}

#[test]
fn bench_split_over_processes_counts_the_sessions_of_every_process() {
    // 30 sessions over 3 processes (0..10, 10..20, 20..30), both senders in the first: the
    // report must count the sessions and deliveries of all three, as one process would.
    let data = tempfile::tempdir().expect("a temporary directory");
    let (server, port) = start_roomy_server(data.path());
    let addr = format!("127.0.0.1:{port}");
    let pid = server.0.id().to_string();
    let output = run_bench(
        &[
            "--addr",
            &addr,
            "--server-pid",
            &pid,
            "--processes",
            "3",
            "--users",
            "30",
            "--senders",
            "2",
            "--rate",
            "5",
            "--duration",
            "2",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    let field = |name: &str| {
        report[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no `{name}` in {report}"))
    };
    assert_eq!(report["setup"]["attempted"], 30, "{report}");
    assert_eq!(report["setup"]["ok"], 30, "{report}");
    assert_eq!(report["setup"]["latency"]["count"], 30, "{report}");
    assert_eq!(report["senders"], 2, "{report}");
    // 2 senders × 5 lines/s × 2 s, each line at the 29 sessions other than its sender, 10 of
    // them in the senders' process and 10 in each of the others.
    assert_eq!(field("lines_sent"), 20, "{report}");
    assert_eq!(field("deliveries_expected"), 20 * 29, "{report}");
    assert_eq!(field("deliveries_seen"), 20 * 29, "{report}");
    assert_eq!(report["delivery_latency"]["count"], 20 * 29, "{report}");
    assert!(
        field("errors") == 0 && field("sessions_lost") == 0,
        "{report}"
    );
    assert!(
        report["delivery_latency"]["max_us"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["interrupted"], false, "{report}");
    // The parent read the server around the measured window, and the processes their CPU.
    let server = &report["server"];
    assert!(server["cpu_window_s"].as_f64().unwrap() > 0.0, "{report}");
    assert!(server["cpu_us_per_delivery"].as_f64().is_some(), "{report}");
    assert!(report["client_cpu_s"].as_f64().is_some(), "{report}");
    assert!(
        report["bytes_per_delivery"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn bench_split_over_processes_waits_for_lines_said_after_its_drain_would_have_ended() {
    // 10 sessions over 2 processes, the one sender in the first: it says 8 lines over 4 s,
    // and a 1 s drain. The second process must count the lines said after its first second
    // too (it once drained from the window's start and stopped counting after 1 s).
    let data = tempfile::tempdir().expect("a temporary directory");
    let (_server, port) = start_roomy_server(data.path());
    let addr = format!("127.0.0.1:{port}");
    let output = run_bench(
        &[
            "--addr",
            &addr,
            "--processes",
            "2",
            "--users",
            "10",
            "--senders",
            "1",
            "--rate",
            "2",
            "--duration",
            "4",
            "--drain",
            "1",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    assert_eq!(report["lines_sent"], 8, "{report}");
    assert_eq!(report["deliveries_expected"], 8 * 9, "{report}");
    assert_eq!(report["deliveries_seen"], 8 * 9, "{report}");
}

#[test]
fn bench_split_over_processes_sends_from_each_process_holding_senders() {
    // 6 users and 2 slow readers over 2 processes (0..4 and 4..8): senders 0 to 2 in the first,
    // 3 in the second, the slow readers in the second.
    let data = tempfile::tempdir().expect("a temporary directory");
    let (_server, port) = start_roomy_server(data.path());
    let addr = format!("127.0.0.1:{port}");
    let output = run_bench(
        &[
            "--addr",
            &addr,
            "--processes",
            "2",
            "--users",
            "6",
            "--slow-readers",
            "2",
            "--senders",
            "4",
            "--rate",
            "5",
            "--duration",
            "2",
            "--settle",
            "10",
            "--json",
        ],
        Duration::from_secs(90),
    );
    let report = report_of(&output);
    assert_eq!(report["setup"]["ok"], 8, "{report}");
    assert_eq!(report["senders"], 4, "{report}");
    assert_eq!(report["lines_sent"], 40, "{report}");
    assert_eq!(report["deliveries_expected"], 40 * 5, "{report}");
    assert_eq!(report["deliveries_seen"], 40 * 5, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["invalid_tokens"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
}
