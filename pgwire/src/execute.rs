//! Execute, with rows streamed to the client as they are produced.
//!
//! pgwire's default `on_execute` collects a portal's rows into a `Vec`
//! before sending the first one: all of them when `max_rows` is 0 (every
//! JDBC or psycopg query without a fetch size holds its whole result in
//! memory) and room for `max_rows` up front otherwise (an Execute asking
//! for 2^31 - 1 rows reserved 85 GB and aborted the process). Here rows go
//! to the client one at a time, up to `max_rows`, and the rest stays in the
//! portal's stream for the next Execute, as in PostgreSQL.

use std::fmt::Debug;
use std::ops::DerefMut;

use datafusion_postgres::pgwire::api::copy::{
    send_copy_both_response, send_copy_in_response, send_copy_out_response,
};
use datafusion_postgres::pgwire::api::portal::PortalExecutionState;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, send_execution_response};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::store::{Entry, PortalStore};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::extendedquery::{Execute, PortalSuspended};
use datafusion_postgres::pgwire::messages::response::EmptyQueryResponse;
use futures::{Sink, SinkExt, StreamExt};

/// Runs `message` against its portal: starts the portal's statement on the
/// first Execute, then sends up to `max_rows` rows (all when 0) of it.
pub(crate) async fn execute_streaming<H, C>(
    handler: &H,
    client: &mut C,
    message: Execute,
) -> PgWireResult<()>
where
    H: ExtendedQueryHandler,
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = H::Statement>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Err(PgWireError::NotReadyForQuery);
    }
    let mut transaction_status = client.transaction_status();
    client.set_state(PgWireConnectionState::QueryInProgress);

    let portal_name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    // The frame checks turned negative counts into 0; a count is a bound
    // on rows sent, never a size to reserve.
    let max_rows = usize::try_from(message.max_rows).unwrap_or(0);
    let portal = match client.portal_store().get_portal(portal_name) {
        Some(Entry::Value(portal)) => portal,
        Some(Entry::Empty) => {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            client.set_state(PgWireConnectionState::ReadyForQuery);
            return Ok(());
        }
        None => return Err(PgWireError::PortalNotFound(portal_name.to_owned())),
    };

    let state = portal.state();
    let mut state = state.lock().await;
    if matches!(*state, PortalExecutionState::Initial) {
        match handler.do_query(client, portal.as_ref(), max_rows).await? {
            Response::Query(rows) => *state = PortalExecutionState::Suspended(rows),
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                *state = PortalExecutionState::Finished;
            }
            Response::Execution(tag) => {
                send_execution_response(client, tag).await?;
                *state = PortalExecutionState::Finished;
            }
            Response::TransactionStart(tag) => {
                send_execution_response(client, tag).await?;
                transaction_status = transaction_status.to_in_transaction_state();
                *state = PortalExecutionState::Finished;
            }
            Response::TransactionEnd(tag) => {
                send_execution_response(client, tag).await?;
                transaction_status = transaction_status.to_idle_state();
                *state = PortalExecutionState::Finished;
                drop(state);
                // The unnamed portal ends with its transaction.
                client.portal_store().rm_portal(DEFAULT_NAME);
                return finish(client, transaction_status);
            }
            Response::Error(error) => {
                client
                    .send(PgWireBackendMessage::ErrorResponse((*error).into()))
                    .await?;
                transaction_status = transaction_status.to_error_state();
                *state = PortalExecutionState::Finished;
            }
            Response::CopyIn(copy) => {
                client.set_state(PgWireConnectionState::CopyInProgress(true));
                send_copy_in_response(client, copy).await?;
                *state = PortalExecutionState::Finished;
            }
            Response::CopyOut(copy) => {
                send_copy_out_response(client, copy).await?;
                *state = PortalExecutionState::Finished;
            }
            Response::CopyBoth(copy) => {
                client.set_state(PgWireConnectionState::CopyInProgress(true));
                send_copy_both_response(client, copy).await?;
                *state = PortalExecutionState::Finished;
            }
        }
        if !matches!(*state, PortalExecutionState::Suspended(_)) {
            drop(state);
            return finish(client, transaction_status);
        }
    }

    match state.deref_mut() {
        PortalExecutionState::Suspended(response) => {
            let mut sent = 0usize;
            let mut more = true;
            while max_rows == 0 || sent < max_rows {
                match response.data_rows().next().await {
                    Some(row) => {
                        client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                        sent += 1;
                    }
                    None => {
                        more = false;
                        break;
                    }
                }
            }
            if more && max_rows != 0 {
                // A row limit reached exactly at the end still reports
                // more: PostgreSQL does the same.
                client
                    .send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                    .await?;
            } else {
                let tag = Tag::new(response.command_tag()).with_rows(sent);
                client
                    .send(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
                *state = PortalExecutionState::Finished;
            }
        }
        // An Execute after the end: PostgreSQL answers with an empty
        // completion of the same command.
        PortalExecutionState::Finished => {
            client
                .send(PgWireBackendMessage::CommandComplete(
                    Tag::new("SELECT").with_rows(0).into(),
                ))
                .await?;
        }
        PortalExecutionState::Initial => {}
    }
    drop(state);
    finish(client, transaction_status)
}

fn finish<C: ClientInfo>(
    client: &mut C,
    transaction_status: datafusion_postgres::pgwire::messages::response::TransactionStatus,
) -> PgWireResult<()> {
    if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(transaction_status);
    }
    Ok(())
}
