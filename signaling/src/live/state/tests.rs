//! Tests of the pure live-session machine: exact effects for each decision,
//! and a deterministic random walk that checks its invariants.

use super::*;
use parley_control::MediaEvent;
use std::path::Path;
use std::sync::OnceLock;

const SESSION: i64 = 7;

/// `config/jurisdictions/demo.toml`: warnings at 5 and 1 minutes, early join 15 minutes.
fn jurisdiction() -> Arc<Jurisdiction> {
    static J: OnceLock<Arc<Jurisdiction>> = OnceLock::new();
    J.get_or_init(|| {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/jurisdictions/demo.toml"
        ));
        Arc::new(parley_policy::load_file(path).expect("demo jurisdiction loads"))
    })
    .clone()
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).expect("valid instant")
}

/// A 30-minute session.
fn end() -> DateTime<Utc> {
    start() + Duration::minutes(30)
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

fn session(kind: SessionKind) -> LiveSession {
    LiveSession::new(SESSION, kind, jurisdiction(), start(), end())
}

fn name(id: i64) -> String {
    format!("P{id}")
}

fn rule(path: &str) -> String {
    format!("demo/{path}")
}

fn audit(actor: &str, action: &str, decision: &str, rule_path: &str) -> AuditRecord {
    AuditRecord::new(actor, action, decision)
        .session(SESSION)
        .rules([rule(rule_path)])
}

fn join_audit(id: i64, role: Role, decision: &str, rule_path: &str) -> Effect {
    Effect::Audit(audit(
        &format!("participant:{id}:{}", role.as_str()),
        "session.join",
        decision,
        rule_path,
    ))
}

fn roster(entries: &[(i64, Role, ParticipantState)]) -> ServerMessage {
    ServerMessage::Roster {
        participants: entries
            .iter()
            .map(|&(participant_id, role, state)| LiveParticipant {
                participant_id,
                name: name(participant_id),
                role,
                state,
                muted_audio: false,
                muted_video: false,
                consultation_id: None,
                protected: false,
                weak_connection: false,
            })
            .collect(),
    }
}

/// The same roster sent to each of `to`, in order.
fn rosters_to(to: &[i64], entries: &[(i64, Role, ParticipantState)]) -> Vec<Effect> {
    to.iter()
        .map(|&id| Effect::Send(id, roster(entries)))
        .collect()
}

fn warning(minutes_left: u32, ends_at: DateTime<Utc>) -> ServerMessage {
    ServerMessage::Warning {
        minutes_left,
        ends_at,
    }
}

fn connect(s: &mut LiveSession, id: i64, role: Role, now: DateTime<Utc>) -> Vec<Effect> {
    s.connect(id, &name(id), role, now)
        .unwrap_or_else(|r| panic!("{id} ({role}) should connect: {r:?}"))
        .1
}

/// Connects `id` as `role` at `now`, which must put them in `state`; the
/// effects.
fn connect_into(
    s: &mut LiveSession,
    id: i64,
    role: Role,
    now: DateTime<Utc>,
    state: ParticipantState,
) -> Vec<Effect> {
    let (landed, effects) = s
        .connect(id, &name(id), role, now)
        .unwrap_or_else(|r| panic!("{id} ({role}) should connect: {r:?}"));
    assert_eq!(landed, state, "{id} ({role}) connected");
    effects
}

/// What a join decided without further ado does: the audited decision,
/// then the same roster of `entries` to each of `to`.
fn joined(
    id: i64,
    role: Role,
    decision: &str,
    rule_path: &str,
    to: &[i64],
    entries: &[(i64, Role, ParticipantState)],
) -> Vec<Effect> {
    let mut effects = vec![join_audit(id, role, decision, rule_path)];
    effects.extend(rosters_to(to, entries));
    effects
}

fn connect_all(s: &mut LiveSession, people: &[(i64, Role)], now: DateTime<Utc>) {
    for &(id, role) in people {
        connect(s, id, role, now);
    }
}

fn client_ok(
    s: &mut LiveSession,
    from: i64,
    message: ClientMessage,
    now: DateTime<Utc>,
) -> Vec<Effect> {
    s.client(from, message.clone(), now)
        .unwrap_or_else(|r| panic!("{message:?} from {from} should be accepted: {r:?}"))
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Refused>) -> ErrorCode {
    result.expect_err("should be refused").code
}

fn admit(participant_id: i64) -> ClientMessage {
    ClientMessage::Admit { participant_id }
}

fn remove(participant_id: i64, reason: &str) -> ClientMessage {
    ClientMessage::Remove {
        participant_id,
        reason: reason.into(),
    }
}

fn extend(minutes: u32) -> ClientMessage {
    ClientMessage::Extend { minutes }
}

fn offer() -> ClientMessage {
    ClientMessage::Offer { sdp: "v=0".into() }
}

fn end_msg(reason: &str) -> ClientMessage {
    ClientMessage::End {
        reason: reason.into(),
    }
}

/// What ending the session for `reason` does, in order: the audited
/// decision (named after the reason), the end of the session, then
/// `message` to each of `to`, then each of their sockets closed.
fn termination(
    actor: &str,
    reason: EndReason,
    rule_path: &str,
    message: &str,
    to: &[i64],
) -> Vec<Effect> {
    let ended = ServerMessage::Ended {
        reason,
        message: message.into(),
    };
    let mut effects = vec![
        Effect::Audit(
            audit(
                actor,
                "session.terminate",
                &format!("{reason:?}"),
                rule_path,
            )
            .details(serde_json::json!({ "message": message })),
        ),
        Effect::Finish(message.into()),
    ];
    effects.extend(to.iter().map(|&id| Effect::Send(id, ended.clone())));
    effects.extend(
        to.iter()
            .map(|&id| Effect::Close(id, CloseCode::Ended(reason))),
    );
    effects
}

/// The audited decision of `actor` (e.g. "participant:1:judge") to admit
/// `participant_id` to a hearing.
fn court_admission(actor: &str, participant_id: i64) -> Effect {
    Effect::Audit(
        audit(
            actor,
            "session.admit",
            "admitted",
            "hearing/admitted-by-court",
        )
        .details(serde_json::json!({ "participant_id": participant_id })),
    )
}

fn audits(effects: &[Effect]) -> Vec<&AuditRecord> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn count(effects: &[Effect], pred: impl Fn(&Effect) -> bool) -> usize {
    effects.iter().filter(|e| pred(e)).count()
}

fn is_warning(e: &Effect) -> bool {
    matches!(e, Effect::Send(_, ServerMessage::Warning { .. }))
}

/// A hearing with judge 1, clerk 2 and defendant 3 (admitted by the judge).
fn hearing_in_progress() -> LiveSession {
    let mut s = session(SessionKind::CourtHearing);
    connect_all(
        &mut s,
        &[(1, Role::Judge), (2, Role::Clerk), (3, Role::Defendant)],
        start() - mins(5),
    );
    client_ok(&mut s, 1, admit(3), start());
    s
}

/// A social visit with detainee 10 and visitor 11, joined after the start.
fn visit_in_progress() -> LiveSession {
    let mut s = session(SessionKind::SocialVisit);
    connect_all(
        &mut s,
        &[(10, Role::Detainee), (11, Role::Visitor)],
        start() + mins(1),
    );
    s
}

// ---------------------------------------------------------------- visits

#[test]
fn a_media_server_that_goes_and_comes_back_is_audited_and_everyone_admitted_offers_again() {
    // Judge 1, clerk 2 and defendant 3 admitted; a witness 4 waits in the
    // lobby and has no media to lose.
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    for (event, decision, says) in [
        (MediaEvent::PlaneDown, "lost", "stopped answering"),
        (MediaEvent::PlaneRestarted, "restarted", "restarted"),
    ] {
        let effects = s.on_media(event, start());
        assert_eq!(
            effects[0],
            Effect::Audit(
                AuditRecord::new("system", "session.media", decision)
                    .session(SESSION)
                    .rules(["core/media/server-gone".to_string()])
            )
        );
        let mut told: Vec<i64> = effects[1..]
            .iter()
            .map(|e| match e {
                Effect::Send(to, ServerMessage::MediaLost { message }) => {
                    assert!(message.contains(says), "{message}");
                    *to
                }
                other => panic!("only media_lost: {other:?}"),
            })
            .collect();
        told.sort_unstable();
        assert_eq!(told, [1, 2, 3], "the admitted, not the lobby");
    }
    s.disconnect(3);
    let effects = s.on_media(MediaEvent::PlaneRestarted, start());
    assert_eq!(
        effects.len(),
        3,
        "the audit, and the two still connected: {effects:?}"
    );
}

#[test]
fn a_recording_that_breaks_off_and_resumes_is_audited_and_told_to_everyone_admitted() {
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    for (event, decision, details, interrupted) in [
        (
            MediaEvent::RecordingInterrupted {
                room: SESSION,
                reason: "recorder link: timed out".into(),
            },
            "interrupted",
            serde_json::json!({"reason": "recorder link: timed out"}),
            true,
        ),
        (
            MediaEvent::RecordingResumed { room: SESSION },
            "resumed",
            serde_json::json!({}),
            false,
        ),
    ] {
        let effects = s.on_media(event, start());
        assert_eq!(
            effects[0],
            Effect::Audit(
                AuditRecord::new("system", "session.recording", decision)
                    .session(SESSION)
                    .rules(["core/recording/link".to_string()])
                    .details(details)
            )
        );
        let mut told: Vec<i64> = effects[1..]
            .iter()
            .map(|e| match e {
                Effect::Send(to, ServerMessage::Recording { interrupted: i, .. }) => {
                    assert_eq!(*i, interrupted);
                    *to
                }
                other => panic!("only `recording`: {other:?}"),
            })
            .collect();
        told.sort_unstable();
        assert_eq!(told, [1, 2, 3], "the admitted, not the lobby");
    }
}

#[test]
fn a_weak_connection_is_shown_in_everyones_roster_until_it_recovers() {
    let mut s = visit_in_progress();
    let effects = s.connection_strength(11, true);
    assert_eq!(effects.len(), 2, "both participants' rosters: {effects:?}");
    for effect in &effects {
        let Effect::Send(_, ServerMessage::Roster { participants }) = effect else {
            panic!("a roster: {effect:?}");
        };
        let weak: Vec<(i64, bool)> = participants
            .iter()
            .map(|p| (p.participant_id, p.weak_connection))
            .collect();
        assert_eq!(weak, vec![(10, false), (11, true)]);
    }
    assert!(
        s.connection_strength(11, true).is_empty(),
        "no change, no roster"
    );
    assert!(
        s.connection_strength(99, true).is_empty(),
        "nobody by that id"
    );
    let effects = s.connection_strength(11, false);
    assert_eq!(
        effects,
        rosters_to(
            &[10, 11],
            &[
                (10, Role::Detainee, ParticipantState::Admitted),
                (11, Role::Visitor, ParticipantState::Admitted),
            ]
        )
    );
}

#[test]
fn visit_early_joiners_wait_in_lobby_and_are_admitted_at_start() {
    use ParticipantState::{Admitted, Lobby};
    let mut s = session(SessionKind::SocialVisit);

    let effects = connect_into(&mut s, 10, Role::Detainee, start() - mins(10), Lobby);
    assert_eq!(
        effects,
        joined(
            10,
            Role::Detainee,
            "waiting until start",
            "window/early-join",
            &[10],
            &[(10, Role::Detainee, Lobby)]
        )
    );

    let effects = connect_into(&mut s, 11, Role::Visitor, start() - mins(5), Lobby);
    assert_eq!(
        effects,
        joined(
            11,
            Role::Visitor,
            "waiting until start",
            "window/early-join",
            &[10, 11],
            &[(10, Role::Detainee, Lobby), (11, Role::Visitor, Lobby)]
        )
    );

    assert_eq!(s.tick(start() - Duration::seconds(1)), vec![]);
    assert_eq!(s.state_of(10), Some(Lobby));

    let admit_at_start = |id: i64| {
        Effect::Audit(
            audit(
                "system",
                "session.admit",
                "admitted at start",
                "window/started",
            )
            .details(serde_json::json!({ "participant_id": id })),
        )
    };
    let mut expected = vec![
        admit_at_start(10),
        admit_at_start(11),
        Effect::PersistLive,
        Effect::Send(10, ServerMessage::Admitted),
        Effect::Send(11, ServerMessage::Admitted),
    ];
    expected.extend(rosters_to(
        &[10, 11],
        &[
            (10, Role::Detainee, Admitted),
            (11, Role::Visitor, Admitted),
        ],
    ));
    let at_start = s.tick(start());
    assert_eq!(at_start, expected);
    assert_eq!(s.state_of(10), Some(Admitted));
    assert_eq!(s.state_of(11), Some(Admitted));

    // Nothing left to do at start; a later joiner goes straight in and the
    // session does not go live a second time.
    assert_eq!(s.tick(start()), vec![]);
    let effects = connect_into(&mut s, 12, Role::Visitor, start() + mins(1), Admitted);
    assert_eq!(count(&effects, |e| *e == Effect::PersistLive), 0);
    assert_eq!(count(&at_start, |e| *e == Effect::PersistLive), 1);
}

#[test]
fn visit_joiner_after_start_is_admitted_directly_and_live_is_persisted_once() {
    use ParticipantState::Admitted;
    let mut s = session(SessionKind::SocialVisit);
    let effects = connect_into(&mut s, 10, Role::Detainee, start() + mins(1), Admitted);
    let mut expected = vec![
        join_audit(10, Role::Detainee, "admitted", "window/started"),
        Effect::PersistLive,
    ];
    expected.extend(rosters_to(&[10], &[(10, Role::Detainee, Admitted)]));
    assert_eq!(effects, expected);

    let effects = connect_into(&mut s, 11, Role::Visitor, start() + mins(2), Admitted);
    assert_eq!(
        effects,
        joined(
            11,
            Role::Visitor,
            "admitted",
            "window/started",
            &[10, 11],
            &[
                (10, Role::Detainee, Admitted),
                (11, Role::Visitor, Admitted),
            ]
        )
    );
}

#[test]
fn officer_is_admitted_as_hidden_monitor_and_never_listed() {
    use ParticipantState::{Admitted, Lobby};
    let mut s = session(SessionKind::SocialVisit);

    // Before the start: the monitor is in, the visitor waits.
    let effects = connect_into(&mut s, 99, Role::Officer, start() - mins(10), Admitted);
    assert_eq!(
        effects[0],
        join_audit(
            99,
            Role::Officer,
            "admitted as hidden monitor",
            "monitoring/social_visit"
        )
    );
    let effects = connect_into(&mut s, 11, Role::Visitor, start() - mins(5), Lobby);
    assert_eq!(
        effects,
        joined(
            11,
            Role::Visitor,
            "waiting until start",
            "window/early-join",
            &[11, 99],
            &[(11, Role::Visitor, Lobby)]
        )
    );

    s.tick(start());
    let effects = connect(&mut s, 10, Role::Detainee, start() + mins(1));
    assert_eq!(
        effects,
        joined(
            10,
            Role::Detainee,
            "admitted",
            "window/started",
            &[10, 11, 99],
            &[
                (10, Role::Detainee, Admitted),
                (11, Role::Visitor, Admitted),
            ]
        )
    );
    assert_eq!(s.connected_count(), 3);
}

#[test]
fn officer_is_not_listed_even_to_judge_and_clerk() {
    let mut s = hearing_in_progress();
    connect(&mut s, 99, Role::Officer, start() + mins(1));
    let effects = client_ok(&mut s, 1, admit(99), start() + mins(1));
    for effect in &effects {
        if let Effect::Send(_, ServerMessage::Roster { participants }) = effect {
            assert!(
                participants.iter().all(|p| p.participant_id != 99),
                "officer listed: {effect:?}"
            );
        }
    }
    assert_eq!(
        count(&effects, |e| matches!(
            e,
            Effect::Send(_, ServerMessage::Roster { .. })
        )),
        4
    );
}

// -------------------------------------------------------------- hearings

#[test]
fn hearing_staff_are_admitted_directly_and_others_wait_for_the_court() {
    use ParticipantState::{Admitted, Lobby};
    let mut s = session(SessionKind::CourtHearing);

    let effects = connect_into(&mut s, 1, Role::Judge, start() - mins(10), Admitted);
    let mut expected = vec![
        join_audit(
            1,
            Role::Judge,
            "admitted",
            "hearing/staff-admitted-directly",
        ),
        Effect::PersistLive,
    ];
    expected.extend(rosters_to(&[1], &[(1, Role::Judge, Admitted)]));
    assert_eq!(effects, expected);

    let effects = connect_into(&mut s, 2, Role::Clerk, start() - mins(9), Admitted);
    assert_eq!(
        effects[0],
        join_audit(
            2,
            Role::Clerk,
            "admitted",
            "hearing/staff-admitted-directly"
        )
    );
    assert_eq!(count(&effects, |e| *e == Effect::PersistLive), 0);

    let effects = connect_into(&mut s, 3, Role::Defendant, start() - mins(5), Lobby);
    assert_eq!(
        effects,
        joined(
            3,
            Role::Defendant,
            "waiting for admission",
            "hearing/lobby",
            &[1, 2, 3],
            &[
                (1, Role::Judge, Admitted),
                (2, Role::Clerk, Admitted),
                (3, Role::Defendant, Lobby),
            ]
        )
    );

    // Unlike a visit, the start does not admit anyone to a hearing.
    assert_eq!(s.tick(start()), vec![]);
    assert_eq!(s.state_of(3), Some(Lobby));

    let effects = client_ok(&mut s, 1, admit(3), start() + mins(1));
    let mut expected = vec![
        court_admission("participant:1:judge", 3),
        Effect::Send(3, ServerMessage::Admitted),
    ];
    expected.extend(rosters_to(
        &[1, 2, 3],
        &[
            (1, Role::Judge, Admitted),
            (2, Role::Clerk, Admitted),
            (3, Role::Defendant, Admitted),
        ],
    ));
    assert_eq!(effects, expected);
    assert_eq!(s.state_of(3), Some(Admitted));

    // Admitting again is a no-op, not a second audited decision.
    assert_eq!(client_ok(&mut s, 1, admit(3), start() + mins(2)), vec![]);

    // The clerk may admit too.
    connect(&mut s, 4, Role::Witness, start() + mins(3));
    let effects = client_ok(&mut s, 2, admit(4), start() + mins(3));
    assert_eq!(effects[0], court_admission("participant:2:clerk", 4));
    assert_eq!(effects[1], Effect::Send(4, ServerMessage::Admitted));
}

#[test]
fn admit_by_anyone_but_judge_or_clerk_is_refused_and_changes_nothing() {
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    connect(&mut s, 5, Role::Prosecutor, start() + mins(1));
    client_ok(&mut s, 1, admit(5), start() + mins(1));
    for from in [3, 4, 5] {
        let result = s.client(from, admit(4), start() + mins(2));
        assert_eq!(
            result,
            Err(Refused {
                code: ErrorCode::Forbidden,
                message: "only the judge or clerk of a hearing can admit participants".into(),
            })
        );
    }
    assert_eq!(s.state_of(4), Some(ParticipantState::Lobby));

    // Visits have no court to admit anyone: the officer cannot either.
    let mut v = session(SessionKind::SocialVisit);
    connect(&mut v, 10, Role::Detainee, start() - mins(5));
    connect(&mut v, 99, Role::Officer, start() - mins(5));
    assert_eq!(
        refusal(v.client(99, admit(10), start() - mins(4))),
        ErrorCode::Forbidden
    );
    assert_eq!(v.state_of(10), Some(ParticipantState::Lobby));
}

#[test]
fn admitting_an_unknown_participant_is_refused() {
    let mut s = hearing_in_progress();
    assert_eq!(
        refusal(s.client(1, admit(777), start() + mins(1))),
        ErrorCode::UnknownParticipant
    );
}

#[test]
fn observers_are_hidden_from_participants_but_visible_to_judge_and_clerk() {
    use ParticipantState::{Admitted, Lobby};
    let mut s = session(SessionKind::CourtHearing);
    connect_all(
        &mut s,
        &[(1, Role::Judge), (2, Role::Clerk), (3, Role::Defendant)],
        start() - mins(5),
    );
    let effects = connect(&mut s, 50, Role::Observer, start() - mins(4));
    let everyone = [
        (1, Role::Judge, Admitted),
        (2, Role::Clerk, Admitted),
        (3, Role::Defendant, Lobby),
        (50, Role::Observer, Lobby),
    ];
    let visible = &everyone[..3];
    let mut expected = vec![join_audit(
        50,
        Role::Observer,
        "waiting for admission",
        "hearing/lobby",
    )];
    expected.extend(rosters_to(&[1, 2], &everyone));
    expected.extend(rosters_to(&[3, 50], visible));
    assert_eq!(effects, expected);

    let effects = client_ok(&mut s, 1, admit(50), start());
    let sent_to_defendant: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::Send(3, ServerMessage::Roster { .. })))
        .collect();
    assert_eq!(sent_to_defendant, vec![&Effect::Send(3, roster(visible))]);
}

// -------------------------------------------------------------- warnings

#[test]
fn warnings_go_to_every_connected_participant_exactly_once() {
    let mut s = visit_in_progress();
    connect(&mut s, 12, Role::Visitor, start() + mins(2));
    s.disconnect(12);

    assert_eq!(s.tick(end() - mins(5) - Duration::seconds(1)), vec![]);
    assert_eq!(
        s.tick(end() - mins(5)),
        vec![
            Effect::Send(10, warning(5, end())),
            Effect::Send(11, warning(5, end())),
        ]
    );
    assert_eq!(s.tick(end() - mins(5)), vec![]);
    assert_eq!(s.tick(end() - mins(2)), vec![]);
    assert_eq!(
        s.tick(end() - mins(1)),
        vec![
            Effect::Send(10, warning(1, end())),
            Effect::Send(11, warning(1, end())),
        ]
    );
    assert_eq!(s.tick(end() - Duration::seconds(30)), vec![]);
}

#[test]
fn a_participant_joining_after_a_warning_receives_it_at_once() {
    use ParticipantState::Admitted;
    let mut s = visit_in_progress();
    let effects = connect(&mut s, 12, Role::Visitor, end() - mins(10));
    assert_eq!(count(&effects, is_warning), 0);

    s.tick(end() - mins(5));
    let effects = connect(&mut s, 13, Role::Visitor, end() - mins(4));
    let mut expected = vec![join_audit(13, Role::Visitor, "admitted", "window/started")];
    expected.extend(rosters_to(
        &[10, 11, 12, 13],
        &[
            (10, Role::Detainee, Admitted),
            (11, Role::Visitor, Admitted),
            (12, Role::Visitor, Admitted),
            (13, Role::Visitor, Admitted),
        ],
    ));
    expected.push(Effect::Send(13, warning(5, end())));
    assert_eq!(effects, expected);

    s.tick(end() - mins(1));
    let effects = connect(&mut s, 14, Role::Visitor, end() - Duration::seconds(30));
    let warnings: Vec<&Effect> = effects.iter().filter(|e| is_warning(e)).collect();
    assert_eq!(warnings, vec![&Effect::Send(14, warning(1, end()))]);
}

// ----------------------------------------------------------- the end

#[test]
fn scheduled_end_terminates_audited_first_then_tells_and_closes_everyone() {
    let mut s = visit_in_progress();
    connect(&mut s, 99, Role::Officer, start() + mins(2));
    connect(&mut s, 12, Role::Visitor, start() + mins(2));
    s.disconnect(12);
    s.tick(end() - mins(5));
    s.tick(end() - mins(1));

    let message = "The scheduled time for this session is over.";
    assert_eq!(
        s.tick(end()),
        termination(
            "system",
            EndReason::ScheduledEnd,
            "session/scheduled-end",
            message,
            &[10, 11, 99]
        )
    );
    assert!(s.is_ended());
    assert_eq!(s.connected_count(), 0);
    assert_eq!(s.ends_at(), end());

    // Over is over: nothing joins, nothing more happens.
    assert_eq!(
        refusal(s.connect(13, "P13", Role::Visitor, end())),
        ErrorCode::SessionOver
    );
    assert_eq!(
        refusal(s.connect(10, "P10", Role::Detainee, end() - mins(1))),
        ErrorCode::SessionOver
    );
    assert_eq!(s.tick(end() + mins(1)), vec![]);
    assert_eq!(
        refusal(s.client(10, ClientMessage::Ping, end())),
        ErrorCode::SessionOver
    );
    assert_eq!(s.disconnect(10), vec![]);
    assert_eq!(s.end_by_staff("admin:1:Ada", "again"), vec![]);
    assert_eq!(s.connected_count(), 0);
}

#[test]
fn nobody_joins_at_the_scheduled_end_even_before_the_tick() {
    let mut s = visit_in_progress();
    assert_eq!(
        refusal(s.connect(12, "P12", Role::Visitor, end())),
        ErrorCode::SessionOver
    );
    assert_eq!(s.connected_count(), 2);
    assert_eq!(s.state_of(12), None);
}

#[test]
fn a_late_joiner_does_not_extend_the_visit() {
    let mut s = visit_in_progress();
    s.tick(end() - mins(5));
    let effects = connect(&mut s, 12, Role::Visitor, end() - mins(2));
    assert_eq!(s.ends_at(), end());
    assert_eq!(count(&effects, |e| matches!(e, Effect::PersistEnd(_))), 0);
    assert_eq!(s.next_deadline(), end() - mins(1));
    let effects = s.tick(end());
    assert!(s.is_ended());
    assert_eq!(count(&effects, |e| matches!(e, Effect::Close(..))), 3);
}

// --------------------------------------------------------------- extend

#[test]
fn only_the_judge_extends_and_only_a_hearing() {
    let mut v = visit_in_progress();
    connect(&mut v, 99, Role::Officer, start() + mins(2));
    for from in [10, 11, 99] {
        assert_eq!(
            refusal(v.client(from, extend(10), start() + mins(3))),
            ErrorCode::Forbidden,
            "participant {from} extended a visit"
        );
    }
    assert_eq!(v.ends_at(), end());

    let mut s = hearing_in_progress();
    for from in [2, 3] {
        assert_eq!(
            refusal(s.client(from, extend(10), start() + mins(3))),
            ErrorCode::Forbidden,
            "participant {from} extended a hearing"
        );
    }
    for minutes in [0, MAX_EXTEND_MINUTES + 1, u32::MAX] {
        assert_eq!(
            refusal(s.client(1, extend(minutes), start() + mins(3))),
            ErrorCode::BadMessage,
            "extend by {minutes}"
        );
    }
    assert_eq!(s.ends_at(), end());
    client_ok(&mut s, 1, extend(MAX_EXTEND_MINUTES), start() + mins(3));
    assert_eq!(s.ends_at(), end() + mins(240));
}

#[test]
fn extend_is_audited_persisted_announced_and_rearms_warnings() {
    let mut s = hearing_in_progress();
    assert_eq!(s.tick(end() - mins(5)).len(), 3);

    let new_end = end() + mins(10);
    let effects = client_ok(&mut s, 1, extend(10), end() - mins(4));
    let extended = ServerMessage::Extended {
        ends_at: new_end,
        lost_seconds: None,
    };
    assert_eq!(
        effects,
        vec![
            Effect::Audit(
                audit(
                    "participant:1:judge",
                    "session.extend",
                    "extended",
                    "hearing/extended-by-judge",
                )
                .details(serde_json::json!({
                    "minutes": 10,
                    "old_end": end(),
                    "new_end": new_end,
                })),
            ),
            Effect::PersistEnd(new_end),
            Effect::Send(1, extended.clone()),
            Effect::Send(2, extended.clone()),
            Effect::Send(3, extended),
        ]
    );
    assert_eq!(s.ends_at(), new_end);
    assert_eq!(s.next_deadline(), new_end - mins(5));

    // The old instants mean nothing any more.
    assert_eq!(s.tick(end() - mins(1)), vec![]);
    assert_eq!(s.tick(end()), vec![]);
    assert!(!s.is_ended());

    // The 5-minute warning fires again, before the new end.
    assert_eq!(
        s.tick(new_end - mins(5)),
        vec![
            Effect::Send(1, warning(5, new_end)),
            Effect::Send(2, warning(5, new_end)),
            Effect::Send(3, warning(5, new_end)),
        ]
    );
    assert_eq!(s.tick(new_end - mins(5)), vec![]);
    assert_eq!(count(&s.tick(new_end - mins(1)), is_warning), 3);
    let effects = s.tick(new_end);
    assert!(matches!(&effects[0], Effect::Audit(a) if a.action == "session.terminate"));
    assert!(s.is_ended());
}

#[test]
fn extend_rearms_only_warnings_that_are_ahead_again() {
    let mut s = hearing_in_progress();
    s.tick(end() - mins(5));
    s.tick(end() - mins(1));
    // Two more minutes: the new 5-minute instant (end - 3) is already past,
    // the new 1-minute instant (end + 1) is ahead.
    client_ok(&mut s, 1, extend(2), end() - mins(1));
    assert_eq!(s.next_deadline(), end() + mins(1));
    assert_eq!(s.tick(end()), vec![]);
    assert_eq!(
        s.tick(end() + mins(1)),
        vec![
            Effect::Send(1, warning(1, end() + mins(2))),
            Effect::Send(2, warning(1, end() + mins(2))),
            Effect::Send(3, warning(1, end() + mins(2))),
        ]
    );
    assert_eq!(
        count(&s.tick(end() + mins(2)), |e| matches!(e, Effect::Finish(_))),
        1
    );
}

// --------------------------------------------------------------- remove

#[test]
fn judge_removes_a_participant_who_cannot_rejoin() {
    use ParticipantState::Admitted;
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    client_ok(&mut s, 1, admit(4), start() + mins(1));

    let effects = client_ok(
        &mut s,
        1,
        remove(3, "  Disrupted the hearing after two warnings.  "),
        start() + mins(2),
    );
    let reason = "Disrupted the hearing after two warnings.";
    let mut expected = vec![
        Effect::Audit(
            audit(
                "participant:1:judge",
                "session.remove",
                "removed",
                "hearing/removed-by-court",
            )
            .details(serde_json::json!({ "participant_id": 3, "reason": reason })),
        ),
        Effect::PersistRemoval(3),
        Effect::Send(
            3,
            ServerMessage::Ended {
                reason: EndReason::Removed,
                message: reason.into(),
            },
        ),
        Effect::Close(3, CloseCode::Ended(EndReason::Removed)),
    ];
    expected.extend(rosters_to(
        &[1, 2, 4],
        &[
            (1, Role::Judge, Admitted),
            (2, Role::Clerk, Admitted),
            (4, Role::Witness, Admitted),
        ],
    ));
    assert_eq!(effects, expected);
    assert_eq!(s.connected_count(), 3);

    assert_eq!(
        s.connect(3, "P3", Role::Defendant, start() + mins(3)),
        Err(Refused {
            code: ErrorCode::Forbidden,
            message: "you were removed from this session and cannot rejoin it".into(),
        })
    );
    assert_eq!(s.connected_count(), 3);
    assert_eq!(
        refusal(s.client(3, ClientMessage::Ping, start() + mins(3))),
        ErrorCode::NotJoined
    );

    // The clerk may remove too.
    let effects = client_ok(
        &mut s,
        2,
        remove(4, "Testimony finished"),
        start() + mins(4),
    );
    assert!(
        matches!(&effects[0], Effect::Audit(a) if a.actor == "participant:2:clerk" && a.action == "session.remove")
    );
    assert!(!s.is_ended());
}

#[test]
fn only_judge_or_clerk_of_a_hearing_may_remove() {
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    assert_eq!(
        refusal(s.client(3, remove(4, "go"), start() + mins(2))),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refusal(s.client(4, remove(3, "go"), start() + mins(2))),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refusal(s.client(1, remove(777, "go"), start() + mins(2))),
        ErrorCode::UnknownParticipant
    );

    let mut v = visit_in_progress();
    connect(&mut v, 99, Role::Officer, start() + mins(2));
    assert_eq!(
        refusal(v.client(99, remove(11, "go"), start() + mins(3))),
        ErrorCode::Forbidden
    );
    assert_eq!(v.connected_count(), 3);
}

#[test]
fn remove_reasons_must_be_present_and_at_most_500_bytes() {
    let mut s = hearing_in_progress();
    let too_long_ascii = "x".repeat(MAX_REASON_BYTES + 1);
    // 251 two-byte characters: fewer than 500 characters but 502 bytes.
    let too_long_bytes = "é".repeat(251);
    for reason in ["", "   ", " \t\n ", &too_long_ascii, &too_long_bytes] {
        let before = s.clone();
        assert_eq!(
            refusal(s.client(1, remove(3, reason), start() + mins(2))),
            ErrorCode::BadMessage,
            "reason {reason:?}"
        );
        assert_eq!(s.connected_count(), before.connected_count());
        assert_eq!(s.state_of(3), Some(ParticipantState::Admitted));
    }
    // Exactly 500 bytes is fine, and so is a reason padded past 500 by spaces.
    let padded = format!("  {}  ", "x".repeat(MAX_REASON_BYTES));
    let effects = client_ok(&mut s, 1, remove(3, &padded), start() + mins(2));
    assert!(matches!(&effects[0], Effect::Audit(a) if a.action == "session.remove"));
    assert_eq!(effects[1], Effect::PersistRemoval(3));
    assert_eq!(
        effects[2],
        Effect::Send(
            3,
            ServerMessage::Ended {
                reason: EndReason::Removed,
                message: "x".repeat(MAX_REASON_BYTES),
            }
        )
    );
}

// ------------------------------------------------------------------ end

#[test]
fn officer_ends_a_social_visit_audited_first() {
    let mut s = visit_in_progress();
    connect(&mut s, 99, Role::Officer, start() + mins(2));
    let reason = "Contraband shown on camera.";
    assert_eq!(
        client_ok(
            &mut s,
            99,
            end_msg(&format!(" {reason} ")),
            start() + mins(3)
        ),
        termination(
            "participant:99:officer",
            EndReason::EndedByStaff,
            "session/ended-by-staff",
            reason,
            &[10, 11, 99]
        )
    );
    assert!(s.is_ended());
    assert_eq!(s.tick(end() - mins(5)), vec![]);
}

#[test]
fn visitors_and_detainees_cannot_end_a_visit() {
    let mut s = visit_in_progress();
    connect(&mut s, 99, Role::Officer, start() + mins(2));
    for from in [10, 11] {
        assert_eq!(
            refusal(s.client(from, end_msg("bye"), start() + mins(3))),
            ErrorCode::Forbidden
        );
    }
    assert_eq!(
        refusal(s.client(99, end_msg("   "), start() + mins(3))),
        ErrorCode::BadMessage
    );
    assert!(!s.is_ended());
    assert_eq!(s.connected_count(), 3);
}

#[test]
fn judge_or_clerk_end_a_hearing_and_a_defendant_cannot() {
    let mut s = hearing_in_progress();
    connect(&mut s, 50, Role::Observer, start() + mins(1));
    for from in [3, 50] {
        assert_eq!(
            refusal(s.client(from, end_msg("enough"), start() + mins(2))),
            ErrorCode::Forbidden
        );
    }
    assert!(!s.is_ended());

    for (from, actor) in [(1, "participant:1:judge"), (2, "participant:2:clerk")] {
        let mut s = hearing_in_progress();
        let effects = client_ok(&mut s, from, end_msg("Adjourned."), start() + mins(2));
        assert!(
            matches!(&effects[0], Effect::Audit(a) if a.actor == actor && a.action == "session.terminate" && a.decision == "EndedByStaff"),
            "{effects:?}"
        );
        assert_eq!(effects[1], Effect::Finish("Adjourned.".into()));
        assert_eq!(
            count(&effects, |e| matches!(
                e,
                Effect::Send(
                    _,
                    ServerMessage::Ended {
                        reason: EndReason::EndedByStaff,
                        ..
                    }
                )
            )),
            3
        );
        assert!(s.is_ended());
    }
}

#[test]
fn end_by_staff_through_the_api_is_audited_with_the_caller_and_happens_once() {
    let mut s = visit_in_progress();
    let effects = s.end_by_staff("admin:1:Ada", "Facility lockdown.");
    assert_eq!(
        effects[0],
        Effect::Audit(
            audit(
                "admin:1:Ada",
                "session.terminate",
                "EndedByStaff",
                "session/ended-by-staff"
            )
            .details(serde_json::json!({ "message": "Facility lockdown." })),
        )
    );
    assert_eq!(effects[1], Effect::Finish("Facility lockdown.".into()));
    assert_eq!(s.end_by_staff("admin:1:Ada", "again"), vec![]);
}

// ------------------------------------------------- connections and misc

#[test]
fn reconnecting_keeps_admission_without_a_second_audit() {
    use ParticipantState::Admitted;
    let mut s = hearing_in_progress();

    // A second socket while the first is open (the shell closes the old one).
    let effects = connect_into(&mut s, 3, Role::Defendant, start() + mins(1), Admitted);
    let all = [
        (1, Role::Judge, Admitted),
        (2, Role::Clerk, Admitted),
        (3, Role::Defendant, Admitted),
    ];
    assert_eq!(effects, rosters_to(&[1, 2, 3], &all));

    // After a drop.
    s.disconnect(3);
    let effects = connect_into(&mut s, 3, Role::Defendant, start() + mins(2), Admitted);
    assert_eq!(effects, rosters_to(&[1, 2, 3], &all));
}

#[test]
fn a_lobby_member_who_left_is_admitted_at_start_and_rejoins_admitted() {
    use ParticipantState::{Admitted, Lobby};
    let mut s = session(SessionKind::SocialVisit);
    connect(&mut s, 10, Role::Detainee, start() - mins(10));
    connect(&mut s, 11, Role::Visitor, start() - mins(10));
    s.disconnect(11);

    // Reconnecting to the lobby is not a new decision.
    let effects = connect_into(&mut s, 11, Role::Visitor, start() - mins(5), Lobby);
    assert!(audits(&effects).is_empty(), "{effects:?}");
    s.disconnect(11);

    let effects = s.tick(start());
    assert_eq!(audits(&effects).len(), 2);
    assert_eq!(
        count(&effects, |e| matches!(
            e,
            Effect::Send(_, ServerMessage::Admitted)
        )),
        1
    );
    assert!(effects.contains(&Effect::Send(10, ServerMessage::Admitted)));
    assert_eq!(s.state_of(11), Some(Admitted));

    let effects = connect_into(&mut s, 11, Role::Visitor, start() + mins(1), Admitted);
    assert!(audits(&effects).is_empty(), "{effects:?}");
}

#[test]
fn disconnecting_an_unknown_or_gone_participant_does_nothing() {
    let mut s = visit_in_progress();
    assert_eq!(s.disconnect(12345), vec![]);
    let effects = s.disconnect(11);
    assert_eq!(
        effects,
        rosters_to(&[10], &[(10, Role::Detainee, ParticipantState::Admitted)])
    );
    assert_eq!(s.disconnect(11), vec![]);
    assert_eq!(s.connected_count(), 1);
}

#[test]
fn ping_leave_and_messages_from_strangers() {
    let mut s = visit_in_progress();
    assert_eq!(
        client_ok(&mut s, 10, ClientMessage::Ping, start() + mins(2)),
        vec![Effect::Send(10, ServerMessage::Pong)]
    );
    assert_eq!(
        refusal(s.client(
            10,
            ClientMessage::Join {
                version: 1,
                token: "t".into()
            },
            start() + mins(2)
        )),
        ErrorCode::AlreadyJoined
    );
    assert_eq!(
        refusal(s.client(42, ClientMessage::Ping, start() + mins(2))),
        ErrorCode::NotJoined
    );

    let mut expected = vec![Effect::Close(11, CloseCode::Left)];
    expected.extend(rosters_to(
        &[10],
        &[(10, Role::Detainee, ParticipantState::Admitted)],
    ));
    assert_eq!(
        client_ok(&mut s, 11, ClientMessage::Leave, start() + mins(3)),
        expected
    );
    assert_eq!(
        refusal(s.client(11, ClientMessage::Ping, start() + mins(3))),
        ErrorCode::NotJoined
    );
    // Leaving is not removal: they may come back.
    assert_eq!(
        connect(&mut s, 11, Role::Visitor, start() + mins(4)).len(),
        2
    );
}

#[test]
fn next_deadline_is_the_start_then_each_warning_then_the_end() {
    let mut s = session(SessionKind::SocialVisit);
    let early = start() - mins(10);
    // Nobody waiting: the start is not a deadline.
    assert_eq!(s.next_deadline(), end() - mins(5));
    connect(&mut s, 10, Role::Detainee, early);
    assert_eq!(s.next_deadline(), start());
    s.tick(start());
    assert_eq!(s.next_deadline(), end() - mins(5));
    s.tick(end() - mins(5));
    assert_eq!(s.next_deadline(), end() - mins(1));
    s.tick(end() - mins(1));
    assert_eq!(s.next_deadline(), end());

    // A hearing's lobby waits for the court, not for the start.
    let mut h = session(SessionKind::CourtHearing);
    connect(&mut h, 3, Role::Defendant, early);
    assert_eq!(h.next_deadline(), end() - mins(5));

    // A 3-minute visit gets only its 1-minute warning.
    let short_end = start() + mins(3);
    let mut short = LiveSession::new(
        SESSION,
        SessionKind::SocialVisit,
        jurisdiction(),
        start(),
        short_end,
    );
    connect(&mut short, 10, Role::Detainee, start());
    assert_eq!(short.next_deadline(), short_end - mins(1));
    assert_eq!(
        short.tick(short_end - mins(1)),
        vec![Effect::Send(10, warning(1, short_end))]
    );
    assert_eq!(short.next_deadline(), short_end);
}

// ------------------------------------------------ overdue work and the end

/// `next_deadline` is the earliest instant at which `tick` has something to
/// do, including a warning whose instant passed unfired (a session task
/// started late) and a visit lobby still waiting after the start.
#[test]
fn next_deadline_is_never_later_than_overdue_work() {
    // The first participant arrives 3 minutes before the end: the 5-minute
    // warning is overdue.
    let mut s = session(SessionKind::SocialVisit);
    let now = end() - mins(3);
    connect(&mut s, 10, Role::Detainee, now);
    assert!(!s.clone().tick(now).is_empty(), "tick has work to do");
    assert!(
        s.next_deadline() <= now,
        "deadline {} > now {now}",
        s.next_deadline()
    );

    // A lobby member still waits one second after the start.
    let mut s = session(SessionKind::SocialVisit);
    connect(&mut s, 10, Role::Detainee, start() - mins(1));
    let now = start() + Duration::seconds(1);
    assert!(!s.clone().tick(now).is_empty(), "tick has work to do");
    assert!(
        s.next_deadline() <= now,
        "deadline {} > now {now}",
        s.next_deadline()
    );
}

/// Between the scheduled end and the tick that carries it out, nobody can
/// decide anything: the session is over.
#[test]
fn nothing_is_decided_after_the_scheduled_end() {
    let mut s = hearing_in_progress();
    connect(&mut s, 4, Role::Witness, start() + mins(1));
    assert_eq!(
        refusal(s.client(1, extend(10), end())),
        ErrorCode::SessionOver
    );
    assert_eq!(
        refusal(s.client(1, admit(4), end())),
        ErrorCode::SessionOver
    );
    assert_eq!(s.ends_at(), end());
}

// ------------------------------------------------------- random walk

/// Knuth's MMIX linear congruential generator: deterministic, no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
enum Op {
    Connect(i64),
    Disconnect(i64),
    Tick,
    Client(i64, ClientMessage),
    EndByStaff,
}

fn cast(kind: SessionKind) -> &'static [(i64, Role)] {
    match kind {
        SessionKind::CourtHearing => &[
            (1, Role::Judge),
            (2, Role::Clerk),
            (3, Role::Defendant),
            (4, Role::Counsel),
            (5, Role::Observer),
            (6, Role::Witness),
            (7, Role::Officer),
        ],
        SessionKind::LegalVisit => &[(1, Role::Detainee), (2, Role::Counsel)],
        _ => &[
            (1, Role::Detainee),
            (2, Role::Visitor),
            (3, Role::Visitor),
            (4, Role::Officer),
        ],
    }
}

fn random_op(rng: &mut Lcg, people: &[(i64, Role)]) -> Op {
    let ids: Vec<i64> = people.iter().map(|p| p.0).chain([77]).collect();
    let long = "x".repeat(MAX_REASON_BYTES + 1);
    match rng.below(100) {
        0..=24 => Op::Connect(rng.pick(&people.iter().map(|p| p.0).collect::<Vec<_>>())),
        25..=34 => Op::Disconnect(rng.pick(&ids)),
        35..=54 => Op::Tick,
        55..=98 => {
            // Half the requests come from the judge (or the detainee), so
            // that extensions and removals happen often enough.
            let from = if rng.below(2) == 0 {
                people[0].0
            } else {
                rng.pick(&ids)
            };
            let reason = match rng.below(6) {
                0 => String::new(),
                1 => "   ".into(),
                2 => long,
                _ => "a reason".into(),
            };
            let message = match rng.below(10) {
                0 | 1 => ClientMessage::Admit {
                    participant_id: rng.pick(&ids),
                },
                2 | 9 => ClientMessage::Remove {
                    participant_id: rng.pick(&ids),
                    reason,
                },
                3 | 4 => extend(rng.pick(&[0, 1, 3, 10, MAX_EXTEND_MINUTES + 1])),
                5 => ClientMessage::End { reason },
                6 => ClientMessage::Leave,
                7 => ClientMessage::Ping,
                _ => ClientMessage::Join {
                    version: 1,
                    token: "t".into(),
                },
            };
            // Ending is final; keep it rare so sessions run on.
            if matches!(message, ClientMessage::End { .. }) && rng.below(3) != 0 {
                return Op::Tick;
            }
            Op::Client(from, message)
        }
        _ => {
            if rng.below(4) == 0 {
                Op::EndByStaff
            } else {
                Op::Tick
            }
        }
    }
}

/// What the random walk saw, to show it exercised the machine.
#[derive(Debug, Default)]
struct Seen {
    extended: usize,
    warnings: usize,
    admitted: usize,
    removed: usize,
    finished: usize,
    refused: usize,
}

#[test]
fn random_operations_keep_the_invariants() {
    let mut rng = Lcg(0x5EED_F00D_9A71_E7E5);
    let kinds = [
        SessionKind::SocialVisit,
        SessionKind::CourtHearing,
        SessionKind::LegalVisit,
    ];
    let mut seen = Seen::default();
    let mut ops = 0;
    let mut round = 0;
    while ops < 2000 {
        let kind = kinds[round % kinds.len()];
        round += 1;
        let people = cast(kind);
        let role_of = |id: i64| people.iter().find(|p| p.0 == id).map(|p| p.1);
        let length = mins(10 + rng.below(30) as i64);
        let mut s = LiveSession::new(SESSION, kind, jurisdiction(), start(), start() + length);
        let mut now = start() - mins(16);
        let mut finished = false;
        let mut steps_after_finish = 0;
        let mut removed: BTreeSet<i64> = BTreeSet::new();
        // A bounded number of steps per session so that every kind is walked;
        // a few more after the finish to check that nothing happens then.
        for _ in 0..200 {
            if ops >= 2000 || steps_after_finish == 5 {
                break;
            }
            if finished {
                steps_after_finish += 1;
            }
            ops += 1;
            now += Duration::seconds(match rng.below(10) {
                0 => 0,
                1 => 300,
                _ => rng.below(60) as i64,
            });
            let op = random_op(&mut rng, people);
            let before = s.clone();
            let old_end = s.ends_at();
            let (effects, accepted) = match &op {
                Op::Connect(id) => {
                    let role = role_of(*id).expect("cast member");
                    match s.connect(*id, &name(*id), role, now) {
                        Ok((state, effects)) => {
                            assert!(!removed.contains(id), "removed {id} rejoined");
                            assert_eq!(s.state_of(*id), Some(state));
                            (effects, true)
                        }
                        Err(r) => {
                            if finished || now >= s.ends_at() {
                                assert_eq!(r.code, ErrorCode::SessionOver);
                            } else {
                                assert!(removed.contains(id), "{id} refused: {r:?}");
                                assert_eq!(r.code, ErrorCode::Forbidden);
                            }
                            (Vec::new(), false)
                        }
                    }
                }
                Op::Disconnect(id) => (s.disconnect(*id), true),
                Op::Tick => (s.tick(now), true),
                Op::EndByStaff => (s.end_by_staff("admin:1:Ada", "random end"), true),
                Op::Client(from, message) => match s.client(*from, message.clone(), now) {
                    Ok(effects) => {
                        if let ClientMessage::Remove { participant_id, .. } = message
                            && !effects.is_empty()
                        {
                            removed.insert(*participant_id);
                            seen.removed += 1;
                        }
                        (effects, true)
                    }
                    Err(_) => (Vec::new(), false),
                },
            };
            let context = format!("op {ops} {op:?} at {now} in a {kind}: {effects:?}");

            // A refusal changes nothing.
            if !accepted {
                seen.refused += 1;
                assert_eq!(s.ends_at(), before.ends_at(), "{context}");
                assert_eq!(s.is_ended(), before.is_ended(), "{context}");
                assert_eq!(s.connected_count(), before.connected_count(), "{context}");
                for &(id, _) in people {
                    assert_eq!(s.state_of(id), before.state_of(id), "{context}");
                }
            }
            // Once finished, nothing happens any more.
            if finished {
                assert!(effects.is_empty(), "{context}");
            }

            let mut audited = false;
            for effect in &effects {
                match effect {
                    Effect::Audit(record) => {
                        assert_eq!(record.session_id, Some(SESSION), "{context}");
                        assert!(!record.rules.is_empty(), "{context}");
                        audited = true;
                    }
                    Effect::Send(_, ServerMessage::Admitted)
                    | Effect::Send(_, ServerMessage::Ended { .. })
                    | Effect::PersistEnd(_)
                    | Effect::PersistRemoval(_)
                    | Effect::Cancelled(_)
                    | Effect::Finish(_) => {
                        assert!(audited, "{effect:?} not preceded by an audit; {context}");
                    }
                    _ => {}
                }
                match effect {
                    Effect::Send(
                        to,
                        ServerMessage::Warning {
                            minutes_left,
                            ends_at,
                        },
                    ) => {
                        assert!(!finished, "warning after finish; {context}");
                        assert!([5, 1].contains(minutes_left), "{context}");
                        assert_eq!(*ends_at, s.ends_at(), "{context}");
                        assert!(role_of(*to).is_some(), "{context}");
                        seen.warnings += 1;
                    }
                    Effect::Send(to, ServerMessage::Admitted) => {
                        assert_eq!(
                            s.state_of(*to),
                            Some(ParticipantState::Admitted),
                            "{context}"
                        );
                        seen.admitted += 1;
                    }
                    Effect::Send(to, ServerMessage::Roster { participants }) => {
                        let viewer = role_of(*to).expect("roster to a cast member");
                        for p in participants {
                            assert_ne!(p.role, Role::Officer, "officer listed; {context}");
                            if p.role == Role::Observer {
                                assert!(
                                    matches!(viewer, Role::Judge | Role::Clerk),
                                    "observer shown to a {viewer}; {context}"
                                );
                            }
                        }
                    }
                    Effect::Finish(_) => {
                        finished = true;
                        seen.finished += 1;
                    }
                    _ => {}
                }
            }
            assert_eq!(s.is_ended(), finished, "{context}");

            // The end moves only forward, and only by a judge's extend.
            let new_end = s.ends_at();
            assert!(new_end >= old_end, "{context}");
            if new_end != old_end {
                let Op::Client(from, ClientMessage::Extend { minutes }) = &op else {
                    panic!("end moved without an extend; {context}");
                };
                assert_eq!(kind, SessionKind::CourtHearing, "{context}");
                assert_eq!(role_of(*from), Some(Role::Judge), "{context}");
                assert_eq!(new_end, old_end + mins(i64::from(*minutes)), "{context}");
                assert!(effects.contains(&Effect::PersistEnd(new_end)), "{context}");
                seen.extended += 1;
            }
        }
        // Whatever is left ends at the (possibly extended) scheduled end.
        if !finished {
            let end_at = s.ends_at();
            let effects = s.tick(end_at);
            assert!(matches!(&effects[0], Effect::Audit(a) if a.action == "session.terminate"));
            assert!(s.is_ended());
            assert_eq!(s.connected_count(), 0);
            seen.finished += 1;
        }
    }
    // The walk must actually have reached the interesting states.
    assert!(seen.extended > 0, "{seen:?}");
    assert!(seen.warnings > 0, "{seen:?}");
    assert!(seen.admitted > 0, "{seen:?}");
    assert!(seen.removed > 0, "{seen:?}");
    assert!(seen.finished > 5, "{seen:?}");
    assert!(seen.refused > 0, "{seen:?}");
}

#[test]
fn cancelling_tells_the_lobby_and_ends_the_task() {
    let mut s = session(SessionKind::SocialVisit);
    connect(&mut s, 10, Role::Detainee, start() - mins(5));
    let effects = s.cancel("scheduler:2:Sam", "The kiosk is out of order.");
    assert!(
        matches!(&effects[0], Effect::Audit(a) if a.action == "session.cancel" && a.actor == "scheduler:2:Sam")
    );
    assert_eq!(
        effects[1],
        Effect::Cancelled("The kiosk is out of order.".into())
    );
    assert_eq!(
        effects[2],
        Effect::Send(
            10,
            ServerMessage::Ended {
                reason: EndReason::Cancelled,
                message: "The kiosk is out of order.".into(),
            }
        )
    );
    assert_eq!(
        effects[3],
        Effect::Close(10, CloseCode::Ended(EndReason::Cancelled))
    );
    assert!(s.is_ended());
    // Nobody is admitted at the start of a cancelled visit.
    assert_eq!(s.tick(start()), vec![]);
    assert_eq!(s.cancel("scheduler:2:Sam", "again"), vec![]);
    assert_eq!(
        refusal(
            s.connect(10, "P10", Role::Detainee, start())
                .map(|(_, e)| e)
        ),
        ErrorCode::SessionOver
    );
}

#[test]
fn media_offers_only_once_admitted_and_at_most_one_a_second() {
    let mut s = session(SessionKind::SocialVisit);
    connect(&mut s, 10, Role::Detainee, start() - mins(5));
    let offer = |sdp: &str| ClientMessage::Offer { sdp: sdp.into() };
    assert_eq!(
        refusal(s.client(10, offer("v=0"), start() - mins(4))),
        ErrorCode::Forbidden,
        "no media from the lobby"
    );
    s.tick(start());
    let effects = client_ok(
        &mut s,
        10,
        offer("v=0 first"),
        start() + Duration::seconds(1),
    );
    assert_eq!(
        effects,
        vec![Effect::MediaOffer {
            participant_id: 10,
            sdp: "v=0 first".into(),
            ends_at: end(),
            muted: Muted::default(),
            consultation: None,
            protected_from: None,
        }]
    );
    assert_eq!(
        refusal(s.client(
            10,
            offer("v=0 again"),
            start() + Duration::milliseconds(1500)
        )),
        ErrorCode::BadMessage,
        "a second offer within a second is refused"
    );
    assert!(
        s.client(10, offer("v=0 later"), start() + Duration::seconds(3))
            .is_ok()
    );
}

// ---------------------------------------------------------------- mute

fn mute(participant_id: i64, media: MediaKind, muted: bool) -> ClientMessage {
    ClientMessage::Mute {
        participant_id,
        media,
        muted,
    }
}

#[test]
fn the_court_mutes_a_participant_audited_announced_and_kept_across_reconnection() {
    let mut s = hearing_in_progress();
    let now = start() + mins(1);
    let effects = client_ok(&mut s, 1, mute(3, MediaKind::Audio, true), now);
    let a = audits(&effects);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].action.as_str(), a[0].decision.as_str()),
        ("session.mute", "muted")
    );
    assert!(
        matches!(effects[0], Effect::Audit(_)),
        "audited first: {effects:?}"
    );
    assert!(effects.contains(&Effect::MediaMute {
        participant_id: 3,
        media: MediaKind::Audio,
        muted: true
    }));
    let shown = effects.iter().any(|e| {
        matches!(e, Effect::Send(_, ServerMessage::Roster { participants })
            if participants.iter().any(|p| p.participant_id == 3 && p.muted_audio && !p.muted_video))
    });
    assert!(shown, "everyone sees the mute: {effects:?}");
    // Muting again changes nothing and audits nothing.
    assert!(client_ok(&mut s, 2, mute(3, MediaKind::Audio, true), now).is_empty());
    // A reconnection does not lift it: the next offer carries it.
    s.disconnect(3);
    connect(&mut s, 3, Role::Defendant, now + mins(1));
    let offer = client_ok(&mut s, 3, offer(), now + mins(1));
    assert!(
        matches!(
            offer.as_slice(),
            [Effect::MediaOffer {
                muted: Muted {
                    audio: true,
                    video: false
                },
                ..
            }]
        ),
        "{offer:?}"
    );
    // The clerk lifts it.
    let lifted = client_ok(&mut s, 2, mute(3, MediaKind::Audio, false), now + mins(2));
    assert_eq!(audits(&lifted)[0].decision, "unmuted");
}

#[test]
fn only_the_court_mutes_and_only_in_a_hearing() {
    let mut s = hearing_in_progress();
    assert_eq!(
        refusal(s.client(3, mute(1, MediaKind::Audio, true), start())),
        ErrorCode::Forbidden,
        "the defendant cannot mute the judge"
    );
    assert_eq!(
        refusal(s.client(1, mute(99, MediaKind::Video, true), start())),
        ErrorCode::UnknownParticipant
    );
    let mut v = visit_in_progress();
    assert_eq!(
        refusal(v.client(10, mute(11, MediaKind::Audio, true), start() + mins(2))),
        ErrorCode::Forbidden,
        "nobody mutes anyone in a family visit"
    );
}

#[test]
fn captions_go_from_court_staff_and_interpreters_to_the_admitted_only() {
    let mut s = hearing_in_progress();
    // An interpreter admitted; a witness still waiting in the lobby.
    connect_all(
        &mut s,
        &[(4, Role::Interpreter), (5, Role::Witness)],
        start() + mins(1),
    );
    client_ok(&mut s, 1, admit(4), start() + mins(1));
    let caption = |text: &str| ClientMessage::Caption { text: text.into() };
    let at = start() + mins(2);
    let line = |from: i64, role: Role| ServerMessage::Caption {
        participant_id: from,
        role,
        text: "Le témoin confirme.".into(),
    };
    assert_eq!(
        client_ok(&mut s, 4, caption("  Le témoin confirme. "), at),
        [1, 2, 3, 4]
            .iter()
            .map(|&id| Effect::Send(id, line(4, Role::Interpreter)))
            .collect::<Vec<_>>(),
        "every admitted participant, trimmed; not the lobby; nothing audited"
    );
    assert_eq!(
        refusal(s.client(3, caption("hello"), at)),
        ErrorCode::Forbidden,
        "a defendant does not caption"
    );
    assert_eq!(
        refusal(s.client(4, caption("too soon"), at + Duration::milliseconds(50))),
        ErrorCode::BadMessage,
        "a line at a time"
    );
    assert_eq!(
        refusal(s.client(2, caption("   "), at)),
        ErrorCode::BadMessage,
        "empty"
    );
    assert_eq!(
        refusal(s.client(2, caption(&"x".repeat(MAX_CAPTION_BYTES + 1)), at)),
        ErrorCode::BadMessage,
        "too long"
    );
    assert!(
        s.client(2, caption("Clerk: adjourned at noon."), at)
            .is_ok()
    );
    // An interpreter in the lobby cannot caption yet.
    let mut waiting = session(SessionKind::CourtHearing);
    connect(&mut waiting, 6, Role::Interpreter, start());
    assert_eq!(
        refusal(waiting.client(6, caption("hello"), start() + mins(1))),
        ErrorCode::Forbidden
    );
}

// ------------------------------------------------- consultations, observers, protection

/// Judge 1, clerk 2, defendant 3 (admitted), counsel 4, interpreter 5,
/// witness 6, observer 7: all admitted.
fn full_hearing() -> LiveSession {
    let mut s = hearing_in_progress();
    connect_all(
        &mut s,
        &[
            (4, Role::Counsel),
            (5, Role::Interpreter),
            (6, Role::Witness),
            (7, Role::Observer),
        ],
        start(),
    );
    for id in [4, 5, 6, 7] {
        client_ok(&mut s, 1, admit(id), start());
    }
    s
}

fn roster_seen_by(effects: &[Effect], viewer: i64) -> Vec<LiveParticipant> {
    effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Send(to, ServerMessage::Roster { participants }) if *to == viewer => {
                Some(participants.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no roster for {viewer} in {effects:?}"))
}

#[test]
fn a_consultation_takes_defendant_and_counsel_out_of_the_hearing_and_back() {
    let mut s = full_hearing();
    let at = start() + mins(3);
    let consult = |ids: Vec<i64>| ClientMessage::Consult {
        participant_ids: ids,
    };
    // Who may open one, and for whom.
    for (from, ids, code, why) in [
        (3, vec![3, 4], ErrorCode::Forbidden, "not the defendant"),
        (
            4,
            vec![3, 5],
            ErrorCode::Forbidden,
            "counsel only for themselves",
        ),
        (1, vec![3, 6], ErrorCode::BadMessage, "not with a witness"),
        (
            1,
            vec![3, 5],
            ErrorCode::BadMessage,
            "counsel must be there",
        ),
    ] {
        assert_eq!(refusal(s.client(from, consult(ids), at)), code, "{why}");
    }
    let effects = client_ok(&mut s, 4, consult(vec![3, 4, 5]), at);
    assert!(
        matches!(&effects[0], Effect::Audit(a) if a.action == "session.consult" && a.decision == "opened")
    );
    assert!(effects.contains(&Effect::MediaHearing(
        parley_control::HearingChange::OpenConsultation {
            consultation: 1,
            members: vec![3, 4, 5]
        }
    )));
    let seen = roster_seen_by(&effects, 1);
    assert!(
        seen.iter().filter(|p| p.consultation_id == Some(1)).count() == 3,
        "{seen:?}"
    );
    assert_eq!(
        refusal(s.client(1, consult(vec![3, 4]), at)),
        ErrorCode::BadMessage,
        "already consulting"
    );
    // A reconnecting consultant offers straight into the consultation.
    s.disconnect(3);
    connect(&mut s, 3, Role::Defendant, at);
    let offer = client_ok(&mut s, 3, offer(), at + mins(1));
    assert!(
        matches!(
            offer.as_slice(),
            [Effect::MediaOffer {
                consultation: Some(1),
                ..
            }]
        ),
        "{offer:?}"
    );
    // The witness cannot end it; the judge recalls them.
    let end = ClientMessage::EndConsultation { consultation_id: 1 };
    assert_eq!(refusal(s.client(6, end.clone(), at)), ErrorCode::Forbidden);
    let back = client_ok(&mut s, 1, end.clone(), at + mins(2));
    assert!(back.contains(&Effect::MediaHearing(
        parley_control::HearingChange::CloseConsultation { consultation: 1 }
    )));
    assert!(
        roster_seen_by(&back, 2)
            .iter()
            .all(|p| p.consultation_id.is_none())
    );
    assert_eq!(
        refusal(s.client(1, end, at)),
        ErrorCode::BadMessage,
        "no such consultation any more"
    );
}

#[test]
fn the_court_closes_the_hearing_to_observers() {
    let mut s = full_hearing();
    let close = ClientMessage::Observers { admitted: false };
    assert_eq!(
        refusal(s.client(6, close.clone(), start())),
        ErrorCode::Forbidden
    );
    let effects = client_ok(&mut s, 2, close.clone(), start());
    assert!(
        matches!(&effects[0], Effect::Audit(a) if a.action == "session.observers" && a.decision == "closed")
    );
    assert!(effects.contains(&Effect::MediaHearing(
        parley_control::HearingChange::Observers { admitted: false }
    )));
    assert!(effects.contains(&Effect::Send(
        7,
        ServerMessage::Observers { admitted: false }
    )));
    assert!(
        client_ok(&mut s, 1, close, start()).is_empty(),
        "closing twice changes nothing"
    );
}

#[test]
fn a_protected_witness_is_known_by_a_pseudonym_and_hidden_from_the_defendant() {
    let mut s = full_hearing();
    let protect = |pseudonym: &str| ClientMessage::Protect {
        participant_id: 6,
        pseudonym: pseudonym.into(),
        hide_from_defendant: true,
    };
    assert_eq!(
        refusal(s.client(2, protect("Witness A"), start())),
        ErrorCode::Forbidden,
        "the judge orders it"
    );
    assert_eq!(
        refusal(s.client(1, protect("  "), start())),
        ErrorCode::BadMessage
    );
    let effects = client_ok(&mut s, 1, protect("Witness A"), start());
    assert!(matches!(&effects[0], Effect::Audit(a) if a.action == "session.protect"));
    assert!(effects.contains(&Effect::MediaHearing(
        parley_control::HearingChange::Protect {
            member: 6,
            hidden_from: Some(vec![3])
        }
    )));
    let name_for = |viewer: i64| {
        roster_seen_by(&effects, viewer)
            .into_iter()
            .find(|p| p.participant_id == 6)
            .map(|p| (p.name, p.protected))
    };
    assert_eq!(
        name_for(3),
        Some(("Witness A".into(), false)),
        "the defendant sees the pseudonym"
    );
    assert_eq!(
        name_for(7),
        Some(("Witness A".into(), false)),
        "so does the public"
    );
    assert_eq!(
        name_for(1),
        Some((name(6), true)),
        "the court sees the name"
    );
    assert_eq!(
        name_for(6),
        Some((name(6), true)),
        "and the witness their own"
    );
    // A second defendant connecting later is hidden from too.
    let later = connect(&mut s, 8, Role::Defendant, start() + mins(1));
    assert!(
        later.contains(&Effect::MediaHearing(
            parley_control::HearingChange::Protect {
                member: 6,
                hidden_from: Some(vec![3, 8])
            }
        )),
        "{later:?}"
    );
}

/// Who is told about the active speaker: those who hear them, never the
/// lobby, never an observer shut out of the hearing, and nobody outside a
/// consultation about someone speaking inside it.
#[test]
fn the_active_speaker_reaches_only_those_who_hear_them() {
    let mut s = full_hearing();
    // A witness still in the lobby.
    connect(&mut s, 8, Role::Witness, start());
    let told = |effects: &[Effect]| -> Vec<i64> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(to, ServerMessage::ActiveSpeaker { .. }) => Some(*to),
                _ => None,
            })
            .collect()
    };
    assert_eq!(told(&s.active_speaker(1)), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        told(&s.active_speaker(8)),
        Vec::<i64>::new(),
        "a lobby speaker"
    );
    client_ok(
        &mut s,
        1,
        ClientMessage::Observers { admitted: false },
        start(),
    );
    assert_eq!(told(&s.active_speaker(1)), vec![1, 2, 3, 4, 5, 6]);
    client_ok(
        &mut s,
        1,
        ClientMessage::Consult {
            participant_ids: vec![3, 4],
        },
        start(),
    );
    assert_eq!(
        told(&s.active_speaker(3)),
        vec![3, 4],
        "inside the consultation"
    );
    assert_eq!(
        told(&s.active_speaker(1)),
        vec![1, 2, 5, 6],
        "the hearing meanwhile"
    );
}

// ---------------------------------------------------------------- restart

/// The audit entries among `effects`, as the store gives them back.
fn recorded(effects: &[Effect]) -> Vec<Recorded> {
    audits(effects)
        .into_iter()
        .map(|a| Recorded {
            action: a.action.clone(),
            decision: a.decision.clone(),
            details: a.details.clone(),
        })
        .collect()
}

/// The standing a participant's offer hands the media server.
fn offer_standing(s: &mut LiveSession, id: i64, at: DateTime<Utc>) -> Effect {
    let effects = client_ok(s, id, offer(), at);
    effects
        .into_iter()
        .find(|e| matches!(e, Effect::MediaOffer { .. }))
        .unwrap_or_else(|| panic!("an offer for {id}"))
}

/// Everything the court decided survives a restart of signaling: a session
/// rebuilt from the first one's audit entries, everyone joining again,
/// shows each of them the same roster and hands the media server the same
/// standing for each offer; the removed stay out and the hearing stays
/// closed to the public.
#[test]
fn a_restart_restores_every_decision_of_the_court_from_the_audit_log() {
    let people = [
        (1, Role::Judge),
        (2, Role::Clerk),
        (3, Role::Defendant),
        (4, Role::Counsel),
        (5, Role::Witness),
        (6, Role::Observer),
        (7, Role::Observer),
        (8, Role::Interpreter),
    ];
    let mut s = session(SessionKind::CourtHearing);
    let mut log = Vec::new();
    for &(id, role) in &people {
        log.extend(connect(&mut s, id, role, start() - mins(5)));
    }
    let at = start() + mins(1);
    // The interpreter (8) is left in the lobby.
    for id in [3, 4, 5, 6, 7] {
        log.extend(client_ok(&mut s, 1, admit(id), at));
    }
    for message in [
        ClientMessage::Mute {
            participant_id: 4,
            media: MediaKind::Audio,
            muted: true,
        },
        ClientMessage::Mute {
            participant_id: 5,
            media: MediaKind::Video,
            muted: true,
        },
        ClientMessage::Mute {
            participant_id: 5,
            media: MediaKind::Video,
            muted: false,
        },
        ClientMessage::Protect {
            participant_id: 5,
            pseudonym: "Witness A".into(),
            hide_from_defendant: true,
        },
        ClientMessage::Observers { admitted: false },
        remove(7, "disruptive"),
    ] {
        log.extend(client_ok(&mut s, 1, message, at));
    }
    log.extend(client_ok(
        &mut s,
        4,
        ClientMessage::Consult {
            participant_ids: vec![3, 4],
        },
        at,
    ));

    let booked: Vec<Booked> = people
        .iter()
        .map(|&(id, role)| Booked {
            id,
            name: name(id),
            role,
        })
        .collect();
    let mut r = session(SessionKind::CourtHearing);
    assert_eq!(
        r.restore(&booked, &recorded(&log)),
        vec![Effect::MediaHearing(
            parley_control::HearingChange::Observers { admitted: false }
        )],
        "the room opens closed to the public"
    );
    let later = start() + mins(2);
    for &(id, role) in &people {
        if id == 7 {
            assert_eq!(
                refusal(r.connect(id, &name(id), role, later)),
                ErrorCode::Forbidden,
                "the removed observer stays out"
            );
            continue;
        }
        let (state, _) = r.connect(id, &name(id), role, later).expect("joins again");
        assert_eq!(Some(state), s.state_of(id), "{id} ({role}) lands as before");
    }
    for &(id, role) in &people {
        if id == 7 {
            continue;
        }
        assert_eq!(
            r.roster_for(id, role),
            s.roster_for(id, role),
            "{id} ({role}) sees the same roster"
        );
        if s.state_of(id) == Some(ParticipantState::Admitted) {
            assert_eq!(
                offer_standing(&mut r, id, later),
                offer_standing(&mut s, id, later),
                "{id} ({role}) joins the media with the same standing"
            );
        }
    }
    let witness = offer_standing(&mut r, 5, later + mins(1));
    let Effect::MediaOffer { protected_from, .. } = witness else {
        unreachable!()
    };
    assert_eq!(protected_from, Some(vec![3]), "hidden from the defendant");
}

#[test]
fn restoring_skips_what_it_does_not_know() {
    let booked = [Booked {
        id: 3,
        name: name(3),
        role: Role::Defendant,
    }];
    let entries = [
        Recorded {
            action: "session.admit".into(),
            decision: "admitted".into(),
            details: serde_json::json!({"participant_id": 99}),
        },
        Recorded {
            action: "session.mute".into(),
            decision: "muted".into(),
            details: serde_json::json!({"participant_id": 3, "media": "smell", "muted": true}),
        },
        Recorded {
            action: "session.consult".into(),
            decision: "opened".into(),
            details: serde_json::json!({"consultation_id": "one"}),
        },
        Recorded {
            action: "session.unknown".into(),
            decision: "whatever".into(),
            details: serde_json::Value::Null,
        },
    ];
    let mut r = session(SessionKind::CourtHearing);
    assert!(r.restore(&booked, &entries).is_empty());
    assert_eq!(r.state_of(99), None, "not booked, not restored");
    let (state, _) = r
        .connect(3, &name(3), Role::Defendant, start())
        .expect("joins");
    assert_eq!(state, ParticipantState::Lobby);
    assert_eq!(
        r.roster_for(3, Role::Defendant),
        session_roster_of_one_defendant()
    );
}

fn session_roster_of_one_defendant() -> ServerMessage {
    roster(&[(3, Role::Defendant, ParticipantState::Lobby)])
}

// ---------------------------------------------------------------- fair use

/// What `s` does when `from` offers at `at` and the media server answers:
/// the offer is handed on, and the answer may end an outage.
fn offer_at(s: &mut LiveSession, from: i64, at: DateTime<Utc>) -> Vec<Effect> {
    let effects = client_ok(s, from, offer(), at);
    assert!(
        matches!(effects[..], [Effect::MediaOffer { .. }]),
        "{effects:?}"
    );
    s.media_answered(from, at)
}

fn lost(member: i64) -> MediaEvent {
    MediaEvent::MediaLost {
        room: SESSION,
        member,
    }
}

#[test]
fn a_visits_media_outage_is_given_back_as_a_later_end() {
    // demo: pause_clock, cap 10 min, outages under 20 s not given back.
    let mut s = visit_in_progress();
    let t = |secs: i64| start() + mins(2) + Duration::seconds(secs);
    s.on_media(lost(11), t(0));
    // The detainee's own offer does not end the family's outage, nor does
    // the family's offer the media server does not answer.
    assert_eq!(offer_at(&mut s, 10, t(30)), vec![]);
    client_ok(&mut s, 11, offer(), t(60));
    assert_eq!(s.ends_at(), end());
    let effects = offer_at(&mut s, 11, t(95));
    let new_end = end() + Duration::seconds(95);
    let mut expected = vec![
        Effect::Audit(
            audit("system", "session.fair_use", "clock paused", "fair_use/pause_clock").details(
                serde_json::json!({"lost_seconds": 95, "given_seconds": 95, "old_end": end(), "new_end": new_end}),
            ),
        ),
        Effect::PersistEnd(new_end),
    ];
    for to in [10, 11] {
        expected.push(Effect::Send(
            to,
            ServerMessage::Extended {
                ends_at: new_end,
                lost_seconds: Some(95),
            },
        ));
    }
    assert_eq!(effects, expected);
    assert_eq!(s.ends_at(), new_end);
    // A second offer is not a second outage.
    assert_eq!(offer_at(&mut s, 11, t(200)), vec![]);
}

#[test]
fn an_outage_lasts_until_everyone_it_took_is_back_and_the_cap_holds() {
    let mut s = visit_in_progress();
    let t = |secs: i64| start() + mins(2) + Duration::seconds(secs);
    // The media server goes: both lost at once, back at 40 s and 70 s.
    s.on_media(MediaEvent::PlaneDown, t(0));
    assert_eq!(offer_at(&mut s, 10, t(40)), vec![]);
    let effects = offer_at(&mut s, 11, t(70));
    assert_eq!(s.ends_at(), end() + Duration::seconds(70), "{effects:?}");
    // A blip (10 s) gives nothing back.
    s.on_media(lost(10), t(100));
    assert_eq!(offer_at(&mut s, 10, t(110)), vec![]);
    // Long outages: never more than 10 minutes in all.
    s.on_media(lost(10), t(200));
    offer_at(&mut s, 10, t(200 + 400));
    assert_eq!(s.ends_at(), end() + Duration::seconds(470));
    s.on_media(lost(11), t(700));
    let effects = offer_at(&mut s, 11, t(700 + 400));
    assert_eq!(s.ends_at(), end() + mins(10), "capped");
    assert!(
        matches!(
            effects.last(),
            Some(Effect::Send(
                _,
                ServerMessage::Extended {
                    lost_seconds: Some(130),
                    ..
                }
            ))
        ),
        "{effects:?}"
    );
    s.on_media(lost(11), t(1200));
    assert_eq!(offer_at(&mut s, 11, t(1300)), vec![], "the cap is spent");
}

#[test]
fn hearings_and_lobbies_get_no_time_back_and_a_restart_remembers_what_was_given() {
    // A hearing: the judge extends it, the fair-use rule does not.
    let mut h = hearing_in_progress();
    h.on_media(lost(3), start() + mins(2));
    assert_eq!(offer_at(&mut h, 3, start() + mins(4)), vec![]);
    assert_eq!(h.ends_at(), end());
    // Before the start nobody is admitted to a visit: no outage.
    let mut early = session(SessionKind::SocialVisit);
    connect(&mut early, 10, Role::Detainee, start() - mins(5));
    early.on_media(lost(10), start() - mins(4));
    early.tick(start());
    assert_eq!(offer_at(&mut early, 10, start() + mins(1)), vec![]);
    // After a restart, 9 minutes already given leave 1.
    let mut again = visit_in_progress();
    again.restore(
        &[],
        &[Recorded {
            action: "session.fair_use".into(),
            decision: "clock paused".into(),
            details: serde_json::json!({"given_seconds": 540}),
        }],
    );
    again.on_media(lost(10), start() + mins(2));
    offer_at(&mut again, 10, start() + mins(5));
    assert_eq!(again.ends_at(), end() + mins(1));
}

#[test]
fn where_the_rule_credits_the_end_stays_and_the_time_is_credited() {
    let mut j = (*jurisdiction()).clone();
    j.fair_use.mode = parley_policy::FairUseMode::Credit;
    let mut s = LiveSession::new(
        SESSION,
        SessionKind::SocialVisit,
        Arc::new(j),
        start(),
        end(),
    );
    connect_all(
        &mut s,
        &[(10, Role::Detainee), (11, Role::Visitor)],
        start() + mins(1),
    );
    s.on_media(lost(11), start() + mins(2));
    let effects = offer_at(&mut s, 11, start() + mins(2) + Duration::seconds(80));
    let mut expected = vec![
        Effect::Audit(
            audit("system", "session.fair_use", "credited", "fair_use/credit")
                .details(serde_json::json!({"lost_seconds": 80, "given_seconds": 80})),
        ),
        Effect::PersistCredit(80),
    ];
    for to in [10, 11] {
        expected.push(Effect::Send(
            to,
            ServerMessage::TimeCredited { seconds: 80 },
        ));
    }
    assert_eq!(effects, expected);
    assert_eq!(s.ends_at(), end(), "the end stays");
}

mod e2ee;
