//! Per-packet media decisions, as pure functions and state machines: no I/O,
//! no clocks (time comes in as `u64` microseconds of a monotonic clock), no
//! threads, and no panics on any input, since packets come from untrusted
//! peers. [`vp8`] and [`h264`] (from `parley-codec`, shared with the recorder)
//! find keyframe starts; [`keyframe_requests`] throttles
//! PLI/FIR toward publishers; [`simulcast`] picks each subscriber's layer
//! from its bandwidth estimate, switching only on keyframes, and finds layers
//! nobody needs; [`layer_pausing`] decides which of a publisher's layers to
//! pause because nobody needs them; [`layer_rates`] measures what a simulcast publisher sends;
//! [`audio_level`] reads RFC 6464 levels and names the active
//! speaker; [`video_budget`] spends a subscriber's downlink estimate audio
//! first and pauses the video that does not fit; [`link_strength`] says
//! when a participant's connection is weak, for the badge on their tile;
//! both hold their state with [`debounce`].

pub mod audio_level;
pub mod debounce;
pub mod keyframe_requests;
pub mod layer_pausing;
pub mod layer_rates;
pub mod link_strength;
pub mod simulcast;
pub mod video_budget;

pub use parley_codec::{h264, vp8};
