//! `clean_phone`: E.164 for a valid number, `None` otherwise.
//!
//! Parsing rules and validity are libphonenumber's, through the `phonenumber` crate's
//! metadata. Two things are our own, for speed, and both are checked against the crate
//! in the tests:
//!
//! * **Validation.** The crate matches every pattern through a shared, mutex-guarded LRU
//!   regex cache and scans up to 25 NANP regions per `+1` number: about 26 µs per number
//!   here. We compile each region's patterns once per process (lazily, region by region)
//!   as anchored full matches, libphonenumber's own semantics, so a number costs a few
//!   anchored DFA runs.
//! * **A fast path for the common shapes.** Digits with the usual separators, an optional
//!   `+`/`00`/`tel:` prefix and an optional extension are read by hand when the result is
//!   provably what the crate's parser would produce (no national prefix or carrier code
//!   to strip, no IDD to interpret); everything else goes through the crate's parser.
//!
//! Input prepared for both paths: NFKC (full-width digits), `tel:` dropped, a leading `00`
//! read as `+` (the international call prefix of most of the world; in NANP `011` is
//! understood by the parser itself), extensions dropped.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::metadata::{Metadata, DATABASE};
use regex::Regex;

use super::text::nfkc;
use crate::error::{CrmError, Result};

/// No written phone number is longer; refusing longer text keeps a 10 MB value cheap.
const MAX_INPUT_BYTES: usize = 256;
const MAX_NATIONAL_DIGITS: usize = 17;

/// A region accepted as `default_region`: upper-case ISO 3166 code known to the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(&'static RegionRules);

impl Region {
    pub fn parse(region: &str) -> Result<Region> {
        let key = region.trim().to_ascii_uppercase();
        rules().by_id.get(key.as_str()).filter(|r| r.id != "001").map(|&r| Region(r)).ok_or_else(|| {
            CrmError::bad_argument("default_region", region, "a two-letter ISO 3166 region code with telephone metadata, such as 'US', 'GB', 'DE', 'IN'")
        })
    }

    pub fn id(&self) -> &'static str {
        self.0.id
    }
}

/// `clean_phone(raw, region)`: the number in E.164 (`+14155550123`) or `None`.
pub fn clean_phone(raw: &str, region: Region) -> Option<String> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let prepared = prepare(raw)?;
    if let Some(result) = fast_path(&prepared, region) {
        return result;
    }
    slow_path(&prepared, region)
}

/// Normalise what both paths see: NFKC, trimmed, `tel:` dropped, leading `00` → `+`.
fn prepare(raw: &str) -> Option<String> {
    let text = nfkc(raw);
    let mut s = text.trim();
    if s.len() >= 4 && s.is_char_boundary(4) && s[..4].eq_ignore_ascii_case("tel:") {
        s = s[4..].trim_start();
    }
    if s.is_empty() {
        return None;
    }
    let first_digit = s.find(|c: char| c.is_ascii_digit() || c == '+')?;
    let (lead, rest) = s.split_at(first_digit);
    if rest.starts_with("00") && lead.chars().all(|c| c == '(' || c.is_whitespace()) {
        return Some(format!("+{}", &rest[2..]));
    }
    Some(s.to_string())
}

/// `Some(answer)` for inputs of a simple shape (digits and separators, optional `+` and
/// extension), parsed here with libphonenumber's rules (`PhoneNumberUtil.parseHelper`):
/// international prefix, country code, national prefix and carrier code stripping with
/// the viability and length checks. `None` defers other shapes to the crate's parser.
fn fast_path(s: &str, region: Region) -> Option<Option<String>> {
    let (plus, digits) = simple_shape(s)?;
    Some(parse_digits(plus, &digits, region))
}

fn parse_digits(plus: bool, digits: &str, region: Region) -> Option<String> {
    let rules = rules();
    let default = region.0.compiled();
    let mut plus = plus;
    let mut digits = digits;
    if !plus {
        if let Some(m) = default.international_prefix.as_ref().and_then(|re| re.find(digits)) {
            // libphonenumber: an IDD followed by a 0 is not an international number.
            if !digits[m.end()..].starts_with('0') {
                digits = &digits[m.end()..];
                plus = true;
            }
        }
    }
    let (code, mut national, meta) = if plus {
        if digits.len() <= 2 || digits.starts_with('0') {
            return None;
        }
        let (code, rest) = (1..=3.min(digits.len())).find_map(|len| {
            let code: u16 = digits[..len].parse().ok()?;
            rules.by_code.contains_key(&code).then(|| (code, &digits[len..]))
        })?;
        (code, rest.to_string(), rules.by_code[&code][0].compiled())
    } else {
        let code = region.0.code;
        let code_text = code.to_string();
        let mut national = digits.to_string();
        if let Some(rest) = digits.strip_prefix(code_text.as_str()) {
            // A country code written without '+' ("44 20 7946 0958" in GB).
            let stripped = default.strip_national_prefix(rest).unwrap_or_else(|| rest.to_string());
            if (!default.general.matches(digits) && default.general.matches(&stripped)) || default.test_length(digits) == Length::TooLong {
                national = stripped;
                return finish(code, national);
            }
        }
        (code, std::mem::take(&mut national), default)
    };
    if let Some(stripped) = meta.strip_national_prefix(&national) {
        if matches!(meta.test_length(&stripped), Length::Possible | Length::TooLong) {
            national = stripped;
        }
    }
    finish(code, national)
}

fn finish(code: u16, national: String) -> Option<String> {
    if national.len() < 2 || national.len() > MAX_NATIONAL_DIGITS {
        return None;
    }
    validated(code, &national)
}

/// Digits, separators, an optional leading `+` and an optional trailing extension; nothing
/// else. Returns (had a plus, the digits).
fn simple_shape(s: &str) -> Option<(bool, String)> {
    let body = strip_extension(s);
    let mut digits = String::with_capacity(20);
    let mut plus = false;
    for (i, c) in body.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus && body[..i].chars().all(|c| c == '(' || c == ' ') => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\t' => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        None
    } else {
        Some((plus, digits))
    }
}

/// The text before an extension marker (`x123`, `ext. 123`, `extension 123`, `#123`,
/// `;ext=123`) when the marker is followed only by digits; the whole text otherwise.
fn strip_extension(s: &str) -> &str {
    let lower = s.to_ascii_lowercase();
    for marker in [";ext=", "extension", "ext.", "ext", "x", "#"] {
        if let Some(pos) = lower.rfind(marker) {
            let tail = lower[pos + marker.len()..].trim_start_matches([' ', '.', ':']);
            if pos > 0 && !tail.is_empty() && tail.len() <= 7 && tail.bytes().all(|b| b.is_ascii_digit()) {
                return s[..pos].trim_end_matches([' ', ',', ';']);
            }
        }
    }
    s
}

fn slow_path(s: &str, region: Region) -> Option<String> {
    let id: phonenumber::country::Id = region.0.id.parse().ok()?;
    // The crate has panicked on malformed input before (rust-phonenumber#43); a cleaning
    // function must never raise, so a panic here means "not a number".
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(Some(id), s).ok()).ok()??;
    let code = parsed.code().value();
    let national = parsed.national().to_string();
    validated(code, &national)
}

fn validated(code: u16, national: &str) -> Option<String> {
    if is_valid(code, national) {
        return Some(format!("+{code}{national}"));
    }
    // "+44 (0)20 7946 0958": a trunk prefix written after the country code. libphonenumber
    // strips it (the `phonenumber` crate does not); keep the stripped number when valid.
    let regions = rules().by_code.get(&code)?;
    regions.iter().find_map(|r| {
        let stripped = national.strip_prefix(r.compiled().national_prefix.as_deref()?)?;
        is_valid(code, stripped).then(|| format!("+{code}{stripped}"))
    })
}

/// libphonenumber's `isValidNumber` for a country code and national significant number.
pub fn is_valid(code: u16, national: &str) -> bool {
    let Some(regions) = rules().by_code.get(&code) else {
        return false;
    };
    // Region resolution as libphonenumber's getRegionCodeForNumberFromRegionList: the first
    // region whose leading digits match, or (without leading digits) whose types match.
    if regions.len() == 1 {
        return regions[0].compiled().number_type_known(national);
    }
    for region in regions {
        let compiled = region.compiled();
        match &compiled.leading_digits {
            Some(leading) => {
                if leading.is_match(national) {
                    return compiled.number_type_known(national);
                }
            }
            None => {
                if compiled.number_type_known(national) {
                    return true;
                }
            }
        }
    }
    false
}

pub struct RegionRules {
    id: &'static str,
    code: u16,
    meta: &'static Metadata,
    compiled: OnceLock<CompiledRegion>,
}

impl std::fmt::Debug for RegionRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Region({})", self.id)
    }
}

impl PartialEq for RegionRules {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for RegionRules {}

impl RegionRules {
    fn compiled(&self) -> &CompiledRegion {
        self.compiled.get_or_init(|| CompiledRegion::new(self.meta))
    }
}

struct Pattern {
    lengths: Vec<u16>,
    full: Option<Regex>,
}

impl Pattern {
    fn new(desc: &phonenumber::metadata::Descriptor) -> Pattern {
        Pattern { lengths: desc.possible_length().to_vec(), full: compile(&format!("^(?:{})$", desc.national_number().as_str())) }
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16))) && self.matches_pattern(national)
    }

    /// The pattern alone, without the length test (libphonenumber's matchNationalNumber).
    fn matches_pattern(&self, national: &str) -> bool {
        self.full.as_ref().is_some_and(|re| re.is_match(national))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

struct CompiledRegion {
    general: Pattern,
    /// Union of the types' possible lengths, as libphonenumber's general description has.
    possible_lengths: Vec<u16>,
    local_lengths: Vec<u16>,
    national_prefix_transform: Option<String>,
    types: Vec<Pattern>,
    leading_digits: Option<Regex>,
    international_prefix: Option<Regex>,
    national_prefix: Option<String>,
    national_prefix_for_parsing: Option<Regex>,
}

impl CompiledRegion {
    fn new(meta: &Metadata) -> CompiledRegion {
        let d = meta.descriptors();
        // The types libphonenumber's getNumberTypeHelper tries; any match means valid.
        let types =
            [d.premium_rate(), d.toll_free(), d.shared_cost(), d.voip(), d.personal_number(), d.pager(), d.uan(), d.voicemail(), d.fixed_line(), d.mobile()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
        let mut possible_lengths: Vec<u16> = types.iter().flat_map(|t| t.possible_length().iter().copied()).collect();
        possible_lengths.extend_from_slice(d.general().possible_length());
        possible_lengths.sort_unstable();
        possible_lengths.dedup();
        let mut local_lengths: Vec<u16> = types.iter().flat_map(|t| t.possible_local_length().iter().copied()).collect();
        local_lengths.extend_from_slice(d.general().possible_local_length());
        local_lengths.sort_unstable();
        local_lengths.dedup();
        let types = types.into_iter().map(Pattern::new).collect();
        let prefix = |re: Option<&str>| re.and_then(|re| compile(&format!("^(?:{re})")));
        // libphonenumber falls back to the national prefix when no parsing pattern is given.
        let parsing = meta.national_prefix_for_parsing().map(|r| r.as_str().to_string()).or_else(|| meta.national_prefix().map(regex::escape));
        CompiledRegion {
            general: Pattern::new(d.general()),
            possible_lengths,
            local_lengths,
            national_prefix_transform: meta.national_prefix_transform_rule().map(str::to_string),
            types,
            leading_digits: prefix(meta.leading_digits().map(|r| r.as_str())),
            international_prefix: prefix(meta.international_prefix().map(|r| r.as_str())),
            national_prefix: meta.national_prefix().map(str::to_string),
            national_prefix_for_parsing: prefix(parsing.as_deref()),
        }
    }

    fn number_type_known(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }

    /// libphonenumber's maybeStripNationalPrefixAndCarrierCode: the number without its
    /// national prefix (and carrier code), or `None` when nothing is to be stripped.
    fn strip_national_prefix(&self, number: &str) -> Option<String> {
        let re = self.national_prefix_for_parsing.as_ref()?;
        let caps = re.captures(number)?;
        let whole = caps.get(0)?;
        let viable_before = self.general.matches_pattern(number);
        let groups = caps.len() - 1;
        let last_group = caps.get(groups).filter(|_| groups > 0);
        let result = match (&self.national_prefix_transform, last_group) {
            (Some(rule), Some(_)) => {
                // Java's "$1" → the regex crate's unambiguous "${1}"
                let rule = rule.replace("$1", "${1}").replace("$2", "${2}").replace("$3", "${3}");
                let mut transformed = String::new();
                caps.expand(&rule, &mut transformed);
                transformed.push_str(&number[whole.end()..]);
                transformed
            }
            _ => number[whole.end()..].to_string(),
        };
        if result == number || (viable_before && !self.general.matches_pattern(&result)) {
            return None;
        }
        Some(result)
    }

    /// libphonenumber's testNumberLength for an unknown type.
    fn test_length(&self, number: &str) -> Length {
        let len = number.len() as u16;
        let Some(&min) = self.possible_lengths.first() else {
            return Length::Invalid;
        };
        if self.local_lengths.contains(&len) {
            Length::LocalOnly
        } else if len == min {
            Length::Possible
        } else if len < min {
            Length::TooShort
        } else if len > *self.possible_lengths.last().unwrap_or(&min) {
            Length::TooLong
        } else if self.possible_lengths.contains(&len) {
            Length::Possible
        } else {
            Length::Invalid
        }
    }
}

/// libphonenumber's patterns are written in free-spacing form and contain no literal spaces.
fn compile(pattern: &str) -> Option<Regex> {
    let compact: String = pattern.chars().filter(|c| !c.is_whitespace()).collect();
    Regex::new(&compact).ok()
}

struct Rules {
    by_id: HashMap<&'static str, &'static RegionRules>,
    /// Country code → its regions in the metadata's order (main country first).
    by_code: HashMap<u16, Vec<&'static RegionRules>>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let db: &'static phonenumber::metadata::Database = &DATABASE;
        // Built once per process and kept for its life, like the metadata itself.
        let regions: &'static [RegionRules] = Box::leak(
            db.iter()
                .map(|meta| RegionRules { id: meta.id(), code: meta.country_code(), meta, compiled: OnceLock::new() })
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let by_id: HashMap<&'static str, &'static RegionRules> = regions.iter().map(|r| (r.id, r)).collect();
        let mut by_code: HashMap<u16, Vec<&'static RegionRules>> = HashMap::new();
        for region in regions {
            by_code.entry(region.code).or_default();
        }
        for (code, list) in by_code.iter_mut() {
            let ids = db.region(code).unwrap_or_default();
            let ordered: Vec<&'static RegionRules> = ids.iter().filter_map(|id| by_id.get(id).copied()).collect();
            *list = if ordered.is_empty() || ids.contains(&"001") {
                // Non-geographic entities ("001"): one metadata entry per code.
                regions.iter().filter(|r| r.code == *code).collect()
            } else {
                ordered
            };
        }
        Rules { by_id, by_code }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        Region::parse("US").unwrap()
    }

    fn c(raw: &str, region: &str) -> Option<String> {
        clean_phone(raw, Region::parse(region).unwrap())
    }

    #[test]
    fn us_shapes() {
        for raw in [
            "(415) 555-0132",
            "415-555-0132",
            "415.555.0132",
            "4155550132",
            "+1 415 555 0132",
            "1-415-555-0132",
            "1 (415) 555-0132",
            "+1 (415) 555-0132 ext. 22",
            "415-555-0132 x7",
            "tel:+1-415-555-0132",
            "(415)555-0132",
            "  415 555 0132  ",
            "+1.415.555.0132",
            "001 415 555 0132",
            "011 1 415 555 0132",
            "４１５-５５５-０１３２",
        ] {
            assert_eq!(clean_phone(raw, us()).as_deref(), Some("+14155550132"), "{raw}");
        }
    }

    #[test]
    fn international() {
        assert_eq!(c("+44 20 7946 0958", "US").as_deref(), Some("+442079460958"));
        assert_eq!(c("020 7946 0958", "GB").as_deref(), Some("+442079460958"));
        assert_eq!(c("0044 (0)20 7946 0958", "US").as_deref(), Some("+442079460958"));
        assert_eq!(c("07400 123456", "GB").as_deref(), Some("+447400123456"));
        assert_eq!(c("07700 900123", "GB"), None); // Ofcom drama range: not a real number
        assert_eq!(c("+49 30 901820", "US").as_deref(), Some("+4930901820"));
        assert_eq!(c("030 901820", "DE").as_deref(), Some("+4930901820"));
        assert_eq!(c("01 42 68 53 00", "FR").as_deref(), Some("+33142685300"));
        assert_eq!(c("+39 06 6982 0000", "US").as_deref(), Some("+390669820000"));
        assert_eq!(c("98765 43210", "IN").as_deref(), Some("+919876543210"));
        assert_eq!(c("+61 2 9374 4000", "US").as_deref(), Some("+61293744000"));
        assert_eq!(c("03-3224-9999", "JP").as_deref(), Some("+81332249999"));
        assert_eq!(c("(11) 98765-4321", "BR").as_deref(), Some("+5511987654321"));
        assert_eq!(c("416-555-0123", "ca").as_deref(), Some("+14165550123"));
    }

    #[test]
    fn invalid_numbers_are_none() {
        for raw in [
            "",
            "n/a",
            "555-0132",
            "123",
            "0000000000",
            "(123) 456-7890",
            "+1 911",
            "+999 1234 5678",
            "phone",
            "+0 415 555 0132",
            "415-555-013",
            "415-555-01322222",
            "+44 20 7946 09",
        ] {
            assert_eq!(clean_phone(raw, us()), None, "{raw}");
        }
        assert_eq!(clean_phone(&"4".repeat(10_000_000), us()), None);
    }

    #[test]
    fn bad_region_is_an_argument_error() {
        for bad in ["", "XX", "USA", "001", "u"] {
            let e = Region::parse(bad).unwrap_err();
            assert_eq!(e.sqlstate(), "22023");
            assert!(e.message().contains("default_region"));
        }
        assert_eq!(Region::parse(" gb ").unwrap().id(), "GB");
    }

    /// Python `phonenumbers` 9.0.33 (libphonenumber's official port, the metadata version
    /// of the Rust crate) on 8,000+ realistic shapes: `scripts/gen_phone_reference.py`.
    const REFERENCE: &str = include_str!("../../tests/data/phone_reference.tsv");

    fn reference_cases() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
        REFERENCE
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0], f[1], (f[2] != "\\N").then_some(f[2]))
            })
            .collect()
    }

    #[test]
    fn agrees_with_libphonenumber() {
        let cases = reference_cases();
        let mismatches: Vec<_> = cases
            .iter()
            .filter_map(|&(raw, region, want)| {
                let got = c(raw, region);
                (got.as_deref() != want).then(|| format!("{raw:?} {region}: got {got:?}, libphonenumber {want:?}"))
            })
            .collect();
        eprintln!("libphonenumber agreement: {} of {} differ", mismatches.len(), cases.len());
        for m in mismatches.iter().take(30) {
            eprintln!("  {m}");
        }
        assert!(cases.len() > 8000);
        assert!(mismatches.is_empty(), "{} of {} differ:\n{}", mismatches.len(), cases.len(), mismatches.join("\n"));
    }

    #[test]
    fn fast_path_agrees_with_libphonenumber() {
        let mut taken = 0;
        for (raw, region, want) in reference_cases() {
            let prepared = prepare(raw).unwrap();
            if let Some(fast) = fast_path(&prepared, Region::parse(region).unwrap()) {
                taken += 1;
                assert_eq!(fast.as_deref(), want, "{raw:?} in {region}");
            }
        }
        eprintln!("fast path taken {taken} times");
        assert!(taken > 3000, "fast path taken only {taken} times");
    }
}
