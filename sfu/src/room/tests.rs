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
