//! A small Nelder–Mead minimiser for the smoothing parameters of the ETS-type models.
//!
//! The models have one to four parameters, each mapped from an unbounded coordinate
//! through a logistic function (see `ets.rs`), so the search itself is unconstrained and
//! any point it tries is a valid model. A hand-written simplex search keeps the fit
//! deterministic, allocation-light and free of a dependency whose defaults could change.

/// Minimises `f` from `start`, with an initial simplex of `step` along each axis. Stops
/// after `max_evals` evaluations or when the simplex's values agree to `tolerance`
/// (relative). Returns the best point and its value. Non-finite values count as +inf, so
/// the search backs away from them.
pub fn nelder_mead(f: &mut dyn FnMut(&[f64]) -> f64, start: &[f64], step: f64, max_evals: usize, tolerance: f64) -> (Vec<f64>, f64) {
    let d = start.len();
    let mut evals = 0usize;
    let mut eval = |x: &[f64], evals: &mut usize| {
        *evals += 1;
        let v = f(x);
        if v.is_finite() {
            v
        } else {
            f64::INFINITY
        }
    };
    if d == 0 {
        let v = eval(start, &mut evals);
        return (Vec::new(), v);
    }
    let mut simplex: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
    simplex.push(start.to_vec());
    for i in 0..d {
        let mut p = start.to_vec();
        p[i] += step;
        simplex.push(p);
    }
    let mut values: Vec<f64> = simplex.iter().map(|p| eval(p, &mut evals)).collect();
    // Standard coefficients: reflection 1, expansion 2, contraction 1/2, shrink 1/2.
    let mut centroid = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut trial2 = vec![0.0; d];
    while evals < max_evals {
        // Order: best first, worst last (a stable sort keeps ties deterministic).
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();
        let (best, worst) = (values[0], values[d]);
        if (worst - best).abs() <= tolerance * (best.abs() + tolerance) {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for p in &simplex[..d] {
            for (c, x) in centroid.iter_mut().zip(p) {
                *c += x / d as f64;
            }
        }
        let along = |t: &mut Vec<f64>, coefficient: f64, simplex: &[Vec<f64>]| {
            for i in 0..d {
                t[i] = centroid[i] + coefficient * (simplex[d][i] - centroid[i]);
            }
        };
        along(&mut trial, -1.0, &simplex);
        let reflected = eval(&trial, &mut evals);
        if reflected < values[0] {
            along(&mut trial2, -2.0, &simplex);
            let expanded = eval(&trial2, &mut evals);
            if expanded < reflected {
                simplex[d].clone_from(&trial2);
                values[d] = expanded;
            } else {
                simplex[d].clone_from(&trial);
                values[d] = reflected;
            }
        } else if reflected < values[d - 1] {
            simplex[d].clone_from(&trial);
            values[d] = reflected;
        } else {
            // Contract towards the better of the worst point and its reflection.
            let outside = reflected < values[d];
            along(&mut trial2, if outside { -0.5 } else { 0.5 }, &simplex);
            let contracted = eval(&trial2, &mut evals);
            if contracted < reflected.min(values[d]) {
                simplex[d].clone_from(&trial2);
                values[d] = contracted;
            } else {
                let (best_point, rest) = simplex.split_at_mut(1);
                for (point, value) in rest.iter_mut().zip(&mut values[1..]) {
                    for (x, b) in point.iter_mut().zip(&best_point[0]) {
                        *x = b + 0.5 * (*x - b);
                    }
                    *value = eval(point, &mut evals);
                }
            }
        }
    }
    let best = (0..=d).min_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0);
    (simplex[best].clone(), values[best])
}

/// The logistic map from an unbounded coordinate to (lo, hi).
pub fn bounded(u: f64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) / (1.0 + (-u).exp())
}

/// The coordinate that `bounded` maps to `x` (clamped just inside the bounds).
pub fn unbounded(x: f64, lo: f64, hi: f64) -> f64 {
    let p = ((x - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_quadratic() {
        let mut f = |x: &[f64]| (x[0] - 1.5).powi(2) + 3.0 * (x[1] + 0.5).powi(2) + 2.0;
        let (x, v) = nelder_mead(&mut f, &[0.0, 0.0], 0.5, 1000, 1e-12);
        assert!((x[0] - 1.5).abs() < 1e-4 && (x[1] + 0.5).abs() < 1e-4, "{x:?}");
        assert!((v - 2.0).abs() < 1e-8);
    }

    #[test]
    fn rosenbrock_within_budget() {
        let mut f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let (x, _) = nelder_mead(&mut f, &[-1.2, 1.0], 0.5, 5000, 1e-14);
        assert!((x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3, "{x:?}");
    }

    #[test]
    fn non_finite_values_are_avoided() {
        let mut f = |x: &[f64]| if x[0] < 0.0 { f64::NAN } else { (x[0] - 1.0).powi(2) };
        let (x, v) = nelder_mead(&mut f, &[0.5], 0.3, 500, 1e-12);
        assert!(v.is_finite() && (x[0] - 1.0).abs() < 1e-3);
    }

    #[test]
    fn bounded_round_trips() {
        for x in [0.1, 0.5, 0.97] {
            assert!((bounded(unbounded(x, 0.0, 1.0), 0.0, 1.0) - x).abs() < 1e-12);
        }
        assert!(bounded(1e6, 0.8, 0.98) <= 0.98 && bounded(-1e6, 0.8, 0.98) >= 0.8);
    }
}
