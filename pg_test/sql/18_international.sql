SET datestyle = 'ISO, YMD';
-- International contact data: the corpora of tests/data (shared with the Rust unit tests)
-- through the SQL functions, per function and language/country. Every row must pass.
CREATE TEMP TABLE dates (lang text, field_order text, input text, expected date, dateparser date);
\copy dates FROM 'tests/data/date_reference.tsv'
SELECT lang, count(*) AS cases,
       count(*) FILTER (WHERE crm.parse_date(input, field_order) IS NOT DISTINCT FROM expected) AS parse_date_right,
       count(*) FILTER (WHERE dateparser IS NOT DISTINCT FROM expected) AS dateparser_right
FROM dates GROUP BY lang ORDER BY lang;
-- Failures (none expected)
SELECT lang, field_order, input, expected, crm.parse_date(input, field_order) AS got
FROM dates WHERE crm.parse_date(input, field_order) IS DISTINCT FROM expected;

CREATE TEMP TABLE postcodes (country text, input text, expected text);
\copy postcodes FROM 'tests/data/postcode_cases.tsv'
SELECT upper(country) AS country, count(*) AS cases,
       count(*) FILTER (WHERE crm.clean_postcode(input, country) IS NOT DISTINCT FROM expected) AS right
FROM postcodes GROUP BY 1 ORDER BY 1;
SELECT country, input, expected, crm.clean_postcode(input, country) AS got
FROM postcodes WHERE crm.clean_postcode(input, country) IS DISTINCT FROM expected;

CREATE TEMP TABLE addresses (country text, input text, expected jsonb);
\copy addresses FROM 'tests/data/address_cases.tsv'
SELECT coalesce(country, 'named in the text') AS country, count(*) AS cases,
       count(*) FILTER (WHERE crm.parse_address(input, country) = expected) AS right
FROM addresses GROUP BY 1 ORDER BY 1;
SELECT country, input, expected, crm.parse_address(input, country) AS got
FROM addresses WHERE crm.parse_address(input, country) IS DISTINCT FROM expected;

-- The forms users meet first.
SELECT crm.parse_date('2024年3月5日') AS zh, crm.parse_date('２０２４－０３－０５') AS full_width,
       crm.parse_date('2024년 3월 5일') AS ko, crm.parse_date('令和6年3月5日') AS era,
       crm.parse_date('5 mars 2024') AS fr, crm.parse_date('5. März 2024') AS de,
       crm.parse_date('5 de marzo de 2024') AS es, crm.parse_date('明天') AS relative,
       crm.parse_date('30 février 2024') AS impossible;
SELECT crm.clean_postcode('sw1a1aa', 'GB') AS gb, crm.clean_postcode('021394307', 'US') AS us,
       crm.clean_postcode('〒1000001', 'JP') AS jp, crm.clean_postcode('01310100', 'BRA') AS br,
       crm.clean_postcode('1012ab', 'nl') AS nl, crm.clean_postcode('2139', 'US') AS lost_zero;
SELECT crm.parse_address('123 N Main St Apt 4B, Springfield, IL 62704') AS us,
       crm.parse_address('Hauptstr. 5, 10115 Berlin', 'DE') AS de,
       crm.parse_address('广东省深圳市南山区科技园路1号') AS cn;
SELECT crm.normalize_address('123 N. Main St., Apt 4, Springfield IL 62704', 'US') AS a,
       crm.normalize_address('123 North Main Street #4, Springfield, IL 62704', 'US') AS b,
       crm.normalize_address('Hauptstr. 5, 10115 Berlin', 'DE') AS de;
SELECT crm.address_key('123 N. Main St., Apt 4, Springfield IL 62704', 'US') AS a,
       crm.address_key('123 North Main Street, Springfield, IL 62704') AS b;
-- NULL in, NULL out; nothing found is NULL; the country may be NULL.
SELECT crm.parse_address(NULL) IS NULL AS null_in, crm.parse_address('   ') IS NULL AS blank,
       crm.parse_address('Springfield, IL', NULL) AS no_country, crm.clean_postcode(NULL, 'US') IS NULL AS strict,
       crm.normalize_address(NULL, 'US') IS NULL AS n, crm.address_key('', 'US') IS NULL AS k;
-- A country that is not an ISO 3166-1 code is an error that names the argument.
\set VERBOSITY default
SELECT crm.clean_postcode('02139', 'XX');
SELECT crm.parse_address('1 Main St', 'Germany');
SELECT crm.address_key('1 Main St', '');
-- Hostile inputs never raise: 10 MB values, control characters, lone marks.
SELECT crm.clean_postcode(repeat('1', 10000000), 'US') AS postcode_10mb,
       crm.parse_address(repeat('12 Main St, ', 800000)) AS address_10mb,
       crm.normalize_address(repeat('号', 3000000)) AS cjk_10mb,
       crm.parse_address(E'\x01\x02 #\u0301, 〒, 市区路号') AS marks;
-- Addresses as a comparison kind in unification: spellings of one address agree.
CREATE TABLE people (id int PRIMARY KEY, name text, address text);
INSERT INTO people VALUES
  (1, 'Ann Lee', '123 N Main St Apt 4, Springfield, IL 62704'),
  (2, 'Ann Lee', '123 North Main Street #4, Springfield IL 62704'),
  (3, 'Bob Stone', '9 Elm Ave, Salem, OR 97301'),
  (4, 'Bob Stone', '9 Elm Avenue, Salem OR 97301'),
  (5, 'Cy Young', '77 Oak Rd, Austin, TX 73301'),
  (6, 'Di Brown', '5 Pine Ct, Boise, ID 83702');
SELECT id, cluster_id FROM crm.dedupe('people', 'id', '{"kinds": {"address": "address"}, "country": "US"}') ORDER BY id;
SELECT * FROM crm.dedupe('people', 'id', '{"kinds": {"address": "postal"}}');
SELECT * FROM crm.dedupe('people', 'id', '{"kinds": {"street": "address"}}');
DROP TABLE people;
-- parse_address's jsonb is built as jsonb's own value tree: it must read back like jsonb
-- parsed from text (key order, escapes, non-ASCII values, containment, jsonb_each).
WITH p AS (SELECT crm.parse_address(raw, country) AS j FROM (VALUES
    (E'12 "Quote\\Back" St Apt 4, Springfield, IL 62704', 'US'),
    ('Hauptstraße 5, 10115 Berlin, Deutschland', NULL),
    ('〒100-0005 東京都千代田区丸の内1-1-1', NULL)) AS t(raw, country))
SELECT j, j::text::jsonb = j AS same_as_text,
       (SELECT jsonb_object_agg(key, value) FROM jsonb_each(j)) = j AS same_by_each,
       j @> jsonb_build_object('house_number', j->>'house_number') AS contains_own_number
FROM p;
