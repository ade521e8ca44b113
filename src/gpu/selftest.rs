//! The self-test a backend runs before it first uses a GPU: every kernel on a small known
//! batch, on the device and on the CPU reference executor (which the unit tests prove
//! equal to the Rust scoring paths), compared value by value.
//!
//! What "equal" means: the kernels sum in the Rust code's order and are compiled without
//! contracted multiply-adds on both sides, so sums, segments and top-k lists come out
//! identical; only exp/log/log1p may differ in the last bits between the device's and the
//! host's math library. Scores must agree within `TOLERANCE` relative, segments and
//! list items exactly. The batches include missing and infinite values, values equal to
//! tree thresholds, tied centres and excluded items, and are scored in several chunks so
//! both of the scorer's streams run.

use serde::Serialize;

use crate::classify::tree::{Node, Tree};
use crate::rng::SplitMix64;

use super::executor::{score_rows, Executor, ReferenceExecutor};
use super::kernels::{Link, MemberKind};
use super::layout::{AlsBatch, Batch, FlatTrees, ItemLists, KernelModel, Order, Segments};

/// Relative difference allowed between device and CPU scores (last-bit differences of
/// exp/log are ~1e-16; a wrong kernel is off by far more).
pub const TOLERANCE: f64 = 1e-9;

/// One kernel's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelCheck {
    pub kernel: &'static str,
    pub passed: bool,
    /// Values compared.
    pub compared: usize,
    /// Largest relative difference of a score (0 when all are identical).
    pub max_relative_difference: f64,
    /// The first difference beyond the tolerance, or the launch error.
    pub detail: Option<String>,
}

/// Every kernel's comparison on one executor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfTest {
    pub executor: String,
    pub passed: bool,
    pub kernels: Vec<KernelCheck>,
}

impl SelfTest {
    pub fn first_failure(&self) -> Option<&KernelCheck> {
        self.kernels.iter().find(|k| !k.passed)
    }

    /// "kernel crm_tree_score: row 3: device 0.61, CPU 0.60 (relative difference 1e-3)".
    pub fn failure_summary(&self) -> Option<String> {
        self.first_failure().map(|k| format!("kernel {}: {}", k.kernel, k.detail.as_deref().unwrap_or("differs from the CPU path")))
    }
}

fn relative_difference(device: f64, cpu: f64) -> f64 {
    if device == cpu || (device.is_nan() && cpu.is_nan()) {
        0.0
    } else if device.is_finite() && cpu.is_finite() {
        (device - cpu).abs() / device.abs().max(cpu.abs())
    } else {
        f64::INFINITY
    }
}

/// Compares scores; the first row beyond `TOLERANCE` is the detail.
fn compare_scores(kernel: &'static str, device: crate::error::Result<Vec<f64>>, cpu: &[f64]) -> KernelCheck {
    let mut check = KernelCheck { kernel, passed: false, compared: cpu.len(), max_relative_difference: 0.0, detail: None };
    let device = match device {
        Ok(d) => d,
        Err(e) => {
            check.detail = Some(format!("the launch failed: {}", e.message()));
            return check;
        }
    };
    if device.len() != cpu.len() {
        check.detail = Some(format!("{} scores from the device for {} rows", device.len(), cpu.len()));
        return check;
    }
    for (i, (&d, &c)) in device.iter().zip(cpu).enumerate() {
        let difference = relative_difference(d, c);
        check.max_relative_difference = check.max_relative_difference.max(difference);
        if difference > TOLERANCE && check.detail.is_none() {
            check.detail = Some(format!("row {i}: device {d:e}, CPU {c:e} (relative difference {difference:.1e})"));
        }
    }
    check.passed = check.detail.is_none();
    check
}

/// One of -2.0, -1.75, ..., 2.0: values that often equal a tree threshold.
pub(crate) fn grid_value(rng: &mut SplitMix64) -> f64 {
    rng.below_modulo(17) as f64 * 0.25 - 2.0
}

/// Rows of `width` values: mostly from a coarse grid (so values equal tree thresholds
/// often), some uniform, NaN and infinities now and then.
pub(crate) fn random_rows(rng: &mut SplitMix64, rows: usize, width: usize) -> Vec<f64> {
    (0..rows * width)
        .map(|_| match rng.below_modulo(100) {
            0..=3 => f64::NAN,
            4 => f64::INFINITY,
            5 => f64::NEG_INFINITY,
            6..=60 => grid_value(rng),
            _ => rng.next_f64() * 6.0 - 3.0,
        })
        .collect()
}

/// A valid random tree (children after their parent), splits on grid values.
pub(crate) fn random_tree(rng: &mut SplitMix64, width: usize, max_nodes: usize) -> Tree {
    let leaf = |value: f64| Node { feature: 0, threshold: 0.0, left: 0, right: 0, value };
    let mut nodes = vec![leaf(rng.next_f64() - 0.5)];
    let mut next = 0;
    while next < nodes.len() {
        if nodes.len() + 2 <= max_nodes && rng.below_modulo(3) > 0 {
            let l = nodes.len() as u32;
            nodes[next] = Node { feature: rng.below_modulo(width) as u32, threshold: grid_value(rng), left: l, right: l + 1, value: rng.next_f64() - 0.5 };
            nodes.push(leaf(rng.next_f64() - 0.5));
            nodes.push(leaf(rng.next_f64() - 0.5));
        }
        next += 1;
    }
    Tree { nodes }
}

/// Rows per chunk in the self-test: small, so the batches run as several chunks.
const CHUNK_ROWS: usize = 97;

fn linear_check(device: &dyn Executor, cpu: &ReferenceExecutor, rng: &mut SplitMix64) -> KernelCheck {
    let (rows, width) = (400, 7);
    // No missing values: a linear score of a NaN is NaN on both sides, which checks little.
    let x: Vec<f64> = (0..rows * width).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
    let model = KernelModel::Linear { weights: (0..width).map(|_| rng.next_f64() - 0.5).collect(), intercept: 0.25 };
    let mut merged = KernelCheck { kernel: "crm_linear_score", passed: true, compared: 0, max_relative_difference: 0.0, detail: None };
    for link in [Link::Identity, Link::Sigmoid, Link::Exp] {
        let want = match score_rows(cpu, &model, link, &x, width, rows) {
            Ok(w) => w,
            Err(e) => return failed("crm_linear_score", format!("the CPU reference failed: {}", e.message())),
        };
        let got = compare_scores("crm_linear_score", score_rows(device, &model, link, &x, width, CHUNK_ROWS), &want);
        merged.compared += got.compared;
        merged.max_relative_difference = merged.max_relative_difference.max(got.max_relative_difference);
        if !got.passed && merged.passed {
            merged.passed = false;
            merged.detail = got.detail.map(|d| format!("{link:?} link: {d}"));
        }
    }
    merged
}

fn failed(kernel: &'static str, detail: String) -> KernelCheck {
    KernelCheck { kernel, passed: false, compared: 0, max_relative_difference: f64::NAN, detail: Some(detail) }
}

fn tree_check(device: &dyn Executor, cpu: &ReferenceExecutor, rng: &mut SplitMix64) -> KernelCheck {
    let (rows, width) = (500, 6);
    let x = random_rows(rng, rows, width);
    let mut flat = FlatTrees::new(width);
    let boosted: Vec<Tree> = (0..25).map(|_| random_tree(rng, width, 31)).collect();
    // A forest member's leaves are probabilities.
    let mut forest: Vec<Tree> = (0..7).map(|_| random_tree(rng, width, 15)).collect();
    forest.iter_mut().flat_map(|t| t.nodes.iter_mut()).for_each(|n| n.value += 0.5);
    let built = flat.push_member(MemberKind::Sum, 0.3, &boosted).and_then(|_| flat.push_member(MemberKind::MeanLogit, 0.0, &forest));
    if let Err(e) = built {
        return failed("crm_tree_score", format!("the test model is not valid: {}", e.message()));
    }
    let model = KernelModel::Trees(flat);
    match score_rows(cpu, &model, Link::Sigmoid, &x, width, rows) {
        Ok(want) => compare_scores("crm_tree_score", score_rows(device, &model, Link::Sigmoid, &x, width, CHUNK_ROWS), &want),
        Err(e) => failed("crm_tree_score", format!("the CPU reference failed: {}", e.message())),
    }
}

fn segment_check(device: &dyn Executor, cpu: &ReferenceExecutor, rng: &mut SplitMix64) -> KernelCheck {
    let kernel = "crm_segment_standardise + crm_kmeans_assign";
    let (rows, d, k) = (400, 4, 5);
    let mut centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
    // A duplicated centre: the lower index must win its ties on both sides.
    centroids.copy_within(0..d, 3 * d);
    let segments = Segments {
        log1p: (0..d as i32).map(|j| j % 2).collect(),
        mean: (0..d).map(|_| rng.next_f64()).collect(),
        std: (0..d).map(|_| 0.5 + rng.next_f64()).collect(),
        centroids,
        k,
    };
    let raw: Vec<f64> = (0..rows * d)
        .map(|_| match rng.below_modulo(50) {
            0..=2 => f64::NAN,
            3 => -1.0,
            _ => rng.next_f64() * 8.0,
        })
        .collect();
    let batch = match Batch::new(&raw, rows, d, Order::RowMajor) {
        Ok(b) => b,
        Err(e) => return failed(kernel, e.message().to_string()),
    };
    let want = match cpu.assign_segments(&batch, &segments) {
        Ok(w) => w,
        Err(e) => return failed(kernel, format!("the CPU reference failed: {}", e.message())),
    };
    let got = match device.assign_segments(&batch, &segments) {
        Ok(g) => g,
        Err(e) => return failed(kernel, format!("the launch failed: {}", e.message())),
    };
    let mut check = KernelCheck { kernel, passed: false, compared: rows, max_relative_difference: 0.0, detail: None };
    if got.len() != want.len() {
        check.detail = Some(format!("{} assignments from the device for {rows} rows", got.len()));
        return check;
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let mismatch = match (g, w) {
            (None, None) => None,
            (Some((s, a)), Some((t, b))) if s == t => {
                let difference = relative_difference(*a, *b);
                check.max_relative_difference = check.max_relative_difference.max(difference);
                (difference > TOLERANCE).then(|| format!("row {i}: distance {a:e} on the device, {b:e} on the CPU"))
            }
            _ => Some(format!("row {i}: segment {:?} on the device, {:?} on the CPU", g.map(|a| a.0), w.map(|a| a.0))),
        };
        if mismatch.is_some() && check.detail.is_none() {
            check.detail = mismatch;
        }
    }
    check.passed = check.detail.is_none();
    check
}

fn als_check(device: &dyn Executor, cpu: &ReferenceExecutor, rng: &mut SplitMix64) -> KernelCheck {
    let kernel = "crm_als_top_k";
    let (users, items, f, k) = (60, 50, 8, 6);
    let mut seen = ItemLists::new();
    for u in 0..users {
        let list: Vec<u32> = (0..u % 5).map(|_| rng.below_modulo(items) as u32).collect();
        if let Err(e) = seen.push(&list) {
            return failed(kernel, e.message().to_string());
        }
    }
    let mut item_factors: Vec<f32> = (0..items * f).map(|_| rng.next_f32() - 0.5).collect();
    // Two identical items: an exact tie, which goes to the lower item on both sides.
    item_factors.copy_within(0..f, 7 * f);
    let batch = AlsBatch {
        factors: f,
        user_factors: (0..users * f).map(|_| rng.next_f32() - 0.5).collect(),
        item_factors: std::borrow::Cow::Owned(item_factors),
        item_eligible: (0..items).map(|j| (j % 11 != 3) as u8).collect(),
        seen,
        k,
        slots: (0..users).map(Some).collect(),
    };
    let want = match cpu.als_top_k(&batch) {
        Ok(w) => w,
        Err(e) => return failed(kernel, format!("the CPU reference failed: {}", e.message())),
    };
    let got = match device.als_top_k(&batch) {
        Ok(g) => g,
        Err(e) => return failed(kernel, format!("the launch failed: {}", e.message())),
    };
    let mut check = KernelCheck { kernel, passed: false, compared: users, max_relative_difference: 0.0, detail: None };
    for b in 0..users {
        let (g, w) = (got.list(b), want.list(b));
        let same_items = g.len() == w.len() && g.iter().zip(&w).all(|(a, b)| a.0 == b.0);
        for (a, c) in g.iter().zip(&w) {
            check.max_relative_difference = check.max_relative_difference.max(relative_difference(f64::from(a.1), f64::from(c.1)));
        }
        if !same_items && check.detail.is_none() {
            check.detail = Some(format!(
                "customer row {b}: items {:?} on the device, {:?} on the CPU",
                g.iter().map(|a| a.0).collect::<Vec<_>>(),
                w.iter().map(|a| a.0).collect::<Vec<_>>()
            ));
        }
    }
    if check.detail.is_none() && check.max_relative_difference > TOLERANCE {
        check.detail = Some(format!("scores differ by up to {:.1e} relative", check.max_relative_difference));
    }
    check.passed = check.detail.is_none();
    check
}

/// Runs every kernel on `device` and on the CPU reference executor and compares them.
pub fn run(device: &dyn Executor) -> SelfTest {
    let cpu = ReferenceExecutor::default();
    // Fixed seed: the same known batch in every backend.
    let mut rng = SplitMix64::new(0x5e1f_7e57);
    let kernels = vec![
        linear_check(device, &cpu, &mut rng),
        tree_check(device, &cpu, &mut rng),
        segment_check(device, &cpu, &mut rng),
        als_check(device, &cpu, &mut rng),
    ];
    SelfTest { executor: device.describe(), passed: kernels.iter().all(|k| k.passed), kernels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::executor::FaultyExecutor;

    #[test]
    fn the_reference_executor_passes_on_grids_unlike_its_own() {
        // The device side on other launch shapes than the reference: still identical.
        for device in [ReferenceExecutor { threads: 1, max_blocks: 1 }, ReferenceExecutor { threads: 32, max_blocks: 3 }, ReferenceExecutor::default()] {
            let result = run(&device);
            assert!(result.passed, "{result:?}");
            assert_eq!(result.kernels.len(), 4);
            assert!(result.kernels.iter().all(|k| k.compared > 0 && k.max_relative_difference == 0.0), "{result:?}");
        }
    }

    #[test]
    fn a_wrong_kernel_fails_and_is_named_with_the_difference() {
        let result = run(&FaultyExecutor::default());
        assert!(!result.passed);
        let failure = result.first_failure().unwrap();
        assert_eq!(failure.kernel, "crm_tree_score");
        assert!((failure.max_relative_difference - 1e-3).abs() < 1e-4, "{failure:?}");
        let summary = result.failure_summary().unwrap();
        assert!(summary.starts_with("kernel crm_tree_score: row "), "{summary}");
        assert!(summary.contains("relative difference 1.0e-3"), "{summary}");
        // the other kernels still pass
        assert_eq!(result.kernels.iter().filter(|k| k.passed).count(), 3);
    }
}
