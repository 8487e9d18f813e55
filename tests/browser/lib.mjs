// Shared by the browser suite's scenarios: Debian's Chromium started the way this machine allows,
// and pages with a virtual platform authenticator (WebAuthn through the DevTools protocol).
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// Without the background-networking flags Chromium's connections are refused by the closed
// network, many at a time.
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"];

/** Headless Chromium; `extraArgs` and `env` for a scenario that needs more (a UI language). */
export function launch({ extraArgs = [], env } = {}) {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], ...(env ? { env } : {}) });
}

/**
 * A browser of its own, in Indonesian, holding a platform authenticator (resident keys, user
 * verification, presence given automatically). Returns { context, page, cdp, authenticatorId }.
 */
export async function withAuthenticator(browser, contextOptions = {}) {
  const context = await browser.newContext({ locale: "id-ID", viewport: { width: 1280, height: 900 }, ...contextOptions });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
               isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { context, page, cdp, authenticatorId };
}
