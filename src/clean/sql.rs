//! SQL surface of the cleaning functions: IMMUTABLE, STRICT, PARALLEL SAFE.

use pgrx::prelude::*;

use super::{address, country, date, email, name, phone, postcode, similarity, text};
use crate::error::sql::OrRaise;
use crate::pg::jsonb::Jsonb;

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

/// A postcode in its country's national format ('SW1A 1AA', '02139-4307', '100-0001'), or
/// NULL when the text is not a valid shape for the country. `country` is an ISO 3166-1 code.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_postcode(raw: &str, country: &str) -> Option<String> {
    let country = country::Country::parse("country", country).or_raise();
    postcode::clean_postcode(raw, country)
}

fn optional_country(country: Option<&str>) -> Option<country::Country> {
    country.map(|c| country::Country::parse("country", c).or_raise())
}

/// Components of a free-text postal address: a jsonb object with the keys found among
/// house_number, road, unit, city, state, postcode and country. NULL when none is found.
/// Not STRICT: `country` may be NULL (inferred from the text).
#[pg_extern(immutable, parallel_safe)]
fn parse_address(raw: Option<&str>, country: default!(Option<&str>, "NULL")) -> Option<Jsonb> {
    let country = optional_country(country);
    address::with_component_pairs(raw?, country, Jsonb::from_string_pairs)?
}

/// The address in one canonical lower-case line for matching, abbreviations written out
/// (St → street, Str. → straße, Apt/Unit/# → unit).
#[pg_extern(immutable, parallel_safe)]
fn normalize_address(raw: Option<&str>, country: default!(Option<&str>, "NULL")) -> Option<String> {
    let country = optional_country(country);
    address::normalize_address(raw?, country)
}

/// A blocking key for addresses: `postcode|house number|first road word`.
#[pg_extern(immutable, parallel_safe)]
fn address_key(raw: Option<&str>, country: default!(Option<&str>, "NULL")) -> Option<String> {
    let country = optional_country(country);
    address::address_key(raw?, country)
}
