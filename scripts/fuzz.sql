-- The database scripts/fuzz points sqlsmith at: pg_crm, small sample tables, trained
-- models of every kind, and tables whose columns hold what pg_crm's arguments want (model
-- names, sources, column names, messy contact data, crm.scaler / crm.rfm /
-- crm.rfm_quintiles values), because sqlsmith takes its values from columns
-- (`(select name from public.model_names limit 1 offset 3)`) far more often than it
-- invents constants. sqlsmith only calls functions that are not set-returning, so the
-- set-returning ones (recommend, explain, dedupe, train_*, ...) get scalar wrappers here.
-- Run by scripts/fuzz as a superuser in a fresh database; sqlsmith then connects as the
-- unprivileged role fuzz_smith (see the end).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_crm;

CREATE TABLE churn AS
SELECT i AS customer_id,
       (i % 10)::int AS calls,
       ((i * 7) % 60)::float8 AS tenure,
       (ARRAY['basic', 'plus', 'pro'])[1 + i % 3] AS plan,
       (i % 4 = 0) AS promo,
       date '2024-01-01' + (i % 365) AS signup,
       ((i % 10) * 3 + (i * 13) % 11 > 18) AS churned
FROM generate_series(1, 300) i;
CREATE TABLE churn_small AS SELECT * FROM churn WHERE customer_id <= 20;
CREATE TABLE churn_odd AS
SELECT customer_id, NULL::int AS calls, 'NaN'::float8 AS tenure, repeat('x', customer_id) AS plan, NULL::bool AS promo,
       'infinity'::date AS signup, churned
FROM churn WHERE customer_id <= 30;
CREATE TABLE orders AS
SELECT 'c' || (i % 40) AS customer, 'item' || ((i * 7) % 25) AS item, 1 + i % 3 AS qty, (i % 17) * 1.5 AS amount,
       timestamptz '2024-01-01 00:00:00+00' + (i || ' hours')::interval AS order_at
FROM generate_series(1, 600) i;
CREATE TABLE people AS
SELECT i AS id,
       (ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve'])[1 + i % 5] || CASE WHEN i % 7 = 0 THEN 'e' ELSE '' END AS first_name,
       (ARRAY['Lee', 'Smith', 'Okafor', 'Ivanova'])[1 + (i / 5) % 4] AS last_name,
       lower((ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve'])[1 + i % 5]) || ((i / 5) % 4) || '@example.com' AS email,
       '+1415555' || lpad(((i * 37) % 10000)::text, 4, '0') AS phone,
       (ARRAY['Paris', 'Lagos', 'Lima'])[1 + i % 3] AS city
FROM generate_series(1, 40) i;

-- values for pg_crm's arguments. The wrappers below take model names as the domain
-- model_name, which sqlsmith can only fill from model_names.name (or NULL): real names.
-- Whole rows (anyelement) come from columns of a row type, such as churn_rows.r.
CREATE DOMAIN model_name AS text;
CREATE TABLE model_names (name model_name, kind text);
CREATE TABLE churn_rows AS SELECT c AS r FROM churn c WHERE customer_id % 10 = 0;
CREATE TABLE churn_odd_rows AS SELECT c AS r FROM churn_odd c;
CREATE TABLE sources (source text);
INSERT INTO sources VALUES ('churn'), ('churn_small'), ('churn_odd'), ('orders'), ('people'), ('no_such_table'), ('crm.models'),
  ('SELECT calls, tenure FROM churn'), ('SELECT * FROM churn WHERE false'), ('VALUES (1, true), (2, false)'),
  ('SELECT customer, item, qty AS weight, order_at FROM orders'), ('SELECT 1) s; DROP TABLE churn; --'), (''), ('feedback'), ('weekly_sales');
CREATE TABLE column_names (col text);
INSERT INTO column_names VALUES ('churned'), ('customer_id'), ('calls'), ('tenure'), ('plan'), ('promo'), ('signup'), ('id'),
  ('customer'), ('item'), ('order_at'), ('no_such_column'), ('ctid'), (''), ('body'), ('topic'), ('week'), ('sales'), ('shop');
CREATE TABLE algorithms (algorithm text);
INSERT INTO algorithms VALUES ('auto'), ('logistic'), ('gradient_boosting'), ('random_forest'), ('ensemble'), ('popular'),
  ('item_knn'), ('als'), ('nope'), ('');
CREATE TABLE options (options jsonb);
INSERT INTO options VALUES ('{}'), ('{"key": "customer_id"}'), ('{"max_trees": 5, "n_trees": 5}'), ('{"factors": 4, "iterations": 2}'),
  ('{"k_min": 2, "k_max": 3}'), ('{"threshold": 0.9}'), ('{"blocking": [["city"]]}'), ('{"unknown": 1}'), ('{"test_fraction": 0.99}'),
  ('[]'), ('null'), ('{"C": 1e308}'), ('{"seed": -1}'), ('{"neighbours": 0}'), ('{"min_df": 1, "char_ngrams": null}'),
  ('{"char_ngrams": [1, 8], "hash_bits": 24}'), ('{"ngram_range": [3, 1]}'), ('{"top": 3, "prior_scale": 1e-6}'), ('{"max_features": 1}'), ('{"horizon": 3, "frequency": "week"}'),
  ('{"series": ["shop"], "models": ["theta", "croston"], "season_length": 1}'), ('{"fill": "interpolate", "level": 0.99, "cv_windows": 1}');
CREATE TABLE messy (raw text);
INSERT INTO messy VALUES ('"Ann Lee" <Ann.Lee@Example.COM>'), ('mailto:sales@bücher.de?subject=hi'), ('a [at] b [dot] com'),
  ('(415) 555-0132'), ('+49 (0)30 901820 ext. 7'), ('020 7946 0958'), ('MCDONALD, RONALD'), ('ludwig VAN beethoven'),
  ('Dr. jane DOE 3rd'), ('Mar 4, 2021'), ('04/03/2021'), ('2021-02-30'), ('20210304'), (E'  Hello\t\u00a0 world\u200b  '),
  ('Jon Smyth'), ('Müller'), (''), (' '), (E'\u202e\ufeff'), ('x''); DROP TABLE churn; --'), (repeat('x', 100000)),
  ('US'), ('GB'), ('XX'), ('YMD'), ('DMY'), ('MDY'), ('jaro_winkler'), ('levenshtein'), ('jaccard'), ('zscore'), ('robust'), ('minmax'),
  ('c1'), ('c7'), ('item3'), ('item12'), ('unknown_item');
CREATE TABLE feedback (body text, topic text);
INSERT INTO feedback VALUES ('refund my double payment', 'billing'), ('charged twice, refund please', 'billing'), ('the invoice is wrong', 'billing'),
  ('parcel arrived late', 'delivery'), ('late parcel again!', 'delivery'), ('courier lost the parcel', 'delivery'), ('退款 扣款 两次', 'billing'),
  ('快递太慢了', 'delivery'), (NULL, 'billing'), ('', NULL), (' ', 'delivery'), ('😀😡', 'billing'), (repeat('late ', 2000), 'delivery');
CREATE TABLE weekly_sales AS
SELECT 'shop' || (g % 3) AS shop, date '2023-01-06' + 7 * (g / 3) AS week, 100 + (g % 17) * 3 - (g % 3) * 20 AS sales
FROM generate_series(0, 359) g;
CREATE TABLE item_lists (items text[]);
INSERT INTO item_lists VALUES (NULL), ('{}'), ('{item1,item2,item3}'), ('{c1,c2,c3}'), ('{NULL}'), ('{{item1,item2},{item3,item4}}'),
  ('{calls,tenure,plan,promo,signup}');
CREATE TABLE numbers (x float8, n int);
INSERT INTO numbers VALUES (0, 0), (1, 1), (-1, -1), (3, 3), (5, 5), (10, 10), ('NaN', 10000), ('Infinity', 2147483647),
  ('-Infinity', -2147483648), (1e308, 6), (-1e308, 100), (5e-324, 2);
CREATE TABLE rfm_rows AS SELECT customer, crm.rfm_agg(order_at, amount::float8, '2025-01-01') AS r FROM orders GROUP BY customer;
CREATE TABLE quintile_rows AS SELECT crm.rfm_quintiles(r) AS q FROM rfm_rows;
CREATE TABLE scalers AS
SELECT m AS method, crm.scaler_agg(qty::float8, m) AS s FROM orders, unnest(ARRAY['zscore', 'minmax', 'robust']) m GROUP BY m;

DO $$ BEGIN
  PERFORM * FROM crm.train_classifier('churn', 'churn', 'churned', 'logistic', '{"key": "customer_id"}');
  PERFORM * FROM crm.train_classifier('churn_gb', 'churn', 'churned', 'gradient_boosting', '{"key": "customer_id", "max_trees": 20}');
  PERFORM * FROM crm.train_classifier('churn_rf', 'churn', 'churned', 'random_forest', '{"key": "customer_id", "n_trees": 10}');
  PERFORM * FROM crm.train_segments('segs', 'SELECT calls, tenure FROM churn', 3);
  PERFORM * FROM crm.train_recommender('recs', 'orders', 'item_knn');
  PERFORM * FROM crm.train_recommender('recs_als', 'orders', 'als', '{"factors": 8, "iterations": 3}');
  PERFORM * FROM crm.train_recommender('recs_pop', 'orders', 'popular');
  PERFORM * FROM crm.train_clv('clv', 'orders', '{"customer": "customer", "order_at": "order_at", "amount": "amount"}');
  PERFORM * FROM crm.train_text_classifier('topics', 'feedback', 'body', 'topic', '{"min_df": 1, "test_fraction": 0}');
  PERFORM * FROM crm.train_forecast('sales', 'weekly_sales', '{"horizon": 6}');
END $$;
INSERT INTO model_names SELECT name, kind FROM crm.models;
INSERT INTO model_names VALUES ('no_such_model', NULL), ('', NULL), (repeat('m', 200), NULL), ('CHURN', NULL);

-- scalar wrappers of the set-returning functions, for sqlsmith
CREATE FUNCTION fuzz_recommend(name model_name, customer text, k int, exclude_seen bool, exclude text[], candidates text[]) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(item || ':' || score, ',' ORDER BY rank) FROM crm.recommend(name, customer, k, exclude_seen, exclude, candidates) $$;
CREATE FUNCTION fuzz_recommend_all(name model_name, k int, customers text[]) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT count(*) FROM crm.recommend_all(name, k, true, customers) $$;
CREATE FUNCTION fuzz_similar_items(name model_name, item text, k int) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(item || ':' || score, ',' ORDER BY rank) FROM crm.similar_items(name, item, k) $$;
CREATE FUNCTION fuzz_explain(name model_name, r anyelement, top int) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(feature || '=' || coalesce(value, '') || ':' || contribution, ',') FROM crm.explain(name, r, top) $$;
CREATE FUNCTION fuzz_coefficients(name model_name) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(term || ':' || coefficient, ',') FROM crm.coefficients(name) $$;
CREATE FUNCTION fuzz_segment_profile(name model_name) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT count(*) FROM crm.segment_profile(name) $$;
CREATE FUNCTION fuzz_score_batch(name model_name, source text, key text) RETURNS float8
LANGUAGE sql STABLE AS $$ SELECT sum(score) FROM crm.score_batch(name, source, key) $$;
CREATE FUNCTION fuzz_score(name model_name, r anyelement) RETURNS float8
LANGUAGE sql STABLE AS $$ SELECT crm.score(name, r) $$;
CREATE FUNCTION fuzz_segment(name model_name, r anyelement) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT crm.segment(name, r) || ' ' || crm.segment_distance(name, r) $$;
CREATE FUNCTION fuzz_classify_text_scores(name model_name, body text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(label || ':' || probability, ',') FROM crm.classify_text_scores(name, body) $$;
CREATE FUNCTION fuzz_explain_text(name model_name, body text, top int) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(term || '/' || label || ':' || contribution, ',') FROM crm.explain_text(name, body, top) $$;
CREATE FUNCTION fuzz_text_terms(name model_name, top int) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(label || '/' || term || ':' || weight, ',') FROM crm.text_terms(name, top) $$;
CREATE FUNCTION fuzz_key_terms(source text, text_column text, group_column text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT string_agg(grp || '/' || term || ':' || score, ',') FROM crm.key_terms(source, text_column, group_column, options) $$;
CREATE FUNCTION fuzz_forecast(name model_name, horizon int, level float8) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(series || '@' || period_start || ':' || forecast || '[' || lo || ',' || hi || ']', ',') FROM crm.forecast(name, horizon, level) $$;
CREATE FUNCTION fuzz_forecast_components(name model_name) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT string_agg(series || ':' || model || ':' || coalesce(level, 0), ',') FROM crm.forecast_components(name) $$;
CREATE FUNCTION fuzz_dedupe(source text, id text, options jsonb) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT count(DISTINCT cluster_id) FROM crm.dedupe(source, id, options) $$;
CREATE FUNCTION fuzz_link(left_source text, right_source text, id text, options jsonb) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT count(*) FROM crm.link(left_source, right_source, id, options) $$;
-- training and deploying write the registry: these wrappers run as fuzz_trainer
-- (crm_trainer), always under a name of their own (fz_...), so the fixture's models stay
-- as they are while sqlsmith itself (crm_user) cannot change the registry
CREATE FUNCTION fuzz_train_classifier(name text, source text, target text, algorithm text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT algorithm || ' ' || metrics::text FROM crm.train_classifier('fz_' || name, source, target, algorithm, options) $$;
CREATE FUNCTION fuzz_train_segments(name text, source text, k int, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT k || ' ' || metrics::text FROM crm.train_segments('fz_' || name, source, k, options) $$;
CREATE FUNCTION fuzz_train_recommender(name text, source text, algorithm text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT algorithm || ' ' || metrics::text FROM crm.train_recommender('fz_' || name, source, algorithm, options) $$;
CREATE FUNCTION fuzz_train_clv(name text, source text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT algorithm || ' ' || metrics::text FROM crm.train_clv('fz_' || name, source, options) $$;
CREATE FUNCTION fuzz_train_text_classifier(name text, source text, text_column text, label_column text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT algorithm || ' ' || metrics::text FROM crm.train_text_classifier('fz_' || name, source, text_column, label_column, options) $$;
CREATE FUNCTION fuzz_train_forecast(name text, source text, options jsonb) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT algorithm || ' ' || metrics::text FROM crm.train_forecast('fz_' || name, source, options) $$;
CREATE FUNCTION fuzz_customer_profile(orders text, options jsonb) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT count(*) || ' ' || sum(clv) || ' ' || sum(value_at_risk) FROM crm.customer_profile(orders, options) $$;
CREATE FUNCTION fuzz_deploy(name model_name, version int) RETURNS int
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT previous_version FROM crm.deploy('fz_' || name, version, 'fuzz') $$;

-- the roles (cluster-wide: created once, granted again in every fuzz database): sqlsmith
-- connects as fuzz_smith, which may read the sample tables and use pg_crm as crm_user,
-- and change nothing
DO $$ BEGIN
  CREATE ROLE fuzz_smith LOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
  CREATE ROLE fuzz_trainer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
GRANT crm_user TO fuzz_smith;
GRANT crm_trainer TO fuzz_trainer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fuzz_smith, fuzz_trainer;
ALTER FUNCTION fuzz_train_classifier(text, text, text, text, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_train_segments(text, text, int, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_train_recommender(text, text, text, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_train_clv(text, text, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_train_text_classifier(text, text, text, text, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_train_forecast(text, text, jsonb) OWNER TO fuzz_trainer;
ALTER FUNCTION fuzz_deploy(model_name, int) OWNER TO fuzz_trainer;
