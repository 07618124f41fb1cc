//! The recorder over real QUIC with mutual TLS on 127.0.0.1: a client link
//! records a room, the export plays in ffprobe; a privileged Start and a
//! client without the CA's certificate are refused.

mod common;

use common::*;
use parley_policy::SessionKind;
use parley_recorder::audit::{AuditSink, RecordingEvent};
use parley_recorder::keys::KeyStore;
use parley_recorder::link::{LinkError, RecorderLink};
use parley_recorder::protocol::Start;
use parley_recorder::server::{self, Recorder, RecorderConfig};
use parley_recorder::{export, recording, tls, verify};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Keeps audited events in memory; refuses to write when `broken`.
#[derive(Default)]
struct MemoryAudit {
    events: Mutex<Vec<RecordingEvent>>,
    broken: bool,
}

impl AuditSink for MemoryAudit {
    fn record<'a>(
        &'a self,
        event: &'a RecordingEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if self.broken {
                return Err("disk full".into());
            }
            self.events.lock().unwrap().push(event.clone());
            Ok(())
        })
    }
}

impl MemoryAudit {
    fn kinds(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| match e {
                RecordingEvent::Started { .. } => "started",
                RecordingEvent::Refused { .. } => "refused",
                RecordingEvent::Stopped { .. } => "stopped",
                RecordingEvent::Interrupted { .. } => "interrupted",
                RecordingEvent::Resumed { .. } => "resumed",
                RecordingEvent::Failed { .. } => "failed",
            })
            .collect()
    }
}

async fn recorder(root: &Path) -> Recorder {
    recorder_with(root, Arc::new(MemoryAudit::default())).await
}

async fn recorder_with(root: &Path, audit: Arc<MemoryAudit>) -> Recorder {
    server::start(RecorderConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        recordings_dir: root.join("recordings"),
        keys_dir: root.join("keys"),
        tls_dir: root.join("tls"),
        segment_seconds: 2,
        jurisdictions: jurisdictions(),
        audit,
    })
    .await
    .unwrap()
}

async fn link(r: &Recorder) -> RecorderLink {
    RecorderLink::connect(
        r.addr,
        &r.tls.ca_cert,
        &r.tls.client_cert,
        &r.tls.client_key,
    )
    .await
    .unwrap()
}

/// Runs `test`, failing it if it takes more than [`LIMIT`].
async fn within_a_minute(test: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test took more than a minute");
}

/// Opens a recording of `start` on `l`, which must be refused: the error.
async fn open_refused(l: &RecorderLink, start: &Start, queue: usize) -> LinkError {
    l.open_room(start, queue).await.err().unwrap()
}

/// The recording `id` under `root`, and the recorder's keys there.
fn stored(root: &Path, id: &str) -> (PathBuf, KeyStore) {
    let dir = recording::dir_of(&root.join("recordings"), id);
    let keys = KeyStore::open(&root.join("keys")).unwrap();
    (dir, keys)
}

/// The play length ffprobe reports, in seconds.
fn duration_s(probe: &serde_json::Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_room_recorded_over_quic_verifies_and_exports_for_ffprobe() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemoryAudit::default());
        let r = recorder_with(tmp.path(), audit.clone()).await;
        let l = link(&r).await;
        let room = l
            .open_room(&start("quic-visit", SessionKind::SocialVisit), 4096)
            .await
            .unwrap();
        let packets = media(6, now_us());
        let sent = packets.len();
        for (i, (track, t, p)) in packets.into_iter().enumerate() {
            assert!(
                room.send_rtp(track, t, &p),
                "queue of 4096 full at packet {i} of {sent}"
            );
            if i % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(room.dropped(), 0);
        room.end("visit ended").await.unwrap();
        l.close().await;
        assert_eq!(audit.kinds(), ["started", "stopped"]);

        let (dir, keys) = stored(tmp.path(), "quic-visit");
        let report = verify::verify(&dir, &keys.verifying_key().unwrap()).unwrap();
        assert!(
            report.manifest.segments.len() >= 3,
            "{:?}",
            report.manifest.segments
        );
        assert_eq!(
            report.manifest.ended.as_ref().unwrap().reason,
            "visit ended"
        );

        let out = tmp.path().join("quic-visit.webm");
        export::export(&dir, &keys, &out).unwrap();
        let probe = ffprobe(&out);
        let codecs: Vec<&str> = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_name"].as_str().unwrap())
            .collect();
        assert_eq!(codecs, ["vp8", "opus"]);
        assert_eq!(probe["streams"][0]["width"], 320);
        assert!(
            probe["format"]["format_name"]
                .as_str()
                .unwrap()
                .contains("webm")
        );
        let duration = duration_s(&probe);
        assert!(
            (5.5..=6.5).contains(&duration),
            "duration {duration} s for 6 s of media"
        );

        // One byte of a segment, then of the manifest.
        let seg = dir.join(&report.manifest.segments[0].file);
        flip(&seg, 100);
        let e = verify::verify(&dir, &keys.verifying_key().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("segment 1 was altered"), "{e}");
        flip(&seg, 100);
        let m = dir.join("manifest.json");
        let text = std::fs::read_to_string(&m).unwrap();
        let at = text.find("\"session_id\": 42").unwrap() + "\"session_id\": 4".len();
        flip(&m, at as isize);
        let e = verify::verify(&dir, &keys.verifying_key().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("manifest.json"), "{e}");
        r.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_privileged_start_is_refused_and_writes_nothing() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemoryAudit::default());
        let r = recorder_with(tmp.path(), audit.clone()).await;
        let l = link(&r).await;
        for kind in [SessionKind::LegalVisit, SessionKind::Consultation] {
            let e = open_refused(&l, &start("privileged", kind), 16).await;
            assert!(
                matches!(&e, LinkError::Refused(m) if m.contains("privileged")),
                "{e}"
            );
        }
        // A kind the jurisdiction forbids is refused as well (fr-paris: social visits).
        let mut s = start("paris-visit", SessionKind::SocialVisit);
        s.jurisdiction = "fr-paris".into();
        let e = open_refused(&l, &s, 16).await;
        assert!(e.to_string().contains("forbids"), "{e}");
        let recordings: PathBuf = tmp.path().join("recordings");
        assert!(!recordings.exists() || std::fs::read_dir(&recordings).unwrap().count() == 0);
        assert_eq!(audit.kinds(), ["refused", "refused", "refused"]);
        l.close().await;
        r.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_client_without_the_cas_certificate_is_refused() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let r = recorder(tmp.path()).await;
        // A complete certificate set from another CA: the client trusts the
        // real recorder's CA but presents a certificate it did not sign.
        let other = tls::ensure(&tmp.path().join("other-ca")).unwrap();
        let attempt = async {
            let l = RecorderLink::connect(
                r.addr,
                &r.tls.ca_cert,
                &other.client_cert,
                &other.client_key,
            )
            .await?;
            l.open_room(&start("intruder", SessionKind::SocialVisit), 16)
                .await
                .map(|_| ())
        };
        let e = attempt
            .await
            .expect_err("a foreign client certificate must be refused");
        assert!(
            !matches!(e, LinkError::Refused(_)),
            "refused by TLS, not by policy: {e}"
        );
        assert!(!tmp.path().join("recordings/intruder").exists());
        r.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn nothing_is_recorded_when_the_audit_log_cannot_be_written() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemoryAudit {
            broken: true,
            ..Default::default()
        });
        let r = recorder_with(tmp.path(), audit).await;
        let l = link(&r).await;
        let e = open_refused(&l, &start("unaudited", SessionKind::CourtHearing), 16).await;
        assert!(e.to_string().contains("audit log cannot be written"), "{e}");
        assert!(!tmp.path().join("recordings/unaudited").exists());
        l.close().await;
        r.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn one_recording_is_written_by_one_stream_at_a_time() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemoryAudit::default());
        let r = recorder_with(tmp.path(), audit.clone()).await;
        let l = link(&r).await;
        let first = l
            .open_room(&start("shared-id", SessionKind::CourtHearing), 64)
            .await
            .unwrap();
        let e = open_refused(&l, &start("shared-id", SessionKind::CourtHearing), 64).await;
        assert!(e.to_string().contains("already being written"), "{e}");
        // Interrupted (no End), the recording can be continued by a new stream.
        first.finish().await.unwrap();
        let again = l
            .open_room(&start("shared-id", SessionKind::CourtHearing), 64)
            .await
            .unwrap();
        again.end("hearing closed").await.unwrap();
        let e = open_refused(&l, &start("shared-id", SessionKind::CourtHearing), 64).await;
        assert!(e.to_string().contains("ended"), "{e}");
        // The break is a gap in the record, with its reason, and audited.
        assert_eq!(
            audit.kinds(),
            [
                "started",
                "refused",
                "interrupted",
                "resumed",
                "stopped",
                "refused"
            ]
        );
        let (dir, keys) = stored(tmp.path(), "shared-id");
        let manifest = recording::read_manifest(&dir, &keys).unwrap();
        assert_eq!(manifest.gaps.len(), 1, "{:?}", manifest.gaps);
        assert_eq!(manifest.gaps[0].after_segment, 0);
        assert!(
            manifest.gaps[0].reason.contains("stream broke off"),
            "{}",
            manifest.gaps[0].reason
        );
        l.close().await;
        r.shutdown().await;
    })
    .await;
}

/// An SFU killed mid-recording never closes its connection; the recorder
/// would hold the recording until QUIC's idle timeout. A new SFU's link
/// asking for the same recording takes it over at once: the old stream
/// ends as interrupted, its media kept, and the recording goes on with the
/// gap and its reason in the manifest and the audit.
#[tokio::test]
async fn a_new_connection_takes_over_a_recording_from_a_dead_one() {
    within_a_minute(async {
        let tmp = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemoryAudit::default());
        let r = recorder_with(tmp.path(), audit.clone()).await;
        let killed = link(&r).await;
        let old = killed
            .open_room(&start("taken-over", SessionKind::CourtHearing), 4096)
            .await
            .unwrap();
        for (track, t, p) in media(5, now_us()) {
            assert!(old.send_rtp(track, t, &p));
        }
        let (dir, keys) = stored(tmp.path(), "taken-over");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while recording::read_manifest(&dir, &keys).map_or(0, |m| m.segments.len()) < 2 {
            assert!(std::time::Instant::now() < deadline, "no segments stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The old link stays open and silent, as a killed process's does.
        let fresh = link(&r).await;
        let again = fresh
            .open_room(&start("taken-over", SessionKind::CourtHearing), 4096)
            .await
            .expect("taken over");
        for (track, t, p) in media(3, now_us()) {
            assert!(again.send_rtp(track, t, &p));
        }
        again.end("hearing closed").await.unwrap();
        assert_eq!(
            audit.kinds(),
            ["started", "interrupted", "resumed", "stopped"]
        );
        let report = verify::verify(&dir, &keys.verifying_key().unwrap()).unwrap();
        let gaps = &report.manifest.gaps;
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].after_segment >= 2, "{gaps:?}");
        assert!(gaps[0].reason.contains("stream broke off"), "{gaps:?}");
        assert!(
            report.manifest.segments.len() as u64 > gaps[0].after_segment,
            "the recording went on after the gap"
        );
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("interrupted after segment")),
            "{:?}",
            report.notes
        );
        drop(old);
        killed.close().await;
        fresh.close().await;
        r.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn hostile_packets_in_a_recorded_room_change_nothing_else() {
    within_a_minute(async {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let tmp = tempfile::tempdir().unwrap();
        let r = recorder(tmp.path()).await;
        let l = link(&r).await;
        let room = l
            .open_room(&start("hostile", SessionKind::SocialVisit), 8192)
            .await
            .unwrap();
        let now = now_us();
        // Garbage first: random bytes, truncated RTP, unknown tracks, absurd times.
        let mut runner = TestRunner::deterministic();
        let garbage = proptest::collection::vec(
            proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..300),
            500,
        );
        for (i, bytes) in garbage
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .into_iter()
            .enumerate()
        {
            let track = [VIDEO, AUDIO, 99][i % 3];
            let at = if i % 7 == 0 { u64::MAX } else { now };
            assert!(room.send_rtp(track, at, &bytes));
        }
        for (track, t, p) in media(3, now) {
            assert!(room.send_rtp(track, t, &p));
        }
        room.end("visit ended").await.unwrap();
        l.close().await;
        let (dir, keys) = stored(tmp.path(), "hostile");
        let out = tmp.path().join("hostile.webm");
        export::export(&dir, &keys, &out).unwrap();
        let probe = ffprobe(&out);
        let duration = duration_s(&probe);
        assert!((2.0..=4.0).contains(&duration), "duration {duration} s");
        r.shutdown().await;
    })
    .await;
}
