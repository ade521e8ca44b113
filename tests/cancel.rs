//! Client integration tests of cancellation: `pg_cancel_backend` and `statement_timeout`
//! stop every long pg_crm call within a second, and leave nothing half-written.

mod common;

use std::time::{Duration, Instant};

use common::{connect, fresh_database, sqlstate};

const DATA: &str = "
CREATE TABLE orders AS
SELECT 'c' || (g % 20000) AS customer_id, 'i' || (abs(hashtext(g::text)) % 20000) AS item, 1 + g % 3 AS qty
FROM generate_series(1, 1500000) g;
CREATE TABLE people AS
SELECT g AS id, (ARRAY['Ann','Bob','Cy','Di','Ed'])[1 + g % 5] || ' ' || (ARRAY['Lee','Ng','Roe','Li','Smith'])[1 + (g / 5) % 5] AS name,
       'p' || (g % 5000) || '@x.com' AS email, lpad((g % 900)::text, 4, '0') AS postcode
FROM generate_series(1, 200000) g;";

/// Runs `sql` in a session of its own, cancels it from another after `after`, and checks
/// it stopped with 57014 within a second of the cancel and left no model behind.
fn cancelled_within_a_second(url: &str, sql: &str, after: Duration) {
    let mut c = connect(url);
    let models: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let url2 = url.to_string();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(after);
        let mut other = connect(&url2);
        let sent = Instant::now();
        other.execute("SELECT pg_cancel_backend($1)", &[&pid]).unwrap();
        sent
    });
    let Err(err) = c.batch_execute(sql) else { panic!("{sql}: finished before it was cancelled: make it longer") };
    let stopped = Instant::now();
    let sent = canceller.join().unwrap();
    assert_eq!(sqlstate(&err), "57014", "{sql}: {err}");
    assert!(stopped.duration_since(sent) < Duration::from_secs(1), "{sql}: took {:?} to stop", stopped.duration_since(sent));
    let left: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(left, models, "{sql}: a cancelled training left a model");
    c.query_one("SELECT 1", &[]).unwrap();
}

#[test]
fn every_long_call_stops_within_a_second_of_a_cancel() {
    let Some(url) = fresh_database("it_cancel_all") else { return };
    connect(&url).batch_execute(DATA).unwrap();
    let after = Duration::from_millis(1500);
    cancelled_within_a_second(&url, "SELECT * FROM crm.train_recommender('als', 'orders', 'als', '{\"factors\": 128, \"iterations\": 500}')", after);
    cancelled_within_a_second(&url, "SELECT * FROM crm.train_recommender('knn', 'orders', 'item_knn', '{\"neighbours\": 400}')", after);
    cancelled_within_a_second(&url, "SELECT count(*) FROM crm.dedupe('people', 'id', '{\"max_pairs\": 500000000, \"max_block\": 1000000}')", after);
    // serving every customer of a trained model
    connect(&url).batch_execute("SELECT * FROM crm.train_recommender('serve', 'orders', 'als', '{\"factors\": 64, \"iterations\": 2}')").unwrap();
    cancelled_within_a_second(&url, "SELECT count(*) FROM crm.recommend_all('serve', 200)", after);
}

#[test]
fn statement_timeout_stops_training() {
    let Some(url) = fresh_database("it_cancel_timeout") else { return };
    let mut c = connect(&url);
    c.batch_execute(DATA).unwrap();
    c.batch_execute("SET statement_timeout = '2s'").unwrap();
    let started = Instant::now();
    let err = c.batch_execute("SELECT * FROM crm.train_recommender('als', 'orders', 'als', '{\"factors\": 128, \"iterations\": 500}')").unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "statement_timeout of 2 s stopped it after {:?}", started.elapsed());
    let left: i64 = c.query_one("SELECT count(*) FROM crm.models", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}

#[test]
fn text_training_stops_within_a_second_of_a_cancel() {
    let Some(url) = fresh_database("it_cancel_text") else { return };
    connect(&url)
        .batch_execute(
            "CREATE TABLE feedback AS
             SELECT 'order ' || (g % 997) || ' word' || (abs(hashtext(g::text)) % 5000) || ' and term' || (abs(hashtext('t' || g)) % 3000)
                    || ' delivered late ' || repeat('x', g % 7) AS body,
                    'topic' || (abs(hashtext('l' || g)) % 12) AS topic
             FROM generate_series(1, 300000) g",
        )
        .unwrap();
    // a tolerance no fit reaches: only the cancel ends it
    cancelled_within_a_second(
        &url,
        "SELECT * FROM crm.train_text_classifier('long', 'feedback', 'body', 'topic', '{\"max_iter\": 100000, \"tol\": 1e-300}')",
        Duration::from_millis(3000),
    );
}
