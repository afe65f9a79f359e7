// Property tests of the chat grammar (core/chatops.ts parseCommand), of finding a command in a GitHub
// comment (commandInComment) and of what replies echo (core/text.ts markdownText and slackText, and
// api/github-webhooks.ts githubReply), on generated input: arbitrary strings (any UTF-16, lone
// surrogates included), commands built from the grammar with mutations (case, Unicode lookalikes such
// as the Kelvin sign, Unicode spaces and controls as separators or inside words), and Markdown
// documents mixing code blocks, fences of every length and character, HTML comments and blocks,
// quotes and lists with a hidden command, and sometimes a visible one.
//
// Properties: the parser never throws; an accepted command has an ASCII verb from the list and DNS-label
// app and env, and was written with ASCII separators; a refusal's error is short and has no control
// character; a command inside a hidden block is never found and a visible one always is; a reply never
// mentions anyone in plain text (only in code spans), renders no HTML, link or image, and has no control
// character; Slack text has no raw `<` or `>`.
//
// CI runs a fixed seed with a few hundred cases per property (a few seconds). A longer run:
//   GANTRY_PROPERTY_RUNS=20000 NODE_OPTIONS=--experimental-vm-modules npx jest --runInBand test/property/chat.property.test.ts
// (GANTRY_PROPERTY_SEED=<n> picks another seed; a failure prints its seed and path to replay it.)
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import MarkdownIt from 'markdown-it';
import { githubReply } from '../../api/github-webhooks.js';
import { CHAT_USAGE, CHAT_VERBS, commandInComment, MAX_COMMENT, parseCommand } from '../../core/chatops.js';
import { controlCharacterIn, displayText, markdownText, slackText } from '../../core/text.js';

const runs = (n: number): number => Number(process.env.GANTRY_PROPERTY_RUNS ?? n);
const seed = Number(process.env.GANTRY_PROPERTY_SEED ?? 42);
const params = (n: number) => ({ seed, numRuns: runs(n) });

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The longest a refusal's error may be: fixed words and at most two capped echoes. */
const ERROR_LIMIT = 300;
const unsafeIn = (text: string) => controlCharacterIn(text.replace(/[\t\n]/g, ''));

// --- generators --------------------------------------------------------------------------------

/** Any UTF-16 code unit: lone surrogates, controls, bidi, everything. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Characters that matter to the grammar and to Markdown, often. */
const tricky = fc.constantFrom(
  ' ', '\t', '\n', '\r', '\u00a0', '\u2003', '\u3000', '\u200b', '\u202e', '\u2066', '\u001b', '\u0085', '\u0000', '\u2028',
  '\u212a', '\u017f', '\u0130', '\u0131', '\uff41', '\u043e', '/', '@', '`', '*', '_', '<', '>', '&', '#', '-', '~', '\\', '[', ']', '|', '$',
);
const text = (maxLength: number) => fc.string({ unit: fc.oneof({ weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) }, { weight: 2, arbitrary: tricky }, { weight: 1, arbitrary: anyUnit }), maxLength });

/** A verb as someone might type it: random ASCII case, sometimes with one letter swapped for a lookalike. */
const lookalikes: Record<string, string> = { k: '\u212a', s: '\u017f', i: '\u0130', a: '\uff41', o: '\u043e', e: '\u0435', p: '\u0440', c: '\u0441' };
const typedVerb = fc.record({ verb: fc.constantFrom(...CHAT_VERBS), upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), swap: fc.option(fc.nat(), { nil: undefined }) })
  .map(({ verb, upper, swap }) => {
    const chars = [...verb].map((c, i) => (upper[i % 8] ? c.toUpperCase() : c));
    let lookalike = false;
    if (swap !== undefined) {
      const i = swap % chars.length;
      const l = lookalikes[verb[i]!];
      if (l) { chars[i] = l; lookalike = true; }
    }
    return { verb, typed: chars.join(''), lookalike };
  });
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const asciiSep = fc.stringMatching(/^[ \t]{1,3}$/);
const unicodeSep = fc.constantFrom('\u00a0', '\u2003', '\u3000', '\u2009', '\u202f', '\u1680', '\u205f');
const comment = fc.string({ unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), tricky), maxLength: 60 });

// --- the grammar --------------------------------------------------------------------------------

describe('parseCommand (property)', () => {
  function checkOutcome(input: string): void {
    const r = parseCommand(input);
    if (r.ok) {
      const { verb, app, environment } = r.command;
      expect(CHAT_VERBS).toContain(verb);
      expect(verb).toMatch(/^[a-z]+$/);
      // The verb was typed in ASCII (case aside), first, after ASCII whitespace only.
      const start = input.search(/[^ \t\r\n]/);
      expect(input.slice(start, start + verb.length).toLowerCase()).toBe(verb);
      expect(input.slice(start, start + verb.length)).toMatch(/^[A-Za-z]+$/);
      if (verb !== 'help') {
        expect(app).toMatch(dnsLabel);
        expect(environment).toMatch(dnsLabel);
        expect(app.length).toBeLessThanOrEqual(63);
        expect(environment.length).toBeLessThanOrEqual(63);
        // Verb and target are separated by ASCII spaces or tabs only.
        expect(input.slice(start)).toMatch(new RegExp(`^[A-Za-z]+[ \\t]+${app}/${environment}(?:[ \\t\\r\\n]|$)`));
      }
      if (r.command.comment !== undefined) {
        expect(r.command.comment.length).toBeGreaterThan(0);
        expect(r.command.comment.length).toBeLessThanOrEqual(MAX_COMMENT);
        expect(r.command.comment).not.toMatch(/^[ \t\r\n]|[ \t\r\n]$/);
        expect(verb).not.toBe('status');
      }
    } else {
      expect(r.usage).toBe(CHAT_USAGE);
      expect(r.error.length).toBeGreaterThan(0);
      expect(r.error.length).toBeLessThanOrEqual(ERROR_LIMIT);
      expect(controlCharacterIn(r.error)).toBeUndefined();
    }
  }

  it('arbitrary strings: never throws; accepted commands are well formed; refusals are short and escaped', () => {
    fc.assert(fc.property(text(200), (input) => { checkOutcome(input); }), params(1000));
  });

  it('long strings: the same, and the error never grows with the input', () => {
    fc.assert(fc.property(text(40), fc.integer({ min: 100, max: 5000 }), fc.constantFrom('z', '\u202e', ' ', '/'), (head, n, filler) => {
      checkOutcome(head + filler.repeat(n));
      checkOutcome(`approve ${filler.repeat(n)}${head}`);
    }), params(200));
  });

  it('commands built from the grammar: accepted exactly when verb, separators and target are ASCII and valid', () => {
    fc.assert(fc.property(
      typedVerb, fc.oneof({ weight: 4, arbitrary: asciiSep }, { weight: 1, arbitrary: unicodeSep }), label, label,
      fc.option(fc.tuple(fc.oneof({ weight: 4, arbitrary: asciiSep }, { weight: 1, arbitrary: fc.constant('\n') }), comment), { nil: undefined }),
      fc.stringMatching(/^[ \t\r\n]{0,2}$/),
      ({ verb, typed, lookalike }, sep, app, env, rest, pad) => {
        const input = `${pad}${typed}${sep}${app}/${env}${rest ? rest[0] + rest[1] : ''}${pad}`;
        checkOutcome(input);
        const r = parseCommand(input);
        if (lookalike) { expect(r.ok).toBe(false); return; }
        if (!/^[ \t]+$/.test(sep)) {
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.error).toMatch(/a Unicode space: words are separated by ASCII spaces or tabs/);
          return;
        }
        if (verb === 'help') { expect(r).toEqual({ ok: true, command: { verb: 'help', app: '', environment: '' } }); return; }
        const commentText = rest ? rest[1].replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') : '';
        if (verb === 'status' && commentText) { expect(r).toMatchObject({ ok: false, error: 'status takes no comment' }); return; }
        if (!r.ok) throw new Error(`refused ${JSON.stringify(input)}: ${r.error}`);
        expect(r.command).toEqual({ verb, app, environment: env, ...(commentText ? { comment: commentText } : {}) });
      },
    ), params(1000));
  });
});

// --- commands in comments ---------------------------------------------------------------------

const HIDDEN = '/gantry abort hidden/x';
const VISIBLE = '/gantry status shown/y';
const word = fc.stringMatching(/^[a-z]{1,8}$/);
const sentence = fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join(' '));
/** A plain paragraph (no Markdown syntax in it). */
const paragraph = fc.array(sentence, { minLength: 1, maxLength: 3 }).map((lines) => lines.join('\n'));

/** A block that hides a `/gantry` line (it is not a visible command in the rendered comment). */
const hiding: fc.Arbitrary<string> = fc.oneof(
  // A fence of 3+ backticks or tildes, closed by a fence of the same character at least as long; inside,
  // shorter fences and fences of the other character that must not close it.
  fc.record({ ch: fc.constantFrom('`', '~'), n: fc.integer({ min: 3, max: 6 }), extra: fc.nat({ max: 3 }), info: fc.constantFrom('', 'sh', 'text'), bait: fc.boolean(), indent: fc.constantFrom('', ' ', '  ', '   ') })
    .map(({ ch, n, extra, info, bait, indent }) => {
      const other = ch === '`' ? '~' : '`';
      const inner = bait ? [`${ch.repeat(n - 1)}`, `${other.repeat(n + 1)}`] : [];
      return [`${indent}${ch.repeat(n)}${info}`, ...inner, HIDDEN, ...inner.reverse(), `${ch.repeat(n + extra)}`].join('\n');
    }),
  // An indented code block (4+ spaces or a tab, after a blank line).
  fc.constantFrom('    ', '     ', '\t', '  \t').map((ind) => `${ind}${HIDDEN}`),
  // An HTML comment, on one line or several, with blank lines inside or not.
  fc.record({ before: fc.constantFrom('', 'note', '\n'), after: fc.constantFrom('', '\n\n', 'x') })
    .map(({ before, after }) => `<!--${before}\n${HIDDEN}\n${after}-->`),
  fc.constant(`<!-- ${HIDDEN} -->`),
  // HTML blocks and elements that hide or are raw.
  fc.constantFrom('details', 'div', 'pre', 'table', 'section').map((tag) => `<${tag}>\n\n${HIDDEN}\n\n</${tag}>`),
  fc.constant(`<details><summary>log</summary>\n\n${HIDDEN}\n\n</details>`),
  fc.constant(`<div>\n${HIDDEN}\n</div>`),
  // Quotes, lists, headings, code spans, links, emphasis at the line start.
  fc.constantFrom('> ', '>', '- ', '* ', '+ ', '1. ', '2) ', '# ', '### ').map((m) => `${m}${HIDDEN}`),
  fc.constantFrom(`\`${HIDDEN}\``, `[${HIDDEN}](https://x)`, `**${HIDDEN}**`, `_${HIDDEN}_`, `\\${HIDDEN}`, `&#47;${HIDDEN.slice(1)}`),
  // A table row (GitHub tables) and math (GitHub renders `$$` paragraphs as math).
  fc.constant(`| a | b |\n| - | - |\n${HIDDEN}`),
  fc.constant(`$$\n${HIDDEN}\n$$`),
  // A setext heading, and inline HTML on the command's own line.
  fc.constant(`${HIDDEN}\n---`),
  fc.constant(`${HIDDEN} <span hidden>x</span>`),
);

/** A document of blocks separated by blank lines; `hidden` are placed among plain paragraphs. */
const document = (withVisible: boolean) => fc.record({
  blocks: fc.array(fc.oneof({ weight: 1, arbitrary: paragraph }, { weight: 2, arbitrary: hiding }), { minLength: 1, maxLength: 6 }),
  hidden: hiding,
  at: fc.nat(),
  visibleAt: fc.nat(),
  eol: fc.constantFrom('\n', '\r\n'),
}).map(({ blocks, hidden, at, visibleAt, eol }) => {
  const all = [...blocks];
  all.splice(at % (all.length + 1), 0, hidden);
  if (withVisible) all.splice(visibleAt % (all.length + 1), 0, `${VISIBLE}`);
  // An indented block right after a list item would continue the item (and end it early, showing what
  // follows): a plain paragraph before it keeps every block what it was generated as.
  return all.map((b) => (/^[ \t]/.test(b) ? `before indented\n\n${b}` : b)).join('\n\n').replace(/\n/g, eol);
});

describe('commandInComment (property)', () => {
  it('a command inside a code block, a fence, an HTML comment or block, a quote or a list is never found', () => {
    fc.assert(fc.property(document(false), (doc) => {
      expect(commandInComment(doc)).toBeUndefined();
    }), params(1000));
  });

  it('a visible command among such blocks is always found, and only it', () => {
    fc.assert(fc.property(document(true), (doc) => {
      expect(commandInComment(doc)).toBe(VISIBLE.slice('/gantry '.length));
    }), params(1000));
  });

  it('arbitrary comment bodies: never throws; what is found is one line, from a line whose source starts with /gantry', () => {
    fc.assert(fc.property(text(300), fc.option(text(40), { nil: undefined }), (body, tail) => {
      const doc = tail === undefined ? body : `${body}\n/gantry ${tail}`;
      const found = commandInComment(doc);
      if (found !== undefined) {
        expect(found).not.toMatch(/[\r\n]/);
        expect(found).not.toMatch(/^[ \t]|[ \t]$/);
        expect(doc.split(/\r\n|\n|\r/).some((l) => /^[ \t]*\/gantry/.test(l))).toBe(true);
      }
    }), params(1000));
  });
});

// --- replies ----------------------------------------------------------------------------------

const md = new MarkdownIt('commonmark');
/** @names that GitHub would turn into mentions (outside code spans), and any HTML, link or image, in rendered Markdown. */
function renderedProblems(markdown: string): { mentions: string[]; markup: string[] } {
  const out = { mentions: [] as string[], markup: [] as string[] };
  for (const block of md.parse(markdown, {})) {
    if (block.type === 'html_block') out.markup.push(block.content);
    for (const t of block.children ?? []) {
      if (t.type === 'text' || t.type === 'text_special') out.mentions.push(...(t.content.match(/@[A-Za-z0-9]/g) ?? []));
      if (t.type === 'html_inline' || t.type === 'image' || t.type === 'link_open') out.markup.push(t.type);
    }
  }
  return out;
}
/** The text a reader sees, code spans included, as lines without leading or trailing blanks. */
function seenText(markdown: string): string {
  const lines: string[] = [];
  let line = '';
  for (const block of md.parse(markdown, {})) {
    if (block.type === 'paragraph_close') { lines.push(line); line = ''; }
    for (const t of block.children ?? []) {
      if (t.type === 'softbreak' || t.type === 'hardbreak') { lines.push(line); line = ''; } else line += t.content;
    }
  }
  return lines.map((l) => l.trim()).filter(Boolean).join('\n');
}

describe('replies (property)', () => {
  const echoed = fc.string({ unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), tricky, fc.constantFrom('@alice', '@acme/sre', '`', '``', '<b>', '<!--', '&#64;', '\n', '    ', '# ', '> ', '- ', '1. ', '/gantry ')), maxLength: 80 });

  it('a GitHub reply mentions only the commenter, renders no HTML, link or image, and has no control character', () => {
    fc.assert(fc.property(echoed, (s) => {
      const body = githubReply('Codertocat', s);
      expect(body.startsWith('@Codertocat ')).toBe(true);
      expect(renderedProblems(body.slice('@Codertocat '.length))).toEqual({ mentions: [], markup: [] });
      expect(unsafeIn(body)).toBeUndefined();
      expect(commandInComment(body)).toBeUndefined();
    }), params(1000));
  });

  it('markdownText renders as the plain text (when the text has no backticks, which pair into code spans)', () => {
    fc.assert(fc.property(echoed.filter((s) => !s.includes('`')), (s) => {
      const expected = displayText(s).split('\n').map((l) => l.trim()).filter(Boolean).join('\n');
      expect(seenText(markdownText(s))).toBe(expected);
    }), params(1000));
  });

  it('the refusal of any command, as posted to GitHub and Slack, mentions no one and carries nothing raw', () => {
    fc.assert(fc.property(text(120), (input) => {
      const r = parseCommand(input);
      if (r.ok) return;
      const reply = `✗ ${r.error}. Usage: \`${r.usage}\``;
      const body = githubReply('Codertocat', reply);
      expect(renderedProblems(body.slice('@Codertocat '.length))).toEqual({ mentions: [], markup: [] });
      expect(unsafeIn(body)).toBeUndefined();
      const slack = slackText(reply);
      expect(slack).not.toMatch(/[<>]/);
      expect(unsafeIn(slack)).toBeUndefined();
    }), params(1000));
  });
});
