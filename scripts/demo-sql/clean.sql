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
