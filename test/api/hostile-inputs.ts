// Hostile gantry.yaml texts and request bodies, shared by the HTTP adversarial suite
// (test/api/adversarial.test.ts) and the benchmark that measures /healthz while they are posted
// (bench/hostile.ts). Each is what an authenticated caller (or anyone, for the webhook routes) can
// send; none may stall the API for everyone else.

/** A valid gantry.yaml whose app is `app`, with `extraEnvironments` more environments (to make it large). */
export function validConfig(app: string, extraEnvironments = 0): string {
  const envs = [`  - name: production
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups: [{ pods: 1 }, { pods: rest }]
`];
  for (let i = 0; i < extraEnvironments; i++) {
    envs.push(`  - name: env-${i}
    replicas: 6
    cells: [{ name: zone-a, replicas: 3 }, { name: zone-b, replicas: 3 }]
    groups: [{ pods: 1, confirm: { type: pause, duration: 1m } }, { pods: rest }]
    analysis: [{ name: errors, query: 'sum(rate(http_requests_total{code=~"5.."}[1m]))', max: 0.01 }]
`);
  }
  return `app:\n  name: ${app}\n  image: registry.local/shop/${app}\nenvironments:\n${envs.join('')}`;
}

/** A valid config of about `bytes` characters. */
export function validConfigOfSize(app: string, bytes: number): string {
  const one = validConfig(app, 1).length - validConfig(app, 0).length;
  return validConfig(app, Math.max(0, Math.floor((bytes - validConfig(app, 0).length) / one)));
}

/**
 * The defect's invalid config: a long flow list written twice. The YAML library's pretty errors
 * made this quadratic (about 19 s for 200 KB on one event loop).
 */
export function listTwice(bytes: number): string {
  const items: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes / 2; i++) { const it = `item${i}`; items.push(it); n += it.length + 2; }
  const list = `[${items.join(', ')}]`;
  return `${list}\n${list}\n`;
}

/** `levels` nested flow sequences: `a: [[[…]]]`. */
export function nestedYaml(levels: number): string {
  return `a: ${'['.repeat(levels)}${']'.repeat(levels)}\n`;
}

/** "Billion laughs": 9 levels of 9 aliases each, 9^9 strings once expanded. */
export function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
  return `${lines.join('\n')}\n`;
}

/** A JSON text nesting `levels` arrays deep. */
export function nestedJson(levels: number): string {
  return `${'['.repeat(levels)}${']'.repeat(levels)}`;
}
