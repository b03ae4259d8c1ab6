//! A session's run-time parameters: `SET`, `SHOW`, `RESET` and
//! `current_setting()`, as PostgreSQL clients use them.
//!
//! Upstream's hook keeps a handful of parameters and answers `SHOW` of any
//! other with an empty string; `SET search_path` kept only its first word
//! and changed nothing. Here every parameter a client reads or sets on
//! connect has a value, `RESET` restores the value the session started
//! with, and the ones that mean something take effect: `search_path`
//! decides where unqualified names resolve, `TimeZone` what `timestamptz`
//! means, `statement_timeout` stops statements, `DateStyle`,
//! `IntervalStyle`, `bytea_output` and `extra_float_digits` shape text
//! output.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Ident, Reset, Set, Statement, Value};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::sqlstate::codes;

/// A parameter Tributary knows: its name as `SHOW ALL` spells it, its value
/// when neither the client nor the startup packet set one, and whether a
/// client may change it.
struct Known {
    name: &'static str,
    default: &'static str,
    read_only: bool,
    /// Sent to the client in a ParameterStatus message when it changes,
    /// as PostgreSQL does for these.
    reported: bool,
    description: &'static str,
}

const fn known(
    name: &'static str,
    default: &'static str,
    read_only: bool,
    reported: bool,
    description: &'static str,
) -> Known {
    Known {
        name,
        default,
        read_only,
        reported,
        description,
    }
}

/// `server_version` is filled in from the emulated version.
const KNOWN: &[Known] = &[
    known(
        "application_name",
        "",
        false,
        true,
        "Sets the application name to be reported in statistics and logs.",
    ),
    known(
        "bytea_output",
        "hex",
        false,
        false,
        "Sets the output format for bytea.",
    ),
    known(
        "client_encoding",
        "UTF8",
        false,
        true,
        "Sets the client's character set encoding (Tributary speaks UTF8 only).",
    ),
    known(
        "client_min_messages",
        "notice",
        false,
        false,
        "Sets the message levels that are sent to the client.",
    ),
    known(
        "DateStyle",
        "ISO, MDY",
        false,
        true,
        "Sets the display format for date and time values.",
    ),
    known(
        "default_transaction_isolation",
        "read committed",
        false,
        false,
        "Sets the transaction isolation level of each new transaction.",
    ),
    known(
        "default_transaction_read_only",
        "on",
        false,
        true,
        "Sets the default read-only status of new transactions (Tributary is read-only).",
    ),
    known(
        "extra_float_digits",
        "1",
        false,
        false,
        "Sets the number of digits displayed for floating-point values.",
    ),
    known(
        "idle_in_transaction_session_timeout",
        "0",
        false,
        false,
        "Accepted; Tributary holds no locks, so idle transactions cost nothing.",
    ),
    known(
        "in_hot_standby",
        "off",
        true,
        true,
        "Shows whether hot standby is currently active.",
    ),
    known(
        "integer_datetimes",
        "on",
        true,
        true,
        "Shows whether datetimes are integer based.",
    ),
    known(
        "IntervalStyle",
        "postgres",
        false,
        true,
        "Sets the display format for interval values.",
    ),
    known(
        "is_superuser",
        "off",
        true,
        true,
        "Shows whether the current user is a superuser.",
    ),
    known(
        "lc_collate",
        "C",
        true,
        false,
        "Shows the collation order locale.",
    ),
    known(
        "lc_ctype",
        "C",
        true,
        false,
        "Shows the character classification and case conversion locale.",
    ),
    known(
        "lc_messages",
        "C",
        false,
        false,
        "Sets the language in which messages are displayed.",
    ),
    known(
        "lc_monetary",
        "C",
        false,
        false,
        "Sets the locale for formatting monetary amounts.",
    ),
    known(
        "lc_numeric",
        "C",
        false,
        false,
        "Sets the locale for formatting numbers.",
    ),
    known(
        "lc_time",
        "C",
        false,
        false,
        "Sets the locale for formatting date and time values.",
    ),
    known(
        "lock_timeout",
        "0",
        false,
        false,
        "Accepted; Tributary takes no locks.",
    ),
    known(
        "max_identifier_length",
        "63",
        true,
        false,
        "Shows the maximum identifier length.",
    ),
    known(
        "search_path",
        "\"$user\", public",
        false,
        false,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    known(
        "server_encoding",
        "UTF8",
        true,
        true,
        "Shows the server (database) character set encoding.",
    ),
    known(
        "server_version",
        "",
        true,
        true,
        "Shows the PostgreSQL version the server emulates.",
    ),
    known(
        "server_version_num",
        "",
        true,
        false,
        "Shows the emulated PostgreSQL version as an integer.",
    ),
    known(
        "standard_conforming_strings",
        "on",
        true,
        true,
        "Causes '...' strings to treat backslashes literally.",
    ),
    known(
        "statement_timeout",
        "0",
        false,
        false,
        "Sets the maximum allowed duration of any statement.",
    ),
    known(
        "TimeZone",
        "UTC",
        false,
        true,
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    known(
        "transaction_isolation",
        "read committed",
        true,
        false,
        "Shows the current transaction's isolation level.",
    ),
    known(
        "transaction_read_only",
        "on",
        true,
        false,
        "Shows whether the current transaction is read-only.",
    ),
];

fn lookup(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}

/// Where datafusion-postgres and pgwire read what they use: the session's
/// client metadata, under these lower-case keys.
const FORMAT_KEYS: &[&str] = &[
    "datestyle",
    "intervalstyle",
    "bytea_output",
    "extra_float_digits",
];
/// Where the statement timeout is read from (see `cancel`).
pub(crate) const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// One session's parameters, shared by its hook and its functions.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    inner: Mutex<Values>,
}

#[derive(Debug, Default, Clone)]
struct Values {
    /// Lower-case name → value, for every parameter set in this session.
    current: BTreeMap<String, String>,
    /// The value each parameter had when the session started.
    initial: BTreeMap<String, String>,
}

fn invalid_value(name: &str, value: &str, why: &str) -> PgWireError {
    user_error(
        codes::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{value}\": {why}"),
    )
}

pub(crate) fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message,
    )))
}

/// The engine option `key` (`prefix.name`) when `prefix` is a namespace an
/// application registered in the engine's options (not `datafusion`).
fn extension_option(
    session: &SessionContext,
    key: &str,
) -> Option<datafusion::common::config::ConfigEntry> {
    let (prefix, _) = key.split_once('.')?;
    if prefix == "datafusion" {
        return None;
    }
    let state = session.state();
    let options = state.config_options();
    let (_, extension) = options
        .extensions
        .iter()
        .find(|(registered, _)| *registered == prefix)?;
    let entries = extension.entries();
    let known = entries.iter().find(|entry| entry.key == key).cloned();
    // A name the namespace does not know still belongs to it (unknown: an
    // empty description).
    Some(known.unwrap_or(datafusion::common::config::ConfigEntry {
        key: key.to_owned(),
        value: None,
        description: "",
    }))
}

/// Sets `key` in the session's engine options; a refusal is 22023 with the
/// engine's reason (without DataFusion's "Invalid or Unsupported
/// Configuration:" preamble).
fn set_engine_option(
    session: &SessionContext,
    name: &str,
    key: &str,
    value: &str,
) -> PgWireResult<()> {
    let state = session.state_ref();
    let mut state = state.write();
    state
        .config_mut()
        .options_mut()
        .set(key, value)
        .map_err(|error| {
            let reason = match &error {
                DataFusionError::Configuration(message) => message.clone(),
                other => other.to_string(),
            };
            invalid_value(name, value, &reason)
        })
}

impl Settings {
    fn values(&self) -> MutexGuard<'_, Values> {
        // A panic while holding the lock leaves plain strings behind: still valid.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the session: the defaults, then what the startup packet said,
    /// then the default schema the database routing chose.
    pub(crate) fn begin(
        &self,
        server_version: &str,
        startup: &std::collections::HashMap<String, String>,
        session: &SessionContext,
    ) {
        let mut current = BTreeMap::new();
        for known in KNOWN {
            current.insert(known.name.to_ascii_lowercase(), known.default.to_owned());
        }
        current.insert("server_version".into(), server_version.to_owned());
        current.insert("server_version_num".into(), version_num(server_version));
        let schema = default_schema(session);
        current.insert(
            "search_path".into(),
            format!("\"$user\", {}", quote_schema(&schema)),
        );
        for (key, value) in startup {
            let key = key.to_ascii_lowercase();
            if let Some(known) = lookup(&key)
                && !known.read_only
                && let Ok(value) = normalize(&key, value)
            {
                current.insert(key, value);
            }
        }
        let mut values = self.values();
        values.initial = current.clone();
        values.current = current;
        drop(values);
        self.apply_all(session);
    }

    /// `SHOW name`: an engine option the application registered (read at
    /// the moment: some change with every statement), else the session's.
    pub(crate) fn show(&self, name: &str, session: &SessionContext) -> Option<String> {
        match extension_option(session, &name.to_ascii_lowercase()) {
            Some(entry) if entry.description.is_empty() => None,
            Some(entry) => Some(entry.value.unwrap_or_default()),
            None => self.get(name),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.values()
            .current
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Sets `name` for the rest of the session and makes it take effect.
    pub(crate) fn set(
        &self,
        name: &str,
        value: &str,
        session: &SessionContext,
    ) -> PgWireResult<String> {
        let key = name.to_ascii_lowercase();
        match lookup(&key) {
            Some(known) if known.read_only => {
                return Err(user_error(
                    "55P02",
                    format!("parameter \"{}\" cannot be changed", known.name),
                ));
            }
            Some(_) => {}
            // PostgreSQL accepts any two-part name as a custom parameter
            // (extensions and applications use them); a plain unknown name
            // is an error.
            None if !key.contains('.') => {
                return Err(user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                ));
            }
            None => {}
        }
        let value = normalize(&key, value)?;
        if let Some(entry) = extension_option(session, &key) {
            if entry.description.is_empty() {
                return Err(user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                ));
            }
            if entry.description.starts_with("Read-only.") {
                return Err(user_error(
                    "55P02",
                    format!("parameter \"{name}\" cannot be changed"),
                ));
            }
            set_engine_option(session, name, &key, &value)?;
            return Ok(value);
        }
        // DataFusion's own options (`datafusion.execution.batch_size`, …)
        // go to the session's engine configuration.
        if key.starts_with("datafusion.") {
            set_engine_option(session, name, &key, &value)?;
        }
        self.values().current.insert(key.clone(), value.clone());
        self.apply(&key, session)?;
        Ok(value)
    }

    /// `RESET name`: back to the value the session started with.
    pub(crate) fn reset(&self, name: &str, session: &SessionContext) -> PgWireResult<()> {
        let key = name.to_ascii_lowercase();
        if extension_option(session, &key).is_some() {
            return self.set(name, "default", session).map(|_| ());
        }
        if lookup(&key).is_none() && !key.contains('.') {
            return Err(user_error(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        }
        {
            let mut values = self.values();
            match values.initial.get(&key).cloned() {
                Some(initial) => values.current.insert(key.clone(), initial),
                None => values.current.remove(&key),
            };
        }
        self.apply(&key, session)
    }

    pub(crate) fn reset_all(&self, session: &SessionContext) {
        {
            let mut values = self.values();
            values.current = values.initial.clone();
        }
        self.apply_all(session);
    }

    fn apply_all(&self, session: &SessionContext) {
        // Applying search_path also registers the session's functions.
        for key in ["timezone", "search_path"] {
            if let Err(error) = self.apply(key, session) {
                tracing::debug!("session parameter {key} not applied: {error}");
            }
        }
    }

    /// Makes the engine follow the parameter `key`.
    fn apply(&self, key: &str, session: &SessionContext) -> PgWireResult<()> {
        let Some(value) = self.get(key) else {
            return Ok(());
        };
        match key {
            "timezone" => {
                let state = session.state_ref();
                let mut state = state.write();
                state.config_mut().options_mut().execution.time_zone = Some(value);
            }
            "search_path" => {
                let schema = effective_schema(&value, session);
                let state = session.state_ref();
                let mut state = state.write();
                state.config_mut().options_mut().catalog.default_schema = schema;
            }
            _ => {}
        }
        if key == "search_path" {
            self.register_functions(session);
        }
        Ok(())
    }

    /// Copies what pgwire and datafusion-postgres read from the client's
    /// metadata: text output formats and the statement timeout.
    pub(crate) fn sync_client(&self, client: &mut (impl ClientInfo + ?Sized)) {
        let values = self.values();
        let metadata = client.metadata_mut();
        for key in FORMAT_KEYS {
            if let Some(value) = values.current.get(*key) {
                metadata.insert((*key).to_owned(), value.clone());
            }
        }
        match values
            .current
            .get("statement_timeout")
            .map(|v| parse_duration_ms(v))
        {
            Some(Ok(ms)) if ms > 0 => {
                metadata.insert(STATEMENT_TIMEOUT_KEY.to_owned(), ms.to_string());
            }
            _ => {
                metadata.remove(STATEMENT_TIMEOUT_KEY);
            }
        }
        if let Some(zone) = values.current.get("timezone") {
            metadata.insert("timezone".to_owned(), zone.clone());
        }
    }

    /// `SHOW ALL`: name, setting, description.
    pub(crate) fn all(&self) -> Vec<(String, String, String)> {
        let values = self.values();
        values
            .current
            .iter()
            .map(|(key, value)| {
                let (name, description) = lookup(key)
                    .map(|k| (k.name.to_owned(), k.description.to_owned()))
                    .unwrap_or_else(|| (key.clone(), "A custom parameter.".to_owned()));
                (name, value.clone(), description)
            })
            .collect()
    }

    /// The name `SHOW` heads its column with, and whether PostgreSQL would
    /// send a ParameterStatus for it.
    pub(crate) fn display_name(name: &str) -> (String, bool) {
        lookup(name)
            .map(|k| (k.name.to_owned(), k.reported))
            .unwrap_or_else(|| (name.to_ascii_lowercase(), false))
    }

    /// `current_setting`, `current_schema` and `current_schemas` answer
    /// from this session's values.
    fn register_functions(&self, session: &SessionContext) {
        let snapshot = self.values().current.clone();
        let schema = default_schema(session);
        session.register_udf(ScalarUDF::new_from_impl(CurrentSetting::new(
            snapshot.clone(),
        )));
        session.register_udf(constant_text("current_schema", schema.clone()));
        let mut schemas = vec![schema];
        if let Some(path) = snapshot.get("search_path") {
            for entry in parse_path(path) {
                if !schemas.contains(&entry) && entry != "$user" {
                    schemas.push(entry);
                }
            }
        }
        session.register_udf(ScalarUDF::new_from_impl(CurrentSchemas { schemas }));
    }
}

fn default_schema(session: &SessionContext) -> String {
    session
        .state()
        .config()
        .options()
        .catalog
        .default_schema
        .clone()
}

/// The schema unqualified names resolve in: the first entry of the path
/// that exists in the session's database. PostgreSQL would search every
/// entry in turn; DataFusion resolves in one schema, so later entries only
/// matter when earlier ones do not exist (see docs/clients.md).
fn effective_schema(path: &str, session: &SessionContext) -> String {
    let catalog_name = session
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let existing = session
        .catalog(&catalog_name)
        .map(|catalog| catalog.schema_names())
        .unwrap_or_default();
    let entries: Vec<String> = parse_path(path)
        .into_iter()
        .filter(|entry| entry != "$user" && entry != "pg_catalog")
        .collect();
    entries
        .iter()
        .find(|entry| existing.contains(entry))
        .or(entries.first())
        .cloned()
        .unwrap_or_else(|| "public".to_owned())
}

fn parse_path(path: &str) -> Vec<String> {
    path.split(',')
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(
            |entry| match entry.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => entry.to_ascii_lowercase(),
            },
        )
        .collect()
}

fn quote_schema(schema: &str) -> String {
    if schema
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        schema.to_owned()
    } else {
        format!("\"{}\"", schema.replace('"', "\"\""))
    }
}

fn version_num(version: &str) -> String {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major * 10000 + minor).to_string()
}

/// Checks a value and spells it the way `SHOW` reports it.
fn normalize(key: &str, value: &str) -> PgWireResult<String> {
    let name = lookup(key).map_or(key, |k| k.name);
    match key {
        "client_encoding" => {
            let upper = value.to_ascii_uppercase().replace(['-', '_'], "");
            if upper == "UTF8" || upper == "UNICODE" {
                Ok("UTF8".to_owned())
            } else {
                Err(user_error(
                    codes::FEATURE_NOT_SUPPORTED,
                    format!(
                        "client_encoding \"{value}\" is not supported: Tributary speaks UTF8 only"
                    ),
                ))
            }
        }
        "timezone" => {
            let zone = if value.eq_ignore_ascii_case("utc") || value.eq_ignore_ascii_case("gmt") {
                "UTC".to_owned()
            } else {
                value.to_owned()
            };
            zone.parse::<datafusion::arrow::array::timezone::Tz>()
                .map(|_| zone.clone())
                .map_err(|_| invalid_value(name, value, "not a time zone name or offset"))
        }
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            parse_duration_ms(value)
                .map(|ms| {
                    if ms == 0 {
                        "0".to_owned()
                    } else {
                        format!("{ms}ms")
                    }
                })
                .map_err(|why| invalid_value(name, value, &why))
        }
        "extra_float_digits" => match value.trim().parse::<i8>() {
            Ok(digits) if (-15..=3).contains(&digits) => Ok(digits.to_string()),
            _ => Err(invalid_value(
                name,
                value,
                "must be an integer from -15 to 3",
            )),
        },
        "datestyle" => Ok(date_style(value)),
        "intervalstyle" => match value.to_ascii_lowercase().as_str() {
            style @ ("postgres" | "postgres_verbose" | "sql_standard" | "iso_8601") => {
                Ok(style.to_owned())
            }
            _ => Err(invalid_value(
                name,
                value,
                "one of postgres, postgres_verbose, sql_standard, iso_8601",
            )),
        },
        "bytea_output" => match value.to_ascii_lowercase().as_str() {
            style @ ("hex" | "escape") => Ok(style.to_owned()),
            _ => Err(invalid_value(name, value, "one of hex, escape")),
        },
        _ => Ok(value.to_owned()),
    }
}

/// `DateStyle` is an output style and an order; either may be given alone.
fn date_style(value: &str) -> String {
    let mut style = "ISO";
    let mut order = "MDY";
    for word in value.split(|c: char| c == ',' || c.is_whitespace()) {
        match word.to_ascii_uppercase().as_str() {
            "ISO" => style = "ISO",
            "SQL" => style = "SQL",
            "POSTGRES" => style = "Postgres",
            "GERMAN" => style = "German",
            "DMY" | "EURO" | "EUROPEAN" => order = "DMY",
            "MDY" | "US" | "NONEURO" | "NONEUROPEAN" => order = "MDY",
            "YMD" => order = "YMD",
            _ => {}
        }
    }
    format!("{style}, {order}")
}

/// PostgreSQL's time units for timeouts; a bare number is milliseconds.
fn parse_duration_ms(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a number with an optional unit (ms, s, min, h, d)".to_owned())?;
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => return Err(format!("unknown unit \"{other}\"; use ms, s, min, h or d")),
    };
    Ok((number * scale).round() as u64)
}

/// The value a SET statement gives, as text; `None` for `DEFAULT`.
pub(crate) fn set_value(values: &[Expr]) -> Option<String> {
    let words: Vec<String> = values
        .iter()
        .map(|value| match value {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(Ident {
                value, quote_style, ..
            }) => match quote_style {
                Some(_) => format!("\"{value}\""),
                None => value.clone(),
            },
            other => other.to_string(),
        })
        .collect();
    if words.len() == 1 && words[0].eq_ignore_ascii_case("default") {
        return None;
    }
    Some(words.join(", "))
}

/// What a statement asks of the settings, if it is about them.
pub(crate) enum SettingsStatement {
    Set {
        name: String,
        value: Option<String>,
    },
    Reset {
        name: String,
    },
    ResetAll,
    Show {
        name: String,
    },
    ShowAll,
    /// Transaction characteristics: accepted, nothing to do for reads.
    Ignored,
}

pub(crate) fn classify(statement: &Statement) -> Option<SettingsStatement> {
    Some(match statement {
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => SettingsStatement::Set {
            name: variable.to_string(),
            value: set_value(values),
        },
        Statement::Set(Set::SetTimeZone { value, .. }) => SettingsStatement::Set {
            name: "TimeZone".to_owned(),
            value: set_value(std::slice::from_ref(value)),
        },
        Statement::Set(Set::SetNames { charset_name, .. }) => SettingsStatement::Set {
            name: "client_encoding".to_owned(),
            value: Some(charset_name.value.clone()),
        },
        Statement::Set(Set::SetTransaction { .. }) => SettingsStatement::Ignored,
        Statement::Reset(reset) => match &reset.reset {
            Reset::ALL => SettingsStatement::ResetAll,
            Reset::ConfigurationParameter(name) => SettingsStatement::Reset {
                name: name.to_string(),
            },
        },
        Statement::ShowVariable { variable } => {
            let name = variable.iter().map(|v| v.value.clone()).collect::<Vec<_>>();
            match name.join(" ").to_ascii_lowercase().as_str() {
                "all" => SettingsStatement::ShowAll,
                "time zone" => SettingsStatement::Show {
                    name: "TimeZone".to_owned(),
                },
                "transaction isolation level" => SettingsStatement::Show {
                    name: "transaction_isolation".to_owned(),
                },
                // The parser splits a custom `app.name` at its dot.
                _ => SettingsStatement::Show {
                    name: name.join("."),
                },
            }
        }
        _ => return None,
    })
}

fn constant_text(name: &str, value: String) -> ScalarUDF {
    datafusion::prelude::create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// `current_setting(name [, missing_ok])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    values: BTreeMap<String, String>,
    signature: Signature,
}

impl CurrentSetting {
    fn new(values: BTreeMap<String, String>) -> Self {
        Self {
            values,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let missing_ok = matches!(
            args.args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let lookup_one = |name: Option<&str>| -> DfResult<Option<String>> {
            let Some(name) = name else { return Ok(None) };
            match self.values.get(&name.to_ascii_lowercase()) {
                Some(value) => Ok(Some(value.clone())),
                None if missing_ok => Ok(None),
                None => Err(DataFusionError::Plan(format!(
                    "unrecognized configuration parameter \"{name}\""
                ))),
            }
        };
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(name)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(lookup_one(name.as_deref())?),
            )),
            ColumnarValue::Array(names) => {
                let names = datafusion::common::cast::as_string_array(names)?;
                let values = names
                    .iter()
                    .map(lookup_one)
                    .collect::<DfResult<datafusion::arrow::array::StringArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(values)))
            }
            other => Err(DataFusionError::Plan(format!(
                "current_setting expects a text name, got {}",
                other.data_type()
            ))),
        }
    }
}

/// `current_schemas(include_implicit)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSchemas {
    schemas: Vec<String>,
}

impl ScalarUDFImpl for CurrentSchemas {
    fn name(&self) -> &str {
        "current_schemas"
    }
    fn signature(&self) -> &Signature {
        static SIGNATURE: std::sync::LazyLock<Signature> = std::sync::LazyLock::new(|| {
            Signature::exact(vec![DataType::Boolean], Volatility::Stable)
        });
        &SIGNATURE
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(Arc::new(
            datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let implicit = matches!(
            args.args.first(),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let mut schemas = Vec::new();
        if implicit {
            schemas.push(Some("pg_catalog".to_owned()));
        }
        schemas.extend(self.schemas.iter().cloned().map(Some));
        let list = ScalarValue::new_list_nullable(
            &schemas
                .into_iter()
                .map(ScalarValue::Utf8)
                .collect::<Vec<_>>(),
            &DataType::Utf8,
        );
        Ok(ColumnarValue::Scalar(ScalarValue::List(list)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_postgres_units() {
        assert_eq!(parse_duration_ms("250"), Ok(250));
        assert_eq!(parse_duration_ms("5s"), Ok(5000));
        assert_eq!(parse_duration_ms("2min"), Ok(120_000));
        assert_eq!(parse_duration_ms("1.5 s"), Ok(1500));
        assert!(parse_duration_ms("5 parsecs").is_err());
    }

    #[test]
    fn date_style_keeps_what_is_not_given() {
        assert_eq!(date_style("ISO"), "ISO, MDY");
        assert_eq!(date_style("ISO, DMY"), "ISO, DMY");
        assert_eq!(date_style("euro"), "ISO, DMY");
        assert_eq!(date_style("SQL, US"), "SQL, MDY");
    }

    #[test]
    fn search_path_entries_fold_case_unless_quoted() {
        assert_eq!(
            parse_path("\"$user\", Sample, \"MixedCase\""),
            vec!["$user", "sample", "MixedCase"]
        );
        assert_eq!(version_num("16.6"), "160006");
    }
}
