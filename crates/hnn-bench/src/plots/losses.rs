//! Training curves: train and test loss per model, one panel each, and one more pair per
//! named loss part when an objective has several.

use std::path::Path;

use super::{Panel, Series, draw_row, model_style};
use crate::error::Result;
use crate::train::LogRow;

/// `histories`: `(model name, logged rows)`.
pub fn draw(path: &Path, histories: &[(String, Vec<LogRow>)]) -> Result<()> {
    struct Curves {
        label: String,
        color: plotters::style::RGBColor,
        steps: Vec<f64>,
        train: Vec<f64>,
        test: Vec<f64>,
    }
    let curves: Vec<Curves> = histories
        .iter()
        .map(|(name, rows)| {
            let (label, color) = model_style(name);
            Curves {
                label,
                color,
                steps: rows.iter().map(|r| r.step as f64).collect(),
                train: rows.iter().map(|r| r.train_loss).collect(),
                test: rows.iter().map(|r| r.test_loss).collect(),
            }
        })
        .collect();
    let panel = |title, pick: fn(&Curves) -> &[f64]| Panel {
        title,
        x_label: "step",
        y_label: "loss",
        series: curves
            .iter()
            .map(|c| Series {
                label: &c.label,
                color: c.color,
                x: &c.steps,
                y: pick(c),
            })
            .collect(),
        log_y: true,
        equal_aspect: false,
        markers: false,
    };
    draw_row(
        path,
        &[
            panel("Train loss", |c| &c.train),
            panel("Test loss", |c| &c.test),
        ],
        1000,
        440,
    )
}
