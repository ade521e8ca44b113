//! The kernel source (`kernels.cu`), its entry points and how NVRTC compiles it.
//!
//! One source serves both executors: NVRTC compiles this text for the GPU, and build.rs
//! compiles the same file with the host C compiler into the CPU reference executor
//! (`cpu_executor`). Constants the kernels take as arguments are mirrored here; a test
//! reads them back out of the source, so the two cannot drift apart.

/// The CUDA C source of every kernel.
pub const SOURCE: &str = include_str!("kernels.cu");

/// File name NVRTC reports in its messages.
pub const SOURCE_NAME: &str = "pg_crm_kernels.cu";

/// Every `extern "C" __global__` entry point of `SOURCE`.
pub const ENTRY_POINTS: [&str; 5] = ["crm_linear_score", "crm_tree_score", "crm_segment_standardise", "crm_kmeans_assign", "crm_als_top_k"];

/// Virtual architectures the kernels are compiled for (PTX, which the driver finishes for
/// the device at load time): Ampere (A100) and Hopper (H100/H200). Newer devices run the
/// compute_90 PTX.
pub const ARCHITECTURES: [&str; 2] = ["compute_80", "compute_90"];

/// How a score leaves the kernel (`CRM_LINK_*` in the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Link {
    /// The raw value: log-odds of a classifier, a regression's link-scale prediction.
    Identity = 0,
    /// `classify::logistic::sigmoid`: a classifier's probability.
    Sigmoid = 1,
    /// `exp`: the log link of Poisson and Tweedie boosting.
    Exp = 2,
}

/// How a tree-ensemble member combines its trees (`CRM_MEMBER_*` in the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum MemberKind {
    /// base + Σ leaf values: gradient boosting.
    Sum = 0,
    /// Mean of the leaf values: a forest's probability or regression prediction.
    Mean = 1,
    /// logit of the mean clipped to [1e-6, 1 − 1e-6]: a forest classifier's log-odds.
    MeanLogit = 2,
}

/// NVRTC options for `arch`. `--fmad=false`: the Rust scoring code rounds every multiply
/// and add, and contracted multiply-adds would round differently (a k-means near-tie could
/// then pick another centre); the kernels are memory-bound, so this costs little.
/// Precise division and square root and no flush-to-zero, as on the CPU (also NVRTC's
/// defaults, spelled out so a changed default cannot change results).
pub fn nvrtc_options(arch: &'static str) -> cudarc::nvrtc::CompileOptions {
    cudarc::nvrtc::CompileOptions {
        ftz: Some(false),
        prec_sqrt: Some(true),
        prec_div: Some(true),
        fmad: Some(false),
        use_fast_math: Some(false),
        arch: Some(arch),
        name: Some(SOURCE_NAME.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `#define NAME value` in the source.
    fn defined(name: &str) -> Option<i32> {
        SOURCE.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name)).then(|| words.next().and_then(|v| v.parse().ok())).flatten()
        })
    }

    #[test]
    fn constants_match_the_kernel_source() {
        for (name, value) in [("CRM_LINK_IDENTITY", Link::Identity as i32), ("CRM_LINK_SIGMOID", Link::Sigmoid as i32), ("CRM_LINK_EXP", Link::Exp as i32)] {
            assert_eq!(defined(name), Some(value), "{name}");
        }
        for (name, value) in [("CRM_MEMBER_SUM", MemberKind::Sum), ("CRM_MEMBER_MEAN", MemberKind::Mean), ("CRM_MEMBER_MEAN_LOGIT", MemberKind::MeanLogit)] {
            assert_eq!(defined(name), Some(value as i32), "{name}");
        }
        assert!(SOURCE.contains(&format!("#define CRM_FOREST_P_MIN {:e}", crate::classify::forest::P_MIN)), "P_MIN differs from the source's");
        for entry in ENTRY_POINTS {
            assert!(SOURCE.contains(&format!("CRM_EXTERN_C __global__ void {entry}(")), "{entry} is not a kernel of the source");
        }
        assert_eq!(SOURCE.matches("CRM_EXTERN_C __global__ void").count(), ENTRY_POINTS.len(), "a kernel is missing from ENTRY_POINTS");
    }
}
