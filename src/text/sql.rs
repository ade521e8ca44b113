//! SQL surface of feedback text analytics: `crm.train_text_classifier`,
//! `crm.classify_text`, `crm.classify_text_scores`, `crm.explain_text`, `crm.text_terms`,
//! `crm.key_terms`, `crm.sentiment`, and the trigger function `crm.classify_text_trigger`.
//! The algorithms are in this module's siblings; this file reads sources, parses options,
//! stores models and turns errors into Postgres ERRORs.

use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

use super::key_terms::{KeyTermCounter, KeyTermsOptions};
use super::tokenize::Segmenter;
use super::{TextModel, TextOptions};
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::options::{integer, number, object, unknown};
use crate::pg::json_options::JsonOptions;
use crate::pg::memo;
use crate::pg::model_cache::{deployed, Deployed};
use crate::pg::source::{
    cancel_requested, check_new_model, describe, find_column, is_numeric, is_time, quote_ident, raise_pending_cancel, read_in_batches, source_query,
    store_model, ColumnInfo, NewModel, TrainRow,
};
use crate::registry::{self, Kind, StoredModel};

impl StoredModel for TextModel {
    const KIND: Kind = Kind::TextClassifier;

    fn validate(&self) -> std::result::Result<(), String> {
        self.check()
    }
}

/// The text column must hold text: a number, boolean or time column named by mistake is
/// refused rather than classified by its digits.
fn text_column<'a>(described: &'a [ColumnInfo], name: &str, what: &str) -> Result<&'a ColumnInfo> {
    let column = find_column(described, name, what)?;
    if is_numeric(column.type_oid) || is_time(column.type_oid) || column.type_oid == pg_sys::BOOLOID {
        return Err(CrmError::DatatypeMismatch(format!("{what} column \"{name}\" must hold text (text, varchar, char), not numbers, booleans or times")));
    }
    Ok(column)
}

// ---------------------------------------------------------------------------------------
// Training

/// Options of `train_text_classifier`: TextOptions' fields, `test_fraction` as in the
/// other trainers (an alias of `holdout`).
const TRAIN_OPTIONS: &str =
    "test_fraction (or holdout), seed, ngram_range, char_ngrams, mentions, punctuation, segmenter, min_df, max_features, hash_bits, class_weight, C, max_iter, tol, max_memory_mb";

fn parse_train_options(options: &Value) -> Result<TextOptions> {
    let empty = serde_json::Map::new();
    let given = object(options, &empty, "{\"test_fraction\": 0.2, \"char_ngrams\": [2, 5]}")?;
    let mut normalized = serde_json::Map::new();
    let mut segmenter = Segmenter::default();
    for (key, v) in given {
        let field = match key.as_str() {
            // Not a serde field of TextOptions (see `TextOptions::segmenter`).
            "segmenter" => {
                segmenter = Segmenter::from_json(v)?;
                continue;
            }
            "test_fraction" | "holdout" => "holdout",
            "C" | "c" => "c",
            "seed" | "ngram_range" | "char_ngrams" | "mentions" | "punctuation" | "min_df" | "max_features" | "hash_bits" | "class_weight" | "max_iter"
            | "tol" | "max_memory_mb" => key.as_str(),
            "max_matrix_mb" => "max_memory_mb",
            other => return Err(unknown(other, "train_text_classifier", TRAIN_OPTIONS)),
        };
        normalized.insert(field.to_string(), v.clone());
    }
    let mut parsed: TextOptions = serde_json::from_value(Value::Object(normalized))
        .map_err(|e| CrmError::InvalidArgument(format!("invalid options for train_text_classifier: {e}; accepted: {TRAIN_OPTIONS}")))?;
    parsed.segmenter = segmenter;
    parsed.validate()?;
    Ok(parsed)
}

/// The options as the registry shows them: TextOptions' serde fields and the segmenter.
fn hyperparameters(options: &TextOptions) -> Value {
    let mut value = serde_json::to_value(options).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("segmenter".into(), json!(options.segmenter.name()));
    }
    value
}

/// Trains a text classifier on the rows of `source` and deploys it.
#[pg_extern(volatile, parallel_unsafe)]
fn train_text_classifier(
    name: Option<&str>,
    source: Option<&str>,
    text_column: Option<&str>,
    label_column: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(algorithm, String), name!(deployed, bool), name!(metrics, JsonB))>
{
    let run = || {
        let options = JsonOptions::or_null(&options)?;
        train(required(name, "name")?, required(source, "source")?, required(text_column, "text_column")?, required(label_column, "label_column")?, &options)
    };
    TableIterator::once(run().or_raise())
}

fn train(name: &str, source: &str, text: &str, label: &str, options: &Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let opts = parse_train_options(options)?;
    let started = std::time::Instant::now();
    let query = source_query(source)?;
    let described = describe(&query)?;
    let text_col = text_column(&described, text, "text")?.name.clone();
    let label_col = find_column(&described, label, "label")?.name.clone();
    let rows_query = format!("SELECT {}::pg_catalog.text, {}::pg_catalog.text FROM ({query}) AS crm_texts", quote_ident(&text_col), quote_ident(&label_col));
    let mut texts: Vec<String> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let (mut no_text, mut no_label) = (0i64, 0i64);
    read_in_batches(&rows_query, |row| {
        let t: Option<String> = row.get(1)?;
        let l: Option<String> = row.get(2)?;
        match (t.filter(|t| !t.trim().is_empty()), l) {
            (_, None) => no_label += 1,
            (None, Some(_)) => no_text += 1,
            (Some(t), Some(l)) => {
                texts.push(t);
                labels.push(l);
            }
        }
        Ok(true)
    })?;
    if texts.is_empty() {
        return Err(CrmError::InvalidArgument(format!(
            "train_text_classifier: the source has no row with both a text and a label ({no_text} without text, {no_label} without label)"
        )));
    }
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let model = raise_pending_cancel(TextModel::train(&text_refs, &label_refs, &opts, &cancel_requested))
        .map_err(|e| e.map_message(|m| format!("train_text_classifier: {m}")))?;
    drop(text_refs);
    drop(label_refs);
    drop(texts);
    let mut metrics = match &model.metrics {
        Some(report) => report.to_json(),
        None => json!({}),
    };
    if let Value::Object(m) = &mut metrics {
        m.insert("training_rows".into(), json!(model.rows));
        m.insert("skipped_without_text".into(), json!(no_text));
        m.insert("skipped_without_label".into(), json!(no_label));
        m.insert("labels".into(), json!(model.labels));
        m.insert("vocabulary".into(), json!(model.vectorizer.n_features()));
        m.insert("iterations".into(), json!(model.classifier.iterations));
        m.insert("train_seconds".into(), json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0));
    }
    let bytes = registry::encode(Kind::TextClassifier, &model)?;
    let algorithm = "tfidf_softmax";
    let holdout_rows = model.metrics.as_ref().map(|r| r.rows as i64);
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::TextClassifier,
        algorithm,
        target: Some(&label_col),
        positive_class: None,
        features: json!([text_col]),
        hyperparameters: hyperparameters(&opts),
        metrics: metrics.clone(),
        training_rows: model.rows as i64,
        holdout_rows,
        bytes,
    })?;
    registry::sql::deploy_version(name, version, "train_text_classifier: newest version")?;
    Ok((id, name.to_string(), version, algorithm.to_string(), true, JsonB(metrics)))
}

// ---------------------------------------------------------------------------------------
// Scoring

/// A call site's memo: the deployed text model of one name (resolved once per statement).
struct TextMemo {
    name: String,
    model: Rc<Deployed<TextModel>>,
}

/// The memo of this call site for model `name`.
///
/// # Safety
/// `fcinfo` is the live call info of a function of this file that keeps only this memo in
/// `fn_extra`.
unsafe fn model_for<'a>(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> Result<&'a mut TextMemo> {
    // SAFETY: forwarded.
    unsafe { memo::call_site(fcinfo, |m: &TextMemo| m.name == name, || Ok(TextMemo { name: name.to_string(), model: deployed::<TextModel>(name)? })) }
}

/// The most probable label of `text` under the deployed text classifier `name`; NULL for
/// a NULL or blank text (no evidence: never a guess from the class priors alone).
#[pg_extern(stable, strict, parallel_safe)]
fn classify_text(name: &str, text: &str, fcinfo: pg_sys::FunctionCallInfo) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    // SAFETY: the live call info of this function.
    let memo = unsafe { model_for(fcinfo, name) }.or_raise();
    Some(memo.model.model.top_label(text).0.to_string())
}

/// Every label of the deployed text classifier `name` with its probability for `text`,
/// most probable first; no rows for a blank text.
#[pg_extern(stable, strict, parallel_safe)]
fn classify_text_scores(name: &str, text: &str) -> TableIterator<'static, (name!(label, String), name!(probability, f64))> {
    let run = || -> Result<Vec<(String, f64)>> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let model = memo::statement(name, || deployed::<TextModel>(name))?;
        let p = model.model.predict_proba(text);
        let mut rows: Vec<(String, f64)> = model.model.labels.iter().cloned().zip(p).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(rows)
    };
    TableIterator::new(run().or_raise())
}

/// The terms of `text` that weighed most in its predicted label: their contribution
/// (weight × tf-idf) to that label's score, positive for it, negative against it.
#[pg_extern(stable, strict, parallel_safe)]
fn explain_text(
    name: &str,
    text: &str,
    top: default!(i32, 5),
) -> TableIterator<'static, (name!(term, String), name!(label, String), name!(contribution, f64))> {
    let run = || -> Result<Vec<(String, String, f64)>> {
        if top < 1 {
            return Err(CrmError::bad_argument("top", top, "a positive integer"));
        }
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let model = memo::statement(name, || deployed::<TextModel>(name))?;
        Ok(model.model.explain(text, top as usize))
    };
    TableIterator::new(run().or_raise())
}

/// The most indicative terms of each label of the deployed text classifier `name`: the
/// `top` largest weights per label.
#[pg_extern(stable, strict, parallel_safe)]
fn text_terms(name: &str, top: default!(i32, 10)) -> TableIterator<'static, (name!(label, String), name!(term, String), name!(weight, f64))> {
    let run = || -> Result<Vec<(String, String, f64)>> {
        if top < 1 {
            return Err(CrmError::bad_argument("top", top, "a positive integer"));
        }
        let model = memo::statement(name, || deployed::<TextModel>(name))?;
        Ok(model.model.top_terms(top as usize))
    };
    TableIterator::new(run().or_raise())
}

// ---------------------------------------------------------------------------------------
// Key terms and sentiment

const KEY_TERMS_OPTIONS: &str = "top, min_count, prior_scale, max_terms, ngram_range";

/// The terms most distinctive of each group's texts against the other groups' (weighted
/// log-odds with an informative Dirichlet prior, Monroe et al. 2008): `score` is the
/// z-score, above about 2 a term clearly sets the group apart.
#[pg_extern(volatile, parallel_unsafe)]
fn key_terms(
    source: Option<&str>,
    text_column: Option<&str>,
    group_column: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(grp, String), name!(term, String), name!(score, f64))> {
    let run = || -> Result<Vec<(String, String, f64)>> {
        let options = JsonOptions::or_null(&options)?;
        key_terms_of(required(source, "source")?, required(text_column, "text_column")?, required(group_column, "group_column")?, &options)
    };
    TableIterator::new(run().or_raise())
}

fn key_terms_of(source: &str, text: &str, group: &str, options: &Value) -> Result<Vec<(String, String, f64)>> {
    let empty = serde_json::Map::new();
    let mut opts = KeyTermsOptions::default();
    let mut tokenizer = TextOptions::default().tokenizer();
    for (key, v) in object(options, &empty, "{\"top\": 20}")? {
        match key.as_str() {
            "top" => opts.top_n = integer(key, v, 1, 100_000)? as usize,
            "min_count" => opts.min_count = integer(key, v, 1, u32::MAX as u64)?,
            "prior_scale" => opts.prior_scale = number(key, v, 1e-6, 1e6, "a positive number")?,
            "max_terms" => opts.max_terms = integer(key, v, 1, 10_000_000)? as usize,
            "ngram_range" => {
                tokenizer.word_ngrams =
                    serde_json::from_value(v.clone()).map_err(|_| CrmError::bad_argument("options.ngram_range", v, "two integers such as [1, 2]"))?;
                if let Some(problem) = tokenizer.check() {
                    return Err(CrmError::InvalidArgument(problem));
                }
            }
            other => return Err(unknown(other, "key_terms", KEY_TERMS_OPTIONS)),
        }
    }
    let query = source_query(source)?;
    let described = describe(&query)?;
    let text_col = text_column(&described, text, "text")?.name.clone();
    let group_col = find_column(&described, group, "group")?.name.clone();
    let rows_query = format!("SELECT {}::pg_catalog.text, {}::pg_catalog.text FROM ({query}) AS crm_texts", quote_ident(&text_col), quote_ident(&group_col));
    let mut counter = KeyTermCounter::new(opts.max_terms);
    read_in_batches(&rows_query, |row| {
        let t: Option<String> = row.get(1)?;
        let g: Option<String> = row.get(2)?;
        if let (Some(t), Some(g)) = (t, g) {
            counter.add_text(&g, &t, &tokenizer);
        }
        Ok(true)
    })?;
    let groups = counter.key_terms(&opts);
    Ok(groups.into_iter().flat_map(|g| g.terms.into_iter().map(move |t| (g.group.clone(), t.term, t.z))).collect())
}

/// Sentiment of a text in [-1, 1] without a trained model: VADER's lexicon and rules
/// (Hutto & Gilbert 2014), negation, intensifiers, "but", emphasis and emoji included.
/// English; 0 for text it has no words for.
#[pg_extern(immutable, strict, parallel_safe)]
fn sentiment(text: &str) -> f64 {
    super::sentiment::sentiment(text)
}

extension_sql!(
    r#"
-- Keeps a label column fresh from a text column as rows are inserted or updated:
--   CREATE TRIGGER ticket_topic BEFORE INSERT OR UPDATE OF body ON tickets
--       FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger('ticket_topic', 'body', 'topic');
-- A column that is missing (renamed or dropped since) is an ERROR, never a silent NULL.
CREATE FUNCTION classify_text_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    new_row jsonb;
BEGIN
    IF TG_NARGS <> 3 THEN
        RAISE EXCEPTION 'crm.classify_text_trigger takes three arguments (model, text column, label column); got %', TG_NARGS
            USING ERRCODE = '22023',
                  HINT = 'CREATE TRIGGER ... FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger(''topics'', ''body'', ''topic'')';
    END IF;
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'crm.classify_text_trigger must be a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger' USING ERRCODE = '22023';
    END IF;
    new_row := to_jsonb(NEW);
    IF NOT new_row ? TG_ARGV[1] THEN
        RAISE EXCEPTION 'crm.classify_text_trigger: text column "%" is not in table %', TG_ARGV[1], TG_TABLE_NAME USING ERRCODE = '42703';
    END IF;
    IF NOT new_row ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'crm.classify_text_trigger: label column "%" is not in table %', TG_ARGV[2], TG_TABLE_NAME USING ERRCODE = '42703';
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[2], crm.classify_text(TG_ARGV[0], new_row ->> TG_ARGV[1])));
END
$fn$;
COMMENT ON FUNCTION classify_text_trigger() IS 'BEFORE INSERT OR UPDATE row trigger: crm.classify_text_trigger(model, text_column, label_column) writes the deployed text classifier''s label';
"#,
    name = "classify_text_trigger",
    requires = [classify_text]
);
