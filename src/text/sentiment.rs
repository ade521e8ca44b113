//! Sentiment without training: a port of VADER (Hutto & Gilbert 2014), vaderSentiment
//! 3.3.2's `compound` score. A lexicon of rated words, emoticons and slang, adjusted by
//! rules: negation ("not good"), intensifiers and dampeners ("very", "kind of"), ALL CAPS
//! emphasis, a contrastive "but" (the clause after it weighs more), exclamation and
//! question marks, and emoji read as their descriptions.
//!
//! The rules are ported as vaderSentiment runs them, quirks included (its "but" rescaling
//! finds each score by value, and a preceding "so"/"this" raises a score by 1.25), so
//! scores agree with the reference implementation people compare against.
//!
//! The lexicon and emoji table (vader_lexicon.tsv, vader_emoji.tsv beside this file) are
//! derived from vaderSentiment's, MIT License, Copyright (c) 2016 C.J. Hutto: see
//! VADER_LICENSE.txt beside this file.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

const LEXICON_TSV: &str = include_str!("vader_lexicon.tsv");
const EMOJI_TSV: &str = include_str!("vader_emoji.tsv");

/// Mean rise of a rating from a booster word ("very").
const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
/// Mean rise from writing a word in capitals among words that are not.
const C_INCR: f64 = 0.733;
/// A negated word's rating is scaled by this.
const N_SCALAR: f64 = -0.74;
/// `compound = s / sqrt(s² + ALPHA)`: the sum of ratings squashed into (-1, 1).
const ALPHA: f64 = 15.0;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

/// Phrases whose rating replaces that of the lexicon word in them.
const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

struct Lexicon {
    words: FxHashMap<&'static str, f64>,
    emoji: FxHashMap<char, &'static str>,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let words = LEXICON_TSV.lines().filter_map(|line| line.split_once('\t')).filter_map(|(w, v)| Some((w, v.trim().parse().ok()?))).collect();
        let emoji = EMOJI_TSV
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter_map(|(e, d)| {
                let mut chars = e.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some((c, d.trim())),
                    _ => None,
                }
            })
            .collect();
        Lexicon { words, emoji }
    })
}

fn booster(word: &str) -> Option<f64> {
    if BOOSTERS_UP.contains(&word) {
        Some(B_INCR)
    } else if BOOSTERS_DOWN.contains(&word) {
        Some(B_DECR)
    } else {
        None
    }
}

fn special_case(phrase: &str) -> Option<f64> {
    SPECIAL_CASES.iter().find(|(p, _)| *p == phrase).map(|(_, v)| *v)
}

/// Python's `str.isupper`: some cased character, and none in lower case.
fn is_upper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// Python's `str.isspace` for one character, which `str.split()` splits on.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn negated(word_lower: &str) -> bool {
    NEGATE.contains(&word_lower) || word_lower.contains("n't")
}

/// The sentiment of `text` in [-1, 1]: VADER's compound score (not rounded). Above 0.05
/// reads as positive, below -0.05 as negative, in between as neutral.
pub fn sentiment(text: &str) -> f64 {
    let lex = lexicon();
    // Emoji become their descriptions ("😂" -> "face with tears of joy").
    let mut expanded = String::with_capacity(text.len());
    let mut prev_space = true;
    for c in text.chars() {
        match lex.emoji.get(&c) {
            Some(description) => {
                if !prev_space {
                    expanded.push(' ');
                }
                expanded.push_str(description);
                prev_space = false;
            }
            None => {
                expanded.push(c);
                prev_space = c == ' ';
            }
        }
    }
    let text = expanded.trim_matches(is_python_space);
    // Words keep their case (for capitals emphasis) and lose leading and trailing
    // punctuation, unless that leaves two characters or fewer (an emoticon: ":)", ":-(").
    let words: Vec<&str> = text
        .split(is_python_space)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let stripped = w.trim_matches(|c: char| c.is_ascii_punctuation());
            if stripped.chars().count() <= 2 {
                w
            } else {
                stripped
            }
        })
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let upper_count = words.iter().filter(|w| is_upper(w)).count();
    let cap_differential = upper_count > 0 && upper_count < words.len();

    let mut scores: Vec<f64> = Vec::with_capacity(words.len());
    for i in 0..words.len() {
        let kind_of = i + 1 < words.len() && lower[i] == "kind" && lower[i + 1] == "of";
        if booster(&lower[i]).is_some() || kind_of {
            scores.push(0.0);
            continue;
        }
        scores.push(valence(&words, &lower, i, cap_differential, lex));
    }
    but_check(&lower, &mut scores);
    if scores.is_empty() {
        return 0.0;
    }
    let mut sum: f64 = scores.iter().sum();
    let exclamations = text.matches('!').count().min(4) as f64 * 0.292;
    let questions = match text.matches('?').count() {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f64 * 0.18,
        _ => 0.96,
    };
    let emphasis = exclamations + questions;
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0)
}

/// The rating of word i after its neighbours' rules (vaderSentiment's `sentiment_valence`).
fn valence(words: &[&str], lower: &[String], i: usize, cap_differential: bool, lex: &Lexicon) -> f64 {
    let Some(&rating) = lex.words.get(lower[i].as_str()) else {
        return 0.0;
    };
    let in_lexicon = |w: &str| lex.words.contains_key(w);
    let mut v = rating;
    // "no" before a rated word negates it rather than counting as a negative word itself.
    if lower[i] == "no" && i + 1 < words.len() && in_lexicon(&lower[i + 1]) {
        v = 0.0;
    }
    if (i > 0 && lower[i - 1] == "no") || (i > 1 && lower[i - 2] == "no") || (i > 2 && lower[i - 3] == "no" && (lower[i - 1] == "or" || lower[i - 1] == "nor"))
    {
        v = rating * N_SCALAR;
    }
    if is_upper(words[i]) && cap_differential {
        v += if v > 0.0 { C_INCR } else { -C_INCR };
    }
    for start in 0..3 {
        if i > start && !in_lexicon(&lower[i - (start + 1)]) {
            let mut s = scalar_inc_dec(words[i - (start + 1)], &lower[i - (start + 1)], v, cap_differential);
            if start == 1 {
                s *= 0.95;
            } else if start == 2 {
                s *= 0.9;
            }
            v += s;
            v = negation_check(v, lower, start, i);
            if start == 2 {
                v = special_idioms_check(v, lower, i);
            }
        }
    }
    least_check(v, lower, i, &in_lexicon)
}

fn scalar_inc_dec(word: &str, word_lower: &str, valence: f64, cap_differential: bool) -> f64 {
    let Some(mut scalar) = booster(word_lower) else {
        return 0.0;
    };
    if valence < 0.0 {
        scalar = -scalar;
    }
    if is_upper(word) && cap_differential {
        scalar += if valence > 0.0 { C_INCR } else { -C_INCR };
    }
    scalar
}

fn negation_check(v: f64, lower: &[String], start: usize, i: usize) -> f64 {
    let w = |back: usize| lower[i - back].as_str();
    match start {
        0 if negated(w(1)) => v * N_SCALAR,
        1 if w(2) == "never" && (w(1) == "so" || w(1) == "this") => v * 1.25,
        1 if w(2) == "without" && w(1) == "doubt" => v,
        1 if negated(w(2)) => v * N_SCALAR,
        // vaderSentiment reads `a and b or c` as `(a and b) or c`: a "so"/"this" just
        // before the word raises it whatever precedes.
        2 if (w(3) == "never" && (w(2) == "so" || w(2) == "this")) || (w(1) == "so" || w(1) == "this") => v * 1.25,
        2 if w(3) == "without" && (w(2) == "doubt" || w(1) == "doubt") => v,
        2 if negated(w(3)) => v * N_SCALAR,
        _ => v,
    }
}

/// Idioms around word i (i ≥ 3) that replace its rating, and two- or three-word dampeners
/// before it ("kind of").
fn special_idioms_check(mut v: f64, lower: &[String], i: usize) -> f64 {
    let w = |at: usize| lower[at].as_str();
    let one_zero = format!("{} {}", w(i - 1), w(i));
    let two_one_zero = format!("{} {} {}", w(i - 2), w(i - 1), w(i));
    let two_one = format!("{} {}", w(i - 2), w(i - 1));
    let three_two_one = format!("{} {} {}", w(i - 3), w(i - 2), w(i - 1));
    let three_two = format!("{} {}", w(i - 3), w(i - 2));
    if let Some(special) = [&one_zero, &two_one_zero, &two_one, &three_two_one, &three_two].iter().find_map(|s| special_case(s)) {
        v = special;
    }
    if lower.len() - 1 > i {
        if let Some(special) = special_case(&format!("{} {}", w(i), w(i + 1))) {
            v = special;
        }
    }
    if lower.len() - 1 > i + 1 {
        if let Some(special) = special_case(&format!("{} {} {}", w(i), w(i + 1), w(i + 2))) {
            v = special;
        }
    }
    for phrase in [&three_two_one, &three_two, &two_one] {
        if let Some(b) = booster(phrase) {
            v += b;
        }
    }
    v
}

/// "least" before a word negates it, except in "at least" and "very least".
fn least_check(v: f64, lower: &[String], i: usize, in_lexicon: &dyn Fn(&str) -> bool) -> f64 {
    if i > 1 && !in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
        if lower[i - 2] != "at" && lower[i - 2] != "very" {
            return v * N_SCALAR;
        }
    } else if i > 0 && !in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
        return v * N_SCALAR;
    }
    v
}

/// After the first "but", scores before it count half and scores after it one and a half.
/// As vaderSentiment does it: each score is looked up by value and the first equal one is
/// rescaled, so repeated values are rescaled where their first copy stands.
fn but_check(lower: &[String], scores: &mut [f64]) {
    let Some(but) = lower.iter().position(|w| w == "but") else {
        return;
    };
    for k in 0..scores.len() {
        let value = scores[k];
        let Some(first) = scores.iter().position(|s| *s == value) else {
            continue;
        };
        if first < but {
            scores[first] = value * 0.5;
        } else if first > but {
            scores[first] = value * 1.5;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_sentences_have_clear_signs() {
        assert!(sentiment("I love this airline, great service!") > 0.5);
        assert!(sentiment("Worst flight ever. Lost my bag and rude staff.") < -0.5);
        assert!(sentiment("The flight leaves at 9.").abs() < 0.05);
        assert!(sentiment("The food was not good") < 0.0);
        assert!(sentiment("thanks 😍") > 0.3);
    }

    #[test]
    fn rules_move_scores_as_vader_does() {
        // Values printed by vaderSentiment 3.3.2 (compound, rounded to 4 places).
        let cases = [
            ("VADER is smart, handsome, and funny.", 0.8316),
            ("VADER is smart, handsome, and funny!", 0.8439),
            ("VADER is very smart, handsome, and funny.", 0.8545),
            ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
            ("VADER is not smart, handsome, nor funny.", -0.7424),
            ("At least it isn't a horrible book.", 0.431),
            ("The book was only kind of good.", 0.3832),
            ("The plot was good, but the characters are uncompelling and the dialog is not great.", -0.7042),
            ("Today SUX!", -0.5461),
            ("Make sure you :) or :D today!", 0.8633),
            ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.875),
            ("Not bad at all", 0.431),
            ("Sentiment analysis has never been this good!", 0.5672),
            ("Roger Dodger is one of the least compelling variations on this theme.", -0.1695),
            ("Without a doubt, excellent idea.", 0.7013),
            // The "but" quirk: both "good" scores are found at the first one's place.
            ("It was good but the food was good", 0.7003),
        ];
        for (text, expected) in cases {
            let got = sentiment(text);
            assert!((got - expected).abs() < 5e-5, "{text}: {got} vs {expected}");
        }
    }

    #[test]
    fn no_panic_and_in_range_on_garbage() {
        let long = "bad ".repeat(10_000);
        for text in ["", " ", "!!!???", "but", "no", "kind of", "least", "\u{0}\u{1f}", "😂😂😂", long.as_str(), "NO NO no GOOD but BAD"] {
            let s = sentiment(text);
            assert!((-1.0..=1.0).contains(&s), "{text}: {s}");
        }
        assert_eq!(sentiment(""), 0.0);
    }
}
