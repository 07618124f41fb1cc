// What the staff consoles (officer, reviewer) share: calls to the API with
// the signed-in account's token, and the alert line that shows a refusal.

let apiToken = null;

/// Signs calls in as the account of `token` from now on.
export function useToken(token) {
  apiToken = token;
}

/// `method path` with the token and a JSON `body`; the answer's JSON, or an
/// error carrying the server's message.
export async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${apiToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) throw new Error(json?.message || `HTTP ${r.status}`);
  return json;
}

/// Shows `text` in the page's `#alert` line, or hides it when empty.
export function alertText(text) {
  const line = document.getElementById('alert');
  line.textContent = text;
  line.hidden = !text;
}
