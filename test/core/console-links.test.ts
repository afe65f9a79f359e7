// Console links sent to people (core/console-links.ts) are the console's own paths, encoded.
import { describe, expect, it } from '@jest/globals';
import { consolePipelinePath, consoleReleasePath, consoleUrl } from '../../core/console-links.js';
import { releasePath } from '../../api/console/views/release.js';
import { pipelineHref } from '../../api/console/views/history-format.js';
import { approvalMessage } from '../../activities/slack.js';

describe('console links', () => {
  it.each([
    ['shop', 'production', '/ui/releases/shop/production'],
    ['shop', 'eu west/1', '/ui/releases/shop/eu%20west%2F1'],
    ['a|b', 'c>d&e', '/ui/releases/a%7Cb/c%3Ed%26e'],
  ])('release %s/%s → %s, the console route', (app, env, path) => {
    expect(consoleReleasePath(app, env)).toBe(path);
    expect(consoleReleasePath(app, env)).toBe(releasePath(app, env));
  });

  it.each([
    ['acme/shop', 'a1b2', false, '/ui/pipelines/acme/shop/a1b2'],
    ['acme/shop', 'a1b2', true, '/ui/pipelines/acme/shop/a1b2?gates=1'],
    ['acme/my shop#1', 'x?y', false, '/ui/pipelines/acme/my%20shop%231/x%3Fy'],
  ])('pipeline %s@%s (gates only: %s) → %s, the console route', (repo, sha, gates, path) => {
    expect(consolePipelinePath(repo, sha, gates)).toBe(path);
    expect(consolePipelinePath(repo, sha, gates)).toBe(pipelineHref(repo, sha, gates));
  });

  it('absolute only with a public URL', () => {
    expect(consoleUrl('https://gantry.example.com', '/ui/releases/shop/prod')).toBe('https://gantry.example.com/ui/releases/shop/prod');
    expect(consoleUrl(undefined, '/ui/releases/shop/prod')).toBeUndefined();
  });

  it('a Slack link cannot be ended early by a name: | and > are encoded in <url|text>', () => {
    const msg = approvalMessage({ app: 'shop', environment: 'x|<!channel>', group: 0, reason: 'waiting' }, 'run-1', 'C0', 'https://gantry.example.com');
    const last = msg.blocks.at(-1) as { elements: { text: string }[] };
    expect(last.elements[0]!.text).toBe('<https://gantry.example.com/ui/releases/shop/x%7C%3C!channel%3E|Open in console>');
    expect(approvalMessage({ app: 'shop', environment: 'prod', group: 0, reason: 'waiting' }, 'run-1', 'C0').blocks.map((b) => b.type)).toEqual(['section', 'actions', 'context']);
  });
});
