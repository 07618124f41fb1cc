//! The estimator against simulated links: a sender that sends what the
//! estimate allows, through a bottleneck (a FIFO drained at the link's
//! rate, tail drop past its buffer, random loss, a one-way delay), and a
//! receiver that reports every 100 ms, as TWCC feedback does.

use super::*;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
    SymbolSizeTypeTcc, SymbolTypeTcc,
};
use std::collections::VecDeque;

const TICK: Duration = Duration::from_millis(5);
const FEEDBACK_EVERY: Duration = Duration::from_millis(100);
const PACKET_BYTES: usize = 1_200;

/// xorshift64: the same trace on every run.
struct Rng(u64);

impl Rng {
    fn percent(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 100) as u32
    }
}

struct Bottleneck {
    capacity_bps: f64,
    /// Most queueing delay the buffer holds before it drops.
    buffer: Duration,
    one_way: Duration,
    loss_percent: u32,
    free_at: Option<Instant>,
    rng: Rng,
}

impl Bottleneck {
    fn new(capacity_bps: f64) -> Self {
        Self {
            capacity_bps,
            buffer: Duration::from_millis(200),
            one_way: Duration::from_millis(20),
            loss_percent: 0,
            free_at: None,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// When a packet sent at `at` arrives, or `None` if it is lost.
    fn carry(&mut self, at: Instant, bytes: usize) -> Option<Instant> {
        let start = self.free_at.map_or(at, |f| f.max(at));
        if start.saturating_duration_since(at) > self.buffer {
            return None;
        }
        let done = start + Duration::from_secs_f64(bytes as f64 * 8.0 / self.capacity_bps);
        self.free_at = Some(done);
        if self.rng.percent() < self.loss_percent {
            return None;
        }
        Some(done + self.one_way)
    }
}

struct InFlight {
    seq: u16,
    arrival: Option<Instant>,
}

struct Call {
    downlink: Downlink,
    link: Bottleneck,
    /// Sends this rate whatever the estimate (an audio-only leg), if set.
    fixed_bps: Option<f64>,
    /// Probes every 100 ms when allowed, as a leg with paused video does.
    probing: bool,
    t0: Instant,
    now: Instant,
    credit_bits: f64,
    flight: VecDeque<InFlight>,
    next_feedback: Instant,
    /// (time since start, estimate) after each feedback.
    trace: Vec<(Duration, u64)>,
    probe_bytes: u64,
}

impl Call {
    fn new(link: Bottleneck) -> Self {
        let t0 = Instant::now();
        Self {
            downlink: Downlink::new(t0),
            link,
            fixed_bps: None,
            probing: false,
            t0,
            now: t0,
            credit_bits: 0.0,
            flight: VecDeque::new(),
            next_feedback: t0 + FEEDBACK_EVERY,
            trace: Vec::new(),
            probe_bytes: 0,
        }
    }

    fn estimate(&self) -> u64 {
        self.downlink
            .estimate_bps()
            .expect("stamping gives an estimate")
    }

    fn run(&mut self, span: Duration) {
        self.downlink.use_extension(3);
        let end = self.now + span;
        while self.now < end {
            self.now += TICK;
            let rate = self.fixed_bps.unwrap_or(self.estimate() as f64);
            self.credit_bits += rate * TICK.as_secs_f64();
            while self.credit_bits >= (PACKET_BYTES * 8) as f64 {
                self.credit_bits -= (PACKET_BYTES * 8) as f64;
                let seq = self.downlink.stamp(PACKET_BYTES - WIRE_OVERHEAD, self.now);
                let arrival = self.link.carry(self.now, PACKET_BYTES);
                self.flight.push_back(InFlight { seq, arrival });
            }
            let mut due = self.downlink.probe_due(self.now);
            while due > 0 {
                let seq = self
                    .downlink
                    .stamp_probe(PACKET_BYTES - WIRE_OVERHEAD, self.now);
                let arrival = self.link.carry(self.now, PACKET_BYTES);
                self.flight.push_back(InFlight { seq, arrival });
                self.probe_bytes += PACKET_BYTES as u64;
                due = due.saturating_sub(PACKET_BYTES as u64);
            }
            if self.now >= self.next_feedback {
                self.next_feedback += FEEDBACK_EVERY;
                if self.probing {
                    // What a paused 60 kbit/s source needs back, with the
                    // audio: 60 × 1.3 + 50 kbit/s.
                    self.downlink.consider_probe(self.now, Some(128_000));
                }
                self.feedback();
                let estimate = self.estimate();
                self.trace.push((self.now - self.t0, estimate));
            }
        }
    }

    /// The receiver reports, as of one one-way delay ago, every packet up
    /// to the newest that had arrived (a gap before it is a loss).
    fn feedback(&mut self) {
        let Some(report_at) = self.now.checked_sub(self.link.one_way) else {
            return;
        };
        let Some(last) = self
            .flight
            .iter()
            .rposition(|p| p.arrival.is_some_and(|a| a <= report_at))
        else {
            return;
        };
        // The receiver's clock: any epoch will do.
        let epoch = Duration::from_secs(1_000);
        let acks: Vec<Acknowledgement> = self
            .flight
            .drain(..=last)
            .map(|p| match p.arrival {
                Some(a) => {
                    Acknowledgement::received(p.seq, Some(epoch + (a - self.t0)), Ecn::NotEct)
                }
                None => Acknowledgement::lost(p.seq),
            })
            .collect();
        let rtt = self.link.one_way * 2;
        self.downlink
            .on_acknowledgements(self.now, &acks, Some(rtt));
    }

    /// The estimates between `from` and `to` after the start.
    fn between(&self, from: Duration, to: Duration) -> Vec<u64> {
        self.trace
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, e)| *e)
            .collect()
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_link_that_falls_to_300_kbits_is_found_within_5_s() {
    let mut call = Call::new(Bottleneck::new(3_000_000.0));
    call.run(secs(20));
    assert!(
        call.estimate() > 2_000_000,
        "{} before the cap",
        call.estimate()
    );
    call.link.capacity_bps = 300_000.0;
    call.run(secs(30));
    let settled = call.between(secs(25), secs(50));
    let (low, high) = (
        *settled.iter().min().expect("samples"),
        *settled.iter().max().expect("samples"),
    );
    assert!(
        low >= 225_000 && high <= 375_000,
        "from 5 s after the cap the estimate stays within ±25 % of 300 kbit/s: {low}..{high}"
    );
}

#[test]
fn spare_capacity_is_taken_up() {
    let mut call = Call::new(Bottleneck::new(5_000_000.0));
    call.run(secs(30));
    let at_5s = call.between(secs(5), secs(5))[0];
    assert!(at_5s >= 1_500_000, "{at_5s} bit/s after 5 s");
    let later = call.between(secs(10), secs(30));
    let low = *later.iter().min().expect("samples");
    assert!(low >= 3_000_000, "fell to {low} bit/s on a 5 Mbit/s link");
}

#[test]
fn ten_percent_random_loss_with_spare_capacity_does_not_collapse() {
    let mut link = Bottleneck::new(5_000_000.0);
    link.loss_percent = 10;
    let mut call = Call::new(link);
    call.run(secs(30));
    let later = call.between(secs(10), secs(30));
    let low = *later.iter().min().expect("samples");
    assert!(
        low >= 2_500_000,
        "fell to {low} bit/s with 10 % random loss"
    );
    let loss = call.downlink.loss().expect("loss measured");
    assert!((0.05..0.15).contains(&loss), "measured loss {loss}");
}

#[test]
fn a_lifted_cap_is_used_again_within_15_s() {
    let mut call = Call::new(Bottleneck::new(300_000.0));
    call.run(secs(20));
    assert!(
        call.estimate() < 400_000,
        "{} under the cap",
        call.estimate()
    );
    call.link.capacity_bps = 5_000_000.0;
    call.run(secs(15));
    // What a high simulcast layer needs with the selector's headroom.
    assert!(
        call.estimate() >= 1_800_000,
        "{} bit/s 15 s after the cap was lifted",
        call.estimate()
    );
}

/// A leg whose video found a 60 kbit/s cap and was paused: the cap is
/// lifted as only its audio goes on. Seconds until the estimate would let
/// the video back (a lowest layer of 60 kbit/s with 30 % headroom, and the
/// audio), with or without probing, and the probe bytes spent.
fn audio_only_leg_after_a_lift(probing: bool) -> (Option<f64>, u64) {
    let mut call = Call::new(Bottleneck::new(60_000.0));
    call.run(secs(20));
    call.link.capacity_bps = 5_000_000.0;
    call.fixed_bps = Some(45_000.0);
    call.probing = probing;
    let lifted = call.now - call.t0;
    call.run(secs(10));
    let back = call
        .trace
        .iter()
        .find(|(at, e)| *at > lifted && *e >= 60_000 * 13 / 10 + 50_000)
        .map(|(at, _)| (*at - lifted).as_secs_f64());
    (back, call.probe_bytes)
}

/// Without probing the estimate stays where the loss bound and the
/// draining queue left it until the audio alone has shown the link is
/// clean for long enough; a probe shows at once that it carries more.
#[test]
fn a_probe_on_an_audio_only_leg_finds_a_lifted_cap_within_3_s() {
    let (without, _) = audio_only_leg_after_a_lift(false);
    let (with, probe_bytes) = audio_only_leg_after_a_lift(true);
    eprintln!(
        "audio-only leg, 60 kbit/s lifted to 5 Mbit/s: the estimate allows the video back after \
         {with:?} s probing ({probe_bytes} probe bytes), {without:?} s without"
    );
    let with = with.expect("probing finds the lifted cap");
    assert!(with <= 3.0, "{with} s with probing");
    assert!(
        without.is_none_or(|w| with < w),
        "probing ({with} s) finds it sooner than the estimator alone ({without:?} s)"
    );
    assert!(probe_bytes > 0, "it probed");
}

#[test]
fn a_policer_that_drops_without_queueing_bounds_the_estimate() {
    let mut link = Bottleneck::new(300_000.0);
    link.buffer = Duration::from_millis(5);
    let mut call = Call::new(link);
    call.run(secs(40));
    let settled = call.between(secs(10), secs(40));
    let mean = settled.iter().sum::<u64>() / settled.len() as u64;
    assert!(
        (200_000..=450_000).contains(&mean),
        "mean estimate {mean} bit/s behind a 300 kbit/s policer"
    );
}

#[test]
fn feedback_is_read_once_and_strangers_are_counted() {
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    let seqs: Vec<u16> = (0..10).map(|_| downlink.stamp(1_000, t0)).collect();
    let acks: Vec<_> = seqs
        .iter()
        .map(|s| {
            Acknowledgement::received(*s, Some(Duration::from_millis(u64::from(*s))), Ecn::NotEct)
        })
        .collect();
    downlink.on_acknowledgements(t0, &acks, None);
    downlink.on_acknowledgements(t0, &acks, None);
    downlink.on_acknowledgements(t0, &[Acknowledgement::lost(5_000)], None);
    let totals = downlink.totals();
    assert_eq!((totals.arrived, totals.lost, totals.unknown), (10, 0, 1));
    assert_eq!(totals.reports, 3);
}

#[test]
fn sequence_numbers_wrap_and_old_ones_are_forgotten() {
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    let mut last = 0;
    for _ in 0..70_000 {
        last = downlink.stamp(100, t0);
    }
    assert_eq!(last, (69_999u32 % 65_536) as u16);
    downlink.on_acknowledgements(t0, &[Acknowledgement::lost(last)], None);
    // Sent RING + 1 packets ago under the same low bits: not this one.
    downlink.on_acknowledgements(
        t0,
        &[Acknowledgement::lost(last.wrapping_sub(RING as u16))],
        None,
    );
    let totals = downlink.totals();
    assert_eq!((totals.lost, totals.unknown), (1, 1));
}

/// A TWCC packet from sequence number 0 reporting `packet_status_count`
/// packets in `packet_chunks`, three of which arrived 1 ms apart.
fn twcc_from_sequence_0(
    packet_status_count: u16,
    packet_chunks: Vec<PacketStatusChunk>,
) -> TransportLayerCc {
    TransportLayerCc {
        sender_ssrc: 1,
        media_ssrc: 2,
        base_sequence_number: 0,
        packet_status_count,
        reference_time: 100,
        fb_pkt_count: 0,
        packet_chunks,
        recv_deltas: (0..3)
            .map(|_| RecvDelta {
                type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
                delta: 1_000,
            })
            .collect(),
    }
}

#[test]
fn a_twcc_packet_is_read() {
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    for _ in 0..5 {
        downlink.stamp(1_000, t0);
    }
    let feedback = twcc_from_sequence_0(
        5,
        vec![
            PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: SymbolTypeTcc::PacketReceivedSmallDelta,
                run_length: 3,
            }),
            PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: SymbolTypeTcc::PacketNotReceived,
                run_length: 2,
            }),
        ],
    );
    downlink.on_feedback(t0, &feedback, None);
    let totals = downlink.totals();
    assert_eq!((totals.arrived, totals.lost), (3, 2));
}

#[test]
fn feedback_starts_at_the_initial_rate_and_remb_speaks_for_itself() {
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    assert_eq!(downlink.estimate_bps(), None);
    downlink.use_extension(5);
    assert_eq!(downlink.estimate_bps(), Some(INITIAL_BPS));
    downlink.on_remb(2_000_000);
    assert_eq!(downlink.estimate_bps(), Some(2_000_000));
    assert_eq!(downlink.feedback_estimate_bps(), Some(INITIAL_BPS));
}

#[test]
fn padding_in_a_status_vector_is_not_loss() {
    let t0 = Instant::now();
    let mut downlink = Downlink::new(t0);
    for _ in 0..20 {
        downlink.stamp(1_000, t0);
    }
    // Four packets reported (received, lost, received, received) in a
    // vector of fourteen one-bit symbols: the other ten are padding, and
    // packets 4–13 were sent but not yet reported on.
    let mut symbols = vec![SymbolTypeTcc::PacketNotReceived; 14];
    for i in [0, 2, 3] {
        symbols[i] = SymbolTypeTcc::PacketReceivedSmallDelta;
    }
    let feedback = twcc_from_sequence_0(
        4,
        vec![PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
            type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
            symbol_size: SymbolSizeTypeTcc::OneBit,
            symbol_list: symbols,
        })],
    );
    downlink.on_feedback(t0, &feedback, None);
    let totals = downlink.totals();
    assert_eq!((totals.arrived, totals.lost), (3, 1));
    // The next report's packets are still read.
    let acks: Vec<_> = (4..10)
        .map(|s| Acknowledgement::received(s, Some(Duration::from_millis(200)), Ecn::NotEct))
        .collect();
    downlink.on_acknowledgements(t0, &acks, None);
    assert_eq!(downlink.totals().arrived, 9);
}
