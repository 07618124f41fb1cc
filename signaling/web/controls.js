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

/// The court's per-person controls beyond mute and remove: a consultation
/// for a defendant with the admitted counsel (and interpreters), witness
/// protection (judge only).
function courtActions(me, p, roster, send) {
  const actions = [];
  if (p.role === 'defendant' && p.consultation_id == null) {
    const with_ = roster.filter((q) => q.state === 'admitted' && q.consultation_id == null
      && (q.role === 'counsel' || q.role === 'interpreter'));
    if (with_.some((q) => q.role === 'counsel')) {
      actions.push(el('button', { type: 'button', 'data-action': 'consult', id: `consult-${p.participant_id}`,
        'aria-label': t('consult_label', { name: p.name }), text: t('consult'),
        on: { click: () => send({ type: 'consult', participant_ids: [p.participant_id, ...with_.map((q) => q.participant_id)] }) } }));
    }
  }
  if (p.consultation_id != null) {
    actions.push(el('button', { type: 'button', 'data-action': 'recall', id: `recall-${p.participant_id}`,
      'aria-label': t('recall_label', { name: p.name }), text: t('recall'),
      on: { click: () => send({ type: 'end_consultation', consultation_id: p.consultation_id }) } }));
  }
  if (me.role === 'judge' && p.role === 'witness' && !p.protected) {
    const id = `pseudonym-${p.participant_id}`;
    const input = el('input', { id, type: 'text', maxlength: '100', value: t('pseudonym_default'), autocomplete: 'off' });
    const hide = el('input', { id: `${id}-defendant`, type: 'checkbox', checked: '' });
    actions.push(el('form', { class: 'inline-form', 'data-action': 'protect', on: { submit: (ev) => {
      ev.preventDefault();
      const pseudonym = input.value.trim();
      if (!pseudonym) { input.focus(); return; }
      send({ type: 'protect', participant_id: p.participant_id, pseudonym, hide_from_defendant: hide.checked });
    } } }, el('label', { for: id, text: t('pseudonym') }), input,
    el('label', { for: `${id}-defendant`, text: t('hide_from_defendant') }), hide,
    el('button', { type: 'submit', 'aria-label': t('protect_label', { name: p.name }), text: t('protect') })));
  }
  return actions;
}

/// Renders the hearing controls for a judge or clerk into `root`;
/// `observersAdmitted`: the hearing is open to observers.
export function hearingControls(root, me, roster, send, observersAdmitted = true) {
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
    el('span', { text: `${p.name} · ${role(p.role)}${p.muted_audio ? ` · ${t('muted')}` : ''}${p.protected ? ` · ${t('protected')}` : ''}${p.consultation_id != null ? ` · ${t('consulting')}` : ''}` }),
    el('button', { type: 'button', 'data-action': 'mute-audio', id: `mute-${p.participant_id}`,
      'aria-pressed': p.muted_audio ? 'true' : 'false',
      'aria-label': t(p.muted_audio ? 'unmute_label' : 'mute_label', { name: p.name, role: role(p.role) }),
      text: t(p.muted_audio ? 'court_unmute' : 'court_mute'),
      on: { click: () => send({ type: 'mute', participant_id: p.participant_id, media: 'audio', muted: !p.muted_audio }) } }),
    ...courtActions(me, p, roster, send),
    reasonForm(`remove-${p.participant_id}`, t('remove'), t('remove_label', { name: p.name, role: role(p.role) }),
      (reason) => send({ type: 'remove', participant_id: p.participant_id, reason })))));
  const gallery = el('button', { type: 'button', id: 'gallery', 'aria-pressed': observersAdmitted ? 'false' : 'true',
    text: t(observersAdmitted ? 'close_gallery' : 'open_gallery'),
    on: { click: () => send({ type: 'observers', admitted: !observersAdmitted }) } });
  const parts = [el('h2', { text: t('hearing_controls') }), el('h3', { text: t('lobby') }), lobbyList,
    el('h3', { text: t('participants') }), insideList, el('p', {}, gallery)];
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
