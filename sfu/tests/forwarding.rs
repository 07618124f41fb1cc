//! Real WebRTC clients (ICE, DTLS-SRTP) exchange media through the SFU over
//! 127.0.0.1.

mod common;

use common::{ORDINARY, join, privileged_token, send_together, sfu, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::engine::SfuError;
use parley_sfu::room::{MemberKind, RoomError, RoomPolicy};
use std::time::Duration;

const VISIT: RoomPolicy = RoomPolicy {
    privileged: false,
    recorded: false,
    monitoring_allowed: true,
};

/// At least 90 % of what was sent arrived (loopback, but shared machines).
fn most(got: u64, sent: u16) -> bool {
    got * 10 >= u64::from(sent) * 9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_carries_audio_and_video_both_ways() -> anyhow::Result<()> {
    let sfu = sfu_with_room(1, VISIT)?;
    let mut detainee = Client::new("detainee", true, 1, 1000).await?;
    let mut family = Client::new("family", true, 1, 2000).await?;
    if let Err(e) = join(&mut detainee, &sfu, 1, token(1, 11, Role::Visitor), 1).await {
        panic!("{e}: {:?}", sfu.stats());
    }
    join(&mut family, &sfu, 1, token(1, 12, Role::Visitor), 1).await?;
    let sent = 100;
    send_together(&[&detainee, &family], 0, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (receiver, from) in [(&family, "detainee"), (&detainee, "family")] {
        for kind in ["audio", "video"] {
            let got = receiver.got(from, kind);
            assert!(
                most(got, sent),
                "{} got {got} {kind} packets from {from}",
                receiver.name
            );
        }
        assert_eq!(
            receiver.got(&receiver.name, "audio"),
            0,
            "nobody receives themselves"
        );
    }
    let stats = sfu.stats();
    assert!(stats.rtp_forwarded >= 4 * 90, "{stats:?}");
    assert_eq!(stats.forward_errors, 0, "{stats:?}");
    // Link quality is sampled once a second; the RTT comes from the
    // clients' receiver reports of the SFU's sender reports (an ICE-lite
    // SFU sends no checks to time), so it takes a report cycle or two.
    let waited = std::time::Instant::now();
    let mut seq = sent;
    while sfu.stats().rtt.count == 0 && waited.elapsed() < Duration::from_secs(10) {
        send_together(&[&detainee, &family], seq, 25).await?;
        seq += 25;
    }
    let stats = sfu.stats();
    assert!(stats.rtt.count > 0, "some RTT was measured: {stats:?}");
    assert!(
        stats.rtt.sum_us / stats.rtt.count < 100_000,
        "loopback RTT is under 100 ms: {stats:?}"
    );
    assert_eq!(
        stats.packets_lost_in, 0,
        "nothing lost on loopback: {stats:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_stops_media_within_a_second() -> anyhow::Result<()> {
    let sfu = sfu_with_room(2, VISIT)?;
    let mut detainee = Client::new("detainee", true, 1, 3000).await?;
    let mut family = Client::new("family", true, 1, 4000).await?;
    join(&mut detainee, &sfu, 2, token(2, 21, Role::Visitor), 1).await?;
    join(&mut family, &sfu, 2, token(2, 22, Role::Visitor), 1).await?;
    detainee.send(0, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        family.got("detainee", "video") > 0,
        "media flowed before the removal"
    );
    let sfu2 = sfu.clone();
    tokio::task::spawn_blocking(move || sfu2.remove(2, 22)).await??;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = family.total();
    detainee.send(25, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(family.total(), before, "nothing reaches a removed member");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privileged_room_refuses_monitors_and_checks_tokens() -> anyhow::Result<()> {
    let sfu = sfu();
    sfu.open_room(
        3,
        RoomPolicy {
            privileged: true,
            recorded: true,
            monitoring_allowed: true,
        },
    )?;
    let mut monitor = Client::new("monitor", false, 2, 5000).await?;
    let refused = join(
        &mut monitor,
        &sfu,
        3,
        privileged_token(3, 39, Role::Officer),
        2,
    )
    .await;
    let err = refused.expect_err("a monitor may not join a legal visit");
    assert_eq!(
        err.downcast_ref::<SfuError>(),
        Some(&SfuError::Room(RoomError::Privileged(MemberKind::Monitor)))
    );
    let mut gallery = Client::new("gallery", false, 2, 5500).await?;
    let refused = join(
        &mut gallery,
        &sfu,
        3,
        privileged_token(3, 36, Role::Observer),
        2,
    )
    .await;
    assert_eq!(
        refused
            .expect_err("nobody watches a legal visit")
            .downcast_ref::<SfuError>(),
        Some(&SfuError::Room(RoomError::Privileged(MemberKind::Observer)))
    );
    // A token for an ordinary session cannot enter a privileged room.
    let mut ordinary = Client::new("ordinary", true, 1, 5800).await?;
    let refused = join(&mut ordinary, &sfu, 3, token(3, 35, Role::Visitor), 1).await;
    assert!(matches!(
        refused
            .expect_err("kind mismatch")
            .downcast_ref::<SfuError>(),
        Some(SfuError::SessionMismatch { .. })
    ));
    // Tokens are checked by the SFU itself: another room's, or a forged one.
    let mut stranger = Client::new("stranger", true, 1, 6000).await?;
    let refused = join(&mut stranger, &sfu, 3, token(99, 38, Role::Counsel), 1).await;
    assert!(matches!(
        refused.expect_err("wrong room").downcast_ref::<SfuError>(),
        Some(SfuError::Token(
            parley_grants::GrantError::WrongSession { .. }
        ))
    ));
    let mut forger = Client::new("forger", true, 1, 6100).await?;
    let forged = format!("{}x", privileged_token(3, 37, Role::Counsel));
    assert!(matches!(
        join(&mut forger, &sfu, 3, forged, 1)
            .await
            .expect_err("forged")
            .downcast_ref::<SfuError>(),
        Some(SfuError::Token(parley_grants::GrantError::Invalid(_)))
    ));
    // Counsel and client still talk.
    let mut counsel = Client::new("counsel", true, 1, 7000).await?;
    let mut client = Client::new("client", true, 1, 8000).await?;
    join(
        &mut counsel,
        &sfu,
        3,
        privileged_token(3, 31, Role::Counsel),
        1,
    )
    .await?;
    join(
        &mut client,
        &sfu,
        3,
        privileged_token(3, 32, Role::Detainee),
        1,
    )
    .await?;
    counsel.send(0, 30).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(client.got("counsel", "audio") > 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_party_hearing_reaches_everyone() -> anyhow::Result<()> {
    let sfu = sfu_with_room(4, ORDINARY)?;
    let names = [
        "judge",
        "clerk",
        "prosecutor",
        "counsel",
        "defendant",
        "interpreter",
    ];
    let mut clients = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut c = Client::new(name, true, 5, 10_000 + 10 * i as u32).await?;
        join(&mut c, &sfu, 4, token(4, 40 + i as i64, Role::Visitor), 5).await?;
        clients.push(c);
    }
    let sent = 40;
    let sends = clients.iter().map(|c| c.send(0, sent));
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for receiver in &clients {
        for from in names.iter().filter(|n| **n != receiver.name) {
            for kind in ["audio", "video"] {
                let got = receiver.got(from, kind);
                assert!(
                    most(got, sent),
                    "{} got {got} {kind} from {from}",
                    receiver.name
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_slot_goes_to_the_publisher_who_was_waiting() -> anyhow::Result<()> {
    let sfu = sfu_with_room(5, ORDINARY)?;
    // A gallery seat with room for one publisher only.
    let mut seat = Client::new("seat", false, 1, 900).await?;
    join(&mut seat, &sfu, 5, token(5, 50, Role::Observer), 1).await?;
    let mut first = Client::new("first", true, 1, 910).await?;
    let mut second = Client::new("second", true, 1, 920).await?;
    join(&mut first, &sfu, 5, token(5, 51, Role::Witness), 1).await?;
    join(&mut second, &sfu, 5, token(5, 52, Role::Witness), 1).await?;
    assert_eq!(
        sfu.stats().slots_exhausted,
        1,
        "the seat cannot take the second yet"
    );
    first.send(0, 20).await?;
    second.send(0, 20).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(seat.got("first", "video") > 0);
    assert_eq!(seat.got("second", "video"), 0);
    let s = sfu.clone();
    tokio::task::spawn_blocking(move || s.remove(5, 51)).await??;
    second.send(20, 30).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = seat.got("second", "video");
    assert!(
        got * 10 >= 30 * 9,
        "the second takes over the freed slot: {got}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_and_vp8_publishers_share_a_room() -> anyhow::Result<()> {
    let sfu = sfu_with_room(6, ORDINARY)?;
    // A kiosk whose encoder only does H.264, a browser sending VP8, and a
    // gallery seat that accepts both.
    let mut kiosk =
        Client::with_video("kiosk", true, 2, 1300, parley_client::VideoCodec::H264).await?;
    let mut browser = Client::new("browser", true, 2, 1400).await?;
    let mut seat = Client::new("seat", false, 2, 1500).await?;
    join(&mut kiosk, &sfu, 6, token(6, 61, Role::Detainee), 2).await?;
    join(&mut browser, &sfu, 6, token(6, 62, Role::Visitor), 2).await?;
    join(&mut seat, &sfu, 6, token(6, 63, Role::Observer), 2).await?;
    let sent = 40;
    send_together(&[&kiosk, &browser], 0, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for from in ["kiosk", "browser"] {
        let got = seat.got(from, "video");
        assert!(most(got, sent), "the seat got {got} video from {from}");
    }
    Ok(())
}

/// Header extension ids are per leg: the publisher's RFC 6464 audio level
/// reaches the subscriber under the id the subscriber negotiated, on audio
/// only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audio_level_reaches_subscribers_under_their_own_extension_id() -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let sfu = sfu_with_room(9, VISIT)?;
    let mut detainee = Client::new("detainee", true, 1, 9100).await?;
    let mut family = Client::new("family", true, 1, 9200).await?;
    join(&mut detainee, &sfu, 9, token(9, 1, Role::Detainee), 1).await?;
    join(&mut family, &sfu, 9, token(9, 2, Role::Visitor), 1).await?;
    detainee.audio_level_dbov = Some(25);
    let id = family
        .audio_level_id()
        .await
        .expect("the family's leg negotiated the audio level");
    let (with_level, video_with_level) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a, v) = (with_level.clone(), video_with_level.clone());
    family.on_packet(Arc::new(move |p: &rtc::rtp::Packet| {
        let level = p.header.get_extension(id);
        let audio = p.header.payload_type == parley_media::PT_OPUS;
        if audio && level.as_deref() == Some(&[0x80 | 25][..]) {
            a.fetch_add(1, Ordering::Relaxed);
        }
        if !audio && level.is_some() {
            v.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let sent = 50;
    detainee.send(0, sent).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = with_level.load(Ordering::Relaxed);
    assert!(
        most(got, sent),
        "{got} of {sent} audio packets carried the level"
    );
    assert_eq!(video_with_level.load(Ordering::Relaxed), 0);
    assert_eq!(sfu.stats().forward_errors, 0);
    Ok(())
}

/// An observer whose client offers to send (a page that opened its camera)
/// is told in the answer that nothing it sends is taken: the m-lines it
/// offered to send on answer `inactive` (or `sendonly`, where the SFU sends
/// it someone's media), never `recvonly` or `sendrecv`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_only_member_is_answered_that_it_may_not_send() -> anyhow::Result<()> {
    let sfu = sfu_with_room(7, ORDINARY)?;
    let mut gallery = Client::new("gallery", true, 2, 7_700).await?;
    let offer = gallery.offer().await?;
    let answer = common::answer(&sfu, 7, token(7, 71, Role::Observer), offer, 2).await?;
    let directions: Vec<&str> = answer
        .sdp
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"]
                .contains(&l)
                .then_some(&l[2..])
        })
        .collect();
    assert!(directions.len() >= 4, "{directions:?}");
    assert!(
        directions
            .iter()
            .all(|d| *d == "inactive" || *d == "sendonly"),
        "an observer's answer takes nothing it sends: {directions:?}"
    );
    // The same offer from a participant: the SFU receives its media.
    let mut witness = Client::new("witness", true, 2, 7_800).await?;
    let offer = witness.offer().await?;
    let answer = common::answer(&sfu, 7, token(7, 72, Role::Witness), offer, 2).await?;
    assert!(
        answer
            .sdp
            .lines()
            .any(|l| l.trim() == "a=recvonly" || l.trim() == "a=sendrecv"),
        "a participant's media is taken"
    );
    Ok(())
}

/// What docs/protocol.md's annotated answer says holds for a real one: an
/// ICE-lite, BUNDLEd answer with every candidate in the first m-section,
/// using the offer's own payload type numbers (a Firefox-like offer with
/// Opus 109 and VP8 120 gets 109 and 120 back), one SSRC per slot stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_bundles_and_mirrors_the_offers_payload_types() -> anyhow::Result<()> {
    let sfu = sfu_with_room(8, ORDINARY)?;
    let mut client = Client::new("client", true, 2, 8_100).await?;
    let offer = client
        .offer()
        .await?
        .replace("SAVPF 111", "SAVPF 109")
        .replace(":111 ", ":109 ")
        .replace("SAVPF 96", "SAVPF 120")
        .replace(":96 ", ":120 ");
    let answer = common::answer(&sfu, 8, token(8, 81, Role::Witness), offer, 2)
        .await?
        .sdp;
    let lines: Vec<&str> = answer.lines().map(str::trim).collect();
    assert!(lines.contains(&"a=ice-lite"), "{answer}");
    assert!(lines.contains(&"a=group:BUNDLE 0 1 2 3"), "{answer}");
    let sections: Vec<&[&str]> = {
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("m="))
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &at)| &lines[at..*starts.get(n + 1).unwrap_or(&lines.len())])
            .collect()
    };
    assert_eq!(sections.len(), 4);
    let candidates = |s: &[&str]| s.iter().filter(|l| l.starts_with("a=candidate:")).count();
    assert!(
        candidates(sections[0]) >= 2,
        "UDP and TCP in the first section"
    );
    assert!(
        sections[1..].iter().all(|s| candidates(s) == 0),
        "only there"
    );
    assert!(
        sections[0][0].starts_with("m=audio 9 UDP/TLS/RTP/SAVPF 109"),
        "{}",
        sections[0][0]
    );
    assert!(
        sections[1][0].starts_with("m=video 9 UDP/TLS/RTP/SAVPF 120"),
        "{}",
        sections[1][0]
    );
    assert!(lines.contains(&"a=rtpmap:109 opus/48000/2"));
    assert!(lines.contains(&"a=rtpmap:120 VP8/90000"));
    for section in &sections {
        let ssrcs: std::collections::BTreeSet<&str> = section
            .iter()
            .filter_map(|l| l.strip_prefix("a=ssrc:"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(ssrcs.len(), 1, "one SSRC per slot stream: {section:?}");
    }
    Ok(())
}

/// `offer` as a browser makes it: every video m-line also offers RTX
/// (`rtx/90000`, `apt` naming the line's first format).
fn with_rtx(offer: &str) -> String {
    let mut out = String::new();
    for line in offer.split_inclusive('\n') {
        let bare = line.trim_end();
        if let Some(formats) = bare.strip_prefix("m=video ") {
            let apt = formats.split(' ').nth(2).unwrap_or("96");
            out.push_str(&format!(
                "m=video {formats} 119\r\na=rtpmap:119 rtx/90000\r\na=fmtp:119 apt={apt}\r\n"
            ));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The answer's media sections, each as its lines.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(line);
        }
    }
    out
}

/// A client that offers RTX gets it: the answer keeps the repair format on
/// its video and announces a repair SSRC for each video leg the SFU sends it
/// (`a=ssrc-group:FID`); what the client sends on RTX, rtc unwraps. A client
/// that does not offer it gets neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtx_is_answered_where_the_client_offers_it() -> anyhow::Result<()> {
    let sfu = sfu_with_room(1, VISIT)?;
    for (member, offers_rtx) in [(11, true), (12, false)] {
        let mut client = Client::new("family", true, 1, 1000).await?;
        let offer = client.offer().await?;
        let offer = if offers_rtx { with_rtx(&offer) } else { offer };
        let answer = common::answer(&sfu, 1, token(1, member, Role::Visitor), offer, 1).await?;
        let video: Vec<_> = sections(&answer.sdp)
            .into_iter()
            .filter(|s| s[0].starts_with("m=video"))
            .collect();
        let sends = |s: &Vec<&str>| s.iter().any(|l| *l == "a=sendonly" || *l == "a=sendrecv");
        let rtx = |s: &Vec<&str>| s.iter().any(|l| l.ends_with(" rtx/90000"));
        let fid = |s: &Vec<&str>| s.iter().any(|l| l.starts_with("a=ssrc-group:FID "));
        assert!(video.iter().any(sends), "{}", answer.sdp);
        for s in &video {
            assert_eq!(rtx(s), offers_rtx, "the repair format: {s:?}");
            if sends(s) {
                assert_eq!(fid(s), offers_rtx, "the repair SSRC: {s:?}");
            }
        }
    }
    Ok(())
}
