//! The `options jsonb` argument of training and matching functions, read without panics.
//!
//! pgrx's `JsonB` argument converts the value to text and parses it with serde_json,
//! panicking (XX000) on what jsonb accepts but serde_json does not: numbers beyond a
//! double (`{"C": 1e400}`) and nesting deeper than serde_json's 128 levels. This type
//! keeps the SQL type (jsonb) and the parse, and turns a failure into a 22023 error that
//! names the argument when the function reads it.

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin};
use pgrx::{direct_function_call, FromDatum};

use crate::error::{CrmError, Result};

/// A jsonb argument parsed into a serde_json value, or why it could not be.
pub struct JsonOptions(std::result::Result<serde_json::Value, String>);

impl JsonOptions {
    /// The `options` argument's value, JSON null when the argument is SQL NULL: what every
    /// trainer reads its options from.
    pub fn or_null(options: &Option<JsonOptions>) -> Result<serde_json::Value> {
        options.as_ref().map_or(Ok(serde_json::Value::Null), |o| o.value("options").cloned())
    }

    /// The value, or 22023 naming `argument`.
    pub fn value(&self, argument: &str) -> Result<&serde_json::Value> {
        self.0.as_ref().map_err(|why| {
            CrmError::InvalidArgument(format!(
                "invalid value for argument \"{argument}\": {why}; numbers must fit a double precision and nesting stay under 128 levels"
            ))
        })
    }
}

impl FromDatum for JsonOptions {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-NULL jsonb datum; jsonb_out gives its canonical text.
        let text = unsafe {
            let detoasted = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(detoasted.into())])
        };
        let parsed = match text {
            None => Err("not a jsonb value".to_string()),
            Some(text) => match text.to_str() {
                Ok(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
                Err(_) => Err("not UTF-8".to_string()),
            },
        };
        Some(JsonOptions(parsed))
    }
}

// SAFETY: the argument is a jsonb datum (the SQL type below), read through FromDatum.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonOptions {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: forwarded; a NULL reaches here only for a STRICT misuse, read as an
        // unparsable value rather than a panic.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or(JsonOptions(Err("NULL".into())))
    }
}

// SAFETY: the SQL type is Postgres's jsonb, as for pgrx's JsonB.
unsafe impl SqlTranslatable for JsonOptions {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonOptions);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: std::result::Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: std::result::Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
