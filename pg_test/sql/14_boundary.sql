-- The Postgres boundary: row layouts follow schema changes (never a decode with a stale
-- column type), model caches follow deploys, stored bytes are checked, settings are
-- checked, dates score the same in every time zone. Each error shows its SQLSTATE.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The issue's snippet, in one session: the trigger scores, the column changes type.
CREATE TABLE t (id int, a float8, b text, y bool, s float8);
INSERT INTO t SELECT g, g % 7, CASE WHEN g % 3 = 0 THEN 'x' ELSE 'z' END, g % 5 = 0 FROM generate_series(1, 2000) g;
SELECT version, deployed FROM crm.train_classifier('m', 'SELECT a, b, y FROM t', 'y', 'logistic');
CREATE TRIGGER sc BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('m', 's');
UPDATE t SET a = a WHERE id < 10;
SELECT count(*) AS scored, bool_and(abs(s - crm.score('m', t)) < 1e-12) AS right FROM t WHERE id < 10;
ALTER TABLE t ALTER COLUMN a TYPE text;
SELECT pg_temp.try('UPDATE t SET a = a WHERE id < 10') AS trigger_after_type_change;
SELECT pg_temp.try('SELECT crm.score(''m'', t) FROM t') AS score_after_type_change;
SELECT pg_temp.try('SELECT * FROM t, crm.explain(''m'', t) LIMIT 1') AS explain_after_type_change;
SELECT pg_temp.try('SELECT crm.score(''m'', ROW(t.*)::t) FROM t') AS whole_row_after_type_change;
SELECT pg_temp.try('SET crm.churn_model = ''m''; SELECT crm.churn_score(t) FROM t') AS churn_score_after_type_change;
RESET crm.churn_model;
SELECT pg_temp.try('SELECT * FROM crm.score_batch(''m'', ''t'', ''id'')') AS score_batch_after_type_change;
SELECT 1 AS backend_alive;
-- back to a number the model reads (integer now): scores are right again
ALTER TABLE t ALTER COLUMN a TYPE int USING a::int;
UPDATE t SET a = a WHERE id < 50;
SELECT count(*) AS rescored, bool_and(abs(s - crm.score('m', t)) < 1e-12) AS right FROM t WHERE id < 50;
-- a column before the features changes size (the table is rewritten, every attribute
-- after it moves): reads follow the new layout
ALTER TABLE t ALTER COLUMN id TYPE bigint;
UPDATE t SET b = b WHERE id BETWEEN 50 AND 99;
SELECT count(*) AS rescored, bool_and(abs(s - crm.score('m', t)) < 1e-12) AS right,
       bool_and(abs(s - crm.score('m', ROW(t.*)::t)) < 1e-12) AS right_whole_row FROM t WHERE id BETWEEN 50 AND 99;
-- a column added in front of the features, one dropped between them
ALTER TABLE t ADD COLUMN note text DEFAULT 'n';
ALTER TABLE t DROP COLUMN id;
INSERT INTO t (a, b, y, note) VALUES (3, 'x', true, 'new');
SELECT abs(s - crm.score('m', t)) < 1e-12 AS new_row_right FROM t WHERE note = 'new';
-- a feature renamed or dropped: 42703 from every reader
ALTER TABLE t RENAME COLUMN b TO b2;
SELECT pg_temp.try('UPDATE t SET a = a WHERE note = ''new''') AS trigger_after_rename;
SELECT pg_temp.try('SELECT crm.score(''m'', t) FROM t') AS score_after_rename;
SELECT pg_temp.try('SELECT crm.score(''m'', x) FROM (SELECT a, b2 FROM t) x') AS row_after_rename;
ALTER TABLE t RENAME COLUMN b2 TO b;
SELECT count(*) FILTER (WHERE crm.score('m', t) IS NOT NULL) = count(*) AS scores_again FROM t;
ALTER TABLE t DROP COLUMN b;
SELECT pg_temp.try('SELECT crm.score(''m'', t) FROM t') AS score_after_drop;
-- the score column itself changes type: the trigger says which column and what it needs
ALTER TABLE t ADD COLUMN b text DEFAULT 'x';
ALTER TABLE t ALTER COLUMN s TYPE numeric;
SELECT pg_temp.try('UPDATE t SET a = a WHERE note = ''new''') AS trigger_score_column_numeric;
DROP TABLE t;

-- A table dropped and created again under the same name, columns in another order.
CREATE TABLE t (b text, y bool, a float8, s float8, pad text);
CREATE TRIGGER sc BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('m', 's');
INSERT INTO t (b, y, a, pad) SELECT CASE WHEN g % 3 = 0 THEN 'x' ELSE 'z' END, g % 5 = 0, g % 7, repeat('p', g % 40) FROM generate_series(1, 300) g;
SELECT count(*) AS rows, bool_and(abs(s - crm.score('m', t)) < 1e-12) AS right FROM t;

-- A model name per row: one memo per call site, replaced as names change.
SELECT version FROM crm.train_classifier('m2', 'SELECT a, b, y FROM t', 'y', 'logistic', '{"C": 0.01}');
CREATE TABLE named AS SELECT a, b, CASE WHEN row_number() OVER () % 2 = 0 THEN 'm' ELSE 'm2' END AS model FROM t;
SELECT count(DISTINCT round(crm.score(model, n)::numeric, 9)) > 2 AS both_models_used,
       bool_and(abs(crm.score(model, n) - CASE model WHEN 'm' THEN crm.score('m', n) ELSE crm.score('m2', n) END) < 1e-12) AS right
FROM named n;

-- A prepared statement and a PL/pgSQL function across a deploy see the new version.
SELECT version FROM crm.train_classifier('m', 'SELECT a, b, y FROM t', 'y', 'logistic', '{"C": 0.0001}');
PREPARE scored AS SELECT round(avg(crm.score('m', t))::numeric, 9) AS mean FROM t;
CREATE FUNCTION pg_temp.mean_score() RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT round(avg(crm.score('m', t))::numeric, 9) FROM t); END $$;
SELECT previous_version FROM crm.deploy('m', 1);
CREATE TEMP TABLE v1 AS EXECUTE scored;
SELECT (SELECT mean FROM v1) = pg_temp.mean_score() AS function_sees_v1;
SELECT previous_version FROM crm.deploy('m', 2);
CREATE TEMP TABLE v3 AS EXECUTE scored;
SELECT (SELECT mean FROM v1) <> (SELECT mean FROM v3) AS prepared_sees_new_version, (SELECT mean FROM v3) = pg_temp.mean_score() AS function_sees_v3;
-- inside one transaction: the deploy is seen by the next statement of the same function
DO $$
DECLARE before numeric; after numeric;
BEGIN
  before := pg_temp.mean_score();
  PERFORM crm.deploy('m', 1);
  after := pg_temp.mean_score();
  RAISE WARNING 'deploy inside a transaction changes the scores: %', before <> after;
  PERFORM crm.deploy('m', 2);
  RAISE WARNING 'and back: %', before = pg_temp.mean_score();
END $$;

-- Stored bytes are not trusted: a changed byte is XX001 naming the model and version.
UPDATE crm.models SET model = overlay(model PLACING '\x00ff'::bytea FROM 40) WHERE name = 'm2';
SELECT pg_temp.try('SELECT crm.score(''m2'', t) FROM t') AS corrupted_model;
UPDATE crm.models SET model = '\x00'::bytea WHERE name = 'm2';
SELECT pg_temp.try('SELECT crm.score(''m2'', t) FROM t') AS truncated_model;
SELECT 1 AS backend_alive;

-- Settings: an unknown crm.* setting is refused (a typo is not silently kept).
SELECT pg_temp.try('SET crm.chrun_model = ''churn''') AS typo_in_setting;
SELECT pg_temp.try('SET crm.model_cache_mb = -1') AS bad_cache_size;
-- the cache is per backend: these statements run in this one, not in parallel workers
SET force_parallel_mode = off;
SET crm.model_cache_mb = 0;
SELECT count(*) FILTER (WHERE crm.score('m', t) IS NOT NULL) AS scored_without_cache FROM t;
SELECT (crm.cache_stats()->>'models')::int AS cached_models;
RESET crm.model_cache_mb;
SELECT count(*) > 0 AS scored FROM t WHERE crm.score('m', t) > 0;
SELECT (crm.cache_stats()->>'models')::int >= 1 AS cached_again, (crm.cache_stats()->>'row_layouts')::int <= (crm.cache_stats()->>'row_layouts_limit')::int AS layouts_bounded;
RESET force_parallel_mode;

-- Dates and timestamps: the same model and the same scores in every session time zone.
CREATE TABLE visits AS
SELECT g AS id, timestamptz '2024-01-01 00:00+00' + g * interval '7 hours' AS last_visit,
       date '2024-01-01' + g / 3 AS signup, timestamp '2024-01-01 00:00' + g * interval '5 hours' AS local_seen,
       (g * 7919 % 100) < 40 + g % 20 AS left_us
FROM generate_series(1, 1500) g;
SET TimeZone = 'UTC';
SELECT version FROM crm.train_classifier('tz_utc', 'visits', 'left_us', 'logistic', '{"key": "id"}');
SET TimeZone = 'Asia/Tokyo';
SELECT version FROM crm.train_classifier('tz_tokyo', 'visits', 'left_us', 'logistic', '{"key": "id"}');
SELECT bool_and(abs(u.coefficient - k.coefficient) < 1e-9) AS same_model
FROM crm.coefficients('tz_utc') u JOIN crm.coefficients('tz_tokyo') k USING (term);
CREATE TEMP TABLE tokyo AS SELECT id, crm.score('tz_utc', v) AS s, crm.score('tz_utc', ROW(v.*)::visits) AS w FROM visits v;
SET TimeZone = 'America/New_York';
SELECT bool_and(abs(k.s - crm.score('tz_utc', v)) < 1e-12 AND abs(k.w - crm.score('tz_utc', ROW(v.*)::visits)) < 1e-12) AS same_scores
FROM visits v JOIN tokyo k USING (id);
RESET TimeZone;
-- rfm_agg counts calendar days of the session zone: STABLE, not IMMUTABLE
SELECT p.provolatile FROM pg_proc p JOIN pg_aggregate a ON a.aggtransfn = p.oid WHERE a.aggfnoid = 'crm.rfm_agg'::regproc;

-- crm.segment and crm.segment_distance follow schema changes too.
CREATE TABLE seg_rows AS SELECT g::int AS id, (g % 10)::float8 AS a, (g % 7)::float8 AS b FROM generate_series(1, 600) g;
SELECT k FROM crm.train_segments('segm', 'SELECT a, b FROM seg_rows', 3);
CREATE TEMP TABLE seg_before AS SELECT id, crm.segment('segm', s) AS segment, crm.segment_distance('segm', s) AS distance FROM seg_rows s;
ALTER TABLE seg_rows ALTER COLUMN id TYPE bigint;
SELECT count(*) AS rows, bool_and(b.segment = crm.segment('segm', s) AND b.distance = crm.segment_distance('segm', s)) AS same_after_rewrite
FROM seg_rows s JOIN seg_before b USING (id);
ALTER TABLE seg_rows ALTER COLUMN a TYPE text;
SELECT pg_temp.try('SELECT crm.segment(''segm'', s) FROM seg_rows s') AS segment_after_type_change;
SELECT pg_temp.try('SELECT crm.segment_distance(''segm'', s) FROM seg_rows s') AS distance_after_type_change;
ALTER TABLE seg_rows ALTER COLUMN a TYPE numeric USING a::numeric;
SELECT count(*) AS rows, bool_and(b.segment = crm.segment('segm', s)) AS same_as_numeric FROM seg_rows s JOIN seg_before b USING (id);
ALTER TABLE seg_rows DROP COLUMN b;
SELECT pg_temp.try('SELECT crm.segment(''segm'', s) FROM seg_rows s') AS segment_after_drop;

-- A source larger than crm.source_memory_mb is refused with 53200 before it fills memory.
CREATE TABLE wide AS SELECT g AS id, repeat('x', 500) AS pad, g % 7 AS a, g % 5 = 0 AS y FROM generate_series(1, 5000) g;
SET crm.source_memory_mb = 1;
SELECT pg_temp.try('SELECT * FROM crm.train_classifier(''wide_m'', ''wide'', ''y'', ''logistic'', ''{"key": "id"}'')') AS over_the_bound;
RESET crm.source_memory_mb;
SELECT count(*) AS models_left FROM crm.models WHERE name = 'wide_m';
SELECT version FROM crm.train_classifier('wide_m', 'wide', 'y', 'logistic', '{"key": "id"}');
