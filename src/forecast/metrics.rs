//! Accuracy measures of point forecasts and intervals. Each takes the actual values and
//! the forecasts of one series (or of several, flattened, for the pooled measures) and
//! returns None when it is undefined (no points, or a zero scale).

/// Symmetric MAPE in percent: the mean of 200·|y − f| / (|y| + |f|), a term being 0 when y
/// and f are both 0.
pub fn smape(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let n = actual.len().min(forecast.len());
    if n == 0 {
        return None;
    }
    let total: f64 = actual.iter().zip(forecast).map(|(y, f)| if y.abs() + f.abs() == 0.0 { 0.0 } else { 200.0 * (y - f).abs() / (y.abs() + f.abs()) }).sum();
    Some(total / n as f64)
}

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let n = actual.len().min(forecast.len());
    (n > 0).then(|| actual.iter().zip(forecast).map(|(y, f)| (y - f).abs()).sum::<f64>() / n as f64)
}

/// The in-sample MAE of the seasonal naive forecast of lag m (1: naive) on `history`: the
/// scale of MASE. None when the history is not longer than m.
pub fn naive_scale(history: &[f64], m: usize) -> Option<f64> {
    let m = m.max(1);
    (history.len() > m).then(|| history.windows(m + 1).map(|w| (w[m] - w[0]).abs()).sum::<f64>() / (history.len() - m) as f64)
}

/// Mean absolute scaled error: the MAE over the in-sample MAE of the lag-m seasonal
/// naive forecast. None when that scale is 0 or undefined.
pub fn mase(actual: &[f64], forecast: &[f64], history: &[f64], m: usize) -> Option<f64> {
    let scale = naive_scale(history, m)?;
    (scale > 0.0).then_some(())?;
    Some(mae(actual, forecast)? / scale)
}

/// Root mean squared error.
pub fn rmse(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let n = actual.len().min(forecast.len());
    (n > 0).then(|| (actual.iter().zip(forecast).map(|(y, f)| (y - f).powi(2)).sum::<f64>() / n as f64).sqrt())
}

/// Weighted absolute percentage error in percent: 100·Σ|y − f| / Σ|y|.
pub fn wape(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let total: f64 = actual.iter().map(|y| y.abs()).sum();
    (total > 0.0 && !forecast.is_empty()).then(|| 100.0 * actual.iter().zip(forecast).map(|(y, f)| (y - f).abs()).sum::<f64>() / total)
}

/// The share of actual values inside [lo, hi].
pub fn coverage(actual: &[f64], lo: &[f64], hi: &[f64]) -> Option<f64> {
    let n = actual.len().min(lo.len()).min(hi.len());
    (n > 0).then(|| actual.iter().zip(lo).zip(hi).filter(|((y, l), u)| **l <= **y && **y <= **u).count() as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let y = [2.0, 0.0, 4.0];
        let f = [1.0, 0.0, 5.0];
        assert!((smape(&y, &f).unwrap() - (200.0 / 3.0 + 0.0 + 200.0 / 9.0) / 3.0).abs() < 1e-12);
        assert_eq!(mae(&y, &f), Some(2.0 / 3.0));
        assert!((rmse(&y, &f).unwrap() - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((wape(&y, &f).unwrap() - 100.0 * 2.0 / 6.0).abs() < 1e-12);
        // Seasonal naive of lag 2 on [1, 2, 3, 5]: errors 2 and 3, scale 2.5.
        assert!((mase(&y, &f, &[1.0, 2.0, 3.0, 5.0], 2).unwrap() - (2.0 / 3.0) / 2.5).abs() < 1e-12);
        assert_eq!(coverage(&y, &[0.0, 0.5, 3.0], &[3.0, 1.0, 3.5]), Some(1.0 / 3.0));
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(smape(&[], &[]), None);
        assert_eq!(smape(&[0.0], &[0.0]), Some(0.0));
        assert_eq!(mase(&[1.0], &[1.0], &[3.0, 3.0, 3.0], 1), None, "a constant history has no scale");
        assert_eq!(mase(&[1.0], &[1.0], &[3.0], 1), None);
        assert_eq!(wape(&[0.0], &[1.0]), None);
    }
}
