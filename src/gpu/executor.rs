//! Executors: where the kernels of `kernels.cu` run, behind one interface, so that the
//! host side (chunking, staging, the switch from the CPU to the device at a batch size,
//! the self-test) is one piece of code whichever runs the kernels.
//!
//! - `ReferenceExecutor`: the CPU reference executor (`cpu_executor`), synchronously.
//! - `cuda::CudaExecutor`: a CUDA device through cudarc, two chunks in flight on two
//!   streams so a chunk's transfers overlap the previous chunk's kernel.
//! - `FaultyExecutor` (emulation only): the reference executor with one kernel made
//!   wrong, so that the self-test's failure path runs on a machine with no GPU.
//!
//! `RowScorer` is the host side of `crm.score_batch`: it takes encoded rows as the
//! source yields them, keeps them on the CPU path until the batch is large enough for the
//! device (`min_rows`), then hands them to the device in chunks of `chunk_rows`. Memory
//! held is bounded by those two numbers, not by the source.

use crate::error::{CrmError, Result};

use super::cpu_executor::{self, Grid, TopLists};
use super::kernels::Link;
use super::layout::{AlsBatch, Batch, KernelModel, Order, Segments};

/// Where the kernels run.
pub trait Executor {
    /// What runs the kernels, for `crm.gpu_info()` and messages.
    fn describe(&self) -> String;

    /// A scorer of chunks of encoded rows with `model` (its arrays are staged once).
    fn scorer<'a>(&'a self, model: &'a KernelModel, link: Link, width: usize, chunk_rows: usize) -> Result<Box<dyn ChunkScorer + 'a>>;

    /// `segment::model::SegmentModel::assign` for every raw row (NaN = NULL).
    fn assign_segments(&self, raw: &Batch, segments: &Segments) -> Result<Vec<Option<(i32, f64)>>>;

    /// Per-customer top-k lists of an ALS batch.
    fn als_top_k(&self, batch: &AlsBatch) -> Result<TopLists>;

    /// Seconds one scoring kernel takes over `x` (row-major) already on the device,
    /// transfers excluded: the kernel's own throughput, for gpu-check. None where the
    /// executor has no separate device memory.
    fn kernel_seconds(&self, _model: &KernelModel, _link: Link, _x: &[f64], _width: usize) -> Result<Option<f64>> {
        Ok(None)
    }
}

/// Scores chunks of encoded rows, possibly asynchronously: results (`T`: a score, a
/// segment) come back in the order the rows went in, some at a later `submit`, the rest
/// at `finish`.
pub trait ChunkScorer<T = f64> {
    /// Rows a chunk may hold.
    fn chunk_rows(&self) -> usize;

    /// Starts scoring `rows` (row-major, a whole number of rows, at most `chunk_rows`);
    /// appends to `out` the scores of earlier chunks that are done.
    fn submit(&mut self, rows: &[f64], out: &mut Vec<T>) -> Result<()>;

    /// Waits for every submitted chunk and appends their results to `out`.
    fn finish(&mut self, out: &mut Vec<T>) -> Result<()>;
}

/// Segment assignment of raw rows (NaN = NULL) in chunks, on an executor.
pub struct SegmentChunks<'a> {
    pub executor: &'a dyn Executor,
    pub segments: &'a Segments,
    pub chunk_rows: usize,
}

impl ChunkScorer<Option<(i32, f64)>> for SegmentChunks<'_> {
    fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    fn submit(&mut self, rows: &[f64], out: &mut Vec<Option<(i32, f64)>>) -> Result<()> {
        let width = self.segments.features();
        let n = chunk_row_count(rows, width, self.chunk_rows)?;
        out.extend(self.executor.assign_segments(&Batch::new(rows, n, width, Order::RowMajor)?, self.segments)?);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<Option<(i32, f64)>>) -> Result<()> {
        Ok(())
    }
}

/// Scores every row of `x` (row-major, `width` values a row) through `executor`, in
/// chunks of `chunk_rows`.
pub fn score_rows(executor: &dyn Executor, model: &KernelModel, link: Link, x: &[f64], width: usize, chunk_rows: usize) -> Result<Vec<f64>> {
    let mut scorer = executor.scorer(model, link, width, chunk_rows)?;
    let step = scorer.chunk_rows().max(1) * width.max(1);
    let mut out = Vec::with_capacity(x.len() / width.max(1));
    for chunk in x.chunks(step) {
        scorer.submit(chunk, &mut out)?;
    }
    scorer.finish(&mut out)?;
    Ok(out)
}

/// A chunk's row count, or an error when `rows` is not whole rows or more than a chunk.
pub(crate) fn chunk_row_count(rows: &[f64], width: usize, chunk_rows: usize) -> Result<usize> {
    let n = rows.len().checked_div(width).unwrap_or(0);
    if width == 0 || n * width != rows.len() || n > chunk_rows {
        return Err(CrmError::InvalidArgument(format!(
            "a chunk of {} values is not a whole number of rows of {width} values, at most {chunk_rows} rows",
            rows.len()
        )));
    }
    Ok(n)
}

/// The CPU reference executor (`cpu_executor`): every kernel's threads one after another.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceExecutor {
    /// Launch shape: threads per block and at most this many blocks (the kernels' grid
    /// stride loops cover the rest), as a GPU launch would be shaped.
    pub threads: u32,
    pub max_blocks: u32,
}

impl Default for ReferenceExecutor {
    fn default() -> ReferenceExecutor {
        ReferenceExecutor { threads: 128, max_blocks: 64 }
    }
}

impl ReferenceExecutor {
    fn grid(&self, items: usize) -> Grid {
        Grid::covering(items, self.threads, self.max_blocks)
    }
}

struct ReferenceScorer<'a> {
    executor: ReferenceExecutor,
    model: &'a KernelModel,
    link: Link,
    width: usize,
    chunk_rows: usize,
}

impl ChunkScorer for ReferenceScorer<'_> {
    fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    fn submit(&mut self, rows: &[f64], out: &mut Vec<f64>) -> Result<()> {
        let n = chunk_row_count(rows, self.width, self.chunk_rows)?;
        let batch = Batch::new(rows, n, self.width, Order::RowMajor)?;
        out.extend(cpu_executor::score(self.executor.grid(n), &batch, self.model, self.link)?);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<f64>) -> Result<()> {
        Ok(())
    }
}

impl Executor for ReferenceExecutor {
    fn describe(&self) -> String {
        "the CPU reference executor (kernels.cu compiled for the host)".into()
    }

    fn scorer<'a>(&'a self, model: &'a KernelModel, link: Link, width: usize, chunk_rows: usize) -> Result<Box<dyn ChunkScorer + 'a>> {
        if chunk_rows == 0 {
            return Err(CrmError::InvalidArgument("a chunk must hold at least one row".into()));
        }
        Ok(Box::new(ReferenceScorer { executor: *self, model, link, width, chunk_rows }))
    }

    fn assign_segments(&self, raw: &Batch, segments: &Segments) -> Result<Vec<Option<(i32, f64)>>> {
        cpu_executor::assign_segments(self.grid(raw.rows), raw, segments)
    }

    fn als_top_k(&self, batch: &AlsBatch) -> Result<TopLists> {
        cpu_executor::als_top_k(self.grid(batch.users()), batch)
    }
}

/// The reference executor with one kernel wrong (`crm.gpu_emulation = 'faulty'`): tree
/// scores are off by one part in a thousand. It exists so the self-test's failure path —
/// the WARNING with `auto`, the ERROR with `cuda` — runs in tests on machines with no GPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultyExecutor {
    pub inner: ReferenceExecutor,
}

struct FaultyScorer<'a> {
    inner: Box<dyn ChunkScorer + 'a>,
    trees: bool,
}

impl FaultyScorer<'_> {
    fn spoil(&self, out: &mut [f64]) {
        if self.trees {
            out.iter_mut().for_each(|s| *s *= 1.001);
        }
    }
}

impl ChunkScorer for FaultyScorer<'_> {
    fn chunk_rows(&self) -> usize {
        self.inner.chunk_rows()
    }

    fn submit(&mut self, rows: &[f64], out: &mut Vec<f64>) -> Result<()> {
        let start = out.len();
        self.inner.submit(rows, out)?;
        self.spoil(&mut out[start..]);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<f64>) -> Result<()> {
        let start = out.len();
        self.inner.finish(out)?;
        self.spoil(&mut out[start..]);
        Ok(())
    }
}

impl Executor for FaultyExecutor {
    fn describe(&self) -> String {
        "a deliberately faulty emulation (the reference executor with wrong tree scores)".into()
    }

    fn scorer<'a>(&'a self, model: &'a KernelModel, link: Link, width: usize, chunk_rows: usize) -> Result<Box<dyn ChunkScorer + 'a>> {
        let trees = matches!(model, KernelModel::Trees(_));
        Ok(Box::new(FaultyScorer { inner: self.inner.scorer(model, link, width, chunk_rows)?, trees }))
    }

    fn assign_segments(&self, raw: &Batch, segments: &Segments) -> Result<Vec<Option<(i32, f64)>>> {
        self.inner.assign_segments(raw, segments)
    }

    fn als_top_k(&self, batch: &AlsBatch) -> Result<TopLists> {
        self.inner.als_top_k(batch)
    }
}

/// `recommend::Model::recommend_many` (no candidate list) with the ALS top-k lists from
/// `top_k`; customers the kernel does not serve get the model's own (popular) fallback.
pub fn recommend_als_with(
    top_k: impl Fn(&AlsBatch) -> Result<TopLists>,
    model: &crate::recommend::Model,
    customers: &[Option<u32>],
    k: usize,
    exclude_seen: bool,
    exclude: &[u32],
) -> Result<Vec<Vec<(u32, f32)>>> {
    let Some(batch) = AlsBatch::from_model(model, customers, k, exclude_seen, exclude)? else {
        return Err(CrmError::Unsupported("only ALS recommenders have a GPU kernel".into()));
    };
    let lists = top_k(&batch)?;
    Ok(customers
        .iter()
        .zip(&batch.slots)
        .map(|(&customer, slot)| match slot {
            Some(b) => lists.list(*b),
            None => model.recommend(customer, k, exclude_seen, exclude, None),
        })
        .collect())
}

/// `recommend_als_with` on `executor`, `chunk` customers at a time (device memory is
/// bounded by the chunk, not by the customer count).
pub fn recommend_als(
    executor: &dyn Executor,
    model: &crate::recommend::Model,
    customers: &[Option<u32>],
    k: usize,
    exclude_seen: bool,
    exclude: &[u32],
    chunk: usize,
) -> Result<Vec<Vec<(u32, f32)>>> {
    let mut lists = Vec::with_capacity(customers.len());
    for part in customers.chunks(chunk.max(1)) {
        lists.extend(recommend_als_with(|batch| executor.als_top_k(batch), model, part, k, exclude_seen, exclude)?);
    }
    Ok(lists)
}

/// Opens the device when the batch has grown large enough: `Ok(None)` keeps the CPU.
pub type OpenDevice<'e, T = f64> = Box<dyn FnOnce() -> Result<Option<Box<dyn ChunkScorer<T> + 'e>>> + 'e>;

/// The host side of a batch scored row by row as a source yields it: on the CPU (`cpu`,
/// the Rust scoring path) until `min_rows` rows have come, then — if `open_device` gives
/// a scorer — on the device in chunks. A batch that ends below `min_rows` never touches
/// the device, so short batches pay nothing for it.
pub struct RowScorer<'e, T, C: Fn(&[f64]) -> T> {
    cpu: C,
    width: usize,
    min_rows: usize,
    open_device: Option<OpenDevice<'e, T>>,
    device: Option<Box<dyn ChunkScorer<T> + 'e>>,
    /// Rows not scored yet: those waiting for the decision, then a chunk being filled.
    pending: Vec<f64>,
    decided: bool,
    scores: Vec<T>,
}

impl<'e, T, C: Fn(&[f64]) -> T> RowScorer<'e, T, C> {
    /// `min_rows = 0` decides at the first row (`crm.device = 'cuda'`); `open_device =
    /// None` is the CPU throughout.
    pub fn new(cpu: C, width: usize, min_rows: usize, open_device: Option<OpenDevice<'e, T>>) -> RowScorer<'e, T, C> {
        // Rows of no values (a model without features) have nothing to send anywhere.
        let open_device = open_device.filter(|_| width > 0);
        let decided = open_device.is_none();
        RowScorer { cpu, width, min_rows, open_device, device: None, pending: Vec::new(), decided, scores: Vec::new() }
    }

    /// Whether the rows go to the device (known once decided).
    pub fn on_device(&self) -> bool {
        self.device.is_some()
    }

    fn pending_rows(&self) -> usize {
        self.pending.len().checked_div(self.width).unwrap_or(0)
    }

    /// One encoded row (`width` values).
    pub fn push(&mut self, row: &[f64]) -> Result<()> {
        if row.len() != self.width {
            return Err(CrmError::InvalidArgument(format!("a row of {} values for a model of {}", row.len(), self.width)));
        }
        if self.decided && self.device.is_none() {
            self.scores.push((self.cpu)(row));
            return Ok(());
        }
        self.pending.extend_from_slice(row);
        if !self.decided && self.pending_rows() >= self.min_rows {
            self.decide()?;
        }
        if let Some(device) = self.device.as_mut() {
            if self.pending.len() / self.width.max(1) >= device.chunk_rows() {
                device.submit(&self.pending, &mut self.scores)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn decide(&mut self) -> Result<()> {
        self.decided = true;
        self.device = match self.open_device.take() {
            Some(open) => open()?,
            None => None,
        };
        match self.device.as_mut() {
            // The rows held for the decision go in whole chunks; a partial one stays
            // pending and fills up.
            Some(device) => {
                let step = device.chunk_rows().max(1) * self.width.max(1);
                let whole = self.pending.len() / step * step;
                for chunk in self.pending[..whole].chunks(step) {
                    device.submit(chunk, &mut self.scores)?;
                }
                self.pending.drain(..whole);
            }
            None => self.score_pending_on_cpu(),
        }
        Ok(())
    }

    fn score_pending_on_cpu(&mut self) {
        let width = self.width.max(1);
        let cpu = &self.cpu;
        self.scores.extend(self.pending.chunks(width).map(cpu));
        self.pending.clear();
    }

    /// Each of `keys` (one per pushed row, in order) beside its row's result; a batch that
    /// ran on the device is counted in `crm.gpu_info()`.
    pub fn finish_keyed<K>(self, keys: Vec<K>) -> Result<Vec<(K, T)>> {
        let on_device = self.on_device();
        let results = self.finish()?;
        if on_device {
            super::record_device_batch(results.len());
        }
        if results.len() != keys.len() {
            return Err(CrmError::Device(format!("{} results came back for {} rows", results.len(), keys.len())));
        }
        Ok(keys.into_iter().zip(results).collect())
    }

    /// Every row's result, in the order the rows came.
    pub fn finish(mut self) -> Result<Vec<T>> {
        match self.device.as_mut() {
            Some(device) => {
                if !self.pending.is_empty() {
                    device.submit(&self.pending, &mut self.scores)?;
                    self.pending.clear();
                }
                device.finish(&mut self.scores)?;
            }
            // Ended below min_rows (or on the CPU throughout).
            None => self.score_pending_on_cpu(),
        }
        Ok(self.scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::selftest::{random_rows, random_tree};
    use crate::rng::SplitMix64;
    use std::cell::Cell;

    fn tree_model(width: usize) -> KernelModel {
        let mut rng = SplitMix64::new(21);
        let mut flat = crate::gpu::layout::FlatTrees::new(width);
        let trees: Vec<_> = (0..12).map(|_| random_tree(&mut rng, width, 31)).collect();
        flat.push_member(crate::gpu::kernels::MemberKind::Sum, -0.2, &trees).unwrap();
        KernelModel::Trees(flat)
    }

    #[test]
    fn chunked_scoring_equals_one_batch_whatever_the_chunk() {
        let width = 5;
        let model = tree_model(width);
        let x = random_rows(&mut SplitMix64::new(22), 1001, width);
        let reference = ReferenceExecutor::default();
        let whole = score_rows(&reference, &model, Link::Sigmoid, &x, width, 1001).unwrap();
        assert_eq!(whole.len(), 1001);
        for chunk in [1, 2, 97, 1000, 1001, 5000] {
            let chunked = score_rows(&reference, &model, Link::Sigmoid, &x, width, chunk).unwrap();
            assert_eq!(chunked.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "chunk {chunk}");
        }
        let mut scorer = reference.scorer(&model, Link::Sigmoid, width, 10).unwrap();
        let mut out = Vec::new();
        assert!(scorer.submit(&x[..11 * width], &mut out).is_err(), "more rows than a chunk");
        assert!(scorer.submit(&x[..7], &mut out).is_err(), "not whole rows");
        assert!(reference.scorer(&model, Link::Sigmoid, width, 0).is_err());
    }

    /// Rows through a RowScorer with the reference executor as the device: the scores of
    /// the Rust-side closure and the device agree, and the device is opened only at
    /// `min_rows`.
    fn run_row_scorer(rows: usize, min_rows: usize, chunk: usize, offer_device: bool) -> (Vec<f64>, bool, bool) {
        let width = 4;
        let model = tree_model(width);
        let x = random_rows(&mut SplitMix64::new(23), rows, width);
        let reference = ReferenceExecutor::default();
        let cpu = |row: &[f64]| score_rows(&reference, &model, Link::Sigmoid, row, width, 1).unwrap()[0];
        let opened = Cell::new(false);
        let open: OpenDevice<'_> = Box::new(|| {
            opened.set(true);
            Ok(if offer_device { Some(reference.scorer(&model, Link::Sigmoid, width, chunk)?) } else { None })
        });
        let mut scorer = RowScorer::new(cpu, width, min_rows, Some(open));
        for row in x.chunks_exact(width) {
            scorer.push(row).unwrap();
        }
        let on_device = scorer.on_device();
        let scores = scorer.finish().unwrap();
        let want = score_rows(&reference, &model, Link::Sigmoid, &x, width, rows.max(1)).unwrap();
        assert_eq!(scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        (scores, opened.get(), on_device)
    }

    #[test]
    fn a_row_scorer_moves_to_the_device_only_at_min_rows_and_keeps_the_order() {
        // below the threshold: the device is never opened
        let (scores, opened, on_device) = run_row_scorer(99, 100, 16, true);
        assert_eq!(scores.len(), 99);
        assert!(!opened && !on_device);
        // at and above it, with chunks that do and do not divide the rows
        for (rows, min_rows, chunk) in [(100, 100, 16), (1000, 100, 16), (1000, 0, 7), (1000, 1, 1000), (1000, 999, 3), (0, 0, 8)] {
            let (scores, opened, on_device) = run_row_scorer(rows, min_rows, chunk, true);
            assert_eq!(scores.len(), rows);
            assert_eq!(opened, rows > 0 && rows >= min_rows, "rows {rows} min {min_rows}");
            assert_eq!(on_device, opened);
        }
        // the device declines (no GPU, failed self-test): the CPU scores everything
        let (scores, opened, on_device) = run_row_scorer(500, 100, 16, false);
        assert_eq!(scores.len(), 500);
        assert!(opened && !on_device);
    }

    #[test]
    fn a_row_of_the_wrong_width_is_an_error() {
        let mut scorer = RowScorer::new(|_: &[f64]| 0.0, 3, 10, None);
        assert!(scorer.push(&[1.0, 2.0]).is_err());
        scorer.push(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(scorer.finish().unwrap(), vec![0.0]);
    }
}
