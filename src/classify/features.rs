//! Feature preparation for classifiers: each input column's type, how its missing values
//! are imputed and how it is encoded into the numeric vector the algorithms see. Fitted on
//! training rows, stored inside the model, applied identically when scoring.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// What kind of SQL value a feature column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    Number,
    Boolean,
    /// dates and timestamps, as days since 1970-01-01
    Days,
    Text,
}

/// A training column as read from the source: numbers (NaN = NULL) or category codes.
pub enum RawColumn {
    Numbers { name: String, kind: ValueKind, values: Vec<f64> },
    Categories { name: String, codes: Vec<u32>, levels: Vec<String> },
}

/// Code of a NULL category value.
pub const NULL_CODE: u32 = u32::MAX;

impl RawColumn {
    pub fn name(&self) -> &str {
        match self {
            RawColumn::Numbers { name, .. } | RawColumn::Categories { name, .. } => name,
        }
    }
}

/// One input column's fitted preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Feature {
    /// Imputed with the training median when NULL; standardised; an indicator column
    /// marks imputed values when the training data had NULLs.
    Numeric { name: String, kind: ValueKind, median: f64, mean: f64, std: f64, missing_indicator: bool },
    /// One-hot over the frequent levels, plus "other" (rare and unseen levels) and, when
    /// the training data had NULLs, a NULL level.
    Categorical { name: String, levels: Vec<String>, null_level: bool },
}

/// A value of one feature in one row, as the scorer reads it.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Number(f64),
    Text(&'a str),
}

impl<'v> From<&'v Value<'_>> for Value<'v> {
    fn from(value: &'v Value<'_>) -> Value<'v> {
        match *value {
            Value::Null => Value::Null,
            Value::Number(x) => Value::Number(x),
            Value::Text(t) => Value::Text(t),
        }
    }
}

impl Feature {
    pub fn name(&self) -> &str {
        match self {
            Feature::Numeric { name, .. } | Feature::Categorical { name, .. } => name,
        }
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Feature::Numeric { kind, .. } => *kind,
            Feature::Categorical { .. } => ValueKind::Text,
        }
    }

    /// Number of encoded columns.
    pub fn width(&self) -> usize {
        match self {
            Feature::Numeric { missing_indicator, .. } => 1 + *missing_indicator as usize,
            Feature::Categorical { levels, null_level, .. } => levels.len() + 1 + *null_level as usize,
        }
    }

    pub fn encoded_names(&self) -> Vec<String> {
        match self {
            Feature::Numeric { name, missing_indicator, .. } => {
                let mut v = vec![name.clone()];
                if *missing_indicator {
                    v.push(format!("{name} is null"));
                }
                v
            }
            Feature::Categorical { name, levels, null_level } => {
                let mut v: Vec<String> = levels.iter().map(|l| format!("{name}={l}")).collect();
                v.push(format!("{name}=(other)"));
                if *null_level {
                    v.push(format!("{name}=(null)"));
                }
                v
            }
        }
    }

    /// Writes this feature's encoded columns into `out` (exactly `width()` values).
    pub fn encode(&self, value: Value<'_>, out: &mut [f64]) {
        match self {
            Feature::Numeric { median, mean, std, missing_indicator, .. } => {
                let (x, missing) = match value {
                    Value::Number(x) if x.is_finite() => (x, false),
                    _ => (*median, true),
                };
                out[0] = (x - mean) / std;
                if *missing_indicator {
                    out[1] = missing as u8 as f64;
                }
            }
            Feature::Categorical { levels, null_level, .. } => {
                out.iter_mut().for_each(|v| *v = 0.0);
                let other = levels.len();
                let slot = match value {
                    Value::Null if *null_level => other + 1,
                    Value::Null => other,
                    Value::Text(t) => levels.iter().position(|l| l == t).unwrap_or(other),
                    Value::Number(x) => levels.iter().position(|l| l.parse::<f64>().ok() == Some(x)).unwrap_or(other),
                };
                out[slot] = 1.0;
            }
        }
    }

    /// Fits a column's preprocessing on the rows in `rows`.
    pub fn fit(column: &RawColumn, rows: &[usize], max_levels: usize, min_level_count: usize) -> Feature {
        match column {
            RawColumn::Numbers { name, kind, values } => {
                let mut present: Vec<f64> = rows.iter().map(|&r| values[r]).filter(|v| v.is_finite()).collect();
                let missing = present.len() < rows.len();
                let median = if present.is_empty() {
                    0.0
                } else {
                    // Selection, not a sort: linear time on a million rows.
                    let odd = present.len() % 2 == 1;
                    let m = present.len() / 2;
                    let (below, upper, _) = present.select_nth_unstable_by(m, |a, b| a.total_cmp(b));
                    if odd {
                        *upper
                    } else {
                        (below.iter().copied().fold(f64::NEG_INFINITY, f64::max) + *upper) / 2.0
                    }
                };
                let n = rows.len().max(1) as f64;
                let imputed = |r: usize| {
                    if values[r].is_finite() {
                        values[r]
                    } else {
                        median
                    }
                };
                let mean = rows.iter().map(|&r| imputed(r)).sum::<f64>() / n;
                let var = rows.iter().map(|&r| (imputed(r) - mean).powi(2)).sum::<f64>() / n;
                let std = if var > 0.0 && var.is_finite() { var.sqrt() } else { 1.0 };
                Feature::Numeric { name: name.clone(), kind: *kind, median, mean, std, missing_indicator: missing }
            }
            RawColumn::Categories { name, codes, levels } => {
                let mut counts: HashMap<u32, usize> = HashMap::new();
                let mut nulls = 0;
                for &r in rows {
                    if codes[r] == NULL_CODE {
                        nulls += 1;
                    } else {
                        *counts.entry(codes[r]).or_default() += 1;
                    }
                }
                let mut frequent: Vec<(u32, usize)> = counts.into_iter().filter(|&(_, c)| c >= min_level_count).collect();
                // most frequent first; ties by level text so the model is deterministic
                frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| levels[a.0 as usize].cmp(&levels[b.0 as usize])));
                frequent.truncate(max_levels);
                Feature::Categorical {
                    name: name.clone(),
                    levels: frequent.into_iter().map(|(code, _)| levels[code as usize].clone()).collect(),
                    null_level: nulls > 0,
                }
            }
        }
    }

    /// The raw value of `column` at `row`, for encoding training rows.
    pub fn raw_value<'a>(column: &'a RawColumn, row: usize) -> Value<'a> {
        match column {
            RawColumn::Numbers { values, .. } => {
                if values[row].is_finite() {
                    Value::Number(values[row])
                } else {
                    Value::Null
                }
            }
            RawColumn::Categories { codes, levels, .. } => {
                if codes[row] == NULL_CODE {
                    Value::Null
                } else {
                    Value::Text(&levels[codes[row] as usize])
                }
            }
        }
    }
}

/// The fitted preprocessing of all features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    pub features: Vec<Feature>,
    /// Offset of each feature's first encoded column.
    pub offsets: Vec<usize>,
    pub width: usize,
}

impl FeatureSet {
    /// Whether the stored offsets and width agree with the features (what encoding
    /// indexes by).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let fresh = FeatureSet::new(self.features.clone());
        if fresh.offsets != self.offsets || fresh.width != self.width {
            return Err(format!("feature offsets or width ({}) disagree with the {} features", self.width, self.features.len()));
        }
        Ok(())
    }

    pub fn new(features: Vec<Feature>) -> FeatureSet {
        let mut offsets = Vec::with_capacity(features.len());
        let mut width = 0;
        for f in &features {
            offsets.push(width);
            width += f.width();
        }
        FeatureSet { features, offsets, width }
    }

    /// Encodes feature `i`'s value into its columns of `buffer` (an encoded row).
    #[inline]
    pub fn encode_into(&self, i: usize, value: Value<'_>, buffer: &mut [f64]) {
        let at = self.offsets[i];
        let feature = &self.features[i];
        feature.encode(value, &mut buffer[at..at + feature.width()]);
    }

    /// Encodes one row of raw cells (one per feature, in `features` order; anything that
    /// yields a `Value`, such as the scorer's row cells) into `buffer`, without collecting
    /// the values first.
    pub fn encode_cells<T>(&self, cells: &[T], buffer: &mut Vec<f64>)
    where
        for<'v> &'v T: Into<Value<'v>>,
    {
        buffer.clear();
        buffer.resize(self.width, 0.0);
        for (i, cell) in cells.iter().enumerate().take(self.features.len()) {
            self.encode_into(i, cell.into(), buffer);
        }
    }

    /// Row-major encoded matrix of `rows` (rows.len() × width).
    pub fn encode_rows(&self, columns: &[RawColumn], rows: &[usize]) -> Vec<f64> {
        let mut out = vec![0.0; rows.len() * self.width];
        for (i, &r) in rows.iter().enumerate() {
            let line = &mut out[i * self.width..(i + 1) * self.width];
            for (f, (feature, column)) in self.features.iter().zip(columns).enumerate() {
                let at = self.offsets[f];
                feature.encode(Feature::raw_value(column, r), &mut line[at..at + feature.width()]);
            }
        }
        out
    }

    pub fn encoded_names(&self) -> Vec<String> {
        self.features.iter().flat_map(Feature::encoded_names).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_imputation_standardisation_and_indicator() {
        let col = RawColumn::Numbers { name: "x".into(), kind: ValueKind::Number, values: vec![1.0, f64::NAN, 3.0, 5.0] };
        let f = Feature::fit(&col, &[0, 1, 2, 3], 10, 1);
        let Feature::Numeric { median, missing_indicator, .. } = &f else { panic!() };
        assert_eq!(*median, 3.0);
        assert!(*missing_indicator);
        let mut out = [0.0; 2];
        f.encode(Value::Null, &mut out);
        assert_eq!(out[1], 1.0);
        f.encode(Value::Number(3.0), &mut out);
        assert_eq!(out, [0.0, 0.0]); // mean of 1,3,3,5 is 3
    }

    #[test]
    fn categorical_levels_other_and_null() {
        let col =
            RawColumn::Categories { name: "plan".into(), codes: vec![0, 0, 1, 2, NULL_CODE, 0, 1], levels: vec!["basic".into(), "pro".into(), "rare".into()] };
        let f = Feature::fit(&col, &(0..7).collect::<Vec<_>>(), 10, 2);
        assert_eq!(f.encoded_names(), vec!["plan=basic", "plan=pro", "plan=(other)", "plan=(null)"]);
        let mut out = [9.0; 4];
        f.encode(Value::Text("rare"), &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 0.0]);
        f.encode(Value::Text("never seen"), &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 0.0]);
        f.encode(Value::Null, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0]);
    }
}
