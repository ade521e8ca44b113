\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- Raw contact data as it arrived, and cleaned (crm.clean_name / clean_email / clean_phone / parse_date)'
SELECT customer_id AS id, country, full_name AS raw_name, crm.clean_name(full_name) AS name,
       email AS raw_email, crm.clean_email(email) AS email,
       phone AS raw_phone, crm.clean_phone(phone, country) AS phone,
       signup_date AS raw_signup, crm.parse_date(signup_date, CASE country WHEN 'US' THEN 'MDY' ELSE 'DMY' END) AS signup
FROM customers WHERE customer_id % 997 = 1 ORDER BY customer_id LIMIT 10;

DROP TABLE IF EXISTS customers_clean;
CREATE TABLE customers_clean AS
SELECT customer_id, country, duplicate_of,
       crm.clean_name(full_name) AS name,
       crm.clean_email(email) AS email,
       crm.clean_phone(phone, country) AS phone,
       crm.parse_date(signup_date, CASE country WHEN 'US' THEN 'MDY' ELSE 'DMY' END) AS signup_date,
       crm.phonetic_key(split_part(crm.clean_name(full_name), ' ', -1)) AS last_name_key
FROM customers;
ANALYZE customers_clean;

\echo '--- Data quality after cleaning, by country (share of usable values)'
SELECT country, count(*) AS customers,
       round(avg((email IS NOT NULL)::int), 3) AS valid_email,
       round(avg((phone IS NOT NULL)::int), 3) AS valid_phone,
       round(avg((signup_date IS NOT NULL)::int), 3) AS parsed_signup,
       count(DISTINCT last_name_key) AS phonetic_blocks
FROM customers_clean GROUP BY country ORDER BY customers DESC;

\echo '--- International contact data: dates in any script, postcodes, postal addresses (crm.parse_date / clean_postcode / parse_address / address_key)'
SELECT raw, crm.parse_date(raw, 'DMY') AS parsed
FROM (VALUES ('2024年3月5日（火）'), ('令和6年3月5日'), ('2024년 3월 5일'), ('5 de marzo de 2024'),
             ('5. März 2024'), ('5 марта 2024 г.'), ('２０２４－０３－０５'), ('明天'), ('30 février 2024')) AS d(raw);
SELECT country, raw, crm.clean_postcode(raw, country) AS postcode
FROM (VALUES ('GB', 'sw1a1aa'), ('US', '021394307'), ('CA', 'k1a0b1'), ('NL', '1012ab'),
             ('JP', '〒1000001'), ('BR', 'CEP 01310100'), ('IE', 'd02x285'), ('US', '2139')) AS p(country, raw);
SELECT raw, crm.parse_address(raw, country) AS components, crm.address_key(raw, country) AS block_key
FROM (VALUES ('US', '123 N Main St Apt 4B, Springfield, IL 62704'),
             ('US', '123 North Main Street #4, Springfield IL 62704'),
             ('DE', 'Hauptstr. 5, 10115 Berlin'),
             ('AU', '5/12 Smith St, Bondi NSW 2026'),
             (NULL, '北京市朝阳区建国路88号'),
             (NULL, '〒100-0005 東京都千代田区丸の内1-1-1'),
             (NULL, '서울특별시 중구 세종대로 110')) AS a(country, raw);
