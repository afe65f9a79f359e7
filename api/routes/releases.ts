// Releases: start (POST /v1/releases), list, status (with the caller's allowedActions), the status
// stream (api/stream.ts), history, and the human decisions (POST /v1/releases/:app/:env/:action).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Action } from '../../core/approval.js';
import type { ReleaseStatus } from '../../core/release.js';
import { echo } from '../../core/text.js';
import { checkConfigSize } from '../config-parse.js';
import { GantryError } from '../errors.js';
import { configField, label, parse, refuseIdentityFields, releaseParams, text } from '../input.js';
import type { GantryService, ReleaseSummary } from '../service.js';
import { registerStreamRoute, type ReleaseStreams } from '../stream.js';
import type { RouteDeps } from './deps.js';

export const ACTIONS: readonly Action[] = Object.values(Action);

const releaseBody = z.strictObject({
  config: configField,
  environment: z.string().min(1),
  revision: z.strictObject({
    image: text(300).optional(), digest: text(100).optional(), sha: text(64).optional(),
    author: text(200).optional(), message: text(2000).optional(),
  }).default({}),
});

const decisionBody = z.strictObject({ comment: z.string().min(1).max(2000).optional() });

const statusQuery = z.object({ events: z.coerce.number().int().min(0).max(10_000).optional() });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional(),
  app: label('app').optional(),
  // Only the caller: the API knows no one else's groups.
  waitingFor: z.literal('me', { error: 'only waitingFor=me (the caller, by their token) is supported' }).optional(),
});

export interface ListedRelease extends ReleaseSummary { phase?: string; summary?: string }

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The service's list (one visibility query; phases from the search attributes) plus, only for running
 * releases that carry no phase attribute (started before them, or without them), their phase and
 * summary from a status query each (best-effort).
 */
export async function listReleases(service: GantryService, limit: number, opts: Parameters<GantryService['list']>[1] = {}): Promise<ListedRelease[]> {
  const list = await service.list(limit, opts);
  // "Waiting for": releases without attributes answer by their status, as the caller (allowedActions).
  if (opts.waitingFor && list.length < limit) {
    const older = await service.waitingForWithoutAttributes(opts.waitingFor, limit - list.length, opts.app ? { app: opts.app } : {});
    list.push(...older);
    list.sort((a, b) => b.startTime.localeCompare(a.startTime));
  }
  return Promise.all(list.map(async (r): Promise<ListedRelease> => {
    if (r.phase) return r.waitingOn ? { ...r, summary: `waiting on ${r.waitingOn}${r.approvers ? ` (${r.approvers.join(', ')})` : ''}` } : r;
    if (r.status === 'completed') return { ...r, phase: 'succeeded' };
    if (r.status !== 'running') return r;
    const s: ReleaseStatus | undefined = await withTimeout(service.status(r.app, r.environment, 1), 3000).catch(() => undefined);
    return s ? { ...r, phase: s.phase, summary: s.summary } : r;
  }));
}

export function registerReleaseRoutes(app: FastifyInstance, deps: RouteDeps & { streams: ReleaseStreams }): void {
  const { service, callerOf } = deps;

  app.post('/v1/releases', async (req, reply) => {
    const caller = callerOf(req);
    refuseIdentityFields(req.body);
    const body = parse(releaseBody, req.body ?? {}, 'release request');
    checkConfigSize(body.config);
    const started = await service.startRelease(body, caller);
    return reply.code(started.existing ? 200 : 201).send(started);
  });

  app.get('/v1/releases', async (req) => {
    const caller = callerOf(req);
    const q = parse(listQuery, req.query, 'query');
    return { releases: await listReleases(service, q.limit ?? 50, { ...(q.app ? { app: q.app } : {}), ...(q.waitingFor ? { waitingFor: caller.identity } : {}) }) };
  });

  app.get('/v1/releases/:app/:env', async (req) => {
    const caller = callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const q = parse(statusQuery, req.query, 'query');
    // allowedActions: what this caller may do now, by the workflow's own policy (core/release.ts checkAction).
    return service.status(p.app, p.env, q.events ?? 50, caller.identity);
  });

  // Server-sent events of the status (api/stream.ts): one poller per release and caller, events on change.
  registerStreamRoute(app, {
    streams: deps.streams, callerOf,
    params: (req) => { const p = parse(releaseParams, req.params, 'release name'); return { app: p.app, env: p.env }; },
  });

  app.get('/v1/releases/:app/:env/history', async (req) => {
    callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const s = await service.status(p.app, p.env, 0);
    return { id: s.id, app: s.app, environment: s.environment, phase: s.phase, summary: s.summary, decisions: s.decisions, events: s.events };
  });

  app.post('/v1/releases/:app/:env/:action', async (req) => {
    const caller = callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const action = (req.params as { action: string }).action;
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new GantryError('not_found', `unknown action ${echo(action, 40)}`, [{ path: 'action', message: 'not an action', hint: `one of: ${ACTIONS.join(', ')}` }]);
    }
    refuseIdentityFields(req.body);
    const body = parse(decisionBody, req.body ?? {}, 'decision');
    return service.decide(p.app, p.env, action as Action, caller, body.comment);
  });
}
