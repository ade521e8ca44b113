//! Seasonal models that work for long seasons (weekly data, m = 52) with only two or three
//! seasons of history, where Holt–Winters has too little data to learn m seasonal states
//! (statsforecast's ETS refuses m > 24 for that reason).
//!
//! * `seasonal_average`: the same period of each past season, averaged, moved to the
//!   current level: ŷ_{n+h} = mean_k y_{n+h−k·m} + (recent level − mean_k level k seasons
//!   ago), both levels the mean of the `w` periods before the origin. Averaging seasons
//!   halves the noise of a seasonal naive forecast; comparing the same periods a season
//!   apart measures the level change without seasonal bias.
//! * `decomposed` (STL-like): a season from a seasonal-dummy regression with a linear
//!   trend over the whole history, shrunk by empirical Bayes (`shrunk_season`), taken out; exponential smoothing on what is left; the
//!   season put back. The smoothing tracks the recent level and trend, the regression
//!   pools all seasons for the shape.

use super::ets::{self, Spec};
use super::{Components, ModelFit};

/// y_t ≈ intercept + slope·t + season[t % m], least squares with the season summing to
/// zero.
pub struct Regression {
    pub intercept: f64,
    pub slope: f64,
    /// Indexed by position t % m; zero for positions never seen.
    pub season: Vec<f64>,
}

/// The seasonal-dummy regression by Frisch–Waugh: the slope from the data demeaned within
/// each position, then each position's mean less the slope's share. Positions seen once
/// tell nothing about the slope; with every position seen once the slope is 0.
pub fn dummy_regression(y: &[f64], m: usize) -> Regression {
    let m = m.max(1);
    let mut count = vec![0usize; m];
    let mut sum_y = vec![0.0; m];
    let mut sum_t = vec![0.0; m];
    for (t, &v) in y.iter().enumerate() {
        count[t % m] += 1;
        sum_y[t % m] += v;
        sum_t[t % m] += t as f64;
    }
    let mean = |sum: &[f64], j: usize| if count[j] > 0 { sum[j] / count[j] as f64 } else { 0.0 };
    let (mut cross, mut square) = (0.0, 0.0);
    for (t, &v) in y.iter().enumerate() {
        let j = t % m;
        let dt = t as f64 - mean(&sum_t, j);
        cross += (v - mean(&sum_y, j)) * dt;
        square += dt * dt;
    }
    let slope = if square > 0.0 { cross / square } else { 0.0 };
    let seen: Vec<usize> = (0..m).filter(|&j| count[j] > 0).collect();
    let effects: Vec<f64> = (0..m).map(|j| mean(&sum_y, j) - slope * mean(&sum_t, j)).collect();
    let intercept = seen.iter().map(|&j| effects[j]).sum::<f64>() / seen.len().max(1) as f64;
    let season = (0..m).map(|j| if count[j] > 0 { effects[j] - intercept } else { 0.0 }).collect();
    Regression { intercept, slope, season }
}

/// Periods each level of `seasonal_average` averages: a quarter of a season, so weekly data
/// compare the last 13 weeks with the same 13 weeks of earlier years.
fn level_window(m: usize) -> usize {
    m.div_ceil(4).max(1)
}

/// The least history `seasonal_average` needs: one season and its level window.
pub fn seasonal_average_min_length(m: usize) -> usize {
    m + level_window(m)
}

/// See the module comment. Needs `seasonal_average_min_length(m)` points.
pub fn seasonal_average(y: &[f64], m: usize, h: usize) -> ModelFit {
    let n = y.len();
    let w = level_window(m).min(n);
    let recent = y[n - w..].iter().sum::<f64>() / w as f64;
    // Seasons back whose level window is inside the data.
    let seasons = ((n - w) / m).max(1);
    let past_levels: Vec<f64> = (1..=seasons).map(|k| y[n - k * m - w..n - k * m].iter().sum::<f64>() / w as f64).collect();
    let shift = recent - past_levels.iter().sum::<f64>() / seasons as f64;
    let mean: Vec<f64> = (1..=h)
        .map(|step| {
            // The same position in each of the last `seasons` seasons (steps beyond a season
            // reuse the latest seasons, as a seasonal naive forecast does).
            let back = (step - 1) / m + 1;
            let values: Vec<f64> = (0..seasons).map(|k| y[n + step - 1 - (back + k) * m]).collect();
            values.iter().sum::<f64>() / values.len() as f64 + shift
        })
        .collect();
    let season: Vec<f64> = {
        let profile: Vec<f64> = (0..m).map(|k| (0..seasons).map(|s| y[n + k - (s + 1) * m]).sum::<f64>() / seasons as f64).collect();
        let centre = profile.iter().sum::<f64>() / m as f64;
        profile.iter().map(|v| v - centre).collect()
    };
    ModelFit {
        mean,
        residuals: Vec::new(),
        params: vec![("seasons_averaged".to_string(), seasons as f64), ("level_shift".to_string(), shift)],
        components: Some(Components { level: recent, trend: 0.0, damping: 0.0, season }),
    }
}

/// The seasonal effects of `dummy_regression`, shrunk towards zero by empirical Bayes
/// (James–Stein): an effect estimated from c values has noise variance σ²/c, σ² the
/// regression's residual variance; the true effects spread τ² = (mean squared effect −
/// mean noise variance); each effect keeps the share τ² / (τ² + σ²/c) of itself. With two
/// or three seasons of weekly data an effect rests on two or three values, and shrinking
/// the noisy ones (while a clear holiday peak, large against the noise, stays) cuts the
/// forecast error markedly.
pub fn shrunk_season(y: &[f64], m: usize) -> Vec<f64> {
    let regression = dummy_regression(y, m);
    let mut count = vec![0usize; m];
    let mut rss = 0.0;
    for (t, v) in y.iter().enumerate() {
        count[t % m] += 1;
        let r = v - regression.intercept - regression.slope * t as f64 - regression.season[t % m];
        rss += r * r;
    }
    let seen = count.iter().filter(|c| **c > 0).count().max(1);
    // Degrees of freedom: one per seen position and one for the slope.
    let sigma2 = rss / (y.len() as f64 - seen as f64 - 1.0).max(1.0);
    let noise = (0..m).filter(|&j| count[j] > 0).map(|j| sigma2 / count[j] as f64).sum::<f64>() / seen as f64;
    let spread = regression.season.iter().map(|v| v * v).sum::<f64>() / seen as f64;
    let tau2 = (spread - noise).max(0.0);
    (0..m)
        .map(|j| {
            let noise_j = if count[j] > 0 { sigma2 / count[j] as f64 } else { 0.0 };
            let keep = if tau2 + noise_j > 0.0 { tau2 / (tau2 + noise_j) } else { 0.0 };
            keep * regression.season[j]
        })
        .collect()
}

/// The least history `decomposed` needs: a season and two more points (so that the slope
/// of the regression is identified), and at least 3 after that for the smoothing.
pub fn decomposed_min_length(m: usize) -> usize {
    (m + 2).max(6)
}

/// See the module comment; `inner` is the smoothing of the seasonally adjusted series.
pub fn decomposed(y: &[f64], m: usize, h: usize, inner: Spec) -> ModelFit {
    let season = shrunk_season(y, m);
    let adjusted: Vec<f64> = y.iter().enumerate().map(|(t, v)| v - season[t % m]).collect();
    let mut fit = ets::fit(&adjusted, 1, inner, h);
    let n = y.len();
    for (k, v) in fit.mean.iter_mut().enumerate() {
        *v += season[(n + k) % m];
    }
    if let Some(c) = fit.components.as_mut() {
        c.season = (0..m).map(|k| season[(n + k) % m]).collect();
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(years: usize, growth: f64) -> Vec<f64> {
        (0..52 * years)
            .map(|t| 1000.0 + growth * t as f64 + 300.0 * ((t % 52) as f64 / 52.0 * std::f64::consts::TAU).sin() + if t % 52 == 46 { 800.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn the_regression_recovers_trend_and_season() {
        let y = weekly(3, 2.0);
        let r = dummy_regression(&y, 52);
        assert!((r.slope - 2.0).abs() < 1e-9, "{}", r.slope);
        assert!(r.season.iter().sum::<f64>().abs() < 1e-6);
        let y2 = &y[..130];
        let r2 = dummy_regression(y2, 52);
        assert!((r2.slope - 2.0).abs() < 1e-9);
        for t in 0..52 {
            assert!((r.season[t] - r2.season[t]).abs() < 1e-6);
        }
    }

    #[test]
    fn seasonal_average_is_exact_on_a_season_with_a_level_step() {
        // Two and a half seasons, the level stepping up by 50 each season: averaging the
        // seasons and moving to the recent level gives the next season exactly.
        let y: Vec<f64> = (0..130).map(|t| 100.0 + 50.0 * (t / 52) as f64 + ((t % 52) as f64 * 3.0)).collect();
        let fit = seasonal_average(&y[..104], 52, 13);
        for (k, f) in fit.mean.iter().enumerate() {
            assert!((f - y[104 + k]).abs() < 1e-9, "step {}: {f} vs {}", k + 1, y[104 + k]);
        }
    }

    #[test]
    fn decomposed_follows_trend_and_holiday_peaks() {
        let y = weekly(3, 1.0);
        let fit = decomposed(&y[..130], 52, 26, Spec::Damped);
        for (k, f) in fit.mean.iter().enumerate() {
            assert!((f - y[130 + k]).abs() < 0.03 * y[130 + k].abs() + 5.0, "step {}: {f} vs {}", k + 1, y[130 + k]);
        }
    }
}
