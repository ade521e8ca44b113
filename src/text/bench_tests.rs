//! The airline-tweet benchmark of training, stage by stage (ignored: it needs
//! ../shared/datasets and a release build):
//! `cargo test --release --lib text::bench_tests -- --ignored --nocapture`.
//! It trains as `crm.train_text_classifier` with the defaults and `test_fraction: 0`
//! (one fit on every training row) and prints each stage's time and the test macro-F1.
//! `chinese_segmenters` compares the tokenisers of Chinese text on tests/data's complaints.

use std::time::Instant;

use super::metrics::ClassificationReport;
use super::softmax::{balanced_class_weights, Softmax};
use super::tokenize::Segmenter;
use super::vectorize::Vectorizer;
use super::{argmax, TextModel, TextOptions};

/// The cells of a CSV file (RFC 4180: quoted cells may hold commas, quotes and newlines).
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

/// CPU seconds this process has used (all threads, user + system), from /proc: the
/// machine is shared, and wall-clock times move with what else runs on it.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime), counted after the command name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

/// (stage seconds, test macro-F1) of one task: train on rows whose number is not
/// divisible by 5, test on the others.
fn run_task(name: &str, rows: &[(String, String)]) -> f64 {
    let options = TextOptions { holdout: 0.0, ..TextOptions::default() };
    let (mut train_x, mut train_y, mut test_x, mut test_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (text, label)) in rows.iter().enumerate() {
        if (i + 1) % 5 == 0 {
            test_x.push(text.as_str());
            test_y.push(label.as_str());
        } else {
            train_x.push(text.as_str());
            train_y.push(label.as_str());
        }
    }
    let never = || false;
    let mut classes: Vec<String> = train_y.iter().map(|s| s.to_string()).collect();
    classes.sort();
    classes.dedup();
    let y: Vec<u32> = train_y.iter().map(|l| classes.iter().position(|c| c == l).unwrap() as u32).collect();

    // The stages of `super::fit`, timed one by one.
    let cpu_started = cpu_seconds();
    let started = Instant::now();
    let (vectorizer, terms) = Vectorizer::fit_keeping_terms(&train_x, &options.tokenizer(), &options.vectorizer(), usize::MAX, &never).unwrap();
    let t_vocab = started.elapsed().as_secs_f64();
    let at = Instant::now();
    let x = vectorizer.transform_fitted(&train_x, terms, &never).unwrap();
    let t_rows = at.elapsed().as_secs_f64();
    let cpu_fit = cpu_seconds();
    let at = Instant::now();
    let weights = balanced_class_weights(&y, classes.len());
    let model = Softmax::fit(&x, &y, classes.len(), &weights, &options.softmax(), &never).unwrap();
    let t_fit = at.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();
    let cpu_end = cpu_seconds();

    // The public entry point, as the SQL layer calls it.
    let labels: Vec<&str> = train_y.clone();
    let at = Instant::now();
    let stored = super::TextModel::train(&train_x, &labels, &options, &never).unwrap();
    let t_train = at.elapsed().as_secs_f64();

    let truth: Vec<u32> = test_y.iter().map(|l| classes.iter().position(|c| c == l).unwrap() as u32).collect();
    let predicted: Vec<u32> = test_x
        .iter()
        .map(|t| {
            let row = vectorizer.transform(t);
            argmax(&model.predict_proba(&row.indices, &row.values)) as u32
        })
        .collect();
    let report = ClassificationReport::new(&truth, &predicted, &classes);
    let stored_predicted: Vec<u32> = test_x.iter().map(|t| classes.iter().position(|c| c == stored.top_label(t).0).unwrap() as u32).collect();
    let stored_report = ClassificationReport::new(&truth, &stored_predicted, &classes);
    println!(
        "{name}: {} train / {} test, {} features, {} non-zeros, {} iterations | vocabulary {t_vocab:.3} s, rows {t_rows:.3} s, fit {t_fit:.3} s, total {total:.3} s (CPU: vectorising {:.2} s, fit {:.2} s) | TextModel::train {t_train:.3} s | macro-F1 {:.4} (accuracy {:.4}), stored model {:.4}",
        train_x.len(),
        test_x.len(),
        vectorizer.n_features(),
        x.indices.len(),
        model.iterations,
        cpu_fit - cpu_started,
        cpu_end - cpu_fit,
        report.macro_f1,
        report.accuracy,
        stored_report.macro_f1,
    );
    total
}

#[test]
#[ignore]
fn airline_tweets_training_speed() {
    let Some(path) = crate::shared_dataset("airline_tweets.csv") else { return };
    let cells = read_csv(&std::fs::read_to_string(&path).unwrap());
    let header = &cells[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (text, sentiment, reason) = (column("text"), column("airline_sentiment"), column("negativereason"));
    let rows = &cells[1..];
    assert_eq!(rows.len(), 14_640);
    let pick = |label: &dyn Fn(&Vec<String>) -> Option<String>| -> Vec<(String, String)> {
        rows.iter().filter_map(|r| Some((r[text].clone(), label(r)?))).filter(|(t, l)| !t.is_empty() && !l.is_empty()).collect()
    };
    let sentiment_rows = pick(&|r| Some(r[sentiment].clone()));
    let reason_rows = pick(&|r| (r[sentiment] == "negative").then(|| r[reason].clone()));
    assert_eq!((sentiment_rows.len(), reason_rows.len()), (14_640, 9_178));
    let runs: usize = std::env::var("TEXT_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for _ in 0..runs {
        run_task("sentiment", &sentiment_rows);
    }
    run_task("reason", &reason_rows);
}

/// Each segmenter on the Chinese complaints of tests/data/zh_complaints.tsv (7 labels):
/// test macro-F1 and accuracy of a model trained with the defaults on the other lines
/// (every fifth line is held out; the file is made so those lines' clauses occur nowhere
/// else), and the tokeniser's speed over all the texts.
#[test]
#[ignore]
fn chinese_segmenters() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zh_complaints.tsv");
    let data = std::fs::read_to_string(path).unwrap();
    let rows: Vec<(&str, &str)> = data.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split_once('\t').unwrap()).collect();
    assert!(rows.len() >= 300, "{}", rows.len());
    let (mut train_x, mut train_y, mut test_x, mut test_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (text, label)) in rows.iter().enumerate() {
        let (x, y) = if (i + 1) % 5 == 0 { (&mut test_x, &mut test_y) } else { (&mut train_x, &mut train_y) };
        x.push(*text);
        y.push(*label);
    }
    let all: Vec<&str> = rows.iter().map(|(t, _)| *t).collect();
    let started = Instant::now();
    let jieba = jieba_rs::Jieba::new();
    println!("{} train / {} test texts; building jieba's dictionary: {:.3} s", train_x.len(), test_x.len(), started.elapsed().as_secs_f64());
    drop(jieba);
    // A second split whose test phrasings do occur in training: lines 1, 6, 11, ... tested,
    // trained on the others but the unseen ones.
    let (mut seen_train_x, mut seen_train_y, mut seen_test_x, mut seen_test_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (text, label)) in rows.iter().enumerate() {
        match i % 5 {
            0 => {
                seen_test_x.push(*text);
                seen_test_y.push(*label);
            }
            4 => {}
            _ => {
                seen_train_x.push(*text);
                seen_train_y.push(*label);
            }
        }
    }
    println!("| segmenter | macro-F1 | accuracy | features | tokenising texts/s | macro-F1, seen phrasings |");
    println!("|---|---|---|---|---|---|");
    for segmenter in [Segmenter::Bigrams, Segmenter::Jieba] {
        let options = TextOptions { holdout: 0.0, segmenter, ..TextOptions::default() };
        let model = TextModel::train(&train_x, &train_y, &options, &|| false).unwrap();
        let index = |label: &str| model.labels.iter().position(|l| l == label).unwrap() as u32;
        let truth: Vec<u32> = test_y.iter().map(|l| index(l)).collect();
        let predicted: Vec<u32> = test_x.iter().map(|t| index(model.top_label(t).0)).collect();
        let report = ClassificationReport::new(&truth, &predicted, &model.labels);
        // Tokenising alone (every term of every text), after a first pass that builds
        // jieba's dictionary.
        let tokenizer = options.tokenizer();
        let mut terms = 0usize;
        tokenizer.for_each_term(all[0], |_| terms += 1);
        let (started, mut passes) = (Instant::now(), 0);
        while passes < 3 || started.elapsed().as_secs_f64() < 1.0 {
            for text in &all {
                tokenizer.for_each_term(text, |_| terms += 1);
            }
            passes += 1;
        }
        let per_second = (passes * all.len()) as f64 / started.elapsed().as_secs_f64();
        let seen_model = TextModel::train(&seen_train_x, &seen_train_y, &options, &|| false).unwrap();
        let index = |label: &str| seen_model.labels.iter().position(|l| l == label).unwrap() as u32;
        let truth: Vec<u32> = seen_test_y.iter().map(|l| index(l)).collect();
        let predicted: Vec<u32> = seen_test_x.iter().map(|t| index(seen_model.top_label(t).0)).collect();
        let seen = ClassificationReport::new(&truth, &predicted, &seen_model.labels);
        println!(
            "| {} | {:.4} | {:.4} | {} | {per_second:.0} | {:.4} |",
            segmenter.name(),
            report.macro_f1,
            report.accuracy,
            model.vectorizer.n_features(),
            seen.macro_f1
        );
        assert!(terms > 0);
    }
}

/// CPU seconds of `Softmax::fit` alone on the sentiment task's training rows, on one
/// thread and on the pool (median of `TEXT_BENCH_RUNS`, default 5): the solver's cost
/// without the vectoriser, comparable across builds on a shared machine.
#[test]
#[ignore]
fn softmax_fit_cpu_seconds() {
    let Some(path) = crate::shared_dataset("airline_tweets.csv") else { return };
    let cells = read_csv(&std::fs::read_to_string(&path).unwrap());
    let header = &cells[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (text, sentiment) = (column("text"), column("airline_sentiment"));
    let train: Vec<(&str, &str)> =
        cells[1..].iter().enumerate().filter(|(i, _)| (i + 1) % 5 != 0).map(|(_, r)| (r[text].as_str(), r[sentiment].as_str())).collect();
    let texts: Vec<&str> = train.iter().map(|r| r.0).collect();
    let mut classes: Vec<&str> = train.iter().map(|r| r.1).collect();
    classes.sort_unstable();
    classes.dedup();
    let y: Vec<u32> = train.iter().map(|r| classes.binary_search(&r.1).unwrap() as u32).collect();
    let options = TextOptions::default();
    let never = || false;
    let (vectorizer, terms) = Vectorizer::fit_keeping_terms(&texts, &options.tokenizer(), &options.vectorizer(), usize::MAX, &never).unwrap();
    let x = vectorizer.transform_fitted(&texts, terms, &never).unwrap();
    let weights = balanced_class_weights(&y, classes.len());
    let runs: usize = std::env::var("TEXT_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    for threads in [1, 0] {
        crate::pool::set_max_threads(threads);
        let (mut cpu, mut wall, mut iterations) = (Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            let (cpu_started, started) = (cpu_seconds(), Instant::now());
            iterations = Softmax::fit(&x, &y, classes.len(), &weights, &options.softmax(), &never).unwrap().iterations;
            cpu.push(cpu_seconds() - cpu_started);
            wall.push(started.elapsed().as_secs_f64());
        }
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        println!(
            "threads {}: {iterations} iterations, CPU {:.3} s ({:.2} ms an iteration), wall {:.3} s (medians of {runs})",
            crate::pool::max_threads(),
            cpu[runs / 2],
            1000.0 * cpu[runs / 2] / iterations as f64,
            wall[runs / 2]
        );
    }
    crate::pool::set_max_threads(0);
}
