//! Schemathesis (PyPI), an API fuzzer we did not write, against the live
//! `/openapi.json` of a real `parley up`, with the administrator's token:
//! for a bounded time it sends requests made from the document (its
//! examples, the edges of every constraint, and random data) and checks
//! every response. No response may be a server error, and every status,
//! content type and body must be one the document describes.
//!
//! The interpreter is `target/schemathesis-venv`, which `scripts/test`
//! creates from `testing/schemathesis/requirements.txt` (or
//! `$PARLEY_SCHEMATHESIS`, the path of the `schemathesis` command).

mod common;

use common::Server;
use std::path::PathBuf;
use std::process::Command;

/// How long schemathesis generates requests, in seconds.
const SECONDS: u32 = 60;

fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("PARLEY_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/schemathesis-venv/bin/schemathesis"
    ));
    assert!(
        p.is_file(),
        "{} is missing: scripts/test sets it up (python3 -m venv target/schemathesis-venv && \
         target/schemathesis-venv/bin/pip install -r testing/schemathesis/requirements.txt; \
         Debian: apt-get install python3-venv)",
        p.display()
    );
    p
}

#[test]
fn no_generated_request_gets_a_server_error_or_an_undocumented_response() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&data.path().join("data"));
    let work = tempfile::tempdir().expect("temp dir");
    let out = Command::new(schemathesis())
        .current_dir(work.path())
        .args(["run", &format!("{}/openapi.json", server.url)])
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token()),
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-time", &SECONDS.to_string(), "--workers", "1"])
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = report
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or("no summary line");
    eprintln!("schemathesis: {}", summary.trim());
    assert!(
        out.status.success(),
        "schemathesis found failures (each with a curl line to reproduce it):\n{report}"
    );
    assert!(
        summary.contains("generated"),
        "schemathesis ran no test cases:\n{report}"
    );
}
