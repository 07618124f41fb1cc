//! The codecs Parley negotiates and the interceptor chain of every peer
//! connection, shared by the SFU and the WebRTC clients of tests and load
//! generation so that both sides agree on payload types.

use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket,
};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtcp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Payload type of Opus on every leg.
pub const PT_OPUS: u8 = 111;
/// Payload type of VP8 on every leg.
pub const PT_VP8: u8 = 96;
/// Payload type of H.264 (constrained baseline, packetization mode 1).
pub const PT_H264: u8 = 102;

/// Payload type of VP8's retransmissions (RFC 4588 RTX) on legs that
/// negotiate them.
pub const PT_VP8_RTX: u8 = 97;
/// Payload type of H.264's retransmissions.
pub const PT_H264_RTX: u8 = 103;

/// Opus, 48 kHz stereo, in-band FEC.
pub fn opus() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: PT_OPUS,
    }
}

/// VP8, 90 kHz.
pub fn vp8() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: PT_VP8,
    }
}

/// H.264 constrained baseline, packetization mode 1 (what browsers and
/// cell-device hardware encoders share).
pub fn h264() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_H264.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                .to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: PT_H264,
    }
}

/// RFC 4588 retransmission format for the video codec on payload type
/// `apt`, itself on `payload_type`.
pub fn rtx(payload_type: u8, apt: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_RTX.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: format!("apt={apt}"),
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

/// Whether a codec (by MIME type) is RTX.
pub fn is_rtx(mime: &str) -> bool {
    mime.eq_ignore_ascii_case(MIME_TYPE_RTX)
}

/// RFC 6464 client-to-mixer audio level: the publisher's loudness per audio
/// packet, from which the SFU names the active speaker.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// RFC 8843 media identification: names the m-line of each packet.
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// RFC 8852 RTP stream id: names the simulcast layer (`q`, `h`, `f`).
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// Registers Parley's codecs and header extensions on a media engine: the
/// audio level on audio, and the MID and RID that identify simulcast layers
/// on video.
pub fn register(media: &mut MediaEngine) -> Result<(), Error> {
    media.register_codec(opus(), RtpCodecKind::Audio)?;
    media.register_codec(vp8(), RtpCodecKind::Video)?;
    media.register_codec(h264(), RtpCodecKind::Video)?;
    media.register_header_extension(
        rtc::rtp_transceiver::rtp_sender::RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers(
        media,
    )
}

/// Whether a codec (by MIME type) is H.264.
pub fn is_h264(mime: &str) -> bool {
    mime.eq_ignore_ascii_case(MIME_TYPE_H264)
}

/// The codec for a kind of media (video defaults to VP8; H.264 is negotiated
/// alongside it).
pub fn codec_for(kind: RtpCodecKind) -> RTCRtpCodecParameters {
    if kind == RtpCodecKind::Audio {
        opus()
    } else {
        vp8()
    }
}

/// A media engine with Parley's codecs and an interceptor chain (NACK,
/// reports, TWCC) that also hands incoming RTCP to the forwarder.
pub fn media_and_interceptors() -> Result<(MediaEngine, Registry), Error> {
    let mut media = MediaEngine::default();
    register(&mut media)?;
    let registry = Registry::new().with(Slot::from(14_000), DeliverRtcp::default());
    let registry = register_default_interceptors(registry, &mut media)?;
    Ok((media, registry))
}

/// The SFU's media engine and interceptor chain. It differs from a client's
/// ([`media_and_interceptors`]) in that the SFU does the per-packet work
/// itself: it keeps its own history of what it sent each subscriber and
/// answers their NACKs from it, sends each leg's sender reports
/// (`parley_sfu::egress`), and makes the NACKs, receiver reports and
/// transport-wide feedback for what publishers send in a chain of its own
/// that every incoming packet passes through, whichever path decrypted it
/// (`parley_sfu::ingress`). So the chain here only hands incoming RTCP to
/// the forwarder; the media engine still negotiates `nack`, `nack pli` and
/// transport-cc (the feedback and the transport-wide sequence number
/// extension) as before. It also takes RTX (RFC 4588) for both video
/// codecs where the client offers it: the SFU resends to that subscriber on
/// a repair stream, and rtc turns what a publisher resends on its repair
/// stream back into the packet it repairs before the SFU sees it.
pub fn sfu_media_and_interceptors() -> Result<(MediaEngine, Registry), Error> {
    use rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers;
    use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpHeaderExtensionCapability};
    let mut media = MediaEngine::default();
    register(&mut media)?;
    for parameter in ["", "pli"] {
        media.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        media.register_feedback(
            RTCPFeedback {
                typ: "transport-cc".to_owned(),
                parameter: String::new(),
            },
            kind,
        );
        media.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    // After the feedback above: a repair format carries no feedback of its own.
    media.register_codec(rtx(PT_VP8_RTX, PT_VP8), RtpCodecKind::Video)?;
    media.register_codec(rtx(PT_H264_RTX, PT_H264), RtpCodecKind::Video)?;
    configure_simulcast_extension_headers(&mut media)?;
    let registry = Registry::new().with(Slot::from(14_000), DeliverRtcp::default());
    Ok((media, registry))
}

/// Marks every incoming RTCP packet for delivery to the application, so the
/// forwarder sees subscribers' PLI/FIR, NACKs, reports and transport-wide
/// feedback.
///
/// rtc hands a compound RTCP packet to the application only if the first
/// SSRC its first packet is about belongs to a track; a receiver report
/// whose first block is about a repair (RTX) stream, or an empty one, would
/// take the NACK behind it down with it (browsers that receive RTX report on
/// it). So each compound is handed on as one message per packet, report
/// blocks about the local streams' repair SSRCs go after the others, and
/// transport-wide feedback about a repair SSRC is named for the stream it
/// repairs (its media SSRC is informational, RFC 8888 draft-holmer §3.1).
#[derive(Default)]
pub struct DeliverRtcp {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
    /// The local streams' repair SSRCs, each with the SSRC it repairs.
    repairs: HashMap<u32, u32>,
}

impl DeliverRtcp {
    /// `packet`, as rtc can route it to a track.
    fn routable(&self, packet: Box<dyn rtcp::packet::Packet>) -> Box<dyn rtcp::packet::Packet> {
        use rtcp::receiver_report::ReceiverReport;
        use rtcp::sender_report::SenderReport;
        use rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
        let is_repair = |ssrc: &u32| self.repairs.contains_key(ssrc);
        let first_is_repair = packet.destination_ssrc().first().is_some_and(is_repair);
        if !first_is_repair {
            return packet;
        }
        let any = packet.as_any();
        if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            let mut rr = rr.clone();
            rr.reports.sort_by_key(|r| is_repair(&r.ssrc));
            return Box::new(rr);
        }
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            let mut sr = sr.clone();
            sr.reports.sort_by_key(|r| is_repair(&r.ssrc));
            return Box::new(sr);
        }
        if let Some(cc) = any.downcast_ref::<TransportLayerCc>() {
            let mut cc = cc.clone();
            cc.media_ssrc = self
                .repairs
                .get(&cc.media_ssrc)
                .copied()
                .unwrap_or(cc.media_ssrc);
            return Box::new(cc);
        }
        packet
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for DeliverRtcp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let TaggedPacket {
            now,
            transport,
            message,
        } = msg;
        let AttributedPacket { attributes, packet } = message;
        let Packet::Rtcp(packets) = packet else {
            self.read_queue.push_back(TaggedPacket {
                now,
                transport,
                message: AttributedPacket { attributes, packet },
            });
            return Ok(());
        };
        if packets.is_empty() {
            // An attribute carrier: rtc reads it and drops it.
            self.read_queue.push_back(TaggedPacket {
                now,
                transport,
                message: AttributedPacket {
                    attributes,
                    packet: Packet::Rtcp(packets),
                },
            });
            return Ok(());
        }
        for one in packets {
            let mut message = AttributedPacket {
                attributes: attributes.clone(),
                packet: Packet::Rtcp(vec![self.routable(one)]),
            };
            message.add(Attribute::DeliverToApplication);
            self.read_queue.push_back(TaggedPacket {
                now,
                transport,
                message,
            });
        }
        Ok(())
    }
    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }
    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }
    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for DeliverRtcp {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(repair) = info.ssrc_rtx {
            self.repairs.insert(repair, info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(repair) = info.ssrc_rtx {
            self.repairs.remove(&repair);
        }
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};

    fn block(ssrc: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            ..Default::default()
        }
    }

    fn delivered(chain: &mut DeliverRtcp) -> Vec<AttributedPacket> {
        std::iter::from_fn(|| chain.poll_read())
            .map(|m| m.message)
            .collect()
    }

    fn destinations(message: &AttributedPacket) -> Vec<Vec<u32>> {
        match &message.packet {
            Packet::Rtcp(packets) => packets.iter().map(|p| p.destination_ssrc()).collect(),
            _ => panic!("not RTCP"),
        }
    }

    /// A browser receiving RTX reports on the repair stream too; a compound
    /// whose first block is about it still reaches the application, one
    /// packet a message, each led by an SSRC rtc can route.
    #[test]
    fn each_packet_of_a_compound_goes_on_led_by_a_stream_rtc_knows() {
        let mut chain = DeliverRtcp::default();
        chain.bind_local_stream(&StreamInfo {
            ssrc: 10,
            ssrc_rtx: Some(20),
            ..Default::default()
        });
        let compound: Vec<Box<dyn rtc::rtcp::packet::Packet>> = vec![
            Box::new(ReceiverReport {
                ssrc: 99,
                reports: vec![block(20), block(10), block(30)],
                ..Default::default()
            }),
            Box::new(TransportLayerNack {
                sender_ssrc: 99,
                media_ssrc: 10,
                nacks: vec![NackPair {
                    packet_id: 7,
                    lost_packets: 0,
                }],
            }),
            Box::new(TransportLayerCc {
                sender_ssrc: 99,
                media_ssrc: 20,
                ..Default::default()
            }),
        ];
        chain
            .handle_read(TaggedPacket {
                now: Instant::now(),
                transport: Default::default(),
                message: AttributedPacket::new(Packet::Rtcp(compound)),
            })
            .unwrap();
        let out = delivered(&mut chain);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|m| m.has(&Attribute::DeliverToApplication)));
        assert_eq!(destinations(&out[0]), [vec![10, 30, 20]]);
        assert_eq!(destinations(&out[1]), [vec![10]]);
        assert_eq!(destinations(&out[2]), [vec![10]]);

        // Unbound, the repair SSRC is nobody's: left as it came.
        chain.unbind_local_stream(&StreamInfo {
            ssrc: 10,
            ssrc_rtx: Some(20),
            ..Default::default()
        });
        chain
            .handle_read(TaggedPacket {
                now: Instant::now(),
                transport: Default::default(),
                message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(ReceiverReport {
                    ssrc: 99,
                    reports: vec![block(20), block(10)],
                    ..Default::default()
                })])),
            })
            .unwrap();
        assert_eq!(destinations(&delivered(&mut chain)[0]), [vec![20, 10]]);
    }

    #[test]
    fn rtp_and_attribute_carriers_pass_untouched() {
        let mut chain = DeliverRtcp::default();
        for packet in [
            Packet::Rtp(rtc::rtp::Packet::default()),
            Packet::Rtcp(Vec::new()),
        ] {
            chain
                .handle_read(TaggedPacket {
                    now: Instant::now(),
                    transport: Default::default(),
                    message: AttributedPacket::new(packet),
                })
                .unwrap();
        }
        let out = delivered(&mut chain);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|m| !m.has(&Attribute::DeliverToApplication)));
    }
}
