// ChatOps commands: the text after `/gantry` in Slack, or a `/gantry …` line in a GitHub comment.
// Pure: parses text into a command or a clear refusal with the usage; the API runs it.
//
// The grammar is strict, and it is all there is (the README's "Chat commands" says the same):
//
//   command  = verb [sep target [sep comment]]          leading and trailing ASCII whitespace ignored
//   verb     = approve|reject|pause|resume|promote|abort|rollback|override|status  (every Action, and status)
//            | help                                     (anything after `help` is ignored)
//   target   = app "/" env                              each a lowercase DNS label: a-z 0-9 '-', at most 63
//   sep      = ASCII spaces and tabs; before the comment also line breaks
//   comment  = free text, at most 2000 characters, may span lines; `status` takes none
//
// Verbs are ASCII words, case-insensitive in ASCII only (`APPROVE` is `approve`; no Unicode case
// folding: `rollbac\u212A`, with a Kelvin sign, is not `rollback`). Only ASCII spaces and tabs separate
// the verb and the target: a no-break space, an em space or any other Unicode space is refused with a
// message naming it, and so is a control or invisible format character in the verb or the target
// (core/text.ts). Refusals echo the input escaped and capped (`echo`): an error never holds a control
// character and never grows with the input. The comment is free text: kept as typed, escaped wherever
// Gantry shows it.
//
// In a GitHub comment only what the rendered comment shows is acted on (`commandInComment`): the
// comment is parsed as CommonMark with GitHub's tables and strikethrough (markdown-it, as GitHub
// renders Markdown), and a command is a line of a top-level paragraph whose source starts with
// `/gantry` (then a space, a tab, or the end of the line). Not a command: anything in a code span, an
// indented or fenced code block (any fence length or character), an HTML block or comment
// (`<!-- … -->`), a block quote (quoting someone's command does not repeat it), a list item (a
// checklist mentioning a command does not run it), a heading or a table; a line that starts with a
// link, emphasis, a code span, a backslash escape or an entity (`\/gantry`, `&#47;gantry`); a line that
// contains inline HTML or an image (part of it may be hidden); a paragraph with a `$$` line (GitHub
// renders it as math); and every paragraph after HTML that leaves an element open (`<details>` hides
// what follows until it is expanded). The command is the visible text of the rest of that line
// (emphasis, strikethrough and link markup dropped, code span contents kept); the first such line
// counts. Comments longer than GitHub allows (65,536 characters) are not read.
import MarkdownIt, { type Token } from 'markdown-it';
import { Action } from './approval.js';
import { controlCharacterIn, echo } from './text.js';

export type ChatVerb = Action | 'status' | 'help';

export interface ChatCommand { verb: ChatVerb; app: string; environment: string; comment?: string }

export type ParsedCommand = { ok: true; command: ChatCommand } | { ok: false; error: string; usage: string };

export const CHAT_VERBS: readonly ChatVerb[] = [...Object.values(Action), 'status', 'help'];
/** Every decision the release workflow takes (core/approval.ts Action), plus status. */
export const CHAT_USAGE = `/gantry ${[...Object.values(Action), 'status'].join('|')} <app>/<env> [comment]`;
/** The longest comment a command may carry. */
export const MAX_COMMENT = 2000;
/** The longest command text parsed at all (a comment of MAX_COMMENT and room for the rest). */
export const MAX_COMMAND = MAX_COMMENT + 200;
/** The longest comment body searched for a command: GitHub's own limit for a comment. */
export const MAX_COMMENT_BODY = 65_536;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function fail(error: string): ParsedCommand {
  return { ok: false, error, usage: CHAT_USAGE };
}

const isSeparator = (c: number) => c === 0x20 || c === 0x09;
const isAsciiSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** ASCII whitespace trimmed from both ends (String.prototype.trim would also take Unicode spaces). */
function trimAscii(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isAsciiSpace(text.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** `U+00A0`: how a code point is named in a message. */
function codePointName(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

// Spaces that are not ASCII space or tab: Unicode Zs (no-break, en/em, ideographic…), and the other
// White_Space characters that are not controls (those are reported as controls).
const unicodeSpace = /[\p{Zs}\u1680\u180e]/u;

/** Why a word (the verb or the target) cannot be one: a control, or a Unicode space inside it. */
function badWord(word: string, what: string): string | undefined {
  const control = controlCharacterIn(word);
  if (control) return `the ${what} ${echo(word)} contains a control character (${control}); type it without`;
  const space = unicodeSpace.exec(word);
  if (space) return `the ${what} ${echo(word)} contains ${codePointName(space[0])}, a Unicode space: words are separated by ASCII spaces or tabs`;
  return undefined;
}

/** ` (it contains U+212A, which is not ASCII)` when a word has a non-ASCII character. */
function nonAsciiNote(word: string): string {
  const m = /[\u0080-\u{10ffff}]/u.exec(word);
  return m ? ` (it contains ${codePointName(m[0])}, which is not ASCII)` : '';
}

/** Parses the words after `/gantry` (the grammar above). Never throws. */
export function parseCommand(text: string): ParsedCommand {
  if (text.length > MAX_COMMAND) return fail(`the command is longer than ${MAX_COMMAND} characters`);
  const t = trimAscii(text);
  if (!t) return fail('no command given');
  let i = 0;
  while (i < t.length && !isAsciiSpace(t.charCodeAt(i))) i++;
  const word = t.slice(0, i);
  const badVerb = badWord(word, 'command');
  if (badVerb) return fail(badVerb);
  const verb = /^[A-Za-z]+$/.test(word) ? word.toLowerCase() : '';
  if (!(CHAT_VERBS as readonly string[]).includes(verb)) return fail(`unknown command ${echo(word)}${nonAsciiNote(word)}`);
  if (verb === 'help') return { ok: true, command: { verb: 'help', app: '', environment: '' } };

  while (i < t.length && isSeparator(t.charCodeAt(i))) i++;
  const start = i;
  while (i < t.length && !isAsciiSpace(t.charCodeAt(i))) i++;
  const target = t.slice(start, i);
  if (!target) return fail(`${verb} needs a release${i < t.length ? ' on the same line' : ''}: <app>/<env>, e.g. shop/production`);
  const badTarget = badWord(target, 'release');
  if (badTarget) return fail(badTarget);
  const parts = target.split('/');
  const [app, environment] = parts;
  if (parts.length !== 2 || !app || !environment) return fail(`${echo(target)} is not <app>/<env> (e.g. shop/production)`);
  if (app.length > 63 || !dnsLabel.test(app)) return fail(`${echo(app)} is not an app name (a lowercase DNS label)${nonAsciiNote(app)}`);
  if (environment.length > 63 || !dnsLabel.test(environment)) return fail(`${echo(environment)} is not an environment name (a lowercase DNS label)${nonAsciiNote(environment)}`);

  const comment = trimAscii(t.slice(i));
  if (comment && verb === 'status') return fail('status takes no comment');
  if (comment.length > MAX_COMMENT) return fail(`the comment is longer than ${MAX_COMMENT} characters`);
  return { ok: true, command: { verb: verb as ChatVerb, app, environment, ...(comment ? { comment } : {}) } };
}

// ---------------------------------------------------------------------------------------------
// Commands in GitHub comments

// CommonMark with raw HTML recognised (so HTML blocks and comments are known as such), with GitHub's
// tables (a `/gantry` line under a table's delimiter row is a table row) and strikethrough; no linkify,
// no typographer. GitHub's other extensions (task lists, autolinks, footnotes) cannot make a line of a
// top-level paragraph start with `/gantry`; its math (`$$` lines) is handled below.
// text_join is off: a backslash escape or an entity stays its own token (text_special), so a line
// whose source does not start with the characters `/gantry` (`\/gantry`, `&#47;gantry`) is no command.
const markdown = new MarkdownIt('commonmark').enable(['table', 'strikethrough']).disable('text_join');

const VOID_ELEMENTS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr', 'keygen']);

/**
 * How many HTML elements are open after `html`, starting with `depth` open. Every `<name` counts as
 * an opening tag and every `</name` as a closing one, whatever follows (so a `>` inside an attribute
 * cannot hide a tag), except void elements; a self-closing `<div/>` opens, as in HTML; comments are
 * skipped. Linear in the length of `html`.
 */
function htmlDepthAfter(html: string, depth: number): number {
  let d = depth;
  let i = html.indexOf('<');
  while (i !== -1) {
    if (html.startsWith('<!--', i)) {
      const end = html.indexOf('-->', i + 4);
      if (end === -1) break;
      i = html.indexOf('<', end + 3);
      continue;
    }
    const m = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)/.exec(html.slice(i, i + 40));
    const name = m?.[2]?.toLowerCase();
    if (m && name && !VOID_ELEMENTS.has(name)) d = m[1] ? Math.max(0, d - 1) : d + 1;
    i = html.indexOf('<', i + 1);
  }
  return d;
}

/** The visible text of one line of a paragraph's inline tokens; undefined when part of it could be hidden. */
function visibleLine(line: readonly Token[]): string | undefined {
  let text = '';
  for (const tok of line) {
    switch (tok.type) {
      case 'text': case 'text_special': case 'code_inline': text += tok.content; break;
      case 'em_open': case 'em_close': case 'strong_open': case 'strong_close': case 's_open': case 's_close': case 'link_open': case 'link_close': break;
      default: return undefined; // inline HTML, images, anything else
    }
  }
  return text;
}

/**
 * The `/gantry …` command in a comment body, as the rendered comment shows it (the rule is in the
 * module comment): the text after `/gantry` on the first visible command line, trimmed. Undefined when
 * there is none, or when the body is longer than GitHub allows a comment to be.
 */
export function commandInComment(body: string): string | undefined {
  if (body.length > MAX_COMMENT_BODY || !body.includes('/gantry')) return undefined;
  const tokens = markdown.parse(body, {});
  let depth = 0;
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.type === 'html_block') { depth = htmlDepthAfter(tok.content, depth); continue; }
    if (tok.type !== 'inline') continue;
    const children = tok.children ?? [];
    let line: Token[] = [];
    const lines: Token[][] = [line];
    for (const child of children) {
      if (child.type === 'softbreak' || child.type === 'hardbreak') { line = []; lines.push(line); } else line.push(child);
    }
    const math = lines.some((l) => l[0]?.type === 'text' && l[0].content.startsWith('$$'));
    const paragraph = tokens[k - 1]?.type === 'paragraph_open' && tokens[k - 1]!.level === 0 && !math;
    for (const l of lines) {
      if (paragraph && depth === 0 && l[0]?.type === 'text' && l[0].content.startsWith('/gantry')) {
        const visible = visibleLine(l);
        const m = visible === undefined ? null : /^\/gantry(?:[ \t]+([\s\S]*))?$/.exec(visible);
        if (m) return trimAscii(m[1] ?? '');
      }
      for (const child of l) if (child.type === 'html_inline') depth = htmlDepthAfter(child.content, depth);
    }
  }
  return undefined;
}
