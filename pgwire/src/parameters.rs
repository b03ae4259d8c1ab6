//! Parameterized queries in Grok Connect's syntax, which platform users
//! already write:
//!
//! ```sql
//! --input: int min_qty = 3 {min: 0} [smallest quantity]
//! --input: list<string> categories
//! SELECT * FROM pg.items WHERE qty >= @min_qty AND category IN (@categories)
//! ```
//!
//! Each `@name` becomes a placeholder (`$1`, `$2`, …) and each value a typed
//! scalar bound to it: values never become SQL text here. A list becomes
//! one placeholder per element, so `IN (@list)` and `= ANY(@list)` are an
//! ordinary `IN` list that sources take pushed down.

use std::collections::BTreeMap;

use datafusion::common::{ParamValues, ScalarValue};
use datafusion::dataframe::DataFrame;
use serde_json::Value;

/// A value problem: SQLSTATE 22023; an unknown parameter: 42P02.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParameterError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unknown(String),
}

impl ParameterError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "22023",
            Self::Unknown(_) => "42P02",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterType {
    Int,
    Double,
    Bool,
    String,
    Datetime,
    ListOfString,
    ListOfInt,
}

impl ParameterType {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int" | "integer" | "bigint" => Self::Int,
            "double" | "num" | "float" => Self::Double,
            "bool" | "boolean" => Self::Bool,
            "string" | "text" => Self::String,
            "datetime" | "timestamp" | "date" => Self::Datetime,
            "list<string>" | "list" => Self::ListOfString,
            "list<int>" => Self::ListOfInt,
            _ => return None,
        })
    }

    fn element(self) -> Self {
        match self {
            Self::ListOfString => Self::String,
            Self::ListOfInt => Self::Int,
            other => other,
        }
    }

    fn is_list(self) -> bool {
        matches!(self, Self::ListOfString | Self::ListOfInt)
    }
}

/// A `--input:` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub kind: ParameterType,
    /// As written after `=`.
    pub default: Option<String>,
}

/// The declared inputs of `sql`, in order.
pub fn inputs(sql: &str) -> Result<Vec<Input>, ParameterError> {
    let mut inputs = Vec::new();
    for line in sql.lines() {
        let Some(rest) = line.trim_start().strip_prefix("--input:") else {
            continue;
        };
        let rest = rest.trim_start();
        let (kind_name, rest) = split_word(rest);
        let kind = ParameterType::from_name(kind_name).ok_or_else(|| {
            ParameterError::Invalid(format!(
                "--input: type {kind_name:?}: expected int, double, bool, string, datetime, list<string> or list<int>"
            ))
        })?;
        let (name, rest) = split_word(rest.trim_start());
        let name = name.trim_end_matches('=');
        if !is_identifier(name) {
            return Err(ParameterError::Invalid(format!(
                "--input: {line:?} names no parameter"
            )));
        }
        let rest = rest.trim_start();
        let default = rest
            .strip_prefix('=')
            .map(|value| default_text(value.trim_start()));
        inputs.push(Input {
            name: name.to_owned(),
            kind,
            default,
        });
    }
    Ok(inputs)
}

fn split_word(text: &str) -> (&str, &str) {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// A default: a quoted string, a `[…]` list, or one word.
fn default_text(text: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(rest) = text.strip_prefix(quote) {
            return rest.split(quote).next().unwrap_or_default().to_owned();
        }
    }
    if text.starts_with('[') {
        return match text.find(']') {
            Some(end) => text[..=end].to_owned(),
            None => text.to_owned(),
        };
    }
    split_word(text).0.to_owned()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// For the pg wire, where the client binds values by position: each
/// declared `@name` becomes `$k`, k its line's place among the `--input:`
/// lines, and a list used as `IN (@list)` becomes `= ANY($k)`, bound to an
/// array. `None` when the SQL declares no inputs.
pub fn positional(sql: &str) -> Result<Option<String>, ParameterError> {
    let declared = inputs(sql)?;
    if declared.is_empty() {
        return Ok(None);
    }
    let mut out = String::with_capacity(sql.len());
    let mut scanner = Scanner::new(sql);
    while let Some(piece) = scanner.next_piece() {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Parameter(name) => match declared.iter().position(|i| i.name == name) {
                None => {
                    out.push('@');
                    out.push_str(name);
                }
                Some(at) if declared[at].kind.is_list() => {
                    let Some(negated) = rewrite_list_context(&mut out) else {
                        return Err(ParameterError::Invalid(format!(
                            "parameter @{name} is a list: write IN (@{name}) or = ANY(@{name})"
                        )));
                    };
                    if negated {
                        return Err(ParameterError::Invalid(format!(
                            "parameter @{name}: NOT IN a list parameter is not supported on the pg wire"
                        )));
                    }
                    let kept = out.trim_end().strip_suffix(" IN").map(str::to_owned);
                    if let Some(kept) = kept {
                        out = kept;
                    }
                    // The cast gives the placeholder its type: DataFusion
                    // infers none for an array argument.
                    let array_type = match declared[at].kind {
                        ParameterType::ListOfInt => "BIGINT[]",
                        _ => "TEXT[]",
                    };
                    out.push_str(&format!(" = ANY(CAST(${} AS {array_type}))", at + 1));
                    scanner.skip_closing_parenthesis();
                }
                Some(at) => out.push_str(&format!("${}", at + 1)),
            },
        }
    }
    Ok(Some(out))
}

/// A statement ready for the engine: placeholders, and their values.
#[derive(Debug, PartialEq)]
pub struct BoundQuery {
    pub sql: String,
    pub values: Vec<ScalarValue>,
}

impl BoundQuery {
    /// `frame`, planned from `sql`, with the values in its placeholders.
    pub fn bind(&self, frame: DataFrame) -> datafusion::common::Result<DataFrame> {
        if self.values.is_empty() {
            return Ok(frame);
        }
        frame.with_param_values(ParamValues::List(
            self.values.iter().cloned().map(Into::into).collect(),
        ))
    }
}

/// Replaces each `@name` (outside strings, quoted names and comments) that
/// is declared or given with placeholders, and types the values: as
/// declared, else as the JSON value is. A value given for no `@name` is
/// refused, as is a declared name with neither a value nor a default.
pub fn bind(sql: &str, given: &BTreeMap<String, Value>) -> Result<BoundQuery, ParameterError> {
    let declared = inputs(sql)?;
    let mut values = Vec::new();
    let mut used = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut scanner = Scanner::new(sql);
    while let Some(piece) = scanner.next_piece() {
        let Piece::Parameter(name) = piece else {
            if let Piece::Text(text) = piece {
                out.push_str(text);
            }
            continue;
        };
        let input = declared.iter().find(|i| i.name == name);
        let given_value = given.get(name);
        if input.is_none() && given_value.is_none() {
            // Not ours: PostgreSQL's `@` operator, say.
            out.push('@');
            out.push_str(name);
            continue;
        }
        if !used.iter().any(|u| u == name) {
            used.push(name.to_owned());
        }
        let value = value_of(name, input, given_value)?;
        match value {
            Bound::One(scalar) => {
                values.push(scalar);
                out.push_str(&format!("${}", values.len()));
            }
            Bound::List(elements) => {
                let Some(negated) = rewrite_list_context(&mut out) else {
                    return Err(ParameterError::Invalid(format!(
                        "parameter @{name} is a list: write IN (@{name}) or = ANY(@{name})"
                    )));
                };
                out.push('(');
                let closed = scanner.skip_closing_parenthesis();
                if elements.is_empty() {
                    if negated {
                        return Err(ParameterError::Invalid(format!(
                            "parameter @{name} is an empty list: NOT IN an empty list is not supported"
                        )));
                    }
                    out.push_str("NULL");
                }
                for (at, element) in elements.into_iter().enumerate() {
                    values.push(element);
                    if at > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("${}", values.len()));
                }
                if closed {
                    out.push(')');
                }
            }
        }
    }
    if let Some(unused) = given.keys().find(|name| !used.contains(name)) {
        return Err(ParameterError::Unknown(format!(
            "parameter \"{unused}\" is not used by the query (write @{unused} where it goes)"
        )));
    }
    Ok(BoundQuery { sql: out, values })
}

/// Before a list parameter the text ends `IN (`, `= ANY (` or `<> ALL (`
/// (any case and spacing): all become `[NOT] IN (`, leaving the opening
/// parenthesis off for the caller. Whether it is negated, or None when the
/// list is not in one of those places.
fn rewrite_list_context(out: &mut String) -> Option<bool> {
    let trimmed = out.trim_end();
    let before_paren = trimmed.strip_suffix('(')?;
    let before = before_paren.trim_end();
    let upper = before.to_ascii_uppercase();
    let (cut, negated) = if upper.ends_with("= ANY") || upper.ends_with("=ANY") {
        (
            before.len() - upper.rsplit('=').next().map_or(0, str::len) - 1,
            false,
        )
    } else if upper.ends_with("<> ALL") || upper.ends_with("<>ALL") {
        (
            before.len() - upper.rsplit("<>").next().map_or(0, str::len) - 2,
            true,
        )
    } else if upper.ends_with(" IN") || upper.ends_with("(IN") {
        (before.len() - 2, false)
    } else {
        return None;
    };
    let head = before[..cut].trim_end().to_owned();
    out.clear();
    out.push_str(&head);
    out.push_str(if negated { " NOT IN " } else { " IN " });
    Some(negated || head.to_ascii_uppercase().ends_with(" NOT"))
}

enum Bound {
    One(ScalarValue),
    List(Vec<ScalarValue>),
}

fn value_of(
    name: &str,
    input: Option<&Input>,
    given: Option<&Value>,
) -> Result<Bound, ParameterError> {
    let invalid = |why: String| ParameterError::Invalid(format!("parameter @{name}: {why}"));
    let value = match (given, input.and_then(|i| i.default.as_deref())) {
        (Some(value), _) => value.clone(),
        (None, Some(default)) => default_value(default, input.map(|i| i.kind)),
        (None, None) => {
            return Err(invalid("no value given and no default declared".to_owned()));
        }
    };
    let kind = input.map(|i| i.kind);
    if kind.is_some_and(ParameterType::is_list) || value.is_array() {
        let elements = match value {
            Value::Array(elements) => elements,
            Value::String(text) => text
                .split(',')
                .map(|s| Value::String(s.trim().to_owned()))
                .collect(),
            other => vec![other],
        };
        let element_kind = kind.map(ParameterType::element);
        return elements
            .iter()
            .map(|element| scalar(element, element_kind).map_err(&invalid))
            .collect::<Result<_, _>>()
            .map(Bound::List);
    }
    scalar(&value, kind).map(Bound::One).map_err(invalid)
}

/// A default as written on the `--input:` line, as the JSON it means.
fn default_value(text: &str, kind: Option<ParameterType>) -> Value {
    if text.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Value>(text)
    {
        return list;
    }
    match kind {
        Some(ParameterType::String | ParameterType::Datetime | ParameterType::ListOfString) => {
            Value::String(text.to_owned())
        }
        _ => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
    }
}

/// Text from the command line (`--param name=value`), as JSON: a number or
/// boolean when it reads as one, else a string. Declared types decide in
/// the end.
pub fn value_from_text(text: &str) -> Value {
    if text.parse::<i64>().is_ok() || text.parse::<f64>().is_ok_and(f64::is_finite) {
        return serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}

fn scalar(value: &Value, kind: Option<ParameterType>) -> Result<ScalarValue, String> {
    let text = || match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let Some(kind) = kind else {
        return Ok(match value {
            Value::Null => ScalarValue::Null,
            Value::Bool(flag) => ScalarValue::Boolean(Some(*flag)),
            Value::Number(number) => match number.as_i64() {
                Some(int) => ScalarValue::Int64(Some(int)),
                None => ScalarValue::Float64(number.as_f64()),
            },
            Value::String(text) => ScalarValue::Utf8(Some(text.clone())),
            other => return Err(format!("{other} is not a value")),
        });
    };
    if value.is_null() {
        return Ok(match kind.element() {
            ParameterType::Int => ScalarValue::Int64(None),
            ParameterType::Double => ScalarValue::Float64(None),
            ParameterType::Bool => ScalarValue::Boolean(None),
            ParameterType::Datetime => ScalarValue::TimestampMicrosecond(None, None),
            _ => ScalarValue::Utf8(None),
        });
    }
    match kind.element() {
        ParameterType::Int => text()
            .trim()
            .parse::<i64>()
            .map(|v| ScalarValue::Int64(Some(v)))
            .map_err(|_| format!("{value} is not an int")),
        ParameterType::Double => text()
            .trim()
            .parse::<f64>()
            .map(|v| ScalarValue::Float64(Some(v)))
            .map_err(|_| format!("{value} is not a double")),
        ParameterType::Bool => match text().trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" => Ok(ScalarValue::Boolean(Some(true))),
            "false" | "f" | "0" | "no" => Ok(ScalarValue::Boolean(Some(false))),
            _ => Err(format!("{value} is not a bool")),
        },
        ParameterType::Datetime => datetime(&text())
            .map(|micros| ScalarValue::TimestampMicrosecond(Some(micros), None))
            .ok_or_else(|| {
                format!("{value} is not a datetime (write 2024-03-10 or 2024-03-10T06:30:00)")
            }),
        _ => Ok(ScalarValue::Utf8(Some(text()))),
    }
}

/// Microseconds since the epoch of an ISO date or date-time; with an
/// offset, converted to UTC.
fn datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(with_offset) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc().timestamp_micros());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc().timestamp_micros())
}

enum Piece<'a> {
    Text(&'a str),
    Parameter(&'a str),
}

/// Splits SQL into text and `@name`s, never looking inside string
/// literals, quoted identifiers, dollar quotes or comments.
struct Scanner<'a> {
    sql: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(sql: &'a str) -> Self {
        Self { sql, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.sql[self.at..]
    }

    /// After a list parameter: skips the `)` that closed `IN (@list`.
    fn skip_closing_parenthesis(&mut self) -> bool {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        match trimmed.strip_prefix(')') {
            Some(_) => {
                self.at += rest.len() - trimmed.len() + 1;
                true
            }
            None => false,
        }
    }

    fn next_piece(&mut self) -> Option<Piece<'a>> {
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        if let Some(name) = rest.strip_prefix('@') {
            let preceded_by_word = self.sql[..self.at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
            let length = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            if !preceded_by_word && length > 0 && is_identifier(&name[..length]) {
                self.at += 1 + length;
                return Some(Piece::Parameter(&name[..length]));
            }
            self.at += 1;
            return Some(Piece::Text(&rest[..1]));
        }
        let length = self.text_length(rest);
        self.at += length;
        Some(Piece::Text(&rest[..length]))
    }

    /// The length of text up to the next `@` outside quotes and comments.
    fn text_length(&self, rest: &str) -> usize {
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'@' if i > 0 => return i,
                b'\'' | b'"' | b'`' => {
                    let quote = bytes[i];
                    i += 1;
                    while i < bytes.len() && bytes[i] != quote {
                        i += 1;
                    }
                    i += 1;
                }
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    let end = rest[i + 2..]
                        .find("*/")
                        .map_or(bytes.len(), |e| i + 2 + e + 2);
                    i = end;
                }
                b'$' => {
                    let tag_end = rest[i + 1..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .map(|e| i + 1 + e);
                    match tag_end {
                        Some(end) if bytes[end] == b'$' && !bytes[i + 1].is_ascii_digit() => {
                            let tag = &rest[i..=end];
                            i = rest[end + 1..]
                                .find(tag)
                                .map_or(bytes.len(), |e| end + 1 + e + tag.len());
                        }
                        _ => i += 1,
                    }
                }
                _ => i += 1,
            }
        }
        bytes.len().min(i)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn given(pairs: Value) -> BTreeMap<String, Value> {
        pairs
            .as_object()
            .map(|o| o.clone().into_iter().collect())
            .unwrap_or_default()
    }

    #[test]
    fn input_lines_declare_types_and_defaults() {
        let sql = "--input: int min_qty = 3 {min: 0} [smallest]\n--input: string name = \"it's\"\n\
                   --input: list<string> cats = [\"a\", \"b\"]\n  --input: datetime since\nSELECT 1";
        let declared = inputs(sql).expect("inputs");
        assert_eq!(declared.len(), 4);
        assert_eq!(declared[0].default.as_deref(), Some("3"));
        assert_eq!(declared[1].default.as_deref(), Some("it's"));
        assert_eq!(declared[2].kind, ParameterType::ListOfString);
        assert_eq!(declared[2].default.as_deref(), Some("[\"a\", \"b\"]"));
        assert_eq!(declared[3].default, None);
        assert!(inputs("--input: money x\nSELECT 1").is_err());
    }

    #[test]
    fn parameters_become_placeholders_and_text_stays_text() {
        let sql = "--input: int q = 3\nSELECT '@q', \"@q\", @q /* @q */ -- @q\n, $$ @q $$, a@q, @q";
        let bound = bind(sql, &BTreeMap::new()).expect("bound");
        assert_eq!(
            bound.sql,
            "--input: int q = 3\nSELECT '@q', \"@q\", $1 /* @q */ -- @q\n, $$ @q $$, a@q, $2"
        );
        assert_eq!(
            bound.values,
            [ScalarValue::Int64(Some(3)), ScalarValue::Int64(Some(3))]
        );
    }

    #[test]
    fn lists_become_in_lists_of_placeholders() {
        let cases = [
            ("SELECT 1 WHERE c IN (@l)", "SELECT 1 WHERE c IN ($1, $2)"),
            ("SELECT 1 WHERE c = ANY(@l)", "SELECT 1 WHERE c IN ($1, $2)"),
            (
                "SELECT 1 WHERE c NOT IN ( @l )",
                "SELECT 1 WHERE c NOT IN ($1, $2)",
            ),
            (
                "SELECT 1 WHERE c <> all (@l)",
                "SELECT 1 WHERE c NOT IN ($1, $2)",
            ),
        ];
        for (sql, expected) in cases {
            let bound =
                bind(sql, &given(json!({"l": ["x'); DROP TABLE t; --", "b"]}))).expect("bound");
            assert_eq!(bound.sql, expected);
            assert_eq!(
                bound.values[0],
                ScalarValue::Utf8(Some("x'); DROP TABLE t; --".to_owned()))
            );
        }
        let typed = bind(
            "--input: list<int> ids\nSELECT 1 WHERE id IN (@ids)",
            &given(json!({"ids": "1, 2,3"})),
        )
        .expect("bound");
        assert_eq!(typed.values.len(), 3);
        assert_eq!(typed.values[2], ScalarValue::Int64(Some(3)));
        let empty = bind("SELECT 1 WHERE c IN (@l)", &given(json!({"l": []}))).expect("bound");
        assert_eq!(empty.sql, "SELECT 1 WHERE c IN (NULL)");
    }

    #[test]
    fn positional_numbers_by_declaration() {
        let sql = "--input: string name\n--input: list<int> ids\n--input: int n = 1\n\
                   SELECT @n, '@n' WHERE name = @name OR id IN (@ids) OR n = @n OR @other";
        assert_eq!(
            positional(sql).ok().flatten().as_deref(),
            Some(
                "--input: string name\n--input: list<int> ids\n--input: int n = 1\n\
                 SELECT $3, '@n' WHERE name = $1 OR id = ANY(CAST($2 AS BIGINT[])) OR n = $3 OR @other"
            )
        );
        assert_eq!(positional("SELECT @x").ok(), Some(None));
    }

    #[test]
    fn values_are_checked_against_declarations() {
        let error = |sql: &str, values: Value| bind(sql, &given(values)).err();
        assert_eq!(
            error("--input: int n\nSELECT @n", json!({"n": "five"})).map(|e| e.sqlstate()),
            Some("22023")
        );
        assert_eq!(
            error("--input: int n\nSELECT @n", json!({})).map(|e| e.sqlstate()),
            Some("22023")
        );
        assert_eq!(
            error("SELECT 1", json!({"typo": 1})).map(|e| e.sqlstate()),
            Some("42P02")
        );
        let bound = bind(
            "--input: datetime t\n--input: bool b\n--input: double d\nSELECT @t, @b, @d",
            &given(json!({"t": "2024-03-10T06:30:00Z", "b": "yes", "d": 2})),
        )
        .expect("bound");
        assert_eq!(
            bound.values,
            [
                ScalarValue::TimestampMicrosecond(Some(1_710_052_200_000_000), None),
                ScalarValue::Boolean(Some(true)),
                ScalarValue::Float64(Some(2.0)),
            ]
        );
        // An @ that is no parameter of ours stays: PostgreSQL's @ operator.
        let untouched = bind("SELECT @x", &BTreeMap::new()).expect("bound");
        assert_eq!(untouched.sql, "SELECT @x");
    }
}
