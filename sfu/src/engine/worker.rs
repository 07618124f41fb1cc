//! One worker thread: its UDP socket, its rooms and their peer connections,
//! driven by one loop that reads datagrams, runs timers, forwards media and
//! writes datagrams. The clock is read once per turn and handed to every
//! peer connection.

use super::batch_io::{self, SendMode};
use super::handle::{
    Counters, HearingChange, JoinAnswer, MediaEvent, RECORDER_MEMBER, RecordingTap, RoomId,
    SfuError, VerifiedJoin, recording_track_id,
};
use super::ice_tcp::TcpLinks;
use super::peer::{LegFormat, Peer};
use super::send::Outbox;
use super::timers::PeerTimers;
use crate::demux::Demux;
use crate::media::audio_level::{self, ActiveSpeaker};
use crate::media::keyframe_requests::KeyframeRequests;
use crate::media::simulcast::{Decision, LayerId, LayerInfo, LayerSet};
use crate::media::{h264, vp8};
use crate::room::{MediaKind, MemberId, Room, RoomPolicy};
use bytes::BytesMut;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Largest datagram read, in bytes.
const MAX_DATAGRAM: usize = 2048;
/// Longest the loop sleeps when no timer is due (commands wake it sooner).
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// How often the worker looks at what no packet triggers: peers' liveness
/// (10 s and 30 s rules), legs' sender reports (one a second), rooms'
/// active speakers (held 1.5 s) and simulcast layers. Ten times a second
/// is plenty for each, and it keeps a turn's cost to the peers it touched.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(100);
/// Shortest socket wait: a timer stuck in the past costs at most 1000 turns
/// a second, never a spin.
const MIN_WAIT: Duration = Duration::from_millis(1);
/// Datagrams read per turn before timers and writes get their turn.
const READ_BATCH: usize = 256;

mod announcement;
mod downlinks;
mod forwarding;
mod housekeeping;
mod membership;
mod probing;
mod receiving;
mod recording;
mod rtc_events;

type Reply<T> = mpsc::Sender<Result<T, SfuError>>;

pub enum Command {
    OpenRoom {
        room: RoomId,
        policy: RoomPolicy,
        reply: Reply<()>,
    },
    Join {
        request: VerifiedJoin,
        reply: Reply<JoinAnswer>,
    },
    Remove {
        room: RoomId,
        member: MemberId,
        reply: Reply<()>,
    },
    CloseRoom {
        room: RoomId,
        reply: Reply<()>,
    },
    Mute {
        room: RoomId,
        member: MemberId,
        media: MediaKind,
        muted: bool,
        reply: Reply<()>,
    },
    Hearing {
        room: RoomId,
        change: HearingChange,
        reply: Reply<()>,
    },
    /// Start (a tap, after the announcement) or stop (none) recording.
    Record {
        room: RoomId,
        tap: Option<Box<dyn RecordingTap>>,
        announcement: Vec<bytes::Bytes>,
        reply: Reply<()>,
    },
    /// Each member's downlink, as it stands.
    Downlinks {
        room: RoomId,
        reply: Reply<Vec<super::DownlinkReport>>,
    },
    Stop,
}

type PeerKey = u64;

struct RoomState {
    room: Room,
    peers: HashMap<MemberId, PeerKey>,
    speakers: ActiveSpeaker<MemberId>,
    /// The active speaker last announced to the control plane.
    announced: Option<MemberId>,
    /// Where the recorder member's packets go, while recording.
    recording: Option<Recording>,
    /// The spoken notice playing before recording starts.
    announcement: Option<Announcement>,
}

/// An announcement being played into a room; the recording it precedes.
struct Announcement {
    frames: Vec<bytes::Bytes>,
    next: usize,
    next_at: Instant,
    then_record: Box<dyn RecordingTap>,
}

/// SSRC the announcement's frames are numbered under (rewritten per slot).
const ANNOUNCEMENT_SSRC: u32 = 0x5041_524c;
/// One Opus frame: 20 ms, 960 ticks of the 48 kHz RTP clock.
const ANNOUNCEMENT_FRAME: Duration = Duration::from_millis(20);

/// A room being recorded.
struct Recording {
    tap: Box<dyn RecordingTap>,
    /// One simulcast layer per publisher for the record: the best sent.
    layers: HashMap<MemberId, crate::media::simulcast::LayerSelector>,
}

/// A packet to forward: from `publisher` in `room`.
struct Forward {
    received: Instant,
    room: RoomId,
    publisher: MemberId,
    kind: RtpCodecKind,
    h264: bool,
    /// The simulcast layer of the packet, if its publisher sends simulcast.
    layer: Option<LayerId>,
    /// The packet starts a video keyframe.
    keyframe: bool,
    source_ssrc: u32,
    /// The publisher's RFC 6464 audio-level extension payload, passed on
    /// under each leg's own id.
    audio_level: Option<bytes::Bytes>,
    packet: rtc::rtp::Packet,
}

/// How a forwarded packet enters a subscriber's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WritePath {
    /// Encrypted by the SFU with the connection's own SRTP key, once that
    /// key is proven against rtc's output, and sent in the worker's batch
    /// (`crate::egress::sealing`); until then, or if it cannot be proven,
    /// as [`WritePath::Direct`].
    #[default]
    Sealed,
    /// Straight into the connection's write pipeline (interceptors, SRTP,
    /// ICE); SSRC, payload type and extension ids were checked against the
    /// leg's negotiated parameters when they were read.
    Direct,
    /// Through `RTCRtpSender::write_rtp`, which rebuilds the sender's
    /// parameters to re-check them on every packet: the baseline the
    /// benchmarks compare with.
    Checked,
}

/// How publishers' RTP is decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPath {
    /// By the SFU with the connection's remote SRTP key, once that key
    /// authenticates one of the publisher's packets, and handed straight to
    /// forwarding (`crate::ingress::opening`); a stream's first packets,
    /// RTX and ICE-TCP go through the connection, as does everything of a
    /// connection whose key could not be proven.
    #[default]
    Opened,
    /// Every datagram through the connection's read pipeline (ICE, DTLS,
    /// SRTP, interceptors): the baseline the benchmarks compare with.
    Connection,
}

/// How subscribers' downlinks are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownlinkEstimation {
    /// From each subscriber's transport-wide feedback: every packet to a
    /// peer that negotiated transport-cc is numbered (see
    /// `crate::egress::downlink`); REMB where a subscriber sends it.
    #[default]
    FromFeedback,
    /// Packets are not numbered, so browsers send no feedback: REMB where a
    /// subscriber sends it, else the assumed 1 Mbit/s. The baseline the
    /// benchmarks compare with.
    RembOnly,
}

/// What a worker is started with.
pub struct WorkerSetup {
    pub coalescing: super::coalescing::Coalescing,
    pub send_mode: SendMode,
    pub write_path: WritePath,
    pub read_path: ReadPath,
    pub downlink_estimation: DownlinkEstimation,
    /// ICE-TCP listener and the address of its candidate.
    pub tcp: Option<(TcpLinks, SocketAddr)>,
    pub socket: UdpSocket,
    /// Address put in ICE candidates, and the local address rtc is told
    /// datagrams arrive at (its ICE agent matches them to the candidate).
    pub advertised: SocketAddr,
    /// Source address of the handle's wake-up datagrams.
    pub waker: SocketAddr,
    pub commands: mpsc::Receiver<Command>,
    pub counters: Arc<Counters>,
    pub events: mpsc::Sender<MediaEvent>,
}

pub struct Worker {
    socket: UdpSocket,
    advertised: SocketAddr,
    waker: SocketAddr,
    commands: mpsc::Receiver<Command>,
    counters: Arc<Counters>,
    events: mpsc::Sender<MediaEvent>,
    demux: Demux<PeerKey>,
    peers: HashMap<PeerKey, Peer>,
    rooms: HashMap<RoomId, RoomState>,
    next_key: PeerKey,
    /// Per publisher: at most one keyframe request per interval.
    keyframes: KeyframeRequests<(RoomId, MemberId)>,
    /// Origin of the µs clock the throttle runs on.
    epoch: Instant,
    /// Receive instants of the packets written this turn, for the latency
    /// histogram once they are sent.
    written: Vec<Instant>,
    /// Datagrams produced this turn, sent together by [`Worker::flush`].
    outbox: Outbox,
    /// Each peer connection's next timer, in order.
    timers: PeerTimers<PeerKey>,
    /// Batched reads of the UDP socket (`None`: one datagram per call).
    receiver: Option<super::batch_recv::Receiver>,
    /// When liveness, sender reports, speakers and layers were last looked
    /// at (every [`HOUSEKEEPING_EVERY`]).
    last_housekeeping: Instant,
    /// ICE-TCP listener and connections, when enabled.
    tcp: Option<TcpLinks>,
    /// Address of the passive TCP candidate, when ICE-TCP is enabled.
    advertised_tcp: Option<SocketAddr>,
    send_mode: SendMode,
    write_path: WritePath,
    read_path: ReadPath,
    downlink_estimation: DownlinkEstimation,
    /// Publishers a subscriber's layer selector wants a keyframe from,
    /// collected while forwarding and throttled after.
    wanted_keyframes: Vec<(RoomId, MemberId)>,
    /// The pollfds of the last wait, kept to reuse their allocation.
    pollfds: Vec<libc::pollfd>,
    /// Peers whose downlink probe cluster is being sent.
    probing: Vec<PeerKey>,
    last_load_report: Instant,
    /// How long after a wake-up the worker rests before it waits again.
    coalescing: super::coalescing::Coalescing,
    /// When the last wait returned.
    woke: Instant,
}

fn media_kind(kind: RtpCodecKind) -> MediaKind {
    if kind == RtpCodecKind::Audio {
        MediaKind::Audio
    } else {
        MediaKind::Video
    }
}

impl Worker {
    pub fn new(setup: WorkerSetup) -> Self {
        let WorkerSetup {
            coalescing,
            send_mode,
            write_path,
            read_path,
            downlink_estimation,
            tcp,
            socket,
            advertised,
            waker,
            commands,
            counters,
            events,
        } = setup;
        Self {
            socket,
            advertised,
            waker,
            commands,
            counters,
            events,
            demux: Demux::default(),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            next_key: 1,
            keyframes: KeyframeRequests::default(),
            epoch: Instant::now(),
            written: Vec::new(),
            wanted_keyframes: Vec::new(),
            outbox: Outbox::default(),
            timers: PeerTimers::default(),
            receiver: None,
            last_housekeeping: Instant::now(),
            advertised_tcp: tcp.as_ref().map(|(_, a)| *a),
            tcp: tcp.map(|(links, _)| links),
            send_mode,
            write_path,
            read_path,
            downlink_estimation,
            pollfds: Vec::new(),
            probing: Vec::new(),
            last_load_report: Instant::now(),
            coalescing,
            woke: Instant::now(),
        }
    }

    pub fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // Reads never block; `wait_ready` does the waiting.
        if let Err(e) = self.socket.set_nonblocking(true) {
            tracing::error!(error = %e, "sfu worker cannot make its socket non-blocking; worker stops");
            return;
        }
        self.receiver = match super::batch_recv::Receiver::new(&self.socket) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "batched reads unavailable; reading one datagram per call");
                None
            }
        };
        loop {
            let now = Instant::now();
            if !self.drain_commands(now) {
                self.close_all(now);
                return;
            }
            self.run_timers(now);
            if now.saturating_duration_since(self.last_housekeeping) >= HOUSEKEEPING_EVERY {
                self.last_housekeeping = now;
                self.housekeeping(now);
            }
            self.play_announcements(now);
            self.send_probes(now);
            self.pump(now);
            self.flush();
            self.report_load();
            if let Err(e) = self.read(&mut buf) {
                tracing::error!(error = %e, "sfu worker socket failed; worker stops");
                self.close_all(Instant::now());
                return;
            }
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }
}
