//! A latency-by-percentile plot as a standalone SVG file.
//!
//! Like HdrHistogram's plotter, the x axis is `1/(1 − p)` on a log scale, so
//! 90%, 99%, 99.9% … are evenly spaced and the tail gets as much room as the
//! median. The y axis is latency on a log scale, since medians of tens of
//! nanoseconds and maxima of milliseconds share one plot. Each run is one
//! line: colour by workload and quota, dashed for limiters other than ours.
//!
//! Written by hand rather than with plotters, for what the file must hold.
//! Measured with plotters 0.3.7 (`svg_backend`, `line_series`) drawing two
//! 60-point lines, one dashed, on the same log axes: its SVG backend writes
//! a dashed series as one `<polyline>` per dash (117 elements, 27 kB, where
//! this writes one element and `stroke-dasharray`), cannot attach a
//! `<title>` to a line (the name a reader sees on hover, which the tests
//! check), and rounds every point to a whole pixel. The plot is a hundred
//! lines of string formatting with no layout to speak of; the plotting
//! library would not make it shorter.

use std::fmt::Write as _;

use crate::report::{OURS, short_quota};
use crate::run::RunResult;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 760.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 500.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of the plot: `(log10(1/(1−p)), latency ns)` points, left to right.
fn points(run: &RunResult) -> Vec<(f64, u64)> {
    let total = run.histogram.len().max(1) as f64;
    // The last finite point: the percentile of the single slowest request.
    let x_max = total.log10();
    let mut points: Vec<(f64, u64)> = run
        .histogram
        .iter_quantiles(5)
        .map(|v| {
            let q = v.quantile_iterated_to();
            let x = if q < 1.0 { (1.0 / (1.0 - q)).log10().min(x_max) } else { x_max };
            (x, v.value_iterated_to())
        })
        .collect();
    points.push((x_max, run.histogram.max()));
    points
}

/// The plot of every run's latency by percentile.
pub(crate) fn plot(title: &str, runs: &[RunResult]) -> String {
    let lines: Vec<Vec<(f64, u64)>> = runs.iter().map(points).collect();
    let x_span = lines.iter().flatten().map(|&(x, _)| x).fold(1.0, f64::max).ceil();
    let values = || lines.iter().flatten().map(|&(_, v)| v.max(1));
    let y_low = (values().min().unwrap_or(1) as f64).log10().floor();
    let y_high = (values().max().unwrap_or(10) as f64).log10().ceil().max(y_low + 1.0);
    let sx = |x: f64| LEFT + (RIGHT - LEFT) * x / x_span;
    let sy =
        |v: u64| BOTTOM - (BOTTOM - TOP) * ((v.max(1) as f64).log10() - y_low) / (y_high - y_low);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        escape(title)
    );
    // Long labels like 99.9999999% need a smaller font to stay apart.
    let x_font = if x_span > 7.0 { 9 } else { 12 };
    for decade in 0..=x_span as u32 {
        let x = sx(f64::from(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="{x_font}">{}</text>"##,
            BOTTOM + 18.0,
            percentile_label(decade)
        );
    }
    for decade in y_low as i32..=y_high as i32 {
        let y = sy(10u64.pow(decade as u32));
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            latency_label(decade as u32)
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 42.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">latency per request (log scale)</text>"#,
        (TOP + BOTTOM) / 2.0
    );

    let names: Vec<String> = runs
        .iter()
        .map(|run| format!("{} {} {}", run.workload.name(), short_quota(run.quota), run.limiter))
        .collect();
    let mut series: Vec<String> = Vec::new();
    for run in runs {
        let key = format!("{} {}", run.workload.name(), short_quota(run.quota));
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let style = |run: &RunResult| {
        let key = format!("{} {}", run.workload.name(), short_quota(run.quota));
        let index = series.iter().position(|k| *k == key).unwrap_or(0);
        let dash = if run.limiter == OURS { "" } else { r#" stroke-dasharray="6 4""# };
        (COLORS[index % COLORS.len()], dash)
    };
    for ((run, line), name) in runs.iter().zip(&lines).zip(&names) {
        let (color, dash) = style(run);
        let path: Vec<String> =
            line.iter().map(|&(x, v)| format!("{:.1},{:.1}", sx(x), sy(v))).collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{}"><title>{}</title></polyline>"#,
            path.join(" "),
            escape(name)
        );
    }
    for (i, (run, name)) in runs.iter().zip(&names).enumerate() {
        let (color, dash) = style(run);
        let y = TOP + 8.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{:.1}">{}</text>"#,
            RIGHT + 12.0,
            RIGHT + 40.0,
            RIGHT + 46.0,
            y + 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `0%`, `90%`, `99%`, `99.9%` … for 0, 1, 2, 3 … decades of `1/(1−p)`.
fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)).replace(".%", "%"),
    }
}

/// `1 ns`, `10 ns`, … `1 µs`, … `1 s` for 10^decade nanoseconds.
fn latency_label(decade: u32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let unit = (decade / 3).min(3);
    format!("{} {}", 10u64.pow(decade - unit * 3), units[unit as usize])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels() {
        let labels: Vec<String> = (0..6).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
        let labels: Vec<String> = (0..10).map(latency_label).collect();
        assert_eq!(
            labels,
            [
                "1 ns", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms",
                "1 s"
            ]
        );
    }
}
