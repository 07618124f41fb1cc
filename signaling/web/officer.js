// The officer console: the sessions of the officer's facility under way now,
// with time left; monitor a social visit (hidden, receive-only) where the
// policy allows; end a social visit with a reason. Every action is decided
// and audited by the server.

import { t, role } from './i18n.js';
import { syncClock, serverNow, until } from './clock.js';
import { el } from './dom.js';
import { api, attempt, showRefusal, startConsole } from './staff_api.js';

const $ = (id) => document.getElementById(id);
let sessions = [];

/// Signed in: the list now, and again every 15 s (sessions start and end
/// by themselves).
async function ready() {
  await refresh();
  clearInterval(ready.timer);
  ready.timer = setInterval(() => refresh().catch(showRefusal), 15000);
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
  await attempt(() => api('POST', `/v1/sessions/${id}/monitor`, {}),
    (grant) => location.assign(`/join#token=${encodeURIComponent(grant.token)}`));
}

async function end(id, reason) {
  if (!reason.trim()) { document.getElementById(`reason-${id}`)?.focus(); return; }
  await attempt(() => api('POST', `/v1/sessions/${id}/end`, { reason }), async () => {
    $('status').textContent = t('ended_ok', { id });
    await refresh();
  });
}

function main() {
  startConsole({ section: 'live', render, ready, prepare: syncClock });
  $('refresh').addEventListener('click', () => refresh().catch(showRefusal));
  setInterval(() => document.querySelectorAll('td.left').forEach((td) => { td.textContent = until(td.dataset.ends); }), 1000);
}

// For diagnostics (and the browser tests).
window.parleyOfficer = { monitor };

main();
