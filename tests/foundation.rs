//! Client integration tests of the foundation: what an application or a BI tool sees over
//! the wire (binary protocol, parallel plans, privileges, concurrency, dump and restore).

mod common;

use common::{connect, fresh_database, sqlstate};
use postgres::types::{FromSql, IsNull, ToSql, Type};

/// The raw wire bytes of any value, to move a custom type through binary I/O.
#[derive(Debug, Clone, PartialEq)]
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for Raw {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

#[test]
fn cleaning_over_the_wire_and_errors_carry_sqlstate() {
    let Some(url) = fresh_database("it_clean") else { return };
    let mut c = connect(&url);
    let row = c
        .query_one(
            "SELECT crm.clean_email($1), crm.clean_phone($2, $3), crm.parse_date($4, 'DMY')::text",
            &[&"\"Ann\" <ANN@X.COM>", &"020 7946 0958", &"gb", &"4 March 2021"],
        )
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("ann@x.com"));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("+442079460958"));
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("2021-03-04"));
    let err = c.query_one("SELECT crm.clean_phone('1', 'Mars')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
    assert!(err.as_db_error().unwrap().message().contains("default_region"));
    // the session survives the error
    assert_eq!(c.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
}

#[test]
fn scaler_binary_io_round_trips() {
    let Some(url) = fresh_database("it_scaler_binary") else { return };
    let mut c = connect(&url);
    c.batch_execute("CREATE TABLE t AS SELECT g::float8 AS x FROM generate_series(1, 1000) g").unwrap();
    // The client receives the value in binary (send), and sends it back in binary (recv).
    let raw: Raw = c.query_one("SELECT crm.scaler_agg(x, 'robust') FROM t", &[]).unwrap().get(0);
    let text: String = c.query_one("SELECT crm.scaler_agg(x, 'robust')::text FROM t", &[]).unwrap().get(0);
    let stmt = c.prepare_typed("SELECT $1::crm.scaler::text", &[]).unwrap();
    let back: String = c.query_one(&stmt, &[&raw]).unwrap().get(0);
    assert_eq!(back, text);
}

#[test]
fn scaler_zscore_on_a_million_rows_parallel_equals_builtins() {
    let Some(url) = fresh_database("it_scaler_parallel") else { return };
    let mut c = connect(&url);
    c.batch_execute(
        "CREATE TABLE big AS SELECT (random() * 1000 + 1e6)::float8 AS x FROM generate_series(1, 1000000);
         ANALYZE big;
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET max_parallel_workers_per_gather = 2;",
    )
    .unwrap();
    let plan: Vec<String> = c.query("EXPLAIN (COSTS OFF) SELECT crm.scaler_agg(x) FROM big", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    let plan = plan.join("\n");
    assert!(plan.contains("Gather") && plan.contains("Partial Aggregate"), "{plan}");
    let row = c
        .query_one(
            "SELECT (crm.scaler_params(s)->>'mean')::float8, (crm.scaler_params(s)->>'stddev')::float8, a, sd
             FROM (SELECT crm.scaler_agg(x) s, avg(x) a, stddev_pop(x) sd FROM big) q",
            &[],
        )
        .unwrap();
    let (mean, sd, avg, sd_pop): (f64, f64, f64, f64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(((mean - avg) / avg).abs() < 1e-9, "{mean} vs {avg}");
    assert!(((sd - sd_pop) / sd_pop).abs() < 1e-9, "{sd} vs {sd_pop}");
}

#[test]
fn an_ordinary_role_can_use_the_functions() {
    let Some(url) = fresh_database("it_privileges") else { return };
    let mut admin = connect(&url);
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS crm_analyst; CREATE ROLE crm_analyst LOGIN;
             GRANT USAGE ON SCHEMA crm TO crm_analyst;
             CREATE TABLE contacts(email text); INSERT INTO contacts VALUES ('A@B.COM'), ('junk');
             GRANT SELECT ON contacts TO crm_analyst;",
        )
        .unwrap();
    let mut analyst = connect(&format!("{url} user=crm_analyst"));
    let n: i64 = analyst.query_one("SELECT count(crm.clean_email(email)) FROM contacts", &[]).unwrap().get(0);
    assert_eq!(n, 1);
    let s: String = analyst.query_one("SELECT crm.scaler_agg(v)::text FROM (VALUES (1.0::float8), (2.0)) t(v)", &[]).unwrap().get(0);
    assert!(s.contains("zscore"));
}

#[test]
fn concurrent_sessions_clean_the_same_data() {
    let Some(url) = fresh_database("it_concurrency") else { return };
    let mut setup = connect(&url);
    setup.batch_execute("CREATE TABLE phones AS SELECT '(415) 555-' || lpad((g % 10000)::text, 4, '0') AS p FROM generate_series(1, 20000) g").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = connect(&url);
                let n: i64 = c.query_one("SELECT count(DISTINCT crm.clean_phone(p)) FROM phones", &[]).unwrap().get(0);
                n
            })
        })
        .collect();
    let counts: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(counts.iter().all(|&n| n == counts[0]) && counts[0] > 0, "{counts:?}");
}

#[test]
fn dump_and_restore_keep_stored_scalers() {
    let Some(url) = fresh_database("it_dump_src") else { return };
    let Some(target_url) = fresh_database("it_dump_dst") else { return };
    let mut c = connect(&url);
    c.batch_execute(
        "CREATE TABLE scalers AS SELECT m AS method, crm.scaler_agg(g::float8, m) AS s
         FROM generate_series(1, 5000) g, unnest(ARRAY['zscore','minmax','robust']) m GROUP BY m",
    )
    .unwrap();
    let before: Vec<String> = c.query("SELECT s::text FROM scalers ORDER BY method", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    let pg_bin = "/usr/lib/postgresql/15/bin";
    let dump = std::process::Command::new(format!("{pg_bin}/pg_dump"))
        .args(["--dbname", &url, "--table", "scalers", "--format", "custom"])
        .output()
        .expect("run pg_dump");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let mut restore = std::process::Command::new(format!("{pg_bin}/pg_restore"))
        .args(["--dbname", &target_url])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run pg_restore");
    use std::io::Write;
    restore.stdin.take().unwrap().write_all(&dump.stdout).unwrap();
    assert!(restore.wait().unwrap().success());
    let mut t = connect(&target_url);
    let after: Vec<String> = t.query("SELECT s::text FROM scalers ORDER BY method", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(before, after);
    let scaled: f64 = t.query_one("SELECT crm.scale(2500.5, s) FROM scalers WHERE method = 'zscore'", &[]).unwrap().get(0);
    assert!(scaled.abs() < 1e-9);
}
