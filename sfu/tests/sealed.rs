//! The sealed write path with real WebRTC clients: the SFU proves each
//! connection's captured SRTP key against rtc's own output, then encrypts
//! the connection's RTP itself; the clients (webrtc-rs, which decrypts with
//! rtc's SRTP) receive everything, across the sequence number's wrap, and
//! NACKed packets are resent sealed from the history.

mod common;

use common::{ORDINARY, assert_all_arrived, join, send_together, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use std::time::Duration;

/// The key capture (a crypto provider wrapping rtc's) yields the local
/// master key rtc encrypts with: every connection is proven, none falls
/// back, and everything forwarded after the first packet is sealed here.
/// If an rtc upgrade changes how it derives its SRTP keys, this fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_yields_the_key_rtc_encrypts_with() -> anyhow::Result<()> {
    let sfu = sfu_with_room(91, ORDINARY)?;
    let mut a = Client::new("a", true, 2, 91_000).await?;
    let mut b = Client::new("b", true, 2, 91_100).await?;
    let mut c = Client::new("c", true, 2, 91_200).await?;
    join(&mut a, &sfu, 91, token(91, 1, Role::Defendant), 2).await?;
    join(&mut b, &sfu, 91, token(91, 2, Role::Counsel), 2).await?;
    join(&mut c, &sfu, 91, token(91, 3, Role::Judge), 2).await?;
    let sent = 100;
    send_together(&[&a, &b, &c], 0, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (receiver, others) in [(&a, ["b", "c"]), (&b, ["a", "c"]), (&c, ["a", "b"])] {
        for from in others {
            // The first packet or two may reach a client whose own DTLS
            // is not done yet (as on any path); the rest all decrypt.
            assert_all_arrived(receiver, from, sent, 2);
        }
    }
    let stats = sfu.stats();
    assert_eq!(stats.sealing_proven, 3, "{stats:?}");
    assert_eq!(stats.sealing_fallbacks, 0, "{stats:?}");
    // A connection's first packet (or first few, while its DTLS is not yet
    // sending) goes through rtc as the proof; the rest are sealed here.
    assert!(stats.rtp_forwarded - stats.sealed_packets <= 6, "{stats:?}");
    Ok(())
}

/// Sequence numbers wrap at 65 535 on a leg; the rollover counter moves on
/// and the subscriber keeps decrypting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_packets_decrypt_across_the_sequence_wrap() -> anyhow::Result<()> {
    let sfu = sfu_with_room(92, ORDINARY)?;
    let mut a = Client::new("a", true, 1, 92_000).await?;
    let mut b = Client::new("b", true, 1, 92_100).await?;
    join(&mut a, &sfu, 92, token(92, 1, Role::Defendant), 1).await?;
    join(&mut b, &sfu, 92, token(92, 2, Role::Counsel), 1).await?;
    a.send(65_486, 100).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every packet after the wrap decrypts: a wrong rollover counter would
    // lose all of them, not one.
    assert!(
        b.got("a", "video") >= 98,
        "{} {:?}",
        b.got("a", "video"),
        sfu.stats()
    );
    assert!(
        b.got("a", "audio") >= 98,
        "{} {:?}",
        b.got("a", "audio"),
        sfu.stats()
    );
    assert!(sfu.stats().sealed_packets >= 190);
    Ok(())
}

/// A connection that negotiated AES_CM_128_HMAC_SHA1_80 (a client that
/// offers nothing else) is proven and sealed too: the counter-mode key and
/// salt lengths are tried besides GCM's, and the subscriber, whose SRTP is
/// rtc's, authenticates and decrypts every packet after the proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_on_aes_counter_mode_are_sealed_too() -> anyhow::Result<()> {
    let sfu = sfu_with_room(93, ORDINARY)?;
    let mut a = Client::aes_cm_only("a", true, 1, 93_000).await?;
    let mut b = Client::aes_cm_only("b", true, 1, 93_100).await?;
    join(&mut a, &sfu, 93, token(93, 1, Role::Defendant), 1).await?;
    join(&mut b, &sfu, 93, token(93, 2, Role::Counsel), 1).await?;
    let sent = 100;
    send_together(&[&a, &b], 0, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (receiver, from) in [(&a, "b"), (&b, "a")] {
        assert_all_arrived(receiver, from, sent, 2);
    }
    let stats = sfu.stats();
    assert_eq!(stats.sealing_proven, 2, "{stats:?}");
    assert_eq!(stats.sealing_fallbacks, 0, "{stats:?}");
    assert!(stats.sealed_packets >= 380, "{stats:?}");
    Ok(())
}
