// Citizen self-registration in headless Chromium: the form (a mistake first, answered per
// field), the neutral "check your e-mail" page, the confirmation mail read from the SMTP sink's
// Maildir, the confirmation page whose button (not the visit) creates the account, and the first
// sign-in to the account page. Screenshots go to $ARTIFACTS as register-NN-*.png. Run by
// tests/browser/run.sh with citizen_registration on and SMTP pointed at the sink.
import { launch } from "./lib.mjs";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";

const BASE = process.env.BASE;
const MAILDIR = process.env.MAILDIR;
const ARTIFACTS = process.env.ARTIFACTS;
for (const [k, v] of Object.entries({ BASE, MAILDIR, ARTIFACTS })) {
  if (!v) throw new Error(`${k} is not set (run tests/browser/run.sh)`);
}
mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
let passed = 0;
function check(name, ok, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
  passed += 1;
}

// The body of a stored message, undoing quoted-printable or base64 transfer encoding.
function body(raw) {
  const text = raw.replace(/\r\n/g, "\n");
  const split = text.indexOf("\n\n");
  const head = text.slice(0, split).replace(/\n[ \t]+/g, " ");
  let b = text.slice(split + 2);
  const enc = (head.match(/^content-transfer-encoding:\s*(\S+)/im) || [])[1]?.toLowerCase();
  if (enc === "base64") b = Buffer.from(b.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") {
    b = Buffer.from(b.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1")
      .toString("utf8");
  }
  return { head, body: b };
}

async function mailTo(address, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of readdirSync(`${MAILDIR}/new`)) {
      const m = body(readFileSync(`${MAILDIR}/new/${f}`, "utf8"));
      if (new RegExp(`^to:.*${address.replace(/[.+]/g, "\\$&")}`, "im").test(m.head)) return m;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${address}`);
}

// A NIK no other run uses: Jember (35.09.01), born 2 March 1990 (a woman: day + 40).
const NIK = `350901420390${String(1000 + Math.floor(Math.random() * 8999))}`;
const EMAIL = `warga${Date.now()}@surel.contoh.go.id`;
const PW = "lembayung-senja-2026";

const browser = await launch();
let exitCode = 0;
try {
  const context = await browser.newContext({ locale: "id-ID", viewport: { width: 1000, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  let n = 0;
  const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/register-${String(++n).padStart(2, "0")}-${name}.png`, fullPage: true });
  const h1 = () => page.getByRole("heading", { level: 1 }).textContent();

  // Found from the login page, as a citizen would.
  await page.goto(`${BASE}/account`);
  await Promise.all([page.waitForURL(/\/register$/), page.getByRole("link", { name: "Warga belum punya akun? Daftar di sini" }).click()]);
  check("the form is in Indonesian", (await h1()) === "Daftar akun warga");
  await shot("form");
  // A mistake first: an impossible birth date in the NIK (31 February).
  await page.getByLabel("NIK (16 digit, sesuai KTP-el)").fill("3509013102900001");
  await page.getByLabel("Nama lengkap").fill("Rina Kusuma");
  await page.getByLabel("Alamat e-mail").fill(EMAIL);
  await page.getByLabel("Kata sandi", { exact: true }).fill(PW);
  await page.getByLabel("Ulangi kata sandi").fill(PW);
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Daftar" }).click()]);
  const nikError = await page.locator("#nik-error").textContent();
  check("the NIK's mistake is named at its field", nikError.includes("tanggal lahir yang ada di kalender"), nikError);
  check("what was typed stays (not the password)",
        (await page.getByLabel("Alamat e-mail").inputValue()) === EMAIL && (await page.getByLabel("Kata sandi", { exact: true }).inputValue()) === "");
  await shot("field-error");

  await page.getByLabel("NIK (16 digit, sesuai KTP-el)").fill(NIK);
  await page.getByLabel("Kata sandi", { exact: true }).fill(PW);
  await page.getByLabel("Ulangi kata sandi").fill(PW);
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Daftar" }).click()]);
  check("the neutral answer", (await h1()) === "Periksa e-mail Anda");
  await shot("check-mail");

  const mail = await mailTo(EMAIL);
  const link = (mail.body.match(/https?:\/\/\S+\/register\/confirm\/[A-Za-z0-9_-]{43}/) || [])[0];
  check("the mail carries the confirmation link", Boolean(link), link ? "" : mail.body.split("\n")[0]);
  check("the mail greets the person", mail.body.includes("Rina Kusuma"));

  await page.goto(link);
  check("opening the link asks for the button", (await h1()) === "Selesaikan pendaftaran");
  await shot("confirm");
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Buat akun saya" }).click()]);
  check("the account is created", (await h1()) === "Akun Anda sudah dibuat");
  await shot("created");

  await Promise.all([page.waitForURL(/\/authorize|\/login/), page.getByRole("link", { name: "Masuk" }).click()]);
  await page.fill("#username", NIK);
  await page.fill("#password", PW);
  await shot("sign-in");
  await Promise.all([page.waitForURL(/\/account/), page.click('form[action="/login"] button[type=submit]')]);
  const text = await page.locator("main").textContent();
  check("signed in to the account page", text.includes("Rina Kusuma") && text.includes(NIK));
  await shot("account");

  // Used now: the link says so (410), and points to a new registration.
  const res = await page.goto(link);
  check("a used link is explained", res.status() === 410 && (await page.locator("main").textContent()).includes("sudah dipakai"));
  await shot("link-used");
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await browser.close();
}
console.log(`register: ${passed} passed, ${exitCode} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(exitCode);
