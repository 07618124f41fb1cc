//! One lightweight client's WebRTC side: a sans-IO `rtc` peer connection
//! and its own UDP socket on 127.0.0.1, offering the same transceivers as
//! `parley_client::Client::new` (sendrecv audio + video when publishing,
//! then receive-only pairs for the others), with Parley's codecs and
//! interceptors. Driven by the [`crate::light`] engine, never by a task.

use bytes::BytesMut;
use parley_media::{PT_OPUS, PT_VP8, media_and_interceptors, opus, vp8};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;
use thiserror::Error;

/// Why a lightweight client could not be set up or used.
#[derive(Debug, Error)]
pub enum LightError {
    #[error("cannot open a UDP socket on 127.0.0.1: {0}")]
    Socket(#[from] std::io::Error),
    #[error("WebRTC engine refused {step}: {message}")]
    Engine { step: &'static str, message: String },
    #[error("the SFU's answer is not usable SDP: {0}")]
    BadAnswer(String),
    #[error("the connection failed before it was established (ICE or DTLS)")]
    Failed,
    #[error("the lightweight client engine has stopped; see the error before this one")]
    EngineGone,
}

fn engine(step: &'static str) -> impl FnOnce(rtc::shared::error::Error) -> LightError {
    move |e| LightError::Engine {
        step,
        message: e.to_string(),
    }
}

/// The senders of a publishing client.
#[derive(Debug, Clone, Copy)]
pub struct Senders {
    pub audio: RTCRtpSenderId,
    pub video: RTCRtpSenderId,
    /// Audio SSRC; video is the next one.
    pub ssrc_base: u32,
}

/// A peer connection with its socket.
pub struct LightPeer {
    pub pc: RTCPeerConnection,
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub senders: Option<Senders>,
}

/// A send track of `kind` with one encoding on `ssrc`.
fn send_track(name: &str, kind: RtpCodecKind, ssrc: u32) -> MediaStreamTrack {
    let codec = if kind == RtpCodecKind::Audio {
        opus()
    } else {
        vp8()
    };
    MediaStreamTrack::new(
        format!("{name}-stream"),
        format!("{name}-{kind}"),
        format!("{name}-{kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.rtp_codec,
            ..Default::default()
        }],
    )
}

impl LightPeer {
    /// Opens the socket and builds the peer connection: publishing
    /// (audio SSRC `ssrc_base`, video `ssrc_base + 1`) if `publishes`, and
    /// `receive_slots` pairs to receive in all (the sendrecv pair counts as
    /// one). Returns it with its SDP offer (host candidate included).
    pub fn offer(
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        now: Instant,
    ) -> Result<(Self, String), LightError> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let (media, registry) = media_and_interceptors().map_err(engine("its codecs"))?;
        let setting = SettingEngineBuilder::new()
            .with_include_loopback_candidate(true)
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting)
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(engine("a new peer connection"))?;
        let mut recv_only = receive_slots;
        let senders = if publishes {
            let audio = pc
                .add_track(send_track(name, RtpCodecKind::Audio, ssrc_base))
                .map_err(engine("the audio track"))?;
            let video = pc
                .add_track(send_track(name, RtpCodecKind::Video, ssrc_base + 1))
                .map_err(engine("the video track"))?;
            // The sendrecv pair carries one other publisher too.
            recv_only = recv_only.saturating_sub(1);
            Some(Senders {
                audio,
                video,
                ssrc_base,
            })
        } else {
            None
        };
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
                .map_err(engine("a receive-only transceiver"))?;
            }
        }
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: local.ip().to_string(),
                port: local.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .map_err(engine("the host candidate"))?;
        let candidate = RTCIceCandidate::from(&candidate)
            .to_json()
            .map_err(engine("the host candidate"))?;
        pc.add_local_candidate(candidate)
            .map_err(engine("the host candidate"))?;
        let offer = pc.create_offer(None).map_err(engine("an offer"))?;
        pc.set_local_description(now, offer)
            .map_err(engine("its own offer"))?;
        let sdp = pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or(LightError::Engine {
                step: "its own offer",
                message: "no local description after setting it".into(),
            })?;
        Ok((
            Self {
                pc,
                socket,
                local,
                senders,
            },
            sdp,
        ))
    }

    /// Applies the SFU's answer; the connection then proceeds as the
    /// engine drives it.
    pub fn accept(&mut self, answer: String, now: Instant) -> Result<(), LightError> {
        let answer = RTCSessionDescription::answer(answer)
            .map_err(|e| LightError::BadAnswer(e.to_string()))?;
        self.pc
            .set_remote_description(now, answer)
            .map_err(|e| LightError::BadAnswer(e.to_string()))
    }

    /// Hands one received datagram to the peer connection.
    pub fn receive(&mut self, datagram: &[u8], from: SocketAddr, now: Instant) -> bool {
        self.pc
            .handle_read(TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: self.local,
                    peer_addr: from,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(datagram),
            })
            .is_ok()
    }

    /// Writes one audio or video packet on its sender (Opus or VP8
    /// payload type, this client's SSRC).
    pub fn write(
        &mut self,
        video: bool,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
        now: Instant,
    ) -> Result<(), LightError> {
        let senders = self.senders.ok_or(LightError::Engine {
            step: "a packet",
            message: "this client does not publish".into(),
        })?;
        let (id, ssrc, payload_type) = if video {
            (senders.video, senders.ssrc_base + 1, PT_VP8)
        } else {
            (senders.audio, senders.ssrc_base, PT_OPUS)
        };
        let mut sender = self.pc.rtp_sender(id).ok_or(LightError::Engine {
            step: "a packet",
            message: "its sender is gone".into(),
        })?;
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number: seq,
                timestamp,
                ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        sender.write_rtp(now, packet).map_err(engine("a packet"))
    }

    /// Sends everything the peer connection has queued; returns datagrams
    /// that could not be sent (the socket buffer was full).
    pub fn flush(&mut self) -> u64 {
        let mut dropped = 0;
        while let Some(out) = self.pc.poll_write() {
            if self
                .socket
                .send_to(&out.message, out.transport.peer_addr)
                .is_err()
            {
                dropped += 1;
            }
        }
        dropped
    }
}
