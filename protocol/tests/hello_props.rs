//! Property tests of the handshake's future: the Hello today's clients send still decodes, and a
//! Hello that later versions extend (appended fields, new kinds of client) still decodes, so that
//! a daemon can always answer it instead of dropping the connection.

use proptest::prelude::*;
use protocol::frame::{MAX_CLIENT_FRAME, decode_hello, encode};
use protocol::{ClientKind, ClientMessage, Hello, HelloFrame, Request};
use serde::Serialize;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(512)
}

fn kind() -> impl Strategy<Value = ClientKind> {
    proptest::sample::select(ClientKind::ALL.to_vec())
}

fn unsigned32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(127), Just(128), Just(u32::MAX), any::<u32>()]
}

/// What a later version's Hello may look like: the frozen fields, then new ones.
#[derive(Serialize)]
enum LaterClientMessage {
    Hello(LaterHello),
}

#[derive(Serialize)]
struct LaterHello {
    version: u32,
    client_pid: u32,
    kind: u32,
    session_name: String,
    features: Vec<u16>,
    parent_pid: Option<u64>,
}

fn payload<T: Serialize>(message: &T) -> Vec<u8> {
    encode(message, MAX_CLIENT_FRAME).unwrap()[4..].to_vec()
}

#[test]
fn todays_hello_bytes_are_frozen_and_decode() {
    let hello = ClientMessage::Hello(Hello {
        version: 2,
        client_pid: 5,
        kind: ClientKind::Human,
    });
    assert_eq!(payload(&hello), [0, 2, 5, 2]);
    assert_eq!(
        decode_hello(&[0, 2, 5, 2]).unwrap(),
        Some(HelloFrame {
            version: 2,
            client_pid: 5,
            kind_code: 2
        })
    );
}

#[test]
fn kind_codes_are_what_postcard_sends() {
    for kind in ClientKind::ALL {
        assert_eq!(postcard::to_allocvec(&kind).unwrap(), [kind.code() as u8]);
        assert_eq!(ClientKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(ClientKind::from_code(ClientKind::ALL.len() as u32), None);
}

#[test]
fn other_first_frames_are_not_hellos() {
    let call = ClientMessage::Call {
        id: 1,
        request: Request::GetStatus,
    };
    assert_eq!(decode_hello(&payload(&call)).unwrap(), None);
    assert!(decode_hello(&[]).is_err());
    assert!(decode_hello(&[0, 2]).is_err());
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_hello_of_today_decodes(version in unsigned32(), client_pid in unsigned32(), kind in kind()) {
        let bytes = payload(&ClientMessage::Hello(Hello { version, client_pid, kind }));
        let frame = decode_hello(&bytes).unwrap().unwrap();
        prop_assert_eq!(frame, HelloFrame { version, client_pid, kind_code: kind.code() });
        prop_assert_eq!(frame.kind(), Some(kind));
    }

    #[test]
    fn a_hello_with_appended_fields_decodes(
        version in unsigned32(),
        client_pid in unsigned32(),
        kind in unsigned32(),
        session_name in ".{0,40}",
        features in proptest::collection::vec(any::<u16>(), 0..8),
        parent_pid in any::<Option<u64>>(),
    ) {
        let later = LaterClientMessage::Hello(LaterHello {
            version, client_pid, kind, session_name, features, parent_pid,
        });
        let frame = decode_hello(&payload(&later)).unwrap().unwrap();
        prop_assert_eq!(frame, HelloFrame { version, client_pid, kind_code: kind });
        prop_assert_eq!(frame.kind(), ClientKind::from_code(kind));
    }

    #[test]
    fn any_bytes_after_a_hello_are_ignored(
        kind in kind(),
        appended in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = payload(&ClientMessage::Hello(Hello { version: 2, client_pid: 9, kind }));
        bytes.extend_from_slice(&appended);
        prop_assert_eq!(
            decode_hello(&bytes).unwrap(),
            Some(HelloFrame { version: 2, client_pid: 9, kind_code: kind.code() })
        );
    }

    #[test]
    fn no_input_makes_decode_hello_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
        let _ = decode_hello(&bytes);
    }
}
