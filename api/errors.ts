// Errors every entry point maps the same way (HTTP status, CLI exit message).
export type GantryErrorCode = 'bad_request' | 'unauthenticated' | 'not_found' | 'refused' | 'conflict' | 'unavailable';

export interface ErrorDetail { path: string; message: string; hint: string }

export class GantryError extends Error {
  constructor(readonly code: GantryErrorCode, message: string, readonly details: ErrorDetail[] = [], readonly hint?: string) {
    super(message);
    this.name = 'GantryError';
  }

  get httpStatus(): number {
    return { bad_request: 400, unauthenticated: 401, not_found: 404, refused: 403, conflict: 409, unavailable: 503 }[this.code];
  }

  toJSON() {
    return { error: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.details.length ? { details: this.details } : {}) };
  }
}
