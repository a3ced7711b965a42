//! Trajectory files of any shape: any number of trajectories and degrees of freedom, each with
//! its own times, from a `.npz` or a `.csv`, and their training samples.
//!
//! - `.npz` (numpy's `np.savez` or `np.savez_compressed`): `x` of shape `[N, T, 2n]` (the
//!   states, `q`s then `p`s), `t` of shape `[T]` (shared) or `[N, T]`, and optionally `dxdt` of
//!   the shape of `x` (the time derivatives). float64 or float32.
//! - `.csv`: a header `trajectory, t, q, p` (one degree of freedom) or `trajectory, t, q1, ..,
//!   qn, p1, .., pn`, then one row per point; a trajectory is every row with its id, in file
//!   order.
//!
//! Every value must be finite, times must increase within each trajectory, and each trajectory
//! needs two points (three for central differences). Errors name the file and the array,
//! trajectory, line or column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis, IxDyn};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpzError};
use serde::{Deserialize, Serialize};

use crate::measured::sha256_hex;
use crate::{PhysicsError, Result};

/// One trajectory: its times, states and, if the file gives them, time derivatives.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// How errors and reports name it (`trajectory 3`, or the CSV's id).
    pub label: String,
    pub t: Vec<f64>,
    /// `[t.len(), dim]` row-major.
    pub x: Vec<f64>,
    /// The same shape as `x`, when given.
    pub dxdt: Option<Vec<f64>>,
}

impl Trajectory {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.t.len()
    }
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// The trajectories of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectories {
    pub path: PathBuf,
    pub sha256: String,
    /// State dimension `2n`.
    pub dim: usize,
    pub list: Vec<Trajectory>,
    /// Arrays of an `.npz` that are not read (reported, never silently dropped).
    pub unread: Vec<String>,
}

/// How training targets are made when the file has no `dxdt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    /// `(x[k+1] - x[k-1]) / (t[k+1] - t[k-1])` at every interior point (second order).
    Central,
    /// `(x[k+1] - x[k]) / (t[k+1] - t[k])` at every point but the last (first order).
    Forward,
}

fn bad(path: &Path, line: Option<usize>, reason: impl Into<String>) -> PhysicsError {
    PhysicsError::DataFile {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Reads `path` (`.npz` or `.csv`), checks its sha256 when one is given, and checks every
/// trajectory.
pub fn load(path: &Path, sha256: Option<&str>) -> Result<Trajectories> {
    let bytes = std::fs::read(path).map_err(|source| PhysicsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if let Some(expected) = sha256
        && !actual.eq_ignore_ascii_case(expected.trim())
    {
        return Err(PhysicsError::Checksum {
            path: path.to_path_buf(),
            expected: expected.trim().to_string(),
            actual,
        });
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let (list, dim, unread) = match extension.as_deref() {
        Some("npz") => read_npz(path, &bytes)?,
        Some("csv") => read_csv(path, &bytes)?,
        _ => {
            return Err(bad(
                path,
                None,
                "expected a .npz (arrays t, x, optional dxdt) or a .csv (header trajectory, t, q.., p..)",
            ));
        }
    };
    let file = Trajectories {
        path: path.to_path_buf(),
        sha256: actual,
        dim,
        list,
        unread,
    };
    check(&file)?;
    Ok(file)
}

/// An array of the npz as float64 (float32 converted exactly).
fn npz_array(
    path: &Path,
    npz: &mut NpzReader<std::io::Cursor<&[u8]>>,
    name: &str,
) -> Result<ArrayD<f64>> {
    match npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>(name) {
        Ok(a) => Ok(a),
        Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => npz
            .by_name::<ndarray::OwnedRepr<f32>, IxDyn>(name)
            .map(|a| a.mapv(f64::from))
            .map_err(|e| {
                bad(
                    path,
                    None,
                    format!("array `{name}`: {e} (float64 or float32 expected)"),
                )
            }),
        Err(other) => Err(bad(
            path,
            None,
            format!("array `{name}`: {other} (float64 or float32 expected)"),
        )),
    }
}

type Read = (Vec<Trajectory>, usize, Vec<String>);

fn read_npz(path: &Path, bytes: &[u8]) -> Result<Read> {
    let mut npz = NpzReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(path, None, format!("not a readable .npz: {e}")))?;
    let names: Vec<String> = npz
        .names()
        .map_err(|e| bad(path, None, format!("not a readable .npz: {e}")))?
        .into_iter()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    let has = |n: &str| names.iter().any(|m| m == n);
    if !has("x") {
        return Err(bad(
            path,
            None,
            format!("no array `x` (states, shape [trajectories, points, 2n]); it has {names:?}"),
        ));
    }
    if !has("t") {
        return Err(bad(
            path,
            None,
            format!(
                "no array `t` (times, shape [points] or [trajectories, points]); it has {names:?}"
            ),
        ));
    }
    let x = npz_array(path, &mut npz, "x")?;
    let t = npz_array(path, &mut npz, "t")?;
    let dxdt = if has("dxdt") {
        Some(npz_array(path, &mut npz, "dxdt")?)
    } else {
        None
    };
    let &[n, points, dim] = x.shape() else {
        return Err(bad(
            path,
            None,
            format!(
                "`x` has shape {:?}; expected [trajectories, points, 2n]",
                x.shape()
            ),
        ));
    };
    let t_ok = t.shape() == [points] || t.shape() == [n, points];
    if !t_ok {
        return Err(bad(
            path,
            None,
            format!(
                "`t` has shape {:?}; with `x` of shape {:?} it must be [{points}] or [{n}, {points}]",
                t.shape(),
                x.shape()
            ),
        ));
    }
    if let Some(d) = &dxdt
        && d.shape() != x.shape()
    {
        return Err(bad(
            path,
            None,
            format!(
                "`dxdt` has shape {:?}, `x` {:?}: they must agree",
                d.shape(),
                x.shape()
            ),
        ));
    }
    let list = (0..n)
        .map(|i| {
            let times = if t.ndim() == 1 {
                t.iter().copied().collect()
            } else {
                t.index_axis(Axis(0), i).iter().copied().collect()
            };
            Trajectory {
                label: format!("trajectory {i}"),
                t: times,
                x: x.index_axis(Axis(0), i).iter().copied().collect(),
                dxdt: dxdt
                    .as_ref()
                    .map(|d| d.index_axis(Axis(0), i).iter().copied().collect()),
            }
        })
        .collect();
    let unread = names
        .into_iter()
        .filter(|n| !["x", "t", "dxdt"].contains(&n.as_str()))
        .collect();
    Ok((list, dim, unread))
}

/// The state columns a CSV header must name after `trajectory, t`.
fn state_columns(dof: usize) -> Vec<String> {
    crate::expression::coordinate_names(dof)
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<Read> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(path, Some(1), e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let columns = header.len().saturating_sub(2);
    let expected = |dof: usize| {
        let mut h = vec!["trajectory".to_string(), "t".to_string()];
        h.extend(state_columns(dof));
        h
    };
    if columns == 0 || columns % 2 == 1 || header != expected(columns / 2) {
        let example = expected(columns.max(2) / 2).join(", ");
        return Err(bad(
            path,
            Some(1),
            format!(
                "header {:?}: expected `{example}` (trajectory id, time, then the q's and the p's)",
                header.join(", ")
            ),
        ));
    }
    let dim = columns;
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, Trajectory> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            bad(
                path,
                line,
                format!("{e} (every row needs {} columns)", dim + 2),
            )
        })?;
        let line = record.position().map(|p| p.line() as usize);
        let id = record[0].to_string();
        let mut values = Vec::with_capacity(dim + 1);
        for (k, cell) in record.iter().enumerate().skip(1) {
            let v: f64 = cell.parse().map_err(|_| {
                bad(
                    path,
                    line,
                    format!("column `{}`: {cell:?} is not a number", header[k]),
                )
            })?;
            if !v.is_finite() {
                return Err(bad(
                    path,
                    line,
                    format!("column `{}`: {cell} is not finite", header[k]),
                ));
            }
            values.push(v);
        }
        let tr = by_id.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            Trajectory {
                label: format!("trajectory {id:?}"),
                t: Vec::new(),
                x: Vec::new(),
                dxdt: None,
            }
        });
        if let Some(&last) = tr.t.last()
            && values[0] <= last
        {
            return Err(bad(
                path,
                line,
                format!(
                    "trajectory {id:?}: time {} does not increase (the previous row of this trajectory has {last})",
                    values[0]
                ),
            ));
        }
        tr.t.push(values[0]);
        tr.x.extend_from_slice(&values[1..]);
    }
    let list = order
        .iter()
        .map(|id| by_id.remove(id).expect("every id listed"))
        .collect();
    Ok((list, dim, Vec::new()))
}

/// Every trajectory: finite values, increasing times, at least two points; an even state.
fn check(file: &Trajectories) -> Result<()> {
    let path = &file.path;
    if file.dim == 0 || file.dim % 2 == 1 {
        return Err(bad(
            path,
            None,
            format!(
                "states of {} numbers: expected 2n (n positions q, then n momenta p)",
                file.dim
            ),
        ));
    }
    if file.list.is_empty() {
        return Err(bad(path, None, "has no trajectories"));
    }
    let names = state_columns(file.dim / 2);
    for tr in &file.list {
        if tr.len() < 2 {
            return Err(bad(
                path,
                None,
                format!(
                    "{} has {} point(s); at least 2 are needed",
                    tr.label,
                    tr.len()
                ),
            ));
        }
        for (k, w) in tr.t.windows(2).enumerate() {
            if w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater) {
                return Err(bad(
                    path,
                    None,
                    format!(
                        "{}: time {} at point {} does not increase (point {} has {})",
                        tr.label,
                        w[1],
                        k + 1,
                        k,
                        w[0]
                    ),
                ));
            }
        }
        if let Some(k) = tr.t.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                path,
                None,
                format!("{}: time at point {k} is {}", tr.label, tr.t[k]),
            ));
        }
        for (what, values) in [("x", Some(&tr.x)), ("dxdt", tr.dxdt.as_ref())] {
            if let Some(k) = values.and_then(|v| v.iter().position(|v| !v.is_finite())) {
                return Err(bad(
                    path,
                    None,
                    format!(
                        "{}: `{what}` is {} at point {}, coordinate {}",
                        tr.label,
                        values.expect("found in it")[k],
                        k / file.dim,
                        names[k % file.dim]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Training samples of one trajectory: states and their time derivatives, `[rows, dim]`
/// row-major each (the file's derivatives at every point when it has them).
pub fn samples(tr: &Trajectory, dim: usize, targets: Targets) -> (Vec<f64>, Vec<f64>) {
    if let Some(d) = &tr.dxdt {
        return (tr.x.clone(), d.clone());
    }
    let state = |k: usize| &tr.x[k * dim..(k + 1) * dim];
    let rows: Vec<usize> = match targets {
        Targets::Central => (1..tr.len() - 1).collect(),
        Targets::Forward => (0..tr.len() - 1).collect(),
    };
    let mut x = Vec::with_capacity(rows.len() * dim);
    let mut dx = Vec::with_capacity(rows.len() * dim);
    for k in rows {
        let (a, b) = match targets {
            Targets::Central => (k - 1, k + 1),
            Targets::Forward => (k, k + 1),
        };
        let dt = tr.t[b] - tr.t[a];
        x.extend_from_slice(state(k));
        dx.extend(state(b).iter().zip(state(a)).map(|(u, v)| (u - v) / dt));
    }
    (x, dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hnn-traj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn refusal(name: &str, text: &str) -> String {
        let path = write(name, text.as_bytes());
        load(&path, None).unwrap_err().to_string()
    }

    #[test]
    fn a_csv_of_two_trajectories_in_any_row_order() {
        let text = "trajectory,t,q1,q2,p1,p2\n\
                    a,0.0,1,2,3,4\n\
                    b,0.5,0,0,0,1\n\
                    a,0.1,1.5,2,3,4\n\
                    b,0.7,0,0,0,2\n\
                    a,0.3,2.5,2,3,4\n";
        let path = write("two.csv", text.as_bytes());
        let f = load(&path, None).unwrap();
        assert_eq!((f.dim, f.list.len()), (4, 2));
        assert_eq!(f.list[0].t, vec![0.0, 0.1, 0.3]);
        assert_eq!(f.list[1].x, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0]);
        // central differences by hand at a's middle point: (2.5 - 1) / 0.3 = 5
        let (x, dx) = samples(&f.list[0], 4, Targets::Central);
        assert_eq!(x, vec![1.5, 2.0, 3.0, 4.0]);
        assert!((dx[0] - 5.0).abs() < 1e-12 && dx[1] == 0.0);
        // forward: (1.5 - 1) / 0.1 = 5 at the first, (2.5 - 1.5) / 0.2 = 5 at the second
        let (x, dx) = samples(&f.list[0], 4, Targets::Forward);
        assert_eq!(x.len(), 8);
        assert!((dx[0] - 5.0).abs() < 1e-12 && (dx[4] - 5.0).abs() < 1e-12);
        // a checksum is checked when given
        let e = load(&path, Some("00")).unwrap_err().to_string();
        assert!(e.contains("sha256"), "{e}");
        assert!(load(&path, Some(&f.sha256)).is_ok());
    }

    #[test]
    fn bad_files_are_named_with_line_and_column() {
        for (text, words) in [
            ("trajectory,t,q,p\na,0,1,2\na,1,1\n", "line 3"),
            ("trajectory,t,q,p\na,0,1,x\n", "column `p`"),
            ("trajectory,t,q,p\na,0,1,NaN\n", "not finite"),
            ("trajectory,t,q,p\na,0,1,2\na,0,1,2\n", "does not increase"),
            ("trajectory,t,x,v\na,0,1,2\n", "header"),
            ("trajectory,t,q,p\na,0,1,2\n", "at least 2"),
            ("trajectory,t,q\na,0,1\n", "header"),
        ] {
            let e = refusal("bad.csv", text);
            assert!(e.contains(words), "{text:?}: {e}");
            assert!(e.contains("bad.csv"), "{e}");
        }
        let e = refusal("data.txt", "1 2 3");
        assert!(e.contains(".npz"), "{e}");
    }

    fn npz(name: &str, arrays: &[(&str, ArrayD<f64>)]) -> PathBuf {
        let path = write(name, b"");
        let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&path).unwrap());
        for (n, a) in arrays {
            w.add_array(*n, a).unwrap();
        }
        w.finish().unwrap();
        path
    }

    fn array(shape: &[usize], f: impl Fn(usize) -> f64) -> ArrayD<f64> {
        let n: usize = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
    }

    #[test]
    fn npz_with_shared_or_own_times_and_derivatives() {
        let x = array(&[3, 4, 2], |i| i as f64);
        let shared = npz(
            "shared.npz",
            &[("t", array(&[4], |i| i as f64 * 0.5)), ("x", x.clone())],
        );
        let f = load(&shared, None).unwrap();
        assert_eq!((f.dim, f.list.len()), (2, 3));
        assert_eq!(f.list[2].t, vec![0.0, 0.5, 1.0, 1.5]);
        assert_eq!(f.list[1].x, (8..16).map(|v| v as f64).collect::<Vec<_>>());
        assert!(f.list[0].dxdt.is_none() && f.unread.is_empty());
        let own = npz(
            "own.npz",
            &[
                ("t", array(&[3, 4], |i| i as f64)),
                ("x", x.clone()),
                ("dxdt", x.mapv(|v| -v)),
                ("energy", array(&[3], |_| 1.0)),
            ],
        );
        let f = load(&own, None).unwrap();
        assert_eq!(f.list[1].t, vec![4.0, 5.0, 6.0, 7.0]);
        assert_eq!(f.unread, vec!["energy".to_string()]);
        // given derivatives are the targets, at every point
        let (sx, sdx) = samples(&f.list[0], 2, Targets::Central);
        assert_eq!(sx.len(), 8);
        assert_eq!(sdx[3], -3.0);
    }

    #[test]
    fn bad_npz_files_name_the_array() {
        let x = array(&[2, 3, 2], |i| i as f64);
        let t = array(&[3], |i| i as f64);
        for (name, arrays, words) in [
            ("nox.npz", vec![("t", t.clone())], "no array `x`"),
            ("not.npz", vec![("x", x.clone())], "no array `t`"),
            (
                "shape.npz",
                vec![("t", array(&[4], |i| i as f64)), ("x", x.clone())],
                "`t` has shape [4]",
            ),
            (
                "dxdt.npz",
                vec![("t", t.clone()), ("x", x.clone()), ("dxdt", t.clone())],
                "`dxdt` has shape",
            ),
            (
                "nan.npz",
                vec![
                    ("t", t.clone()),
                    ("x", x.mapv(|v| if v == 7.0 { f64::NAN } else { v })),
                ],
                "trajectory 1: `x` is NaN at point 0, coordinate p",
            ),
            (
                "odd.npz",
                vec![("t", t.clone()), ("x", array(&[2, 3, 3], |i| i as f64))],
                "expected 2n",
            ),
            (
                "flat.npz",
                vec![("t", t.clone()), ("x", array(&[6], |i| i as f64))],
                "expected [trajectories, points, 2n]",
            ),
            (
                "time.npz",
                vec![("t", array(&[3], |i| [0.0, 1.0, 1.0][i])), ("x", x.clone())],
                "does not increase",
            ),
        ] {
            let e = load(&npz(name, &arrays), None).unwrap_err().to_string();
            assert!(e.contains(words), "{name}: {e}");
            assert!(e.contains(name), "{e}");
        }
    }
}
