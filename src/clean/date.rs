//! `parse_date`: a calendar date out of the ways people and systems write one.
//!
//! Understood (case-insensitive, surrounding whitespace ignored):
//! * ISO 8601 dates and timestamps: `2021-03-04`, `2021-03-04T10:22:00Z`,
//!   `2021-03-04 10:22:00+02`; the date is the one written, the time and zone are dropped.
//! * `20210304` (eight digits: always year, month, day).
//! * Numeric dates with `/`, `-` or `.` separators. A four-digit first field is a year
//!   (`2021/3/4` is YMD whatever the order). Otherwise `field_order` (`YMD`, `DMY`, `MDY`)
//!   decides; with the default `YMD` and a four-digit year last (`04/03/2021`), the date
//!   is returned only when just one of day-month and month-day is a real date, or both
//!   read the same; an ambiguous date is `NULL` rather than a guess.
//! * English month names and abbreviations, weekday names ignored, ordinals allowed:
//!   `4 March 2021`, `Mar 4, 2021`, `March 4th 2021`, `04-MAR-21`, `Thursday, 4 March 2021`,
//!   `2021 Mar 4`.
//! * A time after the date (`04/03/2021 10:22`, `... 10:22 PM`) is ignored.
//!
//! Two-digit years use the POSIX/Python pivot: 00–68 → 2000–2068, 69–99 → 1969–1999.
//! Anything else, including impossible dates (`2021-02-30`) and years outside 1–9999, is
//! `None`.

use crate::error::{CrmError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOrder {
    Ymd,
    Dmy,
    Mdy,
}

impl FieldOrder {
    pub fn parse(order: &str) -> Result<FieldOrder> {
        match order.trim().to_ascii_uppercase().as_str() {
            "YMD" => Ok(FieldOrder::Ymd),
            "DMY" => Ok(FieldOrder::Dmy),
            "MDY" => Ok(FieldOrder::Mdy),
            _ => Err(CrmError::bad_argument("field_order", order, "'YMD', 'DMY' or 'MDY'")),
        }
    }
}

/// A valid proleptic Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ymd {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

const MAX_INPUT_BYTES: usize = 100;

const MONTHS: &[(&str, u8)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

const WEEKDAYS: &[&str] =
    &["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"];

pub fn parse_date(raw: &str, order: FieldOrder) -> Option<Ymd> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() || !s.is_ascii() {
        return None;
    }
    if s.bytes().any(|b| b.is_ascii_alphabetic()) && has_month_name(&s) {
        return parse_with_month_name(&s, order);
    }
    let date_part = strip_time(&s);
    if date_part.len() == 8 && date_part.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| date_part[r].parse::<u32>().ok();
        return make(n(0..4)? as i32, n(4..6)?, n(6..8)?);
    }
    parse_numeric(date_part, order)
}

/// The date part of `date[T ]time[zone]`.
fn strip_time(s: &str) -> &str {
    let s = s.trim();
    if let Some(t) = s.find('t') {
        // ISO: "2021-03-04t10:22:00z"
        if t >= 8 && s[..t].bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return &s[..t];
        }
    }
    match s.find(char::is_whitespace) {
        Some(sp) if s[sp..].contains(':') || s[sp..].contains("am") || s[sp..].contains("pm") => s[..sp].trim(),
        _ => s,
    }
}

fn parse_numeric(s: &str, order: FieldOrder) -> Option<Ymd> {
    let sep = s.bytes().find(|b| matches!(b, b'/' | b'-' | b'.'))? as char;
    let fields: Vec<&str> = s.split(sep).collect();
    if fields.len() != 3 || fields.iter().any(|f| f.is_empty() || f.len() > 4 || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let num = |i: usize| fields[i].parse::<u32>().ok();
    let (a, b, c) = (num(0)?, num(1)?, num(2)?);
    let (la, lc) = (fields[0].len(), fields[2].len());
    if la == 4 {
        return make(a as i32, b, c);
    }
    if la == 3 || lc == 3 || fields[1].len() > 2 {
        return None;
    }
    match order {
        FieldOrder::Dmy => make(year(fields[2], c)?, b, a),
        FieldOrder::Mdy => make(year(fields[2], c)?, a, b),
        FieldOrder::Ymd if lc == 4 => {
            // Year last under YMD: day and month order unknown; accept only what is unambiguous.
            let dmy = make(c as i32, b, a);
            let mdy = make(c as i32, a, b);
            match (dmy, mdy) {
                (Some(x), Some(y)) if x == y => Some(x),
                (Some(x), None) => Some(x),
                (None, Some(y)) => Some(y),
                _ => None,
            }
        }
        FieldOrder::Ymd => make(year(fields[0], a)?, b, c),
    }
}

fn year(field: &str, value: u32) -> Option<i32> {
    match field.len() {
        1 | 2 => Some(if value <= 68 { 2000 + value as i32 } else { 1900 + value as i32 }),
        4 => Some(value as i32),
        _ => None,
    }
}

fn has_month_name(s: &str) -> bool {
    tokens(s).iter().any(|t| month_of(t).is_some())
}

fn month_of(token: &str) -> Option<u8> {
    MONTHS.iter().find(|(name, _)| *name == token).map(|&(_, m)| m)
}

fn tokens(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '/' | '-' | '.')).filter(|t| !t.is_empty()).collect()
}

fn parse_with_month_name(s: &str, order: FieldOrder) -> Option<Ymd> {
    let mut month = None;
    let mut numbers: Vec<&str> = Vec::new();
    for token in tokens(s) {
        if let Some(m) = month_of(token) {
            if month.replace(m).is_some() {
                return None;
            }
        } else if WEEKDAYS.contains(&token) || token == "of" || token == "the" {
            continue;
        } else if token.contains(':') || token == "am" || token == "pm" || token == "z" || token == "utc" {
            // a time of day after the date: ignored, and nothing after it counts
            break;
        } else {
            let digits = token
                .strip_suffix("st")
                .or_else(|| token.strip_suffix("nd"))
                .or_else(|| token.strip_suffix("rd"))
                .or_else(|| token.strip_suffix("th"))
                .unwrap_or(token);
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            numbers.push(digits);
        }
    }
    let month = month?;
    let [first, second] = numbers.as_slice() else {
        return None;
    };
    let (f, s2) = (first.parse::<u32>().ok()?, second.parse::<u32>().ok()?);
    // A four-digit number or one over 31 is the year; otherwise the day comes first and
    // the year second, as in "4 March 21", "March 4 21" and Oracle's "04-MAR-21".
    let (year_field, year_value, day) = if first.len() == 4 || f > 31 { (*first, f, s2) } else { (*second, s2, f) };
    let _ = order; // month names make the order explicit
    make(year(year_field, year_value)?, month as u32, day)
}

fn make(year: i32, month: u32, day: u32) -> Option<Ymd> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    if day > days_in_month(year, month as u8) as u32 {
        return None;
    }
    Some(Ymd { year, month: month as u8, day: day as u8 })
}

pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(raw: &str, order: &str) -> Option<(i32, u8, u8)> {
        parse_date(raw, FieldOrder::parse(order).unwrap()).map(|x| (x.year, x.month, x.day))
    }

    #[test]
    fn iso_and_compact() {
        assert_eq!(d("2021-03-04", "YMD"), Some((2021, 3, 4)));
        assert_eq!(d("2021-03-04T10:22:00Z", "DMY"), Some((2021, 3, 4)));
        assert_eq!(d("2021-03-04 10:22:00+02", "YMD"), Some((2021, 3, 4)));
        assert_eq!(d("20210304", "MDY"), Some((2021, 3, 4)));
        assert_eq!(d("2021/3/4", "DMY"), Some((2021, 3, 4)));
        assert_eq!(d("2021.03.04", "YMD"), Some((2021, 3, 4)));
    }

    #[test]
    fn numeric_by_field_order() {
        assert_eq!(d("04/03/2021", "DMY"), Some((2021, 3, 4)));
        assert_eq!(d("04/03/2021", "MDY"), Some((2021, 4, 3)));
        assert_eq!(d("04/03/2021", "YMD"), None); // ambiguous without an order
        assert_eq!(d("25/03/2021", "YMD"), Some((2021, 3, 25)));
        assert_eq!(d("03/25/2021", "YMD"), Some((2021, 3, 25)));
        assert_eq!(d("03/03/2021", "YMD"), Some((2021, 3, 3)));
        assert_eq!(d("4.3.21", "DMY"), Some((2021, 3, 4)));
        assert_eq!(d("21-03-04", "YMD"), Some((2021, 3, 4)));
        assert_eq!(d("3/4/99", "MDY"), Some((1999, 3, 4)));
        assert_eq!(d("3/4/68", "MDY"), Some((2068, 3, 4)));
        assert_eq!(d("3/4/69", "MDY"), Some((1969, 3, 4)));
        assert_eq!(d("04/03/2021 10:22", "DMY"), Some((2021, 3, 4)));
        assert_eq!(d("04/03/2021 10:22 PM", "DMY"), Some((2021, 3, 4)));
    }

    #[test]
    fn month_names() {
        for raw in [
            "4 March 2021",
            "Mar 4, 2021",
            "March 4th, 2021",
            "04-MAR-21",
            "Thursday, 4 March 2021",
            "2021 Mar 4",
            "4th of March 2021",
            "MARCH 04 2021",
            "Mar. 4, 2021",
            "4-Mar-2021",
            "Thu, 04 Mar 2021 10:22:00 GMT",
        ] {
            assert_eq!(d(raw, "YMD"), Some((2021, 3, 4)), "{raw}");
        }
        assert_eq!(d("Sept 30 2021", "YMD"), Some((2021, 9, 30)));
    }

    #[test]
    fn impossible_and_garbage() {
        for raw in [
            "2021-02-30",
            "2021-13-01",
            "2019-02-29",
            "0000-01-01",
            "",
            "   ",
            "hello",
            "March 2021",
            "32/01/2021",
            "1614816000",
            "2021-03",
            "12:30",
            "NaN",
            "4 March",
            "2021-03-04-05",
            "Mar 4 Apr 2021",
            "99999999",
        ] {
            assert_eq!(d(raw, "DMY"), None, "{raw}");
        }
        assert_eq!(d("2020-02-29", "YMD"), Some((2020, 2, 29)));
        assert_eq!(d("2000-02-29", "YMD"), Some((2000, 2, 29)));
        assert_eq!(d("1900-02-29", "YMD"), None);
        assert_eq!(parse_date(&"1".repeat(10_000_000), FieldOrder::Ymd), None);
    }

    #[test]
    fn bad_order_is_an_argument_error() {
        let e = FieldOrder::parse("XYZ").unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.message().contains("field_order"));
        assert_eq!(FieldOrder::parse("dmy").unwrap(), FieldOrder::Dmy);
    }
}
