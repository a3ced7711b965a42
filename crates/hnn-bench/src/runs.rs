//! The life of a run directory on disk: atomic writes, one process per run, marking runs that
//! a signal interrupted, and listing (or removing) the ones that never finished.
//!
//! `meta.json` `status` is one of:
//! - `running`: being computed, or left behind by a process that died without a trace (power
//!   loss, `SIGKILL`); [`list`] tells the two apart by the run's lock;
//! - `ok`, `diverged`: finished (a diverged model is marked in `summary.json`); reusable;
//! - `failed`: an error, with its message in `error`;
//! - `interrupted`: stopped by SIGINT, SIGTERM or SIGHUP; never reused.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::config::Experiment;
use crate::error::Result;
use crate::io_err;

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees the old file or the whole new one, never a part (a full disk leaves the old
/// file and an error).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err("cannot write", path)(e)
    })
}

/// Spaces (JSON whitespace) after a new run's first `meta.json`, so that the file's storage is
/// allocated while the disk still has room: its final status then fits over it in place when
/// the disk has filled up meanwhile ([`write_meta`]).
pub const META_RESERVE: usize = 16 * 1024;

/// A run's first `meta.json`: `contents` and [`META_RESERVE`] spaces, written atomically.
pub fn write_meta_reserved(path: &Path, contents: &[u8]) -> Result<()> {
    let mut padded = contents.to_vec();
    padded.resize(contents.len() + META_RESERVE, b' ');
    write_atomic(path, &padded)
}

/// A run's `meta.json` written atomically or, when that fails (a full disk has no room for a
/// new file), over the old one in place, within the storage its first writing reserved.
pub fn write_meta(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic(path, contents).or_else(|e| {
        overwrite_in_place(path, contents).map_err(|_| e)?;
        tracing::warn!(
            path = %path.display(),
            "the disk has no room for a new file: meta.json written over itself in place"
        );
        Ok(())
    })
}

/// Writes `contents` over the existing file `path` from its start and cuts it there, if it
/// fits in the file's present length (no new storage needed).
fn overwrite_in_place(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut f = File::options().write(true).open(path)?;
    if contents.len() as u64 > f.metadata()?.len() {
        return Err(std::io::Error::other("does not fit in the file's reserve"));
    }
    f.write_all(contents)?;
    f.set_len(contents.len() as u64)?;
    f.sync_all()
}

/// A short digest of a resolved config: runs with the same key compute the same thing.
pub fn config_key(resolved_toml: &str) -> String {
    let digest = Sha256::digest(resolved_toml.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses an output folder that is a symbolic link to nothing (creating it said only "File
/// exists").
fn check_not_dangling(root: &Path) -> Result<()> {
    let is_link = std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && !root.exists() {
        let target = std::fs::read_link(root).unwrap_or_default();
        return Err(crate::error::BenchError::Input {
            path: root.to_path_buf(),
            reason: format!(
                "the output folder is a symbolic link to {}, which does not exist",
                target.display()
            ),
        });
    }
    Ok(())
}

/// Lock files live apart from the run folders, in `<root>/.locks/`.
fn lock_path(root: &Path, name: &str, key: &str) -> PathBuf {
    root.join(".locks").join(format!("{name}-{key}"))
}

/// An exclusive claim on computing one resolved config under one output root. The operating
/// system releases it when the process ends, however it ends, so a killed run never blocks the
/// next one.
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the claim for `exp` under `root`, waiting (with a log line) while another process
    /// holds it.
    pub fn acquire(root: &Path, exp: &Experiment) -> Result<RunLock> {
        check_not_dangling(root)?;
        let key = config_key(&exp.config.to_toml());
        let path = lock_path(root, &exp.config.experiment.name, &key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err("cannot create the output folder", parent))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("cannot create the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    lock = %path.display(),
                    "another process is computing this run; waiting for it to finish"
                );
                file.lock()
                    .map_err(io_err("cannot lock the lock file", &path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("cannot lock the lock file", &path)(e));
            }
        }
        Ok(RunLock { _file: file, path })
    }

    /// Whether some process holds the claim on the run whose config key is `key`.
    fn is_held(root: &Path, name: &str, key: &str) -> bool {
        let path = lock_path(root, name, key);
        let Ok(file) = File::options().write(true).open(&path) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

/// The runs being computed (one, or the members of a seed ensemble), for the signal handler:
/// each one's `meta.json` path and its "running" content.
struct InProgress(Mutex<Vec<(PathBuf, serde_json::Value)>>);

impl InProgress {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn set(&self, meta_path: &Path, meta: serde_json::Value) {
        let mut runs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        runs.retain(|(p, _)| p != meta_path);
        runs.push((meta_path.to_path_buf(), meta));
    }

    fn finish<T>(&self, meta_path: &Path, finish: impl FnOnce() -> T) -> T {
        let mut runs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let out = finish();
        runs.retain(|(p, _)| p != meta_path);
        out
    }

    /// Marks every run in progress "interrupted" by `signal` and returns their directories.
    fn mark_interrupted(&self, signal: &str) -> Vec<PathBuf> {
        let mut runs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        runs.drain(..)
            .filter_map(|(path, mut meta)| {
                meta["status"] = "interrupted".into();
                meta["error"] = format!("interrupted by {signal}").into();
                let bytes = serde_json::to_vec_pretty(&meta).expect("meta serialises");
                let _ = write_meta(&path, &bytes);
                path.parent().map(Path::to_path_buf)
            })
            .collect()
    }
}

/// This process's runs in progress.
static CURRENT: InProgress = InProgress::new();

/// Records a run in progress (its "running" meta) so that a signal can mark it.
pub fn set_current(meta_path: &Path, meta: serde_json::Value) {
    CURRENT.set(meta_path, meta);
}

/// Runs `finish` (the final writes of the run with this `meta.json`) with the signal handler
/// held off, then forgets the run: a signal arriving meanwhile waits, and does not mark it.
pub fn finish_current<T>(meta_path: &Path, finish: impl FnOnce() -> T) -> T {
    CURRENT.finish(meta_path, finish)
}

/// Whether the process was started with `signal` ignored (as `nohup` does for SIGHUP, and a
/// shell for SIGINT of a background job).
fn inherited_ignored(signal: i32) -> bool {
    // SAFETY: a query only (no new action); `old` is written by the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// On SIGINT, SIGTERM or SIGHUP: mark the run in progress "interrupted", say so, and end the
/// process as that signal does by default. A signal the parent left ignored (`nohup`) stays
/// ignored.
pub fn install_signal_handlers() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let watched: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|s| !inherited_ignored(*s))
        .collect();
    let mut signals = signal_hook::iterator::Signals::new(watched)?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = match sig {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                _ => "SIGHUP",
            };
            let dirs = CURRENT.mark_interrupted(name);
            if dirs.is_empty() {
                eprintln!("\ninterrupted by {name}");
            }
            for dir in dirs {
                eprintln!(
                    "\ninterrupted by {name}: {} is marked \"interrupted\" and will not be reused",
                    dir.display()
                );
            }
            // End as the signal would have ended us (exit status 128 + signal), without
            // running exit handlers under libtorch's feet on the main thread.
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// The file that marks a folder as one of hnn's run directories: written into it right after
/// it is created, before anything else, and holding the key of the run's lock ([`config_key`]
/// of its resolved config). `runs` lists and `runs --clean` removes only folders that carry it
/// (or, for runs from before it existed, a `meta.json` that hnn wrote), so nothing else under an
/// output folder is ever touched.
pub const MARKER: &str = ".hnn-run";

/// Marks `dir` as the run directory of the run whose lock key is `key`.
pub fn write_marker(dir: &Path, key: &str) -> Result<()> {
    write_atomic(&dir.join(MARKER), key.as_bytes())
}

/// One run directory as [`list`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    pub dir: PathBuf,
    /// `meta.json` status; `running` becomes `stale` when no process holds the run's lock; a
    /// run directory without a readable `meta.json` is `running` while its lock is held (it is
    /// starting) and `incomplete` otherwise; a finished one whose `summary.json` is unreadable
    /// is `corrupt`.
    pub status: String,
    pub error: Option<String>,
}

impl RunEntry {
    /// Finished runs (reusable) are `ok` and `diverged`.
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "diverged")
    }
}

/// The sub-folders of `p`, sorted, hidden ones left out.
fn sub_folders(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(io_err("cannot read", p))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The run in `dir` of experiment `name`, or `None` when `dir` is not one of hnn's run
/// directories (no [`MARKER`], and no `meta.json` written by hnn).
fn entry(root: &Path, name: &str, dir: PathBuf) -> Option<RunEntry> {
    let marker = std::fs::read_to_string(dir.join(MARKER)).ok();
    let meta = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
        .filter(|m| m.get("hnn_version").is_some());
    if marker.is_none() && meta.is_none() {
        return None;
    }
    let (status, error) = match &meta {
        Some(m) => (
            m["status"].as_str().unwrap_or("incomplete").to_string(),
            m["error"].as_str().map(str::to_string),
        ),
        None => ("incomplete".to_string(), None),
    };
    // a finished run whose summary cannot be read is not reusable: say so
    if matches!(status.as_str(), "ok" | "diverged")
        && let Err(e) = crate::summary::RunSummary::read(&dir.join("summary.json"))
    {
        return Some(RunEntry {
            dir,
            status: "corrupt".into(),
            error: Some(format!("{status}, but summary.json is unreadable: {e}")),
        });
    }
    let status = if matches!(status.as_str(), "running" | "incomplete") {
        let key = marker.map(|k| k.trim().to_string()).or_else(|| {
            std::fs::read_to_string(dir.join("config.toml"))
                .ok()
                .map(|t| config_key(&t))
        });
        let held = key.is_some_and(|k| RunLock::is_held(root, name, &k));
        match (status.as_str(), held) {
            (_, true) => "running".to_string(),
            ("running", false) => "stale".to_string(),
            _ => status,
        }
    } else {
        status
    };
    Some(RunEntry { dir, status, error })
}

/// Every run directory under `root` (`<root>/<name>/<run>/`), oldest first per experiment;
/// folders that are not run directories are left out.
pub fn list(root: &Path) -> Result<Vec<RunEntry>> {
    let mut out = Vec::new();
    for exp_dir in sub_folders(root)? {
        let name = exp_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for dir in sub_folders(&exp_dir)? {
            out.extend(entry(root, &name, dir));
        }
    }
    Ok(out)
}

/// Removes the run directories that did not finish and are not being computed (`failed`,
/// `interrupted`, `stale`, `incomplete`), and finished ones whose summary is unreadable
/// (`corrupt`); returns what was removed. Only run directories are
/// candidates ([`MARKER`]), and none whose lock a process holds.
pub fn clean(root: &Path) -> Result<Vec<RunEntry>> {
    let mut removed = Vec::new();
    for e in list(root)? {
        if matches!(
            e.status.as_str(),
            "failed" | "interrupted" | "stale" | "incomplete" | "corrupt"
        ) {
            std::fs::remove_dir_all(&e.dir).map_err(io_err("cannot remove", &e.dir))?;
            removed.push(e);
        }
    }
    Ok(removed)
}

/// The memory this process may still take, in bytes: the smaller of the machine's available
/// memory (Linux `MemAvailable`) and the address-space limit (`ulimit -v`); `None` where
/// neither is known.
pub fn available_memory_bytes() -> Option<u64> {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib_field(&m, "MemAvailable:"));
    smaller_known(available, address_space_limit())
}

/// The value of the `key` line of a `/proc` file that counts in kB (`MemAvailable:   123 kB`),
/// in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The process's address-space limit (`ulimit -v`) in bytes; `None` when unlimited.
fn address_space_limit() -> Option<u64> {
    // SAFETY: getrlimit writes the struct it is given.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_AS, &mut r) == 0 && r.rlim_cur != libc::RLIM_INFINITY)
            .then_some(r.rlim_cur)
    }
}

/// The smaller of two bounds, either of which may be unknown.
fn smaller_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The process's peak resident memory (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmHWM:")
}

/// Starts the peak-memory count afresh (Linux: `5` into `/proc/self/clear_refs`), so each run
/// of a batch reports its own peak; false where that is not possible. The heap that earlier runs
/// freed and the allocator kept ([`hnn_models::cpu::keep_freed_heap`]) is given back first, so
/// it is not counted as this run's.
pub fn reset_peak_rss() -> bool {
    if CONCURRENT.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    hnn_models::cpu::give_back_freed_heap();
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Set when runs are computed concurrently (`--jobs`): the peak memory count is the process's
/// then, and is no longer reset per run.
static CONCURRENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the process as computing runs concurrently (see [`reset_peak_rss`]).
pub fn set_concurrent() {
    CONCURRENT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A panic's message, for a run that a panic ended: its first line, at most 500 characters
/// (libtorch's messages carry a C++ backtrace).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let full = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    };
    let first = full.lines().next().unwrap_or_default();
    let mut short: String = first.chars().take(500).collect();
    if short.len() < full.trim_end().len() {
        short.push_str(" [...]");
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty folder of its own for test `tag` (left over from an earlier run: emptied).
    fn fresh_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hnn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporary() {
        let dir = fresh_dir("atomic");
        let p = dir.join("summary.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("summary.json")]);
        // a folder that does not exist: an error naming the file, nothing written
        let err = write_atomic(&dir.join("missing/x.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing/x.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A run's first meta.json reserves room; written over in place (what a full disk leaves),
    /// the final one reads back whole, and content beyond the reserve is refused, not cut.
    /// (The full disk itself: `scripts/robustness-campaign.py diskfull`.)
    #[test]
    fn meta_fits_over_its_reserve_in_place() {
        let dir = fresh_dir("meta");
        let p = dir.join("meta.json");
        write_meta_reserved(&p, br#"{"status": "running"}"#).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().len() as usize,
            21 + META_RESERVE
        );
        let running: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(running["status"], "running");
        let failed = br#"{"status": "failed", "error": "No space left on device"}"#;
        overwrite_in_place(&p, failed).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), failed);
        let too_big = vec![b' '; failed.len() + 1];
        assert!(overwrite_in_place(&p, &too_big).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), failed);
        // exactly the file's length still fits
        let exact = vec![b' '; failed.len()];
        overwrite_in_place(&p, &exact).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), exact);
        // a final meta.json of 8 KiB (error text, timings, memory) fits over a short first one
        write_meta_reserved(&p, br#"{"status": "running"}"#).unwrap();
        let long = format!(
            r#"{{"status": "failed", "error": "{}"}}"#,
            "x".repeat(8 * 1024)
        );
        overwrite_in_place(&p, long.as_bytes()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), long.as_bytes());
        // and write_meta writes it when the disk has room
        write_meta(&p, br#"{"status": "ok"}"#).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), br#"{"status": "ok"}"#);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_output_link_is_refused_naming_its_target() {
        let dir = fresh_dir("dangling");
        let link = dir.join("runs");
        std::os::unix::fs::symlink(dir.join("gone"), &link).unwrap();
        let err = check_not_dangling(&link).unwrap_err().to_string();
        assert!(
            err.contains("symbolic link to") && err.contains("gone"),
            "{err}"
        );
        // a link to a folder that exists, a plain folder and a missing path are fine
        let target = dir.join("there");
        std::fs::create_dir_all(&target).unwrap();
        let good = dir.join("good");
        std::os::unix::fs::symlink(&target, &good).unwrap();
        assert!(check_not_dangling(&good).is_ok());
        assert!(check_not_dangling(&target).is_ok());
        assert!(check_not_dangling(&dir.join("not-yet")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panic_messages_keep_their_first_line() {
        let p: Box<dyn std::any::Any + Send> = Box::new(String::from("out of memory\nframe #0"));
        assert_eq!(panic_message(p.as_ref()), "out of memory [...]");
        let p: Box<dyn std::any::Any + Send> = Box::new("plain");
        assert_eq!(panic_message(p.as_ref()), "plain");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_memory_is_read_and_grows_with_an_allocation() {
        let before = peak_rss_bytes().expect("VmHWM on Linux");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before + (60 << 20), "{before} -> {after}");
    }

    /// A folder tree under `root` and a lock for experiment `name` with `key`, held or not.
    fn locked(root: &Path, name: &str, key: &str) -> File {
        let path = lock_path(root, name, key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = File::create(&path).unwrap();
        f.try_lock().unwrap();
        f
    }

    #[test]
    fn only_run_directories_are_listed_and_clean_spares_everything_else() {
        let root = fresh_dir("clean");
        // not runs: a photo folder, a source tree, an empty folder, a foreign meta.json
        tree(
            &root,
            &[
                ("u/p/2020/a.jpg", "hi"),
                ("crates/hnn/Cargo.toml", "[package]"),
                ("x/foreign/meta.json", r#"{"status": "failed"}"#),
            ],
        );
        std::fs::create_dir_all(root.join("x/empty")).unwrap();
        // runs: interrupted (marker and meta), starting (marker, lock held, no meta yet),
        // abandoned (marker only, no lock), and one from before the marker (hnn's meta only)
        let run = |dir: &str, key: &str, meta: Option<&str>| {
            let d = root.join(dir);
            std::fs::create_dir_all(&d).unwrap();
            write_marker(&d, key).unwrap();
            if let Some(m) = meta {
                std::fs::write(d.join("meta.json"), m).unwrap();
            }
        };
        run(
            "s/a-s0",
            "k1",
            Some(r#"{"hnn_version": "0.1.0", "status": "interrupted"}"#),
        );
        run("s/b-s0", "k2", None);
        run("s/c-s0", "k3", None);
        let legacy = root.join("s/d-s0");
        std::fs::create_dir_all(&legacy).unwrap();
        std::fs::write(
            legacy.join("meta.json"),
            r#"{"hnn_version": "0.1.0", "status": "ok"}"#,
        )
        .unwrap();
        let _held = locked(&root, "s", "k2");
        let listed: Vec<(String, String)> = list(&root)
            .unwrap()
            .into_iter()
            .map(|e| {
                let name = e.dir.strip_prefix(&root).unwrap().display().to_string();
                (name, e.status)
            })
            .collect();
        let want = [
            ("s/a-s0", "interrupted"),
            ("s/b-s0", "running"),
            ("s/c-s0", "incomplete"),
            // "ok" in its meta, but no summary.json to reuse
            ("s/d-s0", "corrupt"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(d, s)| (d.to_string(), s.to_string()))
            .collect();
        assert_eq!(listed, want);
        let removed: Vec<PathBuf> = clean(&root).unwrap().into_iter().map(|e| e.dir).collect();
        assert_eq!(
            removed,
            vec![
                root.join("s/a-s0"),
                root.join("s/c-s0"),
                root.join("s/d-s0")
            ]
        );
        for kept in [
            "u/p/2020/a.jpg",
            "crates/hnn/Cargo.toml",
            "x/foreign/meta.json",
            "x/empty",
        ] {
            assert!(root.join(kept).exists(), "{kept} was removed");
        }
        assert!(root.join("s/b-s0").exists() && !legacy.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A folder tree under `root` with the files given, for listing tests.
    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (file, text) in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn finished_runs_are_ok_and_diverged_only() {
        let e = |status: &str| RunEntry {
            dir: PathBuf::new(),
            status: status.into(),
            error: None,
        };
        assert!(e("ok").finished() && e("diverged").finished());
        for s in [
            "running",
            "stale",
            "failed",
            "interrupted",
            "incomplete",
            "corrupt",
        ] {
            assert!(!e(s).finished(), "{s}");
        }
    }

    #[test]
    fn sub_folders_are_sorted_and_leave_out_files_and_hidden_folders() {
        let root = fresh_dir("sub");
        tree(
            &root,
            &[
                ("b/x", ""),
                ("a/x", ""),
                (".locks/x", ""),
                ("table1.md", "|"),
            ],
        );
        assert_eq!(
            sub_folders(&root).unwrap(),
            vec![root.join("a"), root.join("b")]
        );
        let err = sub_folders(&root.join("missing")).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// What `runs` says of a run by its `meta.json` status and its lock: a "running" run whose
    /// lock nobody holds is stale, a held one running; an ended run is what its meta says,
    /// held lock or not (a failed run stays failed while the same config is computed again
    /// elsewhere). Runs from before the marker find their lock through their `config.toml`.
    #[test]
    fn a_run_is_stale_or_running_by_its_lock_and_finished_by_its_meta() {
        let root = fresh_dir("entry");
        let meta = |status: &str| format!(r#"{{"hnn_version": "0.1.0", "status": "{status}"}}"#);
        let summary = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-999dcd0.json"),
        )
        .unwrap();
        let legacy_config = "[experiment]\nname = \"s\"\n";
        tree(
            &root,
            &[
                ("s/a/.hnn-run", "k1"),
                ("s/a/meta.json", &meta("running")),
                ("s/b/.hnn-run", "k2"),
                ("s/b/meta.json", &meta("running")),
                ("s/c/.hnn-run", "k3"),
                ("s/c/meta.json", &meta("failed")),
                ("s/d/.hnn-run", "k4"),
                ("s/d/meta.json", &meta("ok")),
                ("s/d/summary.json", &summary),
                ("s/e/.hnn-run", "k5"),
                ("s/e/meta.json", &meta("diverged")),
                ("s/e/summary.json", &summary),
                ("s/f/meta.json", &meta("running")),
                ("s/f/config.toml", legacy_config),
                ("s/g/meta.json", r#"{"hnn_version": "0.1.0"}"#),
            ],
        );
        let _b = locked(&root, "s", "k2");
        let _c = locked(&root, "s", "k3");
        let _f = locked(&root, "s", &config_key(legacy_config));
        let status: Vec<String> = list(&root).unwrap().into_iter().map(|e| e.status).collect();
        assert_eq!(
            status,
            [
                "stale",
                "running",
                "failed",
                "ok",
                "diverged",
                "running",
                "incomplete"
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The signal handler's registry: a run set twice is held once with its latest meta, a
    /// finished run is forgotten (its final writes done under the registry's lock), and a
    /// signal marks what is left "interrupted" in its `meta.json`, once.
    #[test]
    fn a_signal_marks_the_runs_in_progress_and_only_those() {
        let dir = fresh_dir("current");
        for run in ["a", "b", "c"] {
            std::fs::create_dir_all(dir.join(run)).unwrap();
        }
        let meta_of = |run: &str| dir.join(run).join("meta.json");
        let (a, b, c) = (meta_of("a"), meta_of("b"), meta_of("c"));
        let runs = InProgress::new();
        runs.set(&a, serde_json::json!({"status": "running", "seed": 0}));
        runs.set(&b, serde_json::json!({"status": "running", "seed": 1}));
        runs.set(&c, serde_json::json!({"status": "running", "seed": 3}));
        runs.set(&a, serde_json::json!({"status": "running", "seed": 2}));
        let out = runs.finish(&b, || {
            std::fs::write(&b, r#"{"status": "ok"}"#).unwrap();
            7
        });
        assert_eq!(out, 7);
        assert_eq!(
            runs.mark_interrupted("SIGTERM"),
            vec![dir.join("c"), dir.join("a")]
        );
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
        assert_eq!(
            meta,
            serde_json::json!({"status": "interrupted", "seed": 2,
                               "error": "interrupted by SIGTERM"})
        );
        assert_eq!(std::fs::read(&b).unwrap(), br#"{"status": "ok"}"#);
        assert!(runs.mark_interrupted("SIGINT").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `nohup`'s ignored SIGHUP is seen as inherited (SIGUSR2 stands in: nothing in the test
    /// process uses it).
    #[cfg(unix)]
    #[test]
    fn an_ignored_signal_is_seen_as_ignored() {
        // SAFETY: sets and restores the disposition of a signal no one here uses
        unsafe {
            let old = libc::signal(libc::SIGUSR2, libc::SIG_IGN);
            assert!(inherited_ignored(libc::SIGUSR2));
            libc::signal(libc::SIGUSR2, libc::SIG_DFL);
            assert!(!inherited_ignored(libc::SIGUSR2));
            libc::signal(libc::SIGUSR2, old);
        }
    }

    #[test]
    fn proc_fields_in_kib_read_as_bytes() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:  10 kB\nMemAvailable:   123 kB\n";
        assert_eq!(kib_field(meminfo, "MemAvailable:"), Some(123 * 1024));
        assert_eq!(kib_field(meminfo, "MemTotal:"), Some(24_000_000 * 1024));
        assert_eq!(kib_field(meminfo, "VmHWM:"), None);
        assert_eq!(kib_field("VmHWM: lots kB", "VmHWM:"), None);
        assert_eq!(smaller_known(Some(3), Some(2)), Some(2));
        assert_eq!(smaller_known(Some(2), Some(3)), Some(2));
        assert_eq!(smaller_known(None, Some(3)), Some(3));
        assert_eq!(smaller_known(Some(3), None), Some(3));
        assert_eq!(smaller_known(None, None), None);
    }

    /// `ulimit -v` is read (set here to 1 PiB, far above anything the tests use, then to the
    /// hard limit, then restored).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_address_space_limit_bounds_available_memory() {
        // SAFETY: getrlimit/setrlimit on structs owned here
        unsafe {
            let mut old: libc::rlimit = std::mem::zeroed();
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut old), 0);
            let pib: u64 = 1 << 50;
            if old.rlim_max != libc::RLIM_INFINITY && old.rlim_max < pib {
                return; // a hard limit below 1 PiB: cannot raise the soft one that far
            }
            let mut set = old;
            set.rlim_cur = pib;
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &set), 0);
            let limit = address_space_limit();
            let available = available_memory_bytes();
            // and no limit where it is unlimited (the hard limit allows that)
            set.rlim_cur = old.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &set), 0);
            let unlimited = address_space_limit();
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &old), 0);
            assert_eq!(limit, Some(pib));
            if old.rlim_max == libc::RLIM_INFINITY {
                assert_eq!(unlimited, None);
            }
            // MemAvailable (well under 1 PiB; it moves as other tests allocate) wins
            assert!(available.is_some_and(|a| a > 0 && a < pib), "{available:?}");
        }
    }

    /// The peak-memory count starts afresh for each run, unless runs share the process
    /// concurrently (`--jobs`), where it is the process's. (One test: the switch is for good.)
    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_memory_count_restarts_per_run_unless_runs_are_concurrent() {
        let big = vec![1u8; 256 << 20];
        std::hint::black_box(&big);
        drop(big);
        let before = peak_rss_bytes().unwrap();
        assert!(reset_peak_rss());
        let after = peak_rss_bytes().unwrap();
        assert!(after + (128 << 20) < before, "{before} -> {after}");
        set_concurrent();
        assert!(!reset_peak_rss());
    }

    #[test]
    fn config_keys_differ_with_the_config() {
        assert_eq!(config_key("a = 1\n"), config_key("a = 1\n"));
        assert_ne!(config_key("a = 1\n"), config_key("a = 2\n"));
        assert_eq!(config_key("").len(), 16);
    }
}
