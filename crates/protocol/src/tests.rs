use super::*;

#[test]
fn join_round_trips() {
    let m = decode_client(r#"{"type":"join","version":1,"token":"abc"}"#).expect("valid join");
    assert_eq!(
        m,
        ClientMessage::Join {
            version: 1,
            token: "abc".into()
        }
    );
}

#[test]
fn unknown_fields_are_refused() {
    let err = decode_client(r#"{"type":"join","version":1,"token":"t","admin":true}"#)
        .expect_err("unknown field must be refused");
    assert!(err.to_string().contains("admin"), "{err}");
}

#[test]
fn unknown_types_are_refused() {
    let err = decode_client(r#"{"type":"record_everything"}"#).expect_err("unknown type");
    assert!(err.to_string().contains("record_everything"), "{err}");
}

#[test]
fn oversized_frames_are_refused() {
    let big = format!(
        r#"{{"type":"end","reason":"{}"}}"#,
        "x".repeat(MAX_CLIENT_MESSAGE_BYTES)
    );
    assert!(matches!(decode_client(&big), Err(DecodeError::TooLarge(_))));
}

#[test]
fn wrong_types_are_refused() {
    assert!(decode_client(r#"{"type":"admit","participant_id":"seven"}"#).is_err());
    assert!(decode_client(r#"{"type":"extend","minutes":-5}"#).is_err());
    assert!(decode_client("not json").is_err());
    assert!(decode_client("").is_err());
}

#[test]
fn server_messages_are_tagged_snake_case() {
    let text = encode_server(&ServerMessage::Warning {
        minutes_left: 5,
        ends_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("valid"),
    });
    assert_eq!(
        text,
        r#"{"type":"warning","minutes_left":5,"ends_at":"2027-01-15T08:00:00Z"}"#
    );
    let back: ServerMessage = serde_json::from_str(&text).expect("round trip");
    assert!(matches!(
        back,
        ServerMessage::Warning {
            minutes_left: 5,
            ..
        }
    ));
}

#[test]
fn captions_round_trip() {
    let m = decode_client(r#"{"type":"caption","text":"The witness says: yes."}"#)
        .expect("valid caption");
    assert_eq!(
        m,
        ClientMessage::Caption {
            text: "The witness says: yes.".into()
        }
    );
    assert!(
        decode_client(r#"{"type":"caption"}"#).is_err(),
        "text is required"
    );
    assert!(decode_client(r#"{"type":"caption","text":7}"#).is_err());
    let text = encode_server(&ServerMessage::Caption {
        participant_id: 3,
        role: parley_policy::Role::Interpreter,
        text: "Oui.".into(),
    });
    assert_eq!(
        text,
        r#"{"type":"caption","participant_id":3,"role":"interpreter","text":"Oui."}"#
    );
}
