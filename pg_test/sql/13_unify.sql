-- crm.dedupe and crm.link: unsupervised record matching (Fellegi-Sunter, EM), clusters
-- as connected components of the pairs at or above options.threshold.
SET client_min_messages = warning;
CREATE TABLE contacts AS
SELECT 'c' || i AS contact_id,
       (ARRAY['anna','ben','carla','david','emma','felix','greta','hugo','ida','jonas'])[1 + i % 10] AS first_name,
       (ARRAY['meyer','schmidt','fischer','weber','wagner','becker','hoffmann','koch'])[1 + (i * 7) % 8] AS last_name,
       lpad(((i * 7919) % 100000)::text, 5, '0') AS postcode,
       (date '1950-01-01' + (i * 97) % 15000)::text AS birth_date,
       'user' || i || '@example.com' AS email
FROM generate_series(1, 300) i;
-- every 10th contact entered again with typos, case and punctuation noise, a missing email
INSERT INTO contacts
SELECT contact_id || '-again', initcap(first_name), upper(substr(last_name, 1, 2)) || substr(last_name, 4), postcode, birth_date, NULL
FROM contacts WHERE substr(contact_id, 2)::int % 10 = 0;
CREATE TABLE clusters AS SELECT * FROM crm.dedupe('contacts', 'contact_id');
SELECT count(*) AS records, count(DISTINCT cluster_id) AS clusters, count(match_probability) AS matched FROM clusters;
-- the duplicates and only they are joined
SELECT count(*) FILTER (WHERE split_part(a.id, '-', 1) = split_part(b.id, '-', 1)) AS true_pairs, count(*) AS predicted_pairs
FROM clusters a JOIN clusters b ON a.cluster_id = b.cluster_id AND a.id < b.id;
SELECT id, cluster_id, round(match_probability::numeric, 3) AS match_probability FROM clusters WHERE id IN ('c10', 'c10-again', 'c11') ORDER BY id;
-- a stricter threshold, a blocking rule of one's own, a subset of columns
SELECT count(*) FILTER (WHERE match_probability IS NOT NULL) AS matched
FROM crm.dedupe('SELECT * FROM contacts', 'contact_id', '{"threshold": 0.99, "blocking": [["postcode"], ["last_name", "birth_date"]], "exclude": ["email"]}');
-- linkage: the re-entered contacts against the originals
SELECT count(*) AS links, bool_and(left_id || '-again' = right_id) AS all_right, min(match_probability) >= 0.5 AS above_threshold
FROM crm.link('SELECT * FROM contacts WHERE contact_id NOT LIKE ''%again''', 'SELECT * FROM contacts WHERE contact_id LIKE ''%again''', 'contact_id');
-- errors
\set VERBOSITY sqlstate
SELECT * FROM crm.dedupe('contacts', 'no_such_id');
SELECT * FROM crm.dedupe('no_such_table', 'contact_id');
SELECT * FROM crm.dedupe('contacts', 'contact_id', '{"threshold": 1.5}');
SELECT * FROM crm.dedupe('contacts', 'contact_id', '{"colour": "red"}');
SELECT * FROM crm.dedupe('contacts', 'contact_id', '{"blocking": [["no_such_column"]]}');
SELECT * FROM crm.dedupe('SELECT contact_id FROM contacts', 'contact_id');
SELECT * FROM crm.dedupe(NULL, 'contact_id');
SELECT * FROM crm.link('contacts', 'SELECT 1 AS contact_id', 'contact_id');
\set VERBOSITY default
-- columns that cannot tell people apart (ten names, two countries, no identifier): a
-- shared name and country is not enough evidence, nobody is joined
SELECT count(*) AS records, count(match_probability) AS matched, count(DISTINCT cluster_id) AS clusters
FROM crm.dedupe('SELECT i AS id, (ARRAY[''ann lee'',''bo chan'',''cy diaz'',''di eng'',''ed fox'',''fa gil'',''gu ho'',''hu ito'',''ia jo'',''jo ku''])[1 + i % 10] AS name,
                        (ARRAY[''US'',''GB''])[1 + i % 2] AS country FROM generate_series(1, 3000) i', 'id');
SELECT * FROM crm.dedupe('SELECT * FROM contacts UNION ALL SELECT * FROM contacts', 'contact_id');
SELECT * FROM crm.dedupe('SELECT NULL::text AS contact_id, ''x'' AS name', 'contact_id');
-- an empty source: no rows
SELECT count(*) FROM crm.dedupe('SELECT * FROM contacts WHERE false', 'contact_id');
