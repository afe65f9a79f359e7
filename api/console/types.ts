// The console's seams: how a browser request becomes an identity (api/console/auth.ts) and what every
// view gets (api/console/index.ts). Views never read cookies or headers themselves.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../../core/approval.js';
import type { GantryService } from '../service.js';
import type { ReleaseStreams } from '../stream.js';

/** Who is looking at the console, the CSRF token their forms must carry, and how they signed in (a session cookie from OIDC or an API token, or the auth proxy's headers). */
export interface Viewer { identity: Identity; csrf: string; via: 'oidc' | 'proxy' | 'token' }

export interface ConsoleAuth {
  /** The viewer of a request, or undefined when nobody is signed in (views redirect to /ui/login). */
  viewer(req: FastifyRequest): Viewer | undefined;
  /** Throws GantryError('refused', 403) unless a state-changing request carries the viewer's CSRF token and a same-origin Origin. */
  verifyCsrf(req: FastifyRequest, viewer: Viewer, token: string | undefined): void;
  /** Sign-in and sign-out routes under /ui (login, OIDC callback, API-token login, logout). */
  register(app: FastifyInstance): void;
  /** What the login page offers (for the page itself). */
  readonly methods: readonly ('oidc' | 'proxy' | 'token')[];
}

export interface ConsoleDeps {
  service: GantryService;
  auth: ConsoleAuth;
  streams: ReleaseStreams;
  /** The Temporal UI base URL (links to workflows), e.g. http://127.0.0.1:8233; absent: no links. */
  temporalUiUrl?: string;
  /** Now, for countdowns (tests). */
  now?: () => number;
}

/** A view module registers its routes under /ui with the shared deps. */
export type ConsoleRoutes = (app: FastifyInstance, deps: ConsoleDeps, helpers: ConsoleHelpers) => void;

export interface ConsoleHelpers {
  /** The viewer, or a redirect to /ui/login (returns undefined after replying). */
  requireViewer(req: FastifyRequest, reply: FastifyReply): Viewer | undefined;
  /** Sends a whole HTML page with the console's security headers. */
  sendPage(reply: FastifyReply, html: string, status?: number): FastifyReply;
  /** Sends an HTML fragment (htmx swaps) with the same headers. */
  sendFragment(reply: FastifyReply, html: string, status?: number): FastifyReply;
}
