// An upstream OpenID provider (panva's oidc-provider, as INApas would be) for the test of
// private_key_jwt in tests/it/upstream.rs: one client that must authenticate at the token
// endpoint with a JWT signed by its EC key, one person, and an interaction that logs that person
// in at once (no forms to drive).
//
//   node provider.mjs keygen   prints {"pem": <PKCS#8 private key>, "jwk": <public JWK>}
//   node provider.mjs          serves on 127.0.0.1:$PORT; prints "ready" when listening.
//     CLIENT_ID, CLIENT_JWK (public JWK), REDIRECT_URI, ACCOUNT_NIP, ACCOUNT_NAME
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

if (process.argv[2] === 'keygen') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'gerbang-test' };
  console.log(JSON.stringify({ pem: privateKey.export({ format: 'pem', type: 'pkcs8' }), jwk }));
  process.exit(0);
}

const port = Number(process.env.PORT);
const accountId = 'person-1';
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    redirect_uris: [process.env.REDIRECT_URI],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [JSON.parse(process.env.CLIENT_JWK)] },
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'profile', 'nik'],
  claims: { openid: ['sub'], profile: ['name'], nik: ['nik'] },
  // The claims of the granted scopes go into the ID token itself, as INApas sends them.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: process.env.ACCOUNT_NAME, nik: process.env.ACCOUNT_NIK }),
  }),
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

// Every interaction ends at once: the person is logged in and grants what was asked.
provider.use(async (ctx, next) => {
  if (!/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope));
  const grantId = await grant.save();
  const url = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } });
  ctx.redirect(url);
});

provider.listen(port, '127.0.0.1', () => console.log('ready'));
