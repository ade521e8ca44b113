//! Client integration test of crash safety, on a cluster of its own (one test function:
//! it kills server processes). A backend killed with SIGKILL makes the postmaster
//! terminate every session and restart after crash recovery; then, for each of
//!
//! - a long training (ALS, 128 factors, 500 iterations, on 1M interactions),
//! - a deploy inside an open transaction (not committed, its pages checkpointed to disk),
//! - `crm.dedupe` on 200,000 records,
//! - and a training under `pg_ctl stop -m immediate`,
//!
//! nothing of the killed work is left (no model row, no deployment, no log row), the
//! deployed version of every name is as before and scores exactly as before, the
//! deployment log agrees with `crm.deployments`, and the server trains and deploys again.

mod ops;

use std::time::{Duration, Instant};

use ops::{prerequisites, rows_as_text, sigkill, Cluster};

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
SELECT 'c' || (g % 60000) AS customer_id, 'i' || ((g::bigint * 7919) % 4000) AS item, 1 + g % 3 AS qty
FROM generate_series(1, 1000000) g;
CREATE TABLE people AS
SELECT g AS id, (ARRAY['Ann','Bob','Cy','Di','Ed'])[1 + g % 5] || ' ' || (ARRAY['Lee','Ng','Roe','Li','Smith'])[1 + (g / 5) % 5] AS name,
       'p' || (g % 5000) || '@x.com' AS email, lpad((g % 900)::text, 4, '0') AS postcode
FROM generate_series(1, 200000) g;
SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}');
SELECT * FROM crm.train_classifier('churn', 'SELECT customer_id, noise, plan, churned FROM customers', 'churned', 'gradient_boosting', '{\"key\": \"customer_id\"}');
SELECT * FROM crm.deploy('churn', 1, 'before the crashes');
SELECT * FROM crm.train_recommender('shop', 'SELECT * FROM orders WHERE customer_id < ''c2''', 'item_knn');";

const SCORES: &str = "SELECT customer_id, crm.score('churn', c) FROM customers c";
const RECOMMENDATIONS: &str = "SELECT r.* FROM crm.recommend('shop', 'c1000', 10) r";

/// What must survive every crash unchanged.
#[derive(Debug, PartialEq)]
struct State {
    models: Vec<String>,
    deployments: Vec<String>,
    log: Vec<String>,
    scores: Vec<String>,
    recommendations: Vec<String>,
}

fn state(c: &mut postgres::Client) -> State {
    State {
        models: rows_as_text(c, "SELECT id, name, version, md5(model) FROM crm.models"),
        deployments: rows_as_text(c, "SELECT d.name, m.version FROM crm.deployments d JOIN crm.models m ON m.id = d.model_id"),
        log: rows_as_text(c, "SELECT id, name, action, version, previous_version, reason FROM crm.deployment_log"),
        scores: rows_as_text(c, SCORES),
        recommendations: rows_as_text(c, RECOMMENDATIONS),
    }
}

/// The deployment log agrees with crm.deployments: the last entry of every name is its
/// deployed version (or an undeploy of a name with none), and every deployed name has one.
fn assert_log_consistent(c: &mut postgres::Client) {
    let disagreeing = rows_as_text(
        c,
        "WITH last AS (SELECT DISTINCT ON (name) name, action, version FROM crm.deployment_log ORDER BY name, id DESC),
              deployed AS (SELECT d.name, m.version FROM crm.deployments d JOIN crm.models m ON m.id = d.model_id)
         SELECT coalesce(l.name, d.name), l.action, l.version AS logged, d.version AS deployed
         FROM last l FULL JOIN deployed d ON d.name = l.name
         WHERE l.name IS NULL OR (l.action = 'deploy') IS DISTINCT FROM (d.name IS NOT NULL) OR l.version IS DISTINCT FROM d.version AND l.action = 'deploy'",
    );
    assert!(disagreeing.is_empty(), "crm.deployment_log disagrees with crm.deployments: {disagreeing:?}");
}

/// Runs `sql` in a session of its own (after `setup` in the same session: e.g. an open
/// transaction's first statements), SIGKILLs that backend once `sql` has run for `after`
/// (checking it still runs then; with `checkpoint_first`, after a CHECKPOINT has written
/// the open transaction's pages to disk), and waits for the server to come back from
/// crash recovery.
fn kill_backend_during(cluster: &Cluster, setup: &str, sql: &str, after: Duration, checkpoint_first: bool) {
    let mut victim = cluster.connect("crm");
    let pid: i32 = victim.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    if !setup.is_empty() {
        victim.batch_execute(setup).unwrap();
    }
    let mut witness = cluster.connect("crm");
    let sql_owned = sql.to_string();
    let runner = std::thread::spawn(move || {
        let result = victim.batch_execute(&sql_owned);
        (result, victim)
    });
    std::thread::sleep(after);
    let running: Option<String> = witness.query_opt("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().map(|r| r.get(0));
    assert!(!runner.is_finished(), "{sql}: finished before the kill: make it longer");
    if checkpoint_first {
        witness.batch_execute("CHECKPOINT").unwrap();
    }
    sigkill(pid);
    let killed_at = Instant::now();
    assert_eq!(running.as_deref(), Some("active"), "{sql}: not running at the kill");
    let (result, mut victim) = runner.join().unwrap();
    assert!(result.is_err(), "{sql}: succeeded although its backend was killed");
    assert!(victim.batch_execute("COMMIT").is_err(), "{sql}: the session goes on after its backend was killed");
    // every other session is terminated too: a crash restart, not a lost connection
    let terminated = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        witness.simple_query("SELECT 1").is_err()
    });
    assert!(terminated, "another session survived the kill by 30 s: no crash restart happened");
    let mut c = cluster.connect_retrying("crm", Duration::from_secs(120));
    eprintln!("{sql}: killed; the server accepted connections again after {:?}", killed_at.elapsed());
    c.simple_query("SELECT 1").unwrap();
}

#[test]
fn killed_backends_and_an_immediate_stop_leave_the_registry_consistent() {
    let Some(()) = prerequisites("crash") else { return };
    let mut cluster = Cluster::init("crash");
    cluster.start();
    let mut c = cluster.create_database("crm");
    c.batch_execute(DATA).unwrap();
    let before = state(&mut c);
    assert_eq!(before.deployments, ["(churn,1)", "(shop,1)"]);
    assert_log_consistent(&mut c);
    drop(c);
    let restarts = |cluster: &Cluster| cluster.log().matches("all server processes terminated; reinitializing").count();

    // 1. a long training, killed
    kill_backend_during(
        &cluster,
        "",
        "SELECT * FROM crm.train_recommender('r', 'orders', 'als', '{\"factors\": 128, \"iterations\": 500}')",
        Duration::from_millis(2500),
        false,
    );
    assert_eq!(restarts(&cluster), 1, "no crash restart in the server log");
    let mut c = cluster.connect("crm");
    assert_eq!(state(&mut c), before, "a killed training changed the registry or the scores");
    assert_log_consistent(&mut c);

    // 2. a deploy in an open transaction, killed before COMMIT (its changes checkpointed
    // to disk before the kill)
    kill_backend_during(&cluster, "BEGIN; SELECT * FROM crm.deploy('churn', 2, 'never committed')", "SELECT pg_sleep(60)", Duration::from_millis(500), true);
    assert_eq!(restarts(&cluster), 2);
    let mut c = cluster.connect("crm");
    assert_eq!(state(&mut c), before, "an uncommitted deploy survived the crash");
    let never: i64 = c.query_one("SELECT count(*) FROM crm.deployment_log WHERE reason = 'never committed' OR version = 2", &[]).unwrap().get(0);
    assert_eq!(never, 0);
    assert_log_consistent(&mut c);

    // 3. record matching on a large table, killed
    kill_backend_during(
        &cluster,
        "",
        "SELECT count(*) FROM crm.dedupe('people', 'id', '{\"max_pairs\": 500000000, \"max_block\": 1000000}')",
        Duration::from_millis(2500),
        false,
    );
    assert_eq!(restarts(&cluster), 3);
    let mut c = cluster.connect("crm");
    assert_eq!(state(&mut c), before, "a killed dedupe changed the registry or the scores");

    // 4. pg_ctl stop -m immediate during a training, then start again
    let mut trainer = cluster.connect("crm");
    let runner = std::thread::spawn(move || {
        trainer.batch_execute(
            "SELECT * FROM crm.train_classifier('big', 'SELECT o.qty, length(o.item) AS l, o.customer_id < ''c3'' AS y FROM orders o', 'y', 'auto')",
        )
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!runner.is_finished(), "the training finished before the stop: make it longer");
    cluster.stop("immediate");
    assert!(runner.join().unwrap().is_err());
    cluster.start_again();
    let mut c = cluster.connect("crm");
    assert_eq!(state(&mut c), before, "a training under an immediate stop changed the registry or the scores");
    assert_log_consistent(&mut c);

    // the server trains, deploys and scores after all this, and the log goes on
    let version: i32 = c
        .query_one(
            "SELECT version FROM crm.train_recommender('r', 'SELECT * FROM orders WHERE customer_id < ''c2''', 'als', '{\"factors\": 8, \"iterations\": 2}')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, 1, "a killed training left a version behind");
    c.batch_execute("SELECT * FROM crm.deploy('churn', 2, 'after the crashes')").unwrap();
    assert_ne!(rows_as_text(&mut c, SCORES), before.scores);
    let last: Vec<String> =
        rows_as_text(&mut c, "SELECT version, previous_version, reason FROM crm.deployment_log WHERE name = 'churn' ORDER BY id DESC LIMIT 1");
    assert_eq!(last, ["(2,1,\"after the crashes\")"]);
    assert_log_consistent(&mut c);
    // and a fresh session after a restart scores version 1 again after a rollback
    c.batch_execute("SELECT * FROM crm.deploy('churn', 1, 'rollback')").unwrap();
    assert_eq!(rows_as_text(&mut cluster.connect("crm"), SCORES), before.scores);
}
