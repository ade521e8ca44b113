//! Expected purchases of a customer who is alive now, over the next `t` time units: the
//! integral every BG/NBD-family forecast reduces to.
//!
//! A live customer buys at rate λ ~ Gamma(r, α) and, after each purchase, drops out with
//! probability p ~ Beta(a, b). Given λ and p the expected purchases in `t` are
//! `(1 − e^{−λpt}) / p`; over λ that is `(1 − (1 + pt/α)^{−r}) / p`, and over p
//!
//! ```text
//! R(t) = ∫₀¹ Beta(p; a, b) · (1 − (1 + p·t/α)^{−r}) / p dp
//!      = (a+b−1)/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))]
//! ```
//!
//! (the closed form `lifetimes` evaluates with scipy's `hyp2f1`). The closed form is fast
//! where the Gauss series of ₂F₁ converges quickly and the bracket does not cancel; it is
//! used there. Everywhere else (a near 1, a + b − 1 near or below 0, long horizons, rates
//! in the hundreds) the integral itself is computed by tanh–sinh quadrature in log space:
//! every weight is positive and the integrand grows with `t`, so the result is finite and
//! never decreases with the horizon, whatever the parameters.

use statrs::function::beta::ln_beta;

/// `R(t)` above: expected purchases in the next `t` time units of a customer alive now
/// whose posterior purchase rate is Gamma(r, α) and dropout probability Beta(a, b).
/// All parameters positive and finite, `t ≥ 0` finite.
pub fn expected_residual_purchases(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    closed_form(r, alpha, a, b, t).unwrap_or_else(|| quadrature(r, alpha, a, b, t))
}

/// The closed form through the Gauss series, or None where it would be slow or lose
/// digits (then the quadrature answers).
fn closed_form(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> Option<f64> {
    let c = a + b - 1.0;
    let z = t / (alpha + t);
    // (a − 1) divides a difference that vanishes at a = 1; c ≤ 0 has poles. A series that
    // has not converged within its term budget (z near 1 with small c) goes to the
    // quadrature too.
    if (a - 1.0).abs() < 0.02 || c < 0.5 {
        return None;
    }
    let log_one_minus_z = (alpha / (alpha + t)).ln();
    // (1 − z)^r · ₂F₁ stays below e^{600} before the product: no overflow in the series.
    if -r * log_one_minus_z > 600.0 {
        return None;
    }
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut n = 0.0f64;
    loop {
        let ratio = (r + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        term *= ratio;
        sum += term;
        n += 1.0;
        if term < 1e-17 * sum && ratio < 1.0 {
            break;
        }
        if n > 5_000.0 {
            return None;
        }
    }
    let scaled = (r * log_one_minus_z + sum.ln()).exp();
    let bracket = 1.0 - scaled;
    // A bracket far below 1 (a short horizon) keeps few digits of the subtraction.
    if bracket.abs() < 1e-3 {
        return None;
    }
    let value = c / (a - 1.0) * bracket;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// `R(t)` by quadrature over the log-odds y = ln(p/(1−p)) of the dropout probability, with
/// y = y₀ + σ·sinh(t) and the trapezoid rule in t (a sinh–sinh rule): y₀ and σ are the
/// centre and spread of Beta(a, b) on the log-odds scale, so the bulk is resolved however
/// concentrated the distribution is (a and b in the millions when every customer drops
/// out alike), and the sinh reaches the heavy tails of small a or b. p and 1 − p are both
/// computed from y (no cancellation at either end) and the integrand is taken in logs (no
/// underflow of p^{a−1} when a is tiny).
fn quadrature(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> f64 {
    let u = t / alpha;
    let log_u = u.ln();
    let log_beta = ln_beta(a, b);
    let centre = (a / b).ln();
    let spread = (1.0 / a + 1.0 / b).sqrt();
    // At node t_k: ln of the Beta density times dp/dt, and ln of H(p)/p, where the
    // integrand is p^{a−1} (1−p)^{b−1} / B(a,b) · H(p) / p with H = 1 − (1 + pu)^{−r}
    // and dp/dt = p (1−p) · σ cosh(t).
    let log_parts = |tk: f64| -> (f64, f64) {
        let y = centre + spread * tk.sinh();
        // p = 1/(1 + e^{−y}), 1 − p = 1/(1 + e^{y})
        let log_p = -ln1p_exp(-y);
        let log_q = -ln1p_exp(y);
        let log_pu = log_p + log_u;
        let log_h = if log_pu < -30.0 {
            // 1 − (1 + x)^{−r} = r·x (1 + O(x)) for tiny x = pu
            r.ln() + log_pu
        } else {
            let pu = log_pu.exp();
            (-(-r * pu.ln_1p()).exp_m1()).ln()
        };
        (a * log_p + b * log_q - log_beta + (spread * tk.cosh()).ln(), log_h - log_p)
    };
    // Far from the centre the integrand decays like p^a on the left (after rising like
    // p^{a−1} down to p ≈ 1/u when a < 1) and like (1 − p)^b on the right: each side ends
    // where that factor is below e^{−45}, and never before 10 spreads.
    let left = ((centre.abs() + log_u.max(0.0) + 45.0 / a) / spread).max(10.0).asinh();
    let right = ((centre.abs() + 45.0 / b) / spread).max(10.0).asinh();
    // (density, density · H/p) at a node. The integral is divided by the integral of the
    // density on the same nodes, which is 1 but for the rounding of ln B(a, b): that is
    // a difference of log-gammas of size a ln a, whose last digits are millionths when a
    // and b are in the millions.
    let f = |tk: f64| -> (f64, f64) {
        let (log_density, log_ratio) = log_parts(tk);
        let (d, v) = (log_density.exp(), (log_density + log_ratio).exp());
        if d.is_finite() && v.is_finite() {
            (d, v)
        } else {
            (0.0, 0.0)
        }
    };
    let add = |sum: &mut (f64, f64), (d, v): (f64, f64)| {
        sum.0 += d;
        sum.1 += v;
    };
    // Trapezoid sums with the step halved until two agree (from a step of 1/8 on): each
    // level adds the odd nodes.
    let mut h = 0.5f64;
    let mut sum = f(0.0);
    let mut k = 1usize;
    while (k as f64) * h <= left {
        add(&mut sum, f(-(k as f64) * h));
        k += 1;
    }
    k = 1;
    while (k as f64) * h <= right {
        add(&mut sum, f(k as f64 * h));
        k += 1;
    }
    let mut estimate = sum.1 / sum.0;
    for level in 1..=8 {
        h /= 2.0;
        let mut k = 1usize;
        while (k as f64) * h <= left {
            add(&mut sum, f(-(k as f64) * h));
            k += 2;
        }
        k = 1;
        while (k as f64) * h <= right {
            add(&mut sum, f(k as f64 * h));
            k += 2;
        }
        let next = sum.1 / sum.0;
        let done = level >= 2 && (next - estimate).abs() <= 1e-12 * next.abs();
        estimate = next;
        if done {
            break;
        }
    }
    estimate
}

/// ln(1 + e^x) without overflow.
fn ln1p_exp(x: f64) -> f64 {
    if x > 35.0 {
        x + (-x).exp()
    } else {
        x.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: f64, y: f64, rel: f64) -> bool {
        (x - y).abs() <= rel * y.abs().max(1e-300)
    }

    #[test]
    fn series_and_quadrature_agree_where_both_apply() {
        for &r in &[0.25, 1.0, 3.5, 20.0] {
            for &alpha in &[4.0, 33.5, 300.0] {
                for &a in &[0.3, 0.72, 1.5, 4.0] {
                    for &b in &[0.8, 2.16, 10.0, 150.0] {
                        for &t in &[30.0, 365.0, 900.0] {
                            if let Some(series) = closed_form(r, alpha, a, b, t) {
                                let quad = quadrature(r, alpha, a, b, t);
                                assert!(close(series, quad, 1e-9), "r {r} α {alpha} a {a} b {b} t {t}: {series} vs {quad}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The closed form in 40-digit arithmetic (mpmath's `hyp2f1`, computed once in the bench
    /// venv): `(a+b-1)/(a-1) * (1 - (alpha/(alpha+t))**r * hyp2f1(r, b, a+b-1, t/(alpha+t)))`.
    #[test]
    fn matches_scipy_closed_form() {
        let cases = [
            // r, alpha, a, b, t, mpmath
            (0.2516, 33.52, 0.7234, 2.161, 273.0, 1.174_225_176_480_269_8),
            (2.2516, 233.52, 0.7234, 4.161, 365.0, 2.683_240_907_882_487),
            (5.2516, 120.0, 1.0005, 8.161, 365.0, 8.729_668_142_043_569),
            (0.2516, 33.52, 0.7234, 0.6, 3650.0, 2.602_816_683_119_961_8),
        ];
        for (r, alpha, a, b, t, want) in cases {
            let got = expected_residual_purchases(r, alpha, a, b, t);
            assert!(close(got, want, 1e-8), "r {r} α {alpha} a {a} b {b} t {t}: {got} vs mpmath {want}");
        }
    }

    #[test]
    fn finite_and_non_decreasing_in_the_horizon_at_the_edges() {
        for &(r, alpha, a, b) in
            &[(0.25, 33.5, 0.72, 2.16), (300.0, 400.0, 0.5, 300.0), (0.01, 0.01, 0.01, 0.01), (1.0, 1.0, 1.0, 1.0), (50.0, 5.0, 20.0, 0.05)]
        {
            let mut previous = 0.0;
            for &t in &[0.0, 1e-6, 1.0, 7.0, 30.0, 365.0, 3650.0, 1e5, 1e7, 1e9] {
                let e = expected_residual_purchases(r, alpha, a, b, t);
                assert!(e.is_finite() && e >= 0.0, "({r},{alpha},{a},{b}) t {t}: {e}");
                assert!(e >= previous * (1.0 - 1e-9), "({r},{alpha},{a},{b}) t {t}: {e} < {previous}");
                previous = e;
            }
        }
    }

    #[test]
    fn a_concentrated_dropout_distribution_is_its_point_mass() {
        // a, b → ∞ with a/(a+b) = p fixed: every customer drops out with probability p, and
        // R(t) = ∫ (1 − (1 + p·t/α)^{−r}) / p at that one p.
        let (r, alpha, t) = (6.0, 184.0, 365.0);
        for scale in [1e4, 1e6, 1e8] {
            let (a, b) = (0.18 * scale, 0.82 * scale);
            let p: f64 = 0.18;
            let point_mass = (1.0 - (1.0 + p * t / alpha).powf(-r)) / p;
            let got = quadrature(r, alpha, a, b, t);
            assert!(close(got, point_mass, 20.0 / scale.sqrt()), "scale {scale}: {got} vs {point_mass}");
            let series = expected_residual_purchases(r, alpha, a, b, t);
            assert!(close(series, got, 1e-8), "scale {scale}: series {series} vs quadrature {got}");
        }
        // and for r in the hundreds, where only the quadrature answers
        let (a, b) = (0.18e6, 0.82e6);
        let got = expected_residual_purchases(406.0, 549.0, a, b, 365.0);
        let point_mass = (1.0 - (1.0 + 0.18 * 365.0 / 549.0f64).powf(-406.0)) / 0.18;
        assert!(close(got, point_mass, 1e-2), "{got} vs {point_mass}");
    }

    #[test]
    fn short_horizons_approach_the_purchase_rate() {
        // For t → 0, R(t) ≈ t · E[λ] = t · r/α (a live customer buys at rate λ).
        let (r, alpha, a, b) = (0.8, 20.0, 0.9, 3.0);
        let t = 1e-4;
        assert!(close(expected_residual_purchases(r, alpha, a, b, t), t * r / alpha, 1e-3));
    }
}
