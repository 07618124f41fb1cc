#!/usr/bin/env python3
"""An independent WebRTC client for Parley, written from the public docs.

It joins a live session over the signaling WebSocket (docs/protocol.md),
offers its media to the SFU with aiortc, holds the call for a while and
measures what it receives, per receive stream:

* RTP packets that arrived, the set of sequence numbers (as ranges), the
  sequence numbers still missing at the end (after any retransmissions),
  stalls (periods with no packet), packets per second;
* NACKs and PLIs aiortc sent for that stream;
* frames that came out of the track (`track.recv()`): decoded video frames,
  audio frames.

One JSON object goes to stdout at the end; logs go to stderr. Exit status:
0 when the call was held for the whole time, 1 otherwise (refused join, no
answer, session ended early, WebSocket closed), 2 on bad arguments. The
JSON is printed in every case where the script got past its arguments.

Options that reach into aiortc/aioice internals (all at runtime, no fork):

* ``--consent-interval S`` sets ``aioice.ice.CONSENT_INTERVAL`` (aioice
  sleeps ``S * uniform(0.8, 1.2)`` between RFC 7675 consent checks) and
  ``--consent-failures N`` sets ``aioice.ice.CONSENT_FAILURES``.
* ``--nack-drop P`` drops P % of the *first* arrivals of video RTP packets
  as the network would, before SRTP decryption (wrapping the receive
  ``pylibsrtp.Session`` aiortc's DTLS transport uses), so aiortc's NACK
  generator asks the SFU for them; a retransmission of a dropped sequence
  number is always let through. (Dropping after decryption would make
  libsrtp's replay protection refuse the retransmission.)
* ``--local-address`` (default 127.0.0.1) replaces
  ``aioice.ice.get_host_addresses`` so the only host candidate is that
  address; no STUN server is configured (aiortc would otherwise default to
  a public one).

And one SDP adaptation: the SFU's answer carries its candidates in the
first (BUNDLE-tag) m-section only, which aiortc 1.16 does not read when the
transceivers are bundled; ``spread_bundle_candidates`` copies them into every
m-section before the answer is applied (``--no-candidate-fix`` skips it).

Requires the packages in requirements.txt beside this file.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import fractions
import json
import logging
import math
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

log = logging.getLogger("aiortc_peer")

# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Join a Parley live session with aiortc and measure received media."
    )
    p.add_argument("--ws", required=True,
                   help="WebSocket URL of the session, e.g. ws://127.0.0.1:8080/v1/sessions/1/ws")
    p.add_argument("--token", required=True, help="join token (JWT) for that session")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="how long to hold the call after the answer was applied (default 30)")
    p.add_argument("--send", action="store_true",
                   help="publish a synthetic audio (tone) and video (moving pattern) track")
    p.add_argument("--consent-interval", type=float, default=None,
                   help="seconds between ICE consent checks (patches aioice.ice.CONSENT_INTERVAL; "
                        "aioice randomizes each wait to 0.8..1.2 times it); default: aioice's own")
    p.add_argument("--consent-failures", type=int, default=None,
                   help="consecutive failed consent checks before aioice closes (CONSENT_FAILURES)")
    p.add_argument("--nack-drop", type=float, default=0.0, metavar="PERCENT",
                   help="drop this share (0-100) of first arrivals of received video RTP packets "
                        "before aiortc sees them, so it sends NACKs")
    p.add_argument("--seed", type=int, default=None, help="random seed for --nack-drop")
    p.add_argument("--ping-interval", type=float, default=10.0,
                   help="seconds between the client's {\"type\":\"ping\"} keepalives (0: none)")
    p.add_argument("--admit-timeout", type=float, default=120.0,
                   help="seconds to wait in the lobby for `admitted` (default 120)")
    p.add_argument("--answer-timeout", type=float, default=20.0,
                   help="seconds to wait for the SFU's answer (default 20)")
    p.add_argument("--reoffer-on-media-lost", action="store_true",
                   help="on `media_lost`, close the peer connection and offer again "
                        "(docs: a new offer restores media)")
    p.add_argument("--local-address", default="127.0.0.1",
                   help="the only local address offered as ICE host candidate "
                        "(default 127.0.0.1; 'all' keeps aioice's interface scan)")
    p.add_argument("--bundle-policy", default="max-bundle",
                   choices=["balanced", "max-compat", "max-bundle"],
                   help="aiortc bundle policy for the offer (default max-bundle)")
    p.add_argument("--no-candidate-fix", action="store_true",
                   help="apply the SFU's answer as is (aiortc 1.16 then finds no remote candidate "
                        "and never connects; see spread_bundle_candidates)")
    p.add_argument("--dump-sdp", metavar="PREFIX", default=None,
                   help="write the offer and answer SDP to PREFIX-offer-N.sdp / PREFIX-answer-N.sdp")
    p.add_argument("--video-size", default="320x240", help="synthetic video WxH (default 320x240)")
    p.add_argument("--fps", type=float, default=15.0, help="synthetic video frame rate (default 15)")
    p.add_argument("--tone-hz", type=float, default=440.0, help="synthetic audio tone (default 440)")
    p.add_argument("--stall-ms", type=float, default=500.0,
                   help="a gap between two packets of a stream longer than this is a stall (default 500)")
    p.add_argument("--name", default=None, help="label put into the JSON result and log lines")
    p.add_argument("--verbose", "-v", action="count", default=0,
                   help="-v: aiortc/aioice INFO logs, -vv: DEBUG")
    args = p.parse_args(argv)
    if not 0.0 <= args.nack_drop <= 100.0:
        p.error("--nack-drop must be between 0 and 100")
    if args.consent_interval is not None and args.consent_interval <= 0:
        p.error("--consent-interval must be positive")
    try:
        w, h = (int(x) for x in args.video_size.lower().split("x"))
        if w < 16 or h < 16 or w % 2 or h % 2:
            raise ValueError
        args.video_w, args.video_h = w, h
    except ValueError:
        p.error("--video-size must be WxH with even sizes >= 16")
    return args


# ---------------------------------------------------------------------------
# Clock
# ---------------------------------------------------------------------------

T0 = time.monotonic()


def now_s() -> float:
    """Seconds since the script started (monotonic)."""
    return time.monotonic() - T0


def r3(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 3)


# ---------------------------------------------------------------------------
# Measurements (filled by the patched aiortc/aioice methods)
# ---------------------------------------------------------------------------


class SeqUnwrapper:
    """16-bit RTP sequence numbers to a monotonic 64-bit space."""

    def __init__(self) -> None:
        self.last: Optional[int] = None

    def unwrap(self, seq: int) -> int:
        if self.last is None:
            self.last = seq + (1 << 16)  # room for early reordering below the first
            return self.last
        cycle_base = self.last & ~0xFFFF
        cand = cycle_base | seq
        # choose the candidate closest to the last value
        if cand - self.last > 0x8000:
            cand -= 1 << 16
        elif self.last - cand > 0x8000:
            cand += 1 << 16
        if cand > self.last:
            self.last = cand
        return cand


def is_keyframe_start(mime: str, payload: bytes) -> bool:
    """Whether an RTP payload starts a keyframe (VP8) or carries an IDR/SPS (H.264)."""
    try:
        if mime == "video/vp8":
            b0 = payload[0]
            i = 1
            if b0 & 0x80:  # X
                x = payload[1]
                i = 2
                if x & 0x80:  # I: picture id, 1 or 2 bytes
                    i += 2 if payload[i] & 0x80 else 1
                if x & 0x40:  # L
                    i += 1
                if x & 0x30:  # T or K
                    i += 1
            start = bool(b0 & 0x10) and (b0 & 0x07) == 0
            return start and (payload[i] & 0x01) == 0
        if mime == "video/h264":
            nal = payload[0] & 0x1F
            if nal in (5, 7):
                return True
            if nal == 24:  # STAP-A
                i = 1
                while i + 2 < len(payload):
                    size = int.from_bytes(payload[i:i + 2], "big")
                    if payload[i + 2] & 0x1F in (5, 7):
                        return True
                    i += 2 + size
            if nal == 28:  # FU-A, start of an IDR
                return bool(payload[1] & 0x80) and (payload[1] & 0x1F) == 5
    except IndexError:
        pass
    return False


@dataclass
class StreamStats:
    kind: str
    arrivals: int = 0            # RTP packets that reached the receiver (before --nack-drop)
    delivered: int = 0           # handed to aiortc (after --nack-drop)
    rtx_packets: int = 0         # resends that came on the RTX stream
    duplicates: int = 0          # a sequence number already delivered
    filled_late: int = 0         # delivered below the highest sequence number (reordered or retransmitted)
    recovered_after_drop: int = 0  # a sequence number we dropped arrived again (a retransmission)
    bytes: int = 0
    ssrcs: set = field(default_factory=set)
    payload_types: set = field(default_factory=set)
    seqs: set = field(default_factory=set)      # unwrapped, delivered
    dropped_seqs: set = field(default_factory=set)
    unwrap: dict = field(default_factory=dict)  # ssrc -> SeqUnwrapper
    max_seq: Optional[int] = None
    arrival_times: list = field(default_factory=list)
    nack_packets: int = 0
    nack_seqs: int = 0
    pli_sent: int = 0
    keyframes: list = field(default_factory=list)  # arrival times of keyframe starts
    nack_times: list = field(default_factory=list)
    pli_times: list = field(default_factory=list)


STREAMS: dict[int, StreamStats] = {}        # id(RTCRtpReceiver) -> stats
SENDERS: dict[int, dict[str, Any]] = {}     # id(RTCRtpSender) -> counters
CONSENT_CHECKS: list[dict[str, Any]] = []   # RFC 7675 checks aioice sent
CONNECTIVITY_CHECKS: list[dict[str, Any]] = []
DROP = {"percent": 0.0, "rng": random.Random()}
# Payload types of video in the applied answer, and the (ssrc, seq) of the
# video packets dropped before decryption and not yet seen again.
VIDEO_PTS: set = set()
DROPPED: set = set()
SEEN_BEFORE_DECRYPT: set = set()
DROP_COUNT: dict = {}  # ssrc -> packets dropped


def install_patches(args: argparse.Namespace) -> dict[str, Any]:
    """Patch aioice/aiortc at runtime; return what was changed."""
    import aioice
    import aioice.ice
    import aiortc
    from aiortc.codecs import is_rtx
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtp import unwrap_rtx
    from aiortc.rtcrtpsender import RTCRtpSender

    info: dict[str, Any] = {
        "aiortc_version": getattr(aiortc, "__version__", "?"),
        "aioice_version": getattr(aioice, "__version__", "?"),
    }

    # --- consent freshness -------------------------------------------------
    for const in ("CONSENT_INTERVAL", "CONSENT_FAILURES"):
        if not hasattr(aioice.ice, const):
            raise SystemExit(f"aioice.ice has no {const}: this aioice version is not supported")
    info["consent_interval_default"] = aioice.ice.CONSENT_INTERVAL
    info["consent_failures_default"] = aioice.ice.CONSENT_FAILURES
    if args.consent_interval is not None:
        aioice.ice.CONSENT_INTERVAL = args.consent_interval
    if args.consent_failures is not None:
        aioice.ice.CONSENT_FAILURES = args.consent_failures
    info["consent_interval"] = aioice.ice.CONSENT_INTERVAL
    info["consent_failures"] = aioice.ice.CONSENT_FAILURES

    # --- host candidates ----------------------------------------------------
    if args.local_address != "all":
        addr = args.local_address
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [addr]
    info["local_address"] = args.local_address

    # --- STUN transactions: tell consent checks from connectivity checks ----
    # aioice sends consent checks with retransmissions=0 and connectivity
    # checks with the default retransmissions (None).
    orig_request = aioice.ice.StunProtocol.request

    async def request(self, request, addr, integrity_key=None, retransmissions=None):
        entry = {"at_s": r3(now_s()), "to": f"{addr[0]}:{addr[1]}"}
        target = CONSENT_CHECKS if retransmissions == 0 else CONNECTIVITY_CHECKS
        target.append(entry)
        t = time.monotonic()
        try:
            res = await orig_request(self, request, addr, integrity_key=integrity_key,
                                     retransmissions=retransmissions)
            entry["ok"] = True
            entry["rtt_ms"] = round((time.monotonic() - t) * 1000, 2)
            return res
        except Exception as exc:  # TransactionError, TransactionTimeout
            entry["ok"] = False
            entry["error"] = type(exc).__name__
            raise

    aioice.ice.StunProtocol.request = request

    # --- receive side: count, optionally drop, record ------------------------
    DROP["percent"] = args.nack_drop
    if args.seed is not None:
        DROP["rng"].seed(args.seed)
    orig_handle_rtp = RTCRtpReceiver._handle_rtp_packet

    async def handle_rtp(self, packet, arrival_time_ms):
        st = STREAMS.get(id(self))
        if st is None:
            st = STREAMS[id(self)] = StreamStats(kind=self._RTCRtpReceiver__kind)
        wire = packet
        st.arrivals += 1
        # A resend on the RTX stream (RFC 4588) counts as the packet it
        # carries, as aiortc itself unwraps it a step later.
        rtx_codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
        if rtx_codec is not None and is_rtx(rtx_codec):
            original_ssrc = self._RTCRtpReceiver__rtx_ssrc.get(packet.ssrc)
            apt = rtx_codec.parameters.get("apt")
            if original_ssrc is not None and isinstance(apt, int) and len(packet.payload) >= 2:
                packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
                st.rtx_packets += 1
        st.ssrcs.add(packet.ssrc)
        st.payload_types.add(packet.payload_type)
        un = st.unwrap.get(packet.ssrc)
        if un is None:
            un = st.unwrap[packet.ssrc] = SeqUnwrapper()
        seq = un.unwrap(packet.sequence_number)
        if (packet.ssrc, packet.sequence_number) in DROPPED:
            # a retransmission of a packet dropped before decryption (the SFU
            # answers NACKs from its send history, on the media SSRC or the
            # RTX stream)
            DROPPED.discard((packet.ssrc, packet.sequence_number))
            st.dropped_seqs.discard(seq)
            st.recovered_after_drop += 1
        st.delivered += 1
        st.bytes += len(packet.payload)
        st.arrival_times.append(now_s())
        if st.kind == "video":
            codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
            if codec is not None and is_keyframe_start(codec.mimeType.lower(), packet.payload):
                st.keyframes.append(now_s())
        if seq in st.seqs:
            st.duplicates += 1
        else:
            st.seqs.add(seq)
            if st.max_seq is not None and seq < st.max_seq:
                st.filled_late += 1
        if st.max_seq is None or seq > st.max_seq:
            st.max_seq = seq
        return await orig_handle_rtp(self, wire, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = handle_rtp

    # Drops happen where the network would lose a packet: before SRTP.
    import pylibsrtp
    import aiortc.rtcdtlstransport as dtls_module

    class LossySession(pylibsrtp.Session):
        def unprotect(self, data):
            if DROP["percent"] > 0 and len(data) >= 12 and (data[1] & 0x7F) in VIDEO_PTS:
                key = (int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big"))
                if key not in SEEN_BEFORE_DECRYPT:
                    SEEN_BEFORE_DECRYPT.add(key)
                    if DROP["rng"].random() * 100.0 < DROP["percent"]:
                        DROPPED.add(key)
                        DROP_COUNT[key[0]] = DROP_COUNT.get(key[0], 0) + 1
                        raise pylibsrtp.Error("dropped by --nack-drop")
            return super().unprotect(data)

    dtls_module.Session = LossySession

    orig_nack = RTCRtpReceiver._send_rtcp_nack

    async def send_nack(self, media_ssrc, lost):
        st = STREAMS.get(id(self))
        if st is not None:
            st.nack_packets += 1
            st.nack_seqs += len(lost)
            st.nack_times.append((now_s(), len(lost)))
        log.debug("NACK ssrc=%s lost=%s", media_ssrc, lost)
        return await orig_nack(self, media_ssrc, lost)

    RTCRtpReceiver._send_rtcp_nack = send_nack

    orig_pli = RTCRtpReceiver._send_rtcp_pli

    async def send_pli(self, media_ssrc):
        st = STREAMS.get(id(self))
        if st is not None:
            st.pli_sent += 1
            st.pli_times.append(now_s())
        return await orig_pli(self, media_ssrc)

    RTCRtpReceiver._send_rtcp_pli = send_pli

    # --- send side: what the SFU asks of us ---------------------------------
    from aiortc.rtp import RTCP_PSFB_PLI, RTCP_PSFB_FIR, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRtpfbPacket

    orig_sender_rtcp = RTCRtpSender._handle_rtcp_packet

    async def sender_rtcp(self, packet):
        c = SENDERS.setdefault(id(self), {"nacks_received": 0, "nack_seqs_received": 0,
                                         "plis_received": 0, "firs_received": 0})
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            c["nacks_received"] += 1
            c["nack_seqs_received"] += len(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            c["plis_received"] += 1
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_FIR:
            c["firs_received"] += 1
        return await orig_sender_rtcp(self, packet)

    RTCRtpSender._handle_rtcp_packet = sender_rtcp
    return info


# ---------------------------------------------------------------------------
# Synthetic media
# ---------------------------------------------------------------------------


class Paced:
    """A track whose frames are due at a fixed pace from the first one asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.start: Optional[float] = None
        self.produced = 0

    async def wait_until(self, due_after: float) -> None:
        """Sleeps until `due_after` seconds after the first frame was asked for."""
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + due_after - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def make_tracks(args: argparse.Namespace):
    import av
    from aiortc import AudioStreamTrack, VideoStreamTrack

    class PatternVideoTrack(Paced, VideoStreamTrack):
        """A moving diagonal pattern at a fixed rate (yuv420p, no numpy needed)."""

        def __init__(self, width: int, height: int, fps: float) -> None:
            super().__init__()
            self.w, self.h, self.fps = width, height, fps

        async def recv(self):
            await self.wait_until(self.count / self.fps)
            n = self.count
            self.count += 1
            frame = av.VideoFrame(self.w, self.h, "yuv420p")
            for i, plane in enumerate(frame.planes):
                ls, rows = plane.line_size, plane.buffer_size // plane.line_size
                if i == 0:
                    base = bytes(x & 0xFF for x in range(ls + 256))
                    buf = b"".join(base[(y + 3 * n) & 0xFF:((y + 3 * n) & 0xFF) + ls]
                                   for y in range(rows))
                else:
                    buf = bytes([(128 + 40 * i + n) & 0xFF]) * (ls * rows)
                plane.update(buf)
            frame.pts = int(n * 90000 / self.fps)
            frame.time_base = fractions.Fraction(1, 90000)
            self.produced += 1
            return frame

    class ToneAudioTrack(Paced, AudioStreamTrack):
        """A sine tone, 20 ms mono s16 frames at 48 kHz."""

        RATE = 48000
        SAMPLES = 960

        def __init__(self, hz: float) -> None:
            super().__init__()
            one_second = array.array(
                "h", (int(8000 * math.sin(2 * math.pi * hz * i / self.RATE)) for i in range(self.RATE))
            )
            self.table = one_second.tobytes()

        async def recv(self):
            await self.wait_until(self.count * self.SAMPLES / self.RATE)
            offset = (self.count * self.SAMPLES) % self.RATE
            frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
            frame.planes[0].update(self.table[offset * 2:(offset + self.SAMPLES) * 2])
            frame.sample_rate = self.RATE
            frame.pts = self.count * self.SAMPLES
            frame.time_base = fractions.Fraction(1, self.RATE)
            self.count += 1
            self.produced += 1
            return frame

    return ToneAudioTrack(args.tone_hz), PatternVideoTrack(args.video_w, args.video_h, args.fps)


# ---------------------------------------------------------------------------
# SDP helpers
# ---------------------------------------------------------------------------


def summarize_sdp(sdp: str) -> dict[str, Any]:
    """What an implementer wants to see of the answer: BUNDLE, ICE, candidates, m-lines."""
    out: dict[str, Any] = {"session": {}, "media": []}
    cur: dict[str, Any] = out["session"]
    cur.update({"candidates": [], "attributes": []})
    for line in sdp.splitlines():
        if line.startswith("m="):
            cur = {"m": line[2:], "mid": None, "direction": None, "codecs": [],
                   "candidates": [], "extmap": [], "attributes": []}
            out["media"].append(cur)
        elif line.startswith("a=candidate:"):
            cur["candidates"].append(line[2:])
        elif line.startswith("a=mid:"):
            cur["mid"] = line[6:]
        elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line.startswith("a="):
            cur["direction"] = line[2:]
        elif line.startswith("a=rtpmap:"):
            cur.setdefault("codecs", []).append(line[9:])
        elif line.startswith("a=extmap:"):
            cur.setdefault("extmap", []).append(line[9:])
        elif line.startswith("a=") and line.split(":")[0][2:] in (
                "group", "ice-lite", "ice-ufrag", "ice-options", "setup", "rtcp-mux",
                "end-of-candidates", "fingerprint"):
            cur["attributes"].append(line[2:] if not line.startswith("a=fingerprint") else "fingerprint")
    out["ice_lite"] = "ice-lite" in " ".join(out["session"]["attributes"]) or any(
        "ice-lite" in a for m in out["media"] for a in m["attributes"])
    groups = [a for a in out["session"]["attributes"] if a.startswith("group:")]
    out["bundle"] = groups[0] if groups else None
    out["candidates_where"] = (["session"] if out["session"]["candidates"] else []) + [
        f"m{i}" for i, m in enumerate(out["media"]) if m["candidates"]]
    out["end_of_candidates"] = "a=end-of-candidates" in sdp
    return out


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------


def spread_bundle_candidates(sdp: str) -> tuple[str, int]:
    """Copy the candidates of the answer's first m-section with candidates into
    every m-section that has none.

    Parley's answer puts its candidates only in the BUNDLE-tag m-section (as
    RFC 8843 allows), but aiortc 1.16, once the transceivers share one
    transport, takes the remote candidates from the *last* m-section that
    uses it, finds none and never starts a connectivity check. Returns the
    new SDP and how many m-sections were given candidates.
    """
    eol = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(eol)
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    cand = []
    for sec in sections[1:]:
        cand = [l for l in sec if l.startswith("a=candidate:") or l == "a=end-of-candidates"]
        if cand:
            break
    if not cand:
        return sdp, 0
    fixed = 0
    for sec in sections[1:]:
        if not any(l.startswith("a=candidate:") for l in sec):
            # keep a trailing empty line (the SDP's final CRLF) at the end
            at = len(sec)
            while at > 0 and sec[at - 1] == "":
                at -= 1
            sec[at:at] = cand
            fixed += 1
    return eol.join(l for sec in sections for l in sec), fixed


class SessionError(Exception):
    """Signaling refused us or the call could not be set up."""


class Peer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws = None
        self.welcome: Optional[dict] = None
        self.admitted = asyncio.Event()
        self.answer_q: asyncio.Queue = asyncio.Queue()
        self.ended: Optional[dict] = None
        self.ended_ev = asyncio.Event()
        self.media_lost_ev = asyncio.Event()
        self.msg_counts: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []     # signaling timeline (trimmed)
        self.errors: list[dict[str, Any]] = []
        self.media_lost: list[float] = []
        self.rosters: list[dict] = []
        self.pings_sent = 0
        self.pongs = 0
        self.legs: list[dict[str, Any]] = []       # one per peer connection (offer/answer)
        self.tasks: list[asyncio.Task] = []
        self.frame_tasks: list[asyncio.Task] = []
        self.audio_track = None
        self.video_track = None
        self.hold_started: Optional[float] = None
        self.hold_ended: Optional[float] = None
        self.ws_closed_early = False

    # --- signaling ---------------------------------------------------------

    async def send(self, msg: dict) -> None:
        await self.ws.send(json.dumps(msg))

    def note(self, what: str, **kw) -> None:
        e = {"at_s": r3(now_s()), "event": what, **kw}
        self.events.append(e)
        log.info("%s %s", what, kw if kw else "")

    async def reader(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.note("binary_frame", size=len(raw))
                    continue
                msg = json.loads(raw)
                t = msg.get("type", "?")
                self.msg_counts[t] = self.msg_counts.get(t, 0) + 1
                if t == "pong":
                    self.pongs += 1
                elif t == "ping":
                    # Not part of protocol v1 (clients ping, the server pongs);
                    # answered anyway in case a server ever sends one.
                    await self.send({"type": "pong"})
                elif t == "admitted":
                    self.note("admitted")
                    self.admitted.set()
                elif t == "roster":
                    self.rosters.append({"at_s": r3(now_s()), "participants": msg.get("participants")})
                    log.info("roster: %s", [(p.get("participant_id"), p.get("role"), p.get("state"))
                                            for p in msg.get("participants", [])])
                elif t == "answer":
                    await self.answer_q.put(msg)
                elif t == "error":
                    self.errors.append({"at_s": r3(now_s()), "code": msg.get("code"),
                                        "message": msg.get("message")})
                    log.warning("error from server: %s", msg)
                    await self.answer_q.put(msg)
                elif t == "media_lost":
                    self.media_lost.append(r3(now_s()))
                    self.note("media_lost", message=msg.get("message"))
                    self.media_lost_ev.set()
                elif t == "ended":
                    self.ended = msg
                    self.note("ended", reason=msg.get("reason"))
                    self.ended_ev.set()
                else:
                    self.note(t, **{k: v for k, v in msg.items() if k != "type"})
        except Exception as exc:  # connection closed
            self.note("ws_closed", error=f"{type(exc).__name__}: {exc}")
        finally:
            if self.ended is None and self.hold_ended is None:
                self.note("ws_closed_early")
                self.ws_closed_early = True
                self.ended_ev.set()

    async def pinger(self) -> None:
        if self.args.ping_interval <= 0:
            return
        while True:
            await asyncio.sleep(self.args.ping_interval)
            try:
                await self.send({"type": "ping"})
                self.pings_sent += 1
            except Exception:
                return

    async def join(self) -> None:
        from websockets.asyncio.client import connect

        self.note("connecting", url=self.args.ws)
        self.ws = await connect(self.args.ws, open_timeout=10, max_size=4 * 1024 * 1024)
        await self.send({"type": "join", "version": 1, "token": self.args.token})
        raw = await asyncio.wait_for(self.ws.recv(), timeout=15)
        msg = json.loads(raw)
        if msg.get("type") != "welcome":
            raise SessionError(f"join refused: {msg}")
        self.welcome = msg
        self.msg_counts["welcome"] = 1
        self.note("welcome", participant_id=msg.get("participant_id"), role=msg.get("role"),
                  state=msg.get("state"), receive_slots=msg.get("receive_slots"))
        if msg.get("state") == "admitted":
            self.admitted.set()
        self.tasks.append(asyncio.create_task(self.reader()))
        self.tasks.append(asyncio.create_task(self.pinger()))
        if not self.admitted.is_set():
            log.info("in the lobby; waiting up to %ss for `admitted`", self.args.admit_timeout)
            done = await first_of([self.admitted.wait(), self.ended_ev.wait()],
                                  timeout=self.args.admit_timeout)
            if not self.admitted.is_set():
                raise SessionError("not admitted" + ("" if done else " in time"))

    # --- media ---------------------------------------------------------------

    def receive_slots(self) -> int:
        slots = self.welcome.get("receive_slots")
        if slots is None:
            raise SessionError("welcome carries no receive_slots")
        return int(slots)

    async def negotiate(self) -> dict[str, Any]:
        """One peer connection: offer, answer, connect. Returns the leg record."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from aiortc.rtcconfiguration import RTCBundlePolicy

        policy = {"balanced": RTCBundlePolicy.BALANCED, "max-compat": RTCBundlePolicy.MAX_COMPAT,
                  "max-bundle": RTCBundlePolicy.MAX_BUNDLE}[self.args.bundle_policy]
        # iceServers=[]: aiortc otherwise uses a public STUN server by default.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
        leg: dict[str, Any] = {"pc": pc, "offered_at_s": None, "answered_at_s": None,
                               "states": [], "receivers": {}}
        slots = self.receive_slots()

        @pc.on("connectionstatechange")
        def _cs():
            leg["states"].append({"at_s": r3(now_s()), "connection": pc.connectionState})
            log.info("connection state: %s", pc.connectionState)

        @pc.on("iceconnectionstatechange")
        def _ics():
            leg["states"].append({"at_s": r3(now_s()), "ice": pc.iceConnectionState})
            log.info("ICE state: %s", pc.iceConnectionState)

        @pc.on("track")
        def _track(track):
            rec = {"kind": track.kind, "frames": 0, "first_frame_at_s": None,
                   "last_frame_at_s": None, "sizes": set(), "samples": 0, "error": None}
            for t in pc.getTransceivers():
                if t.receiver.track is track:
                    leg["receivers"][id(t.receiver)] = rec
            self.frame_tasks.append(asyncio.create_task(consume(track, rec)))

        # Own audio/video (sendrecv) counts as one of the receive slots;
        # the rest are recvonly pairs (docs/protocol.md, Media, step 2).
        pairs = []
        if self.args.send:
            if self.audio_track is None:
                self.audio_track, self.video_track = make_tracks(self.args)
            pc.addTransceiver(self.audio_track, direction="sendrecv")
            pc.addTransceiver(self.video_track, direction="sendrecv")
            pairs.append("sendrecv")
            recv_pairs = max(slots - 1, 0)
        else:
            recv_pairs = slots
        for _ in range(recv_pairs):
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")
            pairs.append("recvonly")
        if not pairs:
            raise SessionError("nothing to offer: receive_slots is 0 and --send not given")
        leg["offered_pairs"] = pairs

        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # aiortc gathers candidates here
        leg["offer_sdp"] = pc.localDescription.sdp
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        leg["offered_at_s"] = r3(now_s())
        self.note("offer_sent", pairs=pairs, bytes=len(pc.localDescription.sdp))
        try:
            msg = await asyncio.wait_for(self.answer_q.get(), timeout=self.args.answer_timeout)
        except asyncio.TimeoutError:
            raise SessionError("no answer from the SFU in time")
        if msg.get("type") != "answer":
            raise SessionError(f"offer refused: {msg.get('code')}: {msg.get('message')}")
        leg["answer_sdp"] = msg["sdp"]
        leg["answer"] = summarize_sdp(msg["sdp"])
        sdp = msg["sdp"]
        if not self.args.no_candidate_fix:
            sdp, fixed = spread_bundle_candidates(sdp)
            leg["answer"]["candidates_copied_to_m_sections"] = fixed
        VIDEO_PTS.update(video_payload_types(sdp))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        leg["answered_at_s"] = r3(now_s())
        if self.args.dump_sdp:
            n = len(self.legs)
            with open(f"{self.args.dump_sdp}-offer-{n}.sdp", "w") as f:
                f.write(leg["offer_sdp"])
            with open(f"{self.args.dump_sdp}-answer-{n}.sdp", "w") as f:
                f.write(leg["answer_sdp"])
        self.note("answer_applied", ice_lite=leg["answer"]["ice_lite"], bundle=leg["answer"]["bundle"],
                  candidates_where=leg["answer"]["candidates_where"])
        self.legs.append(leg)
        return leg

    async def run(self) -> None:
        await self.join()
        await self.negotiate()
        self.hold_started = now_s()
        deadline = self.hold_started + self.args.seconds
        log.info("holding the call for %ss", self.args.seconds)
        while True:
            remaining = deadline - now_s()
            if remaining <= 0 or self.ended_ev.is_set():
                break
            self.media_lost_ev.clear()
            await first_of([self.ended_ev.wait(), self.media_lost_ev.wait()], timeout=remaining)
            if self.media_lost_ev.is_set() and self.args.reoffer_on_media_lost and not self.ended_ev.is_set():
                log.warning("media lost: offering again")
                await self.legs[-1]["pc"].close()
                await asyncio.sleep(1.0)  # at most one offer a second is accepted
                await self.negotiate()
        self.hold_ended = now_s()

    async def close(self) -> None:
        try:
            if self.ws is not None and self.ended is None:
                await self.send({"type": "leave"})
        except Exception:
            pass
        for leg in self.legs:
            leg["stats"] = await collect_pc_stats(leg["pc"])
            leg["mids"] = {id(t.receiver): (t.mid, t.kind, t.currentDirection, t.direction,
                                            id(t.sender))
                           for t in leg["pc"].getTransceivers()}
            leg["codecs"] = {id(t.receiver): transceiver_codec(t) for t in leg["pc"].getTransceivers()}
        for leg in self.legs:
            await leg["pc"].close()
        for t in self.frame_tasks + self.tasks:
            t.cancel()
        await asyncio.gather(*self.frame_tasks, *self.tasks, return_exceptions=True)
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass


def transceiver_codec(t) -> Optional[str]:
    try:
        codecs = t._codecs  # negotiated, in preference order
        return codecs[0].mimeType if codecs else None
    except Exception:
        return None


async def collect_pc_stats(pc) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        report = await pc.getStats()
        for k, v in report.items():
            if v.type in ("outbound-rtp", "inbound-rtp", "remote-inbound-rtp"):
                out[k] = {kk: (vv.isoformat() if hasattr(vv, "isoformat") else vv)
                          for kk, vv in vars(v).items()}
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


async def consume(track, rec: dict) -> None:
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            frame = await track.recv()
            rec["frames"] += 1
            t = now_s()
            rec.setdefault("times", []).append(t)
            if rec["first_frame_at_s"] is None:
                rec["first_frame_at_s"] = r3(t)
            rec["last_frame_at_s"] = r3(t)
            if track.kind == "video":
                rec["sizes"].add(f"{frame.width}x{frame.height}")
            else:
                rec["samples"] += frame.samples
    except MediaStreamError:
        pass
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"


async def first_of(coros, timeout: Optional[float]) -> bool:
    tasks = [asyncio.ensure_future(c) for c in coros]
    done, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return bool(done)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def ranges(values: list[int], limit: int = 200) -> list:
    """Sorted ints to [first, last] ranges (at most `limit`, then a marker)."""
    out: list = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    if len(out) > limit:
        return out[:limit] + [["…", len(out) - limit]]
    return out


def video_payload_types(sdp: str) -> set:
    """Payload types of the video media of the m=video sections of `sdp`
    (not their RTX resends: a dropped resend is not asked for again)."""
    pts, rtx, video = set(), set(), False
    for line in sdp.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
            if video:
                pts.update(int(p) for p in line.split()[3:] if p.isdigit())
        elif video and line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:"):].partition(" ")
            if encoding.lower().startswith("rtx/") and pt.isdigit():
                rtx.add(int(pt))
    return pts - rtx


def stream_report(st: StreamStats, hold: tuple[float, float], stall_ms: float) -> dict[str, Any]:
    r: dict[str, Any] = {
        "ssrcs": sorted(st.ssrcs),
        "payload_types": sorted(st.payload_types),
        "packets_arrived": st.arrivals,
        "packets_delivered": st.delivered,
        "dropped_by_client": sum(DROP_COUNT.get(ssrc, 0) for ssrc in st.ssrcs),
        "retransmissions_of_dropped": st.recovered_after_drop,
        "duplicates": st.duplicates,
        "rtx_packets": st.rtx_packets,
        "filled_late": st.filled_late,
        "payload_bytes": st.bytes,
        "nacks_sent": st.nack_packets,
        "nack_seqs_requested": st.nack_seqs,
        "plis_sent": st.pli_sent,
        "nacks_at_s": [[r3(t - hold[0]), n] for t, n in st.nack_times][:100],
        "plis_at_s": [r3(t - hold[0]) for t in st.pli_times][:100],
    }
    if st.seqs:
        lo, hi = min(st.seqs), max(st.seqs)
        base = lo & ~0xFFFF  # print sequence numbers relative to the first cycle
        missing = [s for s in range(lo, hi + 1) if s not in st.seqs]
        r.update({
            "first_seq": lo - base - (1 << 16) if lo - base >= (1 << 16) else lo - base,
            "seq_span": hi - lo + 1,
            "unique_seqs": len(st.seqs),
            "missing_seqs": len(missing),
            "missing_seqs_never_retransmitted_after_drop": sum(
                1 for ssrc, _ in DROPPED if ssrc in st.ssrcs),
            # the set itself, compactly, relative to the first one received
            "received_seq_ranges": [[a - lo, b - lo] for a, b in ranges(list(st.seqs))
                                    if a != "…"][:200],
            "missing_seq_ranges": [[a - lo, b - lo] if a != "…" else [a, b]
                                   for a, b in ranges(missing, 100)],
        })
    times = st.arrival_times
    if times:
        t_start, t_end = hold
        stalls = []
        max_gap = 0.0
        prev = times[0]
        for t in times[1:]:
            gap = t - prev
            max_gap = max(max_gap, gap)
            if gap * 1000 > stall_ms:
                stalls.append({"from_s": r3(prev - t_start), "to_s": r3(t - t_start), "duration_s": r3(gap)})
            prev = t
        tail = t_end - times[-1]
        if tail * 1000 > stall_ms:
            stalls.append({"from_s": r3(times[-1] - t_start), "to_s": None, "duration_s": r3(tail),
                           "until_end": True})
        secs = max(int(math.ceil(t_end - t_start)), 0)
        per_second = [0] * secs
        for t in times:
            i = int(t - t_start)
            if 0 <= i < secs:
                per_second[i] += 1
        r.update({
            "first_packet_at_s": r3(times[0] - t_start),
            "last_packet_at_s": r3(times[-1] - t_start),
            "max_interarrival_s": r3(max_gap),
            "stalls": stalls,
            "stalled_s": r3(sum(s["duration_s"] for s in stalls)),
            "packets_per_second": per_second,
        })
    return r


def build_result(peer: Peer, args, patch_info, ok: bool, error: Optional[str]) -> dict[str, Any]:
    hold_start = peer.hold_started if peer.hold_started is not None else now_s()
    hold_end = peer.hold_ended if peer.hold_ended is not None else now_s()
    streams = []
    senders = []
    for gen, leg in enumerate(peer.legs):
        mids = leg.get("mids", {})
        for rid, (mid, kind, cur_dir, dir_, sender_id) in mids.items():
            st = STREAMS.get(rid) or StreamStats(kind=kind)
            frames = leg["receivers"].get(rid, {})
            s = {"leg": gen, "mid": mid, "kind": kind, "direction": cur_dir or dir_,
                 "codec": leg.get("codecs", {}).get(rid)}
            s.update(stream_report(st, (hold_start, hold_end), args.stall_ms))
            if kind == "video":
                s["frames_decoded"] = frames.get("frames", 0)
                s["video_sizes"] = sorted(frames.get("sizes", set()))
            else:
                s["audio_frames"] = frames.get("frames", 0)
                s["audio_samples"] = frames.get("samples", 0)
            s["first_frame_at_s"] = (r3(frames["first_frame_at_s"] - hold_start)
                                     if frames.get("first_frame_at_s") is not None else None)
            secs = max(int(math.ceil(hold_end - hold_start)), 0)
            fps = [0] * secs
            for t in frames.get("times", []):
                i = int(t - hold_start)
                if 0 <= i < secs:
                    fps[i] += 1
            s["frames_per_second"] = fps
            if kind == "video":
                s["keyframes_received_at_s"] = [r3(t - hold_start) for t in st.keyframes][:100]
            if frames.get("error"):
                s["frame_error"] = frames["error"]
            streams.append(s)
            if (cur_dir or dir_) in ("sendrecv", "sendonly"):
                c = dict(SENDERS.get(sender_id, {}))
                c.update({"leg": gen, "mid": mid, "kind": kind})
                senders.append(c)
        for k, v in leg.get("stats", {}).items():
            if v.get("type") == "outbound-rtp":
                for s in senders:
                    if s["leg"] == gen and s["kind"] == v.get("kind"):
                        s["packets_sent"] = v.get("packetsSent")
                        s["bytes_sent"] = v.get("bytesSent")
    if peer.audio_track is not None:
        for s in senders:
            if s["kind"] == "audio":
                s["frames_produced"] = peer.audio_track.produced
            else:
                s["frames_produced"] = peer.video_track.produced
    t0 = hold_start
    rel = lambda x: r3(x - t0) if x is not None else None  # noqa: E731
    consent = [dict(c, at_s=rel(c["at_s"])) for c in CONSENT_CHECKS]
    consent_gaps = [r3(b["at_s"] - a["at_s"]) for a, b in zip(consent, consent[1:])]
    result = {
        "ok": ok,
        "error": error,
        "name": args.name,
        "args": {"ws": args.ws, "seconds": args.seconds, "send": args.send,
                 "candidate_fix": not args.no_candidate_fix,
                 "consent_interval": args.consent_interval, "nack_drop": args.nack_drop,
                 "bundle_policy": args.bundle_policy, "reoffer_on_media_lost": args.reoffer_on_media_lost},
        "versions": {k: patch_info.get(k) for k in ("aiortc_version", "aioice_version")},
        "participant_id": peer.welcome.get("participant_id") if peer.welcome else None,
        "role": peer.welcome.get("role") if peer.welcome else None,
        "session_id": peer.welcome.get("session_id") if peer.welcome else None,
        "receive_slots": peer.welcome.get("receive_slots") if peer.welcome else None,
        "welcome_keys": sorted(peer.welcome.keys()) if peer.welcome else None,
        "held_s": r3(hold_end - hold_start) if peer.hold_started is not None else 0,
        "hold_started_unix": r3(time.time() - (now_s() - hold_start)),
        "times_are_relative_to": "the answer being applied (start of the hold)",
        "consent": {
            "interval_s": patch_info.get("consent_interval"),
            "failures_limit": patch_info.get("consent_failures"),
            "aioice_defaults": {"CONSENT_INTERVAL": patch_info.get("consent_interval_default"),
                                "CONSENT_FAILURES": patch_info.get("consent_failures_default")},
            "checks_sent": len(consent),
            "checks_failed": sum(1 for c in consent if not c.get("ok", True)),
            "intervals_s": consent_gaps,
            "max_interval_s": max(consent_gaps) if consent_gaps else None,
            "checks": consent,
        },
        "connectivity_checks": len(CONNECTIVITY_CHECKS),
        "signaling": {
            "messages": peer.msg_counts,
            "pings_sent": peer.pings_sent,
            "pongs": peer.pongs,
            "media_lost_at_s": [rel(x) for x in peer.media_lost],
            "errors": peer.errors,
            "ended": peer.ended,
            "events": [dict(e, at_s=rel(e["at_s"])) for e in peer.events][-100:],
        },
        "legs": [{
            "offered_pairs": leg.get("offered_pairs"),
            "states": [dict(s, at_s=rel(s["at_s"])) for s in leg["states"]],
            "answer": leg.get("answer"),
        } for leg in peer.legs],
        "senders": senders,
        "streams": streams,
    }
    # headline numbers for a test to assert on
    recv = [s for s in streams if s.get("packets_arrived")]
    result["summary"] = {
        "video_packets": sum(s["packets_arrived"] for s in recv if s["kind"] == "video"),
        "audio_packets": sum(s["packets_arrived"] for s in recv if s["kind"] == "audio"),
        "video_frames_decoded": sum(s.get("frames_decoded", 0) for s in streams),
        "audio_frames": sum(s.get("audio_frames", 0) for s in streams),
        "missing_seqs": sum(s.get("missing_seqs", 0) for s in recv),
        "nacks_sent": sum(s["nacks_sent"] for s in streams),
        "dropped_by_client": sum(s["dropped_by_client"] for s in streams),
        "retransmissions_of_dropped": sum(s["retransmissions_of_dropped"] for s in streams),
        "rtx_packets": sum(s.get("rtx_packets", 0) for s in streams),
        "max_stall_s": max((s.get("max_interarrival_s") or 0 for s in recv), default=None),
        "stalled_s_by_stream": {f"{s['leg']}:{s['mid']}:{s['kind']}": s.get("stalled_s") for s in recv},
        "media_lost": len(peer.media_lost),
    }
    return result


async def amain(args: argparse.Namespace) -> int:
    patch_info = install_patches(args)
    log.info("aiortc %s, aioice %s; consent interval %s s (default %s), failures %s",
             patch_info["aiortc_version"], patch_info["aioice_version"],
             patch_info["consent_interval"], patch_info["consent_interval_default"],
             patch_info["consent_failures"])
    peer = Peer(args)
    ok, error = False, None
    try:
        await peer.run()
        ok = True
        if peer.ended is not None:
            ok, error = False, f"session ended early: {peer.ended.get('reason')}"
        elif peer.ws_closed_early:
            ok, error = False, "the WebSocket closed before the hold time was over"
    except SessionError as exc:
        error = str(exc)
        log.error("%s", exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("failed")
    finally:
        await peer.close()
    result = build_result(peer, args, patch_info, ok, error)
    sys.stdout.write(json.dumps(result, default=list) + "\n")
    sys.stdout.flush()
    return 0 if ok else 1


def main() -> int:
    args = parse_args()
    level = logging.WARNING
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {args.name or 'peer'} %(name)s %(levelname)s %(message)s")
    if args.verbose == 0:
        for name in ("aiortc", "aioice", "websockets"):
            logging.getLogger(name).setLevel(level)
    elif args.verbose >= 2:
        logging.getLogger().setLevel(logging.DEBUG)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
