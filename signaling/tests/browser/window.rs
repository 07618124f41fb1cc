//! What the tests do with a browser window, whichever browser it is in:
//! evaluate JavaScript, wait for a condition, read text, and read the
//! call's media counters from `getStats()`. Chromium (over CDP) and Firefox
//! (over WebDriver BiDi) each provide the three primitives.

use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a call has received so far, summed over its inbound streams (the
/// web client's `window.parley.received()`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Received {
    pub frames_decoded: u64,
    pub video_packets: u64,
    pub video_packets_lost: i64,
    /// NACKs and PLIs the browser sent for its video.
    pub video_nacks: u64,
    pub video_plis: u64,
    /// Video frames received (complete or not) and decoded.
    pub frames_received: u64,
    /// Video resends received on an RTX repair stream
    /// (`retransmittedPacketsReceived`).
    pub video_retransmitted: u64,
    pub freezes: u64,
    /// Seconds.
    pub frozen: f64,
    pub audio_packets: u64,
    pub samples: u64,
    pub concealed: u64,
    /// RTCP sender reports seen on the inbound streams (`remote-outbound-rtp`).
    pub sender_reports: u64,
    /// For diagnostics: video frames dropped before decoding, keyframes
    /// decoded, and the jitter buffer's target delay summed over the frames
    /// it let out (seconds) with their count.
    pub frames_dropped: u64,
    pub keyframes_decoded: u64,
    pub jitter_target_s: f64,
    pub jitter_emitted: u64,
}

impl Received {
    fn from_json(r: &Value) -> Self {
        let u = |k: &str| r[k].as_u64().unwrap_or(0);
        Self {
            frames_decoded: u("videoFramesDecoded"),
            video_packets: u("videoPacketsReceived"),
            video_packets_lost: r["videoPacketsLost"].as_i64().unwrap_or(0),
            video_nacks: u("videoNacksSent"),
            video_plis: u("videoPlisSent"),
            frames_received: u("videoFramesReceived"),
            video_retransmitted: u("videoRetransmittedPacketsReceived"),
            freezes: u("freezeCount"),
            frozen: r["totalFreezesDuration"].as_f64().unwrap_or(0.0),
            audio_packets: u("audioPacketsReceived"),
            samples: u("totalSamplesReceived"),
            concealed: u("concealedSamples"),
            sender_reports: u("senderReports"),
            frames_dropped: u("videoFramesDropped"),
            keyframes_decoded: u("videoKeyFramesDecoded"),
            jitter_target_s: r["videoJitterBufferTargetDelay"].as_f64().unwrap_or(0.0),
            jitter_emitted: u("videoJitterBufferEmittedCount"),
        }
    }
}

pub trait Window {
    /// The window's name in messages.
    fn name(&self) -> &str;

    /// Evaluates `expression` (awaiting a promise) and returns its value as
    /// JSON; fails the test if it throws.
    async fn eval(&self, expression: &str) -> Value;

    /// Like [`Window::eval`], but `None` where the page cannot evaluate yet
    /// (between two documents) or the expression throws.
    async fn try_eval(&self, expression: &str) -> Option<Value>;

    /// Saves a PNG of the window as `<name>.png`; returns where.
    async fn screenshot(&self, name: &str) -> PathBuf;

    /// Waits until `condition` (JavaScript) is true; on timeout saves a
    /// screenshot and fails naming `what`.
    async fn wait(&self, condition: &str, what: &str, limit: Duration) {
        let started = Instant::now();
        // A condition may be a promise: it is awaited.
        let expression = format!(
            "(async () => {{ try {{ return !!(await ({condition})); }} catch (e) {{ return false; }} }})()"
        );
        loop {
            if self.try_eval(&expression).await == Some(Value::Bool(true)) {
                return;
            }
            if started.elapsed() > limit {
                let shot = self.screenshot(&format!("failed-{}", self.name())).await;
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                // How far the page got: a page that stays blank has a
                // script that never arrived or never ran.
                let loading = self
                    .try_eval(
                        "JSON.stringify({state: document.readyState, client: typeof window.parley, \
                         resources: performance.getEntriesByType('resource').map(r => \
                         `${r.name.split('/').pop()} at ${Math.round(r.startTime)} ms took \
                         ${Math.round(r.duration)} ms`)})",
                    )
                    .await
                    .unwrap_or(Value::Null);
                panic!(
                    "[{}] waited {limit:?} for {what} (`{condition}`); screenshot {}; loading: \
                     {loading}; page text:\n{}",
                    self.name(),
                    shot.display(),
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The text of the first element matching `selector` ("" if none).
    async fn text(&self, selector: &str) -> String {
        let sel = serde_json::to_string(selector).expect("json");
        self.eval(&format!(
            "(document.querySelector({sel}) || {{}}).textContent || ''"
        ))
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Whether an element matches `selector`.
    async fn has(&self, selector: &str) -> bool {
        let sel = serde_json::to_string(selector).expect("json");
        self.eval(&format!("!!document.querySelector({sel})")).await == Value::Bool(true)
    }

    /// The call's counters so far.
    async fn media(&self) -> Received {
        Received::from_json(&self.eval("window.parley.received()").await)
    }

    /// Media received so far on the page's call: (video frames decoded,
    /// audio packets received).
    async fn received(&self) -> (u64, u64) {
        let r = self.media().await;
        (r.frames_decoded, r.audio_packets)
    }

    /// Waits until the call decodes more than `frames` video frames and
    /// receives more than `packets` audio packets.
    async fn wait_for_media(&self, frames: u64, packets: u64, limit: Duration) -> (u64, u64) {
        let started = Instant::now();
        loop {
            let got = self.received().await;
            if got.0 > frames && got.1 > packets {
                return got;
            }
            if started.elapsed() > limit {
                let shot = self
                    .screenshot(&format!("failed-{}-media", self.name()))
                    .await;
                let state = self.eval("window.parley.connectionState()").await;
                panic!(
                    "[{}] media did not arrive within {limit:?}: {} frames decoded (wanted > {frames}), \
                     {} audio packets (wanted > {packets}); peer connection {state}; screenshot {}",
                    self.name(),
                    got.0,
                    got.1,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
