//! `parley recorder`: run alone and killed with SIGKILL mid-recording,
//! verify (and its exit code on tampering), audited export, sweep with a
//! legal hold.

mod common;
#[path = "common/tmpfs.rs"]
#[allow(dead_code)]
mod tmpfs;

use chrono::{Duration, Utc};
use common::{Output, audit_verify, config_check, config_dir, parley};
use parley_policy::SessionKind;
use parley_recorder::depacketize::Codec;
use parley_recorder::keys::KeyStore;
use parley_recorder::link::{RecorderLink, RoomSender};
use parley_recorder::protocol::{MediaKind, Start, TrackInfo};
use parley_recorder::rtp;
use parley_recorder::session::{RoomRecorder, RoomSettings};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A deployment file in `dir` using the repository's jurisdictions, with
/// one-second segments.
fn deployment(dir: &Path) -> PathBuf {
    let file = dir.join("deployment.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[storage]\ndata_dir = {:?}\n[policy]\njurisdictions_dir = {:?}\n\
             [recorder]\nlisten = \"127.0.0.1:0\"\nsegment_seconds = 1\n",
            dir.join("data"),
            config_dir().join("jurisdictions"),
        ),
    )
    .unwrap();
    file
}

fn start(id: &str, kind: SessionKind) -> Start {
    Start {
        recording_id: id.into(),
        session_id: 9,
        session_kind: kind,
        jurisdiction: "demo".into(),
        tracks: vec![
            TrackInfo {
                id: 1,
                kind: MediaKind::Video,
                codec: Codec::Vp8,
                clock_rate: 90_000,
                channels: None,
            },
            TrackInfo {
                id: 2,
                kind: MediaKind::Audio,
                codec: Codec::Opus,
                clock_rate: 48_000,
                channels: Some(2),
            },
        ],
    }
}

/// `ms` of 25 fps VP8 (keyframe each second) and 20 ms Opus from `base_us`.
fn media(ms: u64, base_us: u64) -> Vec<(u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..ms / 20 {
        let t = i * 20;
        if t.is_multiple_of(40) {
            let n = t / 40;
            let key = n.is_multiple_of(25);
            let mut payload = vec![0x10];
            payload.extend_from_slice(if key {
                &[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00][..]
            } else {
                &[0x51, 0x42, 0x00][..]
            });
            payload.extend_from_slice(&[n as u8; 300]);
            out.push((
                1,
                base_us + t * 1000,
                rtp::build(true, 96, n as u16, (t * 90) as u32, 1, &payload),
            ));
        }
        out.push((
            2,
            base_us + t * 1000,
            rtp::build(
                false,
                111,
                i as u16,
                (t * 48) as u32,
                2,
                &[0xfc, 0xff, 0xfe],
            ),
        ));
    }
    out
}

/// A `parley recorder` child process, killed when dropped (a failing test
/// leaves none behind).
struct RecorderProcess(Child);

impl RecorderProcess {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for RecorderProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `parley recorder` as a child process, and the address it prints.
fn spawn_recorder(config: &Path) -> (RecorderProcess, std::net::SocketAddr) {
    let mut child = Command::new(common::BIN)
        .args(["recorder", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("recorder exited before printing its address")
            .unwrap();
        if let Some(rest) = line.trim().strip_prefix("Recorder:") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (RecorderProcess(child), addr)
}

/// `parley recorder ARGS --config CONFIG`.
fn recorder(config: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["recorder".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.extend(["--config".as_ref(), config.as_os_str()]);
    parley(all)
}

/// Connects to the recorder at `addr` as the SFU (with the certificates in
/// `tls`) and opens the court hearing `hearing-1` on the link.
async fn open_hearing_1(addr: std::net::SocketAddr, tls: &Path) -> (RecorderLink, RoomSender) {
    let link = RecorderLink::connect(
        addr,
        &tls.join("ca.pem"),
        &tls.join("sfu.pem"),
        &tls.join("sfu.key"),
    )
    .await
    .unwrap();
    let room = link
        .open_room(&start("hearing-1", SessionKind::CourtHearing), 8192)
        .await
        .unwrap();
    (link, room)
}

/// Sends `ms` of [`media`] starting now, every packet taken by the link.
fn send_media_from_now(room: &RoomSender, ms: u64) {
    let now = Utc::now().timestamp_micros() as u64;
    for (track, t, p) in media(ms, now) {
        assert!(room.send_rtp(track, t, &p));
    }
}

/// The (actor, action) of each audit row.
fn actor_actions(rows: &[(String, String, String)]) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect()
}

fn manifest_segments(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("manifest.json"))
        .map(|t| t.matches("\"sequence\"").count())
        .unwrap_or(0)
}

#[tokio::test]
async fn kill_9_mid_recording_leaves_every_finished_segment_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let config = deployment(tmp.path());
    let data = tmp.path().join("data");
    let tls = data.join("tls/recorder");
    let (mut child, addr) = spawn_recorder(&config);

    let (link, room) = open_hearing_1(addr, &tls).await;
    send_media_from_now(&room, 5_000);
    // Wait until some segments are stored, then kill the recorder mid-segment.
    let dir = data.join("recordings/hearing-1");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while manifest_segments(&dir) < 3 {
        assert!(Instant::now() < deadline, "no segments stored within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(room);
    link.close().await;

    let out = recorder(&config, &["verify", "hearing-1"]);
    out.assert_success()
        .assert_stdout_contains("intact")
        .assert_stdout_contains("not ended");
    let before = manifest_segments(&dir);
    assert!(before >= 3);

    // Restarted, the recorder continues the same recording in a new segment.
    let (mut child, addr) = spawn_recorder(&config);
    let (link, room) = open_hearing_1(addr, &tls).await;
    send_media_from_now(&room, 1_500);
    room.end("hearing closed").await.unwrap();
    link.close().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(manifest_segments(&dir) > before);
    let out = recorder(&config, &["verify", "hearing-1"]);
    out.assert_success()
        .assert_stdout_contains("hearing closed")
        .assert_stdout_contains(&format!("interrupted after segment {before}"))
        .assert_stdout_contains("the recorder stopped");
    // The start, the going on after the gap (with its reason) and the
    // lawful stop were audited by the recorder (the killed process wrote
    // nothing after its start).
    let rows = audit_rows(&data).await;
    assert_eq!(
        actor_actions(&rows),
        [
            ("recorder", "recording_started"),
            ("recorder", "recording_resumed"),
            ("recorder", "recording_stopped")
        ]
    );
    assert!(rows[1].2.contains("the recorder stopped"), "{}", rows[1].2);
    assert!(rows[2].2.contains("hearing closed"), "{}", rows[2].2);
}

/// The recordings' disk fills up mid-recording (a 1 MB tmpfs, filled while
/// media flows): the recorder stops with a clear error, audited
/// (`recording_failed`); every segment the manifest lists verifies and no
/// partial file is left behind or counted. With space again, the next
/// stream continues the recording, the gap and its reason in the manifest.
#[tokio::test]
async fn a_full_disk_mid_recording_loses_no_listed_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmpfs::Tmpfs::mount(&tmp.path().join("disk"), "size=1m");
    let recordings = disk.0.join("recordings");
    let config = tmp.path().join("deployment.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[storage]\ndata_dir = {:?}\n[policy]\njurisdictions_dir = {:?}\n\
             [recorder]\nlisten = \"127.0.0.1:0\"\nsegment_seconds = 1\nrecordings_dir = {:?}\n",
            tmp.path().join("data"),
            config_dir().join("jurisdictions"),
            recordings,
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let tls = data.join("tls/recorder");
    let (mut child, addr) = spawn_recorder(&config);
    let (link, room) = open_hearing_1(addr, &tls).await;
    send_media_from_now(&room, 3_000);
    let dir = recordings.join("hearing-1");
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while manifest_segments(&dir) < 2 {
        assert!(Instant::now() < deadline, "no segments stored within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The disk is full; media goes on.
    let filler = tmpfs::fill(&disk.0);
    send_media_from_now(&room, 5_000);
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let failed = loop {
        let rows = audit_rows(&data).await;
        if let Some(row) = rows.iter().find(|r| r.1 == "recording_failed") {
            break row.2.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no recording_failed within 20 s: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(failed.contains("No space left"), "{failed}");
    drop(room);
    let listed = manifest_segments(&dir);
    let out = recorder(&config, &["verify", "hearing-1"]);
    out.assert_success().assert_stdout_contains("intact");
    assert!(
        !out.stdout.contains("not listed"),
        "no partial segment left behind: {}",
        out.stdout
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".enc")).count(),
        listed,
        "only listed segments on disk: {files:?}"
    );

    // Space again: the recording goes on after the gap.
    std::fs::remove_file(filler).unwrap();
    let again = link
        .open_room(&start("hearing-1", SessionKind::CourtHearing), 8192)
        .await
        .unwrap();
    send_media_from_now(&again, 2_500);
    again.end("hearing closed").await.unwrap();
    link.close().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(manifest_segments(&dir) > listed);
    recorder(&config, &["verify", "hearing-1"])
        .assert_success()
        .assert_stdout_contains("hearing closed")
        .assert_stdout_contains("could not store the media");
    let rows = audit_rows(&data).await;
    assert_eq!(
        actor_actions(&rows),
        [
            ("recorder", "recording_started"),
            ("recorder", "recording_failed"),
            ("recorder", "recording_resumed"),
            ("recorder", "recording_stopped")
        ]
    );
}

fn record(data: &Path, id: &str, kind: SessionKind, at: chrono::DateTime<Utc>) {
    let keys = KeyStore::open(&data.join("keys/recorder")).unwrap();
    let settings = RoomSettings {
        recordings_dir: data.join("recordings"),
        segment_ms: 1_000,
    };
    let j = parley_policy::load_dir(&config_dir().join("jurisdictions")).unwrap();
    let mut room = RoomRecorder::start(&settings, &keys, &j, &start(id, kind), at).unwrap();
    for (track, t, p) in media(2_500, at.timestamp_micros() as u64) {
        room.on_rtp(track, t, t, &p).unwrap();
    }
    room.close(Some("visit ended"), at + Duration::seconds(3))
        .unwrap();
}

/// Three social visits: `recent` now, and `expired` and `held` 8 days
/// ago, past the demo jurisdiction's 7-day retention.
fn record_recent_expired_and_held(data: &Path) {
    record(data, "recent", SessionKind::SocialVisit, Utc::now());
    for old in ["expired", "held"] {
        record(
            data,
            old,
            SessionKind::SocialVisit,
            Utc::now() - Duration::days(8),
        );
    }
}

async fn audit_rows(data: &Path) -> Vec<(String, String, String)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", data.join("parley.db").display()))
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, details FROM audit_log ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn verify_export_and_sweep_from_the_command_line_are_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let config = deployment(tmp.path());
    let data = tmp.path().join("data");
    record_recent_expired_and_held(&data);

    recorder(&config, &["verify", "recent"]).assert_success();
    // A court holding only the public key verifies the directory itself.
    let public = data.join("keys/recorder/manifest-signing.pub");
    parley([
        "recorder".as_ref(),
        "verify".as_ref(),
        data.join("recordings/recent").as_os_str(),
        "--public-key".as_ref(),
        public.as_os_str(),
    ])
    .assert_success();

    let out_file = tmp.path().join("recent.webm");
    let out = out_file.to_str().unwrap();
    recorder(
        &config,
        &[
            "export",
            "recent",
            "--out",
            out,
            "--actor",
            "clerk@court",
            "--reason",
            "appeal bundle 2030/17",
        ],
    )
    .assert_success();
    assert!(std::fs::metadata(&out_file).unwrap().len() > 1000);
    recorder(
        &config,
        &[
            "hold",
            "held",
            "--actor",
            "judge",
            "--reason",
            "pending complaint",
        ],
    )
    .assert_success();
    recorder(&config, &["sweep"])
        .assert_success()
        .assert_stdout_contains("deleted expired")
        .assert_stdout_contains("kept held: legal hold by judge (pending complaint)")
        .assert_stdout_contains("1 deleted, 1 on legal hold, 1 within retention");
    assert!(!data.join("recordings/expired").exists());
    assert!(data.join("recordings/held").exists() && data.join("recordings/recent").exists());

    let rows = audit_rows(&data).await;
    assert_eq!(
        actor_actions(&rows),
        [
            ("clerk@court", "recording_exported"),
            ("judge", "legal_hold_placed"),
            ("retention-sweep", "recording_deleted")
        ]
    );
    assert!(rows[0].2.contains("appeal bundle 2030/17") && rows[0].2.contains("recent"));
    assert!(rows[2].2.contains("expired"));
    audit_verify(&data).assert_success();

    // An export needs a reason; one byte changed fails verify with a non-zero exit.
    recorder(
        &config,
        &[
            "export", "recent", "--out", out, "--actor", "x", "--reason", " ",
        ],
    )
    .assert_failure()
    .assert_stderr_contains("--reason");
    let seg = data.join("recordings/recent/000001.webm.enc");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[40] ^= 0x80;
    std::fs::write(&seg, bytes).unwrap();
    recorder(&config, &["verify", "recent"])
        .assert_failure()
        .assert_stderr_contains("NOT intact")
        .assert_stderr_contains("segment 1 was altered");
}

#[test]
fn config_check_refuses_a_bad_segment_length() {
    let tmp = tempfile::tempdir().unwrap();
    let config = deployment(tmp.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("segment_seconds = 1", "segment_seconds = 0");
    std::fs::write(&config, text).unwrap();
    config_check(&config)
        .assert_failure()
        .assert_stderr_contains("recorder.segment_seconds is 0; give 1 to 600 seconds");
}

#[tokio::test]
async fn a_running_recorder_destroys_expired_recordings_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let config = deployment(tmp.path());
    let data = tmp.path().join("data");
    record_recent_expired_and_held(&data);
    recorder(
        &config,
        &["hold", "held", "--actor", "judge", "--reason", "appeal"],
    )
    .assert_success();
    let (mut child, _) = spawn_recorder(&config);
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while data.join("recordings/expired").exists() {
        assert!(
            Instant::now() < deadline,
            "the expired recording is still there after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(data.join("recordings/held").exists() && data.join("recordings/recent").exists());
    let rows = audit_rows(&data).await;
    assert!(
        rows.iter()
            .any(|(actor, action, details)| actor == "retention-sweep"
                && action == "recording_deleted"
                && details.contains("expired")),
        "{rows:?}"
    );
}
