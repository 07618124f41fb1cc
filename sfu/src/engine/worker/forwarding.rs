//! The per-packet path: one received packet to every subscriber leg that
//! should hear or see it (rules, simulcast layer, rewrite, seal), then the
//! turn's batch sent.

use super::*;

impl Worker {
    /// Forwards one received packet: to the record if the room records it,
    /// then to each member the room's rules let hear or see the publisher,
    /// through that leg's layer selector, rewritten to the leg's SSRC,
    /// sequence, timestamp and payload type, and sealed or written.
    pub(super) fn forward(&mut self, f: Forward, now: Instant, now_us: u64) {
        let Some(state) = self.rooms.get_mut(&f.room) else {
            return;
        };
        if let Some(recording) = state.recording.as_mut()
            && state
                .room
                .receivers_of(f.publisher, media_kind(f.kind))
                .any(|r| r == RECORDER_MEMBER)
        {
            let counter = match Self::record_packet(recording, &f, now_us) {
                Some(true) => Some(&self.counters.recorded_packets),
                Some(false) => Some(&self.counters.recorder_drops),
                None => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        let Some(state) = self.rooms.get(&f.room) else {
            return;
        };
        // While the spoken notice plays, it is the only audio.
        if state.announcement.is_some() && f.kind == RtpCodecKind::Audio {
            return;
        }
        for receiver in state.room.receivers_of(f.publisher, media_kind(f.kind)) {
            let Some(peer) = state
                .peers
                .get(&receiver)
                .and_then(|k| self.peers.get_mut(k))
            else {
                continue;
            };
            if !peer.connected {
                continue;
            }
            let Some(slot) = peer.slot_of(f.publisher) else {
                continue;
            };
            let is_video = f.kind == RtpCodecKind::Video;
            // Paused for this subscriber: its link cannot carry the video.
            if is_video && slot.pause.paused() {
                continue;
            }
            let pause = &mut slot.pause;
            let out = if is_video {
                &mut slot.video
            } else {
                &mut slot.audio
            };
            if let Some(layer) = f.layer {
                match out.layers.on_packet(layer, f.keyframe, now_us) {
                    Decision::Drop => {
                        if out.layers.wanted_keyframe() == Some(layer) {
                            self.wanted_keyframes.push((f.room, f.publisher));
                        }
                        continue;
                    }
                    Decision::Forward { switched } => {
                        if switched {
                            self.counters
                                .simulcast_switches
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            if is_video && !pause.lets_through(f.keyframe) {
                // Resumed: the picture starts again on a keyframe.
                self.wanted_keyframes.push((f.room, f.publisher));
                continue;
            }
            let (sender_id, ssrc) = (out.sender, out.ssrc);
            let (seq, ts) = out.continuity.rewrite(
                f.source_ssrc,
                f.packet.header.sequence_number,
                f.packet.header.timestamp,
                now_us,
            );
            let leg = match out.leg_format(f.h264) {
                Some(leg) => leg,
                None => {
                    let Some(mut sender) = peer.pc.rtp_sender(sender_id) else {
                        continue;
                    };
                    let Some(leg) = LegFormat::read(sender.get_parameters(), f.kind, f.h264) else {
                        continue;
                    };
                    if let Some(slot) = peer.slot_of(f.publisher) {
                        slot.track_mut(f.kind).remember(f.h264, leg);
                    }
                    if self.downlink_estimation == DownlinkEstimation::FromFeedback {
                        peer.learn_transport_cc(&leg, now_us);
                    }
                    leg
                }
            };
            // Extension ids are per leg: the publisher's are not copied
            // (nor their list allocated), and those worth passing on are
            // written under this leg's ids.
            let source = &f.packet.header;
            let mut packet = rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: source.version,
                    padding: source.padding,
                    extension: false,
                    marker: source.marker,
                    payload_type: leg.payload_type,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc,
                    csrc: source.csrc.clone(),
                    extension_profile: 0,
                    extensions: Vec::new(),
                    extensions_padding: 0,
                },
                payload: f.packet.payload.clone(),
            };
            if let (Some(level), Some(id)) = (&f.audio_level, leg.audio_level_id)
                && packet.header.set_extension(id, level.clone()).is_err()
            {
                self.counters.forward_errors.fetch_add(1, Ordering::Relaxed);
            }
            let bytes = packet.payload.len() as u64;
            let kept = crate::egress::history::Sent::of(&packet, now_us);
            // The SSRC, payload type and extension ids come from this
            // sender's negotiated parameters (read once, above), so the
            // packet goes straight into the connection's write pipeline;
            // `RTCRtpSender::write_rtp` would rebuild those parameters to
            // re-check them on every packet.
            let written = match self.write_path {
                WritePath::Sealed | WritePath::Direct => peer
                    .send_rtp(
                        packet,
                        now,
                        self.write_path,
                        &mut self.outbox,
                        &self.counters,
                    )
                    .map_err(|e| e.to_string()),
                WritePath::Checked => {
                    let mut packet = packet;
                    peer.number_for_feedback(&mut packet, now, false);
                    peer.touch();
                    match peer.pc.rtp_sender(sender_id) {
                        Some(mut sender) => {
                            sender.write_rtp(now, packet).map_err(|e| e.to_string())
                        }
                        None => continue,
                    }
                }
            };
            match written {
                Ok(()) => {
                    if let Some(slot) = peer.slot_of(f.publisher) {
                        crate::engine::feedback::sent(
                            slot.track_mut(f.kind),
                            kept,
                            f.source_ssrc,
                            now_us,
                        );
                    }
                    self.written.push(f.received);
                    self.counters.rtp_forwarded.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .rtp_bytes_forwarded
                        .fetch_add(bytes, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.forward_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(member = receiver, error = %e, "forward failed");
                }
            }
        }
    }

    /// Asks `source` for a keyframe on its video.
    pub(super) fn request_keyframe(&mut self, room: RoomId, source: MemberId, now: Instant) {
        let Some(key) = self.rooms.get(&room).and_then(|s| s.peers.get(&source)) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let videos: Vec<_> = peer
            .inbound
            .values()
            .filter(|i| i.kind == RtpCodecKind::Video)
            .map(|i| (i.receiver, i.ssrc))
            .collect();
        peer.touch();
        for (receiver, media_ssrc) in videos {
            if let Some(mut r) = peer.pc.rtp_receiver(receiver) {
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                };
                if r.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                    self.counters.plis_relayed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub(super) fn send_outbox(&mut self) {
        if !self.outbox.tcp.is_empty() {
            let (mut sent, mut dropped) = (0u64, 0u64);
            for (to, packet) in self.outbox.tcp.drain(..) {
                if self.tcp.as_mut().is_some_and(|tcp| tcp.send(to, &packet)) {
                    sent += 1;
                } else {
                    dropped += 1;
                }
            }
            let c = &self.counters;
            c.tcp_frames_out.fetch_add(sent, Ordering::Relaxed);
            c.datagrams_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if self.outbox.udp.is_empty() {
            return;
        }
        let sent = batch_io::send_all(&self.socket, &self.outbox.udp, &mut self.send_mode);
        self.outbox.udp.clear();
        let c = &self.counters;
        c.datagrams_out
            .fetch_add(sent.sent as u64, Ordering::Relaxed);
        c.datagrams_dropped
            .fetch_add(sent.dropped as u64, Ordering::Relaxed);
        c.send_calls.fetch_add(sent.calls as u64, Ordering::Relaxed);
    }

    /// Sends every datagram the peers produced this turn, then times the
    /// packets forwarded in it.
    pub(super) fn flush(&mut self) {
        for (key, peer) in self.peers.iter_mut().filter(|(_, p)| p.needs_flush) {
            peer.needs_flush = false;
            peer.collect_writes(&mut self.outbox);
            let next = [peer.pc.poll_timeout(), peer.uplink_feedback.next_timeout()]
                .into_iter()
                .flatten()
                .min();
            self.timers.set(*key, next);
        }
        self.send_outbox();
        let sent = Instant::now();
        for received in self.written.drain(..) {
            self.counters
                .latency
                .observe(sent.saturating_duration_since(received));
        }
    }
}
