//! Terms to TF-IDF rows: a vocabulary chosen by document frequency (or feature hashing),
//! sublinear term frequency `1 + ln tf`, scikit-learn's smooth idf
//! `ln((1 + n) / (1 + df)) + 1`, and rows scaled to unit L2 norm (words and character
//! n-grams each to half of it, see `block_scales`).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::tokenize::{Segmenter, Tokenizer, CHAR_NGRAM_MARK};
use crate::error::{CrmError, Result};
use crate::pool;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VectorizerOptions {
    /// A term is kept when it occurs in at least this many texts: rarer ones are mostly
    /// typos and names, which a model would only memorise.
    pub min_df: u32,
    /// At most this many terms, the ones in the most texts.
    pub max_features: usize,
    /// Feature hashing into 2^bits columns instead of a vocabulary: fixed memory whatever
    /// the data, but no term table, so terms are named by column in `top_terms`.
    pub hash_bits: Option<u8>,
}

impl Default for VectorizerOptions {
    fn default() -> Self {
        VectorizerOptions { min_df: 2, max_features: 200_000, hash_bits: None }
    }
}

/// Counting document frequencies holds at most this many distinct terms per kept
/// feature (and at least `MIN_COUNTING_TERMS`); past it the rarest are dropped.
const COUNTING_TERMS_PER_FEATURE: usize = 5;
const MIN_COUNTING_TERMS: usize = 200_000;
/// Texts between two polls of `should_stop` while counting.
const POLL_EVERY: usize = 256;
/// Texts per task when rows are made on several threads.
const ROWS_PER_TASK: usize = 512;
/// Texts per task when terms are counted on several threads: each task's distinct terms
/// are merged into the counts on the caller's thread, and larger tasks have fewer of them
/// in all (common terms recur in every task).
const COUNT_TEXTS_PER_TASK: usize = 2048;
/// Tasks counted before their counts are merged: the memory of unmerged counts stays
/// that of a few tasks whatever the number of texts.
const COUNT_TASKS_PER_WAVE: usize = 8;
/// The key of a counted term that is not in the vocabulary (`KeptTerms::key_of`).
const NOT_KEPT: u64 = u64::MAX;

/// One text's TF-IDF row: column indices in increasing order and their values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseRow {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// Rows in compressed sparse row form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseMatrix {
    pub n_cols: usize,
    /// Row i's entries are `indptr[i]..indptr[i + 1]`.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseMatrix {
    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    pub fn from_rows(n_cols: usize, rows: impl IntoIterator<Item = SparseRow>) -> SparseMatrix {
        let mut m = SparseMatrix { n_cols, indptr: vec![0], ..SparseMatrix::default() };
        for row in rows {
            m.indices.extend_from_slice(&row.indices);
            m.values.extend_from_slice(&row.values);
            m.indptr.push(m.indices.len());
        }
        m
    }
}

/// A fitted vectoriser: the tokeniser, the vocabulary and each term's idf.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vectorizer {
    tokenizer: Tokenizer,
    /// Column j's term; empty when hashing.
    terms: Vec<String>,
    idf: Vec<f32>,
    hash_bits: Option<u8>,
    /// Term to column, built from `terms` on first use (it is not stored: the terms are).
    #[serde(skip)]
    index: OnceLock<TermIndex>,
    /// Non-zero entries the fitted texts' rows will have (the kept terms' document
    /// frequencies added up); 0 once deserialised.
    #[serde(skip)]
    fitted_nonzeros: u64,
}

#[derive(Clone, Copy)]
struct DocFrequency {
    df: u32,
    /// The last text that counted for `df`, so a term repeated in a text counts once.
    last_doc: u32,
}

/// The terms of the texts a vectoriser was fitted on, kept by `fit_keeping_terms` so that
/// `transform_fitted` makes their rows without tokenising them again (tokenising is most
/// of the time of vectorising).
pub struct FittedTerms(Option<KeptTerms>);

struct KeptTerms {
    /// Every text's terms, one counting id per occurrence, text after text.
    ids: Vec<u32>,
    /// Text i's ids are `ids[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
    /// Counting id to the key `row_of_keys` sorts (column << 1 | block), `NOT_KEPT` for a
    /// term outside the vocabulary.
    key_of: Vec<u64>,
}

/// (term, document frequency, counting id) of a counted term; the id is `u32::MAX` when
/// the texts' terms were not kept.
type CountedTerm = (Box<str>, u32, u32);

/// Document frequencies of every distinct term, by counting id.
#[derive(Default)]
struct TermCounts {
    ids: FxHashMap<Box<str>, u32>,
    df: Vec<u32>,
}

/// One counting task's terms: its distinct terms with local ids, their document
/// frequencies in the task's texts, and each text's terms when they are kept.
#[derive(Default)]
struct TaskCounts {
    counts: TermCounts,
    last_doc: Vec<u32>,
    ids: Vec<u32>,
    ends: Vec<usize>,
}

impl Vectorizer {
    /// Chooses the vocabulary of `texts` and its idf.
    pub fn fit(texts: &[&str], tokenizer: &Tokenizer, options: &VectorizerOptions, should_stop: &dyn Fn() -> bool) -> Result<Vectorizer> {
        Ok(Vectorizer::fit_keeping_terms(texts, tokenizer, options, 0, should_stop)?.0)
    }

    /// As `fit`, and keeps the texts' terms for `transform_fitted` while they take at most
    /// `keep_bytes` (4 bytes an occurrence of a term); past that, or when hashing, nothing
    /// is kept and `transform_fitted` tokenises the texts again.
    pub fn fit_keeping_terms(
        texts: &[&str],
        tokenizer: &Tokenizer,
        options: &VectorizerOptions,
        keep_bytes: usize,
        should_stop: &dyn Fn() -> bool,
    ) -> Result<(Vectorizer, FittedTerms)> {
        if let Some(problem) = tokenizer.check() {
            return Err(CrmError::InvalidArgument(problem));
        }
        if texts.len() >= u32::MAX as usize {
            return Err(CrmError::InvalidArgument(format!("at most {} texts can be vectorised", u32::MAX - 1)));
        }
        let n = texts.len() as f64;
        let smooth_idf = |df: u32| ((1.0 + n) / (1.0 + f64::from(df))).ln() as f32 + 1.0;
        if let Some(bits) = options.hash_bits {
            if !(1..=24).contains(&bits) {
                return Err(CrmError::bad_argument("hash_bits", bits, "1..24"));
            }
            let mask = (1u64 << bits) - 1;
            let mut df = vec![DocFrequency { df: 0, last_doc: u32::MAX }; 1 << bits];
            for (doc, text) in texts.iter().enumerate() {
                if doc % POLL_EVERY == 0 && should_stop() {
                    return Err(canceled());
                }
                tokenizer.for_each_term(text, |term| {
                    let entry = &mut df[(fnv1a(term) & mask) as usize];
                    if entry.last_doc != doc as u32 {
                        entry.last_doc = doc as u32;
                        entry.df += 1;
                    }
                });
            }
            let idf = df.iter().map(|e| if e.df >= options.min_df.max(1) { smooth_idf(e.df) } else { 0.0 }).collect();
            let fitted_nonzeros = df.iter().filter(|e| e.df >= options.min_df.max(1)).map(|e| u64::from(e.df)).sum();
            let vectorizer =
                Vectorizer { tokenizer: tokenizer.clone(), terms: Vec::new(), idf, hash_bits: Some(bits), index: OnceLock::new(), fitted_nonzeros };
            return Ok((vectorizer, FittedTerms(None)));
        }
        if options.max_features == 0 {
            return Err(CrmError::bad_argument("max_features", 0, "a positive number"));
        }
        let limit = options.max_features.saturating_mul(COUNTING_TERMS_PER_FEATURE).max(MIN_COUNTING_TERMS);
        let (candidates, kept): (Vec<CountedTerm>, Option<KeptTerms>) =
            match count_on_pool(texts, tokenizer, limit, keep_bytes / std::mem::size_of::<u32>(), should_stop)? {
                Some((counts, kept)) => (counts.ids.into_iter().map(|(term, id)| (term, counts.df[id as usize], id)).collect(), kept),
                None => (count_pruning(texts, tokenizer, limit, should_stop)?.into_iter().map(|(term, e)| (term, e.df, u32::MAX)).collect(), None),
            };
        let mut kept_terms: Vec<CountedTerm> = candidates.into_iter().filter(|(_, df, _)| *df >= options.min_df).collect();
        if kept_terms.len() > options.max_features {
            // The most frequent; ties by term so the choice does not depend on hashing order.
            kept_terms.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            kept_terms.truncate(options.max_features);
        }
        kept_terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let idf = kept_terms.iter().map(|(_, df, _)| smooth_idf(*df)).collect();
        let fitted_nonzeros = kept_terms.iter().map(|(_, df, _)| u64::from(*df)).sum();
        let kept = kept.map(|mut kept| {
            for (column, (term, _, id)) in kept_terms.iter().enumerate() {
                kept.key_of[*id as usize] = (column as u64) << 1 | u64::from(term.starts_with(CHAR_NGRAM_MARK));
            }
            kept
        });
        let terms = kept_terms.into_iter().map(|(t, _, _)| t.into_string()).collect();
        let vectorizer = Vectorizer { tokenizer: tokenizer.clone(), terms, idf, hash_bits: None, index: OnceLock::new(), fitted_nonzeros };
        Ok((vectorizer, FittedTerms(kept)))
    }
}

/// Document frequencies counted on the pool's threads: tasks of consecutive texts count
/// their own terms, merged in task order a wave of tasks at a time; with every text's
/// terms as counting ids (`KeptTerms::key_of` all `NOT_KEPT`) while there are at most
/// `keep_occurrences` of them. None when there are more than `limit` distinct terms:
/// counted one text after the other, they would have been pruned (`count_pruning`).
/// Otherwise the frequencies are exact, and the same as `count_pruning`'s, which never
/// prunes when the distinct terms of all the texts are within the limit.
fn count_on_pool(
    texts: &[&str],
    tokenizer: &Tokenizer,
    limit: usize,
    keep_occurrences: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<Option<(TermCounts, Option<KeptTerms>)>> {
    let mut counts = TermCounts::default();
    let mut kept = (keep_occurrences > 0).then(|| KeptTerms { ids: Vec::new(), ends: Vec::with_capacity(texts.len()), key_of: Vec::new() });
    for wave in texts.chunks(COUNT_TEXTS_PER_TASK * COUNT_TASKS_PER_WAVE) {
        let keep = kept.is_some();
        let tasks = pool::map_ranges(wave.len(), COUNT_TEXTS_PER_TASK, 0, should_stop, |range, checkpoint| {
            let mut task = TaskCounts::default();
            for (doc, text) in wave[range].iter().enumerate() {
                if doc % POLL_EVERY == 0 && checkpoint.stop() {
                    break;
                }
                let doc = doc as u32;
                tokenizer.for_each_term(text, |term| {
                    let id = match task.counts.ids.get(term) {
                        Some(&id) => id,
                        None => {
                            let id = task.counts.df.len() as u32;
                            task.counts.ids.insert(term.into(), id);
                            task.counts.df.push(0);
                            task.last_doc.push(u32::MAX);
                            id
                        }
                    };
                    if task.last_doc[id as usize] != doc {
                        task.last_doc[id as usize] = doc;
                        task.counts.df[id as usize] += 1;
                    }
                    if keep {
                        task.ids.push(id);
                    }
                });
                if keep {
                    task.ends.push(task.ids.len());
                }
            }
            task
        })?;
        for task in tasks {
            // The task's ids to the counts' ids; a new term is moved in, not copied.
            let mut merged_id = vec![0u32; task.counts.df.len()];
            for (term, id) in task.counts.ids {
                let next = counts.df.len() as u32;
                let merged = *counts.ids.entry(term).or_insert(next);
                if merged == next {
                    counts.df.push(0);
                }
                counts.df[merged as usize] += task.counts.df[id as usize];
                merged_id[id as usize] = merged;
            }
            if counts.ids.len() > limit {
                return Ok(None);
            }
            if kept.as_ref().is_some_and(|k| k.ids.len() + task.ids.len() > keep_occurrences) {
                kept = None;
            }
            if let Some(kept) = kept.as_mut() {
                let offset = kept.ids.len();
                kept.ids.extend(task.ids.iter().map(|&id| merged_id[id as usize]));
                kept.ends.extend(task.ends.iter().map(|&end| offset + end));
            }
        }
    }
    if let Some(kept) = kept.as_mut() {
        kept.key_of = vec![NOT_KEPT; counts.df.len()];
    }
    Ok(Some((counts, kept)))
}

/// Document frequencies counted one text after the other, the rarest terms pruned each
/// time there are more than `limit` distinct terms (see `prune_rarest`).
fn count_pruning(texts: &[&str], tokenizer: &Tokenizer, limit: usize, should_stop: &dyn Fn() -> bool) -> Result<FxHashMap<Box<str>, DocFrequency>> {
    let mut counts: FxHashMap<Box<str>, DocFrequency> = FxHashMap::default();
    for (doc, text) in texts.iter().enumerate() {
        if doc % POLL_EVERY == 0 && should_stop() {
            return Err(canceled());
        }
        let doc = doc as u32;
        tokenizer.for_each_term(text, |term| match counts.get_mut(term) {
            Some(entry) => {
                if entry.last_doc != doc {
                    entry.last_doc = doc;
                    entry.df += 1;
                }
            }
            None => {
                counts.insert(term.into(), DocFrequency { df: 1, last_doc: doc });
            }
        });
        if counts.len() > limit {
            prune_rarest(&mut counts, limit / 2);
        }
    }
    Ok(counts)
}

impl Vectorizer {
    /// Non-zero entries of the fitted texts' rows (a bound when hashing, where two terms
    /// of a text may share a column), known before they are made; 0 once deserialised.
    pub fn fitted_nonzeros(&self) -> u64 {
        self.fitted_nonzeros
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Sets the tokeniser's segmenter, which the vectoriser's own bytes do not hold (see
    /// `Tokenizer::segmenter`).
    pub fn set_segmenter(&mut self, segmenter: Segmenter) {
        self.tokenizer.segmenter = segmenter;
    }

    /// Why a stored vectoriser cannot be used, if it cannot: a column count that disagrees
    /// with its terms or hash width, idf values that are not finite, a bad tokenizer.
    pub fn check(&self) -> std::result::Result<(), String> {
        let columns = match self.hash_bits {
            Some(bits) if (1..=24).contains(&bits) => 1usize << bits,
            Some(bits) => return Err(format!("hash width {bits} bits is outside 1..24")),
            None => self.terms.len(),
        };
        if self.idf.len() != columns {
            return Err(format!("{} idf values for {columns} columns", self.idf.len()));
        }
        if !self.idf.iter().all(|v| v.is_finite()) {
            return Err("an idf value is not a finite number".into());
        }
        if let Some(problem) = self.tokenizer.check() {
            return Err(problem);
        }
        Ok(())
    }

    /// Columns of a row: the vocabulary's size, or 2^bits when hashing.
    pub fn n_features(&self) -> usize {
        self.idf.len()
    }

    /// Terms in the vocabulary (0 when hashing).
    pub fn vocabulary_len(&self) -> usize {
        self.terms.len()
    }

    /// Column j's term; `#j` when hashing (a column stands for any term hashed to it).
    pub fn term(&self, column: u32) -> String {
        match self.terms.get(column as usize) {
            Some(term) => term.clone(),
            None => format!("#{column}"),
        }
    }

    pub fn is_hashing(&self) -> bool {
        self.hash_bits.is_some()
    }

    pub fn idf(&self, column: u32) -> f32 {
        self.idf.get(column as usize).copied().unwrap_or(0.0)
    }

    fn index(&self) -> &TermIndex {
        self.index.get_or_init(|| TermIndex::new(&self.terms))
    }

    /// The column of `term`, if the vectoriser has one for it.
    pub fn column(&self, term: &str) -> Option<u32> {
        match self.hash_bits {
            Some(bits) => {
                let column = (fnv1a(term) & ((1u64 << bits) - 1)) as u32;
                (self.idf[column as usize] > 0.0).then_some(column)
            }
            None => self.index().get(term),
        }
    }

    /// The text's TF-IDF row.
    pub fn transform(&self, text: &str) -> SparseRow {
        // (column << 1 | block): block 1 for character n-grams, 0 for the rest.
        let mut keys: Vec<u64> = Vec::new();
        self.tokenizer.for_each_term(text, |term| {
            if let Some(j) = self.column(term) {
                keys.push(u64::from(j) << 1 | u64::from(term.starts_with(CHAR_NGRAM_MARK)));
            }
        });
        self.row_of_keys(&mut keys)
    }

    /// The row, and for each of its entries the words of the text it stands for with their
    /// shares: a word or word n-gram stands for itself; a character n-gram for the words
    /// it was taken from, in proportion to its occurrences in each. When hashing, a
    /// column's first term in the text names it.
    pub fn transform_explained(&self, text: &str) -> (SparseRow, Vec<Vec<(String, f64)>>) {
        // Per column: (name, occurrences) pairs.
        let mut sources: FxHashMap<u32, Vec<(String, u32)>> = FxHashMap::default();
        self.tokenizer.for_each_term_with_source(text, |term, word| {
            if let Some(j) = self.column(term) {
                let name = word.unwrap_or(term);
                let entry = sources.entry(j).or_default();
                match entry.iter_mut().find(|(n, _)| n == name) {
                    Some((_, count)) => *count += 1,
                    None => entry.push((name.to_string(), 1)),
                }
            }
        });
        let row = self.transform(text);
        let shares = row
            .indices
            .iter()
            .map(|j| {
                let named = sources.remove(j).unwrap_or_default();
                let total: u32 = named.iter().map(|(_, c)| c).sum();
                named.into_iter().map(|(n, c)| (n, f64::from(c) / f64::from(total.max(1)))).collect()
            })
            .collect();
        (row, shares)
    }

    /// Whether column j holds character n-grams (never, when hashing: unknown).
    pub fn is_char_ngram(&self, column: u32) -> bool {
        self.terms.get(column as usize).is_some_and(|t| t.starts_with(CHAR_NGRAM_MARK))
    }

    /// The row of a text whose terms have the keys `keys` (column << 1 | block), one per
    /// occurrence, in any order.
    fn row_of_keys(&self, keys: &mut [u64]) -> SparseRow {
        keys.sort_unstable();
        let mut entries: Vec<(u64, f64)> = Vec::new();
        let mut squares = [0.0f64; 2];
        let mut at = 0;
        while at < keys.len() {
            let key = keys[at];
            let run = keys[at..].iter().take_while(|&&c| c == key).count();
            let value = (1.0 + (run as f64).ln()) * f64::from(self.idf[(key >> 1) as usize]);
            squares[(key & 1) as usize] += value * value;
            entries.push((key, value));
            at += run;
        }
        let scale = block_scales(squares);
        let mut row = SparseRow::default();
        for (key, value) in entries {
            let (j, v) = ((key >> 1) as u32, value * scale[(key & 1) as usize]);
            // A hashed column may hold terms of both blocks: their values add up.
            if row.indices.last() == Some(&j) {
                if let Some(last) = row.values.last_mut() {
                    *last += v as f32;
                }
            } else {
                row.indices.push(j);
                row.values.push(v as f32);
            }
        }
        row
    }

    /// The rows of the texts this vectoriser was fitted on, `fitted` their terms from
    /// `fit_keeping_terms`; the same as `transform_all`.
    pub fn transform_fitted(&self, texts: &[&str], fitted: FittedTerms, should_stop: &dyn Fn() -> bool) -> Result<SparseMatrix> {
        let Some(kept) = fitted.0.filter(|kept| kept.ends.len() == texts.len()) else {
            return self.transform_all(texts, should_stop);
        };
        let chunks = pool::map_ranges(texts.len(), ROWS_PER_TASK, 0, should_stop, |range, _| {
            let mut keys: Vec<u64> = Vec::new();
            range
                .map(|i| {
                    let from = if i == 0 { 0 } else { kept.ends[i - 1] };
                    keys.clear();
                    keys.extend(kept.ids[from..kept.ends[i]].iter().map(|&id| kept.key_of[id as usize]).filter(|&key| key != NOT_KEPT));
                    self.row_of_keys(&mut keys)
                })
                .collect::<Vec<_>>()
        })?;
        Ok(SparseMatrix::from_rows(self.n_features(), chunks.into_iter().flatten()))
    }

    /// The rows of many texts, on the pool's threads; in text order.
    pub fn transform_all(&self, texts: &[&str], should_stop: &dyn Fn() -> bool) -> Result<SparseMatrix> {
        // Build the index once on this thread rather than racing to build it on each.
        let _ = self.index();
        let chunks = pool::map_ranges(texts.len(), ROWS_PER_TASK, 0, should_stop, |range, _| range.map(|i| self.transform(texts[i])).collect::<Vec<_>>())?;
        Ok(SparseMatrix::from_rows(self.n_features(), chunks.into_iter().flatten()))
    }
}

/// Multipliers of the word block and the character n-gram block, given the sums of
/// their squared values: each block gets unit norm, then the row does, so words and
/// character n-grams weigh the same whatever their numbers (a word gives one word term
/// but a dozen n-grams, which would otherwise drown the words). scikit-learn gets the
/// same from a FeatureUnion of two normalised vectorisers.
fn block_scales(squares: [f64; 2]) -> [f64; 2] {
    let inverse_norm = |s: f64| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 };
    let share = if squares[0] > 0.0 && squares[1] > 0.0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
    [inverse_norm(squares[0]) * share, inverse_norm(squares[1]) * share]
}

fn canceled() -> CrmError {
    CrmError::Canceled("text vectorising was cancelled".into())
}

/// Keeps at most about `target` terms, the ones in the most texts so far. Terms first
/// seen after a prune may then be undercounted: the price of bounded memory, paid only by
/// rare terms, which the vocabulary would not keep anyway.
fn prune_rarest(counts: &mut FxHashMap<Box<str>, DocFrequency>, target: usize) {
    let mut by_df: Vec<usize> = Vec::new();
    for e in counts.values() {
        let df = e.df as usize;
        if by_df.len() <= df {
            by_df.resize(df + 1, 0);
        }
        by_df[df] += 1;
    }
    // The smallest threshold that leaves at most `target` terms with a larger df.
    let mut above = counts.len();
    let mut threshold = 0;
    while above > target && threshold + 1 < by_df.len() {
        threshold += 1;
        above -= by_df[threshold];
    }
    counts.retain(|_, e| e.df as usize > threshold);
}

/// FNV-1a, 64 bits: the hashing vectoriser's columns must stay the same in every release
/// (a library hasher may change its output between versions).
/// Term to column. Looking terms up is most of the time of labelling a text (a tweet has
/// a hundred or more terms with its character n-grams, most of them misses), and a map
/// keyed by the strings spends it comparing keys scattered over the heap; keyed by each
/// term's 64-bit hash, the map is one compact table and a probe compares one integer. Two
/// vocabulary terms with the same hash (checked when the index is built, about 10⁻⁹ for
/// 200,000 terms) make it fall back to the strings; a term outside the vocabulary shares a
/// term's hash about once in 10¹⁴ lookups and then takes that term's column.
#[derive(Clone, Debug)]
enum TermIndex {
    ByHash(FxHashMap<u64, u32>),
    ByTerm(FxHashMap<Box<str>, u32>),
}

impl TermIndex {
    fn new(terms: &[String]) -> TermIndex {
        let mut by_hash = FxHashMap::with_capacity_and_hasher(terms.len(), Default::default());
        for (j, t) in terms.iter().enumerate() {
            if by_hash.insert(index_hash(t), j as u32).is_some() {
                return TermIndex::ByTerm(terms.iter().enumerate().map(|(j, t)| (Box::from(t.as_str()), j as u32)).collect());
            }
        }
        TermIndex::ByHash(by_hash)
    }

    fn get(&self, term: &str) -> Option<u32> {
        match self {
            TermIndex::ByHash(map) => map.get(&index_hash(term)).copied(),
            TermIndex::ByTerm(map) => map.get(term).copied(),
        }
    }
}

/// The index's hash of a term: rustc-hash's string hash (eight bytes a step; FNV-1a's byte
/// a step was a tenth of labelling time). Never stored, so free to change: `fnv1a` is
/// the stored models' hash for feature hashing.
fn index_hash(term: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(term.as_bytes());
    hasher.finish()
}

/// FNV-1a, 64 bits: the hash stored data depends on (feature hashing, a matcher's block keys),
/// fixed forever, unlike a hash map's.
pub(crate) fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    fn unigrams() -> Tokenizer {
        Tokenizer { word_ngrams: (1, 1), char_ngrams: None, punctuation: false, ..Tokenizer::default() }
    }

    #[test]
    fn vocabulary_keeps_terms_in_min_df_texts_and_idf_is_sklearns() {
        let texts = ["apple banana", "apple cherry", "apple banana banana", "durian"];
        let v = Vectorizer::fit(&texts, &unigrams(), &VectorizerOptions::default(), &never).unwrap();
        assert_eq!(v.terms, ["apple", "banana"]);
        assert_eq!(v.fitted_nonzeros(), 3 + 2);
        let idf_apple = (5.0f64 / 4.0).ln() + 1.0;
        let idf_banana = (5.0f64 / 3.0).ln() + 1.0;
        assert!((f64::from(v.idf[0]) - idf_apple).abs() < 1e-6);
        assert!((f64::from(v.idf[1]) - idf_banana).abs() < 1e-6);
        // Sublinear tf then L2: banana twice weighs (1 + ln 2)·idf.
        let row = v.transform("apple banana banana cherry");
        assert_eq!(row.indices, [0, 1]);
        let (a, b) = (idf_apple, (1.0 + 2f64.ln()) * idf_banana);
        let norm = (a * a + b * b).sqrt();
        assert!((f64::from(row.values[0]) - a / norm).abs() < 1e-6);
        assert!((f64::from(row.values[1]) - b / norm).abs() < 1e-6);
        assert_eq!(v.transform("nothing known"), SparseRow::default());
    }

    #[test]
    fn words_and_character_ngrams_weigh_half_each() {
        let tokenizer = Tokenizer { word_ngrams: (1, 1), char_ngrams: Some((3, 3)), punctuation: false, ..Tokenizer::default() };
        let texts = ["abc de", "abc fg", "xyz"];
        let options = VectorizerOptions { min_df: 1, ..VectorizerOptions::default() };
        let v = Vectorizer::fit(&texts, &tokenizer, &options, &never).unwrap();
        let row = v.transform("abc de abc");
        let squares = |chars: bool| -> f64 {
            row.indices.iter().zip(&row.values).filter(|(j, _)| v.term(**j).starts_with(CHAR_NGRAM_MARK) == chars).map(|(_, x)| f64::from(*x).powi(2)).sum()
        };
        assert!((squares(false) - 0.5).abs() < 1e-6 && (squares(true) - 0.5).abs() < 1e-6);
        // Each n-gram is credited to the word it came from.
        let (row, sources) = v.transform_explained("abc de abc");
        for (j, source) in row.indices.iter().zip(&sources) {
            let term = &v.terms[*j as usize];
            let expected = match term.strip_prefix(CHAR_NGRAM_MARK) {
                Some(gram) if " abc ".contains(gram) => "abc",
                Some(_) => "de",
                None => term.as_str(),
            };
            assert_eq!(source, &[(expected.to_string(), 1.0)], "{term}");
        }
        // An n-gram of two words is shared by them in proportion.
        let (row, sources) = v.transform_explained("abc abcd");
        let shared = row.indices.iter().position(|j| v.terms[*j as usize] == "~abc").unwrap();
        assert_eq!(sources[shared], [("abc".to_string(), 0.5), ("abcd".to_string(), 0.5)]);
        // A text with words but no n-gram (none known) keeps a unit norm.
        let row = v.transform("xyz");
        assert!((row.values.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn max_features_keeps_the_most_frequent() {
        let texts = ["a b c", "a b", "a c", "a", "b"];
        let options = VectorizerOptions { min_df: 1, max_features: 2, hash_bits: None };
        let v = Vectorizer::fit(&texts, &unigrams(), &options, &never).unwrap();
        assert_eq!(v.terms, ["a", "b"]);
    }

    #[test]
    fn pruning_bounds_the_count_and_keeps_frequent_terms() {
        let mut counts: FxHashMap<Box<str>, DocFrequency> = FxHashMap::default();
        for i in 0..1000u32 {
            counts.insert(format!("t{i}").into(), DocFrequency { df: 1 + i % 10, last_doc: 0 });
        }
        prune_rarest(&mut counts, 250);
        assert!(counts.len() <= 250 && counts.len() >= 200, "{}", counts.len());
        assert!(counts.values().all(|e| e.df >= 9));
    }

    #[test]
    fn hashing_and_serialisation_round_trip() {
        let texts = ["good flight", "bad flight", "good crew", "bad crew"];
        let hashed = VectorizerOptions { min_df: 1, hash_bits: Some(12), ..VectorizerOptions::default() };
        let v = Vectorizer::fit(&texts, &unigrams(), &hashed, &never).unwrap();
        assert_eq!(v.n_features(), 4096);
        let (row, sources) = v.transform_explained("good good crew");
        assert_eq!(row.indices.len(), 2);
        let names: Vec<&str> = sources.iter().map(|s| s[0].0.as_str()).collect();
        assert!(names.contains(&"good") && names.contains(&"crew"), "{names:?}");
        let v = Vectorizer::fit(&texts, &unigrams(), &VectorizerOptions::default(), &never).unwrap();
        let bytes = bincode::serialize(&v).unwrap();
        let back: Vectorizer = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.transform("good crew"), v.transform("good crew"));
        assert_eq!(back.transform_all(&["good crew", "bad"], &never).unwrap().row(0).0, v.transform("good crew").indices.as_slice());
    }

    #[test]
    fn counting_on_the_pool_and_kept_terms_change_nothing() {
        // Over two waves of tasks, so counts are merged across tasks and waves.
        let texts: Vec<String> = (0..COUNT_TEXTS_PER_TASK * COUNT_TASKS_PER_WAVE + 3000)
            .map(|i| format!("w{} w{} w{} x{} shared {}", i % 7, i % 113, (i * 31) % 1009, i % 5, if i % 3 == 0 { "!" } else { "" }))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokenizer = Tokenizer::default();
        let options = VectorizerOptions::default();
        let limit = MIN_COUNTING_TERMS;
        let (counts, kept) = count_on_pool(&texts, &tokenizer, limit, usize::MAX, &never).unwrap().unwrap();
        let one_by_one = count_pruning(&texts, &tokenizer, limit, &never).unwrap();
        assert_eq!(counts.ids.len(), one_by_one.len());
        for (term, id) in &counts.ids {
            assert_eq!(counts.df[*id as usize], one_by_one[term].df, "{term}");
        }
        assert_eq!(kept.unwrap().ends.len(), texts.len());
        // Beyond the limit, the pool's count gives way to the pruning one.
        assert!(count_on_pool(&texts, &tokenizer, 10, 0, &never).unwrap().is_none());

        let plain = Vectorizer::fit(&texts, &tokenizer, &options, &never).unwrap();
        let rows = plain.transform_all(&texts, &never).unwrap();
        for keep_bytes in [usize::MAX, 1000] {
            let (v, terms) = Vectorizer::fit_keeping_terms(&texts, &tokenizer, &options, keep_bytes, &never).unwrap();
            assert_eq!((&v.terms, &v.idf, v.fitted_nonzeros), (&plain.terms, &plain.idf, plain.fitted_nonzeros));
            assert_eq!(v.transform_fitted(&texts, terms, &never).unwrap(), rows);
        }
        // Terms that make no column are dropped from the kept rows as from the others.
        let narrow = VectorizerOptions { max_features: 5, min_df: 3, ..options };
        let (v, terms) = Vectorizer::fit_keeping_terms(&texts, &tokenizer, &narrow, usize::MAX, &never).unwrap();
        assert_eq!(v.transform_fitted(&texts, terms, &never).unwrap(), v.transform_all(&texts, &never).unwrap());
    }

    #[test]
    fn cancel_is_an_error() {
        let texts = vec!["x y"; 1000];
        let err = Vectorizer::fit(&texts, &unigrams(), &VectorizerOptions::default(), &|| true).unwrap_err();
        assert!(matches!(err, CrmError::Canceled(_)));
        let err = Vectorizer::fit_keeping_terms(&texts, &unigrams(), &VectorizerOptions::default(), 1 << 20, &|| true).err().unwrap();
        assert!(matches!(err, CrmError::Canceled(_)));
    }
}
