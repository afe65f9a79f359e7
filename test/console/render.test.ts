// The release page's parts that a simulated release does not reach in the views test: analysis with
// measured values and hidden queries, observed weights set vs actual and draining pods, a wait for the
// release window, a finished release, a status without the viewer's permissions. Rendered from status
// objects as the API returns them (core/release.ts ReleaseStatus), every value from outside escaped.
import { describe, expect, it } from '@jest/globals';
import type { EnvironmentConfig } from '../../core/config.js';
import type { ReleaseStatus } from '../../core/release.js';
import { decisionText, liveBody, summaryText } from '../../api/console/views/release.js';
import { errorBox, timeText } from '../../api/console/views/parts.js';
import { GantryError } from '../../api/errors.js';
import type { Viewer } from '../../api/console/types.js';

const viewer: Viewer = { identity: { id: 'alice', groups: ['sre'] }, csrf: 'csrf-token-1', via: 'proxy' };
const allowed = (over: Partial<Record<string, { allowed: boolean; reason?: string }>> = {}) => ({
  approve: { allowed: false, reason: 'nothing to approve' }, reject: { allowed: false, reason: 'nothing to reject' },
  pause: { allowed: true }, resume: { allowed: false, reason: 'the release is not paused' }, promote: { allowed: true },
  abort: { allowed: true }, rollback: { allowed: true }, override: { allowed: false, reason: 'nothing to override' }, ...over,
}) as ReleaseStatus['allowedActions'];

function status(over: Partial<ReleaseStatus> = {}): ReleaseStatus {
  return {
    id: 'release/shop/production', app: 'shop', environment: 'production', kind: 'release', phase: 'analysing', summary: 'analysing group 2',
    revision: { image: 'registry.local/shop/web', digest: `sha256:${'b'.repeat(64)}`, sha: 'abcdef1234567', author: 'erin' },
    previous: { image: 'registry.local/shop/web', digest: `sha256:${'a'.repeat(64)}` },
    startedBy: 'dave', startedAt: '2026-12-02T10:00:00.000Z',
    group: { current: 2, of: 3 },
    cells: [{ cell: 'zone-a', replicas: 5, canary: 3, stable: 2 }, { cell: 'zone-b', replicas: 5, canary: 3, stable: 2 }],
    decisions: [], events: [], allowedActions: allowed(), ...over,
  };
}

const env = {
  name: 'production', cells: [], bake: '0s', deadlines: { progress: '5m', analysis: '5m' },
  approvers: { users: [], groups: ['sre'], required: 1, allowStarter: false },
  groups: [
    { name: 'group 1', pods: 1, confirm: { type: 'auto' } },
    { name: 'canary', pods: '40%', confirm: { type: 'pause', duration: '10m' } },
    { name: 'group 3', pods: 'rest', confirm: { type: 'manual', timeout: '1h', onTimeout: 'rollback' } },
  ],
  analysis: [{ name: 'error-rate', query: 'sum(rate(http_errors{job="<web>"}[5m]))', max: 0.01 }, { name: 'p99', query: 'histogram_quantile(0.99, x)', min: 0, max: 0.5 }],
} as unknown as EnvironmentConfig;

const render = (s: ReleaseStatus, withEnv = true) => liveBody({ status: s, ...(withEnv ? { memo: { environment: env } } : {}), viewer, now: Date.parse('2026-12-02T10:05:00Z') }).toString();

describe('the release page body', () => {
  it('shows each check with its query (collapsed), bounds, measured value and verdict; an inconclusive one needs a person', () => {
    const b = render(status({ analysis: { verdict: 'fail', checks: [
      { check: 'error-rate', verdict: 'fail', value: 0.042, reason: '0.042 is above the maximum 0.01' },
      { check: 'p99', verdict: 'inconclusive', reason: 'query returned no data' },
    ] } }));
    expect(b).toMatch(/Analysis <span class="badge bad">fail<\/span>/);
    expect(b).toContain('<details><summary>query</summary><code class="wrap">sum(rate(http_errors{job=&quot;&lt;web&gt;&quot;}[5m]))</code></details>');
    expect(b).toMatch(/<td>value ≤ 0.01<\/td>\s*<td><strong>0.042<\/strong><\/td>\s*<td><span class="badge bad">fail<\/span> 0.042 is above the maximum 0.01/);
    expect(b).toMatch(/<td>0 ≤ value ≤ 0.5<\/td>\s*<td><span class="muted">—<\/span><\/td>\s*<td><span class="badge wait">inconclusive<\/span> query returned no data <span class="muted">\(needs a person\)/);
  });

  it('the stepper: done, current and next groups with their pods and confirm type', () => {
    const b = render(status());
    expect(b).toMatch(/<li class="step done">\s*<span class="state">done<\/span> <strong>Group 1 of 3<\/strong>\s*<br><span>1 pod per cell<\/span> · <span>confirm: auto \(checks pass\)/);
    expect(b).toMatch(/data-testid="current-group">\s*<span class="state">current<\/span> <strong>Group 2 of 3<\/strong> \(canary\)\s*<br><span>40% of each cell<\/span> · <span>confirm: pause 10m/);
    expect(b).toMatch(/<li class="step next">\s*<span class="state">next<\/span> <strong>Group 3 of 3<\/strong>\s*<br><span>the rest<\/span> · <span>confirm: manual approval, 1h then rollback/);
    // Without the memo the stepper still counts the groups.
    expect(render(status(), false)).toMatch(/data-testid="current-group">\s*<span class="state">current<\/span> <strong>Group 2 of 3<\/strong>\s*<\/li>/);
  });

  it('cells: planned next to observed ready, serving and draining (with grace left), and the weight set vs read back', () => {
    const b = render(status({ observed: { at: '2026-12-02T10:04:00.000Z', by: 'health', cells: [
      { cell: 'zone-a', stable: { pods: 3, ready: 3, serving: 2, draining: 1, graceLeftSeconds: 25 }, new: { pods: 3, ready: 3, serving: 3, draining: 0 }, weight: { set: 60, actual: 40 } },
      { cell: 'zone-b', stable: { pods: 2, ready: 2, serving: 2, draining: 0 }, new: { pods: 3, ready: 2, serving: 2, draining: 0 }, weight: { set: 60 } },
    ] } }));
    expect(b).toMatch(/<th scope="row">zone-a<\/th>\s*<td>2 planned<br><span class="obs">3 ready · 2 serving · 1 draining \(25 s grace left\)<\/span><\/td>\s*<td>3 planned<br><span class="obs">3 ready · 3 serving<\/span>/);
    expect(b).toContain('set 60 % · actual 40 % <span class="badge wait">differs</span>');
    expect(b).toContain('set 60 % · actual not read yet');
    expect(b).toMatch(/Observed <time datetime="2026-12-02T10:04:00.000Z">2026-12-02 10:04:00 UTC<\/time> by health/);
    expect(render(status())).toContain('Nothing observed from the cluster yet: the plan only.');
  });

  it('a wait for the release window: the countdown, the CLI override command, override enabled with what it needs', () => {
    const b = render(status({
      phase: 'waiting-window', summary: 'waiting for the release window',
      waiting: { on: 'window', reason: 'the window opens Mon 10:00 Europe/Berlin', since: '2026-12-02T10:00:00.000Z', until: '2026-12-07T09:00:00.000Z', who: 'an approver may override with a reason (gantry override shop production -m "<reason>")' },
      allowedActions: allowed({ override: { allowed: true, reason: 'needs a reason (-m "<reason>")' } }),
    }));
    expect(b).toContain('<h2 id="h-waiting">Waiting on window</h2>');
    expect(b).toContain('<span data-until="2026-12-07T09:00:00.000Z">');
    // One command, the workflow's own (core overrideCommand), said once.
    expect(b).toContain('<dt>Who can unblock it</dt><dd>an approver may override with a reason</dd>');
    expect(b.match(/gantry override shop production/g)).toHaveLength(1);
    expect(b).toContain('<code data-testid="cli-command">gantry override shop production -m &quot;&lt;reason&gt;&quot;</code>');
    expect(b).toMatch(/data-testid="action-override" data-confirm="Override lets the release of shop in production move outside its release window[^"]*"(?! disabled)[^>]*>Override window<\/button>\s*<span class="reason" id="why-override">needs a reason \(-m &quot;&lt;reason&gt;&quot;\)<\/span>/);
  });

  it('a finished release: every group done, "the release has ended" said once, only Roll back shown: it starts a rollback release; no full digest in prose', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const ended = { allowed: false, reason: `the release already ended (succeeded: registry.local/shop/web@${digest} serves production on every pod)` };
    const done = status({
      phase: 'succeeded', summary: `succeeded: registry.local/shop/web@${digest} serves production on every pod`, group: { current: 3, of: 3 },
      outcome: { result: 'succeeded', reason: `registry.local/shop/web@${digest} serves production on every pod`, at: '2026-12-02T10:30:00.000Z' },
      allowedActions: { approve: ended, reject: ended, pause: ended, resume: ended, promote: ended, abort: ended, override: ended, rollback: ended },
    });
    const b = render(done);
    expect(b.match(/class="step done"/g)).toHaveLength(3);
    expect(b).toContain('<p class="reason ended" data-testid="ended">The release has ended (succeeded at 2026-12-02 10:30:00 UTC).</p>');
    expect(b.match(/has ended/g)).toHaveLength(1);
    expect(b.match(/<button /g)).toHaveLength(1);
    expect(b).not.toContain('why-common');
    // The summary does not repeat the phase, and shortens the digest; the full one only in the revision block.
    expect(b).toContain('<span class="summary" data-testid="summary">registry.local/shop/web@sha256:bbbbbbbbbbbb serves production on every pod</span>');
    expect(b.match(/b{64}/g)).toHaveLength(1);
    expect(b).toMatch(/<dt>Image<\/dt><dd><code class="wrap">registry.local\/shop\/web@sha256:b{64}<\/code>/);
    expect(b).toMatch(/data-testid="action-rollback" data-confirm="Rollback starts a rollback release of shop in production to registry.local\/shop\/web@sha256:aaaaaaaaaaaa. Roll back\?" aria-describedby="why-rollback">Roll back<\/button>\s*<span class="reason" id="why-rollback">starts a rollback release to registry.local\/shop\/web@sha256:aaaaaaaaaaaa<\/span>/);
    // Someone the policy leaves out (not an approver, author or starter): disabled with the policy's reason.
    const eve = liveBody({ status: done, memo: { environment: env }, viewer: { ...viewer, identity: { id: 'eve', groups: ['marketing'] } }, now: 0 }).toString();
    expect(eve).toMatch(/data-testid="action-rollback"[^>]* disabled[^>]*>Roll back<\/button>\s*<span class="reason" id="why-rollback"><span class="not-allowed" aria-hidden="true">⊘<\/span> Not now: eve may not rollback this release: only approvers \(group:sre\), the author and the starter may/);
    // Nothing to return to: disabled, saying so.
    const { previous: _none, ...withoutPrevious } = done;
    expect(render(withoutPrevious)).toMatch(/data-testid="action-rollback"[^>]* disabled[^>]*>Roll back<\/button>\s*<span class="reason" id="why-rollback"><span class="not-allowed" aria-hidden="true">⊘<\/span> Not now: the release recorded no previous revision to return to/);
  });

  it('without the viewer\'s permissions every button is disabled with the reason in words; comments in the timeline are text', () => {
    const b = render(status({
      allowedActions: undefined,
      decisions: [{ action: 'pause', by: 'bob', channel: 'slack', at: '2026-12-02T10:01:00.000Z', comment: '<img src=x onerror=alert(1)>' }],
      events: [{ at: '2026-12-02T10:00:30.000Z', type: 'applied', message: 'group 1 applied', group: 0 }],
    }));
    expect(b.match(/ disabled aria-describedby=/g)).toHaveLength(8);
    expect(b).toContain('<span class="not-allowed" aria-hidden="true">⊘</span> Not now: not known for you');
    expect(b).toContain('Not now: not known for you');
    expect(b).not.toContain('<img src=x');
    expect(b).toContain('<strong>pause</strong> by bob via slack: “&lt;img src=x onerror=alert(1)&gt;”');
    // Newest first: the decision (10:01) above the event (10:00:30).
    expect(b.indexOf('by bob via slack')).toBeLessThan(b.indexOf('group 1 applied'));
    expect(b).toContain('<input type="hidden" name="_csrf" value="csrf-token-1">');
  });
});

describe('text said once', () => {
  it('the summary beside the phase badge never repeats the phase', () => {
    expect(summaryText({ phase: 'waiting-approval', summary: 'waiting for approval of group 2' })).toBe('waiting for approval of group 2');
    expect(summaryText({ phase: 'completing', summary: 'completing' })).toBe('');
    expect(summaryText({ phase: 'completing', summary: 'completing: making the new revision final on every pod' })).toBe('making the new revision final on every pod');
    expect(summaryText({ phase: 'rolled-back', summary: 'rolled-back: rejected by bob' })).toBe('rejected by bob');
    const b = render(status({ phase: 'completing', summary: 'completing' }));
    expect(b).toMatch(/<span class="badge run">completing<\/span> <span class="summary" data-testid="summary"><\/span>/);
  });

  it('the timeline names an event\'s group once, and a notice before group 1 applied as group 1 (not group 0)', () => {
    const b = render(status({ events: [
      { at: '2026-12-02T10:00:30.000Z', type: 'healthy', message: 'group 3 healthy: 6 new pod(s) ready', group: 2 },
      { at: '2026-12-02T10:00:20.000Z', type: 'notice', message: 'notified alice: shop → production: group 1 waiting for window', group: 0 },
      { at: '2026-12-02T10:00:10.000Z', type: 'notice', message: 'notified alice: an old event recorded before a group', group: -1 },
      { at: '2026-12-02T10:00:00.000Z', type: 'paused', message: 'paused by bob', group: 1 },
    ] }));
    expect(b).toContain('<span class="badge muted">healthy</span> group 3 healthy');
    expect(b).not.toContain('group 3 group 3');
    expect(b).not.toContain('group 0');
    expect(b).toContain('<span class="badge muted">notice</span> notified alice: an old');
    expect(b).toContain('<span class="badge muted">paused</span> group 2 paused by bob');
  });

  it('a recorded decision reads its time as everywhere else on the page', () => {
    expect(decisionText({ action: 'approve', by: 'alice', channel: 'ui', at: '2026-12-02T13:00:12.345Z', comment: 'ok' })).toBe('approve by alice via ui at 2026-12-02 13:00:12 UTC: ok');
    expect(timeText('2026-12-02T13:00:12.345Z')).toBe('2026-12-02 13:00:12 UTC');
  });

  it('an error box says "Refused" once, and shortens digests', () => {
    const b = errorBox(new GantryError('refused', `refused: carol may not approve sha256:${'c'.repeat(64)}`)).toString();
    expect(b).toContain(`<strong>Refused:</strong> carol may not approve sha256:${'c'.repeat(12)}</p>`);
    expect(b).not.toMatch(/refused: refused|Refused:<\/strong> refused/i);
  });
});
