//! The opened read path with real WebRTC clients: the SFU proves each
//! publisher's remote SRTP key on one of its packets, then decrypts what
//! it publishes itself; subscribers get everything, across the sequence
//! number's wrap and on both SRTP profiles, and the publisher is still
//! told about its uplink (NACKs, receiver reports, transport-wide
//! feedback) from the SFU's own chain. Their RTCP is opened by the SFU
//! as well.

mod common;

use common::{
    ORDINARY, assert_all_arrived, join, join_through_relay, send_together, sfu_with_room, token,
};
use parley_client::Client;
use parley_policy::Role;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Two publishers in one room send `sent` packets of each kind from
/// `first_seq`; each gets all of the other's, and the SFU proved both keys
/// and opened all but each stream's first few packets (which rtc reads to
/// name the track).
async fn both_are_opened(
    mut a: Client,
    mut b: Client,
    room: parley_sfu::engine::RoomId,
    first_seq: u16,
) -> anyhow::Result<()> {
    let sfu = sfu_with_room(room, ORDINARY)?;
    join(&mut a, &sfu, room, token(room, 1, Role::Defendant), 1).await?;
    join(&mut b, &sfu, room, token(room, 2, Role::Counsel), 1).await?;
    let sent = 150;
    send_together(&[&a, &b], first_seq, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_all_arrived(&a, "b", sent, 2);
    assert_all_arrived(&b, "a", sent, 2);
    let stats = sfu.stats();
    assert_eq!(stats.opening_proven, 2, "{stats:?}");
    assert_eq!(stats.opening_fallbacks, 0, "{stats:?}");
    assert_eq!(stats.rtp_refused_in, 0, "{stats:?}");
    // Four streams (600 packets sent in all); at most 3 of each read by rtc.
    assert!(
        stats.opened_packets >= 4 * u64::from(sent) - 12,
        "{stats:?}"
    );
    // Their RTCP (receiver reports at least once a second) is opened by the
    // SFU too, once each connection's key authenticates one.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while sfu.stats().rtcp_opening_proven < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = sfu.stats();
    assert_eq!(stats.rtcp_opening_proven, 2, "{stats:?}");
    assert_eq!(stats.rtcp_opening_fallbacks, 0, "{stats:?}");
    assert_eq!(stats.rtcp_refused_in, 0, "{stats:?}");
    assert!(stats.rtcp_opened >= 2, "{stats:?}");
    Ok(())
}

/// AES-GCM, across the sequence number's wrap: every packet after it
/// arrives (a wrong rollover counter would lose all of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_publishers_send_is_opened_by_the_sfu_across_the_wrap() -> anyhow::Result<()> {
    let a = Client::new("a", true, 1, 94_000).await?;
    let b = Client::new("b", true, 1, 94_100).await?;
    both_are_opened(a, b, 94, 65_460).await
}

/// A publisher that negotiated AES_CM_128_HMAC_SHA1_80 is opened too: the
/// HMAC authenticates the proof as GCM's tag does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_on_aes_counter_mode_are_opened_too() -> anyhow::Result<()> {
    let a = Client::aes_cm_only("a", true, 1, 95_000).await?;
    let b = Client::aes_cm_only("b", true, 1, 95_100).await?;
    both_are_opened(a, b, 95, 65_460).await
}

/// A publisher on a lossy uplink (10 % of its RTP dropped on the way): the
/// SFU, which opens its packets itself, still sends it NACKs for the
/// missing ones, transport-wide feedback and receiver reports; the
/// publisher resends, so the subscriber gets nearly all the video; the
/// loss and the NACKs are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_uplink_is_nacked_and_reported_from_the_sfus_own_chain() -> anyhow::Result<()> {
    let sfu = sfu_with_room(96, ORDINARY)?;
    let mut family = Client::numbering_for_feedback("family", true, 1, 96_000).await?;
    let mut detainee = Client::new("detainee", true, 1, 96_100).await?;
    let relay =
        join_through_relay(&mut family, &sfu, 96, token(96, 1, Role::Visitor), 1, 23).await?;
    join(&mut detainee, &sfu, 96, token(96, 2, Role::Detainee), 1).await?;
    // The first packets name the tracks; then the uplink turns lossy.
    family.send(0, 10).await?;
    relay
        .cuts
        .rtp_from_client_percent
        .store(10, Ordering::Relaxed);
    let sent = 250;
    family.send(10, sent).await?;
    relay
        .cuts
        .rtp_from_client_percent
        .store(0, Ordering::Relaxed);
    // Resends in flight; then at least one once-a-second link sample.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let dropped = relay.crossed.dropped_from_client.load(Ordering::Relaxed);
    assert!(dropped >= 20, "the relay dropped {dropped} packets");
    let nacks = relay.crossed.rtcp_to_client(205, Some(1));
    let transport_feedback = relay.crossed.rtcp_to_client(205, Some(15));
    let receiver_reports = relay.crossed.rtcp_to_client(201, None);
    assert!(nacks >= 1, "NACK datagrams to the publisher: {nacks}");
    assert!(
        transport_feedback >= 20,
        "transport-wide feedback datagrams to the publisher: {transport_feedback}"
    );
    assert!(
        receiver_reports >= 2,
        "receiver reports to the publisher: {receiver_reports}"
    );
    // Video negotiated NACK: most of what was dropped is resent and
    // forwarded. Audio did not (a lost Opus frame is concealed, not
    // resent), so its loss stays.
    let total = u64::from(sent) + 10;
    let video = detainee.got("family", "video");
    let audio = detainee.got("family", "audio");
    assert!(
        video * 100 >= total * 97,
        "the detainee got {video} of {total} video packets ({audio} audio) with {dropped} dropped"
    );
    assert!(audio < total, "audio is not resent: {audio} of {total}");
    let stats = sfu.stats();
    assert_eq!(stats.opening_fallbacks, 0, "{stats:?}");
    assert!(stats.nacks_sent >= 1, "{stats:?}");
    // The audio that was never resent is counted lost on the uplink.
    assert!(stats.packets_lost_in >= (total - audio) / 2, "{stats:?}");
    assert!(stats.opened_packets >= 400, "{stats:?}");
    Ok(())
}
