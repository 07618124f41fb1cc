//! What a simulcast publisher actually sends: per layer, the measured
//! bitrate and whether packets still arrive. The layer selectors of its
//! subscribers are fed from here ([`super::simulcast::LayerSelector::set_available`]).
//!
//! Until a layer has been measured over a whole window, its bitrate is a
//! nominal one for its rid (what browsers send by default), so a subscriber
//! gets a picture in the first second rather than after it.
//!
//! Time is a caller-supplied monotonic clock in µs; bitrates are bits per
//! second of RTP payload.

use super::simulcast::{LayerId, LayerInfo, LayerSet};

/// Length of a measurement window, µs.
pub const WINDOW_US: u64 = 1_000_000;

/// Nominal bitrate of a layer before it has been measured (bits/s): the
/// defaults browsers use for quarter, half and full resolution.
pub fn nominal_bps(layer: LayerId) -> u64 {
    match layer {
        LayerId::Low => 150_000,
        LayerId::Mid => 500_000,
        LayerId::High => 1_500_000,
    }
}

/// Per-layer byte counts of one publisher's video.
#[derive(Debug, Clone, Default)]
pub struct LayerRates {
    window_start_us: Option<u64>,
    /// Payload bytes in the current window, per layer.
    bytes: [u64; 3],
    /// Packets in the current window, per layer.
    packets: [u64; 3],
    /// Bitrate measured over the last whole window a layer was sent in.
    measured_bps: [Option<u64>; 3],
    /// Layers that sent in the last closed window (or, before any window
    /// closed, ever).
    active: [bool; 3],
    /// Layers ever seen.
    seen: [bool; 3],
    /// Layers the publisher was asked to pause ([`super::layer_pausing`]):
    /// still offered to selectors, at their last rate, so a subscriber can
    /// want one back.
    paused: LayerSet,
    /// Set when a layer is seen for the first time: selectors must learn
    /// of it now, not at the end of the window.
    changed: bool,
}

impl LayerRates {
    /// A packet of `layer` carrying `payload_bytes` arrived at `now_us`.
    pub fn on_packet(&mut self, layer: LayerId, payload_bytes: usize, now_us: u64) {
        let i = layer as usize;
        self.window_start_us.get_or_insert(now_us);
        self.bytes[i] = self.bytes[i].saturating_add(payload_bytes as u64);
        self.packets[i] = self.packets[i].saturating_add(1);
        self.seen[i] = true;
        if !self.active[i] {
            self.active[i] = true;
            self.changed = true;
        }
    }

    /// Whether any layer was ever seen: the publisher sends simulcast.
    pub fn is_simulcast(&self) -> bool {
        self.active.iter().any(|a| *a) || self.measured_bps.iter().any(Option::is_some)
    }

    /// Layers ever seen: what the publisher offers.
    pub fn offered(&self) -> LayerSet {
        LayerId::ALL
            .into_iter()
            .filter(|l| self.seen[*l as usize])
            .collect()
    }

    /// The publisher was asked to pause `paused`; selectors learn at the
    /// next [`Self::tick`].
    pub fn set_paused(&mut self, paused: LayerSet) {
        if paused != self.paused {
            self.paused = paused;
            self.changed = true;
        }
    }

    /// The layers as selectors should see them now. A paused layer counts
    /// as active: it is not sent because nobody wanted it, and a selector
    /// that wants it gets it back.
    pub fn layers(&self) -> Vec<LayerInfo> {
        LayerId::ALL
            .into_iter()
            .filter(|l| {
                let i = *l as usize;
                self.active[i] || self.measured_bps[i].is_some() || self.seen[i]
            })
            .map(|l| {
                let i = l as usize;
                LayerInfo {
                    id: l,
                    bitrate_bps: self.measured_bps[i].unwrap_or_else(|| nominal_bps(l)),
                    active: self.active[i] || (self.seen[i] && self.paused.contains(l)),
                }
            })
            .collect()
    }

    /// Closes the window when it is over and returns the new layer list
    /// when selectors must be told (a window closed, or a layer appeared).
    pub fn tick(&mut self, now_us: u64) -> Option<Vec<LayerInfo>> {
        let start = self.window_start_us?;
        let elapsed = now_us.saturating_sub(start);
        if elapsed >= WINDOW_US {
            for i in 0..3 {
                let sent = self.packets[i] > 0;
                if sent {
                    let bps = u128::from(self.bytes[i]) * 8 * 1_000_000 / u128::from(elapsed);
                    self.measured_bps[i] = Some(u64::try_from(bps).unwrap_or(u64::MAX));
                }
                self.active[i] = sent;
            }
            self.bytes = [0; 3];
            self.packets = [0; 3];
            self.window_start_us = Some(now_us);
            self.changed = false;
            return Some(self.layers());
        }
        if std::mem::take(&mut self.changed) {
            return Some(self.layers());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000;

    fn info(layers: &[LayerInfo], id: LayerId) -> Option<LayerInfo> {
        layers.iter().copied().find(|l| l.id == id)
    }

    #[test]
    fn a_new_layer_is_announced_at_once_with_its_nominal_rate() {
        let mut r = LayerRates::default();
        assert_eq!(r.tick(0), None);
        assert!(!r.is_simulcast());
        r.on_packet(LayerId::Low, 200, 0);
        let layers = r.tick(MS).expect("announced");
        assert_eq!(
            info(&layers, LayerId::Low),
            Some(LayerInfo {
                id: LayerId::Low,
                bitrate_bps: 150_000,
                active: true
            })
        );
        assert_eq!(info(&layers, LayerId::High), None);
        assert_eq!(r.tick(2 * MS), None, "nothing new to say");
        assert!(r.is_simulcast());
    }

    #[test]
    fn a_window_measures_each_layer() {
        let mut r = LayerRates::default();
        for i in 0..50u64 {
            r.on_packet(LayerId::Low, 200, i * 20 * MS);
            r.on_packet(LayerId::High, 1_100, i * 20 * MS);
        }
        let _ = r.tick(10 * MS);
        let layers = r.tick(1_000 * MS).expect("window closed");
        // 50 packets × 200 bytes × 8 bits in one second.
        assert_eq!(
            info(&layers, LayerId::Low).map(|l| l.bitrate_bps),
            Some(80_000)
        );
        assert_eq!(
            info(&layers, LayerId::High).map(|l| l.bitrate_bps),
            Some(440_000)
        );
        assert_eq!(info(&layers, LayerId::Mid), None);
    }

    #[test]
    fn a_layer_that_stops_is_inactive_but_remembered() {
        let mut r = LayerRates::default();
        r.on_packet(LayerId::Mid, 600, 0);
        r.on_packet(LayerId::Low, 200, 0);
        let _ = r.tick(1_000 * MS);
        r.on_packet(LayerId::Low, 200, 1_100 * MS);
        let layers = r.tick(2_000 * MS).expect("window closed");
        let mid = info(&layers, LayerId::Mid).expect("remembered");
        assert!(!mid.active);
        assert_eq!(mid.bitrate_bps, 4_800);
        assert!(info(&layers, LayerId::Low).is_some_and(|l| l.active));
    }

    #[test]
    fn a_paused_layer_stays_on_offer_at_its_last_rate() {
        let mut r = LayerRates::default();
        for i in 0..50u64 {
            r.on_packet(LayerId::Low, 200, i * 20 * MS);
            r.on_packet(LayerId::High, 1_100, i * 20 * MS);
        }
        let _ = r.tick(1_000 * MS);
        r.set_paused([LayerId::High].into_iter().collect());
        let layers = r.tick(1_001 * MS).expect("selectors are told at once");
        assert!(info(&layers, LayerId::High).is_some_and(|l| l.active));
        // A whole window without its packets: still offered, at 440 kbit/s.
        r.on_packet(LayerId::Low, 200, 1_500 * MS);
        let layers = r.tick(2_001 * MS).expect("window closed");
        let high = info(&layers, LayerId::High).expect("offered");
        assert!(high.active);
        assert_eq!(high.bitrate_bps, 440_000);
        assert_eq!(
            r.offered(),
            [LayerId::Low, LayerId::High].into_iter().collect()
        );
        // Resumed, but the publisher has not restarted it yet: inactive.
        r.set_paused(crate::media::simulcast::LayerSet::EMPTY);
        let layers = r.tick(2_002 * MS).expect("told");
        assert!(info(&layers, LayerId::High).is_some_and(|l| !l.active));
    }

    proptest! {
        #[test]
        fn any_packet_sequence_is_safe(
            packets in proptest::collection::vec((0usize..3, 0usize..2_000, 0u64..10_000_000), 0..200)
        ) {
            let mut r = LayerRates::default();
            let mut now = 0;
            for (layer, bytes, step) in packets {
                now += step;
                r.on_packet(LayerId::ALL[layer], bytes, now);
                if let Some(layers) = r.tick(now) {
                    prop_assert!(layers.iter().any(|l| l.active));
                    prop_assert!(layers.windows(2).all(|w| w[0].id < w[1].id));
                }
            }
        }
    }
}
