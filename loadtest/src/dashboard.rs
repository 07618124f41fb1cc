//! The operators' dashboard (`config/grafana/parley.json`) drawn without
//! Grafana, which Debian does not package: each row of panels becomes one
//! PNG, every panel's PromQL queried over a time range from a Prometheus
//! that scraped Parley (`scripts/dashboard-snapshot`, docs/operations.md).
//! Reading the dashboard and naming the series are pure; querying is the
//! only I/O besides the PNG.

use crate::plot::{PlotError, fonts};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// Why the dashboard could not be drawn.
#[derive(Debug, Error)]
pub enum DashboardError {
    #[error("the dashboard file is not a Grafana dashboard: {0}")]
    NotADashboard(String),
    #[error("Prometheus at {url} did not answer the query {expr:?}: {message}")]
    Query {
        url: String,
        expr: String,
        message: String,
    },
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// One query of a panel and how its series are named (`{{label}}` is
/// replaced by that label's value).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub expr: String,
    pub legend: String,
}

/// A time-series panel: its title, Grafana unit and queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub targets: Vec<Target>,
}

/// A row of the dashboard and the panels under it, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub title: String,
    pub panels: Vec<Panel>,
}

/// A named series: (seconds from the start of the range, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The dashboard's rows with their time-series panels; panels before the
/// first row go in an untitled one.
pub fn rows(dashboard: &Value) -> Result<Vec<Row>, DashboardError> {
    let panels = dashboard["panels"]
        .as_array()
        .ok_or_else(|| DashboardError::NotADashboard("no `panels` list".into()))?;
    let mut rows: Vec<Row> = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or("").to_string();
        match p["type"].as_str() {
            Some("row") => rows.push(Row {
                title,
                panels: Vec::new(),
            }),
            Some("timeseries") => {
                let targets = p["targets"]
                    .as_array()
                    .map(|ts| {
                        ts.iter()
                            .filter_map(|t| {
                                Some(Target {
                                    expr: t["expr"].as_str()?.to_string(),
                                    legend: t["legendFormat"].as_str().unwrap_or("").to_string(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let panel = Panel {
                    title,
                    unit: p["fieldConfig"]["defaults"]["unit"]
                        .as_str()
                        .unwrap_or("short")
                        .to_string(),
                    targets,
                };
                match rows.last_mut() {
                    Some(row) => row.panels.push(panel),
                    None => rows.push(Row {
                        title: String::new(),
                        panels: vec![panel],
                    }),
                }
            }
            _ => {}
        }
    }
    if rows.iter().all(|r| r.panels.is_empty()) {
        return Err(DashboardError::NotADashboard(
            "no time-series panels".into(),
        ));
    }
    Ok(rows)
}

/// A series' name from `legend` and its `labels`, as Grafana names it:
/// `{{label}}` replaced; with no legend, the labels that tell series apart
/// (not the scrape's `job` and `instance`), else `expr`.
pub fn series_name(legend: &str, labels: &BTreeMap<String, String>, expr: &str) -> String {
    if legend.is_empty() {
        let inner: Vec<String> = labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "job" | "instance"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        return if inner.is_empty() {
            expr.to_string()
        } else {
            inner.join(", ")
        };
    }
    let mut name = legend.to_string();
    for (k, v) in labels {
        name = name.replace(&format!("{{{{{k}}}}}"), v);
    }
    name
}

/// How a Grafana unit is shown: the axis label and the factor values are
/// multiplied by.
pub fn unit_axis(unit: &str) -> (&'static str, f64) {
    match unit {
        "bytes" => ("MiB", 1.0 / (1024.0 * 1024.0)),
        "percentunit" => ("%", 100.0),
        "reqps" => ("requests/s", 1.0),
        "pps" => ("packets/s", 1.0),
        "µs" => ("µs", 1.0),
        "d" => ("days", 1.0),
        _ => ("", 1.0),
    }
}

/// The series of `expr` over `[start, end]` (Unix seconds) every `step`
/// seconds, from Prometheus's `query_range` API at `prometheus`.
pub async fn query(
    client: &reqwest::Client,
    prometheus: &str,
    target: &Target,
    (start, end, step): (f64, f64, f64),
) -> Result<Vec<Series>, DashboardError> {
    let failed = |message: String| DashboardError::Query {
        url: prometheus.to_string(),
        expr: target.expr.clone(),
        message,
    };
    let answer: Value = client
        .get(format!("{prometheus}/api/v1/query_range"))
        .query(&[
            ("query", target.expr.as_str()),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", &step.to_string()),
        ])
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?
        .json()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if answer["status"] != "success" {
        return Err(failed(answer["error"].to_string()));
    }
    let result = answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(result
        .iter()
        .map(|s| {
            let labels: BTreeMap<String, String> = s["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let points = s["values"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .filter_map(|p| {
                            let t = p[0].as_f64()?;
                            let v: f64 = p[1].as_str()?.parse().ok()?;
                            v.is_finite().then_some((t - start, v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Series {
                name: series_name(&target.legend, &labels, &target.expr),
                points,
            }
        })
        .collect())
}

/// Draws `row`'s panels with their series into the PNG `file`, three
/// panels a line, 480×300 pixels each.
pub fn draw_row(file: &Path, row: &Row, series: &[Vec<Series>]) -> Result<(), DashboardError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        file: file.display().to_string(),
        message: e.to_string(),
    };
    let text = fonts();
    const COLUMNS: usize = 3;
    let lines = row.panels.len().div_ceil(COLUMNS).max(1);
    let root = BitMapBackend::new(file, (480 * COLUMNS as u32, 300 * lines as u32 + 40))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (head, body) = root.split_vertically(40);
    if text {
        head.draw_text(&row.title, &("sans-serif", 26).into(), (12, 8))
            .map_err(|e| err(&e))?;
    }
    let cells = body.split_evenly((lines, COLUMNS));
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for ((panel, series), cell) in row.panels.iter().zip(series).zip(cells) {
        let (axis, factor) = unit_axis(&panel.unit);
        let x_max = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(1.0f64, f64::max);
        let y_max = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1 * factor))
            .fold(0.0f64, f64::max);
        // An all-zero panel still gets a readable axis.
        let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
        let mut builder = ChartBuilder::on(&cell);
        builder.margin(8);
        if text {
            builder
                .caption(&panel.title, ("sans-serif", 16))
                .x_label_area_size(28)
                .y_label_area_size(52);
        }
        let mut chart = builder
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| err(&e))?;
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(5).y_labels(5);
        if text {
            mesh.x_desc("s")
                .y_desc(axis)
                .label_style(("sans-serif", 11));
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(|e| err(&e))?;
        for (i, s) in series.iter().enumerate() {
            let colour = colours[i % colours.len()];
            let drawn = chart
                .draw_series(LineSeries::new(
                    s.points.iter().map(|&(x, y)| (x, y * factor)),
                    colour.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            if text {
                drawn
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            }
        }
        if text && !series.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font(("sans-serif", 11))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/grafana/parley.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("JSON")
    }

    #[test]
    fn the_shipped_dashboard_reads_as_three_rows_of_queried_panels() {
        let rows = rows(&shipped()).expect("rows");
        let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(titles, ["Signaling", "Media (SFU)", "Recording"]);
        assert!(rows.iter().all(|r| !r.panels.is_empty()));
        assert!(
            rows.iter()
                .flat_map(|r| &r.panels)
                .all(|p| !p.targets.is_empty() && p.targets.iter().all(|t| !t.expr.is_empty()))
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_is_missing() {
        let e = rows(&serde_json::json!({"title": "x"})).expect_err("not a dashboard");
        assert!(e.to_string().contains("panels"), "{e}");
        let e = rows(&serde_json::json!({"panels": [{"type": "row", "title": "r"}]}))
            .expect_err("no panels");
        assert!(e.to_string().contains("no time-series panels"), "{e}");
    }

    #[test]
    fn series_are_named_as_grafana_names_them() {
        let labels: BTreeMap<String, String> = [("status".to_string(), "200".to_string())].into();
        assert_eq!(series_name("{{status}}", &labels, "x"), "200");
        assert_eq!(
            series_name("HTTP {{status}} /s", &labels, "x"),
            "HTTP 200 /s"
        );
        assert_eq!(series_name("", &labels, "x"), "status=200");
        let scrape: BTreeMap<String, String> = [
            ("instance".to_string(), "127.0.0.1:8080".to_string()),
            ("job".to_string(), "parley".to_string()),
        ]
        .into();
        assert_eq!(
            series_name("", &scrape, "process_resident_memory_bytes"),
            "process_resident_memory_bytes"
        );
    }

    #[test]
    fn a_row_is_drawn_as_one_png() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("row.png");
        let row = &rows(&shipped()).expect("rows")[2];
        let series: Vec<Vec<Series>> = row
            .panels
            .iter()
            .map(|_| {
                vec![Series {
                    name: "a".into(),
                    points: (0..60).map(|t| (f64::from(t), f64::from(t % 7))).collect(),
                }]
            })
            .collect();
        draw_row(&file, row, &series).expect("drawn");
        let bytes = std::fs::read(&file).expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
        // Width and height from the IHDR chunk: three panels a line.
        let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
        assert_eq!((width, height), (1440, 340));
    }
}
