//! SQL surface of RFM: the composite type `crm.rfm` and aggregate `crm.rfm_agg`
//! (internal state, combine/serial/deserial, parallel), the population quintiles
//! `crm.rfm_quintiles`, `crm.rfm_score` and `crm.rfm_segment`.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{Internal, StringInfo};

use super::rfm::{self, QuintileState, RfmQuintiles, RfmState};
use crate::error::sql::OrRaise;
use crate::error::{CrmError, Result};
use crate::pg::aggregate::{aggregate_context, combine, deserial, into_context, leak_into, serial, PartialState, V1_FINFO};
use crate::pg::memo;

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Julian day number of 2000-01-01, Postgres's date epoch.
const POSTGRES_EPOCH_JDATE: i32 = 2_451_545;

/// Turns timestamptz values into calendar days in the session's time zone, the days
/// `order_at::date` gives. A zone with a fixed offset (UTC, '+02') needs only an
/// addition; a zone with daylight saving goes through Postgres's own conversion.
#[derive(Clone, Copy)]
struct Calendar {
    zone: *mut pg_sys::pg_tz,
    fixed_offset_micros: Option<i64>,
}

impl Calendar {
    fn for_session() -> Calendar {
        // SAFETY: session_timezone is set for the whole life of a backend.
        let zone = unsafe { pg_sys::session_timezone };
        let mut offset_seconds: std::ffi::c_long = 0;
        // SAFETY: zone is a valid pg_tz; the call only reads it.
        let fixed = unsafe { pg_sys::pg_get_timezone_offset(zone, &mut offset_seconds) };
        Calendar { zone, fixed_offset_micros: fixed.then_some(offset_seconds as i64 * 1_000_000) }
    }

    fn day(&self, argument: &str, timestamp: i64) -> i32 {
        if timestamp == i64::MIN || timestamp == i64::MAX {
            CrmError::bad_argument(argument, if timestamp > 0 { "infinity" } else { "-infinity" }, "a finite timestamp").raise();
        }
        if let Some(offset) = self.fixed_offset_micros {
            return (timestamp + offset).div_euclid(MICROS_PER_DAY) as i32;
        }
        let mut tz = 0;
        let mut tm = pg_sys::pg_tm::default();
        let mut fsec: pg_sys::fsec_t = 0;
        // SAFETY: plain out-parameters; a NULL zone name pointer and NULL attimezone ask
        // for the session zone, as timestamptz::date does.
        let status = unsafe { pg_sys::timestamp2tm(timestamp, &mut tz, &mut tm, &mut fsec, std::ptr::null_mut(), std::ptr::null_mut()) };
        if status != 0 {
            CrmError::bad_argument(argument, timestamp, "a timestamp within Postgres's range").raise();
        }
        // SAFETY: pure arithmetic on a valid calendar date.
        (unsafe { pg_sys::date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) }) - POSTGRES_EPOCH_JDATE
    }
}

/// The session calendar, kept as the transition function's call-site memo so the zone is
/// examined once per query, not per row (and again if the session zone changes).
unsafe fn calendar(fcinfo: pg_sys::FunctionCallInfo) -> Calendar {
    // SAFETY: the live call info of crm.rfm_agg's transition function, whose fn_extra
    // holds only this memo; session_timezone is a plain read.
    let memo = unsafe { memo::call_site(fcinfo, |c: &Calendar| c.zone == pg_sys::session_timezone, || Ok(Calendar::for_session())) };
    *memo.or_raise()
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_rfm_agg_trans() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// Transition of `crm.rfm_agg(order_at timestamptz, amount float8, as_of timestamptz)`,
/// a raw V1 function so a row costs only reading three datums (see `crm_scaler_agg_trans`).
///
/// # Safety
/// Called by Postgres only, as the transition function of `crm.rfm_agg`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_rfm_agg_trans(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo with four arguments.
    let args = unsafe { (*fcinfo).args.as_slice(4) };
    let state_ptr = (!args[0].isnull).then(|| args[0].value.cast_mut_ptr::<RfmState>());
    let keep_state = |fcinfo: pg_sys::FunctionCallInfo| -> pg_sys::Datum {
        if state_ptr.is_none() {
            // SAFETY: valid fcinfo; the state stays NULL until a countable order arrives.
            unsafe { (*fcinfo).isnull = true };
        }
        args[0].value
    };
    // An order with no time or no amount cannot be counted (documented).
    if args[1].isnull || args[2].isnull {
        return keep_state(fcinfo);
    }
    if args[3].isnull {
        CrmError::bad_argument("as_of", "NULL", "a finite timestamptz, the same for every row of a group").raise();
    }
    let order_at = args[1].value.value() as i64;
    let amount = f64::from_bits(args[2].value.value() as u64);
    let as_of = args[3].value.value() as i64;
    if !amount.is_finite() {
        CrmError::bad_argument("amount", amount, "a finite number or NULL (NULL orders are ignored)").raise();
    }
    // SAFETY: valid fcinfo.
    let calendar = unsafe { calendar(fcinfo) };
    match state_ptr {
        Some(ptr) => {
            // SAFETY: a non-NULL state of this aggregate is always an RfmState made below.
            let state = unsafe { &mut *ptr };
            if state.as_of() != as_of {
                rfm::different_as_of().raise();
            }
            if order_at <= as_of {
                state.add(order_at, calendar.day("order_at", order_at), amount);
            }
            args[0].value
        }
        None => {
            let mut fresh = RfmState::new(as_of, calendar.day("as_of", as_of));
            if order_at <= as_of {
                fresh.add(order_at, calendar.day("order_at", order_at), amount);
            }
            leak_into(fresh, aggregate_context(fcinfo, "rfm_agg_trans"))
        }
    }
}

#[pg_extern(immutable, parallel_safe)]
fn rfm_agg_combine(left: Internal, right: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine::<RfmState>(left, right, fcinfo, "rfm_agg_combine")
}

#[pg_extern(immutable, parallel_safe, strict)]
fn rfm_agg_serial(state: Internal) -> Option<Vec<u8>> {
    serial::<RfmState>(state)
}

#[pg_extern(immutable, parallel_safe, strict)]
fn rfm_agg_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    deserial::<RfmState>(bytes)
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_rfm_agg_final() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// Final function of `crm.rfm_agg`: the `crm.rfm` composite, built with the row type's
/// descriptor kept as its call-site memo (once per query, not per customer).
///
/// # Safety
/// Called by Postgres only, as the final function of `crm.rfm_agg`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_rfm_agg_final(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: valid fcinfo with one argument.
    let arg = unsafe { (*fcinfo).args.as_slice(1)[0] };
    let summary = if arg.isnull {
        None
    } else {
        // SAFETY: a non-NULL state is an RfmState.
        unsafe { &*arg.value.cast_mut_ptr::<RfmState>() }.finish()
    };
    let Some(s) = summary else {
        // SAFETY: valid fcinfo.
        unsafe { (*fcinfo).isnull = true };
        return pg_sys::Datum::from(0);
    };
    // SAFETY: valid fcinfo; see result_descriptor.
    let descriptor = unsafe { result_descriptor(fcinfo) };
    let mut values = [
        pg_sys::Datum::from(s.recency_days.to_bits()),
        pg_sys::Datum::from(s.frequency),
        pg_sys::Datum::from(s.repeat_frequency),
        pg_sys::Datum::from(s.monetary_total.to_bits()),
        pg_sys::Datum::from(s.monetary_mean.to_bits()),
        pg_sys::Datum::from(s.first_order),
        pg_sys::Datum::from(s.last_order),
        pg_sys::Datum::from(s.t_days.to_bits()),
        pg_sys::Datum::from(s.orders),
        pg_sys::Datum::from(s.as_of),
    ];
    let mut nulls = [false; 10];
    // SAFETY: the descriptor is crm.rfm's, whose ten by-value columns match `values`.
    unsafe {
        let tuple = pg_sys::heap_form_tuple(descriptor, values.as_mut_ptr(), nulls.as_mut_ptr());
        pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
    }
}

/// The blessed descriptor of the function's composite result (in the call site's memory
/// context, made once per query).
struct ResultDescriptor(pg_sys::TupleDesc);

/// The blessed descriptor of the function's composite result, the final function's
/// call-site memo (once per query, not per customer).
unsafe fn result_descriptor(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::TupleDesc {
    let make = || {
        // SAFETY: flinfo and its memory context live as long as the query.
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo((*(*fcinfo).flinfo).fn_mcxt);
            let mut descriptor: pg_sys::TupleDesc = std::ptr::null_mut();
            let class = pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut descriptor);
            let blessed = (class == pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE && !descriptor.is_null()).then(|| pg_sys::BlessTupleDesc(descriptor));
            pg_sys::MemoryContextSwitchTo(old);
            blessed.map(ResultDescriptor).ok_or_else(|| CrmError::Unsupported("rfm_agg_final must return the composite type crm.rfm".into()))
        }
    };
    // SAFETY: the live call info of crm.rfm_agg's final function, whose fn_extra holds
    // only this memo.
    unsafe { memo::call_site(fcinfo, |_: &ResultDescriptor| true, make) }.or_raise().0
}

impl PartialState for RfmState {
    fn merge_from(&mut self, other: &Self) -> Result<()> {
        self.merge(other)
    }
    fn to_bytes(&self) -> Vec<u8> {
        RfmState::to_bytes(self)
    }
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        RfmState::from_bytes(bytes)
    }
}

impl PartialState for QuintileState {
    fn merge_from(&mut self, other: &Self) -> Result<()> {
        self.merge(other);
        Ok(())
    }
    fn to_bytes(&self) -> Vec<u8> {
        QuintileState::to_bytes(self)
    }
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        QuintileState::from_bytes(bytes)
    }
}

extension_sql!(
    r#"
CREATE TYPE rfm AS (
    recency_days float8,
    frequency int8,
    repeat_frequency int8,
    monetary_total float8,
    monetary_mean float8,
    first_order timestamptz,
    last_order timestamptz,
    t_days float8,
    orders int8,
    as_of timestamptz
);
COMMENT ON TYPE rfm IS 'RFM summary of one customer''s orders (crm.rfm_agg); days are calendar days in the session time zone';
CREATE FUNCTION rfm_agg_trans(state internal, order_at timestamptz, amount float8, as_of timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'crm_rfm_agg_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION rfm_agg_final(state internal) RETURNS rfm
    AS 'MODULE_PATHNAME', 'crm_rfm_agg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE rfm_agg(order_at timestamptz, amount float8, as_of timestamptz) (
    SFUNC = rfm_agg_trans,
    STYPE = internal,
    COMBINEFUNC = rfm_agg_combine,
    SERIALFUNC = rfm_agg_serial,
    DESERIALFUNC = rfm_agg_deserial,
    FINALFUNC = rfm_agg_final,
    PARALLEL = SAFE
);
CREATE TYPE rfm_scores AS (r int4, f int4, m int4, rfm text, segment text);
COMMENT ON TYPE rfm_scores IS 'RFM scores 1..5 (5 = best), the three digits as text, and the named segment';
COMMENT ON AGGREGATE rfm_agg(timestamptz, float8, timestamptz) IS
    'RFM summary (crm.rfm) of a customer''s orders as of a date; orders with a NULL time or amount and orders after as_of are ignored';
"#,
    name = "rfm_aggregate",
    requires = [rfm_agg_combine, rfm_agg_serial, rfm_agg_deserial]
);

/// Quintile breakpoints of a population's recency, frequency and monetary values
/// (`crm.rfm_quintiles` aggregate). Text form is JSON:
/// `{"n":23570,"recency":[...4 values],"frequency":[...],"monetary":[...]}`.
#[allow(non_camel_case_types)]
#[derive(PostgresType, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[inoutfuncs]
pub struct rfm_quintiles(RfmQuintiles);

impl InOutFuncs for rfm_quintiles {
    fn input(input: &CStr) -> Self {
        let parsed = input
            .to_str()
            .map_err(|_| CrmError::InvalidText("invalid crm.rfm_quintiles: not UTF-8 text".into()))
            .and_then(|text| {
                serde_json::from_str::<RfmQuintiles>(text).map_err(|e| {
                    CrmError::InvalidText(format!(
                        "invalid input syntax for type crm.rfm_quintiles: {e}; expected JSON such as \
                         {{\"n\":100,\"recency\":[10,30,90,200],\"frequency\":[1,1,2,4],\"monetary\":[15,30,60,120]}}"
                    ))
                })
            })
            .and_then(|q| q.validate().map(|_| q));
        rfm_quintiles(parsed.or_raise())
    }

    fn output(&self, buffer: &mut StringInfo) {
        buffer.push_str(&serde_json::to_string(&self.0).unwrap_or_default());
    }
}

#[pg_extern(immutable, parallel_safe)]
fn rfm_quintiles_trans(
    state: Internal,
    recency_days: Option<f64>,
    frequency: Option<f64>,
    monetary: Option<f64>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let mut state = if unsafe { state.get::<QuintileState>() }.is_some() {
        state
    } else {
        into_context(QuintileState::default(), aggregate_context(fcinfo, "rfm_quintiles_trans"))
    };
    // SAFETY: the state is a QuintileState (made just above or on an earlier row).
    if let Some(s) = unsafe { state.get_mut::<QuintileState>() } {
        s.add(recency_days, frequency, monetary);
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn rfm_quintiles_combine(left: Internal, right: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine::<QuintileState>(left, right, fcinfo, "rfm_quintiles_combine")
}

#[pg_extern(immutable, parallel_safe, strict)]
fn rfm_quintiles_serial(state: Internal) -> Option<Vec<u8>> {
    serial::<QuintileState>(state)
}

#[pg_extern(immutable, parallel_safe, strict)]
fn rfm_quintiles_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    deserial::<QuintileState>(bytes)
}

#[pg_extern(immutable, parallel_safe)]
fn rfm_quintiles_final(state: Internal) -> Option<rfm_quintiles> {
    // SAFETY: see rfm_quintiles_combine.
    unsafe { state.get::<QuintileState>() }.and_then(QuintileState::finish).map(rfm_quintiles)
}

extension_sql!(
    r#"
CREATE AGGREGATE rfm_quintiles(recency_days float8, frequency float8, monetary float8) (
    SFUNC = rfm_quintiles_trans,
    STYPE = internal,
    COMBINEFUNC = rfm_quintiles_combine,
    SERIALFUNC = rfm_quintiles_serial,
    DESERIALFUNC = rfm_quintiles_deserial,
    FINALFUNC = rfm_quintiles_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE rfm_quintiles(float8, float8, float8) IS
    'Quintile breakpoints (percentile_disc 0.2/0.4/0.6/0.8) of a population''s recency, frequency and monetary values, for crm.rfm_score';
CREATE AGGREGATE rfm_quintiles(summary rfm) (
    SFUNC = rfm_quintiles_summary_trans,
    STYPE = internal,
    COMBINEFUNC = rfm_quintiles_combine,
    SERIALFUNC = rfm_quintiles_serial,
    DESERIALFUNC = rfm_quintiles_deserial,
    FINALFUNC = rfm_quintiles_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE rfm_quintiles(rfm) IS
    'Quintile breakpoints of recency_days, frequency and monetary_total over a population of crm.rfm summaries';
"#,
    name = "rfm_quintiles_aggregate",
    requires = [
        "rfm_aggregate",
        rfm_quintiles_trans,
        rfm_quintiles_summary_trans,
        rfm_quintiles_combine,
        rfm_quintiles_serial,
        rfm_quintiles_deserial,
        rfm_quintiles_final
    ]
);

/// The recency_days, frequency and monetary_total of a `crm.rfm` value.
fn summary_fields<A: pgrx::WhoAllocated>(summary: &PgHeapTuple<'_, A>) -> [Option<f64>; 3] {
    let recency = summary.get_by_name::<f64>("recency_days").ok().flatten();
    let frequency = summary.get_by_name::<i64>("frequency").ok().flatten().map(|f| f as f64);
    let monetary = summary.get_by_name::<f64>("monetary_total").ok().flatten();
    [recency, frequency, monetary]
}

#[pg_extern(immutable, parallel_safe, requires = ["rfm_aggregate"])]
fn rfm_quintiles_summary_trans(state: Internal, summary: Option<pgrx::composite_type!("rfm")>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let [r, f, m] = summary.as_ref().map(|s| summary_fields(s)).unwrap_or([None; 3]);
    rfm_quintiles_trans(state, r, f, m, fcinfo)
}

fn scores_tuple(r: i32, f: i32, m: i32) -> pgrx::composite_type!('static, "rfm_scores") {
    let segment = rfm::rfm_segment(r, f, m).or_raise();
    let mut tuple = PgHeapTuple::new_composite_type("crm.rfm_scores").or_raise_pg();
    for (name, value) in [("r", r), ("f", f), ("m", m)] {
        tuple.set_by_name(name, value).or_raise_pg();
    }
    tuple.set_by_name("rfm", format!("{r}{f}{m}")).or_raise_pg();
    tuple.set_by_name("segment", segment.to_string()).or_raise_pg();
    tuple
}

trait OrRaisePg<T> {
    fn or_raise_pg(self) -> T;
}

impl<T, E: std::fmt::Display> OrRaisePg<T> for std::result::Result<T, E> {
    fn or_raise_pg(self) -> T {
        self.unwrap_or_else(|e| CrmError::Unsupported(format!("rfm_score: {e}")).raise())
    }
}

/// R, F and M scores 1..5 of one customer against a population's quintiles (R: 5 = most
/// recent), with the named segment. NULL when any input is NULL.
#[pg_extern(immutable, parallel_safe, strict, name = "rfm_score", requires = ["rfm_aggregate"])]
fn rfm_score(recency_days: f64, frequency: f64, monetary: f64, quintiles: rfm_quintiles) -> pgrx::composite_type!('static, "rfm_scores") {
    let (r, f, m) = rfm::rfm_scores(recency_days, frequency, monetary, &quintiles.0);
    scores_tuple(r, f, m)
}

/// `rfm_score` of a `crm.rfm` summary (recency_days, frequency, monetary_total).
#[pg_extern(immutable, parallel_safe, strict, name = "rfm_score", requires = ["rfm_aggregate"])]
fn rfm_score_summary(summary: pgrx::composite_type!("rfm"), quintiles: rfm_quintiles) -> Option<pgrx::composite_type!('static, "rfm_scores")> {
    let [Some(r), Some(f), Some(m)] = summary_fields(&summary) else {
        return None;
    };
    Some(rfm_score(r, f, m, quintiles))
}

/// The named segment of R, F and M scores (each 1..5); see the grid in the README.
#[pg_extern(immutable, parallel_safe, strict)]
fn rfm_segment(r: i32, f: i32, m: i32) -> &'static str {
    rfm::rfm_segment(r, f, m).or_raise()
}

extension_sql!(
    r#"
COMMENT ON FUNCTION rfm_segment(int4, int4, int4) IS
    'Named RFM segment (Champions, Loyal Customers, ..., Lost) from R, F and M scores 1..5';
"#,
    name = "rfm_segment_comment",
    requires = [rfm_segment]
);
