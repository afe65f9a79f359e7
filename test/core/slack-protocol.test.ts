// core/slack-protocol.ts: what a Slack approval button means. Table tests: the values a button may
// carry, what is refused (anything but an <app>/<env> of DNS labels, a group index and a run id), and
// that what the worker encodes the API decodes unchanged.
import { describe, expect, it } from '@jest/globals';
import {
  buttonBlockId, buttonVerb, decodeButtonValue, encodeButtonValue, pressUpdateId, SLACK_ACTIONS, type ApprovalButtonValue,
} from '../../core/slack-protocol.js';

const ok: ApprovalButtonValue = { app: 'shop', env: 'production', group: 1, run: '0193b0c6-7a52-7b43-9d1c-2f6f3f2e9a10' };

describe('decodeButtonValue', () => {
  const cases: [string, string | undefined, ApprovalButtonValue | undefined][] = [
    ['a value the worker posts', JSON.stringify(ok), ok],
    ['group 0 (the first group)', JSON.stringify({ ...ok, group: 0 }), { ...ok, group: 0 }],
    ['extra fields are dropped', JSON.stringify({ ...ok, extra: '<!channel>' }), ok],
    ['a 63-character app name', JSON.stringify({ ...ok, app: 'a'.repeat(63) }), { ...ok, app: 'a'.repeat(63) }],
    ['no value', undefined, undefined],
    ['empty', '', undefined],
    ['not JSON', 'approve shop', undefined],
    ['JSON null', 'null', undefined],
    ['an array', JSON.stringify([ok]), undefined],
    ['a string', JSON.stringify('shop/production'), undefined],
    ['no app', JSON.stringify({ env: 'production', group: 0, run: 'r1' }), undefined],
    ['app not a DNS label (escape)', JSON.stringify({ ...ok, app: 'shop\u001b[2J' }), undefined],
    ['app with a slash', JSON.stringify({ ...ok, app: 'shop/other' }), undefined],
    ['app upper case', JSON.stringify({ ...ok, app: 'Shop' }), undefined],
    ['app of 64 characters', JSON.stringify({ ...ok, app: 'a'.repeat(64) }), undefined],
    ['env ending in a hyphen', JSON.stringify({ ...ok, env: 'prod-' }), undefined],
    ['group as a string', JSON.stringify({ ...ok, group: '1' }), undefined],
    ['negative group', JSON.stringify({ ...ok, group: -1 }), undefined],
    ['fractional group', JSON.stringify({ ...ok, group: 1.5 }), undefined],
    ['group beyond safe integers', JSON.stringify({ ...ok, group: 2 ** 53 }), undefined],
    ['run with a space', JSON.stringify({ ...ok, run: 'r 1' }), undefined],
    ['run of 101 characters', JSON.stringify({ ...ok, run: 'r'.repeat(101) }), undefined],
    ['run empty', JSON.stringify({ ...ok, run: '' }), undefined],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(decodeButtonValue(text)).toEqual(expected);
  });

  it('decodes what encodeButtonValue wrote, with the fields in a fixed order', () => {
    const text = encodeButtonValue({ run: ok.run, group: 3, env: 'eu-1', app: 'web' });
    expect(text).toBe(`{"app":"web","env":"eu-1","group":3,"run":"${ok.run}"}`);
    expect(decodeButtonValue(text)).toEqual({ app: 'web', env: 'eu-1', group: 3, run: ok.run });
  });
});

describe('buttonVerb', () => {
  const cases: [string, string, 'approve' | 'reject' | undefined][] = [
    ['the Approve button', SLACK_ACTIONS.approve, 'approve'],
    ['the Reject button', SLACK_ACTIONS.reject, 'reject'],
    ['the literal action id', 'gantry_approve', 'approve'],
    ['a verb is not an action id', 'approve', undefined],
    ['another app\'s button', 'deploy_now', undefined],
    ['empty', '', undefined],
    ['an Object.prototype name', 'constructor', undefined],
  ];
  it.each(cases)('%s', (_name, actionId, verb) => {
    expect(buttonVerb(actionId)).toBe(verb);
  });
});

describe('ids', () => {
  it('block ids name the release and group, within Slack\'s 255 characters', () => {
    expect(buttonBlockId('shop', 'production', 2)).toBe('gantry_shop_production_2');
    expect(buttonBlockId('a'.repeat(200), 'b'.repeat(200), 0)).toHaveLength(255);
  });

  it('the Update id of a press is the same for a redelivered press, different for another message, press or person', () => {
    const press = { messageTs: '1700000000.000100', actionTs: '1700000001.000200', user: 'U0ALICE' };
    expect(pressUpdateId(press)).toBe('slack-1700000000.000100-1700000001.000200-U0ALICE');
    expect(pressUpdateId({ ...press })).toBe(pressUpdateId(press));
    const others = [{ ...press, messageTs: '1700000000.000101' }, { ...press, actionTs: '1700000002.000200' }, { ...press, user: 'U0BOB' }].map(pressUpdateId);
    expect(new Set([pressUpdateId(press), ...others]).size).toBe(4);
    expect(pressUpdateId({ user: 'U0ALICE' })).toBe('slack---U0ALICE');
  });
});
