SET datestyle = 'ISO, YMD';
-- The cleaning functions as a user calls them (these are the README's examples).
SELECT crm.clean_email('"Ann Lee" <Ann.Lee@Example.COM>') AS email,
       crm.clean_email('mailto:sales@bücher.de?subject=hi') AS idn,
       crm.clean_email('not an address') AS invalid;
SELECT crm.clean_phone('(415) 555-0132') AS us,
       crm.clean_phone('020 7946 0958', 'GB') AS gb,
       crm.clean_phone('+49 (0)30 901820 ext. 7') AS de,
       crm.clean_phone('555-0132') AS too_short;
SELECT crm.clean_name('MCDONALD, RONALD') AS a, crm.clean_name('ludwig VAN beethoven') AS b,
       crm.clean_name('mary-jane o''neil') AS c, crm.clean_name('Dr. jane DOE 3rd') AS d;
SELECT crm.clean_text(E'  Hello\t\u00a0 world\u200b  ') AS t, crm.clean_text('   ') AS empty;
SELECT crm.parse_date('2021-03-04T10:22:00Z') AS iso, crm.parse_date('04/03/2021', 'DMY') AS dmy,
       crm.parse_date('04/03/2021', 'MDY') AS mdy, crm.parse_date('Mar 4, 2021') AS named,
       crm.parse_date('04/03/2021') AS ambiguous, crm.parse_date('2021-02-30') AS impossible;
-- international: full-width, CJK (Chinese numerals, Japanese eras, Korean), month names in
-- eight languages; never a guess on impossible dates, missing years or relative words
SELECT raw, crm.parse_date(raw) AS parsed FROM unnest(ARRAY[
    '２０２４－０３－０５', '2024年3月5日', '二〇二四年三月五日', '2024년 3월 5일', '令和6年3月5日', '平成31年4月30日', '令和1年4月30日',
    '5 mars 2024', '5. März 2024', '5 de marzo de 2024', '5 de março de 2024', '5 marzo 2024', '5 maart 2024', '5 марта 2024 г.',
    '2024年2月30日', '3月5日', '明天', 'tomorrow']) AS raw;
SELECT round(crm.similarity('Jonathan', 'Jonathon')::numeric, 4) AS jaro_winkler,
       round(crm.similarity('Jonathan', 'Jonathon', 'levenshtein')::numeric, 4) AS levenshtein,
       round(crm.similarity('Jonathan', 'Jonathon', 'jaccard')::numeric, 4) AS jaccard;
SELECT crm.phonetic_key('Jon Smyth') AS a, crm.phonetic_key('John Smith') AS b;
-- NULL in, NULL out (STRICT)
SELECT crm.clean_email(NULL) IS NULL AS e, crm.clean_phone(NULL) IS NULL AS p, crm.similarity(NULL, 'x') IS NULL AS s;
-- Arguments that choose behaviour are checked: SQLSTATE 22023 and a message naming them.
\set VERBOSITY sqlstate
SELECT crm.clean_phone('415 555 0132', 'ZZ');
SELECT crm.parse_date('2021-01-01', 'DYM');
SELECT crm.similarity('a', 'b', 'cosine');
\set VERBOSITY default
SELECT crm.clean_phone('415 555 0132', 'USA');
SELECT crm.parse_date('2021-01-01', 'YDM');
SELECT crm.similarity('a', 'b', 'cosine');
