// Self-service password reset in headless Chromium: from the login page's "Lupa kata sandi?"
// link to the forgot-password form, the mail read from the SMTP sink's Maildir, the link
// followed (its GET only shows the form), a new password set, and a sign-in with it. Every page
// of interest is photographed into $ARTIFACTS as reset-NN-*.png. Run by tests/browser/run.sh,
// which starts the SMTP sink and gives the account a verified address.
import { launch } from "./lib.mjs";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";

const BASE = process.env.BASE;
const RESET_NIP = process.env.RESET_NIP;
const RESET_EMAIL = process.env.RESET_EMAIL;
const MAILDIR = process.env.MAILDIR;
const ARTIFACTS = process.env.ARTIFACTS;
const NEW_PASSWORD = "sandi-baru-peramban-2026";
for (const [k, v] of Object.entries({ BASE, RESET_NIP, RESET_EMAIL, MAILDIR, ARTIFACTS })) {
  if (!v) throw new Error(`${k} is not set (run tests/browser/run.sh)`);
}
mkdirSync(ARTIFACTS, { recursive: true });

const results = [];
function check(name, ok, detail = "") {
  results.push({ name, ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
}

// The body of a stored message, decoded (lettre picks 7bit, quoted-printable or base64).
function decode(raw) {
  const text = raw.replace(/\r\n/g, "\n");
  const split = text.indexOf("\n\n");
  const head = text.slice(0, split).replace(/\n[ \t]+/g, " ");
  const body = text.slice(split + 2);
  const cte = (/^content-transfer-encoding:\s*(\S+)/im.exec(head) || [, "7bit"])[1].toLowerCase();
  if (cte === "base64") return { head, body: Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8") };
  if (cte === "quoted-printable") {
    const bytes = body.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return { head, body: Buffer.from(bytes, "latin1").toString("utf8") };
  }
  return { head, body };
}

// Waits (up to 10 s) for the message to `to` in the sink's Maildir.
async function mailTo(to) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    let names = [];
    try { names = readdirSync(`${MAILDIR}/new`); } catch { /* not made yet */ }
    for (const name of names) {
      const m = decode(readFileSync(`${MAILDIR}/new/${name}`, "utf8"));
      if (new RegExp(`^to:.*${to.replace(/[.]/g, "\\.")}`, "im").test(m.head)) return m;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message to ${to}`);
}

const started = Date.now();
const browser = await launch();
let exitCode = 0;
let page;
try {
  const context = await browser.newContext({ locale: "id-ID", viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  let n = 0;
  const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/reset-${String(++n).padStart(2, "0")}-${name}.png`, fullPage: true });
  const h1 = () => page.getByRole("heading", { level: 1 }).textContent();

  // 1. The login page offers the way out.
  await page.goto(`${BASE}/account`);
  const forgotLink = page.getByRole("link", { name: "Lupa kata sandi?" });
  check("the login page links to forgot-password", (await forgotLink.count()) === 1);
  await shot("login");
  await Promise.all([page.waitForURL(`${BASE}/login/forgot`), forgotLink.click()]);
  check("the forgot-password page", (await h1()).trim() === "Lupa kata sandi", await h1());
  await shot("forgot");

  // 2. The same neutral answer whatever the identifier; a mail only where there is a verified address.
  await page.getByLabel("NIP atau NIK").fill(RESET_NIP);
  await Promise.all([page.waitForURL(`${BASE}/login/forgot`), page.getByRole("button", { name: "Kirim tautan" }).click()]);
  const sent = (await page.locator("#forgot-sent").textContent()).trim();
  check("the neutral answer", sent.startsWith("Jika ada akun"), sent);
  await shot("forgot-sent");

  // 3. The mail, from the sink's Maildir.
  const mail = await mailTo(RESET_EMAIL);
  const subject = (/^subject:\s*(.*)$/im.exec(mail.head) || [, ""])[1];
  check("the mail's subject", subject === "Atur ulang kata sandi Anda", subject);
  const link = (new RegExp(`${BASE}/reset/[A-Za-z0-9_-]{43}`).exec(mail.body) || [])[0];
  check("the mail carries a reset link", Boolean(link), link ? "" : mail.body);

  // 4. Opening it shows the form (and spends nothing); a too-short password is refused on the page.
  await page.goto(link);
  check("the new-password form", (await h1()).trim() === "Atur kata sandi baru", await h1());
  await shot("reset-form");
  await page.goto(link);
  check("opening it again still shows the form", (await h1()).trim() === "Atur kata sandi baru");
  await page.getByLabel("Kata sandi baru", { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel("Ulangi kata sandi baru").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Simpan kata sandi" }).click();
  await page.waitForLoadState();
  check("the password is set", (await h1()).trim() === "Kata sandi sudah diatur", await h1());
  await shot("reset-done");

  // 5. The link is spent; signing in with the new password works.
  const again = await page.goto(link);
  check("the used link is refused with 410", again.status() === 410, String(again.status()));
  await shot("reset-used");
  await page.goto(`${BASE}/account`);
  await page.fill("#username", RESET_NIP);
  await page.fill("#password", NEW_PASSWORD);
  await Promise.all([page.waitForURL(`${BASE}/account**`), page.getByRole("button", { name: "Masuk", exact: true }).click()]);
  check("signed in with the new password", (await h1()).trim() === "Akun saya", await h1());
  await shot("signed-in");
} catch (e) {
  console.error(e);
  if (page) {
    console.error(`page at failure: ${page.url()}`);
    await page.screenshot({ path: `${ARTIFACTS}/reset-failure.png`, fullPage: true }).catch(() => {});
  }
  exitCode = 1;
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length;
console.log(`reset: ${results.length - failed} passed, ${failed + (exitCode && !failed ? 1 : 0)} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(exitCode);
