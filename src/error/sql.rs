//! The boundary: a `CrmError` becomes a Postgres ERROR with its SQLSTATE.

use super::CrmError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

impl CrmError {
    fn error_code(&self) -> PgSqlErrorCode {
        match self {
            CrmError::InvalidArgument(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            CrmError::InvalidText(_) => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            CrmError::UndefinedTable(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            CrmError::UndefinedColumn(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            CrmError::UnknownModel(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            CrmError::DatatypeMismatch(_) => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            CrmError::InsufficientPrivilege(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            CrmError::Canceled(_) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            CrmError::OutOfRange(_) => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            CrmError::ReadOnly(_) => PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            CrmError::OutOfMemory(_) => PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            CrmError::Unsupported(_) => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            CrmError::CorruptModel(_) => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            CrmError::Device(_) => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
        }
    }

    /// Raise this error as a Postgres ERROR; never returns.
    pub fn raise(self) -> ! {
        ErrorReport::new(self.error_code(), self.message().to_string(), "pg_crm").report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

/// `result.or_raise()` in SQL-facing code: the value, or a Postgres ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, CrmError> {
    fn or_raise(self) -> T {
        match self {
            Ok(value) => value,
            Err(error) => error.raise(),
        }
    }
}
