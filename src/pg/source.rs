//! What every training function shares on the SQL side: turning the `source` argument
//! into a query, describing its columns, quoting identifiers, checking a model name,
//! and storing a trained model as the next version of its name.

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB};

use crate::error::{CrmError, Result};
use crate::registry::Kind;

/// `name` quoted as an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A read-only SPI session: `SPI_connect` now, `SPI_finish` when dropped (also when an
/// error unwinds through it).
///
/// pgrx's SPI helpers decide read-only-ness per transaction (no transaction id yet), so
/// inside `CREATE TABLE AS`, after any write, or in parallel mode (where a STABLE or
/// PARALLEL RESTRICTED function runs whenever its query may use parallel plans) they run
/// as updates, which Postgres refuses there ("cannot start commands during a parallel
/// operation", "cannot assign XIDs during a parallel operation"). Everything pg_crm reads
/// — sources, catalogs, the registry — goes through read-only SPI instead: the statement's
/// snapshot, no command counter increment.
struct ReadOnlySpi;

impl ReadOnlySpi {
    fn connect() -> Result<ReadOnlySpi> {
        // SAFETY: a plain SPI connection on the backend thread, finished by Drop.
        if unsafe { pg_sys::SPI_connect() } != pg_sys::SPI_OK_CONNECT as i32 {
            return Err(CrmError::InvalidArgument("cannot read source: SPI_connect failed".into()));
        }
        Ok(ReadOnlySpi)
    }

    /// Runs `sql` (parameters `args`) read-only, returning up to `limit` rows (0 = all)
    /// in SPI_tuptable.
    fn execute(&self, sql: &str, args: &[pgrx::datum::DatumWithOid<'_>], limit: i64) -> Result<()> {
        self.execute_as(sql, args, limit, true)
    }

    /// As `execute`; `read_only` false takes a new snapshot for the query (see
    /// `read_latest_rows`).
    fn execute_as(&self, sql: &str, args: &[pgrx::datum::DatumWithOid<'_>], limit: i64, read_only: bool) -> Result<()> {
        let sql = std::ffi::CString::new(sql).map_err(|_| CrmError::InvalidArgument("cannot read source: the query contains a NUL byte".into()))?;
        let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.oid()).collect();
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.datum().map_or(pg_sys::Datum::from(0), |d| d.sans_lifetime())).collect();
        let nulls: Vec<std::ffi::c_char> = args.iter().map(|a| if a.datum().is_none() { b'n' } else { b' ' } as std::ffi::c_char).collect();
        // SAFETY: connected; the argument arrays have args.len() entries.
        let rc = unsafe {
            pg_sys::SPI_execute_with_args(sql.as_ptr(), args.len() as i32, types.as_mut_ptr(), values.as_mut_ptr(), nulls.as_ptr(), read_only, limit)
        };
        if rc < 0 {
            return Err(CrmError::InvalidArgument(format!("cannot read source: SPI error {rc}")));
        }
        Ok(())
    }
}

impl Drop for ReadOnlySpi {
    fn drop(&mut self) {
        // SAFETY: connected in `connect`.
        unsafe { pg_sys::SPI_finish() };
    }
}

/// The first column of the first row of a read-only query, or None.
pub fn read_one<T: FromDatum + IntoDatum>(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> Result<Option<T>> {
    let spi = ReadOnlySpi::connect()?;
    spi.execute(sql, args, 1)?;
    // SAFETY: the tuple table of the query above, read before the session ends. The
    // types read this way (numbers, bool, String, JsonB) convert into Rust-owned values,
    // so nothing points into SPI's memory once it is freed.
    unsafe {
        let table = pg_sys::SPI_tuptable;
        if table.is_null() || pg_sys::SPI_processed == 0 {
            return Ok(None);
        }
        let row = SourceRow { tuple: *(*table).vals, tupdesc: (*table).tupdesc };
        row.get::<T>(1).map_err(|e| CrmError::InvalidArgument(format!("cannot read source: {e}")))
    }
}

/// Every row of a read-only query with parameters, handed to `each` until it answers
/// false (see `ReadOnlySpi` for why reads go this way).
pub fn read_rows(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>], each: impl FnMut(&SourceRow) -> std::result::Result<bool, pgrx::spi::Error>) -> Result<()> {
    read_rows_as(sql, args, true, each)
}

/// As `read_rows`, under a new snapshot: what a volatile function reads after waiting for
/// a lock must include what the holder committed meanwhile (READ COMMITTED), which the
/// statement's snapshot, taken before the wait, does not. Not for parallel mode.
pub fn read_latest_rows(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    each: impl FnMut(&SourceRow) -> std::result::Result<bool, pgrx::spi::Error>,
) -> Result<()> {
    read_rows_as(sql, args, false, each)
}

/// `read_rows` (read_only) or `read_latest_rows`.
pub fn read_rows_as(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    read_only: bool,
    mut each: impl FnMut(&SourceRow) -> std::result::Result<bool, pgrx::spi::Error>,
) -> Result<()> {
    let spi = ReadOnlySpi::connect()?;
    spi.execute_as(sql, args, 0, read_only)?;
    // SAFETY: the tuple table of the query above, read before the session ends; `each`
    // copies what it keeps.
    unsafe {
        let table = pg_sys::SPI_tuptable;
        if table.is_null() {
            return Ok(());
        }
        for i in 0..pg_sys::SPI_processed as usize {
            let row = SourceRow { tuple: *(*table).vals.add(i), tupdesc: (*table).tupdesc };
            if !each(&row).map_err(|e| CrmError::InvalidArgument(format!("cannot read: {e}")))? {
                break;
            }
        }
    }
    Ok(())
}

/// The source as a query: a SELECT/WITH/VALUES/TABLE text is used as given; anything else
/// must name a table or view (resolved by Postgres, then quoted by it).
pub fn source_query(source: &str) -> Result<String> {
    if is_query(source) {
        return Ok(format!("SELECT * FROM ({source}) AS crm_source"));
    }
    let relation = read_one::<String>("SELECT pg_catalog.to_regclass($1)::pg_catalog.text", &[source.into()])
        .ok()
        .flatten()
        .ok_or_else(|| CrmError::UndefinedTable(format!("relation \"{source}\" does not exist (source must name a table or view, or be a SELECT)")))?;
    Ok(format!("SELECT * FROM {relation}"))
}

/// Whether a source is a query (SELECT/WITH/VALUES/TABLE) rather than a relation's name.
pub fn is_query(source: &str) -> bool {
    let head = source.trim_start().trim_start_matches('(').trim_start().to_ascii_lowercase();
    ["select", "with", "values", "table"].iter().any(|k| head.starts_with(k) && head[k.len()..].starts_with(|c: char| c.is_whitespace() || c == '('))
}

pub struct ColumnInfo {
    pub name: String,
    pub type_oid: pg_sys::Oid,
}

/// The columns of a query's result, in order.
pub fn describe(query: &str) -> Result<Vec<ColumnInfo>> {
    let spi = ReadOnlySpi::connect()?;
    spi.execute(&format!("{query} LIMIT 0"), &[], 0)?;
    // SAFETY: the tuple table of the query above holds its result descriptor.
    unsafe {
        let table = pg_sys::SPI_tuptable;
        if table.is_null() {
            return Err(CrmError::InvalidArgument("cannot read source: it returns no rows (not a query)".into()));
        }
        let tupdesc = (*table).tupdesc;
        let attrs = (*tupdesc).attrs.as_slice((*tupdesc).natts as usize);
        Ok(attrs
            .iter()
            .filter(|a| !a.attisdropped)
            .map(|a| ColumnInfo { name: std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned(), type_oid: a.atttypid })
            .collect())
    }
}

/// What a batch function (`crm.score_batch`, `crm.segment_batch`) reads from `source`:
/// the `key` column as text, then the whole row; 42703 naming the source's columns when
/// `key` is not one of them.
pub fn keyed_rows_query(source: &str, key: &str) -> Result<String> {
    let query = source_query(source)?;
    let described = describe(&query)?;
    if !described.iter().any(|c| c.name == key) {
        return Err(CrmError::UndefinedColumn(format!(
            "key column \"{key}\" is not in the source (its columns: {})",
            described.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(format!("SELECT crm_batch.{}::pg_catalog.text, crm_batch FROM ({query}) AS crm_batch", quote_ident(key)))
}

/// The column called `name`, or 42703 listing the source's columns.
pub fn find_column<'a>(described: &'a [ColumnInfo], name: &str, what: &str) -> Result<&'a ColumnInfo> {
    described.iter().find(|c| c.name == name).ok_or_else(|| {
        CrmError::UndefinedColumn(format!(
            "{what} column \"{name}\" is not in the source (its columns: {})",
            described.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The column a trainer reads for `what` (options.`what`): the one `given` by name, else
/// the first of the `conventional` names (any case) whose column `fits`, else the only
/// column that `fits`; an ERROR naming the option and listing the columns otherwise.
pub fn pick_column(described: &[ColumnInfo], given: Option<&str>, conventional: &[&str], fits: &dyn Fn(&ColumnInfo) -> bool, what: &str) -> Result<String> {
    if let Some(name) = given {
        return Ok(find_column(described, name, &format!("options.{what}"))?.name.clone());
    }
    if let Some(c) = conventional.iter().find_map(|n| described.iter().find(|c| c.name.eq_ignore_ascii_case(n) && fits(c))) {
        return Ok(c.name.clone());
    }
    match described.iter().filter(|c| fits(c)).collect::<Vec<_>>().as_slice() {
        [only] => Ok(only.name.clone()),
        _ => Err(CrmError::UndefinedColumn(format!(
            "cannot tell which column is the {what}: name it with options.{what} (the source has: {})",
            described.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Numeric SQL types, read as float8.
pub fn is_numeric(type_oid: pg_sys::Oid) -> bool {
    matches!(type_oid, pg_sys::FLOAT8OID | pg_sys::FLOAT4OID | pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::NUMERICOID)
}

/// Date and timestamp SQL types (order and interaction times).
pub fn is_time(type_oid: pg_sys::Oid) -> bool {
    matches!(type_oid, pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID)
}

/// Rows fetched per batch when reading a source.
const BATCH_ROWS: i64 = 10_000;

/// `crm.source_memory_mb`: the most source data one call (a training, matching, batch
/// scoring) reads into memory, counted as the rows' size as Postgres stores them. What a
/// call keeps (compact columns, interned text) lives in Rust's heap, which Postgres's
/// memory accounting does not see; this bound turns a source too large for the machine
/// into an ERROR 53200 instead of an out-of-memory kill of the backend.
pub static SOURCE_MEMORY_MB: GucSetting<i32> = GucSetting::<i32>::new(8192);

pub fn register_gucs() {
    GucRegistry::define_int_guc(
        c"crm.source_memory_mb",
        c"Most source data one training, matching or batch-scoring call reads into memory, in MB (0 = no limit).",
        c"Counted as the size of the source rows as Postgres stores them; beyond it the call stops with 53200.",
        &SOURCE_MEMORY_MB,
        0,
        1 << 30,
        GucContext::Userset,
        GucFlags::UNIT_MB,
    );
}

/// Runs `query` through a cursor and calls `each` on every row, in batches of 10,000,
/// each fetched in an SPI session of its own so its tuples are freed before the next
/// (memory holds what `each` keeps, not the fetched rows); a cancel is honoured between
/// batches. `each` returns Ok(false) to stop early.
pub fn read_in_batches(query: &str, mut each: impl FnMut(&SourceRow) -> std::result::Result<bool, pgrx::spi::Error>) -> Result<()> {
    let spi_error = |e: pgrx::spi::Error| CrmError::InvalidArgument(format!("cannot read source: {e}"));
    let sql = std::ffi::CString::new(query).map_err(|_| CrmError::InvalidArgument("cannot read source: the query contains a NUL byte".into()))?;
    // The cursor outlives the SPI session that opens it (portals live until the
    // transaction ends or they are closed): each batch is fetched in a session of its
    // own and found again by name.
    let name = {
        let _spi = ReadOnlySpi::connect()?;
        // SAFETY: connected; no parameters; read-only, the statement's snapshot.
        unsafe {
            let portal =
                pg_sys::SPI_cursor_open_with_args(std::ptr::null(), sql.as_ptr(), 0, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null(), true, 0);
            if portal.is_null() {
                return Err(CrmError::InvalidArgument("cannot read source: SPI_cursor_open failed".into()));
            }
            std::ffi::CStr::from_ptr((*portal).name).to_owned()
        }
    };
    // Closes the cursor however reading ends (done, stopped early, or an error).
    struct Close<'a>(&'a std::ffi::CStr);
    impl Drop for Close<'_> {
        fn drop(&mut self) {
            // SAFETY: a portal lookup by name; closed only if still there.
            unsafe {
                let portal = pg_sys::SPI_cursor_find(self.0.as_ptr());
                if !portal.is_null() {
                    pg_sys::SPI_cursor_close(portal);
                }
            }
        }
    }
    let _close = Close(&name);
    let limit = SOURCE_MEMORY_MB.get().max(0) as u64 * 1024 * 1024;
    let mut read_bytes: u64 = 0;
    loop {
        if limit > 0 && read_bytes > limit {
            return Err(CrmError::OutOfMemory(format!(
                "the source holds more than crm.source_memory_mb ({} MB) of rows; sample it (TABLESAMPLE, a WHERE clause) or raise the setting",
                limit / (1024 * 1024)
            )));
        }
        interrupt();
        let _spi = ReadOnlySpi::connect()?;
        // SAFETY: the portal opened above, fetched forward in this session; its tuple
        // table is freed when the session ends, after the rows were read.
        let (vals, count, tupdesc) = unsafe {
            let portal = pg_sys::SPI_cursor_find(name.as_ptr());
            if portal.is_null() {
                return Err(CrmError::InvalidArgument("cannot read source: the cursor was closed".into()));
            }
            pg_sys::SPI_cursor_fetch(portal, true, BATCH_ROWS);
            let table = pg_sys::SPI_tuptable;
            if table.is_null() {
                return Ok(());
            }
            ((*table).vals, pg_sys::SPI_processed as usize, (*table).tupdesc)
        };
        if count == 0 {
            return Ok(());
        }
        // The rows are read straight from the tuple table: pgrx's row iterator converts
        // every column of every row behind a setjmp guard (2x slower on a 1M-row source).
        for i in 0..count {
            // SAFETY: i < SPI_processed.
            let row = SourceRow { tuple: unsafe { *vals.add(i) }, tupdesc };
            // SAFETY: a tuple of the live tuple table.
            read_bytes += u64::from(unsafe { (*row.tuple).t_len });
            if !each(&row).map_err(spi_error)? {
                return Ok(());
            }
        }
    }
}

/// One row of a source being read by `read_in_batches`, valid during the callback.
pub struct SourceRow {
    tuple: pg_sys::HeapTuple,
    tupdesc: pg_sys::TupleDesc,
}

impl SourceRow {
    /// The raw value of column `ordinal` (1-based), None when NULL or out of range; valid
    /// while the row is.
    pub fn datum(&self, ordinal: usize) -> Option<pg_sys::Datum> {
        // SAFETY: tuple and tupdesc come from the live tuple table; ordinal is checked.
        unsafe {
            if ordinal == 0 || ordinal > (*self.tupdesc).natts as usize {
                return None;
            }
            let mut is_null = false;
            let datum = pg_sys::heap_getattr(self.tuple, ordinal as i32, self.tupdesc, &mut is_null);
            (!is_null).then_some(datum)
        }
    }

    /// The value of column `ordinal` (1-based) as `T`, as pgrx's `SpiHeapTupleData::get`
    /// but without its per-value guard and copy.
    pub fn get<T: FromDatum + IntoDatum>(&self, ordinal: usize) -> std::result::Result<Option<T>, pgrx::spi::Error> {
        // SAFETY: tuple and tupdesc come from the live tuple table; ordinal is checked.
        unsafe {
            let natts = (*self.tupdesc).natts as usize;
            if ordinal == 0 || ordinal > natts {
                return Err(pgrx::spi::Error::SpiError(pgrx::spi::SpiErrorCodes::NoAttribute));
            }
            let type_oid = (*self.tupdesc).attrs.as_slice(natts)[ordinal - 1].atttypid;
            if type_oid != T::type_oid() && !T::is_compatible_with(type_oid) {
                return Err(pgrx::spi::Error::DatumError(pgrx::datum::TryFromDatumError::IncompatibleTypes {
                    rust_type: std::any::type_name::<T>(),
                    rust_oid: T::type_oid(),
                    datum_type: String::new(),
                    datum_oid: type_oid,
                }));
            }
            let mut is_null = false;
            let datum = pg_sys::heap_getattr(self.tuple, ordinal as i32, self.tupdesc, &mut is_null);
            Ok(T::from_polymorphic_datum(datum, is_null, type_oid))
        }
    }
}

/// Lets a query cancel (pg_cancel_backend, statement_timeout) a long computation.
pub fn interrupt() {
    pg_sys::check_for_interrupts!();
}

/// Whether the statement has been cancelled (pg_cancel_backend, statement_timeout) or
/// the backend told to die: what long computations on worker threads poll. Only these
/// two: InterruptPending is also set by harmless signals (a ProcSignalBarrier when
/// another session drops a database, cache catch-up), which must not stop a training;
/// they are handled at the next CHECK_FOR_INTERRUPTS.
pub fn cancel_requested() -> bool {
    // SAFETY: reading flags that Postgres's signal handlers set.
    unsafe { pg_sys::QueryCancelPending != 0 || pg_sys::ProcDiePending != 0 }
}

/// The outcome of a computation that polled `cancel_requested`: when it failed with a
/// cancel pending, Postgres's own error is raised here (57014 with Postgres's message for
/// a cancel or statement_timeout, the FATAL of a terminate), as for any other statement.
/// Should Postgres hold interrupts off, the computation's own error is returned instead.
pub fn raise_pending_cancel<T, E>(outcome: std::result::Result<T, E>) -> std::result::Result<T, E> {
    if outcome.is_err() && cancel_requested() {
        interrupt();
    }
    outcome
}

/// What every training function checks first: the caller may store models (INSERT on
/// crm.models, what crm_trainer has), so a refused training fails at once with 42501
/// instead of after the fit; and the name is valid.
pub fn check_new_model(name: &str) -> Result<()> {
    check_model_name(name)?;
    check_writable(&format!("train model \"{name}\""))?;
    let allowed = read_one::<bool>("SELECT pg_catalog.has_table_privilege('crm.models', 'INSERT')", &[]).ok().flatten().unwrap_or(false);
    if !allowed {
        return Err(CrmError::InsufficientPrivilege(format!(
            "permission denied to train model \"{name}\": training stores models in crm.models, which needs the crm_trainer role (GRANT crm_trainer TO ...)"
        )));
    }
    Ok(())
}

/// 25006 when this transaction cannot write the registry (a hot standby, a READ ONLY
/// transaction): checked before any write, because pgrx's SPI asks for a transaction id
/// first, which a standby refuses with an internal error (XX000).
pub fn check_writable(action: &str) -> Result<()> {
    // SAFETY: plain reads of the backend's recovery and transaction state.
    let (standby, read_only) = unsafe { (pg_sys::RecoveryInProgress(), pg_sys::XactReadOnly) };
    if standby {
        return Err(CrmError::ReadOnly(format!("cannot {action} on a hot standby: train and deploy on the primary; standbys score with what it deploys")));
    }
    if read_only {
        return Err(CrmError::ReadOnly(format!("cannot {action} in a read-only transaction")));
    }
    Ok(())
}

/// Model names are identifiers of 1-63 characters (the registry's CHECK says the same).
pub fn check_model_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(CrmError::bad_argument("name", name, "1-63 characters: a letter or _ then letters, digits, _ . -"))
    }
}

/// What a trainer returns, one row: the stored model's id, name, version, algorithm,
/// whether it is deployed, and its metrics.
pub type TrainRow = (i64, String, i32, String, bool, JsonB);

/// A trained model's row in `crm.models`, less what the registry fills in.
pub struct NewModel<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub algorithm: &'a str,
    pub target: Option<&'a str>,
    pub positive_class: Option<&'a str>,
    pub features: serde_json::Value,
    pub hyperparameters: serde_json::Value,
    pub metrics: serde_json::Value,
    pub training_rows: i64,
    pub holdout_rows: Option<i64>,
    pub bytes: Vec<u8>,
}

/// Stores `model` as the next version of its name; returns (id, version). Takes a
/// transaction-scoped advisory lock on the name, so concurrent trainings of one name
/// get dense versions and see each other's deployments.
pub fn store_model(model: NewModel<'_>) -> Result<(i64, i32)> {
    let name = model.name;
    Spi::run_with_args("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('crm.models:' OPERATOR(pg_catalog.||) $1))", &[name.into()])
        .map_err(|e| CrmError::InvalidArgument(e.to_string()))?;
    Spi::connect_mut(|client| {
        let t = client.update(
            "INSERT INTO crm.models (name, version, kind, algorithm, target, positive_class, features, hyperparameters, metrics, training_rows, holdout_rows, model)
             SELECT $1, coalesce(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM crm.models WHERE name OPERATOR(pg_catalog.=) $1
             RETURNING id, version",
            None,
            &[
                name.into(),
                model.kind.name().into(),
                model.algorithm.into(),
                model.target.into(),
                model.positive_class.into(),
                JsonB(model.features).into(),
                JsonB(model.hyperparameters).into(),
                JsonB(model.metrics).into(),
                model.training_rows.into(),
                model.holdout_rows.into(),
                model.bytes.into(),
            ],
        )?;
        let r = t.first();
        Ok::<_, pgrx::spi::Error>((r.get::<i64>(1)?.unwrap_or(0), r.get::<i32>(2)?.unwrap_or(0)))
    })
    .map_err(|e| CrmError::InvalidArgument(format!("cannot store model \"{name}\": {e}")))
}

/// The metrics of the version of `name` deployed now, if any.
pub fn deployed_metrics(name: &str) -> Option<serde_json::Value> {
    read_one::<JsonB>(
        "SELECT m.metrics FROM crm.deployments d JOIN crm.models m ON m.id OPERATOR(pg_catalog.=) d.model_id WHERE d.name OPERATOR(pg_catalog.=) $1",
        &[name.into()],
    )
    .ok()
    .flatten()
    .map(|j| j.0)
}
