-- crm.scaler_agg / crm.scale: normalisation summaries as a two-step aggregate.
CREATE TABLE amounts AS
SELECT i AS id, (i % 7) AS grp, ((i * 7919) % 1000)::float8 / 10 AS x
FROM generate_series(1, 100000) i;
INSERT INTO amounts VALUES (0, 0, NULL), (-1, 0, 'NaN');
ANALYZE amounts;
-- One summary per method; printed as JSON text.
SELECT crm.scaler_agg(x) FROM amounts;
SELECT crm.scaler_agg(x, 'minmax') FROM amounts;
SELECT crm.scaler_agg(x, 'robust') FROM amounts;
-- zscore equals the built-in avg / stddev_pop (NULL and NaN ignored)
SELECT abs((crm.scaler_params(s)->>'mean')::float8 - a) < 1e-9 AS mean_equal,
       abs((crm.scaler_params(s)->>'stddev')::float8 / sd - 1) < 1e-9 AS stddev_equal
FROM (SELECT crm.scaler_agg(x) s, avg(x) FILTER (WHERE x <> 'NaN') a, stddev_pop(x) FILTER (WHERE x <> 'NaN') sd FROM amounts) q;
-- Per group, then applied: scaled values have mean 0 and population stddev 1 in each group
WITH s AS (SELECT grp, crm.scaler_agg(x) AS s FROM amounts GROUP BY grp)
SELECT a.grp, round(avg(crm.scale(a.x, s.s))::numeric, 9) AS mean, round(stddev_pop(crm.scale(a.x, s.s))::numeric, 9) AS sd
FROM amounts a JOIN s USING (grp) WHERE a.x <> 'NaN' GROUP BY a.grp ORDER BY a.grp;
-- minmax maps onto [0, 1]; unscale inverts scale
WITH s AS (SELECT crm.scaler_agg(x, 'minmax') s FROM amounts)
SELECT min(crm.scale(x, s)) AS lo, max(crm.scale(x, s)) AS hi,
       max(abs(crm.unscale(crm.scale(x, s), s) - x)) < 1e-9 AS inverts
FROM amounts, s WHERE x <> 'NaN';
-- Parallel plan: Partial Aggregate under Gather, and the same answer as a serial plan
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT crm.scaler_agg(x, 'robust') FROM amounts;
CREATE TEMP TABLE par AS SELECT crm.scaler_agg(x) z, crm.scaler_agg(x, 'robust') r FROM amounts;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE ser AS SELECT crm.scaler_agg(x) z, crm.scaler_agg(x, 'robust') r FROM amounts;
RESET max_parallel_workers_per_gather;
SELECT abs((crm.scaler_params(par.z)->>'mean')::float8 / (crm.scaler_params(ser.z)->>'mean')::float8 - 1) < 1e-12 AS mean_equal,
       abs((crm.scaler_params(par.z)->>'stddev')::float8 / (crm.scaler_params(ser.z)->>'stddev')::float8 - 1) < 1e-9 AS stddev_equal,
       crm.scaler_params(par.r)->'median' = crm.scaler_params(ser.r)->'median' AS median_equal
FROM par, ser;
-- Empty input and all-NULL input: NULL
SELECT crm.scaler_agg(x) IS NULL AS empty FROM amounts WHERE false;
SELECT crm.scaler_agg(x) IS NULL AS all_null FROM amounts WHERE x IS NULL;
-- Constant column: spread 0 is treated as 1 (scikit-learn's rule), never NaN
SELECT crm.scale(5, crm.scaler_agg(v)) AS centred, crm.scale(7, crm.scaler_agg(v)) AS shifted FROM (VALUES (5.0::float8), (5.0)) t(v);
-- Text round trip and a stored summary
CREATE TABLE saved_scalers AS SELECT 'x'::text AS feature, crm.scaler_agg(x, 'robust') AS s FROM amounts;
SELECT s::text::crm.scaler::text = s::text AS round_trips FROM saved_scalers;
SELECT round(crm.scale(50, s)::numeric, 6) AS scaled_from_stored FROM saved_scalers;
-- Bad input
\set VERBOSITY sqlstate
SELECT crm.scaler_agg(x, 'median') FROM amounts;
SELECT 'not json'::crm.scaler;
\set VERBOSITY default
SELECT crm.scaler_agg(x, 'median') FROM amounts;
SELECT '{"method":"robust","n":3,"mean":1,"stddev":1,"min":0,"max":2}'::crm.scaler;
