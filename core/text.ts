// Text that came from outside (names, reasons, comments, commit messages, config values) and is shown
// to people: in a terminal, Slack, a GitHub comment, an error message. Pure; table-tested.
//
// - Identifiers (names, ids, targets) must not contain control characters at all: refuse them
//   (`controlCharacterIn` says which, for the error).
// - Free text (reasons, comments, messages) keeps ordinary line breaks and tabs, but C0/C1 controls
//   (ESC starts ANSI sequences), DEL, bidi overrides and isolates, and other invisible format
//   characters are replaced by a visible escape (`\u{202e}`) before it is shown: `displayText`.
// - Every value echoed back (in an error message, a reply) is capped: `echo` quotes it, escapes it
//   and cuts it at `ECHO_LIMIT` characters with a count of what was left out.

/** The most characters of an input echoed back in a message. */
export const ECHO_LIMIT = 80;

// C0 controls except tab and newlines, DEL, C1 controls, and the invisible format characters that
// reorder or hide text: ALM, LRM/RLM, bidi embeddings/overrides/isolates, zero-width joiners and
// spaces, word joiner, the BOM, interlinear annotations and the Unicode tag block.
const unsafeInFreeText = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;
// In identifiers, tabs and line breaks are controls too.
const unsafeInIdentifier = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/;

const codeOf = (ch: string): string => `\\u{${ch.codePointAt(0)!.toString(16)}}`;

/** The first control or invisible format character in an identifier, written as `\u{1b}`; undefined if none. */
export function controlCharacterIn(text: string): string | undefined {
  const m = unsafeInIdentifier.exec(text);
  return m ? codeOf(m[0]) : undefined;
}

/** Free text made safe to show: controls and invisible format characters become visible escapes. */
export function displayText(text: string): string {
  return text.replace(unsafeInFreeText, codeOf);
}

/** Free text made safe to show on one line: also line breaks and tabs become spaces. */
export function displayLine(text: string): string {
  return displayText(text).replace(/[\t\r\n]+/g, ' ');
}

/** Cuts text to `limit` characters (not splitting a surrogate pair), saying how much was left out. */
export function cap(text: string, limit = ECHO_LIMIT): string {
  if (text.length <= limit) return text;
  let cut = limit;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return `${text.slice(0, cut)}… (${text.length - cut} more characters)`;
}

/** An input echoed back in a message: escaped, on one line, capped, and quoted. */
export function echo(value: unknown, limit = ECHO_LIMIT): string {
  const text = typeof value === 'string' ? value : safeJson(value);
  return `'${cap(displayLine(text), limit)}'`;
}

function safeJson(value: unknown): string {
  try {
    // Only the head is ever shown: don't serialize a huge value whole.
    const s = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' && v.length > 4 * ECHO_LIMIT ? v.slice(0, 4 * ECHO_LIMIT) : v));
    return s === undefined ? String(value) : s;
  } catch {
    return String(value);
  }
}
