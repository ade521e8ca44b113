-- k-means segments: crm.train_segments / segment / segment_distance / segment_profile,
-- on the CDNOW sample (RFM per customer, log1p, z-score inside the model).
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
CREATE TABLE cd_raw (customer_id int, order_date text, number_of_cds int, dollar_value float8);
\copy cd_raw FROM 'tests/data/cdnow_sample.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE customer_rfm AS
SELECT customer_id, (r).recency_days AS recency, (r).frequency AS frequency, (r).monetary_mean AS monetary,
       'x'::text AS note
FROM (SELECT customer_id, crm.rfm_agg(to_date(order_date, 'YYYYMMDD'), dollar_value, '1998-06-30') AS r
      FROM cd_raw GROUP BY customer_id) s;
-- k = 5 as the CDNOW protocol; the key column is left out, text columns are ignored.
SELECT name, version, k, deployed, metrics->'sizes' AS sizes, round((metrics->>'inertia')::numeric, 3) AS inertia,
       round((metrics->>'silhouette')::numeric, 4) AS silhouette, metrics->'rows_read' AS rows_read
FROM crm.train_segments('cdnow_rfm', 'customer_rfm', 5, '{"log1p": true, "key": "customer_id", "seed": 7}');
SELECT jsonb_pretty(features) FROM crm.models WHERE name = 'cdnow_rfm';
-- Every customer gets a segment; counts equal the stored sizes; segment 1 is the largest.
SELECT crm.segment('cdnow_rfm', c) AS segment, count(*),
       round(avg(crm.segment_distance('cdnow_rfm', c))::numeric, 3) AS mean_distance
FROM customer_rfm c GROUP BY 1 ORDER BY 1;
-- The profile, readable by a BI tool.
SELECT segment, size, round(share::numeric, 4) AS share, feature, round(mean::numeric, 2) AS mean,
       round(min::numeric, 2) AS min, round(max::numeric, 2) AS max, round(index::numeric, 1) AS index,
       round(centroid_z::numeric, 3) AS centroid_z
FROM crm.segment_profile('cdnow_rfm') ORDER BY segment, feature;
-- The profile's means equal plain SQL over the assigned segments.
SELECT count(*) AS profile_mismatches
FROM crm.segment_profile('cdnow_rfm') p
JOIN (SELECT crm.segment('cdnow_rfm', c) AS segment, avg(recency) AS recency, avg(frequency) AS frequency, avg(monetary) AS monetary
      FROM customer_rfm c GROUP BY 1) q USING (segment)
WHERE abs(p.mean - CASE p.feature WHEN 'recency' THEN q.recency WHEN 'frequency' THEN q.frequency ELSE q.monetary END) > 1e-9;
-- Same seed, same model; k chosen by silhouette reports every k it tried.
SELECT (SELECT metrics->'inertia' FROM crm.train_segments('cdnow_rfm2', 'customer_rfm', 5, '{"log1p": true, "key": "customer_id", "seed": 7}'))
     = (SELECT metrics->'inertia' FROM crm.models WHERE name = 'cdnow_rfm' AND version = 1) AS deterministic;
SELECT k, jsonb_array_length(metrics->'k_scores') AS ks_tried,
       (SELECT max((s->>'silhouette')::float8) FROM jsonb_array_elements(metrics->'k_scores') s) = (metrics->>'silhouette')::float8 AS best_silhouette_kept
FROM crm.train_segments('cdnow_auto', 'SELECT recency, frequency, monetary FROM customer_rfm', NULL, '{"log1p": true, "k_max": 6}');
-- Raw rows are scored: a row literal with the features by name, extra columns ignored,
-- a missing value leaves its dimension out, all missing gives NULL.
CREATE TYPE probe AS (monetary float8, frequency int, recency float8, extra text);
SELECT crm.segment('cdnow_rfm', ROW(500.0, 40, 3, 'vip')::probe) AS best_customers,
       crm.segment('cdnow_rfm', ROW(NULL, 40, 3, 'vip')::probe) AS without_monetary,
       crm.segment('cdnow_rfm', ROW(NULL, NULL, NULL, 'x')::probe) AS all_missing;
-- Parallel scoring gives the same answer as serial.
CREATE TABLE many AS SELECT c.* FROM customer_rfm c, generate_series(1, 40);
ANALYZE many;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(crm.segment('cdnow_rfm', m)) FROM many m;
SELECT sum(crm.segment('cdnow_rfm', m)) AS parallel_sum FROM many m;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT sum(crm.segment('cdnow_rfm', m)) AS serial_sum FROM many m;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- A new version replaces the deployed one unless options.deploy is false.
SELECT version, deployed FROM crm.train_segments('cdnow_rfm', 'customer_rfm', 3, '{"key": "customer_id", "deploy": false}');
SELECT name, version, kind, algorithm, deployed FROM crm.model_summary WHERE name = 'cdnow_rfm' ORDER BY version;
-- Bad input: clear errors with SQLSTATEs.
\set VERBOSITY sqlstate
SELECT crm.train_segments('bad', 'customer_rfm', 0);
SELECT crm.train_segments('bad', 'no_such_table', 3);
SELECT crm.train_segments('bad', 'customer_rfm', 3, '{"features": ["nope"]}');
\set VERBOSITY default
SELECT crm.train_segments('bad', 'customer_rfm', 100000, '{"key": "customer_id"}');
SELECT crm.train_segments('bad', 'SELECT note FROM customer_rfm', 3);
SELECT crm.train_segments('bad', 'SELECT recency, 1 AS one FROM customer_rfm', 3);
SELECT crm.train_segments('bad', 'SELECT recency, NULL::float8 AS empty FROM customer_rfm', 3);
SELECT crm.train_segments('bad', 'SELECT -recency AS r FROM customer_rfm', 3, '{"log1p": true}');
SELECT crm.train_segments('bad', 'customer_rfm', 3, '{"clusters": 3}');
SELECT crm.train_segments('bad', 'customer_rfm', 3, '{"features": ["note"]}');
SELECT crm.train_segments('bad', 'customer_rfm', 3, '{"log1p": ["nope"], "key": "customer_id"}');
SELECT crm.segment('no_model', c) FROM customer_rfm c LIMIT 1;
SELECT crm.segment('cdnow_rfm', ROW(1.0)) ;
-- A scalar where a row belongs (here the alias c is hidden by a column c) is an error.
SELECT crm.segment('cdnow_rfm', c) FROM (SELECT 1 AS c) c;
SELECT crm.score('any_model', 42);
SELECT count(*) FROM crm.models WHERE name = 'bad';
