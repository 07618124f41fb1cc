//! The lightweight load client: a few OS threads ("lanes", `light-client-N`)
//! that each own many sans-IO `rtc` peer connections, every one with its own
//! UDP socket on 127.0.0.1 (the SFU tells participants apart by source
//! address). A lane waits on all its sockets with one mio `Poll` (epoll), drives
//! every connection's timers, and paces each publisher from its own clock
//! with the same [`Schedule`] as the async client, so the packets, rates
//! and measures are the same. No task per client or per track.
//!
//! Signaling stays async (see [`crate::participant`]); it talks to a lane
//! through [`LightEngine::open`] and the [`LightClient`] handle.

use crate::light_peer::{LightError, LightPeer};
use crate::participant::{SendLog, SentCounters};
use crate::payload;
use crate::recorder::LatencyRecorder;
use crate::scenario::MediaSpec;
use crate::schedule::{Outgoing, Schedule};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::sansio::Protocol;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What a lane is asked to do.
enum Command {
    Open {
        name: String,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        recorder: Arc<LatencyRecorder>,
        reply: oneshot::Sender<Result<(usize, String), LightError>>,
    },
    /// Apply the answer; reply once connected (or failed).
    Accept {
        client: usize,
        answer: String,
        reply: oneshot::Sender<Result<(), LightError>>,
    },
    Publish {
        client: usize,
        publishing: Box<Publishing>,
    },
    Close {
        client: usize,
        reply: oneshot::Sender<()>,
    },
}

/// A publisher's state on its lane.
struct Publishing {
    schedule: Schedule,
    sent: Arc<SentCounters>,
    stop: Arc<AtomicBool>,
    until: Instant,
    done: oneshot::Sender<SendLog>,
}

/// A lane's end of the channel.
struct Lane {
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
}

impl Lane {
    fn send(&self, command: Command) -> Result<(), LightError> {
        self.commands
            .send(command)
            .map_err(|_| LightError::EngineGone)?;
        let _ = self.waker.wake();
        Ok(())
    }
}

/// The lanes; dropping the last handle stops them.
struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
    /// Datagrams the lanes could not send (socket buffer full).
    dropped: Arc<AtomicU64>,
}

/// Handle on the lightweight engine; cheap to clone.
#[derive(Clone)]
pub struct LightEngine {
    inner: Arc<Lanes>,
}

/// Prefix of the lanes' thread names (`/proc/self/task/*/comm`).
pub const THREAD_PREFIX: &str = "light-client";

impl LightEngine {
    /// Starts `lanes` threads (at least one).
    pub fn start(lanes: usize) -> Result<Self, LightError> {
        let dropped = Arc::new(AtomicU64::new(0));
        let mut out = Vec::new();
        for n in 0..lanes.max(1) {
            let (commands, inbox) = mpsc::channel();
            let mut poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
            let dropped = dropped.clone();
            std::thread::Builder::new()
                .name(format!("{THREAD_PREFIX}-{n}"))
                .spawn(move || {
                    let mut state = LaneState {
                        inbox,
                        clients: Vec::new(),
                        free: Vec::new(),
                        dropped,
                    };
                    if let Err(e) = state.run(&mut poll) {
                        eprintln!("error: light client lane {n} stopped: {e}");
                    }
                })?;
            out.push(Lane { commands, waker });
        }
        Ok(Self {
            inner: Arc::new(Lanes {
                lanes: out,
                next: AtomicUsize::new(0),
                dropped,
            }),
        })
    }

    /// Datagrams not sent because a socket's buffer was full, so far.
    pub fn dropped_datagrams(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// A new client on the next lane; returns it with its SDP offer.
    pub async fn open(
        &self,
        name: &str,
        publishes: bool,
        receive_slots: usize,
        ssrc_base: u32,
        recorder: Arc<LatencyRecorder>,
    ) -> Result<(LightClient, String), LightError> {
        let lane = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.lanes.len();
        let (reply, answer) = oneshot::channel();
        self.inner.lanes[lane].send(Command::Open {
            name: name.to_string(),
            publishes,
            receive_slots,
            ssrc_base,
            recorder,
            reply,
        })?;
        let (client, offer) = answer.await.map_err(|_| LightError::EngineGone)??;
        Ok((
            LightClient {
                engine: self.inner.clone(),
                lane,
                client,
            },
            offer,
        ))
    }
}

/// One client on a lane.
pub struct LightClient {
    engine: Arc<Lanes>,
    lane: usize,
    client: usize,
}

impl LightClient {
    fn send(&self, command: Command) -> Result<(), LightError> {
        self.engine.lanes[self.lane].send(command)
    }

    /// Applies the SFU's answer and waits until the connection is
    /// established (ICE + DTLS).
    pub async fn accept(&self, answer: String) -> Result<(), LightError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Accept {
            client: self.client,
            answer,
            reply,
        })?;
        done.await.map_err(|_| LightError::EngineGone)?
    }

    /// Starts publishing `media` as `name` until `stop` is set or `until`
    /// passes; the log arrives on the returned channel then.
    pub fn publish(
        &self,
        name: &str,
        media: MediaSpec,
        sent: Arc<SentCounters>,
        stop: Arc<AtomicBool>,
        until: Instant,
    ) -> Result<oneshot::Receiver<SendLog>, LightError> {
        let (done, log) = oneshot::channel();
        self.send(Command::Publish {
            client: self.client,
            publishing: Box::new(Publishing {
                schedule: Schedule::new(name, media, Instant::now()),
                sent,
                stop,
                until,
                done,
            }),
        })?;
        Ok(log)
    }

    /// Closes the peer connection (its DTLS close goes out) and the socket.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .send(Command::Close {
                client: self.client,
                reply,
            })
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        // Dropping the senders ends each lane at its next turn; wake them.
        for lane in &self.lanes {
            let _ = lane.waker.wake();
        }
    }
}

/// The token of a lane's waker; a client's token is its slot.
const WAKE: Token = Token(usize::MAX);
/// Longest a lane sleeps with nothing due.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// Most datagrams read from one socket in one turn.
const READ_BATCH: usize = 32;
/// Most readiness events taken from one wait.
const MAX_EVENTS: usize = 256;
/// Largest datagram, bytes.
const MAX_DATAGRAM: usize = 2048;

struct ClientState {
    peer: LightPeer,
    recorder: Arc<LatencyRecorder>,
    /// When its peer connection next wants `handle_timeout`.
    next_timeout: Option<Instant>,
    /// Waiting for "connected".
    connected: Option<oneshot::Sender<Result<(), LightError>>>,
    publishing: Option<Box<Publishing>>,
}

impl ClientState {
    /// Reads up to [`READ_BATCH`] datagrams from the socket into the peer
    /// connection; true once the socket is drained (it would block).
    fn read(&mut self, buf: &mut [u8]) -> bool {
        for _ in 0..READ_BATCH {
            match self.peer.socket.recv_from(buf) {
                Ok((n, from)) => {
                    self.peer.receive(&buf[..n], from, Instant::now());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                // An error (an ICMP report) is consumed by reading it;
                // datagrams behind it are read next turn.
                Err(_) => return false,
            }
        }
        false
    }

    /// Takes events and received packets, sends what is queued, and notes
    /// the next timer. Returns datagrams that could not be sent.
    fn service(&mut self) -> u64 {
        while let Some(event) = self.peer.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = event {
                let outcome = match s {
                    RTCPeerConnectionState::Connected => Ok(()),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        Err(LightError::Failed)
                    }
                    _ => continue,
                };
                if let Some(reply) = self.connected.take() {
                    let _ = reply.send(outcome);
                }
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.peer.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, packet) = message {
                self.recorder.record(&packet.payload, payload::now_us());
            }
        }
        let dropped = self.peer.flush();
        self.next_timeout = self.peer.pc.poll_timeout();
        dropped
    }

    /// Sends every packet due at `now`; hands over the log when done.
    fn send_due(&mut self, now: Instant) {
        let Some(p) = self.publishing.as_mut() else {
            return;
        };
        if p.stop.load(Ordering::Relaxed) || now >= p.until {
            if let Some(p) = self.publishing.take() {
                let _ = p.done.send(p.schedule.log);
            }
            return;
        }
        while let Some(out) = p.schedule.next(now, &p.sent) {
            let written = match out {
                Outgoing::Video {
                    seq,
                    timestamp,
                    marker,
                    payload,
                } => self.peer.write(true, seq, timestamp, marker, payload, now),
                Outgoing::Audio {
                    seq,
                    timestamp,
                    payload,
                } => self.peer.write(false, seq, timestamp, false, payload, now),
            };
            if written.is_err() {
                p.schedule.failed();
            }
        }
    }
}

/// Everything one lane thread owns.
struct LaneState {
    inbox: mpsc::Receiver<Command>,
    /// Indexed by the client's token.
    clients: Vec<Option<ClientState>>,
    free: Vec<usize>,
    dropped: Arc<AtomicU64>,
}

impl LaneState {
    /// The lane's loop; returns when every handle is gone.
    ///
    /// mio's readiness is edge-triggered: a socket is reported once when
    /// datagrams arrive, so one that still holds datagrams after its
    /// [`READ_BATCH`] stays in `unread` and is read again next turn, after a
    /// wait of zero.
    fn run(&mut self, poll: &mut Poll) -> std::io::Result<()> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut events = Events::with_capacity(MAX_EVENTS);
        let mut ready = Vec::new();
        let mut unread = Vec::new();
        loop {
            if !self.take_commands(poll.registry()) {
                break;
            }
            let now = Instant::now();
            let mut dropped = 0;
            for c in self.clients.iter_mut().flatten() {
                let timer = c.next_timeout.is_some_and(|t| t <= now);
                if timer {
                    let _ = c.peer.pc.handle_timeout(now);
                }
                let sends = c.publishing.as_ref().is_some_and(|p| {
                    p.schedule.due() <= now || p.stop.load(Ordering::Relaxed) || now >= p.until
                });
                if sends {
                    c.send_due(now);
                }
                if timer || sends {
                    dropped += c.service();
                }
            }
            let next = self
                .clients
                .iter()
                .flatten()
                .flat_map(|c| {
                    c.next_timeout
                        .into_iter()
                        .chain(c.publishing.as_ref().map(|p| p.schedule.due()))
                })
                .min()
                .unwrap_or(now + IDLE_WAIT)
                .min(now + IDLE_WAIT);
            let wait = if unread.is_empty() {
                next.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            ready.clear();
            ready.append(&mut unread);
            ready.extend(events.iter().map(|e| e.token()).filter(|&t| t != WAKE));
            ready.sort_unstable();
            ready.dedup();
            for &Token(slot) in &ready {
                let Some(Some(c)) = self.clients.get_mut(slot) else {
                    continue;
                };
                if !c.read(&mut buf) {
                    unread.push(Token(slot));
                }
                dropped += c.service();
            }
            if dropped > 0 {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        for c in self.clients.iter_mut().flatten() {
            let _ = c.peer.pc.close();
            c.peer.flush();
        }
        Ok(())
    }

    /// Carries out the commands waiting; false once every handle is gone.
    fn take_commands(&mut self, registry: &Registry) -> bool {
        loop {
            let command = match self.inbox.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            };
            let now = Instant::now();
            match command {
                Command::Open {
                    name,
                    publishes,
                    receive_slots,
                    ssrc_base,
                    recorder,
                    reply,
                } => {
                    let opened = LightPeer::offer(&name, publishes, receive_slots, ssrc_base, now)
                        .and_then(|(peer, offer)| {
                            let slot = self.free.pop().unwrap_or_else(|| {
                                self.clients.push(None);
                                self.clients.len() - 1
                            });
                            let fd = peer.socket.as_raw_fd();
                            let token = Token(slot);
                            let registered =
                                registry.register(&mut SourceFd(&fd), token, Interest::READABLE);
                            if let Err(e) = registered {
                                self.free.push(slot);
                                return Err(LightError::Socket(e));
                            }
                            let mut state = ClientState {
                                peer,
                                recorder,
                                next_timeout: None,
                                connected: None,
                                publishing: None,
                            };
                            state.service();
                            self.clients[slot] = Some(state);
                            Ok((slot, offer))
                        });
                    let _ = reply.send(opened);
                }
                Command::Accept {
                    client,
                    answer,
                    reply,
                } => match self.clients.get_mut(client).and_then(Option::as_mut) {
                    Some(c) => match c.peer.accept(answer, now) {
                        Ok(()) => {
                            c.connected = Some(reply);
                            c.service();
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    },
                    None => {
                        let _ = reply.send(Err(LightError::EngineGone));
                    }
                },
                Command::Publish { client, publishing } => {
                    if let Some(c) = self.clients.get_mut(client).and_then(Option::as_mut) {
                        c.publishing = Some(publishing);
                    }
                }
                Command::Close { client, reply } => {
                    if let Some(mut c) = self.clients.get_mut(client).and_then(Option::take) {
                        if let Some(p) = c.publishing.take() {
                            let _ = p.done.send(p.schedule.log);
                        }
                        let _ = c.peer.pc.close();
                        c.peer.flush();
                        let _ = registry.deregister(&mut SourceFd(&c.peer.socket.as_raw_fd()));
                        self.free.push(client);
                    }
                    let _ = reply.send(());
                }
            }
        }
    }
}
