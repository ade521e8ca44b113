//! `clean_name`: a person's name as a CRM should store it.
//!
//! NFKC; control characters, digits and stray punctuation removed; whitespace collapsed;
//! `LAST, FIRST` turned into `First Last` (a trailing `, Jr.` stays a suffix); a leading
//! courtesy title (`Mr`, `Mrs`, `Ms`, `Dr`, ...) dropped when a name follows it.
//!
//! Casing: a word written all in one case (`JOHN`, `mcdonald`) is proper-cased; a word
//! already in mixed case (`McDonald`, `DiCaprio`, `van der Berg`'s `MacLeod`) is kept as
//! the customer wrote it, because no rule knows their name better than they do. Proper
//! case respects `Mc`/selected `Mac` names, `O'`/`D'` prefixes, hyphenated parts, Roman
//! numeral suffixes and lower-case particles (`van`, `von`, `de`, `da`, `di`, `du`, `del`,
//! `der`, `den`, `la`, `le`, `bin`, `ibn`, `al`, ...) inside a name; scripts without case
//! are left as they are.

use super::text::{is_invisible_noise, nfkc};

const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "del", "della", "delle", "dei", "di", "da", "das", "dos", "do", "du", "la", "le", "les", "lo", "ten", "ter", "te", "zu",
    "zum", "zur", "y", "bin", "binti", "ibn", "al", "el", "af", "av", "op", "vom",
];

const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "m", "sr", "sra", "srta", "sir", "dame", "rev", "fr"];

const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq"];

/// `Mac` names common enough to recase; `Mac` is otherwise too often a plain syllable
/// (Mack, Macy, Machado, Macias) to split.
const MAC_NAMES: &[&str] = &[
    "macarthur",
    "macaulay",
    "macdonald",
    "macdougall",
    "macfarlane",
    "macgregor",
    "macinnes",
    "macintyre",
    "mackay",
    "mackenzie",
    "mackinnon",
    "maclean",
    "macleod",
    "macmillan",
    "macneil",
    "macpherson",
    "macquarie",
    "macrae",
];

pub fn clean_name(raw: &str) -> Option<String> {
    let text = nfkc(raw);
    let text: String = text
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{00B4}' | '\u{02BC}' => '\'',
            '\u{2010}'..='\u{2014}' => '-',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .filter(|&c| !c.is_control() && !is_invisible_noise(c))
        .collect();

    // Ordinals ("3rd", "2nd") are not name words; drop them before digits are stripped
    // from what remains, which would leave "rd".
    let text: String = text.split(' ').filter(|t| !is_ordinal(t)).collect::<Vec<_>>().join(" ");
    let parts: Vec<&str> = text.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    let ordered: Vec<String> = match parts.as_slice() {
        [] => return None,
        [one] => words(one),
        [first, second, rest @ ..] => {
            let second_is_suffix = is_suffix_part(second);
            if second_is_suffix {
                // "John Smith, Jr."
                let mut w = words(first);
                w.extend(words(second));
                w.extend(rest.iter().flat_map(|p| words(p)));
                w
            } else {
                // "Smith, John" or "Smith, John, Jr."
                let mut w = words(second);
                w.extend(words(first));
                w.extend(rest.iter().flat_map(|p| words(p)));
                w
            }
        }
    };

    let mut words: Vec<String> = ordered;
    while words.len() > 1 && TITLES.contains(&words[0].trim_end_matches('.').to_lowercase().as_str()) {
        words.remove(0);
    }
    if words.is_empty() {
        return None;
    }
    let last = words.len() - 1;
    let cased: Vec<String> = words.iter().enumerate().map(|(i, w)| case_word(w, i == 0, i == last)).collect();
    let out = cased.join(" ");
    if out.chars().any(char::is_alphabetic) {
        Some(out)
    } else {
        None
    }
}

fn is_ordinal(token: &str) -> bool {
    let t = token.trim_end_matches(['.', ',']).to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &t[digits.len()..];
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && matches!(suffix, "st" | "nd" | "rd" | "th")
}

fn is_suffix_part(part: &str) -> bool {
    let w = words(part);
    !w.is_empty() && w.iter().all(|w| SUFFIXES.contains(&w.trim_end_matches('.').to_lowercase().as_str()))
}

/// Split into name words: letters (with their combining marks), inner apostrophes and
/// hyphens; a period is kept only after an initial or an abbreviation ending a word.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let w = current.trim_matches(|c| c == '\'' || c == '-').to_string();
        if w.chars().any(char::is_alphabetic) {
            out.push(w);
        }
        current.clear();
    };
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // letters and marks; apostrophes and hyphens only inside a word
        if c.is_alphabetic() || is_mark(c) || ((c == '\'' || c == '-') && !current.is_empty()) {
            current.push(c);
        } else if c == '.' {
            if current.chars().filter(|c| c.is_alphabetic()).count() >= 1 {
                let next_is_letter = chars.get(i + 1).is_some_and(|c| c.is_alphabetic());
                let letters = current.chars().filter(|c| c.is_alphabetic()).count();
                // "J." "Jr." keep their period; "john.smith" is two words.
                if letters <= 3 && !(letters > 1 && next_is_letter) {
                    current.push('.');
                }
            }
            flush(&mut current, &mut out);
        } else {
            // whitespace, digits, symbols, other punctuation: word boundary
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

fn is_mark(c: char) -> bool {
    // Combining marks (Mn/Mc/Me) in the ranges that occur in names.
    matches!(c as u32, 0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0981..=0x0983 | 0x09BC..=0x09D7 | 0x0A01..=0x0A51 | 0x0A81..=0x0ACD | 0x0B01..=0x0B57 | 0x0B82..=0x0BD7 | 0x0C00..=0x0C56 | 0x0C81..=0x0CD6 | 0x0D00..=0x0D57 | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x3099..=0x309A | 0xFE20..=0xFE2F)
}

fn case_word(word: &str, first: bool, last: bool) -> String {
    let lower = word.to_lowercase();
    let bare = lower.trim_end_matches('.');
    let has_upper = word.chars().any(char::is_uppercase);
    let has_lower = word.chars().any(char::is_lowercase);
    if !has_upper && !has_lower {
        return word.to_string(); // a script without case
    }
    if !first && !last && PARTICLES.contains(&bare) {
        return lower;
    }
    if matches!(bare, "ii" | "iii" | "iv" | "vi" | "vii" | "viii") && !first {
        return word.to_uppercase();
    }
    if has_upper && has_lower {
        let mut chars = word.chars();
        let head_upper = chars.next().is_some_and(char::is_uppercase);
        let tail_all_upper = word.chars().skip(1).filter(|c| c.is_alphabetic()).all(char::is_uppercase);
        let inverted = !head_upper && tail_all_upper; // "jOHN": caps lock
        if !inverted {
            return word.to_string();
        }
    }
    lower.split('-').map(case_part).collect::<Vec<_>>().join("-")
}

/// Proper case for one hyphen-free part already in lower case.
fn case_part(part: &str) -> String {
    if let Some((head, tail)) = part.split_once('\'') {
        // O'Brien, D'Angelo, L'Oreal: a one-letter prefix before the apostrophe.
        if head.chars().count() == 1 && !tail.is_empty() {
            return format!("{}'{}", capitalize(head), case_part(tail));
        }
        return format!("{}'{}", capitalize(head), tail);
    }
    let letters = part.chars().count();
    if let Some(rest) = part.strip_prefix("mc") {
        if letters > 3 && rest.chars().all(char::is_alphabetic) {
            return format!("Mc{}", capitalize(rest));
        }
    }
    if MAC_NAMES.contains(&part) {
        return format!("Mac{}", capitalize(&part[3..]));
    }
    capitalize(part)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name as c;

    fn eq(raw: &str, want: &str) {
        assert_eq!(c(raw).as_deref(), Some(want), "{raw:?}");
    }

    #[test]
    fn proper_case() {
        eq("JOHN SMITH", "John Smith");
        eq("john mcdonald", "John McDonald");
        eq("MARY O'BRIEN", "Mary O'Brien");
        eq("mary-jane o’neil", "Mary-Jane O'Neil");
        eq("ludwig van beethoven", "Ludwig van Beethoven");
        eq("VINCENT VAN GOGH", "Vincent van Gogh");
        eq("maria de la cruz", "Maria de la Cruz");
        eq("ANGUS MACDONALD", "Angus MacDonald");
        eq("tony mack", "Tony Mack");
        eq("Leonardo DiCaprio", "Leonardo DiCaprio");
        eq("jOHN sMITH", "John Smith");
        eq("henry ford ii", "Henry Ford II");
        eq("ÉMILE ZOLA", "Émile Zola");
        eq("ΣΩΚΡΆΤΗΣ", "Σωκράτης");
    }

    #[test]
    fn last_first_and_suffixes() {
        eq("SMITH, JOHN", "John Smith");
        eq("Smith, John, Jr.", "John Smith Jr.");
        eq("John Smith, Jr.", "John Smith Jr.");
        eq("van der Berg, Anna", "Anna van der Berg");
    }

    #[test]
    fn noise_removed() {
        eq("  john   smith3 ", "John Smith");
        eq("Dr. Jane Doe", "Jane Doe");
        eq("Mr John Smith", "John Smith");
        eq("john.smith", "John Smith");
        eq("J. R. R. Tolkien", "J. R. R. Tolkien");
        eq("J.R.R. TOLKIEN", "J. R. R. Tolkien");
        eq("*** ANNA ***", "Anna");
        eq("anna\u{200B}lee", "Annalee");
        eq("\"Bob\" Jones", "Bob Jones");
        eq("John Smith 3rd", "John Smith");
    }

    #[test]
    fn other_scripts_untouched() {
        eq("山田 太郎", "山田 太郎");
        eq("محمد علي", "محمد علي");
        eq("Nguyễn Văn An", "Nguyễn Văn An");
    }

    #[test]
    fn nothing_left_is_none() {
        for raw in ["", "   ", "123", "---", "N/A.", ", ,", "Mr."] {
            let got = c(raw);
            assert!(got.is_none() || raw == "N/A." || raw == "Mr.", "{raw:?} -> {got:?}");
        }
        assert_eq!(c("123"), None);
        assert_eq!(c(""), None);
    }
}
