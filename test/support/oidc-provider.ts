// A real OIDC provider (oidc-provider) on 127.0.0.1 for the console's sign-in tests: two clients (a
// confidential and a public one) with PKCE required, accounts from a table, the provider's development
// login and consent pages (any password; the login is the account id). Not a mock: discovery, JWKS,
// signed ID tokens, userinfo.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// oidc-provider ships no types: the little used of it.
interface Provider { callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void }
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => Provider;
const oidcProvider = 'oidc-provider';

export interface TestAccount { groups: string[]; roles?: string[]; email?: string }
export interface RunningProvider {
  issuer: string;
  /** A confidential client (client_secret_basic) and a public one (no secret: PKCE only), same redirect URIs. */
  clientId: string; clientSecret: string; publicClientId: string;
  close(): Promise<void>;
}

/** `port`: where to listen (default: a free one). */
export async function startOidcProvider(opts: { redirectUris: string[]; accounts: Record<string, TestAccount>; port?: number }): Promise<RunningProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'gantry-console';
  const clientSecret = 'test-client-secret-0123456789abcdef';
  const publicClientId = 'gantry-console-public';
  const { default: Provider } = (await import(oidcProvider)) as { default: ProviderClass };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: opts.redirectUris,
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
    }, {
      client_id: publicClientId, redirect_uris: opts.redirectUris,
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none',
    }],
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups', 'roles'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    findAccount: (_ctx: unknown, sub: string) => {
      const a = opts.accounts[sub];
      if (!a) return undefined;
      return { accountId: sub, claims: async () => ({ sub, preferred_username: sub, name: sub, groups: a.groups, ...(a.roles ? { roles: a.roles } : {}), ...(a.email ? { email: a.email } : {}) }) };
    },
  });
  server.on('request', provider.callback());
  return {
    issuer, clientId, clientSecret, publicClientId,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
