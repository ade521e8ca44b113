-- Customer lifetime value: train_clv (BG/NBD, MBG/NBD, auto), P(alive), expected
-- purchases and spend, CLV for crm.rfm summaries and plain numbers, the edges, value at
-- risk, the customer profile; bad input.
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
-- Deterministic orders over 2023: customer c buys on a day with a chance set by his own
-- rate until his own last active day; a few spend nothing; amounts vary per customer.
CREATE TABLE cl_orders AS
SELECT 'c' || c AS customer_id,
       timestamptz '2023-01-01 10:00+00' + make_interval(days => d) AS ordered_at,
       CASE WHEN c % 50 = 0 THEN 0 ELSE 5 + (abs(hashtext('amt' || c)) % 80) + (abs(hashtext('a' || c || '/' || d)) % 20) END::numeric(10, 2) AS amount,
       'x' AS note
FROM generate_series(1, 1500) c, generate_series(0, 364) d
WHERE d >= abs(hashtext('first' || c)) % 200
  AND d <= abs(hashtext('first' || c)) % 200 + abs(hashtext('life' || c)) % 300
  AND (d = abs(hashtext('first' || c)) % 200
       OR abs(hashtext('buy' || c || '/' || d)) % 1000 < 5 + abs(hashtext('rate' || c)) % 40);
SELECT count(*) > 3000 AS enough_orders, count(DISTINCT customer_id) AS customers FROM cl_orders;

-- Columns detected by name and type; as_of defaults to the latest order
SELECT name, version, algorithm IN ('bg_nbd', 'mbg_nbd') AS model_ok, deployed,
       (metrics->>'customers')::int AS customers, (metrics->>'converged')::bool AS converged,
       jsonb_array_length(metrics->'candidates') AS candidates,
       (SELECT bool_and(value::float8 > 0) FROM jsonb_each_text(metrics->'params')) AS params_positive,
       (SELECT bool_and(value::float8 > 0) FROM jsonb_each_text(metrics->'spend'->'params')) AS spend_positive,
       abs((metrics->>'frequency_monetary_correlation')::float8) < 1 AS correlation_reported
FROM crm.train_clv('cl', 'cl_orders');
SELECT hyperparameters->'columns' AS columns, hyperparameters->>'as_of' AS as_of FROM crm.models WHERE name = 'cl';
-- auto keeps the candidate with the higher log-likelihood
SELECT algorithm = (SELECT c->>'model' FROM jsonb_array_elements(metrics->'candidates') c ORDER BY (c->>'log_likelihood')::float8 DESC LIMIT 1) AS best_kept
FROM crm.models WHERE name = 'cl';
-- each model on its own, calibration end given, columns named
SELECT algorithm, (metrics->>'converged')::bool AS converged
FROM crm.train_clv('cl_bg', 'SELECT * FROM cl_orders', '{"model": "bg_nbd", "as_of": "2023-09-30", "customer": "customer_id", "order_at": "ordered_at", "amount": "amount"}');
SELECT algorithm, (metrics->>'converged')::bool AS converged
FROM crm.train_clv('cl_mbg', 'cl_orders', '{"model": "mbg_nbd", "as_of": "2023-09-30"}');
-- time_unit changes the scale of alpha only: the same forecasts in days
SELECT algorithm, metrics->>'time_unit' AS unit FROM crm.train_clv('cl_weeks', 'cl_orders', '{"model": "bg_nbd", "as_of": "2023-09-30", "time_unit": "weeks"}');
SELECT round(((SELECT (metrics->'params'->>'alpha')::float8 FROM crm.models WHERE name = 'cl_bg')
            / (SELECT (metrics->'params'->>'alpha')::float8 FROM crm.models WHERE name = 'cl_weeks'))::numeric, 3) AS alpha_days_per_week,
       max(abs(crm.expected_purchases('cl_bg', s, 90) - crm.expected_purchases('cl_weeks', s, 90))) < 1e-4 AS same_forecasts
FROM (SELECT crm.rfm_agg(ordered_at, amount, '2023-09-30') s FROM cl_orders GROUP BY customer_id) x WHERE s IS NOT NULL;

-- The summary form and the plain-number form agree
WITH s AS (SELECT customer_id, crm.rfm_agg(ordered_at, amount, '2023-12-31') AS r FROM cl_orders GROUP BY customer_id)
SELECT count(*) AS customers,
       bool_and(crm.p_alive('cl', r) BETWEEN 0 AND 1) AS p_alive_in_0_1,
       max(abs(crm.p_alive('cl', r) - crm.p_alive('cl', (r).repeat_frequency, (r).t_days - (r).recency_days, (r).t_days))) < 1e-12 AS p_alive_same,
       max(abs(crm.expected_purchases('cl', r, 180) - crm.expected_purchases('cl', (r).repeat_frequency, (r).t_days - (r).recency_days, (r).t_days, 180))) < 1e-12 AS purchases_same,
       max(abs(crm.expected_spend('cl', r) - crm.expected_spend('cl', (r).repeat_frequency, (r).monetary_mean))) < 1e-12 AS spend_same,
       max(abs(crm.clv('cl', r) - crm.clv('cl', (r).repeat_frequency, (r).t_days - (r).recency_days, (r).t_days, (r).monetary_mean))) < 1e-9 AS clv_same,
       max(abs(crm.clv('cl', r) - crm.expected_spend('cl', r) * crm.expected_purchases('cl', r, 365))) < 1e-9 AS clv_is_spend_times_purchases,
       bool_and(crm.clv('cl', r, 365, 0.1) <= crm.clv('cl', r) + 1e-12) AS discount_lowers,
       bool_and(crm.clv('cl', r, 365, 0.1) >= 0) AS never_negative
FROM s;
-- NULL in, NULL out (STRICT)
SELECT crm.p_alive('cl', NULL::crm.rfm) IS NULL AS null_summary, crm.clv('cl', 1, 10, NULL, 20) IS NULL AS null_number;

-- Edges, from theory: P(alive) falls as the last purchase recedes; expected purchases never
-- fall as the horizon grows, and stay finite for huge horizons and frequencies in the hundreds
SELECT r, round(crm.p_alive('cl_bg', 5, r, 300)::numeric, 12) <= round(lag(crm.p_alive('cl_bg', 5, r, 300)) OVER (ORDER BY r DESC)::numeric, 12) AS falls
FROM unnest(ARRAY[300, 250, 150, 50, 0]) r ORDER BY r DESC;
SELECT h, crm.expected_purchases('cl', 3, 100, 200, h) >= coalesce(lag(crm.expected_purchases('cl', 3, 100, 200, h)) OVER (ORDER BY h), 0) AS grows,
       crm.expected_purchases('cl', 3, 100, 200, h) < 'infinity' AS finite
FROM unnest(ARRAY[0, 1, 30, 365, 3650, 1e6, 1e9]::float8[]) h ORDER BY h;
SELECT crm.expected_purchases('cl', 400, 360, 365, 365) BETWEEN 0.01 AND 1e6 AS heavy_buyer_finite,
       crm.p_alive('cl', 400, 10, 365) < 1e-6 AS heavy_buyer_lapsed_is_gone,
       crm.p_alive('cl', 3, 200, 200) >= crm.p_alive('cl', 3, 100, 200) AS recency_equal_t_most_alive;
-- one-time buyers: BG/NBD says certainly alive, MBG/NBD does not
SELECT crm.p_alive('cl_bg', 0, 0, 150) AS bg_one_timer, crm.p_alive('cl_mbg', 0, 0, 150) < 1 AS mbg_one_timer_below_1;
-- zero-spend customers: a finite positive expected spend (the population's, shrunk)
SELECT crm.expected_spend('cl', 4, 0) > 0 AS zero_spend_positive, crm.expected_spend('cl', 4, -30) = crm.expected_spend('cl', 4, 0) AS returns_count_as_zero,
       abs(crm.expected_spend('cl', 0, 999) - crm.expected_spend('cl', 0, 1)) < 1e-12 AS no_repeat_is_population_mean;
-- more repeat purchases: the observed mean weighs more
SELECT crm.expected_spend('cl', 1, 500) < crm.expected_spend('cl', 20, 500) AS more_purchases_more_weight;

-- Parallel: the same answers from a parallel aggregate
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SELECT round(sum(crm.clv('cl', (r).repeat_frequency, (r).t_days - (r).recency_days, (r).t_days, (r).monetary_mean))::numeric, 6)
     = round((SELECT sum(crm.clv('cl', s)) FROM (SELECT crm.rfm_agg(ordered_at, amount, '2023-12-31') s FROM cl_orders GROUP BY customer_id) x)::numeric, 6) AS same_total
FROM (SELECT crm.rfm_agg(ordered_at, amount, '2023-12-31') r FROM cl_orders GROUP BY customer_id) x;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;

-- Value at risk = P(churn) × CLV, and the customer profile ranks by it
CREATE TABLE cl_customers AS
SELECT customer_id, count(*)::float8 AS orders, sum(amount)::float8 AS spend,
       max(ordered_at) < '2023-10-01' AS churned
FROM cl_orders GROUP BY customer_id;
SELECT algorithm FROM crm.train_classifier('cl_churn', 'SELECT orders, spend, churned FROM cl_customers', 'churned', 'logistic');
WITH s AS (SELECT customer_id, crm.rfm_agg(ordered_at, amount, '2023-12-31') AS r FROM cl_orders GROUP BY customer_id)
SELECT max(abs(crm.value_at_risk('cl_churn', 'cl', c, s.r) - crm.score('cl_churn', c) * crm.clv('cl', s.r))) < 1e-9 AS var_is_churn_times_clv
FROM cl_customers c JOIN s USING (customer_id);
SELECT name, k, deployed FROM crm.train_segments('cl_seg', 'SELECT orders, spend FROM cl_customers', 3);
CREATE TABLE cl_profile AS
SELECT * FROM crm.customer_profile('cl_orders', '{"clv_model": "cl", "churn_model": "cl_churn", "segments_model": "cl_seg", "customers": "cl_customers", "horizon_days": 180}');
SELECT count(*) AS customers, count(rfm_segment) AS with_rfm_segment, count(segment) AS with_segment, count(churn_score) AS with_churn,
       count(clv) AS with_clv, count(*) FILTER (WHERE abs(value_at_risk - churn_score * clv) < 1e-9) AS var_consistent,
       count(top_products) AS with_products
FROM cl_profile;
SELECT bool_and(ordered) AS highest_value_at_risk_first FROM (
    SELECT value_at_risk >= lead(value_at_risk) OVER () OR lead(value_at_risk) OVER () IS NULL AS ordered FROM cl_profile) x;
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cl_profile' ORDER BY ordinal_position;
-- only the parts asked for
SELECT count(*) AS customers, count(clv) AS with_clv, count(churn_score) AS with_churn FROM crm.customer_profile('cl_orders', '{"clv_model": "cl"}');

-- Bad input: one error each, naming what is wrong
\set VERBOSITY terse
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"model": "pareto"}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"time_unit": "fortnights"}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"penalizer": -1}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"colour": "red"}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"as_of": "not a date"}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"amount": "missing"}');
SELECT * FROM crm.train_clv('cl_x', 'cl_orders', '{"amount": "note"}');
SELECT * FROM crm.train_clv('cl_x', 'SELECT customer_id, ordered_at FROM cl_orders');
SELECT * FROM crm.train_clv('cl_x', 'no_such_table');
SELECT * FROM crm.train_clv('cl_x', 'SELECT * FROM cl_orders WHERE false');
-- nobody bought twice: no purchase model can be fitted
SELECT * FROM crm.train_clv('cl_x', 'SELECT DISTINCT ON (customer_id) * FROM cl_orders ORDER BY customer_id, ordered_at');
SELECT * FROM crm.train_clv(NULL, 'cl_orders');
SELECT * FROM crm.train_clv('bad name!', 'cl_orders');
SELECT crm.p_alive('cl', -1, 0, 10);
SELECT crm.p_alive('cl', 2, 20, 10);
SELECT crm.p_alive('cl', 'NaN', 0, 10);
SELECT crm.expected_purchases('cl', 2, 5, 10, -1);
SELECT crm.expected_purchases('cl', 2, 5, 10, 'infinity');
SELECT crm.clv('cl', 2, 5, 10, 20, 365, -0.5);
SELECT crm.p_alive('no_model', 2, 5, 10);
SELECT crm.p_alive('cl_churn', 2, 5, 10);
SELECT * FROM crm.customer_profile('cl_orders', '{"churn_model": "cl_churn"}');
SELECT * FROM crm.customer_profile('cl_orders', '{"clv_model": "no_model"}');
SELECT * FROM crm.customer_profile('cl_orders', '{"top_products": 1000}');
\set VERBOSITY default
-- a model row with broken bytes is refused, not scored
UPDATE crm.models SET model = substring(model FROM 1 FOR 40) WHERE name = 'cl_mbg';
SELECT crm.p_alive('cl_mbg', 1, 5, 10);
