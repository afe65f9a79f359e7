// Release trains (api/trains.ts TrainService: Temporal Schedules per app and environment):
// POST/GET /v1/trains, GET/DELETE /v1/trains/:app/:env, POST /v1/trains/:app/:env/trigger.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { configField, parse, releaseParams } from '../input.js';
import { trainScheduleId, type TrainService } from '../trains.js';
import type { CallerOf } from './deps.js';

// Departures and the zone are checked by TrainService.create (cron fields, IANA zone), naming each.
const trainBody = z.object({
  config: configField,
  environment: z.string(),
  cron: z.union([z.string(), z.array(z.string()).max(100)]).optional(),
  timeZone: z.string().max(100).optional(),
  paused: z.boolean().optional(),
});

export function registerTrainRoutes(app: FastifyInstance, deps: { trains: TrainService; callerOf: CallerOf }): void {
  const { trains, callerOf } = deps;
  const name = (params: unknown) => parse(releaseParams, params, 'release train name');

  app.post('/v1/trains', async (req, reply) => {
    const caller = callerOf(req);
    const b = parse(trainBody, req.body ?? {}, 'release train');
    const cron = b.cron === undefined ? [] : typeof b.cron === 'string' ? [b.cron] : b.cron;
    const created = await trains.create({ config: b.config, environment: b.environment, cron, ...(b.timeZone !== undefined ? { timeZone: b.timeZone } : {}), ...(b.paused !== undefined ? { paused: b.paused } : {}) }, caller);
    req.log.info({ audit: { train: created.id, by: caller.identity.id, channel: caller.channel, action: created.existing ? 'update' : 'create' } }, 'release train saved');
    return reply.code(created.existing ? 200 : 201).send(created);
  });
  app.get('/v1/trains', async (req) => { callerOf(req); return { trains: await trains.list() }; });
  app.get('/v1/trains/:app/:env', async (req) => { callerOf(req); const p = name(req.params); return trains.describe(p.app, p.env); });
  app.post('/v1/trains/:app/:env/trigger', async (req) => {
    const caller = callerOf(req);
    const p = name(req.params);
    const entry = await trains.trigger(p.app, p.env, caller);
    req.log.info({ audit: { train: trainScheduleId(p.app, p.env), ...entry } }, 'release train triggered');
    return { triggered: true, by: entry.by };
  });
  app.delete('/v1/trains/:app/:env', async (req) => {
    const caller = callerOf(req);
    const p = name(req.params);
    const entry = await trains.remove(p.app, p.env, caller);
    req.log.info({ audit: { train: trainScheduleId(p.app, p.env), ...entry } }, 'release train deleted');
    return { deleted: true, by: entry.by };
  });
}
