//! The spoken announcement played into a room before its media reaches the
//! recorder (invariant 5): a WAV file from `config/announcements/` encoded
//! once into Opus frames the SFU sends as RTP, like any participant's audio.
//!
//! Units: Opus frames of 20 ms at 48 000 Hz (the Opus RTP clock, whatever
//! the input rate).

use std::path::{Path, PathBuf};

mod encoder;
pub use encoder::{encode, libopus_version};

/// Duration of one Opus frame, ms.
pub const FRAME_MS: u32 = 20;
/// Input rates Opus encodes without resampling, Hz.
pub const SUPPORTED_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a WAV file the announcer reads: {detail} (convert it with: ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav)"
    )]
    Format { path: PathBuf, detail: String },
    #[error("{path}: the Opus encoder refused the audio: {detail}")]
    Encode { path: PathBuf, detail: String },
    #[error("no announcement for language `{language}`: expected {path}")]
    Missing { language: String, path: PathBuf },
}

/// 16-bit PCM audio, one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcm {
    /// Hz.
    pub sample_rate: u32,
    pub samples: Vec<i16>,
}

/// Reads a RIFF/WAVE file of 16-bit PCM (mono, or stereo mixed down).
pub fn parse_wav(bytes: &[u8]) -> Result<Pcm, String> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("no RIFF/WAVE header".into());
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = bytes
            .get(at + 8..(at + 8).saturating_add(size))
            .ok_or_else(|| {
                format!(
                    "chunk {:?} runs past the end of the file",
                    String::from_utf8_lossy(id)
                )
            })?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                format = Some((tag, channels, rate, bits));
            }
            b"data" => {
                let (tag, channels, rate, bits) = format.ok_or("data before fmt")?;
                if tag != 1 || bits != 16 || !(1..=2).contains(&channels) {
                    return Err(format!(
                        "{channels} channels of {bits}-bit audio in format {tag}; only 16-bit PCM, mono or stereo"
                    ));
                }
                if !SUPPORTED_RATES.contains(&rate) {
                    return Err(format!(
                        "sample rate {rate} Hz; give one of 8000, 12000, 16000, 24000, 48000"
                    ));
                }
                let frames = body.chunks_exact(2 * usize::from(channels));
                let samples = frames
                    .map(|f| {
                        let s: Vec<i32> = f
                            .chunks_exact(2)
                            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
                            .collect();
                        (s.iter().sum::<i32>() / s.len() as i32) as i16
                    })
                    .collect();
                return Ok(Pcm {
                    sample_rate: rate,
                    samples,
                });
            }
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    Err("no data chunk".into())
}

/// An announcement as Opus frames of [`FRAME_MS`] each, mono.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub frames: Vec<Vec<u8>>,
}

impl Announcement {
    /// Length when played, ms.
    pub fn duration_ms(&self) -> u64 {
        self.frames.len() as u64 * u64::from(FRAME_MS)
    }
}

/// Reads and encodes one WAV file.
pub fn load(path: &Path) -> Result<Announcement, AnnounceError> {
    let bytes = std::fs::read(path).map_err(|source| AnnounceError::Read {
        path: path.into(),
        source,
    })?;
    let pcm = parse_wav(&bytes).map_err(|detail| AnnounceError::Format {
        path: path.into(),
        detail,
    })?;
    encode(&pcm).map_err(|detail| AnnounceError::Encode {
        path: path.into(),
        detail,
    })
}

/// The announcement of `jurisdiction` in `language`:
/// `<dir>/<jurisdiction>/<language>.wav`.
pub fn load_for(
    dir: &Path,
    jurisdiction: &str,
    language: &str,
) -> Result<Announcement, AnnounceError> {
    let path = dir.join(jurisdiction).join(format!("{language}.wav"));
    if !path.exists() {
        return Err(AnnounceError::Missing {
            language: language.into(),
            path,
        });
    }
    load(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut w = b"RIFF".to_vec();
        w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        w.extend_from_slice(&(2 * channels).to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(&data);
        w
    }

    #[test]
    fn stereo_is_mixed_down_and_bad_rates_refused() {
        let p = parse_wav(&wav(16_000, 2, &[100, 300, -2, -4])).unwrap();
        assert_eq!(p.samples, vec![200, -3]);
        let e = parse_wav(&wav(22_050, 1, &[0; 4])).unwrap_err();
        assert!(e.contains("22050"), "{e}");
        assert!(parse_wav(b"RIFF\0\0\0\0WAVE").is_err());
    }

    #[test]
    fn a_tone_encodes_to_one_frame_per_20_ms_and_decodes_back() {
        let rate = 16_000;
        let tone: Vec<i16> = (0..rate / 2)
            .map(|i| {
                ((i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8_000.0)
                    as i16
            })
            .collect();
        let a = encode(&Pcm {
            sample_rate: rate,
            samples: tone,
        })
        .unwrap();
        assert_eq!(a.frames.len(), 25);
        assert_eq!(a.duration_ms(), 500);
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
        let mut out = vec![0i16; 960];
        let mut energy = 0f64;
        for f in &a.frames {
            assert_eq!(decoder.decode(f, &mut out, false).unwrap(), 960);
            energy += out.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        }
        let rms = (energy / (25.0 * 960.0)).sqrt();
        assert!(rms > 2_000.0, "decoded tone is audible: rms {rms}");
    }

    proptest! {
        #[test]
        fn hostile_wav_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = b"RIFF\0\0\0\0WAVE".to_vec();
            bytes.extend(data);
            let _ = parse_wav(&bytes);
        }
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// Every language of the demo jurisdiction has a spoken announcement in
    /// `config/announcements/demo/`, and it encodes to several seconds.
    #[test]
    fn the_demo_announcements_encode() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/announcements");
        let j = parley_policy::load_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/jurisdictions"),
        )
        .unwrap();
        let demo = j.get("demo").unwrap();
        for language in &demo.languages {
            let a = load_for(&dir, "demo", language).unwrap();
            assert!(
                a.duration_ms() > 5_000,
                "{language}: {} ms",
                a.duration_ms()
            );
            // 24 kbit/s: about 60 bytes per 20 ms frame; nothing near the RTP MTU.
            assert!(a.frames.iter().all(|f| !f.is_empty() && f.len() < 400));
        }
        assert!(matches!(
            load_for(&dir, "demo", "xx"),
            Err(AnnounceError::Missing { .. })
        ));
    }
}
