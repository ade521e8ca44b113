\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
-- Customer lifetime value on the demo's orders, then value at risk and a customer 360.
-- Needs the models of the earlier steps: rfm_segments (segments.sql), products
-- (recommend.sql) and churn (churn.sql; positive class churned = true, so crm.score is
-- P(churn)).
SELECT max(ordered_at) AS as_of FROM orders \gset
\echo
\echo '--- crm.train_clv: BG/NBD and MBG/NBD purchase models (the higher likelihood is kept) and Gamma-Gamma spend,'
\echo '    fitted on every customer''s orders up to the latest order,' :as_of
\echo '    (WARNING expected: the synthetic data ties order amounts to loyalty, which Gamma-Gamma assumes away)'
DROP TABLE IF EXISTS clv_training;
CREATE TABLE clv_training AS
SELECT * FROM crm.train_clv('clv', 'orders', jsonb_build_object('as_of', :'as_of'::text));
SELECT name, version, algorithm, deployed, metrics->'customers' AS customers, metrics->'repeat_customers' AS repeat_customers,
       round((metrics->>'log_likelihood')::numeric, 1) AS log_likelihood, metrics->'converged' AS converged,
       round((metrics->>'training_seconds')::numeric, 2) AS seconds
FROM clv_training;
\echo '--- Parameters of both candidates (alpha in days) and of the spend model (p, q, v: Gamma-Gamma)'
SELECT c->>'model' AS model, round((c->>'log_likelihood')::numeric, 1) AS log_likelihood,
       round((c->'params'->>'r')::numeric, 4) AS r, round((c->'params'->>'alpha')::numeric, 4) AS alpha,
       round((c->'params'->>'a')::numeric, 4) AS a, round((c->'params'->>'b')::numeric, 4) AS b
FROM clv_training, jsonb_array_elements(metrics->'candidates') c;
SELECT metrics->'spend'->>'model' AS spend_model, round((metrics->'spend'->'params'->>'p')::numeric, 4) AS p,
       round((metrics->'spend'->'params'->>'q')::numeric, 4) AS q, round((metrics->'spend'->'params'->>'v')::numeric, 4) AS v,
       round((metrics->'spend'->>'population_mean_amount')::numeric, 2) AS population_mean_amount,
       metrics->'spend'->'customers' AS customers, round((metrics->>'frequency_monetary_correlation')::numeric, 3) AS frequency_amount_corr
FROM clv_training;

\echo '--- Top 10 customers by CLV over the next 365 days: SELECT crm.clv(''clv'', crm.rfm_agg(ordered_at, amount, as_of)) ... GROUP BY customer_id'
\echo '    (also discounted: 3 years at 10 % a year)'
DROP TABLE IF EXISTS customer_clv;
CREATE TABLE customer_clv AS
SELECT customer_id, crm.rfm_agg(ordered_at, amount, :'as_of') AS rfm FROM orders GROUP BY customer_id;
SELECT customer_id, (rfm).frequency AS purchase_days, round((rfm).recency_days::numeric) AS days_idle,
       round((rfm).monetary_mean::numeric, 2) AS mean_amount,
       round(crm.p_alive('clv', rfm)::numeric, 3) AS p_alive,
       round(crm.expected_purchases('clv', rfm, 365)::numeric, 2) AS purchases_365d,
       round(crm.expected_spend('clv', rfm)::numeric, 2) AS expected_spend,
       round(clv::numeric, 2) AS clv_365d,
       round(crm.clv('clv', rfm, 3 * 365, 0.10)::numeric, 2) AS clv_3y_disc_10pct
FROM (SELECT customer_id, rfm, crm.clv('clv', rfm) AS clv FROM customer_clv ORDER BY 3 DESC, 1 LIMIT 10) top
ORDER BY clv DESC, customer_id;

\echo '--- Totals: expected purchases and value of the whole base over the next year; one-time buyers vs repeat customers'
SELECT (rfm).frequency > 1 AS repeat_customer, count(*) AS customers,
       round(avg(crm.p_alive('clv', rfm))::numeric, 3) AS mean_p_alive,
       round(sum(crm.expected_purchases('clv', rfm, 365))::numeric) AS purchases_365d,
       round(sum(crm.clv('clv', rfm))::numeric) AS clv_365d
FROM customer_clv GROUP BY 1 ORDER BY 1;

\echo '--- Plain numbers (for BI tools): repeat purchase days, days first->last purchase, days first purchase->now, mean amount'
\echo '    the same customer bought 5 more times over 300 days: P(alive) falls as the last purchase recedes'
SELECT frequency, recency, t, monetary,
       round(crm.p_alive('clv', frequency, recency, t)::numeric, 3) AS p_alive,
       round(crm.expected_purchases('clv', frequency, recency, t, 365)::numeric, 2) AS purchases_365d,
       round(crm.expected_spend('clv', frequency, monetary)::numeric, 2) AS expected_spend,
       round(crm.clv('clv', frequency, recency, t, monetary)::numeric, 2) AS clv_365d
FROM (VALUES (5::float8, 300::float8, 310::float8, 40::float8), (5, 300, 400, 40), (5, 300, 600, 40), (0, 0, 300, 40)) v(frequency, recency, t, monetary);
\echo '    ... and from a crm.rfm summary''s fields (CLV recency = t_days - recency_days): the same value as the summary form'
SELECT customer_id,
       round(crm.clv('clv', (rfm).repeat_frequency, (rfm).t_days - (rfm).recency_days, (rfm).t_days, (rfm).monetary_mean)::numeric, 4) AS clv_plain,
       round(crm.clv('clv', rfm)::numeric, 4) AS clv_summary
FROM customer_clv ORDER BY customer_id LIMIT 3;

\echo '--- Who to call first: value at risk = P(churn) x CLV (crm.value_at_risk), the churn model scoring features as of the latest order'
\echo '    (the synthetic customers place a set number of orders, so the churn model learned that customers who have placed'
\echo '    about as many as their kind ever does are done: even recent Champions get a high P(churn) here)'
DROP TABLE IF EXISTS customer_features_now;
CREATE TABLE customer_features_now AS
WITH s AS (SELECT customer_id, rfm FROM customer_clv),
activity AS (
  SELECT e.customer_id,
         count(*) FILTER (WHERE e.event_type = 'support_ticket')::int AS support_tickets,
         count(*) FILTER (WHERE e.event_type = 'email_open')::int AS email_opens
  FROM events e WHERE e.occurred_at <= :'as_of' GROUP BY e.customer_id)
SELECT c.customer_id, c.country,
       extract(epoch FROM (:'as_of'::timestamptz - (s.rfm).last_order)) / 86400 AS days_since_last_order,
       (s.rfm).orders::int AS orders, (s.rfm).monetary_total AS total_spend, (s.rfm).monetary_total / (s.rfm).orders AS avg_order,
       coalesce(a.support_tickets, 0) AS support_tickets, coalesce(a.email_opens, 0) AS email_opens,
       -- the k-means segments' features (segments.sql)
       (s.rfm).recency_days AS recency, (s.rfm).frequency AS frequency, (s.rfm).monetary_mean AS monetary
FROM customers c JOIN s ON s.customer_id = c.customer_id
LEFT JOIN activity a ON a.customer_id = c.customer_id
WHERE c.duplicate_of IS NULL;
ALTER TABLE customer_features_now ADD PRIMARY KEY (customer_id);
SELECT f.customer_id, f.country, round(f.days_since_last_order::numeric) AS days_idle, f.orders,
       round(crm.score('churn', f)::numeric, 3) AS p_churn,
       round(crm.clv('clv', s.rfm)::numeric, 2) AS clv_365d,
       round(crm.value_at_risk('churn', 'clv', f, s.rfm)::numeric, 2) AS value_at_risk
FROM customer_features_now f JOIN customer_clv s USING (customer_id)
ORDER BY crm.value_at_risk('churn', 'clv', f, s.rfm) DESC, f.customer_id LIMIT 10;

\echo '--- crm.customer_profile: the customer 360, every model in one row per customer (highest value at risk first)'
SELECT customer, round(recency_days::numeric) AS recency_days, frequency, round(monetary_total::numeric, 2) AS monetary_total,
       rfm_segment, segment, round(churn_score::numeric, 3) AS churn_score, round(p_alive::numeric, 3) AS p_alive,
       round(expected_purchases::numeric, 2) AS purchases_365d, round(clv::numeric, 2) AS clv, round(value_at_risk::numeric, 2) AS value_at_risk,
       top_products
FROM crm.customer_profile('orders', jsonb_build_object('as_of', :'as_of'::text, 'clv_model', 'clv', 'churn_model', 'churn',
       'segments_model', 'rfm_segments', 'recommender', 'products', 'customers', 'customer_features_now'))
LIMIT 10;

\echo '--- CREATE VIEW customer_360 AS SELECT * FROM crm.customer_profile(...): always current for BI tools; value at risk by RFM segment'
DROP VIEW IF EXISTS customer_360;
CREATE VIEW customer_360 AS
SELECT * FROM crm.customer_profile('orders', '{"clv_model": "clv", "churn_model": "churn", "segments_model": "rfm_segments",
                                               "recommender": "products", "customers": "customer_features_now"}');
SELECT rfm_segment, count(*) AS customers, round(avg(churn_score)::numeric, 3) AS mean_churn_score,
       round(sum(clv)::numeric) AS clv_365d, round(sum(value_at_risk)::numeric) AS value_at_risk
FROM customer_360 GROUP BY rfm_segment ORDER BY value_at_risk DESC;
