//! A simulcast publisher and subscribers with different receive limits,
//! with real WebRTC clients over 127.0.0.1: each subscriber gets the layer
//! its bandwidth allows, and only that one.

mod common;

use common::{join, send_together, sfu, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::engine::MediaEvent;
use parley_sfu::room::RoomPolicy;
use std::time::Duration;

const HEARING: RoomPolicy = RoomPolicy {
    privileged: false,
    recorded: false,
    monitoring_allowed: false,
};

/// Packets per layer each subscriber got from `from`: (q, h, f).
fn layers(c: &Client, from: &str) -> [u64; 3] {
    ["video-q", "video-h", "video-f"].map(|k| c.got(from, k))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_the_layer_their_bandwidth_allows() -> anyhow::Result<()> {
    let sfu = sfu_with_room(40, HEARING)?;
    let mut judge = Client::simulcast("judge", 2, 40_000).await?;
    // A phone on a poor link, and a courtroom on a good one.
    let mut phone = Client::new("phone", false, 1, 41_000).await?;
    let mut court = Client::new("court", false, 1, 42_000).await?;
    phone.limit_receive(150_000);
    court.limit_receive(3_000_000);
    join(&mut judge, &sfu, 40, token(40, 1, Role::Judge), 2).await?;
    join(&mut phone, &sfu, 40, token(40, 2, Role::Witness), 1).await?;
    join(&mut court, &sfu, 40, token(40, 3, Role::Prosecutor), 1).await?;

    // Warm-up: estimates arrive, layers are measured, the courtroom's
    // selector holds its higher layer for 2 s before going up.
    judge.send(0, 175).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (phone_before, court_before) = (layers(&phone, "judge"), layers(&court, "judge"));
    assert!(
        phone_before.iter().sum::<u64>() > 0 && court_before.iter().sum::<u64>() > 0,
        "video flowed during warm-up: phone {phone_before:?}, court {court_before:?}"
    );

    let sent = 100;
    judge.send(175, sent).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delta =
        |now: [u64; 3], before: [u64; 3]| [0, 1, 2].map(|i| now[i].saturating_sub(before[i]));
    let phone_got = delta(layers(&phone, "judge"), phone_before);
    let court_got = delta(layers(&court, "judge"), court_before);
    let most = |n: u64| n * 10 >= u64::from(sent) * 9;
    assert!(
        most(phone_got[0]) && phone_got[1] == 0 && phone_got[2] == 0,
        "the 150 kbit/s phone gets the low layer only: {phone_got:?} (q, h, f)"
    );
    assert!(
        most(court_got[2]) && court_got[0] == 0 && court_got[1] == 0,
        "the 3 Mbit/s courtroom gets the full layer only: {court_got:?} (q, h, f)"
    );
    // Audio is not simulcast: both get all of it.
    assert!(
        phone.got("judge", "audio") >= 250,
        "{}",
        phone.got("judge", "audio")
    );
    let stats = sfu.stats();
    assert!(
        stats.simulcast_switches >= 2,
        "each subscriber started on a layer: {stats:?}"
    );
    assert_eq!(stats.forward_errors, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_publisher_receives_the_others() -> anyhow::Result<()> {
    let sfu = sfu_with_room(41, HEARING)?;
    let mut judge = Client::simulcast("judge", 1, 43_000).await?;
    let mut witness = Client::new("witness", true, 1, 44_000).await?;
    join(&mut judge, &sfu, 41, token(41, 1, Role::Judge), 1).await?;
    join(&mut witness, &sfu, 41, token(41, 2, Role::Witness), 1).await?;
    send_together(&[&judge, &witness], 0, 50).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(witness.got("judge", "audio") >= 45);
    assert!(
        judge.got("witness", "audio") >= 45,
        "audio {}",
        judge.got("witness", "audio")
    );
    assert!(
        judge.got("witness", "video") >= 45,
        "a simulcast publisher sees the others: {}",
        judge.got("witness", "video")
    );
    Ok(())
}

/// Waits (up to `within`) for the SFU to ask `member` to publish exactly
/// `rids`; other events are skipped.
async fn publish_layers_event(
    events: &std::sync::mpsc::Receiver<MediaEvent>,
    member: i64,
    rids: &[&str],
    within: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        while let Ok(event) = events.try_recv() {
            if let MediaEvent::PublishLayers {
                member: m,
                rids: got,
                ..
            } = &event
                && *m == member
                && got.iter().map(String::as_str).eq(rids.iter().copied())
            {
                return Ok(());
            }
            seen.push(event);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no request to publish {rids:?}; events: {seen:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_nobody_needs_are_paused_and_resume_when_someone_does() -> anyhow::Result<()> {
    let sfu = sfu();
    let events = sfu.take_events().expect("events");
    sfu.open_room(42, HEARING)?;
    let mut judge = Client::simulcast("judge", 2, 45_000).await?;
    let mut phone = Client::new("phone", false, 1, 46_000).await?;
    phone.limit_receive(150_000);
    join(&mut judge, &sfu, 42, token(42, 1, Role::Judge), 2).await?;
    join(&mut phone, &sfu, 42, token(42, 2, Role::Witness), 1).await?;

    // Only the low layer fits the phone: after 3 s without anyone needing
    // them, `h` and `f` are paused. The client does as asked.
    let (sent, asked) = tokio::join!(
        judge.send(0, 400),
        publish_layers_event(&events, 1, &["q"], Duration::from_secs(12))
    );
    sent?;
    asked.map_err(anyhow::Error::msg)?;
    judge.send_only_layers(&["q"]);
    assert_eq!(judge.sent_layers(), ["q"]);
    assert!(sfu.stats().layer_pause_changes >= 1);

    // The phone still gets its picture from the low layer alone.
    let before = layers(&phone, "judge");
    judge.send(400, 50).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = layers(&phone, "judge");
    assert!(
        after[0] >= before[0] + 45,
        "the phone keeps the low layer: {before:?} then {after:?}"
    );

    // A courtroom on a good link joins: the full layer is wanted at once,
    // and once the judge sends it again the courtroom gets it.
    let mut court = Client::new("court", false, 1, 47_000).await?;
    court.limit_receive(3_000_000);
    join(&mut court, &sfu, 42, token(42, 3, Role::Prosecutor), 1).await?;
    let (sent, asked) = tokio::join!(
        judge.send(450, 100),
        publish_layers_event(&events, 1, &["q", "f"], Duration::from_secs(10))
    );
    sent?;
    asked.map_err(anyhow::Error::msg)?;
    judge.send_only_layers(&["q", "f"]);
    let court_before = layers(&court, "judge");
    judge.send(550, 100).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let court_after = layers(&court, "judge");
    assert!(
        court_after[2] >= court_before[2] + 50,
        "the courtroom receives the resumed full layer: {court_before:?} then {court_after:?}"
    );
    assert_eq!(court_after[1], 0, "nobody gets the paused middle layer");
    Ok(())
}
