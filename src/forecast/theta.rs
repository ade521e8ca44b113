//! The Theta method (Assimakopoulos & Nikolopoulos 2000), in the form Hyndman & Billah
//! (2003) showed it to be: simple exponential smoothing with a drift of half the slope of
//! a linear trend, on the seasonally adjusted series. Seasonal adjustment is classical
//! decomposition (centred moving average), multiplicative when every value is positive,
//! additive otherwise, and only when the autocorrelation at the season's lag is
//! significant (90 %, as in the M3 competition's Theta). Long seasons (over 24 periods)
//! are adjusted additively with the shrunk effects of `seasonal::shrunk_season`.

use super::ets::{self, Spec};
use super::seasonal::{decomposed_min_length, shrunk_season};
use super::ModelFit;

/// Longer seasons are adjusted with the shrunk seasonal-dummy effects of `seasonal.rs`:
/// a classical decomposition needs two seasons and estimates each of 52 weekly indices
/// from one or two values.
const LONG_SEASON: usize = 24;

/// Seasonal indices by position t % m from a classical decomposition, or None when the
/// series is not seasonal enough to adjust (or too short: two seasons are needed).
fn seasonal_indices(y: &[f64], m: usize) -> Option<(Vec<f64>, bool)> {
    let n = y.len();
    if m > LONG_SEASON {
        return (n >= decomposed_min_length(m)).then(|| (shrunk_season(y, m), false));
    }
    if m < 2 || n < 2 * m || !significant_at_lag(y, m) {
        return None;
    }
    let multiplicative = y.iter().all(|v| *v > 0.0);
    // Centred moving average of order m (2×m when m is even).
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let trend = if m.is_multiple_of(2) {
            (y[t - half..t + half].iter().sum::<f64>() + y[t - half + 1..=t + half].iter().sum::<f64>()) / (2 * m) as f64
        } else {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        let ratio = if multiplicative { y[t] / trend } else { y[t] - trend };
        if ratio.is_finite() {
            sums[t % m] += ratio;
            counts[t % m] += 1;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    let raw: Vec<f64> = sums.iter().zip(&counts).map(|(s, c)| s / *c as f64).collect();
    let centre = raw.iter().sum::<f64>() / m as f64;
    let indices = if multiplicative { raw.iter().map(|v| v / centre).collect() } else { raw.iter().map(|v| v - centre).collect() };
    Some((indices, multiplicative))
}

/// Whether the autocorrelation at lag m exceeds its 90 % limit (Bartlett's variance).
fn significant_at_lag(y: &[f64], m: usize) -> bool {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n as f64;
    let denominator: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if denominator <= 0.0 {
        return false;
    }
    let acf = |k: usize| (k..n).map(|t| (y[t] - mean) * (y[t - k] - mean)).sum::<f64>() / denominator;
    let below: f64 = (1..m).map(|k| acf(k).powi(2)).sum();
    acf(m).abs() > 1.645 * ((1.0 + 2.0 * below) / n as f64).sqrt()
}

/// Needs 3 points (two seasons for the seasonal adjustment).
pub fn theta(y: &[f64], m: usize, h: usize) -> ModelFit {
    let n = y.len();
    let indices = seasonal_indices(y, m);
    let adjusted: Vec<f64> = match &indices {
        Some((s, true)) => y.iter().enumerate().map(|(t, v)| v / s[t % m]).collect(),
        Some((s, false)) => y.iter().enumerate().map(|(t, v)| v - s[t % m]).collect(),
        None => y.to_vec(),
    };
    // Half the slope of the least-squares line: the θ = 2 line's drift, averaged with the
    // θ = 0 line (the straight trend).
    let t_mean = (n as f64 - 1.0) / 2.0;
    let y_mean = adjusted.iter().sum::<f64>() / n as f64;
    let (mut cross, mut square) = (0.0, 0.0);
    for (t, v) in adjusted.iter().enumerate() {
        cross += (t as f64 - t_mean) * (v - y_mean);
        square += (t as f64 - t_mean).powi(2);
    }
    let slope = if square > 0.0 { cross / square } else { 0.0 };
    let mut fit = ets::fit(&adjusted, 1, Spec::Simple, h);
    let alpha = fit.params[0].1;
    let tail = (1.0 / alpha - (1.0 - alpha).powi(n as i32) / alpha).min(n as f64);
    for (k, v) in fit.mean.iter_mut().enumerate() {
        *v += slope / 2.0 * (k as f64 + tail);
        match &indices {
            Some((s, true)) => *v *= s[(n + k) % m],
            Some((s, false)) => *v += s[(n + k) % m],
            None => {}
        }
    }
    fit.params.push(("drift".to_string(), slope / 2.0));
    if let Some(c) = fit.components.as_mut() {
        c.trend = slope / 2.0;
        c.damping = 1.0;
        c.season = match &indices {
            Some((s, _)) => (0..m).map(|k| s[(n + k) % m]).collect(),
            None => Vec::new(),
        };
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_gets_half_its_slope_as_drift() {
        let y: Vec<f64> = (0..40).map(|t| 10.0 + t as f64).collect();
        let fit = theta(&y, 1, 5);
        let drift = fit.params.iter().find(|(n, _)| n == "drift").unwrap().1;
        assert!((drift - 0.5).abs() < 1e-9);
        // SES follows a line closely (α near 1), so the forecast goes up from the last value.
        assert!(fit.mean[0] > 49.0 && fit.mean[4] > fit.mean[0], "{:?}", fit.mean);
    }

    #[test]
    fn a_seasonal_series_is_adjusted_and_reseasonalised() {
        let pattern = [1.2, 0.8, 1.1, 0.9];
        let y: Vec<f64> = (0..48).map(|t| 100.0 * pattern[t % 4]).collect();
        let fit = theta(&y, 4, 8);
        for (k, f) in fit.mean.iter().enumerate() {
            assert!((f - 100.0 * pattern[(48 + k) % 4]).abs() < 1.0, "step {}: {f}", k + 1);
        }
        assert!(seasonal_indices(&y[..7], 4).is_none(), "under two seasons: no adjustment");
    }
}
