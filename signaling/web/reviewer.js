// The reviewers' console: the requests for review of the facility's
// decisions that ended someone's contact, each with the session's audit
// trail (rules, times, who, the stated reasons), and the reviewer's
// decision. The server decides who may see and decide what, and audits it.

import { t, currentLang } from './i18n.js';
import { el } from './dom.js';
import { api, attempt, startConsole } from './staff_api.js';

const $ = (id) => document.getElementById(id);
let pending = [];
/// The request open in the file view (`GET /v1/reviews/{id}`).
let file = null;

const when = (iso) => new Date(iso).toLocaleString(currentLang(), { dateStyle: 'medium', timeStyle: 'short' });

async function refresh() {
  pending = await api('GET', '/v1/reviews?pending=true');
  render();
}

function render() {
  $('none').hidden = pending.length > 0;
  $('reviews').hidden = pending.length === 0;
  $('reviews').querySelector('tbody').replaceChildren(...pending.map((r) => el('tr', { 'data-review': String(r.id) },
    el('td', { text: when(r.requested_at) }),
    el('td', { text: `${t(`decision_${r.decision}`)} · ${t('session_n', { id: r.session_id })}` }),
    el('td', { text: r.stated_reason }),
    el('td', {}, el('button', { type: 'button', class: 'primary', 'data-action': 'open',
      'aria-label': t('open_review_label', { id: r.id }), text: t('open_review'),
      on: { click: () => open(r.id) } })))));
  if (file) renderFile();
}

async function open(id) {
  await attempt(() => api('GET', `/v1/reviews/${id}`), (found) => {
    file = found;
    $('decide').reset();
    renderFile();
    $('file').hidden = false;
    $('file-title').focus?.();
  });
}

function renderFile() {
  const { review: r, session: s, audit } = file;
  $('file-title').textContent = t('review_n', { id: r.id });
  $('file-title').tabIndex = -1;
  const who = s.participants.find((p) => p.id === r.participant_id);
  const facts = [
    [t('session_col'), `${t(`kind_${s.kind}`)} #${s.id}, ${when(s.starts_at)} – ${when(s.ends_at)}`],
    [t('asked_by'), who ? `${who.name}` : `#${r.participant_id}`],
    [t('decision_col'), `${t(`decision_${r.decision}`)} (${r.decision_actor}, #${r.decision_seq})`],
    [t('stated_reason'), r.stated_reason],
    [t('their_statement'), r.statement || '—'],
  ];
  if (r.outcome) facts.push([t('outcome'), `${t(`outcome_${r.outcome}`)}: ${r.outcome_reason}`]);
  $('facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  $('trail').querySelector('tbody').replaceChildren(...audit.map((e) => el('tr', { 'data-seq': String(e.seq), class: e.seq === r.decision_seq ? 'questioned' : '' },
    el('td', { text: when(e.at) }),
    el('td', { text: e.actor }),
    el('td', { text: `${e.action} · ${e.decision}` }),
    el('td', { text: e.rules.join(', ') }),
    el('td', { text: e.details === null ? '' : JSON.stringify(e.details) }))));
  $('decide').hidden = Boolean(r.outcome);
}

async function decide(outcome, reason) {
  if (!file) return;
  await attempt(() => api('POST', `/v1/reviews/${file.review.id}/decision`, { outcome, reason }), async (r) => {
    file.review = r;
    $('status').textContent = t('decided_ok', { id: r.id, outcome: t(`outcome_${r.outcome}`) });
    await refresh();
  });
}

function main() {
  startConsole({ section: 'pending', render, ready: refresh });
  $('decide').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const outcome = new FormData($('decide')).get('outcome');
    decide(outcome, $('decide-reason').value.trim());
  });
}

main();
