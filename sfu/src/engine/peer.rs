//! One participant's peer connection: what it publishes, and the receive
//! slots the SFU fills with other publishers' media.

use super::continuity::Continuity;
use super::handle::{RoomId, SfuError};
use crate::egress::rtx::{RepairNumbering, RepairStream};
use crate::egress::{LegReports, RetransmitBudget, SendHistory};
use crate::media::layer_pausing::LayerPausing;
use crate::media::layer_rates::LayerRates;
use crate::media::simulcast::{LayerId, LayerInfo, LayerSelector};
use crate::media::video_budget::{
    AUDIO_BPS, MIN_VIDEO_BPS, PauseChange, RESUME_HEADROOM_PERCENT, VideoPause, VideoSource,
    allocate,
};
use crate::room::MemberId;
use parley_media::{codec_for, h264, sfu_media_and_interceptors};
use rtc::ice::network_type::NetworkType;
use rtc::ice::tcp_type::TcpType;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpRtxParameters, RTCRtpSendParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use parley_control::{EstimateSource, MAX_RECEIVE_SLOTS};

/// rtc's own ICE timers (no STUN for this long: disconnected; this much
/// longer: failed) sit past [`crate::liveness`]'s rules, which decide first:
/// rtc counts only STUN as traffic, so its 4 s default cut off RFC 7675
/// peers that check every 5 s while their media flows.
const RTC_ICE_DISCONNECTED_AFTER: Duration =
    Duration::from_secs(crate::liveness::CONSENT_LIFETIME.as_secs() + 5);
const RTC_ICE_FAILED_AFTER: Duration = Duration::from_secs(5);

/// A track this peer publishes.
#[derive(Debug, Clone, Copy)]
pub struct Inbound {
    pub kind: RtpCodecKind,
    /// Whether the publisher sends H.264 (else VP8 or Opus).
    pub h264: bool,
    /// The RFC 6464 audio-level extension id on this leg, if negotiated.
    pub audio_level_id: Option<u8>,
    pub receiver: RTCRtpReceiverId,
    pub ssrc: u32,
    /// The simulcast layer this SSRC carries (from its RID), if any.
    pub layer: Option<LayerId>,
}

/// What one subscriber's leg negotiated for a codec, read once from its
/// sender's parameters: forwarded packets are rewritten to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegFormat {
    pub payload_type: u8,
    /// Id of the RFC 6464 audio-level extension on this leg (audio only),
    /// if negotiated.
    pub audio_level_id: Option<u8>,
    /// Id of the transport-wide sequence number extension on this leg, if
    /// the subscriber negotiated transport-cc feedback.
    pub transport_cc_id: Option<u8>,
    /// The repair stream resends go on, if the subscriber negotiated RTX
    /// for this codec (video only).
    pub rtx: Option<RepairStream>,
}

impl LegFormat {
    /// The format for `kind` (`h264`: H.264 rather than VP8 for video);
    /// `None` if the leg did not negotiate that codec.
    pub fn read(send: &RTCRtpSendParameters, kind: RtpCodecKind, h264: bool) -> Option<Self> {
        let params = &send.rtp_parameters;
        let mime = match (kind, h264) {
            (RtpCodecKind::Audio, _) => "audio/opus",
            (_, true) => "video/h264",
            (_, false) => "video/vp8",
        };
        let payload_type = params
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))?
            .payload_type;
        let audio_level_id = params
            .header_extensions
            .iter()
            .filter(|_| kind == RtpCodecKind::Audio)
            .find(|e| e.uri == parley_media::AUDIO_LEVEL_URI)
            .and_then(|e| u8::try_from(e.id).ok());
        let transport_cc_id = params
            .header_extensions
            .iter()
            .find(|e| e.uri == rtc::sdp::extmap::TRANSPORT_CC_URI)
            .and_then(|e| u8::try_from(e.id).ok());
        let rtx = RepairStream::negotiated(
            &params.codecs,
            payload_type,
            send.encodings
                .first()
                .and_then(|e| e.rtp_coding_parameters.rtx.as_ref())
                .map(|r| r.ssrc),
        );
        Some(Self {
            payload_type,
            audio_level_id,
            transport_cc_id,
            rtx,
        })
    }
}

/// One outgoing stream of a receive slot.
#[derive(Debug)]
pub struct OutTrack {
    pub sender: RTCRtpSenderId,
    pub ssrc: u32,
    /// Negotiated formats, read from the sender once known:
    /// `(h264, format)`, at most one entry per codec.
    pub formats: Vec<(bool, LegFormat)>,
    pub continuity: Continuity,
    /// Which layer of a simulcast source goes out (video only; unused for
    /// a source that does not send simulcast).
    pub layers: LayerSelector,
    /// What went out, for NACKs.
    pub history: SendHistory,
    /// How much may be resent.
    pub budget: RetransmitBudget,
    /// Its sender reports and the round trip they measure.
    pub reports: LegReports,
    /// Sequence numbers of its repair stream, if it has one.
    pub repairs: RepairNumbering,
}

impl OutTrack {
    fn new(sender: RTCRtpSenderId, ssrc: u32, kind: RtpCodecKind) -> Self {
        let clock_rate = if kind == RtpCodecKind::Audio {
            48_000
        } else {
            90_000
        };
        Self {
            sender,
            ssrc,
            formats: Vec::new(),
            continuity: Continuity::new(clock_rate),
            layers: LayerSelector::default(),
            history: SendHistory::default(),
            budget: RetransmitBudget::default(),
            reports: LegReports::new(clock_rate, 0),
            repairs: RepairNumbering::starting_at(rand::random()),
        }
    }
}

impl OutTrack {
    /// The leg's format for the codec, if already read.
    pub fn leg_format(&self, h264: bool) -> Option<LegFormat> {
        self.formats
            .iter()
            .find(|(codec, _)| *codec == h264)
            .map(|(_, f)| *f)
    }

    /// The leg's format for media on `payload_type` (the leg's own), if
    /// already read.
    pub fn format_of(&self, payload_type: u8) -> Option<LegFormat> {
        self.formats
            .iter()
            .map(|(_, f)| *f)
            .find(|f| f.payload_type == payload_type)
    }

    /// Keeps the leg's format for the codec.
    pub fn remember(&mut self, h264: bool, format: LegFormat) {
        if self.leg_format(h264).is_none() {
            self.formats.push((h264, format));
        }
    }
}

/// An audio and a video stream that carry one other publisher.
#[derive(Debug)]
pub struct Slot {
    pub source: Option<MemberId>,
    pub audio: OutTrack,
    pub video: OutTrack,
    /// Whether the source's video is paused for this subscriber (its
    /// downlink cannot carry it with the audio).
    pub pause: VideoPause,
    /// What the source's video may use of this subscriber's downlink, bits
    /// per second (`None`: it does not fit).
    pub video_share_bps: Option<u64>,
}

impl Slot {
    pub fn track_mut(&mut self, kind: RtpCodecKind) -> &mut OutTrack {
        if kind == RtpCodecKind::Audio {
            &mut self.audio
        } else {
            &mut self.video
        }
    }
}

pub struct Peer {
    pub room: RoomId,
    pub member: MemberId,
    pub ufrag: String,
    /// Our ICE password for this peer: the key of its checks' integrity.
    pub ice_password: String,
    pub pc: RTCPeerConnection,
    /// DTLS is up (the connection reached `Connected`).
    pub connected: bool,
    /// Its consent and whether it is still there.
    pub liveness: crate::liveness::Liveness,
    /// The connection's crypto provider, which keeps its SRTP master keys.
    pub keys: std::sync::Arc<crate::egress::keys::KeyCapture>,
    /// Whether its RTP is sealed by the SFU (see `crate::egress::sealing`).
    pub sealing: crate::egress::sealing::Sealing,
    /// Whether what it publishes is decrypted by the SFU (see
    /// `crate::ingress::opening`).
    pub opening: crate::ingress::Opening,
    /// Decryption of the peer's RTCP by the worker, once its key is proven
    /// (`crate::ingress::rtcp_opening`).
    pub rtcp_opening: crate::ingress::Opening<crate::ingress::rtcp_opening::RtcpOpener>,
    /// RTCP the worker decrypted this turn, for the pump.
    pub arrived_rtcp: Vec<(Instant, crate::ingress::rtcp_opening::Compound)>,
    /// RTP packets it sent since the last pump, decrypted by the worker or
    /// by the connection, with the instant each arrived.
    pub arrived: Vec<(Instant, rtc::rtp::Packet)>,
    /// RTP packets and payload bytes taken from it.
    pub received: (u64, u64),
    /// Which of its packets arrived, and the NACKs, receiver reports and
    /// transport-wide feedback that tell it so.
    pub uplink_feedback: crate::ingress::UplinkFeedback,
    /// Where its media goes (the selected candidate pair), learned from
    /// what the connection sends.
    pub route: Option<(SocketAddr, rtc::shared::TransportProtocol)>,
    /// Something arrived for the worker's pump since it last looked:
    /// handed to the connection, or decrypted here (`arrived`).
    pub needs_pump: bool,
    /// Something was handed to the connection since its events and reads
    /// were last drained.
    pub handed: bool,
    /// Something was handed to the connection since its writes were last
    /// collected and its next timer read (the worker's flush skips it
    /// otherwise).
    pub needs_flush: bool,
    /// What this peer publishes, by incoming SSRC (one per simulcast layer).
    pub inbound: HashMap<u32, Inbound>,
    pub slots: Vec<Slot>,
    /// Publishers this peer has no free slot for (waiting for one to free).
    pub unserved: std::collections::BTreeSet<MemberId>,
    /// What its downlink carries: the transport-wide numbering of what it
    /// is sent, and the estimate from its feedback (and REMB).
    pub downlink: crate::egress::Downlink,
    /// What this peer sends per simulcast layer.
    pub layer_rates: LayerRates,
    /// Which of its simulcast layers it is asked to pause.
    pub layer_pausing: LayerPausing,
    /// Its connection's counters at the last sample, and when (µs).
    pub link: super::link_quality::LinkTotals,
    pub link_sampled_us: Option<u64>,
    /// What its uplink carried between the last two samples.
    pub uplink: super::link_quality::Uplink,
    /// The room's active speaker, whose video this peer's downlink serves
    /// first.
    pub speaker: Option<MemberId>,
    /// Sources whose video was paused or resumed for this peer, for the
    /// worker to announce (and, on resuming, to ask for a keyframe).
    pub pause_changes: Vec<(MemberId, PauseChange)>,
    /// The last receive limit sent to this peer as a single-layer video
    /// publisher: (bits per second, when, µs).
    pub remb_sent: Option<(u64, u64)>,
    /// Which recent video packet the running probe cluster resends next
    /// (counted back from the newest).
    pub probe_cursor: u16,
    /// Whether its connection is shown as weak.
    pub strength: crate::media::link_strength::LinkStrength,
}

/// Receive estimate assumed for a subscriber that negotiated no
/// transport-wide feedback and sends no REMB (bits/s): enough for the mid
/// layer of a browser's simulcast, not the full one. Never used for a leg
/// that negotiated transport-cc (its estimate starts at
/// [`crate::egress::downlink::INITIAL_BPS`] and follows its feedback).
pub const DEFAULT_ESTIMATE_BPS: u64 = 1_000_000;

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// How many video m-lines of `sdp` send simulcast (`a=simulcast:send`).
fn simulcast_send_lines(sdp: &str) -> usize {
    let mut count = 0;
    let mut video = false;
    for line in sdp.lines() {
        let line = line.trim();
        if let Some(media) = line.strip_prefix("m=") {
            video = media.starts_with("video");
        } else if video && line.starts_with("a=simulcast:send") {
            count += 1;
        }
    }
    count
}

/// Whether `sdp` offers RTX (RFC 4588) for its video (`a=rtpmap:<pt> rtx/90000`).
fn offers_rtx(sdp: &str) -> bool {
    sdp.lines().any(|line| {
        line.strip_prefix("a=rtpmap:")
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(_, format)| format.trim().eq_ignore_ascii_case("rtx/90000"))
    })
}

/// For a member who may not publish (an observer, a monitor): the answer
/// says so. An m-line the client offered to send on answers `sendonly` if
/// it carries a receive slot, else `inactive`, so the client knows its
/// media goes nowhere instead of sending packets the SFU would drop.
fn refuse_publishing(pc: &mut RTCPeerConnection) {
    use rtc::rtp_transceiver::RTCRtpTransceiverDirection as Direction;
    let ids: Vec<_> = pc.get_transceivers().collect();
    for id in ids {
        let Some(mut t) = pc.rtp_transceiver(id) else {
            continue;
        };
        let direction = t.direction();
        if !direction.has_recv() {
            continue;
        }
        t.set_direction(if direction.has_send() {
            Direction::Sendonly
        } else {
            Direction::Inactive
        });
    }
}

/// A host candidate for the worker's address (`network`: `udp` or `tcp`).
fn host_candidate(
    network: &str,
    addr: SocketAddr,
    tcp_type: TcpType,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit, SfuError> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()
    .map_err(engine)?;
    RTCIceCandidate::from(&candidate).to_json().map_err(engine)
}

fn engine(e: impl std::fmt::Display) -> SfuError {
    SfuError::Engine(e.to_string())
}

/// The addresses a worker puts in its answers' host candidates.
#[derive(Debug, Clone, Copy)]
pub struct Advertised {
    pub udp: SocketAddr,
    /// The passive ICE-TCP candidate, when enabled.
    pub tcp: Option<SocketAddr>,
}

impl Peer {
    /// Answers `offer` for a new member: ICE-lite with our own credentials,
    /// host candidates at the worker's `advertised` addresses, AES-GCM SRTP
    /// first, and `receive_slots` pairs of outgoing tracks; a member who
    /// may not publish is told so in the answer.
    pub fn answer(
        room: RoomId,
        member: MemberId,
        offer: String,
        receive_slots: usize,
        may_publish: bool,
        advertised: Advertised,
        now: Instant,
    ) -> Result<(Self, String), SfuError> {
        if receive_slots > MAX_RECEIVE_SLOTS {
            return Err(SfuError::BadOffer(format!(
                "{receive_slots} receive slots asked; at most {MAX_RECEIVE_SLOTS}"
            )));
        }
        let ufrag = random_token(16);
        let ice_password = random_token(32);
        let keys = crate::egress::keys::KeyCapture::new().map_err(engine)?;
        let (media, registry) = sfu_media_and_interceptors().map_err(engine)?;
        let setting = SettingEngineBuilder::new()
            .with_lite(true)
            .with_ice_credentials(ufrag.clone(), ice_password.clone())
            .with_crypto_provider(keys.clone())
            .with_ice_timeouts(
                Some(RTC_ICE_DISCONNECTED_AFTER),
                Some(RTC_ICE_FAILED_AFTER),
                None,
            )
            .with_network_types(vec![
                NetworkType::Udp4,
                NetworkType::Udp6,
                NetworkType::Tcp4,
                NetworkType::Tcp6,
            ])
            .with_srtp_protection_profiles(vec![
                rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ])
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting)
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(engine)?;
        let offer_text = offer.clone();
        let description =
            RTCSessionDescription::offer(offer).map_err(|e| SfuError::BadOffer(e.to_string()))?;
        pc.set_remote_description(now, description)
            .map_err(|e| SfuError::BadOffer(e.to_string()))?;
        let rtx = offers_rtx(&offer_text);
        // A video m-line the client sends simulcast on does not receive
        // (webrtc-rs clients drop what arrives there): hold each with a
        // placeholder track that is never written, so receive slots land on
        // the client's receive-only video transceivers.
        for i in 0..simulcast_send_lines(&offer_text) {
            let placeholder = MediaStreamTrack::new(
                format!("parley-hold-{i}"),
                format!("hold-{i}-video"),
                format!("hold-{i}-video"),
                RtpCodecKind::Video,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(rand::random()),
                        ..Default::default()
                    },
                    codec: codec_for(RtpCodecKind::Video).rtp_codec,
                    ..Default::default()
                }],
            );
            pc.add_track(placeholder).map_err(engine)?;
        }
        let mut slots = Vec::with_capacity(receive_slots);
        for i in 0..receive_slots {
            let mut pair = Vec::with_capacity(2);
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                let ssrc: u32 = rand::random();
                // Video slots take VP8 where the client offers it, H.264 where
                // that is all its transceiver accepts.
                let codecs = if kind == RtpCodecKind::Audio {
                    vec![codec_for(kind)]
                } else {
                    vec![codec_for(kind), h264()]
                };
                let mut added = Err(engine("no codec"));
                for codec in codecs {
                    let track = MediaStreamTrack::new(
                        format!("parley-slot-{i}"),
                        format!("slot-{i}-{kind}"),
                        format!("slot-{i}-{kind}"),
                        kind,
                        vec![RTCRtpEncodingParameters {
                            rtp_coding_parameters: RTCRtpCodingParameters {
                                ssrc: Some(ssrc),
                                // Announced in the answer (`a=ssrc-group:FID`)
                                // for the leg's resends.
                                rtx: (rtx && kind == RtpCodecKind::Video).then(|| {
                                    RTCRtpRtxParameters {
                                        ssrc: rand::random(),
                                    }
                                }),
                                ..Default::default()
                            },
                            codec: codec.rtp_codec,
                            ..Default::default()
                        }],
                    );
                    added = pc.add_track(track).map_err(engine);
                    if added.is_ok() {
                        break;
                    }
                }
                let sender = added?;
                pair.push(OutTrack::new(sender, ssrc, kind));
            }
            let video = pair.pop().ok_or_else(|| engine("slot without video"))?;
            let audio = pair.pop().ok_or_else(|| engine("slot without audio"))?;
            slots.push(Slot {
                source: None,
                audio,
                video,
                pause: VideoPause::default(),
                video_share_bps: None,
            });
        }
        if !may_publish {
            refuse_publishing(&mut pc);
        }
        let mut candidates = vec![host_candidate("udp", advertised.udp, TcpType::Unspecified)?];
        if let Some(tcp) = advertised.tcp {
            candidates.push(host_candidate("tcp", tcp, TcpType::Passive)?);
        }
        for candidate in candidates {
            pc.add_local_candidate(candidate).map_err(engine)?;
        }
        let answer = pc
            .create_answer(None)
            .map_err(|e| SfuError::BadOffer(e.to_string()))?;
        pc.set_local_description(now, answer.clone())
            .map_err(engine)?;
        Ok((
            Self {
                room,
                member,
                ufrag,
                ice_password,
                pc,
                connected: false,
                liveness: crate::liveness::Liveness::new(now),
                keys,
                sealing: Default::default(),
                opening: Default::default(),
                rtcp_opening: Default::default(),
                arrived_rtcp: Vec::new(),
                arrived: Vec::new(),
                received: (0, 0),
                uplink_feedback: Default::default(),
                route: None,
                needs_pump: true,
                handed: true,
                needs_flush: true,
                inbound: HashMap::new(),
                slots,
                unserved: std::collections::BTreeSet::new(),
                downlink: crate::egress::Downlink::new(now),
                layer_rates: LayerRates::default(),
                layer_pausing: LayerPausing::default(),
                link: Default::default(),
                link_sampled_us: None,
                uplink: Default::default(),
                speaker: None,
                pause_changes: Vec::new(),
                remb_sent: None,
                probe_cursor: 0,
                strength: Default::default(),
            },
            answer.sdp,
        ))
    }

    /// Marks the connection as handed something: the worker drains its
    /// events and reads, collects its writes and reads its next timer.
    pub fn touch(&mut self) {
        self.needs_pump = true;
        self.handed = true;
        self.needs_flush = true;
    }

    /// Gives `source` a free slot; false when every slot is taken. A new
    /// slot's layer selector starts from `layers`, what `source` sends.
    pub fn assign(&mut self, source: MemberId, layers: &[LayerInfo], now_us: u64) -> bool {
        if self.slots.iter().any(|s| s.source == Some(source)) {
            return true;
        }
        match self.slots.iter_mut().find(|s| s.source.is_none()) {
            Some(slot) => {
                slot.source = Some(source);
                slot.video.layers = LayerSelector::default();
                slot.video.layers.set_available(layers, now_us);
                self.share_estimate(now_us);
                true
            }
            None => false,
        }
    }

    /// This peer's receive estimate (bits/s) and where it comes from.
    pub fn estimate(&self) -> (u64, EstimateSource) {
        if let Some(bps) = self.downlink.remb_bps() {
            return (bps, EstimateSource::Remb);
        }
        match self.downlink.feedback_estimate_bps() {
            Some(bps) => (bps, EstimateSource::TransportFeedback),
            None => (DEFAULT_ESTIMATE_BPS, EstimateSource::Assumed),
        }
    }

    /// Whether its connection looks weak now: video is paused for it, or
    /// its measured (not assumed, not still climbing) estimate is below
    /// [`crate::media::link_strength::WEAK_BELOW_BPS`].
    pub fn looks_weak(&self) -> bool {
        let (bps, source) = self.estimate();
        let measured = match source {
            EstimateSource::Assumed => false,
            EstimateSource::Remb => true,
            EstimateSource::TransportFeedback => self.downlink.found_limit(),
        };
        self.slots.iter().any(|s| s.pause.paused())
            || (measured && bps < crate::media::link_strength::WEAK_BELOW_BPS)
    }

    /// Learns the leg's negotiated transport-wide extension from `format`:
    /// from then on every packet to this peer is numbered and its feedback
    /// read.
    pub fn learn_transport_cc(&mut self, format: &LegFormat, now_us: u64) {
        if let Some(id) = format.transport_cc_id
            && self.downlink.extension_id() != Some(id)
        {
            self.downlink.use_extension(id);
            self.share_estimate(now_us);
        }
    }

    /// What this peer's downlink must carry for its paused video to come
    /// back (every source's audio, and each source's lowest video rate with
    /// the resume headroom), bits/s; `None` when none is paused.
    pub fn resume_needs_bps(&self) -> Option<u64> {
        let sources = self.slots.iter().filter(|s| s.source.is_some());
        let mut paused = false;
        let mut needs = 0u64;
        for slot in sources {
            paused |= slot.pause.paused();
            let lowest = slot.video.layers.lowest_bps().unwrap_or(MIN_VIDEO_BPS);
            needs += AUDIO_BPS + lowest * RESUME_HEADROOM_PERCENT / 100;
        }
        paused.then_some(needs)
    }

    /// Spends this peer's receive estimate on the sources it receives,
    /// audio first, then the active speaker's video, then the others'
    /// ([`crate::media::video_budget`]): hands each layer selector its
    /// share, and pauses (or resumes) the video that does not fit.
    pub fn share_estimate(&mut self, now_us: u64) {
        let (total, source) = self.estimate();
        // An estimate still climbing from its start pauses nothing.
        let may_pause = source != EstimateSource::TransportFeedback || self.downlink.found_limit();
        // A probe has just shown the link carries what the paused video
        // needs with its headroom: it comes back now rather than after the
        // resume wait.
        let needs = self.resume_needs_bps();
        let proven = self
            .downlink
            .take_probe_delivered()
            .filter(|&bps| needs.is_some_and(|n| bps >= n));
        let sources: Vec<VideoSource<usize>> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let member = slot.source?;
                Some(VideoSource {
                    key: i,
                    lowest_bps: slot.video.layers.lowest_bps().unwrap_or(MIN_VIDEO_BPS),
                    speaking: self.speaker == Some(member),
                    paused: slot.pause.paused(),
                })
            })
            .collect();
        for share in allocate(total, sources.len(), &sources) {
            let Some(slot) = self.slots.get_mut(share.key) else {
                continue;
            };
            slot.video_share_bps = share.video_bps;
            let selector_share = share
                .video_bps
                .unwrap_or_else(|| slot.video.layers.lowest_bps().unwrap_or(MIN_VIDEO_BPS));
            slot.video.layers.set_estimate(selector_share, now_us);
            let fits = share.video_bps.is_some() || !may_pause;
            let change = match proven {
                Some(_) if fits && slot.pause.paused() => slot.pause.resume_now(),
                _ => slot.pause.update(fits, now_us),
            };
            if let (Some(change), Some(source)) = (change, slot.source) {
                if change == PauseChange::Resumed {
                    slot.video.continuity.restart();
                }
                self.pause_changes.push((source, change));
            }
        }
    }

    /// Frees the slot `source` occupied.
    pub fn release(&mut self, source: MemberId, now_us: u64) {
        let mut freed = false;
        for slot in &mut self.slots {
            if slot.source == Some(source) {
                slot.source = None;
                slot.pause = VideoPause::default();
                slot.video_share_bps = None;
                freed = true;
            }
        }
        if freed {
            self.share_estimate(now_us);
        }
        self.pause_changes.retain(|(m, _)| *m != source);
    }

    /// The round trip to this peer, from the newest of its legs' receiver
    /// reports (a paused leg sends no sender reports, so its round trip
    /// goes stale).
    pub fn round_trip(&self) -> Option<Duration> {
        self.slots
            .iter()
            .flat_map(|s| [&s.video, &s.audio])
            .filter_map(|t| t.reports.rtt_with_time())
            .max_by_key(|(_, at)| *at)
            .map(|(rtt, _)| Duration::from_micros(rtt))
    }

    /// The slot carrying `source`.
    pub fn slot_of(&mut self, source: MemberId) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.source == Some(source))
    }

    /// The leg that goes out with `ssrc`.
    pub fn leg_mut(&mut self, ssrc: u32) -> Option<&mut OutTrack> {
        self.slots.iter_mut().find_map(|s| {
            if s.audio.ssrc == ssrc {
                Some(&mut s.audio)
            } else if s.video.ssrc == ssrc {
                Some(&mut s.video)
            } else {
                None
            }
        })
    }

    /// The source whose video goes out with `ssrc`.
    pub fn source_of_video_ssrc(&self, ssrc: u32) -> Option<MemberId> {
        self.slots
            .iter()
            .find(|s| s.video.ssrc == ssrc)
            .and_then(|s| s.source)
    }
}
