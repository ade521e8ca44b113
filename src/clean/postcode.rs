//! `clean_postcode(raw, country)`: a postcode in its country's national format, or `None`
//! when the text is not a valid shape for that country.
//!
//! The input is forgiving about what people and spreadsheets do to postcodes (case,
//! spaces and hyphens anywhere, full-width forms, a label such as `ZIP:` or `〒`, the old
//! European country prefix `D-10115`), and strict about the shape: wrong lengths, letters
//! where digits belong and the letters a country never uses give `None`, never a guess.
//! A lost leading zero (`2139` for a ZIP code read as a number) is not restored: the
//! digits could equally be a typo.

use super::country::Country;
use super::text::nfkc;

/// Longer input is not a postcode; bounds the work on hostile text.
const MAX_INPUT_BYTES: usize = 64;

/// Labels written before a postcode, upper case, longest first so `ZIP CODE` wins over `ZIP`.
const LABELS: &[&str] = &[
    "POSTAL CODE",
    "CODE POSTAL",
    "POST CODE",
    "POSTCODE",
    "ZIP CODE",
    "ZIPCODE",
    "PIN CODE",
    "PINCODE",
    "EIRCODE",
    "POSTLEITZAHL",
    "PLZ",
    "CEP",
    "ZIP",
    "PIN",
    "C.P.",
    "CP",
    "〒",
    "郵便番号",
    "邮编",
    "邮政编码",
    "우편번호",
];

/// Shapes: `9` a digit, `A` a letter, `X` a letter or digit; a space or `-` in a pattern is
/// written in the output and not expected in the compacted input.
struct Format {
    country: &'static str,
    patterns: &'static [&'static str],
    /// The vehicle code used as the old European prefix (`D-10115`), besides the ISO code.
    prefix: Option<&'static str>,
}

/// Countries whose postcodes are digits only (with their national separators). GB, CA, IE
/// and NL have letters and their own validators below.
static DIGIT_FORMATS: &[Format] = &[
    Format { country: "AR", patterns: &["9999"], prefix: None },
    Format { country: "AT", patterns: &["9999"], prefix: Some("A") },
    Format { country: "AU", patterns: &["9999"], prefix: None },
    Format { country: "BE", patterns: &["9999"], prefix: Some("B") },
    Format { country: "BG", patterns: &["9999"], prefix: None },
    Format { country: "BR", patterns: &["99999-999"], prefix: None },
    Format { country: "CH", patterns: &["9999"], prefix: None },
    Format { country: "CL", patterns: &["9999999"], prefix: None },
    Format { country: "CN", patterns: &["999999"], prefix: None },
    Format { country: "CO", patterns: &["999999"], prefix: None },
    Format { country: "CZ", patterns: &["999 99"], prefix: None },
    Format { country: "DE", patterns: &["99999"], prefix: Some("D") },
    Format { country: "DK", patterns: &["9999"], prefix: None },
    Format { country: "EE", patterns: &["99999"], prefix: None },
    Format { country: "ES", patterns: &["99999"], prefix: Some("E") },
    Format { country: "FI", patterns: &["99999"], prefix: None },
    Format { country: "FR", patterns: &["99999"], prefix: Some("F") },
    Format { country: "GR", patterns: &["999 99"], prefix: None },
    Format { country: "HR", patterns: &["99999"], prefix: None },
    Format { country: "HU", patterns: &["9999"], prefix: Some("H") },
    Format { country: "ID", patterns: &["99999"], prefix: None },
    Format { country: "IL", patterns: &["9999999"], prefix: None },
    Format { country: "IN", patterns: &["999999"], prefix: None },
    Format { country: "IT", patterns: &["99999"], prefix: Some("I") },
    Format { country: "JP", patterns: &["999-9999"], prefix: None },
    Format { country: "KR", patterns: &["99999"], prefix: None },
    Format { country: "LT", patterns: &["99999"], prefix: None },
    Format { country: "LU", patterns: &["9999"], prefix: Some("L") },
    Format { country: "LV", patterns: &["9999"], prefix: None },
    Format { country: "MX", patterns: &["99999"], prefix: None },
    Format { country: "MY", patterns: &["99999"], prefix: None },
    Format { country: "NO", patterns: &["9999"], prefix: Some("N") },
    Format { country: "NZ", patterns: &["9999"], prefix: None },
    Format { country: "PH", patterns: &["9999"], prefix: None },
    Format { country: "PL", patterns: &["99-999"], prefix: None },
    Format { country: "PT", patterns: &["9999-999"], prefix: Some("P") },
    Format { country: "RO", patterns: &["999999"], prefix: None },
    Format { country: "RU", patterns: &["999999"], prefix: None },
    Format { country: "SA", patterns: &["99999"], prefix: None },
    Format { country: "SE", patterns: &["999 99"], prefix: Some("S") },
    Format { country: "SG", patterns: &["999999"], prefix: None },
    Format { country: "SI", patterns: &["9999"], prefix: None },
    Format { country: "SK", patterns: &["999 99"], prefix: None },
    Format { country: "TH", patterns: &["99999"], prefix: None },
    Format { country: "TR", patterns: &["99999"], prefix: None },
    Format { country: "TW", patterns: &["999", "99999", "999999"], prefix: None },
    Format { country: "UA", patterns: &["99999"], prefix: None },
    Format { country: "US", patterns: &["99999", "99999-9999"], prefix: None },
    Format { country: "VN", patterns: &["999999"], prefix: None },
    Format { country: "ZA", patterns: &["9999"], prefix: None },
];

/// Countries without a postcode system: any text is `None` for them.
static NO_POSTCODES: &[&str] = &[
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI", "CK", "CM", "DJ", "DM", "ER", "FJ", "GD", "GH", "GM", "GQ", "GY",
    "HK", "KI", "KM", "KN", "KP", "LC", "ML", "MO", "MR", "NR", "NU", "QA", "RW", "SB", "SC", "SL", "SR", "ST", "SY", "TF", "TG", "TK", "TL", "TO", "TT", "TV",
    "UG", "VU", "YE", "ZW",
];

/// The postcode of `raw` in `country`'s national format, or `None`.
pub fn clean_postcode(raw: &str, country: Country) -> Option<String> {
    formatted_postcode(raw, country).map(|f| f.written())
}

/// A postcode in its national format, on the stack (ASCII letters, digits and a format's
/// separators): an address asks about several candidates, and the one it keeps is often
/// the word as written, so most are never copied to the heap.
#[derive(Clone, Copy)]
pub struct Formatted {
    bytes: [u8; Formatted::CAPACITY],
    len: usize,
}

impl Formatted {
    /// The longest is `generic`'s: ten letters and digits in at most ten words.
    const CAPACITY: usize = 24;

    fn of(parts: &[&[u8]]) -> Formatted {
        let mut out = Formatted { bytes: [0; Formatted::CAPACITY], len: 0 };
        for &b in parts.iter().flat_map(|p| p.iter()) {
            out.push(b);
        }
        out
    }

    fn push(&mut self, b: u8) {
        // Nothing longer than the capacity is formatted (see CAPACITY): a byte past it would
        // be dropped rather than panic.
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The postcode as a String (its bytes are ASCII).
    pub fn written(&self) -> String {
        self.as_bytes().iter().map(|&b| char::from(b)).collect()
    }
}

/// `clean_postcode` on the stack: `None`, or the postcode in its national format.
pub fn formatted_postcode(raw: &str, country: Country) -> Option<Formatted> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let code = country.alpha2();
    // Codes compared as two-byte numbers (every code is two ASCII letters): every address
    // parsed asks several times.
    let key = |c: &str| match c.as_bytes() {
        [a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    let wanted = key(code);
    if NO_POSTCODES.binary_search_by_key(&wanted, |c| key(c)).is_ok() {
        return None;
    }
    let text = nfkc(raw);
    let trimmed = text.trim();
    let digit_format = DIGIT_FORMATS.binary_search_by_key(&wanted, |f| key(f.country)).ok().map(|i| &DIGIT_FORMATS[i]);
    let body = strip_label(trimmed, code, digit_format.and_then(|f| f.prefix));
    let compacted = compact(body)?;
    let compact = compacted.as_bytes();
    match code {
        "GB" => united_kingdom(compact),
        "CA" => canada(compact),
        "IE" => ireland(compact),
        "NL" => netherlands(compact),
        _ => match digit_format {
            Some(format) => digits(compact, format),
            None => generic(body),
        },
    }
}

/// Drops a label (`ZIP:`, `〒`, `CEP`) and an old European country prefix (`D-`, `NL-`).
/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let n = prefix.len();
    (s.len() >= n && s.is_char_boundary(n) && s[..n].eq_ignore_ascii_case(prefix)).then(|| &s[n..])
}

fn strip_label<'a>(text: &'a str, country: &str, vehicle: Option<&str>) -> &'a str {
    let mut s = text;
    // Labels start with a letter or a CJK mark; most inputs start with a digit.
    let labels = if s.chars().next().is_some_and(|c| !c.is_ascii_digit()) { LABELS } else { &[] };
    // Only the labels with the text's first byte (ignoring ASCII case) can match: most
    // texts asked about are words of an address, and most of those match none.
    let first = s.as_bytes().first().map(u8::to_ascii_uppercase);
    for label in labels.iter().filter(|l| l.as_bytes().first() == first.as_ref()) {
        if let Some(rest) = strip_prefix_ignore_case(s, label) {
            // A label is a whole word: `CP` must not eat the start of a GB `CP…` code (none
            // exist, but `PIN` must not eat `PIN` in other countries' letter codes either).
            let next = rest.chars().next();
            if label.is_ascii() && next.is_some_and(|c| c.is_ascii_alphanumeric()) && !rest.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            s = rest.trim_start_matches([':', '.', '#', ' ', '-', '：']).trim_start();
            break;
        }
    }
    for prefix in [Some(country), vehicle].into_iter().flatten() {
        if let Some(rest) = strip_prefix_ignore_case(s, prefix).and_then(|r| r.strip_prefix(['-', ' '])) {
            if rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                return rest.trim_start();
            }
        }
    }
    s
}

/// The letters (upper-cased) and digits of a postcode, on the stack: no postcode has more
/// than `Compact::CAPACITY` of them.
struct Compact {
    bytes: [u8; Compact::CAPACITY],
    len: usize,
}

impl Compact {
    const CAPACITY: usize = 12;

    // Bytes, not a str: only ASCII letters and digits are stored, and a UTF-8 check of
    // them cost more than the shapes compared.
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The letters (upper-cased) and digits of `s`, or `None` when it holds anything but them
/// and the separators people put in postcodes, or too many of them.
fn compact(s: &str) -> Option<Compact> {
    let mut out = Compact { bytes: [0; Compact::CAPACITY], len: 0 };
    for c in s.chars() {
        match c.to_ascii_uppercase() {
            upper @ ('A'..='Z' | '0'..='9') => {
                if out.len == Compact::CAPACITY {
                    return None;
                }
                out.bytes[out.len] = upper as u8;
                out.len += 1;
            }
            ' ' | '-' | '.' | '\u{2013}' | '\u{2212}' | '\u{30fc}' => {}
            _ => return None,
        }
    }
    (out.len > 0).then_some(out)
}

fn fits(compact: &[u8], pattern: &str) -> bool {
    let shape = pattern.bytes().filter(|b| *b != b' ' && *b != b'-');
    compact.len() == shape.clone().count()
        && compact.iter().zip(shape).all(|(&c, p)| match p {
            b'9' => c.is_ascii_digit(),
            b'A' => c.is_ascii_uppercase(),
            _ => c.is_ascii_alphanumeric(),
        })
}

/// `compact` written with `pattern`'s separators (it must fit the pattern).
fn layout(compact: &[u8], pattern: &str) -> Formatted {
    let mut out = Formatted::of(&[]);
    let mut chars = compact.iter();
    for p in pattern.bytes() {
        if p == b' ' || p == b'-' {
            out.push(p);
        } else if let Some(&c) = chars.next() {
            out.push(c);
        }
    }
    out
}

fn digits(compact: &[u8], format: &Format) -> Option<Formatted> {
    let pattern = format.patterns.iter().find(|p| fits(compact, p))?;
    let area = &compact[..2];
    let valid = match format.country {
        // 00000 is a placeholder (00501 is real: the IRS in Holtsville, NY).
        "US" => !compact.starts_with(b"00000"),
        // No PLZ, CEP or postcode area starts with 00.
        "DE" | "BR" | "CN" | "ES" | "IT" => area != b"00",
        // French departments run 01–95, plus overseas 97 and Monaco 980.
        "FR" => !matches!(area, b"00" | b"96" | b"99"),
        // Indian PIN codes start 1–9.
        "IN" => !compact.starts_with(b"0"),
        // Australian postcodes: 0200–0299 (ACT), 0800–0999 (NT), 1000 up.
        "AU" => !compact.starts_with(b"0") || matches!(area, b"02" | b"08" | b"09"),
        _ => true,
    };
    valid.then(|| layout(compact, pattern))
}

/// Countries with a postcode system whose format we do not check: the code upper-cased
/// with single spaces, when it looks like a code (2–10 letters and digits, a digit among
/// them).
fn generic(body: &str) -> Option<Formatted> {
    let words: Vec<&str> = body.split([' ', '-']).filter(|w| !w.is_empty()).collect();
    let joined = words.join(" ").to_ascii_uppercase();
    let alnum = joined.chars().filter(|c| *c != ' ').count();
    let ok = (2..=10).contains(&alnum) && joined.chars().all(|c| c == ' ' || c.is_ascii_alphanumeric()) && joined.chars().any(|c| c.is_ascii_digit());
    ok.then(|| Formatted::of(&[joined.as_bytes()]))
}

/// UK: outward code (A9, A99, AA9, AA99, A9A, AA9A) + inward code (9AA), with the Royal
/// Mail's letter rules; `GIR 0AA` is Girobank's.
fn united_kingdom(compact: &[u8]) -> Option<Formatted> {
    if compact == b"GIR0AA" {
        return Some(Formatted::of(&[b"GIR 0AA"]));
    }
    if !(5..=7).contains(&compact.len()) {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let ib = inward;
    let inward_ok = ib[0].is_ascii_digit() && ib[1..].iter().all(|c| c.is_ascii_uppercase() && !b"CIKMOV".contains(c));
    let ob = outward;
    let first_ok = ob[0].is_ascii_uppercase() && !b"QVX".contains(&ob[0]);
    let outward_ok = first_ok
        && if fits(outward, "A9") || fits(outward, "A99") {
            true
        } else if fits(outward, "AA9") || fits(outward, "AA99") {
            !b"IJZ".contains(&ob[1])
        } else if fits(outward, "A9A") {
            b"ABCDEFGHJKPSTUW".contains(&ob[2])
        } else if fits(outward, "AA9A") {
            !b"IJZ".contains(&ob[1]) && b"ABEHMNPRVWXY".contains(&ob[3])
        } else {
            false
        };
    (inward_ok && outward_ok).then(|| Formatted::of(&[outward, b" ", inward]))
}

/// Canada: A9A 9A9; D F I O Q U never appear, W and Z never first.
fn canada(compact: &[u8]) -> Option<Formatted> {
    let ok = fits(compact, "A9A9A9") && compact.iter().all(|c| !b"DFIOQU".contains(c)) && !b"WZ".contains(&compact[0]);
    ok.then(|| layout(compact, "A9A 9A9"))
}

/// Ireland's Eircode: routing key (a letter and two digits, or D6W) and a four-character
/// unique identifier, both from the letters An Post uses.
fn ireland(compact: &[u8]) -> Option<Formatted> {
    const LETTERS: &[u8] = b"ACDEFHKNPRTVWXY";
    if compact.len() != 7 {
        return None;
    }
    let (routing, unique) = compact.split_at(3);
    let routing_ok = routing == b"D6W" || (fits(routing, "A99") && LETTERS.contains(&routing[0]));
    let unique_ok = unique.iter().all(|c| c.is_ascii_digit() || LETTERS.contains(c));
    (routing_ok && unique_ok).then(|| Formatted::of(&[routing, b" ", unique]))
}

/// The Netherlands: 9999 AA, the first digit 1–9, the letter pairs SA, SD and SS unused.
fn netherlands(compact: &[u8]) -> Option<Formatted> {
    let ok = fits(compact, "9999AA") && !compact.starts_with(b"0") && !matches!(&compact[4..], b"SA" | b"SD" | b"SS");
    ok.then(|| layout(compact, "9999 AA"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str, country: &str) -> Option<String> {
        clean_postcode(raw, Country::parse("country", country).unwrap())
    }

    #[test]
    fn national_formats() {
        for (raw, country, want) in [
            ("02139", "US", "02139"),
            (" 02139-4307 ", "US", "02139-4307"),
            ("021394307", "US", "02139-4307"),
            ("ZIP: 94043", "usa", "94043"),
            ("k1a0b1", "CA", "K1A 0B1"),
            ("sw1a1aa", "GB", "SW1A 1AA"),
            ("EC1A 1BB", "UK", "EC1A 1BB"),
            ("m1 1ae", "GB", "M1 1AE"),
            ("gir0aa", "GB", "GIR 0AA"),
            ("d02x285", "IE", "D02 X285"),
            ("D6W 1234", "IE", "D6W 1234"),
            ("1012ab", "NL", "1012 AB"),
            ("NL-1012 AB", "NL", "1012 AB"),
            ("D-10115", "DE", "10115"),
            ("PLZ 80331", "DE", "80331"),
            ("F-75008", "FR", "75008"),
            ("0800", "AU", "0800"),
            ("110 001", "IN", "110001"),
            ("100000", "CN", "100000"),
            ("〒100-0001", "JP", "100-0001"),
            ("１０００００１", "JP", "100-0001"),
            ("03187", "KR", "03187"),
            ("01310100", "BR", "01310-100"),
            ("CEP 01310-100", "BR", "01310-100"),
            ("11433", "SE", "114 33"),
            ("00-950", "PL", "00-950"),
        ] {
            assert_eq!(p(raw, country).as_deref(), Some(want), "{raw} {country}");
        }
    }

    #[test]
    fn invalid_shapes_are_none() {
        for (raw, country) in [
            ("2139", "US"),
            ("ABCDE", "US"),
            ("00000", "US"),
            ("021394", "US"),
            ("D1A 0B1", "CA"),
            ("W1A 0B1", "CA"),
            ("Q1 1AA", "GB"),
            ("SW1A 1AC", "GB"),
            ("SW1A", "GB"),
            ("B02 X285", "IE"),
            ("0123 AB", "NL"),
            ("1012 SS", "NL"),
            ("1012", "NL"),
            ("1011", "DE"),
            ("96000", "FR"),
            ("0100", "AU"),
            ("012345", "IN"),
            ("110-062", "KR"),
            ("1000-01", "JP"),
            ("", "US"),
            ("   ", "GB"),
            ("12345", "AE"),
            ("10115 Berlin", "DE"),
        ] {
            assert_eq!(p(raw, country), None, "{raw} {country}");
        }
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(DIGIT_FORMATS.windows(2).all(|w| w[0].country < w[1].country));
        assert!(NO_POSTCODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn other_countries_are_normalised_not_checked() {
        assert_eq!(p(" ab-12 ", "MT").as_deref(), Some("AB 12"));
        assert_eq!(p("abc", "MT"), None);
    }
}
