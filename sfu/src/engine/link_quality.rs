//! How each publisher's connection to the SFU fares, from the peer
//! connection's own statistics (its NACK generator and receive counters),
//! sampled once a second per peer and summed into the SFU's counters as
//! deltas, so that the totals survive peers coming and going. The
//! subscriber side (NACKs received, resends, round trip) is the SFU's own
//! (`engine::feedback`): rtc 0.21 reports no round trip from receiver
//! reports and keeps no counters for packets written straight to the
//! connection.

use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};

/// Counters of one peer connection, monotonic while it lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkTotals {
    /// Packets the publisher sent that never reached the SFU.
    pub lost_in: u64,
    /// NACKs the SFU sent the publisher.
    pub nacks_sent: u64,
}

impl LinkTotals {
    /// What grew since `earlier` (a counter that went down counts 0).
    pub fn since(&self, earlier: &LinkTotals) -> LinkTotals {
        LinkTotals {
            lost_in: self.lost_in.saturating_sub(earlier.lost_in),
            nacks_sent: self.nacks_sent.saturating_sub(earlier.nacks_sent),
        }
    }
}

/// The incoming totals of one peer connection.
pub fn read(report: &RTCStatsReport) -> LinkTotals {
    let mut totals = LinkTotals::default();
    for entry in report.iter() {
        if let RTCStatsReportEntry::InboundRtp(s) = entry {
            totals.lost_in += u64::try_from(s.received_rtp_stream_stats.packets_lost).unwrap_or(0);
            totals.nacks_sent += u64::from(s.nack_count);
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_never_go_negative() {
        let earlier = LinkTotals {
            lost_in: 5,
            nacks_sent: 2,
        };
        let now = LinkTotals {
            lost_in: 7,
            nacks_sent: 1,
        };
        assert_eq!(
            now.since(&earlier),
            LinkTotals {
                lost_in: 2,
                nacks_sent: 0,
            }
        );
    }
}
