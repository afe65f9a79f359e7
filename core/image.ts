// Image references and manifests, pure: parse `host[:port]/path[:tag|@digest]`, pick the image
// manifest out of an index (skipping BuildKit attestation manifests), and the image's size.

export interface ImageRef { registry: string; repository: string; tag?: string; digest?: string }

const digestRe = /^sha256:[0-9a-f]{64}$/;
export const isDigest = (d: string): boolean => digestRe.test(d);

/**
 * Parses an image reference that names its registry host (Gantry images always do:
 * `127.0.0.1:5000/team/app`, `registry.example.com/team/app:tag`, `…@sha256:…`).
 */
export function parseImageRef(ref: string): ImageRef | { error: string } {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) return { error: `${ref}: '${digest}' is not a sha256 digest` };
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) return { error: `${ref}: give the registry host, e.g. 127.0.0.1:5000/team/app` };
  const registry = rest.slice(0, slash);
  if (!/[.:]/.test(registry) && registry !== 'localhost') return { error: `${ref}: '${registry}' is not a registry host (no '.' or ':port')` };
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return { error: `${ref}: '${tag}' is not a valid tag` };
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    return { error: `${ref}: '${repository}' is not a valid repository name (lowercase, '/'-separated)` };
  }
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatImageRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Registries on loopback speak plain HTTP (as BuildKit and containerd assume); others HTTPS. */
export function registryScheme(registry: string): 'http' | 'https' {
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':')[0]!;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' ? 'http' : 'https';
}

export const MANIFEST_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export const MANIFEST_ACCEPT = Object.values(MANIFEST_TYPES).join(', ');

export interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: { os?: string; architecture?: string } }
export interface Manifest { schemaVersion?: number; mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] }

export function isIndex(m: Manifest, contentType?: string): boolean {
  const t = m.mediaType ?? contentType ?? '';
  return t === MANIFEST_TYPES.ociIndex || t === MANIFEST_TYPES.dockerList || (!m.layers && Array.isArray(m.manifests));
}

/** The image manifests an index lists: attestation manifests (BuildKit's provenance/SBOM) left out. */
export function imageManifests(index: Manifest): Descriptor[] {
  return (index.manifests ?? []).filter((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest'
    && d.platform?.os !== 'unknown');
}

/** Bytes a node pulls for this image: config blob plus compressed layers. */
export function imageSize(m: Manifest): number {
  return (m.config?.size ?? 0) + (m.layers ?? []).reduce((a, l) => a + l.size, 0);
}
