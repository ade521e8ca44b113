//! Normalisation summaries: the state of `crm.scaler_agg` and the `crm.scaler` it yields.
//!
//! * `zscore`: mean and population standard deviation (Welford's update per row, Chan et
//!   al.'s pairwise merge for parallel partial states), as `avg(x)`/`stddev_pop(x)`.
//! * `minmax`: minimum and maximum.
//! * `robust`: median and inter-quartile range from a DDSketch (relative error ≤ 0.1 %,
//!   see `sketch.rs`), as scikit-learn's `RobustScaler`.
//!
//! NULL, NaN and infinite inputs are ignored; an empty input has no summary. When the
//! spread is zero (a constant column) scaling divides by 1, as scikit-learn does, so a
//! constant feature maps to 0 instead of NaN.

use serde::{Deserialize, Serialize};

use super::sketch::{take_f64, take_u64, Sketch};
use crate::error::{CrmError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Zscore,
    Minmax,
    Robust,
}

impl Method {
    pub fn parse(method: &str) -> Result<Method> {
        match method.trim().to_ascii_lowercase().as_str() {
            "zscore" | "z-score" | "standard" => Ok(Method::Zscore),
            "minmax" | "min-max" | "min_max" => Ok(Method::Minmax),
            "robust" => Ok(Method::Robust),
            _ => Err(CrmError::bad_argument("method", method, "'zscore', 'minmax' or 'robust'")),
        }
    }

    fn tag(self) -> u8 {
        match self {
            Method::Zscore => 1,
            Method::Minmax => 2,
            Method::Robust => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<Method> {
        match tag {
            1 => Some(Method::Zscore),
            2 => Some(Method::Minmax),
            3 => Some(Method::Robust),
            _ => None,
        }
    }
}

/// The running state of `scaler_agg` over one group.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalerState {
    pub method: Method,
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    sketch: Option<Sketch>,
}

/// Version byte of the serialised state exchanged between parallel workers.
const STATE_FORMAT: u8 = 1;

impl ScalerState {
    pub fn new(method: Method) -> ScalerState {
        ScalerState { method, n: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, sketch: (method == Method::Robust).then(Sketch::new) }
    }

    #[inline]
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
        if let Some(sketch) = self.sketch.as_mut() {
            sketch.add(x);
        }
    }

    pub fn merge(&mut self, other: &ScalerState) -> Result<()> {
        if self.method != other.method {
            return Err(CrmError::bad_argument("method", format!("{:?} and {:?}", self.method, other.method), "one method for every row of a group"));
        }
        if other.n == 0 {
            return Ok(());
        }
        if self.n == 0 {
            *self = other.clone();
            return Ok(());
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.n += other.n;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let (Some(a), Some(b)) = (self.sketch.as_mut(), other.sketch.as_ref()) {
            a.merge(b);
        }
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.push(STATE_FORMAT);
        out.push(self.method.tag());
        out.extend_from_slice(&self.n.to_le_bytes());
        for v in [self.mean, self.m2, self.min, self.max] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        if let Some(sketch) = &self.sketch {
            sketch.write(&mut out);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ScalerState> {
        let corrupt = || CrmError::InvalidText("corrupt scaler_agg partial state".into());
        let mut rest = bytes;
        let (&format, tail) = rest.split_first().ok_or_else(corrupt)?;
        if format != STATE_FORMAT {
            return Err(corrupt());
        }
        let (&tag, tail) = tail.split_first().ok_or_else(corrupt)?;
        rest = tail;
        let method = Method::from_tag(tag).ok_or_else(corrupt)?;
        let mut state = ScalerState::new(method);
        state.n = take_u64(&mut rest).ok_or_else(corrupt)?;
        state.mean = take_f64(&mut rest).ok_or_else(corrupt)?;
        state.m2 = take_f64(&mut rest).ok_or_else(corrupt)?;
        state.min = take_f64(&mut rest).ok_or_else(corrupt)?;
        state.max = take_f64(&mut rest).ok_or_else(corrupt)?;
        if method == Method::Robust {
            state.sketch = Some(Sketch::read(&mut rest).ok_or_else(corrupt)?);
        }
        if !rest.is_empty() {
            return Err(corrupt());
        }
        Ok(state)
    }

    /// The summary, `None` for an empty group, or 22003 when the values' mean, spread or
    /// quantiles overflow a double (finite inputs beyond about ±1e154 square past the
    /// largest double): never a summary with non-finite fields, which its own text input
    /// would refuse on restore.
    pub fn finish(&self) -> Result<Option<ScalerParams>> {
        if self.n == 0 {
            return Ok(None);
        }
        let (median, q1, q3) = match &self.sketch {
            Some(s) => (s.quantile(0.5), s.quantile(0.25), s.quantile(0.75)),
            None => (None, None, None),
        };
        let params = ScalerParams {
            method: self.method,
            n: self.n,
            mean: self.mean,
            stddev: (self.m2.max(0.0) / self.n as f64).sqrt(),
            min: self.min,
            max: self.max,
            median,
            q1,
            q3,
        };
        let quantiles_finite = [median, q1, q3].iter().all(|q| q.is_none_or(f64::is_finite));
        if ![params.mean, params.stddev, params.min, params.max].iter().all(|v| v.is_finite()) || !quantiles_finite {
            return Err(CrmError::OutOfRange(
                "crm.scaler_agg: the values' mean, spread or quartiles overflow double precision (values beyond about ±1e154); rescale the column first".into(),
            ));
        }
        Ok(Some(params))
    }
}

/// A finished normalisation summary: what `crm.scaler` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalerParams {
    pub method: Method,
    pub n: u64,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q3: Option<f64>,
}

impl ScalerParams {
    /// (centre, spread) of the method; a zero spread becomes 1 (see module docs).
    fn centre_and_spread(&self) -> (f64, f64) {
        let (centre, spread) = match self.method {
            Method::Zscore => (self.mean, self.stddev),
            Method::Minmax => (self.min, self.max - self.min),
            Method::Robust => {
                let (m, q1, q3) = (self.median.unwrap_or(self.mean), self.q1.unwrap_or(0.0), self.q3.unwrap_or(0.0));
                (m, q3 - q1)
            }
        };
        (centre, if spread > 0.0 && spread.is_finite() { spread } else { 1.0 })
    }

    pub fn scale(&self, x: f64) -> f64 {
        let (centre, spread) = self.centre_and_spread();
        (x - centre) / spread
    }

    pub fn unscale(&self, y: f64) -> f64 {
        let (centre, spread) = self.centre_and_spread();
        y * spread + centre
    }

    /// Checks a summary read from text: what `finish` could have produced.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(CrmError::InvalidText(format!("invalid crm.scaler: {what}")));
        let finite = [self.mean, self.stddev, self.min, self.max].iter().all(|v| v.is_finite());
        if !finite {
            return bad("mean, stddev, min and max must be finite numbers");
        }
        if self.n == 0 {
            return bad("n must be at least 1");
        }
        if self.stddev < 0.0 || self.min > self.max {
            return bad("stddev must be >= 0 and min <= max");
        }
        if self.method == Method::Robust {
            match (self.median, self.q1, self.q3) {
                (Some(m), Some(a), Some(b)) if m.is_finite() && a.is_finite() && b.is_finite() && a <= m && m <= b => {}
                _ => return bad("a robust scaler needs finite q1 <= median <= q3"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn zscore_matches_two_pass_formula() {
        let mut r = lcg(1);
        let xs: Vec<f64> = (0..100_000).map(|_| 1e6 + r() * 10.0).collect();
        let mut s = ScalerState::new(Method::Zscore);
        xs.iter().for_each(|&x| s.add(x));
        let p = s.finish().unwrap().unwrap();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(((p.mean - mean) / mean).abs() < 1e-12);
        assert!(((p.stddev - var.sqrt()) / var.sqrt()).abs() < 1e-9);
        assert!((p.scale(mean + var.sqrt()) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn merged_partials_equal_one_pass() {
        let mut r = lcg(2);
        let xs: Vec<f64> = (0..30_000).map(|_| r() * 100.0 - 20.0).collect();
        for method in [Method::Zscore, Method::Minmax, Method::Robust] {
            let mut whole = ScalerState::new(method);
            let mut parts = vec![ScalerState::new(method), ScalerState::new(method), ScalerState::new(method)];
            for (i, &x) in xs.iter().enumerate() {
                whole.add(x);
                parts[i % 3].add(x);
            }
            let mut merged = ScalerState::new(method);
            for p in &parts {
                let back = ScalerState::from_bytes(&p.to_bytes()).unwrap();
                merged.merge(&back).unwrap();
            }
            let (a, b) = (whole.finish().unwrap().unwrap(), merged.finish().unwrap().unwrap());
            assert_eq!(a.n, b.n);
            assert!(((a.mean - b.mean) / a.mean).abs() < 1e-12);
            assert!(((a.stddev - b.stddev) / a.stddev).abs() < 1e-12);
            assert_eq!((a.min, a.max, a.median, a.q1, a.q3), (b.min, b.max, b.median, b.q1, b.q3));
        }
    }

    #[test]
    fn robust_quartiles_and_scaling() {
        let mut s = ScalerState::new(Method::Robust);
        (1..=1001).for_each(|x| s.add(x as f64));
        let p = s.finish().unwrap().unwrap();
        assert!((p.median.unwrap() - 501.0).abs() <= 501.0 * 1e-3);
        assert!((p.q1.unwrap() - 251.0).abs() <= 251.0 * 1e-3);
        assert!((p.q3.unwrap() - 751.0).abs() <= 751.0 * 1e-3);
        assert!((p.unscale(p.scale(42.0)) - 42.0).abs() < 1e-9);
    }

    #[test]
    fn empty_nonfinite_and_constant() {
        let mut s = ScalerState::new(Method::Zscore);
        s.add(f64::NAN);
        s.add(f64::INFINITY);
        assert!(s.finish().unwrap().is_none());
        (0..10).for_each(|_| s.add(5.0));
        let p = s.finish().unwrap().unwrap();
        assert_eq!(p.stddev, 0.0);
        assert_eq!(p.scale(5.0), 0.0);
        assert_eq!(p.scale(7.0), 2.0);
        let mut m = ScalerState::new(Method::Minmax);
        m.add(3.0);
        assert_eq!(m.finish().unwrap().unwrap().scale(3.0), 0.0);
    }

    #[test]
    fn corrupt_state_bytes_are_errors() {
        let s = ScalerState::new(Method::Robust);
        let bytes = s.to_bytes();
        assert!(ScalerState::from_bytes(&bytes).is_ok());
        assert!(ScalerState::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(ScalerState::from_bytes(&[]).is_err());
        assert!(ScalerState::from_bytes(&[9, 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(ScalerState::from_bytes(&extra).is_err());
    }

    #[test]
    fn json_text_round_trips_exactly() {
        // pg_dump writes the text form and restores from it: every bit must survive.
        let mut r = lcg(9);
        for _ in 0..2_000 {
            let mut s = ScalerState::new(Method::Robust);
            (0..50).for_each(|_| s.add((r() - 0.5) * 10f64.powi((r() * 40.0) as i32 - 20)));
            let p = s.finish().unwrap().unwrap();
            let back: ScalerParams = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn methods_and_validation() {
        assert_eq!(Method::parse("ZSCORE").unwrap(), Method::Zscore);
        assert_eq!(Method::parse("foo").unwrap_err().sqlstate(), "22023");
        let mut s = ScalerState::new(Method::Robust);
        (0..100).for_each(|x| s.add(x as f64));
        let p = s.finish().unwrap().unwrap();
        assert!(p.validate().is_ok());
        let mut broken = p.clone();
        broken.median = None;
        assert!(broken.validate().is_err());
        broken = p;
        broken.n = 0;
        assert!(broken.validate().is_err());
    }

    #[test]
    fn summaries_that_overflow_a_double_are_an_error_not_null_fields() {
        for (method, values) in
            [(Method::Zscore, [1e308, -1e308, 0.0]), (Method::Zscore, [1e154, -1e154, 3e154]), (Method::Robust, [1.7e308, 1.7e308, -1.7e308])]
        {
            let mut s = ScalerState::new(method);
            values.iter().for_each(|&x| s.add(x));
            let err = s.finish().unwrap_err();
            assert_eq!(err.sqlstate(), "22003", "{method:?} {values:?}: {err}");
        }
        let mut s = ScalerState::new(Method::Zscore);
        [1e150, -1e150].iter().for_each(|&x| s.add(x));
        assert!(s.finish().unwrap().unwrap().stddev.is_finite(), "large but representable values still summarise");
    }
}
