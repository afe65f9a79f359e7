// The API process: `npm run api`. Connects to Temporal (TEMPORAL_ADDRESS, else the embedded dev
// server), serves the HTTP API on GANTRY_API_ADDR (default 127.0.0.1:8080). startApi is also used
// by `npm start`, which runs worker and API in one process.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { temporalAddress } from '../testbed/temporal.js';
import { taskQueueFrom } from '../workflows/messages.js';
import { loadIdentities, type IdentityTable } from './auth.js';
import { buildServer } from './server.js';
import { configParser } from './config-parse.js';
import { GantryService } from './service.js';
import { loadTriggerConfig, type TriggerServerConfig } from './server-config.js';

export const DEFAULT_API_ADDR = '127.0.0.1:8080';


export interface StartApiOptions {
  /** host:port, :port or port. Default GANTRY_API_ADDR, else 127.0.0.1:8080. Port 0 picks a free one. */
  listen?: string;
  /** Use this client (its connection stays open on close); otherwise connect to `temporalAddress`. */
  client?: Client;
  /** Default: TEMPORAL_ADDRESS, else the embedded dev server. */
  temporalAddress?: string;
  namespace?: string;
  taskQueue?: string;
  /** Default: loaded from GANTRY_TOKENS / GANTRY_SERVER_CONFIG. */
  identities?: IdentityTable;
  /** Default: a pino logger at GANTRY_LOG_LEVEL (info), Authorization headers redacted. */
  logger?: FastifyBaseLogger | boolean;
  /** Serve GET / without a token. Default: GANTRY_PUBLIC_INDEX=1. */
  publicIndex?: boolean;
  /** Default: loaded from the GANTRY_SERVER_CONFIG file (repos, slack, chat; api/server-config.ts). */
  triggers?: TriggerServerConfig;
}

export interface RunningApi {
  url: string;
  server: FastifyInstance;
  service: GantryService;
  identities: IdentityTable;
  close(): Promise<void>;
}

export function parseListenAddress(addr: string): { host: string; port: number } {
  const a = addr.trim();
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(a);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`GANTRY_API_ADDR=${addr}: expected host:port (e.g. ${DEFAULT_API_ADDR}), :port or port`);
  return { host: m[1] || '127.0.0.1', port };
}

export function defaultLogger(): FastifyBaseLogger {
  return pino({
    level: (process.env.GANTRY_LOG_LEVEL ?? 'info').toLowerCase(),
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'], censor: '[redacted]' },
  }) as unknown as FastifyBaseLogger;
}

/** Builds the service and server and listens; resolves once the API is serving. */
export async function startApi(opts: StartApiOptions = {}): Promise<RunningApi> {
  const identities = opts.identities ?? loadIdentities();
  const triggers = opts.triggers ?? loadTriggerConfig();
  let connection: Connection | undefined;
  let client = opts.client;
  const address = opts.temporalAddress ?? temporalAddress();
  if (!client) {
    try {
      connection = await Connection.connect({ address, connectTimeout: '10s' });
    } catch (err) {
      throw new Error(`cannot connect to Temporal at ${address} (${err instanceof Error ? err.message : String(err)}): start it with \`npm start\` or \`npm run testbed -- up\`, or set TEMPORAL_ADDRESS`);
    }
    client = new Client({ connection, namespace: opts.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default' });
  }
  const service = new GantryService(client, opts.taskQueue ?? taskQueueFrom(process.env));
  const logger = opts.logger ?? defaultLogger();
  const server = buildServer({ service, identities, logger, publicIndex: opts.publicIndex ?? process.env.GANTRY_PUBLIC_INDEX === '1', triggers });
  const { host, port } = parseListenAddress(opts.listen ?? process.env.GANTRY_API_ADDR ?? DEFAULT_API_ADDR);
  try {
    await server.listen({ host, port });
  } catch (err) {
    await server.close();
    await connection?.close();
    throw err;
  }
  const bound = server.server.address();
  const boundPort = bound && typeof bound === 'object' ? bound.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  if (identities.size === 0) {
    server.log.warn('no API tokens configured: every request except /healthz is refused. Set GANTRY_TOKENS=\'{"<token>":{"id":"you","groups":["sre"]}}\' or GANTRY_SERVER_CONFIG=<file with identities: [{id, groups, token_sha256}]>');
  } else {
    server.log.info({ identities: identities.size, sources: identities.sources }, 'API tokens loaded');
  }
  if (triggers.repos.size || triggers.slack) {
    server.log.info({ repos: [...triggers.repos.values()].map((r) => r.name), slack: !!triggers.slack, chatUsers: triggers.chat.slack.size + triggers.chat.github.size }, 'triggers and ChatOps configured');
  }
  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${boundPort}`, server, service, identities,
    close() {
      closed ??= (async () => {
        await server.close();
        await connection?.close();
      })();
      return closed;
    },
  };
}

async function main(): Promise<void> {
  const api = await startApi();
  // Start a config parser thread now, so the first gantry.yaml is not delayed by its start-up.
  void configParser().ready().catch(() => undefined);
  console.log(`gantry API: ${api.url} (Temporal ${process.env.TEMPORAL_ADDRESS ?? temporalAddress()}, task queue ${api.service.taskQueue})`);
  console.log(`  try: GANTRY_API=${api.url} GANTRY_TOKEN=<token> npm run --silent gantry -- release list`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`gantry API: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`gantry API: ${signal}, finishing in-flight requests and shutting down`);
    api.close().then(() => process.exit(0), (err: unknown) => {
      console.error('gantry API: shutdown failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const entry = process.argv[1] ? path.resolve(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error('gantry API failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
