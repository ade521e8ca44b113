\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- Customer features from orders'
DROP TABLE IF EXISTS customer_features;
CREATE TABLE customer_features AS
SELECT customer_id, count(*)::float8 AS orders, sum(amount) AS total_spend, avg(amount) AS avg_order
FROM orders GROUP BY customer_id;
ANALYZE customer_features;
\echo '--- crm.scaler_agg: one normalisation summary per method (a crm.scaler, printed as JSON)'
SELECT 'zscore' AS method, crm.scaler_agg(total_spend)::text AS total_spend_summary FROM customer_features
UNION ALL SELECT 'minmax', crm.scaler_agg(total_spend, 'minmax')::text FROM customer_features
UNION ALL SELECT 'robust', crm.scaler_agg(total_spend, 'robust')::text FROM customer_features;
\echo '--- Stored summaries, applied with crm.scale (typical customers and outliers)'
DROP TABLE IF EXISTS feature_scalers;
CREATE TABLE feature_scalers AS
SELECT crm.scaler_agg(orders) AS orders, crm.scaler_agg(total_spend, 'robust') AS total_spend, crm.scaler_agg(avg_order) AS avg_order
FROM customer_features;
SELECT f.customer_id, f.orders, round(f.total_spend::numeric, 2) AS total_spend,
       round(crm.scale(f.orders, s.orders)::numeric, 3) AS orders_z,
       round(crm.scale(f.total_spend, s.total_spend)::numeric, 3) AS spend_robust,
       round(crm.scale(f.avg_order, s.avg_order)::numeric, 3) AS avg_order_z
FROM customer_features f, feature_scalers s
WHERE f.customer_id IN (SELECT customer_id FROM customer_features ORDER BY total_spend DESC LIMIT 3)
   OR f.customer_id % 5000 = 7
ORDER BY f.total_spend DESC;
\echo '--- Per-country summaries in one GROUP BY'
SELECT c.country, (crm.scaler_params(crm.scaler_agg(f.total_spend, 'robust'))->>'median')::numeric(10,2) AS median_spend,
       (crm.scaler_params(crm.scaler_agg(f.total_spend))->>'mean')::numeric(10,2) AS mean_spend,
       (crm.scaler_params(crm.scaler_agg(f.total_spend))->>'stddev')::numeric(10,2) AS stddev_spend
FROM customer_features f JOIN customers c USING (customer_id) GROUP BY c.country ORDER BY 1;
\echo '--- The aggregate runs in parallel: Partial Aggregate under Gather'
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT crm.scaler_agg(amount, 'robust') FROM orders;
