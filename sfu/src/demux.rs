//! Which peer a datagram on a shared UDP socket belongs to.
//!
//! Datagrams are classified by their first byte (RFC 7983): STUN, DTLS, or
//! SRTP/SRTCP. A STUN binding request names its target in the USERNAME
//! attribute (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2), so STUN is routed
//! by our ICE ufrag; everything else is routed by source address.
//!
//! An address is learned only from a binding request whose
//! MESSAGE-INTEGRITY checks out under that peer's ICE password (RFC 8445
//! §7.2.2, RFC 5389 §15.4): the ufrag travels in clear, so without the
//! check anyone who saw one could make the SFU forget a peer's genuine
//! address. Such an authenticated request is also the peer's consent check
//! (RFC 7675), which [`Routed::consent`] reports. DTLS and SRTP
//! authentication are checked by the peer connection the datagram is
//! handed to.

pub mod source_budget;

use rtc::crypto::RTCCryptoProvider;
use rtc::stun::attributes::ATTR_MESSAGE_INTEGRITY;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{BINDING_REQUEST, Message};
use source_budget::SourceBudget;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

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
    /// STUN for a known ufrag without a MESSAGE-INTEGRITY that checks out
    /// under that peer's password: forged or corrupted, and not learned.
    BadIntegrity,
    /// DTLS or SRTP from an address no peer has used.
    UnknownAddress,
    /// STUN from an unlearned address whose source has spent its budget of
    /// refused requests ([`source_budget`]): dropped unread.
    Limited,
}

/// A routed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<P> {
    pub peer: P,
    /// An authenticated binding request: the peer's ICE consent check.
    pub consent: bool,
}

/// A peer's entry under its ufrag.
#[derive(Clone)]
struct Credentials<P> {
    peer: P,
    /// Our ICE password for this peer: the key of its MESSAGE-INTEGRITY.
    password: String,
}

/// Routing table of one socket: ICE ufrag and source address to peer.
#[derive(Clone)]
pub struct Demux<P> {
    by_ufrag: HashMap<String, Credentials<P>>,
    by_addr: HashMap<SocketAddr, P>,
    addrs_of: HashMap<P, VecDeque<SocketAddr>>,
    crypto: Option<Arc<dyn RTCCryptoProvider>>,
    budget: SourceBudget,
}

impl<P> Default for Demux<P> {
    fn default() -> Self {
        Self {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            addrs_of: HashMap::new(),
            crypto: rtc::crypto::default_provider().ok(),
            budget: SourceBudget::default(),
        }
    }
}

/// Whether `datagram` is a binding request carrying a MESSAGE-INTEGRITY
/// that checks out under `password`; false for anything else, or when no
/// crypto provider is available (then nothing is learned at all).
fn authenticated_request(
    datagram: &[u8],
    password: &str,
    crypto: Option<&Arc<dyn RTCCryptoProvider>>,
) -> Option<bool> {
    let crypto = crypto?;
    let mut message = Message::new();
    message.unmarshal_binary(datagram).ok()?;
    if !message.contains(ATTR_MESSAGE_INTEGRITY) {
        return None;
    }
    MessageIntegrity::check(&mut message, password.as_bytes(), crypto.crypto()).ok()?;
    Some(message.typ == BINDING_REQUEST)
}

impl<P: Copy + Eq + Hash> Demux<P> {
    /// Registers a peer under its local ICE ufrag and password.
    pub fn add(&mut self, ufrag: &str, password: &str, peer: P) {
        self.by_ufrag.insert(
            ufrag.to_string(),
            Credentials {
                peer,
                password: password.to_string(),
            },
        );
    }

    /// Forgets a peer and every address it used.
    pub fn remove(&mut self, peer: P) {
        self.by_ufrag.retain(|_, c| c.peer != peer);
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

    /// Routes a datagram from `from` as [`Demux::route`] does, unless it
    /// is STUN from an unlearned address whose source has spent its budget
    /// of refused requests; each refusal of such STUN is charged to its
    /// source at `now`. Other datagrams cost a table lookup to refuse and
    /// are never charged: a peer's media still in flight when it was
    /// removed does not hold up the next join from its address.
    pub fn route_within_budget(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
    ) -> Result<Routed<P>, Unrouted> {
        if classify(datagram) != PacketClass::Stun || self.by_addr.contains_key(&from) {
            return self.route(datagram, from);
        }
        if !self.budget.allows(from.ip(), now) {
            return Err(Unrouted::Limited);
        }
        let routed = self.route(datagram, from);
        if routed.is_err() {
            self.budget.charge(from.ip(), now);
        }
        routed
    }

    /// Routes a datagram from `from`. A binding request to a known ufrag
    /// whose MESSAGE-INTEGRITY checks out teaches the table that `from`
    /// belongs to that peer.
    pub fn route(&mut self, datagram: &[u8], from: SocketAddr) -> Result<Routed<P>, Unrouted> {
        let by_addr = |d: &Self| {
            d.by_addr.get(&from).map(|peer| Routed {
                peer: *peer,
                consent: false,
            })
        };
        match classify(datagram) {
            PacketClass::Unknown => Err(Unrouted::Unknown),
            PacketClass::Stun => match stun_local_ufrag(datagram) {
                Ok(ufrag) => {
                    let credentials = self.by_ufrag.get(ufrag).ok_or(Unrouted::UnknownUfrag)?;
                    let peer = credentials.peer;
                    let consent = authenticated_request(
                        datagram,
                        &credentials.password,
                        self.crypto.as_ref(),
                    )
                    .ok_or(Unrouted::BadIntegrity)?;
                    self.learn(from, peer);
                    Ok(Routed { peer, consent })
                }
                // Responses and indications carry no USERNAME: they belong to
                // whoever uses that address.
                Err(e) => by_addr(self).ok_or(Unrouted::BadStun(e)),
            },
            PacketClass::Dtls | PacketClass::Rtp | PacketClass::Rtcp => {
                by_addr(self).ok_or(Unrouted::UnknownAddress)
            }
        }
    }
}

#[cfg(test)]
mod tests;
