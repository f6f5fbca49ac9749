// "Your conversations" in settings: export (plain links to GET /api/export, which answers with
// a Content-Disposition file name, so the browser downloads with the session cookie) and
// "Forget me", which asks once more before DELETE /api/me.
//
// After a successful forget the server has cleared the identity cookie; the page drops what it
// keeps in this browser and reloads, starting as a new visitor.

import { api, describeError } from './api.js';

/** Local keys this page writes (settings.js, app.js); a forgotten user leaves none behind. */
function clearLocal() {
  for (const store of [globalThis.localStorage, globalThis.sessionStorage]) {
    try {
      for (const key of Object.keys(store)) if (key.startsWith('ballsy.')) store.removeItem(key);
    } catch { /* storage off */ }
  }
}

export function bindPrivacy(dialog, { beforeForget = () => {} } = {}) {
  const q = (id) => dialog.querySelector(`[data-testid="${id}"]`);
  const ask = q('forget-me');
  const confirm = q('forget-confirm');
  const cancel = q('forget-cancel');
  const go = q('forget-confirm-button');
  const error = q('forget-error');

  const showConfirm = (on) => {
    confirm.hidden = !on;
    ask.hidden = on;
    ask.setAttribute('aria-expanded', String(on));
    error.hidden = true;
    (on ? cancel : ask).focus();
  };
  ask.addEventListener('click', () => showConfirm(true));
  cancel.addEventListener('click', () => showConfirm(false));
  dialog.addEventListener('close', () => {
    confirm.hidden = true;
    ask.hidden = false;
    ask.setAttribute('aria-expanded', 'false');
  });
  go.addEventListener('click', async () => {
    go.disabled = true;
    try {
      beforeForget();
      await api('/api/me', { method: 'DELETE' });
      clearLocal();
      location.reload();
    } catch (e) {
      error.textContent = `Nothing was deleted. ${describeError(e)}`;
      error.hidden = false;
      go.disabled = false;
    }
  });
}
