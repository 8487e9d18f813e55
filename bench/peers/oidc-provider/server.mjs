// Reference peer for the Gerbang benchmark: panva's oidc-provider (OpenID
// Certified) running as a node `cluster` of N workers (default 2, one per core).
//
//   node server.mjs                   run the cluster (master + workers)
//   node server.mjs --gen-keys FILE   write a fresh private JWKS to FILE and exit
//
// Environment:
//   PEER_PORT           port on 127.0.0.1 (default 18081)
//   PEER_WORKERS        number of worker processes (default 2)
//   PEER_ISSUER         issuer (default http://127.0.0.1:$PEER_PORT)
//   PEER_CLIENT_SECRET  secret shared by both bench clients (default "bench-secret")
//   PEER_KEYS_FILE      private JWKS produced by --gen-keys; when unset the master
//                       generates the keys at start (RSA-2048 + P-256)
//
// Clients (grant client_credentials, auth client_secret_basic):
//   bench-es256  -> JWT access tokens signed ES256
//   bench-rs256  -> JWT access tokens signed RS256
//
// Keys are generated (or read) once in the master and passed to every worker,
// so all workers sign with, and publish, the same JWKS.

import cluster from 'node:cluster';
import crypto from 'node:crypto';
import fs from 'node:fs';
import process from 'node:process';

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.env.PEER_PORT || '18081', 10);
const WORKERS = Number.parseInt(process.env.PEER_WORKERS || '2', 10);
const ISSUER = process.env.PEER_ISSUER || `http://${HOST}:${PORT}`;
const CLIENT_SECRET = process.env.PEER_CLIENT_SECRET || 'bench-secret';
const RESOURCE = `${ISSUER}/bench-api`;

// client_id -> JWS alg of its JWT access tokens
const CLIENT_ALGS = {
  'bench-es256': 'ES256',
  'bench-rs256': 'RS256',
};

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// RFC 7638 JWK thumbprint, used as kid
function thumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return b64url(crypto.createHash('sha256').update(JSON.stringify(members)).digest());
}

function generateJwks() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, use: 'sig', alg: 'RS256', kid: thumbprint(rsa) },
      { ...ec, use: 'sig', alg: 'ES256', kid: thumbprint(ec) },
    ],
  };
}

async function runWorker() {
  const { default: Provider } = await import('oidc-provider');
  const jwks = JSON.parse(process.env.PEER_JWKS);

  const configuration = {
    jwks,
    clients: Object.keys(CLIENT_ALGS).map((clientId) => ({
      client_id: clientId,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    // shared by all workers (cookies are irrelevant for client_credentials,
    // but a production deployment must set them)
    cookies: { keys: [process.env.PEER_COOKIE_KEY] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // client_credentials requests carry no `resource`; default every request
        // to the one bench API so the token gets an audience and a JWT format
        defaultResource: async () => RESOURCE,
        getResourceServerInfo: async (ctx, resourceIndicator, client) => {
          const alg = CLIENT_ALGS[client.clientId];
          if (resourceIndicator !== RESOURCE || !alg) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: 'api',
            audience: RESOURCE,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 300,
    },
  };

  const provider = new Provider(ISSUER, configuration);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));

  const server = provider.listen(PORT, HOST, () => {
    process.send?.({ type: 'listening', pid: process.pid });
  });
  server.keepAliveTimeout = 65_000;

  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

function runMaster() {
  const jwks = process.env.PEER_KEYS_FILE
    ? JSON.parse(fs.readFileSync(process.env.PEER_KEYS_FILE, 'utf8'))
    : generateJwks();
  const cookieKey = b64url(crypto.randomBytes(32));

  let shuttingDown = false;
  let listening = 0;

  const shutdown = (code) => {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const worker of Object.values(cluster.workers)) {
      worker.process.kill('SIGTERM');
    }
    // hard stop if a worker hangs
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
      process.exit(code);
    }, 3000).unref();
    const check = setInterval(() => {
      if (Object.keys(cluster.workers).length === 0) {
        clearInterval(check);
        process.exit(code);
      }
    }, 20);
  };

  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));

  cluster.on('message', (worker, msg) => {
    if (msg?.type === 'listening') {
      listening += 1;
      if (listening === WORKERS) {
        console.log(`ready: ${WORKERS} workers listening on ${HOST}:${PORT} (issuer ${ISSUER}, master pid ${process.pid})`);
      }
    }
  });

  // A dead worker is a broken benchmark: do not respawn, stop everything loudly.
  cluster.on('exit', (worker, code, signal) => {
    if (!shuttingDown) {
      console.error(`worker ${worker.process.pid} exited (code ${code}, signal ${signal}); stopping the cluster`);
      shutdown(1);
    }
  });

  const env = {
    PEER_JWKS: JSON.stringify(jwks),
    PEER_COOKIE_KEY: cookieKey,
  };
  for (let i = 0; i < WORKERS; i += 1) cluster.fork(env);
}

if (process.argv[2] === '--gen-keys') {
  const file = process.argv[3];
  if (!file) {
    console.error('usage: node server.mjs --gen-keys FILE');
    process.exit(2);
  }
  fs.writeFileSync(file, JSON.stringify(generateJwks()), { mode: 0o600 });
} else if (cluster.isPrimary) {
  runMaster();
} else {
  runWorker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
