// The one structured logger of Gantry's processes: pino, one JSON object a line, secrets censored.
// The API (api/main.ts defaultLogger) and the workers (worker/telemetry.ts) both build theirs here.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** The keys censored in every log line: tokens, authorization headers, passwords, secrets. */
export const REDACTED_PATHS = [
  'req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token', 'password', '*.password', 'secret', '*.secret',
];

export function gantryLogger(level: LogLevel, base?: Record<string, unknown>): Logger {
  return pino({ level, ...(base ? { base: { pid: process.pid, ...base } } : {}), redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
}
