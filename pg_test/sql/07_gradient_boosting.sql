-- Gradient-boosted trees: an interaction a linear model cannot see; auto picks the better.
SET client_min_messages = warning;
CREATE TABLE subscribers AS
SELECT i AS id,
       (abs(hashtext('a' || i)) % 1000) / 1000.0 AS usage_drop,
       (abs(hashtext('b' || i)) % 1000) / 1000.0 AS price_rise,
       (ARRAY['monthly', 'annual'])[1 + abs(hashtext('c' || i)) % 2] AS contract
FROM generate_series(1, 4000) i;
-- churn when exactly one of the two pressures is high (XOR), on monthly contracts mostly
ALTER TABLE subscribers ADD COLUMN churned boolean;
UPDATE subscribers SET churned = ((usage_drop > 0.5) <> (price_rise > 0.5)) AND (contract = 'monthly' OR abs(hashtext('d' || id)) % 4 = 0);
SELECT name, algorithm, (metrics->>'roc_auc')::float8 > 0.95 AS high_auc
FROM crm.train_classifier('xor_trees', 'subscribers', 'churned', 'gradient_boosting', '{"key": "id"}');
SELECT name, algorithm FROM crm.train_classifier('xor_linear', 'subscribers', 'churned', 'logistic', '{"key": "id"}');
SELECT (SELECT roc_auc FROM crm.model_summary WHERE name = 'xor_trees') > (SELECT roc_auc FROM crm.model_summary WHERE name = 'xor_linear') + 0.1 AS trees_beat_linear;
-- a random forest sees it too; its explanations add up to its log-odds
SELECT name, algorithm FROM crm.train_classifier('xor_forest', 'subscribers', 'churned', 'random_forest', '{"key": "id", "n_trees": 50}');
SELECT (SELECT roc_auc FROM crm.model_summary WHERE name = 'xor_forest') > (SELECT roc_auc FROM crm.model_summary WHERE name = 'xor_linear') + 0.1 AS forest_beats_linear;
SELECT abs(sum(contribution) - (SELECT ln(p / (1 - p)) FROM (SELECT crm.score('xor_forest', s) p FROM subscribers s WHERE id = 7) q)) < 1e-9 AS forest_adds_up
FROM crm.explain('xor_forest', (SELECT s FROM subscribers s WHERE id = 7), 10);
SELECT algorithm IN ('gradient_boosting', 'random_forest', 'ensemble') AS picked_trees,
       (SELECT string_agg(DISTINCT c->>'algorithm', ', ') FROM jsonb_array_elements(metrics->'candidates') c) AS candidates,
       (SELECT string_agg(DISTINCT c->>'scored_on', ', ') FROM jsonb_array_elements(metrics->'candidates') c) AS scored_on,
       (metrics->'search'->>'cv_folds')::int AS folds, (SELECT count(*) > 10 FROM jsonb_array_elements(metrics->'candidates')) AS searched
FROM crm.train_classifier('xor_auto', 'subscribers', 'churned', 'auto', '{"key": "id"}');
-- without a search budget: the defaults, compared on the holdout
SELECT algorithm IN ('gradient_boosting', 'random_forest', 'ensemble') AS picked_trees,
       (SELECT string_agg(c->>'algorithm', ', ') FROM jsonb_array_elements(metrics->'candidates') c) AS candidates,
       metrics ? 'search' AS searched
FROM crm.train_classifier('xor_auto', 'subscribers', 'churned', 'auto', '{"key": "id", "time_budget": 0}');
-- path contributions add up to the log-odds for trees too
SELECT abs(sum(contribution) - (SELECT ln(p / (1 - p)) FROM (SELECT crm.score('xor_trees', s) p FROM subscribers s WHERE id = 7) q)) < 1e-9 AS adds_up
FROM crm.explain('xor_trees', (SELECT s FROM subscribers s WHERE id = 7), 10);
SELECT count(*) AS features FROM crm.explain('xor_trees', (SELECT s FROM subscribers s WHERE id = 7), 10) WHERE feature NOT LIKE '(%';
-- scores are probabilities, also in parallel workers
SET force_parallel_mode = on;
SELECT min(crm.score('xor_trees', s)) >= 0 AND max(crm.score('xor_trees', s)) <= 1 AS in_range FROM subscribers s;
RESET force_parallel_mode;
-- a tree model has no coefficients
\set VERBOSITY sqlstate
SELECT * FROM crm.coefficients('xor_trees');
\set VERBOSITY default
SELECT * FROM crm.coefficients('xor_trees');
SELECT * FROM crm.train_classifier('x', 'subscribers', 'churned', 'gradient_boosting', '{"max_leaves": 1}');
-- algorithm 'ensemble': gradient boosting and a random forest, their log-odds averaged;
-- explained exactly like the others
SELECT algorithm FROM crm.train_classifier('xor_both', 'subscribers', 'churned', 'ensemble', '{"key": "id", "n_trees": 40}');
SELECT abs(sum(contribution) - (SELECT ln(p / (1 - p)) FROM (SELECT crm.score('xor_both', s) p FROM subscribers s WHERE id = 7) q)) < 1e-9 AS ensemble_adds_up
FROM crm.explain('xor_both', (SELECT s FROM subscribers s WHERE id = 7), 10);
