//! Record matching without labels, as Splink and fastLink do it (Fellegi–Sunter):
//!
//! 1. every compared field is normalised (NFKC, lower case, characters other than
//!    letters, digits and '@' to spaces, whitespace collapsed);
//! 2. blocking proposes candidate pairs: records that share the exact value of a field,
//!    or a word field's phonetic key, or the values of a rule the user gives (blocks
//!    larger than `max_block` are skipped: a value that common says little; at most
//!    `max_pairs` pairs, smallest blocks first);
//! 3. each candidate pair gets a comparison level per field: missing, different,
//!    similar (Jaro-Winkler ≥ 0.84), very similar (≥ 0.94), exact — identifier fields
//!    (e-mail addresses, long numbers) only exact or different;
//! 4. `u` (how often a level occurs between two different people) is measured on random
//!    pairs; `m` (between two records of one person) and the prior of a match by
//!    expectation-maximisation over the candidates, seeded on exact agreement (see
//!    `estimate_m` for why, and what failed);
//! 5. a pair's match weight is the prior's log-odds plus `Σ log m/u` over its fields (a
//!    missing field counts for nothing), its probability the logistic of that; exact
//!    agreement is weighed by how common the shared value is (term-frequency adjustment,
//!    as Splink's: `log m/tf(v)`, see `TermFrequencies`), so two records agreeing on a
//!    frequent surname weigh less than two agreeing on a rare one;
//! 6. deduplication joins records linked with probability ≥ `threshold` into clusters
//!    (connected components), linkage returns the linked pairs.
//!
//! Plain Rust, no Postgres: the SQL layer reads the records and writes the result.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::clean::similarity::{phonetic_key, similarity, Method};
use crate::clean::text::nfkc;
use crate::pool::{self, Cancelled};
use crate::rng::SplitMix64;

/// Comparison levels of one field for one pair.
pub const MISSING: u8 = 0;
pub const DIFFERENT: u8 = 1;
pub const SIMILAR: u8 = 2;
pub const VERY_SIMILAR: u8 = 3;
pub const EXACT: u8 = 4;
pub const LEVELS: usize = 5;

const SIMILAR_AT: f64 = 0.84;
const VERY_SIMILAR_AT: f64 = 0.94;

#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    /// Pairs at or above this probability are matches.
    pub threshold: f64,
    /// Blocks (records sharing a blocking value) larger than this are not compared.
    pub max_block: usize,
    /// At most this many candidate pairs: blocks are taken smallest first (the most
    /// telling shared values) until the next would pass it.
    pub max_pairs: usize,
    /// Random pairs used to measure `u`.
    pub u_sample: usize,
    pub max_em_iterations: usize,
    pub seed: u64,
    /// Blocking rules: each a list of field indexes whose values, all present, are
    /// joined into the blocking key. Empty: automatic (see `auto_blocking`).
    pub blocking: Vec<Vec<usize>>,
    /// Weigh exact agreement by the shared value's frequency (see `TermFrequencies`).
    pub term_frequencies: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            threshold: 0.5,
            max_block: 500,
            max_pairs: 20_000_000,
            u_sample: 50_000,
            max_em_iterations: 100,
            seed: 42,
            blocking: Vec::new(),
            term_frequencies: true,
        }
    }
}

/// Records to match: `fields[r][c]` is record r's normalised value of field c.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub fields: Vec<Vec<Option<String>>>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Characters of a field that matching looks at. Names, e-mails, phones and addresses
/// fit; a longer value (a note, a pasted document) is compared on its beginning, since
/// Jaro-Winkler costs the product of the lengths: 5 records of 3 KB text took 13 s to
/// compare their 50,000 sampled pairs before this bound.
const MAX_COMPARED_CHARS: usize = 100;

/// NFKC, lower case, every character that is not a letter, digit or '@' a space, whitespace
/// collapsed, at most `MAX_COMPARED_CHARS` characters of the value read; None when nothing
/// is left. "O'Brien-Smith " and "o brien smith" agree.
pub fn normalise(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(4 * MAX_COMPARED_CHARS));
    let mut pending_space = false;
    for c in nfkc(raw).chars().take(MAX_COMPARED_CHARS) {
        // '@' stays: it tells an e-mail address (see `identifier_fields`).
        if c.is_alphanumeric() || c == '@' {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The comparison level of two normalised values.
pub fn level(a: Option<&str>, b: Option<&str>) -> u8 {
    match (a, b) {
        (Some(a), Some(b)) if a == b => EXACT,
        (Some(a), Some(b)) => {
            let s = similarity(a, b, Method::JaroWinkler);
            if s >= VERY_SIMILAR_AT {
                VERY_SIMILAR
            } else if s >= SIMILAR_AT {
                SIMILAR
            } else {
                DIFFERENT
            }
        }
        _ => MISSING,
    }
}

/// The comparison level of field values under the field's kind: identifiers (e-mail
/// addresses, phone and other numbers) are the same or not — two different people's
/// addresses or numbers are often one character apart (`anna.meyer1@…`, `…2@…`), so
/// nearness there is no evidence; words (names, streets, towns) get the fuzzy levels.
pub fn field_level(a: Option<&str>, b: Option<&str>, identifier: bool) -> u8 {
    match (a, b) {
        (Some(x), Some(y)) if identifier => {
            if x == y {
                EXACT
            } else {
                DIFFERENT
            }
        }
        _ => level(a, b),
    }
}

/// Which fields are identifiers: most present values are e-mail addresses (hold an
/// `@`) or numbers of 7 or more digits (phones, national ids) — on a sample.
pub fn identifier_fields(records: &Records) -> Vec<bool> {
    let width = records.fields.first().map_or(0, Vec::len);
    (0..width)
        .map(|c| {
            let (mut present, mut identifier) = (0usize, 0usize);
            for r in records.fields.iter().take(10_000) {
                if let Some(v) = &r[c] {
                    present += 1;
                    let digits = v.chars().filter(char::is_ascii_digit).count();
                    let letters = v.chars().filter(|ch| ch.is_alphabetic()).count();
                    if v.contains('@') || (digits >= 7 && letters == 0) {
                        identifier += 1;
                    }
                }
            }
            present > 0 && identifier * 10 >= present * 8
        })
        .collect()
}

/// Which side(s) of a comparison a record is on: deduplication compares records of one
/// set, linkage only records of the left set with records of the right set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Task {
    Dedupe,
    /// Records `0..left` are the left source, the rest the right one.
    Link {
        left: usize,
    },
}

impl Task {
    fn allowed(&self, a: usize, b: usize) -> bool {
        match *self {
            Task::Dedupe => a != b,
            Task::Link { left } => (a < left) != (b < left),
        }
    }
}

/// The automatic blocking rules: each field on its own, and the phonetic key of each
/// field that holds words (names, streets, towns). Which of them are used is decided by
/// block size in `candidate_pairs`.
pub fn auto_blocking(records: &Records) -> Vec<Rule> {
    let width = records.fields.first().map_or(0, Vec::len);
    let mut rules: Vec<Rule> = (0..width).map(|c| Rule { fields: vec![c], phonetic: false }).collect();
    for c in 0..width {
        // A field of words: most present values contain a letter.
        let (mut present, mut wordy) = (0usize, 0usize);
        for r in records.fields.iter().take(10_000) {
            if let Some(v) = &r[c] {
                present += 1;
                if v.chars().any(char::is_alphabetic) {
                    wordy += 1;
                }
            }
        }
        if present > 0 && wordy * 2 > present {
            rules.push(Rule { fields: vec![c], phonetic: true });
        }
    }
    rules
}

/// A blocking rule: records whose values of `fields` (all present) are equal — or have
/// equal phonetic keys — are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub fields: Vec<usize>,
    pub phonetic: bool,
}

impl Rule {
    pub fn key(&self, record: &[Option<String>]) -> Option<String> {
        let mut key = String::new();
        for (i, &c) in self.fields.iter().enumerate() {
            let value = record.get(c)?.as_deref()?;
            if i > 0 {
                key.push('\u{1f}');
            }
            if self.phonetic {
                key.push_str(&phonetic_key(value)?);
            } else {
                key.push_str(value);
            }
        }
        Some(key)
    }
}

/// Candidate pairs (a < b) from every rule, without repeats. Blocks larger than
/// `max_block` are skipped, and blocks are taken smallest first until `max_pairs` pairs
/// (counted with repeats) are reached, so the work stays bounded on any table.
/// `should_stop` is polled between rules and blocks.
pub fn candidate_pairs(
    records: &Records,
    rules: &[Rule],
    task: Task,
    max_block: usize,
    max_pairs: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<(u32, u32)>, Cancelled> {
    let mut blocks: Vec<Vec<u32>> = Vec::new();
    for rule in rules {
        if should_stop() {
            return Err(Cancelled);
        }
        let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
        for (r, record) in records.fields.iter().enumerate() {
            if let Some(key) = rule.key(record) {
                by_key.entry(key).or_default().push(r as u32);
            }
        }
        blocks.extend(by_key.into_values().filter(|m| m.len() >= 2 && m.len() <= max_block));
    }
    blocks.sort_by_key(Vec::len);
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut budget = max_pairs;
    // A cancel is honoured every ~million pairs generated, also inside one large block.
    const POLL_EVERY: usize = 1 << 20;
    let mut next_poll = POLL_EVERY;
    for members in &blocks {
        let size = members.len() * (members.len() - 1) / 2;
        if size > budget {
            break;
        }
        budget -= size;
        for (j, &a) in members.iter().enumerate() {
            if pairs.len() >= next_poll {
                if should_stop() {
                    return Err(Cancelled);
                }
                next_poll = pairs.len() + POLL_EVERY;
            }
            for &b in &members[j + 1..] {
                if task.allowed(a as usize, b as usize) {
                    pairs.push((a.min(b), a.max(b)));
                }
            }
        }
    }
    sorted_unique(pairs, 1 << 22, should_stop)
}

/// `pairs` sorted and without repeats (a pair found by several blocking rules). Up to a
/// `run` pairs (4M in use), one sort; beyond, runs are sorted on worker threads and merged,
/// so that a cancel is honoured within a run's sort (about half a second), not after
/// sorting hundreds of millions of pairs at once.
fn sorted_unique(mut pairs: Vec<(u32, u32)>, run: usize, should_stop: &dyn Fn() -> bool) -> Result<Vec<(u32, u32)>, Cancelled> {
    if pairs.len() <= run {
        pairs.sort_unstable();
        pairs.dedup();
        return Ok(pairs);
    }
    let mut runs: Vec<&mut [(u32, u32)]> = pairs.chunks_mut(run).collect();
    pool::run(&mut runs, 0, should_stop, &|slice, _| slice.sort_unstable())?;
    // k-way merge of the sorted runs, dropping repeats
    let runs: Vec<&[(u32, u32)]> = pairs.chunks(run).collect();
    let mut heads: std::collections::BinaryHeap<std::cmp::Reverse<((u32, u32), usize)>> =
        runs.iter().enumerate().map(|(r, slice)| std::cmp::Reverse((slice[0], r))).collect();
    let mut positions = vec![0usize; runs.len()];
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(pairs.len());
    while let Some(std::cmp::Reverse((pair, r))) = heads.pop() {
        if out.last() != Some(&pair) {
            out.push(pair);
            if out.len().is_multiple_of(1 << 20) && should_stop() {
                return Err(Cancelled);
            }
        }
        positions[r] += 1;
        if let Some(&next) = runs[r].get(positions[r]) {
            heads.push(std::cmp::Reverse((next, r)));
        }
    }
    Ok(out)
}

/// The levels of every field for each pair, row-major (pairs × fields), computed on
/// worker threads that never call Postgres; `should_stop` is polled on the calling
/// thread between chunks of 1,024 pairs (milliseconds of work each).
pub fn compare_pairs(records: &Records, identifiers: &[bool], pairs: &[(u32, u32)], should_stop: &dyn Fn() -> bool) -> Result<Vec<u8>, Cancelled> {
    let width = records.fields.first().map_or(0, Vec::len);
    let mut out = vec![MISSING; pairs.len() * width];
    if width == 0 {
        return Ok(out);
    }
    const CHUNK: usize = 1024;
    let mut chunks: Vec<_> = pairs.chunks(CHUNK).zip(out.chunks_mut(CHUNK * width)).collect();
    pool::run(&mut chunks, 0, should_stop, &|(chunk, chunk_out), _| {
        for (&(a, b), row) in chunk.iter().zip(chunk_out.chunks_mut(width)) {
            let (ra, rb) = (&records.fields[a as usize], &records.fields[b as usize]);
            for (c, cell) in row.iter_mut().enumerate() {
                *cell = field_level(ra[c].as_deref(), rb[c].as_deref(), identifiers[c]);
            }
        }
    })?;
    Ok(out)
}

/// Fellegi–Sunter parameters: per field and level, m = P(level | match) and
/// u = P(level | non-match); λ the share of matches among the candidate pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    pub m: Vec<[f64; LEVELS]>,
    pub u: Vec<[f64; LEVELS]>,
    pub lambda: f64,
    pub iterations: usize,
}

impl Parameters {
    /// log(m/u) per field and level (0 for a missing value).
    pub fn weights(&self) -> Vec<[f64; LEVELS]> {
        self.m
            .iter()
            .zip(&self.u)
            .map(|(m, u)| {
                let mut w = [0.0; LEVELS];
                for l in 1..LEVELS {
                    w[l] = (m[l] / u[l]).ln();
                }
                w
            })
            .collect()
    }

    /// Match probability of each pair from its levels.
    pub fn probabilities(&self, levels: &[u8], width: usize) -> Vec<f64> {
        let weights = self.weights();
        let prior = (self.lambda / (1.0 - self.lambda)).ln();
        levels
            .chunks(width.max(1))
            .map(|row| {
                let w: f64 = prior + row.iter().enumerate().map(|(c, &l)| weights[c][l as usize]).sum::<f64>();
                1.0 / (1.0 + (-w).exp())
            })
            .collect()
    }
}

/// How often the values of one field occur among the records, for the term-frequency
/// adjustment: two different people agree on a value v with probability tf(v)², one
/// person's two records with probability m·tf(v), so exact agreement on v is worth
/// `log m/tf(v)` rather than the field's average `log m/u` (Splink's adjustment). Only
/// values seen at least twice are kept (a stored matcher carries this table); any other
/// value counts as seen twice, the least two agreeing records can share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TermFrequencies {
    pub counts: HashMap<String, u32>,
    /// Records with a value in this field.
    pub present: u32,
}

impl TermFrequencies {
    pub fn of(records: &Records, field: usize) -> TermFrequencies {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut present = 0u32;
        for r in &records.fields {
            if let Some(v) = r.get(field).and_then(Option::as_deref) {
                present = present.saturating_add(1);
                *counts.entry(v.to_string()).or_default() += 1;
            }
        }
        counts.retain(|_, c| *c >= 2);
        TermFrequencies { counts, present }
    }

    /// One more record's value (a stored matcher's insert).
    pub fn add(&mut self, value: &str) {
        self.present = self.present.saturating_add(1);
        match self.counts.get_mut(value) {
            Some(c) => *c = c.saturating_add(1),
            // A value first seen now may have been seen once before (singletons are not
            // kept): count it as a pair's, as `share` does anyway.
            None => {
                self.counts.insert(value.to_string(), 2);
            }
        }
    }

    /// The share of records holding `value`: tf(v), at least two records' worth.
    pub fn share(&self, value: &str) -> f64 {
        let count = self.counts.get(value).copied().unwrap_or(2).max(2);
        (count as f64 / self.present.max(2) as f64).min(1.0)
    }
}

/// A pair's weight per field: log(m/u) of its level, and for exact agreement with term
/// frequencies `log(m/tf(v))`, no stronger than a value seen by 1 record in 10⁹ would make
/// it (a bound for tables with few records).
pub fn field_weight(weights: &[f64; LEVELS], m_exact: f64, level: u8, value: Option<&str>, tf: Option<&TermFrequencies>) -> f64 {
    match (level, value, tf) {
        (EXACT, Some(v), Some(tf)) if tf.present >= 2 => (m_exact / tf.share(v).max(1e-9)).ln(),
        _ => weights[level as usize],
    }
}

/// Match probability of each pair from its levels, weighing exact agreement by the
/// shared value's frequency (see `TermFrequencies`).
pub fn probabilities_with_frequencies(
    params: &Parameters,
    records: &Records,
    pairs: &[(u32, u32)],
    levels: &[u8],
    width: usize,
    tf: &[TermFrequencies],
) -> Vec<f64> {
    let weights = params.weights();
    let prior = (params.lambda / (1.0 - params.lambda)).ln();
    levels
        .chunks(width.max(1))
        .zip(pairs)
        .map(|(row, &(a, _))| {
            let record = &records.fields[a as usize];
            let w: f64 = prior
                + row.iter().enumerate().map(|(c, &l)| field_weight(&weights[c], params.m[c][EXACT as usize], l, record[c].as_deref(), tf.get(c))).sum::<f64>();
            1.0 / (1.0 + (-w).exp())
        })
        .collect()
}

/// `u` on random pairs (nearly all of them different people), smoothed so no level has
/// probability 0: where EM starts.
pub fn estimate_u(
    records: &Records,
    identifiers: &[bool],
    task: Task,
    sample: usize,
    seed: u64,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<[f64; LEVELS]>, Cancelled> {
    let width = records.fields.first().map_or(0, Vec::len);
    let n = records.len();
    let mut counts = vec![[1.0f64; LEVELS]; width];
    let mut rng = SplitMix64::new(seed);
    let mut taken = 0;
    let mut tries = 0;
    while taken < sample && tries < sample * 4 && n >= 2 {
        tries += 1;
        if tries % 16_384 == 0 && should_stop() {
            return Err(Cancelled);
        }
        let (a, b) = (rng.below_modulo(n), rng.below_modulo(n));
        if !task.allowed(a, b) {
            continue;
        }
        taken += 1;
        for (c, count) in counts.iter_mut().enumerate() {
            let l = field_level(records.fields[a][c].as_deref(), records.fields[b][c].as_deref(), identifiers[c]);
            count[l as usize] += 1.0;
        }
    }
    Ok(counts.iter().map(normalised_levels).collect())
}

/// Level counts → probabilities over the present levels (index 0, missing, stays 1).
fn normalised_levels(counts: &[f64; LEVELS]) -> [f64; LEVELS] {
    let total: f64 = counts[1..].iter().sum();
    let mut p = [1.0; LEVELS];
    for l in 1..LEVELS {
        p[l] = (counts[l] / total).max(1e-9);
    }
    p
}

/// Where EM starts m: matches mostly agree exactly or nearly.
const M_START: [f64; LEVELS] = [1.0, 0.05, 0.05, 0.1, 0.8];

/// m and the prior by expectation-maximisation over the candidate pairs, u held at its
/// random-pair value (unbiased; estimated on the candidates it is not: they agree on
/// their blocking field by construction). The first `HARD_ROUNDS` rounds are seeded on
/// exact agreement only: a pair counts as a match (posterior 1) when its weight, with
/// the similar levels counting for nothing, is positive; then soft EM refines m. The
/// prior starts at, and is capped by, `max_matches` matching pairs.
///
/// Measured and rejected on the demo's customers (different people sharing names,
/// countries and even e-mail addresses): u re-estimated on the candidates too
/// (recordlinkage's ECM) split them into "same signup date" and "same name"; EM per
/// blocking rule on the other fields (Splink's procedure) took "same name, same country"
/// for a match; soft EM from the start, u fixed, drifted to 531,232 "matches" for 2,491
/// true pairs. Identifier columns compared exactly (`identifier_fields`) were the other
/// half of the fix.
fn estimate_m(
    levels: &[u8],
    width: usize,
    u: &[[f64; LEVELS]],
    comparable_pairs: f64,
    max_matches: f64,
    max_iterations: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<Parameters, Cancelled> {
    let mut params = Parameters { m: vec![M_START; width], u: u.to_vec(), lambda: 0.0, iterations: 0 };
    if width == 0 || levels.is_empty() {
        params.lambda = (1.0 / comparable_pairs.max(1.0)).clamp(1e-12, 0.5);
        return Ok(params);
    }
    for iteration in 0..max_iterations {
        if should_stop() {
            return Err(Cancelled);
        }
        // The first rounds learn m from the pairs the model already calls matches (a
        // hard posterior): soft EM from the starting guess is pulled by the mass of
        // near-misses (see `max_matches`) into a state where fields the near-misses
        // disagree on look harmless; from m learnt on confident pairs it stays right.
        let hard = iteration < HARD_ROUNDS;
        let mut weights = params.weights();
        if hard {
            // The seed: pairs that agree *exactly* on enough. Near agreement counts for
            // nothing yet — on identifiers (e-mails built from names, phone numbers)
            // two different people are often one character apart.
            for w in &mut weights {
                w[SIMILAR as usize] = w[SIMILAR as usize].min(0.0);
                w[VERY_SIMILAR as usize] = w[VERY_SIMILAR as usize].min(0.0);
            }
        }
        params.lambda = estimate_prior(levels, width, &weights, comparable_pairs, max_matches, hard, should_stop)?;
        let prior = (params.lambda / (1.0 - params.lambda)).ln();
        let mut counts = vec![[1e-3f64; LEVELS]; width];
        for row in levels.chunks(width) {
            let total: f64 = prior + row.iter().enumerate().map(|(c, &l)| weights[c][l as usize]).sum::<f64>();
            let p = posterior(total, hard);
            for (c, &l) in row.iter().enumerate() {
                counts[c][l as usize] += p;
            }
        }
        let m: Vec<[f64; LEVELS]> = counts.iter().map(normalised_levels).collect();
        let change = m.iter().zip(&params.m).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f64::max);
        params.m = m;
        params.iterations = iteration + 1;
        if change < 1e-5 && !hard {
            break;
        }
    }
    params.lambda = estimate_prior(levels, width, &params.weights(), comparable_pairs, max_matches, false, should_stop)?;
    Ok(params)
}

/// The probability that two records drawn at random are a match, given m and u: the
/// expected number of matches among the candidates (the sum of their posteriors; pairs
/// no rule proposed are taken as non-matches) over every pair the task could compare,
/// iterated to its fixed point.
const HARD_ROUNDS: usize = 5;

/// A match weight's posterior, or with `hard` 1 for a match (weight ≥ 0) and 0 otherwise.
fn posterior(weight: f64, hard: bool) -> f64 {
    if hard {
        (weight >= 0.0) as u8 as f64
    } else {
        1.0 / (1.0 + (-weight).exp())
    }
}

/// `should_stop` is polled before each of its up to 100 passes over the pairs.
#[allow(clippy::too_many_arguments)]
fn estimate_prior(
    levels: &[u8],
    width: usize,
    weights: &[[f64; LEVELS]],
    comparable_pairs: f64,
    max_matches: f64,
    hard: bool,
    should_stop: &dyn Fn() -> bool,
) -> Result<f64, Cancelled> {
    let scores: Vec<f64> = levels.chunks(width.max(1)).map(|row| row.iter().enumerate().map(|(c, &l)| weights[c][l as usize]).sum()).collect();
    // From the most matches there can be, down to the fixed point.
    let mut prior = (max_matches / comparable_pairs.max(1.0)).clamp(1e-12, 0.5);
    for _ in 0..100 {
        if should_stop() {
            return Err(Cancelled);
        }
        let logit = (prior / (1.0 - prior)).ln();
        let expected: f64 = scores.iter().map(|w| posterior(logit + w, hard)).sum();
        let next = (expected.min(max_matches) / comparable_pairs.max(1.0)).clamp(1e-12, 0.5);
        if (next - prior).abs() <= 1e-6 * prior {
            return Ok(next);
        }
        prior = next;
    }
    Ok(prior)
}

/// Connected components of the records linked by `pairs`: the component of each
/// record, named by its first record (in input order).
pub fn clusters(n: usize, pairs: impl Iterator<Item = (u32, u32)>) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (a, b) in pairs {
        let (ra, rb) = (root(&mut parent, a as usize), root(&mut parent, b as usize));
        if ra != rb {
            // The smaller index becomes the root: the component's first record.
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    (0..n).map(|x| root(&mut parent, x)).collect()
}

/// What matching found.
pub struct Matched {
    /// Candidate pairs and their match probabilities.
    pub pairs: Vec<(u32, u32)>,
    pub probabilities: Vec<f64>,
    pub parameters: Parameters,
    /// What a stored matcher keeps to score new records the same way.
    pub identifiers: Vec<bool>,
    pub rules: Vec<Rule>,
    /// Per field, when `options.term_frequencies` (else empty).
    pub frequencies: Vec<TermFrequencies>,
}

/// Blocking, comparison and estimation: every candidate pair with its probability.
/// `should_stop` is polled on this thread throughout (comparisons run on worker
/// threads); when it answers true, matching ends with `Cancelled`.
pub fn match_records(records: &Records, task: Task, options: &MatchOptions, should_stop: &dyn Fn() -> bool) -> Result<Matched, Cancelled> {
    let width = records.fields.first().map_or(0, Vec::len);
    let rules = if options.blocking.is_empty() {
        auto_blocking(records)
    } else {
        options.blocking.iter().map(|fields| Rule { fields: fields.clone(), phonetic: false }).collect()
    };
    let pairs = candidate_pairs(records, &rules, task, options.max_block, options.max_pairs, should_stop)?;
    let identifiers = identifier_fields(records);
    let levels = compare_pairs(records, &identifiers, &pairs, should_stop)?;
    let u = estimate_u(records, &identifiers, task, options.u_sample, options.seed, should_stop)?;
    let n = records.len() as f64;
    // Every pair the task could compare, and at most how many of them can be matches:
    // twice the records (a table of duplicates has about one duplicate pair per record;
    // FEBRL's densest set 1.3). Without this bound, EM can settle on calling every pair
    // that shares a common name and a country a match — fields correlated among
    // different people, which the model takes as independent (measured on the demo's
    // customers: 531,232 "matches" for 2,491 true pairs).
    let (comparable, max_matches) = match task {
        Task::Dedupe => (n * (n - 1.0) / 2.0, 2.0 * n),
        Task::Link { left } => (left as f64 * (n - left as f64), 2.0 * (left as f64).max(n - left as f64)),
    };
    let parameters = estimate_m(&levels, width, &u, comparable, max_matches, options.max_em_iterations, should_stop)?;
    let frequencies: Vec<TermFrequencies> = if options.term_frequencies { (0..width).map(|c| TermFrequencies::of(records, c)).collect() } else { Vec::new() };
    let probabilities = if options.term_frequencies {
        probabilities_with_frequencies(&parameters, records, &pairs, &levels, width, &frequencies)
    } else {
        parameters.probabilities(&levels, width)
    };
    Ok(Matched { pairs, probabilities, parameters, identifiers, rules, frequencies })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    /// The FEBRL protocol's pairwise counts over every pair of records: (true positives,
    /// false positives, false negatives, precision, recall) of "same cluster" against
    /// "same truth".
    fn pairwise<T: PartialEq>(truth: &[T], cluster: &[usize]) -> (u64, u64, u64, f64, f64) {
        let (mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64);
        for a in 0..truth.len() {
            for b in a + 1..truth.len() {
                match (truth[a] == truth[b], cluster[a] == cluster[b]) {
                    (true, true) => tp += 1,
                    (false, true) => fp += 1,
                    (true, false) => fneg += 1,
                    _ => {}
                }
            }
        }
        (tp, fp, fneg, tp as f64 / (tp + fp).max(1) as f64, tp as f64 / (tp + fneg).max(1) as f64)
    }

    fn record(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| normalise(v)).collect()
    }

    #[test]
    fn pairs_sorted_in_runs_equal_one_sort_and_stop_on_cancel() {
        let mut rng = crate::rng::SplitMix64::new(5);
        let pairs: Vec<(u32, u32)> = (0..5000).map(|_| (rng.below(60) as u32, rng.below(60) as u32)).collect();
        let mut expected = pairs.clone();
        expected.sort_unstable();
        expected.dedup();
        for run in [7, 100, 4999, 5000, 1 << 22] {
            assert_eq!(sorted_unique(pairs.clone(), run, &|| false).unwrap(), expected, "runs of {run}");
        }
        assert_eq!(sorted_unique(pairs, 7, &|| true), Err(Cancelled));
    }

    #[test]
    fn normalises_case_punctuation_and_space() {
        assert_eq!(normalise(" O'Brien-Smith  "), Some("o brien smith".into()));
        assert_eq!(normalise("ＡＢＣ１２"), Some("abc12".into()));
        assert_eq!(normalise(" - "), None);
    }

    #[test]
    fn levels_order_by_closeness() {
        assert_eq!(level(Some("smith"), Some("smith")), EXACT);
        assert_eq!(level(Some("smith"), Some("smiht")), VERY_SIMILAR);
        assert_eq!(level(Some("smith"), Some("smithers")), SIMILAR);
        assert_eq!(level(Some("smith"), Some("jones")), DIFFERENT);
        assert_eq!(level(None, Some("jones")), MISSING);
    }

    #[test]
    fn clusters_are_connected_components_named_by_first_record() {
        let c = clusters(6, [(4, 5), (1, 4), (2, 3)].into_iter());
        assert_eq!(c, vec![0, 1, 2, 2, 1, 1]);
    }

    #[test]
    fn link_compares_only_across_sources() {
        let records = Records { fields: vec![record(&["ann", "1"]), record(&["ann", "2"]), record(&["ann", "1"])] };
        let rules = vec![Rule { fields: vec![0], phonetic: false }];
        assert_eq!(candidate_pairs(&records, &rules, Task::Link { left: 2 }, 10, 100, &never).unwrap(), vec![(0, 2), (1, 2)]);
        assert_eq!(candidate_pairs(&records, &rules, Task::Dedupe, 10, 100, &never).unwrap().len(), 3);
        assert!(candidate_pairs(&records, &rules, Task::Dedupe, 2, 100, &never).unwrap().is_empty(), "a block over max_block is skipped");
        assert!(candidate_pairs(&records, &rules, Task::Dedupe, 10, 2, &never).unwrap().is_empty(), "a block over the pair budget is skipped");
    }

    /// People with typo'd duplicates: the unsupervised model must find the duplicates
    /// and not join different people who share a surname or a town.
    #[test]
    fn finds_typo_duplicates_among_similar_people() {
        let firsts = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth"];
        let lasts = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis"];
        let towns = ["springfield", "riverside", "franklin", "greenville", "bristol"];
        let mut rng = SplitMix64::new(5);
        let mut fields = Vec::new();
        let mut truth = Vec::new();
        for person in 0..400 {
            let first = firsts[rng.below_modulo(firsts.len())];
            let last = lasts[rng.below_modulo(lasts.len())];
            let town = towns[rng.below_modulo(towns.len())];
            let dob = format!("19{:02}{:02}{:02}", 40 + rng.below_modulo(60), 1 + rng.below_modulo(12), 1 + rng.below_modulo(28));
            let phone = format!("{:07}", rng.below_modulo(10_000_000));
            fields.push(record(&[first, last, town, &dob, &phone]));
            truth.push(person);
            if person % 3 == 0 {
                // a duplicate with a typo in the surname and a missing phone
                let typo: String = last.chars().rev().collect::<String>().chars().rev().enumerate().map(|(i, c)| if i == 1 { 'x' } else { c }).collect();
                fields.push(vec![normalise(first), normalise(&typo), normalise(town), normalise(&dob), None]);
                truth.push(person);
            }
        }
        let records = Records { fields };
        let matched = match_records(&records, Task::Dedupe, &MatchOptions::default(), &never).unwrap();
        let linked = matched.pairs.iter().zip(&matched.probabilities).filter(|(_, &p)| p >= 0.5).map(|(&pair, _)| pair);
        let cluster = clusters(records.len(), linked);
        let (tp, fp, fneg, precision, recall) = pairwise(&truth, &cluster);
        assert!(precision > 0.95 && recall > 0.95, "precision {precision}, recall {recall}, tp {tp} fp {fp} fn {fneg}, {:?}", matched.parameters);
    }

    #[test]
    fn a_cancel_stops_pair_comparison_between_chunks() {
        let mut rng = SplitMix64::new(9);
        let fields: Vec<Vec<Option<String>>> = (0..500)
            .map(|_| record(&[&format!("name{}", rng.below_modulo(50)), &format!("town{}", rng.below_modulo(20)), &rng.next_u64().to_string()]))
            .collect();
        let records = Records { fields };
        let pairs: Vec<(u32, u32)> = (0..500u32).flat_map(|a| (a + 1..500).map(move |b| (a, b))).collect();
        let identifiers = identifier_fields(&records);
        let whole = compare_pairs(&records, &identifiers, &pairs, &never).unwrap();
        assert_eq!(whole.len(), pairs.len() * 3);
        assert_eq!(compare_pairs(&records, &identifiers, &pairs, &|| true), Err(Cancelled));
        let polls = std::cell::Cell::new(0usize);
        let later = || {
            polls.set(polls.get() + 1);
            polls.get() > 10
        };
        // 124,750 pairs are 122 chunks: the cancel at the 11th poll leaves most of them.
        assert_eq!(compare_pairs(&records, &identifiers, &pairs, &later), Err(Cancelled));
        assert_eq!(polls.get(), 11, "no poll after the one that cancelled");
        assert!(match_records(&records, Task::Dedupe, &MatchOptions::default(), &|| true).is_err());
    }

    /// The FEBRL protocol (../shared/datasets/README.md) on the three datasets, when they
    /// are there: `cargo test --release --lib febrl -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn febrl_protocol() {
        for i in 1..=3 {
            let Some(path) = crate::shared_dataset(&format!("febrl/dataset{i}.csv")) else { continue };
            let text = std::fs::read_to_string(&path).unwrap();
            let mut ids = Vec::new();
            let mut fields = Vec::new();
            for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                let cells: Vec<&str> = line.split(',').map(str::trim).collect();
                ids.push(cells[0].split('-').nth(1).unwrap_or_default().to_string());
                fields.push(cells[1..].iter().map(|v| normalise(v)).collect::<Vec<_>>());
            }
            let records = Records { fields };
            for term_frequencies in [false, true] {
                let started = std::time::Instant::now();
                let matched = match_records(&records, Task::Dedupe, &MatchOptions { term_frequencies, ..MatchOptions::default() }, &never).unwrap();
                let linked = matched.pairs.iter().zip(&matched.probabilities).filter(|(_, &p)| p >= 0.5).map(|(&pair, _)| pair);
                let cluster = clusters(records.len(), linked);
                let secs = started.elapsed().as_secs_f64();
                let (tp, _, fneg, precision, recall) = pairwise(&ids, &cluster);
                let true_candidates = matched.pairs.iter().filter(|&&(a, b)| ids[a as usize] == ids[b as usize]).count();
                eprintln!(
                "dataset{i} (term frequencies {term_frequencies}): {} records, {} candidate pairs ({true_candidates} true of {} true pairs), precision {precision:.4} recall {recall:.4} F1 {:.4}, {secs:.2}s, lambda {:.4}, {} EM iterations",
                records.len(),
                matched.pairs.len(),
                tp + fneg,
                2.0 * precision * recall / (precision + recall).max(1e-12),
                matched.parameters.lambda,
                matched.parameters.iterations
            );
            }
        }
    }
}
