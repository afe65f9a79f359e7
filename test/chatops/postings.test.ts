// issue 12 (defect 5): what Gantry posts to Slack and GitHub from outside values (reasons, names,
// comments) is escaped and bounded. Pure: the message builders, no network.
import { describe, expect, it } from '@jest/globals';
import MarkdownIt from 'markdown-it';
import { GITHUB_DESCRIPTION_LIMIT, githubDescription } from '../../activities/github.js';
import { approvalMessage } from '../../activities/slack.js';
import { githubReply } from '../../api/github-webhooks.js';
import { controlCharacterIn } from '../../core/text.js';

const ESC = '\u001b';
const unsafeIn = (text: string) => controlCharacterIn(text.replace(/[\t\n]/g, ''));

describe('Slack approval messages', () => {
  const hostile = { app: 'shop', environment: 'production', group: 1, groupName: `eu <!here>${ESC}[2J`, reason: `waiting <!channel> <@U0BOSS> & ${ESC}[31m\u202e${'r'.repeat(100_000)}`, who: 'alice, <!subteam^S0SRE>', summary: `s${ESC}]8;;https://evil${ESC}\\` };
  const msg = approvalMessage(hostile, 'run-1', 'C0RELEASES');
  const texts = [msg.text, JSON.stringify(msg.blocks)];

  it('no mention, link or control reaches Slack from a reason, a group name or the approvers', () => {
    for (const t of texts) {
      expect(t).not.toMatch(/<[!@]/);
      expect(unsafeIn(JSON.parse(JSON.stringify(t)) as string)).toBeUndefined();
    }
    const section = (msg.blocks[0] as { text: { text: string } }).text.text;
    expect(section).toContain('waiting &lt;!channel&gt; &lt;@U0BOSS&gt; &amp; \\u{1b}[31m\\u{202e}rrr');
    const short = (approvalMessage({ ...hostile, reason: 'waiting' }, 'run-1', 'C0RELEASES').blocks[0] as { text: { text: string } }).text.text;
    expect(short).toBe('*shop → production: group 2 (eu &lt;!here&gt;\\u{1b}[2J) waits for approval*\nwaiting\nWho can approve: alice, &lt;!subteam^S0SRE&gt;\ns\\u{1b}]8;;https://evil\\u{1b}\\');
    expect(msg.text).toBe('shop → production: group 2 (eu &lt;!here&gt;\\u{1b}[2J) waits for approval');
  });

  it('a long reason is capped below Slack\'s 3,000 characters per section (msg_too_long is not retryable)', () => {
    const section = (msg.blocks[0] as { text: { text: string } }).text.text;
    expect(section.length).toBeLessThan(3000);
    expect(section).toMatch(/… \(\d+ more characters\)$/);
  });
});

describe('GitHub commit and deployment status descriptions', () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ['none', undefined, undefined],
    ['plain', 'gates passed', 'gates passed'],
    ['controls escaped, one line', `built\n${ESC}[31mred\u202e`, 'built \\u{1b}[31mred\\u{202e}'],
    ['cut to 140 characters', 'd'.repeat(500), `${'d'.repeat(139)}…`],
    ['140 characters with an emoji at the end fit', `${'d'.repeat(138)}😀`, `${'d'.repeat(138)}😀`],
    ['a surrogate pair is not split', `${'d'.repeat(138)}😀x`, `${'d'.repeat(138)}…`],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(githubDescription(input)).toBe(expected);
    if (expected) expect(expected.length).toBeLessThanOrEqual(GITHUB_DESCRIPTION_LIMIT);
  });
});

describe('GitHub reply comments', () => {
  const md = new MarkdownIt('commonmark');
  const mentionsIn = (markdown: string) => md.parse(markdown, {}).flatMap((b) => (b.children ?? []).filter((t) => t.type === 'text').flatMap((t) => t.content.match(/@[A-Za-z0-9][\w/-]*/g) ?? []));

  it('mentions the commenter and no one else; HTML in the echo is shown, not rendered', () => {
    const body = githubReply('Codertocat', "✗ unknown command '@acme/sre-team'. Usage: `/gantry help`\nthanks @octocat <img src=x> @everyone");
    expect(mentionsIn(body)).toEqual(['@Codertocat']);
    expect(md.render(body)).not.toContain('<img');
    expect(body).toBe("@Codertocat ✗ unknown command '`@acme/sre-team`'. Usage: `/gantry help`\nthanks `@octocat` \\<img src=x\\> `@everyone`");
  });

  it('a login that is not a GitHub login is not written as a mention', () => {
    expect(githubReply('evil <b>', 'ok')).toBe('ok');
    expect(githubReply('', 'ok')).toBe('ok');
  });

  it('a reply line that starts with /gantry is not a command', () => {
    expect(githubReply('a', 'x\n/gantry approve shop/production')).toBe('@a x\n`/gantry` approve shop/production');
  });
});
