//! The result of a run: figures, targets met or missed, and its JSON,
//! Markdown and terminal forms.

use crate::sampler::Sample;
use crate::scenario::Targets;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// p50, p95, p99 and max of some values, and how many there were.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Dist {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Dist {
    /// From plain values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let [p50, p95, p99, max] = crate::stats::summary(values)?;
        Some(Self {
            count: values.len() as u64,
            p50,
            p95,
            p99,
            max,
        })
    }
}

/// Join times over all joins, ms from the token request.
#[derive(Debug, Clone, Serialize, Default)]
pub struct JoinReport {
    pub attempted: u64,
    pub failed: u64,
    /// Until `welcome`.
    pub welcome_ms: Option<Dist>,
    /// Until the SFU's `answer`.
    pub answer_ms: Option<Dist>,
    /// Until ICE and DTLS connected.
    pub connected_ms: Option<Dist>,
    /// Until the first media packet from anyone (the headline join time).
    pub first_media_ms: Option<Dist>,
    /// Until the first VP8 keyframe (bounded by the generator's keyframe
    /// interval: it does not answer PLI).
    pub first_keyframe_ms: Option<Dist>,
    /// Joins that never received media.
    pub no_media: u64,
}

/// Packets and what became of them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PacketReport {
    /// Packets the publishers sent (audio + video), whole run.
    pub sent: u64,
    /// Distinct packets the receivers should have got, whole run.
    pub expected: u64,
    /// Distinct packets they got.
    pub received: u64,
    pub duplicates: u64,
    /// Loss over all streams together (fraction).
    pub loss: f64,
    /// Worst single stream's loss (fraction).
    pub loss_max_stream: f64,
    /// Streams (receiver × sender × kind).
    pub streams: u64,
    /// Expected video streams that delivered nothing.
    pub silent_streams: u64,
    /// The first silent streams, as `receiver ← sender`.
    pub silent: Vec<String>,
}

/// The SFU's work in the measured phase.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SfuReport {
    pub forwarded: Option<f64>,
    pub forwarded_per_s: Option<f64>,
    /// SFU worker threads' CPU, seconds.
    pub cpu_s: Option<f64>,
    /// Worker CPU over forwarded packets, µs.
    pub cpu_us_per_packet: Option<f64>,
    /// Worker CPU in cores (1.0 = one core busy).
    pub cores: Option<f64>,
}

/// Resident memory of the process (in-process runs).
#[derive(Debug, Clone, Serialize, Default)]
pub struct MemoryReport {
    pub before_joins_mb: Option<f64>,
    pub measured_start_mb: Option<f64>,
    pub end_mb: Option<f64>,
    /// Growth from `warmup_s` into the measured phase to its end, MB.
    pub growth_after_warmup_mb: Option<f64>,
    /// That growth as a share of the RSS at `warmup_s`, %.
    pub growth_after_warmup_pct: Option<f64>,
    pub warmup_s: f64,
    /// (RSS at the measured start − before joins) / participants, kB: an
    /// upper bound for the SFU's share, as the clients live in the same
    /// process.
    pub per_participant_kb: Option<f64>,
}

/// Whether the load generator, not Parley, limited the run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GeneratorReport {
    pub cores_available: usize,
    /// This process's CPU in cores over the measured phase.
    pub process_cores: Option<f64>,
    /// The part not spent in SFU workers: load clients, signaling, harness.
    pub non_sfu_cores: Option<f64>,
    /// How late sends were against their schedule, ms.
    pub send_lateness_ms: Option<Dist>,
    /// Send slots skipped for lateness (the rate fell below the target).
    pub skipped_sends: u64,
    pub send_errors: u64,
    /// Packets (audio + video) a second per publisher in the measured
    /// phase; the scenario asks for `pps_wanted`.
    pub pps_achieved: Option<f64>,
    pub pps_wanted: f64,
    pub bottleneck: bool,
    pub note: String,
    /// The scenario's client: `async` or `light`.
    pub client: String,
    /// Clients whose media ran on the lightweight engine.
    pub light_clients: u64,
    /// Clients whose media ran on the async webrtc-rs client.
    pub async_clients: u64,
    /// Packets the load clients sent and received in the measured phase.
    pub client_packets: Option<u64>,
    /// Non-SFU CPU per packet sent or received by a load client, µs: the
    /// clients' cost with signaling and the harness (comparable between
    /// clients).
    pub non_sfu_us_per_packet: Option<f64>,
    /// CPU of the lightweight client's threads, in cores.
    pub light_cores: Option<f64>,
    /// The lightweight client's threads' CPU per packet sent or received,
    /// µs (exact: its own threads only).
    pub light_us_per_packet: Option<f64>,
    /// Datagrams the lightweight client could not send (socket buffer full).
    pub light_dropped_datagrams: u64,
}

/// One target's verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetCheck {
    pub name: &'static str,
    pub target: f64,
    /// `None`: nothing was measured, which misses the target.
    pub actual: Option<f64>,
    pub met: bool,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub scenario_file: String,
    pub started_at: String,
    /// `in-process` or the target's URL.
    pub parley: String,
    pub measured_s: f64,
    pub publishers: u64,
    pub receivers: u64,
    pub churn_joins: u64,
    pub join: JoinReport,
    /// One-way media latency in the measured phase, ms.
    pub latency_ms: Option<Dist>,
    /// Per-stream RFC 3550 interarrival jitter, ms.
    pub jitter_ms: Option<Dist>,
    pub freezes: u64,
    pub frozen_s: f64,
    pub packets: PacketReport,
    pub sfu: SfuReport,
    pub memory: MemoryReport,
    pub generator: GeneratorReport,
    /// Simulcast: receive cap (kbit/s, 0 = none) → layer → video packets.
    pub simulcast_layers: BTreeMap<u64, BTreeMap<String, u64>>,
    pub targets: Vec<TargetCheck>,
    /// The first errors (joins that failed and why).
    pub errors: Vec<String>,
    /// Latency CDF points: (latency ms, fraction at or below).
    pub latency_cdf: Vec<(f64, f64)>,
    pub samples: Vec<Sample>,
}

/// Checks each target set in `targets`; smaller is better for all.
pub fn check_targets(t: &Targets, r: &Report) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, target: Option<f64>, actual: Option<f64>| {
        if let Some(target) = target {
            out.push(TargetCheck {
                name,
                target,
                actual,
                met: actual.is_some_and(|a| a <= target),
            });
        }
    };
    check(
        "join_p95_ms",
        t.join_p95_ms,
        r.join.first_media_ms.map(|d| d.p95),
    );
    check(
        "latency_p99_ms",
        t.latency_p99_ms,
        r.latency_ms.map(|d| d.p99),
    );
    check(
        "loss_max",
        t.loss_max,
        (r.packets.streams > 0).then_some(r.packets.loss_max_stream),
    );
    check("jitter_p95_ms", t.jitter_p95_ms, r.jitter_ms.map(|d| d.p95));
    check(
        "freezes_max",
        t.freezes_max.map(|f| f as f64),
        Some(r.freezes as f64),
    );
    check(
        "cpu_us_per_packet_max",
        t.cpu_us_per_packet_max,
        r.sfu.cpu_us_per_packet,
    );
    check(
        "memory_growth_max_mb",
        t.memory_growth_max_mb,
        r.memory.growth_after_warmup_mb,
    );
    check(
        "memory_growth_max_pct",
        t.memory_growth_max_pct,
        r.memory.growth_after_warmup_pct,
    );
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.digits$}"))
}

fn dist(d: Option<Dist>) -> String {
    d.map_or_else(
        || "n/a".to_string(),
        |d| format!("{:.1} / {:.1} / {:.1} / {:.1}", d.p50, d.p95, d.p99, d.max),
    )
}

impl Report {
    /// Whether every target was met.
    pub fn passed(&self) -> bool {
        self.targets.iter().all(|t| t.met)
    }

    /// One line per missed target.
    pub fn missed(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| !t.met)
            .map(|t| {
                format!(
                    "target missed: {} = {} (target ≤ {})",
                    t.name,
                    opt(t.actual, 4),
                    t.target
                )
            })
            .collect()
    }

    /// The main figures as (what, value) rows.
    pub fn rows(&self) -> Vec<(String, String)> {
        let p = &self.packets;
        let g = &self.generator;
        vec![
            ("parley".into(), self.parley.clone()),
            ("measured".into(), format!("{:.1} s", self.measured_s)),
            (
                "publishers / receivers".into(),
                format!("{} / {}", self.publishers, self.receivers),
            ),
            (
                "joins (failed, churn)".into(),
                format!(
                    "{} ({}, {})",
                    self.join.attempted, self.join.failed, self.churn_joins
                ),
            ),
            (
                "join → first media ms p50/p95/p99/max".into(),
                dist(self.join.first_media_ms),
            ),
            (
                "join → connected ms p50/p95/p99/max".into(),
                dist(self.join.connected_ms),
            ),
            (
                "join → first keyframe ms p50/p95/p99/max".into(),
                dist(self.join.first_keyframe_ms),
            ),
            ("latency ms p50/p95/p99/max".into(), dist(self.latency_ms)),
            (
                "jitter ms p50/p95/p99/max (streams)".into(),
                dist(self.jitter_ms),
            ),
            (
                "packets sent / expected / received".into(),
                format!("{} / {} / {}", p.sent, p.expected, p.received),
            ),
            (
                "loss all / worst stream".into(),
                format!(
                    "{:.4} % / {:.4} %",
                    p.loss * 100.0,
                    p.loss_max_stream * 100.0
                ),
            ),
            (
                "streams (silent)".into(),
                format!("{} ({})", p.streams, p.silent_streams),
            ),
            (
                "freezes (> 500 ms), total".into(),
                format!("{}, {:.1} s", self.freezes, self.frozen_s),
            ),
            (
                "SFU forwarded pkt/s".into(),
                opt(self.sfu.forwarded_per_s, 0),
            ),
            (
                "SFU CPU µs / forwarded packet".into(),
                opt(self.sfu.cpu_us_per_packet, 2),
            ),
            ("SFU worker cores".into(), opt(self.sfu.cores, 2)),
            (
                "process cores (of available)".into(),
                format!("{} (of {})", opt(g.process_cores, 2), g.cores_available),
            ),
            (
                "non-SFU cores (clients, signaling)".into(),
                opt(g.non_sfu_cores, 2),
            ),
            (
                "load clients: light / async".into(),
                format!(
                    "{} / {} (scenario client: {})",
                    g.light_clients, g.async_clients, g.client
                ),
            ),
            (
                "client pkt sent+received, non-SFU µs each".into(),
                format!(
                    "{}, {}",
                    g.client_packets.map_or("n/a".into(), |p| p.to_string()),
                    opt(g.non_sfu_us_per_packet, 2)
                ),
            ),
            (
                "light client cores, µs / packet".into(),
                format!(
                    "{}, {}",
                    opt(g.light_cores, 2),
                    opt(g.light_us_per_packet, 2)
                ),
            ),
            (
                "send lateness ms p50/p95/p99/max".into(),
                dist(g.send_lateness_ms),
            ),
            (
                "pkt/s per publisher sent (wanted)".into(),
                format!("{} ({})", opt(g.pps_achieved, 1), g.pps_wanted),
            ),
            (
                "RSS MB before joins / start / end".into(),
                format!(
                    "{} / {} / {}",
                    opt(self.memory.before_joins_mb, 1),
                    opt(self.memory.measured_start_mb, 1),
                    opt(self.memory.end_mb, 1)
                ),
            ),
            (
                "RSS growth after warm-up MB (%)".into(),
                format!(
                    "{} ({})",
                    opt(self.memory.growth_after_warmup_mb, 1),
                    opt(self.memory.growth_after_warmup_pct, 1)
                ),
            ),
            (
                "RSS per participant kB (upper bound)".into(),
                opt(self.memory.per_participant_kb, 0),
            ),
            (
                "generator bottleneck".into(),
                format!("{} — {}", if g.bottleneck { "yes" } else { "no" }, g.note),
            ),
        ]
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = format!("scenario {} ({})\n", self.scenario, self.scenario_file);
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<w$}  {v}");
        }
        for t in &self.targets {
            let _ = writeln!(
                s,
                "  target {:<22} {:>12} ≤ {:<10} {}",
                t.name,
                opt(t.actual, 4),
                t.target,
                if t.met { "met" } else { "MISSED" }
            );
        }
        s
    }

    /// The Markdown report; `plots` are file names beside it.
    pub fn markdown(&self, plots: &[(&str, &str)]) -> String {
        let mut s = format!(
            "# Load test: {}\n\nScenario `{}`, started {} against {}.\n\n| measure | value |\n|---|---|\n",
            self.scenario, self.scenario_file, self.started_at, self.parley
        );
        for (k, v) in self.rows() {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        if !self.targets.is_empty() {
            s.push_str("\n## Targets\n\n| target | actual | limit | |\n|---|---|---|---|\n");
            for t in &self.targets {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} |",
                    t.name,
                    opt(t.actual, 4),
                    t.target,
                    if t.met { "met" } else { "**missed**" }
                );
            }
        }
        if !self.simulcast_layers.is_empty() {
            s.push_str("\n## Simulcast layers received\n\n| receive cap kbit/s | layer packets |\n|---|---|\n");
            for (cap, layers) in &self.simulcast_layers {
                let l: Vec<String> = layers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let _ = writeln!(
                    s,
                    "| {} | {} |",
                    if *cap == 0 {
                        "none".to_string()
                    } else {
                        cap.to_string()
                    },
                    l.join(", ")
                );
            }
        }
        if !self.packets.silent.is_empty() {
            s.push_str("\n## Silent streams (receiver ← sender)\n\n");
            for e in &self.packets.silent {
                let _ = writeln!(s, "- {e}");
            }
        }
        if !self.errors.is_empty() {
            s.push_str("\n## Errors\n\n");
            for e in &self.errors {
                let _ = writeln!(s, "- {e}");
            }
        }
        if !plots.is_empty() {
            s.push_str("\n## Plots\n\n");
            for (title, file) in plots {
                let _ = writeln!(s, "![{title}]({file})\n");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_target_is_named_and_an_unmeasured_one_misses() {
        let mut r = Report {
            latency_ms: Dist::of(&[1.0, 2.0, 30.0]),
            ..Report::default()
        };
        r.packets.streams = 2;
        r.packets.loss_max_stream = 0.01;
        let t = Targets {
            latency_p99_ms: Some(50.0),
            loss_max: Some(0.005),
            join_p95_ms: Some(500.0),
            ..Targets::default()
        };
        r.targets = check_targets(&t, &r);
        assert_eq!(r.targets.len(), 3);
        assert!(!r.passed());
        let missed = r.missed();
        assert_eq!(missed.len(), 2, "{missed:?}");
        assert!(missed[0].contains("join_p95_ms = n/a"), "{missed:?}");
        assert!(missed[1].contains("loss_max"), "{missed:?}");
        r.join.first_media_ms = Dist::of(&[100.0]);
        r.packets.loss_max_stream = 0.0;
        r.targets = check_targets(&t, &r);
        assert!(r.passed());
        assert!(r.table().contains("met"));
        assert!(
            r.markdown(&[("cdf", "latency.png")])
                .contains("![cdf](latency.png)")
        );
    }
}
