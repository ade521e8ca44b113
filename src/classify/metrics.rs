//! Holdout metrics of a binary classifier, from predicted positive-class probabilities.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Threshold with the best F1 on the holdout, and the scores there.
    pub best_threshold: f64,
    pub best_f1: f64,
    pub best_precision: f64,
    pub best_recall: f64,
    /// At 0.5: [[true negatives, false positives], [false negatives, true positives]]
    pub confusion_matrix: [[u64; 2]; 2],
    pub positive_rate: f64,
    pub rows: u64,
    pub expected_calibration_error: f64,
    /// Mean prediction and observed rate per decile of the predictions.
    pub calibration: Vec<CalibrationBin>,
}

/// ROC AUC by ranks (ties get their average rank): the probability that a random positive
/// scores above a random negative.
pub fn roc_auc(p: &[f64], y: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if y[k] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// The precision-recall sweep shared by average precision and the best-F1 threshold:
/// for each distinct score from high to low, (score, true positives, false positives)
/// counted over every row scoring at least that much.
fn sweep(p: &[f64], y: &[bool]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && p[order[j]] == p[order[i]] {
            if y[order[j]] {
                tp += 1.0
            } else {
                fp += 1.0
            }
            j += 1;
        }
        out.push((p[order[i]], tp, fp));
        i = j;
    }
    out
}

/// Average precision (scikit-learn's definition: Σ (Rₙ − Rₙ₋₁)·Pₙ over thresholds).
pub fn average_precision(p: &[f64], y: &[bool]) -> f64 {
    let pos = y.iter().filter(|&&v| v).count() as f64;
    if pos == 0.0 {
        return f64::NAN;
    }
    let mut last_recall = 0.0;
    sweep(p, y)
        .into_iter()
        .map(|(_, tp, fp)| {
            let recall = tp / pos;
            let step = (recall - last_recall) * tp / (tp + fp);
            last_recall = recall;
            step
        })
        .sum()
}

fn prf(tp: f64, fp: f64, fnn: f64) -> (f64, f64, f64) {
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fnn > 0.0 { tp / (tp + fnn) } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

pub fn evaluate(p: &[f64], y: &[bool]) -> Metrics {
    let n = p.len() as f64;
    let eps = 1e-15;
    let log_loss = p
        .iter()
        .zip(y)
        .map(|(&q, &t)| {
            let q = q.clamp(eps, 1.0 - eps);
            if t {
                -q.ln()
            } else {
                -(1.0 - q).ln()
            }
        })
        .sum::<f64>()
        / n;
    let brier = p.iter().zip(y).map(|(&q, &t)| (q - t as u8 as f64).powi(2)).sum::<f64>() / n;
    let mut cm = [[0u64; 2]; 2];
    for (&q, &t) in p.iter().zip(y) {
        cm[t as usize][(q >= 0.5) as usize] += 1;
    }
    let (tn, fp, fnn, tp) = (cm[0][0] as f64, cm[0][1] as f64, cm[1][0] as f64, cm[1][1] as f64);
    let (precision, recall, f1) = prf(tp, fp, fnn);
    // best F1 over all thresholds
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let mut best = (0.0, 0.5, 0.0, 0.0);
    for (threshold, stp, sfp) in sweep(p, y) {
        let (pr, rc, f) = prf(stp, sfp, pos - stp);
        if f > best.0 {
            best = (f, threshold, pr, rc);
        }
    }
    Metrics {
        roc_auc: roc_auc(p, y),
        pr_auc: average_precision(p, y),
        log_loss,
        brier,
        accuracy: (tp + tn) / n,
        precision,
        recall,
        f1,
        best_threshold: best.1,
        best_f1: best.0,
        best_precision: best.2,
        best_recall: best.3,
        confusion_matrix: cm,
        positive_rate: pos / n,
        rows: p.len() as u64,
        expected_calibration_error: expected_calibration_error(p, y),
        calibration: calibration_by_decile(p, y),
    }
}

/// One decile of the predicted probabilities: rows, mean prediction, observed rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    pub bin: usize,
    pub rows: u64,
    pub min_predicted: f64,
    pub max_predicted: f64,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// The calibration table by decile: rows sorted by prediction and cut into ten groups of
/// (nearly) equal size; a calibrated model has mean prediction ≈ observed rate in each.
pub fn calibration_by_decile(p: &[f64], y: &[bool]) -> Vec<CalibrationBin> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let n = order.len();
    (0..10)
        .filter_map(|d| {
            let rows = &order[d * n / 10..(d + 1) * n / 10];
            if rows.is_empty() {
                return None;
            }
            let k = rows.len() as f64;
            Some(CalibrationBin {
                bin: d + 1,
                rows: rows.len() as u64,
                min_predicted: p[rows[0]],
                max_predicted: p[rows[rows.len() - 1]],
                mean_predicted: rows.iter().map(|&r| p[r]).sum::<f64>() / k,
                observed_rate: rows.iter().filter(|&&r| y[r]).count() as f64 / k,
            })
        })
        .collect()
}

/// Expected calibration error: Σ over ten equal-width probability bins of
/// (rows in bin / rows) × |mean prediction − observed rate| (the usual definition, as in
/// Guo et al. 2017 and scikit-learn's calibration_curve with strategy='uniform').
pub fn expected_calibration_error(p: &[f64], y: &[bool]) -> f64 {
    let mut sums = [(0.0f64, 0.0f64, 0u64); 10];
    for (&q, &t) in p.iter().zip(y) {
        let b = ((q * 10.0) as usize).min(9);
        sums[b].0 += q;
        sums[b].1 += t as u8 as f64;
        sums[b].2 += 1;
    }
    let n = p.len().max(1) as f64;
    // (k/n)·|sp/k − sy/k| = |sp − sy|/n
    sums.iter().map(|&(sp, sy, _)| (sp - sy).abs() / n).sum()
}

/// Precision, recall, F1 and the confusion matrix at `threshold` (a row is positive when
/// its probability is at least the threshold).
pub fn at_threshold(p: &[f64], y: &[bool], threshold: f64) -> serde_json::Value {
    let mut cm = [[0u64; 2]; 2];
    for (&q, &t) in p.iter().zip(y) {
        cm[t as usize][(q >= threshold) as usize] += 1;
    }
    let (precision, recall, f1) = prf(cm[1][1] as f64, cm[0][1] as f64, cm[1][0] as f64);
    serde_json::json!({"threshold": threshold, "precision": precision, "recall": recall, "f1": f1, "confusion_matrix": cm})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_table_and_ece() {
        // predictions equal to the observed rate in every bin: ECE 0
        let mut p = Vec::new();
        let mut y = Vec::new();
        for d in 0..10 {
            let q = d as f64 / 10.0 + 0.05;
            for i in 0..100 {
                p.push(q);
                y.push(i < 10 * d + 5);
            }
        }
        assert!(expected_calibration_error(&p, &y) < 1e-9);
        let table = calibration_by_decile(&p, &y);
        assert_eq!(table.len(), 10);
        assert!(table.iter().all(|b| b.rows == 100 && (b.mean_predicted - b.observed_rate).abs() < 1e-9));
        // everything predicted 0.9, observed 0.5: ECE 0.4
        let p = vec![0.9; 100];
        let y: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        assert!((expected_calibration_error(&p, &y) - 0.4).abs() < 1e-12);
        let m = at_threshold(&[0.9, 0.4, 0.6], &[true, true, false], 0.5);
        assert_eq!(m["confusion_matrix"], serde_json::json!([[0, 1], [1, 1]]));
    }

    #[test]
    fn auc_reference_values() {
        // scikit-learn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75, AP = 0.8333
        let p = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert!((roc_auc(&p, &y) - 0.75).abs() < 1e-12);
        assert!((average_precision(&p, &y) - 0.8333333333).abs() < 1e-9);
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), 0.5);
    }

    #[test]
    fn threshold_metrics() {
        let p = [0.9, 0.8, 0.3, 0.2, 0.6];
        let y = [true, true, false, false, false];
        let m = evaluate(&p, &y);
        assert_eq!(m.confusion_matrix, [[2, 1], [0, 2]]);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.recall, 1.0);
        assert_eq!(m.best_f1, 1.0);
        assert_eq!(m.best_threshold, 0.8);
        assert_eq!(m.roc_auc, 1.0);
    }
}
