// Pipelines: POST /v1/pipelines (one commit through every environment in order; idempotent per repo
// and sha) and their status, by query (?repo=&sha=) or by path (/v1/pipelines/<owner>/<name>/<sha>).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkConfigSize } from '../config-parse.js';
import { GantryError } from '../errors.js';
import { configField, parse, refuseIdentityFields, text } from '../input.js';
import type { RouteDeps } from './deps.js';

const pipelineBody = z.strictObject({
  // Optional only with a source: the commit's own gantry.yaml is read at checkout.
  config: configField.optional(),
  repo: z.string().min(1).max(300),
  sha: z.string().min(1).max(64),
  ref: text(300).optional(),
  revision: z.strictObject({
    image: text(300).optional(), digest: text(100).optional(), author: text(200).optional(), message: text(2000).optional(),
  }).default({}),
  source: z.strictObject({ url: text(2000), depth: z.number().int().positive().optional(), configPath: text(300).optional() }).optional(),
}).refine((b) => b.config !== undefined || b.source !== undefined, { error: 'config is required unless the pipeline builds from source', path: ['config'] });

const pipelineQuery = z.object({ repo: z.string().min(1).max(300), sha: z.string().min(1).max(64) });

export function registerPipelineRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { service, callerOf } = deps;

  app.post('/v1/pipelines', async (req, reply) => {
    const caller = callerOf(req);
    refuseIdentityFields(req.body);
    const body = parse(pipelineBody, req.body ?? {}, 'pipeline request');
    checkConfigSize(body.config);
    const started = await service.startPipeline(body, caller);
    return reply.code(started.existing ? 200 : 201).send(started);
  });

  app.get('/v1/pipelines', async (req) => {
    callerOf(req);
    const q = parse(pipelineQuery, req.query, 'query');
    return service.pipelineStatus(q.repo, q.sha);
  });

  // GET /v1/pipelines/<owner>/<name>/<sha>: the repo may contain slashes, the sha is the last segment.
  app.get('/v1/pipelines/*', async (req) => {
    callerOf(req);
    const rest = (req.params as { '*': string })['*'].replace(/\/+$/, '');
    const i = rest.lastIndexOf('/');
    if (i <= 0) throw new GantryError('bad_request', 'expected /v1/pipelines/<repo>/<sha>', [{ path: 'url', message: 'no repository or commit', hint: 'GET /v1/pipelines/owner/name/<sha>, or GET /v1/pipelines?repo=<repo>&sha=<sha>' }]);
    return service.pipelineStatus(rest.slice(0, i), rest.slice(i + 1));
  });
}
