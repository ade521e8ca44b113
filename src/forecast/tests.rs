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

/// A monthly panel where a promotion (known in advance, a period in four on average)
/// doubles sales: `series` series of `months` months of history and `h` future months.
/// Returns the panel (with or without the promotion covariate) and the future actuals.
fn promotion_panel(series: usize, months: usize, h: usize, seed: u64, with_covariate: bool) -> (Panel, Vec<Vec<f64>>) {
    let mut rng = SplitMix64::new(seed);
    let mut panel = Panel { covariates: if with_covariate { vec!["promotion".into()] } else { Vec::new() }, series: Vec::new() };
    let mut future = Vec::new();
    for s in 0..series {
        let level = 100.0 * (1.0 + s as f64);
        let promotion: Vec<f64> = (0..months + h).map(|_| f64::from(u8::from(rng.next_f64() < 0.25))).collect();
        let noise = normals(seed * 1000 + s as u64, months + h);
        let y: Vec<f64> = (0..months + h)
            .map(|t| level * (1.0 + 0.3 * (t as f64 / 12.0 * std::f64::consts::TAU).sin()) * (1.0 + promotion[t]) * (1.0 + 0.03 * noise[t]))
            .collect();
        future.push(y[months..].to_vec());
        panel.series.push(PanelSeries { first: 0, values: y[..months].to_vec(), covariates: if with_covariate { vec![promotion] } else { Vec::new() } });
    }
    (panel, future)
}

fn global_options(h: usize) -> ForecastOptions {
    ForecastOptions { models: Some(vec![ModelName::Global]), ..options(Frequency::Month, h) }
}

/// Mean absolute error of the point forecasts over all series and steps.
fn panel_error(fits: &[FittedSeries], future: &[Vec<f64>], h: usize) -> f64 {
    let errors: Vec<f64> =
        fits.iter().zip(future).flat_map(|(fit, y)| fit.forecast(h, 0.8).unwrap().into_iter().zip(y).map(|(p, v)| (p.mean - v).abs())).collect();
    errors.iter().sum::<f64>() / errors.len() as f64
}

#[test]
fn the_global_model_learns_a_covariate_and_forecasts_it() {
    let h = 6;
    let (panel, future) = promotion_panel(40, 96, h, 11, true);
    let fits = fit_panel(&panel, &global_options(h), &|| false).unwrap();
    assert!(fits.iter().all(|f| f.model == ModelName::Global), "{:?}", fits.iter().map(|f| f.model).collect::<Vec<_>>());
    // Forecasts of promoted months are about twice the others' (relative to each series' level).
    let (mut promoted, mut plain) = (Vec::new(), Vec::new());
    for (fit, s) in fits.iter().zip(&panel.series) {
        let level = s.values.iter().sum::<f64>() / s.values.len() as f64;
        for (k, p) in fit.forecast(h, 0.8).unwrap().iter().enumerate() {
            let flag = s.covariates[0][s.values.len() + k];
            if flag == 1.0 { &mut promoted } else { &mut plain }.push(p.mean / level);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratio = mean(&promoted) / mean(&plain);
    assert!((1.6..2.4).contains(&ratio), "promoted / plain forecasts: {ratio}");
    // Without the covariate the model cannot know which months are promoted.
    let (blind, _) = promotion_panel(40, 96, h, 11, false);
    let blind_fits = fit_panel(&blind, &global_options(h), &|| false).unwrap();
    let (with, without) = (panel_error(&fits, &future, h), panel_error(&blind_fits, &future, h));
    assert!(with < 0.5 * without, "error with the covariate {with}, without {without}");
    // The intervals come from its cross-validation errors and cover most of the future.
    let (mut inside, mut total) = (0, 0);
    for (fit, y) in fits.iter().zip(&future) {
        for (p, v) in fit.forecast(h, 0.8).unwrap().iter().zip(y) {
            inside += usize::from(p.lo <= *v && *v <= p.hi);
            total += 1;
        }
    }
    assert!(inside as f64 / total as f64 > 0.6, "coverage {}", inside as f64 / total as f64);
}

#[test]
fn the_global_model_is_a_candidate_and_an_ensemble_member_in_auto() {
    let h = 6;
    let (panel, _) = promotion_panel(GLOBAL_AUTO_MIN_SERIES, 96, h, 5, true);
    let fits = fit_panel(&panel, &options(Frequency::Month, h), &|| false).unwrap();
    for fit in &fits {
        assert!(fit.cv_mae.iter().any(|(m, _)| *m == ModelName::Global), "{:?}", fit.cv_mae);
        if fit.model == ModelName::Ensemble {
            assert!(fit.members.contains(&ModelName::Global), "{:?}", fit.members);
        }
    }
    // Below the threshold, 'auto' leaves it out; true forces it; false with the model named is an error.
    let few = Panel { covariates: panel.covariates.clone(), series: panel.series[..GLOBAL_AUTO_MIN_SERIES - 1].to_vec() };
    let fits = fit_panel(&few, &options(Frequency::Month, h), &|| false).unwrap();
    assert!(fits.iter().all(|f| !f.cv_mae.iter().any(|(m, _)| *m == ModelName::Global)));
    let forced = ForecastOptions { global: GlobalMode::On, ..options(Frequency::Month, h) };
    let fits = fit_panel(&few, &forced, &|| false).unwrap();
    assert!(fits.iter().all(|f| f.cv_mae.iter().any(|(m, _)| *m == ModelName::Global)));
    let off = ForecastOptions { global: GlobalMode::Off, ..global_options(h) };
    assert!(fit_panel(&few, &off, &|| false).unwrap_err().message().contains("options.global"));
}

#[test]
fn the_global_model_is_deterministic() {
    let h = 6;
    let (panel, _) = promotion_panel(25, 80, h, 3, true);
    for o in [global_options(h), options(Frequency::Month, h)] {
        // Fits run as pool tasks whose results are kept in task order: the same bits
        // whichever thread fitted what.
        let first = fit_panel(&panel, &o, &|| false).unwrap();
        assert_eq!(first, fit_panel(&panel, &o, &|| false).unwrap());
    }
    // Another seed draws another validation slice: still a valid fit.
    let reseeded = fit_panel(&panel, &ForecastOptions { seed: 7, ..global_options(h) }, &|| false).unwrap();
    assert!(reseeded.iter().all(|f| f.check().is_ok()));
}

#[test]
fn the_global_model_stops_when_told() {
    let h = 6;
    let (panel, _) = promotion_panel(30, 96, h, 4, true);
    let e = fit_panel(&panel, &global_options(h), &|| true).unwrap_err();
    assert!(matches!(e, CrmError::Canceled(_)), "{e:?}");
    // A cancel arriving while the trees grow.
    let polls = std::cell::Cell::new(0);
    let later = || {
        polls.set(polls.get() + 1);
        polls.get() > 3
    };
    let e = fit_panel(&panel, &global_options(h), &later).unwrap_err();
    assert!(matches!(e, CrmError::Canceled(_)), "{e:?}");
}

#[test]
fn short_series_do_without_the_global_model() {
    let h = 6;
    let (mut panel, _) = promotion_panel(24, 96, h, 8, true);
    // Too short for its lags (H + 7 values before an origin), a single value, a constant.
    panel.series[0].values.truncate(15);
    panel.series[0].covariates[0].truncate(15 + h);
    panel.series[1].values.truncate(1);
    panel.series[1].covariates[0].truncate(1 + h);
    panel.series[2].values = vec![4.0; 40];
    panel.series[2].covariates[0].truncate(40 + h);
    // A series whose covariates end early (unknown: 0), one that starts later on the calendar.
    panel.series[3].covariates[0].truncate(50);
    panel.series[4].first = 10;
    for o in [options(Frequency::Month, h), global_options(h)] {
        let fits = fit_panel(&panel, &o, &|| false).unwrap();
        assert_eq!(fits.len(), 24);
        for (i, fit) in fits.iter().enumerate() {
            assert!(fit.check().is_ok(), "series {i}");
            assert!(fit.forecast(h, 0.8).unwrap().iter().all(|p| p.mean.is_finite() && p.lo <= p.hi));
        }
        assert!(!fits[0].cv_mae.iter().any(|(m, _)| *m == ModelName::Global), "{:?}", fits[0].cv_mae);
        assert_ne!(fits[0].model, ModelName::Global);
        assert_eq!(fits[1].model, ModelName::Naive);
        assert!(fits[2].forecast(h, 0.8).unwrap().iter().all(|p| p.mean == 4.0));
        assert!(fits[3..].iter().filter(|f| f.model == ModelName::Global || f.members.contains(&ModelName::Global)).count() > 10);
    }
}

#[test]
fn bad_panels_are_errors_naming_the_series() {
    let h = 6;
    let (panel, _) = promotion_panel(3, 40, h, 1, true);
    let mut long = panel.clone();
    long.series[1].covariates[0].push(0.0);
    assert!(fit_panel(&long, &global_options(h), &|| false).unwrap_err().message().starts_with("series 2: covariate \"promotion\""));
    let mut infinite = panel.clone();
    infinite.series[2].covariates[0][3] = f64::INFINITY;
    let e = fit_panel(&infinite, &global_options(h), &|| false).unwrap_err();
    assert!(matches!(e, CrmError::InvalidArgument(_)) && e.message().starts_with("series 3:"), "{e}");
    let mut missing = panel.clone();
    missing.series[0].covariates.push(vec![1.0]);
    assert!(fit_panel(&missing, &global_options(h), &|| false).unwrap_err().message().starts_with("series 1: 2 covariate vectors"));
    let mut empty = panel;
    empty.series[0].values.clear();
    assert!(fit_panel(&empty, &global_options(h), &|| false).unwrap_err().message().starts_with("series 1: cannot forecast an empty series"));
    // NaN covariates are unknown, not an error.
    let (mut unknown, _) = promotion_panel(3, 40, h, 1, true);
    unknown.series[0].covariates[0][5] = f64::NAN;
    assert!(fit_panel(&unknown, &global_options(h), &|| false).is_ok());
}

#[test]
fn options_without_the_new_keys_still_read_and_global_is_checked() {
    let old = ForecastOptions::from_json(&serde_json::json!({"frequency": "week", "horizon": 13, "models": "auto", "cv_windows": 3})).unwrap();
    assert_eq!(old.global, GlobalMode::Auto);
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"global": true})).unwrap().global, GlobalMode::On);
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"global": false})).unwrap().global, GlobalMode::Off);
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"global": "Auto"})).unwrap().global, GlobalMode::Auto);
    assert_eq!(
        ForecastOptions::from_json(&serde_json::json!({"models": ["global", "theta"]})).unwrap().models,
        Some(vec![ModelName::Global, ModelName::Theta])
    );
    for bad in [serde_json::json!({"global": "yes"}), serde_json::json!({"global": 1}), serde_json::json!({"global": false, "models": ["global"]})] {
        let e = ForecastOptions::from_json(&bad).unwrap_err();
        assert!(e.message().contains("options.global"), "{bad}: {e}");
    }
    // Options stored by 0.6.0 (bincode, no `global`) read back, and new ones write the same bytes.
    #[derive(Serialize)]
    struct OptionsV060 {
        frequency: Frequency,
        horizon: Option<usize>,
        season_length: Option<usize>,
        models: Option<Vec<ModelName>>,
        cv_windows: usize,
        level: f64,
        fill: Fill,
        seed: u64,
    }
    let v060 =
        OptionsV060 { frequency: Frequency::Month, horizon: Some(6), season_length: None, models: None, cv_windows: 4, level: 0.9, fill: Fill::Zero, seed: 1 };
    let bytes = bincode::serialize(&v060).unwrap();
    let read: ForecastOptions = bincode::deserialize(&bytes).unwrap();
    assert_eq!((read.frequency, read.horizon, read.cv_windows, read.level, read.seed, read.global), (Frequency::Month, Some(6), 4, 0.9, 1, GlobalMode::Auto));
    assert_eq!(bincode::serialize(&ForecastOptions { global: GlobalMode::On, ..read }).unwrap(), bytes);
}

#[test]
fn a_global_fit_round_trips_and_old_model_names_keep_their_bytes() {
    let h = 6;
    let (panel, _) = promotion_panel(20, 60, h, 2, true);
    let fits = fit_panel(&panel, &global_options(h), &|| false).unwrap();
    let fit = fits.iter().find(|f| f.model == ModelName::Global).expect("a global fit");
    assert!(fit.params.iter().any(|(k, v)| k == "trees" && *v >= 1.0), "{:?}", fit.params);
    let back: FittedSeries = bincode::deserialize(&bincode::serialize(fit).unwrap()).unwrap();
    assert_eq!(&back, fit);
    assert_eq!(back.forecast(h, 0.8).unwrap(), fit.forecast(h, 0.8).unwrap());
    // Stored fits name their model by position: the old ones keep theirs, global is new.
    assert_eq!(bincode::serialize(&ModelName::Ensemble).unwrap(), 11u32.to_le_bytes());
    assert_eq!(bincode::serialize(&ModelName::Global).unwrap(), 12u32.to_le_bytes());
    assert_eq!(ModelName::parse("GLOBAL").unwrap(), ModelName::Global);
    assert_eq!(serde_json::to_string(&ModelName::Global).unwrap(), "\"global\"");
}

/// CPU seconds of this process (user and system, all threads) from /proc (Linux; 0
/// elsewhere): wall time on a shared machine says little.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after the
    // command name (in parentheses, which may hold spaces), in ticks of 1/100 s on Linux.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The Walmart protocol of ../shared/datasets/README.md: one series per (Store, Dept),
/// the 2,660 complete series (143 weeks), the last 13 weeks held out, one origin, season
/// 52; IsHoliday as the covariate. Prints MASE, WAPE, sMAPE, coverage of the 80 %
/// intervals and seconds, for the automatic choice without and with the global model,
/// the global model alone, with and without the covariate, on all series and on the
/// README's 67-series subset. Run:
/// `cargo test --release --lib walmart -- --ignored --nocapture`.
#[test]
#[ignore]
fn walmart_protocol() {
    let Some(path) = crate::shared_dataset("walmart/train.csv") else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    // (date, weekly sales, holiday flag) rows by (store, department).
    type Week = (String, f64, f64);
    let mut by_series: std::collections::BTreeMap<(u32, u32), Vec<Week>> = std::collections::BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let key = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
        let holiday = if cells[4].trim().eq_ignore_ascii_case("true") { 1.0 } else { 0.0 };
        by_series.entry(key).or_default().push((cells[2].to_string(), cells[3].parse().unwrap(), holiday));
    }
    let complete: Vec<Vec<Week>> = by_series
        .into_values()
        .filter(|rows| rows.len() == 143)
        .map(|mut rows| {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows
        })
        .collect();
    assert_eq!(complete.len(), 2660);
    let (train_weeks, h, m) = (130, 13, 52);
    let panel_of = |positions: &[usize], covariate: bool| Panel {
        covariates: if covariate { vec!["IsHoliday".into()] } else { Vec::new() },
        series: positions
            .iter()
            .map(|&i| PanelSeries {
                first: 0,
                values: complete[i][..train_weeks].iter().map(|r| r.1).collect(),
                covariates: if covariate { vec![complete[i].iter().map(|r| r.2).collect()] } else { Vec::new() },
            })
            .collect(),
    };
    let all: Vec<usize> = (0..complete.len()).collect();
    let subset: Vec<usize> = (0..complete.len()).step_by(40).collect();
    let twenty: Vec<usize> = (0..complete.len()).step_by(133).collect();
    let base = ForecastOptions { frequency: Frequency::Week, horizon: Some(h), season_length: Some(m), ..ForecastOptions::default() };
    let runs: Vec<(&str, ForecastOptions, bool)> = vec![
        ("auto, no global", ForecastOptions { global: GlobalMode::Off, ..base.clone() }, false),
        ("auto, global", ForecastOptions { global: GlobalMode::On, ..base.clone() }, false),
        ("auto, global, IsHoliday", ForecastOptions { global: GlobalMode::On, ..base.clone() }, true),
        ("global alone", ForecastOptions { models: Some(vec![ModelName::Global]), ..base.clone() }, false),
        ("global alone, IsHoliday", ForecastOptions { models: Some(vec![ModelName::Global]), ..base.clone() }, true),
        ("one model, global, IsHoliday", ForecastOptions { global: GlobalMode::On, selection: Selection::Global, ..base.clone() }, true),
    ];
    let only = std::env::var("WALMART_RUNS").ok();
    for (set, positions) in [("20 series", &twenty), ("67 series", &subset), ("2660 series", &all)] {
        for (name, options, covariate) in &runs {
            if only.as_deref().is_some_and(|o| !o.split(';').any(|r| r == *name)) {
                continue;
            }
            let panel = panel_of(positions, *covariate);
            let (started, cpu_started) = (std::time::Instant::now(), process_cpu_seconds());
            let fits = fit_panel(&panel, options, &|| false).unwrap();
            let secs = started.elapsed().as_secs_f64();
            let cpu = process_cpu_seconds() - cpu_started;
            let (mut mases, mut smapes) = (Vec::new(), Vec::new());
            let (mut actual, mut forecast, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut chosen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
            let global_params = fits.iter().find_map(|f| f.params.iter().find(|(k, _)| k.ends_with("trees")).map(|(_, v)| *v));
            for (&i, fit) in positions.iter().zip(&fits) {
                *chosen.entry(fit.model_name()).or_default() += 1;
                let history: Vec<f64> = complete[i][..train_weeks].iter().map(|r| r.1).collect();
                let test: Vec<f64> = complete[i][train_weeks..].iter().map(|r| r.1).collect();
                let points = fit.forecast(h, 0.8).unwrap();
                let f: Vec<f64> = points.iter().map(|p| p.mean).collect();
                if let Some(v) = metrics::mase(&test, &f, &history, m) {
                    mases.push(v);
                }
                smapes.extend(metrics::smape(&test, &f));
                actual.extend(&test);
                forecast.extend(f);
                lo.extend(points.iter().map(|p| p.lo));
                hi.extend(points.iter().map(|p| p.hi));
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            eprintln!(
                "{set:>11} | {name:<24} | MASE {:.3} | WAPE {:.2}% | sMAPE {:.2} | coverage {:.3} | {secs:.1} s ({cpu:.1} s CPU) | {chosen:?} | trees {global_params:?}",
                mean(&mases),
                metrics::wape(&actual, &forecast).unwrap_or(f64::NAN),
                mean(&smapes),
                metrics::coverage(&actual, &lo, &hi).unwrap_or(f64::NAN),
            );
        }
    }
}

/// Short seasons on real data: Walmart's weekly sales as monthly means (33 months,
/// February 2010 to October 2012), per store × department (the complete series) and per
/// store (45 totals), the last 6 months held out, season 12; the automatic choice with
/// its candidates. Run: `cargo test --release --lib walmart_monthly -- --ignored --nocapture`.
#[test]
#[ignore]
fn walmart_monthly() {
    let Some(path) = crate::shared_dataset("walmart/train.csv") else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    // (store, dept) → month → (sum, weeks).
    let mut by_series: std::collections::BTreeMap<(u32, u32), std::collections::BTreeMap<String, (f64, usize)>> = Default::default();
    let mut weeks_of: std::collections::BTreeMap<(u32, u32), usize> = Default::default();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let key: (u32, u32) = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
        let cell = by_series.entry(key).or_default().entry(cells[2][..7].to_string()).or_default();
        cell.0 += cells[3].parse::<f64>().unwrap();
        cell.1 += 1;
        *weeks_of.entry(key).or_default() += 1;
    }
    let month_means = |months: &std::collections::BTreeMap<String, (f64, usize)>| months.values().map(|(s, w)| s / *w as f64).collect::<Vec<f64>>();
    let departments: Vec<Vec<f64>> = by_series.iter().filter(|(k, _)| weeks_of[k] == 143).map(|(_, months)| month_means(months)).collect();
    let mut stores: std::collections::BTreeMap<u32, std::collections::BTreeMap<String, (f64, usize)>> = Default::default();
    for ((store, _), months) in by_series.iter().filter(|(k, _)| weeks_of[k] == 143) {
        for (month, (sum, weeks)) in months {
            let cell = stores.entry(*store).or_default().entry(month.clone()).or_default();
            cell.0 += sum;
            cell.1 = *weeks;
        }
    }
    let stores: Vec<Vec<f64>> = stores.values().map(month_means).collect();
    let h: usize = std::env::var("MONTHLY_H").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let m = 12;
    let options =
        ForecastOptions { frequency: Frequency::Month, horizon: Some(h), season_length: Some(m), global: GlobalMode::Off, ..ForecastOptions::default() };
    for (set, series) in [("45 stores", &stores), ("2660 departments", &departments)] {
        let train: Vec<&[f64]> = series.iter().map(|s| &s[..s.len() - h]).collect();
        let started = std::time::Instant::now();
        let fits = fit_many(&train, &options, &|| false).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let (mut mases, mut actual, mut forecast, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut chosen: std::collections::BTreeMap<&str, usize> = Default::default();
        for (s, fit) in series.iter().zip(&fits) {
            *chosen.entry(fit.model_name()).or_default() += 1;
            let (history, test) = s.split_at(s.len() - h);
            let points = fit.forecast(h, 0.8).unwrap();
            let f: Vec<f64> = points.iter().map(|p| p.mean).collect();
            mases.extend(metrics::mase(test, &f, history, m));
            actual.extend(test);
            forecast.extend(f);
            lo.extend(points.iter().map(|p| p.lo));
            hi.extend(points.iter().map(|p| p.hi));
        }
        eprintln!(
            "{set:>16} | MASE {:.4} | WAPE {:.2}% | coverage {:.3} | {secs:.1} s | {chosen:?}",
            mases.iter().sum::<f64>() / mases.len().max(1) as f64,
            metrics::wape(&actual, &forecast).unwrap_or(f64::NAN),
            metrics::coverage(&actual, &lo, &hi).unwrap_or(f64::NAN),
        );
    }
}

/// Monthly sales whose seasonal swings grow with the level (ratios, not offsets).
fn multiplicative_monthly(seed: u64, months: usize) -> Vec<f64> {
    let ratios = [0.8, 0.75, 0.9, 1.0, 1.05, 1.0, 0.95, 1.0, 1.05, 1.1, 1.3, 1.6];
    let noise = normals(seed, months);
    (0..months).map(|t| (100.0 + 6.0 * t as f64) * ratios[t % 12] * (1.0 + 0.02 * noise[t])).collect()
}

#[test]
fn auto_models_a_growing_season_as_ratios_and_needs_positive_values_for_it() {
    let y = multiplicative_monthly(3, 60);
    let o = options(Frequency::Month, 6);
    let fit = fit_series(&y, &o).unwrap();
    assert!(fit.cv_mae.iter().any(|(m, _)| *m == ModelName::HoltWintersMultiplicative), "{:?}", fit.cv_mae);
    assert!(!fit.cv_mae.iter().any(|(m, _)| *m == ModelName::HoltWinters), "{:?}", fit.cv_mae);
    // Asked for by name it forecasts the ratios; the additive season misses them.
    let actual: Vec<f64> = (60..66).map(|t| (100.0 + 6.0 * t as f64) * [0.8, 0.75, 0.9, 1.0, 1.05, 1.0][t - 60]).collect();
    let mae = |fit: &FittedSeries| fit.forecast(6, 0.8).unwrap().iter().zip(&actual).map(|(p, a)| (p.mean - a).abs()).sum::<f64>() / 6.0;
    let multiplicative = fit_series(&y, &with_models(o.clone(), &[ModelName::HoltWintersMultiplicative])).unwrap();
    let additive = fit_series(&y, &with_models(o.clone(), &[ModelName::HoltWinters])).unwrap();
    assert_eq!(multiplicative.model, ModelName::HoltWintersMultiplicative);
    assert!(mae(&multiplicative) < 0.7 * mae(&additive), "{} vs {}", mae(&multiplicative), mae(&additive));
    // A zero in the history: the additive season stands in, by name and in auto.
    let mut with_zero = y.clone();
    with_zero[7] = 0.0;
    let fit = fit_series(&with_zero, &with_models(o.clone(), &[ModelName::HoltWintersMultiplicative])).unwrap();
    assert_eq!(fit.model, ModelName::HoltWinters);
    let fit = fit_series(&with_zero, &o).unwrap();
    assert!(!fit.cv_mae.iter().any(|(m, _)| *m == ModelName::HoltWintersMultiplicative), "{:?}", fit.cv_mae);
}

#[test]
fn the_panel_choice_is_the_lowest_error_relative_to_each_series_best() {
    let y = multiplicative_monthly(1, 48);
    let template = fit_series(&y, &options(Frequency::Month, 6)).unwrap();
    let with_errors = |errors: &[(ModelName, f64)]| FittedSeries { cv_mae: errors.to_vec(), ..template.clone() };
    // Theta is best on the large series (errors in thousands), damped on the two small
    // ones: relative errors count each series the same, so damped wins.
    let fits = vec![
        with_errors(&[(ModelName::Damped, 2000.0), (ModelName::Theta, 1000.0)]),
        with_errors(&[(ModelName::Damped, 1.0), (ModelName::Theta, 1.5)]),
        with_errors(&[(ModelName::Damped, 1.0), (ModelName::Theta, 1.5), (ModelName::Croston, 0.1)]),
    ];
    // Relative to each series' best: damped (2 + 1 + 10)/3, theta (1 + 1.5 + 15)/3.
    // Croston, cross-validated on one series of three, cannot be the panel's model.
    assert_eq!(panel_choice(&fits), Some(ModelName::Damped));
    assert_eq!(panel_choice(&fits[..1]), Some(ModelName::Theta));
    assert_eq!(panel_choice(&[]), None);
}

#[test]
fn selection_global_gives_the_panel_one_model() {
    let series: Vec<Vec<f64>> =
        (0..12).map(|s| if s % 3 == 0 { weekly_sales(s, 60).iter().map(|v| v / 10.0).collect() } else { multiplicative_monthly(s, 60) }).collect();
    let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    let o = options(Frequency::Month, 6);
    let per_series = fit_many(&refs, &o, &|| false).unwrap();
    let choice = panel_choice(&per_series).unwrap();
    let global = fit_many(&refs, &ForecastOptions { selection: Selection::Global, ..o.clone() }, &|| false).unwrap();
    for (own, one) in per_series.iter().zip(&global) {
        if own.cv_mae.iter().any(|(m, _)| *m == choice) {
            assert_eq!(one.model, choice);
            // The windows are the same: only the choice differs.
            assert_eq!(own.cv_mae, one.cv_mae);
        } else {
            assert_eq!(own, one);
        }
    }
    let distinct: std::collections::BTreeSet<ModelName> = per_series.iter().map(|f| f.model).collect();
    assert!(distinct.len() > 1, "the per-series choices must differ for this test to mean anything: {distinct:?}");
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"selection": "global"})).unwrap().selection, Selection::Global);
    assert_eq!(ForecastOptions::from_json(&serde_json::json!({"selection": "per_series"})).unwrap().selection, Selection::PerSeries);
    let e = ForecastOptions::from_json(&serde_json::json!({"selection": "best"})).unwrap_err();
    assert!(e.message().contains("options.selection") && e.message().contains("'per_series' or 'global'"), "{e}");
}
