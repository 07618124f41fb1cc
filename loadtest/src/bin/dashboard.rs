//! `dashboard --prometheus URL --since-s N [--dashboard FILE] [--out DIR]`:
//! draws the Grafana dashboard's panels over the last N seconds from a
//! Prometheus that scraped Parley, one PNG per row (`dashboard-<row>.png`).
//! Exit codes: 0 drawn; 2 the dashboard, a query or a PNG failed.

use clap::Parser;
use loadtest::dashboard::{draw_row, query, rows};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Draws Parley's Grafana dashboard from Prometheus, without Grafana")]
struct Args {
    /// Prometheus's base URL, e.g. http://127.0.0.1:9099.
    #[arg(long)]
    prometheus: String,
    /// The time range: the last this many seconds.
    #[arg(long, default_value_t = 300.0)]
    since_s: f64,
    /// Seconds between two points.
    #[arg(long, default_value_t = 2.0)]
    step_s: f64,
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/grafana/parley.json"))]
    dashboard: PathBuf,
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

fn slug(title: &str) -> String {
    let s: String = title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let dashboard = match std::fs::read_to_string(&args.dashboard)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.dashboard.display());
            return ExitCode::from(2);
        }
    };
    let rows = match rows(&dashboard) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let range = (end - args.since_s, end, args.step_s);
    let client = reqwest::Client::new();
    for row in &rows {
        let mut series = Vec::new();
        for panel in &row.panels {
            let mut all = Vec::new();
            for target in &panel.targets {
                match query(&client, &args.prometheus, target, range).await {
                    Ok(s) => all.extend(s),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            series.push(all);
        }
        let file = args.out.join(format!("dashboard-{}.png", slug(&row.title)));
        if let Err(e) = draw_row(&file, row, &series) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        println!("{}", file.display());
    }
    ExitCode::SUCCESS
}
