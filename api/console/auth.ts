// How a browser becomes a console viewer (api/console/types.ts ConsoleAuth), by one of three methods:
//  - an auth proxy in front of Gantry (oauth2-proxy and the like) that puts the user and groups in
//    request headers: believed only when the TCP peer is one of GANTRY_UI_TRUSTED_PROXIES (the socket's
//    address, never X-Forwarded-For), ignored from anyone else;
//  - OIDC: authorization code + PKCE with openid-client, then a session cookie;
//  - an API token (GANTRY_UI_TOKEN_LOGIN, like the Kubernetes Dashboard's token login): the person
//    pastes the bearer token the CLI uses, the API's IdentityTable resolves it, then the same session
//    cookie. The cookie holds the identity, never the token; a revoked token's sessions end at expiry.
// Cookies are sealed with AES-256-GCM under a key derived from GANTRY_UI_SESSION_SECRET (tampering
// makes them unreadable, the expiry is inside), so sessions need no server-side store and work across
// replicas sharing the secret. CSRF tokens are HMACs bound to the viewer; a state-changing request
// needs the token and a same-origin Origin (or Referer). @fastify/csrf-protection is not used (the
// token is derived from the session itself, nothing to store or rotate), nor @fastify/cookie (its
// helpers work only inside its plugin's scope; our cookies are two base64url values).
import crypto from 'node:crypto';
import net from 'node:net';
import formbody from '@fastify/formbody';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import type { Identity } from '../../core/approval.js';
import { MAX_TOKEN_LENGTH, resolveToken, type IdentityTable } from '../auth.js';
import { cap, displayLine } from '../../core/text.js';
import { GantryError } from '../errors.js';
import type { ConsoleSettings } from '../../runtime/config.js';
import { html, type SafeHtml } from './html.js';
import { CONTENT_SECURITY_POLICY } from './layout.js';
import type { ConsoleAuth, Viewer } from './types.js';

export const SESSION_COOKIE = 'gantry_session';
export const LOGIN_COOKIE = 'gantry_login';
/** How long a started OIDC sign-in may take at the provider. */
export const LOGIN_TTL_MS = 10 * 60_000;
/** Browsers drop cookies over 4096 bytes; a session must fit (the groups are in it). */
const MAX_COOKIE_BYTES = 3800;
const MAX_GROUPS = 200;
const MAX_NAME = 200;

export interface ConsoleAuthOptions {
  /** Now in milliseconds (tests). */
  now?: () => number;
  /** For the one-time warning about identity headers from an untrusted peer; default: the request's logger. */
  log?: FastifyBaseLogger;
  /** The API's tokens (api/auth.ts): required for token sign-in (GANTRY_UI_TOKEN_LOGIN). */
  identities?: IdentityTable;
}

/** `via` absent: a session from before token sign-in existed, which was OIDC. */
interface Session { id: string; groups: string[]; csrf: string; exp: number; via?: 'oidc' | 'token' }
interface LoginState { state: string; nonce: string; verifier: string; exp: number; next: string }

// ---------------------------------------------------------------------------------------------
// Sealing: AES-256-GCM, the cookie's purpose as associated data (a login cookie is never a session).

function sealer(secret: string) {
  const key = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'gantry-console', 'cookie-seal-v1', 32));
  return {
    seal(purpose: string, value: object): string {
      const iv = crypto.randomBytes(12);
      const c = crypto.createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(purpose));
      const body = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
    },
    open(purpose: string, text: string | undefined): unknown {
      if (!text || text.length > 8192) return undefined;
      const raw = Buffer.from(text, 'base64url');
      if (raw.length < 29) return undefined;
      try {
        const d = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12)).setAAD(Buffer.from(purpose));
        d.setAuthTag(raw.subarray(12, 28));
        return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as unknown;
      } catch {
        return undefined; // tampered, another secret, or not ours
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cookies: only ours matter, and their values are base64url (nothing to encode)

interface CookieOptions { sameSite: 'Strict' | 'Lax'; maxAgeSeconds: number; secure: boolean }

function serializeCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Max-Age=${o.maxAgeSeconds}; Path=/ui; HttpOnly${o.secure ? '; Secure' : ''}; SameSite=${o.sameSite}`;
}

/** The first value of each cookie in a Cookie header (as browsers send the most specific path first). */
function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Identities from outside: one line, no spaces or control characters, bounded

function validId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME && !/[\s\p{Cc}\p{Cf}]/u.test(v);
}

/** A group name may have inner spaces (directory groups often do), never control characters. */
function validGroup(g: string): boolean {
  return g.length <= MAX_NAME && !/[\p{Cc}\p{Cf}]/u.test(g);
}

function groupsOf(v: unknown): string[] | undefined {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : v === undefined || v === null ? [] : undefined;
  if (!list) return undefined;
  const out = [...new Set(list.map((g) => (typeof g === 'string' ? g.trim() : '')).filter((g) => g !== ''))];
  if (out.length > MAX_GROUPS || !out.every(validGroup)) return undefined;
  return out;
}

/** The peer's address as net.BlockList checks it (IPv4-mapped IPv6 as IPv4). */
function peerOf(req: FastifyRequest): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const raw = req.socket?.remoteAddress;
  if (!raw) return undefined;
  const address = raw.startsWith('::ffff:') && net.isIPv4(raw.slice(7)) ? raw.slice(7) : raw;
  const family = net.isIP(address);
  return family ? { address, family: family === 4 ? 'ipv4' : 'ipv6' } : undefined;
}

export function trustedPeers(list: readonly string[]): net.BlockList {
  const peers = new net.BlockList();
  for (const entry of list) {
    const [addr, prefix] = entry.split('/') as [string, string | undefined];
    const type = net.isIPv4(addr) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) peers.addAddress(addr, type);
    else peers.addSubnet(addr, Number(prefix), type);
  }
  return peers;
}

// ---------------------------------------------------------------------------------------------
// Pages (sign-in, errors): small, self-contained, everything escaped

/** Where to go after signing in: a console path (never another site: no //, no backslash), else /ui. */
export function safeNext(v: unknown): string {
  if (typeof v !== 'string' || v.length > 2000 || !/^\/ui(?:[/?#]|$)/.test(v) || /[\\\s\p{Cc}]/u.test(v) || v.includes('//')) return '/ui';
  return v;
}

function page(reply: FastifyReply, status: number, title: string, body: SafeHtml, head: SafeHtml | '' = ''): FastifyReply {
  return reply.code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin')
    .send(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${head}<title>${title} · Gantry</title>
<link rel="stylesheet" href="/ui/static/console.css">
</head>
<body>
<main id="main" class="sign-in">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`.value);
}

/** Text from outside (a provider's error, an id) on one line, escaped by html``, bounded. */
const oneLine = (text: string, limit = 500) => cap(displayLine(text), limit);

// ---------------------------------------------------------------------------------------------

export function createConsoleAuth(config: ConsoleSettings, opts: ConsoleAuthOptions = {}): ConsoleAuth {
  const now = opts.now ?? Date.now;
  const secret = config.env[config.sessionSecretEnv]?.trim() ?? '';
  // loadApiConfig checks this too; repeated for embedders that build the settings themselves.
  if (Buffer.byteLength(secret, 'utf8') < 32) {
    throw new Error(`${config.sessionSecretEnv}: the console needs a session secret of at least 32 bytes; make one with \`openssl rand -hex 32\``);
  }
  const identities = opts.identities;
  if (config.tokenLogin && !identities) throw new Error('GANTRY_UI_TOKEN_LOGIN: token sign-in needs the API\'s tokens: pass createConsoleAuth the IdentityTable (options.identities)');
  const { seal, open } = sealer(secret);
  const csrfKey = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'gantry-console', 'csrf-v1', 32));
  const peers = config.proxy ? trustedPeers(config.proxy.trusted) : undefined;
  const secure = config.publicUrl?.startsWith('https:') ?? false;
  const redirectUri = config.publicUrl ? `${config.publicUrl}/ui/callback` : undefined;
  const methods: ('oidc' | 'proxy' | 'token')[] = [...(config.oidc ? ['oidc' as const] : []), ...(config.proxy ? ['proxy' as const] : []), ...(config.tokenLogin ? ['token' as const] : [])];
  let warnedUntrusted = false;

  const csrfToken = (via: Viewer['via'], binding: string) =>
    crypto.createHmac('sha256', csrfKey).update(`${via}\n${binding}`).digest('base64url');

  const cookieOptions = (sameSite: 'Strict' | 'Lax', maxAgeSeconds: number): CookieOptions => ({ sameSite, secure, maxAgeSeconds });
  const cookieOf = (req: FastifyRequest, name: string) => parseCookies(req.headers.cookie).get(name);

  function sessionOf(req: FastifyRequest): Session | undefined {
    const s = open('session', cookieOf(req, SESSION_COOKIE)) as Partial<Session> | undefined;
    if (!s || typeof s !== 'object' || !validId(s.id) || typeof s.csrf !== 'string' || typeof s.exp !== 'number') return undefined;
    if (s.exp <= now()) return undefined;
    const groups = groupsOf(s.groups);
    return groups ? { id: s.id, groups, csrf: s.csrf, exp: s.exp, via: s.via === 'token' ? 'token' : 'oidc' } : undefined;
  }

  /** Whether identity headers came in, and from whom, for the sign-in page's explanation. */
  function proxyHeadersFrom(req: FastifyRequest): { trusted: boolean; peer: string } | undefined {
    if (!config.proxy || req.headers[config.proxy.userHeader] === undefined) return undefined;
    const peer = peerOf(req);
    return { trusted: !!peer && peers!.check(peer.address, peer.family), peer: peer?.address ?? 'unknown' };
  }

  function proxyIdentity(req: FastifyRequest): Identity | undefined {
    const from = proxyHeadersFrom(req);
    if (!from) return undefined;
    const log = opts.log ?? req.log;
    if (!from.trusted) {
      // Anyone can send these headers: from a peer that is not the proxy they are not an identity.
      if (!warnedUntrusted) {
        warnedUntrusted = true;
        log.warn({ peer: from.peer, header: config.proxy!.userHeader }, 'console: identity headers from a peer not in GANTRY_UI_TRUSTED_PROXIES are ignored (logged once)');
      }
      return undefined;
    }
    const id = req.headers[config.proxy!.userHeader];
    const groups = groupsOf(req.headers[config.proxy!.groupsHeader]);
    if (!validId(id) || !groups) {
      log.warn({ header: config.proxy!.userHeader }, 'console: the auth proxy sent a user that is not one line without spaces, or groups with control characters or more than 200; not signed in');
      return undefined;
    }
    return { id, groups };
  }

  function viewer(req: FastifyRequest): Viewer | undefined {
    const s = sessionOf(req);
    if (s) { const via = s.via ?? 'oidc'; return { identity: { id: s.id, groups: s.groups }, csrf: csrfToken(via, s.csrf), via }; }
    const p = proxyIdentity(req);
    if (p) return { identity: p, csrf: csrfToken('proxy', p.id), via: 'proxy' };
    return undefined;
  }

  /** The origin state-changing requests must come from. */
  function originProblem(req: FastifyRequest): string | undefined {
    const origin = req.headers.origin;
    let from: string | undefined = typeof origin === 'string' && origin !== 'null' ? origin : undefined;
    if (!from && typeof req.headers.referer === 'string') {
      try { from = new URL(req.headers.referer).origin; } catch { /* not a URL */ }
    }
    if (!from) return 'it has neither an Origin nor a Referer header';
    let url: URL;
    try { url = new URL(from); } catch { return 'its Origin is not a URL'; }
    const ok = config.publicUrl ? url.origin === config.publicUrl : url.host === req.headers.host;
    return ok ? undefined : `it comes from ${cap(displayLine(url.origin), 200)}, not ${config.publicUrl ?? 'this host'}`;
  }

  function verifyCsrf(req: FastifyRequest, v: Viewer, token: string | undefined): void {
    const hint = 'submit the form from the Gantry console itself (reload the page if it has been open a long time)';
    const where = originProblem(req);
    if (where) throw new GantryError('refused', `refused: this request was not sent by the Gantry console: ${where}`, [], config.publicUrl ? hint : `${hint}; behind a proxy, set GANTRY_PUBLIC_URL`);
    if (!token) throw new GantryError('refused', 'refused: this request carries no CSRF token (the _csrf form field or the x-csrf-token header)', [], hint);
    const a = Buffer.from(token);
    const b = Buffer.from(v.csrf);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
      throw new GantryError('refused', 'refused: the CSRF token is not this viewer\'s (signed in again, or as someone else, since the page was loaded?)', [], hint);
    }
  }

  // ---- OIDC

  let discovered: Promise<oidc.Configuration> | undefined;
  function provider(): Promise<oidc.Configuration> {
    const o = config.oidc!;
    discovered ??= (async () => {
      const issuer = new URL(o.issuer);
      const clientSecret = o.clientSecretEnv ? config.env[o.clientSecretEnv]?.trim() : undefined;
      // A confidential client authenticates with HTTP Basic (the OIDC default) unless the provider
      // supports only client_secret_post; a public client sends no secret, PKCE proves the caller.
      const auth: oidc.ClientAuth = clientSecret ? (as, client, body, headers) => {
        const methods = as.token_endpoint_auth_methods_supported;
        const post = !!methods && !methods.includes('client_secret_basic') && methods.includes('client_secret_post');
        return (post ? oidc.ClientSecretPost(clientSecret) : oidc.ClientSecretBasic(clientSecret))(as, client, body, headers);
      } : oidc.None();
      return oidc.discovery(issuer, o.clientId, undefined, auth,
        // An http issuer is only accepted for a provider on this machine (runtime/config.ts).
        issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests], timeout: 10 } : { timeout: 10 });
    })();
    // A provider down at start must not stay broken: forget a failed discovery.
    discovered.catch(() => { discovered = undefined; });
    return discovered;
  }

  async function claimsOf(cfg: oidc.Configuration, tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>): Promise<Record<string, unknown>> {
    const o = config.oidc!;
    const idClaims = tokens.claims();
    if (!idClaims) throw new Error('the provider returned no ID token');
    let claims: Record<string, unknown> = { ...idClaims };
    // Many providers put profile claims (and groups) only in userinfo when an access token is issued.
    if ((claims[o.userClaim] === undefined || claims[o.groupsClaim] === undefined) && cfg.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(cfg, tokens.access_token, idClaims.sub);
      claims = { ...info, ...claims };
    }
    return claims;
  }

  const failed = (reply: FastifyReply, status: number, message: string, hint: string) => page(reply, status, 'Sign-in failed',
    html`<p>${oneLine(message)}</p><p>${hint}</p><p><a class="button" href="/ui/login">Back to sign-in</a></p>`);

  /** How a viewer signed in, for the sign-in page. */
  function signedInBy(via: Viewer['via']): string {
    switch (via) {
      case 'proxy': return 'through the auth proxy';
      case 'oidc': return 'with OIDC';
      case 'token': return 'with an API token';
      default: { const never: never = via; return never; }
    }
  }

  /** The session cookie for a signed-in identity, or undefined when it does not fit in a cookie. */
  function sessionCookie(session: Session): string | undefined {
    const cookie = serializeCookie(SESSION_COOKIE, seal('session', session), cookieOptions('Strict', Math.floor(config.sessionTtlMs / 1000)));
    return cookie.length > MAX_COOKIE_BYTES ? undefined : cookie;
  }

  function register(app: FastifyInstance): void {
    void app.register(async (scope) => {
      // Forms are urlencoded; the parser may already be there (registerConsole), so only when missing.
      if (!scope.hasContentTypeParser('application/x-www-form-urlencoded')) await scope.register(formbody, { bodyLimit: 16 * 1024 });

      scope.get('/ui/login', async (req, reply) => {
        const next = safeNext((req.query as Record<string, unknown> | undefined)?.next);
        const v = viewer(req);
        if (v) {
          const groups = v.identity.groups.length ? ` (${oneLine(v.identity.groups.join(', '))})` : '';
          return page(reply, 200, 'Signed in', html`<p>Signed in as <b>${v.identity.id}</b>${groups} ${signedInBy(v.via)}.</p>
<p><a class="button" href="${next}">Open the console</a></p>
${v.via !== 'proxy' ? html`<form method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${v.csrf}"><button type="submit">Sign out</button></form>` : ''}`);
        }
        const from = config.proxy ? proxyHeadersFrom(req) : undefined;
        return page(reply, 200, 'Sign in to Gantry', html`${config.oidc
          ? html`<p><a class="button" href="/ui/login/oidc${next === '/ui' ? '' : `?next=${encodeURIComponent(next)}`}">Sign in with ${new URL(config.oidc.issuer).host}</a></p>` : ''}${config.proxy
          ? html`<p>${config.oidc ? 'Or open' : 'Open'} Gantry through your organization's sign-in proxy, which signs you in.</p>${from && !from.trusted
            ? html`<p>This request carried identity headers but came from ${from.peer}, which is not a trusted proxy (GANTRY_UI_TRUSTED_PROXIES): they were ignored.</p>` : ''}` : ''}${config.tokenLogin
          ? html`<form class="token-login" method="post" action="/ui/login/token">
<input type="hidden" name="next" value="${next}">
<p><label for="token">${config.oidc || config.proxy ? 'Or sign in with an ' : 'Sign in with an '}API token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required maxlength="${MAX_TOKEN_LENGTH}" aria-label="API token"></p>
<p class="muted">The bearer token the gantry CLI uses (GANTRY_TOKEN).</p>
<p><button type="submit">Sign in</button></p>
</form>` : ''}`);
      });

      // Token sign-in. Login CSRF (another site posting its own token, signing the victim in as the
      // attacker) is refused by the same-origin Origin check: SameSite cannot help, the request carries
      // no cookie yet, and there is no viewer to bind a CSRF token to. A same-origin form is safe: the
      // only input is the token itself, a secret the submitter has; the identity comes from the table,
      // never from the form. Not rate-limited (an unguessable token of 16+ characters; a proxy in front
      // may limit). The token is never logged or echoed.
      scope.post('/ui/login/token', async (req, reply) => {
        if (!config.tokenLogin || !identities) return failed(reply, 404, 'token sign-in is not configured', 'set GANTRY_UI_TOKEN_LOGIN=true on the API server');
        const where = originProblem(req);
        if (where) {
          return page(reply, 403, 'Not signed in', html`<p>${oneLine(`refused: this sign-in was not sent by the Gantry console: ${where}`)}</p>
<p>sign in from the console's own sign-in page${config.publicUrl ? '' : '; behind a proxy, set GANTRY_PUBLIC_URL'}</p><p><a class="button" href="/ui/login">Back to sign-in</a></p>`);
        }
        const body = req.body as Record<string, unknown> | undefined;
        const raw = body && typeof body === 'object' ? body.token : undefined;
        const next = safeNext(body && typeof body === 'object' ? body.next : undefined);
        // resolveToken is constant-time in the token's value; nothing below depends on which entry matched.
        const identity = resolveToken(identities, typeof raw === 'string' ? raw.trim() : undefined);
        if (!identity) {
          return failed(reply, 401, 'unknown or revoked token', 'paste the whole token the API server was started with (GANTRY_TOKENS or GANTRY_SERVER_CONFIG), the one the CLI uses as GANTRY_TOKEN');
        }
        const groups = groupsOf(identity.groups);
        if (!validId(identity.id) || !groups) {
          return failed(reply, 403, 'this token\'s identity cannot be a console viewer (its groups have control characters, or more than 200)', 'give the identity plain group names in GANTRY_TOKENS or GANTRY_SERVER_CONFIG');
        }
        const cookie = sessionCookie({ id: identity.id, groups, csrf: crypto.randomBytes(32).toString('base64url'), exp: now() + config.sessionTtlMs, via: 'token' });
        if (!cookie) return failed(reply, 403, `your identity does not fit in a session cookie (${groups.length} groups)`, 'give the identity fewer groups');
        req.log.info({ id: identity.id, groups: groups.length }, 'console: signed in with an API token');
        // A 303 is fine here (unlike OIDC's callback): the POST came from our own page, so the
        // navigation is same-site and the browser sends the new Strict cookie with the GET.
        reply.header('set-cookie', cookie);
        return reply.code(303).header('cache-control', 'no-store').redirect(next, 303);
      });

      scope.get('/ui/login/oidc', async (req, reply) => {
        if (!config.oidc || !redirectUri) return failed(reply, 404, 'OIDC sign-in is not configured', 'set GANTRY_UI_OIDC_ISSUER, GANTRY_UI_OIDC_CLIENT_ID and GANTRY_PUBLIC_URL');
        let cfg: oidc.Configuration;
        try {
          cfg = await provider();
        } catch (err) {
          req.log.error({ err: { message: (err as Error).message }, issuer: config.oidc.issuer }, 'console: OIDC discovery failed');
          return failed(reply, 503, `the sign-in provider ${config.oidc.issuer} could not be reached: ${(err as Error).message}`, 'try again in a moment; if it persists, check GANTRY_UI_OIDC_ISSUER and that the API can reach it');
        }
        const login: LoginState = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), exp: now() + LOGIN_TTL_MS,
          next: safeNext((req.query as Record<string, unknown> | undefined)?.next) };
        const url = oidc.buildAuthorizationUrl(cfg, {
          redirect_uri: redirectUri, scope: config.oidc.scopes.join(' '), response_type: 'code',
          code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier), code_challenge_method: 'S256',
          state: login.state, nonce: login.nonce,
        });
        // Lax: the provider's redirect back is a cross-site navigation, which Strict cookies miss.
        reply.header('set-cookie', serializeCookie(LOGIN_COOKIE, seal('login', login), cookieOptions('Lax', LOGIN_TTL_MS / 1000)));
        return reply.code(303).header('cache-control', 'no-store').redirect(url.href, 303);
      });

      scope.get('/ui/callback', async (req, reply) => {
        if (!config.oidc || !redirectUri) return failed(reply, 404, 'OIDC sign-in is not configured', 'set GANTRY_UI_OIDC_ISSUER, GANTRY_UI_OIDC_CLIENT_ID and GANTRY_PUBLIC_URL');
        const clear = serializeCookie(LOGIN_COOKIE, '', cookieOptions('Lax', 0));
        const login = open('login', cookieOf(req, LOGIN_COOKIE)) as Partial<LoginState> | undefined;
        if (!login || typeof login.state !== 'string' || typeof login.nonce !== 'string' || typeof login.verifier !== 'string' || typeof login.exp !== 'number' || login.exp <= now()) {
          reply.header('set-cookie', clear);
          return failed(reply, 400, 'this sign-in was not started here, or took longer than 10 minutes', 'start again from the sign-in page, in the same browser');
        }
        const o = config.oidc;
        let session: Session;
        try {
          const cfg = await provider();
          const current = new URL(redirectUri);
          current.search = new URL(req.url, 'http://x').search;
          const tokens = await oidc.authorizationCodeGrant(cfg, current, {
            pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true,
          });
          const claims = await claimsOf(cfg, tokens);
          const id = claims[o.userClaim];
          if (!validId(id)) {
            reply.header('set-cookie', clear);
            return failed(reply, 403, `the provider's answer has no usable ${o.userClaim} claim (one line, no spaces, at most ${MAX_NAME} characters)`, 'set GANTRY_UI_OIDC_USER_CLAIM to a claim your provider sends (e.g. email or sub), or add the scope that releases it to GANTRY_UI_OIDC_SCOPES');
          }
          const groups = groupsOf(claims[o.groupsClaim]);
          if (!groups) {
            reply.header('set-cookie', clear);
            return failed(reply, 403, `the ${o.groupsClaim} claim is not a list of at most ${MAX_GROUPS} group names`, 'set GANTRY_UI_OIDC_GROUPS_CLAIM to the claim with the user\'s groups, or narrow the groups your provider sends');
          }
          session = { id, groups, csrf: crypto.randomBytes(32).toString('base64url'), exp: now() + config.sessionTtlMs, via: 'oidc' };
        } catch (err) {
          reply.header('set-cookie', clear);
          const e = err as Error & { error?: string; error_description?: string; cause?: unknown };
          // openid-client says "invalid response encountered" and puts what was wrong in the cause (an
          // error, or the WWW-Authenticate challenges of a refused client: error="invalid_client").
          const challenges = Array.isArray(e.cause) ? (e.cause as { parameters?: Record<string, string> }[]).map((c) => c.parameters ?? {}) : [];
          const cause = e.cause instanceof Error ? e.cause.message
            : challenges.map((p) => [p.error, p.error_description].filter(Boolean).join(': ')).filter(Boolean).join('; ') || undefined;
          const message = e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : `${e.message}${cause ? ` (${cause})` : ''}`;
          req.log.warn({ err: { message: cap(displayLine(message), 500) } }, 'console: OIDC sign-in failed');
          return failed(reply, 400, `the sign-in provider's answer was refused: ${message}`, 'start again from the sign-in page; if it keeps failing, the API log has the details');
        }
        const cookie = sessionCookie(session);
        if (!cookie) {
          reply.header('set-cookie', clear);
          return failed(reply, 403, `your identity does not fit in a session cookie (${session.groups.length} groups)`, 'have the provider send fewer groups to Gantry (a groups filter on the client), or sign in through the auth proxy');
        }
        req.log.info({ id: session.id, groups: session.groups.length }, 'console: signed in with OIDC');
        reply.header('set-cookie', [clear, cookie]);
        // Not a 303: a redirect still belongs to the provider's cross-site navigation, so the browser
        // would not send the new Strict cookie to /ui. A page of our own that moves on is same-site.
        const next = safeNext(login.next);
        return page(reply, 200, 'Signed in', html`<p>Signed in as <b>${session.id}</b>. <a href="${next}">Open the console</a>.</p>`,
          html`<meta http-equiv="refresh" content="0;url=${next}">\n`);
      });

      scope.post('/ui/logout', async (req, reply) => {
        const v = viewer(req);
        if (!v) return reply.code(303).redirect('/ui/login', 303);
        const body = req.body as Record<string, unknown> | undefined;
        const field = body && typeof body === 'object' ? body._csrf : undefined;
        const header = req.headers['x-csrf-token'];
        try {
          verifyCsrf(req, v, typeof field === 'string' ? field : typeof header === 'string' ? header : undefined);
        } catch (err) {
          if (!(err instanceof GantryError)) throw err;
          return page(reply, 403, 'Not signed out', html`<p>${oneLine(err.message)}</p><p>${oneLine(err.hint ?? '')}</p>`);
        }
        if (v.via === 'proxy') return page(reply, 200, 'Signed in by the proxy', html`<p>You are signed in through the auth proxy: sign out there.</p>`);
        reply.header('set-cookie', serializeCookie(SESSION_COOKIE, '', cookieOptions('Strict', 0)));
        return reply.code(303).redirect('/ui/login', 303);
      });
    });
  }

  return { viewer, verifyCsrf, register, methods };
}
