\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- crm.rfm_agg: one RFM summary per customer as of 2026-11-23 (parallel aggregate)'
DROP TABLE IF EXISTS customer_rfm;
CREATE TABLE customer_rfm AS
SELECT customer_id, crm.rfm_agg(ordered_at, amount, '2026-11-23') AS rfm
FROM orders GROUP BY customer_id;
SELECT customer_id, (rfm).recency_days, (rfm).frequency, round((rfm).monetary_total::numeric, 2) AS monetary_total,
       round((rfm).monetary_mean::numeric, 2) AS monetary_mean, (rfm).t_days
FROM customer_rfm ORDER BY customer_id LIMIT 5;

\echo '--- crm.rfm_quintiles + crm.rfm_score: 1..5 scores and the named RFM segments'
DROP TABLE IF EXISTS customer_rfm_scores;
CREATE TABLE customer_rfm_scores AS
WITH q AS (SELECT crm.rfm_quintiles(rfm) AS q FROM customer_rfm)
SELECT customer_id, (crm.rfm_score(rfm, q)).* FROM customer_rfm, q;
SELECT crm.rfm_quintiles(rfm) AS breakpoints FROM customer_rfm;
SELECT segment, count(*) AS customers, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct,
       round(avg((c.rfm).recency_days)) AS avg_recency_days, round(avg((c.rfm).frequency), 1) AS avg_frequency,
       round(avg((c.rfm).monetary_total)::numeric, 0) AS avg_monetary
FROM customer_rfm_scores s JOIN customer_rfm c USING (customer_id)
GROUP BY segment ORDER BY customers DESC;

\echo '--- crm.train_segments: k-means on log1p RFM, k chosen by silhouette in 4..8'
DROP TABLE IF EXISTS rfm_features;
CREATE TABLE rfm_features AS
SELECT customer_id, (rfm).recency_days AS recency, (rfm).frequency AS frequency, (rfm).monetary_mean AS monetary
FROM customer_rfm;
SELECT name, version, k, deployed, round((metrics->>'silhouette')::numeric, 3) AS silhouette,
       metrics->'sizes' AS sizes, round((metrics->>'training_seconds')::numeric, 2) AS seconds
FROM crm.train_segments('rfm_segments', 'rfm_features', NULL, '{"log1p": true, "key": "customer_id", "k_min": 4, "k_max": 8}');
SELECT (s->>'k')::int AS k, round((s->>'silhouette')::numeric, 3) AS silhouette, round((s->>'inertia')::numeric, 0) AS inertia
FROM crm.models m, jsonb_array_elements(m.metrics->'k_scores') s
WHERE m.name = 'rfm_segments' AND m.version = (SELECT max(version) FROM crm.models WHERE name = 'rfm_segments');

\echo '--- crm.segment_profile: what each segment looks like (index = 100 x segment mean / population mean)'
SELECT segment, size, round(share::numeric, 3) AS share, feature, round(mean::numeric, 1) AS mean,
       round(index::numeric, 0) AS index, round(centroid_z::numeric, 2) AS centroid_z
FROM crm.segment_profile('rfm_segments') ORDER BY segment, feature;

\echo '--- crm.segment / crm.segment_distance per customer, beside the RFM segment names'
SELECT crm.segment('rfm_segments', feat) AS kmeans_segment, s.segment AS rfm_segment, count(*) AS customers,
       round(avg(crm.segment_distance('rfm_segments', feat))::numeric, 2) AS mean_distance
FROM rfm_features feat JOIN customer_rfm_scores s USING (customer_id)
GROUP BY 1, 2 HAVING count(*) >= 0.02 * (SELECT count(*) FROM rfm_features) ORDER BY 1, 3 DESC;

\echo '--- crm.segment_batch: the whole table at once (on a GPU when crm.device says so and one is here; crm.gpu_info() says)'
SELECT segment, count(*) AS customers, round(avg(distance)::numeric, 2) AS mean_distance
FROM crm.segment_batch('rfm_segments', 'rfm_features', 'customer_id') GROUP BY 1 ORDER BY 1;
SELECT crm.gpu_info()->'available' AS gpu_available, crm.gpu_info()->>'reason' AS why_not, crm.gpu_info()->'settings' AS settings;
