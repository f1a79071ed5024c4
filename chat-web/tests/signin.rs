//! Signing in: one-time links (single use, five minutes, spent only by a click), signed
//! challenges, session expiry and signing out.

mod support;

use chrono::TimeDelta;
use support::{Client, CrateKey, KeyFile, TestWeb, register};

/// Registers `name` in a browser of its own; returns the key and the account id.
fn registered(web: &TestWeb, name: &str) -> (CrateKey, String) {
    let key = CrateKey::new();
    register(&mut web.client(), name, &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200);
    let id = web.account(name).id;
    (key, id)
}

fn link(web: &TestWeb, account: &str) -> String {
    let token = web
        .runtime
        .signin
        .issue(account, Some("SHA256:k"), web.clock.now());
    format!("/signin/{token}")
}

trait Now {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Now for chat_web::clock::ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chat_web::clock::Clock::now(self)
    }
}

/// Opens a link and clicks its button.
fn follow(browser: &mut Client, path: &str) -> support::Response {
    let page = browser.get(path);
    page.assert_status(200);
    browser.post(path, &[("csrf", &page.field("csrf"))])
}

#[test]
fn a_link_signs_in_once_and_only_after_a_click() {
    let web = TestWeb::start();
    let (_, id) = registered(&web, "alice");
    let path = link(&web, &id);
    let mut browser = web.client();
    let page = browser.get(&path);
    page.assert_status(200).assert_says("Sign in as alice?");
    // Looking at it twice (a link preview, then the person) spends nothing.
    browser.get(&path).assert_status(200);
    browser.get("/account").assert_status(303);
    let signed_in = browser.post(&path, &[("csrf", &page.field("csrf"))]);
    signed_in.assert_status(303);
    assert_eq!(signed_in.header("location"), Some("/account"));
    let cookie = signed_in.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("chat_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    browser
        .get("/account")
        .assert_status(200)
        .assert_says("alice")
        .assert_says("Your keys");
    // Spent.
    let mut other = web.client();
    other
        .get(&path)
        .assert_status(410)
        .assert_says("does not work");
    let csrf = other.get("/signin").field("csrf");
    other.post(&path, &[("csrf", &csrf)]).assert_status(410);
    other.get("/account").assert_status(303);
}

#[test]
fn a_link_expires_after_five_minutes() {
    let web = TestWeb::start();
    let (_, id) = registered(&web, "bob");
    let path = link(&web, &id);
    let mut browser = web.client();
    let page = browser.get(&path);
    web.clock.advance(TimeDelta::minutes(5));
    browser
        .post(&path, &[("csrf", &page.field("csrf"))])
        .assert_status(410);
    browser
        .get(&path)
        .assert_status(410)
        .assert_says("ssh -p 2222 127.0.0.1 /web");
    let fresh = link(&web, &id);
    web.clock.advance(TimeDelta::minutes(4));
    follow(&mut browser, &fresh).assert_status(303);
}

#[test]
fn links_that_were_never_issued_do_nothing() {
    let web = TestWeb::start();
    let mut browser = web.client();
    for path in [
        "/signin/nope",
        "/signin/%00%ff",
        &format!("/signin/{}", "a".repeat(64)),
        &format!("/signin/{}", "x".repeat(5000)),
    ] {
        let response = browser.get(path);
        assert!(
            response.status == 410 || response.status == 404 || response.status == 431,
            "{path}: {}",
            response.status
        );
    }
}

#[test]
fn a_signed_challenge_signs_in_with_ssh_keygen() {
    let web = TestWeb::start();
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::generate(dir.path(), "carol");
    register(&mut web.client(), "carol", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200);
    let mut browser = web.client();
    let page = browser.get("/signin");
    page.assert_status(200)
        .assert_says("ssh -p 2222 127.0.0.1 /web")
        .assert_says("-n signin@127.0.0.1");
    let (challenge, namespace) = (page.field("challenge"), page.field("namespace"));
    let signature = key.sign(&namespace, &challenge);
    let fields = [
        ("csrf", page.field("csrf")),
        ("signature", signature.clone()),
        ("challenge", challenge.clone()),
        ("namespace", namespace.clone()),
    ];
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    browser.post("/signin", &borrowed).assert_status(303);
    browser
        .get("/account")
        .assert_status(200)
        .assert_says("carol")
        .assert_says("You signed in with this key");
    // The same signature cannot sign anyone in again.
    let mut thief = web.client();
    let mut stolen = fields.clone();
    stolen[0].1 = thief.get("/signin").field("csrf");
    let borrowed: Vec<(&str, &str)> = stolen.iter().map(|(n, v)| (*n, v.as_str())).collect();
    thief
        .post("/signin", &borrowed)
        .assert_status(400)
        .assert_says("used already");
    // A registration signature does not sign in (another namespace).
    let reg = browser.get("/register");
    let reg_sig = key.sign(&reg.field("namespace"), &reg.field("challenge"));
    let page = thief.get("/signin");
    thief
        .post(
            "/signin",
            &[
                ("csrf", &page.field("csrf")),
                ("signature", &reg_sig),
                ("challenge", &page.field("challenge")),
            ],
        )
        .assert_status(400)
        .assert_says("namespace");
}

#[test]
fn an_unregistered_key_is_told_to_register() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let mut browser = web.client();
    let page = browser.get("/signin");
    let signature = key.sign(&page.field("namespace"), &page.field("challenge"));
    browser
        .post(
            "/signin",
            &[
                ("csrf", &page.field("csrf")),
                ("signature", &signature),
                ("challenge", &page.field("challenge")),
            ],
        )
        .assert_status(400)
        .assert_says("is not registered here");
    browser.get("/account").assert_status(303);
}

#[test]
fn sessions_expire_on_the_server() {
    let web = TestWeb::start();
    let (_, id) = registered(&web, "dave");
    let mut browser = web.client();
    follow(&mut browser, &link(&web, &id));
    browser.get("/account").assert_status(200);
    web.clock.advance(TimeDelta::minutes(119));
    browser.get("/account").assert_status(200);
    web.clock.advance(TimeDelta::minutes(121));
    let expired = browser.get("/account");
    expired.assert_status(303);
    assert_eq!(expired.header("location"), Some("/signin"));
}

#[test]
fn signing_out_ends_the_session_for_good() {
    let web = TestWeb::start();
    let (_, id) = registered(&web, "erin");
    let mut browser = web.client();
    follow(&mut browser, &link(&web, &id));
    let page = browser.get("/account");
    let stolen = browser.clone();
    let out = browser.post("/signout", &[("csrf", &page.field("csrf"))]);
    out.assert_status(303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    browser.get("/account").assert_status(303);
    // A copy of the old cookie is worth nothing either: the session is gone on the server.
    let mut stolen = stolen;
    stolen.get("/account").assert_status(303);
}
