//! RFM: recency, frequency and monetary summaries of a customer's orders, their 1–5
//! quintile scores over a population, and the named segments CRM people use.
//!
//! Pure Rust. Time is given by the caller as Postgres timestamps (microseconds since
//! 2000-01-01) together with the calendar day each falls on in the session's time zone,
//! so that "days" here are the same days `order_at::date` gives in SQL.

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// The running summary of one customer's orders (the aggregate's state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmState {
    as_of: i64,
    as_of_day: i32,
    /// Calendar days with a purchase; may hold repeats until `compact` or `finish`.
    days: Vec<i32>,
    /// Length of `days` after the last compaction: repeats are removed when the vector
    /// has doubled since, which bounds memory by the distinct days, not the orders.
    compacted_len: usize,
    first_order: i64,
    first_day: i32,
    last_order: i64,
    last_day: i32,
    monetary_total: f64,
    orders: u64,
}

/// The finished summary, one per customer.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSummary {
    /// Days from the last purchase day to the `as_of` day.
    pub recency_days: f64,
    /// Distinct purchase days.
    pub frequency: i64,
    /// `frequency - 1`: the repeat purchases that CLV models (BG/NBD, Gamma-Gamma) count.
    pub repeat_frequency: i64,
    pub monetary_total: f64,
    /// `monetary_total / frequency`: the mean spend per purchase day.
    pub monetary_mean: f64,
    pub first_order: i64,
    pub last_order: i64,
    /// Days from the first purchase day to the `as_of` day (the customer's age, CLV's T).
    pub t_days: f64,
    /// Order rows counted (several on one day count once in `frequency`).
    pub orders: i64,
    pub as_of: i64,
}

impl RfmState {
    pub fn new(as_of: i64, as_of_day: i32) -> RfmState {
        RfmState {
            as_of,
            as_of_day,
            days: Vec::new(),
            compacted_len: 0,
            first_order: i64::MAX,
            first_day: i32::MAX,
            last_order: i64::MIN,
            last_day: i32::MIN,
            monetary_total: 0.0,
            orders: 0,
        }
    }

    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    /// Counts one order. Orders after `as_of` are not counted (a summary "as of" a date
    /// must not see the future); the caller has already dropped NULLs.
    pub fn add(&mut self, order_at: i64, order_day: i32, amount: f64) {
        if order_at > self.as_of {
            return;
        }
        if order_at < self.first_order {
            self.first_order = order_at;
            self.first_day = order_day;
        }
        if order_at > self.last_order {
            self.last_order = order_at;
            self.last_day = order_day;
        }
        self.monetary_total += amount;
        self.orders += 1;
        // Orders usually arrive grouped by day: skip the obvious repeat cheaply.
        if self.days.last() != Some(&order_day) {
            self.days.push(order_day);
            if self.days.len() >= 64 && self.days.len() >= 2 * self.compacted_len {
                self.compact();
            }
        }
    }

    fn compact(&mut self) {
        self.days.sort_unstable();
        self.days.dedup();
        self.compacted_len = self.days.len();
    }

    /// Folds another partial summary of the same customer (parallel aggregation).
    pub fn merge(&mut self, other: &RfmState) -> Result<()> {
        if other.as_of != self.as_of {
            return Err(different_as_of());
        }
        if other.orders == 0 {
            return Ok(());
        }
        if other.first_order < self.first_order {
            self.first_order = other.first_order;
            self.first_day = other.first_day;
        }
        if other.last_order > self.last_order {
            self.last_order = other.last_order;
            self.last_day = other.last_day;
        }
        self.monetary_total += other.monetary_total;
        self.orders += other.orders;
        self.days.extend_from_slice(&other.days);
        self.compact();
        Ok(())
    }

    /// The summary, or None when no order up to `as_of` was counted.
    pub fn finish(&self) -> Option<RfmSummary> {
        if self.orders == 0 {
            return None;
        }
        let mut days = self.days.clone();
        days.sort_unstable();
        days.dedup();
        let frequency = days.len() as i64;
        Some(RfmSummary {
            recency_days: f64::from(self.as_of_day - self.last_day),
            frequency,
            repeat_frequency: frequency - 1,
            monetary_total: self.monetary_total,
            monetary_mean: self.monetary_total / frequency as f64,
            first_order: self.first_order,
            last_order: self.last_order,
            t_days: f64::from(self.as_of_day - self.first_day),
            orders: self.orders as i64,
            as_of: self.as_of,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of plain numbers always serialises.
        bincode::serialize(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<RfmState> {
        bincode::deserialize(bytes).map_err(|e| CrmError::CorruptModel(format!("invalid serialised rfm_agg state: {e}")))
    }
}

pub fn different_as_of() -> CrmError {
    CrmError::InvalidArgument(
        "rfm_agg: as_of must be the same for every row of a group (pass a constant such as \
         '2024-01-01'::timestamptz or now())"
            .into(),
    )
}

/// Quintile breakpoints of recency, frequency and monetary over a population: for each,
/// the values at the 20th, 40th, 60th and 80th percentile, with `percentile_disc`'s
/// definition (the first value whose cumulative share reaches the fraction), so they are
/// always values that occur and ties stay together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmQuintiles {
    pub n: u64,
    pub recency: [f64; 4],
    pub frequency: [f64; 4],
    pub monetary: [f64; 4],
}

impl RfmQuintiles {
    /// Breakpoints read from text must be finite and in ascending order.
    pub fn validate(&self) -> Result<()> {
        for (name, breaks) in [("recency", &self.recency), ("frequency", &self.frequency), ("monetary", &self.monetary)] {
            if breaks.iter().any(|b| !b.is_finite()) || breaks.windows(2).any(|w| w[0] > w[1]) {
                return Err(CrmError::InvalidText(format!("invalid crm.rfm_quintiles: \"{name}\" must hold 4 finite breakpoints in ascending order")));
            }
        }
        Ok(())
    }
}

/// The aggregate state of `rfm_quintiles`: the population's values, sorted at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuintileState {
    recency: Vec<f64>,
    frequency: Vec<f64>,
    monetary: Vec<f64>,
}

impl QuintileState {
    /// Adds one customer; NULL or non-finite components are left out of that component.
    pub fn add(&mut self, recency: Option<f64>, frequency: Option<f64>, monetary: Option<f64>) {
        for (values, x) in [(&mut self.recency, recency), (&mut self.frequency, frequency), (&mut self.monetary, monetary)] {
            if let Some(x) = x.filter(|x| x.is_finite()) {
                values.push(x);
            }
        }
    }

    pub fn merge(&mut self, other: &QuintileState) {
        self.recency.extend_from_slice(&other.recency);
        self.frequency.extend_from_slice(&other.frequency);
        self.monetary.extend_from_slice(&other.monetary);
    }

    pub fn finish(&self) -> Option<RfmQuintiles> {
        if self.recency.is_empty() || self.frequency.is_empty() || self.monetary.is_empty() {
            return None;
        }
        Some(RfmQuintiles {
            n: self.recency.len().max(self.frequency.len()).max(self.monetary.len()) as u64,
            recency: quintile_breaks(&self.recency),
            frequency: quintile_breaks(&self.frequency),
            monetary: quintile_breaks(&self.monetary),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serialize(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<QuintileState> {
        bincode::deserialize(bytes).map_err(|e| CrmError::CorruptModel(format!("invalid serialised rfm_quintiles state: {e}")))
    }
}

/// `percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8])` of a non-empty set of finite values.
fn quintile_breaks(values: &[f64]) -> [f64; 4] {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    [0.2, 0.4, 0.6, 0.8].map(|fraction: f64| {
        // Postgres: the row number ceil(fraction * n), 1-based, at least the first row.
        let row = ((fraction * n as f64).ceil() as usize).clamp(1, n);
        sorted[row - 1]
    })
}

/// Score 1..5 of a "higher is better" value: one plus the breakpoints it exceeds, so a
/// value equal to a breakpoint stays in the lower quintile (as `percentile_disc` puts it).
fn score_higher_better(x: f64, breaks: &[f64; 4]) -> i32 {
    1 + breaks.iter().filter(|&&b| x > b).count() as i32
}

/// Scores of one customer: R (5 = most recent), F and M (5 = most), each 1..5.
pub fn rfm_scores(recency_days: f64, frequency: f64, monetary: f64, q: &RfmQuintiles) -> (i32, i32, i32) {
    (6 - score_higher_better(recency_days, &q.recency), score_higher_better(frequency, &q.frequency), score_higher_better(monetary, &q.monetary))
}

/// The named segments, by R (rows, 5 = most recent) and FM = round-half-up((F + M) / 2)
/// (columns 1..5). Every one of the 25 cells has exactly one name; the README shows
/// the same grid.
const SEGMENT_GRID: [[&str; 5]; 5] = [
    // R = 1
    ["Lost", "Hibernating", "At Risk", "Can't Lose Them", "Can't Lose Them"],
    // R = 2
    ["Hibernating", "About to Sleep", "At Risk", "At Risk", "Can't Lose Them"],
    // R = 3
    ["About to Sleep", "Need Attention", "Need Attention", "Loyal Customers", "Loyal Customers"],
    // R = 4
    ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"],
    // R = 5
    ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
];

pub const SEGMENT_NAMES: [&str; 11] = [
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
];

pub fn rfm_segment(r: i32, f: i32, m: i32) -> Result<&'static str> {
    for (name, score) in [("r", r), ("f", f), ("m", m)] {
        if !(1..=5).contains(&score) {
            return Err(CrmError::bad_argument(name, score, "an RFM score from 1 to 5"));
        }
    }
    let fm = (f + m + 1) / 2;
    Ok(SEGMENT_GRID[(r - 1) as usize][(fm - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn order(day: i32) -> (i64, i32) {
        (i64::from(day) * DAY + 3_600_000_000, day)
    }

    #[test]
    fn summary_counts_distinct_days_and_ignores_the_future() {
        let (as_of, as_of_day) = order(100);
        let mut state = RfmState::new(as_of, as_of_day);
        for (day, amount) in [(10, 5.0), (10, 7.0), (40, 3.0), (10, 1.0), (90, 4.0), (150, 1000.0)] {
            let (at, d) = order(day);
            state.add(at, d, amount);
        }
        let s = state.finish().unwrap();
        assert_eq!(s.frequency, 3);
        assert_eq!(s.repeat_frequency, 2);
        assert_eq!(s.orders, 5);
        assert_eq!(s.monetary_total, 20.0);
        assert!((s.monetary_mean - 20.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.recency_days, 10.0);
        assert_eq!(s.t_days, 90.0);
        assert_eq!(s.first_order, order(10).0);
        assert_eq!(s.last_order, order(90).0);
    }

    #[test]
    fn empty_state_has_no_summary() {
        assert!(RfmState::new(0, 0).finish().is_none());
    }

    #[test]
    fn merging_partial_states_equals_one_pass() {
        let (as_of, as_of_day) = order(1000);
        let mut whole = RfmState::new(as_of, as_of_day);
        let mut parts = [RfmState::new(as_of, as_of_day), RfmState::new(as_of, as_of_day)];
        for i in 0..500 {
            let (at, d) = order((i * 7919) % 997);
            let amount = f64::from(i % 13);
            whole.add(at, d, amount);
            parts[(i % 2) as usize].add(at, d, amount);
        }
        let [mut left, right] = parts;
        let right = RfmState::from_bytes(&right.to_bytes()).unwrap();
        left.merge(&right).unwrap();
        assert_eq!(left.finish(), whole.finish());
        assert!(left.merge(&RfmState::new(as_of + 1, as_of_day)).is_err());
    }

    #[test]
    fn many_orders_on_few_days_keep_memory_bounded() {
        let mut state = RfmState::new(i64::MAX, i32::MAX);
        for i in 0..100_000 {
            let day = [3, 1, 2][i % 3];
            state.add(i64::from(day) * DAY, day, 1.0);
        }
        assert!(state.days.len() < 200, "{} days kept", state.days.len());
        assert_eq!(state.finish().unwrap().frequency, 3);
    }

    #[test]
    fn quintile_breaks_follow_percentile_disc() {
        // SELECT percentile_disc(ARRAY[.2,.4,.6,.8]) WITHIN GROUP (ORDER BY x)
        //   FROM generate_series(1,10) x  →  {2,4,6,8}
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quintile_breaks(&values), [2.0, 4.0, 6.0, 8.0]);
        // ... FROM unnest(ARRAY[5,1,1,1,1,1,2,2,3]) x → {1,1,2,3}
        assert_eq!(quintile_breaks(&[5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0]), [1.0, 1.0, 2.0, 3.0]);
        assert_eq!(quintile_breaks(&[7.0]), [7.0; 4]);
    }

    #[test]
    fn scores_split_a_population_in_fifths_and_keep_ties_together() {
        let mut state = QuintileState::default();
        for i in 1..=100 {
            let x = f64::from(i);
            state.add(Some(x), Some(x), Some(x));
        }
        let q = state.finish().unwrap();
        let mut counts = [0; 5];
        for i in 1..=100 {
            let (r, f, m) = rfm_scores(f64::from(i), f64::from(i), f64::from(i), &q);
            assert_eq!(r, 6 - f);
            assert_eq!(f, m);
            counts[(f - 1) as usize] += 1;
        }
        assert_eq!(counts, [20; 5]);
        // Most customers bought once: they all share the lowest frequency score.
        let mut skewed = QuintileState::default();
        for i in 0..100 {
            skewed.add(Some(1.0), Some(if i < 60 { 1.0 } else { f64::from(i) }), Some(1.0));
        }
        let q = skewed.finish().unwrap();
        assert_eq!(rfm_scores(1.0, 1.0, 1.0, &q).1, 1);
        assert_eq!(rfm_scores(1.0, 99.0, 1.0, &q).1, 5);
        assert!(QuintileState::default().finish().is_none());
    }

    #[test]
    fn every_score_combination_has_a_named_segment() {
        let mut seen = std::collections::HashSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let name = rfm_segment(r, f, m).unwrap();
                    assert!(SEGMENT_NAMES.contains(&name));
                    seen.insert(name);
                }
            }
        }
        assert_eq!(seen.len(), SEGMENT_NAMES.len());
        assert_eq!(rfm_segment(5, 5, 5).unwrap(), "Champions");
        assert_eq!(rfm_segment(1, 1, 1).unwrap(), "Lost");
        assert_eq!(rfm_segment(5, 1, 1).unwrap(), "New Customers");
        assert_eq!(rfm_segment(1, 5, 5).unwrap(), "Can't Lose Them");
        let err = rfm_segment(0, 3, 3).unwrap_err().to_string();
        assert!(err.contains('r') && err.contains("1 to 5"), "{err}");
        assert!(rfm_segment(3, 6, 3).is_err());
    }
}
