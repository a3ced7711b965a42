//! `hnn-bench render`: the pixel pendulum's frames for given angles, so anyone can look at and
//! compare what the models see.
//!
//! Input: a 1-D `.npy` of angles from the hanging rest position (radians, `f64` or `f32`,
//! positive towards +x). Output in a new folder: `frames.npy` (`[n, side, side]`, `f32`,
//! values in `[0, 128/255]`, exactly the dataset's frames) and `frames.png`, a contact sheet.

use std::path::{Path, PathBuf};

use hnn_pixels::{Camera, PendulumState};
use image::{GrayImage, Luma, imageops};
use ndarray::{Array1, Array3};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

use crate::error::{BenchError, Result};

/// Frames per row of the contact sheet.
const SHEET_COLUMNS: usize = 10;
/// At most this many angles per call.
pub const MAX_ANGLES: usize = 100_000;
/// At most this many frame values (`angles x side x side`: 1 GiB of `f32`).
pub const MAX_FRAME_VALUES: u64 = 1 << 28;
/// At most this many pixels in the contact sheet (2 GiB of 8-bit gray).
pub const MAX_SHEET_PIXELS: u64 = 1 << 31;

/// The count of values a `.npy` header declares and the bytes after the header, read before
/// anything is allocated for them (`None`: not a header this reads; `read_npy` then says why).
fn npy_declared(bytes: &[u8]) -> Option<(u128, usize)> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
        _ => return None,
    };
    let header = std::str::from_utf8(bytes.get(start..start.checked_add(len)?)?).ok()?;
    let shape = header.split("'shape':").nth(1)?.trim_start();
    let inner = shape.strip_prefix('(')?.split(')').next()?;
    let mut n: u128 = 1;
    for dim in inner.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        n = n.checked_mul(dim.parse::<u128>().ok()?)?;
    }
    Some((n, bytes.len() - start - len))
}

fn bad(path: &Path, reason: impl Into<String>) -> BenchError {
    BenchError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a 1-D array of finite angles (`f64` or `f32`).
pub fn read_angles(path: &Path) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(crate::io_err("cannot read the angles file", path))?;
    if let Some((n, data)) = npy_declared(&bytes) {
        if n > MAX_ANGLES as u128 {
            return Err(bad(
                path,
                format!("the header declares {n} values; at most {MAX_ANGLES} angles"),
            ));
        }
        if n * 4 > data as u128 {
            return Err(bad(
                path,
                format!("the header declares {n} values but the file holds {data} bytes of data"),
            ));
        }
    }
    let angles: Vec<f64> = match Array1::<f64>::read_npy(bytes.as_slice()) {
        Ok(a) => a.to_vec(),
        Err(e64) => match Array1::<f32>::read_npy(bytes.as_slice()) {
            Ok(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Err(_) => {
                return Err(bad(
                    path,
                    format!("expected a 1-D .npy array of angles (float64 or float32): {e64}"),
                ));
            }
        },
    };
    if angles.is_empty() || angles.len() > MAX_ANGLES {
        return Err(bad(
            path,
            format!("expected 1 to {MAX_ANGLES} angles, got {}", angles.len()),
        ));
    }
    if let Some(i) = angles.iter().position(|a| !a.is_finite()) {
        return Err(bad(path, format!("angle {i} is {}", angles[i])));
    }
    Ok(angles)
}

/// Renders `angles` (from rest) with `camera`: `[n, side, side]`.
pub fn frames(angles: &[f64], camera: &Camera) -> Array3<f32> {
    let side = camera.side as usize;
    let mut out = Array3::zeros((angles.len(), side, side));
    for (i, &q) in angles.iter().enumerate() {
        let f = camera.frame(PendulumState::from_label([q, 0.0]).theta);
        for (k, v) in f.into_iter().enumerate() {
            out[[i, k / side, k % side]] = v;
        }
    }
    out
}

/// Height of the label under each frame of a contact sheet.
const SHEET_LABEL: u32 = 20;

/// A contact sheet: the frames 4x enlarged, dark rod on white (as the figures), in rows of 10,
/// each with its label (`labels[i]`) under it.
pub fn contact_sheet(frames: &Array3<f32>, labels: &[String]) -> GrayImage {
    let (n, side) = (frames.shape()[0], frames.shape()[1]);
    let cell = side as u32 * 4 + 4;
    let cell_h = cell + SHEET_LABEL;
    let cols = n.min(SHEET_COLUMNS) as u32;
    let rows = n.div_ceil(SHEET_COLUMNS) as u32;
    let mut sheet = GrayImage::from_pixel(cols * cell, rows * cell_h, Luma([255]));
    for r in 0..rows {
        let row_labels: Vec<(u32, String)> = (0..cols)
            .filter_map(|c| {
                let text = labels.get((r * cols + c) as usize)?;
                Some((c * cell + 4, text.clone()))
            })
            .collect();
        let strip = crate::plots::text_strip(&row_labels, (cols * cell).max(1), SHEET_LABEL, 16);
        let gray = imageops::grayscale(&strip);
        imageops::replace(&mut sheet, &gray, 0, i64::from(r * cell_h + cell));
    }
    for i in 0..n {
        let mut small = GrayImage::new(side as u32, side as u32);
        for (x, y, p) in small.enumerate_pixels_mut() {
            let v = frames[[i, y as usize, x as usize]];
            *p = Luma([crate::plots::frames::shade(v)]);
        }
        let big = imageops::resize(
            &small,
            side as u32 * 4,
            side as u32 * 4,
            imageops::FilterType::Nearest,
        );
        let (cx, cy) = (
            (i % SHEET_COLUMNS) as u32 * cell,
            (i / SHEET_COLUMNS) as u32 * cell_h,
        );
        imageops::replace(&mut sheet, &big, i64::from(cx + 2), i64::from(cy + 2));
    }
    sheet
}

/// Refuses `n` frames of `side` x `side` whose array or contact sheet would exceed
/// [`MAX_FRAME_VALUES`] or [`MAX_SHEET_PIXELS`], before anything is allocated.
fn check_sizes(n: usize, side: u32) -> Result<()> {
    let n = n as u64;
    let values = n * u64::from(side) * u64::from(side);
    let cell = u64::from(side) * 4 + 4;
    let sheet = n.min(SHEET_COLUMNS as u64)
        * cell
        * n.div_ceil(SHEET_COLUMNS as u64)
        * (cell + u64::from(SHEET_LABEL));
    if values > MAX_FRAME_VALUES || sheet > MAX_SHEET_PIXELS {
        return Err(bad(
            Path::new("--side"),
            format!(
                "{n} frames of {side}x{side} are {values} values and a contact sheet of {sheet} pixels; at most {MAX_FRAME_VALUES} and {MAX_SHEET_PIXELS}: give fewer angles or a smaller --side"
            ),
        ));
    }
    Ok(())
}

/// What `render` wrote.
#[derive(Debug)]
pub struct Rendered {
    pub count: usize,
    pub frames: PathBuf,
    pub sheet: PathBuf,
}

/// Renders the angles of `angles_path` into the new folder `out` (refused if it exists, so
/// nothing is overwritten; on an error nothing is left behind).
pub fn render(angles_path: &Path, out: &Path, side: u32) -> Result<Rendered> {
    let camera = Camera {
        side,
        ..Camera::default()
    };
    camera
        .validate()
        .map_err(|e| bad(Path::new("--side"), e.to_string()))?;
    let angles = read_angles(angles_path)?;
    check_sizes(angles.len(), side)?;
    if out.exists() {
        return Err(bad(
            out,
            "exists already; give a new folder (nothing is overwritten)",
        ));
    }
    let f = frames(&angles, &camera);
    let mut npy = Vec::new();
    f.write_npy(&mut npy).map_err(|source| BenchError::Npy {
        path: out.join("frames.npy"),
        source,
    })?;
    let mut png = Vec::new();
    let labels: Vec<String> = angles.iter().map(|q| format!("q = {q:.3}")).collect();
    contact_sheet(&f, &labels)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| BenchError::Plot {
            path: out.join("frames.png"),
            reason: e.to_string(),
        })?;
    // build the folder under a temporary name, then move it into place
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "render".into());
    let tmp = out.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(crate::io_err("cannot create", &tmp))?;
    let written = std::fs::write(tmp.join("frames.npy"), &npy)
        .and_then(|()| std::fs::write(tmp.join("frames.png"), &png))
        .and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(crate::io_err("cannot write", out)(e));
    }
    Ok(Rendered {
        count: angles.len(),
        frames: out.join("frames.npy"),
        sheet: out.join("frames.png"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_datasets_and_bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("hnn-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let angles = dir.join("a.npy");
        Array1::from(vec![0.0f64, 0.3, -0.3])
            .write_npy(std::fs::File::create(&angles).unwrap())
            .unwrap();
        let out = dir.join("out");
        let r = render(&angles, &out, 28).unwrap();
        assert_eq!(r.count, 3);
        let f = Array3::<f32>::read_npy(std::fs::File::open(&r.frames).unwrap()).unwrap();
        assert_eq!(f.shape(), &[3, 28, 28]);
        let want = Camera::default().frame(std::f64::consts::PI + 0.3);
        assert_eq!(
            f.slice(ndarray::s![1, .., ..])
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            want
        );
        assert!(std::fs::metadata(&r.sheet).unwrap().len() > 0);
        // the folder exists now: refused, untouched
        let e = render(&angles, &out, 28).unwrap_err().to_string();
        assert!(e.contains("exists"), "{e}");
        // a 2-D array, integers, a missing file: named, nothing written
        let two = dir.join("two.npy");
        ndarray::Array2::<f64>::zeros((2, 2))
            .write_npy(std::fs::File::create(&two).unwrap())
            .unwrap();
        let ints = dir.join("ints.npy");
        Array1::from(vec![1i64, 2])
            .write_npy(std::fs::File::create(&ints).unwrap())
            .unwrap();
        for p in [two, ints, dir.join("missing.npy")] {
            let e = render(&p, &dir.join("o2"), 28).unwrap_err().to_string();
            assert!(e.contains(&p.display().to_string()), "{e}");
            assert!(!dir.join("o2").exists());
        }
        let e = render(&angles, &dir.join("o3"), 0).unwrap_err().to_string();
        assert!(e.contains("side"), "{e}");
        // a 128-byte file whose header claims 10^10 values, and one claiming more than it holds
        let mut header = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000,), }";
        let dict = format!("{dict:<117}\n");
        header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        header.extend_from_slice(dict.as_bytes());
        assert_eq!(header.len(), 128);
        let liar = dir.join("liar.npy");
        std::fs::write(&liar, &header).unwrap();
        let e = render(&liar, &dir.join("o4"), 28).unwrap_err().to_string();
        assert!(
            e.contains("declares 10000000000 values") && e.contains("liar.npy"),
            "{e}"
        );
        let short = dir.join("short.npy");
        let fifty = String::from_utf8(header[10..].to_vec())
            .unwrap()
            .replace("10000000000,", "50,         ");
        let mut lying = header[..10].to_vec();
        lying.extend_from_slice(fifty.as_bytes());
        lying.extend_from_slice(&[0u8; 16]);
        std::fs::write(&short, &lying).unwrap();
        let e = render(&short, &dir.join("o5"), 28).unwrap_err().to_string();
        assert!(
            e.contains("declares 50 values but the file holds 16 bytes"),
            "{e}"
        );
        // 100000 angles at side 256: refused by size before rendering
        let e = check_sizes(MAX_ANGLES, 256).unwrap_err().to_string();
        assert!(e.contains("--side") && e.contains("fewer angles"), "{e}");
        assert!(check_sizes(MAX_ANGLES, 28).is_ok());
        assert!(!dir.join("o4").exists() && !dir.join("o5").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
