//! How much one subscriber's downlink carries, estimated by the SFU from
//! the subscriber's transport-wide congestion-control feedback (TWCC,
//! draft-holmer-rmcat-transport-wide-cc-extensions-01): send-side
//! estimation as GCC describes it (draft-ietf-rmcat-gcc-02), with REMB as a
//! further input where a browser sends one.
//!
//! - Every RTP packet to the peer connection carries a transport-wide
//!   sequence number ([`Downlink::stamp`]); its send time and size are kept
//!   in a ring of [`RING`] packets.
//! - Feedback ([`Downlink::on_feedback`]) joins what arrived, and when on
//!   the subscriber's clock, with what was sent.
//! - Delay: rtc's arrival groups ([`ArrivalGroupAccumulator`]), the
//!   [`trendline`] of their delay gradients and the [`overuse`] detector
//!   read whether a queue grows on the path; the received rate is rtc's
//!   sliding window ([`RateCalculator`]) over the arrival times. [`aimd`]
//!   turns those into a rate.
//! - Loss: [`loss_bound`] caps the rate on a link that drops without
//!   queueing.
//! - [`probe`]: before a leg whose video is paused for want of bandwidth is
//!   given it back, a short cluster sent above the estimate shows whether
//!   the link now carries more; if it does, the rate rises to what it
//!   delivered.
//! - The estimate is the lesser of the delay-based rate and the loss bound;
//!   a subscriber that sends REMB states its own receive estimate, and that
//!   is taken as it is (browsers that negotiate transport-cc send none).
//!
//! rtc 0.21's whole `Gcc` estimator was weighed and left: its delay filter
//! does not see a link loaded 10 % over its rate (see [`trendline`]), its
//! detector's threshold stays high for tens of seconds after one burst of
//! queueing (see [`overuse`]), its rate control climbs back from a decrease at 12 kbit/s per 200 ms with
//! no link capacity reset (see [`aimd`]), and its loss thresholds fall at
//! the 10 % random loss of weak Wi-Fi (see [`loss_bound`]). Its parts that
//! fit are used as they are. No other maintained Rust crate estimates from
//! TWCC feedback outside its own WebRTC stack.
//!
//! Pure: instants are handed in. Rates in bits per second, sizes in bytes.

pub mod aimd;
pub mod loss_bound;
pub mod overuse;
pub mod probe;
pub mod trendline;

#[cfg(test)]
mod tests;

use aimd::Aimd;
use loss_bound::LossBound;
use overuse::OveruseDetector;
use probe::{ProbeOutcome, ProbeTotals, Prober};
use rtc::interceptor::{
    Acknowledgement, ArrivalGroupAccumulator, PacketReport, RateCalculator, Usage, convert_twcc,
};
use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use std::time::{Duration, Instant};
use trendline::Trendline;

/// Packets remembered for matching feedback (a power of two dividing
/// 65 536): 10 s at 200 packets a second, while feedback comes every
/// 50–100 ms.
pub const RING: usize = 2048;
/// The estimate before any feedback (libwebrtc's start rate).
pub const INITIAL_BPS: u64 = 300_000;
/// The estimate never falls below this: a leg's audio with its overhead.
pub const MIN_BPS: u64 = 30_000;
/// Nor rises above this.
pub const MAX_BPS: u64 = 20_000_000;
/// Bytes of sequence numbers cut from one allocation.
const SCRATCH_BYTES: usize = 4096;
/// What RTP's SRTP tag and the IP and UDP headers add to each packet, bytes.
pub const WIRE_OVERHEAD: usize = 16 + 28;

#[derive(Debug, Clone, Copy)]
struct Sent {
    /// The packet's place in the leg's send order (its sequence number is
    /// the low 16 bits).
    id: u64,
    /// µs after the downlink's epoch.
    at_us: u64,
    /// Bytes on the wire.
    size: u32,
}

/// What the feedback has said about one downlink, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedbackTotals {
    /// Feedback packets read.
    pub reports: u64,
    /// Packets they said arrived.
    pub arrived: u64,
    /// Packets they said were lost.
    pub lost: u64,
    /// Packets they named that this downlink no longer (or never) knew.
    pub unknown: u64,
}

/// One subscriber's downlink: the transport-wide numbering of what it is
/// sent, and the estimate of what it can carry.
#[derive(Debug)]
pub struct Downlink {
    epoch: Instant,
    next_id: u64,
    ring: Box<[Option<Sent>]>,
    /// Every id below this has had its fate read (feedback is not counted
    /// twice).
    settled_below: u64,
    groups: ArrivalGroupAccumulator,
    trend: Trendline,
    detector: OveruseDetector,
    usage: Usage,
    received: RateCalculator,
    /// The latest arrival seen, on the subscriber's clock.
    latest_arrival: Option<Duration>,
    aimd: Aimd,
    loss: LossBound,
    remb_bps: Option<u64>,
    /// The transport-wide sequence number's header extension id on this
    /// connection, once read from what it negotiated.
    extension_id: Option<u8>,
    /// Whether transport-wide feedback has been read.
    has_feedback: bool,
    /// Where the numbers written into packets are cut from.
    scratch: bytes::BytesMut,
    totals: FeedbackTotals,
    prober: Prober,
}

impl Downlink {
    pub fn new(now: Instant) -> Self {
        Self {
            epoch: now,
            next_id: 0,
            ring: vec![None; RING].into_boxed_slice(),
            settled_below: 0,
            groups: ArrivalGroupAccumulator::default(),
            trend: Trendline::default(),
            detector: OveruseDetector::default(),
            usage: Usage::Normal,
            received: RateCalculator::default(),
            latest_arrival: None,
            aimd: Aimd::new(INITIAL_BPS as f64, MIN_BPS as f64, MAX_BPS as f64),
            loss: LossBound::default(),
            remb_bps: None,
            extension_id: None,
            has_feedback: false,
            scratch: bytes::BytesMut::new(),
            totals: FeedbackTotals::default(),
            prober: Prober::default(),
        }
    }

    /// The connection negotiated transport-wide sequence numbers under
    /// header extension `id`: its packets are stamped from now on.
    pub fn use_extension(&mut self, id: u8) {
        self.extension_id = Some(id);
    }

    /// The header extension id to stamp packets with, if negotiated.
    pub fn extension_id(&self) -> Option<u8> {
        self.extension_id
    }

    /// Like [`Downlink::stamp`], with the number as the extension's two
    /// bytes, cut from a shared buffer (no allocation per packet).
    pub fn stamp_extension(&mut self, size: usize, now: Instant) -> bytes::Bytes {
        let seq = self.stamp(size, now);
        if self.scratch.capacity() < 2 {
            self.scratch.reserve(SCRATCH_BYTES);
        }
        self.scratch.extend_from_slice(&seq.to_be_bytes());
        self.scratch.split().freeze()
    }

    /// Numbers a packet of `size` bytes (as marshalled, before SRTP) that
    /// leaves at `now`: the transport-wide sequence number to write in it.
    pub fn stamp(&mut self, size: usize, now: Instant) -> u16 {
        let id = self.next_id;
        self.next_id += 1;
        let at_us = u64::try_from(now.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX);
        self.ring[usize::from(id as u16) % RING] = Some(Sent {
            id,
            at_us,
            size: u32::try_from(size + WIRE_OVERHEAD).unwrap_or(u32::MAX),
        });
        id as u16
    }

    /// Like [`Downlink::stamp`], for a packet of the probe cluster being
    /// sent ([`Downlink::probe_due`]).
    pub fn stamp_probe(&mut self, size: usize, now: Instant) -> u16 {
        let id = self.next_id;
        let seq = self.stamp(size, now);
        self.prober.on_sent(id, size + WIRE_OVERHEAD);
        seq
    }

    /// Starts a probe cluster at `now` if the leg wants more than its
    /// estimate (`wanted_bps`: what its paused video would be given back
    /// with), the estimate comes from this downlink's own feedback, the
    /// delay signal does not read a growing queue and the last cluster is
    /// paid for
    /// ([`probe`]). True if one started.
    pub fn consider_probe(&mut self, now: Instant, wanted_bps: Option<u64>) -> bool {
        self.conclude_probe(now);
        let Some(estimate) = self
            .feedback_estimate_bps()
            .filter(|_| self.remb_bps.is_none())
        else {
            return false;
        };
        // Not while a queue grows (a draining one is spare capacity).
        let clear = self.has_feedback && self.usage != Usage::Over;
        self.prober.consider(now, estimate, wanted_bps, clear)
    }

    /// The rate the last probe cluster showed the link delivers, once, if
    /// it delivered more than the estimate.
    pub fn take_probe_delivered(&mut self) -> Option<u64> {
        self.prober.take_delivered()
    }

    /// Bytes of the probe cluster due by `now` and not yet sent (0 when
    /// none is being sent).
    pub fn probe_due(&mut self, now: Instant) -> u64 {
        self.prober.due_bytes(now)
    }

    /// Whether a probe cluster is being sent.
    pub fn probing(&self) -> bool {
        self.prober.sending()
    }

    pub fn probe_totals(&self) -> ProbeTotals {
        self.prober.totals()
    }

    /// Takes the probe's outcome once its feedback is in: a link that
    /// delivered more than the estimate lifts it.
    fn conclude_probe(&mut self, now: Instant) {
        if let Some(ProbeOutcome::Delivered(bps)) = self.prober.take_outcome(now) {
            self.aimd.raise_to(bps as f64);
            self.loss.on_probe(bps as f64);
        }
    }

    /// Reads one TWCC feedback packet received at `now`; `rtt` is the leg's
    /// round trip, if measured.
    pub fn on_feedback(
        &mut self,
        now: Instant,
        feedback: &TransportLayerCc,
        rtt: Option<Duration>,
    ) {
        let mut acks = convert_twcc(feedback);
        // A status vector chunk always holds 7 or 14 symbols; those past
        // the packet status count are padding, not losses (rtc 0.21's
        // conversion reads them as "not received").
        acks.truncate(usize::from(feedback.packet_status_count));
        self.on_acknowledgements(now, &acks, rtt);
    }

    /// Reads what one feedback report said, packet by packet in its order.
    pub fn on_acknowledgements(
        &mut self,
        now: Instant,
        acks: &[Acknowledgement],
        rtt: Option<Duration>,
    ) {
        self.totals.reports += 1;
        self.has_feedback = true;
        let (mut lost, mut total) = (0usize, 0usize);
        let mut newest = None;
        for ack in acks {
            let Some(sent) = self.lookup(ack.sequence_number) else {
                self.totals.unknown += 1;
                continue;
            };
            if sent.id < self.settled_below {
                continue;
            }
            newest = Some(newest.map_or(sent.id, |n: u64| n.max(sent.id)));
            total += 1;
            self.prober.on_ack(
                sent.id,
                u64::from(sent.size),
                sent.at_us,
                ack.arrival
                    .filter(|_| ack.arrived)
                    .map(|a| u64::try_from(a.as_micros()).unwrap_or(u64::MAX)),
            );
            if !ack.arrived {
                lost += 1;
                continue;
            }
            let Some(arrival) = ack.arrival else {
                continue;
            };
            self.received.add(self.epoch + arrival, sent.size as usize);
            self.latest_arrival = Some(self.latest_arrival.map_or(arrival, |a| a.max(arrival)));
            let report = PacketReport {
                ssrc: 0,
                id: sent.id,
                rtp_sequence_number: 0,
                is_twcc: true,
                twcc_sequence_number: ack.sequence_number,
                size: sent.size as usize,
                arrived: true,
                departure: self.epoch + Duration::from_micros(sent.at_us),
                arrival: Some(arrival),
                ecn: Ecn::NotEct,
            };
            if let Some(delay) = self.groups.accumulate(&report) {
                let at_ms = delay.at.saturating_duration_since(self.epoch).as_secs_f64() * 1e3;
                if let Some(trend) = self.trend.update(delay.delta_ms, at_ms) {
                    self.usage = self.detector.update(trend, at_ms);
                }
            }
        }
        if let Some(newest) = newest {
            self.settled_below = self.settled_below.max(newest + 1);
        }
        self.totals.lost += lost as u64;
        self.totals.arrived += (total - lost) as u64;
        let received = self
            .latest_arrival
            .and_then(|a| self.received.rate_bits_per_second(self.epoch + a));
        let decreased_before = self.aimd.last_decrease();
        let rate = self.aimd.update(now, self.usage, received, rtt);
        if self.aimd.last_decrease() != decreased_before {
            self.prober.on_decrease(now);
        }
        self.loss.update(now, lost, total, rate, received);
        self.conclude_probe(now);
    }

    /// The subscriber's own receive estimate (REMB), bits per second.
    pub fn on_remb(&mut self, bps: u64) {
        self.remb_bps = Some(bps);
    }

    /// What the downlink is estimated to carry, bits per second: the
    /// subscriber's REMB if it sends one, else the estimate from its
    /// transport-wide feedback; `None` when neither exists.
    pub fn estimate_bps(&self) -> Option<u64> {
        self.remb_bps.or_else(|| self.feedback_estimate_bps())
    }

    /// The estimate from transport-wide feedback alone (from
    /// [`INITIAL_BPS`] until the first feedback), if negotiated.
    pub fn feedback_estimate_bps(&self) -> Option<u64> {
        (self.extension_id.is_some() || self.has_feedback).then(|| {
            let rate = self.aimd.target_bps();
            let bounded = self.loss.bound_bps().map_or(rate, |b| b.min(rate));
            (bounded as u64).max(MIN_BPS)
        })
    }

    /// Whether the feedback has shown the link's limit yet (a queue grew,
    /// or loss bound the rate): until then the estimate is still climbing
    /// from its start and says nothing about what does not fit.
    pub fn found_limit(&self) -> bool {
        self.aimd.has_decreased() || self.loss.bound_bps().is_some()
    }

    /// The subscriber's last REMB, bits per second.
    pub fn remb_bps(&self) -> Option<u64> {
        self.remb_bps
    }

    /// What the delay signal reads now.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The smoothed loss fraction the feedback reports (0–1).
    pub fn loss(&self) -> Option<f64> {
        self.loss.average_loss()
    }

    pub fn totals(&self) -> FeedbackTotals {
        self.totals
    }

    fn lookup(&self, seq: u16) -> Option<Sent> {
        let sent = self.ring[usize::from(seq) % RING]?;
        (sent.id as u16 == seq && self.next_id - sent.id <= RING as u64).then_some(sent)
    }
}
