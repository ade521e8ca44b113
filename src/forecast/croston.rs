//! Croston's method for intermittent demand, with the Syntetos–Boylan (2005) bias
//! correction (SBA): exponential smoothing of the non-zero demand sizes and, separately,
//! of the intervals between them; the forecast is (1 − α/2) · size / interval, a flat rate
//! of demand per period. Plain smoothing of a series that is mostly zeros jumps after each
//! sale and decays after; Croston's rate does not.

use super::{Components, ModelFit};

/// The smoothing weight of both sizes and intervals: the value of most studies and
/// statsforecast's default; fitting it on a few non-zero demands overfits.
const ALPHA: f64 = 0.1;

/// Whether a series looks intermittent: no negative values and an average demand interval
/// (periods per non-zero value) of at least 1.32, the Syntetos–Boylan cut-off.
pub fn is_intermittent(y: &[f64]) -> bool {
    let nonzero = y.iter().filter(|v| **v != 0.0).count();
    nonzero > 0 && y.iter().all(|v| *v >= 0.0) && y.len() as f64 / nonzero as f64 >= 1.32
}

pub fn croston_sba(y: &[f64], h: usize) -> ModelFit {
    let mut size: Option<f64> = None;
    let mut interval = 1.0;
    let mut since = 0.0;
    let mut residuals = Vec::with_capacity(y.len());
    for &v in y {
        since += 1.0;
        let rate = size.map(|z| (1.0 - ALPHA / 2.0) * z / interval);
        if let Some(rate) = rate {
            residuals.push(v - rate);
        }
        if v != 0.0 {
            match size {
                // The first demand starts both smoothers.
                None => {
                    size = Some(v);
                    interval = since;
                }
                Some(z) => {
                    size = Some(z + ALPHA * (v - z));
                    interval += ALPHA * (since - interval);
                }
            }
            since = 0.0;
        }
    }
    let rate = size.map_or(0.0, |z| (1.0 - ALPHA / 2.0) * z / interval);
    ModelFit {
        mean: vec![rate; h],
        residuals,
        params: vec![("alpha".to_string(), ALPHA), ("demand_size".to_string(), size.unwrap_or(0.0)), ("demand_interval".to_string(), interval)],
        components: Some(Components { level: rate, ..Components::default() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_intermittent_demand_gives_its_rate() {
        // 6 units every 3 periods: a rate of 2 per period, times the SBA factor.
        let y: Vec<f64> = (0..60).map(|t| if t % 3 == 2 { 6.0 } else { 0.0 }).collect();
        assert!(is_intermittent(&y));
        let fit = croston_sba(&y, 4);
        for f in &fit.mean {
            assert!((f - 2.0 * 0.95).abs() < 1e-9, "{f}");
        }
    }

    #[test]
    fn classification() {
        assert!(!is_intermittent(&[1.0, 2.0, 0.0, 3.0, 4.0]));
        assert!(!is_intermittent(&[0.0; 5]));
        assert!(!is_intermittent(&[0.0, -1.0, 0.0, 0.0]));
        assert!(is_intermittent(&[0.0, 0.0, 1.0, 0.0, 2.0, 0.0]));
    }

    #[test]
    fn no_demand_forecasts_zero() {
        assert_eq!(croston_sba(&[0.0; 8], 3).mean, vec![0.0; 3]);
    }
}
