// The video grid: one tile per receive slot (another participant's audio
// and video) and one for the person's own camera, each labelled with a name
// and a role.

import { t, role } from './i18n.js';
import { el } from './dom.js';

export class Tiles {
  /// `onSoundBlocked()` is called when the browser will not play sound
  /// without a tap.
  constructor(root, onSoundBlocked) {
    this.root = root;
    this.onSoundBlocked = onSoundBlocked;
  }

  remote(index) {
    let tile = this.root.querySelector(`[data-slot="${index}"]`);
    if (!tile) {
      tile = el('figure', { class: 'tile remote', 'data-slot': String(index) },
        el('video', { autoplay: '', playsinline: '' }), el('audio', { autoplay: '' }),
        el('p', { class: 'video-paused', role: 'status', hidden: '' }),
        el('span', { class: 'weak-badge', hidden: '' }), el('figcaption', {}));
      tile.querySelector('video').muted = true;
      this.root.append(tile);
    }
    return tile;
  }

  /// Shows `stream` (one other publisher's audio and video) in slot `index`.
  attach(index, stream) {
    const tile = this.remote(index);
    tile.querySelector('video').srcObject = stream;
    const audio = tile.querySelector('audio');
    audio.srcObject = stream;
    audio.play().catch(() => this.onSoundBlocked());
  }

  /// Exactly `slots` remote tiles, and a self tile with `local` when the person publishes.
  layout(slots, local) {
    this.root.querySelectorAll('.remote').forEach((tile) => { if (Number(tile.dataset.slot) >= slots) tile.remove(); });
    for (let i = 0; i < slots; i += 1) this.remote(i);
    if (local && !this.root.querySelector('.self')) {
      const self = el('figure', { class: 'tile self', id: 'self' }, el('video', { autoplay: '', playsinline: '' }), el('figcaption', {}));
      self.querySelector('video').muted = true;
      self.querySelector('video').srcObject = local;
      this.root.append(self);
    }
  }

  /// Labels slot n with the n-th of `others` (the SFU fills slots in join
  /// order), the self tile with `selfRole`, marks the `speaker`, and says
  /// so on the tiles whose video is paused (`paused`: participant ids).
  label(others, selfRole, speaker, paused = new Set()) {
    this.root.querySelectorAll('.remote').forEach((tile) => {
      const p = others[Number(tile.dataset.slot)];
      tile.querySelector('figcaption').textContent = p ? `${p.name} · ${role(p.role)}` : t('waiting_for_video');
      tile.classList.toggle('speaking', !!p && p.participant_id === speaker);
      const isPaused = !!p && paused.has(p.participant_id);
      tile.classList.toggle('paused', isPaused);
      const note = tile.querySelector('.video-paused');
      note.hidden = !isPaused;
      note.textContent = isPaused ? t('video_paused_weak') : '';
      // Their connection is weak: the court and staff see why the picture stutters.
      const weak = !!p && !!p.weak_connection;
      const badge = tile.querySelector('.weak-badge');
      badge.hidden = !weak;
      badge.textContent = weak ? t('weak_connection') : '';
    });
    const self = this.root.querySelector('.self figcaption');
    if (self && selfRole) self.textContent = `${t('you')} · ${role(selfRole)}`;
  }

  /// Starts every remote sound (after a tap, when autoplay was blocked).
  playAll() {
    this.root.querySelectorAll('audio').forEach((a) => a.play().catch(() => {}));
  }
}
