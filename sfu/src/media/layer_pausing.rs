//! Which simulcast layers a publisher is asked to send. A layer that no
//! subscriber (nor the recorder) needs costs the publisher's uplink and
//! encoder for nothing, so it is paused; it resumes the moment someone's
//! selector wants it again (see [`super::simulcast::LayerSelector::needed_layers`]).
//!
//! Rules:
//! - the lowest layer is never paused: it is every subscriber's fallback and
//!   a newcomer's first picture;
//! - a layer is paused only after nobody has needed it for
//!   [`PausingConfig::pause_after_us`], so a subscriber whose estimate
//!   wavers does not make the publisher's encoder flap;
//! - a needed layer is resumed at once.
//!
//! Time is a caller-supplied monotonic clock in µs.

use super::simulcast::{LayerId, LayerSet};

/// Tuning of [`LayerPausing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PausingConfig {
    /// How long (µs) a layer must be unneeded before it is paused.
    pub pause_after_us: u64,
}

impl Default for PausingConfig {
    /// 3 s: longer than a selector's 2 s hold before going up.
    fn default() -> Self {
        Self {
            pause_after_us: 3_000_000,
        }
    }
}

/// One simulcast publisher's paused layers.
#[derive(Debug, Clone, Default)]
pub struct LayerPausing {
    config: PausingConfig,
    paused: LayerSet,
    /// Per layer: since when nobody has needed it (µs).
    unneeded_since: [Option<u64>; 3],
}

impl LayerPausing {
    /// Nothing paused: the publisher sends what it offers.
    pub fn new(config: PausingConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Layers the publisher is currently asked not to send.
    pub fn paused(&self) -> LayerSet {
        self.paused
    }

    /// Re-decides from the layers the publisher has offered (`offered`: ever
    /// seen) and those some subscriber needs now. Returns the layers the
    /// publisher should send when that changed, `None` otherwise.
    pub fn update(&mut self, offered: LayerSet, needed: LayerSet, now_us: u64) -> Option<LayerSet> {
        let lowest = offered.iter().next();
        let mut paused = self.paused;
        for layer in LayerId::ALL {
            let since = &mut self.unneeded_since[layer as usize];
            let keep = !offered.contains(layer) || needed.contains(layer) || Some(layer) == lowest;
            if keep {
                *since = None;
                paused.remove(layer);
                continue;
            }
            let from = *since.get_or_insert(now_us);
            if now_us.saturating_sub(from) >= self.config.pause_after_us {
                paused.insert(layer);
            }
        }
        if paused == self.paused {
            return None;
        }
        self.paused = paused;
        Some(offered.iter().filter(|l| !paused.contains(*l)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000;

    fn set(layers: &[LayerId]) -> LayerSet {
        layers.iter().copied().collect()
    }

    use LayerId::{High, Low, Mid};

    #[test]
    fn unneeded_layers_pause_after_the_hold_and_the_lowest_never() {
        let mut p = LayerPausing::default();
        assert_eq!(p.update(LayerSet::ALL, LayerSet::EMPTY, 0), None);
        assert_eq!(p.update(LayerSet::ALL, LayerSet::EMPTY, 2 * S), None);
        assert_eq!(
            p.update(LayerSet::ALL, LayerSet::EMPTY, 3 * S),
            Some(set(&[Low]))
        );
        assert_eq!(p.paused(), set(&[Mid, High]));
        assert_eq!(p.update(LayerSet::ALL, LayerSet::EMPTY, 60 * S), None);
    }

    #[test]
    fn a_needed_layer_resumes_at_once() {
        let mut p = LayerPausing::default();
        p.update(LayerSet::ALL, LayerSet::EMPTY, 0);
        p.update(LayerSet::ALL, LayerSet::EMPTY, 5 * S);
        assert_eq!(
            p.update(LayerSet::ALL, set(&[High]), 5 * S + 1),
            Some(set(&[Low, High]))
        );
        assert_eq!(p.paused(), set(&[Mid]));
    }

    #[test]
    fn a_wavering_need_does_not_flap() {
        let mut p = LayerPausing::default();
        // Needed every other second: never unneeded for 3 s in a row.
        for second in 0..20 {
            let needed = if second % 2 == 0 {
                set(&[Mid])
            } else {
                LayerSet::EMPTY
            };
            let change = p.update(set(&[Low, Mid]), needed, second * S);
            assert_eq!(change, None, "second {second}");
        }
    }

    #[test]
    fn layers_never_offered_are_neither_paused_nor_asked_for() {
        let mut p = LayerPausing::default();
        p.update(set(&[Mid, High]), LayerSet::EMPTY, 0);
        // Mid is the lowest offered: kept. High pauses.
        assert_eq!(
            p.update(set(&[Mid, High]), LayerSet::EMPTY, 3 * S),
            Some(set(&[Mid]))
        );
    }

    proptest! {
        #[test]
        fn the_lowest_offered_and_every_needed_layer_are_always_sent(
            steps in proptest::collection::vec((1u8..8, 0u8..8, 0u64..4_000_000), 1..60)
        ) {
            let mut p = LayerPausing::default();
            let mut now = 0u64;
            for (offered, needed, dt) in steps {
                now += dt;
                let offered = LayerSet::from_bits(offered);
                let needed = LayerSet::from_bits(needed);
                p.update(offered, needed, now);
                let paused = p.paused();
                prop_assert!(!paused.contains(offered.iter().next().expect("non-empty")));
                for l in needed.iter() {
                    prop_assert!(!paused.contains(l));
                }
            }
        }
    }
}
