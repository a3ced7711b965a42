//! Figures, each as PNG and SVG. Each plot takes rollouts, histories or outcomes and names; none runs a network.
//!
//! - [`figure`]: the paper's Figure 2 row (phase space, coordinate MSE, learned energy, true
//!   energy over time);
//! - [`orbits`]: the paper's Figure 3 (body paths; kinetic, potential and total energy);
//! - [`losses`]: training curves, one panel per loss part and split;
//! - [`energy`]: energy MSE per trajectory of a protocol;
//! - [`frames`]: the paper's Figure 4 frames (truth and decoded model rollouts) and a GIF.

pub mod energy;
pub mod figure;
pub mod frames;
pub mod losses;
pub mod orbits;
pub mod rollout;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{BenchError, Result};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is valid; if registration failed, text would be missing, not wrong.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A colour from its RGB triple (the model registry's colours).
pub fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// A model's legend label and colour from the registry (grey for an unknown name).
pub fn model_style(name: &str) -> (String, RGBColor) {
    hnn_models::model_info(name).map_or((name.to_string(), RGBColor(120, 120, 120)), |i| {
        (i.label.to_string(), rgb(i.color))
    })
}

/// One line of a panel.
pub struct Series<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub x: &'a [f64],
    pub y: &'a [f64],
}

impl Series<'_> {
    /// The truth is drawn last, dashed, so that it shows over models that follow it.
    fn is_truth(&self) -> bool {
        self.label == crate::eval::TRUTH_LABEL
    }
}

/// One panel: a title, axis labels and lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
    pub log_y: bool,
    /// One unit is as long on both axes (phase portraits, orbits).
    pub equal_aspect: bool,
    /// Points, not lines: values of independent items (one per trajectory), not a curve.
    pub markers: bool,
}

/// Font sizes in plotters' units (a size `s` is drawn `s / 1.24` pixels high): labels of 16 px
/// and titles of 20 px, readable when a 4-panel row of 1920 px is scaled to a paper's width.
const LABEL_PX: u32 = 20;
const AXIS_PX: u32 = 21;
const TITLE_PX: u32 = 25;
/// The strip above the panels that holds the one legend of the figure.
const LEGEND_PX: u32 = 38;
const X_LABEL_AREA: u32 = 52;
/// The least room left of a panel for its y tick labels and axis name; more when its labels
/// are wider ([`y_label_area`]).
const Y_LABEL_AREA: u32 = 84;
/// At most this many labelled ticks: 6 on x keeps 4-digit step counts apart in a quarter of
/// a 1920 px row; plotters' own 10 on y.
const X_TICKS: usize = 6;
const Y_TICKS: usize = 10;
const MARGIN: u32 = 12;

/// The smallest and largest finite values, if there are any.
fn range_of(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    lo.is_finite().then_some((lo, hi))
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let Some((lo, hi)) = range_of(values.filter(|v| !log || *v > 0.0)) else {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    };
    if log {
        // whole decades, a little beyond the data, so that at least two powers of ten are
        // labelled (the only labels of a log axis, see `tick_decade`)
        // (a hair beyond them: plotters finds its first tick as 10^ceil(log10(lo)) in floating
        // point, which misses a bound that is exactly a power of ten)
        let lo = 10f64.powf((lo.log10() - 0.05).floor()) * (1.0 - 1e-6);
        let hi = 10f64.powf((hi.log10() + 0.05).ceil()) * (1.0 + 1e-6);
        return (lo, hi);
    }
    // a series constant but for float noise (a learned H that conserves itself to f32
    // rounding) gets a span of 0.1% of its size and at least 0.01, so that the noise stays
    // inside the axes and the ticks, written with three decimals, differ
    let scale = lo.abs().max(hi.abs());
    let pad = if hi - lo > 1e-4 * scale {
        0.05 * (hi - lo)
    } else {
        (5e-4 * scale).max(5e-3)
    };
    (lo - pad, hi + pad)
}

/// Widens the shorter of two ranges about its middle so that a unit has the same length in
/// pixels on both axes of a `width x height` plot.
fn equal_aspect(x: (f64, f64), y: (f64, f64), width: f64, height: f64) -> ((f64, f64), (f64, f64)) {
    let per_px = ((x.1 - x.0) / width).max((y.1 - y.0) / height);
    let widen = |r: (f64, f64), px: f64| {
        let (mid, half) = ((r.0 + r.1) / 2.0, per_px * px / 2.0);
        (mid - half, mid + half)
    };
    (widen(x, width), widen(y, height))
}

/// Tick labels of a linear axis: [`tick_log`]'s, with a tick a floating-point step away from
/// zero (`-5.6e-17` from summing steps) written `0`.
fn tick(v: &f64) -> String {
    if v.abs() < 1e-12 {
        "0".into()
    } else {
        tick_log(v)
    }
}

/// Tick labels without trailing ".0" and with at most three significant decimals.
fn tick_log(v: &f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e6 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 && v.abs() < 1e5 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        // 1e-4, 2.5e-4: no ".0" on a whole mantissa
        let s = format!("{v:.1e}");
        s.replacen(".0e", "e", 1)
    }
}

/// Labels of a log axis: powers of ten only. plotters also offers 2, 3, ... 9 times each power
/// when a range spans few decades, and those crowd into one smudge near the top of a decade.
fn tick_decade(v: &f64) -> String {
    let mantissa = v / 10f64.powf(v.log10().round());
    if (mantissa - 1.0).abs() < 1e-9 {
        tick_log(v)
    } else {
        String::new()
    }
}

/// Labels of an axis of item numbers (trajectory 0, 1, ...): whole numbers only.
fn tick_index(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        tick(&v.round())
    } else {
        String::new()
    }
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> BenchError {
    BenchError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A white `width x height` RGB strip with each `(x, text)` written at `x` in font size
/// `size` (for labelling pixel images: GIF panels, contact sheets).
pub(crate) fn text_strip(
    labels: &[(u32, String)],
    width: u32,
    height: u32,
    size: u32,
) -> image::RgbImage {
    register_font();
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let font = ("sans-serif", size).into_font();
        for (x, text) in labels {
            // a label that cannot be drawn leaves the strip white, never fails the figure
            let _ = area.draw(&Text::new(text.clone(), (*x as i32, 3), font.clone()));
        }
        let _ = area.present();
    }
    image::RgbImage::from_raw(width, height, buf).expect("the buffer has width x height pixels")
}

/// Draws panels side by side under one legend into a PNG of `width x height` pixels (the
/// legend's strip included) at `path`, and the same figure as SVG beside it (`.svg`).
pub fn draw_row(path: &Path, panels: &[Panel<'_>], width: u32, height: u32) -> Result<()> {
    register_font();
    let size = (width, height + LEGEND_PX);
    {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        render(&root, panels).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    let svg = path.with_extension("svg");
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    render(&root, panels).map_err(|e| plot_err(&svg, e))?;
    root.present().map_err(|e| plot_err(&svg, e))
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn render<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel<'_>],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (legend, body) = root.split_vertically(LEGEND_PX);
    draw_legend(&legend, panels)?;
    for (area, panel) in body.split_evenly((1, panels.len())).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

/// Every series label once, in order of first appearance, across the top of the figure.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panels: &[Panel<'_>],
) -> DrawResult<DB> {
    let mut seen: Vec<(&str, RGBColor, bool)> = Vec::new();
    for s in panels.iter().flat_map(|p| &p.series) {
        if !seen.iter().any(|(l, _, _)| *l == s.label) {
            seen.push((s.label, s.color, s.is_truth()));
        }
    }
    let font = ("sans-serif", LABEL_PX).into_font();
    let markers = panels.iter().all(|p| p.markers);
    let mut x = MARGIN as i32 + Y_LABEL_AREA as i32 / 2;
    let y = LEGEND_PX as i32 / 2;
    for (label, color, truth) in seen {
        let style = color.stroke_width(3);
        if markers {
            area.draw(&Circle::new((x + 12, y), 5, color.filled()))?;
        } else if truth {
            area.draw(&PathElement::new(vec![(x, y), (x + 9, y)], style))?;
            area.draw(&PathElement::new(vec![(x + 15, y), (x + 24, y)], style))?;
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], style))?;
        }
        area.draw(&Text::new(
            label.to_string(),
            (x + 30, y - LABEL_PX as i32 / 2 - 1),
            font.clone(),
        ))?;
        let (w, _) = area.estimate_text_size(label, &TextStyle::from(font.clone()))?;
        x += 30 + w as i32 + 28;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel<'_>,
) -> DrawResult<DB> {
    let x_values = || panel.series.iter().flat_map(|s| s.x.iter().copied());
    let mut xs = if panel.markers {
        // items, not a curve: half an item beyond the first and last (one item stays readable)
        let (lo, hi) = range_of(x_values()).unwrap_or((0.0, 1.0));
        (lo - 0.5, hi + 0.5)
    } else {
        range(x_values(), false)
    };
    let mut ys = range(
        panel.series.iter().flat_map(|s| s.y.iter().copied()),
        panel.log_y,
    );
    let mut y_area = y_label_area(ys, panel.log_y);
    if panel.equal_aspect && !panel.log_y {
        let (w, h) = area.dim_in_pixel();
        let plot_w = w.saturating_sub(y_area + 2 * MARGIN).max(1) as f64;
        let plot_h = h
            .saturating_sub(X_LABEL_AREA + TITLE_PX + 3 * MARGIN)
            .max(1) as f64;
        (xs, ys) = equal_aspect(xs, ys, plot_w, plot_h);
        y_area = y_area.max(y_label_area(ys, false));
    }
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title, ("sans-serif", TITLE_PX))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(y_area);
    if panel.log_y {
        let chart = builder.build_cartesian_2d(xs.0..xs.1, (ys.0..ys.1).log_scale())?;
        draw_series(chart, panel, &tick_decade)
    } else {
        let chart = builder.build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)?;
        draw_series(chart, panel, &tick)
    }
}

/// Room for a panel's y tick labels (the ticks plotters will draw on `ys`, formatted as drawn,
/// about 0.55 of the font size per character) and its axis name beside them.
fn y_label_area(ys: (f64, f64), log_y: bool) -> u32 {
    let hint = plotters::coord::ranged1d::BoldPoints(Y_TICKS);
    let labels: Vec<String> = if log_y {
        let coord: plotters::coord::combinators::LogCoord<f64> = (ys.0..ys.1).log_scale().into();
        coord.key_points(hint).iter().map(tick_decade).collect()
    } else {
        let coord = plotters::coord::types::RangedCoordf64::from(ys.0..ys.1);
        coord.key_points(hint).iter().map(tick).collect()
    };
    let chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let label_w = chars * LABEL_PX * 55 / 100;
    Y_LABEL_AREA.max(label_w + AXIS_PX + 2 * MARGIN)
}

fn draw_series<DB: DrawingBackend, Y>(
    mut chart: ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    panel: &Panel<'_>,
    y_tick: &dyn Fn(&f64) -> String,
) -> DrawResult<DB>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(panel.x_label)
        .x_labels(X_TICKS)
        .y_labels(Y_TICKS)
        .x_label_formatter(if panel.markers { &tick_index } else { &tick })
        .y_desc(panel.y_label)
        .y_label_formatter(y_tick)
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", AXIS_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let finite = |s: &Series<'_>| -> Vec<(f64, f64)> {
        s.x.iter()
            .zip(s.y)
            .map(|(&a, &b)| (a, b))
            .filter(|(a, b)| a.is_finite() && b.is_finite() && (!panel.log_y || *b > 0.0))
            .collect()
    };
    // models first, the truth over them
    let order = panel
        .series
        .iter()
        .filter(|s| !s.is_truth())
        .chain(panel.series.iter().filter(|s| s.is_truth()));
    for s in order {
        let points = finite(s);
        if panel.markers {
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, s.color.filled())),
            )?;
        } else if s.is_truth() {
            chart.draw_series(DashedLineSeries::new(points, 9, 6, BLACK.stroke_width(2)))?;
        } else {
            chart.draw_series(LineSeries::new(points, s.color.stroke_width(2)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long tick labels (a learned H near -14.73 with three decimals) get room beside the axis
    /// name; short ones keep the least room.
    #[test]
    fn y_labels_get_the_room_they_need() {
        assert_eq!(y_label_area((0.0, 1.0), false), Y_LABEL_AREA);
        // log ticks 1e-4 ... 0.001 ... 1: "0.001" is the widest, 5 characters
        assert_eq!(
            y_label_area((1e-4, 1.0), true),
            5 * LABEL_PX * 55 / 100 + AXIS_PX + 2 * MARGIN
        );
        // ticks -14.74, -14.738, ... -14.728: 7 characters
        let wide = y_label_area((-14.7405, -14.7275), false);
        assert_eq!(wide, 7 * LABEL_PX * 55 / 100 + AXIS_PX + 2 * MARGIN);
        assert!(wide > Y_LABEL_AREA);
    }

    /// A learned H constant to f32 rounding gets a readable span, ticks near zero read `0`,
    /// and a varying series keeps its 5% margins.
    #[test]
    fn ranges_and_ticks_stay_readable() {
        let noisy = [-13.818_001, -13.818_002, -13.818_000_5];
        let (lo, hi) = range(noisy.iter().copied(), false);
        assert!(lo < -13.818_002 && hi > -13.818_000_5);
        assert!(hi - lo > 0.01, "{lo} {hi}");
        // three-decimal ticks across that span differ
        assert_ne!(tick(&lo), tick(&(lo + (hi - lo) / 4.0)));
        assert_eq!(range([0.0, 1.0].into_iter(), false), (-0.05, 1.05));
        assert_eq!(tick(&-5.6e-17), "0");
        let decades = |lo: f64, hi: f64| {
            let (a, b) = range([lo, hi].into_iter(), true);
            (a / (1.0 - 1e-6), b / (1.0 + 1e-6))
        };
        assert_eq!(decades(3e-4, 0.011), (1e-4, 0.1));
        assert_eq!(decades(0.5, 4.0), (0.1, 10.0));
        // both bounds of a one-decade axis are labelled
        let (a, b) = range([0.3, 0.8].into_iter(), true);
        let coord: plotters::coord::combinators::LogCoord<f64> = (a..b).log_scale().into();
        let mut labels: Vec<String> = coord
            .key_points(plotters::coord::ranged1d::BoldPoints(Y_TICKS))
            .iter()
            .map(tick_decade)
            .filter(|l| !l.is_empty())
            .collect();
        // (plotters may give the top decade twice, as its last light point and a bold one)
        labels.dedup();
        assert_eq!(labels, ["0.1", "1"]);
        assert_eq!(tick_index(&1e-17), "0");
        assert_eq!(tick_decade(&0.01), "0.01");
        assert_eq!(tick_decade(&1e-5), "1e-5");
        assert_eq!(tick_decade(&0.009), "");
        assert_eq!(tick_decade(&2e-4), "");
        assert_eq!(tick_index(&3.0), "3");
        assert_eq!(tick_index(&-0.4), "");
        assert_eq!(tick_log(&1e-13), "1e-13");
        assert_eq!(tick_log(&2.5e-4), "2.5e-4");
        assert_eq!(tick_log(&-1e7), "-1e7");
        assert_eq!(tick(&0.25), "0.25");
    }

    /// A unit is as many pixels on both axes; the data's own ranges stay inside.
    #[test]
    fn equal_aspect_widens_the_short_range_about_its_middle() {
        // y: 0.01 per pixel, x only 0.005: x widens to 4 about its middle 1
        let ((x0, x1), (y0, y1)) = equal_aspect((0.0, 2.0), (-0.5, 0.5), 400.0, 100.0);
        assert_eq!((y0, y1), (-0.5, 0.5));
        assert!(
            (x0 - -1.0).abs() < 1e-12 && (x1 - 3.0).abs() < 1e-12,
            "{x0} {x1}"
        );
        assert!(((x1 - x0) / 400.0 - (y1 - y0) / 100.0).abs() < 1e-12);
        let ((x0, x1), (y0, y1)) = equal_aspect((0.0, 1.0), (0.0, 10.0), 200.0, 200.0);
        assert_eq!((y0, y1), (0.0, 10.0));
        assert!((x0 - -4.5).abs() < 1e-12 && (x1 - 5.5).abs() < 1e-12);
    }
}
