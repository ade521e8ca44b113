-- The planner passes a table row's columns to crm.score / crm.churn_score instead of
-- building the whole-row value (crm.score_columns); same scores, same errors, same NULLs.
SET client_min_messages = warning;
CREATE TABLE cust AS
SELECT i AS id, (i % 10)::float8 AS calls, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS plan, (i % 5)::int AS tenure,
       ((i % 10) + (i % 7) > 9) AS churned
FROM generate_series(1, 400) i;
SELECT deployed FROM crm.train_classifier('cols', 'cust', 'churned', 'logistic', '{"key": "id"}');
-- rewritten for a table's row, with every live column by name
EXPLAIN (VERBOSE, COSTS OFF) SELECT crm.score('cols', c) FROM cust c;
SET crm.churn_model = 'cols';
EXPLAIN (VERBOSE, COSTS OFF) SELECT crm.churn_score(c) FROM cust c;
-- the same scores as the whole-row form (a subquery kept whole by OFFSET 0 is not rewritten)
EXPLAIN (VERBOSE, COSTS OFF) SELECT crm.score('cols', c) FROM (SELECT * FROM cust OFFSET 0) c;
SELECT count(*) AS rows,
       max(abs(crm.score('cols', c) - (SELECT crm.score('cols', w) FROM (SELECT * FROM cust OFFSET 0) w WHERE w.id = c.id))) < 1e-15 AS same,
       max(abs(crm.churn_score(c) - crm.score('cols', c))) = 0 AS churn_same
FROM cust c;
-- a view's row (flattened into the table's columns) and ROW(...) of the table's type
CREATE VIEW cust_view AS SELECT id, plan, calls, tenure FROM cust;
EXPLAIN (VERBOSE, COSTS OFF) SELECT crm.score('cols', v) FROM cust_view v;
SELECT bool_and(crm.score('cols', v) = crm.score('cols', c)) AS view_same
FROM cust_view v JOIN cust c USING (id);
SELECT crm.score('cols', ROW(1, 1.0, 'b', 1, false)::cust) = crm.score('cols', c) AS row_same FROM cust c WHERE id = 1;
-- a dropped column and columns in another order
CREATE TABLE reordered AS SELECT 0 AS junk, tenure, plan, calls, id FROM cust;
ALTER TABLE reordered DROP COLUMN junk;
SELECT bool_and(crm.score('cols', r) = crm.score('cols', c)) AS reordered_same FROM reordered r JOIN cust c USING (id);
-- the NULL-extended row of an outer join scores NULL: that call keeps the whole row
EXPLAIN (VERBOSE, COSTS OFF) SELECT v.i, crm.score('cols', c) FROM (VALUES (1), (0)) v(i) LEFT JOIN cust c ON c.id = v.i;
SELECT v.i, crm.score('cols', c) IS NULL AS is_null FROM (VALUES (1), (0)) v(i) LEFT JOIN cust c ON c.id = v.i ORDER BY v.i;
-- a prepared statement sees a later deploy (the model is resolved when it runs)
SET plan_cache_mode = force_generic_plan;
PREPARE one AS SELECT crm.score('cols', c) FROM cust c WHERE id = 7;
CREATE TABLE before_deploy AS SELECT crm.score('cols', c) AS s FROM cust c WHERE id = 7;
SELECT version FROM crm.train_classifier('cols', 'SELECT id, calls, plan, tenure, NOT churned AS churned FROM cust', 'churned', 'logistic', '{"key": "id"}');
SELECT version FROM crm.deploy('cols', 2);
CREATE TEMP TABLE after_deploy AS EXECUTE one;
RESET plan_cache_mode;
SELECT (SELECT s FROM before_deploy) <> (SELECT score FROM after_deploy) AS new_version_used;
-- errors: a missing column, the column form called by hand with mismatched names
\set VERBOSITY sqlstate
SELECT crm.score('cols', s) FROM (SELECT id, calls FROM cust) s LIMIT 1;
SELECT crm.score('cols', t) FROM (SELECT id, calls FROM cust) t LIMIT 1;
SELECT crm.score_columns('cols', ARRAY['calls'], 1.0, 2.0);
SELECT crm.score_columns('cols', ARRAY['calls'], 1.0);
\set VERBOSITY default
SELECT crm.score_columns('cols', ARRAY['calls'], 1.0);
SELECT crm.score_columns(NULL, ARRAY['calls'], 1.0) IS NULL AS null_name_null_score;
