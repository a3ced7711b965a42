//! The paper's Figure 3: each path's bodies in the plane, and its energies over time.

use std::path::Path;

use plotters::style::RGBColor;

use super::{Panel, Series, draw_row, rgb};
use crate::error::Result;
use crate::eval::FigureRollout;

const BODY: [RGBColor; 6] = [
    RGBColor(40, 70, 220),
    RGBColor(220, 40, 40),
    RGBColor(30, 150, 60),
    RGBColor(200, 130, 0),
    RGBColor(130, 50, 170),
    RGBColor(0, 150, 160),
];

/// `orbits.png` (one panel per path, `n` bodies with state `(x_1..x_n, y_1..y_n, ...)`) and
/// `orbit_energy.png` (kinetic, potential, total).
pub fn draw(dir: &Path, fig: &FigureRollout, n: usize) -> Result<()> {
    let dim = fig.dim;
    let paths: Vec<_> = fig.paths.iter().filter(|p| !p.states.is_empty()).collect();
    // body i of path m: (x(t), y(t))
    let bodies: Vec<Vec<(Vec<f64>, Vec<f64>)>> = paths
        .iter()
        .map(|p| {
            (0..n)
                .map(|i| {
                    (
                        p.states.chunks(dim).map(|x| x[i]).collect(),
                        p.states.chunks(dim).map(|x| x[n + i]).collect(),
                    )
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("body {}", i + 1)).collect();
    let panels: Vec<Panel<'_>> = paths
        .iter()
        .zip(&bodies)
        .map(|(p, bs)| Panel {
            title: &p.label,
            x_label: "x",
            y_label: "y",
            series: bs
                .iter()
                .enumerate()
                .map(|(i, (x, y))| Series {
                    label: &names[i],
                    color: BODY[i % BODY.len()],
                    x,
                    y,
                })
                .collect(),
            log_y: false,
            equal_aspect: true,
            markers: false,
        })
        .collect();
    draw_row(
        &dir.join("orbits.png"),
        &panels,
        460 * panels.len() as u32,
        460,
    )?;

    let parts: Vec<[Vec<f64>; 3]> = paths
        .iter()
        .map(|p| {
            let kp = p.energy_parts.clone().unwrap_or_default();
            [
                kp.iter().map(|e| e[0]).collect(),
                kp.iter().map(|e| e[1]).collect(),
                p.energy.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let titles = ["Kinetic energy", "Potential energy", "Total energy"];
    let panels: Vec<Panel<'_>> = titles
        .iter()
        .enumerate()
        .map(|(j, title)| Panel {
            title,
            x_label: "time",
            y_label: "energy",
            series: paths
                .iter()
                .zip(&parts)
                .filter(|(_, e)| !e[j].is_empty())
                .map(|(p, e)| Series {
                    label: &p.label,
                    color: rgb(p.color),
                    x: &fig.t,
                    y: &e[j],
                })
                .collect(),
            log_y: false,
            equal_aspect: false,
            markers: false,
        })
        .collect();
    draw_row(&dir.join("orbit_energy.png"), &panels, 1440, 440)
}
