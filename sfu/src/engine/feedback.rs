//! The RTCP duties the SFU carries for its subscriber legs: answering NACKs
//! from each leg's history (on its RTX stream where it has one), sending each leg's sender reports, and reading
//! the round trip and loss out of the subscribers' report blocks
//! (`crate::egress` holds the per-leg state; this is where it meets the
//! peer connection).

use super::handle::Counters;
use super::peer::{OutTrack, Peer};
use super::send::Outbox;
use super::worker::WritePath;
use crate::egress::history::{Miss, Sent};
use crate::egress::retransmit::Resend;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Keeps what a leg just sent: in its history for NACKs, in its counts for
/// sender reports, and in its resend budget.
pub fn sent(out: &mut OutTrack, sent: Sent, source_ssrc: u32, now_us: u64) {
    let bytes = sent.payload_len();
    out.reports
        .on_sent(sent.timestamp(), bytes, source_ssrc, now_us);
    out.budget.on_forwarded(bytes);
    out.history.record(sent);
}

/// Where and how resends go out.
pub struct Resending<'a> {
    pub now: Instant,
    pub now_us: u64,
    pub path: WritePath,
    pub out: &'a mut Outbox,
}

/// Answers a subscriber's NACK for one of its legs from that leg's
/// history, within the leg's resend bounds; counts what happened.
pub fn answer_nack(
    peer: &mut Peer,
    nack: &TransportLayerNack,
    resend: Resending<'_>,
    counters: &Counters,
) {
    counters.nacks_received.fetch_add(1, Ordering::Relaxed);
    let Resending {
        now,
        now_us,
        path,
        out,
    } = resend;
    let Some(leg) = peer.leg_mut(nack.media_ssrc) else {
        counters.nack_misses.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let rtt = leg.reports.rtt_us();
    let mut again = Vec::new();
    for pair in &nack.nacks {
        for seq in pair.packet_list() {
            let sent = match leg.history.lookup(seq, now_us) {
                Ok(sent) => sent,
                Err(Miss::Unknown | Miss::TooOld) => {
                    counters.nack_misses.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            match leg.budget.decide(sent, rtt, now_us) {
                Resend::Yes => again.push(sent.packet()),
                Resend::TooSoon | Resend::GaveUp | Resend::OverBudget => {
                    counters
                        .retransmissions_suppressed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    // On the leg's repair stream where it negotiated one (RFC 4588).
    let again: Vec<_> = again
        .into_iter()
        .map(|packet| {
            match leg
                .format_of(packet.header.payload_type)
                .and_then(|f| f.rtx)
            {
                Some(stream) => (leg.repairs.repair(&packet, stream), true),
                None => (packet, false),
            }
        })
        .collect();
    for (packet, on_repair_stream) in again {
        if peer.send_rtp(packet, now, path, out, counters).is_ok() {
            counters.retransmissions.fetch_add(1, Ordering::Relaxed);
            if on_repair_stream {
                counters.rtx_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Reads the report blocks a subscriber sent (in its RR, or in its SR when
/// it publishes too) about the peer's legs: round trip and loss.
pub fn read_report_blocks(
    peer: &mut Peer,
    blocks: &[ReceptionReport],
    now_us: u64,
    counters: &Counters,
) {
    for block in blocks {
        let Some(out) = peer.leg_mut(block.ssrc) else {
            continue;
        };
        if let Some(rtt_us) = out.reports.on_receiver_report(
            block.last_sender_report,
            block.delay,
            block.fraction_lost,
            now_us,
        ) {
            counters.rtt.observe(Duration::from_micros(rtt_us));
        }
    }
}

/// Sends the sender reports that are due on the peer's legs.
pub fn send_reports(
    peer: &mut Peer,
    now: Instant,
    now_us: u64,
    wall: SystemTime,
    counters: &Counters,
) {
    let Peer {
        pc,
        slots,
        needs_flush,
        ..
    } = peer;
    for slot in slots.iter_mut() {
        for out in [&mut slot.audio, &mut slot.video] {
            if !out.reports.due(now_us) {
                continue;
            }
            let Some(sr) = out.reports.report(out.ssrc, now_us, wall) else {
                continue;
            };
            let written = pc.handle_write(TaggedRTCMessage {
                now,
                message: RTCMessage::RtcpPacket(String::new(), vec![Box::new(sr)]),
            });
            *needs_flush = true;
            if written.is_ok() {
                counters.sender_reports.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
