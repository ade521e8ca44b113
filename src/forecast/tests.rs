//! Tests of the public API: choice, intervals, edge cases, determinism, serialisation.

use super::*;
use crate::rng::SplitMix64;

fn options(frequency: Frequency, horizon: usize) -> ForecastOptions {
    ForecastOptions { frequency, horizon: Some(horizon), ..ForecastOptions::default() }
}

fn with_models(mut o: ForecastOptions, models: &[ModelName]) -> ForecastOptions {
    o.models = Some(models.to_vec());
    o
}

/// Standard normal draws (Box–Muller) from the shared generator.
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| (-2.0 * (1.0 - rng.next_f64()).ln()).sqrt() * (std::f64::consts::TAU * rng.next_f64()).cos()).collect()
}

/// Weekly sales-like data: level, slow growth, a yearly season with a holiday peak, noise.
fn weekly_sales(seed: u64, weeks: usize) -> Vec<f64> {
    let noise = normals(seed, weeks);
    (0..weeks)
        .map(|t| {
            let week = (t % 52) as f64;
            let peak = if t % 52 == 46 { 600.0 } else { 0.0 };
            1000.0 + 1.5 * t as f64 + 250.0 * (week / 52.0 * std::f64::consts::TAU).sin() + peak + 60.0 * noise[t]
        })
        .collect()
}

#[test]
fn a_pure_season_is_forecast_exactly() {
    let pattern = [5.0, 9.0, 2.0, 7.0, 3.0, 8.0, 1.0, 6.0, 4.0, 10.0, 2.0, 5.0];
    let y: Vec<f64> = (0..48).map(|t| pattern[t % 12]).collect();
    let o = options(Frequency::Month, 12);
    let fit = fit_series(&y, &with_models(o.clone(), &[ModelName::SeasonalNaive])).unwrap();
    for (k, p) in fit.forecast(12, 0.8).unwrap().iter().enumerate() {
        assert_eq!(p.mean, pattern[k]);
        assert_eq!((p.lo, p.hi), (p.mean, p.mean), "no cross-validation error: zero width");
    }
    // The automatic choice finds a model as exact (seasonal naive, or an equal one).
    let auto = fit_series(&y, &o).unwrap();
    for (k, p) in auto.forecast(12, 0.8).unwrap().iter().enumerate() {
        assert!((p.mean - pattern[k]).abs() < 1e-6, "{} step {}: {}", auto.model_name(), k + 1, p.mean);
    }
}

#[test]
fn a_linear_trend_is_forecast_by_holt() {
    let y: Vec<f64> = (0..40).map(|t| 100.0 + 3.0 * t as f64).collect();
    let o = with_models(options(Frequency::Month, 6), &[ModelName::Holt]);
    let fit = fit_series(&y, &o).unwrap();
    for (k, p) in fit.forecast(6, 0.8).unwrap().iter().enumerate() {
        assert!((p.mean - (100.0 + 3.0 * (40 + k) as f64)).abs() < 1e-3, "step {}: {}", k + 1, p.mean);
    }
    assert_eq!(fit.components().unwrap().damping, 1.0);
}

#[test]
fn intervals_widen_with_the_horizon() {
    // A random walk: the errors of the last value grow as the square root of the step.
    let steps = normals(7, 300);
    let y: Vec<f64> = steps
        .iter()
        .scan(500.0, |level, e| {
            *level += 10.0 * e;
            Some(*level)
        })
        .collect();
    let o = ForecastOptions { cv_windows: 10, ..with_models(options(Frequency::Month, 12), &[ModelName::Naive]) };
    let points = fit_series(&y, &o).unwrap().forecast(12, 0.8).unwrap();
    let widths: Vec<f64> = points.iter().map(|p| p.hi - p.lo).collect();
    assert!(widths.windows(2).all(|w| w[1] >= w[0]), "{widths:?}");
    assert!(widths[11] > 1.5 * widths[0], "{widths:?}");
    // A higher level is wider.
    let wide = fit_series(&y, &o).unwrap().forecast(12, 0.95).unwrap();
    assert!(wide.iter().zip(&points).all(|(w, p)| w.hi - w.lo >= p.hi - p.lo));
}

#[test]
fn intervals_cover_about_their_level_on_held_out_data() {
    let (mut inside, mut total) = (0usize, 0usize);
    for seed in 0..40 {
        let y = weekly_sales(seed, 143);
        let (train, test) = y.split_at(130);
        let fit = fit_series(train, &options(Frequency::Week, 13)).unwrap();
        for (p, actual) in fit.forecast(13, 0.8).unwrap().iter().zip(test) {
            inside += usize::from(p.lo <= *actual && *actual <= p.hi);
            total += 1;
        }
    }
    let coverage = inside as f64 / total as f64;
    assert!((0.7..=0.9).contains(&coverage), "coverage {coverage}");
}

#[test]
fn weekly_seasons_of_52_beat_seasonal_naive() {
    let (mut auto_error, mut naive_error) = (0.0, 0.0);
    for seed in 100..120 {
        let y = weekly_sales(seed, 143);
        let (train, test) = y.split_at(130);
        let o = options(Frequency::Week, 13);
        let auto = fit_series(train, &o).unwrap().forecast(13, 0.8).unwrap();
        let naive = fit_series(train, &with_models(o, &[ModelName::SeasonalNaive])).unwrap().forecast(13, 0.8).unwrap();
        auto_error += test.iter().zip(&auto).map(|(y, p)| (y - p.mean).abs()).sum::<f64>();
        naive_error += test.iter().zip(&naive).map(|(y, p)| (y - p.mean).abs()).sum::<f64>();
    }
    assert!(auto_error < 0.85 * naive_error, "auto {auto_error} vs seasonal naive {naive_error}");
}

#[test]
fn croston_on_intermittent_demand() {
    let mut rng = SplitMix64::new(3);
    let y: Vec<f64> = (0..104).map(|_| if rng.next_f64() < 0.25 { (1 + rng.below(5)) as f64 } else { 0.0 }).collect();
    let o = options(Frequency::Week, 8);
    let fit = fit_series(&y, &with_models(o.clone(), &[ModelName::Croston])).unwrap();
    let points = fit.forecast(8, 0.8).unwrap();
    let rate = y.iter().sum::<f64>() / y.len() as f64;
    assert!(points.iter().all(|p| p.mean == points[0].mean && (p.mean - rate).abs() < 0.6 * rate), "{points:?} vs rate {rate}");
    assert!(points.iter().all(|p| p.lo >= 0.0), "sales that never go negative keep intervals at 0 or above");
    let auto = fit_series(&y, &o).unwrap();
    assert!(auto.cv_mae.iter().any(|(m, _)| *m == ModelName::Croston), "Croston is a candidate for intermittent data");
}

#[test]
fn an_all_zero_series_forecasts_zeros() {
    let fit = fit_series(&[0.0; 30], &options(Frequency::Week, 13)).unwrap();
    assert!(fit.forecast(13, 0.9).unwrap().iter().all(|p| *p == Point { mean: 0.0, lo: 0.0, hi: 0.0 }));
}

#[test]
fn short_series_fall_back() {
    let o = options(Frequency::Week, 13);
    // One value: that value, no spread to measure.
    let one = fit_series(&[5.0], &o).unwrap();
    assert_eq!(one.model, ModelName::Naive);
    assert!(one.forecast(13, 0.8).unwrap().iter().all(|p| p.mean == 5.0 && p.lo == 5.0 && p.hi == 5.0));
    // Two values: the last one, intervals from the one change, widening.
    let two = fit_series(&[5.0, 8.0], &o).unwrap().forecast(13, 0.8).unwrap();
    assert!(two.iter().all(|p| p.mean == 8.0));
    assert!(two[0].hi > 8.0 && two[12].hi - two[12].lo > two[0].hi - two[0].lo);
    // A few values and a longer horizon: shorter cross-validation windows, no season.
    let few = fit_series(&[5.0, 8.0, 6.0, 7.0, 9.0, 8.0], &o).unwrap();
    assert!(few.season_length == 52 && !few.cv_mae.iter().any(|(m, _)| *m == ModelName::SeasonalNaive));
    let points = few.forecast(13, 0.8).unwrap();
    assert!(points.iter().all(|p| p.mean.is_finite() && p.lo <= p.mean && p.mean <= p.hi));
    // Under two seasons: no seasonal model is tried.
    let y: Vec<f64> = (0..20).map(|t| (t % 12) as f64 + 10.0).collect();
    let fit = fit_series(&y, &options(Frequency::Month, 6)).unwrap();
    assert!(!fit.cv_mae.iter().any(|(m, _)| matches!(m, ModelName::HoltWinters | ModelName::Decomposed)), "{:?}", fit.cv_mae);
}

#[test]
fn negative_values_are_forecast() {
    let y: Vec<f64> = weekly_sales(5, 130).iter().map(|v| v - 1500.0).collect();
    assert!(y.iter().any(|v| *v < 0.0));
    let points = fit_series(&y, &options(Frequency::Week, 13)).unwrap().forecast(13, 0.8).unwrap();
    assert!(points.iter().any(|p| p.lo < 0.0));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let o = ForecastOptions::default();
    for bad in [vec![], vec![1.0, f64::NAN, 2.0], vec![f64::INFINITY], vec![1.0, f64::NEG_INFINITY]] {
        let e = fit_series(&bad, &o).unwrap_err();
        assert!(matches!(e, CrmError::InvalidArgument(_)), "{e:?}");
    }
    let e = fit_many(&[&[1.0, 2.0, 3.0], &[]], &o, &|| false).unwrap_err();
    assert!(e.message().starts_with("series 2:"), "{e}");
    for bad in [
        ForecastOptions { horizon: Some(0), ..o.clone() },
        ForecastOptions { season_length: Some(0), ..o.clone() },
        ForecastOptions { cv_windows: 0, ..o.clone() },
        ForecastOptions { level: 1.0, ..o.clone() },
        ForecastOptions { level: f64::NAN, ..o.clone() },
        ForecastOptions { models: Some(vec![]), ..o.clone() },
    ] {
        assert!(matches!(fit_series(&[1.0, 2.0], &bad), Err(CrmError::InvalidArgument(_))), "{bad:?}");
    }
}

#[test]
fn extreme_magnitudes_do_not_panic() {
    let o = options(Frequency::Week, 13);
    let alternating =
        |scale: f64| -> Vec<f64> { weekly_sales(4, 120).iter().enumerate().map(|(t, v)| if t % 2 == 0 { v * scale } else { -v * scale }).collect() };
    for scale in [1e90, 1e-300, 1e-320] {
        let points = fit_series(&alternating(scale), &o).unwrap().forecast(13, 0.8).unwrap();
        assert!(points.iter().all(|p| p.mean.is_finite() && p.lo.is_finite() && p.hi.is_finite()), "scale {scale}: {points:?}");
    }
    for scale in [1e200, 1e300] {
        let e = fit_series(&alternating(scale), &o).unwrap_err();
        assert!(e.message().contains("1e100"), "{e}");
    }
}

#[test]
fn forecasting_past_the_trained_horizon_says_what_to_do() {
    let fit = fit_series(&weekly_sales(1, 120), &options(Frequency::Week, 13)).unwrap();
    assert_eq!(fit.forecast(13, 0.8).unwrap().len(), 13);
    assert_eq!(fit.forecast(5, 0.8).unwrap().len(), 5);
    let e = fit.forecast(14, 0.8).unwrap_err();
    assert!(e.message().contains("options.horizon") && e.message().contains("13"), "{e}");
    assert!(fit.forecast(0, 0.8).is_err());
    assert!(fit.forecast(3, 0.0).is_err() && fit.forecast(3, 1.5).is_err());
}

#[test]
fn fit_many_is_deterministic_and_in_series_order() {
    let data: Vec<Vec<f64>> = (0..9).map(|s| weekly_sales(s, 110 + s as usize)).collect();
    let series: Vec<&[f64]> = data.iter().map(Vec::as_slice).collect();
    let o = options(Frequency::Week, 13);
    let many = fit_many(&series, &o, &|| false).unwrap();
    let again = fit_many(&series, &o, &|| false).unwrap();
    assert_eq!(many, again);
    for (fit, y) in many.iter().zip(&data) {
        assert_eq!(*fit, fit_series(y, &o).unwrap());
        assert_eq!(fit.n_obs, y.len());
    }
}

#[test]
fn fit_many_stops_when_told() {
    let data: Vec<Vec<f64>> = (0..20).map(|s| weekly_sales(s, 130)).collect();
    let series: Vec<&[f64]> = data.iter().map(Vec::as_slice).collect();
    let e = fit_many(&series, &ForecastOptions::default(), &|| true).unwrap_err();
    assert!(matches!(e, CrmError::Canceled(_)), "{e:?}");
}

#[test]
fn fits_and_options_round_trip_through_bincode_and_json() {
    let fit = fit_series(&weekly_sales(2, 130), &options(Frequency::Week, 13)).unwrap();
    let bytes = bincode::serialize(&fit).unwrap();
    let back: FittedSeries = bincode::deserialize(&bytes).unwrap();
    assert_eq!(back, fit);
    assert_eq!(back.forecast(13, 0.8).unwrap(), fit.forecast(13, 0.8).unwrap());
    let o = with_models(options(Frequency::Quarter, 4), &[ModelName::Theta, ModelName::Ensemble]);
    let text = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<ForecastOptions>(&text).unwrap(), o);
    assert_eq!(bincode::deserialize::<ForecastOptions>(&bincode::serialize(&o).unwrap()).unwrap(), o);
}

#[test]
fn options_from_json() {
    let o = ForecastOptions::from_json(&serde_json::json!({
        "frequency": "monthly", "horizon": 6, "models": ["ets_is_not_a_name"],
    }));
    assert!(o.unwrap_err().message().contains("options.models"));
    let o = ForecastOptions::from_json(
        &serde_json::json!({"frequency": "month", "horizon": 6, "models": ["theta", "holt_winters"], "level": 0.9, "fill": "interpolate"}),
    )
    .unwrap();
    assert_eq!((o.frequency, o.horizon(), o.season_length(), o.level, o.fill), (Frequency::Month, 6, 12, 0.9, Fill::Interpolate));
    assert_eq!(o.models, Some(vec![ModelName::Theta, ModelName::HoltWinters]));
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"models": "auto"})).unwrap().models, None);
    assert_eq!(ForecastOptions::from_json(&serde_json::Value::Null).unwrap(), ForecastOptions::default());
    for (bad, key) in [
        (serde_json::json!({"horizon": 0}), "options.horizon"),
        (serde_json::json!({"frequency": "hourly"}), "options.frequency"),
        (serde_json::json!({"level": 1.2}), "options.level"),
        (serde_json::json!({"level": 1}), "options.level"),
        (serde_json::json!({"fill": "mean"}), "options.fill"),
        (serde_json::json!({"cv_windows": 0}), "options.cv_windows"),
        (serde_json::json!({"horizn": 3}), "horizn"),
    ] {
        let e = ForecastOptions::from_json(&bad).unwrap_err();
        assert!(e.message().contains(key), "{bad}: {e}");
    }
}

#[test]
fn gaps_are_filled() {
    let v = [None, Some(2.0), None, None, Some(8.0), None];
    assert_eq!(fill_gaps(&v, Fill::Zero), vec![0.0, 2.0, 0.0, 0.0, 8.0, 0.0]);
    assert_eq!(fill_gaps(&v, Fill::Interpolate), vec![2.0, 2.0, 4.0, 6.0, 8.0, 8.0]);
    assert_eq!(fill_gaps(&[None, None], Fill::Interpolate), vec![0.0, 0.0]);
}

#[test]
fn ensemble_averages_its_members() {
    let y = weekly_sales(9, 130);
    let o = options(Frequency::Week, 13);
    let members = [ModelName::Decomposed, ModelName::Theta];
    let fit = fit_series(&y, &with_models(o.clone(), &[ModelName::Ensemble, members[0], members[1]])).unwrap();
    if fit.model == ModelName::Ensemble {
        assert_eq!(fit.members, members.to_vec());
        let parts: Vec<Vec<Point>> = members.iter().map(|m| fit_series(&y, &with_models(o.clone(), &[*m])).unwrap().forecast(13, 0.8).unwrap()).collect();
        for (k, p) in fit.forecast(13, 0.8).unwrap().iter().enumerate() {
            assert!((p.mean - (parts[0][k].mean + parts[1][k].mean) / 2.0).abs() < 1e-9);
        }
    }
    // "ensemble" alone averages the automatic members.
    let alone = fit_series(&y, &with_models(o, &[ModelName::Ensemble])).unwrap();
    assert_eq!((alone.model, alone.members.len()), (ModelName::Ensemble, 2));
}
