//! Classification metrics, as scikit-learn computes them: accuracy, per-class precision,
//! recall, F1 and support, macro-F1 (`f1_score(average='macro')`: the unweighted mean
//! over the classes present in the true or predicted labels, 0 where undefined) and the
//! confusion matrix.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose true class this is.
    pub support: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub rows: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// F1 averaged with each class weighted by its support.
    pub weighted_f1: f64,
    pub classes: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`, classes in `classes` order.
    pub confusion: Vec<Vec<u64>>,
}

impl ClassificationReport {
    /// The report of predictions `predicted` against `truth` (class indices below
    /// `labels.len()`; extra entries of the longer slice are ignored).
    pub fn new(truth: &[u32], predicted: &[u32], labels: &[String]) -> ClassificationReport {
        let k = labels.len();
        let mut confusion = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            if (t as usize) < k && (p as usize) < k {
                confusion[t as usize][p as usize] += 1;
            }
        }
        let rows: u64 = confusion.iter().flatten().sum();
        let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut classes = Vec::with_capacity(k);
        let (mut f1_sum, mut present, mut weighted) = (0.0, 0usize, 0.0);
        for c in 0..k {
            let tp = confusion[c][c];
            let support: u64 = confusion[c].iter().sum();
            let predicted_c: u64 = (0..k).map(|t| confusion[t][c]).sum();
            let precision = ratio(tp, predicted_c);
            let recall = ratio(tp, support);
            let f1 = ratio(2 * tp, support + predicted_c);
            // scikit-learn averages over the labels that occur in truth or predictions.
            if support + predicted_c > 0 {
                f1_sum += f1;
                present += 1;
            }
            weighted += f1 * support as f64;
            classes.push(ClassMetrics { label: labels[c].clone(), precision, recall, f1, support });
        }
        ClassificationReport {
            rows,
            accuracy: ratio(correct, rows),
            macro_f1: if present == 0 { 0.0 } else { f1_sum / present as f64 },
            weighted_f1: if rows == 0 { 0.0 } else { weighted / rows as f64 },
            classes,
            confusion,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn macro_f1_matches_a_hand_computed_case() {
        // truth:     a a a b b c
        // predicted: a a b b c c
        // a: tp 2, fp 0, fn 1 -> f1 = 4/5;  b: tp 1, fp 1, fn 1 -> 1/2;  c: tp 1, fp 1, fn 0 -> 2/3
        let r = ClassificationReport::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &labels(&["a", "b", "c"]));
        let expected = (0.8 + 0.5 + 2.0 / 3.0) / 3.0;
        assert!((r.macro_f1 - expected).abs() < 1e-12, "{}", r.macro_f1);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
        assert_eq!(r.classes[0].support, 3);
        assert!((r.classes[0].precision - 1.0).abs() < 1e-12 && (r.classes[0].recall - 2.0 / 3.0).abs() < 1e-12);
        let weighted = (0.8 * 3.0 + 0.5 * 2.0 + 2.0 / 3.0) / 6.0;
        assert!((r.weighted_f1 - weighted).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_are_left_out_of_the_macro_average_and_undefined_is_zero() {
        // Class c never occurs: sklearn's macro average covers a and b only. b is never
        // predicted: its precision is 0 (sklearn's zero_division).
        let r = ClassificationReport::new(&[0, 1], &[0, 0], &labels(&["a", "b", "c"]));
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.0) / 2.0).abs() < 1e-12);
        assert_eq!(r.classes[1].precision, 0.0);
        let empty = ClassificationReport::new(&[], &[], &labels(&["a", "b"]));
        assert_eq!((empty.accuracy, empty.macro_f1, empty.rows), (0.0, 0.0, 0));
        assert!(r.to_json()["classes"][0]["f1"].is_number());
    }
}
