//! Each subscriber's downlink is estimated from its own transport-wide
//! congestion-control feedback, with real WebRTC clients (webrtc-rs, which
//! negotiates transport-cc and sends TWCC feedback) over 127.0.0.1: every
//! packet the SFU sends carries a transport-wide sequence number, the
//! feedback is read, and a leg that negotiated transport-cc is never given
//! the fixed estimate assumed for clients that report nothing. A relay
//! between one subscriber and the SFU drops part of what the SFU sends it:
//! that subscriber's estimate falls, the other's does not.

mod common;

use common::{ORDINARY, join, join_through_relay, sfu, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::egress::downlink::INITIAL_BPS;
use parley_sfu::engine::{DownlinkReport, EstimateSource};
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
    let sfu = sfu();
    sfu.open_room(80, ORDINARY)?;
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
    let sfu = sfu();
    sfu.open_room(81, ORDINARY)?;
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
