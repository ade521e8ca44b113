//! The CUDA executor: the kernels of `kernels.cu`, compiled by NVRTC at run time for the
//! device's architecture, launched through cudarc (driver loaded at run time).
//!
//! Nothing here runs on a machine without a GPU: `open` is only called once the probe has
//! found a device, and everything this file does is then checked against the CPU
//! reference executor by the self-test (`selftest`) before any query uses it. So the only
//! code in the GPU path that CI cannot run is this file's calls into the driver; the
//! kernels (CPU executor and NVRTC), the layouts, the chunking and the decision of where a
//! batch runs are all run by the CPU tests.
//!
//! Scoring keeps two chunks in flight, each on its own stream with its own pinned host
//! buffers and device buffers: while chunk c's kernel runs, chunk c+1 is being encoded
//! on the host and copied in, and chunk c−1's scores are copied out.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PinnedHostSlice, PushKernelArg, ValidAsZeroBits};

use crate::error::{CrmError, Result};

use super::cpu_executor::{Grid, TopLists};
use super::executor::{chunk_row_count, ChunkScorer, Executor};
use super::kernels::{self, Link};
use super::layout::{as_size, AlsBatch, Batch, FlatTrees, KernelModel, Segments};

fn driver<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> CrmError + '_ {
    move |e| CrmError::Device(format!("CUDA {what} failed: {e:?}"))
}

/// Threads per block of every launch; the kernels loop with the grid's stride, so the
/// grid is capped at a few blocks per multiprocessor.
const THREADS: u32 = 256;

/// The compiled kernels on device 0 of this backend.
pub struct CudaExecutor {
    ctx: Arc<CudaContext>,
    /// Kept so the functions' module stays loaded.
    _module: Arc<CudaModule>,
    linear: CudaFunction,
    trees: CudaFunction,
    standardise: CudaFunction,
    kmeans: CudaFunction,
    als: CudaFunction,
    max_blocks: u32,
    describe: String,
}

/// The NVRTC architecture for a compute capability: PTX for the newest supported virtual
/// architecture not above the device's (the driver finishes it for the device).
pub fn architecture(major: i32, minor: i32) -> Option<&'static str> {
    match (major, minor) {
        (m, _) if m >= 9 => Some("compute_90"),
        (8, _) => Some("compute_80"),
        _ => None,
    }
}

impl CudaExecutor {
    /// Compiles the kernels for device 0 and loads them. Called once per backend, after
    /// the probe found a device.
    pub fn open() -> Result<CudaExecutor> {
        let ctx = CudaContext::new(0).map_err(driver("context creation on device 0"))?;
        let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
        let arch = architecture(major, minor)
            .ok_or_else(|| CrmError::Unsupported(format!("the GPU has compute capability {major}.{minor}; pg_crm's kernels need 8.0 (Ampere) or newer")))?;
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(kernels::SOURCE, kernels::nvrtc_options(arch))
            .map_err(|e| CrmError::Device(format!("NVRTC could not compile the kernels for {arch}: {e:?}")))?;
        let module = ctx.load_module(ptx).map_err(driver("loading the kernels"))?;
        let function = |name: &str| module.load_function(name).map_err(|e| CrmError::Device(format!("CUDA kernel {name} not found: {e:?}")));
        let multiprocessors = ctx
            .attribute(cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(driver("reading the multiprocessor count"))?;
        let name = ctx.name().unwrap_or_else(|_| "an unnamed device".into());
        Ok(CudaExecutor {
            linear: function("crm_linear_score")?,
            trees: function("crm_tree_score")?,
            standardise: function("crm_segment_standardise")?,
            kmeans: function("crm_kmeans_assign")?,
            als: function("crm_als_top_k")?,
            max_blocks: (multiprocessors.max(1) as u32).saturating_mul(8),
            describe: format!("CUDA device 0: {name}, compute capability {major}.{minor}, kernels built for {arch}"),
            _module: module,
            ctx,
        })
    }

    /// Launches the model's scoring kernel on `slot`'s stream over its staged rows (`rows`
    /// rows of `width` values, row after row) into its device output.
    fn launch_scoring(&self, model: &DeviceModel, slot: &mut Slot, rows: usize, width: usize, link: Link) -> Result<()> {
        let (rows_arg, row_stride, column_stride, width_arg, link) = (rows as i64, width as i64, 1i64, width as i64, link as i32);
        let config = self.config(rows);
        let launched = match model {
            DeviceModel::Linear { weights, intercept } => {
                let mut launch = slot.stream.launch_builder(&self.linear);
                launch.arg(&slot.device_in).arg(&rows_arg).arg(&row_stride).arg(&column_stride).arg(weights).arg(&width_arg).arg(intercept).arg(&link);
                launch.arg(&mut slot.device_out);
                // SAFETY: the arguments are crm_linear_score's, in order and of its types;
                // the input holds chunk capacity × width values, rows × width read, the
                // weights `width` (checked when the scorer was made), the output
                // `capacity` ≥ rows.
                unsafe { launch.launch(config) }
            }
            DeviceModel::Trees(trees) => {
                let DeviceTrees { feature, threshold, left, right, value, tree_first_node, member_first_tree, member_kind, member_base, members } =
                    trees.as_ref();
                let mut launch = slot.stream.launch_builder(&self.trees);
                launch.arg(&slot.device_in).arg(&rows_arg).arg(&row_stride).arg(&column_stride).arg(&width_arg);
                launch.arg(feature).arg(threshold).arg(left).arg(right).arg(value).arg(tree_first_node).arg(member_first_tree).arg(member_kind);
                launch.arg(member_base).arg(members).arg(&link).arg(&mut slot.device_out);
                // SAFETY: crm_tree_score's arguments, in order and of its types; the tree
                // arrays passed `FlatTrees::check` before upload; the rows as above.
                unsafe { launch.launch(config) }
            }
        };
        launched.map(|_| ()).map_err(driver("a scoring kernel launch"))
    }

    /// A scorer with the model on the device and two slots (see `Executor::scorer`).
    fn open_scorer<'a>(&'a self, model: &KernelModel, link: Link, width: usize, chunk_rows: usize) -> Result<CudaScorer<'a>> {
        if chunk_rows == 0 || width == 0 {
            return Err(CrmError::InvalidArgument("a chunk must hold at least one row of at least one value".into()));
        }
        let values = chunk_rows.checked_mul(width).ok_or_else(|| CrmError::OutOfMemory(format!("chunks of {chunk_rows} rows of {width} values")))?;
        as_size(values, "the chunk size")?;
        let setup = self.ctx.new_stream().map_err(driver("stream creation"))?;
        let model = match model {
            KernelModel::Linear { weights, .. } if weights.len() != width => {
                return Err(CrmError::InvalidArgument(format!("{} weights for rows of {width} values", weights.len())));
            }
            KernelModel::Linear { weights, intercept } => DeviceModel::Linear { weights: upload(&setup, weights)?, intercept: *intercept },
            KernelModel::Trees(trees) if trees.width != width => {
                return Err(CrmError::InvalidArgument(format!("trees over {} encoded columns, rows of {width}", trees.width)));
            }
            KernelModel::Trees(trees) => upload_trees(&setup, trees)?,
        };
        // The model is on the device before any chunk's kernel reads it.
        setup.synchronize().map_err(driver("the model upload"))?;
        let mut slots = Vec::with_capacity(2);
        for _ in 0..2 {
            let stream = self.ctx.new_stream().map_err(driver("stream creation"))?;
            slots.push(Slot {
                host_in: pinned(&self.ctx, values, true)?,
                device_in: zeros(&stream, values)?,
                device_out: zeros(&stream, chunk_rows)?,
                host_out: pinned(&self.ctx, chunk_rows, false)?,
                stream,
                in_flight: None,
            });
        }
        Ok(CudaScorer { executor: self, model, link, width, chunk_rows, slots, order: Default::default(), next: 0 })
    }

    fn config(&self, items: usize) -> LaunchConfig {
        let grid = Grid::covering(items, THREADS, self.max_blocks);
        LaunchConfig { grid_dim: (grid.blocks, 1, 1), block_dim: (grid.threads, 1, 1), shared_mem_bytes: 0 }
    }
}

/// A device copy of `data`; an empty array becomes one default element (a zero-length
/// allocation is not a valid device pointer, and the kernels never read past the
/// lengths they are given).
fn upload<T: DeviceRepr + Default + Clone>(stream: &Arc<CudaStream>, data: &[T]) -> Result<CudaSlice<T>> {
    let padded;
    let data = if data.is_empty() {
        padded = vec![T::default()];
        &padded[..]
    } else {
        data
    };
    stream.clone_htod(data).map_err(driver("a copy to the device"))
}

fn zeros<T: DeviceRepr + ValidAsZeroBits>(stream: &Arc<CudaStream>, n: usize) -> Result<CudaSlice<T>> {
    stream.alloc_zeros::<T>(n.max(1)).map_err(driver("a device allocation"))
}

fn pinned<T: DeviceRepr + ValidAsZeroBits>(ctx: &Arc<CudaContext>, n: usize, write_combined: bool) -> Result<PinnedHostSlice<T>> {
    // Write-combined memory is fast for the host to write and the device to read, and
    // slow for the host to read: inputs only.
    let flags = if write_combined { cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED } else { 0 };
    // SAFETY: the buffer is written (inputs) or copied into (outputs) before it is read.
    unsafe { ctx.alloc_pinned_with_flags::<T>(n.max(1), flags) }.map_err(driver("a pinned host allocation"))
}

/// The model's arrays on the device.
enum DeviceModel {
    Linear { weights: CudaSlice<f64>, intercept: f64 },
    Trees(Box<DeviceTrees>),
}

struct DeviceTrees {
    feature: CudaSlice<u32>,
    threshold: CudaSlice<f64>,
    left: CudaSlice<u32>,
    right: CudaSlice<u32>,
    value: CudaSlice<f64>,
    tree_first_node: CudaSlice<i64>,
    member_first_tree: CudaSlice<i64>,
    member_kind: CudaSlice<i32>,
    member_base: CudaSlice<f64>,
    members: i64,
}

fn upload_trees(stream: &Arc<CudaStream>, trees: &FlatTrees) -> Result<DeviceModel> {
    trees.check()?;
    Ok(DeviceModel::Trees(Box::new(DeviceTrees {
        feature: upload(stream, &trees.node_feature)?,
        threshold: upload(stream, &trees.node_threshold)?,
        left: upload(stream, &trees.node_left)?,
        right: upload(stream, &trees.node_right)?,
        value: upload(stream, &trees.node_value)?,
        tree_first_node: upload(stream, &trees.tree_first_node)?,
        member_first_tree: upload(stream, &trees.member_first_tree)?,
        member_kind: upload(stream, &trees.member_kind)?,
        member_base: upload(stream, &trees.member_base)?,
        members: as_size(trees.members(), "the member count")?,
    })))
}

/// One chunk's buffers and the stream it runs on.
struct Slot {
    stream: Arc<CudaStream>,
    host_in: PinnedHostSlice<f64>,
    device_in: CudaSlice<f64>,
    device_out: CudaSlice<f64>,
    host_out: PinnedHostSlice<f64>,
    /// Rows of the chunk in flight here, if any.
    in_flight: Option<usize>,
}

struct CudaScorer<'a> {
    executor: &'a CudaExecutor,
    model: DeviceModel,
    link: Link,
    width: usize,
    chunk_rows: usize,
    slots: Vec<Slot>,
    /// Slots in the order their chunks were submitted.
    order: std::collections::VecDeque<usize>,
    next: usize,
}

impl CudaScorer<'_> {
    /// Waits for the oldest chunk in flight and appends its scores.
    fn collect_oldest(&mut self, out: &mut Vec<f64>) -> Result<()> {
        let Some(s) = self.order.pop_front() else {
            return Ok(());
        };
        let slot = &mut self.slots[s];
        let rows = slot.in_flight.take().unwrap_or(0);
        slot.stream.synchronize().map_err(driver("a scoring stream"))?;
        let scores = slot.host_out.as_slice().map_err(driver("reading the scores"))?;
        out.extend_from_slice(&scores[..rows.min(scores.len())]);
        Ok(())
    }
}

impl ChunkScorer for CudaScorer<'_> {
    fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    fn submit(&mut self, rows: &[f64], out: &mut Vec<f64>) -> Result<()> {
        let n = chunk_row_count(rows, self.width, self.chunk_rows)?;
        if n == 0 {
            return Ok(());
        }
        let s = self.next;
        self.next = (self.next + 1) % self.slots.len();
        if self.slots[s].in_flight.is_some() {
            // The slot's previous chunk is the oldest in flight (slots are used in turn).
            self.collect_oldest(out)?;
        }
        let width = self.width;
        let slot = &mut self.slots[s];
        // Row after row, as the rows come: one sequential write, which is what
        // write-combined memory is fast at (a transposing scatter would not be). The
        // kernels read a row's values together, so row-major costs them little.
        let staged = slot.host_in.as_mut_slice().map_err(driver("staging a chunk"))?;
        staged[..rows.len()].copy_from_slice(rows);
        slot.stream.memcpy_htod(&slot.host_in, &mut slot.device_in).map_err(driver("a copy of a chunk to the device"))?;
        self.executor.launch_scoring(&self.model, slot, n, width, self.link)?;
        slot.stream.memcpy_dtoh(&slot.device_out, &mut slot.host_out).map_err(driver("a copy of scores to the host"))?;
        slot.in_flight = Some(n);
        self.order.push_back(s);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<f64>) -> Result<()> {
        while !self.order.is_empty() {
            self.collect_oldest(out)?;
        }
        self.executor.ctx.check_err().map_err(driver("the scoring"))
    }
}

impl Executor for CudaExecutor {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn scorer<'a>(&'a self, model: &'a KernelModel, link: Link, width: usize, chunk_rows: usize) -> Result<Box<dyn ChunkScorer + 'a>> {
        Ok(Box::new(self.open_scorer(model, link, width, chunk_rows)?))
    }

    fn kernel_seconds(&self, model: &KernelModel, link: Link, x: &[f64], width: usize) -> Result<Option<f64>> {
        let rows = chunk_row_count(x, width, usize::MAX)?;
        let mut scorer = self.open_scorer(model, link, width, rows.max(1))?;
        // A first run stages the rows in slot 0's device buffer and warms the kernel up.
        let mut out = Vec::new();
        scorer.submit(x, &mut out)?;
        scorer.finish(&mut out)?;
        let CudaScorer { model, slots, .. } = &mut scorer;
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            self.launch_scoring(model, &mut slots[0], rows, width, link)?;
            slots[0].stream.synchronize().map_err(driver("a timed kernel"))?;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok(times.get(1).copied())
    }

    fn assign_segments(&self, raw: &Batch, segments: &Segments) -> Result<Vec<Option<(i32, f64)>>> {
        segments.check()?;
        let d = segments.features();
        if raw.width != d {
            return Err(CrmError::InvalidArgument(format!("rows of {} values for {d} segment features", raw.width)));
        }
        let rows = raw.rows;
        let stream = self.ctx.new_stream().map_err(driver("stream creation"))?;
        let raw_device = upload(&stream, raw.values)?;
        let log1p = upload(&stream, &segments.log1p)?;
        let mean = upload(&stream, &segments.mean)?;
        let std = upload(&stream, &segments.std)?;
        let centroids = upload(&stream, &segments.centroids)?;
        let cells = rows.checked_mul(d).ok_or_else(|| CrmError::OutOfMemory(format!("{rows} rows of {d} features")))?;
        let mut z = zeros::<f64>(&stream, cells)?;
        let mut segment = zeros::<i32>(&stream, rows)?;
        let mut distance = zeros::<f64>(&stream, rows)?;
        let (row_stride, column_stride) = raw.strides();
        let (rows_arg, d_arg, k_arg) = (as_size(rows, "the row count")?, d as i64, as_size(segments.k, "k")?);
        let mut standardise = stream.launch_builder(&self.standardise);
        standardise.arg(&raw_device).arg(&rows_arg).arg(&row_stride).arg(&column_stride).arg(&d_arg).arg(&log1p).arg(&mean).arg(&std).arg(&mut z);
        // SAFETY: crm_segment_standardise's arguments in order; `check` proved d flags,
        // means and stds; the raw rows and z hold rows × d values.
        unsafe { standardise.launch(self.config(cells)) }.map_err(driver("crm_segment_standardise"))?;
        let mut assign = stream.launch_builder(&self.kmeans);
        assign.arg(&z).arg(&rows_arg).arg(&d_arg).arg(&centroids).arg(&k_arg).arg(&mut segment).arg(&mut distance);
        // SAFETY: crm_kmeans_assign's arguments in order; z holds rows × d values, the
        // centroids k × d (`check`), the outputs one per row.
        unsafe { assign.launch(self.config(rows)) }.map_err(driver("crm_kmeans_assign"))?;
        let segment = stream.clone_dtoh(&segment).map_err(driver("a copy of segments to the host"))?;
        let distance = stream.clone_dtoh(&distance).map_err(driver("a copy of distances to the host"))?;
        stream.synchronize().map_err(driver("the segment kernels"))?;
        Ok(segment.into_iter().zip(distance).take(rows).map(|(s, d)| (s > 0).then_some((s, d))).collect())
    }

    fn als_top_k(&self, batch: &AlsBatch) -> Result<TopLists> {
        batch.check()?;
        let (users, k, f) = (batch.users(), batch.k, batch.factors);
        let n_items = batch.item_eligible.len();
        let stream = self.ctx.new_stream().map_err(driver("stream creation"))?;
        let user_rows: Vec<i64> = (0..users as i64).collect();
        let user_factors = upload(&stream, &batch.user_factors)?;
        let user_rows_device = upload(&stream, &user_rows)?;
        let item_factors = upload(&stream, &batch.item_factors)?;
        let eligible = upload(&stream, &batch.item_eligible)?;
        let seen_first = upload(&stream, &batch.seen.first)?;
        let seen_items = upload(&stream, &batch.seen.items)?;
        let mut items = zeros::<i32>(&stream, users * k)?;
        let mut scores = zeros::<f32>(&stream, users * k)?;
        let mut counts = zeros::<i32>(&stream, users)?;
        let (users_arg, items_arg, f_arg, k_arg) = (users as i64, n_items as i64, f as i64, k as i64);
        let mut launch = stream.launch_builder(&self.als);
        launch.arg(&user_factors).arg(&users_arg).arg(&user_rows_device).arg(&users_arg).arg(&item_factors).arg(&items_arg).arg(&f_arg);
        launch.arg(&eligible).arg(&seen_first).arg(&seen_items).arg(&k_arg).arg(&mut items).arg(&mut scores).arg(&mut counts);
        // SAFETY: crm_als_top_k's arguments in order; `check` proved every length as for
        // the CPU executor (users × f, n_items × f, one flag per item, covering seen
        // offsets, k ≤ n_items); the outputs hold users × k entries and users counts.
        unsafe { launch.launch(self.config(users)) }.map_err(driver("crm_als_top_k"))?;
        let mut items = stream.clone_dtoh(&items).map_err(driver("a copy of items to the host"))?;
        let mut scores = stream.clone_dtoh(&scores).map_err(driver("a copy of scores to the host"))?;
        let mut counts = stream.clone_dtoh(&counts).map_err(driver("a copy of counts to the host"))?;
        stream.synchronize().map_err(driver("the ALS kernel"))?;
        // Padding of empty batches removed.
        items.truncate(users * k);
        scores.truncate(users * k);
        counts.truncate(users);
        Ok(TopLists { k, items, scores, counts })
    }
}
