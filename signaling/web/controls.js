// Staff controls inside a live session: the judge's and clerk's lobby,
// admit, mute, remove, extend and end; an officer's end of a visit. Each control
// sends one protocol message; the server decides and answers.

import { t, role } from './i18n.js';
import { el } from './dom.js';


/// A reason field and a button that sends `make(reason)` when the reason is not empty.
function reasonForm(id, buttonText, buttonLabel, send) {
  const input = el('input', { id, type: 'text', maxlength: '500', required: '', autocomplete: 'off' });
  const label = el('label', { for: id, text: t('reason') });
  const button = el('button', { type: 'submit', class: 'danger', 'aria-label': buttonLabel, text: buttonText });
  const form = el('form', { class: 'reason-form', on: { submit: (ev) => {
    ev.preventDefault();
    const reason = input.value.trim();
    if (!reason) { input.focus(); return; }
    send(reason);
  } } }, label, input, button);
  return form;
}

/// Replaces `root`'s children with `parts`, keeping what was typed in its
/// fields and which control had focus (rosters change while people type).
function rerender(root, parts) {
  const typed = new Map([...root.querySelectorAll('input[id]')].map((i) => [i.id, i.value]));
  const focused = root.contains(document.activeElement) ? document.activeElement.id : '';
  root.replaceChildren(...parts);
  typed.forEach((value, id) => {
    const input = root.querySelector(`#${CSS.escape(id)}`);
    if (input) input.value = value;
  });
  if (focused) root.querySelector(`#${CSS.escape(focused)}`)?.focus();
}

/// Renders the hearing controls for a judge or clerk into `root`.
export function hearingControls(root, me, roster, send) {
  const lobby = roster.filter((p) => p.state === 'lobby');
  const inside = roster.filter((p) => p.state === 'admitted' && p.participant_id !== me.participant_id);
  const lobbyList = lobby.length
    ? el('ul', { class: 'people', 'data-list': 'lobby' }, ...lobby.map((p) => el('li', { 'data-participant': String(p.participant_id) },
      el('span', { text: `${p.name} · ${role(p.role)}` }),
      el('button', { type: 'button', class: 'primary', 'data-action': 'admit', id: `admit-${p.participant_id}`,
        'aria-label': t('admit_label', { name: p.name, role: role(p.role) }), text: t('admit'),
        on: { click: () => send({ type: 'admit', participant_id: p.participant_id }) } }))))
    : el('p', { text: t('lobby_empty') });
  const insideList = el('ul', { class: 'people', 'data-list': 'admitted' }, ...inside.map((p) => el('li', { 'data-participant': String(p.participant_id) },
    el('span', { text: `${p.name} · ${role(p.role)}${p.muted_audio ? ` · ${t('muted')}` : ''}` }),
    el('button', { type: 'button', 'data-action': 'mute-audio', id: `mute-${p.participant_id}`,
      'aria-pressed': p.muted_audio ? 'true' : 'false',
      'aria-label': t(p.muted_audio ? 'unmute_label' : 'mute_label', { name: p.name, role: role(p.role) }),
      text: t(p.muted_audio ? 'unmute' : 'mute'),
      on: { click: () => send({ type: 'mute', participant_id: p.participant_id, media: 'audio', muted: !p.muted_audio }) } }),
    reasonForm(`remove-${p.participant_id}`, t('remove'), t('remove_label', { name: p.name, role: role(p.role) }),
      (reason) => send({ type: 'remove', participant_id: p.participant_id, reason })))));
  const parts = [el('h2', { text: t('hearing_controls') }), el('h3', { text: t('lobby') }), lobbyList,
    el('h3', { text: t('participants') }), insideList];
  if (me.role === 'judge') {
    const minutes = el('input', { id: 'extend-minutes', type: 'number', min: '1', max: '240', value: '15' });
    parts.push(el('form', { class: 'inline-form', on: { submit: (ev) => {
      ev.preventDefault();
      send({ type: 'extend', minutes: Number(minutes.value) });
    } } }, el('label', { for: 'extend-minutes', text: t('extend_minutes') }), minutes,
    el('button', { type: 'submit', text: t('extend') })));
  }
  parts.push(el('h3', { text: t('end_session') }),
    reasonForm('end-reason', t('end_session'), t('end_session'), (reason) => send({ type: 'end', reason })));
  rerender(root, parts);
}

/// Renders an officer's "end this visit" form into `root`.
export function officerControls(root, send) {
  rerender(root, [el('h2', { text: t('end_visit') }),
    reasonForm('end-reason', t('end_visit'), t('end_visit'), (reason) => send({ type: 'end', reason }))]);
}
