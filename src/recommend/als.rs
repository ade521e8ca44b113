//! Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008, "Collaborative
//! Filtering for Implicit Feedback Datasets") solved by alternating least squares with the
//! conjugate-gradient update of Takács, Pilászy & Tikk (2011), as the `implicit` library's
//! CPU `AlternatingLeastSquares` (0.7) does.
//!
//! Loss: Σ over all (customer u, item i) of c_ui (p_ui - x_u·y_i)² + regularisation terms,
//! where p_ui = 1 for observed pairs and 0 otherwise. Confidence follows `implicit` 0.7
//! exactly: c_ui = alpha × summed weight for observed pairs and 1 for the rest (so with
//! alpha = 1 and weights of 1, observed and unobserved pairs weigh the same).

use serde::{Deserialize, Serialize};

use super::interactions::SparseRows;
use super::{invalid_option, RecommendError};
use crate::pool;
use crate::rng::SplitMix64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsOptions {
    /// Latent dimensions. Default 64.
    pub factors: usize,
    /// L2 penalty λ. Default 0.1 with `scale_regularization` (Spark MLlib's default);
    /// `implicit` uses 0.01 without scaling.
    pub regularization: f32,
    /// When true, each row's penalty is λ × its number of interactions ("ALS-WR", Zhou et
    /// al. 2008; what Spark MLlib does): heavy customers and popular items, whose rows the
    /// data term pulls hardest, are held back in proportion, so one λ suits sparse and dense
    /// data alike. When false, λ is the same for every row (`implicit`). Default true.
    pub scale_regularization: bool,
    /// Confidence multiplier: c = alpha × weight. Default 1 (`implicit`'s default).
    pub alpha: f32,
    /// Alternations (customers then items). Default 15.
    pub iterations: usize,
    /// Conjugate-gradient steps per least-squares update. Default 3 (`implicit`).
    pub cg_steps: usize,
    /// Seed of the random initial factors. Default 42.
    pub seed: u64,
}

impl Default for AlsOptions {
    fn default() -> Self {
        AlsOptions { factors: 64, regularization: 0.1, scale_regularization: true, alpha: 1.0, iterations: 15, cg_steps: 3, seed: 42 }
    }
}

impl AlsOptions {
    pub fn validate(&self) -> Result<(), RecommendError> {
        if self.factors == 0 || self.factors > 1024 {
            return Err(invalid_option("factors", format!("{} is not accepted: it must be between 1 and 1024", self.factors)));
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            return Err(invalid_option("regularization", format!("{} is not accepted: it must be a finite number >= 0", self.regularization)));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(invalid_option("alpha", format!("{} is not accepted: it must be a finite number > 0", self.alpha)));
        }
        if self.iterations == 0 || self.iterations > 10_000 {
            return Err(invalid_option("iterations", format!("{} is not accepted: it must be between 1 and 10000", self.iterations)));
        }
        if self.cg_steps == 0 || self.cg_steps > 1024 {
            return Err(invalid_option("cg_steps", format!("{} is not accepted: it must be between 1 and 1024", self.cg_steps)));
        }
        Ok(())
    }
}

/// Trained factors, row-major: customer u is `user_factors[u * factors..][..factors]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Als {
    options: AlsOptions,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
}

impl Als {
    /// Whether the stored factors match `n_users` × `n_items` and the factor count.
    pub fn validate(&self, n_users: usize, n_items: usize) -> std::result::Result<(), String> {
        let f = self.options.factors;
        let ok = f > 0
            && f <= 1024
            && self.user_factors.len().is_multiple_of(f)
            && self.user_factors.len() <= n_users.saturating_mul(f)
            && self.item_factors.len() == n_items.saturating_mul(f);
        ok.then_some(()).ok_or_else(|| format!("factor matrices inconsistent with {n_users} customers, {n_items} items and {f} factors"))
    }

    /// Trains on `threads` threads (0 = as many as `pool::max_threads` allows).
    /// `should_stop` is polled on this thread between blocks of rows (tens of
    /// microseconds of work each); when it answers true the fit ends with
    /// `RecommendError::Cancelled`.
    pub fn fit(user_items: &SparseRows, options: &AlsOptions, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<Als, RecommendError> {
        Self::fit_with_callback(user_items, options, threads, should_stop, |_, _| {})
    }

    /// As [`Als::fit`], calling `after_iteration(iteration, &model)` after each alternation
    /// (for progress reports and tests).
    pub fn fit_with_callback(
        user_items: &SparseRows,
        options: &AlsOptions,
        threads: usize,
        should_stop: &dyn Fn() -> bool,
        mut after_iteration: impl FnMut(usize, &Als),
    ) -> Result<Als, RecommendError> {
        options.validate()?;
        let f = options.factors;
        let confidences = user_items.map_values(|_, _, w| options.alpha * w);
        let item_users = confidences.transpose();
        // `implicit` initialises both sides uniformly in [0, 0.01).
        let mut rng = SplitMix64::new(options.seed);
        let mut init = |rows: usize| (0..rows * f).map(|_| rng.next_f32() * 0.01).collect::<Vec<f32>>();
        let user_factors = init(user_items.n_rows());
        let item_factors = init(user_items.n_columns());
        let mut model = Als { options: options.clone(), user_factors, item_factors };
        let side = Side { options, threads, should_stop };
        for iteration in 0..options.iterations {
            side.solve(&confidences, &mut model.user_factors, &model.item_factors)?;
            side.solve(&item_users, &mut model.item_factors, &model.user_factors)?;
            after_iteration(iteration, &model);
        }
        Ok(model)
    }

    pub fn options(&self) -> &AlsOptions {
        &self.options
    }

    pub fn factors(&self) -> usize {
        self.options.factors
    }

    pub fn n_users(&self) -> usize {
        self.user_factors.len() / self.options.factors
    }

    pub fn n_items(&self) -> usize {
        self.item_factors.len() / self.options.factors
    }

    pub fn user_vector(&self, user: u32) -> Option<&[f32]> {
        let f = self.options.factors;
        self.user_factors.get(user as usize * f..(user as usize + 1) * f)
    }

    pub fn item_vector(&self, item: u32) -> Option<&[f32]> {
        let f = self.options.factors;
        self.item_factors.get(item as usize * f..(item as usize + 1) * f)
    }

    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// `out[j] = user · item_j` for every item.
    pub fn score_all(&self, user: &[f32], out: &mut [f32]) {
        kernels::scores(user, &self.item_factors, self.options.factors, out);
    }

    /// The training loss divided by the number of (customer, item) pairs weighted by their
    /// confidence, as `implicit`'s `calculate_loss`. For tests and diagnostics: it costs a
    /// pass over all pairs' factor products.
    /// NaN when `user_items` does not have the model's shape.
    pub fn loss(&self, user_items: &SparseRows) -> f64 {
        let f = self.options.factors;
        if user_items.n_rows() != self.n_users() || user_items.n_columns() != self.n_items() {
            return f64::NAN;
        }
        // One thread and nothing that asks it to stop: `gram` cannot be cancelled here.
        let Ok(yty) = gram(&self.item_factors, f, 1, &|| false) else {
            return f64::NAN;
        };
        let item_counts = user_items.column_counts();
        let mut loss = 0f64;
        let mut total_confidence = 0f64;
        let mut penalty = 0f64;
        let mut tmp = vec![0f32; f];
        for u in 0..user_items.n_rows() {
            let x = &self.user_factors[u * f..(u + 1) * f];
            let (items, weights) = user_items.row(u);
            // Σ_i (x·y_i)² over all items = xᵀ YᵀY x; then correct the observed pairs.
            kernels::symv(&yty, x, &mut tmp);
            loss += tmp.iter().zip(x).map(|(a, b)| (a * b) as f64).sum::<f64>();
            for (&i, &w) in items.iter().zip(weights) {
                let c = (self.options.alpha * w) as f64;
                let y = &self.item_factors[i as usize * f..(i as usize + 1) * f];
                let s = x.iter().zip(y).map(|(a, b)| (a * b) as f64).sum::<f64>();
                loss += c * (1.0 - s).powi(2) - s * s;
                total_confidence += c;
            }
            let scale = if self.options.scale_regularization { items.len() as f64 } else { 1.0 };
            penalty += scale * x.iter().map(|v| (v * v) as f64).sum::<f64>();
        }
        for (i, count) in item_counts.iter().enumerate() {
            let y = &self.item_factors[i * f..(i + 1) * f];
            let scale = if self.options.scale_regularization { *count as f64 } else { 1.0 };
            penalty += scale * y.iter().map(|v| (v * v) as f64).sum::<f64>();
        }
        loss += self.options.regularization as f64 * penalty;
        let pairs = user_items.n_rows() as f64 * user_items.n_columns() as f64;
        loss / (total_confidence + pairs - user_items.nnz() as f64)
    }
}

/// YᵀY (f × f, full symmetric, row-major), summed over row blocks in parallel.
fn gram(y: &[f32], f: usize, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<Vec<f32>, pool::Cancelled> {
    let rows = y.len() / f;
    let partials = pool::map_ranges(rows, 1024, threads, should_stop, |range, _| {
        let mut g = vec![0f32; f * f];
        kernels::add_gram(&y[range.start * f..range.end * f], f, &mut g);
        g
    })?;
    let mut total = vec![0f32; f * f];
    for g in partials {
        for (t, v) in total.iter_mut().zip(g) {
            *t += v;
        }
    }
    // Kernels may fill only the upper triangle: copy it down.
    for a in 0..f {
        for b in 0..a {
            total[a * f + b] = total[b * f + a];
        }
    }
    Ok(total)
}

/// What every half-step of a fit shares.
struct Side<'a> {
    options: &'a AlsOptions,
    threads: usize,
    should_stop: &'a dyn Fn() -> bool,
}

impl Side<'_> {
    /// One half-step: every row of `x` re-solved against fixed `y` by `cg_steps` CG
    /// steps, warm-started from its current value. Rows without interactions become
    /// zero. On a cancel `x` is left as it was.
    fn solve(&self, rows: &SparseRows, x: &mut [f32], y: &[f32]) -> Result<(), pool::Cancelled> {
        let options = self.options;
        let f = options.factors;
        let yty = gram(y, f, self.threads, self.should_stop)?;
        let current: &[f32] = x;
        let solved = pool::map_ranges(rows.n_rows(), 32, self.threads, self.should_stop, |range, _| {
            let mut out = current[range.start * f..range.end * f].to_vec();
            let problems: Vec<kernels::Row> = range
                .map(|r| {
                    let (indices, confidences) = rows.row(r);
                    let scale = if options.scale_regularization { indices.len() as f32 } else { 1.0 };
                    kernels::Row { indices, confidences, regularization: options.regularization * scale }
                })
                .collect();
            kernels::solve_rows(&yty, y, &problems, &mut out, options.cg_steps);
            out
        })?;
        let mut start = 0;
        for block in solved {
            x[start..start + block.len()].copy_from_slice(&block);
            start += block.len();
        }
        Ok(())
    }
}

/// Dense kernels. On x86-64 with AVX2 and FMA (checked at run time) they use 256-bit
/// intrinsics; elsewhere a portable version. `implicit` calls BLAS (sdot/saxpy/ssymv) for
/// the same steps; writing them here avoids a BLAS dependency.
mod kernels {
    pub(super) struct Row<'a> {
        pub indices: &'a [u32],
        pub confidences: &'a [f32],
        pub regularization: f32,
    }

    pub(super) struct Scratch {
        r: Vec<f32>,
        p: Vec<f32>,
        ap: Vec<f32>,
    }

    impl Scratch {
        pub(super) fn new(f: usize) -> Self {
            Scratch { r: vec![0.0; f], p: vec![0.0; f], ap: vec![0.0; f] }
        }
    }

    /// The vector operations the solvers need.
    trait Simd {
        fn dot(a: &[f32], b: &[f32]) -> f32;
        /// y += alpha × x
        fn axpy(alpha: f32, x: &[f32], y: &mut [f32]);
        /// out = A x, A symmetric f × f row-major (f = x.len()).
        fn symv(a: &[f32], x: &[f32], out: &mut [f32]);
        /// g += Σ over the f-long rows y of yᵀy; at least the upper triangle is filled.
        fn add_gram(rows: &[f32], f: usize, g: &mut [f32]);
    }

    struct Portable;

    impl Simd for Portable {
        #[inline(always)]
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            // Eight independent partial sums let the compiler use vector registers.
            let mut acc = [0f32; 8];
            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
            let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
            for (x, y) in ca.zip(cb) {
                for l in 0..8 {
                    acc[l] += x[l] * y[l];
                }
            }
            acc.iter().sum::<f32>() + tail
        }

        #[inline(always)]
        fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
            for (yv, xv) in y.iter_mut().zip(x) {
                *yv += alpha * xv;
            }
        }

        #[inline(always)]
        fn symv(a: &[f32], x: &[f32], out: &mut [f32]) {
            let f = x.len();
            out.fill(0.0);
            for (j, &xj) in x.iter().enumerate() {
                Self::axpy(xj, &a[j * f..(j + 1) * f], out);
            }
        }

        #[inline(always)]
        fn add_gram(rows: &[f32], f: usize, g: &mut [f32]) {
            for y in rows.chunks_exact(f) {
                for (a, &ya) in y.iter().enumerate() {
                    Self::axpy(ya, y, &mut g[a * f..(a + 1) * f]);
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    struct Avx2;

    // SAFETY (whole impl): these functions are only instantiated inside the
    // `#[target_feature(enable = "avx2,fma")]` entry points below, which are only called after
    // `is_x86_feature_detected!` confirmed both features. Every pointer access stays within
    // the slices: loops run while `i + width <= n` with n the shortest slice length.
    #[cfg(target_arch = "x86_64")]
    impl Simd for Avx2 {
        #[inline(always)]
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            use std::arch::x86_64::*;
            let n = a.len().min(b.len());
            unsafe {
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut acc0 = _mm256_setzero_ps();
                let mut acc1 = _mm256_setzero_ps();
                let mut i = 0;
                while i + 16 <= n {
                    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)), acc1);
                    i += 16;
                }
                if i + 8 <= n {
                    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                    i += 8;
                }
                let mut total = horizontal_sum(_mm256_add_ps(acc0, acc1));
                while i < n {
                    total = a[i].mul_add(b[i], total);
                    i += 1;
                }
                total
            }
        }

        #[inline(always)]
        fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
            use std::arch::x86_64::*;
            let n = x.len().min(y.len());
            unsafe {
                let (px, py) = (x.as_ptr(), y.as_mut_ptr());
                let va = _mm256_set1_ps(alpha);
                let mut i = 0;
                while i + 8 <= n {
                    let v = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
                    _mm256_storeu_ps(py.add(i), v);
                    i += 8;
                }
                while i < n {
                    y[i] = alpha.mul_add(x[i], y[i]);
                    i += 1;
                }
            }
        }

        #[inline(always)]
        fn symv(a: &[f32], x: &[f32], out: &mut [f32]) {
            use std::arch::x86_64::*;
            let f = x.len();
            assert!(a.len() >= f * f && out.len() >= f);
            // Blocks of 64 (then 32) output lanes live in registers while every row j adds
            // x_j × A[j, block]: one load per multiply-add, `out` written once, and eight
            // independent accumulators to hide the multiply-add latency.
            let mut l = 0;
            unsafe {
                let pa = a.as_ptr();
                while l + 64 <= f {
                    let mut o = [_mm256_setzero_ps(); 8];
                    for (j, &xj) in x.iter().enumerate() {
                        let row = pa.add(j * f + l);
                        let v = _mm256_set1_ps(xj);
                        for (block, acc) in o.iter_mut().enumerate() {
                            *acc = _mm256_fmadd_ps(v, _mm256_loadu_ps(row.add(8 * block)), *acc);
                        }
                    }
                    let po = out.as_mut_ptr().add(l);
                    for (block, acc) in o.iter().enumerate() {
                        _mm256_storeu_ps(po.add(8 * block), *acc);
                    }
                    l += 64;
                }
                while l + 32 <= f {
                    let (mut o0, mut o1, mut o2, mut o3) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
                    for (j, &xj) in x.iter().enumerate() {
                        let row = pa.add(j * f + l);
                        let v = _mm256_set1_ps(xj);
                        o0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row), o0);
                        o1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row.add(8)), o1);
                        o2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row.add(16)), o2);
                        o3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row.add(24)), o3);
                    }
                    let po = out.as_mut_ptr().add(l);
                    _mm256_storeu_ps(po, o0);
                    _mm256_storeu_ps(po.add(8), o1);
                    _mm256_storeu_ps(po.add(16), o2);
                    _mm256_storeu_ps(po.add(24), o3);
                    l += 32;
                }
                while l + 8 <= f {
                    let mut o = _mm256_setzero_ps();
                    for (j, &xj) in x.iter().enumerate() {
                        o = _mm256_fmadd_ps(_mm256_set1_ps(xj), _mm256_loadu_ps(pa.add(j * f + l)), o);
                    }
                    _mm256_storeu_ps(out.as_mut_ptr().add(l), o);
                    l += 8;
                }
            }
            for (lane, o) in out.iter_mut().enumerate().take(f).skip(l) {
                *o = x.iter().enumerate().fold(0.0, |s, (j, &xj)| xj.mul_add(a[j * f + lane], s));
            }
        }

        #[inline(always)]
        fn add_gram(rows: &[f32], f: usize, g: &mut [f32]) {
            use std::arch::x86_64::*;
            assert!(g.len() >= f * f);
            // Four rows per pass, so each 8-lane piece of g is loaded and stored once per
            // four updates; only lanes from the diagonal's 8-block onwards (the caller mirrors
            // the upper triangle).
            let mut blocks = rows.chunks_exact(4 * f);
            for block in &mut blocks {
                let (y0, rest) = block.split_at(f);
                let (y1, rest) = rest.split_at(f);
                let (y2, y3) = rest.split_at(f);
                for a in 0..f {
                    let mut l = a & !7;
                    unsafe {
                        let (b0, b1, b2, b3) = (_mm256_set1_ps(y0[a]), _mm256_set1_ps(y1[a]), _mm256_set1_ps(y2[a]), _mm256_set1_ps(y3[a]));
                        let pg = g.as_mut_ptr().add(a * f);
                        while l + 8 <= f {
                            let mut v = _mm256_loadu_ps(pg.add(l));
                            v = _mm256_fmadd_ps(b0, _mm256_loadu_ps(y0.as_ptr().add(l)), v);
                            v = _mm256_fmadd_ps(b1, _mm256_loadu_ps(y1.as_ptr().add(l)), v);
                            v = _mm256_fmadd_ps(b2, _mm256_loadu_ps(y2.as_ptr().add(l)), v);
                            v = _mm256_fmadd_ps(b3, _mm256_loadu_ps(y3.as_ptr().add(l)), v);
                            _mm256_storeu_ps(pg.add(l), v);
                            l += 8;
                        }
                    }
                    for lane in l..f {
                        let update = y0[a] * y0[lane] + y1[a] * y1[lane] + y2[a] * y2[lane] + y3[a] * y3[lane];
                        g[a * f + lane] += update;
                    }
                }
            }
            for y in blocks.remainder().chunks_exact(f) {
                for (a, &ya) in y.iter().enumerate() {
                    let from = a & !7;
                    Self::axpy(ya, &y[from..], &mut g[a * f + from..(a + 1) * f]);
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn horizontal_sum(v: std::arch::x86_64::__m256) -> f32 {
        use std::arch::x86_64::*;
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Conjugate gradient on (YᵀY + Yᵀ(C - I)Y + λI) x = YᵀC p, as `implicit`'s
    /// `_least_squares_cg`: YᵀY is shared by all rows, the per-row part touches only the
    /// row's items.
    #[inline(always)]
    fn cg_impl<S: Simd>(yty: &[f32], y: &[f32], row: &Row, x: &mut [f32], steps: usize, s: &mut Scratch) {
        let f = x.len();
        let item = |i: u32| &y[i as usize * f..(i as usize + 1) * f];
        let (r, p, ap) = (&mut s.r[..f], &mut s.p[..f], &mut s.ap[..f]);
        // r = b - A x
        S::symv(yty, x, r);
        for (rv, xv) in r.iter_mut().zip(x.iter()) {
            *rv = -(row.regularization * xv + *rv);
        }
        for (&i, &c) in row.indices.iter().zip(row.confidences) {
            let yi = item(i);
            // With c = 1 (alpha 1, weight 1) the dot product is multiplied by 0: skip it.
            let coefficient = if c == 1.0 { c } else { c - (c - 1.0) * S::dot(yi, x) };
            S::axpy(coefficient, yi, r);
        }
        p.copy_from_slice(r);
        let mut rs_old = S::dot(r, r);
        if rs_old < 1e-20 {
            return;
        }
        for _ in 0..steps {
            // ap = A p without forming A
            S::symv(yty, p, ap);
            S::axpy(row.regularization, p, ap);
            for (&i, &c) in row.indices.iter().zip(row.confidences) {
                if c != 1.0 {
                    let yi = item(i);
                    let coefficient = (c - 1.0) * S::dot(yi, p);
                    S::axpy(coefficient, yi, ap);
                }
            }
            let step = rs_old / S::dot(p, ap);
            S::axpy(step, p, x);
            S::axpy(-step, ap, r);
            let rs_new = S::dot(r, r);
            if rs_new < 1e-20 {
                break;
            }
            let beta = rs_new / rs_old;
            for (pv, rv) in p.iter_mut().zip(r.iter()) {
                *pv = beta * *pv + rv;
            }
            rs_old = rs_new;
        }
    }

    /// Solves each row of `rows` in place (`xs` holds the rows' factors back to back).
    #[inline(always)]
    fn solve_rows_impl<S: Simd>(yty: &[f32], y: &[f32], rows: &[Row], xs: &mut [f32], steps: usize) {
        let f = yty.len().isqrt();
        let mut scratch = Scratch::new(f);
        for (row, x) in rows.iter().zip(xs.chunks_exact_mut(f)) {
            if row.indices.is_empty() {
                x.fill(0.0);
            } else {
                cg_impl::<S>(yty, y, row, x, steps, &mut scratch);
            }
        }
    }

    #[inline(always)]
    fn add_gram_impl<S: Simd>(rows: &[f32], f: usize, g: &mut [f32]) {
        S::add_gram(rows, f, g)
    }

    #[inline(always)]
    fn scores_impl<S: Simd>(user: &[f32], items: &[f32], f: usize, out: &mut [f32]) {
        for (o, y) in out.iter_mut().zip(items.chunks_exact(f)) {
            *o = S::dot(user, y);
        }
    }

    #[inline(always)]
    fn symv_impl<S: Simd>(a: &[f32], x: &[f32], out: &mut [f32]) {
        S::symv(a, x, out)
    }

    // Run-time dispatch: the AVX2 entry points are only called after the CPU was checked.
    macro_rules! dispatch {
        ($(#[$doc:meta])* $name:ident, $fast:ident, $impl:ident, ($($arg:ident: $ty:ty),*)) => {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn $fast($($arg: $ty),*) {
                $impl::<Avx2>($($arg),*)
            }

            $(#[$doc])*
            pub(super) fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                        return unsafe { $fast($($arg),*) };
                    }
                }
                $impl::<Portable>($($arg),*)
            }
        };
    }

    dispatch!(
        /// Re-solves each row's factors in place (warm start from the current values).
        solve_rows, solve_rows_avx2, solve_rows_impl,
        (yty: &[f32], y: &[f32], rows: &[Row], xs: &mut [f32], steps: usize)
    );
    dispatch!(
        /// g += Σ rows yᵀy
        add_gram, add_gram_avx2, add_gram_impl, (rows: &[f32], f: usize, g: &mut [f32])
    );
    dispatch!(
        /// out[j] = user · item_j
        scores, scores_avx2, scores_impl, (user: &[f32], items: &[f32], f: usize, out: &mut [f32])
    );
    dispatch!(
        /// out = A x (A symmetric)
        symv, symv_avx2, symv_impl, (a: &[f32], x: &[f32], out: &mut [f32])
    );

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::rng::SplitMix64;

        fn random(n: usize, rng: &mut SplitMix64) -> Vec<f32> {
            (0..n).map(|_| rng.next_f32() - 0.5).collect()
        }

        fn close(a: &[f32], b: &[f32]) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }

        /// The dispatched (AVX2 here when available) and the portable kernels agree with
        /// naive sums for lengths that exercise every block size and tail.
        #[test]
        fn kernels_agree_with_naive_sums() {
            let mut rng = SplitMix64::new(1);
            for f in [1, 7, 8, 19, 40, 64, 75, 130] {
                let rows = 9;
                let y = random(rows * f, &mut rng);
                let x = random(f, &mut rng);
                let naive_gram: Vec<f32> = (0..f * f).map(|ab| (0..rows).map(|r| y[r * f + ab / f] * y[r * f + ab % f]).sum()).collect();
                let mut g = vec![0f32; f * f];
                add_gram(&y, f, &mut g);
                let mut g_portable = vec![0f32; f * f];
                Portable::add_gram(&y, f, &mut g_portable);
                for a in 0..f {
                    // Only the upper triangle is promised.
                    close(&g[a * f + a..(a + 1) * f], &naive_gram[a * f + a..(a + 1) * f]);
                    close(&g_portable[a * f + a..(a + 1) * f], &naive_gram[a * f + a..(a + 1) * f]);
                }
                let naive_symv: Vec<f32> = (0..f).map(|a| (0..f).map(|b| naive_gram[a * f + b] * x[b]).sum()).collect();
                let mut out = vec![0f32; f];
                symv(&naive_gram, &x, &mut out);
                close(&out, &naive_symv);
                Portable::symv(&naive_gram, &x, &mut out);
                close(&out, &naive_symv);
                let naive_scores: Vec<f32> = (0..rows).map(|r| (0..f).map(|b| y[r * f + b] * x[b]).sum()).collect();
                let mut scores_out = vec![0f32; rows];
                scores(&x, &y, f, &mut scores_out);
                close(&scores_out, &naive_scores);
                scores_impl::<Portable>(&x, &y, f, &mut scores_out);
                close(&scores_out, &naive_scores);

                // One CG solve: both paths give the same answer.
                let confidences = vec![2.0f32, 1.0, 5.0];
                let indices = vec![0u32, 3, 8];
                let row = Row { indices: &indices, confidences: &confidences, regularization: 0.1 };
                let start = random(f, &mut rng);
                let (mut fast, mut portable) = (start.clone(), start);
                solve_rows(&naive_gram, &y, std::slice::from_ref(&row), &mut fast, 3);
                solve_rows_impl::<Portable>(&naive_gram, &y, std::slice::from_ref(&row), &mut portable, 3);
                close(&fast, &portable);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn never() -> bool {
        false
    }

    /// Customers 0..6 like items 0..4 (group A), customers 6..12 like items 4..8 (group B);
    /// each customer misses one item of their group.
    fn planted() -> (SparseRows, Vec<(u32, u32)>) {
        let mut triples = Vec::new();
        let mut held_out = Vec::new();
        for c in 0..12u32 {
            let group = if c < 6 { 0 } else { 4 };
            let missing = group + c % 4;
            for i in group..group + 4 {
                if i == missing {
                    held_out.push((c, i));
                } else {
                    triples.push((c, i, 1.0));
                }
            }
        }
        (SparseRows::from_triples(12, 8, &triples), held_out)
    }

    #[test]
    fn loss_decreases_and_planted_pattern_is_recovered() {
        let (m, held_out) = planted();
        // implicit's settings with a high alpha, the same scaled, and the defaults.
        for (regularization, scale_regularization, alpha) in [(0.01, false, 10.0), (0.01, true, 10.0), (0.1, true, 1.0)] {
            let options = AlsOptions {
                factors: 2, // the planted rank: the model must generalise, not memorise
                regularization,
                scale_regularization,
                alpha,
                iterations: 15,
                ..Default::default()
            };
            let mut losses = Vec::new();
            let model = Als::fit_with_callback(&m, &options, 2, &never, |_, model| losses.push(model.loss(&m))).unwrap();
            for pair in losses.windows(2) {
                assert!(pair[1] <= pair[0] * 1.0001, "loss went up: {losses:?}");
            }
            assert!(losses[losses.len() - 1] < losses[0] * 0.9 || losses[0] < 0.05, "{losses:?}");
            // The held-out item of the customer's own group outscores every item of the other group.
            let mut scores = vec![0.0; 8];
            for &(c, missing) in &held_out {
                model.score_all(model.user_vector(c).unwrap(), &mut scores);
                let other = if c < 6 { 4..8 } else { 0..4 };
                for j in other {
                    assert!(scores[missing as usize] > scores[j], "scaled {scale_regularization}, customer {c}: {scores:?}");
                }
            }
        }
    }

    #[test]
    fn same_seed_same_model_and_threads_do_not_matter() {
        let (m, _) = planted();
        let options = AlsOptions { factors: 3, iterations: 3, ..Default::default() };
        let a = Als::fit(&m, &options, 1, &never).unwrap();
        let b = Als::fit(&m, &options, 3, &never).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rows_without_interactions_get_zero_factors() {
        let m = SparseRows::from_triples(3, 3, &[(0, 0, 1.0), (2, 2, 1.0)]);
        let model = Als::fit(&m, &AlsOptions { factors: 2, iterations: 2, ..Default::default() }, 1, &never).unwrap();
        assert_eq!(model.user_vector(1).unwrap(), [0.0, 0.0]);
        assert_eq!(model.item_vector(1).unwrap(), [0.0, 0.0]);
        assert!(model.user_vector(3).is_none());
    }

    #[test]
    fn options_are_validated() {
        let m = SparseRows::from_triples(1, 1, &[(0, 0, 1.0)]);
        for (options, name) in [
            (AlsOptions { factors: 0, ..Default::default() }, "factors"),
            (AlsOptions { alpha: 0.0, ..Default::default() }, "alpha"),
            (AlsOptions { regularization: -1.0, ..Default::default() }, "regularization"),
            (AlsOptions { iterations: 0, ..Default::default() }, "iterations"),
            (AlsOptions { cg_steps: 0, ..Default::default() }, "cg_steps"),
        ] {
            match Als::fit(&m, &options, 1, &never) {
                Err(RecommendError::InvalidOption { option, .. }) => assert_eq!(option, name),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_cancel_stops_the_fit_inside_an_iteration() {
        let m = crate::recommend::random_rows(20_000, 5);
        let options = AlsOptions { factors: 16, iterations: 50, ..Default::default() };
        for threads in [1, 2] {
            assert_eq!(Als::fit(&m, &options, threads, &|| true), Err(RecommendError::Cancelled));
            // Polled between blocks of rows: on one thread the first half-step alone (20,000
            // customers, blocks of 32) polls 625 times, so the cancel stops it there.
            let polls = Cell::new(0usize);
            let iterations = Cell::new(0usize);
            let later = || {
                polls.set(polls.get() + 1);
                polls.get() > 100
            };
            let fit = Als::fit_with_callback(&m, &options, threads, &later, |_, _| iterations.set(iterations.get() + 1));
            assert_eq!(fit, Err(RecommendError::Cancelled));
            assert_eq!(polls.get(), 101, "no poll after the one that cancelled");
            if threads == 1 {
                assert_eq!(iterations.get(), 0);
            } else {
                // The workers may take many blocks between two polls of the caller.
                assert!(iterations.get() < options.iterations);
            }
        }
    }
}
