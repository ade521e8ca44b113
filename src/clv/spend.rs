//! Gamma–Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV"): a customer's purchase
//! amounts are Gamma(p, ν) around his mean p/ν, and ν ~ Gamma(q, v) across customers. Fitted
//! on customers with repeat purchases from (x, mean amount); his expected amount per
//! purchase shrinks his observed mean toward the population's by how many purchases it
//! rests on. The model assumes amount and purchase frequency independent: the fit reports
//! their correlation.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::purchases::{minimise, ALIKE_SCALE};
use crate::error::{CrmError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpendParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl SpendParams {
    /// Expected amount per purchase of a customer with `x` repeat purchases of mean amount
    /// `mean_amount` (the population mean p·v/(q−1) when x = 0). Amounts below zero
    /// (returns) count as 0.
    pub fn expected_amount(&self, x: f64, mean_amount: f64) -> f64 {
        let m = if mean_amount.is_finite() { mean_amount.max(0.0) } else { 0.0 };
        self.p * (self.v + x * m) / (self.p * x + self.q - 1.0)
    }

    pub fn population_mean(&self) -> f64 {
        self.p * self.v / (self.q - 1.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendFit {
    pub params: SpendParams,
    pub log_likelihood: f64,
    pub gradient_norm: f64,
    pub iterations: u64,
    pub converged: bool,
    /// q and v grew without bound together: every customer has the same mean amount.
    pub alike: bool,
    /// Customers the fit used (repeat purchases and a positive mean amount).
    pub customers: usize,
    /// Pearson correlation of frequency and mean amount over them.
    pub frequency_monetary_correlation: f64,
}

struct Problem<'a> {
    /// (x, mean amount, ln mean amount, x ln x)
    rows: &'a [(f64, f64, f64, f64)],
    frequencies: &'a [f64],
    /// index of each row's x in `frequencies`
    row_frequency: &'a [u32],
    penalizer: f64,
}

impl Problem<'_> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let [p, q, v] = [theta[0].exp(), theta[1].exp(), theta[2].exp()];
        let (ln_v, lg_q, dg_q) = (v.ln(), ln_gamma(q), digamma(q));
        // per distinct x: lnΓ(px+q) − lnΓ(px) and the digammas
        let per_x: Vec<(f64, f64, f64)> = self
            .frequencies
            .iter()
            .map(|&x| {
                let (dg_pxq, dg_px) = (digamma(p * x + q), digamma(p * x));
                (ln_gamma(p * x + q) - ln_gamma(p * x), dg_pxq - dg_px, dg_pxq)
            })
            .collect();
        let (mut ll, mut dp, mut dq, mut dv) = (0.0, 0.0, 0.0, 0.0);
        for (&(x, m, ln_m, x_ln_x), &xi) in self.rows.iter().zip(self.row_frequency) {
            let (lg, dg_diff, dg_pxq) = per_x[xi as usize];
            let denom = x * m + v;
            let ln_denom = denom.ln();
            ll += lg - lg_q + q * ln_v + (p * x - 1.0) * ln_m + p * x_ln_x - (p * x + q) * ln_denom;
            dp += x * dg_diff + x * ln_m + x_ln_x - x * ln_denom;
            dq += dg_pxq - dg_q + ln_v - ln_denom;
            dv += q / v - (p * x + q) / denom;
        }
        let n = self.rows.len() as f64;
        let natural = [p, q, v];
        let cost = -ll / n + self.penalizer * natural.iter().map(|t| t * t).sum::<f64>();
        let grad = [dp, dq, dv].iter().zip(natural).map(|(g, t)| -g / n * t + 2.0 * self.penalizer * t * t).collect();
        (cost, grad)
    }
}

/// Fits Gamma–Gamma on the customers with x > 0 repeat purchases and a positive mean
/// amount; `pairs` are (x, mean amount) of every customer.
pub fn fit(pairs: &[(f64, f64)], penalizer: f64) -> Result<SpendFit> {
    let used: Vec<(f64, f64)> = pairs.iter().copied().filter(|&(x, m)| x > 0.0 && m > 0.0 && m.is_finite()).collect();
    if used.len() < 2 {
        return Err(CrmError::InvalidArgument(format!(
            "train_clv: the spend model needs customers with repeat purchases of positive amount; the source has {}",
            used.len()
        )));
    }
    let rows: Vec<(f64, f64, f64, f64)> = used.iter().map(|&(x, m)| (x, m, m.ln(), x * x.ln())).collect();
    let mut frequencies: Vec<f64> = used.iter().map(|p| p.0).collect();
    frequencies.sort_unstable_by(f64::total_cmp);
    frequencies.dedup();
    let row_frequency: Vec<u32> = used.iter().map(|p| frequencies.partition_point(|f| *f < p.0) as u32).collect();
    let problem = || Problem { rows: &rows, frequencies: &frequencies, row_frequency: &row_frequency, penalizer };
    let mean_m = used.iter().map(|p| p.1).sum::<f64>() / used.len() as f64;
    // Start: p = 1, q = 2, so that the population mean p·v/(q−1) is the observed mean.
    let starts = [vec![0.0, 2f64.ln(), mean_m.ln()], vec![1.0, 1.0, mean_m.ln() + 1.0], vec![0.0, 0.0, 0.0]];
    let mut best: Option<(f64, Vec<f64>, u64)> = None;
    let mut last_error = None;
    for start in starts {
        match minimise(&|t| Ok(problem().evaluate(t)), start, 200) {
            Ok((theta, iterations)) => {
                let cost = problem().evaluate(&theta).0;
                if cost.is_finite() && best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, theta, iterations));
                }
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some((_, mut theta, iterations)) = best else {
        return Err(last_error.unwrap_or_else(|| CrmError::InvalidArgument("the spend likelihood could not be optimised".into())));
    };
    // q and v growing together without bound is the limit where every customer has the same
    // mean amount p·v/(q−1): kept as that limit at q = 10⁶, the mean unchanged.
    let (q, v) = (theta[1].exp(), theta[2].exp());
    let alike = q > ALIKE_SCALE && v.is_finite();
    if alike {
        theta[1] = ALIKE_SCALE.ln();
        theta[2] = (v * (ALIKE_SCALE - 1.0) / (q - 1.0)).ln();
    }
    let cost = problem().evaluate(&theta).0;
    let names = ["p", "q", "v"];
    if let Some(k) = (0..3).find(|&k| !theta[k].is_finite() || theta[k].abs() > 18.0) {
        return Err(CrmError::InvalidArgument(format!(
            "train_clv: the Gamma–Gamma spend fit did not converge: parameter {} runs off to {}; set options.penalizer (a small one such as 1e-8), or leave out extreme amounts",
            names[k],
            if theta[k] > 0.0 { "infinity" } else { "zero" }
        )));
    }
    let params = SpendParams { p: theta[0].exp(), q: theta[1].exp(), v: theta[2].exp() };
    if params.q <= 1.0 {
        return Err(CrmError::InvalidArgument(format!(
            "train_clv: the fitted spend distribution has no finite mean (q = {:.4} ≤ 1: a few very large amounts dominate); leave out extreme amounts or set options.penalizer",
            params.q
        )));
    }
    let (_, gradient) = problem().evaluate(&theta);
    let gradient_norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
    let penalty = penalizer * (params.p * params.p + params.q * params.q + params.v * params.v);
    Ok(SpendFit {
        params,
        log_likelihood: -(cost - penalty) * used.len() as f64,
        gradient_norm,
        iterations,
        converged: gradient_norm < 1e-5 || alike,
        alike,
        customers: used.len(),
        frequency_monetary_correlation: correlation(&used),
    })
}

fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::purchases::tests::gamma;
    use crate::rng::SplitMix64;

    #[test]
    fn recovers_simulated_spend_and_shrinks_toward_the_population() {
        let truth = SpendParams { p: 6.0, q: 4.0, v: 15.0 };
        let mut rng = SplitMix64::new(11);
        let pairs: Vec<(f64, f64)> = (0..20_000)
            .map(|i| {
                let x = 1.0 + (i % 7) as f64;
                let nu = gamma(&mut rng, truth.q) / truth.v;
                let total: f64 = (0..x as usize).map(|_| gamma(&mut rng, truth.p) / nu).sum();
                (x, total / x)
            })
            .collect();
        let fit = fit(&pairs, 0.0).unwrap();
        assert!(fit.converged, "{fit:?}");
        let p = fit.params;
        assert!((p.population_mean() / truth.population_mean() - 1.0).abs() < 0.1, "{p:?}");
        assert!((p.q / truth.q - 1.0).abs() < 0.25, "{p:?}");
        assert!(fit.frequency_monetary_correlation.abs() < 0.05);
        // one purchase of 1000: pulled most of the way to the mean; ten purchases: less so
        let (one, ten) = (p.expected_amount(1.0, 1000.0), p.expected_amount(10.0, 1000.0));
        assert!(one < ten && ten < 1000.0 && one > p.population_mean());
        assert!((p.expected_amount(0.0, 1000.0) - p.population_mean()).abs() < 1e-9);
        // returns and zero-spend orders: finite, never negative
        assert!(p.expected_amount(3.0, -50.0) > 0.0 && p.expected_amount(3.0, 0.0) > 0.0);
    }
}
