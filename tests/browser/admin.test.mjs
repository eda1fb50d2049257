// The administrator's whole job in a real browser: Debian's Chromium, driven
// by playwright-core, presenting the admin's client certificate to the real
// server on loopback. Screenshots of every page go to test-output/admin/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), ".cache/sightline/target");
const binary = process.env.SIGHTLINE_SERVER_BIN ?? path.join(targetDir, "debug/sightline-server");
const shots = path.join(repo, "test-output/admin");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sightline-admin-"));
const dataDir = path.join(root, "data");

let server;
let base;
let browser;
let adminPassword;

function cli(args, input) {
  return execFileSync(binary, ["--data-dir", dataDir, ...args], { input, encoding: "utf8", env: { ...process.env, RUST_LOG: "warn" } });
}

/** RFC 6238 code for a base32 secret at the current time. */
function totp(base32) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/\s+/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = crypto.createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** A request from the Node side (no browser), optionally with a client certificate. */
function request(method, urlPath, { body, cert, key, token } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}${urlPath}`,
      // A fresh connection each time: no keep-alive, no TLS session reuse.
      {
        method,
        rejectUnauthorized: false,
        cert,
        key,
        agent: false,
        headers: { ...(body ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

/** Follows a link in the admin navigation bar. */
async function nav(page, name) {
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name, exact: true }).click();
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
}

function outbox() {
  const dir = path.join(dataDir, "outbox");
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), "utf8")) : [];
}

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const init = cli(["init", "--hostname", "localhost"]);
  adminPassword = init.match(/One-time password \(shown only now; store it safely\): (\S+)/)[1];
  server = spawn(binary, ["--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0"], { env: { ...process.env, RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: server.stdout });
  base = await new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      const match = line.match(/^listening on (https:\/\/\S+)$/);
      if (match) resolve(match[1]);
    });
    server.on("exit", () => reject(new Error("the server exited")));
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  fs.rmSync(root, { recursive: true, force: true });
});

function adminContext() {
  const identity = path.join(dataDir, "bootstrap/admin");
  return browser.newContext({
    viewport: { width: 1280, height: 800 },
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: base, certPath: path.join(identity, "client.crt"), keyPath: path.join(identity, "client.key") }],
  });
}

test("without a client certificate the browser lands on /request-access", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${base}/admin`);
  assert.match(page.url(), /\/request-access$/);
  await assert.doesNotReject(page.getByRole("heading", { name: "Request access" }).waitFor());
  await shot(page, "00-request-access");
  await context.close();
});

test("an administrator does the whole job in the browser", async () => {
  const context = await adminContext();
  const page = await context.newPage();
  const dialogs = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.accept();
  });

  // Sign in: password, then TOTP enrolment with the key shown on the page.
  await page.goto(`${base}/admin`);
  assert.match(page.url(), /\/admin\/login$/);
  await shot(page, "01-login");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(adminPassword);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "Set up your authenticator" }).waitFor();
  assert.ok(await page.locator(".qr svg").isVisible(), "the QR code is shown");
  await shot(page, "02-enrol");
  const key = await page.getByLabel("Authenticator key").innerText();
  await page.getByLabel("Code").fill(totp(key));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
  assert.equal(await page.locator("ul.codes li").count(), 10);
  await shot(page, "03-recovery-codes");
  await page.getByRole("link", { name: /continue/ }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();

  // People ask for access on the public page (one of them with markup in their name).
  for (const [email, name] of [
    ["avery@example.com", "Avery Quinn"],
    ["blake@example.com", "Blake Moss"],
    ["casey@example.com", "Casey Lin"],
    ["devon@example.com", "Devon Park"],
    ["eve@example.com", "<script>alert(1)</script>"],
  ]) {
    const answer = await request("POST", "/public/request-access", { body: { email, name, reason: "I work on the release tooling" } });
    assert.equal(answer.status, 202);
  }
  await page.goto(`${base}/admin`);
  assert.match(await page.locator(".tile").first().innerText(), /^5\s/);
  await shot(page, "04-dashboard");

  await nav(page, "Access requests");
  assert.ok(await page.getByRole("cell", { name: "<script>alert(1)</script>" }).isVisible(), "markup is shown as text");
  await shot(page, "05-requests-pending");

  // Approve one; the mail with the link is in the outbox.
  const mailsBefore = outbox().length;
  const avery = page.getByRole("row").filter({ hasText: "avery@example.com" });
  await avery.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: "Approved avery@example.com" }).waitFor();
  const mails = outbox();
  assert.equal(mails.length, mailsBefore + 1);
  assert.match(mails.at(-1), /To: avery@example\.com/);
  assert.match(mails.at(-1).replace(/=\r?\n/g, ""), /\/public\/download-certs\//);

  // Reject one with a note (the confirm dialog is accepted).
  const blake = page.getByRole("row").filter({ hasText: "blake@example.com" });
  await blake.getByLabel(/Note for/).fill("Please ask your team lead first");
  await blake.getByRole("button", { name: "Reject" }).click();
  await page.getByRole("status").filter({ hasText: "Rejected blake@example.com" }).waitFor();
  assert.ok(dialogs.some((message) => message.includes("blake@example.com")));
  assert.match(outbox().at(-1).replace(/=\r?\n/g, ""), /Please ask your team lead first/);

  // Approve two at once.
  await page.getByLabel("Select request from casey@example.com").check();
  await page.getByLabel("Select request from devon@example.com").check();
  await page.getByRole("button", { name: "Approve selected" }).click();
  await page.getByRole("status").filter({ hasText: "Approved 2 requests" }).waitFor();
  await page.getByRole("link", { name: "Approved" }).click();
  for (const email of ["avery", "casey", "devon"]) {
    assert.ok(await page.getByRole("cell", { name: `${email}@example.com` }).isVisible());
  }
  await shot(page, "06-requests-approved");

  // Revoke a certificate and see its holder refused.
  cli(["user", "add", "ada", "--email", "ada@example.com", "--password-stdin"], "violet-otter-harbour\n");
  const certDir = path.join(root, "ada");
  cli(["cert", "issue", "--user", "ada", "--out", certDir]);
  const ada = { cert: fs.readFileSync(path.join(certDir, "client.crt")), key: fs.readFileSync(path.join(certDir, "client.key")) };
  assert.equal((await request("GET", "/healthz", ada)).status, 200);
  await nav(page, "Certificates");
  // Rows are picked by the whole user cell: a hex serial ending in "ad"
  // followed by "admin" would contain "ada".
  const certificateRow = (user) =>
    page
      .getByRole("row")
      .filter({ has: page.getByRole("cell", { name: user, exact: true }) })
      .filter({ has: page.getByRole("cell", { name: "valid", exact: true }) });
  const adaRow = certificateRow("ada");
  await adaRow.getByLabel("Reason").selectOption("key-compromise");
  await adaRow.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("status").filter({ hasText: "Revoked certificate" }).waitFor();
  await shot(page, "07-certificates");
  // The certificate this browser signs in with cannot be revoked from here.
  const own = certificateRow("admin");
  await own.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("alert").filter({ hasText: "This browser signs in with that certificate" }).waitFor();
  // Within 5 seconds a new handshake with that certificate fails.
  let refused = false;
  for (let attempt = 0; attempt < 25 && !refused; attempt++) {
    refused = await request("GET", "/healthz", ada).then(() => false, () => true);
    if (!refused) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(refused, "the revoked certificate was still accepted after 5 s");

  // Create a mode, then edit it.
  await nav(page, "Modes");
  await page.getByLabel("Name").fill("Summarise");
  await page.getByLabel("Kind").selectOption("chat");
  await page.getByLabel("Provider").selectOption("ollama");
  await page.getByLabel(/^Model/).fill("llava");
  await page.getByLabel("Description").fill("Three bullet points about the screen.");
  await page.getByLabel("System prompt").fill("Summarise what is on screen in three bullet points.");
  await page.getByRole("button", { name: "Create mode" }).click();
  await page.getByRole("status").filter({ hasText: "Created the mode Summarise" }).waitFor();
  await shot(page, "08-modes");
  await page.getByRole("link", { name: "Summarise" }).click();
  await page.getByLabel("System prompt").fill("Summarise the screen in two sentences.");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("status").filter({ hasText: "Saved the mode Summarise" }).waitFor();
  const modes = JSON.parse(cli(["mode", "list", "--json"]));
  assert.equal(modes.find((m) => m.slug === "summarise").system_prompt, "Summarise the screen in two sentences.");

  // Users: the list, and one user's certificates.
  await nav(page, "Users");
  assert.ok(await page.getByRole("link", { name: "avery" }).isVisible(), "approval created the account");
  // Create a user: they get a one-time link to set a password.
  const before = outbox().length;
  await page.getByLabel("E-mail", { exact: true }).fill("frank@example.com");
  await page.getByRole("button", { name: "Create and send link" }).click();
  await page.getByRole("status").filter({ hasText: "Created frank" }).waitFor();
  assert.equal(outbox().length, before + 1);
  assert.match(outbox().at(-1).replace(/=\r?\n/g, ""), /To: frank@example\.com[\s\S]*\/public\/download-certs\//);
  // Promote, demote, reset the second factor, disable.
  const averyRow = () => page.getByRole("row").filter({ hasText: "avery@example.com" });
  await averyRow().getByRole("button", { name: "Make admin" }).click();
  await page.getByRole("status").filter({ hasText: "avery is now an administrator" }).waitFor();
  await averyRow().getByRole("button", { name: "Demote" }).click();
  await page.getByRole("status").filter({ hasText: "avery is no longer an administrator" }).waitFor();
  await averyRow().getByRole("button", { name: "Reset 2FA" }).click();
  await page.getByRole("status").filter({ hasText: "Reset the second factor of avery" }).waitFor();
  await averyRow().getByRole("button", { name: "Disable" }).click();
  await page.getByRole("status").filter({ hasText: "Disabled avery" }).waitFor();
  assert.ok(await averyRow().getByText("Disabled").isVisible());
  // An administrator cannot lock themselves out.
  await page.getByRole("row").filter({ hasText: "admin@localhost" }).getByRole("button", { name: "Disable" }).click();
  await page.getByRole("alert").filter({ hasText: "cannot disable or demote yourself" }).waitFor();
  await shot(page, "09-users");
  await page.getByRole("link", { name: "ada", exact: true }).click();
  assert.ok(await page.getByText("key-compromise").isVisible());
  await shot(page, "10-user");

  // Every action is in the audit log, and the filter finds them.
  await nav(page, "Audit log");
  const log = await page.locator("table.grid").innerText();
  for (const action of ["admin.login", "request.approve", "request.reject", "cert.revoke", "mode.add", "mode.update", "user.add", "user.promote", "user.demote", "user.reset_2fa", "user.disable"]) {
    assert.ok(log.includes(action), `${action} is in the audit log`);
  }
  await page.getByLabel("Action").fill("request.approve");
  await page.getByRole("button", { name: "Filter" }).click();
  const rows = page.locator("table.grid tbody tr");
  assert.equal(await rows.count(), 3);
  assert.ok((await rows.allInnerTexts()).every((row) => row.includes("request.approve") && row.includes("127.0.0.1")), "each entry names the admin's address");
  await shot(page, "11-audit");

  // Forms without the session's CSRF token are refused.
  const forged = await context.request.post(`${base}/admin/modes`, { form: { name: "Forged", kind: "chat", provider: "ollama", model: "m" } });
  assert.equal(forged.status(), 403);
  const wrong = await context.request.post(`${base}/admin/modes`, { form: { csrf: "not-the-token", name: "Forged", kind: "chat", provider: "ollama", model: "m" } });
  assert.equal(wrong.status(), 403);
  assert.ok(!JSON.parse(cli(["mode", "list", "--json"])).some((m) => m.name === "Forged"));

  // A device renews its certificate with a key it made itself (only the
  // signing request is sent); the old certificate is superseded at the new
  // one's first use, and the admin sees the history.
  cli(["user", "add", "bo", "--email", "bo@example.com", "--password-stdin"], "violet-otter-harbour\n");
  const boDir = path.join(root, "bo");
  cli(["cert", "issue", "--user", "bo", "--out", boDir]);
  const bo = { cert: fs.readFileSync(path.join(boDir, "client.crt")), key: fs.readFileSync(path.join(boDir, "client.key")) };
  const login = JSON.parse((await request("POST", "/native/login", { body: { username: "bo", password: "violet-otter-harbour" }, ...bo })).text);
  const secret = new URL(login.enrollment.otpauth_uri).searchParams.get("secret");
  const verified = await request("POST", "/native/verify-2fa", { body: { challenge: login.challenge, code: totp(secret) }, ...bo });
  const tokens = JSON.parse(verified.text);
  const deviceRequest = (name) => {
    execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=device",
      "-keyout", path.join(boDir, `${name}.key`), "-out", path.join(boDir, `${name}.csr`)], { stdio: "ignore" });
    return fs.readFileSync(path.join(boDir, `${name}.csr`), "utf8");
  };
  const renewed = await request("POST", "/native/renew-certificate", { body: { csr: deviceRequest("next") }, ...bo, token: tokens.access_token });
  assert.equal(renewed.status, 200, renewed.text);
  const next = { cert: JSON.parse(renewed.text).certificate, key: fs.readFileSync(path.join(boDir, "next.key")) };
  const refreshed = await request("POST", "/native/refresh", { body: { refresh_token: tokens.refresh_token }, ...next });
  assert.equal(refreshed.status, 200, refreshed.text);
  await nav(page, "Certificates");
  await page.getByRole("link", { name: "Superseded" }).click();
  const boRow = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "bo", exact: true }) });
  await boRow.getByText("superseded", { exact: true }).waitFor();
  await page.getByRole("link", { name: "All", exact: true }).click();
  await boRow.filter({ hasText: "renewed by" }).filter({ hasText: "in use since" }).waitFor();
  await boRow.filter({ hasText: "renews" }).filter({ hasText: "command line" }).waitFor();
  await shot(page, "09-certificate-history");
  // Renewal turned off for bo: the device's next renewal is refused.
  await page.goto(`${base}/admin/users/bo`);
  await page.getByRole("button", { name: "Turn renewal off" }).click();
  await page.getByRole("status").filter({ hasText: "Renewal is off for bo" }).waitFor();
  const moved = JSON.parse(refreshed.text);
  const notRenewed = await request("POST", "/native/renew-certificate", { body: { csr: deviceRequest("again") }, ...next, token: moved.access_token });
  assert.equal(notRenewed.status, 403, notRenewed.text);
  assert.equal(JSON.parse(notRenewed.text).error.code, "renewal_disabled");
  await page.goto(`${base}/admin/users/bo`);
  await page.getByTestId("renewal-policy").getByText("off", { exact: true }).waitFor();
  await shot(page, "10-user-renewal-off");

  // Log out: the pages ask for a sign-in again.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/admin\/login$/);
  await page.goto(`${base}/admin/users`);
  assert.match(page.url(), /\/admin\/login$/);
  await context.close();
});
