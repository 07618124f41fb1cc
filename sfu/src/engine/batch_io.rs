//! Sending a turn's datagrams: one `sendmmsg(2)` call for up to
//! [`BATCH`] datagrams to any mix of destinations (Linux), or one
//! `send_to` per datagram. The socket is non-blocking: when its buffer is
//! full the rest of the turn's datagrams are dropped (UDP semantics; SRTP
//! and NACK cope), never waited for.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Most datagrams per `sendmmsg` call.
pub const BATCH: usize = 64;

/// How the worker writes datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendMode {
    /// `sendmmsg(2)`: one system call per [`BATCH`] datagrams (falls back
    /// to [`SendMode::PerDatagram`] where the kernel lacks it).
    #[default]
    Batched,
    /// One `send_to` per datagram.
    PerDatagram,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams refused (bad destination, buffer full, …) and dropped.
    pub dropped: usize,
    /// System calls made.
    pub calls: usize,
}

/// Sends every datagram once, in order. `mode` may be downgraded to
/// per-datagram sends when the kernel has no `sendmmsg`.
pub fn send_all<B: AsRef<[u8]>>(
    socket: &UdpSocket,
    datagrams: &[(SocketAddr, B)],
    mode: &mut SendMode,
) -> Sent {
    let mut result = Sent::default();
    if *mode == SendMode::Batched {
        #[cfg(target_os = "linux")]
        {
            let mut rest = datagrams;
            while !rest.is_empty() {
                let chunk = &rest[..rest.len().min(BATCH)];
                result.calls += 1;
                match sendmmsg(socket, chunk) {
                    Ok(n) => {
                        result.sent += n;
                        rest = &rest[n.max(1).min(rest.len())..];
                        if n == 0 {
                            result.dropped += 1;
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                        *mode = SendMode::PerDatagram;
                        let more = per_datagram(socket, rest);
                        result.sent += more.sent;
                        result.dropped += more.dropped;
                        result.calls += more.calls;
                        return result;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        result.dropped += rest.len();
                        return result;
                    }
                    Err(e) => {
                        // The first datagram of the chunk was refused (an
                        // unreachable destination): drop it, go on.
                        tracing::debug!(to = %chunk[0].0, error = %e, "send failed");
                        result.dropped += 1;
                        rest = &rest[1..];
                    }
                }
            }
            return result;
        }
        #[cfg(not(target_os = "linux"))]
        {
            *mode = SendMode::PerDatagram;
        }
    }
    let more = per_datagram(socket, datagrams);
    result.sent += more.sent;
    result.dropped += more.dropped;
    result.calls += more.calls;
    result
}

fn per_datagram<B: AsRef<[u8]>>(socket: &UdpSocket, datagrams: &[(SocketAddr, B)]) -> Sent {
    let mut result = Sent::default();
    for (to, data) in datagrams {
        result.calls += 1;
        match socket.send_to(data.as_ref(), to) {
            Ok(_) => result.sent += 1,
            Err(e) => {
                tracing::debug!(to = %to, error = %e, "send failed");
                result.dropped += 1;
            }
        }
    }
    result
}

/// One `sendmmsg(2)` call for `chunk` (at most [`BATCH`] datagrams); the
/// number the kernel took.
#[cfg(target_os = "linux")]
fn sendmmsg<B: AsRef<[u8]>>(socket: &UdpSocket, chunk: &[(SocketAddr, B)]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    debug_assert!(chunk.len() <= BATCH);
    let addrs: Vec<socket2::SockAddr> = chunk
        .iter()
        .map(|(to, _)| socket2::SockAddr::from(*to))
        .collect();
    let mut iovecs: Vec<libc::iovec> = chunk
        .iter()
        .map(|(_, data)| libc::iovec {
            iov_base: data.as_ref().as_ptr() as *mut libc::c_void,
            iov_len: data.as_ref().len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = addrs
        .iter()
        .zip(iovecs.iter_mut())
        .map(|(addr, iov)| {
            // SAFETY: an all-zero msghdr is valid (no control data, no flags).
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = addr.len();
            hdr.msg_iov = iov as *mut libc::iovec;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect();
    let count = u32::try_from(headers.len()).unwrap_or(u32::MAX);
    // SAFETY: `headers` holds `count` initialised mmsghdr entries whose
    // name, iovec and data pointers (into `addrs`, `iovecs` and `chunk`)
    // stay alive and unmoved for the duration of the call; the kernel only
    // reads them (and writes `msg_len`).
    let n = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            count,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        s
    }

    fn send_to_two(mode: SendMode, n: usize) -> (Sent, Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (a, b) = (receiver(), receiver());
        let payloads: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("datagram {i}").into_bytes())
            .collect();
        let datagrams: Vec<(SocketAddr, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let to = if i % 2 == 0 { &a } else { &b };
                (to.local_addr().expect("addr"), p.as_slice())
            })
            .collect();
        let mut mode = mode;
        let sent = send_all(&sender, &datagrams, &mut mode);
        let read = |s: &UdpSocket, count: usize| {
            (0..count)
                .map(|_| {
                    let mut buf = [0u8; 64];
                    let (len, _) = s.recv_from(&mut buf).expect("datagram arrives");
                    buf[..len].to_vec()
                })
                .collect::<Vec<_>>()
        };
        let got_a = read(&a, n.div_ceil(2));
        let got_b = read(&b, n / 2);
        (sent, got_a, got_b)
    }

    #[test]
    fn batched_sends_reach_every_destination_in_order() {
        // 150 datagrams: three sendmmsg calls (64 + 64 + 22).
        let (sent, a, b) = send_to_two(SendMode::Batched, 150);
        assert_eq!(sent.sent, 150);
        assert_eq!(sent.dropped, 0);
        assert!(sent.calls <= 3, "{sent:?}");
        assert_eq!(a[0], b"datagram 0");
        assert_eq!(a[74], b"datagram 148");
        assert_eq!(b[74], b"datagram 149");
    }

    #[test]
    fn per_datagram_sends_do_the_same() {
        let (sent, a, b) = send_to_two(SendMode::PerDatagram, 10);
        assert_eq!((sent.sent, sent.calls), (10, 10));
        assert_eq!(a.len() + b.len(), 10);
    }

    #[test]
    fn a_refused_destination_drops_only_its_datagram() {
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let ok = receiver();
        // An IPv6 destination cannot be reached from an IPv4 socket.
        let bad: SocketAddr = "[::1]:9".parse().expect("addr");
        let datagrams: Vec<(SocketAddr, &[u8])> = vec![
            (ok.local_addr().expect("addr"), b"one"),
            (bad, b"lost"),
            (ok.local_addr().expect("addr"), b"two"),
        ];
        let mut mode = SendMode::Batched;
        let sent = send_all(&sender, &datagrams, &mut mode);
        assert_eq!((sent.sent, sent.dropped), (2, 1), "{sent:?}");
        let mut buf = [0u8; 16];
        let (n, _) = ok.recv_from(&mut buf).expect("first");
        assert_eq!(&buf[..n], b"one");
        let (n, _) = ok.recv_from(&mut buf).expect("second");
        assert_eq!(&buf[..n], b"two");
    }
}
