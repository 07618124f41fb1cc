//! Reading a turn's datagrams with as few system calls as the kernel
//! allows: `recvmmsg(2)` for up to [`BATCH`] at once, with UDP GRO where
//! the kernel offers it (datagrams from one source coalesced into one
//! buffer, split again here by their stride), through `quinn-udp`.

use quinn_udp::{RecvMeta, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

/// Buffers read per system call.
pub const BATCH: usize = 32;
/// Bytes per buffer: room for a GRO-coalesced run of datagrams.
const BUFFER: usize = 64 * 1024;

/// A socket's receive state and buffers, reused every turn.
pub struct Receiver {
    state: UdpSocketState,
    buffers: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

impl Receiver {
    /// Prepares `socket` for batched reads (it must be non-blocking).
    pub fn new(socket: &UdpSocket) -> io::Result<Self> {
        Ok(Self {
            state: UdpSocketState::new(socket.into())?,
            buffers: (0..BATCH).map(|_| vec![0u8; BUFFER]).collect(),
            meta: vec![RecvMeta::default(); BATCH],
        })
    }

    /// Reads what is ready (one system call) and hands each datagram to
    /// `each` with its source; returns how many buffers were filled (0
    /// when nothing was waiting).
    pub fn recv(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = self
            .buffers
            .iter_mut()
            .map(|b| IoSliceMut::new(b.as_mut_slice()))
            .collect();
        let filled = match self.state.recv(socket.into(), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        for (meta, buffer) in self.meta.iter().zip(&self.buffers).take(filled) {
            let data = &buffer[..meta.len.min(buffer.len())];
            let stride = meta.stride.max(1);
            for datagram in data.chunks(stride) {
                each(meta.addr, datagram);
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams from two sources, more than one batch of them, all come
    /// out whole and in order per source.
    #[test]
    fn reads_every_datagram_whole() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut r = Receiver::new(&socket).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        for i in 0..30u16 {
            let mut d = i.to_be_bytes().to_vec();
            d.resize(1_000, 0xaa);
            a.send_to(&d, to).unwrap();
            b.send_to(&d[..700], to).unwrap();
        }
        let mut got: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for _ in 0..20 {
            if r.recv(&socket, |from, d| got.push((from, d.to_vec())))
                .unwrap()
                == 0
            {
                break;
            }
        }
        assert_eq!(r.recv(&socket, |_, _| ()).unwrap(), 0, "nothing left");
        for (sender, len) in [(&a, 1_000), (&b, 700)] {
            let mine: Vec<&Vec<u8>> = got
                .iter()
                .filter(|(from, _)| *from == sender.local_addr().unwrap())
                .map(|(_, d)| d)
                .collect();
            assert_eq!(mine.len(), 30);
            for (i, d) in mine.iter().enumerate() {
                assert_eq!(d.len(), len);
                assert_eq!(u16::from_be_bytes([d[0], d[1]]), i as u16);
            }
        }
    }
}
