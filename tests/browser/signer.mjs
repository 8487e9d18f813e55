// Level 4 end to end in headless Chromium with a DevTools virtual authenticator: a person whose
// electronic certificate is bound (run.sh put the binding in the database) logs in with a
// password, registers a passkey, steps up for an application that demands level 4 and gets
// `acr` level 4, the `signer` role and the `cert` claim; once the certificate is revoked the
// same session is refused with the page that points to the account page. Every page is
// photographed into $ARTIFACTS. Run by tests/browser/run.sh.
import { launch, withAuthenticator } from "./lib.mjs";
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const BASE = process.env.BASE;
const NIP = process.env.SIGNER_NIP;
const PASSWORD = process.env.PASSWORD;
const CERT_ID = process.env.SIGNER_CERT_ID;
const X5T = process.env.SIGNER_X5T;
const DB = process.env.DB;
const CLIENT_ID = "e2e-signer";
const ARTIFACTS = `${process.env.ARTIFACTS}/signer`;
mkdirSync(ARTIFACTS, { recursive: true });

const results = [];
function check(name, ok, detail = "") {
  results.push({ name, ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
}

const b64u = (buf) => Buffer.from(buf).toString("base64url");
function pkce() {
  const verifier = b64u(randomBytes(32));
  return { verifier, challenge: b64u(createHash("sha256").update(verifier).digest()) };
}
const redirectUri = `${BASE}/e2e/callback`;
function authorizeUrl(p) {
  const q = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectUri, scope: "openid profile roles signer",
    state: b64u(randomBytes(8)), code_challenge: p.challenge, code_challenge_method: "S256",
  });
  return `${BASE}/authorize?${q}`;
}
async function idTokenClaims(callbackUrl, p) {
  const code = new URL(callbackUrl).searchParams.get("code");
  const res = await fetch(`${BASE.replace("localhost", "127.0.0.1")}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: CLIENT_ID, code_verifier: p.verifier }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
  return JSON.parse(Buffer.from(body.id_token.split(".")[1], "base64url").toString());
}

const browser = await launch();
let exitCode = 0;
try {
  const { page } = await withAuthenticator(browser);
  let n = 0;
  const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${String(++n).padStart(2, "0")}-${name}.png`, fullPage: true });

  // 1. Password login to the account page, then a passkey.
  await page.goto(`${BASE}/account`);
  await page.waitForSelector("#username");
  await page.fill("#username", NIP);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/account/), page.click('form[action="/login"] button[type=submit]')]);
  await page.fill("#passkey-name", "Laptop penandatangan");
  await Promise.all([page.waitForURL(/done=passkey_added/), page.click("#passkey-add")]);
  await shot("passkey-added");
  check("the signer's passkey is listed", (await page.content()).includes("Laptop penandatangan"));

  // 2. The level-4 application: the level-1 session steps up with the passkey, the binding does the rest.
  const up = pkce();
  await page.goto(authorizeUrl(up));
  await page.waitForSelector("#passkey-verify");
  await shot("step-up-prompt");
  await Promise.all([page.waitForURL(/\/e2e\/callback/), page.click("#passkey-verify")]);
  const claims = await idTokenClaims(page.url(), up);
  check("a signer's level-3 login gives acr level 4", claims.acr === "urn:gerbang:loa:4", JSON.stringify(claims.acr));
  check("the ID token carries the signer role", Array.isArray(claims.roles) && claims.roles.includes("signer"), JSON.stringify(claims.roles));
  check("the cert claim names the bound certificate", claims.cert && claims.cert["x5t#S256"] === X5T && claims.cert.status === "valid",
        JSON.stringify(claims.cert));

  // 3. The certificate is revoked: the same (level-3) session is refused, with the way to the account page.
  execFileSync("python3", ["-c",
    "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE certificates SET status='revoked', revoked_at=?, revocation_reason='uji' WHERE id=?\", (int(time.time()), sys.argv[2])); c.commit()",
    DB, CERT_ID]);
  const again = pkce();
  const res = await page.goto(authorizeUrl(again));
  await shot("refused-after-revocation");
  check("after revocation level 4 is refused", res.status() === 403, String(res.status()));
  const text = await page.textContent("main");
  const explains = text.includes("sertifikat elektronik yang sah dan terikat");
  check("the refusal explains the missing certificate", explains, explains ? "" : text);
  check("the refusal links to the account page", (await page.$('a[href="/account"]')) !== null);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length + exitCode;
console.log(`signer: ${results.length - failed + exitCode} passed, ${failed} failed`);
process.exit(exitCode);
