//! One client connection: the message loop pgwire's `process_socket` runs,
//! with every message framed and checked first (see `frames`).
//!
//! pgwire's loop hands its decoder the whole read buffer, and its decoders
//! trust the lengths inside a message. Here the loop reads the socket
//! itself, cuts one message at a time out of its own buffer (refusing a
//! length over the limit before reading the body), checks the fields, and
//! only then hands pgwire's decoder a buffer that holds exactly that
//! message. The handlers and `process_message` are pgwire's, unchanged.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use datafusion_postgres::pgwire::api::{
    ClientInfo, DefaultClient, ErrorHandler, PgWireConnectionState, PgWireServerHandlers,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use datafusion_postgres::pgwire::messages::response::{GssEncResponse, SslResponse};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::server::{
    PgWireMessageServerCodec, process_error, process_message,
};
use futures::SinkExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Framed};

use crate::sqlstate::codes;
use tributary_frames::{self as frames, Frame, FrameError, Phase, StartupKind};

/// Bytes read from the socket at a time at most: a large message grows the
/// buffer as its bytes arrive, never by what its header claims.
const READ_CHUNK: usize = 64 << 10;

/// What bounds one connection's input.
#[derive(Debug, Clone, Copy)]
pub struct WireLimits {
    /// The largest Query, Parse, Bind or CopyData message taken.
    pub max_message_bytes: usize,
    /// How long a client has to finish start-up (as PostgreSQL's
    /// `authentication_timeout`, one minute by default).
    pub startup_timeout: Duration,
}

impl Default for WireLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: frames::DEFAULT_MAX_MESSAGE_BYTES,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ended {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0}")]
    Refused(FrameError),
    #[error("start-up took longer than {0:?}")]
    StartupTimeout(Duration),
}

type Socket<S> = Framed<TcpStream, PgWireMessageServerCodec<S>>;

/// Reads until `inbox` starts with a whole message and cuts it off.
/// `None` at a clean end of the stream.
async fn next_message<S>(
    socket: &mut Socket<S>,
    inbox: &mut BytesMut,
    phase: Phase,
    limits: &WireLimits,
) -> Result<Option<BytesMut>, Ended> {
    loop {
        match frames::frame(inbox, phase, limits.max_message_bytes).map_err(Ended::Refused)? {
            Frame::Complete { len } => return Ok(Some(inbox.split_to(len))),
            Frame::Incomplete { needed } => {
                inbox.reserve(needed.clamp(8 << 10, READ_CHUNK));
                if socket.get_mut().read_buf(inbox).await? == 0 {
                    return Ok(None);
                }
            }
        }
    }
}

/// Answers an SSLRequest or GSSENCRequest with 'N': no encryption (yet).
async fn refuse_encryption<S>(socket: &mut Socket<S>, kind: StartupKind) -> io::Result<()> {
    let answer = match kind {
        StartupKind::GssRequest => PgWireBackendMessage::GssEncResponse(GssEncResponse::Refuse),
        _ => PgWireBackendMessage::SslResponse(SslResponse::Refuse),
    };
    socket.send(answer).await
}

/// Tells the client why its connection ends, then ends it.
async fn send_fatal<S>(socket: &mut Socket<S>, code: &str, message: String) -> io::Result<()> {
    let info = ErrorInfo::new("FATAL".to_owned(), code.to_owned(), message);
    socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await?;
    socket.close().await
}

/// Serves one connection until the client leaves, its input is refused, or
/// start-up runs out of time.
pub(crate) async fn serve_connection<H: PgWireServerHandlers>(
    tcp: TcpStream,
    peer: SocketAddr,
    handlers: &H,
    limits: WireLimits,
) -> Result<(), Ended> {
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();

    let startup_deadline = tokio::time::Instant::now() + limits.startup_timeout;
    let mut socket = Framed::new(
        tcp,
        PgWireMessageServerCodec::new(DefaultClient::new(peer, false)),
    );
    let mut inbox = BytesMut::new();
    let mut phase = Phase::Startup;
    let outcome: Result<(), Ended> = async {
        loop {
            let starting = matches!(
                socket.state(),
                PgWireConnectionState::AwaitingSslRequest
                    | PgWireConnectionState::AwaitingStartup
                    | PgWireConnectionState::AuthenticationInProgress
            );
            let next = next_message(&mut socket, &mut inbox, phase, &limits);
            let message = if starting {
                tokio::time::timeout_at(startup_deadline, next)
                    .await
                    .map_err(|_| Ended::StartupTimeout(limits.startup_timeout))??
            } else {
                next.await?
            };
            let Some(mut message) = message else {
                return Ok(());
            };

            if phase == Phase::Startup {
                match frames::check_startup(&message).map_err(Ended::Refused)? {
                    // No TLS yet: the client goes on in plaintext or leaves.
                    kind @ (StartupKind::SslRequest | StartupKind::GssRequest) => {
                        refuse_encryption(&mut socket, kind).await?;
                        continue;
                    }
                    StartupKind::Cancel | StartupKind::Startup => {
                        // The decoder reads the start-up packet, not an SSL request.
                        socket.set_state(PgWireConnectionState::AwaitingStartup);
                        phase = Phase::Typed;
                    }
                }
            } else if let Err(refusal) = frames::check_typed(&mut message) {
                if refusal.is_fatal() {
                    return Err(Ended::Refused(refusal));
                }
                // A well-formed message that cannot be served: an error, and
                // the session goes on (after Sync, for the extended protocol).
                let extended_message = !matches!(message.first(), Some(b'Q'));
                let mut error = PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".to_owned(),
                    refusal.sqlstate().to_owned(),
                    refusal.to_string(),
                )));
                errors.on_error(&socket, &mut error);
                process_error(&mut socket, error, extended_message).await?;
                continue;
            }

            let decoded = socket.codec_mut().decode(&mut message);
            let message = match decoded {
                Ok(Some(message)) => message,
                // The checks above make these unreachable; if pgwire still
                // disagrees, the stream is not to be trusted.
                Ok(None) | Err(_) => {
                    return Err(Ended::Refused(FrameError::Malformed {
                        what: "frontend",
                        why: "the decoder refused it",
                    }));
                }
            };
            // The client is leaving: close at once (asyncpg waits for it).
            if matches!(message, PgWireFrontendMessage::Terminate(_)) {
                return Ok(());
            }
            let is_extended_query = match socket.state() {
                PgWireConnectionState::CopyInProgress(extended) => extended,
                _ => message.is_extended_query(),
            };
            if let Err(mut error) = process_message(
                message,
                &mut socket,
                startup.clone(),
                simple.clone(),
                extended.clone(),
                copy.clone(),
                cancel.clone(),
            )
            .await
            {
                errors.on_error(&socket, &mut error);
                process_error(&mut socket, error, is_extended_query).await?;
            }
        }
    }
    .await;

    match &outcome {
        Err(Ended::Refused(refusal)) => {
            // The client learns why; the rest of its stream is not read.
            let _ = send_fatal(&mut socket, refusal.sqlstate(), refusal.to_string()).await;
        }
        Err(Ended::StartupTimeout(_)) => {
            let _ = send_fatal(
                &mut socket,
                codes::PROTOCOL_VIOLATION,
                "canceling authentication due to timeout".to_owned(),
            )
            .await;
        }
        _ => {}
    }
    outcome
}

/// Why a client is turned away before its session starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    TooManySessions,
    OutOfDescriptors,
}

/// Answers a client that cannot be served as PostgreSQL does: its start-up
/// packet is read (an SSL request refused on the way), then FATAL 53300.
/// No handler runs and no session is made.
pub(crate) async fn refuse_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    limits: WireLimits,
    why: Refusal,
) {
    // A short bound: a refused client must not hold a socket for a minute.
    let deadline = tokio::time::Instant::now() + limits.startup_timeout.min(Duration::from_secs(5));
    let mut socket = Framed::new(
        tcp,
        PgWireMessageServerCodec::<()>::new(DefaultClient::new(peer, false)),
    );
    let mut inbox = BytesMut::new();
    let read_startup = async {
        loop {
            let Some(message) =
                next_message(&mut socket, &mut inbox, Phase::Startup, &limits).await?
            else {
                return Ok::<bool, Ended>(false);
            };
            match frames::check_startup(&message).map_err(Ended::Refused)? {
                kind @ (StartupKind::SslRequest | StartupKind::GssRequest) => {
                    refuse_encryption(&mut socket, kind).await?;
                }
                // A cancel is answered by closing, as always.
                StartupKind::Cancel => return Ok(false),
                StartupKind::Startup => return Ok(true),
            }
        }
    };
    if let Ok(Ok(true)) = tokio::time::timeout_at(deadline, read_startup).await {
        let _ = send_fatal(
            &mut socket,
            codes::TOO_MANY_CONNECTIONS,
            match why {
                Refusal::TooManySessions => {
                    "sorry, too many clients already ([limits] max_sessions)".to_owned()
                }
                Refusal::OutOfDescriptors => {
                    "sorry, the server is out of file descriptors; retry later".to_owned()
                }
            },
        )
        .await;
    }
}
