//! Choosing a model per series by rolling-origin cross-validation, and calibrating its
//! intervals on the same out-of-sample errors (split conformal prediction).

use super::croston::{croston_sba, is_intermittent};
use super::ets::{self, Spec};
use super::seasonal::{decomposed, decomposed_min_length, seasonal_average, seasonal_average_min_length};
use super::theta::theta;
use super::{global, naive, Components, FittedSeries, ForecastOptions, ModelFit, ModelName};

/// Seasons longer than this are "long": Holt–Winters would need a state per period and
/// several seasons of history to learn them; the seasonal-average and decomposition models
/// take over.
const LONG_SEASON: usize = 24;

/// A single model replaces the ensemble only when its cross-validated error is this much
/// lower. A few windows tell models apart coarsely: picking the lowest error outright
/// chases noise, and on weekly retail sales (Walmart, 2,660 series) it cost 5 % of
/// accuracy against always averaging; a clear winner (an intermittent series for Croston,
/// a series with no season) still wins.
const ENSEMBLE_MARGIN: f64 = 0.2;

/// The least history a model needs, for season length m (1: none) and horizon h; None
/// when it cannot run with that season at all.
fn min_length(model: ModelName, m: usize, h: usize) -> Option<usize> {
    let seasonal = m >= 2;
    match model {
        ModelName::Mean | ModelName::Naive => Some(1),
        ModelName::Ses | ModelName::Theta => Some(3),
        ModelName::Holt | ModelName::Damped => Some(4),
        ModelName::Croston => Some(2),
        ModelName::SeasonalNaive => seasonal.then_some(m),
        ModelName::HoltWinters | ModelName::HoltWintersMultiplicative => (seasonal && m <= LONG_SEASON).then_some(2 * m),
        ModelName::SeasonalAverage => seasonal.then(|| seasonal_average_min_length(m)),
        ModelName::Decomposed => seasonal.then(|| decomposed_min_length(m)),
        // The ensemble needs its members: see `candidates`.
        ModelName::Ensemble => Some(1),
        ModelName::Global => Some(global::min_origin(h)),
    }
}

/// What the global model (fitted on the whole panel, see `global.rs`) gives one series:
/// its forecasts from each cross-validation origin of the series' plan (in plan order)
/// and from the end of its history.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalForecasts {
    pub cv: Vec<Vec<f64>>,
    pub last: Vec<f64>,
    pub params: Vec<(String, f64)>,
}

/// The automatic candidates for a series and the ensemble's members.
///
/// The benchmarks (naive, seasonal naive, mean) are not among them: they are nested in
/// the smoothing models (SES with α near 1 is naive; the shrunk season of the
/// decomposition falls to zero for a series without one), and as candidates they win a
/// few windows by chance: on weekly retail data (Walmart, four test origins) every
/// benchmark added as a candidate made the result worse. They stay available by name.
///
/// A short season (up to 24 periods) is modelled from two seasons of history on, as is
/// usual (one season tells a season from noise poorly); a long one (weekly data over the
/// year) from a season and a quarter on, because two or three years are often all there
/// is and the yearly pattern is most of what there is to forecast. Croston joins when the
/// series looks intermittent.
///
/// The global model, when the panel has one, is a candidate and a member of the ensemble:
/// its errors (a tree model on lags of at least the horizon) differ from the smoothing
/// models', which is what averaging needs.
fn auto_candidates(y: &[f64], m: usize, with_global: bool) -> (Vec<ModelName>, Vec<ModelName>) {
    let seasonal = m >= 2 && (m > LONG_SEASON || y.len() >= 2 * m);
    let (mut candidates, mut members) = if !seasonal {
        let members = vec![ModelName::Ses, ModelName::Damped, ModelName::Theta];
        (members.clone(), members)
    } else if m <= LONG_SEASON {
        let (mut candidates, mut members) = (
            vec![ModelName::Damped, ModelName::HoltWinters, ModelName::Theta, ModelName::Decomposed],
            vec![ModelName::HoltWinters, ModelName::Theta, ModelName::Decomposed],
        );
        if prefers_multiplicative_season(y, m) {
            for list in [&mut candidates, &mut members] {
                list.iter_mut().filter(|c| **c == ModelName::HoltWinters).for_each(|c| *c = ModelName::HoltWintersMultiplicative);
            }
        }
        (candidates, members)
    } else {
        // The seasonal average, alone better than seasonal naive, made both the choice and
        // the mean worse on weekly retail data.
        (vec![ModelName::Theta, ModelName::Decomposed], vec![ModelName::Decomposed, ModelName::Theta])
    };
    if is_intermittent(y) {
        candidates.push(ModelName::Croston);
    }
    if with_global {
        candidates.push(ModelName::Global);
        members.push(ModelName::Global);
    }
    candidates.push(ModelName::Ensemble);
    (candidates, members)
}

/// Whether the automatic choice models a short season as ratios rather than offsets: a
/// positive series whose multiplicative Holt–Winters fits its history with a lower sum of
/// squared one-step errors than the additive one (the same number of parameters and the
/// same error form, so this is the information criterion's order, as AutoETS chooses).
/// On Walmart's sales as monthly means (2,660 series, season 12, `walmart_monthly` in
/// tests.rs) MASE went 0.780 → 0.780 with 3 months held out and 0.737 → 0.733 with 2
/// (offered as a third candidate instead, it made MASE worse: 0.788); on sales whose
/// swings grow with the level it halves the error (unit test in `ets.rs`).
fn prefers_multiplicative_season(y: &[f64], m: usize) -> bool {
    if !y.iter().all(|v| *v > 0.0) || y.len() < 2 * m {
        return false;
    }
    let sse = |f: &ModelFit| f.residuals.iter().map(|e| e * e).sum::<f64>();
    sse(&ets::fit_multiplicative(y, m, 1)) < sse(&ets::fit(y, m, Spec::Seasonal, 1))
}

/// Fits one single model (not the ensemble) and forecasts h steps. The caller checks
/// `min_length`.
fn fit_single(model: ModelName, y: &[f64], m: usize, h: usize) -> ModelFit {
    match model {
        ModelName::Mean => naive::mean(y, h),
        ModelName::Naive => naive::naive(y, h),
        ModelName::SeasonalNaive => naive::seasonal_naive(y, m, h),
        ModelName::Ses => ets::fit(y, 1, Spec::Simple, h),
        ModelName::Holt => ets::fit(y, 1, Spec::Linear, h),
        ModelName::Damped => ets::fit(y, 1, Spec::Damped, h),
        ModelName::HoltWinters => ets::fit(y, m, Spec::Seasonal, h),
        // A season of ratios needs positive values: `plan` offers it only for positive
        // series; a history with a zero or a negative value gets the additive season.
        ModelName::HoltWintersMultiplicative if y.iter().all(|v| *v > 0.0) => ets::fit_multiplicative(y, m, h),
        ModelName::HoltWintersMultiplicative => ets::fit(y, m, Spec::Seasonal, h),
        ModelName::Theta => theta(y, m, h),
        ModelName::Croston => croston_sba(y, h),
        ModelName::SeasonalAverage => seasonal_average(y, m, h),
        ModelName::Decomposed => decomposed(y, m, h, Spec::Simple),
        // Not fitted per series: `plan` never lists them as singles. Should one come here,
        // the naive forecast keeps the call alive.
        ModelName::Ensemble | ModelName::Global => naive::naive(y, h),
    }
}

/// The mean of the members' forecasts, step by step.
fn combine(paths: &[&[f64]]) -> Vec<f64> {
    let h = paths.iter().map(|p| p.len()).min().unwrap_or(0);
    (0..h).map(|k| paths.iter().map(|p| p[k]).sum::<f64>() / paths.len() as f64).collect()
}

/// The candidates that can be evaluated and the windows to evaluate them on.
struct Plan {
    candidates: Vec<ModelName>,
    /// The ensemble's members (fitted in cross-validation even when not candidates).
    members: Vec<ModelName>,
    /// Forecast origins (training lengths), latest first.
    origins: Vec<usize>,
    /// Steps forecast from each origin.
    steps: usize,
}

impl Plan {
    /// The single models to fit from each origin: the candidates and the members, but the
    /// ensemble and the global model (given by the panel).
    fn singles(&self) -> Vec<ModelName> {
        let mut singles: Vec<ModelName> =
            self.candidates.iter().chain(&self.members).copied().filter(|c| !matches!(c, ModelName::Ensemble | ModelName::Global)).collect();
        singles.sort();
        singles.dedup();
        singles
    }
}

/// Drops the ensemble when it has fewer than two members or is not a candidate.
fn check_ensemble(candidates: &mut Vec<ModelName>, members: &mut Vec<ModelName>) {
    if !candidates.contains(&ModelName::Ensemble) || members.len() < 2 {
        candidates.retain(|c| *c != ModelName::Ensemble);
        members.clear();
    }
}

/// `with_global`: the panel's global model can be asked for forecasts of this series.
fn plan(y: &[f64], m: usize, h: usize, options: &ForecastOptions, with_global: bool) -> Option<Plan> {
    let n = y.len();
    let (auto, auto_members) = auto_candidates(y, m, with_global && options.models.is_none());
    // An ensemble asked for with fewer than two other models averages the automatic members.
    let (requested, requested_members) = match &options.models {
        None => (auto, auto_members),
        Some(list) => {
            let listed: Vec<ModelName> = list.iter().copied().filter(|c| *c != ModelName::Ensemble).collect();
            (list.clone(), if listed.len() >= 2 { listed } else { auto_members })
        }
    };
    // A season of ratios needs positive values: a series with a zero or a negative value
    // gets the additive season where a multiplicative one is asked for.
    let (mut requested, mut requested_members) = (requested, requested_members);
    if !y.iter().all(|v| *v > 0.0) {
        for list in [&mut requested, &mut requested_members] {
            for c in list.iter_mut().filter(|c| **c == ModelName::HoltWintersMultiplicative) {
                *c = ModelName::HoltWinters;
            }
            let mut seen = Vec::new();
            list.retain(|c| {
                if seen.contains(c) {
                    false
                } else {
                    seen.push(*c);
                    true
                }
            });
        }
    }
    let usable =
        |c: &ModelName, room: usize| *c == ModelName::Ensemble || ((*c != ModelName::Global || with_global) && min_length(*c, m, h).is_some_and(|l| l <= room));
    // First choice: full-horizon windows for every candidate that fits one; else (a short
    // history) shorter windows for the candidates that fit in what there is.
    let room = if n >= 2 * h { n - h } else { n.saturating_sub(1) };
    let mut candidates: Vec<ModelName> = requested.iter().copied().filter(|c| usable(c, room)).collect();
    let mut members: Vec<ModelName> = requested_members.into_iter().filter(|c| usable(c, room)).collect();
    check_ensemble(&mut candidates, &mut members);
    if candidates.is_empty() {
        return None;
    }
    let plan = Plan { candidates, members, origins: Vec::new(), steps: 0 };
    // The per-series models set the windows; the global model joins when it can forecast
    // from all of them, so adding it never changes how the others are compared. Alone, it
    // sets them.
    let has_global = plan.candidates.contains(&ModelName::Global) || plan.members.contains(&ModelName::Global);
    let longest = plan.singles().iter().filter_map(|c| min_length(*c, m, h)).max().or_else(|| has_global.then(|| global::min_origin(h)))?;
    let steps = h.min(n.checked_sub(longest)?);
    if steps == 0 {
        return None;
    }
    let windows = options.cv_windows;
    // Non-overlapping windows when the history allows, overlapping ones (down to a step
    // of one period) rather than fewer windows when it does not.
    let spare = n - steps - longest;
    let stride = if windows > 1 { (spare / (windows - 1)).clamp(1, steps) } else { steps };
    let origins: Vec<usize> = (0..windows).map(|i| n - steps - i * stride).take_while(|o| *o >= longest).collect();
    let mut plan = Plan { origins, steps, ..plan };
    if plan.origins.iter().any(|o| *o < global::min_origin(h)) {
        plan.candidates.retain(|c| *c != ModelName::Global);
        plan.members.retain(|c| *c != ModelName::Global);
        check_ensemble(&mut plan.candidates, &mut plan.members);
    }
    (!plan.origins.is_empty() && !plan.candidates.is_empty()).then_some(plan)
}

/// The cross-validation origins (training lengths, latest first) and steps the global
/// model must forecast this series from, when it is one of the series' models; None when
/// it is not (too short a series, a constant one, or not asked for).
pub fn global_origins(y: &[f64], options: &ForecastOptions) -> Option<(Vec<usize>, usize)> {
    if y.is_empty() || y.iter().all(|v| *v == y[0]) {
        return None;
    }
    let plan = plan(y, options.season_length(), options.horizon(), options, true)?;
    let uses_global = plan.candidates.contains(&ModelName::Global) || plan.members.contains(&ModelName::Global);
    uses_global.then_some((plan.origins, plan.steps))
}

/// Forecasts of every candidate from every origin: `paths[c][w]`. The global model's come
/// from the panel (`global`, present whenever the plan lists it).
fn cross_validate(y: &[f64], m: usize, plan: &Plan, global: Option<&GlobalForecasts>) -> Vec<Vec<Vec<f64>>> {
    let singles = plan.singles();
    let single_paths: Vec<Vec<Vec<f64>>> =
        singles.iter().map(|c| plan.origins.iter().map(|&o| fit_single(*c, &y[..o], m, plan.steps).mean).collect()).collect();
    let no_paths = Vec::new();
    let of = |model: &ModelName| match (model, global) {
        (ModelName::Global, Some(g)) => &g.cv,
        (ModelName::Global, None) => &no_paths,
        _ => &single_paths[singles.iter().position(|s| s == model).unwrap_or(0)],
    };
    plan.candidates
        .iter()
        .map(|c| {
            if *c != ModelName::Ensemble {
                return of(c).clone();
            }
            (0..plan.origins.len())
                .map(|w| combine(&plan.members.iter().map(|mem| of(mem).get(w).map_or(&[][..], Vec::as_slice)).collect::<Vec<_>>()))
                .collect()
        })
        .collect()
}

/// Fits a series whose values and options are valid. `global`: the panel's global model's
/// forecasts for it, when it has some (see [`global_origins`]); they must come from the
/// origins `global_origins` gave. `imposed`: the model to keep when it is one of the
/// series' cross-validated candidates (`selection: 'global'`), instead of the best.
pub fn fit(y: &[f64], options: &ForecastOptions, global: Option<&GlobalForecasts>, imposed: Option<ModelName>) -> FittedSeries {
    let n = y.len();
    let h = options.horizon();
    let m = options.season_length();
    let nonnegative = y.iter().all(|v| *v >= 0.0);
    let base = |model: ModelName| FittedSeries {
        model,
        members: Vec::new(),
        season_length: m,
        n_obs: n,
        level: options.level,
        cv_mae: Vec::new(),
        params: Vec::new(),
        components: None,
        mean: Vec::new(),
        scale: Vec::new(),
        scores: Vec::new(),
        nonnegative,
    };
    // A constant series (all zeros included) is its own forecast, exactly.
    if y.iter().all(|v| *v == y[0]) {
        return FittedSeries {
            mean: vec![y[0]; h],
            scale: vec![0.0; h],
            scores: vec![0.0],
            components: Some(Components { level: y[0], ..Components::default() }),
            ..base(ModelName::Naive)
        };
    }
    // Forecasts that do not match the plan (a caller's mistake) leave the global model out.
    let global = global.filter(|g| g.last.len() == h);
    let Some(mut plan) = plan(y, m, h, options, global.is_some()) else {
        return fallback(y, h, base(ModelName::Naive));
    };
    if global.is_some_and(|g| g.cv.len() != plan.origins.len() || g.cv.iter().any(|p| p.len() != plan.steps)) {
        let Some(without) = self::plan(y, m, h, options, false) else {
            return fallback(y, h, base(ModelName::Naive));
        };
        plan = without;
    }
    let global = global.filter(|_| plan.candidates.contains(&ModelName::Global) || plan.members.contains(&ModelName::Global));
    let paths = cross_validate(y, m, &plan, global);
    let errors = |c: usize| -> Vec<Vec<f64>> {
        plan.origins.iter().zip(&paths[c]).map(|(&o, path)| path.iter().enumerate().map(|(k, f)| y[o + k] - f).collect()).collect()
    };
    let mae = |c: usize| {
        let e = errors(c);
        let count = e.iter().map(Vec::len).sum::<usize>().max(1);
        let mae = e.iter().flatten().map(|v| v.abs()).sum::<f64>() / count as f64;
        // A model that overflowed (values near f64::MAX) is never the best.
        if mae.is_nan() {
            f64::INFINITY
        } else {
            mae
        }
    };
    let cv_mae: Vec<(ModelName, f64)> = (0..plan.candidates.len()).map(|c| (plan.candidates[c], mae(c))).collect();
    // The first of the lowest (candidates are in order of simplicity, ties go to the
    // simpler), unless the ensemble is within the margin.
    let mut best = (0..cv_mae.len()).fold(0, |b, c| if cv_mae[c].1 < cv_mae[b].1 { c } else { b });
    if let Some(ensemble) = plan.candidates.iter().position(|c| *c == ModelName::Ensemble) {
        if cv_mae[best].1 >= (1.0 - ENSEMBLE_MARGIN) * cv_mae[ensemble].1 {
            best = ensemble;
        }
    }
    if let Some(imposed) = imposed.and_then(|m| plan.candidates.iter().position(|c| *c == m)) {
        best = imposed;
    }
    let model = plan.candidates[best];
    let (scale, scores) = conformal(&errors(best), h);
    let mut fitted = FittedSeries { cv_mae, scale, scores, ..base(model) };
    let refit = |model: ModelName| match (model, global) {
        (ModelName::Global, Some(g)) => ModelFit { mean: g.last.clone(), residuals: Vec::new(), params: g.params.clone(), components: None },
        _ => fit_single(model, y, m, h),
    };
    if model == ModelName::Ensemble {
        let fits: Vec<ModelFit> = plan.members.iter().map(|mem| refit(*mem)).collect();
        fitted.mean = combine(&fits.iter().map(|f| f.mean.as_slice()).collect::<Vec<_>>());
        fitted.params = plan.members.iter().zip(&fits).flat_map(|(mem, f)| f.params.iter().map(move |(k, v)| (format!("{}.{k}", mem.name()), *v))).collect();
        fitted.members = plan.members.clone();
    } else {
        let fit = refit(model);
        fitted.mean = fit.mean;
        fitted.params = fit.params;
        fitted.components = fit.components;
    }
    if fitted.mean.iter().chain(&fitted.scale).any(|v| !v.is_finite()) {
        // Values so large that the model's arithmetic overflowed: the last value, which
        // needs no arithmetic, is the honest forecast.
        return fallback(y, h, base(ModelName::Naive));
    }
    if nonnegative {
        fitted.mean.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    fitted
}

/// Series too short to cross-validate (one or two values, or fewer than a horizon's
/// worth for any model): the naive forecast (the last value), with intervals from the
/// in-sample changes, growing with the square root of the step as a random walk's do.
/// One value gives zero-width intervals: there is nothing to measure spread from.
fn fallback(y: &[f64], h: usize, base: FittedSeries) -> FittedSeries {
    let fit = naive::naive(y, h);
    let errors: Vec<Vec<f64>> = fit.residuals.iter().map(|r| vec![*r]).collect();
    let (one_step, scores) = conformal(&errors, 1);
    let scale = (1..=h).map(|k| one_step[0] * (k as f64).sqrt()).collect();
    FittedSeries { mean: fit.mean, scale, scores, params: fit.params, components: fit.components, ..base }
}

/// The error size of each step 1..=h and the scaled scores, from out-of-sample errors
/// `errors[w][k]` (window w, step k+1). A step's size is the root mean square of the
/// errors of steps 1..=k of all windows: pooling the earlier steps steadies it (three
/// windows give three errors per step), and it grows as errors grow with the horizon.
/// Steps past the windows' length grow with the square root of the step.
pub fn conformal(errors: &[Vec<f64>], h: usize) -> (Vec<f64>, Vec<f64>) {
    let steps = errors.iter().map(Vec::len).max().unwrap_or(0);
    let mut scale = Vec::with_capacity(h);
    let (mut sum, mut count) = (0.0, 0usize);
    for k in 0..steps.min(h) {
        for e in errors {
            if let Some(v) = e.get(k) {
                sum += v * v;
                count += 1;
            }
        }
        let rms = if count > 0 { (sum / count as f64).sqrt() } else { 0.0 };
        let previous = scale.last().copied().unwrap_or(0.0);
        scale.push(rms.max(previous));
    }
    let last = scale.last().copied().unwrap_or(0.0);
    let known = scale.len().max(1);
    for k in scale.len()..h {
        scale.push(last * ((k + 1) as f64 / known as f64).sqrt());
    }
    let mut scores: Vec<f64> = errors
        .iter()
        .flat_map(|e| e.iter().enumerate().map(|(k, v)| (k, v.abs())))
        .map(|(k, v)| if scale[k.min(h - 1)] > 0.0 { v / scale[k.min(h - 1)] } else { 0.0 })
        .collect();
    scores.sort_by(f64::total_cmp);
    if scores.is_empty() {
        scores.push(0.0);
    }
    (scale, scores)
}

/// The quantile at `level` of ascending scores, interpolated between order statistics
/// (Hyndman & Fan's type 7, the default of R and numpy).
pub fn conformal_quantile(scores: &[f64], level: f64) -> f64 {
    match scores.len() {
        0 => 0.0,
        1 => scores[0],
        n => {
            let position = level.clamp(0.0, 1.0) * (n - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(n - 1);
            scores[below] + (position - below as f64) * (scores[above] - scores[below])
        }
    }
}
