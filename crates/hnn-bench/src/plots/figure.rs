//! The paper's Figure 2 row for the example trajectory.

use std::path::Path;

use super::{Panel, Series, draw_row, rgb};
use crate::error::Result;
use crate::eval::{FigurePath, FigureRollout};

/// Phase space (`q` against `p`), coordinate MSE against the truth, each model's learned energy
/// along its own path, and the true energy along every path.
pub fn draw(path: &Path, fig: &FigureRollout, q: usize, p: usize) -> Result<()> {
    let dim = fig.dim;
    let paths: Vec<_> = fig.paths.iter().filter(|p| !p.states.is_empty()).collect();
    let truth = &fig.paths[0].states;
    let phase: Vec<(Vec<f64>, Vec<f64>)> = paths
        .iter()
        .map(|path| {
            (
                path.states.chunks(dim).map(|x| x[q]).collect(),
                path.states.chunks(dim).map(|x| x[p]).collect(),
            )
        })
        .collect();
    let coord_mse: Vec<Vec<f64>> = paths
        .iter()
        .map(|path| {
            path.states
                .chunks(dim)
                .zip(truth.chunks(dim))
                .map(|(a, b)| {
                    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / dim as f64
                })
                .collect()
        })
        .collect();
    fn series<'a>(
        t: &'a [f64],
        paths: &[&'a FigurePath],
        ys: Vec<Option<&'a [f64]>>,
        skip_truth: bool,
    ) -> Vec<Series<'a>> {
        paths
            .iter()
            .zip(ys)
            .skip(usize::from(skip_truth))
            .filter_map(|(path, y)| {
                y.map(|y| Series {
                    label: &path.label,
                    color: rgb(path.color),
                    x: t,
                    y,
                })
            })
            .collect()
    }
    let mut panels = vec![
        Panel {
            title: "Predictions",
            x_label: "q",
            y_label: "p",
            series: paths
                .iter()
                .zip(&phase)
                .map(|(path, (q, p))| Series {
                    label: &path.label,
                    color: rgb(path.color),
                    x: q,
                    y: p,
                })
                .collect(),
            log_y: false,
            equal_aspect: true,
            markers: false,
        },
        Panel {
            title: "MSE between coordinates",
            x_label: "time",
            y_label: "MSE",
            series: series(
                &fig.t,
                &paths,
                coord_mse.iter().map(|v| Some(v.as_slice())).collect(),
                true,
            ),
            log_y: false,
            equal_aspect: false,
            markers: false,
        },
    ];
    let learned = series(
        &fig.t,
        &paths,
        paths.iter().map(|p| p.learned_energy.as_deref()).collect(),
        true,
    );
    if !learned.is_empty() {
        panels.push(Panel {
            title: "Learned energy H_θ",
            x_label: "time",
            y_label: "H_θ",
            series: learned,
            log_y: false,
            equal_aspect: false,
            markers: false,
        });
    }
    let energy = series(
        &fig.t,
        &paths,
        paths.iter().map(|p| p.energy.as_deref()).collect(),
        false,
    );
    if !energy.is_empty() {
        panels.push(Panel {
            title: "Total energy",
            x_label: "time",
            y_label: "E",
            series: energy,
            log_y: false,
            equal_aspect: false,
            markers: false,
        });
    }
    let width = 480 * panels.len() as u32;
    draw_row(path, &panels, width, 440)
}
