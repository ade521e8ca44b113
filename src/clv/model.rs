//! The stored CLV model: a purchase model, a spend model and the time unit they were fitted
//! in; forecasts for summaries given in days.

use serde::{Deserialize, Serialize};

use super::purchases::{PurchaseFit, PurchaseParams};
use super::spend::{SpendFit, SpendParams};
use super::Customer;
use crate::error::{CrmError, Result};
use crate::registry::{Kind, StoredModel};

/// Days per unit of the `time_unit` option.
pub fn days_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "days" | "day" => 1.0,
        "weeks" | "week" => 7.0,
        "months" | "month" => 365.25 / 12.0,
        "years" | "year" => 365.25,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvModel {
    pub purchases: PurchaseParams,
    pub spend: SpendParams,
    pub days_per_unit: f64,
}

impl StoredModel for ClvModel {
    const KIND: Kind = Kind::Clv;

    fn validate(&self) -> std::result::Result<(), String> {
        let p = &self.purchases;
        let s = &self.spend;
        let positive = [p.r, p.alpha, p.a, p.b, s.p, s.q, s.v, self.days_per_unit];
        if positive.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err("a parameter is not a positive finite number".into());
        }
        if s.q <= 1.0 {
            return Err("spend parameter q must exceed 1".into());
        }
        Ok(())
    }
}

/// A summary in days as the SQL functions receive it: repeat purchases, days from the
/// first purchase to the last, days from the first purchase to the end of observation,
/// mean amount per purchase day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaySummary {
    pub frequency: f64,
    pub recency_days: f64,
    pub age_days: f64,
    pub monetary: f64,
}

impl DaySummary {
    /// 22023 naming the argument when the summary is not one a customer can have.
    pub fn check(&self) -> Result<()> {
        let bad = |argument: &str, value: f64, accepted: &str| Err(CrmError::bad_argument(argument, value, accepted));
        if !self.frequency.is_finite() || self.frequency < 0.0 {
            return bad("frequency", self.frequency, "repeat purchases: a finite number ≥ 0");
        }
        if !self.age_days.is_finite() || self.age_days < 0.0 {
            return bad("t", self.age_days, "days from the first purchase to the end of observation: a finite number ≥ 0");
        }
        if !self.recency_days.is_finite() || self.recency_days < 0.0 || self.recency_days > self.age_days {
            return bad("recency", self.recency_days, "days from the first purchase to the last: a finite number between 0 and t");
        }
        Ok(())
    }
}

/// 22023 unless `horizon_days` is a finite number ≥ 0.
pub fn check_horizon(horizon_days: f64) -> Result<()> {
    if horizon_days.is_finite() && horizon_days >= 0.0 {
        Ok(())
    } else {
        Err(CrmError::bad_argument("horizon_days", horizon_days, "a finite number of days ≥ 0"))
    }
}

/// Discounting is per period of this many days, at the period's end (as `lifetimes`'
/// `customer_lifetime_value` does per month).
pub const DISCOUNT_PERIOD_DAYS: f64 = 30.0;

/// The most discounting periods one CLV sums.
const MAX_DISCOUNT_PERIODS: f64 = 2_000.0;

/// Expected residual purchases already computed by one call site, keyed by (x, age, t)
/// bits: customers' summaries repeat (whole days, small frequencies), and the residual is
/// the costly part of a forecast (a hypergeometric series or a quadrature); P(alive) and
/// spend are cheap closed forms. Bounded: emptied when full.
#[derive(Default)]
pub struct ResidualMemo {
    values: std::collections::HashMap<(u64, u64, u64), f64>,
}

impl ResidualMemo {
    const MAX_ENTRIES: usize = 1 << 16;

    fn get(&mut self, params: &super::purchases::PurchaseParams, x: f64, age: f64, t: f64) -> f64 {
        let key = (x.to_bits(), age.to_bits(), t.to_bits());
        if let Some(v) = self.values.get(&key) {
            return *v;
        }
        let v = params.residual(x, age, t);
        if self.values.len() >= Self::MAX_ENTRIES {
            self.values.clear();
        }
        self.values.insert(key, v);
        v
    }
}

impl ClvModel {
    pub fn new(purchases: &PurchaseFit, spend: &SpendFit, days_per_unit: f64) -> ClvModel {
        ClvModel { purchases: purchases.params, spend: spend.params, days_per_unit }
    }

    fn customer(&self, s: &DaySummary) -> Customer {
        let unit = self.days_per_unit;
        // A one-time buyer's last purchase is his first, whatever recency says.
        let recency = if s.frequency > 0.0 { s.recency_days / unit } else { 0.0 };
        Customer { frequency: s.frequency, recency, age: s.age_days / unit, monetary: s.monetary }
    }

    pub fn p_alive(&self, s: &DaySummary) -> Result<f64> {
        s.check()?;
        Ok(self.purchases.p_alive(&self.customer(s)))
    }

    pub fn expected_purchases(&self, s: &DaySummary, horizon_days: f64, memo: &mut ResidualMemo) -> Result<f64> {
        s.check()?;
        check_horizon(horizon_days)?;
        Ok(self.purchases_in(&self.customer(s), horizon_days / self.days_per_unit, memo))
    }

    /// Expected purchases of `c` in `t` units, the residual from `memo`.
    fn purchases_in(&self, c: &Customer, t: f64, memo: &mut ResidualMemo) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.purchases.p_alive(c) * memo.get(&self.purchases, c.frequency, c.age, t)
    }

    /// Expected amount per future purchase.
    pub fn expected_spend(&self, frequency: f64, monetary: f64) -> Result<f64> {
        if !frequency.is_finite() || frequency < 0.0 {
            return Err(CrmError::bad_argument("frequency", frequency, "repeat purchases: a finite number ≥ 0"));
        }
        Ok(self.spend.expected_amount(frequency, monetary))
    }

    /// Expected spend over `horizon_days`, discounted at `annual_discount` per year
    /// (compounded per 30-day period, each period's purchases discounted at its end).
    pub fn clv(&self, s: &DaySummary, horizon_days: f64, annual_discount: f64, memo: &mut ResidualMemo) -> Result<f64> {
        s.check()?;
        check_horizon(horizon_days)?;
        if !annual_discount.is_finite() || annual_discount < 0.0 {
            return Err(CrmError::bad_argument("annual_discount", annual_discount, "a finite yearly rate ≥ 0 (0.1 = 10%)"));
        }
        let amount = self.spend.expected_amount(s.frequency, s.monetary);
        let c = self.customer(s);
        let unit = self.days_per_unit;
        if annual_discount == 0.0 {
            return Ok(amount * self.purchases_in(&c, horizon_days / unit, memo));
        }
        let per_day = (1.0 + annual_discount).ln() / 365.0;
        // Beyond the day where the discount factor falls under 1e-15 the rest of any horizon
        // adds nothing; and at most MAX_DISCOUNT_PERIODS periods are summed (longer ones on
        // very long horizons at tiny rates), so a call is bounded whatever its arguments.
        let last_day = horizon_days.min(34.6 / per_day);
        let period = DISCOUNT_PERIOD_DAYS.max(last_day / MAX_DISCOUNT_PERIODS);
        let (mut total, mut before, mut start) = (0.0, 0.0, 0.0);
        while start < last_day {
            let end = (start + period).min(horizon_days);
            let factor = (-per_day * end).exp();
            let cumulative = self.purchases_in(&c, end / unit, memo);
            total += (cumulative - before) * factor;
            before = cumulative;
            start = end;
        }
        Ok(amount * total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::purchases::{PurchaseModel, PurchaseParams};

    fn model() -> ClvModel {
        ClvModel {
            purchases: PurchaseParams { model: PurchaseModel::BgNbd, r: 0.25, alpha: 33.5, a: 0.72, b: 2.16 },
            spend: SpendParams { p: 14.4, q: 3.7, v: 6.9 },
            days_per_unit: 1.0,
        }
    }

    #[test]
    fn discounting_is_bounded_and_lowers_value_monotonically() {
        let m = model();
        let s = DaySummary { frequency: 3.0, recency_days: 100.0, age_days: 200.0, monetary: 40.0 };
        let mut memo = ResidualMemo::default();
        let plain = m.clv(&s, 365.0, 0.0, &mut memo).unwrap();
        let mut previous = plain;
        for rate in [1e-300, 1e-9, 0.01, 0.1, 1.0, 100.0] {
            let v = m.clv(&s, 365.0, rate, &mut memo).unwrap();
            assert!(v <= previous * (1.0 + 1e-12) && v > 0.0, "rate {rate}: {v} > {previous}");
            previous = v;
        }
        // a tiny rate over an enormous horizon ends (bounded periods) and stays finite; the
        // time bound only catches a runaway loop (a debug build on a loaded 2-core machine
        // took over 5 s here, so it is generous)
        let started = std::time::Instant::now();
        let v = m.clv(&s, 1e300, 1e-300, &mut memo).unwrap();
        assert!(v.is_finite() && v > 0.0, "{v}");
        assert!(started.elapsed().as_secs() < 120, "{:?}", started.elapsed());
    }
}
