//! PostgreSQL frontend messages framed and checked before any decoder sees them.
//!
//! pgwire's decoders trust the lengths inside a message: a Bind whose
//! parameter claims 2^31 bytes, or a count larger than the message, reads
//! past the message's end and panics (`split_to out of bounds`), and an
//! outer length near 2^31 made the server reserve that much memory. So the
//! connection loop cuts each message out of the byte stream itself, bounded
//! by the message's own length and by a size limit, and walks its body here
//! field by field, as PostgreSQL's `pq_getmsg*` functions do, before the
//! decoder is handed exactly that one message.
//!
//! A message that cannot be real (bad length, unknown type, fields that do
//! not add up) ends the connection with a FATAL `08P01`, as PostgreSQL
//! does: the stream cannot be trusted to be in step any more. A message
//! that is well formed but carries text that is not UTF-8 is an ordinary
//! `22021` error and the session goes on.

/// The SQLSTATEs these checks answer with.
pub mod codes {
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
}

/// PostgreSQL's bound for the start-up packet and for the messages that
/// only carry names (`MAX_STARTUP_PACKET_LENGTH`, `PQ_SMALL_MESSAGE_LIMIT`).
pub const SMALL_MESSAGE_LIMIT: usize = 10_000;
/// PostgreSQL's bound for a password or SASL message (`PG_MAX_AUTH_TOKEN_LENGTH`).
const AUTH_MESSAGE_LIMIT: usize = 65_535;
/// The default bound for Query, Parse, Bind, CopyData and CopyFail.
/// PostgreSQL takes up to 1 GB; a gateway that holds the message, its parse
/// tree and its plan at once for every session keeps a much smaller one.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Where the connection is: before start-up, messages have no type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Startup,
    Typed,
}

/// How much of the next message the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// The whole message is the buffer's first `len` bytes.
    Complete { len: usize },
    /// At least `needed` more bytes must arrive.
    Incomplete { needed: usize },
}

/// What an untyped start-up message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupKind {
    SslRequest,
    GssRequest,
    Cancel,
    Startup,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("invalid message length {0}")]
    BadLength(i64),
    #[error(
        "a {what} message of {len} bytes is larger than the limit of {limit} bytes \
         ([limits] max_message_bytes)"
    )]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("invalid frontend message type {0}")]
    UnknownType(u8),
    #[error("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.2")]
    UnsupportedProtocol { major: i32, minor: i32 },
    #[error("invalid {what} message format: {why}")]
    Malformed {
        what: &'static str,
        why: &'static str,
    },
    #[error("invalid byte sequence for encoding \"UTF8\" in the {what} message's {field}")]
    NotUtf8 {
        what: &'static str,
        field: &'static str,
    },
}

impl FrameError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => codes::PROGRAM_LIMIT_EXCEEDED,
            Self::UnsupportedProtocol { .. } => codes::FEATURE_NOT_SUPPORTED,
            Self::NotUtf8 { .. } => codes::CHARACTER_NOT_IN_REPERTOIRE,
            _ => codes::PROTOCOL_VIOLATION,
        }
    }

    /// Whether the connection must end: the stream is out of step, or (as
    /// PostgreSQL) a start-up that cannot be served.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::NotUtf8 { .. })
    }
}

/// The message's name and size bound, by type byte; unknown types are refused.
fn typed_message(kind: u8, max_message_bytes: usize) -> Result<(&'static str, usize), FrameError> {
    let large = max_message_bytes;
    Ok(match kind {
        b'Q' => ("Query", large),
        b'P' => ("Parse", large),
        b'B' => ("Bind", large),
        b'd' => ("CopyData", large),
        b'f' => ("CopyFail", large),
        b'p' => ("password", AUTH_MESSAGE_LIMIT),
        b'E' => ("Execute", SMALL_MESSAGE_LIMIT),
        b'D' => ("Describe", SMALL_MESSAGE_LIMIT),
        b'C' => ("Close", SMALL_MESSAGE_LIMIT),
        b'S' => ("Sync", SMALL_MESSAGE_LIMIT),
        b'H' => ("Flush", SMALL_MESSAGE_LIMIT),
        b'X' => ("Terminate", SMALL_MESSAGE_LIMIT),
        b'c' => ("CopyDone", SMALL_MESSAGE_LIMIT),
        other => return Err(FrameError::UnknownType(other)),
    })
}

fn read_i32(bytes: &[u8]) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    i32::from_be_bytes(word)
}

/// Finds the next message at the start of `buf`, refusing a length that
/// cannot be real or is over its bound before any of its body is read.
pub fn frame(buf: &[u8], phase: Phase, max_message_bytes: usize) -> Result<Frame, FrameError> {
    let (header, limit, what) = match phase {
        Phase::Startup => (0, SMALL_MESSAGE_LIMIT, "start-up"),
        Phase::Typed => {
            let Some(&kind) = buf.first() else {
                return Ok(Frame::Incomplete { needed: 5 });
            };
            let (what, limit) = typed_message(kind, max_message_bytes)?;
            (1, limit, what)
        }
    };
    if buf.len() < header + 4 {
        return Ok(Frame::Incomplete {
            needed: header + 4 - buf.len(),
        });
    }
    let declared = read_i32(&buf[header..]);
    let smallest = if phase == Phase::Startup { 8 } else { 4 };
    if declared < smallest {
        return Err(FrameError::BadLength(declared.into()));
    }
    let len = declared as usize;
    if len > limit {
        if phase == Phase::Startup {
            return Err(FrameError::BadLength(declared.into()));
        }
        return Err(FrameError::TooLarge { what, len, limit });
    }
    let total = header + len;
    if buf.len() >= total {
        Ok(Frame::Complete { len: total })
    } else {
        Ok(Frame::Incomplete {
            needed: total - buf.len(),
        })
    }
}

/// Reads a message body field by field, never past its end.
struct Body<'a> {
    what: &'static str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Body<'a> {
    fn malformed(&self, why: &'static str) -> FrameError {
        FrameError::Malformed {
            what: self.what,
            why,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.malformed("a field runs past the end of the message"))?;
        let field = &self.bytes[self.at..end];
        self.at = end;
        Ok(field)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, FrameError> {
        let field = self.take(2)?;
        Ok(i16::from_be_bytes([field[0], field[1]]))
    }

    fn i32(&mut self) -> Result<i32, FrameError> {
        Ok(read_i32(self.take(4)?))
    }

    /// A count of following items, each at least `item_bytes` long.
    fn count(&mut self, item_bytes: usize) -> Result<usize, FrameError> {
        let count = self.i16()?;
        let count = usize::try_from(count).map_err(|_| self.malformed("a negative count"))?;
        if count.saturating_mul(item_bytes) > self.bytes.len() - self.at {
            return Err(self.malformed("a count larger than the message"));
        }
        Ok(count)
    }

    /// A NUL-terminated string, which must be UTF-8.
    fn cstring(&mut self, field: &'static str) -> Result<&'a [u8], FrameError> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.malformed("a string without its terminating NUL"))?;
        self.at += end + 1;
        let text = &rest[..end];
        if std::str::from_utf8(text).is_err() {
            return Err(FrameError::NotUtf8 {
                what: self.what,
                field,
            });
        }
        Ok(text)
    }

    fn format_codes(&mut self) -> Result<usize, FrameError> {
        let count = self.count(2)?;
        for _ in 0..count {
            if !matches!(self.i16()?, 0 | 1) {
                return Err(self.malformed("a format code other than 0 (text) or 1 (binary)"));
            }
        }
        Ok(count)
    }

    fn end(&self) -> Result<(), FrameError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.malformed("bytes left over after its last field"))
        }
    }
}

/// Checks an untyped start-up message (`frame` has cut it) and says what it is.
pub fn check_startup(message: &[u8]) -> Result<StartupKind, FrameError> {
    let len = message.len();
    let code = read_i32(&message[4..]);
    match code {
        SSL_REQUEST | GSSENC_REQUEST if len != 8 => Err(FrameError::BadLength(len as i64)),
        SSL_REQUEST => Ok(StartupKind::SslRequest),
        GSSENC_REQUEST => Ok(StartupKind::GssRequest),
        // Protocol 3.2 allows secret keys of up to 256 bytes.
        CANCEL_REQUEST if !(16..=12 + 256).contains(&len) => Err(FrameError::BadLength(len as i64)),
        CANCEL_REQUEST => Ok(StartupKind::Cancel),
        version => {
            let (major, minor) = (version >> 16, version & 0xffff);
            if major != 3 || minor > 2 {
                return Err(FrameError::UnsupportedProtocol { major, minor });
            }
            let mut body = Body {
                what: "start-up",
                bytes: &message[8..],
                at: 0,
            };
            // Name/value pairs, ended by an empty name.
            loop {
                let name = body.cstring("parameter name")?;
                if name.is_empty() {
                    break;
                }
                body.cstring("parameter value")?;
            }
            body.end()?;
            Ok(StartupKind::Startup)
        }
    }
}

/// Checks a typed message's body against its type, in place. An Execute
/// with a negative row count is rewritten to 0, which PostgreSQL reads as
/// "all rows" and pgwire would read as a count near 2^64.
pub fn check_typed(message: &mut [u8]) -> Result<(), FrameError> {
    let kind = message[0];
    let (what, _) = typed_message(kind, usize::MAX)?;
    let mut body = Body {
        what,
        bytes: &message[5..],
        at: 0,
    };
    match kind {
        b'Q' => {
            body.cstring("query text")?;
        }
        b'P' => {
            body.cstring("statement name")?;
            body.cstring("query text")?;
            let types = body.count(4)?;
            body.take(types * 4)?;
        }
        b'B' => {
            body.cstring("portal name")?;
            body.cstring("statement name")?;
            let formats = body.format_codes()?;
            let parameters = body.count(4)?;
            if formats > 1 && formats != parameters {
                return Err(
                    body.malformed("a format count that is not 0, 1 or the parameter count")
                );
            }
            for _ in 0..parameters {
                match body.i32()? {
                    -1 => {}
                    len if len < 0 => return Err(body.malformed("a parameter length below -1")),
                    len => {
                        body.take(len as usize)?;
                    }
                }
            }
            body.format_codes()?;
        }
        b'E' => {
            body.cstring("portal name")?;
            let at = 5 + body.at;
            let max_rows = body.i32()?;
            body.end()?;
            if max_rows < 0 {
                message[at..at + 4].copy_from_slice(&0i32.to_be_bytes());
            }
            return Ok(());
        }
        b'D' | b'C' => {
            if !matches!(body.u8()?, b'S' | b'P') {
                return Err(body.malformed("a target other than 'S' (statement) or 'P' (portal)"));
            }
            body.cstring("name")?;
        }
        b'f' => {
            body.cstring("error message")?;
        }
        // Their bodies are opaque bytes (COPY data, password or SASL data)
        // that the handlers read with their own bounds.
        b'd' | b'p' => return Ok(()),
        // Sync, Flush, Terminate, CopyDone: no body.
        _ => {}
    }
    body.end()
}

#[cfg(test)]
mod tests;
