//! Postal addresses: `parse_address` (components), `normalize_address` (a form for
//! matching, abbreviations expanded) and `address_key` (for blocking).
//!
//! Two parsers, chosen by script:
//! - Latin and other spaced scripts: the text is cut into parts at commas (and ` - `,
//!   newlines, semicolons); the country, postcode and state are taken from the end, the
//!   street (number-first as in the US, GB, AU, FR, or number-after as in DE, NL, BR) from
//!   the first part that holds one, the city from what is left next to the postcode or
//!   from the last unclaimed part.
//! - Chinese, Japanese and Korean: largest unit first and usually no spaces, so the text
//!   is read left to right by the suffix that ends each unit (省/都/道/특별시, 市/시,
//!   区/구, 路/로, 号/번지).
//!
//! Values are as written (case and spelling kept, whitespace collapsed, surrounding
//! punctuation dropped) except `postcode` (`clean_postcode`'s national format) and
//! `country` (the ISO alpha-2 code, present only when the text names a country). Like
//! every cleaner, total: any text in, components or `None` out, never a panic.

use super::address_tables::{forms, state_countries, WordForms, FLOOR_WORDS, KR_SHORT_STATES, STREET_SUFFIXES_DE_NL};
use super::country::{country_named_words, Country};
use super::postcode::{clean_postcode, formatted_postcode, Formatted};
use super::text::with_joined;
use smallvec::{smallvec, SmallVec};
use std::borrow::Cow;

/// Longer text is not one postal address; bounds the work on hostile input.
const MAX_INPUT_BYTES: usize = 1024;

/// The words of one comma-separated part of an address: on the stack for the usual part
/// (an address is parsed in a few microseconds, and allocations were a sixth of that).
type Words<'a> = SmallVec<[&'a str; 6]>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub house_number: Option<String>,
    pub road: Option<String>,
    pub unit: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
}

impl Address {
    /// The components found, keys in alphabetical order (jsonb's own order).
    pub fn components(&self) -> Vec<(&'static str, &str)> {
        keyed_components([&self.city, &self.country, &self.house_number, &self.postcode, &self.road, &self.state, &self.unit]).collect()
    }

    /// The components found, owned, keys in alphabetical order.
    pub fn into_components(self) -> impl Iterator<Item = (&'static str, String)> {
        [
            ("city", self.city),
            ("country", self.country),
            ("house_number", self.house_number),
            ("postcode", self.postcode),
            ("road", self.road),
            ("state", self.state),
            ("unit", self.unit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// The components while an address is parsed: borrowed from the text where a value is one
/// word of it, so that `normalize_address` and `address_key` write their line without a copy
/// of each component (the copies and their frees were a tenth of a call).
#[derive(Default)]
struct Components<'a> {
    house_number: Option<Cow<'a, str>>,
    road: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    city: Option<Cow<'a, str>>,
    state: Option<Cow<'a, str>>,
    postcode: Option<Cow<'a, str>>,
    country: Option<Cow<'a, str>>,
}

impl Components<'_> {
    fn is_empty(&self) -> bool {
        [&self.house_number, &self.road, &self.unit, &self.city, &self.state, &self.postcode, &self.country].iter().all(|v| v.is_none())
    }

    fn into_address(self) -> Address {
        Address {
            house_number: self.house_number.map(Cow::into_owned),
            road: self.road.map(Cow::into_owned),
            unit: self.unit.map(Cow::into_owned),
            city: self.city.map(Cow::into_owned),
            state: self.state.map(Cow::into_owned),
            postcode: self.postcode.map(Cow::into_owned),
            country: self.country.map(Cow::into_owned),
        }
    }
}

impl From<Address> for Components<'_> {
    fn from(a: Address) -> Self {
        Components {
            house_number: a.house_number.map(Cow::Owned),
            road: a.road.map(Cow::Owned),
            unit: a.unit.map(Cow::Owned),
            city: a.city.map(Cow::Owned),
            state: a.state.map(Cow::Owned),
            postcode: a.postcode.map(Cow::Owned),
            country: a.country.map(Cow::Owned),
        }
    }
}

/// The components of a free-text postal address; `country` (when known) decides the
/// postcode format and the street order, else they are inferred from the text.
pub fn parse_address(raw: &str, country: Option<Country>) -> Option<Address> {
    with_components(raw, country, |c| c.into_address())
}

/// The keys of an address's components in alphabetical order (jsonb's own order).
const COMPONENT_KEYS: [&str; 7] = ["city", "country", "house_number", "postcode", "road", "state", "unit"];

/// The components found, as (key, value) pairs: `values` in `COMPONENT_KEYS` order.
fn keyed_components<'a, V: AsRef<str> + 'a>(values: [&'a Option<V>; 7]) -> impl Iterator<Item = (&'static str, &'a str)> {
    COMPONENT_KEYS.into_iter().zip(values).filter_map(|(k, v)| v.as_ref().map(|v| (k, v.as_ref())))
}

/// `f` of the components of `raw` as (key, value) pairs, keys in alphabetical order (see
/// `parse_address`): for the SQL function, which copies them into its jsonb anyway, so
/// they are not copied into Strings first. `None` when none are found.
pub fn with_component_pairs<R>(raw: &str, country: Option<Country>, f: impl FnOnce(&[(&'static str, &str)]) -> R) -> Option<R> {
    with_components(raw, country, |c| {
        let pairs: SmallVec<[(&'static str, &str); 7]> =
            keyed_components([&c.city, &c.country, &c.house_number, &c.postcode, &c.road, &c.state, &c.unit]).collect();
        f(&pairs)
    })
}

/// `f` of the components of `raw` (see `parse_address`); `None` when none are found.
fn with_components<R>(raw: &str, country: Option<Country>, f: impl FnOnce(Components<'_>) -> R) -> Option<R> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    // Full-width forms folded (not NFKC: values keep their characters, "5º andar").
    let text = fold_full_width(raw);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let cut;
    let components = if !text.is_ascii() && text.chars().any(is_cjk) {
        east_asian(text, country).map(Components::from)
    } else {
        cut = separators_as_commas(text);
        spaced(&cut, country)
    };
    components.filter(|c| !c.is_empty()).map(f)
}

/// Full-width ASCII (U+FF01–U+FF5E: `１２３`, `（`, `，`) and the ideographic space folded
/// to ASCII; everything else as written.
fn fold_full_width(raw: &str) -> Cow<'_, str> {
    if raw.is_ascii() || !raw.chars().any(|c| matches!(c, '\u{ff01}'..='\u{ff5e}' | '\u{3000}')) {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(
        raw.chars()
            .map(|c| match c {
                '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                '\u{3000}' => ' ',
                other => other,
            })
            .collect(),
    )
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}')
}

/// A value as written: whitespace collapsed, surrounding punctuation dropped; one word is
/// borrowed.
fn tidy<'a>(words: &[&'a str]) -> Option<Cow<'a, str>> {
    if let [word] = words {
        let trimmed = trim_value(word);
        return (!trimmed.is_empty()).then_some(Cow::Borrowed(trimmed));
    }
    let mut joined = String::with_capacity(words.iter().map(|w| w.len() + 1).sum());
    for w in words {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(w);
    }
    let trimmed = trim_value(&joined);
    if trimmed.is_empty() {
        return None;
    }
    // Trimmed in place: one allocation per value.
    let start = trimmed.as_ptr() as usize - joined.as_ptr() as usize;
    let end = start + trimmed.len();
    joined.truncate(end);
    joined.drain(..start);
    Some(Cow::Owned(joined))
}

/// Surrounding punctuation and whitespace dropped, and one trailing dot.
fn trim_value(value: &str) -> &str {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '(' | ')' | '/'));
    trimmed.strip_suffix('.').unwrap_or(trimmed).trim_end()
}

fn has_digit(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_digit())
}

/// A house number as people write one: digits first, at most a letter or two and `-`/`/`
/// after (`12`, `12a`, `12-14`, `1578`); not a postcode-sized run of digits with letters.
fn is_house_number(word: &str) -> bool {
    let w = word.trim_end_matches([',', '.']);
    let w = w.strip_prefix('#').unwrap_or(w);
    // Wisconsin's grid addresses: W156N11500.
    let grid = |w: &str| {
        let b = w.as_bytes();
        b.len() >= 4 && b"NSEW".contains(&b[0]) && b[1].is_ascii_digit() && {
            let second = b.iter().skip(1).position(|c| b"NSEW".contains(c)).map(|i| i + 1);
            second.is_some_and(|i| i + 1 < b.len() && b[1..i].iter().all(u8::is_ascii_digit) && b[i + 1..].iter().all(u8::is_ascii_digit))
        }
    };
    // A grid address starts with a letter, every other number with a digit.
    if !w.starts_with(|c: char| c.is_ascii_digit()) {
        return grid(w);
    }
    w.len() <= 10 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/') && w.bytes().filter(u8::is_ascii_alphabetic).count() <= 2
}

fn strip_number_marks(word: &str) -> &str {
    let w = word.trim_end_matches([',', '.']);
    w.strip_prefix('#').unwrap_or(w)
}

/// Words that mark a number, dropped from it: `No. 5`, `Nr. 5`, `nº 5`.
fn is_number_mark(word: &str) -> bool {
    folded_is_any(word.trim_end_matches('.'), &["no", "nr", "nº", "n°", "núm", "num", "número", "numero", "h.no", "h. no", "hno", "house no"])
}

/// The first of `countries` with a state, province or county named by `words` (folded once
/// for all the countries asked about).
fn state_country(countries: &[&'static str], words: &[&str]) -> Option<&'static str> {
    // The longest name in the tables is 31 bytes ("newfoundland and labrador" and the
    // like, with "county "); states have no digits.
    if words.iter().map(|w| w.len() + 1).sum::<usize>() > 40 || words.iter().any(|w| has_digit(w)) {
        return None;
    }
    with_folded(words, |joined| {
        let joined = joined.trim_end_matches('.');
        let county = joined.strip_prefix("co. ").or_else(|| joined.strip_prefix("co ")).or_else(|| joined.strip_prefix("county "));
        let name = county.unwrap_or(joined);
        // "N.Y.", "D.C.": abbreviations written with dots (no name in the tables has one).
        let named_in = match name.contains('.') {
            true if name.len() <= 6 => state_countries(&name.replace('.', "")),
            true => &[],
            false => state_countries(name),
        };
        // An Irish county is written 'Co. Cork'; 'Cork' alone is the city.
        countries.iter().copied().find(|country| named_in.contains(country) && (*country != "IE" || county.is_some()))
    })
}

/// Whether `word` lower-cased is one of `list` (lower case); an ASCII word is compared in
/// place (most words of an address are asked several such questions).
fn folded_is_any(word: &str, list: &[&str]) -> bool {
    if word.is_ascii() {
        return list.iter().any(|entry| entry.eq_ignore_ascii_case(word));
    }
    let lower = word.to_lowercase();
    list.contains(&lower.as_str())
}

/// Whether `word` lower-cased ends with one of `suffixes` (lower case) with at least `stem`
/// bytes before it; an ASCII word is compared in place.
fn folded_ends_with_any(word: &str, suffixes: &[&str], stem: usize) -> bool {
    if word.is_ascii() {
        let w = word.as_bytes();
        return suffixes.iter().any(|s| w.len() >= s.len() + stem && w[w.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes()));
    }
    let lower = word.to_lowercase();
    suffixes.iter().any(|s| lower.len() >= s.len() + stem && lower.ends_with(s))
}

/// `f` of the words joined by spaces and lower-cased: on the stack for short ASCII text
/// (state names are looked up for several windows of every address).
fn with_folded<R>(words: &[&str], f: impl FnOnce(&str) -> R) -> R {
    with_joined(words, true, f)
}

/// The countries whose states a text may name, when the country is not known: the ones
/// whose addresses end in a state abbreviation.
const STATE_COUNTRIES: &[&str] = &["US", "CA", "AU", "IN", "BR", "DE", "GB", "IE"];

/// Postcode candidates when the country is not known, in the order tried: the shapes
/// that tell their country first.
const POSTCODE_COUNTRIES: &[&str] = &["CA", "GB", "NL", "IE", "BR", "JP", "US", "AU", "IN"];

struct Postcode {
    part: usize,
    start: usize,
    end: usize,
    formatted: Formatted,
    country: &'static str,
}

/// The rightmost run of one or two words in `parts` that is a postcode of `country` (or of
/// a guessed country); the first word of the address is never one (it is a house number).
fn find_postcode(text: &str, parts: &[Words], country: Option<Country>) -> Option<Postcode> {
    let given = country.map(|c| [c]);
    let candidates: &[Country] = match &given {
        Some(one) => one,
        None => {
            static GUESSES: std::sync::OnceLock<Vec<Country>> = std::sync::OnceLock::new();
            GUESSES.get_or_init(|| POSTCODE_COUNTRIES.iter().map(|c| Country::known(c)).collect())
        }
    };
    for (p, words) in parts.iter().enumerate().rev() {
        for end in (1..=words.len()).rev() {
            let last = words[end - 1];
            // A lone 4-digit number is only a postcode where the country is known or it ends
            // the address: otherwise it is likelier a house number.
            let skipped = |c: &Country| country.is_none() && c.alpha2() == "AU" && !(p + 1 == parts.len() && end == words.len());
            // The last word alone as a postcode of each candidate, asked once: two words are a
            // postcode only where the second alone is not one (`SW1A 1AA`, `1012 AB`), and
            // the second alone is tried next.
            let mut alone: [Option<Option<Formatted>>; POSTCODE_COUNTRIES.len()] = Default::default();
            if end >= 2 && !(p == 0 && end == 2 && parts.len() > 1) && words[end - 2..end].iter().any(|w| has_digit(w)) {
                let found = with_pair(text, words[end - 2], words[end - 1], |text| {
                    for (c, alone) in candidates.iter().zip(alone.iter_mut()) {
                        if skipped(c) || alone.get_or_insert_with(|| formatted_postcode(last, *c)).is_some() {
                            continue;
                        }
                        if let Some(formatted) = formatted_postcode(text, *c) {
                            return Some(Postcode { part: p, start: end - 2, end, formatted, country: c.alpha2() });
                        }
                    }
                    None
                });
                if found.is_some() {
                    return found;
                }
            }
            // The first word of the address is never a postcode (it is a house number).
            if !(p == 0 && end == 1 && parts.len() > 1) && has_digit(last) {
                for (c, alone) in candidates.iter().zip(alone.iter_mut()) {
                    if skipped(c) {
                        continue;
                    }
                    if let Some(formatted) = alone.take().unwrap_or_else(|| formatted_postcode(last, *c)) {
                        return Some(Postcode { part: p, start: end - 1, end, formatted, country: c.alpha2() });
                    }
                }
            }
        }
    }
    None
}

/// `f` of two words of `text` joined by a space: the slice of `text` itself where one space
/// stands between them (most pairs; no copy, no UTF-8 check), else a joined copy.
fn with_pair<R>(text: &str, first: &str, second: &str, f: impl FnOnce(&str) -> R) -> R {
    // Both words are slices of `text` (cut by `parts_of`): where their memory is `text`'s,
    // so is their content.
    let base = text.as_ptr() as usize;
    let start = (first.as_ptr() as usize).wrapping_sub(base);
    if start <= text.len() {
        let between = start + first.len();
        let end = between + 1 + second.len();
        if second.as_ptr() as usize == base + between + 1 && text.as_bytes().get(between) == Some(&b' ') {
            if let Some(joined) = text.get(start..end) {
                return f(joined);
            }
        }
    }
    with_joined(&[first, second], false, f)
}

/// Number-after countries: the house number follows the road name.
fn number_after(country: Option<&str>) -> bool {
    matches!(country, Some("DE" | "NL" | "AT" | "CH" | "BE" | "BR" | "ES" | "IT" | "PT" | "PL" | "CZ" | "SE" | "DK" | "NO" | "FI" | "MX" | "AR" | "RU"))
}

/// Labels written before a postcode inside an address ("CEP 01001-000", "PLZ 10115").
fn is_postcode_label(word: &str) -> bool {
    folded_is_any(word.trim_end_matches([':', '.']), &["cep", "zip", "plz", "postcode", "pin", "eircode", "cp"])
}

/// A part that is only a house number: `12`, `#42`, `No. 12`, `H.No. 5-9-22`.
fn bare_number<'a>(words: &[&'a str]) -> Option<&'a str> {
    match *words {
        [n] if is_house_number(n) => Some(strip_number_marks(n)),
        [mark, n] if is_number_mark(mark) && is_house_number(n) => Some(strip_number_marks(n)),
        _ => None,
    }
}

/// A part that is only a unit: "Apt 4B", "Suite 200", "#12", "2nd Floor", "3. OG", "Level 12".
fn unit_part(words: &[&str]) -> bool {
    match words {
        [one] => one.starts_with('#') && one.len() > 1,
        [first, rest @ ..] if rest.len() <= 2 => {
            // "Apt 4B", "Suite 200", "Unit B" (a letter alone is an identifier too).
            let identifier = rest.iter().any(|w| has_digit(w)) || (rest.len() == 1 && rest[0].chars().count() <= 2 && !first.eq_ignore_ascii_case("u"));
            let designator = forms(first.trim_start_matches('#')).unit_designator.is_some() && identifier;
            let floor = rest.len() == 1 && has_digit(first) && folded_is_any(rest[0].trim_end_matches('.'), FLOOR_WORDS);
            designator || floor
        }
        _ => false,
    }
}

/// Romanised Japanese and Korean wards and cities: `Chiyoda-ku`, `Jung-gu`, `Yokohama-shi`.
fn romanised_city(words: &[&str]) -> bool {
    words.len() == 1 && words[0].contains('-') && folded_ends_with_any(words[0], &["-ku", "-gu", "-shi", "-si", "-gun", "-cho", "-machi"], 0)
}

/// `text` with line breaks, semicolons, tabs, bars and a spaced dash (" - ", Brazil's
/// separator) written as commas, in one pass; borrowed when it has none (most text).
fn separators_as_commas(text: &str) -> Cow<'_, str> {
    // One pass over the bytes (a substring search costs more than these short texts).
    let bytes = text.as_bytes();
    // The bytes that start a separator, in a table: a chain of comparisons per byte cost
    // more, and a space is compared further only before a dash's first byte.
    const STARTS: [bool; 256] = {
        let mut starts = [false; 256];
        let mut k = 0;
        while k < 6 {
            starts[b"\n\r;\t| "[k] as usize] = true;
            k += 1;
        }
        starts
    };
    let has_separators = bytes.iter().enumerate().any(|(i, &b)| {
        STARTS[usize::from(b)]
            && (b != b' '
                || (matches!(bytes.get(i + 1), Some(b'-' | 0xe2)) && (bytes[i + 1..].starts_with(b"- ") || bytes[i + 1..].starts_with("– ".as_bytes()))))
    });
    if !has_separators {
        return Cow::Borrowed(text);
    }
    let mut cut = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' | ';' | '\t' | '|' => cut.push(','),
            ' ' if matches!(chars.peek(), Some('-' | '–')) => {
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek() == Some(&' ') {
                    chars.next();
                    chars.next();
                    cut.push(',');
                } else {
                    cut.push(c);
                }
            }
            _ => cut.push(c),
        }
    }
    Cow::Owned(cut)
}

/// The comma-separated parts of `text` as their words (split at whitespace), empty parts
/// dropped, in one pass over the text.
fn parts_of(text: &str) -> SmallVec<[Words<'_>; 4]> {
    let mut parts = SmallVec::new();
    let mut words = Words::new();
    let mut word_start = None;
    if text.is_ascii() {
        // Most addresses: bytes are characters, and decoding them cost a third of this pass.
        for (i, b) in text.bytes().enumerate() {
            // `char::is_whitespace` of an ASCII byte (it includes the vertical tab, which
            // `u8::is_ascii_whitespace` does not).
            if matches!(b, b',' | b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
                if let Some(start) = word_start.take() {
                    words.push(&text[start..i]);
                }
                if b == b',' && !words.is_empty() {
                    parts.push(std::mem::take(&mut words));
                }
            } else if word_start.is_none() {
                word_start = Some(i);
            }
        }
    } else {
        for (i, c) in text.char_indices() {
            if c == ',' || c.is_whitespace() {
                if let Some(start) = word_start.take() {
                    words.push(&text[start..i]);
                }
                if c == ',' && !words.is_empty() {
                    parts.push(std::mem::take(&mut words));
                }
            } else if word_start.is_none() {
                word_start = Some(i);
            }
        }
    }
    if let Some(start) = word_start {
        words.push(&text[start..]);
    }
    if !words.is_empty() {
        parts.push(words);
    }
    parts
}

/// The components of `text` (separators already written as commas).
fn spaced(text: &str, country: Option<Country>) -> Option<Components<'_>> {
    let mut out = Components::default();
    let mut parts = parts_of(text);
    if parts.is_empty() {
        return None;
    }

    // The country, written last.
    let mut known = country.map(Country::alpha2);
    if parts.len() > 1 || parts[0].len() > 2 {
        let last = parts.len() - 1;
        let words = &parts[last];
        for take in (1..=words.len().min(4)).rev() {
            if take == words.len() && parts.len() == 1 {
                continue;
            }
            let tail = &words[words.len() - take..];
            // A country's name has no digits (and most addresses end in a postcode).
            if tail.iter().any(|w| has_digit(w)) {
                continue;
            }
            if let Some(c) = country_named_words(tail) {
                out.country = Some(Cow::Borrowed(c.alpha2()));
                known = known.or(Some(c.alpha2()));
                let keep = words.len() - take;
                parts[last].truncate(keep);
                if parts[last].is_empty() {
                    parts.pop();
                }
                break;
            }
        }
    }
    if parts.is_empty() {
        return Some(out);
    }

    // The postcode; the city may follow it ("10115 Berlin"), a label may precede it.
    let postcode = find_postcode(text, &parts, known.map(Country::known));
    let mut city_after: Option<Words> = None;
    let mut anchor: Option<usize> = None;
    let found_postcode = postcode.is_some();
    if let Some(pc) = postcode {
        known = known.or(Some(pc.country));
        let words = std::mem::take(&mut parts[pc.part]);
        // A postcode already written in its format ("62704", "SW1A 1AA" is two words) is
        // borrowed from the text.
        out.postcode = Some(match words[pc.start..pc.end] {
            [word] if word.as_bytes() == pc.formatted.as_bytes() => Cow::Borrowed(word),
            _ => Cow::Owned(pc.formatted.written()),
        });
        let mut before: Words = words[..pc.start].into();
        while before.last().is_some_and(|w| is_postcode_label(w)) {
            before.pop();
        }
        let after: Words = words[pc.end..].into();
        if !after.is_empty() {
            city_after = Some(after);
        }
        parts[pc.part] = before;
        anchor = Some(pc.part);
    }

    // The state: the words just before the postcode (in its part, or ending the part
    // before when the postcode stands alone), else the end of the last part.
    let mut places: SmallVec<[(usize, usize); 2]> = SmallVec::new();
    match anchor {
        Some(p) if !parts[p].is_empty() => places.push((p, parts[p].len())),
        Some(p) if p > 0 => places.push((p - 1, parts[p - 1].len())),
        _ => {}
    }
    let last = parts.len() - 1;
    let already = places.iter().any(|&(p, _)| p == last);
    // One part without a postcode: a state may end it ("1225 Railroad Ave Bellingham WA")
    // when it is not a street-type word ("12 Elm Ct").
    let street_only = last == 0
        && !found_postcode
        && (parts[0].len() < 4
            || parts[0].last().is_some_and(|w| {
                let f = forms(w);
                f.street_type.is_some() || f.unit_designator.is_some()
            }));
    if !(already || parts[last].is_empty() || street_only) {
        places.push((last, parts[last].len()));
    }
    let one_country;
    let countries: &[&str] = match known {
        Some(c) => {
            one_country = [c];
            &one_country
        }
        None => STATE_COUNTRIES,
    };
    let mut state_part: Option<(usize, bool)> = None; // (part, the whole part was the state)
    'places: for (sp, send) in places {
        for take in (1..=send.min(4)).rev() {
            // Never the whole street part.
            if sp == 0 && take == send {
                continue;
            }
            let words = &parts[sp][send - take..send];
            // "Salvador/BA": a city and its state in one word.
            if take == 1 {
                if let Some((city, st)) = words[0].rsplit_once('/') {
                    if let Some(c) = state_country(countries, &[st]) {
                        out.state = Some(Cow::Borrowed(st));
                        known = known.or(Some(c));
                        if !city.is_empty() {
                            city_after = city_after.or_else(|| Some(smallvec![city]));
                        }
                        parts[sp].truncate(send - 1);
                        state_part = Some((sp, send == 1));
                        break 'places;
                    }
                }
            }
            if let Some(c) = state_country(countries, words) {
                out.state = tidy(words);
                known = known.or(Some(c));
                parts[sp].truncate(send - take);
                state_part = Some((sp, take == send));
                break 'places;
            }
        }
    }
    let anchor = anchor.or(state_part.map(|(p, _)| p));
    // The parts left, by index into `parts` (the words are not moved).
    let mut indexed: SmallVec<[usize; 4]> = (0..parts.len()).filter(|&p| !parts[p].is_empty()).collect();

    // Units written as a part of their own ("Apt 4B", "Flat 3", "2nd Floor"), and a
    // leading "#42" (a house number in India) is left for the street.
    let mut k = 0;
    while k < indexed.len() {
        let is_first_number = k == 0 && bare_number(&parts[indexed[k]]).is_some();
        let words = &parts[indexed[k]];
        if out.unit.is_none() && !is_first_number && unit_part(words) {
            out.unit = tidy(words);
            indexed.remove(k);
        } else if out.unit.is_none() && k > 0 && words.len() > 2 && unit_part(&words[..2]) && !has_digit(words[2]) {
            // "Apt B Lakeland": a unit, then the city, without a comma between them.
            out.unit = tidy(&words[..2]);
            parts[indexed[k]].drain(..2);
            k += 1;
        } else {
            k += 1;
        }
    }
    // Romanised Japanese and Korean: the ward or city is named with its suffix, the
    // prefecture or metropolis stands before the postcode.
    let romanised = indexed.iter().position(|&i| romanised_city(&parts[i]));
    if let Some(r) = romanised {
        out.city = tidy(&parts[indexed[r]]);
        indexed.remove(r);
        if out.state.is_none() {
            if let Some(a) = anchor.and_then(|a| indexed.iter().position(|&i| i == a)) {
                out.state = tidy(&parts[indexed[a]]);
                indexed.remove(a);
            }
        }
    }
    if indexed.is_empty() {
        if out.city.is_none() {
            out.city = city_after.and_then(|w| tidy(&w));
        }
        return Some(out);
    }
    let number_part = indexed.iter().position(|&i| parts[i].iter().any(|x| is_house_number(x)));
    let any_number = number_part.is_some();
    // "Chicago, IL 60606": one part left, no number and no street word: the city.
    if !any_number
        && indexed.len() == 1
        && city_after.is_none()
        && out.city.is_none()
        && !parts[indexed[0]].iter().any(|w| forms(w).street_type.is_some() || is_de_nl_road(w))
    {
        out.city = tidy(&parts[indexed[0]]);
        return Some(out);
    }

    // The street: the first part with a house number (or the first part).
    let first = &parts[indexed[0]];
    let first_is_road = first.len() > 1 && number_part != Some(0) && first.iter().skip(1).any(|w| forms(w).street_type.is_some());
    // Without a number, the road is the first part that reads like one ("The Old Rectory,
    // Church Lane, …": a building's name comes first).
    let road_like =
        |w: &Words| w.len() > 1 && (w.last().is_some_and(|x| forms(x).street_type.is_some() || is_de_nl_road(x)) || forms(w[0]).street_prefix.is_some());
    let street_index = match number_part.filter(|&i| i <= 1 && !first_is_road) {
        // "Av. Paulista, 1578": the road is the part before its number.
        Some(i) if i > 0 && bare_number(&parts[indexed[i]]).is_some() => i - 1,
        Some(i) => i,
        None => indexed.iter().position(|&i| Some(i) != anchor && road_like(&parts[i])).unwrap_or(0),
    };
    let street_part = indexed[street_index];
    let street_words = &parts[street_part];
    let mut used: SmallVec<[usize; 2]> = smallvec![street_index];
    // The city may have to come from the street part's end (no commas before it).
    let city_elsewhere = city_after.is_some() || out.city.is_some() || indexed.iter().any(|&i| i != street_part);
    let mut leftover = Words::new();
    if let Some(number) = bare_number(street_words) {
        // "12, rue de Rivoli", "#42, 100 Feet Road", "No. 12, Anna Salai": the road is next.
        out.house_number = Some(Cow::Borrowed(number));
        if let Some(&i) = indexed.get(street_index + 1) {
            if Some(i) != anchor || indexed.len() > street_index + 2 {
                // The whole next part is the road, digits included ("100 Feet Road").
                out.road = tidy(&parts[i]);
                used.push(street_index + 1);
            }
        }
    } else {
        leftover = street(street_words, known, city_elsewhere, &mut out);
        // "Av. Paulista, 1578": a bare number after a road without one.
        if out.house_number.is_none() {
            if let Some(&i) = indexed.get(street_index + 1) {
                if let Some(number) = bare_number(&parts[i]).filter(|_| Some(i) != anchor) {
                    out.house_number = Some(Cow::Borrowed(number));
                    used.push(street_index + 1);
                }
            }
        }
    }
    if known == Some("JP") && romanised.is_some() {
        // A Japanese town (Marunouchi) is not a road.
        out.road = None;
    }

    // The city: after the postcode ("10115 Berlin"), else what is left before the state or
    // postcode in their part, else the street part's leftover (no commas), else the last
    // unclaimed part.
    if out.city.is_none() {
        let anchor_words = anchor.filter(|a| *a != street_part).and_then(|a| indexed.iter().find(|&&i| i == a)).map(|&i| &parts[i]);
        out.city = if let Some(words) = city_after {
            tidy(&words)
        } else if let Some(words) = anchor_words {
            tidy(words)
        } else if !leftover.is_empty() {
            tidy(&leftover)
        } else {
            indexed.iter().enumerate().rev().find(|&(k, &i)| !used.contains(&k) && i != street_part).and_then(|(_, &i)| tidy(&parts[i]))
        };
    }
    // "350 Fifth Avenue, New York": without a postcode, a state name standing alone where
    // the city belongs is the city of that name.
    if out.city.is_none() && !found_postcode && state_part.is_some_and(|(_, whole)| whole) && out.state.as_ref().is_some_and(|s| s.len() > 3) {
        out.city = out.state.take();
    }
    Some(out)
}

/// Parses one street part into `out` (house number, road, unit); returns the words after
/// the road that belong to no component here (the city when the address has no commas).
/// `whole_part`: the part holds the street only (the city is elsewhere), so the road runs
/// to its end ("4500 US Highway 1", "3355 Las Vegas Blvd South").
fn street<'a>(words: &[&'a str], country: Option<&str>, whole_part: bool, out: &mut Components<'a>) -> Words<'a> {
    let mut words: Words<'a> = words.into();
    // A unit inside the street part: "Apt 4B", "Suite 200", "Suite A", "#12", "3rd Floor";
    // the road ends where it stood.
    let mut unit_at: Option<usize> = None;
    let mut k = 0;
    while k < words.len() {
        let w = words[k];
        // Looked up only where a unit may start (most words are not asked).
        let designator = if out.unit.is_none() && k > 0 && k + 1 < words.len() { forms(w).unit_designator.filter(|_| w != "#") } else { None };
        if out.unit.is_none() && k > 0 && w.starts_with('#') && w.len() > 1 && has_digit(w) {
            out.unit = Some(Cow::Borrowed(w.trim_end_matches([',', '.'])));
            words.remove(k);
            unit_at = Some(k);
            continue;
        }
        let identifier = |next: &str| has_digit(next) || (next.len() <= 2 && next.chars().all(|c| c.is_ascii_alphabetic()) && designator.is_some());
        if out.unit.is_none() && k > 0 && (w == "#" || designator.is_some()) && k + 1 < words.len() && identifier(words[k + 1]) && !is_number_mark(w) {
            // "u" alone is a unit only before a slash form (AU "U 5/12"); skip it here.
            if !w.eq_ignore_ascii_case("u") {
                out.unit = tidy(&words[k..k + 2]);
                words.drain(k..k + 2);
                unit_at = Some(k);
                continue;
            }
        }
        if out.unit.is_none() && k > 0 && k + 1 < words.len() && has_digit(w) && folded_is_any(words[k + 1].trim_end_matches('.'), &["floor", "fl", "flr"]) {
            out.unit = tidy(&words[k..k + 2]);
            words.drain(k..k + 2);
            unit_at = Some(k);
            continue;
        }
        k += 1;
    }
    // A leading unit designator before the number: "Unit 5 12 Smith St", "Apt 4 123 Main".
    if words.len() >= 3 && forms(words[0]).unit_designator.is_some() && !is_number_mark(words[0]) && has_digit(words[1]) && is_house_number(words[2]) {
        out.unit = tidy(&words[..2]);
        words.drain(..2);
        unit_at = None;
    }
    if words.is_empty() {
        return Words::new();
    }
    // Number-first: "123 Main St", "5/12 Smith St", "12 bis rue de Rivoli".
    let first = words[0];
    let number_first = is_house_number(first) && !(number_after(country) && words.len() >= 2 && words[1..].iter().any(|w| is_house_number(w)));
    if number_first {
        let n = strip_number_marks(first);
        match n.split_once('/') {
            Some((unit, number)) if !unit.is_empty() && !number.is_empty() && out.unit.is_none() => {
                out.unit = Some(Cow::Borrowed(unit));
                out.house_number = Some(Cow::Borrowed(number));
            }
            _ => out.house_number = Some(Cow::Borrowed(n)),
        }
        let mut offset = 1;
        let mut rest = &words[1..];
        if let Some(suffix) = rest.first().filter(|w| folded_is_any(w, &["bis", "ter", "quater", "a", "b", "c", "½", "1/2"])) {
            if rest.len() > 1 {
                out.house_number = Some(Cow::Owned(format!("{} {}", out.house_number.take().unwrap_or_default(), suffix)));
                rest = &rest[1..];
                offset = 2;
            }
        }
        if whole_part {
            out.road = tidy(rest);
            return Words::new();
        }
        // "1942 Broadway Ste 314 Boulder CO": the road ends at the unit.
        let (road, leftover) = match unit_at {
            Some(at) if at > offset && at < words.len() => rest.split_at(at - offset),
            _ => split_road_for(rest, country),
        };
        out.road = tidy(road);
        return leftover.into();
    }
    // "No. 5 Main Rd" and other marked numbers.
    if is_number_mark(first) && words.len() >= 3 && is_house_number(words[1]) {
        out.house_number = Some(Cow::Borrowed(strip_number_marks(words[1])));
        let (road, leftover) = split_road_for(&words[2..], country);
        out.road = tidy(road);
        return leftover.into();
    }
    // Number-after: "Hauptstraße 5", "Keizersgracht 123-2", "Calle Mayor 10", "Rua X nº 5".
    if let Some(at) = words.iter().rposition(|w| is_house_number(w)) {
        if at > 0 {
            out.house_number = Some(Cow::Borrowed(strip_number_marks(words[at])));
            let road_end = if is_number_mark(words[at - 1]) { at - 1 } else { at };
            out.road = tidy(&words[..road_end]);
            return words[at + 1..].into();
        }
    }
    // No number: the road may still be followed by the city ("maltby circuit coolaroo").
    if whole_part {
        out.road = tidy(&words);
        return Words::new();
    }
    let (road, leftover) = split_road_for(&words, country);
    out.road = tidy(road);
    leftover.into()
}

/// Splits the words after a house number into the road and what follows it (the city,
/// when no comma tells): the road ends at its first street-type word after its first word
/// ("Court St" is a road named Court), types that also end place names ("Chester Hill")
/// only when no other type does, and a misspelt type ("sthreet", "pnlace") when nothing
/// else does; an abbreviated directional after the type belongs to the road ("Commercial
/// St E"), a written-out one only in North America ("Las Vegas Blvd South"; elsewhere it
/// starts the place, "South Perth").
fn split_road_for<'a, 'b>(words: &'b [&'a str], country: Option<&str>) -> (&'b [&'a str], &'b [&'a str]) {
    let is_type = |w: &str| forms(w).street_type.is_some() || is_de_nl_road(w);
    let is_strong_type = |w: &str| match forms(w).street_type {
        Some(full) => !WEAK_STREET_TYPES.contains(&full),
        None => is_de_nl_road(w),
    };
    let first = |test: &dyn Fn(&str) -> bool| words.iter().enumerate().skip(1).find(|(_, w)| test(w)).map(|(i, _)| i + 1);
    let end = first(&is_strong_type)
        .or_else(|| first(&|w| is_type(w)))
        .or_else(|| first(&misspelt_street_type))
        .or_else(|| words.first().filter(|w| is_de_nl_road(w)).map(|_| 1));
    match end {
        Some(mut e) => {
            let north_american = matches!(country, None | Some("US" | "CA"));
            if e < words.len() && forms(words[e]).directional.is_some() && (north_american || words[e].trim_end_matches('.').len() <= 2) {
                e += 1;
            }
            (&words[..e], &words[e..])
        }
        None => (words, &[]),
    }
}

/// Street types that are also the last word of many place names.
const WEAK_STREET_TYPES: &[&str] = &[
    "hill", "green", "ridge", "rise", "heights", "grove", "gardens", "walk", "row", "loop", "path", "track", "cove", "wharf", "quay", "mews", "way", "square",
    "plaza", "circle",
];

/// A full street-type word of five letters or more with one letter wrong, missing, extra or
/// two swapped ("srteet", "steet", "pnlace", "corut"): typed by hand, read back by eye.
fn misspelt_street_type(word: &str) -> bool {
    const LONG_TYPES: &[&str] = &["street", "place", "crescent", "circuit", "avenue", "court", "drive", "close", "terrace", "parade", "highway", "boulevard"];
    let w = word.trim_end_matches('.');
    // A length more than one apart is more than one edit away.
    w.len() >= 5
        && w.is_ascii()
        && LONG_TYPES
            .iter()
            .any(|t| w.len().abs_diff(t.len()) <= 1 && rapidfuzz::distance::osa::distance(w.bytes().map(|b| b.to_ascii_lowercase()), t.bytes()) == 1)
}

fn is_de_nl_road(word: &str) -> bool {
    // The shortest is "hof" after at least two letters.
    if word.len() < 5 || word.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    folded_ends_with_any(word, STREET_SUFFIXES_DE_NL, 2)
}

// ---------------------------------------------------------------------------------------
// Chinese, Japanese, Korean.

/// Which of the three the text is written in: Hangul is Korean, kana or a Japanese
/// prefecture suffix Japanese, other Han text Chinese.
fn cjk_country(text: &str) -> &'static str {
    if text.chars().any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)) {
        "KR"
    } else if text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c))
        || text.contains('〒')
        || text.contains('県')
        || text.starts_with("東京都")
        || text.contains("北海道")
        || text.contains("大阪府")
        || text.contains("京都府")
    {
        "JP"
    } else {
        "CN"
    }
}

/// One unit of a largest-first address: the text up to (and including) the first of
/// `suffixes` that ends within `max_chars` characters and leaves at least `min_chars`.
fn take_unit<'a>(rest: &'a str, suffixes: &[&str], min_chars: usize, max_chars: usize) -> Option<(&'a str, &'a str)> {
    let rest = rest.trim_start();
    // A unit ends within `max_chars` characters and before any space (it is one word): only
    // that much of the text is searched, byte by byte (a searcher per suffix and per match
    // cost more than these few bytes).
    let within = rest.char_indices().nth(max_chars).map_or(rest.len(), |(i, _)| i);
    let within = rest[..within].find(' ').unwrap_or(within);
    let head = &rest.as_bytes()[..within];
    let mut best: Option<usize> = None;
    for s in suffixes {
        let s = s.as_bytes();
        let mut from = 0;
        // The first and last bytes tell most places apart before the whole suffix is compared.
        let (first, last) = (s[0], s[s.len() - 1]);
        while let Some(i) = head.get(from..).and_then(|h| h.windows(s.len()).position(|w| w[0] == first && w[w.len() - 1] == last && w == s)) {
            let end = from + i + s.len();
            // Never with digits before its suffix.
            if rest[..end].chars().count() >= min_chars && !rest.as_bytes()[..end - s.len()].iter().any(u8::is_ascii_digit) {
                if best.is_none_or(|b| end < b) {
                    best = Some(end);
                }
                break;
            }
            from = end;
        }
    }
    best.map(|e| rest.split_at(e))
}

const CN_MUNICIPALITIES: &[&str] = &["北京市", "上海市", "天津市", "重庆市", "北京", "上海", "天津", "重庆"];

fn east_asian(text: &str, country: Option<Country>) -> Option<Address> {
    let mut out = Address::default();
    // Commas are word breaks like spaces; words are kept apart ("1-2-3 101号室").
    let spaced: String = text.chars().map(|c| if matches!(c, ',' | '、' | '，') { ' ' } else { c }).collect();
    let compact = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let code = match country.map(Country::alpha2) {
        Some(c @ ("CN" | "JP" | "KR" | "TW" | "HK")) => c,
        _ => cjk_country(&compact),
    };
    let mut rest: &str = &compact;
    // The country's name, first or last.
    for (name, c) in [("中华人民共和国", "CN"), ("中國", "CN"), ("中国", "CN"), ("日本国", "JP"), ("日本", "JP"), ("대한민국", "KR"), ("한국", "KR")]
    {
        if let Some(r) = rest.strip_prefix(name) {
            rest = r.trim_start();
            out.country = Some(c.into());
            break;
        }
        if let Some(r) = rest.strip_suffix(name) {
            rest = r.trim_end();
            out.country = Some(c.into());
            break;
        }
    }
    // The postcode: a run of digits (and one hyphen), marked by 〒/邮编/우편번호 or
    // standing at the start or end.
    let postcode_country = Country::known(if code == "TW" || code == "HK" { "CN" } else { code });
    rest = take_cjk_postcode(rest, postcode_country, &mut out);
    match code {
        "KR" => korean(rest, &mut out),
        "JP" => japanese(rest, &mut out),
        _ => chinese(rest, &mut out),
    }
    Some(out)
}

fn take_cjk_postcode<'a>(text: &'a str, country: Country, out: &mut Address) -> &'a str {
    let mut rest = text.trim();
    for mark in ["〒", "邮编:", "邮编", "邮政编码:", "邮政编码", "우편번호:", "우편번호"] {
        if let Some(r) = rest.strip_prefix(mark) {
            rest = r.trim_start();
        }
    }
    let lead = rest.trim_start_matches(['(', '[']);
    let digits_at_start = lead.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(lead.len());
    if digits_at_start >= 5 {
        if let Some(pc) = clean_postcode(&lead[..digits_at_start], country) {
            out.postcode = Some(pc);
            return lead[digits_at_start..].trim_start_matches([')', ']']).trim_start();
        }
    }
    // At the end, after a mark or after the last non-digit.
    let tail_start = rest.rfind(|c: char| !(c.is_ascii_digit() || c == '-')).map_or(0, |i| i + rest[i..].chars().next().map_or(1, char::len_utf8));
    let tail = &rest[tail_start..];
    if tail.len() >= 5 {
        let head = rest[..tail_start].trim_end();
        let marked = ["〒", "邮编", "邮编:", "우편번호"].iter().find_map(|m| head.strip_suffix(m));
        if let (Some(pc), Some(head)) = (clean_postcode(tail, country), marked.or(Some(head))) {
            // An unmarked run at the end is a postcode when it stands apart from the
            // house number before it, or is longer than a house number can be.
            if marked.is_some() || tail.len() >= 6 || rest[..tail_start].ends_with(' ') {
                out.postcode = Some(pc);
                return head;
            }
        }
    }
    rest
}

/// Digits and the marks between them, up to the first other character: `88号` → 88,
/// `1-1-1`, `1丁目1番1号` → 1-1-1, `110` (Korean), `25번지` → 25.
fn take_number(rest: &str) -> Option<(String, &str)> {
    let mut groups: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut s = rest;
    while let Some(c) = s.chars().next() {
        if c.is_ascii_digit() {
            current.push(c);
            s = &s[1..];
            continue;
        }
        let mark = ["丁目", "番地", "番", "号", "號", "-", "의", "번지", "번"].into_iter().find(|m| s.starts_with(m));
        match mark {
            Some(m) if !current.is_empty() => {
                groups.push(std::mem::take(&mut current));
                s = &s[m.len()..];
                if matches!(m, "号" | "號" | "번지") {
                    break;
                }
            }
            _ => break,
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    (!groups.is_empty()).then(|| (groups.join("-"), s))
}

fn rest_as_unit(rest: &str, out: &mut Address) {
    // A bracketed neighbourhood ("(용호동)") has no key.
    let unbracketed = match (rest.find('('), rest.rfind(')')) {
        (Some(open), Some(close)) if open < close => format!("{}{}", &rest[..open], &rest[close + 1..]),
        _ => rest.to_string(),
    };
    // A building's name before the floor or room ("六本木ヒルズ森タワー 23階") has no key.
    let words: Vec<&str> = unbracketed.split_whitespace().collect();
    let from = words.iter().position(|w| w.chars().any(|c| c.is_ascii_digit())).unwrap_or(0);
    let kept = words[from.min(words.len())..].join(" ");
    let r = kept.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '-' | '、'));
    if !r.is_empty() {
        out.unit = Some(r.to_string());
    }
}

fn chinese(text: &str, out: &mut Address) {
    let mut rest = text;
    if let Some(m) = CN_MUNICIPALITIES.iter().find(|m| rest.starts_with(**m)) {
        let (city, r) = rest.split_at(m.len());
        let r = r.strip_prefix('市').unwrap_or(r);
        out.city = Some(if city.ends_with('市') { city.to_string() } else { format!("{city}市") });
        rest = r;
    } else {
        if let Some((state, r)) = take_unit(rest, &["特别行政区", "自治区", "省"], 2, 10) {
            out.state = Some(state.into());
            rest = r;
        }
        if let Some((city, r)) = take_unit(rest, &["自治州", "地区", "市", "盟"], 2, 10) {
            out.city = Some(city.into());
            rest = r;
        }
    }
    if let Some((district, r)) = take_unit(rest, &["区", "县", "旗"], 2, 8) {
        if out.city.is_none() {
            out.city = Some(district.into());
        }
        rest = r;
    }
    if let Some((_town, r)) = take_unit(rest, &["街道", "镇", "乡"], 2, 8) {
        rest = r;
    }
    if let Some((road, r)) = take_unit(rest, &["大道", "大街", "胡同", "路", "街", "道", "巷", "弄"], 2, 14) {
        out.road = Some(road.into());
        rest = r;
    }
    if let Some((number, r)) = take_number(rest.trim_start()) {
        out.house_number = Some(number);
        rest = r;
    }
    rest_as_unit(rest, out);
}

fn japanese(text: &str, out: &mut Address) {
    let mut rest = text.trim_start();
    // The prefecture: 東京都, 北海道, 大阪府, 京都府, or a 県.
    let named = ["東京都", "北海道", "大阪府", "京都府"].into_iter().find(|p| rest.starts_with(p));
    if let Some(p) = named {
        out.state = Some(p.into());
        rest = &rest[p.len()..];
    } else if let Some((state, r)) = take_unit(rest, &["県"], 2, 4) {
        out.state = Some(state.into());
        rest = r;
    }
    // 市 (a city, perhaps followed by its ward), else 区 (a Tokyo ward), 郡, 町 or 村.
    if let Some((city, r)) = take_unit(rest, &["市"], 2, 8) {
        out.city = Some(city.into());
        rest = r;
        if let Some((_ward, r)) = take_unit(rest, &["区"], 2, 5) {
            rest = r;
        }
    } else if let Some((city, r)) = take_unit(rest, &["区", "郡", "町", "村"], 2, 8) {
        out.city = Some(city.into());
        rest = r;
    }
    // The town (丸の内) has no key; the block numbers are kept as written (1-1-1,
    // 1丁目1番1号), and what follows them is the building or room.
    let rest = rest.trim_start();
    let Some(at) = rest.find(|c: char| c.is_ascii_digit()) else { return };
    if let Some((_, after)) = take_number(&rest[at..]) {
        let written = rest[at..rest.len() - after.len()].trim_end_matches('-');
        out.house_number = Some(written.to_string());
        rest_as_unit(after, out);
    }
}

fn korean(text: &str, out: &mut Address) {
    let mut rest = text;
    if let Some((state, r)) = take_unit(rest, &["특별자치시", "특별자치도", "특별시", "광역시", "도"], 3, 8) {
        out.state = Some(state.into());
        rest = r;
    } else if let Some(short) = KR_SHORT_STATES.iter().find(|s| rest.trim_start().strip_prefix(**s).is_some_and(|r| r.starts_with(' '))) {
        // "서울 중구 …": the short name of a province or metropolitan city.
        out.state = Some((*short).into());
        rest = &rest.trim_start()[short.len()..];
    }
    if let Some((city, r)) = take_unit(rest, &["시"], 2, 6) {
        out.city = Some(city.into());
        rest = r;
    }
    if let Some((district, r)) = take_unit(rest, &["구", "군"], 2, 6) {
        if out.city.is_none() {
            out.city = Some(district.into());
        }
        rest = r;
    }
    if let Some((_town, r)) = take_unit(rest, &["읍", "면"], 2, 6) {
        rest = r;
    }
    let trimmed = rest.trim_start();
    if let Some((road, r)) = take_unit(trimmed, &["번길", "대로", "로", "길"], 2, 14) {
        // "이태원로27길", "판교로12번길": the numbered side road belongs to the road.
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        let side = ["번길", "길"].into_iter().find(|s| digits > 0 && r[digits..].starts_with(s));
        let (road, r) = match side {
            Some(s) => trimmed.split_at(road.len() + digits + s.len()),
            None => (road, r),
        };
        out.road = Some(road.into());
        rest = r;
    }
    if let Some((number, r)) = take_number(rest.trim_start()) {
        out.house_number = Some(number);
        rest = r;
    }
    rest_as_unit(rest, out);
}

// ---------------------------------------------------------------------------------------
// Matching forms.

/// `text` lower-cased (as `str::to_lowercase`) appended to `out`: in place when it is ASCII.
fn push_lowercase(out: &mut String, text: &str) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        out.push_str(&text.to_lowercase());
    }
}

/// `text` without the characters in `skip`, lower-cased character by character
/// (`char::to_lowercase`, no final-sigma rule), appended to `out`; byte by byte when ASCII.
fn push_chars_lowercase(out: &mut String, text: &str, skip: &[char]) {
    if text.is_ascii() {
        out.extend(text.chars().filter(|c| !skip.contains(c)).map(|c| c.to_ascii_lowercase()));
    } else {
        out.extend(text.chars().filter(|c| !skip.contains(c)).flat_map(char::to_lowercase));
    }
}

/// Full forms of a word for matching (lower case), appended to `out`: street types,
/// unit designators, directionals, `str.` → `straße`, `St` before a name → `saint`.
/// `known` is `word`'s forms when the caller has them.
fn expand_into(out: &mut String, word: &str, known: Option<&WordForms>, next: Option<&str>, in_road: bool, road_end: bool) {
    let written = word.trim_end_matches(',').trim_end_matches('.');
    // Written lower-cased, then replaced by its full form if it has one.
    let start = out.len();
    push_lowercase(out, written);
    let bare = &out[start..];
    if (bare == "st" || bare == "ste" && in_road) && !road_end && next.is_some_and(|n| n.chars().next().is_some_and(char::is_alphabetic)) {
        // "St James St": a saint before a name, a street at the end of a road.
        let saint = if bare == "st" { "saint" } else { "sainte" };
        out.truncate(start);
        out.push_str(saint);
        return;
    }
    if in_road {
        if let Some(stem) = bare.strip_suffix("str").or_else(|| bare.strip_suffix("strasse")) {
            out.truncate(start + stem.len());
            out.push_str("straße");
            return;
        }
        // `word`'s forms are `bare`'s when it is ASCII and only a dot was trimmed.
        let same = word.is_ascii() && (word.len() == written.len() || (word.len() == written.len() + 1 && word.ends_with('.')));
        let f = known.filter(|_| same).unwrap_or_else(|| forms(bare));
        let full = if road_end { f.street_type } else { f.street_prefix.filter(|_| bare.len() > 1) };
        if let Some(full) = full.or(f.directional) {
            out.truncate(start);
            out.push_str(full);
        }
    }
}

/// Appends each word of a road written out (see `expand_into`) to `line`, after a space
/// unless it starts the line; stops after the first word for which `stop` (given the line
/// and where the word starts in it) is true.
fn push_road_words(line: &mut String, road: &str, mut stop: impl FnMut(&str, usize) -> bool) {
    let words: Words = road.split_whitespace().collect();
    let word_forms: SmallVec<[&WordForms; 6]> = words.iter().map(|w| forms(w)).collect();
    // (The last word, when a street type, is the last type.)
    let last_type = word_forms.iter().rposition(|f| f.street_type.is_some());
    for (i, w) in words.iter().enumerate() {
        let at_end = i > 0 && Some(i) == last_type;
        let before = line.len();
        if !line.is_empty() {
            line.push(' ');
        }
        let start = line.len();
        expand_into(line, w, Some(word_forms[i]), words.get(i + 1).copied(), true, at_end);
        if line.len() == start {
            // Nothing written ("." alone): no word, no space.
            line.truncate(before);
        } else if stop(line, start) {
            return;
        }
    }
}

/// A unit written out for matching, appended to `line` (after a space unless it starts
/// the line): designators in full (`Apt` → `unit`), `#12` → `unit 12`, and `unit` first
/// when the first word is no designator.
fn push_unit(line: &mut String, unit: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    let start = line.len();
    let mut words = 0;
    for w in unit.split_whitespace() {
        if words > 0 {
            line.push(' ');
        }
        words += 1;
        if let Some(id) = w.strip_prefix('#').filter(|id| !id.is_empty()) {
            line.push_str("unit ");
            push_lowercase(line, id);
        } else if let Some(full) = forms(w).unit_designator {
            line.push_str(full);
        } else {
            push_lowercase(line, w.trim_end_matches('.'));
        }
    }
    // (A word may be written as nothing: "." alone.)
    if words == 0 {
        line.push_str("unit");
    } else if line[start..].split(' ').next().is_none_or(|first| forms(first).unit_designator.is_none()) {
        line.insert_str(start, "unit ");
    }
}

/// The address in one canonical line for matching: components in a fixed order, lower
/// case, abbreviations written out (St → street, Str. → straße, Apt/Unit/# → unit), the
/// postcode in national format. `None` when nothing is found.
pub fn normalize_address(raw: &str, country: Option<Country>) -> Option<String> {
    with_components(raw, country, |a| normalized_line(&a, raw.len())).flatten()
}

fn normalized_line(a: &Components, raw_len: usize) -> Option<String> {
    let mut line = String::with_capacity(raw_len + 16);
    // Each value lower-cased, after a space unless it starts the line (values are never
    // empty).
    let push_value = |line: &mut String, value: &str| {
        if !line.is_empty() {
            line.push(' ');
        }
        push_lowercase(line, value);
    };
    if let Some(n) = a.house_number.as_deref() {
        push_value(&mut line, n);
    }
    if let Some(r) = a.road.as_deref() {
        push_road_words(&mut line, r, |_, _| false);
    }
    if let Some(u) = a.unit.as_deref() {
        push_unit(&mut line, u);
    }
    if let Some(c) = a.city.as_deref() {
        let words: Words = c.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let before = line.len();
            if !line.is_empty() {
                line.push(' ');
            }
            let start = line.len();
            expand_into(&mut line, w, None, words.get(i + 1).copied(), false, false);
            if line.len() == start {
                line.truncate(before);
            }
        }
    }
    for value in [a.state.as_deref(), a.postcode.as_deref(), a.country.as_deref()].into_iter().flatten() {
        push_value(&mut line, value);
    }
    (!line.is_empty()).then_some(line)
}

/// A blocking key: postcode, house number and the first distinctive word of the road
/// (directionals and street-type words skipped), `|`-separated, lower case. Two spellings
/// of one address share it; `None` when the address has neither a road nor a number.
pub fn address_key(raw: &str, country: Option<Country>) -> Option<String> {
    with_components(raw, country, |a| key_of(&a)).flatten()
}

fn key_of(a: &Components) -> Option<String> {
    if a.road.is_none() && a.house_number.is_none() {
        return None;
    }
    let mut key = String::with_capacity(32);
    if let Some(p) = a.postcode.as_deref() {
        push_chars_lowercase(&mut key, p, &[' ', '-']);
    }
    key.push('|');
    if let Some(n) = a.house_number.as_deref() {
        push_chars_lowercase(&mut key, n, &[]);
    }
    key.push('|');
    if let Some(road) = a.road.as_deref() {
        let generic = |w: &str| {
            let f = forms(w);
            f.directional.is_some() || f.street_prefix.is_some() || matches!(w, "de" | "la" | "du" | "des" | "da" | "do" | "dos" | "del" | "di" | "saint")
        };
        // The road's words are written after the key one by one: a generic word is kept only
        // while it is the first (the key when no word is distinctive), the first
        // distinctive word replaces it and ends the key.
        // They are written into the key itself (no second buffer) and the one kept is
        // moved to the road's place afterwards.
        let road_start = key.len();
        let mut first: Option<std::ops::Range<usize>> = None;
        let mut distinctive: Option<std::ops::Range<usize>> = None;
        push_road_words(&mut key, road, |line, start| {
            let range = start..line.len();
            if !generic(&line[range.clone()]) {
                distinctive = Some(range);
                return true;
            }
            first.get_or_insert(range);
            false
        });
        match distinctive.or(first) {
            Some(kept) => {
                key.truncate(kept.end);
                key.drain(road_start..kept.start);
            }
            None => key.truncate(road_start),
        }
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, country: Option<&str>) -> Vec<(&'static str, String)> {
        let c = country.map(|c| Country::parse("country", c).unwrap());
        parse_address(raw, c).map(|a| a.components().into_iter().map(|(k, v)| (k, v.to_string())).collect()).unwrap_or_default()
    }

    fn has(got: &[(&'static str, String)], key: &str, want: &str) -> bool {
        got.iter().any(|(k, v)| *k == key && v == want)
    }

    #[test]
    fn us_number_first() {
        let a = parse("123 N Main St Apt 4B, Springfield, IL 62704-1234", Some("US"));
        for (k, v) in [("house_number", "123"), ("road", "N Main St"), ("unit", "Apt 4B"), ("city", "Springfield"), ("state", "IL"), ("postcode", "62704-1234")]
        {
            assert!(has(&a, k, v), "{k}={v} in {a:?}");
        }
        let b = parse("1600 Amphitheatre Pkwy Mountain View CA 94043 USA", None);
        for (k, v) in
            [("house_number", "1600"), ("road", "Amphitheatre Pkwy"), ("city", "Mountain View"), ("state", "CA"), ("postcode", "94043"), ("country", "US")]
        {
            assert!(has(&b, k, v), "{k}={v} in {b:?}");
        }
    }

    #[test]
    fn number_after_and_postcode_first() {
        let a = parse("Hauptstraße 5, 10115 Berlin", Some("DE"));
        for (k, v) in [("house_number", "5"), ("road", "Hauptstraße"), ("postcode", "10115"), ("city", "Berlin")] {
            assert!(has(&a, k, v), "{k}={v} in {a:?}");
        }
        let b = parse("Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200", Some("BR"));
        for (k, v) in [("house_number", "1578"), ("road", "Av. Paulista"), ("postcode", "01310-200"), ("city", "São Paulo"), ("state", "SP")] {
            assert!(has(&b, k, v), "{k}={v} in {b:?}");
        }
    }

    #[test]
    fn febrl_shape_with_typos() {
        let a = parse("9 hicks sthreet, loccn 7229, bondi junction sa 5011", Some("AU"));
        for (k, v) in [("house_number", "9"), ("road", "hicks sthreet"), ("city", "bondi junction"), ("state", "sa"), ("postcode", "5011")] {
            assert!(has(&a, k, v), "{k}={v} in {a:?}");
        }
        let b = parse("5/12 Smith St, Bondi NSW 2026", None);
        assert!(has(&b, "unit", "5") && has(&b, "house_number", "12") && has(&b, "state", "NSW"), "{b:?}");
    }

    #[test]
    fn east_asian_largest_first() {
        let a = parse("北京市朝阳区建国路88号", None);
        assert!(has(&a, "city", "北京市") && has(&a, "road", "建国路") && has(&a, "house_number", "88"), "{a:?}");
        let b = parse("〒100-0005 東京都千代田区丸の内1-1-1", None);
        assert!(has(&b, "postcode", "100-0005") && has(&b, "state", "東京都") && has(&b, "city", "千代田区") && has(&b, "house_number", "1-1-1"), "{b:?}");
        let c = parse("서울특별시 중구 세종대로 110", None);
        assert!(has(&c, "state", "서울특별시") && has(&c, "city", "중구") && has(&c, "road", "세종대로") && has(&c, "house_number", "110"), "{c:?}");
        let d = parse("广东省深圳市南山区科技园路1号", None);
        assert!(has(&d, "state", "广东省") && has(&d, "city", "深圳市") && has(&d, "road", "科技园路") && has(&d, "house_number", "1"), "{d:?}");
    }

    #[test]
    fn normalized_and_key_agree_across_spellings() {
        let us = Some(Country::parse("country", "US").unwrap());
        let a = normalize_address("123 N. Main St., Apt 4, Springfield IL 62704", us).unwrap();
        let b = normalize_address("123 North Main Street #4, Springfield, IL 62704", us).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, "123 north main street unit 4 springfield il 62704");
        assert_eq!(
            address_key("123 N. Main St., Springfield IL 62704", us),
            address_key("123 North Main Street, Springfield, IL 62704-0001", us).map(|k| k.replace("627040001", "62704"))
        );
        assert_eq!(address_key("123 N Main St, Springfield, IL 62704", us).as_deref(), Some("62704|123|main"));
        let de = Some(Country::parse("country", "DE").unwrap());
        assert_eq!(normalize_address("Hauptstr. 5, 10115 Berlin", de), normalize_address("Hauptstraße 5, 10115 Berlin", de));
        assert_eq!(normalize_address("12 St James St, London", None).unwrap(), "12 saint james street london");
    }

    #[test]
    fn total_on_garbage() {
        for s in ["", " ", ",,,", "-", "#", "12", "〒", "号", "市区路号", "///", "Apt", "1/", "/1", "丁目", "一丁目", "5 - - 6", "Co. Cork"] {
            let _ = parse_address(s, None);
            let _ = normalize_address(s, None);
            let _ = address_key(s, None);
        }
    }
}
