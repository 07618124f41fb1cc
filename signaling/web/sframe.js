// SFrame (RFC 9605) with the cipher suite AES_128_GCM_SHA256_128 (0x0004),
// on WebCrypto: the header codec, the key and salt derivation, and the
// sealing and opening of one frame. Used by the end-to-end worker
// (e2ee_worker.js); pure, so that the tests can check it against another
// implementation.
//
// A frame is laid out `metadata | header | ciphertext` (the metadata, in
// the clear, is authenticated with the frame: AAD = header | metadata).
// KIDs are BigInts; counters are Numbers below 2^53.

export const CIPHER_SUITE = 0x0004;
const TAG_BITS = 128;
const KEY_BITS = 128;
const NONCE_BYTES = 12;
const utf8 = new TextEncoder();

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/// `value` (a BigInt) as `bytes` big-endian bytes.
function fixed(value, bytes) {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = bytes - 1; i >= 0; i -= 1) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/// The shortest big-endian form of `value` (a BigInt, at least 8).
function shortest(value) {
  const out = [];
  for (let v = value; v > 0n; v >>= 8n) out.unshift(Number(v & 0xffn));
  return Uint8Array.from(out);
}

/// The SFrame header for `kid` and `ctr` (RFC 9605 §4.3): values below 8
/// in the config byte, larger ones after it in their shortest form.
export function encodeHeader(kid, ctr) {
  const k = BigInt(kid);
  const c = BigInt(ctr);
  const kb = k < 8n ? new Uint8Array(0) : shortest(k);
  const cb = c < 8n ? new Uint8Array(0) : shortest(c);
  const config = (k < 8n ? Number(k) << 4 : 0x80 | ((kb.length - 1) << 4))
    | (c < 8n ? Number(c) : 0x08 | (cb.length - 1));
  return concat(Uint8Array.of(config), kb, cb);
}

/// The header at `offset` of `bytes`: `{ kid, ctr, length }` (BigInts and
/// its length in bytes), or null if `bytes` ends inside it.
export function decodeHeader(bytes, offset = 0) {
  if (bytes.length <= offset) return null;
  const config = bytes[offset];
  let at = offset + 1;
  const field = (extended, small) => {
    if (!extended) return BigInt(small);
    const len = small + 1;
    if (at + len > bytes.length) return null;
    let v = 0n;
    for (let i = 0; i < len; i += 1) v = (v << 8n) | BigInt(bytes[at + i]);
    at += len;
    return v;
  };
  const kid = field(config & 0x80, (config >> 4) & 0x07);
  if (kid === null) return null;
  const ctr = field(config & 0x08, config & 0x07);
  if (ctr === null) return null;
  return { kid, ctr, length: at - offset };
}

/// The AES-GCM key and salt of `baseKey` (16 bytes) under `kid` (RFC 9605
/// §4.4.2): HKDF-SHA256 with an empty salt, labelled
/// "SFrame 1.0 Secret key " / "… salt " + KID (8 bytes) + suite (2 bytes).
export async function deriveKeys(kid, baseKey) {
  const ikm = await crypto.subtle.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const info = (name) => concat(utf8.encode(`SFrame 1.0 Secret ${name} `), fixed(kid, 8), fixed(CIPHER_SUITE, 2));
  const expand = (name, bits) => crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: info(name) }, ikm, bits);
  const key = await crypto.subtle.importKey('raw', await expand('key', KEY_BITS), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const salt = new Uint8Array(await expand('salt', NONCE_BYTES * 8));
  return { kid: BigInt(kid), key, salt };
}

/// The nonce for `ctr`: the salt XOR the counter, right-aligned.
function nonce(salt, ctr) {
  const out = Uint8Array.from(salt);
  const c = fixed(ctr, NONCE_BYTES);
  for (let i = 0; i < NONCE_BYTES; i += 1) out[i] ^= c[i];
  return out;
}

/// Seals `plaintext` with counter `ctr` under `keys` (from deriveKeys),
/// `metadata` left in the clear: `metadata | header | ciphertext`.
export async function seal(keys, ctr, metadata, plaintext) {
  const header = encodeHeader(keys.kid, ctr);
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce(keys.salt, ctr), additionalData: concat(header, metadata), tagLength: TAG_BITS },
    keys.key, plaintext);
  return concat(metadata, header, new Uint8Array(sealed));
}

/// Opens the frame `bytes` whose first `clear` bytes are its metadata and
/// whose header is `header` (from decodeHeader at `clear`), under `keys`:
/// the plaintext, or a rejected promise if it was not sealed under them.
export async function open(keys, header, bytes, clear) {
  const metadata = bytes.subarray(0, clear);
  const headerBytes = bytes.subarray(clear, clear + header.length);
  const opened = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: nonce(keys.salt, header.ctr), additionalData: concat(headerBytes, metadata), tagLength: TAG_BITS },
    keys.key, bytes.subarray(clear + header.length));
  return new Uint8Array(opened);
}

/// Bytes of a frame left in the clear: a VP8 frame's payload header (10
/// bytes of a keyframe, 3 of another), which the packetizer, the SFU's
/// keyframe detection and the receiver's depacketizer read; nothing of
/// audio.
export function clearBytes(kind, frameType, length) {
  if (kind !== 'video') return 0;
  return Math.min(frameType === 'key' ? 10 : 3, length);
}
