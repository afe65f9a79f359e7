// What the route groups (api/routes/*.ts) get from buildServer (api/server.ts). Types only: the route
// modules and the handlers they call (api/slack.ts, api/github-webhooks.ts) import this, never each other.
import type { FastifyRequest } from 'fastify';
import type { Caller, GantryService } from '../service.js';
import type { TriggerServerConfig } from '../server-config.js';

/** The bearer-token caller of a request (api/auth.ts); throws 401 without a valid token. */
export type CallerOf = (req: FastifyRequest) => Caller;

export interface RouteDeps {
  service: GantryService;
  callerOf: CallerOf;
}

export interface TriggerRouteOptions extends RouteDeps {
  config: TriggerServerConfig;
  /** fetch used for replies to GitHub and Slack (tests may inject one); default global fetch. */
  fetch?: typeof fetch;
}
