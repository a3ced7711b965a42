//! Frames of the pendulum as the official code saw them, drawn from the geometry.
//!
//! Gym draws the rod on a white square canvas whose world bounds are `±2.2`: a capsule of
//! length 1 and half-width 0.1 from the pivot, colour RGB(204, 76, 76), rotated by
//! `theta + pi/2`, under a black axle disc of radius 0.05. The official preprocessing crops
//! the 1000x1000 render to the window around the hanging rod (rows 440..780, columns
//! 330..670: world `x` in `[-0.75, 0.75]`, `y` from `+0.26` down to `-1.23`), takes red minus
//! green (white and black give 0, the rod 128) and down-samples to 28x28 with Pillow's
//! bilinear filter (a triangle whose support widens with the reduction), then divides by 255.
//!
//! Here a pixel is rod when its centre lies in the capsule and outside the axle (hard edges,
//! as Gym's polygons are rasterised). Gym approximates the round ends by 30-gons; the exact
//! circles used here differ from them by at most 0.12 render pixels, 0.01 of an output pixel.
//! The down-sampling is `image`'s triangle filter (computed here the same way, faster), with
//! Pillow's weights exactly; Pillow rounds to 8 bits between its two passes and `image` once
//! at the end, so single values may differ by one level (1/255).

use image::{GrayImage, Luma};

use crate::error::{Result, invalid};

/// World half-width of Gym's pendulum canvas.
pub const WORLD_BOUND: f64 = 2.2;
/// Half-width of the rod.
pub const ROD_RADIUS: f64 = 0.1;
/// Radius of the axle disc.
pub const AXLE_RADIUS: f64 = 0.05;
/// Red minus green of the rod colour RGB(204, 76, 76).
pub const ROD_VALUE: u8 = 128;

/// Where the frame is taken from and how small it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Camera {
    /// Side of Gym's square render in pixels.
    pub render_size: u32,
    /// Crop rows `[first, end)` of the render (row 0 at the top).
    pub rows: [u32; 2],
    /// Crop columns `[first, end)`.
    pub cols: [u32; 2],
    /// Side of the down-sampled square frame.
    pub side: u32,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            render_size: 1000,
            rows: [440, 780],
            cols: [330, 670],
            side: 28,
        }
    }
}

impl Camera {
    /// Checks that the crop lies in the render and leaves pixels, and the frame size.
    pub fn validate(&self) -> Result<()> {
        let n = self.render_size;
        if !(8..=8192).contains(&n) {
            return Err(invalid("render_size", n, "expected 8 to 8192 pixels"));
        }
        for (key, [a, b]) in [("rows", self.rows), ("cols", self.cols)] {
            if a >= b || b > n {
                return Err(invalid(
                    key,
                    format!("[{a}, {b}]"),
                    &format!("expected [first, end) with first < end <= render_size ({n})"),
                ));
            }
        }
        if !(1..=256).contains(&self.side) {
            return Err(invalid("side", self.side, "expected 1 to 256 pixels"));
        }
        Ok(())
    }

    /// Values per frame (`side * side`).
    pub fn pixels(&self) -> usize {
        (self.side * self.side) as usize
    }

    fn scale(&self) -> f64 {
        self.render_size as f64 / (2.0 * WORLD_BOUND)
    }

    /// World `(x, y)` of the centre of render pixel `(row, col)`.
    pub fn world(&self, row: u32, col: u32) -> (f64, f64) {
        let s = self.scale();
        (
            (col as f64 + 0.5) / s - WORLD_BOUND,
            WORLD_BOUND - (row as f64 + 0.5) / s,
        )
    }

    /// The cropped render, red minus green: [`ROD_VALUE`] on the rod, 0 elsewhere.
    /// `theta` is Gym's angle (from upright).
    pub fn crop(&self, theta: f64) -> GrayImage {
        let (w, h) = (self.cols[1] - self.cols[0], self.rows[1] - self.rows[0]);
        let mut img = GrayImage::new(w, h);
        let rod = Capsule::new(theta);
        let s = self.scale();
        for r in 0..h {
            let (_, y) = self.world(self.rows[0] + r, 0);
            let Some((lo, hi)) = rod.row_span(y) else {
                continue;
            };
            let axle = (AXLE_RADIUS * AXLE_RADIUS - y * y).max(-1.0);
            // columns whose centre x = (c + 0.5)/s - bound lies in [lo, hi]
            let c_lo = ((lo + WORLD_BOUND) * s - 0.5)
                .ceil()
                .max(self.cols[0] as f64);
            let c_hi = ((hi + WORLD_BOUND) * s - 0.5)
                .floor()
                .min(self.cols[1] as f64 - 1.0);
            let mut c = c_lo;
            while c <= c_hi {
                let x = (c + 0.5) / s - WORLD_BOUND;
                if !(axle >= 0.0 && x * x <= axle) {
                    img.put_pixel(c as u32 - self.cols[0], r, Luma([ROD_VALUE]));
                }
                c += 1.0;
            }
        }
        img
    }

    /// The preprocessed frame: the crop down-sampled to `side x side`, divided by 255
    /// (values in `[0, 128/255]`), row-major.
    pub fn frame(&self, theta: f64) -> Vec<f32> {
        downsample(&self.crop(theta), self.side)
            .into_raw()
            .into_iter()
            .map(|v| v as f32 / 255.0)
            .collect()
    }
}

/// Pillow's `bilinear` reduction of an 8-bit image to `side x side`: the triangle filter of
/// support `input / output` pixels around each output centre.
///
/// The same arithmetic as `image::imageops::resize(.., FilterType::Triangle)` (the same
/// weights, a vertical then a horizontal pass in `f32` summed in the same order, one rounding
/// at the end), so the same bytes, but it skips the all-zero rows that make up most of a frame
/// and keeps one channel instead of four: about ten times faster here.
pub fn downsample(img: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let s = side as usize;
    if w == 0 || h == 0 {
        return GrayImage::new(side, side);
    }
    let (ty, tx) = (taps(h, s), taps(w, s));
    // vertical: tmp[oy][x] = sum_i wy_i img[top + i][x], input rows ascending; zeros add +0.0
    // to a non-negative sum, so only each row's span from its first to its last non-zero
    // pixel is added
    let mut reach: Vec<Vec<(usize, f32)>> = vec![Vec::new(); h];
    for (oy, t) in ty.iter().enumerate() {
        for (i, &wi) in t.w.iter().enumerate() {
            reach[t.start + i].push((oy, wi));
        }
    }
    let raw = img.as_raw();
    let mut tmp = vec![0.0f32; s * w];
    for (r, outs) in reach.iter().enumerate() {
        let row = &raw[r * w..(r + 1) * w];
        let Some(a) = row.iter().position(|&v| v != 0) else {
            continue;
        };
        let b = row.iter().rposition(|&v| v != 0).unwrap_or(a) + 1;
        for &(oy, wi) in outs {
            let acc = &mut tmp[oy * w + a..oy * w + b];
            for (x, &v) in acc.iter_mut().zip(&row[a..b]) {
                *x += f32::from(v) * wi;
            }
        }
    }
    // horizontal, then one rounding
    let mut out = GrayImage::new(side, side);
    for oy in 0..s {
        let row = &tmp[oy * w..(oy + 1) * w];
        for (ox, t) in tx.iter().enumerate() {
            let mut v = 0.0f32;
            for (i, &wi) in t.w.iter().enumerate() {
                v += row[t.start + i] * wi;
            }
            out.put_pixel(
                ox as u32,
                oy as u32,
                Luma([v.clamp(0.0, 255.0).round() as u8]),
            );
        }
    }
    out
}

/// The input pixels `start..start + w.len()` and their normalised weights for one output pixel.
struct Taps {
    start: usize,
    w: Vec<f32>,
}

/// The triangle filter's taps of a reduction from `input` to `output` pixels: output `o` is
/// centred at `(o + 0.5) * ratio` in input units and weighs input `i` by
/// `1 - |i + 0.5 - centre| / ratio` (for `ratio >= 1`), normalised.
fn taps(input: usize, output: usize) -> Vec<Taps> {
    let ratio = input as f32 / output as f32;
    let sratio = ratio.max(1.0);
    (0..output)
        .map(|o| {
            let centre = (o as f32 + 0.5) * ratio;
            let left = ((centre - sratio).floor() as i64).clamp(0, input as i64 - 1) as usize;
            let right =
                ((centre + sratio).ceil() as i64).clamp(left as i64 + 1, input as i64) as usize;
            let c = centre - 0.5;
            let mut w: Vec<f32> = (left..right)
                .map(|i| (1.0 - ((i as f32 - c) / sratio).abs()).max(0.0))
                .collect();
            let sum: f32 = w.iter().sum();
            for x in &mut w {
                *x /= sum;
            }
            Taps { start: left, w }
        })
        .collect()
}

/// The rod: points within [`ROD_RADIUS`] of the segment from the pivot to its tip.
struct Capsule {
    tip: (f64, f64),
}

impl Capsule {
    fn new(theta: f64) -> Self {
        let a = theta + std::f64::consts::FRAC_PI_2;
        Self {
            tip: (a.cos(), a.sin()),
        }
    }

    /// The `x` interval of the capsule on the horizontal line at height `y`, if it meets it.
    ///
    /// The capsule is convex and the union of the two end discs and the rectangle between
    /// them, so its span is the hull of their spans.
    fn row_span(&self, y: f64) -> Option<(f64, f64)> {
        let r = ROD_RADIUS;
        let (bx, by) = self.tip;
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut add = |a: f64, b: f64| {
            lo = lo.min(a);
            hi = hi.max(b);
        };
        for (cx, cy) in [(0.0, 0.0), (bx, by)] {
            let d = r * r - (y - cy) * (y - cy);
            if d >= 0.0 {
                add(cx - d.sqrt(), cx + d.sqrt());
            }
        }
        // the rectangle's corners, in order around it: pivot ± r n, tip ∓ r n
        let (nx, ny) = (-by * r, bx * r);
        let corners = [(nx, ny), (bx + nx, by + ny), (bx - nx, by - ny), (-nx, -ny)];
        for k in 0..4 {
            let (p, q) = (corners[k], corners[(k + 1) % 4]);
            if (p.1 - y) * (q.1 - y) <= 0.0 {
                if p.1 == q.1 {
                    add(p.0.min(q.0), p.0.max(q.0));
                } else {
                    let x = p.0 + (y - p.1) * (q.0 - p.0) / (q.1 - p.1);
                    add(x, x);
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;

    /// Distance from a point to the rod's segment (pivot to tip), the capsule by definition.
    fn dist_to_rod(theta: f64, (x, y): (f64, f64)) -> f64 {
        let a = theta + PI / 2.0;
        let (bx, by) = (a.cos(), a.sin());
        let t = (x * bx + y * by).clamp(0.0, 1.0);
        ((x - t * bx).powi(2) + (y - t * by).powi(2)).sqrt()
    }

    /// Every crop pixel is rod exactly when its centre is within 0.1 of the rod's segment
    /// and outside the axle: checked pixel by pixel against the definition.
    #[test]
    fn rod_pixels_are_where_geometry_says() {
        let cam = Camera::default();
        for q in [0.0, 0.4, -0.7, 1.3, PI / 2.0, -2.5] {
            let theta = q + PI;
            let img = cam.crop(theta);
            assert_eq!(img.dimensions(), (340, 340));
            let mut rod = 0;
            for r in 0..340 {
                for c in 0..340 {
                    let (x, y) = cam.world(440 + r, 330 + c);
                    let d = dist_to_rod(theta, (x, y));
                    let on = img.get_pixel(c, r)[0];
                    // pixels within 1e-9 of an edge may go either way
                    if (d - ROD_RADIUS).abs() < 1e-9
                        || ((x * x + y * y).sqrt() - AXLE_RADIUS).abs() < 1e-9
                    {
                        continue;
                    }
                    let want = d <= ROD_RADIUS && x * x + y * y > AXLE_RADIUS * AXLE_RADIUS;
                    assert_eq!(on, if want { ROD_VALUE } else { 0 }, "q {q} at ({r}, {c})");
                    rod += usize::from(want);
                }
            }
            // at 227.3 px per unit, a fully visible rod covers about (1 x 0.2 + pi 0.01) world
            // units^2 = 0.231 - the axle: ~11,800 pixels
            if q.abs() < 0.5 {
                assert!((11_000..12_500).contains(&rod), "q {q}: {rod} rod pixels");
            }
        }
    }

    /// Hanging straight down the rod is centred: its pixels are symmetric about the column of
    /// the pivot, and positive angles move it to the right (+x).
    #[test]
    fn hanging_rod_is_symmetric_and_positive_angles_go_right() {
        let cam = Camera::default();
        let f = cam.frame(PI);
        let side = 28;
        let col_mass = |f: &[f32]| {
            let (mut m, mut s) = (0.0, 0.0);
            for (i, v) in f.iter().enumerate() {
                m += (i % side) as f64 * *v as f64;
                s += *v as f64;
            }
            m / s
        };
        assert!((col_mass(&f) - 13.5).abs() < 0.05, "{}", col_mass(&f));
        assert!(col_mass(&cam.frame(PI + 0.3)) > 14.5);
        assert!(col_mass(&cam.frame(PI - 0.3)) < 12.5);
        let max = f.iter().cloned().fold(0.0f32, f32::max);
        assert!(max <= 128.0 / 255.0 + 1e-7 && max > 0.45, "{max}");
        // upright, only the rod's lowest 0.26 (and its cap) is in the crop, above the pivot
        let up = cam.crop(0.0);
        let mut lit = 0;
        for (c, r, v) in up.enumerate_pixels() {
            if v[0] > 0 {
                lit += 1;
                assert!(cam.world(440 + r, 330 + c).1 > -ROD_RADIUS);
            }
        }
        assert!(lit > 1000, "{lit}");
    }

    /// The reduction is the triangle filter of support `scale = in / out` around each output
    /// centre, computed here by hand for a 24 -> 2 reduction of a single lit column.
    #[test]
    fn downsample_is_the_widened_triangle_filter() {
        // 24x24, column 3 at 200, elsewhere 0: output column 0 (centre 6.0 in input units,
        // scale 12) weighs input column i by 1 - |i + 0.5 - 6| / 12 for i in 0..18.
        let mut img = GrayImage::new(24, 24);
        for r in 0..24 {
            img.put_pixel(3, r, Luma([200]));
        }
        let w = |i: f64, centre: f64| (1.0 - (i + 0.5 - centre).abs() / 12.0).max(0.0);
        let total: f64 = (0..24).map(|i| w(i as f64, 6.0)).sum();
        // the weights sum to 18 - 90/12 = 10.5; rows are uniform, so the vertical pass keeps 200
        let want0 = 200.0 * w(3.0, 6.0) / total; // 200 * (9.5 / 12) / 10.5
        let total1: f64 = (0..24).map(|i| w(i as f64, 18.0)).sum();
        let want1 = 200.0 * w(3.0, 18.0) / total1;
        assert!((want0 - 15.079_365).abs() < 1e-5, "{want0}");
        assert_eq!(want1, 0.0);
        let out = downsample(&img, 2);
        for r in 0..2 {
            assert_eq!(out.get_pixel(0, r)[0], want0.round() as u8);
            assert_eq!(out.get_pixel(1, r)[0], 0);
        }
    }

    /// The fast reduction gives `image`'s triangle resize byte for byte, on frames and on an
    /// image with no zero rows.
    #[test]
    fn downsample_equals_the_image_crates_triangle_resize() {
        let cam = Camera::default();
        let mut imgs: Vec<GrayImage> = [0.0, 0.2, -1.0, 2.5, PI / 2.0]
            .iter()
            .map(|q| cam.crop(PI + q))
            .collect();
        imgs.push(GrayImage::from_fn(97, 61, |x, y| {
            Luma([((x * 7 + y * 13) % 256) as u8])
        }));
        for img in &imgs {
            for side in [28, 14, 5] {
                let want =
                    image::imageops::resize(img, side, side, image::imageops::FilterType::Triangle);
                assert_eq!(downsample(img, side), want, "side {side}");
            }
        }
    }

    /// Pixel centres by hand: 227.27 render pixels per world unit, row 0 at the top.
    #[test]
    fn pixel_centres_by_hand() {
        let cam = Camera::default();
        let s = 1000.0 / 4.4;
        let (x, y) = cam.world(0, 0);
        assert!((x - (-2.2 + 0.5 / s)).abs() < 1e-12 && (y - (2.2 - 0.5 / s)).abs() < 1e-12);
        // the crop's first pixel: world (-0.7458, 0.2618), the window the docs state
        let (x, y) = cam.world(440, 330);
        assert!(
            (x + 0.745_8).abs() < 1e-4 && (y - 0.261_8).abs() < 1e-4,
            "{x} {y}"
        );
        let (x, y) = cam.world(779, 669);
        assert!(
            (x - 0.745_8).abs() < 1e-4 && (y + 1.229_8).abs() < 1e-4,
            "{x} {y}"
        );
    }

    /// An empty image reduces to an empty (all-zero) frame.
    #[test]
    fn downsample_of_nothing_is_blank() {
        for (w, h) in [(0, 4), (4, 0), (0, 0)] {
            assert_eq!(downsample(&GrayImage::new(w, h), 2), GrayImage::new(2, 2));
        }
    }

    #[test]
    fn bad_cameras_are_refused_by_key() {
        let ok = Camera::default();
        assert!(ok.validate().is_ok());
        // a crop may reach the render's last row and column
        assert!(
            Camera {
                rows: [0, 1000],
                cols: [999, 1000],
                ..ok
            }
            .validate()
            .is_ok()
        );
        for (cam, key) in [
            (
                Camera {
                    rows: [500, 500],
                    ..ok
                },
                "rows",
            ),
            (
                Camera {
                    cols: [900, 1200],
                    ..ok
                },
                "cols",
            ),
            (Camera { side: 0, ..ok }, "side"),
            (
                Camera {
                    render_size: 0,
                    ..ok
                },
                "render_size",
            ),
        ] {
            let e = cam.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{e}");
        }
    }
}
