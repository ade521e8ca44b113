//! jsonb results that never pass through serde_json.
//!
//! pgrx's `JsonB` goes jsonb → text → serde_json value on the way in and back on the way
//! out. For results built from strings (`crm.parse_address`) or read as jsonb from a query
//! (`crm.golden_records`), this type holds the jsonb datum itself: built from jsonb's own
//! value tree, or copied out of SPI's memory into the function's.

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin};
use pgrx::IntoDatum;

use super::source::SourceRow;

/// A jsonb datum owned by the current function call's memory.
pub struct Jsonb(pg_sys::Datum);

impl Jsonb {
    /// A jsonb object of string values, built as jsonb's own value tree and serialised by
    /// Postgres (`JsonbValueToJsonb`): no JSON text to write and parse again, which was
    /// half of `crm.parse_address`'s time. Keys must be distinct; they are put in jsonb's
    /// order (shorter first, then bytewise) here, as `pushJsonbValue` would.
    pub fn from_string_pairs(pairs: &[(&str, &str)]) -> Option<Jsonb> {
        // jsonb stores lengths in 28 bits.
        const MAX_LEN: usize = (1 << 28) - 1;
        if pairs.iter().any(|(k, v)| k.len() > MAX_LEN || v.len() > MAX_LEN) {
            return None;
        }
        let mut sorted: Vec<&(&str, &str)> = pairs.iter().collect();
        sorted.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.as_bytes().cmp(b.0.as_bytes())));
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        let string = |s: &str| pg_sys::JsonbValue {
            type_: pg_sys::jbvType::jbvString,
            val: pg_sys::JsonbValue__bindgen_ty_1 {
                string: pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 { len: s.len() as std::ffi::c_int, val: s.as_ptr() as *mut std::ffi::c_char },
            },
        };
        let mut jsonb_pairs: Vec<pg_sys::JsonbPair> =
            sorted.iter().enumerate().map(|(i, (k, v))| pg_sys::JsonbPair { key: string(k), value: string(v), order: i as u32 }).collect();
        let mut object = pg_sys::JsonbValue {
            type_: pg_sys::jbvType::jbvObject,
            val: pg_sys::JsonbValue__bindgen_ty_1 {
                object: pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_3 { nPairs: jsonb_pairs.len() as std::ffi::c_int, pairs: jsonb_pairs.as_mut_ptr() },
            },
        };
        // SAFETY: a well-formed object value whose strings (pointer and length, no NUL
        // needed) and pairs outlive the call; JsonbValueToJsonb copies them into one
        // palloc'd jsonb in the current memory context.
        let jsonb = unsafe { pg_sys::JsonbValueToJsonb(&mut object) };
        Some(Jsonb(pg_sys::Datum::from(jsonb)))
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
