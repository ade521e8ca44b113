//! Client integration tests of the role model and of hardened SQL: who may score, train,
//! deploy and read model bytes; training under row-level security; a hostile
//! search_path.

mod common;

use common::{connect, fresh_database, sqlstate};

const CUSTOMERS: &str = "
CREATE TABLE customers AS
SELECT i AS customer_id,
       (abs(hashtext('calls' || i)) % 10)::int AS support_calls,
       (abs(hashtext('tenure' || i)) % 60)::float8 AS tenure_months,
       (ARRAY['basic', 'plus', 'pro'])[1 + abs(hashtext('plan' || i)) % 3] AS plan,
       (ARRAY['eu', 'us'])[1 + i % 2] AS region,
       (abs(hashtext('noise' || i)) % 1000) / 1000.0 AS noise
FROM generate_series(1, 2000) i;
ALTER TABLE customers ADD COLUMN churned boolean;
UPDATE customers SET churned = (-2.0 + 0.45 * support_calls - 0.04 * tenure_months) > ln(noise / (1 - noise + 1e-9) + 1e-9);";

/// (action, version, previous version, logged by, reason)
type LogRow = (String, Option<i32>, Option<i32>, String, String);

fn refused(c: &mut postgres::Client, sql: &str) -> String {
    match c.batch_execute(sql) {
        Ok(()) => panic!("allowed, but should be refused: {sql}"),
        Err(e) => sqlstate(&e),
    }
}

#[test]
fn roles_decide_who_scores_trains_and_reads_model_bytes() {
    let Some(url) = fresh_database("it_roles") else { return };
    let mut admin = connect(&url);
    admin.batch_execute(CUSTOMERS).unwrap();
    admin
        .batch_execute(
            "SELECT * FROM crm.train_classifier('churn', 'SELECT support_calls, tenure_months, plan, churned FROM customers', 'churned', 'logistic');
             DROP ROLE IF EXISTS it_alice; DROP ROLE IF EXISTS it_tom; DROP ROLE IF EXISTS it_eve;
             CREATE ROLE it_alice LOGIN IN ROLE crm_user;
             CREATE ROLE it_tom LOGIN IN ROLE crm_trainer;
             CREATE ROLE it_eve LOGIN;
             GRANT USAGE ON SCHEMA crm TO it_eve;
             GRANT SELECT ON customers TO it_alice, it_tom, it_eve;
             ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
             CREATE POLICY eu_only ON customers FOR SELECT TO it_tom USING (region = 'eu');
             CREATE POLICY everything ON customers FOR SELECT TO it_alice, it_eve USING (true);",
        )
        .unwrap();

    // crm_user: scores, explains and reads metadata, but not the bytes; cannot train or deploy
    let mut alice = connect(&format!("{url} user=it_alice"));
    let scored: i64 = alice.query_one("SELECT count(crm.churn_score(c)) FROM customers c", &[]).unwrap().get(0);
    assert_eq!(scored, 2000);
    let explained: i64 = alice.query_one("SELECT count(*) FROM customers c, crm.explain('churn', c) WHERE c.customer_id < 5", &[]).unwrap().get(0);
    assert!(explained > 0);
    let versions: i64 = alice.query_one("SELECT count(*) FROM crm.model_summary WHERE name = 'churn' AND model_bytes > 0", &[]).unwrap().get(0);
    assert_eq!(versions, 1);
    alice.query_one("SELECT name, version, metrics FROM crm.models LIMIT 1", &[]).unwrap();
    assert_eq!(refused(&mut alice, "SELECT model FROM crm.models"), "42501");
    assert_eq!(refused(&mut alice, "SELECT * FROM crm.models"), "42501");
    assert_eq!(refused(&mut alice, "SELECT * FROM crm.train_classifier('mine', 'customers', 'churned')"), "42501");
    assert_eq!(refused(&mut alice, "SELECT * FROM crm.deploy('churn', 1)"), "42501");
    assert_eq!(refused(&mut alice, "UPDATE crm.models SET metrics = '{}'"), "42501");
    assert_eq!(refused(&mut alice, "INSERT INTO crm.deployment_log (name, action) VALUES ('x', 'deploy')"), "42501");

    // no role: the cleaning functions, but no scores (the registry is not readable)
    let mut eve = connect(&format!("{url} user=it_eve"));
    let cleaned: Option<String> = eve.query_one("SELECT crm.clean_email(' A@B.COM ')", &[]).unwrap().get(0);
    assert_eq!(cleaned.as_deref(), Some("a@b.com"));
    assert_eq!(refused(&mut eve, "SELECT crm.churn_score(c) FROM customers c"), "42501");
    assert_eq!(refused(&mut eve, "SELECT model FROM crm.models"), "42501");

    // crm_trainer: trains on the rows row-level security lets it see, deploys, drops
    let mut tom = connect(&format!("{url} user=it_tom"));
    let visible: i64 = tom.query_one("SELECT count(*) FROM customers", &[]).unwrap().get(0);
    assert_eq!(visible, 1000, "the policy shows tom the eu half");
    let version: i32 = tom
        .query_one(
            "SELECT version FROM crm.train_classifier('churn', 'SELECT support_calls, tenure_months, plan, churned FROM customers', 'churned', 'logistic')",
            &[],
        )
        .unwrap()
        .get(0);
    let rows: i64 = tom.query_one("SELECT training_rows + holdout_rows FROM crm.models WHERE name = 'churn' AND version = $1", &[&version]).unwrap().get(0);
    assert_eq!(version, 2);
    assert_eq!(rows, visible, "training read only the rows tom may SELECT");
    tom.batch_execute("SELECT * FROM crm.deploy('churn', 1, 'tom starts from version 1')").unwrap();
    tom.batch_execute("SELECT * FROM crm.deploy('churn', 2, 'tom rolls forward')").unwrap();
    tom.batch_execute("SELECT * FROM crm.deploy('churn', 1, 'tom rolls back')").unwrap();
    tom.batch_execute("SELECT crm.drop_model('churn', 2)").unwrap();
    assert_eq!(refused(&mut tom, "SELECT model FROM crm.models"), "42501");

    // the deploy log: who deployed which version when and what it replaced, readable by crm_user
    let log = alice
        .query("SELECT action, version, previous_version, logged_by::text, coalesce(reason, '') FROM crm.deployment_log WHERE name = 'churn' ORDER BY id", &[])
        .unwrap();
    let log: Vec<LogRow> = log.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
    assert!(log.len() >= 3, "{log:?}");
    assert_eq!((log[0].0.as_str(), log[0].1, log[0].2), ("deploy", Some(1), None), "{log:?}");
    let forward = log.iter().find(|l| l.4 == "tom rolls forward").expect("tom's deploy is logged");
    assert_eq!((forward.1, forward.2, forward.3.as_str()), (Some(2), Some(1), "it_tom"));
    let back = log.iter().find(|l| l.4 == "tom rolls back").expect("tom's rollback is logged");
    assert_eq!((back.1, back.2), (Some(1), Some(2)));

    // only the log's trigger function is SECURITY DEFINER, with a pinned search_path
    let definers = admin
        .query(
            "SELECT p.proname::text, coalesce(array_to_string(p.proconfig, ','), '') FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_crm'
             WHERE p.prosecdef",
            &[],
        )
        .unwrap();
    let definers: Vec<(String, String)> = definers.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(definers.len(), 1, "{definers:?}");
    assert_eq!(definers[0].0, "log_deployment");
    assert!(definers[0].1.contains("search_path=pg_catalog, pg_temp"), "{definers:?}");
}

#[test]
fn a_hostile_search_path_changes_nothing() {
    let Some(url) = fresh_database("it_search_path") else { return };
    let mut c = connect(&url);
    c.batch_execute(CUSTOMERS).unwrap();
    c.batch_execute(
        "CREATE TABLE orders AS SELECT (g % 300)::text AS customer_id, (g % 97)::text AS item, (g % 5 + 1)::float8 AS qty FROM generate_series(1, 6000) g;
         CREATE TABLE people AS SELECT g AS id, (ARRAY['Ann','Bob','Cy'])[1 + g % 3] || ' ' || (ARRAY['Lee','Ng','Roe','Li'])[1 + g % 4] AS name,
                                     'p' || (g % 40) || '@x.com' AS email FROM generate_series(1, 400) g;
         CREATE SCHEMA evil;
         CREATE FUNCTION evil.hijacked() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
         CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked to_regclass'; END $$;
         CREATE FUNCTION evil.hashtext(text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked hashtext'; END $$;
         CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked now'; END $$;
         CREATE FUNCTION evil.has_table_privilege(text, text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked has_table_privilege'; END $$;
         CREATE FUNCTION evil.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked lock'; END $$;
         CREATE FUNCTION evil.eq(bigint, bigint) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked bigint ='; END $$;
         CREATE OPERATOR evil.= (FUNCTION = evil.eq, LEFTARG = bigint, RIGHTARG = bigint);
         CREATE FUNCTION evil.teq(text, text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked text ='; END $$;
         CREATE OPERATOR evil.= (FUNCTION = evil.teq, LEFTARG = text, RIGHTARG = text);
         CREATE FUNCTION evil.ieq(int, int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked int ='; END $$;
         CREATE OPERATOR evil.= (FUNCTION = evil.ieq, LEFTARG = int, RIGHTARG = int);
         CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked ||'; END $$;
         CREATE OPERATOR evil.|| (FUNCTION = evil.cat, LEFTARG = text, RIGHTARG = text);
         CREATE FUNCTION evil.plus(int, int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked +'; END $$;
         CREATE OPERATOR evil.+ (FUNCTION = evil.plus, LEFTARG = int, RIGHTARG = int);
         CREATE FUNCTION evil.div(numeric, int) RETURNS numeric LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked /'; END $$;
         CREATE OPERATOR evil./ (FUNCTION = evil.div, LEFTARG = numeric, RIGHTARG = int);
         CREATE FUNCTION evil.float8(int) RETURNS float8 LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked float8()'; END $$;
         CREATE FUNCTION evil.text(int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked text()'; END $$;",
    )
    .unwrap();
    // the shadows are really there: a query of the caller's own does call them
    c.batch_execute("SET search_path = evil, pg_catalog, public").unwrap();
    assert!(c.batch_execute("SELECT 1::bigint = 1::bigint").is_err());
    // every pg_crm entry point that runs SQL of its own
    for sql in [
        "SELECT * FROM public.customers LIMIT 0",
        "SELECT * FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{\"key\": \"customer_id\"}')",
        "SELECT * FROM crm.train_classifier('churn', 'SELECT support_calls, tenure_months, plan, churned FROM public.customers', 'churned', 'gradient_boosting')",
        "SELECT count(crm.churn_score(c)) FROM public.customers c",
        "SELECT count(crm.score('churn', ROW(c.*)::public.customers)) FROM public.customers c",
        "SELECT count(*) FROM public.customers c, crm.explain('churn', c)",
        "SELECT count(*) FROM crm.score_batch('churn', 'customers', 'customer_id')",
        "SELECT * FROM crm.deploy('churn', 1)",
        "SELECT crm.drop_model('churn', 2)",
        "SELECT * FROM crm.train_segments('seg', 'SELECT support_calls, tenure_months FROM public.customers', 3)",
        "SELECT count(crm.segment('seg', c)) FROM public.customers c",
        "SELECT count(*) FROM crm.segment_profile('seg')",
        "SELECT * FROM crm.train_recommender('rec', 'orders', 'item_knn')",
        "SELECT count(*) FROM crm.recommend('rec', '7', 5)",
        "SELECT count(*) FROM crm.similar_items('rec', '3', 5)",
        "SELECT count(*) FROM crm.dedupe('people', 'id')",
        "SELECT count(*) FROM crm.model_summary",
    ] {
        if let Err(e) = c.batch_execute(sql) {
            panic!("{sql}: {e:?}");
        }
    }
}
