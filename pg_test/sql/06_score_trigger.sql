-- crm.score_trigger keeps a score column fresh as rows are inserted and updated.
SET client_min_messages = warning;
CREATE TABLE accounts AS
SELECT i AS id, (i % 10)::float8 AS calls, (ARRAY['a', 'b'])[1 + i % 2] AS plan, ((i % 10) + (i % 7) > 9) AS churned
FROM generate_series(1, 500) i;
SELECT deployed FROM crm.train_classifier('acct', 'accounts', 'churned', 'logistic', '{"key": "id"}');
CREATE TABLE live_accounts (id int, calls float8, plan text, churn_score float8);
CREATE TRIGGER score BEFORE INSERT OR UPDATE ON live_accounts
    FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO live_accounts SELECT id, calls, plan FROM accounts WHERE id <= 5;
SELECT l.id, l.churn_score IS NOT NULL AS scored, abs(l.churn_score - crm.score('acct', a)) < 1e-12 AS same_as_score
FROM live_accounts l JOIN accounts a USING (id) ORDER BY id;
-- an update rescores the row
UPDATE live_accounts SET calls = 9 WHERE id = 1;
SELECT id, abs(churn_score - crm.score('acct', l)) < 1e-12 AS rescored, churn_score > 0.5 AS high_risk FROM live_accounts l WHERE id = 1;
-- the score column in the middle of the row, and rows with other NULLs (another shape of
-- new row than live_accounts', whose score is its last column)
CREATE TABLE middle_accounts (id int, churn_score float8, calls float8, plan text, note text);
CREATE TRIGGER score BEFORE INSERT OR UPDATE ON middle_accounts
    FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO live_accounts (id, calls, plan) SELECT id, CASE WHEN id % 3 = 0 THEN NULL ELSE calls END, plan FROM accounts WHERE id BETWEEN 6 AND 60;
INSERT INTO middle_accounts (id, calls, plan, note) SELECT id, calls, plan, CASE WHEN id % 2 = 0 THEN 'n' END FROM accounts WHERE id <= 60;
SELECT count(*) AS rows, max(abs(churn_score - crm.score('acct', l))) < 1e-12 AS scores_right,
       count(*) FILTER (WHERE calls IS NULL) AS null_calls FROM live_accounts l;
SELECT count(*) AS rows, max(abs(churn_score - crm.score('acct', m))) < 1e-12 AS scores_right,
       bool_and((note IS NULL) = (id % 2 = 1)) AS notes_intact FROM middle_accounts m;
-- a score column that already holds a value (UPDATE, or a DEFAULT) is written in place;
-- an index on it, a WHEN clause that reads the row first and RETURNING all see the score
CREATE TABLE fast_accounts (id int, note text, calls float8, plan text, churn_score float8 DEFAULT 0, tail text);
CREATE INDEX ON fast_accounts (churn_score);
CREATE TRIGGER score BEFORE INSERT OR UPDATE ON fast_accounts
    FOR EACH ROW WHEN (NEW.churn_score IS NOT NULL AND NEW.calls >= 0) EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO fast_accounts (id, note, calls, plan, tail)
SELECT id, repeat('x', id % 200), calls, plan, 'tail ' || id FROM accounts WHERE id <= 300
RETURNING id, churn_score \g /dev/null
UPDATE fast_accounts SET calls = 9 - calls WHERE id <= 100;
SELECT count(*) AS rows, max(abs(churn_score - crm.score('acct', f))) < 1e-12 AS scores_right,
       bool_and(tail = 'tail ' || id AND note = repeat('x', id % 200)) AS other_columns_intact
FROM fast_accounts f;
SET enable_seqscan = off;
SELECT count(*) AS high_by_index FROM fast_accounts WHERE churn_score > 0.5;
RESET enable_seqscan;
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS high_by_scan FROM fast_accounts WHERE churn_score > 0.5;
RESET enable_indexscan; RESET enable_bitmapscan;
WITH changed AS (UPDATE fast_accounts SET calls = 0 WHERE id = 2 RETURNING churn_score)
SELECT abs(churn_score - crm.score('acct', ROW(2, 'x', 0::float8, 'a', 0::float8, 't')::fast_accounts)) < 1e-12 AS returning_sees_score FROM changed;
-- an optional third argument receives the row's top reasons (text or jsonb), the same
-- contributions crm.explain gives
CREATE TABLE explained_accounts (id int, calls float8, plan text, churn_score float8, reasons text, reasons_json jsonb);
CREATE TRIGGER score BEFORE INSERT OR UPDATE ON explained_accounts
    FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score', 'reasons');
CREATE TRIGGER score_json BEFORE INSERT OR UPDATE ON explained_accounts
    FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score', 'reasons_json');
INSERT INTO explained_accounts (id, calls, plan) SELECT id, calls, plan FROM accounts WHERE id IN (7, 8);
SELECT id, reasons, jsonb_array_length(reasons_json) AS n_json,
       abs((reasons_json->0->>'contribution')::float8 - (SELECT contribution FROM crm.explain('acct', a) LIMIT 1)) < 1e-12 AS top_matches_explain
FROM explained_accounts e JOIN accounts a USING (id) ORDER BY id;
CREATE TABLE bad_reasons (id int, calls float8, plan text, churn_score float8, reasons int);
CREATE TRIGGER score BEFORE INSERT ON bad_reasons FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score', 'reasons');
INSERT INTO bad_reasons (id, calls, plan) VALUES (1, 1, 'a');
-- a trigger must be written right
\set VERBOSITY sqlstate
CREATE TABLE wrong_type (id int, calls float8, plan text, churn_score text);
CREATE TRIGGER score BEFORE INSERT ON wrong_type FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO wrong_type (id, calls, plan) VALUES (1, 1, 'a');
CREATE TABLE one_arg (id int, calls float8, plan text, churn_score float8);
CREATE TRIGGER score BEFORE INSERT ON one_arg FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct');
INSERT INTO one_arg (id, calls, plan) VALUES (1, 1, 'a');
CREATE TABLE after_trigger (id int, calls float8, plan text, churn_score float8);
CREATE TRIGGER score AFTER INSERT ON after_trigger FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO after_trigger (id, calls, plan) VALUES (1, 1, 'a');
CREATE TABLE missing_feature (id int, calls float8, churn_score float8);
CREATE TRIGGER score BEFORE INSERT ON missing_feature FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('acct', 'churn_score');
INSERT INTO missing_feature (id, calls) VALUES (1, 1);
\set VERBOSITY default
INSERT INTO wrong_type (id, calls, plan) VALUES (1, 1, 'a');
INSERT INTO one_arg (id, calls, plan) VALUES (1, 1, 'a');
INSERT INTO after_trigger (id, calls, plan) VALUES (1, 1, 'a');
INSERT INTO missing_feature (id, calls) VALUES (1, 1);
-- crm.score_batch: every row of a source, keyed
SELECT count(*) AS rows, bool_and(abs(b.score - crm.score('acct', a)) < 1e-12) AS same_as_score
FROM crm.score_batch('acct', 'accounts', 'id') b JOIN accounts a ON a.id::text = b.key;
SELECT key, round(score::numeric, 3) > 0 AS positive FROM crm.score_batch('acct', 'SELECT * FROM accounts WHERE id <= 3', 'id') ORDER BY key;
SELECT * FROM crm.score_batch('acct', 'accounts', 'no_such_key');
SELECT * FROM crm.score_batch('nope', 'accounts', 'id');
-- Scoring inside parallel workers (each worker loads the model into its own cache)
CREATE TABLE serial_sum AS SELECT sum(crm.score('acct', a)) AS s FROM accounts a;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT sum(crm.score('acct', a)) FROM accounts a;
SELECT abs(sum(crm.score('acct', a)) - (SELECT s FROM serial_sum)) < 1e-9 AS parallel_equals_serial FROM accounts a;
SET crm.churn_model = 'acct';
SELECT abs(sum(crm.churn_score(a)) - (SELECT s FROM serial_sum)) < 1e-9 AS churn_score_in_worker FROM accounts a;
RESET crm.churn_model;
RESET force_parallel_mode;
-- CREATE TABLE AS with a parallel plan: the leader loads the model inside a parallel operation
SELECT version FROM crm.deploy('acct', 1);
SET max_parallel_workers_per_gather = 2;
CREATE TABLE scored_ctas AS SELECT id, crm.score('acct', a) AS s FROM accounts a;
SELECT count(*) AS scored, bool_and(s BETWEEN 0 AND 1) AS in_range FROM scored_ctas;
