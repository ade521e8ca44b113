\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
-- Sales forecasting: the shop's weekly sales per product category, forecast 13 weeks ahead
-- with 80 % intervals, as the table a BI tool charts; then checked against weeks held out.
\echo
\echo '--- Weekly sales per category (the last 2 years of orders; the week starts on Monday)'
DROP TABLE IF EXISTS weekly_sales;
CREATE TABLE weekly_sales AS
SELECT p.category, date_trunc('week', o.ordered_at)::date AS week, round(sum(o.amount * o.quantity)::numeric, 2) AS sales
FROM orders o JOIN products p USING (product_id)
WHERE o.ordered_at >= (SELECT date_trunc('week', max(ordered_at)) - interval '104 weeks' FROM orders)
  AND o.ordered_at < (SELECT date_trunc('week', max(ordered_at)) FROM orders)
GROUP BY 1, 2;
SELECT category, count(*) AS weeks, min(week) AS first, max(week) AS last, round(avg(sales)) AS mean_weekly_sales
FROM weekly_sales GROUP BY category ORDER BY category;

\echo '--- crm.train_forecast: one series per category, frequency and columns detected; each series'' model chosen by rolling-origin cross-validation'
SELECT name, version, deployed, metrics->'series' AS series, metrics->>'frequency' AS frequency, metrics->'models' AS models_chosen,
       round((metrics->>'train_seconds')::numeric, 2) AS seconds
FROM crm.train_forecast('category_sales', 'weekly_sales', '{"series": ["category"], "horizon": 13}');

\echo '--- crm.forecast: the next 13 weeks with 80 % prediction intervals (first 4 weeks shown per category)'
SELECT series AS category, period_start::date AS week, round(forecast::numeric) AS forecast, round(lo::numeric) AS lo, round(hi::numeric) AS hi, model
FROM crm.forecast('category_sales') WHERE period_start < (SELECT max(week) FROM weekly_sales) + 29 ORDER BY 1, 2;

\echo '--- The same as one table a BI tool charts: history and forecast together'
CREATE OR REPLACE VIEW sales_chart AS
SELECT category, week::timestamptz AS week, sales::float8 AS actual, NULL::float8 AS forecast, NULL::float8 AS lo, NULL::float8 AS hi FROM weekly_sales
UNION ALL
SELECT series, period_start, NULL, forecast, lo, hi FROM crm.forecast('category_sales');
SELECT category, count(actual) AS actual_weeks, count(forecast) AS forecast_weeks FROM sales_chart GROUP BY category ORDER BY category;

\echo '--- Checked on weeks held out: trained without the last 13 weeks, evaluated on them (crm.evaluate_forecast)'
SELECT version FROM crm.train_forecast('category_sales_check', 'SELECT * FROM weekly_sales WHERE week < (SELECT max(week) - 90 FROM weekly_sales)',
                                       '{"series": ["category"], "horizon": 13}');
SELECT round((e->>'mase')::numeric, 3) AS mase, round((e->>'wape')::numeric, 2) AS wape_percent,
       round((e->>'smape')::numeric, 2) AS smape, round((e->>'coverage')::numeric, 3) AS coverage_of_80pct_intervals
FROM crm.evaluate_forecast('category_sales_check', 'weekly_sales') e;
