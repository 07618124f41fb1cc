//! What each member's downlink is estimated to carry and what it is sent:
//! a snapshot for the operator's view, metrics and tests.

use super::peer::{EstimateSource, Peer};
use crate::egress::downlink::FeedbackTotals;
use crate::media::simulcast::LayerId;
use crate::room::MemberId;

/// One member's downlink at the moment it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownlinkReport {
    pub member: MemberId,
    /// What its downlink is estimated to carry, bits per second.
    pub estimate_bps: u64,
    pub source: EstimateSource,
    /// What its transport-wide feedback has said so far.
    pub feedback: FeedbackTotals,
    /// The loss its feedback reports, smoothed, in tenths of a per cent.
    pub loss_permille: Option<u16>,
    /// Per source it receives: the simulcast layer it is sent (`None`:
    /// none yet, or the source sends one layer).
    pub layers: Vec<(MemberId, Option<LayerId>)>,
    /// Sources whose video is paused for it (its downlink cannot carry it
    /// with the audio).
    pub paused: Vec<MemberId>,
    /// As a single-layer video publisher: the receive limit (REMB) last
    /// sent to it, bits per second.
    pub publisher_limit_bps: Option<u64>,
    /// Its connection is shown as weak ([`crate::media::link_strength`]).
    pub weak: bool,
    /// What it sent the SFU over the last second: payload bits per second,
    /// and the share that never arrived (tenths of a per cent).
    pub uplink_bps: u64,
    pub uplink_loss_permille: u16,
}

impl DownlinkReport {
    pub fn of(peer: &Peer) -> Self {
        let (estimate_bps, source) = peer.estimate();
        Self {
            member: peer.member,
            estimate_bps,
            source,
            feedback: peer.downlink.totals(),
            loss_permille: peer
                .downlink
                .loss()
                .map(|l| (l * 1_000.0).round().clamp(0.0, 1_000.0) as u16),
            layers: peer
                .slots
                .iter()
                .filter_map(|s| s.source.map(|m| (m, s.video.layers.current())))
                .collect(),
            paused: peer
                .slots
                .iter()
                .filter(|s| s.pause.paused())
                .filter_map(|s| s.source)
                .collect(),
            publisher_limit_bps: peer.remb_sent.map(|(bps, _)| bps),
            weak: peer.strength.weak(),
            uplink_bps: peer.uplink.bps,
            uplink_loss_permille: peer.uplink.loss_permille,
        }
    }
}

/// How a connected peer's downlink is estimated, as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateState {
    /// From its transport-wide feedback, which has arrived.
    FedBack,
    /// It negotiated transport-cc; no feedback has arrived yet.
    AwaitingFeedback,
    /// From its REMB.
    Remb,
    /// Neither: the assumed [`super::DEFAULT_ESTIMATE_BPS`].
    Assumed,
}

impl EstimateState {
    pub const ALL: [EstimateState; 4] = [
        EstimateState::FedBack,
        EstimateState::AwaitingFeedback,
        EstimateState::Remb,
        EstimateState::Assumed,
    ];

    /// The label value in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            EstimateState::FedBack => "feedback",
            EstimateState::AwaitingFeedback => "awaiting_feedback",
            EstimateState::Remb => "remb",
            EstimateState::Assumed => "assumed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn of(peer: &Peer) -> Self {
        match peer.estimate().1 {
            EstimateSource::Remb => EstimateState::Remb,
            EstimateSource::Assumed => EstimateState::Assumed,
            EstimateSource::TransportFeedback if peer.downlink.totals().reports > 0 => {
                EstimateState::FedBack
            }
            EstimateSource::TransportFeedback => EstimateState::AwaitingFeedback,
        }
    }
}
