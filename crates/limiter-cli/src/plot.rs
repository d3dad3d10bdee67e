//! `--plot FILE.svg`: a chart of the replay, drawn with plotters' SVG
//! backend.
//!
//! For one limit, requests and denials per time bin over trace time, one
//! line each, and a line of denials for each of the [`TOP_KEYS`] keys with
//! the most. For a sweep, a heatmap of the denied share over the capacity ×
//! rate grid, each cell labelled with its percentage.
//!
//! [`Timeline`] gathers the first kind as records are decided. Its memory is
//! bounded by the number of bins, at most [`MAX_BINS`], times the number of
//! keys with denials: whenever the trace's span needs more bins, they widen
//! and neighbours merge, so the chart never depends on how long the
//! trace is, and records out of order land in their own bin.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::CliError;
use crate::keys::{Key, KeyCount, KeyId, Prefixes};
use crate::report::{Summary, limit_text, rate_text};
use crate::timestamp::{format_rfc3339, format_seconds};

/// The most time bins a timeline keeps.
pub(crate) const MAX_BINS: u64 = 240;
/// How many keys get a line of their own.
pub(crate) const TOP_KEYS: usize = 5;
/// The narrowest bin, 1 ms; bins widen to 2, 10, 20, 100, … ms.
const FIRST_WIDTH: u64 = 1_000_000;
const SIZE: (u32, u32) = (960, 540);

/// Requests and denials per time bin for one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// The bin width in ns: 1 or 2 ms times a power of ten.
    width: u64,
    /// Per bin (`nanos / width`): requests and denials.
    bins: BTreeMap<u64, (u64, u64)>,
    /// Denials per key and bin.
    key_bins: HashMap<(KeyId, u64), u64>,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline { width: FIRST_WIDTH, bins: BTreeMap::new(), key_bins: HashMap::new() }
    }
}

impl Timeline {
    /// Counts one decided record.
    pub(crate) fn record(&mut self, nanos: u64, key: KeyId, allowed: bool) {
        let mut bin = nanos / self.width;
        while let (Some((&first, _)), Some((&last, _))) =
            (self.bins.first_key_value(), self.bins.last_key_value())
        {
            if bin.max(last) - bin.min(first) < MAX_BINS {
                break;
            }
            self.widen();
            bin = nanos / self.width;
        }
        let counts = self.bins.entry(bin).or_default();
        counts.0 += 1;
        if !allowed {
            counts.1 += 1;
            *self.key_bins.entry((key, bin)).or_default() += 1;
        }
    }

    /// Widens the bins to the next of 1, 2, 10, 20, 100, … ms, merging
    /// neighbours: bins are counted from the epoch, so each new bin is a
    /// whole number of old ones.
    fn widen(&mut self) {
        let mut millis = self.width / FIRST_WIDTH;
        while millis.is_multiple_of(10) {
            millis /= 10;
        }
        let factor = if millis == 1 { 2 } else { 5 };
        self.width *= factor;
        let mut bins = BTreeMap::new();
        for (bin, (requests, denials)) in std::mem::take(&mut self.bins) {
            let merged: &mut (u64, u64) = bins.entry(bin / factor).or_default();
            merged.0 += requests;
            merged.1 += denials;
        }
        self.bins = bins;
        let mut key_bins = HashMap::with_capacity(self.key_bins.len());
        for ((key, bin), denials) in self.key_bins.drain() {
            *key_bins.entry((key, bin / factor)).or_default() += denials;
        }
        self.key_bins = key_bins;
    }

    /// The chart's series: every bin from the first to the last (empty ones
    /// at zero), and the top keys by denials, named as the summary names
    /// them.
    pub(crate) fn finish(self, keys: &[KeyCount], prefixes: Prefixes) -> TimelinePlot {
        let (Some((&first, _)), Some((&last, _))) =
            (self.bins.first_key_value(), self.bins.last_key_value())
        else {
            return TimelinePlot {
                start: 0,
                width: self.width,
                bins: Vec::new(),
                keys: Vec::new(),
            };
        };
        let bins = (first..=last).map(|bin| self.bins.get(&bin).copied().unwrap_or_default());
        let mut totals: HashMap<KeyId, u64> = HashMap::new();
        for (&(key, _), &denials) in &self.key_bins {
            *totals.entry(key).or_default() += denials;
        }
        let mut top: Vec<(KeyId, u64)> = totals.into_iter().collect();
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(TOP_KEYS);
        let keys = top
            .into_iter()
            .map(|(id, _)| {
                let name = match keys.get(id as usize).map(|k| &k.key) {
                    Some(Key::Ip(ip)) => prefixes.show(*ip),
                    Some(Key::Text(text)) => String::from_utf8_lossy(text).into_owned(),
                    None => format!("key {id}"),
                };
                let series = (first..=last)
                    .map(|bin| self.key_bins.get(&(id, bin)).copied().unwrap_or(0))
                    .collect();
                (name, series)
            })
            .collect();
        TimelinePlot { start: first * self.width, width: self.width, bins: bins.collect(), keys }
    }
}

/// A finished timeline, ready to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimelinePlot {
    /// The first bin's start, in ns after the epoch.
    start: u64,
    /// The bin width in ns.
    width: u64,
    /// Requests and denials per bin.
    bins: Vec<(u64, u64)>,
    /// The top keys' names and denials per bin.
    keys: Vec<(String, Vec<u64>)>,
}

/// Draws the summary's chart into the SVG file `path`: its timeline for one
/// limit, its denied shares for a sweep.
///
/// # Errors
///
/// [`CliError::Write`] when the file cannot be written.
pub(crate) fn draw(summary: &Summary, path: &Path) -> Result<(), CliError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let drawn = match (&summary.timeline, summary.results.as_slice()) {
            (Some(timeline), [result]) => {
                let title = format!("{}: {}", limit_text(&result.limit), summary.inputs.join(", "));
                draw_timeline(&root, timeline, &title)
            }
            _ => draw_sweep(&root, summary),
        };
        drawn.map_err(|err| CliError::Write {
            path: path.display().to_string(),
            err: io::Error::other(err.to_string()),
        })?;
    }
    std::fs::write(path, svg)
        .map_err(|err| CliError::Write { path: path.display().to_string(), err })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_timeline(root: &Area<'_>, plot: &TimelinePlot, title: &str) -> DrawResult {
    root.fill(&WHITE)?;
    let secs = |bin: usize| (bin as u64 * plot.width) as f64 / 1e9;
    let x_end = secs(plot.bins.len().max(1));
    let y_end = plot.bins.iter().map(|b| b.0).max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_end, 0u64..y_end + y_end / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc(format!("seconds after {}", format_rfc3339(plot.start)))
        .y_desc(format!("records per {} s", format_seconds(plot.width)))
        .draw()?;
    // Each bin's count is drawn at its middle.
    let line = |values: &mut dyn Iterator<Item = u64>| -> Vec<(f64, u64)> {
        values.enumerate().map(|(i, v)| ((secs(i) + secs(i + 1)) / 2.0, v)).collect()
    };
    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    let requests = line(&mut plot.bins.iter().map(|b| b.0));
    // The top keys' lines first, so that the totals' lines stay on top;
    // their legend entries come after the totals'.
    let key_color = |i: usize| Palette99::pick(i + 2).stroke_width(1);
    for (i, (_, series)) in plot.keys.iter().enumerate() {
        chart.draw_series(LineSeries::new(line(&mut series.iter().copied()), key_color(i)))?;
    }
    chart
        .draw_series(LineSeries::new(requests, blue.stroke_width(2)))?
        .label("requests")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], blue.stroke_width(2)));
    let denials = line(&mut plot.bins.iter().map(|b| b.1));
    chart
        .draw_series(LineSeries::new(denials, red.stroke_width(2)))?
        .label("denied")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], red.stroke_width(2)));
    for (i, (name, _)) in plot.keys.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(Vec::<(f64, u64)>::new(), key_color(i)))?
            .label(format!("denied: {name}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], key_color(i)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw_sweep(root: &Area<'_>, summary: &Summary) -> DrawResult {
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    root.fill(&WHITE)?;
    let mut capacities: Vec<u64> = Vec::new();
    let mut rates = Vec::new();
    for result in &summary.results {
        if !capacities.contains(&result.limit.capacity) {
            capacities.push(result.limit.capacity);
        }
        if !rates.contains(&result.limit.rate) {
            rates.push(result.limit.rate);
        }
    }
    let (columns, rows) = (rates.len() as f64, capacities.len() as f64);
    let title = format!("denied share by capacity and rate: {}", summary.inputs.join(", "));
    // Plain numeric axes, cell i spanning [i, i + 1], with the values
    // written under and beside the cells: plotters' segmented axes have no
    // width for a single value.
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..columns, 0f64..rows)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc("rate")
        .y_desc("capacity")
        .draw()?;
    let centred = |size: u32| {
        ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center))
    };
    for (i, rate) in rates.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(rate_text(*rate), (x, y + 12), centred(14)))?;
    }
    for (j, capacity) in capacities.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, j as f64 + 0.5));
        let right =
            ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(capacity.to_string(), (x - 8, y), right))?;
    }
    for result in &summary.results {
        let column = rates.iter().position(|r| *r == result.limit.rate).unwrap_or(0) as f64;
        let row = capacities.iter().position(|c| *c == result.limit.capacity).unwrap_or(0) as f64;
        let share =
            if summary.records == 0 { 0.0 } else { result.denied as f64 / summary.records as f64 };
        let fade = (255.0 * (1.0 - share)).round() as u8;
        let cell = [(column, row), (column + 1.0, row + 1.0)];
        chart.draw_series([Rectangle::new(cell, RGBColor(255, fade, fade).filled())])?;
        chart.draw_series([Rectangle::new(cell, BLACK.stroke_width(1))])?;
        let text = crate::report::percent(result.denied, summary.records);
        let color = if share > 0.5 { &WHITE } else { &BLACK };
        let style = centred(16).color(color);
        chart.draw_series([Text::new(text, (column + 0.5, row + 0.5), style)])?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn bins_widen_to_round_widths_and_keep_every_count() {
        let mut timeline = Timeline::default();
        // Ten minutes, a record every 100 ms, every third one denied.
        for i in 0..6000u64 {
            timeline.record(1_700_000_000_000 * MS + i * 100 * MS, (i % 7) as KeyId, i % 3 != 0);
        }
        assert_eq!(timeline.width, 10_000 * MS, "600 s over at most 240 bins: 10 s each");
        assert!(timeline.bins.len() as u64 <= MAX_BINS);
        let (requests, denials) =
            timeline.bins.values().fold((0, 0), |(r, d), b| (r + b.0, d + b.1));
        assert_eq!((requests, denials), (6000, 2000));
        assert_eq!(timeline.key_bins.values().sum::<u64>(), 2000);
        assert_eq!(timeline.bins.get(&170_000_000), Some(&(100, 34)));
    }

    #[test]
    fn records_out_of_order_land_in_their_own_bin() {
        let mut timeline = Timeline::default();
        timeline.record(10_000 * MS, 0, true);
        timeline.record(10_500 * MS, 1, false);
        timeline.record(9_000 * MS, 1, false);
        assert_eq!(timeline.width, 10 * MS);
        let keys = [
            KeyCount { key: Key::Ip([10, 0, 0, 1].into()), records: 1 },
            KeyCount { key: Key::Ip([10, 0, 0, 2].into()), records: 2 },
        ];
        let plot = timeline.finish(&keys, Prefixes::new(32, 128));
        assert_eq!((plot.start, plot.width, plot.bins.len()), (9_000 * MS, 10 * MS, 151));
        assert_eq!((plot.bins[0], plot.bins[100], plot.bins[150]), ((1, 1), (1, 0), (1, 1)));
        assert_eq!(plot.keys.len(), 1);
        assert_eq!(plot.keys[0].0, "10.0.0.2");
        assert_eq!(plot.keys[0].1.iter().sum::<u64>(), 2);
    }
}
