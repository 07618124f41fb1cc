//! The codecs Parley negotiates and the interceptor chain of every peer
//! connection, shared by the SFU and the WebRTC clients of tests and load
//! generation so that both sides agree on payload types.

use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::time::Instant;

/// Payload type of Opus on every leg.
pub const PT_OPUS: u8 = 111;
/// Payload type of VP8 on every leg.
pub const PT_VP8: u8 = 96;
/// Payload type of H.264 (constrained baseline, packetization mode 1).
pub const PT_H264: u8 = 102;

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
/// extension) as before.
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
    configure_simulcast_extension_headers(&mut media)?;
    let registry = Registry::new().with(Slot::from(14_000), DeliverRtcp::default());
    Ok((media, registry))
}

/// Marks every incoming RTCP packet for delivery to the application, so the
/// forwarder sees subscribers' PLI/FIR and can relay them to the publisher.
#[derive(Default)]
pub struct DeliverRtcp {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for DeliverRtcp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if matches!(msg.message.packet, Packet::Rtcp(_)) {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
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
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
