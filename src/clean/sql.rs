//! SQL surface of the cleaning functions: IMMUTABLE, STRICT, PARALLEL SAFE.

use pgrx::prelude::*;

use super::{date, email, name, phone, similarity, text};
use crate::error::sql::OrRaise;

/// Normalised e-mail address, or NULL when the text holds no valid address.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_email(raw: &str) -> Option<String> {
    email::clean_email(raw)
}

/// E.164 phone number (`+14155550132`), or NULL when the number is not valid for its region.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_phone(raw: &str, default_region: default!(&str, "'US'")) -> Option<String> {
    let region = phone::Region::parse(default_region).or_raise();
    phone::clean_phone(raw, region)
}

/// A person's name in proper case, `LAST, FIRST` reordered, noise removed.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_name(raw: &str) -> Option<String> {
    name::clean_name(raw)
}

/// NFKC, control characters removed, whitespace collapsed and trimmed; NULL when empty.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_text(raw: &str) -> Option<String> {
    text::clean_text(raw)
}

/// A date from ISO, compact, numeric (ordered by `field_order`) or month-name text.
#[pg_extern(immutable, strict, parallel_safe)]
fn parse_date(raw: &str, field_order: default!(&str, "'YMD'")) -> Option<pgrx::datum::Date> {
    let order = date::FieldOrder::parse(field_order).or_raise();
    let ymd = date::parse_date(raw, order)?;
    pgrx::datum::Date::new(ymd.year, ymd.month, ymd.day).ok()
}

/// String similarity in [0, 1]: 'jaro_winkler' (default), 'jaro', 'levenshtein', 'jaccard'.
#[pg_extern(immutable, strict, parallel_safe)]
fn similarity(a: &str, b: &str, method: default!(&str, "'jaro_winkler'")) -> f64 {
    let method = similarity::Method::parse(method).or_raise();
    similarity::similarity(a, b, method)
}

/// Double Metaphone key per word, for blocking record comparisons.
#[pg_extern(immutable, strict, parallel_safe)]
fn phonetic_key(raw: &str) -> Option<String> {
    similarity::phonetic_key(raw)
}
