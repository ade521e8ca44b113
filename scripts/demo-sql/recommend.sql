\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
\echo
\echo '--- crm.train_recommender: orders as implicit feedback; auto evaluates popular, item_knn and ALS'
\echo '    on each customer''s most recent 20% of orders and keeps the best NDCG@10'
SELECT name, version, algorithm, deployed, metrics->'interactions' AS interactions, metrics->'customers' AS customers,
       metrics->'items' AS items, round((metrics->>'training_seconds')::numeric, 2) AS seconds
FROM crm.train_recommender('products', 'SELECT customer_id, product_id, ordered_at FROM orders');
SELECT c->>'candidate' AS candidate, round((c->>'precision_at_10')::numeric, 4) AS precision_at_10,
       round((c->>'recall_at_10')::numeric, 4) AS recall_at_10, round((c->>'ndcg_at_10')::numeric, 4) AS ndcg_at_10,
       round((c->>'hit_rate_at_10')::numeric, 3) AS hit_rate_at_10, round((c->>'coverage')::numeric, 3) AS coverage
FROM crm.models m, jsonb_array_elements(m.metrics->'candidates') c
WHERE m.name = 'products' AND m.version = (SELECT max(version) FROM crm.models WHERE name = 'products');

\echo '--- crm.recommend: the next products for customer 3 (unseen ones), with names'
SELECT r.rank, r.item AS product_id, p.name, p.category, round(r.score::numeric, 4) AS score
FROM crm.recommend('products', '3', 5) r JOIN products p ON p.product_id = r.item::int ORDER BY r.rank;

\echo '--- ... restricted to one category (candidates), and for a customer we have never seen (popular items)'
SELECT r.rank, r.item AS product_id, p.category
FROM crm.recommend('products', '3', 3, candidates => (SELECT array_agg(product_id::text) FROM products WHERE category = 'equipment')) r
JOIN products p ON p.product_id = r.item::int ORDER BY r.rank;
SELECT rank, item AS product_id, score AS customers FROM crm.recommend('products', 'new-visitor', 3);

\echo '--- crm.similar_items: customers who bought product 42 also bought'
SELECT s.rank, s.item AS product_id, p.name, round(s.score::numeric, 3) AS similarity
FROM crm.similar_items('products', '42', 5) s JOIN products p ON p.product_id = s.item::int ORDER BY s.rank;

\echo '--- crm.recommend_all: 3 products for every customer in one query (timed)'
\timing on
SELECT count(*) AS rows, count(DISTINCT customer) AS customers FROM crm.recommend_all('products', 3);
\timing off
