//! Hostile input at the media port and in offers: dropped and counted, the
//! call keeps flowing, nothing panics.

mod common;

use common::{ORDINARY, answer, join, sfu_with_room, token};
use parley_client::Client;
use parley_client::stun::binding_request;
use parley_policy::Role;
use parley_sfu::engine::{JoinRequest, SfuError};
use std::net::UdpSocket;
use std::time::Duration;

/// Deterministic garbage of every shape the demultiplexer sees.
fn garbage(i: u32) -> Vec<u8> {
    let mut x = i.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x & 0xff) as u8
    };
    let len = 1 + usize::from(next()) * 4;
    let mut d: Vec<u8> = (0..len).map(|_| next()).collect();
    match i % 5 {
        // STUN binding request with a valid header and an unknown USERNAME.
        0 => {
            let user = b"nosuchufrag:attacker";
            let mut m = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
            m.extend((0..12).map(|_| next()));
            m.extend_from_slice(&[0x00, 0x06, 0, user.len() as u8]);
            m.extend_from_slice(user);
            while m.len() % 4 != 0 {
                m.push(0);
            }
            let body = (m.len() - 20) as u16;
            m[2..4].copy_from_slice(&body.to_be_bytes());
            m
        }
        // DTLS-looking records.
        1 => {
            d[0] = 22;
            d
        }
        // RTP-looking, truncated or not.
        2 => {
            d[0] = 0x80;
            d.truncate(1 + usize::from(next()) % 40);
            d
        }
        // RTCP-looking.
        3 => {
            d[0] = 0x81;
            if d.len() > 1 {
                d[1] = 200;
            }
            d
        }
        _ => d,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_garbage_does_not_stop_a_live_call() -> anyhow::Result<()> {
    let sfu = sfu_with_room(1, ORDINARY)?;
    let mut a = Client::new("a", true, 1, 100).await?;
    let mut b = Client::new("b", true, 1, 200).await?;
    join(&mut a, &sfu, 1, token(1, 1, Role::Visitor), 1).await?;
    join(&mut b, &sfu, 1, token(1, 2, Role::Detainee), 1).await?;
    let targets = sfu.udp_addrs();
    let flood = tokio::task::spawn_blocking(move || -> std::io::Result<u32> {
        let attacker = UdpSocket::bind("127.0.0.1:0")?;
        let mut sent = 0;
        for i in 0..6_000u32 {
            for t in &targets {
                attacker.send_to(&garbage(i), t)?;
                sent += 1;
            }
            // Bursts the socket buffer holds even on a loaded machine.
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(sent)
    });
    let sent_packets = 60;
    a.send(0, sent_packets).await?;
    let flooded = flood.await??;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for kind in ["audio", "video"] {
        let got = b.got("a", kind);
        assert!(
            got * 10 >= u64::from(sent_packets) * 9,
            "b got {got} {kind} during the flood"
        );
    }
    let stats = sfu.stats();
    assert!(
        stats.datagrams_unrouted + stats.datagrams_limited >= u64::from(flooded) * 9 / 10,
        "garbage is counted: refused, or STUN dropped unread: {stats:?}, {flooded} sent"
    );
    // Still alive after the flood: more media goes through.
    let before = b.got("a", "video");
    a.send(sent_packets, 10).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.got("a", "video") > before);
    Ok(())
}

fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
}

/// Datagrams a second in [`a_flood_at_50k_per_second_costs_the_call_under_1_percent`].
const FLOOD_PER_SECOND: u64 = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_50k_per_second_costs_the_call_under_1_percent() -> anyhow::Result<()> {
    let sfu = sfu_with_room(1, ORDINARY)?;
    let mut a = Client::new("a", true, 1, 100).await?;
    let mut b = Client::new("b", true, 1, 200).await?;
    join(&mut a, &sfu, 1, token(1, 1, Role::Visitor), 1).await?;
    let offer = b.offer().await?;
    let answered = answer(&sfu, 1, token(1, 2, Role::Detainee), offer.clone(), 1).await?;
    b.accept(answered.sdp.clone()).await?;
    // The flood names b's real ICE ufrags, so each forged check reaches the
    // integrity check unless its source is held back first.
    let username = format!(
        "{}:{}",
        ice_ufrag(&answered.sdp).ok_or_else(|| anyhow::anyhow!("no ufrag in the answer"))?,
        ice_ufrag(&offer).ok_or_else(|| anyhow::anyhow!("no ufrag in the offer"))?
    );
    let targets = sfu.udp_addrs();
    let packets: u16 = 150;
    let seconds = u64::from(packets) * 20 / 1000;
    let flood = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let attacker = UdpSocket::bind("127.0.0.1:0")?;
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        let total = FLOOD_PER_SECOND * seconds;
        while sent < total {
            // Paced by the clock: what 50k/s owes by now, then a short rest.
            let due =
                (start.elapsed().as_micros() as u64 * FLOOD_PER_SECOND / 1_000_000).min(total);
            while sent < due {
                let datagram = if sent.is_multiple_of(2) {
                    // Valid-looking STUN that costs an HMAC to refuse.
                    binding_request(&username, "not-the-password-of-this-peer")
                } else {
                    garbage(sent as u32)
                };
                for t in &targets {
                    let _ = attacker.send_to(&datagram, t);
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(sent)
    });
    a.send(0, packets).await?;
    let flooded = flood.await??;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for kind in ["audio", "video"] {
        let got = b.got("a", kind);
        assert!(
            got * 100 > u64::from(packets) * 99,
            "b got {got} of {packets} {kind} packets during a flood of {flooded} datagrams"
        );
    }
    let stats = sfu.stats();
    eprintln!(
        "flood: {flooded} datagrams to each of {} workers in {seconds} s; dropped unread {}, \
         forged checks refused {}, other refused {}; b got {} audio and {} video of {packets}",
        sfu.udp_addrs().len(),
        stats.datagrams_limited,
        stats.stun_forged,
        stats.datagrams_unrouted,
        b.got("a", "audio"),
        b.got("a", "video"),
    );
    // Half the flood is forged checks, sent to each worker.
    let forged = flooded / 2 * sfu.udp_addrs().len() as u64;
    assert!(
        stats.datagrams_limited >= forged * 9 / 10,
        "nearly all forged checks are dropped unread: {stats:?}, {forged} sent"
    );
    assert!(
        stats.stun_forged <= 2 * u64::from(parley_sfu::demux::source_budget::BURST) * (seconds + 1),
        "integrity checks are bounded by the source's budget: {stats:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_refused_with_a_reason() -> anyhow::Result<()> {
    let sfu = sfu_with_room(2, ORDINARY)?;
    let ask = |offer: &str, slots: usize| {
        sfu.join(JoinRequest {
            room: 2,
            token: token(2, 5, Role::Visitor),
            offer: offer.to_string(),
            receive_slots: slots,
            standing: Default::default(),
        })
    };
    for junk in [
        "",
        "not sdp at all",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n",
        &"v=0\r\n".repeat(5000),
    ] {
        match ask(junk, 1) {
            Err(SfuError::BadOffer(_)) => {}
            other => panic!(
                "junk offer {:?}… answered {other:?}",
                &junk[..junk.len().min(30)]
            ),
        }
    }
    // A well-formed offer with no codec Parley speaks (PCMU only).
    let mut c = Client::new("pcmu", true, 1, 300).await?;
    let offer = c.offer().await?;
    let pcmu_only = offer
        .replace("opus/48000/2", "PCMU/8000")
        .replace("VP8/90000", "H263/90000");
    let refused = ask(&pcmu_only, 1);
    assert!(
        refused.is_err(),
        "no common codec must not be answered: {refused:?}"
    );
    assert!(matches!(ask(&offer, 1000), Err(SfuError::BadOffer(m)) if m.contains("receive slots")));
    // A room nobody opened.
    let r = sfu.join(JoinRequest {
        room: 77,
        token: token(77, 5, Role::Visitor),
        offer,
        receive_slots: 1,
        standing: Default::default(),
    });
    assert_eq!(r, Err(SfuError::UnknownRoom(77)));
    Ok(())
}
