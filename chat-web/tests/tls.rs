//! HTTPS without a proxy: a self-signed certificate made with `openssl`, fetched with
//! `curl -k`. Over HTTPS the cookies are `Secure` and `__Host-` prefixed, and HSTS is set.

mod support;

use std::process::Command;

use chat_web::TlsFiles;
use support::{TestWeb, loose_limits};

#[test]
fn the_web_serves_https_with_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let web = TestWeb::with(loose_limits(), Some(TlsFiles { cert, key }));
    let out = Command::new("curl")
        .args(["-sk", "-D", "-", "-o", "/dev/null", "--max-time", "10"])
        .arg(format!("https://127.0.0.1:{}/register", web.addr.port()))
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("strict-transport-security: max-age="),
        "{head}"
    );
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(
        cookie.contains("__host-chat_visitor=") && cookie.contains("secure"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets nothing.
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{}/", web.addr.port()))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
}
