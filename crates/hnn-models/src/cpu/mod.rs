//! The CPU's matrix-product path, and this machine's arithmetic floors.
//!
//! libtorch's CPU builds link oneMKL statically, and MKL chooses its kernels by vendor: on a CPU
//! whose vendor is not Intel it takes its AVX2 path even where the CPU has AVX-512, which halves
//! the fp32 matrix-product rate of an AVX-512 AMD CPU (Zen 4, Zen 5). MKL asks
//! `mkl_serv_intel_cpu_true()` whether the CPU is Intel's, and `libtorch_cpu.so` makes that call
//! through its PLT, so a definition exported by the executable wins the lookup. [`hook`] is that
//! definition. Its answer ([`vendor_answer`]) is "Intel" where the CPU has AVX-512 F, DQ, BW and VL
//! and the switch is on, and MKL's own answer everywhere else. After an "Intel" answer MKL still
//! reads the CPU's feature bits to pick a branch, so it never uses an instruction the CPU lacks. On
//! an Intel CPU both answers are the same.
//!
//! The switch is the environment variable [`Switch::VAR`] (`HNN_MKL_AVX512`): `auto` (the
//! default, or unset) takes the fast path where the CPU has AVX-512; `off` leaves MKL's choice
//! as shipped. MKL asks once per process, at its first call, so the variable must be set before
//! the process starts.
//!
//! The build script of every crate that links libtorch (`scripts/libtorch-rpath.rs`) exports the
//! symbol from each binary, test, bench and example it links. [`MatmulPath::current`] reports what
//! MKL chose (its automatic branch) and whether the hook was reached; [`matmul_gflops`] and
//! [`fma_peak_gflops`] measure the rate that results and the rate the cores allow.
//! [`keep_freed_heap`] keeps glibc from handing a step's freed buffers back to the kernel.

mod heap;
pub mod hook;
mod peak;
mod rate;

use std::ffi::OsStr;

pub use heap::{
    HeapSetting, MMAP_THRESHOLD, TRIM_THRESHOLD, give_back_freed_heap, keep_freed_heap,
};
pub use peak::{FmaKernel, FmaPeak, fma_kernels, fma_peak_gflops, fma_peaks};
pub use rate::{MatmulRate, matmul_gflops, matmul_rate};

/// The CPU features that decide MKL's fp32 matrix-product path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    pub avx512f: bool,
    pub avx512dq: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx2: bool,
    pub fma: bool,
}

impl CpuFeatures {
    /// The features of the CPU this process runs on (none on other architectures).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            Self {
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
                avx512dq: std::arch::is_x86_feature_detected!("avx512dq"),
                avx512bw: std::arch::is_x86_feature_detected!("avx512bw"),
                avx512vl: std::arch::is_x86_feature_detected!("avx512vl"),
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                fma: std::arch::is_x86_feature_detected!("fma"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self::default()
        }
    }

    /// AVX-512 F, DQ, BW and VL: what MKL's AVX-512 branch needs.
    pub fn avx512(&self) -> bool {
        self.avx512f && self.avx512dq && self.avx512bw && self.avx512vl
    }

    /// 256-bit FMA: what MKL's AVX2 branch needs.
    pub fn avx2_fma(&self) -> bool {
        self.avx2 && self.fma
    }
}

/// The switch of the fast path, read from [`Switch::VAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// MKL's AVX-512 kernels wherever the CPU has AVX-512 (the default).
    Auto,
    /// MKL's own vendor check, as libtorch ships it.
    Off,
}

impl Switch {
    /// The environment variable that holds the switch.
    pub const VAR: &'static str = "HNN_MKL_AVX512";

    /// Reads a value of [`Switch::VAR`]: unset, `auto` or `on` is [`Switch::Auto`]; `off` is
    /// [`Switch::Off`]; anything else is an error naming the variable and what it accepts.
    pub fn parse(value: Option<&OsStr>) -> Result<Self, String> {
        match value.map(|v| v.to_str()) {
            None => Ok(Self::Auto),
            Some(Some("auto" | "on")) => Ok(Self::Auto),
            Some(Some("off")) => Ok(Self::Off),
            Some(other) => Err(format!(
                "environment variable {}={}: expected \"auto\" (the default: MKL's AVX-512 kernels where the CPU has AVX-512) or \"off\" (MKL's own vendor check)",
                Self::VAR,
                other.map_or_else(|| "<not UTF-8>".to_string(), |s| format!("{s:?}"))
            )),
        }
    }

    /// The switch of this process. A value [`Switch::parse`] refuses reads as [`Switch::Off`]
    /// here (the hook cannot fail); `hnn-bench` refuses to start with it.
    pub fn from_env() -> Self {
        Self::parse(std::env::var_os(Self::VAR).as_deref()).unwrap_or(Self::Off)
    }
}

/// What the hook answers when MKL asks whether the CPU is Intel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorAnswer {
    /// "Intel": MKL picks its branch from the CPU's feature bits.
    Intel,
    /// MKL's own answer (the definition in `libtorch_cpu.so`).
    MklsOwn,
}

/// The hook's answer on a CPU with `features` under `switch`: "Intel" only where the CPU has
/// AVX-512 (F, DQ, BW, VL) and the switch is on, so MKL is never steered to instructions the
/// CPU lacks.
pub fn vendor_answer(features: CpuFeatures, switch: Switch) -> VendorAnswer {
    if switch == Switch::Auto && features.avx512() {
        VendorAnswer::Intel
    } else {
        VendorAnswer::MklsOwn
    }
}

/// The matrix-product path MKL took in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulPath {
    /// MKL's automatic code branch (`mkl_cbwr_get_auto_branch`); `None` where this libtorch has
    /// no MKL.
    pub branch: Option<i32>,
    /// The hook's answer, `None` if MKL never asked it (no MKL, or the symbol is not exported
    /// from this binary).
    pub answer: Option<VendorAnswer>,
    pub features: CpuFeatures,
}

impl MatmulPath {
    /// Asks MKL for its automatic branch (its first call, if none came before, is where it asks
    /// the vendor question) and records the hook's answer.
    pub fn current() -> Self {
        let branch = hook::mkl_auto_branch();
        Self {
            branch,
            answer: hook::answered(),
            features: CpuFeatures::detect(),
        }
    }

    /// A short, stable name of the path, recorded in each run's resolved config:
    /// `mkl-avx512-e1`, `mkl-avx2`, `mkl-nonintel-avx2` (MKL's dispatch for other vendors, which
    /// names no branch), ..., or `no-mkl`.
    pub fn name(&self) -> String {
        let Some(branch) = self.branch else {
            return "no-mkl".into();
        };
        match branch_name(branch) {
            Some("auto") if self.features.avx2_fma() => "mkl-nonintel-avx2".into(),
            Some("auto") => "mkl-nonintel".into(),
            Some(name) => format!("mkl-{name}"),
            None => format!("mkl-branch-{branch}"),
        }
    }

    /// Whether MKL runs its AVX-512 kernels.
    pub fn is_avx512(&self) -> bool {
        self.name().starts_with("mkl-avx512")
    }

    /// One line for a log: the path, why, and how to change it.
    pub fn describe(&self) -> String {
        let why = match (self.answer, self.branch) {
            (_, None) => "this libtorch has no MKL".to_string(),
            (None, Some(_)) => format!(
                "MKL's vendor check did not reach hnn's hook (the binary does not export mkl_serv_intel_cpu_true; {} has no effect)",
                Switch::VAR
            ),
            (Some(VendorAnswer::Intel), Some(_)) => format!(
                "the CPU has AVX-512 F/DQ/BW/VL and hnn answered MKL's vendor check; {}=off to leave MKL's own check",
                Switch::VAR
            ),
            (Some(VendorAnswer::MklsOwn), Some(_)) if self.features.avx512() => format!(
                "MKL's own vendor check ({}=off or an Intel CPU)",
                Switch::VAR
            ),
            (Some(VendorAnswer::MklsOwn), Some(_)) => {
                "MKL's own vendor check (the CPU has no AVX-512 F/DQ/BW/VL)".into()
            }
        };
        format!("{} ({why})", self.name())
    }
}

/// MKL's names of its code branches (`mkl_cbwr.h`).
fn branch_name(branch: i32) -> Option<&'static str> {
    Some(match branch {
        2 => "auto",
        3 => "compatible",
        4 => "sse2",
        6 => "ssse3",
        7 => "sse4_1",
        8 => "sse4_2",
        9 => "avx",
        10 => "avx2",
        11 => "avx512-mic",
        12 => "avx512",
        13 => "avx512-mic-e1",
        14 => "avx512-e1",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(avx512: [bool; 4], avx2_fma: bool) -> CpuFeatures {
        CpuFeatures {
            avx512f: avx512[0],
            avx512dq: avx512[1],
            avx512bw: avx512[2],
            avx512vl: avx512[3],
            avx2: avx2_fma,
            fma: avx2_fma,
        }
    }

    #[test]
    fn intel_is_answered_only_with_all_four_avx512_subsets_and_the_switch_on() {
        let full = features([true; 4], true);
        assert_eq!(vendor_answer(full, Switch::Auto), VendorAnswer::Intel);
        assert_eq!(vendor_answer(full, Switch::Off), VendorAnswer::MklsOwn);
        // Each missing subset (an AVX-512F-only Knights Landing lacks DQ/BW/VL), and none at all
        // (Zen 2/3, Haswell): MKL's own answer, never the AVX-512 branch.
        for missing in 0..4 {
            let mut bits = [true; 4];
            bits[missing] = false;
            let f = features(bits, true);
            assert!(!f.avx512());
            assert_eq!(vendor_answer(f, Switch::Auto), VendorAnswer::MklsOwn);
        }
        let avx2_only = features([false; 4], true);
        assert_eq!(
            vendor_answer(avx2_only, Switch::Auto),
            VendorAnswer::MklsOwn
        );
        let nothing = CpuFeatures::default();
        assert_eq!(vendor_answer(nothing, Switch::Auto), VendorAnswer::MklsOwn);
    }

    #[test]
    fn the_switch_reads_auto_on_and_off_and_names_a_bad_value() {
        assert_eq!(Switch::parse(None), Ok(Switch::Auto));
        assert_eq!(Switch::parse(Some(OsStr::new("auto"))), Ok(Switch::Auto));
        assert_eq!(Switch::parse(Some(OsStr::new("on"))), Ok(Switch::Auto));
        assert_eq!(Switch::parse(Some(OsStr::new("off"))), Ok(Switch::Off));
        let e = Switch::parse(Some(OsStr::new("no"))).unwrap_err();
        assert!(
            e.contains("HNN_MKL_AVX512=\"no\"") && e.contains("\"off\""),
            "{e}"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_reads_the_cpus_feature_bits() {
        let f = CpuFeatures::detect();
        assert_eq!(f.avx2, std::arch::is_x86_feature_detected!("avx2"));
        assert_eq!(f.fma, std::arch::is_x86_feature_detected!("fma"));
        assert_eq!(f.avx512f, std::arch::is_x86_feature_detected!("avx512f"));
        assert_eq!(f.avx512vl, std::arch::is_x86_feature_detected!("avx512vl"));
    }

    #[test]
    fn avx2_without_fma_is_not_the_avx2_branch() {
        let mut f = features([false; 4], true);
        assert!(f.avx2_fma());
        f.fma = false;
        assert!(!f.avx2_fma());
        f = features([false; 4], true);
        f.avx2 = false;
        assert!(!f.avx2_fma());
    }

    #[test]
    fn every_mkl_branch_has_its_name() {
        let avx2 = features([false; 4], true);
        let names: Vec<String> = [3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]
            .into_iter()
            .map(|b| {
                MatmulPath {
                    branch: Some(b),
                    answer: None,
                    features: avx2,
                }
                .name()
            })
            .collect();
        let want = [
            "mkl-compatible",
            "mkl-sse2",
            "mkl-ssse3",
            "mkl-sse4_1",
            "mkl-sse4_2",
            "mkl-avx",
            "mkl-avx2",
            "mkl-avx512-mic",
            "mkl-avx512",
            "mkl-avx512-mic-e1",
            "mkl-avx512-e1",
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn the_log_line_says_why_the_path_was_taken() {
        let (full, avx2) = (features([true; 4], true), features([false; 4], true));
        let describe = |branch, answer, features| {
            MatmulPath {
                branch,
                answer,
                features,
            }
            .describe()
        };
        let intel = describe(Some(14), Some(VendorAnswer::Intel), full);
        assert!(
            intel.starts_with("mkl-avx512-e1 (") && intel.contains("hnn answered"),
            "{intel}"
        );
        let off = describe(Some(2), Some(VendorAnswer::MklsOwn), full);
        assert!(
            off.starts_with("mkl-nonintel-avx2 (") && off.contains("=off or an Intel CPU"),
            "{off}"
        );
        let plain = describe(Some(2), Some(VendorAnswer::MklsOwn), avx2);
        assert!(plain.contains("the CPU has no AVX-512"), "{plain}");
        let unreached = describe(Some(2), None, full);
        assert!(
            unreached.contains("did not reach hnn's hook"),
            "{unreached}"
        );
        assert!(describe(None, None, full).starts_with("no-mkl (this libtorch has no MKL)"));
    }

    #[test]
    fn paths_are_named_from_mkls_branch() {
        let avx2 = features([false; 4], true);
        let path = |branch, f| MatmulPath {
            branch,
            answer: Some(VendorAnswer::MklsOwn),
            features: f,
        };
        assert_eq!(path(Some(14), avx2).name(), "mkl-avx512-e1");
        assert!(path(Some(14), avx2).is_avx512());
        assert_eq!(path(Some(10), avx2).name(), "mkl-avx2");
        assert!(!path(Some(10), avx2).is_avx512());
        assert_eq!(path(Some(2), avx2).name(), "mkl-nonintel-avx2");
        assert_eq!(path(Some(2), CpuFeatures::default()).name(), "mkl-nonintel");
        assert_eq!(path(Some(99), avx2).name(), "mkl-branch-99");
        assert_eq!(path(None, avx2).name(), "no-mkl");
    }
}
