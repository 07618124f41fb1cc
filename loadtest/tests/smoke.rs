//! End to end: the harness binary starts Parley in-process, runs two visits
//! for about 3 s with real signaling and WebRTC, writes its report, and
//! fails with a line naming a target nobody can meet.

mod common;

#[test]
fn a_smoke_run_measures_media_and_an_impossible_target_fails_it() {
    let run = common::run_harness(
        r#"
name = "smoke-test"
visits = 2
duration_s = 3

[run]
warmup_s = 1

[targets]
loss_max = 0.05
# One-way latency of 1 ns is impossible: this target must fail the run.
latency_p99_ms = 0.000001
"#,
        &[],
        1,
    );
    let (report, stderr, out) = (&run.report, &run.stderr, &run.out);
    assert!(stderr.contains("target missed: latency_p99_ms"), "{stderr}");
    assert!(!stderr.contains("target missed: loss_max"), "{stderr}");

    assert_eq!(report["join"]["failed"], 0, "{}", report["errors"]);
    assert_eq!(report["receivers"], 4);
    assert_eq!(report["packets"]["silent_streams"], 0);
    // 2 visits × 2 receivers × (audio + video) streams.
    assert_eq!(report["packets"]["streams"], 8);
    let received = report["packets"]["received"].as_u64().expect("received");
    assert!(received > 4 * 100, "received {received}");
    let p99 = report["latency_ms"]["p99"]
        .as_f64()
        .expect("latency measured");
    assert!(p99 > 0.0 && p99 < 1_000.0, "p99 {p99} ms");
    assert!(report["join"]["first_media_ms"]["p95"].as_f64().is_some());
    assert!(
        report["sfu"]["cpu_us_per_packet"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("**missed**"), "{md}");
    assert!(out.join("latency-cdf.png").exists());
}
