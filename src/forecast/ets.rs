//! Exponential smoothing with additive errors (the ETS family of Hyndman et al. 2008):
//! simple exponential smoothing, Holt's linear and damped trends, and Holt–Winters with an
//! additive season, in error-correction form:
//!
//! ```text
//! forecast  ŷ_t = l + φ·b + s_{t-m}         e_t = y_t − ŷ_t
//! level     l   ← l + φ·b + α·e_t
//! trend     b   ← φ·b + β·e_t
//! season    s_t = s_{t-m} + γ·e_t
//! ```
//!
//! The smoothing parameters minimise the in-sample one-step sum of squared errors with a
//! Nelder–Mead search inside the usual bounds (α in [1e-4, 0.9999], β ≤ α, γ ≤ 1 − α,
//! φ in [0.8, 0.98]). The start level and trend enter the one-step errors linearly, so for
//! each trial of the parameters they are solved exactly by least squares rather than
//! searched: fewer dimensions for the simplex and a better fit on short series. The start
//! season comes from a seasonal-dummy regression (see `seasonal::dummy_regression`).

use super::optim::{bounded, nelder_mead, unbounded};
use super::seasonal::dummy_regression;
use super::{Components, ModelFit};

/// Which trend and season the model has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spec {
    /// Simple exponential smoothing: level only.
    Simple,
    /// Holt's linear trend (φ = 1).
    Linear,
    /// Holt's damped trend (φ fitted).
    Damped,
    /// Holt–Winters: damped trend and an additive season of length m.
    Seasonal,
}

const ALPHA: (f64, f64) = (1e-4, 0.9999);
const PHI: (f64, f64) = (0.8, 0.98);

/// Smoothing parameters of one trial.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

impl Spec {
    fn has_trend(self) -> bool {
        !matches!(self, Spec::Simple)
    }

    fn dims(self) -> usize {
        match self {
            Spec::Simple => 1,
            Spec::Linear => 2,
            Spec::Damped => 3,
            Spec::Seasonal => 4,
        }
    }

    /// The parameters a point of the search space stands for; every point is valid.
    fn params(self, u: &[f64]) -> Params {
        let alpha = bounded(u[0], ALPHA.0, ALPHA.1);
        let beta = if self.has_trend() { bounded(u[1], 1e-4, alpha.max(1e-4)) } else { 0.0 };
        let phi = match self {
            Spec::Simple => 0.0,
            Spec::Linear => 1.0,
            Spec::Damped | Spec::Seasonal => bounded(u[2], PHI.0, PHI.1),
        };
        let gamma = if self == Spec::Seasonal { bounded(u[3], 1e-4, (1.0 - alpha).max(1e-4)) } else { 0.0 };
        Params { alpha, beta, gamma, phi }
    }

    fn start(self, alpha: f64) -> Vec<f64> {
        let mut u = vec![unbounded(alpha, ALPHA.0, ALPHA.1)];
        if self.has_trend() {
            u.push(unbounded(0.1 * alpha, 1e-4, alpha));
        }
        if matches!(self, Spec::Damped | Spec::Seasonal) {
            u.push(unbounded(0.95, PHI.0, PHI.1));
        }
        if self == Spec::Seasonal {
            u.push(unbounded(0.05 * (1.0 - alpha), 1e-4, 1.0 - alpha));
        }
        u
    }
}

/// The final state of the filter from start level `l`, trend `b` and season `season`
/// (empty: none; indexed by position `t % m`); its one-step errors go to `errors`.
struct Run {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

fn filter(y: &[f64], p: Params, l: f64, b: f64, season: &[f64], errors: Option<&mut Vec<f64>>) -> Run {
    let m = season.len();
    let mut s = season.to_vec();
    let (mut l, mut b) = (l, b);
    let mut errors = errors;
    for (t, &yt) in y.iter().enumerate() {
        let st = if m > 0 { s[t % m] } else { 0.0 };
        let e = yt - (l + p.phi * b + st);
        if let Some(errors) = errors.as_deref_mut() {
            errors.push(e);
        }
        l += p.phi * b + p.alpha * e;
        b = p.phi * b + p.beta * e;
        if m > 0 {
            s[t % m] = st + p.gamma * e;
        }
    }
    Run { level: l, trend: b, season: s }
}

/// The start level and trend that minimise the SSE for parameters `p`, and that SSE. The
/// one-step errors are affine in (l0, b0): e = e_y + l0·e_l + b0·e_b, where e_y is the run
/// from zero start values and e_l, e_b the runs of a zero series from unit start values;
/// the three runs go in one pass.
fn best_start(y: &[f64], p: Params, trend: bool, season: &[f64]) -> (f64, f64, f64) {
    let m = season.len();
    let mut s = season.to_vec();
    // State of the run from the data (y) and of the unit-level (L) and unit-trend (B) runs.
    let (mut ly, mut by) = (0.0, 0.0);
    let (mut ll, mut bl) = (1.0, 0.0);
    let (mut lb, mut bb) = (0.0, 1.0);
    // The unit runs see a zero series from a zero season, but their errors move their
    // seasons as the data's run moves its own: without these the solved start values
    // would minimise a different SSE from the one the filter then runs with.
    let (mut sl, mut sb) = (vec![0.0; m], vec![0.0; m]);
    // Normal equations of min |e_y + l0 e_l + b0 e_b|².
    let (mut yy, mut yl, mut yb, mut ll2, mut lb2, mut bb2) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (t, &yt) in y.iter().enumerate() {
        let (st, slt, sbt) = if m > 0 { (s[t % m], sl[t % m], sb[t % m]) } else { (0.0, 0.0, 0.0) };
        let ey = yt - (ly + p.phi * by + st);
        let el = -(ll + p.phi * bl + slt);
        let eb = -(lb + p.phi * bb + sbt);
        yy += ey * ey;
        yl += ey * el;
        yb += ey * eb;
        ll2 += el * el;
        lb2 += el * eb;
        bb2 += eb * eb;
        ly += p.phi * by + p.alpha * ey;
        by = p.phi * by + p.beta * ey;
        ll += p.phi * bl + p.alpha * el;
        bl = p.phi * bl + p.beta * el;
        lb += p.phi * bb + p.alpha * eb;
        bb = p.phi * bb + p.beta * eb;
        if m > 0 {
            s[t % m] = st + p.gamma * ey;
            sl[t % m] = slt + p.gamma * el;
            sb[t % m] = sbt + p.gamma * eb;
        }
    }
    // A tiny ridge keeps the 2×2 system solvable when the unit runs die out fast (α ≈ 1).
    let ridge = 1e-10 * (ll2 + bb2) + 1e-300;
    if !trend {
        let l0 = -yl / (ll2 + ridge);
        return (l0, 0.0, yy + 2.0 * l0 * yl + l0 * l0 * ll2);
    }
    let (a, b, d) = (ll2 + ridge, lb2, bb2 + ridge);
    let det = a * d - b * b;
    if det.abs() <= 1e-12 * a * d || !det.is_finite() {
        let l0 = -yl / a;
        return (l0, 0.0, yy + 2.0 * l0 * yl + l0 * l0 * ll2);
    }
    let l0 = (-yl * d + yb * b) / det;
    let b0 = (-yb * a + yl * b) / det;
    let sse = yy + 2.0 * (l0 * yl + b0 * yb) + l0 * l0 * ll2 + 2.0 * l0 * b0 * lb2 + b0 * b0 * bb2;
    (l0, b0, sse)
}

/// The smoothing parameters of `spec` that minimise `sse`, by a Nelder–Mead search inside
/// the bounds. Two starts (a slow and a fast level) guard against the simplex settling in
/// the flat region near α = 0 or α = 1.
fn search(spec: Spec, mut sse: impl FnMut(Params) -> f64) -> Params {
    let mut objective = |u: &[f64]| sse(spec.params(u));
    let (mut best_u, mut best_v) = (spec.start(0.2), f64::INFINITY);
    for alpha in [0.1, 0.6] {
        let (u, v) = nelder_mead(&mut objective, &spec.start(alpha), 1.0, 120 * spec.dims(), 1e-8);
        if v < best_v {
            (best_u, best_v) = (u, v);
        }
    }
    spec.params(&best_u)
}

/// Fits `spec` to `y` (season length `m`, used by `Spec::Seasonal` only) and forecasts `h`
/// steps. The caller checks the length: at least 3 points, two seasons for the seasonal
/// model.
pub fn fit(y: &[f64], m: usize, spec: Spec, h: usize) -> ModelFit {
    let season = if spec == Spec::Seasonal { dummy_regression(y, m).season } else { Vec::new() };
    let trend = spec.has_trend();
    let p = search(spec, |p| best_start(y, p, trend, &season).2);
    let (l0, b0, _) = best_start(y, p, trend, &season);
    let mut residuals = Vec::with_capacity(y.len());
    let run = filter(y, p, l0, b0, &season, Some(&mut residuals));
    let n = y.len();
    let m_used = run.season.len();
    let mut mean = Vec::with_capacity(h);
    let mut damp_sum = 0.0;
    let mut phi_k = 1.0;
    for k in 1..=h {
        phi_k *= p.phi;
        damp_sum += if spec == Spec::Linear { 1.0 } else { phi_k };
        let s = if m_used > 0 { run.season[(n + k - 1) % m_used] } else { 0.0 };
        mean.push(run.level + damp_sum * run.trend + s);
    }
    let next_season: Vec<f64> = (0..m_used).map(|k| run.season[(n + k) % m_used]).collect();
    let mut params = vec![("alpha".to_string(), p.alpha)];
    if trend {
        params.push(("beta".to_string(), p.beta));
        params.push(("phi".to_string(), p.phi));
    }
    if spec == Spec::Seasonal {
        params.push(("gamma".to_string(), p.gamma));
    }
    params.push(("initial_level".to_string(), l0));
    if trend {
        params.push(("initial_trend".to_string(), b0));
    }
    ModelFit {
        mean,
        residuals,
        params,
        components: Some(Components { level: run.level, trend: if trend { run.trend } else { 0.0 }, damping: p.phi.max(0.0), season: next_season }),
    }
}

/// Holt–Winters with a damped trend and a multiplicative season (ETS(A,Ad,M)), for
/// positive series whose seasonal swings grow with their level:
///
/// ```text
/// forecast  ŷ_t = (l + φ·b)·s_{t-m}         e_t = y_t − ŷ_t
/// level     l   ← l + φ·b + α·e_t / s_{t-m}
/// trend     b   ← φ·b + β·e_t / s_{t-m}
/// season    s_t = s_{t-m} + γ·e_t / (l + φ·b)
/// ```
///
/// The start season is the additive dummy regression's, as ratios to the mean level
/// (floored at 5 %); the start level and trend, for each trial of the parameters, are the
/// exact least-squares start of the additive filter on the deseasonalised series (the
/// multiplicative errors are not linear in them). The caller checks that every value is
/// positive and that there are two seasons of history.
pub fn fit_multiplicative(y: &[f64], m: usize, h: usize) -> ModelFit {
    let regression = dummy_regression(y, m);
    let mean_level = (y.iter().sum::<f64>() / y.len().max(1) as f64).max(f64::MIN_POSITIVE);
    let season: Vec<f64> = regression.season.iter().map(|e| (1.0 + e / mean_level).max(0.05)).collect();
    let deseasonalised: Vec<f64> = y.iter().enumerate().map(|(t, v)| v / season[t % m]).collect();
    let spec = Spec::Seasonal;
    let start_of = |p: Params| {
        let (l0, b0, _) = best_start(&deseasonalised, Params { gamma: 0.0, ..p }, true, &[]);
        (l0, b0)
    };
    let p = search(spec, |p| {
        let (l0, b0) = start_of(p);
        multiplicative_filter(y, p, l0, b0, &season, None).map_or(f64::INFINITY, |run| run.sse)
    });
    let (l0, b0) = start_of(p);
    let mut residuals = Vec::with_capacity(y.len());
    let Some(run) = multiplicative_filter(y, p, l0, b0, &season, Some(&mut residuals)) else {
        // No parameters keep the level positive (a series that collapses towards zero):
        // the additive model, which has no such limit, stands in.
        return fit(y, m, Spec::Seasonal, h);
    };
    let n = y.len();
    let mut mean = Vec::with_capacity(h);
    let (mut damp_sum, mut phi_k) = (0.0, 1.0);
    for k in 1..=h {
        phi_k *= p.phi;
        damp_sum += phi_k;
        mean.push((run.level + damp_sum * run.trend) * run.season[(n + k - 1) % m]);
    }
    // Components are additive: the season as effects at the final level, so that level
    // plus effect is the seasonal forecast one step on.
    let next_season: Vec<f64> = (0..m).map(|k| (run.season[(n + k) % m] - 1.0) * run.level).collect();
    let params = vec![
        ("alpha".to_string(), p.alpha),
        ("beta".to_string(), p.beta),
        ("phi".to_string(), p.phi),
        ("gamma".to_string(), p.gamma),
        ("initial_level".to_string(), l0),
        ("initial_trend".to_string(), b0),
    ];
    ModelFit { mean, residuals, params, components: Some(Components { level: run.level, trend: run.trend, damping: p.phi, season: next_season }) }
}

/// The multiplicative filter's final state and SSE; None when the level plus trend stops
/// being positive (the seasonal ratio would divide by it).
struct MultiplicativeRun {
    level: f64,
    trend: f64,
    season: Vec<f64>,
    sse: f64,
}

fn multiplicative_filter(y: &[f64], p: Params, l: f64, b: f64, season: &[f64], errors: Option<&mut Vec<f64>>) -> Option<MultiplicativeRun> {
    let m = season.len();
    let mut s = season.to_vec();
    let (mut l, mut b, mut sse) = (l, b, 0.0);
    let mut errors = errors;
    for (t, &yt) in y.iter().enumerate() {
        let base = l + p.phi * b;
        let st = s[t % m];
        if !(base > 0.0 && st > 0.0 && base.is_finite()) {
            return None;
        }
        let e = yt - base * st;
        sse += e * e;
        if let Some(errors) = errors.as_deref_mut() {
            errors.push(e);
        }
        l = base + p.alpha * e / st;
        b = p.phi * b + p.beta * e / st;
        s[t % m] = (st + p.gamma * e / base).max(1e-3);
    }
    Some(MultiplicativeRun { level: l, trend: b, season: s, sse })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(fit: &ModelFit, name: &str) -> f64 {
        fit.params.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap()
    }

    #[test]
    fn the_start_level_and_trend_solve_the_least_squares_exactly() {
        // The SSE from best_start equals the SSE of a filter run from its start values,
        // without a season and with one that the errors move (γ > 0).
        let y: Vec<f64> = (0..40).map(|t| 10.0 + 0.5 * t as f64 + ((t * 7) % 5) as f64).collect();
        for (gamma, season) in [(0.0, vec![]), (0.2, vec![1.5, -0.5, 0.25, -1.25])] {
            let p = Params { alpha: 0.3, beta: 0.05, gamma, phi: 0.9 };
            let (l0, b0, sse) = best_start(&y, p, true, &season);
            let run_sse = |l: f64, b: f64| {
                let mut errors = Vec::new();
                filter(&y, p, l, b, &season, Some(&mut errors));
                errors.iter().map(|e| e * e).sum::<f64>()
            };
            assert!((run_sse(l0, b0) - sse).abs() < 1e-6 * sse.max(1.0), "γ {gamma}: {} vs {sse}", run_sse(l0, b0));
            // Moving either start value makes it worse.
            for (dl, db) in [(0.1, 0.0), (-0.1, 0.0), (0.0, 0.05), (0.0, -0.05)] {
                assert!(run_sse(l0 + dl, b0 + db) > sse, "γ {gamma}");
            }
        }
    }

    #[test]
    fn holt_forecasts_a_linear_trend() {
        let y: Vec<f64> = (0..30).map(|t| 5.0 + 2.0 * t as f64).collect();
        let fit = fit(&y, 1, Spec::Linear, 6);
        for (k, f) in fit.mean.iter().enumerate() {
            let expected = 5.0 + 2.0 * (30 + k) as f64;
            assert!((f - expected).abs() < 1e-3, "step {}: {f} vs {expected}", k + 1);
        }
        // The damped trend bends below the line, by at most the damping bound.
        let damped = super::fit(&y, 1, Spec::Damped, 6);
        assert!(damped.mean[5] < fit.mean[5] + 1e-9 && damped.mean[5] > fit.mean[5] - 2.0 * 6.0 * 0.25);
        assert!((damped.mean[0] - 65.0).abs() < 0.5, "{}", damped.mean[0]);
    }

    #[test]
    fn parameters_stay_in_bounds() {
        let noise = |t: usize| (((t * 7919) % 101) as f64 / 101.0 - 0.5) * 4.0;
        let y: Vec<f64> = (0..60).map(|t| 20.0 + 0.3 * t as f64 + 5.0 * ((t % 4) as f64) + noise(t)).collect();
        for spec in [Spec::Simple, Spec::Linear, Spec::Damped, Spec::Seasonal] {
            let fit = fit(&y, 4, spec, 8);
            let alpha = param(&fit, "alpha");
            assert!((1e-4..=0.9999).contains(&alpha), "{spec:?} alpha {alpha}");
            if spec != Spec::Simple {
                let beta = param(&fit, "beta");
                assert!(beta >= 1e-4 - 1e-12 && beta <= alpha + 1e-12, "{spec:?} beta {beta}");
                let phi = param(&fit, "phi");
                assert!(spec == Spec::Linear && phi == 1.0 || (0.8..=0.98).contains(&phi), "{spec:?} phi {phi}");
            }
            if spec == Spec::Seasonal {
                let gamma = param(&fit, "gamma");
                assert!(gamma >= 1e-4 - 1e-12 && gamma <= (1.0 - alpha).max(1e-4) + 1e-12, "gamma {gamma}");
            }
            assert!(fit.mean.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn holt_winters_follows_a_season() {
        let pattern = [10.0, -4.0, 3.0, -9.0];
        let y: Vec<f64> = (0..48).map(|t| 100.0 + 0.5 * t as f64 + pattern[t % 4]).collect();
        let fit = fit(&y, 4, Spec::Seasonal, 8);
        for (k, f) in fit.mean.iter().enumerate() {
            let t = 48 + k;
            // The damped trend may lag a straight line a little.
            let expected = 100.0 + 0.5 * t as f64 + pattern[t % 4];
            assert!((f - expected).abs() < 2.0, "step {}: {f} vs {expected}", k + 1);
        }
        let components = fit.components.unwrap();
        assert_eq!(components.season.len(), 4);
        assert!((components.season[0] - pattern[0]).abs() < 1.0, "{:?}", components.season);
    }

    #[test]
    fn ses_of_a_constant_is_that_constant() {
        let fit = fit(&[7.0; 12], 1, Spec::Simple, 3);
        assert!(fit.mean.iter().all(|v| (v - 7.0).abs() < 1e-9), "{:?}", fit.mean);
    }

    #[test]
    fn multiplicative_holt_winters_follows_a_season_that_grows_with_the_level() {
        let ratios = [1.4, 0.7, 1.1, 0.8];
        let level = |t: usize| 50.0 + 4.0 * t as f64;
        let noise = |t: usize| 1.0 + (((t * 7919) % 101) as f64 / 101.0 - 0.5) * 0.02;
        let y: Vec<f64> = (0..48).map(|t| level(t) * ratios[t % 4] * noise(t)).collect();
        let actual: Vec<f64> = (48..56).map(|t| level(t) * ratios[t % 4]).collect();
        let mae = |f: &[f64]| f.iter().zip(&actual).map(|(f, a)| (f - a).abs()).sum::<f64>() / actual.len() as f64;
        let multiplicative = fit_multiplicative(&y, 4, 8);
        let additive = fit(&y, 4, Spec::Seasonal, 8);
        eprintln!("{:?}\n{:?}\n{:?}\n{:?}", multiplicative.mean, actual, multiplicative.params, additive.mean);
        assert!(mae(&multiplicative.mean) < 0.5 * mae(&additive.mean), "multiplicative {} vs additive {}", mae(&multiplicative.mean), mae(&additive.mean));
        assert!(mae(&multiplicative.mean) < 0.05 * actual.iter().sum::<f64>() / 8.0, "{:?} vs {actual:?}", multiplicative.mean);
        // The components give back the one-step forecast: level, trend and the effect.
        let c = multiplicative.components.unwrap();
        let one_step = c.level + c.damping * c.trend + c.season[0];
        assert!((one_step - multiplicative.mean[0]).abs() < 0.05 * multiplicative.mean[0], "{one_step} vs {}", multiplicative.mean[0]);
        assert_eq!(multiplicative.residuals.len(), y.len());
    }

    #[test]
    fn multiplicative_holt_winters_stays_finite_on_a_collapsing_series() {
        let y: Vec<f64> = (0..24).map(|t| if t < 20 { 100.0 - 4.9 * t as f64 } else { 1e-6 }).collect();
        let fit = fit_multiplicative(&y, 4, 6);
        assert!(fit.mean.iter().all(|v| v.is_finite()), "{:?}", fit.mean);
    }
}
