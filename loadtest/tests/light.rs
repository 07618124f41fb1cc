//! End to end with the lightweight client: the harness binary starts Parley
//! in-process and runs two visits whose four clients are sans-IO `rtc`
//! peer connections on the light engine's thread (real ICE and DTLS-SRTP on
//! 127.0.0.1). Media must flow both ways in every visit, with latency,
//! loss and join times measured as with the async client.

mod common;

use serde_json::Value;

fn run_light(scenario_text: &str, extra: &[&str]) -> (Value, String) {
    let run = common::run_harness(scenario_text, extra, 0);
    (run.report, run.stderr)
}

fn assert_media_flowed_both_ways(report: &Value) {
    assert_eq!(report["join"]["failed"], 0, "{}", report["errors"]);
    assert_eq!(report["generator"]["light_clients"], 4, "{report}");
    assert_eq!(report["generator"]["async_clients"], 0);
    assert_eq!(report["generator"]["client"], "light");
    assert_eq!(report["receivers"], 4);
    // 2 visits × 2 receivers × (audio + video): each side hears the other.
    assert_eq!(report["packets"]["streams"], 8);
    assert_eq!(report["packets"]["silent_streams"], 0);
    let received = report["packets"]["received"].as_u64().expect("received");
    assert!(received > 4 * 100, "received {received}");
    assert_eq!(report["generator"]["send_errors"], 0);
    let p99 = report["latency_ms"]["p99"]
        .as_f64()
        .expect("latency measured");
    assert!(p99 > 0.0, "p99 {p99} ms");
    assert!(
        report["latency_ms"]["count"]
            .as_u64()
            .is_some_and(|c| c > 0)
    );
    assert!(report["join"]["first_media_ms"]["p95"].as_f64().is_some());
    assert!(
        report["join"]["first_keyframe_ms"]["p95"]
            .as_f64()
            .is_some()
    );
    assert!(report["jitter_ms"]["p95"].as_f64().is_some());
    assert!(
        report["generator"]["light_us_per_packet"]
            .as_f64()
            .is_some_and(|c| c > 0.0),
        "the light threads' CPU is measured: {}",
        report["generator"]
    );
}

#[test]
fn two_visits_on_the_light_client_carry_media_both_ways() {
    let (report, _) = run_light(
        r#"
name = "light-test"
visits = 2
duration_s = 3

[run]
warmup_s = 1
client = "light"
"#,
        &[],
    );
    assert_media_flowed_both_ways(&report);
}

#[test]
fn the_command_line_chooses_the_light_client_on_two_lanes() {
    let (report, _) = run_light(
        r#"
name = "light-cli-test"
visits = 2
duration_s = 2

[run]
warmup_s = 1
light_threads = 2
"#,
        &["--client", "light"],
    );
    assert_media_flowed_both_ways(&report);
}
