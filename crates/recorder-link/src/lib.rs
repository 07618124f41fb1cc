//! The link to Parley's recorder, shared by both ends: the media plane
//! sends a recorded room's RTP over it, the recorder receives it.
//!
//! - [`protocol`]: the framed messages on one QUIC stream per room (pure).
//! - [`tls`]: the mutual-TLS files (a private CA, the recorder's and the
//!   sender's certificates) and the rustls configurations built from them.
//! - [`link`]: the sending end: one QUIC connection, one stream per room.
//! - [`fsutil`]: durable file writes (temp file, fsync, rename).

pub mod fsutil;
pub mod link;
pub mod protocol;
pub mod tls;
