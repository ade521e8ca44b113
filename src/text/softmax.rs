//! Multinomial logistic regression (softmax) on sparse rows, with scikit-learn's
//! objective for `LogisticRegression(C)`: `Σᵢ sᵢ·(−log pᵢ,yᵢ) + ‖W‖² / (2C)` (intercepts
//! not penalised, `sᵢ` the weight of row i's class). We minimise it divided by `Σᵢ sᵢ`,
//! which has the same minimum and keeps the gradient tolerance independent of the row
//! count, as scikit-learn does.
//!
//! Solver: a hand-written L-BFGS with a backtracking (Armijo) line search. argmin's
//! L-BFGS asks for the cost and the gradient separately (two passes over the rows where
//! one does) and keeps a history whose size we could not bound: here the history shrinks
//! when the model is wide, so memory stays bounded (`HISTORY_BYTES`). The objective is
//! strictly convex (L2), so every step has positive curvature and Armijo steps suffice.
//!
//! The passes over the rows run on the pool's threads, cut into fixed tasks whose partial
//! sums are added in task order: the fit is the same whatever the number of threads.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::vectorize::SparseMatrix;
use crate::error::{CrmError, Result};
use crate::pool::{self, Cancelled};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SoftmaxOptions {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    pub c: f64,
    pub max_iter: usize,
    /// Stop when no gradient entry (of the objective divided by the total row weight)
    /// exceeds this, as scikit-learn's `tol`. Tighter tolerances moved no airline-tweet
    /// metric by more than 0.003 and cost up to 50% more iterations.
    pub tol: f64,
}

impl Default for SoftmaxOptions {
    fn default() -> Self {
        SoftmaxOptions { c: 1.0, max_iter: 300, tol: 1e-4 }
    }
}

/// L-BFGS keeps at most this many bytes of history (pairs of parameter-sized f64 vectors),
/// but never fewer than `MIN_HISTORY` pairs.
const HISTORY_BYTES: usize = 128 << 20;
const MAX_HISTORY: usize = 10;
const MIN_HISTORY: usize = 3;
/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;
const MAX_LINE_SEARCH: usize = 40;
/// Stop when an iteration improves the objective by less than this, relatively
/// (scikit-learn passes 64·ε to L-BFGS-B).
const FTOL: f64 = 64.0 * f64::EPSILON;

/// L-BFGS pairs kept for `p` parameters.
fn history_pairs(p: usize) -> usize {
    (HISTORY_BYTES / (16 * p.max(1))).clamp(MIN_HISTORY, MAX_HISTORY)
}

/// Bytes a fit holds besides its rows, for `n_features` × `n_classes` weights: five f64
/// vectors (parameters, gradient, direction, trial point and its gradient), the f64
/// history, and the stored f32 weights.
pub fn fit_bytes(n_features: usize, n_classes: usize) -> u64 {
    let p = n_features.saturating_mul(n_classes).saturating_add(n_classes) as u64;
    p.saturating_mul(5 * 8 + 16 * history_pairs(p as usize) as u64 + 4)
}

/// A model to start from, what its fit learned of the loss's curvature (if kept), and for
/// each feature of the new rows, its feature in that model (None for a new one).
pub type WarmStart<'a> = (&'a Softmax, Option<&'a SolverMemory>, &'a dyn Fn(u32) -> Option<u32>);

/// What a fit leaves for a later fit of a close problem (the same texts and a few more):
/// its L-BFGS pairs, the curvature it learned. A later fit that starts from them takes
/// quasi-Newton steps from its first iteration instead of relearning the curvature from
/// steepest descent (sentiment's refit on every row after its holdout fit: 51 → 42
/// iterations). They only shape the steps: the optimum is the new loss's own.
pub struct SolverMemory {
    history: History,
    n_classes: usize,
}

impl SolverMemory {
    /// Bytes it holds.
    pub fn bytes(&self) -> u64 {
        (self.history.order.len() * 2 * self.history.p * 8) as u64
    }
}

/// A fitted model: one weight per (feature, class) and one intercept per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    n_classes: usize,
    n_features: usize,
    /// Feature-major: feature j's weights are `weights[j·k .. (j+1)·k]`, so a row's
    /// scores read contiguous memory. f32 halves the stored model; the fit runs in f64.
    weights: Vec<f32>,
    intercepts: Vec<f64>,
    /// L-BFGS iterations the fit took.
    pub iterations: usize,
}

/// scikit-learn's `class_weight='balanced'`: n / (k · count_c), so every class weighs the
/// same in the loss. A class with no row gets 0.
pub fn balanced_class_weights(y: &[u32], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_classes];
    for &c in y {
        counts[c as usize] += 1;
    }
    counts.iter().map(|&count| if count == 0 { 0.0 } else { y.len() as f64 / (n_classes as f64 * count as f64) }).collect()
}

/// Rows per task of the pass over the rows, and features per task of the gradient pass.
const ROWS_PER_TASK: usize = 1024;
const FEATURES_PER_TASK: usize = 4096;

/// The loss over the rows and its gradient, for parameters `[W (d×k, feature-major), b (k)]`.
struct Problem<'a> {
    x: &'a SparseMatrix,
    /// `x` by columns (row indices and values of each feature), so each feature's gradient
    /// is gathered on its own: threads write disjoint parts and sum in a fixed order.
    columns: Columns,
    y: &'a [u32],
    k: usize,
    row_weights: Vec<f64>,
    total_weight: f64,
    c: f64,
}

/// Compressed sparse columns.
struct Columns {
    start: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<f32>,
}

impl Columns {
    fn of(x: &SparseMatrix) -> Columns {
        let mut start = vec![0usize; x.n_cols + 1];
        for &j in &x.indices {
            start[j as usize + 1] += 1;
        }
        for j in 0..x.n_cols {
            start[j + 1] += start[j];
        }
        let mut next = start.clone();
        let mut rows = vec![0u32; x.indices.len()];
        let mut values = vec![0f32; x.indices.len()];
        for i in 0..x.n_rows() {
            let (indices, vals) = x.row(i);
            for (&j, &v) in indices.iter().zip(vals) {
                let at = &mut next[j as usize];
                rows[*at] = i as u32;
                values[*at] = v;
                *at += 1;
            }
        }
        Columns { start, rows, values }
    }
}

impl Problem<'_> {
    /// The objective at `theta`; its gradient is written to `grad`. Both passes run on the
    /// pool's threads.
    fn evaluate(&self, theta: &[f64], grad: &mut [f64], should_stop: &dyn Fn() -> bool) -> std::result::Result<f64, Cancelled> {
        // The passes are nearly all of a fit's time, and their inner loops run over the k
        // classes: with k a constant the compiler unrolls them and drops the bounds checks
        // (sentiment, k = 3: about twice as fast). The same operations in the same order,
        // so the result is the same bit for bit.
        match self.k {
            2 => self.evaluate_k::<2>(theta, grad, should_stop),
            3 => self.evaluate_k::<3>(theta, grad, should_stop),
            4 => self.evaluate_k::<4>(theta, grad, should_stop),
            5 => self.evaluate_k::<5>(theta, grad, should_stop),
            6 => self.evaluate_k::<6>(theta, grad, should_stop),
            7 => self.evaluate_k::<7>(theta, grad, should_stop),
            8 => self.evaluate_k::<8>(theta, grad, should_stop),
            9 => self.evaluate_k::<9>(theta, grad, should_stop),
            10 => self.evaluate_k::<10>(theta, grad, should_stop),
            11 => self.evaluate_k::<11>(theta, grad, should_stop),
            12 => self.evaluate_k::<12>(theta, grad, should_stop),
            _ => self.evaluate_k::<0>(theta, grad, should_stop),
        }
    }

    /// `evaluate` for `K` classes; `K` = 0 reads the count from `self.k`.
    fn evaluate_k<const K: usize>(&self, theta: &[f64], grad: &mut [f64], should_stop: &dyn Fn() -> bool) -> std::result::Result<f64, Cancelled> {
        let k = if K > 0 { K } else { self.k };
        let d = self.x.n_cols;
        let (w, b) = theta.split_at(d * k);
        // Pass 1, by rows: the loss and the residuals s·(p − onehot(y)).
        let parts = pool::map_ranges(self.x.n_rows(), ROWS_PER_TASK, 0, should_stop, |range, _| {
            let mut residuals = vec![0.0f64; range.len() * k];
            let mut second = vec![0.0f64; k];
            let mut loss = 0.0;
            for (i, scores) in range.zip(residuals.chunks_exact_mut(k)) {
                let s = self.row_weights[i];
                if s == 0.0 {
                    continue;
                }
                let (indices, values) = self.x.row(i);
                scores.copy_from_slice(b);
                gather_add::<K>(scores, &mut second, indices, values, w);
                let yi = self.y[i] as usize;
                let lse = log_sum_exp(scores);
                loss += s * (lse - scores[yi]);
                for (c, z) in scores.iter_mut().enumerate() {
                    *z = s * ((*z - lse).exp() - if c == yi { 1.0 } else { 0.0 });
                }
            }
            (loss, residuals)
        })?;
        let loss: f64 = parts.iter().map(|p| p.0).sum();
        let residuals: Vec<f64> = parts.into_iter().flat_map(|p| p.1).collect();
        // Pass 2, by features: each feature's gradient gathered from its column.
        let scale = 1.0 / self.total_weight;
        let ridge = 1.0 / (self.c * self.total_weight);
        let slices = pool::map_ranges(d, FEATURES_PER_TASK, 0, should_stop, |range, _| {
            let mut g = vec![0.0f64; range.len() * k];
            let mut second = vec![0.0f64; k];
            let mut penalty = 0.0;
            for (j, gj) in range.zip(g.chunks_exact_mut(k)) {
                let col = self.columns.start[j]..self.columns.start[j + 1];
                gather_add::<K>(gj, &mut second, &self.columns.rows[col.clone()], &self.columns.values[col], &residuals);
                for (gc, wc) in gj.iter_mut().zip(&w[j * k..(j + 1) * k]) {
                    *gc = *gc * scale + ridge * wc;
                    penalty += wc * wc;
                }
            }
            (penalty, g)
        })?;
        let mut penalty = 0.0;
        let mut at = 0;
        for (p, g) in slices {
            penalty += p;
            grad[at..at + g.len()].copy_from_slice(&g);
            at += g.len();
        }
        let grad_b = &mut grad[d * k..];
        grad_b.fill(0.0);
        for r in residuals.chunks_exact(k) {
            for (gb, rc) in grad_b.iter_mut().zip(r) {
                *gb += rc;
            }
        }
        for gb in grad_b.iter_mut() {
            *gb *= scale;
        }
        Ok(loss * scale + 0.5 * ridge * penalty)
    }
}

/// `acc[c] += Σₑ values[e] · table[keys[e]·k + c]` for the k = `acc.len()` classes (`K`
/// when it is not 0), with `second` (k long) as scratch. Entries alternate between two
/// sums added at the end: one running sum per class is a chain of dependent additions
/// as long as the row or column, which bounds the passes' speed more than the loads do.
#[inline(always)]
fn gather_add<const K: usize>(acc: &mut [f64], second: &mut [f64], keys: &[u32], values: &[f32], table: &[f64]) {
    let k = if K > 0 { K } else { acc.len() };
    let (acc, second) = (&mut acc[..k], &mut second[..k]);
    second.fill(0.0);
    let (key_pairs, value_pairs) = (keys.chunks_exact(2), values.chunks_exact(2));
    let (key_tail, value_tail) = (key_pairs.remainder(), value_pairs.remainder());
    for (j, v) in key_pairs.zip(value_pairs) {
        let (v0, v1) = (f64::from(v[0]), f64::from(v[1]));
        let t0 = &table[j[0] as usize * k..][..k];
        let t1 = &table[j[1] as usize * k..][..k];
        for c in 0..k {
            acc[c] += v0 * t0[c];
            second[c] += v1 * t1[c];
        }
    }
    for (&j, &v) in key_tail.iter().zip(value_tail) {
        let v = f64::from(v);
        for (a, t) in acc.iter_mut().zip(&table[j as usize * k..][..k]) {
            *a += v * t;
        }
    }
    for (a, b) in acc.iter_mut().zip(second.iter()) {
        *a += b;
    }
}

fn log_sum_exp(z: &[f64]) -> f64 {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Lanes of the vector loops below: eight partial sums added in a fixed order at the end.
/// One running sum is a chain of dependent additions the compiler must keep in order (it
/// may not reassociate floating point); eight independent ones let it use SIMD, and
/// L-BFGS takes up to thirty such products over every parameter per iteration.
const LANES: usize = 8;

/// Σ a·b summed by lanes.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, xv), yv) in lanes.iter_mut().zip(x).zip(y) {
            *lane += xv * yv;
        }
    }
    let tail: f64 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f64>() + tail
}

impl Softmax {
    /// Fits the rows `x` to classes `y` (each below `n_classes`) with per-class weights
    /// (`balanced_class_weights`, or all 1). `should_stop` is asked at each iteration and
    /// between the tasks of each pass; when it answers true the fit ends with
    /// `CrmError::Canceled`.
    pub fn fit(
        x: &SparseMatrix,
        y: &[u32],
        n_classes: usize,
        class_weights: &[f64],
        options: &SoftmaxOptions,
        should_stop: &dyn Fn() -> bool,
    ) -> Result<Softmax> {
        Ok(Softmax::fit_from(x, y, n_classes, class_weights, options, None, should_stop)?.0)
    }

    /// As `fit`, starting from `start`'s weights rather than zero (and from its fit's
    /// curvature, when given): `start` maps each feature of `x` to a feature of the
    /// `start` model (or None). A model fitted on a subset of the rows is close to the
    /// optimum on all of them, so fewer iterations are needed; the optimum is the same (the
    /// objective is strictly convex). Also returns what this fit learned of the curvature.
    pub fn fit_from(
        x: &SparseMatrix,
        y: &[u32],
        n_classes: usize,
        class_weights: &[f64],
        options: &SoftmaxOptions,
        start: Option<WarmStart>,
        should_stop: &dyn Fn() -> bool,
    ) -> Result<(Softmax, SolverMemory)> {
        if y.len() != x.n_rows() {
            return Err(CrmError::InvalidArgument(format!("{} rows but {} labels", x.n_rows(), y.len())));
        }
        if n_classes < 2 || class_weights.len() != n_classes {
            return Err(CrmError::InvalidArgument("softmax regression needs at least two classes and one weight per class".into()));
        }
        if let Some(&bad) = y.iter().find(|&&c| c as usize >= n_classes) {
            return Err(CrmError::InvalidArgument(format!("class {bad} is not below {n_classes}")));
        }
        if !(options.c.is_finite() && options.c > 0.0) {
            return Err(CrmError::bad_argument("C", options.c, "a positive number"));
        }
        if class_weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(CrmError::InvalidArgument("class weights must be finite and non-negative".into()));
        }
        let row_weights: Vec<f64> = y.iter().map(|&c| class_weights[c as usize]).collect();
        let total_weight: f64 = row_weights.iter().sum();
        if total_weight <= 0.0 {
            return Err(CrmError::InvalidArgument("no row has a positive weight".into()));
        }
        let problem = Problem { x, columns: Columns::of(x), y, k: n_classes, row_weights, total_weight, c: options.c };
        let d = x.n_cols;
        let k = n_classes;
        let mut theta = vec![0.0; d * k + k];
        let mut carried = None;
        if let Some((model, memory, feature_of)) = start.filter(|(m, _, _)| m.n_classes == k) {
            let old_feature: Vec<Option<u32>> = (0..d as u32).map(|j| feature_of(j).filter(|&o| (o as usize) < model.n_features)).collect();
            for (j, old) in old_feature.iter().enumerate() {
                if let Some(old) = *old {
                    for c in 0..k {
                        theta[j * k + c] = model.weight(old, c);
                    }
                }
            }
            theta[d * k..].copy_from_slice(&model.intercepts);
            if let Some(memory) = memory.filter(|m| m.n_classes == k) {
                carried = Some(History::carried(&memory.history, theta.len(), history_pairs(theta.len()), k, &old_feature, should_stop)?);
            }
        }
        let (iterations, history) = lbfgs(&problem, &mut theta, options, carried, should_stop)?;
        let memory = SolverMemory { history, n_classes: k };
        let model =
            Softmax { n_classes, n_features: d, weights: theta[..d * k].iter().map(|&w| w as f32).collect(), intercepts: theta[d * k..].to_vec(), iterations };
        Ok((model, memory))
    }

    /// Why stored weights cannot be used, if they cannot: lengths that disagree with the
    /// shape, or values that are not finite (stored bytes are not trusted).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.n_classes < 2 || self.intercepts.len() != self.n_classes {
            return Err(format!("{} classes but {} intercepts", self.n_classes, self.intercepts.len()));
        }
        if self.n_features.checked_mul(self.n_classes) != Some(self.weights.len()) {
            return Err(format!("{} weights for {} features and {} classes", self.weights.len(), self.n_features, self.n_classes));
        }
        if !self.weights.iter().all(|w| w.is_finite()) || !self.intercepts.iter().all(|b| b.is_finite()) {
            return Err("a weight is not a finite number".into());
        }
        Ok(())
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn weight(&self, feature: u32, class: usize) -> f64 {
        f64::from(self.weights[feature as usize * self.n_classes + class])
    }

    pub fn intercept(&self, class: usize) -> f64 {
        self.intercepts[class]
    }

    /// Each class's score (log-probability up to a constant). Columns beyond the model's
    /// features are ignored.
    pub fn scores(&self, indices: &[u32], values: &[f32]) -> Vec<f64> {
        let k = self.n_classes;
        let mut z = self.intercepts.clone();
        for (&j, &v) in indices.iter().zip(values) {
            if (j as usize) < self.n_features {
                let wj = &self.weights[j as usize * k..(j as usize + 1) * k];
                for (zc, w) in z.iter_mut().zip(wj) {
                    *zc += f64::from(v) * f64::from(*w);
                }
            }
        }
        z
    }

    /// Each class's probability; they sum to 1.
    pub fn predict_proba(&self, indices: &[u32], values: &[f32]) -> Vec<f64> {
        let mut z = self.scores(indices, values);
        let lse = log_sum_exp(&z);
        for v in &mut z {
            *v = (*v - lse).exp();
        }
        z
    }

    /// What each of the row's features adds to `class`'s score: weight × value, in the
    /// row's order. At the optimum each feature's weights sum to zero over the classes
    /// (the L2 penalty sees to it), so a positive contribution favours the class over
    /// the average class.
    pub fn contributions(&self, indices: &[u32], values: &[f32], class: usize) -> Vec<(u32, f64)> {
        indices.iter().zip(values).filter(|(j, _)| (**j as usize) < self.n_features).map(|(&j, &v)| (j, self.weight(j, class) * f64::from(v))).collect()
    }

    /// The `n` features with the largest weights for `class`, largest first (ties by
    /// feature).
    pub fn top_features(&self, class: usize, n: usize) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = (0..self.n_features as u32).map(|j| (j, self.weight(j, class))).filter(|(_, w)| *w > 0.0).collect();
        let by_weight = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, by_weight);
        }
        all.truncate(n);
        all.sort_unstable_by(by_weight);
        all
    }
}

/// L-BFGS from `theta` (and the pairs of `carried`, if given), which it leaves at the
/// minimum; the iterations taken and the pairs at the end.
fn lbfgs(
    problem: &Problem,
    theta: &mut Vec<f64>,
    options: &SoftmaxOptions,
    carried: Option<History>,
    should_stop: &dyn Fn() -> bool,
) -> Result<(usize, History)> {
    let p = theta.len();
    let mut history = carried.unwrap_or_else(|| History::new(p, history_pairs(p)));
    let mut grad = vec![0.0; p];
    let mut f = problem.evaluate(theta, &mut grad, should_stop)?;
    let mut direction = vec![0.0; p];
    let mut trial = vec![0.0; p];
    let mut trial_grad = vec![0.0; p];
    let mut iterations = 0;
    while iterations < options.max_iter {
        if should_stop() {
            return Err(CrmError::Canceled("text classifier training was cancelled".into()));
        }
        if grad.iter().all(|g| g.abs() <= options.tol) {
            break;
        }
        iterations += 1;
        let first_step = if history.is_empty() {
            // No curvature known yet: a step as long as the gradient is steep.
            1.0 / grad.iter().map(|g| g * g).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut slope = history.direction(&grad, &mut direction, should_stop)?;
        if slope >= 0.0 || slope.is_nan() {
            // Not a descent direction (rounding): start again from steepest descent.
            history.clear();
            for (d, g) in direction.iter_mut().zip(&grad) {
                *d = -g;
            }
            slope = -dot(&grad, &grad);
        }
        let mut step = first_step;
        let mut accepted = None;
        for _ in 0..MAX_LINE_SEARCH {
            for ((t, x), d) in trial.iter_mut().zip(theta.iter()).zip(&direction) {
                *t = x + step * d;
            }
            let f_trial = problem.evaluate(&trial, &mut trial_grad, should_stop)?;
            if f_trial.is_finite() && f_trial <= f + ARMIJO * step * slope {
                accepted = Some(f_trial);
                break;
            }
            // The minimum of the quadratic through f, the slope and f_trial, kept within
            // [0.1, 0.5] of the step.
            let curvature = 2.0 * (f_trial - f - slope * step);
            let next = if f_trial.is_finite() && curvature > 0.0 { -slope * step * step / curvature } else { 0.5 * step };
            step = next.clamp(0.1 * step, 0.5 * step);
        }
        let Some(f_new) = accepted else {
            // No decrease can be found: the optimum is reached to rounding.
            break;
        };
        history.push(step, &direction, &trial_grad, &grad, should_stop)?;
        std::mem::swap(theta, &mut trial);
        std::mem::swap(&mut grad, &mut trial_grad);
        let improvement = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
        f = f_new;
        if improvement <= FTOL {
            break;
        }
    }
    Ok((iterations, history))
}

/// Parameters per task of the sweeps over L-BFGS's vectors: a task's slice of the
/// direction (16 KiB) stays in L1 while each pair's slice is added to it.
const PARAMETERS_PER_TASK: usize = 2048;

/// L-BFGS's memory: the last m steps s and gradient changes y, and their inner products.
///
/// The search direction −H·g is computed in the compact form of Byrd, Nocedal and
/// Schnabel (1994, theorem 2.2), not by the two-loop recursion. Both give the same
/// direction in exact arithmetic, but each of the recursion's 2m updates needs the
/// previous one's dot product, so it sweeps the parameters 2m times in a row on one
/// thread: on two cores that was close to half of a wide fit's time. The compact form
/// sweeps twice, each sweep cut into tasks on the pool: once for every pair's products
/// with the gradient, once to add the pairs into the direction; between them, m×m
/// triangular solves. A new pair's products with the older ones are not swept for: they
/// follow from products taken anyway (`direction`).
struct History {
    p: usize,
    capacity: usize,
    /// Storage slots; `order` says which are in use, oldest first.
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    order: VecDeque<usize>,
    /// `s_a·y_b` and `y_a·y_b` for slots a and b, row-major (capacity × capacity).
    sy: Vec<f64>,
    yy: Vec<f64>,
    /// The products of the last direction, by slot: `s_a·g`, `y_a·g` and `d·y_a`.
    last: Option<LastDirection>,
    /// The newest pair and its step length, when its products with the older pairs are
    /// still to be found.
    fresh: Option<(usize, f64)>,
}

struct LastDirection {
    sg: Vec<f64>,
    yg: Vec<f64>,
    dy: Vec<f64>,
}

impl History {
    fn new(p: usize, capacity: usize) -> History {
        let m = capacity;
        History { p, capacity, s: Vec::new(), y: Vec::new(), order: VecDeque::new(), sy: vec![0.0; m * m], yy: vec![0.0; m * m], last: None, fresh: None }
    }

    /// `old`'s newest pairs (at most `capacity`) for a problem of `p` parameters with `k`
    /// classes, whose feature j was `old_feature[j]` in `old`'s problem: weights of
    /// features `old` did not have are 0 in them, intercepts carry over. Pairs whose
    /// curvature is no longer usable are dropped.
    fn carried(old: &History, p: usize, capacity: usize, k: usize, old_feature: &[Option<u32>], should_stop: &dyn Fn() -> bool) -> Result<History> {
        let mut history = History::new(p, capacity);
        let (d, old_d) = (p / k - 1, old.p / k - 1);
        let newest: Vec<usize> = old.order.iter().rev().take(capacity).rev().copied().collect();
        for &slot in &newest {
            let map = |v: &[f64]| {
                let mut out = vec![0.0; p];
                for (j, feature) in old_feature.iter().enumerate() {
                    if let Some(o) = *feature {
                        out[j * k..(j + 1) * k].copy_from_slice(&v[o as usize * k..(o as usize + 1) * k]);
                    }
                }
                out[d * k..].copy_from_slice(&v[old_d * k..]);
                out
            };
            history.s.push(map(&old.s[slot]));
            history.y.push(map(&old.y[slot]));
        }
        let n = newest.len();
        // Every pair's products with every other, in one sweep.
        let (s, y) = (&history.s, &history.y);
        let parts = pool::map_ranges(p, PARAMETERS_PER_TASK, 0, should_stop, |range, _| {
            let mut products = Vec::with_capacity(2 * n * n);
            for a in 0..n {
                for b in 0..n {
                    products.push(dot(&s[a][range.clone()], &y[b][range.clone()]));
                    products.push(dot(&y[a][range.clone()], &y[b][range.clone()]));
                }
            }
            products
        })?;
        for a in 0..n {
            for b in 0..n {
                let at = 2 * (a * n + b);
                history.sy[a * capacity + b] = parts.iter().map(|part| part[at]).sum();
                history.yy[a * capacity + b] = parts.iter().map(|part| part[at + 1]).sum();
            }
        }
        history.order = (0..n).filter(|&a| history.sy[a * capacity + a] > 1e-12 * history.yy[a * capacity + a] && history.yy[a * capacity + a] > 0.0).collect();
        Ok(history)
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn clear(&mut self) {
        self.order.clear();
        self.last = None;
        self.fresh = None;
    }

    /// Stores the step taken from the last direction `d` (s = step·d) and the gradient's
    /// change from `g` to `g_new` (y) as the newest pair, the oldest making room. A pair
    /// whose curvature s·y is not positive enough to use (it is, in exact arithmetic, for
    /// a strictly convex loss) is not kept.
    fn push(&mut self, step: f64, d: &[f64], g_new: &[f64], g: &[f64], should_stop: &dyn Fn() -> bool) -> Result<()> {
        if self.fresh.is_some() {
            // Two pushes with no direction between them (`lbfgs` never does this): the first
            // pair's products cannot be derived, so the memory starts again.
            self.clear();
        }
        let slot = if self.order.len() == self.capacity {
            self.order.pop_front().expect("a full history has an oldest pair")
        } else {
            // After a restart any slot may be free; a slot's vectors are allocated the
            // first time it is used.
            let free = (0..self.capacity).find(|slot| !self.order.contains(slot)).expect("a history below capacity has a free slot");
            if free >= self.s.len() {
                self.s.push(vec![0.0; self.p]);
                self.y.push(vec![0.0; self.p]);
            }
            free
        };
        // Per task: its first parameter, its slices of s and y, and its share of s·y and y·y.
        type PushTask<'a> = (usize, &'a mut [f64], &'a mut [f64], f64, f64);
        let mut tasks: Vec<PushTask> = self.s[slot]
            .chunks_mut(PARAMETERS_PER_TASK)
            .zip(self.y[slot].chunks_mut(PARAMETERS_PER_TASK))
            .enumerate()
            .map(|(t, (s, y))| (t * PARAMETERS_PER_TASK, s, y, 0.0, 0.0))
            .collect();
        pool::run(&mut tasks, 0, should_stop, &|(at, s, y, sy, yy), _| {
            let range = *at..*at + s.len();
            for ((sv, dv), yv) in s.iter_mut().zip(&d[range.clone()]).zip(y.iter_mut()) {
                *sv = step * dv;
                *yv = 0.0;
            }
            for ((yv, a), b) in y.iter_mut().zip(&g_new[range.clone()]).zip(&g[range]) {
                *yv = a - b;
            }
            *sy = dot(s, y);
            *yy = dot(y, y);
        })?;
        let (sy, yy) = tasks.iter().fold((0.0, 0.0), |(sy, yy), t| (sy + t.3, yy + t.4));
        if sy > 1e-12 * yy && yy > 0.0 {
            let m = self.capacity;
            self.sy[slot * m + slot] = sy;
            self.yy[slot * m + slot] = yy;
            self.order.push_back(slot);
            self.fresh = Some((slot, step));
        }
        Ok(())
    }

    /// Writes the search direction −H·g to `direction` and returns its slope g·direction.
    fn direction(&mut self, g: &[f64], direction: &mut [f64], should_stop: &dyn Fn() -> bool) -> Result<f64> {
        if self.is_empty() {
            for (d, gv) in direction.iter_mut().zip(g) {
                *d = -gv;
            }
            return Ok(-dot(g, g));
        }
        let m = self.capacity;
        let slots: Vec<usize> = self.order.iter().copied().collect();
        // Sweep 1: every pair's products with g.
        let (s, y) = (&self.s, &self.y);
        let parts = pool::map_ranges(self.p, PARAMETERS_PER_TASK, 0, should_stop, |range, _| {
            let g = &g[range.clone()];
            slots.iter().map(|&a| (dot(&s[a][range.clone()], g), dot(&y[a][range.clone()], g))).collect::<Vec<(f64, f64)>>()
        })?;
        let (mut sg, mut yg) = (vec![0.0; m], vec![0.0; m]);
        for part in &parts {
            for (&a, (sa, ya)) in slots.iter().zip(part) {
                sg[a] += sa;
                yg[a] += ya;
            }
        }
        if let Some((n, step)) = self.fresh.take() {
            // The new pair n = (step·d, g − g_last) against each older pair a, from the last
            // direction's products: s_n·y_a = step·(d·y_a), s_a·y_n = s_a·g − s_a·g_last and
            // y_n·y_a = y_a·g − y_a·g_last. (Older pairs exist only after a direction: the
            // first pair, and the first after a restart, follow a steepest-descent step.)
            if let Some(last) = &self.last {
                for &a in slots.iter().filter(|&&a| a != n) {
                    self.sy[n * m + a] = step * last.dy[a];
                    self.sy[a * m + n] = sg[a] - last.sg[a];
                    let yy = yg[a] - last.yg[a];
                    self.yy[n * m + a] = yy;
                    self.yy[a * m + n] = yy;
                }
            } else {
                self.order.retain(|&a| a == n);
            }
        }
        let slots: Vec<usize> = self.order.iter().copied().collect();
        let (coef_s, coef_y, gamma) = self.coefficients(&slots, &sg, &yg);
        // Sweep 2: the direction, its slope and its products with every y.
        let (s, y) = (&self.s, &self.y);
        let mut tasks: Vec<(usize, &mut [f64], f64, Vec<f64>)> =
            direction.chunks_mut(PARAMETERS_PER_TASK).enumerate().map(|(t, d)| (t * PARAMETERS_PER_TASK, d, 0.0, Vec::new())).collect();
        pool::run(&mut tasks, 0, should_stop, &|(at, d, slope, dy), _| {
            let range = *at..*at + d.len();
            let g = &g[range.clone()];
            for (dv, gv) in d.iter_mut().zip(g) {
                *dv = -gamma * gv;
            }
            for ((&a, cs), cy) in slots.iter().zip(&coef_s).zip(&coef_y) {
                for ((dv, sv), yv) in d.iter_mut().zip(&s[a][range.clone()]).zip(&y[a][range.clone()]) {
                    *dv += cs * sv + cy * yv;
                }
            }
            *slope = dot(g, d);
            *dy = slots.iter().map(|&a| dot(d, &y[a][range.clone()])).collect();
        })?;
        let mut dy = vec![0.0; m];
        for task in &tasks {
            for (&a, v) in slots.iter().zip(&task.3) {
                dy[a] += v;
            }
        }
        let slope = tasks.iter().map(|t| t.2).sum();
        self.last = Some(LastDirection { sg, yg, dy });
        Ok(slope)
    }

    /// The direction's coefficients for each pair of `slots` (oldest first), on s and on
    /// y, and γ: −H·g = −γ·g − S·t + γ·Y·u with u = R⁻¹·Sᵀg and
    /// t = R⁻ᵀ·((D + γ·YᵀY)·u − γ·Yᵀg), where R is the upper triangle of SᵀY
    /// (`R_ij = s_i·y_j`, i ≤ j) and D its diagonal. γ = s·y / y·y of the newest pair
    /// scales the initial inverse Hessian, as in the two-loop recursion.
    fn coefficients(&self, slots: &[usize], sg: &[f64], yg: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let m = self.capacity;
        let n = slots.len();
        let r = |i: usize, j: usize| self.sy[slots[i] * m + slots[j]];
        let newest = slots[n - 1];
        let gamma = self.sy[newest * m + newest] / self.yy[newest * m + newest];
        // u = R⁻¹·Sᵀg by back substitution (R is upper triangular).
        let mut u = vec![0.0; n];
        for i in (0..n).rev() {
            let rest: f64 = (i + 1..n).map(|j| r(i, j) * u[j]).sum();
            u[i] = (sg[slots[i]] - rest) / r(i, i);
        }
        // v = (D + γ·YᵀY)·u − γ·Yᵀg.
        let v: Vec<f64> = (0..n)
            .map(|i| {
                let yy_u: f64 = (0..n).map(|j| self.yy[slots[i] * m + slots[j]] * u[j]).sum();
                r(i, i) * u[i] + gamma * (yy_u - yg[slots[i]])
            })
            .collect();
        // t = R⁻ᵀ·v by forward substitution (Rᵀ is lower triangular).
        let mut t = vec![0.0; n];
        for i in 0..n {
            let rest: f64 = (0..i).map(|j| r(j, i) * t[j]).sum();
            t[i] = (v[i] - rest) / r(i, i);
        }
        (t.iter().map(|ti| -ti).collect(), u.iter().map(|ui| gamma * ui).collect(), gamma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::vectorize::SparseRow;

    fn never() -> bool {
        false
    }

    fn matrix(rows: &[&[(u32, f32)]], n_cols: usize) -> SparseMatrix {
        SparseMatrix::from_rows(n_cols, rows.iter().map(|r| SparseRow { indices: r.iter().map(|e| e.0).collect(), values: r.iter().map(|e| e.1).collect() }))
    }

    #[test]
    fn learns_separable_classes_and_probabilities_sum_to_one() {
        // Feature c marks class c; feature 3 is noise in every row.
        let rows: Vec<Vec<(u32, f32)>> = (0..60).map(|i| vec![((i % 3) as u32, 0.8), (3, 0.6)]).collect();
        let refs: Vec<&[(u32, f32)]> = rows.iter().map(|r| r.as_slice()).collect();
        let x = matrix(&refs, 4);
        let y: Vec<u32> = (0..60).map(|i| i % 3).collect();
        let options = SoftmaxOptions { c: 10.0, ..SoftmaxOptions::default() };
        let m = Softmax::fit(&x, &y, 3, &[1.0; 3], &options, &never).unwrap();
        for (i, &yi) in y.iter().enumerate() {
            let (ind, val) = x.row(i);
            let p = m.predict_proba(ind, val);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            assert_eq!(best, yi as usize);
            assert!(p[best] > 0.6, "{p:?}");
        }
        assert_eq!(m.top_features(1, 1)[0].0, 1);
        // The L2 optimum centres each feature's weights over the classes.
        for j in 0..4 {
            let sum: f64 = (0..3).map(|c| m.weight(j, c)).sum();
            assert!(sum.abs() < 1e-3, "feature {j}: {sum}");
        }
    }

    #[test]
    fn matches_the_optimum_of_a_one_feature_problem() {
        // Two classes, one feature equal to 1 in every row: p(class 1) at the optimum
        // solves the stationarity conditions; with a huge C it is the class share.
        let x = matrix(&[&[(0, 1.0)], &[(0, 1.0)], &[(0, 1.0)], &[(0, 1.0)]], 1);
        let y = [0, 1, 1, 1];
        let options = SoftmaxOptions { c: 1e6, tol: 1e-9, ..SoftmaxOptions::default() };
        let m = Softmax::fit(&x, &y, 2, &[1.0, 1.0], &options, &never).unwrap();
        let p = m.predict_proba(&[0], &[1.0]);
        assert!((p[1] - 0.75).abs() < 1e-4, "{p:?}");
        // Balanced weights make both classes count the same: p = 0.5.
        let w = balanced_class_weights(&y, 2);
        assert_eq!(w, [2.0, 4.0 / 6.0]);
        let m = Softmax::fit(&x, &y, 2, &w, &options, &never).unwrap();
        assert!((m.predict_proba(&[0], &[1.0])[1] - 0.5).abs() < 1e-4);
    }

    #[test]
    fn cancel_and_bad_input_are_errors() {
        let x = matrix(&[&[(0, 1.0)], &[(1, 1.0)]], 2);
        let err = Softmax::fit(&x, &[0, 1], 2, &[1.0, 1.0], &SoftmaxOptions::default(), &|| true).unwrap_err();
        assert!(matches!(err, CrmError::Canceled(_)));
        assert!(Softmax::fit(&x, &[0, 2], 2, &[1.0, 1.0], &SoftmaxOptions::default(), &never).is_err());
        assert!(Softmax::fit(&x, &[0, 1], 2, &[1.0, 1.0], &SoftmaxOptions { c: 0.0, ..SoftmaxOptions::default() }, &never).is_err());
    }

    /// The textbook two-loop recursion in f64 over the stored (f32) pairs, oldest first: the
    /// reference for the compact form.
    fn two_loop_direction(pairs: &[(Vec<f64>, Vec<f64>)], g: &[f64]) -> Vec<f64> {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut q = g.to_vec();
        let mut alpha = vec![0.0; pairs.len()];
        for (i, (s, y)) in pairs.iter().enumerate().rev() {
            alpha[i] = dot(s, &q) / dot(s, y);
            for (qv, yv) in q.iter_mut().zip(y) {
                *qv -= alpha[i] * yv;
            }
        }
        let (s, y) = pairs.last().unwrap();
        let gamma = dot(s, y) / dot(y, y);
        let mut r: Vec<f64> = q.iter().map(|v| gamma * v).collect();
        for (i, (s, y)) in pairs.iter().enumerate() {
            let beta = dot(y, &r) / dot(s, y);
            for (rv, sv) in r.iter_mut().zip(s) {
                *rv += (alpha[i] - beta) * sv;
            }
        }
        r.iter().map(|v| -v).collect()
    }

    #[test]
    fn the_compact_direction_is_the_two_loop_recursions() {
        // L-BFGS's steps on a convex quadratic (gradient A·x, A diagonal in [1, 20]): more
        // parameters than one sweep task, more pairs than the history holds, and a restart.
        let p = 3 * PARAMETERS_PER_TASK + 77;
        let mut rng = crate::rng::SplitMix64::new(7);
        let a: Vec<f64> = (0..p).map(|_| 1.0 + 19.0 * rng.next_f64()).collect();
        let gradient = |x: &[f64]| x.iter().zip(&a).map(|(x, a)| a * x).collect::<Vec<f64>>();
        let mut history = History::new(p, 4);
        let mut x: Vec<f64> = (0..p).map(|_| rng.next_f64() - 0.5).collect();
        let mut g = gradient(&x);
        let mut direction = vec![0.0; p];
        for iteration in 0..12 {
            if iteration == 7 {
                history.clear();
            }
            let slope = history.direction(&g, &mut direction, &never).unwrap();
            let pairs: Vec<(Vec<f64>, Vec<f64>)> = history.order.iter().map(|&slot| (history.s[slot].clone(), history.y[slot].clone())).collect();
            assert_eq!(pairs.len(), if iteration < 7 { iteration } else { iteration - 7 }.min(4));
            let expected: Vec<f64> = if pairs.is_empty() { g.iter().map(|v| -v).collect() } else { two_loop_direction(&pairs, &g) };
            let norm = expected.iter().map(|v| v * v).sum::<f64>().sqrt();
            let error = direction.iter().zip(&expected).map(|(d, e)| (d - e) * (d - e)).sum::<f64>().sqrt();
            assert!(error <= 1e-9 * norm, "iteration {iteration}: |difference| {error:e}, |direction| {norm:e}");
            let expected_slope: f64 = g.iter().zip(&expected).map(|(g, d)| g * d).sum();
            assert!(slope < 0.0 && (slope - expected_slope).abs() <= 1e-9 * expected_slope.abs(), "iteration {iteration}: slope {slope} vs {expected_slope}");
            let step = 0.3 + 0.6 * rng.next_f64();
            let x_new: Vec<f64> = x.iter().zip(&direction).map(|(x, d)| x + step * d).collect();
            let g_new = gradient(&x_new);
            history.push(step, &direction, &g_new, &g, &never).unwrap();
            (x, g) = (x_new, g_new);
        }
    }

    #[test]
    fn a_fit_carrying_another_fits_curvature_reaches_its_own_optimum() {
        // A fit on the first half of the rows, then on all rows (with one feature more)
        // from its weights and pairs: the same model as a fit on all rows from zero.
        let rows: Vec<Vec<(u32, f32)>> =
            (0..200).map(|i| vec![((i * 7 % 5) as u32, 0.6), (((i * 3) % 5) as u32 + 5, 0.5), (10 + u32::from(i >= 100 && i % 2 == 1), 0.3)]).collect();
        let y: Vec<u32> = (0..200).map(|i| ((i * 7 % 5) % 3) as u32).collect();
        let refs: Vec<&[(u32, f32)]> = rows.iter().map(|r| r.as_slice()).collect();
        let half = matrix(&refs[..100], 11);
        let all = matrix(&refs, 12);
        let options = SoftmaxOptions { tol: 1e-8, ..SoftmaxOptions::default() };
        let (first, memory) = Softmax::fit_from(&half, &y[..100], 3, &[1.0; 3], &options, None, &never).unwrap();
        assert!(memory.bytes() > 0);
        let same = |j: u32| (j < 11).then_some(j);
        let (carried, _) = Softmax::fit_from(&all, &y, 3, &[1.0; 3], &options, Some((&first, Some(&memory), &same)), &never).unwrap();
        let cold = Softmax::fit(&all, &y, 3, &[1.0; 3], &options, &never).unwrap();
        for j in 0..12 {
            for c in 0..3 {
                assert!((carried.weight(j, c) - cold.weight(j, c)).abs() < 1e-5, "feature {j}, class {c}: {} vs {}", carried.weight(j, c), cold.weight(j, c));
            }
        }
    }

    #[test]
    fn the_fit_is_deterministic() {
        let rows: Vec<Vec<(u32, f32)>> = (0..50).map(|i| vec![((i * 7 % 5) as u32, 0.5), (((i * 3) % 5) as u32 + 5, 0.5)]).collect();
        let refs: Vec<&[(u32, f32)]> = rows.iter().map(|r| r.as_slice()).collect();
        let x = matrix(&refs, 10);
        let y: Vec<u32> = (0..50).map(|i| (i * 7 % 5 % 2) as u32).collect();
        let a = Softmax::fit(&x, &y, 2, &[1.0, 1.0], &SoftmaxOptions::default(), &never).unwrap();
        let b = Softmax::fit(&x, &y, 2, &[1.0, 1.0], &SoftmaxOptions::default(), &never).unwrap();
        assert_eq!(a, b);
    }
}
