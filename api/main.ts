// The API process: `npm run api`. Reads its configuration from the environment (runtime/config.ts:
// Temporal, the task queue, GANTRY_API_ADDR, tokens and the server config), connects to Temporal and
// serves the HTTP API. startApi is also used by `npm start` and `npm run demo`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { gantryLogger } from '../runtime/logging.js';
import { DEFAULT_API_ADDR, listenAddress, loadApiConfig, RuntimeConfigError, type ApiConfig, type LogLevel } from '../runtime/config.js';
import { describeTemporal, temporalConnectError } from '../runtime/temporal.js';
import { loadIdentities, type IdentityTable } from './auth.js';
import { createConsoleAuth } from './console/auth.js';
import { buildServer } from './server.js';
import { configParser } from './config-parse.js';
import { GantryService } from './service.js';
import { loadTriggerConfig, type TriggerServerConfig } from './server-config.js';

export { DEFAULT_API_ADDR };

export interface StartApiOptions {
  /** The configuration; default: loadApiConfig(process.env). The options below override single settings. */
  config?: ApiConfig;
  /** host:port, :port or port. Port 0 picks a free one. */
  listen?: string;
  /** Use this client (its connection stays open on close); otherwise connect to the configured Temporal. */
  client?: Client;
  temporalAddress?: string;
  namespace?: string;
  taskQueue?: string;
  /** Default: loaded from GANTRY_TOKENS / GANTRY_SERVER_CONFIG of the config's environment. */
  identities?: IdentityTable;
  /** Default: a pino logger at the configured level, Authorization headers redacted. */
  logger?: FastifyBaseLogger | boolean;
  /** Serve GET / without a token. */
  publicIndex?: boolean;
  /** Default: loaded from the GANTRY_SERVER_CONFIG file (repos, slack, chat; api/server-config.ts). */
  triggers?: TriggerServerConfig;
  /** The Temporal UI the console links to (e.g. the embedded dev server's); default: GANTRY_TEMPORAL_UI_URL. */
  temporalUiUrl?: string;
}

export interface RunningApi {
  url: string;
  server: FastifyInstance;
  service: GantryService;
  identities: IdentityTable;
  close(): Promise<void>;
}

export function parseListenAddress(addr: string): { host: string; port: number } {
  const r = listenAddress(addr);
  if (!r) throw new Error(`GANTRY_API_ADDR=${addr}: expected host:port (e.g. ${DEFAULT_API_ADDR}), :port or port`);
  return r;
}

export function defaultLogger(level: LogLevel = 'info'): FastifyBaseLogger {
  // The same logger and redaction as the workers' (runtime/logging.ts).
  return gantryLogger(level) as unknown as FastifyBaseLogger;
}

/** Builds the service and server and listens; resolves once the API is serving. */
export async function startApi(opts: StartApiOptions = {}): Promise<RunningApi> {
  const config = opts.config ?? loadApiConfig(process.env);
  const identities = opts.identities ?? loadIdentities({ env: config.env });
  const triggers = opts.triggers ?? loadTriggerConfig({ env: config.env });
  let connection: Connection | undefined;
  let client = opts.client;
  if (!client) {
    // Temporal's client configuration (TLS, mTLS, API key, profiles: runtime/temporal.ts); an address given here replaces it.
    const connect = opts.temporalAddress ? { address: opts.temporalAddress } : config.temporal.connection;
    try {
      connection = await Connection.connect({ ...connect, connectTimeout: '10s' });
    } catch (err) {
      throw temporalConnectError(opts.temporalAddress ? { ...config.temporal, address: opts.temporalAddress, tls: false, apiKey: false } : config.temporal, err);
    }
    client = new Client({ connection, namespace: opts.namespace ?? config.temporal.namespace });
  }
  const taskQueue = opts.taskQueue ?? config.taskQueue;
  // Pipelines run repository code on the build task queue when one is configured (GANTRY_BUILD_TASK_QUEUE).
  const service = new GantryService(client, taskQueue, config.buildTaskQueue === config.taskQueue ? taskQueue : config.buildTaskQueue);
  const logger = opts.logger ?? defaultLogger(config.logLevel);
  // The web console at /ui when a sign-in method is configured (GANTRY_UI_*: api/console/auth.ts).
  const temporalUiUrl = opts.temporalUiUrl ?? config.console?.temporalUiUrl;
  const consoleOpts = config.console ? { console: { auth: createConsoleAuth(config.console, { identities }), ...(temporalUiUrl ? { temporalUiUrl } : {}) } } : {};
  const server = buildServer({ service, identities, logger, publicIndex: opts.publicIndex ?? config.publicIndex, triggers, ...consoleOpts });
  const { host, port } = opts.listen !== undefined ? parseListenAddress(opts.listen) : config.listen;
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
  const config = loadApiConfig(process.env);
  const api = await startApi({ config });
  // Start a config parser thread now, so the first gantry.yaml is not delayed by its start-up.
  void configParser().ready().catch(() => undefined);
  console.log(`gantry API: ${api.url} (Temporal ${describeTemporal(config.temporal)}, task queue ${api.service.taskQueue})`);
  console.log(`  try: GANTRY_API=${api.url} GANTRY_TOKEN=<token> npm run --silent gantry -- release list`);
  if (config.console) console.log(`  console: ${config.console.publicUrl ?? api.url}/ui (sign-in: ${[config.console.proxy ? 'auth proxy' : '', config.console.oidc ? 'OIDC' : '', config.console.tokenLogin ? 'API token' : ''].filter(Boolean).join(', ')})`);
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
    if (err instanceof RuntimeConfigError) console.error(`gantry API: configuration:\n${err.message}`);
    else console.error('gantry API failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
