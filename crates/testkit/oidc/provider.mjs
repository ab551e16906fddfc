// A real OpenID Provider for wicket's single sign-on tests: `node provider.mjs [PORT]`.
//
// It runs oidc-provider (a certified OpenID Provider) on http://127.0.0.1:PORT (PORT 0 or none:
// any free port)
// with fresh signing keys, two public native clients (`wicket`, the one wicketd is configured
// with, and `other-app`, used to get a real token for another audience), PKCE required, and
// loopback redirect URIs on any port (RFC 8252), and the console callback of a wicketd on
// 127.0.0.1 (any port). Its built-in development login and consent
// forms (devInteractions) accept any login name with any password, so a test drives the
// "browser" with plain HTTP. Accounts and their groups are below; unknown logins get none.
// It prints `listening ISSUER` once ready and stops on SIGTERM.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const wanted = Number(process.argv[2] ?? 0);
if (!Number.isInteger(wanted) || wanted < 0) {
  console.error('usage: node provider.mjs [PORT]');
  process.exit(2);
}
// Listen first, so the issuer URL can name the port actually bound.
const server = createServer();
await new Promise((resolve) => server.listen(wanted, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const ACCOUNTS = {
  alice: { groups: ['idp-ops', 'idp-unmapped'], email: 'alice@example.com' },
  bob: { groups: ['idp-marketing'], email: 'bob@example.com' },
  dave: { groups: ['idp-ops'], email: 'dave@example.com' },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const nativeClient = (id) => ({
  client_id: id,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
});

const provider = new Provider(issuer, {
  clients: [nativeClient('wicket'), nativeClient('other-app')],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  // Put the claims of the granted scopes in the ID token itself, not only at userinfo:
  // wicketd reads them from the ID token.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id] ?? { groups: [], email: `${id}@example.com` };
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: id,
          email: account.email,
          email_verified: true,
          groups: account.groups,
        };
      },
    };
  },
});
provider.proxy = false;

// The web console's callback on a wicketd under test: https on a loopback address, any port
// (the test's wicketd picks one), path fixed. A real deployment registers its one URI.
const consoleCallback = /^https:\/\/127\.0\.0\.1:\d+\/v1\/console\/sso\/callback$/;
const allowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return allowed.call(this, value) || consoleCallback.test(value);
};

server.on('request', provider.callback());
console.log(`listening ${issuer}`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
