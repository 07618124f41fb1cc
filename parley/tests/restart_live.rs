//! `kill -9` during a live visit, in real browsers: the family's and the
//! kiosk's pages (headless Chromium) are in a call when a Parley process
//! dies without warning and comes back on the same address. The pages are
//! not touched: they find their way back by themselves, media flows again
//! both ways, the visit keeps its booking and its end, and the audit chain
//! verifies. Each test prints how long the pages took to get media again.
//!
//! - `parley up` (signaling and the SFU in one process): the sockets drop,
//!   the pages join again with their links, and offer again.
//! - `parley sfu` running apart, under `parley up`: signaling's sockets stay
//!   up; signaling notices the media server went and came back (a new boot
//!   id), opens the room again and asks each page to offer again.

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

use chromium::{Browser, Page, Screen};
use common::{Server, audit_verify, config_dir, demo_config, demo_link};
use demo_visit::join_visit;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use window::Window;

/// A TCP port on 127.0.0.1 free a moment ago, for a process that must come
/// back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Waits until `page`, whose media connection went, decodes video and
/// receives audio on a new one; the time from `since` until then.
async fn media_back(page: &Page, since: Instant) -> Duration {
    page.wait(
        "window.parley.connectionState() === 'connected'",
        "a new media connection",
        Duration::from_secs(60),
    )
    .await;
    page.wait_for_media(10, 20, Duration::from_secs(30)).await;
    since.elapsed()
}

/// Waits until both pages (the family's first) have media again after a
/// restart at `restarted`, then checks that they are in the same visit:
/// the same sessions with the same end as `before` (nothing was booked
/// again), and no notice left on the family's screen. How long each took.
async fn back_in_the_same_visit(
    server: &Server,
    before: (usize, String),
    [family, kiosk]: [&Page; 2],
    restarted: Instant,
) -> (Duration, Duration) {
    let back = tokio::join!(media_back(family, restarted), media_back(kiosk, restarted));
    assert_eq!(
        sessions(server).await,
        before,
        "the same one session, with the same end: nothing was booked again"
    );
    assert_eq!(family.text("#status").await, "", "no notice left on screen");
    back
}

/// Waits until both pages have noticed their media connection is gone.
async fn noticed(pages: [&Page; 2]) {
    for page in pages {
        page.wait(
            "window.parley.connectionState() !== 'connected'",
            "the page to notice its media connection went",
            Duration::from_secs(60),
        )
        .await;
    }
}

/// The demo's live session as the administrator sees it: (number of
/// sessions, the live one's `ends_at`).
async fn sessions(server: &Server) -> (usize, String) {
    let all = server.api().get_ok("/v1/sessions").await;
    let all = all.as_array().cloned().unwrap_or_default();
    let live = all
        .iter()
        .find(|s| s["status"] == "live")
        .unwrap_or_else(|| panic!("a live session in {all:?}"));
    (
        all.len(),
        live["ends_at"].as_str().unwrap_or("").to_string(),
    )
}

/// The id of the demo's live session.
async fn live_session(server: &Server) -> i64 {
    let all = server.api().get_ok("/v1/sessions").await;
    all.as_array()
        .and_then(|all| all.iter().find(|s| s["status"] == "live"))
        .and_then(|s| s["id"].as_i64())
        .unwrap_or_else(|| panic!("a live session in {all}"))
}

/// The family's and the kiosk's pages in the demo's visit, joined from the
/// links `demo` printed; both receive media.
async fn in_call(browser: &Browser, out: &str) -> (Page, Page) {
    let family = browser.page("restart-family", Screen::Phone).await;
    let kiosk = browser.page("restart-kiosk", Screen::Tablet).await;
    join_visit(
        &family,
        &demo_link(out, "Family:"),
        &kiosk,
        &demo_link(out, "Detainee:"),
    )
    .await;
    for page in [&family, &kiosk] {
        page.wait_for_media(10, 20, Duration::from_secs(30)).await;
    }
    (family, kiosk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_goes_on_after_parley_up_is_killed() {
    let _one = chromium::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let server = Server::start_command_at("demo", &demo_config(), &http, &data);
    let out = server.stdout();
    let browser = Browser::launch().await;
    let (family, kiosk) = in_call(&browser, &out).await;
    let before = sessions(&server).await;

    let killed = Instant::now();
    server.kill9();
    noticed([&family, &kiosk]).await;
    let server = Server::start_command_at("up", &demo_config(), &http, &data);
    let restarted = Instant::now();
    let (family_back, kiosk_back) =
        back_in_the_same_visit(&server, before, [&family, &kiosk], restarted).await;
    eprintln!(
        "parley up killed: back {:.1} s after the kill ({:.1} s of it the restart); \
         media again {:.1} s (family) and {:.1} s (kiosk) after the restart",
        (restarted + family_back.max(kiosk_back) - killed).as_secs_f64(),
        (restarted - killed).as_secs_f64(),
        family_back.as_secs_f64(),
        kiosk_back.as_secs_f64(),
    );
    drop(server);
    audit_verify(&data).assert_success();
}

/// Writes `text` to `dir/name`; its path.
fn write_in(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_visit_goes_on_after_its_sfu_is_killed() {
    let _one = chromium::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let control = format!("127.0.0.1:{}", free_port());
    let recorder = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port");
    let deployment = write_in(
        dir.path(),
        "parley.toml",
        &format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[policy]\njurisdictions_dir = \"{}\"\n\
             [sfu]\nremote = \"http://{control}\"\n\
             [recorder]\nlisten = \"{recorder}\"\nsegment_seconds = 1\n",
            config_dir().join("jurisdictions").display()
        ),
    );
    // A first start makes the join-token key and the recorder's TLS
    // directory, which the SFU node shares.
    drop(Server::start_command_with("up", &deployment, &data));
    let node = write_in(
        dir.path(),
        "sfu.toml",
        &format!(
            "[control]\nlisten = \"{control}\"\n[tokens]\nkey_file = \"{}\"\n\
             [media]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n\
             [recorder]\naddress = \"{recorder}\"\ntls_dir = \"{}\"\n",
            data.join("join-token.key").display(),
            data.join("tls/recorder").display()
        ),
    );
    let sfu = Server::start_sfu(&node, dir.path());
    // `demo --recorded`: everyone consents, so the visit is recorded.
    let server = Server::start_args(
        &[
            "demo".as_ref(),
            "--recorded".as_ref(),
            "--config".as_ref(),
            deployment.as_os_str(),
            "--http".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
        &data,
    );
    let browser = Browser::launch().await;
    let (family, kiosk) = in_call(&browser, &server.stdout()).await;
    let before = sessions(&server).await;
    let session = live_session(&server).await;
    // Some of the recording is stored before the kill.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let killed = Instant::now();
    sfu.kill9();
    // Signaling notices at its next event poll and tells the pages.
    noticed([&family, &kiosk]).await;
    let noticed_after = killed.elapsed();
    let sfu = Server::start_sfu(&node, dir.path());
    let restarted = Instant::now();
    let (family_back, kiosk_back) =
        back_in_the_same_visit(&server, before, [&family, &kiosk], restarted).await;
    eprintln!(
        "parley sfu killed: the pages knew {:.1} s after the kill; the SFU was back {:.1} s \
         after it; media again {:.1} s (family) and {:.1} s (kiosk) after the restart",
        noticed_after.as_secs_f64(),
        (restarted - killed).as_secs_f64(),
        family_back.as_secs_f64(),
        kiosk_back.as_secs_f64(),
    );
    // More of the recording after the gap, then the officer ends the visit.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let api = server.api();
    let (status, body) = api
        .post(
            &format!("/v1/sessions/{session}/end"),
            &serde_json::json!({"reason": "the test is over"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    kiosk
        .wait(
            "window.parley.screen() === 'ended'",
            "the end",
            Duration::from_secs(20),
        )
        .await;
    let audit = api.audit().await;
    let of = |action: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| format!("{} {}", e["decision"], e["details"]))
            .collect()
    };
    let media = of("session.media");
    assert_eq!(media.len(), 2, "lost, then restarted: {media:?}");
    assert!(
        media[0].starts_with("\"lost\"") && media[1].starts_with("\"restarted\""),
        "{media:?}"
    );
    let recording: Vec<&str> = audit
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("recording_"))
        .collect();
    assert_eq!(
        recording,
        [
            "recording_started",
            "recording_interrupted",
            "recording_resumed",
            "recording_stopped"
        ]
    );
    drop((sfu, server));
    audit_verify(&data).assert_success();
    let verified = common::parley([
        "recorder".as_ref(),
        "verify".as_ref(),
        std::ffi::OsStr::new(&format!("session-{session}")),
        "--config".as_ref(),
        deployment.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    eprintln!("{}", verified.stdout);
    verified
        .assert_success()
        .assert_stdout_contains("intact")
        .assert_stdout_contains("interrupted after segment")
        .assert_stdout_contains("stream broke off")
        .assert_stdout_contains("the session ended");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins session `session` as participant `pid` over `server`'s WebSocket
/// with a fresh join token: the socket and the `welcome`.
async fn join_ws(server: &Server, session: i64, pid: i64) -> (Ws, serde_json::Value) {
    use futures_util::SinkExt;
    let api = server.api();
    let (status, grant) = api
        .post(
            &format!("/v1/sessions/{session}/participants/{pid}/join-token"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{grant}");
    let url = format!(
        "{}/v1/sessions/{session}/ws",
        server.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("socket");
    let join = serde_json::json!({"type": "join", "version": 1, "token": grant["token"]});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        join.to_string().into(),
    ))
    .await
    .expect("join sent");
    let welcome = next_of(&mut ws, "welcome").await;
    (ws, welcome)
}

/// Sends `message` on `ws`.
async fn say(ws: &mut Ws, message: serde_json::Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        message.to_string().into(),
    ))
    .await
    .expect("sent");
}

/// The next message of type `kind` on `ws` (within 10 s).
async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` within 10 s"));
        match frame {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                let m: serde_json::Value = serde_json::from_str(&t).expect("json");
                assert_ne!(m["type"], "error", "{m}");
                if m["type"] == kind {
                    return m;
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("socket ended before `{kind}`: {other:?}"),
        }
    }
}

/// `kill -9` of `parley up` in a hearing where the court admitted people,
/// protected a witness under a pseudonym and muted counsel: after the
/// restart everyone joins again and finds the court's decisions standing,
/// read back from the audit log; nobody waits in the lobby again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hearing_keeps_the_courts_decisions_after_parley_up_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let server = Server::start_command_at("up", &demo_config(), &http, &data);
    let api = server.api();
    let court = api
        .create(
            "/v1/facilities",
            &serde_json::json!({"name": "Court 7", "kind": "court", "jurisdiction": "demo"}),
        )
        .await;
    let starts = chrono::Utc::now() + chrono::Duration::minutes(1);
    let hearing = api
        .create(
            "/v1/hearings",
            &serde_json::json!({
            "facility_id": court["id"], "title": "R v Doe",
            "starts_at": starts, "ends_at": starts + chrono::Duration::hours(1),
            "participants": [
                {"name": "Judge J", "role": "judge"},
                {"name": "Dan Defendant", "role": "defendant"},
                {"name": "Cora Counsel", "role": "counsel"},
                {"name": "Wendy Witness", "role": "witness"},
            ]}),
        )
        .await;
    let session = common::id(&hearing);
    let pid = |role: &str| {
        hearing["participants"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["role"] == role))
            .and_then(|p| p["id"].as_i64())
            .unwrap_or_else(|| panic!("no {role}"))
    };
    let (judge, defendant, counsel, witness) = (
        pid("judge"),
        pid("defendant"),
        pid("counsel"),
        pid("witness"),
    );
    let (mut judge_ws, _) = join_ws(&server, session, judge).await;
    for id in [defendant, counsel, witness] {
        let (ws, welcome) = join_ws(&server, session, id).await;
        assert_eq!(welcome["state"], "lobby");
        say(
            &mut judge_ws,
            serde_json::json!({"type": "admit", "participant_id": id}),
        )
        .await;
        drop(ws);
    }
    say(&mut judge_ws, serde_json::json!({"type": "protect", "participant_id": witness, "pseudonym": "Witness A", "hide_from_defendant": true})).await;
    say(&mut judge_ws, serde_json::json!({"type": "mute", "participant_id": counsel, "media": "audio", "muted": true})).await;
    // The court's decisions are audited before they take effect.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !api
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "session.mute")
    {
        assert!(Instant::now() < deadline, "the mute was not audited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.kill9();
    let server = Server::start_command_at("up", &demo_config(), &http, &data);
    let (_judge_ws, _) = join_ws(&server, session, judge).await;
    let (mut defendant_ws, welcome) = join_ws(&server, session, defendant).await;
    assert_eq!(
        welcome["state"], "admitted",
        "no second admission: {welcome}"
    );
    let (_witness_ws, welcome) = join_ws(&server, session, witness).await;
    assert_eq!(welcome["state"], "admitted", "{welcome}");
    let (_counsel_ws, _) = join_ws(&server, session, counsel).await;
    let roster = loop {
        let r = next_of(&mut defendant_ws, "roster").await;
        if r["participants"].as_array().map_or(0, Vec::len) == 4 {
            break r;
        }
    };
    let text = roster.to_string();
    assert!(
        text.contains("Witness A") && !text.contains("Wendy"),
        "the defendant still sees only the pseudonym: {roster}"
    );
    let counsel_entry = roster["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["participant_id"] == counsel))
        .cloned()
        .unwrap_or_default();
    assert_eq!(counsel_entry["muted_audio"], true, "{roster}");
    drop(server);
    audit_verify(&data).assert_success();
}
