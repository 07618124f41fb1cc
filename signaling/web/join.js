// The join page: pre-call check, waiting room, call, end. One participant,
// one join token (from the URL fragment), one live session.

import { initLang, languagePicker, t, role, currentLang, apply, preferJurisdiction } from './i18n.js';
import { syncClock, until, clockTime } from './clock.js';
import { LiveSession, tokenClaims } from './live.js';
import { openDevices, MediaLink } from './media.js';
import { hearingControls, officerControls } from './controls.js';
import { el } from './dom.js';
import { Tiles } from './tiles.js';
import { ReviewPanel } from './review.js';
import { EndToEnd } from './e2ee.js';

/// Roles that receive only: they send no audio or video.
const RECEIVE_ONLY = new Set(['observer', 'officer']);
/// Roles that may type captions for everyone (docs/protocol.md, `caption`).
const CAPTIONERS = new Set(['judge', 'clerk', 'interpreter']);
/// Caption lines kept on screen.
const CAPTION_LINES = 5;
const $ = (id) => document.getElementById(id);
const tiles = new Tiles($('tiles'), () => { $('sound').hidden = false; });

const query = new URLSearchParams(location.search);
const state = {
  token: null, claims: null, local: null, live: null, link: null, review: null,
  welcome: null, roster: [], endsAt: null, admitted: false, ended: null, speaker: null,
  // Participants whose video the SFU paused for this connection (weak link).
  videoPaused: new Set(),
  lastOffer: 0, micOn: true, cameraOn: true, screen: null,
  // End-to-end encryption: the keys and worker (null where the browser
  // cannot), and the mode of the last `e2ee` message (null before one).
  e2ee: null, e2eeMode: null,
};

function show(name) {
  state.screen = name;
  document.querySelectorAll('.screen').forEach((s) => { s.hidden = s.id !== `screen-${name}`; });
  // The recording notice is shown from the waiting room on, before any media.
  $('notice').hidden = !(state.welcome && (name === 'waiting' || name === 'call'));
  const heading = document.querySelector(`#screen-${name} h1`);
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function setStatus(text) {
  $('status').textContent = text || '';
  $('status').hidden = !text;
}

function readToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get('token');
  if (token) {
    // Keep the token out of the address bar and history; keep it for a reload.
    sessionStorage.setItem('parley.token', token);
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = sessionStorage.getItem('parley.token');
  }
  return token;
}

// ---- pre-call check ----

async function check() {
  $('check-problem').hidden = true;
  $('retry').hidden = true;
  $('join').disabled = true;
  const receiveOnly = RECEIVE_ONLY.has(state.claims.role);
  let ok = true;
  if (receiveOnly) {
    for (const id of ['check-camera', 'check-microphone']) $(id).textContent = t('not_needed');
  } else if (!state.local) {
    try {
      state.local = await openDevices();
      $('preview').srcObject = state.local;
      $('check-camera').textContent = state.local.getVideoTracks().length ? t('ok') : '—';
      $('check-microphone').textContent = state.local.getAudioTracks().length ? t('ok') : '—';
    } catch (e) {
      ok = false;
      $('check-camera').textContent = t('failed');
      $('check-microphone').textContent = t('failed');
      problem(e.code === 'device_error' ? t('device_error', { msg: e.message }) : t(e.code));
    }
  }
  try {
    const rtt = await syncClock();
    $('check-connection').textContent = `${t('ok')} (${rtt} ms)`;
  } catch {
    ok = false;
    $('check-connection').textContent = t('failed');
    problem(t('offline'));
  }
  if (!ok) { $('retry').hidden = false; return false; }
  $('join').disabled = false;
  return true;
}

function problem(text) {
  $('check-problem').textContent = text;
  $('check-problem').hidden = false;
}

// ---- the live session ----

function join() {
  setStatus(t('connecting'));
  state.live = new LiveSession(state.claims.sid, state.token, {
    status: (s) => {
      if (s === 'reconnecting') setStatus(t('reconnecting'));
      else if (s === 'open') setStatus('');
      if (s === 'reconnecting') dropMedia();
    },
    fatal: (code, message) => {
      dropMedia();
      state.local?.getTracks().forEach((tr) => tr.stop());
      if (code === 'elsewhere') return ended('elsewhere', message);
      // Over, or this person removed: the end screen, where a review can be asked for.
      if (code === 'session_over' || (code === 'forbidden' && /removed/.test(message))) {
        return ended('over', message);
      }
      $('error-text').textContent = message;
      show('error');
    },
    message: onMessage,
  });
  state.live.connect();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'welcome':
      syncClock().catch(() => {});
      state.welcome = msg;
      state.endsAt = msg.ends_at;
      state.e2ee?.reconnected();
      preferJurisdiction(msg.notice.announcements.map(([code]) => code));
      document.dispatchEvent(new CustomEvent('parley-lang'));
      renderNotice();
      renderKind();
      if (msg.state === 'admitted') admitted(); else waiting();
      break;
    case 'admitted':
      syncClock().catch(() => {});
      admitted();
      break;
    case 'roster':
      state.roster = msg.participants;
      renderRoster();
      renderConsultation();
      break;
    case 'warning':
      state.endsAt = msg.ends_at;
      syncClock().catch(() => {});
      showWarning(t('warning', { n: msg.minutes_left, time: clockTime(msg.ends_at, currentLang()) }));
      break;
    case 'time_credited':
      showWarning(t('time_credited', { lost: Math.ceil(msg.seconds / 60) }));
      break;
    case 'extended':
      state.endsAt = msg.ends_at;
      // With lost_seconds: the visit's clock stopped while media was lost.
      showWarning(msg.lost_seconds
        ? t('extended_fair_use', { lost: Math.ceil(msg.lost_seconds / 60), time: clockTime(msg.ends_at, currentLang()) })
        : t('extended', { time: clockTime(msg.ends_at, currentLang()) }));
      tick();
      break;
    case 'answer':
      state.link?.answer(msg.sdp).catch((e) => setStatus(t('error_generic', { msg: e.message })));
      break;
    case 'media_lost':
      setStatus(t('media_reconnecting'));
      startMedia();
      break;
    case 'recording':
      showWarning(t(msg.interrupted ? 'recording_interrupted' : 'recording_resumed'));
      break;
    case 'caption':
      showCaption(msg);
      break;
    case 'observers':
      state.observersAdmitted = msg.admitted;
      showWarning(t(msg.admitted ? 'gallery_opened' : 'gallery_closed'));
      renderControls();
      break;
    case 'consultation':
      renderConsultation();
      break;
    case 'e2ee':
      onE2ee(msg);
      break;
    case 'e2ee_sender_key':
      state.e2ee?.handle(msg);
      break;
    case 'active_speaker':
      state.speaker = msg.participant_id;
      // The people list only: rebuilding the staff controls as the speaker
      // changes would replace a button under the judge's pointer and lose
      // the click.
      renderPeople();
      break;
    case 'video_paused':
      if (msg.paused) state.videoPaused.add(msg.participant_id);
      else state.videoPaused.delete(msg.participant_id);
      labelTiles();
      break;
    case 'ended':
      ended(msg.reason, msg.message);
      break;
    case 'error':
      setStatus(msg.message);
      break;
    default:
      break;
  }
}

function waiting() {
  state.admitted = false;
  renderWaiting();
  show('waiting');
}

function renderWaiting() {
  const w = state.welcome;
  $('waiting-text').textContent = w.kind === 'court_hearing'
    ? t('waiting_hearing')
    : t('waiting_visit', { time: clockTime(w.starts_at, currentLang()) });
}

function admitted() {
  state.admitted = true;
  const captioner = CAPTIONERS.has(state.welcome.role);
  $('captions-form').hidden = !captioner;
  if (captioner) $('captions').hidden = false;
  show('call');
  renderControls();
  renderRoster();
  startMedia();
}

// ---- media ----

function dropMedia() {
  state.link?.close();
  state.link = null;
}

/// A new peer connection and offer: at admission, after `media_lost`, and
/// after a rejoin. The server accepts one offer a second.
async function startMedia() {
  if (!state.admitted || state.ended) return;
  dropMedia();
  const wait = state.lastOffer + 1100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  // A legal visit's media waits for its end-to-end mode (sent right after
  // admission), so that nothing leaves unsealed where it must be sealed.
  if (state.welcome.kind === 'legal_visit') {
    for (let i = 0; i < 30 && state.e2eeMode === null; i += 1) await new Promise((r) => setTimeout(r, 100));
    if (state.e2eeMode === 'required' && !state.e2ee) return;
  }
  const publishes = !RECEIVE_ONLY.has(state.welcome.role) && state.local;
  // Browsers take a frame transform only before the media starts: one goes
  // wherever sealing may come (a legal visit, or a hearing's
  // consultations), passing frames on unsealed until it is told to seal;
  // the video there is VP8, whose sealed frames the packetizers can carry.
  const sealable = ['legal_visit', 'court_hearing'].includes(state.welcome.kind) && endToEnd();
  const link = new MediaLink(publishes ? state.local : null, state.welcome.receive_slots,
    (index, stream) => tiles.attach(index, stream),
    (s) => { if (s === 'connected') setStatus(''); }, !!sealable);
  state.link = link;
  if (sealable) sealable.attach(link.pc);
  tiles.layout(link.slots.length, publishes ? state.local : null);
  labelTiles();
  const sdp = await link.offer();
  if (state.link !== link) return;
  state.lastOffer = Date.now();
  state.live.send({ type: 'offer', sdp });
}

/// The end-to-end keys and worker, made at first use; null where the
/// browser cannot encrypt.
function endToEnd() {
  if (!state.e2ee && EndToEnd.supported()) {
    const w = state.welcome;
    state.e2ee = new EndToEnd(w.session_id, w.participant_id, (m) => state.live.send(m), renderE2ee);
  }
  return state.e2ee;
}

/// The server's `e2ee` message: encryption turns on (a legal visit, a
/// consultation), its people or keys change, or it turns off.
async function onE2ee(msg) {
  state.e2eeMode = msg.mode;
  if (msg.mode !== 'off') endToEnd();
  if (!state.e2ee) {
    if (msg.mode === 'required') {
      dropMedia();
      $('error-text').textContent = t('e2ee_unsupported');
      show('error');
      return;
    }
    renderE2ee();
    return;
  }
  await state.e2ee.handle(msg);
}

function renderE2ee() {
  const box = $('e2ee');
  const mode = state.e2eeMode;
  if (!mode || mode === 'off') { box.hidden = true; box.dataset.state = 'off'; return; }
  const e = state.e2ee;
  let key;
  if (!e) key = 'e2ee_unsupported_offered';
  else if (e.complete && e.code) key = 'e2ee_on';
  else if (mode === 'offered' && e.withoutKey.length) key = 'e2ee_off_peer';
  else key = 'e2ee_waiting';
  box.textContent = t(key, { code: e?.code || '' });
  box.classList.toggle('private', key === 'e2ee_on');
  box.dataset.state = key;
  box.hidden = false;
}

/// Other publishers, in the order the SFU fills receive slots (join order;
/// the roster lists them by participant id, the same order in a booked session).
function publishers() {
  return state.roster.filter((p) => p.state === 'admitted' && !RECEIVE_ONLY.has(p.role)
    && p.participant_id !== state.welcome?.participant_id);
}

function labelTiles() {
  tiles.label(publishers(), state.welcome?.role, state.speaker, state.videoPaused);
}

// ---- rendering ----

function renderNotice() {
  const n = state.welcome.notice;
  const key = n.recorded && n.monitored ? 'recorded_monitored' : n.recorded ? 'recorded' : n.monitored ? 'monitored' : 'private';
  $('notice-text').textContent = t(key);
  $('notice').classList.toggle('private', key === 'private');
  const lang = currentLang();
  const text = n.announcements.find(([l]) => l === lang) || n.announcements[0];
  $('announcement').textContent = text ? text[1] : '';
  $('why-text').textContent = [n.why, '', ...n.announcements.map(([l, s]) => `[${l}] ${s}`)].join('\n');
  if (state.welcome.role === 'officer') $('notice-text').textContent = `${t('monitoring_banner')} ${t(key)}`;
}

function renderKind() {
  $('session-kind').textContent = `${t(`kind_${state.welcome.kind}`)} · ${role(state.welcome.role)}`;
}

function renderRoster() {
  renderPeople();
  renderControls();
}

/// The list of people and the video tiles' labels.
function renderPeople() {
  $('roster').replaceChildren(...state.roster.map((p) => el('li', {
    'data-participant': String(p.participant_id),
    class: p.participant_id === state.speaker ? 'speaking' : '',
  }, el('span', { text: `${p.name} · ${role(p.role)}` }),
  el('span', { class: 'muted', text: ` — ${p.state === 'lobby' ? t('in_lobby') : t('admitted')}${p.participant_id === state.speaker ? `, ${t('speaking')}` : ''}` }),
  ...(p.weak_connection ? [el('span', { class: 'weak-badge', text: t('weak_connection') })] : []))));
  labelTiles();
}

function renderControls() {
  const w = state.welcome;
  if (!w || !state.admitted) return;
  const staff = $('staff');
  const send = (m) => state.live.send(m);
  if (w.kind === 'court_hearing' && (w.role === 'judge' || w.role === 'clerk')) {
    staff.hidden = false;
    hearingControls(staff, w, state.roster, send, state.observersAdmitted !== false);
  } else if (w.role === 'officer') {
    staff.hidden = false;
    officerControls(staff, send);
  }
}

/// A participant in a consultation is told so and can return to the hearing.
function renderConsultation() {
  const me = state.roster.find((p) => p.participant_id === state.welcome?.participant_id);
  const box = $('consultation');
  if (!box) return;
  if (me && me.consultation_id != null) {
    const with_ = state.roster.filter((p) => p.consultation_id === me.consultation_id && p.participant_id !== me.participant_id);
    box.replaceChildren(el('p', { text: t('in_consultation', { names: with_.map((p) => p.name).join(', ') }) }),
      el('button', { type: 'button', id: 'return-to-hearing', text: t('return_to_hearing'),
        on: { click: () => state.live.send({ type: 'end_consultation', consultation_id: me.consultation_id }) } }));
    box.hidden = false;
  } else {
    box.hidden = true;
    box.replaceChildren();
  }
}

function showCaption(msg) {
  $('captions').hidden = false;
  const who = state.roster.find((p) => p.participant_id === msg.participant_id);
  const line = el('li', {}, el('span', { class: 'who', text: `${who ? `${who.name} · ` : ''}${role(msg.role)}: ` }), msg.text);
  const view = $('captions-view');
  view.append(line);
  while (view.children.length > CAPTION_LINES) view.firstElementChild.remove();
}

function showWarning(text) {
  $('warning').textContent = text;
  $('warning').hidden = false;
}

function tick() {
  if (state.screen === 'call' && state.endsAt) {
    $('countdown').textContent = until(state.endsAt);
    $('ends-at').textContent = t('ends_at', { time: clockTime(state.endsAt, currentLang()) });
  }
  if (state.screen === 'waiting' && state.welcome && state.welcome.kind !== 'court_hearing') {
    $('starts-in').textContent = t('starts_in', { left: until(state.welcome.starts_at) });
  }
}

function ended(reason, message) {
  state.ended = { reason, message };
  dropMedia();
  state.local?.getTracks().forEach((tr) => tr.stop());
  state.local = null;
  setStatus('');
  renderEnded();
  show('ended');
}

function renderEnded() {
  const { reason, message } = state.ended;
  $('ended-reason').textContent = t(`ended_${reason}`);
  $('ended-reason').dataset.reason = reason;
  $('ended-message').textContent = ['scheduled_end', 'left', 'elsewhere'].includes(reason) ? '' : message;
  $('ended-message').hidden = !$('ended-message').textContent;
  $('rejoin').hidden = reason !== 'left';
  $('back-to-console').hidden = state.claims?.role !== 'officer';
  state.review?.show(reason, state.claims?.role);
}

// ---- controls ----

function renderToggles() {
  $('mute').textContent = state.micOn ? t('mute') : t('unmute');
  $('mute').setAttribute('aria-pressed', String(!state.micOn));
  $('camera').textContent = state.cameraOn ? t('camera_off') : t('camera_on');
  $('camera').setAttribute('aria-pressed', String(!state.cameraOn));
  const receiveOnly = RECEIVE_ONLY.has(state.claims?.role);
  $('mute').hidden = receiveOnly;
  $('camera').hidden = receiveOnly;
}

function wireControls() {
  $('mute').addEventListener('click', () => {
    state.micOn = !state.micOn;
    state.local?.getAudioTracks().forEach((tr) => { tr.enabled = state.micOn; });
    renderToggles();
  });
  $('camera').addEventListener('click', () => {
    state.cameraOn = !state.cameraOn;
    state.local?.getVideoTracks().forEach((tr) => { tr.enabled = state.cameraOn; });
    renderToggles();
  });
  $('sound').addEventListener('click', () => {
    tiles.playAll();
    $('sound').hidden = true;
  });
  $('leave').addEventListener('click', () => {
    state.live?.leave();
    ended('left', '');
  });
  $('rejoin').addEventListener('click', () => { location.reload(); });
  $('retry').addEventListener('click', () => { check(); });
  $('join').addEventListener('click', () => {
    $('join').disabled = true;
    join();
  });
  $('captions-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('captions-input').value.trim();
    if (text && state.live?.send({ type: 'caption', text })) $('captions-input').value = '';
  });
}

// ---- start ----

async function main() {
  initLang();
  languagePicker($('lang'));
  document.addEventListener('parley-lang', () => {
    apply(document);
    renderToggles();
    if (state.welcome) { renderNotice(); renderKind(); }
    if (state.welcome && !state.admitted) renderWaiting();
    tick();
    if (state.admitted) { renderRoster(); renderE2ee(); }
    if (state.ended) renderEnded();
  });
  wireControls();
  renderToggles();
  state.token = readToken();
  try {
    if (!state.token) throw new Error(t('no_token'));
    state.claims = tokenClaims(state.token);
  } catch (e) {
    $('error-text').textContent = state.token ? t('no_token') : e.message;
    show('error');
    return;
  }
  // The detainee's kiosk or tablet: full screen, large controls, no leaving.
  const kiosk = query.get('kiosk') === '1' || state.claims.role === 'detainee';
  document.body.classList.toggle('kiosk', kiosk);
  if (kiosk) {
    $('leave').hidden = true;
    // Full screen at the first touch (browsers allow it only after one);
    // a kiosk browser started in kiosk mode is full screen already.
    document.addEventListener('pointerdown', () => {
      if (!document.fullscreenElement) document.documentElement.requestFullscreen?.().catch(() => {});
    }, { once: true });
  }
  renderToggles();
  setInterval(tick, 500);
  state.review = new ReviewPanel(state.claims.sid, state.token);
  // Someone who asked for a review has nothing more to join: the outcome.
  if (await state.review.load()) return ended('over', '');
  show('check');
  const ready = await check();
  // A kiosk starts by itself at the slot; everyone else presses Join.
  if (ready && kiosk) join();
}

// For diagnostics (and the browser tests): the call's state and media counters.
window.parley = {
  screen: () => state.screen,
  received: () => (state.link ? state.link.received() : Promise.resolve(null)),
  sent: () => (state.link ? state.link.sent() : Promise.resolve(null)),
  connectionState: () => state.link?.pc.connectionState ?? 'none',
  dropConnection: () => { state.live?.ws?.close(); },
  dropMedia: () => { state.link?.pc.close(); },
  videoPaused: () => [...state.videoPaused],
  /// The video codecs this connection offered (rtpmap names, in order).
  videoCodecs: () => {
    const sdp = state.link?.pc.localDescription?.sdp || '';
    const video = sdp.split(/\r\nm=/).filter((m) => m.startsWith('video'));
    return [...new Set(video.flatMap((m) => [...m.matchAll(/a=rtpmap:\d+ ([^/]+)\//g)].map((x) => x[1])))];
  },
  /// End-to-end encryption: the mode, whether it covers everyone, the
  /// safety code, this page's sender KID and the worker's frame counters.
  e2ee: async () => (state.e2ee ? {
    mode: state.e2eeMode, complete: state.e2ee.complete, code: state.e2ee.code,
    kid: state.e2ee.sender ? state.e2ee.sender.kid.toString() : null, ...(await state.e2ee.stats()),
  } : { mode: state.e2eeMode, supported: false }),
};

main();
