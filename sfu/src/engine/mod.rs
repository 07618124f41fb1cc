//! The forwarding engine: worker threads that each own one UDP socket and the
//! rooms placed on them, driving webrtc-rs's sans-IO peer connections (the
//! `rtc` crate) with their own loop and clock. No task per track.
//!
//! Every participant has one peer connection. Its offer carries its own
//! audio and video (sendrecv) and as many receive slots as the session has
//! other publishers; the SFU fills the slots with the other participants'
//! media, so a booked session never needs renegotiation.

pub mod batch_io;
pub mod batch_recv;
pub mod coalescing;
pub mod continuity;
mod downlinks;
mod feedback;
mod handle;
pub mod ice_tcp;
pub mod link_quality;
pub mod load;
mod peer;
pub mod prometheus;
mod send;
mod timers;

pub use downlinks::DownlinkReport;
pub use peer::{DEFAULT_ESTIMATE_BPS, EstimateSource, MAX_RECEIVE_SLOTS};
mod worker;
pub use worker::{DownlinkEstimation, ReadPath, WritePath};

pub use handle::{
    HearingChange, JoinAnswer, JoinRequest, MediaEvent, Muted, RECORDER_MEMBER, RecordingTap,
    RoomId, Sfu, SfuConfig, SfuError, SfuStats, WallClock, member_kind, recording_track_id,
};
