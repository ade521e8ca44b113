//! Client integration tests of the model registry and churn scoring: what two sessions,
//! a cancel, and a dump/restore see.

mod common;

use std::time::{Duration, Instant};

use common::{connect, fresh_database, sqlstate};

const CUSTOMERS: &str = "
CREATE TABLE customers AS
SELECT i AS customer_id,
       (abs(hashtext('calls' || i)) % 10)::int AS support_calls,
       (abs(hashtext('tenure' || i)) % 60)::float8 AS tenure_months,
       (ARRAY['basic', 'plus', 'pro'])[1 + abs(hashtext('plan' || i)) % 3] AS plan,
       (abs(hashtext('noise' || i)) % 1000) / 1000.0 AS noise
FROM generate_series(1, 2000) i;
ALTER TABLE customers ADD COLUMN churned boolean;
UPDATE customers SET churned = (-2.0 + 0.45 * support_calls - 0.04 * tenure_months) > ln(noise / (1 - noise + 1e-9) + 1e-9);";

/// A fingerprint of the deployed model's scores (the mean alone would not do: every
/// calibrated model's mean score is the base rate).
fn mean_score(c: &mut postgres::Client) -> f64 {
    c.query_one("SELECT avg(abs(crm.churn_score(c) - 0.5)) FROM customers c", &[]).unwrap().get(0)
}

#[test]
fn deploy_in_one_session_is_seen_by_the_next_statement_of_another() {
    let Some(url) = fresh_database("it_deploy_cache") else { return };
    let mut a = connect(&url);
    a.batch_execute(CUSTOMERS).unwrap();
    a.batch_execute("SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}')").unwrap();
    // version 2: only noise, a different model
    a.batch_execute("SELECT * FROM crm.train_classifier('churn', 'SELECT noise, churned FROM customers', 'churned')").unwrap();
    let mut b = connect(&url);
    let v1 = mean_score(&mut b); // b caches version 1
    a.batch_execute("SELECT * FROM crm.deploy('churn', 2)").unwrap();
    let v2 = mean_score(&mut b);
    assert!((v1 - v2).abs() > 1e-6, "session b still scores with the old version: {v1} vs {v2}");
    // and back: rollback is deploying the older version
    a.batch_execute("SELECT * FROM crm.deploy('churn', 1)").unwrap();
    assert!((mean_score(&mut b) - v1).abs() < 1e-12);
    // an uncommitted deploy is not seen by others
    let mut tx = a.transaction().unwrap();
    tx.batch_execute("SELECT * FROM crm.deploy('churn', 2)").unwrap();
    assert!((mean_score(&mut b) - v1).abs() < 1e-12);
    tx.rollback().unwrap();
    assert!((mean_score(&mut b) - v1).abs() < 1e-12);
}

#[test]
fn dump_and_restore_carry_models_with_identical_scores() {
    let Some(url) = fresh_database("it_models_src") else { return };
    let Some(target_url) = fresh_database("it_models_dst") else { return };
    let mut c = connect(&url);
    c.batch_execute(CUSTOMERS).unwrap();
    c.batch_execute("SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}')").unwrap();
    c.batch_execute("SELECT * FROM crm.train_classifier('churn', 'SELECT noise, churned FROM customers', 'churned')").unwrap();
    c.batch_execute("SELECT * FROM crm.deploy('churn', 2, 'try v2'); SELECT * FROM crm.deploy('churn', 1, 'back to v1')").unwrap();
    let before: Vec<f64> = c.query("SELECT crm.churn_score(c) FROM customers c ORDER BY customer_id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    let log_query = "SELECT string_agg(concat_ws(' ', id, name, action, version, previous_version, reason, logged_at, logged_by), E'\n' ORDER BY id) FROM crm.deployment_log";
    let log_before: String = c.query_one(log_query, &[]).unwrap().get(0);
    // the target database was created with the extension; drop it so the dump recreates it
    let mut t = connect(&target_url);
    t.batch_execute("DROP EXTENSION pg_crm CASCADE; DROP SCHEMA crm CASCADE").unwrap();
    let pg_bin = "/usr/lib/postgresql/15/bin";
    let dump = std::process::Command::new(format!("{pg_bin}/pg_dump")).args(["--dbname", &url, "--format", "custom"]).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let mut restore = std::process::Command::new(format!("{pg_bin}/pg_restore"))
        .args(["--dbname", &target_url])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    restore.stdin.take().unwrap().write_all(&dump.stdout).unwrap();
    let out = restore.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut t = connect(&target_url);
    let after: Vec<f64> = t.query("SELECT crm.churn_score(c) FROM customers c ORDER BY customer_id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(before, after);
    let deployed: i64 = t.query_one("SELECT count(*) FROM crm.model_summary WHERE deployed", &[]).unwrap().get(0);
    assert_eq!(deployed, 1);
    // the deploy log comes back as it was (the restore is not logged as new deploys) and
    // goes on from there
    let log_after: String = t.query_one(log_query, &[]).unwrap().get(0);
    assert_eq!(log_before, log_after);
    t.batch_execute("SELECT * FROM crm.deploy('churn', 2, 'after the restore')").unwrap();
    let logged: i64 = t.query_one("SELECT count(*) FROM crm.deployment_log WHERE reason = 'after the restore' AND previous_version = 1", &[]).unwrap().get(0);
    assert_eq!(logged, 1);
}

#[test]
fn cancelled_training_stops_quickly_and_leaves_nothing() {
    let Some(url) = fresh_database("it_cancel") else { return };
    let mut c = connect(&url);
    c.batch_execute(
        "CREATE TABLE big AS SELECT (random() * 10)::float8 a, random() b, random() c, random() d, (random() < 0.3) y FROM generate_series(1, 3000000)",
    )
    .unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let url2 = url.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let mut other = connect(&url2);
        let sent = Instant::now();
        other.execute("SELECT pg_cancel_backend($1)", &[&pid]).unwrap();
        sent
    });
    let err = c.batch_execute("SELECT * FROM crm.train_classifier('big', 'big', 'y', 'logistic', '{\"max_iter\": 100000, \"tol\": 1e-15}')").unwrap_err();
    let stopped = Instant::now();
    let sent = canceller.join().unwrap();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(stopped.duration_since(sent) < Duration::from_secs(1), "took {:?} to stop", stopped.duration_since(sent));
    let left: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}
