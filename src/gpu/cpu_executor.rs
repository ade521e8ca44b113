//! The CPU reference executor: the kernels of `kernels.cu`, compiled by the host C
//! compiler (build.rs, `cpu_executor.c`), run for every thread of a grid one after
//! another. What it computes is what a GPU launch of the same kernel with the same grid
//! computes (up to exp/log/log1p rounding, see `kernels.cu`), so it is the reference the
//! unit tests compare with the Rust scoring code, and what a GPU self-test compares with.
//!
//! Every function checks the lengths and offsets of its inputs before the launch; the C
//! launchers trust them. Nothing here panics on any model or batch: a bad one is an error.

use std::os::raw::c_int;

use crate::error::{CrmError, Result};

use super::kernels::Link;
use super::layout::{as_size, AlsBatch, Batch, FlatTrees, KernelModel, Segments};

extern "C" {
    fn crm_cpu_linear_score(
        grid: u32,
        block: u32,
        x: *const f64,
        rows: i64,
        row_stride: i64,
        column_stride: i64,
        weights: *const f64,
        width: i64,
        intercept: f64,
        link: c_int,
        out: *mut f64,
    ) -> c_int;
    fn crm_cpu_tree_score(
        grid: u32,
        block: u32,
        x: *const f64,
        rows: i64,
        row_stride: i64,
        column_stride: i64,
        width: i64,
        node_feature: *const u32,
        node_threshold: *const f64,
        node_left: *const u32,
        node_right: *const u32,
        node_value: *const f64,
        tree_first_node: *const i64,
        member_first_tree: *const i64,
        member_kind: *const c_int,
        member_base: *const f64,
        n_members: i64,
        link: c_int,
        out: *mut f64,
    ) -> c_int;
    fn crm_cpu_segment_standardise(
        grid: u32,
        block: u32,
        raw: *const f64,
        rows: i64,
        row_stride: i64,
        column_stride: i64,
        features: i64,
        log1p_applies: *const c_int,
        mean: *const f64,
        std: *const f64,
        z: *mut f64,
    ) -> c_int;
    fn crm_cpu_kmeans_assign(
        grid: u32,
        block: u32,
        z: *const f64,
        rows: i64,
        d: i64,
        centroids: *const f64,
        k: i64,
        segment: *mut c_int,
        distance: *mut f64,
    ) -> c_int;
    fn crm_cpu_als_top_k(
        grid: u32,
        block: u32,
        user_factors: *const f32,
        n_users: i64,
        user_rows: *const i64,
        batch: i64,
        item_factors: *const f32,
        n_items: i64,
        f: i64,
        item_eligible: *const u8,
        seen_first: *const i64,
        seen_items: *const u32,
        k: i64,
        top_items: *mut c_int,
        top_scores: *mut f32,
        top_count: *mut c_int,
    ) -> c_int;
}

/// A one-dimensional launch: `blocks` blocks of `threads` threads. Kernels loop over their
/// rows with the grid's stride, so any grid gives the same result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub blocks: u32,
    pub threads: u32,
}

impl Grid {
    /// One thread per item in blocks of `threads` (at least one block), at most
    /// `max_blocks` blocks (the stride loop covers the rest).
    pub fn covering(items: usize, threads: u32, max_blocks: u32) -> Grid {
        let threads = threads.max(1);
        let blocks = items.div_ceil(threads as usize).clamp(1, max_blocks.max(1) as usize) as u32;
        Grid { blocks, threads }
    }
}

fn launched(code: c_int, kernel: &str, grid: Grid) -> Result<()> {
    match code {
        0 => Ok(()),
        _ => Err(CrmError::InvalidArgument(format!("{kernel}: a launch of {} blocks of {} threads is not valid", grid.blocks, grid.threads))),
    }
}

/// `crm_linear_score`: link(intercept + w·x) per row.
pub fn linear_score(grid: Grid, batch: &Batch, weights: &[f64], intercept: f64, link: Link) -> Result<Vec<f64>> {
    if weights.len() != batch.width {
        return Err(CrmError::InvalidArgument(format!("{} weights for rows of {} values", weights.len(), batch.width)));
    }
    let mut out = vec![0.0; batch.rows];
    let (row_stride, column_stride) = batch.strides();
    // SAFETY: `Batch::new` checked rows × width values are there, read at the strides it
    // gives; `weights` holds width values; `out` one per row.
    let code = unsafe {
        crm_cpu_linear_score(
            grid.blocks,
            grid.threads,
            batch.values.as_ptr(),
            batch.rows as i64,
            row_stride,
            column_stride,
            weights.as_ptr(),
            batch.width as i64,
            intercept,
            link as c_int,
            out.as_mut_ptr(),
        )
    };
    launched(code, "crm_linear_score", grid)?;
    Ok(out)
}

/// `crm_tree_score`: link(mean over members of each member's value) per row.
pub fn tree_score(grid: Grid, batch: &Batch, trees: &FlatTrees, link: Link) -> Result<Vec<f64>> {
    trees.check()?;
    if trees.width != batch.width {
        return Err(CrmError::InvalidArgument(format!("trees over {} encoded columns, rows of {}", trees.width, batch.width)));
    }
    let mut out = vec![0.0; batch.rows];
    let (row_stride, column_stride) = batch.strides();
    // SAFETY: `check` proved every node, tree and member array read in bounds (offsets
    // cover their arrays, one kind and base per member); the kernel checks each child and
    // feature before it follows it; the batch as in `linear_score`.
    let code = unsafe {
        crm_cpu_tree_score(
            grid.blocks,
            grid.threads,
            batch.values.as_ptr(),
            batch.rows as i64,
            row_stride,
            column_stride,
            batch.width as i64,
            trees.node_feature.as_ptr(),
            trees.node_threshold.as_ptr(),
            trees.node_left.as_ptr(),
            trees.node_right.as_ptr(),
            trees.node_value.as_ptr(),
            trees.tree_first_node.as_ptr(),
            trees.member_first_tree.as_ptr(),
            trees.member_kind.as_ptr(),
            trees.member_base.as_ptr(),
            trees.members() as i64,
            link as c_int,
            out.as_mut_ptr(),
        )
    };
    launched(code, "crm_tree_score", grid)?;
    Ok(out)
}

/// A classifier's or regressor's kernel, whichever `model` needs.
pub fn score(grid: Grid, batch: &Batch, model: &KernelModel, link: Link) -> Result<Vec<f64>> {
    match model {
        KernelModel::Linear { weights, intercept } => linear_score(grid, batch, weights, *intercept, link),
        KernelModel::Trees(trees) => tree_score(grid, batch, trees, link),
    }
}

/// `crm_segment_standardise`: raw feature values (NaN = NULL) to the model's standardised
/// units, row-major, NaN where the model cannot place a value.
pub fn segment_standardise(grid: Grid, raw: &Batch, segments: &Segments) -> Result<Vec<f64>> {
    segments.check()?;
    if raw.width != segments.features() {
        return Err(CrmError::InvalidArgument(format!("rows of {} values for {} segment features", raw.width, segments.features())));
    }
    let mut z = vec![0.0; raw.values.len()];
    let (row_stride, column_stride) = raw.strides();
    // SAFETY: `check` proved one log1p flag, mean and std per feature; the batch as in
    // `linear_score`; `z` holds rows × features values.
    let code = unsafe {
        crm_cpu_segment_standardise(
            grid.blocks,
            grid.threads,
            raw.values.as_ptr(),
            raw.rows as i64,
            row_stride,
            column_stride,
            raw.width as i64,
            segments.log1p.as_ptr(),
            segments.mean.as_ptr(),
            segments.std.as_ptr(),
            z.as_mut_ptr(),
        )
    };
    launched(code, "crm_segment_standardise", grid)?;
    Ok(z)
}

/// `crm_kmeans_assign` on standardised rows (row-major, NaN = missing): per row the
/// segment (1-based; 0 when every value is missing) and the distance to its centre.
pub fn kmeans_assign(grid: Grid, z: &[f64], rows: usize, segments: &Segments) -> Result<(Vec<i32>, Vec<f64>)> {
    segments.check()?;
    let d = segments.features();
    if rows.checked_mul(d) != Some(z.len()) {
        return Err(CrmError::InvalidArgument(format!("{} standardised values for {rows} rows of {d} features", z.len())));
    }
    let mut segment = vec![0 as c_int; rows];
    let mut distance = vec![0.0; rows];
    // SAFETY: z holds rows × d values, the centroids k × d (`check`), the outputs one per row.
    let code = unsafe {
        crm_cpu_kmeans_assign(
            grid.blocks,
            grid.threads,
            z.as_ptr(),
            as_size(rows, "the row count")?,
            d as i64,
            segments.centroids.as_ptr(),
            segments.k as i64,
            segment.as_mut_ptr(),
            distance.as_mut_ptr(),
        )
    };
    launched(code, "crm_kmeans_assign", grid)?;
    Ok((segment, distance))
}

/// Both segment kernels: `SegmentModel::assign` for every raw row (segment numbered from
/// 1 and distance; None when every value is missing).
pub fn assign_segments(grid: Grid, raw: &Batch, segments: &Segments) -> Result<Vec<Option<(i32, f64)>>> {
    let z = segment_standardise(grid, raw, segments)?;
    let (segment, distance) = kmeans_assign(grid, &z, raw.rows, segments)?;
    Ok(segment.into_iter().zip(distance).map(|(s, d)| (s > 0).then_some((s, d))).collect())
}

/// The kernel's lists: user b's are `items/scores[b * k ..][.. counts[b]]`, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopLists {
    pub k: usize,
    pub items: Vec<i32>,
    pub scores: Vec<f32>,
    pub counts: Vec<i32>,
}

impl TopLists {
    /// User b's list as `Model::recommend` returns it; empty for a user out of range.
    pub fn list(&self, b: usize) -> Vec<(u32, f32)> {
        let count = self.counts.get(b).map_or(0, |&c| c.clamp(0, self.k as i32) as usize);
        let at = b.saturating_mul(self.k);
        match (self.items.get(at..at + count), self.scores.get(at..at + count)) {
            (Some(items), Some(scores)) => items.iter().zip(scores).map(|(&j, &s)| (j as u32, s)).collect(),
            _ => Vec::new(),
        }
    }
}

/// `crm_als_top_k` over the batch's customers.
pub fn als_top_k(grid: Grid, batch: &AlsBatch) -> Result<TopLists> {
    batch.check()?;
    let (users, k, f) = (batch.users(), batch.k, batch.factors);
    let n_items = batch.item_eligible.len();
    let user_rows: Vec<i64> = (0..users as i64).collect();
    let mut items = vec![0 as c_int; users * k];
    let mut scores = vec![0f32; users * k];
    let mut counts = vec![0 as c_int; users];
    // SAFETY: `check` proved users × f user factors, n_items × f item factors and one
    // eligibility flag per item, seen lists whose offsets cover their items, k at most
    // the catalogue and users × k within an i64; user_rows are 0..users; the outputs hold
    // users × k entries and one count per user.
    let code = unsafe {
        crm_cpu_als_top_k(
            grid.blocks,
            grid.threads,
            batch.user_factors.as_ptr(),
            users as i64,
            user_rows.as_ptr(),
            users as i64,
            batch.item_factors.as_ptr(),
            n_items as i64,
            f as i64,
            batch.item_eligible.as_ptr(),
            batch.seen.first.as_ptr(),
            batch.seen.items.as_ptr(),
            k as i64,
            items.as_mut_ptr(),
            scores.as_mut_ptr(),
            counts.as_mut_ptr(),
        )
    };
    launched(code, "crm_als_top_k", grid)?;
    Ok(TopLists { k, items, scores, counts })
}

/// `recommend::Model::recommend_many` (no candidate list) with the ALS scoring on this
/// executor with `grid` (see `executor::recommend_als`).
pub fn recommend_als(
    grid: Grid,
    model: &crate::recommend::Model,
    customers: &[Option<u32>],
    k: usize,
    exclude_seen: bool,
    exclude: &[u32],
) -> Result<Vec<Vec<(u32, f32)>>> {
    super::executor::recommend_als_with(|batch| als_top_k(grid, batch), model, customers, k, exclude_seen, exclude)
}
