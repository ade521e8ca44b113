-- Messy contact strings for the cleaning benchmark: phones in the shapes people and
-- systems write them (mostly US, some international), e-mails with display names,
-- case, wrappers and junk. psql variable: rows.
SET client_min_messages = warning;
SELECT setseed(0.7);
DROP TABLE IF EXISTS bench_contacts;
CREATE TABLE bench_contacts AS
SELECT g AS id, c.country,
  CASE
    WHEN u < 0.04 THEN (ARRAY['n/a','000','555-1234','call me','123'])[1 + g % 5]
    WHEN c.country = 'US' THEN (ARRAY[
         '(' || a || ') ' || b || '-' || d, a || '-' || b || '-' || d, a || '.' || b || '.' || d,
         '+1 ' || a || ' ' || b || ' ' || d, '1-' || a || '-' || b || '-' || d, a || b || d,
         '(' || a || ') ' || b || '-' || d || ' ext. ' || (g % 300)])[1 + (g * 7) % 7]
    WHEN c.country = 'GB' THEN (ARRAY['020 7' || substr(d, 1, 3) || ' ' || b || d, '+44 20 7' || substr(d, 1, 3) || ' ' || b || d,
         '+44 (0)7400 ' || b || substr(d, 1, 3), '07400 ' || b || substr(d, 1, 3)])[1 + g % 4]
    WHEN c.country = 'DE' THEN (ARRAY['030 ' || b || d, '+49 30 ' || b || d, '+49 (0)151 ' || b || d || '1', '0151/' || b || d || '1'])[1 + g % 4]
    ELSE (ARRAY['01 42 ' || substr(d, 1, 2) || ' ' || substr(d, 3, 2) || ' ' || substr(b, 1, 2), '+33 6 ' || b || d, '06' || b || substr(d, 1, 2) || substr(b, 1, 1) || '0'])[1 + g % 3]
  END AS phone,
  CASE WHEN u < 0.40 THEN 'user' || g || '@' || dom
       WHEN u < 0.55 THEN 'First.Last' || g || '@' || upper(dom)
       WHEN u < 0.65 THEN '"First Last" <first' || g || '@' || dom || '>'
       WHEN u < 0.72 THEN 'mailto:last' || g || '@' || dom
       WHEN u < 0.80 THEN '  first' || g || ' @ ' || dom || '. '
       WHEN u < 0.86 THEN 'first' || g || '@' || dom || '; other@work.example.com'
       WHEN u < 0.92 THEN (ARRAY['n/a','none','-','unknown','no email'])[1 + g % 5]
       ELSE 'first' || g || '@' || split_part(dom, '.', 1)
  END AS email
FROM generate_series(1, :rows) g
CROSS JOIN LATERAL (SELECT random() AS u,
  (ARRAY['US','US','US','US','US','US','GB','DE','FR','US'])[1 + floor(random() * 10 + g * 0)::int] AS country,
  (ARRAY['212','415','646','312','617','213','305','206','512','303','404','702'])[1 + floor(random() * 12)::int] AS a,
  (200 + floor(random() * 800))::int::text AS b,
  lpad(floor(random() * 10000)::int::text, 4, '0') AS d,
  (ARRAY['gmail.com','yahoo.com','outlook.com','example.com','mail.de','orange.fr'])[1 + floor(random() * 6)::int] AS dom) c;
DROP TABLE IF EXISTS bench_numbers;
CREATE TABLE bench_numbers AS SELECT (random() * 1000 + 1e6)::float8 AS x FROM generate_series(1, 1000000);
ANALYZE bench_contacts, bench_numbers;
