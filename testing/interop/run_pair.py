#!/usr/bin/env python3
"""Run two aiortc peers (family and detainee) against one Parley visit.

Gets fresh join tokens over the REST API (docs/api.md) with an API token
(the admin token of a `parley demo`, for instance), optionally books a new
visit starting now first, runs `aiortc_peer.py` twice at once with the same
options, and prints one JSON object: {"session_id", "family", "detainee"},
each the peer's own result. Standard library only; the peers run with the
Python given by --python (the venv that has aiortc).

    run_pair.py --http http://127.0.0.1:18080 --admin-token-file DATA/admin-token \
        --session 1 -- --seconds 30 --send --consent-interval 5

Everything after `--` goes to both peers (`--name` is set per peer).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def api(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")


def book_now(base: str, token: str, detainee: int, device: int, contact: int, minutes: int) -> int:
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=5)
    end = start + dt.timedelta(minutes=minutes)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    booking = api(base, token, "POST", "/v1/bookings", {
        "kind": "social_visit", "detainee_id": detainee, "device_id": device,
        "starts_at": start.strftime(fmt), "ends_at": end.strftime(fmt),
        "visitors": [{"contact_id": contact, "consents_to_recording": False}],
    })
    return int(booking["id"])


async def run_peer(python: str, ws: str, token: str, name: str, extra: list[str]) -> dict:
    cmd = [python, os.path.join(HERE, "aiortc_peer.py"), "--ws", ws, "--token", token,
           "--name", name, *extra]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()  # stderr passes through
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"ok": False, "error": f"no JSON from the peer (exit {proc.returncode})"}
    result["exit_code"] = proc.returncode
    return result


async def amain(args, extra) -> int:
    token = args.admin_token or open(args.admin_token_file).read().strip()
    base = args.http.rstrip("/")
    sid = args.session
    if sid is None:
        sid = book_now(base, token, args.detainee, args.device, args.contact, args.minutes)
        print(f"booked visit {sid}", file=sys.stderr)
    session = api(base, token, "GET", f"/v1/sessions/{sid}")
    by_role = {p["role"]: p["id"] for p in session["participants"]}
    tokens = {}
    for role, name in (("visitor", "family"), ("detainee", "detainee")):
        if role not in by_role:
            raise SystemExit(f"session {sid} has no {role}")
        tokens[name] = api(base, token, "POST",
                           f"/v1/sessions/{sid}/participants/{by_role[role]}/join-token", {})
    ws_base = "ws" + base[len("http"):]
    results = await asyncio.gather(*(
        run_peer(args.python, ws_base + t["ws_path"], t["token"], name, extra)
        for name, t in tokens.items()))
    out = {"session_id": sid, **dict(zip(tokens.keys(), results))}
    print(json.dumps(out))
    return 0 if all(r.get("ok") for r in results) else 1


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--http", required=True, help="Parley's base URL, e.g. http://127.0.0.1:18080")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--admin-token", help="an API token that may issue join tokens")
    g.add_argument("--admin-token-file", help="file holding it (DATA/admin-token)")
    p.add_argument("--session", type=int, default=None,
                   help="visit to join; without it a social visit starting now is booked")
    p.add_argument("--detainee", type=int, default=1, help="for booking (default 1, as `parley demo` makes)")
    p.add_argument("--device", type=int, default=1, help="for booking (default 1)")
    p.add_argument("--contact", type=int, default=1, help="for booking (default 1)")
    p.add_argument("--minutes", type=int, default=30, help="length of a booked visit (default 30)")
    p.add_argument("--python", default=sys.executable,
                   help="Python that has aiortc (default: this one)")
    args = p.parse_args(argv)
    return asyncio.run(amain(args, extra))


if __name__ == "__main__":
    sys.exit(main())
