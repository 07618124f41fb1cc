//! PNG plots of a run (plotters, bitmap backend): the latency CDF, CPU and
//! memory over time. Text uses a TrueType font found on the system
//! (DejaVu or Liberation Sans); without one the plots are drawn without
//! text, and the report's table gives the axes' meaning.

use crate::report::Report;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;
use thiserror::Error;

/// Why a plot could not be drawn.
#[derive(Debug, Error)]
#[error("cannot draw {file}: {message}")]
pub struct PlotError {
    pub file: String,
    pub message: String,
}

const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the first font found as `sans-serif`; whether text can be drawn.
pub(crate) fn fonts() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        FONTS.iter().any(|path| {
            std::fs::read(path).ok().is_some_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

fn err(file: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError {
        file: file.display().to_string(),
        message: e.to_string(),
    }
}

/// Draws `series` (name, points) as lines into the PNG `file`, with a
/// title and axis labels (the axes start at 0 and fit the points).
pub fn line_chart(
    file: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    let text = fonts();
    let root = BitMapBackend::new(file, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x));
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y));
    let x_max = xs.fold(0.0f64, f64::max).max(1e-9) * 1.02;
    let y_max = ys.fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(60);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(file, e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(x_label).y_desc(y_label);
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| err(file, e))?;
    let colours = [BLUE, RED, GREEN, MAGENTA];
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let drawn = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(file, e))?;
        if text {
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
    }
    if text && series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(file, e))?;
    }
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}

/// Writes `latency-cdf.png`, `cpu.png` and `memory.png` into `dir`;
/// returns (title, file name) of each plot drawn.
pub fn draw_all(
    report: &Report,
    dir: &Path,
) -> Result<Vec<(&'static str, &'static str)>, PlotError> {
    let mut drawn = Vec::new();
    if !report.latency_cdf.is_empty() {
        line_chart(
            &dir.join("latency-cdf.png"),
            "One-way media latency (CDF)",
            "latency, ms",
            "fraction of packets at or below",
            &[("latency", report.latency_cdf.clone())],
        )?;
        drawn.push(("Latency CDF", "latency-cdf.png"));
    }
    // CPU in cores between consecutive samples.
    let rate = |f: fn(&crate::sampler::Sample) -> Option<f64>| -> Vec<(f64, f64)> {
        report
            .samples
            .windows(2)
            .filter_map(|w| {
                let dt = w[1].t_s - w[0].t_s;
                Some((w[1].t_s, (f(&w[1])? - f(&w[0])?) / dt))
            })
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    let sfu = rate(|s| s.sfu_cpu_s);
    let process = rate(|s| s.process_cpu_s);
    if !process.is_empty() {
        line_chart(
            &dir.join("cpu.png"),
            "CPU over time (cores)",
            "time since start, s",
            "cores",
            &[("SFU workers", sfu), ("whole process", process)],
        )?;
        drawn.push(("CPU over time", "cpu.png"));
    }
    let rss: Vec<(f64, f64)> = report
        .samples
        .iter()
        .filter_map(|s| Some((s.t_s, s.rss_bytes? as f64 / 1e6)))
        .collect();
    if !rss.is_empty() {
        line_chart(
            &dir.join("memory.png"),
            "Resident memory of Parley (MB)",
            "time since start, s",
            "MB",
            &[("RSS", rss)],
        )?;
        drawn.push(("Memory over time", "memory.png"));
    }
    Ok(drawn)
}
