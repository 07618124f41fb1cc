//! Writes a run's `report.json`, `report.md` and plots into a directory.

use crate::report::Report;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the report could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The default output directory: `target/loadtest/<scenario>-<UTC time>`.
pub fn default_dir(scenario: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from("target/loadtest").join(format!("{scenario}-{stamp}"))
}

/// Writes everything into `dir` (created if needed). A plot that cannot be
/// drawn is reported in the Markdown, not fatal.
pub fn write(report: &Report, dir: &Path) -> Result<(), OutputError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OutputError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = dir.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?).map_err(io(&json))?;
    let (plots, plot_error) = match crate::plot::draw_all(report, dir) {
        Ok(p) => (p, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut md = report.markdown(&plots);
    if let Some(e) = plot_error {
        md.push_str(&format!("\nPlots not drawn: {e}\n"));
    }
    let md_path = dir.join("report.md");
    std::fs::write(&md_path, md).map_err(io(&md_path))?;
    Ok(())
}
