// The live-session WebSocket (docs/protocol.md, version 1): join, dispatch
// server messages, and rejoin with the same token after a network break.

/// Join refusals that no retry can fix.
const FATAL = new Set(['invalid_token', 'wrong_session', 'session_over', 'forbidden', 'unsupported_version']);

/// Close codes after which joining again cannot help (docs/protocol.md,
/// "Close codes"): a refused join, another device, or the end.
const FINAL_CLOSES = new Set([4002, 4003, 4004, 4005, 4006, 4008, 4010, 4011, 4012, 4013]);

/// The claims of a join token, read (not verified: the server does that)
/// to find the session's WebSocket.
export function tokenClaims(token) {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a join token');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
}

export class LiveSession {
  /// `handlers.message(msg)` gets every server message; `handlers.status(s)`
  /// gets 'connecting' | 'open' | 'reconnecting' | 'closed';
  /// `handlers.fatal(code, message)` a refusal that ends the attempt.
  constructor(sessionId, token, handlers) {
    this.sessionId = sessionId;
    this.token = token;
    this.handlers = handlers;
    this.ws = null;
    this.finished = false;
    this.welcomed = false;
    this.retries = 0;
    this.timer = null;
  }

  connect() {
    if (this.finished) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/v1/sessions/${this.sessionId}/ws`);
    this.ws = ws;
    this.welcomed = false;
    this.handlers.status(this.retries ? 'reconnecting' : 'connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'join', version: 1, token: this.token }));
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'welcome') {
        this.welcomed = true;
        this.retries = 0;
        this.handlers.status('open');
      }
      if (msg.type === 'ended') this.finished = true;
      if (msg.type === 'error' && (!this.welcomed && FATAL.has(msg.code))) {
        this.finished = true;
        this.handlers.fatal(msg.code, msg.message);
        return;
      }
      if (msg.type === 'error' && msg.code === 'already_joined' && this.welcomed) {
        this.finished = true;
        this.handlers.fatal('elsewhere', msg.message);
        return;
      }
      this.handlers.message(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      if (FINAL_CLOSES.has(ev.code)) this.finished = true;
      if (this.finished) {
        this.handlers.status('closed');
        return;
      }
      // A network break: join again with the same token, backing off to 5 s.
      this.retries += 1;
      this.handlers.status('reconnecting');
      const delay = Math.min(5000, 500 * 2 ** Math.min(this.retries - 1, 4));
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /// Leaves for good: `leave`, then close.
  leave() {
    this.send({ type: 'leave' });
    this.finished = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }
}
