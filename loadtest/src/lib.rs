//! Parley's load-test harness: scenarios in TOML, clients that use the real
//! signaling protocol and real WebRTC (`parley_client`, or the lightweight
//! client of [`light`] that multiplexes sans-IO peer connections on a few
//! threads), one-way latency
//! from send timestamps in the payloads, loss, jitter, freezes, SFU CPU per
//! forwarded packet and memory, reports in JSON and Markdown with plots, and
//! targets that fail the run when missed.

pub mod dashboard;
pub mod light;
pub mod light_peer;
pub mod output;
pub mod participant;
pub mod payload;
pub mod plot;
pub mod recorder;
pub mod report;
pub mod run;
pub mod sampler;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod target;
