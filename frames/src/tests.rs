use super::*;

const LIMIT: usize = DEFAULT_MAX_MESSAGE_BYTES;

fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut message = vec![kind];
    message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(body);
    message
}

fn bind(parameters: &[Option<&[u8]>], formats: &[i16]) -> Vec<u8> {
    let mut body = b"\0\0".to_vec();
    body.extend_from_slice(&(formats.len() as i16).to_be_bytes());
    for format in formats {
        body.extend_from_slice(&format.to_be_bytes());
    }
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
    typed(b'B', &body)
}

fn malformed(result: Result<(), FrameError>) -> bool {
    matches!(result, Err(FrameError::Malformed { .. }))
}

#[test]
fn frames_are_cut_at_their_declared_length() {
    let mut stream = typed(b'Q', b"SELECT 1\0");
    let first = stream.len();
    stream.extend_from_slice(&typed(b'S', b""));
    assert_eq!(
        frame(&stream, Phase::Typed, LIMIT),
        Ok(Frame::Complete { len: first })
    );
    assert_eq!(
        frame(&stream[..3], Phase::Typed, LIMIT),
        Ok(Frame::Incomplete { needed: 2 })
    );
    assert_eq!(
        frame(&stream[..first - 1], Phase::Typed, LIMIT),
        Ok(Frame::Incomplete { needed: 1 })
    );
}

#[test]
fn lying_outer_lengths_are_refused_before_the_body_arrives() {
    // A Bind claiming 2^31 - 1 bytes: refused from its header alone.
    let header = [b'B', 0x7f, 0xff, 0xff, 0xff];
    assert!(matches!(
        frame(&header, Phase::Typed, LIMIT),
        Err(FrameError::TooLarge { what: "Bind", .. })
    ));
    // A length below the length field's own size.
    assert_eq!(
        frame(&[b'Q', 0, 0, 0, 3], Phase::Typed, LIMIT),
        Err(FrameError::BadLength(3))
    );
    assert_eq!(
        frame(&[b'Q', 0xff, 0xff, 0xff, 0xff], Phase::Typed, LIMIT),
        Err(FrameError::BadLength(-1))
    );
    // Name-only messages keep PostgreSQL's small bound.
    assert!(matches!(
        frame(&[b'E', 0, 1, 0, 0], Phase::Typed, LIMIT),
        Err(FrameError::TooLarge {
            what: "Execute",
            ..
        })
    ));
    // Start-up packets over 10,000 bytes, as PostgreSQL.
    assert_eq!(
        frame(&[0, 0, 0x27, 0x11], Phase::Startup, LIMIT),
        Err(FrameError::BadLength(10_001))
    );
}

#[test]
fn unknown_message_types_are_refused() {
    assert_eq!(
        frame(&[b'Z', 0, 0, 0, 4], Phase::Typed, LIMIT),
        Err(FrameError::UnknownType(b'Z'))
    );
    assert_eq!(
        frame(&[0], Phase::Typed, LIMIT),
        Err(FrameError::UnknownType(0))
    );
}

#[test]
fn a_bind_parameter_longer_than_its_message_is_malformed() {
    // The case that panicked in pgwire: a parameter claiming 2^31 - 1 bytes.
    let mut message = bind(&[Some(b"1234567890")], &[]);
    let at = message.len() - 2 - 10 - 4;
    message[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(malformed(check_typed(&mut message)));
}

#[test]
fn bind_counts_and_formats_are_checked() {
    assert_eq!(check_typed(&mut bind(&[Some(b"1"), None], &[0, 1])), Ok(()));
    assert_eq!(check_typed(&mut bind(&[Some(b"1"), None], &[1])), Ok(()));
    // Two formats for three parameters.
    assert!(malformed(check_typed(&mut bind(
        &[Some(b"1"), None, None],
        &[0, 1]
    ))));
    // A format code of 7.
    assert!(malformed(check_typed(&mut bind(&[Some(b"1")], &[7]))));
    // A parameter count far above what the message holds.
    let mut message = bind(&[], &[]);
    let at = message.len() - 4;
    message[at..at + 2].copy_from_slice(&i16::MAX.to_be_bytes());
    assert!(malformed(check_typed(&mut message)));
    // A negative count.
    let mut message = bind(&[], &[]);
    message[7..9].copy_from_slice(&(-1i16).to_be_bytes());
    assert!(malformed(check_typed(&mut message)));
}

#[test]
fn parse_type_counts_must_fit() {
    let mut body = b"\0SELECT $1\0".to_vec();
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&23u32.to_be_bytes());
    assert_eq!(check_typed(&mut typed(b'P', &body)), Ok(()));
    let mut body = b"\0SELECT $1\0".to_vec();
    body.extend_from_slice(&1000i16.to_be_bytes());
    assert!(malformed(check_typed(&mut typed(b'P', &body))));
}

#[test]
fn a_string_without_its_nul_or_with_bytes_after_it_is_malformed() {
    assert!(malformed(check_typed(&mut typed(b'Q', b"SELECT 1"))));
    // A NUL inside the text leaves bytes after the first string.
    assert!(malformed(check_typed(&mut typed(b'Q', b"SELECT\0 1\0"))));
    assert!(malformed(check_typed(&mut typed(b'S', b"x"))));
}

#[test]
fn text_that_is_not_utf8_is_an_ordinary_error() {
    let error = check_typed(&mut typed(b'Q', b"SELECT '\xff'\0")).expect_err("not UTF-8");
    assert_eq!(error.sqlstate(), "22021");
    assert!(!error.is_fatal());
}

#[test]
fn a_negative_execute_row_count_means_all_rows() {
    let mut message = typed(b'E', b"\0\xff\xff\xff\xff");
    assert_eq!(check_typed(&mut message), Ok(()));
    assert_eq!(&message[6..], &[0, 0, 0, 0]);
    let mut message = typed(b'E', b"\0\x7f\xff\xff\xff");
    assert_eq!(check_typed(&mut message), Ok(()));
    assert_eq!(&message[6..], &[0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn describe_and_close_targets_are_checked() {
    assert_eq!(check_typed(&mut typed(b'D', b"Sname\0")), Ok(()));
    assert!(malformed(check_typed(&mut typed(b'C', b"Xname\0"))));
    assert!(malformed(check_typed(&mut typed(b'D', b""))));
}

fn startup(pairs: &[u8]) -> Vec<u8> {
    let mut message = ((pairs.len() + 8) as i32).to_be_bytes().to_vec();
    message.extend_from_slice(&196_608i32.to_be_bytes());
    message.extend_from_slice(pairs);
    message
}

#[test]
fn startup_packets_are_classified_and_checked() {
    let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    assert_eq!(check_startup(&ssl), Ok(StartupKind::SslRequest));
    let mut cancel = vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e];
    cancel.extend_from_slice(&[0; 8]);
    assert_eq!(check_startup(&cancel), Ok(StartupKind::Cancel));
    assert_eq!(
        check_startup(&startup(b"user\0tributary\0\0")),
        Ok(StartupKind::Startup)
    );
    // A name without its value, and a list without its final NUL.
    assert!(check_startup(&startup(b"user\0\0")).is_err());
    assert!(check_startup(&startup(b"user\0tributary\0")).is_err());
    // An SSLRequest of the wrong length.
    let mut long_ssl = ssl.to_vec();
    long_ssl[3] = 12;
    long_ssl.extend_from_slice(&[0; 4]);
    assert_eq!(check_startup(&long_ssl), Err(FrameError::BadLength(12)));
    // Protocol 2.0.
    let mut old = startup(b"\0");
    old[4..8].copy_from_slice(&0x0002_0000i32.to_be_bytes());
    assert!(matches!(
        check_startup(&old),
        Err(FrameError::UnsupportedProtocol { major: 2, .. })
    ));
}

#[test]
fn no_input_panics_the_checks() {
    // Every prefix and every single-byte corruption of real messages.
    let mut startup_message = startup(b"user\0tributary\0database\0sample\0\0");
    let messages = [
        bind(&[Some(b"42"), None], &[0]),
        typed(b'E', b"\0\0\0\0\0"),
        typed(b'D', b"P\0"),
        typed(b'Q', b"SELECT 1\0"),
    ];
    for message in &messages {
        for cut in 0..message.len() {
            let _ = frame(&message[..cut], Phase::Typed, LIMIT);
        }
        for at in 0..message.len() {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut mutated = message.clone();
                mutated[at] = value;
                if let Ok(Frame::Complete { len }) = frame(&mutated, Phase::Typed, LIMIT) {
                    let _ = check_typed(&mut mutated[..len]);
                }
            }
        }
    }
    for at in 0..startup_message.len() {
        let original = startup_message[at];
        for value in [0u8, 0xff] {
            startup_message[at] = value;
            if let Ok(Frame::Complete { len }) = frame(&startup_message, Phase::Startup, LIMIT) {
                let _ = check_startup(&startup_message[..len]);
            }
        }
        startup_message[at] = original;
    }
}

/// xorshift64*, for the decoder property test below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Whatever passes the checks, pgwire's decoder reads without panicking and
/// without reading past the message: the property the connection loop
/// relies on. 200,000 random mutations of real messages of every kind.
#[test]
fn every_checked_message_decodes_within_itself() {
    use bytes::BytesMut;
    use pgwire::messages::{DecodeContext, PgWireFrontendMessage};

    let seeds = [
        typed(b'Q', b"SELECT 1\0"),
        typed(b'P', b"s\0SELECT $1\0\0\x01\0\0\0\x17"),
        bind(&[Some(b"42"), None], &[0]),
        bind(&[Some(b"x")], &[1]),
        typed(b'E', b"p\0\0\0\0\x05"),
        typed(b'D', b"Ss\0"),
        typed(b'C', b"Pp\0"),
        typed(b'S', b""),
        typed(b'H', b""),
        typed(b'X', b""),
        typed(b'd', b"1\t2\n"),
        typed(b'c', b""),
        typed(b'f', b"oops\0"),
        typed(b'p', b"secret\0"),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut typed_context = DecodeContext::default();
    typed_context.awaiting_frontend_ssl = false;
    typed_context.awaiting_frontend_startup = false;
    let mut accepted = 0;
    for _ in 0..200_000 {
        let mut message = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            match rng.below(4) {
                0 => {
                    let at = rng.below(message.len());
                    message[at] = (rng.next() & 0xff) as u8;
                }
                1 if message.len() > 6 => {
                    let at = 5 + rng.below(message.len() - 5);
                    message.insert(at, (rng.next() & 0xff) as u8);
                    let len = (message.len() - 1) as i32;
                    message[1..5].copy_from_slice(&len.to_be_bytes());
                }
                2 if message.len() > 5 => {
                    message.remove(5 + rng.below(message.len() - 5));
                    let len = (message.len() - 1) as i32;
                    message[1..5].copy_from_slice(&len.to_be_bytes());
                }
                _ => {}
            }
        }
        let Ok(Frame::Complete { len }) = frame(&message, Phase::Typed, LIMIT) else {
            continue;
        };
        let mut one = BytesMut::from(&message[..len]);
        if check_typed(&mut one).is_err() {
            continue;
        }
        accepted += 1;
        if let Ok(Some(_)) = PgWireFrontendMessage::decode(&mut one, &typed_context) {
            assert!(one.is_empty(), "left {} bytes of {message:?}", one.len());
        }
    }
    // The mutations must leave many messages valid, or this tests nothing.
    assert!(
        accepted > 20_000,
        "only {accepted} mutated messages passed the checks"
    );
}
