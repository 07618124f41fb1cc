//! How a member's connection to the media server fares.

use crate::room::MemberId;
use serde::{Deserialize, Serialize};

/// Where a downlink estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateSource {
    /// The subscriber's transport-wide congestion feedback.
    TransportFeedback,
    /// The subscriber's REMB messages.
    Remb,
    /// Nothing measured yet: the starting assumption.
    Assumed,
}

impl EstimateSource {
    /// The wire name: `transport_feedback`, `remb` or `assumed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportFeedback => "transport_feedback",
            Self::Remb => "remb",
            Self::Assumed => "assumed",
        }
    }
}

/// One member's downlink (and uplink), as the media server sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downlink {
    pub member: MemberId,
    /// What its downlink is estimated to carry, bits per second.
    pub estimate_bps: u64,
    pub source: EstimateSource,
    /// Transport-wide feedback packets read from it.
    pub feedback_reports: u64,
    /// The loss its feedback reports, in tenths of a per cent.
    pub loss_permille: Option<u16>,
    /// Members whose video is paused for it.
    pub paused: Vec<MemberId>,
    /// As a single-layer publisher, the receive limit last sent to it, bits
    /// per second.
    pub publisher_limit_bps: Option<u64>,
    /// Its connection is shown as weak.
    pub weak: bool,
    /// What it sent the SFU over the last second (payload bits per second)
    /// and the share of that lost on the way (tenths of a per cent).
    #[serde(default)]
    pub uplink_bps: u64,
    #[serde(default)]
    pub uplink_loss_permille: u16,
}
