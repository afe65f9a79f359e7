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
  // Instants: the server writes them in the environment's zone (or UTC) and the UTC instant in
  // data-utc; here each also gets the viewer's own local time beside it (title and a small note).
  const localParts = (d, zone) => {
    const f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
    return { day: `${p.weekday} ${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
  };
  const localTimes = () => {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (const el of document.querySelectorAll('time[data-utc]:not([data-local])')) {
      const d = new Date(el.getAttribute('data-utc'));
      if (Number.isNaN(d.getTime())) continue;
      const l = localParts(d, zone);
      const long = `${l.day} ${l.time} ${zone}`;
      el.setAttribute('data-local', long);
      el.title = `your time: ${long}`;
      const shown = el.textContent.trim();
      // Already in the viewer's zone (the text names it), nothing to add.
      if (shown.endsWith(` ${zone}`)) continue;
      const note = document.createElement('span');
      note.className = 'local-time';
      note.textContent = shown.length <= 5 ? ` (${l.time} yours)` : ` (${long})`;
      el.after(note);
    }
    // The week view's day bars: each open or frozen stretch placed by its fraction of the day.
    for (const seg of document.querySelectorAll('.day-bar .seg[data-from]')) {
      const from = Number(seg.dataset.from);
      const to = Number(seg.dataset.to);
      if (!(from >= 0 && to <= 1 && to > from)) continue;
      seg.style.left = `${(from * 100).toFixed(2)}%`;
      seg.style.width = `${((to - from) * 100).toFixed(2)}%`;
    }
  };
  document.addEventListener('DOMContentLoaded', localTimes);
  document.addEventListener('htmx:after:swap', localTimes);
})();
