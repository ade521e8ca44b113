//! jsonb results that never pass through serde_json.
//!
//! pgrx's `JsonB` goes jsonb → text → serde_json value on the way in and back on the way
//! out. For results that are built as JSON text (`crm.parse_address`) or read as jsonb
//! from a query (`crm.golden_records`), this type holds the jsonb datum itself: built by
//! `jsonb_in` from the text, or copied out of SPI's memory into the function's.

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin};
use pgrx::{direct_function_call_as_datum, IntoDatum};

use super::source::SourceRow;

/// A jsonb datum owned by the current function call's memory.
pub struct Jsonb(pg_sys::Datum);

impl Jsonb {
    /// jsonb from JSON text; `None` when the text holds a NUL byte (JSON text built by
    /// serde_json escapes it, so it never does).
    pub fn from_json_text(text: &str) -> Option<Jsonb> {
        let cstring = std::ffi::CString::new(text).ok()?;
        // SAFETY: jsonb_in takes a NUL-terminated string and returns a palloc'd jsonb in
        // the current memory context; malformed text is a Postgres ERROR, not UB.
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstring.as_ptr().into())]) }.map(Jsonb)
    }

    /// Column `ordinal` (1-based) of a row read through SPI, which must be of type jsonb:
    /// detoasted and copied into the memory of the function that opened the SPI session,
    /// so it outlives the session. `None` when NULL.
    pub fn copy_from(row: &SourceRow, ordinal: usize) -> Option<Jsonb> {
        let datum = row.datum(ordinal)?;
        // SAFETY: a non-NULL varlena (jsonb) datum of the live row; detoasting allocates in
        // SPI's memory, SPI_datumTransfer copies the flat value to the upper context.
        unsafe {
            let flat = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            Some(Jsonb(pg_sys::SPI_datumTransfer(pg_sys::Datum::from(flat), false, -1)))
        }
    }
}

impl IntoDatum for Jsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

// SAFETY: returns the jsonb datum as is, like pgrx's own IntoDatum-based returns.
unsafe impl BoxRet for Jsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: a valid jsonb datum in the call's memory.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

// SAFETY: the SQL type is Postgres's jsonb, as for pgrx's JsonB.
unsafe impl SqlTranslatable for Jsonb {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(Jsonb);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: std::result::Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: std::result::Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
