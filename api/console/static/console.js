// Gantry console: the little the server cannot do. Every form posts without JS too; this only asks for
// confirmation where a form or its button says what it will do (data-confirm), ticks countdowns
// (data-until), shows whether a live region is connected, and keeps what a person typed across swaps.
(() => {
  'use strict';
  document.addEventListener('submit', (e) => {
    const form = e.target;
    const button = e.submitter;
    const msg = (button && button.dataset ? button.dataset.confirm : undefined) ?? (form instanceof HTMLFormElement ? form.dataset.confirm : undefined);
    if (msg && !window.confirm(msg)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  const tick = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-until]')) {
      const ms = Date.parse(el.getAttribute('data-until')) - now;
      if (Number.isNaN(ms)) continue;
      const s = Math.max(0, Math.round(ms / 1000));
      el.textContent = s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
    }
  };
  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', tick);

  // The live indicator of a release page (hx-sse:connect on #live): text first, colour second.
  const indicator = (state, text) => {
    const el = document.getElementById('live-indicator');
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  };
  document.addEventListener('DOMContentLoaded', () => {
    if (document.getElementById('live')) indicator('connecting', 'Connecting to live updates…');
  });
  document.addEventListener('htmx:sse:after:connection', () => indicator('live', 'Live: updates as the release changes.'));
  document.addEventListener('htmx:sse:error', () => indicator('reconnecting', 'Reconnecting… (the page may be out of date)'));
  document.addEventListener('htmx:sse:close', (e) => {
    const reason = e.detail && e.detail.reason;
    if (reason === 'message') indicator('ended', 'The release has ended: this is its final state.');
    else if (reason !== 'removed') indicator('reconnecting', 'Not live: reload for the latest.');
  });
  document.addEventListener('gantry-end-error', () => indicator('reconnecting', 'Reconnecting… (the status could not be read)'));

  // A swap must not throw away a comment being typed, nor close an opened <details>.
  let kept;
  document.addEventListener('htmx:before:swap', () => {
    kept = { values: new Map(), open: new Set(), focus: document.activeElement && document.activeElement.id };
    for (const el of document.querySelectorAll('#live textarea[id], #live input[id]:not([type=hidden])')) kept.values.set(el.id, el.value);
    document.querySelectorAll('#live details').forEach((d, i) => { if (d.open) kept.open.add(i); });
  });
  document.addEventListener('htmx:after:swap', () => {
    if (!kept) return;
    for (const [id, value] of kept.values) { const el = document.getElementById(id); if (el && value) el.value = value; }
    document.querySelectorAll('#live details').forEach((d, i) => { if (kept.open.has(i)) d.open = true; });
    if (kept.focus) { const el = document.getElementById(kept.focus); if (el) el.focus(); }
    kept = undefined;
  });
})();
