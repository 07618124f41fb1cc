//! Opus encoding of the spoken notice.
//!
//! **Which libopus, and why.** The encoder is the reference libopus (1.6.1),
//! reached through the `opus` crate, whose `opusic-sys` dependency is
//! replaced (workspace `[patch.crates-io]`) by `vendor/opusic-sys`: the same
//! bindings, with libopus compiled by the `cc` crate instead of CMake. So a
//! fresh machine builds Parley with the Rust toolchain and the C compiler
//! it already links with, as it builds `ring` and SQLite. Weighed:
//!
//! - *build time*: the `cc` build of libopus's 138 C files takes about 7 s
//!   on 2 cores, like the CMake build it replaces; `unsafe-libopus` (libopus
//!   1.3.1 translated to Rust by c2rust) about 6 s.
//! - *maintenance*: the vendored tree is Xiph's maintained C code, refreshed
//!   by `vendor/opusic-sys/refresh.sh` from a newer `opusic-sys`; the build
//!   reads libopus's own source lists. `unsafe-libopus` is frozen at 1.3.1
//!   (2019) with no upstream to follow; the pure-Rust `opus-rs` port is
//!   young and not bit-exact with the reference.
//! - *output quality*: the reference encoder, current release, bit-exact
//!   with what every other Opus user ships. Only the platform SIMD variants
//!   are left out (portable C, same bitstream), which costs speed nobody
//!   notices: a notice is encoded once, at start.
//!
//! Settings: VoIP mode, 24 kbit/s, mono, 20 ms frames: speech, clear on a
//! weak link, about 60 bytes a frame.

use super::{Announcement, FRAME_MS, Pcm};

/// Target bit rate of the notice, bits per second.
pub const BITRATE_BPS: i32 = 24_000;

/// Encodes PCM into Opus frames of [`FRAME_MS`]; the last frame is padded
/// with silence. `pcm.sample_rate` must be one of
/// [`super::SUPPORTED_RATES`] (the WAV reader ensures it).
pub fn encode(pcm: &Pcm) -> Result<Announcement, String> {
    let mut encoder = opus::Encoder::new(
        pcm.sample_rate,
        opus::Channels::Mono,
        opus::Application::Voip,
    )
    .map_err(|e| e.to_string())?;
    encoder
        .set_bitrate(opus::Bitrate::Bits(BITRATE_BPS))
        .map_err(|e| e.to_string())?;
    let per_frame = (pcm.sample_rate / 1000 * FRAME_MS) as usize;
    let mut frames = Vec::with_capacity(pcm.samples.len() / per_frame + 1);
    for chunk in pcm.samples.chunks(per_frame) {
        let mut frame = chunk.to_vec();
        frame.resize(per_frame, 0);
        frames.push(
            encoder
                .encode_vec(&frame, 1500)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Announcement { frames })
}

/// The version string of the linked libopus, e.g. `libopus 1.6.1`.
pub fn libopus_version() -> &'static str {
    opus::version()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored reference libopus is the one linked: a refresh or a
    /// change of backend that swaps it shows up here.
    #[test]
    fn the_linked_libopus_is_the_vendored_reference() {
        let version = libopus_version();
        let expected = include_str!("../../../../vendor/opusic-sys/opus/package_version")
            .trim()
            .trim_start_matches("PACKAGE_VERSION=")
            .trim_matches('"');
        assert_eq!(version, format!("libopus {expected}"));
    }
}
