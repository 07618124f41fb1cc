//! `kill -9` during a live visit or hearing, in real browsers: the two
//! pages of a call (the family's and the kiosk's, or the judge's and the
//! defendant's; headless Chromium) are in it when a Parley process dies
//! without warning and comes back on the same address. The pages are not
//! touched: they find their way back by themselves, media flows again both
//! ways, the session keeps its booking, its end and the court's admissions,
//! the recording goes on with the gap in its signed manifest, and the audit
//! chain verifies. Each test prints how long the pages took to get media
//! again.
//!
//! - `parley up` (signaling, the SFU and the recorder in one process): the
//!   sockets drop, the pages join again with their links, and offer again.
//! - `parley sfu` running apart, under `parley up`: signaling's sockets stay
//!   up; signaling notices the media server went and came back (a new boot
//!   id), opens the room again and asks each page to offer again.
//! - `parley up` in a hearing over WebSockets: the court's decisions
//!   (admissions, a protected witness, a mute) are read back from the audit.

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
use common::{Server, audit_verify, config_dir, demo_config, demo_link, write_in};
use demo_visit::join_visit;
use std::path::Path;
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

/// Waits until both pages have media again after a restart at
/// `restarted`, then checks that they are in the same session: the same
/// sessions with the same end as `before` (nothing was booked again), and
/// no notice left on the first page's screen. How long each took.
async fn back_in_the_same_session(
    server: &Server,
    before: (usize, String),
    [first, second]: [&Page; 2],
    restarted: Instant,
) -> (Duration, Duration) {
    let back = tokio::join!(media_back(first, restarted), media_back(second, restarted));
    assert_eq!(
        sessions(server).await,
        before,
        "the same one session, with the same end: nothing was booked again"
    );
    assert_eq!(first.text("#status").await, "", "no notice left on screen");
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
        back_in_the_same_session(&server, before, [&family, &kiosk], restarted).await;
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

/// What is live when a process is killed: the demo's visit (the family
/// and the kiosk) or a hearing (the judge and the defendant).
#[derive(Clone, Copy)]
enum Call {
    Visit,
    Hearing,
}

impl Call {
    /// Starts Parley on `deployment` with this call booked; recorded.
    fn start(self, deployment: &Path, data: &Path) -> Server {
        let subcommand: &[&std::ffi::OsStr] = match self {
            // `demo --recorded`: everyone consents, so the visit is recorded.
            Call::Visit => &["demo".as_ref(), "--recorded".as_ref()],
            // The demo jurisdiction requires hearings to be recorded.
            Call::Hearing => &["up".as_ref()],
        };
        let rest: [&std::ffi::OsStr; 6] = [
            "--config".as_ref(),
            deployment.as_os_str(),
            "--http".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ];
        Server::start_args(&[subcommand, &rest].concat(), data)
    }

    /// Two pages in this call with media: the session id and the pages,
    /// the outside person's (family, judge) first.
    async fn join(self, browser: &Browser, server: &Server) -> (i64, [Page; 2]) {
        match self {
            Call::Visit => {
                let (family, kiosk) = in_call(browser, &server.stdout()).await;
                (live_session(server).await, [family, kiosk])
            }
            Call::Hearing => {
                let (session, judge, defendant) = in_hearing(browser, server).await;
                (session, [judge, defendant])
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_visit_goes_on_after_its_sfu_is_killed() {
    sfu_killed_during(Call::Visit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_hearing_goes_on_after_its_sfu_is_killed() {
    sfu_killed_during(Call::Hearing).await;
}

/// Writes `dir/sfu.toml` for a `parley sfu` node answering control calls
/// on `control`, with signaling's join-token key from `signaling_data`,
/// sending recordings to `recorder` with the link certificates in
/// `recorder_data`: its path.
fn sfu_node_file(
    dir: &Path,
    control: &str,
    signaling_data: &Path,
    recorder: std::net::SocketAddr,
    recorder_data: &Path,
) -> std::path::PathBuf {
    write_in(
        dir,
        "sfu.toml",
        &format!(
            "[control]\nlisten = \"{control}\"\n[tokens]\nkey_file = \"{}\"\n\
             [media]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n\
             [recorder]\naddress = \"{recorder}\"\ntls_dir = \"{}\"\n",
            signaling_data.join("join-token.key").display(),
            recorder_data.join("tls/recorder").display()
        ),
    )
}

/// `kill -9` of `parley sfu`, running apart under `parley up`, during a
/// recorded `call`; the SFU restarts on the same control address.
async fn sfu_killed_during(call: Call) {
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
    let node = sfu_node_file(dir.path(), &control, &data, recorder, &data);
    let sfu = Server::start_sfu(&node, dir.path());
    let server = call.start(&deployment, &data);
    let browser = Browser::launch().await;
    let (session, [outside, inside]) = call.join(&browser, &server).await;
    let before = sessions(&server).await;
    recorded_for_a_while(&server).await;

    let killed = Instant::now();
    sfu.kill9();
    // Signaling notices at its next event poll and tells the pages.
    noticed([&outside, &inside]).await;
    let noticed_after = killed.elapsed();
    let sfu = Server::start_sfu(&node, dir.path());
    let restarted = Instant::now();
    let (outside_back, inside_back) =
        back_in_the_same_session(&server, before, [&outside, &inside], restarted).await;
    eprintln!(
        "parley sfu killed: the pages knew {:.1} s after the kill; the SFU was back {:.1} s \
         after it; media again {:.1} s and {:.1} s (the two pages) after the restart",
        noticed_after.as_secs_f64(),
        (restarted - killed).as_secs_f64(),
        outside_back.as_secs_f64(),
        inside_back.as_secs_f64(),
    );
    let audit = server.api().audit().await;
    let media: Vec<String> = audit
        .iter()
        .filter(|e| e["action"] == "session.media")
        .map(|e| format!("{} {}", e["decision"], e["details"]))
        .collect();
    assert_eq!(media.len(), 2, "lost, then restarted: {media:?}");
    assert!(
        media[0].starts_with("\"lost\"") && media[1].starts_with("\"restarted\""),
        "{media:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    end_and_verify(
        server,
        session,
        &inside,
        (&deployment, &data),
        &[
            "recording_started",
            "recording_interrupted",
            "recording_resumed",
            "recording_stopped",
        ],
        "stream broke off",
    )
    .await;
    drop(sfu);
}

/// The officer ends `session`; `inside`'s page then shows the end.
async fn end_session(server: &Server, session: i64, inside: &Page) {
    let (status, body) = server
        .api()
        .post(
            &format!("/v1/sessions/{session}/end"),
            &serde_json::json!({"reason": "the test is over"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    inside
        .wait(
            "window.parley.screen() === 'ended'",
            "the end",
            Duration::from_secs(20),
        )
        .await;
}

/// `parley recorder verify session-SESSION` with the recorder's `config`
/// and `data`.
fn verify_recording(config: &Path, data: &Path, session: i64) -> common::Output {
    common::parley([
        "recorder".as_ref(),
        "verify".as_ref(),
        std::ffi::OsStr::new(&format!("session-{session}")),
        "--config".as_ref(),
        config.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ])
}

/// Waits until `server` has audited a recording, then 3 s more, so that
/// some of it is stored.
async fn recorded_for_a_while(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while recording_actions(server).await.is_empty() {
        assert!(Instant::now() < deadline, "the call is not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// The officer ends `session`, whose `inside` page then shows the end; the
/// audit log's `recording_*` actions are `expected`, the audit chain
/// verifies, and `parley recorder verify` finds the recording intact with
/// a gap whose reason contains `gap`.
async fn end_and_verify(
    server: Server,
    session: i64,
    inside: &Page,
    (deployment, data): (&Path, &Path),
    expected: &[&str],
    gap: &str,
) {
    end_session(&server, session, inside).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let recording = loop {
        let actions = recording_actions(&server).await;
        if actions.last().map(String::as_str) == Some("recording_stopped")
            || Instant::now() > deadline
        {
            break actions;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recording, expected);
    // The recorder audits the stop before it closes the manifest: wait for
    // the close before the kill that `drop` does.
    let deadline = Instant::now() + Duration::from_secs(20);
    let verified = loop {
        let verified = verify_recording(deployment, data, session);
        if verified.stdout.contains("the session ended") || Instant::now() > deadline {
            break verified;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(server);
    audit_verify(data).assert_success();
    eprintln!("{}", verified.stdout);
    verified
        .assert_success()
        .assert_stdout_contains("intact")
        .assert_stdout_contains("interrupted after segment")
        .assert_stdout_contains(gap)
        .assert_stdout_contains("the session ended");
}

/// A hearing at a new court of the demo jurisdiction in `server`, from a
/// minute from now for an hour, with `people` (name, role): the hearing as
/// the API answered.
async fn book_hearing(server: &Server, title: &str, people: &[(&str, &str)]) -> serde_json::Value {
    let api = server.api();
    let court = api
        .create(
            "/v1/facilities",
            &serde_json::json!({"name": format!("Court of {title}"), "kind": "court", "jurisdiction": "demo"}),
        )
        .await;
    let starts = chrono::Utc::now() + chrono::Duration::minutes(1);
    let participants: Vec<serde_json::Value> = people
        .iter()
        .map(|(name, role)| serde_json::json!({"name": name, "role": role}))
        .collect();
    api.create(
        "/v1/hearings",
        &serde_json::json!({
            "facility_id": court["id"], "title": title,
            "starts_at": starts, "ends_at": starts + chrono::Duration::hours(1),
            "participants": participants,
        }),
    )
    .await
}

/// The id of the participant with `role` in `hearing`.
fn participant_id(hearing: &serde_json::Value, role: &str) -> i64 {
    hearing["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == role))
        .and_then(|p| p["id"].as_i64())
        .unwrap_or_else(|| panic!("no {role} in {hearing}"))
}

/// A fresh join token for participant `pid` of session `session`.
async fn join_token(server: &Server, session: i64, pid: i64) -> String {
    let (status, grant) = server
        .api()
        .post(
            &format!("/v1/sessions/{session}/participants/{pid}/join-token"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{grant}");
    grant["token"].as_str().unwrap_or_default().to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins session `session` as participant `pid` over `server`'s WebSocket
/// with a fresh join token: the socket and the `welcome`.
async fn join_ws(server: &Server, session: i64, pid: i64) -> (Ws, serde_json::Value) {
    use futures_util::SinkExt;
    let token = join_token(server, session, pid).await;
    let url = format!(
        "{}/v1/sessions/{session}/ws",
        server.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("socket");
    let join = serde_json::json!({"type": "join", "version": 1, "token": token});
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
    let hearing = book_hearing(
        &server,
        "R v Doe",
        &[
            ("Judge J", "judge"),
            ("Dan Defendant", "defendant"),
            ("Cora Counsel", "counsel"),
            ("Wendy Witness", "witness"),
        ],
    )
    .await;
    let session = common::id(&hearing);
    let pid = |role: &str| participant_id(&hearing, role);
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

/// A hearing at a new court in `server`, starting now: the judge's and the
/// defendant's pages in it, the defendant admitted from the lobby by the
/// judge's click; both receive media. The session id and the pages.
async fn in_hearing(browser: &Browser, server: &Server) -> (i64, Page, Page) {
    let hearing = book_hearing(
        server,
        "R v Roe",
        &[("Judge Okafor", "judge"), ("Dan Roe", "defendant")],
    )
    .await;
    let session = common::id(&hearing);
    let link = |role: &str| {
        let pid = participant_id(&hearing, role);
        async move {
            let token = join_token(server, session, pid).await;
            (pid, format!("{}/join?lang=en#token={token}", server.url))
        }
    };
    let (_, judge_link) = link("judge").await;
    let (defendant_id, defendant_link) = link("defendant").await;
    let judge = browser.page("restart-judge", Screen::Desktop).await;
    let defendant = browser.page("restart-defendant", Screen::Tablet).await;
    for (page, link) in [(&judge, &judge_link), (&defendant, &defendant_link)] {
        page.goto(link).await;
        page.wait(
            "!document.querySelector('#join').disabled",
            "the pre-call check",
            Duration::from_secs(15),
        )
        .await;
        page.click("#join").await;
    }
    let admit =
        format!("#staff [data-list=lobby] [data-participant='{defendant_id}'] [data-action=admit]");
    judge
        .wait(
            &format!("document.querySelector(\"{admit}\")"),
            "the defendant in the judge's lobby list",
            Duration::from_secs(20),
        )
        .await;
    judge.click(&admit).await;
    for page in [&judge, &defendant] {
        page.wait(
            "window.parley.screen() === 'call'",
            "the hearing",
            Duration::from_secs(20),
        )
        .await;
        page.wait_for_media(10, 20, Duration::from_secs(30)).await;
    }
    (session, judge, defendant)
}

/// The `recording_*` actions of the audit log, in order.
async fn recording_actions(server: &Server) -> Vec<String> {
    server
        .api()
        .audit()
        .await
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("recording_"))
        .map(str::to_string)
        .collect()
}

/// `kill -9` of `parley up` (signaling, the SFU and the recorder in one
/// process) during a recorded hearing in two Chromium pages: after the
/// restart both pages are back in the hearing with media, the defendant
/// straight in (the judge's admission stands), and the official record goes
/// on: its finished segments verify and the time the server was down is a
/// gap in the signed manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_hearing_goes_on_after_parley_up_is_killed() {
    let _one = chromium::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let deployment = write_in(
        dir.path(),
        "parley.toml",
        &format!(
            "[server]\nhttp = \"{http}\"\n[policy]\njurisdictions_dir = \"{}\"\n\
             [sfu]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n\
             [recorder]\nlisten = \"127.0.0.1:0\"\nsegment_seconds = 1\n",
            config_dir().join("jurisdictions").display()
        ),
    );
    let server = Server::start_command_at("up", &deployment, &http, &data);
    let browser = Browser::launch().await;
    let (session, judge, defendant) = in_hearing(&browser, &server).await;
    let before = sessions(&server).await;
    recorded_for_a_while(&server).await;

    let killed = Instant::now();
    server.kill9();
    noticed([&judge, &defendant]).await;
    let server = Server::start_command_at("up", &deployment, &http, &data);
    let restarted = Instant::now();
    // Back in the call means no lobby: the judge's admission stands.
    let (judge_back, defendant_back) =
        back_in_the_same_session(&server, before, [&judge, &defendant], restarted).await;
    eprintln!(
        "parley up killed under a recorded hearing: media again {:.1} s (judge) and {:.1} s \
         (defendant) after the restart, {:.1} s after the kill",
        judge_back.as_secs_f64(),
        defendant_back.as_secs_f64(),
        (restarted + judge_back.max(defendant_back) - killed).as_secs_f64(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Nothing was left running to audit the interruption; the resumption
    // audits the gap and its reason.
    end_and_verify(
        server,
        session,
        &defendant,
        (&deployment, &data),
        &[
            "recording_started",
            "recording_resumed",
            "recording_stopped",
        ],
        "the recorder stopped",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_visit_goes_on_after_its_recorder_is_killed() {
    recorder_away_during(Call::Visit, Away::KilledMidway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_hearing_goes_on_after_its_recorder_is_killed() {
    recorder_away_during(Call::Hearing, Away::KilledMidway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hearing_whose_recorder_is_down_at_the_start_is_recorded_once_it_is_up() {
    recorder_away_during(Call::Hearing, Away::DownAtStart).await;
}

/// When the recorder is away.
#[derive(Clone, Copy, PartialEq)]
enum Away {
    /// Killed (`kill -9`) once some of the recording is stored.
    KilledMidway,
    /// Not running when the call starts.
    DownAtStart,
}

/// Waits until `page` shows a notice containing `text`.
async fn notice_on(page: &Page, text: &str) {
    page.wait(
        &format!("document.querySelector('#warning').textContent.includes('{text}')"),
        text,
        Duration::from_secs(30),
    )
    .await;
}

/// `parley recorder`, running apart (with its own data directory) under
/// `parley up` and `parley sfu`, is away during a recorded `call`: killed
/// midway, or down when the call starts. The call goes on without a break;
/// the SFU notices it cannot reach the recorder and everyone is told the
/// recording stopped; when the recorder is up on its address the SFU opens
/// the recording (again), everyone is told, and the recording verifies (a
/// killed recorder's gap and its reason in the manifest).
async fn recorder_away_during(call: Call, away: Away) {
    let _one = chromium::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let recorder_data = dir.path().join("recorder");
    let control = format!("127.0.0.1:{}", free_port());
    let quic = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port");
    let jurisdictions = config_dir().join("jurisdictions");
    let deployment = write_in(
        dir.path(),
        "parley.toml",
        &format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[policy]\njurisdictions_dir = \"{}\"\n\
             [sfu]\nremote = \"http://{control}\"\n",
            jurisdictions.display()
        ),
    );
    let recorder_file = write_in(
        dir.path(),
        "recorder.toml",
        &format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[policy]\njurisdictions_dir = \"{}\"\n\
             [recorder]\nlisten = \"{quic}\"\nsegment_seconds = 1\n",
            jurisdictions.display()
        ),
    );
    // A first start makes the join-token key the SFU node shares; the
    // recorder makes the link's certificates.
    drop(Server::start_command_with("up", &deployment, &data));
    let recorder = Server::start_recorder(&recorder_file, &recorder_data, quic);
    let node = sfu_node_file(dir.path(), &control, &data, quic, &recorder_data);
    let recorder = match away {
        Away::KilledMidway => Some(recorder),
        Away::DownAtStart => {
            drop(recorder);
            None
        }
    };
    let _sfu = Server::start_sfu(&node, dir.path());
    let server = call.start(&deployment, &data);
    let browser = Browser::launch().await;
    let (session, [outside, inside]) = call.join(&browser, &server).await;
    let segments = recorder_data.join(format!("recordings/session-{session}"));
    let stored = || {
        std::fs::read_dir(&segments)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "enc"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut killed = Instant::now();
    if let Some(recorder) = recorder {
        let deadline = Instant::now() + Duration::from_secs(30);
        while stored() < 2 {
            assert!(
                Instant::now() < deadline,
                "nothing recorded in {}",
                segments.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        killed = Instant::now();
        recorder.kill9();
    }
    let received = inside.received().await;
    for page in [&outside, &inside] {
        notice_on(page, "recording has stopped").await;
    }
    let told = killed.elapsed();
    let recorder = Server::start_recorder(&recorder_file, &recorder_data, quic);
    let restarted = Instant::now();
    for page in [&outside, &inside] {
        notice_on(page, "recording goes on again").await;
    }
    eprintln!(
        "parley recorder {}: everyone told {:.1} s after {}; recording again {:.1} s after \
         it started",
        if away == Away::DownAtStart {
            "down at the start"
        } else {
            "killed"
        },
        told.as_secs_f64(),
        if away == Away::DownAtStart {
            "the call began"
        } else {
            "the kill"
        },
        restarted.elapsed().as_secs_f64()
    );
    // The call itself never broke.
    let later = inside.received().await;
    assert!(
        later.0 > received.0 && later.1 > received.1,
        "media went on: {received:?} then {later:?}"
    );
    assert_eq!(
        inside.eval("window.parley.connectionState()").await,
        "connected"
    );
    let audit = server.api().audit().await;
    let told: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"] == "session.recording")
        .filter_map(|e| e["decision"].as_str())
        .collect();
    assert_eq!(told, ["interrupted", "resumed"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    end_session(&server, session, &inside).await;
    let verify = || verify_recording(&recorder_file, &recorder_data, session);
    // The end reaches the recorder once the SFU has sent the last segment.
    let deadline = Instant::now() + Duration::from_secs(20);
    let verified = loop {
        let out = verify();
        if out.stdout.contains("the session ended") || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("{}", verified.stdout);
    let verified = verified
        .assert_success()
        .assert_stdout_contains("intact")
        .assert_stdout_contains("the session ended");
    if away == Away::KilledMidway {
        verified
            .assert_stdout_contains("interrupted after segment")
            .assert_stdout_contains("the recorder stopped");
    }
    drop((recorder, server));
    audit_verify(&data).assert_success();
    audit_verify(&recorder_data).assert_success();
}
