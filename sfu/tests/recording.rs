//! The SFU's side of recording with real WebRTC clients: a recorded room's
//! packets reach the recording tap as plain RTP on per-member tracks; a
//! privileged or unrecorded room refuses the recorder; a consultation never
//! reaches it; a stop stops it.

mod common;

use common::{join, privileged_token, send_together, sfu, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::engine::{HearingChange, RecordingTap, SfuError, recording_track_id};
use parley_sfu::room::{MediaKind, MemberKind, RoomError, RoomPolicy};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects what the SFU hands the recorder: packets per track, and
/// whether each parsed as RTP.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<HashMap<u32, u64>>>);

impl RecordingTap for Collected {
    fn send_rtp(&self, track_id: u32, received_at_us: u64, packet: &[u8]) -> bool {
        let plain_rtp = packet.len() > 12 && packet[0] >> 6 == 2;
        let recent = received_at_us > 1_700_000_000_000_000;
        if let Ok(mut m) = self.0.lock()
            && plain_rtp
            && recent
        {
            *m.entry(track_id).or_default() += 1;
        }
        true
    }
}

impl Collected {
    fn of(&self, member: i64, media: MediaKind) -> u64 {
        let track = recording_track_id(member, media).expect("track id");
        self.0
            .lock()
            .map(|m| m.get(&track).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

const RECORDED: RoomPolicy = RoomPolicy {
    privileged: false,
    recorded: true,
    monitoring_allowed: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_hearing_reaches_the_tap_but_never_a_consultation() -> anyhow::Result<()> {
    let sfu = sfu_with_room(70, RECORDED)?;
    let tap = Collected::default();
    let s2 = sfu.clone();
    let t2 = tap.clone();
    tokio::task::spawn_blocking(move || s2.start_recording(70, Box::new(t2))).await??;
    let mut judge = Client::new("judge", true, 2, 70_000).await?;
    let mut defendant = Client::new("defendant", true, 2, 71_000).await?;
    let mut counsel = Client::new("counsel", true, 2, 72_000).await?;
    join(&mut judge, &sfu, 70, token(70, 1, Role::Judge), 2).await?;
    join(&mut defendant, &sfu, 70, token(70, 2, Role::Defendant), 2).await?;
    join(&mut counsel, &sfu, 70, token(70, 3, Role::Counsel), 2).await?;
    let everyone = [&judge, &defendant, &counsel];
    let all = |first| send_together(&everyone, first, 25);
    all(0).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for member in [1, 2, 3] {
        for media in [MediaKind::Audio, MediaKind::Video] {
            assert!(
                tap.of(member, media) >= 20,
                "member {member} {media:?} recorded"
            );
        }
    }
    // Defendant and counsel consult: not one packet of theirs is recorded.
    let s2 = sfu.clone();
    tokio::task::spawn_blocking(move || {
        s2.change_hearing(
            70,
            HearingChange::OpenConsultation {
                consultation: 1,
                members: vec![2, 3],
            },
        )
    })
    .await??;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = [2, 3].map(|m| tap.of(m, MediaKind::Audio) + tap.of(m, MediaKind::Video));
    let judge_before = tap.of(1, MediaKind::Audio);
    all(100).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = [2, 3].map(|m| tap.of(m, MediaKind::Audio) + tap.of(m, MediaKind::Video));
    assert_eq!(after, before, "a consultation is never recorded");
    assert!(
        tap.of(1, MediaKind::Audio) >= judge_before + 20,
        "the hearing still is"
    );
    // A stop stops it.
    let s2 = sfu.clone();
    tokio::task::spawn_blocking(move || s2.stop_recording(70)).await??;
    let stopped = tap.of(1, MediaKind::Audio);
    all(200).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tap.of(1, MediaKind::Audio),
        stopped,
        "nothing after the stop"
    );
    assert!(sfu.stats().recorded_packets >= 6 * 20, "{:?}", sfu.stats());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_and_unrecorded_rooms_refuse_the_recorder() -> anyhow::Result<()> {
    let sfu = sfu();
    // Asked to record a legal visit: the room corrects the policy at open.
    sfu.open_room(
        71,
        RoomPolicy {
            privileged: true,
            recorded: true,
            monitoring_allowed: true,
        },
    )?;
    let tap = Collected::default();
    let refused = sfu.start_recording(71, Box::new(tap.clone()));
    assert_eq!(
        refused,
        Err(SfuError::Room(RoomError::Privileged(MemberKind::Recorder)))
    );
    let mut counsel = Client::new("counsel", true, 1, 73_000).await?;
    join(
        &mut counsel,
        &sfu,
        71,
        privileged_token(71, 1, Role::Counsel),
        1,
    )
    .await?;
    counsel.send(0, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tap.of(1, MediaKind::Audio) + tap.of(1, MediaKind::Video), 0);
    sfu.open_room(72, common::ORDINARY)?;
    assert_eq!(
        sfu.start_recording(72, Box::new(tap)),
        Err(SfuError::Room(RoomError::NotRecorded))
    );
    assert_eq!(sfu.stats().recorded_packets, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spoken_notice_plays_before_anything_is_recorded() -> anyhow::Result<()> {
    let sfu = sfu_with_room(73, RECORDED)?;
    let mut a = Client::new("a", true, 1, 74_000).await?;
    let mut b = Client::new("b", true, 1, 75_000).await?;
    join(&mut a, &sfu, 73, token(73, 1, Role::Visitor), 1).await?;
    join(&mut b, &sfu, 73, token(73, 2, Role::Visitor), 1).await?;
    // 50 frames (1 s) that the test client recognises as "announcement".
    let frames: Vec<bytes::Bytes> = (0..50u16)
        .map(|i| parley_client::payload("audio", "announcement", i).into())
        .collect();
    let tap = Collected::default();
    let (s2, t2) = (sfu.clone(), tap.clone());
    tokio::task::spawn_blocking(move || s2.start_recording_after(73, Box::new(t2), frames))
        .await??;
    // `a` speaks during the notice: nobody hears it, nothing is recorded.
    a.send(0, 20).await?;
    assert_eq!(
        tap.of(1, MediaKind::Audio) + tap.of(1, MediaKind::Video),
        0,
        "nothing recorded during the notice"
    );
    assert_eq!(b.got("a", "audio"), 0, "the notice is the only audio");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        b.got("announcement", "audio") >= 45,
        "b heard the notice: {}",
        b.got("announcement", "audio")
    );
    assert!(a.got("announcement", "audio") >= 45, "so did a");
    // Then media flows, and is recorded.
    a.send(20, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.got("a", "audio") >= 20);
    assert!(
        tap.of(1, MediaKind::Audio) >= 20,
        "recorded after the notice"
    );
    assert!(sfu.stats().announcement_packets >= 90, "{:?}", sfu.stats());
    Ok(())
}
