//! `#[pg_test]`s: SQL-facing behaviour inside a real backend (run by `cargo pgrx test`).

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn text(sql: &str) -> Option<String> {
        Spi::get_one::<String>(sql).expect("query failed")
    }

    #[pg_test]
    fn cleaning_functions_in_sql() {
        assert_eq!(text("SELECT crm.clean_email('\"Ann Lee\" <Ann@X.com>')").as_deref(), Some("ann@x.com"));
        assert_eq!(text("SELECT crm.clean_phone('(415) 555-0132')").as_deref(), Some("+14155550132"));
        assert_eq!(text("SELECT crm.clean_phone('020 7946 0958', 'GB')").as_deref(), Some("+442079460958"));
        assert_eq!(text("SELECT crm.clean_name('SMITH, JOHN')").as_deref(), Some("John Smith"));
        assert_eq!(text("SELECT crm.clean_text('  a \t b ')").as_deref(), Some("a b"));
        assert_eq!(text("SELECT crm.parse_date('04/03/2021', 'DMY')::text").as_deref(), Some("2021-03-04"));
        assert_eq!(text("SELECT crm.phonetic_key('Smyth')").as_deref(), Some("SM0"));
        let s = Spi::get_one::<f64>("SELECT crm.similarity('MARTHA', 'MARHTA')").unwrap().unwrap();
        assert!((s - 0.9611).abs() < 1e-3);
    }

    #[pg_test]
    fn cleaning_functions_are_null_not_errors_on_garbage() {
        // Which of '', '  ', '@@@', a 1 MB word and control characters each keeps: a
        // junk-only input gives NULL, never an error; text that holds a word keeps it.
        for (f, kept) in [
            ("clean_email", 0),
            ("clean_phone", 0),
            ("clean_name", 1), // the long word, as a name
            ("clean_text", 2), // '@@@' and the long word
            ("parse_date", 0),
            ("phonetic_key", 1), // the long word's key
        ] {
            let sql = format!("SELECT count(crm.{f}(x)) FROM (VALUES (''), ('  '), ('@@@'), (repeat('x', 1000000)), (E'\\x01\\x02')) v(x)");
            let n = Spi::get_one::<i64>(&sql).unwrap().unwrap();
            assert_eq!(n, kept, "{f}");
        }
        assert_eq!(text("SELECT crm.clean_email(NULL)"), None);
    }

    #[pg_test]
    fn cleaning_functions_are_immutable_strict_parallel_safe() {
        let bad = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'crm'
               AND p.proname IN ('clean_email','clean_phone','clean_name','clean_text','parse_date','similarity','phonetic_key')
               AND NOT (p.provolatile = 'i' AND p.proisstrict AND p.proparallel = 's')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(bad, 0);
    }

    #[pg_test(
        error = "invalid value for argument \"default_region\": \"XX\"; accepted: a two-letter ISO 3166 region code with telephone metadata, such as 'US', 'GB', 'DE', 'IN'"
    )]
    fn bad_region_is_an_error() {
        text("SELECT crm.clean_phone('415 555 0132', 'XX')");
    }

    #[pg_test(error = "invalid value for argument \"field_order\": \"DYM\"; accepted: 'YMD', 'DMY' or 'MDY'")]
    fn bad_field_order_is_an_error() {
        text("SELECT crm.parse_date('2021-01-01', 'DYM')::text");
    }

    #[pg_test]
    fn scaler_zscore_equals_builtins() {
        Spi::run("CREATE TABLE t AS SELECT (random() * 1000)::float8 AS x FROM generate_series(1, 20000)").unwrap();
        Spi::run("INSERT INTO t VALUES (NULL), (NULL)").unwrap();
        let row = Spi::get_two::<f64, f64>(
            "SELECT (crm.scaler_params(s)->>'mean')::float8 - a, (crm.scaler_params(s)->>'stddev')::float8 / sd - 1
             FROM (SELECT crm.scaler_agg(x) s, avg(x) a, stddev_pop(x) sd FROM t) q",
        )
        .unwrap();
        assert!(row.0.unwrap().abs() < 1e-9);
        assert!(row.1.unwrap().abs() < 1e-9);
        let z = Spi::get_one::<f64>("SELECT avg(crm.scale(x, s)) FROM t, (SELECT crm.scaler_agg(x) s FROM t) p").unwrap().unwrap();
        assert!(z.abs() < 1e-9);
    }

    #[pg_test]
    fn scaler_empty_is_null_and_text_round_trips() {
        assert_eq!(text("SELECT crm.scaler_agg(x)::text FROM (SELECT 1.0::float8 x WHERE false) e"), None);
        let out = text("SELECT crm.scaler_agg(x, 'minmax')::text FROM (VALUES (1.0::float8), (3.0)) v(x)").unwrap();
        assert!(out.contains("\"method\":\"minmax\"") && out.contains("\"max\":3.0"), "{out}");
        let back = text(&format!("SELECT '{out}'::crm.scaler::text")).unwrap();
        assert_eq!(out, back);
        let y = Spi::get_one::<f64>(&format!("SELECT crm.scale(2.0, '{out}'::crm.scaler)")).unwrap().unwrap();
        assert_eq!(y, 0.5);
    }

    #[pg_test(error = "invalid value for argument \"method\": \"median\"; accepted: 'zscore', 'minmax' or 'robust'")]
    fn scaler_bad_method_is_an_error() {
        text("SELECT crm.scaler_agg(x, 'median')::text FROM (VALUES (1.0::float8)) v(x)");
    }

    #[pg_test(error = "invalid crm.scaler: n must be at least 1")]
    fn scaler_bad_text_is_an_error() {
        text(r#"SELECT '{"method":"zscore","n":0,"mean":0,"stddev":1,"min":0,"max":1}'::crm.scaler::text"#);
    }

    #[pg_test]
    fn train_score_and_explain_round_trip() {
        Spi::run(
            "CREATE TABLE c AS SELECT i AS id, (i % 10)::float8 AS calls, (ARRAY['a','b'])[1 + i % 2] AS plan,
                    ((i % 10) + (i % 7) > 9) AS churned FROM generate_series(1, 400) i",
        )
        .unwrap();
        let deployed =
            Spi::get_one::<bool>("SELECT deployed FROM crm.train_classifier('t', 'c', 'churned', 'logistic', '{\"key\": \"id\"}')").unwrap().unwrap();
        assert!(deployed);
        let hi = Spi::get_one::<f64>("SELECT crm.score('t', c) FROM c WHERE id = 9").unwrap().unwrap();
        let lo = Spi::get_one::<f64>("SELECT crm.score('t', c) FROM c WHERE id = 10").unwrap().unwrap();
        assert!(hi > lo, "{hi} vs {lo}");
        let total = Spi::get_one::<f64>("SELECT sum(contribution) FROM crm.explain('t', (SELECT c FROM c WHERE id = 9), 10)").unwrap().unwrap();
        assert!((total - (hi / (1.0 - hi)).ln()).abs() < 1e-9);
    }

    #[pg_test]
    fn scoring_functions_are_stable_and_parallel_safe() {
        let bad = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'crm'::regnamespace
               AND proname IN ('score', 'churn_score', 'explain') AND NOT (provolatile = 's' AND proparallel = 's')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(bad, 0);
    }

    #[pg_test(error = "no deployed classifier model named \"missing\"; train one with crm.train_classifier or deploy a version with crm.deploy")]
    fn unknown_model_is_an_error() {
        Spi::get_one::<f64>("SELECT crm.score('missing', r) FROM (SELECT 1 AS a) r").unwrap();
    }

    #[pg_test]
    fn max_threads_sets_the_pool_cap_on_set_and_reset() {
        Spi::run("SET crm.max_threads = 3").unwrap();
        assert_eq!(crate::pool::max_threads(), 3);
        Spi::run("SET LOCAL crm.max_threads = 1").unwrap();
        assert_eq!(crate::pool::max_threads(), 1);
        Spi::run("RESET crm.max_threads").unwrap();
        assert_eq!(crate::pool::max_threads(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    }

    /// What a SQL entry point does when a cancel arrives during a fit: the fit stops at its
    /// next poll of `cancel_requested`, and `raise_pending_cancel` raises Postgres's own
    /// 57014 on this thread.
    #[pg_test(error = "canceling statement due to user request")]
    fn a_cancel_during_a_fit_raises_postgres_cancel() {
        use crate::pg::source::{cancel_requested, raise_pending_cancel};
        use crate::recommend::{Algorithm, AlsOptions, InteractionsBuilder, Model};
        let mut builder = InteractionsBuilder::new();
        for customer in 0..200 {
            for item in 0..10 {
                builder.push(&format!("c{customer}"), &format!("i{}", (customer + item) % 50), 1.0, None).unwrap();
            }
        }
        let interactions = builder.finish();
        // SAFETY: what Postgres's SIGINT handler sets for pg_cancel_backend, on this backend's thread.
        unsafe {
            pgrx::pg_sys::QueryCancelPending = 1;
            pgrx::pg_sys::InterruptPending = 1;
        }
        let fit = Model::fit(&interactions, &Algorithm::Als(AlsOptions::default()), 2, &cancel_requested);
        assert!(matches!(fit, Err(crate::recommend::RecommendError::Cancelled)));
        let _ = raise_pending_cancel(fit);
        panic!("the cancel was not raised");
    }

    const CLV_ORDERS: &str = "CREATE TABLE clv_orders AS
        SELECT 'c' || c AS customer_id, date '2023-01-01' + d AS order_date, 5 + (c * 7 + d) % 40 AS amount
        FROM generate_series(1, 600) c, generate_series(0, 364) d
        WHERE d >= c % 120 AND d <= c % 120 + (c * 53) % 300 AND (d = c % 120 OR abs(hashtext(c || '/' || d)) % 100 < 2 + c % 9)";

    #[pg_test]
    fn clv_trains_scores_both_forms_alike_and_is_stable_strict_parallel_safe() {
        Spi::run(CLV_ORDERS).unwrap();
        let algorithm = text("SELECT algorithm FROM crm.train_clv('clv', 'clv_orders')").unwrap();
        assert!(algorithm == "bg_nbd" || algorithm == "mbg_nbd", "{algorithm}");
        let same = Spi::get_one::<bool>(
            "WITH s AS (SELECT crm.rfm_agg(order_date, amount, '2023-12-31') r FROM clv_orders GROUP BY customer_id)
             SELECT bool_and(abs(crm.clv('clv', r) - crm.clv('clv', (r).repeat_frequency, (r).t_days - (r).recency_days, (r).t_days, (r).monetary_mean)) < 1e-9
                         AND crm.p_alive('clv', r) BETWEEN 0 AND 1) FROM s",
        )
        .unwrap();
        assert_eq!(same, Some(true));
        let flags = text(
            "SELECT string_agg(DISTINCT provolatile::text || proparallel::text || proisstrict::text, ',') FROM pg_proc
             WHERE pronamespace = 'crm'::regnamespace AND proname IN ('p_alive', 'expected_purchases', 'expected_spend', 'clv')",
        );
        assert_eq!(flags.as_deref(), Some("sstrue"));
    }

    #[pg_test(
        error = "invalid value for argument \"recency\": \"20\"; accepted: days from the first purchase to the last: a finite number between 0 and t (model \"clv\" version 1)"
    )]
    fn clv_refuses_a_recency_beyond_the_age() {
        Spi::run(CLV_ORDERS).unwrap();
        Spi::run("SELECT * FROM crm.train_clv('clv', 'clv_orders', '{\"model\": \"bg_nbd\"}')").unwrap();
        Spi::run("SELECT crm.p_alive('clv', 2, 20, 10)").unwrap();
    }
}
