//! Measured trajectories from text files, checked against a sha256 on every load, and their
//! finite-difference training samples.
//!
//! The format is the one of Schmidt & Lipson's `invar_datasets` (the real pendulum of the HNN
//! paper): a header line, then whitespace-separated rows `trial t q p`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{PhysicsError, Result};

/// One measured trajectory: times and states `(q, p)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub path: PathBuf,
    pub sha256: String,
    pub t: Vec<f64>,
    /// `[t.len(), 2]` row-major.
    pub x: Vec<f64>,
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(path: &Path, line: Option<usize>, reason: String) -> PhysicsError {
    PhysicsError::DataFile {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// Reads `path`, checks its sha256 against `expected` (hex), and parses it: one header line,
/// then rows of exactly 4 numbers `trial t q p` with strictly increasing `t`.
pub fn load(path: &Path, expected_sha256: &str) -> Result<Measured> {
    let bytes = std::fs::read(path).map_err(|source| PhysicsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected_sha256.trim()) {
        return Err(PhysicsError::Checksum {
            path: path.to_path_buf(),
            expected: expected_sha256.trim().to_string(),
            actual,
        });
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|e| bad(path, None, format!("not UTF-8 text: {e}")))?;
    let (mut t, mut x) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.is_empty() {
            continue;
        }
        if cells.len() != 4 {
            return Err(bad(
                path,
                Some(n),
                format!("expected 4 columns (trial t q p), found {}", cells.len()),
            ));
        }
        let mut v = [0.0; 4];
        for (c, cell) in cells.iter().enumerate() {
            v[c] = cell
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    bad(
                        path,
                        Some(n),
                        format!("column {} is {cell:?}, not a finite number", c + 1),
                    )
                })?;
        }
        if let Some(&prev) = t.last()
            && v[1] <= prev
        {
            return Err(bad(
                path,
                Some(n),
                format!("time {} does not increase (previous row: {prev})", v[1]),
            ));
        }
        t.push(v[1]);
        x.extend([v[2], v[3]]);
    }
    if t.len() < 3 {
        return Err(bad(
            path,
            None,
            format!("{} data rows; need at least 3", t.len()),
        ));
    }
    Ok(Measured {
        path: path.to_path_buf(),
        sha256: actual,
        t,
        x,
    })
}

/// How time derivatives are estimated from the measured states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Differences {
    /// `(x[i+1] - x[i]) / (t[i+1] - t[i])` at `x[i]`, the last row dropped (the official code).
    Forward,
    /// `(x[i+1] - x[i-1]) / (t[i+1] - t[i-1])` at `x[i]`, the first and last rows dropped.
    Central,
}

/// Finite-difference samples of a measured trajectory, split in order.
///
/// # Shapes
/// `x`, `dx`: `[rows, 2]`; `t`: `[rows]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub t: Vec<f64>,
    pub x: Vec<f64>,
    pub dx: Vec<f64>,
    /// Row indices of the training set, in order.
    pub train: Vec<usize>,
    /// Row indices of the test set: one contiguous segment, in order.
    pub test: Vec<usize>,
}

impl Samples {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.t.len()
    }
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
    /// The state of row `i`.
    pub fn state(&self, i: usize) -> &[f64] {
        &self.x[2 * i..2 * i + 2]
    }
}

/// Finite differences and the official ordered split: with `n` rows, the test set is the
/// `int(n * (1 - train_fraction))` rows starting at row `int(n * train_fraction)`, and every
/// other row trains (so a row left over at the end joins the training set, as in the official
/// `get_dataset`).
pub fn samples(m: &Measured, diff: Differences, train_fraction: f64) -> Result<Samples> {
    if !(train_fraction > 0.0 && train_fraction < 1.0) {
        return Err(PhysicsError::InvalidParameter {
            name: "train_fraction",
            value: train_fraction.to_string(),
            reason: "must be strictly between 0 and 1",
        });
    }
    let n = m.t.len();
    let state = |i: usize| [m.x[2 * i], m.x[2 * i + 1]];
    let (lo, hi) = match diff {
        Differences::Forward => (0, n - 1),
        Differences::Central => (1, n - 1),
    };
    let (mut t, mut x, mut dx) = (Vec::new(), Vec::new(), Vec::new());
    for i in lo..hi {
        let (a, b) = match diff {
            Differences::Forward => (i, i + 1),
            Differences::Central => (i - 1, i + 1),
        };
        let dt = m.t[b] - m.t[a];
        let (xa, xb) = (state(a), state(b));
        t.push(m.t[i]);
        x.extend(state(i));
        dx.extend([(xb[0] - xa[0]) / dt, (xb[1] - xa[1]) / dt]);
    }
    let rows = t.len();
    let n_train = (rows as f64 * train_fraction) as usize;
    let n_test = (rows as f64 * (1.0 - train_fraction)) as usize;
    if n_train == 0 || n_test == 0 {
        return Err(PhysicsError::InvalidParameter {
            name: "train_fraction",
            value: train_fraction.to_string(),
            reason: "leaves no training or no test rows",
        });
    }
    let test: Vec<usize> = (n_train..n_train + n_test).collect();
    let train: Vec<usize> = (0..rows)
        .filter(|i| !(n_train..n_train + n_test).contains(i))
        .collect();
    Ok(Samples {
        t,
        x,
        dx,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(tag: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("hnn-measured-{tag}-{}.txt", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    const TOY: &str = "%o v\r\n0 5.0 0.10 1.0\r\n0 5.5 0.30 2.0\r\n0 6.5 0.20 0.0\r\n0 7.0 0.25 0.5\r\n0 7.5 0.35 1.5\r\n";

    #[test]
    fn forward_and_central_differences_by_hand() {
        let p = write("toy", TOY);
        let m = load(&p, &sha256_hex(TOY.as_bytes())).unwrap();
        assert_eq!(m.t, vec![5.0, 5.5, 6.5, 7.0, 7.5]);
        let f = samples(&m, Differences::Forward, 0.5).unwrap();
        // (0.3 - 0.1) / 0.5 = 0.4, (2 - 1) / 0.5 = 2; then over the 1.0 s gap: -0.1, -2
        assert_eq!(f.len(), 4);
        assert!((f.dx[0] - 0.4).abs() < 1e-12 && (f.dx[1] - 2.0).abs() < 1e-12);
        assert!((f.dx[2] + 0.1).abs() < 1e-12 && (f.dx[3] + 2.0).abs() < 1e-12);
        assert_eq!(f.state(1), &[0.3, 2.0]);
        // 4 rows, 0.5: train int(2) = 2 rows, test int(2) = 2 rows at 2..4
        assert_eq!((f.train.clone(), f.test.clone()), (vec![0, 1], vec![2, 3]));
        let c = samples(&m, Differences::Central, 0.5).unwrap();
        // row 1: (0.2 - 0.1) / 1.5, (0 - 1) / 1.5
        assert_eq!(c.t, vec![5.5, 6.5, 7.0]);
        assert!((c.dx[0] - 0.1 / 1.5).abs() < 1e-12 && (c.dx[1] + 1.0 / 1.5).abs() < 1e-12);
        std::fs::remove_file(p).unwrap();
    }

    /// The edges: three data rows are enough and two are not; the fraction is strictly inside
    /// (0, 1), and one that rounds a split to nothing is refused for that reason; rows are read
    /// back by index beyond the first two.
    #[test]
    fn rows_fractions_and_states_at_their_edges() {
        let three = "%o v\n0 5 1 2\n0 6 1 2\n0 7 1 2\n";
        let p = write("three", three);
        assert_eq!(load(&p, &sha256_hex(three.as_bytes())).unwrap().t.len(), 3);
        let two = "%o v\n0 5 1 2\n0 6 1 2\n";
        std::fs::write(&p, two).unwrap();
        let e = load(&p, &sha256_hex(two.as_bytes()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 data rows; need at least 3"), "{e}");
        std::fs::write(&p, TOY).unwrap();
        let m = load(&p, &sha256_hex(TOY.as_bytes())).unwrap();
        std::fs::remove_file(p).unwrap();
        for f in [0.0, 1.0, 1.5, f64::NAN] {
            let e = samples(&m, Differences::Forward, f)
                .unwrap_err()
                .to_string();
            assert!(e.contains("strictly between"), "{f}: {e}");
        }
        // 4 forward rows: 0.1 trains int(0.4) = 0 rows, 0.9 tests int(0.4) = 0 rows
        for f in [0.1, 0.9] {
            let e = samples(&m, Differences::Forward, f)
                .unwrap_err()
                .to_string();
            assert!(e.contains("leaves no training or no test rows"), "{f}: {e}");
        }
        let s = samples(&m, Differences::Forward, 0.5).unwrap();
        assert!(!s.is_empty());
        assert_eq!(s.state(3), &[0.25, 0.5]);
        assert_eq!(s.state(2), &[0.2, 0.0]);
        let none = Samples {
            t: vec![],
            x: vec![],
            dx: vec![],
            train: vec![],
            test: vec![],
        };
        assert!(none.is_empty());
    }

    #[test]
    fn official_split_puts_the_leftover_row_in_training() {
        // 556 rows -> 555 forward pairs -> train int(444.0) = 444, test int(110.99..) = 110
        let mut text = String::from("%o v\n");
        for i in 0..556 {
            text += &format!("0 {} {} 0\n", 5.0 + i as f64 / 6.0, i as f64);
        }
        let p = write("split", &text);
        let s = samples(
            &load(&p, &sha256_hex(text.as_bytes())).unwrap(),
            Differences::Forward,
            0.8,
        )
        .unwrap();
        assert_eq!(s.test, (444..554).collect::<Vec<_>>());
        assert_eq!(s.train.len(), 445);
        assert_eq!(*s.train.last().unwrap(), 554);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_one_byte_change_fails_the_checksum() {
        let good = sha256_hex(TOY.as_bytes());
        let p = write("sum", &TOY.replace("0.35", "0.36"));
        let e = load(&p, &good).unwrap_err().to_string();
        assert!(
            e.contains(&good) && e.contains(&p.display().to_string()) && e.contains("sha256"),
            "{e}"
        );
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        for (text, line, what) in [
            ("%o v\n0 5 1 2\n0 6 1\n", 3, "4 columns"),
            ("%o v\n0 5 1 2\n0 6 x 2\n", 3, "\"x\""),
            ("%o v\n0 5 1 2\n0 6 1 2\n0 6 1 2\n", 4, "does not increase"),
        ] {
            let p = write("bad", text);
            let e = load(&p, &sha256_hex(text.as_bytes()))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("line {line}")) && e.contains(what),
                "{e}"
            );
            std::fs::remove_file(p).unwrap();
        }
        let e = load(Path::new("/nonexistent/real.txt"), "00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/real.txt"), "{e}");
    }
}
