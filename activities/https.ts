// HTTP(S) for the activities that talk to servers signed by a private CA (a registry with
// GANTRY_REGISTRY_CA_FILE, Prometheus with GANTRY_PROMETHEUS_CA_FILE): Node's own fetch with an
// undici Agent that trusts the CA besides the system's roots (Node 20's fetch takes a CA only through
// a dispatcher; undici is pinned to the major Node 20 bundles), a timeout joined with the activity's
// abort signal, and one reading of a failed request: is the server's certificate the problem?
import tls from 'node:tls';
import { Agent } from 'undici';

/** One Agent per CA (a pool of kept-alive connections each), for the life of the worker. */
const agents = new Map<string, Agent>();

function agentFor(caPem: string): Agent {
  let a = agents.get(caPem);
  if (!a) {
    // A CA given replaces Node's list: the system's roots are kept beside it.
    a = new Agent({ connect: { ca: [...tls.rootCertificates, caPem] } });
    agents.set(caPem, a);
  }
  return a;
}

export interface HttpsInit extends RequestInit {
  /** A CA certificate (PEM) an https server may be signed by, besides the system's. */
  ca?: string;
  /** Abort after this long (joined with `signal`, so the activity's cancellation still aborts). */
  timeoutMs?: number;
}

/** fetch, trusting `ca` besides the system's roots, aborted by `signal` or after `timeoutMs`. */
export function httpsFetch(input: string | URL | Request, init: HttpsInit = {}): Promise<Response> {
  const { ca, timeoutMs, ...rest } = init;
  const signals = [rest.signal, timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  // The undici package's Agent and the global fetch's undici are the same major: its dispatcher fits.
  return fetch(input, { ...rest, ...(signal ? { signal } : {}), ...(ca ? { dispatcher: agentFor(ca) } : {}) } as RequestInit);
}

/** A fetch that trusts `caPem` besides the system's roots (for clients that take a fetch). */
export function fetchTrusting(caPem: string): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => httpsFetch(input, { ...init, ca: caPem })) as typeof fetch;
}

/** Why the worker does not trust a server's certificate. */
export type UntrustedReason = 'self-signed' | 'unknown-issuer' | 'hostname-mismatch' | 'expired' | 'invalid';

/** Node's codes (node:tls, OpenSSL's X509_V_ERR_*) for a server certificate the client cannot trust. */
const UNTRUSTED: Readonly<Record<string, UntrustedReason>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-issuer',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-issuer',
  CERT_UNTRUSTED: 'unknown-issuer',
  INVALID_CA: 'unknown-issuer',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname-mismatch',
  HOSTNAME_MISMATCH: 'hostname-mismatch',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'expired',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'expired',
  CERT_SIGNATURE_FAILURE: 'invalid',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: 'invalid',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'invalid',
  CERT_REJECTED: 'invalid',
  CERT_REVOKED: 'invalid',
  CERT_CHAIN_TOO_LONG: 'invalid',
  PATH_LENGTH_EXCEEDED: 'invalid',
  INVALID_PURPOSE: 'invalid',
};

export interface UntrustedCertificate {
  code: string;
  reason: UntrustedReason;
  /** `<code>: <Node's message>`, for failure messages. */
  problem: string;
}

/** The untrusted server certificate a request failed on (fetch wraps it in `cause`); undefined for any other failure. */
export function untrustedCertificate(err: unknown): UntrustedCertificate | undefined {
  // Duck-typed: an error from Node's own fetch may come from another realm (instanceof Error fails there).
  for (let e: unknown = err, i = 0; typeof e === 'object' && e !== null && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    const reason = typeof code === 'string' ? UNTRUSTED[code] : undefined;
    if (reason) return { code: code as string, reason, problem: `${code as string}: ${String(message)}` };
  }
  return undefined;
}

/** What went wrong with a request, for messages: fetch's bare "fetch failed" is replaced by its cause (connect ECONNREFUSED …). */
export function requestFailureText(err: unknown): string {
  // Duck-typed, as above.
  if (typeof err !== 'object' || err === null || typeof (err as { message?: unknown }).message !== 'string') return String(err);
  const { message, cause } = err as { message: string; cause?: { message?: unknown } };
  return message === 'fetch failed' && typeof cause?.message === 'string' && cause.message ? cause.message : message;
}

/** Whether a request ended because its signal fired (a timeout or the activity's cancellation). */
export function isAbort(err: unknown): boolean {
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return name === 'AbortError' || name === 'TimeoutError';
}
