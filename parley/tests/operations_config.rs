//! The operators' monitoring files in `config/`: Prometheus's alert rules
//! (`config/prometheus/parley-alerts.yml`) and the Grafana dashboard
//! (`config/grafana/parley.json`).
//!
//! - `promtool` (Debian's `prometheus`) checks the rules and runs their unit
//!   tests: each alert fires on series that break its rule, and stays quiet
//!   on healthy ones.
//! - Every dashboard query is valid PromQL (`promtool` checks them as
//!   recording rules).
//! - Every series the rules and the dashboard name is one a running
//!   `parley demo` serves on `/metrics`: a renamed metric fails here, not at
//!   3 a.m. on a dashboard that has gone blank.

mod common;

use common::{Server, config_dir, demo_config};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Runs `promtool ARGS` in `dir`; fails the test with its output unless it
/// succeeds.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool does not run ({e}); scripts/test installs it (Debian `prometheus`)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

fn prometheus_dir() -> std::path::PathBuf {
    config_dir().join("prometheus")
}

/// The PromQL expressions of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let path = config_dir().join("grafana/parley.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    assert!(queries.len() >= 20, "{} queries", queries.len());
    queries
}

/// The series names in `text` (PromQL or YAML holding it): words that
/// start like Parley's or the process collector's series.
fn series_named(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("parley_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = prometheus_dir();
    let checked = promtool(&dir, &["check", "rules", "parley-alerts.yml"]);
    assert!(checked.contains("SUCCESS: 10 rules found"), "{checked}");
    let tested = promtool(&dir, &["test", "rules", "parley-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, query) in dashboard_queries().iter().enumerate() {
        let quoted = serde_json::to_string(query).expect("a string");
        rules.push_str(&format!(
            "      - record: parley_dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    std::fs::write(dir.path().join("dashboard.yml"), rules).expect("rules written");
    promtool(dir.path(), &["check", "rules", "dashboard.yml"]);
}

#[tokio::test]
async fn every_series_the_rules_and_the_dashboard_name_is_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_command_with("demo", &demo_config(), &dir.path().join("data"));
    // A refused live-session join, so that the refusals' series has a sample.
    let ws = format!("{}/v1/sessions/1/ws", server.url.replacen("http", "ws", 1));
    if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&ws).await {
        use futures_util::{SinkExt, StreamExt};
        let join = r#"{"type":"join","version":1,"token":"not-a-token"}"#;
        let _ = socket
            .send(tokio_tungstenite::tungstenite::Message::Text(join.into()))
            .await;
        while let Some(Ok(_)) = socket.next().await {}
    }
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics' text");
    let served: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let rules = std::fs::read_to_string(prometheus_dir().join("parley-alerts.yml"))
        .expect("the alert rules");
    let mut named = series_named(&rules);
    for query in dashboard_queries() {
        named.extend(series_named(&query));
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|name| {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| served.contains(base))
                .unwrap_or(name);
            !served.contains(family)
        })
        .collect();
    assert!(named.len() >= 25, "{named:?}");
    assert!(
        missing.is_empty(),
        "named in config/ but not served: {missing:?}\nserved: {served:?}"
    );
}
