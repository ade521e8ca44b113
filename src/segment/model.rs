//! A k-means segmentation as stored in the registry, and its training pipeline (pure
//! Rust: a row-major matrix of raw values in, model and metrics out).
//!
//! The model carries its own preprocessing (optional log1p, then z-score with the
//! training population's mean and standard deviation), so `crm.segment` takes raw rows.
//! Segments are numbered 1..k from the largest to the smallest.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::kmeans::{self, KMeansError, KMeansOptions};
use super::silhouette;
use crate::error::{CrmError, Result};
use crate::options;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentFeature {
    pub name: String,
    pub log1p: bool,
    /// Mean and population standard deviation after log1p, over the training rows.
    pub mean: f64,
    pub std: f64,
}

impl SegmentFeature {
    /// A standardised value back in original units.
    pub fn untransform(&self, z: f64) -> f64 {
        let x = z * self.std + self.mean;
        if self.log1p {
            x.exp_m1()
        } else {
            x
        }
    }

    /// The standardised value, or None for a value the model cannot place (NULL,
    /// non-finite, or ≤ −1 under log1p): such a dimension is left out of the distance.
    #[inline]
    pub fn transform(&self, x: f64) -> Option<f64> {
        let x = if self.log1p {
            if x <= -1.0 {
                return None;
            }
            x.ln_1p()
        } else {
            x
        };
        let z = (x - self.mean) / self.std;
        z.is_finite().then_some(z)
    }
}

/// One feature's summary inside one segment, in original units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// The segment's centre in standardised units (how many standard deviations from
    /// the population mean, after log1p where applied).
    pub centroid_z: f64,
    /// The same centre in original units (z-score and log1p undone).
    pub centroid: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentModel {
    pub features: Vec<SegmentFeature>,
    pub k: usize,
    /// k × d, standardised units, row-major; segment s is row s − 1.
    pub centroids: Vec<f64>,
    pub sizes: Vec<u64>,
    /// profile[s][f] for segment s + 1 and feature f.
    pub profile: Vec<Vec<FeatureProfile>>,
    /// Population mean of each feature in original units.
    pub overall_mean: Vec<f64>,
    pub inertia: f64,
    pub silhouette: Option<f64>,
}

impl crate::registry::StoredModel for SegmentModel {
    const KIND: crate::registry::Kind = crate::registry::Kind::Segments;

    /// Array lengths that agree with k and the features (assignment and the profile index
    /// by them).
    fn validate(&self) -> std::result::Result<(), String> {
        let d = self.features.len();
        if self.k == 0 || d == 0 {
            return Err(format!("k = {} and {d} features", self.k));
        }
        if self.centroids.len() != self.k.saturating_mul(d) || self.sizes.len() != self.k || self.profile.len() != self.k || self.overall_mean.len() != d {
            return Err(format!("array lengths disagree with k = {} and {d} features", self.k));
        }
        if self.profile.iter().any(|p| p.len() != d) {
            return Err("a segment profile has the wrong number of features".into());
        }
        Ok(())
    }
}

impl SegmentModel {
    /// Segment number (1-based) and Euclidean distance in standardised units to its
    /// centre, for raw feature values in model order (NaN = missing). Missing
    /// dimensions are left out and the squared distance scaled up by d / present, the
    /// usual partial-distance rule; None when every feature is missing.
    pub fn assign(&self, raw: &[f64], scratch: &mut Vec<f64>) -> Option<(i32, f64)> {
        let d = self.features.len();
        scratch.clear();
        let mut present = 0usize;
        for (f, &x) in self.features.iter().zip(raw) {
            match f.transform(x) {
                Some(z) => {
                    scratch.push(z);
                    present += 1;
                }
                None => scratch.push(f64::NAN),
            }
        }
        if present == 0 {
            return None;
        }
        if present == d {
            let (index, distance) = kmeans::assign(&self.centroids, d, scratch)?;
            return Some((index as i32 + 1, distance));
        }
        let scale = d as f64 / present as f64;
        let mut best = (0usize, f64::INFINITY);
        for (s, centre) in self.centroids.chunks_exact(d).enumerate() {
            let squared: f64 = centre.iter().zip(scratch.iter()).filter(|(_, z)| !z.is_nan()).map(|(c, z)| (c - z) * (c - z)).sum();
            if squared < best.1 {
                best = (s, squared);
            }
        }
        Some((best.0 as i32 + 1, (best.1 * scale).sqrt()))
    }
}

/// Which features get log1p.
#[derive(Debug, Clone, PartialEq)]
pub enum Log1p {
    None,
    All,
    Columns(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentOptions {
    pub features: Option<Vec<String>>,
    pub exclude: Vec<String>,
    pub key: Option<String>,
    pub log1p: Log1p,
    pub n_init: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
    pub k_min: usize,
    pub k_max: usize,
    pub silhouette_sample: usize,
    pub deploy: bool,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            features: None,
            exclude: Vec::new(),
            key: None,
            log1p: Log1p::None,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            k_min: 2,
            k_max: 10,
            silhouette_sample: silhouette::DEFAULT_SILHOUETTE_SAMPLE,
            deploy: true,
        }
    }
}

pub const KNOWN_OPTIONS: &str = "features, exclude, key, log1p, n_init, max_iter, tol, seed, k_min, k_max, silhouette_sample, deploy";

impl SegmentOptions {
    pub fn parse(value: &Value) -> Result<SegmentOptions> {
        let mut o = SegmentOptions::default();
        let empty = serde_json::Map::new();
        for (key, v) in options::object(value, &empty, "{\"log1p\": true, \"n_init\": 10}")? {
            match key.as_str() {
                "features" => o.features = Some(options::names(key, v)?),
                "exclude" => o.exclude = options::names(key, v)?,
                "key" | "id" => o.key = Some(options::text(key, v)?),
                "log1p" => {
                    o.log1p = match v {
                        Value::Bool(true) => Log1p::All,
                        Value::Bool(false) | Value::Null => Log1p::None,
                        Value::Array(_) | Value::String(_) => Log1p::Columns(options::names(key, v)?),
                        _ => return Err(CrmError::bad_argument("options.log1p", v, "true, false or an array of column names")),
                    }
                }
                "n_init" => o.n_init = options::integer(key, v, 1, 1000)? as usize,
                "max_iter" => o.max_iter = options::integer(key, v, 1, 100_000)? as usize,
                "tol" => o.tol = options::number(key, v, 0.0, 1.0, "a number in [0, 1]")?,
                "seed" => o.seed = options::integer(key, v, 0, 1 << 53)?,
                "k_min" => o.k_min = options::integer(key, v, 2, 100)? as usize,
                "k_max" => o.k_max = options::integer(key, v, 2, 100)? as usize,
                "silhouette_sample" => o.silhouette_sample = options::integer(key, v, 100, 1_000_000)? as usize,
                "deploy" => o.deploy = options::boolean(key, v)?,
                other => return Err(options::unknown(other, "train_segments", KNOWN_OPTIONS)),
            }
        }
        if o.k_min > o.k_max {
            return Err(CrmError::InvalidArgument(format!("options.k_min ({}) must not exceed options.k_max ({})", o.k_min, o.k_max)));
        }
        Ok(o)
    }

    fn wants_log1p(&self, column: &str) -> bool {
        match &self.log1p {
            Log1p::None => false,
            Log1p::All => true,
            Log1p::Columns(names) => names.iter().any(|n| n == column),
        }
    }
}

#[derive(Debug)]
pub struct Trained {
    pub model: SegmentModel,
    pub metrics: Value,
    pub training_rows: usize,
}

fn kmeans_error(e: KMeansError) -> CrmError {
    match e {
        KMeansError::Cancelled => CrmError::Canceled("train_segments was cancelled".into()),
        KMeansError::KTooSmall { k } => CrmError::bad_argument("k", k, "NULL (choose by silhouette) or an integer from 1 to the number of rows"),
        KMeansError::KExceedsRows { k, n_rows } => {
            CrmError::InvalidArgument(format!("invalid value for argument \"k\": \"{k}\"; accepted: NULL or 1 to the number of usable rows ({n_rows})"))
        }
        other => CrmError::InvalidArgument(format!("train_segments: {other}")),
    }
}

/// Trains a segmentation on `data` (n_rows × names.len(), row-major, NaN for NULL).
/// Rows with a missing value are left out (and counted). `k` None chooses k in
/// `k_min..=k_max` by silhouette.
pub fn train(names: &[String], mut data: Vec<f64>, k: Option<i64>, opts: &SegmentOptions, should_stop: &dyn Fn() -> bool) -> Result<Trained> {
    let started = Instant::now();
    let d = names.len();
    if d == 0 {
        return Err(CrmError::InvalidArgument("the source has no numeric feature column".into()));
    }
    if let Some(k) = k {
        if k < 1 {
            return Err(CrmError::bad_argument("k", k, "NULL (choose by silhouette) or an integer from 1 to the number of rows"));
        }
    }
    if let Log1p::Columns(columns) = &opts.log1p {
        if let Some(c) = columns.iter().find(|c| !names.contains(c)) {
            return Err(CrmError::UndefinedColumn(format!("options.log1p names \"{c}\", which is not a feature (features: {})", names.join(", "))));
        }
    }
    let rows_read = data.len() / d;
    // Per column: how many values are present, and whether log1p can take them.
    for (j, name) in names.iter().enumerate() {
        let present = data.iter().skip(j).step_by(d).filter(|x| x.is_finite()).count();
        if present == 0 {
            return Err(CrmError::InvalidArgument(format!("feature column \"{name}\" has no non-NULL value")));
        }
        if opts.wants_log1p(name) {
            if let Some(bad) = data.iter().skip(j).step_by(d).find(|x| **x <= -1.0) {
                return Err(CrmError::InvalidArgument(format!(
                    "feature column \"{name}\" has the value {bad}; log1p needs values above -1 (leave it out of options.log1p)"
                )));
            }
        }
    }
    // Keep complete rows only, compacting in place.
    let mut kept = 0usize;
    for r in 0..rows_read {
        if data[r * d..(r + 1) * d].iter().all(|x| x.is_finite()) {
            data.copy_within(r * d..(r + 1) * d, kept * d);
            kept += 1;
        }
    }
    data.truncate(kept * d);
    let n = kept;
    if n == 0 {
        return Err(CrmError::InvalidArgument("no row has a value in every feature column".into()));
    }
    let mut features = Vec::with_capacity(d);
    for (j, name) in names.iter().enumerate() {
        let log1p = opts.wants_log1p(name);
        let (mut mean, mut m2) = (0.0, 0.0);
        for (i, x) in data.iter_mut().skip(j).step_by(d).enumerate() {
            if log1p {
                *x = x.ln_1p();
            }
            let delta = *x - mean;
            mean += delta / (i + 1) as f64;
            m2 += delta * (*x - mean);
        }
        let std = (m2 / n as f64).sqrt();
        if std.is_nan() || std <= 1e-12 * mean.abs().max(1.0) {
            return Err(CrmError::InvalidArgument(format!(
                "feature column \"{name}\" is constant ({}) over the training rows; leave it out (options.exclude)",
                if log1p { mean.exp_m1() } else { mean }
            )));
        }
        for x in data.iter_mut().skip(j).step_by(d) {
            *x = (*x - mean) / std;
        }
        features.push(SegmentFeature { name: name.clone(), log1p, mean, std });
    }

    let base = KMeansOptions { k: 1, n_init: opts.n_init, max_iter: opts.max_iter, tol: opts.tol, seed: opts.seed, threads: 0, algorithm: Default::default() };
    let sample = (n > opts.silhouette_sample).then_some((opts.silhouette_sample, opts.seed));
    let (fit, k_scores) = match k {
        Some(k) => {
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            let fit = kmeans::fit(&data, n, d, &KMeansOptions { k, ..base }, should_stop).map_err(kmeans_error)?;
            (fit, None)
        }
        None => {
            if n < 3 {
                return Err(CrmError::InvalidArgument(format!("choosing k needs at least 3 usable rows, found {n}; pass k")));
            }
            let choice = silhouette::choose_k(&data, n, d, opts.k_min..=opts.k_max, &base, sample, should_stop).map_err(kmeans_error)?;
            (choice.best_fit, Some(choice.scores))
        }
    };
    let k = fit.k;
    // Labels and inertia as the stored model will assign them: the nearest final
    // centroid of every row (a fit's last labels can predate its last centre update),
    // so sizes, profile, metrics and crm.segment all agree.
    let mut fit = fit;
    let mut inertia = 0.0;
    for (r, row) in data.chunks_exact(d).enumerate() {
        if r % 65_536 == 0 && should_stop() {
            return Err(kmeans_error(KMeansError::Cancelled));
        }
        if let Some((label, distance)) = kmeans::assign(&fit.centroids, d, row) {
            fit.labels[r] = label as u32;
            inertia += distance * distance;
        }
    }
    fit.inertia = inertia;
    fit.sizes = vec![0; k];
    for &label in &fit.labels {
        fit.sizes[label as usize] += 1;
    }
    // Undefined (fewer than 2 distinct labels among the scored rows) leaves it out of the
    // metrics; a cancel stops the training.
    let silhouette_score = if k < 2 {
        None
    } else {
        match silhouette::silhouette(&data, n, d, &fit.labels, k, sample, 0, should_stop) {
            Err(KMeansError::Cancelled) => return Err(kmeans_error(KMeansError::Cancelled)),
            outcome => outcome.ok(),
        }
    };

    // Number segments by size, largest first (ties by the fit's order), so segment 1 is
    // the biggest group whatever the seed.
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| fit.sizes[b].cmp(&fit.sizes[a]).then(a.cmp(&b)));
    let mut new_index = vec![0usize; k];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut centroids = vec![0.0; k * d];
    for (old, &new) in new_index.iter().enumerate() {
        centroids[new * d..(new + 1) * d].copy_from_slice(&fit.centroids[old * d..(old + 1) * d]);
    }
    let sizes: Vec<u64> = order.iter().map(|&old| fit.sizes[old]).collect();

    // Profile in original units: mean, stddev, min, max per segment and feature.
    let mut sum = vec![0.0; k * d];
    let mut sum_sq = vec![0.0; k * d];
    let mut min = vec![f64::INFINITY; k * d];
    let mut max = vec![f64::NEG_INFINITY; k * d];
    let mut overall = vec![0.0; d];
    // The profile is in original units: each standardised value is mapped back (exact up
    // to rounding), so training holds one matrix, not a raw copy beside it.
    for (r, row) in data.chunks_exact(d).enumerate() {
        let s = new_index[fit.labels[r] as usize];
        for (j, &z) in row.iter().enumerate() {
            let x = features[j].untransform(z);
            let at = s * d + j;
            sum[at] += x;
            sum_sq[at] += x * x;
            min[at] = min[at].min(x);
            max[at] = max[at].max(x);
            overall[j] += x;
        }
    }
    let overall_mean: Vec<f64> = overall.iter().map(|t| t / n as f64).collect();
    let profile: Vec<Vec<FeatureProfile>> = (0..k)
        .map(|s| {
            let count = sizes[s].max(1) as f64;
            (0..d)
                .map(|j| {
                    let at = s * d + j;
                    let mean = sum[at] / count;
                    FeatureProfile {
                        mean,
                        stddev: (sum_sq[at] / count - mean * mean).max(0.0).sqrt(),
                        min: if sizes[s] > 0 { min[at] } else { f64::NAN },
                        max: if sizes[s] > 0 { max[at] } else { f64::NAN },
                        centroid_z: centroids[at],
                        centroid: features[j].untransform(centroids[at]),
                    }
                })
                .collect()
        })
        .collect();

    let model = SegmentModel { features, k, centroids, sizes: sizes.clone(), profile, overall_mean, inertia: fit.inertia, silhouette: silhouette_score };
    let metrics = json!({
        "k": k,
        "inertia": fit.inertia,
        "silhouette": silhouette_score,
        "silhouette_rows": sample.map_or(n, |(size, _)| size),
        "sizes": sizes,
        "iterations": fit.n_iter,
        "converged": fit.converged,
        "k_scores": k_scores.map(|scores| scores.iter().map(|s| json!({"k": s.k, "inertia": s.inertia, "silhouette": s.silhouette})).collect::<Vec<_>>()),
        "rows_read": rows_read,
        "rows_with_missing_values": rows_read - n,
        "training_seconds": started.elapsed().as_secs_f64(),
    });
    Ok(Trained { model, metrics, training_rows: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (Vec<String>, Vec<f64>) {
        // Three groups of customers, in very different units per column.
        let mut data = Vec::new();
        for i in 0..300 {
            let g = i % 3;
            let jitter = ((i * 7919) % 100) as f64 / 100.0;
            data.push([10.0, 200.0, 5000.0][g] + jitter);
            data.push([1.0, 5.0, 20.0][g] + jitter / 10.0);
        }
        (vec!["spend".into(), "orders".into()], data)
    }

    #[test]
    fn finds_planted_groups_and_numbers_them_by_size() {
        let (names, mut data) = blobs();
        // Make group 2 bigger by adding rows.
        for _ in 0..30 {
            data.extend_from_slice(&[5000.5, 20.05]);
        }
        let t = train(&names, data, Some(3), &SegmentOptions::default(), &|| false).unwrap();
        assert_eq!(t.model.sizes, vec![130, 100, 100]);
        let mut scratch = Vec::new();
        assert_eq!(t.model.assign(&[5000.0, 20.0], &mut scratch).unwrap().0, 1);
        let small = t.model.assign(&[10.0, 1.0], &mut scratch).unwrap().0;
        let mid = t.model.assign(&[200.0, 5.0], &mut scratch).unwrap().0;
        assert!(small != mid && small != 1 && mid != 1);
        assert!(t.model.silhouette.unwrap() > 0.9);
        let p = &t.model.profile[0][0];
        assert!((p.mean - 5000.5).abs() < 1.0 && p.min >= 5000.0 && p.max < 5001.0, "{p:?}");
        // A missing value: the other dimension still places the row.
        assert_eq!(t.model.assign(&[f64::NAN, 20.0], &mut scratch).unwrap().0, 1);
        assert!(t.model.assign(&[f64::NAN, f64::NAN], &mut scratch).is_none());
    }

    #[test]
    fn chooses_k_by_silhouette_and_reports_every_k() {
        let (names, data) = blobs();
        let t = train(&names, data, None, &SegmentOptions::default(), &|| false).unwrap();
        assert_eq!(t.model.k, 3);
        assert_eq!(t.metrics["k_scores"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn log1p_is_applied_inside_the_model() {
        let (names, data) = blobs();
        let opts = SegmentOptions { log1p: Log1p::Columns(vec!["spend".into()]), ..Default::default() };
        let t = train(&names, data, Some(3), &opts, &|| false).unwrap();
        assert!(t.model.features[0].log1p && !t.model.features[1].log1p);
        let f = &t.model.features[0];
        assert!((f.transform(0.0).unwrap() - (0.0 - f.mean) / f.std).abs() < 1e-12);
        assert!(f.transform(-1.0).is_none());
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let (names, data) = blobs();
        let opts = SegmentOptions::default();
        let e = train(&names, data.clone(), Some(0), &opts, &|| false).unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(train(&names, data.clone(), Some(301), &opts, &|| false).unwrap_err().message().contains("301"));
        let constant: Vec<f64> = data.chunks(2).flat_map(|r| [r[0], 7.0]).collect();
        let e = train(&names, constant, Some(2), &opts, &|| false).unwrap_err();
        assert!(e.message().contains("\"orders\" is constant"), "{e}");
        let all_null: Vec<f64> = data.chunks(2).flat_map(|r| [r[0], f64::NAN]).collect();
        assert!(train(&names, all_null, Some(2), &opts, &|| false).unwrap_err().message().contains("no non-NULL"));
        let negative: Vec<f64> = data.iter().map(|x| -x).collect();
        let e = train(&names, negative, Some(2), &SegmentOptions { log1p: Log1p::All, ..Default::default() }, &|| false).unwrap_err();
        assert!(e.message().contains("log1p"), "{e}");
        assert!(train(&[], vec![], Some(2), &opts, &|| false).is_err());
        let e = train(&names, data, Some(2), &opts, &|| true).unwrap_err();
        assert!(e.message().contains("cancelled"));
        assert!(SegmentOptions::parse(&json!({"k_means": 1})).unwrap_err().message().contains("n_init"));
        assert!(SegmentOptions::parse(&json!({"n_init": 0})).is_err());
        assert!(SegmentOptions::parse(&json!({"k_min": 5, "k_max": 3})).is_err());
    }
}
