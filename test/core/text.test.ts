// core/text.ts: showing outside text safely. Table tests; the rendering of markdownText is checked with
// a CommonMark parser (markdown-it, as core/chatops.ts reads comments).
import { describe, expect, it } from '@jest/globals';
import MarkdownIt from 'markdown-it';
import { cap, controlCharacterIn, displayLine, displayText, echo, ECHO_LIMIT, escapeCodePoint, jsonText, markdownText, slackText } from '../../core/text.js';

describe('controlCharacterIn (identifiers)', () => {
  const cases: [string, string, string | undefined][] = [
    ['a plain name', 'shop-eu', undefined],
    ['non-ASCII letters are not controls', 'café-日本', undefined],
    ['an emoji (a surrogate pair) is not a control', 'ship-😀', undefined],
    ['a space is not a control (names are checked by their own pattern)', 'a b', undefined],
    ['a no-break space is not a control', 'a\u00a0b', undefined],
    ['ESC (ANSI escapes)', 'sh\u001b[31mop', '\\u{1b}'],
    ['NUL', 'a\u0000', '\\u{0}'],
    ['tab', 'a\tb', '\\u{9}'],
    ['line feed', 'a\nb', '\\u{a}'],
    ['DEL', 'a\u007f', '\\u{7f}'],
    ['C1: NEL', 'a\u0085', '\\u{85}'],
    ['C1: CSI', 'a\u009b31m', '\\u{9b}'],
    ['bidi override RLO', 'abc\u202edef', '\\u{202e}'],
    ['bidi isolate FSI', '\u2068x', '\\u{2068}'],
    ['Arabic letter mark', 'a\u061c', '\\u{61c}'],
    ['zero-width space', 'sh\u200bop', '\\u{200b}'],
    ['zero-width joiner', 'a\u200db', '\\u{200d}'],
    ['BOM', '\ufeffshop', '\\u{feff}'],
    ['soft hyphen (invisible)', 'sh\u00adop', '\\u{ad}'],
    ['Mongolian vowel separator (invisible)', 'a\u180eb', '\\u{180e}'],
    ['line separator', 'a\u2028b', '\\u{2028}'],
    ['paragraph separator', 'a\u2029b', '\\u{2029}'],
    ['a tag character (invisible)', 'shop\u{e0041}', '\\u{e0041}'],
    ['a reserved code point of the tag block', 'shop\u{e0000}', '\\u{e0000}'],
    ['a lone high surrogate', 'a\ud800b', '\\u{d800}'],
    ['a lone low surrogate', 'a\udc00', '\\u{dc00}'],
    ['the first one is named', 'a\u202e\u001b', '\\u{202e}'],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(controlCharacterIn(text)).toBe(expected);
  });
});

describe('displayText and displayLine (free text)', () => {
  const cases: [string, string, string, string][] = [
    // name, input, displayText, displayLine
    ['plain text is unchanged', 'all good, ship it', 'all good, ship it', 'all good, ship it'],
    ['non-ASCII text and emoji are kept', 'déjà vu 日本 😀', 'déjà vu 日本 😀', 'déjà vu 日本 😀'],
    ['ANSI colours are escaped', '\u001b[31mred\u001b[0m', '\\u{1b}[31mred\\u{1b}[0m', '\\u{1b}[31mred\\u{1b}[0m'],
    ['an OSC 8 hyperlink is escaped', '\u001b]8;;https://evil\u0007x\u001b]8;;\u0007', '\\u{1b}]8;;https://evil\\u{7}x\\u{1b}]8;;\\u{7}', '\\u{1b}]8;;https://evil\\u{7}x\\u{1b}]8;;\\u{7}'],
    ['a bidi override is escaped', 'approved \u202edesrever', 'approved \\u{202e}desrever', 'approved \\u{202e}desrever'],
    ['tabs and line feeds are kept; on one line they are spaces', 'a\tb\nc\n\nd', 'a\tb\nc\n\nd', 'a b c d'],
    ['CR LF is a line feed', 'a\r\nb', 'a\nb', 'a b'],
    ['a lone CR (a terminal overwrites the line) is escaped', 'approved\rREJECTED', 'approved\\u{d}REJECTED', 'approved\\u{d}REJECTED'],
    ['backspace is escaped', 'ok\b\bno', 'ok\\u{8}\\u{8}no', 'ok\\u{8}\\u{8}no'],
    ['C1 controls are escaped', 'a\u0085b\u009b2J', 'a\\u{85}b\\u{9b}2J', 'a\\u{85}b\\u{9b}2J'],
    ['line and paragraph separators are escaped', 'a\u2028b\u2029c', 'a\\u{2028}b\\u{2029}c', 'a\\u{2028}b\\u{2029}c'],
    ['invisible format characters are escaped', 'x\u200by\u00adz\u2066w\ufeff', 'x\\u{200b}y\\u{ad}z\\u{2066}w\\u{feff}', 'x\\u{200b}y\\u{ad}z\\u{2066}w\\u{feff}'],
    ['tag characters are escaped (one escape per code point)', 'hi\u{e0068}\u{e0069}', 'hi\\u{e0068}\\u{e0069}', 'hi\\u{e0068}\\u{e0069}'],
    ['lone surrogates are escaped, pairs kept', 'a\ud83db\ud83d\ude00', 'a\\u{d83d}b\ud83d\ude00', 'a\\u{d83d}b\ud83d\ude00'],
  ];
  it.each(cases)('%s', (_name, input, text, line) => {
    expect(displayText(input)).toBe(text);
    expect(displayLine(input)).toBe(line);
  });

  it('the output never holds a control or format character but tab and line feed', () => {
    const all = Array.from({ length: 0x3000 }, (_, i) => String.fromCharCode(i)).join('') + '\u{e0001}\u{e007f}\ufeff\ufff9';
    const shown = displayText(all);
    expect(controlCharacterIn(shown.replace(/[\t\n]/g, ''))).toBeUndefined();
    expect(controlCharacterIn(displayLine(all))).toBeUndefined();
  });

  it('escapeCodePoint writes the whole code point', () => {
    expect(escapeCodePoint('\u001b')).toBe('\\u{1b}');
    expect(escapeCodePoint('\u{e0041}')).toBe('\\u{e0041}');
  });
});

describe('cap', () => {
  const cases: [string, string, number, string][] = [
    ['short text is unchanged', 'abc', 80, 'abc'],
    ['text of exactly the limit is unchanged', 'x'.repeat(80), 80, 'x'.repeat(80)],
    ['longer text is cut, with a count', 'x'.repeat(100), 80, `${'x'.repeat(80)}… (20 more characters)`],
    ['a surrogate pair is not split', `${'x'.repeat(79)}😀yz`, 80, `${'x'.repeat(79)}… (4 more characters)`],
    ['an escape of displayText is not cut in half', `${'x'.repeat(76)}\\u{1b}[31m`, 80, `${'x'.repeat(76)}… (10 more characters)`],
    ['an escape cut right after its backslash', `${'x'.repeat(79)}\\u{1b}`, 80, `${'x'.repeat(79)}… (6 more characters)`],
    ['a whole escape before the cut is kept', `${'x'.repeat(74)}\\u{1b}zzz`, 80, `${'x'.repeat(74)}\\u{1b}… (3 more characters)`],
    ['a limit of 0', 'abc', 0, '… (3 more characters)'],
  ];
  it.each(cases)('%s', (_name, text, limit, expected) => {
    expect(cap(text, limit)).toBe(expected);
  });
});

describe('echo', () => {
  const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
  nullProto.self = nullProto;
  const cyclic: Record<string, unknown> = { name: 'x' };
  cyclic.self = cyclic;
  const throwing = { get boom(): never { throw new Error('no'); }, ok: 1 };
  const proxy = new Proxy({}, { ownKeys() { throw new Error('no keys'); } });
  const cases: [string, unknown, string][] = [
    ['a string is quoted', 'deploy', "'deploy'"],
    ['controls are escaped, lines joined', 'a\u001b[2J\nb', "'a\\u{1b}[2J b'"],
    ['a long string is capped at ECHO_LIMIT', 'y'.repeat(100_000), `'${'y'.repeat(ECHO_LIMIT)}… (99920 more characters)'`],
    ['an object is shown as JSON', { a: 1, b: ['x', null] }, `'{"a":1,"b":["x",null]}'`],
    ['numbers, booleans, null, undefined', [1.5, true, null, undefined], "'[1.5,true,null,undefined]'"],
    ['a bigint', 12n, "'12n'"],
    ['a symbol', Symbol('s'), "'Symbol(s)'"],
    ['a cycle', cyclic, `'{"name":"x","self":…}'`],
    ['a cycle in an object without a prototype', nullProto, `'{"a":1,"self":…}'`],
    ['a getter that throws', throwing, `'{"boom":"(unreadable)","ok":1}'`],
    ['a proxy that throws', proxy, "'(a value that cannot be shown)'"],
  ];
  it.each(cases)('%s', (_name, value, expected) => {
    expect(echo(value)).toBe(expected);
  });

  it('a huge value is not walked whole (the old JSON.stringify read every element)', () => {
    let reads = 0;
    const huge = Array.from({ length: 100_000 }, () => ({ get v() { reads++; return 'item'; } }));
    const shown = echo(huge);
    expect(shown.length).toBeLessThanOrEqual(ECHO_LIMIT + 40);
    expect(shown).toMatch(/^'\[\{"v":"item"\},/);
    expect(reads).toBeLessThan(100);
  });

  it('a custom limit', () => {
    expect(echo('abcdef', 3)).toBe("'abc… (3 more characters)'");
  });
});

describe('jsonText', () => {
  const cases: [string, unknown, number | undefined, string][] = [
    ['plain JSON is unchanged', { a: 'b', n: [1, 2] }, undefined, '{"a":"b","n":[1,2]}'],
    ['indented', { a: 1 }, 2, '{\n  "a": 1\n}'],
    ['C0 controls are escaped by JSON itself', 'a\u001b[2J\r\n', undefined, '"a\\u001b[2J\\r\\n"'],
    ['bidi, C1 and format characters are escaped too', 'a\u202eb\u0085c\u200bd\u2028', undefined, '"a\\u202eb\\u0085c\\u200bd\\u2028"'],
    ['a tag character as its surrogate pair', 'x\u{e0041}', undefined, '"x\\udb40\\udc41"'],
    ['undefined', undefined, undefined, 'null'],
  ];
  it.each(cases)('%s', (_name, value, indent, expected) => {
    const json = jsonText(value, indent);
    expect(json).toBe(expected);
    expect(JSON.parse(json)).toEqual(value === undefined ? null : value);
  });
});

describe('slackText', () => {
  const cases: [string, string, string][] = [
    ['plain text', 'approve shop/production', 'approve shop/production'],
    ['Slack mentions and links cannot be injected', '<!channel> <@U0ALICE> <https://evil|docs>', '&lt;!channel&gt; &lt;@U0ALICE&gt; &lt;https://evil|docs&gt;'],
    ['ampersands are escaped', 'a & b &amp;', 'a &amp; b &amp;amp;'],
    ['controls are escaped', 'x\u001b[1m\u202e', 'x\\u{1b}[1m\\u{202e}'],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(slackText(text)).toBe(expected);
  });
});

describe('markdownText', () => {
  const md = new MarkdownIt('commonmark');
  /** The text of the rendered paragraph(s), code spans marked; HTML would stay visible as tags. */
  const rendered = (markdown: string) => md.render(markdown).replace(/<\/?p>/g, '').replace(/<br \/>/g, '').trim()
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

  const cases: [string, string, string, string][] = [
    // name, plain text, markdown, what a reader sees (code spans as <code>)
    ['plain text is unchanged', '✓ approve of shop/production (group 2) by frank via github', '✓ approve of shop/production (group 2) by frank via github', '✓ approve of shop/production (group 2) by frank via github'],
    ['a mention is put in a code span', 'ping @alice please', 'ping `@alice` please', 'ping <code>@alice</code> please'],
    ['a team mention is put in a code span', "unknown command '@acme/sre-team'", "unknown command '`@acme/sre-team`'", "unknown command '<code>@acme/sre-team</code>'"],
    ['HTML is shown, not rendered', 'a <img src=x onerror=y> <!-- hidden -->', 'a \\<img src=x onerror=y\\> \\<!-- hidden --\\>', 'a <img src=x onerror=y> <!-- hidden -->'],
    ['an entity cannot make a mention', '&#64;alice', '\\&#64;alice', '&#64;alice'],
    ['emphasis, links and images are shown as typed', '**bold** _it_ [a](http://x) ![i](y)', '\\*\\*bold\\*\\* \\_it\\_ \\[a\\](http://x) !\\[i\\](y)', '**bold** _it_ [a](http://x) ![i](y)'],
    ['a backtick pair stays a code span', 'Usage: `/gantry help`', 'Usage: `/gantry help`', 'Usage: <code>/gantry help</code>'],
    ['an unpaired backtick is escaped', 'a ` @bob', 'a \\` `@bob`', 'a ` <code>@bob</code>'],
    ['a heading, a quote and a list are not made', '# h1\n> quote\n- item\n1. one\n+ plus', '\\# h1\n\\> quote\n\\- item\n1\\. one\n\\+ plus', '# h1\n> quote\n- item\n1. one\n+ plus'],
    ['no indented code block (two paragraphs)', 'a\n\n    code', 'a\n\ncode', 'a\ncode'],
    ['a line starting with /gantry is not a command', 'x\n/gantry approve shop/production', 'x\n`/gantry` approve shop/production', 'x\n<code>/gantry</code> approve shop/production'],
    ['controls are escaped (the escape shows its backslash)', 'a\u001b[31m', 'a\\\\u{1b}\\[31m', 'a\\u{1b}[31m'],
  ];
  it.each(cases)('%s', (_name, text, markdown, seen) => {
    expect(markdownText(text)).toBe(markdown);
    expect(rendered(markdownText(text))).toBe(seen);
  });
});
