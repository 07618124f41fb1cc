//! A real WebRTC client (webrtc-rs async API, ICE + DTLS-SRTP) for Parley's
//! tests and load generator. It publishes synthetic Opus and VP8 whose
//! payloads name the sender and counts what it receives per sender. It binds
//! to 127.0.0.1 only.

pub mod relay;
pub mod stun;

use parley_media::{DeliverRtcp, PT_H264, PT_OPUS, PT_VP8, h264, opus, vp8};
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
    register_default_interceptors,
};

/// Received packets, keyed by (sender name, "audio" | "video").
pub type Received = Arc<Mutex<HashMap<(String, String), u64>>>;

/// Called with every RTP packet a client receives, as it arrives (before it
/// is counted). The load generator reads its send timestamps here.
pub type PacketHook = Arc<dyn Fn(&rtc::rtp::Packet) + Send + Sync>;

struct Handler {
    gathered: mpsc::UnboundedSender<()>,
    state: mpsc::UnboundedSender<RTCPeerConnectionState>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

pub struct Client {
    pub name: String,
    pub pc: Arc<dyn PeerConnection>,
    pub audio: Option<Arc<TrackLocalStaticRTP>>,
    pub video: Option<Arc<TrackLocalStaticRTP>>,
    pub received: Received,
    pub video_codec: VideoCodec,
    /// RFC 6464 level (0 loud … 127 silent, in -dBov) written on every audio
    /// packet when set and negotiated.
    pub audio_level_dbov: Option<u8>,
    audio_sender: Option<Arc<dyn webrtc::rtp_transceiver::RtpSender>>,
    video_sender: Option<Arc<dyn webrtc::rtp_transceiver::RtpSender>>,
    /// Publishes three VP8 layers (rid `q`, `h`, `f`) instead of one.
    simulcast: bool,
    /// Simulcast layers being sent, one bit per entry of
    /// [`SIMULCAST_LAYERS`] (all at first; `publish_layers` narrows it).
    sent_layers: AtomicU8,
    /// Receive bandwidth announced by REMB on every received track, bits/s
    /// (0: none).
    receive_limit_bps: Arc<AtomicU64>,
    /// Set once by [`Client::on_packet`]; read by every receiving track.
    packet_hook: Arc<OnceLock<PacketHook>>,
    /// The simulcast MID/RID extension ids, found on the first write.
    layer_ids: tokio::sync::OnceCell<(u8, u8, String)>,
    ssrc_base: u32,
    gathered: mpsc::UnboundedReceiver<()>,
    state: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
}

fn media_engine() -> anyhow::Result<MediaEngine> {
    let mut me = MediaEngine::default();
    parley_media::register(&mut me)?;
    Ok(me)
}

/// The video codec a client publishes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoCodec {
    #[default]
    Vp8,
    H264,
}

/// Every entry of [`SIMULCAST_LAYERS`], as bits of `Client::sent_layers`.
const ALL_LAYERS: u8 = 0b111;

/// Simulcast layers a client publishes: rid, and payload bytes per packet
/// (at 50 packets a second: 80, 240 and 440 kbit/s).
pub const SIMULCAST_LAYERS: [(&str, usize); 3] = [("q", 200), ("h", 600), ("f", 1_100)];

/// A local track; `rids` non-empty makes it a simulcast track with one
/// encoding per rid, SSRCs from `ssrc` up.
fn local_track(
    name: &str,
    kind: RtpCodecKind,
    ssrc: u32,
    video: VideoCodec,
    rids: &[&str],
) -> Arc<TrackLocalStaticRTP> {
    let codec = match (kind, video) {
        (RtpCodecKind::Audio, _) => opus(),
        (_, VideoCodec::Vp8) => vp8(),
        (_, VideoCodec::H264) => h264(),
    };
    let encoding = |rid: &str, ssrc: u32| RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            rid: rid.to_string(),
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec: codec.rtp_codec.clone(),
        ..Default::default()
    };
    let encodings = if rids.is_empty() {
        vec![encoding("", ssrc)]
    } else {
        rids.iter()
            .zip(ssrc..)
            .map(|(rid, ssrc)| encoding(rid, ssrc))
            .collect()
    };
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("{name}-stream"),
        format!("{name}-{kind}"),
        format!("{name}-{kind}"),
        kind,
        encodings,
    )))
}

/// What kind of client to build.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// Publish three simulcast layers.
    simulcast: bool,
    /// ICE over TCP only.
    tcp_only: bool,
    /// Send ICE consent checks this far apart (RFC 7675 asks 5 s ± 20 %),
    /// and wait 30 s for answers before counting the SFU as gone.
    consent_interval: Option<Duration>,
    /// Offer DTLS-SRTP with AES_CM_128_HMAC_SHA1_80 only (RFC 5764), as
    /// older stacks do, instead of preferring AEAD_AES_128_GCM.
    aes_cm_only: bool,
    /// Number what it sends for transport-wide feedback (as browsers do),
    /// so the SFU reports arrivals back to it.
    numbers_for_feedback: bool,
}

/// How often a client with a receive limit repeats its REMB.
const REMB_EVERY: Duration = Duration::from_millis(200);

/// A payload that names its sender: `<kind>|<name>|<seq>` padded.
pub fn payload(kind: &str, name: &str, seq: u16) -> Vec<u8> {
    payload_for(kind, name, seq, VideoCodec::Vp8)
}

/// Like [`payload`], with a video payload that looks like `codec`.
pub fn payload_for(kind: &str, name: &str, seq: u16, codec: VideoCodec) -> Vec<u8> {
    let mut p = Vec::new();
    if kind == "video" && codec == VideoCodec::H264 {
        // A single NAL unit: an IDR slice (type 5).
        p.push(0x65);
    } else if kind == "video" {
        // VP8 descriptor (S=1, PID=0) + keyframe header, so it looks like VP8.
        p.extend_from_slice(&[
            0x10, 0x50, 0x2e, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
        ]);
    } else {
        p.push(0xf8);
    }
    p.extend_from_slice(format!("|{kind}|{name}|{seq}|").as_bytes());
    p.resize(if kind == "video" { 900 } else { 120 }, 0x55);
    p
}

/// Marks a video payload as simulcast layer `rid` (its kind becomes
/// `video-<rid>`) and sizes it to `size` bytes.
fn layer_payload(payload: &mut Vec<u8>, rid: &str, size: usize) {
    if let Some(at) = payload.windows(7).position(|w| w == b"|video|") {
        let tagged = format!("|video-{rid}|");
        payload.splice(at..at + 7, tagged.into_bytes());
    }
    payload.resize(size, 0x55);
}

fn parse(payload: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(payload);
    let mut parts = text.split('|').skip(1);
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

impl Client {
    /// A client that publishes audio and video (if `publishes`) and offers
    /// `receive_slots` pairs of transceivers for others' media.
    pub async fn new(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
    ) -> anyhow::Result<Self> {
        Self::vp8(name, publishes, receive_slots, ssrc_base, Shape::default()).await
    }

    /// Like [`Client::new`], reaching the SFU over ICE-TCP only (no UDP
    /// candidates), as behind a firewall that blocks UDP.
    pub async fn over_tcp(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
    ) -> anyhow::Result<Self> {
        let shape = Shape {
            tcp_only: true,
            ..Shape::default()
        };
        Self::vp8(name, publishes, receive_slots, ssrc_base, shape).await
    }

    /// Like [`Client::new`], sending its ICE consent checks `interval`
    /// apart, as Firefox and other RFC 7675 stacks do (5 s ± 20 %), instead
    /// of webrtc-rs's 2 s.
    pub async fn checking_every(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let shape = Shape {
            consent_interval: Some(interval),
            ..Shape::default()
        };
        Self::vp8(name, publishes, receive_slots, ssrc_base, shape).await
    }

    /// Like [`Client::new`], offering only the SRTP_AES128_CM_HMAC_SHA1_80
    /// protection profile, so the connection's SRTP is AES counter mode
    /// with HMAC-SHA1 authentication rather than AES-GCM.
    pub async fn aes_cm_only(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
    ) -> anyhow::Result<Self> {
        let shape = Shape {
            aes_cm_only: true,
            ..Shape::default()
        };
        Self::vp8(name, publishes, receive_slots, ssrc_base, shape).await
    }

    /// Like [`Client::new`], numbering every packet it sends with a
    /// transport-wide sequence number, as browsers do, so that the SFU
    /// sends it transport-wide feedback.
    pub async fn numbering_for_feedback(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
    ) -> anyhow::Result<Self> {
        let shape = Shape {
            numbers_for_feedback: true,
            ..Shape::default()
        };
        Self::vp8(name, publishes, receive_slots, ssrc_base, shape).await
    }

    /// A VP8 client of the given shape.
    async fn vp8(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        shape: Shape,
    ) -> anyhow::Result<Self> {
        Self::build(
            name,
            publishes,
            receive_slots,
            ssrc_base,
            VideoCodec::Vp8,
            shape,
        )
        .await
    }

    /// A client that publishes audio and three simulcast VP8 layers (rid
    /// `q`, `h`, `f`, SSRCs `ssrc_base + 1..=3`, sizes in
    /// [`SIMULCAST_LAYERS`]), and offers `receive_slots` pairs.
    pub async fn simulcast(
        name: &str,
        receive_slots: usize,
        ssrc_base: u32,
    ) -> anyhow::Result<Self> {
        let shape = Shape {
            simulcast: true,
            ..Shape::default()
        };
        Self::build(name, true, receive_slots, ssrc_base, VideoCodec::Vp8, shape).await
    }

    /// Like [`Client::new`], publishing video with `video`.
    pub async fn with_video(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        video_codec: VideoCodec,
    ) -> anyhow::Result<Self> {
        Self::build(
            name,
            publishes,
            receive_slots,
            ssrc_base,
            video_codec,
            Shape::default(),
        )
        .await
    }

    async fn build(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        video_codec: VideoCodec,
        shape: Shape,
    ) -> anyhow::Result<Self> {
        let Shape {
            simulcast,
            tcp_only,
            consent_interval,
            aes_cm_only,
            numbers_for_feedback,
        } = shape;
        let (gathered_tx, gathered) = mpsc::unbounded_channel();
        let (state_tx, state) = mpsc::unbounded_channel();
        let (tracks_tx, mut tracks) = mpsc::unbounded_channel();
        let mut me = media_engine()?;
        let registry = Registry::new().with(Slot::from(14_000), DeliverRtcp::default());
        let registry = register_default_interceptors(registry, &mut me)?;
        let registry = if numbers_for_feedback {
            registry.with(
                Slot::TwccSender,
                rtc::interceptor::TwccSenderBuilder::new().build(),
            )
        } else {
            registry
        };
        let builder = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                gathered: gathered_tx,
                state: state_tx,
                tracks: tracks_tx,
            }));
        let mut setting =
            rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder::new();
        if tcp_only {
            setting = setting.with_network_types(vec![rtc::ice::network_type::NetworkType::Tcp4]);
        }
        if let Some(interval) = consent_interval {
            setting = setting.with_ice_timeouts(
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(5)),
                Some(interval),
            );
        }
        if aes_cm_only {
            setting = setting.with_srtp_protection_profiles(vec![
                rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ]);
        }
        let builder = builder.with_setting_engine(setting.build());
        let builder = if tcp_only {
            builder
                .with_tcp_addrs(vec!["127.0.0.1:0".to_string()])
                .with_udp_addrs(Vec::<String>::new())
        } else {
            builder.with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        };
        let pc = builder.build().await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let (mut audio, mut video) = (None, None);
        let (mut audio_sender, mut video_sender) = (None, None);
        let mut recv_only = receive_slots;
        if publishes {
            let rids: Vec<&str> = if simulcast {
                SIMULCAST_LAYERS.iter().map(|(rid, _)| *rid).collect()
            } else {
                Vec::new()
            };
            let a = local_track(name, RtpCodecKind::Audio, ssrc_base, video_codec, &[]);
            let v = local_track(name, RtpCodecKind::Video, ssrc_base + 1, video_codec, &rids);
            audio_sender = Some(pc.add_track(a.clone() as Arc<dyn TrackLocal>).await?);
            video_sender = Some(pc.add_track(v.clone() as Arc<dyn TrackLocal>).await?);
            audio = Some(a);
            video = Some(v);
            // The sendrecv pair carries one other publisher too, unless its
            // video sends simulcast: then the SFU uses receive-only ones.
            if !simulcast {
                recv_only = recv_only.saturating_sub(1);
            }
        }
        for _ in 0..recv_only {
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .await?;
            }
        }
        let received: Received = Arc::default();
        let counts = received.clone();
        let receive_limit_bps = Arc::new(AtomicU64::new(0));
        let limit = receive_limit_bps.clone();
        let packet_hook: Arc<OnceLock<PacketHook>> = Arc::default();
        let hook = packet_hook.clone();
        tokio::spawn(async move {
            while let Some(track) = tracks.recv().await {
                let counts = counts.clone();
                let limit = limit.clone();
                let hook = hook.clone();
                tokio::spawn(async move {
                    let mut last_remb: Option<tokio::time::Instant> = None;
                    while let Some(event) = track.poll().await {
                        match event {
                            TrackRemoteEvent::OnRtpPacket(packet) => {
                                if let Some(hook) = hook.get() {
                                    hook(&packet);
                                }
                                let bps = limit.load(Ordering::Relaxed);
                                if bps > 0 && last_remb.is_none_or(|t| t.elapsed() >= REMB_EVERY) {
                                    last_remb = Some(tokio::time::Instant::now());
                                    let remb = rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate {
                                        sender_ssrc: 1,
                                        bitrate: bps as f32,
                                        ssrcs: vec![packet.header.ssrc],
                                    };
                                    let _ = track.write_rtcp(vec![Box::new(remb)]).await;
                                }
                                if let Some((kind, from)) = parse(&packet.payload)
                                    && let Ok(mut c) = counts.lock()
                                {
                                    *c.entry((from, kind)).or_default() += 1;
                                }
                            }
                            TrackRemoteEvent::OnEnded => break,
                            _ => {}
                        }
                    }
                });
            }
        });
        Ok(Self {
            name: name.to_string(),
            pc,
            audio,
            video,
            received,
            ssrc_base,
            video_codec,
            audio_level_dbov: None,
            audio_sender,
            video_sender,
            simulcast,
            sent_layers: AtomicU8::new(ALL_LAYERS),
            receive_limit_bps,
            packet_hook,
            layer_ids: tokio::sync::OnceCell::new(),
            gathered,
            state,
        })
    }

    /// Creates the offer and waits for ICE gathering; returns the SDP.
    pub async fn offer(&mut self) -> anyhow::Result<String> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        tokio::time::timeout(Duration::from_secs(10), self.gathered.recv())
            .await
            .map_err(|_| anyhow::anyhow!("{} gathered no candidates within 10 s", self.name))?;
        Ok(self
            .pc
            .local_description()
            .await
            .ok_or_else(|| anyhow::anyhow!("no local description"))?
            .sdp)
    }

    /// Applies the answer and waits until connected (10 s at most).
    pub async fn accept(&mut self, answer: String) -> anyhow::Result<()> {
        // webrtc-rs dials a passive TCP candidate only when it is added on
        // its own, not when it comes in the answer: add those again.
        let tcp_candidates: Vec<String> = answer
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a="))
            .filter(|c| {
                c.starts_with("candidate:")
                    && c.split_whitespace().nth(1) == Some("1")
                    && c.contains(" tcp ")
                    && c.contains("tcptype passive")
            })
            .map(str::to_string)
            .collect();
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer)?)
            .await?;
        for candidate in tcp_candidates {
            self.pc
                .add_ice_candidate(webrtc::peer_connection::RTCIceCandidateInit {
                    candidate,
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    ..Default::default()
                })
                .await?;
        }
        loop {
            let state = tokio::time::timeout(Duration::from_secs(10), self.state.recv())
                .await
                .map_err(|_| anyhow::anyhow!("{} did not connect within 10 s", self.name))?
                .ok_or_else(|| anyhow::anyhow!("state channel closed"))?;
            match state {
                RTCPeerConnectionState::Connected => return Ok(()),
                RTCPeerConnectionState::Failed => anyhow::bail!("{} failed to connect", self.name),
                _ => {}
            }
        }
    }

    /// Sends `packets` audio and video packets, 20 ms apart.
    pub async fn send(&self, first_seq: u16, packets: u16) -> anyhow::Result<()> {
        let (Some(audio), Some(video)) = (&self.audio, &self.video) else {
            anyhow::bail!("{} does not publish", self.name);
        };
        let (ssrc_a, ssrc_v) = (self.ssrc_base, self.ssrc_base + 1);
        let level_id = match self.audio_level_dbov {
            Some(_) => self.audio_level_id().await,
            None => None,
        };
        let layer_ids = if self.simulcast {
            Some(self.simulcast_ids().await?)
        } else {
            None
        };
        // Sequence numbers wrap at 65 535, as RTP's do; the timestamps
        // follow the packet's index.
        for n in 0..packets {
            let i = first_seq.wrapping_add(n);
            let tick = u32::from(first_seq) + u32::from(n);
            let video_pt = match self.video_codec {
                VideoCodec::Vp8 => PT_VP8,
                VideoCodec::H264 => PT_H264,
            };
            let packet = |ssrc: u32, pt: u8, ts: u32, kind: &str| rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    marker: kind == "video",
                    payload_type: pt,
                    sequence_number: i,
                    timestamp: ts,
                    ssrc,
                    ..Default::default()
                },
                payload: payload_for(kind, &self.name, i, self.video_codec).into(),
            };
            let mut audio_packet = packet(ssrc_a, PT_OPUS, tick.wrapping_mul(960), "audio");
            if let (Some(level), Some(id)) = (self.audio_level_dbov, level_id) {
                // V bit set (voice), then the level in -dBov.
                audio_packet
                    .header
                    .set_extension(id, vec![0x80 | (level & 0x7f)].into())?;
            }
            audio.write_rtp(audio_packet).await?;
            match &layer_ids {
                None => {
                    video
                        .write_rtp(packet(ssrc_v, video_pt, tick.wrapping_mul(3000), "video"))
                        .await?
                }
                Some((mid_id, rid_id, mid)) => {
                    for (((rid, size), ssrc), _) in SIMULCAST_LAYERS
                        .iter()
                        .zip(ssrc_v..)
                        .zip(0..)
                        .filter(|(_, i)| self.sends_layer(*i))
                    {
                        let mut p = packet(ssrc, video_pt, u32::from(i) * 3000, "video");
                        let mut payload = payload_for("video", &self.name, i, self.video_codec);
                        layer_payload(&mut payload, rid, *size);
                        p.payload = payload.into();
                        p.header
                            .set_extension(*mid_id, mid.clone().into_bytes().into())?;
                        p.header
                            .set_extension(*rid_id, rid.as_bytes().to_vec().into())?;
                        video.write_rtp(p).await?;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Calls `hook` with every RTP packet received from now on. Only the
    /// first hook set is kept; returns false if one was already set.
    pub fn on_packet(&self, hook: PacketHook) -> bool {
        self.packet_hook.set(hook).is_ok()
    }

    /// Writes one audio packet (Opus payload type, SSRC `ssrc_base`) with
    /// the caller's sequence number, RTP timestamp (48 kHz) and payload.
    pub async fn write_audio(
        &self,
        seq: u16,
        timestamp: u32,
        payload: Vec<u8>,
    ) -> anyhow::Result<()> {
        let Some(audio) = &self.audio else {
            anyhow::bail!("{} does not publish", self.name);
        };
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: PT_OPUS,
                sequence_number: seq,
                timestamp,
                ssrc: self.ssrc_base,
                ..Default::default()
            },
            payload: payload.into(),
        };
        audio.write_rtp(packet).await?;
        Ok(())
    }

    /// Writes one video packet with the caller's sequence number, RTP
    /// timestamp (90 kHz), marker bit and payload (which must already look
    /// like this client's codec). A simulcast client writes it on each
    /// layer, tagged `video-<rid>` and sized as in [`SIMULCAST_LAYERS`]
    /// (never below the payload's own length).
    pub async fn write_video(
        &self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    ) -> anyhow::Result<()> {
        let Some(video) = &self.video else {
            anyhow::bail!("{} does not publish", self.name);
        };
        let pt = match self.video_codec {
            VideoCodec::Vp8 => PT_VP8,
            VideoCodec::H264 => PT_H264,
        };
        let packet = |ssrc: u32, payload: Vec<u8>| rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker,
                payload_type: pt,
                sequence_number: seq,
                timestamp,
                ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        let ssrc_v = self.ssrc_base + 1;
        if !self.simulcast {
            video.write_rtp(packet(ssrc_v, payload)).await?;
            return Ok(());
        }
        let (mid_id, rid_id, mid) = self
            .layer_ids
            .get_or_try_init(|| self.simulcast_ids())
            .await?;
        for (((rid, size), ssrc), _) in SIMULCAST_LAYERS
            .iter()
            .zip(ssrc_v..)
            .zip(0..)
            .filter(|(_, i)| self.sends_layer(*i))
        {
            let mut layer = payload.clone();
            layer_payload(&mut layer, rid, (*size).max(payload.len()));
            let mut p = packet(ssrc, layer);
            p.header
                .set_extension(*mid_id, mid.clone().into_bytes().into())?;
            p.header
                .set_extension(*rid_id, rid.as_bytes().to_vec().into())?;
            video.write_rtp(p).await?;
        }
        Ok(())
    }

    /// Sends only the simulcast layers named (rids), as the SFU's
    /// `publish_layers` asks; the others pause until named again. Unknown
    /// rids are ignored.
    pub fn send_only_layers<S: AsRef<str>>(&self, rids: &[S]) {
        let bits = SIMULCAST_LAYERS
            .iter()
            .enumerate()
            .filter(|(_, (rid, _))| rids.iter().any(|r| r.as_ref() == *rid))
            .fold(0u8, |acc, (i, _)| acc | (1 << i));
        self.sent_layers.store(bits, Ordering::Relaxed);
    }

    /// The simulcast layers being sent (rids), low to high.
    pub fn sent_layers(&self) -> Vec<&'static str> {
        SIMULCAST_LAYERS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.sends_layer(*i as u32))
            .map(|(_, (rid, _))| *rid)
            .collect()
    }

    fn sends_layer(&self, index: u32) -> bool {
        self.sent_layers.load(Ordering::Relaxed) & (1 << index) != 0
    }

    /// Packets received from `from` of `kind` so far.
    pub fn got(&self, from: &str, kind: &str) -> u64 {
        self.received
            .lock()
            .map(|c| {
                c.get(&(from.to_string(), kind.to_string()))
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Announces by REMB that this client can receive at most `bps` bits a
    /// second (0: stop announcing).
    pub fn limit_receive(&self, bps: u64) {
        self.receive_limit_bps.store(bps, Ordering::Relaxed);
    }

    /// The negotiated MID and RID extension ids of the video sender, and
    /// its transceiver's mid.
    async fn simulcast_ids(&self) -> anyhow::Result<(u8, u8, String)> {
        let sender = self
            .video_sender
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("{} sends no video", self.name))?;
        let params = sender.get_parameters().await?;
        let id_of = |uri: &str| {
            params
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == uri)
                .and_then(|e| u8::try_from(e.id).ok())
                .ok_or_else(|| anyhow::anyhow!("{uri} was not negotiated"))
        };
        let (mid_id, rid_id) = (id_of(parley_media::MID_URI)?, id_of(parley_media::RID_URI)?);
        for t in self.pc.get_transceivers().await {
            if let Ok(Some(s)) = t.sender().await
                && s.id() == sender.id()
                && let Ok(Some(mid)) = t.mid().await
            {
                return Ok((mid_id, rid_id, mid));
            }
        }
        anyhow::bail!("{}'s video has no mid", self.name)
    }

    /// The audio-level extension id negotiated on this client's audio
    /// (`None` for a client that does not publish).
    pub async fn audio_level_id(&self) -> Option<u8> {
        let params = self.audio_sender.as_ref()?.get_parameters().await.ok()?;
        params
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|e| e.uri == parley_media::AUDIO_LEVEL_URI)
            .and_then(|e| u8::try_from(e.id).ok())
    }

    pub fn total(&self) -> u64 {
        self.received.lock().map(|c| c.values().sum()).unwrap_or(0)
    }
}
