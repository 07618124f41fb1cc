// Camera and microphone, and the one peer connection to the SFU
// (docs/sfu.md): the client offers its own audio and video plus receive-only
// transceiver pairs up to `receive_slots` pairs, waits for ICE gathering (the
// SFU is ICE-lite; no trickle) and sends one offer.

/// Camera and microphone, or an error with `.code`: 'denied' | 'no_device' | 'device_error'.
export async function openDevices() {
  if (!navigator.mediaDevices?.getUserMedia) {
    const e = new Error('this browser cannot use a camera here (a secure https:// page is needed)');
    e.code = 'device_error';
    throw e;
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } },
    });
  } catch (err) {
    const e = new Error(err.message || String(err));
    e.code = err.name === 'NotAllowedError' || err.name === 'SecurityError' ? 'denied'
      : err.name === 'NotFoundError' || err.name === 'OverconstrainedError' ? 'no_device' : 'device_error';
    throw e;
  }
}

/// Resolves when ICE gathering is complete, or after `ms` with what there is.
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/// Restricts `transceivers` to VP8 (with its repair formats), where the
/// browser lets a page choose.
function onlyVp8(transceivers) {
  const codecs = globalThis.RTCRtpReceiver?.getCapabilities?.('video')?.codecs;
  if (!codecs) return;
  const keep = codecs.filter((c) => /^video\/(VP8|rtx|red|ulpfec)$/i.test(c.mimeType));
  if (!keep.some((c) => /VP8/i.test(c.mimeType))) return;
  for (const t of transceivers) {
    try { t.setCodecPreferences(keep); } catch { /* the browser's own order stays */ }
  }
}

export class MediaLink {
  /// `local`: the camera/microphone stream, or null for receive-only roles.
  /// `onSlot(index, stream)`: remote media for receive slot `index`.
  /// `onState(state)`: the peer connection's state. `vp8Only`: offer no
  /// other video codec (end-to-end sealed video leaves VP8's payload header
  /// in the clear for the packetizers; H.264's must read the whole frame).
  constructor(local, receiveSlots, onSlot, onState, vp8Only = false) {
    this.pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.slots = [];
    const pairs = [];
    if (local) {
      const [audio] = local.getAudioTracks();
      const [video] = local.getVideoTracks();
      pairs.push([
        this.pc.addTransceiver(audio || 'audio', { direction: audio ? 'sendrecv' : 'recvonly', streams: [local] }),
        this.pc.addTransceiver(video || 'video', { direction: video ? 'sendrecv' : 'recvonly', streams: [local] }),
      ]);
    }
    while (pairs.length < receiveSlots) {
      pairs.push([
        this.pc.addTransceiver('audio', { direction: 'recvonly' }),
        this.pc.addTransceiver('video', { direction: 'recvonly' }),
      ]);
    }
    if (vp8Only) onlyVp8(pairs.map(([, v]) => v));
    pairs.forEach(([a, v], index) => {
      const stream = new MediaStream([a.receiver.track, v.receiver.track]);
      this.slots.push(stream);
      onSlot(index, stream);
    });
    this.pc.addEventListener('connectionstatechange', () => onState(this.pc.connectionState));
  }

  /// The SDP offer, with every ICE candidate in it.
  async offer() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc, 3000);
    return this.pc.localDescription.sdp;
  }

  async answer(sdp) {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  close() {
    this.pc.close();
  }

  /// Received media so far, summed over the call's inbound streams: video
  /// frames decoded, freezes (and their total seconds) and packets (and of
  /// them, resends that came on an RTX repair stream); audio
  /// packets, samples received and samples concealed (played as made-up
  /// sound because packets were late or lost); and the sender reports seen.
  /// For diagnostics also video frames dropped, keyframes decoded and the
  /// jitter buffer's summed target delay (s) over frames it let out.
  async received() {
    const out = {
      videoFramesDecoded: 0, videoPacketsReceived: 0, videoPacketsLost: 0, videoNacksSent: 0,
      videoPlisSent: 0, videoFramesReceived: 0, videoRetransmittedPacketsReceived: 0,
      freezeCount: 0, totalFreezesDuration: 0, videoFramesDropped: 0, videoKeyFramesDecoded: 0,
      videoJitterBufferTargetDelay: 0, videoJitterBufferEmittedCount: 0,
      audioPacketsReceived: 0, totalSamplesReceived: 0, concealedSamples: 0,
      senderReports: 0,
    };
    if (this.pc.signalingState === 'closed') return out;
    (await this.pc.getStats()).forEach((s) => {
      // The sender's own reports (RTCP SR) seen for an inbound stream: what
      // lip sync needs.
      if (s.type === 'remote-outbound-rtp') out.senderReports += s.reportsSent || 1;
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.videoFramesDecoded += s.framesDecoded || 0;
        out.videoPacketsReceived += s.packetsReceived || 0;
        out.videoPacketsLost += s.packetsLost || 0;
        out.videoNacksSent += s.nackCount || 0;
        out.videoPlisSent += s.pliCount || 0;
        out.videoFramesReceived += s.framesReceived || 0;
        out.videoRetransmittedPacketsReceived += s.retransmittedPacketsReceived || 0;
        out.freezeCount += s.freezeCount || 0;
        out.totalFreezesDuration += s.totalFreezesDuration || 0;
        out.videoFramesDropped += s.framesDropped || 0;
        out.videoKeyFramesDecoded += s.keyFramesDecoded || 0;
        out.videoJitterBufferTargetDelay += s.jitterBufferTargetDelay || 0;
        out.videoJitterBufferEmittedCount += s.jitterBufferEmittedCount || 0;
      } else if (s.kind === 'audio') {
        out.audioPacketsReceived += s.packetsReceived || 0;
        out.totalSamplesReceived += s.totalSamplesReceived || 0;
        out.concealedSamples += s.concealedSamples || 0;
      }
    });
    return out;
  }

  /// What this connection sends (for diagnostics and the tests): video
  /// bytes sent, video packets sent again (on the RTX stream where one was
  /// negotiated), the encoder's target bitrate (bits/s, where the browser
  /// reports it), the share of its audio the SFU's last receiver report
  /// said was lost (0-1; the SFU reports the worst listener's loss there,
  /// which turns on Opus's in-band FEC), and the local port of the
  /// selected candidate pair.
  async sent() {
    const out = {
      videoBytesSent: 0, videoRetransmittedPacketsSent: 0, videoTargetBitrate: 0,
      audioLossReported: 0, localPort: null,
    };
    if (this.pc.signalingState === 'closed') return out;
    const stats = await this.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.videoBytesSent += s.bytesSent || 0;
        out.videoRetransmittedPacketsSent += s.retransmittedPacketsSent || 0;
        out.videoTargetBitrate += s.targetBitrate || 0;
      }
      if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') {
        out.audioLossReported = Math.max(out.audioLossReported, s.fractionLost || 0);
      }
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    const local = pair && stats.get(pair.localCandidateId);
    out.localPort = local ? local.port : null;
    return out;
  }
}
