// The console's one template helper: a tagged template that escapes every interpolated value unless it
// is already SafeHtml (another template's output, or raw() of a constant). Views build pages only with
// it, so a value from a release (a commit message, an app name, a comment) can never become markup.

/** Markup that is already safe (built by html`` or raw()). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string { return this.value; }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for HTML content and (quoted) attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(v));
}

/** html`<p>${text}</p>`: interpolations are escaped; arrays are joined; null, undefined and booleans render nothing. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Trusted markup (constants only; never a value that came from a request or a release). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
