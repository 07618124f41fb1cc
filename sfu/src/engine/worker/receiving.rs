//! The socket side: one wait, one receive batch, each datagram handed to
//! the peer connection it belongs to (UDP and ICE-TCP).

use super::*;

impl Worker {
    /// ICE-TCP: accepts connections, hands each frame to its peer (routed
    /// like a datagram), writes what is queued.
    pub(super) fn read_tcp(&mut self, fds: &[libc::pollfd]) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        // rtc's ICE agent matches what arrives to the candidate it names,
        // so it is told the advertised address (behind a 1:1 NAT the socket's
        // own address is in no candidate, and every check would be dropped).
        let local = self.advertised_tcp.unwrap_or(self.advertised);
        let (demux, peers) = (&mut self.demux, &mut self.peers);
        let activity = tcp.on_ready(
            fds.get(1..).unwrap_or(&[]),
            Instant::now(),
            |from, frame| {
                let now = Instant::now();
                let Ok(routed) = demux.route_within_budget(frame, from, now) else {
                    return false;
                };
                let Some(peer) = peers.get_mut(&routed.peer) else {
                    return false;
                };
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
        c.load
            .tcp_links
            .store(tcp.links() as u64, Ordering::Relaxed);
    }

    /// Reads with one `recv_from` per datagram, where batched reads could
    /// not be set up on the socket.
    pub(super) fn read_one_by_one(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
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
                    (self.advertised, self.read_path),
                    from,
                    &buf[..n],
                );
            }
        }
        Ok(())
    }

    /// Waits for datagrams or ICE-TCP traffic until the next timer (or a
    /// command), then reads what is ready and hands each to its peer.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let mut now = Instant::now();
        let next = self
            .timers
            .earliest()
            .into_iter()
            .chain(self.next_announcement())
            .chain(self.next_probe_at(now))
            .chain(Some(self.last_housekeeping + HOUSEKEEPING_EVERY))
            .min()
            .unwrap_or(now + IDLE_WAIT);
        // Under load, what arrives during the rest is taken in one turn
        // (`crate::engine::coalescing`).
        let rested = match self.coalescing.rest(self.woke, now, next) {
            Some(rest) => {
                std::thread::sleep(rest);
                now = Instant::now();
                true
            }
            None => false,
        };
        let wait = if rested && next <= now {
            Duration::ZERO
        } else {
            next.saturating_duration_since(now)
                .clamp(MIN_WAIT, IDLE_WAIT)
        };
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
        self.woke = Instant::now();
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
            // The advertised address, as rtc's candidates name it (see
            // `read_tcp`).
            let (local, waker, read_path) = (self.advertised, self.waker, self.read_path);
            let filled = match receiver.recv(&self.socket, |from, datagram| {
                if from != waker {
                    hand_datagram(demux, peers, counters, (local, read_path), from, datagram);
                }
            }) {
                Ok(n) => n,
                // A previous send's ICMP error surfaces here on Linux: not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            if filled < crate::engine::batch_recv::BATCH {
                break;
            }
            read += filled;
        }
        Ok(())
    }
}

/// Routes one datagram to its peer: RTP of a stream the peer publishes is
/// decrypted here where the path allows ([`open_rtp`]), the rest goes to
/// its connection. Keeps the peer's liveness; counts what could not be
/// routed or was refused.
fn hand_datagram(
    demux: &mut Demux<PeerKey>,
    peers: &mut HashMap<PeerKey, Peer>,
    counters: &Counters,
    (local, read_path): (SocketAddr, ReadPath),
    from: SocketAddr,
    datagram: &[u8],
) {
    counters.datagrams_in.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let routed = match demux.route_within_budget(datagram, from, now) {
        Ok(routed) => routed,
        Err(why) => {
            let counter = match why {
                crate::demux::Unrouted::BadIntegrity => &counters.stun_forged,
                crate::demux::Unrouted::Limited => &counters.datagrams_limited,
                _ => &counters.datagrams_unrouted,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let Some(peer) = peers.get_mut(&routed.peer) else {
        return;
    };
    if read_path == ReadPath::Opened {
        let opened = match open_rtp(peer, datagram, now, counters) {
            Opened::NotHere => open_rtcp(peer, datagram, now, counters),
            opened => opened,
        };
        match opened {
            Opened::Taken => {
                // For the pump only: the connection was handed nothing.
                peer.needs_pump = true;
                peer.liveness.on_datagram(now);
                return;
            }
            Opened::Refused => return,
            Opened::NotHere => {}
        }
    }
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

/// What became of a datagram offered to the opened read path.
enum Opened {
    /// Decrypted and queued for the pump.
    Taken,
    /// Dropped: it failed authentication or repeats a packet already taken.
    Refused,
    /// Not for this path (not RTP, a stream rtc has not named yet, or a
    /// connection whose key is not proven): the connection reads it.
    NotHere,
}

/// Decrypts `datagram` with the peer's proven remote key if it is RTCP
/// from a connected peer (see `crate::ingress::rtcp_opening`); the first
/// such packet proves the key.
fn open_rtcp(peer: &mut Peer, datagram: &[u8], now: Instant, counters: &Counters) -> Opened {
    use crate::ingress::opening::Offered;
    if !peer.connected || !crate::ingress::rtcp_opening::is_rtcp(datagram) {
        return Opened::NotHere;
    }
    let keys_now = peer.keys.calls();
    let keys = &peer.keys;
    let packets = match peer
        .rtcp_opening
        .offer(datagram, keys_now, || keys.candidates())
    {
        Offered::Proven(packets) => {
            counters.rtcp_opening_proven.fetch_add(1, Ordering::Relaxed);
            packets
        }
        Offered::Opened(packets) => packets,
        Offered::Refused(e) => {
            counters.rtcp_refused_in.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(member = peer.member, error = %e, "RTCP packet refused");
            return Opened::Refused;
        }
        Offered::NotHere { gave_up } => {
            if gave_up {
                counters
                    .rtcp_opening_fallbacks
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    member = peer.member,
                    "no captured SRTP key authenticates this peer's RTCP; its connection keeps decrypting it"
                );
            }
            return Opened::NotHere;
        }
    };
    counters.rtcp_opened.fetch_add(1, Ordering::Relaxed);
    peer.arrived_rtcp.push((now, packets));
    Opened::Taken
}

/// Decrypts `datagram` with the peer's proven remote key if it is RTP of a
/// stream the peer publishes (see `crate::ingress::opening`); the first
/// such packet proves the key.
fn open_rtp(peer: &mut Peer, datagram: &[u8], now: Instant, counters: &Counters) -> Opened {
    use crate::ingress::opening::{Offered, rtp_stream_of};
    let Some((ssrc, seq)) = rtp_stream_of(datagram) else {
        return Opened::NotHere;
    };
    if !peer.inbound.contains_key(&ssrc) {
        return Opened::NotHere;
    }
    let keys_now = peer.keys.calls();
    if peer.opening.is_opened()
        && peer.uplink_feedback.check(ssrc, seq) != crate::ingress::Arrival::New
    {
        counters.rtp_duplicates_in.fetch_add(1, Ordering::Relaxed);
        return Opened::Refused;
    }
    let keys = &peer.keys;
    match peer.opening.offer(datagram, keys_now, || keys.candidates()) {
        Offered::Proven(packet) => {
            counters.opening_proven.fetch_add(1, Ordering::Relaxed);
            counters.opened_packets.fetch_add(1, Ordering::Relaxed);
            peer.arrived.push((now, packet));
            Opened::Taken
        }
        Offered::Opened(packet) => {
            counters.opened_packets.fetch_add(1, Ordering::Relaxed);
            peer.arrived.push((now, packet));
            Opened::Taken
        }
        Offered::Refused(e) => {
            counters.rtp_refused_in.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(member = peer.member, error = %e, "publisher's packet refused");
            Opened::Refused
        }
        Offered::NotHere { gave_up } => {
            if gave_up {
                counters.opening_fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    member = peer.member,
                    "no captured SRTP key authenticates this publisher's packets; its connection keeps decrypting them"
                );
            }
            Opened::NotHere
        }
    }
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
