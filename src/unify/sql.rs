//! SQL surface of record unification: `crm.dedupe`, `crm.link` and `crm.golden_records`.

use std::collections::HashSet;

use pgrx::prelude::*;
use serde_json::{Map, Value};

use super::golden::{golden_query, Rule, Survivorship, Trust, RULE_NAMES};
use super::matching::{clusters, match_records, normalise, MatchOptions, Matched, Records, Task};
use crate::clean::address::normalize_address;
use crate::clean::country::Country;
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::options;
use crate::pg::json_options::JsonOptions;
use crate::pg::jsonb::Jsonb;
use crate::pg::source::{cancel_requested, describe, find_column, quote_ident, raise_pending_cancel, read_in_batches, source_query};

const ACCEPTED: &str = "columns, exclude, threshold, max_block, max_pairs, blocking, seed, kinds, country, term_frequencies";

/// Options of both functions, with the column names still unresolved.
pub(super) struct UnifyOptions {
    columns: Option<Vec<String>>,
    exclude: Vec<String>,
    blocking: Vec<Vec<String>>,
    /// Columns compared as postal addresses (`options.kinds`: `{"street": "address"}`).
    pub addresses: Vec<String>,
    /// The country of the addresses, when all are in one (`options.country`).
    pub country: Option<Country>,
    pub matching: MatchOptions,
}

pub(super) fn parse_options(options: &Value, function: &str) -> Result<UnifyOptions> {
    let empty = Map::new();
    let map = options::object(options, &empty, r#"'{"threshold": 0.9, "exclude": ["created_at"]}'"#)?;
    let mut o =
        UnifyOptions { columns: None, exclude: Vec::new(), blocking: Vec::new(), addresses: Vec::new(), country: None, matching: MatchOptions::default() };
    for (key, v) in map {
        match key.as_str() {
            "columns" => o.columns = Some(options::names(key, v)?),
            "exclude" => o.exclude = options::names(key, v)?,
            "threshold" => o.matching.threshold = options::number(key, v, 0.0, 1.0, "a probability from 0 to 1")?,
            "max_block" => o.matching.max_block = options::integer(key, v, 2, 1_000_000)? as usize,
            "max_pairs" => o.matching.max_pairs = options::integer(key, v, 1, 1_000_000_000)? as usize,
            "seed" => o.matching.seed = options::integer(key, v, 0, i64::MAX as u64)?,
            "term_frequencies" => o.matching.term_frequencies = options::boolean(key, v)?,
            "blocking" => {
                let Value::Array(rules) = v else {
                    return Err(CrmError::bad_argument("options.blocking", v, "an array of rules, each a column name or an array of column names"));
                };
                for rule in rules {
                    let names = options::names(key, rule)?;
                    if names.is_empty() {
                        return Err(CrmError::bad_argument("options.blocking", rule, "a column name or a non-empty array of column names"));
                    }
                    o.blocking.push(names);
                }
            }
            "kinds" => {
                let Value::Object(kinds) = v else {
                    return Err(CrmError::bad_argument("options.kinds", v, r#"an object naming a comparison kind per column, such as {"street": "address"}"#));
                };
                for (column, kind) in kinds {
                    match kind.as_str() {
                        Some("address") => o.addresses.push(column.clone()),
                        Some("text") => {}
                        _ => {
                            let written = kind.as_str().map_or_else(|| kind.to_string(), str::to_string);
                            return Err(CrmError::bad_argument(
                                &format!("options.kinds.{column}"),
                                written,
                                "'address' (compared as a postal address) or 'text'",
                            ));
                        }
                    }
                }
            }
            "country" => {
                let code = options::text(key, v)?;
                o.country = Some(Country::parse("options.country", &code)?);
            }
            other => return Err(options::unknown(other, function, ACCEPTED)),
        }
    }
    Ok(o)
}

/// The compared columns: `options.columns`, else every column of `available` but the id
/// and the excluded ones.
fn compared_columns(available: &[String], id: &str, o: &UnifyOptions) -> Result<Vec<String>> {
    let columns: Vec<String> = match &o.columns {
        Some(listed) => listed.clone(),
        None => available.iter().filter(|c| *c != id && !o.exclude.contains(c)).cloned().collect(),
    };
    if columns.is_empty() {
        return Err(CrmError::InvalidArgument(format!("no column to compare besides the id \"{id}\"")));
    }
    Ok(columns)
}

/// Blocking rules as indexes into `columns`.
fn blocking_rules(o: &UnifyOptions, columns: &[String]) -> Result<Vec<Vec<usize>>> {
    o.blocking
        .iter()
        .map(|rule| {
            rule.iter()
                .map(|name| {
                    columns.iter().position(|c| c == name).ok_or_else(|| {
                        CrmError::UndefinedColumn(format!("options.blocking column \"{name}\" is not a compared column (those: {})", columns.join(", ")))
                    })
                })
                .collect()
        })
        .collect()
}

/// Reads `id` and `columns` (as text, normalised) of a source; ids must be present and
/// unique. Appends to `records` and `ids`.
fn read_records(query: &str, id: &str, columns: &[String], o: &UnifyOptions, records: &mut Records, ids: &mut Vec<String>, what: &str) -> Result<()> {
    // Address columns are compared in their canonical form (abbreviations written out,
    // components in one order), so '12 N Main St.' and '12 North Main Street' agree.
    let is_address: Vec<bool> = columns.iter().map(|c| o.addresses.contains(c)).collect();
    let mut select = vec![format!("{}::pg_catalog.text", quote_ident(id))];
    select.extend(columns.iter().map(|c| format!("{}::pg_catalog.text", quote_ident(c))));
    let sql = format!("SELECT {} FROM ({query}) AS crm_records", select.join(", "));
    let mut seen: HashSet<String> = HashSet::new();
    let mut problem: Option<CrmError> = None;
    read_in_batches(&sql, |row| {
        let Some(key) = row.get::<&str>(1)? else {
            problem = Some(CrmError::InvalidArgument(format!("the id column \"{id}\" is NULL in a row of the {what}: every record needs an id")));
            return Ok(false);
        };
        if !seen.insert(key.to_string()) {
            problem = Some(CrmError::InvalidArgument(format!("the id column \"{id}\" must be unique: \"{key}\" occurs twice in the {what}")));
            return Ok(false);
        }
        let mut fields = Vec::with_capacity(columns.len());
        for (j, &address) in is_address.iter().enumerate() {
            let raw = row.get::<&str>(j + 2)?;
            fields.push(if address { raw.and_then(|r| normalize_address(r, o.country)).or_else(|| raw.and_then(normalise)) } else { raw.and_then(normalise) });
        }
        ids.push(key.to_string());
        records.fields.push(fields);
        Ok(true)
    })?;
    problem.map_or(Ok(()), Err)
}

/// `crm.dedupe(source, id, options)`: every record of `source` with the id of its
/// cluster (the cluster's first record in source order) and its strongest link's match
/// probability (NULL for a record matched to no other). See `matching.rs`.
/// Matching that joins a crowd (a cluster of more than max(100, 0.1 % of the records), or
/// more linked pairs than twice the larger source) has mistaken people who merely look
/// alike — a common name in one country, e-mail addresses built from names — for one
/// person, and connected clusters would chain them together. That is an error to act
/// on, never a result to store.
fn implausible(found: &str) -> CrmError {
    CrmError::InvalidArgument(format!(
        "matching found {found}: the compared columns do not tell these people apart (values shared by many \
         different people, such as a common name and a country, or identifiers built from names). Compare the \
         identifying columns only (options.columns), give options.blocking, or raise options.threshold"
    ))
}

#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn dedupe(
    source: Option<&str>,
    id: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(id, String), name!(cluster_id, String), name!(match_probability, Option<f64>))> {
    TableIterator::new(dedupe_rows(source, id, options).or_raise())
}

/// A source read and matched: its records, their ids, the compared columns and what
/// matching found, with the options that led there.
pub(super) struct SourceMatch {
    pub opts: UnifyOptions,
    pub columns: Vec<String>,
    pub records: Records,
    pub ids: Vec<String>,
    pub matched: Matched,
    /// The options matching ran with (blocking rules resolved to fields).
    pub matching: MatchOptions,
}

/// Reads `source` and matches its records with each other (what `crm.dedupe` and
/// `crm.train_matcher` share).
pub(super) fn match_source(source: &str, id: &str, options: &Value, function: &str) -> Result<SourceMatch> {
    let opts = parse_options(options, function)?;
    let query = source_query(source)?;
    let described = describe(&query)?;
    find_column(&described, id, "id")?;
    for name in opts.columns.iter().flatten().chain(&opts.exclude).chain(&opts.addresses) {
        find_column(&described, name, "options")?;
    }
    let available: Vec<String> = described.iter().map(|c| c.name.clone()).collect();
    let columns = compared_columns(&available, id, &opts)?;
    let mut matching = opts.matching.clone();
    matching.blocking = blocking_rules(&opts, &columns)?;
    let (mut records, mut ids) = (Records::default(), Vec::new());
    read_records(&query, id, &columns, &opts, &mut records, &mut ids, "source")?;

    // Worker threads never call Postgres; this thread polls for a cancel and, once
    // matching stops, raises it as Postgres's own error.
    let matched = raise_pending_cancel(match_records(&records, Task::Dedupe, &matching, &cancel_requested))?;
    Ok(SourceMatch { opts, columns, records, ids, matched, matching })
}

/// The clusters of a matched source: each record's cluster (its first record's index)
/// and its strongest link's probability; an error when matching joined a crowd (see
/// `implausible`).
pub(super) fn cluster_source(m: &SourceMatch) -> Result<(Vec<usize>, Vec<Option<f64>>)> {
    let n = m.records.len();
    let linked: Vec<((u32, u32), f64)> =
        m.matched.pairs.iter().copied().zip(m.matched.probabilities.iter().copied()).filter(|(_, p)| *p >= m.matching.threshold).collect();
    let cluster = clusters(n, linked.iter().map(|(pair, _)| *pair));
    let mut sizes = vec![0usize; n];
    cluster.iter().for_each(|&c| sizes[c] += 1);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    if largest > (n / 1000).max(100) {
        return Err(implausible(&format!("a cluster of {largest} of the {n} records")));
    }
    // A record's match probability: its strongest link (NULL when it has none).
    let mut strongest: Vec<Option<f64>> = vec![None; n];
    for &((a, b), p) in &linked {
        for r in [a as usize, b as usize] {
            strongest[r] = Some(strongest[r].map_or(p, |q: f64| q.max(p)));
        }
    }
    Ok((cluster, strongest))
}

fn dedupe_rows(source: Option<&str>, id: Option<&str>, options: Option<JsonOptions>) -> Result<Vec<(String, String, Option<f64>)>> {
    let (source, id) = (required(source, "source")?, required(id, "id")?);
    let m = match_source(source, id, &JsonOptions::or_null(&options)?, "dedupe")?;
    let (cluster, strongest) = cluster_source(&m)?;
    Ok((0..m.records.len()).map(|r| (m.ids[r].clone(), m.ids[cluster[r]].clone(), strongest[r])).collect())
}

/// `crm.link(left_source, right_source, id, options)`: the pairs of a left and a right
/// record that match with probability ≥ `options.threshold`, comparing the columns both
/// sources have. Ids must be unique within each source.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn link(
    left_source: Option<&str>,
    right_source: Option<&str>,
    id: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(left_id, String), name!(right_id, String), name!(match_probability, f64))> {
    TableIterator::new(link_rows(left_source, right_source, id, options).or_raise())
}

fn link_rows(left: Option<&str>, right: Option<&str>, id: Option<&str>, options: Option<JsonOptions>) -> Result<Vec<(String, String, f64)>> {
    let (left, right, id) = (required(left, "left_source")?, required(right, "right_source")?, required(id, "id")?);
    let opts = parse_options(&JsonOptions::or_null(&options)?, "link")?;
    let (left_query, right_query) = (source_query(left)?, source_query(right)?);
    let (left_columns, right_columns) = (describe(&left_query)?, describe(&right_query)?);
    find_column(&left_columns, id, "id (left_source)")?;
    find_column(&right_columns, id, "id (right_source)")?;
    for name in opts.columns.iter().flatten().chain(&opts.exclude).chain(&opts.addresses) {
        find_column(&left_columns, name, "options (left_source)")?;
        find_column(&right_columns, name, "options (right_source)")?;
    }
    // Columns both sources have, in the left source's order.
    let shared: Vec<String> = left_columns.iter().filter(|c| right_columns.iter().any(|r| r.name == c.name)).map(|c| c.name.clone()).collect();
    let columns = compared_columns(&shared, id, &opts)?;
    let mut matching = opts.matching.clone();
    matching.blocking = blocking_rules(&opts, &columns)?;
    let (mut records, mut ids) = (Records::default(), Vec::new());
    read_records(&left_query, id, &columns, &opts, &mut records, &mut ids, "left source")?;
    let left_count = records.len();
    let mut right_records = Records::default();
    let mut right_ids = Vec::new();
    read_records(&right_query, id, &columns, &opts, &mut right_records, &mut right_ids, "right source")?;
    records.fields.append(&mut right_records.fields);
    ids.append(&mut right_ids);

    let matched = raise_pending_cancel(match_records(&records, Task::Link { left: left_count }, &matching, &cancel_requested))?;
    let mut rows: Vec<(String, String, f64)> = matched
        .pairs
        .iter()
        .zip(&matched.probabilities)
        .filter(|(_, p)| **p >= matching.threshold)
        .map(|(&(a, b), &p)| (ids[a as usize].clone(), ids[b as usize].clone(), p))
        .collect();
    if rows.len() > 2 * left_count.max(records.len() - left_count).max(50) {
        return Err(implausible(&format!("{} matched pairs between {left_count} and {} records", rows.len(), records.len() - left_count)));
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0).then(y.2.total_cmp(&x.2)).then(x.1.cmp(&y.1)));
    Ok(rows)
}

/// The survivorship rules of `crm.golden_records`, checked against the source's columns.
fn parse_rules(rules: &Value, columns: &[String], id: &str) -> Result<Survivorship> {
    let empty = Map::new();
    let map = options::object(rules, &empty, r#"'{"recent_by": "updated_at", "columns": {"email": "most_recent", "name": "most_frequent"}}'"#)?;
    let known = |key: &str, name: &str| -> Result<String> {
        if columns.iter().any(|c| c == name) {
            Ok(name.to_string())
        } else {
            Err(CrmError::UndefinedColumn(format!("rules.{key} column \"{name}\" is not in the source (its columns: {})", columns.join(", "))))
        }
    };
    let string = |key: &str, v: &Value| -> Result<String> {
        v.as_str().map(str::to_string).ok_or_else(|| CrmError::bad_argument(&format!("rules.{key}"), v, "a string"))
    };
    let (mut default, mut recent_by, mut trust, mut per_column) = (None, None, None, Map::new());
    for (key, v) in map {
        match key.as_str() {
            "default" => default = Some(Rule::parse("rules.default", &string(key, v)?)?),
            "recent_by" => recent_by = Some(known(key, &string(key, v)?)?),
            "trust" => {
                let Value::Object(t) = v else {
                    return Err(CrmError::bad_argument("rules.trust", v, r#"an object such as {"column": "source", "order": ["crm", "shop", "import"]}"#));
                };
                let column = known("trust.column", &string("trust.column", t.get("column").unwrap_or(&Value::Null))?)?;
                let order = match t.get("order") {
                    Some(Value::Array(values)) if !values.is_empty() => values.iter().map(|x| string("trust.order", x)).collect::<Result<Vec<_>>>()?,
                    other => {
                        return Err(CrmError::bad_argument(
                            "rules.trust.order",
                            other.unwrap_or(&Value::Null),
                            "a non-empty array of the column's values, most trusted first",
                        ))
                    }
                };
                trust = Some(Trust { column, order });
            }
            "columns" => {
                let Value::Object(m) = v else {
                    return Err(CrmError::bad_argument(
                        "rules.columns",
                        v,
                        &format!(r#"an object naming a rule per column, such as {{"email": "most_recent"}}; rules: {RULE_NAMES}"#),
                    ));
                };
                per_column = m.clone();
            }
            other => {
                return Err(CrmError::InvalidArgument(format!(
                    "unknown key \"{other}\" in rules of golden_records; accepted: default, recent_by, trust, columns"
                )))
            }
        }
    }
    for name in per_column.keys() {
        known("columns", name)?;
    }
    // Without a rule: the latest value when records are dated, else the most frequent.
    let default = default.unwrap_or(if recent_by.is_some() { Rule::MostRecent } else { Rule::MostFrequent });
    let mut chosen = Vec::new();
    for column in columns.iter().filter(|c| *c != id) {
        let rule = match per_column.get(column) {
            Some(v) => Rule::parse(&format!("rules.columns.{column}"), &string(&format!("columns.{column}"), v)?)?,
            None => default,
        };
        chosen.push((column.clone(), rule));
    }
    Ok(Survivorship { columns: chosen, recent_by, trust })
}

/// `crm.golden_records(source, id, clusters, rules)`: one surviving record per cluster.
/// `clusters` (a table, view or SELECT, such as `crm.dedupe`'s result) gives each record's
/// `cluster_id` by its `id`; a record it does not name is a cluster of its own. Each
/// column's value is chosen by its rule among the cluster's present values; `lineage`
/// names the record each value came from. `record` turns back into a row of the source's
/// type with `jsonb_populate_record`.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn golden_records(
    source: Option<&str>,
    id: Option<&str>,
    clusters: Option<&str>,
    rules: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(cluster_id, String), name!(record, Option<Jsonb>), name!(lineage, Option<Jsonb>), name!(records, i64))> {
    TableIterator::new(golden_rows(source, id, clusters, rules).or_raise())
}

#[allow(clippy::type_complexity)]
fn golden_rows(
    source: Option<&str>,
    id: Option<&str>,
    clusters: Option<&str>,
    rules: Option<JsonOptions>,
) -> Result<Vec<(String, Option<Jsonb>, Option<Jsonb>, i64)>> {
    let (source, id, clusters) = (required(source, "source")?, required(id, "id")?, required(clusters, "clusters")?);
    let rules_value = rules.as_ref().map(|o| o.value("rules")).transpose()?.cloned().unwrap_or(Value::Null);
    let query = source_query(source)?;
    let described = describe(&query)?;
    find_column(&described, id, "id")?;
    let clusters_query = source_query(clusters)?;
    let cluster_columns = describe(&clusters_query)?;
    if !["id", "cluster_id"].iter().all(|needed| cluster_columns.iter().any(|c| c.name == *needed)) {
        return Err(CrmError::UndefinedColumn(format!(
            "clusters must have the columns id and cluster_id (as crm.dedupe's result has); its columns: {}",
            cluster_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let columns: Vec<String> = described.iter().map(|c| c.name.clone()).collect();
    let survivorship = parse_rules(&rules_value, &columns, id)?;
    let sql = golden_query(&query, id, &clusters_query, &survivorship)?;
    let mut rows = Vec::new();
    read_in_batches(&sql, |row| {
        let cluster = row.get::<String>(1)?.unwrap_or_default();
        let (record, lineage) = (Jsonb::copy_from(row, 2), Jsonb::copy_from(row, 3));
        rows.push((cluster, record, lineage, row.get::<i64>(4)?.unwrap_or(0)));
        Ok(true)
    })?;
    Ok(rows)
}
