//! Training profiles and drift: what each input column (and the model's score) looked
//! like on the training rows, stored with the model, and the population stability index
//! (PSI) of new rows against it.
//!
//! A numeric column is cut at its training deciles (distinct cut points only, so a column
//! with few values gets fewer bins), a text column keeps the shares of its most frequent
//! levels and of "other"; both have a NULL bin of their own, so a column that starts
//! arriving empty drifts like any other change. PSI = Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) over the bins,
//! shares floored at 1e-4 (an empty bin on one side would be infinite); the usual reading,
//! used by `status`: below 0.1 stable, 0.1–0.2 moderate, above 0.2 shifted (flagged).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::classify::features::{RawColumn, Value, NULL_CODE};

/// PSI above which a feature is flagged.
pub const FLAG_PSI: f64 = 0.2;
/// PSI above which a feature is reported as moderately shifted.
pub const MODERATE_PSI: f64 = 0.1;
/// Floor of a bin's share in the PSI sum.
const SHARE_FLOOR: f64 = 1e-4;
/// Text levels kept by a profile (the rest count as "other").
const MAX_LEVELS: usize = 30;

/// One column's training distribution. Shares are fractions of all rows, the NULL share
/// included, so they add up to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Profile {
    /// Bins `(-∞, edges[0])`, `[edges[0], edges[1])`, …, `[edges[last], ∞)`.
    Numeric {
        edges: Vec<f64>,
        shares: Vec<f64>,
        null_share: f64,
        mean: Option<f64>,
        rows: u64,
    },
    Categorical {
        levels: Vec<String>,
        shares: Vec<f64>,
        other_share: f64,
        null_share: f64,
        rows: u64,
    },
}

/// Quantile cut points of sorted finite values: the distinct values at the `bins − 1`
/// interior quantiles (lower nearest rank).
fn cut_points(sorted: &[f64], bins: usize) -> Vec<f64> {
    let mut edges: Vec<f64> = Vec::new();
    if sorted.is_empty() {
        return edges;
    }
    for q in 1..bins {
        let at = (q * sorted.len()) / bins;
        let v = sorted[at.min(sorted.len() - 1)];
        // the smallest value is no cut (nothing falls below it)
        if v > sorted[0] && edges.last().is_none_or(|&e| v > e) {
            edges.push(v);
        }
    }
    edges
}

/// The bin of `x` among `edges` (bins.len() = edges.len() + 1).
fn bin_of(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e <= x)
}

impl Profile {
    /// Profile of numbers (NaN = NULL) cut at `bins` quantiles.
    pub fn of_numbers(values: &[f64], bins: usize) -> Profile {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        finite.sort_by(f64::total_cmp);
        let edges = cut_points(&finite, bins.max(2));
        let mut counts = vec![0u64; edges.len() + 1];
        for &v in &finite {
            counts[bin_of(&edges, v)] += 1;
        }
        let rows = values.len() as u64;
        let total = rows.max(1) as f64;
        let nulls = values.len() - finite.len();
        let mean = (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64);
        Profile::Numeric { edges, shares: counts.iter().map(|&c| c as f64 / total).collect(), null_share: nulls as f64 / total, mean, rows }
    }

    /// Profile of a text column: its most frequent levels, "other", NULL.
    pub fn of_categories(codes: &[u32], levels: &[String]) -> Profile {
        let mut counts = vec![0u64; levels.len()];
        let mut nulls = 0u64;
        for &c in codes {
            match counts.get_mut(c as usize) {
                Some(n) if c != NULL_CODE => *n += 1,
                _ => nulls += 1,
            }
        }
        let mut order: Vec<usize> = (0..levels.len()).filter(|&i| counts[i] > 0).collect();
        order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then_with(|| levels[a].cmp(&levels[b])));
        order.truncate(MAX_LEVELS);
        let rows = codes.len() as u64;
        let total = rows.max(1) as f64;
        let kept: u64 = order.iter().map(|&i| counts[i]).sum();
        Profile::Categorical {
            levels: order.iter().map(|&i| levels[i].clone()).collect(),
            shares: order.iter().map(|&i| counts[i] as f64 / total).collect(),
            other_share: (rows - nulls - kept) as f64 / total,
            null_share: nulls as f64 / total,
            rows,
        }
    }

    /// Profile of a training column as read from the source.
    pub fn of_column(column: &RawColumn) -> Profile {
        match column {
            RawColumn::Numbers { values, .. } => Profile::of_numbers(values, 10),
            RawColumn::Categories { codes, levels, .. } => Profile::of_categories(codes, levels),
        }
    }

    pub fn null_share(&self) -> f64 {
        match self {
            Profile::Numeric { null_share, .. } | Profile::Categorical { null_share, .. } => *null_share,
        }
    }

    /// The expected shares of every bin, NULL last (and "other" before it for text).
    fn expected(&self) -> Vec<f64> {
        match self {
            Profile::Numeric { shares, null_share, .. } => shares.iter().copied().chain([*null_share]).collect(),
            Profile::Categorical { shares, other_share, null_share, .. } => shares.iter().copied().chain([*other_share, *null_share]).collect(),
        }
    }

    /// The bins' labels, in `expected`'s order.
    pub fn bin_labels(&self) -> Vec<String> {
        match self {
            Profile::Numeric { edges, .. } => {
                let mut out = Vec::with_capacity(edges.len() + 2);
                for i in 0..=edges.len() {
                    let lo = if i == 0 { "-inf".to_string() } else { format!("{}", edges[i - 1]) };
                    let hi = if i == edges.len() { "inf".to_string() } else { format!("{}", edges[i]) };
                    out.push(format!("[{lo}, {hi})"));
                }
                out.push("NULL".into());
                out
            }
            Profile::Categorical { levels, .. } => levels.iter().cloned().chain(["(other)".to_string(), "NULL".to_string()]).collect(),
        }
    }

    /// A counter of new rows against this profile's bins.
    pub fn counter(&self) -> BinCounter<'_> {
        let index = match self {
            Profile::Categorical { levels, .. } => levels.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect(),
            Profile::Numeric { .. } => HashMap::new(),
        };
        BinCounter { profile: self, index, counts: vec![0; self.expected().len()], sum: 0.0, numbers: 0 }
    }
}

/// Counts of new rows per bin of a profile.
pub struct BinCounter<'p> {
    profile: &'p Profile,
    index: HashMap<String, usize>,
    counts: Vec<u64>,
    sum: f64,
    numbers: u64,
}

/// One column's drift: PSI, its reading, and the bins side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub psi: f64,
    pub flagged: bool,
    pub status: &'static str,
    pub null_share_training: f64,
    pub null_share_now: f64,
    pub mean_training: Option<f64>,
    pub mean_now: Option<f64>,
    pub bins: Vec<(String, f64, f64)>,
    pub rows: u64,
}

/// PSI of `actual` shares against `expected` ones.
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(SHARE_FLOOR), a.max(SHARE_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

pub fn status(psi: f64) -> &'static str {
    if psi > FLAG_PSI {
        "shifted"
    } else if psi > MODERATE_PSI {
        "moderate"
    } else {
        "stable"
    }
}

impl BinCounter<'_> {
    pub fn add(&mut self, value: Value<'_>) {
        let nulls = self.counts.len() - 1;
        let bin = match (self.profile, value) {
            (_, Value::Null) => nulls,
            (Profile::Numeric { edges, .. }, Value::Number(x)) if x.is_finite() => {
                self.sum += x;
                self.numbers += 1;
                bin_of(edges, x)
            }
            (Profile::Numeric { .. }, Value::Number(_)) => nulls,
            // a text value where numbers were profiled: the column changed type
            (Profile::Numeric { .. }, Value::Text(_)) => nulls,
            (Profile::Categorical { .. }, Value::Text(t)) => self.index.get(t).copied().unwrap_or(nulls - 1),
            (Profile::Categorical { .. }, Value::Number(x)) => self.index.get(&format!("{x}")).copied().unwrap_or(nulls - 1),
        };
        self.counts[bin] += 1;
    }

    pub fn finish(&self) -> Drift {
        let rows: u64 = self.counts.iter().sum();
        let total = rows.max(1) as f64;
        let expected = self.profile.expected();
        let actual: Vec<f64> = self.counts.iter().map(|&c| c as f64 / total).collect();
        let psi = if rows == 0 { f64::NAN } else { psi(&expected, &actual) };
        let mean_training = match self.profile {
            Profile::Numeric { mean, .. } => *mean,
            Profile::Categorical { .. } => None,
        };
        let mean_now = (matches!(self.profile, Profile::Numeric { .. }) && self.numbers > 0).then(|| self.sum / self.numbers as f64);
        Drift {
            psi,
            flagged: psi > FLAG_PSI,
            status: if rows == 0 { "no rows" } else { status(psi) },
            null_share_training: self.profile.null_share(),
            null_share_now: actual.last().copied().unwrap_or(0.0),
            mean_training,
            mean_now,
            bins: self.profile.bin_labels().into_iter().zip(expected).zip(actual).map(|((l, e), a)| (l, e, a)).collect(),
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn normal(rng: &mut SplitMix64) -> f64 {
        // Box–Muller
        let (u, v) = (rng.next_f64().max(1e-12), rng.next_f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    #[test]
    fn deciles_hold_a_tenth_each_and_ties_merge_bins() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).chain([f64::NAN; 100]).collect();
        let Profile::Numeric { edges, shares, null_share, .. } = Profile::of_numbers(&values, 10) else { unreachable!() };
        assert_eq!(edges.len(), 9);
        assert!(shares.iter().all(|&s| (s - 1000.0 / 1100.0 / 10.0).abs() < 1e-9), "{shares:?}");
        assert!((null_share - 100.0 / 1100.0).abs() < 1e-12);
        // a 0/1 column: one cut, two bins
        let flags: Vec<f64> = (0..100).map(|i| (i % 4 == 0) as u8 as f64).collect();
        let Profile::Numeric { edges, shares, .. } = Profile::of_numbers(&flags, 10) else { unreachable!() };
        assert_eq!(edges, [1.0]);
        assert_eq!(shares, [0.75, 0.25]);
    }

    #[test]
    fn the_same_population_is_stable_and_a_shift_is_flagged() {
        let mut rng = SplitMix64::new(5);
        let training: Vec<f64> = (0..20_000).map(|_| normal(&mut rng)).collect();
        let profile = Profile::of_numbers(&training, 10);
        let drift_of = |values: &[f64]| {
            let mut counter = profile.counter();
            values.iter().for_each(|&x| counter.add(if x.is_nan() { Value::Null } else { Value::Number(x) }));
            counter.finish()
        };
        let same: Vec<f64> = (0..5_000).map(|_| normal(&mut rng)).collect();
        let d = drift_of(&same);
        assert!(d.psi < MODERATE_PSI && !d.flagged && d.status == "stable", "{d:?}");
        let shifted: Vec<f64> = (0..5_000).map(|_| normal(&mut rng) + 0.75).collect();
        let d = drift_of(&shifted);
        assert!(d.psi > FLAG_PSI && d.flagged && d.status == "shifted", "{d:?}");
        assert!(d.mean_now.unwrap() - d.mean_training.unwrap() > 0.6);
        // a column that starts arriving NULL drifts through its NULL bin alone
        let emptied: Vec<f64> = (0..5_000).map(|i| if i % 3 == 0 { f64::NAN } else { normal(&mut rng) }).collect();
        let d = drift_of(&emptied);
        assert!(d.flagged, "{d:?}");
        assert!((d.null_share_now - 1667.0 / 5000.0).abs() < 1e-9);
        assert_eq!(d.bins.last().unwrap().0, "NULL");
    }

    #[test]
    fn category_shares_other_and_null() {
        let levels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let codes: Vec<u32> = (0..100)
            .map(|i| {
                if i < 60 {
                    0
                } else if i < 90 {
                    1
                } else if i < 95 {
                    2
                } else {
                    NULL_CODE
                }
            })
            .collect();
        let profile = Profile::of_categories(&codes, &levels);
        let Profile::Categorical { levels: kept, shares, other_share, null_share, .. } = &profile else { unreachable!() };
        assert_eq!(kept, &["a", "b", "c"]);
        assert_eq!(shares, &[0.6, 0.3, 0.05]);
        assert_eq!((*other_share, *null_share), (0.0, 0.05));
        let mut counter = profile.counter();
        for i in 0..100 {
            counter.add(if i < 60 {
                Value::Text("a")
            } else if i < 90 {
                Value::Text("b")
            } else if i < 95 {
                Value::Text("c")
            } else {
                Value::Null
            });
        }
        assert!(counter.finish().psi < 1e-12);
        // a new level takes over: "other" and the lost share drift
        let mut counter = profile.counter();
        for i in 0..100 {
            counter.add(if i < 30 {
                Value::Text("a")
            } else if i < 60 {
                Value::Text("new")
            } else {
                Value::Text("b")
            });
        }
        let d = counter.finish();
        assert!(d.flagged, "{d:?}");
        assert_eq!(d.bins[3], ("(other)".to_string(), 0.0, 0.3));
    }

    #[test]
    fn no_rows_is_reported_not_stable() {
        let profile = Profile::of_numbers(&[1.0, 2.0, 3.0], 10);
        let d = profile.counter().finish();
        assert!(d.psi.is_nan() && !d.flagged && d.status == "no rows");
    }
}
