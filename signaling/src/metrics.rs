//! Prometheus metrics served at `/metrics`.

use crate::app::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

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
    /// Connections closed on accept: their IP address had its limit open.
    pub http_connections_refused: IntCounter,
    /// Audit entries the store could not write (with them, the change they
    /// record: neither is kept).
    pub audit_write_failures: IntCounter,
    /// Webhook deliveries by result: `delivered`, `retried` (an attempt
    /// failed, another follows), `dead_lettered` (given up).
    pub webhook_deliveries: IntCounterVec,
    /// When each certificate this process serves with runs out, in seconds
    /// since the Unix epoch (the binary that composes the services sets
    /// it).
    pub certificate_expiry: IntGaugeVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    c
}

fn plain_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c =
        IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
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
        // The process's own series (`process_resident_memory_bytes`,
        // `process_cpu_seconds_total`, open file descriptors), from /proc.
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .unwrap_or_else(|e| panic!("process metrics registered twice: {e}"));
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
            http_connections_refused: plain_counter(
                &registry,
                "parley_http_connections_refused_total",
                "HTTP connections closed on accept: their IP address had as many open as it may",
            ),
            audit_write_failures: plain_counter(
                &registry,
                "parley_audit_write_failures_total",
                "Audit entries the store could not write; the change each records was not kept either",
            ),
            webhook_deliveries: {
                let c = counter(
                    &registry,
                    "parley_webhook_deliveries_total",
                    "Webhook deliveries to case-management systems by result (delivered, retried, dead_lettered)",
                    &["result"],
                );
                // Served at 0 from the start, so that an alert on a rise sees one.
                for result in ["delivered", "retried", "dead_lettered"] {
                    c.with_label_values(&[result]);
                }
                c
            },
            certificate_expiry: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "parley_certificate_expiry_timestamp_seconds",
                        "When each certificate in use runs out (its notAfter), seconds since the Unix epoch",
                    ),
                    &["certificate"],
                )
                .unwrap_or_else(|e| panic!("certificate expiry metric is malformed: {e}"));
                registry
                    .register(Box::new(g.clone()))
                    .unwrap_or_else(|e| panic!("certificate expiry registered twice: {e}"));
                g
            },
            registry,
        }
    }

    /// Says when the certificate `name` runs out (seconds since the Unix
    /// epoch).
    pub fn certificate_expires(&self, name: &str, at: i64) {
        self.certificate_expiry.with_label_values(&[name]).set(at);
    }

    /// Counts the audit entry for `action` whose write ended in `written`:
    /// appended, or a write failure. Passes `written` on.
    pub fn audited<T, E>(&self, action: &str, written: Result<T, E>) -> Result<T, E> {
        match &written {
            Ok(_) => self.audit_entries.with_label_values(&[action]).inc(),
            Err(_) => self.audit_write_failures.inc(),
        }
        written
    }

    /// Serves another component's series (the media server's) from this
    /// registry too.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
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
