//! How one RTP packet leaves for a subscriber: sealed by the SFU and queued
//! for the worker's `sendmmsg` batch, or written into the peer connection
//! (see `crate::egress::sealing` for when and why).

use super::handle::Counters;
use super::peer::Peer;
use super::worker::WritePath;
use crate::egress::sealing::{Sealer, Sealing, is_rtp_of};
use bytes::BytesMut;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::sansio::Protocol;
use rtc::shared::TransportProtocol;
use rtc::shared::marshal::MarshalSize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What the transport-wide sequence number adds to a packet whose header
/// has no other extension (the one-byte header: 4 bytes of extension
/// header, 1 of id and length, 2 of number, 1 of padding), bytes.
const TRANSPORT_CC_EXTENSION_BYTES: usize = 8;

/// Datagrams produced in one turn, sent together at its end.
#[derive(Debug, Default)]
pub struct Outbox {
    pub udp: Vec<(SocketAddr, BytesMut)>,
    /// For ICE-TCP connections (framed by `ice_tcp`).
    pub tcp: Vec<(SocketAddr, BytesMut)>,
}

impl Outbox {
    fn push(&mut self, protocol: TransportProtocol, to: SocketAddr, datagram: BytesMut) {
        if protocol == TransportProtocol::TCP {
            self.tcp.push((to, datagram));
        } else {
            self.udp.push((to, datagram));
        }
    }
}

/// Why a packet did not leave.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the peer connection refused the packet: {0}")]
    Connection(String),
    #[error("{0}")]
    Seal(#[from] crate::egress::sealing::SealError),
    #[error("the peer's media path is not known yet")]
    NoRoute,
}

impl Peer {
    /// Moves everything the peer connection has to send into `out`, and
    /// remembers where its media goes (any datagram but STUN, which answers
    /// whichever address a check came from, follows the selected pair).
    pub fn collect_writes(&mut self, out: &mut Outbox) {
        while let Some(w) = self.pc.poll_write() {
            let (to, protocol) = (w.transport.peer_addr, w.transport.transport_protocol);
            if w.message.first().is_some_and(|b| *b > 3) {
                self.route = Some((to, protocol));
            }
            out.push(protocol, to, w.message);
        }
    }

    /// Sends one RTP packet on one of this peer's legs. On the sealed path a
    /// connection's first packet goes through rtc and proves (or disproves)
    /// the captured key; see `crate::egress::sealing`.
    pub fn send_rtp(
        &mut self,
        mut packet: rtc::rtp::Packet,
        now: Instant,
        path: WritePath,
        out: &mut Outbox,
        counters: &Counters,
    ) -> Result<(), SendError> {
        self.number_for_feedback(&mut packet, now, false);
        self.send_numbered(packet, now, path, out, counters)
    }

    /// Like [`Peer::send_rtp`], for a packet of the downlink's probe
    /// cluster (numbered as one, so its feedback measures the probe).
    pub fn send_probe(
        &mut self,
        mut packet: rtc::rtp::Packet,
        now: Instant,
        path: WritePath,
        out: &mut Outbox,
        counters: &Counters,
    ) -> Result<(), SendError> {
        self.number_for_feedback(&mut packet, now, true);
        self.send_numbered(packet, now, path, out, counters)
    }

    fn send_numbered(
        &mut self,
        packet: rtc::rtp::Packet,
        now: Instant,
        path: WritePath,
        out: &mut Outbox,
        counters: &Counters,
    ) -> Result<(), SendError> {
        if path == WritePath::Sealed {
            if let Sealing::Sealed { keys, .. } = &self.sealing
                && *keys != self.keys.calls()
            {
                // The connection derived new keys: prove again.
                self.sealing = Sealing::Untried;
            }
            match &mut self.sealing {
                Sealing::Sealed { sealer, .. } => {
                    let (to, protocol) = self.route.ok_or(SendError::NoRoute)?;
                    let datagram = sealer.seal(&packet)?;
                    out.push(protocol, to, datagram);
                    counters.sealed_packets.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Sealing::Untried => return self.prove_with(packet, now, out, counters),
                Sealing::Unavailable => {}
            }
        }
        self.write_through_connection(packet, now)
    }

    /// Writes the next transport-wide sequence number into `packet` when
    /// the peer negotiated transport-cc (a resend gets a new one: the
    /// feedback is about each packet on the wire); `probe`: the packet
    /// belongs to the probe cluster being sent.
    pub fn number_for_feedback(
        &mut self,
        packet: &mut rtc::rtp::Packet,
        now: Instant,
        probe: bool,
    ) {
        let Some(id) = self.downlink.extension_id() else {
            return;
        };
        let size =
            packet.header.marshal_size() + packet.payload.len() + TRANSPORT_CC_EXTENSION_BYTES;
        let seq = if probe {
            self.downlink.stamp_probe(size, now)
        } else {
            self.downlink.stamp(size, now)
        };
        // Only an id outside 1–255 fails, and the negotiated id is inside.
        let _ = packet
            .header
            .set_extension(id, bytes::Bytes::copy_from_slice(&seq.to_be_bytes()));
    }

    fn write_through_connection(
        &mut self,
        packet: rtc::rtp::Packet,
        now: Instant,
    ) -> Result<(), SendError> {
        self.touch();
        self.pc
            .handle_write(TaggedRTCMessage {
                now,
                message: RTCMessage::RtpPacket(String::new(), packet),
            })
            .map_err(|e| SendError::Connection(e.to_string()))
    }

    /// Writes `packet` through rtc, finds the datagram rtc made of it, and
    /// seals from now on if a captured key reproduces it exactly.
    fn prove_with(
        &mut self,
        packet: rtc::rtp::Packet,
        now: Instant,
        out: &mut Outbox,
        counters: &Counters,
    ) -> Result<(), SendError> {
        let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
        self.write_through_connection(packet.clone(), now)?;
        let from = out.udp.len();
        let from_tcp = out.tcp.len();
        self.collect_writes(out);
        let reference = out.udp[from..]
            .iter()
            .chain(&out.tcp[from_tcp..])
            .find(|(_, d)| is_rtp_of(d, ssrc, seq))
            .map(|(_, d)| d.clone());
        // Not sent yet (ICE or DTLS not ready): try again with a later one.
        let Some(reference) = reference else {
            return Ok(());
        };
        let (candidates, key_calls) = self.keys.candidates();
        self.sealing = match Sealer::prove(&candidates, &packet, &reference) {
            Some(sealer) => {
                counters.sealing_proven.fetch_add(1, Ordering::Relaxed);
                Sealing::Sealed {
                    sealer: Box::new(sealer),
                    keys: key_calls,
                }
            }
            None => {
                counters.sealing_fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    member = self.member,
                    "no captured SRTP key reproduces rtc's packet; this connection stays on rtc's write path"
                );
                Sealing::Unavailable
            }
        };
        Ok(())
    }
}
