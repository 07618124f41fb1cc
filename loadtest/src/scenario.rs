//! A load-test scenario, read from TOML: what to run, at what rates, and the
//! targets a run must meet.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a scenario file could not be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML does not parse or names an unknown key; the message names
    /// the key and the line.
    #[error("scenario {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

/// A whole scenario. Rates are per second, sizes in bytes, durations in
/// seconds.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in the output directory.
    pub name: String,
    /// Length of the measured phase, in seconds (after everyone joined).
    pub duration_s: f64,
    /// Concurrent 1:1 social visits (two publishing participants each).
    #[serde(default)]
    pub visits: u32,
    /// A court hearing, if any.
    pub hearing: Option<HearingSpec>,
    /// Visits whose visitor leaves and rejoins at a rate, if any.
    pub churn: Option<ChurnSpec>,
    #[serde(default)]
    pub media: MediaSpec,
    #[serde(default)]
    pub run: RunSpec,
    #[serde(default)]
    pub targets: Targets,
}

/// Synthetic media each publisher sends.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSpec {
    /// Video RTP packets a second per publisher.
    pub video_pps: u32,
    /// Video payload bytes per packet (VP8 descriptor included).
    pub payload_bytes: usize,
    /// Video packets per frame (the first has S=1, the last the marker).
    pub packets_per_frame: u32,
    /// Seconds between keyframes.
    pub keyframe_interval_s: f64,
    /// Audio (Opus-like) packets a second per publisher; 0 sends none.
    pub audio_pps: u32,
    /// Audio payload bytes per packet.
    pub audio_bytes: usize,
}

impl Default for MediaSpec {
    fn default() -> Self {
        Self {
            video_pps: 50,
            payload_bytes: 1_000,
            packets_per_frame: 2,
            keyframe_interval_s: 2.0,
            audio_pps: 50,
            audio_bytes: 120,
        }
    }
}

/// How the harness runs the scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// SFU worker threads when the harness starts Parley itself.
    pub sfu_workers: usize,
    /// Joins in flight at once while everyone joins.
    pub join_concurrency: usize,
    /// Seconds of media before the measured phase starts.
    pub warmup_s: f64,
    /// Seconds after the measured phase's start from which memory growth is
    /// counted (soak); defaults to a third of `duration_s`.
    pub memory_warmup_s: Option<f64>,
    /// Which WebRTC client the load clients use.
    pub client: ClientKind,
    /// OS threads of the lightweight client (`client = "light"`).
    pub light_threads: usize,
    /// How long, in µs, a busy SFU worker of the in-process Parley gathers
    /// packets before its next turn (0: a turn on every wake-up).
    pub sfu_coalesce_us: parley_sfu::engine::coalescing::Coalescing,
}

/// The WebRTC client behind each load client.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// webrtc-rs async client (`parley_client`): one tokio-driven peer
    /// connection per client.
    #[default]
    Async,
    /// Lightweight client: sans-IO `rtc` peer connections multiplexed on
    /// `light_threads` OS threads, one UDP socket each. Simulcast
    /// publishers and capped receivers still use the async client.
    Light,
}

impl ClientKind {
    /// `"async"` or `"light"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Async => "async",
            ClientKind::Light => "light",
        }
    }
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            sfu_workers: 2,
            join_concurrency: 8,
            warmup_s: 2.0,
            memory_warmup_s: None,
            client: ClientKind::Async,
            light_threads: 1,
            sfu_coalesce_us: Default::default(),
        }
    }
}

/// A hearing: a judge and other publishing participants, and receive-only
/// observers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HearingSpec {
    /// Publishing participants, the judge included (at least 1).
    pub participants: u32,
    /// Receive-only public observers.
    #[serde(default)]
    pub observers: u32,
    /// Participants publish three simulcast VP8 layers.
    #[serde(default)]
    pub simulcast: bool,
    /// Receive caps of observers, in kbit/s, given round-robin (REMB); empty:
    /// no cap.
    #[serde(default)]
    pub observer_caps_kbps: Vec<u64>,
}

/// Churn: `rooms` visits whose detainee stays while the visitor leaves and
/// joins again (a new WebSocket and a new peer connection each time).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// Visits taking part in the churn.
    pub rooms: u32,
    /// New joins a second over all rooms (each followed by a leave).
    pub joins_per_s: f64,
    /// Seconds a visitor stays before leaving.
    pub stay_s: f64,
}

/// What a run must achieve; a missed target fails the run. Absent: not
/// checked.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// 95th percentile of join time (token request → first media packet), ms.
    pub join_p95_ms: Option<f64>,
    /// 99th percentile of one-way media latency, ms.
    pub latency_p99_ms: Option<f64>,
    /// Largest loss over all streams, as a fraction (0.005 = 0.5 %).
    pub loss_max: Option<f64>,
    /// 95th percentile of per-stream interarrival jitter, ms.
    pub jitter_p95_ms: Option<f64>,
    /// Most video freezes (gaps over 500 ms) allowed over the run.
    pub freezes_max: Option<u64>,
    /// SFU worker CPU per forwarded packet, µs.
    pub cpu_us_per_packet_max: Option<f64>,
    /// Process memory growth after the memory warm-up, MB (10^6 bytes).
    pub memory_growth_max_mb: Option<f64>,
    /// The same growth as a share of the resident memory at the end of
    /// the warm-up, %.
    pub memory_growth_max_pct: Option<f64>,
}

/// Above zero (false for NaN).
fn positive(x: f64) -> bool {
    x > 0.0
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        scenario.check(path)?;
        Ok(scenario)
    }

    fn check(&self, path: &Path) -> Result<(), ScenarioError> {
        let bad = |key: &'static str, problem: &str| {
            Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                key,
                problem: problem.to_string(),
            })
        };
        if !(self.duration_s > 0.0 && self.duration_s <= 24.0 * 3600.0) {
            return bad("duration_s", "must be above 0 and at most 86400 seconds");
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad("name", "must be non-empty letters, digits, '-' or '_'");
        }
        let churn_rooms = self.churn.as_ref().map_or(0, |c| c.rooms);
        if self.visits == 0 && self.hearing.is_none() && churn_rooms == 0 {
            return bad(
                "visits",
                "is 0 and there is no [hearing] nor [churn]: nothing to run",
            );
        }
        let m = &self.media;
        if m.video_pps == 0 || m.video_pps > 1_000 {
            return bad("media.video_pps", "must be 1 to 1000 packets a second");
        }
        if m.audio_pps > 1_000 {
            return bad("media.audio_pps", "must be at most 1000 packets a second");
        }
        if !(crate::payload::MIN_VIDEO_BYTES..=1_200).contains(&m.payload_bytes) {
            return bad(
                "media.payload_bytes",
                &format!("must be {} to 1200 bytes", crate::payload::MIN_VIDEO_BYTES),
            );
        }
        if !(crate::payload::MIN_AUDIO_BYTES..=1_200).contains(&m.audio_bytes) {
            return bad(
                "media.audio_bytes",
                &format!("must be {} to 1200 bytes", crate::payload::MIN_AUDIO_BYTES),
            );
        }
        if m.packets_per_frame == 0 || m.packets_per_frame > m.video_pps {
            return bad("media.packets_per_frame", "must be 1 to video_pps");
        }
        if !positive(m.keyframe_interval_s) {
            return bad("media.keyframe_interval_s", "must be above 0");
        }
        if self.run.sfu_workers == 0 || self.run.sfu_workers > 64 {
            return bad("run.sfu_workers", "must be 1 to 64");
        }
        if self.run.join_concurrency == 0 {
            return bad("run.join_concurrency", "must be at least 1");
        }
        if self.run.light_threads == 0 || self.run.light_threads > 64 {
            return bad("run.light_threads", "must be 1 to 64");
        }
        if !(positive(self.run.warmup_s) || self.run.warmup_s == 0.0) {
            return bad("run.warmup_s", "must be 0 or more");
        }
        if let Some(w) = self.run.memory_warmup_s
            && !(0.0..self.duration_s).contains(&w)
        {
            return bad(
                "run.memory_warmup_s",
                "must be 0 or more and below duration_s",
            );
        }
        if let Some(h) = &self.hearing
            && h.participants == 0
        {
            return bad("hearing.participants", "must be at least 1 (the judge)");
        }
        if let Some(c) = &self.churn {
            if c.rooms == 0 {
                return bad("churn.rooms", "must be at least 1");
            }
            if !positive(c.joins_per_s) || !positive(c.stay_s) {
                return bad("churn.joins_per_s", "and churn.stay_s must be above 0");
            }
            if c.joins_per_s * c.stay_s > f64::from(c.rooms) {
                return bad(
                    "churn.joins_per_s",
                    &format!(
                        "× churn.stay_s = {:.1} visitors at once, more than churn.rooms = {} (one visitor per room at a time)",
                        c.joins_per_s * c.stay_s,
                        c.rooms
                    ),
                );
            }
        }
        if let Some(l) = self.targets.loss_max
            && !(0.0..=1.0).contains(&l)
        {
            return bad(
                "targets.loss_max",
                "is a fraction from 0 to 1 (0.005 = 0.5 %)",
            );
        }
        Ok(())
    }

    /// The same scenario measured for `duration_s` seconds; a memory
    /// warm-up that no longer fits becomes a third of it.
    pub fn with_duration(mut self, duration_s: f64, path: &Path) -> Result<Self, ScenarioError> {
        self.duration_s = duration_s;
        if self.run.memory_warmup_s.is_some_and(|w| w >= duration_s) {
            self.run.memory_warmup_s = None;
        }
        self.check(path)?;
        Ok(self)
    }

    /// The same scenario with its load clients on `client` (the command
    /// line's `--client`).
    pub fn with_client(mut self, client: ClientKind) -> Self {
        self.run.client = client;
        self
    }

    /// The same scenario with the in-process SFU's turns coalesced over
    /// `coalescing`.
    pub fn with_sfu_coalescing(
        mut self,
        coalescing: parley_sfu::engine::coalescing::Coalescing,
    ) -> Self {
        self.run.sfu_coalesce_us = coalescing;
        self
    }

    /// Seconds after the measured phase's start from which memory growth
    /// is counted.
    pub fn memory_warmup_s(&self) -> f64 {
        self.run.memory_warmup_s.unwrap_or(self.duration_s / 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("t.toml"))
    }

    #[test]
    fn a_minimal_scenario_takes_the_defaults() {
        let s = parse("name = \"x\"\nvisits = 3\nduration_s = 5\n").expect("parses");
        assert_eq!(s.visits, 3);
        assert_eq!(s.media, MediaSpec::default());
        assert_eq!(s.run.sfu_workers, 2);
        assert_eq!(s.targets, Targets::default());
        assert!((s.memory_warmup_s() - 5.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_client_is_chosen_per_scenario_and_checked() {
        let s = parse("name = \"x\"\nvisits = 1\nduration_s = 5\n").expect("parses");
        assert_eq!((s.run.client, s.run.light_threads), (ClientKind::Async, 1));
        let s = parse("name = \"x\"\nvisits = 1\nduration_s = 5\n[run]\nclient = \"light\"\nlight_threads = 2\n")
            .expect("parses");
        assert_eq!((s.run.client, s.run.light_threads), (ClientKind::Light, 2));
        assert_eq!(
            s.with_client(ClientKind::Async).run.client,
            ClientKind::Async
        );
        let e = parse("name = \"x\"\nvisits = 1\nduration_s = 5\n[run]\nclient = \"fast\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("light"), "{e}");
        let e = parse("name = \"x\"\nvisits = 1\nduration_s = 5\n[run]\nlight_threads = 0\n")
            .unwrap_err();
        assert!(e.to_string().contains("`run.light_threads`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("name = \"x\"\nvisits = 1\nduration_s = 5\nvisitz = 2\n").unwrap_err();
        assert!(e.to_string().contains("visitz"), "{e}");
        let e = parse("name = \"x\"\nvisits = 1\nduration_s = 5\n[targets]\nlatency_p99 = 5\n")
            .unwrap_err();
        assert!(e.to_string().contains("latency_p99"), "{e}");
        let e = parse("name = \"x\"\nvisits = 1\n").unwrap_err();
        assert!(e.to_string().contains("duration_s"), "{e}");
        let e = parse("name = \"x\"\nvisits = \"many\"\nduration_s = 5\n").unwrap_err();
        assert!(e.to_string().contains("visits"), "{e}");
    }

    #[test]
    fn impossible_values_name_their_key() {
        let cases = [
            ("name = \"x\"\nduration_s = 5\n", "`visits`"),
            ("name = \"x\"\nvisits = 1\nduration_s = 0\n", "`duration_s`"),
            ("name = \"a b\"\nvisits = 1\nduration_s = 1\n", "`name`"),
            (
                "name = \"x\"\nvisits = 1\nduration_s = 5\n[media]\npayload_bytes = 10\n",
                "`media.payload_bytes`",
            ),
            (
                "name = \"x\"\nvisits = 1\nduration_s = 5\n[media]\nvideo_pps = 0\n",
                "`media.video_pps`",
            ),
            (
                "name = \"x\"\nvisits = 1\nduration_s = 5\n[targets]\nloss_max = 5\n",
                "`targets.loss_max`",
            ),
            (
                "name = \"x\"\nduration_s = 5\n[churn]\nrooms = 2\njoins_per_s = 1\nstay_s = 3\n",
                "`churn.joins_per_s`",
            ),
            (
                "name = \"x\"\nduration_s = 5\n[hearing]\nparticipants = 0\n",
                "`hearing.participants`",
            ),
            (
                "name = \"x\"\nvisits = 1\nduration_s = 5\n[run]\nmemory_warmup_s = 9\n",
                "`run.memory_warmup_s`",
            ),
        ];
        for (text, key) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_shipped_scenarios_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/loadtest");
        for name in [
            "smoke",
            "visits-20",
            "visits-200",
            "hearing",
            "churn",
            "soak",
        ] {
            let s = Scenario::load(&dir.join(format!("{name}.toml"))).expect(name);
            assert_eq!(s.name, name);
        }
        let soak = Scenario::load(&dir.join("soak.toml")).expect("soak");
        assert!(soak.duration_s >= 600.0 && soak.churn.is_some());
        assert!(soak.targets.memory_growth_max_mb.is_some());
        let short = soak
            .with_duration(60.0, Path::new("soak.toml"))
            .expect("60 s");
        assert_eq!((short.duration_s, short.memory_warmup_s()), (60.0, 20.0));
        let e = short
            .with_duration(0.0, Path::new("soak.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("`duration_s`"), "{e}");
    }
}
