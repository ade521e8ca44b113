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
//! * Month names and abbreviations in English, French, German, Spanish, Portuguese,
//!   Italian, Dutch and Russian, weekday names ignored, ordinals allowed:
//!   `4 March 2021`, `Mar 4, 2021`, `March 4th 2021`, `04-MAR-21`, `Thursday, 4 March 2021`,
//!   `2021 Mar 4`, `5 mars 2024`, `5. März 2024`, `5 de marzo de 2024`, `1er avril 2024`,
//!   `5 марта 2024 г.`.
//! * A time after the date (`04/03/2021 10:22`, `... 10:22 PM`) is ignored.
//! * Full-width forms (`２０２４－０３－０５`): NFKC first.
//! * Chinese, Japanese and Korean dates: `2024年3月5日`, `二〇二四年三月五日`, `2024年3月5号`,
//!   `2024년 3월 5일`, Japanese era years `令和6年3月5日` / `平成元年` (a date before the era
//!   began is `None`); a year is required.
//!
//! Two-digit years use the POSIX/Python pivot: 00–68 → 2000–2068, 69–99 → 1969–1999.
//! Anything else, including impossible dates (`2021-02-30`) and years outside 1–9999, is
//! `None`.

use crate::error::{CrmError, Result};
use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

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

/// Month names and abbreviations in English, French, German, Spanish, Portuguese, Italian,
/// Dutch and Russian (nominative and genitive), lowercase.
const MONTHS: &[(&str, u8)] = &[
    ("january", 1),
    ("jan", 1),
    ("janvier", 1),
    ("janv", 1),
    ("januar", 1),
    ("jänner", 1),
    ("jän", 1),
    ("enero", 1),
    ("ene", 1),
    ("janeiro", 1),
    ("gennaio", 1),
    ("gen", 1),
    ("januari", 1),
    ("январь", 1),
    ("января", 1),
    ("янв", 1),
    ("february", 2),
    ("feb", 2),
    ("février", 2),
    ("fevrier", 2),
    ("févr", 2),
    ("fév", 2),
    ("февр", 2),
    ("мар", 3),
    ("нояб", 11),
    ("fevr", 2),
    ("februar", 2),
    ("febrero", 2),
    ("fevereiro", 2),
    ("fev", 2),
    ("febbraio", 2),
    ("februari", 2),
    ("февраль", 2),
    ("февраля", 2),
    ("фев", 2),
    ("march", 3),
    ("mar", 3),
    ("mars", 3),
    ("märz", 3),
    ("maerz", 3),
    ("mär", 3),
    ("mrz", 3),
    ("marzo", 3),
    ("março", 3),
    ("marco", 3),
    ("maart", 3),
    ("mrt", 3),
    ("март", 3),
    ("марта", 3),
    ("april", 4),
    ("apr", 4),
    ("avril", 4),
    ("avr", 4),
    ("abril", 4),
    ("abr", 4),
    ("aprile", 4),
    ("апрель", 4),
    ("апреля", 4),
    ("апр", 4),
    ("may", 5),
    ("mai", 5),
    ("mayo", 5),
    ("maio", 5),
    ("maggio", 5),
    ("mag", 5),
    ("mei", 5),
    ("май", 5),
    ("мая", 5),
    ("june", 6),
    ("jun", 6),
    ("juin", 6),
    ("juni", 6),
    ("junio", 6),
    ("junho", 6),
    ("giugno", 6),
    ("giu", 6),
    ("июнь", 6),
    ("июня", 6),
    ("июн", 6),
    ("july", 7),
    ("jul", 7),
    ("juillet", 7),
    ("juil", 7),
    ("juli", 7),
    ("julio", 7),
    ("julho", 7),
    ("luglio", 7),
    ("lug", 7),
    ("июль", 7),
    ("июля", 7),
    ("июл", 7),
    ("august", 8),
    ("aug", 8),
    ("août", 8),
    ("aout", 8),
    ("agosto", 8),
    ("ago", 8),
    ("augustus", 8),
    ("август", 8),
    ("августа", 8),
    ("авг", 8),
    ("september", 9),
    ("sep", 9),
    ("sept", 9),
    ("septembre", 9),
    ("septiembre", 9),
    ("setiembre", 9),
    ("setembro", 9),
    ("set", 9),
    ("settembre", 9),
    ("сентябрь", 9),
    ("сентября", 9),
    ("сен", 9),
    ("сент", 9),
    ("october", 10),
    ("oct", 10),
    ("octobre", 10),
    ("oktober", 10),
    ("okt", 10),
    ("octubre", 10),
    ("outubro", 10),
    ("out", 10),
    ("ottobre", 10),
    ("ott", 10),
    ("октябрь", 10),
    ("октября", 10),
    ("окт", 10),
    ("november", 11),
    ("nov", 11),
    ("novembre", 11),
    ("noviembre", 11),
    ("novembro", 11),
    ("ноябрь", 11),
    ("ноября", 11),
    ("ноя", 11),
    ("december", 12),
    ("dec", 12),
    ("décembre", 12),
    ("decembre", 12),
    ("déc", 12),
    ("dezember", 12),
    ("dez", 12),
    ("diciembre", 12),
    ("dic", 12),
    ("dezembro", 12),
    ("dicembre", 12),
    ("декабрь", 12),
    ("декабря", 12),
    ("дек", 12),
];

/// Weekday names in those languages: ignored (other languages' abbreviations are left out:
/// French `mar` is March too).
const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonnabend",
    "sonntag",
    "lunes",
    "martes",
    "miércoles",
    "miercoles",
    "jueves",
    "viernes",
    "sábado",
    "sabado",
    "domingo",
    "segunda",
    "terça",
    "terca",
    "quarta",
    "quinta",
    "sexta",
    "feira",
    "lunedì",
    "lunedi",
    "martedì",
    "martedi",
    "mercoledì",
    "mercoledi",
    "giovedì",
    "giovedi",
    "venerdì",
    "venerdi",
    "sabato",
    "domenica",
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
];

/// Words around the parts of a written date: `5 de marzo de 2024`, `5 марта 2024 г.`.
const FILLERS: &[&str] = &["of", "the", "de", "del", "di", "le", "el", "den", "der", "am", "im", "г", "года"];

pub fn parse_date(raw: &str, order: FieldOrder) -> Option<Ymd> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let trimmed = raw.trim();
    let normalised;
    let mut s = trimmed.to_ascii_lowercase();
    if !s.is_ascii() {
        // NFKC first: full-width digits and punctuation (２０２４－０３－０５) become ASCII
        // (text already in NFKC, most of it, is not copied).
        normalised = super::text::nfkc(trimmed);
        if !normalised.is_ascii() {
            let lower = normalised.trim().to_lowercase();
            if has_month_name(&lower) {
                return parse_with_month_name(&lower, order);
            }
            return parse_cjk(normalised.trim());
        }
        s = normalised.trim().to_ascii_lowercase();
    }
    if s.is_empty() {
        return None;
    }
    if s.bytes().any(|b| b.is_ascii_alphabetic()) && has_month_name(&s) {
        return parse_with_month_name(&s, order);
    }
    if let Some(date) = parse_era_letter(&s) {
        return Some(date);
    }
    // Korean dotted dates: "2024. 3. 5." (a space after each dot, a dot at the end).
    let compacted;
    if s.contains(". ") && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b' ') {
        compacted = s.replace(' ', "");
        s = compacted.trim_end_matches('.').to_string();
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
    tokens(s).any(|t| matches!(date_word(t), Some(DateWord::Month(_))))
}

/// What a word of a written date is: a month (its number), or a weekday or filler word
/// that is skipped.
#[derive(Clone, Copy)]
enum DateWord {
    Month(u8),
    Skipped,
}

/// The word `token` (lower case) as one of the date words above, or `None`. The lists are
/// indexed once per process: every token of every date is looked up, and a scan of the
/// 150 month names was most of a date's parse.
fn date_word(token: &str) -> Option<DateWord> {
    static INDEX: OnceLock<HashMap<&'static str, DateWord>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index = HashMap::default();
        // A month name wins over a skipped word, and the first entry of a name over a later one.
        for (name, month) in MONTHS {
            index.entry(*name).or_insert(DateWord::Month(*month));
        }
        for word in WEEKDAYS.iter().chain(FILLERS) {
            index.entry(*word).or_insert(DateWord::Skipped);
        }
        index
    });
    index.get(token).copied()
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '/' | '-' | '.')).filter(|t| !t.is_empty())
}

fn parse_with_month_name(s: &str, order: FieldOrder) -> Option<Ymd> {
    let mut month = None;
    // The first two numbers, and how many there were (a date has exactly two).
    let mut numbers: [&str; 2] = [""; 2];
    let mut count = 0usize;
    for token in tokens(s) {
        match date_word(token) {
            Some(DateWord::Month(m)) => {
                if month.replace(m).is_some() {
                    return None;
                }
                continue;
            }
            Some(DateWord::Skipped) => continue,
            None => {}
        }
        if token.contains(':') || token == "am" || token == "pm" || token == "z" || token == "utc" {
            // a time of day after the date: ignored, and nothing after it counts
            break;
        } else {
            // ordinals: 4th, 1er / 1re (French), 1o / 1a (º, ª after NFKC), 1e (Dutch), 1°
            // '85: a two-digit year with its apostrophe.
            let token = token.trim_start_matches(['\'', '’']);
            let digits = ["st", "nd", "rd", "th", "er", "re", "o", "a", "e", "°"].iter().find_map(|suffix| token.strip_suffix(suffix)).unwrap_or(token);
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if count < 2 {
                numbers[count] = digits;
            }
            count += 1;
        }
    }
    let month = month?;
    let [first, second] = &numbers;
    if count != 2 {
        return None;
    }
    let (f, s2) = (first.parse::<u32>().ok()?, second.parse::<u32>().ok()?);
    // A four-digit number or one over 31 is the year; otherwise the day comes first and
    // the year second, as in "4 March 21", "March 4 21" and Oracle's "04-MAR-21".
    let (year_field, year_value, day) = if first.len() == 4 || f > 31 { (*first, f, s2) } else { (*second, s2, f) };
    let _ = order; // month names make the order explicit
    make(year(year_field, year_value)?, month as u32, day)
}

/// Japanese eras: name, first day (the year, month and day year 1 began).
const ERAS: &[(&str, (i32, u32, u32))] =
    &[("令和", (2019, 5, 1)), ("平成", (1989, 1, 8)), ("昭和", (1926, 12, 25)), ("大正", (1912, 7, 30)), ("明治", (1868, 1, 25))];

/// A number written with ASCII digits, CJK digits (二〇二四, positional) or CJK tens
/// (十二, 三十一, 二十); 元 is 1 (an era's first year). None for anything else.
fn cjk_number(text: &str) -> Option<u32> {
    let digit = |c: char| -> Option<u32> {
        Some(match c {
            '0'..='9' => c as u32 - '0' as u32,
            '〇' | '零' => 0,
            '一' => 1,
            '二' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    };
    let text = text.trim();
    if text == "元" {
        return Some(1);
    }
    if text.is_empty() || text.chars().count() > 6 {
        return None;
    }
    match text.split_once('十') {
        // 十 = 10, 十二 = 12, 二十 = 20, 三十一 = 31
        Some((tens, units)) => {
            let tens = if tens.is_empty() { 1 } else { digit(single(tens)?)? };
            let units = if units.is_empty() { 0 } else { digit(single(units)?)? };
            Some(tens * 10 + units)
        }
        None => text.chars().try_fold(0u32, |n, c| Some(n * 10 + digit(c)?)),
    }
}

/// The one character of `text`, if it has exactly one.
fn single(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Chinese, Japanese and Korean dates, after NFKC: `2024年3月5日`, `二〇二四年三月五日`,
/// `2024年3月5号`, `2024년 3월 5일`, `令和6年3月5日` (an era year, 元年 its first; a date
/// before the era began is None). A year is required (no guess from `3月5日`), written in
/// full (three or four digits) unless it is an era year.
fn parse_cjk(s: &str) -> Option<Ymd> {
    let mut rest = s.trim();
    let mut era = None;
    for (index, (name, _)) in ERAS.iter().enumerate() {
        if let Some(after) = rest.strip_prefix(name) {
            era = Some(index);
            rest = after;
            break;
        }
    }
    let (year_text, rest) = rest.split_once(['年', '년'])?;
    let (month_text, rest) = rest.split_once(['月', '월'])?;
    let (day_text, after) = rest.split_once(['日', '号', '號', '일']).unwrap_or((rest, ""));
    if !is_cjk_weekday(after) {
        return None;
    }
    let (year_n, month, day) = (cjk_number(year_text)?, cjk_number(month_text)?, cjk_number(day_text)?);
    match era {
        Some(index) => era_date(index, year_n, month, day),
        None => {
            let digits = year_text.trim().chars().count();
            if !(3..=4).contains(&digits) {
                return None;
            }
            make(year_n as i32, month, day)
        }
    }
}

/// What may follow a CJK date: nothing, or its weekday (`星期二`, `周二`, `（火）`,
/// `火曜日`, `(화)`, `화요일`), bracketed or not.
fn is_cjk_weekday(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(['(', '[']).and_then(|x| x.strip_suffix([')', ']'])).unwrap_or(t).trim();
    if t.is_empty() {
        return true;
    }
    let one_of = |x: &str, set: &str| single(x).is_some_and(|c| set.contains(c));
    if let Some(d) = t
        .strip_prefix("星期")
        .or_else(|| t.strip_prefix("礼拜"))
        .or_else(|| t.strip_prefix("禮拜"))
        .or_else(|| t.strip_prefix("周"))
        .or_else(|| t.strip_prefix("週"))
    {
        return one_of(d, "一二三四五六日天");
    }
    if let Some(d) = t.strip_suffix("曜日").or_else(|| t.strip_suffix("曜")) {
        return one_of(d, "月火水木金土日");
    }
    if let Some(d) = t.strip_suffix("요일") {
        return one_of(d, "월화수목금토일");
    }
    one_of(t, "月火水木金土日월화수목금토일")
}

/// Japanese era dates written with the era's letter, as Excel's `ge.m.d` prints them:
/// `R6.3.5`, `H31.4.30`, `S64.1.7` (M Meiji, T Taishō, S Shōwa, H Heisei, R Reiwa).
fn parse_era_letter(s: &str) -> Option<Ymd> {
    let era = match s.as_bytes().first()? {
        b'm' => 4,
        b't' => 3,
        b's' => 2,
        b'h' => 1,
        b'r' => 0,
        _ => return None,
    };
    let rest = &s[1..];
    let sep = rest.bytes().find(|b| matches!(b, b'.' | b'/' | b'-'))? as char;
    let fields: Vec<&str> = rest.split(sep).collect();
    if fields.len() != 3 || fields.iter().any(|f| f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let n = |i: usize| fields[i].parse::<u32>().ok();
    era_date(era, n(0)?, n(1)?, n(2)?)
}

/// The date of year `year_n` (1 is the first), month and day of `ERAS[era]`; None when the
/// day lies outside the era (before its first day, or from the next era's first day on).
fn era_date(era: usize, year_n: u32, month: u32, day: u32) -> Option<Ymd> {
    if year_n == 0 || year_n > 100 {
        return None;
    }
    let (first_year, first_month, first_day) = ERAS[era].1;
    let date = make(first_year + year_n as i32 - 1, month, day)?;
    let at = (date.year, date.month, date.day);
    let after_start = at >= (first_year, first_month as u8, first_day as u8);
    let before_next = era == 0 || {
        let (y, m, d) = ERAS[era - 1].1;
        at < (y, m as u8, d as u8)
    };
    (after_start && before_next).then_some(date)
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
    fn month_names_in_eight_languages() {
        for raw in [
            "5 March 2024",
            "5 mars 2024",
            "5. März 2024",
            "5 maerz 2024",
            "5 de marzo de 2024",
            "5 de março de 2024",
            "5 marzo 2024",
            "5 maart 2024",
            "5 марта 2024",
            "5 марта 2024 г.",
            "mardi 5 mars 2024",
            "Dienstag, 5. März 2024",
            "martes, 5 de marzo de 2024",
            "terça-feira, 5 de março de 2024",
            "martedì 5 marzo 2024",
            "dinsdag 5 maart 2024",
            "вторник, 5 марта 2024",
            "5 mrt 2024",
            "5 MARS 2024",
        ] {
            assert_eq!(d(raw, "YMD"), Some((2024, 3, 5)), "{raw}");
        }
        assert_eq!(d("1er avril 2024", "YMD"), Some((2024, 4, 1)));
        assert_eq!(d("1º de abril de 2024", "YMD"), Some((2024, 4, 1)));
        assert_eq!(d("15 août 2024", "YMD"), Some((2024, 8, 15)));
        assert_eq!(d("3 dic 2024", "YMD"), Some((2024, 12, 3)));
        assert_eq!(d("31 février 2024", "YMD"), None);
        assert_eq!(d("demain", "YMD"), None);
        assert_eq!(d("3 days ago", "YMD"), None);
    }

    #[test]
    fn full_width_and_cjk_dates() {
        for raw in [
            "２０２４－０３－０５",
            "2024年3月5日",
            "2024年03月05日",
            "二〇二四年三月五日",
            "2024年3月5号",
            "2024년 3월 5일",
            "2024년3월5일",
            "令和6年3月5日",
            " 令和６年３月５日 ",
        ] {
            assert_eq!(d(raw, "YMD"), Some((2024, 3, 5)), "{raw}");
        }
        assert_eq!(d("二〇二四年十二月三十一日", "YMD"), Some((2024, 12, 31)));
        assert_eq!(d("二〇二四年十月二十日", "YMD"), Some((2024, 10, 20)));
        assert_eq!(d("平成31年4月30日", "YMD"), Some((2019, 4, 30)));
        assert_eq!(d("令和元年5月1日", "YMD"), Some((2019, 5, 1)));
        assert_eq!(d("昭和64年1月7日", "YMD"), Some((1989, 1, 7)));
        // never a guess: before the era began, impossible dates, no year, two-digit years, relative words
        for raw in
            ["令和1年4月30日", "2024年2月30日", "2024年13月1日", "3月5日", "24年3月5日", "明天", "2024年三十二月1日", "令和0年5月1日", "年月日", "2024年3月"]
        {
            assert_eq!(d(raw, "YMD"), None, "{raw}");
        }
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
