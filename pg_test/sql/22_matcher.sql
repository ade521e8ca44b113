-- The stored matcher: crm.train_matcher, crm.match, crm.explain_match, crm.matcher_keys,
-- and stable customer keys at insert time (crm.match_trigger, crm.match_log).
SET client_min_messages = warning;

-- 400 people over five surnames of different frequency; every fourth has a second record
-- without a phone, every eighth with a typo in the first name too.
CREATE TABLE mt_people (
    customer_id  int PRIMARY KEY,
    first_name   text,
    last_name    text,
    email        text,
    phone        text,
    birth_date   date,
    customer_key text
);
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date)
SELECT i,
       (ARRAY['anna', 'bernd', 'clara', 'dieter', 'emma', 'felix', 'greta', 'hans', 'ida', 'jonas'])[1 + i % 10],
       (ARRAY['mueller', 'mueller', 'mueller', 'schmidt', 'schmidt', 'wagner', 'zwiebelhuber', 'okafor'])[1 + (i * 7) % 8],
       'p' || i || '@example.org',
       '+4930' || (1000000 + i * 7919 % 9000000),
       date '1950-01-01' + (i * 97) % 18000
FROM generate_series(1, 400) i;
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date)
SELECT 1000 + customer_id, CASE WHEN customer_id % 8 = 0 THEN first_name || 'h' ELSE first_name END, last_name, email, NULL, birth_date
FROM mt_people WHERE customer_id % 4 = 0;

SELECT name, version, algorithm, deployed, (metrics->>'records')::int AS records, (metrics->>'duplicate_records')::int AS duplicates,
       (metrics->>'term_frequencies')::bool AS term_frequencies
FROM crm.train_matcher('mt_people', 'mt_people', 'customer_id', '{"exclude": ["customer_key"]}');
SELECT kind, features FROM crm.models WHERE name = 'mt_people';

-- Keys: every duplicate shares its original's key, and nobody else does.
SELECT count(*) AS records, count(DISTINCT cluster_key) AS keys FROM crm.matcher_keys('mt_people');
SELECT count(*) AS wrong_keys
FROM mt_people p JOIN crm.matcher_keys('mt_people') k ON k.id = p.customer_id::text
JOIN crm.matcher_keys('mt_people') o ON o.id = (CASE WHEN p.customer_id > 1000 THEN p.customer_id - 1000 ELSE p.customer_id END)::text
WHERE k.cluster_key <> o.cluster_key;
UPDATE mt_people p SET customer_key = k.cluster_key FROM crm.matcher_keys('mt_people') k WHERE k.id = p.customer_id::text;

-- One new record against the stored ones: its duplicate first, by far.
SELECT m.id, round(m.match_probability::numeric, 3) > 0.99 AS confident
FROM mt_people p, crm.match('mt_people', ROW(NULL, upper(p.first_name), p.last_name, upper(p.email), NULL, p.birth_date, NULL)::mt_people, 3) m
WHERE p.customer_id = 41;
-- An existing row is not its own candidate.
SELECT count(*) FILTER (WHERE m.id = p.customer_id::text) AS itself, count(*) > 0 AS found
FROM mt_people p, crm.match('mt_people', p) m WHERE p.customer_id = 1004;
SELECT count(*) AS strangers FROM crm.match('mt_people', ROW(NULL, 'Zoe', 'Quist', 'zq@elsewhere.net', '+15550000000', date '2001-02-03', NULL)::mt_people)
WHERE match_probability >= 0.5;

-- Why two records match: level and weight per column, the prior, the total.
SELECT field, a, b, level, round(weight::numeric, 1) > 0 AS for_a_match
FROM mt_people a, mt_people b, crm.explain_match('mt_people', a, b) e
WHERE a.customer_id = 4 AND b.customer_id = 1004 AND field NOT LIKE '(%';
SELECT field, level LIKE 'match: probability%' AS matched FROM mt_people a, mt_people b, crm.explain_match('mt_people', a, b)
WHERE a.customer_id = 4 AND b.customer_id = 1004 AND field = '(total)';
-- Term frequencies: agreeing on a rare surname (1 in 8 records) weighs more than on a
-- common one (3 in 8).
SELECT rare.weight > common.weight + 0.5 AS rare_weighs_more
FROM (SELECT e.weight FROM mt_people a, mt_people b, crm.explain_match('mt_people', a, b) e
      WHERE a.customer_id = 1 AND b.customer_id = 9 AND e.field = 'last_name') rare,
     (SELECT e.weight FROM mt_people a, mt_people b, crm.explain_match('mt_people', a, b) e
      WHERE a.customer_id = 7 AND b.customer_id = 15 AND e.field = 'last_name') common;
SELECT customer_id, last_name FROM mt_people WHERE customer_id IN (1, 9, 7, 15) ORDER BY customer_id;
-- Keys at insert time.
CREATE TRIGGER mt_key BEFORE INSERT OR UPDATE OR DELETE ON mt_people
    FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('mt_people', 'customer_key');
-- A duplicate of person 8 joins its key; a stranger starts its own (its id).
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date)
SELECT 2008, first_name, last_name, email, phone, birth_date FROM mt_people WHERE customer_id = 8;
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date)
VALUES (2999, 'zoe', 'quist', 'zq@elsewhere.net', '+15550000000', '2001-02-03');
SELECT customer_id, customer_key = (SELECT customer_key FROM mt_people WHERE customer_id = 8) AS joined_8, customer_key
FROM mt_people WHERE customer_id IN (2008, 2999) ORDER BY customer_id;
-- Two records arrive that do not match (different birth dates, one with an e-mail
-- address, one with a phone): two keys. A third record with both the e-mail address and the
-- phone links them: the clusters merge, every row takes the surviving key, and the merge is
-- logged.
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date) VALUES
    (3001, 'quentin', 'zwiebelhuber', 'qz@one.example', NULL, '1980-05-05'),
    (3002, 'quentin', 'zwiebelhuber', NULL, '+4930222', '1981-06-06');
SELECT count(DISTINCT customer_key) AS keys_before FROM mt_people WHERE customer_id IN (3001, 3002);
SELECT explain.level FROM mt_people a, mt_people b, crm.explain_match('mt_people', a, b) explain
WHERE a.customer_id = 3001 AND b.customer_id = 3002 AND explain.field = '(total)';
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date) VALUES
    (3003, 'quentin', 'zwiebelhuber', 'qz@one.example', '+4930222', NULL);
SELECT count(DISTINCT customer_key) AS keys_after, count(*) AS records FROM mt_people WHERE customer_id IN (3001, 3002, 3003);
SELECT old_key, surviving_key, record_id, reason, match_probability >= 0.5 AS linked FROM crm.match_log WHERE matcher = 'mt_people' ORDER BY id;
-- The key store agrees with the table, row for row.
SELECT count(*) AS disagreeing FROM mt_people p JOIN crm.matcher_keys('mt_people') k ON k.id = p.customer_id::text WHERE k.cluster_key <> p.customer_key;
-- An update that changes nothing compared keeps the key; a delete leaves the store.
UPDATE mt_people SET customer_key = customer_key WHERE customer_id = 2008;
SELECT customer_key = (SELECT customer_key FROM mt_people WHERE customer_id = 8) AS kept FROM mt_people WHERE customer_id = 2008;
DELETE FROM mt_people WHERE customer_id = 2999;
SELECT count(*) AS forgotten FROM crm.matcher_keys('mt_people') WHERE id = '2999';

-- Retraining keeps every key (no merge needed, none logged); the key store becomes the
-- table's records.
CREATE TEMP TABLE mt_keys_before AS SELECT * FROM crm.matcher_keys('mt_people');
SELECT version, (metrics->>'merged_keys')::int AS merged FROM crm.train_matcher('mt_people', 'mt_people', 'customer_id', '{"exclude": ["customer_key"]}');
SELECT count(*) AS changed_keys FROM mt_keys_before b JOIN crm.matcher_keys('mt_people') a USING (id) WHERE a.cluster_key <> b.cluster_key;
SELECT (SELECT count(*) FROM crm.matcher_keys('mt_people')) = (SELECT count(*) FROM mt_people) AS same_records;

-- Errors name what is wrong.
\set VERBOSITY terse
SELECT * FROM crm.match('no_such_matcher', ROW(1)::record);
SELECT * FROM crm.match('mt_people', (SELECT p FROM mt_people p LIMIT 1), 0);
SELECT * FROM crm.match('mt_people', 42);
SELECT * FROM crm.match('mt_people', ROW(1, 2));
SELECT * FROM crm.train_matcher('mt_people2', 'mt_people', 'no_such_id');
SELECT * FROM crm.train_matcher('mt_people2', 'mt_people', 'customer_id', '{"term_frequencies": "yes"}');
SELECT * FROM crm.match_assign('mt_people', (SELECT p FROM mt_people p LIMIT 1), 'TRUNCATE');
CREATE TABLE mt_other (id int, customer_key text);
CREATE TRIGGER mt_bad BEFORE INSERT ON mt_other FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('mt_people');
INSERT INTO mt_other VALUES (1, NULL);
DROP TABLE mt_other;
-- Privileges: the key store is nobody's to read; match needs SELECT on the source table.
CREATE ROLE mt_analyst;
GRANT crm_user TO mt_analyst;
SET ROLE mt_analyst;
SELECT count(*) FROM crm.matcher_records;
SELECT * FROM crm.matcher_keys('mt_people');
SELECT count(*) >= 0 AS readable FROM crm.match_log;
RESET ROLE;
GRANT SELECT ON mt_people TO mt_analyst;
SET ROLE mt_analyst;
SELECT count(*) > 0 AS matched FROM mt_people p, crm.match('mt_people', p) m WHERE p.customer_id = 4;
SELECT * FROM crm.match_assign('mt_people', ROW(5000, 'eve', 'forger', NULL, NULL, NULL, NULL)::mt_people, 'INSERT');
RESET ROLE;
-- A trainer (not a superuser) trains a matcher on a table it may read.
CREATE ROLE mt_trainer;
GRANT crm_trainer TO mt_trainer;
GRANT SELECT, INSERT ON mt_people TO mt_trainer;
SET ROLE mt_trainer;
SELECT name, version, (metrics->>'records')::int AS records FROM crm.train_matcher('mt_people_t', 'mt_people', 'customer_id', '{"exclude": ["customer_key"]}');
SELECT count(*) AS keys FROM crm.matcher_keys('mt_people_t');
SELECT crm.drop_model('mt_people_t', 1, force => true);
RESET ROLE;
REVOKE ALL ON mt_people FROM mt_trainer;
DROP OWNED BY mt_trainer;
DROP ROLE mt_trainer;
REVOKE ALL ON mt_people FROM mt_analyst;
DROP OWNED BY mt_analyst;
DROP ROLE mt_analyst;
-- Schema changes under the trigger: the backend never crashes, every answer is clean.
-- A new column: inserts go on as before.
ALTER TABLE mt_people ADD COLUMN segment text;
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date, segment)
SELECT 2012, first_name, last_name, email, phone, birth_date, 'gold' FROM mt_people WHERE customer_id = 12;
SELECT customer_key = (SELECT customer_key FROM mt_people WHERE customer_id = 12) AS joined_12 FROM mt_people WHERE customer_id = 2012;
-- A compared column changes type (date to text, written as the ISO dates the key store
-- holds): the trigger reads the new type, and the duplicate still joins.
ALTER TABLE mt_people ALTER COLUMN birth_date TYPE text USING to_char(birth_date, 'YYYY-MM-DD');
INSERT INTO mt_people (customer_id, first_name, last_name, email, phone, birth_date)
SELECT 2016, first_name, last_name, email, phone, birth_date FROM mt_people WHERE customer_id = 16;
SELECT customer_key = (SELECT customer_key FROM mt_people WHERE customer_id = 16) AS joined_16 FROM mt_people WHERE customer_id = 2016;
-- A compared column is dropped.
ALTER TABLE mt_people DROP COLUMN phone;
INSERT INTO mt_people (customer_id, first_name, last_name, email, birth_date)
SELECT 2020, first_name, last_name, email, birth_date FROM mt_people WHERE customer_id = 20;
-- The key column is renamed.
ALTER TABLE mt_people RENAME COLUMN customer_key TO cust_key;
INSERT INTO mt_people (customer_id, first_name, last_name) VALUES (2024, 'ida', 'okafor');
ALTER TABLE mt_people RENAME COLUMN cust_key TO customer_key;
SELECT count(*) AS rows_after_schema_changes FROM mt_people;
\set VERBOSITY default
-- Dropping a matcher's last version drops its key store.
SELECT crm.drop_model('mt_people', 1);
SELECT count(*) AS records_kept FROM crm.matcher_keys('mt_people');
SELECT crm.drop_model('mt_people', 2, force => true);
SET ROLE postgres;
SELECT count(*) AS key_store_left FROM crm.matcher_records WHERE matcher = 'mt_people';
RESET ROLE;
DROP TABLE mt_people;
