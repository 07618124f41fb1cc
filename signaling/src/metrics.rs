//! Prometheus metrics served at `/metrics`.

use crate::app::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The service's metrics; clones share the same series.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub bookings: IntCounterVec,
    pub booking_refusals: IntCounterVec,
    pub join_tokens: IntCounterVec,
    pub audit_entries: IntCounterVec,
    pub ws_connections: IntGauge,
    pub live_sessions: IntGauge,
    pub ws_rejected: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(g.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series; names are fixed, so this cannot fail at run time.
    pub fn new() -> Self {
        let registry = Registry::new();
        Self {
            http_requests: counter(
                &registry,
                "parley_http_requests_total",
                "HTTP requests by route and status",
                &["method", "route", "status"],
            ),
            bookings: counter(
                &registry,
                "parley_bookings_total",
                "Booking decisions by kind and outcome",
                &["kind", "outcome"],
            ),
            booking_refusals: counter(
                &registry,
                "parley_booking_refusals_total",
                "Broken booking rules by refusal code",
                &["code"],
            ),
            join_tokens: counter(
                &registry,
                "parley_join_tokens_total",
                "Join token requests by outcome",
                &["outcome"],
            ),
            audit_entries: counter(
                &registry,
                "parley_audit_entries_total",
                "Audit entries appended by action",
                &["action"],
            ),
            ws_connections: gauge(
                &registry,
                "parley_ws_connections",
                "Open live-session WebSockets",
            ),
            live_sessions: gauge(
                &registry,
                "parley_live_sessions",
                "Sessions with a live task",
            ),
            ws_rejected: counter(
                &registry,
                "parley_ws_rejected_total",
                "Live-session joins or messages refused, by error code",
                &["code"],
            ),
            registry,
        }
    }

    /// Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Middleware counting requests by matched route (never the raw path, so
/// hostile URLs cannot blow up label cardinality).
pub async fn track_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    response
}

/// The media server's counters in Prometheus text (read at scrape time from
/// the workers' atomics).
pub fn render_sfu(stats: &parley_sfu::engine::SfuStats) -> String {
    let series: [(&str, &str, u64); 12] = [
        (
            "parley_sfu_datagrams_in_total",
            "UDP datagrams received by the media workers",
            stats.datagrams_in,
        ),
        (
            "parley_sfu_datagrams_unrouted_total",
            "Datagrams dropped: unknown peer, malformed, or refused by ICE/DTLS/SRTP",
            stats.datagrams_unrouted,
        ),
        (
            "parley_sfu_datagrams_out_total",
            "UDP datagrams sent by the media workers",
            stats.datagrams_out,
        ),
        (
            "parley_sfu_rtp_packets_in_total",
            "Decrypted RTP packets received from publishers",
            stats.rtp_in,
        ),
        (
            "parley_sfu_rtp_bytes_in_total",
            "RTP payload bytes received from publishers",
            stats.rtp_bytes_in,
        ),
        (
            "parley_sfu_rtp_packets_forwarded_total",
            "RTP packets written to subscribers",
            stats.rtp_forwarded,
        ),
        (
            "parley_sfu_rtp_bytes_forwarded_total",
            "RTP payload bytes written to subscribers",
            stats.rtp_bytes_forwarded,
        ),
        (
            "parley_sfu_forward_errors_total",
            "RTP packets that could not be written to a subscriber",
            stats.forward_errors,
        ),
        (
            "parley_sfu_keyframe_requests_relayed_total",
            "PLI sent to publishers on subscribers' behalf",
            stats.plis_relayed,
        ),
        (
            "parley_sfu_keyframe_requests_throttled_total",
            "Subscribers' keyframe requests held back (one per publisher per 500 ms)",
            stats.keyframe_requests_throttled,
        ),
        (
            "parley_sfu_slots_exhausted_total",
            "Publishers a subscriber had no receive slot for",
            stats.slots_exhausted,
        ),
        (
            "parley_sfu_simulcast_switches_total",
            "Subscribers moved to another simulcast layer, each on a keyframe",
            stats.simulcast_switches,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in series {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    let h = &stats.latency;
    out.push_str("# HELP parley_sfu_forward_latency_us Forwarding latency of RTP packets, receive to send, in microseconds\n# TYPE parley_sfu_forward_latency_us histogram\n");
    for (bound, count) in &h.cumulative {
        out.push_str(&format!(
            "parley_sfu_forward_latency_us_bucket{{le=\"{bound}\"}} {count}\n"
        ));
    }
    out.push_str(&format!(
        "parley_sfu_forward_latency_us_bucket{{le=\"+Inf\"}} {}\nparley_sfu_forward_latency_us_sum {}\nparley_sfu_forward_latency_us_count {}\n",
        h.count, h.sum_us, h.count
    ));
    type Field = fn(&parley_sfu::engine::load::WorkerLoadSnapshot) -> String;
    let gauges: [(&str, &str, Field); 3] = [
        (
            "parley_sfu_worker_rooms",
            "Rooms placed on each media worker",
            |w| w.rooms.to_string(),
        ),
        (
            "parley_sfu_worker_peers",
            "Peer connections (participants) on each media worker",
            |w| w.peers.to_string(),
        ),
        (
            "parley_sfu_worker_cpu_seconds",
            "CPU time of each media worker thread, in seconds",
            |w| format!("{:.6}", w.cpu_ns as f64 / 1e9),
        ),
    ];
    for (name, help, value) in gauges {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (i, w) in stats.workers.iter().enumerate() {
            out.push_str(&format!("{name}{{worker=\"{i}\"}} {}\n", value(w)));
        }
    }
    out
}
