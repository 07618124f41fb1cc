//! Running the harness binary end to end, as the tests of both clients do.

// Each test binary reads a different part of a run.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// A finished harness run: its report, what it wrote to stderr, and its
/// output directory (kept until this is dropped).
pub struct Finished {
    pub report: Value,
    pub stderr: String,
    pub out: PathBuf,
    _dir: tempfile::TempDir,
}

/// Runs the harness binary quietly on `scenario` (a scenario file's text)
/// with `extra` arguments, expects it to exit with `code`, and reads its
/// `report.json`.
pub fn run_harness(scenario: &str, extra: &[&str], code: i32) -> Finished {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario_file = dir.path().join("scenario.toml");
    std::fs::write(&scenario_file, scenario).expect("scenario written");
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("--scenario")
        .arg(&scenario_file)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("json");
    Finished {
        report,
        stderr,
        out,
        _dir: dir,
    }
}
