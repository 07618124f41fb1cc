// Asking for a human review of the decision that ended this person's part
// in a session, and reading its outcome, with their join token
// (docs/reviews.md). The server decides whether there is anything to
// review and says why not; this panel shows what it answers.

import { t, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);

/// End reasons that were someone's decision, and so may be reviewed.
const REVIEWABLE = new Set(['ended_by_staff', 'removed', 'cancelled', 'over']);

export class ReviewPanel {
  constructor(sessionId, token) {
    this.path = `/v1/sessions/${sessionId}/reviews`;
    this.token = token;
    /// The request once made (the API's `Review`), or null.
    this.review = null;
    this.error = '';
    this.askable = false;
    $('review-ask').addEventListener('click', () => {
      $('review-ask').hidden = true;
      $('review-form').hidden = false;
      $('review-statement').focus();
    });
    $('review-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.ask($('review-statement').value);
    });
  }

  async call(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
      // The page waits for this at start: never for long.
      signal: AbortSignal.timeout(5000),
    });
    const json = await r.json().catch(() => ({}));
    return { ok: r.ok, status: r.status, json };
  }

  /// Reads this person's request, if they made one: whether there is one.
  async load() {
    try {
      const r = await this.call('GET', `${this.path}/mine`);
      if (r.ok) this.review = r.json;
    } catch {
      // Offline: the panel offers to ask, and asking says what went wrong.
    }
    return this.review !== null;
  }

  async ask(statement) {
    $('review-send').disabled = true;
    this.error = '';
    try {
      const text = statement.trim();
      const r = await this.call('POST', this.path, { statement: text || null });
      if (r.ok) this.review = r.json;
      else this.error = r.json.message || `HTTP ${r.status}`;
    } catch (e) {
      this.error = e.message;
    }
    $('review-send').disabled = false;
    this.render();
  }

  /// Shows the panel for an end of `reason` seen by `role`.
  show(reason, role) {
    this.askable = REVIEWABLE.has(reason) && role !== 'officer';
    this.render();
  }

  render() {
    const r = this.review;
    $('review').hidden = !r && !this.askable;
    $('review-ask').hidden = Boolean(r) || !$('review-form').hidden;
    if (r) $('review-form').hidden = true;
    const lines = [];
    if (r) {
      const date = new Date(r.requested_at).toLocaleString(currentLang(), {
        dateStyle: 'medium', timeStyle: 'short',
      });
      lines.push(t('review_requested', { date }));
      if (r.outcome) {
        lines.push(t(`review_${r.outcome}`));
        lines.push(r.outcome_reason || '');
        if (r.replacement_available) lines.push(t('review_replacement'));
      }
    }
    if (this.error) lines.push(t('review_failed', { msg: this.error }));
    $('review-status').textContent = lines.filter(Boolean).join('\n');
    $('review-status').hidden = lines.length === 0;
    $('review-status').dataset.outcome = r ? (r.outcome || 'pending') : '';
  }
}
