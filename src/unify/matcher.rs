//! A stored matcher: what `crm.dedupe` estimates on a table (the compared columns, which
//! of them are identifiers, the blocking rules, m and u per comparison level, the prior,
//! the term frequencies and the threshold), kept in the registry so that one new record
//! is scored against the records already matched exactly as the batch would score it.
//!
//! The records already matched live in two tables the SQL layer keeps: their normalised
//! values and customer key, and one row per (block key, record) for the index-backed
//! candidate lookup. A block key is the 64-bit FNV-1a hash of the blocking rule's number
//! and its key: stable forever (it is stored), and a collision only adds a candidate that
//! the comparison then scores for what it is.
//!
//! Plain Rust, no Postgres.

use serde::{Deserialize, Serialize};

use super::matching::{field_level, field_weight, normalise, Parameters, Rule, TermFrequencies, EXACT, LEVELS};
use crate::clean::address::normalize_address;
use crate::clean::country::Country;
use crate::text::vectorize::fnv1a;

/// The names of the comparison levels, as `crm.explain_match` shows them.
pub const LEVEL_NAMES: [&str; LEVELS] = ["missing", "different", "similar", "very_similar", "exact"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matcher {
    /// The source's id column (a record's id in `crm.match`'s answer).
    pub id_column: String,
    /// The compared columns, in field order.
    pub columns: Vec<String>,
    /// Which columns are compared as postal addresses (canonical form first).
    pub address_columns: Vec<bool>,
    /// The addresses' country (ISO alpha-2), when they are all in one.
    pub country: Option<String>,
    /// Which columns are identifiers (compared exactly: e-mail addresses, numbers).
    pub identifiers: Vec<bool>,
    pub rules: Vec<Rule>,
    /// Blocks larger than this are not compared (as in the batch).
    pub max_block: usize,
    /// Block keys shared by more than `max_block` records at training: never stored,
    /// never looked up (sorted).
    pub oversize_blocks: Vec<i64>,
    pub parameters: Parameters,
    /// Per column, when term frequencies are used (else empty).
    pub frequencies: Vec<TermFrequencies>,
    /// A new record joins a cluster at or above this probability.
    pub threshold: f64,
}

/// One pair scored: the level and weight of each field, the prior's log-odds, the total
/// weight and the match probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub levels: Vec<u8>,
    pub weights: Vec<f64>,
    pub prior: f64,
    pub total: f64,
    pub probability: f64,
}

impl Matcher {
    /// Why a decoded matcher cannot be used, if it cannot (stored bytes are not trusted).
    pub fn check(&self) -> Result<(), String> {
        let width = self.columns.len();
        if width == 0 {
            return Err("no compared column".into());
        }
        let p = &self.parameters;
        if self.address_columns.len() != width || self.identifiers.len() != width || p.m.len() != width || p.u.len() != width {
            return Err(format!("{width} columns but the per-column parameters disagree in length"));
        }
        if !self.frequencies.is_empty() && self.frequencies.len() != width {
            return Err(format!("{width} columns but {} term-frequency tables", self.frequencies.len()));
        }
        if self.rules.iter().any(|r| r.fields.is_empty() || r.fields.iter().any(|&f| f >= width)) {
            return Err("a blocking rule names a field out of range".into());
        }
        let probabilities_ok = p.m.iter().chain(&p.u).all(|levels| levels.iter().all(|x| x.is_finite() && *x > 0.0 && *x <= 1.0));
        if !(probabilities_ok && p.lambda > 0.0 && p.lambda < 1.0) {
            return Err("m, u or the prior is not a probability".into());
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(format!("threshold {} is not a probability", self.threshold));
        }
        if !self.oversize_blocks.windows(2).all(|w| w[0] < w[1]) {
            return Err("oversize block keys are not sorted".into());
        }
        if let Some(code) = &self.country {
            Country::parse("country", code).map_err(|e| e.message().to_string())?;
        }
        Ok(())
    }

    fn country(&self) -> Option<Country> {
        self.country.as_deref().and_then(|c| Country::parse("country", c).ok())
    }

    /// A record's compared values as the batch reads them: addresses in canonical form
    /// (abbreviations written out), everything normalised (see `matching::normalise`).
    pub fn normalise(&self, raw: &[Option<&str>]) -> Vec<Option<String>> {
        let country = self.country();
        raw.iter()
            .zip(&self.address_columns)
            .map(|(value, &address)| match value {
                None => None,
                Some(v) if address => normalize_address(v, country).or_else(|| normalise(v)),
                Some(v) => normalise(v),
            })
            .collect()
    }

    /// The block keys of a normalised record, without repeats and without the oversize ones.
    pub fn block_keys(&self, record: &[Option<String>]) -> Vec<i64> {
        let mut keys: Vec<i64> = self.rules.iter().enumerate().filter_map(|(i, rule)| rule.key(record).map(|key| block_hash(i, &key))).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|k| self.oversize_blocks.binary_search(k).is_err());
        keys
    }

    /// Scores two normalised records as the batch scores a candidate pair.
    pub fn compare(&self, a: &[Option<String>], b: &[Option<String>]) -> Comparison {
        let weights = self.parameters.weights();
        let prior = (self.parameters.lambda / (1.0 - self.parameters.lambda)).ln();
        let mut levels = Vec::with_capacity(self.columns.len());
        let mut field_weights = Vec::with_capacity(self.columns.len());
        for (c, column_weights) in weights.iter().enumerate() {
            let (x, y) = (a.get(c).and_then(Option::as_deref), b.get(c).and_then(Option::as_deref));
            let level = field_level(x, y, self.identifiers[c]);
            levels.push(level);
            field_weights.push(field_weight(column_weights, self.parameters.m[c][EXACT as usize], level, x, self.frequencies.get(c)));
        }
        let total = prior + field_weights.iter().sum::<f64>();
        Comparison { levels, weights: field_weights, prior, total, probability: 1.0 / (1.0 + (-total).exp()) }
    }
}

/// The stored key of blocking rule `rule`'s key `key`.
pub fn block_hash(rule: usize, key: &str) -> i64 {
    fnv1a(&format!("{rule}\u{1e}{key}")) as i64
}

/// The key that survives when clusters merge, from (key, records holding it): the one held
/// by the most records, so the fewest rows change key; ties go to the smallest key
/// (deterministic, and the oldest for keys that are ids given in order). None for no keys.
pub fn surviving_key<'a>(keys: &[(&'a str, usize)]) -> Option<&'a str> {
    keys.iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0))).map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::super::matching::{match_records, MatchOptions, Records, Task};
    use super::*;

    fn record(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| normalise(v)).collect()
    }

    /// A matcher estimated on people with typo'd duplicates.
    fn trained() -> (Matcher, Records) {
        let firsts = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda"];
        let lasts = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "okonkwo", "zielinski"];
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut fields = Vec::new();
        for person in 0..300 {
            let first = firsts[rng.below_modulo(firsts.len())];
            let last = lasts[rng.below_modulo(lasts.len())];
            let email = format!("{first}.{last}{person}@example.com");
            let dob = format!("19{:02}-{:02}-{:02}", 40 + rng.below_modulo(60), 1 + rng.below_modulo(12), 1 + rng.below_modulo(28));
            fields.push(record(&[first, last, &email, &dob]));
            if person % 3 == 0 {
                fields.push(record(&[first, &format!("{last}x"), &email, &dob]));
            }
        }
        let records = Records { fields };
        let matched = match_records(&records, Task::Dedupe, &MatchOptions::default(), &|| false).unwrap();
        let matcher = Matcher {
            id_column: "id".into(),
            columns: vec!["first".into(), "last".into(), "email".into(), "dob".into()],
            address_columns: vec![false; 4],
            country: None,
            identifiers: matched.identifiers,
            rules: matched.rules,
            max_block: 500,
            oversize_blocks: Vec::new(),
            parameters: matched.parameters,
            frequencies: matched.frequencies,
            threshold: 0.5,
        };
        (matcher, records)
    }

    #[test]
    fn a_new_duplicate_scores_high_and_a_stranger_low() {
        let (matcher, records) = trained();
        matcher.check().unwrap();
        let existing = &records.fields[0];
        let typo = format!("{}x", existing[1].as_deref().unwrap_or_default());
        let duplicate = matcher.normalise(&[existing[0].as_deref(), Some(&typo), existing[2].as_deref(), existing[3].as_deref()]);
        let same = matcher.compare(existing, &duplicate);
        assert!(same.probability > 0.9, "{same:?}");
        assert_eq!(same.levels[2], EXACT);
        let stranger = matcher.normalise(&[Some("Zebedee"), Some("Quill"), Some("zq@example.org"), Some("2001-01-01")]);
        assert!(matcher.compare(existing, &stranger).probability < 0.01);
        // The total is the prior plus the field weights, the probability its logistic.
        let total = same.prior + same.weights.iter().sum::<f64>();
        assert!((same.total - total).abs() < 1e-12 && (same.probability - 1.0 / (1.0 + (-total).exp())).abs() < 1e-12);
    }

    #[test]
    fn a_common_surname_weighs_less_than_a_rare_one() {
        let (matcher, _) = trained();
        let person = |last: &str| record(&["mary", last, "", "1970-01-01"]);
        let common = matcher.compare(&person("smith"), &person("smith"));
        let rare = matcher.compare(&person("zielinskiewicz"), &person("zielinskiewicz"));
        assert!(rare.weights[1] > common.weights[1] + 1.0, "rare {} common {}", rare.weights[1], common.weights[1]);
    }

    #[test]
    fn block_keys_are_stable_and_skip_oversize_blocks() {
        let (mut matcher, records) = trained();
        let keys = matcher.block_keys(&records.fields[0]);
        assert!(!keys.is_empty());
        assert_eq!(keys, matcher.block_keys(&records.fields[0]));
        // The hash is stored: it must never change.
        assert_eq!(block_hash(0, "smith"), fnv1a("0\u{1e}smith") as i64);
        matcher.oversize_blocks = vec![keys[0]];
        assert!(!matcher.block_keys(&records.fields[0]).contains(&keys[0]));
    }

    #[test]
    fn a_corrupt_matcher_is_refused() {
        let (matcher, _) = trained();
        let mut bad = matcher.clone();
        bad.identifiers.pop();
        assert!(bad.check().is_err());
        let mut bad = matcher.clone();
        bad.rules.push(Rule { fields: vec![9], phonetic: false });
        assert!(bad.check().is_err());
        let mut bad = matcher;
        bad.parameters.lambda = 1.5;
        assert!(bad.check().is_err());
    }

    #[test]
    fn the_surviving_key_is_the_largest_cluster_then_the_smallest_key() {
        assert_eq!(surviving_key(&[("17", 2), ("5", 3)]), Some("5"));
        assert_eq!(surviving_key(&[("b", 2), ("a", 2)]), Some("a"));
        assert_eq!(surviving_key(&[]), None);
    }
}
