// The ChatOps command parser (core/chatops.ts): table tests.
import { describe, expect, it } from '@jest/globals';
import { Action } from '../../core/approval.js';
import { CHAT_USAGE, commandInComment, parseCommand } from '../../core/chatops.js';

describe('parseCommand', () => {
  const ok: [string, object][] = [
    ['approve shop/production', { verb: 'approve', app: 'shop', environment: 'production' }],
    ['  APPROVE   shop/production   looks good  ', { verb: 'approve', app: 'shop', environment: 'production', comment: 'looks good' }],
    ['reject shop/staging error rate is up\nsee grafana', { verb: 'reject', app: 'shop', environment: 'staging', comment: 'error rate is up\nsee grafana' }],
    ['pause web-2/prod-eu', { verb: 'pause', app: 'web-2', environment: 'prod-eu' }],
    ['resume shop/production', { verb: 'resume', app: 'shop', environment: 'production' }],
    ['promote shop/production hotfix', { verb: 'promote', app: 'shop', environment: 'production', comment: 'hotfix' }],
    ['abort shop/production', { verb: 'abort', app: 'shop', environment: 'production' }],
    ['rollback shop/production bad deploy', { verb: 'rollback', app: 'shop', environment: 'production', comment: 'bad deploy' }],
    ['status shop/production', { verb: 'status', app: 'shop', environment: 'production' }],
    ['help', { verb: 'help', app: '', environment: '' }],
  ];
  it.each(ok)('%j parses', (text, command) => {
    expect(parseCommand(text)).toEqual({ ok: true, command });
  });

  it.each(Object.values(Action))('every release decision is a command: %s (and listed in the usage)', (action) => {
    expect(parseCommand(`${action} shop/production why`)).toEqual({ ok: true, command: { verb: action, app: 'shop', environment: 'production', comment: 'why' } });
    expect(CHAT_USAGE).toContain(`${action}|`);
  });

  const bad: [string, string][] = [
    ['', 'no command given'],
    ['   ', 'no command given'],
    ['deploy shop/production', "unknown command 'deploy'"],
    ['approve', 'approve needs a release: <app>/<env>, e.g. shop/production'],
    ['approve shop', "'shop' is not <app>/<env> (e.g. shop/production)"],
    ['approve shop/production/eu', "'shop/production/eu' is not <app>/<env> (e.g. shop/production)"],
    ['approve /production', "'/production' is not <app>/<env> (e.g. shop/production)"],
    ['approve Shop/production', "'Shop' is not an app name (a lowercase DNS label)"],
    ['approve shop/prod_eu', "'prod_eu' is not an environment name (a lowercase DNS label)"],
    ['status shop/production now', 'status takes no comment'],
    [`approve shop/production ${'x'.repeat(2001)}`, 'the comment is longer than 2000 characters'],
  ];
  it.each(bad)('%j is refused: %s', (text, error) => {
    expect(parseCommand(text)).toEqual({ ok: false, error, usage: CHAT_USAGE });
  });
});

describe('commandInComment', () => {
  const cases: [string, string | undefined][] = [
    ['/gantry approve shop/production', 'approve shop/production'],
    ['Looks good to me.\n\n  /gantry approve shop/production ship it\n/gantry reject shop/production', 'approve shop/production ship it'],
    ['/gantry', ''],
    ['no command here', undefined],
    ['please run /gantry approve shop/production', undefined],
    ['/gantryapprove shop/production', undefined],
    ['```\n/gantry approve shop/production\n```\n', undefined],
    ['```sh\n/gantry abort shop/production\n```\n/gantry status shop/production', 'status shop/production'],
    ['line\r\n/gantry pause shop/production\r\n', 'pause shop/production'],
  ];
  it.each(cases)('%j → %j', (body, text) => {
    expect(commandInComment(body)).toBe(text);
  });
});
