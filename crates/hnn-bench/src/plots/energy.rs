//! Energy MSE per trajectory of one protocol.

use std::path::Path;

use super::{Panel, Series, draw_row, model_style};
use crate::error::Result;
use crate::eval::ProtocolOutcome;

pub fn draw(path: &Path, name: &str, outcome: &ProtocolOutcome) -> Result<()> {
    let n = outcome.model_horizons.len();
    let rows: Vec<(String, plotters::style::RGBColor, Vec<f64>, &[f64])> = outcome
        .models
        .iter()
        .map(|(m, e)| {
            let (label, color) = model_style(m);
            let xs = (0..n)
                .filter(|i| !e.failed.iter().any(|f| f.trajectory == *i))
                .map(|i| i as f64)
                .collect();
            (label, color, xs, e.per_trajectory.as_slice())
        })
        .collect();
    let title = format!("Energy MSE per trajectory ({name} protocol)");
    let series = rows
        .iter()
        .filter(|r| !r.3.is_empty())
        .map(|(label, color, xs, ys)| Series {
            label,
            color: *color,
            x: xs,
            y: ys,
        })
        .collect();
    draw_row(
        path,
        &[Panel {
            title: &title,
            x_label: "trajectory",
            y_label: "energy MSE",
            series,
            log_y: true,
            equal_aspect: false,
            markers: true,
        }],
        800,
        440,
    )
}
