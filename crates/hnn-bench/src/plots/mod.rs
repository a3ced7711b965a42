//! PNG figures. Each plot takes rollouts, histories or outcomes and names; none runs a network.
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

/// One panel: a title, axis labels and lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
    pub log_y: bool,
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        return (lo / 2.0, hi * 2.0);
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
        format!("{v:.1e}")
    }
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> BenchError {
    BenchError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Draws panels side by side into a PNG of `width x height` pixels.
pub fn draw_row(path: &Path, panels: &[Panel<'_>], width: u32, height: u32) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        let xs = range(panel.series.iter().flat_map(|s| s.x.iter().copied()), false);
        let ys = range(
            panel.series.iter().flat_map(|s| s.y.iter().copied()),
            panel.log_y,
        );
        // headroom above the data for the legend
        let ys = if panel.log_y {
            (ys.0, ys.1 * (ys.1 / ys.0).powf(0.45))
        } else {
            (ys.0, ys.1 + 0.4 * (ys.1 - ys.0))
        };
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(panel.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64);
        let finite = |s: &Series<'_>| -> Vec<(f64, f64)> {
            s.x.iter()
                .zip(s.y)
                .map(|(&a, &b)| (a, b))
                .filter(|(a, b)| a.is_finite() && b.is_finite() && (!panel.log_y || *b > 0.0))
                .collect()
        };
        macro_rules! draw {
            ($chart:expr, $y_tick:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(panel.x_label)
                    .x_label_formatter(&tick)
                    .y_desc(panel.y_label)
                    .y_label_formatter($y_tick)
                    .label_style(("sans-serif", 13))
                    .axis_desc_style(("sans-serif", 15))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
                for s in &panel.series {
                    let color = s.color;
                    chart
                        .draw_series(LineSeries::new(finite(s), color.stroke_width(2)))
                        .map_err(|e| plot_err(path, e))?
                        .label(s.label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .label_font(("sans-serif", 13))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
            }};
        }
        if panel.log_y {
            draw!(
                builder
                    .build_cartesian_2d(xs.0..xs.1, (ys.0..ys.1).log_scale())
                    .map_err(|e| plot_err(path, e))?,
                &tick_log
            );
        } else {
            draw!(
                builder
                    .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
                    .map_err(|e| plot_err(path, e))?,
                &tick
            );
        }
    }
    root.present().map_err(|e| plot_err(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(tick_log(&1e-13), "1.0e-13");
        assert_eq!(tick(&0.25), "0.25");
    }
}
