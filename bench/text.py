#!/usr/bin/env python3
"""Customer feedback text: crm.train_text_classifier / crm.classify_text beside scikit-learn
(TF-IDF + LogisticRegression, plain and balanced) and VADER, and crm.sentiment beside
VADER, on the airline tweets with the text protocol of ../shared/datasets/README.md,
measured in one run.

Protocol: drop rows without text or label, number the rest 1..N in file order; test = row
number divisible by 5, train = the rest. Sentiment: 3 classes, all rows. Complaint reason:
10 classes, the negative tweets renumbered. Metrics: accuracy and macro-F1 (scikit-learn's
f1_score(average='macro')) on the test rows.

pg_crm trains on the train rows with its defaults (its own holdout is for the stored
metrics; the deployed model is refitted on every train row, as the peers are) and labels
the test rows with crm.classify_text in one SELECT. Seconds: wall clock of the whole
train_text_classifier call (reading the table, holdout fit, refit, storing) against the
peers' fit on data already in memory; labelling: the SELECT over the test rows against the
peers' transform + predict. Medians of 3 runs.

Run through ./scripts/bench --only text (it starts the cluster and the venv).
"""
import csv
import io
import os
import statistics
import sys
import time

import psycopg
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

DSN = os.environ["PG_CRM_BENCH_DSN"]
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
RUNS = int(os.environ.get("PG_CRM_BENCH_RUNS", "3"))
MILLION = int(os.environ.get("PG_CRM_BENCH_TEXTS", "1000000"))


def timed(fn):
    times, result = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def load():
    path = os.path.join(DATASETS, "airline_tweets.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["text"] and r["airline_sentiment"]]
    return rows


def split(rows, label):
    kept = [(r["text"], r[label]) for r in rows if r[label]]
    numbered = list(enumerate(kept, start=1))
    train = [(t, y) for i, (t, y) in numbered if i % 5 != 0]
    test = [(t, y) for i, (t, y) in numbered if i % 5 == 0]
    return train, test


def scores(y, p):
    return accuracy_score(y, p), f1_score(y, p, average="macro")


def peer(train, test, balanced, keep=None):
    def fit():
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        x = vec.fit_transform([t for t, _ in train])
        clf = LogisticRegression(max_iter=2000, class_weight="balanced" if balanced else None)
        clf.fit(x, [y for _, y in train])
        return vec, clf

    (vec, clf), fit_s = timed(fit)
    if keep is not None:
        keep.extend([vec, clf])
    pred, predict_s = timed(lambda: clf.predict(vec.transform([t for t, _ in test])))
    return scores([y for _, y in test], pred), fit_s, predict_s


def ours(conn, task, train, test, options="{}"):
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS bench_text_{task}")
        cur.execute(f"CREATE TABLE bench_text_{task} (row_no int, body text, label text, is_test bool)")
        buf = io.StringIO()
        w = csv.writer(buf)
        for i, (t, y) in enumerate(train + test):
            w.writerow([i, t, y, i >= len(train)])
        with cur.copy(f"COPY bench_text_{task} FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        cur.execute(f"ANALYZE bench_text_{task}")
        cur.execute("DELETE FROM crm.models WHERE name = %s", (f"bench_text_{task}",))

        def train_once():
            cur.execute(
                "SELECT metrics FROM crm.train_text_classifier(%s, %s, 'body', 'label', %s)",
                (f"bench_text_{task}", f"SELECT body, label FROM bench_text_{task} WHERE NOT is_test", options),
            )
            return cur.fetchone()[0]

        stored, train_s = timed(train_once)

        def label_once():
            cur.execute(f"SELECT label, crm.classify_text(%s, body) FROM bench_text_{task} WHERE is_test ORDER BY row_no", (f"bench_text_{task}",))
            return cur.fetchall()

        rows, label_s = timed(label_once)
    return scores([r[0] for r in rows], [r[1] for r in rows]), train_s, label_s, stored


def main():
    rows = load()
    analyzer = SentimentIntensityAnalyzer()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        peer_model = []
        for task, label, peer_f1 in [("sentiment", "airline_sentiment", 0.765), ("reason", "negativereason", 0.540)]:
            train, test = split(rows, label)
            print(f"\n{task}: {len(train):,} train / {len(test):,} test, {len({y for _, y in train})} classes")
            print(f"{'':44} {'accuracy':>9} {'macro-F1':>9} {'train s':>9} {'label s':>9}")
            (acc, f1), train_s, label_s, stored = ours(conn, task, train, test)
            print(f"{'pg_crm train_text_classifier (defaults)':44} {acc:9.3f} {f1:9.3f} {train_s:9.2f} {label_s:9.3f}")
            # One fit, as the peers do (the defaults fit twice: holdout metrics, then refit).
            (acc1, f11), train1_s, label1_s, _ = ours(conn, task + "_one_fit", train, test, '{"test_fraction": 0}')
            print(f"{'pg_crm, test_fraction 0 (one fit)':44} {acc1:9.3f} {f11:9.3f} {train1_s:9.2f} {label1_s:9.3f}")
            results = {"pg_crm": f1}
            for balanced in [False, True]:
                (pacc, pf1), fit_s, predict_s = peer(train, test, balanced, peer_model if balanced else None)
                name = f"sklearn TF-IDF + LogisticRegression{' balanced' if balanced else ''}"
                results[name] = pf1
                print(f"{name:44} {pacc:9.3f} {pf1:9.3f} {fit_s:9.2f} {predict_s:9.3f}")
            if task == "sentiment":
                def vader_label(t):
                    c = analyzer.polarity_scores(t)["compound"]
                    return "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"

                vpred, vader_s = timed(lambda: [vader_label(t) for t, _ in test])
                vacc, vf1 = scores([y for _, y in test], vpred)
                print(f"{'VADER compound (±0.05)':44} {vacc:9.3f} {vf1:9.3f} {'':>9} {vader_s:9.3f}")
                with conn.cursor() as cur:
                    cur.execute(
                        """SELECT label, s FROM (SELECT label, row_no, crm.sentiment(body) AS s FROM bench_text_sentiment WHERE is_test) t ORDER BY row_no"""
                    )
                    got = cur.fetchall()
                    _, sent_s = timed(lambda: cur.execute("SELECT count(crm.sentiment(body)) FROM bench_text_sentiment WHERE is_test"))
                spred = ["positive" if s >= 0.05 else "negative" if s <= -0.05 else "neutral" for _, s in got]
                sacc, sf1 = scores([y for y, _ in got], spred)
                print(f"{'pg_crm crm.sentiment (no training, ±0.05)':44} {sacc:9.3f} {sf1:9.3f} {'':>9} {sent_s:9.3f}")
                agree = sum((s >= 0.05) == (analyzer.polarity_scores(t)["compound"] >= 0.05) and (s <= -0.05) == (analyzer.polarity_scores(t)["compound"] <= -0.05) for (t, _), (_, s) in zip(test, got))
                print(f"crm.sentiment agrees with VADER's class on {agree / len(test):.3f} of the test tweets")
                print(f"a trained classifier's macro-F1 over the untrained crm.sentiment: {f1 - sf1:+.3f}")
            best = max(v for k, v in results.items() if k != "pg_crm")
            print(f"pg_crm macro-F1 {f1:.3f} vs best peer {best:.3f} ({f1 - best:+.3f}); target >= {peer_f1}: {'ok' if f1 >= peer_f1 else 'BELOW'}")
            print(f"stored holdout metrics: accuracy {stored.get('accuracy', float('nan')):.3f}, macro-F1 {stored.get('macro_f1', float('nan')):.3f}")
            if task == "sentiment":
                million(conn, rows, peer_model)
            peer_model.clear()
    return 0


def million(conn, rows, peer_model):
    """Labelling MILLION short texts (the tweets repeated): crm.classify_text in one SELECT,
    serial and with 2 parallel workers, against the balanced scikit-learn model's transform +
    predict on the same texts in memory, and against the Python round trip a service would
    make (read the texts from Postgres, predict, write the labels back with COPY)."""
    vec, clf = peer_model
    texts = [r["text"] for r in rows]
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_text_million")
        cur.execute(
            "CREATE TABLE bench_text_million AS SELECT g AS id, (%s::text[])[1 + g %% %s] AS body FROM generate_series(0, %s - 1) g",
            (texts, len(texts), MILLION),
        )
        cur.execute("VACUUM ANALYZE bench_text_million")
        cur.execute("SET max_parallel_workers_per_gather = 0")
        _, serial_s = timed(lambda: cur.execute("SELECT count(crm.classify_text('bench_text_sentiment', body)) FROM bench_text_million"))
        cur.execute("SET max_parallel_workers_per_gather = 2")
        cur.execute("SET parallel_setup_cost = 0")
        cur.execute("SET min_parallel_table_scan_size = 0")
        _, parallel_s = timed(lambda: cur.execute("SELECT count(crm.classify_text('bench_text_sentiment', body)) FROM bench_text_million"))
        cur.execute("SET max_parallel_workers_per_gather = 0")
        cur.execute("SELECT body FROM bench_text_million ORDER BY id")
        in_memory = [r[0] for r in cur.fetchall()]
    _, memory_s = timed(lambda: clf.predict(vec.transform(in_memory)))
    del in_memory

    def round_trip():
        with conn.cursor() as cur:
            cur.execute("SELECT id, body FROM bench_text_million")
            got = cur.fetchall()
            labels = clf.predict(vec.transform([b for _, b in got]))
            cur.execute("DROP TABLE IF EXISTS bench_text_labels")
            cur.execute("CREATE TABLE bench_text_labels (id int, label text)")
            with cur.copy("COPY bench_text_labels FROM STDIN") as copy:
                for (i, _), label in zip(got, labels):
                    copy.write_row((i, label))

    _, trip_s = timed(round_trip)
    print(f"\nclassify_text over {MILLION:,} tweets (the test and train texts repeated), medians of {RUNS}:")
    print(f"{'':52} {'seconds':>9} {'texts/s':>12}")
    for name, t in [
        ("pg_crm SELECT crm.classify_text, one core", serial_s),
        ("pg_crm SELECT crm.classify_text, 2 parallel workers", parallel_s),
        ("scikit-learn transform + predict, in memory", memory_s),
        ("Python round trip: read, predict, COPY back", trip_s),
    ]:
        print(f"{name:52} {t:9.2f} {MILLION / t:12,.0f}")
    print(f"pg_crm one core vs scikit-learn in memory: {memory_s / serial_s:.2f}x; 2 workers vs the round trip: {trip_s / parallel_s:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
