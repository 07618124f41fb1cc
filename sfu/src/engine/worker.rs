//! One worker thread: its UDP socket, its rooms and their peer connections,
//! driven by one loop that reads datagrams, runs timers, forwards media and
//! writes datagrams. The clock is read once per turn and handed to every
//! peer connection.

use super::batch_io::{self, SendMode};
use super::handle::{
    Counters, HearingChange, JoinAnswer, RECORDER_MEMBER, RecordingTap, RoomId, SfuError, SfuEvent,
    VerifiedJoin, recording_track_id,
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

/// What a worker is started with.
pub struct WorkerSetup {
    pub index: usize,
    pub send_mode: SendMode,
    pub write_path: WritePath,
    /// ICE-TCP listener and the address of its candidate.
    pub tcp: Option<(TcpLinks, SocketAddr)>,
    pub socket: UdpSocket,
    pub local: SocketAddr,
    /// Address put in ICE candidates.
    pub advertised: SocketAddr,
    /// Source address of the handle's wake-up datagrams.
    pub waker: SocketAddr,
    pub commands: mpsc::Receiver<Command>,
    pub counters: Arc<Counters>,
    pub events: mpsc::Sender<SfuEvent>,
}

pub struct Worker {
    index: usize,
    socket: UdpSocket,
    local: SocketAddr,
    advertised: SocketAddr,
    waker: SocketAddr,
    commands: mpsc::Receiver<Command>,
    counters: Arc<Counters>,
    events: mpsc::Sender<SfuEvent>,
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
    /// Publishers a subscriber's layer selector wants a keyframe from,
    /// collected while forwarding and throttled after.
    wanted_keyframes: Vec<(RoomId, MemberId)>,
    /// The pollfds of the last wait, kept to reuse their allocation.
    pollfds: Vec<libc::pollfd>,
    last_load_report: Instant,
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
            index,
            send_mode,
            write_path,
            tcp,
            socket,
            local,
            advertised,
            waker,
            commands,
            counters,
            events,
        } = setup;
        Self {
            index,
            socket,
            local,
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
            pollfds: Vec::new(),
            last_load_report: Instant::now(),
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

    /// Handles pending commands; false on `Stop`.
    fn drain_commands(&mut self, now: Instant) -> bool {
        loop {
            let command = match self.commands.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Empty) => return true,
                // The handle is gone: nobody can control this worker any more.
                Err(mpsc::TryRecvError::Disconnected) => return false,
            };
            match command {
                Command::OpenRoom {
                    room,
                    policy,
                    reply,
                } => {
                    let result = match self.rooms.entry(room) {
                        std::collections::hash_map::Entry::Occupied(_) => {
                            Err(SfuError::RoomExists(room))
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(RoomState {
                                room: Room::open(policy),
                                peers: HashMap::new(),
                                speakers: ActiveSpeaker::default(),
                                announced: None,
                                recording: None,
                                announcement: None,
                            });
                            Ok(())
                        }
                    };
                    let _ = reply.send(result);
                }
                Command::Join { request, reply } => {
                    let _ = reply.send(self.join(request, now));
                }
                Command::Remove {
                    room,
                    member,
                    reply,
                } => {
                    let _ = reply.send(self.remove(room, member, now));
                }
                Command::CloseRoom { room, reply } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => {
                            state.room.close();
                            for member in state.peers.keys() {
                                self.keyframes.remove(&(room, *member));
                            }
                            let keys: Vec<PeerKey> = state.peers.drain().map(|(_, k)| k).collect();
                            for key in keys {
                                self.drop_peer(key, now);
                            }
                            self.rooms.remove(&room);
                            Ok(())
                        }
                    };
                    let _ = reply.send(result);
                }
                Command::Mute {
                    room,
                    member,
                    media,
                    muted,
                    reply,
                } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => state
                            .room
                            .set_muted(member, media, muted)
                            .map_err(SfuError::from),
                    };
                    let _ = reply.send(result);
                }
                Command::Hearing {
                    room,
                    change,
                    reply,
                } => {
                    let result = match self.rooms.get_mut(&room) {
                        None => Err(SfuError::UnknownRoom(room)),
                        Some(state) => apply_hearing_change(&mut state.room, change),
                    };
                    let _ = reply.send(result);
                }
                Command::Record {
                    room,
                    tap,
                    announcement,
                    reply,
                } => {
                    let _ = reply.send(self.record(room, tap, announcement, now));
                }
                Command::Stop => return false,
            }
        }
    }

    fn join(&mut self, request: VerifiedJoin, now: Instant) -> Result<JoinAnswer, SfuError> {
        let state = self
            .rooms
            .get_mut(&request.room)
            .ok_or(SfuError::UnknownRoom(request.room))?;
        // The signed session kind and the room must agree: a token for a
        // privileged session never joins an ordinary room, nor the reverse.
        if state.room.policy().privileged != request.privileged {
            let name = |p: bool| if p { "privileged" } else { "not privileged" };
            return Err(SfuError::SessionMismatch {
                room: request.room,
                token: name(request.privileged),
                room_is: name(state.room.policy().privileged),
            });
        }
        // A member joining again (reconnect) replaces their old connection.
        let old = state.peers.remove(&request.member);
        if old.is_some() {
            let _ = state.room.remove(request.member);
        }
        let admitted = admit(&mut state.room, &request);
        if let Some(key) = old {
            self.forget_source(request.room, request.member);
            self.drop_peer(key, now);
        }
        admitted?;
        let (peer, sdp) = match Peer::answer(
            request.room,
            request.member,
            request.offer,
            request.receive_slots,
            request.kind.may_publish(),
            super::peer::Advertised {
                udp: self.advertised,
                tcp: self.advertised_tcp,
            },
            now,
        ) {
            Ok(p) => p,
            Err(e) => {
                if let Some(state) = self.rooms.get_mut(&request.room) {
                    let _ = state.room.remove(request.member);
                }
                return Err(e);
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        self.demux.add(&peer.ufrag, &peer.ice_password, key);
        let Some(state) = self.rooms.get_mut(&request.room) else {
            return Err(SfuError::UnknownRoom(request.room));
        };
        state.peers.insert(request.member, key);
        self.peers.insert(key, peer);
        self.fill_slots(request.room);
        Ok(JoinAnswer {
            member: request.member,
            kind: request.kind,
            sdp,
        })
    }

    /// A peer's connection is gone (ICE or DTLS failed, closed, timers
    /// failing): free its slots and tell the control plane, which asks the
    /// participant to offer again.
    fn lose(&mut self, room: RoomId, member: MemberId, now: Instant) {
        if self.remove(room, member, now).is_ok() {
            let _ = self.events.send(SfuEvent::MediaLost { room, member });
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn remove(&mut self, room: RoomId, member: MemberId, now: Instant) -> Result<(), SfuError> {
        self.keyframes.remove(&(room, member));
        if let Some(state) = self.rooms.get_mut(&room) {
            state.speakers.remove(&member);
            if state.announced == Some(member) {
                state.announced = None;
            }
        }
        let state = self
            .rooms
            .get_mut(&room)
            .ok_or(SfuError::UnknownRoom(room))?;
        state.room.remove(member)?;
        let key = state.peers.remove(&member);
        self.forget_source(room, member);
        if let Some(key) = key {
            self.drop_peer(key, now);
        }
        Ok(())
    }

    /// Frees `member`'s slot in every peer of the room.
    fn forget_source(&mut self, room: RoomId, member: MemberId) {
        let now_us = self.micros(Instant::now());
        if let Some(state) = self.rooms.get(&room) {
            for key in state.peers.values() {
                if let Some(p) = self.peers.get_mut(key) {
                    p.release(member, now_us);
                    p.unserved.remove(&member);
                }
            }
        }
        self.fill_slots(room);
    }

    /// Gives every peer of the room a slot for each publisher it does not
    /// receive yet, while free slots last (also after a slot was freed).
    fn fill_slots(&mut self, room: RoomId) {
        let Some(state) = self.rooms.get(&room) else {
            return;
        };
        let now_us = self.micros(Instant::now());
        let publishers: Vec<(MemberId, Vec<LayerInfo>)> = state
            .room
            .members()
            .filter(|(_, kind)| kind.may_publish())
            .map(|(id, _)| {
                let layers = state
                    .peers
                    .get(&id)
                    .and_then(|k| self.peers.get(k))
                    .map(|p| p.layer_rates.layers())
                    .unwrap_or_default();
                (id, layers)
            })
            .collect();
        for (member, key) in &state.peers {
            let Some(peer) = self.peers.get_mut(key) else {
                continue;
            };
            for (source, layers) in publishers.iter().filter(|(s, _)| s != member) {
                if peer.assign(*source, layers, now_us) {
                    peer.unserved.remove(source);
                } else if peer.unserved.insert(*source) {
                    // Counted once per publisher a peer newly cannot receive.
                    self.counters
                        .slots_exhausted
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn drop_peer(&mut self, key: PeerKey, _now: Instant) {
        self.timers.remove(key);
        if let Some(mut peer) = self.peers.remove(&key) {
            let _ = peer.pc.close();
            // Its closing alerts go out now, with whatever else is queued.
            peer.collect_writes(&mut self.outbox);
            self.send_outbox();
            self.demux.remove(key);
        }
    }

    fn close_all(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.drop_peer(key, now);
        }
        self.rooms.clear();
    }

    /// Runs the peer connections whose timer is due (only those).
    fn run_timers(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for key in self.timers.take_due(now) {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            peer.touch();
            if let Err(e) = peer.pc.handle_timeout(now) {
                tracing::debug!(member = peer.member, error = %e, "peer timer failed; dropping the peer");
                failed.push((peer.room, peer.member));
            }
        }
        for (room, member) in failed {
            self.lose(room, member, now);
        }
    }

    /// What no packet triggers, every [`HOUSEKEEPING_EVERY`]: peers that
    /// lost consent or went silent are let go, due sender reports go out,
    /// and rooms' speakers and simulcast layers are looked at.
    fn housekeeping(&mut self, now: Instant) {
        let now_us = self.micros(now);
        let wall = std::time::SystemTime::now();
        let mut lost = Vec::new();
        for peer in self.peers.values_mut() {
            if let Some(loss) = peer.liveness.loss(now) {
                tracing::debug!(member = peer.member, reason = loss.as_str(), "peer lost");
                let counter = match loss {
                    crate::liveness::Loss::ConsentExpired => &self.counters.consent_expired,
                    crate::liveness::Loss::Silent => &self.counters.peers_silent,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                lost.push((peer.room, peer.member));
                continue;
            }
            if peer.connected {
                super::feedback::send_reports(peer, now, now_us, wall, &self.counters);
            }
        }
        for (room, member) in lost {
            self.lose(room, member, now);
        }
        self.announce_speakers(now_us);
        self.update_layers(now_us);
        self.pause_unneeded_layers(now_us);
    }

    /// Events and decrypted packets of every peer; forwards media and
    /// relays keyframe requests.
    fn pump(&mut self, now: Instant) {
        let now_us = self.micros(now);
        let mut forwards = Vec::new();
        let mut keyframe_requests: Vec<(RoomId, MemberId)> = Vec::new();
        let mut dead: Vec<(RoomId, MemberId)> = Vec::new();
        let mut levels: Vec<(RoomId, MemberId, audio_level::AudioLevel)> = Vec::new();
        // Publishers' sender reports: (room, publisher, source SSRC, its
        // RTP time), handed to the legs that carry that source.
        let mut source_reports: Vec<(RoomId, MemberId, u32, RtpCodecKind, u32)> = Vec::new();
        for peer in self.peers.values_mut().filter(|p| p.needs_pump) {
            peer.needs_pump = false;
            while let Some(event) = peer.pc.poll_event() {
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
                        let (kind, h264, audio_level_id) = peer
                            .pc
                            .rtp_receiver(init.receiver_id)
                            .map(|mut r| {
                                let level_id = r
                                    .get_parameters()
                                    .rtp_parameters
                                    .header_extensions
                                    .iter()
                                    .find(|e| e.uri == parley_media::AUDIO_LEVEL_URI)
                                    .and_then(|e| u8::try_from(e.id).ok());
                                let track = r.track();
                                let h264 = track
                                    .codec(init.ssrc)
                                    .is_some_and(|c| parley_media::is_h264(&c.mime_type));
                                (track.kind(), h264, level_id)
                            })
                            .unwrap_or((RtpCodecKind::Unspecified, false, None));
                        let layer = init.rid.as_deref().and_then(LayerId::from_rid);
                        peer.inbound.insert(
                            init.ssrc,
                            super::peer::Inbound {
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
            }) = peer.pc.poll_read()
            {
                match message {
                    RTCMessage::RtpPacket(_, packet) => {
                        self.counters.rtp_in.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .rtp_bytes_in
                            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                        let Some(inbound) = peer.inbound.get(&packet.header.ssrc).copied() else {
                            continue;
                        };
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
                        forwards.push(Forward {
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
                        });
                    }
                    RTCMessage::RtcpPacket(_, packets) => {
                        for p in packets {
                            let any = p.as_any();
                            if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                                super::feedback::answer_nack(
                                    peer,
                                    nack,
                                    super::feedback::Resending {
                                        now,
                                        now_us,
                                        path: self.write_path,
                                        out: &mut self.outbox,
                                    },
                                    &self.counters,
                                );
                                continue;
                            }
                            if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                                super::feedback::read_report_blocks(
                                    peer,
                                    &rr.reports,
                                    now_us,
                                    &self.counters,
                                );
                                continue;
                            }
                            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                                super::feedback::read_report_blocks(
                                    peer,
                                    &sr.reports,
                                    now_us,
                                    &self.counters,
                                );
                                if let Some(inbound) = peer.inbound.get(&sr.ssrc) {
                                    source_reports.push((
                                        peer.room,
                                        peer.member,
                                        sr.ssrc,
                                        inbound.kind,
                                        sr.rtp_time,
                                    ));
                                }
                                continue;
                            }
                            if let Some(remb) =
                                any.downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                            {
                                // What this subscriber says it can receive.
                                peer.estimate_bps = Some(remb.bitrate.max(0.0) as u64);
                                peer.share_estimate(now_us);
                                continue;
                            }
                            let media_ssrc =
                                if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                                    Some(pli.media_ssrc)
                                } else {
                                    any.downcast_ref::<FullIntraRequest>()
                                        .map(|fir| fir.media_ssrc)
                                };
                            if let Some(source) =
                                media_ssrc.and_then(|ssrc| peer.source_of_video_ssrc(ssrc))
                            {
                                keyframe_requests.push((peer.room, source));
                            }
                        }
                    }
                    _ => {}
                }
            }
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

    /// Hands subscribers' layer selectors what each simulcast publisher
    /// now sends (after each measurement window, or when a layer appears).
    fn update_layers(&mut self, now_us: u64) {
        let mut updates: Vec<(RoomId, MemberId, Vec<LayerInfo>)> = Vec::new();
        for peer in self.peers.values_mut() {
            if let Some(layers) = peer.layer_rates.tick(now_us) {
                updates.push((peer.room, peer.member, layers));
            }
        }
        for (room, publisher, layers) in updates {
            let Some(state) = self.rooms.get_mut(&room) else {
                continue;
            };
            if let Some(recording) = state.recording.as_mut() {
                recording
                    .layers
                    .entry(publisher)
                    .or_default()
                    .set_available(&layers, now_us);
            }
            for key in state.peers.values() {
                if let Some(slot) = self.peers.get_mut(key).and_then(|p| p.slot_of(publisher)) {
                    slot.video.layers.set_available(&layers, now_us);
                }
            }
        }
    }

    /// Asks each simulcast publisher to pause the layers nobody (no
    /// subscriber, not the recorder) needs, and to resume those someone
    /// needs again.
    fn pause_unneeded_layers(&mut self, now_us: u64) {
        let publishers: Vec<(PeerKey, RoomId, MemberId, LayerSet)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && p.layer_rates.is_simulcast())
            .map(|(key, p)| (*key, p.room, p.member, p.layer_rates.offered()))
            .collect();
        for (key, room, member, offered) in publishers {
            let Some(state) = self.rooms.get(&room) else {
                continue;
            };
            let mut needed = state
                .recording
                .as_ref()
                .and_then(|r| r.layers.get(&member))
                .map(|s| s.needed_layers())
                .unwrap_or_default();
            for other in state.peers.values() {
                if let Some(slot) = self.peers.get_mut(other).and_then(|p| p.slot_of(member)) {
                    needed = needed.union(slot.video.layers.needed_layers());
                }
            }
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            if let Some(send) = peer.layer_pausing.update(offered, needed, now_us) {
                peer.layer_rates.set_paused(peer.layer_pausing.paused());
                self.counters
                    .layer_pause_changes
                    .fetch_add(1, Ordering::Relaxed);
                let _ = self.events.send(SfuEvent::PublishLayers {
                    room,
                    member,
                    layers: send,
                });
            }
        }
    }

    /// Tells the control plane about rooms whose active speaker changed.
    fn announce_speakers(&mut self, now_us: u64) {
        for (room, state) in &mut self.rooms {
            let speaker = state.speakers.active_speaker(now_us);
            if speaker.is_some() && speaker != state.announced {
                state.announced = speaker;
                if let Some(member) = speaker {
                    let _ = self.events.send(SfuEvent::ActiveSpeaker {
                        room: *room,
                        member,
                    });
                }
            }
        }
    }

    /// Starts (`Some`) or stops (`None`) recording a room: the recorder
    /// joins or leaves as a member, so the room's rules decide what it
    /// receives (never a privileged room, never a consultation).
    fn record(
        &mut self,
        room: RoomId,
        tap: Option<Box<dyn RecordingTap>>,
        announcement: Vec<bytes::Bytes>,
        now: Instant,
    ) -> Result<(), SfuError> {
        let state = self
            .rooms
            .get_mut(&room)
            .ok_or(SfuError::UnknownRoom(room))?;
        match tap {
            Some(tap) if !announcement.is_empty() => {
                // Refused now if the room may never be recorded; otherwise
                // the recorder joins once the notice has been played.
                let policy = state.room.policy();
                if policy.privileged {
                    return Err(crate::room::RoomError::Privileged(
                        crate::room::MemberKind::Recorder,
                    )
                    .into());
                }
                if !policy.recorded {
                    return Err(crate::room::RoomError::NotRecorded.into());
                }
                state.announcement = Some(Announcement {
                    frames: announcement,
                    next: 0,
                    next_at: now,
                    then_record: tap,
                });
            }
            Some(tap) => {
                if state.recording.is_none() {
                    state
                        .room
                        .join(RECORDER_MEMBER, crate::room::MemberKind::Recorder)?;
                }
                state.recording = Some(Recording {
                    tap,
                    layers: HashMap::new(),
                });
            }
            None => {
                state.announcement = None;
                if state.recording.take().is_some() {
                    let _ = state.room.remove(RECORDER_MEMBER);
                }
            }
        }
        Ok(())
    }

    /// Plays the due frames of every room's announcement to each member's
    /// first audio slot, and starts the recording once one has ended.
    fn play_announcements(&mut self, now: Instant) {
        let mut finished = Vec::new();
        for (room, state) in &mut self.rooms {
            let Some(a) = state.announcement.as_mut() else {
                continue;
            };
            while a.next_at <= now {
                let Some(frame) = a.frames.get(a.next).cloned() else {
                    finished.push(*room);
                    break;
                };
                let (seq, ts) = (a.next as u16, (a.next as u32).wrapping_mul(960));
                for key in state.peers.values() {
                    let Some(peer) = self.peers.get_mut(key).filter(|p| p.connected) else {
                        continue;
                    };
                    let Some(slot) = peer.slots.first_mut() else {
                        continue;
                    };
                    let out = &mut slot.audio;
                    let (seq, ts) = out.continuity.rewrite(ANNOUNCEMENT_SSRC, seq, ts);
                    let (sender_id, ssrc) = (out.sender, out.ssrc);
                    let known = out.leg_format(false);
                    let Some(leg) = known.or_else(|| {
                        let mut sender = peer.pc.rtp_sender(sender_id)?;
                        let params = &sender.get_parameters().rtp_parameters;
                        LegFormat::read(params, RtpCodecKind::Audio, false)
                    }) else {
                        continue;
                    };
                    if let Some(slot) = peer.slots.first_mut() {
                        slot.audio.remember(false, leg);
                    }
                    let payload_type = leg.payload_type;
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: a.next == 0,
                            payload_type,
                            sequence_number: seq,
                            timestamp: ts,
                            ssrc,
                            ..Default::default()
                        },
                        payload: frame.clone(),
                    };
                    let kept = packet.clone();
                    let written = match self.write_path {
                        WritePath::Checked => {
                            peer.touch();
                            peer.pc
                                .rtp_sender(sender_id)
                                .is_some_and(|mut sender| sender.write_rtp(now, packet).is_ok())
                        }
                        path => peer
                            .send_rtp(packet, now, path, &mut self.outbox, &self.counters)
                            .is_ok(),
                    };
                    if written {
                        self.counters
                            .announcement_packets
                            .fetch_add(1, Ordering::Relaxed);
                        if let Some(slot) = peer.slots.first_mut() {
                            let now_us = u64::try_from(
                                now.saturating_duration_since(self.epoch).as_micros(),
                            )
                            .unwrap_or(u64::MAX);
                            super::feedback::sent(&mut slot.audio, kept, ANNOUNCEMENT_SSRC, now_us);
                        }
                    }
                }
                a.next += 1;
                a.next_at += ANNOUNCEMENT_FRAME;
            }
        }
        for room in finished {
            let Some(state) = self.rooms.get_mut(&room) else {
                continue;
            };
            if let Some(a) = state.announcement.take() {
                let joined = state.recording.is_some()
                    || state
                        .room
                        .join(RECORDER_MEMBER, crate::room::MemberKind::Recorder)
                        .is_ok();
                if joined {
                    state.recording = Some(Recording {
                        tap: a.then_record,
                        layers: HashMap::new(),
                    });
                }
            }
        }
    }

    /// When the next announcement frame is due, if one plays.
    fn next_announcement(&self) -> Option<Instant> {
        self.rooms
            .values()
            .filter_map(|s| s.announcement.as_ref().map(|a| a.next_at))
            .min()
    }

    /// Hands one packet to the room's recorder (the best simulcast layer
    /// only), marshalled as plain RTP. `None`: not for the record (another
    /// layer); otherwise whether the tap took it.
    fn record_packet(recording: &mut Recording, f: &Forward, now_us: u64) -> Option<bool> {
        let media = media_kind(f.kind);
        let track_id = recording_track_id(f.publisher, media)?;
        if let Some(layer) = f.layer {
            let selector = recording.layers.entry(f.publisher).or_insert_with(|| {
                // The record takes the best layer the publisher sends.
                let mut best = crate::media::simulcast::LayerSelector::default();
                best.set_estimate(u64::MAX, now_us);
                best
            });
            if selector.on_packet(layer, f.keyframe, now_us) == Decision::Drop {
                return None;
            }
        }
        let Ok(bytes) = rtc::shared::marshal::Marshal::marshal(&f.packet) else {
            return Some(false);
        };
        let received_at_us = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros(),
        )
        .unwrap_or(0);
        Some(recording.tap.send_rtp(track_id, received_at_us, &bytes))
    }

    fn forward(&mut self, f: Forward, now: Instant, now_us: u64) {
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
            let out = slot.track_mut(f.kind);
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
            let (sender_id, ssrc) = (out.sender, out.ssrc);
            let (seq, ts) = out.continuity.rewrite(
                f.source_ssrc,
                f.packet.header.sequence_number,
                f.packet.header.timestamp,
            );
            let leg = match out.leg_format(f.h264) {
                Some(leg) => leg,
                None => {
                    let Some(mut sender) = peer.pc.rtp_sender(sender_id) else {
                        continue;
                    };
                    let params = &sender.get_parameters().rtp_parameters;
                    let Some(leg) = LegFormat::read(params, f.kind, f.h264) else {
                        continue;
                    };
                    if let Some(slot) = peer.slot_of(f.publisher) {
                        slot.track_mut(f.kind).remember(f.h264, leg);
                    }
                    leg
                }
            };
            let mut packet = f.packet.clone();
            packet.header.ssrc = ssrc;
            packet.header.payload_type = leg.payload_type;
            packet.header.sequence_number = seq;
            packet.header.timestamp = ts;
            // Extension ids are per leg: the publisher's are dropped, and
            // those worth passing on are written under this leg's ids.
            packet.header.extension = false;
            packet.header.extension_profile = 0;
            packet.header.extensions.clear();
            packet.header.extensions_padding = 0;
            if let (Some(level), Some(id)) = (&f.audio_level, leg.audio_level_id)
                && packet.header.set_extension(id, level.clone()).is_err()
            {
                self.counters.forward_errors.fetch_add(1, Ordering::Relaxed);
            }
            let bytes = packet.payload.len() as u64;
            let kept = packet.clone();
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
                        super::feedback::sent(slot.track_mut(f.kind), kept, f.source_ssrc, now_us);
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
    fn request_keyframe(&mut self, room: RoomId, source: MemberId, now: Instant) {
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

    fn send_outbox(&mut self) {
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
    fn flush(&mut self) {
        for (key, peer) in self.peers.iter_mut().filter(|(_, p)| p.needs_flush) {
            peer.needs_flush = false;
            peer.collect_writes(&mut self.outbox);
            self.timers.set(*key, peer.pc.poll_timeout());
        }
        self.send_outbox();
        let sent = Instant::now();
        for received in self.written.drain(..) {
            self.counters
                .latency
                .observe(sent.saturating_duration_since(received));
        }
    }

    /// Publishes rooms, peers and (about once a second) CPU time and the
    /// peers' link counters.
    fn report_load(&mut self) {
        if let Some(load) = self.counters.workers.get(self.index) {
            load.rooms.store(self.rooms.len() as u64, Ordering::Relaxed);
            load.peers.store(self.peers.len() as u64, Ordering::Relaxed);
        }
        if self.last_load_report.elapsed() >= Duration::from_secs(1) {
            self.last_load_report = Instant::now();
            self.sample_links(self.last_load_report);
            if let (Some(load), Some(ns)) = (
                self.counters.workers.get(self.index),
                super::load::thread_cpu_ns(),
            ) {
                load.cpu_ns.store(ns, Ordering::Relaxed);
            }
        }
    }

    /// ICE-TCP: accepts connections, hands each frame to its peer (routed
    /// like a datagram), writes what is queued.
    fn read_tcp(&mut self, fds: &[libc::pollfd]) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        let (demux, peers, local) = (&mut self.demux, &mut self.peers, self.local);
        let activity = tcp.on_ready(
            fds.get(1..).unwrap_or(&[]),
            Instant::now(),
            |from, frame| {
                let Ok(routed) = demux.route(frame, from) else {
                    return false;
                };
                let Some(peer) = peers.get_mut(&routed.peer) else {
                    return false;
                };
                let now = Instant::now();
                let message = TaggedBytesMut {
                    now,
                    transport: TransportContext {
                        local_addr: local,
                        peer_addr: from,
                        ecn: None,
                        transport_protocol: TransportProtocol::TCP,
                    },
                    message: BytesMut::from(frame),
                };
                peer.touch();
                let accepted = peer.pc.handle_read(message).is_ok();
                if accepted {
                    peer.liveness.on_datagram(now);
                    if routed.consent {
                        peer.liveness.on_check(now);
                    }
                }
                accepted
            },
        );
        let c = &self.counters;
        c.tcp_frames_in
            .fetch_add(activity.frames_in, Ordering::Relaxed);
        c.datagrams_unrouted
            .fetch_add(activity.frames_unrouted, Ordering::Relaxed);
        if let Some(load) = c.workers.get(self.index) {
            load.tcp_links.store(tcp.links() as u64, Ordering::Relaxed);
        }
    }

    /// Adds what each connected peer's incoming loss and the NACKs the SFU
    /// sent it grew by since the last sample (the subscriber side, NACKs
    /// received, resends and round trips, is counted as it happens by
    /// `feedback`).
    fn sample_links(&mut self, now: Instant) {
        let c = &self.counters;
        for peer in self.peers.values_mut().filter(|p| p.connected) {
            let report = peer.pc.get_stats(now, rtc::statistics::StatsSelector::None);
            let totals = super::link_quality::read(&report);
            let grew = totals.since(&peer.link);
            peer.link = totals;
            c.packets_lost_in.fetch_add(grew.lost_in, Ordering::Relaxed);
            c.nacks_sent.fetch_add(grew.nacks_sent, Ordering::Relaxed);
        }
    }

    /// Reads with one `recv_from` per datagram, where batched reads could
    /// not be set up on the socket.
    fn read_one_by_one(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        for _ in 0..READ_BATCH {
            let (n, from) = match self.socket.recv_from(buf) {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            if from != self.waker {
                hand_datagram(
                    &mut self.demux,
                    &mut self.peers,
                    &self.counters,
                    self.local,
                    from,
                    &buf[..n],
                );
            }
        }
        Ok(())
    }

    /// Waits for datagrams or ICE-TCP traffic until the next timer (or a
    /// command), then reads what is ready and hands each to its peer.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let now = Instant::now();
        let next = self
            .timers
            .earliest()
            .into_iter()
            .chain(self.next_announcement())
            .chain(Some(self.last_housekeeping + HOUSEKEEPING_EVERY))
            .min()
            .unwrap_or(now + IDLE_WAIT);
        let wait = next
            .saturating_duration_since(now)
            .clamp(MIN_WAIT, IDLE_WAIT);
        let mut fds = std::mem::take(&mut self.pollfds);
        fds.clear();
        fds.push(libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.socket),
            events: libc::POLLIN,
            revents: 0,
        });
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.poll_fds(&mut fds);
        }
        let ready = wait_ready(&mut fds, wait);
        let udp_ready = fds.first().is_some_and(|f| f.revents != 0);
        if ready? {
            self.read_tcp(&fds);
        }
        self.pollfds = fds;
        if !udp_ready {
            return Ok(());
        }
        // One recvmmsg per pass; a full batch means more may wait.
        let mut read = 0;
        while read < READ_BATCH {
            let Some(receiver) = self.receiver.as_mut() else {
                return self.read_one_by_one(buf);
            };
            let (demux, peers, counters) = (&mut self.demux, &mut self.peers, &self.counters);
            let (local, waker) = (self.local, self.waker);
            let filled = match receiver.recv(&self.socket, |from, datagram| {
                if from != waker {
                    hand_datagram(demux, peers, counters, local, from, datagram);
                }
            }) {
                Ok(n) => n,
                // A previous send's ICMP error surfaces here on Linux: not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            if filled < super::batch_recv::BATCH {
                break;
            }
            read += filled;
        }
        Ok(())
    }
}

/// Routes one datagram to its peer connection and keeps the peer's
/// liveness; counts what could not be routed or was refused.
fn hand_datagram(
    demux: &mut Demux<PeerKey>,
    peers: &mut HashMap<PeerKey, Peer>,
    counters: &Counters,
    local: SocketAddr,
    from: SocketAddr,
    datagram: &[u8],
) {
    counters.datagrams_in.fetch_add(1, Ordering::Relaxed);
    let routed = match demux.route(datagram, from) {
        Ok(routed) => routed,
        Err(why) => {
            let counter = match why {
                crate::demux::Unrouted::BadIntegrity => &counters.stun_forged,
                _ => &counters.datagrams_unrouted,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let Some(peer) = peers.get_mut(&routed.peer) else {
        return;
    };
    let now = Instant::now();
    let message = TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: local,
            peer_addr: from,
            ecn: None,
            transport_protocol: TransportProtocol::UDP,
        },
        message: BytesMut::from(datagram),
    };
    peer.touch();
    match peer.pc.handle_read(message) {
        Ok(()) => {
            peer.liveness.on_datagram(now);
            if routed.consent {
                peer.liveness.on_check(now);
            }
        }
        Err(e) => {
            counters.datagrams_unrouted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(member = peer.member, error = %e, "datagram refused");
        }
    }
}

/// Lets a member into the room with what the court decided about them
/// (mutes, consultation, witness protection), all holding from their first
/// packet; on a refusal the member is not left half-admitted.
fn admit(room: &mut Room, request: &VerifiedJoin) -> Result<(), SfuError> {
    room.join(request.member, request.kind)?;
    let standing = (|| {
        for (media, muted) in [
            (MediaKind::Audio, request.muted.audio),
            (MediaKind::Video, request.muted.video),
        ] {
            if muted {
                room.set_muted(request.member, media, true)?;
            }
        }
        if let Some(c) = request.consultation {
            room.place_in_consultation(request.member, c)?;
        }
        if let Some(hidden) = &request.protected_from {
            room.set_protection(request.member, Some(hidden.iter().copied().collect()))?;
        }
        Ok::<(), crate::room::RoomError>(())
    })();
    if let Err(e) = standing {
        let _ = room.remove(request.member);
        return Err(e.into());
    }
    Ok(())
}

fn apply_hearing_change(room: &mut Room, change: HearingChange) -> Result<(), SfuError> {
    match change {
        HearingChange::OpenConsultation {
            consultation,
            members,
        } => room.open_consultation(consultation, &members)?,
        HearingChange::CloseConsultation { consultation } => {
            room.close_consultation(consultation)?;
        }
        HearingChange::Observers { admitted } => room.set_observers_admitted(admitted),
        HearingChange::Protect {
            member,
            hidden_from,
        } => room.set_protection(member, hidden_from.map(|h| h.into_iter().collect()))?,
    }
    Ok(())
}

/// Waits until one of `fds` is ready or `wait` passes (rounded up to whole
/// milliseconds). One `poll(2)` call, so a turn of the loop costs no socket
/// option changes.
fn wait_ready(fds: &mut [libc::pollfd], wait: Duration) -> std::io::Result<bool> {
    let millis = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, initialised slice of pollfd that lives for
    // the duration of the call, and its length is passed alongside.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), count, millis) };
    match ready {
        -1 => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}
