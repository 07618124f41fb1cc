//! The shell that sends webhook events: one task for the service, which
//! every [`POLL`] reads each active webhook's new events from the store and
//! posts them in order. A webhook whose delivery fails waits its retry
//! ([`super::retry`]) and sends nothing newer meanwhile (events stay in
//! order); after the last attempt the event is dead-lettered and delivery
//! moves on. Progress is stored after each event, so a restart sends again
//! at most the event that was in flight.

use super::event::{WebhookEvent, from_entry};
use super::retry::{NextStep, RetryPolicy};
use super::signature;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::webhooks::{NewDeadLetter, Webhook};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the store is read for new events.
pub const POLL: Duration = Duration::from_millis(500);
/// How long one delivery may take before it counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Events read per webhook and round.
const BATCH: i64 = 100;
/// Longest error text kept with a dead letter, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// One webhook's failing event.
#[derive(Debug, Clone, Copy)]
struct Failing {
    seq: i64,
    failed: u32,
    retry_at: Instant,
}

/// Sends every webhook's events.
pub struct Deliverer {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    policy: RetryPolicy,
    http: reqwest::Client,
    failing: HashMap<i64, Failing>,
}

impl Deliverer {
    pub fn new(store: Store, clock: Arc<dyn Clock>, metrics: Metrics, policy: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("parley-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            store,
            clock,
            metrics,
            policy,
            http,
            failing: HashMap::new(),
        }
    }

    /// Runs until the task is dropped.
    pub async fn run(mut self) {
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "webhooks: cannot read or record deliveries");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends what is due of every active webhook.
    async fn round(&mut self) -> Result<(), sqlx::Error> {
        let hooks = self.store.read().webhooks(None, true).await?;
        self.failing
            .retain(|id, _| hooks.iter().any(|(h, _)| h.id == *id));
        for (hook, secret) in hooks {
            self.deliver_due(&hook, secret.as_bytes()).await?;
        }
        Ok(())
    }

    async fn deliver_due(&mut self, hook: &Webhook, secret: &[u8]) -> Result<(), sqlx::Error> {
        if self
            .failing
            .get(&hook.id)
            .is_some_and(|f| Instant::now() < f.retry_at)
        {
            return Ok(());
        }
        let entries = self
            .store
            .read()
            .facility_audit(hook.facility_id, hook.delivered_seq, BATCH)
            .await?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(());
        };
        for entry in &entries {
            let Some(event) = from_entry(entry, hook.facility_id) else {
                continue;
            };
            match self.send(&hook.url, secret, &event).await {
                Ok(()) => {
                    self.failing.remove(&hook.id);
                    self.metrics
                        .webhook_deliveries
                        .with_label_values(&["delivered"])
                        .inc();
                    self.record(hook.id, event.id).await?;
                }
                Err(error) => {
                    return self.failed(hook.id, &event, error).await;
                }
            }
        }
        // Entries that are not events need no delivery.
        self.record(hook.id, last).await
    }

    async fn record(&self, webhook_id: i64, seq: i64) -> Result<(), sqlx::Error> {
        let mut w = self.store.write().await?;
        w.webhook_delivered(webhook_id, seq).await?;
        w.commit().await
    }

    /// One attempt at `event` failed with `error`: wait, or give up.
    async fn failed(
        &mut self,
        webhook_id: i64,
        event: &WebhookEvent,
        error: String,
    ) -> Result<(), sqlx::Error> {
        let failed = match self.failing.get(&webhook_id) {
            Some(f) if f.seq == event.id => f.failed + 1,
            _ => 1,
        };
        match self.policy.after(failed) {
            NextStep::RetryAfter(ms) => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&["retried"])
                    .inc();
                tracing::info!(webhook = webhook_id, event = event.id, failed, %error, "webhook delivery failed; retrying in {ms} ms");
                self.failing.insert(
                    webhook_id,
                    Failing {
                        seq: event.id,
                        failed,
                        retry_at: Instant::now() + Duration::from_millis(ms),
                    },
                );
                Ok(())
            }
            NextStep::GiveUp => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&["dead_lettered"])
                    .inc();
                tracing::warn!(webhook = webhook_id, event = event.id, failed, %error, "webhook delivery given up: dead letter");
                self.failing.remove(&webhook_id);
                let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
                let mut w = self.store.write().await?;
                w.dead_letter(&NewDeadLetter {
                    webhook_id,
                    seq: event.id,
                    event: &event.kind,
                    attempts: i64::from(failed),
                    last_error: &error,
                    failed_at: self.clock.now().timestamp(),
                })
                .await?;
                w.commit().await
            }
        }
    }

    /// Posts `event`, signed; `Err` says why it did not arrive.
    async fn send(&self, url: &str, secret: &[u8], event: &WebhookEvent) -> Result<(), String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let sent_at = self.clock.now().timestamp();
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signature::sign(secret, sent_at, &body))
            .header("parley-event", &event.kind)
            .header("parley-event-id", event.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}
