#!/usr/bin/env python3
"""Probe: drive headless Firefox ESR over WebDriver BiDi (no geckodriver).

Needs: firefox-esr (Debian), Python 3 with `websockets` (>= 13, asyncio API).
  python3 -m venv /tmp/bidi-venv && /tmp/bidi-venv/bin/pip install websockets
  /tmp/bidi-venv/bin/python testing/firefox-notes/bidi_probe.py [--out DIR]

What it does (each step timed, every BiDi message logged to OUT/bidi.log):
  1. fresh profile dir + user.js (signaling/tests/browser/firefox/user.js), start Firefox with
     --headless --remote-debugging-port=0 --profile DIR --no-remote, parse
     "WebDriver BiDi listening on ws://127.0.0.1:PORT" from stderr
  2. python -m http.server on 127.0.0.1 serving this folder
  3. ws://127.0.0.1:PORT/session -> session.new, browsingContext.getTree,
     setViewport, navigate(wait=complete), script.evaluate (value
     serialization samples), runLoopback() (two RTCPeerConnections, fake
     media), captureScreenshot, browsingContext.create, browser.close
  4. writes OUT/report.json (stats, SDP, timings) and OUT/screenshot.png
Firefox and http.server are started in their own process groups and killed
by pgid at the end, whatever happens.
Options: --media-ms N (media time before getStats), --end session.end (then
Firefox keeps running and is killed), --all-candidates (do not strip
non-127.0.0.1 candidates), --pref NAME=JSONVALUE (extra user_pref),
--wrap 'strace -f -e trace=connect,sendto -o F' (prefix the Firefox command).
"""
import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
LISTEN_RE = re.compile(rb"WebDriver BiDi listening on (ws://[0-9.]+:(\d+))")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kill_group(proc, name):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except Exception:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    print(f"[cleanup] {name} pid {proc.pid} ended rc={proc.returncode}")


class Bidi:
    """Minimal BiDi client: commands get ids, events are queued."""

    def __init__(self, ws, log):
        self.ws, self.log, self.next_id = ws, log, 1
        self.pending, self.events = {}, asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            self.log.write("<< " + (raw if len(raw) < 4000 else raw[:4000] + "...(truncated)") + "\n")
            if msg.get("type") == "event":
                await self.events.put(msg)
            elif "id" in msg and msg["id"] in self.pending:
                self.pending.pop(msg["id"]).set_result(msg)
            else:
                print("unmatched message:", raw[:500])

    async def cmd(self, method, params=None, timeout=60):
        mid = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        text = json.dumps({"id": mid, "method": method, "params": params or {}})
        self.log.write(">> " + text + "\n")
        await self.ws.send(text)
        msg = await asyncio.wait_for(fut, timeout)
        if msg.get("type") != "success":
            raise RuntimeError(f"{method} failed: {json.dumps(msg)[:1000]}")
        return msg["result"]


async def drive(ws_url, http_port, out, args, t_spawn):
    times = {}
    log = open(os.path.join(out, "bidi.log"), "w")
    t = time.monotonic()
    async with connect(ws_url + "/session", max_size=None, open_timeout=10) as ws:
        times["ws_connect_s"] = time.monotonic() - t
        b = Bidi(ws, log)
        # session.status is allowed before session.new (static command)
        status = await b.cmd("session.status", {})
        print("session.status ->", json.dumps(status))
        t = time.monotonic()
        sess = await b.cmd("session.new", {"capabilities": {"alwaysMatch": {
            "acceptInsecureCerts": True,
            "unhandledPromptBehavior": {"default": "dismiss"},
        }}})
        times["session_new_s"] = time.monotonic() - t
        times["spawn_to_session_ready_s"] = time.monotonic() - t_spawn
        print("session.new ->", json.dumps(sess)[:600])
        await b.cmd("session.subscribe", {"events": ["log.entryAdded"]})

        try:  # what an error response looks like
            await b.cmd("browsingContext.navigate", {"context": "nope", "url": "about:blank"})
        except RuntimeError as e:
            print("error sample ->", str(e)[:400])
        tree = await b.cmd("browsingContext.getTree", {"maxDepth": 0})
        print("getTree ->", json.dumps(tree))
        ctx = tree["contexts"][0]["context"]

        await b.cmd("browsingContext.setViewport",
                    {"context": ctx, "viewport": {"width": 800, "height": 600}, "devicePixelRatio": 1})

        url = f"http://127.0.0.1:{http_port}/loopback.html"
        t = time.monotonic()
        nav = await b.cmd("browsingContext.navigate", {"context": ctx, "url": url, "wait": "complete"})
        times["navigate_s"] = time.monotonic() - t
        print("navigate ->", json.dumps(nav))

        samples = {}
        for expr in ["1+2", "0.5", "'str'", "true", "null", "undefined", "NaN", "-0",
                     "10n", "[1,'a']", "({a:1,b:'x'})", "new Map([['k',1]])",
                     "({a:{b:{c:1}}})", "Promise.resolve(42)", "new Date(0)", "document.title"]:
            r = await b.cmd("script.evaluate", {
                "expression": expr, "target": {"context": ctx},
                "awaitPromise": True, "resultOwnership": "none"})
            samples[expr] = r
        r = await b.cmd("script.evaluate", {
            "expression": "Promise.resolve(42)", "target": {"context": ctx},
            "awaitPromise": False})
        samples["Promise.resolve(42) awaitPromise:false"] = r
        r = await b.cmd("script.evaluate", {
            "expression": "(async () => { throw new Error('boom') })()",
            "target": {"context": ctx}, "awaitPromise": True})
        samples["throw"] = r  # NB: type "success" with result.type "exception"
        r = await b.cmd("script.callFunction", {
            "functionDeclaration": "(a, b) => a * b",
            "arguments": [{"type": "number", "value": 6}, {"type": "number", "value": 7}],
            "target": {"context": ctx}, "awaitPromise": True})
        samples["callFunction 6*7"] = r
        with open(os.path.join(out, "serialization.json"), "w") as f:
            json.dump(samples, f, indent=1)
        for k, v in samples.items():
            print(f"  eval {k!r:28} -> {json.dumps(v['result'] if 'result' in v else v)[:200]}")

        t = time.monotonic()
        r = await b.cmd("script.evaluate", {
            "expression": f"runLoopback({args.media_ms}, {'false' if args.all_candidates else 'true'})", "target": {"context": ctx},
            "awaitPromise": True, "resultOwnership": "none"}, timeout=120)
        times["run_loopback_s"] = time.monotonic() - t
        if r["type"] == "exception":
            raise RuntimeError("runLoopback threw: " + json.dumps(r["exceptionDetails"])[:2000])
        report = json.loads(r["result"]["value"])

        t = time.monotonic()
        shot = await b.cmd("browsingContext.captureScreenshot", {"context": ctx, "origin": "viewport"})
        times["screenshot_s"] = time.monotonic() - t
        with open(os.path.join(out, "screenshot.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))

        newtab = await b.cmd("browsingContext.create", {"type": "tab", "background": True})
        print("create ->", json.dumps(newtab))
        await b.cmd("browsingContext.close", {"context": newtab["context"]})

        # console messages that came as log.entryAdded events
        logs = []
        while not b.events.empty():
            logs.append((await b.events.get())["params"])
        report["consoleEvents"] = logs

        t = time.monotonic()
        if args.end == "browser.close":
            await b.cmd("browser.close", {})
        else:
            await b.cmd("session.end", {})
        times["close_cmd_s"] = time.monotonic() - t
        try:
            await asyncio.wait_for(b.reader, 10)
        except Exception as e:
            print("reader after close:", repr(e))
    log.close()
    report["times"] = times
    return report


def summarize(report):
    print("\n== userAgent:", report["userAgent"])
    print("== tracks:", json.dumps(report["tracks"]))
    print("== offer candidates:")
    for c in report["offerCandidates"]:
        print("   ", c)
    print("== offer m= / rtpmap lines:")
    for l in report["offerSdp"].split("\r\n"):
        if l.startswith("m=") or l.startswith("a=rtpmap"):
            print("   ", l)
    print("== connected after ms:", round(report["connectedMs"]))
    print("== remote <video>:", report["remoteVideo"])
    for side in ("receiverStats", "senderStats"):
        for s in report[side]:
            if s["type"] in ("inbound-rtp", "outbound-rtp", "remote-inbound-rtp", "remote-outbound-rtp"):
                print(f"== {side} {s['type']} {s.get('kind')}:")
                for k in sorted(s):
                    print(f"     {k} = {s[k]}")
    pairs = [s for s in report["receiverStats"] if s["type"] == "candidate-pair" and s.get("nominated")]
    print("== nominated pair(s) on receiver:", json.dumps(pairs)[:800])
    print("== times:", json.dumps({k: round(v, 3) for k, v in report["times"].items()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--firefox", default=shutil.which("firefox-esr") or "firefox-esr")
    ap.add_argument("--out", default="/tmp/bidi-probe-out")
    ap.add_argument("--media-ms", type=int, default=5000)
    ap.add_argument("--end", choices=["browser.close", "session.end"], default="browser.close")
    ap.add_argument("--no-userjs", action="store_true", help="start without our user.js")
    ap.add_argument("--pref", action="append", default=[],
                    help="extra user_pref line: NAME=JSONVALUE, e.g. media.peerconnection.ice.force_interface='\"lo\"'")
    ap.add_argument("--all-candidates", action="store_true",
                    help="do not strip non-127.0.0.1 candidates from the SDP handed to the other peer")
    ap.add_argument("--wrap", default="", help="prefix command, e.g. 'strace -f -e trace=connect -o F'")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    profile = tempfile.mkdtemp(prefix="ff-bidi-profile-")
    if not args.no_userjs:
        shutil.copy(os.path.join(HERE, "..", "..", "signaling", "tests", "browser", "firefox", "user.js"),
                    os.path.join(profile, "user.js"))
    with open(os.path.join(profile, "user.js"), "a") as f:
        for p in args.pref:
            name, val = p.split("=", 1)
            f.write(f'user_pref("{name}", {val});\n')

    http_port = free_port()
    http = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(http_port), "--bind", "127.0.0.1", "--directory", HERE],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.out, "http.log"), "w"),
        start_new_session=True)
    ff = None
    try:
        # MOZ_DISABLE_NONLOCAL_CONNECTIONS=1: Firefox refuses non-loopback
        # sockets, and (ESR/release) only then honours services.settings.server;
        # without it Firefox resolves firefox.settings.services.mozilla.com at start.
        env = dict(os.environ, MOZ_CRASHREPORTER_DISABLE="1", MOZ_DISABLE_NONLOCAL_CONNECTIONS="1")
        cmd = args.wrap.split() + [args.firefox, "--headless", "--no-remote", "--profile", profile,
                                   "--remote-debugging-port=0", "about:blank"]
        print("spawn:", " ".join(cmd))
        t_spawn = time.monotonic()
        ff = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, start_new_session=True)
        errlog = open(os.path.join(args.out, "firefox.stderr"), "wb")
        ws_url = None
        while True:  # read stderr line by line until the BiDi line
            line = ff.stderr.readline()
            if not line:
                raise RuntimeError("firefox exited before listening, rc=%s" % ff.poll())
            errlog.write(line)
            m = LISTEN_RE.search(line)
            if m:
                ws_url = m.group(1).decode()
                break
        t_listen = time.monotonic() - t_spawn
        print(f"BiDi at {ws_url} after {t_listen:.2f}s")
        # keep draining stderr so Firefox never blocks on a full pipe
        import threading
        def drain():
            for l in ff.stderr:
                errlog.write(l)
                errlog.flush()
        threading.Thread(target=drain, daemon=True).start()
        # The profile also gets WebDriverBiDiServer.json {"ws_host","ws_port"},
        # but it is written asynchronously AFTER the stderr line: poll for it.
        jpath = os.path.join(profile, "WebDriverBiDiServer.json")
        for _ in range(50):
            if os.path.exists(jpath) and os.path.getsize(jpath) > 0:
                with open(jpath) as f:
                    print("WebDriverBiDiServer.json:", f.read().replace("\n", " "))
                break
            time.sleep(0.1)

        report = asyncio.run(drive(ws_url, http_port, args.out, args, t_spawn))
        report["times"]["spawn_to_listening_s"] = t_listen
        t = time.monotonic()
        try:
            ff.wait(timeout=20)
            report["times"]["close_to_exit_s"] = time.monotonic() - t
            report["firefoxExitCode"] = ff.returncode
        except subprocess.TimeoutExpired:
            report["firefoxExitCode"] = "still running 20s after close"
        with open(os.path.join(args.out, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        summarize(report)
        print("firefox exit:", report["firefoxExitCode"])
    finally:
        kill_group(ff, "firefox")
        kill_group(http, "http.server")
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
