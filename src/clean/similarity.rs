//! `similarity` and `phonetic_key`: the comparisons record matching is built on.
//!
//! Strings are compared as given (case and accents count): compare cleaned values
//! (`clean_name`, `lower`) when those should not matter. Jaro-Winkler and Levenshtein come
//! from `rapidfuzz`, whose bit-parallel algorithms cost O(n·⌈m/64⌉) rather than O(n·m).
//! Inputs longer than `MAX_COMPARED_CHARS` characters are compared on that many leading
//! characters, so a 10 MB value costs milliseconds, not hours (documented in the README).

use std::collections::HashSet;

use rphonetic::{DoubleMetaphone, Encoder};
use unicode_normalization::UnicodeNormalization;

use crate::error::{CrmError, Result};

pub const MAX_COMPARED_CHARS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    JaroWinkler,
    Jaro,
    Levenshtein,
    Jaccard,
}

impl Method {
    pub fn parse(method: &str) -> Result<Method> {
        match method.trim().to_ascii_lowercase().as_str() {
            "jaro_winkler" | "jarowinkler" | "jaro-winkler" => Ok(Method::JaroWinkler),
            "jaro" => Ok(Method::Jaro),
            "levenshtein" => Ok(Method::Levenshtein),
            "jaccard" | "trigram" => Ok(Method::Jaccard),
            _ => Err(CrmError::bad_argument(
                "method",
                method,
                "'jaro_winkler', 'jaro', 'levenshtein' (1 - distance / longer length) or 'jaccard' (character trigrams)",
            )),
        }
    }
}

/// Similarity in [0, 1]; 1 for identical strings (two empty strings included).
pub fn similarity(a: &str, b: &str, method: Method) -> f64 {
    if a == b {
        return 1.0;
    }
    let a: Vec<char> = a.chars().take(MAX_COMPARED_CHARS).collect();
    let b: Vec<char> = b.chars().take(MAX_COMPARED_CHARS).collect();
    if a == b {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let value = match method {
        Method::JaroWinkler => rapidfuzz::distance::jaro_winkler::normalized_similarity(a.iter().copied(), b.iter().copied()),
        Method::Jaro => rapidfuzz::distance::jaro::normalized_similarity(a.iter().copied(), b.iter().copied()),
        Method::Levenshtein => rapidfuzz::distance::levenshtein::normalized_similarity(a.iter().copied(), b.iter().copied()),
        Method::Jaccard => trigram_jaccard(&a, &b),
    };
    value.clamp(0.0, 1.0)
}

/// Jaccard index of the sets of character trigrams, each string padded with two spaces in
/// front and one behind (as pg_trgm does) so that short strings and word starts count.
fn trigram_jaccard(a: &[char], b: &[char]) -> f64 {
    let grams = |s: &[char]| -> HashSet<[char; 3]> {
        let padded: Vec<char> = [' ', ' '].into_iter().chain(s.iter().copied()).chain([' ']).collect();
        padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
    };
    let (ga, gb) = (grams(a), grams(b));
    let inter = ga.intersection(&gb).count();
    let union = ga.len() + gb.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Double Metaphone primary keys of each word, joined by a space (`"Jon Smyth"` →
/// `"JN SM0"`). Accents are folded first (`Müller` → `MLR`); words without Latin letters
/// are skipped. `None` when no word yields a key.
pub fn phonetic_key(raw: &str) -> Option<String> {
    let encoder = DoubleMetaphone::default();
    let folded: String = raw
        .chars()
        .take(MAX_COMPARED_CHARS)
        .collect::<String>()
        .nfkd()
        .filter(|c| c.is_ascii_alphabetic() || c.is_whitespace() || *c == '-' || *c == '\'')
        .collect();
    let keys: Vec<String> = folded
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| w.replace('\'', ""))
        .filter(|w| !w.is_empty())
        .filter_map(|w| {
            // A third-party encoder on arbitrary text must never turn into an ERROR.
            std::panic::catch_unwind(|| encoder.encode(&w)).ok().filter(|k| !k.is_empty())
        })
        .collect();
    if keys.is_empty() {
        None
    } else {
        Some(keys.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaro_winkler_reference_values() {
        let jw = |a: &str, b: &str| similarity(a, b, Method::JaroWinkler);
        assert!((jw("MARTHA", "MARHTA") - 0.9611).abs() < 1e-3);
        assert!((jw("DWAYNE", "DUANE") - 0.84).abs() < 1e-3);
        assert!((jw("DIXON", "DICKSONX") - 0.8133).abs() < 1e-3);
        assert_eq!(jw("", ""), 1.0);
        assert_eq!(jw("abc", ""), 0.0);
        assert_eq!(jw("abc", "abc"), 1.0);
    }

    #[test]
    fn levenshtein_is_normalised_by_longer_length() {
        let lv = |a: &str, b: &str| similarity(a, b, Method::Levenshtein);
        assert!((lv("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-9);
        assert!((lv("Müller", "Muller") - (1.0 - 1.0 / 6.0)).abs() < 1e-9);
    }

    #[test]
    fn jaccard_trigrams() {
        let jc = |a: &str, b: &str| similarity(a, b, Method::Jaccard);
        // "  a", " ab", "abc", "bc " vs "  a", " ab", "abd", "bd ": 2 shared of 6
        assert!((jc("abc", "abd") - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(jc("abc", "xyz"), 0.0);
        assert!(jc("Jonathan Smith", "Jonathon Smith") > 0.6);
    }

    #[test]
    fn huge_inputs_are_bounded() {
        let a = "a".repeat(10_000_000);
        let b = "b".repeat(10_000_000);
        for m in [Method::JaroWinkler, Method::Levenshtein, Method::Jaccard] {
            let s = similarity(&a, &b, m);
            assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn phonetic_keys() {
        assert_eq!(phonetic_key("Smith").as_deref(), Some("SM0"));
        assert_eq!(phonetic_key("Smyth"), phonetic_key("Smith"));
        assert_eq!(phonetic_key("Jon Smith"), phonetic_key("John Smyth"));
        assert_eq!(phonetic_key("Müller"), phonetic_key("Muller"));
        assert_eq!(phonetic_key("O'Brien"), phonetic_key("OBrien"));
        assert_eq!(phonetic_key(""), None);
        assert_eq!(phonetic_key("12345 !!!"), None);
        assert_eq!(phonetic_key("山田"), None);
        assert!(phonetic_key(&"ab ".repeat(3_000_000)).is_some());
    }

    #[test]
    fn bad_method_names_accepted_values() {
        let e = Method::parse("cosine").unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.message().contains("jaro_winkler"));
    }
}
