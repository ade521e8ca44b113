SET datestyle = 'ISO, YMD';
-- The messy-input corpus (tests/data/clean_corpus.tsv), shared with the Rust unit tests,
-- run through the SQL functions. Every row must give the expected value.
CREATE TEMP TABLE corpus (fn text, arg text, input text, expected text);
\copy corpus FROM 'tests/data/clean_corpus.tsv'
SELECT count(*) >= 200 AS at_least_200_cases FROM corpus;
SELECT fn, count(*) AS cases FROM corpus GROUP BY fn ORDER BY fn;
CREATE TEMP TABLE results AS
SELECT fn, arg, input, expected,
       CASE fn
         WHEN 'clean_email'  THEN crm.clean_email(input)
         WHEN 'clean_phone'  THEN crm.clean_phone(input, arg)
         WHEN 'clean_name'   THEN crm.clean_name(input)
         WHEN 'clean_text'   THEN crm.clean_text(input)
         WHEN 'parse_date'   THEN crm.parse_date(input, arg)::text
         WHEN 'similarity'   THEN to_char(crm.similarity(split_part(input, '|', 1), split_part(input, '|', 2), arg), 'FM0.000')
         WHEN 'phonetic_key' THEN crm.phonetic_key(input)
       END AS got
FROM corpus;
-- Failures (none expected)
SELECT fn, arg, input, expected, got FROM results WHERE got IS DISTINCT FROM expected;
-- Hostile inputs: 10 MB values, control characters, lone marks. NULL or a value, never an error.
SELECT crm.clean_email(repeat('a@b.co ', 1500000)) AS email_10mb,
       crm.clean_phone(repeat('5', 10000000)) AS phone_10mb,
       length(crm.clean_text(repeat(E'ab \t', 2500000))) AS text_10mb_length,
       length(crm.clean_name(repeat('x', 10000000))) AS name_10mb_length,
       crm.parse_date(repeat('1', 10000000)) AS date_10mb,
       crm.similarity(repeat('a', 10000000), repeat('b', 10000000)) AS similarity_10mb,
       length(crm.phonetic_key(repeat('ab ', 3500000))) > 0 AS phonetic_10mb;
SELECT crm.clean_email(E'\x01\x02@\x03.com') AS e, crm.clean_phone(E'\u0301\u0301') AS p,
       crm.clean_name(E'\u0301') AS n, crm.clean_text(E'\x7f') AS t, crm.parse_date(E'\x01') AS d,
       crm.phonetic_key('🙂') AS k;
