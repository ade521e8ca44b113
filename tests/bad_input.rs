//! A generated bad-input matrix over every public `crm.*` function.
//!
//! The functions are read from the catalog (every `pg_proc` row that belongs to extension
//! `pg_crm` through `pg_depend` deptype 'e', in schema `crm`), so a function added later is
//! covered without editing this file: it gets a baseline from its argument names and types.
//! For each function a baseline call with plausible good arguments is made, then ONE
//! argument at a time is replaced by each value of a pool of bad values for its type and
//! role (NULL, empty, 10 MB, NaN, infinities, extreme numbers, injection strings, unknown
//! and wrong-kind model names, corrupted models, degenerate sources, odd rows, malformed
//! options ...), plus the all-NULL call. Aggregates are also called as window aggregates
//! and as parallel partial aggregates (combine, serial, deserial), parallel-safe functions
//! also inside parallel workers; the crm.* settings get bad values. Trigger functions are
//! attached to tables with bad arguments instead. Every stored model kind is scored after
//! its bytes are mutated (with the checksum recomputed, so the body decoder and validators
//! see the damage); crm.scaler's binary receive function gets damaged bytes; values the
//! aggregates make from extreme inputs must read back from their text (or a dump of them
//! cannot be restored). Functions taking `internal` cannot be called from SQL at all (no
//! SQL value has that type): their calls are made and end in 42883; their code runs
//! through the aggregates.
//!
//! Each call runs in a transaction that is rolled back, under a statement_timeout. A call
//! fails when the backend crashes (the connection breaks), when it raises XX000/XX002 (an
//! internal error), XX001 (data corrupted) on anything but a deliberately corrupted model,
//! 57014 (a hang cut by the timeout) or an error with Rust panic text, when an injected
//! statement changed data, or when a value the extension made cannot be read back. After a
//! failing call `SELECT 1` must work again (on the same or a new session). The summary
//! names every failure with the SQL that reproduces it; PG_CRM_BAD_INPUT_LOG=file also
//! writes every call with its outcome.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, SimpleQueryMessage};

use common::fresh_database;

const STATEMENT_TIMEOUT: &str = "20s";

/// Sample data and models. Tables are small so that the thousands of calls stay quick.
const SETUP: &str = r#"
CREATE TABLE churn AS
SELECT i AS customer_id,
       (i % 10)::int AS calls,
       ((i * 7) % 60)::float8 AS tenure,
       (ARRAY['basic', 'plus', 'pro'])[1 + i % 3] AS plan,
       (i % 4 = 0) AS promo,
       date '2024-01-01' + (i % 365) AS signup,
       ((i % 10) * 3 + (i * 13) % 11 > 18) AS churned
FROM generate_series(1, 200) i;
CREATE TABLE empty_t AS SELECT * FROM churn WHERE false;
CREATE TABLE one_row AS SELECT * FROM churn WHERE customer_id = 1;
CREATE TABLE one_class AS SELECT customer_id, calls, tenure, plan, promo, signup, false AS churned FROM churn;
CREATE TABLE constant_t AS SELECT customer_id, 1 AS calls, 5.0::float8 AS tenure, 'basic' AS plan, false AS promo, date '2024-01-01' AS signup, churned FROM churn;
CREATE TABLE churn_nulls AS SELECT customer_id, NULL::int AS calls, NULL::float8 AS tenure, NULL::text AS plan, NULL::bool AS promo, NULL::date AS signup, churned FROM churn;
CREATE TABLE churn_badtypes AS SELECT customer_id, 'abc'::text AS calls, 'x'::text AS tenure, 42 AS plan, 'maybe'::text AS promo, 7 AS signup, churned FROM churn;
CREATE VIEW churn_view AS SELECT * FROM churn;
CREATE TABLE orders AS
SELECT 'c' || (i % 40) AS customer, 'item' || ((i * 7) % 25) AS item, 1 + i % 3 AS qty,
       timestamptz '2024-01-01 00:00:00+00' + (i || ' hours')::interval AS order_at
FROM generate_series(1, 600) i;
CREATE TABLE orders_empty AS SELECT * FROM orders WHERE false;
CREATE TABLE orders_one AS SELECT * FROM orders LIMIT 1;
CREATE TABLE orders_weird AS
SELECT customer, item, (ARRAY['NaN', 'Infinity', '-1', '0', '1e308'])[1 + i % 5]::float8 AS weight,
       (ARRAY['infinity', '-infinity', '2024-01-01'])[1 + i % 3]::timestamptz AS order_at
FROM orders, generate_series(0, 0) i;
CREATE TABLE people AS
SELECT i AS id,
       (ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve'])[1 + i % 5] || CASE WHEN i % 7 = 0 THEN 'e' ELSE '' END AS first_name,
       (ARRAY['Lee', 'Smith', 'Okafor', 'Ivanova'])[1 + (i / 5) % 4] AS last_name,
       lower((ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve'])[1 + i % 5]) || ((i / 5) % 4) || '@example.com' AS email,
       '+1415555' || lpad(((i * 37) % 10000)::text, 4, '0') AS phone,
       (ARRAY['Paris', 'Lagos', 'Lima'])[1 + i % 3] AS city
FROM generate_series(1, 40) i;
CREATE TABLE people2 AS SELECT * FROM people WHERE id % 2 = 0;
CREATE TABLE people_empty AS SELECT * FROM people WHERE false;
CREATE TABLE people_one AS SELECT * FROM people WHERE id = 1;
CREATE TABLE people_same AS SELECT i AS id, 'Ann' AS first_name, 'Lee' AS last_name, 'ann@example.com' AS email, '+14155550000' AS phone, 'Paris' AS city FROM generate_series(1, 30) i;
CREATE TABLE rfm_t AS SELECT customer, crm.rfm_agg(order_at, qty::float8, '2025-01-01') AS r FROM orders GROUP BY customer;
CREATE TABLE quint_t AS SELECT crm.rfm_quintiles(r) AS q FROM rfm_t;
CREATE TABLE scaler_t AS SELECT crm.scaler_agg(qty::float8) AS s FROM orders;
CREATE TABLE extreme_t AS SELECT (CASE WHEN g % 2 = 0 THEN 1e308 ELSE -1e308 END * (g % 7) / 7)::float8 AS x FROM generate_series(1, 100000) g;
-- the target of the injection strings: it must still hold its one row after every call
CREATE TABLE t (a int);
INSERT INTO t VALUES (1);
SELECT * FROM crm.train_classifier('churn_lr', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
SELECT * FROM crm.train_classifier('churn', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
SELECT * FROM crm.train_classifier('churn_gb', 'churn', 'churned', 'gradient_boosting', '{"key": "customer_id"}');
SELECT * FROM crm.train_classifier('churn_rf', 'churn', 'churned', 'random_forest', '{"key": "customer_id", "n_trees": 10}');
SELECT * FROM crm.train_segments('segs', 'SELECT calls, tenure FROM churn', 3);
SELECT * FROM crm.train_recommender('recs', 'orders', 'item_knn');
SELECT * FROM crm.train_recommender('recs_als', 'orders', 'als', '{"factors": 8, "iterations": 3}');
SELECT * FROM crm.train_recommender('recs_pop', 'orders', 'popular');
SELECT * FROM crm.train_classifier('dropme', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
SELECT * FROM crm.train_classifier('dropme', 'churn', 'churned', 'logistic', '{"key": "customer_id", "C": 0.5}');
-- deliberately corrupted models: changed bytes (checksum mismatch) and garbage
SELECT * FROM crm.train_classifier('fz_corrupt', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
SELECT * FROM crm.train_segments('fz_corrupt_seg', 'SELECT calls, tenure FROM churn', 3);
SELECT * FROM crm.train_recommender('fz_corrupt_rec', 'orders', 'item_knn');
SELECT * FROM crm.train_classifier('fz_garbage', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
UPDATE crm.models SET model = overlay(model PLACING '\x00ff'::bytea FROM 40) WHERE name IN ('fz_corrupt', 'fz_corrupt_seg', 'fz_corrupt_rec');
UPDATE crm.models SET model = '\xdeadbeef0102030405060708090a0b0c0d0e0f'::bytea WHERE name = 'fz_garbage';
-- models whose bytes the mutation pass rewrites
SELECT * FROM crm.train_classifier('mut_lr', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
SELECT * FROM crm.train_classifier('mut_gb', 'churn', 'churned', 'gradient_boosting', '{"key": "customer_id", "max_trees": 5}');
SELECT * FROM crm.train_classifier('mut_rf', 'churn', 'churned', 'random_forest', '{"key": "customer_id", "n_trees": 3}');
SELECT * FROM crm.train_segments('mut_seg', 'SELECT calls, tenure FROM churn', 3);
SELECT * FROM crm.train_recommender('mut_knn', 'orders', 'item_knn');
SELECT * FROM crm.train_recommender('mut_als', 'orders', 'als', '{"factors": 4, "iterations": 2}');
"#;

/// Names whose stored bytes are deliberately damaged: XX001 is the right answer there.
const CORRUPT_NAMES: &[&str] = &["fz_corrupt", "fz_garbage", "mut_"];

/// Text of a Rust panic that must never reach a client.
const PANIC_TEXT: &[&str] = &["panicked at", "called `Option::unwrap()`", "called `Result::unwrap()`", "RUST_BACKTRACE"];

// ---------------------------------------------------------------------------------------
// values and pools

/// One argument: an SQL expression, and the FROM clause it needs (a row alias), if any.
#[derive(Clone, Debug, PartialEq)]
struct Val {
    expr: String,
    from: Option<String>,
}

fn v(expr: impl Into<String>) -> Val {
    Val { expr: expr.into(), from: None }
}

fn vf(expr: &str, from: &str) -> Val {
    Val { expr: expr.into(), from: Some(from.into()) }
}

fn vals(exprs: &[&str]) -> Vec<Val> {
    exprs.iter().map(|e| v(*e)).collect()
}

/// An SQL string literal (dollar-quoted: no escaping needed for any of our strings).
fn lit(s: &str) -> String {
    assert!(!s.contains("$fz$"));
    format!("$fz${s}$fz$")
}

fn lits(strings: &[&str]) -> Vec<Val> {
    strings.iter().map(|s| v(lit(s))).collect()
}

const INJECTIONS: &[&str] =
    &["x'); DROP TABLE t; --", "x\"); DROP TABLE t; --", "'; DELETE FROM t; --", "' OR '1'='1", "\"", "$$", "$x$", "\\", "%s%n%x%p", "{}", "null", " "];

fn text_pool() -> Vec<Val> {
    let mut p = vals(&[
        "NULL",
        "''",
        "repeat('x', 10000000)",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "'1e308'",
        "'-1e308'",
        "'9223372036854775808'",
        "'-2147483649'",
        "repeat('m', 200)",
        "repeat('é', 100000)",
        "repeat(E'\\u0301', 10000)",
        r"E'\u202e\ufeff\u200b\u0301\U0001F468\u200D\U0001F469 \uFFFD \U0010FFFF \u00AD Ω≈ç√ 𝕿𝖍𝖊 ﷽ ǅ ß İ'",
        r"E'\x01\x02\x1b[31m\x7f\t\r\n\x0b\x0c'",
    ]);
    p.extend(lits(INJECTIONS));
    p
}

fn int_pool() -> Vec<Val> {
    vals(&["NULL", "0", "-1", "1", "2", "10000", "10001", "1000000", "2147483647", "-2147483648", "9223372036854775807"])
}

fn float_pool() -> Vec<Val> {
    vals(&["NULL", "'NaN'", "'Infinity'", "'-Infinity'", "1e308", "-1e308", "0", "'-0'", "5e-324", "-1", "1e-308", "123456789012345678"])
}

fn bool_pool() -> Vec<Val> {
    vals(&["NULL", "true", "false"])
}

fn timestamptz_pool() -> Vec<Val> {
    vals(&["NULL", "'infinity'", "'-infinity'", "'4713-01-01 00:00:00+00 BC'", "'294276-12-31 23:59:59+00'", "'epoch'", "now()", "'2025-01-01'"])
}

fn text_array_pool() -> Vec<Val> {
    vals(&[
        "NULL",
        "'{}'",
        "'{NULL}'",
        "ARRAY[NULL::text, NULL]",
        "ARRAY['']",
        "ARRAY(SELECT 'item' || g FROM generate_series(1, 100000) g)",
        "ARRAY[repeat('x', 10000000)]",
        "'{{item1,item2},{item3,item4}}'",
        "'[5:6]={item1,item2}'",
        "ARRAY['item1', 'item1', 'item1']",
        "ARRAY['c1', 'c2']",
        "ARRAY['no_such']",
        "ARRAY[$fz$x'); DROP TABLE t; --$fz$]",
        "ARRAY['calls', 'tenure', 'plan']",
        "ARRAY(SELECT 'c' || g FROM generate_series(1, 40) g)",
        r"ARRAY[E'\u202e\ufeff', '', NULL]",
    ])
}

fn jsonb_pool() -> Vec<Val> {
    vals(&[
        "NULL",
        "'{}'",
        "'null'",
        "'[]'",
        "'1'",
        "'\"x\"'",
        "'true'",
        "'{\"\": 1}'",
        "'{\"unknown_key\": 1}'",
        "'{\"key\": null}'",
        "repeat('[', 2000) || repeat(']', 2000)",
        "'{\"x\": \"' || repeat('y', 10000000) || '\"}'",
        "'{\"deploy\": \"yes\", \"deploy\": false}'",
    ])
}

/// Values tried for every option key (JSON text).
const OPTION_VALUES: &[&str] = &[
    "null",
    "\"x\"",
    "true",
    "false",
    "[]",
    "{}",
    "-1",
    "0",
    "-0",
    "0.5",
    "1.5",
    "1e308",
    "1e400",
    "-1e400",
    "9223372036854775808",
    "1e-320",
    "\"NaN\"",
    "\"\"",
    "\"no_such_col\"",
    "\"churned\"",
    "[\"no_such_col\"]",
    "[\"churned\"]",
    "[[]]",
    "[[\"no_such_col\"]]",
    "\"x'); DROP TABLE t; --\"",
];

const MODEL_NAMES: &[&str] = &[
    "no_such_model",
    "churn_lr",
    "churn_gb",
    "churn_rf",
    "segs",
    "recs",
    "recs_als",
    "recs_pop",
    "fz_corrupt",
    "fz_garbage",
    "fz_corrupt_seg",
    "fz_corrupt_rec",
    "CHURN_LR",
    "crm.churn_lr",
    " churn_lr",
    "churn_lr ",
    "churn",
    "dropme",
];

const SOURCES: &[&str] = &[
    "churn",
    "empty_t",
    "one_row",
    "one_class",
    "constant_t",
    "churn_nulls",
    "churn_badtypes",
    "churn_view",
    "orders",
    "orders_empty",
    "orders_one",
    "orders_weird",
    "people",
    "people_empty",
    "people_one",
    "people_same",
    "no_such_table",
    "public.no_such",
    "crm.models",
    "crm.deployments",
    "pg_catalog.pg_namespace",
    "t",
    "\"churn\"",
    "CHURN",
    "churn c",
    "SELECT * FROM churn WHERE false",
    "SELECT 1",
    "VALUES (1, true), (2, false)",
    "TABLE churn",
    "(SELECT * FROM churn)",
    "  ( ( SELECT * FROM churn ) )",
    "\tSELECT * FROM churn",
    "WITH x AS (SELECT * FROM churn) SELECT * FROM x",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "DELETE FROM t",
    "UPDATE t SET a = 0 RETURNING *",
    "INSERT INTO t VALUES (2) RETURNING *",
    "DROP TABLE t",
    "TRUNCATE t",
    "SELECT 1) s; DROP TABLE t; --",
    "SELECT * FROM churn) s; DELETE FROM t; SELECT * FROM (SELECT 1",
    "SELECT * FROM churn) s; DELETE FROM t; --",
    "churn; DROP TABLE t; --",
    "x'); DROP TABLE t; --",
    "SELECT",
    "SELECT * FROM",
    "(",
    "select/**/1",
    "SELECT * FROM churn FOR UPDATE",
    "SELECT * FROM generate_series(1, 3) g",
    "SELECT customer_id, churned FROM churn",
    "SELECT churned FROM churn",
    "SELECT calls AS a, calls AS a, churned FROM churn",
    "SELECT NULL AS a, churned FROM churn",
    "SELECT ROW(1, 2) AS r, ARRAY[1] AS arr, '{}'::jsonb AS j, churned FROM churn",
    "SELECT calls, churned::int AS churned FROM churn",
    "SELECT calls, CASE WHEN churned THEN 'yes' ELSE 'no' END AS churned FROM churn",
    "SELECT calls, plan AS churned FROM churn",
    "SELECT calls, NULL::bool AS churned FROM churn",
    "SELECT 'NaN'::float8 AS calls, 'Infinity'::float8 AS tenure, churned FROM churn",
    "SELECT 1e308::float8 * (customer_id % 2) AS calls, -1e308::float8 AS tenure, churned FROM churn",
    "SELECT repeat('x', 100000) || customer_id AS plan, churned FROM churn",
    "SELECT customer_id::text AS customer, plan AS item FROM churn",
    "SELECT customer, item, 'NaN'::float8 AS weight FROM orders",
    "SELECT customer, item, -1 AS weight FROM orders",
    "SELECT customer, item, 'infinity'::timestamptz AS order_at FROM orders",
    "SELECT NULL::text AS customer, item FROM orders",
    "SELECT id, NULL::text AS first_name, NULL::text AS last_name FROM people",
    "SELECT 1 AS id, first_name FROM people",
    "SELECT NULL::int AS id, first_name FROM people",
    "EXPLAIN SELECT 1",
    "SHOW ALL",
    "COPY t TO STDOUT",
];

const COLUMNS: &[&str] = &[
    "churned",
    "customer_id",
    "plan",
    "tenure",
    "signup",
    "promo",
    "calls",
    "no_such_col",
    "Churned",
    "\"churned\"",
    "churned, calls",
    "id",
    "email",
    "customer",
    "item",
    "order_at",
    "*",
    "churned)",
    "ctid",
    "xmin",
    "tableoid",
];

/// Rows for `anyelement` arguments: scalars, NULL rows, empty rows, rows of other tables,
/// rows with missing, extra, wrongly typed or extreme columns, whole-row values that the
/// planner rewrite cannot see through.
fn row_pool() -> Vec<Val> {
    let mut p = vals(&[
        "NULL::churn",
        "ROW()",
        "ROW(1, 'a')",
        "1",
        "'x'::text",
        "NULL::int",
        "ARRAY[1, 2]",
        "'{\"calls\": 1}'::jsonb",
        "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL)::churn",
        "(SELECT c FROM churn c ORDER BY customer_id LIMIT 1)",
        "(SELECT c FROM churn c WHERE false)",
        "(SELECT s FROM scaler_t)",
        "(SELECT r FROM rfm_t LIMIT 1)",
    ]);
    p.extend([
        vf("c", "FROM churn_badtypes c"),
        vf("c", "FROM churn_view c"),
        vf("c", "FROM churn_nulls c"),
        vf("c", "FROM (SELECT calls, tenure FROM churn) c"),
        vf("c", "FROM (SELECT * FROM churn) c"),
        vf("j", "FROM churn c LEFT JOIN churn j ON false"),
        vf("o", "FROM orders o"),
        vf("p", "FROM people p"),
        vf("c", "FROM (SELECT 1) c"),
        vf("ROW(c.calls, c.tenure)", "FROM churn c"),
        vf("ROW(c.*)::churn", "FROM churn c"),
        vf("c", "FROM (SELECT *, 1 AS extra, calls AS calls2 FROM churn) c"),
        vf("c", "FROM (SELECT customer_id, calls::text AS calls, tenure::text AS tenure, plan, promo, signup FROM churn) c"),
        vf(
            "c",
            "FROM (SELECT 'NaN'::float8 AS calls, 'Infinity'::float8 AS tenure, repeat('p', 100000) AS plan, NULL::bool AS promo, 'infinity'::date AS signup) c",
        ),
        vf("c", "FROM (SELECT -1e308::float8 AS calls, 1e308::float8 AS tenure, '' AS plan, true AS promo, '-infinity'::date AS signup) c"),
        vf(
            "c",
            "FROM (SELECT calls::numeric AS calls, tenure::real AS tenure, plan::varchar AS plan, promo::int AS promo, signup::timestamptz AS signup FROM churn) c",
        ),
        vf(
            "c",
            "FROM (SELECT 99999999999999999999999999999::numeric AS calls, 'NaN'::numeric AS tenure, plan, promo, '294276-12-31'::timestamp AS signup FROM churn) c",
        ),
        vf("c", "FROM (SELECT ARRAY[calls] AS calls, ROW(tenure) AS tenure, plan::bytea AS plan, promo, signup FROM churn) c"),
        vf("m", "FROM (WITH m AS MATERIALIZED (SELECT * FROM churn) SELECT * FROM m) m"),
    ]);
    p
}

fn cstring_like_pool(valid: &[&str]) -> Vec<Val> {
    let mut p = text_pool();
    p.extend(lits(valid));
    p
}

const SCALER_TEXTS: &[&str] = &[
    r#"{"method":"zscore","n":0,"mean":0,"stddev":0,"min":0,"max":0}"#,
    r#"{"method":"zscore","n":-1,"mean":1,"stddev":1,"min":0,"max":2}"#,
    r#"{"method":"zscore","n":5,"mean":1,"stddev":-1,"min":0,"max":2}"#,
    r#"{"method":"zscore","n":5,"mean":1e308,"stddev":1e-320,"min":-1e308,"max":1e308}"#,
    r#"{"method":"zscore","n":5,"mean":"NaN","stddev":"Infinity","min":0,"max":2}"#,
    r#"{"method":"zscore","n":5,"mean":null,"stddev":null,"min":null,"max":null}"#,
    r#"{"method":"minmax","n":5,"mean":1,"stddev":1,"min":3,"max":1}"#,
    r#"{"method":"minmax","n":5,"mean":1,"stddev":1,"min":1,"max":1}"#,
    r#"{"method":"robust","n":5,"mean":1,"stddev":1,"min":0,"max":2}"#,
    r#"{"method":"robust","n":5,"mean":1,"stddev":1,"min":0,"max":2,"median":1,"q1":3,"q3":1}"#,
    r#"{"method":"robust","n":5,"mean":1,"stddev":1,"min":0,"max":2,"median":1,"q1":1,"q3":1}"#,
    r#"{"method":"median","n":5,"mean":1,"stddev":1,"min":0,"max":2}"#,
    r#"{"method":"zscore","n":18446744073709551616,"mean":1,"stddev":1,"min":0,"max":2}"#,
    r#"{"method":"zscore","n":1e400,"mean":1,"stddev":1,"min":0,"max":2}"#,
    r#"{"method":"zscore","n":5,"mean":1,"stddev":1,"min":0,"max":2,"extra":[1,2,3]}"#,
    r#"{"method":"zscore"}"#,
    r#"{}"#,
    r#"[]"#,
    r#"[1,2,3]"#,
    r#"{"method":"zscore","n":5,"mean":1,"stddev":1,"min":0,"max":2"#,
];

const QUINTILE_TEXTS: &[&str] = &[
    r#"{"n":0,"recency":[],"frequency":[],"monetary":[]}"#,
    r#"{"n":5,"recency":[1,2,3],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#,
    r#"{"n":5,"recency":[1,2,3,4,5],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#,
    r#"{"n":5,"recency":[4,3,2,1],"frequency":[4,3,2,1],"monetary":[4,3,2,1]}"#,
    r#"{"n":5,"recency":["NaN","NaN","NaN","NaN"],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#,
    r#"{"n":-5,"recency":[1,2,3,4],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#,
    r#"{"n":5,"recency":[null,null,null,null],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#,
    r#"{"n":5,"recency":[1e308,1e308,1e308,1e308],"frequency":[-1e308,0,0,1e308],"monetary":[1,2,3,4]}"#,
    r#"{"n":5,"recency":null,"frequency":null,"monetary":null}"#,
    r#"{"n":5}"#,
    r#"{}"#,
    r#"{"n":5,"recency":[1,2,3,4],"frequency":[1,2,3,4],"monetary":[1,2,3,4],"extra":1}"#,
];

fn scaler_pool() -> Vec<Val> {
    let mut p = vals(&[
        "NULL",
        "(SELECT s FROM scaler_t)",
        "(SELECT crm.scaler_agg(qty::float8, 'robust') FROM orders)",
        "(SELECT crm.scaler_agg(qty::float8, 'minmax') FROM orders)",
        "(SELECT crm.scaler_agg(1.0::float8) FROM orders)",
        "(SELECT crm.scaler_agg(x) FROM (VALUES (1e308::float8), (-1e308), (5e-324)) v(x))",
        "(SELECT crm.scaler_agg(x, 'robust') FROM (VALUES (1e308::float8), (-1e308), (5e-324), (0)) v(x))",
        "(SELECT crm.scaler_agg(x) FROM (VALUES ('NaN'::float8)) v(x))",
    ]);
    p.extend(SCALER_TEXTS.iter().map(|s| v(lit(s))));
    p
}

fn rfm_pool() -> Vec<Val> {
    vals(&[
        "NULL",
        "(SELECT r FROM rfm_t ORDER BY customer LIMIT 1)",
        "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "ROW('NaN', -1, -2, 'Infinity', '-Infinity', 'infinity', '-infinity', 'NaN', -5, 'infinity')",
        "ROW(1e308, 9223372036854775807, 9223372036854775807, 1e308, -1e308, '4713-01-01 BC', '294276-12-31', 1e308, 9223372036854775807, '294276-12-31')",
        "ROW(-1, -9223372036854775808, -9223372036854775808, -1, -1, now(), now() - interval '1 day', -1, 0, now())",
        "ROW(0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL)",
    ])
}

fn quintiles_pool() -> Vec<Val> {
    let mut p = vals(&[
        "NULL",
        "(SELECT q FROM quint_t)",
        "(SELECT crm.rfm_quintiles(r) FROM rfm_t WHERE false)",
        "(SELECT crm.rfm_quintiles(r) FROM rfm_t LIMIT 1)",
        "(SELECT crm.rfm_quintiles('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8))",
    ]);
    p.extend(QUINTILE_TEXTS.iter().map(|s| v(lit(s))));
    p
}

/// Extra text values by argument role.
fn role_pool(function: &str, arg: &str) -> Vec<Val> {
    let model_functions = [
        "score",
        "churn_score",
        "explain",
        "coefficients",
        "score_batch",
        "score_columns",
        "deploy",
        "drop_model",
        "segment",
        "segment_distance",
        "segment_profile",
        "recommend",
        "recommend_all",
        "similar_items",
        "train_classifier",
        "train_segments",
        "train_recommender",
    ];
    match arg {
        "name" if model_functions.contains(&function) => {
            let mut p = lits(MODEL_NAMES);
            p.push(v("repeat('m', 63)"));
            p.push(v("repeat('m', 64)"));
            p
        }
        "source" | "left_source" | "right_source" => lits(SOURCES),
        "target" | "id" | "key" => lits(COLUMNS),
        "algorithm" => lits(&[
            "auto",
            "logistic",
            "gradient_boosting",
            "random_forest",
            "ensemble",
            "LOGISTIC",
            " logistic ",
            "popular",
            "popularity",
            "item_knn",
            "itemknn",
            "knn",
            "als",
            "ALS",
            "nope",
        ]),
        "method" => lits(&["jaro_winkler", "jaro", "levenshtein", "jaccard", "JARO", "zscore", "minmax", "robust", "ROBUST", "median", "nope"]),
        "field_order" => lits(&["YMD", "DMY", "MDY", "ymd", "DYM", "YYYY", "Y"]),
        "default_region" => lits(&["GB", "gb", "XX", "001", "ZZ", "AQ", "U", "USA", "DE", "IN"]),
        "customer" => lits(&["c1", "c999", "c39", "C1", " c1"]),
        "item" => lits(&["item3", "item999", "item0", "ITEM3"]),
        "raw" => raw_pool(function),
        "a" | "b" => vals(&["repeat('a', 70000)", "repeat('ab', 40000)", "repeat(E'\\u0301', 70000)", "'Jonathan'", "'ā'"]),
        _ => vec![],
    }
}

fn raw_pool(function: &str) -> Vec<Val> {
    let strings: &[&str] = match function {
        "clean_email" => &[
            "a@b",
            "a@b.c",
            "@",
            "a@@b.com",
            "mailto:?",
            "\"x\"@y.com",
            "a@[127.0.0.1]",
            "<<<>>>",
            "a@xn--",
            "a@xn--zzzzz.com",
            "ä@ö.ü",
            "a@b.c; d@e.f",
            "a [at] b [dot] com",
            "ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            "mailto:",
            "\"Ann\" <>",
        ],
        "clean_phone" => &[
            "+",
            "++1",
            "00",
            "+1 (000) 000-0000 ext. 99999999999999999999",
            "tel:",
            "+999999999999999999999",
            "+8869",
            "0",
            "#",
            "x12",
            "(((((",
            "+44 (0) 20",
            "00000000000000000000000000000000",
        ],
        "clean_name" => &["O'", "Mc", "Mac", ",", ", , ,", "Jr., Sr.", "III", "de la", "Dr.", "Mr Mrs Ms", "ǅ", "ß", "ŉ", "İstanbul", "Smith, , John"],
        "parse_date" => &[
            "2021-02-30",
            "0000-00-00",
            "99999-12-31",
            "31/12/9999",
            "29 Feb 1900",
            "20210230",
            "-1",
            "Mar 4, 99999999999",
            "4th",
            "1/1/1",
            "32/13/2021",
            "2021-13-01T25:61:61Z",
            "00/00/00",
            "9999999999",
            "Feb 31st 2021",
            "1. 1. 1",
            "Monday",
            "18446744073709551616-01-01",
        ],
        "phonetic_key" => &["Ç", "ẞ", "Xx", "Wr", "Schmidt", "Ghislaine", "---", "ĳ", "Ҁ", "Mc'Mac-O'"],
        "clean_postcode" => &["〒", "ZIP", "D-", "GIR", "00000", "K1A0B1K1A0B1", "１２３４５", "-", " - ", "PLZ:"],
        "parse_address" | "normalize_address" | "address_key" => {
            &[",,,", "#", "5/", "/5", "Apt", "Co.", "丁目", "号", "〒-", "市区路号", "서울 ", "1-", "12 St", "No. No. No.", ", IL 62704", "USA"]
        }
        _ => &[],
    };
    let mut p = lits(strings);
    match function {
        "clean_email" => p.extend(vals(&["repeat('a', 70) || '@x.com'", "'x@' || repeat('a.', 5000) || 'com'", "repeat('a@b.c; ', 100000)"])),
        "clean_phone" => p.extend(vals(&["repeat('9', 100000)", "repeat('+1 ', 100000)"])),
        "clean_name" => p.extend(vals(&["repeat('Mc', 100000)", "repeat('Smith, ', 100000)"])),
        "parse_date" => p.extend(vals(&["repeat('1', 100000)", "repeat('Mar ', 100000)"])),
        "phonetic_key" => p.extend(vals(&["repeat('Schwarzenegger ', 100000)"])),
        _ => {}
    }
    p
}

fn type_pool(ty: &str) -> Vec<Val> {
    match ty {
        "text" | "cstring" => text_pool(),
        "integer" | "bigint" | "smallint" => int_pool(),
        "double precision" | "real" => float_pool(),
        "boolean" => bool_pool(),
        "timestamp with time zone" => timestamptz_pool(),
        "text[]" => text_array_pool(),
        "jsonb" => jsonb_pool(),
        "anyelement" => row_pool(),
        "crm.scaler" => scaler_pool(),
        "crm.rfm" => rfm_pool(),
        "crm.rfm_quintiles" => quintiles_pool(),
        "bytea" => vals(&["NULL", "'\\x'", "'\\x00'", "'\\xffffffffffffffffff'", "decode(repeat('00', 1000000), 'hex')"]),
        "internal" => vals(&["NULL"]),
        _ => vals(&["NULL"]),
    }
}

// ---------------------------------------------------------------------------------------
// the functions and their baselines

#[derive(Debug)]
struct Func {
    name: String,
    signature: String,
    kind: String,
    returns: String,
    parallel_safe: bool,
    args: Vec<(String, String)>,
}

fn load_functions(c: &mut Client) -> Vec<Func> {
    let rows = c
        .query(
            r#"
SELECT p.proname::text, p.oid::regprocedure::text, p.prokind::text, format_type(p.prorettype, NULL), p.proparallel = 's',
       ARRAY(SELECT format_type(u.t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY u.i),
       ARRAY(SELECT coalesce(a.n, '') FROM unnest(coalesce(p.proargnames, '{}'::text[]), coalesce(p.proargmodes, '{}'::"char"[]))
                    WITH ORDINALITY a(n, m, i) WHERE a.m IS NULL OR a.m IN ('i', 'b', 'v') ORDER BY a.i)
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND e.extname = 'pg_crm'
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'crm'
ORDER BY 2"#,
            &[],
        )
        .unwrap();
    rows.iter()
        .map(|r| {
            let types: Vec<String> = r.get(5);
            let names: Vec<String> = r.get(6);
            let args =
                types.iter().enumerate().map(|(i, t)| (names.get(i).filter(|n| !n.is_empty()).cloned().unwrap_or(format!("arg{i}")), t.clone())).collect();
            Func { name: r.get(0), signature: r.get(1), kind: r.get(2), returns: r.get(3), parallel_safe: r.get(4), args }
        })
        .collect()
}

const SCORE_COLUMNS: &str = "ARRAY['calls', 'tenure', 'plan', 'promo', 'signup']";
const SCORE_VALUES: &str = "c.calls, c.tenure, c.plan, c.promo, c.signup";

/// A plausible good value for an argument.
fn base_value(function: &str, arg: &str, ty: &str) -> Val {
    let churn = |e: &str| vf(e, "FROM churn c");
    let orders = |e: &str| vf(e, "FROM orders o");
    let rfm = |e: &str| vf(e, "FROM rfm_t t");
    match (function, arg) {
        ("score" | "explain" | "coefficients" | "score_batch" | "score_columns" | "deploy", "name") => v("'churn_lr'"),
        ("segment" | "segment_distance" | "segment_profile" | "segment_batch", "name") => v("'segs'"),
        ("recommend" | "recommend_all" | "similar_items", "name") => v("'recs'"),
        ("drop_model", "name") => v("'dropme'"),
        (f, "name") if f.starts_with("train_") => v("'fz_new'"),
        ("train_classifier" | "score_batch" | "segment_batch", "source") => v("'churn'"),
        ("train_segments", "source") => v("'SELECT calls, tenure FROM churn'"),
        ("train_recommender", "source") => v("'orders'"),
        ("dedupe" | "golden_records", "source") | ("link", "left_source") => v("'people'"),
        ("golden_records", "clusters") => v("'SELECT id, id AS cluster_id FROM people'"),
        ("golden_records", "id") => v("'id'"),
        ("link", "right_source") => v("'people2'"),
        (_, "target") => v("'churned'"),
        ("dedupe" | "link", "id") => v("'id'"),
        ("score_batch" | "segment_batch", "key") => v("'customer_id'"),
        ("train_classifier", "algorithm") => v("'logistic'"),
        ("train_recommender", "algorithm") => v("'item_knn'"),
        ("train_classifier", "options") => v("'{\"key\": \"customer_id\"}'"),
        (_, "options") => v("'{}'"),
        (_, "row") => churn("c"),
        ("score_columns" | "churn_score_columns", "column_names") => churn(SCORE_COLUMNS),
        ("score_columns" | "churn_score_columns", "columns") => churn(SCORE_VALUES),
        ("explain", "top") => v("3"),
        ("train_segments", "k") => v("3"),
        (_, "k") => v("5"),
        ("deploy", "version") => v("1"),
        ("drop_model", "version") => v("2"),
        ("deploy", "reason") => v("'fuzz'"),
        ("drop_model", "force") => v("false"),
        ("recommend", "customer") => v("'c1'"),
        ("similar_items", "item") => v("'item3'"),
        (_, "exclude_seen") => v("true"),
        (_, "exclude") => v("ARRAY['item1']"),
        (_, "candidates") => v("NULL"),
        (_, "customers") => v("ARRAY['c1', 'c2', 'c3']"),
        ("clean_email", "raw") => v(lit("\"Ann Lee\" <Ann.Lee@Example.COM>")),
        ("clean_phone", "raw") => v("'(415) 555-0132'"),
        ("clean_name", "raw") => v("'MCDONALD, RONALD'"),
        ("clean_text", "raw") => v(r"E'  Hello\t\u00a0 world\u200b  '"),
        ("parse_date", "raw") => v("'Mar 4, 2021'"),
        ("phonetic_key", "raw") => v("'Jon Smyth'"),
        ("clean_postcode", "raw") => v("'02139-4307'"),
        ("parse_address" | "normalize_address" | "address_key", "raw") => v("'123 N Main St Apt 4B, Springfield, IL 62704'"),
        ("clean_postcode" | "parse_address" | "normalize_address" | "address_key", "country") => v("'US'"),
        ("clean_phone", "default_region") => v("'US'"),
        ("parse_date", "field_order") => v("'YMD'"),
        ("similarity", "a") => v("'Jonathan'"),
        ("similarity", "b") => v("'Jonathon'"),
        ("similarity", "method") => v("'jaro_winkler'"),
        ("scaler_agg", "x") => orders("o.qty::float8"),
        ("scaler_agg", "method") => v("'zscore'"),
        ("scale", "x") | ("unscale", "y") => v("1.5"),
        ("rfm_agg", "order_at") => orders("o.order_at"),
        ("rfm_agg", "amount") => orders("o.qty::float8"),
        ("rfm_agg", "as_of") => v("'2025-01-01'"),
        ("rfm_quintiles" | "rfm_score", "summary") => rfm("t.r"),
        ("rfm_quintiles" | "rfm_score", "recency_days") => rfm("(t.r).recency_days"),
        ("rfm_quintiles" | "rfm_score", "frequency") => rfm("(t.r).frequency::float8"),
        ("rfm_quintiles" | "rfm_score", "monetary") => rfm("(t.r).monetary_total"),
        ("rfm_segment", "r") => v("3"),
        ("rfm_segment", "f") => v("4"),
        ("rfm_segment", "m") => v("5"),
        ("scaler_in", _) => v(lit(r#"{"method":"zscore","n":600,"mean":2.0,"stddev":0.8,"min":1.0,"max":3.0}"#)),
        ("rfm_quintiles_in", _) => v(lit(r#"{"n":40,"recency":[1,2,3,4],"frequency":[1,2,3,4],"monetary":[1,2,3,4]}"#)),
        _ => match ty {
            "crm.scaler" => v("(SELECT s FROM scaler_t)"),
            "crm.rfm_quintiles" => v("(SELECT q FROM quint_t)"),
            "crm.rfm" => v("(SELECT r FROM rfm_t ORDER BY customer LIMIT 1)"),
            "text" | "cstring" => v("'x'"),
            "integer" | "bigint" | "smallint" => v("1"),
            "double precision" | "real" => v("1.0"),
            "boolean" => v("true"),
            "timestamp with time zone" => v("'2025-01-01'"),
            "text[]" => v("ARRAY['x']"),
            "jsonb" => v("'{}'"),
            "anyelement" => churn("c"),
            "bytea" => v("'\\x00'"),
            _ => v("NULL"),
        },
    }
}

/// The tail of an aggregate call's query (grouping) and its window form.
fn aggregate_shape(function: &str) -> (&'static str, &'static str) {
    match function {
        "rfm_agg" => ("GROUP BY o.customer", "OVER (PARTITION BY o.customer ORDER BY o.order_at)"),
        "rfm_quintiles" => ("", "OVER (ORDER BY t.customer)"),
        _ => ("", "OVER (ORDER BY o.order_at)"),
    }
}

/// Per-key option variations: (key, algorithm override for the third/fourth argument).
fn option_keys(function: &str) -> Vec<(&'static str, Option<&'static str>)> {
    fn with(keys: &[&'static str], algorithm: Option<&'static str>) -> Vec<(&'static str, Option<&'static str>)> {
        keys.iter().map(|k| (*k, algorithm)).collect()
    }
    match function {
        "train_classifier" => [
            with(
                &["test_fraction", "seed", "split", "refit", "exclude", "key", "positive", "class_weight", "max_levels", "min_level_count"],
                Some("'logistic'"),
            ),
            with(&["C", "max_iter", "tol"], Some("'logistic'")),
            with(&["max_trees", "learning_rate", "l2_regularization", "early_stopping", "early_stopping_rounds"], Some("'gradient_boosting'")),
            with(&["n_trees", "max_features", "max_depth", "bootstrap"], Some("'random_forest'")),
            with(&["max_leaves", "min_samples_leaf"], Some("'ensemble'")),
        ]
        .concat(),
        "train_segments" => {
            with(&["features", "exclude", "key", "id", "log1p", "n_init", "max_iter", "tol", "seed", "k_min", "k_max", "silhouette_sample", "deploy"], None)
        }
        "train_recommender" => [
            with(
                &["customer", "item", "weight", "time", "neighbours", "similarity", "shrinkage", "test_fraction", "min_interactions", "evaluate", "deploy"],
                Some("'item_knn'"),
            ),
            with(&["factors", "regularization", "scale_regularization", "alpha", "iterations", "cg_steps", "seed"], Some("'als'")),
        ]
        .concat(),
        "dedupe" | "link" => with(&["columns", "exclude", "threshold", "blocking", "max_block", "max_pairs", "seed", "kinds", "country"], None),
        _ => vec![],
    }
}

/// The variadic "any" tails of score_columns / churn_score_columns.
fn variadic_pool() -> Vec<Val> {
    let many = vec!["c.calls"; 97].join(", ");
    let too_many = vec!["c.calls"; 99].join(", ");
    let churn = |e: &str| vf(e, "FROM churn c");
    vec![
        churn(""),
        churn("c.calls"),
        churn("c.calls, c.tenure, c.plan, c.promo, c.signup, c.customer_id"),
        churn("c.plan, c.tenure, c.calls, c.promo, c.signup"),
        churn("NULL, NULL, NULL, NULL, NULL"),
        churn("'1', '2', 'basic', 'true', '2024-01-01'"),
        churn("NULL::float8, NULL::float8, NULL::text, NULL::bool, NULL::date"),
        churn("c.calls::text, c.tenure::text, c.plan, c.promo::text, c.signup::text"),
        churn("c.calls::numeric, c.tenure::real, c.plan::varchar, c.promo, c.signup::timestamp"),
        churn("c.calls::int8, c.tenure::int2, c.plan::name, c.promo, c.signup::timestamptz"),
        churn("ROW(1, 2), ARRAY[1], '{}'::jsonb, (SELECT s FROM scaler_t), c"),
        churn("VARIADIC ARRAY[1.0, 2.0]"),
        churn("VARIADIC ARRAY['a', 'b', 'c', 'd', 'e']"),
        churn("VARIADIC NULL::int[]"),
        churn("VARIADIC '{}'::int[]"),
        churn("'NaN'::float8, 'Infinity'::float8, repeat('x', 10000000), NULL::bool, 'infinity'::date"),
        churn("1e308::float8, -1e308::float8, '', true, '-infinity'::date"),
        churn("99999999999999999999999999999::numeric, 'NaN'::numeric, c.plan, c.promo, '294276-12-31'::timestamp"),
        churn("c.signup, c.signup, c.signup, c.signup, c.signup"),
        churn(&many),
        churn(&too_many),
    ]
}

fn score_column_names_pool() -> Vec<Val> {
    let mut p = text_array_pool();
    p.extend(vals(&[
        "ARRAY['calls', 'tenure']",
        "ARRAY['calls', 'tenure', 'plan', 'promo', 'signup', 'extra']",
        "ARRAY['calls', 'calls', 'calls', 'calls', 'calls']",
        "ARRAY[NULL, 'tenure', 'plan', 'promo', 'signup']",
        "ARRAY['CALLS', 'TENURE', 'PLAN', 'PROMO', 'SIGNUP']",
        "'{{calls,tenure},{plan,promo}}'",
        "'[0:4]={calls,tenure,plan,promo,signup}'",
    ]));
    p
}

// ---------------------------------------------------------------------------------------
// calls

#[derive(Clone, Debug)]
struct Call {
    function: String,
    prelude: Vec<String>,
    sql: String,
    baseline: bool,
}

impl Call {
    fn corrupt_ok(&self) -> bool {
        CORRUPT_NAMES.iter().any(|n| self.sql.contains(n) || self.prelude.iter().any(|p| p.contains(n)))
    }
}

fn cast(ty: &str, expr: &str) -> String {
    match ty {
        "anyelement" | "\"any\"" | "internal" => expr.to_string(),
        _ => format!("({expr})::{ty}"),
    }
}

/// `SELECT count(*), max(length(r)) FROM (SELECT (call)::text AS r FROM ... ) s`: every
/// result row's value is computed and turned into text (so output functions run too), and
/// only one small row comes back.
fn render(f: &Func, args: &[Val], tail: &str, window: Option<&str>) -> String {
    let mut parts = Vec::new();
    for ((_, ty), val) in f.args.iter().zip(args) {
        if ty == "\"any\"" && val.expr.is_empty() {
            continue;
        }
        parts.push(cast(ty, &val.expr));
    }
    let mut call = format!("crm.{}({})", f.name, parts.join(", "));
    if let Some(w) = window {
        call = format!("{call} {w}");
    }
    let value = if f.returns == "internal" { format!("(({call}) IS NULL)::text") } else { format!("({call})::text") };
    let from = args.iter().find_map(|a| a.from.clone()).unwrap_or_default();
    let tail = if from.is_empty() { "" } else { tail };
    let mut sql = format!("SELECT count(*), max(length(r)) FROM (SELECT {value} AS r");
    for part in [from.as_str(), tail] {
        if !part.is_empty() {
            sql.push(' ');
            sql.push_str(part);
        }
    }
    sql.push_str(") s");
    sql
}

fn option_json(base: &[(&str, &str)], key: &str, value: &str) -> String {
    let mut fields: Vec<String> = base.iter().filter(|(k, _)| *k != key).map(|(k, v)| format!("\"{k}\": {v}")).collect();
    fields.push(format!("\"{key}\": {value}"));
    format!("{{{}}}", fields.join(", "))
}

const FORCE_PARALLEL: &[&str] = &["SET LOCAL force_parallel_mode = on", "SET LOCAL parallel_setup_cost = 0", "SET LOCAL parallel_tuple_cost = 0"];
const PARTIAL_AGGREGATE: &[&str] = &[
    "SET LOCAL parallel_setup_cost = 0",
    "SET LOCAL parallel_tuple_cost = 0",
    "SET LOCAL min_parallel_table_scan_size = 0",
    "SET LOCAL max_parallel_workers_per_gather = 2",
];

fn matrix(functions: &[Func]) -> Vec<Call> {
    let mut calls = Vec::new();
    for f in functions.iter().filter(|f| f.returns != "trigger") {
        let base: Vec<Val> = f.args.iter().map(|(n, t)| base_value(&f.name, n, t)).collect();
        let aggregate = f.kind == "a";
        let (tail, window) = if aggregate { aggregate_shape(&f.name) } else { ("", "") };
        let mut arg_lists: Vec<Vec<Val>> = vec![base.clone()];
        for (i, (arg, ty)) in f.args.iter().enumerate() {
            let mut pool = match (f.name.as_str(), arg.as_str()) {
                ("score_columns" | "churn_score_columns", "columns") => variadic_pool(),
                ("score_columns" | "churn_score_columns", "column_names") => score_column_names_pool(),
                ("scaler_in", _) => cstring_like_pool(SCALER_TEXTS),
                ("rfm_quintiles_in", _) => cstring_like_pool(QUINTILE_TEXTS),
                _ => type_pool(ty),
            };
            pool.extend(role_pool(&f.name, arg));
            let mut seen = vec![base[i].clone()];
            for val in pool {
                if seen.contains(&val) {
                    continue;
                }
                seen.push(val.clone());
                let mut args = base.clone();
                args[i] = val;
                arg_lists.push(args);
            }
        }
        // per-key options, each with the algorithm that reads the key
        let algorithm_index = f.args.iter().position(|(n, _)| n == "algorithm");
        let options_index = f.args.iter().position(|(n, _)| n == "options");
        if let Some(oi) = options_index {
            let base_options: &[(&str, &str)] = if f.name == "train_classifier" { &[("key", "\"customer_id\"")] } else { &[] };
            for (key, algorithm) in option_keys(&f.name) {
                for value in OPTION_VALUES {
                    let mut args = base.clone();
                    args[oi] = v(lit(&option_json(base_options, key, value)));
                    if let (Some(ai), Some(alg)) = (algorithm_index, algorithm) {
                        args[ai] = v(alg);
                    }
                    if f.name == "train_segments" && (key.starts_with("k_") || key == "silhouette_sample") {
                        if let Some(ki) = f.args.iter().position(|(n, _)| n == "k") {
                            args[ki] = v("NULL");
                        }
                    }
                    arg_lists.push(args);
                }
            }
            // blocking rules of dedupe/link
            if f.name == "dedupe" || f.name == "link" {
                for rules in ["[[\"city\"]]", "[[\"no_such\"]]", "[[\"first_name\", \"last_name\"]]", "\"city\"", "[[\"city\"], \"x\"]", "[[1]]", "[[null]]"] {
                    let mut args = base.clone();
                    args[oi] = v(lit(&format!("{{\"blocking\": {rules}}}")));
                    arg_lists.push(args);
                }
            }
        }
        let mut push = |function: &str, prelude: &[&str], sql: String, baseline: bool| {
            calls.push(Call { function: function.to_string(), prelude: prelude.iter().map(|s| s.to_string()).collect(), sql, baseline })
        };
        for (i, args) in arg_lists.iter().enumerate() {
            push(&f.signature, &[], render(f, args, tail, None), i == 0);
            if aggregate {
                push(&f.signature, &[], render(f, args, "", Some(window)), false);
                push(&f.signature, PARTIAL_AGGREGATE, render(f, args, tail, None), false);
            }
            if f.parallel_safe && !f.args.is_empty() {
                push(&f.signature, FORCE_PARALLEL, render(f, args, tail, None), false);
            }
        }
        // the all-NULL call
        let nulls: Vec<Val> = f.args.iter().map(|(_, t)| if t == "\"any\"" { v("NULL, NULL") } else { v("NULL") }).collect();
        push(&f.signature, &[], render(f, &nulls, "", None), false);
    }
    calls
}

/// The crm.* settings with bad values, each followed by calls that read them.
fn settings_calls() -> Vec<Call> {
    let mut calls = Vec::new();
    let long = "m".repeat(200);
    let settings: Vec<(&str, Vec<String>)> = vec![
        (
            "crm.churn_model",
            ["", "segs", "recs", "fz_corrupt", "fz_garbage", "no_such", long.as_str(), "x''); DROP TABLE t; --", "churn_gb", "churn_rf"]
                .iter()
                .map(|s| format!("'{s}'"))
                .collect(),
        ),
        ("crm.device", ["'cpu'", "'cuda'", "'auto'", "'gpu'", "''"].iter().map(|s| s.to_string()).collect()),
        ("crm.model_cache_mb", ["0", "1", "-1", "1048576", "1048577", "2147483647"].iter().map(|s| s.to_string()).collect()),
        ("crm.gpu_min_rows", ["0", "1", "-1", "10000000", "10000001"].iter().map(|s| s.to_string()).collect()),
        ("crm.gpu_batch_rows", ["0", "1", "16777216", "16777217"].iter().map(|s| s.to_string()).collect()),
        ("crm.gpu_emulation", ["'off'", "'reference'", "'faulty'", "'gpu'"].iter().map(|s| s.to_string()).collect()),
    ];
    let readers = [
        "SELECT count(*), max(length(crm.churn_score(c)::text)) FROM churn c",
        "SELECT crm.churn_score((SELECT c FROM churn c LIMIT 1))",
        "SELECT crm.churn_score_columns(ARRAY['calls', 'tenure', 'plan', 'promo', 'signup'], c.calls, c.tenure, c.plan, c.promo, c.signup) FROM churn c",
        "SELECT count(crm.score('churn_gb', c)) FROM churn c",
        "SELECT count(*) FROM churn c, crm.explain('churn_rf', c)",
        "SELECT count(*) FROM crm.recommend_all('recs', 3)",
        "SELECT count(*) FROM crm.recommend_all('recs_als', 3)",
        "SELECT count(*) FROM crm.score_batch('churn_lr', 'churn', 'customer_id')",
        "SELECT count(crm.segment('segs', c)) FROM churn c",
        "SELECT count(*) FROM crm.segment_batch('segs', 'churn', 'customer_id')",
        "SELECT crm.cache_stats()::text",
        "SELECT crm.gpu_info()::text",
    ];
    // The GPU path with an emulated device from the first row, in one-row transfers, with
    // a device that passes its self-test and one that fails it.
    for emulation in ["reference", "faulty"] {
        for device in ["auto", "cuda"] {
            for reader in readers {
                calls.push(Call {
                    function: format!("setting crm.gpu_emulation = {emulation}, crm.device = {device}"),
                    prelude: ["crm.gpu_emulation", "crm.device", "crm.gpu_min_rows", "crm.gpu_batch_rows"]
                        .iter()
                        .zip([emulation, device, "1", "1"])
                        .map(|(name, value)| format!("SET LOCAL {name} = '{value}'"))
                        .collect(),
                    sql: reader.to_string(),
                    baseline: false,
                });
            }
        }
    }
    for (name, values) in &settings {
        for value in values {
            for reader in readers {
                calls.push(Call {
                    function: format!("setting {name}"),
                    prelude: vec![format!("SET LOCAL {name} = {value}")],
                    sql: reader.to_string(),
                    baseline: false,
                });
            }
        }
    }
    calls
}

/// crm.score_trigger with bad arguments, placements and tables; every trigger function
/// of the extension attached to a table it was not written for.
fn trigger_calls(functions: &[Func]) -> Vec<Call> {
    let mut calls = Vec::new();
    let table = "CREATE TABLE trg (customer_id int PRIMARY KEY, calls int, tenure float8, plan text, promo bool, signup date, pad text, \
                 score float8, reasons text, reasons_j jsonb, score_i int, score_t text)";
    let fire = [
        "INSERT INTO trg (customer_id, calls, tenure, plan, promo, signup) SELECT customer_id, calls, tenure, plan, promo, signup FROM churn",
        "INSERT INTO trg (customer_id, calls, tenure, plan, promo, signup, score) VALUES (1000, NULL, 'NaN', repeat('x', 100000), NULL, 'infinity', 0.5)",
        "INSERT INTO trg (customer_id, calls, tenure, plan, promo, signup) VALUES (10000, 1, 1, 'basic', true, '2024-01-01') ON CONFLICT (customer_id) DO UPDATE SET calls = 5",
        "UPDATE trg SET calls = calls + 1",
        "DELETE FROM trg",
        "TRUNCATE trg",
    ];
    let seed = "INSERT INTO trg (customer_id, calls, tenure, plan, promo, signup) VALUES (10000, 2, 3, 'pro', false, '2024-02-02')";
    let long = "m".repeat(200);
    let arg_lists: Vec<String> = [
        "'churn_lr', 'score'",
        "",
        "'churn_lr'",
        "'churn_lr', 'score', 'reasons', 'extra'",
        "'churn_lr', 'no_col'",
        "'churn_lr', 'score_i'",
        "'churn_lr', 'score_t'",
        "'churn_lr', 'calls'",
        "'churn_lr', 'customer_id'",
        "'churn_lr', 'score', 'reasons'",
        "'churn_gb', 'score', 'reasons_j'",
        "'churn_rf', 'score', 'reasons'",
        "'churn_lr', 'score', 'no_col'",
        "'churn_lr', 'score', 'score_i'",
        "'churn_lr', 'score', 'score'",
        "'churn_lr', 'score', 'plan'",
        "'no_such', 'score'",
        "'segs', 'score'",
        "'recs', 'score'",
        "'fz_corrupt', 'score'",
        "'fz_garbage', 'score'",
        "'', ''",
        "'churn_lr', 'SCORE'",
        "'churn_lr', '\"score\"'",
        "'churn_lr', 'score; DROP TABLE t'",
        "'x''); DROP TABLE t; --', 'score'",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("'{long}', 'score'"), format!("'churn_lr', '{long}'")])
    .collect();
    for args in &arg_lists {
        let create = format!("CREATE TRIGGER s BEFORE INSERT OR UPDATE ON trg FOR EACH ROW EXECUTE FUNCTION crm.score_trigger({args})");
        for statement in &fire[..4] {
            calls.push(Call {
                function: "crm.score_trigger()".into(),
                prelude: vec![table.into(), seed.into(), create.clone()],
                sql: statement.to_string(),
                baseline: false,
            });
        }
    }
    // placements: AFTER, FOR EACH STATEMENT, DELETE, TRUNCATE, UPDATE OF, WHEN, INSTEAD OF
    let placements = [
        "AFTER INSERT OR UPDATE OR DELETE ON trg FOR EACH ROW",
        "BEFORE INSERT OR UPDATE OR DELETE ON trg FOR EACH STATEMENT",
        "AFTER INSERT OR UPDATE OR DELETE ON trg FOR EACH STATEMENT",
        "BEFORE DELETE ON trg FOR EACH ROW",
        "BEFORE TRUNCATE ON trg FOR EACH STATEMENT",
        "AFTER TRUNCATE ON trg FOR EACH STATEMENT",
        "BEFORE UPDATE OF calls ON trg FOR EACH ROW",
        "BEFORE INSERT ON trg FOR EACH ROW WHEN (NEW.calls > 5)",
        "AFTER INSERT ON trg REFERENCING NEW TABLE AS n FOR EACH STATEMENT",
    ];
    let mut trigger_functions: Vec<&str> = functions.iter().filter(|f| f.returns == "trigger").map(|f| f.name.as_str()).collect();
    trigger_functions.sort();
    for function in &trigger_functions {
        let args = if *function == "score_trigger" { "'churn_lr', 'score'" } else { "" };
        let mut all = placements.to_vec();
        if *function != "score_trigger" {
            all.push("BEFORE INSERT OR UPDATE ON trg FOR EACH ROW");
        }
        for placement in all {
            let create = format!("CREATE TRIGGER s {placement} EXECUTE FUNCTION crm.{function}({args})");
            for statement in fire {
                calls.push(Call {
                    function: format!("crm.{function}()"),
                    prelude: vec![table.into(), seed.into(), create.clone()],
                    sql: statement.to_string(),
                    baseline: false,
                });
            }
        }
        // an INSTEAD OF trigger on a view
        let view = "CREATE VIEW trg_v AS SELECT * FROM trg";
        let create = format!("CREATE TRIGGER s INSTEAD OF INSERT OR UPDATE OR DELETE ON trg_v FOR EACH ROW EXECUTE FUNCTION crm.{function}({args})");
        for statement in ["INSERT INTO trg_v (customer_id, calls) VALUES (7, 7)", "UPDATE trg_v SET calls = 1", "DELETE FROM trg_v"] {
            calls.push(Call {
                function: format!("crm.{function}()"),
                prelude: vec![table.into(), seed.into(), view.into(), create.clone()],
                sql: statement.into(),
                baseline: false,
            });
        }
        // called as a plain function
        calls.push(Call { function: format!("crm.{function}()"), prelude: vec![], sql: format!("SELECT crm.{function}()"), baseline: false });
    }
    // tables the model does not fit: missing features, wrong feature types, dropped
    // columns in the middle, a generated score column, a partitioned table
    let tables = [
        ("CREATE TABLE trg2 (calls int, score float8)", "INSERT INTO trg2 VALUES (1, NULL)"),
        (
            "CREATE TABLE trg2 (calls text, tenure text, plan int, promo text, signup text, score float8)",
            "INSERT INTO trg2 VALUES ('a', 'b', 1, 'c', 'd', NULL)",
        ),
        (
            "CREATE TABLE trg2 (pad1 text, calls int, pad2 text, tenure float8, plan text, promo bool, signup date, score float8); ALTER TABLE trg2 DROP COLUMN pad1; ALTER TABLE trg2 DROP COLUMN pad2",
            "INSERT INTO trg2 VALUES (1, 2, 'basic', true, '2024-01-01', NULL)",
        ),
        (
            "CREATE TABLE trg2 (calls int, tenure float8, plan text, promo bool, signup date, score float8 GENERATED ALWAYS AS (calls * 2) STORED)",
            "INSERT INTO trg2 (calls, tenure, plan, promo, signup) VALUES (1, 2, 'basic', true, '2024-01-01')",
        ),
        (
            "CREATE TABLE trg2 (calls int, tenure float8, plan text, promo bool, signup date, score float8) PARTITION BY RANGE (calls); CREATE TABLE trg2_a PARTITION OF trg2 FOR VALUES FROM (0) TO (100)",
            "INSERT INTO trg2 VALUES (1, 2, 'basic', true, '2024-01-01', NULL)",
        ),
        (
            "CREATE TABLE trg2 (calls int, tenure float8, plan text, promo bool, signup date, score float8 NOT NULL DEFAULT 0, reasons varchar(3))",
            "INSERT INTO trg2 (calls, tenure, plan, promo, signup) VALUES (9, 59, 'pro', true, '2024-01-01')",
        ),
    ];
    for (i, (create_table, insert)) in tables.iter().enumerate() {
        let args = if i == 5 { "'churn_lr', 'score', 'reasons'" } else { "'churn_lr', 'score'" };
        let mut prelude: Vec<String> = create_table.split("; ").map(str::to_string).collect();
        prelude.push(format!("CREATE TRIGGER s BEFORE INSERT OR UPDATE ON trg2 FOR EACH ROW EXECUTE FUNCTION crm.score_trigger({args})"));
        calls.push(Call { function: "crm.score_trigger()".into(), prelude: prelude.clone(), sql: insert.to_string(), baseline: false });
        let mut prelude2 = prelude.clone();
        prelude2.push(insert.to_string());
        calls.push(Call { function: "crm.score_trigger()".into(), prelude: prelude2, sql: "UPDATE trg2 SET calls = 3".into(), baseline: false });
    }
    // the table changes under an existing trigger
    for change in [
        "ALTER TABLE trg DROP COLUMN calls",
        "ALTER TABLE trg ALTER COLUMN score TYPE numeric",
        "ALTER TABLE trg ALTER COLUMN tenure TYPE text",
        "ALTER TABLE trg RENAME COLUMN score TO score2",
        "ALTER TABLE trg DROP COLUMN reasons",
    ] {
        let create = "CREATE TRIGGER s BEFORE INSERT OR UPDATE ON trg FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('churn_lr', 'score', 'reasons')";
        for statement in &fire[..4] {
            calls.push(Call {
                function: "crm.score_trigger()".into(),
                prelude: vec![table.into(), seed.into(), create.into(), statement.to_string(), change.into()],
                sql: statement.to_string(),
                baseline: false,
            });
        }
    }
    calls
}

// ---------------------------------------------------------------------------------------
// running

struct Failure {
    function: String,
    why: String,
    sql: String,
}

struct Runner {
    url: String,
    client: Client,
    notices: Arc<Mutex<Vec<String>>>,
    postmaster_started: String,
    calls: usize,
    results: usize,
    errors: BTreeMap<String, usize>,
    failures: Vec<Failure>,
    crashes: usize,
    per_function: BTreeMap<String, usize>,
    slowest: (Duration, String),
    /// Baseline calls that did not return a result: their variations test less.
    baselines_failed: Vec<String>,
    /// Every call and its outcome, when PG_CRM_BAD_INPUT_LOG names a file.
    log: Option<std::io::BufWriter<std::fs::File>>,
}

fn open(url: &str, notices: &Arc<Mutex<Vec<String>>>) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    let sink = Arc::clone(notices);
    config.notice_callback(move |n| sink.lock().unwrap().push(format!("{}: {} {}", n.code().code(), n.message(), n.detail().unwrap_or(""))));
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET client_min_messages = notice"))?;
    Ok(client)
}

fn postmaster_started(c: &mut Client) -> String {
    c.simple_query("SELECT pg_postmaster_start_time()::text")
        .ok()
        .and_then(|m| {
            m.into_iter().find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
        })
        .unwrap_or_default()
}

fn has_panic_text(s: &str) -> bool {
    PANIC_TEXT.iter().any(|p| s.contains(p))
}

fn shorten(sql: &str) -> String {
    if sql.len() <= 600 {
        sql.to_string()
    } else {
        let mut end = 600;
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &sql[..end], sql.len())
    }
}

impl Runner {
    fn new(url: &str) -> Runner {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let mut client = open(url, &notices).expect("connect");
        let postmaster_started = postmaster_started(&mut client);
        Runner {
            url: url.to_string(),
            client,
            notices,
            postmaster_started,
            calls: 0,
            results: 0,
            errors: BTreeMap::new(),
            failures: Vec::new(),
            crashes: 0,
            per_function: BTreeMap::new(),
            slowest: (Duration::ZERO, String::new()),
            baselines_failed: Vec::new(),
            log: std::env::var_os("PG_CRM_BAD_INPUT_LOG").map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("create the call log"))),
        }
    }

    /// A new session after a broken one; says whether the server restarted meanwhile.
    fn reconnect(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match open(&self.url, &self.notices) {
                Ok(mut c) => {
                    let started = postmaster_started(&mut c);
                    self.client = c;
                    if started != self.postmaster_started {
                        let note = format!("the server restarted (postmaster start {} -> {started}): a backend crashed", self.postmaster_started);
                        self.postmaster_started = started;
                        return note;
                    }
                    return "reconnected; the server did not restart".into();
                }
                Err(e) if Instant::now() > deadline => panic!("the server did not come back within 120 s: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    fn fail(&mut self, call: &Call, why: String) {
        let mut sql = call.prelude.iter().map(|p| format!("{p};\n")).collect::<String>();
        sql.push_str(&call.sql);
        if why.contains("connection") {
            // printed at once: if the server does not come back, the summary never comes
            eprintln!("FAILURE in {}: {why}\n    {}", call.function, shorten(&sql).replace('\n', "\n    "));
        }
        self.failures.push(Failure { function: call.function.clone(), why, sql });
        // the session (or a new one) must answer again
        let alive = self.client.simple_query("ROLLBACK").is_ok() && self.client.simple_query("SELECT 1").is_ok();
        if !alive {
            let note = self.reconnect();
            self.crashes += note.contains("restarted") as usize;
            if let Some(last) = self.failures.last_mut() {
                last.why.push_str(&format!(" [{note}]"));
            }
            self.client.simple_query("SELECT 1").expect("SELECT 1 on a new session after a failure");
        }
    }

    fn run(&mut self, call: &Call) {
        self.run_with(call, None);
    }

    /// Runs the call; with `param`, its last statement goes through the extended protocol
    /// with `param` sent as $1 in binary format (to reach a type's receive function).
    /// Returns the first column of the first row when the call succeeded.
    fn run_with(&mut self, call: &Call, param: Option<&[u8]>) -> Option<Option<String>> {
        self.calls += 1;
        *self.per_function.entry(call.function.clone()).or_default() += 1;
        self.notices.lock().unwrap().clear();
        let started = Instant::now();
        if self.client.is_closed() || self.client.simple_query("BEGIN").is_err() {
            let note = self.reconnect();
            self.client.simple_query("BEGIN").unwrap_or_else(|e| panic!("BEGIN after reconnect ({note}): {e}"));
        }
        let mut outcome = Ok(());
        for statement in &call.prelude {
            if let Err(e) = self.client.simple_query(statement) {
                outcome = Err(e);
                break;
            }
        }
        let mut value = None;
        if outcome.is_ok() {
            outcome = match param {
                None => self.client.simple_query(&call.sql).map(|messages| {
                    value = messages.iter().find_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                        _ => None,
                    });
                }),
                Some(bytes) => self.client.query(&call.sql, &[&Raw(bytes)]).map(|rows| {
                    value = rows.first().map(|r| r.try_get::<_, Option<String>>(0).ok().flatten());
                }),
            };
        }
        let elapsed = started.elapsed();
        if elapsed > self.slowest.0 {
            self.slowest = (elapsed, shorten(&call.sql));
        }
        // an injected statement must not have changed anything
        let mut injected = None;
        if outcome.is_ok() && ["DROP", "DELETE", "UPDATE t", "INSERT INTO t", "TRUNCATE"].iter().any(|k| call.sql.contains(k)) {
            match self.client.simple_query("SELECT (SELECT count(*) FROM t) = 1 AND (SELECT min(a) FROM t) = 1 AND (SELECT count(*) FROM churn) = 200") {
                Ok(m) if m.iter().any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("t"))) => {}
                Ok(_) => injected = Some("an injected statement changed table t or churn".to_string()),
                Err(e) => injected = Some(format!("table t or churn is gone after the call: {e}")),
            }
        }
        let notices: Vec<String> = self.notices.lock().unwrap().drain(..).collect();
        let rollback_ok = self.client.simple_query("ROLLBACK").is_ok();
        let summary = match &outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => match e.as_db_error() {
                Some(db) => format!("{} {}", db.code().code(), db.message()),
                None => format!("connection: {e}"),
            },
        };
        if call.baseline && outcome.is_err() {
            self.baselines_failed.push(format!("{}: {summary}", call.function));
        }
        if let Some(log) = self.log.as_mut() {
            use std::io::Write;
            let prelude = call.prelude.iter().map(|p| format!("{p}; ")).collect::<String>();
            let _ = writeln!(log, "{}\t{:.3}\t{}\t{}{}", call.function, elapsed.as_secs_f64(), summary.replace('\n', " "), prelude, call.sql);
        }
        if let Some(n) = notices.iter().find(|n| has_panic_text(n)) {
            self.fail(call, format!("panic text in a notice: {n}"));
            return None;
        }
        if let Some(why) = injected {
            self.fail(call, why);
            return None;
        }
        match outcome {
            Ok(()) => {
                self.results += 1;
                if !rollback_ok {
                    self.fail(call, "the session broke after a successful call".into());
                }
                return value;
            }
            Err(e) => match e.as_db_error() {
                Some(db) => {
                    let code = db.code().code().to_string();
                    let text = format!("{} {} {} {}", db.message(), db.detail().unwrap_or(""), db.hint().unwrap_or(""), db.where_().unwrap_or(""));
                    *self.errors.entry(code.clone()).or_default() += 1;
                    let why = if has_panic_text(&text) {
                        Some("Rust panic text")
                    } else {
                        match code.as_str() {
                            "XX000" | "XX002" => Some("internal error"),
                            "XX001" if !call.corrupt_ok() => Some("data corrupted, on a model that is not corrupt"),
                            "57014" => Some("statement_timeout: a hang"),
                            "57P01" | "57P02" | "57P03" => Some("the server is shutting down or restarting (a crash?)"),
                            _ => None,
                        }
                    };
                    if let Some(why) = why {
                        self.fail(call, format!("{why}: ERROR {code}: {}", text.trim()));
                    }
                }
                None => {
                    *self.errors.entry("connection".into()).or_default() += 1;
                    self.fail(call, format!("the connection broke: {e}"));
                }
            },
        }
        None
    }

    /// A value of `type_name` that the extension produced (`text`, its output) must read
    /// back through the type's input function to the same text: else a table holding it
    /// cannot be dumped and restored.
    fn check_round_trip(&mut self, produced_by: &Call, type_name: &str, text: &str) {
        let call = Call {
            function: format!("{type_name} text round trip"),
            prelude: vec![],
            sql: format!("SELECT ({}::{type_name})::text", lit(text)),
            baseline: false,
        };
        match self.run_with(&call, None) {
            Some(Some(again)) if again == text => {}
            again => {
                let why = match again {
                    Some(again) => format!("reads back as {again:?}"),
                    None => "is refused by its own input function".into(),
                };
                let mut produced = produced_by.prelude.iter().map(|p| format!("{p};\n")).collect::<String>();
                produced.push_str(&produced_by.sql);
                self.fail(
                    &Call { function: produced_by.function.clone(), prelude: vec![], sql: produced, baseline: false },
                    format!("the {type_name} it returns, {text}, {why}: a dump of it cannot be restored"),
                );
            }
        }
    }
}

/// Values of crm.scaler and crm.rfm_quintiles made by the aggregates from extreme inputs
/// (serial and as partial aggregates in parallel) must read back from their text.
fn round_trip_pass(r: &mut Runner) -> usize {
    let sets = [
        "(1e308::float8), (-1e308)",
        "(1e308::float8), (1e308), (1e308)",
        "(1.7e308::float8), (1.7e308)",
        "(-1.7e308::float8), (1.7e308), (0)",
        "(5e-324::float8), (-5e-324)",
        "(1e-300::float8), (1e300)",
        "(0::float8), ('-0')",
        "(1::float8), ('NaN'), ('Infinity'), ('-Infinity')",
        "(1e154::float8), (-1e154), (3e154)",
    ];
    let mut checked = 0;
    for set in sets {
        for method in ["zscore", "minmax", "robust"] {
            let call = Call {
                function: "crm.scaler_agg(double precision,text)".into(),
                prelude: vec![],
                sql: format!("SELECT crm.scaler_agg(x, '{method}')::text FROM (VALUES {set}) v(x)"),
                baseline: false,
            };
            if let Some(Some(text)) = r.run_with(&call, None) {
                checked += 1;
                r.check_round_trip(&call, "crm.scaler", &text);
            }
        }
        let call = Call {
            function: "crm.rfm_quintiles(double precision,double precision,double precision)".into(),
            prelude: vec![],
            sql: format!("SELECT crm.rfm_quintiles(x, -x, x * 2)::text FROM (VALUES {set}) v(x)"),
            baseline: false,
        };
        if let Some(Some(text)) = r.run_with(&call, None) {
            checked += 1;
            r.check_round_trip(&call, "crm.rfm_quintiles", &text);
        }
    }
    // the same through partial aggregates and their combine/serial/deserial functions
    for method in ["zscore", "minmax", "robust"] {
        let call = Call {
            function: "crm.scaler_agg(double precision,text)".into(),
            prelude: PARTIAL_AGGREGATE.iter().map(|s| s.to_string()).collect(),
            sql: format!("SELECT crm.scaler_agg(x, '{method}')::text FROM extreme_t"),
            baseline: false,
        };
        if let Some(Some(text)) = r.run_with(&call, None) {
            checked += 1;
            r.check_round_trip(&call, "crm.scaler", &text);
        }
    }
    checked
}

/// Bytes sent as they are, in binary format, whatever the parameter's type.
#[derive(Debug)]
struct Raw<'a>(&'a [u8]);

impl ToSql for Raw<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// crm.scaler's receive function (binary protocol, binary COPY) on damaged bytes: every
/// byte flipped, every truncation, huge CBOR lengths, deep nesting.
fn binary_input_pass(r: &mut Runner) -> usize {
    let mut valid = Vec::new();
    for method in ["zscore", "robust", "minmax"] {
        let row = r.client.query_one(&format!("SELECT crm.scaler_send(crm.scaler_agg(qty::float8, '{method}')) FROM orders"), &[]).unwrap();
        valid.push(row.get::<_, Vec<u8>>(0));
    }
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff; 64],
        vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    inputs.push(std::iter::repeat_n(0x81u8, 100_000).chain([0x00]).collect()); // [[[[...0...]]]]
    inputs.push(std::iter::repeat_n(0xa1u8, 50_000).flat_map(|b| [b, 0x60]).chain([0x00]).collect()); // {"": {"": ...}}
    inputs.push(vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // a byte string of 2^64-1 bytes
    inputs.push(vec![0x7b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00]); // a text string of 2^36 bytes
    for bytes in &valid {
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            inputs.push(b);
            let mut b = bytes.clone();
            b[i] = 0xfb; // a float64 header where something else was
            inputs.push(b);
            inputs.push(bytes[..i].to_vec());
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0x00; 16]);
        inputs.push(longer);
    }
    let hex = |b: &[u8]| -> String {
        if b.len() > 64 {
            format!("{} bytes starting {}", b.len(), b[..32].iter().map(|x| format!("{x:02x}")).collect::<String>())
        } else {
            b.iter().map(|x| format!("{x:02x}")).collect()
        }
    };
    for bytes in &inputs {
        let call = Call {
            function: "crm.scaler_recv(internal)".into(),
            prelude: vec![],
            sql: format!("SELECT ($1::crm.scaler)::text /* $1 in binary: {} */", hex(bytes)),
            baseline: false,
        };
        if let Some(Some(text)) = r.run_with(&call, Some(bytes)) {
            // what the binary input accepts, the text input must accept too
            r.check_round_trip(&call, "crm.scaler", &text);
            let call = Call {
                function: call.function.clone(),
                prelude: vec![],
                sql: format!("SELECT crm.scaler_params({}::crm.scaler)::text", lit(&text)),
                baseline: false,
            };
            r.run(&call);
        }
    }
    inputs.len()
}

// ---------------------------------------------------------------------------------------
// stored bytes mutated with a valid checksum

/// The model's bytes with one change, length field and CRC-32 made consistent again, so
/// that the envelope check passes and the body decoder and validators see the damage.
fn mutants(bytes: &[u8], seed: u64) -> Vec<(String, Vec<u8>)> {
    let body_start = 19;
    let body_end = bytes.len() - 4;
    let body_len = body_end - body_start;
    let seal = |mut content: Vec<u8>| {
        let len = (content.len() - body_start) as u64;
        content[11..19].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&content);
        content.extend_from_slice(&crc.to_le_bytes());
        content
    };
    let content = bytes[..body_end].to_vec();
    let mut out = Vec::new();
    // positions: the first bytes of the body (lengths, tags), evenly spread ones, and a
    // few pseudo-random ones
    let mut positions: Vec<usize> = (0..16.min(body_len)).collect();
    positions.extend((0..16).map(|i| i * body_len / 16));
    let mut x = seed;
    for _ in 0..8 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        positions.push((x >> 33) as usize % body_len);
    }
    positions.sort_unstable();
    positions.dedup();
    for &p in &positions {
        let at = body_start + p;
        let edits: [(&str, &[u8]); 5] = [
            ("xor ff", &[content[at] ^ 0xff]),
            ("u64::MAX", &[0xff; 8]),
            ("zero", &[0; 8]),
            ("NaN", &f64::NAN.to_le_bytes()),
            ("-inf", &f64::NEG_INFINITY.to_le_bytes()),
        ];
        for (what, patch) in edits {
            let mut c = content.clone();
            let end = (at + patch.len()).min(c.len());
            c[at..end].copy_from_slice(&patch[..end - at]);
            out.push((format!("{what} at body byte {p}"), seal(c)));
        }
    }
    for cut in [0, 1, body_len / 2, body_len.saturating_sub(8), body_len.saturating_sub(1)] {
        out.push((format!("body cut to {cut} bytes"), seal(content[..body_start + cut].to_vec())));
    }
    let mut longer = content.clone();
    longer.extend_from_slice(&[0xab; 64]);
    out.push(("64 bytes appended".into(), seal(longer)));
    for kind in [0u8, 1, 2, 3, 4, 5, 255] {
        let mut c = content.clone();
        c[10] = kind;
        out.push((format!("kind tag {kind}"), seal(c)));
    }
    for version in [0u16, 2, u16::MAX] {
        let mut c = content.clone();
        c[8..10].copy_from_slice(&version.to_le_bytes());
        out.push((format!("format version {version}"), seal(c)));
    }
    out
}

fn mutation_pass(r: &mut Runner) -> (usize, usize) {
    let readers: &[(&str, &[&str])] = &[
        (
            "mut_lr",
            &[
                "SELECT count(crm.score('mut_lr', c)) FROM churn c",
                "SELECT count(*) FROM churn c, crm.explain('mut_lr', c, 100) WHERE c.customer_id < 20",
                "SELECT count(*) FROM crm.coefficients('mut_lr')",
                "SELECT count(*) FROM crm.score_batch('mut_lr', 'churn', 'customer_id')",
            ],
        ),
        (
            "mut_gb",
            &[
                "SELECT count(crm.score('mut_gb', c)) FROM churn c",
                "SELECT count(*) FROM churn c, crm.explain('mut_gb', c) WHERE c.customer_id < 20",
                "SELECT count(*) FROM crm.score_batch('mut_gb', 'churn', 'customer_id')",
            ],
        ),
        ("mut_rf", &["SELECT count(crm.score('mut_rf', c)) FROM churn c", "SELECT count(*) FROM churn c, crm.explain('mut_rf', c) WHERE c.customer_id < 20"]),
        (
            "mut_seg",
            &[
                "SELECT count(crm.segment('mut_seg', c)), count(crm.segment_distance('mut_seg', c)) FROM churn c",
                "SELECT count(*) FROM crm.segment_profile('mut_seg')",
            ],
        ),
        (
            "mut_knn",
            &[
                "SELECT count(*) FROM crm.recommend('mut_knn', 'c1', 10)",
                "SELECT count(*) FROM crm.recommend_all('mut_knn', 5)",
                "SELECT count(*) FROM crm.similar_items('mut_knn', 'item3')",
            ],
        ),
        (
            "mut_als",
            &[
                "SELECT count(*) FROM crm.recommend('mut_als', 'c1', 10)",
                "SELECT count(*) FROM crm.recommend_all('mut_als', 5)",
                "SELECT count(*) FROM crm.similar_items('mut_als', 'item3')",
            ],
        ),
    ];
    let (mut mutants_stored, mut rejected) = (0, 0);
    for (seed, (name, queries)) in readers.iter().enumerate() {
        let original: Vec<u8> = r.client.query_one("SELECT model FROM crm.models WHERE name = $1", &[name]).unwrap().get(0);
        for (what, bytes) in mutants(&original, seed as u64 + 1) {
            mutants_stored += 1;
            if r.client.is_closed() {
                r.reconnect();
            }
            r.client.execute("UPDATE crm.models SET model = $1 WHERE name = $2", &[&bytes, name]).unwrap();
            let errors_before: usize = r.errors.values().sum();
            for q in queries.iter() {
                let call = Call { function: format!("{name} bytes: {what}"), prelude: vec![], sql: q.to_string(), baseline: false };
                r.run(&call);
            }
            if r.errors.values().sum::<usize>() > errors_before {
                rejected += 1;
            }
        }
        if r.client.is_closed() {
            r.reconnect();
        }
        r.client.execute("UPDATE crm.models SET model = $1 WHERE name = $2", &[&original, name]).unwrap();
    }
    // the registry row says one kind, the bytes another
    for (kind, name) in [("segments", "mut_lr"), ("recommender", "mut_seg"), ("classifier", "mut_knn"), ("clv", "mut_lr")] {
        r.client.execute("UPDATE crm.models SET kind = $1 WHERE name = $2", &[&kind, &name]).unwrap();
        for q in readers.iter().filter(|(n, _)| n == &name).flat_map(|(_, q)| q.iter()) {
            r.run(&Call { function: format!("{name} registered as {kind}"), prelude: vec![], sql: q.to_string(), baseline: false });
        }
        let original = match name {
            "mut_lr" => "classifier",
            "mut_seg" => "segments",
            _ => "recommender",
        };
        r.client.execute("UPDATE crm.models SET kind = $1 WHERE name = $2", &[&original, &name]).unwrap();
    }
    (mutants_stored, rejected)
}

// ---------------------------------------------------------------------------------------

#[test]
fn every_function_survives_bad_input() {
    let Some(url) = fresh_database("it_bad_input") else { return };
    let started = Instant::now();
    let mut setup = common::connect(&url);
    setup.batch_execute(SETUP).unwrap();
    let functions = load_functions(&mut setup);
    assert!(functions.len() > 40, "only {} pg_crm functions found in the catalog", functions.len());
    drop(setup);

    let mut calls = matrix(&functions);
    calls.extend(settings_calls());
    calls.extend(trigger_calls(&functions));
    // the registry-changing functions last, so that they can only disturb each other
    calls.sort_by_key(|c| ["crm.deploy(", "crm.drop_model("].iter().any(|p| c.function.starts_with(p)));

    let mut runner = Runner::new(&url);
    for call in &calls {
        runner.run(call);
    }
    let (mutants_stored, rejected) = mutation_pass(&mut runner);
    let binary_inputs = binary_input_pass(&mut runner);
    let round_trips = round_trip_pass(&mut runner);

    let functions_covered = functions.iter().filter(|f| runner.per_function.contains_key(&f.signature)).count();
    let errors = runner.errors.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ");
    println!(
        "bad-input matrix: {} calls over {} of the {} functions in the catalog (triggers included), {} results, {} errors, {} failures, {} crashes, in {:.0} s",
        runner.calls,
        functions_covered,
        functions.len(),
        runner.results,
        runner.errors.values().sum::<usize>(),
        runner.failures.len(),
        runner.crashes,
        started.elapsed().as_secs_f64()
    );
    println!("errors by SQLSTATE: {errors}");
    println!("stored-byte mutants: {mutants_stored}, {rejected} of them refused by at least one reader; binary crm.scaler inputs: {binary_inputs}; aggregate values read back: {round_trips}");
    println!("slowest call: {:.1} s: {}", runner.slowest.0.as_secs_f64(), runner.slowest.1);
    for b in &runner.baselines_failed {
        println!("baseline without a result (its variations test less): {b}");
    }
    // every failure, grouped by function and kind (numbers masked), each group with its
    // first reproducers
    let mut groups: BTreeMap<(String, String), Vec<&Failure>> = BTreeMap::new();
    for f in &runner.failures {
        let kind: String = f.why.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).take(110).collect();
        groups.entry((f.function.clone(), kind)).or_default().push(f);
    }
    println!("{} failures in {} groups:", runner.failures.len(), groups.len());
    for ((function, _), members) in &groups {
        let first: String = members[0].why.chars().take(160).collect();
        println!("FAILURE x{} [{function}] {first}", members.len());
        for f in members.iter().take(3) {
            println!("    why: {}\n    sql: {}", f.why, shorten(&f.sql).replace('\n', "\n         "));
        }
    }
    assert!(runner.failures.is_empty(), "{} of {} calls failed (see above)", runner.failures.len(), runner.calls);
}
