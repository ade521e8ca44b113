//! What `scripts/gpu-check` runs on a machine with a GPU: every kernel on the CUDA
//! executor against the Rust scoring paths on trained models, then the benchmarks, as one
//! table. `#[ignore]`d: plain test runs have no GPU. With `PG_CRM_GPU_CHECK_EMULATE=1`
//! the CPU reference executor stands in for the device at small sizes, which is how CI
//! checks this harness itself (`scripts/test`).
//!
//!   PG_CRM_GPU_CHECK_EMULATE=1 cargo test --release --lib gpu::device_check -- --ignored --nocapture --test-threads=1
//!
//! Sizes: `PG_CRM_GPU_CHECK_ROWS` (default 10,000,000 on a GPU, 20,000 emulated) rows of
//! 16 features for tree and k-means scoring; ALS for `ROWS / 50` customers. The CPU side
//! of each ratio is the path a query takes without a GPU: one backend, one core, for
//! `crm.score_batch`; all cores (the worker pool) for `crm.recommend_all`. Rows are
//! encoded one by one into the scorer as `score_batch` encodes a table's rows, so the end
//! to end figure includes the host's share of reading a table (the tuple decoding that
//! Postgres itself does is not on this machine and is the same on both paths).

use std::time::Instant;

use super::executor::{score_rows, Executor, ReferenceExecutor, RowScorer};
use super::kernels::Link;
use super::layout::{Batch, KernelModel, Order, Segments};
use super::selftest;
use super::tests::{als, compare_scores, customer_table, rust_scores, segments as segment_tests};
use crate::classify::logistic::sigmoid;
use crate::rng::SplitMix64;

fn emulated() -> bool {
    std::env::var_os("PG_CRM_GPU_CHECK_EMULATE").is_some()
}

fn device() -> Box<dyn Executor> {
    if emulated() {
        return Box::new(ReferenceExecutor { threads: 256, max_blocks: 64 });
    }
    match super::cuda::CudaExecutor::open() {
        Ok(device) => Box::new(device),
        Err(e) => panic!("no CUDA device to check ({}); crm.gpu_info(): {:?}", e.message(), super::info()),
    }
}

fn rows() -> usize {
    let default = if emulated() { 20_000 } else { 10_000_000 };
    std::env::var("PG_CRM_GPU_CHECK_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore]
fn kernels_match_the_rust_path_on_trained_models() {
    let device = device();
    eprintln!("device: {}", device.describe());
    let test = selftest::run(device.as_ref());
    for k in &test.kernels {
        eprintln!("self-test {:<45} {:<5} compared {:>6}  max relative difference {:.1e}", k.kernel, k.passed, k.compared, k.max_relative_difference);
    }
    assert!(test.passed, "{:?}", test.failure_summary());

    // classifiers as crm.train_classifier trains them (encoding included), scored in
    // chunks smaller than the batch
    let (columns, labels) = customer_table(30_000, 17);
    let rows: Vec<usize> = (0..labels.len()).collect();
    for algorithm in ["logistic", "gradient_boosting", "random_forest", "ensemble"] {
        let options =
            crate::classify::options::TrainOptions::parse(algorithm, &serde_json::json!({"time_budget": 0, "refit": false, "n_trees": 30, "max_trees": 100}))
                .unwrap();
        let trained = crate::classify::model::train(&columns, &labels, None, "yes", &options, &|| false).unwrap();
        let model = &trained.classifier;
        let width = model.features.width;
        let x = model.features.encode_rows(&columns, &rows);
        let kernel = KernelModel::from_classifier(&model.predictor, width).unwrap();
        let got = score_rows(device.as_ref(), &kernel, Link::Sigmoid, &x, width, 4096).unwrap();
        compare_scores(algorithm, &got, &rust_scores(&x, width, |r| sigmoid(model.log_odds_encoded(r)))).unwrap();
        eprintln!("classifier {algorithm:<18} {} rows: equal to the Rust path", rows.len());
    }
    // regressors: squared error and Poisson boosting, a forest
    let x = customer_table_numbers(30_000);
    let width = 5;
    let target: Vec<f64> = x.chunks_exact(width).map(|r| ((r[0] + 2.0).abs() * (r[1] + 2.0).abs()).floor()).collect();
    let w = vec![1.0; target.len()];
    let params = crate::classify::boosting::BoostingParams { max_iter: 60, small_data_trees: 60, ..Default::default() };
    for loss in [crate::regress::options::RegressionLoss::SquaredError, crate::regress::options::RegressionLoss::Poisson] {
        let m = crate::regress::boosting::fit(&x, width, &target, &w, &params, loss, &|| false).unwrap();
        let (kernel, link) = KernelModel::from_regressor(&crate::regress::model::RegressionPredictor::Boosting(m.clone()), width).unwrap();
        let got = score_rows(device.as_ref(), &kernel, link, &x, width, 4096).unwrap();
        compare_scores("boosted regressor", &got, &rust_scores(&x, width, |r| m.predict(r))).unwrap();
        eprintln!("regressor boosting {loss:?}: equal to the Rust path");
    }
    // k-means segmentation (log1p and standardisation on the device too)
    let mut rng = SplitMix64::new(19);
    let mut data = Vec::new();
    for i in 0..30_000 {
        let blob = i % 3;
        data.extend([[20.0, 500.0, 3000.0][blob] * (0.5 + rng.next_f64()), [2.0, 8.0, 20.0][blob] + rng.next_f64() * 3.0, rng.next_f64() * 36.0]);
    }
    let names = ["spend", "visits", "tenure"].map(String::from).to_vec();
    let options = crate::segment::model::SegmentOptions { log1p: crate::segment::model::Log1p::Columns(vec!["spend".into()]), n_init: 3, ..Default::default() };
    let trained = crate::segment::model::train(&names, data.clone(), Some(5), &options, &|| false).unwrap();
    let segments = Segments::from_model(&trained.model).unwrap();
    let fresh = segment_tests::raw_rows(&mut rng, 20_000, 3, 600.0);
    for raw in [&data, &fresh] {
        let batch = Batch::new(raw, raw.len() / 3, 3, Order::RowMajor).unwrap();
        let got = device.assign_segments(&batch, &segments).unwrap();
        segment_tests::check_assignments(&trained.model, raw, &got).unwrap();
    }
    eprintln!("segments: equal to the Rust path");
    // ALS top-k for every customer, in chunks
    for factors in [8, 64] {
        let model = als::trained_model(factors);
        let customers: Vec<Option<u32>> = (0..model.n_customers() as u32).map(Some).collect();
        let got = super::executor::recommend_als(device.as_ref(), &model, &customers, 10, true, &[], 128).unwrap();
        let want = model.recommend_many(&customers, 10, true, &[], None, 0, &|| false).unwrap();
        let differing = als::compare(&model, &customers, &got, &want).unwrap();
        eprintln!("ALS f = {factors}: lists equal up to {differing} near-ties of {}", customers.len());
    }
}

/// Five numeric columns with missing values, as encoded rows.
fn customer_table_numbers(rows: usize) -> Vec<f64> {
    selftest::random_rows(&mut SplitMix64::new(18), rows, 5)
}

fn seconds(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

fn line(task: &str, rows: usize, cpu: f64, cpu_rows: usize, device: f64, kernel: Option<f64>) {
    // The CPU may have scored fewer rows (long runs are sampled): compare rates.
    let cpu_rate = cpu_rows as f64 / cpu;
    let device_rate = rows as f64 / device;
    let kernel_cell = kernel.map_or("-".to_string(), |k| format!("{:.0}", rows as f64 / k));
    let kernel_ratio = kernel.map_or("-".to_string(), |k| format!("{:.1}x", rows as f64 / k / cpu_rate));
    println!("| {task} | {rows} | {cpu_rate:.0} | {device_rate:.0} | {kernel_cell} | {:.1}x | {kernel_ratio} |", device_rate / cpu_rate);
}

#[test]
#[ignore]
fn benchmark() {
    let device = device();
    let n = rows();
    let width = 16;
    println!("gpu-check benchmark on {} ({} rows; rates in rows per second)", device.describe(), n);
    println!("| task | rows | CPU path | device end to end | device kernel | end-to-end ratio | kernel ratio |");
    println!("|---|---|---|---|---|---|---|");

    // Tree ensemble: a boosted model of 16 features (300 trees of up to 63 leaves), as
    // crm.score_batch runs it.
    let train_rows = 20_000.min(n.max(2_000));
    let mut rng = SplitMix64::new(31);
    let train_x: Vec<f64> = (0..train_rows * width).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
    let y: Vec<f64> = train_x.chunks_exact(width).map(|r| f64::from(r[0] * r[1] + r[2] - r[3].abs() + 0.3 * r[4] > 0.0)).collect();
    let w = vec![1.0; y.len()];
    let params =
        crate::classify::boosting::BoostingParams { max_iter: 300, small_data_trees: 300, max_leaves: 63, early_stopping: Some(false), ..Default::default() };
    let boosted = crate::classify::boosting::fit(&train_x, width, &y, &w, &params, &|| false).unwrap();
    let kernel = KernelModel::from_classifier(&crate::classify::model::Predictor::Boosting(boosted.clone()), width).unwrap();
    let x: Vec<f64> = (0..n * width).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
    let cpu_rows = n.min(1_000_000);
    let cpu_score = |row: &[f64]| sigmoid(boosted.log_odds(row));
    let cpu = seconds(|| {
        let mut scorer = RowScorer::new(cpu_score, width, usize::MAX, None);
        x[..cpu_rows * width].chunks_exact(width).for_each(|row| scorer.push(row).unwrap());
        std::hint::black_box(scorer.finish().unwrap());
    });
    let mut device_scores = Vec::new();
    let end_to_end = seconds(|| {
        let open: super::executor::OpenDevice<'_> = Box::new(|| Ok(Some(device.scorer(&kernel, Link::Sigmoid, width, 262_144)?)));
        let mut scorer = RowScorer::new(cpu_score, width, 0, Some(open));
        x.chunks_exact(width).for_each(|row| scorer.push(row).unwrap());
        device_scores = scorer.finish().unwrap();
    });
    // the same scores as the CPU path on the rows both scored
    compare_scores("benchmark trees", &device_scores[..cpu_rows.min(100_000)], &rust_scores(&x[..cpu_rows.min(100_000) * width], width, cpu_score)).unwrap();
    let kernel_time = device.kernel_seconds(&kernel, Link::Sigmoid, &x, width).unwrap();
    line("tree ensemble score_batch, 300 trees x 16 features", n, cpu, cpu_rows, end_to_end, kernel_time);

    // Where the device starts to win (crm.gpu_min_rows under auto): a whole batch of each
    // size, the device's per-batch costs (model upload, buffers, streams) included.
    let mut break_even = None;
    for size in [1_000, 10_000, 100_000, 1_000_000].into_iter().filter(|&size| size <= n) {
        let rows = &x[..size * width];
        let cpu = seconds(|| {
            std::hint::black_box(rows.chunks_exact(width).map(cpu_score).sum::<f64>());
        });
        let on_device = seconds(|| {
            std::hint::black_box(score_rows(device.as_ref(), &kernel, Link::Sigmoid, rows, width, 262_144).unwrap());
        });
        println!(
            "| tree ensemble, one batch of {size} rows | {size} | {:.0} | {:.0} | - | {:.1}x | - |",
            size as f64 / cpu,
            size as f64 / on_device,
            cpu / on_device
        );
        if break_even.is_none() && on_device < cpu {
            break_even = Some(size);
        }
    }
    match break_even {
        Some(size) => println!("the device wins from batches of about {size} rows: a crm.gpu_min_rows at or above it (default 200000)"),
        None => println!("the device won at no batch size measured: keep crm.device = 'cpu' on this machine"),
    }

    // k-means assignment: 8 segments over 16 features
    let features: Vec<crate::segment::model::SegmentFeature> =
        (0..width).map(|j| crate::segment::model::SegmentFeature { name: format!("f{j}"), log1p: j % 4 == 0, mean: 0.5, std: 1.5 }).collect();
    let k = 8;
    let model = crate::segment::model::SegmentModel {
        features,
        k,
        centroids: (0..k * width).map(|_| rng.next_f64() * 2.0 - 1.0).collect(),
        sizes: vec![1; k],
        profile: vec![Vec::new(); k],
        overall_mean: vec![0.0; width],
        inertia: 0.0,
        silhouette: None,
    };
    let segments = Segments::from_model(&model).unwrap();
    let raw: Vec<f64> = x.iter().map(|v| v.abs() * 3.0).collect();
    let mut scratch = Vec::new();
    let cpu = seconds(|| {
        for row in raw[..cpu_rows * width].chunks_exact(width) {
            std::hint::black_box(model.assign(row, &mut scratch));
        }
    });
    let mut assigned = Vec::new();
    let end_to_end = seconds(|| {
        for part in raw.chunks(262_144 * width) {
            let batch = Batch::new(part, part.len() / width, width, Order::RowMajor).unwrap();
            assigned.extend(device.assign_segments(&batch, &segments).unwrap());
        }
    });
    segment_tests::check_assignments(&model, &raw[..cpu_rows.min(100_000) * width], &assigned[..cpu_rows.min(100_000)]).unwrap();
    line("k-means assignment, k = 8 x 16 features", n, cpu, cpu_rows, end_to_end, None);

    // ALS top-10 for every customer: CPU on all cores (crm.recommend_all) vs the device
    let customers_n = (n / 50).max(500);
    let items = (customers_n / 10).clamp(200, 20_000);
    let mut builder = crate::recommend::InteractionsBuilder::new();
    for c in 0..customers_n {
        for _ in 0..10 {
            let item = (c % 7) * (items / 7) + rng.below_modulo(items / 7);
            builder.push(&format!("c{c}"), &format!("i{item}"), 1.0, None).unwrap();
        }
    }
    let options = crate::recommend::AlsOptions { factors: 64, iterations: 3, ..Default::default() };
    let als_model = crate::recommend::Model::fit(&builder.finish(), &crate::recommend::Algorithm::Als(options), 0, &|| false).unwrap();
    let customers: Vec<Option<u32>> = (0..als_model.n_customers() as u32).map(Some).collect();
    let mut want = Vec::new();
    let cpu = seconds(|| want = als_model.recommend_many(&customers, 10, true, &[], None, 0, &|| false).unwrap());
    let mut got = Vec::new();
    let end_to_end = seconds(|| got = super::executor::recommend_als(device.as_ref(), &als_model, &customers, 10, true, &[], 65_536).unwrap());
    als::compare(&als_model, &customers, &got, &want).unwrap();
    line(
        &format!("ALS top-10, {} customers x {} items x 64 factors (CPU: all cores)", customers.len(), als_model.n_items()),
        customers.len(),
        cpu,
        customers.len(),
        end_to_end,
        None,
    );
}
