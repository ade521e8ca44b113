//! Reading a model's features out of a whole-row argument (`crm.score('churn', c)`).
//!
//! Columns are matched by name once per (row type, model version) and the row type's
//! descriptor is copied into a per-backend cache, so each row costs one
//! `heap_getattr` per feature and no name lookups (see DESIGN.md for the measurements).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::{AnyElement, FromDatum};

use crate::classify::features::{Value, ValueKind};
use crate::error::{CrmError, Result};

/// Where each feature sits in a row type, and how to read it. `features` (names and
/// kinds, in model order) is only asked for when a row type is first seen.
pub struct RowMap {
    tupdesc: pg_sys::TupleDesc,
    columns: Vec<(i32, pg_sys::Oid, ValueKind)>,
}

thread_local! {
    static MAPS: RefCell<HashMap<(pg_sys::Oid, i32, i64), Rc<RowMap>>> = RefCell::new(HashMap::new());
}

/// A decoded column value that owns nothing: text borrows from the row.
pub enum Cell<'a> {
    Null,
    Number(f64),
    Text(&'a str),
    Owned(String),
}

impl<'v> From<&'v Cell<'_>> for Value<'v> {
    fn from(cell: &'v Cell<'_>) -> Value<'v> {
        match cell {
            Cell::Null => Value::Null,
            Cell::Number(x) => Value::Number(*x),
            Cell::Text(t) => Value::Text(t),
            Cell::Owned(s) => Value::Text(s),
        }
    }
}

impl<'a> Cell<'a> {
    pub fn as_value(&'a self) -> Value<'a> {
        match self {
            Cell::Null => Value::Null,
            Cell::Number(x) => Value::Number(*x),
            Cell::Text(t) => Value::Text(t),
            Cell::Owned(s) => Value::Text(s),
        }
    }

    pub fn display(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Number(x) => Some(format!("{x}")),
            Cell::Text(t) => Some((*t).to_string()),
            Cell::Owned(s) => Some(s.clone()),
        }
    }
}

/// Header of a composite datum: (type oid, typmod).
unsafe fn composite_type(header: pg_sys::HeapTupleHeader) -> (pg_sys::Oid, i32) {
    // SAFETY: a detoasted composite datum's header holds its row type.
    unsafe { ((*header).t_choice.t_datum.datum_typeid, (*header).t_choice.t_datum.datum_typmod) }
}

fn row_map(type_oid: pg_sys::Oid, typmod: i32, model_id: i64, features: impl FnOnce() -> Vec<(String, ValueKind)>) -> Result<Rc<RowMap>> {
    let key = (type_oid, typmod, model_id);
    if let Some(map) = MAPS.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(map);
    }
    let features = features();
    // SAFETY: the copy is made in TopMemoryContext (it lives as long as the backend's
    // cache). lookup_rowtype_tupdesc_copy serves named row types and the anonymous
    // record types of ROW(...) alike (the latter have no reference count to release).
    let tupdesc = unsafe {
        let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
        let copy = pg_sys::lookup_rowtype_tupdesc_copy(type_oid, typmod);
        pg_sys::MemoryContextSwitchTo(old);
        copy
    };
    let natts = unsafe { (*tupdesc).natts } as usize;
    let mut names: HashMap<String, (i32, pg_sys::Oid)> = HashMap::new();
    for i in 0..natts {
        // SAFETY: i < natts.
        let att = unsafe { &*(*tupdesc).attrs.as_ptr().add(i) };
        if att.attisdropped {
            continue;
        }
        let name = unsafe { std::ffi::CStr::from_ptr(att.attname.data.as_ptr()) }.to_string_lossy().into_owned();
        names.insert(name, (att.attnum as i32, att.atttypid));
    }
    let mut columns = Vec::with_capacity(features.len());
    for (name, kind) in &features {
        let Some(&(attnum, typid)) = names.get(name) else {
            return Err(CrmError::UndefinedColumn(format!(
                "the row has no column \"{name}\", which the model needs (its features: {})",
                features.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        columns.push((attnum, typid, *kind));
    }
    let map = Rc::new(RowMap { tupdesc, columns });
    MAPS.with(|m| m.borrow_mut().insert(key, map.clone()));
    Ok(map)
}

const UNIX_EPOCH_IN_PG_DAYS: f64 = 10_957.0;

thread_local! {
    /// The last argument type found to be a row type: most calls repeat it.
    static LAST_ROW_TYPE: std::cell::Cell<pg_sys::Oid> = const { std::cell::Cell::new(pg_sys::InvalidOid) };
}

/// The `row anyelement` argument must be a row (`crm.score('m', c)` with `c` a table
/// alias, or a `ROW(...)`): a scalar there — easy to pass when a column shares the
/// alias's name — is an error, never read as a tuple.
pub fn check_row(row: &AnyElement, function: &str) -> Result<()> {
    let type_oid = row.oid();
    if LAST_ROW_TYPE.with(|last| last.get()) == type_oid {
        return Ok(());
    }
    check_row_type(type_oid, function)?;
    LAST_ROW_TYPE.with(|last| last.set(type_oid));
    Ok(())
}

/// As `check_row`, for an argument's type oid.
pub fn check_row_type(type_oid: pg_sys::Oid, function: &str) -> Result<()> {
    // SAFETY: a catalog lookup of a type oid (InvalidOid is simply not a row type).
    if type_oid != pg_sys::InvalidOid && unsafe { pg_sys::type_is_rowtype(type_oid) } {
        return Ok(());
    }
    let type_name = if type_oid == pg_sys::InvalidOid {
        "unknown".to_string()
    } else {
        // SAFETY: as above.
        unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(type_oid)) }.to_string_lossy().into_owned()
    };
    Err(CrmError::bad_argument(
        "row",
        format!("a value of type {type_name}"),
        &format!("a whole row, such as crm.{function}('model', c) FROM customers c, or ROW(...) (a column with the alias's name hides the row)"),
    ))
}

/// Reads the features of `row` into `cells` (one per feature, in order).
pub fn read_features<'a>(row: &'a AnyElement, model_id: i64, features: impl FnOnce() -> Vec<(String, ValueKind)>, cells: &mut Vec<Cell<'a>>) -> Result<()> {
    check_row(row, "explain")?;
    // SAFETY: an AnyElement row argument is a composite datum that outlives `'a`.
    unsafe { read_composite(row.datum(), model_id, features, cells) }
}

/// As `read_features`, for a composite datum.
///
/// # Safety
/// `datum` must be a non-NULL composite (row) datum that stays valid for `'a`.
pub unsafe fn read_composite<'a>(
    datum: pg_sys::Datum,
    model_id: i64,
    features: impl FnOnce() -> Vec<(String, ValueKind)>,
    cells: &mut Vec<Cell<'a>>,
) -> Result<()> {
    cells.clear();
    let mut no_memo = None;
    // SAFETY: forwarded.
    unsafe { for_each_feature(datum, model_id, features, &mut no_memo, |_, cell| cells.push(cell)) }
}

/// The row map of the last row type seen by one call site (see `classify::sql::score`).
pub type RowMapMemo = Option<((pg_sys::Oid, i32, i64), Rc<RowMap>)>;

/// The core of the readers: calls `each(feature index, value)` for the model's features
/// of one composite datum, in model order, without collecting them (the per-row scoring
/// path encodes straight into its buffer).
///
/// # Safety
/// As `read_composite`.
pub unsafe fn for_each_feature<'a>(
    datum: pg_sys::Datum,
    model_id: i64,
    features: impl FnOnce() -> Vec<(String, ValueKind)>,
    memo: &mut RowMapMemo,
    each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    // SAFETY: detoasting a composite datum gives a header valid for the rest of this call.
    let header = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as pg_sys::HeapTupleHeader;
    let (type_oid, typmod) = unsafe { composite_type(header) };
    let key = (type_oid, typmod, model_id);
    if !matches!(memo, Some((k, _)) if *k == key) {
        *memo = Some((key, row_map(type_oid, typmod, model_id, features)?));
    }
    let Some((_, map)) = memo.as_ref() else {
        return Ok(());
    };
    let mut tuple = pg_sys::HeapTupleData {
        t_len: unsafe { pgrx::varsize_any(header as *const pg_sys::varlena) } as u32,
        t_self: pg_sys::ItemPointerData::default(),
        t_tableOid: pg_sys::InvalidOid,
        t_data: header,
    };
    // SAFETY: the tuple is the row whose type the map was made for.
    unsafe { read_tuple(map, &mut tuple, each) };
    Ok(())
}

/// As `for_each_feature`, for a stored tuple of a table whose row type is `type_oid`
/// (a trigger's new row: a heap tuple, not a composite datum).
///
/// # Safety
/// `tuple` must be a valid tuple of a relation whose row type is `type_oid`.
pub unsafe fn for_each_feature_of_tuple<'a>(
    tuple: pg_sys::HeapTuple,
    type_oid: pg_sys::Oid,
    model_id: i64,
    features: impl FnOnce() -> Vec<(String, ValueKind)>,
    memo: &mut RowMapMemo,
    each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let key = (type_oid, -1, model_id);
    if !matches!(memo, Some((k, _)) if *k == key) {
        *memo = Some((key, row_map(type_oid, -1, model_id, features)?));
    }
    if let Some((_, map)) = memo.as_ref() {
        // SAFETY: forwarded.
        unsafe { read_tuple(map, tuple, each) };
    }
    Ok(())
}

/// As `for_each_feature`, for a row of a table already deformed into `values`/`nulls`
/// (one entry per attribute of the relation whose row type is `type_oid`): a trigger's
/// new row.
///
/// # Safety
/// `values`/`nulls` must be a deformed row of that relation, valid for `'a`.
pub unsafe fn for_each_feature_of_values<'a>(
    values: &[pg_sys::Datum],
    nulls: &[bool],
    type_oid: pg_sys::Oid,
    model_id: i64,
    features: impl FnOnce() -> Vec<(String, ValueKind)>,
    memo: &mut RowMapMemo,
    mut each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let key = (type_oid, -1, model_id);
    if !matches!(memo, Some((k, _)) if *k == key) {
        *memo = Some((key, row_map(type_oid, -1, model_id, features)?));
    }
    if let Some((_, map)) = memo.as_ref() {
        for (i, &(attnum, typid, kind)) in map.columns.iter().enumerate() {
            let at = (attnum - 1) as usize;
            let cell = match (values.get(at), nulls.get(at)) {
                // SAFETY: a non-NULL value of the attribute's type.
                (Some(&datum), Some(false)) => unsafe { decode(datum, typid, kind) },
                _ => Cell::Null,
            };
            each(i, cell);
        }
    }
    Ok(())
}

/// Calls `each` with the model's features of `tuple`, in model order.
unsafe fn read_tuple<'a>(map: &RowMap, tuple: pg_sys::HeapTuple, mut each: impl FnMut(usize, Cell<'a>)) {
    for (i, &(attnum, typid, kind)) in map.columns.iter().enumerate() {
        let mut isnull = false;
        // SAFETY: tuple and descriptor describe the same row type.
        let datum = unsafe { pg_sys::heap_getattr(tuple, attnum, map.tupdesc, &mut isnull) };
        each(i, if isnull { Cell::Null } else { unsafe { decode(datum, typid, kind) } });
    }
}

/// A non-NULL column value of type `typid` as the model's `kind` of value.
///
/// # Safety
/// `datum` must be a non-NULL value of type `typid`, valid for `'a`.
pub unsafe fn decode<'a>(datum: pg_sys::Datum, typid: pg_sys::Oid, kind: ValueKind) -> Cell<'a> {
    // SAFETY (whole fn): datum is a non-NULL value of type typid.
    unsafe {
        match typid {
            pg_sys::FLOAT8OID => Cell::Number(f64::from_datum(datum, false).unwrap_or(f64::NAN)),
            pg_sys::FLOAT4OID => Cell::Number(f32::from_datum(datum, false).unwrap_or(f32::NAN) as f64),
            pg_sys::INT2OID => Cell::Number(i16::from_datum(datum, false).unwrap_or(0) as f64),
            pg_sys::INT4OID => Cell::Number(i32::from_datum(datum, false).unwrap_or(0) as f64),
            pg_sys::INT8OID => Cell::Number(i64::from_datum(datum, false).unwrap_or(0) as f64),
            pg_sys::BOOLOID => match kind {
                ValueKind::Text => Cell::Text(if bool::from_datum(datum, false).unwrap_or(false) { "true" } else { "false" }),
                _ => Cell::Number(bool::from_datum(datum, false).unwrap_or(false) as u8 as f64),
            },
            pg_sys::NUMERICOID => {
                let n = pgrx::AnyNumeric::from_datum(datum, false);
                Cell::Number(n.and_then(|n| f64::try_from(n).ok()).unwrap_or(f64::NAN))
            }
            pg_sys::DATEOID => Cell::Number(datum.value() as i32 as f64 + UNIX_EPOCH_IN_PG_DAYS),
            pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Cell::Number(datum.value() as i64 as f64 / 86_400_000_000.0 + UNIX_EPOCH_IN_PG_DAYS),
            pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => match <&str>::from_datum(datum, false) {
                Some(s) if typid == pg_sys::BPCHAROID => Cell::Text(s.trim_end_matches(' ')),
                Some(s) => Cell::Text(s),
                None => Cell::Null,
            },
            other => {
                // Any other type (enums, domains of text, ...): its text form.
                let mut output = pg_sys::InvalidOid;
                let mut varlena = false;
                pg_sys::getTypeOutputInfo(other, &mut output, &mut varlena);
                let cstr = pg_sys::OidOutputFunctionCall(output, datum);
                let text = std::ffi::CStr::from_ptr(cstr).to_string_lossy().into_owned();
                match kind {
                    ValueKind::Text => Cell::Owned(text),
                    _ => Cell::Number(text.parse().unwrap_or(f64::NAN)),
                }
            }
        }
    }
}
