// Links into the web console (api/console) from what Gantry sends people: GitHub statuses and Slack
// notices. Built from the worker's GANTRY_PUBLIC_URL (an origin, runtime/config.ts) and the names
// of what they are about; every path segment URL-encoded. Same paths as the console's own links
// (api/console/views: releasePath, pipelineHref), which a test checks.

/** /ui/releases/<app>/<env>: one release, live. */
export function consoleReleasePath(app: string, environment: string): string {
  return `/ui/releases/${encodeURIComponent(app)}/${encodeURIComponent(environment)}`;
}

/** /ui/pipelines/<owner>/<name>/<sha>, ?gates=1 for a gates-only run (its own workflow). */
export function consolePipelinePath(repo: string, sha: string, gatesOnly = false): string {
  return `/ui/pipelines/${repo.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(sha)}${gatesOnly ? '?gates=1' : ''}`;
}

/** The absolute URL of a console path; undefined without a public URL (then nothing links). */
export function consoleUrl(publicUrl: string | undefined, path: string): string | undefined {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}${path}` : undefined;
}
