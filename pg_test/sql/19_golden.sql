-- Golden records: one surviving row per cluster by survivorship rules, with lineage.
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
CREATE TABLE golden_contacts (id int PRIMARY KEY, name text, email text, phone text, city text, spend numeric, source text, updated_at timestamptz);
INSERT INTO golden_contacts VALUES
 (1, 'Ann Lee', 'ann@old.example', NULL, 'Springfield', 120, 'import', '2023-01-05'),
 (2, 'Ann  Lee', 'ann.lee@new.example', '+14155550132', 'springfield', 80, 'shop', '2024-06-01'),
 (3, 'Annie Lee', '', '+14155550199', 'Springfield', NULL, 'crm', '2022-03-10'),
 (4, 'Bob Stone', 'bob@x.example', NULL, 'Salem', 40, 'shop', '2024-01-01'),
 (5, 'Cy Young', NULL, NULL, NULL, NULL, 'import', NULL);
CREATE TABLE golden_clusters AS SELECT * FROM (VALUES ('1', '1'), ('2', '1'), ('3', '1'), ('4', '4')) v(id, cluster_id);
-- Every rule once: the most frequent name and city (case and spacing ignored, the most
-- written spelling), the most recent e-mail (the blank one never survives), the phone of
-- the most trusted source, the highest spend; a record the clusters do not name is its own.
SELECT cluster_id, record, lineage, records FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters',
  '{"recent_by": "updated_at", "trust": {"column": "source", "order": ["crm", "shop", "import"]},
    "columns": {"name": "most_frequent", "city": "most_frequent", "phone": "most_trusted", "spend": "max", "source": "first"}}');
SELECT cluster_id, record->>'name' AS longest_name, record->>'spend' AS min_spend
FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"columns": {"name": "longest", "spend": "min"}}');
-- Written back as the unified customer table, with the source's column types.
CREATE TABLE golden_unified AS
SELECT r.* FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"recent_by": "updated_at"}') g,
     jsonb_populate_record(NULL::golden_contacts, g.record) r;
SELECT * FROM golden_unified ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'golden_unified'::regclass AND attnum > 0 ORDER BY attnum;
-- From crm.dedupe's clusters directly.
CREATE TABLE golden_people (id int PRIMARY KEY, name text, email text, city text);
INSERT INTO golden_people SELECT i, 'Person ' || (i % 50), 'p' || (i % 50) || '@example.org', 'Town ' || (i % 50) FROM generate_series(1, 100) i;
SELECT count(*) AS golden, sum(records) AS records
FROM crm.golden_records('golden_people', 'id', 'SELECT id, cluster_id FROM crm.dedupe(''golden_people'', ''id'')');
-- Values keep their golden_exact form: a numeric beyond a double, text with every JSON escape.
CREATE TABLE golden_exact (id int, amount numeric, note text);
INSERT INTO golden_exact VALUES (1, 1e400, E'tab\t "quoted" \\ back'), (2, 0.1, NULL);
SELECT record->>'amount' = (1e400)::text AS amount_exact, record->>'note' AS note
FROM crm.golden_records('golden_exact', 'id', 'SELECT 1 AS id, 1 AS cluster_id UNION ALL SELECT 2, 1', '{"columns": {"amount": "max"}}');
DROP TABLE golden_exact;
-- Errors name what is wrong.
\set VERBOSITY default
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"columns": {"email": "most_recent"}}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"columns": {"phone": "most_trusted"}}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"columns": {"emale": "first"}}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"columns": {"email": "newest"}}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"trust": {"column": "source", "order": []}}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{"since": "2020"}');
SELECT * FROM crm.golden_records('golden_contacts', 'id', 'golden_contacts');
SELECT * FROM crm.golden_records('golden_contacts', 'key', 'golden_clusters');
SELECT * FROM crm.golden_records('golden_contacts', NULL, 'golden_clusters');
DROP TABLE golden_contacts, golden_clusters, golden_unified, golden_people;
