//! What the SFU keeps for each publisher's connection so that it, not the
//! peer connection's read pipeline, handles what the publisher sends: the
//! decryption of its RTP ([`opening`]) and RTCP ([`rtcp_opening`]), with the keys from
//! `crate::egress::keys`), which packets arrived ([`sequence`]) and what
//! the publisher is told about its uplink ([`uplink_feedback`]).
//!
//! Pure: every instant is handed in. The engine (`engine::worker`) reads
//! the datagrams and writes the RTCP.

pub mod opening;
pub mod rtcp_opening;
pub mod sequence;
pub mod uplink_feedback;

pub use opening::{Opener, Opening};
pub use sequence::{Arrival, SequenceWindow};
pub use uplink_feedback::UplinkFeedback;
