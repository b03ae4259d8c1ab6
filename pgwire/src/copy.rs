//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`, in text, CSV and
//! binary: what `psql \copy … TO file` and drivers' bulk export send.
//!
//! The SQL parser does not know `TO STDOUT`, so the statement is read here
//! from its tokens: the query (or table) and the options, in both the
//! `WITH (FORMAT csv, HEADER)` and the older `CSV HEADER` spelling. The
//! query runs with DDL and DML refused, its rows are encoded by arrow-pg
//! into pgwire's COPY encoder, one CopyData message per row.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo, Response,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::copy::CopyData;
use futures::StreamExt;

use crate::copy_text;
use crate::read_only::query_only;
use crate::settings::user_error;
use crate::sqlstate::codes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// A `COPY … TO STDOUT` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyOut {
    /// The query whose rows are copied.
    pub query: String,
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: Option<String>,
    pub null: Option<String>,
    pub quote: Option<String>,
    pub escape: Option<String>,
}

fn syntax(message: impl Into<String>) -> PgWireError {
    user_error(codes::SYNTAX_ERROR, message.into())
}

fn is_keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(Word { keyword: k, .. }) if *k == keyword)
}

fn word(token: &Token) -> Option<String> {
    match token {
        Token::Word(word) => Some(word.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn string(token: Option<&Token>) -> PgWireResult<String> {
    match token {
        Some(Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s)) => Ok(s.clone()),
        other => Err(syntax(format!(
            "COPY option expects a quoted string, found {}",
            other.map_or("the end".to_owned(), ToString::to_string)
        ))),
    }
}

/// Reads `sql` as a COPY TO STDOUT, or says it is not one (`Ok(None)`).
/// `COPY … FROM` is left to the read-only refusal.
pub(crate) fn parse_copy_out(sql: &str) -> PgWireResult<Option<CopyOut>> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(None);
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut tokens: &[Token] = &tokens;
    while let [rest @ .., Token::SemiColon] = tokens {
        tokens = rest;
    }
    let Some((first, rest)) = tokens.split_first() else {
        return Ok(None);
    };
    if !is_keyword(first, Keyword::COPY) {
        return Ok(None);
    }
    // The source: a parenthesized query, or a table with optional columns.
    let (query, rest) = if rest.first() == Some(&Token::LParen) {
        let mut depth = 0usize;
        let mut end = None;
        for (at, token) in rest.iter().enumerate() {
            match token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(at);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| syntax("COPY: unbalanced parentheses around the query"))?;
        (join_tokens(&rest[1..end]), &rest[end + 1..])
    } else {
        let to = rest
            .iter()
            .position(|t| is_keyword(t, Keyword::TO) || is_keyword(t, Keyword::FROM))
            .ok_or_else(|| syntax("COPY: expected TO STDOUT"))?;
        let target = &rest[..to];
        let (table, columns) = match target.iter().position(|t| *t == Token::LParen) {
            Some(open) => (
                join_tokens(&target[..open]),
                join_tokens(&target[open + 1..target.len().saturating_sub(1)]),
            ),
            None => (join_tokens(target), "*".to_owned()),
        };
        (format!("SELECT {columns} FROM {table}"), &rest[to..])
    };
    match rest {
        [to, target, options @ ..] if is_keyword(to, Keyword::TO) => {
            if !is_keyword(target, Keyword::STDOUT) {
                return Err(user_error(
                    "42501",
                    "COPY TO a file is not allowed: Tributary only copies to the client (TO STDOUT); use psql's \\copy"
                        .to_owned(),
                ));
            }
            let mut copy = CopyOut {
                query,
                format: CopyFormat::Text,
                header: false,
                delimiter: None,
                null: None,
                quote: None,
                escape: None,
            };
            read_options(options, &mut copy)?;
            Ok(Some(copy))
        }
        _ => Ok(None),
    }
}

fn join_tokens(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_options(tokens: &[Token], copy: &mut CopyOut) -> PgWireResult<()> {
    let mut tokens = tokens;
    if let [with, rest @ ..] = tokens
        && is_keyword(with, Keyword::WITH)
    {
        tokens = rest;
    }
    // WITH ( option value, … )
    if let [Token::LParen, inner @ .., Token::RParen] = tokens {
        for option in inner.split(|t| *t == Token::Comma) {
            let name = option.first().and_then(word).unwrap_or_default();
            let value = option.get(1);
            match name.as_str() {
                "format" => {
                    copy.format = match value.and_then(word).as_deref() {
                        Some("text") => CopyFormat::Text,
                        Some("csv") => CopyFormat::Csv,
                        Some("binary") => CopyFormat::Binary,
                        _ => return Err(syntax("COPY FORMAT must be text, csv or binary")),
                    }
                }
                "header" => {
                    copy.header =
                        !matches!(value.and_then(word).as_deref(), Some("false" | "off" | "0"))
                            && !matches!(value, Some(Token::Number(n, _)) if n == "0")
                }
                "delimiter" => copy.delimiter = Some(string(value)?),
                "null" => copy.null = Some(string(value)?),
                "quote" => copy.quote = Some(string(value)?),
                "escape" => copy.escape = Some(string(value)?),
                "encoding" => {
                    let encoding = string(value)?;
                    if !encoding.eq_ignore_ascii_case("utf8")
                        && !encoding.eq_ignore_ascii_case("utf-8")
                    {
                        return Err(user_error(
                            codes::FEATURE_NOT_SUPPORTED,
                            format!(
                                "COPY ENCODING '{encoding}' is not supported: Tributary writes UTF8"
                            ),
                        ));
                    }
                }
                other => {
                    return Err(user_error(
                        codes::FEATURE_NOT_SUPPORTED,
                        format!("COPY option \"{other}\" is not supported"),
                    ));
                }
            }
        }
        return Ok(());
    }
    // The older spelling: BINARY, CSV, HEADER, DELIMITER [AS] 'c', NULL [AS] 's', …
    let mut at = 0;
    while at < tokens.len() {
        let name = word(&tokens[at]).unwrap_or_default();
        at += 1;
        if tokens.get(at).is_some_and(|t| is_keyword(t, Keyword::AS)) {
            at += 1;
        }
        match name.as_str() {
            "binary" => copy.format = CopyFormat::Binary,
            "csv" => copy.format = CopyFormat::Csv,
            "header" => copy.header = true,
            "delimiter" | "null" | "quote" | "escape" => {
                let value = string(tokens.get(at))?;
                at += 1;
                match name.as_str() {
                    "delimiter" => copy.delimiter = Some(value),
                    "null" => copy.null = Some(value),
                    "quote" => copy.quote = Some(value),
                    _ => copy.escape = Some(value),
                }
            }
            other => {
                return Err(user_error(
                    codes::FEATURE_NOT_SUPPORTED,
                    format!("COPY option \"{other}\" is not supported"),
                ));
            }
        }
    }
    Ok(())
}

impl CopyOut {
    fn encoder(&self, fields: Arc<Vec<FieldInfo>>) -> PgWireResult<CopyEncoder> {
        let single = |name: &str, value: &Option<String>| -> PgWireResult<()> {
            match value {
                Some(v) if v.chars().count() != 1 => Err(user_error(
                    codes::FEATURE_NOT_SUPPORTED,
                    format!("COPY {name} must be a single one-byte character"),
                )),
                _ => Ok(()),
            }
        };
        single("delimiter", &self.delimiter)?;
        single("quote", &self.quote)?;
        single("escape", &self.escape)?;
        Ok(match self.format {
            CopyFormat::Binary => CopyEncoder::new_binary(fields),
            CopyFormat::Text => {
                let mut options = CopyTextOptions::default();
                if let Some(delimiter) = &self.delimiter {
                    options.delimiter = delimiter.as_str().into();
                }
                if let Some(null) = &self.null {
                    options.null_string = null.as_str().into();
                }
                CopyEncoder::new_text(fields, options)
            }
            CopyFormat::Csv => {
                let mut options = CopyCsvOptions::default();
                if let Some(delimiter) = &self.delimiter {
                    options.delimiter = delimiter.as_str().into();
                }
                if let Some(null) = &self.null {
                    options.null_string = null.as_str().into();
                }
                if let Some(quote) = &self.quote {
                    options.quote = quote.as_str().into();
                }
                if let Some(escape) = &self.escape {
                    options.escape = escape.as_str().into();
                }
                CopyEncoder::new_csv(fields, options)
            }
        })
    }

    /// The CSV header line: column names, quoted when they need it.
    fn header_line(&self, fields: &[FieldInfo]) -> Vec<u8> {
        let delimiter = self.delimiter.clone().unwrap_or_else(|| ",".to_owned());
        let quote = self.quote.clone().unwrap_or_else(|| "\"".to_owned());
        let names: Vec<String> = fields
            .iter()
            .map(|field| {
                let name = field.name();
                if name.contains(&delimiter) || name.contains(&quote) || name.contains('\n') {
                    format!(
                        "{quote}{}{quote}",
                        name.replace(&quote, &format!("{quote}{quote}"))
                    )
                } else {
                    name.to_owned()
                }
            })
            .collect();
        format!("{}\n", names.join(&delimiter)).into_bytes()
    }

    /// Runs the query and answers with its rows as COPY data.
    pub(crate) async fn run(&self, session: &SessionContext) -> PgWireResult<Response> {
        let api = |e| PgWireError::ApiError(Box::new(e));
        // Only a query: no table or file is created through COPY.
        let frame = session
            .sql_with_options(&self.query, query_only())
            .await
            .map_err(api)?;
        let format = match self.format {
            CopyFormat::Binary => Format::UnifiedBinary,
            _ => Format::UnifiedText,
        };
        let fields = Arc::new(arrow_schema_to_pg_fields(
            frame.schema().as_arrow(),
            &format,
            None,
        )?);
        let columns = fields.len();
        let encoder = self.encoder(fields.clone())?;
        let header =
            (self.header && self.format == CopyFormat::Csv).then(|| self.header_line(&fields));
        let binary = self.format == CopyFormat::Binary;
        // The delimiter was checked to be one character by `encoder`; a
        // multi-byte one is left to the general encoder.
        let text = match (&self.format, self.delimiter.as_deref()) {
            (CopyFormat::Text, None) => Some(b'\t'),
            (CopyFormat::Text, Some(d)) if d.len() == 1 => d.bytes().next(),
            _ => None,
        }
        .map(|delimiter| {
            let null = self.null.clone().unwrap_or_else(|| "\\N".to_owned());
            (delimiter, null.into_bytes())
        });
        let batches = frame.execute_stream().await.map_err(api)?;
        let rows = CopyRows {
            batches,
            encoder,
            fields,
            header,
            binary,
            text,
            wrote_any: false,
        };
        let data = futures::stream::unfold(rows, |mut rows| async move {
            let chunk = rows.next_chunk().await?;
            Some((futures::stream::iter(chunk), rows))
        })
        .flatten();
        let format_code = if binary { 1 } else { 0 };
        Ok(Response::CopyOut(CopyResponse::new(
            format_code,
            columns,
            data,
        )))
    }
}

/// The state of a COPY's output between batches.
struct CopyRows {
    batches: SendableRecordBatchStream,
    encoder: CopyEncoder,
    fields: Arc<Vec<FieldInfo>>,
    header: Option<Vec<u8>>,
    binary: bool,
    /// Text format: its delimiter and NULL string, for the batch encoder.
    text: Option<(u8, Vec<u8>)>,
    wrote_any: bool,
}

impl CopyRows {
    /// The CopyData of the next batch; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Vec<PgWireResult<CopyData>>> {
        match self.batches.next().await {
            Some(Ok(batch)) => Some(self.encode(&batch)),
            Some(Err(error)) => {
                // One error ends the stream.
                self.batches = Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        self.batches.schema(),
                        futures::stream::empty(),
                    ),
                );
                Some(vec![Err(PgWireError::ApiError(Box::new(error)))])
            }
            None if self.binary && !self.wrote_any => {
                // A binary COPY of no rows is its header and trailer; clients
                // (psycopg) read them from one message. pgwire appends one
                // more trailer, which they ignore after the end.
                self.wrote_any = true;
                let mut empty = binary_header();
                empty.extend_from_slice(&(-1i16).to_be_bytes());
                Some(vec![Ok(CopyData::new(empty.into()))])
            }
            None => None,
        }
    }

    fn encode(&mut self, batch: &RecordBatch) -> Vec<PgWireResult<CopyData>> {
        if let Some((delimiter, null)) = &self.text
            && let Some(rows) = copy_text::encode_rows(batch, *delimiter, null)
        {
            self.wrote_any |= !rows.is_empty();
            return rows.into_iter().map(|row| Ok(CopyData::new(row))).collect();
        }
        let schema = batch.schema();
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            for (column, field) in self.fields.iter().enumerate() {
                if let Err(error) = encode_value(
                    &mut self.encoder,
                    batch.column(column),
                    row,
                    schema.field(column),
                    field,
                ) {
                    out.push(Err(error));
                    return out;
                }
            }
            let data = self.encoder.take_copy();
            self.wrote_any = true;
            match self.header.take() {
                // The header rides in the first row's message, so that the
                // row count of the COPY tag stays the number of rows.
                Some(mut header) => {
                    header.extend_from_slice(&data.data);
                    out.push(Ok(CopyData::new(header.into())));
                }
                None => out.push(Ok(data)),
            }
        }
        out
    }
}

fn binary_header() -> Vec<u8> {
    let mut header = b"PGCOPY\n\xff\r\n\0".to_vec();
    header.extend_from_slice(&0i32.to_be_bytes());
    header.extend_from_slice(&0i32.to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> CopyOut {
        parse_copy_out(sql)
            .ok()
            .flatten()
            .expect("a COPY TO STDOUT statement")
    }

    #[test]
    fn psql_copy_spelling_is_understood() {
        let copy = parsed("COPY ( SELECT a, 'x)' FROM t WHERE (b > 1) ) TO STDOUT CSV HEADER");
        assert_eq!(copy.query, "SELECT a , 'x)' FROM t WHERE ( b > 1 )");
        assert_eq!(copy.format, CopyFormat::Csv);
        assert!(copy.header);
    }

    #[test]
    fn with_options_and_tables() {
        let copy = parsed(
            "copy sample.orders (order_id, status) to stdout with (format csv, header true, delimiter ';', null 'NA');",
        );
        assert_eq!(copy.query, "SELECT order_id , status FROM sample . orders");
        assert_eq!(copy.delimiter.as_deref(), Some(";"));
        assert_eq!(copy.null.as_deref(), Some("NA"));
        assert!(copy.header);
        assert_eq!(
            parsed("COPY t TO STDOUT (FORMAT binary)").format,
            CopyFormat::Binary
        );
    }

    #[test]
    fn other_statements_and_files_are_not_copies() {
        assert_eq!(parse_copy_out("SELECT 1").ok().flatten(), None);
        assert_eq!(parse_copy_out("COPY t FROM STDIN").ok().flatten(), None);
        assert!(parse_copy_out("COPY t TO '/etc/passwd'").is_err());
    }
}
