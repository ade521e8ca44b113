//! Reading a model's features out of a row (`crm.score('churn', c)`, a trigger's new
//! tuple, the column form's arguments).
//!
//! A *layout* says, for one row type and one model version, where each feature sits and
//! how to read it (`Reader`, chosen from the column's type and the model's kind of value:
//! a pair the model cannot read is 42804 here, never a decode with the wrong type).
//! Layouts are matched by name once and kept in a bounded per-backend cache with a copy of
//! the row type's descriptor, so a row costs one `heap_getattr` per feature (DESIGN.md
//! has the measurements). A layout remembers the type cache's descriptor identifier it
//! was built from and the catalog generation (`invalidation`) it was last checked at;
//! once the generation moves (any relcache or type invalidation: `ALTER TABLE`, a
//! dropped and re-created table, `ALTER TYPE`) it is checked against the catalogs again
//! before its next row, and rebuilt if the row type changed.

use std::cell::{Cell as StdCell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::{AnyElement, FromDatum};

use super::invalidation::generation;
use crate::classify::features::{Value, ValueKind};
use crate::error::{CrmError, Result};

/// Layouts kept per backend; the least recently used goes first beyond this (each holds a
/// descriptor copy of a few hundred bytes per column).
pub const MAX_LAYOUTS: usize = 256;

/// The model side of a layout: who it is (for messages) and its features in order.
pub struct ModelFeatures {
    /// e.g. `model "churn" version 3`
    pub who: String,
    pub features: Vec<(String, ValueKind)>,
}

/// How one column is read as one feature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reader {
    Float8,
    Float4,
    Int2,
    Int4,
    Int8,
    Numeric,
    /// bool as 0/1
    BoolNumber,
    /// bool as 'true'/'false' (a text feature)
    BoolText,
    /// date, as days since 1970-01-01
    Date,
    /// timestamp or timestamptz, as days since 1970-01-01 (UTC for timestamptz,
    /// nominal for timestamp: what training reads, whatever the session zone)
    Timestamp,
    Text,
    /// char(n): trailing blanks are not part of the value
    Bpchar,
    /// any other type, by its output function, as a category
    OutputText(pg_sys::Oid),
}

fn type_name(type_oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be copes with any oid (unknown ones print as ???).
    unsafe { CStr::from_ptr(pg_sys::format_type_be(type_oid)) }.to_string_lossy().into_owned()
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Number => "a number (smallint, integer, bigint, real, double precision, numeric)",
        ValueKind::Boolean => "a boolean",
        ValueKind::Days => "a date or timestamp",
        ValueKind::Text => "text (a category)",
    }
}

impl Reader {
    /// The reader of a column of type `type_oid` for a feature of `kind`; 42804 naming
    /// the column, the model and both types when the model cannot read that type.
    pub fn for_column(column: &str, type_oid: pg_sys::Oid, kind: ValueKind, who: &str) -> Result<Reader> {
        let numeric = match type_oid {
            pg_sys::FLOAT8OID => Some(Reader::Float8),
            pg_sys::FLOAT4OID => Some(Reader::Float4),
            pg_sys::INT2OID => Some(Reader::Int2),
            pg_sys::INT4OID => Some(Reader::Int4),
            pg_sys::INT8OID => Some(Reader::Int8),
            pg_sys::NUMERICOID => Some(Reader::Numeric),
            _ => None,
        };
        let reader = match kind {
            ValueKind::Number | ValueKind::Boolean => match (numeric, type_oid) {
                (Some(r), _) => Some(r),
                (None, pg_sys::BOOLOID) => Some(Reader::BoolNumber),
                _ => None,
            },
            ValueKind::Days => match type_oid {
                pg_sys::DATEOID => Some(Reader::Date),
                pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Some(Reader::Timestamp),
                _ => None,
            },
            ValueKind::Text => match type_oid {
                pg_sys::TEXTOID | pg_sys::VARCHAROID => Some(Reader::Text),
                pg_sys::BPCHAROID => Some(Reader::Bpchar),
                pg_sys::BOOLOID => Some(Reader::BoolText),
                pg_sys::JSONOID | pg_sys::JSONBOID | pg_sys::BYTEAOID | pg_sys::XMLOID => None,
                // SAFETY: a catalog lookup of a type oid.
                other if unsafe { pg_sys::get_element_type(other) } != pg_sys::InvalidOid => None,
                other => {
                    let mut output = pg_sys::InvalidOid;
                    let mut varlena = false;
                    // SAFETY: a catalog lookup of an existing type (the column's).
                    unsafe { pg_sys::getTypeOutputInfo(other, &mut output, &mut varlena) };
                    Some(Reader::OutputText(output))
                }
            },
        };
        reader.ok_or_else(|| {
            CrmError::DatatypeMismatch(format!(
                "column \"{column}\" is of type {}, but {who} reads it as {}; retrain the model on the new column type or cast the column back",
                type_name(type_oid),
                kind_name(kind)
            ))
        })
    }

    /// A non-NULL value as a cell.
    ///
    /// # Safety
    /// `datum` must be a non-NULL value of the type this reader was chosen for, valid for `'a`.
    #[inline]
    pub unsafe fn read<'a>(self, datum: pg_sys::Datum) -> Cell<'a> {
        const UNIX_EPOCH_IN_PG_DAYS: f64 = 10_957.0;
        // SAFETY (whole fn): datum is a non-NULL value of the reader's type.
        unsafe {
            match self {
                Reader::Float8 => Cell::Number(f64::from_bits(datum.value() as u64)),
                Reader::Float4 => Cell::Number(f32::from_datum(datum, false).unwrap_or(f32::NAN) as f64),
                Reader::Int2 => Cell::Number(datum.value() as i16 as f64),
                Reader::Int4 => Cell::Number(datum.value() as i32 as f64),
                Reader::Int8 => Cell::Number(datum.value() as i64 as f64),
                Reader::Numeric => {
                    let n = pgrx::AnyNumeric::from_datum(datum, false);
                    Cell::Number(n.and_then(|n| f64::try_from(n).ok()).unwrap_or(f64::NAN))
                }
                Reader::BoolNumber => Cell::Number((datum.value() != 0) as u8 as f64),
                Reader::BoolText => Cell::Text(if datum.value() != 0 { "true" } else { "false" }),
                Reader::Date => Cell::Number(datum.value() as i32 as f64 + UNIX_EPOCH_IN_PG_DAYS),
                Reader::Timestamp => Cell::Number(datum.value() as i64 as f64 / 86_400_000_000.0 + UNIX_EPOCH_IN_PG_DAYS),
                Reader::Text | Reader::Bpchar => match <&str>::from_datum(datum, false) {
                    Some(s) if self == Reader::Bpchar => Cell::Text(s.trim_end_matches(' ')),
                    Some(s) => Cell::Text(s),
                    None => Cell::Null,
                },
                Reader::OutputText(output) => {
                    let cstr = pg_sys::OidOutputFunctionCall(output, datum);
                    Cell::Owned(CStr::from_ptr(cstr).to_string_lossy().into_owned())
                }
            }
        }
    }
}

/// Where each feature sits in one row type, and how to read it.
pub struct RowMap {
    tupdesc: pg_sys::TupleDesc,
    /// Per feature: (attribute number, reader).
    columns: Vec<(i32, Reader)>,
    /// The type cache's identifier of the descriptor this map was built from.
    identifier: u64,
    /// The catalog generation at which `identifier` was last found current.
    checked_at: StdCell<u64>,
    last_used: StdCell<u64>,
}

impl Drop for RowMap {
    fn drop(&mut self) {
        // SAFETY: the copy was made by lookup_rowtype_tupdesc_copy for this map alone. At
        // process exit (thread-local destructors) memory is going anyway: leave it.
        unsafe {
            if !pg_sys::proc_exit_inprogress {
                pg_sys::FreeTupleDesc(self.tupdesc);
            }
        }
    }
}

type LayoutKey = (pg_sys::Oid, i32, i64);

#[derive(Default)]
struct Layouts {
    maps: HashMap<LayoutKey, Rc<RowMap>>,
    tick: u64,
}

thread_local! {
    static LAYOUTS: RefCell<Layouts> = RefCell::new(Layouts::default());
}

/// The identifier of the current descriptor of a row type: the type cache's for a named
/// composite type (it changes whenever the type's columns do), the typmod for a
/// registered anonymous record type (those never change within a backend).
unsafe fn current_identifier(type_oid: pg_sys::Oid, typmod: i32) -> u64 {
    if type_oid == pg_sys::RECORDOID {
        return (1 << 63) | typmod as u32 as u64;
    }
    // SAFETY: a type cache lookup of an existing row type (a datum or relation of it is
    // in hand), asking for its descriptor.
    unsafe {
        let entry = pg_sys::lookup_type_cache(type_oid, pg_sys::TYPECACHE_TUPDESC as i32);
        (*entry).tupDesc_identifier
    }
}

/// Number of layouts in this backend's cache (for tests of the bound).
pub fn cached_layouts() -> usize {
    LAYOUTS.with(|l| l.borrow().maps.len())
}

fn build(type_oid: pg_sys::Oid, typmod: i32, model: &ModelFeatures) -> Result<RowMap> {
    // SAFETY: the identifier is read before the copy, so a change in between makes the
    // map look stale (rebuilt), never fresh. The copy is made in TopMemoryContext; the
    // map frees it when dropped.
    let (identifier, tupdesc) = unsafe {
        let identifier = current_identifier(type_oid, typmod);
        let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
        let copy = pg_sys::lookup_rowtype_tupdesc_copy(type_oid, typmod);
        pg_sys::MemoryContextSwitchTo(old);
        (identifier, copy)
    };
    let mut map =
        RowMap { tupdesc, columns: Vec::with_capacity(model.features.len()), identifier, checked_at: StdCell::new(generation()), last_used: StdCell::new(0) };
    // SAFETY: natts attributes follow the descriptor header.
    let attrs = unsafe { (*tupdesc).attrs.as_slice((*tupdesc).natts as usize) };
    let mut names: HashMap<&str, (i32, pg_sys::Oid)> = HashMap::with_capacity(attrs.len());
    for att in attrs.iter().filter(|a| !a.attisdropped) {
        // SAFETY: attname is a NUL-terminated NameData.
        if let Ok(name) = unsafe { CStr::from_ptr(att.attname.data.as_ptr()) }.to_str() {
            names.insert(name, (att.attnum as i32, att.atttypid));
        }
    }
    for (name, kind) in &model.features {
        let Some(&(attnum, type_oid)) = names.get(name.as_str()) else {
            return Err(CrmError::UndefinedColumn(format!(
                "the row has no column \"{name}\", which {} needs (its features: {})",
                model.who,
                model.features.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        map.columns.push((attnum, Reader::for_column(name, type_oid, *kind, &model.who)?));
    }
    Ok(map)
}

/// The layout of row type (type_oid, typmod) for model `model_id`, current as of now.
fn row_map(type_oid: pg_sys::Oid, typmod: i32, model_id: i64, model: impl FnOnce() -> ModelFeatures) -> Result<Rc<RowMap>> {
    let key = (type_oid, typmod, model_id);
    let now = generation();
    let cached = LAYOUTS.with(|l| l.borrow().maps.get(&key).cloned());
    if let Some(map) = cached {
        // SAFETY: a lookup of the row type whose datum or relation is in hand.
        if map.checked_at.get() == now || unsafe { current_identifier(type_oid, typmod) } == map.identifier {
            map.checked_at.set(now);
            return Ok(map);
        }
        LAYOUTS.with(|l| l.borrow_mut().maps.remove(&key));
    }
    let map = Rc::new(build(type_oid, typmod, &model())?);
    LAYOUTS.with(|l| {
        let mut layouts = l.borrow_mut();
        layouts.tick += 1;
        map.last_used.set(layouts.tick);
        if layouts.maps.len() >= MAX_LAYOUTS {
            if let Some(oldest) = layouts.maps.iter().min_by_key(|(_, m)| m.last_used.get()).map(|(k, _)| *k) {
                layouts.maps.remove(&oldest);
            }
        }
        layouts.maps.insert(key, map.clone());
    });
    Ok(map)
}

/// The layout one call site used last: reused while its key matches and no catalog
/// change happened since it was checked (two integer compares per row).
pub type RowMapMemo = Option<(LayoutKey, Rc<RowMap>)>;

fn memoised(memo: &mut RowMapMemo, key: LayoutKey, model: impl FnOnce() -> ModelFeatures) -> Result<&RowMap> {
    let fresh = matches!(memo, Some((k, map)) if *k == key && map.checked_at.get() == generation());
    if !fresh {
        *memo = None;
        let map = row_map(key.0, key.1, key.2, model)?;
        LAYOUTS.with(|l| {
            let mut layouts = l.borrow_mut();
            layouts.tick += 1;
            map.last_used.set(layouts.tick);
        });
        *memo = Some((key, map));
    }
    Ok(&memo.as_ref().expect("set above").1)
}

/// A decoded column value that owns nothing but other types' text forms.
pub enum Cell<'a> {
    Null,
    Number(f64),
    Text(&'a str),
    Owned(String),
}

impl<'v> From<&'v Cell<'_>> for Value<'v> {
    fn from(cell: &'v Cell<'_>) -> Value<'v> {
        cell.as_value()
    }
}

impl Cell<'_> {
    pub fn as_value(&self) -> Value<'_> {
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

thread_local! {
    /// The last argument type found to be a row type: most calls repeat it.
    static LAST_ROW_TYPE: StdCell<pg_sys::Oid> = const { StdCell::new(pg_sys::InvalidOid) };
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
    let type_name = if type_oid == pg_sys::InvalidOid { "unknown".to_string() } else { type_name(type_oid) };
    Err(CrmError::bad_argument(
        "row",
        format!("a value of type {type_name}"),
        &format!("a whole row, such as crm.{function}('model', c) FROM customers c, or ROW(...) (a column with the alias's name hides the row)"),
    ))
}

/// Reads the features of `row` into `cells` (one per feature, in order).
pub fn read_features<'a>(row: &'a AnyElement, model_id: i64, model: impl FnOnce() -> ModelFeatures, cells: &mut Vec<Cell<'a>>) -> Result<()> {
    check_row(row, "explain")?;
    // SAFETY: an AnyElement row argument is a composite datum that outlives `'a`.
    unsafe { read_composite(row.datum(), model_id, model, cells) }
}

/// As `read_features`, for a composite datum.
///
/// # Safety
/// `datum` must be a non-NULL composite (row) datum that stays valid for `'a`.
unsafe fn read_composite<'a>(datum: pg_sys::Datum, model_id: i64, model: impl FnOnce() -> ModelFeatures, cells: &mut Vec<Cell<'a>>) -> Result<()> {
    cells.clear();
    let mut no_memo = None;
    // SAFETY: forwarded.
    unsafe { for_each_feature(datum, model_id, model, &mut no_memo, |_, cell| cells.push(cell)) }
}

/// The core of the readers: calls `each(feature index, value)` for the model's features
/// of one composite datum, in model order, without collecting them (the per-row scoring
/// path encodes straight into its buffer).
///
/// # Safety
/// As `read_composite`.
pub unsafe fn for_each_feature<'a>(
    datum: pg_sys::Datum,
    model_id: i64,
    model: impl FnOnce() -> ModelFeatures,
    memo: &mut RowMapMemo,
    each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    // SAFETY: detoasting a composite datum gives a header valid for the rest of this
    // call; its type fields say which row type it is.
    let header = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as pg_sys::HeapTupleHeader;
    let (type_oid, typmod) = unsafe { ((*header).t_choice.t_datum.datum_typeid, (*header).t_choice.t_datum.datum_typmod) };
    let map = memoised(memo, (type_oid, typmod, model_id), model)?;
    let mut tuple = pg_sys::HeapTupleData {
        t_len: unsafe { pgrx::varsize_any(header as *const pg_sys::varlena) } as u32,
        t_self: pg_sys::ItemPointerData::default(),
        t_tableOid: pg_sys::InvalidOid,
        t_data: header,
    };
    // SAFETY: the map is current for this row type (memoised checked it).
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
    model: impl FnOnce() -> ModelFeatures,
    memo: &mut RowMapMemo,
    each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let map = memoised(memo, (type_oid, -1, model_id), model)?;
    // SAFETY: forwarded; the map is current for the relation's row type.
    unsafe { read_tuple(map, tuple, each) };
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
    model: impl FnOnce() -> ModelFeatures,
    memo: &mut RowMapMemo,
    mut each: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let map = memoised(memo, (type_oid, -1, model_id), model)?;
    for (i, &(attnum, reader)) in map.columns.iter().enumerate() {
        let at = (attnum - 1) as usize;
        let cell = match (values.get(at), nulls.get(at)) {
            // SAFETY: a non-NULL value of the attribute's current type.
            (Some(&datum), Some(false)) => unsafe { reader.read(datum) },
            _ => Cell::Null,
        };
        each(i, cell);
    }
    Ok(())
}

/// Calls `each` with the model's features of `tuple`, in model order.
unsafe fn read_tuple<'a>(map: &RowMap, tuple: pg_sys::HeapTuple, mut each: impl FnMut(usize, Cell<'a>)) {
    // SAFETY (whole fn): a tuple may have fewer attributes than its descriptor (columns
    // added later); heap_getattr reads those as NULL (or their missing default).
    unsafe {
        for (i, &(attnum, reader)) in map.columns.iter().enumerate() {
            let mut isnull = false;
            let datum = pg_sys::heap_getattr(tuple, attnum, map.tupdesc, &mut isnull);
            each(i, if isnull { Cell::Null } else { reader.read(datum) });
        }
    }
}
