// Looking back, and steering trains (api/history.ts HistoryReader, api/trains.ts TrainService):
// GET /v1/releases/:app/:env/runs?pageToken=&pageSize=  every run of a release, newest first, paged
// GET /v1/audit?person=&action=&app=&env=&runs=          human decisions (bounded: see HistoryReader.audit)
// GET /v1/calendar/:app/:env?days=                       the environment's windows minus freezes ahead
// GET /v1/pipeline-logs?repo=&sha=&gate=[&gatesOnly=true]  a gate log's tail, read on the host that wrote it
// POST /v1/trains/:app/:env/pause|unpause {comment?}      a train's schedule paused or running again
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { auditFilters, auditQuery, calendarQuery, runsQuery } from '../history.js';
import { parse, releaseParams, text } from '../input.js';
import { trainScheduleId } from '../trains.js';
import { MAX_GATE_LOG_TAIL } from '../../workflows/gate-log.js';
import type { RouteDeps } from './deps.js';

const pauseBody = z.strictObject({ comment: text(2000).optional() });
const logQuery = z.object({
  repo: z.string().min(1).max(300), sha: z.string().regex(/^[0-9a-f]{7,64}$/, { error: 'sha must be a commit sha' }), gate: z.string().min(1).max(100),
  gatesOnly: z.enum(['true', 'false']).optional(), maxBytes: z.coerce.number().int().min(1).max(MAX_GATE_LOG_TAIL).optional(),
});

export function registerHistoryRoutes(app: FastifyInstance, deps: RouteDeps & { now?: () => number }): void {
  const { service, callerOf } = deps;
  const history = service.history;
  const trains = service.trains;

  app.get('/v1/releases/:app/:env/runs', async (req) => {
    callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const q = parse(runsQuery, req.query, 'query');
    return history.runs(p.app, p.env, { ...(q.pageToken ? { pageToken: q.pageToken } : {}), ...(q.pageSize ? { pageSize: q.pageSize } : {}) });
  });

  app.get('/v1/audit', async (req) => {
    callerOf(req);
    const q = parse(auditQuery, req.query, 'query');
    return history.audit(auditFilters(q));
  });

  app.get('/v1/calendar/:app/:env', async (req) => {
    callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const q = parse(calendarQuery, req.query, 'query');
    return history.calendar(p.app, p.env, (deps.now ?? Date.now)(), q.days ?? 7);
  });

  app.get('/v1/pipeline-logs', async (req) => {
    callerOf(req);
    const q = parse(logQuery, req.query, 'query');
    return history.gateLog(q.repo, q.sha, q.gate, { gatesOnly: q.gatesOnly === 'true', ...(q.maxBytes ? { maxBytes: q.maxBytes } : {}) });
  });

  for (const [route, paused] of [['pause', true], ['unpause', false]] as const) {
    app.post(`/v1/trains/:app/:env/${route}`, async (req) => {
      const caller = callerOf(req);
      const p = parse(releaseParams, req.params, 'release train name');
      const b = parse(pauseBody, req.body ?? {}, 'request');
      const entry = await trains.setPaused(p.app, p.env, paused, caller, b.comment);
      req.log.info({ audit: { train: trainScheduleId(p.app, p.env), ...entry } }, `release train ${route}d`);
      return { paused, by: entry.by };
    });
  }
}
