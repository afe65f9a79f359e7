// The console's page shell: one stylesheet, htmx and its SSE extension vendored from node_modules, the
// console's own small script, and no inline script or style (the Content Security Policy forbids both).
// htmx config: no indicator stylesheet (the console has no indicators), and settle delay 0, since the
// settle step copies `style` attributes between swapped elements (htmx.js #startCSSTransitions),
// which style-src 'self' refuses ("Applying inline style…").
import { html, type HtmlValue, type SafeHtml } from './html.js';
import type { Viewer } from './types.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join('; ');

export interface PageOptions {
  title: string;
  viewer?: Viewer;
  /** Which nav entry is current. */
  nav?: 'releases' | 'pipelines' | 'calendar' | 'audit';
  body: HtmlValue;
}

const NAV: readonly { key: NonNullable<PageOptions['nav']>; href: string; label: string }[] = [
  { key: 'releases', href: '/ui', label: 'Releases' },
  { key: 'pipelines', href: '/ui/pipelines', label: 'Pipelines' },
  { key: 'calendar', href: '/ui/calendar', label: 'Windows & trains' },
  { key: 'audit', href: '/ui/audit', label: 'Audit' },
];

export function page(o: PageOptions): SafeHtml {
  const v = o.viewer;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorCSS": false, "defaultSettleDelay": 0}'>
${v ? html`<meta name="csrf-token" content="${v.csrf}">` : ''}
<title>${o.title} · Gantry</title>
<link rel="stylesheet" href="/ui/static/console.css">
<!-- Not deferred: htmx initializes on DOMContentLoaded only when loaded while the document is still
     parsing; deferred, it initializes on a timer that may run before hx-sse registers, and the live view never connects. -->
<script src="/ui/static/htmx.min.js"></script>
<script src="/ui/static/hx-sse.min.js"></script>
<script src="/ui/static/console.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/ui">Gantry</a>
  <nav aria-label="Main">${NAV.map((n) => html`<a href="${n.href}"${n.key === o.nav ? html` aria-current="page"` : ''}>${n.label}</a>`)}</nav>
  ${v ? html`<form class="who" method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${v.csrf}"><span>You are <strong>${v.identity.id}</strong>${v.identity.groups.length ? html` (${v.identity.groups.join(', ')})` : ''}</span>${v.via !== 'proxy' ? html` <button type="submit">Sign out</button>` : ''}</form>` : ''}
</header>
<main id="main">
${o.body}
</main>
</body>
</html>`;
}
