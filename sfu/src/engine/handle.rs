//! The SFU's control surface: start workers, place rooms, admit and remove
//! members. Calls block until the owning worker answers (milliseconds); call
//! them from a blocking context.

use super::load::{LatencyHistogram, LatencySnapshot, WorkerLoad, WorkerLoadSnapshot};
use super::worker::{Command, Worker, WorkerSetup};
use crate::room::{MediaKind, MemberId, MemberKind, RoomError, RoomPolicy};
use parley_grants::{GrantError, JoinTokens};
use parley_policy::Role;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use parley_control::{
    HearingChange, JoinRequest, MediaEvent, Muted, RoomId, Standing, WallClock,
};

/// How long a control call waits for its worker before giving up.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SfuConfig {
    /// Address of the first worker's UDP socket; worker `i` listens on
    /// `port + i` (port 0: each worker picks a free port).
    pub listen: SocketAddr,
    /// Address written into ICE candidates when the SFU is behind a 1:1 NAT;
    /// defaults to the listen address.
    pub advertised_ip: Option<IpAddr>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Verifies the join token of every member (invariant 2: the SFU does
    /// not take the control plane's word for who someone is).
    pub tokens: JoinTokens,
    pub clock: WallClock,
    /// How workers write datagrams (batched by default; per datagram is
    /// the baseline the benchmarks compare with).
    pub send_mode: super::batch_io::SendMode,
    /// How forwarded packets enter subscribers' connections (direct by
    /// default; through `write_rtp` is the benchmarks' baseline).
    pub write_path: super::worker::WritePath,
    /// How publishers' RTP is decrypted (by the SFU once its key is proven,
    /// by default; through the connection is the benchmarks' baseline).
    pub read_path: super::worker::ReadPath,
    /// How subscribers' downlinks are estimated (from their transport-wide
    /// feedback by default; REMB only is the benchmarks' baseline).
    pub downlink_estimation: super::worker::DownlinkEstimation,
    /// Also accept ICE over TCP on each worker's port number (passive
    /// candidates, RFC 6544), for networks that block UDP.
    pub ice_tcp: bool,
    /// How long a busy worker gathers packets before its next turn
    /// (`super::coalescing`).
    pub coalescing: super::coalescing::Coalescing,
}

impl SfuConfig {
    /// An SFU on `listen` (worker `i` on its port + `i`; port 0: any) with
    /// `workers` workers, checking join tokens with `tokens` against
    /// `clock`, every other setting at its default: no advertised address,
    /// batched sends, the default write, read and estimation paths, no
    /// ICE-TCP, no coalescing. Change the rest with `..SfuConfig::new(…)`.
    pub fn new(listen: SocketAddr, workers: usize, tokens: JoinTokens, clock: WallClock) -> Self {
        Self {
            listen,
            advertised_ip: None,
            workers,
            tokens,
            clock,
            send_mode: Default::default(),
            write_path: Default::default(),
            read_path: Default::default(),
            downlink_estimation: Default::default(),
            ice_tcp: false,
            coalescing: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    #[error("cannot open the media socket {addr}: {message}")]
    Bind { addr: SocketAddr, message: String },
    #[error(transparent)]
    Room(#[from] RoomError),
    #[error("no room {0} on this SFU")]
    UnknownRoom(RoomId),
    #[error("room {0} is already open")]
    RoomExists(RoomId),
    #[error("the offer was refused: {0}")]
    BadOffer(String),
    #[error("the media engine failed: {0}")]
    Engine(String),
    #[error("the SFU worker did not answer")]
    Unavailable,
    #[error("join token refused: {0}")]
    Token(#[from] GrantError),
    #[error("the token is for a {token} session but room {room} is {room_is}")]
    SessionMismatch {
        room: RoomId,
        token: &'static str,
        room_is: &'static str,
    },
}

/// Where a recorded room's media goes: the recorder link's stream for the
/// room. Called on the worker's thread for every packet the recorder
/// receives, so it must not block (queue and drop instead).
pub trait RecordingTap: Send {
    /// One RTP packet (plain, as the publisher sent it) of track
    /// `track_id` ([`recording_track_id`]), received at `received_at_us`
    /// (µs since the Unix epoch). False if it was dropped.
    fn send_rtp(&self, track_id: u32, received_at_us: u64, packet: &[u8]) -> bool;
}

/// The member id the recorder has in every room (participants' ids are
/// positive).
pub const RECORDER_MEMBER: MemberId = -1;

/// The recording track of a member's audio or video: `2 × member` for
/// audio, `+ 1` for video (`None` for ids that do not fit).
pub fn recording_track_id(member: MemberId, media: MediaKind) -> Option<u32> {
    let base = u32::try_from(member).ok()?.checked_mul(2)?;
    Some(match media {
        MediaKind::Audio => base,
        MediaKind::Video => base.checked_add(1)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAnswer {
    pub member: MemberId,
    pub kind: MemberKind,
    pub sdp: String,
}

/// What a role is to a room: officers monitor, observers watch, everyone
/// else takes part. No token role makes a recorder.
pub fn member_kind(role: Role) -> MemberKind {
    match role {
        Role::Officer => MemberKind::Monitor,
        Role::Observer => MemberKind::Observer,
        _ => MemberKind::Participant,
    }
}

/// A join request after its token was verified.
#[derive(Debug, Clone)]
pub struct VerifiedJoin {
    pub room: RoomId,
    /// Whether the token's session kind is privileged; must match the room.
    pub privileged: bool,
    pub member: MemberId,
    pub kind: MemberKind,
    pub offer: String,
    pub receive_slots: usize,
    /// Mutes, consultation and witness protection, holding from the first
    /// packet.
    pub standing: Standing,
}

/// One worker's counters, read by metrics (summed over the workers by
/// [`Sfu::stats`]). Each worker has its own: counters shared by workers on
/// different cores moved their cache line between the cores on every
/// packet.
#[derive(Debug, Default)]
pub struct Counters {
    pub latency: LatencyHistogram,
    /// This worker's load.
    pub load: WorkerLoad,
    pub datagrams_in: AtomicU64,
    pub datagrams_unrouted: AtomicU64,
    pub rtp_in: AtomicU64,
    pub rtp_bytes_in: AtomicU64,
    pub rtp_forwarded: AtomicU64,
    pub rtp_bytes_forwarded: AtomicU64,
    pub forward_errors: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub plis_relayed: AtomicU64,
    pub keyframe_requests_throttled: AtomicU64,
    pub slots_exhausted: AtomicU64,
    /// Subscribers moved to another simulcast layer (on a keyframe).
    pub simulcast_switches: AtomicU64,
    /// Times a simulcast publisher was asked to pause or resume layers.
    pub layer_pause_changes: AtomicU64,
    /// Datagrams the socket refused (buffer full, unreachable) and dropped.
    pub datagrams_dropped: AtomicU64,
    /// System calls that sent datagrams (`sendmmsg` or `send_to`).
    pub send_calls: AtomicU64,
    /// ICE-TCP frames received and sent.
    pub tcp_frames_in: AtomicU64,
    pub tcp_frames_out: AtomicU64,
    /// Publishers' packets that never arrived (from sequence gaps).
    pub packets_lost_in: AtomicU64,
    /// NACKs sent to publishers and received from subscribers.
    pub nacks_sent: AtomicU64,
    pub nacks_received: AtomicU64,
    /// Packets sent again in answer to NACKs.
    pub retransmissions: AtomicU64,
    /// Sequence numbers asked for that the leg no longer had (or never
    /// sent), and NACKs for an SSRC the subscriber does not receive.
    pub nack_misses: AtomicU64,
    /// Resends held back: too soon, too often, or over the leg's budget.
    pub retransmissions_suppressed: AtomicU64,
    /// Of the resends, those sent on the leg's RTX repair stream.
    pub rtx_sent: AtomicU64,
    /// Probe clusters started on subscribers' downlinks, and the bytes
    /// they sent (RTP header and payload).
    pub probes: AtomicU64,
    pub probe_bytes: AtomicU64,
    /// Sender reports sent on subscriber legs.
    pub sender_reports: AtomicU64,
    /// Transport-wide congestion-control feedback packets read from
    /// subscribers (each updates that subscriber's downlink estimate).
    pub transport_feedback: AtomicU64,
    /// Times a source's video was paused for a subscriber whose downlink
    /// could not carry it with the audio, and resumed.
    pub video_pauses: AtomicU64,
    pub video_resumes: AtomicU64,
    /// Receive limits (REMB) sent to single-layer video publishers.
    pub remb_sent: AtomicU64,
    /// RTP packets the SFU sealed itself (`WritePath::Sealed`).
    pub sealed_packets: AtomicU64,
    /// Connections whose captured SRTP key was proven against rtc's output,
    /// and those where none was (they stay on rtc's write path).
    pub sealing_proven: AtomicU64,
    pub sealing_fallbacks: AtomicU64,
    /// RTP packets the SFU decrypted itself (`ReadPath::Opened`).
    pub opened_packets: AtomicU64,
    /// Connections whose remote SRTP key authenticated a publisher's packet,
    /// and those where none did (they stay on rtc's read path).
    pub opening_proven: AtomicU64,
    pub opening_fallbacks: AtomicU64,
    /// Publishers' packets refused on the opened path: failed
    /// authentication, or a sequence number already taken (a replay or a
    /// duplicate) or older than the replay window.
    pub rtp_refused_in: AtomicU64,
    pub rtp_duplicates_in: AtomicU64,
    /// RTCP datagrams the SFU decrypted itself (`ReadPath::Opened`); the
    /// connections whose remote key authenticated their RTCP, and those
    /// where none did; RTCP refused (failed authentication, a replay).
    pub rtcp_opened: AtomicU64,
    pub rtcp_opening_proven: AtomicU64,
    pub rtcp_opening_fallbacks: AtomicU64,
    pub rtcp_refused_in: AtomicU64,
    /// Round-trip time of each connected peer, sampled once a second.
    pub rtt: LatencyHistogram,
    /// Packets handed to the recorder, and those it could not take.
    pub recorded_packets: AtomicU64,
    pub recorder_drops: AtomicU64,
    /// Recordings whose stream to the recorder broke off, and those the
    /// recorder took again (counted by [`Sfu::report`], not by a worker).
    pub recordings_interrupted: AtomicU64,
    pub recordings_resumed: AtomicU64,
    /// Announcement frames played to members.
    pub announcement_packets: AtomicU64,
    /// Peers dropped because their ICE consent expired (no authenticated
    /// check for 30 s), and because they sent nothing at all for 10 s.
    pub consent_expired: AtomicU64,
    pub peers_silent: AtomicU64,
    /// Binding requests naming a peer's ufrag whose MESSAGE-INTEGRITY did
    /// not check out: dropped, nothing learned.
    pub stun_forged: AtomicU64,
    /// STUN from unlearned addresses dropped unread because its source
    /// spent its budget of refused requests (`crate::demux::source_budget`).
    pub datagrams_limited: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Forwarding latency, receive to send.
    pub latency: LatencySnapshot,
    pub workers: Vec<WorkerLoadSnapshot>,
    pub datagrams_in: u64,
    pub datagrams_unrouted: u64,
    pub rtp_in: u64,
    pub rtp_bytes_in: u64,
    pub rtp_forwarded: u64,
    pub rtp_bytes_forwarded: u64,
    pub forward_errors: u64,
    pub datagrams_out: u64,
    pub plis_relayed: u64,
    pub keyframe_requests_throttled: u64,
    pub slots_exhausted: u64,
    pub simulcast_switches: u64,
    pub layer_pause_changes: u64,
    pub datagrams_dropped: u64,
    pub send_calls: u64,
    pub tcp_frames_in: u64,
    pub tcp_frames_out: u64,
    pub packets_lost_in: u64,
    pub nacks_sent: u64,
    pub nacks_received: u64,
    pub retransmissions: u64,
    pub nack_misses: u64,
    pub retransmissions_suppressed: u64,
    pub rtx_sent: u64,
    pub probes: u64,
    pub probe_bytes: u64,
    pub sender_reports: u64,
    pub transport_feedback: u64,
    pub video_pauses: u64,
    pub video_resumes: u64,
    pub remb_sent: u64,
    pub sealed_packets: u64,
    pub sealing_proven: u64,
    pub sealing_fallbacks: u64,
    pub opened_packets: u64,
    pub opening_proven: u64,
    pub opening_fallbacks: u64,
    pub rtp_refused_in: u64,
    pub rtp_duplicates_in: u64,
    pub rtcp_opened: u64,
    pub rtcp_opening_proven: u64,
    pub rtcp_opening_fallbacks: u64,
    pub rtcp_refused_in: u64,
    /// Peers' round-trip times, µs.
    pub rtt: LatencySnapshot,
    pub recorded_packets: u64,
    pub recorder_drops: u64,
    pub recordings_interrupted: u64,
    pub recordings_resumed: u64,
    pub announcement_packets: u64,
    pub consent_expired: u64,
    pub peers_silent: u64,
    pub stun_forged: u64,
    pub datagrams_limited: u64,
}

struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    /// Sends one byte to the worker's socket so it notices a command at once.
    waker: UdpSocket,
    addr: SocketAddr,
    rooms: usize,
    thread: Option<JoinHandle<()>>,
}

/// A running SFU.
pub struct Sfu {
    tokens: JoinTokens,
    clock: WallClock,
    workers: Mutex<Vec<WorkerHandle>>,
    placement: Mutex<HashMap<RoomId, usize>>,
    /// Each worker's own counters, by worker index.
    counters: Vec<Arc<Counters>>,
    events: Mutex<Option<mpsc::Receiver<MediaEvent>>>,
    /// Where events about this SFU that no worker sees (a recording's link
    /// broke) join the workers' events.
    also: mpsc::Sender<MediaEvent>,
}

impl Sfu {
    /// Binds every worker's socket and starts the worker threads.
    pub fn start(config: &SfuConfig) -> Result<Self, SfuError> {
        let n = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        };
        let counters: Vec<Arc<Counters>> = (0..n).map(|_| Arc::new(Counters::default())).collect();
        let mut workers = Vec::with_capacity(n);
        let (events_tx, events_rx) = mpsc::channel();
        for (i, worker_counters) in counters.iter().enumerate() {
            let port = match config.listen.port() {
                0 => 0,
                p => p.checked_add(i as u16).ok_or_else(|| SfuError::Bind {
                    addr: config.listen,
                    message: "worker port past 65535".into(),
                })?,
            };
            let addr = SocketAddr::new(config.listen.ip(), port);
            let bind_err = |e: std::io::Error| SfuError::Bind {
                addr,
                message: e.to_string(),
            };
            let (socket, tcp_links) = bind_media(addr, config.ice_tcp)?;
            let local = socket.local_addr().map_err(bind_err)?;
            let wake_to = if local.ip().is_unspecified() {
                SocketAddr::new(IpAddr::from([127, 0, 0, 1]), local.port())
            } else {
                local
            };
            let waker = UdpSocket::bind(SocketAddr::new(wake_to.ip(), 0)).map_err(bind_err)?;
            waker.connect(wake_to).map_err(bind_err)?;
            let waker_addr = waker.local_addr().map_err(bind_err)?;
            let advertised = SocketAddr::new(
                config
                    .advertised_ip
                    .unwrap_or(if local.ip().is_unspecified() {
                        IpAddr::from([127, 0, 0, 1])
                    } else {
                        local.ip()
                    }),
                local.port(),
            );
            let tcp =
                tcp_links.map(|links| (links, SocketAddr::new(advertised.ip(), local.port())));
            let (tx, rx) = mpsc::channel();
            let worker = Worker::new(WorkerSetup {
                coalescing: config.coalescing,
                send_mode: config.send_mode,
                write_path: config.write_path,
                read_path: config.read_path,
                downlink_estimation: config.downlink_estimation,
                tcp,
                socket,
                advertised,
                waker: waker_addr,
                commands: rx,
                counters: Arc::clone(worker_counters),
                events: events_tx.clone(),
            });
            let thread = std::thread::Builder::new()
                .name(format!("sfu-worker-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| SfuError::Engine(format!("cannot start worker thread: {e}")))?;
            workers.push(WorkerHandle {
                commands: tx,
                waker,
                addr: local,
                rooms: 0,
                thread: Some(thread),
            });
        }
        Ok(Self {
            tokens: config.tokens.clone(),
            clock: config.clock.clone(),
            workers: Mutex::new(workers),
            placement: Mutex::new(HashMap::new()),
            counters,
            events: Mutex::new(Some(events_rx)),
            also: events_tx,
        })
    }

    /// The stream of events for the control plane; `None` once taken. It
    /// ends when the SFU stops.
    pub fn take_events(&self) -> Option<mpsc::Receiver<MediaEvent>> {
        self.events.lock().ok()?.take()
    }

    /// Sends `event` on the stream [`Sfu::take_events`] gives, after the
    /// workers' events sent before it; a recording's interruption or
    /// resumption is counted.
    pub fn report(&self, event: MediaEvent) {
        let counter = match (&event, self.counters.first()) {
            (MediaEvent::RecordingInterrupted { .. }, Some(c)) => Some(&c.recordings_interrupted),
            (MediaEvent::RecordingResumed { .. }, Some(c)) => Some(&c.recordings_resumed),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        // Nobody listens once the stream was dropped; nothing to tell.
        let _ = self.also.send(event);
    }

    /// The workers' UDP addresses.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.workers
            .lock()
            .map(|w| w.iter().map(|h| h.addr).collect())
            .unwrap_or_default()
    }

    pub fn stats(&self) -> SfuStats {
        let all = &self.counters;
        let get = |counter: fn(&Counters) -> &AtomicU64| -> u64 {
            all.iter().map(|c| counter(c).load(Ordering::Relaxed)).sum()
        };
        SfuStats {
            latency: LatencyHistogram::snapshot_of(all.iter().map(|c| &c.latency)),
            workers: all.iter().map(|c| c.load.snapshot()).collect(),
            datagrams_in: get(|c| &c.datagrams_in),
            datagrams_unrouted: get(|c| &c.datagrams_unrouted),
            rtp_in: get(|c| &c.rtp_in),
            rtp_bytes_in: get(|c| &c.rtp_bytes_in),
            rtp_forwarded: get(|c| &c.rtp_forwarded),
            rtp_bytes_forwarded: get(|c| &c.rtp_bytes_forwarded),
            forward_errors: get(|c| &c.forward_errors),
            datagrams_out: get(|c| &c.datagrams_out),
            plis_relayed: get(|c| &c.plis_relayed),
            keyframe_requests_throttled: get(|c| &c.keyframe_requests_throttled),
            slots_exhausted: get(|c| &c.slots_exhausted),
            simulcast_switches: get(|c| &c.simulcast_switches),
            layer_pause_changes: get(|c| &c.layer_pause_changes),
            datagrams_dropped: get(|c| &c.datagrams_dropped),
            send_calls: get(|c| &c.send_calls),
            tcp_frames_in: get(|c| &c.tcp_frames_in),
            tcp_frames_out: get(|c| &c.tcp_frames_out),
            packets_lost_in: get(|c| &c.packets_lost_in),
            nacks_sent: get(|c| &c.nacks_sent),
            nacks_received: get(|c| &c.nacks_received),
            retransmissions: get(|c| &c.retransmissions),
            nack_misses: get(|c| &c.nack_misses),
            retransmissions_suppressed: get(|c| &c.retransmissions_suppressed),
            rtx_sent: get(|c| &c.rtx_sent),
            probes: get(|c| &c.probes),
            probe_bytes: get(|c| &c.probe_bytes),
            sender_reports: get(|c| &c.sender_reports),
            transport_feedback: get(|c| &c.transport_feedback),
            video_pauses: get(|c| &c.video_pauses),
            video_resumes: get(|c| &c.video_resumes),
            remb_sent: get(|c| &c.remb_sent),
            sealed_packets: get(|c| &c.sealed_packets),
            sealing_proven: get(|c| &c.sealing_proven),
            sealing_fallbacks: get(|c| &c.sealing_fallbacks),
            opened_packets: get(|c| &c.opened_packets),
            opening_proven: get(|c| &c.opening_proven),
            opening_fallbacks: get(|c| &c.opening_fallbacks),
            rtp_refused_in: get(|c| &c.rtp_refused_in),
            rtp_duplicates_in: get(|c| &c.rtp_duplicates_in),
            rtcp_opened: get(|c| &c.rtcp_opened),
            rtcp_opening_proven: get(|c| &c.rtcp_opening_proven),
            rtcp_opening_fallbacks: get(|c| &c.rtcp_opening_fallbacks),
            rtcp_refused_in: get(|c| &c.rtcp_refused_in),
            rtt: LatencyHistogram::snapshot_of(all.iter().map(|c| &c.rtt)),
            recorded_packets: get(|c| &c.recorded_packets),
            recorder_drops: get(|c| &c.recorder_drops),
            recordings_interrupted: get(|c| &c.recordings_interrupted),
            recordings_resumed: get(|c| &c.recordings_resumed),
            announcement_packets: get(|c| &c.announcement_packets),
            consent_expired: get(|c| &c.consent_expired),
            peers_silent: get(|c| &c.peers_silent),
            stun_forged: get(|c| &c.stun_forged),
            datagrams_limited: get(|c| &c.datagrams_limited),
        }
    }

    fn call<T>(
        &self,
        worker: usize,
        make: impl FnOnce(mpsc::Sender<Result<T, SfuError>>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, answer) = mpsc::channel();
        {
            let workers = self.workers.lock().map_err(|_| SfuError::Unavailable)?;
            let w = workers.get(worker).ok_or(SfuError::Unavailable)?;
            w.commands
                .send(make(reply))
                .map_err(|_| SfuError::Unavailable)?;
            let _ = w.waker.send(&[0]);
        }
        answer
            .recv_timeout(CONTROL_TIMEOUT)
            .map_err(|_| SfuError::Unavailable)?
    }

    fn worker_of(&self, room: RoomId) -> Result<usize, SfuError> {
        self.placement
            .lock()
            .map_err(|_| SfuError::Unavailable)?
            .get(&room)
            .copied()
            .ok_or(SfuError::UnknownRoom(room))
    }

    /// Opens a room on the least-loaded worker.
    pub fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), SfuError> {
        let worker = {
            let mut placement = self.placement.lock().map_err(|_| SfuError::Unavailable)?;
            if placement.contains_key(&room) {
                return Err(SfuError::RoomExists(room));
            }
            let mut workers = self.workers.lock().map_err(|_| SfuError::Unavailable)?;
            let (i, w) = workers
                .iter_mut()
                .enumerate()
                .min_by_key(|(_, w)| w.rooms)
                .ok_or(SfuError::Unavailable)?;
            w.rooms += 1;
            placement.insert(room, i);
            i
        };
        let result = self.call(worker, |reply| Command::OpenRoom {
            room,
            policy,
            reply,
        });
        if result.is_err() {
            self.forget(room);
        }
        result
    }

    /// Admits a member to a room's media and answers its offer, after
    /// checking their join token is valid now and for this room.
    pub fn join(&self, request: JoinRequest) -> Result<JoinAnswer, SfuError> {
        let claims = self
            .tokens
            .verify(&request.token, request.room, (self.clock)())?;
        let verified = VerifiedJoin {
            room: request.room,
            privileged: claims.kind.is_privileged(),
            member: claims.participant_id()?,
            kind: member_kind(claims.role),
            offer: request.offer,
            receive_slots: request.receive_slots,
            standing: request.standing,
        };
        let worker = self.worker_of(request.room)?;
        self.call(worker, |reply| Command::Join {
            request: verified,
            reply,
        })
    }

    /// Removes a member: their media stops being forwarded at once.
    pub fn remove(&self, room: RoomId, member: MemberId) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Remove {
            room,
            member,
            reply,
        })
    }

    /// Stops (or restores) forwarding one kind of a member's media.
    pub fn set_muted(
        &self,
        room: RoomId,
        member: MemberId,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Mute {
            room,
            member,
            media,
            muted,
            reply,
        })
    }

    /// Starts sending the room's media to the recorder through `tap`. The
    /// room must have been opened recorded, and is never privileged
    /// (invariant 1): otherwise refused and the tap is dropped.
    pub fn start_recording(
        &self,
        room: RoomId,
        tap: Box<dyn RecordingTap>,
    ) -> Result<(), SfuError> {
        self.start_recording_after(room, tap, Vec::new())
    }

    /// Like [`Sfu::start_recording`], after playing `announcement` (Opus
    /// frames of 20 ms, the jurisdiction's spoken notice) to every member:
    /// no participant's audio is forwarded while it plays, and the recorder
    /// receives nothing until it has ended (invariant 5).
    pub fn start_recording_after(
        &self,
        room: RoomId,
        tap: Box<dyn RecordingTap>,
        announcement: Vec<bytes::Bytes>,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Record {
            room,
            tap: Some(tap),
            announcement,
            reply,
        })
    }

    /// Stops sending the room's media to the recorder (the end, or a lawful
    /// stop); the tap is dropped.
    pub fn stop_recording(&self, room: RoomId) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Record {
            room,
            tap: None,
            announcement: Vec::new(),
            reply,
        })
    }

    /// Applies a court's change to a hearing's forwarding.
    pub fn change_hearing(&self, room: RoomId, change: HearingChange) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Hearing {
            room,
            change,
            reply,
        })
    }

    /// Each member's downlink in `room`: its estimate, where that comes
    /// from, what its feedback said and the layers it is sent.
    pub fn downlinks(&self, room: RoomId) -> Result<Vec<super::DownlinkReport>, SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::Downlinks { room, reply })
    }

    /// Closes a room and every peer connection in it.
    pub fn close_room(&self, room: RoomId) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        let result = self.call(worker, |reply| Command::CloseRoom { room, reply });
        self.forget(room);
        result
    }

    fn forget(&self, room: RoomId) {
        let Ok(mut placement) = self.placement.lock() else {
            return;
        };
        if let Some(i) = placement.remove(&room)
            && let Ok(mut workers) = self.workers.lock()
            && let Some(w) = workers.get_mut(i)
        {
            w.rooms = w.rooms.saturating_sub(1);
        }
    }
}

/// Socket buffer asked for each media socket, bytes (the kernel may cap it
/// at `net.core.rmem_max` / `wmem_max`): room for bursts of a whole turn.
const SOCKET_BUFFER: usize = 4 << 20;

/// Binds a worker's UDP socket and, with ICE-TCP, a TCP listener on the
/// same port number. With port 0 the kernel picks the UDP port, which may be
/// taken for TCP: then both are tried again on another (at most 16 times).
fn bind_media(
    addr: SocketAddr,
    ice_tcp: bool,
) -> Result<(UdpSocket, Option<super::ice_tcp::TcpLinks>), SfuError> {
    let bind_err = |addr: SocketAddr, e: std::io::Error| SfuError::Bind {
        addr,
        message: e.to_string(),
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let socket = UdpSocket::bind(addr).map_err(|e| bind_err(addr, e))?;
        let sock = socket2::SockRef::from(&socket);
        // Best effort: a smaller buffer still works, it only drops sooner.
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        if !ice_tcp {
            return Ok((socket, None));
        }
        let local = socket.local_addr().map_err(|e| bind_err(addr, e))?;
        match super::ice_tcp::TcpLinks::bind(local) {
            Ok(links) => return Ok((socket, Some(links))),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < 16 => {}
            Err(e) => {
                return Err(SfuError::Bind {
                    addr: local,
                    message: format!("ICE-TCP listener: {e}"),
                });
            }
        }
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        if let Ok(mut workers) = self.workers.lock() {
            for w in workers.iter_mut() {
                let _ = w.commands.send(Command::Stop);
                let _ = w.waker.send(&[0]);
            }
            for w in workers.iter_mut() {
                if let Some(t) = w.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}
