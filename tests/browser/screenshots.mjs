// The pages the manuals (docs/panduan/pengguna.md, admin.md) show, photographed in headless
// Chromium in Bahasa Indonesia at a fixed 1024×700 viewport (the visible part only) into
// $ARTIFACTS/panduan/<name>.png; docs/tools/screenshots.sh copies them into docs/panduan/gambar/.
// A civil servant logs in to an application that asks for consent, looks at their account,
// adds a passkey, steps up for a level-3 application and is refused by a level-4 one, enrols an authenticator app and is asked
// for it at the next login; a Diskominfo administrator walks through the console. Each page is
// checked to be the one meant (and in Indonesian) before it is photographed. Run last by
// tests/browser/run.sh, on the same server, after the other scripts made their data.
import { launch, withAuthenticator } from "./lib.mjs";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";

const BASE = process.env.BASE;
const PASSWORD = process.env.PASSWORD;
const MANUAL_NIP = process.env.MANUAL_NIP;
const MANUAL_ADMIN_NIP = process.env.MANUAL_ADMIN_NIP;
const MANUAL_ADMIN_ENROL_URL = process.env.MANUAL_ADMIN_ENROL_URL;
const STAFF_ID = process.env.STAFF_ID;
const OUT = `${process.env.ARTIFACTS}/panduan`;
for (const [k, v] of Object.entries({ BASE, PASSWORD, MANUAL_NIP, MANUAL_ADMIN_NIP, MANUAL_ADMIN_ENROL_URL, STAFF_ID, ARTIFACTS: process.env.ARTIFACTS })) {
  if (!v) throw new Error(`${k} is not set (run tests/browser/run.sh)`);
}
mkdirSync(OUT, { recursive: true });

let passed = 0;
function check(name, ok, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
  passed += 1;
}

const b64u = (buf) => Buffer.from(buf).toString("base64url");
function authorizeUrl(clientId, scope) {
  const verifier = b64u(randomBytes(32));
  const q = new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: `${BASE}/e2e/callback`, scope,
    state: b64u(randomBytes(8)), code_challenge: b64u(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  });
  return `${BASE}/authorize?${q}`;
}

// The current code of an authenticator app (RFC 6238: SHA-1, 6 digits, 30 s) for a base32 secret.
function totp(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/[\s=]/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

// The page language comes from Gerbang (Accept-Language: id); Chromium's own widgets (the date
// fields' "dd/mm/tttt") follow its UI language, which needs LANGUAGE and Debian's chromium-l10n.
const ID_PAK = "/usr/lib/chromium/locales/id.pak";
if (!existsSync(ID_PAK)) console.log(`note: ${ID_PAK} is missing (apt-get install chromium-l10n): date fields show mm/dd/yyyy`);
const started = Date.now();
const browser = await launch({
  extraArgs: ["--font-render-hinting=none", "--lang=id-ID"],
  env: { ...process.env, LANGUAGE: "id", LANG: "id_ID.UTF-8" },
});
let exitCode = 0;
let page;
const shots = [];
try {
  // A browser of its own, in Indonesian, with a platform authenticator, for each person.
  async function newBrowserPage() {
    const { context, page: p } = await withAuthenticator(browser, { viewport: { width: 1024, height: 700 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(15_000);
    return p;
  }
  const h1 = async () => (await page.getByRole("heading", { level: 1 }).first().textContent()).trim();
  const button = (name) => page.getByRole("button", { name, exact: true });
  // Photographs the page once its heading is `heading` and the page is in Indonesian.
  async function shot(name, heading) {
    await page.waitForLoadState("load");
    const lang = await page.getAttribute("html", "lang");
    const title = await h1();
    check(`${name}.png shows "${heading}" in Indonesian`, lang === "id" && title.includes(heading), `lang=${lang}, h1=${title}`);
    await page.screenshot({ path: `${OUT}/${name}.png`, animations: "disabled", caret: "hide" });
    shots.push(name);
  }

  // The user manual: a civil servant (Dian Lestari) and an application that asks for consent.
  page = await newBrowserPage();
  await page.goto(authorizeUrl("layanan-perizinan", "openid profile nip opd email"));
  await page.locator("#username").waitFor();
  await shot("login", "Masuk");
  await page.fill("#username", MANUAL_NIP);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/login/), page.click('form[action="/login"] button[type=submit]')]);
  await shot("persetujuan", "Persetujuan akses data");
  check("the consent page names the application", (await page.locator(".app-name").innerText()) === "Layanan Perizinan Online");
  await Promise.all([page.waitForURL(/\/e2e\/callback/), page.locator('button[name="decision"][value="allow"]').click()]);

  await page.goto(`${BASE}/account`);
  await shot("akun-ringkasan", "Akun saya");
  await page.goto(`${BASE}/account/applications`);
  await shot("aplikasi-terhubung", "Aplikasi terhubung");
  check("the consented application is listed", (await page.getByRole("main").innerText()).includes("Layanan Perizinan Online"));
  await page.goto(`${BASE}/account/certificates`);
  await shot("sertifikat", "Sertifikat elektronik");

  // A passkey; the step-up for an application that demands level 3; the refusal of one that
  // demands level 4 (no certificate).
  await page.goto(`${BASE}/account`);
  await page.fill("#passkey-name", "Laptop kantor");
  await Promise.all([page.waitForURL(/done=passkey_added/), page.click("#passkey-add")]);
  // The passkey section at the top of the window.
  await page.locator("#passkey-name").evaluate((e) => e.closest("section").scrollIntoView());
  await shot("akun-passkey", "Akun saya");
  await page.goto(authorizeUrl("e2e-strict", "openid profile"));
  await page.locator("#passkey-verify").waitFor();
  await shot("naik-tingkat", "Verifikasi dua langkah");
  await Promise.all([page.waitForURL(/\/e2e\/callback/), page.locator("#passkey-verify").click()]);
  const refused = await page.goto(authorizeUrl("e2e-signer", "openid profile roles signer"));
  check("the level-4 application refuses a person without a certificate", refused.status() === 403, String(refused.status()));
  check("the level-4 refusal names the missing certificate", (await page.getByRole("main").innerText()).includes("sertifikat elektronik yang sah dan terikat"));
  await shot("tingkat4-ditolak", "Akses ditolak");

  // An authenticator app: the QR page, then (after logging out) the second step of the next login.
  await page.goto(`${BASE}/account/totp`);
  const secret = (await page.locator("#secret").innerText()).trim();
  await shot("autentikator", "Verifikasi dua langkah (aplikasi autentikator)");
  await page.fill("#code", totp(secret));
  await Promise.all([page.waitForEvent("load"), button("Aktifkan").click()]);
  await shot("kode-pemulihan", "Kode pemulihan");
  await page.context().clearCookies();
  await page.goto(`${BASE}/account`);
  await page.fill("#username", MANUAL_NIP);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/login/), page.click('form[action="/login"] button[type=submit]')]);
  await page.locator("#code").waitFor();
  await shot("faktor-kedua", "Verifikasi dua langkah");

  // Pages for people who are not logged in.
  await page.context().clearCookies();
  await page.goto(`${BASE}/login/forgot`);
  await shot("lupa-sandi", "Lupa kata sandi");
  await page.goto(`${BASE}/register`);
  await shot("daftar-warga", "Daftar akun warga");
  await page.context().close();

  // The admin manual: a Diskominfo administrator enrols a passkey through the one-time link and
  // opens the console at level 3.
  page = await newBrowserPage();
  await page.goto(`${BASE}/account`);
  await page.fill("#username", MANUAL_ADMIN_NIP);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/account/), page.click('form[action="/login"] button[type=submit]')]);
  await page.goto(MANUAL_ADMIN_ENROL_URL);
  await Promise.all([page.waitForURL(/done=enrolment_ready/), button("Gunakan tautan pendaftaran").click()]);
  await page.fill("#passkey-name", "Kunci admin");
  await Promise.all([page.waitForURL(/done=passkey_added/), page.click("#passkey-add")]);
  await page.goto(`${BASE}/console`);
  await page.locator("#passkey-verify").waitFor();
  await Promise.all([page.waitForURL(`${BASE}/console`), page.locator("#passkey-verify").click()]);
  await shot("konsol-dasbor", "Dasbor");
  await page.goto(`${BASE}/console/accounts/${STAFF_ID}`);
  await shot("konsol-akun", "Agus Prasetyo");
  // A change shows its effects first: a status change, then "Batal".
  await page.getByLabel("Status", { exact: true }).selectOption("suspended");
  await button("Ubah status").click();
  await page.locator("ul.effects").waitFor();
  await shot("konsol-konfirmasi", "Konfirmasi");
  await Promise.all([page.waitForURL(`${BASE}/console/accounts/${STAFF_ID}`), page.getByRole("link", { name: "Batal" }).click()]);
  check("cancelling changes nothing", (await page.locator("#account-status").innerText()).trim() === "Aktif");
  await page.goto(`${BASE}/console/opd`);
  await shot("konsol-opd", "Perangkat Daerah");
  await page.goto(`${BASE}/console/applications/layanan-perizinan`);
  await shot("konsol-aplikasi", "Layanan Perizinan Online");
  await page.goto(`${BASE}/console/requests`);
  await shot("konsol-permohonan", "Permohonan aplikasi");
  await page.goto(`${BASE}/console/certificates?all=1`);
  await shot("konsol-sertifikat", "Sertifikat elektronik");
  await page.goto(`${BASE}/console/audit?kind=role.`);
  await shot("konsol-audit", "Jejak audit");
} catch (e) {
  console.error(e);
  if (page) {
    console.error(`page at failure: ${page.url()}`);
    await page.screenshot({ path: `${process.env.ARTIFACTS}/screenshots-failure.png`, fullPage: true }).catch(() => {});
  }
  exitCode = 1;
} finally {
  await browser.close();
}
console.log(`screenshots: ${passed} passed, ${exitCode} failed, ${shots.length} pages in ${OUT} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(exitCode);
