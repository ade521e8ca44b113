//! The one error type of pg_crm.
//!
//! Core code (cleaning, features, algorithms) returns `Result<T, CrmError>` and never
//! touches Postgres. The SQL surface turns an error into a Postgres ERROR with the
//! SQLSTATE of its kind in exactly one place (`sql.rs`), so every capability reports
//! errors the same way.

use std::fmt;

pub mod sql;

/// What went wrong, by the SQLSTATE class a Postgres client will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmError {
    /// 22023 invalid_parameter_value: an argument or option outside what is accepted.
    InvalidArgument(String),
    /// 22P02 invalid_text_representation: text that cannot be read as the value asked for.
    InvalidText(String),
    /// 42P01 undefined_table: a source relation that does not exist.
    UndefinedTable(String),
    /// 42703 undefined_column: a column named by the caller or a model that is not there.
    UndefinedColumn(String),
    /// 42704 undefined_object: an unknown model name or version.
    UnknownModel(String),
    /// 42804 datatype_mismatch: a column whose type a model cannot read (it changed since
    /// training).
    DatatypeMismatch(String),
    /// 42501 insufficient_privilege: the caller may not do this.
    InsufficientPrivilege(String),
    /// 25006 read_only_sql_transaction: a write (training, deploying) where none is
    /// allowed: a hot standby, a READ ONLY transaction.
    ReadOnly(String),
    /// 53200 out_of_memory: a call would hold more data than its memory setting allows.
    OutOfMemory(String),
    /// 22003 numeric_value_out_of_range: a result that does not fit a double precision.
    OutOfRange(String),
    /// 57014 query_canceled: a cancel or statement_timeout stopped a long computation.
    Canceled(String),
    /// 0A000 feature_not_supported: a valid request that this build or machine cannot serve.
    Unsupported(String),
    /// XX001 data_corrupted: stored model bytes that fail their format or checksum test.
    CorruptModel(String),
    /// 58000 system_error: the GPU (driver, NVRTC, a kernel launch, or its self-test
    /// against the CPU path) failed — outside Postgres and outside the caller's input.
    Device(String),
}

pub type Result<T> = std::result::Result<T, CrmError>;

impl CrmError {
    /// The five-character SQLSTATE a client sees for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            CrmError::InvalidArgument(_) => "22023",
            CrmError::InvalidText(_) => "22P02",
            CrmError::UndefinedTable(_) => "42P01",
            CrmError::UndefinedColumn(_) => "42703",
            CrmError::UnknownModel(_) => "42704",
            CrmError::DatatypeMismatch(_) => "42804",
            CrmError::InsufficientPrivilege(_) => "42501",
            CrmError::Canceled(_) => "57014",
            CrmError::OutOfRange(_) => "22003",
            CrmError::ReadOnly(_) => "25006",
            CrmError::OutOfMemory(_) => "53200",
            CrmError::Unsupported(_) => "0A000",
            CrmError::CorruptModel(_) => "XX001",
            CrmError::Device(_) => "58000",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CrmError::InvalidArgument(m)
            | CrmError::InvalidText(m)
            | CrmError::UndefinedTable(m)
            | CrmError::UndefinedColumn(m)
            | CrmError::UnknownModel(m)
            | CrmError::DatatypeMismatch(m)
            | CrmError::InsufficientPrivilege(m)
            | CrmError::Canceled(m)
            | CrmError::OutOfRange(m)
            | CrmError::ReadOnly(m)
            | CrmError::OutOfMemory(m)
            | CrmError::Unsupported(m)
            | CrmError::CorruptModel(m)
            | CrmError::Device(m) => m,
        }
    }

    /// The same error (same SQLSTATE) with its message rewritten: core code that does not
    /// know the caller's names says "the target", the SQL layer names the column.
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> CrmError {
        let m = f(self.message());
        match self {
            CrmError::InvalidArgument(_) => CrmError::InvalidArgument(m),
            CrmError::InvalidText(_) => CrmError::InvalidText(m),
            CrmError::UndefinedTable(_) => CrmError::UndefinedTable(m),
            CrmError::UndefinedColumn(_) => CrmError::UndefinedColumn(m),
            CrmError::UnknownModel(_) => CrmError::UnknownModel(m),
            CrmError::DatatypeMismatch(_) => CrmError::DatatypeMismatch(m),
            CrmError::InsufficientPrivilege(_) => CrmError::InsufficientPrivilege(m),
            CrmError::Canceled(_) => CrmError::Canceled(m),
            CrmError::OutOfRange(_) => CrmError::OutOfRange(m),
            CrmError::ReadOnly(_) => CrmError::ReadOnly(m),
            CrmError::OutOfMemory(_) => CrmError::OutOfMemory(m),
            CrmError::Unsupported(_) => CrmError::Unsupported(m),
            CrmError::CorruptModel(_) => CrmError::CorruptModel(m),
            CrmError::Device(_) => CrmError::Device(m),
        }
    }

    /// `argument` got `value`, but only `accepted` is allowed.
    pub fn bad_argument(argument: &str, value: impl fmt::Display, accepted: &str) -> Self {
        CrmError::InvalidArgument(format!("invalid value for argument \"{argument}\": \"{value}\"; accepted: {accepted}"))
    }
}

/// A required argument of a function that cannot be STRICT (it has optional ones):
/// NULL is a 22023 error naming the argument.
pub fn required<T>(value: Option<T>, argument: &str) -> Result<T> {
    value.ok_or_else(|| CrmError::InvalidArgument(format!("argument \"{argument}\" must not be NULL")))
}

impl fmt::Display for CrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CrmError {}

/// A computation stopped by its `should_stop` (a cancel or statement_timeout).
impl From<crate::pool::Cancelled> for CrmError {
    fn from(cancelled: crate::pool::Cancelled) -> Self {
        CrmError::Canceled(cancelled.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_the_documented_ones() {
        assert_eq!(CrmError::bad_argument("k", 0, "1..10").sqlstate(), "22023");
        assert_eq!(CrmError::InvalidText("x".into()).sqlstate(), "22P02");
        assert_eq!(CrmError::UndefinedTable("x".into()).sqlstate(), "42P01");
        assert_eq!(CrmError::UndefinedColumn("x".into()).sqlstate(), "42703");
        assert_eq!(CrmError::UnknownModel("x".into()).sqlstate(), "42704");
        assert_eq!(CrmError::DatatypeMismatch("x".into()).sqlstate(), "42804");
        assert_eq!(CrmError::InsufficientPrivilege("x".into()).sqlstate(), "42501");
        assert_eq!(CrmError::Canceled("x".into()).sqlstate(), "57014");
        assert_eq!(CrmError::Unsupported("x".into()).sqlstate(), "0A000");
        assert_eq!(CrmError::CorruptModel("x".into()).sqlstate(), "XX001");
        assert_eq!(CrmError::Device("x".into()).sqlstate(), "58000");
    }

    #[test]
    fn bad_argument_names_argument_and_accepted_values() {
        let e = CrmError::bad_argument("method", "foo", "'zscore', 'minmax', 'robust'");
        assert!(e.message().contains("\"method\""));
        assert!(e.message().contains("foo"));
        assert!(e.message().contains("'robust'"));
    }
}
