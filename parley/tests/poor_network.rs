//! A family on a weak link, in a real browser: `parley demo` runs in its own
//! network namespace, the family's and the detainee's pages in headless
//! Chromium outside it, and only what the SFU sends the family passes a
//! token bucket (`tc … tbf`) or a random drop (nftables) on the namespace's
//! side of the veth pair.
//!
//! - With 5 % of its packets lost at random, NACKs (answered on the RTX
//!   stream Chromium negotiates) keep the family's video
//!   whole (under 1 % lost after repair).
//! - At 250 kbit/s the family keeps a moving picture and clean audio, and
//!   the detainee's Chromium (which publishes one layer) is held by the
//!   SFU's REMB to what the family's downlink carries.
//! - At 60 kbit/s the family's video pauses, the page says so, and the
//!   audio goes on.
//! - With the cap lifted the picture comes back by itself, as soon as a
//!   probe of the family's link shows it carries the video again.
//! - With 5 % of what the detainee sends lost at random, the SFU's NACKs
//!   and Chromium's RTX resends (unwrapped on the way in) repair it.
//!
//! The pages load from 127.0.0.1 through a small TCP relay (a secure
//! context, as a real deployment's HTTPS is), while media goes straight to
//! the SFU's address in the namespace.

mod common;

#[path = "../../signaling/tests/browser/chromium/mod.rs"]
#[allow(dead_code, unused_imports)]
mod chromium;
#[path = "common/demo_visit.rs"]
mod demo_visit;
#[path = "../../signaling/tests/browser/rpc.rs"]
#[allow(dead_code)]
mod rpc;
#[path = "../../signaling/tests/browser/window.rs"]
#[allow(dead_code)]
mod window;

use chromium::{Browser, Screen};
use common::demo_link;
use common::netns::{Flow, Namespace};
use demo_visit::join_visit;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use window::{Received, Window};

/// The demo deployment with its SFU on `ip` and absolute paths.
fn config_in(dir: &std::path::Path, ip: std::net::Ipv4Addr) -> std::path::PathBuf {
    config_with(dir, &[("listen", format!("\"{ip}:0\""))])
}

/// The demo deployment with `[sfu]` keys set to `sfu` (TOML values) and
/// absolute paths.
fn config_with(dir: &std::path::Path, sfu: &[(&str, String)]) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::demo_config()).expect("demo.toml");
    let jurisdictions = common::config_dir().join("jurisdictions");
    let mut in_sfu = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_sfu = line.trim() == "[sfu]";
            out.push_str(line);
            out.push('\n');
            if in_sfu {
                for (key, value) in sfu {
                    out.push_str(&format!("{key} = {value}\n"));
                }
            }
            continue;
        }
        let key = line.split(['=', ' ']).next().unwrap_or("");
        let line = if in_sfu && sfu.iter().any(|(k, _)| *k == key) {
            continue;
        } else if line.starts_with("jurisdictions_dir") {
            format!("jurisdictions_dir = \"{}\"", jurisdictions.display())
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    let path = dir.join("poor-network.toml");
    std::fs::write(&path, out).expect("config written");
    path
}

/// Relays TCP from 127.0.0.1 to `to`, until the test ends.
async fn relay_to(to: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("relay port");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

/// What a page's connection sends: (video bytes sent, local port).
async fn sent(page: &impl Window) -> (u64, Option<u16>) {
    let s: Value = page.eval("window.parley.sent()").await;
    (
        s["videoBytesSent"].as_u64().unwrap_or(0),
        s["localPort"].as_u64().and_then(|p| u16::try_from(p).ok()),
    )
}

fn concealed_share(before: &Received, after: &Received) -> f64 {
    let samples = after.samples.saturating_sub(before.samples).max(1);
    after.concealed.saturating_sub(before.concealed) as f64 / samples as f64
}

/// One SFU counter from `/metrics`.
async fn metric(url: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Draws the family's estimate over the test, with the cap on its link,
/// into `poor-network-estimate.png` in cargo's test scratch directory (the
/// plot in docs/benchmarks.md). A plot that cannot be drawn is reported,
/// not failed: it is a picture of what the assertions check.
fn plot_estimate(trace: &[(f64, Value)]) {
    let mut estimate = Vec::new();
    let mut paused = Vec::new();
    let mut cap = Vec::new();
    let mut phase = String::new();
    let mut phase_started = false;
    for (at, entry) in trace {
        if *at < 0.0 {
            phase = entry.as_str().unwrap_or("").to_string();
            phase_started = false;
            continue;
        }
        let kbps = entry["estimate_bps"].as_f64().unwrap_or(0.0) / 1000.0;
        estimate.push((*at, kbps));
        let is_paused = entry["video_paused_from"]
            .as_array()
            .is_some_and(|p| !p.is_empty());
        paused.push((*at, if is_paused { 25.0 } else { 0.0 }));
        let limit = match phase.as_str() {
            "250 kbit/s" => Some(250.0),
            "60 kbit/s" => Some(60.0),
            _ => None,
        };
        if let Some(limit) = limit {
            if !phase_started {
                if let Some(&(_, previous)) = cap.last() {
                    cap.push((*at, previous));
                }
                phase_started = true;
            }
            cap.push((*at, limit));
        }
    }
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("poor-network-estimate.png");
    match loadtest::plot::line_chart(
        &file,
        "The family's downlink: the SFU's estimate and the cap on its link",
        "seconds since the first reading",
        "kbit/s",
        &[
            ("estimate", estimate),
            ("cap (tc tbf), while capped", cap),
            ("video to the family paused (25) or not (0)", paused),
        ],
    ) {
        Ok(()) => eprintln!("plot: {}", file.display()),
        Err(e) => eprintln!("no plot: {e}"),
    }
}

/// What a stretch of samples says of the video's repair.
struct Repaired {
    /// Video packets received on the media stream.
    received: u64,
    /// Resends received on the RTX stream.
    retransmitted: u64,
    /// Video packets lost after repair.
    lost: u64,
    /// Fewest frames decoded in any 3 s.
    slowest: u64,
}

fn repaired(samples: &[Received]) -> Repaired {
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    // libwebrtc counts a packet recovered from the RTX stream as lost on the
    // media stream (only packets that arrive on the media SSRC count as
    // received there), so what repair left lost is the difference.
    let retransmitted = last.video_retransmitted - first.video_retransmitted;
    Repaired {
        received: last.video_packets - first.video_packets,
        retransmitted,
        lost: ((last.video_packets_lost - first.video_packets_lost).max(0) as u64)
            .saturating_sub(retransmitted),
        slowest: samples
            .windows(4)
            .map(|w| w[3].frames_decoded.saturating_sub(w[0].frames_decoded))
            .min()
            .unwrap_or(0),
    }
}

/// Samples `page` every second for `seconds`; returns the samples.
async fn watch(page: &impl Window, seconds: u64) -> Vec<Received> {
    let mut samples = vec![page.media().await];
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(page.media().await);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_on_a_weak_link_keeps_the_call() {
    let _one = chromium::one_at_a_time().await;
    let ns = Namespace::create();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = config_in(dir.path(), ns.inside);
    let server = common::Server::start_in_netns(
        &ns.name,
        "demo",
        &config,
        SocketAddr::new(ns.inside.into(), 0),
        &data,
    );
    let direct: SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let local = format!("http://{}", relay_to(direct).await);
    let out = server.stdout();
    let family_link = demo_link(&out, "Family:").replace(&server.url, &local);
    let detainee_link = demo_link(&out, "Detainee:").replace(&server.url, &local);

    let browser = Browser::launch().await;
    let family = browser.page("weak-family", Screen::Phone).await;
    let detainee = browser.page("weak-detainee", Screen::Tablet).await;
    join_visit(&family, &family_link, &detainee, &detainee_link).await;
    family.wait_for_media(30, 50, Duration::from_secs(30)).await;
    detainee
        .wait_for_media(30, 50, Duration::from_secs(30))
        .await;
    let port = sent(&family)
        .await
        .1
        .expect("the family's selected candidate pair has a local port");

    // What the SFU makes of the family's link, every second, as an
    // administrator sees it (`GET /v1/sessions/{id}/connections`).
    let api = server.api();
    let sessions = api.get_ok("/v1/sessions").await;
    let session = sessions
        .as_array()
        .and_then(|all| all.iter().find(|s| s["status"] == "live"))
        .unwrap_or_else(|| panic!("a live session: {sessions}"));
    let session_id = session["id"].as_i64().expect("session id");
    let family_id = session["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == "visitor"))
        .and_then(|p| p["id"].as_i64())
        .unwrap_or_else(|| panic!("the visitor in {session}"));
    let trace: std::sync::Arc<std::sync::Mutex<Vec<(f64, Value)>>> = Default::default();
    let sampler = {
        let (trace, started) = (trace.clone(), std::time::Instant::now());
        let path = format!("/v1/sessions/{session_id}/connections");
        let api = common::Api::new(&api.base, &api.token);
        tokio::spawn(async move {
            for _ in 0..240 {
                let (status, body) = api.get(&path).await;
                if status == 200
                    && let Some(family) = body
                        .as_array()
                        .and_then(|all| all.iter().find(|c| c["participant_id"] == family_id))
                    && let Ok(mut t) = trace.lock()
                {
                    t.push((started.elapsed().as_secs_f64(), family.clone()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let phase = |name: &str| {
        if let Ok(mut t) = trace.lock() {
            t.push((-1.0, Value::String(name.to_string())));
        }
    };
    phase("5 % loss");

    // 5 % of what the SFU sends the family lost at random: NACKs repair
    // the video.
    let counters = [
        "parley_sfu_nacks_received_total",
        "parley_sfu_retransmissions_total",
        "parley_sfu_retransmissions_suppressed_total",
        "parley_sfu_nack_misses_total",
        "parley_sfu_rtx_sent_total",
    ];
    let mut before = Vec::new();
    for c in counters {
        before.push(metric(&local, c).await);
    }
    ns.drop_randomly(Flow::To(port), 5);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Meanwhile the detainee, whose own uplink loses nothing, should be
    // told the family's audio loss in the SFU's receiver reports.
    let (samples, loss_reported) = tokio::join!(watch(&family, 20), async {
        let mut most = 0.0f64;
        for _ in 0..20 {
            let s: Value = detainee.eval("window.parley.sent()").await;
            most = most.max(s["audioLossReported"].as_f64().unwrap_or(0.0));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        most
    });
    let dropped = ns.randomly_dropped();
    ns.stop_dropping();
    let mut grew = Vec::new();
    for (c, b) in counters.iter().zip(&before) {
        grew.push(format!("{c} +{}", metric(&local, c).await - b));
    }
    eprintln!(
        "5 % random loss: nftables saw {} packets over 400 bytes, dropped {} of them and {} smaller ones; {}; the family's Chromium: {:?} -> {:?}",
        dropped.0,
        dropped.1,
        dropped.2,
        grew.join(", "),
        samples[0],
        samples[samples.len() - 1]
    );
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let Repaired {
        received,
        retransmitted,
        lost,
        slowest,
    } = repaired(&samples);
    eprintln!(
        "5 % random loss: {} frames in 20 s (slowest 3 s: {slowest}), {} freezes ({:.1} s), \
         {lost} of {} video packets lost after repair ({} resends received on the RTX stream), \
         audio concealed {:.2} %, {} NACK resends so far",
        last.frames_decoded - first.frames_decoded,
        last.freezes - first.freezes,
        last.frozen - first.frozen,
        received + lost,
        retransmitted,
        concealed_share(first, last) * 100.0,
        metric(&local, "parley_sfu_retransmissions_total").await
    );
    assert!(
        slowest >= 15 && last.freezes - first.freezes <= 1,
        "the picture keeps moving with 5 % loss (at least 5 frames a second, at most one freeze): {samples:?}"
    );
    assert!(
        grew.iter()
            .any(|g| g.starts_with("parley_sfu_retransmissions_total +") && !g.ends_with(" +0")),
        "the SFU answered the family's NACKs: {grew:?}"
    );
    // Chromium negotiates RTX: resends come on the leg's repair stream,
    // and Chromium takes them as such.
    assert!(
        grew.iter()
            .any(|g| g.starts_with("parley_sfu_rtx_sent_total +") && !g.ends_with(" +0")),
        "the SFU resent on the family's RTX stream: {grew:?}"
    );
    assert!(
        retransmitted > 0,
        "the family's Chromium received resends on its RTX stream: {samples:?}"
    );
    assert!(
        lost * 100 < received + lost,
        "NACKs bring the video's loss under 1 %: {lost} of {} lost",
        received + lost
    );
    eprintln!(
        "5 % random loss: the detainee's Chromium was told up to {:.1} % of its audio was lost",
        loss_reported * 100.0
    );
    assert!(
        loss_reported > 0.0,
        "the family's audio loss reaches the detainee in the SFU's receiver reports (for Opus FEC)"
    );

    // Unshaped, the detainee's picture goes out at what the family's
    // estimate allows.
    phase("unshaped");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before_cap = sent(&detainee).await.0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let free_kbps = (sent(&detainee).await.0 - before_cap) * 8 / 3 / 1000;
    eprintln!("unshaped: the detainee's Chromium sent video at {free_kbps} kbit/s");

    // 250 kbit/s to the family. The detainee's Chromium sends one layer:
    // how long until the SFU's REMB brings it under the family's link?
    ns.cap(port, 250);
    phase("250 kbit/s");
    let capped_at = std::time::Instant::now();
    let mut adapted = None;
    let mut previous = sent(&detainee).await.0;
    while capped_at.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sent(&detainee).await.0;
        if adapted.is_none() && (now - previous) * 8 <= 250_000 {
            adapted = Some(capped_at.elapsed());
        }
        previous = now;
    }
    let adapted = adapted.expect("the detainee's video fell under 250 kbit/s within 10 s");
    eprintln!("250 kbit/s: the detainee's video was under the cap {adapted:.1?} after it was set");
    let (bytes_before, _) = sent(&detainee).await;
    let samples = watch(&family, 15).await;
    let (bytes_after, _) = sent(&detainee).await;
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let slowest = samples
        .windows(4)
        .map(|w| w[3].frames_decoded.saturating_sub(w[0].frames_decoded))
        .min()
        .unwrap_or(0);
    let concealed = concealed_share(first, last);
    let detainee_kbps = (bytes_after - bytes_before) * 8 / 15 / 1000;
    eprintln!(
        "250 kbit/s: {} frames in 15 s (slowest 3 s: {slowest}), {} freezes ({:.1} s), audio concealed {:.2} %, \
         the detainee's Chromium sent video at {detainee_kbps} kbit/s",
        last.frames_decoded - first.frames_decoded,
        last.freezes - first.freezes,
        last.frozen - first.frozen,
        concealed * 100.0
    );
    assert!(
        slowest >= 3,
        "the picture keeps moving at 250 kbit/s: every 3 s decodes frames: {samples:?}"
    );
    assert!(
        concealed < 0.05,
        "clean audio at 250 kbit/s: {:.2} % concealed",
        concealed * 100.0
    );
    assert!(
        detainee_kbps <= 250,
        "Chromium honours the SFU's REMB: the detainee's video fits the family's 250 kbit/s ({detainee_kbps} kbit/s)"
    );
    assert_eq!(
        metric(&local, "parley_sfu_video_pauses_total").await,
        0,
        "no pause at 250 kbit/s"
    );
    let (shaped_bytes, shaped_drops) = ns.shaped_totals();
    eprintln!(
        "the token bucket passed {shaped_bytes} bytes and dropped {shaped_drops} packets so far"
    );
    assert!(
        shaped_bytes > 250_000 / 8 * 15,
        "the family's media went through the cap: {shaped_bytes} bytes"
    );
    family.screenshot("weak-1-family-250k").await;

    // 60 kbit/s: audio only.
    ns.cap(port, 60);
    phase("60 kbit/s");
    family
        .wait(
            "!document.querySelector('.tile.remote .video-paused').hidden",
            "the video to pause",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(
        family.text(".tile.remote .video-paused").await,
        "Video paused: weak connection"
    );
    family.screenshot("weak-2-family-60k-paused").await;
    // The detainee sees the family's connection is weak.
    detainee
        .wait(
            "!document.querySelector('.tile.remote .weak-badge').hidden",
            "the weak-connection badge on the family's tile",
            Duration::from_secs(10),
        )
        .await;
    let badge = detainee.text(".tile.remote .weak-badge").await;
    assert!(
        ["Weak connection", "Connexion faible", "Schwache Verbindung"].contains(&badge.as_str()),
        "the badge in the kiosk's language: {badge:?}"
    );
    detainee
        .screenshot("weak-2-detainee-sees-weak-family")
        .await;
    let samples = watch(&family, 10).await;
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let concealed = concealed_share(first, last);
    eprintln!(
        "60 kbit/s: {} audio packets in 10 s, audio concealed {:.2} %",
        last.audio_packets - first.audio_packets,
        concealed * 100.0
    );
    assert!(
        last.audio_packets - first.audio_packets >= 300,
        "the audio goes on at 60 kbit/s: {first:?} -> {last:?}"
    );

    // The link recovers: the picture comes back by itself (the SFU probes
    // the family's link while its video is paused).
    let probes = ["parley_sfu_probes_total", "parley_sfu_probe_bytes_total"];
    let mut at_lift = Vec::new();
    for c in probes {
        at_lift.push(metric(&local, c).await);
    }
    ns.uncap();
    phase("lifted");
    let lifted_at = std::time::Instant::now();
    // About 1 s here with probing, 5-11 s without (docs/benchmarks.md);
    // the bound leaves room for a loaded machine.
    family
        .wait(
            "document.querySelector('.tile.remote .video-paused').hidden",
            "the video to come back",
            Duration::from_secs(25),
        )
        .await;
    let back_after = lifted_at.elapsed();
    let mut at_back = Vec::new();
    for c in probes {
        at_back.push(metric(&local, c).await);
    }
    eprintln!(
        "cap lifted: the video came back {back_after:.1?} later; probe clusters (bytes) until the lift {} ({}), \
         from the lift until the video came back {} ({})",
        at_lift[0],
        at_lift[1],
        at_back[0] - at_lift[0],
        at_back[1] - at_lift[1]
    );
    // (The cluster that shows the recovered link may have started just
    // before the lift.)
    assert!(
        at_back[0] > 0,
        "the SFU probed the family's link while its video was paused"
    );
    // The picture moves again: 20 more frames decoded. At 15–30 fps that is
    // 1–2 s; the bound leaves room for a loaded machine and for Chromium's
    // own 3 s wait before it asks again for a keyframe, and the time taken
    // is printed.
    let before = family.media().await;
    let moving_from = std::time::Instant::now();
    let mut after = before;
    while after.frames_decoded < before.frames_decoded + 20
        && moving_from.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = family.media().await;
    }
    let mut rtcp = Vec::new();
    for c in [
        "parley_sfu_rtcp_opened_total",
        "parley_sfu_rtcp_refused_in_total",
        "parley_sfu_rtcp_opening_fallbacks_total",
        "parley_sfu_keyframe_requests_relayed_total",
        "parley_sfu_keyframe_requests_throttled_total",
    ] {
        rtcp.push(format!("{c} {}", metric(&local, c).await));
    }
    eprintln!(
        "after the lift: 20 frames decoded in {:.1?}; {}",
        moving_from.elapsed(),
        rtcp.join(", ")
    );
    assert!(
        after.frames_decoded >= before.frames_decoded + 20,
        "the picture moves again: {before:?} -> {after:?}; {}",
        rtcp.join(", ")
    );
    // Chromium's RTCP, opened by the SFU, is never refused (loss drops
    // datagrams, it does not change them).
    assert_eq!(metric(&local, "parley_sfu_rtcp_refused_in_total").await, 0);
    assert_eq!(
        metric(&local, "parley_sfu_rtcp_opening_fallbacks_total").await,
        0
    );
    family.screenshot("weak-3-family-back").await;

    // Last (its own send estimate takes a while to recover, which would
    // blur the phases above): 5 % of what the detainee's Chromium sends
    // lost at random. The SFU's NACKs repair its uplink, Chromium resends on the RTX stream it
    // negotiated, and the SFU takes the repairs (rtc unwraps RTX) and
    // forwards them, so the family sees almost none of that loss.
    phase("5 % uplink loss");
    let detainee_port = sent(&detainee)
        .await
        .1
        .expect("the detainee's selected candidate pair has a local port");
    let uplink = [
        "parley_sfu_packets_lost_in_total",
        "parley_sfu_nacks_sent_total",
    ];
    let mut before = Vec::new();
    for c in uplink {
        before.push(metric(&local, c).await);
    }
    let resent_before: Value = detainee.eval("window.parley.sent()").await;
    ns.drop_randomly(Flow::From(detainee_port), 5);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let samples = watch(&family, 15).await;
    let dropped = ns.randomly_dropped();
    ns.stop_dropping();
    let resent_after: Value = detainee.eval("window.parley.sent()").await;
    let resent = resent_after["videoRetransmittedPacketsSent"]
        .as_u64()
        .unwrap_or(0)
        - resent_before["videoRetransmittedPacketsSent"]
            .as_u64()
            .unwrap_or(0);
    let mut grew = Vec::new();
    for (c, b) in uplink.iter().zip(&before) {
        grew.push(metric(&local, c).await - b);
    }
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let received = last.video_packets - first.video_packets;
    let lost = (last.video_packets_lost - first.video_packets_lost).max(0) as u64;
    let slowest = samples
        .windows(4)
        .map(|w| w[3].frames_decoded.saturating_sub(w[0].frames_decoded))
        .min()
        .unwrap_or(0);
    eprintln!(
        "5 % uplink loss: nftables saw {} packets over 400 bytes from the detainee, dropped {} of them \
         and {} smaller ones; the SFU saw {} lost and sent {} NACKs; the detainee's Chromium resent {resent} \
         video packets; the family: {} frames in 15 s (slowest 3 s: {slowest}), {lost} of {} video packets lost",
        dropped.0,
        dropped.1,
        dropped.2,
        grew[0],
        grew[1],
        last.frames_decoded - first.frames_decoded,
        received + lost
    );
    assert!(
        grew[0] > 0 && grew[1] > 0,
        "the SFU saw the uplink's loss and asked for the packets again: {grew:?}"
    );
    assert!(
        resent > 0,
        "the detainee's Chromium resent what the SFU asked for"
    );
    assert!(
        slowest >= 15,
        "the family's picture keeps moving with 5 % uplink loss: {samples:?}"
    );
    assert!(
        lost * 100 < received + lost,
        "the repaired uplink leaves the family under 1 % loss: {lost} of {} lost",
        received + lost
    );

    sampler.abort();

    // The family's estimate over time, phase by phase.
    let trace = trace.lock().map(|t| t.clone()).unwrap_or_default();
    let mut line = String::new();
    let mut in_60k = Vec::new();
    let mut current = String::new();
    for (at, entry) in &trace {
        if *at < 0.0 {
            current = entry.as_str().unwrap_or("").to_string();
            eprintln!("{line}");
            line = format!("{current}:");
            continue;
        }
        let kbps = entry["estimate_bps"].as_u64().unwrap_or(0) / 1000;
        let mark = if entry["weak"] == true { "w" } else { "" };
        line.push_str(&format!(" {kbps}{mark}"));
        if current == "60 kbit/s" {
            in_60k.push(entry.clone());
        }
    }
    eprintln!("{line}");
    eprintln!("(the family's downlink estimate each second, kbit/s; w: shown as weak)");
    plot_estimate(&trace);
    assert!(
        trace
            .iter()
            .filter(|(at, _)| *at >= 0.0)
            .all(|(_, e)| e["source"] == "transport_feedback"),
        "the family's estimate came from its own feedback throughout: {trace:?}"
    );
    assert!(
        in_60k.iter().any(|e| e["weak"] == true
            && e["video_paused_from"]
                .as_array()
                .is_some_and(|p| !p.is_empty())),
        "at 60 kbit/s the connections view shows the family weak, video paused: {in_60k:?}"
    );
    drop(server);
}

/// What the delaying relay did.
#[derive(Default)]
struct RelayCounts {
    relayed: std::sync::atomic::AtomicU64,
    dropped: std::sync::atomic::AtomicU64,
    /// Whether the relay drops (set once the call is up).
    lossy: std::sync::atomic::AtomicBool,
}

/// xorshift64, seeded from the clock: the relay's delays and drops.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Dice(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A one-way link out of `socket` to `to`: datagrams queued with their
/// release instant leave then, in order.
fn delayed_sender(
    socket: std::sync::Arc<tokio::net::UdpSocket>,
    to: SocketAddr,
) -> tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, Vec<u8>)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((at, datagram)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let _ = socket.send_to(&datagram, to).await;
        }
    });
    tx
}

/// When a datagram arriving now leaves a link that holds each one
/// 80 ms ± 20 ms (uniform, drawn per datagram) without reordering them, as
/// a queue that grows and drains does: never before the one ahead of it.
fn release(dice: &mut Dice, last: &mut tokio::time::Instant) -> tokio::time::Instant {
    let at = tokio::time::Instant::now() + Duration::from_millis(60 + dice.below(41));
    *last = at.max(*last);
    *last
}

/// A UDP relay from `listen` (the address the SFU advertises) to the SFU at
/// `sfu`: each datagram is held 80 ms ± 20 ms each way, in order
/// ([`release`]), and once [`RelayCounts::lossy`] is set, `loss_percent` %
/// of what goes to the browsers is dropped at random. One upstream socket per browser address, as a NAT
/// would. Runs until the test's runtime ends.
async fn delaying_relay(
    listen: SocketAddr,
    sfu: SocketAddr,
    loss_percent: u64,
) -> std::sync::Arc<RelayCounts> {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use tokio::net::UdpSocket;
    let socket = Arc::new(UdpSocket::bind(listen).await.expect("relay socket"));
    let counts = Arc::new(RelayCounts::default());
    let out = counts.clone();
    tokio::spawn(async move {
        type Queue = tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, Vec<u8>)>;
        type Flow = (Queue, tokio::time::Instant);
        let mut upstream: HashMap<SocketAddr, Flow> = HashMap::new();
        let mut dice = Dice::new();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, browser)) = socket.recv_from(&mut buf).await {
            let (up, last) = match upstream.get_mut(&browser) {
                Some((up, last)) => (up.clone(), last),
                None => {
                    let Ok(up) = UdpSocket::bind(SocketAddr::new(listen.ip(), 0)).await else {
                        continue;
                    };
                    let up = Arc::new(up);
                    let down = delayed_sender(socket.clone(), browser);
                    let (reader, counts) = (up.clone(), out.clone());
                    tokio::spawn(async move {
                        let mut dice = Dice::new();
                        let mut last = tokio::time::Instant::now();
                        let mut buf = vec![0u8; 2048];
                        while let Ok((n, _)) = reader.recv_from(&mut buf).await {
                            if counts.lossy.load(Ordering::Relaxed)
                                && dice.below(100) < loss_percent
                            {
                                counts.dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            counts.relayed.fetch_add(1, Ordering::Relaxed);
                            let at = release(&mut dice, &mut last);
                            if down.send((at, buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                    });
                    let flow = upstream
                        .entry(browser)
                        .or_insert((delayed_sender(up, sfu), tokio::time::Instant::now()));
                    (flow.0.clone(), &mut flow.1)
                }
            };
            out.relayed.fetch_add(1, Ordering::Relaxed);
            let at = release(&mut dice, last);
            let _ = up.send((at, buf[..n].to_vec()));
        }
    });
    counts
}

/// A family and a detainee whose media crosses 80 ms ± 20 ms each way (a
/// relay of the test's own; this kernel has no netem), with 5 % of what
/// reaches each browser lost: the visit keeps its video, NACKs
/// and RTX repairing it under a round trip of about 160 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_over_a_delayed_lossy_link_keeps_its_video() {
    let _one = chromium::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // One worker on a port the relay takes too, on another loopback
    // address; the SFU advertises the relay's.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let config = config_with(
        dir.path(),
        &[
            ("listen", format!("\"127.0.0.1:{port}\"")),
            ("advertised_ip", "\"127.0.0.2\"".to_string()),
            ("workers", "1".to_string()),
            ("ice_tcp", "false".to_string()),
        ],
    );
    let counts = delaying_relay(
        SocketAddr::from(([127, 0, 0, 2], port)),
        SocketAddr::from(([127, 0, 0, 1], port)),
        5,
    )
    .await;
    let server = common::Server::start_command_with("demo", &config, &data);
    let out = server.stdout();
    let family_link = demo_link(&out, "Family:");
    let detainee_link = demo_link(&out, "Detainee:");

    let browser = Browser::launch().await;
    let family = browser.page("delayed-family", Screen::Phone).await;
    let detainee = browser.page("delayed-detainee", Screen::Tablet).await;
    join_visit(&family, &family_link, &detainee, &detainee_link).await;
    family.wait_for_media(30, 50, Duration::from_secs(30)).await;
    // Loss from here on: the visit is up. (With loss from the start, one
    // CI run never got past "connecting"; how a handshake fares on a lossy
    // link is its own question.)
    counts
        .lossy
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // The jitter buffer settles to the path first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let local = server.url.clone();
    let before = [
        metric(&local, "parley_sfu_nacks_received_total").await,
        metric(&local, "parley_sfu_rtx_sent_total").await,
    ];
    let samples = watch(&family, 20).await;
    let after = [
        metric(&local, "parley_sfu_nacks_received_total").await,
        metric(&local, "parley_sfu_rtx_sent_total").await,
    ];
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let Repaired {
        received,
        retransmitted,
        lost,
        slowest,
    } = repaired(&samples);
    eprintln!(
        "80 ms ± 20 ms each way, 5 % lost to the browsers: the relay passed {} and dropped {} datagrams; \
         the family: {} frames in 20 s (slowest 3 s: {slowest}), {} freezes ({:.1} s), {lost} of {} video \
         packets lost after repair ({retransmitted} resends on the RTX stream), audio concealed {:.2} %; \
         the SFU: {} NACKs, {} RTX resends",
        counts.relayed.load(std::sync::atomic::Ordering::Relaxed),
        counts.dropped.load(std::sync::atomic::Ordering::Relaxed),
        last.frames_decoded - first.frames_decoded,
        last.freezes - first.freezes,
        last.frozen - first.frozen,
        received + lost,
        concealed_share(first, last) * 100.0,
        after[0] - before[0],
        after[1] - before[1],
    );
    assert!(
        counts.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the relay dropped some"
    );
    // Most runs freeze for under a second in all; one froze 3.6 s once
    // (docs/benchmarks.md), so the bound is on the whole: moving for at
    // least three quarters of the time, at 10 frames a second on average.
    assert!(
        last.frames_decoded - first.frames_decoded >= 200 && last.frozen - first.frozen < 5.0,
        "the picture keeps moving (10 frames a second on average, frozen under 5 s of 20): {samples:?}"
    );
    assert!(
        after[1] > before[1] && retransmitted > 0,
        "the losses were asked for and resent on the family's RTX stream"
    );
    assert!(
        lost * 100 < received + lost,
        "NACKs and RTX bring the video's loss under 1 % at a 160 ms round trip: {lost} of {} lost",
        received + lost
    );
    drop(server);
}
