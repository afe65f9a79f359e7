// The ChatOps command parser (core/chatops.ts): table tests. Regression tests of issue 12 (defects 5
// and 6: unbounded and unescaped echoes, Unicode case folding and spaces in the grammar, commands
// hidden in HTML comments, indented code and mis-detected fences) are marked "issue 12".
import { describe, expect, it } from '@jest/globals';
import { Action } from '../../core/approval.js';
import { CHAT_USAGE, commandInComment, MAX_COMMENT_BODY, parseCommand } from '../../core/chatops.js';
import { controlCharacterIn } from '../../core/text.js';

describe('parseCommand', () => {
  const ok: [string, object][] = [
    ['approve shop/production', { verb: 'approve', app: 'shop', environment: 'production' }],
    ['  APPROVE   shop/production   looks good  ', { verb: 'approve', app: 'shop', environment: 'production', comment: 'looks good' }],
    ['Approve\tshop/production\tok', { verb: 'approve', app: 'shop', environment: 'production', comment: 'ok' }],
    ['reject shop/staging\nthe comment starts on the next line', { verb: 'reject', app: 'shop', environment: 'staging', comment: 'the comment starts on the next line' }],
    ['approve shop/production comments keep\u00a0any\u2003spaces and \u00e9 accents', { verb: 'approve', app: 'shop', environment: 'production', comment: 'comments keep\u00a0any\u2003spaces and \u00e9 accents' }],
    ['help me', { verb: 'help', app: '', environment: '' }],
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
    ['approve\nshop/production', 'approve needs a release on the same line: <app>/<env>, e.g. shop/production'],
    // issue 12: the grammar is ASCII; no Unicode case folding, no Unicode spaces as separators.
    ['rollbac\u212A shop/production', "unknown command 'rollbac\u212A' (it contains U+212A, which is not ASCII)"],
    ['ROLLBAC\u212A shop/production', "unknown command 'ROLLBAC\u212A' (it contains U+212A, which is not ASCII)"],
    ['\u017Ftatus shop/production', "unknown command '\u017Ftatus' (it contains U+017F, which is not ASCII)"],
    ['\uff41pprove shop/production', "unknown command '\uff41pprove' (it contains U+FF41, which is not ASCII)"],
    ['approve\u00a0shop/production', "the command 'approve\u00a0shop/production' contains U+00A0, a Unicode space: words are separated by ASCII spaces or tabs"],
    ['approve\u2003shop/production', "the command 'approve\u2003shop/production' contains U+2003, a Unicode space: words are separated by ASCII spaces or tabs"],
    ['approve shop/production\u3000ok', "the release 'shop/production\u3000ok' contains U+3000, a Unicode space: words are separated by ASCII spaces or tabs"],
    ['approve sh\u043ep/production', "'sh\u043ep' is not an app name (a lowercase DNS label) (it contains U+043E, which is not ASCII)"],
    // issue 12: control characters in the verb or the target are refused, and never echoed raw.
    ['appr\u200bove shop/production', "the command 'appr\\u{200b}ove' contains a control character (\\u{200b}); type it without"],
    ['\u001b[2Japprove shop/production', "the command '\\u{1b}[2Japprove' contains a control character (\\u{1b}); type it without"],
    ['approve shop/pro\u202eduction', "the release 'shop/pro\\u{202e}duction' contains a control character (\\u{202e}); type it without"],
    ['approve shop\u0085/production', "the release 'shop\\u{85}/production' contains a control character (\\u{85}); type it without"],
    // issue 12: echoes are capped.
    [`${'d'.repeat(1000)} shop/production`, `unknown command '${'d'.repeat(80)}… (920 more characters)'`],
    [`approve ${'s'.repeat(500)}`, `'${'s'.repeat(80)}… (420 more characters)' is not <app>/<env> (e.g. shop/production)`],
    [`approve ${'s'.repeat(500)}/production`, `'${'s'.repeat(80)}… (420 more characters)' is not an app name (a lowercase DNS label)`],
    ['x'.repeat(100_000), 'the command is longer than 2200 characters'],
  ];
  it.each(bad)('%j is refused: %s', (text, error) => {
    expect(parseCommand(text)).toEqual({ ok: false, error, usage: CHAT_USAGE });
  });

  it('issue 12: a refusal never holds a control character and stays short, however long the input', () => {
    for (const text of [`\u001b]8;;x\u0007${'a'.repeat(50_000)}`, `approve ${'\u202e'.repeat(2000)}/x`, `approve a/${'-'.repeat(2100)}`]) {
      const r = parseCommand(text);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(controlCharacterIn(r.error)).toBeUndefined();
      expect(r.error.length).toBeLessThan(250);
    }
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
    // Visible commands, however the rest of the comment is written.
    ['<!-- a note -->\n/gantry approve shop/production', 'approve shop/production'],
    ['```\nx\n```\n\n/gantry approve shop/production', 'approve shop/production'],
    ['Text\n    /gantry approve shop/production', 'approve shop/production'], // a paragraph's continuation line, not code
    ['/gantry approve shop/production **looks** _good_ `really` [see](https://x)', 'approve shop/production looks good really see'],
    ['/gantry approve `shop/production`', 'approve shop/production'],
    ['/gantry\tstatus shop/production', 'status shop/production'],
    ['first  \n/gantry approve shop/production', 'approve shop/production'], // after a hard line break
    ['<details>\n\nhidden\n\n</details>\n\n/gantry approve shop/production', 'approve shop/production'],
    ['<br>\n\n/gantry approve shop/production', 'approve shop/production'],
    // issue 12: commands the rendered comment does not show are not commands.
    ['<!--\n/gantry approve shop/production\n-->', undefined],
    ['Looks fine.\n<!-- /gantry approve shop/production -->', undefined],
    ['<!--\n\n/gantry approve shop/production\n\n-->', undefined],
    ['Intro.\n\n    /gantry approve shop/production', undefined], // an indented code block
    ['    /gantry approve shop/production', undefined],
    ['\t/gantry approve shop/production', undefined],
    ['````\n```\n/gantry approve shop/production\n````', undefined], // a shorter fence does not close a longer one
    ['```\n~~~\n/gantry approve shop/production\n```', undefined], // nor does a fence of the other character
    ['~~~~\n/gantry abort shop/production\n~~~\n/gantry rollback shop/production\n~~~~\n/gantry status shop/production', 'status shop/production'],
    ['```\n/gantry approve shop/production', undefined], // an unclosed fence runs to the end
    ['<details>\n<summary>log</summary>\n\n/gantry approve shop/production\n\n</details>', undefined],
    ['<div hidden>\n\n/gantry approve shop/production\n\n</div>', undefined],
    ['Note <span hidden>\n\n/gantry approve shop/production', undefined], // an element left open
    ['<pre>\n\n/gantry approve shop/production\n\n</pre>', undefined],
    ['/gantry approve shop/production <span hidden>abort</span>', undefined], // inline HTML on the line
    ['/gantry approve shop/production ![x](y)', undefined],
    ['> /gantry approve shop/production', undefined], // a quote
    ['- /gantry approve shop/production', undefined], // a list item (a checklist)
    ['1. /gantry approve shop/production', undefined],
    ['# /gantry approve shop/production', undefined],
    ['/gantry approve shop/production\n===', undefined], // a setext heading
    ['`/gantry approve shop/production`', undefined],
    ['[/gantry approve shop/production](https://x)', undefined],
    ['**/gantry approve shop/production**', undefined],
    ['\\/gantry approve shop/production', undefined], // the source does not start with /gantry
    ['| release | note |\n| --- | --- |\n/gantry approve shop/production', undefined], // a table row (GitHub tables)
    ['$$\n/gantry approve shop/production\n$$', undefined], // GitHub renders it as math
    ['/gantry approve shop/production ~~not~~ now', 'approve shop/production not now'],
    ['~~/gantry approve shop/production~~', undefined],
    ['&#47;gantry approve shop/production', undefined],
    ['\u200b/gantry approve shop/production', undefined],
    ['/gantry\u00a0approve shop/production', undefined],
    [`${'x '.repeat(MAX_COMMENT_BODY / 2)}\n/gantry approve shop/production`, undefined], // longer than GitHub allows
  ];
  it.each(cases)('%j → %j', (body, text) => {
    expect(commandInComment(body)).toBe(text);
  });
  it('comments as long as GitHub allows, written to be slow to parse, take well under 2 s each (no quadratic blow-up; about 0.15 s at worst measured)', () => {
    for (const unit of ['[', '*a', '![', '[a](', '\\', '<a ', '<!--', '| a |\n', 'a\n', '> ', '`']) {
      const body = `${unit.repeat(Math.floor((MAX_COMMENT_BODY - 100) / unit.length))}\n\n/gantry status shop/production`;
      const t0 = performance.now();
      commandInComment(body);
      expect({ unit, slow: performance.now() - t0 > 2000 }).toEqual({ unit, slow: false });
    }
  });
});
