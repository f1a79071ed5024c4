//! Every route answers, with the security headers on every response, CSRF refusals on every
//! form, rate limits with `Retry-After`, and size caps.

mod support;

use std::time::Duration;

use chat_server::hub::MemberOutbox;
use chat_web::WebLimits;
use chat_web::ratelimit::Rate;
use support::{TestWeb, loose_limits};

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/signin"),
    ("POST", "/signin"),
    (
        "GET",
        "/signin/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    (
        "POST",
        "/signin/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("GET", "/account"),
    ("POST", "/account/keys"),
    ("POST", "/account/keys/remove"),
    ("POST", "/account/keys/label"),
    ("POST", "/account/delete"),
    ("POST", "/signout"),
    ("GET", "/static/style.css"),
    ("GET", "/static/app.js"),
    ("GET", "/no/such/page"),
];

#[test]
fn every_response_carries_the_security_headers() {
    let web = TestWeb::start();
    let mut browser = web.client();
    for (method, path) in ROUTES {
        let response = browser.request(method, path, &[], b"");
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{method} {path}: no CSP"));
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{method} {path}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{method} {path}"
        );
        assert_eq!(
            response.header("x-frame-options"),
            Some("DENY"),
            "{method} {path}"
        );
        assert!(
            response.status < 500,
            "{method} {path}: {}",
            response.status
        );
    }
}

#[test]
fn the_home_page_says_how_to_connect_and_to_trust_the_server() {
    let web = TestWeb::start();
    let (outbox, _ends) = MemberOutbox::channel(16);
    web.runtime.hub.lock().join(
        chat_server::chat_core::JoinRequest::named("zed"),
        outbox,
        chrono::Utc::now(),
    );
    let home = web.client().get("/");
    home.assert_status(200)
        .assert_says("ssh -p 2222 127.0.0.1")
        .assert_says("SHA256:testhostkeyfingerprint")
        .assert_says("[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza")
        .assert_says("ssh-keygen -t ed25519")
        .assert_says("#lobby")
        .assert_says("1 person")
        .assert_says("href=\"/register\"")
        .assert_says("href=\"/signin\"");
    assert_eq!(home.header("cache-control"), Some("no-store"));
    let css = web.client().get("/static/style.css");
    css.assert_status(200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let js = web.client().get("/static/app.js");
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    web.client()
        .get("/nowhere")
        .assert_status(404)
        .assert_says("Page not found");
}

#[test]
fn forms_without_a_valid_csrf_token_are_refused_with_403() {
    let web = TestWeb::start();
    let mut browser = web.client();
    let csrf = browser.get("/register").field("csrf");
    for path in [
        "/register",
        "/signin",
        "/signin/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "/account/keys",
        "/account/keys/remove",
        "/account/keys/label",
        "/account/delete",
        "/signout",
    ] {
        // None at all.
        browser
            .post(path, &[("name", "x")])
            .assert_status(403)
            .assert_says("Nothing was changed");
        // A wrong one.
        browser
            .post(path, &[("csrf", "00000000000000000000000000000000")])
            .assert_status(403);
        // A good token, from another browser (its cookie does not match).
        web.client()
            .post(path, &[("csrf", &csrf)])
            .assert_status(403);
    }
    // The right one gets past the gate (and fails later, for want of everything else).
    browser
        .post("/register", &[("csrf", &csrf)])
        .assert_status(400);
    assert!(web.accounts().is_empty());
}

#[test]
fn cookies_are_http_only_and_strict() {
    let web = TestWeb::start();
    let response = web.client().get("/register");
    let cookie = response.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Plain HTTP on loopback is the one case without Secure.
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[test]
fn register_and_signin_are_rate_limited_per_address_with_retry_after() {
    let limits = WebLimits {
        per_ip: Rate::new(3, Duration::from_secs(20)),
        ..loose_limits()
    };
    let web = TestWeb::with_limits(limits);
    let mut browser = web.client();
    let csrf = browser.get("/register").field("csrf");
    for _ in 0..3 {
        browser
            .post("/register", &[("csrf", &csrf)])
            .assert_status(400);
    }
    let refused = browser.post("/register", &[("csrf", &csrf)]);
    refused.assert_status(429).assert_says("Wait 20 seconds");
    assert_eq!(refused.header("retry-after"), Some("20"));
    browser
        .post("/signin", &[("csrf", &csrf)])
        .assert_status(429);
    web.clock.advance(chrono::TimeDelta::seconds(20));
    browser
        .post("/signin", &[("csrf", &csrf)])
        .assert_status(400);
}

#[test]
fn registering_one_key_is_rate_limited_per_key() {
    let limits = WebLimits {
        per_account: Rate::new(2, Duration::from_secs(120)),
        ..loose_limits()
    };
    let web = TestWeb::with_limits(limits);
    let key = support::CrateKey::new();
    let mut browser = web.client();
    let csrf = browser.get("/register").field("csrf");
    let fields = [("csrf", csrf.as_str()), ("public_key", &key.public())];
    browser.post("/register", &fields).assert_status(400);
    browser.post("/register", &fields).assert_status(400);
    let refused = browser.post("/register", &fields);
    refused.assert_status(429).assert_says("Wait 2 minutes");
    assert_eq!(refused.header("retry-after"), Some("120"));
    // Another key from the same address is not held up.
    let other = support::CrateKey::new();
    browser
        .post(
            "/register",
            &[("csrf", &csrf), ("public_key", &other.public())],
        )
        .assert_status(400);
}

#[test]
fn oversized_requests_are_refused() {
    let web = TestWeb::start();
    let mut browser = web.client();
    let csrf = browser.get("/register").field("csrf");
    let huge = "x".repeat(64 * 1024);
    let response = browser.post("/register", &[("csrf", &csrf), ("public_key", &huge)]);
    response.assert_status(413);
    let header = format!("x{}", "y".repeat(20 * 1024));
    let response = browser.request("GET", "/", &[("X-Big", &header)], b"");
    assert_eq!(response.status, 431, "{}", response.body);
}
