//! Holdout metrics of a regressor, from predictions and true targets.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub rmse: f64,
    pub mae: f64,
    /// 1 − SSE/SST; for a constant target 1 when every prediction is exact, else 0 (as
    /// scikit-learn's r2_score), never NaN.
    pub r2: f64,
    /// Mean Poisson deviance `2·(y·ln(y/μ) − (y − μ))` (y·ln y = 0 at y = 0), when every
    /// target is ≥ 0 and every prediction > 0; None otherwise (undefined).
    pub poisson_deviance: Option<f64>,
    pub mean_target: f64,
    pub mean_prediction: f64,
    pub rows: u64,
}

pub fn evaluate(pred: &[f64], y: &[f64]) -> RegressionMetrics {
    let n = y.len().max(1) as f64;
    let mean_target = y.iter().sum::<f64>() / n;
    let mean_prediction = pred.iter().sum::<f64>() / n;
    let sse: f64 = pred.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum();
    let sst: f64 = y.iter().map(|t| (t - mean_target) * (t - mean_target)).sum();
    let r2 = if sst > 0.0 {
        1.0 - sse / sst
    } else if sse == 0.0 {
        1.0
    } else {
        0.0
    };
    let poisson_deviance = (y.iter().all(|&t| t >= 0.0) && pred.iter().all(|&p| p > 0.0)).then(|| {
        let total: f64 = pred.iter().zip(y).map(|(&mu, &t)| 2.0 * (if t > 0.0 { t * (t / mu).ln() } else { 0.0 } - (t - mu))).sum();
        total / n
    });
    RegressionMetrics {
        rmse: (sse / n).sqrt(),
        mae: pred.iter().zip(y).map(|(p, t)| (p - t).abs()).sum::<f64>() / n,
        r2,
        poisson_deviance,
        mean_target,
        mean_prediction,
        rows: y.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let m = evaluate(&[1.0, 2.0, 4.0], &[1.0, 3.0, 2.0]);
        // errors 0, −1, 2: SSE 5, |e| 3; mean target 2, SST 0 + 1 + 0 = 2
        assert!((m.rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((m.mae - 1.0).abs() < 1e-15);
        assert!((m.r2 - (1.0 - 5.0 / 2.0)).abs() < 1e-15);
        assert_eq!((m.mean_target, m.mean_prediction, m.rows), (2.0, 7.0 / 3.0, 3));
        // deviance: 2·[0 + (3 ln 1.5 − 1) + (2 ln 0.5 + 2)] / 3
        let expected = 2.0 * ((3.0 * 1.5f64.ln() - 1.0) + (2.0 * 0.5f64.ln() + 2.0)) / 3.0;
        assert!((m.poisson_deviance.unwrap() - expected).abs() < 1e-12);
        // y = 0 contributes 2μ
        assert!((evaluate(&[0.5], &[0.0]).poisson_deviance.unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(evaluate(&[0.0, 1.0], &[1.0, 1.0]).poisson_deviance, None, "a prediction of 0");
        assert_eq!(evaluate(&[1.0, 1.0], &[-1.0, 1.0]).poisson_deviance, None, "a negative target");
        assert_eq!(evaluate(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        assert_eq!(evaluate(&[1.0, 3.0], &[2.0, 2.0]).r2, 0.0);
        assert!(serde_json::to_string(&m).unwrap().contains("\"poisson_deviance\""));
    }
}
