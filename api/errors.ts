// Errors every entry point maps the same way (HTTP status, CLI exit message).
//
// What an error says is often made of the caller's own input (a name, a path, a config key). When it
// is sent back (toJSON) every text is shown safely (one line, control and bidi characters escaped,
// core/text.ts) and bounded, and at most MAX_DETAILS details are listed, so an error body never echoes an
// attacker's terminal escapes and never grows with the input.
import type { FastifyReply } from 'fastify';
import type { ErrorDetail } from '../core/errors.js';
import { cap, displayLine } from '../core/text.js';

export type GantryErrorCode = 'bad_request' | 'unauthenticated' | 'not_found' | 'refused' | 'conflict' | 'too_large' | 'unavailable';

export type { ErrorDetail } from '../core/errors.js';

/** The most details an error body lists (the rest are counted in a last entry). */
export const MAX_DETAILS = 50;
const MESSAGE_LIMIT = 1000;
const PATH_LIMIT = 200;
const DETAIL_LIMIT = 500;

/** A text of an error made safe to send: one line, controls escaped, capped. */
export function safeText(text: string, limit = MESSAGE_LIMIT): string {
  return cap(displayLine(text), limit);
}

export function httpStatusOf(code: GantryErrorCode): number {
  switch (code) {
    case 'bad_request': return 400;
    case 'unauthenticated': return 401;
    case 'refused': return 403;
    case 'not_found': return 404;
    case 'conflict': return 409;
    case 'too_large': return 413;
    case 'unavailable': return 503;
    default: {
      const never: never = code;
      throw new Error(`unknown error code ${String(never)}`);
    }
  }
}

export class GantryError extends Error {
  /** For 'unavailable': when to try again (the Retry-After header). */
  retryAfterSeconds?: number;

  constructor(readonly code: GantryErrorCode, message: string, readonly details: ErrorDetail[] = [], readonly hint?: string) {
    super(message);
    this.name = 'GantryError';
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  toJSON() {
    const shown = this.details.slice(0, MAX_DETAILS).map((d) => ({
      path: cap(displayLine(d.path), PATH_LIMIT), message: safeText(d.message, DETAIL_LIMIT), hint: safeText(d.hint, DETAIL_LIMIT),
    }));
    const more = this.details.length - shown.length;
    if (more > 0) shown.push({ path: '(more)', message: `${more} more problem${more === 1 ? '' : 's'} not listed`, hint: 'fix the ones listed first' });
    return {
      error: this.code, message: safeText(this.message),
      ...(this.hint ? { hint: safeText(this.hint) } : {}), ...(shown.length ? { details: shown } : {}),
    };
  }
}

/** An error reply: the status and a JSON body (GantryError.toJSON() or the same shape). */
export function sendError(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}
