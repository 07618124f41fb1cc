// What the staff consoles (officer, reviewer) share: signing in with an
// API token (kept for a reload), calls to the API with it, and the alert
// line that shows a refusal.

import { initLang, languagePicker, t, apply } from './i18n.js';

let apiToken = null;

/// Signs calls in as the account of `token` from now on.
export function useToken(token) {
  apiToken = token;
}

/// `method path` with the token and a JSON `body`; the answer's JSON, or an
/// error carrying the server's message.
export async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${apiToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) throw new Error(json?.message || `HTTP ${r.status}`);
  return json;
}

/// Shows `text` in the page's `#alert` line, or hides it when empty.
export function alertText(text) {
  const line = document.getElementById('alert');
  line.textContent = text;
  line.hidden = !text;
}

/// Shows a refused call's message in the alert line.
export function showRefusal(e) {
  alertText(t('refused', { msg: e.message }));
}

/// `call()` (API calls), then `done(its result)` with the alert cleared;
/// a refusal in either is shown in the alert line instead.
export async function attempt(call, done = async () => {}) {
  try {
    const result = await call();
    alertText('');
    await done(result);
  } catch (e) {
    showRefusal(e);
  }
}

/// Starts a staff console: the language picker (`render()` again on a
/// change), the sign-in form (`#sign-in`, `#api-token`) and a token kept
/// from before. Signing in checks the token (`GET /v1/me`, after
/// `prepare()`), keeps it for a reload, names the account in `#who`, shows
/// the element `section` and runs `ready()`.
export function startConsole({ section, render, ready, prepare = async () => {} }) {
  const signIn = (token) => {
    useToken(token);
    return attempt(async () => { await prepare(); return api('GET', '/v1/me'); }, async (me) => {
      sessionStorage.setItem('parley.api', token);
      document.getElementById('who').textContent = t('signed_in_as', { name: me.name, role: me.role });
      document.getElementById(section).hidden = false;
      await ready();
    });
  };
  initLang();
  languagePicker(document.getElementById('lang'));
  document.addEventListener('parley-lang', () => { apply(document); render(); });
  document.getElementById('sign-in').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn(document.getElementById('api-token').value.trim());
  });
  const saved = sessionStorage.getItem('parley.api');
  if (saved) signIn(saved);
}
