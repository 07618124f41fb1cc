//! The video payload formats Parley reads, one reader per format: the SFU
//! asks whether a packet starts a keyframe, the recorder joins packets into
//! frames, and both use the same parsing.
//!
//! Every function takes any byte slice (the payloads come from untrusted
//! peers) and reports malformed input as an error or `false`, never a panic.
//! Not rtc-rtp's depacketizers: in 0.21.1 its H.264 reader indexes past the
//! end of a STAP-A whose last unit leaves one size byte (a panic on a
//! five-byte packet) and joins an FU-A end whose start was lost into a NAL
//! unit with a made-up header.

pub mod h264;
pub mod vp8;
