-- Model registry and classifiers: train, deploy, score, explain, roll back; bad input.
SET client_min_messages = warning;
-- Deterministic synthetic customers: churn depends on support calls, tenure and plan.
CREATE TABLE customers AS
SELECT i AS customer_id,
       (abs(hashtext('calls' || i)) % 10)::int AS support_calls,
       (abs(hashtext('tenure' || i)) % 60)::float8 AS tenure_months,
       (ARRAY['basic', 'plus', 'pro'])[1 + abs(hashtext('plan' || i)) % 3] AS plan,
       CASE WHEN i % 17 = 0 THEN NULL ELSE (abs(hashtext('spend' || i)) % 500)::numeric / 10 END AS monthly_spend,
       date '2020-01-01' + (abs(hashtext('since' || i)) % 1500) AS customer_since,
       (abs(hashtext('noise' || i)) % 1000) / 1000.0 AS noise
FROM generate_series(1, 3000) i;
ALTER TABLE customers ADD COLUMN churned boolean;
UPDATE customers SET churned =
  (-2.0 + 0.45 * support_calls - 0.04 * tenure_months + CASE plan WHEN 'basic' THEN 0.8 ELSE 0 END) > ln(noise / (1 - noise + 1e-9) + 1e-9);
SELECT churned, count(*) FROM customers GROUP BY 1 ORDER BY 1;

-- Train: a table name as source; the key column is excluded; the first version deploys.
SELECT name, version, algorithm, deployed, (metrics->>'roc_auc')::float8 > 0.85 AS good_auc,
       (metrics->>'rows')::int AS holdout_rows, metrics ? 'confusion_matrix' AS has_confusion
FROM crm.train_classifier('churn', 'customers', 'churned', 'logistic', '{"key": "customer_id", "seed": 1}');
SELECT name, version, kind, algorithm, target, deployed, training_rows, holdout_rows FROM crm.model_summary;
SELECT jsonb_agg(f->>'column' ORDER BY f->>'column') AS features FROM crm.models, jsonb_array_elements(features) f;

-- Score every row; the probabilities separate the classes
SELECT churned, round(avg(crm.churn_score(c))::numeric, 1) AS mean_score FROM customers c GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE s < 0 OR s > 1) AS out_of_range FROM (SELECT crm.score('churn', c) s FROM customers c) q;
-- Extra columns ignored, order does not matter: a view with columns shuffled scores the same
CREATE VIEW shuffled AS SELECT plan, noise, customer_since, monthly_spend, tenure_months, support_calls, customer_id, 'x' AS extra FROM customers;
SELECT bool_and(abs(crm.score('churn', s) - crm.score('churn', c)) < 1e-12) AS same_scores
FROM shuffled s JOIN customers c USING (customer_id);
-- Unseen level and NULLs are handled
SELECT crm.score('churn', r) BETWEEN 0 AND 1 AS ok
FROM (SELECT 1 AS customer_id, NULL::int AS support_calls, 12.0::float8 AS tenure_months, 'enterprise' AS plan,
             NULL::numeric AS monthly_spend, NULL::date AS customer_since, 0.5 AS noise) r;

-- Explain: contributions plus base add up to the log-odds
SELECT feature, value FROM crm.explain('churn', (SELECT c FROM customers c WHERE customer_id = 42), 3);
SELECT abs(sum(contribution) - (SELECT ln(p / (1 - p)) FROM (SELECT crm.score('churn', c) p FROM customers c WHERE customer_id = 42) q)) < 1e-9 AS adds_up
FROM crm.explain('churn', (SELECT c FROM customers c WHERE customer_id = 42), 100);

-- A second version trained on a SELECT; a worse model stays undeployed
SELECT version, deployed FROM crm.train_classifier('churn', 'SELECT noise, churned FROM customers', 'churned', 'auto');
SELECT version, deployed FROM crm.model_summary ORDER BY version;
-- Roll forward, then back
SELECT * FROM crm.deploy('churn', 2, 'testing');
SELECT round(avg(crm.churn_score(c))::numeric, 2) = round(avg(c.churned::int)::numeric, 2) AS v2_is_base_rate_ish FROM customers c;
SELECT * FROM crm.deploy('churn', 1);
SELECT version FROM crm.model_summary WHERE deployed;
-- crm.churn_model names the model churn_score uses
SET crm.churn_model = 'no_such_model';
\set VERBOSITY sqlstate
SELECT crm.churn_score(c) FROM customers c LIMIT 1;
RESET crm.churn_model;
-- Dropping: the deployed version is refused without force
SELECT crm.drop_model('churn', 1);
SELECT crm.drop_model('churn', 2);
SELECT count(*) FROM crm.models;

-- Bad input: each with its SQLSTATE
SELECT * FROM crm.train_classifier('x', 'no_such_table', 'churned');
SELECT * FROM crm.train_classifier('x', 'customers', 'no_such_column');
SELECT * FROM crm.train_classifier('x', 'customers', 'churned', 'svm');
SELECT * FROM crm.train_classifier('x', 'customers', 'churned', 'random_forest', '{"max_features": 0}');
SELECT * FROM crm.train_classifier('x', 'customers', 'churned', 'auto', '{"momentum": 1}');
SELECT * FROM crm.train_classifier('x', 'customers', 'churned', 'auto', '{"test_fraction": 5}');
SELECT * FROM crm.train_classifier('x', 'SELECT 1 AS a, true AS y FROM generate_series(1, 100)', 'y');
SELECT * FROM crm.train_classifier('x', 'SELECT i AS a, (i % 3)::text AS y FROM generate_series(1, 100) i', 'y');
SELECT * FROM crm.train_classifier('x', 'SELECT i AS a, i % 2 = 0 AS y FROM generate_series(1, 10) i', 'y');
SELECT * FROM crm.train_classifier('bad name!', 'customers', 'churned');
SELECT * FROM crm.train_classifier('x', 'SELECT (i % 2 = 0) AS y, ARRAY[i] AS a FROM generate_series(1, 100) i', 'y');
SELECT crm.score('nope', c) FROM customers c LIMIT 1;
SELECT crm.score('churn', r) FROM (SELECT 1 AS support_calls) r;
SELECT * FROM crm.deploy('churn', 99);
SELECT * FROM crm.explain('churn', (SELECT c FROM customers c LIMIT 1), 0);
-- A corrupt stored model is an error naming it, never a score
UPDATE crm.models SET model = overlay(model placing '\x00'::bytea from 40 for 1) WHERE name = 'churn';
SELECT crm.score('churn', c) FROM customers c LIMIT 1;
\set VERBOSITY default
SELECT crm.score('churn', c) FROM customers c LIMIT 1;
SELECT crm.score('churn', r) FROM (SELECT 1 AS support_calls) r;
-- The messages name the argument and what is accepted
SELECT * FROM crm.train_classifier('x', 'no_such_table', 'churned');
SELECT * FROM crm.train_classifier('x', 'customers', 'no_such_column');
SELECT * FROM crm.train_classifier('x', 'customers', 'churned', 'auto', '{"momentum": 1}');
SELECT * FROM crm.train_classifier('x', 'SELECT i AS a, (i % 3)::text AS y FROM generate_series(1, 100) i', 'y');
SELECT crm.drop_model('churn', 1);
