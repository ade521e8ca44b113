//! SQL surface of the normalisation summaries: type `crm.scaler`, aggregate
//! `crm.scaler_agg(x [, method])` with combine/serial/deserial functions (parallel), and
//! `crm.scale` / `crm.unscale`.
//!
//! The aggregate keeps its state as `internal` (a Rust value in the aggregate's memory
//! context, dropped when that context is reset): a `PostgresType` state would be
//! (de)serialised on every row, about 8x slower (measured, see DESIGN.md).

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{Internal, StringInfo};
use serde::{Deserialize, Serialize};

use super::scaler::{Method, ScalerParams, ScalerState};
use crate::error::sql::OrRaise;
use crate::error::CrmError;
use crate::pg::aggregate::{aggregate_context, combine, deserial, leak_into, serial, PartialState, V1_FINFO};

/// A normalisation summary. Text form is JSON:
/// `{"method":"zscore","n":1000,"mean":4.2,"stddev":1.3,"min":0.0,"max":9.5}`.
#[derive(PostgresType, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[inoutfuncs]
pub struct Scaler(ScalerParams);

/// Binary input of `crm.scaler` (COPY ... BINARY, binary parameters): the CBOR body
/// `crm.scaler_send` writes, decoded and checked as the text input checks — bytes that do
/// not decode, or decode to an impossible summary (n = 0, negative stddev, min > max,
/// non-finite fields), are 22P02. Written here instead of pgrx's `pg_binary_protocol`,
/// which decoded unchecked bytes with a panic (XX000) and accepted impossible values.
/// Same SQL name and C symbol as before, so existing types keep using it.
#[pg_extern(immutable, strict, parallel_safe)]
fn scaler_recv(mut internal: Internal) -> Scaler {
    // SAFETY: a type's receive function gets the StringInfo of the message being read.
    let Some(buffer) = (unsafe { internal.get_mut::<pg_sys::StringInfoData>() }) else {
        CrmError::InvalidText("invalid binary crm.scaler: no message".into()).raise();
    };
    let bytes: &[u8] = if buffer.data.is_null() || buffer.len <= buffer.cursor {
        &[]
    } else {
        // SAFETY: the message's unread bytes, [cursor, len) of its data.
        unsafe { std::slice::from_raw_parts(buffer.data.add(buffer.cursor as usize) as *const u8, (buffer.len - buffer.cursor) as usize) }
    };
    let parsed = serde_cbor::from_slice::<ScalerParams>(bytes)
        .map_err(|e| CrmError::InvalidText(format!("invalid binary crm.scaler: {e}")))
        .and_then(|params| params.validate().map(|_| params));
    let params = parsed.or_raise();
    buffer.cursor = buffer.len;
    Scaler(params)
}

/// Binary output of `crm.scaler`: its CBOR body (what `crm.scaler_recv` reads).
#[pg_extern(immutable, strict, parallel_safe)]
fn scaler_send(input: Scaler) -> Vec<u8> {
    // Serialising plain numbers and an enum cannot fail.
    serde_cbor::to_vec(&input.0).unwrap_or_default()
}

extension_sql!("ALTER TYPE scaler SET (RECEIVE = scaler_recv, SEND = scaler_send);", name = "scaler_binary_io", requires = [Scaler, scaler_recv, scaler_send]);

impl InOutFuncs for Scaler {
    fn input(input: &CStr) -> Self {
        let parsed = input
            .to_str()
            .map_err(|_| CrmError::InvalidText("invalid crm.scaler: not UTF-8 text".into()))
            .and_then(|text| {
                serde_json::from_str::<ScalerParams>(text).map_err(|e| {
                    CrmError::InvalidText(format!(
                        "invalid input syntax for type crm.scaler: {e}; expected JSON such as \
                         {{\"method\":\"zscore\",\"n\":10,\"mean\":1.5,\"stddev\":0.5,\"min\":0,\"max\":3}}"
                    ))
                })
            })
            .and_then(|params| params.validate().map(|_| params));
        Scaler(parsed.or_raise())
    }

    fn output(&self, buffer: &mut StringInfo) {
        // Serialising plain numbers and an enum cannot fail.
        buffer.push_str(&serde_json::to_string(&self.0).unwrap_or_default());
    }
}

/// The per-row transition of both `scaler_agg` forms, as a raw V1 function: pgrx's
/// `#[pg_extern]` wrapper converts every argument on every row (the method text
/// included), which cost about a third of the aggregate's time here. This reads the
/// state and `x` directly and the method only on a group's first row.
#[no_mangle]
pub extern "C" fn pg_finfo_crm_scaler_agg_trans() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// # Safety
/// Called by Postgres only, as the transition function of `crm.scaler_agg` with
/// arguments `(internal, float8 [, text])`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_scaler_agg_trans(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo with `nargs` arguments.
    let nargs = unsafe { (*fcinfo).nargs } as usize;
    let args = unsafe { (*fcinfo).args.as_slice(nargs) };
    let x = (!args[1].isnull).then(|| f64::from_bits(args[1].value.value() as u64));
    if !args[0].isnull {
        // SAFETY: a non-NULL state of this aggregate is always a ScalerState made below.
        let state = unsafe { &mut *args[0].value.cast_mut_ptr::<ScalerState>() };
        if let Some(x) = x {
            state.add(x);
        }
        return args[0].value;
    }
    let method = if nargs < 3 {
        Method::Zscore
    } else if args[2].isnull {
        CrmError::bad_argument("method", "NULL", "'zscore', 'minmax' or 'robust'").raise()
    } else {
        // SAFETY: argument 2 is a non-NULL text datum.
        let text = unsafe { <&str as pgrx::FromDatum>::from_datum(args[2].value, false) };
        Method::parse(text.unwrap_or("")).or_raise()
    };
    let Some(x) = x else {
        // SAFETY: valid fcinfo; a NULL result keeps the state NULL until a value arrives.
        unsafe { (*fcinfo).isnull = true };
        return pg_sys::Datum::from(0);
    };
    let mut fresh = ScalerState::new(method);
    fresh.add(x);
    leak_into(fresh, aggregate_context(fcinfo, "scaler_agg_trans"))
}

impl PartialState for ScalerState {
    fn merge_from(&mut self, other: &Self) -> crate::error::Result<()> {
        self.merge(other)
    }
    fn to_bytes(&self) -> Vec<u8> {
        ScalerState::to_bytes(self)
    }
    fn from_bytes(bytes: &[u8]) -> crate::error::Result<Self> {
        ScalerState::from_bytes(bytes)
    }
}

#[pg_extern(immutable, parallel_safe)]
fn scaler_agg_combine(left: Internal, right: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine::<ScalerState>(left, right, fcinfo, "scaler_agg_combine")
}

#[pg_extern(immutable, parallel_safe, strict)]
fn scaler_agg_serial(state: Internal) -> Option<Vec<u8>> {
    serial::<ScalerState>(state)
}

#[pg_extern(immutable, parallel_safe, strict)]
fn scaler_agg_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    deserial::<ScalerState>(bytes)
}

#[pg_extern(immutable, parallel_safe)]
fn scaler_agg_final(state: Internal) -> Option<Scaler> {
    // SAFETY: see scaler_agg_combine.
    unsafe { state.get::<ScalerState>() }.and_then(|s| s.finish().or_raise()).map(Scaler)
}

// pgrx's #[pg_aggregate] cannot express an `internal` state with serial/deserial functions
// (pgrx#2351), so the aggregates are declared here. Aggregates take no DEFAULT arguments:
// the one-argument form is the zscore default.
extension_sql!(
    r#"
CREATE FUNCTION scaler_agg_trans(state internal, x float8, method text) RETURNS internal
    AS 'MODULE_PATHNAME', 'crm_scaler_agg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scaler_agg_trans(state internal, x float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'crm_scaler_agg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE scaler_agg(x float8, method text) (
    SFUNC = scaler_agg_trans,
    STYPE = internal,
    COMBINEFUNC = scaler_agg_combine,
    SERIALFUNC = scaler_agg_serial,
    DESERIALFUNC = scaler_agg_deserial,
    FINALFUNC = scaler_agg_final,
    PARALLEL = SAFE
);
CREATE AGGREGATE scaler_agg(x float8) (
    SFUNC = scaler_agg_trans,
    STYPE = internal,
    COMBINEFUNC = scaler_agg_combine,
    SERIALFUNC = scaler_agg_serial,
    DESERIALFUNC = scaler_agg_deserial,
    FINALFUNC = scaler_agg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE scaler_agg(float8, text) IS 'Normalisation summary (crm.scaler) of x: method zscore (default), minmax or robust';
COMMENT ON AGGREGATE scaler_agg(float8) IS 'Normalisation summary (crm.scaler) of x with method zscore';
"#,
    name = "scaler_aggregates",
    requires = [scaler_agg_combine, scaler_agg_serial, scaler_agg_deserial, scaler_agg_final]
);

/// x normalised by the summary: (x − centre) / spread.
#[pg_extern(immutable, strict, parallel_safe)]
fn scale(x: f64, s: Scaler) -> f64 {
    s.0.scale(x)
}

/// The inverse of `scale`: a normalised value back in original units.
#[pg_extern(immutable, strict, parallel_safe)]
fn unscale(y: f64, s: Scaler) -> f64 {
    s.0.unscale(y)
}

/// The summary's fields as jsonb, for BI tools and `->>`.
#[pg_extern(immutable, strict, parallel_safe)]
fn scaler_params(s: Scaler) -> pgrx::JsonB {
    pgrx::JsonB(serde_json::to_value(&s.0).unwrap_or(serde_json::Value::Null))
}
