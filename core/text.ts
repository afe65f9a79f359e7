// Text that came from outside (names, reasons, comments, commit messages, config values) and is shown
// to people: in a terminal, Slack, a GitHub comment, an error message. Pure; table-tested
// (test/core/text.test.ts).
//
// - Identifiers (names, ids, targets) must not contain control characters at all: refuse them
//   (`controlCharacterIn` says which, for the error).
// - Free text (reasons, comments, messages) keeps line feeds and tabs, but every other control
//   character (C0 — ESC starts ANSI sequences —, DEL, C1, a carriage return not followed by a line
//   feed, which lets a terminal overwrite a line), every invisible format character (bidi marks,
//   embeddings, overrides and isolates, zero-width spaces and joiners, the BOM, soft hyphen, the
//   Unicode tag block: Unicode category Cf), line and paragraph separators and lone surrogates are
//   replaced by a visible escape (`\u{202e}`) before it is shown: `displayText`. CR LF becomes LF.
//   The escape is for reading, not for parsing back: a literal `\u{1b}` typed by someone looks the same.
// - Every value echoed back (in an error message, a reply) is capped: `echo` quotes it, escapes it
//   and cuts it at `ECHO_LIMIT` characters with a count of what was left out; it never serializes
//   more of a large value than it shows.
// - Per destination: `slackText` (Slack mrkdwn: also `&`, `<`, `>` escaped, so no `<!channel>` or
//   `<@U…>` mention and no link can be injected) and `markdownText` (GitHub Markdown: renders as the
//   plain text, no HTML, links, emphasis, headings or lists from the input; `@mentions` put in code
//   spans, where GitHub notifies no one; `/gantry` at a line start put in a code span, so a reply is
//   never itself a command).

/** The most characters of an input echoed back in a message. */
export const ECHO_LIMIT = 80;

// Category Cc (C0, DEL, C1), Cf (format: bidi, zero-width, BOM, soft hyphen, tags…), Cs (lone
// surrogates: a pair is one code point under the u flag), Zl/Zp (U+2028/U+2029), plus the reserved
// code points of the bidi and tag blocks (U+2065, U+E0000, U+E0002–E001F), which may be assigned later.
const UNSAFE = String.raw`\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\u2060-\u206f\u{e0000}-\u{e007f}`;
// In identifiers, tabs and line breaks are controls too.
const unsafeInIdentifier = new RegExp(`[${UNSAFE}]`, 'u');
// In free text, tab and line feed are kept (CR LF was turned into LF first).
const unsafeInFreeText = new RegExp(`(?![\\t\\n])[${UNSAFE}]`, 'gu');

/** A code point written as a visible escape: `\u{1b}`. */
export function escapeCodePoint(ch: string): string {
  return `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

/** The first control or invisible format character in an identifier, written as `\u{1b}`; undefined if none. */
export function controlCharacterIn(text: string): string | undefined {
  const m = unsafeInIdentifier.exec(text);
  return m ? escapeCodePoint(m[0]) : undefined;
}

/** Free text made safe to show: controls and invisible format characters become visible escapes. */
export function displayText(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(unsafeInFreeText, escapeCodePoint);
}

/** Free text made safe to show on one line: also line feeds and tabs become spaces. */
export function displayLine(text: string): string {
  return displayText(text).replace(/[\t\n]+/g, ' ');
}

/**
 * Cuts text to `limit` characters (UTF-16 code units), saying how much was left out. Never splits a
 * surrogate pair, and never leaves half of a `\u{…}` escape of `displayText` at the end.
 */
export function cap(text: string, limit = ECHO_LIMIT): string {
  const max = Math.max(0, Math.floor(limit));
  if (text.length <= max) return text;
  let cut = max;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  const partial = /\\(?:u(?:\{[0-9a-f]{0,6})?)?$/.exec(text.slice(Math.max(0, cut - 10), cut));
  if (partial) cut -= partial[0].length;
  return `${text.slice(0, cut)}… (${text.length - cut} more characters)`;
}

/** An input echoed back in a message: escaped, on one line, capped, and quoted. */
export function echo(value: unknown, limit = ECHO_LIMIT): string {
  const text = typeof value === 'string' ? value : preview(value, 4 * Math.max(limit, 1));
  return `'${cap(displayLine(text), limit)}'`;
}

/**
 * A JSON-like rendering of a value, stopping soon after `budget` characters: a huge array or object
 * is never walked whole. Never throws (cycles, throwing getters and proxies, null prototypes).
 */
function preview(value: unknown, budget: number): string {
  const out: string[] = [];
  let used = 0;
  const seen = new Set<object>();
  const put = (s: string) => { out.push(s); used += s.length; };
  const walk = (v: unknown, depth: number): void => {
    if (used > budget) return;
    const type = typeof v;
    switch (type) {
      case 'string': { const s = v as string; put(JSON.stringify(s.length > budget ? s.slice(0, budget) : s)); return; }
      case 'number': case 'boolean': case 'bigint': put(`${v as number | boolean | bigint}${type === 'bigint' ? 'n' : ''}`); return;
      case 'undefined': put('undefined'); return;
      case 'symbol': put((v as symbol).toString()); return;
      case 'function': put('[function]'); return;
      case 'object': break;
      default: { const never: never = type; put(String(never)); return; }
    }
    if (v === null || v === undefined) { put('null'); return; }
    const o: object = v;
    if (seen.has(o) || depth > 8) { put('…'); return; }
    seen.add(o);
    if (Array.isArray(o)) {
      put('[');
      for (let i = 0; i < o.length && used <= budget; i++) { if (i) put(','); walk((o as unknown[])[i], depth + 1); }
      put(']');
    } else {
      put('{');
      let first = true;
      for (const key in o) {
        if (used > budget) break;
        if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
        if (!first) put(',');
        first = false;
        put(`${JSON.stringify(key.length > budget ? key.slice(0, budget) : key)}:`);
        let item: unknown;
        try { item = (o as Record<string, unknown>)[key]; } catch { item = '(unreadable)'; }
        walk(item, depth + 1);
      }
      put('}');
    }
    seen.delete(o);
  };
  try {
    walk(value, 0);
  } catch {
    return '(a value that cannot be shown)';
  }
  return out.join('');
}

/**
 * JSON of a value (as JSON.stringify, with `indent`) that shows safely in a terminal: the characters
 * displayText escapes are written as JSON `\uXXXX` escapes, so the JSON means the same and no raw
 * bidi, C1 or format character reaches the screen (JSON.stringify itself escapes only C0 controls).
 */
export function jsonText(value: unknown, indent?: number): string {
  const json = JSON.stringify(value, null, indent) ?? 'null';
  return json.replace(unsafeInFreeText, (ch) => Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''));
}

/** Free text for a Slack message (mrkdwn or a response): controls escaped, and `&`, `<`, `>` as Slack requires. */
export function slackText(text: string): string {
  return displayText(text).replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

// In markdownText: what GitHub Markdown gives a meaning anywhere in a line (backslash escapes,
// emphasis, strikethrough, links, HTML and autolinks, entities, tables, math); a backtick that does
// not pair up on its line is escaped too.
const MARKDOWN_INLINE = /[\\*_[\]<>&~|$`]/;
const MENTION = /@[A-Za-z0-9][A-Za-z0-9_-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)?/y;
const CODE_SPAN = /`([^`\n]+)`/y;

/**
 * Plain text as GitHub Markdown that renders as that text (controls escaped as in `displayText`):
 * every character Markdown would act on is backslash-escaped, so the input can add no HTML, link,
 * image, emphasis, heading, list, quote, table or code block; a pair of backticks on one line stays a
 * code span (Gantry's replies quote commands that way); every `@name` and `@org/team` is put in a code
 * span, where GitHub notifies no one; a line's leading spaces are dropped (no indented code block);
 * a line starting with `/gantry` gets it in a code span, so the text is never itself a command.
 */
export function markdownText(text: string): string {
  return displayText(text).split('\n').map(markdownLine).join('\n');
}

function markdownLine(raw: string): string {
  const line = raw.replace(/^[ \t]+/, '');
  let out = '';
  let i = 0;
  // Where the last code span written ends: a span right after it is merged into it (two adjacent
  // spans would read as one with a double backtick inside).
  let spanEnd = -1;
  const span = (content: string) => {
    out = spanEnd === out.length ? `${out.slice(0, -1)}${content}\`` : `${out}\`${content}\``;
    spanEnd = out.length;
  };
  // Block syntax at the start of a line: headings, quotes, list items, setext underlines, thematic breaks.
  const ordered = /^(\d{1,9})([.)])/.exec(line);
  if (ordered) { out = `${ordered[1]!}\\${ordered[2]!}`; i = ordered[0].length; }
  else if (/^[#>+=-]/.test(line)) { out = `\\${line[0]!}`; i = 1; }
  else if (/^\/gantry(?![A-Za-z0-9_-])/.test(line)) { span('/gantry'); i = '/gantry'.length; }
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === '`') {
      CODE_SPAN.lastIndex = i;
      const m = CODE_SPAN.exec(line);
      if (m) { span(m[1]!); i += m[0].length; continue; }
    } else if (ch === '@') {
      MENTION.lastIndex = i;
      const m = MENTION.exec(line);
      if (m) { span(m[0]); i += m[0].length; continue; }
    }
    out += MARKDOWN_INLINE.test(ch) ? `\\${ch}` : ch;
    i++;
  }
  return out;
}
