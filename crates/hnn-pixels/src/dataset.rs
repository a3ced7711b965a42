//! The official pixel-pendulum dataset.
//!
//! `trials` rollouts of `steps` frames each, zero torque, each started by the rejection rule
//! of [`crate::gym::sample_start`]. Frame `k` of a trial shows state `s_k` (rendered before the
//! step). A trial gives `steps - 3` samples; sample `k` (`k = 1..=steps-3`) observes frames
//! `k + 2 - F ..= k + 1` (`F = frames`, 1 or 2) and its target is the same window one step
//! later. Its label is `(angle from rest, 0.25 dtheta/dt)` of
//! - `s_{k+2}` under [`Labels::Paper`], the official pairing (the label is read after the step
//!   that follows the last frame, one step ahead of it);
//! - `s_{k+1}` under [`Labels::Aligned`], the state the last frame shows.
//!
//! The test set is the first `test_fraction` of the samples, in trial order (the official
//! split). Each trial draws from its own random stream, so the data are the same for any
//! thread count.

use std::f64::consts::PI;

use hnn_physics::rng::{Purpose, stream};
use ndarray::{Array2, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::gym::{PendulumState, sample_start};
use crate::render::Camera;

/// How labels are paired with frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Labels {
    /// The official pairing: one step ahead of the last frame.
    #[default]
    Paper,
    /// The state of the last frame.
    Aligned,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelDataConfig {
    pub trials: usize,
    /// Frames rendered per trial.
    pub steps: usize,
    /// Frames per observation: 1 or 2.
    pub frames: usize,
    pub labels: Labels,
    /// Open range of `|angle from rest|` that a trial's start must fall in.
    pub start_angle: [f64; 2],
    /// Fraction of the samples (the first ones) in the test set.
    pub test_fraction: f64,
    pub camera: Camera,
}

impl Default for PixelDataConfig {
    fn default() -> Self {
        Self {
            trials: 200,
            steps: 103,
            frames: 2,
            labels: Labels::Paper,
            start_angle: [0.0, PI / 6.0],
            test_fraction: 0.2,
            camera: Camera::default(),
        }
    }
}

/// At most this many frames are rendered for one dataset (`trials * steps`).
pub const MAX_FRAMES: usize = 1_000_000;

impl PixelDataConfig {
    /// Samples per trial.
    pub fn per_trial(&self) -> usize {
        self.steps.saturating_sub(3)
    }

    /// Range checks; errors name the key (`frames`, `camera.rows`, ...).
    pub fn validate(&self) -> Result<()> {
        if !(1..=2).contains(&self.frames) {
            return Err(invalid("frames", self.frames, "expected 1 or 2"));
        }
        if self.steps < 4 {
            return Err(invalid(
                "steps",
                self.steps,
                "expected at least 4 frames per trial (a sample needs three after the first)",
            ));
        }
        if self.trials == 0 || self.trials.saturating_mul(self.steps) > MAX_FRAMES {
            return Err(invalid(
                "trials",
                self.trials,
                &format!("expected 1 to {MAX_FRAMES} / steps trials"),
            ));
        }
        let [lo, hi] = self.start_angle;
        if !(0.0 <= lo && lo < hi && hi <= PI) {
            return Err(invalid(
                "start_angle",
                format!("[{lo}, {hi}]"),
                "expected [min, max] with 0 <= min < max <= pi",
            ));
        }
        let n = self.trials * self.per_trial();
        let n_test = self.n_test();
        // below 1, floor(f n) < n: the training split is never empty
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) || n_test == 0 {
            return Err(invalid(
                "test_fraction",
                self.test_fraction,
                &format!("expected a fraction that leaves both splits non-empty ({n} samples)"),
            ));
        }
        self.camera.validate().map_err(|e| match e {
            crate::PixelError::Invalid { key, value, reason } => crate::PixelError::Invalid {
                key: match key {
                    "render_size" => "camera.render_size",
                    "rows" => "camera.rows",
                    "cols" => "camera.cols",
                    _ => "camera.side",
                },
                value,
                reason,
            },
            other => other,
        })
    }

    /// Number of test samples.
    pub fn n_test(&self) -> usize {
        (self.test_fraction * (self.trials * self.per_trial()) as f64) as usize
    }
}

/// One rendered trial: the states and their frames.
#[derive(Debug, Clone)]
pub struct Trial {
    /// `s_0 ..= s_steps` (one more than frames: the last step's result).
    pub states: Vec<PendulumState>,
    /// `[steps, side * side]`: frame `k` shows `states[k]`.
    pub frames: Array2<f32>,
}

/// Rolls out `steps` frames from `start`.
pub fn rollout(start: PendulumState, steps: usize, camera: &Camera) -> Trial {
    let mut states = Vec::with_capacity(steps + 1);
    let mut s = start;
    let mut frames = Array2::zeros((steps, camera.pixels()));
    for k in 0..steps {
        frames
            .row_mut(k)
            .assign(&ndarray::aview1(&camera.frame(s.theta)));
        states.push(s);
        s = s.step();
    }
    states.push(s);
    Trial { states, frames }
}

/// Samples: observations and targets as rows of a frame table, and labels.
#[derive(Debug, Clone)]
pub struct PixelSamples {
    /// `[n_frames, side * side]`.
    pub frames: Array2<f32>,
    /// `[n, F]`: the rows of `frames` of each observation, oldest first.
    pub obs: Array2<i64>,
    /// `[n, F]`: the rows of each target (the observation one step later).
    pub next: Array2<i64>,
    /// `[n, 2]`: `(angle from rest, 0.25 dtheta/dt)`.
    pub labels: Array2<f64>,
    /// `[n, 2]`: the label of the state the last observed frame shows (equal to `labels`
    /// under [`Labels::Aligned`]).
    pub shown: Array2<f64>,
}

impl PixelSamples {
    pub fn len(&self) -> usize {
        self.obs.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Observation `i` as one row of `F * side * side` values.
    pub fn observation(&self, i: usize) -> Vec<f32> {
        self.obs
            .row(i)
            .iter()
            .flat_map(|&r| self.frames.row(r as usize).to_vec())
            .collect()
    }

    /// The samples of one trial (its frames moved in, at rows `offset..`).
    fn of_trial(trial: Trial, frames: usize, labels: Labels, offset: i64) -> Self {
        let n = trial.frames.nrows() - 3;
        let f = frames as i64;
        let mut obs = Array2::zeros((n, frames));
        let mut next = Array2::zeros((n, frames));
        let mut lab = Array2::zeros((n, 2));
        let mut shown = Array2::zeros((n, 2));
        for i in 0..n {
            let k = i as i64 + 1;
            for j in 0..f {
                obs[[i, j as usize]] = offset + k + 2 - f + j;
                next[[i, j as usize]] = offset + k + 3 - f + j;
            }
            let last = trial.states[k as usize + 1].label();
            let ahead = trial.states[k as usize + 2].label();
            let l = match labels {
                Labels::Paper => ahead,
                Labels::Aligned => last,
            };
            lab.row_mut(i).assign(&ndarray::aview1(&l));
            shown.row_mut(i).assign(&ndarray::aview1(&last));
        }
        Self {
            frames: trial.frames,
            obs,
            next,
            labels: lab,
            shown,
        }
    }

    /// Samples of a fresh rollout of `steps` frames from `start` (an evaluation trajectory).
    pub fn of_rollout(
        start: PendulumState,
        steps: usize,
        frames: usize,
        labels: Labels,
        camera: &Camera,
    ) -> Self {
        Self::of_trial(rollout(start, steps, camera), frames, labels, 0)
    }

    /// Concatenates samples, renumbering frame rows.
    fn concat(parts: Vec<Self>) -> Self {
        let pixels = parts.first().map_or(0, |p| p.frames.ncols());
        let frames_n: usize = parts.iter().map(|p| p.frames.nrows()).sum();
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let f = parts.first().map_or(1, |p| p.obs.ncols());
        let mut out = Self {
            frames: Array2::zeros((frames_n, pixels)),
            obs: Array2::zeros((n, f)),
            next: Array2::zeros((n, f)),
            labels: Array2::zeros((n, 2)),
            shown: Array2::zeros((n, 2)),
        };
        let (mut fr, mut row) = (0usize, 0usize);
        for p in parts {
            let (pf, pn) = (p.frames.nrows(), p.len());
            out.frames.slice_mut(s![fr..fr + pf, ..]).assign(&p.frames);
            out.obs
                .slice_mut(s![row..row + pn, ..])
                .assign(&(&p.obs + fr as i64));
            out.next
                .slice_mut(s![row..row + pn, ..])
                .assign(&(&p.next + fr as i64));
            out.labels
                .slice_mut(s![row..row + pn, ..])
                .assign(&p.labels);
            out.shown.slice_mut(s![row..row + pn, ..]).assign(&p.shown);
            fr += pf;
            row += pn;
        }
        out
    }
}

/// The dataset: test samples (the first trials) and training samples.
#[derive(Debug, Clone)]
pub struct PixelData {
    pub train: PixelSamples,
    pub test: PixelSamples,
    /// The start of every trial.
    pub starts: Vec<PendulumState>,
}

/// Renders the dataset of `cfg` under `seed` (stream `Dataset`, one per trial).
pub fn generate(cfg: &PixelDataConfig, seed: u64) -> Result<PixelData> {
    cfg.validate()?;
    let trials: Vec<(PendulumState, PixelSamples)> = (0..cfg.trials)
        .into_par_iter()
        .map(|i| {
            let mut rng = stream(seed, Purpose::Dataset, i as u64);
            let start = sample_start(&mut rng, cfg.start_angle, i)?;
            let trial = rollout(start, cfg.steps, &cfg.camera);
            Ok((
                start,
                PixelSamples::of_trial(trial, cfg.frames, cfg.labels, 0),
            ))
        })
        .collect::<Result<_>>()?;
    let starts = trials.iter().map(|(s, _)| *s).collect();
    // The split falls between samples; a trial cut by it keeps its frames on both sides.
    let n_test = cfg.n_test();
    let per = cfg.per_trial();
    let (mut test, mut train) = (Vec::new(), Vec::new());
    for (i, (_, samples)) in trials.into_iter().enumerate() {
        let first = i * per;
        if first + per <= n_test {
            test.push(samples);
        } else if first >= n_test {
            train.push(samples);
        } else {
            let cut = n_test - first;
            let take = |a: &PixelSamples, r: std::ops::Range<usize>| PixelSamples {
                frames: a.frames.clone(),
                obs: a.obs.slice(s![r.clone(), ..]).to_owned(),
                next: a.next.slice(s![r.clone(), ..]).to_owned(),
                labels: a.labels.slice(s![r.clone(), ..]).to_owned(),
                shown: a.shown.slice(s![r, ..]).to_owned(),
            };
            test.push(take(&samples, 0..cut));
            train.push(take(&samples, cut..per));
        }
    }
    let train = PixelSamples::concat(train);
    check_frames_vary(&train.frames, &cfg.camera)?;
    Ok(PixelData {
        train,
        test: PixelSamples::concat(test),
        starts,
    })
}

/// Refuses training frames that are all the same picture (a crop with no pendulum in view):
/// a model would learn nothing, and its rollouts of a still picture would score as perfect.
fn check_frames_vary(frames: &Array2<f32>, camera: &Camera) -> Result<()> {
    let varies = frames.columns().into_iter().any(|pixel| {
        let first = pixel[0];
        pixel.iter().any(|&v| (v - first).abs() > 1e-6)
    });
    if varies || frames.nrows() < 2 {
        return Ok(());
    }
    Err(invalid(
        "camera",
        format!(
            "rows {:?}, cols {:?} of a {} px render",
            camera.rows, camera.cols, camera.render_size
        ),
        "every training frame is the same picture: the crop shows no pendulum, so there is nothing to learn",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PixelDataConfig {
        PixelDataConfig {
            trials: 6,
            steps: 13,
            test_fraction: 0.25,
            camera: Camera {
                side: 14,
                ..Camera::default()
            },
            ..PixelDataConfig::default()
        }
    }

    /// A crop of the render's corner sees no pendulum: refused, naming the camera.
    #[test]
    fn a_crop_without_the_pendulum_is_refused() {
        let cfg = PixelDataConfig {
            camera: Camera {
                rows: [0, 100],
                cols: [0, 100],
                ..small().camera
            },
            ..small()
        };
        let e = generate(&cfg, 0).unwrap_err().to_string();
        assert!(e.contains("camera") && e.contains("no pendulum"), "{e}");
    }

    #[test]
    fn sizes_split_and_windows() {
        let cfg = small();
        let d = generate(&cfg, 0).unwrap();
        // 6 trials x 10 samples, the first 15 are test (one trial cut in two)
        assert_eq!(d.test.len(), 15);
        assert_eq!(d.train.len(), 45);
        assert_eq!(d.test.frames.ncols(), 196);
        assert_eq!(d.test.frames.nrows(), 2 * 13);
        assert_eq!(d.train.frames.nrows(), 5 * 13);
        // sample k = 1 of trial 0 observes frames 1, 2 and targets 2, 3
        assert_eq!(d.test.obs.row(0).to_vec(), vec![1, 2]);
        assert_eq!(d.test.next.row(0).to_vec(), vec![2, 3]);
        // the train split starts with sample k = 6 of trial 1 (its frames renumbered from 0)
        assert_eq!(d.train.obs.row(0).to_vec(), vec![6, 7]);
        assert_eq!(d.train.obs.row(5).to_vec(), vec![13 + 1, 13 + 2]);
        let o = d.test.observation(0);
        assert_eq!(o.len(), 2 * 196);
        assert_eq!(&o[196..], d.test.frames.row(2).as_slice().unwrap());
    }

    /// Paper labels are one step ahead of the state the last frame shows: the state after
    /// one more Gym step; aligned labels are that state.
    #[test]
    fn paper_labels_lead_by_one_step() {
        let cfg = small();
        let paper = generate(&cfg, 3).unwrap();
        let aligned = generate(
            &PixelDataConfig {
                labels: Labels::Aligned,
                ..cfg.clone()
            },
            3,
        )
        .unwrap();
        assert_eq!(paper.train.frames, aligned.train.frames);
        for i in 0..paper.test.len() {
            let shown = aligned.test.labels.row(i);
            assert_eq!(shown, paper.test.shown.row(i));
            let s = PendulumState::from_label([shown[0], shown[1]])
                .step()
                .label();
            let l = paper.test.labels.row(i);
            assert!((s[0] - l[0]).abs() < 1e-12 && (s[1] - l[1]).abs() < 1e-12);
        }
        // the shown state is the one rendered in the last frame
        let t0 = &paper.starts[0];
        let mut s = *t0;
        for _ in 0..2 {
            s = s.step();
        }
        let cam = cfg.camera;
        assert_eq!(paper.test.frames.row(2).to_vec(), cam.frame(s.theta));
        assert!((paper.test.shown[[0, 0]] - s.angle_from_rest()).abs() < 1e-12);
    }

    /// A split after two whole trials and half of the third: windows renumbered per split,
    /// targets included.
    #[test]
    fn a_split_inside_a_later_trial() {
        let cfg = PixelDataConfig {
            test_fraction: 0.42, // 25 of 60 samples
            ..small()
        };
        let d = generate(&cfg, 0).unwrap();
        assert_eq!((d.test.len(), d.train.len()), (25, 35));
        assert!(!d.test.is_empty() && !d.train.is_empty());
        assert_eq!(d.test.frames.nrows(), 3 * 13);
        // test sample 20 is trial 2's first (k = 1): frames 26 + 1, 26 + 2
        assert_eq!(d.test.obs.row(20).to_vec(), vec![27, 28]);
        assert_eq!(d.test.next.row(20).to_vec(), vec![28, 29]);
        // train starts with trial 2's sample k = 6, then trial 3 from frame row 13
        assert_eq!(d.train.obs.row(0).to_vec(), vec![6, 7]);
        assert_eq!(d.train.next.row(5).to_vec(), vec![13 + 2, 13 + 3]);
        assert!(PixelSamples::concat(Vec::new()).is_empty());
    }

    /// Edges of the settings: refused just past them, accepted on them.
    #[test]
    fn setting_edges() {
        let bad = [
            (
                PixelDataConfig {
                    start_angle: [0.3, 0.3],
                    ..small()
                },
                "start_angle",
            ),
            (
                PixelDataConfig {
                    trials: MAX_FRAMES,
                    ..small()
                },
                "trials",
            ),
            (
                PixelDataConfig {
                    camera: Camera {
                        cols: [10, 5],
                        ..Camera::default()
                    },
                    ..small()
                },
                "camera.cols",
            ),
            (
                PixelDataConfig {
                    camera: Camera {
                        render_size: 4,
                        ..Camera::default()
                    },
                    ..small()
                },
                "camera.render_size",
            ),
        ];
        for (cfg, key) in bad {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        }
        assert!(
            PixelDataConfig {
                steps: 4,
                ..small()
            }
            .validate()
            .is_ok()
        );
        // exactly MAX_FRAMES frames
        assert!(
            PixelDataConfig {
                trials: MAX_FRAMES / 16,
                steps: 16,
                ..small()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn one_frame_observes_the_last_frame() {
        let cfg = PixelDataConfig {
            frames: 1,
            ..small()
        };
        let d = generate(&cfg, 0).unwrap();
        assert_eq!(d.test.obs.row(0).to_vec(), vec![2]);
        assert_eq!(d.test.next.row(0).to_vec(), vec![3]);
    }

    #[test]
    fn same_data_for_any_thread_count() {
        let cfg = small();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| generate(&cfg, 5).unwrap())
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a.train.frames, b.train.frames);
        assert_eq!(a.test.frames, b.test.frames);
        assert_eq!(a.train.labels, b.train.labels);
        assert_ne!(generate(&cfg, 6).unwrap().test.labels, a.test.labels);
    }

    #[test]
    fn bad_settings_name_their_key() {
        for (cfg, key) in [
            (
                PixelDataConfig {
                    frames: 3,
                    ..small()
                },
                "frames",
            ),
            (
                PixelDataConfig {
                    steps: 3,
                    ..small()
                },
                "steps",
            ),
            (
                PixelDataConfig {
                    trials: 0,
                    ..small()
                },
                "trials",
            ),
            (
                PixelDataConfig {
                    start_angle: [0.5, 0.2],
                    ..small()
                },
                "start_angle",
            ),
            (
                PixelDataConfig {
                    test_fraction: 1.0,
                    ..small()
                },
                "test_fraction",
            ),
            (
                PixelDataConfig {
                    camera: Camera {
                        rows: [10, 5],
                        ..Camera::default()
                    },
                    ..small()
                },
                "camera.rows",
            ),
        ] {
            let e = generate(&cfg, 0).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        }
    }
}
