//! Client integration tests of RFM and k-means segments: the full CDNOW data when it is
//! there, a cancel, an ordinary role, and a dump/restore.

mod common;

use std::time::{Duration, Instant};

use common::{connect, fresh_database, sqlstate};

const CUSTOMERS: &str = "
CREATE TABLE customer_features AS
SELECT i AS customer_id,
       (i % 4) * 10 + (abs(hashtext('a' || i)) % 1000) / 500.0 AS spend,
       (i % 4) * 3 + (abs(hashtext('b' || i)) % 1000) / 1000.0 AS visits,
       (abs(hashtext('c' || i)) % 1000) / 100.0 AS tenure
FROM generate_series(1, 4000) i;";

#[test]
fn rfm_and_segments_on_the_full_cdnow_data() {
    let Some(path) = common::shared_dataset("cdnow_master.txt") else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    let Some(url) = fresh_database("it_cdnow") else { return };
    let mut c = connect(&url);
    c.batch_execute("SET timezone = 'UTC'; CREATE TABLE orders (customer_id int, order_at timestamptz, amount float8)").unwrap();
    let mut copy = String::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 4 {
            copy.push_str(&format!("{}\t{}-{}-{}\t{}\n", f[0], &f[1][..4], &f[1][4..6], &f[1][6..], f[3]));
        }
    }
    let mut writer = c.copy_in("COPY orders FROM STDIN").unwrap();
    std::io::Write::write_all(&mut writer, copy.as_bytes()).unwrap();
    writer.finish().unwrap();
    // Every field of every customer equals the plain SQL figures.
    let mismatches: i64 = c
        .query_one(
            "WITH a AS (SELECT customer_id, crm.rfm_agg(order_at, amount, '1998-06-30') r FROM orders GROUP BY 1),
                  p AS (SELECT customer_id, '1998-06-30'::date - max(order_at)::date AS recency, count(DISTINCT order_at::date) AS frequency,
                               sum(amount) AS total, min(order_at) AS first_order, '1998-06-30'::date - min(order_at)::date AS t
                        FROM orders GROUP BY 1)
             SELECT count(*) FROM a FULL JOIN p USING (customer_id)
             WHERE (r).recency_days IS DISTINCT FROM p.recency::float8 OR (r).frequency IS DISTINCT FROM p.frequency
                OR abs((r).monetary_total - p.total) > 1e-9 * abs(p.total) OR (r).first_order IS DISTINCT FROM p.first_order
                OR (r).t_days IS DISTINCT FROM p.t::float8",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(mismatches, 0);
    c.batch_execute(
        "CREATE TABLE rfm AS SELECT customer_id, (r).recency_days AS recency, (r).frequency AS frequency, (r).monetary_mean AS monetary
         FROM (SELECT customer_id, crm.rfm_agg(order_at, amount, '1998-06-30') r FROM orders GROUP BY 1) s",
    )
    .unwrap();
    c.batch_execute("SELECT * FROM crm.train_segments('cdnow', 'rfm', 5, '{\"log1p\": true, \"key\": \"customer_id\", \"seed\": 0}')").unwrap();
    let row =
        c.query_one("SELECT (metrics->>'inertia')::float8, (metrics->>'silhouette')::float8, training_rows FROM crm.models WHERE name = 'cdnow'", &[]).unwrap();
    let (inertia, silhouette, rows): (f64, f64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(rows, 23_570);
    // The stored inertia is the sum of squared standardised distances of the rows as
    // crm.segment_distance reports them: model, scorer and metrics agree.
    let recomputed: f64 = c.query_one("SELECT sum(crm.segment_distance('cdnow', r) ^ 2) FROM rfm r", &[]).unwrap().get(0);
    assert!((recomputed / inertia - 1.0).abs() < 1e-9, "{recomputed} vs {inertia}");
    // scikit-learn KMeans(n_init=10) on this matrix: inertia 18,653.75 (bench/segment.py
    // prints both); silhouette about 0.38.
    assert!(inertia < 18_653.75 * 1.005, "inertia {inertia}");
    assert!(silhouette > 0.3, "silhouette {silhouette}");
}

#[test]
fn cancelled_segment_training_stops_quickly_and_leaves_nothing() {
    let Some(url) = fresh_database("it_segments_cancel") else { return };
    let mut c = connect(&url);
    c.batch_execute("CREATE TABLE big AS SELECT random() a, random() b, random() c, random() d FROM generate_series(1, 1000000)").unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let url2 = url.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        let mut other = connect(&url2);
        let sent = Instant::now();
        other.execute("SELECT pg_cancel_backend($1)", &[&pid]).unwrap();
        sent
    });
    let err = c.batch_execute("SELECT * FROM crm.train_segments('big', 'big', 16, '{\"n_init\": 1000}')").unwrap_err();
    let stopped = Instant::now();
    let sent = canceller.join().unwrap();
    assert_eq!(sqlstate(&err), "57014", "{:?}", err.as_db_error().map(|e| e.message()));
    assert!(stopped.duration_since(sent) < Duration::from_secs(1), "took {:?} to stop", stopped.duration_since(sent));
    let left: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}

#[test]
fn a_crm_user_segments_but_cannot_train() {
    let Some(url) = fresh_database("it_segments_role") else { return };
    let mut c = connect(&url);
    c.batch_execute(CUSTOMERS).unwrap();
    c.batch_execute("SELECT * FROM crm.train_segments('shop', 'customer_features', 4, '{\"key\": \"customer_id\", \"exclude\": [\"tenure\"]}')").unwrap();
    c.batch_execute(
        "DO $$ BEGIN CREATE ROLE crm_segment_analyst LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         GRANT crm_user TO crm_segment_analyst; GRANT SELECT ON customer_features TO crm_segment_analyst",
    )
    .unwrap();
    let mut analyst = connect(&format!("{url} user=crm_segment_analyst"));
    let counts: Vec<i64> =
        analyst.query("SELECT count(*) FROM customer_features c GROUP BY crm.segment('shop', c) ORDER BY 1", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(counts, vec![1000, 1000, 1000, 1000]);
    let err = analyst.batch_execute("SELECT * FROM crm.train_segments('mine', 'customer_features', 2)").unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    let models: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(models, 1);
}

#[test]
fn dump_and_restore_carry_segment_models() {
    let Some(url) = fresh_database("it_segments_src") else { return };
    let Some(target_url) = fresh_database("it_segments_dst") else { return };
    let mut c = connect(&url);
    c.batch_execute(CUSTOMERS).unwrap();
    c.batch_execute("SELECT * FROM crm.train_segments('shop', 'customer_features', NULL, '{\"key\": \"customer_id\", \"log1p\": [\"spend\"]}')").unwrap();
    let query = "SELECT crm.segment('shop', c), crm.segment_distance('shop', c) FROM customer_features c ORDER BY customer_id";
    let before: Vec<(i32, f64)> = c.query(query, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut t = connect(&target_url);
    t.batch_execute("DROP EXTENSION pg_crm CASCADE; DROP SCHEMA crm CASCADE").unwrap();
    let pg_bin = "/usr/lib/postgresql/15/bin";
    let dump = std::process::Command::new(format!("{pg_bin}/pg_dump")).args(["--dbname", &url, "--format", "custom"]).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let out = std::process::Command::new(format!("{pg_bin}/pg_restore"))
        .args(["--dbname", &target_url])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), &dump.stdout)?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut t = connect(&target_url);
    let after: Vec<(i32, f64)> = t.query(query, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(before, after);
    let profile_rows: i64 = t.query_one("SELECT count(*) FROM crm.segment_profile('shop')", &[]).unwrap().get(0);
    assert!(profile_rows >= 6);
}
