//! Reading `options jsonb` values: each bad value is one 22023 error naming the option
//! and what it accepts.

use serde_json::{Map, Value};

use crate::error::{CrmError, Result};

/// A number in [min, max].
pub fn number(key: &str, v: &Value, min: f64, max: f64, accepted: &str) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x >= min && x <= max && x.is_finite() => Ok(x),
        _ => Err(CrmError::bad_argument(&format!("options.{key}"), v, accepted)),
    }
}

/// An integer in [min, max].
pub fn integer(key: &str, v: &Value, min: u64, max: u64) -> Result<u64> {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x >= min as f64 && x <= max as f64 => Ok(x as u64),
        _ => Err(CrmError::bad_argument(&format!("options.{key}"), v, &format!("an integer from {min} to {max}"))),
    }
}

pub fn text(key: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| CrmError::bad_argument(&format!("options.{key}"), v, "a string"))
}

pub fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| CrmError::bad_argument(&format!("options.{key}"), v, "true or false"))
}

/// An array of names (a single string is a list of one).
pub fn names(key: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(|i| text(key, i)).collect(),
        Value::String(s) => Ok(vec![s.clone()]),
        _ => Err(CrmError::bad_argument(&format!("options.{key}"), v, "an array of column names")),
    }
}

/// The options object (NULL counts as empty).
pub fn object<'a>(options: &'a Value, empty: &'a Map<String, Value>, example: &str) -> Result<&'a Map<String, Value>> {
    match options {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(empty),
        other => Err(CrmError::bad_argument("options", other, &format!("a JSON object such as '{example}'"))),
    }
}

/// The error for a key no training function knows.
pub fn unknown(key: &str, function: &str, accepted: &str) -> CrmError {
    CrmError::InvalidArgument(format!("unknown option \"{key}\" for {function}; accepted: {accepted}"))
}
