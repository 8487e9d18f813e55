// End to end in headless Chromium with a DevTools virtual authenticator (CTAP2, resident keys,
// user verification): log in with a password, register a passkey on the account page, step up
// from level 1 to level 3 for an application that demands it, then log in passwordless.
// Every page is photographed into $ARTIFACTS. Run by tests/browser/run.sh.
import { launch, withAuthenticator } from "./lib.mjs";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";

const BASE = process.env.BASE;
const NIP = process.env.NIP;
const PASSWORD = process.env.PASSWORD;
const CLIENT_ID = process.env.CLIENT_ID;
const ARTIFACTS = process.env.ARTIFACTS;
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
    response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectUri, scope: "openid profile",
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
  const { context, page, cdp, authenticatorId } = await withAuthenticator(browser);
  let n = 0;
  const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${String(++n).padStart(2, "0")}-${name}.png`, fullPage: true });

  // 1. Password login to the account page: a level-1 session.
  await page.goto(`${BASE}/account`);
  await page.waitForSelector("#username");
  await shot("login-page");
  await page.fill("#username", NIP);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/account/), page.click('form[action="/login"] button[type=submit]')]);
  await shot("account-page");
  check("password login reaches the account page", (await page.textContent("h1")).includes("Akun"));

  // 2. Register a passkey.
  await page.fill("#passkey-name", "Laptop uji");
  await Promise.all([page.waitForURL(/done=passkey_added/), page.click("#passkey-add")]);
  await shot("passkey-added");
  check("the passkey is listed", (await page.content()).includes("Laptop uji"));
  const creds = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check("the authenticator holds one discoverable credential", creds.credentials.length === 1 && creds.credentials[0].isResidentCredential);

  // 3. Step up from level 1 to level 3 for an application that demands it.
  const up = pkce();
  await page.goto(authorizeUrl(up));
  await page.waitForSelector("#passkey-verify");
  await shot("step-up-prompt");
  check("a level-1 session is asked for a passkey, not the password", (await page.$("#password")) === null);
  await Promise.all([page.waitForURL(/\/e2e\/callback/), page.click("#passkey-verify")]);
  const stepped = await idTokenClaims(page.url(), up);
  await shot("step-up-returned");
  check("step-up gives acr level 3", stepped.acr === "urn:gerbang:loa:3", JSON.stringify(stepped.acr));
  // Attestation is not verified, so a hardware key is never claimed (`hwk`); `mfa` is.
  const amr = JSON.stringify(stepped.amr);
  check("amr says mfa and claims no hardware key", Array.isArray(stepped.amr) && stepped.amr.includes("mfa") && !stepped.amr.includes("hwk"), amr);

  // 4. Passwordless login in a fresh session: no password typed at all.
  await context.clearCookies();
  const direct = pkce();
  await page.goto(authorizeUrl(direct));
  await page.waitForSelector("#passkey-login");
  await shot("login-page-passwordless");
  await Promise.all([page.waitForURL(/\/e2e\/callback/), page.click("#passkey-login")]);
  const passwordless = await idTokenClaims(page.url(), direct);
  await shot("passwordless-returned");
  check("passwordless login gives acr level 3", passwordless.acr === "urn:gerbang:loa:3");
  check("passwordless amr has no password", !passwordless.amr.includes("pwd"), JSON.stringify(passwordless.amr));
  const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check("the signature counter advanced", after.credentials[0].signCount >= 2, String(after.credentials[0].signCount));
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length + exitCode;
console.log(`browser: ${results.length - failed + exitCode} passed, ${failed} failed`);
process.exit(exitCode);
