// Source decisions, pure: is the commit the pipeline was started for still what its ref names (a
// ref that moved is refused), the release tag's name, and what counts as a commit id or ref.

export const isFullSha = (s: string): boolean => /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(s);
export const isShaPrefix = (s: string): boolean => /^[0-9a-f]{7,64}$/.test(s);

export type RefDecision =
  | { ok: true; reason: string }
  | { ok: false; code: 'RefMoved' | 'RefNotFound'; reason: string };

/**
 * The pipeline builds exactly `sha`. When it was started for a ref (a push to a branch, a tag),
 * the ref must still point there: a ref that moved means a newer pipeline owns it, so this one
 * refuses rather than build and release a commit that is no longer the head.
 */
export function refDecision(ref: string | undefined, sha: string, remoteSha: string | undefined): RefDecision {
  if (!ref) return { ok: true, reason: `no ref given: building ${sha} as asked` };
  if (remoteSha === undefined) return { ok: false, code: 'RefNotFound', reason: `ref ${ref} does not exist in the repository` };
  if (remoteSha === sha || (sha.length < remoteSha.length && remoteSha.startsWith(sha))) {
    return { ok: true, reason: `${ref} points at ${remoteSha}` };
  }
  return { ok: false, code: 'RefMoved', reason: `ref ${ref} moved: it points at ${remoteSha.slice(0, 12)} now, this pipeline is for ${sha.slice(0, 12)}` };
}

/** The commit ls-remote reports for a ref: for an annotated tag, the peeled `^{}` line wins. */
export function lsRemoteSha(output: string, ref: string): string | undefined {
  let direct: string | undefined;
  let peeled: string | undefined;
  const names = ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
  for (const line of output.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (!sha || !name) continue;
    if (names.some((n) => name === `${n}^{}`)) peeled ??= sha;
    else if (names.includes(name)) direct ??= sha;
  }
  return peeled ?? direct;
}

/** git check-ref-format rules for one ref name (the subset that matters for tags and branches). */
export function isValidRefName(name: string): boolean {
  if (!name || name.length > 200 || name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.') || name.endsWith('.lock')) return false;
  if (name === '@' || name.includes('..') || name.includes('@{') || name.includes('//')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((c) => c.length > 0 && !c.startsWith('.'));
}

export interface TagContext { app: string; environment: string; sha: string; date: string }

/** Renders a release tag template: {app}, {env}, {sha}, {sha7}, {date} (YYYYMMDD). */
export function renderTag(template: string, c: TagContext): { ok: true; tag: string } | { ok: false; reason: string } {
  const unknown = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => !['app', 'env', 'sha', 'sha7', 'date'].includes(k ?? ''));
  if (unknown.length) return { ok: false, reason: `unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `{${k}}`).join(', ')} (use {app}, {env}, {sha}, {sha7}, {date})` };
  const tag = template.replaceAll('{app}', c.app).replaceAll('{env}', c.environment).replaceAll('{sha7}', c.sha.slice(0, 7))
    .replaceAll('{sha}', c.sha).replaceAll('{date}', c.date.slice(0, 10).replaceAll('-', ''));
  return isValidRefName(tag) ? { ok: true, tag } : { ok: false, reason: `'${tag}' is not a valid git tag name` };
}

/** A workspace directory name for a repository: readable, safe, unique enough. */
export function workspaceName(repo: string): string {
  const safe = repo.toLowerCase().replace(/[^a-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80);
  let h = 2166136261;
  for (let i = 0; i < repo.length; i++) { h ^= repo.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0; }
  return `${safe || 'repo'}-${h.toString(16).padStart(8, '0')}`;
}
