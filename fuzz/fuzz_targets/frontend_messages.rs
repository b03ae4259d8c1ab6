//! A byte stream from a client, cut and checked by tributary-frames as the
//! connection loop does, and every message that passes handed to pgwire's
//! decoder: nothing may panic, and the decoder must read exactly the
//! message it was given. The first input byte says where the stream starts
//! (even: before start-up, odd: after).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage};
use tributary_frames::{
    check_startup, check_typed, frame, Frame, Phase, StartupKind, DEFAULT_MAX_MESSAGE_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let Some((first, mut rest)) = data.split_first() else {
        return;
    };
    let mut phase = if first & 1 == 0 {
        Phase::Startup
    } else {
        Phase::Typed
    };
    let mut startup = DecodeContext::default();
    startup.awaiting_frontend_ssl = false;
    let mut typed = DecodeContext::default();
    typed.awaiting_frontend_ssl = false;
    typed.awaiting_frontend_startup = false;
    loop {
        let Ok(Frame::Complete { len }) = frame(rest, phase, DEFAULT_MAX_MESSAGE_BYTES) else {
            return;
        };
        let mut message = BytesMut::from(&rest[..len]);
        rest = &rest[len..];
        let context = match phase {
            Phase::Startup => match check_startup(&message) {
                Ok(StartupKind::SslRequest | StartupKind::GssRequest) => continue,
                Ok(_) => {
                    phase = Phase::Typed;
                    &startup
                }
                Err(_) => return,
            },
            Phase::Typed => match check_typed(&mut message) {
                Ok(()) => &typed,
                Err(refusal) if refusal.is_fatal() => return,
                Err(_) => continue,
            },
        };
        if let Ok(Some(_)) = PgWireFrontendMessage::decode(&mut message, context) {
            assert!(
                message.is_empty(),
                "the decoder left {} bytes",
                message.len()
            );
        }
    }
});
