\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- Monitoring the deployed churn model. crm.evaluate on labelled rows (here half the customers; in production, last month''s outcomes)'
SELECT round((e->>'roc_auc')::numeric, 3) AS roc_auc, round((e->'training'->>'roc_auc')::numeric, 3) AS training_roc_auc,
       round((e->>'log_loss')::numeric, 3) AS log_loss, round((e->>'expected_calibration_error')::numeric, 3) AS ece,
       e->'at_threshold'->'confusion_matrix' AS confusion_at_stored_threshold, e->>'rows' AS rows
FROM crm.evaluate('churn', 'SELECT * FROM churn_features WHERE customer_id % 2 = 0') e;

\echo '--- crm.feature_importance: mean |contribution| on the training holdout, and permutation importance on labelled rows'
SELECT feature, round(importance::numeric, 3) AS importance, round(share::numeric, 3) AS share, direction
FROM crm.feature_importance('churn') LIMIT 5;
SELECT feature, round(importance::numeric, 4) AS auc_drop_when_shuffled FROM crm.feature_importance('churn', 'churn_features', 'permutation') LIMIT 3;

\echo '--- crm.drift: this quarter''s customers order less often (orders halved): PSI per feature and for the score, flagged above 0.2'
SELECT feature, round(psi::numeric, 3) AS psi, flagged, status, round(mean_training::numeric, 1) AS mean_training, round(mean_now::numeric, 1) AS mean_now
FROM crm.drift('churn', 'SELECT customer_id, country, days_since_last_order, orders / 2 AS orders, total_spend, avg_order, support_tickets, email_opens FROM churn_features')
ORDER BY flagged DESC, psi DESC LIMIT 4;

\echo '--- Calibrated probabilities: balanced class weights distort a model''s probabilities; sigmoid calibration, fitted on'
\echo '    out-of-fold scores of the training rows, restores them (holdout ECE before and after; ranking unchanged)'
SELECT algorithm, round((metrics->'calibration_fit'->>'holdout_ece_before')::numeric, 4) AS ece_before,
       round((metrics->'calibration_fit'->>'holdout_ece_after')::numeric, 4) AS ece_after,
       round((metrics->>'roc_auc')::numeric, 3) AS roc_auc
FROM crm.train_classifier('churn_calibrated', 'churn_features', 'churned', 'logistic',
       '{"key": "customer_id", "class_weight": "balanced", "calibration": "sigmoid"}');

\echo
\echo '--- Purchase prediction: spend in the 120 days after 2026-07-25 from the same features (crm.train_regressor)'
DROP TABLE IF EXISTS spend_features;
CREATE TABLE spend_features AS
SELECT f.customer_id, f.country, f.days_since_last_order, f.orders, f.total_spend, f.avg_order, f.support_tickets, f.email_opens,
       coalesce((SELECT sum(o.amount) FROM orders o WHERE o.customer_id = f.customer_id AND o.ordered_at >= timestamptz '2026-07-25'), 0)::float8 AS next_spend
FROM churn_features f;
SELECT name, version, algorithm, deployed, round((metrics->>'rmse')::numeric, 2) AS rmse, round((metrics->>'mae')::numeric, 2) AS mae,
       round((metrics->>'r2')::numeric, 3) AS r2,
       (SELECT string_agg((c->>'algorithm') || ' ' || round((c->>'rmse')::numeric, 1), ', ') FROM jsonb_array_elements(metrics->'candidates') c) AS validation_rmse
FROM crm.train_regressor('next_spend', 'spend_features', 'next_spend', 'auto', '{"key": "customer_id"}');
\echo '--- crm.predict: the customers expected to spend most, and why (crm.explain adds up to the prediction)'
SELECT customer_id, country, orders, round(total_spend::numeric, 2) AS spend_so_far,
       round(crm.predict('next_spend', s)::numeric, 2) AS predicted, round(next_spend::numeric, 2) AS actual
FROM spend_features s ORDER BY crm.predict('next_spend', s) DESC, customer_id LIMIT 5;
SELECT feature, value, round(contribution::numeric, 2) AS contribution
FROM crm.explain('next_spend', (SELECT s FROM spend_features s ORDER BY crm.predict('next_spend', s) DESC, customer_id LIMIT 1), 4);
\echo '--- Expected value at risk: P(churn) x predicted spend, for the retention team'
SELECT f.customer_id, round(crm.churn_score(f)::numeric, 3) AS p_churn, round(crm.predict('next_spend', s)::numeric, 2) AS predicted_spend,
       round((crm.churn_score(f) * crm.predict('next_spend', s))::numeric, 2) AS value_at_risk
FROM churn_features f JOIN spend_features s USING (customer_id)
ORDER BY crm.churn_score(f) * crm.predict('next_spend', s) DESC, f.customer_id LIMIT 5;
