//! Which peer a datagram on a shared UDP socket belongs to.
//!
//! Datagrams are classified by their first byte (RFC 7983): STUN, DTLS, or
//! SRTP/SRTCP. A STUN binding request names its target in the USERNAME
//! attribute (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2), so STUN is routed
//! by our ICE ufrag; everything else is routed by source address, learned
//! from the STUN that reached a known ufrag. Nothing here trusts a datagram:
//! ICE message integrity, DTLS and SRTP authentication are checked by the
//! peer connection the datagram is handed to.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;

/// STUN magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// STUN header length in bytes.
const STUN_HEADER: usize = 20;
/// USERNAME attribute type.
const ATTR_USERNAME: u16 = 0x0006;
/// Longest USERNAME accepted, in bytes (RFC 5389 §15.3: < 513).
const MAX_USERNAME: usize = 512;
/// Source addresses remembered per peer; the oldest is forgotten first, so
/// STUN from many ports cannot grow the table without bound.
pub const MAX_ADDRESSES_PER_PEER: usize = 4;

/// What a datagram is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketClass {
    Stun,
    Dtls,
    Rtp,
    Rtcp,
    /// Matches no protocol we speak: dropped and counted.
    Unknown,
}

/// Classifies a datagram (RFC 7983 §7, RFC 5761 §4 for RTP vs RTCP).
pub fn classify(datagram: &[u8]) -> PacketClass {
    let Some(&first) = datagram.first() else {
        return PacketClass::Unknown;
    };
    match first {
        0..=3 if datagram.len() >= STUN_HEADER && datagram[4..8] == MAGIC_COOKIE => {
            PacketClass::Stun
        }
        20..=63 => PacketClass::Dtls,
        128..=191 if datagram.len() >= 8 => match datagram[1] {
            192..=223 => PacketClass::Rtcp,
            _ => PacketClass::Rtp,
        },
        _ => PacketClass::Unknown,
    }
}

/// Why a STUN message's USERNAME could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    #[error("not a STUN message")]
    NotStun,
    #[error("STUN length field disagrees with the datagram")]
    BadLength,
    #[error("STUN attribute runs past the end of the message")]
    TruncatedAttribute,
    #[error("STUN message has no USERNAME")]
    NoUsername,
    #[error("STUN USERNAME is not `ufrag:ufrag` in UTF-8")]
    BadUsername,
}

/// Our ufrag from a binding request's USERNAME (`<ours>:<theirs>`).
pub fn stun_local_ufrag(datagram: &[u8]) -> Result<&str, StunError> {
    if classify(datagram) != PacketClass::Stun {
        return Err(StunError::NotStun);
    }
    let body_len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if body_len % 4 != 0 || STUN_HEADER + body_len > datagram.len() {
        return Err(StunError::BadLength);
    }
    let mut rest = &datagram[STUN_HEADER..STUN_HEADER + body_len];
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let padded = len.div_ceil(4) * 4;
        if 4 + padded > rest.len() {
            return Err(StunError::TruncatedAttribute);
        }
        if kind == ATTR_USERNAME {
            if len > MAX_USERNAME {
                return Err(StunError::BadUsername);
            }
            let username =
                std::str::from_utf8(&rest[4..4 + len]).map_err(|_| StunError::BadUsername)?;
            return match username.split_once(':') {
                Some((ours, theirs)) if !ours.is_empty() && !theirs.is_empty() => Ok(ours),
                _ => Err(StunError::BadUsername),
            };
        }
        rest = &rest[4 + padded..];
    }
    Err(StunError::NoUsername)
}

/// Why a datagram was not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrouted {
    /// Not STUN, DTLS, RTP or RTCP.
    Unknown,
    /// STUN without a readable USERNAME.
    BadStun(StunError),
    /// STUN for a ufrag no peer has.
    UnknownUfrag,
    /// DTLS or SRTP from an address no peer has used.
    UnknownAddress,
}

/// Routing table of one socket: ICE ufrag and source address to peer.
#[derive(Debug, Clone)]
pub struct Demux<P> {
    by_ufrag: HashMap<String, P>,
    by_addr: HashMap<SocketAddr, P>,
    addrs_of: HashMap<P, VecDeque<SocketAddr>>,
}

impl<P> Default for Demux<P> {
    fn default() -> Self {
        Self {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            addrs_of: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash> Demux<P> {
    /// Registers a peer under its local ICE ufrag.
    pub fn add(&mut self, ufrag: &str, peer: P) {
        self.by_ufrag.insert(ufrag.to_string(), peer);
    }

    /// Forgets a peer and every address it used.
    pub fn remove(&mut self, peer: P) {
        self.by_ufrag.retain(|_, p| *p != peer);
        for addr in self.addrs_of.remove(&peer).unwrap_or_default() {
            if self.by_addr.get(&addr) == Some(&peer) {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// Remembers that `from` belongs to `peer`, forgetting the peer's oldest
    /// address past [`MAX_ADDRESSES_PER_PEER`].
    fn learn(&mut self, from: SocketAddr, peer: P) {
        if self.by_addr.get(&from) == Some(&peer) {
            return;
        }
        if let Some(previous) = self.by_addr.insert(from, peer)
            && let Some(list) = self.addrs_of.get_mut(&previous)
        {
            list.retain(|a| *a != from);
        }
        let list = self.addrs_of.entry(peer).or_default();
        list.push_back(from);
        while list.len() > MAX_ADDRESSES_PER_PEER {
            if let Some(old) = list.pop_front()
                && self.by_addr.get(&old) == Some(&peer)
            {
                self.by_addr.remove(&old);
            }
        }
    }

    /// Number of addresses learned (bounded by the peers' ICE checks).
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }

    /// Routes a datagram from `from`. STUN to a known ufrag teaches the
    /// table that `from` belongs to that peer.
    pub fn route(&mut self, datagram: &[u8], from: SocketAddr) -> Result<P, Unrouted> {
        match classify(datagram) {
            PacketClass::Unknown => Err(Unrouted::Unknown),
            PacketClass::Stun => match stun_local_ufrag(datagram) {
                Ok(ufrag) => {
                    let peer = *self.by_ufrag.get(ufrag).ok_or(Unrouted::UnknownUfrag)?;
                    self.learn(from, peer);
                    Ok(peer)
                }
                // Responses and indications carry no USERNAME: they belong to
                // whoever uses that address.
                Err(e) => self.by_addr.get(&from).copied().ok_or(Unrouted::BadStun(e)),
            },
            PacketClass::Dtls | PacketClass::Rtp | PacketClass::Rtcp => self
                .by_addr
                .get(&from)
                .copied()
                .ok_or(Unrouted::UnknownAddress),
        }
    }
}

#[cfg(test)]
mod tests;
