// The web front-end end to end, as a newcomer meets it: Debian's Chromium (driven by
// playwright-core) against the real chat-cli binary, keys made and signatures made with
// OpenSSH's ssh-keygen, the chat entered with OpenSSH's ssh. Every page is checked with
// axe-core and at 1280 and 375 px, and screenshotted to $SCREENSHOTS (target/screenshots/ from the Rust test).
//
// `cargo test --workspace` runs it once (chat-cli/tests/browser.rs), with the server it started
// given by CHAT_WEB_URL and CHAT_SSH_PORT (it must run with --join registered). Without them
// the script starts target/debug/chat-cli itself:
//   npm --prefix chat-web/tests/browser test
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import axe from "axe-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const binary = process.env.CHAT_CLI ?? join(root, "target/debug/chat-cli");
const shots = process.env.SCREENSHOTS ?? join(root, "docs/screenshots");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WIDTHS = [1280, 375];

let work, server, sshPort, webUrl, browser;

/** A port nothing listens on now. */
function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/** Starts chat-cli serve and waits for it to say it listens. */
async function startServer() {
  sshPort = await freePort();
  const webPort = await freePort();
  webUrl = `http://127.0.0.1:${webPort}`;
  const child = spawn(
    binary,
    ["serve", "--bind", `127.0.0.1:${sshPort}`, "--web-bind", `127.0.0.1:${webPort}`,
      "--data-dir", join(work, "data"), "--join", "registered"],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "info" } },
  );
  let log = "";
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`chat-cli did not start:\n${log}`)), 20000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      if (log.includes("listening; connect with")) {
        clearTimeout(timer);
        ok();
      }
    });
    child.once("exit", (code) => fail(new Error(`chat-cli exited ${code}:\n${log}`)));
  });
  child.log = () => log;
  return child;
}

/** Makes an Ed25519 key with ssh-keygen; returns its private key path. */
function makeKey(name) {
  const path = join(work, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@e2e`, "-f", path]);
  return path;
}

/** What `echo CHALLENGE | ssh-keygen -Y sign -f KEY -n NAMESPACE` prints, as the page says. */
function sign(key, namespace, challenge) {
  return execFileSync("ssh-keygen", ["-Y", "sign", "-f", key, "-n", namespace],
    { input: `${challenge}\n` }).toString();
}

const sshOptions = (key) => ["-p", String(sshPort), "-F", "/dev/null",
  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
  "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no", "-o", "ConnectTimeout=10",
  "-i", key];

/** Runs `ssh -p PORT host COMMAND` with `key`; returns stdout. */
function sshExec(key, command) {
  return execFileSync("ssh", [...sshOptions(key), "visitor@127.0.0.1", command],
    { timeout: 20000 }).toString();
}

/** Terminal output as text: escape sequences (colours, cursor moves) removed. */
const plain = (bytes) => bytes
  .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
  .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "")
  .replace(/\x1b[@-_]/g, "");

/** Logs in with OpenSSH on a terminal (`ssh -tt`, as a person would) and returns the line
 *  greeting it prints. */
function sshGreeting(key) {
  return new Promise((ok, fail) => {
    const ssh = spawn("ssh", [...sshOptions(key), "-tt", "visitor@127.0.0.1"],
      { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => { ssh.kill(); fail(new Error(`no greeting:\n${plain(out)}`)); }, 20000);
    ssh.stdout.on("data", (chunk) => {
      out += chunk;
      const greeting = plain(out).match(/Welcome, [^\r\n!]*!/);
      if (greeting) {
        clearTimeout(timer);
        ssh.kill();
        ok(greeting[0]);
      }
    });
  });
}

/** Checks `page` at both widths: no serious accessibility finding, nothing wider than the
 *  screen, and a screenshot of each. */
async function checkPage(page, name) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width > 500 ? 900 : 800 });
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name} at ${width}px is ${overflow}px wider than the screen`);
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.evaluate(axe.source);
  const results = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  }));
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`), [],
    `${name}: accessibility violations`);
}

/** A fresh browser context (no cookies) whose page fails the test on a CSP violation or a
 *  script error. */
async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  // A page that answers 400 on purpose logs "Failed to load resource"; anything else that
  // the console calls an error (a CSP violation, a script error) is a problem.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.problems.push(m.text());
  });
  page.on("pageerror", (e) => page.problems.push(String(e)));
  return page;
}

before(async () => {
  work = mkdtempSync(join(process.env.CHAT_E2E_WORK ?? tmpdir(), "chat-e2e-"));
  mkdirSync(shots, { recursive: true });
  if (process.env.CHAT_WEB_URL && process.env.CHAT_SSH_PORT) {
    webUrl = process.env.CHAT_WEB_URL.replace(/\/$/, "");
    sshPort = Number(process.env.CHAT_SSH_PORT);
  } else {
    server = await startServer();
  }
  // launch() gives Chromium a fresh, empty user-data-dir of its own each time.
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

test("a newcomer registers, chats over SSH, signs in with /web and manages keys", async () => {
  const key = makeKey("id_ed25519");
  const page = await freshPage();

  // The home page: how to connect, how to trust the server.
  await page.goto(`${webUrl}/`);
  assert.match(await page.textContent("main"), new RegExp(`ssh -p ${sshPort} 127\\.0\\.0\\.1`));
  assert.match(await page.textContent("main"), /SHA256:/);
  await checkPage(page, "home");

  // Registering: a mistake first (a bad name), then the right one.
  await page.click("text=Register");
  await page.waitForURL(`${webUrl}/register`);
  await checkPage(page, "register");
  const publicKey = readFileSync(`${key}.pub`, "utf8");
  const challenge = await page.inputValue("input[name=challenge]");
  const namespace = await page.inputValue("input[name=namespace]");
  assert.match(await page.textContent("main"), new RegExp(`ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n ${namespace}`));
  await page.fill("#name", "new comer!");
  await page.fill("#public_key", publicKey);
  await page.fill("#signature", sign(key, namespace, challenge));
  await page.click("button[type=submit]");
  assert.match(await page.textContent("#name-error"), /how about newcomer/);
  assert.equal(await page.inputValue("#public_key"), publicKey, "what was typed is kept");
  await checkPage(page, "register-error");
  await page.fill("#name", "newcomer");
  await page.click("button[type=submit]");
  await page.waitForSelector("text=Welcome, newcomer!");
  assert.match(await page.textContent("main"), new RegExp(`ssh -p ${sshPort} 127\\.0\\.0\\.1`));
  await checkPage(page, "registered");

  // The key now gets into the chat, by the registered name.
  const greeting = await sshGreeting(key);
  assert.match(greeting, /Welcome, newcomer!/);

  // A new browser signs in with the link `ssh host /web` prints.
  const out = sshExec(key, "/web");
  const link = out.split(/\s+/).find((w) => w.startsWith(`${webUrl}/signin/`));
  assert.ok(link, `no link in: ${out}`);
  const other = await freshPage();
  await other.goto(`${webUrl}/signin`);
  await checkPage(other, "signin");
  await other.goto(link);
  await checkPage(other, "signin-link");
  await other.click("button:has-text(\"Sign in as newcomer\")");
  await other.waitForURL(`${webUrl}/account`);
  await checkPage(other, "account");

  // Add a second key, with its own proof, then remove it.
  const laptop = makeKey("laptop");
  await other.fill("#public_key", readFileSync(`${laptop}.pub`, "utf8"));
  await other.fill("#label", "laptop");
  const addChallenge = await other.inputValue("form[action='/account/keys'] input[name=challenge]");
  const addNamespace = await other.inputValue("form[action='/account/keys'] input[name=namespace]");
  await other.fill("#signature", sign(laptop, addNamespace, addChallenge));
  await other.click("form[action='/account/keys'] button[type=submit]");
  await other.waitForSelector("text=The key is added");
  assert.equal(await other.locator("li.key").count(), 2);
  await checkPage(other, "account-two-keys");
  assert.match(sshExec(laptop, "/keys"), /keys of newcomer/, "the new key logs in as the account");
  const laptopFingerprint = execFileSync("ssh-keygen", ["-lf", `${laptop}.pub`]).toString().split(" ")[1];
  const laptopCard = other.locator("li.key", { hasText: laptopFingerprint });
  assert.equal(await laptopCard.locator("input[name=label]").inputValue(), "laptop");
  await laptopCard.locator("button.danger").click();
  await other.waitForSelector("text=The key is removed");
  assert.equal(await other.locator("li.key").count(), 1);

  // Signing out ends the session.
  await other.click("button:has-text(\"Sign out\")");
  await other.goto(`${webUrl}/account`);
  await other.waitForURL(`${webUrl}/signin`);

  assert.deepEqual(page.problems, [], "no script errors or CSP violations");
  assert.deepEqual(other.problems, [], "no script errors or CSP violations");
});

/** Registers `name` with `key` in `page`, which is then signed in. */
async function registerAs(page, name, key) {
  await page.goto(`${webUrl}/register`);
  const challenge = await page.inputValue("input[name=challenge]");
  const namespace = await page.inputValue("input[name=namespace]");
  await page.fill("#name", name);
  await page.fill("#public_key", readFileSync(`${key}.pub`, "utf8"));
  await page.fill("#signature", sign(key, namespace, challenge));
  await page.click("button[type=submit]");
  await page.waitForSelector(`text=Welcome, ${name}!`);
}

/** A person in a terminal (`ssh -tt`): `said(text)` waits until the screen shows `text`. */
function sshTerminal(key) {
  const ssh = spawn("ssh", [...sshOptions(key), "-tt", "visitor@127.0.0.1"],
    { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const waiters = [];
  ssh.stdout.on("data", (chunk) => {
    out += chunk;
    for (const w of [...waiters]) if (w.test(plain(out))) { waiters.splice(waiters.indexOf(w), 1); w.ok(); }
  });
  const shows = (pattern, ms = 10000) => new Promise((ok, fail) => {
    const w = { test: (text) => pattern.test(text), ok: () => { clearTimeout(w.timer); ok(); } };
    w.timer = setTimeout(() => fail(new Error(`the terminal never showed ${pattern}:\n${plain(out)}`)), ms);
    if (w.test(plain(out))) return w.ok();
    waiters.push(w);
  });
  return { shows, type: (text) => ssh.stdin.write(text), close: () => ssh.kill() };
}

test("a browser user and an OpenSSH user chat in the same room, and text stays text", async () => {
  const webKey = makeKey("id_browser");
  const sshKey = makeKey("id_terminal");
  const page = await freshPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  await registerAs(await freshPage(), "terminaluser", sshKey);
  await registerAs(page, "browseruser", webKey);

  // Signed in, the menu leads to the chat.
  await page.click("nav >> text=Chat");
  await page.waitForURL(`${webUrl}/chat`);
  await page.waitForSelector("#status:has-text(\"Connected as browseruser\")");

  const terminal = sshTerminal(sshKey);
  await terminal.shows(/Welcome, terminaluser!/);
  await page.waitForSelector("#members li:has-text(\"terminaluser\")");

  // The terminal's line shows in the browser within a second.
  const started = Date.now();
  terminal.type("hello from the terminal\r");
  await page.waitForSelector(".line.said:has-text(\"hello from the terminal\")", { timeout: 1000 });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1000, `the browser showed the line after ${elapsed} ms`);
  assert.equal(await page.textContent(".line.said:has-text(\"hello from the terminal\") .from"), "terminaluser");

  // And the browser's line shows on the terminal.
  await page.fill("#text", "hello from the browser");
  await page.press("#text", "Enter");
  await terminal.shows(/browseruser: hello from the browser/);
  assert.equal(await page.inputValue("#text"), "", "the input is cleared once sent");

  // Markup and escape sequences are shown as text, from either side.
  const nasty = "<script>alert(1)</script> <b>bold</b> \u001b[31mred";
  await page.fill("#text", nasty);
  await page.press("#text", "Enter");
  const shown = page.locator(".line.said .text", { hasText: "<script>alert(1)</script>" });
  await shown.waitFor();
  const text = await shown.textContent();
  assert.ok(text.includes("<script>alert(1)</script> <b>bold</b>"), `shown as: ${JSON.stringify(text)}`);
  assert.ok(!text.includes("\u001b"), "no escape character reaches the page");
  assert.equal(await page.locator("#lines script, #lines b").count(), 0, "no element was made from the text");
  terminal.type("<img src=x onerror=alert(2)>\r");
  await page.locator(".line.said .text", { hasText: "<img src=x onerror=alert(2)>" }).waitFor();
  assert.equal(await page.locator("#lines img").count(), 0);

  // Commands work as on the terminal.
  await page.fill("#text", "/who");
  await page.press("#text", "Enter");
  await page.waitForSelector("#members li:has-text(\"browseruser\")");

  await checkPage(page, "chat");

  // /join goes to another room: the heading and the member list follow, and back.
  await page.fill("#text", "/join #e2e");
  await page.press("#text", "Enter");
  await page.waitForSelector("#room:has-text(\"#e2e\")");
  await page.waitForFunction(() => document.querySelectorAll("#members li").length === 1);
  assert.equal(await page.textContent("#members li"), "browseruser");
  await page.click("#rooms button:has-text(\"#lobby\")");
  await page.waitForSelector("#room:has-text(\"#lobby\")");
  await page.waitForSelector("#members li:has-text(\"terminaluser\")");

  // A reload is a new session: what was said before comes back as history.
  await page.reload();
  await page.waitForSelector("#status:has-text(\"Connected as browseruser\")");
  await page.waitForSelector(".line.said:has-text(\"hello from the terminal\")");

  // A second tab of the same key takes over; the first one says so and does not fight back.
  const second = await page.context().newPage();
  await second.goto(`${webUrl}/chat`);
  await second.waitForSelector("#status:has-text(\"Connected as browseruser\")");
  await page.waitForSelector("#status button:has-text(\"Reconnect\")");
  await new Promise((ok) => setTimeout(ok, 2500));
  assert.match(await second.textContent("#status"), /Connected as browseruser/, "the newer tab keeps the session");
  await second.close();
  await page.click("#status button:has-text(\"Reconnect\")");
  await page.waitForSelector("#status:has-text(\"Connected as browseruser\")");

  assert.deepEqual(dialogs, [], "no script ran from a line");
  assert.deepEqual(page.problems, [], "no script errors or CSP violations");
  terminal.close();
});
