//! Text classification and text analytics, without Postgres: a TF-IDF vectoriser over
//! words, word pairs and character n-grams, a softmax regression on it, metrics from a
//! seeded stratified holdout, key terms of groups of texts (Fightin' Words) and an
//! untrained sentiment score (VADER).
//!
//! Measured on the airline-tweets benchmark (test = every fifth row), default options:
//! sentiment macro-F1 0.775 (accuracy 0.816), complaint reason macro-F1 0.584, where
//! scikit-learn's TF-IDF word 1–2 grams + balanced LogisticRegression reach 0.765 and
//! 0.540.

pub mod key_terms;
pub mod metrics;
pub mod sentiment;
pub mod softmax;
pub mod sql;
pub mod tokenize;
pub mod vectorize;

#[cfg(test)]
mod bench_tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::rng::SplitMix64;
use metrics::ClassificationReport;
use softmax::{balanced_class_weights, Softmax, SoftmaxOptions, SolverMemory};
use tokenize::{Mentions, Segmenter, Tokenizer};
use vectorize::{Vectorizer, VectorizerOptions};

/// How rows are weighted in the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Each class weighs the same in total (scikit-learn's 'balanced'): rare complaint
    /// reasons are not drowned by frequent ones, which macro-F1 rewards.
    Balanced,
    None,
}

/// Training options, all with defaults (a JSON object of some of them reads as these).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextOptions {
    /// Word n-gram lengths, both ends included: [1, 2].
    pub ngram_range: (u32, u32),
    /// Character n-gram lengths inside words: [3, 5]; null = none (see `Tokenizer`).
    pub char_ngrams: Option<(u32, u32)>,
    pub mentions: Mentions,
    /// `!` and `?` as terms.
    pub punctuation: bool,
    pub min_df: u32,
    pub max_features: usize,
    /// Feature hashing into 2^bits columns (1..24) instead of a vocabulary; null = a
    /// vocabulary.
    pub hash_bits: Option<u8>,
    pub class_weight: ClassWeight,
    /// Inverse L2 strength, scikit-learn's `C`.
    #[serde(alias = "C")]
    pub c: f64,
    /// Share of the rows (per class) held out to measure the stored metrics; 0 = none.
    pub holdout: f64,
    pub seed: u64,
    pub max_iter: usize,
    /// The fit stops when no gradient entry exceeds this (see `SoftmaxOptions::tol`).
    pub tol: f64,
    /// Training refuses (53200) when its term matrix and solver would hold more than this
    /// many MB; 0 = no limit. The matrix takes 16 bytes per (text, distinct term) pair,
    /// about 3 kB per tweet with character n-grams; the solver about 100 bytes per
    /// (feature, class) pair.
    #[serde(alias = "max_matrix_mb")]
    pub max_memory_mb: u64,
    /// How runs of Han characters become terms. Not serialised: these options are stored
    /// at the start of a model's bincode bytes, where a new field would shift the rest;
    /// `TextModel::segmenter` stores it. The SQL layer reads it from the options object
    /// with `Segmenter::from_json`.
    #[serde(skip)]
    pub segmenter: Segmenter,
}

impl Default for TextOptions {
    fn default() -> Self {
        let tokenizer = Tokenizer::default();
        let vectorizer = VectorizerOptions::default();
        let softmax = SoftmaxOptions::default();
        TextOptions {
            ngram_range: tokenizer.word_ngrams,
            char_ngrams: tokenizer.char_ngrams,
            mentions: tokenizer.mentions,
            punctuation: tokenizer.punctuation,
            min_df: vectorizer.min_df,
            max_features: vectorizer.max_features,
            hash_bits: vectorizer.hash_bits,
            class_weight: ClassWeight::Balanced,
            c: softmax.c,
            holdout: 0.2,
            seed: 42,
            max_iter: softmax.max_iter,
            tol: softmax.tol,
            max_memory_mb: 2048,
            segmenter: tokenizer.segmenter,
        }
    }
}

impl TextOptions {
    pub fn tokenizer(&self) -> Tokenizer {
        Tokenizer {
            word_ngrams: self.ngram_range,
            char_ngrams: self.char_ngrams,
            mentions: self.mentions,
            punctuation: self.punctuation,
            segmenter: self.segmenter,
        }
    }

    fn vectorizer(&self) -> VectorizerOptions {
        VectorizerOptions { min_df: self.min_df, max_features: self.max_features, hash_bits: self.hash_bits }
    }

    fn softmax(&self) -> SoftmaxOptions {
        SoftmaxOptions { c: self.c, max_iter: self.max_iter, tol: self.tol }
    }

    /// The first option outside what is accepted, as a 22023 error.
    pub fn validate(&self) -> Result<()> {
        if let Some(problem) = self.tokenizer().check() {
            return Err(CrmError::InvalidArgument(problem));
        }
        if self.min_df < 1 {
            return Err(CrmError::bad_argument("options.min_df", self.min_df, "a positive integer"));
        }
        if self.max_features < 1 {
            return Err(CrmError::bad_argument("options.max_features", self.max_features, "a positive integer"));
        }
        if let Some(bits) = self.hash_bits {
            if !(1..=24).contains(&bits) {
                return Err(CrmError::bad_argument("options.hash_bits", bits, "1..24"));
            }
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(CrmError::bad_argument("options.C", self.c, "a positive number"));
        }
        if !(0.0..=0.9).contains(&self.holdout) {
            return Err(CrmError::bad_argument("options.test_fraction", self.holdout, "0 to 0.9"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(CrmError::bad_argument("options.tol", self.tol, "a positive number"));
        }
        if self.max_iter < 1 {
            return Err(CrmError::bad_argument("options.max_iter", self.max_iter, "a positive integer"));
        }
        Ok(())
    }
}

/// A trained text classifier.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "StoredTextModel")]
pub struct TextModel {
    pub options: TextOptions,
    /// Class labels, sorted; probabilities come in this order.
    pub labels: Vec<String>,
    pub vectorizer: Vectorizer,
    pub classifier: Softmax,
    /// Measured on the holdout by a model fitted on the other rows; None without holdout.
    pub metrics: Option<ClassificationReport>,
    /// Rows the stored model was fitted on (all of them).
    pub rows: usize,
    /// The tokeniser's segmenter (see `Tokenizer::segmenter`), stored last so that models
    /// stored before it existed still read, as bigram models.
    pub segmenter: Segmenter,
}

/// A `TextModel` as its bytes hold it: the same fields, with the segmenter absent from
/// models stored before it existed, then set into the options and the vectoriser's tokeniser.
#[derive(Deserialize)]
struct StoredTextModel {
    options: TextOptions,
    labels: Vec<String>,
    vectorizer: Vectorizer,
    classifier: Softmax,
    metrics: Option<ClassificationReport>,
    rows: usize,
    #[serde(default, deserialize_with = "crate::registry::appended")]
    segmenter: Segmenter,
}

impl From<StoredTextModel> for TextModel {
    fn from(stored: StoredTextModel) -> TextModel {
        let StoredTextModel { mut options, labels, mut vectorizer, classifier, metrics, rows, segmenter } = stored;
        options.segmenter = segmenter;
        vectorizer.set_segmenter(segmenter);
        TextModel { options, labels, vectorizer, classifier, metrics, rows, segmenter }
    }
}

/// (term, label, value) rows of `explain` and `top_terms`.
pub type TermWeight = (String, String, f64);

impl TextModel {
    /// Trains on `texts` labelled `labels`. With a holdout, the metrics come from a model
    /// fitted on the other rows (a seeded split, stratified by label); the stored model is
    /// then fitted again on every row, as the holdout rows would otherwise be lost to it.
    /// The metrics describe the procedure and are a slightly pessimistic estimate for the
    /// stored model, which saw more data.
    pub fn train(texts: &[&str], labels: &[&str], options: &TextOptions, should_stop: &dyn Fn() -> bool) -> Result<TextModel> {
        options.validate()?;
        if texts.len() != labels.len() {
            return Err(CrmError::InvalidArgument(format!("{} texts but {} labels", texts.len(), labels.len())));
        }
        let classes: Vec<String> = labels.iter().copied().collect::<BTreeSet<&str>>().into_iter().map(str::to_string).collect();
        if classes.len() < 2 {
            return Err(CrmError::InvalidArgument(format!("a text classifier needs at least two distinct labels; the training rows have {}", classes.len())));
        }
        let y: Vec<u32> = labels.iter().map(|l| classes.binary_search_by(|c| c.as_str().cmp(l)).unwrap_or(0) as u32).collect();

        let mut holdout_model = None;
        let metrics = if options.holdout > 0.0 {
            let (train, test) = stratified_split(&y, classes.len(), options.holdout, options.seed);
            if test.is_empty() {
                None
            } else {
                let pick = |rows: &[usize]| rows.iter().map(|&i| texts[i]).collect::<Vec<&str>>();
                let train_y: Vec<u32> = train.iter().map(|&i| y[i]).collect();
                let (vectorizer, classifier, memory) = fit(&pick(&train), &train_y, classes.len(), options, None, should_stop)?;
                let test_texts = pick(&test);
                let x = vectorizer.transform_all(&test_texts, should_stop)?;
                let predicted: Vec<u32> = (0..x.n_rows())
                    .map(|i| {
                        let (indices, values) = x.row(i);
                        argmax(&classifier.predict_proba(indices, values)) as u32
                    })
                    .collect();
                let truth: Vec<u32> = test.iter().map(|&i| y[i]).collect();
                holdout_model = Some((vectorizer, classifier, memory));
                Some(ClassificationReport::new(&truth, &predicted, &classes))
            }
        } else {
            None
        };
        let (vectorizer, classifier, _) = fit(texts, &y, classes.len(), options, holdout_model.as_ref(), should_stop)?;
        Ok(TextModel { options: options.clone(), labels: classes, vectorizer, classifier, metrics, rows: texts.len(), segmenter: options.segmenter })
    }

    /// Why a stored model cannot be used, if it cannot (the registry's structural check):
    /// labels, classifier and vectoriser must agree on their shapes.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.vectorizer.check()?;
        self.classifier.check()?;
        if self.labels.len() != self.classifier.n_classes() {
            return Err(format!("{} labels for {} classes", self.labels.len(), self.classifier.n_classes()));
        }
        if !self.labels.windows(2).all(|w| w[0] < w[1]) {
            return Err("labels are not sorted and distinct".into());
        }
        if self.vectorizer.n_features() != self.classifier.n_features() {
            return Err(format!("{} term columns for a classifier of {} features", self.vectorizer.n_features(), self.classifier.n_features()));
        }
        Ok(())
    }

    /// Each label's probability for `text`, in `labels` order; they sum to 1.
    pub fn predict_proba(&self, text: &str) -> Vec<f64> {
        let row = self.vectorizer.transform(text);
        self.classifier.predict_proba(&row.indices, &row.values)
    }

    /// The most probable label and its probability.
    pub fn top_label(&self, text: &str) -> (&str, f64) {
        let p = self.predict_proba(text);
        let best = argmax(&p);
        (&self.labels[best], p[best])
    }

    /// The words and word n-grams of `text` that moved the prediction most: (term,
    /// predicted label, contribution to the label's score), largest effect first, for or
    /// against the label. A contribution is weight × tf-idf value; a word's character
    /// n-grams add theirs to the word's. Each feature's weights sum to zero over the labels,
    /// so a positive contribution favours the label over the average label.
    pub fn explain(&self, text: &str, top: usize) -> Vec<TermWeight> {
        let (row, sources) = self.vectorizer.transform_explained(text);
        let best = argmax(&self.classifier.predict_proba(&row.indices, &row.values));
        let mut by_term: Vec<(String, f64)> = Vec::new();
        for ((_, contribution), shares) in self.classifier.contributions(&row.indices, &row.values, best).into_iter().zip(sources) {
            for (term, share) in shares {
                match by_term.iter_mut().find(|(t, _)| *t == term) {
                    Some((_, total)) => *total += contribution * share,
                    None => by_term.push((term, contribution * share)),
                }
            }
        }
        by_term.retain(|(_, c)| *c != 0.0);
        by_term.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        by_term.truncate(top);
        by_term.into_iter().map(|(term, c)| (term, self.labels[best].clone(), c)).collect()
    }

    /// Each label's `per_class` words and word n-grams of largest weight: (label, term,
    /// weight). Character n-grams count in predictions but are not listed: fragments such
    /// as "ela" explain little.
    pub fn top_terms(&self, per_class: usize) -> Vec<TermWeight> {
        let mut out = Vec::new();
        let n_features = self.classifier.n_features() as u32;
        for (c, label) in self.labels.iter().enumerate() {
            let mut words: Vec<(u32, f64)> =
                (0..n_features).filter(|&j| !self.vectorizer.is_char_ngram(j)).map(|j| (j, self.classifier.weight(j, c))).filter(|(_, w)| *w > 0.0).collect();
            words.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (j, w) in words.into_iter().take(per_class) {
                out.push((label.clone(), self.vectorizer.term(j), w));
            }
        }
        out
    }
}

/// Training keeps the texts' terms between counting them and making their rows (instead of
/// tokenising the texts twice) while they take at most this many bytes.
const KEEP_TERMS_BYTES: u64 = 256 << 20;

/// A fitted vectoriser and classifier, and what the classifier's fit learned of the
/// loss's curvature.
type Fitted = (Vectorizer, Softmax, SolverMemory);

/// Vocabulary, rows and softmax fit on the given rows; the softmax fit starts from
/// `warm`'s weights, term by term, and its curvature, when given (a model of most of the
/// same rows).
fn fit(texts: &[&str], y: &[u32], n_classes: usize, options: &TextOptions, warm: Option<&Fitted>, should_stop: &dyn Fn() -> bool) -> Result<Fitted> {
    // The texts' terms are kept for their rows within a quarter of the memory allowed (they
    // take 4 bytes an occurrence, the rows 16 a distinct term of a text).
    let keep_bytes = if options.max_memory_mb > 0 { options.max_memory_mb.saturating_mul(1 << 20) / 4 } else { u64::MAX };
    let keep_bytes = usize::try_from(keep_bytes.min(KEEP_TERMS_BYTES)).unwrap_or(usize::MAX);
    let (vectorizer, terms) = Vectorizer::fit_keeping_terms(texts, &options.tokenizer(), &options.vectorizer(), keep_bytes, should_stop)?;
    if vectorizer.n_features() == 0 {
        return Err(CrmError::InvalidArgument(format!("no term occurs in at least min_df = {} texts: lower min_df or train on more text", options.min_df)));
    }
    // Rows by row and by column, f32 values and u32 indices: 16 bytes a non-zero.
    let matrix_mb = vectorizer.fitted_nonzeros().saturating_mul(16) >> 20;
    let solver_mb = (softmax::fit_bytes(vectorizer.n_features(), n_classes) + warm.map_or(0, |(_, _, memory)| memory.bytes())) >> 20;
    if options.max_memory_mb > 0 && matrix_mb + solver_mb > options.max_memory_mb {
        return Err(CrmError::OutOfMemory(format!(
            "training would hold about {} MB (term matrix {matrix_mb} MB, solver {solver_mb} MB), more than max_memory_mb ({} MB): train on a sample, lower max_features or hash_bits, set char_ngrams to null, or raise max_memory_mb",
            matrix_mb + solver_mb,
            options.max_memory_mb
        )));
    }
    let x = vectorizer.transform_fitted(texts, terms, should_stop)?;
    let weights = match options.class_weight {
        ClassWeight::Balanced => balanced_class_weights(y, n_classes),
        ClassWeight::None => vec![1.0; n_classes],
    };
    let same_column = |j: u32| Some(j);
    let same_term = |j: u32| warm.and_then(|(old, _, _)| old.column(&vectorizer.term(j)));
    let feature_of: &dyn Fn(u32) -> Option<u32> = if vectorizer.is_hashing() { &same_column } else { &same_term };
    let start = warm.map(|(_, model, memory)| (model, Some(memory), feature_of));
    let (classifier, memory) = Softmax::fit_from(&x, y, n_classes, &weights, &options.softmax(), start, should_stop)?;
    Ok((vectorizer, classifier, memory))
}

/// (train rows, test rows), both ascending: from each class, `round(fraction · count)`
/// rows drawn at random go to test, but one row at least stays in train.
pub fn stratified_split(y: &[u32], n_classes: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &c) in y.iter().enumerate() {
        by_class[c as usize].push(i);
    }
    let mut test = Vec::new();
    for rows in &mut by_class {
        // Fisher–Yates: the first n_test of the shuffled rows are the class's test rows.
        let n_test = ((fraction * rows.len() as f64).round() as usize).min(rows.len().saturating_sub(1));
        for i in 0..n_test {
            let j = i + rng.below(rows.len() - i);
            rows.swap(i, j);
        }
        test.extend_from_slice(&rows[..n_test]);
    }
    test.sort_unstable();
    let mut is_test = vec![false; y.len()];
    for &i in &test {
        is_test[i] = true;
    }
    let train = (0..y.len()).filter(|&i| !is_test[i]).collect();
    (train, test)
}

/// The index of the largest value (the first on ties); 0 for an empty slice.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    fn toy() -> (Vec<String>, Vec<&'static str>) {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..60 {
            let (text, label) = match i % 3 {
                0 => (format!("my bag was lost again {i}"), "baggage"),
                1 => (format!("flight delayed for hours {i}"), "late"),
                _ => (format!("thanks great crew {i}"), "praise"),
            };
            texts.push(text);
            labels.push(label);
        }
        (texts, labels)
    }

    #[test]
    fn learns_explains_and_round_trips() {
        let (texts, labels) = toy();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        // Words only, so the explanations name words.
        let options = TextOptions { char_ngrams: None, ..TextOptions::default() };
        let model = TextModel::train(&refs, &labels, &options, &never).unwrap();
        assert_eq!(model.labels, ["baggage", "late", "praise"]);
        let metrics = model.metrics.as_ref().unwrap();
        assert_eq!(metrics.rows, 12);
        assert_eq!(metrics.macro_f1, 1.0);
        assert_eq!(model.top_label("they lost my bag").0, "baggage");
        assert_eq!(model.top_label("delayed again!").0, "late");
        let p = model.predict_proba("great crew");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let why = model.explain("the crew was great", 2);
        assert_eq!(why.len(), 2);
        assert!(why.iter().all(|(term, label, c)| label == "praise" && *c > 0.0 && ["crew", "great"].contains(&term.as_str())), "{why:?}");
        let top = model.top_terms(3);
        assert_eq!(top.len(), 9);
        assert!(top.iter().any(|(label, term, _)| label == "late" && term == "delayed"));
        let bytes = bincode::serialize(&model).unwrap();
        let back: TextModel = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.predict_proba("lost bag"), model.predict_proba("lost bag"));
        // Unknown words and empty text still give a distribution (the intercepts').
        assert!((back.predict_proba("").iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn default_options_with_character_ngrams_learn_too() {
        let (texts, labels) = toy();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let model = TextModel::train(&refs, &labels, &TextOptions::default(), &never).unwrap();
        assert_eq!(model.metrics.as_ref().unwrap().macro_f1, 1.0);
        // Inflections unseen in training are read through their character n-grams.
        assert_eq!(model.top_label("delays").0, "late");
        assert_eq!(model.top_label("thankful").0, "praise");
        // Explanations and top terms name words, n-grams credited to their words.
        let why = model.explain("thankful crew", 5);
        assert!(why.iter().any(|(term, label, c)| term == "thankful" && label == "praise" && *c > 0.0), "{why:?}");
        assert!(why.iter().all(|(term, _, _)| !term.starts_with(tokenize::CHAR_NGRAM_MARK)));
        assert!(model.top_terms(5).iter().all(|(_, term, _)| !term.starts_with(tokenize::CHAR_NGRAM_MARK)));
    }

    #[test]
    fn a_model_trained_with_jieba_scores_with_jieba_after_storing() {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            let (text, label) = match i % 3 {
                0 => (["我要退款", "退款一直没到账", "申请退款被拒绝"][i / 3 % 3], "refund"),
                1 => (["快递三天没更新", "快递还没送到", "物流太慢了"][i / 3 % 3], "delivery"),
                _ => (["客服态度很差", "客服不回复", "打客服电话没人接"][i / 3 % 3], "service"),
            };
            texts.push(text);
            labels.push(label);
        }
        let options = TextOptions { segmenter: Segmenter::Jieba, holdout: 0.0, ..TextOptions::default() };
        let model = TextModel::train(&texts, &labels, &options, &never).unwrap();
        // Words, not characters: 退款 is a term, 退 alone is not.
        assert!(model.vectorizer.column("退款").is_some() && model.vectorizer.column("退").is_none());
        assert_eq!(model.top_label("退款什么时候到").0, "refund");
        let bytes = crate::registry::encode(crate::registry::Kind::TextClassifier, &model).unwrap();
        let back: TextModel = crate::registry::decode(&bytes, crate::registry::Kind::TextClassifier, "m").unwrap();
        assert_eq!((back.segmenter, back.options.segmenter, back.vectorizer.tokenizer().segmenter), (Segmenter::Jieba, Segmenter::Jieba, Segmenter::Jieba));
        for text in ["退款什么时候到", "客服电话", "快递"] {
            assert_eq!(back.predict_proba(text), model.predict_proba(text), "{text}");
        }
        assert!(back.explain("我要退款", 3).iter().any(|(term, _, _)| term == "退款"));
        // A model stored before the segmenter existed (the same bytes without the last
        // field, a 4-byte enum tag) reads as a bigram model.
        let body = bincode::serialize(&model).unwrap();
        let old: TextModel = bincode::deserialize(&body[..body.len() - 4]).unwrap();
        assert_eq!((old.segmenter, old.vectorizer.tokenizer().segmenter), (Segmenter::Bigrams, Segmenter::Bigrams));
        let bigrams = TextModel::train(&texts, &labels, &TextOptions { holdout: 0.0, ..TextOptions::default() }, &never).unwrap();
        assert!(bigrams.vectorizer.column("退").is_some());
    }

    #[test]
    fn options_read_from_json_with_defaults() {
        let o: TextOptions = serde_json::from_str(r#"{"C": 4, "char_ngrams": [2, 5], "class_weight": "none"}"#).unwrap();
        assert_eq!(o.c, 4.0);
        assert_eq!(o.char_ngrams, Some((2, 5)));
        assert_eq!(o.class_weight, ClassWeight::None);
        assert_eq!(o.min_df, 2);
        assert!(serde_json::from_str::<TextOptions>(r#"{"bogus": 1}"#).is_err());
        assert!(TextOptions { holdout: 1.0, ..TextOptions::default() }.validate().is_err());
        assert!(TextOptions { hash_bits: Some(25), ..TextOptions::default() }.validate().is_err());
    }

    #[test]
    fn bad_input_and_cancel_are_errors() {
        let err = TextModel::train(&["a b", "a c"], &["x", "x"], &TextOptions::default(), &never).unwrap_err();
        assert!(matches!(err, CrmError::InvalidArgument(_)));
        assert!(TextModel::train(&["a"], &["x", "y"], &TextOptions::default(), &never).is_err());
        let err = TextModel::train(&["a b", "c d"], &["x", "y"], &TextOptions { holdout: 0.0, ..TextOptions::default() }, &never).unwrap_err();
        assert!(err.message().contains("min_df"), "{err}");
        let (texts, labels) = toy();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let err = TextModel::train(&refs, &labels, &TextOptions::default(), &|| true).unwrap_err();
        assert!(matches!(err, CrmError::Canceled(_)));
        let long: Vec<String> = (0..200).map(|i| format!("{} {i}", "word ".repeat(300))).collect();
        let long: Vec<&str> = long.iter().map(String::as_str).collect();
        let labels: Vec<&str> = (0..200).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
        let tight = TextOptions { max_memory_mb: 1, holdout: 0.0, ngram_range: (1, 1), ..TextOptions::default() };
        // 200 texts of 300 words: few distinct terms, far below 1 MB.
        assert!(TextModel::train(&long, &labels, &tight, &never).is_ok());
        let many: Vec<String> = (0..3000).map(|i| (0..30).map(|w| format!("w{}", (i * 31 + w * 7) % 5000)).collect::<Vec<_>>().join(" ")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let labels: Vec<&str> = (0..3000).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
        let err = TextModel::train(&many, &labels, &tight, &never).unwrap_err();
        assert!(matches!(err, CrmError::OutOfMemory(_)), "{err}");
    }

    #[test]
    fn feature_hashing_learns_and_names_terms_by_column() {
        let (texts, labels) = toy();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let options = TextOptions { hash_bits: Some(16), ..TextOptions::default() };
        let model = TextModel::train(&refs, &labels, &options, &never).unwrap();
        assert_eq!(model.metrics.as_ref().unwrap().macro_f1, 1.0);
        assert_eq!(model.top_label("flight delayed").0, "late");
        // The text names its own terms; the model alone knows only columns.
        assert!(model.explain("flight delayed", 3).iter().any(|(term, _, _)| term == "delayed"));
        assert!(model.top_terms(2).iter().all(|(_, term, _)| term.starts_with('#')));
    }

    #[test]
    fn the_split_is_stratified_seeded_and_keeps_every_class_in_train() {
        let y: Vec<u32> = (0..100)
            .map(|i| {
                if i < 90 {
                    0
                } else if i < 99 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let (train, test) = stratified_split(&y, 3, 0.2, 7);
        assert_eq!(test.len(), 18 + 2);
        assert_eq!(train.len() + test.len(), 100);
        assert!(train.contains(&99), "a class of one stays in train");
        assert_eq!(stratified_split(&y, 3, 0.2, 7), (train.clone(), test.clone()));
        assert_ne!(stratified_split(&y, 3, 0.2, 8).1, test);
    }
}
