//! Upgrades keep models: a database made with pg_crm 0.1.0's (to 0.7.0's) SQL, holding one model of
//! every kind, is updated in place with `ALTER EXTENSION pg_crm UPDATE`; scores,
//! explanations, segments and recommendations are identical afterwards, the new objects
//! exist, and the upgraded catalog is the same as a fresh install's.
//!
//! Needs `sql/pg_crm--0.1.0.sql` to `sql/pg_crm--0.7.0.sql` (the frozen install scripts) in the server's
//! extension directory, which `scripts/lib.sh`'s `install_extension` copies there.

mod common;

use common::{connect, sqlstate};
use postgres::{Client, NoTls};

const DATA: &str = "
CREATE TABLE customers AS
SELECT i AS customer_id,
       (abs(hashtext('calls' || i)) % 10)::int AS support_calls,
       (abs(hashtext('tenure' || i)) % 60)::float8 AS tenure_months,
       (ARRAY['basic', 'plus', 'pro'])[1 + abs(hashtext('plan' || i)) % 3] AS plan,
       date '2020-01-01' + (abs(hashtext('since' || i)) % 1500) AS customer_since,
       (abs(hashtext('noise' || i)) % 1000) / 1000.0 AS noise
FROM generate_series(1, 1500) i;
ALTER TABLE customers ADD COLUMN churned boolean;
UPDATE customers SET churned = (-2.0 + 0.45 * support_calls - 0.04 * tenure_months) > ln(noise / (1 - noise + 1e-9) + 1e-9);
CREATE TABLE orders AS
SELECT 'c' || (g % 200) AS customer_id, 'i' || ((g * 7919) % 60) AS item, 1 + g % 3 AS qty
FROM generate_series(1, 5000) g;";

const TRAIN: &str = "
SELECT * FROM crm.train_classifier('churn', 'SELECT support_calls, tenure_months, plan, customer_since, churned FROM customers', 'churned', 'logistic');
SELECT * FROM crm.train_classifier('churn_gb', 'SELECT support_calls, tenure_months, plan, churned FROM customers', 'churned', 'gradient_boosting', '{\"time_budget\": 0}');
SELECT * FROM crm.train_classifier('churn_rf', 'SELECT support_calls, tenure_months, plan, churned FROM customers', 'churned', 'random_forest', '{\"n_trees\": 20}');
SELECT * FROM crm.train_segments('seg', 'SELECT support_calls, tenure_months FROM customers', 3);
SELECT * FROM crm.train_recommender('rec_knn', 'orders', 'item_knn');
SELECT * FROM crm.train_recommender('rec_als', 'orders', 'als', '{\"factors\": 8, \"iterations\": 5}');
SELECT * FROM crm.train_recommender('rec_pop', 'orders', 'popular');";

/// Orders over 2023 for a CLV model: customer c buys every (3 + c % 40) days from day c % 90
/// until day 100 + (c * 37) % 265.
const CLV_ORDERS: &str = "
CREATE TABLE clv_orders AS
SELECT 'c' || c AS customer_id, date '2023-01-01' + d AS order_date, 10 + (c * d) % 50 AS amount
FROM generate_series(1, 400) c, generate_series(0, 364) d
WHERE d >= c % 90 AND d <= 100 + (c * 37) % 265 AND (d - c % 90) % (3 + c % 40) = 0;";

/// Everything a user gets from the models, as text lines in a fixed order.
fn outputs(c: &mut Client) -> Vec<String> {
    let queries = [
        "SELECT customer_id::text || ' ' || crm.score('churn', c)::text || ' ' || crm.score('churn_gb', c)::text || ' ' || crm.score('churn_rf', c)::text
         FROM customers c ORDER BY customer_id",
        "SELECT c.customer_id::text || ' ' || e.feature || ' ' || e.contribution::text FROM customers c, crm.explain('churn_gb', c) e
         WHERE c.customer_id <= 20 ORDER BY c.customer_id, e.feature",
        "SELECT customer_id::text || ' ' || crm.segment('seg', c)::text || ' ' || crm.segment_distance('seg', c)::text FROM customers c ORDER BY customer_id",
        "SELECT segment::text || ' ' || feature || ' ' || mean::text FROM crm.segment_profile('seg') ORDER BY segment, feature",
        "SELECT m || ' ' || c || ' ' || r.item || ' ' || r.rank::text || ' ' || r.score::text
         FROM unnest(ARRAY['rec_knn', 'rec_als', 'rec_pop']) m, unnest(ARRAY['c1', 'c17', 'c199', 'nobody']) c, crm.recommend(m, c, 5) r ORDER BY 1",
        "SELECT r.item || ' ' || r.score::text FROM crm.similar_items('rec_knn', 'i3', 5) r ORDER BY r.rank",
    ];
    queries.iter().flat_map(|q| c.query(*q, &[]).unwrap().into_iter().map(|r| r.get::<_, String>(0))).collect()
}

/// The extension's catalog: functions (signature, result, volatility, strictness,
/// parallel safety, security), relations with columns and privileges, triggers.
fn catalog(c: &mut Client) -> Vec<String> {
    let q = "
    WITH members AS (
        SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
        WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_crm' AND d.deptype = 'e')
    SELECT 'function ' || p.oid::regprocedure::text || ' -> ' || pg_get_function_result(p.oid) || ' ' || p.provolatile::text || p.proparallel::text
           || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || CASE WHEN p.prosecdef THEN ' definer' ELSE '' END
           || ' ' || coalesce(array_to_string(p.proconfig, ','), '')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT 'relation ' || r.oid::regclass::text || ' ' || r.relkind::text || ' ' || coalesce(r.relacl::text, '') || ' '
           || coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || coalesce(a.attacl::text, ''), ',' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
    FROM members m JOIN pg_class r ON m.classid = 'pg_class'::regclass AND r.oid = m.objid
    UNION ALL
    SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace
    WHERE n.nspname = 'crm' AND NOT t.tgisinternal
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    UNION ALL
    SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'crm'
    UNION ALL
    SELECT 'schema acl ' || coalesce(n.nspacl::text, '') FROM pg_namespace n WHERE n.nspname = 'crm'
    ORDER BY 1";
    c.query(q, &[]).unwrap().into_iter().map(|r| r.get::<_, String>(0)).collect()
}

fn database(url: &str, name: &str) -> String {
    let mut admin = Client::connect(&format!("{url} dbname=postgres"), NoTls).expect("connect to test server");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{url} dbname={name}")
}

#[test]
fn update_from_0_1_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.1.0");
}

#[test]
fn update_from_0_2_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.2.0");
}

#[test]
fn update_from_0_3_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.3.0");
}

#[test]
fn update_from_0_4_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.4.0");
}

#[test]
fn update_from_0_5_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.5.0");
}

#[test]
fn update_from_0_6_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.6.0");
}

#[test]
fn update_from_0_7_0_keeps_every_model_and_matches_a_fresh_install() {
    update_keeps_every_model_and_matches_a_fresh_install("0.7.0");
}

/// Weekly sales of two stores for a forecast model trained by 0.6.0.
const WEEKLY: &str = "
CREATE TABLE upgrade_weekly AS
SELECT s AS store, date '2022-01-03' + 7 * w AS week, 100 + 10 * s + 20 * sin(w / 8.3) + (w % 5) AS sales
FROM generate_series(1, 2) s, generate_series(0, 120) w;";

/// A database made with the frozen install script of release `from`, holding one model of
/// every kind, updated to this version.
fn update_keeps_every_model_and_matches_a_fresh_install(from: &str) {
    let Some(url) = common::server_url() else { return };
    let tag = from.replace('.', "_");
    let old_url = database(&url, &format!("it_upgrade_old_{tag}"));
    let mut old = connect(&old_url);
    old.batch_execute(&format!("CREATE EXTENSION pg_crm VERSION '{from}'"))
        .unwrap_or_else(|e| panic!("the {from} install script is in the extension directory (scripts/lib.sh copies it): {e}"));
    old.batch_execute(DATA).unwrap();
    old.batch_execute(TRAIN).unwrap();
    let before = outputs(&mut old);
    assert!(before.len() > 3000, "{} output lines", before.len());
    if from == "0.1.0" {
        // 0.1.0 had no cache_stats: the update brings it
        assert_eq!(sqlstate(&old.batch_execute("SELECT crm.cache_stats()").unwrap_err()), "42883");
    }
    if !matches!(from, "0.3.0" | "0.4.0" | "0.5.0" | "0.6.0" | "0.7.0") {
        // before 0.3.0 there was no evaluate
        assert_eq!(sqlstate(&old.batch_execute("SELECT crm.evaluate('churn', 'customers')").unwrap_err()), "42883");
    }
    if !matches!(from, "0.4.0" | "0.5.0" | "0.6.0" | "0.7.0") {
        // before 0.4.0 there was no CLV
        assert_eq!(sqlstate(&old.batch_execute("SELECT crm.p_alive('clv', 1, 10, 20)").unwrap_err()), "42883");
    }
    if !matches!(from, "0.5.0" | "0.6.0" | "0.7.0") {
        // before 0.5.0 there were no postcodes or addresses
        assert_eq!(sqlstate(&old.batch_execute("SELECT crm.clean_postcode('02139', 'US')").unwrap_err()), "42883");
    }
    if !matches!(from, "0.6.0" | "0.7.0") {
        // before 0.6.0 there was no text analytics
        assert_eq!(sqlstate(&old.batch_execute("SELECT crm.sentiment('good')").unwrap_err()), "42883");
    }
    if from != "0.7.0" {
        // before 0.7.0 there was no stored matcher
        assert_eq!(sqlstate(&old.batch_execute("SELECT * FROM crm.matcher_keys('m')").unwrap_err()), "42883");
    }
    // before 0.8.0 there was no segment_batch
    assert_eq!(sqlstate(&old.batch_execute("SELECT * FROM crm.segment_batch('seg', 'customers', 'customer_id')").unwrap_err()), "42883");
    // a forecast stored by 0.6.0 forecasts the same after the update
    let forecast_query = "SELECT series || ' ' || period_start::date::text || ' ' || forecast::text || ' ' || lo::text || ' ' || hi::text FROM crm.forecast('weekly') ORDER BY 1";
    let forecast_before: Vec<String> = if from == "0.6.0" {
        old.batch_execute(WEEKLY).unwrap();
        old.batch_execute("SELECT * FROM crm.train_forecast('weekly', 'upgrade_weekly', '{\"series\": [\"store\"], \"value\": \"sales\"}')").unwrap();
        old.query(forecast_query, &[]).unwrap().into_iter().map(|r| r.get(0)).collect()
    } else {
        Vec::new()
    };

    old.batch_execute("ALTER EXTENSION pg_crm UPDATE").unwrap();
    let version: String = old.query_one("SELECT extversion FROM pg_extension WHERE extname = 'pg_crm'", &[]).unwrap().get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    // the same session, and a new one (nothing cached from before the update)
    assert_eq!(outputs(&mut old), before, "outputs changed in the updating session");
    let mut fresh_session = connect(&old_url);
    let after = outputs(&mut fresh_session);
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a, b, "a model's output changed across the update");
    }
    fresh_session.query_one("SELECT crm.cache_stats()", &[]).unwrap();
    if from == "0.6.0" {
        let forecast_after: Vec<String> = fresh_session.query(forecast_query, &[]).unwrap().into_iter().map(|r| r.get(0)).collect();
        assert_eq!(forecast_after.len(), 26);
        assert_eq!(forecast_after, forecast_before, "a forecast stored by 0.6.0 changed across the update");
    }
    // a model of the old release evaluates and explains its importance on a source; drift
    // needs the training profile new models store, and says so. (The server runs this
    // build's library whatever the SQL version, so the models trained above have profiles:
    // they are removed as a model trained by 0.2.0 would lack them.)
    fresh_session
        .batch_execute(
            "UPDATE crm.models SET features = (SELECT jsonb_agg(f - 'profile' - 'importance' - 'direction') FROM jsonb_array_elements(features) f),
                    metrics = metrics - 'score_profile' WHERE name = 'churn_gb'",
        )
        .unwrap();
    let err = fresh_session.query("SELECT * FROM crm.feature_importance('churn_gb')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{err}");
    let auc: f64 = fresh_session.query_one("SELECT (crm.evaluate('churn_gb', 'customers')->>'roc_auc')::float8", &[]).unwrap().get(0);
    assert!(auc > 0.8, "{auc}");
    let features: i64 = fresh_session.query_one("SELECT count(*) FROM crm.feature_importance('churn_gb', 'customers')", &[]).unwrap().get(0);
    assert_eq!(features, 3);
    let err = fresh_session.query("SELECT * FROM crm.drift('churn_gb', 'customers')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{err}");
    let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert!(message.contains("retrain"), "{message}");
    let log_rows: i64 = fresh_session.query_one("SELECT count(*) FROM crm.deployment_log", &[]).unwrap().get(0);
    if from == "0.1.0" {
        assert_eq!(log_rows, 0, "the log starts at the update");
    }
    fresh_session.batch_execute("SELECT * FROM crm.deploy('churn', 1, 'after the update')").unwrap();
    let log_after: i64 = fresh_session.query_one("SELECT count(*) FROM crm.deployment_log", &[]).unwrap().get(0);
    assert_eq!(log_after, log_rows + 1);
    // training after the update: a new version next to the old ones
    fresh_session
        .batch_execute("SELECT * FROM crm.train_classifier('churn', 'SELECT support_calls, tenure_months, plan, customer_since, churned FROM customers', 'churned', 'logistic')")
        .unwrap();
    // and the new kind of this release
    fresh_session.batch_execute(CLV_ORDERS).unwrap();
    fresh_session.batch_execute("SELECT * FROM crm.train_clv('clv', 'clv_orders')").unwrap();
    let alive: f64 = fresh_session.query_one("SELECT crm.p_alive('clv', 2, 30, 100)", &[]).unwrap().get(0);
    assert!(alive > 0.0 && alive < 1.0, "{alive}");
    // and this release's addresses
    let postcode: String = fresh_session.query_one("SELECT crm.clean_postcode('sw1a1aa', 'GB')", &[]).unwrap().get(0);
    assert_eq!(postcode, "SW1A 1AA");
    // and this release's text classifier: the registry accepts the new kind
    fresh_session
        .batch_execute(
            "CREATE TABLE upgrade_feedback AS SELECT CASE WHEN i % 2 = 0 THEN 'refund my double charge ' || i ELSE 'parcel arrived late ' || i END AS body,
                    CASE WHEN i % 2 = 0 THEN 'billing' ELSE 'delivery' END AS topic FROM generate_series(1, 60) i;
             SELECT * FROM crm.train_text_classifier('feedback', 'upgrade_feedback', 'body', 'topic');",
        )
        .unwrap();
    let topic: String = fresh_session.query_one("SELECT crm.classify_text('feedback', 'they charged me twice, refund please')", &[]).unwrap().get(0);
    assert_eq!(topic, "billing");
    // and this release's stored matcher, with its key store
    fresh_session
        .batch_execute(
            "CREATE TABLE upgrade_people AS SELECT i AS id, 'person' || (i % 50) AS name, 'p' || (i % 50) || '@example.org' AS email FROM generate_series(1, 100) i;
             SELECT * FROM crm.train_matcher('people', 'upgrade_people', 'id');",
        )
        .unwrap();
    let keys: i64 = fresh_session.query_one("SELECT count(DISTINCT cluster_key) FROM crm.matcher_keys('people')", &[]).unwrap().get(0);
    assert_eq!(keys, 50);
    // and this release's segment_batch, over the segmentation the old release trained
    let differing: i64 = fresh_session
        .query_one(
            "SELECT count(*) FROM customers c JOIN crm.segment_batch('seg', 'customers', 'customer_id') b ON b.key = c.customer_id::text
             WHERE b.segment IS DISTINCT FROM crm.segment('seg', c) OR b.distance IS DISTINCT FROM crm.segment_distance('seg', c)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(differing, 0);

    // the updated catalog is exactly a fresh install's
    let new_url = database(&url, &format!("it_upgrade_new_{tag}"));
    let mut new = connect(&new_url);
    new.batch_execute("CREATE EXTENSION pg_crm").unwrap();
    let (updated, installed) = (catalog(&mut fresh_session), catalog(&mut new));
    let only_updated: Vec<&String> = updated.iter().filter(|l| !installed.contains(l)).collect();
    let only_installed: Vec<&String> = installed.iter().filter(|l| !updated.contains(l)).collect();
    assert!(
        only_updated.is_empty() && only_installed.is_empty(),
        "update script differs from a fresh install:\nonly after update: {only_updated:#?}\nonly in fresh install: {only_installed:#?}"
    );
}

/// pg_dump / pg_restore carry every model kind, the deployments and the deploy log: the
/// restored database gives the same outputs.
#[test]
fn dump_and_restore_carry_every_model_kind_and_the_deploy_log() {
    let Some(url) = common::server_url() else { return };
    let source_url = database(&url, "it_dump_all_src");
    let target_url = database(&url, "it_dump_all_dst");
    let mut c = connect(&source_url);
    c.batch_execute("CREATE EXTENSION pg_crm").unwrap();
    c.batch_execute(DATA).unwrap();
    c.batch_execute(TRAIN).unwrap();
    // kinds newer than 0.1.0 (outputs() runs on databases made with the oldest release)
    c.batch_execute("SELECT * FROM crm.train_regressor('tenure', 'SELECT support_calls, plan, customer_since, tenure_months FROM customers', 'tenure_months')")
        .unwrap();
    c.batch_execute(CLV_ORDERS).unwrap();
    c.batch_execute("SELECT * FROM crm.train_clv('clv', 'clv_orders')").unwrap();
    c.batch_execute(
        "CREATE TABLE dump_feedback AS SELECT CASE WHEN i % 3 = 0 THEN 'refund my double charge ' ELSE 'parcel arrived late, courier ' END || i AS body,
                CASE WHEN i % 3 = 0 THEN 'billing' ELSE 'delivery' END AS topic FROM generate_series(1, 90) i;
         SELECT * FROM crm.train_text_classifier('feedback', 'dump_feedback', 'body', 'topic');
         CREATE TABLE dump_sales AS SELECT 'shop' || (g % 2) AS shop, date '2022-01-07' + 7 * (g / 2) AS week,
                100 + (g / 2) + 20 * sin((g / 2) / 52.0 * 6.283) + (g % 2) * 50 AS sales FROM generate_series(0, 279) g;
         SELECT * FROM crm.train_forecast('sales', 'dump_sales', '{\"horizon\": 8}');
         CREATE TABLE dump_people AS SELECT i AS id, 'person' || (i % 40) AS name, 'p' || (i % 40) || '@example.org' AS email FROM generate_series(1, 80) i;
         SELECT * FROM crm.train_matcher('people', 'dump_people', 'id');",
    )
    .unwrap();
    c.batch_execute("SELECT * FROM crm.deploy('churn', 1, 'before the dump')").unwrap();
    let newer_kinds = "SELECT customer_id::text || ' ' || crm.predict('tenure', c)::text FROM customers c
                       UNION ALL SELECT customer_id || ' ' || crm.clv('clv', crm.rfm_agg(order_date, amount, '2023-12-31'))::text FROM clv_orders GROUP BY customer_id
                       UNION ALL SELECT body || ' ' || s.label || ' ' || s.probability::text FROM dump_feedback, crm.classify_text_scores('feedback', body) s
                       UNION ALL SELECT concat_ws(' ', series, period_start, forecast, lo, hi, model) FROM crm.forecast('sales')
                       UNION ALL SELECT 'key ' || id || ' ' || cluster_key FROM crm.matcher_keys('people')
                       UNION ALL SELECT 'match ' || p.id || ' ' || m.id || ' ' || m.match_probability::text FROM dump_people p, crm.match('people', p) m WHERE p.id <= 5
                       ORDER BY 1";
    let newer = |c: &mut Client| c.query(newer_kinds, &[]).unwrap().into_iter().map(|r| r.get::<_, String>(0)).collect::<Vec<String>>();
    let before_newer = newer(&mut c);
    let before = outputs(&mut c);
    let log_query =
        "SELECT string_agg(concat_ws(' ', id, name, action, version, previous_version, reason, logged_at), E'\\n' ORDER BY id) FROM crm.deployment_log";
    let log_before: String = c.query_one(log_query, &[]).unwrap().get(0);
    let pg_bin = "/usr/lib/postgresql/15/bin";
    let dump = std::process::Command::new(format!("{pg_bin}/pg_dump")).args(["--dbname", &source_url, "--format", "custom"]).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump_file = std::env::temp_dir().join("pg_crm_it_dump_all.dump");
    std::fs::write(&dump_file, &dump.stdout).unwrap();
    let restore = std::process::Command::new(format!("{pg_bin}/pg_restore")).args(["--dbname", &target_url]).arg(&dump_file).output().unwrap();
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    let mut t = connect(&target_url);
    let after = outputs(&mut t);
    assert_eq!(after.len(), before.len());
    assert!(after == before, "a restored model's output differs");
    assert_eq!(newer(&mut t), before_newer, "a restored regressor's predictions differ");
    let log_after: String = t.query_one(log_query, &[]).unwrap().get(0);
    assert_eq!(log_before, log_after);
}
