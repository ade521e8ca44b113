//! Golden records: one surviving row per cluster of matched records, each column chosen by
//! a survivorship rule, with the record that gave each value (lineage).
//!
//! The work is one SQL query that Postgres runs (grouping by cluster, ordered `array_agg`s
//! with `FILTER`), so every column keeps its type through `to_jsonb` and the rules scale
//! like any `GROUP BY`. This module only writes that query: plain Rust, no Postgres. Every
//! function and operator in it is schema-qualified (`pg_catalog.`), so objects in the
//! caller's `search_path` cannot take its place.

use crate::error::{CrmError, Result};

/// How a column's surviving value is chosen among a cluster's present values (NULL and
/// blank values never survive while another value exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The value of the latest record by `recent_by`.
    MostRecent,
    /// The value most records agree on (compared case- and space-insensitively).
    MostFrequent,
    /// The longest value (as text).
    Longest,
    /// The value of the most trusted source (`trust.order`, most trusted first).
    MostTrusted,
    Min,
    Max,
    /// The value of the first record (by id).
    First,
}

pub const RULE_NAMES: &str = "'most_recent', 'most_frequent', 'longest', 'most_trusted', 'min', 'max', 'first'";

impl Rule {
    pub fn parse(argument: &str, name: &str) -> Result<Rule> {
        Ok(match name {
            "most_recent" => Rule::MostRecent,
            "most_frequent" => Rule::MostFrequent,
            "longest" => Rule::Longest,
            "most_trusted" => Rule::MostTrusted,
            "min" => Rule::Min,
            "max" => Rule::Max,
            "first" => Rule::First,
            other => return Err(CrmError::bad_argument(argument, other, RULE_NAMES)),
        })
    }
}

/// A ranked source column: `order` lists its values, most trusted first.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    pub column: String,
    pub order: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Survivorship {
    /// (column, rule) for every column of the source but the id, in source order.
    pub columns: Vec<(String, Rule)>,
    pub recent_by: Option<String>,
    pub trust: Option<Trust>,
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The query returning `(cluster_id text, record jsonb, lineage jsonb, records bigint)`:
/// `source_query` and `clusters_query` are complete SELECTs; the clusters' rows are
/// `(id, cluster_id)`; a record without one is a cluster of its own.
pub fn golden_query(source_query: &str, id: &str, clusters_query: &str, rules: &Survivorship) -> Result<String> {
    let id_q = ident(id);
    let text = "::pg_catalog.text";
    let cluster_of = format!("COALESCE(crm_k.crm_cluster, crm_s.{id_q}{text})");
    let mut window_columns = Vec::new();
    let mut ranks = Vec::new();
    let mut values = vec![(id.to_string(), "pg_catalog.to_jsonb(crm_cluster)".to_string(), "pg_catalog.to_jsonb(crm_cluster)".to_string())];
    let recent = rules.recent_by.as_deref().map(|c| format!("{} DESC NULLS LAST, ", ident(c))).unwrap_or_default();
    for (i, (column, rule)) in rules.columns.iter().enumerate() {
        let c = ident(column);
        let present = format!("{c} IS NOT NULL AND pg_catalog.btrim({c}{text}) OPERATOR(pg_catalog.<>) ''");
        let order = match rule {
            Rule::MostRecent => {
                if rules.recent_by.is_none() {
                    return Err(CrmError::InvalidArgument(format!(
                        "rule 'most_recent' for column \"{column}\" needs rules.recent_by, the column that dates each record"
                    )));
                }
                format!("{recent}{id_q}")
            }
            Rule::MostFrequent => {
                // Values agree ignoring case and spacing; among the agreeing spellings the
                // most written one wins ("Springfield" ×2 over "springfield").
                let folded = format!("pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(crm_s.{c}{text})), '[[:space:]]+', ' ', 'g')");
                window_columns.push(format!("pg_catalog.count(*) OVER (PARTITION BY {cluster_of}, {folded}) AS crm_frequency_{i}"));
                window_columns.push(format!("pg_catalog.count(*) OVER (PARTITION BY {cluster_of}, crm_s.{c}{text}) AS crm_spelling_{i}"));
                format!("crm_frequency_{i} DESC, crm_spelling_{i} DESC, {recent}{id_q}")
            }
            Rule::Longest => format!("pg_catalog.length({c}{text}) DESC, {recent}{id_q}"),
            Rule::MostTrusted => {
                let Some(trust) = &rules.trust else {
                    return Err(CrmError::InvalidArgument(format!(
                        "rule 'most_trusted' for column \"{column}\" needs rules.trust: {{\"column\": ..., \"order\": [most trusted value first, ...]}}"
                    )));
                };
                let ranking = trust.order.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ");
                format!("pg_catalog.array_position(ARRAY[{ranking}]::pg_catalog.text[], {}{text}) ASC NULLS LAST, {recent}{id_q}", ident(&trust.column))
            }
            Rule::Min => format!("{c} ASC, {id_q}"),
            Rule::Max => format!("{c} DESC, {id_q}"),
            Rule::First => id_q.clone(),
        };
        // The survivor is ranked first by a window over the whole table (one sort per
        // column): ordered aggregates would sort inside every cluster, 20x slower.
        ranks.push(format!("pg_catalog.row_number() OVER (PARTITION BY crm_cluster ORDER BY ({present}) DESC, {order}) AS crm_rank_{i}"));
        let survivor = format!("FILTER (WHERE crm_rank_{i} OPERATOR(pg_catalog.=) 1 AND {present})");
        values.push((
            column.clone(),
            // One row passes each filter: min() keeps it without building an array (array_agg
            // makes a memory context per group, most of the time on 250,000 clusters).
            format!("pg_catalog.jsonb_agg(pg_catalog.to_jsonb({c})) {survivor} OPERATOR(pg_catalog.->) 0"),
            format!("pg_catalog.to_jsonb(pg_catalog.min(crm_record) {survivor})"),
        ));
    }
    // jsonb_build_object takes at most 100 arguments: 50 columns per call, joined by ||.
    let object = |pick: &dyn Fn(&(String, String, String)) -> String| {
        values
            .chunks(50)
            .map(|chunk| {
                format!("pg_catalog.jsonb_build_object({})", chunk.iter().map(|v| format!("{}, {}", literal(&v.0), pick(v))).collect::<Vec<_>>().join(", "))
            })
            .collect::<Vec<_>>()
            .join(" OPERATOR(pg_catalog.||) ")
    };
    let record = object(&|v| v.1.clone());
    let lineage = object(&|v| v.2.clone());
    let windows = window_columns.iter().map(|w| format!(", {w}")).collect::<String>();
    let ranks = ranks.iter().map(|w| format!(", {w}")).collect::<String>();
    Ok(format!(
        "WITH crm_k AS (SELECT crm_c.id{text} AS crm_id, pg_catalog.min(crm_c.cluster_id{text}) AS crm_cluster FROM ({clusters_query}) AS crm_c GROUP BY 1), \
         crm_g AS (SELECT crm_s.*, {cluster_of} AS crm_cluster, crm_s.{id_q}{text} AS crm_record{windows} \
                   FROM ({source_query}) AS crm_s LEFT JOIN crm_k ON crm_k.crm_id OPERATOR(pg_catalog.=) crm_s.{id_q}{text}), \
         crm_r AS (SELECT crm_g.*{ranks} FROM crm_g) \
         SELECT crm_cluster, {record} AS record, {lineage} AS lineage, pg_catalog.count(*) AS records \
         FROM crm_r GROUP BY crm_cluster ORDER BY crm_cluster"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(columns: &[(&str, Rule)], recent_by: Option<&str>, trust: Option<Trust>) -> Survivorship {
        Survivorship { columns: columns.iter().map(|(c, r)| (c.to_string(), *r)).collect(), recent_by: recent_by.map(str::to_string), trust }
    }

    #[test]
    fn rules_parse_and_name_the_argument() {
        assert_eq!(Rule::parse("rules.columns.email", "most_recent").unwrap(), Rule::MostRecent);
        let e = Rule::parse("rules.columns.email", "newest").unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.message().contains("rules.columns.email") && e.message().contains("most_frequent"), "{}", e.message());
    }

    #[test]
    fn every_rule_writes_an_ordered_filtered_aggregate() {
        let trust = Trust { column: "source".into(), order: vec!["crm".into(), "o'shop".into()] };
        let r = rules(
            &[
                ("email", Rule::MostRecent),
                ("name", Rule::MostFrequent),
                ("street", Rule::Longest),
                ("phone", Rule::MostTrusted),
                ("since", Rule::Min),
                ("spend", Rule::Max),
                ("note", Rule::First),
            ],
            Some("updated_at"),
            Some(trust),
        );
        let q = golden_query("SELECT * FROM c", "id", "SELECT * FROM k", &r).unwrap();
        assert!(q.contains("DESC, \"updated_at\" DESC NULLS LAST, \"id\") AS crm_rank_0"), "{q}");
        assert!(q.contains("crm_frequency_1 DESC"), "{q}");
        assert!(q.contains("pg_catalog.length(\"street\"::pg_catalog.text) DESC"), "{q}");
        assert!(q.contains("ARRAY['crm', 'o''shop']::pg_catalog.text[]"), "{q}");
        assert!(q.contains("DESC, \"since\" ASC, \"id\")"), "{q}");
        assert!(q.contains("DESC, \"spend\" DESC, \"id\")"), "{q}");
        // nothing that a search_path could redirect: every function call is qualified
        for f in [
            "jsonb_agg(",
            "min(",
            "to_jsonb(",
            "jsonb_build_object(",
            "btrim(",
            "count(",
            "lower(",
            "length(",
            "array_position(",
            "regexp_replace(",
            "row_number(",
        ] {
            let bare = q.matches(f).count();
            let qualified = q.matches(&format!("pg_catalog.{f}")).count();
            assert_eq!(bare, qualified, "{f} unqualified in {q}");
        }
    }

    #[test]
    fn rules_needing_a_column_say_which() {
        let e = golden_query("s", "id", "k", &rules(&[("email", Rule::MostRecent)], None, None)).unwrap_err();
        assert!(e.message().contains("recent_by"), "{}", e.message());
        let e = golden_query("s", "id", "k", &rules(&[("phone", Rule::MostTrusted)], None, None)).unwrap_err();
        assert!(e.message().contains("rules.trust"), "{}", e.message());
    }

    #[test]
    fn wide_tables_are_built_in_chunks() {
        let columns: Vec<(String, Rule)> = (0..120).map(|i| (format!("c{i}"), Rule::First)).collect();
        let r = Survivorship { columns, recent_by: None, trust: None };
        let q = golden_query("s", "id", "k", &r).unwrap();
        assert!(q.matches("pg_catalog.jsonb_build_object(").count() >= 6, "{q}");
    }
}
