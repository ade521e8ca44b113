-- Feedback text analytics: train_text_classifier, classify_text, classify_text_scores,
-- explain_text, text_terms, key_terms, sentiment, the label trigger; Chinese complaints
-- (no spaces); bad input.
SET client_min_messages = warning;
-- Support tickets about three topics, in English and Chinese, written from templates:
-- each ticket combines an opening, a topic phrase and a closing, so the words that tell
-- the topic are in the middle of words shared by every topic.
CREATE TABLE tx_tickets AS
WITH topics(topic, phrases) AS (VALUES
  ('billing', ARRAY['I was charged twice for my subscription', 'the invoice amount is wrong', 'please refund the double payment',
                    'my credit card was billed after I cancelled', 'the price on the bill is higher than the offer',
                    '我的账单金额不对', '信用卡被重复扣款了', '请退还多收的费用']),
  ('delivery', ARRAY['my parcel has not arrived yet', 'the courier left the package at the wrong address', 'the delivery is two weeks late',
                     'tracking shows the box was lost in transit', 'the order arrived damaged and late',
                     '快递还没有送到', '包裹送错了地址', '物流太慢了一直没收到']),
  ('login', ARRAY['I cannot log in to my account', 'the password reset email never comes', 'the app says my login is locked',
                  'two factor code is rejected every time', 'I am signed out and cannot sign in again',
                  '我无法登录账户', '密码重置邮件收不到', '登录时验证码一直错误'])),
openings(o) AS (VALUES ('Hello,'), ('Hi team,'), ('Urgent:'), ('Dear support,'), ('你好，'), ('')),
closings(c) AS (VALUES ('Thanks.'), ('Please help!'), ('This is frustrating.'), ('谢谢'), (''))
SELECT row_number() OVER (ORDER BY t.topic, p.i, o.o, c.c) AS id, concat_ws(' ', o.o, p.phrase, c.c) AS body, t.topic
FROM topics t CROSS JOIN LATERAL unnest(t.phrases) WITH ORDINALITY AS p(phrase, i) CROSS JOIN openings o CROSS JOIN closings c;
INSERT INTO tx_tickets VALUES (10001, NULL, 'billing'), (10002, '   ', 'login'), (10003, 'no label here', NULL);
SELECT topic, count(*) FROM tx_tickets GROUP BY topic ORDER BY topic;

-- Training: holdout metrics, skipped rows counted, deployed
SELECT name, version, algorithm, deployed,
       (metrics->>'accuracy')::float8 >= 0.9 AS accurate, (metrics->>'macro_f1')::float8 >= 0.9 AS macro_f1_ok,
       metrics->'labels' AS labels, metrics->>'skipped_without_text' AS no_text, metrics->>'skipped_without_label' AS no_label,
       (metrics->>'training_rows')::int AS training_rows, jsonb_array_length(metrics->'confusion') AS confusion_rows
FROM crm.train_text_classifier('tx_topics', 'tx_tickets', 'body', 'topic');
SELECT kind, target, features FROM crm.models WHERE name = 'tx_topics';

-- Classifying new texts, in both languages, and phrasing not seen in training
SELECT body, crm.classify_text('tx_topics', body) AS topic FROM (VALUES
  ('I was billed twice this month, refund please'),
  ('where is my package? the courier never came'),
  ('password reset does not work, cannot log in'),
  ('信用卡扣款两次，请退款'),
  ('我的快递包裹一直没到'),
  ('账户登录不了，密码错误')) AS t(body);
SELECT crm.classify_text('tx_topics', NULL) IS NULL AS null_text, crm.classify_text('tx_topics', '  ') IS NULL AS blank_text;
-- Probabilities: one row per label, most probable first, summing to 1
SELECT count(*) AS labels, abs(sum(probability) - 1) < 1e-9 AS sums_to_one,
       (array_agg(label ORDER BY probability DESC))[1] AS top
FROM crm.classify_text_scores('tx_topics', 'the invoice is wrong and I want a refund');
-- Explanations: the terms behind the label, the strongest first
SELECT label, bool_or(term IN ('refund', 'invoice', 'invoice is')) AS names_billing_words, count(*) <= 3 AS at_most_top,
       bool_and(contribution IS NOT NULL) AS numbers
FROM crm.explain_text('tx_topics', 'the invoice is wrong and I want a refund', 3) GROUP BY label;
-- Most indicative terms per label
SELECT label, count(*) AS terms, bool_and(weight > 0) AS positive FROM crm.text_terms('tx_topics', 5) GROUP BY label ORDER BY label;

-- The label trigger keeps a column fresh; a renamed column is an error, never a NULL
CREATE TABLE tx_inbox (id int, body text, topic text);
CREATE TRIGGER tx_inbox_topic BEFORE INSERT OR UPDATE ON tx_inbox
  FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger('tx_topics', 'body', 'topic');
INSERT INTO tx_inbox VALUES (1, 'the courier lost my parcel', NULL), (2, 'refund my double payment', 'wrong'), (3, NULL, 'kept?');
SELECT * FROM tx_inbox ORDER BY id;
UPDATE tx_inbox SET body = 'cannot sign in to my account' WHERE id = 1;
SELECT * FROM tx_inbox ORDER BY id;
ALTER TABLE tx_inbox RENAME COLUMN body TO message;
INSERT INTO tx_inbox VALUES (4, 'package late', NULL);
DROP TABLE tx_inbox;

-- Key terms per group against the rest: each group's top terms occur in no other group's
-- tickets (in this data every topic phrase is equally frequent: no shared word may rank)
SELECT k.grp, count(*) AS terms, bool_and(k.score > 2) AS distinctive,
       bool_and(NOT EXISTS (SELECT 1 FROM tx_tickets t WHERE t.topic <> k.grp AND strpos(lower(t.body), k.term) > 0)) AS only_in_group
FROM crm.key_terms('tx_tickets', 'body', 'topic', '{"top": 5}') k GROUP BY k.grp ORDER BY k.grp;
SELECT count(DISTINCT grp) AS groups, max(n) <= 2 AS top_respected
FROM (SELECT grp, count(*) OVER (PARTITION BY grp) AS n FROM crm.key_terms('tx_tickets', 'body', 'topic', '{"top": 2}')) k;

-- Sentiment without a model
SELECT crm.sentiment('The crew was wonderful and the flight was great!') > 0.5 AS positive,
       crm.sentiment('Worst airline ever, they lost my bag and nobody helped') < -0.3 AS negative,
       crm.sentiment('The flight leaves at 9') = 0 AS neutral,
       crm.sentiment('not good') < 0 AS negation, crm.sentiment('') = 0 AS empty,
       crm.sentiment(NULL) IS NULL AS null_in;
SELECT bool_and(crm.sentiment(s) BETWEEN -1 AND 1) AS bounded
FROM (VALUES (repeat('great! ', 5000)), (repeat('terrible ', 5000)), (E'\x01\x02 😀😡'), ('ＧＯＯＤ')) AS t(s);

-- Bad input: named arguments, SQLSTATEs
\set VERBOSITY terse
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"ngrams": 2}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"test_fraction": 2}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'id', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"char_ngrams": [5, 2]}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"C": -1}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"min_df": 1000}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'nope', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'SELECT body, ''one'' AS topic FROM tx_tickets', 'body', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_missing', 'body', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', NULL, 'topic');
SELECT crm.classify_text('tx_nope', 'hello');
SELECT * FROM crm.explain_text('tx_topics', 'hello', 0);
SELECT * FROM crm.key_terms('tx_tickets', 'body', 'topic', '{"top": 0}');
SELECT * FROM crm.key_terms('tx_tickets', 'body', 'nope');
-- their SQLSTATEs: 22023, 42804, 42703, 42P01, 42704
\set VERBOSITY sqlstate
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'body', 'topic', '{"ngrams": 2}');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'id', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_tickets', 'nope', 'topic');
SELECT * FROM crm.train_text_classifier('tx_bad', 'tx_missing', 'body', 'topic');
SELECT crm.classify_text('tx_nope', 'hello');
-- a model of another kind is not a text classifier
SELECT name FROM crm.train_regressor('tx_cl', 'SELECT id::float8 AS x, (id % 7)::float8 AS y FROM tx_tickets WHERE id < 100', 'y');
\set VERBOSITY terse
SELECT crm.classify_text('tx_cl', 'hello');
\set VERBOSITY default
DROP TABLE tx_tickets;

-- The scores and explanations keep the deployed model for one statement only: a deploy
-- between two statements (here inside one function) is seen by the next.
CREATE TEMP TABLE memo_yes_no AS SELECT t, CASE l WHEN 'pos' THEN 'yes' ELSE 'no' END AS l
FROM (VALUES ('good great love it', 'pos'), ('awful bad hate it', 'neg'), ('great good', 'pos'), ('bad awful', 'neg')) v(t, l);
CREATE TEMP TABLE memo_pos_neg AS SELECT t, CASE l WHEN 'yes' THEN 'pos' ELSE 'neg' END AS l FROM memo_yes_no;
SELECT version FROM crm.train_text_classifier('memo_text', 'memo_pos_neg', 't', 'l', '{"test_fraction": 0, "min_df": 1}');
SELECT version FROM crm.train_text_classifier('memo_text', 'memo_yes_no', 't', 'l', '{"test_fraction": 0, "min_df": 1}');
CREATE FUNCTION pg_temp.labels_across_deploys() RETURNS text LANGUAGE plpgsql AS $$
DECLARE first_label text; second_label text; explained text;
BEGIN
    PERFORM crm.deploy('memo_text', 1);
    SELECT label INTO first_label FROM crm.classify_text_scores('memo_text', 'good') LIMIT 1;
    PERFORM crm.deploy('memo_text', 2);
    SELECT label INTO second_label FROM crm.classify_text_scores('memo_text', 'good') LIMIT 1;
    SELECT label INTO explained FROM crm.explain_text('memo_text', 'good') LIMIT 1;
    RETURN format('version 1: %s, version 2: %s, explained as %s', first_label, second_label, explained);
END $$;
SELECT pg_temp.labels_across_deploys();
DELETE FROM crm.deployments WHERE name = 'memo_text';
DELETE FROM crm.models WHERE name = 'memo_text';
