//! Statements about the session rather than data: `SET`, `SHOW`, `RESET`,
//! savepoints, `DISCARD`, `DEALLOCATE ALL`. Clients send them on connect,
//! around every transaction and when a pool hands a connection back; none
//! may fail for a read-only session.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{ParamValues, ToDFSchema};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;

use crate::settings::{Settings, SettingsStatement, classify, user_error};

/// The hook, one per session, holding that session's settings.
pub(crate) struct SessionStatementHook {
    settings: Arc<Settings>,
}

impl SessionStatementHook {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Self { settings }
    }
}

/// What a session statement answers with, before it runs.
enum Answer {
    /// A command tag.
    Done(&'static str),
    /// Rows of text columns.
    Rows(Vec<String>),
}

/// Statements that need no work at all, and the tag each answers with.
fn no_op_tag(statement: &Statement) -> Option<&'static str> {
    Some(match statement {
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE",
        Statement::Rollback {
            savepoint: Some(_), ..
        } => "ROLLBACK",
        Statement::Deallocate { name, .. } if name.value.eq_ignore_ascii_case("all") => {
            "DEALLOCATE ALL"
        }
        _ => return None,
    })
}

fn answer_shape(statement: &Statement) -> Option<Answer> {
    if let Some(tag) = no_op_tag(statement) {
        return Some(Answer::Done(tag));
    }
    if matches!(statement, Statement::Discard { .. }) {
        return Some(Answer::Done("DISCARD ALL"));
    }
    Some(match classify(statement)? {
        SettingsStatement::Set { .. } | SettingsStatement::Ignored => Answer::Done("SET"),
        SettingsStatement::Reset { .. } | SettingsStatement::ResetAll => Answer::Done("RESET"),
        SettingsStatement::Show { name } => Answer::Rows(vec![Settings::display_name(&name).0]),
        SettingsStatement::ShowAll => Answer::Rows(vec![
            "name".to_owned(),
            "setting".to_owned(),
            "description".to_owned(),
        ]),
    })
}

fn text_fields(names: &[String]) -> Vec<FieldInfo> {
    names
        .iter()
        .map(|name| FieldInfo::new(name.clone(), None, None, Type::TEXT, FieldFormat::Text))
        .collect()
}

fn rows_response(columns: Vec<String>, rows: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields = Arc::new(text_fields(&columns));
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut encoded = Vec::with_capacity(rows.len());
    for row in rows {
        for value in row {
            encoder.encode_field(&Some(value))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        Box::pin(futures::stream::iter(encoded)),
    )))
}

impl SessionStatementHook {
    async fn run(
        &self,
        statement: &Statement,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.settings.sync_client(client);
        let answer = answer_shape(statement)?;
        Some(self.execute(statement, answer, session, client).await)
    }

    async fn execute(
        &self,
        statement: &Statement,
        answer: Answer,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        if matches!(statement, Statement::Discard { .. }) {
            self.settings.reset_all(session);
        }
        let reported = match classify(statement) {
            Some(SettingsStatement::Set { name, value }) => {
                match value {
                    Some(value) => {
                        self.settings.set(&name, &value, session)?;
                    }
                    None => self.settings.reset(&name, session)?,
                }
                vec![name]
            }
            Some(SettingsStatement::Reset { name }) => {
                self.settings.reset(&name, session)?;
                vec![name]
            }
            Some(SettingsStatement::ResetAll) => {
                self.settings.reset_all(session);
                self.settings
                    .all()
                    .into_iter()
                    .map(|(name, ..)| name)
                    .collect()
            }
            Some(SettingsStatement::Show { name }) => {
                let value = self.settings.show(&name, session).ok_or_else(|| {
                    user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let Answer::Rows(columns) = answer else {
                    return Ok(Response::EmptyQuery);
                };
                return rows_response(columns, vec![vec![value]]);
            }
            Some(SettingsStatement::ShowAll) => {
                let Answer::Rows(columns) = answer else {
                    return Ok(Response::EmptyQuery);
                };
                let rows = self
                    .settings
                    .all()
                    .into_iter()
                    .map(|(name, value, description)| vec![name, value, description])
                    .collect();
                return rows_response(columns, rows);
            }
            _ => vec![],
        };
        self.settings.sync_client(client);
        for name in reported {
            let (display, is_reported) = Settings::display_name(&name);
            if let (true, Some(value)) = (is_reported, self.settings.get(&name)) {
                client
                    .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                        display, value,
                    )))
                    .await?;
            }
        }
        match answer {
            Answer::Done(tag) => Ok(Response::Execution(Tag::new(tag))),
            Answer::Rows(_) => Ok(Response::EmptyQuery),
        }
    }
}

#[async_trait]
impl QueryHook for SessionStatementHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, session, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let fields = match answer_shape(statement)? {
            Answer::Done(_) => vec![],
            Answer::Rows(columns) => columns
                .into_iter()
                .map(|name| Field::new(name, DataType::Utf8, true))
                .collect(),
        };
        Some(
            Schema::new(fields)
                .to_dfschema()
                .map(|schema| {
                    LogicalPlan::EmptyRelation(EmptyRelation {
                        produce_one_row: false,
                        schema: Arc::new(schema),
                    })
                })
                .map_err(|e| PgWireError::ApiError(Box::new(e))),
        )
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, session, client).await
    }
}
