//! ICE consent and liveness with real WebRTC clients: the SFU, an ICE-lite
//! agent, sends no checks of its own; it keeps sending to a peer whose
//! consent checks come at RFC 7675's pace (5 s ± 20 %, here 5.9 s) for as
//! long as they come; and it lets go of a peer that stops checking (after
//! 30 s) or goes silent altogether (after 10 s), telling the control plane
//! so the participant can offer again. A relay on 127.0.0.1 sits on the
//! wire between one client and the SFU to watch and cut it.

mod common;

use common::{ORDINARY, join, join_through_relay, sfu_with_room, token};
use parley_client::Client;
use parley_client::relay::Relay;
use parley_policy::Role;
use parley_sfu::engine::{MediaEvent, Sfu};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Sends audio and video from `client` every 20 ms for `seconds`.
fn keep_sending(client: Arc<Client>, seconds: u16) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = client.send(0, seconds * 50).await;
    })
}

/// Waits up to `limit` for the SFU to report that `member` lost its media.
async fn media_lost(sfu: &Arc<Sfu>, member: i64, limit: Duration) -> Option<Instant> {
    let events = sfu.take_events()?;
    tokio::task::spawn_blocking(move || {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match events.recv_timeout(left) {
                Ok(MediaEvent::MediaLost { member: m, .. }) if m == member => {
                    return Some(Instant::now());
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// A visit in `room`: a detainee (member 1, SSRCs from `room` × 1000)
/// joins directly, and `family` (member 2) through a relay seeded `seed`.
async fn detainee_and_family_through_relay(
    sfu: &Arc<Sfu>,
    room: i64,
    family: &mut Client,
    seed: u64,
) -> anyhow::Result<(Client, Relay)> {
    let mut detainee = Client::new("detainee", true, 1, room as u32 * 1000).await?;
    join(&mut detainee, sfu, room, token(room, 1, Role::Defendant), 1).await?;
    let relay =
        join_through_relay(family, sfu, room, token(room, 2, Role::Counsel), 1, seed).await?;
    Ok((detainee, relay))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lite_sfu_sends_no_connectivity_checks() -> anyhow::Result<()> {
    let sfu = sfu_with_room(61, ORDINARY)?;
    let mut family = Client::new("family", true, 1, 61_100).await?;
    let (detainee, relay) = detainee_and_family_through_relay(&sfu, 61, &mut family, 7).await?;
    let detainee = Arc::new(detainee);
    keep_sending(detainee.clone(), 6).await?;
    let crossed = &relay.crossed;
    assert!(
        family.got("detainee", "video") > 200,
        "media crossed the relay: {}",
        family.got("detainee", "video")
    );
    assert!(
        crossed.requests_from_client.load(Ordering::Relaxed) >= 2,
        "the client checked: {crossed:?}"
    );
    assert_eq!(
        crossed.requests_to_client.load(Ordering::Relaxed),
        0,
        "an ICE-lite agent sends no binding request (RFC 8445 §2.5): {crossed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_5_9_s_apart_keep_media_flowing_every_second() -> anyhow::Result<()> {
    let sfu = sfu_with_room(62, ORDINARY)?;
    let mut family =
        Client::checking_every("family", true, 1, 62_100, Duration::from_millis(5_900)).await?;
    let (detainee, relay) = detainee_and_family_through_relay(&sfu, 62, &mut family, 7).await?;
    let (detainee, family) = (Arc::new(detainee), Arc::new(family));
    let sending = [
        keep_sending(detainee.clone(), 21),
        keep_sending(family.clone(), 21),
    ];
    let mut last = (0, 0);
    for second in 1..=20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = (
            family.got("detainee", "audio"),
            detainee.got("family", "audio"),
        );
        assert!(
            now.0 > last.0 && now.1 > last.1,
            "second {second}: audio arrived both ways (family, detainee) {last:?} -> {now:?}; \
             checks crossed {:?}",
            relay.crossed
        );
        last = now;
    }
    for s in sending {
        s.await?;
    }
    let checks = relay.crossed.requests_from_client.load(Ordering::Relaxed);
    assert!(
        (2..=6).contains(&checks),
        "the client checked about every 5.9 s: {checks} checks in 20 s"
    );
    assert_eq!(sfu.stats().consent_expired + sfu.stats().peers_silent, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_goes_silent_is_let_go_after_10_s() -> anyhow::Result<()> {
    let sfu = sfu_with_room(63, ORDINARY)?;
    let mut family = Client::new("family", true, 1, 63_100).await?;
    let (detainee, relay) = detainee_and_family_through_relay(&sfu, 63, &mut family, 7).await?;
    family.send(0, 25).await?;
    relay.cuts.client_silent.store(true, Ordering::Relaxed);
    let cut = Instant::now();
    let lost = media_lost(&sfu, 2, Duration::from_secs(20))
        .await
        .expect("the silent peer is reported lost");
    let after = lost.duration_since(cut);
    assert!(
        after >= Duration::from_secs(9) && after <= Duration::from_secs(13),
        "lost {after:?} after the wire was cut (10 s rule)"
    );
    assert_eq!(sfu.stats().peers_silent, 1);
    assert_eq!(sfu.stats().consent_expired, 0);
    drop(detainee);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_without_checks_flows_until_consent_expires_at_30_s() -> anyhow::Result<()> {
    let sfu = sfu_with_room(64, ORDINARY)?;
    // Its own timers wait 30 s for answers to its checks, like a browser's.
    let mut family =
        Client::checking_every("family", true, 1, 64_100, Duration::from_secs(2)).await?;
    let (detainee, relay) = detainee_and_family_through_relay(&sfu, 64, &mut family, 7).await?;
    let (detainee, family) = (Arc::new(detainee), Arc::new(family));
    // Its checks stop reaching the SFU; its media (and RTCP) goes on.
    relay.cuts.client_checks.store(true, Ordering::Relaxed);
    let cut = Instant::now();
    let sending = [
        keep_sending(detainee.clone(), 36),
        keep_sending(family.clone(), 36),
    ];
    tokio::time::sleep(Duration::from_secs(15)).await;
    let at_15 = family.got("detainee", "audio");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at_20 = family.got("detainee", "audio");
    assert!(
        at_20 > at_15 + 200,
        "20 s without a check, the peer still receives: {at_15} then {at_20}"
    );
    let lost = media_lost(&sfu, 2, Duration::from_secs(20))
        .await
        .expect("consent expires");
    let after = lost.duration_since(cut);
    assert!(
        after >= Duration::from_secs(27) && after <= Duration::from_secs(34),
        "consent expired {after:?} after the checks stopped (30 s after the last one)"
    );
    assert_eq!(sfu.stats().consent_expired, 1);
    for s in sending {
        s.abort();
    }
    Ok(())
}

/// A subscriber on a lossy downlink asks for what it missed; the SFU
/// answers from the leg's own history, counts the NACKs and the resends,
/// and the video arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_on_a_lossy_downlink_are_answered_and_counted() -> anyhow::Result<()> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    let sfu = sfu_with_room(65, ORDINARY)?;
    let mut family = Client::new("family", true, 1, 65_100).await?;
    let (detainee, relay) = detainee_and_family_through_relay(&sfu, 65, &mut family, 99).await?;
    let video_seqs: Arc<Mutex<HashSet<u16>>> = Arc::default();
    let seen = video_seqs.clone();
    family.on_packet(Arc::new(move |p: &rtc::rtp::Packet| {
        if p.payload.windows(7).any(|w| w == b"|video|")
            && let Ok(mut s) = seen.lock()
        {
            s.insert(p.header.sequence_number);
        }
    }));
    relay.cuts.rtp_to_client_percent.store(5, Ordering::Relaxed);
    detainee.send(0, 250).await?;
    // The last losses need a round trip or two to be repaired.
    relay.cuts.rtp_to_client_percent.store(0, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let dropped = relay.crossed.rtp_dropped_to_client.load(Ordering::Relaxed);
    let got = video_seqs.lock().map(|s| s.len()).unwrap_or(0);
    let stats = sfu.stats();
    assert!(dropped >= 10, "the relay dropped packets: {dropped}");
    assert!(stats.nacks_received > 0, "NACKs reached the SFU: {stats:?}");
    assert!(stats.retransmissions > 0, "the SFU resent: {stats:?}");
    assert!(
        got >= 248,
        "{got} of 250 video packets arrived after repair ({dropped} RTP packets dropped, {} resent)",
        stats.retransmissions
    );
    Ok(())
}
