//! End to end: participants join over the signaling WebSocket, negotiate
//! media with the SFU through it (real ICE and DTLS-SRTP on 127.0.0.1), see
//! and hear each other, and the media stops when the session ends.

use crate::harness::*;
use crate::ws::*;
use chrono::Duration;
use parley_client::Client;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn negotiate(ws: &mut Ws, client: &mut Client) {
    let offer = client.offer().await.expect("offer");
    send(ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = until(ws, "answer").await;
    client
        .accept(answer["sdp"].as_str().expect("sdp").to_string())
        .await
        .expect("connected");
}

/// A client named `name` that sends audio and video and receives one
/// participant, its media negotiated over `ws`.
async fn connected(ws: &mut Ws, name: &str, ssrc_base: u32) -> Client {
    let mut client = Client::new(name, true, 1, ssrc_base).await.expect("client");
    negotiate(ws, &mut client).await;
    client
}

/// A demo hearing five minutes from now with Judge J and Witness W, the
/// judge joined and the witness in the lobby: the hearing, the judge's
/// socket and welcome, the witness's socket and welcome.
async fn a_judge_and_a_waiting_witness(s: &Server) -> (Value, (Ws, Value), (Ws, Value)) {
    let at = s.now() + Duration::minutes(5);
    let hearing = hearing(
        s,
        "Court",
        at,
        &[("Judge J", "judge"), ("Witness W", "witness")],
    )
    .await;
    let judge = join_as(s, &hearing, "judge").await;
    let witness = join_as(s, &hearing, "witness").await;
    (hearing, judge, witness)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_visit_end_to_end() {
    let s = start().await;
    family_visit(&s, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_visit_through_a_standalone_sfu() {
    let s = start_with_remote_sfu().await;
    family_visit(&s, false).await;
}

/// A visit from booking to its scheduled end: no media before it starts,
/// audio and video both ways, nothing after the end. `sfu_in_process`:
/// signaling's `/metrics` carries the SFU's counters too.
async fn family_visit(s: &Server, sfu_in_process: bool) {
    let p = prison(s, "demo", 1).await;
    let booking = book_social_visit(s, &p, s.now() + Duration::minutes(5), 10).await;
    let (mut cell_ws, welcome) = join_as(s, &booking, "detainee").await;
    assert_eq!(welcome["receive_slots"], 1);
    let (mut home_ws, _) = join_as(s, &booking, "visitor").await;

    // No media before the visit starts.
    let mut early = Client::new("early", true, 1, 500).await.expect("client");
    let offer = early.offer().await.expect("offer");
    send(&mut home_ws, json!({"type": "offer", "sdp": offer})).await;
    let refused = until(&mut home_ws, "error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    s.clock.advance(Duration::minutes(5));
    until(&mut cell_ws, "admitted").await;
    until(&mut home_ws, "admitted").await;
    let cell = connected(&mut cell_ws, "cell", 1000).await;
    let home = connected(&mut home_ws, "home", 2000).await;

    let sent = 50;
    let (a, b) = tokio::join!(cell.send(0, sent), home.send(0, sent));
    a.expect("cell sends");
    b.expect("home sends");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for (receiver, from) in [(&home, "cell"), (&cell, "home")] {
        for kind in ["audio", "video"] {
            let got = receiver.got(from, kind);
            assert!(
                got * 10 >= u64::from(sent) * 9,
                "{} got {got} {kind} from {from}",
                receiver.name
            );
        }
    }
    if sfu_in_process {
        sfu_metrics_count(s).await;
    }
    // How both connections fare, as an administrator sees it, in process
    // and through the standalone SFU's control API alike: each estimated
    // from its own transport-wide feedback (webrtc-rs negotiates it).
    let id = booking["id"].as_i64().expect("id");
    let view = s
        .get(&s.admin, &format!("/v1/sessions/{id}/connections"))
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    let connections = view.body.as_array().expect("a list").clone();
    assert_eq!(connections.len(), 2, "{}", view.body);
    for c in &connections {
        assert_eq!(c["source"], "transport_feedback", "{c}");
        assert!(
            c["estimate_bps"].as_u64().is_some_and(|b| b >= 30_000),
            "{c}"
        );
        assert_eq!(c["weak"], false, "{c}");
    }
    let stranger = s
        .get("not-a-token", &format!("/v1/sessions/{id}/connections"))
        .await;
    assert_eq!(stranger.status, 401, "{}", stranger.body);

    // The visit ends on time: media stops within a second.
    s.clock.advance(Duration::minutes(10));
    until(&mut home_ws, "ended").await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = home.total();
    cell.send(sent, 25).await.expect("cell keeps sending");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(home.total(), before, "no media after the end");
}

/// The SFU's counters on signaling's `/metrics` after a visit of 50
/// packets each way per kind.
async fn sfu_metrics_count(s: &Server) {
    let metrics = s.metrics().await;
    let forwarded = metrics
        .lines()
        .find_map(|l| l.strip_prefix("parley_sfu_rtp_packets_forwarded_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("forwarded counter");
    assert!(forwarded >= 4 * 45, "{forwarded}");
    let latency_count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("parley_sfu_forward_latency_us_count "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("latency histogram");
    assert_eq!(latency_count, forwarded, "every forwarded packet is timed");
    assert!(
        metrics.contains("parley_sfu_worker_peers{worker=\"0\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_mutes_a_witness_and_the_mute_survives_a_new_offer() {
    let s = start().await;
    let (hearing, (mut bench_ws, _), (mut box_ws, _)) = a_judge_and_a_waiting_witness(&s).await;
    let witness_id = participant(&hearing, "witness");
    send(
        &mut bench_ws,
        json!({"type": "admit", "participant_id": witness_id}),
    )
    .await;
    until(&mut box_ws, "admitted").await;
    let bench = connected(&mut bench_ws, "bench", 5000).await;
    let witness_box = connected(&mut box_ws, "box", 6000).await;

    send(
        &mut bench_ws,
        json!({"type": "mute", "participant_id": witness_id, "media": "audio", "muted": true}),
    )
    .await;
    let roster = loop {
        let r = until(&mut box_ws, "roster").await;
        if r["participants"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["participant_id"] == witness_id && p["muted_audio"] == true)
        }) {
            break r;
        }
    };
    assert_eq!(roster["type"], "roster");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    witness_box.send(0, 25).await.expect("sent");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        bench.got("box", "audio"),
        0,
        "the court no longer hears the witness"
    );
    assert!(bench.got("box", "video") >= 20, "but still sees them");

    // A fresh connection does not lift the mute.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = connected(&mut box_ws, "box", 7000).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let video_before = bench.got("box", "video");
    again.send(100, 25).await.expect("sent");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        bench.got("box", "audio"),
        0,
        "still muted after a new offer"
    );
    assert!(
        bench.got("box", "video") > video_before,
        "video flows on the new connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_witness_loses_media_within_a_second() {
    let s = start().await;
    let (hearing, (mut bench_ws, welcome), (mut box_ws, box_welcome)) =
        a_judge_and_a_waiting_witness(&s).await;
    let witness_id = participant(&hearing, "witness");
    assert_eq!(welcome["state"], "admitted");
    assert_eq!(box_welcome["state"], "lobby");
    send(
        &mut bench_ws,
        json!({"type": "admit", "participant_id": witness_id}),
    )
    .await;
    until(&mut box_ws, "admitted").await;

    let bench = connected(&mut bench_ws, "bench", 3000).await;
    let witness_box = connected(&mut box_ws, "box", 4000).await;
    let (a, b) = tokio::join!(bench.send(0, 20), witness_box.send(0, 20));
    a.expect("sent");
    b.expect("sent");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(bench.got("box", "audio") > 0, "the court hears the witness");
    assert!(
        witness_box.got("bench", "audio") > 0,
        "the witness hears the court"
    );

    send(
        &mut bench_ws,
        json!({"type": "remove", "participant_id": witness_id, "reason": "Testimony complete"}),
    )
    .await;
    assert_eq!(until(&mut box_ws, "ended").await["reason"], "removed");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (heard_by_bench, heard_by_box) = (bench.total(), witness_box.total());
    let (a, b) = tokio::join!(bench.send(20, 20), witness_box.send(20, 20));
    a.expect("sent");
    b.expect("the removed client may keep sending");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        bench.total(),
        heard_by_bench,
        "nothing from the removed witness"
    );
    assert_eq!(
        witness_box.total(),
        heard_by_box,
        "nothing to the removed witness"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_is_told_who_is_speaking() {
    let s = start().await;
    let booking = visit_under_way(&s, 10).await.booking;
    let detainee = participant(&booking, "detainee");
    let (mut cell_ws, _) = join_as(&s, &booking, "detainee").await;
    let (mut home_ws, _) = join_as(&s, &booking, "visitor").await;
    let mut cell = connected(&mut cell_ws, "cell", 5000).await;
    let mut home = connected(&mut home_ws, "home", 6000).await;
    // The detainee talks (-10 dBov); the family is silent (-110 dBov).
    cell.audio_level_dbov = Some(10);
    home.audio_level_dbov = Some(110);
    let (a, b) = tokio::join!(cell.send(0, 50), home.send(0, 50));
    a.expect("sent");
    b.expect("sent");
    for ws in [&mut home_ws, &mut cell_ws] {
        let speaker = until(ws, "active_speaker").await;
        assert_eq!(speaker["participant_id"], detainee, "{speaker}");
    }
}

/// Through a standalone SFU, so the request crosses its control API too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_publisher_is_asked_to_pause_the_layers_nobody_needs() {
    let s = start_with_remote_sfu().await;
    let booking = visit_under_way(&s, 10).await.booking;
    let (mut cell_ws, _) = join_as(&s, &booking, "detainee").await;
    let (mut home_ws, _) = join_as(&s, &booking, "visitor").await;
    let mut cell = Client::simulcast("cell", 1, 10_000).await.expect("client");
    let mut home = Client::new("home", false, 1, 11_000).await.expect("client");
    // The family's phone can take 150 kbit/s: the low layer only.
    home.limit_receive(150_000);
    negotiate(&mut cell_ws, &mut cell).await;
    negotiate(&mut home_ws, &mut home).await;
    // Until the phone's first REMB arrives the SFU assumes more bandwidth,
    // so a first request may still name a middle layer; the requests must
    // settle on the low layer alone, and always name it.
    let (sent, asked) = tokio::join!(cell.send(0, 300), async {
        let mut seen = Vec::new();
        loop {
            match next_within(&mut cell_ws, std::time::Duration::from_secs(12)).await {
                Some(m) if m["type"] == "publish_layers" => {
                    assert_eq!(m["rids"][0], "q", "the low layer is always named: {m}");
                    seen.push(m["rids"].clone());
                    if m["rids"] == json!(["q"]) {
                        break seen;
                    }
                }
                Some(_) => continue,
                None => panic!("no publish_layers naming only `q` within 12 s: {seen:?}"),
            }
        }
    });
    sent.expect("sent");
    assert_eq!(asked.last(), Some(&json!(["q"])), "{asked:?}");
    assert!(
        home.got("cell", "video-q") > 0,
        "the phone got the low layer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_media_connection_is_reported_restored_and_its_time_given_back() {
    let s = start().await;
    let booking = visit_under_way(&s, 10).await.booking;
    let id = booking["id"].as_i64().expect("id");
    let booked_end = s.get(&s.admin, &format!("/v1/sessions/{id}")).await.body["ends_at"].clone();
    let (mut cell_ws, _) = join_as(&s, &booking, "detainee").await;
    let (mut home_ws, _) = join_as(&s, &booking, "visitor").await;
    let cell = connected(&mut cell_ws, "cell", 7000).await;
    let home = connected(&mut home_ws, "home", 8000).await;
    // The family's browser drops its connection (tab crash, network change).
    home.pc.close().await.expect("closed");
    // The SFU notices within about 10 s (ICE disconnected, then failed).
    let lost = loop {
        match next_within(&mut home_ws, std::time::Duration::from_secs(25)).await {
            Some(m) if m["type"] == "media_lost" => break m,
            Some(_) => continue,
            None => panic!("socket closed before media_lost"),
        }
    };
    assert!(
        lost["message"].as_str().unwrap_or("").contains("lost"),
        "{lost}"
    );
    // The family takes a minute and a half to come back (the test's clock).
    s.clock.advance(Duration::seconds(90));
    // A new connection and offer on the same socket restores media; the
    // new end comes with the answer (either may come first).
    let mut again = Client::new("home", true, 1, 9000).await.expect("client");
    let offer = again.offer().await.expect("offer");
    send(&mut home_ws, json!({"type": "offer", "sdp": offer})).await;
    let (mut answer, mut home_extended) = (None, None);
    while answer.is_none() || home_extended.is_none() {
        let m = next(&mut home_ws)
            .await
            .expect("the answer and the new end");
        match m["type"].as_str() {
            Some("answer") => answer = Some(m),
            Some("extended") => home_extended = Some(m),
            _ => {}
        }
    }
    let answer = answer.expect("answer");
    again
        .accept(answer["sdp"].as_str().expect("sdp").to_string())
        .await
        .expect("connected");
    cell.send(0, 30).await.expect("sent");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(
        again.got("cell", "video") >= 27,
        "{}",
        again.got("cell", "video")
    );
    // demo's [fair_use] pauses the clock: both sides are given the outage
    // back (90 s of clock, plus the real seconds to notice and reconnect).
    let cell_extended = until(&mut cell_ws, "extended").await;
    for extended in [home_extended.expect("extended"), cell_extended] {
        let given = extended["lost_seconds"].as_i64().expect("lost_seconds");
        assert!((90..=150).contains(&given), "{extended}");
        let ends_at: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(extended["ends_at"].clone()).expect("ends_at");
        let booked: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(booked_end.clone()).expect("booked end");
        assert_eq!(ends_at - booked, Duration::seconds(given));
    }
    let stored = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_ne!(stored.body["ends_at"], booked_end, "the new end is stored");
    let audit = s.get(&s.admin, &format!("/v1/audit?session_id={id}")).await;
    let entry = audit
        .body
        .as_array()
        .and_then(|a| a.iter().find(|e| e["action"] == "session.fair_use"))
        .cloned()
        .expect("the extension is audited");
    assert_eq!(entry["rules"], json!(["demo/fair_use/pause_clock"]));
    assert_eq!(entry["decision"], "clock paused");
}

/// Packets `receiver` got from `from` of `kind` since `before`.
fn since(
    receiver: &Client,
    from: &str,
    kind: &str,
    before: &std::collections::HashMap<(String, String), u64>,
) -> u64 {
    receiver.got(from, kind)
        - before
            .get(&(from.to_string(), kind.to_string()))
            .copied()
            .unwrap_or(0)
}

fn snapshot(c: &Client) -> std::collections::HashMap<(String, String), u64> {
    c.received.lock().map(|m| m.clone()).unwrap_or_default()
}

/// Everyone who publishes sends 25 packets of each kind, then a pause.
async fn all_send(publishers: &[&Client], first: u16) {
    let sends = publishers.iter().map(|c| c.send(first, 25));
    for r in futures_util::future::join_all(sends).await {
        r.expect("sent");
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
}

/// The judge of `hearing` joins and connects their media: their socket,
/// their client and how many publishers they receive.
async fn judge_with_media(s: &Server, hearing: &Value, ssrc_base: u32) -> (Ws, Client, usize) {
    let (mut ws, welcome) = join_as(s, hearing, "judge").await;
    let slots = welcome["receive_slots"].as_u64().expect("slots") as usize;
    let mut judge = Client::new("judge", true, slots, ssrc_base)
        .await
        .expect("client");
    negotiate(&mut ws, &mut judge).await;
    (ws, judge, slots)
}

/// Joins `role` of `hearing`, has the judge admit them, and connects their
/// media; returns their socket and client.
async fn admitted_with_media(
    s: &Server,
    hearing: &Value,
    judge_ws: &mut Ws,
    role: &str,
    ssrc_base: u32,
) -> (Ws, Client) {
    let pid = participant(hearing, role);
    let (mut ws, welcome) = join_as(s, hearing, role).await;
    send(judge_ws, json!({"type": "admit", "participant_id": pid})).await;
    until(&mut ws, "admitted").await;
    let slots = welcome["receive_slots"].as_u64().expect("slots") as usize;
    let mut c = Client::new(role, role != "observer", slots, ssrc_base)
        .await
        .expect("client");
    negotiate(&mut ws, &mut c).await;
    (ws, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_hearing_consultation_protection_and_a_closed_gallery() {
    let s = start().await;
    let at = s.now() + Duration::minutes(5);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[
            ("Judge J", "judge"),
            ("Dan Defendant", "defendant"),
            ("Cora Counsel", "counsel"),
            ("Wendy Witness", "witness"),
            ("Press P", "observer"),
        ],
    )
    .await;
    let (mut judge_ws, judge, _) = judge_with_media(&s, &hearing, 10_000).await;
    let (_defendant_ws, defendant) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "defendant", 20_000).await;
    let (mut counsel_ws, counsel) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "counsel", 21_000).await;
    let (_witness_ws, witness) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "witness", 22_000).await;
    let (mut gallery_ws, gallery) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "observer", 23_000).await;
    let publishers = [&judge, &defendant, &counsel, &witness];
    all_send(&publishers, 0).await;
    assert!(
        gallery.got("defendant", "video") >= 20,
        "the gallery watches the hearing"
    );
    assert!(judge.got("witness", "audio") >= 20);

    // Counsel takes the defendant into a consultation.
    let (d_id, c_id) = (
        participant(&hearing, "defendant"),
        participant(&hearing, "counsel"),
    );
    send(
        &mut counsel_ws,
        json!({"type": "consult", "participant_ids": [d_id, c_id]}),
    )
    .await;
    let opened = until(&mut judge_ws, "consultation").await;
    assert_eq!(opened["open"], true);
    let consultation_id = opened["consultation_id"].as_u64().expect("id");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = [&judge, &defendant, &counsel, &witness, &gallery].map(snapshot);
    all_send(&publishers, 100).await;
    for (i, receiver) in [(0, &judge), (3, &witness), (4, &gallery)] {
        for from in ["defendant", "counsel"] {
            for kind in ["audio", "video"] {
                assert_eq!(
                    since(receiver, from, kind, &before[i]),
                    0,
                    "{} got {kind} from {from} in consultation",
                    receiver.name
                );
            }
        }
    }
    assert!(
        since(&defendant, "counsel", "audio", &before[1]) >= 20,
        "the defendant hears counsel"
    );
    assert!(
        since(&counsel, "defendant", "video", &before[2]) >= 20,
        "counsel sees the defendant"
    );
    assert_eq!(
        since(&defendant, "judge", "audio", &before[1]),
        0,
        "the hearing does not reach the consultation"
    );
    assert!(
        since(&witness, "judge", "audio", &before[3]) >= 20,
        "the hearing goes on"
    );

    // Counsel returns them to the hearing.
    send(
        &mut counsel_ws,
        json!({"type": "end_consultation", "consultation_id": consultation_id}),
    )
    .await;
    assert_eq!(until(&mut judge_ws, "consultation").await["open"], false);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = [&judge, &defendant].map(snapshot);
    all_send(&publishers, 200).await;
    assert!(
        since(&judge, "defendant", "audio", &before[0]) >= 20,
        "back in the hearing"
    );
    assert!(since(&defendant, "judge", "audio", &before[1]) >= 20);

    // The judge protects the witness, hidden from the defendant too.
    let w_id = participant(&hearing, "witness");
    send(&mut judge_ws, json!({"type": "protect", "participant_id": w_id, "pseudonym": "Witness A", "hide_from_defendant": true})).await;
    loop {
        let r = until(&mut gallery_ws, "roster").await;
        if r["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Witness A"))
        {
            assert!(
                !r.to_string().contains("Wendy"),
                "the real name is gone: {r}"
            );
            break;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = [&gallery, &defendant, &judge].map(snapshot);
    all_send(&publishers, 300).await;
    assert_eq!(
        since(&gallery, "witness", "video", &before[0]),
        0,
        "the gallery never sees a protected witness"
    );
    assert!(
        since(&gallery, "witness", "audio", &before[0]) >= 20,
        "but hears the testimony"
    );
    assert_eq!(
        since(&defendant, "witness", "video", &before[1]),
        0,
        "nor does the defendant, as ordered"
    );
    assert!(
        since(&judge, "witness", "video", &before[2]) >= 20,
        "the court does"
    );

    // The judge closes the hearing to the public: the gallery gets nothing.
    send(
        &mut judge_ws,
        json!({"type": "observers", "admitted": false}),
    )
    .await;
    assert_eq!(until(&mut gallery_ws, "observers").await["admitted"], false);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let total = gallery.total();
    all_send(&publishers, 400).await;
    assert_eq!(gallery.total(), total, "nothing reaches a closed gallery");
}

/// The recorder's audit events, kept in memory for the test.
#[derive(Default)]
struct Audited(std::sync::Mutex<Vec<String>>);

impl parley_recorder::audit::AuditSink for Audited {
    fn record<'a>(
        &'a self,
        event: &'a parley_recorder::audit::RecordingEvent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        use parley_recorder::audit::RecordingEvent as E;
        let kind = match event {
            E::Started { .. } => "started",
            E::Refused { .. } => "refused",
            E::Stopped { .. } => "stopped",
            E::Interrupted { .. } => "interrupted",
            E::Resumed { .. } => "resumed",
            E::Failed { .. } => "failed",
        };
        if let Ok(mut v) = self.0.lock() {
            v.push(kind.to_string());
        }
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_hearing_reaches_the_recorder_and_verifies_but_its_consultation_does_not() {
    recorded_hearing(start().await).await;
}

/// The SFU records when it runs apart too (`parley sfu` with a recorder):
/// signaling only orders it over the control API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sfu_running_apart_records_a_hearing_too() {
    recorded_hearing(start_with_remote_sfu().await).await;
}

async fn recorded_hearing(s: Server) {
    let root = tempfile::tempdir().expect("recorder dir");
    let audit = std::sync::Arc::new(Audited::default());
    let recorder = parley_recorder::server::start(parley_recorder::server::RecorderConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        recordings_dir: root.path().join("recordings"),
        keys_dir: root.path().join("keys"),
        tls_dir: root.path().join("tls"),
        segment_seconds: 1,
        jurisdictions: jurisdictions(),
        audit: audit.clone(),
    })
    .await
    .expect("recorder starts");
    assert!(
        s.sfu
            .set_recorder(parley_sfu::plane::recording::RecorderAddress {
                addr: recorder.addr,
                tls: recorder.tls.clone(),
                // The demo's spoken notice lasts 25 s; its playback before
                // recording is tested in sfu/tests/recording.rs.
                announcements: None,
            })
    );
    // The demo jurisdiction records hearings ("required").
    let at = s.now() + Duration::minutes(5);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[
            ("Judge J", "judge"),
            ("Dan Defendant", "defendant"),
            ("Cora Counsel", "counsel"),
        ],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let (mut judge_ws, welcome) = join_as(&s, &hearing, "judge").await;
    assert_eq!(
        welcome["notice"]["recorded"], true,
        "told before anything is recorded"
    );
    let mut judge = Client::new("judge", true, 2, 30_000).await.expect("client");
    negotiate(&mut judge_ws, &mut judge).await;
    let (_d_ws, defendant) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "defendant", 31_000).await;
    let (mut c_ws, counsel) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "counsel", 32_000).await;
    let publishers = [&judge, &defendant, &counsel];
    for first in [0, 25, 50] {
        all_send(&publishers, first).await;
    }
    // A consultation: none of it may reach the record.
    let (d_id, c_id) = (
        participant(&hearing, "defendant"),
        participant(&hearing, "counsel"),
    );
    send(
        &mut c_ws,
        json!({"type": "consult", "participant_ids": [d_id, c_id]}),
    )
    .await;
    until(&mut judge_ws, "consultation").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let recorded_before = recorded(&s).await;
    all_send(&publishers, 100).await;
    let consulting = recorded(&s).await - recorded_before;
    // Only the judge's 25 + 25 packets may be recorded meanwhile.
    assert!(
        consulting <= 50,
        "{consulting} packets recorded during the consultation"
    );
    send(&mut judge_ws, json!({"type": "end", "reason": "Adjourned"})).await;
    until(&mut judge_ws, "ended").await;
    // The recording is closed lawfully and verifies.
    let dir = parley_recorder::recording::dir_of(
        &root.path().join("recordings"),
        &format!("session-{id}"),
    );
    let key = parley_recorder::keys::KeyStore::open(&root.path().join("keys"))
        .expect("keys")
        .verifying_key()
        .expect("key");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let report = loop {
        match parley_recorder::verify::verify(&dir, &key) {
            Ok(r) if r.manifest.ended.is_some() => break r,
            other if std::time::Instant::now() > deadline => {
                panic!("no finished recording: {other:?}")
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    assert_eq!(report.manifest.session_id, id);
    assert!(!report.manifest.segments.is_empty(), "{report:?}");
    assert_eq!(
        report.manifest.tracks.len(),
        6,
        "audio and video of three participants"
    );
    let events = audit.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(events, ["started", "stopped"]);
    recorder.shutdown().await;
}

/// `parley_sfu_recorded_packets_total` from signaling's metrics (or, when
/// the SFU runs apart, from the SFU's own).
async fn recorded(s: &Server) -> u64 {
    let metrics = if s.remote_sfu {
        s.sfu.metrics_text()
    } else {
        s.metrics().await
    };
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("parley_sfu_recorded_packets_total "))
        .and_then(|v| v.parse().ok())
        .expect("recorded counter")
}

/// Reads `ws` until a `media_lost` whose message contains `words`.
async fn media_lost_saying(ws: &mut Ws, words: &str) -> Value {
    loop {
        match next_within(ws, std::time::Duration::from_secs(20)).await {
            Some(m) if m["type"] == "media_lost" && m.to_string().contains(words) => break m,
            Some(_) => continue,
            None => panic!("socket closed before a media_lost saying {words:?}"),
        }
    }
}

/// A standalone SFU dies in a hearing the court closed to the public and a
/// new one starts in its place. Signaling sees it go and come back, tells
/// everyone, and opens the room again, still closed: the gallery's new
/// connection gets nothing, the court's gets the hearing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_media_server_keeps_a_closed_hearing_closed() {
    let mut s = start_with_remote_sfu().await;
    let at = s.now() + Duration::minutes(5);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[
            ("Judge J", "judge"),
            ("Dan Defendant", "defendant"),
            ("Press P", "observer"),
        ],
    )
    .await;
    let room = hearing["id"].as_i64().expect("id");
    let (mut judge_ws, _judge, slots) = judge_with_media(&s, &hearing, 10_000).await;
    let (mut defendant_ws, _) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "defendant", 20_000).await;
    let (mut gallery_ws, gallery) =
        admitted_with_media(&s, &hearing, &mut judge_ws, "observer", 23_000).await;
    send(
        &mut judge_ws,
        json!({"type": "observers", "admitted": false}),
    )
    .await;
    assert_eq!(until(&mut gallery_ws, "observers").await["admitted"], false);
    drop(gallery);

    s.restart_sfu(&[room]).await;
    for ws in [&mut judge_ws, &mut defendant_ws, &mut gallery_ws] {
        media_lost_saying(ws, "restarted").await;
    }
    // New connections, as the clients make on `media_lost`.
    let mut judge = Client::new("judge", true, slots, 30_000)
        .await
        .expect("client");
    negotiate(&mut judge_ws, &mut judge).await;
    let mut defendant = Client::new("defendant", true, slots, 31_000)
        .await
        .expect("client");
    negotiate(&mut defendant_ws, &mut defendant).await;
    let mut gallery = Client::new("observer", false, slots, 32_000)
        .await
        .expect("client");
    negotiate(&mut gallery_ws, &mut gallery).await;
    all_send(&[&judge, &defendant], 0).await;
    assert!(
        defendant.got("judge", "audio") >= 20 && judge.got("defendant", "video") >= 20,
        "the hearing goes on: {} {}",
        defendant.got("judge", "audio"),
        judge.got("defendant", "video")
    );
    assert_eq!(gallery.total(), 0, "the gallery stays closed");
    let actions = s.audited_actions(&s.admin, room).await;
    assert!(
        actions.iter().any(|a| a == "session.media"),
        "the interruption is audited: {actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_lost_time_is_credited_the_end_stays_and_a_visit_outside_the_quota_is_booked() {
    let s = start().await;
    // de-berlin credits lost time ([fair_use] mode = "credit"), four
    // social visits a week.
    let p = prison(&s, "de-berlin", 1).await;
    let at = s.now() + Duration::hours(3);
    let unrecorded = |start| {
        let mut body = social_visit(&p, start, 30);
        body["detainee_consents_to_recording"] = json!(false);
        body
    };
    let booking = s.create(&s.admin, "/v1/bookings", unrecorded(at)).await;
    let id = booking["id"].as_i64().expect("id");
    for day in 1..=3 {
        s.create(&s.admin, "/v1/bookings", unrecorded(day_at(day, 15)))
            .await;
    }
    s.clock.advance(at - s.now() + Duration::minutes(1));
    let booked_end = booking["ends_at"].clone();
    let (mut cell_ws, _) = join_as(&s, &booking, "detainee").await;
    let (mut home_ws, _) = join_as(&s, &booking, "visitor").await;
    let _cell = connected(&mut cell_ws, "cell", 7000).await;
    let home = connected(&mut home_ws, "home", 8000).await;
    home.pc.close().await.expect("closed");
    loop {
        match next_within(&mut home_ws, std::time::Duration::from_secs(25)).await {
            Some(m) if m["type"] == "media_lost" => break,
            Some(_) => continue,
            None => panic!("socket closed before media_lost"),
        }
    }
    s.clock.advance(Duration::seconds(60));
    let mut again = Client::new("home", true, 1, 9000).await.expect("client");
    let offer = again.offer().await.expect("offer");
    send(&mut home_ws, json!({"type": "offer", "sdp": offer})).await;
    let credited = until(&mut cell_ws, "time_credited").await;
    let seconds = credited["seconds"].as_i64().expect("seconds");
    assert!((60..=120).contains(&seconds), "{credited}");
    // The end stays where it was booked.
    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_eq!(session.body["ends_at"], booked_end);
    let credits = s
        .get(&s.admin, &format!("/v1/detainees/{}/credits", p.detainee))
        .await;
    assert_eq!(credits.status, StatusCode::OK, "{}", credits.body);
    let credit = &credits.body[0];
    assert_eq!(credit["seconds"], seconds);
    assert_eq!(credit["session_id"], id);
    assert_eq!(credit["used_session_id"], Value::Null);
    let audit = s.get(&s.admin, &format!("/v1/audit?session_id={id}")).await;
    assert!(
        audit
            .body
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "session.fair_use"
                && e["decision"] == "credited"
                && e["rules"] == json!(["de-berlin/fair_use/credit"]))),
        "{}",
        audit.body
    );
    // The week is full; the credit books a visit outside the quota, once.
    let friday = day_at(4, 15);
    let full = s.post(&s.admin, "/v1/bookings", unrecorded(friday)).await;
    assert_eq!(full.refusal_codes(), ["weekly_quota"], "{}", full.body);
    let mut with_credit = unrecorded(friday);
    with_credit["credit_id"] = credit["id"].clone();
    let booked = s
        .create(&s.admin, "/v1/bookings", with_credit.clone())
        .await;
    let used = s
        .get(&s.admin, &format!("/v1/detainees/{}/credits", p.detainee))
        .await;
    assert_eq!(used.body[0]["used_session_id"], booked["id"]);
    with_credit["starts_at"] = json!(friday + Duration::hours(1));
    with_credit["ends_at"] = json!(friday + Duration::minutes(90));
    let again = s.post(&s.admin, "/v1/bookings", with_credit).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}
