// The officer console: the sessions of the officer's facility under way now,
// with time left; monitor a social visit (hidden, receive-only) where the
// policy allows; end a social visit with a reason. Every action is decided
// and audited by the server.

import { initLang, languagePicker, t, role, apply } from './i18n.js';
import { syncClock, serverNow, until } from './clock.js';
import { el } from './dom.js';
import { api, alertText, useToken } from './staff_api.js';

const $ = (id) => document.getElementById(id);
let sessions = [];

async function signIn(token) {
  useToken(token);
  try {
    await syncClock();
    const me = await api('GET', '/v1/me');
    sessionStorage.setItem('parley.api', token);
    $('who').textContent = t('signed_in_as', { name: me.name, role: me.role });
    $('live').hidden = false;
    alertText('');
    await refresh();
    // Sessions start and end by themselves: keep the list current.
    clearInterval(signIn.timer);
    signIn.timer = setInterval(() => refresh().catch((e) => alertText(t('refused', { msg: e.message }))), 15000);
  } catch (e) {
    alertText(t('refused', { msg: e.message }));
  }
}

/// Sessions under way now: started, not ended (the server's clock decides).
async function refresh() {
  const now = new Date(serverNow()).toISOString();
  const found = await api('GET', `/v1/sessions?from=${encodeURIComponent(now)}`);
  sessions = found.filter((s) => (s.status === 'live' || s.status === 'scheduled') && Date.parse(s.starts_at) <= serverNow());
  render();
}

function render() {
  $('none').hidden = sessions.length > 0;
  $('sessions').hidden = sessions.length === 0;
  $('sessions').querySelector('tbody').replaceChildren(...sessions.map(row));
}

function row(s) {
  const people = s.participants.filter((p) => p.role !== 'officer').map((p) => `${p.name} (${role(p.role)})`).join(', ');
  const actions = el('td', {});
  if (s.privileged) {
    actions.append(el('span', { text: t('privileged') }));
  } else if (s.kind === 'social_visit') {
    actions.append(el('button', { type: 'button', class: 'primary', 'data-action': 'monitor',
      'aria-label': t('monitor_label', { id: s.id, kind: t(`kind_${s.kind}`) }), text: t('monitor'),
      on: { click: () => monitor(s.id) } }));
    const reasonId = `reason-${s.id}`;
    const input = el('input', { id: reasonId, type: 'text', maxlength: '500' });
    actions.append(el('form', { class: 'reason-form', on: { submit: (ev) => { ev.preventDefault(); end(s.id, input.value); } } },
      el('label', { for: reasonId, text: t('reason') }), input,
      el('button', { type: 'submit', class: 'danger', 'aria-label': t('end_label', { id: s.id }), text: t('end') })));
  }
  return el('tr', { 'data-session': String(s.id), 'data-kind': s.kind },
    el('td', { text: `${t(`kind_${s.kind}`)} #${s.id}` }),
    el('td', { text: people }),
    el('td', { class: 'left', 'data-ends': s.ends_at, text: until(s.ends_at) }),
    actions);
}

/// Asks the server for a monitor's token and opens the session with it.
export async function monitor(id) {
  try {
    const grant = await api('POST', `/v1/sessions/${id}/monitor`, {});
    location.assign(`/join#token=${encodeURIComponent(grant.token)}`);
  } catch (e) {
    alertText(t('refused', { msg: e.message }));
  }
}

async function end(id, reason) {
  if (!reason.trim()) { document.getElementById(`reason-${id}`)?.focus(); return; }
  try {
    await api('POST', `/v1/sessions/${id}/end`, { reason });
    alertText('');
    $('status').textContent = t('ended_ok', { id });
    await refresh();
  } catch (e) {
    alertText(t('refused', { msg: e.message }));
  }
}

function main() {
  initLang();
  languagePicker($('lang'));
  document.addEventListener('parley-lang', () => { apply(document); render(); });
  $('sign-in').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('api-token').value.trim()); });
  $('refresh').addEventListener('click', () => refresh().catch((e) => alertText(t('refused', { msg: e.message }))));
  setInterval(() => document.querySelectorAll('td.left').forEach((td) => { td.textContent = until(td.dataset.ends); }), 1000);
  const saved = sessionStorage.getItem('parley.api');
  if (saved) signIn(saved);
}

// For diagnostics (and the browser tests).
window.parleyOfficer = { monitor };

main();
