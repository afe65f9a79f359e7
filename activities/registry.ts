// Registry activities over the OCI distribution HTTP API (fetch): resolve a tag to a digest, check
// that every layer of an image is eStargz (media type, both annotations, the 51-byte footer read
// with a Range request, and the TOC: range-read, gunzipped, untarred with tar-stream, its
// stargz.index.json hashed and compared with the annotation), promote by retagging, delete by
// digest. The verdict is core/estargz.ts's. Loopback registries are plain HTTP, others HTTPS.
// Credentials (Docker config.json, the Bearer token flow, Basic): activities/registry-auth.ts.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import tar from 'tar-stream';
import { FOOTER_SIZE, imageVerdict, parseFooter, TOC_DIGEST_ANNOTATION, TOC_TAR_NAME, type LayerFacts } from '../core/estargz.js';
import {
  imageManifests, imageSize, isDigest, isIndex, MANIFEST_ACCEPT, parseImageRef, registryScheme, type ImageRef, type Manifest,
} from '../core/image.js';
import { fail, FailureType } from '../workflows/failures.js';
import type { DeleteRequest, PromoteRequest, ResolveRequest, VerifyImageRequest, VerifyImageResult } from '../workflows/pipeline-activity-types.js';
import { activitySignal, keepAlive, safeHeartbeat } from './git.js';
import { fetchTrusting, requestFailureText, untrustedCertificate } from './https.js';
import { parseChallenge, RegistryAuth, type AccessNeed, type RegistryAuthFile } from './registry-auth.js';

export interface RegistryOptions {
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** The Docker config.json with registry credentials (runtime/config.ts); none: anonymous. */
  registryAuthFile?: RegistryAuthFile;
  /** A CA certificate (PEM file) HTTPS registries may be signed by, besides the system's (GANTRY_REGISTRY_CA_FILE). */
  registryCaFile?: string;
}

/** The fetch of the registry client: the injected one, or one trusting the CA file, or the global one. */
function registryFetch(opts: RegistryOptions): typeof fetch {
  if (opts.fetch) return opts.fetch;
  return opts.registryCaFile ? fetchTrusting(fs.readFileSync(opts.registryCaFile, 'utf8')) : fetch;
}

/** The largest TOC read into memory (the TOC of a layer with ~100k files is a few MB). */
const MAX_TOC_BYTES = 64 * 1024 * 1024;

export function repoOf(image: string): ImageRef {
  const r = parseImageRef(image);
  if ('error' in r) throw fail(FailureType.BadRequest, r.error);
  return r;
}

/**
 * A registry's answer that is not OK (after 401/403 and the caller's 404): 408, 429 and 5xx are the
 * registry's own trouble and come back (RegistryUnavailable, after Retry-After when given); any
 * other status is a refusal of the request (RegistryRejected).
 */
export function registryStatusFailure(what: string, res: Pick<Response, 'status' | 'headers'>, body = ''): ApplicationFailure {
  const message = `${what}: HTTP ${res.status}${body ? ` ${body}` : ''}`.slice(0, 500);
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const after = Number(res.headers.get('retry-after'));
    return fail(FailureType.RegistryUnavailable, message, { details: { status: res.status }, ...(after > 0 ? { nextRetryDelay: `${Math.min(after, 3600)}s` } : {}) });
  }
  return fail(FailureType.RegistryRejected, message, { details: { status: res.status } });
}

export class RegistryClient {
  private readonly f: typeof fetch;
  private readonly auth: RegistryAuth;
  /** `auth` holds the token cache: share one per worker (createRegistryActivities does). */
  constructor(readonly registry: string, private readonly opts: RegistryOptions = {}, auth?: RegistryAuth) {
    this.f = registryFetch(opts);
    this.auth = auth ?? new RegistryAuth({ ...(opts.registryAuthFile ? { file: opts.registryAuthFile } : {}), fetch: this.f, signal: () => this.signal() });
  }

  private signal(): AbortSignal {
    const signal = activitySignal();
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? 60_000);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  url(repository: string, kind: 'manifests' | 'blobs', ref: string): string {
    return `${registryScheme(this.registry)}://${this.registry}/v2/${repository}/${kind}/${ref}`;
  }

  /**
   * One request, authenticated: a cached token (or Basic) up front; on 401 the challenge is
   * answered (a new token) and the request sent once more; a second 401, or a 403, is a
   * RegistryForbidden naming the registry, the repository and where credentials were looked for.
   */
  async request(url: string, init: RequestInit & { what: string; repository: string; actions: AccessNeed['actions'] }): Promise<Response> {
    const { what, repository, actions, ...rest } = init;
    const need: AccessNeed = { registry: this.registry, repository, actions };
    const send = async (authorization: string | undefined): Promise<Response> => {
      const headers = new Headers(rest.headers);
      if (authorization) headers.set('Authorization', authorization);
      try {
        return await this.f(url, { ...rest, headers, signal: this.signal() });
      } catch (err) {
        const cert = untrustedCertificate(err);
        if (cert) {
          throw fail(FailureType.RegistryUntrusted, `${what}: ${this.registry} presented a certificate the worker does not trust (${cert.problem}): ${this.opts.registryCaFile
            ? `check GANTRY_REGISTRY_CA_FILE (${this.opts.registryCaFile}): it is not the CA that signed it, or the certificate does not name ${this.registry}` : 'set GANTRY_REGISTRY_CA_FILE to the CA certificate that signed it'}`);
        }
        // Connection refused, reset, timeout: the registry may come back; retry.
        throw fail(FailureType.RegistryUnavailable, `${what}: ${requestFailureText(err)}`);
      }
    };
    let res = await send(this.auth.cached(need, what));
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      this.auth.forget(need);
      res = await send(await this.auth.answer(challenge, need, what));
      if (res.status === 401) {
        // e.g. error="insufficient_scope" (the credentials do not cover this repository) or "invalid_token"
        const error = parseChallenge(res.headers.get('www-authenticate'))?.params.error;
        const code = `${await registryErrorCode(res)}${error && /^[a-z_]{1,40}$/.test(error) ? ` ${error}` : ''}`;
        this.auth.forget(need);
        throw fail(FailureType.RegistryForbidden, `${what}: ${this.registry} refused the credentials for ${repository} (HTTP 401${code}); ${this.auth.where(this.registry)}`, { details: { status: 401 } });
      }
    }
    if (res.status === 403) {
      const code = await registryErrorCode(res);
      throw fail(FailureType.RegistryForbidden, `${what}: ${this.registry} denied access to ${repository} (HTTP 403${code}); ${this.auth.where(this.registry)}`, { details: { status: 403 } });
    }
    return res;
  }

  /** The manifest bytes as stored (retagging must push exactly these) and their media type. */
  async getManifest(repository: string, ref: string): Promise<{ bytes: Buffer; contentType: string; digest: string; manifest: Manifest }> {
    const what = `GET ${this.registry}/${repository} manifest ${ref}`;
    const res = await this.request(this.url(repository, 'manifests', ref), { headers: { Accept: MANIFEST_ACCEPT }, what, repository, actions: 'pull' });
    if (res.status === 404) throw fail(FailureType.ImageNotFound, `${this.registry}/${repository}@${ref}: no such manifest`);
    if (!res.ok) throw registryStatusFailure(what, res, await res.text().catch(() => ''));
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
    if (isDigest(ref) && ref !== digest) throw fail(FailureType.RegistryInconsistent, `${what}: content digest ${digest} does not match`);
    return { bytes, contentType: res.headers.get('content-type') ?? '', digest, manifest: JSON.parse(bytes.toString('utf8')) as Manifest };
  }

  async resolve(repository: string, tag: string): Promise<string> {
    const what = `HEAD ${this.registry}/${repository}:${tag}`;
    const res = await this.request(this.url(repository, 'manifests', tag), { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT }, what, repository, actions: 'pull' });
    if (res.status === 404) throw fail(FailureType.ImageNotFound, `${this.registry}/${repository}:${tag}: no such tag`);
    const digest = res.headers.get('docker-content-digest');
    if (res.ok && digest && isDigest(digest)) return digest;
    return (await this.getManifest(repository, tag)).digest;
  }

  /** Bytes [start, end] (inclusive) of a blob; the registry must honour Range. */
  async blobRange(repository: string, digest: string, start: number, end: number): Promise<Buffer> {
    const what = `GET ${this.registry}/${repository} blob ${digest.slice(0, 19)} bytes ${start}-${end}`;
    const res = await this.request(this.url(repository, 'blobs', digest), { headers: { Range: `bytes=${start}-${end}` }, what, redirect: 'follow', repository, actions: 'pull' });
    if (res.status === 404) throw fail(FailureType.ImageNotFound, `${what}: no such blob`);
    if (!res.ok) throw registryStatusFailure(what, res);
    const buf = Buffer.from(await res.arrayBuffer());
    if (res.status === 200) return buf.subarray(start, end + 1); // Range ignored: cut it out ourselves
    return buf;
  }

  async putManifest(repository: string, tag: string, bytes: Buffer, contentType: string): Promise<string> {
    const what = `PUT ${this.registry}/${repository}:${tag}`;
    const res = await this.request(this.url(repository, 'manifests', tag), { method: 'PUT', headers: { 'Content-Type': contentType }, body: new Uint8Array(bytes), what, repository, actions: 'pull,push' });
    if (!res.ok) throw registryStatusFailure(what, res, await res.text().catch(() => ''));
    return res.headers.get('docker-content-digest') ?? '';
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const what = `DELETE ${this.registry}/${repository}@${digest}`;
    const res = await this.request(this.url(repository, 'manifests', digest), { method: 'DELETE', what, repository, actions: 'delete' });
    if (res.status === 404) return false;
    if (res.status === 405) throw fail(FailureType.RegistryRejected, `${what}: deletes are disabled on this registry`, { details: { status: 405 } });
    if (!res.ok) throw registryStatusFailure(what, res);
    return true;
  }
}

/** sha256 of the stargz.index.json entry inside the TOC gzip member. */
export async function tocDigest(tocGzip: Buffer): Promise<string> {
  const tarBytes = zlib.gunzipSync(tocGzip);
  const extract = tar.extract();
  let digest: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      if (header.name === TOC_TAR_NAME) {
        const h = crypto.createHash('sha256');
        stream.on('data', (c: unknown) => h.update(c as Buffer));
        stream.on('end', () => { digest = `sha256:${h.digest('hex')}`; next(); });
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([tarBytes]).pipe(extract);
  await done;
  if (!digest) throw new Error(`the TOC member has no ${TOC_TAR_NAME} entry`);
  return digest;
}

/** Gathers the facts core/estargz.ts judges, for one layer. */
export async function layerFacts(c: RegistryClient, repository: string, layer: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }): Promise<LayerFacts> {
  const facts: LayerFacts = { digest: layer.digest, mediaType: layer.mediaType, size: layer.size, annotations: layer.annotations ?? {} };
  if (layer.size < FOOTER_SIZE) { facts.footer = { ok: false, error: `the layer is only ${layer.size} bytes` }; return facts; }
  const footer = await c.blobRange(repository, layer.digest, layer.size - FOOTER_SIZE, layer.size - 1);
  facts.footer = parseFooter(new Uint8Array(footer));
  if (facts.footer.ok && facts.footer.tocOffset < layer.size - FOOTER_SIZE && facts.annotations[TOC_DIGEST_ANNOTATION]) {
    const len = layer.size - FOOTER_SIZE - facts.footer.tocOffset;
    if (len > MAX_TOC_BYTES) facts.tocError = `the TOC is ${len} bytes, more than the ${MAX_TOC_BYTES} this check reads`;
    else {
      try {
        facts.tocDigest = await tocDigest(await c.blobRange(repository, layer.digest, facts.footer.tocOffset, layer.size - FOOTER_SIZE - 1));
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        facts.tocError = err instanceof Error ? err.message : String(err);
      }
    }
  }
  return facts;
}

/** The registry's own error code of a refusal (`errors[0].code`, e.g. UNAUTHORIZED, DENIED), for messages. */
async function registryErrorCode(res: Response): Promise<string> {
  try {
    const body = await res.json() as { errors?: { code?: unknown }[] };
    const code = body.errors?.[0]?.code;
    return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? ` ${code}` : '';
  } catch { return ''; }
}

export function createRegistryActivities(opts: RegistryOptions = {}) {
  // One token cache for the worker: tokens outlive an activity (until they expire).
  const f = registryFetch(opts);
  const signal = (): AbortSignal => {
    const s = activitySignal();
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
    return s ? AbortSignal.any([s, timeout]) : timeout;
  };
  const auth = new RegistryAuth({ ...(opts.registryAuthFile ? { file: opts.registryAuthFile } : {}), fetch: f, signal });
  const client = (r: ImageRef) => new RegistryClient(r.registry, { ...opts, fetch: f }, auth);
  return {
    async resolveDigest(req: ResolveRequest): Promise<{ digest: string }> {
      const r = repoOf(req.image);
      return { digest: await client(r).resolve(r.repository, req.tag) };
    },

    /** Every layer of the image (each platform's, when it is an index) must be eStargz. */
    verifyImage: (req: VerifyImageRequest): Promise<VerifyImageResult> => keepAlive(async () => {
      const t0 = performance.now();
      const r = repoOf(req.image);
      const c = client(r);
      const top = await c.getManifest(r.repository, req.digest);
      const manifests: Manifest[] = [];
      let sizeBytes = 0;
      if (isIndex(top.manifest, top.contentType)) {
        for (const d of imageManifests(top.manifest)) manifests.push((await c.getManifest(r.repository, d.digest)).manifest);
      } else manifests.push(top.manifest);
      const facts: LayerFacts[] = [];
      for (const m of manifests) {
        sizeBytes = Math.max(sizeBytes, imageSize(m));
        for (const layer of m.layers ?? []) {
          safeHeartbeat({ layer: layer.digest });
          facts.push(await layerFacts(c, r.repository, layer));
        }
      }
      const v = imageVerdict(facts);
      return { estargz: v.estargz, reason: v.reason, layers: v.layers, sizeBytes, toolMs: performance.now() - t0 };
    }),

    /** Points `tag` at exactly the manifest `digest` (the same bytes, so the digest is unchanged). Idempotent. */
    async promoteImage(req: PromoteRequest): Promise<{ digest: string; tag: string }> {
      const r = repoOf(req.image);
      const c = client(r);
      const m = await c.getManifest(r.repository, req.digest);
      const type = m.manifest.mediaType ?? m.contentType;
      await c.putManifest(r.repository, req.tag, m.bytes, type);
      const now = await c.resolve(r.repository, req.tag);
      if (now !== req.digest) throw fail(FailureType.RegistryInconsistent, `after retagging, ${req.tag} points at ${now}, not ${req.digest}`);
      return { digest: now, tag: req.tag };
    },

    /** Deletes the manifest by digest (a registry cannot delete by tag); a missing one is already deleted. */
    async deleteImage(req: DeleteRequest): Promise<{ deleted: boolean }> {
      const r = repoOf(req.image);
      if (!isDigest(req.digest)) throw fail(FailureType.BadRequest, `'${req.digest}' is not a digest: images are deleted by digest`);
      return { deleted: await client(r).deleteManifest(r.repository, req.digest) };
    },
  };
}
