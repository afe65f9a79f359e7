// Registry credentials for the OCI distribution client (activities/registry.ts): Docker's
// config.json (`auths[host]`: `auth` = base64 user:pass, or `username`/`password`, or
// `identitytoken`), read when needed (a mounted Secret may be rotated), and the two challenges a
// registry answers 401 with: `Bearer realm=…,service=…,scope=…` (the token flow: the token is
// fetched from the realm, with Basic credentials when there are some, and cached per registry and
// scope until it expires) and `Basic`. Secrets never leave this module except in Authorization
// headers: failures name the registry, the repository and the file looked in, never a value.
// A registry with a private CA (GANTRY_REGISTRY_CA_FILE) is reached through activities/https.ts.
import fs from 'node:fs';
import { fail, FailureType } from '../workflows/failures.js';
import { requestFailureText, untrustedCertificate } from './https.js';

/** Where the credentials file came from (runtime/config.ts resolves it). */
export interface RegistryAuthFile {
  /** Absolute path of a Docker config.json. */
  path: string;
  /** The setting it came from, for messages: GANTRY_REGISTRY_AUTH_FILE, DOCKER_CONFIG or HOME. */
  setting: string;
}

export interface RegistryCredentials { username?: string; password?: string; identityToken?: string }

interface AuthEntry { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown }

/**
 * The `auths` map of a Docker config.json; throws an Error whose message never quotes the file's
 * content (JSON.parse's own messages do).
 */
export function readDockerConfig(file: string): Record<string, AuthEntry> {
  const text = fs.readFileSync(file, 'utf8');
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { throw new Error(`${file} is not valid JSON`); }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} is not a JSON object`);
  const auths = (parsed as { auths?: unknown }).auths;
  if (auths === undefined) return {};
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new Error(`${file}: 'auths' is not an object`);
  return auths as Record<string, AuthEntry>;
}

/** A config.json key as docker writes it (`host:port`, `https://host/v1/`) reduced to host[:port]. */
export function authKeyHost(key: string): string {
  return key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

/** The credentials for `registry` (host[:port]) in a config.json's auths; undefined when there are none. */
export function credentialsFor(auths: Record<string, AuthEntry>, registry: string): RegistryCredentials | undefined {
  const want = registry.toLowerCase();
  const entry = Object.entries(auths).find(([k]) => authKeyHost(k) === want)?.[1];
  if (!entry || typeof entry !== 'object') return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const out: RegistryCredentials = {};
  const auth = str(entry.auth);
  if (auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) { out.username = decoded.slice(0, colon); out.password = decoded.slice(colon + 1); }
  }
  if (!out.username && str(entry.username) && str(entry.password)) { out.username = str(entry.username)!; out.password = str(entry.password)!; }
  const identityToken = str(entry.identitytoken);
  if (identityToken) out.identityToken = identityToken;
  return out.username || out.identityToken ? out : undefined;
}

export interface Challenge { scheme: 'bearer' | 'basic'; params: Record<string, string> }

/**
 * The first Bearer or Basic challenge of a WWW-Authenticate header (RFC 7235: a scheme, then
 * comma-separated name=value pairs, values quoted or tokens); undefined when there is none.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const found: Challenge[] = [];
  let current: { scheme: string; params: Record<string, string> } | undefined;
  let i = 0;
  const take = (re: RegExp): RegExpExecArray | null => { re.lastIndex = i; const m = re.exec(header); if (m) i = re.lastIndex; return m; };
  while (i < header.length) {
    take(/[\s,]*/y);
    const t = take(/[A-Za-z0-9!#$%&'*+.^_`|~-]+/y);
    if (!t) break;
    if (current && take(/\s*=\s*/y)) {
      const q = take(/"((?:[^"\\]|\\.)*)"/y);
      current.params[t[0].toLowerCase()] = q ? q[1]!.replace(/\\(.)/g, '$1') : take(/[^\s,]*/y)![0];
      continue;
    }
    current = { scheme: t[0].toLowerCase(), params: {} };
    if (current.scheme === 'bearer' || current.scheme === 'basic') found.push(current as Challenge);
  }
  return found[0];
}

/** What a request needs: the repository and the actions, for the token scope (repository:<name>:<actions>). */
export interface AccessNeed { registry: string; repository: string; actions: 'pull' | 'pull,push' | 'delete' }

export const scopeOf = (n: AccessNeed): string => `repository:${n.repository}:${n.actions}`;

interface CachedToken { header: string; expiresAt: number }

export interface RegistryAuthOptions {
  file?: RegistryAuthFile;
  fetch: typeof fetch;
  /** The signal for one request (the activity's cancellation and a timeout). */
  signal: () => AbortSignal;
}

const isLoopbackUrl = (u: URL): boolean => ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);

/**
 * The credentials and tokens of one worker: tokens are cached per registry and scope until they
 * expire; a registry that challenged with Basic gets Basic credentials up front afterwards.
 */
export class RegistryAuth {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly basic = new Set<string>();
  constructor(private readonly opts: RegistryAuthOptions) {}

  /** Where credentials are looked for, for messages (never a value). */
  where(registry: string): string {
    const f = this.opts.file;
    if (!f) return 'no registry credentials are configured (set GANTRY_REGISTRY_AUTH_FILE to a Docker config.json, or DOCKER_CONFIG to its directory)';
    let creds: RegistryCredentials | undefined;
    try { creds = credentialsFor(readDockerConfig(f.path), registry); } catch (err) {
      return `the credentials file ${f.path} (${f.setting}) cannot be read: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (!creds) return `${f.path} (${f.setting}) has no auths entry for ${registry}`;
    return `credentials for ${registry} from ${f.path} (${f.setting})${creds.username ? `, user '${creds.username}'` : ', identity token'}`;
  }

  private credentials(registry: string, need: AccessNeed, what: string): RegistryCredentials | undefined {
    const f = this.opts.file;
    if (!f) return undefined;
    try {
      return credentialsFor(readDockerConfig(f.path), registry);
    } catch (err) {
      throw fail(FailureType.RegistryForbidden, `${what}: cannot read the registry credentials for ${registry}/${need.repository}: ${err instanceof Error ? err.message : String(err)} (${f.setting})`);
    }
  }

  /** The Authorization header to send up front (a cached token, or Basic for a Basic registry). */
  cached(need: AccessNeed, what: string): string | undefined {
    const t = this.tokens.get(`${need.registry} ${scopeOf(need)}`);
    if (t && t.expiresAt > Date.now()) return t.header;
    if (t) this.tokens.delete(`${need.registry} ${scopeOf(need)}`);
    if (this.basic.has(need.registry)) {
      const c = this.credentials(need.registry, need, what);
      if (c?.username) return basicHeader(c);
    }
    return undefined;
  }

  forget(need: AccessNeed): void { this.tokens.delete(`${need.registry} ${scopeOf(need)}`); }

  /** Answers a 401's challenge: the header to retry with; throws a typed failure when it cannot. */
  async answer(challenge: Challenge | undefined, need: AccessNeed, what: string): Promise<string> {
    const refused = (why: string) => fail(FailureType.RegistryForbidden,
      `${what}: ${need.registry} requires authentication for ${need.repository} (${why}); ${this.where(need.registry)}`, { details: { status: 401 } });
    if (!challenge) throw refused('HTTP 401 without a WWW-Authenticate challenge');
    const creds = this.credentials(need.registry, need, what);
    switch (challenge.scheme) {
      case 'basic': {
        if (!creds?.username) throw refused('Basic challenge');
        this.basic.add(need.registry);
        return basicHeader(creds);
      }
      case 'bearer': {
        const header = await this.fetchToken(challenge, need, creds, what);
        return header;
      }
      default: { const never: never = challenge.scheme; throw refused(`unknown challenge ${String(never)}`); }
    }
  }

  private async fetchToken(challenge: Challenge, need: AccessNeed, creds: RegistryCredentials | undefined, what: string): Promise<string> {
    const realm = challenge.params.realm;
    const whereCreds = this.where(need.registry);
    if (!realm) throw fail(FailureType.RegistryRejected, `${what}: ${need.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try { url = new URL(realm); } catch { throw fail(FailureType.RegistryRejected, `${what}: ${need.registry} sent a Bearer realm that is not a URL`); }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
      throw fail(FailureType.RegistryRejected, `${what}: ${need.registry}'s token realm ${url.origin} is neither HTTPS nor loopback; credentials are not sent there`);
    }
    const scope = challenge.params.scope || scopeOf(need);
    const service = challenge.params.service;
    const init: RequestInit = { signal: this.opts.signal(), redirect: 'follow' };
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant (distribution's oauth.md): how docker uses an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'gantry', ...(service ? { service } : {}) });
      form.set('scope', scope);
      Object.assign(init, { method: 'POST', body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', s);
      if (creds?.username) init.headers = { Authorization: basicHeader(creds) };
    }
    const tokenWhat = `${what}: token from ${url.origin}${url.pathname}`;
    let res: Response;
    try {
      res = await this.opts.fetch(url, init);
    } catch (err) {
      const cert = untrustedCertificate(err);
      if (cert) throw fail(FailureType.RegistryUntrusted, `${tokenWhat}: the token server presented a certificate the worker does not trust (${cert.problem}); GANTRY_REGISTRY_CA_FILE names the CA the worker trusts besides the system's`);
      throw fail(FailureType.RegistryUnavailable, `${tokenWhat}: ${requestFailureText(err)}`);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw fail(FailureType.RegistryForbidden, `${tokenWhat}: the token server refused (HTTP ${res.status}) access to ${need.registry}/${need.repository} (scope ${scope}); ${whereCreds}`, { details: { status: res.status } });
    }
    if (!res.ok) {
      await res.body?.cancel();
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      throw fail(retry ? FailureType.RegistryUnavailable : FailureType.RegistryRejected, `${tokenWhat}: HTTP ${res.status}`, { details: { status: res.status } });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try { body = await res.json() as typeof body; } catch { throw fail(FailureType.RegistryRejected, `${tokenWhat}: the answer is not JSON`); }
    const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' && body.access_token ? body.access_token : undefined;
    if (!token) throw fail(FailureType.RegistryRejected, `${tokenWhat}: the answer holds no token`);
    // The spec's default lifetime is 60 s; keep a margin so a token is not sent as it expires.
    const life = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    const header = `Bearer ${token}`;
    this.tokens.set(`${need.registry} ${scopeOf(need)}`, { header, expiresAt: Date.now() + Math.max(0, life - Math.min(30, life / 10)) * 1000 });
    return header;
  }
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}
