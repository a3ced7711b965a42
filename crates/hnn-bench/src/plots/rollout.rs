//! Rollout metrics over time for one protocol: relative error, energy drift and coordinate
//! MSE, each a mean over the finished trajectories, one line per model (`x` the truth, `y` the
//! model's rollout).

use std::path::Path;

use super::{Panel, Series, draw_row, model_style};
use crate::error::Result;
use crate::eval::ProtocolOutcome;

/// `t`: the comparison times (from the protocol's first start).
pub fn draw(path: &Path, outcome: &ProtocolOutcome, t: &[f64]) -> Result<()> {
    let styles: Vec<(String, plotters::style::RGBColor)> =
        outcome.models.keys().map(|m| model_style(m)).collect();
    let panel = |title: &'static str,
                 y_label: &'static str,
                 pick: fn(&crate::metrics::RolloutMetrics) -> &[f64]| {
        Panel {
            title,
            x_label: "t",
            y_label,
            series: outcome
                .models
                .values()
                .zip(&styles)
                .filter(|(e, _)| !pick(&e.metrics).is_empty())
                .map(|(e, (label, color))| {
                    let y = pick(&e.metrics);
                    Series {
                        label,
                        color: *color,
                        x: &t[..y.len().min(t.len())],
                        y: &y[..y.len().min(t.len())],
                    }
                })
                .collect(),
            log_y: true,
            equal_aspect: false,
            markers: false,
        }
    };
    draw_row(
        path,
        &[
            panel(
                "Relative error |y − x| / (|y| + |x|)",
                "relative error",
                |m| &m.relative_error_over_time,
            ),
            panel(
                "Relative energy drift",
                "|E(y) − E(x₀)| / |E(x₀)|",
                |m| &m.energy_drift_over_time,
            ),
            panel("Coordinate MSE", "MSE", |m| &m.coordinate_mse_over_time),
        ],
        1500,
        440,
    )
}
