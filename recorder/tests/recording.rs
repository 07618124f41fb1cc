//! Recording without the network: a room's packets through the pipeline
//! to encrypted segments, then verify, tamper detection, export, crash
//! recovery, invariant 1 and retention.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use parley_policy::SessionKind;
use parley_recorder::keys::KeyStore;
use parley_recorder::retention::{self, SweepItem};
use parley_recorder::session::{RoomError, RoomRecorder, RoomSettings};
use parley_recorder::verify::{VerifyError, verify};
use parley_recorder::{export, recording};
use std::path::Path;

struct Setup {
    _tmp: tempfile::TempDir,
    settings: RoomSettings,
    keys: KeyStore,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(&tmp.path().join("keys")).unwrap();
    let settings = RoomSettings {
        recordings_dir: tmp.path().join("recordings"),
        segment_ms: 2_000,
    };
    Setup {
        _tmp: tmp,
        settings,
        keys,
    }
}

impl Setup {
    /// Starts recording `id`, a session of `kind`, at `at`.
    fn start_room(
        &self,
        id: &str,
        kind: SessionKind,
        at: chrono::DateTime<Utc>,
    ) -> Result<RoomRecorder, RoomError> {
        RoomRecorder::start(
            &self.settings,
            &self.keys,
            &jurisdictions(),
            &start(id, kind),
            at,
        )
    }
}

/// Hands `room` `seconds` of [`media`] from `at`.
fn feed(room: &mut RoomRecorder, seconds: u64, at: chrono::DateTime<Utc>) {
    for (track, t, p) in media(seconds, at.timestamp_micros() as u64) {
        room.on_rtp(track, t, t, &p).unwrap();
    }
}

fn record(
    s: &Setup,
    id: &str,
    kind: SessionKind,
    seconds: u64,
    at: chrono::DateTime<Utc>,
    end: bool,
) {
    let mut room = s.start_room(id, kind, at).unwrap();
    feed(&mut room, seconds, at);
    room.close(
        end.then_some("session ended"),
        at + Duration::seconds(seconds as i64),
    )
    .unwrap();
}

fn dir(s: &Setup, id: &str) -> std::path::PathBuf {
    recording::dir_of(&s.settings.recordings_dir, id)
}

#[test]
fn a_recording_verifies_and_any_changed_byte_is_named() {
    let s = setup();
    record(&s, "visit-1", SessionKind::SocialVisit, 7, Utc::now(), true);
    let d = dir(&s, "visit-1");
    let key = s.keys.verifying_key().unwrap();
    let report = verify(&d, &key).unwrap();
    let m = &report.manifest;
    assert!(m.segments.len() >= 3, "{} segments", m.segments.len());
    assert_eq!(m.ended.as_ref().unwrap().reason, "session ended");
    assert_eq!(m.retention_days, 7, "demo keeps social visits 7 days");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    // Contiguous media: each segment starts where the previous one ended.
    for w in m.segments.windows(2) {
        assert!(
            w[1].start_ms >= w[0].start_ms && w[1].start_ms <= w[0].end_ms + 100,
            "{w:?}"
        );
    }

    // One byte of the second segment.
    let seg = d.join(&m.segments[1].file);
    flip(&seg, -5);
    let e = verify(&d, &key).unwrap_err();
    assert!(matches!(e, VerifyError::Hash { sequence: 2, .. }), "{e}");
    assert!(e.to_string().contains("segment 2 was altered"), "{e}");
    flip(&seg, -5);
    verify(&d, &key).unwrap();

    // One byte of the manifest: the end time of segment 1.
    let mpath = d.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).unwrap();
    let needle = format!("\"end_ms\": {}", m.segments[0].end_ms);
    let at = text.find(&needle).unwrap() + needle.len() - 1;
    flip(&mpath, at as isize);
    let e = verify(&d, &key).unwrap_err().to_string();
    assert!(
        e.contains("manifest.json") && e.contains("changed after the recorder signed it"),
        "{e}"
    );
    flip(&mpath, at as isize);

    // A deleted segment.
    std::fs::remove_file(d.join(&m.segments[0].file)).unwrap();
    let e = verify(&d, &key).unwrap_err().to_string();
    assert!(e.contains("segment 1 is missing"), "{e}");
}

#[test]
fn export_joins_segments_with_the_recording_times() {
    let s = setup();
    record(&s, "visit-2", SessionKind::SocialVisit, 5, Utc::now(), true);
    let out = s.settings.recordings_dir.join("../visit-2.webm");
    let r = export::export(&dir(&s, "visit-2"), &s.keys, &out).unwrap();
    assert_eq!(r.container, "webm");
    assert!(r.segments >= 2);
    assert!(
        (4_900..=5_100).contains(&r.duration_ms),
        "{} ms",
        r.duration_ms
    );
    let d = parley_recorder::demux::demux(&std::fs::read(&out).unwrap()).unwrap();
    // 5 s: 125 video frames and 250 Opus frames, all kept.
    assert_eq!(d.frames.iter().filter(|f| f.track == 1).count(), 125);
    assert_eq!(d.frames.iter().filter(|f| f.track == 2).count(), 250);
    assert!(
        d.frames
            .windows(2)
            .all(|w| w[0].time_ms <= w[1].time_ms + 40)
    );

    // A tampered recording is not exported.
    flip(&dir(&s, "visit-2").join("000001.webm.enc"), 30);
    let e = export::export(&dir(&s, "visit-2"), &s.keys, &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not verify"), "{e}");
}

#[test]
fn privileged_sessions_never_produce_a_byte() {
    let s = setup();
    for kind in [SessionKind::LegalVisit, SessionKind::Consultation] {
        let r = s.start_room("legal", kind, Utc::now());
        assert!(matches!(r, Err(RoomError::Refused(_))), "{kind}");
        // Even past the policy check, the writer refuses.
        let w = recording::RecordingWriter::open(
            &s.settings.recordings_dir,
            &s.keys,
            &start("legal", kind),
            30,
            Utc::now(),
        );
        assert!(matches!(
            w,
            Err(recording::RecordingError::Privileged { .. })
        ));
    }
    assert!(
        !s.settings.recordings_dir.exists()
            || std::fs::read_dir(&s.settings.recordings_dir)
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn a_crash_leaves_finished_segments_verifiable_and_a_restart_continues() {
    let s = setup();
    let at = Utc::now();
    let mut room = s
        .start_room("hearing", SessionKind::CourtHearing, at)
        .unwrap();
    feed(&mut room, 5, at);
    // The writer is dropped mid-segment, as a kill would: no close, no end.
    drop(room);
    let d = dir(&s, "hearing");
    std::fs::write(d.join(".000003.webm.enc.tmp"), b"half a segment").unwrap();
    let report = verify(&d, &s.keys.verifying_key().unwrap()).unwrap();
    let before = report.manifest.segments.len();
    assert!(before >= 1);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(".000003.webm.enc.tmp") && n.contains("not part of the record")),
        "{:?}",
        report.notes
    );
    assert!(report.notes.iter().any(|n| n.contains("no lawful end")));

    // Restart: the same recording id continues in a new segment after a gap.
    let later = at + Duration::seconds(20);
    let mut room = s
        .start_room("hearing", SessionKind::CourtHearing, later)
        .unwrap();
    feed(&mut room, 3, later);
    let m = room
        .close(Some("hearing closed"), later + Duration::seconds(3))
        .unwrap();
    assert!(m.segments.len() > before);
    assert!(m.segments[before].start_ms >= 20_000);
    let report = verify(&d, &s.keys.verifying_key().unwrap()).unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("no media for")),
        "{:?}",
        report.notes
    );
    assert!(!d.join(".000003.webm.enc.tmp").exists());
}

#[test]
fn sweep_destroys_exactly_what_is_past_retention_and_skips_holds() {
    let s = setup();
    let root = &s.settings.recordings_dir;
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 10, 0, 0).unwrap();
    record(&s, "old-visit", SessionKind::SocialVisit, 1, t0, true); // 7 days
    record(&s, "held-visit", SessionKind::SocialVisit, 1, t0, true); // 7 days, held
    record(&s, "hearing", SessionKind::CourtHearing, 1, t0, true); // 30 days
    retention::place_hold(root, "held-visit", "clerk", "appeal pending", t0).unwrap();
    std::fs::create_dir_all(root.join("tampered")).unwrap();
    std::fs::write(root.join("tampered/manifest.json"), b"{}").unwrap();

    let just_before = (t0 + Duration::days(7)).timestamp_millis() as u64;
    let items = retention::survey(root, &s.keys, just_before).unwrap();
    assert!(
        items
            .iter()
            .all(|i| !matches!(i, SweepItem::Expired { .. })),
        "{items:?}"
    );

    let after = (t0 + Duration::days(8)).timestamp_millis() as u64;
    let items = retention::survey(root, &s.keys, after).unwrap();
    let expired: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            SweepItem::Expired { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(expired, ["old-visit"]);
    assert!(items.iter().any(|i| matches!(i, SweepItem::Held { id, hold } if id == "held-visit" && hold.reason == "appeal pending")));
    assert!(
        items
            .iter()
            .any(|i| matches!(i, SweepItem::Kept { id, .. } if id == "hearing"))
    );
    assert!(
        items
            .iter()
            .any(|i| matches!(i, SweepItem::Unreadable { id, .. } if id == "tampered"))
    );
    for id in expired {
        retention::destroy(root, id).unwrap();
    }
    assert!(!root.join("old-visit").exists());
    for kept in ["held-visit", "hearing", "tampered"] {
        assert!(root.join(kept).exists(), "{kept}");
    }
    // Released, the held recording goes at the next sweep.
    assert!(retention::release_hold(root, "held-visit").unwrap());
    let items = retention::survey(root, &s.keys, after).unwrap();
    assert!(
        items
            .iter()
            .any(|i| matches!(i, SweepItem::Expired { id, .. } if id == "held-visit"))
    );
}

#[test]
fn lost_packets_leave_a_gap_not_a_broken_file() {
    let s = setup();
    let at = Utc::now();
    let mut room = s.start_room("lossy", SessionKind::SocialVisit, at).unwrap();
    let packets = media(3, at.timestamp_micros() as u64);
    // Lose every 40th packet.
    for (i, (track, t, p)) in packets.into_iter().enumerate() {
        if i % 40 != 7 {
            room.on_rtp(track, t, t, &p).unwrap();
        }
    }
    assert!(room.stats().frames_dropped > 0);
    room.close(Some("end"), at).unwrap();
    let out = Path::new(&s.settings.recordings_dir).join("../lossy.webm");
    export::export(&dir(&s, "lossy"), &s.keys, &out).unwrap();
    let d = parley_recorder::demux::demux(&std::fs::read(&out).unwrap()).unwrap();
    let video: Vec<_> = d.frames.iter().filter(|f| f.track == 1).collect();
    assert!(video[0].keyframe);
    assert!(
        video.len() < 75,
        "some video frames were dropped: {}",
        video.len()
    );
}
