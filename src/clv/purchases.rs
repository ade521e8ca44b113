//! The purchase models: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the
//! easy way") and MBG/NBD (Batislam, Denizel & Filiztekin 2007), their likelihood with its
//! gradient, the maximum-likelihood fit, and the per-customer forecasts.
//!
//! Both: while alive a customer buys at rate λ ~ Gamma(r, α); after each purchase he drops
//! out with probability p ~ Beta(a, b). MBG/NBD also lets him drop out right after the
//! first purchase, so a one-time buyer is not certainly alive (BG/NBD gives him
//! P(alive) = 1, the reason its P(alive) ranks customers badly). Written with a shift
//! `s` (0 for BG/NBD, 1 for MBG/NBD): a customer with `x` repeat purchases has survived
//! `n = x + s` dropout draws.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::residual::expected_residual_purchases;
use super::Customer;
use crate::error::{CrmError, Result};
use crate::pool::{self, Cancelled};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseModel {
    BgNbd,
    MbgNbd,
}

impl PurchaseModel {
    pub fn name(self) -> &'static str {
        match self {
            PurchaseModel::BgNbd => "bg_nbd",
            PurchaseModel::MbgNbd => "mbg_nbd",
        }
    }

    pub fn parse(text: &str) -> Option<PurchaseModel> {
        match text {
            "bg_nbd" | "bgnbd" | "bg/nbd" => Some(PurchaseModel::BgNbd),
            "mbg_nbd" | "mbgnbd" | "mbg/nbd" => Some(PurchaseModel::MbgNbd),
            _ => None,
        }
    }

    fn shift(self) -> f64 {
        match self {
            PurchaseModel::BgNbd => 0.0,
            PurchaseModel::MbgNbd => 1.0,
        }
    }
}

/// Fitted parameters, time in the model's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PurchaseParams {
    pub model: PurchaseModel,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl PurchaseParams {
    /// Dropout draws survived by a customer with `x` repeat purchases.
    fn draws(&self, x: f64) -> f64 {
        x + self.model.shift()
    }

    /// Probability that the customer is alive at the end of the observation.
    pub fn p_alive(&self, c: &Customer) -> f64 {
        let n = self.draws(c.frequency);
        if n <= 0.0 {
            return 1.0;
        }
        let PurchaseParams { r, alpha, a, b, .. } = *self;
        // odds of having dropped out after the last purchase, in logs (no overflow)
        let log_odds = a.ln() - (b + n - 1.0).ln() + (r + c.frequency) * ((alpha + c.age).ln() - (alpha + c.recency).ln());
        1.0 / (1.0 + log_odds.exp())
    }

    /// Expected purchases in the next `t` time units.
    pub fn expected_purchases(&self, c: &Customer, t: f64) -> f64 {
        self.p_alive(c) * self.residual(c.frequency, c.age, t)
    }

    /// Expected purchases in the next `t` time units of a customer alive now with `x`
    /// repeat purchases at age `age` (a function of x, age and t alone: what scoring
    /// memoises).
    pub fn residual(&self, x: f64, age: f64, t: f64) -> f64 {
        let PurchaseParams { r, alpha, a, b, .. } = *self;
        expected_residual_purchases(r + x, alpha + age, a, b + self.draws(x), t)
    }

    fn natural(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }
}

/// The customers a fit sees: distinct (x, tx, T) with counts, and the distinct values of
/// x and of the times, so that one evaluation computes the log-gamma and digamma terms
/// once per distinct frequency and the logarithms once per distinct time.
struct Grouped {
    frequencies: Vec<f64>,
    times: Vec<f64>,
    /// (frequency index, recency time index, age time index, customers)
    rows: Vec<(u32, u32, u32, f64)>,
    customers: f64,
}

impl Grouped {
    fn new(customers: &[Customer]) -> Grouped {
        let mut keys: Vec<(u64, u64, u64)> = customers.iter().map(|c| (c.frequency.to_bits(), c.recency.to_bits(), c.age.to_bits())).collect();
        keys.sort_unstable();
        let index_of = |values: &mut Vec<u64>| {
            values.sort_unstable_by(|x, y| f64::from_bits(*x).total_cmp(&f64::from_bits(*y)));
            values.dedup();
            values.iter().map(|v| f64::from_bits(*v)).collect::<Vec<f64>>()
        };
        let frequencies = index_of(&mut keys.iter().map(|k| k.0).collect());
        let times = index_of(&mut keys.iter().flat_map(|k| [k.1, k.2]).collect());
        let find = |values: &[f64], v: u64| values.partition_point(|x| x.total_cmp(&f64::from_bits(v)).is_lt()) as u32;
        let mut rows: Vec<(u32, u32, u32, f64)> = Vec::new();
        let mut last = None;
        for k in &keys {
            if last == Some(*k) {
                if let Some(row) = rows.last_mut() {
                    row.3 += 1.0;
                }
                continue;
            }
            last = Some(*k);
            rows.push((find(&frequencies, k.0), find(&times, k.1), find(&times, k.2), 1.0));
        }
        Grouped { frequencies, times, rows, customers: customers.len() as f64 }
    }
}

/// Per distinct frequency: the terms of the log-likelihood that depend on x alone.
struct FrequencyTerms {
    /// lnΓ(r+x) − lnΓ(r) + lnΓ(a+b) + lnΓ(b+n) − lnΓ(b) − lnΓ(a+b+n) + r ln α
    constant: f64,
    d_r: f64,
    d_a: f64,
    d_b: f64,
    /// ln a − ln(b + n − 1): the dropped-after-last-purchase branch, when n > 0
    branch: Option<f64>,
    /// 1 / (b + n − 1), for the branch's b-derivative
    inverse_b: f64,
    r_plus_x: f64,
}

struct Problem<'a> {
    data: &'a Grouped,
    model: PurchaseModel,
    penalizer: f64,
    threads: usize,
    should_stop: &'a (dyn Fn() -> bool + Sync),
}

impl Problem<'_> {
    /// Mean negative log-likelihood plus the penalty, and its gradient in log-parameters.
    fn evaluate(&self, theta: &[f64]) -> std::result::Result<(f64, Vec<f64>), Cancelled> {
        let [r, alpha, a, b] = [theta[0].exp(), theta[1].exp(), theta[2].exp(), theta[3].exp()];
        let shift = self.model.shift();
        let (ln_alpha, common_ab, digamma_ab, digamma_r, digamma_b) =
            (alpha.ln(), ln_gamma(a + b) - ln_gamma(r) - ln_gamma(b), digamma(a + b), digamma(r), digamma(b));
        let terms: Vec<FrequencyTerms> = self
            .data
            .frequencies
            .iter()
            .map(|&x| {
                let n = x + shift;
                let digamma_abn = digamma(a + b + n);
                FrequencyTerms {
                    constant: ln_gamma(r + x) + common_ab + ln_gamma(b + n) - ln_gamma(a + b + n) + r * ln_alpha,
                    d_r: digamma(r + x) - digamma_r + ln_alpha,
                    d_a: digamma_ab - digamma_abn,
                    d_b: digamma_ab + digamma(b + n) - digamma_b - digamma_abn,
                    branch: (n > 0.0).then(|| a.ln() - (b + n - 1.0).ln()),
                    inverse_b: 1.0 / (b + n - 1.0),
                    r_plus_x: r + x,
                }
            })
            .collect();
        let logs: Vec<f64> = self.data.times.iter().map(|t| (alpha + t).ln()).collect();
        let inverses: Vec<f64> = self.data.times.iter().map(|t| 1.0 / (alpha + t)).collect();
        let rows = &self.data.rows;
        let partial = pool::map_ranges(rows.len(), 1 << 15, self.threads, self.should_stop, |range, _| {
            let mut sums = [0.0f64; 5];
            for &(xi, ri, ti, w) in &rows[range] {
                let f = &terms[xi as usize];
                let (log_age, log_recency) = (logs[ti as usize], logs[ri as usize]);
                let alive_branch = -f.r_plus_x * log_age;
                let (ll, w_alive, w_gone) = match f.branch {
                    Some(branch) => {
                        let gone_branch = branch - f.r_plus_x * log_recency;
                        let top = alive_branch.max(gone_branch);
                        let (e_alive, e_gone) = ((alive_branch - top).exp(), (gone_branch - top).exp());
                        let total = e_alive + e_gone;
                        (f.constant + top + total.ln(), e_alive / total, e_gone / total)
                    }
                    None => (f.constant + alive_branch, 1.0, 0.0),
                };
                sums[0] += w * ll;
                sums[1] += w * (f.d_r - w_alive * log_age - w_gone * log_recency);
                sums[2] += w * (r / alpha - f.r_plus_x * (w_alive * inverses[ti as usize] + w_gone * inverses[ri as usize]));
                sums[3] += w * (f.d_a + w_gone / a);
                sums[4] += w * (f.d_b - w_gone * f.inverse_b);
            }
            sums
        })?;
        let mut total = [0.0f64; 5];
        for p in partial {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        let count = self.data.customers;
        let natural = [r, alpha, a, b];
        let cost = -total[0] / count + self.penalizer * natural.iter().map(|v| v * v).sum::<f64>();
        let gradient = (0..4).map(|k| -total[k + 1] / count * natural[k] + 2.0 * self.penalizer * natural[k] * natural[k]).collect();
        Ok((cost, gradient))
    }
}

/// A cost and its gradient at a point.
pub(crate) type Objective<'a> = dyn Fn(&[f64]) -> Result<(f64, Vec<f64>)> + 'a;

/// Minimises a smooth function of a few parameters from `start` by Newton's method on
/// its analytic gradient, the Hessian by central differences of the gradient, damped
/// Levenberg–Marquardt style: a step that does not lower the cost (or leaves the domain,
/// a non-finite cost) is retried with more damping. Hand-written rather than argmin's
/// L-BFGS: its More–Thuente line search never returns once a trial step evaluates to
/// NaN, which the CLV likelihoods do far from the optimum; and on 3–4 parameters Newton
/// reaches a gradient norm of 1e-9 in a few dozen evaluations where L-BFGS crawls.
/// Returns (parameters, iterations).
pub(crate) fn minimise(evaluate: &Objective<'_>, start: Vec<f64>, max_iter: u64) -> Result<(Vec<f64>, u64)> {
    let n = start.len();
    let mut theta = start;
    let (mut cost, mut gradient) = evaluate(&theta)?;
    if !cost.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
        return Err(CrmError::InvalidArgument("the likelihood is not finite at the starting point".into()));
    }
    let mut damping = 1e-3;
    let mut iterations = 0;
    while iterations < max_iter {
        if gradient.iter().map(|g| g * g).sum::<f64>().sqrt() < 1e-9 {
            break;
        }
        iterations += 1;
        let mut hessian = vec![vec![0.0; n]; n];
        for k in 0..n {
            let h = 1e-5 * (1.0 + theta[k].abs());
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[k] += h;
            down[k] -= h;
            let (g_up, g_down) = (evaluate(&up)?.1, evaluate(&down)?.1);
            for j in 0..n {
                hessian[j][k] = (g_up[j] - g_down[j]) / (2.0 * h);
            }
        }
        #[allow(clippy::needless_range_loop)] // a symmetric pair of indices
        for j in 0..n {
            for k in 0..j {
                let mean = 0.5 * (hessian[j][k] + hessian[k][j]);
                hessian[j][k] = mean;
                hessian[k][j] = mean;
            }
        }
        let mut moved = false;
        while damping < 1e12 {
            let mut damped = hessian.clone();
            for (k, row) in damped.iter_mut().enumerate() {
                row[k] += damping * (1.0 + hessian[k][k].abs());
            }
            let Some(mut step) = cholesky_solve(&damped, &gradient) else {
                damping *= 10.0;
                continue;
            };
            // A step of at most 2 in log-parameters (a factor e² ≈ 7.4): far from the
            // optimum the quadratic model is poor, and a long step can land where the cost
            // is flat rounding noise and wander off.
            let length = step.iter().map(|d| d * d).sum::<f64>().sqrt();
            if length > 2.0 {
                step.iter_mut().for_each(|d| *d *= 2.0 / length);
            }
            let trial: Vec<f64> = theta.iter().zip(&step).map(|(t, d)| t - d).collect();
            match evaluate(&trial) {
                Ok((c, g)) if c.is_finite() && g.iter().all(|v| v.is_finite()) && c <= cost => {
                    let settled = cost - c <= 1e-15 * (1.0 + cost.abs());
                    theta = trial;
                    cost = c;
                    gradient = g;
                    damping = (damping / 10.0).max(1e-12);
                    moved = !settled;
                    break;
                }
                Err(e @ CrmError::Canceled(_)) => return Err(e),
                _ => damping *= 10.0,
            }
        }
        if !moved {
            break;
        }
    }
    Ok((theta, iterations))
}

/// Solves A x = b for a symmetric A by Cholesky; None when A is not positive definite.
fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

fn cancel_error(_: Cancelled) -> CrmError {
    CrmError::Canceled("canceling statement due to user request".into())
}

/// A fitted purchase model with what the registry reports about the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseFit {
    pub params: PurchaseParams,
    /// Total log-likelihood of the customers (without the penalty).
    pub log_likelihood: f64,
    /// Norm of the gradient of the mean penalised negative log-likelihood, in
    /// log-parameters, at the optimum.
    pub gradient_norm: f64,
    pub iterations: u64,
    pub converged: bool,
}

/// Where a pair of parameters that grows without bound together is kept (see `fit`).
pub(crate) const ALIKE_SCALE: f64 = 1e6;

/// Largest log-parameter magnitude a fit accepts: beyond e^±18 (≈ 6.6e7) a parameter is
/// running off to a boundary (a and b together when the data show no dropout).
const LOG_PARAMETER_LIMIT: f64 = 18.0;

/// Fits `model` by maximum likelihood (penalty `penalizer · Σ θ²` on the mean negative
/// log-likelihood, as `lifetimes`). Starts from a subsample when the data are large, then
/// polishes on every customer.
pub fn fit(customers: &[Customer], model: PurchaseModel, penalizer: f64, threads: usize, should_stop: &(dyn Fn() -> bool + Sync)) -> Result<PurchaseFit> {
    if customers.is_empty() {
        return Err(CrmError::InvalidArgument("train_clv: the source has no customer with an order on or before as_of".into()));
    }
    let repeat = customers.iter().filter(|c| c.frequency > 0.0).count();
    if repeat == 0 {
        return Err(CrmError::InvalidArgument(format!(
            "train_clv: none of the {} customers bought on two different days before as_of: a purchase model needs repeat purchases (move as_of later or widen the source)",
            customers.len()
        )));
    }
    let all = Grouped::new(customers);
    let problem = |data| Problem { data, model, penalizer, threads, should_stop };
    // Start: a purchase rate of mean repeat purchases per unit of age, p = 1/2.
    let mean_x = customers.iter().map(|c| c.frequency).sum::<f64>() / customers.len() as f64;
    let mean_age = customers.iter().map(|c| c.age).sum::<f64>() / customers.len() as f64;
    let rate_scale = (mean_age.max(1e-3) / mean_x.max(1e-3)).ln();
    let starts = [vec![0.0, rate_scale, 0.0, 0.0], vec![-1.0, rate_scale - 1.0, -0.5, 0.5], vec![0.0, 0.0, 0.0, 0.0]];
    const SUBSAMPLE: usize = 50_000;
    let sample: Option<Grouped> = (customers.len() > 2 * SUBSAMPLE).then(|| {
        let step = customers.len() / SUBSAMPLE;
        Grouped::new(&customers.iter().step_by(step).copied().collect::<Vec<_>>())
    });
    let first_pass = sample.as_ref().unwrap_or(&all);
    let mut best: Option<(f64, Vec<f64>, u64)> = None;
    let mut last_error = None;
    for start in starts {
        match minimise(&|t| problem(first_pass).evaluate(t).map_err(cancel_error), start, 200) {
            // A start that ran off towards a boundary competes only if no start stayed inside.
            Ok((theta, iterations)) if theta.iter().all(|t| t.abs() <= LOG_PARAMETER_LIMIT) || best.is_none() => {
                let cost = problem(first_pass).evaluate(&theta).map_err(cancel_error)?.0;
                let inside = theta.iter().all(|t| t.abs() <= LOG_PARAMETER_LIMIT);
                let best_inside = best.as_ref().is_some_and(|b| b.1.iter().all(|t| t.abs() <= LOG_PARAMETER_LIMIT));
                if cost.is_finite() && (best.as_ref().is_none_or(|b| cost < b.0) || (inside && !best_inside)) {
                    best = Some((cost, theta, iterations));
                }
            }
            Ok(_) => {}
            Err(e @ CrmError::Canceled(_)) => return Err(e),
            Err(e) => last_error = Some(e),
        }
    }
    let Some((_, mut theta, mut iterations)) = best else {
        return Err(last_error.unwrap_or_else(|| CrmError::InvalidArgument("the likelihood could not be optimised".into())));
    };
    if sample.is_some() {
        let (polished, more) = minimise(&|t| problem(&all).evaluate(t).map_err(cancel_error), theta, 200)?;
        theta = polished;
        iterations += more;
    }
    // a and b growing together without bound is the limit where every customer drops out
    // with the same probability a/(a+b): kept as that limit at a + b = 10⁶ (the forecasts
    // then differ from the limit's by about 10⁻⁶; beyond, the log-density's terms lose
    // their digits).
    let (a, b) = (theta[2].exp(), theta[3].exp());
    if a + b > ALIKE_SCALE && a.is_finite() && b.is_finite() {
        let scale = ALIKE_SCALE / (a + b);
        theta[2] = (a * scale).ln();
        theta[3] = (b * scale).ln();
    }
    let (cost, gradient) = problem(&all).evaluate(&theta).map_err(cancel_error)?;
    let gradient_norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
    let names = ["r", "alpha", "a", "b"];
    if let Some(k) = (0..4).find(|&k| !theta[k].is_finite() || theta[k].abs() > LOG_PARAMETER_LIMIT) {
        return Err(CrmError::InvalidArgument(format!(
            "train_clv: the {} fit did not converge: parameter {} runs off to {} ({:.3e}); the data do not pin it down (often: too few customers who stopped buying). Set options.penalizer (a small one such as 1e-8 in days keeps the parameters finite), or options.model to the other model",
            model.name(),
            names[k],
            if theta[k] > 0.0 { "infinity" } else { "zero" },
            theta[k].exp()
        )));
    }
    let natural: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let params = PurchaseParams { model, r: natural[0], alpha: natural[1], a: natural[2], b: natural[3] };
    let penalty = penalizer * params.natural().iter().map(|v| v * v).sum::<f64>();
    let log_likelihood = -(cost - penalty) * all.customers;
    if !log_likelihood.is_finite() {
        return Err(CrmError::InvalidArgument(format!("train_clv: the {} log-likelihood is not finite at the fitted parameters", model.name())));
    }
    // At the clamped limit the gradient along a + b is not zero; the fit is still the optimum.
    let converged = gradient_norm < 1e-5 || params.a + params.b >= ALIKE_SCALE * (1.0 - 1e-9);
    Ok(PurchaseFit { params, log_likelihood, gradient_norm, iterations, converged })
}

/// Total log-likelihood of `customers` under `params` (no penalty): what tests and the
/// benchmark compare with other fitters' parameters.
pub fn log_likelihood(customers: &[Customer], params: &PurchaseParams) -> f64 {
    let data = Grouped::new(customers);
    let never = || false;
    let problem = Problem { data: &data, model: params.model, penalizer: 0.0, threads: 1, should_stop: &never };
    let theta: Vec<f64> = params.natural().iter().map(|v| v.ln()).collect();
    problem.evaluate(&theta).map(|e| -e.0 * data.customers).unwrap_or(f64::NAN)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Gamma(shape, 1) by Marsaglia & Tsang (shape < 1 boosted by U^{1/shape}).
    pub fn gamma(rng: &mut SplitMix64, shape: f64) -> f64 {
        if shape < 1.0 {
            return gamma(rng, shape + 1.0) * rng.next_f64().max(1e-300).powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            // standard normal by Box–Muller
            let (u1, u2) = (rng.next_f64().max(1e-300), rng.next_f64());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let v = (1.0 + c * z).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = rng.next_f64().max(1e-300);
            if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Customers simulated from the model itself: ages uniform in (0, horizon].
    pub fn simulate(params: &PurchaseParams, customers: usize, horizon: f64, seed: u64) -> Vec<Customer> {
        let mut rng = SplitMix64::new(seed);
        (0..customers)
            .map(|_| {
                let lambda = gamma(&mut rng, params.r) / params.alpha;
                let (g1, g2) = (gamma(&mut rng, params.a), gamma(&mut rng, params.b));
                let p = g1 / (g1 + g2);
                let age = (horizon * rng.next_f64()).ceil();
                let mut alive = params.model == PurchaseModel::BgNbd || rng.next_f64() >= p;
                let (mut t, mut x, mut last) = (0.0, 0.0, 0.0);
                while alive {
                    t += -rng.next_f64().max(1e-300).ln() / lambda;
                    if t > age {
                        break;
                    }
                    x += 1.0;
                    last = t;
                    alive = rng.next_f64() >= p;
                }
                Customer { frequency: x, recency: last, age, monetary: 0.0 }
            })
            .collect()
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn recovers_the_parameters_it_simulated() {
        for model in [PurchaseModel::BgNbd, PurchaseModel::MbgNbd] {
            let truth = PurchaseParams { model, r: 0.5, alpha: 20.0, a: 0.8, b: 2.5 };
            let customers = simulate(&truth, 20_000, 365.0, 7);
            let fit = fit(&customers, model, 0.0, 2, &never).unwrap();
            assert!(fit.converged, "{fit:?}");
            let p = fit.params;
            for (got, want) in [(p.r, truth.r), (p.alpha, truth.alpha), (p.a, truth.a), (p.b, truth.b)] {
                assert!((got / want - 1.0).abs() < 0.2, "{model:?}: {p:?} vs {truth:?}");
            }
            // the optimum beats the truth's likelihood (it is the maximum)
            assert!(fit.log_likelihood >= log_likelihood(&customers, &truth) - 1e-6);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let truth = PurchaseParams { model: PurchaseModel::BgNbd, r: 0.5, alpha: 20.0, a: 0.8, b: 2.5 };
        let customers = simulate(&truth, 2_000, 200.0, 3);
        let data = Grouped::new(&customers);
        for model in [PurchaseModel::BgNbd, PurchaseModel::MbgNbd] {
            let problem = Problem { data: &data, model, penalizer: 0.01, threads: 1, should_stop: &never };
            let theta = vec![-0.3, 2.5, 0.2, 0.7];
            let (_, g) = problem.evaluate(&theta).unwrap();
            for k in 0..4 {
                let h = 1e-6;
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up[k] += h;
                down[k] -= h;
                let numeric = (problem.evaluate(&up).unwrap().0 - problem.evaluate(&down).unwrap().0) / (2.0 * h);
                assert!((numeric - g[k]).abs() < 1e-6 * (1.0 + numeric.abs()), "{model:?} θ{k}: {numeric} vs {}", g[k]);
            }
        }
    }

    #[test]
    fn p_alive_and_forecasts_behave_at_the_edges() {
        for model in [PurchaseModel::BgNbd, PurchaseModel::MbgNbd] {
            let p = PurchaseParams { model, r: 0.25, alpha: 33.5, a: 0.72, b: 2.16 };
            let one_timer = Customer { frequency: 0.0, recency: 0.0, age: 200.0, monetary: 0.0 };
            let alive = p.p_alive(&one_timer);
            match model {
                PurchaseModel::BgNbd => assert_eq!(alive, 1.0),
                PurchaseModel::MbgNbd => assert!(alive < 1.0 && alive > 0.0),
            }
            // recency = T: the longer since the last purchase, the less likely alive
            let mut previous = 1.0;
            for recency in [300.0, 250.0, 150.0, 50.0, 0.0] {
                let c = Customer { frequency: 5.0, recency, age: 300.0, monetary: 0.0 };
                let now = p.p_alive(&c);
                assert!(now <= previous + 1e-15 && now > 0.0, "{model:?}: {now} > {previous}");
                previous = now;
            }
            // frequencies in the hundreds: finite, still in [0, 1]
            let heavy = Customer { frequency: 500.0, recency: 360.0, age: 365.0, monetary: 0.0 };
            let e = p.expected_purchases(&heavy, 365.0);
            assert!(e.is_finite() && e > 100.0, "{e}");
            let lapsed = Customer { frequency: 500.0, recency: 10.0, age: 365.0, monetary: 0.0 };
            assert!(p.p_alive(&lapsed) < 1e-10);
            // huge horizons: finite and non-decreasing
            let mut previous = 0.0;
            for t in [0.0, 1.0, 365.0, 1e4, 1e6, 1e9] {
                let e = p.expected_purchases(&Customer { frequency: 2.0, recency: 100.0, age: 200.0, monetary: 0.0 }, t);
                assert!(e.is_finite() && e >= previous, "{model:?} t {t}: {e}");
                previous = e;
            }
        }
    }
}
