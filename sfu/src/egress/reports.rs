//! Sender reports for one leg (RFC 3550 §6.4.1), and the round trip the
//! subscriber's receiver reports give back.
//!
//! A subscriber lines up audio and video by the NTP ↔ RTP mapping of each
//! stream's sender reports: without them browsers lose lip sync. The SFU
//! numbers each leg itself (`engine::continuity`), so it reports each leg
//! itself, about once a second. The mapping comes from the publisher's own
//! sender report when one has arrived for the source the leg now carries
//! (translated into the leg's numbering, so what the publisher had in sync
//! stays in sync), else from the last packet sent plus the time since.
//!
//! The round trip: a receiver report block names the SR it last got (LSR,
//! the middle 32 bits of that SR's NTP time) and how long it held it
//! (DLSR, 1/65536 s); RTT = now − (when that SR was sent) − DLSR.
//!
//! Pure: instants (µs on the worker's clock) and the wall clock (for the
//! NTP field) are handed in.

use rtc::rtcp::sender_report::SenderReport;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time between two sender reports of a leg, µs.
pub const REPORT_INTERVAL_US: u64 = 1_000_000;
/// Sender reports remembered for matching receiver reports.
const REMEMBERED: usize = 8;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A wall-clock instant as a 64-bit NTP timestamp (RFC 3550 §4).
pub fn ntp(wall: SystemTime) -> u64 {
    let since = wall.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Where the leg's RTP clock stood at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    rtp: u32,
    at_us: u64,
    /// The source SSRC it was read from (from its sender report), or `None`
    /// when it is the last packet sent.
    source: Option<u32>,
}

/// One leg's reporting state.
#[derive(Debug, Clone)]
pub struct LegReports {
    clock_rate: u32,
    packets: u32,
    octets: u32,
    /// The current source, and the anchor from its sender report.
    source: Option<u32>,
    from_report: Option<Anchor>,
    last_sent: Option<Anchor>,
    next_report_us: u64,
    /// `(middle 32 bits of the NTP time, µs sent)` of recent reports.
    sent: VecDeque<(u32, u64)>,
    rtt_us: Option<u64>,
    /// When `rtt_us` was measured, µs.
    rtt_at_us: u64,
    /// The last fraction lost the receiver reported (0–255 = 0–100 %).
    fraction_lost: Option<u8>,
}

impl LegReports {
    /// A leg whose RTP clock runs at `clock_rate` Hz, first reporting
    /// after `first_report_us`.
    pub fn new(clock_rate: u32, first_report_us: u64) -> Self {
        Self {
            clock_rate,
            packets: 0,
            octets: 0,
            source: None,
            from_report: None,
            last_sent: None,
            next_report_us: first_report_us,
            sent: VecDeque::with_capacity(REMEMBERED),
            rtt_us: None,
            rtt_at_us: 0,
            fraction_lost: None,
        }
    }

    /// A packet of `payload_len` bytes with leg timestamp `rtp`, carrying
    /// source `source_ssrc`, went out at `now_us`.
    pub fn on_sent(&mut self, rtp: u32, payload_len: usize, source_ssrc: u32, now_us: u64) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self
            .octets
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
        if self.source != Some(source_ssrc) {
            self.source = Some(source_ssrc);
            self.from_report = None;
        }
        self.last_sent = Some(Anchor {
            rtp,
            at_us: now_us,
            source: None,
        });
    }

    /// The publisher reported that source `source_ssrc` stood at
    /// `leg_rtp` (its RTP time in the leg's numbering) when its report
    /// arrived at `now_us`.
    pub fn on_source_report(&mut self, source_ssrc: u32, leg_rtp: u32, now_us: u64) {
        if self.source == Some(source_ssrc) {
            self.from_report = Some(Anchor {
                rtp: leg_rtp,
                at_us: now_us,
                source: Some(source_ssrc),
            });
        }
    }

    /// Whether a report is due at `now_us` (and something was sent).
    pub fn due(&self, now_us: u64) -> bool {
        self.packets > 0 && now_us >= self.next_report_us
    }

    /// The sender report for `ssrc` at `now_us` / `wall`; remembers it for
    /// the round trip and schedules the next one.
    pub fn report(&mut self, ssrc: u32, now_us: u64, wall: SystemTime) -> Option<SenderReport> {
        let anchor = self.from_report.or(self.last_sent)?;
        let elapsed_us = now_us.saturating_sub(anchor.at_us);
        let ticks = elapsed_us.saturating_mul(u64::from(self.clock_rate)) / 1_000_000;
        let rtp_time = anchor.rtp.wrapping_add(ticks as u32);
        let ntp_time = ntp(wall);
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back(((ntp_time >> 16) as u32, now_us));
        self.next_report_us = now_us + REPORT_INTERVAL_US;
        Some(SenderReport {
            ssrc,
            ntp_time,
            rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            ..Default::default()
        })
    }

    /// A receiver report block for this leg arrived at `now_us`; returns
    /// the round trip it measures, if it names a report we sent.
    pub fn on_receiver_report(
        &mut self,
        last_sr: u32,
        delay_since_last_sr: u32,
        fraction_lost: u8,
        now_us: u64,
    ) -> Option<u64> {
        self.fraction_lost = Some(fraction_lost);
        let &(_, sent_us) = self.sent.iter().rev().find(|(mid, _)| *mid == last_sr)?;
        let held_us = u64::from(delay_since_last_sr) * 1_000_000 / 65_536;
        let rtt = now_us.checked_sub(sent_us)?.checked_sub(held_us)?;
        self.rtt_us = Some(rtt);
        self.rtt_at_us = now_us;
        Some(rtt)
    }

    /// The last measured round trip, µs.
    pub fn rtt_us(&self) -> Option<u64> {
        self.rtt_us
    }

    /// The last measured round trip and when it was measured, µs.
    pub fn rtt_with_time(&self) -> Option<(u64, u64)> {
        self.rtt_us.map(|rtt| (rtt, self.rtt_at_us))
    }

    /// The last fraction of packets the receiver reported lost (0–255).
    pub fn fraction_lost(&self) -> Option<u8> {
        self.fraction_lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: u64 = 1_900_000_000;

    fn wall(us: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(WALL) + Duration::from_micros(us)
    }

    #[test]
    fn ntp_counts_from_1900_with_a_binary_fraction() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(ntp(t) >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp(t) & 0xffff_ffff, 1 << 31);
    }

    #[test]
    fn reports_follow_the_last_packet_until_the_publisher_reports() {
        let mut r = LegReports::new(90_000, 1_000_000);
        assert!(!r.due(2_000_000), "nothing sent, nothing to report");
        r.on_sent(3_000, 1_000, 7, 100_000);
        r.on_sent(6_000, 800, 7, 133_000);
        assert!(!r.due(999_999));
        assert!(r.due(1_000_000));
        let sr = r.report(42, 1_133_000, wall(1_133_000)).unwrap();
        // One second after the last packet: 90 000 ticks on.
        assert_eq!(sr.rtp_time, 96_000);
        assert_eq!((sr.packet_count, sr.octet_count, sr.ssrc), (2, 1_800, 42));
        assert!(!r.due(1_500_000), "next one a second later");
        // The publisher's report now anchors the clock, whatever the
        // jitter of the last packet's send time.
        r.on_source_report(7, 100_000, 1_200_000);
        r.on_sent(99_000, 800, 7, 1_300_000);
        let sr = r.report(42, 2_200_000, wall(2_200_000)).unwrap();
        assert_eq!(sr.rtp_time, 100_000 + 90_000);
    }

    #[test]
    fn a_new_source_drops_the_old_sources_anchor() {
        let mut r = LegReports::new(48_000, 0);
        r.on_sent(0, 100, 7, 0);
        r.on_source_report(7, 1_000_000, 0);
        r.on_sent(50_000, 100, 9, 500_000);
        let sr = r.report(1, 1_000_000, wall(0)).unwrap();
        assert_eq!(sr.rtp_time, 50_000 + 24_000, "from the new source's packet");
        // A report about a source the leg does not carry is ignored.
        r.on_source_report(7, 5, 1_000_000);
        let sr = r.report(1, 2_000_000, wall(0)).unwrap();
        assert_eq!(sr.rtp_time, 50_000 + 72_000);
    }

    #[test]
    fn the_round_trip_comes_from_the_report_it_names() {
        let mut r = LegReports::new(48_000, 0);
        r.on_sent(0, 100, 7, 0);
        let sr = r.report(1, 1_000_000, wall(1_000_000)).unwrap();
        let lsr = (sr.ntp_time >> 16) as u32;
        // Held 250 ms by the receiver (16 384 / 65 536 s), back 330 ms later.
        assert_eq!(
            r.on_receiver_report(lsr, 16_384, 12, 1_330_000),
            Some(80_000)
        );
        assert_eq!(r.rtt_us(), Some(80_000));
        assert_eq!(r.fraction_lost(), Some(12));
        assert_eq!(
            r.on_receiver_report(lsr ^ 1, 0, 0, 1_400_000),
            None,
            "unknown SR"
        );
        assert_eq!(r.on_receiver_report(0, 0, 0, 1_400_000), None, "no SR yet");
        assert_eq!(r.rtt_us(), Some(80_000), "kept");
    }
}
