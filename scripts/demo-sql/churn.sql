\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- Churn features as of 2026-07-25 and the label: no order in the 120 days after it'
DROP TABLE IF EXISTS churn_features;
CREATE TABLE churn_features AS
WITH cutoff AS (SELECT timestamptz '2026-07-25' AS at),
before AS (
  SELECT o.customer_id, max(o.ordered_at) AS last_order, count(*)::int AS orders, sum(o.amount) AS total_spend, avg(o.amount) AS avg_order
  FROM orders o, cutoff WHERE o.ordered_at < cutoff.at GROUP BY o.customer_id),
after AS (SELECT DISTINCT o.customer_id FROM orders o, cutoff WHERE o.ordered_at >= cutoff.at),
activity AS (
  SELECT e.customer_id,
         count(*) FILTER (WHERE e.event_type = 'support_ticket')::int AS support_tickets,
         count(*) FILTER (WHERE e.event_type = 'email_open')::int AS email_opens
  FROM events e, cutoff WHERE e.occurred_at < cutoff.at GROUP BY e.customer_id)
SELECT c.customer_id, c.country,
       extract(epoch FROM (cutoff.at - b.last_order)) / 86400 AS days_since_last_order,
       b.orders, b.total_spend, b.avg_order,
       coalesce(a.support_tickets, 0) AS support_tickets, coalesce(a.email_opens, 0) AS email_opens,
       (af.customer_id IS NULL) AS churned
FROM customers c CROSS JOIN cutoff
JOIN before b ON b.customer_id = c.customer_id
LEFT JOIN activity a ON a.customer_id = c.customer_id
LEFT JOIN after af ON af.customer_id = c.customer_id
WHERE c.duplicate_of IS NULL;
SELECT count(*) AS customers, round(avg(churned::int), 3) AS churn_rate FROM churn_features;

\echo '--- crm.train_classifier: trains, evaluates on a stratified holdout, stores and deploys'
SELECT name, version, algorithm, deployed,
       round((metrics->>'roc_auc')::numeric, 3) AS roc_auc, round((metrics->>'pr_auc')::numeric, 3) AS pr_auc,
       round((metrics->>'log_loss')::numeric, 3) AS log_loss, round((metrics->>'best_f1')::numeric, 3) AS best_f1,
       round((metrics->>'training_seconds')::numeric, 2) AS seconds
FROM crm.train_classifier('churn', 'churn_features', 'churned', 'auto', '{"key": "customer_id"}');
\echo '--- crm.model_summary'
SELECT name, version, algorithm, round(roc_auc::numeric, 3) AS roc_auc, training_rows, holdout_rows, deployed, model_bytes FROM crm.model_summary;

\echo '--- Customers most at risk: SELECT crm.churn_score(f) FROM churn_features f'
SELECT customer_id, country, round(days_since_last_order::numeric) AS days_idle, orders, round(total_spend::numeric, 2) AS spend,
       round(crm.churn_score(f)::numeric, 3) AS churn_score, churned AS actually_churned
FROM churn_features f ORDER BY crm.churn_score(f) DESC, customer_id LIMIT 8;

\echo '--- Why is the riskiest customer at risk? crm.explain (log-odds; the rows add up to the score''s log-odds)'
SELECT feature, value, round(contribution::numeric, 3) AS contribution
FROM crm.explain('churn', (SELECT f FROM churn_features f ORDER BY crm.churn_score(f) DESC, customer_id LIMIT 1), 5);

\echo '--- Scoring is parallel safe: a parallel plan over the table'
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT avg(crm.churn_score(f)) FROM churn_features f;
