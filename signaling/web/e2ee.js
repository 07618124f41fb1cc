// End-to-end encryption of a legal visit's or a consultation's media
// (docs/security.md): this page's ECDH P-256 key pair, its SFrame sender
// key, handed to each other participant wrapped under the key the two
// agree, and the worker (e2ee_worker.js) that seals and opens the frames.
// The server relays public keys and wrapped keys; it never holds a key that
// opens the media.

const b64 = {
  encode: (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  decode: (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
};
const utf8 = new TextEncoder();
/// Time the others get to receive a new sender key before it is used, ms.
const KEY_SWITCH_MS = 400;

function u64(value) {
  const out = new Uint8Array(8);
  let v = BigInt(value);
  for (let i = 7; i >= 0; i -= 1) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

function randomKid() {
  return [...crypto.getRandomValues(new Uint8Array(8))].reduce((v, b) => (v << 8n) | BigInt(b), 0n);
}

export class EndToEnd {
  /// Whether this browser can encrypt media end to end.
  static supported() {
    return typeof RTCRtpScriptTransform === 'function' && !!globalThis.crypto?.subtle;
  }

  /// `send(message)`: to the server. `onChange()`: the state shown changed.
  constructor(sessionId, participantId, send, onChange) {
    this.sessionId = sessionId;
    this.me = participantId;
    this.send = send;
    this.onChange = onChange;
    this.mode = 'off';
    this.worker = new Worker('/web/e2ee_worker.js', { type: 'module' });
    this.worker.onmessage = ({ data }) => this.replies.get(data.id)?.(data.stats);
    this.replies = new Map();
    this.pair = null;
    this.publicKey = null;
    this.announced = false;
    /// participant id -> the public key last wrapped for.
    this.served = new Map();
    /// participant id -> their public key (base64url).
    this.peers = new Map();
    this.withoutKey = [];
    /// KID (decimal string) -> participant id, for others' sender keys.
    this.kids = new Map();
    this.sender = null;
    this.code = '';
    this.attached = new WeakSet();
    this.queue = Promise.resolve();
  }

  /// The server's `e2ee` and `e2ee_sender_key` messages, one at a time
  /// in the order they came.
  handle(msg) {
    if (msg.type === 'e2ee') {
      // At once, before any frame: where sealing is required nothing
      // leaves unsealed, even before the first sender key is ready.
      this.mode = msg.mode;
      this.withoutKey = msg.without_key;
      this.policy();
    }
    const step = msg.type === 'e2ee' ? () => this.update(msg) : () => this.receive(msg);
    this.queue = this.queue.then(step).catch(() => {});
    return this.queue;
  }

  /// A new connection to the server (which forgets this page's key then).
  reconnected() {
    this.announced = false;
    this.served.clear();
  }

  /// Seals this link's outgoing frames and opens its incoming ones.
  attach(pc) {
    for (const t of pc.getTransceivers()) {
      for (const [side, end] of [['send', t.sender], ['receive', t.receiver]]) {
        if (this.attached.has(end) || (side === 'send' && !end.track)) continue;
        const kind = t.receiver.track.kind;
        end.transform = new RTCRtpScriptTransform(this.worker, { side, kind });
        this.attached.add(end);
      }
    }
  }

  /// The server's `e2ee` message.
  async update(msg) {
    this.mode = msg.mode;
    this.withoutKey = msg.without_key;
    const now = new Map(msg.keys.map((k) => [k.participant_id, k.public_key]));
    const gone = [...this.served.keys()].filter((id) => !now.has(id) && !msg.without_key.includes(id));
    for (const id of gone) {
      this.served.delete(id);
      this.worker.postMessage({ type: 'forget', from: id });
    }
    this.peers = now;
    if (this.mode === 'off') {
      this.policy();
      this.code = '';
      this.onChange();
      return;
    }
    if (!this.pair) {
      this.pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
      this.publicKey = b64.encode(new Uint8Array(await crypto.subtle.exportKey('raw', this.pair.publicKey)));
    }
    if (!this.announced) {
      this.announced = true;
      this.send({ type: 'e2ee_key', public_key: this.publicKey });
    }
    // Someone left what this media is for: a new sender key they never get.
    if (!this.sender || gone.length) await this.newSenderKey();
    for (const [id, key] of now) {
      if (this.served.get(id) !== key) await this.serve(id, key);
    }
    this.policy();
    this.code = await this.safetyCode();
    this.onChange();
  }

  /// Another participant's sender key, wrapped for this page.
  async receive(msg) {
    const key = this.peers.get(msg.from);
    if (!key || !this.pair) return;
    let opened;
    try {
      const wrap = await this.wrapKey(msg.from, this.me, key);
      const bytes = b64.decode(msg.wrapped);
      opened = new Uint8Array(await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: wrap.info }, wrap.key, bytes.subarray(12)));
    } catch {
      return;
    }
    if (opened.length !== 24) return;
    const kid = opened.subarray(0, 8).reduce((v, b) => (v << 8n) | BigInt(b), 0n).toString();
    // A KID belongs to one sender: nobody takes over another's.
    if (this.kids.has(kid) && this.kids.get(kid) !== msg.from) return;
    this.kids.set(kid, msg.from);
    this.worker.postMessage({ type: 'receive-key', kid, key: opened.slice(8).buffer, from: msg.from });
  }

  async newSenderKey() {
    this.sender = { kid: randomKid(), key: crypto.getRandomValues(new Uint8Array(16)) };
    this.served.clear();
    this.worker.postMessage({
      type: 'send-key', kid: this.sender.kid.toString(), key: this.sender.key.slice().buffer,
      after: this.peers.size ? KEY_SWITCH_MS : 0,
    });
  }

  /// Sends participant `id` this page's sender key, wrapped for `key`.
  async serve(id, key) {
    const wrap = await this.wrapKey(this.me, id, key);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: wrap.info }, wrap.key,
      Uint8Array.from([...u64(this.sender.kid), ...this.sender.key])));
    this.served.set(id, key);
    this.send({ type: 'e2ee_sender_key', to: id, wrapped: b64.encode(Uint8Array.from([...iv, ...sealed])) });
  }

  /// The AES-GCM key wrapping `from`'s sender key for `to`: HKDF-SHA256
  /// of their ECDH secret, bound to the session and both ids.
  async wrapKey(from, to, peerKey) {
    const peer = await crypto.subtle.importKey('raw', b64.decode(peerKey), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    const secret = await crypto.subtle.deriveBits({ name: 'ECDH', public: peer }, this.pair.privateKey, 256);
    const ikm = await crypto.subtle.importKey('raw', secret, 'HKDF', false, ['deriveKey']);
    const info = utf8.encode(`parley e2ee sender key v1 session ${this.sessionId} from ${from} to ${to}`);
    const key = await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode('parley e2ee'), info }, ikm,
      { name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
    return { key, info };
  }

  /// Seal while the mode says so: always when required; when offered,
  /// only while everyone it covers has a key.
  policy() {
    const encrypt = this.mode === 'required' || (this.mode === 'offered' && this.withoutKey.length === 0);
    this.worker.postMessage({ type: 'policy', encrypt, allowPlain: this.mode !== 'required' });
  }

  /// Whether this page's media is sealed end to end for everyone it reaches.
  get complete() {
    return this.mode !== 'off' && this.withoutKey.length === 0;
  }

  /// Twenty digits both sides read out to each other: the same on every
  /// page only if nobody's public key was swapped on the way.
  async safetyCode() {
    const entries = [[this.me, this.publicKey], ...this.peers].sort((a, b) => a[0] - b[0]);
    const text = `parley e2ee safety code v1\n${entries.map(([id, k]) => `${id}:${k}`).join('\n')}`;
    const digest = new DataView(await crypto.subtle.digest('SHA-256', utf8.encode(text)));
    return [0, 4, 8, 12, 16].map((at) => String(digest.getUint32(at) % 10000).padStart(4, '0')).join(' ');
  }

  /// The worker's counters: frames sealed, opened, failed and plain.
  stats() {
    const id = Math.random();
    return new Promise((resolve) => {
      this.replies.set(id, (s) => { this.replies.delete(id); resolve(s); });
      this.worker.postMessage({ type: 'stats', id });
    });
  }
}
