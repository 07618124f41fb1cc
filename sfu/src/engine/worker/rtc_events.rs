//! Draining every touched peer connection: its events, its decrypted
//! packets (turned into forwards) and its RTCP.

use super::*;

impl Worker {
    /// Events and decrypted packets of every peer; forwards media and
    /// relays keyframe requests.
    pub(super) fn pump(&mut self, now: Instant) {
        let now_us = self.micros(now);
        let mut forwards = Vec::new();
        let mut keyframe_requests: Vec<(RoomId, MemberId)> = Vec::new();
        let mut dead: Vec<(RoomId, MemberId)> = Vec::new();
        let mut levels: Vec<(RoomId, MemberId, audio_level::AudioLevel)> = Vec::new();
        // Publishers' sender reports: (room, publisher, source SSRC, its
        // RTP time), handed to the legs that carry that source.
        let mut source_reports: Vec<(RoomId, MemberId, u32, RtpCodecKind, u32)> = Vec::new();
        let mut sinks = RtcpSinks {
            now,
            now_us,
            path: self.write_path,
            out: &mut self.outbox,
            counters: &self.counters,
            keyframe_requests: &mut keyframe_requests,
            source_reports: &mut source_reports,
        };
        for peer in self.peers.values_mut().filter(|p| p.needs_pump) {
            peer.needs_pump = false;
            // The connection is drained only if it was handed something:
            // packets the worker opened itself never went through it.
            let handed = std::mem::take(&mut peer.handed);
            while let Some(event) = handed.then(|| peer.pc.poll_event()).flatten() {
                match event {
                    RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) => {
                        peer.connected = s == RTCPeerConnectionState::Connected;
                        if matches!(
                            s,
                            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                        ) {
                            dead.push((peer.room, peer.member));
                        }
                    }
                    RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                        let (kind, h264, audio_level_id, stream) = peer
                            .pc
                            .rtp_receiver(init.receiver_id)
                            .map(|mut r| {
                                let params = r.get_parameters().rtp_parameters.clone();
                                let level_id = params
                                    .header_extensions
                                    .iter()
                                    .find(|e| e.uri == parley_media::AUDIO_LEVEL_URI)
                                    .and_then(|e| u8::try_from(e.id).ok());
                                let track = r.track();
                                let codec = track.codec(init.ssrc).cloned();
                                let h264 = codec
                                    .as_ref()
                                    .is_some_and(|c| parley_media::is_h264(&c.mime_type));
                                let stream = codec.map(|codec| {
                                    let payload_type = params
                                        .codecs
                                        .iter()
                                        .find(|c| {
                                            c.rtp_codec
                                                .mime_type
                                                .eq_ignore_ascii_case(&codec.mime_type)
                                        })
                                        .map_or(0, |c| c.payload_type);
                                    crate::ingress::uplink_feedback::stream_info(
                                        init.ssrc,
                                        payload_type,
                                        &codec,
                                        &params.header_extensions,
                                    )
                                });
                                (track.kind(), h264, level_id, stream)
                            })
                            .unwrap_or((RtpCodecKind::Unspecified, false, None, None));
                        if let Some(stream) = stream {
                            peer.uplink_feedback.bind(&stream);
                        }
                        let layer = init.rid.as_deref().and_then(LayerId::from_rid);
                        peer.inbound.insert(
                            init.ssrc,
                            crate::engine::peer::Inbound {
                                kind,
                                h264,
                                audio_level_id,
                                receiver: init.receiver_id,
                                ssrc: init.ssrc,
                                layer,
                            },
                        );
                    }
                    _ => {}
                }
            }
            while let Some(TaggedRTCMessage {
                message,
                now: received,
            }) = handed.then(|| peer.pc.poll_read()).flatten()
            {
                match message {
                    RTCMessage::RtpPacket(_, packet) => peer.arrived.push((received, packet)),
                    RTCMessage::RtcpPacket(_, packets) => {
                        read_rtcp(peer, received, &packets, &mut sinks);
                    }
                    _ => {}
                }
            }
            // RTCP the worker decrypted itself (`crate::ingress::rtcp_opening`).
            let mut rtcp = std::mem::take(&mut peer.arrived_rtcp);
            for (received, packets) in rtcp.drain(..) {
                read_rtcp(peer, received, &packets, &mut sinks);
            }
            peer.arrived_rtcp = rtcp;
            let mut arrived = std::mem::take(&mut peer.arrived);
            for (received, packet) in arrived.drain(..) {
                forwards.extend(take_rtp(
                    peer,
                    received,
                    packet,
                    now_us,
                    &self.counters,
                    &mut levels,
                ));
            }
            // Keep the queue's allocation for the next turn.
            peer.arrived = arrived;
        }
        for (room, publisher, source_ssrc, kind, rtp_time) in source_reports {
            let Some(state) = self.rooms.get(&room) else {
                continue;
            };
            for key in state.peers.values() {
                let Some(out) = self
                    .peers
                    .get_mut(key)
                    .and_then(|p| p.slot_of(publisher))
                    .map(|s| s.track_mut(kind))
                else {
                    continue;
                };
                if let Some(leg_rtp) = out.continuity.timestamp_of(source_ssrc, rtp_time) {
                    out.reports.on_source_report(source_ssrc, leg_rtp, now_us);
                }
            }
        }
        for f in forwards {
            if f.keyframe {
                self.keyframes.on_keyframe((f.room, f.publisher), now_us);
            }
            self.forward(f, now, now_us);
        }
        keyframe_requests.append(&mut self.wanted_keyframes);
        for (room, source) in keyframe_requests {
            if self.keyframes.on_request((room, source), now_us) {
                self.request_keyframe(room, source, now);
            } else {
                self.counters
                    .keyframe_requests_throttled
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        for (room, source) in self.keyframes.take_due(now_us) {
            self.request_keyframe(room, source, now);
        }
        for (room, member, level) in levels {
            if let Some(state) = self.rooms.get_mut(&room) {
                state
                    .speakers
                    .on_level(member, level.level_dbov, level.voice_activity, now_us);
            }
        }
        // ICE or DTLS failed, or the peer closed: free its slot everywhere.
        for (room, member) in dead {
            self.lose(room, member, now);
        }
    }
}

/// Where the RTCP a peer sent leads, whoever decrypted it (its connection
/// or the worker).
struct RtcpSinks<'a> {
    now: Instant,
    now_us: u64,
    path: WritePath,
    out: &'a mut crate::engine::send::Outbox,
    counters: &'a Counters,
    /// Keyframe requests for publishers, to throttle and relay.
    keyframe_requests: &'a mut Vec<(RoomId, MemberId)>,
    /// Publishers' sender reports: (room, publisher, source SSRC, kind,
    /// its RTP time), for the legs that carry that source.
    source_reports: &'a mut Vec<(RoomId, MemberId, u32, RtpCodecKind, u32)>,
}

/// Reads one compound RTCP packet `peer` sent: NACKs answered, report
/// blocks read, a publisher's sender reports kept, REMB and transport-wide
/// feedback given to its downlink, keyframe requests collected.
fn read_rtcp(
    peer: &mut Peer,
    received: Instant,
    packets: &[Box<dyn rtc::rtcp::packet::Packet>],
    sinks: &mut RtcpSinks<'_>,
) {
    let now = sinks.now;
    let now_us = sinks.now_us;
    for p in packets {
        let any = p.as_any();
        if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
            crate::engine::feedback::answer_nack(
                peer,
                nack,
                crate::engine::feedback::Resending {
                    now,
                    now_us,
                    path: sinks.path,
                    out: sinks.out,
                },
                sinks.counters,
            );
            continue;
        }
        if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            crate::engine::feedback::read_report_blocks(peer, &rr.reports, now_us, sinks.counters);
            continue;
        }
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            crate::engine::feedback::read_report_blocks(peer, &sr.reports, now_us, sinks.counters);
            peer.uplink_feedback.on_sender_report(received, sr);
            if let Some(inbound) = peer.inbound.get(&sr.ssrc) {
                sinks.source_reports.push((
                    peer.room,
                    peer.member,
                    sr.ssrc,
                    inbound.kind,
                    sr.rtp_time,
                ));
            }
            continue;
        }
        if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
            // What this subscriber says it can receive.
            peer.downlink.on_remb(remb.bitrate.max(0.0) as u64);
            peer.share_estimate(now_us);
            continue;
        }
        if let Some(feedback) = any.downcast_ref::<TransportLayerCc>() {
            // Spent at the next housekeeping (within 100 ms),
            // not at each of ~10 feedback packets a second.
            let rtt = peer.round_trip();
            peer.downlink.on_feedback(now, feedback, rtt);
            sinks
                .counters
                .transport_feedback
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let media_ssrc = if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            Some(pli.media_ssrc)
        } else {
            any.downcast_ref::<FullIntraRequest>()
                .map(|fir| fir.media_ssrc)
        };
        if let Some(source) = media_ssrc.and_then(|ssrc| peer.source_of_video_ssrc(ssrc)) {
            sinks.keyframe_requests.push((peer.room, source));
        }
    }
}

/// One RTP packet a publisher sent, decrypted by its connection or by the
/// worker: taken once (a duplicate is dropped), counted, recorded for the
/// publisher's feedback, and turned into a forward; `None` for a packet of
/// no stream the peer publishes, or one already taken.
fn take_rtp(
    peer: &mut Peer,
    received: Instant,
    packet: rtc::rtp::Packet,
    now_us: u64,
    counters: &Counters,
    levels: &mut Vec<(RoomId, MemberId, audio_level::AudioLevel)>,
) -> Option<Forward> {
    let size = packet.payload.len() as u64;
    counters.rtp_in.fetch_add(1, Ordering::Relaxed);
    counters.rtp_bytes_in.fetch_add(size, Ordering::Relaxed);
    let inbound = peer.inbound.get(&packet.header.ssrc).copied()?;
    let armed = peer.uplink_feedback.armed();
    let taken = peer.uplink_feedback.on_rtp(received, packet);
    if !armed {
        // Its first packet set the feedback's timers: the worker's cached
        // timer for this peer must be read again.
        peer.needs_flush = true;
    }
    let Some(packet) = taken else {
        counters.rtp_duplicates_in.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    peer.received.0 += 1;
    peer.received.1 += size;
    if let Some(layer) = inbound.layer {
        peer.layer_rates
            .on_packet(layer, packet.payload.len(), now_us);
    }
    let keyframe = inbound.kind == RtpCodecKind::Video
        && if inbound.h264 {
            h264::is_keyframe_start(&packet.payload)
        } else {
            vp8::parse(&packet.payload).is_ok_and(|d| d.is_keyframe_start)
        };
    let audio_level = inbound
        .audio_level_id
        .and_then(|id| packet.header.get_extension(id));
    if let Some(level) = audio_level
        .as_ref()
        .and_then(|data| audio_level::parse(data).ok())
    {
        levels.push((peer.room, peer.member, level));
    }
    Some(Forward {
        received,
        room: peer.room,
        publisher: peer.member,
        kind: inbound.kind,
        h264: inbound.h264,
        layer: inbound.layer,
        keyframe,
        source_ssrc: packet.header.ssrc,
        audio_level,
        packet,
    })
}
