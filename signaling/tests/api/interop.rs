//! An independent WebRTC stack — aiortc (Python), neither webrtc-rs nor
//! libwebrtc — written from docs/protocol.md alone
//! (`testing/interop/aiortc_peer.py`), holds a minute-long visit on both
//! sides, checking ICE consent at RFC 7675's pace (5 s ± 20 %) and
//! dropping a share of the video it receives so that it must NACK. Every
//! sequence number of every stream arrives in the end, the media never
//! stalls, and the SFU counts the NACKs and the resends.
//!
//! The interpreter is `target/interop-venv/bin/python`, which `scripts/test`
//! creates with `testing/interop/requirements.txt` (or `$PARLEY_INTEROP_PYTHON`).

use crate::harness::*;
use crate::ws::{BookedVisit, visit_under_way};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration as Wait;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The interop venv's Python; fails, never skips, when it is missing.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PARLEY_INTEROP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace().join("target/interop-venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: the interop test needs aiortc from PyPI; scripts/test sets it up \
         (python3 -m venv target/interop-venv && target/interop-venv/bin/pip install -r \
         testing/interop/requirements.txt; Debian: apt-get install python3-venv)",
        p.display()
    );
    p
}

/// Runs one aiortc peer for `seconds`; its JSON result.
async fn peer(s: &Server, session: i64, token: &str, name: &str, seconds: u32) -> Value {
    let out = tokio::process::Command::new(python())
        .arg(workspace().join("testing/interop/aiortc_peer.py"))
        .args(["--ws", &format!("ws://{}/v1/sessions/{session}/ws", s.addr)])
        .args(["--token", token, "--name", name, "--send"])
        .args(["--seconds", &seconds.to_string()])
        .args(["--consent-interval", "5", "--nack-drop", "3", "--seed", "7"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Wait::from_secs(u64::from(seconds) + 90), out)
        .await
        .unwrap_or_else(|_| panic!("the {name} peer did not finish"))
        .unwrap_or_else(|e| panic!("cannot run the {name} peer: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the {name} peer printed no result ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_at_rfc_7675_consent_pace_holds_a_minute_long_visit() {
    let s = start().await;
    let BookedVisit {
        id,
        family_token,
        cell_token,
        ..
    } = visit_under_way(&s, 10).await;
    let (family, cell) = tokio::join!(
        peer(&s, id, &family_token, "family", 60),
        peer(&s, id, &cell_token, "detainee", 60)
    );
    let metrics = s.metrics().await;
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let sfu: Vec<(&str, u64)> = [
        "parley_sfu_nacks_received_total",
        "parley_sfu_retransmissions_total",
        "parley_sfu_nack_misses_total",
        "parley_sfu_retransmissions_suppressed_total",
    ]
    .into_iter()
    .map(|n| (n, counter(n)))
    .collect();
    for r in [&family, &cell] {
        let name = r["name"].as_str().unwrap_or("?");
        let summary = &r["summary"];
        assert_eq!(
            r["ok"], true,
            "[{name}] the call was not held: {}",
            r["error"]
        );
        assert_eq!(summary["media_lost"], 0, "[{name}] {summary}");
        // Its checks really came 5 s ± 20 % apart.
        let intervals: Vec<f64> = r["consent"]["intervals_s"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        assert!(
            intervals.len() >= 8,
            "[{name}] consent checks: {intervals:?}"
        );
        assert!(
            intervals.iter().all(|i| (3.9..=6.2).contains(i)),
            "[{name}] consent intervals: {intervals:?}"
        );
        // Nothing missing at the end, nothing stalled, and the NACKed
        // video came back.
        assert_eq!(
            summary["missing_seqs"], 0,
            "[{name}] {summary}; SFU {sfu:?}"
        );
        let max_stall = summary["max_stall_s"].as_f64().unwrap_or(f64::MAX);
        assert!(
            max_stall < 0.5,
            "[{name}] a stall of {max_stall} s: {summary}"
        );
        let dropped = summary["dropped_by_client"].as_u64().unwrap_or(0);
        assert!(dropped > 20, "[{name}] {summary}");
        assert!(
            summary["nacks_sent"].as_u64().unwrap_or(0) > 0,
            "[{name}] {summary}"
        );
        assert_eq!(
            summary["retransmissions_of_dropped"], dropped,
            "[{name}] every dropped packet was resent: {summary}"
        );
        // aiortc negotiates RTX: the resends came on its RTX stream.
        assert!(
            summary["rtx_packets"].as_u64().unwrap_or(0) >= dropped,
            "[{name}] resends on the RTX stream: {summary}"
        );
        assert!(
            summary["video_frames_decoded"].as_u64().unwrap_or(0) > 60 * 10,
            "[{name}] {summary}"
        );
    }
    assert!(counter("parley_sfu_nacks_received_total") > 0, "{metrics}");
    assert!(counter("parley_sfu_retransmissions_total") > 0, "{metrics}");
    assert_eq!(counter("parley_sfu_consent_expired_total"), 0);
    assert_eq!(counter("parley_sfu_peers_silent_total"), 0);
    eprintln!(
        "aiortc minute: family {}; detainee {}",
        family["summary"], cell["summary"]
    );
}
