// The example application in Node.js: openid-client (v6) on node:http, no framework.
//
//   cd examples/node && npm ci
//   GERBANG_ISSUER=https://sso.jemberkab.go.id CLIENT_ID=… CLIENT_SECRET=… \
//     APP_URL=http://localhost:8000 APP_PORT=8000 node app.mjs
//
// Routes: /  /login[?level=2]  /callback  /me (JSON)  /logout, and /api/profil (an API taking
// Gerbang access tokens, checked with jose).
// With Express, Fastify or NestJS the calls are the same; only the session store changes.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';

const ISSUER = process.env.GERBANG_ISSUER.replace(/\/$/, '');
const APP_URL = process.env.APP_URL.replace(/\/$/, '');
const REDIRECT_URI = `${APP_URL}/callback`;
// NIP, OPD unit and roles; `nik` only when the application is registered for it.
const SCOPE = 'openid profile nip opd roles';

// Discovery (its issuer must equal ISSUER, which openid-client checks) and client_secret_basic.
// Plain http is for a local Gerbang only (http://localhost…); production is always https.
const config = await client.discovery(
  new URL(ISSUER),
  process.env.CLIENT_ID,
  undefined,
  client.ClientSecretBasic(process.env.CLIENT_SECRET),
  ISSUER.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : undefined,
);
// Verify the ID token's signature against the provider's JWKS (openid-client fetches and
// caches it, and fetches it again for an unknown `kid`) besides iss, aud, azp, exp, iat, nonce.
client.enableNonRepudiationChecks(config);

const sessions = new Map(); // a real application uses its framework's session store
const COOKIE = 'contoh_node';

function sessionOf(req) {
  const m = /(?:^|;\s*)contoh_node=([^;]+)/.exec(req.headers.cookie ?? '');
  const sid = m && sessions.has(m[1]) ? m[1] : randomBytes(32).toString('base64url');
  if (!sessions.has(sid)) sessions.set(sid, {});
  return { sid, data: sessions.get(sid) };
}

/** A fresh session id after signing in or out (no session fixation). */
function renew(session) {
  sessions.delete(session.sid);
  session.sid = randomBytes(32).toString('base64url');
  session.data = {};
  sessions.set(session.sid, session.data);
}

function send(res, session, status, body, { type = 'application/json', location, headers = {} } = {}) {
  const data = type === 'application/json' ? JSON.stringify(body, null, 2) : body;
  const secure = APP_URL.startsWith('https://') ? '; Secure' : '';
  res.writeHead(status, {
    'Content-Type': `${type}; charset=utf-8`,
    'Cache-Control': 'no-store',
    'Set-Cookie': `${COOKIE}=${session.sid}; Path=/; HttpOnly; SameSite=Lax${secure}`,
    ...(location ? { Location: location } : {}),
    ...headers,
  });
  res.end(data);
}

const same = (a, b) => typeof a === 'string' && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

// For the API below (RFC 9068 access tokens): the JWKS, kept for an hour and fetched again for an
// unknown `kid` at most every 30 seconds (jose's defaults, but a longer cache).
const JWKS = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri), { cacheMaxAge: 3600_000, cooldownDuration: 30_000 });

const routes = {
  '/': (req, url, s) => {
    const out = url.searchParams.get('state') && same(url.searchParams.get('state'), s.data.logoutState ?? '');
    delete s.data.logoutState;
    const page = (out ? '<p>Anda telah keluar.</p>' : '') +
      (s.data.user ? '<p><a href="/me">Profil</a> · <a href="/logout">Keluar</a></p>' : '<p><a href="/login">Masuk dengan SSO</a></p>');
    return [200, page, { type: 'text/html' }];
  },

  '/login': (req, url, s) => {
    const pending = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() };
    return client.calculatePKCECodeChallenge(pending.verifier).then((challenge) => {
      const params = {
        redirect_uri: REDIRECT_URI, scope: SCOPE, state: pending.state, nonce: pending.nonce,
        code_challenge: challenge, code_challenge_method: 'S256',
      };
      // e.g. ?level=2: an authenticator app at least, for this login.
      if (url.searchParams.has('level')) params.acr_values = `urn:gerbang:loa:${Number(url.searchParams.get('level'))}`;
      s.data.pending = pending;
      return [303, '', { type: 'text/plain', location: client.buildAuthorizationUrl(config, params).href }];
    });
  },

  '/callback': async (req, url, s) => {
    const pending = s.data.pending;
    delete s.data.pending;
    if (!pending) return [400, { error: 'no_login_in_progress' }];
    let tokens;
    try {
      // Checks state, iss (RFC 9207) and an error answer; exchanges the code with the PKCE
      // verifier; verifies the ID token (signature, iss, aud, azp, exp, iat, nonce).
      tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true,
      });
    } catch (e) {
      // unmet_authentication_requirements: the person cannot reach the level asked for.
      if (e instanceof client.AuthorizationResponseError) {
        const status = ['unmet_authentication_requirements', 'access_denied'].includes(e.error) ? 403 : 400;
        return [status, { error: e.error, error_description: e.error_description }];
      }
      // A callback this login did not start (another state or issuer): refuse it.
      // (openid-client wraps the check's error, which holds the parameters it refused.)
      if (e.code === 'OAUTH_INVALID_RESPONSE' && e.cause?.cause?.parameters) {
        return [400, { error: 'invalid_request', error_description: e.cause.message }];
      }
      throw e;
    }
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    // Shown here to prove it works; an application refreshes when the access token runs out
    // (tokens.expiresIn()). Refresh tokens rotate: keep the new one. The refreshed ID token
    // must name the same person (openid-client checks iss, aud and sub against the first).
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    renew(s);
    s.data.user = {
      idToken: refreshed.id_token, claims, userinfo, refreshToken: refreshed.refresh_token, refreshedSub: refreshed.claims()?.sub,
    };
    return [303, '', { type: 'text/plain', location: '/me' }];
  },

  '/me': (req, url, s) => {
    const u = s.data.user;
    if (!u) return [401, { error: 'not_signed_in' }];
    return [200, { id_token_verified: true, id_token: u.claims, userinfo: u.userinfo, refreshed: Boolean(u.refreshToken), refreshed_sub: u.refreshedSub }];
  },

  // An API of this application, taking Gerbang access tokens issued to it (list other client ids
  // it serves in `audience`). Revocation is not seen here: introspect where a logout must count.
  '/api/profil': async (req) => {
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? '');
    if (!m) return [401, { error: 'invalid_token', error_description: 'a bearer token is required' }, { headers: { 'WWW-Authenticate': 'Bearer' } }];
    let payload;
    try {
      ({ payload } = await jwtVerify(m[1], JWKS, {
        issuer: ISSUER, audience: process.env.CLIENT_ID, typ: 'at+jwt', algorithms: ['RS256'], clockTolerance: 60, requiredClaims: ['sub', 'exp'],
      }));
    } catch (e) {
      return [401, { error: 'invalid_token', error_description: e.message }, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } }];
    }
    if (!String(payload.scope ?? '').split(' ').includes('roles')) {
      return [403, { error: 'insufficient_scope' }, { headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="roles"' } }];
    }
    const keep = ['sub', 'client_id', 'scope', 'roles', 'app_roles', 'security_level', 'acr'];
    return [200, Object.fromEntries(keep.filter((k) => k in payload).map((k) => [k, payload[k]]))];
  },

  '/logout': (req, url, s) => {
    const idToken = s.data.user?.idToken;
    renew(s);
    if (!idToken) return [303, '', { type: 'text/plain', location: '/' }];
    s.data.logoutState = client.randomState();
    const end = client.buildEndSessionUrl(config, {
      id_token_hint: idToken, post_logout_redirect_uri: `${APP_URL}/`, state: s.data.logoutState,
    });
    return [303, '', { type: 'text/plain', location: end.href }];
  },
};

http.createServer(async (req, res) => {
  const url = new URL(req.url, APP_URL);
  const session = sessionOf(req);
  const route = routes[url.pathname];
  try {
    const [status, body, opts] = route ? await route(req, url, session) : [404, { error: 'not_found' }];
    send(res, session, status, body, opts);
  } catch (e) {
    console.error('OIDC failure:', e);
    send(res, session, 502, { error: e.error ?? e.code ?? 'invalid_response', error_description: e.message });
  }
}).listen(Number(process.env.APP_PORT ?? 8000), '127.0.0.1');
