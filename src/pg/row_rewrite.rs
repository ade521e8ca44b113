//! Planner support for the whole-row scoring functions: `crm.score('churn', c)` is
//! rewritten at plan time into `crm.score_columns('churn', '{id,plan,...}', c.id,
//! c.plan, ...)`, so each row's columns reach the model as plain arguments and Postgres
//! never builds the whole-row value. Building that value (`heap_form_tuple` of every
//! column, then our reading it back) was half the per-row cost of `crm.score` on a
//! million rows (see DESIGN.md); the column form costs what a SQL expression over the
//! same columns costs.
//!
//! The rewrite keeps meaning exactly: the model is still resolved when the statement
//! runs (a later deploy is seen), columns are still matched by name, a missing column is
//! the same 42703. It is only made where the row cannot be NULL as a whole: a row of a
//! table in a query without outer joins (a NULL-extended row of an outer join scores
//! NULL, which separate columns could not say), or a `ROW(...)`/flattened view row.
//! Everything else keeps the whole-row call.

use std::ffi::{CStr, CString};

use pgrx::prelude::*;
use pgrx::IntoDatum;

/// Postgres's limit on a function's arguments (FUNC_MAX_ARGS).
const MAX_ARGS: usize = 100;

#[no_mangle]
pub extern "C" fn pg_finfo_crm_row_columns_support() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.row_columns_support(internal) → internal`, the SUPPORT function of `crm.score`
/// and `crm.churn_score`: answers SupportRequestSimplify with the column form (the
/// function named `<name>_columns` in the same schema), or NULL to keep the call.
///
/// # Safety
/// Called by the planner only, with a support request node.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_row_columns_support(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: a support function's one argument is a request node.
    unsafe {
        let request = (*fcinfo).args.as_slice(1)[0].value.cast_mut_ptr::<pg_sys::Node>();
        if request.is_null() || (*request).type_ != pg_sys::NodeTag::T_SupportRequestSimplify {
            return pg_sys::Datum::from(0);
        }
        let request = request as *mut pg_sys::SupportRequestSimplify;
        match column_form((*request).root, (*request).fcall) {
            Some(expr) => pg_sys::Datum::from(expr as *mut pg_sys::Node),
            None => pg_sys::Datum::from(0),
        }
    }
}

/// The elements of a List of pointers.
unsafe fn list_items<T>(list: *mut pg_sys::List) -> Vec<*mut T> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: a valid pointer List.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value as *mut T).collect() }
}

unsafe fn node_tag(node: *mut pg_sys::Node) -> pg_sys::NodeTag {
    // SAFETY: a valid node.
    unsafe { (*node).type_ }
}

/// (name, attribute number, type, typmod, collation) of the live columns of a row type.
unsafe fn row_type_columns(type_oid: pg_sys::Oid, typmod: i32) -> Vec<(String, i16, pg_sys::Oid, i32, pg_sys::Oid)> {
    // SAFETY: a copy in the planner's memory context, read and left to it.
    unsafe {
        let tupdesc = pg_sys::lookup_rowtype_tupdesc_copy(type_oid, typmod);
        let natts = (*tupdesc).natts as usize;
        (*tupdesc)
            .attrs
            .as_slice(natts)
            .iter()
            .filter(|a| !a.attisdropped)
            .map(|a| (CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned(), a.attnum, a.atttypid, a.atttypmod, a.attcollation))
            .collect()
    }
}

/// Whether the query has an outer join (whose NULL-extended rows must stay NULL rows).
unsafe fn has_outer_join(query: *mut pg_sys::Query) -> bool {
    // SAFETY: the planner's query.
    unsafe {
        list_items::<pg_sys::RangeTblEntry>((*query).rtable)
            .into_iter()
            .any(|rte| (*rte).rtekind == pg_sys::RTEKind::RTE_JOIN && (*rte).jointype != pg_sys::JoinType::JOIN_INNER)
    }
}

/// The row argument as (column name, expression) pairs, when it can be taken apart.
unsafe fn row_columns(root: *mut pg_sys::PlannerInfo, row: *mut pg_sys::Node) -> Option<Vec<(String, *mut pg_sys::Node)>> {
    // SAFETY (whole fn): nodes of the expression being planned.
    unsafe {
        match node_tag(row) {
            pg_sys::NodeTag::T_Var => {
                let var = row as *mut pg_sys::Var;
                if (*var).varattno != 0 || (*var).varlevelsup != 0 || root.is_null() || (*root).parse.is_null() {
                    return None;
                }
                let query = (*root).parse;
                let rtable = list_items::<pg_sys::RangeTblEntry>((*query).rtable);
                let rte = *rtable.get(((*var).varno as usize).checked_sub(1)?)?;
                if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || has_outer_join(query) {
                    return None;
                }
                let columns = row_type_columns((*var).vartype, (*var).vartypmod);
                Some(
                    columns
                        .into_iter()
                        .map(|(name, attnum, typid, typmod, collation)| {
                            (name, pg_sys::makeVar((*var).varno, attnum, typid, typmod, collation, 0) as *mut pg_sys::Node)
                        })
                        .collect(),
                )
            }
            pg_sys::NodeTag::T_RowExpr => {
                let row = row as *mut pg_sys::RowExpr;
                let args = list_items::<pg_sys::Node>((*row).args);
                if (*row).row_typeid == pg_sys::RECORDOID {
                    let names = list_items::<pg_sys::String>((*row).colnames);
                    if names.len() != args.len() {
                        return None;
                    }
                    let names = names.iter().map(|s| CStr::from_ptr((**s).sval).to_string_lossy().into_owned());
                    Some(names.zip(args).collect())
                } else {
                    // A named row type: one argument per attribute, dropped ones included.
                    let tupdesc = pg_sys::lookup_rowtype_tupdesc_copy((*row).row_typeid, -1);
                    let natts = (*tupdesc).natts as usize;
                    if natts != args.len() {
                        return None;
                    }
                    let attrs = (*tupdesc).attrs.as_slice(natts);
                    Some(
                        attrs
                            .iter()
                            .zip(args)
                            .filter(|(a, _)| !a.attisdropped)
                            .map(|(a, arg)| (CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned(), arg))
                            .collect(),
                    )
                }
            }
            _ => None,
        }
    }
}

/// `f(args..., row)` → `f_columns(args..., '{names}', columns...)`, or None.
unsafe fn column_form(root: *mut pg_sys::PlannerInfo, call: *mut pg_sys::FuncExpr) -> Option<*mut pg_sys::FuncExpr> {
    // SAFETY (whole fn): the planner's call expression and catalog lookups.
    unsafe {
        if call.is_null() || (*call).funcretset {
            return None;
        }
        let args = list_items::<pg_sys::Node>((*call).args);
        let (&row, leading) = args.split_last()?;
        let columns = row_columns(root, row)?;
        if columns.is_empty() || leading.len() + 1 + columns.len() > MAX_ARGS {
            return None;
        }
        // The column form: same schema, name + "_columns", the leading arguments' types,
        // then text[] and VARIADIC "any".
        let mut declared: *mut pg_sys::Oid = std::ptr::null_mut();
        let mut nargs = 0;
        pg_sys::get_func_signature((*call).funcid, &mut declared, &mut nargs);
        if nargs as usize != args.len() {
            return None;
        }
        let mut arg_types: Vec<pg_sys::Oid> = std::slice::from_raw_parts(declared, leading.len()).to_vec();
        arg_types.extend([pg_sys::TEXTARRAYOID, pg_sys::ANYOID]);
        let name = CStr::from_ptr(pg_sys::get_func_name((*call).funcid)).to_str().ok()?;
        let schema = CStr::from_ptr(pg_sys::get_namespace_name(pg_sys::get_func_namespace((*call).funcid))).to_str().ok()?;
        let mut qualified: *mut pg_sys::List = std::ptr::null_mut();
        for part in [schema.to_string(), format!("{name}_columns")] {
            let part = CString::new(part).ok()?;
            qualified = pg_sys::lappend(qualified, pg_sys::makeString(pg_sys::pstrdup(part.as_ptr())).cast());
        }
        let target = pg_sys::LookupFuncName(qualified, arg_types.len() as i32, arg_types.as_ptr(), true);
        if target == pg_sys::InvalidOid {
            return None;
        }

        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let names = names.into_datum()?;
        let names = pg_sys::makeConst(pg_sys::TEXTARRAYOID, -1, pg_sys::DEFAULT_COLLATION_OID, -1, names, false, false);
        let mut new_args: *mut pg_sys::List = std::ptr::null_mut();
        for &arg in leading {
            new_args = pg_sys::lappend(new_args, arg.cast());
        }
        new_args = pg_sys::lappend(new_args, names.cast());
        for (_, expr) in columns {
            new_args = pg_sys::lappend(new_args, expr.cast());
        }
        let expr =
            pg_sys::makeFuncExpr(target, (*call).funcresulttype, new_args, (*call).funccollid, (*call).inputcollid, pg_sys::CoercionForm::COERCE_EXPLICIT_CALL);
        (*expr).location = (*call).location;
        Some(expr)
    }
}

extension_sql!(
    r#"
CREATE FUNCTION row_columns_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'crm_row_columns_support' LANGUAGE C STRICT;
COMMENT ON FUNCTION row_columns_support(internal) IS 'Planner support of crm.score and crm.churn_score: passes a table row''s columns instead of building the whole-row value';
"#,
    name = "row_columns_support"
);
