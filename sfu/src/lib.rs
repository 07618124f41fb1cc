//! Parley's selective forwarding unit.
//!
//! Pure cores first: [`room`] decides who may receive what (and enforces
//! invariant 1, privileged media never reaches a recorder or a monitor);
//! [`media`] holds the per-packet decisions (VP8 keyframes, simulcast layer
//! choice, PLI throttling), [`egress`] what each subscriber leg keeps
//! (NACK history, reports, downlink estimate) and [`liveness`] whether a
//! peer still consents to media. They take time and input
//! as arguments and are tested without sockets. [`engine`] drives them with
//! worker threads and UDP sockets; [`control`] is its network control API
//! for an SFU that runs apart from signaling (`parley sfu`).

pub mod control;
pub mod demux;
pub mod egress;
pub mod engine;
pub mod ingress;
pub mod liveness;
pub mod media;
pub mod plane;
pub mod room;
pub mod srtp;
#[cfg(test)]
mod test_support;
