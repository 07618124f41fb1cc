//! ICE over TCP (RFC 6544, passive candidates only) for networks that block
//! UDP: each worker also listens on TCP (same port number as its UDP
//! socket); a client connects and sends ICE, DTLS and SRTP framed as in
//! RFC 4571 (a 16-bit big-endian length before each packet). Frames are
//! routed by the same demultiplexer as datagrams.
//!
//! Hostile peers: a connection must send a routable frame (a STUN request
//! for a known ufrag) within [`ROUTE_DEADLINE`] or it is closed; at most
//! [`MAX_LINKS`] connections per worker; at most [`MAX_PENDING_OUT`] bytes
//! queued toward one connection (beyond that, packets are dropped, as UDP
//! would).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Largest packet a frame can carry, bytes.
pub const MAX_FRAME: usize = u16::MAX as usize;
/// Connections per worker.
pub const MAX_LINKS: usize = 1024;
/// A connection that has not been routed by then is closed.
pub const ROUTE_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes queued toward one connection before packets are dropped.
pub const MAX_PENDING_OUT: usize = 1 << 20;

/// Splits an RFC 4571 byte stream into packets.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, if one has arrived.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        let len_bytes: [u8; 2] = rest.get(..2)?.try_into().ok()?;
        let len = usize::from(u16::from_be_bytes(len_bytes));
        if rest.len() < 2 + len {
            // Keep the partial frame at the front for the next read.
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            return None;
        }
        let begin = self.start + 2;
        self.start = begin + len;
        self.buf.get(begin..begin + len)
    }
}

/// Appends `packet` framed (length first) to `out`; `false` if it is
/// longer than a frame can say.
pub fn frame(packet: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(len) = u16::try_from(packet.len()) else {
        return false;
    };
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    true
}

struct Link {
    stream: TcpStream,
    decoder: FrameDecoder,
    outgoing: Vec<u8>,
    opened: Instant,
    routed: bool,
}

/// A worker's TCP listener and connections.
pub struct TcpLinks {
    listener: TcpListener,
    links: HashMap<SocketAddr, Link>,
    /// Connection of each pollfd appended by [`TcpLinks::poll_fds`], after
    /// the listener's.
    polled: Vec<SocketAddr>,
}

/// What one pass over the connections did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpActivity {
    pub frames_in: u64,
    pub frames_unrouted: u64,
    pub closed: u64,
    pub dropped_out: u64,
}

impl TcpLinks {
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            links: HashMap::new(),
            polled: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// Appends the listener's and every connection's pollfd.
    pub fn poll_fds(&mut self, fds: &mut Vec<libc::pollfd>) {
        use std::os::fd::AsRawFd;
        fds.push(libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        self.polled.clear();
        for (addr, link) in &self.links {
            let mut events = libc::POLLIN;
            if !link.outgoing.is_empty() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: link.stream.as_raw_fd(),
                events,
                revents: 0,
            });
            self.polled.push(*addr);
        }
    }

    /// Handles what `poll(2)` reported for the fds of [`TcpLinks::poll_fds`]:
    /// accepts connections, reads frames and hands each to `route` (which
    /// says whether it found a peer), writes what is queued.
    pub fn on_ready(
        &mut self,
        fds: &[libc::pollfd],
        now: Instant,
        mut route: impl FnMut(SocketAddr, &[u8]) -> bool,
    ) -> TcpActivity {
        let mut activity = TcpActivity::default();
        let Some((listener, links)) = fds.split_first() else {
            return activity;
        };
        if listener.revents & libc::POLLIN != 0 {
            self.accept(now);
        }
        let mut closing = Vec::new();
        for (pfd, addr) in links.iter().zip(&self.polled) {
            let Some(link) = self.links.get_mut(addr) else {
                continue;
            };
            if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                && !Self::read_link(link, *addr, &mut route, &mut activity)
            {
                closing.push(*addr);
                continue;
            }
            if pfd.revents & libc::POLLOUT != 0 && Self::write_link(link).is_err() {
                closing.push(*addr);
            }
        }
        for (addr, link) in &self.links {
            if !link.routed && now.saturating_duration_since(link.opened) > ROUTE_DEADLINE {
                closing.push(*addr);
            }
        }
        for addr in closing {
            if self.links.remove(&addr).is_some() {
                activity.closed += 1;
            }
        }
        activity
    }

    fn accept(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    if self.links.len() >= MAX_LINKS
                        || stream.set_nonblocking(true).is_err()
                        || stream.set_nodelay(true).is_err()
                    {
                        continue;
                    }
                    self.links.insert(
                        addr,
                        Link {
                            stream,
                            decoder: FrameDecoder::default(),
                            outgoing: Vec::new(),
                            opened: now,
                            routed: false,
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "ICE-TCP accept failed");
                    return;
                }
            }
        }
    }

    /// Reads what is there; false when the connection is over.
    fn read_link(
        link: &mut Link,
        addr: SocketAddr,
        route: &mut impl FnMut(SocketAddr, &[u8]) -> bool,
        activity: &mut TcpActivity,
    ) -> bool {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match link.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    link.decoder.push(&buf[..n]);
                    while let Some(packet) = link.decoder.next_frame() {
                        activity.frames_in += 1;
                        if route(addr, packet) {
                            link.routed = true;
                        } else {
                            activity.frames_unrouted += 1;
                            if !link.routed {
                                // Not an ICE client of ours: hang up.
                                return false;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    fn write_link(link: &mut Link) -> io::Result<()> {
        while !link.outgoing.is_empty() {
            match link.stream.write(&link.outgoing) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    link.outgoing.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues `packet` toward the connection from `to` and writes what the
    /// socket takes now; false if there is no such connection or its queue
    /// is full (the packet is dropped).
    pub fn send(&mut self, to: SocketAddr, packet: &[u8]) -> bool {
        let Some(link) = self.links.get_mut(&to) else {
            return false;
        };
        if link.outgoing.len() + packet.len() + 2 > MAX_PENDING_OUT
            || !frame(packet, &mut link.outgoing)
        {
            return false;
        }
        if Self::write_link(link).is_err() {
            self.links.remove(&to);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip_across_arbitrary_reads() {
        let packets: Vec<Vec<u8>> = vec![b"stun".to_vec(), vec![], vec![7; 1500], b"x".to_vec()];
        let mut stream = Vec::new();
        for p in &packets {
            assert!(frame(p, &mut stream));
        }
        let mut decoder = FrameDecoder::default();
        let mut got = Vec::new();
        for chunk in stream.chunks(3) {
            decoder.push(chunk);
            while let Some(p) = decoder.next_frame() {
                got.push(p.to_vec());
            }
        }
        assert_eq!(got, packets);
    }

    #[test]
    fn a_packet_too_long_for_a_frame_is_refused() {
        let mut out = Vec::new();
        assert!(!frame(&vec![0; MAX_FRAME + 1], &mut out));
        assert!(out.is_empty());
        assert!(frame(&vec![0; MAX_FRAME], &mut out));
    }

    proptest! {
        #[test]
        fn any_byte_stream_is_safe(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut decoder = FrameDecoder::default();
            let mut total = 0usize;
            let mut seen = 0usize;
            for c in &chunks {
                total += c.len();
                decoder.push(c);
                while let Some(p) = decoder.next_frame() {
                    seen += p.len() + 2;
                }
            }
            prop_assert!(seen <= total);
        }
    }
}
