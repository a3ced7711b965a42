//! The paper's Figure 4 frames for tasks seen through images: the truth's frames and each
//! model's decoded frames at the same times, as a labelled PNG grid and an animated GIF of
//! all rollouts side by side.

use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};
use plotters::prelude::*;

use super::{Panel, Series, draw_row, register_font, rgb};
use crate::error::{BenchError, Result};
use crate::eval::FigureRollout;

/// Height of the GIF's label strip above the frames.
const GIF_HEADER: u32 = 22;

/// Frame values reach 128/255; shown at twice that so the rod is black on white.
pub(crate) fn shade(v: f32) -> u8 {
    255 - (v * 2.0 * 255.0).round().clamp(0.0, 255.0) as u8
}

/// The paths that have frames: `(label, frames [points * side^2])`.
fn framed(fig: &FigureRollout) -> Vec<(&str, &[f32])> {
    fig.paths
        .iter()
        .filter_map(|p| p.frames.as_deref().map(|f| (p.label.as_str(), f)))
        .collect()
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> BenchError {
    BenchError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A grid: one row per path (truth first), `columns` frames at evenly spaced times; PNG at
/// `path` and SVG beside it.
pub fn draw_grid(path: &Path, fig: &FigureRollout, side: usize, columns: usize) -> Result<()> {
    register_font();
    let rows = framed(fig);
    let cell = 4 * side as u32 + 8;
    let (left, top) = (170u32, 34u32);
    let size = (
        left + cell * columns as u32 + 10,
        top + cell * rows.len() as u32 + 10,
    );
    let layout = Grid {
        rows: &rows,
        t: &fig.t,
        side,
        columns,
        cell,
        left,
        top,
    };
    {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        layout.draw(&root).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    let svg = path.with_extension("svg");
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    layout.draw(&root).map_err(|e| plot_err(&svg, e))?;
    root.present().map_err(|e| plot_err(&svg, e))
}

/// Where [`draw_grid`] puts each frame and label.
struct Grid<'a> {
    rows: &'a [(&'a str, &'a [f32])],
    t: &'a [f64],
    side: usize,
    columns: usize,
    cell: u32,
    left: u32,
    top: u32,
}

impl Grid<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (side, cell, left, top) = (self.side, self.cell, self.left, self.top);
        root.fill(&WHITE)?;
        let font = ("sans-serif", 18).into_font();
        let n = self.t.len();
        let picks: Vec<usize> = (0..self.columns)
            .map(|c| {
                if self.columns > 1 {
                    c * (n - 1) / (self.columns - 1)
                } else {
                    0
                }
            })
            .collect();
        for (c, &k) in picks.iter().enumerate() {
            let x = (left + cell * c as u32) as i32;
            root.draw(&Text::new(
                format!("t = {:.0}", self.t[k]),
                (x + 20, 8),
                font.clone(),
            ))?;
        }
        let pixels = side * side;
        for (r, (label, frames)) in self.rows.iter().enumerate() {
            let y0 = (top + cell * r as u32) as i32;
            root.draw(&Text::new(
                label.to_string(),
                (6, y0 + cell as i32 / 2 - 8),
                font.clone(),
            ))?;
            for (c, &k) in picks.iter().enumerate() {
                let x0 = (left + cell * c as u32) as i32;
                let Some(frame) = frames.get(k * pixels..(k + 1) * pixels) else {
                    continue;
                };
                for (i, &v) in frame.iter().enumerate() {
                    let s = shade(v);
                    if s == 255 {
                        continue; // white on white
                    }
                    let (px, py) = (x0 + 4 * (i % side) as i32, y0 + 4 * (i / side) as i32);
                    root.draw(&Rectangle::new(
                        [(px, py), (px + 4, py + 4)],
                        RGBColor(s, s, s).filled(),
                    ))?;
                }
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + 4 * side as i32, y0 + 4 * side as i32)],
                    RGBColor(180, 180, 180),
                ))?;
            }
        }
        Ok(())
    }
}

/// An animated GIF: every path's frames side by side (truth first) under its label, 4x
/// enlarged, 20 frames per second (Gym's `dt = 0.05`).
pub fn draw_gif(path: &Path, fig: &FigureRollout, side: usize) -> Result<()> {
    let rows = framed(fig);
    let pixels = side * side;
    let scale = 4;
    let panel = (side * scale + 4) as u32;
    let header = GIF_HEADER;
    let width = (panel * rows.len() as u32).max(1);
    let labels: Vec<(u32, String)> = rows
        .iter()
        .enumerate()
        .map(|(r, (label, _))| (r as u32 * panel + 2, label.to_string()))
        .collect();
    let strip = super::text_strip(&labels, width, header, 14);
    let file = std::fs::File::create(path).map_err(crate::io_err("cannot create", path))?;
    let mut enc = GifEncoder::new(std::io::BufWriter::new(file));
    enc.set_repeat(Repeat::Infinite)
        .map_err(|e| plot_err(path, e))?;
    for k in 0..fig.t.len() {
        let mut img = RgbaImage::from_pixel(width, panel + header, Rgba([255, 255, 255, 255]));
        for (x, y, p) in strip.enumerate_pixels() {
            img.put_pixel(x, y, Rgba([p[0], p[1], p[2], 255]));
        }
        for (r, (_, frames)) in rows.iter().enumerate() {
            let Some(frame) = frames.get(k * pixels..(k + 1) * pixels) else {
                continue;
            };
            for (i, &v) in frame.iter().enumerate() {
                let s = shade(v);
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(
                            r as u32 * panel + 2 + ((i % side) * scale + dx) as u32,
                            header + 2 + ((i / side) * scale + dy) as u32,
                            Rgba([s, s, s, 255]),
                        );
                    }
                }
            }
        }
        enc.encode_frame(Frame::from_parts(
            img,
            0,
            0,
            Delay::from_numer_denom_ms(50, 1),
        ))
        .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// Each latent model's path in its own latent plane (`z_q` against `z_p`) and over time: the
/// paper's Figure 4 latent panels. Nothing is drawn when no path has a latent state.
pub fn draw_latent(path: &Path, fig: &FigureRollout) -> Result<()> {
    let paths: Vec<_> = fig
        .paths
        .iter()
        .filter_map(|p| p.latent.as_ref().map(|z| (p, z)))
        .filter(|(_, z)| !z.is_empty())
        .collect();
    let Some((_, first)) = paths.first() else {
        return Ok(());
    };
    let dim = first.len() / fig.t.len().max(1);
    if dim < 2 {
        return Ok(());
    }
    let half = dim / 2;
    let cols: Vec<(Vec<f64>, Vec<f64>)> = paths
        .iter()
        .map(|(_, z)| {
            (
                z.chunks(dim).map(|x| x[0]).collect(),
                z.chunks(dim).map(|x| x[half]).collect(),
            )
        })
        .collect();
    let phase = Panel {
        title: "Latent space",
        x_label: "z_q",
        y_label: "z_p",
        series: paths
            .iter()
            .zip(&cols)
            .map(|((p, _), (q, pp))| Series {
                label: &p.label,
                color: rgb(p.color),
                x: q,
                y: pp,
            })
            .collect(),
        log_y: false,
        equal_aspect: true,
        markers: false,
    };
    let over_time = Panel {
        title: "Latent z_q over time",
        x_label: "time (frames)",
        y_label: "z_q",
        series: paths
            .iter()
            .zip(&cols)
            .map(|((p, _), (q, _))| Series {
                label: &p.label,
                color: rgb(p.color),
                x: &fig.t,
                y: q,
            })
            .collect(),
        log_y: false,
        equal_aspect: false,
        markers: false,
    };
    draw_row(path, &[phase, over_time], 960, 440)
}
