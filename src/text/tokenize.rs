//! Text to terms: NFKC, lower case, Unicode word boundaries (UAX #29), word n-grams,
//! optional character n-grams inside words, character unigrams and bigrams for Chinese
//! and Japanese runs (or jieba's words for runs of Han characters), and the tokens of
//! social-media text (URLs, @mentions, #hashtags, emoji, emoticons).
//!
//! Terms are handed to a callback as `&str` borrowed from a reused buffer, so looking a
//! text up in a fitted vocabulary allocates nothing per term.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::clean::text::nfkc;
use crate::error::{CrmError, Result};

/// What an `@user` mention becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mentions {
    /// One term per user, `@name`: addressees (a brand's accounts) carry signal.
    Keep,
    /// Every mention becomes the one term `@user`.
    Generic,
    Drop,
}

/// How a run of Han characters (Chinese, and the kanji of Japanese) becomes tokens. Kana
/// runs are read as characters either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segmenter {
    /// Each character, and with word pairs each pair of adjacent characters: no
    /// dictionary, no wrong cuts, any vocabulary (names, slang, new products).
    #[default]
    Bigrams,
    /// jieba's words: its dictionary of 350,000 Chinese words, and its HMM for words the
    /// dictionary lacks.
    Jieba,
}

impl Segmenter {
    /// The accepted values, as an error names them.
    pub const ACCEPTED: &'static str = "'bigrams', 'jieba'";

    pub fn name(self) -> &'static str {
        match self {
            Segmenter::Bigrams => "bigrams",
            Segmenter::Jieba => "jieba",
        }
    }

    /// The segmenter an option value names (any case); a 22023 error naming
    /// `options.segmenter` and the accepted values otherwise.
    pub fn from_json(value: &serde_json::Value) -> Result<Segmenter> {
        let name = value.as_str().map(str::to_ascii_lowercase);
        match name.as_deref() {
            Some("bigrams") => Ok(Segmenter::Bigrams),
            Some("jieba") => Ok(Segmenter::Jieba),
            _ => Err(CrmError::bad_argument("options.segmenter", value, Self::ACCEPTED)),
        }
    }
}

/// The one jieba segmenter of the process, built at its first use: loading the
/// dictionary takes about a third of a second and tens of MB, once.
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// The tokeniser's settings; stored with a model so a text is read at prediction time as
/// it was in training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokenizer {
    /// Word n-gram lengths, both ends included: (1, 2) = words and pairs of adjacent words.
    pub word_ngrams: (u32, u32),
    /// Character n-gram lengths inside each word padded with one space on each side
    /// (scikit-learn's `char_wb`); None = none. They make misspellings and inflections
    /// share evidence ("delay", "delayed", "delays"). On by default: 3 to 5 raised
    /// macro-F1 in each of 5 folds of both airline-tweet tasks (sentiment +0.005,
    /// complaint reason +0.03).
    pub char_ngrams: Option<(u32, u32)>,
    pub mentions: Mentions,
    /// `!` and `?` as terms (a run counts once): cheap cues of tone.
    pub punctuation: bool,
    /// Not serialised here: a stored model's vectoriser holds its tokeniser in the middle
    /// of the model's bincode bytes, where a new field would shift every byte after it. The
    /// model stores it at its end instead (`TextModel::segmenter`) and sets it back here.
    #[serde(skip)]
    pub segmenter: Segmenter,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer { word_ngrams: (1, 2), char_ngrams: Some((3, 5)), mentions: Mentions::Keep, punctuation: true, segmenter: Segmenter::Bigrams }
    }
}

/// Stands for every URL: the address itself almost never recurs (link shorteners).
pub const URL_TERM: &str = "<url>";
/// Marks a character n-gram term, so `~ab` can never be taken for the word `ab`: no
/// word, mention, emoji or emoticon term starts with it.
pub const CHAR_NGRAM_MARK: char = '~';
/// Word n-grams longer than this are refused: nothing gains from them and each costs a
/// pass over the tokens.
pub const MAX_NGRAM: u32 = 8;

/// Emoticons, lower-cased, recognised when they stand alone between spaces (a trailing
/// repeat of their last character, `:)))`, included).
const EMOTICONS: &[&str] = &[
    ":)", ":-)", ":(", ":-(", ":d", ":-d", ";)", ";-)", ":p", ":-p", ":/", ":-/", ":'(", ":')", "<3", "</3", ":o", ":-o", ":|", ":]", ":[", "=)", "=(", ":*",
    "^_^", "^^", "-_-", ":@", ":s", "=d", "(:", "):",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A word of a spaced script: character n-grams are taken from it.
    Word,
    /// One Chinese or Japanese character: adjacent ones are paired.
    Cjk,
    /// A word a segmenter cut from a run of Han characters.
    CjkWord,
    /// Mention, URL, emoji, emoticon, punctuation: a term as it is.
    Symbol,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
    kind: Kind,
    /// A CJK character or word that directly follows another of the same run: n-grams
    /// join them without a space (`東京`, not `東 京`).
    glued: bool,
}

/// The tokens of one text, in one buffer.
#[derive(Default, Debug)]
pub struct Tokens {
    buf: String,
    spans: Vec<Span>,
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> &str {
        let s = self.spans[i];
        &self.buf[s.start as usize..s.end as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    fn push(&mut self, text: &str, kind: Kind, glued: bool) {
        let start = self.buf.len() as u32;
        self.buf.push_str(text);
        self.spans.push(Span { start, end: self.buf.len() as u32, kind, glued });
    }

    /// Pushes a word with its apostrophes removed, so `don't` and `dont` (common in
    /// informal text) are one term.
    fn push_word(&mut self, word: &str) {
        let start = self.buf.len() as u32;
        self.buf.extend(word.chars().filter(|&c| c != '\''));
        if self.buf.len() as u32 > start {
            self.spans.push(Span { start, end: self.buf.len() as u32, kind: Kind::Word, glued: false });
        }
    }
}

impl Tokenizer {
    /// The settings' errors, in words; None when they are usable.
    pub fn check(&self) -> Option<String> {
        let (lo, hi) = self.word_ngrams;
        if lo < 1 || hi < lo || hi > MAX_NGRAM {
            return Some(format!("options.ngram_range: word n-gram range ({lo}, {hi}) must satisfy 1 <= min <= max <= {MAX_NGRAM}"));
        }
        if let Some((lo, hi)) = self.char_ngrams {
            if lo < 1 || hi < lo || hi > MAX_NGRAM {
                return Some(format!("options.char_ngrams: character n-gram range ({lo}, {hi}) must satisfy 1 <= min <= max <= {MAX_NGRAM}"));
            }
        }
        None
    }

    /// The text's tokens, in order.
    pub fn tokens(&self, text: &str) -> Tokens {
        let mut tokens = Tokens::default();
        self.tokens_into(text, &mut tokens);
        tokens
    }

    fn tokens_into(&self, text: &str, tokens: &mut Tokens) {
        tokens.buf.clear();
        tokens.spans.clear();
        let lowered = lower_and_fold(&nfkc(text));
        tokens.buf.reserve(lowered.len());
        for chunk in lowered.split_whitespace() {
            self.chunk_tokens(chunk, tokens);
        }
    }

    /// The tokens of one whitespace-free chunk.
    fn chunk_tokens(&self, chunk: &str, tokens: &mut Tokens) {
        if let Some(emoticon) = emoticon(chunk) {
            tokens.push(emoticon, Kind::Symbol, false);
            return;
        }
        // A URL runs to the end of its chunk; what stands before it is read as text.
        let (chunk, url) = match find_url(chunk) {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let mut segments = chunk.split_word_bound_indices().peekable();
        // Whether the previous segment was a word: `a@b` is no mention.
        let mut after_word = false;
        // Whether the previous segment was CJK, so the next CJK character joins its run.
        let mut in_cjk_run = false;
        let mut in_punctuation: Option<char> = None;
        while let Some((at, segment)) = segments.next() {
            let first = segment.chars().next().unwrap_or(' ');
            let is_word = segment.chars().any(char::is_alphanumeric);
            if !is_word && (segment == "@" || segment == "#") && !after_word {
                if let Some((_, next)) = segments.next_if(|(_, s)| s.chars().next().is_some_and(|c| c.is_alphanumeric() && !is_cjk(c))) {
                    if segment == "#" {
                        // A hashtag is read as its word: `#fail` and `fail` share evidence.
                        tokens.push_word(next);
                    } else {
                        match self.mentions {
                            Mentions::Keep => {
                                let start = tokens.buf.len() as u32;
                                tokens.buf.push('@');
                                tokens.buf.extend(next.chars().filter(|&c| c != '\''));
                                tokens.spans.push(Span { start, end: tokens.buf.len() as u32, kind: Kind::Symbol, glued: false });
                            }
                            Mentions::Generic => tokens.push("@user", Kind::Symbol, false),
                            Mentions::Drop => {}
                        }
                    }
                    after_word = true;
                    in_cjk_run = false;
                    in_punctuation = None;
                    continue;
                }
            }
            if is_word {
                if self.segmenter == Segmenter::Jieba && is_han(first) {
                    // UAX #29 puts a boundary between any two ideographs: the run is the
                    // following segments that start with one.
                    let mut end = at + segment.len();
                    while let Some((next_at, next)) = segments.next_if(|(_, s)| s.chars().next().is_some_and(is_han)) {
                        end = next_at + next.len();
                    }
                    // With the HMM, as jieba's own default: words missing from the
                    // dictionary (names, new products) are kept whole.
                    for word in jieba().cut(&chunk[at..end], true) {
                        tokens.push(word.word, Kind::CjkWord, in_cjk_run);
                        in_cjk_run = true;
                    }
                } else if is_cjk(first) {
                    for c in segment.chars() {
                        let mut utf8 = [0u8; 4];
                        tokens.push(c.encode_utf8(&mut utf8), Kind::Cjk, in_cjk_run);
                        in_cjk_run = true;
                    }
                } else {
                    tokens.push_word(segment);
                    in_cjk_run = false;
                }
                after_word = true;
                in_punctuation = None;
                continue;
            }
            after_word = false;
            in_cjk_run = false;
            if is_pictographic(first) {
                let start = tokens.buf.len() as u32;
                tokens.buf.extend(segment.chars().filter(|&c| !is_emoji_modifier(c)));
                if tokens.buf.len() as u32 > start {
                    tokens.spans.push(Span { start, end: tokens.buf.len() as u32, kind: Kind::Symbol, glued: false });
                }
                in_punctuation = None;
            } else if self.punctuation && (segment == "!" || segment == "?") {
                if in_punctuation != Some(first) {
                    tokens.push(segment, Kind::Symbol, false);
                }
                in_punctuation = Some(first);
            } else if !segment.chars().all(|c| c == '.') {
                // `.` goes by (`wait...!!`) without ending a `!` run.
                in_punctuation = None;
            }
        }
        if url {
            tokens.push(URL_TERM, Kind::Symbol, false);
        }
    }

    /// Calls `emit` with every term of `text`, once per occurrence: word n-grams, then
    /// character n-grams. The `&str` lives until the next call.
    pub fn for_each_term(&self, text: &str, mut emit: impl FnMut(&str)) {
        let tokens = self.tokens(text);
        self.terms_of(&tokens, &mut |term, _| emit(term));
    }

    /// As `for_each_term`, with the word each character n-gram was taken from (None for
    /// the other terms): explanations credit a word with its n-grams.
    pub fn for_each_term_with_source(&self, text: &str, mut emit: impl FnMut(&str, Option<&str>)) {
        let tokens = self.tokens(text);
        self.terms_of(&tokens, &mut emit);
    }

    fn terms_of(&self, tokens: &Tokens, emit: &mut impl FnMut(&str, Option<&str>)) {
        let n = tokens.len();
        let (lo, hi) = self.word_ngrams;
        let (lo, hi) = (lo.max(1) as usize, hi.min(MAX_NGRAM) as usize);
        let mut gram = String::new();
        for len in lo..=hi {
            for start in 0..n.saturating_sub(len - 1) {
                gram.clear();
                for (k, i) in (start..start + len).enumerate() {
                    if k > 0 && !tokens.spans[i].glued {
                        gram.push(' ');
                    }
                    gram.push_str(tokens.get(i));
                }
                emit(&gram, None);
            }
        }
        // Chinese and Japanese are written without spaces: a run's character pairs stand for
        // its words. Word bigrams give them when they are asked for; otherwise they are added.
        // A segmenter's words are words already.
        if !(lo..=hi).contains(&2) {
            for i in 1..n {
                if tokens.spans[i].glued && tokens.spans[i].kind == Kind::Cjk && tokens.spans[i - 1].kind == Kind::Cjk {
                    gram.clear();
                    gram.push_str(tokens.get(i - 1));
                    gram.push_str(tokens.get(i));
                    emit(&gram, None);
                }
            }
        }
        if let Some((lo, hi)) = self.char_ngrams {
            let (lo, hi) = (lo.max(1) as usize, hi.min(MAX_NGRAM) as usize);
            let mut padded: Vec<char> = Vec::new();
            for i in 0..n {
                if tokens.spans[i].kind != Kind::Word {
                    continue;
                }
                padded.clear();
                padded.push(' ');
                padded.extend(tokens.get(i).chars());
                padded.push(' ');
                for len in lo..=hi {
                    // As scikit-learn: a word shorter than the n-gram gives itself once.
                    let windows = padded.len().saturating_sub(len) + 1;
                    for start in 0..windows {
                        gram.clear();
                        gram.push(CHAR_NGRAM_MARK);
                        gram.extend(&padded[start..(start + len).min(padded.len())]);
                        emit(&gram, Some(tokens.get(i)));
                    }
                    if padded.len() <= len {
                        break;
                    }
                }
            }
        }
    }
}

/// Lower case, with the typographic apostrophes folded to `'`.
fn lower_and_fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{FF07}' => out.push('\''),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn emoticon(chunk: &str) -> Option<&'static str> {
    let &first = EMOTICONS.iter().find(|e| chunk.starts_with(**e))?;
    let last = first.chars().last()?;
    chunk[first.len()..].chars().all(|c| c == last).then_some(first)
}

/// Where a URL starts in a chunk (it runs to the chunk's end).
fn find_url(chunk: &str) -> Option<usize> {
    // Every address has a ':' (a scheme) or a '.' (`www.`); most words have neither, and
    // this runs for every word of every text.
    if !chunk.bytes().any(|b| b == b':' || b == b'.') {
        return None;
    }
    let scheme = ["http://", "https://"].iter().filter_map(|p| chunk.find(p)).min();
    // `www.` only where a word starts: `awww...` is no address.
    let www = chunk.match_indices("www.").map(|(at, _)| at).find(|&at| !chunk[..at].chars().next_back().is_some_and(char::is_alphanumeric));
    match (scheme, www) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Han ideographs, Hiragana and Katakana: scripts written without spaces between words.
/// Hangul is not here: Korean puts spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005 | 0x3007          // 々 〇
        | 0x3040..=0x30FF        // Hiragana, Katakana (with ー)
        | 0x31F0..=0x31FF        // Katakana phonetic extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xF900..=0xFAFF        // compatibility ideographs
        | 0xFF66..=0xFF9F        // half-width Katakana (NFKC widens them; kept for safety)
        | 0x20000..=0x3134F) // extensions B to G
}

/// Han ideographs (with 々 and 〇, which stand for them): the runs a segmenter cuts.
fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3005 | 0x3007 | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Emoji and pictographs (the blocks of Extended_Pictographic that matter in text).
fn is_pictographic(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x231A..=0x23FF | 0x2190..=0x21FF | 0x3030 | 0x303D)
}

/// Presentation selectors and skin tones: `👍🏽` and `👍` are one term.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_only() -> Tokenizer {
        Tokenizer { char_ngrams: None, ..Tokenizer::default() }
    }

    fn terms(t: &Tokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        t.for_each_term(text, |s| out.push(s.to_string()));
        out
    }

    fn words(text: &str) -> Vec<String> {
        Tokenizer::default().tokens(text).iter().map(str::to_string).collect()
    }

    #[test]
    fn words_are_lowered_normalised_and_paired() {
        let t = words_only();
        assert_eq!(terms(&t, "Ｇreat FLIGHT"), ["great", "flight", "great flight"]);
        assert_eq!(words("Don’t   cancel, won't you?"), ["dont", "cancel", "wont", "you", "?"]);
        assert_eq!(words("3.5 hours, 1,000 miles"), ["3.5", "hours", "1,000", "miles"]);
    }

    #[test]
    fn tweets_mentions_hashtags_urls_emoji() {
        assert_eq!(words("@United thanks!!! #BestAirline 😍😍 http://t.co/xYz :))"), ["@united", "thanks", "!", "bestairline", "😍", "😍", "<url>", ":)"]);
        assert_eq!(words("mail me at a@b.com 👍🏽"), ["mail", "me", "at", "a", "b.com", "👍"]);
        assert_eq!(words("see:https://x.io/a"), ["see", "<url>"]);
        let generic = Tokenizer { mentions: Mentions::Generic, ..words_only() };
        assert_eq!(terms(&generic, "@jetblue hi")[..2], ["@user", "hi"]);
        let dropped = Tokenizer { mentions: Mentions::Drop, ..words_only() };
        assert_eq!(terms(&dropped, "@jetblue hi"), ["hi"]);
    }

    #[test]
    fn cjk_runs_give_characters_and_pairs_hangul_gives_words() {
        let t = Tokenizer { word_ngrams: (1, 1), ..words_only() };
        assert_eq!(terms(&t, "東京へ行く"), ["東", "京", "へ", "行", "く", "東京", "京へ", "へ行", "行く"]);
        // With word pairs asked for, the pairs come from them and are not repeated.
        let pairs = terms(&words_only(), "東京 ok");
        assert_eq!(pairs, ["東", "京", "ok", "東京", "京 ok"]);
        // Character n-grams are taken from spaced words only.
        let with_chars = terms(&Tokenizer::default(), "東京 ok");
        assert_eq!(with_chars[5..], ["~ ok", "~ok ", "~ ok "]);
        assert_eq!(words("좋은 서비스 감사합니다"), ["좋은", "서비스", "감사합니다"]);
        assert_eq!(words("カタカナ"), ["カ", "タ", "カ", "ナ"]);
    }

    #[test]
    fn jieba_cuts_han_runs_into_words_when_asked() {
        let bigrams = Tokenizer { word_ngrams: (1, 1), ..words_only() };
        let jieba = Tokenizer { segmenter: Segmenter::Jieba, ..bigrams.clone() };
        assert_eq!(terms(&bigrams, "退款被拒绝"), ["退", "款", "被", "拒", "绝", "退款", "款被", "被拒", "拒绝"]);
        // A segmenter's words are not paired again.
        assert_eq!(terms(&jieba, "申请退款被拒绝"), ["申请", "退款", "被", "拒绝"]);
        let pairs = Tokenizer { word_ngrams: (1, 2), ..jieba.clone() };
        assert_eq!(terms(&pairs, "申请退款被拒绝")[4..], ["申请退款", "退款被", "被拒绝"]);
        // Only Han runs: spaced words, punctuation and kana read as before.
        let t = Tokenizer { segmenter: Segmenter::Jieba, ..Tokenizer::default() };
        assert_eq!(t.tokens("iPhone屏幕坏了!").iter().collect::<Vec<_>>(), ["iphone", "屏幕", "坏", "了", "!"]);
        assert_eq!(t.tokens("東京へ行く").iter().collect::<Vec<_>>(), ["東京", "へ", "行", "く"]);
        assert_eq!(t.tokens("快递，客服").iter().collect::<Vec<_>>(), ["快递", "客服"]);
    }

    #[test]
    fn the_segmenter_option_names_its_values() {
        assert_eq!(Segmenter::from_json(&serde_json::json!("jieba")).unwrap(), Segmenter::Jieba);
        assert_eq!(Segmenter::from_json(&serde_json::json!("Bigrams")).unwrap(), Segmenter::Bigrams);
        for bad in [serde_json::json!("mecab"), serde_json::json!(1), serde_json::Value::Null] {
            let message = Segmenter::from_json(&bad).unwrap_err().to_string();
            assert!(message.contains("options.segmenter") && message.contains("'bigrams', 'jieba'"), "{message}");
        }
    }

    #[test]
    fn character_ngrams_inside_words_as_char_wb() {
        let t = Tokenizer { word_ngrams: (1, 1), char_ngrams: Some((2, 3)), ..Tokenizer::default() };
        let got = terms(&t, "ab");
        assert_eq!(got, ["ab", "~ a", "~ab", "~b ", "~ ab", "~ab "]);
        // A word shorter than the n-gram gives itself once.
        let t = Tokenizer { word_ngrams: (1, 1), char_ngrams: Some((4, 5)), ..Tokenizer::default() };
        assert_eq!(terms(&t, "a"), ["a", "~ a "]);
    }

    #[test]
    fn character_ngrams_name_their_word() {
        let t = Tokenizer { word_ngrams: (1, 1), char_ngrams: Some((5, 5)), ..Tokenizer::default() };
        let mut seen = Vec::new();
        t.for_each_term_with_source("ab cd", |term, source| seen.push((term.to_string(), source.map(str::to_string))));
        assert_eq!(seen[0], ("ab".to_string(), None));
        assert_eq!(seen[2], ("~ ab ".to_string(), Some("ab".to_string())));
        assert_eq!(seen[3], ("~ cd ".to_string(), Some("cd".to_string())));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let t = Tokenizer { char_ngrams: Some((1, 5)), word_ngrams: (1, 3), ..Tokenizer::default() };
        let long = "x".repeat(100_000);
        let cases = [
            "",
            " ",
            "\u{0}\u{1}\u{7f}\t\r\n",
            "@",
            "#",
            "@@##!!??",
            "http://",
            "\u{FEFF}\u{200B}\u{200D}\u{FE0F}",
            "👨‍👩‍👧‍👦🏳️‍🌈",
            "e\u{301}\u{301}\u{301}",
            "\u{10FFFF}\u{E000}",
            "𠀀𠀁",
            long.as_str(),
        ];
        for case in cases {
            let _ = terms(&t, case);
        }
        assert!(terms(&t, "").is_empty());
        assert_eq!(terms(&t, &long).len(), 1 + (100_002 * 5 - 10));
    }

    #[test]
    fn settings_are_checked() {
        assert!(Tokenizer::default().check().is_none());
        assert!(Tokenizer { word_ngrams: (2, 1), ..Tokenizer::default() }.check().is_some());
        assert!(Tokenizer { char_ngrams: Some((0, 3)), ..Tokenizer::default() }.check().is_some());
    }
}
