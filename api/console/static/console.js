// Gantry console: the little the server cannot do. Every form posts without JS too; this only asks for
// confirmation where a form says what it will do (data-confirm), and ticks countdowns (data-until).
(() => {
  'use strict';
  document.addEventListener('submit', (e) => {
    const form = e.target;
    const msg = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
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
})();
