\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- Likely duplicate customers: blocked on crm.phonetic_key, scored with crm.similarity'
DROP TABLE IF EXISTS duplicate_candidates;
CREATE TABLE duplicate_candidates AS
SELECT a.customer_id AS id_a, b.customer_id AS id_b, a.name AS name_a, b.name AS name_b,
       round(crm.similarity(lower(a.name), lower(b.name))::numeric, 3) AS name_similarity,
       (a.email = b.email) AS same_email, (a.phone = b.phone) AS same_phone
FROM customers_clean a
JOIN customers_clean b ON a.last_name_key = b.last_name_key AND a.country = b.country AND a.customer_id < b.customer_id
WHERE crm.similarity(lower(a.name), lower(b.name)) >= 0.95
  AND (a.email = b.email OR a.phone = b.phone);
SELECT * FROM duplicate_candidates ORDER BY id_b DESC LIMIT 8;
\echo '--- Checked against the generator''s ground truth (customers.duplicate_of)'
SELECT count(*) AS pairs_found,
       count(*) FILTER (WHERE c.duplicate_of = d.id_a) AS true_pairs,
       round(count(*) FILTER (WHERE c.duplicate_of = d.id_a)::numeric / nullif(count(*), 0), 3) AS precision,
       round(count(*) FILTER (WHERE c.duplicate_of = d.id_a)::numeric / (SELECT count(*) FROM customers WHERE duplicate_of IS NOT NULL), 3) AS recall
FROM duplicate_candidates d JOIN customers c ON c.customer_id = d.id_b;
\echo
\echo '--- The same without writing a rule: crm.dedupe (unsupervised Fellegi-Sunter, EM) over the cleaned columns'
DROP TABLE IF EXISTS customer_clusters;
\timing on
CREATE TABLE customer_clusters AS
SELECT * FROM crm.dedupe('SELECT customer_id, name, email, phone, country, signup_date FROM customers_clean', 'customer_id');
\timing off
SELECT cluster_id, array_agg(id ORDER BY id) AS records, round(max(match_probability)::numeric, 4) AS probability
FROM customer_clusters GROUP BY cluster_id HAVING count(*) > 1 ORDER BY cluster_id DESC LIMIT 5;
\echo '--- Checked against the ground truth: every pair inside a cluster counts as predicted'
WITH predicted AS (
    SELECT a.id::bigint AS id_a, b.id::bigint AS id_b
    FROM customer_clusters a JOIN customer_clusters b ON a.cluster_id = b.cluster_id AND a.id::bigint < b.id::bigint
)
SELECT count(*) AS pairs_found,
       count(*) FILTER (WHERE c.duplicate_of = p.id_a) AS true_pairs,
       round(count(*) FILTER (WHERE c.duplicate_of = p.id_a)::numeric / nullif(count(*), 0), 3) AS precision,
       round(count(*) FILTER (WHERE c.duplicate_of = p.id_a)::numeric / (SELECT count(*) FROM customers WHERE duplicate_of IS NOT NULL), 3) AS recall
FROM predicted p JOIN customers c ON c.customer_id = p.id_b;
\echo
\echo '--- One customer per cluster: crm.golden_records (survivorship rules per column, with lineage)'
DROP TABLE IF EXISTS customers_golden;
CREATE TABLE customers_golden AS
SELECT g.cluster_id, g.records, r.*, g.lineage
FROM crm.golden_records('SELECT customer_id, country, name, email, phone, signup_date FROM customers_clean', 'customer_id',
                        'SELECT id, cluster_id FROM customer_clusters',
                        '{"columns": {"name": "longest", "email": "most_frequent", "phone": "most_frequent", "signup_date": "min"}}') g,
     jsonb_populate_record(NULL::customers_clean, g.record) r;
SELECT count(*) AS golden_customers, (SELECT count(*) FROM customers_clean) AS records, sum(records) AS covered FROM customers_golden;
SELECT customer_id, records, name, email, phone, signup_date, lineage FROM customers_golden WHERE records > 1 ORDER BY customer_id DESC LIMIT 5;
\echo
\echo '--- A stored matcher: stable customer keys at sign-up (crm.train_matcher, crm.match_trigger, crm.match, crm.explain_match)'
DROP TABLE IF EXISTS customers_keyed;
CREATE TABLE customers_keyed AS SELECT customer_id, name, email, phone, country, signup_date, NULL::text AS customer_key FROM customers_clean;
SELECT name, version, metrics->'records' AS records, metrics->'duplicate_records' AS duplicates, metrics->'train_seconds' AS seconds
FROM crm.train_matcher('customers', 'customers_keyed', 'customer_id', '{"exclude": ["customer_key"]}');
UPDATE customers_keyed c SET customer_key = k.cluster_key FROM crm.matcher_keys('customers') k WHERE k.id = c.customer_id::text;
CREATE TRIGGER customer_key BEFORE INSERT OR UPDATE OR DELETE ON customers_keyed
    FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('customers', 'customer_key');
\echo '--- A returning customer signs up again with a new phone: the trigger gives the existing key'
INSERT INTO customers_keyed (customer_id, name, email, phone, country, signup_date)
SELECT 900000001, upper(name), email, '+15550100000', country, current_date FROM customers_keyed WHERE customer_id = 101;
SELECT customer_id, name, email, phone, customer_key FROM customers_keyed WHERE customer_key = (SELECT customer_key FROM customers_keyed WHERE customer_id = 101) ORDER BY customer_id;
\echo '--- Why: per column the comparison level and its weight'
SELECT e.field, e.a, e.b, e.level, round(e.weight::numeric, 2) AS weight
FROM customers_keyed a, customers_keyed b, crm.explain_match('customers', a, b) e WHERE a.customer_id = 101 AND b.customer_id = 900000001;
\echo '--- The candidates for a new record, from the key store''s index'
SELECT * FROM crm.match('customers', (SELECT c FROM customers_keyed c WHERE customer_id = 900000001), 3);
DELETE FROM customers_keyed WHERE customer_id = 900000001;
