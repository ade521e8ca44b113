-- Synthetic CRM data, seeded and repeatable: customers with messy contact data and
SET client_min_messages = warning;
-- duplicates, products, two years of orders and events.
-- psql variables: customers (count), seed (0..1).
\set ON_ERROR_STOP on
SELECT setseed(:seed);

DROP TABLE IF EXISTS events, orders, products, customers CASCADE;

CREATE TEMP TABLE first_names(country text, name text);
INSERT INTO first_names
SELECT 'US', unnest(ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth','David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen','Christopher','Nancy','Daniel','Lisa','Matthew','Betty','Anthony','Margaret','Mark','Sandra','Jose','Maria','Wei','Priya','Mohammed','Aisha'])
UNION ALL SELECT 'GB', unnest(ARRAY['Oliver','Amelia','George','Isla','Harry','Ava','Jack','Mia','Charlie','Emily','Jacob','Grace','Thomas','Sophie','Oscar','Lily','William','Freya','Seamus','Siobhan'])
UNION ALL SELECT 'DE', unnest(ARRAY['Lukas','Anna','Leon','Lena','Finn','Hannah','Jonas','Lea','Paul','Marie','Felix','Sophie','Maximilian','Johanna','Jürgen','Käthe','Günter','Ursula'])
UNION ALL SELECT 'FR', unnest(ARRAY['Gabriel','Louise','Léo','Jade','Raphaël','Emma','Arthur','Alice','Louis','Chloé','Jules','Léa','Hugo','Manon','François','Hélène','Amélie','Benoît'])
UNION ALL SELECT 'IN', unnest(ARRAY['Aarav','Ananya','Vihaan','Diya','Arjun','Saanvi','Reyansh','Aadhya','Krishna','Ishaan','Priya','Rahul','Sunita','Vikram']);

CREATE TEMP TABLE last_names(country text, name text);
INSERT INTO last_names
SELECT 'US', unnest(ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez','Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas','Taylor','Moore','Jackson','Martin','Lee','Thompson','White','Harris','McDonald','O''Brien','Nguyen','Kim','Chen','Patel','DiCaprio','MacArthur'])
UNION ALL SELECT 'GB', unnest(ARRAY['Smith','Jones','Williams','Taylor','Davies','Evans','Thomas','Roberts','Johnson','Walker','Wright','Robinson','O''Connor','McKenzie','Fitzgerald','Hughes','Clarke','Patel'])
UNION ALL SELECT 'DE', unnest(ARRAY['Müller','Schmidt','Schneider','Fischer','Weber','Meyer','Wagner','Becker','Schulz','Hoffmann','Koch','von Weizsäcker','Schäfer','Bauer','Zimmermann','Krüger'])
UNION ALL SELECT 'FR', unnest(ARRAY['Martin','Bernard','Dubois','Thomas','Robert','Richard','Petit','Durand','Leroy','Moreau','Simon','Laurent','de la Fontaine','Lefèvre','Girard','Bonnet'])
UNION ALL SELECT 'IN', unnest(ARRAY['Sharma','Verma','Gupta','Singh','Kumar','Patel','Reddy','Iyer','Nair','Das','Mehta','Joshi']);

CREATE TEMP TABLE fn AS SELECT country, array_agg(name) AS names FROM first_names GROUP BY country;
CREATE TEMP TABLE ln AS SELECT country, array_agg(name) AS names FROM last_names GROUP BY country;

-- A person per row, before any mess.
CREATE TEMP TABLE people AS
SELECT g AS customer_id,
       c.country,
       fn.names[1 + floor(random() * array_length(fn.names, 1))::int] AS first_name,
       ln.names[1 + floor(random() * array_length(ln.names, 1))::int] AS last_name,
       (ARRAY['gmail.com','yahoo.com','outlook.com','hotmail.com','icloud.com','example.com','mail.de','orange.fr','bt.com','rediffmail.com'])[1 + floor(random() * 10)::int] AS domain,
       timestamptz '2024-11-23' - (random() * interval '900 days') AS created_at,
       random() AS u_phone, random() AS u_mail, random() AS u_name, random() AS u_date,
       floor(random() * 10000)::int AS n4,
       -- a latent behaviour class that drives orders: 0 loyal, 1 regular, 2 occasional, 3 one-off
       (ARRAY[0,1,1,2,2,2,3,3,3,3])[1 + floor(random() * 10)::int] AS behaviour
FROM generate_series(1, :customers) g
CROSS JOIN LATERAL (
  SELECT (ARRAY['US','US','US','US','GB','GB','DE','FR','IN','US'])[1 + floor(random() * 10 + g * 0)::int] AS country
) c
JOIN fn ON fn.country = c.country
JOIN ln ON ln.country = c.country;

-- Valid-looking local numbers per country (area codes and ranges that exist).
CREATE TEMP TABLE phone_parts AS
SELECT customer_id, country, u_phone,
  CASE country
    WHEN 'US' THEN (ARRAY['212','415','646','312','617','213','305','206','512','303','404','702'])[1 + (n4 % 12)]
                   || (200 + (n4 * 7) % 800)::text || lpad(((n4 * 13) % 10000)::text, 4, '0')
    WHEN 'GB' THEN CASE WHEN n4 % 2 = 0 THEN '20' || (7 + n4 % 2)::text || lpad(((n4 * 31) % 10000000)::text, 7, '0')
                        ELSE '74' || lpad(((n4 * 97) % 100000000)::text, 8, '0') END
    WHEN 'DE' THEN CASE WHEN n4 % 2 = 0 THEN '30' || lpad(((n4 * 53) % 10000000)::text, 7, '0')
                        ELSE '151' || lpad(((n4 * 71) % 100000000)::text, 8, '0') END
    WHEN 'FR' THEN (ARRAY['1','6','9'])[1 + n4 % 3] || lpad(((n4 * 89) % 100000000)::text, 8, '0')
    WHEN 'IN' THEN (ARRAY['98','97','99'])[1 + n4 % 3] || lpad(((n4 * 101) % 100000000)::text, 8, '0')
  END AS nsn
FROM people;

CREATE TABLE customers AS
SELECT p.customer_id,
       p.country,
       -- names: casing, order and noise vary by source system
       CASE WHEN p.u_name < 0.35 THEN p.first_name || ' ' || p.last_name
            WHEN p.u_name < 0.55 THEN upper(p.last_name) || ', ' || upper(p.first_name)
            WHEN p.u_name < 0.70 THEN lower(p.first_name || ' ' || p.last_name)
            WHEN p.u_name < 0.80 THEN '  ' || upper(p.first_name) || '   ' || upper(p.last_name) || ' '
            WHEN p.u_name < 0.88 THEN (ARRAY['Mr. ','Mrs. ','Dr. ','Ms '])[1 + (p.customer_id % 4)::int] || p.first_name || ' ' || p.last_name
            WHEN p.u_name < 0.95 THEN p.last_name || ', ' || p.first_name
            ELSE p.first_name || ' ' || p.last_name || (p.customer_id % 10)::text
       END AS full_name,
       -- e-mail: display names, case, wrappers, obfuscation, junk
       CASE WHEN p.u_mail < 0.45 THEN lower(translate(p.first_name, ' ''', '')) || '.' || lower(translate(p.last_name, ' ''', '')) || (p.customer_id % 97)::text || '@' || p.domain
            WHEN p.u_mail < 0.60 THEN translate(p.first_name, ' ''', '') || '.' || translate(p.last_name, ' ''', '') || (p.customer_id % 97)::text || '@' || upper(p.domain)
            WHEN p.u_mail < 0.70 THEN '"' || p.first_name || ' ' || p.last_name || '" <' || lower(translate(p.first_name, ' ''', '')) || (p.customer_id % 97)::text || '@' || p.domain || '>'
            WHEN p.u_mail < 0.76 THEN 'mailto:' || lower(translate(p.last_name, ' ''', '')) || (p.customer_id % 97)::text || '@' || p.domain
            WHEN p.u_mail < 0.82 THEN '  ' || lower(translate(p.first_name, ' ''', '')) || (p.customer_id % 97)::text || ' @ ' || p.domain || '. '
            WHEN p.u_mail < 0.86 THEN lower(translate(p.first_name, ' ''', '')) || (p.customer_id % 97)::text || ' [at] ' || replace(p.domain, '.', ' [dot] ')
            WHEN p.u_mail < 0.92 THEN lower(translate(p.first_name, ' ''', '')) || (p.customer_id % 97)::text || '@' || p.domain || '; ' || lower(translate(p.last_name, ' ''', '')) || '@work.example.com'
            WHEN p.u_mail < 0.95 THEN (ARRAY['n/a','none','-','unknown','no email'])[1 + (p.customer_id % 5)::int]
            WHEN p.u_mail < 0.98 THEN lower(translate(p.first_name, ' ''', '')) || '@' || split_part(p.domain, '.', 1)
            ELSE NULL
       END AS email,
       -- phone: national and international writing, extensions, junk
       CASE
         WHEN pp.u_phone > 0.96 THEN (ARRAY['n/a','000','555-1234','call me','123'])[1 + (p.customer_id % 5)::int]
         WHEN p.country = 'US' THEN (ARRAY[
              '(' || substr(pp.nsn, 1, 3) || ') ' || substr(pp.nsn, 4, 3) || '-' || substr(pp.nsn, 7),
              substr(pp.nsn, 1, 3) || '-' || substr(pp.nsn, 4, 3) || '-' || substr(pp.nsn, 7),
              substr(pp.nsn, 1, 3) || '.' || substr(pp.nsn, 4, 3) || '.' || substr(pp.nsn, 7),
              '+1 ' || substr(pp.nsn, 1, 3) || ' ' || substr(pp.nsn, 4, 3) || ' ' || substr(pp.nsn, 7),
              '1-' || substr(pp.nsn, 1, 3) || '-' || substr(pp.nsn, 4, 3) || '-' || substr(pp.nsn, 7),
              pp.nsn,
              '(' || substr(pp.nsn, 1, 3) || ') ' || substr(pp.nsn, 4, 3) || '-' || substr(pp.nsn, 7) || ' ext. ' || (p.customer_id % 300)::text])[1 + floor(pp.u_phone * 7.3)::int % 7]
         WHEN p.country = 'GB' THEN (ARRAY['0' || substr(pp.nsn, 1, 2) || ' ' || substr(pp.nsn, 3, 4) || ' ' || substr(pp.nsn, 7),
              '+44 ' || pp.nsn, '+44 (0)' || substr(pp.nsn, 1, 2) || ' ' || substr(pp.nsn, 3), '0044 ' || pp.nsn])[1 + floor(pp.u_phone * 4.2)::int % 4]
         WHEN p.country = 'DE' THEN (ARRAY['0' || pp.nsn, '+49 ' || substr(pp.nsn, 1, 3) || ' ' || substr(pp.nsn, 4), '+49 (0)' || pp.nsn, '0' || substr(pp.nsn, 1, 3) || '/' || substr(pp.nsn, 4)])[1 + floor(pp.u_phone * 4.2)::int % 4]
         WHEN p.country = 'FR' THEN (ARRAY['0' || substr(pp.nsn, 1, 1) || ' ' || substr(pp.nsn, 2, 2) || ' ' || substr(pp.nsn, 4, 2) || ' ' || substr(pp.nsn, 6, 2) || ' ' || substr(pp.nsn, 8, 2),
              '+33 ' || pp.nsn, '0' || pp.nsn])[1 + floor(pp.u_phone * 3.1)::int % 3]
         ELSE (ARRAY[substr(pp.nsn, 1, 5) || ' ' || substr(pp.nsn, 6), '+91 ' || pp.nsn, '0' || pp.nsn])[1 + floor(pp.u_phone * 3.1)::int % 3]
       END AS phone,
       -- sign-up date as each source system wrote it
       CASE WHEN p.u_date < 0.30 THEN to_char(p.created_at, 'YYYY-MM-DD')
            WHEN p.u_date < 0.45 THEN to_char(p.created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            WHEN p.u_date < 0.65 AND p.country = 'US' THEN to_char(p.created_at, 'MM/DD/YYYY')
            WHEN p.u_date < 0.65 THEN to_char(p.created_at, 'DD/MM/YYYY')
            WHEN p.u_date < 0.75 THEN to_char(p.created_at, 'Mon DD, YYYY')
            WHEN p.u_date < 0.85 THEN to_char(p.created_at, 'DD Month YYYY')
            WHEN p.u_date < 0.92 THEN to_char(p.created_at, 'YYYYMMDD')
            WHEN p.u_date < 0.97 THEN to_char(p.created_at, 'DD-MON-YY')
            ELSE (ARRAY['unknown','','00/00/0000','tbd'])[1 + (p.customer_id % 4)::int]
       END AS signup_date,
       p.created_at,
       p.behaviour,
       NULL::bigint AS duplicate_of
FROM people p JOIN phone_parts pp USING (customer_id);

-- About 5% of customers entered a second time by another system: same person, written differently.
INSERT INTO customers
SELECT :customers + row_number() OVER (ORDER BY customer_id), country,
       CASE WHEN random() < 0.5 THEN upper(full_name) ELSE lower(full_name) END,
       CASE WHEN random() < 0.7 THEN upper(trim(email)) ELSE NULL END,
       CASE WHEN random() < 0.6 THEN regexp_replace(phone, '[^0-9+]', '', 'g') ELSE phone END,
       signup_date, created_at + interval '3 days', behaviour, customer_id
FROM customers WHERE random() < 0.05;
ALTER TABLE customers ADD PRIMARY KEY (customer_id);

CREATE TABLE products AS
SELECT g AS product_id,
       (ARRAY['Coffee','Tea','Mug','Grinder','Kettle','Filter','Beans','Syrup','Cup','Scale'])[1 + (g % 10)] || ' ' || (ARRAY['Classic','Deluxe','Mini','Pro','Organic','Travel'])[1 + (g % 6)] || ' #' || g AS name,
       (ARRAY['drinks','drinks','kitchen','equipment','equipment','accessories','drinks','drinks','kitchen','equipment'])[1 + (g % 10)] AS category,
       round((3 + exp(random() * 4))::numeric, 2)::float8 AS price
FROM generate_series(1, 500) g;
ALTER TABLE products ADD PRIMARY KEY (product_id);

-- Orders over two years: frequency and spend follow the latent behaviour; loyal customers
-- keep buying, one-off customers stop.
CREATE TABLE orders AS
SELECT row_number() OVER () AS order_id, c.customer_id,
       o.ordered_at,
       -- Tastes: 70 % of a customer's orders come from one block of 50 related products.
       CASE WHEN random() < 0.7 THEN 1 + ((c.customer_id * 37) % 10) * 50 + floor(random() * 50)::int
            ELSE 1 + floor(random() * 500)::int END AS product_id,
       1 + floor(random() * 3)::int AS quantity,
       round((exp(3.2 + 0.25 * (3 - c.behaviour) + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::numeric, 2)::float8 AS amount
FROM customers c
CROSS JOIN LATERAL (
  SELECT c.created_at + (random() * (timestamptz '2026-11-23' - c.created_at)) * (CASE c.behaviour WHEN 3 THEN 0.2 WHEN 2 THEN 0.6 ELSE 1 END) AS ordered_at
  FROM generate_series(1, (ARRAY[24, 10, 4, 1])[c.behaviour + 1] + floor(random() * 3)::int) k
) o
WHERE c.duplicate_of IS NULL;
ALTER TABLE orders ADD PRIMARY KEY (order_id);
CREATE INDEX ON orders (customer_id);

CREATE TABLE events AS
SELECT row_number() OVER () AS event_id, c.customer_id,
       (ARRAY['page_view','page_view','page_view','email_open','email_click','support_ticket','cart_abandoned'])[1 + floor(random() * 7)::int] AS event_type,
       timestamptz '2026-11-23' - random() * interval '730 days' AS occurred_at
FROM customers c, generate_series(1, 1 + (3 - c.behaviour) * 2) k
WHERE c.duplicate_of IS NULL;

ANALYZE customers, products, orders, events;
SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM customers WHERE duplicate_of IS NOT NULL) AS duplicates,
       (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM events) AS events;
