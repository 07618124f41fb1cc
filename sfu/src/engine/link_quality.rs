//! How each publisher's connection to the SFU fares, from the SFU's own
//! receive side (`crate::ingress`: which packets arrived, and the NACKs
//! sent for the rest), sampled once a second per peer and summed into the
//! SFU's counters as deltas, so that the totals survive peers coming and
//! going; each peer also keeps its last second's uplink rate and loss
//! ([`Uplink`]) for the connections view. The subscriber side (NACKs
//! received, resends, round trip) is the SFU's own too
//! (`engine::feedback`).

/// Counters of one peer connection, monotonic while it lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkTotals {
    /// Packets the publisher sent that never reached the SFU.
    pub lost_in: u64,
    /// NACKs the SFU sent the publisher.
    pub nacks_sent: u64,
    /// RTP packets and payload bytes received from the publisher.
    pub packets_in: u64,
    pub bytes_in: u64,
}

impl LinkTotals {
    /// What `peer` has taken from its publisher so far.
    pub fn of(peer: &super::peer::Peer) -> LinkTotals {
        LinkTotals {
            lost_in: peer.uplink_feedback.lost(),
            nacks_sent: peer.uplink_feedback.nacks(),
            packets_in: peer.received.0,
            bytes_in: peer.received.1,
        }
    }

    /// What grew since `earlier` (a counter that went down counts 0).
    pub fn since(&self, earlier: &LinkTotals) -> LinkTotals {
        LinkTotals {
            lost_in: self.lost_in.saturating_sub(earlier.lost_in),
            nacks_sent: self.nacks_sent.saturating_sub(earlier.nacks_sent),
            packets_in: self.packets_in.saturating_sub(earlier.packets_in),
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
        }
    }
}

/// What a publisher's uplink carried between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uplink {
    /// Payload bits per second received from it.
    pub bps: u64,
    /// Share of its packets that never arrived, in tenths of a per cent.
    pub loss_permille: u16,
}

impl Uplink {
    /// From what grew over `elapsed_us` µs.
    pub fn of(grew: &LinkTotals, elapsed_us: u64) -> Self {
        let expected = grew.packets_in + grew.lost_in;
        Self {
            bps: (grew.bytes_in * 8 * 1_000_000)
                .checked_div(elapsed_us)
                .unwrap_or(0),
            loss_permille: u16::try_from((grew.lost_in * 1_000).checked_div(expected).unwrap_or(0))
                .unwrap_or(1_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_never_go_negative() {
        let earlier = LinkTotals {
            lost_in: 5,
            nacks_sent: 2,
            packets_in: 10,
            bytes_in: 1_000,
        };
        let now = LinkTotals {
            lost_in: 7,
            nacks_sent: 1,
            packets_in: 110,
            bytes_in: 100_000,
        };
        assert_eq!(
            now.since(&earlier),
            LinkTotals {
                lost_in: 2,
                nacks_sent: 0,
                packets_in: 100,
                bytes_in: 99_000,
            }
        );
    }

    #[test]
    fn an_uplink_sample_gives_rate_and_loss() {
        let grew = LinkTotals {
            lost_in: 2,
            nacks_sent: 0,
            packets_in: 98,
            bytes_in: 125_000,
        };
        let uplink = Uplink::of(&grew, 1_000_000);
        assert_eq!(uplink.bps, 1_000_000);
        assert_eq!(uplink.loss_permille, 20);
        assert_eq!(Uplink::of(&LinkTotals::default(), 0), Uplink::default());
    }
}
