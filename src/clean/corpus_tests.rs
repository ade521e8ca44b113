//! The messy-input corpus (`tests/data/clean_corpus.tsv`, shared with the SQL regression
//! test `pg_test/sql/clean_corpus.sql`) checked against the core functions.

use super::{date, email, name, phone, similarity, text};

const CORPUS: &str = include_str!("../../tests/data/clean_corpus.tsv");

/// COPY text-format unescaping: `\N` is NULL, `\t` `\n` `\r` `\\` are escapes.
fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn run(function: &str, arg: &str, input: &str) -> Option<String> {
    match function {
        "clean_email" => email::clean_email(input),
        "clean_phone" => phone::clean_phone(input, phone::Region::parse(arg).unwrap()),
        "clean_name" => name::clean_name(input),
        "clean_text" => text::clean_text(input),
        "parse_date" => date::parse_date(input, date::FieldOrder::parse(arg).unwrap()).map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
        "similarity" => {
            let (a, b) = input.split_once('|').unwrap();
            Some(format!("{:.3}", similarity::similarity(a, b, similarity::Method::parse(arg).unwrap())))
        }
        "phonetic_key" => similarity::phonetic_key(input),
        other => panic!("unknown function {other} in corpus"),
    }
}

#[test]
fn corpus_has_at_least_200_cases_and_all_pass() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for line in CORPUS.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "malformed corpus line {line:?}");
        let input = unescape(fields[2]).unwrap_or_default();
        let expected = unescape(fields[3]);
        let got = run(fields[0], fields[1], &input);
        cases += 1;
        if got != expected {
            failures.push(format!("{}({:?}, {:?}) = {:?}, expected {:?}", fields[0], input, fields[1], got, expected));
        }
    }
    assert!(cases >= 200, "only {cases} cases");
    assert!(failures.is_empty(), "{} of {cases} failed:\n{}", failures.len(), failures.join("\n"));
}

/// Random garbage and hostile shapes: every cleaner returns, never panics.
#[test]
fn cleaners_are_total_on_garbage() {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let alphabet: Vec<char> = "aZ09 @.+-()/,;:'\"<>[]\\\t\n#x*\u{0}\u{7f}\u{200b}\u{feff}éß山🙂＠٣\u{301}\u{10ffff}".chars().collect();
    let us = phone::Region::parse("US").unwrap();
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let s: String = (0..len).map(|_| alphabet[(next() as usize) % alphabet.len()]).collect();
        let _ = email::clean_email(&s);
        let _ = phone::clean_phone(&s, us);
        let _ = name::clean_name(&s);
        let _ = text::clean_text(&s);
        let _ = date::parse_date(&s, date::FieldOrder::Dmy);
        let _ = similarity::phonetic_key(&s);
        let sim = similarity::similarity(&s, "John Smith", similarity::Method::JaroWinkler);
        assert!((0.0..=1.0).contains(&sim));
    }
}
