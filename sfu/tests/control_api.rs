//! The network control API of a standalone SFU, over real HTTP on
//! 127.0.0.1, with real WebRTC clients joining through it.

mod common;

use common::{ORDINARY, privileged_token, send_together, sfu, token};
use parley_client::Client;
use parley_control::{FailureCode, JoinRequest, MediaEvent, MediaPlane, RecordingOrder};
use parley_policy::Role;
use parley_sfu::control::{RemoteSfu, server};
use parley_sfu::plane::InProcessPlane;
use parley_sfu::room::RoomPolicy;
use std::sync::Arc;
use std::time::Duration;

/// A join of `room` with `token` and `offer`, one receive slot, no court
/// decisions.
fn request(room: i64, token: String, offer: String) -> JoinRequest {
    JoinRequest {
        room,
        token,
        offer,
        receive_slots: 1,
        standing: Default::default(),
    }
}

/// Serves the control API of a fresh SFU; returns its client.
async fn remote() -> anyhow::Result<RemoteSfu> {
    let secret = parley_grants::control_secret(&[7u8; parley_grants::KEY_BYTES]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = server::router(Arc::new(InProcessPlane::new(sfu())), secret.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(RemoteSfu::new(&url, secret)?)
}

async fn join(
    client: &mut Client,
    sfu: &RemoteSfu,
    room: i64,
    token: String,
) -> anyhow::Result<()> {
    let offer = client.offer().await?;
    let reply = sfu.join_reply(request(room, token, offer)).await?;
    assert_eq!(reply.kind, "participant");
    client.accept(reply.sdp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_through_the_network_api() -> anyhow::Result<()> {
    let sfu = remote().await?;
    sfu.open_room(1, ORDINARY).await?;
    let mut a = Client::new("a", true, 1, 1000).await?;
    let mut b = Client::new("b", true, 1, 2000).await?;
    a.audio_level_dbov = Some(10);
    join(&mut a, &sfu, 1, token(1, 11, Role::Visitor)).await?;
    join(&mut b, &sfu, 1, token(1, 12, Role::Visitor)).await?;
    // Events from now on; the active speaker comes after a 1.5 s hold.
    let start = sfu.events_after(None, None).await?;
    // A caller that knew another SFU process is answered at once, with no
    // 20 s wait: it learns of the restart without delay.
    let asked = std::time::Instant::now();
    let other = sfu
        .events_after(Some(start.next + 5), Some("an-earlier-process"))
        .await?;
    assert_eq!(other.boot, start.boot, "the same process answers both");
    assert_ne!(other.boot, "an-earlier-process");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "answered at once"
    );
    send_together(&[&a, &b], 0, 100).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.got("a", "video") >= 90 && a.got("b", "audio") >= 90);
    let events = sfu
        .events_after(Some(start.next), Some(&start.boot))
        .await?;
    assert!(
        events.events.contains(&MediaEvent::ActiveSpeaker {
            room: 1,
            member: 11
        }),
        "{events:?}"
    );
    // A court's mute through the API: audio stops, video goes on.
    sfu.set_muted(1, 11, parley_sfu::room::MediaKind::Audio, true)
        .await?;
    let (audio, video) = (b.got("a", "audio"), b.got("a", "video"));
    a.send(200, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.got("a", "audio"), audio, "muted audio is not forwarded");
    assert!(b.got("a", "video") >= video + 20, "video still is");
    let unknown = sfu
        .set_muted(1, 99, parley_sfu::room::MediaKind::Video, true)
        .await
        .expect_err("no member 99");
    assert_eq!(unknown.code, FailureCode::RoomRefused, "{unknown}");
    // Removal stops media.
    sfu.remove(1, 12).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = b.total();
    a.send(100, 25).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.total(), before, "nothing reaches a removed member");
    sfu.close_room(1).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_codes_and_change_nothing() -> anyhow::Result<()> {
    let sfu = remote().await?;
    let wrong = RemoteSfu::new(sfu.url(), "not the secret".into())?;
    let refused = wrong
        .open_room(2, ORDINARY)
        .await
        .expect_err("wrong secret");
    assert_eq!(refused.code, FailureCode::Unauthorized, "{refused}");
    // The refused call opened nothing: the right caller can still open it.
    sfu.open_room(2, ORDINARY).await?;
    let again = sfu.open_room(2, ORDINARY).await.expect_err("already open");
    assert_eq!(again.code, FailureCode::RoomExists);
    let unknown = sfu
        .join(request(3, token(3, 1, Role::Visitor), "v=0".into()))
        .await
        .expect_err("no room 3");
    assert_eq!(unknown.code, FailureCode::UnknownRoom, "{unknown}");
    assert_eq!(unknown.code.status(), 404);
    // Invariant 1 holds through the network API as in process.
    sfu.open_room(
        4,
        RoomPolicy {
            privileged: true,
            recorded: false,
            monitoring_allowed: false,
        },
    )
    .await?;
    let mut officer = Client::new("officer", false, 1, 3000).await?;
    let offer = officer.offer().await?;
    let refused = sfu
        .join(request(4, privileged_token(4, 9, Role::Officer), offer))
        .await
        .expect_err("a monitor never joins a legal visit");
    assert_eq!(refused.code, FailureCode::RoomRefused, "{refused}");
    let junk = sfu
        .join(request(2, token(2, 5, Role::Visitor), "not sdp".into()))
        .await
        .expect_err("junk offer");
    assert_eq!(junk.code, FailureCode::BadOffer, "{junk}");
    // A node without a recorder refuses to record, and says so.
    let order = RecordingOrder {
        room: 2,
        session_kind: parley_policy::SessionKind::SocialVisit,
        jurisdiction: "demo".into(),
        languages: vec!["en".into()],
        publishers: vec![5],
    };
    let unrecorded = sfu.start_recording(order).await.expect_err("no recorder");
    assert_eq!(unrecorded.code, FailureCode::NoRecorder, "{unrecorded}");
    sfu.stop_recording(2, "nothing to stop").await?;

    // Hostile HTTP: malformed JSON, wrong types, unknown fields, bad ids.
    let http = reqwest::Client::new();
    let secret = parley_grants::control_secret(&[7u8; parley_grants::KEY_BYTES]);
    for (method, path, body) in [
        ("PUT", "/v1/rooms/5", "{not json"),
        (
            "PUT",
            "/v1/rooms/5",
            r#"{"privileged":"yes","recorded":false,"monitoring_allowed":false}"#,
        ),
        (
            "PUT",
            "/v1/rooms/5",
            r#"{"privileged":false,"recorded":false,"monitoring_allowed":false,"x":1}"#,
        ),
        (
            "PUT",
            "/v1/rooms/five",
            r#"{"privileged":false,"recorded":false,"monitoring_allowed":false}"#,
        ),
        ("POST", "/v1/rooms/2/joins", r#"{"token":1}"#),
        ("DELETE", "/v1/rooms/2/members/x", ""),
        (
            "PUT",
            "/v1/rooms/2/recording",
            r#"{"room":3,"session_kind":"social_visit","jurisdiction":"demo","languages":[],"publishers":[]}"#,
        ),
        ("DELETE", "/v1/rooms/2/recording", r#"{"why":"x"}"#),
    ] {
        let response = http
            .request(method.parse()?, format!("{}{path}", sfu.url()))
            .bearer_auth(&secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{method} {path} {body}");
        let error: serde_json::Value = response.json().await?;
        assert_eq!(error["code"], "bad_request", "{error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Room 5 was never opened by any of them.
    let unknown = sfu.close_room(5).await.expect_err("room 5 does not exist");
    assert_eq!(unknown.code, FailureCode::UnknownRoom);
    let metrics = http
        .get(format!("{}/metrics", sfu.url()))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("parley_sfu_worker_rooms{worker=\"0\"}"),
        "{metrics}"
    );
    Ok(())
}
