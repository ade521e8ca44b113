//! The benchmark forecasts: the mean, the last value (naive), and the value one season
//! back (seasonal naive). They need no fitting, serve as the fallback of short series,
//! and keep the automatic choice honest: a model must beat them in cross-validation to be
//! picked.

use super::{Components, ModelFit};

/// Every step: the mean of the history.
pub fn mean(y: &[f64], h: usize) -> ModelFit {
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let residuals = y.iter().map(|v| v - mean).collect();
    ModelFit { mean: vec![mean; h], residuals, params: vec![], components: Some(Components { level: mean, ..Components::default() }) }
}

/// Every step: the last value.
pub fn naive(y: &[f64], h: usize) -> ModelFit {
    let last = y.last().copied().unwrap_or(0.0);
    let residuals = y.windows(2).map(|w| w[1] - w[0]).collect();
    ModelFit { mean: vec![last; h], residuals, params: vec![], components: Some(Components { level: last, ..Components::default() }) }
}

/// Step k: the value at the same position of the last season (m back, 2m back for steps
/// beyond one season, …). Needs m points.
pub fn seasonal_naive(y: &[f64], m: usize, h: usize) -> ModelFit {
    let n = y.len();
    let mean = (1..=h).map(|k| y[n - m + (k - 1) % m]).collect();
    let residuals = y.windows(m + 1).map(|w| w[m] - w[0]).collect();
    let season = y[n - m..].to_vec();
    ModelFit { mean, residuals, params: vec![], components: Some(Components { season, ..Components::default() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_a_pure_season_exactly() {
        let pattern = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0];
        let y: Vec<f64> = (0..35).map(|t| pattern[t % 7]).collect();
        let fit = seasonal_naive(&y, 7, 17);
        for (k, f) in fit.mean.iter().enumerate() {
            assert_eq!(*f, pattern[(35 + k) % 7], "step {}", k + 1);
        }
        assert!(fit.residuals.iter().all(|r| *r == 0.0));
    }

    #[test]
    fn mean_and_naive() {
        let y = [1.0, 2.0, 6.0];
        assert_eq!(mean(&y, 2).mean, vec![3.0, 3.0]);
        assert_eq!(naive(&y, 2).mean, vec![6.0, 6.0]);
        assert_eq!(naive(&y, 1).residuals, vec![1.0, 4.0]);
    }
}
