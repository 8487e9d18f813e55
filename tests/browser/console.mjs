// The admin console in headless Chromium, as an administrator (diskominfo-admin + opd-admin of a
// unit) uses it: register a passkey through the one-time enrolment link, log in to /console at level 3 (the default admin_min_level)
// by stepping up with it, look at the dashboard, request an application through the console's
// own form, correct and approve it through the confirmation page, fetch its credentials once,
// give a staff member a role, and find that in the audit trail (in Indonesian and English).
// Elements are found by role and label where possible, so the labels are exercised too. Every
// page of interest is photographed into $ARTIFACTS as console-NN-*.png. Run by tests/browser/run.sh
// after passkeys.mjs, on the same server; the accounts, unit and roles are made there by the CLI.
import { launch, withAuthenticator } from "./lib.mjs";
import { mkdirSync, readFileSync } from "node:fs";

const BASE = process.env.BASE;
const PASSWORD = process.env.PASSWORD;
const ADMIN_NIP = process.env.ADMIN_NIP;
const ADMIN_ID = process.env.ADMIN_ID;
const STAFF_ID = process.env.STAFF_ID;
const ROLE = process.env.ROLE;
const REVIEWER_NIP = process.env.REVIEWER_NIP;
const ADMIN_ENROL_URL = process.env.ADMIN_ENROL_URL;
const REVIEWER_ENROL_URL = process.env.REVIEWER_ENROL_URL;
const ARTIFACTS = process.env.ARTIFACTS;
for (const [k, v] of Object.entries({ BASE, PASSWORD, ADMIN_NIP, ADMIN_ID, STAFF_ID, ROLE, REVIEWER_NIP, ADMIN_ENROL_URL, REVIEWER_ENROL_URL, ARTIFACTS })) {
  if (!v) throw new Error(`${k} is not set (run tests/browser/run.sh)`);
}
mkdirSync(ARTIFACTS, { recursive: true });

const results = [];
function check(name, ok, detail = "") {
  results.push({ name, ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
}
const started = Date.now();
const browser = await launch();
let exitCode = 0;
let page;
try {
  // A browser of its own (with its own platform authenticator) for each administrator.
  async function newBrowserPage() {
    const { context, page: p } = await withAuthenticator(browser);
    context.setDefaultTimeout(15_000);
    return p;
  }
  page = await newBrowserPage();
  let n = 0;
  const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/console-${String(++n).padStart(2, "0")}-${name}.png`, fullPage: true });
  const h1 = () => page.getByRole("heading", { level: 1 }).textContent();
  const nav = () => page.getByRole("navigation", { name: "Navigasi konsol" });
  const main = () => page.getByRole("main");
  const button = (name) => page.getByRole("button", { name, exact: true });
  // Every change first shows what will happen; "Ya, lakukan" then does it.
  async function confirmationPage(expect) {
    await page.getByRole("heading", { level: 1, name: "Konfirmasi" }).waitFor();
    const effects = (await page.locator("ul.effects").innerText()).replace(/\s+/g, " ");
    for (const e of expect) check(`the confirmation page says: ${e}`, effects.includes(e), effects.includes(e) ? "" : effects);
    return effects;
  }
  async function confirm(url) {
    await Promise.all([page.waitForURL(url), button("Ya, lakukan").click()]);
  }

  // 1. An administrator logs in with the password (level 1): that alone enrols nothing; the
  // one-time enrolment link the operator issued does, once, and they register a passkey; 2. the
  // console asks for level 3: the level-1 session steps up with the passkey.
  async function consoleLogin(nip, keyName, enrolUrl) {
    await page.goto(`${BASE}/account`);
    await page.getByLabel("NIP atau NIK").fill(nip);
    await page.getByLabel("Kata sandi").fill(PASSWORD);
    await Promise.all([page.waitForURL(/\/account/), button("Masuk").click()]);
    const blocked = (await page.locator("#enrol-needs-link").count()) === 1 && (await page.locator("#passkey-add").count()) === 0;
    check("a password-only administrator is offered no passkey enrolment", blocked);
    await page.goto(enrolUrl);
    await Promise.all([page.waitForURL(/done=enrolment_ready/), button("Gunakan tautan pendaftaran").click()]);
    await page.getByLabel("Nama passkey (agar mudah dikenali)").fill(keyName);
    await Promise.all([page.waitForURL(/done=passkey_added/), button("Tambah passkey").click()]);
    check(`the passkey "${keyName}" is registered`, (await page.content()).includes(keyName));
    await page.goto(`${BASE}/console`);
    await page.locator("#passkey-verify").waitFor();
    check("the console login asks a level-1 session for the passkey", (await page.$("#password")) === null);
    await Promise.all([page.waitForURL(`${BASE}/console`), page.locator("#passkey-verify").click()]);
  }
  await consoleLogin(ADMIN_NIP, "Kunci admin", ADMIN_ENROL_URL);
  check("the console opens on the dashboard", (await h1()) === "Dasbor", await h1());
  const who = await nav().locator(".console-nav__who").innerText();
  check("the console shows who is signed in and their powers", who.includes("Rina Wulandari") && who.includes("diskominfo-admin") && who.includes("opd-admin"), who.replace(/\s+/g, " "));
  const logins = page.getByRole("img", { name: /Login per hari/ });
  check("the logins chart is an SVG image with its description", (await logins.count()) === 1 && (await logins.evaluate((e) => e.tagName)) === "svg");
  const bars = await logins.locator("rect.chart__bar--ok").evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("height"))));
  check("the logins chart has 14 days and today's logins drawn", bars.length === 14 && bars[13] > 0, JSON.stringify(bars));
  const tile = await page.locator(".tile", { hasText: "Login berhasil (14 hari)" }).locator(".tile__value").innerText();
  check("the dashboard counts this run's successful logins", Number(tile) >= 3, tile);
  await shot("dashboard");

  // 3. An application request, made through the console's own form (the admin's unit requests it).
  await Promise.all([page.waitForURL(`${BASE}/console/requests`), nav().getByRole("link", { name: "Permohonan aplikasi" }).click()]);
  check("the requests page is empty at first", (await main().innerText()).includes("Belum ada permohonan."));
  const form = page.locator("form", { has: button("Ajukan") });
  await form.getByLabel("Nama", { exact: true }).fill("SIMPUS");
  await form.getByLabel("Kategori").selectOption("khusus");
  await form.getByLabel("Alamat redirect").fill("https://simpus.example.com/cb");
  await form.getByLabel("Cakupan (scope)").fill("openid profile");
  await form.getByLabel("Level keamanan minimum").selectOption("2");
  // Checked before the confirmation page: a refused request never reaches "Ya, lakukan".
  await button("Ajukan").click();
  await page.getByRole("alert").waitFor();
  check("the refusal comes before any confirmation", (await page.locator("ul.effects").count()) === 0);
  const refused = await page.getByRole("alert").innerText();
  check("a redirect outside the region's domains is refused with the reason", refused.includes("outside the region"), refused);
  check("the refused form keeps what was typed", (await page.getByLabel("Nama", { exact: true }).inputValue()) === "SIMPUS"
    && (await page.getByLabel("Alamat redirect").inputValue()) === "https://simpus.example.com/cb"
    && (await page.getByLabel("Level keamanan minimum").inputValue()) === "2");
  await shot("request-refused-redirect");
  await page.getByLabel("Alamat redirect").fill("https://simpus.contoh.go.id/cb");
  await button("Ajukan").click();
  await confirmationPage(["Permohonan aplikasi ini dikirim ke Diskominfo", "https://simpus.contoh.go.id/cb"]);
  await confirm(/\/console\/requests\/[0-9a-f-]{36}\?done=request_submitted$/);
  const requestUrl = page.url().split("?")[0];
  check("the submitted request is pending", (await page.locator("#request-status").innerText()) === "Menunggu");
  const reason = await page.getByLabel("Alasan").inputValue();
  check("the rejection reason starts empty (an unedited rejection must ask for a reason)", reason === "", JSON.stringify(reason));
  check("the notice says the request was sent", (await page.getByRole("status").innerText()).includes("Permohonan dikirim."));

  // 4. Its requester may not approve it (four eyes), although they are a Diskominfo admin too.
  await page.getByRole("heading", { name: "Setujui (dengan koreksi bila perlu)" }).waitFor();
  await button("Setujui").click();
  await page.getByRole("heading", { level: 1, name: "Konfirmasi" }).waitFor();
  await button("Ya, lakukan").click();
  await page.getByRole("heading", { level: 1, name: "Terjadi kesalahan" }).waitFor();
  const fourEyes = await main().innerText();
  check("the requester cannot approve their own request", fourEyes.includes("another administrator"), fourEyes);
  await shot("request-own-approval-refused");

  // Another Diskominfo administrator, in a browser of their own, corrects the request while
  // approving it: a clearer name, and level 3.
  const requesterPage = page;
  page = await newBrowserPage();
  await consoleLogin(REVIEWER_NIP, "Kunci peninjau", REVIEWER_ENROL_URL);
  await page.goto(requestUrl);
  await page.getByRole("heading", { name: "Setujui (dengan koreksi bila perlu)" }).waitFor();
  check("the approval form starts from the request", (await page.getByLabel("Nama", { exact: true }).inputValue()) === "SIMPUS"
    && (await page.getByLabel("Level keamanan minimum").inputValue()) === "2");
  await page.getByLabel("Nama", { exact: true }).fill("SIMPUS Dinas Kesehatan");
  await page.getByLabel("Level keamanan minimum").selectOption("3");
  await shot("request-pending");
  await button("Setujui").click();
  await confirmationPage(["Nama: SIMPUS Dinas Kesehatan", "Level keamanan minimum: 3", "Rahasia (server)"]);
  await shot("request-approve-confirm");
  await confirm(`${requestUrl}?done=request_approved`);
  check("the request is approved", (await page.locator("#request-status").innerText()) === "Disetujui");
  check("the approved request carries the correction", (await h1()) === "SIMPUS Dinas Kesehatan", await h1());
  const clientId = (await page.locator("xpath=//dt[.='client_id']/following-sibling::dd[1]").innerText()).trim();
  check("the approved request names its new client_id", /^[A-Za-z0-9_-]{8,}$/.test(clientId), clientId);
  check("no approval form is left on a decided request", (await button("Setujui").count()) === 0);
  await shot("request-approved");

  // 5. The requester fetches the credentials, once.
  page = requesterPage;
  await page.goto(requestUrl);
  await button("Ambil kredensial").click();
  await confirmationPage(["Kredensial ditampilkan sekali saja"]);
  await button("Ya, lakukan").click();
  await page.getByRole("heading", { level: 1, name: "Kredensial aplikasi" }).waitFor();
  check("the credentials page shows the client_id", (await page.locator("#client-id").innerText()) === clientId);
  const secret = await page.locator("#client-secret").innerText();
  check("the credentials page shows a client secret", secret.length >= 32, `${secret.length} characters`);
  await shot("credentials");
  await page.getByRole("link", { name: "Kembali" }).click();
  await page.waitForURL(requestUrl);
  check("the credentials cannot be fetched a second time", (await button("Ambil kredensial").count()) === 0);
  await page.goto(`${BASE}/console/applications/${clientId}`);
  check("the registered application has the corrected name and level 3", (await h1()).includes("SIMPUS Dinas Kesehatan")
    && (await page.getByLabel("Level keamanan minimum").inputValue()) === "3", await h1());
  check("the registered application belongs to the requesting unit", (await page.getByLabel("Perangkat daerah pemilik").locator("option:checked").innerText()).includes("3509.13"));
  // An application without an owning unit (registered by the CLI), sent back unchanged.
  await page.goto(`${BASE}/console/applications/e2e-strict`);
  await Promise.all([page.waitForEvent("framenavigated", (f) => f === page.mainFrame()), button("Lanjut").click()]);
  await page.waitForLoadState();
  const unchanged = (await h1()) !== "Konfirmasi";
  check("an unchanged application form asks no confirmation", unchanged, unchanged ? "" : (await page.locator("ul.effects").innerText()).replace(/\s+/g, " "));
  if (!unchanged) await page.getByRole("link", { name: "Batal" }).click();

  // 6. A role for a staff member of the unit, found by searching.
  await Promise.all([page.waitForURL(`${BASE}/console/accounts`), nav().getByRole("link", { name: "Akun", exact: true }).click()]);
  await page.getByLabel("Cari nama, NIP atau NIK").fill("Agus");
  await Promise.all([page.waitForURL(/q=Agus/), button("Cari").click()]);
  await Promise.all([page.waitForURL(`${BASE}/console/accounts/${STAFF_ID}`), main().getByRole("link", { name: "Agus Prasetyo" }).click()]);
  check("the staff member has no direct role yet", (await main().innerText()).includes("Belum ada peran yang diberikan langsung."));
  await page.getByLabel("Beri peran").selectOption(`|${ROLE}`);
  await button("Beri").click();
  await confirmationPage([`Peran ${ROLE} (global) diberikan kepada Agus Prasetyo.`]);
  await shot("role-confirm");
  await confirm(`${BASE}/console/accounts/${STAFF_ID}?done=role_assigned`);
  check("the notice says the role was given", (await page.getByRole("status").innerText()).includes("Peran diberikan."));
  const roleRow = page.getByRole("row").filter({ has: page.locator(`code:text-is("${ROLE}")`) });
  check("the role is listed on the account page", (await roleRow.count()) === 1 && (await roleRow.innerText()).includes("global"));
  check("the role can be removed from there", (await roleRow.getByRole("button", { name: "Cabut" }).count()) === 1);
  await shot("role-assigned");

  // 6b. Agus's electronic certificate: pasted on his account page, shown on the confirmation page
  // with what it says about itself, then listed under certificates.
  const pem = readFileSync(new URL("../fixtures/certs/agus.pem", import.meta.url), "utf8");
  await page.getByLabel("Sertifikat elektronik (PEM)").fill(pem);
  await button("Ikat sertifikat").click();
  await confirmationPage(["Sertifikat ini diikat ke akun Agus Prasetyo", "BSRE CA DS G1 UJI"]);
  await shot("certificate-confirm");
  await confirm(`${BASE}/console/accounts/${STAFF_ID}?done=certificate_bound`);
  await Promise.all([page.waitForURL(/\/console\/certificates/), nav().getByRole("link", { name: "Sertifikat elektronik" }).click()]);
  await Promise.all([page.waitForURL(/all=1/), page.getByRole("link", { name: "Tampilkan semua" }).click()]);
  const certRow = page.getByRole("row").filter({ hasText: "Agus Prasetyo" });
  check("the bound certificate is listed as valid", (await certRow.count()) === 1 && (await certRow.innerText()).includes("Berlaku"));
  await shot("certificates");

  // 7. The audit trail, filtered to role events, shows who gave the role to whom.
  await Promise.all([page.waitForURL(`${BASE}/console/audit`), nav().getByRole("link", { name: "Jejak audit" }).click()]);
  const filters = { kind: await page.getByLabel("Jenis peristiwa").inputValue(), who: await page.getByLabel("ID akun (pelaku atau subjek)").inputValue() };
  check("the audit filter starts empty", filters.kind === "" && filters.who === "", JSON.stringify(filters));
  await page.getByLabel("ID akun (pelaku atau subjek)").fill("");
  await page.getByLabel("Jenis peristiwa").fill("role.");
  await Promise.all([page.waitForURL(/kind=role\./), button("Saring").click()]);
  const events = page.getByRole("row").filter({ has: page.locator('code:text-is("role.assigned")') });
  const byConsole = events.filter({ hasText: ADMIN_ID }).filter({ hasText: STAFF_ID });
  check("the audit lists role.assigned given by the admin to the staff member", (await byConsole.count()) === 1
    && (await byConsole.innerText()).includes(ROLE), `${await events.count()} role.assigned rows`);
  const kinds = await page.locator("table.table--audit tbody td:nth-child(3)").allInnerTexts();
  check("the filter keeps to role events", kinds.length > 0 && kinds.every((k) => k.startsWith("role.")), JSON.stringify(kinds));
  await shot("audit-role");
  await page.goto(`${page.url()}&lang=en`);
  check("the audit page in English", (await h1()) === "Audit trail" && (await page.getAttribute("html", "lang")) === "en", await h1());
  check("English labels and the filter kept", (await page.getByLabel("Event kind").inputValue()) === "role." && (await button("Filter").count()) === 1);
  await shot("audit-role-en");
  await page.getByRole("link", { name: "Bahasa Indonesia" }).click();
  await page.waitForURL(/lang=id/);
  check("back to Indonesian", (await h1()) === "Jejak audit", await h1());

  // 8. Token usage: the dashboard adds this replica's own recent tokens before drawing, so the
  // tokens passkeys.mjs and this login got are on the applications chart at once.
  await Promise.all([page.waitForURL(`${BASE}/console`), nav().getByRole("link", { name: "Dasbor" }).click()]);
  const apps = page.getByRole("img", { name: /Aplikasi menurut pemakaian/ });
  check("token usage reaches the applications chart", (await apps.count()) === 1);
  const appsText = (await apps.textContent()).replace(/\s+/g, " ").trim();
  check("the applications chart names the applications used", appsText.includes("Aplikasi Tingkat 3") && appsText.includes("Konsol Admin Gerbang"), appsText);
  await shot("dashboard-usage");
} catch (e) {
  console.error(e);
  if (page) {
    console.error(`page at failure: ${page.url()}`);
    await page.screenshot({ path: `${ARTIFACTS}/console-failure.png`, fullPage: true }).catch(() => {});
  }
  exitCode = 1;
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length;
console.log(`console: ${results.length - failed} passed, ${failed + (exitCode && !failed ? 1 : 0)} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(exitCode);
