// The server's time. Countdowns use it, not the device clock, which on a
// kiosk or a phone may be minutes off.

let offsetMs = 0;

/// Asks `/v1/time` and remembers the difference; returns the round trip in ms.
export async function syncClock() {
  const sent = Date.now();
  const r = await fetch('/v1/time', { cache: 'no-store' });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const body = await r.json();
  const back = Date.now();
  offsetMs = Date.parse(body.now) - (sent + back) / 2;
  return back - sent;
}

export function serverNow() {
  return Date.now() + offsetMs;
}

/// `h:mm:ss` or `m:ss` until `isoTime` (never negative).
export function until(isoTime) {
  let s = Math.max(0, Math.round((Date.parse(isoTime) - serverNow()) / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/// Local wall-clock time of `isoTime`, as the device shows times.
export function clockTime(isoTime, lang) {
  return new Date(Date.parse(isoTime)).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}
