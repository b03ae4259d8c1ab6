//! A pg wire client that sends exactly the bytes a test gives it: for
//! messages no driver would send (lying lengths, huge counts, bad types).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A typed frontend message: type byte, length, body.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A start-up packet for user `tributary`, protocol 3.0.
pub fn startup() -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0tributary\0\0");
    let mut bytes = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    bytes
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(b'Q', &body)
}

pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = format!("{name}\0{sql}\0").into_bytes();
    body.extend_from_slice(&0i16.to_be_bytes());
    message(b'P', &body)
}

/// Bind of `statement` to `portal` with text parameters.
pub fn bind(portal: &str, statement: &str, parameters: &[Option<&[u8]>]) -> Vec<u8> {
    let mut body = format!("{portal}\0{statement}\0").into_bytes();
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&(parameters.len() as i16).to_be_bytes());
    for parameter in parameters {
        match parameter {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(value) => {
                body.extend_from_slice(&(value.len() as i32).to_be_bytes());
                body.extend_from_slice(value);
            }
        }
    }
    body.extend_from_slice(&0i16.to_be_bytes());
    message(b'B', &body)
}

pub fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut body = format!("{portal}\0").into_bytes();
    body.extend_from_slice(&max_rows.to_be_bytes());
    message(b'E', &body)
}

pub fn sync() -> Vec<u8> {
    message(b'S', b"")
}

/// One backend message.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: u8,
    pub body: Vec<u8>,
}

impl Reply {
    /// A field of an ErrorResponse or NoticeResponse ('C' is the SQLSTATE).
    pub fn field(&self, code: u8) -> Option<String> {
        let mut rest = &self.body[..];
        while let Some((&field, tail)) = rest.split_first() {
            if field == 0 {
                break;
            }
            let end = tail.iter().position(|b| *b == 0)?;
            if field == code {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[end + 1..];
        }
        None
    }

    /// The SQLSTATE of an ErrorResponse.
    pub fn sqlstate(&self) -> Option<String> {
        (self.kind == b'E').then(|| self.field(b'C')).flatten()
    }

    /// The tag of a CommandComplete.
    pub fn tag(&self) -> Option<String> {
        (self.kind == b'C').then(|| {
            String::from_utf8_lossy(self.body.strip_suffix(b"\0").unwrap_or(&self.body))
                .into_owned()
        })
    }
}

pub struct RawClient {
    stream: TcpStream,
}

impl RawClient {
    /// Connects without sending anything.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream })
    }

    /// Connects and finishes start-up (up to the first ReadyForQuery).
    pub async fn started(addr: SocketAddr) -> std::io::Result<Self> {
        let mut client = Self::connect(addr).await?;
        client.send(&startup()).await?;
        client.read_until(b'Z').await?;
        Ok(client)
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// The next message; `None` once the server has closed the connection.
    pub async fn read(&mut self) -> std::io::Result<Option<Reply>> {
        let mut header = [0u8; 5];
        match tokio::time::timeout(Duration::from_secs(60), self.stream.read_exact(&mut header))
            .await
        {
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no reply within 60 s",
                ));
            }
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(None);
            }
            Ok(Err(error)) => return Err(error),
            Ok(Ok(_)) => {}
        }
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut body = vec![0u8; usize::try_from(len - 4).unwrap_or(0)];
        self.stream.read_exact(&mut body).await?;
        Ok(Some(Reply {
            kind: header[0],
            body,
        }))
    }

    /// Every message up to and including one of `kind` (or the close).
    pub async fn read_until(&mut self, kind: u8) -> std::io::Result<Vec<Reply>> {
        let mut replies = Vec::new();
        while let Some(reply) = self.read().await? {
            let last = reply.kind == kind;
            replies.push(reply);
            if last {
                break;
            }
        }
        Ok(replies)
    }

    /// Everything until the server closes the connection.
    pub async fn read_to_close(&mut self) -> std::io::Result<Vec<Reply>> {
        let mut replies = Vec::new();
        while let Some(reply) = self.read().await? {
            replies.push(reply);
        }
        Ok(replies)
    }
}
