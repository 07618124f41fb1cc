//! Parley's recorder: receives the RTP of recorded rooms over QUIC (mutual
//! TLS), rebuilds frames, writes segmented WebM/Matroska, encrypts each
//! segment under a per-recording key wrapped by the jurisdiction's key, and
//! keeps a signed manifest of SHA-256 hashes. `verify`, `export` and
//! `sweep` read what it wrote.
//!
//! Pure cores ([`rtp`], [`depacketize`], [`ebml`], [`mux`], [`demux`]) take
//! bytes and return bytes; the shells ([`server`], [`link`]) do the I/O.

pub mod audit;
mod claim;
pub mod demux;
pub mod depacketize;
pub mod ebml;
pub mod export;
pub mod keys;
pub mod manifest;
pub mod mux;
pub mod recording;
pub mod retention;
pub mod rtp;
pub mod seal;
pub mod segmenter;
pub mod server;
pub mod session;
pub mod verify;

/// The link to the recorder, shared with the media plane that sends to it.
pub use parley_recorder_link::{fsutil, link, protocol, tls};
