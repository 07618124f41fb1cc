//! Per-subscriber choice of a simulcast layer.
//!
//! A publisher sends up to three encodings of one video track (rid `q`, `h`,
//! `f`: low, mid, high), each with a target bitrate. For every subscriber a
//! [`LayerSelector`] picks the layer to forward from the subscriber's
//! bandwidth estimate:
//!
//! - the *target* is the highest active layer whose bitrate fits the estimate
//!   with headroom (`bitrate × 100 ≤ estimate × headroom_percent`), or the
//!   lowest active layer when none fits;
//! - going down is immediate; going up waits until the estimate has allowed
//!   the higher layer continuously for `up_hold_us` (except before anything
//!   has been forwarded, when the target follows the estimate at once);
//! - the *current* layer (the one actually forwarded) changes only on a
//!   packet that starts a keyframe of the new layer, so the subscriber's
//!   decoder never gets a frame it cannot decode. Until then the current
//!   layer keeps flowing. If the current layer is no longer sent (inactive,
//!   or no packet for `stale_after_us`), the next keyframe of any lower layer
//!   (not above the target) takes over.
//!
//! Invariant: at any time the selector forwards packets of exactly one layer
//! ([`LayerSelector::current`]), and it changes only on a keyframe start.
//!
//! [`LayerSelector::needed_layers`] tells which layers a subscriber needs,
//! so [`super::layer_pausing`] can ask the publisher to pause the others.
//! Selectors must be fed the layers the *publisher offers*, paused ones
//! included ([`super::layer_rates`] does), or a paused layer would never be
//! wanted again.
//!
//! Time is a caller-supplied monotonic clock in microseconds (a clock that
//! seems to run backwards counts as no time elapsed); bitrates and estimates
//! are in bits per second.

/// One of the three simulcast layers, ordered from low to high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LayerId {
    /// rid `q`: quarter resolution.
    Low,
    /// rid `h`: half resolution.
    Mid,
    /// rid `f`: full resolution.
    High,
}

impl LayerId {
    /// All layers, low to high.
    pub const ALL: [LayerId; 3] = [LayerId::Low, LayerId::Mid, LayerId::High];

    /// The layer of a RID (`q`, `h`, `f`); `None` for any other.
    pub fn from_rid(rid: &str) -> Option<Self> {
        match rid {
            "q" => Some(Self::Low),
            "h" => Some(Self::Mid),
            "f" => Some(Self::High),
            _ => None,
        }
    }

    /// The RID of this layer.
    pub fn rid(self) -> &'static str {
        match self {
            Self::Low => "q",
            Self::Mid => "h",
            Self::High => "f",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// A set of layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct LayerSet(u8);

impl LayerSet {
    /// No layer.
    pub const EMPTY: LayerSet = LayerSet(0);
    /// All three layers.
    pub const ALL: LayerSet = LayerSet(0b111);

    /// The set of the low three bits of `bits` (bit 0: `q`, 1: `h`, 2: `f`).
    pub fn from_bits(bits: u8) -> Self {
        LayerSet(bits & Self::ALL.0)
    }

    /// Adds `layer`.
    pub fn insert(&mut self, layer: LayerId) {
        self.0 |= layer.bit();
    }

    /// Removes `layer`.
    pub fn remove(&mut self, layer: LayerId) {
        self.0 &= !layer.bit();
    }

    /// Whether `layer` is in the set.
    pub fn contains(self, layer: LayerId) -> bool {
        self.0 & layer.bit() != 0
    }

    /// The layers in either set.
    pub fn union(self, other: LayerSet) -> LayerSet {
        LayerSet(self.0 | other.0)
    }

    /// The layers in `self` but not in `other`.
    pub fn minus(self, other: LayerSet) -> LayerSet {
        LayerSet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The layers in the set, low to high.
    pub fn iter(self) -> impl Iterator<Item = LayerId> {
        LayerId::ALL.into_iter().filter(move |l| self.contains(*l))
    }
}

impl FromIterator<LayerId> for LayerSet {
    fn from_iter<I: IntoIterator<Item = LayerId>>(iter: I) -> Self {
        let mut set = LayerSet::EMPTY;
        for layer in iter {
            set.insert(layer);
        }
        set
    }
}

/// What the publisher sends of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerInfo {
    /// Which layer.
    pub id: LayerId,
    /// Its target bitrate, bits per second.
    pub bitrate_bps: u64,
    /// Whether the publisher offers it (false: inactive in its encodings).
    pub active: bool,
}

/// Tuning of a [`LayerSelector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorConfig {
    /// A layer fits if `bitrate × 100 ≤ estimate × headroom_percent`.
    pub headroom_percent: u32,
    /// How long (µs) the estimate must allow a higher layer before the
    /// target goes up.
    pub up_hold_us: u64,
    /// A current layer without packets for this long (µs) counts as no
    /// longer sent.
    pub stale_after_us: u64,
}

impl Default for SelectorConfig {
    /// 85 % headroom, 2 s before going up, 1 s without packets is stale.
    fn default() -> Self {
        Self {
            headroom_percent: 85,
            up_hold_us: 2_000_000,
            stale_after_us: 1_000_000,
        }
    }
}

/// What to do with one packet of the publisher's track for this subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not for this subscriber.
    Drop,
    /// Forward it. `switched`: it is the first packet of a newly current
    /// layer (the caller re-bases sequence numbers, timestamps and picture
    /// ids here).
    Forward {
        /// This packet starts a new current layer.
        switched: bool,
    },
}

/// One subscriber's simulcast layer choice for one published video track.
#[derive(Debug, Clone)]
pub struct LayerSelector {
    config: SelectorConfig,
    layers: [Option<LayerInfo>; 3],
    estimate_bps: Option<u64>,
    /// Per layer: since when the estimate has allowed it without a break.
    fits_since: [Option<u64>; 3],
    last_packet_us: [Option<u64>; 3],
    target: Option<LayerId>,
    current: Option<LayerId>,
}

impl Default for LayerSelector {
    fn default() -> Self {
        Self::new(SelectorConfig::default())
    }
}

impl LayerSelector {
    /// A selector with no layers, no estimate, forwarding nothing yet.
    pub fn new(config: SelectorConfig) -> Self {
        Self {
            config,
            layers: [None; 3],
            estimate_bps: None,
            fits_since: [None; 3],
            last_packet_us: [None; 3],
            target: None,
            current: None,
        }
    }

    /// The layer the selector wants to forward.
    pub fn target(&self) -> Option<LayerId> {
        self.target
    }

    /// The layer being forwarded (`None` until the first keyframe).
    pub fn current(&self) -> Option<LayerId> {
        self.current
    }

    /// The layer whose keyframe is awaited to switch (target ≠ current):
    /// the caller should ask the publisher for one (throttled).
    pub fn wanted_keyframe(&self) -> Option<LayerId> {
        self.target.filter(|t| self.current != Some(*t))
    }

    /// Layers this subscriber needs sent: the current and the target.
    pub fn needed_layers(&self) -> LayerSet {
        self.current.into_iter().chain(self.target).collect()
    }

    /// The subscriber's bandwidth estimate changed (bits per second).
    pub fn set_estimate(&mut self, bps: u64, now_us: u64) {
        self.estimate_bps = Some(bps);
        self.update_fits(now_us);
        self.reevaluate(now_us);
    }

    /// The bitrate of the lowest layer on offer (bits per second), `None`
    /// when the source offers no layers (it does not send simulcast).
    pub fn lowest_bps(&self) -> Option<u64> {
        self.layers
            .iter()
            .flatten()
            .filter(|l| l.active)
            .chain(self.layers.iter().flatten())
            .map(|l| l.bitrate_bps)
            .next()
    }

    /// The layers the publisher offers changed. Layers not listed are not
    /// offered; a layer listed twice takes its last entry.
    pub fn set_available(&mut self, layers: &[LayerInfo], now_us: u64) {
        self.layers = [None; 3];
        for info in layers {
            if let Some(slot) = self.layers.get_mut(info.id.index()) {
                *slot = Some(*info);
            }
        }
        self.update_fits(now_us);
        self.reevaluate(now_us);
    }

    /// A packet of `layer` arrived from the publisher; `is_keyframe`: it is
    /// the first packet of a keyframe (see the codec modules).
    pub fn on_packet(&mut self, layer: LayerId, is_keyframe: bool, now_us: u64) -> Decision {
        if let Some(t) = self.last_packet_us.get_mut(layer.index()) {
            *t = Some(now_us);
        }
        self.reevaluate(now_us);
        let Some(current) = self.current else {
            // Start on the target's keyframe, or a lower one for a quick
            // first picture (the target follows on its own keyframe).
            if is_keyframe && self.target.is_some_and(|t| layer <= t) {
                self.current = Some(layer);
                return Decision::Forward { switched: true };
            }
            return Decision::Drop;
        };
        if layer == current {
            return Decision::Forward { switched: false };
        }
        if !is_keyframe {
            return Decision::Drop;
        }
        let to_target = self.target == Some(layer);
        let fallback = layer < current
            && self.target.is_none_or(|t| layer <= t)
            && !self.is_live(current, now_us);
        if to_target || fallback {
            self.current = Some(layer);
            Decision::Forward { switched: true }
        } else {
            Decision::Drop
        }
    }

    fn info(&self, layer: LayerId) -> Option<LayerInfo> {
        self.layers.get(layer.index()).copied().flatten()
    }

    fn is_active(&self, layer: LayerId) -> bool {
        self.info(layer).is_some_and(|i| i.active)
    }

    /// Whether `layer` is still being sent: offered, and a packet of it seen
    /// within `stale_after_us`.
    fn is_live(&self, layer: LayerId, now_us: u64) -> bool {
        self.is_active(layer)
            && self
                .last_packet_us
                .get(layer.index())
                .copied()
                .flatten()
                .is_some_and(|t| now_us.saturating_sub(t) <= self.config.stale_after_us)
    }

    /// Whether `layer`'s bitrate fits the current estimate with headroom.
    fn fits(&self, layer: LayerId) -> bool {
        match (self.info(layer), self.estimate_bps) {
            (Some(info), Some(estimate)) => {
                u128::from(info.bitrate_bps) * 100
                    <= u128::from(estimate) * u128::from(self.config.headroom_percent)
            }
            _ => false,
        }
    }

    fn update_fits(&mut self, now_us: u64) {
        for layer in LayerId::ALL {
            let fits = self.fits(layer);
            if let Some(since) = self.fits_since.get_mut(layer.index()) {
                *since = match (*since, fits) {
                    (_, false) => None,
                    (None, true) => Some(now_us),
                    (kept, true) => kept,
                };
            }
        }
    }

    /// Whether the estimate has allowed `layer` for at least `up_hold_us`.
    fn held(&self, layer: LayerId, now_us: u64) -> bool {
        self.fits_since
            .get(layer.index())
            .copied()
            .flatten()
            .is_some_and(|since| now_us.saturating_sub(since) >= self.config.up_hold_us)
    }

    /// Recomputes the target from the estimate, the offered layers and time.
    fn reevaluate(&mut self, now_us: u64) {
        // Runs on every packet: iterate the three layers, allocate nothing.
        let active = || LayerId::ALL.into_iter().filter(|l| self.is_active(*l));
        let Some(lowest) = active().next() else {
            self.target = None;
            return;
        };
        let desired = active().rev().find(|l| self.fits(*l)).unwrap_or(lowest);
        // Before anything is forwarded there is nothing to flap: go straight
        // to the desired layer.
        self.target = Some(match self.target.filter(|_| self.current.is_some()) {
            None => desired,
            Some(target) => active()
                .rev()
                .find(|l| *l <= desired && (*l <= target || self.held(*l, now_us)))
                .unwrap_or(lowest),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000;
    const MS: u64 = 1_000;

    fn three_layers() -> [LayerInfo; 3] {
        [
            LayerInfo {
                id: LayerId::Low,
                bitrate_bps: 150_000,
                active: true,
            },
            LayerInfo {
                id: LayerId::Mid,
                bitrate_bps: 500_000,
                active: true,
            },
            LayerInfo {
                id: LayerId::High,
                bitrate_bps: 1_500_000,
                active: true,
            },
        ]
    }

    fn selector(estimate: u64) -> LayerSelector {
        let mut s = LayerSelector::default();
        s.set_available(&three_layers(), 0);
        s.set_estimate(estimate, 0);
        s
    }

    const FWD: Decision = Decision::Forward { switched: false };
    const SWITCH: Decision = Decision::Forward { switched: true };

    #[test]
    fn rids() {
        for l in LayerId::ALL {
            assert_eq!(LayerId::from_rid(l.rid()), Some(l));
        }
        assert_eq!(LayerId::from_rid("x"), None);
    }

    #[test]
    fn low_bandwidth_stays_on_low() {
        let mut s = selector(300_000);
        assert_eq!(s.target(), Some(LayerId::Low));
        assert_eq!(s.on_packet(LayerId::High, true, 0), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::Mid, true, 0), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::Low, true, 0), SWITCH);
        assert_eq!(s.on_packet(LayerId::Low, false, 10 * MS), FWD);
        assert_eq!(s.on_packet(LayerId::High, true, 10 * S), Decision::Drop);
        assert_eq!(s.current(), Some(LayerId::Low));
    }

    #[test]
    fn below_every_layer_still_gets_low() {
        let s = selector(10_000);
        assert_eq!(s.target(), Some(LayerId::Low));
    }

    #[test]
    fn high_bandwidth_gets_high() {
        let mut s = selector(5_000_000);
        assert_eq!(s.target(), Some(LayerId::High));
        assert_eq!(s.on_packet(LayerId::High, true, 0), SWITCH);
        assert_eq!(s.on_packet(LayerId::High, false, 1), FWD);
        assert_eq!(s.on_packet(LayerId::Low, false, 1), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::Low, true, 2), Decision::Drop);
    }

    #[test]
    fn headroom_is_applied() {
        // 500 kbit/s needs 500/0.85 ≈ 588.3 kbit/s.
        assert_eq!(selector(588_000).target(), Some(LayerId::Low));
        assert_eq!(selector(588_236).target(), Some(LayerId::Mid));
    }

    #[test]
    fn quick_start_on_lower_keyframe_then_target() {
        let mut s = selector(5_000_000);
        assert_eq!(s.on_packet(LayerId::Low, true, 0), SWITCH);
        assert_eq!(s.wanted_keyframe(), Some(LayerId::High));
        assert_eq!(s.on_packet(LayerId::High, false, 1), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::High, true, 2), SWITCH);
        assert_eq!(s.wanted_keyframe(), None);
    }

    #[test]
    fn nothing_before_a_keyframe() {
        let mut s = selector(5_000_000);
        assert_eq!(s.on_packet(LayerId::High, false, 0), Decision::Drop);
        assert_eq!(s.current(), None);
    }

    #[test]
    fn switch_waits_for_keyframe_and_never_mid_frame() {
        let mut s = selector(5_000_000);
        assert_eq!(s.on_packet(LayerId::High, true, 0), SWITCH);
        s.set_estimate(300_000, S);
        assert_eq!(s.target(), Some(LayerId::Low));
        // Low interframes and the continuation of a low keyframe: no switch;
        // high keeps flowing meanwhile.
        assert_eq!(s.on_packet(LayerId::Low, false, S + 1), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::High, false, S + 2), FWD);
        assert_eq!(s.on_packet(LayerId::High, true, S + 3), FWD);
        assert_eq!(s.on_packet(LayerId::Low, true, S + 4), SWITCH);
        assert_eq!(s.on_packet(LayerId::Low, false, S + 5), FWD);
        assert_eq!(s.on_packet(LayerId::High, false, S + 6), Decision::Drop);
        assert_eq!(s.current(), Some(LayerId::Low));
    }

    #[test]
    fn down_switch_is_immediate() {
        let mut s = selector(5_000_000);
        s.on_packet(LayerId::High, true, 0);
        s.set_estimate(700_000, 10 * MS);
        assert_eq!(s.target(), Some(LayerId::Mid));
        assert_eq!(s.on_packet(LayerId::Mid, true, 11 * MS), SWITCH);
    }

    #[test]
    fn up_switch_waits_for_hold_time() {
        let mut s = selector(300_000);
        assert_eq!(s.on_packet(LayerId::Low, true, 0), SWITCH);
        s.set_estimate(5_000_000, S);
        assert_eq!(s.target(), Some(LayerId::Low));
        assert_eq!(s.on_packet(LayerId::High, true, 2 * S), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::High, true, 3 * S - 1), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::High, true, 3 * S), SWITCH);
        assert_eq!(s.current(), Some(LayerId::High));
    }

    #[test]
    fn dip_restarts_the_hold() {
        let mut s = selector(300_000);
        s.on_packet(LayerId::Low, true, 0);
        s.set_estimate(5_000_000, S);
        s.set_estimate(300_000, 2 * S);
        s.set_estimate(5_000_000, 2 * S + 500 * MS);
        s.on_packet(LayerId::Low, false, 3 * S);
        assert_eq!(s.target(), Some(LayerId::Low));
        s.on_packet(LayerId::Low, false, 4 * S + 500 * MS);
        assert_eq!(s.target(), Some(LayerId::High));
    }

    #[test]
    fn up_stops_at_the_layer_held_long_enough() {
        let mut s = selector(300_000);
        s.on_packet(LayerId::Low, true, 0);
        s.set_estimate(700_000, S);
        s.set_estimate(5_000_000, 2 * S);
        s.on_packet(LayerId::Low, false, 3 * S);
        assert_eq!(s.target(), Some(LayerId::Mid));
        s.on_packet(LayerId::Low, false, 4 * S);
        assert_eq!(s.target(), Some(LayerId::High));
    }

    #[test]
    fn inactive_current_falls_back_to_lower_keyframe() {
        let mut s = selector(5_000_000);
        s.on_packet(LayerId::High, true, 0);
        let mut layers = three_layers();
        layers[2].active = false;
        s.set_available(&layers, S);
        assert_eq!(s.target(), Some(LayerId::Mid));
        // A low keyframe comes first: take it rather than wait.
        assert_eq!(s.on_packet(LayerId::Low, false, S + 1), Decision::Drop);
        assert_eq!(s.on_packet(LayerId::Low, true, S + 2), SWITCH);
        assert_eq!(s.on_packet(LayerId::Mid, true, S + 3), SWITCH);
    }

    #[test]
    fn stale_current_falls_back_to_lower_keyframe() {
        let mut s = selector(5_000_000);
        s.on_packet(LayerId::High, true, 0);
        s.on_packet(LayerId::High, false, 100 * MS);
        // High still live: a low keyframe is not taken.
        assert_eq!(s.on_packet(LayerId::Low, true, 500 * MS), Decision::Drop);
        // No high packet for more than a second.
        assert_eq!(s.on_packet(LayerId::Low, true, 1_200 * MS), SWITCH);
        assert_eq!(s.target(), Some(LayerId::High));
        assert_eq!(s.wanted_keyframe(), Some(LayerId::High));
        assert_eq!(s.on_packet(LayerId::High, true, 2 * S), SWITCH);
    }

    #[test]
    fn live_current_is_not_left_for_a_non_target_layer() {
        let mut s = selector(5_000_000);
        s.on_packet(LayerId::High, true, 0);
        s.set_estimate(300_000, 1);
        // Mid is neither the target nor a fallback while high is live.
        assert_eq!(s.on_packet(LayerId::Mid, true, 2), Decision::Drop);
    }

    #[test]
    fn no_active_layer_no_target() {
        let mut s = selector(5_000_000);
        s.on_packet(LayerId::High, true, 0);
        s.set_available(&[], 1);
        assert_eq!(s.target(), None);
        assert_eq!(s.wanted_keyframe(), None);
        // Whatever still arrives of the current layer keeps flowing.
        assert_eq!(s.on_packet(LayerId::High, false, 2), FWD);
    }

    #[test]
    fn without_estimate_targets_lowest() {
        let mut s = LayerSelector::default();
        s.set_available(&three_layers(), 0);
        assert_eq!(s.target(), Some(LayerId::Low));
    }

    #[test]
    fn a_subscriber_needs_its_current_and_its_target_layer() {
        let mut low = selector(300_000);
        low.on_packet(LayerId::Low, true, 0);
        assert_eq!(low.needed_layers(), [LayerId::Low].into_iter().collect());
        let mut switching = selector(5_000_000);
        switching.on_packet(LayerId::Low, true, 0);
        assert_eq!(
            switching.needed_layers(),
            [LayerId::Low, LayerId::High].into_iter().collect()
        );
        assert_eq!(LayerSelector::default().needed_layers(), LayerSet::EMPTY);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Estimate(u64),
        Available([Option<(u64, bool)>; 3]),
        Packet(LayerId, bool),
    }

    fn layer() -> impl Strategy<Value = LayerId> {
        prop_oneof![Just(LayerId::Low), Just(LayerId::Mid), Just(LayerId::High)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u64..3_000_000).prop_map(Op::Estimate),
            1 => proptest::array::uniform3(proptest::option::of((0u64..2_000_000, any::<bool>())))
                .prop_map(Op::Available),
            8 => (layer(), proptest::bool::weighted(0.1)).prop_map(|(l, k)| Op::Packet(l, k)),
        ]
    }

    proptest! {
        #[test]
        fn forwards_one_layer_and_switches_only_on_keyframes(
            ops in proptest::collection::vec((op(), 0u64..300_000), 0..400),
        ) {
            let mut s = selector(1_000_000);
            let mut now = 0u64;
            let mut forwarding: Option<LayerId> = None;
            for (op, dt) in ops {
                now += dt;
                match op {
                    Op::Estimate(bps) => s.set_estimate(bps, now),
                    Op::Available(layers) => {
                        let infos: Vec<LayerInfo> = LayerId::ALL
                            .into_iter()
                            .zip(layers)
                            .filter_map(|(id, l)| {
                                l.map(|(bitrate_bps, active)| LayerInfo { id, bitrate_bps, active })
                            })
                            .collect();
                        s.set_available(&infos, now);
                    }
                    Op::Packet(layer, key) => match s.on_packet(layer, key, now) {
                        Decision::Drop => prop_assert!(forwarding != Some(layer)),
                        Decision::Forward { switched: false } => {
                            prop_assert_eq!(forwarding, Some(layer));
                        }
                        Decision::Forward { switched: true } => {
                            prop_assert!(key, "switched on a non-keyframe");
                            prop_assert_ne!(forwarding, Some(layer));
                            forwarding = Some(layer);
                        }
                    },
                }
                prop_assert_eq!(s.current(), forwarding);
                if let Some(t) = s.target() {
                    prop_assert!(s.is_active(t), "target {:?} is not offered", t);
                }
            }
        }
    }
}
