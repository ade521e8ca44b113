//! Model lifecycle: what a deployed model is watched with after training — evaluation on
//! new labelled rows, feature importance, drift of its inputs and of its score — for every
//! supervised model kind (classifiers, regressors). The algorithms here are plain Rust;
//! `sql.rs` is the SQL surface (`crm.evaluate`, `crm.feature_importance`, `crm.drift`).

pub mod importance;
pub mod profile;
pub mod sql;

use serde_json::json;

use crate::classify::features::{Feature, FeatureSet, RawColumn, Value};
use crate::rng::SplitMix64;
use importance::{ContributionImportance, Importance};
use profile::Profile;

/// What lifecycle functions need of a supervised model.
pub trait Monitored {
    /// Its fitted preprocessing: the features in order, and how rows are encoded.
    fn feature_set(&self) -> &FeatureSet;
    /// Its output for an encoded row: a probability for a classifier, a prediction for a
    /// regressor.
    fn output_encoded(&self, x: &[f64]) -> f64;
    /// (base value, per-feature contributions) on the model's additive scale, adding up
    /// to the output there: log-odds for a classifier, the prediction (or its log, for a
    /// log-link regressor) for a regressor.
    fn explain(&self, values: &[Value<'_>]) -> (f64, Vec<f64>);

    fn contributions(&self, values: &[Value<'_>]) -> Vec<f64> {
        self.explain(values).1
    }

    /// The output for one row's raw values (one per feature, in feature order).
    fn output(&self, values: &[Value<'_>], buffer: &mut Vec<f64>) -> f64 {
        let features = self.feature_set();
        buffer.clear();
        buffer.resize(features.width, 0.0);
        for (i, value) in values.iter().enumerate().take(features.features.len()) {
            features.encode_into(i, *value, buffer);
        }
        self.output_encoded(buffer)
    }
}

/// At most this many holdout rows are explained, and five times as many rows scored, for
/// the summaries stored at training (a 500-tree forest explains ~1,500 rows a second).
const SUMMARY_ROWS: usize = 4_000;

/// What training stores with a model for monitoring: each input column's profile, the
/// profile of the model's output, and contribution importance on the holdout rows.
pub struct Summaries {
    pub profiles: Vec<Profile>,
    pub output: Profile,
    pub importance: Vec<Importance>,
    pub importance_rows: u64,
}

/// Up to `k` of `rows`, a seeded sample in source order.
fn sample(rows: &[usize], k: usize, seed: u64) -> Vec<usize> {
    if rows.len() <= k {
        return rows.to_vec();
    }
    let mut rng = SplitMix64::new(seed);
    let mut picked: Vec<usize> = rows.to_vec();
    for i in 0..k {
        let j = i + rng.below_modulo(picked.len() - i);
        picked.swap(i, j);
    }
    picked.truncate(k);
    picked.sort_unstable();
    picked
}

/// The summaries of a model trained on `columns` (all source rows), its holdout `holdout`.
pub fn summarize(model: &dyn Monitored, columns: &[RawColumn], holdout: &[usize], seed: u64) -> Summaries {
    let rows = columns.first().map_or(0, |c| match c {
        RawColumn::Numbers { values, .. } => values.len(),
        RawColumn::Categories { codes, .. } => codes.len(),
    });
    let profiles = columns.iter().map(Profile::of_column).collect();
    let all: Vec<usize> = (0..rows).collect();
    let mut buffer = Vec::new();
    let mut values: Vec<Value<'_>> = Vec::with_capacity(columns.len());
    let outputs: Vec<f64> = sample(&all, SUMMARY_ROWS * 5, seed)
        .into_iter()
        .map(|r| {
            values.clear();
            values.extend(columns.iter().map(|c| Feature::raw_value(c, r)));
            model.output(&values, &mut buffer)
        })
        .collect();
    let mut importance = ContributionImportance::new(columns.len());
    for r in sample(holdout, SUMMARY_ROWS, seed ^ 1) {
        values.clear();
        values.extend(columns.iter().map(|c| Feature::raw_value(c, r)));
        importance.add(&values, &model.contributions(&values));
    }
    Summaries { profiles, output: Profile::of_numbers(&outputs, 10), importance: importance.finish(), importance_rows: importance.rows() }
}

impl Summaries {
    /// Adds each feature's profile and importance to its entry of the stored feature
    /// specification (entries in feature order).
    pub fn annotate(&self, spec: &mut serde_json::Value) {
        let Some(entries) = spec.as_array_mut() else { return };
        for (i, entry) in entries.iter_mut().enumerate() {
            if let Some(p) = self.profiles.get(i) {
                entry["profile"] = serde_json::to_value(p).unwrap_or_default();
            }
            if let Some(imp) = self.importance.iter().find(|imp| imp.feature == i) {
                entry["importance"] = json!(imp.importance);
                entry["direction"] = json!(imp.direction);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_seeded_sorted_and_bounded() {
        let rows: Vec<usize> = (0..1000).collect();
        let s = sample(&rows, 100, 3);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample(&rows, 100, 3));
        assert_ne!(s, sample(&rows, 100, 4));
        assert_eq!(sample(&rows[..10], 100, 3), rows[..10]);
    }
}
