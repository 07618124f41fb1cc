//! The SFU's counters as a Prometheus collector, read from the workers'
//! atomics at scrape time and served by whichever registry holds it:
//! signaling's `/metrics` for the SFU in its process, the node's own for
//! `parley sfu`. One Prometheus stack (the `prometheus` crate) for every
//! series Parley exports.

use super::handle::{Sfu, SfuStats};
use super::load::{LatencySnapshot, WorkerLoadSnapshot};
use prometheus::TextEncoder;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The SFU's counters: name, help, and the value in [`SfuStats`].
/// A series: its name, its help text, and where its value comes from.
type Series<F> = (&'static str, &'static str, F);
/// A counter's value in the stats.
type CounterOf = fn(&SfuStats) -> u64;
/// A histogram's snapshot in the stats.
type HistogramOf = fn(&SfuStats) -> &LatencySnapshot;
/// A worker gauge's value in a worker's load.
type WorkerGaugeOf = fn(&WorkerLoadSnapshot) -> f64;

const COUNTERS: [Series<CounterOf>; 52] = [
    (
        "parley_sfu_datagrams_in_total",
        "UDP datagrams received by the media workers",
        |s| s.datagrams_in,
    ),
    (
        "parley_sfu_datagrams_unrouted_total",
        "Datagrams dropped: unknown peer, malformed, or refused by ICE/DTLS/SRTP",
        |s| s.datagrams_unrouted,
    ),
    (
        "parley_sfu_datagrams_out_total",
        "UDP datagrams sent by the media workers",
        |s| s.datagrams_out,
    ),
    (
        "parley_sfu_rtp_packets_in_total",
        "Decrypted RTP packets received from publishers",
        |s| s.rtp_in,
    ),
    (
        "parley_sfu_rtp_bytes_in_total",
        "RTP payload bytes received from publishers",
        |s| s.rtp_bytes_in,
    ),
    (
        "parley_sfu_rtp_packets_forwarded_total",
        "RTP packets written to subscribers",
        |s| s.rtp_forwarded,
    ),
    (
        "parley_sfu_rtp_bytes_forwarded_total",
        "RTP payload bytes written to subscribers",
        |s| s.rtp_bytes_forwarded,
    ),
    (
        "parley_sfu_forward_errors_total",
        "RTP packets that could not be written to a subscriber",
        |s| s.forward_errors,
    ),
    (
        "parley_sfu_keyframe_requests_relayed_total",
        "PLI sent to publishers on subscribers' behalf",
        |s| s.plis_relayed,
    ),
    (
        "parley_sfu_keyframe_requests_throttled_total",
        "Subscribers' keyframe requests held back (one per publisher per 500 ms)",
        |s| s.keyframe_requests_throttled,
    ),
    (
        "parley_sfu_slots_exhausted_total",
        "Publishers a subscriber had no receive slot for",
        |s| s.slots_exhausted,
    ),
    (
        "parley_sfu_simulcast_switches_total",
        "Subscribers moved to another simulcast layer, each on a keyframe",
        |s| s.simulcast_switches,
    ),
    (
        "parley_sfu_layer_pause_changes_total",
        "Times a simulcast publisher was asked to pause or resume layers nobody or somebody needs",
        |s| s.layer_pause_changes,
    ),
    (
        "parley_sfu_datagrams_dropped_total",
        "Datagrams the media socket refused (buffer full, unreachable)",
        |s| s.datagrams_dropped,
    ),
    (
        "parley_sfu_send_calls_total",
        "System calls that sent datagrams (sendmmsg batches up to 64)",
        |s| s.send_calls,
    ),
    (
        "parley_sfu_tcp_frames_in_total",
        "ICE-TCP frames received (RFC 4571)",
        |s| s.tcp_frames_in,
    ),
    (
        "parley_sfu_tcp_frames_out_total",
        "ICE-TCP frames sent",
        |s| s.tcp_frames_out,
    ),
    (
        "parley_sfu_packets_lost_in_total",
        "Publishers' RTP packets that never reached the SFU",
        |s| s.packets_lost_in,
    ),
    (
        "parley_sfu_nacks_sent_total",
        "NACKs the SFU sent to publishers",
        |s| s.nacks_sent,
    ),
    (
        "parley_sfu_nacks_received_total",
        "NACKs subscribers sent to the SFU",
        |s| s.nacks_received,
    ),
    (
        "parley_sfu_retransmissions_total",
        "RTP packets sent again in answer to NACKs",
        |s| s.retransmissions,
    ),
    (
        "parley_sfu_nack_misses_total",
        "Packets subscribers asked for that the SFU no longer had (older than 1 s or 1024 packets)",
        |s| s.nack_misses,
    ),
    (
        "parley_sfu_retransmissions_suppressed_total",
        "Resends held back: within a round trip of the last, after 3, or over half the leg's rate",
        |s| s.retransmissions_suppressed,
    ),
    (
        "parley_sfu_rtx_sent_total",
        "Resends sent on a subscriber's RTX repair stream (RFC 4588), where it negotiated one",
        |s| s.rtx_sent,
    ),
    (
        "parley_sfu_probes_total",
        "Probe clusters sent to test a subscriber's downlink before its paused video is given back",
        |s| s.probes,
    ),
    (
        "parley_sfu_probe_bytes_total",
        "Bytes of RTP sent in probe clusters (resends of recent video on the subscriber's RTX stream)",
        |s| s.probe_bytes,
    ),
    (
        "parley_sfu_sealed_packets_total",
        "RTP packets the SFU encrypted itself with the connection's proven SRTP key",
        |s| s.sealed_packets,
    ),
    (
        "parley_sfu_sealing_proven_total",
        "Connections whose captured SRTP key reproduced rtc's own packet exactly",
        |s| s.sealing_proven,
    ),
    (
        "parley_sfu_sealing_fallbacks_total",
        "Connections where no captured SRTP key did: their RTP stays on rtc's write path",
        |s| s.sealing_fallbacks,
    ),
    (
        "parley_sfu_opened_packets_total",
        "Publishers' RTP packets the SFU decrypted itself with the connection's proven remote SRTP key",
        |s| s.opened_packets,
    ),
    (
        "parley_sfu_opening_proven_total",
        "Connections whose captured remote SRTP key authenticated a publisher's packet",
        |s| s.opening_proven,
    ),
    (
        "parley_sfu_opening_fallbacks_total",
        "Connections where no captured key did: what they publish stays on rtc's read path",
        |s| s.opening_fallbacks,
    ),
    (
        "parley_sfu_rtp_refused_in_total",
        "Publishers' packets the SFU refused when decrypting: failed authentication",
        |s| s.rtp_refused_in,
    ),
    (
        "parley_sfu_rtcp_opened_total",
        "RTCP datagrams the SFU decrypted itself with the connection's proven remote SRTP key",
        |s| s.rtcp_opened,
    ),
    (
        "parley_sfu_rtcp_opening_proven_total",
        "Connections whose captured remote SRTP key authenticated their RTCP",
        |s| s.rtcp_opening_proven,
    ),
    (
        "parley_sfu_rtcp_opening_fallbacks_total",
        "Connections where no captured key did: their RTCP stays on rtc's read path",
        |s| s.rtcp_opening_fallbacks,
    ),
    (
        "parley_sfu_rtcp_refused_in_total",
        "RTCP datagrams the SFU refused when decrypting: failed authentication or a replayed index",
        |s| s.rtcp_refused_in,
    ),
    (
        "parley_sfu_rtp_duplicates_in_total",
        "Publishers' packets dropped as already taken (replays, duplicates) or older than the replay window",
        |s| s.rtp_duplicates_in,
    ),
    (
        "parley_sfu_sender_reports_total",
        "RTCP sender reports sent to subscribers (about one per leg per second)",
        |s| s.sender_reports,
    ),
    (
        "parley_sfu_transport_feedback_total",
        "Transport-wide congestion-control feedback packets read from subscribers",
        |s| s.transport_feedback,
    ),
    (
        "parley_sfu_video_pauses_total",
        "Times a source's video was paused for a subscriber whose downlink could not carry it with the audio",
        |s| s.video_pauses,
    ),
    (
        "parley_sfu_video_resumes_total",
        "Times such a paused video was resumed because the downlink could carry it again",
        |s| s.video_resumes,
    ),
    (
        "parley_sfu_remb_sent_total",
        "Receive limits (REMB) sent to single-layer video publishers, from their subscribers' downlinks",
        |s| s.remb_sent,
    ),
    (
        "parley_sfu_recorded_packets_total",
        "RTP packets handed to the recorder",
        |s| s.recorded_packets,
    ),
    (
        "parley_sfu_recorder_drops_total",
        "RTP packets the recorder link could not take (queue full or gone)",
        |s| s.recorder_drops,
    ),
    (
        "parley_sfu_recordings_interrupted_total",
        "Recordings whose stream to the recorder broke off (the media went on unrecorded)",
        |s| s.recordings_interrupted,
    ),
    (
        "parley_sfu_recordings_resumed_total",
        "Recordings the recorder took again after their stream broke off",
        |s| s.recordings_resumed,
    ),
    (
        "parley_sfu_announcement_packets_total",
        "Frames of the spoken recording notice played to members",
        |s| s.announcement_packets,
    ),
    (
        "parley_sfu_consent_expired_total",
        "Peers dropped because no authenticated ICE consent check came for 30 s (RFC 7675)",
        |s| s.consent_expired,
    ),
    (
        "parley_sfu_peers_silent_total",
        "Peers dropped because nothing at all arrived from them for 10 s",
        |s| s.peers_silent,
    ),
    (
        "parley_sfu_stun_forged_total",
        "Binding requests naming a peer's ufrag whose MESSAGE-INTEGRITY did not check out",
        |s| s.stun_forged,
    ),
    (
        "parley_sfu_datagrams_limited_total",
        "STUN from unlearned addresses dropped unread: its source had spent its budget of refused requests",
        |s| s.datagrams_limited,
    ),
];

/// The histograms: name, help, and the snapshot in [`SfuStats`].
const HISTOGRAMS: [Series<HistogramOf>; 2] = [
    (
        "parley_sfu_forward_latency_us",
        "Forwarding latency of RTP packets, receive to send, in microseconds",
        |s| &s.latency,
    ),
    (
        "parley_sfu_peer_rtt_us",
        "Round-trip time to subscribers, from their receiver reports of the SFU's sender reports, in microseconds",
        |s| &s.rtt,
    ),
];

/// Per-worker gauges (label `worker`): name, help, and the value.
const WORKER_GAUGES: [Series<WorkerGaugeOf>; 4] = [
    (
        "parley_sfu_worker_rooms",
        "Rooms placed on each media worker",
        |w| w.rooms as f64,
    ),
    (
        "parley_sfu_worker_peers",
        "Peer connections (participants) on each media worker",
        |w| w.peers as f64,
    ),
    (
        "parley_sfu_worker_cpu_seconds",
        "CPU time of each media worker thread, in seconds",
        |w| w.cpu_ns as f64 / 1e9,
    ),
    (
        "parley_sfu_worker_tcp_links",
        "Open ICE-TCP connections on each media worker",
        |w| w.tcp_links as f64,
    ),
];

const DOWNLINKS: (&str, &str) = (
    "parley_sfu_downlinks",
    "Connected peers by how their downlink is estimated: from transport-wide feedback, awaiting it, from REMB, or assumed",
);

/// The SFU's series, collected from its workers at every scrape.
pub struct SfuCollector {
    sfu: Arc<Sfu>,
    descs: Vec<Desc>,
}

impl SfuCollector {
    pub fn new(sfu: Arc<Sfu>) -> Self {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(
                name.to_string(),
                help.to_string(),
                labels.iter().map(|l| l.to_string()).collect(),
                HashMap::new(),
            )
        };
        let descs = COUNTERS
            .iter()
            .map(|(name, help, _)| desc(name, help, &[]))
            .chain(
                HISTOGRAMS
                    .iter()
                    .map(|(name, help, _)| desc(name, help, &[])),
            )
            .chain(
                WORKER_GAUGES
                    .iter()
                    .map(|(name, help, _)| desc(name, help, &["worker"])),
            )
            .chain([desc(DOWNLINKS.0, DOWNLINKS.1, &["worker", "estimate"])])
            .filter_map(|d| match d {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::error!(error = %e, "an SFU metric is malformed; it is not exported");
                    None
                }
            })
            .collect();
        Self { sfu, descs }
    }
}

impl Collector for SfuCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        families(&self.sfu.stats())
    }
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn labelled(labels: &[(&str, String)]) -> Metric {
    let mut m = Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut l = LabelPair::default();
                l.set_name(name.to_string());
                l.set_value(value.clone());
                l
            })
            .collect(),
    );
    m
}

fn gauge(labels: &[(&str, String)], value: f64) -> Metric {
    let mut m = labelled(labels);
    let mut g = Gauge::default();
    g.set_value(value);
    m.set_gauge(g);
    m
}

fn histogram(h: &LatencySnapshot) -> Metric {
    let mut out = Histogram::default();
    out.set_sample_count(h.count);
    out.set_sample_sum(h.sum_us as f64);
    out.set_bucket(
        h.cumulative
            .iter()
            .map(|(bound, count)| {
                let mut b = Bucket::default();
                b.set_upper_bound(*bound as f64);
                b.set_cumulative_count(*count);
                b
            })
            .collect(),
    );
    let mut m = Metric::default();
    m.set_histogram(out);
    m
}

/// The metric families of `stats`.
pub fn families(stats: &SfuStats) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    for (name, help, value) in COUNTERS {
        let mut m = Metric::default();
        let mut c = Counter::default();
        c.set_value(value(stats) as f64);
        m.set_counter(c);
        out.push(family(name, help, MetricType::COUNTER, vec![m]));
    }
    for (name, help, snapshot) in HISTOGRAMS {
        out.push(family(
            name,
            help,
            MetricType::HISTOGRAM,
            vec![histogram(snapshot(stats))],
        ));
    }
    for (name, help, value) in WORKER_GAUGES {
        let metrics = stats
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| gauge(&[("worker", i.to_string())], value(w)))
            .collect();
        out.push(family(name, help, MetricType::GAUGE, metrics));
    }
    let downlinks = stats
        .workers
        .iter()
        .enumerate()
        .flat_map(|(i, w)| {
            super::downlinks::EstimateState::ALL
                .into_iter()
                .map(move |state| {
                    gauge(
                        &[
                            ("worker", i.to_string()),
                            ("estimate", state.label().to_string()),
                        ],
                        w.downlinks[state.index()] as f64,
                    )
                })
        })
        .collect();
    out.push(family(
        DOWNLINKS.0,
        DOWNLINKS.1,
        MetricType::GAUGE,
        downlinks,
    ));
    out
}

/// `stats` in Prometheus text exposition.
pub fn render(stats: &SfuStats) -> String {
    TextEncoder::new()
        .encode_to_string(&families(stats))
        .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> SfuStats {
        SfuStats {
            rtp_forwarded: 1234,
            latency: LatencySnapshot {
                cumulative: vec![(250, 3), (1000, 5)],
                count: 6,
                sum_us: 4321,
            },
            workers: vec![
                WorkerLoadSnapshot {
                    rooms: 2,
                    peers: 4,
                    cpu_ns: 1_500_000_000,
                    tcp_links: 0,
                    downlinks: [1, 2, 0, 1],
                },
                WorkerLoadSnapshot::default(),
            ],
            ..SfuStats::default()
        }
    }

    #[test]
    fn the_text_keeps_every_series_name_label_and_value() {
        let text = render(&stats());
        for line in [
            "# TYPE parley_sfu_rtp_packets_forwarded_total counter",
            "parley_sfu_rtp_packets_forwarded_total 1234",
            "parley_sfu_datagrams_in_total 0",
            "parley_sfu_forward_latency_us_bucket{le=\"250\"} 3",
            "parley_sfu_forward_latency_us_bucket{le=\"1000\"} 5",
            "parley_sfu_forward_latency_us_bucket{le=\"+Inf\"} 6",
            "parley_sfu_forward_latency_us_sum 4321",
            "parley_sfu_forward_latency_us_count 6",
            "parley_sfu_worker_peers{worker=\"0\"} 4",
            "parley_sfu_worker_peers{worker=\"1\"} 0",
            "parley_sfu_worker_cpu_seconds{worker=\"0\"} 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("parley_sfu_downlinks{worker=\"0\""))
                .count(),
            4
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("# TYPE ")).count(),
            COUNTERS.len() + HISTOGRAMS.len() + WORKER_GAUGES.len() + 1
        );
    }

    #[test]
    fn the_families_match_their_descriptors() {
        // A registry refuses a family whose labels differ from its
        // descriptor; gather() would then drop it.
        let families = families(&stats());
        let described: Vec<&str> = COUNTERS
            .iter()
            .map(|c| c.0)
            .chain(HISTOGRAMS.iter().map(|h| h.0))
            .chain(WORKER_GAUGES.iter().map(|g| g.0))
            .chain([DOWNLINKS.0])
            .collect();
        let collected: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(collected, described);
    }
}
