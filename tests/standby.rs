//! Client integration tests of backups and replicas: a streaming hot standby
//! (`pg_basebackup -R -X stream`) scores, explains, segments and recommends exactly as its
//! primary (every result compared in full), writes nothing while doing so, and follows a
//! deploy on the primary from its next statement after replay, in a session that had the
//! old version cached; a base backup started as a server of its own, and the standby once
//! promoted, score identically and can train and deploy.

mod ops;

use std::time::{Duration, Instant};

use ops::{prerequisites, rows_as_text, sqlstate, Cluster};

const DATA: &str = "
CREATE TABLE customers AS
SELECT i AS customer_id,
       (abs(hashtext('calls' || i)) % 10)::int AS support_calls,
       (abs(hashtext('tenure' || i)) % 60)::float8 AS tenure_months,
       (ARRAY['basic', 'plus', 'pro'])[1 + abs(hashtext('plan' || i)) % 3] AS plan,
       (abs(hashtext('noise' || i)) % 1000) / 1000.0 AS noise
FROM generate_series(1, 2000) i;
ALTER TABLE customers ADD COLUMN churned boolean;
UPDATE customers SET churned = (-2.0 + 0.45 * support_calls - 0.04 * tenure_months) > ln(noise / (1 - noise + 1e-9) + 1e-9);
CREATE TABLE orders AS
SELECT 'c' || (i % 300) AS customer_id,
       'p' || CASE WHEN abs(hashtext('x' || i)) % 10 = 0 THEN abs(hashtext('y' || i)) % 70 ELSE (i % 300) % 7 * 10 + abs(hashtext('z' || i)) % 10 END AS product_id
FROM generate_series(1, 3000) i;
-- churn v1: gradient-boosted trees; v2: logistic on other columns (deployed or not by
-- its AUC: the test deploys explicitly)
SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'gradient_boosting', '{\"key\": \"customer_id\"}');
SELECT * FROM crm.train_classifier('churn', 'SELECT customer_id, noise, plan, churned FROM customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}');
SELECT * FROM crm.deploy('churn', 1, 'the trees');
SELECT * FROM crm.train_segments('seg', 'SELECT customer_id, support_calls, tenure_months FROM customers', 4, '{\"key\": \"customer_id\"}');
SELECT * FROM crm.train_recommender('shop', 'orders', 'item_knn');";

/// Every serving output of the three models, each a full result set as text.
const OUTPUTS: [(&str, &str); 9] = [
    ("score", "SELECT customer_id, crm.score('churn', c) FROM customers c"),
    ("churn_score", "SELECT customer_id, crm.churn_score(c) FROM customers c"),
    ("explain", "SELECT c.customer_id, e.* FROM customers c CROSS JOIN LATERAL crm.explain('churn', c, 3) WITH ORDINALITY e WHERE c.customer_id <= 300"),
    ("segment", "SELECT customer_id, crm.segment('seg', c), crm.segment_distance('seg', c) FROM customers c"),
    ("segment_profile", "SELECT * FROM crm.segment_profile('seg')"),
    (
        "recommend",
        "SELECT o.customer_id, r.* FROM (SELECT DISTINCT customer_id FROM orders UNION ALL SELECT 'nobody') o
         CROSS JOIN LATERAL crm.recommend('shop', o.customer_id, 5) r",
    ),
    ("recommend_all", "SELECT * FROM crm.recommend_all('shop', 3)"),
    (
        "similar_items",
        "SELECT o.product_id, s.* FROM (SELECT DISTINCT product_id FROM orders) o CROSS JOIN LATERAL crm.similar_items('shop', o.product_id, 5) s",
    ),
    ("registry", "SELECT name, version, deployed, model_bytes FROM crm.model_summary"),
];

type Outputs = Vec<(&'static str, Vec<String>)>;

fn outputs(c: &mut postgres::Client) -> Outputs {
    OUTPUTS.iter().map(|(what, query)| (*what, rows_as_text(c, query))).collect()
}

fn assert_same(expected: &Outputs, got: &Outputs, server: &str) {
    for ((what, e), (_, g)) in expected.iter().zip(got) {
        assert!(!e.is_empty(), "{what}: no rows");
        assert_eq!(e.len(), g.len(), "{server}: {what} has {} rows, the primary {}", g.len(), e.len());
        if let Some(i) = (0..e.len()).find(|&i| e[i] != g[i]) {
            panic!("{server}: {what} differs from the primary's: {} vs primary {}", g[i], e[i]);
        }
    }
}

fn scores(c: &mut postgres::Client) -> Vec<String> {
    rows_as_text(c, OUTPUTS[0].1)
}

/// A primary with pg_crm and the three models, started.
fn primary(name: &str) -> Cluster {
    let mut primary = Cluster::init(name);
    primary.start();
    let mut c = primary.create_database("crm");
    c.batch_execute(DATA).unwrap();
    primary
}

/// Waits until `standby` has replayed the primary's WAL up to `lsn`.
fn wait_for_replay(standby: &mut postgres::Client, lsn: &str) {
    let started = Instant::now();
    loop {
        let done: bool = standby.query_one("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&lsn]).unwrap().get(0);
        if done {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the standby has not replayed up to {lsn} in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Deploys `version` of churn on the primary and returns the WAL position after its commit.
fn deploy(p: &mut postgres::Client, version: i32, reason: &str) -> String {
    p.execute("SELECT * FROM crm.deploy('churn', $1, $2)", &[&version, &reason]).unwrap();
    p.query_one("SELECT pg_current_wal_lsn()::text", &[]).unwrap().get(0)
}

#[test]
fn hot_standby_serves_exactly_the_primarys_results_and_follows_its_deploys() {
    let Some(()) = prerequisites("standby") else { return };
    let primary = primary("standby_primary");
    let mut p = primary.connect("crm");
    let expected = outputs(&mut p);

    // Nothing in a serving path writes: the whole set in one transaction on the primary
    // never gets a transaction id.
    let mut tx = p.transaction().unwrap();
    for (what, query) in OUTPUTS {
        tx.query(query, &[]).unwrap_or_else(|e| panic!("{what}: {e}"));
        let xid: Option<String> = tx.query_one("SELECT pg_current_xact_id_if_assigned()::text", &[]).unwrap().get(0);
        assert_eq!(xid, None, "{what} wrote (its transaction has an xid)");
    }
    tx.commit().unwrap();

    let mut standby = Cluster::basebackup(&primary, "standby_replica", true);
    standby.start();
    let mut s = standby.connect("crm");
    let in_recovery: bool = s.query_one("SELECT pg_is_in_recovery()", &[]).unwrap().get(0);
    assert!(in_recovery, "the replica is not a standby");
    let standby_first = outputs(&mut s);
    assert_same(&expected, &standby_first, "the standby");
    // a second pass, from the session's caches, and a fresh session
    assert_same(&expected, &outputs(&mut s), "the standby (cached)");
    assert_same(&expected, &outputs(&mut standby.connect("crm")), "the standby (new session)");
    // The standby is read-only: training, deploying and dropping there are refused with
    // 25006 (read_only_sql_transaction, what a plain INSERT gets there), and the session
    // goes on.
    for write in [
        "SELECT * FROM crm.train_segments('seg', 'SELECT support_calls, tenure_months FROM customers', 3)",
        "SELECT * FROM crm.deploy('churn', 2)",
        "SELECT crm.drop_model('churn', 2)",
    ] {
        let err = s.batch_execute(write).expect_err("a write succeeded on a hot standby");
        assert_eq!(sqlstate(&err), "25006", "{write} on a standby: {err:?}");
    }
    assert_same(&expected, &outputs(&mut s), "the standby (after a refused training)");

    // A deploy on the primary, seen by an open standby session that scored (and cached)
    // the old version, from its first statement after the standby replayed the commit.
    let v1 = scores(&mut s);
    let mut waiter = standby.connect("crm");
    let lsn = deploy(&mut p, 2, "to v2 under a standby");
    let primary_v2 = scores(&mut p);
    assert_ne!(primary_v2, v1, "versions 1 and 2 score alike: the test cannot tell them apart");
    wait_for_replay(&mut waiter, &lsn);
    assert_eq!(scores(&mut s), primary_v2, "the standby session still scores with the version it cached");
    let deployed: i32 =
        s.query_one("SELECT m.version FROM crm.deployments d JOIN crm.models m ON m.id = d.model_id WHERE d.name = 'churn'", &[]).unwrap().get(0);
    assert_eq!(deployed, 2);
    let logged: Vec<String> =
        rows_as_text(&mut s, "SELECT version, previous_version, reason FROM crm.deployment_log WHERE name = 'churn' ORDER BY id DESC LIMIT 1");
    assert_eq!(logged, ["(2,1,\"to v2 under a standby\")"]);
    // and back (a rollback is a deploy of the older version)
    let lsn = deploy(&mut p, 1, "back to v1");
    wait_for_replay(&mut waiter, &lsn);
    assert_eq!(scores(&mut s), v1, "the standby session did not follow the rollback");
    assert_same(&expected, &outputs(&mut s), "the standby (after deploy and rollback)");
    // a prepared statement of the standby session follows too
    let prepared = s.prepare(OUTPUTS[0].1).unwrap();
    let run_prepared = |s: &mut postgres::Client| -> Vec<String> {
        let mut rows: Vec<String> = s.query(&prepared, &[]).unwrap().iter().map(|r| format!("({},{})", r.get::<_, i32>(0), r.get::<_, f64>(1))).collect();
        rows.sort();
        rows
    };
    let before = run_prepared(&mut s);
    let lsn = deploy(&mut p, 2, "again v2");
    wait_for_replay(&mut waiter, &lsn);
    assert_ne!(run_prepared(&mut s), before, "a prepared statement on the standby kept the old version");
    let lsn = deploy(&mut p, 1, "again v1");
    wait_for_replay(&mut waiter, &lsn);
    assert_eq!(run_prepared(&mut s), before);
}

#[test]
fn base_backup_and_promoted_standby_score_identically_and_train() {
    let Some(()) = prerequisites("standby") else { return };
    let primary = primary("backup_primary");
    let mut p = primary.connect("crm");
    let expected = outputs(&mut p);

    // a base backup started as a server of its own
    let mut copy = Cluster::basebackup(&primary, "backup_copy", false);
    copy.start();
    let mut b = copy.connect("crm");
    let in_recovery: bool = b.query_one("SELECT pg_is_in_recovery()", &[]).unwrap().get(0);
    assert!(!in_recovery);
    assert_same(&expected, &outputs(&mut b), "the base backup");
    // it trains and deploys, independently of the primary
    b.batch_execute(
        "SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'random_forest', '{\"key\": \"customer_id\", \"n_trees\": 20}');
         SELECT * FROM crm.deploy('churn', 3, 'on the copy');
         SELECT * FROM crm.train_recommender('shop', 'orders', 'als', '{\"factors\": 8, \"iterations\": 3}')",
    )
    .unwrap();
    let copy_v3 = scores(&mut b);
    assert_ne!(copy_v3, expected[0].1, "the copy's new version scores as version 1");
    assert_eq!(scores(&mut copy.connect("crm")), copy_v3);
    let on_primary: i64 = p.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(on_primary, 4, "the copy's training reached the primary");
    drop(b);
    drop(copy);

    // a standby, promoted
    let mut standby = Cluster::basebackup(&primary, "backup_standby", true);
    standby.start();
    // a change on the primary before the promotion reaches the standby
    let lsn: String = {
        p.batch_execute("SELECT * FROM crm.train_segments('seg2', 'SELECT customer_id, support_calls, noise FROM customers', 3, '{\"key\": \"customer_id\"}')")
            .unwrap();
        p.query_one("SELECT pg_current_wal_lsn()::text", &[]).unwrap().get(0)
    };
    let expected = outputs(&mut p);
    let mut s = standby.connect("crm");
    wait_for_replay(&mut s, &lsn);
    let seg2 = "SELECT customer_id, crm.segment('seg2', c) FROM customers c";
    assert_eq!(rows_as_text(&mut s, seg2), rows_as_text(&mut p, seg2));
    standby.promote();
    let in_recovery: bool = s.query_one("SELECT pg_is_in_recovery()", &[]).unwrap().get(0);
    assert!(!in_recovery, "still a standby after pg_ctl promote");
    assert_same(&expected, &outputs(&mut s), "the promoted standby (session opened before the promotion)");
    assert_same(&expected, &outputs(&mut standby.connect("crm")), "the promoted standby");
    s.batch_execute(
        "SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}');
         SELECT * FROM crm.deploy('churn', 3, 'after the promotion')",
    )
    .unwrap();
    let promoted_v3 = scores(&mut s);
    assert_ne!(promoted_v3, expected[0].1);
    let last: Vec<String> =
        rows_as_text(&mut s, "SELECT version, previous_version, reason FROM crm.deployment_log WHERE name = 'churn' ORDER BY id DESC LIMIT 1");
    assert_eq!(last, ["(3,1,\"after the promotion\")"]);
    // the old primary is untouched
    assert_same(&expected, &outputs(&mut p), "the primary");
}
