//! Each subscriber's downlink is estimated from its own transport-wide
//! congestion-control feedback, with real WebRTC clients (webrtc-rs, which
//! negotiates transport-cc and sends TWCC feedback) over 127.0.0.1: every
//! packet the SFU sends carries a transport-wide sequence number, the
//! feedback is read, and a leg that negotiated transport-cc is never given
//! the fixed estimate assumed for clients that report nothing. A relay
//! between one subscriber and the SFU drops part of what the SFU sends it:
//! that subscriber's estimate falls, the other's does not.

mod common;

use common::{ORDINARY, join, join_through_relay, sfu, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::egress::downlink::INITIAL_BPS;
use parley_sfu::engine::{DownlinkReport, EstimateSource, MediaEvent};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn report_of(reports: &[DownlinkReport], member: i64) -> anyhow::Result<&DownlinkReport> {
    reports
        .iter()
        .find(|r| r.member == member)
        .ok_or_else(|| anyhow::anyhow!("no downlink report for member {member}: {reports:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_sends_transport_feedback_is_estimated_from_it() -> anyhow::Result<()> {
    let sfu = sfu_with_room(80, ORDINARY)?;
    let mut detainee = Client::new("detainee", true, 1, 80_000).await?;
    let mut family = Client::new("family", true, 1, 80_100).await?;
    join(&mut detainee, &sfu, 80, token(80, 1, Role::Defendant), 1).await?;
    join(&mut family, &sfu, 80, token(80, 2, Role::Counsel), 1).await?;
    detainee.send(0, 150).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let reports = sfu.downlinks(80)?;
    let family = report_of(&reports, 2)?;
    assert_eq!(
        family.source,
        EstimateSource::TransportFeedback,
        "the family's leg negotiated transport-cc: {family:?}"
    );
    assert!(
        family.feedback.reports >= 10 && family.feedback.arrived >= 250,
        "3 s of media (300 packets) were reported on: {family:?}"
    );
    assert_eq!(
        family.feedback.unknown, 0,
        "feedback named only numbers the SFU sent: {family:?}"
    );
    assert!(
        family.estimate_bps >= INITIAL_BPS,
        "a clean loopback link never lowers the estimate: {family:?}"
    );
    assert!(sfu.stats().transport_feedback >= 10, "{:?}", sfu.stats());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_on_one_downlink_lowers_that_estimate_only() -> anyhow::Result<()> {
    let sfu = sfu_with_room(81, ORDINARY)?;
    let mut detainee = Client::new("detainee", true, 2, 81_000).await?;
    let mut family = Client::new("family", true, 1, 81_100).await?;
    let mut counsel = Client::new("counsel", true, 1, 81_200).await?;
    join(&mut detainee, &sfu, 81, token(81, 1, Role::Defendant), 2).await?;
    let relay =
        join_through_relay(&mut family, &sfu, 81, token(81, 2, Role::Counsel), 1, 17).await?;
    join(&mut counsel, &sfu, 81, token(81, 3, Role::Visitor), 1).await?;
    // A third of what the SFU sends the family is lost on the way.
    relay
        .cuts
        .rtp_to_client_percent
        .store(33, Ordering::Relaxed);
    detainee.send(0, 200).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let reports = sfu.downlinks(81)?;
    let (family, counsel) = (report_of(&reports, 2)?, report_of(&reports, 3)?);
    let dropped = relay.crossed.rtp_dropped_to_client.load(Ordering::Relaxed);
    assert!(dropped >= 50, "the relay dropped RTP: {dropped}");
    assert_eq!(family.source, EstimateSource::TransportFeedback);
    assert!(
        family.feedback.lost >= 50,
        "the family's feedback reported the losses: {family:?}"
    );
    assert!(
        family.loss_permille.is_some_and(|l| l >= 150),
        "about a third lost: {family:?}"
    );
    assert!(
        counsel.estimate_bps >= INITIAL_BPS && counsel.feedback.lost <= 5,
        "the clean downlink's estimate grew: {counsel:?}"
    );
    assert!(
        family.estimate_bps * 2 <= counsel.estimate_bps,
        "the lossy downlink's is held at less than half of it: {family:?}"
    );
    Ok(())
}

/// Waits up to `limit` for `source`'s video to `member` to be paused (or
/// resumed); every event received is kept in `seen`.
fn wait_for_pause(
    events: &std::sync::mpsc::Receiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    (member, source, paused): (i64, i64, bool),
    limit: Duration,
) -> bool {
    let until = std::time::Instant::now() + limit;
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        let Ok(event) = events.recv_timeout(left) else {
            return false;
        };
        seen.push(event.clone());
        if let MediaEvent::VideoPaused {
            member: m,
            source: s,
            paused: p,
            ..
        } = event
            && (m, s, p) == (member, source, paused)
        {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downlink_too_weak_for_video_keeps_the_audio_and_gets_the_picture_back()
-> anyhow::Result<()> {
    let sfu = sfu();
    let events = sfu
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("events taken"))?;
    sfu.open_room(82, ORDINARY)?;
    let mut detainee = Client::new("detainee", true, 1, 82_000).await?;
    let mut family = Client::new("family", true, 1, 82_100).await?;
    // A family on 200 kbit/s: audio and a small picture fit.
    family.limit_receive(200_000);
    join(&mut detainee, &sfu, 82, token(82, 1, Role::Defendant), 1).await?;
    join(&mut family, &sfu, 82, token(82, 2, Role::Counsel), 1).await?;
    let detainee = std::sync::Arc::new(detainee);
    let sending = {
        let d = detainee.clone();
        tokio::spawn(async move { d.send(0, 1_000).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reports = sfu.downlinks(82)?;
    let publisher = report_of(&reports, 1)?;
    // 50 packets a second each of 900-byte video and 120-byte audio.
    assert!(
        (300_000..=500_000).contains(&publisher.uplink_bps) && publisher.uplink_loss_permille == 0,
        "the detainee's uplink: about 408 kbit/s of payload, nothing lost: {publisher:?}"
    );
    assert_eq!(
        publisher.publisher_limit_bps,
        Some(150_000),
        "the single-layer publisher is asked for what the family's 200 kbit/s leaves after audio: {reports:?}"
    );
    assert!(
        family.got("detainee", "video") > 50,
        "video flows at 200 kbit/s"
    );

    // The link falls to 90 kbit/s: after audio, less than the least video.
    let mut seen = Vec::new();
    family.limit_receive(90_000);
    assert!(
        wait_for_pause(&events, &mut seen, (2, 1, true), Duration::from_secs(3)),
        "the detainee's video to the family is paused"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (video, audio) = (
        family.got("detainee", "video"),
        family.got("detainee", "audio"),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        family.got("detainee", "video"),
        video,
        "no video while paused"
    );
    assert!(
        family.got("detainee", "audio") >= audio + 40,
        "the audio goes on: {} -> {}",
        audio,
        family.got("detainee", "audio")
    );
    let reports = sfu.downlinks(82)?;
    assert_eq!(report_of(&reports, 2)?.paused, vec![1], "{reports:?}");

    // The link recovers: the picture comes back by itself, no new offer.
    family.limit_receive(2_000_000);
    assert!(
        wait_for_pause(&events, &mut seen, (2, 1, false), Duration::from_secs(4)),
        "the detainee's video to the family is resumed"
    );
    let video = family.got("detainee", "video");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        family.got("detainee", "video") >= video + 40,
        "video flows again: {video} -> {}",
        family.got("detainee", "video")
    );
    // The family's connection was shown as weak, and is shown as good once
    // it has been for 5 s.
    let weak = |w: bool| MediaEvent::ConnectionStrength {
        room: 82,
        member: 2,
        weak: w,
    };
    assert!(seen.contains(&weak(true)), "{seen:?}");
    let until = std::time::Instant::now() + Duration::from_secs(7);
    while !seen.contains(&weak(false)) {
        let left = until
            .checked_duration_since(std::time::Instant::now())
            .ok_or_else(|| anyhow::anyhow!("not shown as good again: {seen:?}"))?;
        if let Ok(event) = events.recv_timeout(left) {
            seen.push(event);
        }
    }
    let stats = sfu.stats();
    assert_eq!(
        (stats.video_pauses, stats.video_resumes),
        (1, 1),
        "{stats:?}"
    );
    assert!(stats.remb_sent > 0, "{stats:?}");
    sending.abort();
    Ok(())
}
