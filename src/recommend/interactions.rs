//! Interaction data: id maps, the customer→items sparse matrix, and the holdout split.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{invalid_option, RecommendError};
use crate::rng::SplitMix64;

/// Compressed sparse rows: row `r` holds columns `indices[indptr[r]..indptr[r + 1]]`
/// (strictly increasing) with `values` alongside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseRows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    n_columns: usize,
}

impl SparseRows {
    /// Builds rows from (row, column, value) triples; repeated (row, column) pairs are summed
    /// (in f64, then stored as f32). Triples outside `n_rows` × `n_columns` are ignored.
    pub fn from_triples(n_rows: usize, n_columns: usize, triples: &[(u32, u32, f64)]) -> SparseRows {
        let inside = |&&(r, c, _): &&(u32, u32, f64)| (r as usize) < n_rows && (c as usize) < n_columns;
        // Counting sort by row keeps it O(nnz); columns are then sorted within each row.
        let mut counts = vec![0usize; n_rows + 1];
        for &(r, _, _) in triples.iter().filter(inside) {
            counts[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            counts[r + 1] += counts[r];
        }
        let mut next = counts.clone();
        let mut ordered = vec![(0u32, 0f64); counts[n_rows]];
        for &(r, c, v) in triples.iter().filter(inside) {
            ordered[next[r as usize]] = (c, v);
            next[r as usize] += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(triples.len());
        let mut values = Vec::with_capacity(triples.len());
        indptr.push(0);
        for r in 0..n_rows {
            let row = &mut ordered[counts[r]..counts[r + 1]];
            row.sort_by_key(|&(c, _)| c);
            let mut i = 0;
            while i < row.len() {
                let column = row[i].0;
                let mut sum = 0.0;
                while i < row.len() && row[i].0 == column {
                    sum += row[i].1;
                    i += 1;
                }
                indices.push(column);
                values.push(sum as f32);
            }
            indptr.push(indices.len());
        }
        SparseRows { indptr, indices, values, n_columns }
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Whether stored rows can be read safely: offsets that start at 0, never decrease
    /// and end at the entry count, one value per entry, columns inside `n_columns`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let offsets_ok = self.indptr.first() == Some(&0)
            && self.indptr.windows(2).all(|w| w[0] <= w[1])
            && self.indptr.last() == Some(&self.indices.len())
            && self.values.len() == self.indices.len();
        if !offsets_ok {
            return Err("sparse rows with inconsistent offsets".into());
        }
        if self.indices.iter().any(|&c| c as usize >= self.n_columns) {
            return Err(format!("a sparse entry outside {} columns", self.n_columns));
        }
        Ok(())
    }

    pub fn n_columns(&self) -> usize {
        self.n_columns
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Columns and values of row `r`; empty for a row out of range.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        if r + 1 >= self.indptr.len() {
            return (&[], &[]);
        }
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    pub fn row_len(&self, r: usize) -> usize {
        self.row(r).0.len()
    }

    /// The same matrix with rows and columns swapped (columns stay sorted).
    pub fn transpose(&self) -> SparseRows {
        let mut indptr = vec![0usize; self.n_columns + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.n_columns {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.n_rows() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        SparseRows { indptr, indices, values, n_columns: self.n_rows() }
    }

    /// Same sparsity pattern, values replaced by `f(row, column, value)`.
    pub(crate) fn map_values(&self, mut f: impl FnMut(usize, u32, f32) -> f32) -> SparseRows {
        let mut values = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows() {
            let (cols, vals) = self.row(r);
            values.extend(cols.iter().zip(vals).map(|(&c, &v)| f(r, c, v)));
        }
        SparseRows { values, ..self.clone() }
    }

    /// Number of stored entries per column.
    pub fn column_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.n_columns];
        for &c in &self.indices {
            counts[c as usize] += 1;
        }
        counts
    }
}

/// One pushed row, kept for the holdout split (which works on raw rows, before summing).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    customer: u32,
    item: u32,
    weight: f64,
    /// NaN when the row had no timestamp.
    timestamp: f64,
}

/// Collects interaction rows. Ids are numbered in first-seen order.
#[derive(Debug, Default)]
pub struct InteractionsBuilder {
    customer_ids: Vec<String>,
    customer_lookup: HashMap<String, u32>,
    item_ids: Vec<String>,
    item_lookup: HashMap<String, u32>,
    events: Vec<Event>,
    rows_pushed: usize,
    rows_without_timestamp: usize,
}

impl InteractionsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one interaction. Rejects (without storing) a weight that is not a finite number
    /// greater than 0, a non-finite timestamp, and more than 2^32 - 1 distinct customers or
    /// items. Repeated (customer, item) pairs are kept and their weights summed by `finish`.
    pub fn push(&mut self, customer: &str, item: &str, weight: f64, timestamp: Option<f64>) -> Result<(), RecommendError> {
        let row = self.rows_pushed;
        self.rows_pushed += 1;
        let reject = |message: String| Err(RecommendError::InvalidInteraction { row, message });
        if !(weight.is_finite() && weight > 0.0) {
            return reject(format!("weight {weight} is not accepted: it must be a finite number > 0"));
        }
        if let Some(t) = timestamp {
            if !t.is_finite() {
                return reject(format!("timestamp {t} is not accepted: it must be finite (or absent)"));
            }
        }
        let Some(customer) = intern(&mut self.customer_ids, &mut self.customer_lookup, customer) else {
            return reject("too many distinct customers (at most 4294967295)".into());
        };
        let Some(item) = intern(&mut self.item_ids, &mut self.item_lookup, item) else {
            return reject("too many distinct items (at most 4294967295)".into());
        };
        if timestamp.is_none() {
            self.rows_without_timestamp += 1;
        }
        self.events.push(Event { customer, item, weight, timestamp: timestamp.unwrap_or(f64::NAN) });
        Ok(())
    }

    /// Number of rows accepted so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn finish(self) -> Interactions {
        let has_timestamps = !self.events.is_empty() && self.rows_without_timestamp == 0;
        Interactions::from_parts(self.customer_ids, self.customer_lookup, self.item_ids, self.item_lookup, self.events, has_timestamps)
    }
}

fn intern(ids: &mut Vec<String>, lookup: &mut HashMap<String, u32>, id: &str) -> Option<u32> {
    if let Some(&index) = lookup.get(id) {
        return Some(index);
    }
    let index = u32::try_from(ids.len()).ok().filter(|&i| i < u32::MAX)?;
    ids.push(id.to_owned());
    lookup.insert(id.to_owned(), index);
    Some(index)
}

/// Interactions ready for training: id maps, the summed customer→items matrix, and the raw
/// rows (for splitting).
#[derive(Clone, Debug)]
pub struct Interactions {
    customer_ids: Vec<String>,
    customer_lookup: HashMap<String, u32>,
    item_ids: Vec<String>,
    item_lookup: HashMap<String, u32>,
    events: Vec<Event>,
    has_timestamps: bool,
    user_items: SparseRows,
}

impl Interactions {
    fn from_parts(
        customer_ids: Vec<String>,
        customer_lookup: HashMap<String, u32>,
        item_ids: Vec<String>,
        item_lookup: HashMap<String, u32>,
        events: Vec<Event>,
        has_timestamps: bool,
    ) -> Interactions {
        let triples: Vec<(u32, u32, f64)> = events.iter().map(|e| (e.customer, e.item, e.weight)).collect();
        let user_items = SparseRows::from_triples(customer_ids.len(), item_ids.len(), &triples);
        Interactions { customer_ids, customer_lookup, item_ids, item_lookup, events, has_timestamps, user_items }
    }

    pub fn n_customers(&self) -> usize {
        self.customer_ids.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// Number of raw rows (before duplicates were summed).
    pub fn n_rows(&self) -> usize {
        self.events.len()
    }

    /// True when every row had a timestamp (then the split is by time).
    pub fn has_timestamps(&self) -> bool {
        self.has_timestamps
    }

    pub fn customer_ids(&self) -> &[String] {
        &self.customer_ids
    }

    pub fn item_ids(&self) -> &[String] {
        &self.item_ids
    }

    pub fn customer_index(&self, id: &str) -> Option<u32> {
        self.customer_lookup.get(id).copied()
    }

    pub fn item_index(&self, id: &str) -> Option<u32> {
        self.item_lookup.get(id).copied()
    }

    /// Customer × item matrix of summed weights.
    pub fn user_items(&self) -> &SparseRows {
        &self.user_items
    }

    /// Holdout split, per customer, on raw rows:
    /// * customers with fewer than `min_interactions` rows: every row is train;
    /// * otherwise `n_test = ceil(test_fraction × n)` rows are test (the ceiling tolerates
    ///   1e-9 of rounding, so 20% of 15 rows is 3; clamped to 1..=n-1). With timestamps
    ///   (every row has one) the test rows are the latest ones (rows sorted by timestamp,
    ///   ties kept in push order); without, a seeded random choice.
    ///
    /// Both halves keep the full id maps, so indices agree. A customer's relevant test items
    /// are the distinct items of their test rows that are *not* among their train rows
    /// (recommenders exclude seen items, so those could never be hit); customers left with
    /// none are not in `test`.
    pub fn split(&self, options: &SplitOptions) -> Result<Split, RecommendError> {
        options.validate()?;
        // Rows grouped by customer, each group in push order (counting sort is stable).
        let n_customers = self.n_customers();
        let mut start = vec![0usize; n_customers + 1];
        for e in &self.events {
            start[e.customer as usize + 1] += 1;
        }
        for c in 0..n_customers {
            start[c + 1] += start[c];
        }
        let mut next = start.clone();
        let mut grouped = vec![0usize; self.events.len()];
        for (position, e) in self.events.iter().enumerate() {
            grouped[next[e.customer as usize]] = position;
            next[e.customer as usize] += 1;
        }

        let mut rng = SplitMix64::new(options.seed);
        let mut is_test = vec![false; self.events.len()];
        for c in 0..n_customers {
            let rows = &mut grouped[start[c]..start[c + 1]];
            let n = rows.len();
            if n < options.min_interactions.max(2) {
                continue;
            }
            let n_test = test_count(options.test_fraction, n);
            if self.has_timestamps {
                rows.sort_by(|&a, &b| self.events[a].timestamp.total_cmp(&self.events[b].timestamp));
                for &row in &rows[n - n_test..] {
                    is_test[row] = true;
                }
            } else {
                // Partial Fisher–Yates: the first n_test slots become a uniform sample.
                for i in 0..n_test {
                    let j = i + rng.below_multiply_shift(n - i);
                    rows.swap(i, j);
                    is_test[rows[i]] = true;
                }
            }
        }

        let mut train_events = Vec::with_capacity(self.events.len());
        let mut test_events = Vec::new();
        for (e, &test) in self.events.iter().zip(&is_test) {
            if test {
                test_events.push(*e);
            } else {
                train_events.push(*e);
            }
        }
        let train = Interactions::from_parts(
            self.customer_ids.clone(),
            self.customer_lookup.clone(),
            self.item_ids.clone(),
            self.item_lookup.clone(),
            train_events,
            self.has_timestamps,
        );
        let test_triples: Vec<(u32, u32, f64)> = test_events.iter().map(|e| (e.customer, e.item, 1.0)).collect();
        let test_matrix = SparseRows::from_triples(n_customers, self.n_items(), &test_triples);
        let mut test = Vec::new();
        for c in 0..n_customers {
            let seen = train.user_items.row(c).0;
            let items: Vec<u32> = test_matrix.row(c).0.iter().copied().filter(|i| seen.binary_search(i).is_err()).collect();
            if !items.is_empty() {
                test.push(TestCustomer { customer: c as u32, items });
            }
        }
        Ok(Split { train, test, test_rows: test_events.len() })
    }
}

/// `ceil(fraction × n)` with a 1e-9 tolerance (0.2 × 15 is 3.0000000000000004 in floating
/// point), clamped to 1..=n-1 so that both halves are non-empty.
pub(crate) fn test_count(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    let count = if (x - x.round()).abs() < 1e-9 { x.round() } else { x.ceil() };
    (count as usize).clamp(1, n.saturating_sub(1).max(1))
}

/// How to cut a holdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Share of each customer's rows held out, in (0, 1). Default 0.2.
    pub test_fraction: f64,
    /// Customers with fewer rows stay entirely in train. Default 5.
    pub min_interactions: usize,
    /// Seed of the random split (used only when rows lack timestamps). Default 42.
    pub seed: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions { test_fraction: 0.2, min_interactions: 5, seed: 42 }
    }
}

impl SplitOptions {
    pub fn validate(&self) -> Result<(), RecommendError> {
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(invalid_option("test_fraction", format!("{} is not accepted: it must be a number strictly between 0 and 1", self.test_fraction)));
        }
        Ok(())
    }
}

/// Result of [`Interactions::split`].
#[derive(Clone, Debug)]
pub struct Split {
    /// Train rows, with the same id maps as the full data.
    pub train: Interactions,
    /// Customers with at least one relevant held-out item, in customer order.
    pub test: Vec<TestCustomer>,
    /// Number of raw rows held out.
    pub test_rows: usize,
}

/// A customer's held-out items: distinct, not in their train rows, sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCustomer {
    pub customer: u32,
    pub items: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_add_up_and_ids_are_first_seen_order() {
        let mut b = InteractionsBuilder::new();
        b.push("ann", "tea", 1.0, None).unwrap();
        b.push("bob", "milk", 2.0, None).unwrap();
        b.push("ann", "tea", 2.5, None).unwrap();
        b.push("ann", "bread", 1.0, None).unwrap();
        let data = b.finish();
        assert_eq!(data.customer_ids(), ["ann", "bob"]);
        assert_eq!(data.item_ids(), ["tea", "milk", "bread"]);
        assert_eq!(data.n_rows(), 4);
        assert_eq!(data.user_items().row(0), (&[0u32, 2][..], &[3.5f32, 1.0][..]));
        assert_eq!(data.user_items().row(1), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(data.customer_index("bob"), Some(1));
        assert_eq!(data.item_index("coffee"), None);
        assert!(!data.has_timestamps());
    }

    #[test]
    fn bad_rows_are_rejected_with_their_position() {
        let mut b = InteractionsBuilder::new();
        b.push("a", "x", 1.0, Some(1.0)).unwrap();
        for (weight, timestamp) in [(0.0, None), (-1.0, None), (f64::NAN, None), (f64::INFINITY, None), (1.0, Some(f64::NAN))] {
            assert!(matches!(b.push("a", "y", weight, timestamp), Err(RecommendError::InvalidInteraction { .. })));
        }
        match b.push("a", "y", -2.0, None) {
            Err(RecommendError::InvalidInteraction { row, message }) => {
                assert_eq!(row, 6);
                assert!(message.contains("weight"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.len(), 1);
        let data = b.finish();
        assert_eq!(data.n_items(), 1, "a rejected row adds no item");
        assert!(data.has_timestamps());
    }

    #[test]
    fn transpose_round_trips() {
        let m = SparseRows::from_triples(3, 4, &[(0, 3, 1.0), (2, 0, 2.0), (0, 1, 3.0), (2, 3, 4.0)]);
        let t = m.transpose();
        assert_eq!(t.n_rows(), 4);
        assert_eq!(t.row(3), (&[0u32, 2][..], &[1.0f32, 4.0][..]));
        assert_eq!(t.transpose(), m);
        assert_eq!(m.row(7), (&[][..], &[][..]));
        let clipped = SparseRows::from_triples(1, 1, &[(0, 0, 1.0), (5, 0, 1.0), (0, 9, 1.0)]);
        assert_eq!(clipped.nnz(), 1);
    }

    #[test]
    fn test_count_is_a_tolerant_ceiling() {
        assert_eq!(test_count(0.2, 5), 1);
        assert_eq!(test_count(0.2, 6), 2);
        assert_eq!(test_count(0.2, 15), 3);
        assert_eq!(test_count(0.2, 16), 4);
        assert_eq!(test_count(0.9, 5), 4, "at least one train row");
    }

    #[test]
    fn temporal_split_takes_latest_rows_and_keeps_small_customers() {
        let mut b = InteractionsBuilder::new();
        // Customer "a": 6 rows, pushed out of time order, with a tie at t=5 (push order wins).
        for (item, t) in [("i1", 3.0), ("i2", 1.0), ("i3", 5.0), ("i4", 2.0), ("i5", 5.0), ("i6", 4.0)] {
            b.push("a", item, 1.0, Some(t)).unwrap();
        }
        // Customer "b": 4 rows (< 5): all train.
        for (item, t) in [("i1", 1.0), ("i2", 2.0), ("i3", 3.0), ("i4", 4.0)] {
            b.push("b", item, 1.0, Some(t)).unwrap();
        }
        let data = b.finish();
        let split = data.split(&SplitOptions::default()).unwrap();
        // ceil(0.2 × 6) = 2 latest: i3 (t=5, pushed first) and i5 (t=5).
        let i = |id: &str| data.item_index(id).unwrap();
        assert_eq!(split.test, vec![TestCustomer { customer: 0, items: vec![i("i3"), i("i5")] }]);
        assert_eq!(split.test_rows, 2);
        assert_eq!(split.train.user_items().row_len(0), 4);
        assert_eq!(split.train.user_items().row_len(1), 4);
        assert_eq!(split.train.n_items(), data.n_items());
    }

    #[test]
    fn tie_order_follows_push_order() {
        let mut b = InteractionsBuilder::new();
        for item in ["p", "q", "r", "s", "t"] {
            b.push("a", item, 1.0, Some(7.0)).unwrap();
        }
        let data = b.finish();
        let split = data.split(&SplitOptions::default()).unwrap();
        assert_eq!(split.test[0].items, vec![data.item_index("t").unwrap()]);
    }

    #[test]
    fn repeat_of_a_train_item_is_not_relevant() {
        let mut b = InteractionsBuilder::new();
        for (item, t) in [("x", 1.0), ("y", 2.0), ("z", 3.0), ("w", 4.0), ("x", 5.0)] {
            b.push("a", item, 1.0, Some(t)).unwrap();
        }
        let split = b.finish().split(&SplitOptions::default()).unwrap();
        assert!(split.test.is_empty());
        assert_eq!(split.test_rows, 1);
    }

    #[test]
    fn random_split_is_seeded_and_sized() {
        let mut b = InteractionsBuilder::new();
        for c in 0..20 {
            for i in 0..10 {
                b.push(&format!("c{c}"), &format!("i{i}"), 1.0, None).unwrap();
            }
        }
        let data = b.finish();
        let one = data.split(&SplitOptions::default()).unwrap();
        let two = data.split(&SplitOptions::default()).unwrap();
        let other = data.split(&SplitOptions { seed: 7, ..SplitOptions::default() }).unwrap();
        assert_eq!(one.test, two.test);
        assert_ne!(one.test, other.test);
        assert!(one.test.iter().all(|t| t.items.len() == 2));
        assert_eq!(one.train.user_items().nnz(), 160);
    }

    #[test]
    fn bad_fraction_names_the_option() {
        let data = InteractionsBuilder::new().finish();
        let err = data.split(&SplitOptions { test_fraction: 1.0, ..SplitOptions::default() }).unwrap_err();
        assert!(matches!(err, RecommendError::InvalidOption { option: "test_fraction", .. }));
    }
}
