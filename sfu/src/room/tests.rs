use super::*;
use proptest::prelude::*;

fn policy(privileged: bool, recorded: bool, monitoring_allowed: bool) -> RoomPolicy {
    RoomPolicy {
        privileged,
        recorded,
        monitoring_allowed,
    }
}

#[test]
fn a_visit_forwards_between_participants_and_to_its_monitor() {
    let mut room = Room::open(policy(false, true, true));
    room.join(1, MemberKind::Participant).expect("join");
    room.join(2, MemberKind::Participant).expect("join");
    room.join(90, MemberKind::Monitor).expect("monitor allowed");
    room.join(99, MemberKind::Recorder)
        .expect("recorder allowed");
    assert_eq!(
        room.receivers_of(1, MediaKind::Video).collect::<Vec<_>>(),
        vec![2, 90, 99]
    );
    assert_eq!(
        room.receivers_of(2, MediaKind::Audio).collect::<Vec<_>>(),
        vec![1, 90, 99]
    );
    assert_eq!(
        room.receivers_of(90, MediaKind::Audio).collect::<Vec<_>>(),
        Vec::<MemberId>::new()
    );
    assert_eq!(
        room.set_muted(90, MediaKind::Audio, true),
        Err(RoomError::ReceiveOnly(90))
    );
}

#[test]
fn a_privileged_room_refuses_recorders_and_monitors_whatever_it_is_told() {
    let mut room = Room::open(policy(true, true, true));
    assert_eq!(
        room.policy(),
        policy(true, false, false),
        "privileged policy is corrected"
    );
    room.join(1, MemberKind::Participant).expect("counsel");
    room.join(2, MemberKind::Participant).expect("client");
    assert_eq!(
        room.join(99, MemberKind::Recorder),
        Err(RoomError::Privileged(MemberKind::Recorder))
    );
    assert_eq!(
        room.join(90, MemberKind::Monitor),
        Err(RoomError::Privileged(MemberKind::Monitor))
    );
    assert_eq!(
        room.join(80, MemberKind::Observer),
        Err(RoomError::Privileged(MemberKind::Observer)),
        "nobody watches a privileged consultation"
    );
    assert_eq!(room.set_recorded(true), Err(RoomError::PrivilegedPolicy));
    assert_eq!(room.set_monitoring(true), Err(RoomError::PrivilegedPolicy));
    assert_eq!(
        room.receivers_of(1, MediaKind::Audio).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn recorders_and_monitors_need_the_policy() {
    let mut room = Room::open(policy(false, false, false));
    assert_eq!(
        room.join(99, MemberKind::Recorder),
        Err(RoomError::NotRecorded)
    );
    assert_eq!(
        room.join(90, MemberKind::Monitor),
        Err(RoomError::MonitoringNotAllowed)
    );
    room.set_recorded(true).expect("start recording");
    room.join(99, MemberKind::Recorder).expect("now allowed");
    room.set_monitoring(true).expect("allow");
    room.join(90, MemberKind::Monitor).expect("now allowed");
    assert_eq!(
        room.set_recorded(false),
        Ok(vec![99]),
        "a lawful stop evicts the recorder"
    );
    assert_eq!(room.set_monitoring(false), Ok(vec![90]));
    assert_eq!(room.members().count(), 0);
}

#[test]
fn mute_removal_and_close_stop_forwarding() {
    let mut room = Room::open(policy(false, false, false));
    for id in [1, 2, 3] {
        room.join(id, MemberKind::Participant).expect("join");
    }
    room.join(4, MemberKind::Observer).expect("observer");
    room.set_muted(1, MediaKind::Audio, true).expect("mute");
    assert!(
        room.receivers_of(1, MediaKind::Audio)
            .collect::<Vec<_>>()
            .is_empty()
    );
    assert_eq!(
        room.receivers_of(1, MediaKind::Video).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    room.set_muted(1, MediaKind::Audio, false).expect("unmute");
    assert_eq!(
        room.receivers_of(1, MediaKind::Audio).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(room.remove(2), Ok(MemberKind::Participant));
    assert_eq!(room.remove(2), Err(RoomError::UnknownMember(2)));
    assert_eq!(
        room.receivers_of(2, MediaKind::Audio).collect::<Vec<_>>(),
        Vec::<MemberId>::new()
    );
    assert_eq!(
        room.receivers_of(1, MediaKind::Audio).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(
        room.receivers_of(4, MediaKind::Video)
            .collect::<Vec<_>>()
            .is_empty(),
        "observers cannot publish"
    );
    assert_eq!(
        room.join(3, MemberKind::Participant),
        Err(RoomError::AlreadyMember(3))
    );
    assert_eq!(room.close(), vec![1, 3, 4]);
    assert!(
        room.receivers_of(1, MediaKind::Audio)
            .collect::<Vec<_>>()
            .is_empty()
    );
    assert_eq!(
        room.join(5, MemberKind::Participant),
        Err(RoomError::Closed)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Join(MemberId, MemberKind),
    Remove(MemberId),
    Mute(MemberId, MediaKind, bool),
    SetRecorded(bool),
    SetMonitoring(bool),
    Close,
    Consult(ConsultationId, Vec<MemberId>),
    EndConsultation(ConsultationId),
    Observers(bool),
    Protect(MemberId, Option<Vec<MemberId>>),
}

fn kind() -> impl Strategy<Value = MemberKind> {
    prop_oneof![
        Just(MemberKind::Participant),
        Just(MemberKind::Observer),
        Just(MemberKind::Monitor),
        Just(MemberKind::Recorder),
    ]
}

fn media() -> impl Strategy<Value = MediaKind> {
    prop_oneof![Just(MediaKind::Audio), Just(MediaKind::Video)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0i64..12, kind()).prop_map(|(id, k)| Op::Join(id, k)),
        2 => (0i64..12).prop_map(Op::Remove),
        2 => (0i64..12, media(), any::<bool>()).prop_map(|(id, m, b)| Op::Mute(id, m, b)),
        1 => any::<bool>().prop_map(Op::SetRecorded),
        1 => any::<bool>().prop_map(Op::SetMonitoring),
        1 => Just(Op::Close),
        2 => (0u32..3, proptest::collection::vec(0i64..12, 0..4)).prop_map(|(c, m)| Op::Consult(c, m)),
        1 => (0u32..3).prop_map(Op::EndConsultation),
        1 => any::<bool>().prop_map(Op::Observers),
        1 => (0i64..12, proptest::option::of(proptest::collection::vec(0i64..12, 0..3)))
            .prop_map(|(m, h)| Op::Protect(m, h)),
    ]
}

fn apply(room: &mut Room, op: Op) -> Result<(), RoomError> {
    match op {
        Op::Join(id, k) => room.join(id, k),
        Op::Remove(id) => room.remove(id).map(|_| ()),
        Op::Mute(id, m, b) => room.set_muted(id, m, b),
        Op::SetRecorded(b) => room.set_recorded(b).map(|_| ()),
        Op::SetMonitoring(b) => room.set_monitoring(b).map(|_| ()),
        Op::Close => {
            room.close();
            Ok(())
        }
        Op::Consult(c, members) => room.open_consultation(c, &members),
        Op::EndConsultation(c) => room.close_consultation(c).map(|_| ()),
        Op::Observers(b) => {
            room.set_observers_admitted(b);
            Ok(())
        }
        Op::Protect(m, hidden) => room.set_protection(m, hidden.map(|h| h.into_iter().collect())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Invariant 1 over random control sequences: whatever is asked, a
    /// privileged room never holds a recorder or a monitor, and no receiver
    /// list ever names one.
    #[test]
    fn privileged_media_never_reaches_a_recorder_or_monitor(
        recorded in any::<bool>(),
        monitoring in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut room = Room::open(policy(true, recorded, monitoring));
        for op in ops {
            let before = room.clone();
            let result = apply(&mut room, op);
            if result.is_err() {
                prop_assert_eq!(room.members().collect::<Vec<_>>(), before.members().collect::<Vec<_>>(), "a refusal changes nothing");
            }
            prop_assert!(!room.policy().recorded && !room.policy().monitoring_allowed);
            for (id, k) in room.members() {
                prop_assert_eq!(k, MemberKind::Participant, "member {} of a privileged room", id);
            }
            for (publisher, _) in room.members().collect::<Vec<_>>() {
                for m in [MediaKind::Audio, MediaKind::Video] {
                    for r in room.receivers_of(publisher, m).collect::<Vec<_>>() {
                        let k = room.kind_of(r);
                        prop_assert!(!matches!(k, Some(MemberKind::Recorder | MemberKind::Monitor)));
                        prop_assert_ne!(r, publisher);
                    }
                }
            }
        }
    }

    /// In any room, only members receive, nobody receives themselves, and
    /// receive-only members never publish.
    #[test]
    fn forwarding_respects_membership(
        privileged in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut room = Room::open(policy(privileged, true, true));
        for op in ops {
            let _ = apply(&mut room, op);
            for publisher in 0i64..12 {
                for m in [MediaKind::Audio, MediaKind::Video] {
                    let receivers = room.receivers_of(publisher, m).collect::<Vec<_>>();
                    if !receivers.is_empty() {
                        prop_assert_eq!(room.kind_of(publisher), Some(MemberKind::Participant));
                    }
                    for r in receivers {
                        prop_assert!(room.kind_of(r).is_some());
                        prop_assert_ne!(r, publisher);
                    }
                }
            }
        }
    }
}

/// A hearing with judge 1, defendant 2, counsel 3, observer 4, recorder 5,
/// monitor 6.
fn hearing() -> Room {
    let mut room = Room::open(policy(false, true, true));
    for (id, kind) in [
        (1, MemberKind::Participant),
        (2, MemberKind::Participant),
        (3, MemberKind::Participant),
        (4, MemberKind::Observer),
        (5, MemberKind::Recorder),
        (6, MemberKind::Monitor),
    ] {
        room.join(id, kind).expect("joins");
    }
    room
}

fn receivers(room: &Room, publisher: MemberId, media: MediaKind) -> Vec<MemberId> {
    room.receivers_of(publisher, media).collect()
}

#[test]
fn a_consultation_exchanges_media_only_within_itself() {
    let mut room = hearing();
    room.open_consultation(7, &[2, 3]).expect("opens");
    for m in [MediaKind::Audio, MediaKind::Video] {
        assert_eq!(receivers(&room, 2, m), vec![3]);
        assert_eq!(receivers(&room, 3, m), vec![2]);
        assert_eq!(
            receivers(&room, 1, m),
            vec![4, 5, 6],
            "the hearing goes on without them"
        );
    }
    assert_eq!(
        room.open_consultation(8, &[1, 4]),
        Err(RoomError::NotAParticipant(4)),
        "an observer never consults"
    );
    assert_eq!(
        room.consultation_of(1),
        None,
        "a refused consultation changes nothing"
    );
    assert_eq!(
        room.open_consultation(9, &[1, 2]),
        Err(RoomError::AlreadyConsulting(2))
    );
    assert_eq!(
        room.open_consultation(9, &[1]),
        Err(RoomError::ConsultationTooSmall)
    );
    // Someone not in the room yet joins into the consultation later.
    room.open_consultation(10, &[1, 20])
        .expect("opens with the judge alone for now");
    assert_eq!(
        receivers(&room, 1, MediaKind::Audio),
        Vec::<MemberId>::new()
    );
    room.join(20, MemberKind::Participant).expect("joins");
    room.place_in_consultation(20, 10).expect("placed");
    assert_eq!(receivers(&room, 1, MediaKind::Audio), vec![20]);
    assert_eq!(room.close_consultation(10), Ok(vec![1, 20]));
    assert_eq!(room.close_consultation(7), Ok(vec![2, 3]));
    assert_eq!(
        receivers(&room, 2, MediaKind::Audio),
        vec![1, 3, 4, 5, 6, 20]
    );
    assert_eq!(
        room.close_consultation(7),
        Err(RoomError::UnknownConsultation(7))
    );
}

#[test]
fn closing_to_observers_and_protecting_a_witness() {
    let mut room = hearing();
    room.set_observers_admitted(false);
    assert_eq!(receivers(&room, 1, MediaKind::Audio), vec![2, 3, 5, 6]);
    room.set_observers_admitted(true);
    // Witness 3's video is hidden from observers, monitors and defendant 2.
    room.set_protection(3, Some([2].into())).expect("protects");
    assert_eq!(receivers(&room, 3, MediaKind::Video), vec![1, 5]);
    assert_eq!(receivers(&room, 3, MediaKind::Audio), vec![1, 2, 4, 5, 6]);
    assert_eq!(room.set_protection(4, None), Err(RoomError::ReceiveOnly(4)));
    room.set_protection(3, None).expect("lifted");
    assert_eq!(receivers(&room, 3, MediaKind::Video), vec![1, 2, 4, 5, 6]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Over random control sequences: a consultation's media reaches only
    /// the other participants of that consultation (never the hearing, an
    /// observer, a monitor or the recorder), consultants hear nothing from
    /// outside, observers get nothing while the hearing is closed to them,
    /// and a protected witness's video reaches no observer, no monitor and
    /// nobody the court hid it from.
    #[test]
    fn hearing_rules_hold_whatever_is_asked(ops in proptest::collection::vec(op(), 1..100)) {
        let mut room = Room::open(policy(false, true, true));
        let mut hidden: std::collections::BTreeMap<MemberId, Option<Vec<MemberId>>> = Default::default();
        for op in ops {
            let before = room.clone();
            if let Op::Protect(m, h) = &op
                && room.kind_of(*m) == Some(MemberKind::Participant)
            {
                hidden.insert(*m, h.clone());
            }
            if let Op::Remove(m) = &op {
                hidden.remove(m);
            }
            let result = apply(&mut room, op);
            if result.is_err() {
                prop_assert_eq!(
                    room.members().map(|(id, _)| (id, room.consultation_of(id))).collect::<Vec<_>>(),
                    before.members().map(|(id, _)| (id, before.consultation_of(id))).collect::<Vec<_>>(),
                    "a refusal changes nothing"
                );
            }
            for (publisher, _) in room.members().collect::<Vec<_>>() {
                for m in [MediaKind::Audio, MediaKind::Video] {
                    for r in room.receivers_of(publisher, m).collect::<Vec<_>>() {
                        let group = room.consultation_of(publisher);
                        prop_assert_eq!(room.consultation_of(r), group, "{} -> {} crosses a consultation", publisher, r);
                        if group.is_some() {
                            prop_assert_eq!(room.kind_of(r), Some(MemberKind::Participant));
                        }
                        if !room.observers_admitted() {
                            prop_assert_ne!(room.kind_of(r), Some(MemberKind::Observer));
                        }
                        if m == MediaKind::Video
                            && let Some(Some(h)) = hidden.get(&publisher)
                        {
                            prop_assert!(!h.contains(&r), "{} sees protected {}", r, publisher);
                            prop_assert!(!matches!(room.kind_of(r), Some(MemberKind::Observer | MemberKind::Monitor)));
                        }
                    }
                }
            }
        }
    }
}
