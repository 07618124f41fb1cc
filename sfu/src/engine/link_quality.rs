//! How each participant's connection fares, from the peer connection's own
//! statistics (RTCP receiver reports, NACKs, retransmissions), sampled once
//! a second per peer and summed into the SFU's counters as deltas, so that
//! the totals survive peers coming and going.

use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};
use std::time::Duration;

/// Counters of one peer connection, monotonic while it lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkTotals {
    /// Packets the publisher sent that never reached the SFU.
    pub lost_in: u64,
    /// NACKs the SFU sent the publisher.
    pub nacks_sent: u64,
    /// NACKs the subscriber sent the SFU.
    pub nacks_received: u64,
    /// Packets the SFU sent again in answer to NACKs.
    pub retransmitted: u64,
}

impl LinkTotals {
    /// What grew since `earlier` (a counter that went down counts 0).
    pub fn since(&self, earlier: &LinkTotals) -> LinkTotals {
        LinkTotals {
            lost_in: self.lost_in.saturating_sub(earlier.lost_in),
            nacks_sent: self.nacks_sent.saturating_sub(earlier.nacks_sent),
            nacks_received: self.nacks_received.saturating_sub(earlier.nacks_received),
            retransmitted: self.retransmitted.saturating_sub(earlier.retransmitted),
        }
    }
}

/// Totals and the latest round-trip time (from RTCP reports, else the ICE
/// pair), if one was measured.
pub fn read(report: &RTCStatsReport) -> (LinkTotals, Option<Duration>) {
    let mut totals = LinkTotals::default();
    let mut rtt_s: Option<f64> = None;
    for entry in report.iter() {
        match entry {
            RTCStatsReportEntry::InboundRtp(s) => {
                totals.lost_in +=
                    u64::try_from(s.received_rtp_stream_stats.packets_lost).unwrap_or(0);
                totals.nacks_sent += u64::from(s.nack_count);
            }
            RTCStatsReportEntry::OutboundRtp(s) => {
                totals.nacks_received += u64::from(s.nack_count);
                totals.retransmitted += s.retransmitted_packets_sent;
            }
            RTCStatsReportEntry::RemoteInboundRtp(s) if s.round_trip_time_measurements > 0 => {
                rtt_s = Some(rtt_s.map_or(s.round_trip_time, |r| r.max(s.round_trip_time)));
            }
            _ => {}
        }
    }
    if rtt_s.is_none() {
        rtt_s = report
            .candidate_pairs()
            .map(|p| p.current_round_trip_time)
            .filter(|r| *r > 0.0)
            .reduce(f64::max);
    }
    let rtt = rtt_s
        .filter(|r| r.is_finite() && *r >= 0.0)
        .map(Duration::from_secs_f64);
    (totals, rtt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_never_go_negative() {
        let earlier = LinkTotals {
            lost_in: 5,
            nacks_sent: 2,
            nacks_received: 9,
            retransmitted: 4,
        };
        let now = LinkTotals {
            lost_in: 7,
            nacks_sent: 2,
            nacks_received: 3,
            retransmitted: 10,
        };
        assert_eq!(
            now.since(&earlier),
            LinkTotals {
                lost_in: 2,
                nacks_sent: 0,
                nacks_received: 0,
                retransmitted: 6
            }
        );
    }
}
