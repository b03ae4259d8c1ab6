//! DataFusion, Arrow, Parquet and object-store errors turned into PostgreSQL
//! error responses with the SQLSTATE a client can act on.
//!
//! Upstream every error leaves as `XX000`; clients (and our users) need
//! `42P01` for a missing table, `42601` for bad syntax, `22012` for a division
//! by zero, class 08 for a source that cannot be reached. `XX000` is kept for
//! errors that mean a bug in Tributary or DataFusion.

use std::error::Error as StdError;
use std::sync::OnceLock;

use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, SchemaError};
use datafusion::parquet::errors::ParquetError;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

use crate::cancel::Stop;

/// SQLSTATE codes Tributary sends, named as in PostgreSQL's errcodes appendix.
pub mod codes {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const SYNTAX_OR_ACCESS_RULE: &str = "42000";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const QUERY_CANCELED: &str = "57014";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const CONNECTION_FAILURE: &str = "08006";
    pub const UNABLE_TO_CONNECT: &str = "08001";
    pub const UNDEFINED_FILE: &str = "58P01";
    pub const IO_ERROR: &str = "58030";
    pub const DATA_CORRUPTED: &str = "XX001";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const READ_ONLY_TRANSACTION: &str = "25006";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
}

/// A classified error: what the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedError {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl ClassifiedError {
    /// An error that reaches the client with `code`, wherever in the engine
    /// it is raised (wrapped in `DataFusionError::External`).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn into_error_info(self) -> ErrorInfo {
        let mut info = ErrorInfo::new("ERROR".to_owned(), self.code, self.message);
        info.hint = self.hint;
        info
    }
}

impl std::fmt::Display for ClassifiedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ClassifiedError {}

/// Rewrites `error` in place so that what reaches the client carries the right
/// SQLSTATE. Errors that already carry one (pgwire's own, or ours) are kept.
pub fn assign_sqlstate(error: &mut PgWireError) {
    if let PgWireError::ApiError(inner) = error {
        let classified = classify(inner.as_ref());
        *error = PgWireError::UserError(Box::new(classified.into_error_info()));
    }
}

/// Classifies any error that may come out of planning or execution.
pub fn classify(error: &(dyn StdError + 'static)) -> ClassifiedError {
    let mut contexts: Vec<String> = Vec::new();
    let mut classified = classify_inner(error, &mut contexts);
    if !contexts.is_empty() {
        contexts.push(classified.message);
        classified.message = contexts.join(": ");
    }
    classified
}

/// Recognises errors of the crates the front end does not know (sources,
/// say) and returns their SQLSTATE and message.
pub type ExternalClassifier = fn(&(dyn StdError + 'static)) -> Option<(String, String)>;

static EXTERNAL_CLASSIFIER: OnceLock<ExternalClassifier> = OnceLock::new();

/// Installs the classifier for errors from below the engine; the gateway
/// calls it once at start. Later calls are ignored.
pub fn set_external_classifier(classifier: ExternalClassifier) {
    let _ = EXTERNAL_CLASSIFIER.set(classifier);
}

fn classify_inner(error: &(dyn StdError + 'static), contexts: &mut Vec<String>) -> ClassifiedError {
    if let Some(classifier) = EXTERNAL_CLASSIFIER.get()
        && let Some((code, message)) = classifier(error)
    {
        return ClassifiedError::new(&code, message);
    }
    if let Some(ours) = error.downcast_ref::<ClassifiedError>() {
        return ours.clone();
    }
    if let Some(df) = error.downcast_ref::<DataFusionError>() {
        return classify_datafusion(df, contexts);
    }
    if let Some(arrow) = error.downcast_ref::<ArrowError>() {
        return classify_arrow(arrow, contexts);
    }
    if let Some(parquet) = error.downcast_ref::<ParquetError>() {
        return ClassifiedError::new(codes::DATA_CORRUPTED, parquet_message(parquet));
    }
    if let Some(store) = error.downcast_ref::<object_store_error::Error>() {
        return classify_object_store(store);
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        return ClassifiedError::new(codes::IO_ERROR, io.to_string());
    }
    if let Some(parse) = error.downcast_ref::<datafusion::sql::sqlparser::parser::ParserError>() {
        return classify_parser(parse);
    }
    ClassifiedError::new(codes::INTERNAL_ERROR, error.to_string())
}

// object_store is reached through DataFusion's re-export so that this crate
// never disagrees with the engine about its version.
use datafusion::object_store as object_store_error;

fn classify_datafusion(error: &DataFusionError, contexts: &mut Vec<String>) -> ClassifiedError {
    use DataFusionError as E;
    match error {
        E::Context(description, inner) => {
            contexts.push(description.clone());
            classify_datafusion(inner, contexts)
        }
        E::Diagnostic(_, inner) => classify_datafusion(inner, contexts),
        E::Shared(inner) => classify_datafusion(inner, contexts),
        E::Collection(errors) => match errors.first() {
            Some(first) => classify_datafusion(first, contexts),
            None => ClassifiedError::new(codes::INTERNAL_ERROR, "empty error collection"),
        },
        E::External(inner) => classify_inner(inner.as_ref(), contexts),
        E::ArrowError(arrow, _) => classify_arrow(arrow, contexts),
        E::ParquetError(parquet) => {
            ClassifiedError::new(codes::DATA_CORRUPTED, parquet_message(parquet))
        }
        E::ObjectStore(store) => classify_object_store(store),
        E::IoError(io) => ClassifiedError::new(codes::IO_ERROR, io.to_string()),
        E::SQL(parse, _) => classify_parser(parse),
        E::NotImplemented(msg) => ClassifiedError::new(codes::FEATURE_NOT_SUPPORTED, msg.clone()),
        E::Plan(msg) => classify_plan_message(msg),
        E::SchemaError(schema, _) => classify_schema(schema),
        E::Configuration(msg) => ClassifiedError::new(codes::INVALID_PARAMETER_VALUE, msg.clone()),
        E::Execution(msg) => classify_execution_message(msg),
        E::ResourcesExhausted(msg) => ClassifiedError::new(
            codes::OUT_OF_MEMORY,
            format!("query needs more memory than the gateway allows: {msg}"),
        ),
        E::ExecutionJoin(join) if join.is_cancelled() => {
            ClassifiedError::new(codes::QUERY_CANCELED, "canceling statement")
        }
        E::Internal(_) | E::ExecutionJoin(_) | E::Substrait(_) | E::Ffi(_) => {
            ClassifiedError::new(codes::INTERNAL_ERROR, error.strip_backtrace())
        }
    }
}

fn classify_arrow(error: &ArrowError, contexts: &mut Vec<String>) -> ClassifiedError {
    match error {
        ArrowError::DivideByZero => {
            ClassifiedError::new(codes::DIVISION_BY_ZERO, "division by zero")
        }
        ArrowError::ArithmeticOverflow(msg) => {
            ClassifiedError::new(codes::NUMERIC_VALUE_OUT_OF_RANGE, msg.clone())
        }
        ArrowError::CastError(msg) | ArrowError::ParseError(msg) => {
            ClassifiedError::new(codes::INVALID_TEXT_REPRESENTATION, msg.clone())
        }
        ArrowError::CsvError(msg) | ArrowError::JsonError(msg) => {
            ClassifiedError::new(codes::INVALID_TEXT_REPRESENTATION, msg.clone())
        }
        ArrowError::ExternalError(inner) => classify_inner(inner.as_ref(), contexts),
        ArrowError::MemoryError(msg) => ClassifiedError::new(codes::OUT_OF_MEMORY, msg.clone()),
        ArrowError::IoError(msg, _) => ClassifiedError::new(codes::IO_ERROR, msg.clone()),
        ArrowError::InvalidArgumentError(msg) => {
            ClassifiedError::new(codes::DATA_EXCEPTION, msg.clone())
        }
        other => ClassifiedError::new(codes::DATA_EXCEPTION, other.to_string()),
    }
}

fn classify_object_store(error: &object_store_error::Error) -> ClassifiedError {
    use object_store_error::Error as S;
    match error {
        S::NotFound { path, .. } => {
            ClassifiedError::new(codes::UNDEFINED_FILE, format!("object not found: {path}"))
        }
        S::PermissionDenied { path, .. } | S::Unauthenticated { path, .. } => ClassifiedError::new(
            codes::UNABLE_TO_CONNECT,
            format!("the object store refused access to {path}: check the source's credentials"),
        ),
        other => ClassifiedError::new(codes::CONNECTION_FAILURE, other.to_string()),
    }
}

fn classify_schema(error: &SchemaError) -> ClassifiedError {
    match error {
        SchemaError::FieldNotFound { field, .. } => ClassifiedError::new(
            codes::UNDEFINED_COLUMN,
            format!("column \"{}\" does not exist", field.flat_name()),
        ),
        SchemaError::AmbiguousReference { field } => ClassifiedError::new(
            codes::AMBIGUOUS_COLUMN,
            format!("column reference \"{}\" is ambiguous", field.flat_name()),
        ),
        other => ClassifiedError::new(codes::SYNTAX_OR_ACCESS_RULE, other.to_string()),
    }
}

/// DataFusion reports most planning failures as `Plan(String)`; the text is
/// the only thing that tells them apart.
fn classify_plan_message(msg: &str) -> ClassifiedError {
    if let Some(reference) = table_not_found(msg) {
        let name = reference.rsplit('.').next().unwrap_or(reference);
        let schema = reference
            .rsplit_once('.')
            .map(|(schema, _)| schema)
            .unwrap_or("");
        let mut error = ClassifiedError::new(
            codes::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist (searched schema \"{schema}\")"),
        );
        error.hint = Some(
            "Tables are named source.table or source.schema.table; \
             `SELECT table_catalog, table_schema, table_name FROM information_schema.tables` lists them."
                .to_owned(),
        );
        return error;
    }
    let code = if msg.contains("Invalid function")
        || msg.contains("function") && msg.contains("not found")
    {
        codes::UNDEFINED_FUNCTION
    } else if msg.contains("Cannot infer common")
        || msg.contains("No function matches")
        || msg.contains("coerc")
    {
        codes::DATATYPE_MISMATCH
    } else {
        codes::SYNTAX_OR_ACCESS_RULE
    };
    ClassifiedError::new(code, msg.to_owned())
}

/// `table 'tributary.public.foo' not found` → `tributary.public.foo`.
fn table_not_found(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("table '")?;
    let (reference, tail) = rest.split_once('\'')?;
    tail.trim().eq("not found").then_some(reference)
}

fn classify_execution_message(msg: &str) -> ClassifiedError {
    if msg.contains("Divide by zero") || msg.contains("division by zero") {
        return ClassifiedError::new(codes::DIVISION_BY_ZERO, "division by zero");
    }
    ClassifiedError::new(codes::DATA_EXCEPTION, msg.to_owned())
}

fn classify_parser(error: &datafusion::sql::sqlparser::parser::ParserError) -> ClassifiedError {
    use datafusion::sql::sqlparser::parser::ParserError as P;
    match error {
        P::ParserError(msg) | P::TokenizerError(msg) => {
            ClassifiedError::new(codes::SYNTAX_ERROR, format!("syntax error: {msg}"))
        }
        // PostgreSQL's answer to a statement its stack cannot hold.
        P::RecursionLimitExceeded => ClassifiedError {
            code: codes::STATEMENT_TOO_COMPLEX.to_owned(),
            message: "stack depth limit exceeded: the statement nests parentheses too deeply"
                .to_owned(),
            hint: Some(
                "raise datafusion.sql_parser.recursion_limit with SET, or nest less deeply"
                    .to_owned(),
            ),
        },
    }
}

fn parquet_message(error: &ParquetError) -> String {
    // ParquetError's own text starts with "Parquet error: ".
    error.to_string()
}

/// The error a cancelled statement ends with, worded as PostgreSQL does.
pub(crate) fn query_canceled(stop: Stop) -> PgWireError {
    let message = match stop {
        Stop::UserRequest => "canceling statement due to user request",
        Stop::Timeout => "canceling statement due to statement timeout",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        codes::QUERY_CANCELED.to_owned(),
        message.to_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: DataFusionError) -> String {
        classify(&error).code
    }

    #[test]
    fn unknown_table_is_42p01_and_names_table_and_schema() {
        let error = DataFusionError::Plan("table 'tributary.public.nope' not found".into());
        let classified = classify(&error);
        assert_eq!(classified.code, codes::UNDEFINED_TABLE);
        assert!(
            classified.message.contains("\"nope\""),
            "{}",
            classified.message
        );
        assert!(
            classified.message.contains("tributary.public"),
            "{}",
            classified.message
        );
    }

    #[test]
    fn divide_by_zero_is_22012_even_inside_context() {
        let error = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None)
            .context("while running the query");
        assert_eq!(code_of(error), codes::DIVISION_BY_ZERO);
    }

    #[test]
    fn external_wrapped_arrow_cast_is_22p02() {
        let error = DataFusionError::External(Box::new(ArrowError::CastError("bad".into())));
        assert_eq!(code_of(error), codes::INVALID_TEXT_REPRESENTATION);
    }

    #[test]
    fn context_is_kept_in_the_message() {
        let error = DataFusionError::Execution("boom".into()).context("source \"lake\"");
        assert_eq!(classify(&error).message, "source \"lake\": boom");
    }

    #[test]
    fn internal_errors_stay_xx000() {
        assert_eq!(
            code_of(DataFusionError::Internal("oops".into())),
            codes::INTERNAL_ERROR
        );
    }
}
