// The end-to-end worker: seals each outgoing audio and video frame with
// SFrame under this participant's sender key, and opens each incoming one
// under the sender key of whoever sent it (found by its KID). Frames that
// carry no KID it knows are plaintext: passed on unless encryption is
// required. Keys arrive from the page (e2ee.js) and never leave.

import { clearBytes, concat, decodeHeader, deriveKeys, open, seal } from './sframe.js';

/// The key this participant seals with, and its counter.
let sending = null;
/// Sender keys of others, by KID (a decimal string): { keys, from }.
const receiving = new Map();
/// Seal outgoing frames; pass on incoming plaintext.
let policy = { encrypt: false, allowPlain: true };
const stats = {
  framesEncrypted: 0, framesDecrypted: 0, decryptFailures: 0,
  plainSent: 0, plainReceived: 0, plainDropped: 0, heldBack: 0,
};

self.onmessage = async ({ data }) => {
  switch (data.type) {
    case 'send-key': {
      const keys = await deriveKeys(BigInt(data.kid), new Uint8Array(data.key));
      // Use it once the others have had time to get it.
      setTimeout(() => { sending = { keys, ctr: 0 }; }, data.after || 0);
      break;
    }
    case 'receive-key':
      receiving.set(data.kid, { keys: await deriveKeys(BigInt(data.kid), new Uint8Array(data.key)), from: data.from });
      break;
    case 'forget':
      for (const [kid, k] of receiving) if (k.from === data.from && kid !== data.keep) receiving.delete(kid);
      break;
    case 'policy':
      policy = { encrypt: data.encrypt, allowPlain: data.allowPlain };
      break;
    case 'stats':
      self.postMessage({ type: 'stats', id: data.id, stats: { ...stats, encrypting: policy.encrypt && !!sending } });
      break;
    default:
      break;
  }
};

function sealer(kind) {
  return async (frame, controller) => {
    if (!policy.encrypt) {
      if (policy.allowPlain) { stats.plainSent += 1; controller.enqueue(frame); }
      return;
    }
    // Sealing, and the first sender key not in use yet (the others are
    // being given it): nothing leaves unsealed meanwhile.
    if (!sending) { stats.heldBack += 1; return; }
    const bytes = new Uint8Array(frame.data);
    const clear = clearBytes(kind, frame.type, bytes.length);
    const { keys } = sending;
    // The counter moves on before the await: no (key, nonce) twice.
    const ctr = sending.ctr;
    sending.ctr += 1;
    const sealed = await seal(keys, ctr, bytes.subarray(0, clear), bytes.subarray(clear));
    frame.data = sealed.buffer;
    stats.framesEncrypted += 1;
    controller.enqueue(frame);
  };
}

function opener(kind) {
  return async (frame, controller) => {
    const bytes = new Uint8Array(frame.data);
    const clear = clearBytes(kind, frame.type, bytes.length);
    const header = decodeHeader(bytes, clear);
    const sender = header && receiving.get(header.kid.toString());
    if (!sender) {
      if (policy.allowPlain) { stats.plainReceived += 1; controller.enqueue(frame); } else stats.plainDropped += 1;
      return;
    }
    let plaintext;
    try {
      plaintext = await open(sender.keys, header, bytes, clear);
    } catch {
      stats.decryptFailures += 1;
      return;
    }
    // The opened frame is `metadata | plaintext` again.
    frame.data = concat(bytes.subarray(0, clear), plaintext).buffer;
    stats.framesDecrypted += 1;
    controller.enqueue(frame);
  };
}

self.onrtctransform = ({ transformer }) => {
  const { side, kind } = transformer.options;
  const transform = side === 'send' ? sealer(kind) : opener(kind);
  transformer.readable
    .pipeThrough(new TransformStream({ transform }))
    .pipeTo(transformer.writable)
    .catch(() => {});
};
