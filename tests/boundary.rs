//! Client integration tests of the Postgres boundary across sessions: schema changes
//! made by one session under another's scoring trigger and scoring calls (a pooled
//! connection keeps its caches), and the model cache under REPEATABLE READ.

mod common;

use common::{connect, fresh_database, sqlstate};

const SETUP: &str = "
CREATE TABLE t (id int, a float8, b text, y bool, s float8);
INSERT INTO t SELECT g, g % 7, CASE WHEN g % 3 = 0 THEN 'x' ELSE 'z' END, g % 5 = 0 FROM generate_series(1, 2000) g;
SELECT * FROM crm.train_classifier('m', 'SELECT a, b, y FROM t', 'y', 'logistic');
CREATE TRIGGER sc BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('m', 's');";

/// Rows of t whose stored score differs from a fresh crm.score (none when layouts are right).
fn wrong_scores(c: &mut postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM t WHERE s IS DISTINCT FROM crm.score('m', t)", &[]).unwrap().get(0)
}

#[test]
fn schema_changes_by_another_session_reach_a_pooled_sessions_caches() {
    let Some(url) = fresh_database("it_boundary_ddl") else { return };
    let mut ddl = connect(&url);
    ddl.batch_execute(SETUP).unwrap();
    let mut pooled = connect(&url);
    pooled.batch_execute("UPDATE t SET a = a").unwrap();
    assert_eq!(wrong_scores(&mut pooled), 0);
    // a rewrite that moves every attribute after `id` (int -> bigint), then a type the
    // model cannot read, then back: the pooled session follows each step
    ddl.batch_execute("ALTER TABLE t ALTER COLUMN id TYPE bigint").unwrap();
    pooled.batch_execute("UPDATE t SET b = b WHERE id % 2 = 0").unwrap();
    assert_eq!(wrong_scores(&mut pooled), 0);
    ddl.batch_execute("ALTER TABLE t ALTER COLUMN a TYPE text").unwrap();
    let e = pooled.batch_execute("UPDATE t SET a = a WHERE id < 10").unwrap_err();
    assert_eq!(sqlstate(&e), "42804", "{e:?}");
    let e = pooled.batch_execute("SELECT crm.score('m', t) FROM t").unwrap_err();
    assert_eq!(sqlstate(&e), "42804", "{e:?}");
    ddl.batch_execute("ALTER TABLE t ALTER COLUMN a TYPE numeric USING a::numeric").unwrap();
    pooled.batch_execute("UPDATE t SET a = a").unwrap();
    assert_eq!(wrong_scores(&mut pooled), 0);
    // drop and re-create under the same name, another column order
    ddl.batch_execute(
        "DROP TABLE t; CREATE TABLE t (s float8, pad text, y bool, b text, a float8);
         CREATE TRIGGER sc BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('m', 's');",
    )
    .unwrap();
    pooled.batch_execute("INSERT INTO t (pad, y, b, a) SELECT repeat('p', g % 50), g % 5 = 0, 'x', g % 7 FROM generate_series(1, 500) g").unwrap();
    assert_eq!(wrong_scores(&mut pooled), 0);
    pooled.query_one("SELECT 1", &[]).unwrap();
}

#[test]
fn repeatable_read_sees_one_deployment_and_read_committed_the_latest() {
    let Some(url) = fresh_database("it_boundary_rr") else { return };
    let mut a = connect(&url);
    a.batch_execute(SETUP).unwrap();
    a.batch_execute("SELECT * FROM crm.train_classifier('m', 'SELECT a, y FROM t', 'y', 'logistic', '{\"C\": 0.001}')").unwrap();
    a.batch_execute("SELECT * FROM crm.deploy('m', 1)").unwrap();
    let fingerprint = |c: &mut postgres::Client| -> f64 { c.query_one("SELECT sum(crm.score('m', t)) FROM t", &[]).unwrap().get(0) };
    let mut b = connect(&url);
    let v1 = fingerprint(&mut b);
    b.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
    assert_eq!(fingerprint(&mut b), v1);
    a.batch_execute("SELECT * FROM crm.deploy('m', 2)").unwrap();
    // committed elsewhere, but this transaction's snapshot still has version 1
    assert_eq!(fingerprint(&mut b), v1, "a REPEATABLE READ transaction switched models mid-transaction");
    b.batch_execute("COMMIT").unwrap();
    let v2 = fingerprint(&mut b);
    assert_ne!(v1, v2, "the statement after the commit still scores with version 1");
    // a fresh session whose first read of the model is under an older snapshot does not
    // keep that version after its transaction ends
    let mut c = connect(&url);
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
    c.query_one("SELECT 1", &[]).unwrap(); // takes the snapshot (version 2 deployed)
    a.batch_execute("SELECT * FROM crm.deploy('m', 1)").unwrap();
    assert_eq!(fingerprint(&mut c), v2, "the snapshot's deployment");
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(fingerprint(&mut c), v1, "a model read under an old snapshot outlived its transaction");
}
