//! End-to-end encryption: who is covered, and the relay of keys.

use super::*;
use parley_policy::E2eeMode;
use parley_protocol::PeerKey;

/// A public key of the right shape: 65 bytes starting 0x04, base64url.
fn key(seed: u8) -> String {
    use base64::Engine;
    let mut point = vec![seed; 65];
    point[0] = 0x04;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(point)
}

/// A wrapped sender key of the right shape (52 bytes).
fn wrapped(seed: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([seed; 52])
}

fn announce(seed: u8) -> ClientMessage {
    ClientMessage::E2eeKey {
        public_key: key(seed),
    }
}

fn e2ee(mode: E2eeMode, keys: &[(i64, u8)], without_key: &[i64]) -> ServerMessage {
    ServerMessage::E2ee {
        mode,
        keys: keys
            .iter()
            .map(|&(participant_id, seed)| PeerKey {
                participant_id,
                public_key: key(seed),
            })
            .collect(),
        without_key: without_key.to_vec(),
    }
}

/// The `e2ee` messages among `effects`, as (to, message).
fn e2ee_sent(effects: &[Effect]) -> Vec<(i64, ServerMessage)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(to, m @ ServerMessage::E2ee { .. }) => Some((*to, m.clone())),
            _ => None,
        })
        .collect()
}

/// A legal visit under `[e2ee] privileged = privileged`, nobody connected.
fn legal_visit_session(privileged: E2eeMode) -> LiveSession {
    let mut j = (*jurisdiction()).clone();
    j.e2ee = privileged;
    LiveSession::new(
        SESSION,
        SessionKind::LegalVisit,
        Arc::new(j),
        start(),
        end(),
    )
}

/// Detainee 1 and counsel 2 connect to `s` at `at`: the effects.
fn both_connect(s: &mut LiveSession, at: DateTime<Utc>) -> Vec<Effect> {
    let mut effects = connect(s, 1, Role::Detainee, at);
    effects.extend(connect(s, 2, Role::Counsel, at));
    effects
}

/// A legal visit under `[e2ee] privileged = privileged`, detainee 1 and
/// counsel 2 connected at the start.
fn legal_visit(privileged: E2eeMode) -> (LiveSession, Vec<Effect>) {
    let mut s = legal_visit_session(privileged);
    let effects = both_connect(&mut s, start());
    (s, effects)
}

#[test]
fn a_legal_visit_relays_public_keys_and_wrapped_sender_keys_between_its_two_sides() {
    let (mut s, joined) = legal_visit(E2eeMode::Offered);
    let offered = E2eeMode::Offered;
    assert_eq!(
        e2ee_sent(&joined),
        [
            (1, e2ee(offered, &[], &[])),
            (1, e2ee(offered, &[], &[2])),
            (2, e2ee(offered, &[], &[1])),
        ],
        "each is told who their media is for, and who has no key yet"
    );
    // The detainee's key goes to counsel; nothing new for the detainee.
    let effects = client_ok(&mut s, 1, announce(1), start());
    assert_eq!(effects, [Effect::Send(2, e2ee(offered, &[(1, 1)], &[]))]);
    let effects = client_ok(&mut s, 2, announce(2), start());
    assert_eq!(effects, [Effect::Send(1, e2ee(offered, &[(2, 2)], &[]))]);
    // A wrapped sender key goes to the one it names, from whom it came.
    let effects = client_ok(
        &mut s,
        1,
        ClientMessage::E2eeSenderKey {
            to: 2,
            wrapped: wrapped(9),
        },
        start(),
    );
    assert_eq!(
        effects,
        [Effect::Send(
            2,
            ServerMessage::E2eeSenderKey {
                from: 1,
                wrapped: wrapped(9)
            }
        )]
    );
    // A new key (a new page) replaces the old one.
    let effects = client_ok(&mut s, 2, announce(3), start());
    assert_eq!(effects, [Effect::Send(1, e2ee(offered, &[(2, 3)], &[]))]);
    // Counsel leaves: the detainee's media is for nobody (their client
    // makes a new sender key); counsel's new connection has no key yet.
    let left = s.disconnect(2);
    assert_eq!(e2ee_sent(&left), [(1, e2ee(offered, &[], &[]))]);
    let back = connect(&mut s, 2, Role::Counsel, start() + mins(1));
    assert_eq!(
        e2ee_sent(&back),
        [
            (1, e2ee(offered, &[], &[2])),
            (2, e2ee(offered, &[(1, 1)], &[]))
        ]
    );
}

#[test]
fn malformed_or_misdirected_keys_are_refused_and_change_nothing() {
    let (mut s, _) = legal_visit(E2eeMode::Required);
    let at = start();
    for bad in ["not base64!".to_string(), key(1)[..80].to_string(), {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([2u8; 65])
    }] {
        let refused = s
            .client(1, ClientMessage::E2eeKey { public_key: bad }, at)
            .expect_err("a malformed key is refused");
        assert_eq!(refused.code, ErrorCode::BadMessage);
        assert!(refused.message.contains("P-256"), "{}", refused.message);
    }
    let sender_key = |to: i64, wrapped: String| ClientMessage::E2eeSenderKey { to, wrapped };
    assert_eq!(
        refusal(s.client(1, sender_key(2, "AAAA".into()), at)),
        ErrorCode::BadMessage,
        "too short to be a wrapped key"
    );
    assert_eq!(
        refusal(s.client(1, sender_key(9, wrapped(1)), at)),
        ErrorCode::UnknownParticipant,
        "not someone in the visit"
    );
    // Nothing was stored: counsel still sees no key from the detainee.
    let effects = client_ok(&mut s, 2, announce(2), at);
    assert_eq!(
        effects,
        [Effect::Send(1, e2ee(E2eeMode::Required, &[(2, 2)], &[]))]
    );
}

#[test]
fn nothing_is_encrypted_end_to_end_outside_privileged_media_or_under_off() {
    let mut visit = visit_in_progress();
    assert_eq!(
        refusal(visit.client(10, announce(10), start() + mins(1))),
        ErrorCode::Forbidden,
        "a social visit may be monitored and recorded: no end-to-end keys"
    );
    let (mut off, joined) = legal_visit(E2eeMode::Off);
    assert!(e2ee_sent(&joined).is_empty(), "{joined:?}");
    assert_eq!(
        refusal(off.client(1, announce(1), start())),
        ErrorCode::Forbidden
    );
}

#[test]
fn a_legal_visit_is_covered_from_its_start_not_in_the_waiting_room() {
    let mut s = legal_visit_session(E2eeMode::Required);
    let early = start() - mins(5);
    let effects = both_connect(&mut s, early);
    assert!(e2ee_sent(&effects).is_empty());
    assert_eq!(
        refusal(s.client(1, announce(1), early)),
        ErrorCode::Forbidden
    );
    let at_start = s.tick(start());
    assert_eq!(
        e2ee_sent(&at_start),
        [
            (1, e2ee(E2eeMode::Required, &[], &[2])),
            (2, e2ee(E2eeMode::Required, &[], &[1]))
        ]
    );
}

#[test]
fn a_consultation_is_covered_for_its_members_only_while_it_lasts() {
    let mut s = full_hearing();
    let at = start() + mins(3);
    assert_eq!(
        refusal(s.client(3, announce(3), at)),
        ErrorCode::Forbidden,
        "the hearing itself is not privileged"
    );
    let opened = client_ok(
        &mut s,
        4,
        ClientMessage::Consult {
            participant_ids: vec![3, 4, 5],
        },
        at,
    );
    let offered = E2eeMode::Offered;
    assert_eq!(
        e2ee_sent(&opened),
        [
            (3, e2ee(offered, &[], &[4, 5])),
            (4, e2ee(offered, &[], &[3, 5])),
            (5, e2ee(offered, &[], &[3, 4])),
        ],
        "the judge, the witness and the observer are not covered"
    );
    client_ok(&mut s, 3, announce(3), at);
    assert_eq!(
        refusal(s.client(
            3,
            ClientMessage::E2eeSenderKey {
                to: 1,
                wrapped: wrapped(1)
            },
            at
        )),
        ErrorCode::UnknownParticipant,
        "the judge is outside the consultation"
    );
    let ended = client_ok(
        &mut s,
        1,
        ClientMessage::EndConsultation { consultation_id: 1 },
        at,
    );
    assert_eq!(
        e2ee_sent(&ended),
        [
            (3, e2ee(E2eeMode::Off, &[], &[])),
            (4, e2ee(E2eeMode::Off, &[], &[])),
            (5, e2ee(E2eeMode::Off, &[], &[])),
        ],
        "back in the hearing, each is told encryption is off"
    );
}
